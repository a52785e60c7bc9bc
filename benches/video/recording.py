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
CAMERAS = tuple(f"observation.images.cam{i}" for i in range(3))  # the default: 3 cameras
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
    size: int  # width (and height, unless `height` is set)
    seed: int
    height: int | None = None
    cameras: int = len(CAMERAS)
    # None: every camera's files hold `episodes_per_file` episodes and line up. A size: the
    # writer's own rule starts each camera's new file when it would pass this many MB, and each
    # camera has its own content and bitrate (`CAMERA_NOISE`), so the cameras' files roll over
    # at different episodes, as on real recordings.
    file_mb: float | None = None
    # Each camera its own content and bitrate (`CAMERA_NOISE`); always so with `file_mb`. Without
    # it, the aligned control of a recording whose files roll over apart.
    distinct_cameras: bool = False

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
            getattr(args, "height", None),
            getattr(args, "cameras", len(CAMERAS)),
            getattr(args, "file_mb", None),
            getattr(args, "distinct_cameras", False),
        )

    @property
    def camera_keys(self) -> tuple[str, ...]:
        return camera_keys(self.cameras)

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of every camera."""
        return (self.size if self.height is None else self.height, self.size)

    @property
    def name(self) -> str:
        name = f"gop-{'default' if self.gop is None else self.gop}"
        if self.shape != (64, 64) or self.cameras != len(CAMERAS):
            name += f"-{self.cameras}x{self.shape[0]}x{self.shape[1]}"
        if self.file_mb is not None:
            name += "-apart"
        elif self.episodes_per_file >= self.episodes:
            name += "-one-file"
        elif self.distinct_cameras:
            name += "-aligned"
        if self.seed != 0:  # a held-out recording of the same shape
            name += f"-seed{self.seed}"
        return name

    @property
    def noise(self) -> tuple[float, ...]:
        """Each camera's noise (see `camera_frames`)."""
        if self.file_mb is None and not self.distinct_cameras:
            return (6.0,) * self.cameras
        return CAMERA_NOISE[: self.cameras]


def camera_keys(cameras: int) -> tuple[str, ...]:
    return tuple(f"observation.images.cam{i}" for i in range(cameras))


# Noise (standard deviation, of 255) per camera of a recording whose files roll over apart: the
# noise sets most of a camera's bitrate, hence where its files fill up.
CAMERA_NOISE = (4.0, 6.0, 8.5)


def episode_lengths(recording: Recording) -> np.ndarray:
    rng = np.random.default_rng(recording.seed)
    return rng.integers(recording.min_length, recording.max_length + 1, recording.episodes)


def camera_frames(
    episode: int,
    length: int,
    size: int,
    seed: int,
    *,
    height: int | None = None,
    noise: tuple[float, ...] = (6.0, 6.0, 6.0),
) -> np.ndarray:
    """`(cameras, length, height, size, 3)` uint8, one camera per entry of `noise`: per camera,
    a sum of drifting sinusoid gratings (different per episode and camera), a moving bright
    square and noise of that standard deviation, so the codec has texture, motion and some
    entropy to work on."""
    rng = np.random.default_rng((seed, episode))
    height = size if height is None else height
    y, x = np.mgrid[0:height, 0:size].astype(np.float32)
    frames = np.empty((len(noise), length, height, size, 3), dtype=np.float32)
    square_room = np.array([height - 12, size - 12])
    for camera in range(len(noise)):
        freqs = rng.uniform(0.04, 0.35, (3, 2)).astype(np.float32)
        phases = rng.uniform(0, 2 * np.pi, 3).astype(np.float32)
        speed = rng.uniform(0.5, 3.0, 2).astype(np.float32)
        square = rng.uniform(0, 1, 2) * square_room
        velocity = rng.uniform(-2.0, 2.0, 2) * square_room / 52  # as fast, in frames, as at 64

        for frame in range(length):
            shift_x, shift_y = speed * frame
            for channel in range(3):
                frames[camera, frame, :, :, channel] = 127 + 90 * np.sin(
                    freqs[channel, 0] * (x + shift_x)
                    + freqs[channel, 1] * (y + shift_y)
                    + phases[channel]
                )
            top, left = ((square + velocity * frame) % square_room).astype(int)
            frames[camera, frame, top : top + 12, left : left + 12] = 250
        frames[camera] += rng.normal(0, noise[camera], frames[camera].shape).astype(np.float32)
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
        """Start a new video file every `episodes_per_file` episodes, else append (or, with
        `file_mb`, leave it to the writer's size rule)."""
        if recording.file_mb is None:
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
        cameras=recording.camera_keys,
        image_size=recording.shape,
        images=lambda episode, length: camera_frames(
            episode,
            length,
            recording.size,
            recording.seed,
            height=recording.height,
            noise=recording.noise,
        ),
        create_options={
            "rgb_encoder": None if recording.gop is None else RGBEncoderConfig(g=recording.gop),
            "video_files_size_in_mb": recording.file_mb or APPEND_MB,
        },
        save_episode=save_episode,
    )
    marker.write_text(wanted)
    log(f"recorded {dataset_root} in {time.perf_counter() - start:.0f} s")
    return dataset_root


def load(root: Path, *, return_uint8: bool = False) -> Any:
    """The `LeRobotDataset` recorded at `root` (frames as uint8 with `return_uint8`, as
    lerobot-train opens its datasets)."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    if return_uint8:
        return LeRobotDataset(REPO_ID, root=root, return_uint8=True)
    return LeRobotDataset(REPO_ID, root=root)


def record_and_load(
    args: argparse.Namespace,
    gop: int | None,
    log: Callable[[str], None],
    *,
    return_uint8: bool = False,
) -> tuple[str, Any]:
    """The command line's recording at keyframe spacing `gop` (recorded if needed): its name and
    the loaded dataset."""
    recording = Recording.of(args, gop)
    root = record(args.out, recording, log=log)
    return recording.name, load(root, return_uint8=return_uint8)


def files_per_camera(dataset: Any) -> dict[str, int]:
    """The number of video files of each camera of a loaded dataset."""
    table = dataset.meta.episodes
    return {
        camera: len(
            {
                (int(c), int(f))
                for c, f in zip(
                    table[f"videos/{camera}/chunk_index"],
                    table[f"videos/{camera}/file_index"],
                    strict=True,
                )
            }
        )
        for camera in dataset.meta.video_keys
    }


def video_file_groups(dataset: Any) -> np.ndarray:
    """One id per episode: the tuple of video files (chunk, file per camera) holding it."""
    table = dataset.meta.episodes
    keys = np.stack(
        [
            np.asarray(table[f"videos/{camera}/{column}"], dtype=np.int64)
            for camera in dataset.meta.video_keys
            for column in ("chunk_index", "file_index")
        ],
        axis=1,
    )
    return np.unique(keys, axis=0, return_inverse=True)[1].reshape(-1).astype(np.int64)
