"""`BatchedFetch` on real LeRobot 0.6.1 datasets recorded by LeRobot's own writer: two video
cameras, several video files each holding several episodes. Every item it builds must equal
`dataset[i]` (same keys in the same order, dtypes, shapes and values, compared with
`torch.equal`), for plain items, `delta_timestamps` windows padded at episode edges, image
transforms, `return_uint8`, depth maps, filtered datasets and real DataLoader worker processes;
and a batch must cost one decoding call per (camera, video file) it touches."""

from __future__ import annotations

import os
import pickle
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.real_lerobot.conftest import require_lerobot

VERSION = require_lerobot("0.6")
# The batched fetch reads LeRobot's private reader state: checked on every LeRobot version.
pytestmark = pytest.mark.lerobot_versions
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"

import torch  # noqa: E402
from lerobot.datasets import video_utils  # noqa: E402
from lerobot.datasets.lerobot_dataset import LeRobotDataset  # noqa: E402
from torchvision.transforms import v2  # noqa: E402

from episampler import EpisodeAwareSampler  # noqa: E402
from episampler.lerobot import BatchedFetch  # noqa: E402
from episampler.lerobot import fetch as fetch_module  # noqa: E402
from episampler.lerobot.auto_window import auto_window  # noqa: E402
from episampler.lerobot.decoders import (  # noqa: E402
    Decoders,
    estimated_decoder_bytes,
    lerobot_decoder_bound,
)
from tests.real_lerobot.record import (  # noqa: E402
    ACTION,
    CAMERA,
    IMAGE_SIZE,
    STATE,
    features,
    frame_values,
)

REPO_ID = "episampler/batched"
CAMERA2 = "observation.images.wrist"
DEPTH = "observation.images.depth"
FPS = 10
LENGTHS = [14, 9, 17, 12, 20, 11, 16, 13]
TASKS = ["pick", "place", "pick", "stack", "place", "pick", "stack", "place"]
DELTAS = {
    STATE: [-0.2, -0.1, 0.0],
    ACTION: [0.0, 0.1, 0.2, 0.3],
    CAMERA: [-0.1, 0.0, 0.1],
    CAMERA2: [0.0, 0.2],
}
SELECTION = [6, 1, 4, 1, 7]
EPISODES_PER_FILE = 2  # unsorted, with a duplicate, as a user may pass it


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """Two cameras, two episodes per video file: LeRobot's writer appends an episode to the
    camera's latest file unless the file would exceed `video_files_size_in_mb`, so the limit is
    set (LeRobot's public `update_chunk_settings`) before each episode to append or to start a
    new file, as the writer does every few hundred megabytes on real data."""
    import datasets

    spec = features(video=True)
    spec[CAMERA2] = dict(spec[CAMERA])
    root = tmp_path_factory.mktemp("batched") / REPO_ID
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path_factory.mktemp("cache"))
        dataset = LeRobotDataset.create(
            REPO_ID, FPS, features=spec, root=root, use_videos=True,
            data_files_size_in_mb=0.005,
        )  # fmt: skip
        for episode, (length, task) in enumerate(zip(LENGTHS, TASKS, strict=True)):
            for frame in range(length):
                values = frame_values(episode, frame, video=True)
                values[CAMERA2] = 255 - values[CAMERA]  # a second, different picture
                dataset.add_frame({**values, "task": task})
            new_file = episode % EPISODES_PER_FILE == 0
            dataset.meta.update_chunk_settings(video_files_size_in_mb=1e-6 if new_file else 1e6)
            dataset.save_episode()
        dataset.meta.update_chunk_settings(video_files_size_in_mb=200)
        dataset.finalize()
    return root


@pytest.fixture(autouse=True)
def tested_version(request):
    """On a LeRobot 0.6 release BatchedFetch was not tested with, only the refusal runs."""
    untested = VERSION not in fetch_module.FETCH_TESTED_VERSIONS
    if untested and request.function is not test_an_untested_lerobot_version_is_refused:
        pytest.skip(f"BatchedFetch refuses lerobot {VERSION} (not tested with it)")


@pytest.fixture(autouse=True)
def fresh_decoders():
    """Each test starts without decoders (a decoder made in this process must not reach the
    forked DataLoader workers of a later test)."""
    video_utils._default_decoder_cache.clear()
    yield
    video_utils._default_decoder_cache.clear()


def load(root: Path, **kwargs: Any) -> LeRobotDataset:
    return LeRobotDataset(REPO_ID, root=root, **kwargs)


def video_files(dataset: LeRobotDataset, key: str) -> list[str]:
    """The video file of `key` holding each episode, as LeRobot resolves it."""
    meta = dataset.meta
    return [str(meta.get_video_file_path(e, key)) for e in range(meta.total_episodes)]


def assert_same_item(got: dict[str, Any], expected: dict[str, Any], where: Any) -> None:
    assert list(got) == list(expected), (where, list(got), list(expected))
    for key, value in expected.items():
        if isinstance(value, torch.Tensor):
            assert isinstance(got[key], torch.Tensor), (where, key)
            assert got[key].dtype == value.dtype, (where, key, got[key].dtype, value.dtype)
            assert got[key].shape == value.shape, (where, key, got[key].shape, value.shape)
            assert torch.equal(got[key], value), (where, key)
        else:
            assert type(got[key]) is type(value) and got[key] == value, (where, key)


def assert_epoch_equal(dataset: LeRobotDataset, batch: int = 16, seed: int = 0) -> None:
    """Every row once, in shuffled batches: `__getitems__` equals `[dataset[i] ...]`."""
    fetch = BatchedFetch(dataset)
    order = np.random.default_rng(seed).permutation(len(dataset)).tolist()
    for start in range(0, len(order), batch):
        indices = order[start : start + batch]
        got = fetch.__getitems__(indices)
        assert len(got) == len(indices)
        for index, item in zip(indices, got, strict=True):
            assert_same_item(item, dataset[index], index)


def test_the_recording_spreads_episodes_over_several_files_per_camera(root):
    dataset = load(root)
    for key in (CAMERA, CAMERA2):
        files = Counter(video_files(dataset, key))
        assert sorted(files.values()) == [EPISODES_PER_FILE] * 4, files


def test_plain_items_equal_dataset_items_for_a_whole_epoch(root):
    assert_epoch_equal(load(root))


def test_windows_with_padding_at_episode_edges_equal_dataset_items(root):
    dataset = load(root, delta_timestamps=DELTAS)
    item = dataset[0]
    assert item[f"{STATE}_is_pad"].tolist() == [True, True, False]  # the edge is covered
    assert item[CAMERA].shape == (3, 3, IMAGE_SIZE, IMAGE_SIZE)
    assert_epoch_equal(dataset, batch=13)


def test_uint8_transport_equals_dataset_items(root):
    dataset = load(root, delta_timestamps=DELTAS, return_uint8=True)
    assert dataset[3][CAMERA].dtype == torch.uint8
    assert_epoch_equal(dataset, batch=32)


def test_image_transforms_apply_per_item_as_lerobot_does(root):
    fixed = v2.Compose([v2.CenterCrop(48), v2.Resize(32, antialias=True)])
    assert_epoch_equal(load(root, image_transforms=fixed, delta_timestamps=DELTAS))


def test_random_image_transforms_draw_the_same_numbers_in_the_same_process(root):
    random = v2.Compose([v2.RandomResizedCrop(40, antialias=True), v2.ColorJitter(0.4, 0.4)])
    dataset = load(root, image_transforms=random)
    fetch = BatchedFetch(dataset)
    indices = [5, 40, 3, 77, 41, 90, 2]
    torch.manual_seed(7)
    expected = [dataset[i] for i in indices]
    torch.manual_seed(7)
    got = fetch.__getitems__(indices)
    for index, a, b in zip(indices, got, expected, strict=True):
        assert_same_item(a, b, index)
    assert not torch.equal(got[0][CAMERA], got[0][CAMERA2])


def test_filtered_dataset_rows_equal_dataset_items(root):
    dataset = load(root, episodes=SELECTION, delta_timestamps=DELTAS)
    assert len(dataset) == sum(LENGTHS[e] for e in set(SELECTION))
    assert_epoch_equal(dataset, batch=10)


@pytest.fixture(scope="module")
def depth_root(tmp_path_factory) -> Path:
    """A color camera and a depth camera (LeRobot encodes depth as 12-bit HEVC and decodes it
    with PyAV), three episodes in one file per camera."""
    import datasets

    spec = features(video=True)
    spec[DEPTH] = {
        "dtype": "video",
        "shape": (IMAGE_SIZE, IMAGE_SIZE, 1),
        "names": ["height", "width", "channels"],
        "info": {"is_depth_map": True},
    }
    root = tmp_path_factory.mktemp("depth") / "episampler/depth"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path_factory.mktemp("cache"))
        dataset = LeRobotDataset.create(
            "episampler/depth", FPS, features=spec, root=root, use_videos=True
        )
        for episode, length in enumerate(LENGTHS[:3]):
            for frame in range(length):
                values = frame_values(episode, frame, video=True)
                metres = 0.5 + 0.1 * episode + 0.02 * frame
                values[DEPTH] = np.full((IMAGE_SIZE, IMAGE_SIZE, 1), metres, dtype=np.float32)
                dataset.add_frame({**values, "task": "t"})
            dataset.save_episode()
        dataset.finalize()
    return root


@pytest.mark.parametrize("unit", ["mm", "m"])
def test_depth_maps_equal_dataset_items(depth_root, unit):
    deltas = {DEPTH: [-0.1, 0.0, 0.1], CAMERA: [0.0, 0.1]}
    dataset = LeRobotDataset(
        "episampler/depth", root=depth_root, delta_timestamps=deltas, depth_output_unit=unit
    )
    assert dataset.meta.depth_keys == [DEPTH]
    item = dataset[4]
    assert item[DEPTH].shape == (3, 1, IMAGE_SIZE, IMAGE_SIZE)
    assert item[DEPTH].dtype == torch.float32
    assert_epoch_equal(dataset, batch=9)


@pytest.mark.parametrize("selection", [None, SELECTION])
def test_unless_the_user_chose_a_size_a_worker_keeps_every_file_it_reads_open(
    root, monkeypatch, selection
):
    """Without a size chosen by the user, the batched fetch keeps a decoder for every video
    file the dataset reads (its kept episodes' files, over both cameras), at least LeRobot's
    default; a size the user chose, by the environment variable or in code, is kept."""
    monkeypatch.delenv("LEROBOT_VIDEO_DECODER_CACHE_SIZE", raising=False)
    monkeypatch.setattr(video_utils, "DEFAULT_DECODER_CACHE_SIZE", 2)  # below the files
    monkeypatch.setattr(video_utils._default_decoder_cache, "max_size", 2)
    dataset = load(root, episodes=selection)
    kept = range(len(LENGTHS)) if selection is None else sorted(set(selection))
    files = sum(len({video_files(dataset, key)[e] for e in kept}) for key in (CAMERA, CAMERA2))
    assert files > 2
    fetch = BatchedFetch(dataset)
    fetch.__getitems__(list(range(len(dataset))))
    assert fetch._decoders is not None and fetch._decoders.capacity == files
    assert len(fetch._decoders) == files  # none evicted

    monkeypatch.setenv("LEROBOT_VIDEO_DECODER_CACHE_SIZE", "2")  # the user's choice
    fetch = BatchedFetch(dataset)
    fetch.__getitems__([0])
    assert fetch._decoders is not None and fetch._decoders.capacity == 2


def test_a_count_set_after_lerobot_was_imported_sizes_the_fetch_and_a_streams_window_alike(
    root, monkeypatch
):
    """LeRobot reads LEROBOT_VIDEO_DECODER_CACHE_SIZE once, at import. The batched fetch's
    decoders and a stream window's decoder bound read it now, through one function, so a value
    set later sizes both the same."""
    monkeypatch.setenv("LEROBOT_VIDEO_DECODER_CACHE_SIZE", "3")
    assert video_utils._default_decoder_cache.max_size != 3  # LeRobot kept its import value
    fetch = BatchedFetch(load(root))
    fetch.__getitems__([0])
    assert fetch._decoders is not None and fetch._decoders.capacity == 3
    assert lerobot_decoder_bound(estimated_decoder_bytes(224 * 224 * 3)) == 3


def test_batches_decode_with_decoders_of_their_own_opened_by_path(root, monkeypatch):
    """The batched fetch leaves LeRobot's decoder cache alone: its own holds as many decoders
    as LeRobot's is set to (least recently used out first), each opened by the file's path."""
    monkeypatch.setattr(video_utils._default_decoder_cache, "max_size", 2)  # chosen in code
    dataset = load(root)
    fetch = BatchedFetch(dataset)
    everything = list(range(len(dataset)))
    items = fetch.__getitems__(everything)
    assert video_utils._default_decoder_cache.size() == 0
    decoders = fetch._decoders
    assert decoders is not None and decoders.capacity == 2 and len(decoders) == 2
    last = {key: str(dataset.root / video_files(dataset, key)[-1]) for key in (CAMERA, CAMERA2)}
    # The batch's groups decode in the order of their files; the last file of each camera is
    # among the last two opened only if older ones were evicted.
    assert sum(path in decoders for path in last.values()) >= 1
    for index in (0, len(dataset) // 2, len(dataset) - 1):
        assert_same_item(items[index], dataset[index], index)
    assert fetch.__getstate__()["_decoders"] is None  # not sent to workers
    with pytest.raises(ValueError, match="capacity must be >= 1 or None, got 0"):
        Decoders(0)


def test_one_decoding_call_per_camera_and_file_of_a_batch(root, monkeypatch):
    dataset = load(root, delta_timestamps=DELTAS)
    files = {key: video_files(dataset, key) for key in (CAMERA, CAMERA2)}
    calls: list[tuple[str, int]] = []
    real = video_utils.decode_video_frames_torchcodec

    def counting(path: Any, timestamps: list[float], *args: Any, **kwargs: Any) -> Any:
        calls.append((str(path), len(timestamps)))
        assert timestamps == sorted(timestamps)
        return real(path, timestamps, *args, **kwargs)

    monkeypatch.setattr(video_utils, "decode_video_frames_torchcodec", counting)
    fetch = BatchedFetch(dataset)
    episodes = dataset.hf_dataset.data.column("episode_index").to_numpy()
    # A batch drawn from two episodes of different files, and one from every episode.
    first, last = int(np.flatnonzero(episodes == 0)[0]), int(np.flatnonzero(episodes == 7)[0])
    for indices in ([first, first + 3, last, first + 1, last + 2], list(range(0, len(dataset), 7))):
        calls.clear()
        expected_groups = {
            (key, str(dataset.root / files[key][int(episodes[i])]))
            for i in indices
            for key in files
        }
        items = fetch.__getitems__(indices)
        assert len(calls) == len(expected_groups), (calls, expected_groups)
        assert {path for path, _ in calls} == {path for _, path in expected_groups}
        calls.clear()
        for index, item in zip(indices, items, strict=True):
            assert_same_item(item, dataset[index], index)
        assert len(calls) == len(indices) * len(files)  # LeRobot: one per item and camera


class Spy(BatchedFetch):
    """Marks each item with whether the DataLoader called `__getitems__` for it (removed before
    comparing)."""

    def __getitems__(self, indices):
        items = super().__getitems__(indices)
        for item in items:
            item["spy_batched"] = True
        return items

    def __getitem__(self, index):
        return {**super().__getitem__(index), "spy_batched": False}


def clear_worker_decoders(_worker_id: int) -> None:
    video_utils._default_decoder_cache.clear()


def loader_batches(dataset: Any, workers: int, **kwargs: Any) -> list[dict[str, Any]]:
    loader = torch.utils.data.DataLoader(
        dataset, num_workers=workers, worker_init_fn=clear_worker_decoders, **kwargs
    )
    return list(loader)


def assert_same_batches(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert len(got) == len(expected)
    for number, (a, b) in enumerate(zip(got, expected, strict=True)):
        assert a.pop("spy_batched").all(), f"batch {number} was not fetched by __getitems__"
        assert_same_item(a, b, number)


@pytest.mark.slow
@pytest.mark.parametrize("workers", [0, 2])
def test_dataloader_calls_getitems_with_batch_size_and_batch_sampler(root, workers):
    dataset = load(root, delta_timestamps=DELTAS, episodes=[0, 2, 3, 5, 6, 7])

    def windowed() -> EpisodeAwareSampler:
        return EpisodeAwareSampler.from_lerobot(
            dataset, shuffle=True, seed=3, window=30, group_by="video_file"
        )

    expected = loader_batches(dataset, workers, batch_size=8, sampler=windowed())
    got = loader_batches(Spy(dataset), workers, batch_size=8, sampler=windowed())
    assert_same_batches(got, expected)

    batches = torch.utils.data.BatchSampler(windowed(), batch_size=8, drop_last=False)
    got = loader_batches(Spy(dataset), workers, batch_sampler=batches)
    assert_same_batches(got, expected)


@pytest.mark.slow
def test_a_fetch_used_before_the_workers_fork_still_works_in_them(root):
    """The parent builds its thread pool (and decoders) first; each forked worker needs its own
    pool (a copied pool has no threads: using it would hang) and opens its own decoders."""
    dataset = load(root, delta_timestamps=DELTAS)
    fetch = Spy(dataset)
    indices = list(range(0, len(dataset), 3))
    parent = fetch.__getitems__(indices)  # two files at least: the pool is used
    assert fetch._pool is not None and fetch._pool_pid == os.getpid()
    batches = torch.utils.data.BatchSampler(indices, batch_size=len(indices), drop_last=False)
    got = loader_batches(fetch, 2, batch_sampler=list(batches) * 2, timeout=120)
    for batch in got:
        assert batch.pop("spy_batched").all()
        expected = torch.utils.data.default_collate([{**i, "spy_batched": True} for i in parent])
        expected.pop("spy_batched")
        assert_same_item(batch, expected, "worker")
    assert fetch._pool_pid == os.getpid()  # the parent's pool is untouched
    assert fetch.__getitems__(indices[:4])[0]["index"] == parent[0]["index"]


def test_attributes_pass_through(root):
    dataset = load(root, episodes=[1, 3])
    fetch = BatchedFetch(dataset)
    assert len(fetch) == len(dataset) == LENGTHS[1] + LENGTHS[3]
    assert fetch.meta is dataset.meta and fetch.dataset is dataset
    assert fetch.episodes == dataset.episodes == [1, 3]
    assert fetch.num_frames == dataset.num_frames and fetch.num_episodes == 2
    assert fetch.fps == FPS and fetch.features == dataset.features
    assert_same_item(fetch[4], dataset[4], 4)
    assert_same_item(fetch[-1], dataset[-1], -1)
    assert_same_item(fetch.__getitems__([-1])[0], dataset[-1], -1)
    assert fetch.__getitems__([]) == []
    copy = pickle.loads(pickle.dumps(fetch))
    assert_same_item(copy.__getitems__([2])[0], dataset[2], "pickled")
    with pytest.raises(AttributeError):
        fetch.no_such_attribute  # noqa: B018


def test_bad_input_is_refused_clearly(root, monkeypatch):
    dataset = load(root)
    fetch = BatchedFetch(dataset)
    with pytest.raises(IndexError, match=f"index {len(dataset)} is out of range"):
        fetch.__getitems__([0, len(dataset)])
    with pytest.raises(IndexError, match="out of range"):
        fetch.__getitems__([-len(dataset) - 1])
    with pytest.raises(TypeError, match="indices must be ints"):
        fetch.__getitems__([1.0])
    with pytest.raises(TypeError, match="indices must be ints"):
        fetch.__getitems__([True])
    with pytest.raises(TypeError, match="must be a LeRobotDataset"):
        BatchedFetch(torch.utils.data.TensorDataset(torch.zeros(3)))


def test_an_untested_lerobot_version_is_refused(root, monkeypatch):
    dataset = load(root)
    if VERSION in fetch_module.FETCH_TESTED_VERSIONS:
        monkeypatch.setattr(fetch_module, "FETCH_TESTED_VERSIONS", ("0.0.1", "0.0.2"))
    supported = ", ".join(fetch_module.FETCH_TESTED_VERSIONS)
    with pytest.raises(RuntimeError, match=f"supports lerobot {supported}, not {VERSION}:"):
        BatchedFetch(dataset)


def test_a_decoding_failure_is_lerobots_error_naming_the_file(root):
    """With a negative tolerance every frame is "too far" from its timestamp: LeRobot's own
    error, naming the video file and the timestamps, comes out of the batch too."""
    dataset = load(root, tolerance_s=-1.0)
    with pytest.raises(video_utils.FrameTimestampError) as expected:
        dataset[3]
    with pytest.raises(video_utils.FrameTimestampError) as got:
        BatchedFetch(dataset).__getitems__([3, 50])
    assert "queried timestamps" in str(got.value) and "video: " in str(got.value)
    assert str(expected.value).split("video: ")[1] in {
        str(dataset.root / video_files(dataset, key)[0]) for key in (CAMERA, CAMERA2)
    }
    assert str(got.value).split("video: ")[1].startswith(str(dataset.root))


def test_a_dataset_being_recorded_is_refused(tmp_path):
    recording = LeRobotDataset.create(
        "episampler/recording", FPS, features=features(video=False), root=tmp_path / "r"
    )
    recording.add_frame({**frame_values(0, 0, video=False), "task": "t"})
    recording.save_episode()
    with pytest.raises(ValueError, match="still being recorded"):
        BatchedFetch(recording)
    recording.finalize()


# --- window="auto" on the recording ------------------------------------------------------------


@pytest.mark.parametrize("selection", [None, SELECTION])
def test_auto_window_keeps_each_windows_files_within_the_cache(root, selection, caplog):
    """Each window of the chosen size holds at most `cache // cameras - 1` file groups, checked
    on the order itself against the files LeRobot resolves; the choice is logged."""
    import logging

    dataset = load(root, episodes=selection)
    files = {key: video_files(dataset, key) for key in (CAMERA, CAMERA2)}
    units = {(files[CAMERA][e], files[CAMERA2][e]) for e in set(selection or range(8))}
    cache = 6 if selection is None else 4  # 3 (2) file pairs: windows of 2 (1) pairs
    choice = auto_window(dataset, cache)
    assert choice.cameras == 2 and choice.units == len(units) == (4 if selection is None else 3)
    assert choice.units_per_window == cache // 2 - 1
    assert choice.group_by == "video_file" and choice.window is not None
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("LEROBOT_VIDEO_DECODER_CACHE_SIZE", str(cache))
    with caplog.at_level(logging.INFO, logger="episampler"):
        sampler = EpisodeAwareSampler.from_lerobot(dataset, shuffle=True, seed=1, window="auto")
    monkeypatch.undo()
    assert sampler.window == choice.window
    assert choice.reason in caplog.text
    episodes = dataset.hf_dataset.data.column("episode_index").to_numpy()
    for epoch in range(3):
        order = sampler.epoch_indices(epoch)
        pairs = [(files[CAMERA][e], files[CAMERA2][e]) for e in episodes[order]]
        # Cut the order into windows where no file pair continues past the cut.
        last = {pair: position for position, pair in enumerate(pairs)}
        start, end = 0, 0
        for position, pair in enumerate(pairs):
            end = max(end, last[pair])
            if position == end:
                assert len(set(pairs[start : position + 1])) <= choice.units_per_window
                start = position + 1


def test_auto_window_on_a_dataset_without_video_is_the_global_order(tmp_path, caplog):
    import logging

    from tests.real_lerobot.record import record_dataset

    dataset = load_plain = LeRobotDataset(
        "episampler/plain", root=record_dataset(tmp_path, "episampler/plain", [5, 6], video=False)
    )
    with caplog.at_level(logging.INFO, logger="episampler"):
        sampler = EpisodeAwareSampler.from_lerobot(load_plain, shuffle=True, window="auto")
    assert sampler.window is None and "no video feature" in caplog.text
    assert sorted(sampler) == list(range(len(dataset)))


def test_inspect_prints_the_automatic_window(root):
    import subprocess
    import sys

    from tests.support import REPOSITORY

    choice = auto_window(load(root), 6)
    command = [sys.executable, "-m", "episampler.inspect", "--lerobot-root", str(root),
               "--repo-id", REPO_ID, "--decoder-cache-size", "6", "--windows", "0"]  # fmt: skip
    result = subprocess.run(command, cwd=REPOSITORY, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert choice.window is not None and choice.reason in result.stdout.splitlines()
