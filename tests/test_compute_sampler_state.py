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
    assert state == {"epoch": expected[0], "start_index": expected[1]}
    assert all(type(v) is int for v in state.values())


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
