"""Record tiny LeRobot datasets with LeRobot's own writer (0.6.x: format v3; 0.3.x: format v2.1).

`record_dataset` works with whichever of the two LeRobot series is installed. Importing this
module imports nothing from LeRobot and changes nothing (no environment variable, no file):
LeRobot is imported when a dataset is recorded. Nothing here needs the Hub.

Every frame carries its identity, so tests can check what a loaded item is without trusting the
dataset's own bookkeeping: `observation.state` is `[episode, frame]`, `action` is
`[episode, frame, -1]` (float32), and with `video=True` the camera image is one flat color,
`frame_color(episode, frame)`.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

CAMERA = "observation.images.cam"
STATE = "observation.state"
ACTION = "action"
# LeRobot's default AV1 encoder (SVT-AV1) crashes with SIGFPE on frames smaller than 64x64.
IMAGE_SIZE = 64
MAX_EPISODES = 8  # what `frame_color` can tell apart
MAX_FRAMES = 32


def lerobot_series() -> str:
    """The installed LeRobot's `major.minor`, e.g. "0.6"."""
    return ".".join(importlib.metadata.version("lerobot").split(".")[:2])


def offline_environment(cache: Path | None = None) -> dict[str, str]:
    """Environment variables for a LeRobot process (e.g. `lerobot-train`) that must not reach the
    Hub and must keep its caches under `cache`: merge them into `os.environ.copy()`. Without
    `cache`, only the two offline switches (the caches stay where they are)."""
    offline = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    if cache is None:
        return offline
    cache = Path(cache)
    return {
        **offline,
        "HF_LEROBOT_HOME": str(cache / "lerobot"),
        "HF_DATASETS_CACHE": str(cache / "datasets"),
    }


def features(
    *,
    video: bool,
    cameras: Sequence[str] = (CAMERA,),
    image_size: int | tuple[int, int] = IMAGE_SIZE,
) -> dict[str, dict[str, Any]]:
    """The recorded features: a 2-d state, a 3-d action and, with `video`, one RGB camera per
    entry of `cameras` (default: one, `CAMERA`), `image_size` pixels square (or a `(height,
    width)`)."""
    height, width = (image_size, image_size) if isinstance(image_size, int) else image_size
    spec: dict[str, dict[str, Any]] = {
        STATE: {"dtype": "float32", "shape": (2,), "names": ["episode", "frame"]},
        ACTION: {"dtype": "float32", "shape": (3,), "names": ["episode", "frame", "constant"]},
    }
    if video:
        for camera in cameras:
            spec[camera] = {
                "dtype": "video",
                "shape": (height, width, 3),
                "names": ["height", "width", "channels"],
            }
    return spec


def frame_color(episode: int, frame: int) -> tuple[int, int, int]:
    """The RGB color (0-255) of every pixel of `frame` of `episode`: red tells the episode, green
    the frame, 25 and 7 levels apart, far more than lossy video coding moves a flat color."""
    if not (0 <= episode < MAX_EPISODES and 0 <= frame < MAX_FRAMES):
        raise ValueError(f"no distinct color for episode {episode}, frame {frame}")
    return 30 + 25 * episode, 10 + 7 * frame, 128


def frame_values(episode: int, frame: int, *, video: bool) -> dict[str, Any]:
    """The feature values recorded for `frame` of `episode` (without the task)."""
    import numpy as np

    values: dict[str, Any] = {
        STATE: np.array([episode, frame], dtype=np.float32),
        ACTION: np.array([episode, frame, -1], dtype=np.float32),
    }
    if video:
        image = np.empty((IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
        image[...] = frame_color(episode, frame)
        values[CAMERA] = image
    return values


def record_dataset(
    root: Path,
    repo_id: str,
    episode_lengths: list[int],
    *,
    video: bool,
    tasks: list[str] | None = None,
    fps: int = 10,
    cameras: Sequence[str] = (CAMERA,),
    image_size: int | tuple[int, int] = IMAGE_SIZE,
    images: Callable[[int, int], Any] | None = None,
    create_options: Mapping[str, Any] | None = None,
    save_episode: Callable[[Any, int], None] | None = None,
) -> Path:
    """Record one episode per entry of `episode_lengths` with LeRobot's writer (`create`,
    `add_frame`, `save_episode`, and `finalize` where it exists) and return the dataset's root,
    `root / repo_id`, which must not exist yet. Load it with
    `LeRobotDataset(repo_id, root=<returned path>)`, or train with `--dataset.root=<it>`.

    `tasks[e]` is episode `e`'s task (default "task 0" for all). With `video`, one 64x64 camera
    is encoded with LeRobot's default video codec.

    For other camera content (e.g. a benchmark's): `images(episode, length)` returns episode
    `episode`'s frames as uint8 `(len(cameras), length, height, width, 3)` (`image_size`: a
    side, or `(height, width)`), recorded
    for `cameras` instead of the flat colors. `create_options` are passed on to
    `LeRobotDataset.create` (e.g. `rgb_encoder=`); `save_episode(dataset, episode)` is called
    instead of `dataset.save_episode()` (e.g. to change the writer's settings around it).
    """
    if not episode_lengths or min(episode_lengths) < 1:
        raise ValueError(f"episode lengths must be >= 1, got {episode_lengths}")
    if video and images is None:
        if len(episode_lengths) > MAX_EPISODES or max(episode_lengths) > MAX_FRAMES:
            raise ValueError(f"video datasets hold up to {MAX_EPISODES} episodes of {MAX_FRAMES}")
        if tuple(cameras) != (CAMERA,) or image_size != IMAGE_SIZE:
            raise ValueError(f"flat-color frames are for one {IMAGE_SIZE}x{IMAGE_SIZE} {CAMERA}")
    if tasks is None:
        tasks = ["task 0"] * len(episode_lengths)
    if len(tasks) != len(episode_lengths):
        raise ValueError(f"{len(tasks)} tasks for {len(episode_lengths)} episodes")

    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    dataset_root = Path(root) / repo_id
    task_is_an_argument = lerobot_series() == "0.3"  # 0.3: add_frame(frame, task); 0.4+: a key
    dataset = LeRobotDataset.create(
        repo_id,
        fps,
        features=features(video=video, cameras=cameras, image_size=image_size),
        root=dataset_root,
        use_videos=video,
        **(create_options or {}),
    )
    for episode, (length, task) in enumerate(zip(episode_lengths, tasks, strict=True)):
        camera_images = images(episode, length) if video and images is not None else None
        for frame in range(length):
            values = frame_values(episode, frame, video=video and camera_images is None)
            if camera_images is not None:
                values.update(zip(cameras, camera_images[:, frame], strict=True))
            if task_is_an_argument:
                dataset.add_frame(values, task=task)
            else:
                dataset.add_frame({**values, "task": task})
        if save_episode is None:
            dataset.save_episode()
        else:
            save_episode(dataset, episode)
    if hasattr(dataset, "finalize"):  # 0.4+: closes the parquet writers (footers)
        dataset.finalize()
    return dataset_root


WRIST = "observation.images.wrist"


def record_two_cameras(
    root: Path,
    repo_id: str,
    episode_lengths: list[int],
    *,
    video_files_mb: float,
    data_files_mb: float,
    datasets_cache: Path,
) -> Path:
    """Record flat-color episodes for two cameras (`CAMERA` and `WRIST`, the same frames) with
    small file-size limits, so that LeRobot's writer (0.6) starts new files every few episodes,
    as it does every few hundred megabytes on real data; returns `root / repo_id`.
    `datasets_cache` stands in for the Hugging Face datasets cache while recording."""
    import datasets
    import pytest
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    spec = features(video=True)
    spec[WRIST] = dict(spec[CAMERA])
    dataset_root = Path(root) / repo_id
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(datasets.config, "HF_DATASETS_CACHE", datasets_cache)
        dataset = LeRobotDataset.create(
            repo_id, 10, features=spec, root=dataset_root, use_videos=True,
            video_files_size_in_mb=video_files_mb, data_files_size_in_mb=data_files_mb,
        )  # fmt: skip
        for episode, length in enumerate(episode_lengths):
            for frame in range(length):
                values = frame_values(episode, frame, video=True)
                dataset.add_frame({**values, WRIST: values[CAMERA], "task": "t"})
            dataset.save_episode()
        dataset.finalize()
    return dataset_root


# --- What a recorded dataset holds, read back independently of LeRobot's bookkeeping ------------


def row_identities(dataset: Any) -> tuple[Any, Any]:
    """`(episodes, frames)`: the recorded episode and frame of every row of a loaded
    `LeRobotDataset` (filtered or not), read from its `observation.state` column."""
    import numpy as np

    state = np.asarray(dataset.hf_dataset.data.column(STATE).to_pylist(), dtype=np.float64)
    return state[:, 0].astype(np.int64), state[:, 1].astype(np.int64)


def kept_rows(
    dataset: Any, lengths: list[int], selected: set[int], first: int = 0, last: int = 0
) -> list[int]:
    """The rows of `dataset` that hold a frame of a `selected` episode that survives dropping
    `first` frames at the start and `last` at the end of its episode, in ascending order."""
    episodes, frames = row_identities(dataset)
    return [
        row
        for row, (episode, frame) in enumerate(zip(episodes.tolist(), frames.tolist(), strict=True))
        if episode in selected and first <= frame < lengths[episode] - last
    ]


def check_item(
    item: dict[str, Any],
    *,
    lengths: list[int],
    fps: int,
    deltas: dict[str, list[float]] | None = None,
) -> tuple[int, int]:
    """Assert that a loaded item is one recorded frame, consistently: its `episode_index` and
    `frame_index` match the recorded state; every `delta_timestamps` window holds the frames of
    that same episode (clamped at its ends, with the right `_is_pad` flags); a camera image has
    the color recorded for its frame. Returns `(episode, frame)`."""
    import torch

    deltas = deltas or {}
    episode, frame = int(item["episode_index"]), int(item["frame_index"])
    length = lengths[episode]
    assert 0 <= frame < length, (episode, frame)

    def window(key: str) -> list[tuple[int, bool]]:
        """(recorded frame, is padding) of each step of `key`'s window; one step without one."""
        steps = [round(delta * fps) for delta in deltas.get(key, [0.0])]
        return [
            (min(max(frame + step, 0), length - 1), not 0 <= frame + step < length)
            for step in steps
        ]

    for key, width in ((STATE, 2), (ACTION, 3)):
        expected_frames = [f for f, _ in window(key)]
        expected = [[episode, f, -1][:width] for f in expected_frames]
        values = item[key].reshape(-1, width).tolist()
        assert values == expected, (key, episode, frame, values)
        if key in deltas:
            assert item[f"{key}_is_pad"].tolist() == [pad for _, pad in window(key)], key

    if CAMERA in item:
        images = item[CAMERA].reshape(-1, 3, IMAGE_SIZE, IMAGE_SIZE).to(torch.float32)
        if item[CAMERA].dtype != torch.uint8:
            images = images * 255
        for image, (f, _) in zip(images, window(CAMERA), strict=True):
            color = torch.tensor(frame_color(episode, f), dtype=torch.float32)
            # Lossy coding moves a flat color by a few levels; frames are 7 levels apart.
            error = (image.mean(dim=(1, 2)) - color).abs().max().item()
            assert error < 3.5, (CAMERA, episode, frame, f, error)
    return episode, frame


def check_shuffled_epochs(
    dataset: Any,
    selected: set[int],
    deltas: dict[str, list[float]] | None,
    *,
    lengths: list[int],
    fps: int,
    first: int,
    last: int,
    seeds: tuple[int, ...],
    permutation: str,
) -> None:
    """Assert that `from_lerobot` over `dataset` (shuffled, with the drops, for every seed and
    two epochs) yields each kept row of the `selected` episodes exactly once per epoch, in orders
    that never repeat, and that every index of one epoch loads as a frame of a selected episode
    (checked with `check_item`)."""
    from episampler import EpisodeAwareSampler

    expected = kept_rows(dataset, lengths, selected, first, last)
    orders = []
    for seed in seeds:
        sampler = EpisodeAwareSampler.from_lerobot(
            dataset, drop_n_first_frames=first, drop_n_last_frames=last, shuffle=True,
            seed=seed, permutation=permutation,
        )  # fmt: skip
        assert len(sampler) == len(expected)
        for _ in range(2):  # two epochs
            order = list(sampler)
            assert sorted(order) == expected
            orders.append(order)
    assert len({tuple(order) for order in orders}) == len(orders), "orders repeat"

    for index in orders[0]:
        episode, frame = check_item(dataset[index], lengths=lengths, fps=fps, deltas=deltas)
        assert episode in selected
        assert first <= frame < lengths[episode] - last


def check_loader_rows(
    dataset: Any,
    sampler: Any,
    selected: set[int],
    deltas: dict[str, list[float]] | None,
    *,
    lengths: list[int],
    fps: int,
) -> None:
    """Assert that a real DataLoader with 2 worker processes over `dataset` and `sampler` (which
    drops 1 frame at each end of an episode) yields, for two epochs, exactly the rows the
    sampler names, in its order, each a consistent frame of a `selected` episode, and that the
    two epochs differ."""
    import torch

    loader = torch.utils.data.DataLoader(dataset, batch_size=8, sampler=sampler, num_workers=2)
    index = dataset.hf_dataset.data.column("index").to_numpy()
    episode_index = dataset.hf_dataset.data.column("episode_index").to_numpy()
    orders = []
    for epoch in range(2):
        order = sampler.epoch_indices()
        assert sampler.epoch == epoch
        got_index, got_episode = [], []
        for batch in loader:
            got_index += batch["index"].tolist()
            got_episode += batch["episode_index"].tolist()
            for row in range(len(batch["index"])):
                item = {key: batch[key][row] for key in batch if key != "task"}
                episode, frame = check_item(item, lengths=lengths, fps=fps, deltas=deltas)
                assert episode in selected and 1 <= frame < lengths[episode] - 1
        assert got_index == index[order].tolist()
        assert got_episode == episode_index[order].tolist()
        assert sorted(order.tolist()) == kept_rows(dataset, lengths, selected, 1, 1)
        orders.append(order.tolist())
    assert orders[0] != orders[1]
