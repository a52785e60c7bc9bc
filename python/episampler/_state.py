"""Mapping a training step back to a sampler state, for loops that only checkpoint the step."""

from __future__ import annotations

from typing import Any, cast

from episampler._inputs import as_bool, as_int
from episampler._resumable import ResumableSampler, SamplerState


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)  # exact at any size, unlike math.ceil(a / b)


def compute_sampler_state(
    step: int,
    num_frames: int,
    batch_size: int,
    num_processes: int,
    *,
    drop_last: bool = False,
    even_batches: bool = True,
    process_index: int = 0,
    gradient_accumulation_steps: int = 1,
    sync_with_dataloader: bool = True,
) -> SamplerState:
    """The sampler state after `step` optimiser steps of an accelerate-style loop.

    The sampler yields one stream (`num_replicas=1`); the loader cuts it into batches of
    `batch_size` and accelerate deals whole batches round-robin to `num_processes` processes, so a
    step of every process consumes `batch_size * num_processes` consecutive positions. Agrees with
    LeRobot 0.6's function of the same name, whose arguments these are.

    - `drop_last`: the DataLoader's `drop_last`; an epoch then has
      `(num_frames // batch_size) // num_processes` steps.
    - `even_batches`: accelerate's option. `True` (default) pads the epoch to whole rounds:
      `ceil(ceil(num_frames / batch_size) / num_processes)` steps on every process. `False`
      leaves the processes uneven: process `process_index` takes global batches
      `process_index, process_index + num_processes, ...`, and `step` counts ITS batches, so
      every process passes its own step and index (states may differ between processes).
    - `gradient_accumulation_steps`: `step` counts optimiser steps of that many micro-batches
      each; accelerate (with its default `sync_with_dataloader=True`) also steps at the end of
      every epoch, so an epoch has `ceil(batches per process / gradient_accumulation_steps)`
      optimiser steps. With 1 (default), `step` counts batches.
    - `sync_with_dataloader`: accelerate's `GradientAccumulationPlugin` option. `True` (its
      default) is the model above. `False`: no optimiser step is forced at an epoch's end, so
      accumulation runs across epochs and `step` optimiser steps consumed exactly
      `step * gradient_accumulation_steps` batches per process.

    For accelerate's `split_batches=True`, pass the full batch size and `num_processes=1`.

    Args:
        step: optimiser steps taken (>= 0).
        num_frames: positions per epoch: the sampler's `num_frames` (a mixture's
            `samples_per_epoch`, a weighted sampler's `num_samples`).
        batch_size: the DataLoader's batch size (per process).
        num_processes: accelerate's number of processes.
        drop_last: see above.
        even_batches: see above.
        process_index: this process's index, with `even_batches=False`.
        gradient_accumulation_steps: see above.
        sync_with_dataloader: see above.

    Returns:
        `{"epoch", "start_index"}` for `sampler.load_state_dict`, with the geometry it assumed
        (`num_frames`, `batch_size`, `drop_last`, `num_processes`): a sampler whose epoch has
        another length refuses it, naming both. `resume_from_step(loader, step)` reads the
        geometry from the loader instead.

    Raises:
        TypeError, ValueError: a bad argument, or an epoch with no step at all.

    Example:
        >>> state = compute_sampler_state(7, 100, 10, 2)
        >>> state["epoch"], state["start_index"]
        (1, 40)
        >>> state["num_frames"], state["batch_size"], state["drop_last"], state["num_processes"]
        (100, 10, False, 2)
    """
    step = as_int("step", step)
    num_frames = as_int("num_frames", num_frames, low=1)
    batch_size = as_int("batch_size", batch_size, low=1)
    num_processes = as_int("num_processes", num_processes, low=1)
    drop_last = as_bool("drop_last", drop_last)
    even_batches = as_bool("even_batches", even_batches)
    process_index = as_int("process_index", process_index, high=num_processes)
    accumulation = as_int("gradient_accumulation_steps", gradient_accumulation_steps, low=1)
    sync_with_dataloader = as_bool("sync_with_dataloader", sync_with_dataloader)

    if drop_last:
        # Only whole batches, and only whole rounds of them (accelerate drops an uneven tail).
        batches_per_process = (num_frames // batch_size) // num_processes
    else:
        batches = _ceil_div(num_frames, batch_size)
        if even_batches:
            batches_per_process = _ceil_div(batches, num_processes)
        else:
            batches_per_process = _ceil_div(batches - process_index, num_processes)
    if batches_per_process == 0:
        raise ValueError(
            f"an epoch of num_frames={num_frames} has no step for batch_size={batch_size}, "
            f"num_processes={num_processes}, drop_last={drop_last}, process_index={process_index}"
        )
    if sync_with_dataloader:
        steps_per_epoch = _ceil_div(batches_per_process, accumulation)
        epoch, steps_into_epoch = divmod(step, steps_per_epoch)
        batches_into_epoch = steps_into_epoch * accumulation
    else:
        epoch, batches_into_epoch = divmod(step * accumulation, batches_per_process)
    start_index = min(batches_into_epoch * batch_size * num_processes, num_frames)
    return {
        "epoch": epoch,
        "start_index": start_index,
        "num_frames": num_frames,
        "batch_size": batch_size,
        "drop_last": drop_last,
        "num_processes": num_processes,
    }


def resume_from_step(
    loader: Any, step: int, *, gradient_accumulation_steps: int = 1
) -> SamplerState:
    """Set `loader`'s episampler sampler so that the next pass over `loader` yields what an
    uninterrupted run yields after `step` optimiser steps of this process. The batch size,
    `drop_last` and the number of processes are read from the loader and its sampler, never
    retyped.

    Works with any loader whose sampler or batch sampler is an episampler sampler: a torch
    `DataLoader(dataset, sampler=..., batch_size=...)` or with
    `batch_sampler=EpisodeAwareBatchSampler(...)`, torchdata's `StatefulDataLoader`, and a
    loader `accelerator.prepare` returned (then as `episampler.integrations.accelerate`'s
    function of the same name: accelerate deals the batches to the processes). With a sampler
    sharded over `num_replicas` processes, each process passes its own loader and the same
    `step`. Exact with any `num_workers`: call it before iterating.

    Args:
        loader: the loader the training loop iterates.
        step: optimiser steps this process has taken (>= 0).
        gradient_accumulation_steps: batches per optimiser step, as in `compute_sampler_state`
            (an optimiser step is also taken at the end of every epoch).

    Returns:
        The state it loaded (`compute_sampler_state`'s, with the loader's geometry).

    Raises:
        TypeError: `loader` does not draw from an episampler sampler (what it draws from is
            named), or a bad argument.
        ValueError: a bad argument, or an epoch with no whole batch.
    """
    if hasattr(loader, "iteration") and hasattr(loader, "batch_sampler"):
        from episampler.integrations import accelerate

        return accelerate.resume_from_step(
            loader, step, gradient_accumulation_steps=gradient_accumulation_steps
        )
    from episampler.lerobot.stream import EpisodeStream

    stream = getattr(loader, "dataset", None)
    if isinstance(stream, EpisodeStream):
        if getattr(loader, "batch_size", None) != stream.batch_size:
            raise ValueError(
                f"the loader's batch_size ({getattr(loader, 'batch_size', None)}) must be the "
                f"EpisodeStream's ({stream.batch_size}): a block of its order is one batch"
            )
        stream_state = stream.resume_from_step(
            step,
            num_workers=int(getattr(loader, "num_workers", 0)),
            gradient_accumulation_steps=gradient_accumulation_steps,
        )
        return cast(SamplerState, stream_state)
    sampler, batch_size, drop_last = _geometry(loader)
    step = as_int("step", step)
    accumulation = as_int("gradient_accumulation_steps", gradient_accumulation_steps, low=1)
    # Every process batches its own shard: `len(sampler)` values per epoch (sharded by the
    # stride rule, padded or cut evenly), one value of its shard per `num_replicas` positions.
    values = len(sampler)
    batches = values // batch_size if drop_last else _ceil_div(values, batch_size)
    if batches == 0:
        raise ValueError(
            f"an epoch of {values} values per process has no whole batch of {batch_size} "
            "with drop_last=True"
        )
    epoch, steps_into_epoch = divmod(step, _ceil_div(batches, accumulation))
    taken = min(steps_into_epoch * accumulation * batch_size, values)
    positions = sampler._epoch_length
    state: SamplerState = {
        "epoch": epoch,
        "start_index": min(taken * sampler.num_replicas, positions),
        "num_frames": positions,
        "batch_size": batch_size,
        "drop_last": drop_last,
        "num_processes": sampler.num_replicas,
    }
    sampler.load_state_dict(state)
    return state


def _geometry(loader: Any) -> tuple[ResumableSampler, int, bool]:
    """The episampler sampler `loader` draws from, its batch size and `drop_last`."""
    from episampler._batch import EpisodeAwareBatchSampler

    batch_sampler = getattr(loader, "batch_sampler", None)
    if isinstance(batch_sampler, EpisodeAwareBatchSampler):
        return batch_sampler.sampler, batch_sampler.batch_size, batch_sampler.drop_last
    inner = getattr(batch_sampler, "sampler", None)
    if isinstance(inner, EpisodeAwareBatchSampler) or isinstance(
        getattr(loader, "sampler", None), EpisodeAwareBatchSampler
    ):
        raise TypeError(
            "the loader's sampler is an EpisodeAwareBatchSampler: pass it as "
            "batch_sampler=..., not sampler=... (as a sampler it yields whole lists)"
        )
    if isinstance(inner, ResumableSampler) and batch_sampler is not None:
        return inner, int(batch_sampler.batch_size), bool(batch_sampler.drop_last)
    sampler = getattr(loader, "sampler", None)
    if isinstance(sampler, ResumableSampler) and getattr(loader, "batch_size", 0) is None:
        return sampler, 1, False  # automatic batching off: one sample per step
    found = type(inner if inner is not None else sampler).__name__
    raise TypeError(
        "loader must draw from an episampler sampler (DataLoader(dataset, sampler=..., "
        "batch_size=...) or batch_sampler=EpisodeAwareBatchSampler(...)); "
        f"{type(loader).__name__} draws from {found}"
    )
