"""Order: LeRobot parity when unshuffled, a pure function of (seed, epoch, ...) when shuffled."""

from __future__ import annotations

import itertools
import json
import random
import subprocess
import sys

import numpy as np
import pytest
import torch

from episampler import ALGORITHM_VERSION, EpisodeAwareSampler

from .support import FROM, TO, lerobot_frames, make

# Frozen outputs of algorithm version 2: (seed, epoch, num_frames, permutation, first indices).
# A change here is a change of every user's data order: it needs a new ALGORITHM_VERSION.
# Version 2 replaced version 1's "uniform" (one Fisher-Yates pass) by scatter-then-shuffle, and
# for "feistel" widened networks to at least 8 bits and added the keyed transposition of values
# 0 and 1 that makes odd and even orders equally likely. 2**20 + 1 frames spans 32 buckets.
GOLDEN = [
    (0, 0, 10, "uniform", [9, 2, 4, 6, 8, 0, 3, 1, 5, 7]),
    (0, 1, 10, "uniform", [0, 3, 6, 8, 5, 4, 2, 1, 9, 7]),
    (1, 0, 10, "uniform", [1, 0, 5, 3, 8, 9, 7, 2, 6, 4]),
    (2**64 - 1, 3, 1000, "uniform", [625, 924, 281, 962, 605, 61, 852, 642, 8, 949]),
    (
        42,
        0,
        2**20 + 1,
        "uniform",
        [561145, 892887, 494705, 806108, 998728, 157777, 919882, 101617, 792764, 824760],
    ),
    (
        3,
        2,
        10**7,
        "uniform",
        [9719860, 5329017, 9498228, 1843067, 2603542, 3140902, 4986788, 1914902, 713874, 6927376],
    ),
    (0, 0, 10, "feistel", [4, 0, 5, 8, 6, 9, 7, 3, 1, 2]),
    (0, 1, 10, "feistel", [8, 3, 9, 7, 4, 6, 2, 1, 0, 5]),
    (1, 0, 10, "feistel", [7, 4, 5, 0, 1, 3, 6, 8, 9, 2]),
    (2**64 - 1, 3, 1000, "feistel", [705, 744, 284, 4, 255, 497, 626, 236, 980, 111]),
    (
        12345,
        7,
        10**12,
        "feistel",
        [
            15846947682,
            718790427575,
            836922258239,
            114288988175,
            646659840507,
            152143076440,
            629745068056,
            357188781839,
            647329154626,
            679762980014,
        ],
    ),
]
GOLDEN_EPISODES = {
    "uniform": [
        6,
        42,
        12,
        1,
        4,
        43,
        16,
        47,
        19,
        46,
        3,
        44,
        45,
        15,
        7,
        14,
        13,
        2,
        41,
        18,
        17,
        11,
        5,
    ],
    "feistel": [
        4,
        41,
        19,
        18,
        44,
        5,
        46,
        47,
        17,
        42,
        13,
        6,
        43,
        14,
        15,
        11,
        12,
        45,
        3,
        2,
        7,
        1,
        16,
    ],
}


def first(sampler, count):
    return list(itertools.islice(iter(sampler), count))


def test_algorithm_version_is_pinned():
    assert ALGORITHM_VERSION == 2


@pytest.mark.parametrize(("seed", "epoch", "num_frames", "permutation", "expected"), GOLDEN)
def test_golden_vectors(seed, epoch, num_frames, permutation, expected):
    sampler = EpisodeAwareSampler(
        [0], [num_frames], shuffle=True, seed=seed, permutation=permutation
    )
    sampler.set_epoch(epoch)
    assert first(sampler, len(expected)) == expected


def test_golden_vectors_with_episodes_drops_and_subset(permutation):
    sampler = EpisodeAwareSampler(
        [0, 10, 25, 40],
        [10, 22, 31, 50],
        [0, 1, 3],
        drop_n_first_frames=1,
        drop_n_last_frames=2,
        shuffle=True,
        seed=7,
        permutation=permutation,
    )
    assert list(sampler) == GOLDEN_EPISODES[permutation]


@pytest.mark.parametrize(
    ("subset", "first_drop", "last_drop"),
    [(None, 0, 0), (None, 2, 3), ([2, 0], 0, 0), ([1], 1, 1), ([0, 1, 2], 5, 0), (None, 0, 6)],
)
def test_unshuffled_order_matches_lerobot(subset, first_drop, last_drop):
    expected = lerobot_frames(FROM, TO, subset, first_drop, last_drop)
    sampler = make(FROM, TO, subset, first_drop, last_drop)
    assert list(sampler) == expected
    assert len(sampler) == sampler.num_frames == len(expected)
    assert sampler.epoch_indices().tolist() == expected
    # Unshuffled means the same order every epoch.
    assert list(sampler) == expected


def test_shuffled_order_is_a_permutation_of_the_kept_frames(permutation):
    sampler = make(FROM, TO, None, 1, 1, shuffle=True, seed=3, permutation=permutation)
    order = list(sampler)
    assert sorted(order) == lerobot_frames(FROM, TO, None, 1, 1)
    assert order != sorted(order)


def test_epochs_and_seeds_change_the_order(permutation):
    orders = {
        (seed, epoch): tuple(
            make([0], [200], shuffle=True, seed=seed, permutation=permutation).epoch_indices(epoch)
        )
        for seed in range(4)
        for epoch in range(4)
    }
    assert len(set(orders.values())) == 16
    # Keys hash (seed, epoch): the order of (s, e+1) is not the order of (s+1, e).
    assert orders[(0, 1)] != orders[(1, 0)]


def test_permutations_differ_from_each_other():
    uniform = make([0], [100], shuffle=True, permutation="uniform").epoch_indices()
    feistel = make([0], [100], shuffle=True, permutation="feistel").epoch_indices()
    assert uniform.tolist() != feistel.tolist()


def test_order_ignores_the_global_rngs(permutation):
    def draw():
        return make(shuffle=True, seed=11, permutation=permutation).epoch_indices(2).tolist()

    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)
    before = draw()
    torch.manual_seed(12345)
    np.random.seed(999)
    random.seed(77)
    torch.rand(10)
    np.random.rand(10)
    assert draw() == before


def test_order_is_identical_in_a_fresh_subprocess(permutation):
    code = (
        "import json, torch; torch.manual_seed(7); torch.set_num_threads(1)\n"
        "from episampler import EpisodeAwareSampler as S\n"
        f"s = S({FROM}, {TO}, shuffle=True, seed=2**40 + 3, permutation={permutation!r})\n"
        "print(json.dumps([s.epoch_indices(e).tolist() for e in range(3)]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    here = make(shuffle=True, seed=2**40 + 3, permutation=permutation)
    assert json.loads(out.stdout) == [here.epoch_indices(e).tolist() for e in range(3)]


def test_yielded_values_are_python_ints(permutation):
    for shuffle in (False, True):
        values = list(make(shuffle=shuffle, permutation=permutation))
        assert all(type(v) is int for v in values)


def test_epoch_indices_equals_iteration(permutation):
    sampler = make(shuffle=True, seed=9, permutation=permutation, num_replicas=3, rank=1)
    indices = sampler.epoch_indices()
    assert indices.dtype == np.int64
    assert indices.tolist() == list(sampler)  # epoch 0
    assert sampler.epoch_indices(1).tolist() == list(sampler)  # epoch 1
    assert sampler.epoch_indices().tolist() == sampler.epoch_indices(2).tolist()


def test_epoch_indices_ignores_the_resume_point():
    sampler = make(shuffle=True)
    sampler.load_state_dict({"epoch": 4, "start_index": 20})
    assert len(list(sampler)) == 8
    assert (
        sampler.epoch_indices(4).tolist()[20:] == make(shuffle=True).epoch_indices(4)[20:].tolist()
    )
    assert len(sampler.epoch_indices(4)) == 28


def test_feistel_seeks_into_a_trillion_frames_in_constant_memory():
    sampler = EpisodeAwareSampler(
        [0, 10**12 // 2], [10**12 // 2, 10**12], shuffle=True, permutation="feistel"
    )
    sampler.load_state_dict({"epoch": 3, "start_index": 10**12 - 2})
    tail = list(iter(sampler))  # list(sampler) would preallocate len(sampler) slots
    assert len(tail) == 2 and all(0 <= v < 10**12 for v in tail)
    assert len(sampler) == 10**12


@pytest.mark.parametrize("num_frames", [1000, 3 * 2**16 + 5])
def test_consecutive_epochs_equal_fresh_samplers_epochs(permutation, num_frames):
    # One sampler builds each epoch's table in the previous one's memory; a fresh sampler per
    # epoch allocates anew. The orders must not differ.
    running = EpisodeAwareSampler([0], [num_frames], shuffle=True, seed=5, permutation=permutation)
    for epoch in range(3):
        fresh = EpisodeAwareSampler(
            [0], [num_frames], shuffle=True, seed=5, permutation=permutation
        )
        assert list(running) == fresh.epoch_indices(epoch).tolist()
