"""Readers of a stream (`stream_readers`): each window's frames, in unit order, dealt to the
readers in runs of `READER_RUN` frames and shuffled over each reader's blocks of
`stream_block` positions. One reader is the order without readers; the windows keep their
frames; a reader's blocks hold its runs but for the few frames where the counts differ."""

from __future__ import annotations

import hashlib
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from episampler import ALGORITHM_VERSION
from episampler._core import READER_RUN

from .support import make

# The streams tests' layout: 12 episodes of 4..15 frames with gaps, groups of 2 episodes.
from .test_streams import FROM, GROUPS, LENGTHS, TO, episode_of

# Frozen orders (added with stream_readers; algorithm version 2, no other order changed):
# (seed, epoch, window, streams, stream_block, stream_readers, grouped) -> the first 40 values.
GOLDEN_SETUPS = [
    (0, 0, 40, 1, 4, 2, False),
    (7, 3, 30, 1, 5, 3, True),
    (2**64 - 1, 1, 16, 2, 3, 2, True),
]
GOLDEN_HEADS = {
    "(0, 0, 40, 1, 4, 2, False)":
        [103, 74, 104, 80, 67, 54, 84, 68, 78, 66, 77, 46, 52, 69, 70, 97, 102, 50, 76, 64, 99,
        83, 71, 98, 47, 45, 49, 43, 42, 82, 96, 95, 81, 48, 65, 100, 41, 53, 40, 51],
    "(7, 3, 30, 1, 5, 3, True)":
        [43, 47, 41, 46, 42, 49, 32, 53, 48, 50, 60, 59, 16, 61, 17, 25, 45, 21, 40, 24, 29, 30,
        52, 54, 31, 18, 58, 36, 35, 15, 19, 22, 44, 20, 23, 57, 51, 34, 33, 26],
    "(18446744073709551615, 1, 16, 2, 3, 2, True)":
        [82, 70, 64, 111, 108, 107, 76, 75, 77, 124, 123, 122, 65, 68, 71, 110, 112, 109, 78, 79,
        74, 118, 119, 116, 66, 83, 69, 125, 113, 114, 84, 80, 81, 115, 117, 48, 67, 34, 17, 58],
}  # fmt: skip
LARGE_DIGEST = "d8a265d6758e6e40bdb813f7773f8f424b8790eb1857de3366a7cf0d49f6f2b1"


def split(window=40, streams=1, stream_block=4, stream_readers=2, groups=None, **kw):
    return make(FROM, TO, shuffle=True, window=window, streams=streams,
                stream_block=stream_block, stream_readers=stream_readers,
                episode_groups=groups, **kw)  # fmt: skip


def large_sampler():
    ends = np.cumsum(np.arange(1000) % 37 + 3)
    return make(np.concatenate([[0], ends[:-1]]), ends, shuffle=True, seed=42, window=2048,
                episode_groups=np.arange(1000) // 25, streams=2, stream_block=64,
                stream_readers=2)  # fmt: skip


@pytest.mark.parametrize("setup", GOLDEN_SETUPS, ids=str)
def test_golden_vectors(setup):
    seed, epoch, window, streams, block, readers, grouped = setup
    assert ALGORITHM_VERSION == 2
    assert READER_RUN == 8
    sampler = split(window, streams, block, readers, GROUPS if grouped else None, seed=seed)
    assert sampler.epoch_indices(epoch)[:40].tolist() == GOLDEN_HEADS[str(setup)]


def test_golden_digest_of_a_larger_grouped_epoch():
    order = large_sampler().epoch_indices(2)
    assert hashlib.sha256(order.astype("<i8").tobytes()).hexdigest() == LARGE_DIGEST


def reference_reader_sets(seed, epoch, window, block, readers, grouped):
    """Every reader's frames in every window of a one-stream order, from the spec: the unit
    permutation read off the order with window 1 (each unit its own window), windows closed
    once they hold `window` frames, each window's frames in unit order cut into runs dealt to
    the readers in turn, laid out reader by reader and taken in that order by each reader's
    positions (block `b` of the stream is reader `b mod readers`'s)."""
    unit = (lambda e: GROUPS[e]) if grouped else (lambda e: e)
    groups = GROUPS if grouped else None
    plain = make(FROM, TO, shuffle=True, window=1, episode_groups=groups, seed=seed)
    permuted = [
        u for u, _ in itertools.groupby(unit(episode_of(f)) for f in plain.epoch_indices(epoch))
    ]
    windows: list[list[int]] = [[]]
    for u in permuted:
        frames = [f for e in range(len(LENGTHS)) if unit(e) == u for f in range(FROM[e], TO[e])]
        if len(windows[-1]) >= window:
            windows.append([])
        windows[-1].extend(frames)
    sets, start = [], 0
    for frames in windows:
        laid = [f for c in range(readers) for i, f in enumerate(frames)
                if (i // READER_RUN) % readers == c]  # fmt: skip
        owner = [((start + i) // block) % readers for i in range(len(frames))]
        taken, per_reader = 0, []
        for c in range(readers):
            count = owner.count(c)
            per_reader.append(sorted(laid[taken : taken + count]))
            taken += count
        sets.append((start, owner, per_reader))
        start += len(frames)
    return sets


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**64 - 1),
    epoch=st.integers(0, 50),
    window=st.integers(1, 60),
    block=st.integers(1, 12),
    readers=st.integers(2, 4),
    grouped=st.booleans(),
)
def test_every_reader_takes_the_frames_the_spec_deals_it(
    seed, epoch, window, block, readers, grouped
):
    sampler = split(window, 1, block, readers, GROUPS if grouped else None, seed=seed)
    order = sampler.epoch_indices(epoch).tolist()
    assert sorted(order) == sorted(f for e in range(len(LENGTHS)) for f in range(FROM[e], TO[e]))
    for start, owner, per_reader in reference_reader_sets(
        seed, epoch, window, block, readers, grouped
    ):
        here = order[start : start + len(owner)]
        for c in range(readers):
            assert sorted(f for f, o in zip(here, owner, strict=True) if o == c) == per_reader[c]


def test_one_reader_is_the_order_without_readers():
    with_one = split(stream_readers=1, seed=5)
    without = make(FROM, TO, shuffle=True, window=40, seed=5)
    assert with_one._core.fingerprint == without._core.fingerprint
    assert with_one.stream_block is None  # dropped: it shapes nothing
    assert with_one.epoch_indices(3).tolist() == without.epoch_indices(3).tolist()
    assert "stream_readers" not in with_one._settings()


def test_a_reader_s_batches_hold_runs_of_one_long_episode():
    # One episode of 4,000 frames in one window, read by 2 readers in blocks of 64: the frames
    # of reader 0's blocks are nearly all from even runs, so it decodes whole runs.
    sampler = make([0], [4000], shuffle=True, window=4000, stream_block=64, stream_readers=2)
    order = sampler.epoch_indices(0)
    reader = (np.arange(4000) // 64) % 2
    own = ((order // READER_RUN) % 2) == reader
    assert own.mean() > 0.98
    # Without readers about half the frames of a reader's blocks would be the other's runs.
    plain = make([0], [4000], shuffle=True, window=4000).epoch_indices(0)
    assert 0.4 < (((plain // READER_RUN) % 2) == reader).mean() < 0.6


def test_a_state_of_another_reader_count_is_refused_naming_it():
    state = split(stream_readers=2).state_dict()
    with pytest.raises(ValueError, match="stream_readers is 2 in the state but 3 here"):
        split(stream_readers=3).load_state_dict(state)
    split(stream_readers=2).load_state_dict(state)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"stream_readers": 0}, ValueError, "stream_readers must be >= 1, got 0"),
        ({"stream_readers": 2.0}, TypeError, "stream_readers must be an int"),
        ({"stream_readers": True}, TypeError, "stream_readers must be an int"),
        ({"stream_block": None}, ValueError, "stream_readers=2 needs stream_block"),
        ({"window": None}, ValueError, "stream_readers=2 needs window=N"),
        ({"permutation": "feistel"}, ValueError, "needs permutation='uniform', got 'feistel'"),
    ],
)
def test_bad_reader_settings_name_the_argument(kwargs, error, message):
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        split(**kwargs)


def test_repr_and_properties_name_the_readers():
    sampler = split(stream_readers=3, stream_block=5)
    assert sampler.stream_readers == 3
    assert sampler.stream_block == 5
    assert "stream_block=5, stream_readers=3" in repr(sampler)
