"""compute_sampler_state: LeRobot's vectors and a simulated accelerate-style loop."""

from __future__ import annotations

import pytest

from episampler import compute_sampler_state


@pytest.mark.parametrize(
    ("args", "expected"),
    [((0, 100, 10, 2), (0, 0)), ((7, 100, 10, 2), (1, 40)), ((12, 95, 10, 2), (2, 40))],
)
def test_lerobot_vectors(args, expected):
    state = compute_sampler_state(*args)
    assert (state["epoch"], state["start_index"]) == expected
    # The geometry it assumed is recorded with LeRobot's answer, for load_state_dict to check.
    geometry = {"num_frames": args[1], "batch_size": args[2], "num_processes": args[3]}
    assert state == {"epoch": expected[0], "start_index": expected[1], **geometry,
                     "drop_last": False}  # fmt: skip
    assert all(type(v) is int for k, v in state.items() if k != "drop_last")


def simulated_positions(num_frames, batch_size, num_processes, steps):
    """(epoch, positions consumed) before each step of a loop where every process takes
    `batch_size` consecutive positions per step and short epochs are padded to whole steps."""
    epoch, consumed, history = 0, 0, []
    for _ in range(steps):
        history.append((epoch, consumed))
        consumed += batch_size * num_processes
        if consumed >= num_frames:
            epoch, consumed = epoch + 1, 0
    return history


@pytest.mark.parametrize("num_frames", [1, 7, 20, 95, 100, 101])
@pytest.mark.parametrize(("batch_size", "num_processes"), [(1, 1), (10, 2), (3, 4), (7, 3)])
def test_matches_a_simulated_loop(num_frames, batch_size, num_processes):
    history = simulated_positions(num_frames, batch_size, num_processes, 60)
    for step, (epoch, consumed) in enumerate(history):
        state = compute_sampler_state(step, num_frames, batch_size, num_processes)
        assert (state["epoch"], state["start_index"]) == (epoch, consumed), step


@pytest.mark.parametrize(
    ("args", "error", "name"),
    [
        ((-1, 100, 10, 2), ValueError, "step"),
        ((0, 0, 10, 2), ValueError, "num_frames"),
        ((0, 100, 0, 2), ValueError, "batch_size"),
        ((0, 100, 10, 0), ValueError, "num_processes"),
        ((1.5, 100, 10, 2), TypeError, "step"),
    ],
)
def test_bad_arguments(args, error, name):
    with pytest.raises(error, match=name):
        compute_sampler_state(*args)


def shard_batches(positions, batch_size, processes, process_index, drop_last, even_batches):
    """What accelerate's real BatchSamplerShard gives one process for a stream of positions."""
    from accelerate.data_loader import BatchSamplerShard
    from torch.utils.data import BatchSampler

    batches = BatchSampler(positions, batch_size, drop_last)
    shard = BatchSamplerShard(batches, processes, process_index, even_batches=even_batches)
    return [list(batch) for batch in shard]


@pytest.mark.parametrize("num_frames", [5, 28, 95, 100])
@pytest.mark.parametrize(("batch_size", "processes"), [(4, 2), (10, 2), (3, 3), (7, 1)])
@pytest.mark.parametrize(
    ("drop_last", "even_batches"), [(False, True), (True, True), (False, False)]
)
@pytest.mark.parametrize("accumulation", [1, 2, 3])
def test_resuming_accelerate_batches_at_every_step(
    num_frames, batch_size, processes, drop_last, even_batches, accumulation
):
    """For every process and step: the batches accelerate deals from the computed state (the
    sampler padding the epoch as `integrations.accelerate` makes it) are the rest of the epoch."""
    pytest.importorskip("accelerate")
    padded = even_batches and not drop_last
    multiple = batch_size * processes
    for process in range(processes):
        epoch_batches = shard_batches(
            range(num_frames), batch_size, processes, process, drop_last, even_batches
        )
        steps_per_epoch = -(-len(epoch_batches) // accumulation)
        if steps_per_epoch == 0:
            with pytest.raises(ValueError, match="has no step"):
                compute_sampler_state(
                    0, num_frames, batch_size, processes, drop_last=drop_last,
                    even_batches=even_batches, process_index=process,
                    gradient_accumulation_steps=accumulation,
                )  # fmt: skip
            continue
        for step in range(3 * steps_per_epoch):
            state = compute_sampler_state(
                step, num_frames, batch_size, processes, drop_last=drop_last,
                even_batches=even_batches, process_index=process,
                gradient_accumulation_steps=accumulation,
            )  # fmt: skip
            epoch, steps_into_epoch = divmod(step, steps_per_epoch)
            assert state["epoch"] == epoch
            end = -(-num_frames // multiple) * multiple if padded else num_frames
            resumed = [p % num_frames for p in range(state["start_index"], end)]
            rest = shard_batches(resumed, batch_size, processes, process, drop_last, even_batches)
            assert rest == epoch_batches[steps_into_epoch * accumulation :], (process, step)


@pytest.mark.parametrize(
    ("args", "accumulation", "expected"),
    [((7, 100, 10, 2), 2, (2, 80)), ((2, 100, 10, 2), 4, (1, 60))],
)
def test_no_step_at_epoch_end_vectors(args, accumulation, expected):
    # The vectors of LeRobot's open grad-accumulation work (no optimiser step forced at an
    # epoch's end); the default model forces one, so it answers differently.
    state = compute_sampler_state(
        *args, gradient_accumulation_steps=accumulation, sync_with_dataloader=False
    )
    assert (state["epoch"], state["start_index"]) == expected
    assert compute_sampler_state(*args, gradient_accumulation_steps=accumulation) != state


def accumulating_loop(epoch_batches: int, accumulation: int, steps: int):
    """(epoch, batches into the epoch) after each optimiser step of a loop that steps after every
    `accumulation` batches, counted across epochs (accelerate's `sync_with_dataloader=False`)."""
    after_step, epoch, into, pending = [(0, 0)], 0, 0, 0
    while len(after_step) <= steps:
        into, pending = into + 1, pending + 1
        if into == epoch_batches:
            epoch, into = epoch + 1, 0
        if pending == accumulation:
            after_step.append((epoch, into))
            pending = 0
    return after_step


@pytest.mark.parametrize("num_frames", [5, 28, 95])
@pytest.mark.parametrize(("batch_size", "processes"), [(4, 2), (3, 3), (7, 1)])
@pytest.mark.parametrize("even_batches", [True, False])
@pytest.mark.parametrize("accumulation", [1, 2, 3])
def test_no_step_at_epoch_end_matches_a_simulated_loop(
    num_frames, batch_size, processes, even_batches, accumulation
):
    pytest.importorskip("accelerate")
    for process in range(processes):
        epoch_batches = shard_batches(
            range(num_frames), batch_size, processes, process, False, even_batches
        )
        if not epoch_batches:
            continue
        loop = accumulating_loop(len(epoch_batches), accumulation, 4 * len(epoch_batches))
        for step, (epoch, into) in enumerate(loop):
            state = compute_sampler_state(
                step, num_frames, batch_size, processes, even_batches=even_batches,
                process_index=process, gradient_accumulation_steps=accumulation,
                sync_with_dataloader=False,
            )  # fmt: skip
            assert state["epoch"] == epoch, (process, step)
            multiple = batch_size * processes
            end = -(-num_frames // multiple) * multiple if even_batches else num_frames
            resumed = [p % num_frames for p in range(state["start_index"], end)]
            rest = shard_batches(resumed, batch_size, processes, process, False, even_batches)
            assert rest == epoch_batches[into:], (process, step)


def test_sync_with_dataloader_must_be_a_bool():
    with pytest.raises(TypeError, match="sync_with_dataloader"):
        compute_sampler_state(1, 100, 10, 2, sync_with_dataloader=0)
