"""How a stream resolves `window="auto"` (`EpisodeStream._resolve_window`): for each grouping,
the smaller of the window its decoders hold and the one whose files fit 0.4 of `cache_bytes`;
the grouping with the largest wins, all cameras' files on a tie."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from episampler.lerobot.auto_window import windows_per_grouping
from episampler.lerobot.stream import EpisodeStream

CAMERAS = ["observation.images.top", "observation.images.wrist"]
GROUPINGS = ["video_file", *(f"video_file:{key}" for key in CAMERAS)]
LAST: dict[str, Any] = {}  # the last dataset `resolved` built, and the share of disk it asked


def resolved(decoders: int | str, disk: dict[str, int], *, cameras=CAMERAS) -> tuple:
    """`_resolve_window` of a stream over 120 episodes of 10 frames (files of 10 episodes for
    the top camera, of 7 for the wrist one, cut apart) whose disk holds `disk[grouping]`
    frames per window."""
    lengths = np.full(120, 10)
    ends = np.cumsum(lengths)
    columns = {"dataset_from_index": ends - lengths, "dataset_to_index": ends}
    for key, files in zip(CAMERAS, [np.arange(120) // 10, (np.arange(120) + 3) // 7], strict=True):
        columns[f"videos/{key}/chunk_index"] = np.zeros(120, dtype=np.int64)
        columns[f"videos/{key}/file_index"] = files

    def disk_fit(group_by: str, ways: float) -> tuple[int, float]:
        LAST["ways"] = ways  # the share of the disk asked for
        return disk[group_by], 0.0

    stream = SimpleNamespace(
        shuffle=True,
        window="auto",
        episodes=None,
        cache_bytes=10**6,
        meta=SimpleNamespace(episodes=columns, video_keys=list(cameras)),
        _decoder_bound=lambda: decoders,
        _disk_fit=disk_fit,
    )
    LAST.pop("ways", None)
    LAST["dataset"] = SimpleNamespace(meta=stream.meta, episodes=None)
    return EpisodeStream._resolve_window(stream)  # type: ignore[arg-type]


def test_with_decoders_for_every_file_the_disk_alone_bounds_the_window():
    disk = {"video_file": 200, GROUPINGS[1]: 350, GROUPINGS[2]: 300}
    assert resolved("unbounded", disk) == (350, GROUPINGS[1])
    assert resolved(1000, disk) == (350, GROUPINGS[1])  # 1000 decoders hold all 29 files


def test_each_groupings_window_is_the_smaller_of_its_decoders_and_its_disk():
    plenty = dict.fromkeys(GROUPINGS, 10_000)
    resolved(6, plenty)  # the decoders alone: 3 files of each camera
    decoders = windows_per_grouping(LAST["dataset"], 6)
    best = max(decoders, key=lambda g: decoders[g])
    assert resolved(6, plenty) == (decoders[best], best)
    # The disk holds less than the decoders for that grouping: the next best may win.
    tight = plenty | {best: 1}
    second = max((g for g in GROUPINGS if g != best), key=lambda g: decoders[g])
    assert resolved(6, tight) == (decoders[second], second)
    assert decoders[second] > 1


def test_a_tie_keeps_all_cameras_files():
    disk = dict.fromkeys(GROUPINGS, 120)
    assert resolved("unbounded", disk) == (120, "video_file")


def test_without_video_the_window_is_what_the_disk_holds_of_data_files():
    assert resolved(4, {"data_file": 90}, cameras=[]) == (90, "data_file")


@pytest.mark.parametrize("window", [None, 7])
def test_a_window_given_or_none_is_kept(window):
    stream = SimpleNamespace(shuffle=True, window=window, meta=SimpleNamespace(video_keys=CAMERAS))
    expected = (None, None) if window is None else (7, "video_file")
    assert EpisodeStream._resolve_window(stream) == expected  # type: ignore[arg-type]


def test_a_windows_files_take_four_fifths_of_a_file_groups_half_of_cache_bytes():
    """`_disk_fit(group_by, ways)` fits half of `cache_bytes / ways`: the window's files are
    asked to fit 0.4 of `cache_bytes`, which leaves a file group (half of it) room for the
    files of the blocks that straddle two windows."""
    resolved("unbounded", dict.fromkeys(GROUPINGS, 100))
    assert LAST["ways"] == pytest.approx(1.25)
