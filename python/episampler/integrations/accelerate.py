"""Sample-exact resume of an `EpisodeAwareSampler` inside a dataloader prepared by accelerate.

Two things break a plain `sampler.load_state_dict(...)` under accelerate: the prepared loader calls
`set_epoch(iteration)` at every `__iter__` with its own counter (0 in a new process), and with
`even_batches=True` it pads the end of an epoch with the first batches *of the current iteration*,
which after a mid-epoch resume are not the epoch's first batches. `resume_from_step` fixes both:

    dataloader = accelerator.prepare(DataLoader(dataset, sampler=sampler, batch_size=8))
    if resuming:
        resume_from_step(dataloader, step)       # step = optimiser steps already taken
    for batch in cycle(dataloader): ...

Accelerate must shard batches itself: build the sampler with `num_replicas=1` (the default).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from episampler._resumable import ResumableSampler, SamplerState
from episampler._state import compute_sampler_state

__all__ = ["align_with_sampler", "resume_from_step"]


@dataclass(frozen=True)
class _Prepared:
    """What accelerate made of a dataloader: the sampler under it and how batches are dealt."""

    sampler: ResumableSampler
    batch_size: int
    drop_last: bool
    num_processes: int  # 1 when every process takes a slice of each batch (split_batches)
    process_index: int
    even_batches: bool
    sharded: bool  # a BatchSamplerShard deals the batches (more than one process)


def _prepared(dataloader: Any) -> _Prepared:
    from accelerate.data_loader import BatchSamplerShard

    if not hasattr(dataloader, "iteration") or not hasattr(dataloader, "batch_sampler"):
        raise TypeError(
            "dataloader must be a DataLoaderShard returned by accelerator.prepare, got "
            f"{type(dataloader).__name__}"
        )
    batch_sampler = dataloader.batch_sampler
    sharded = isinstance(batch_sampler, BatchSamplerShard)
    if sharded:
        processes, process_index = batch_sampler.num_processes, batch_sampler.process_index
        even_batches = batch_sampler.even_batches
        if batch_sampler.split_batches:  # one stream of batches, each sliced over processes
            processes, process_index = 1, 0
        batch_sampler = batch_sampler.batch_sampler
    else:  # one process: accelerate keeps the loader's own batch sampler and pads nothing
        processes, process_index, even_batches = 1, 0, True
    sampler = getattr(batch_sampler, "sampler", None)
    if not isinstance(sampler, ResumableSampler):
        raise TypeError(
            "the prepared dataloader does not draw from an episampler sampler, got "
            f"{type(sampler).__name__}"
        )
    if sampler.num_replicas != 1:
        raise ValueError(
            "accelerate shards batches itself: build the sampler with num_replicas=1, "
            f"got num_replicas={sampler.num_replicas}"
        )
    return _Prepared(
        sampler=sampler,
        batch_size=batch_sampler.batch_size,
        drop_last=batch_sampler.drop_last,
        num_processes=processes,
        process_index=process_index,
        even_batches=even_batches,
        sharded=sharded,
    )


def _align(dataloader: Any, prepared: _Prepared) -> None:
    """Pad epochs in the sampler exactly as accelerate would from the epoch's start (so that
    accelerate sees whole rounds and adds nothing of its own), and set the loader's epoch
    counter to the sampler's epoch (it calls `sampler.set_epoch(dataloader.iteration)` on every
    `__iter__`)."""
    padded = prepared.sharded and prepared.even_batches and not prepared.drop_last
    multiple = prepared.batch_size * prepared.num_processes if padded else None
    prepared.sampler._pad_epochs_to_multiple(multiple)
    dataloader.iteration = prepared.sampler.epoch


def align_with_sampler(dataloader: Any) -> ResumableSampler:
    """Make `dataloader` (as returned by `accelerator.prepare`) continue from its sampler's
    resume point, as `load_state_dict` set it (for example from `compute_sampler_state`),
    padding included. Call it on every process before iterating; harmless on a fresh run.

    Returns the sampler.
    """
    prepared = _prepared(dataloader)
    _align(dataloader, prepared)
    return prepared.sampler


def resume_from_step(
    dataloader: Any, step: int, *, gradient_accumulation_steps: int = 1
) -> SamplerState:
    """Make `dataloader` (as returned by `accelerator.prepare`) continue right after `step`
    optimiser steps of the uninterrupted run, padding included. Call it on every process before
    iterating. `step` counts optimiser steps of `gradient_accumulation_steps` batches (see
    `compute_sampler_state`); with `even_batches=False` each process passes its own step.

    Returns the sampler state it loaded.
    """
    prepared = _prepared(dataloader)
    state = compute_sampler_state(
        step,
        prepared.sampler._epoch_length,
        prepared.batch_size,
        prepared.num_processes,
        drop_last=prepared.drop_last,
        even_batches=prepared.even_batches,
        process_index=prepared.process_index,
        gradient_accumulation_steps=gradient_accumulation_steps,
    )
    prepared.sampler.load_state_dict(state)
    _align(dataloader, prepared)
    return state
