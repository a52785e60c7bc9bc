"""Plain DDP through the sampler's own `num_replicas`/`rank`: real gloo process groups.

Three launches, like three torchrun jobs: W=2 reads part of an epoch and checkpoints; W=3 runs
the main checks, finishes that epoch (elastic 2 -> 3) and checkpoints part of it again; W=2
finishes that one (elastic 3 -> 2).
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from tests import distributed_worker as worker
from tests.support import launch_ranks

KEPT = Counter(
    frame for start, end in zip(worker.FROM, worker.TO, strict=True) for frame in range(start, end)
)
N = sum(worker.LENGTHS)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, list[dict]]:
    out = tmp_path_factory.mktemp("ddp")
    phases = (("elastic-first", 2), ("main", 3), ("elastic-second", 2))
    for phase, world_size in phases:
        launch_ranks("tests.distributed_worker", world_size, str(out), phase)
    return {
        phase: [json.loads((out / f"{phase}-rank{r}.json").read_text()) for r in range(world_size)]
        for phase, world_size in phases
    }


def epochs_of(stream: list[list[int]], batches_per_epoch: int) -> list[list[int]]:
    return [
        [
            index
            for batch in stream[e * batches_per_epoch : (e + 1) * batches_per_epoch]
            for index in batch
        ]
        for e in range(len(stream) // batches_per_epoch)
    ]


@pytest.mark.parametrize("permutation", worker.ORDERS)
def test_ranks_are_disjoint_and_cover_every_frame_each_epoch(runs, permutation):
    ranks = runs["main"]
    world_size = len(ranks)
    per_rank = -(-N // world_size)
    batches_per_epoch = -(-per_rank // worker.BATCH_SIZE)
    epochs = [epochs_of(rank[permutation]["stream"], batches_per_epoch) for rank in ranks]
    orders = []
    for epoch in range(worker.EPOCHS):
        shards = [epochs[r][epoch] for r in range(world_size)]
        assert all(len(shard) == per_rank for shard in shards)
        # Global position p is rank p % W's item p // W; past N it wraps (padding).
        order = [shards[p % world_size][p // world_size] for p in range(per_rank * world_size)]
        assert Counter(order[:N]) == KEPT, epoch
        assert order[N:] == order[: per_rank * world_size - N], "padding wraps to the start"
        orders.append(order)
    assert len({tuple(order) for order in orders}) == worker.EPOCHS, "a new order every epoch"


@pytest.mark.parametrize("permutation", worker.ORDERS)
def test_set_epoch_loop_equals_the_endless_stream(runs, permutation):
    for rank in runs["main"]:
        assert rank[permutation]["with_set_epoch"] == rank[permutation]["stream"]


@pytest.mark.parametrize("permutation", worker.ORDERS)
def test_ranks_in_lockstep_hold_the_same_state(runs, permutation):
    states = runs["main"][0][permutation]["states"]
    assert len(states) == len(runs["main"][0][permutation]["stream"])
    for gathered in states:
        assert all(state == gathered[0] for state in gathered)
    # After k batches of 4 on 3 ranks from a fresh epoch: start_index = 12k.
    assert (states[0][0]["epoch"], states[0][0]["start_index"]) == (0, 12)


@pytest.mark.parametrize("permutation", worker.ORDERS)
def test_resume_from_rank0_checkpoint_reproduces_every_rank(runs, permutation):
    checked = 0
    for rank in runs["main"]:
        run = rank[permutation]
        assert len(run["resumed"]) == 4
        for done, rest in run["resumed"].items():
            assert rest == run["stream"][int(done) :], (done, rank)
            checked += 1
    assert checked == 3 * 4


def elastic_positions(first: list[dict], second: list[dict]) -> Counter:
    """Frames consumed over one epoch: the first run's, then the second's without padding."""
    consumed = Counter(index for rank in first for index in rank["seen"])
    start = first[0]["state"]["start_index"]
    assert all(rank["state"] == first[0]["state"] for rank in first + second)
    assert start == sum(len(rank["seen"]) for rank in first)
    world_size = len(second)
    for r, rank in enumerate(second):
        for j, index in enumerate(rank["seen"]):
            if start + r + j * world_size < N:  # past N: padding
                consumed[index] += 1
    return consumed


def test_elastic_resume_from_2_to_3_consumes_every_frame_once(runs):
    first, second = runs["elastic-first"], runs["main"]
    second = [rank["elastic_2_to_3"] for rank in second]
    assert len(first) == 2 and len(second) == 3
    assert elastic_positions(first, second) == KEPT


def test_elastic_resume_from_3_to_2_consumes_every_frame_once(runs):
    first = [rank["elastic_3_to_2"] for rank in runs["main"]]
    second = runs["elastic-second"]
    assert len(first) == 3 and len(second) == 2
    assert elastic_positions(first, second) == KEPT
    # The second run pads to equal shards: 67 positions left -> 34 per rank.
    assert [len(rank["seen"]) for rank in second] == [34, 34]
