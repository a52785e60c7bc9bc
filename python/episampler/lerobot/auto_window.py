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
from episampler.lerobot.layout import camera_files, lerobot_arguments, v3_table

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
    """The automatic window when every camera's files hold the same episodes (see
    `choose_window_by_files` for the rule).

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
    units = np.arange(len(frames), dtype=np.int64)
    return choose_window_by_files(
        frames,
        np.repeat(units[:, None], cameras, axis=1),
        cache_size,
        argument="unit_frames",
    )


def choose_window_by_files(
    episode_frames: Any,
    episode_files: Any,
    cache_size: int | None,
    camera_names: list[str] | None = None,
    *,
    argument: str = "episode_frames",
) -> AutoWindow:
    """The automatic window from each kept episode's frames and video files (see `auto_window`).

    The budget is per camera: a worker's cache of `cache_size` decoders, shared by `C` cameras,
    holds `S = cache_size // C` files of each. The candidate groupings (episodes sharing the
    files of every camera, and episodes sharing one camera's file, for each camera) each give
    units; a unit `u` needs `f_c(u)` files of camera `c`. A window of `m` units never needs
    more than the `m` largest `f_c` of camera `c`, plus one unit's files for the batch that
    straddles two windows: `m` is the largest with that within `S` for every camera (at least
    1). `window` is the frames of the `m` smallest units: a window, which closes as soon as it
    holds `window` frames, never holds more than `m` units. The grouping with the largest
    window is chosen (all cameras' files on a tie). The global order is chosen without video,
    with an unbounded cache, and when every camera has at most `S` files.

    Args:
        episode_frames: kept frames of each episode, 1-D, values >= 1.
        episode_files: one row per episode, one column per camera: the file holding it.
        cache_size: decoders one worker's cache holds, >= 1, or None (unbounded).
        camera_names: the cameras' video keys (default: "camera 0", ...).

    Returns:
        The choice, with its reason.
    """
    frames = as_index_array(argument, episode_frames)
    files = np.asarray(episode_files, dtype=np.int64)
    if files.ndim != 2 or files.shape[0] != len(frames):
        raise ValueError(
            f"episode_files must hold one row per episode ({len(frames)}), got shape {files.shape}"
        )
    cameras = files.shape[1]
    if cache_size is not None:
        cache_size = as_int("cache_size", cache_size, low=1, high=2**63)
    names = camera_names or [f"camera {c}" for c in range(cameras)]
    cache = "unbounded" if cache_size is None else f"{cache_size}"
    setting = f"decoder cache {cache} per worker ({CACHE_SIZE_VARIABLE})"

    def global_order(units: int, why: str) -> AutoWindow:
        return AutoWindow(None, None, cache_size, cameras, units, 0, f"window='auto': {why}")

    if cameras == 0:
        return global_order(0, "no video feature, so no decoder to keep open: the global order")
    if len(frames) == 0 or (frames < 1).any():
        raise ValueError(f"{argument} must hold one count >= 1 per unit, got none or a zero")
    tuples = _ids(files)
    if cache_size is None:
        why = f"{setting}: every file stays open, so the global order"
        return global_order(_count(tuples), why)
    share = cache_size // cameras  # files of each camera the cache holds
    per_camera = [_count(_ids(files[:, [c]])) for c in range(cameras)]
    if max(per_camera) <= share:
        held = (
            f"all {per_camera[0]} files of each of the {cameras} camera(s)"
            if min(per_camera) == max(per_camera)
            else f"every file of the {cameras} camera(s) ({', '.join(map(str, per_camera))})"
        )
        return global_order(
            _count(tuples),
            f"{setting} holds {held} ({sum(per_camera)} decoders): the global order opens "
            "each file once per worker",
        )
    options = [
        _windows_of(group_by, ids, frames, files, share)
        for group_by, ids in _candidates(files, names)
    ]
    best = max(options, key=lambda option: option.window)  # the first on a tie
    if share == 0:
        why = (
            f"{setting} is smaller than the {cameras} decoders one item needs: windows of one "
            "file group (every item may still reopen decoders; raise the cache)"
        )
    else:
        spare = (
            ", one group's room left for the batch that straddles two windows"
            if best.fits
            else ", no room to spare for the batch that straddles two windows"
        )
        why = (
            f"{setting} holds {share} file(s) of each of the {cameras} camera(s); a window holds "
            f"at most {best.units_per_window} of the {best.units} file groups "
            f"({best.decoders} decoders{spare})"
        )
    if best.group_by == "video_file":
        grouped = "grouped by video file"
    else:
        camera = best.group_by[len("video_file:") :]
        grouped = f"grouped by {camera}'s video files"
        why += (
            f"; the cameras' files roll over at different episodes, and grouping by the files "
            f"of all cameras would give {options[0].window} frames"
        )
    return AutoWindow(
        best.window,
        best.group_by,
        cache_size,
        cameras,
        best.units,
        best.units_per_window,
        f"window='auto': {best.window} frames {grouped}: {why}",
    )


@dataclass(frozen=True)
class _Option:
    """One grouping's window (see `choose_window_by_files`)."""

    group_by: str
    window: int
    units: int
    units_per_window: int
    decoders: int  # the most a window's units need, over all cameras
    fits: bool  # one unit's room is left for the batch that straddles two windows


def _candidates(files: np.ndarray, names: list[str]) -> list[tuple[str, np.ndarray]]:
    """The groupings a window may be cut by, each with its unit of every episode: episodes
    sharing the files of every camera, then (with several cameras) those sharing one camera's
    file, for each camera."""
    candidates = [("video_file", _ids(files))]
    if files.shape[1] > 1:
        candidates += [(f"video_file:{name}", _ids(files[:, [c]])) for c, name in enumerate(names)]
    return candidates


def windows_per_grouping(dataset: Any, cache_size: Any = None) -> dict[str, int | None]:
    """For each grouping `auto_window` considers, the largest window whose video files fit one
    worker's decoder cache (the rule of `choose_window_by_files`); None where the cache holds
    every file of every camera (no bound). Empty without video. For a reader whose window is
    bounded by something else too (a stream's disk), which then picks the grouping."""
    cache = decoder_cache_size(cache_size)
    inputs = _episode_inputs(dataset, 0, 0)
    if inputs is None:
        return {}
    frames, files, names = inputs
    groupings = _candidates(files, names)
    share = None if cache is None else cache // len(names)
    if share is None or max(_count(_ids(files[:, [c]])) for c in range(len(names))) <= share:
        return {group_by: None for group_by, _ in groupings}
    return {
        group_by: _windows_of(group_by, ids, frames, files, share).window
        for group_by, ids in groupings
    }


def _ids(files: np.ndarray) -> np.ndarray:
    """Dense ids of the distinct rows of `files`."""
    _, ids = np.unique(files, axis=0, return_inverse=True)
    return ids.reshape(-1).astype(np.int64)


def _count(ids: np.ndarray) -> int:
    return int(ids.max()) + 1


def _windows_of(
    group_by: str, ids: np.ndarray, frames: np.ndarray, files: np.ndarray, share: int
) -> _Option:
    units = _count(ids)
    unit_frames = np.bincount(ids, weights=frames, minlength=units).astype(np.int64)
    allowed, largest = units, []
    for c in range(files.shape[1]):
        # Files of camera c that each unit needs, largest first.
        pairs = np.unique(np.stack([ids, files[:, c]], axis=1), axis=0)
        need = np.sort(np.bincount(pairs[:, 0], minlength=units))[::-1]
        largest.append(np.cumsum(need))
        # The most units whose largest needs, plus one unit's for the straddling batch, fit.
        allowed = min(allowed, int(np.searchsorted(largest[-1], share - need[0], side="right")))
    per_window = max(1, allowed)
    window = int(np.sort(unit_frames)[:per_window].sum())
    decoders = sum(int(top[per_window - 1]) for top in largest)
    return _Option(group_by, window, units, per_window, decoders, allowed >= 1)


def auto_window(
    dataset: Any,
    cache_size: Any = None,
    *,
    drop_n_first_frames: int = 0,
    drop_n_last_frames: int = 0,
) -> AutoWindow:
    """The largest window whose video files fit one DataLoader worker's decoder cache.

    LeRobot keeps one LRU of decoders per worker process, keyed by file, shared by the cameras:
    an item of a dataset with `C` cameras needs `C` decoders, and the cache holds
    `S = cache_size // C` files of each camera. The windowed order cuts the shuffled units
    (episodes sharing their video files) into windows, a window closing as soon as it holds
    at least `window` frames. The budget is counted per camera, whatever the cameras' files'
    boundaries: `window` is the largest for which no window, plus the unit that a batch
    straddling two windows reads, ever needs more than `S` files of any camera. When every
    camera's files hold the same episodes, a window holds `m = S - 1` units (at least 1) and
    `window` is the frames of the `m` smallest units. When the cameras' files roll over at
    different episodes, episodes sharing one camera's file may make larger windows than
    episodes sharing the files of all cameras; the grouping with the largest window is
    chosen (`group_by="video_file:<video key>"`; see `choose_window_by_files`). Without video,
    with an unbounded cache, or when the cache holds every file of every camera, the global
    order (`window=None`) is chosen.

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
    inputs = _episode_inputs(dataset, first, last)
    if inputs is None:
        return choose_window([], 0, cache)
    frames, files, video_keys = inputs
    return choose_window_by_files(frames, files, cache, video_keys)


def _episode_inputs(
    dataset: Any, first: int, last: int
) -> tuple[np.ndarray, np.ndarray, list[str]] | None:
    """The kept episodes' frames (after the drops) and video files (one column per camera),
    and the video keys; None without video."""
    if v3_table(dataset) is None:
        raise TypeError(
            "window='auto' needs a LeRobot v3 dataset (meta.episodes with 'dataset_from_index'); "
            f"got {type(dataset).__name__} without it (v2.x datasets: pass window=N)"
        )
    arguments, _ = lerobot_arguments(dataset)
    cameras = len(list(getattr(dataset.meta, "video_keys", None) or []))
    if cameras == 0:
        return None
    starts = arguments["dataset_from_indices"]
    lengths = np.maximum(arguments["dataset_to_indices"] - starts - first - last, 0)
    kept = arguments.get("episode_indices_to_use")
    mask = np.zeros(len(starts), dtype=bool)
    mask[np.arange(len(starts)) if kept is None else kept] = True
    mask &= lengths > 0
    if not mask.any():
        raise ValueError("window='auto': no frame left in the kept episodes after the drops")
    video_keys = list(dataset.meta.video_keys)
    files = camera_files(v3_table(dataset), video_keys)
    return lengths[mask], files[mask], video_keys


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


def disk_window(
    unit_of: Any,
    episode_frames: Any,
    episode_files: Any,
    file_bytes: Any,
    budget: float,
    *,
    samples: int = 32,
) -> tuple[int, float]:
    """The largest window whose files fit `budget`, in frames, for a reader that copies whole
    files (a stream's local copy); and the bytes of the largest unit's files alone.

    A window of the windowed order is a run of randomly permuted units, so its files are those
    of units scattered over the dataset: a file holding episodes of several units is copied
    whole for the one unit the window reads. The bytes a window needs are therefore counted
    over the distinct files of its units, not its frames: in sampled windows (`samples` of
    them, cut by the order's rule from permutations of a fixed seed, each with the first unit
    of the next window, which a batch straddling two windows reads), 9 in 10 must fit.

    Args:
        unit_of: the unit of each kept episode (ids >= 0).
        episode_frames: kept frames of each kept episode, >= 1.
        episode_files: one row per kept episode, one column per file it reads (data file,
            each camera's video file): file ids (>= 0, distinct over all columns).
        file_bytes: the bytes of each file id.
        budget: bytes a window's files may take.

    Returns:
        (window, bytes of the largest unit): the window is at least 1 (windows of one unit)
        even when one unit's files exceed `budget`, which the second value tells.
    """
    units = np.asarray(unit_of, dtype=np.int64)
    frames = np.asarray(episode_frames, dtype=np.int64)
    files = np.asarray(episode_files, dtype=np.int64).reshape(len(units), -1)
    sizes = np.asarray(file_bytes, dtype=np.float64)
    count = int(units.max()) + 1
    unit_frames = np.bincount(units, weights=frames, minlength=count).astype(np.int64)
    pairs = np.unique(
        np.stack([np.repeat(units, files.shape[1]), files.reshape(-1)], axis=1), axis=0
    )  # (unit, file), sorted by unit
    starts = np.searchsorted(pairs[:, 0], np.arange(count + 1))
    alone = np.bincount(pairs[:, 0], weights=sizes[pairs[:, 1]], minlength=count)
    rng = np.random.default_rng(0)
    permutations: list[tuple[np.ndarray, np.ndarray]] = []

    def needed(window: int) -> float:
        found: list[float] = []
        for p in range(samples):
            if len(permutations) <= p:
                order = rng.permutation(count)
                permutations.append((order, np.cumsum(unit_frames[order])))
            order, cumulative = permutations[p]
            first = 0
            while first < count and len(found) < samples:
                before = cumulative[first - 1] if first else 0
                last = min(int(np.searchsorted(cumulative, before + window)), count - 1)
                read = order[first : min(last + 2, count)]  # and the next window's first unit
                lengths = starts[read + 1] - starts[read]
                at = np.repeat(starts[read] - np.cumsum(lengths) + lengths, lengths)
                window_files = np.unique(pairs[at + np.arange(len(at)), 1])
                found.append(float(sizes[window_files].sum()))
                first = last + 1
            if len(found) >= samples:
                break
        return float(np.quantile(found, 0.9))

    low, high = 1, int(unit_frames.sum())
    if needed(low) > budget:
        return 1, float(alone.max())
    while low < high:  # the largest window that fits
        middle = (low + high + 1) // 2
        if needed(middle) <= budget:
            low = middle
        else:
            high = middle - 1
    return low, float(alone.max())
