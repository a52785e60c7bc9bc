"""`window="auto"`: the largest read-local window whose video files fit one DataLoader worker's
decoder cache, and the settings (window, grouping, worker streams) every entry point takes from it:
`from_lerobot`, `lerobot-train` (one dataset or each of several) and `inspect`."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, TypedDict

import numpy as np

from episampler._inputs import as_index_array, as_int
from episampler.lerobot.layout import lerobot_arguments, lerobot_groups, v3_table

logger = logging.getLogger(__name__)

CACHE_SIZE_VARIABLE = "LEROBOT_VIDEO_DECODER_CACHE_SIZE"
LEROBOT_DEFAULT_CACHE_SIZE = 100  # lerobot.datasets.video_utils.DEFAULT_DECODER_CACHE_SIZE (0.6.1)


@dataclass(frozen=True)
class AutoWindow:
    """The window `window="auto"` chose for a dataset, and why.

    Attributes:
        window: frames per window for `from_lerobot(..., window=)`, or None: the global order.
        group_by: `"video_file"` with a window, else None.
        cache_size: decoders one worker's cache holds (None: unbounded).
        cameras: the dataset's video keys (decoders an item needs).
        units: file groups (episodes sharing their video files) among the kept episodes.
        units_per_window: the most units a window of `window` frames can hold (0: no window).
        reason: the choice and its reasons, in one sentence.
    """

    window: int | None
    group_by: str | None
    cache_size: int | None
    cameras: int
    units: int
    units_per_window: int
    reason: str

    def __str__(self) -> str:
        return self.reason


def decoder_cache_size(cache_size: Any = None) -> int | None:
    """Decoders one DataLoader worker's LeRobot cache holds: `cache_size` when given (an int
    >= 1, or "unbounded"), else `LEROBOT_VIDEO_DECODER_CACHE_SIZE` read as LeRobot 0.6.1 reads
    it (an int >= 1; "", "none", "unbounded" or "-1": unbounded), else LeRobot's default, 100.
    Returns None for an unbounded cache."""
    if cache_size is None:
        raw = os.environ.get(CACHE_SIZE_VARIABLE)
        if raw is None:
            return LEROBOT_DEFAULT_CACHE_SIZE
        text = raw.strip().lower()
        if text in ("", "none", "unbounded", "-1"):
            return None
        try:
            value = int(text)
        except ValueError:
            raise ValueError(
                f"{CACHE_SIZE_VARIABLE} must be an integer, 'none' or '-1', got {raw!r}"
            ) from None
        if value < 1:
            raise ValueError(f"{CACHE_SIZE_VARIABLE} must be positive, got {value}")
        return value
    if isinstance(cache_size, str) and cache_size == "unbounded":
        return None
    return as_int("cache_size", cache_size, low=1, high=2**63)


def choose_window(unit_frames: Any, cameras: int, cache_size: int | None) -> AutoWindow:
    """The automatic window from numbers alone (see `auto_window` for the rule).

    Args:
        unit_frames: frames of each unit (the kept frames of the episodes sharing one tuple of
            video files), 1-D, values >= 1.
        cameras: video keys of the dataset (decoders an item needs), >= 0.
        cache_size: decoders one worker's cache holds, >= 1, or None (unbounded).

    Returns:
        The choice, with its reason.
    """
    frames = as_index_array("unit_frames", unit_frames)
    cameras = as_int("cameras", cameras, high=2**31)
    if cache_size is not None:
        cache_size = as_int("cache_size", cache_size, low=1, high=2**63)
    units = len(frames)
    cache = "unbounded" if cache_size is None else f"{cache_size}"
    setting = f"decoder cache {cache} per worker ({CACHE_SIZE_VARIABLE})"

    def global_order(why: str) -> AutoWindow:
        return AutoWindow(None, None, cache_size, cameras, units, 0, f"window='auto': {why}")

    if cameras == 0:
        return global_order("no video feature, so no decoder to keep open: the global order")
    if units == 0 or (frames < 1).any():
        raise ValueError("unit_frames must hold one count >= 1 per unit, got none or a zero")
    if cache_size is None:
        return global_order(f"{setting}: every file stays open, so the global order")
    fit = cache_size // cameras  # file tuples the cache holds
    if fit >= units:
        return global_order(
            f"{setting} holds all {units} files of each of the {cameras} camera(s) "
            f"({units * cameras} decoders): the global order opens each file once per worker"
        )
    # One tuple is kept free for the batch that straddles two windows (it reads the end of
    # one and the start of the next); with room for fewer than two, windows of one unit.
    per_window = max(1, fit - 1)
    # A window closes once it holds >= `window` frames, so it holds at most `per_window` units
    # exactly when any `per_window` units together hold >= `window` frames: the smallest ones.
    window = int(np.sort(frames)[:per_window].sum())
    spare = (
        ", one group's room left for the batch that straddles two windows"
        if fit > per_window
        else ", no room to spare for the batch that straddles two windows"
    )
    if fit == 0:
        why = (
            f"{setting} is smaller than the {cameras} decoders one item needs: windows of one "
            "file group (every item may still reopen decoders; raise the cache)"
        )
    else:
        why = (
            f"{setting} holds {fit} file(s) of each of the {cameras} camera(s); a window holds "
            f"at most {per_window} of the {units} file groups ({per_window * cameras} "
            f"decoders{spare})"
        )
    return AutoWindow(
        window,
        "video_file",
        cache_size,
        cameras,
        units,
        per_window,
        f"window='auto': {window} frames grouped by video file: {why}",
    )


def auto_window(
    dataset: Any,
    cache_size: Any = None,
    *,
    drop_n_first_frames: int = 0,
    drop_n_last_frames: int = 0,
) -> AutoWindow:
    """The largest window whose video files fit one DataLoader worker's decoder cache.

    LeRobot keeps one LRU of decoders per worker process, keyed by file, shared by the cameras:
    an item of a dataset with `C` cameras needs `C` decoders. The windowed order grouped by
    video file (`group_by="video_file"`) cuts the shuffled file groups (the kept episodes that
    share their video files: a unit) into windows, a window closing as soon as it holds at
    least `window` frames. A window of `m` units keeps `C * m` decoders open. The rule: the
    cache holds `F = cache_size // C` units; a window may hold `m = F - 1` units (one unit's
    room left for the batch that straddles two windows; at least 1); `window` is the sum of
    the `m` smallest units' frames, the largest frame count for which no window can ever hold
    more than `m` units (any `m` units hold at least that many frames, so a window closes by its
    `m`-th unit). Without video, with an unbounded cache, or when the cache holds every file
    (`F` above the number of units), the global order (`window=None`) is chosen.

    Args:
        dataset: a LeRobot v3 dataset (duck-typed: `meta.video_keys`, `meta.episodes` with its
            boundary and video chunk/file columns, `episodes` for a selection).
        cache_size: decoders per worker: an int >= 1, "unbounded", or None to read
            `LEROBOT_VIDEO_DECODER_CACHE_SIZE` as LeRobot does (default 100).
        drop_n_first_frames: frames the sampler drops at each episode's start (units are
            counted in kept frames).
        drop_n_last_frames: frames the sampler drops at each episode's end.

    Returns:
        An `AutoWindow`: `window` and `group_by` for `from_lerobot`, the inputs and the reason.

    Raises:
        TypeError: `dataset` is not a LeRobot v3 dataset.
        ValueError: a bad `cache_size` or environment variable, or no frame left.
    """
    cache = decoder_cache_size(cache_size)
    first = as_int("drop_n_first_frames", drop_n_first_frames, high=2**63)
    last = as_int("drop_n_last_frames", drop_n_last_frames, high=2**63)
    if v3_table(dataset) is None:
        raise TypeError(
            "window='auto' needs a LeRobot v3 dataset (meta.episodes with 'dataset_from_index'); "
            f"got {type(dataset).__name__} without it (v2.x datasets: pass window=N)"
        )
    arguments, _ = lerobot_arguments(dataset)
    cameras = len(list(getattr(dataset.meta, "video_keys", None) or []))
    if cameras == 0:
        return choose_window([], 0, cache)
    starts = arguments["dataset_from_indices"]
    lengths = np.maximum(arguments["dataset_to_indices"] - starts - first - last, 0)
    kept = arguments.get("episode_indices_to_use")
    mask = np.zeros(len(starts), dtype=bool)
    mask[np.arange(len(starts)) if kept is None else kept] = True
    mask &= lengths > 0
    if not mask.any():
        raise ValueError("window='auto': no frame left in the kept episodes after the drops")
    groups = lerobot_groups(dataset, "video_file")
    unit_frames = np.bincount(groups[mask], weights=lengths[mask])
    unit_frames = unit_frames[unit_frames > 0].astype(np.int64)
    return choose_window(unit_frames, cameras, cache)


class AutoSettings(TypedDict):
    """What `window="auto"` sets on a sampler: the window, its grouping, and worker streams."""

    window: int | None
    group_by: str | None
    streams: int | None
    stream_block: int | None


def auto_settings(
    dataset: Any,
    *,
    drop_n_first_frames: int = 0,
    drop_n_last_frames: int = 0,
    num_workers: int = 0,
    batch_size: int | None = None,
    num_processes: int = 1,
) -> AutoSettings:
    """`window="auto"` for every entry point (`from_lerobot`, `lerobot-train`): `auto_window`'s
    window and grouping, logged with its reason, and, when the sampler is read by DataLoader
    workers (`num_workers > 0` with the `batch_size` and `num_processes` they serve), one stream
    of windows per worker (`stream_settings`); without workers, or without a window, no streams
    (`None`: the sampler's default)."""
    choice = auto_window(
        dataset, drop_n_first_frames=drop_n_first_frames, drop_n_last_frames=drop_n_last_frames
    )
    logger.info("%s", choice.reason)
    settings = AutoSettings(
        window=choice.window, group_by=choice.group_by, streams=None, stream_block=None
    )
    if choice.window is not None and num_workers > 0:
        from episampler._sampler import stream_settings

        if batch_size is None:
            raise ValueError("window='auto' with DataLoader workers needs their batch_size")
        streams = stream_settings(num_workers, batch_size, num_processes)
        settings["streams"] = streams["streams"]
        settings["stream_block"] = streams["stream_block"]
    return settings


def resolve_auto_window(
    dataset: Any, group_by: str | None, kwargs: dict[str, Any]
) -> tuple[int | None, str | None]:
    """`(window, group_by)` for `from_lerobot(dataset, window=<str>, group_by, **kwargs)`:
    `window="auto"` becomes `auto_settings`' choice (the sampler does not know its loader's
    workers: pass `streams` and `stream_block` from `stream_settings` for them)."""
    window = kwargs.get("window")
    if window != "auto":
        raise ValueError(f"window must be an int >= 1, None or 'auto', got {window!r}")
    if group_by not in (None, "video_file"):
        raise ValueError(
            f"window='auto' groups by video file; got group_by={group_by!r} (pass group_by=None "
            "or 'video_file', or choose the window yourself)"
        )
    settings = auto_settings(
        dataset,
        drop_n_first_frames=kwargs.get("drop_n_first_frames", 0),
        drop_n_last_frames=kwargs.get("drop_n_last_frames", 0),
    )
    return settings["window"], settings["group_by"]
