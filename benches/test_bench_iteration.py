"""pytest-benchmark: per-sample iteration cost against the list + torch.randperm baseline, in the
same run (read the ratios, not the absolute times). Run with `make bench-python`."""

from __future__ import annotations

import itertools

import pytest

from episampler import EpisodeAwareSampler
from episampler.__main__ import ListRandpermSampler, synthetic_episodes

FRAMES, EPISODES, SAMPLES = 1_000_000, 1_000, 100_000
FROM, TO = synthetic_episodes(FRAMES, EPISODES)


def drain(iterator) -> None:
    for _ in itertools.islice(iterator, SAMPLES):
        pass


def test_baseline_list_randperm(benchmark):
    sampler = ListRandpermSampler(FROM, TO)
    benchmark.pedantic(lambda: drain(iter(sampler)), rounds=3, iterations=1)


@pytest.mark.parametrize("permutation", ["uniform", "feistel"])
def test_episampler(benchmark, permutation):
    sampler = EpisodeAwareSampler(FROM, TO, shuffle=True, permutation=permutation)
    benchmark.pedantic(lambda: drain(iter(sampler)), rounds=3, iterations=1)
