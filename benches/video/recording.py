"""The recorded datasets: what they hold, recording them with the tests' recorder (LeRobot's own
writer), and loading them back."""

from __future__ import annotations

import argparse
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tests.real_lerobot.record import record_dataset

REPO_ID = "episampler/video_bench"  # the id datasets are loaded with (LeRobot stores none)
CAMERAS = tuple(f"observation.images.cam{i}" for i in range(3))
FPS = 30
APPEND_MB = 1e6  # a video file size limit no file reaches: the writer appends
NEW_FILE_MB = 1e-6  # one every file exceeds: the writer starts a new file
RESTORED_MB = 200  # LeRobot's DEFAULT_VIDEO_FILE_SIZE_IN_MB, written back after recording


@dataclass(frozen=True)
class Recording:
    """What a recorded dataset holds; stored next to it to decide whether it can be reused."""

    gop: int | None  # None: LeRobot's default encoder settings
    episodes: int
    episodes_per_file: int
    min_length: int
    max_length: int
    size: int
    seed: int

    @classmethod
    def of(cls, args: argparse.Namespace, gop: int | None) -> Recording:
        """The recording the command line asks for, at keyframe spacing `gop`."""
        return cls(
            gop,
            args.episodes,
            args.episodes_per_file,
            args.min_length,
            args.max_length,
            args.size,
            args.record_seed,
        )

    @property
    def name(self) -> str:
        return f"gop-{'default' if self.gop is None else self.gop}"


def episode_lengths(recording: Recording) -> np.ndarray:
    rng = np.random.default_rng(recording.seed)
    return rng.integers(recording.min_length, recording.max_length + 1, recording.episodes)


def camera_frames(episode: int, length: int, size: int, seed: int) -> np.ndarray:
    """`(cameras, length, size, size, 3)` uint8: per camera, a sum of drifting sinusoid
    gratings (different per episode and camera), a moving bright square and mild noise, so the
    codec has texture, motion and some entropy to work on."""
    rng = np.random.default_rng((seed, episode))
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    frames = np.empty((len(CAMERAS), length, size, size, 3), dtype=np.float32)
    for camera in range(len(CAMERAS)):
        freqs = rng.uniform(0.04, 0.35, (3, 2)).astype(np.float32)
        phases = rng.uniform(0, 2 * np.pi, 3).astype(np.float32)
        speed = rng.uniform(0.5, 3.0, 2).astype(np.float32)
        square = rng.uniform(0, size - 12, 2)
        velocity = rng.uniform(-2.0, 2.0, 2)
        for frame in range(length):
            shift_x, shift_y = speed * frame
            for channel in range(3):
                frames[camera, frame, :, :, channel] = 127 + 90 * np.sin(
                    freqs[channel, 0] * (x + shift_x)
                    + freqs[channel, 1] * (y + shift_y)
                    + phases[channel]
                )
            top, left = ((square + velocity * frame) % (size - 12)).astype(int)
            frames[camera, frame, top : top + 12, left : left + 12] = 250
        frames[camera] += rng.normal(0, 6, frames[camera].shape).astype(np.float32)
    return np.clip(frames, 0, 255).astype(np.uint8)


def record(root: Path, recording: Recording, *, log: Callable[[str], None]) -> Path:
    """Record `recording` under `root / recording.name` (reused when already recorded with the
    same parameters); returns the dataset root."""
    dataset_root = root / recording.name
    marker = dataset_root / "episampler_recording.json"
    wanted = json.dumps(recording.__dict__, sort_keys=True)
    if marker.exists() and marker.read_text() == wanted:
        log(f"reusing {dataset_root}")
        return dataset_root
    shutil.rmtree(dataset_root, ignore_errors=True)

    from lerobot.configs.video import RGBEncoderConfig

    start = time.perf_counter()

    def save_episode(dataset: Any, episode: int) -> None:
        """Start a new video file every `episodes_per_file` episodes, else append."""
        new_file = episode > 0 and episode % recording.episodes_per_file == 0
        dataset.meta.update_chunk_settings(
            video_files_size_in_mb=NEW_FILE_MB if new_file else APPEND_MB
        )
        dataset.save_episode()
        if (episode + 1) % 100 == 0:
            elapsed = time.perf_counter() - start
            log(f"  {recording.name}: {episode + 1}/{recording.episodes} episodes, {elapsed:.0f} s")
        if episode + 1 == recording.episodes:  # before `finalize`
            dataset.meta.update_chunk_settings(video_files_size_in_mb=RESTORED_MB)

    record_dataset(
        root,
        recording.name,  # the folder: `root / recording.name`
        episode_lengths(recording).tolist(),
        video=True,
        tasks=[f"task {episode % 5}" for episode in range(recording.episodes)],
        fps=FPS,
        cameras=CAMERAS,
        image_size=recording.size,
        images=lambda episode, length: camera_frames(
            episode, length, recording.size, recording.seed
        ),
        create_options={
            "rgb_encoder": None if recording.gop is None else RGBEncoderConfig(g=recording.gop),
            "video_files_size_in_mb": APPEND_MB,
        },
        save_episode=save_episode,
    )
    marker.write_text(wanted)
    log(f"recorded {dataset_root} in {time.perf_counter() - start:.0f} s")
    return dataset_root


def load(root: Path) -> Any:
    """The `LeRobotDataset` recorded at `root`."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    return LeRobotDataset(REPO_ID, root=root)


def record_and_load(
    args: argparse.Namespace, gop: int | None, log: Callable[[str], None]
) -> tuple[str, Any]:
    """The command line's recording at keyframe spacing `gop` (recorded if needed): its name and
    the loaded dataset."""
    recording = Recording.of(args, gop)
    return recording.name, load(record(args.out, recording, log=log))


def video_file_groups(dataset: Any) -> np.ndarray:
    """One id per episode: the tuple of video files (chunk, file per camera) holding it."""
    table = dataset.meta.episodes
    keys = np.stack(
        [
            np.asarray(table[f"videos/{camera}/{column}"], dtype=np.int64)
            for camera in CAMERAS
            for column in ("chunk_index", "file_index")
        ],
        axis=1,
    )
    return np.unique(keys, axis=0, return_inverse=True)[1].reshape(-1).astype(np.int64)
