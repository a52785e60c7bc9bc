"""How many video decoders a batched-fetch worker keeps open (`decoder_capacity` of a
`DecoderDemand`): the user's choice when there is one, else every file the dataset reads if they
all fit a memory estimate and the open-files limit, else LeRobot's default."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from episampler.lerobot.decoders import (
    DECODER_BYTES,
    MOST_DECODERS,
    DecoderDemand,
    Decoders,
    budgeted_decoders,
    decoder_capacity,
    decoders_that_fit,
    estimated_decoder_bytes,
    largest_frame_bytes,
    lerobot_decoder_bound,
)

MIB = 2**20


@pytest.mark.parametrize("size", [1, 2, 100, 5000, None])
def test_a_size_the_user_chose_is_kept(size):
    assert (
        decoder_capacity(
            DecoderDemand(size, True, files=748, decoder_bytes=MIB, open_files_limit=1024)
        )
        == size
    )


def test_an_unbounded_lerobot_cache_stays_unbounded():
    assert (
        decoder_capacity(
            DecoderDemand(None, False, files=10, decoder_bytes=MIB, open_files_limit=1024)
        )
        is None
    )


def test_every_file_when_it_fits():
    per = estimated_decoder_bytes(224 * 224 * 3)
    assert (
        decoder_capacity(
            DecoderDemand(100, False, files=748, decoder_bytes=per, open_files_limit=20000)
        )
        == 748
    )


def test_never_below_lerobot_default():
    assert (
        decoder_capacity(
            DecoderDemand(100, False, files=12, decoder_bytes=MIB, open_files_limit=20000)
        )
        == 100
    )
    huge = estimated_decoder_bytes(2160 * 3840 * 3)  # 4K frames: few fit the memory estimate
    got = decoder_capacity(
        DecoderDemand(100, False, files=5000, decoder_bytes=huge, open_files_limit=20000)
    )
    assert got == 100


def test_all_files_or_lerobot_default():
    per = estimated_decoder_bytes(480 * 640 * 3)
    assert 381 * per > DECODER_BYTES  # 381 files of 480x640 do not all fit: LeRobot's count
    assert (
        decoder_capacity(
            DecoderDemand(100, False, files=381, decoder_bytes=per, open_files_limit=20000)
        )
        == 100
    )
    assert (
        decoder_capacity(
            DecoderDemand(100, False, files=200, decoder_bytes=per, open_files_limit=20000)
        )
        == 200
    )
    small = estimated_decoder_bytes(96 * 96 * 3)
    got = decoder_capacity(
        DecoderDemand(100, False, files=882, decoder_bytes=small, open_files_limit=1024)
    )
    assert got == 100  # more than half the open-files limit
    got = decoder_capacity(
        DecoderDemand(100, False, files=882, decoder_bytes=small, open_files_limit=4096)
    )
    assert got == 882
    tiny = estimated_decoder_bytes(8 * 8 * 3)
    got = decoder_capacity(
        DecoderDemand(
            100, False, files=MOST_DECODERS + 1, decoder_bytes=tiny, open_files_limit=2**20
        )
    )
    assert got == 100


@given(
    files=st.integers(0, 10**6),
    frame_bytes=st.integers(0, 2**26),
    limit=st.integers(0, 2**20),
    default=st.integers(1, 1000),
)
def test_within_its_bounds(files, frame_bytes, limit, default):
    per = estimated_decoder_bytes(frame_bytes)
    got = decoder_capacity(DecoderDemand(default, False, files, per, limit, default))
    assert got in (default, files)
    if got != default:  # every file, and only within every bound
        assert got == files
        assert files <= min(MOST_DECODERS, limit // 2)
        assert files * per <= DECODER_BYTES


def test_one_budget_per_process_returned_when_the_decoders_go():
    """A mixture holds a batched fetch per dataset: their decoders beyond LeRobot's count share
    one `DECODER_BYTES`; a fetch's share returns when its decoders are collected."""
    import gc

    per = estimated_decoder_bytes(224 * 224 * 3)
    files = int(DECODER_BYTES * 0.6) // per  # one dataset's files fit, two do not
    first = budgeted_decoders(DecoderDemand(100, False, files, per, 20000))
    second = budgeted_decoders(DecoderDemand(100, False, files, per, 20000))
    assert first.capacity == files and second.capacity == 100
    chosen = budgeted_decoders(
        DecoderDemand(7, True, files, per, 20000)
    )  # the user's size takes no budget
    assert chosen.capacity == 7
    del first
    gc.collect()
    third = budgeted_decoders(DecoderDemand(100, False, files, per, 20000))
    assert third.capacity == files


def test_decoders_carried_to_the_next_group_keep_only_its_files_and_its_capacity():
    # What a stream reader does between file groups: drop the decoders of files the next
    # group does not read, then hand the rest to the next group's cache.
    old = Decoders(None)
    old._open.update((f"f{k}", object()) for k in range(5))
    kept = {"f1", "f3", "f4"}
    old.keep_only(kept | {"f9"})
    assert set(old._open) == kept
    fresh = Decoders(2)
    fresh.take_from(old)
    assert set(fresh._open) == {"f3", "f4"}  # the least recently used goes first
    roomy = Decoders(None)
    mine = roomy._open["f3"] = object()
    roomy.take_from(old)
    assert set(roomy._open) == kept and roomy._open["f3"] is mine  # its own one stays


def test_decoders_that_fit_take_the_tightest_of_memory_files_and_the_cap():
    per = estimated_decoder_bytes(224 * 224 * 3)
    assert decoders_that_fit(per, 20000, DECODER_BYTES) == DECODER_BYTES // per  # memory
    assert decoders_that_fit(per, 300, DECODER_BYTES) == 150  # half the open-files limit
    assert decoders_that_fit(1, 2**30, 2**40) == MOST_DECODERS
    # The capacity's rule is the same: every file exactly when they fit.
    most = decoders_that_fit(per, 20000, DECODER_BYTES)
    for files, expected in [(most, most), (most + 1, 100)]:
        demand = DecoderDemand(100, False, files=files, decoder_bytes=per, open_files_limit=20000)
        assert decoder_capacity(demand) == expected


@pytest.mark.parametrize(("value", "bound"), [("4", 4), ("250", 250), ("none", None)])
def test_a_decoder_count_the_user_set_bounds_a_streams_window(monkeypatch, value, bound):
    monkeypatch.setenv("LEROBOT_VIDEO_DECODER_CACHE_SIZE", value)
    assert lerobot_decoder_bound(estimated_decoder_bytes(224 * 224 * 3)) == bound


def test_the_largest_frame_is_the_largest_cameras():
    from types import SimpleNamespace

    meta = SimpleNamespace(
        video_keys=["wrist", "top"],
        features={"wrist": {"shape": (96, 96, 3)}, "top": {"shape": [3, 224, 224]}, "s": {}},
    )
    assert largest_frame_bytes(meta) == 224 * 224 * 3
    assert largest_frame_bytes(SimpleNamespace(video_keys=[], features={})) == 0
