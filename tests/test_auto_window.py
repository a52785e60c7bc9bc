"""`window="auto"`: the choice (`choose_window`, `auto_window`) on synthetic inputs and
duck-typed LeRobot v3 datasets, checked against its stated rule by simulating the windowed
order's closing rule, and `from_lerobot(window="auto")` (the sampler it builds, the log line)."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import numpy as np
import pytest

from episampler import EpisodeAwareSampler, stream_settings
from episampler.lerobot.auto_window import (
    CACHE_SIZE_VARIABLE,
    auto_window,
    choose_window,
    choose_window_by_files,
    decoder_cache_size,
    windows_per_grouping,
)
from episampler.lerobot.layout import lerobot_groups


def windows_of(order: list[int], sizes: np.ndarray, window: int) -> list[list[int]]:
    """The windows the closing rule cuts from units in `order`: a window closes as soon as it
    holds at least `window` frames."""
    windows, current, frames = [], [], 0
    for unit in order:
        current.append(unit)
        frames += int(sizes[unit])
        if frames >= window:
            windows.append(current)
            current, frames = [], 0
    return windows + ([current] if current else [])


@pytest.mark.parametrize("seed", range(8))
def test_no_window_ever_holds_more_units_than_chosen_and_no_larger_window_would_do(seed):
    rng = np.random.default_rng(seed)
    units = int(rng.integers(5, 60))
    sizes = rng.integers(1, 400, units)
    cameras = int(rng.integers(1, 5))
    cache = int(rng.integers(cameras, cameras * units))  # fewer file tuples than units
    choice = choose_window(sizes, cameras, cache)
    allowed = max(1, cache // cameras - 1)
    assert choice.units_per_window == allowed and choice.group_by == "video_file"
    assert choice.units == units and choice.cameras == cameras and choice.cache_size == cache
    assert choice.units_per_window * cameras <= cache
    for _ in range(200):  # random unit orders: never too many units in a window
        for window in windows_of(rng.permutation(units).tolist(), sizes, choice.window):
            assert len(window) <= allowed
    # One frame more and the smallest units, first in the order, fill a window past the limit.
    smallest_first = np.argsort(sizes, kind="stable").tolist()
    assert len(windows_of(smallest_first, sizes, choice.window + 1)[0]) == allowed + 1


def test_the_default_cache_and_three_cameras_give_32_files_per_window():
    choice = choose_window([320] * 64, 3, 100)  # 64 files of 320 frames per camera
    assert (choice.window, choice.units_per_window) == (32 * 320, 32)
    assert "holds 33 file(s) of each of the 3 camera(s)" in choice.reason
    assert str(choice) == choice.reason


@pytest.mark.parametrize(
    ("cameras", "cache", "units", "why"),
    [
        (0, 100, 0, "no video feature"),
        (3, None, 50, "every file stays open"),
        (3, 100, 33, "holds all 33 files"),
        (2, 100, 10, "holds all 10 files"),
    ],
)
def test_the_global_order_when_windows_cannot_help(cameras, cache, units, why):
    choice = choose_window([10] * units, cameras, cache)
    assert choice.window is None and choice.group_by is None and choice.units_per_window == 0
    assert why in choice.reason


def test_a_cache_smaller_than_an_items_decoders_gives_one_unit_per_window():
    choice = choose_window([7, 3, 9, 5], 3, 2)
    assert (choice.window, choice.units_per_window) == (3, 1)
    assert "smaller than the 3 decoders" in choice.reason
    assert "no room to spare" in choose_window([7, 3, 9, 5], 3, 4).reason


def test_bad_numbers_are_refused():
    with pytest.raises(ValueError, match="unit_frames"):
        choose_window([4, 0], 2, 10)
    with pytest.raises(ValueError, match="cache_size must be >= 1"):
        choose_window([4], 2, 0)
    with pytest.raises(TypeError, match="cameras must be an int"):
        choose_window([4], 2.0, 10)


def test_the_cache_size_is_read_as_lerobot_reads_it(monkeypatch):
    monkeypatch.delenv(CACHE_SIZE_VARIABLE, raising=False)
    assert decoder_cache_size() == 100
    for raw, size in [("8", 8), (" 12 ", 12), ("none", None), ("-1", None), ("", None)]:
        monkeypatch.setenv(CACHE_SIZE_VARIABLE, raw)
        assert decoder_cache_size() == size, raw
    for raw in ["many", "0", "-3"]:
        monkeypatch.setenv(CACHE_SIZE_VARIABLE, raw)
        with pytest.raises(ValueError, match=CACHE_SIZE_VARIABLE):
            decoder_cache_size()
    assert decoder_cache_size(5) == 5 and decoder_cache_size("unbounded") is None
    with pytest.raises(ValueError, match="cache_size must be >= 1"):
        decoder_cache_size(0)
    with pytest.raises(TypeError, match="cache_size must be an int"):
        decoder_cache_size(True)


# --- duck-typed LeRobot v3 datasets ------------------------------------------------------------

CAMERAS = ["observation.images.top", "observation.images.wrist"]


def v3_dataset(lengths, files, *, cameras=CAMERAS, selection=None, drift=False):
    """Episodes of `lengths` in boundary order, episode `e` in video file `files[e]` of every
    camera (with `drift`, the second camera's files are cut one episode later)."""
    ends = np.cumsum(lengths)
    columns = {
        "episode_index": np.arange(len(lengths)),
        "dataset_from_index": ends - np.asarray(lengths),
        "dataset_to_index": ends,
    }
    for number, key in enumerate(cameras):
        file_of = np.asarray(files)
        if drift and number == 1:
            file_of = np.concatenate([[file_of[0]], file_of[:-1]])
        columns[f"videos/{key}/chunk_index"] = np.zeros(len(lengths), dtype=np.int64)
        columns[f"videos/{key}/file_index"] = file_of
    meta = SimpleNamespace(episodes=columns, video_keys=list(cameras))
    return SimpleNamespace(meta=meta, episodes=selection)


LENGTHS = [10, 12, 8, 15, 9, 11, 14, 7, 13, 10, 12, 6]
FILES = [0, 0, 0, 1, 1, 2, 2, 2, 3, 3, 4, 4]  # 5 files per camera


def unit_frames(lengths, files, kept, first=0, last=0):
    frames: dict[int, int] = {}
    for episode in kept:
        frames[files[episode]] = frames.get(files[episode], 0) + lengths[episode] - first - last
    return sorted(frames.values())


@pytest.mark.parametrize("selection", [None, [11, 3, 4, 0, 3, 8]])
def test_auto_window_reads_cameras_files_and_the_selection(selection):
    dataset = v3_dataset(LENGTHS, FILES, selection=selection)
    kept = sorted(set(range(len(LENGTHS)) if selection is None else selection))
    sizes = unit_frames(LENGTHS, FILES, kept, first=1, last=2)
    choice = auto_window(dataset, 6, drop_n_first_frames=1, drop_n_last_frames=2)
    assert choice.cameras == 2 and choice.units == len(sizes) and choice.units_per_window == 2
    assert choice.window == sum(sizes[:2])


def test_auto_window_counts_drifting_cameras_files_as_separate_units():
    choice = auto_window(v3_dataset(LENGTHS, FILES, drift=True), 100)
    assert choice.units == 9  # distinct (top file, wrist file) pairs
    assert choice.window is None  # 50 pairs fit


def test_auto_window_reads_the_environment_variable(monkeypatch):
    dataset = v3_dataset(LENGTHS, FILES)
    monkeypatch.setenv(CACHE_SIZE_VARIABLE, "4")
    assert auto_window(dataset).cache_size == 4
    monkeypatch.delenv(CACHE_SIZE_VARIABLE)
    assert auto_window(dataset).cache_size == 100


def test_auto_window_refuses_what_is_not_a_v3_dataset():
    v2 = SimpleNamespace(
        meta=SimpleNamespace(episodes={0: {"episode_index": 0, "length": 3}}, video_keys=[]),
        episode_data_index={"from": [0], "to": [3]},
    )
    with pytest.raises(TypeError, match="needs a LeRobot v3 dataset"):
        auto_window(v2)
    with pytest.raises(TypeError, match="needs a LeRobot v3 dataset"):
        auto_window(object())
    with pytest.raises(ValueError, match="no frame left"):
        auto_window(v3_dataset(LENGTHS, FILES), 4, drop_n_first_frames=20)


def test_from_lerobot_window_auto_builds_the_chosen_windows_and_logs_why(caplog, monkeypatch):
    monkeypatch.setenv(CACHE_SIZE_VARIABLE, "6")
    dataset = v3_dataset(LENGTHS, FILES)
    choice = auto_window(dataset)
    with caplog.at_level(logging.INFO, logger="episampler"):
        sampler = EpisodeAwareSampler.from_lerobot(dataset, shuffle=True, seed=4, window="auto")
    assert sampler.window == choice.window
    assert caplog.records[-1].getMessage() == choice.reason
    manual = EpisodeAwareSampler.from_lerobot(
        dataset, shuffle=True, seed=4, window=choice.window, group_by="video_file"
    )
    assert list(sampler) == list(manual)
    # Each window of the order holds at most 2 files: cut where no file continues past.
    file_of_frame = np.repeat(FILES, LENGTHS)
    for epoch in range(4):
        files = file_of_frame[sampler.epoch_indices(epoch)].tolist()
        last = {f: p for p, f in enumerate(files)}
        start, end = 0, 0
        for position, f in enumerate(files):
            end = max(end, last[f])
            if position == end:
                assert len(set(files[start : position + 1])) <= 2
                start = position + 1


def test_from_lerobot_window_auto_without_video_is_the_global_order(caplog):
    dataset = v3_dataset(LENGTHS, FILES, cameras=[])
    with caplog.at_level(logging.INFO, logger="episampler"):
        sampler = EpisodeAwareSampler.from_lerobot(dataset, shuffle=True, seed=4, window="auto")
    assert sampler.window is None and "no video feature" in caplog.text
    assert list(sampler) == list(EpisodeAwareSampler.from_lerobot(dataset, shuffle=True, seed=4))


def test_from_lerobot_window_auto_with_streams_where_every_file_fits_is_the_global_order(
    monkeypatch,
):
    dataset = v3_dataset(LENGTHS, FILES)
    monkeypatch.setenv(CACHE_SIZE_VARIABLE, "1000")  # holds every file: no window
    streams = stream_settings(num_workers=2, batch_size=4)
    sampler = EpisodeAwareSampler.from_lerobot(
        dataset, shuffle=True, seed=4, window="auto", **streams
    )
    assert sampler.window is None and sampler.streams == 1
    assert list(sampler) == list(EpisodeAwareSampler.from_lerobot(dataset, shuffle=True, seed=4))
    # A window keeps the streams asked for.
    monkeypatch.setenv(CACHE_SIZE_VARIABLE, "6")
    windowed = EpisodeAwareSampler.from_lerobot(
        dataset, shuffle=True, seed=4, window="auto", **streams
    )
    assert windowed.window is not None and windowed.streams == streams["streams"]


def test_from_lerobot_refuses_other_window_words_and_data_file_groups():
    dataset = v3_dataset(LENGTHS, FILES)
    with pytest.raises(ValueError, match="window must be an int >= 1, None or 'auto'"):
        EpisodeAwareSampler.from_lerobot(dataset, shuffle=True, window="big")
    with pytest.raises(ValueError, match="groups by video file"):
        EpisodeAwareSampler.from_lerobot(dataset, shuffle=True, window="auto", group_by="data_file")


# --- cameras whose files roll over at different episodes ---------------------------------------


def rolling_files(rng, episodes: int, cameras: int, files: int) -> np.ndarray:
    """Each camera's file of each episode: `files` files per camera, cut at episodes of its own."""
    columns = []
    for _ in range(cameras):
        cuts = np.sort(rng.choice(np.arange(1, episodes), files - 1, replace=False))
        columns.append(np.searchsorted(cuts, np.arange(episodes), side="right"))
    return np.stack(columns, axis=1)


def steady_files(rng, episodes: int, size: int) -> np.ndarray:
    """One camera's file of each episode, a file rolling over every `size` episodes, give or
    take one (a file closes at a size in bytes)."""
    ends = np.cumsum(rng.integers(size - 1, size + 2, episodes))
    return np.searchsorted(ends, np.arange(episodes), side="right")


def files_needed(units: list[int], unit_of: np.ndarray, files: np.ndarray) -> list[int]:
    """Distinct files of each camera that the episodes of `units` need."""
    episodes = np.isin(unit_of, units)
    return [len(np.unique(files[episodes, c])) for c in range(files.shape[1])]


@pytest.mark.parametrize("seed", range(6))
def test_no_window_and_the_straddling_batch_ever_need_more_than_each_cameras_share(seed):
    rng = np.random.default_rng(seed)
    episodes, cameras = int(rng.integers(60, 300)), int(rng.integers(2, 4))
    frames = rng.integers(5, 60, episodes)
    files = rolling_files(rng, episodes, cameras, int(rng.integers(12, 40)))
    cache = int(rng.integers(4 * cameras, 12 * cameras))
    share = cache // cameras
    choice = choose_window_by_files(frames, files, cache, ["a", "b", "c"][:cameras])
    assert choice.window is not None
    group_by = choice.group_by
    column = None if group_by == "video_file" else "abc".index(group_by.split(":")[1])
    grouped = files if column is None else files[:, [column]]
    _, unit_of = np.unique(grouped, axis=0, return_inverse=True)
    unit_of = unit_of.reshape(-1)
    sizes = np.bincount(unit_of, weights=frames).astype(np.int64)
    assert choice.units == len(sizes)
    for _ in range(100):  # random unit orders
        windows = windows_of(rng.permutation(len(sizes)).tolist(), sizes, choice.window)
        for this, following in zip(windows, [*windows[1:], []], strict=True):
            # The window, plus the next window's first unit (a batch may straddle both).
            assert max(files_needed(this + following[:1], unit_of, files)) <= share


def test_cameras_rolling_over_apart_get_a_window_grouped_by_one_cameras_files():
    rng = np.random.default_rng(3)
    episodes = 1000
    frames = rng.integers(80, 120, episodes)
    # As a real recording: each camera's bitrate sets its own file size (about 17, 19 and 21
    # episodes a file), so the cameras' files roll over at different episodes.
    files = np.stack([steady_files(rng, episodes, size) for size in (17, 19, 21)], axis=1)
    names = ["top", "wrist", "side"]
    choice = choose_window_by_files(frames, files, 100, names)
    all_cameras = choose_window_by_files(frames, files[:, [0, 0, 0]], 100, names)
    tuples = len(np.unique(files, axis=0))
    assert choice.group_by.startswith("video_file:")
    assert choice.units == len(np.unique(files[:, names.index(choice.group_by[11:])]))
    # Grouping by the files of all cameras cuts each camera's files into slivers.
    assert tuples > 2 * choice.units
    assert "grouping by the files of all cameras would give" in choice.reason
    by_tuples = int(choice.reason.split("would give ")[1].split(" frames")[0])
    assert choice.window > 3 * by_tuples  # 23,275 frames against 5,685
    # Aligned files (every camera cut where the first is) allow more: each unit needs 1 file.
    assert all_cameras.group_by == "video_file" and all_cameras.units_per_window == 32
    assert choice.units_per_window >= 10  # 15 files of the top camera


def test_lerobot_groups_by_one_cameras_files_and_window_auto_uses_them(monkeypatch):
    lengths = [10] * 120
    top = np.arange(120) // 10  # files of 10 episodes
    wrist = (np.arange(120) + 3) // 7  # of 7, cut at other episodes
    dataset = v3_dataset(lengths, top)
    dataset.meta.episodes["videos/observation.images.wrist/file_index"] = wrist
    assert lerobot_groups(dataset, "video_file:observation.images.top").tolist() == top.tolist()
    assert len(set(lerobot_groups(dataset, "video_file").tolist())) > 18
    with pytest.raises(ValueError, match=r"'observation\.images\.side' is not a video key"):
        lerobot_groups(dataset, "video_file:observation.images.side")
    with pytest.raises(ValueError, match=r"group_by must be None or one of"):
        lerobot_groups(dataset, "video_file:")
    monkeypatch.setenv(CACHE_SIZE_VARIABLE, "20")
    choice = auto_window(dataset)
    # Wrist units of 7 episodes need 1-2 top files: 4 per window (2 * 4 + 2 <= 20 // 2), the
    # smallest 4 (40, 40, 70, 70 frames) beating the slivers that all cameras' files cut.
    assert (choice.window, choice.group_by) == (220, "video_file:observation.images.wrist")
    sampler = EpisodeAwareSampler.from_lerobot(dataset, shuffle=True, seed=2, window="auto")
    manual = EpisodeAwareSampler.from_lerobot(
        dataset, shuffle=True, seed=2, window=choice.window, group_by=choice.group_by
    )
    assert sampler.window == choice.window
    assert sampler.epoch_indices(1).tolist() == manual.epoch_indices(1).tolist()


@pytest.mark.parametrize("cache", [6, 10, 20])
def test_windows_per_grouping_give_each_groupings_window_and_auto_window_takes_the_largest(
    cache,
):
    lengths = [10] * 120
    top = np.arange(120) // 10  # files of 10 episodes
    wrist = (np.arange(120) + 3) // 7  # of 7, cut at other episodes
    dataset = v3_dataset(lengths, top)
    dataset.meta.episodes["videos/observation.images.wrist/file_index"] = wrist
    windows = windows_per_grouping(dataset, cache)
    assert list(windows) == [
        "video_file",
        "video_file:observation.images.top",
        "video_file:observation.images.wrist",
    ]
    choice = auto_window(dataset, cache)
    assert windows[choice.group_by] == choice.window == max(windows.values())
    # Coarser units (a camera's files of 10 episodes) hold more frames in the same files.
    assert windows["video_file:observation.images.top"] > windows["video_file"]


def test_windows_per_grouping_without_a_bound_or_video():
    lengths, top = [10] * 12, np.arange(12) // 4
    assert windows_per_grouping(v3_dataset(lengths, top), 100) == {
        "video_file": None,
        "video_file:observation.images.top": None,
        "video_file:observation.images.wrist": None,
    }  # 3 files of each camera fit
    assert windows_per_grouping(v3_dataset(lengths, top), "unbounded")["video_file"] is None
    assert windows_per_grouping(v3_dataset(lengths, top, cameras=[]), 4) == {}
