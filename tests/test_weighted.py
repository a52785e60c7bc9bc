"""WeightedEpisodeSampler: draws follow the weights (chi-squared at 10**7 draws), position `p`
of an epoch depends on `(seed, epoch, p)` only, exact resume and sharding, 10**8 episodes where
torch's sampler refuses, bad input."""

from __future__ import annotations

import copy
import hashlib
import itertools
import math
import pickle

import numpy as np
import pytest
import torch

from episampler import WeightedEpisodeSampler

FROM = [0, 10, 25, 40]
TO = [10, 22, 31, 41]  # lengths 10, 12, 6, 1
WEIGHTS = [1.0, 2.0, 0.0, 5.0]


def weighted(weights=WEIGHTS, num_samples=50, **kwargs):
    return WeightedEpisodeSampler(FROM, TO, weights, num_samples, **kwargs)


# Frozen draws: (seed, epoch, per, the epoch's 50 values).
GOLDEN = [
    (0, 0, "episode", [40, 13, 40, 40, 40, 40, 11, 40, 40, 0, 40, 40, 40, 12, 40, 21, 40, 20, 40,
     40, 2, 40, 7, 40, 40, 40, 12, 40, 11, 10, 40, 1, 8, 40, 40, 17, 14, 5, 40, 8, 40, 40, 14, 40,
     19, 7, 40, 40, 40, 7]),
    (2**64 - 1, 7, "frame", [1, 16, 15, 13, 17, 16, 7, 20, 14, 11, 17, 15, 14, 21, 13, 7, 40, 16,
     20, 21, 20, 10, 20, 40, 16, 40, 19, 2, 11, 20, 2, 18, 16, 10, 17, 40, 19, 1, 5, 3, 40, 11,
     17, 18, 9, 40, 10, 3, 18, 16]),
]  # fmt: skip
LARGE_DIGEST = "15dbb31d840bfd198652dfa30787155b05f633e97ddfd4f253388351906aebdd"


@pytest.mark.parametrize(("seed", "epoch", "per", "expected"), GOLDEN)
def test_golden_vectors(seed, epoch, per, expected):
    assert weighted(seed=seed, per=per).epoch_indices(epoch).tolist() == expected


def test_golden_digest_of_a_larger_epoch():
    ends = np.cumsum(np.arange(10_000) % 50 + 1)
    weights = (np.arange(10_000) % 7).astype(float)
    sampler = WeightedEpisodeSampler(np.concatenate([[0], ends[:-1]]), ends, weights, 10**6,
                                     per="frame", seed=3)  # fmt: skip
    order = sampler.epoch_indices(2)
    assert hashlib.sha256(order.astype("<i8").tobytes()).hexdigest() == LARGE_DIGEST


def chi_squared_limit(degrees: int, p_value_z: float = 5.0) -> float:
    """Upper quantile of chi-squared with `degrees` degrees of freedom at a standard-normal
    z (Wilson-Hilferty): z = 5 is a false-alarm rate of about 3e-7."""
    k = degrees
    return k * (1 - 2 / (9 * k) + p_value_z * math.sqrt(2 / (9 * k))) ** 3


def chi_squared(observed: np.ndarray, probabilities: np.ndarray) -> float:
    expected = observed.sum() * probabilities
    return float(((observed - expected) ** 2 / expected).sum())


@pytest.mark.parametrize("per", ["episode", "frame"])
def test_frequencies_match_the_weights_at_ten_million_draws(per):
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 40, size=200)
    ends = np.cumsum(lengths)
    starts = ends - lengths
    weights = rng.exponential(size=200)
    weights[::17] = 0.0
    sampler = WeightedEpisodeSampler(starts, ends, weights, 10**7, per=per, seed=11)
    assert sampler.num_frames == lengths.sum()
    draws = sampler.epoch_indices(0)
    episode = np.searchsorted(ends, draws, side="right")
    counts = np.bincount(episode, minlength=200)
    assert counts[weights == 0].sum() == 0
    mass = weights * (lengths if per == "frame" else 1)
    positive = mass > 0
    expected = mass[positive] / mass.sum()
    limit = chi_squared_limit(int(positive.sum()) - 1)
    assert chi_squared(counts[positive], expected) < limit
    # The test has power: 5% more weight on the heaviest episode is detected.
    skewed = expected.copy()
    skewed[np.argmax(expected)] *= 1.05
    assert chi_squared(counts[positive], skewed / skewed.sum()) > limit
    # Frames are uniform inside their episode: pooled chi-squared over the episodes.
    statistic, degrees = 0.0, 0
    for e in np.flatnonzero(positive & (lengths > 1))[:40]:
        frames = np.bincount(draws[episode == e] - starts[e], minlength=lengths[e])
        statistic += chi_squared(frames, np.full(lengths[e], 1 / lengths[e]))
        degrees += lengths[e] - 1
    assert statistic < chi_squared_limit(degrees)


def test_selection_and_drops_weigh_kept_frames_only():
    with pytest.warns(UserWarning, match="1 selected episode"):
        sampler = WeightedEpisodeSampler(FROM, TO, [1, 1, 1, 100], 20_000, per="frame",
                                         episode_indices_to_use=[0, 1, 3], drop_n_first_frames=1,
                                         drop_n_last_frames=1)  # fmt: skip
    # Episode 3 has one frame: emptied by the drops; episode 2 is not selected.
    draws = sampler.epoch_indices(0)
    assert set(draws.tolist()) == set(range(1, 9)) | set(range(11, 21))
    assert abs((draws < 10).mean() - 8 / 18) < 0.02


def test_position_p_does_not_depend_on_the_epoch_length_or_the_world_size():
    long = weighted(num_samples=1000, seed=5).epoch_indices(3).tolist()
    assert weighted(num_samples=10, seed=5).epoch_indices(3).tolist() == long[:10]
    for world in (2, 3):
        ranks = [weighted(num_samples=1000, seed=5, num_replicas=world, rank=r)
                 for r in range(world)]  # fmt: skip
        for r, sampler in enumerate(ranks):
            got = sampler.epoch_indices(3).tolist()
            positions = range(r, world * len(got), world)
            assert got == [long[p % 1000] for p in positions]
    assert weighted(seed=5).epoch_indices(4).tolist() != long[:50]


@pytest.mark.parametrize("world", [1, 2, 3])
def test_resume_at_every_position_follows_the_stride_rule(world):
    global_order = weighted().epoch_indices(2).tolist()
    n = len(global_order)
    state = weighted().state_dict()
    for start in range(n + 1):
        for rank in range(world):
            resumed = weighted(num_replicas=world, rank=rank)
            resumed.load_state_dict({**state, "epoch": 2, "start_index": start})
            end = start + world * -(-(n - start) // world)
            expected = [global_order[p % n] for p in range(start + rank, end, world)]
            assert list(resumed) == expected, (start, rank)


def test_state_after_k_values_resumes_and_epochs_differ():
    stream = [weighted().epoch_indices(e).tolist() for e in range(3)]
    assert len({tuple(epoch) for epoch in stream}) == 3
    flat = list(itertools.chain(*stream))
    for k in (0, 1, 49, 50, 77):
        sampler = weighted()
        taken: list[int] = []
        while len(taken) < k:
            taken.extend(itertools.islice(iter(sampler), k - len(taken)))
        resumed = weighted()
        resumed.load_state_dict(sampler.state_dict())
        rest = list(itertools.chain(resumed, resumed, resumed))
        assert (taken + rest)[:150] == flat, k


@pytest.mark.parametrize("clone", [copy.deepcopy, lambda s: pickle.loads(pickle.dumps(s))])
def test_pickle_and_deepcopy_keep_configuration_and_resume_point(clone):
    sampler = weighted(per="frame", seed=8)
    sampler.load_state_dict({"epoch": 4, "start_index": 9})
    copied = clone(sampler)
    assert copied.state_dict() == sampler.state_dict()
    assert list(copied) == list(sampler)
    assert copied.per == "frame" and copied.weights.tolist() == WEIGHTS


def test_state_of_another_configuration_is_refused():
    state = weighted().state_dict()
    with pytest.warns(UserWarning, match="1 selected episode"):
        dropped = weighted(drop_n_first_frames=1)
    for other in (weighted(seed=1), weighted([1, 2, 0, 6]), weighted(num_samples=51),
                  weighted(per="frame"), dropped):  # fmt: skip
        with pytest.raises(ValueError, match="belongs to a different sampler"):
            other.load_state_dict(state)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_hundred_million_episode_weights_where_torch_refuses():
    n = 10**8
    weights = np.ones(n)
    weights[12_345_678] = 10**6  # one heavy episode, about 1% of the mass
    torch_sampler = torch.utils.data.WeightedRandomSampler(torch.from_numpy(weights), 10)
    with pytest.raises(RuntimeError, match="number of categories cannot exceed"):
        list(torch_sampler)
    boundaries = np.arange(n + 1, dtype=np.int64)  # one frame per episode
    sampler = WeightedEpisodeSampler(boundaries[:-1], boundaries[1:], weights, 10**6, seed=1)
    del boundaries, weights
    draws = sampler.epoch_indices(0)
    assert draws.min() >= 0 and draws.max() < n
    heavy = (draws == 12_345_678).mean()
    p = 10**6 / (10**6 + n - 1)
    assert abs(heavy - p) < 5 * math.sqrt(p * (1 - p) / 10**6)
    # The rest spread over many episodes: nearly all distinct.
    assert len(np.unique(draws[draws != 12_345_678])) > 0.99 * (draws != 12_345_678).sum()


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"weights": [1, -1, 1, 1]}, ValueError, r"finite and >= 0, got -1 at index 1"),
        ({"weights": [1, float("nan"), 1, 1]}, ValueError, "finite and >= 0, got NaN"),
        ({"weights": [1, 1, float("inf"), 1]}, ValueError, "finite and >= 0, got inf"),
        ({"weights": [0, 0, 0, 0]}, ValueError, "must not all be 0"),
        ({"weights": [1, 2]}, ValueError, r"one entry per episode .*\(4\), got 2"),
        ({"weights": [[1, 2, 3, 4]]}, ValueError, "weights must be 1-D"),
        ({"weights": ["a", "b", "c", "d"]}, TypeError, "weights must hold real numbers"),
        ({"weights": [True, 1, 1, 1]}, TypeError, "weights must hold numbers"),
        ({"weights": 3.0}, TypeError, "weights must be a 1-D sequence"),
        ({"num_samples": -1}, ValueError, "num_samples must be >= 0"),
        ({"num_samples": 1.5}, TypeError, "num_samples must be an int"),
        ({"per": "frames"}, ValueError, r"per must be one of \('episode', 'frame'\)"),
        ({"per": 1}, TypeError, "per must be a str"),
        ({"seed": -1}, ValueError, "seed must be >= 0"),
        ({"num_replicas": 0}, ValueError, "num_replicas must be >= 1"),
    ],
)
def test_bad_input_is_a_clear_error(kwargs, error, message):
    with pytest.raises(error, match=message):
        weighted(**kwargs)


def test_weights_zero_on_every_kept_episode_are_refused():
    with pytest.raises(ValueError, match="0 for every kept episode"):
        WeightedEpisodeSampler(FROM, TO, [0, 0, 1, 0], 5, episode_indices_to_use=[0, 1])
