"""Hypothesis properties: the index map against the frame-by-frame reference, and resume."""

from __future__ import annotations

import itertools
import warnings

from hypothesis import given, settings
from hypothesis import strategies as st

from episampler import EpisodeAwareSampler

from .support import lerobot_frames


@st.composite
def episodes(draw):
    lengths = draw(st.lists(st.integers(0, 9), min_size=1, max_size=12))
    gaps = draw(st.lists(st.integers(0, 3), min_size=len(lengths), max_size=len(lengths)))
    starts, cursor = [], 0
    for gap, length in zip(gaps, lengths, strict=True):
        cursor += gap
        starts.append(cursor)
        cursor += length
    order = draw(st.permutations(range(len(lengths))))
    return [starts[e] for e in order], [starts[e] + lengths[e] for e in order]


def build(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return EpisodeAwareSampler(*args, **kwargs)


@settings(max_examples=200, deadline=None)
@given(
    boundaries=episodes(),
    first=st.integers(0, 3),
    last=st.integers(0, 3),
    subset=st.none() | st.lists(st.integers(0, 11), max_size=6),
)
def test_index_map_matches_reference(boundaries, first, last, subset):
    from_indices, to_indices = boundaries
    if subset is not None:
        subset = [e % len(from_indices) for e in subset]
    expected = lerobot_frames(from_indices, to_indices, subset, first, last)
    if not expected:
        return
    sampler = build(from_indices, to_indices, subset, first, last)
    assert list(sampler) == expected
    for permutation in ("uniform", "feistel"):
        shuffled = build(
            from_indices, to_indices, subset, first, last, shuffle=True, permutation=permutation
        )
        assert sorted(shuffled) == sorted(expected)


@settings(max_examples=150, deadline=None)
@given(
    boundaries=episodes(),
    world=st.integers(1, 4),
    epoch=st.integers(0, 3),
    cut=st.integers(0, 60),
    seed=st.integers(0, 2**64 - 1),
    permutation=st.sampled_from(["uniform", "feistel"]),
    drop_last=st.booleans(),
)
def test_resume_continues_the_uninterrupted_order(
    boundaries, world, epoch, cut, seed, permutation, drop_last
):
    from_indices, to_indices = boundaries
    if sum(t - f for f, t in zip(from_indices, to_indices, strict=True)) == 0:
        return
    kwargs = dict(
        shuffle=True, seed=seed, permutation=permutation, num_replicas=world, drop_last=drop_last
    )
    for rank in range(world):
        sampler = build(from_indices, to_indices, rank=rank, **kwargs)
        sampler.set_epoch(epoch)
        full = sampler.epoch_indices().tolist()
        k = min(cut, len(full))
        assert list(itertools.islice(iter(sampler), k)) == full[:k]
        resumed = build(from_indices, to_indices, rank=rank, **kwargs)
        resumed.load_state_dict(sampler.state_dict())
        rest = list(resumed) if k < len(full) else []
        assert full[:k] + rest == full
