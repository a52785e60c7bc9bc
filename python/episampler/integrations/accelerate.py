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

from typing import Any

from episampler._sampler import EpisodeAwareSampler
from episampler._state import compute_sampler_state

__all__ = ["resume_from_step"]


def resume_from_step(
    dataloader: Any, step: int, *, gradient_accumulation_steps: int = 1
) -> dict[str, int]:
    """Make `dataloader` (as returned by `accelerator.prepare`) continue right after `step`
    optimiser steps of the uninterrupted run, padding included. Call it on every process before
    iterating. `step` counts optimiser steps of `gradient_accumulation_steps` batches (see
    `compute_sampler_state`); with `even_batches=False` each process passes its own step.

    Returns the sampler state it loaded.
    """
    from accelerate.data_loader import BatchSamplerShard

    if not hasattr(dataloader, "iteration") or not hasattr(dataloader, "batch_sampler"):
        raise TypeError(
            "dataloader must be a DataLoaderShard returned by accelerator.prepare, got "
            f"{type(dataloader).__name__}"
        )
    batch_sampler = dataloader.batch_sampler
    if isinstance(batch_sampler, BatchSamplerShard):
        processes, process_index = batch_sampler.num_processes, batch_sampler.process_index
        even_batches, split_batches = batch_sampler.even_batches, batch_sampler.split_batches
        batch_sampler = batch_sampler.batch_sampler
    else:  # one process: accelerate keeps the loader's own batch sampler
        processes, process_index, even_batches, split_batches = 1, 0, True, False
    sampler = getattr(batch_sampler, "sampler", None)
    if not isinstance(sampler, EpisodeAwareSampler):
        raise TypeError(
            "the prepared dataloader does not draw from an EpisodeAwareSampler, got "
            f"{type(sampler).__name__}"
        )
    if sampler.num_replicas != 1:
        raise ValueError(
            "accelerate shards batches itself: build the sampler with num_replicas=1, "
            f"got num_replicas={sampler.num_replicas}"
        )
    batch_size, drop_last = batch_sampler.batch_size, batch_sampler.drop_last
    if split_batches:  # every process takes a slice of each batch: one stream of batches
        processes, process_index = 1, 0
    state = compute_sampler_state(
        step,
        sampler.num_frames,
        batch_size,
        processes,
        drop_last=drop_last,
        even_batches=even_batches,
        process_index=process_index,
        gradient_accumulation_steps=gradient_accumulation_steps,
    )
    sampler.load_state_dict(state)
    # Pad epochs in the sampler, exactly as accelerate would from the epoch's start, so that
    # accelerate sees whole rounds and adds nothing of its own.
    padded = even_batches and not drop_last
    sampler._pad_epochs_to_multiple(batch_size * processes if padded else None)
    # The prepared loader calls sampler.set_epoch(dataloader.iteration) on every __iter__.
    dataloader.iteration = state["epoch"]
    return state
