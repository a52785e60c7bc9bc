"""Stability: the orders of a grid of (N, seed, epoch, W, permutation) are frozen in
`golden/orders.json` together with the algorithm version that produced them.

Each entry keeps the first values of the last rank's epoch and a SHA-256 of every rank's whole
epoch, so a change anywhere in an order fails here. After a deliberate, versioned change of an
algorithm, regenerate the file with `python -m tests.test_golden_grid` and bump
`ALGORITHM_VERSION`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path

import pytest

from episampler import ALGORITHM_VERSION, EpisodeAwareSampler

GOLDEN = Path(__file__).with_name("golden") / "orders.json"
SIZES = [1, 2, 7, 255, 256, 257, 1000, 65_537, 2**20 + 3]
SEEDS = [0, 1, 2**63, 2**64 - 1]
EPOCHS = [0, 1, 5]
WORLDS = [1, 3]
PERMUTATIONS = ["uniform", "feistel"]
HEAD = 8


def key(num_frames: int, seed: int, epoch: int, world: int, permutation: str) -> str:
    return f"N={num_frames} seed={seed} epoch={epoch} W={world} {permutation}"


def entry(num_frames: int, seed: int, epoch: int, world: int, permutation: str) -> dict:
    digest = hashlib.sha256()
    head: list[int] = []
    for rank in range(world):
        sampler = EpisodeAwareSampler(
            [0],
            [num_frames],
            shuffle=True,
            seed=seed,
            permutation=permutation,
            num_replicas=world,
            rank=rank,
        )
        order = sampler.epoch_indices(epoch)
        digest.update(order.astype("<i8").tobytes())
        head = order[:HEAD].tolist()
    return {"head": head, "sha256": digest.hexdigest()}


def grid():
    return itertools.product(SIZES, SEEDS, EPOCHS, WORLDS, PERMUTATIONS)


def regenerate() -> None:
    orders = {key(*case): entry(*case) for case in grid()}
    document = {"algorithm_version": ALGORITHM_VERSION, "orders": orders}
    GOLDEN.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")


@pytest.fixture(scope="module")
def golden() -> dict:
    return json.loads(GOLDEN.read_text())


def test_golden_file_is_for_this_algorithm_version(golden):
    assert golden["algorithm_version"] == ALGORITHM_VERSION
    assert sorted(golden["orders"]) == sorted(key(*case) for case in grid())


@pytest.mark.parametrize("permutation", PERMUTATIONS)
@pytest.mark.parametrize("num_frames", SIZES)
def test_orders_match_the_golden_grid(golden, num_frames, permutation):
    for seed, epoch, world in itertools.product(SEEDS, EPOCHS, WORLDS):
        case = (num_frames, seed, epoch, world, permutation)
        assert entry(*case) == golden["orders"][key(*case)], key(*case)


def test_a_single_swapped_pair_deep_in_an_epoch_fails_the_comparison(golden):
    # The comparison above has teeth: a real order, recorded in the file, no longer matches
    # once two of its values trade places far from the recorded head.
    case = (1000, 1, 5, 1, "feistel")
    sampler = EpisodeAwareSampler([0], [1000], shuffle=True, seed=1, permutation="feistel")
    order = sampler.epoch_indices(5)
    recorded = golden["orders"][key(*case)]
    assert hashlib.sha256(order.astype("<i8").tobytes()).hexdigest() == recorded["sha256"]
    order[[700, 777]] = order[[777, 700]]
    assert hashlib.sha256(order.astype("<i8").tobytes()).hexdigest() != recorded["sha256"]
    assert order[:HEAD].tolist() == recorded["head"]  # the head alone would not have seen it


if __name__ == "__main__":
    regenerate()
