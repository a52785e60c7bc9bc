"""MixtureSampler: exact counts per block, components read through their own epochs without
replacement (across mixture epochs too), a pure function of its inputs, resume at every
position, sharding and elastic resume, pickling, batches, bad input."""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import pickle
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
import torch
from torch.utils.data import ConcatDataset, Dataset

from episampler import (
    EpisodeAwareBatchSampler,
    EpisodeAwareSampler,
    MixtureSampler,
    balance_weights,
    compute_sampler_state,
)

from .support import REPOSITORY, make

# Three datasets: 28 frames in 3 episodes (a gap, shuffled uniform), 7 frames (unshuffled),
# 50 frames in 5 episodes (feistel, one frame dropped at each episode's start).
OFFSETS = [0, 31, 38]


def components(seeds=(1, 2, 3)):
    return [
        make([0, 10, 25], [10, 22, 31], shuffle=True, seed=seeds[0]),
        make([0], [7], seed=seeds[1]),
        make(list(range(0, 50, 10)), list(range(10, 60, 10)), drop_n_first_frames=1,
             shuffle=True, permutation="feistel", seed=seeds[2]),
    ]  # fmt: skip


def mixture(weights=(5, 2, 3), block_size=10, **kwargs):
    return MixtureSampler(components(), list(weights), offsets=OFFSETS, block_size=block_size,
                          **kwargs)  # fmt: skip


def component_of(value: int) -> int:
    return max(c for c, offset in enumerate(OFFSETS) if offset <= value)


# Frozen mixture orders: (seed, epoch, block_size, the epoch's first 30 values).
GOLDEN = [
    (0, 0, 10, [31, 7, 15, 67, 85, 32, 2, 3, 43, 26, 9, 16, 10, 46, 33, 76, 34, 39, 25, 5, 42, 35,
     55, 4, 36, 1, 20, 29, 0, 86]),
    (0, 3, 10, [86, 80, 3, 37, 19, 25, 14, 9, 31, 73, 29, 32, 18, 43, 54, 26, 33, 0, 65, 30, 17, 8,
     34, 60, 35, 16, 5, 42, 10, 74]),
    (2**64 - 1, 1, 7, [2, 29, 30, 50, 36, 1, 81, 37, 20, 9, 4, 61, 7, 65, 25, 31, 11, 83, 19, 1, 60,
     5, 71, 17, 59, 28, 3, 32, 62, 52]),
]  # fmt: skip
LARGE_DIGEST = "ffda08702aea06a0315ad3ef97a5ecebd3fb22308a6c5154a7d53a031c156d21"


@pytest.mark.parametrize(("seed", "epoch", "block_size", "expected"), GOLDEN)
def test_golden_vectors(seed, epoch, block_size, expected):
    sampler = mixture(block_size=block_size, seed=seed)
    assert sampler.epoch_indices(epoch)[:30].tolist() == expected


def test_golden_digest_of_a_larger_mixture():
    first = EpisodeAwareSampler(np.arange(0, 10**6, 100), np.arange(100, 10**6 + 1, 100),
                                shuffle=True, seed=7)  # fmt: skip
    second = EpisodeAwareSampler([0], [12_345], shuffle=True, permutation="feistel", seed=8)
    sampler = MixtureSampler([first, second], [0.3, 0.7], offsets=[0, 10**6], seed=9,
                             samples_per_epoch=200_000)  # fmt: skip
    order = sampler.epoch_indices(4)
    assert hashlib.sha256(order.astype("<i8").tobytes()).hexdigest() == LARGE_DIGEST


def largest_remainder(weights, total):
    """Reference: floors of the exact quotas, one more for the largest fractional parts (ties
    to the lower index)."""
    quotas = [Fraction(w) * total / sum(weights) for w in weights]
    counts = [math.floor(q) for q in quotas]
    by_fraction = sorted(range(len(weights)), key=lambda c: (-(quotas[c] - counts[c]), c))
    for c in by_fraction[: total - sum(counts)]:
        counts[c] += 1
    return tuple(counts)


@pytest.mark.parametrize("block_size", [3, 4, 10, 17, 85, 1000])
def test_every_block_holds_exact_counts(block_size):
    weights = (5, 2, 3)
    sampler = mixture(weights, block_size=block_size, samples_per_epoch=200)
    counts = sampler.block_counts
    assert counts == largest_remainder(weights, block_size)
    for epoch in range(3):
        order = sampler.epoch_indices(epoch).tolist()
        for start in range(0, len(order), block_size):
            block = order[start : start + block_size]
            seen = [sum(component_of(v) == c for v in block) for c in range(3)]
            if len(block) == block_size:
                assert tuple(seen) == counts, (epoch, start)
            else:  # the partial last block: the largest remainder of its own length
                assert tuple(seen) == largest_remainder(weights, len(block))


def test_largest_remainder_ties_go_to_the_lower_index():
    assert mixture((1, 1, 1), block_size=10).block_counts == (4, 3, 3)
    with pytest.raises(ValueError, match="gives component 2"):  # (1, 1, 0): no slot for 2
        mixture((1, 1, 1), block_size=2)
    assert mixture((0, 1, 1), block_size=3).block_counts == (0, 2, 1)
    assert mixture((3, 0, 1), block_size=1024).block_counts == (768, 0, 256)


def test_components_are_read_through_their_own_epochs_without_replacement():
    sampler = mixture(samples_per_epoch=123)  # not a multiple of any component size
    parts = components()
    draws: list[list[int]] = [[], [], []]
    for epoch in range(6):
        for value in sampler.epoch_indices(epoch).tolist():
            c = component_of(value)
            draws[c].append(value - OFFSETS[c])
    for c, part in enumerate(parts):
        n = part.num_frames
        assert len(draws[c]) > 3 * n  # upsampled: several of its own epochs
        for k in range(0, len(draws[c]), n):
            chunk = draws[c][k : k + n]
            assert chunk == part.epoch_indices(k // n)[: len(chunk)].tolist(), (c, k)
            assert len(set(chunk)) == len(chunk)  # no frame twice before all were used


def test_default_epoch_length_is_the_sum_of_the_components_and_len_follows_the_stride():
    sampler = mixture()
    assert sampler.samples_per_epoch == 28 + 7 + 45 == len(sampler)
    assert len(mixture(num_replicas=3, rank=1)) == 27
    assert len(mixture(num_replicas=3, rank=1, drop_last=True)) == 26
    assert list(mixture(samples_per_epoch=0)) == []


def test_the_mixture_seed_orders_only_the_slots():
    # Same components, another mixture seed: the same draws per component, in other slots.
    a = mixture(seed=1, samples_per_epoch=40).epoch_indices(0).tolist()
    b = mixture(seed=2, samples_per_epoch=40).epoch_indices(0).tolist()
    assert a != b
    for c in range(3):
        assert [v for v in a if component_of(v) == c] == [v for v in b if component_of(v) == c]
    # Another component seed changes that component's draws only.
    other = MixtureSampler(components(seeds=(1, 2, 99)), [5, 2, 3], offsets=OFFSETS,
                           block_size=10, seed=1, samples_per_epoch=40)  # fmt: skip
    c = other.epoch_indices(0).tolist()
    assert [component_of(v) for v in c] == [component_of(v) for v in a]
    assert [v for v in c if component_of(v) == 2] != [v for v in a if component_of(v) == 2]


SCRIPT = """
import hashlib, json, sys
sys.path.insert(0, {root!r})
from tests.test_mixture import mixture
from tests.test_weighted import weighted
out = {{}}
for name, sampler in (("mixture", mixture(seed=2**63 + 5)), ("weighted", weighted(seed=17))):
    out[name] = [sampler.epoch_indices(e).tolist() for e in range(3)]
print(json.dumps(out))
"""


@pytest.mark.slow
def test_orders_are_a_pure_function_of_their_inputs_in_fresh_processes():
    from .test_weighted import weighted

    torch.manual_seed(123)
    np.random.seed(5)
    here = {
        "mixture": [mixture(seed=2**63 + 5).epoch_indices(e).tolist() for e in range(3)],
        "weighted": [weighted(seed=17).epoch_indices(e).tolist() for e in range(3)],
    }
    for hash_seed in ("0", "12345"):
        result = subprocess.run(
            [sys.executable, "-c", SCRIPT.format(root=str(REPOSITORY))],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": hash_seed, "PATH": ""},
            cwd=REPOSITORY,
        )
        assert json.loads(result.stdout) == here


@pytest.mark.parametrize("world", [1, 2, 3])
def test_resume_at_every_position_follows_the_stride_rule(world):
    global_order = mixture().epoch_indices(2).tolist()
    n = len(global_order)
    state = mixture().state_dict()
    for start in range(n + 1):
        for rank in range(world):
            resumed = mixture(num_replicas=world, rank=rank)
            resumed.load_state_dict({**state, "epoch": 2, "start_index": start})
            end = start + world * -(-(n - start) // world)
            expected = [global_order[p % n] for p in range(start + rank, end, world)]
            assert list(resumed) == expected, (start, rank)


def test_state_after_k_values_resumes_right_after_them_across_epochs():
    stream = list(itertools.chain(*(mixture().epoch_indices(e).tolist() for e in range(3))))
    for k in (0, 1, 33, 79, 80, 81, 150):
        sampler = mixture()
        taken: list[int] = []
        while len(taken) < k:
            taken.extend(itertools.islice(iter(sampler), k - len(taken)))
        state = sampler.state_dict()
        json.dumps(state)  # plain values
        resumed = mixture()
        resumed.load_state_dict(state)
        rest = list(itertools.chain(resumed, resumed, resumed))
        assert (taken + rest)[: len(stream)] == stream, k


def test_ranks_are_disjoint_and_cover_the_epoch_and_resume_elastically():
    n = mixture().samples_per_epoch
    order = mixture().epoch_indices(1).tolist()
    for world in (2, 3):
        ranks = [mixture(num_replicas=world, rank=r, drop_last=True) for r in range(world)]
        positions = [list(range(r, world * (n // world), world)) for r in range(world)]
        got = [s.epoch_indices(1).tolist() for s in ranks]
        assert got == [[order[p] for p in ps] for ps in positions]
    # 2 ranks take 7 values each, then 3 ranks resume: no position skipped or repeated.
    for before, after in ((2, 3), (3, 2)):
        taken = []
        for r in range(before):
            sampler = mixture(num_replicas=before, rank=r)
            sampler.set_epoch(1)
            iterator = iter(sampler)
            taken.append(list(itertools.islice(iterator, 7)))
            state = sampler.state_dict()
        assert state["start_index"] == 7 * before
        rest = []
        for r in range(after):
            sampler = mixture(num_replicas=after, rank=r, drop_last=True)
            sampler.load_state_dict(state)
            rest.append(list(sampler))
        consumed = 7 * before + after * ((n - 7 * before) // after)
        values = sorted(v for part in taken + rest for v in part)
        assert values == sorted(order[:consumed])


def test_seek_far_into_training_agrees_with_reading_the_block():
    """At position 10**9 of a long epoch the component draw counts are computed, not replayed:
    they must agree with reading the block from its start."""
    parts = [
        EpisodeAwareSampler([0], [1_000_003], shuffle=True, permutation="feistel", seed=1),
        EpisodeAwareSampler([0], [999], shuffle=True, permutation="feistel", seed=2),
    ]
    sampler = MixtureSampler(parts, [0.9, 0.1], offsets=[0, 2_000_000], block_size=1000,
                             samples_per_epoch=3 * 10**9, seed=4)  # fmt: skip
    position = 10**9 + 517
    block_start = position - position % 1000
    sampler.load_state_dict({**sampler.state_dict(), "epoch": 5, "start_index": position})
    direct = list(itertools.islice(iter(sampler), 5))
    sampler.load_state_dict({**sampler.state_dict(), "epoch": 5, "start_index": block_start})
    block = list(itertools.islice(iter(sampler), 1000))
    assert block[517:522] == direct
    # Draws of each component before `position`: 5 epochs, the earlier blocks, this block.
    counts = sampler.block_counts
    for offset, value in enumerate(direct):
        c = 0 if value < 2_000_000 else 1
        before = block[: 517 + offset]
        k = 5 * 3 * 10**9 // 1000 * counts[c] + (block_start // 1000) * counts[c]
        k += sum((v >= 2_000_000) == bool(c) for v in before)
        n = parts[c].num_frames
        assert value - sampler.offsets[c] == parts[c].epoch_indices(k // n)[k % n]


@pytest.mark.parametrize("clone", [copy.deepcopy, lambda s: pickle.loads(pickle.dumps(s))])
def test_pickle_and_deepcopy_keep_configuration_and_resume_point(clone):
    sampler = mixture(seed=3)
    sampler.load_state_dict({"epoch": 2, "start_index": 11})
    copied = clone(sampler)
    assert copied.state_dict() == sampler.state_dict()
    assert list(copied) == list(sampler)
    assert "MixtureSampler(components=3" in repr(copied)


def test_batch_sampler_and_compute_sampler_state():
    sampler = mixture()
    batches = EpisodeAwareBatchSampler(sampler, batch_size=7)
    expected = sampler.epoch_indices(0).tolist()
    got = list(batches)
    assert [v for b in got for v in b] == expected and len(got) == len(batches) == 12
    state = compute_sampler_state(5, sampler.samples_per_epoch, 7, 1)
    resumed = mixture()
    resumed.load_state_dict(state)
    assert list(resumed) == expected[35:]


class Rows(Dataset):
    def __init__(self, n: int, tag: int):
        self.n, self.tag = n, tag

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple[int, int]:
        return self.tag, i


def test_for_concat_takes_the_offsets_and_rows_reach_the_right_dataset():
    data = ConcatDataset([Rows(31, 0), Rows(7, 1), Rows(60, 2)])
    sampler = MixtureSampler.for_concat(data, components(), [5, 2, 3], block_size=10)
    assert sampler.offsets == (0, 31, 38)
    for value in sampler.epoch_indices(0).tolist():
        tag, row = data[value]
        assert tag == component_of(value) and row == value - OFFSETS[tag]
    with pytest.raises(ValueError, match=r"dataset 1 of the ConcatDataset has 5 rows"):
        MixtureSampler.for_concat(ConcatDataset([Rows(31, 0), Rows(5, 1), Rows(60, 2)]),
                                  components(), [1, 1, 1])  # fmt: skip
    with pytest.raises(ValueError, match="one sampler per dataset"):
        MixtureSampler.for_concat(data, components()[:2], [1, 1])
    with pytest.raises(TypeError, match="must be a ConcatDataset"):
        MixtureSampler.for_concat([Rows(31, 0)], components()[:1], [1])
    with pytest.raises(TypeError, match="takes the offsets"):
        MixtureSampler.for_concat(data, components(), [1, 1, 1], offsets=[0, 1, 2])


def test_balance_weights_multiplies_by_size():
    parts = components()
    assert balance_weights(parts) == [28.0, 7.0, 45.0]
    assert balance_weights(parts, [1, 2, 0.5]) == [28.0, 14.0, 22.5]
    assert balance_weights([10, Rows(4, 0)]) == [10.0, 4.0]
    with pytest.raises(ValueError, match="one entry per item"):
        balance_weights(parts, [1, 2])
    with pytest.raises(TypeError, match="must be a sampler, a dataset or a size"):
        balance_weights([object()])


def test_state_of_another_mixture_is_refused():
    state = mixture().state_dict()
    assert set(state) == {"epoch", "start_index", "sampler", "seed", "num_samples",
                          "fingerprint", "algorithm_version", "settings"}  # fmt: skip
    others = {
        "seed": mixture(seed=1),
        "weights": mixture((5, 2, 4)),
        "block size": mixture(block_size=20),
        "epoch length": mixture(samples_per_epoch=81),
        "component seed": MixtureSampler(
            components(seeds=(1, 2, 4)), [5, 2, 3], offsets=OFFSETS, block_size=10
        ),
        "offsets": MixtureSampler(components(), [5, 2, 3], offsets=[0, 31, 40], block_size=10),
    }
    for name, other in others.items():
        with pytest.raises(ValueError, match="belongs to a different sampler"):
            other.load_state_dict(state)
        assert other.state_dict()["fingerprint"] != state["fingerprint"] or name == "seed"


def sharded_component():
    return make([0], [5], num_replicas=2, rank=0)


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (lambda: mixture((1, -1, 1)), ValueError, r"finite and >= 0, got -1 at index 1"),
        (lambda: mixture((1, float("nan"), 1)), ValueError, "finite and >= 0, got NaN"),
        (lambda: mixture((1, float("inf"), 1)), ValueError, "finite and >= 0, got inf"),
        (lambda: mixture((0, 0, 0)), ValueError, "must not all be 0"),
        (lambda: mixture((1, 1)), ValueError, r"one entry per component sampler \(3\), got 2"),
        (lambda: mixture((True, 1, 1)), TypeError, "weights must hold numbers"),
        (lambda: MixtureSampler(components(), "abc", offsets=OFFSETS), TypeError,
         "weights must be a 1-D sequence"),
        (lambda: mixture("abc"), TypeError, "weights must hold real numbers"),
        (lambda: mixture((1, 1, 1), block_size=0), ValueError, "block_size must be >= 1, got 0"),
        (lambda: mixture((1000, 1, 1), block_size=100), ValueError,
         r"block_size=100 gives component 1 \(weight 1\) no slot.*at least 1002"),
        (lambda: mixture(samples_per_epoch=-1), ValueError, "samples_per_epoch must be >= 0"),
        (lambda: mixture(seed=2**64), ValueError, r"seed must be in \[0, 2\*\*64\)"),
        (lambda: mixture(num_replicas=2, rank=2), ValueError, "rank must be in"),
        (lambda: MixtureSampler([], [], offsets=[]), ValueError, "at least one component"),
        (lambda: MixtureSampler([sharded_component()], [1], offsets=[0]), ValueError,
         r"samplers\[0\] has num_replicas=2: components must have num_replicas=1"),
        (lambda: MixtureSampler([[0, 1]], [1], offsets=[0]), TypeError,
         r"samplers\[0\] must be an EpisodeAwareSampler, got list"),
        (lambda: MixtureSampler(components(), [1, 1, 1], offsets=[0, 30, 38]), ValueError,
         r"offsets overlap: component 0 and component 1 would both yield row 30"),
        (lambda: MixtureSampler(components(), [1, 1, 1], offsets=[0, 31]), ValueError,
         r"offsets must hold one entry per component sampler \(3\), got 2"),
        (lambda: MixtureSampler(components(), [1, 1, 1], offsets=[-1, 31, 38]), ValueError,
         "offsets.0. = -1 makes row -1 negative"),
        (lambda: MixtureSampler(components(), [1, 1, 1]), TypeError, "offsets"),
    ],
)  # fmt: skip
def test_bad_input_is_a_clear_error(build, error, message):
    with pytest.raises(error, match=message):
        build()


def test_an_empty_component_cannot_exist():
    # A component sampler with no frame is refused when it is built, in LeRobot's words.
    with pytest.raises(ValueError, match="No valid frames remain"):
        EpisodeAwareSampler([0], [3], drop_n_first_frames=3)


def test_num_samples_reads_as_for_weighted_draws_and_the_state():
    parts = [EpisodeAwareSampler([0], [6], shuffle=True), EpisodeAwareSampler([0], [4])]
    mix = MixtureSampler(parts, [1, 1], offsets=[0, 6], samples_per_epoch=14)
    assert mix.num_samples == mix.samples_per_epoch == 14 == mix.state_dict()["num_samples"]
