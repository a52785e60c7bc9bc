"""Mapping a training step back to a sampler state, for loops that only checkpoint the step."""

from __future__ import annotations

from episampler._inputs import as_int


def compute_sampler_state(
    step: int, num_frames: int, batch_size: int, num_processes: int
) -> dict[str, int]:
    """The sampler state after `step` optimisation steps of an accelerate-style loop.

    Every process takes `batch_size` consecutive positions per step (accelerate shards whole
    batches), so a step consumes `batch_size * num_processes` positions, and with `even_batches`
    padding an epoch lasts `ceil(ceil(num_frames / batch_size) / num_processes)` steps. Agrees with
    LeRobot 0.6's function of the same name.
    """
    step = as_int("step", step)
    num_frames = as_int("num_frames", num_frames, low=1)
    batch_size = as_int("batch_size", batch_size, low=1)
    num_processes = as_int("num_processes", num_processes, low=1)
    batches_per_epoch = -(-num_frames // batch_size)  # integer ceil: exact at any size
    steps_per_epoch = -(-batches_per_epoch // num_processes)
    epoch, steps_into_epoch = divmod(step, steps_per_epoch)
    start_index = min(steps_into_epoch * batch_size * num_processes, num_frames)
    return {"epoch": epoch, "start_index": start_index}
