"""Sharding over num_replicas ranks: DistributedSampler's assignment, resumable, elastic."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
from torch.utils.data import DistributedSampler

from .support import make


@pytest.mark.parametrize("world", [1, 2, 3, 5, 40])
@pytest.mark.parametrize("drop_last", [False, True])
def test_matches_distributed_sampler_from_position_zero(permutation, world, drop_last):
    global_order = make(shuffle=True, seed=6, permutation=permutation).epoch_indices().tolist()
    for rank in range(world):
        reference = DistributedSampler(
            range(len(global_order)),
            num_replicas=world,
            rank=rank,
            shuffle=False,
            drop_last=drop_last,
        )
        sampler = make(
            shuffle=True,
            seed=6,
            permutation=permutation,
            num_replicas=world,
            rank=rank,
            drop_last=drop_last,
        )
        assert list(sampler) == [global_order[p] for p in reference]
        assert len(sampler) == len(reference)


def test_ranks_partition_the_epoch(permutation):
    world = 3
    shards = [
        make(shuffle=True, permutation=permutation, num_replicas=world, rank=r, drop_last=True)
        .epoch_indices(1)
        .tolist()
        for r in range(world)
    ]
    everything = [v for shard in shards for v in shard]
    assert len(everything) == len(set(everything)) == 27  # 28 frames, one dropped


@pytest.mark.parametrize(("before", "after"), [(2, 3), (3, 2), (1, 4), (4, 1)])
@pytest.mark.parametrize("drop_last", [False, True])
def test_elastic_resume_neither_skips_nor_repeats(permutation, before, after, drop_last):
    kwargs = dict(shuffle=True, seed=8, permutation=permutation)
    num_frames = make(**kwargs).num_frames
    # Every cut inside the epoch (a cut after its last step resumes into the next epoch).
    for steps in range(-(-num_frames // before)):
        seen = Counter()
        state = None
        for rank in range(before):
            sampler = make(num_replicas=before, rank=rank, **kwargs)
            seen.update(itertools.islice(iter(sampler), steps))
            state = sampler.state_dict()
        for rank in range(after):
            sampler = make(num_replicas=after, rank=rank, drop_last=drop_last, **kwargs)
            sampler.load_state_dict(state)
            seen.update(iter(sampler))
        remaining = num_frames - before * steps
        dropped = remaining % after if drop_last else 0
        padding = 0 if drop_last else -remaining % after
        assert set(seen) <= set(make(**kwargs).epoch_indices().tolist())
        assert len(seen) == num_frames - dropped, steps
        assert sum(count - 1 for count in seen.values()) == padding, steps
