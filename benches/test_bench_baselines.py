"""pytest-benchmark: episampler against the baselines of `python -m benches.compare` at 10^6
frames, grouped so that each group's ratios (pytest-benchmark's `(x)` columns) compare like with
like in the same run; read those, not the absolute times. Run with `make bench-python`.

Groups: epoch start (building an epoch's order), iteration of 100k samples after the first
index, and batches of 256 (`EpisodeAwareBatchSampler` against torch's `BatchSampler`)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch.utils.data import BatchSampler

from benches.compare import LeRobotStyleSampler, RandpermSampler, synthetic_episodes
from episampler import EpisodeAwareBatchSampler, EpisodeAwareSampler

FRAMES, EPISODES, SAMPLES, BATCH_SIZE = 1_000_000, 10_000, 100_000, 256
FROM, TO = synthetic_episodes(FRAMES, EPISODES)
ROUNDS = 5


def drain(iterator, count: int = SAMPLES) -> None:
    for _ in itertools.islice(iterator, count):
        pass


def started(sampler):
    """A new iterator past its first index: its epoch's order is built, outside the timing."""
    iterator = iter(sampler)
    next(iterator)
    return iterator


def episampler_sampler(permutation: str) -> EpisodeAwareSampler:
    return EpisodeAwareSampler(FROM, TO, shuffle=True, permutation=permutation)


# --- epoch start: building a new epoch's order -----------------------------------------------


@pytest.mark.benchmark(group="epoch start, 1e6 frames")
def test_epoch_start_torch_randperm(benchmark):
    seeds = itertools.count(1)
    benchmark.pedantic(
        lambda seed: torch.randperm(FRAMES, generator=torch.Generator().manual_seed(seed)),
        setup=lambda: ((next(seeds),), {}),
        rounds=ROUNDS,
        iterations=1,
    )


def first_index_of_new_epochs(benchmark, sampler) -> None:
    """Time `next(iter(sampler))` on a new epoch each round, so its order is really built."""
    epochs = itertools.count(1)
    benchmark.pedantic(
        lambda: next(iter(sampler)),
        setup=lambda: sampler.set_epoch(next(epochs)),
        rounds=ROUNDS,
        iterations=1,
    )


@pytest.mark.benchmark(group="epoch start, 1e6 frames")
def test_epoch_start_lerobot_style_first_index(benchmark):
    first_index_of_new_epochs(benchmark, LeRobotStyleSampler(FROM, TO, shuffle=True))


@pytest.mark.benchmark(group="epoch start, 1e6 frames")
def test_epoch_start_episampler_uniform_epoch_indices(benchmark):
    sampler = episampler_sampler("uniform")
    epochs = itertools.count(1)
    benchmark.pedantic(
        sampler.epoch_indices, setup=lambda: ((next(epochs),), {}), rounds=ROUNDS, iterations=1
    )


@pytest.mark.parametrize("permutation", ["uniform", "feistel"])
@pytest.mark.benchmark(group="epoch start, 1e6 frames")
def test_epoch_start_episampler_first_index(benchmark, permutation):
    first_index_of_new_epochs(benchmark, episampler_sampler(permutation))


# --- iteration: 100k samples after the first index -------------------------------------------


@pytest.mark.benchmark(group="iterate 100k samples, 1e6 frames")
def test_iterate_python_list(benchmark):
    values = np.random.default_rng(1).integers(0, FRAMES, SAMPLES + 1).tolist()
    benchmark.pedantic(drain, setup=lambda: ((started(values),), {}), rounds=ROUNDS, iterations=1)


@pytest.mark.benchmark(group="iterate 100k samples, 1e6 frames")
def test_iterate_torch_randperm(benchmark):
    sampler = RandpermSampler(FRAMES)
    benchmark.pedantic(drain, setup=lambda: ((started(sampler),), {}), rounds=ROUNDS, iterations=1)


@pytest.mark.benchmark(group="iterate 100k samples, 1e6 frames")
def test_iterate_lerobot_style(benchmark):
    sampler = LeRobotStyleSampler(FROM, TO, shuffle=True)
    benchmark.pedantic(drain, setup=lambda: ((started(sampler),), {}), rounds=ROUNDS, iterations=1)


@pytest.mark.parametrize("permutation", ["uniform", "feistel"])
@pytest.mark.benchmark(group="iterate 100k samples, 1e6 frames")
def test_iterate_episampler(benchmark, permutation):
    sampler = episampler_sampler(permutation)
    benchmark.pedantic(drain, setup=lambda: ((started(sampler),), {}), rounds=ROUNDS, iterations=1)


# --- batches of 256 --------------------------------------------------------------------------


@pytest.mark.parametrize("batch_sampler", [BatchSampler, EpisodeAwareBatchSampler])
@pytest.mark.parametrize("permutation", ["uniform", "feistel"])
@pytest.mark.benchmark(group="batches of 256, 100k samples, 1e6 frames")
def test_batches(benchmark, permutation, batch_sampler):
    batches = batch_sampler(episampler_sampler(permutation), BATCH_SIZE, drop_last=False)
    benchmark.pedantic(
        drain,
        setup=lambda: ((started(batches), SAMPLES // BATCH_SIZE), {}),
        rounds=ROUNDS,
        iterations=1,
    )


# --- the baselines are what they claim (plain tests; `--benchmark-only` skips them) ----------


def test_lerobot_style_matches_episampler_order_unshuffled():
    kwargs = {"drop_n_first_frames": 1, "drop_n_last_frames": 2}
    from_indices, to_indices = synthetic_episodes(20_000, 500, seed=3)
    with pytest.warns(UserWarning, match="skipped"):  # some 1- and 2-frame episodes empty out
        expected = EpisodeAwareSampler(from_indices, to_indices, **kwargs).epoch_indices()
    assert list(LeRobotStyleSampler(from_indices, to_indices, **kwargs)) == expected.tolist()


def test_shuffled_baselines_are_permutations():
    from_indices, to_indices = synthetic_episodes(20_000, 500, seed=3)
    lerobot = LeRobotStyleSampler(from_indices, to_indices, shuffle=True, seed=5)
    first, second = list(lerobot), list(lerobot)  # each full pass moves to the next epoch
    assert sorted(first) == sorted(second) == list(range(20_000))
    assert first != second
    assert sorted(RandpermSampler(20_000)) == list(range(20_000))


def test_synthetic_episodes_tile_the_frames():
    from_indices, to_indices = synthetic_episodes(FRAMES, EPISODES)
    lengths = to_indices - from_indices
    assert from_indices[0] == 0 and to_indices[-1] == FRAMES
    assert (from_indices[1:] == to_indices[:-1]).all() and lengths.min() >= 1
    assert lengths.max() > 10 * lengths.min()  # uneven
    again = synthetic_episodes(FRAMES, EPISODES)
    assert (again[0] == from_indices).all() and (again[1] == to_indices).all()
