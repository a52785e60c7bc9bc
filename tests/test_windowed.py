"""Windowed (read-local) orders: units of episodes permuted, cut into windows of at least `window`
frames, each window shuffled. Exact, seekable, resumable and sharded like the global order."""

from __future__ import annotations

import copy
import hashlib
import itertools
import pickle

import numpy as np
import pytest

from episampler import ALGORITHM_VERSION, EpisodeAwareSampler

from .support import lerobot_frames, make

FROM = [0, 10, 25, 31, 40, 52]
TO = [10, 22, 31, 40, 52, 60]
GROUPS = [1, 0, 1, 2, 0, 2]  # ids not contiguous in boundary order

# Frozen windowed orders (algorithm version 2 added them; the global orders are unchanged):
# (seed, epoch, window, grouped, permutation, whole epoch).
GOLDEN = [
    (0, 0, 8, False, "uniform", [38, 37, 35, 39, 33, 31, 36, 32, 34, 57, 56, 55, 52, 59, 54, 58,
     53, 29, 26, 10, 18, 19, 14, 12, 15, 25, 11, 30, 13, 16, 17, 20, 21, 28, 27, 8, 1, 4, 9, 7, 3,
     6, 0, 5, 2, 50, 43, 44, 41, 42, 49, 51, 46, 48, 40, 45, 47]),
    (0, 1, 8, False, "uniform", [7, 25, 6, 29, 28, 4, 26, 8, 5, 0, 30, 3, 9, 2, 27, 1, 58, 55, 56,
     57, 53, 52, 59, 54, 33, 37, 31, 34, 32, 35, 36, 39, 38, 14, 10, 12, 18, 19, 17, 16, 15, 20,
     13, 21, 11, 40, 44, 49, 41, 46, 45, 50, 42, 47, 48, 43, 51]),
    (2**64 - 1, 3, 20, True, "uniform", [37, 38, 52, 56, 25, 32, 33, 30, 6, 2, 54, 28, 39, 34, 9,
     31, 5, 26, 27, 53, 55, 29, 36, 8, 0, 3, 58, 1, 7, 59, 4, 57, 35, 20, 13, 11, 44, 41, 12, 47,
     49, 42, 45, 10, 17, 48, 19, 14, 16, 50, 51, 46, 40, 43, 21, 15, 18]),
    (5, 0, 1, True, "uniform", [55, 52, 58, 34, 54, 32, 59, 57, 37, 53, 39, 35, 36, 31, 56, 38, 33,
     40, 21, 20, 47, 12, 44, 15, 45, 41, 18, 17, 43, 46, 13, 11, 10, 51, 49, 14, 48, 50, 19, 16,
     42, 1, 2, 0, 28, 4, 26, 9, 7, 30, 29, 27, 8, 6, 3, 25, 5]),
    (0, 0, 8, False, "feistel", [37, 33, 32, 36, 39, 31, 38, 34, 35, 56, 54, 57, 58, 59, 52, 55,
     53, 29, 18, 11, 28, 27, 21, 14, 15, 25, 26, 17, 30, 16, 20, 13, 12, 10, 19, 4, 8, 6, 0, 9, 7,
     2, 3, 1, 5, 40, 43, 45, 44, 50, 42, 47, 49, 51, 46, 48, 41]),
    (0, 1, 8, False, "feistel", [29, 7, 2, 30, 0, 6, 27, 1, 3, 8, 28, 25, 26, 4, 9, 5, 56, 52, 57,
     53, 58, 55, 54, 59, 32, 34, 39, 31, 38, 36, 33, 35, 37, 12, 14, 10, 11, 21, 15, 13, 20, 16,
     18, 19, 17, 48, 44, 43, 40, 49, 47, 41, 45, 51, 46, 42, 50]),
    (2**64 - 1, 3, 20, True, "feistel", [6, 27, 7, 4, 57, 5, 30, 37, 39, 8, 32, 59, 25, 2, 56, 31,
     55, 28, 58, 36, 35, 9, 52, 38, 26, 34, 1, 54, 0, 53, 33, 3, 29, 11, 42, 49, 47, 51, 16, 19,
     43, 15, 44, 41, 48, 46, 18, 40, 14, 21, 20, 10, 17, 45, 12, 50, 13]),
    (5, 0, 1, True, "feistel", [54, 33, 36, 35, 31, 52, 34, 38, 56, 57, 59, 39, 55, 58, 53, 32, 37,
     17, 43, 46, 51, 42, 19, 48, 41, 40, 10, 44, 20, 45, 13, 14, 21, 49, 18, 50, 16, 11, 15, 12,
     47, 7, 29, 1, 27, 9, 0, 5, 6, 4, 30, 8, 2, 28, 3, 25, 26]),
]  # fmt: skip

# 1000 episodes of 3..39 frames in groups of 25, window 4096, seed 42, epoch 2: whole-epoch digests.
LARGE_DIGESTS = {
    "uniform": "be38155de1c1ee1aa0e783a6cac14cad424237741c828b334f5384ce297d49b4",
    "feistel": "6a9472fb708172a154334b45ee6e69293d8e952c548e5b52b5a5de3024c53c82",
}


def windowed(permutation="uniform", window=8, groups=GROUPS, **kwargs):
    return make(FROM, TO, shuffle=True, permutation=permutation, window=window,
                episode_groups=groups, **kwargs)  # fmt: skip


def episode_of(frame: int) -> int:
    return next(
        e for e, (start, end) in enumerate(zip(FROM, TO, strict=True)) if start <= frame < end
    )


@pytest.mark.parametrize(("seed", "epoch", "window", "grouped", "permutation", "expected"), GOLDEN)
def test_golden_vectors(seed, epoch, window, grouped, permutation, expected):
    assert ALGORITHM_VERSION == 2
    sampler = windowed(permutation, window, GROUPS if grouped else None, seed=seed)
    assert sampler.epoch_indices(epoch).tolist() == expected


@pytest.mark.parametrize("permutation", sorted(LARGE_DIGESTS))
def test_golden_digest_of_a_larger_grouped_epoch(permutation):
    ends = np.cumsum(np.arange(1000) % 37 + 3)
    sampler = EpisodeAwareSampler(np.concatenate([[0], ends[:-1]]), ends, shuffle=True, seed=42,
                                  permutation=permutation, window=4096,
                                  episode_groups=np.arange(1000) // 25)  # fmt: skip
    order = sampler.epoch_indices(2)
    assert hashlib.sha256(order.astype("<i8").tobytes()).hexdigest() == LARGE_DIGESTS[permutation]


@pytest.mark.parametrize("window", [1, 5, 13, 40, 1000])
@pytest.mark.parametrize("grouped", [False, True])
def test_windows_hold_whole_units_and_every_frame_once(permutation, window, grouped):
    groups = GROUPS if grouped else None
    sampler = windowed(permutation, window, groups, seed=3, drop_n_first_frames=1)
    unit = (lambda e: GROUPS[e]) if grouped else (lambda e: e)
    for epoch in range(4):
        order = sampler.epoch_indices(epoch).tolist()
        assert sorted(order) == lerobot_frames(FROM, TO, first=1)
        # A window holds whole units: cut the epoch wherever the units before and after are
        # disjoint; every window boundary is such a cut, so each piece lies in one window, and a
        # window closes once it holds `window` frames: it has fewer than `window` + its last unit.
        units = [unit(episode_of(frame)) for frame in order]
        if window == 1:  # every window is one unit: units never interleave
            runs = [key for key, _ in itertools.groupby(units)]
            assert len(runs) == len(set(runs))
        last_position = {u: p for p, u in enumerate(units)}
        largest = max(units.count(u) for u in set(units))
        piece_start, piece_end = 0, 0
        for position, u in enumerate(units):
            piece_end = max(piece_end, last_position[u])
            if position == piece_end:  # no unit seen so far continues after here
                assert position + 1 - piece_start < window + largest
                piece_start = position + 1


def test_windows_mix_frames_of_different_episodes_inside_a_window():
    sampler = make([0, 100], [100, 200], shuffle=True, window=200, seed=1)
    first_half = sampler.epoch_indices(0)[:100]
    assert 20 < (first_half < 100).sum() < 80  # one window: both episodes interleaved


@pytest.mark.parametrize("world", [1, 2, 3])
def test_resume_at_every_position_follows_the_stride_rule(permutation, world):
    global_order = windowed(permutation).epoch_indices(1).tolist()
    n = len(global_order)
    state = windowed(permutation).state_dict()
    for start in range(n + 1):
        for rank in range(world):
            resumed = windowed(permutation, num_replicas=world, rank=rank)
            resumed.load_state_dict({**state, "epoch": 1, "start_index": start})
            # Global positions from `start`, strided, wrapping to the epoch's start (padding).
            end = start + world * -(-(n - start) // world)
            expected = [global_order[p % n] for p in range(start + rank, end, world)]
            assert list(resumed) == expected, (start, rank)


def test_state_after_k_values_resumes_right_after_them(permutation):
    sampler = windowed(permutation, seed=9)
    order = sampler.epoch_indices(0).tolist()
    for k in (0, 1, 17, len(order) - 1):
        iterator = iter(sampler)
        taken = list(itertools.islice(iterator, k))
        state = sampler.state_dict()
        resumed = windowed(permutation, seed=9)
        resumed.load_state_dict(state)
        assert taken + list(resumed) == order
        sampler.set_epoch(1)
        sampler.set_epoch(0)


def test_ranks_partition_each_epoch(permutation):
    world = 4
    ranks = [
        windowed(permutation, num_replicas=world, rank=r, drop_last=True) for r in range(world)
    ]
    for epoch in range(3):
        values = [v for s in ranks for v in s.epoch_indices(epoch).tolist()]
        assert len(values) == len(set(values)) == world * (ranks[0].num_frames // world)


def test_fingerprint_covers_window_and_grouping():
    states = {
        "global": make(FROM, TO, shuffle=True).state_dict(),
        "window 8": windowed(groups=None).state_dict(),
        "window 9": windowed(window=9, groups=None).state_dict(),
        "grouped": windowed().state_dict(),
    }
    assert len({state["fingerprint"] for state in states.values()}) == 4
    relabelled = windowed(groups=[g * 10 - 7 for g in GROUPS]).state_dict()
    assert relabelled["fingerprint"] == states["grouped"]["fingerprint"]
    with pytest.raises(ValueError, match="fingerprint"):
        windowed().load_state_dict(states["window 8"])
    with pytest.raises(ValueError, match="fingerprint"):
        make(FROM, TO, shuffle=True).load_state_dict(states["grouped"])


def test_window_none_is_the_global_order_groups_or_not(permutation):
    plain = make(FROM, TO, shuffle=True, seed=4, permutation=permutation)
    with pytest.warns(UserWarning, match="episode_groups has no effect without window="):
        grouped = EpisodeAwareSampler(
            FROM, TO, shuffle=True, seed=4, permutation=permutation, episode_groups=GROUPS
        )
    assert grouped.epoch_indices(2).tolist() == plain.epoch_indices(2).tolist()
    assert grouped.state_dict() == plain.state_dict()


def test_without_shuffle_a_window_changes_nothing():
    with pytest.warns(UserWarning, match="window=4 has no effect with shuffle=False"):
        sampler = EpisodeAwareSampler(FROM, TO, window=4, episode_groups=GROUPS)
    assert list(sampler) == lerobot_frames(FROM, TO)
    assert sampler.state_dict()["fingerprint"] == make(FROM, TO).state_dict()["fingerprint"]


@pytest.mark.parametrize("clone", [copy.deepcopy, lambda s: pickle.loads(pickle.dumps(s))])
def test_pickle_and_deepcopy_keep_window_and_groups(clone, permutation):
    sampler = windowed(permutation, seed=2)
    copied = clone(sampler)
    assert copied.window == 8 and copied.episode_groups.tolist() == GROUPS
    assert copied.epoch_indices(3).tolist() == sampler.epoch_indices(3).tolist()
    assert "window=8" in repr(copied)


def test_from_rows_keeps_the_window():
    rows = {frame: 1000 + frame for frame in range(60)}
    sampler = windowed(absolute_to_relative_idx=rows)
    assert sampler.epoch_indices(0).tolist() == [1000 + f for f in windowed().epoch_indices(0)]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"window": 0}, ValueError, "window must be >= 1, got 0"),
        ({"window": -3}, ValueError, "window must be >= 1, got -3"),
        ({"window": True}, TypeError, "window must be an int, got the bool True"),
        ({"window": 2.0}, TypeError, "window must be an int"),
        ({"window": "8"}, TypeError, "window must be an int"),
        ({"window": 4, "episode_groups": [0, 1]}, ValueError, r"one id per episode .*\(6\), got 2"),
        (
            {"window": 4, "episode_groups": [0.5] * 6},
            TypeError,
            "episode_groups must hold integers",
        ),
        ({"window": 4, "episode_groups": [True] * 6}, TypeError, "episode_groups"),
        ({"window": 4, "episode_groups": "abcdef"}, TypeError, "episode_groups"),
        ({"episode_groups": [[0, 1, 2]] * 2}, ValueError, "episode_groups must be 1-D"),
    ],
)
def test_bad_window_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        EpisodeAwareSampler(FROM, TO, shuffle=True, **kwargs)
