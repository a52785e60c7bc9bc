"""pytest-benchmark: the read-order report (`episampler.inspect`) of one epoch at 10^7 frames,
25,000 episodes in groups of 10, batches of 32 read by 8 workers with 3 decoders per sample.
The epoch's order is built before the timing (the report reuses the order the sampler
caches), so the times are the report's own: the exact LRU simulation of every worker plus the
displacement pass. Run with `make bench-python`."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from benches.compare import synthetic_episodes
from episampler import EpisodeAwareSampler, _core

FRAMES, EPISODES, EPISODES_PER_GROUP = 10_000_000, 25_000, 10
BATCH_SIZE, NUM_WORKERS, CACHE_SIZE, DECODERS_PER_GROUP = 32, 8, 100, 3
FROM, TO = synthetic_episodes(FRAMES, EPISODES)
GROUPS = np.arange(EPISODES, dtype=np.int64) // EPISODES_PER_GROUP
WINDOWS = "window" in inspect.signature(EpisodeAwareSampler.__init__).parameters
ORDERS = {
    "boundary": {},
    "uniform": {"shuffle": True},
    "feistel": {"shuffle": True, "permutation": "feistel"},
}
if WINDOWS:
    ORDERS["window 1024"] = {"shuffle": True, "window": 1024, "episode_groups": GROUPS}


@pytest.mark.parametrize("order", list(ORDERS))
@pytest.mark.benchmark(group="io report, 1e7 frames")
def test_io_report(benchmark, order):
    sampler = EpisodeAwareSampler(FROM, TO, **ORDERS[order])
    sampler.epoch_indices(0)  # builds and caches the epoch's order
    report = benchmark.pedantic(
        _core.io_report,
        args=(sampler._core, GROUPS, 0, BATCH_SIZE, NUM_WORKERS, CACHE_SIZE, DECODERS_PER_GROUP),
        rounds=3,
        iterations=1,
    )
    assert report["num_samples"] == FRAMES
