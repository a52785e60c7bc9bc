"""`RowPlan`: the rows a DataLoader worker is asked for next, read off the sampler's order."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from episampler import EpisodeAwareSampler
from episampler.lerobot.read_ahead import RowPlan

STARTS = np.arange(0, 200, 10, dtype=np.int64)
ENDS = STARTS + 10


def sampler(seed: int = 3) -> EpisodeAwareSampler:
    return EpisodeAwareSampler(STARTS, ENDS, shuffle=True, seed=seed)


@given(
    workers=st.integers(1, 4),
    batch=st.integers(1, 16),
    batch_number=st.integers(0, 40),
    limit=st.integers(0, 100),
)
def test_a_workers_next_rows_are_its_next_batches_in_the_order(workers, batch, batch_number, limit):
    order = sampler().epoch_indices(0)
    batches = [order[i : i + batch].tolist() for i in range(0, len(order), batch)]
    if batch_number >= len(batches):
        return
    plan = RowPlan(sampler())
    # The DataLoader deals batch k to worker k % workers: this worker's next are k + workers, ...
    mine = [row for b in batches[batch_number + workers :: workers] for row in b][:limit]
    assert plan.upcoming(batches[batch_number], workers * batch, limit) == mine


def test_the_plan_follows_into_the_next_epoch_and_ignores_what_is_no_run_of_either():
    plan = RowPlan(sampler())
    first, second = sampler().epoch_indices(0), sampler().epoch_indices(1)
    assert plan.upcoming(first[:8].tolist(), 8, 8) == first[8:16].tolist()
    assert plan.upcoming(second[:8].tolist(), 8, 8) == second[8:16].tolist()  # epoch 1 now
    assert plan.upcoming(first[:8].tolist(), 8, 8) == []  # epoch 0 is behind: no guess
    other = sampler(seed=99).epoch_indices(1)
    assert plan.upcoming(other[:8].tolist(), 8, 8) == []  # another order: no guess
    assert plan.upcoming([10_000], 1, 8) == []  # a row the order does not hold
    assert plan.upcoming(second[:8].tolist(), 8, 0) == []  # no room
    # The end of the epoch: nothing after the last batch.
    assert plan.upcoming(second[-8:].tolist(), 8, 100) == []


def test_a_plan_travels_without_its_tables():
    import pickle

    plan = RowPlan(sampler())
    order = sampler().epoch_indices(0)
    assert plan.upcoming(order[:4].tolist(), 4, 4) == order[4:8].tolist()
    copy = pickle.loads(pickle.dumps(plan))
    assert copy._orders == {} and copy._anchor is None
    assert copy.upcoming(order[:4].tolist(), 4, 4) == order[4:8].tolist()


@pytest.mark.parametrize("rows", [[], [5]])
def test_empty_or_unknown_batches_give_no_rows(rows):
    assert RowPlan(sampler()).upcoming(rows, 1, 0) == []
