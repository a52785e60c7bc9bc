"""`make_loader` on a real LeRobot 0.6 dataset recorded by LeRobot's own writer (two cameras,
several video files each, uint8 frames as lerobot-train opens them): its batches equal a plain
DataLoader's over `dataset[i]` with its sampler, in spawned worker processes set up as
lerobot-train's, every frame once per epoch, and `resume_from_step` resumes it exactly."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.real_lerobot.conftest import require_lerobot

require_lerobot("0.6")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"

import torch  # noqa: E402
from lerobot.datasets.lerobot_dataset import LeRobotDataset  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from episampler import resume_from_step  # noqa: E402
from episampler.integrations.lerobot import BatchedFetch, make_loader  # noqa: E402
from tests.real_lerobot.record import record_two_cameras  # noqa: E402

REPO_ID = "episampler/loader"
LENGTHS = [12, 9, 15, 11, 8, 14, 10, 13]
BATCH = 8


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return record_two_cameras(
        tmp_path_factory.mktemp("loader"), REPO_ID, LENGTHS, video_files_mb=0.004,
        data_files_mb=0.005, datasets_cache=tmp_path_factory.mktemp("cache"),
    )  # fmt: skip


def load(root: Path) -> LeRobotDataset:
    return LeRobotDataset(REPO_ID, root=root, return_uint8=True)


def assert_batches_equal(got: list[dict], expected: list[dict]) -> None:
    assert len(got) == len(expected)
    for a, b in zip(got, expected, strict=True):
        assert list(a) == list(b)
        for key in a:
            if isinstance(a[key], torch.Tensor):
                assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), key
            else:
                assert a[key] == b[key], key


def reference(dataset: LeRobotDataset, sampler, epochs: int = 1) -> list[dict]:
    """A plain DataLoader over LeRobot's own `dataset[i]` with the same sampler settings."""
    plain = DataLoader(dataset, batch_size=BATCH, sampler=sampler)
    return [batch for _ in range(epochs) for batch in plain]


def test_two_spawned_workers_give_a_plain_loaders_batches(root):
    dataset = load(root)
    loader = make_loader(dataset, batch_size=BATCH, num_workers=2, seed=3)
    assert isinstance(loader.dataset, BatchedFetch)
    assert loader.multiprocessing_context.get_start_method() == "spawn"
    assert (loader.prefetch_factor, loader.persistent_workers) == (4, True)
    assert loader.sampler.window is None  # the global shuffle by default
    got = [batch for _ in range(2) for batch in loader]  # two epochs, persistent workers
    twin = make_loader(dataset, batch_size=BATCH, num_workers=0, seed=3).sampler
    assert_batches_equal(got, reference(dataset, twin, epochs=2))
    frames = torch.cat([batch["index"] for batch in got[: len(got) // 2]]).tolist()
    assert sorted(frames) == list(range(sum(LENGTHS)))  # every frame once per epoch


@pytest.mark.parametrize("window", ["auto", 30])
def test_a_window_reads_locally_and_resumes_exactly(root, window, monkeypatch):
    # A file of each camera at a time: fewer than the dataset has (2 video files per camera).
    monkeypatch.setenv("LEROBOT_VIDEO_DECODER_CACHE_SIZE", "2")
    dataset = load(root)
    loader = make_loader(dataset, batch_size=BATCH, num_workers=0, seed=5, window=window)
    assert loader.sampler.window is not None
    uninterrupted = list(loader)
    frames = torch.cat([batch["index"] for batch in uninterrupted]).tolist()
    assert sorted(frames) == list(range(sum(LENGTHS)))
    twin = make_loader(dataset, batch_size=BATCH, num_workers=0, seed=5, window=window).sampler
    assert_batches_equal(uninterrupted, reference(dataset, twin))
    resumed = make_loader(dataset, batch_size=BATCH, num_workers=0, seed=5, window=window)
    resume_from_step(resumed, 3)
    assert_batches_equal(list(resumed), uninterrupted[3:])


class CountingCalls:
    """Counts calls of LeRobot's decoding function in this process (what BatchedFetch calls)."""

    def __init__(self, monkeypatch) -> None:
        from lerobot.datasets import video_utils

        real = video_utils.decode_video_frames_torchcodec
        self.calls = 0

        def counted(*args, **kwargs):
            self.calls += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(video_utils, "decode_video_frames_torchcodec", counted)


@pytest.mark.parametrize("window", [None, 30])
def test_decoding_ahead_makes_fewer_calls_for_the_same_batches(root, window, monkeypatch):
    dataset = load(root)
    counter = CountingCalls(monkeypatch)
    kwargs = {"batch_size": BATCH, "num_workers": 0, "seed": 2, "window": window}
    without = make_loader(dataset, read_ahead_bytes=0, **kwargs)
    assert without.dataset._plan is None
    expected = [batch for _ in range(2) for batch in without]  # two epochs
    calls_without, counter.calls = counter.calls, 0
    ahead = make_loader(dataset, **kwargs)  # the default budget holds the whole dataset here
    got = [batch for _ in range(2) for batch in ahead]
    assert_batches_equal(got, expected)
    # Each epoch's first batch decodes alone (the frame size is not known yet); the second
    # decodes the rest of the epoch, one call per camera and file.
    assert counter.calls < calls_without / 2, (counter.calls, calls_without)
    assert_batches_equal(got, reference(dataset, make_loader(dataset, **kwargs).sampler, 2))


def test_a_small_budget_or_a_wrong_guess_costs_only_time(root, monkeypatch):
    dataset = load(root)

    def sampler(seed: int = 4):  # a new pass over a sampler starts its next epoch: one each
        return make_loader(dataset, batch_size=BATCH, num_workers=0, seed=seed).sampler

    expected = reference(dataset, sampler())
    frame_bytes = 3 * 64 * 64  # one uint8 frame of one camera
    # Room for about one batch ahead: the buffer never holds more than the budget.
    small = BatchedFetch(
        dataset, read_ahead=sampler(), read_ahead_bytes=2 * BATCH * 2 * frame_bytes
    )
    assert_batches_equal(list(DataLoader(small, batch_size=BATCH, sampler=sampler())), expected)
    # The plan follows another sampler than the one the loader reads: nothing it decodes ahead
    # is asked for, and every batch is still right.
    wrong = BatchedFetch(dataset, read_ahead=sampler(99))
    assert_batches_equal(list(DataLoader(wrong, batch_size=BATCH, sampler=sampler())), expected)
    assert wrong._plan is not None and wrong._buffer == {}  # guessed nothing: nothing held
    resumed = make_loader(dataset, batch_size=BATCH, num_workers=2, seed=4)
    resume_from_step(resumed, 2)
    assert_batches_equal(list(resumed), expected[2:])


def test_read_ahead_arguments_are_checked(root):
    dataset = load(root)
    with pytest.raises(TypeError, match="read_ahead must be None or the sampler"):
        BatchedFetch(dataset, read_ahead=[1, 2])
    with pytest.raises(ValueError, match="read_ahead_bytes"):
        BatchedFetch(dataset, read_ahead=None, read_ahead_bytes=-1)
    with pytest.raises(ValueError, match="read_ahead_bytes"):
        make_loader(dataset, batch_size=BATCH, num_workers=0, read_ahead_bytes=-5)
