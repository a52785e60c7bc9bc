"""Video-loading throughput of sampler orders on LeRobot v3 datasets recorded here (issue 9).

What it measures
----------------
Training on video datasets is bound by decoding, and the sampler's read order decides how many
video files (torchcodec decoders) each DataLoader worker opens. This script records, with
LeRobot's own writer (`LeRobotDataset.create` / `add_frame` / `save_episode` / `finalize`),
one v3 dataset per keyframe spacing (LeRobot's default GOP, `g=2` in 0.6.1, and `g=30`) with
3 textured, moving 64x64 cameras whose video files each hold `--episodes-per-file` episodes,
then loads each with `LeRobotDataset` and its default decoder (torchcodec through LeRobot's
per-worker `VideoDecoderCache`) and measures, for every order,

- DataLoader frames/s: 2 workers, batches of 64, a fresh DataLoader per measurement, a warm-up
  (which also absorbs the worker start-up), then a fixed number of timed samples; each repeat
  starts every order at the same random point of the epoch (the sampler resumes there), so the
  timed samples cross window boundaries as often as a whole epoch does; the orders are
  interleaved (rotated) within each repeat and the table shows medians and the median of the
  per-repeat ratios to the global "uniform" shuffle, so machine noise cancels as far as it can;
- decoder opens per 1,000 samples per worker: real `torchcodec.decoders.VideoDecoder`
  creations, counted in each worker (a `worker_init_fn` wraps the class LeRobot's cache looks up
  on every miss) and returned alongside the items, over the timed samples only (mean over the
  repeats: a window boundary falls in some timed spans and not in others); next to it, the
  whole-epoch figure and the cache size the order needs from `episampler.inspect.io_report`'s
  simulation of the same caches, when that function exists;
- distinct episodes per batch of 64: from the sampler's order over a whole epoch.

The recommended window (per dataset and cache) is the largest tested window whose decoders fit
the cache (io_report's needed cache size <= the cache) and whose batches hold >= 0.9x the global
shuffle's distinct episodes; the table checks it against the issue's targets. `--profile`
instead samples the DataLoader workers with py-spy (all threads, idle included) under the
global shuffle and each window, and prints where their time goes.

Orders: boundary order (`shuffle=False`), the global "uniform" shuffle, and the windowed
shuffle grouped by video file, `EpisodeAwareSampler.from_lerobot(dataset, shuffle=True,
window=k, group_by="video_file")`, for several window sizes. When the installed episampler has
no `window` yet, the window rows are skipped, or, with `--emulate-window`, produced by a numpy
emulation of the same order, labelled as such: those are the harness's numbers, not episampler's.

Scale: LeRobot keeps one LRU of `LEROBOT_VIDEO_DECODER_CACHE_SIZE` decoders (default 100) per
worker process, shared by the cameras. A real dataset has hundreds or thousands of files per
camera, so a global shuffle misses that cache almost always; recording that many files here
would take hours, so the recorded datasets hold fewer files and `--cache-sizes` sets smaller
caches too (applied in each worker exactly as the environment variable would be), keeping the
ratio of cached decoders to files closer to a large dataset's. The default cache (100) is
measured as well. Every table says which cache it used.

How files get many episodes: LeRobot 0.6.1's writer appends an episode's video to the camera's
latest file unless `latest size + episode size >= video_files_size_in_mb`, in which case it
starts a new file. The recorder sets that limit with the public
`dataset.meta.update_chunk_settings(video_files_size_in_mb=...)` before each `save_episode`:
very large to append, very small to start a new file, so every camera's files hold exactly
`--episodes-per-file` episodes and the cameras' files line up. The keyframe spacing is the
`g` of the `RGBEncoderConfig` passed as `rgb_encoder=` to `LeRobotDataset.create`.

`--fetch` instead compares, on each `--gops` dataset and at LeRobot's default decoder cache
(100 per worker, not emulated), LeRobot's own path (`dataset[i]` under torch's `RandomSampler`,
what LeRobot's `shuffle=True` uses) with `episampler.integrations.lerobot.BatchedFetch` under the
same shuffle, with `window="auto"` alone, with both, and with both plus one stream of windows
per DataLoader worker (`stream_settings(2, 64)`): frames/s and its per-repeat ratio to
LeRobot's path, the DataLoader workers' CPU time per sample (process time of all their threads,
the figure other jobs on the machine move least), calls of LeRobot's decoding function and
decoder opens per 1,000 samples, the workers' peak resident set (VmHWM), distinct episodes and
files per batch. `--markdown FILE` then replaces that section of FILE (or appends it), `--plot`
draws it; `--fetch --fetch-results A.json,B.json` rebuilds both from earlier runs' saved results
(e.g. one run per resolution).

Run (LeRobot 0.6 virtualenv; `pip install matplotlib` for the plot, `py-spy` for `--profile`), e.g.

    .venv-lerobot-0.6/bin/python benches/lerobot_video.py --out target/video-bench \\
        --markdown benches/results_video.md --plot docs/video_loading.png

Recorded datasets are kept in `--out` and reused while their parameters are unchanged.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

REPO_ID = "episampler/video_bench"
CAMERAS = tuple(f"observation.images.cam{i}" for i in range(3))
FPS = 30
BATCH_SIZE = 64
NUM_WORKERS = 2
LEROBOT_DEFAULT_CACHE = 100  # lerobot.datasets.video_utils.DEFAULT_DECODER_CACHE_SIZE
APPEND_MB = 1e6  # a video file size limit no file reaches: the writer appends
NEW_FILE_MB = 1e-6  # one every file exceeds: the writer starts a new file
RESTORED_MB = 200  # LeRobot's DEFAULT_VIDEO_FILE_SIZE_IN_MB, written back after recording


# --- Recording ------------------------------------------------------------------------------


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


def dataset_features(size: int) -> dict[str, dict[str, Any]]:
    spec: dict[str, dict[str, Any]] = {
        "observation.state": {"dtype": "float32", "shape": (2,), "names": ["episode", "frame"]},
        "action": {"dtype": "float32", "shape": (2,), "names": ["a0", "a1"]},
    }
    for camera in CAMERAS:
        spec[camera] = {
            "dtype": "video",
            "shape": (size, size, 3),
            "names": ["height", "width", "channels"],
        }
    return spec


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
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    encoder = None if recording.gop is None else RGBEncoderConfig(g=recording.gop)
    dataset = LeRobotDataset.create(
        REPO_ID,
        FPS,
        features=dataset_features(recording.size),
        root=dataset_root,
        use_videos=True,
        rgb_encoder=encoder,
        video_files_size_in_mb=APPEND_MB,
    )
    lengths = episode_lengths(recording)
    start = time.perf_counter()
    for episode, length in enumerate(lengths.tolist()):
        images = camera_frames(episode, length, recording.size, recording.seed)
        for frame in range(length):
            values: dict[str, Any] = {
                "observation.state": np.array([episode, frame], dtype=np.float32),
                "action": np.array([episode % 7, frame / length], dtype=np.float32),
                "task": f"task {episode % 5}",
            }
            for camera, name in enumerate(CAMERAS):
                values[name] = images[camera, frame]
            dataset.add_frame(values)
        new_file = episode > 0 and episode % recording.episodes_per_file == 0
        dataset.meta.update_chunk_settings(
            video_files_size_in_mb=NEW_FILE_MB if new_file else APPEND_MB
        )
        dataset.save_episode()
        if (episode + 1) % 100 == 0:
            elapsed = time.perf_counter() - start
            log(f"  {recording.name}: {episode + 1}/{recording.episodes} episodes, {elapsed:.0f} s")
    dataset.meta.update_chunk_settings(video_files_size_in_mb=RESTORED_MB)
    dataset.finalize()
    marker.write_text(wanted)
    log(f"recorded {dataset_root} in {time.perf_counter() - start:.0f} s")
    return dataset_root


# --- Orders -----------------------------------------------------------------------------------


def window_supported() -> bool:
    """Whether the installed episampler has the windowed order (`window=`)."""
    from episampler import EpisodeAwareSampler

    try:
        EpisodeAwareSampler([0], [10], shuffle=True, window=4)
    except TypeError:
        return False
    return True


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


class EmulatedWindowSampler:
    """NUMPY EMULATION of the windowed order, for validating this harness before episampler has
    `window=`: units (episodes sharing a group, in first-appearance order) permuted by
    (seed, epoch), cut into consecutive windows of >= `window` frames without splitting a unit,
    each window's frames shuffled. Not episampler's order nor its numbers."""

    def __init__(
        self, starts: np.ndarray, ends: np.ndarray, groups: np.ndarray, window: int, seed: int
    ) -> None:
        self.starts, self.ends, self.groups = starts, ends, groups
        self.window, self.seed, self.epoch, self.start = window, seed, 0, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def order(self) -> np.ndarray:
        rng = np.random.default_rng((self.seed, self.epoch))
        _, first = np.unique(self.groups, return_index=True)
        unit_ids = self.groups[np.sort(first)]
        units = [np.flatnonzero(self.groups == unit) for unit in unit_ids]
        pieces: list[np.ndarray] = []
        window: list[np.ndarray] = []
        size = 0
        for position in rng.permutation(len(units)):
            for episode in units[position]:
                window.append(np.arange(self.starts[episode], self.ends[episode]))
                size += int(self.ends[episode] - self.starts[episode])
            if size >= self.window:
                pieces.append(rng.permutation(np.concatenate(window)))
                window, size = [], 0
        if window:
            pieces.append(rng.permutation(np.concatenate(window)))
        return np.concatenate(pieces)

    def __iter__(self) -> Iterator[int]:
        return iter(self.order()[self.start :].tolist())

    def __len__(self) -> int:
        return int((self.ends - self.starts).sum()) - self.start


@dataclass(frozen=True)
class Order:
    label: str
    window: int | None  # frames; None for the boundary and global orders
    shuffle: bool
    emulated: bool = False

    def sampler(self, dataset: Any, seed: int, start: int = 0) -> Any:
        """This order's sampler over `dataset`, resuming at sample `start` of epoch 0."""
        from episampler import EpisodeAwareSampler

        if self.emulated:
            table = dataset.meta.episodes
            emulation = EmulatedWindowSampler(
                np.asarray(table["dataset_from_index"], dtype=np.int64),
                np.asarray(table["dataset_to_index"], dtype=np.int64),
                video_file_groups(dataset),
                int(self.window or 0),
                seed,
            )
            emulation.start = start
            return emulation
        kwargs: dict[str, Any] = {"shuffle": self.shuffle, "seed": seed}
        if self.window is not None:
            kwargs.update(window=self.window, group_by="video_file")
        sampler = EpisodeAwareSampler.from_lerobot(dataset, **kwargs)
        if start:
            sampler.load_state_dict({**sampler.state_dict(), "start_index": start})
        return sampler


def make_orders(windows: Sequence[int], *, emulate: bool) -> list[Order]:
    orders = [Order("boundary", None, False), Order("uniform (global)", None, True)]
    if window_supported():
        orders += [Order(f"window {k}", k, True) for k in windows]
    elif emulate:
        orders += [Order(f"window {k} (numpy EMULATION)", k, True, True) for k in windows]
    return orders


def sampler_order(sampler: Any) -> np.ndarray:
    return np.fromiter(iter(sampler), dtype=np.int64)


def distinct_episodes_per_batch(order: np.ndarray, ends: np.ndarray, batch: int) -> float:
    """Mean distinct episodes in the full batches of `batch` samples of `order`."""
    episodes = np.searchsorted(ends, order, side="right")
    full = len(episodes) // batch * batch
    rows = np.sort(episodes[:full].reshape(-1, batch), axis=1)
    return float(((rows[:, 1:] != rows[:, :-1]).sum(axis=1) + 1).mean())


def files_per_window(order: np.ndarray, ends: np.ndarray, groups: np.ndarray) -> float:
    """Mean video files (per camera) per window of a windowed order: a window is a block of
    the order holding all the frames of its files, so a block ends where the frames of the
    files seen so far add up to the position."""
    episodes = np.searchsorted(ends, order, side="right")
    files = groups[episodes]
    lengths = np.diff(np.concatenate([[0], ends]))
    file_frames = np.bincount(groups, weights=lengths)
    first = np.zeros(len(files), dtype=bool)
    first[np.unique(files, return_index=True)[1]] = True
    owed = np.cumsum(np.where(first, file_frames[files], 0))
    windows = int((owed == np.arange(1, len(files) + 1)).sum())
    return len(np.unique(files)) / max(windows, 1)


# --- Loading ----------------------------------------------------------------------------------

_OPENS = 0  # decoders this worker process created (set up by `_worker_init`)
_CALLS = 0  # calls of LeRobot's decoding function in this worker (set up by `_worker_init`)


def _worker_init(cache_size: int, _worker_id: int) -> None:
    """In each DataLoader worker: LeRobot's decoder cache of `cache_size` (what
    LEROBOT_VIDEO_DECODER_CACHE_SIZE does, set here because the cache object was made at import
    time in the parent), and a count of every decoder LeRobot's cache creates."""
    import torchcodec.decoders
    from lerobot.datasets import video_utils

    os.environ["LEROBOT_VIDEO_DECODER_CACHE_SIZE"] = str(cache_size)
    video_utils._default_decoder_cache.clear()
    video_utils._default_decoder_cache.max_size = cache_size
    real_decoder = torchcodec.decoders.VideoDecoder

    def counting_decoder(*args: Any, **kwargs: Any) -> Any:
        global _OPENS
        _OPENS += 1
        return real_decoder(*args, **kwargs)

    # VideoDecoderCache.get_decoder imports the class from this module on every miss.
    torchcodec.decoders.VideoDecoder = counting_decoder

    # dataset[i] (and BatchedFetch) call the decoding function through this module's name.
    from lerobot.datasets import dataset_reader

    real_decode = dataset_reader.decode_video_frames

    def counting_decode(*args: Any, **kwargs: Any) -> Any:
        global _CALLS
        _CALLS += 1
        return real_decode(*args, **kwargs)

    dataset_reader.decode_video_frames = counting_decode


def _marked(item: dict[str, Any]) -> dict[str, Any]:
    """`item` with the worker id and its counters so far (decoders opened, decoding calls,
    CPU seconds of the whole worker process, all its threads)."""
    import torch.utils.data

    info = torch.utils.data.get_worker_info()
    item["bench_worker"] = -1 if info is None else info.id
    item["bench_opens"] = _OPENS
    item["bench_calls"] = _CALLS
    item["bench_cpu"] = time.process_time()
    # Peak resident set of this worker process so far (VmHWM), in KiB on Linux.
    item["bench_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return item


class CountingDataset:
    """Map-style view of a LeRobotDataset adding, to every item, the worker id and the decoders
    the worker opened so far."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return _marked(self.dataset[index])


class CountingFetch:
    """`episampler.integrations.lerobot.BatchedFetch` over a LeRobotDataset, with the same marks
    as `CountingDataset` on every item (the DataLoader calls `__getitems__`)."""

    def __init__(self, dataset: Any) -> None:
        from episampler.integrations.lerobot import BatchedFetch

        self.fetch = BatchedFetch(dataset)

    def __len__(self) -> int:
        return len(self.fetch)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return _marked(self.fetch[index])

    def __getitems__(self, indices: list[int]) -> list[dict[str, Any]]:
        return [_marked(item) for item in self.fetch.__getitems__(indices)]


@dataclass
class Measurement:
    frames_per_s: float
    opens_per_1000: float
    calls_per_1000: float = float("nan")
    cpu_ms_per_sample: float = float("nan")
    rss_mb: float = float("nan")  # the largest worker's peak resident set, MiB


def measure(
    dataset: Any,
    sampler: Any,
    *,
    cache_size: int,
    warmup_batches: int,
    timed_batches: int,
    profile_to: Path | None = None,
    fetch: bool = False,
) -> Measurement:
    """Frames/s, and per 1,000 samples the decoder opens and decoding calls, and the workers'
    CPU time per sample, over `timed_batches` batches of a fresh 2-worker DataLoader, after
    `warmup_batches` (worker start-up included). `fetch`: items through `BatchedFetch`."""
    import functools

    import torch.utils.data

    loader = torch.utils.data.DataLoader(
        CountingFetch(dataset) if fetch else CountingDataset(dataset),
        batch_size=BATCH_SIZE,
        sampler=sampler,
        num_workers=NUM_WORKERS,
        worker_init_fn=functools.partial(_worker_init, cache_size),
    )
    counters = ("bench_opens", "bench_calls", "bench_cpu")

    def read(batch: dict[str, Any]) -> tuple[int, tuple[float, ...]]:
        return int(batch["bench_worker"][0]), tuple(float(batch[c].max()) for c in counters)

    peak_rss: dict[int, float] = {}

    batches = iter(loader)
    before: dict[int, tuple[float, ...]] = {}
    for _ in range(warmup_batches):
        worker, values = read(next(batches))
        before[worker] = values
    after: dict[int, tuple[float, ...]] = {}
    samples: dict[int, int] = {}
    spy = None if profile_to is None else start_py_spy(profile_to)
    start = time.perf_counter()
    for _ in range(timed_batches):
        batch = next(batches)
        worker, values = read(batch)
        after[worker] = values
        samples[worker] = samples.get(worker, 0) + len(batch["bench_worker"])
        if "bench_rss" in batch:
            peak_rss[worker] = float(batch["bench_rss"].max()) / 1024
    elapsed = time.perf_counter() - start
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=60)
    del batches  # shuts the workers down
    # A worker's last warm-up batch marks its start (none: it counted from its birth).
    totals = [
        sum(after[w][c] - before.get(w, (0.0, 0.0, 0.0))[c] for w in after)
        for c in range(len(counters))
    ]
    total = sum(samples.values())
    return Measurement(
        timed_batches * BATCH_SIZE / elapsed,
        1000 * totals[0] / total,
        1000 * totals[1] / total,
        1000 * totals[2] / total,
        max(peak_rss.values(), default=float("nan")),
    )


# --- The benchmark ----------------------------------------------------------------------------


@dataclass
class Row:
    dataset: str
    cache_size: int
    order: Order
    frames_per_s: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)  # to the global shuffle, same repeat
    opens: list[float] = field(default_factory=list)
    distinct: list[float] = field(default_factory=list)
    files: list[float] = field(default_factory=list)
    simulated_opens: list[float] = field(default_factory=list)
    needed_cache: list[float] = field(default_factory=list)


def simulated_io(sampler: Any, groups: np.ndarray, cache_size: int) -> tuple[float, float]:
    """`episampler.inspect.io_report`'s simulated decoder opens per 1,000 samples and needed
    cache size for this order, or NaNs when the report does not exist (yet)."""
    try:
        from episampler.inspect import io_report
    except ImportError:
        return float("nan"), float("nan")
    if not hasattr(sampler, "num_frames"):  # the numpy emulation
        return float("nan"), float("nan")
    try:
        report = io_report(
            sampler,
            batch_size=BATCH_SIZE,
            num_workers=NUM_WORKERS,
            decoder_cache_size=cache_size,
            decoders_per_group=len(CAMERAS),
            groups=groups,
        )
        figures = report["sampler"]
        return float(figures["opens_per_1000_samples"]), float(figures["needed_cache_size"])
    except (TypeError, KeyError, ValueError) as error:  # an io_report of another shape
        print(f"io_report unusable here: {error!r}", file=sys.stderr)
        return float("nan"), float("nan")


def run(args: argparse.Namespace, log: Callable[[str], None]) -> list[Row]:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    recordings = [Recording.of(args, gop) for gop in args.gops]
    roots = [record(args.out, recording, log=log) for recording in recordings]
    if args.record_only:
        return []
    datasets = {
        recording.name: LeRobotDataset(REPO_ID, root=root)
        for recording, root in zip(recordings, roots, strict=True)
    }
    orders = make_orders(args.windows, emulate=args.emulate_window)
    if not any(order.window for order in orders):
        log("episampler has no window= yet and --emulate-window is off: window rows skipped")
    rows = {
        (name, cache, order.label): Row(name, cache, order)
        for name in datasets
        for cache in args.cache_sizes
        for order in orders
    }
    for name, dataset in datasets.items():  # the order figures (no decoding)
        table = dataset.meta.episodes
        ends = np.asarray(table["dataset_to_index"], dtype=np.int64)
        groups = video_file_groups(dataset)
        log(
            f"{name}: {len(dataset):,} frames, {len(ends):,} episodes, "
            f"{len(np.unique(groups))} video files per camera"
        )
        for seed in range(args.repeats):
            for order in orders:
                sampler = order.sampler(dataset, seed)
                sequence = sampler_order(sampler)
                distinct = distinct_episodes_per_batch(sequence, ends, BATCH_SIZE)
                files = files_per_window(sequence, ends, groups) if order.window else float("nan")
                for cache in args.cache_sizes:
                    row = rows[(name, cache, order.label)]
                    row.distinct.append(distinct)
                    row.files.append(files)
                    simulated, needed = simulated_io(sampler, groups, cache)
                    row.simulated_opens.append(simulated)
                    row.needed_cache.append(needed)
    needed = (args.warmup_batches + args.timed_batches) * BATCH_SIZE
    for repeat in range(args.repeats):
        for name, dataset in datasets.items():
            # Each repeat reads from a random point of the epoch (the same for every order), so
            # the timed samples cross window boundaries as often as a whole epoch does.
            start = int(
                np.random.default_rng((args.record_seed, repeat)).integers(
                    0, max(1, len(dataset) - needed)
                )
            )
            for cache in args.cache_sizes:
                # Interleaved, rotated each repeat so no order always runs first.
                shift = repeat % len(orders)
                results: dict[str, Measurement] = {}
                for order in orders[shift:] + orders[:shift]:
                    sampler = order.sampler(dataset, repeat, start)
                    result = measure(
                        dataset,
                        sampler,
                        cache_size=cache,
                        warmup_batches=args.warmup_batches,
                        timed_batches=args.timed_batches,
                    )
                    results[order.label] = result
                    log(
                        f"repeat {repeat} {name} cache {cache} {order.label}: "
                        f"{result.frames_per_s:,.0f} frames/s, "
                        f"{result.opens_per_1000:,.0f} opens/1000 samples"
                    )
                reference = results[orders[1].label].frames_per_s
                for label, result in results.items():
                    row = rows[(name, cache, label)]
                    row.frames_per_s.append(result.frames_per_s)
                    row.ratios.append(result.frames_per_s / reference)
                    row.opens.append(result.opens_per_1000)
            # Partial results survive an interrupted run (rebuild with --from-results).
            partial = {"header": "partial run", "rows": [row_to_json(r) for r in rows.values()]}
            (args.out / "results.json").write_text(json.dumps(partial))
    return list(rows.values())


def median(values: Sequence[float]) -> float:
    clean = [v for v in values if v == v]
    return statistics.median(clean) if clean else float("nan")


DATASET_TITLES = {
    "gop-default": "keyframe spacing: LeRobot's default (g=2)",
    "gop-30": "keyframe spacing g=30",
}
TARGETS = {"gop-default": 1.4, "gop-30": 1.5}  # issue 9: frames/s of the window vs uniform


def mean(values: Sequence[float]) -> float:
    clean = [v for v in values if v == v]
    return statistics.fmean(clean) if clean else float("nan")


def recommended(group: Sequence[Row], uniform: Row) -> Row | None:
    """The largest window whose decoders fit the cache (io_report's needed cache size, else
    the measured opens <= 1/10 of the global shuffle's) and whose batches hold >= 0.9x the
    global shuffle's distinct episodes."""
    best = None
    for row in group:
        if row.order.window is None:
            continue
        needed = median(row.needed_cache)
        fits = (
            needed <= row.cache_size
            if needed == needed
            else (mean(row.opens) <= mean(uniform.opens) / 10)
        )
        enough = median(row.distinct) >= 0.9 * median(uniform.distinct)
        if fits and enough and (best is None or row.order.window > (best.order.window or 0)):
            best = row
    return best


def target_checks(row: Row, uniform: Row) -> str:
    """The issue's targets for a window row against the global shuffle, as text."""
    speed = median(row.ratios)
    speed_target = TARGETS.get(row.dataset, 1.4)
    opens = mean(row.opens) / mean(uniform.opens)
    distinct = median(row.distinct) / median(uniform.distinct)
    checks = [
        (f"frames/s {speed:.2f}x (target >= {speed_target}x)", speed >= speed_target),
        (f"decoder opens {opens:.3f}x (target <= 0.1x)", opens <= 0.1),
        (f"distinct episodes {distinct:.2f}x (target >= 0.9x)", distinct >= 0.9),
    ]
    return "; ".join(f"{text} {'met' if ok else 'NOT met'}" for text, ok in checks)


def fmt(value: float, digits: int = 0) -> str:
    return "—" if value != value else f"{value:,.{digits}f}"


def markdown(rows: Sequence[Row], header: str) -> str:
    lines = [header, ""]
    for dataset, cache in dict.fromkeys((r.dataset, r.cache_size) for r in rows):
        group = [r for r in rows if (r.dataset, r.cache_size) == (dataset, cache)]
        uniform = next(r for r in group if r.order.label.startswith("uniform"))
        emulated = "emulated scale" if cache < LEROBOT_DEFAULT_CACHE else "LeRobot's default"
        lines += [
            f"### {dataset}, decoder cache {cache} per worker ({emulated})",
            "",
            "| order | files per window | frames/s (median, min to max) | vs uniform | "
            "decoder opens / 1,000 samples / worker (mean) | vs uniform | simulated opens "
            "(io_report, whole epoch) | cache needed (io_report) | distinct episodes / batch "
            "of 64 | vs uniform |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        chosen = recommended(group, uniform)
        for row in group:
            mark = " **(recommended)**" if row is chosen else ""
            fps = row.frames_per_s
            lines.append(
                f"| {row.order.label}{mark} | {fmt(median(row.files), 1)} | "
                f"{fmt(median(fps))} ({fmt(min(fps, default=float('nan')))} to "
                f"{fmt(max(fps, default=float('nan')))}) | {fmt(median(row.ratios), 2)}x | "
                f"{fmt(mean(row.opens), 1)} | "
                f"{fmt(mean(row.opens) / mean(uniform.opens), 3)}x | "
                f"{fmt(median(row.simulated_opens), 1)} | {fmt(median(row.needed_cache))} | "
                f"{fmt(median(row.distinct), 1)} | "
                f"{fmt(median(row.distinct) / median(uniform.distinct), 2)}x |"
            )
        lines.append("")
        if chosen is not None:
            lines += [
                f"Recommended window ({chosen.order.label}) vs uniform: "
                f"{target_checks(chosen, uniform)}.",
                "",
            ]
        else:
            lines += ["No tested window fits the cache with enough distinct episodes.", ""]
    return "\n".join(lines)


def plot(rows: Sequence[Row], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(r.dataset for r in rows))
    caches = list(dict.fromkeys(r.cache_size for r in rows))
    figure, axes = plt.subplots(1, len(datasets), figsize=(6.5 * len(datasets), 5), squeeze=False)
    for axis, dataset in zip(axes[0], datasets, strict=True):
        for cache, marker in zip(caches, "os^D", strict=False):
            group = [r for r in rows if (r.dataset, r.cache_size) == (dataset, cache)]
            xs = [median(r.distinct) for r in group]
            ys = [median(r.frames_per_s) for r in group]
            scale = "emulated scale" if cache < LEROBOT_DEFAULT_CACHE else "LeRobot's default"
            label = f"decoder cache {cache} per worker ({scale})"
            axis.plot(xs, ys, marker, linestyle="none", label=label)
            for row, x, y in zip(group, xs, ys, strict=True):
                axis.annotate(
                    row.order.label.replace(" (global)", ""),
                    (x, y),
                    fontsize=7,
                    xytext=(4, 3),
                    textcoords="offset points",
                )
        axis.set_title(DATASET_TITLES.get(dataset, dataset))
        axis.set_xlabel("distinct episodes per batch of 64")
        axis.set_ylabel("DataLoader frames/s (2 workers, median)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.suptitle(
        "LeRobot 0.6.1 video loading, 3 cameras, 2 DataLoader workers: frames/s against "
        "distinct episodes per batch of 64 (medians)",
        fontsize=10,
    )
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)


SPY_RATE = 250  # samples per second and thread


def start_py_spy(output: Path) -> subprocess.Popen[bytes]:
    """py-spy sampling this process and its DataLoader workers (all threads, so LeRobot's
    per-item camera decoding threads too) into collapsed stacks at `output`, until SIGINT."""
    spy = Path(sys.executable).with_name("py-spy")
    command = [str(spy) if spy.exists() else "py-spy", "record", "--pid", str(os.getpid())]
    command += ["--subprocesses", "--idle", "--format", "raw", "--rate", str(SPY_RATE)]
    command += ["-o", str(output)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2.0)  # attach before the timed batches
    return process


WORKER_BUCKETS = (  # (label, regex on the stack): the first match names a sample
    ("idle: waiting for indices from the main process", None),
    ("camera frames: thread pool start and stop (a new pool per item)", r"ThreadPoolExecutor"),
    ("episode metadata row, meta.episodes[ep]", r"_query_videos \([^;]*;Dataset\.__getitem__"),
    ("camera frames: waiting for the decoding threads", r"_query_videos"),
    ("parquet row and delta queries (hf_dataset)", r"datasets/"),
    ("collate and send the batch", r"collate"),
    ("other item work (LeRobot, torch)", r"get_item"),
)
DECODE_BUCKETS = (
    ("decoder open (torchcodec VideoDecoder, file open)", r"counting_decoder|fsspec"),
    ("frame decode and seek (get_frames_at)", r"get_frames_at"),
    (
        "decoder cache lookup, incl. waiting for its lock (held while any camera opens one)",
        r"get_decoder",
    ),
    ("episode metadata row per camera (get_video_file_path)", r"get_video_file_path"),
    ("other decode-path Python (timestamps, tolerance check, tensors)", r"_decode_single"),
    ("thread start, exit and idle waits", None),
)


FETCH_WORKER_BUCKETS = (  # the workers' main threads under BatchedFetch
    ("idle: waiting for indices from the main process", None),
    ("decoding: waiting for its threads (decoding in place for a lone group)", r"_run_groups"),
    ("rows, windows and timestamps read (hf_dataset)", r"datasets/"),
    ("per-item finishing (padding, transforms, task string)", r"_finish"),
    ("grouping the batch's frames by camera and file", r"_decode"),
    ("building the items from the rows", r"__getitems__"),
    ("collate and send the batch", r"collate"),
    ("other (sampler indices, DataLoader)", r"."),
)
FETCH_DECODE_BUCKETS = (
    *DECODE_BUCKETS[:3],
    ("other decode-path Python (timestamps, tolerance check, tensors)", r"decode_video_frames"),
    ("idle: waiting for a group to decode", None),
)


def summarize_stacks(
    path: Path,
    samples: int,
    rate: int,
    worker_buckets: Sequence[tuple[str, str | None]] = (),
    decode_buckets: Sequence[tuple[str, str | None]] = (),
    busy_only: bool = False,
) -> str:
    """Where the DataLoader workers spend their time, from py-spy's collapsed stacks (idle
    samples included): the workers' main threads (wall time, per sample) and LeRobot's camera
    decoding threads (thread time, per sample)."""
    main: dict[str, int] = {}
    decode: dict[str, int] = {}
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        frames = stack.split(";")
        if not count_text.isdigit() or len(frames) < 2 or not frames[1].startswith("process "):
            continue  # the main process's own threads
        count = int(count_text)
        if "_worker_loop" in stack:
            buckets, table = worker_buckets or WORKER_BUCKETS, main
            work = stack.split("_worker_loop", 1)[1]  # not the process name (its arguments)
            if "fetch (" not in work and "_MapDatasetFetcher.fetch" not in work:
                table[buckets[0][0]] = table.get(buckets[0][0], 0) + count
                continue
        elif "concurrent/futures/thread.py" in stack:
            buckets, table = decode_buckets or DECODE_BUCKETS, decode
        else:
            continue
        label = next(
            (lbl for lbl, mark in buckets if mark and re.search(mark, stack)), buckets[-1][0]
        )
        if buckets is WORKER_BUCKETS and label == buckets[-1][0] and "get_item" not in stack:
            label = "other (sampler indices, DataLoader)"
        table[label] = table.get(label, 0) + count

    if busy_only:  # idle includes the profiler's attach wait, when the workers are ahead
        main.pop((worker_buckets or WORKER_BUCKETS)[0][0], None)
        decode.pop((decode_buckets or DECODE_BUCKETS)[-1][0], None)

    def table_lines(title: str, table: dict[str, int]) -> list[str]:
        total = sum(table.values())
        lines = [f"| {title} | share | ms per sample |", "| --- | ---: | ---: |"]
        for label, count in sorted(table.items(), key=lambda kv: -kv[1]):
            ms = 1000 * count / rate / samples
            lines.append(f"| {label} | {count / max(total, 1):.0%} | {ms:.2f} |")
        ms_total = 1000 * total / rate / samples
        return [*lines, f"| total | 100% | {ms_total:.2f} |"]

    if not main:
        return "(no worker samples: is py-spy installed and allowed to attach?)"
    return "\n".join(
        [
            *table_lines("worker main threads (wall time)", main),
            "",
            *table_lines("camera decoding threads (thread time)", decode),
        ]
    )


def profile(args: argparse.Namespace, log: Callable[[str], None]) -> str:
    """py-spy profiles of the DataLoader workers under the global shuffle and the window
    orders (each recorded dataset, first cache size), summarized as markdown."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    out = []
    samples = args.timed_batches * BATCH_SIZE
    for gop in args.gops:
        recording = Recording.of(args, gop)
        dataset = LeRobotDataset(REPO_ID, root=record(args.out, recording, log=log))
        for order in make_orders(args.windows, emulate=args.emulate_window)[1:]:
            stacks = args.out / f"py-spy-{recording.name}-{order.label.split()[0]}"
            stacks = stacks.with_name(stacks.name + f"-{order.window or 0}.txt")
            result = measure(
                dataset,
                order.sampler(dataset, 0),
                cache_size=args.cache_sizes[0],
                warmup_batches=args.warmup_batches,
                timed_batches=args.timed_batches,
                profile_to=stacks,
            )
            log(f"profiled {recording.name} {order.label}: {result.frames_per_s:,.0f} frames/s")
            out.append(
                f"### {recording.name}, cache {args.cache_sizes[0]}, {order.label}: "
                f"{result.frames_per_s:,.0f} frames/s (under py-spy)\n\n"
                + summarize_stacks(stacks, samples, SPY_RATE)
            )
    return "\n\n".join(out)


# --- BatchedFetch and window="auto" against LeRobot's own loading (--fetch) ----------------


@dataclass(frozen=True)
class FetchSetup:
    """One row of the --fetch comparison: an order and how items are built."""

    label: str
    # "random": torch's RandomSampler (LeRobot's shuffle=True); "auto": window="auto";
    # "streams": window="auto" with one stream of windows per DataLoader worker
    order: str
    fetch: bool  # items through BatchedFetch (else LeRobot's dataset[i])


FETCH_SETUPS = (
    FetchSetup("LeRobot: dataset[i], shuffled (baseline)", "random", False),
    FetchSetup("BatchedFetch, shuffled", "random", True),
    FetchSetup('window="auto", dataset[i]', "auto", False),
    FetchSetup('window="auto" + BatchedFetch', "auto", True),
    FetchSetup('window="auto" + BatchedFetch + streams', "streams", True),
)


@dataclass
class FetchRow:
    setup: FetchSetup
    frames_per_s: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)  # to the baseline, same repeat
    calls: list[float] = field(default_factory=list)
    opens: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    cpu_ratios: list[float] = field(default_factory=list)  # to the baseline, same repeat
    rss_mb: list[float] = field(default_factory=list)  # largest worker's peak RSS
    rss_ratios: list[float] = field(default_factory=list)  # to the baseline, same repeat
    episodes: list[float] = field(default_factory=list)
    files: list[float] = field(default_factory=list)
    loads: list[float] = field(default_factory=list)  # 1-minute load average before each


def fetch_sampler(setup: FetchSetup, dataset: Any, seed: int, start: int) -> Any:
    """The sampler of `setup`: LeRobot's default shuffle (a DataLoader with `shuffle=True`
    draws from torch's RandomSampler), or episampler's window="auto" (with one stream of
    windows per DataLoader worker for "streams") resumed at `start`."""
    import torch

    if setup.order == "random":
        generator = torch.Generator().manual_seed(seed)
        return torch.utils.data.RandomSampler(range(len(dataset)), generator=generator)
    from episampler import EpisodeAwareSampler, stream_settings

    streams = stream_settings(NUM_WORKERS, BATCH_SIZE) if setup.order == "streams" else {}
    sampler = EpisodeAwareSampler.from_lerobot(
        dataset, shuffle=True, seed=seed, window="auto", **streams
    )
    if start:
        sampler.load_state_dict({**sampler.state_dict(), "start_index": start})
    return sampler


def per_batch(order: np.ndarray, ends: np.ndarray, groups: np.ndarray) -> tuple[float, float]:
    """Mean distinct episodes and distinct file groups (per camera) per full batch."""
    episodes = np.searchsorted(ends, order, side="right")
    full = len(episodes) // BATCH_SIZE * BATCH_SIZE
    rows = episodes[:full].reshape(-1, BATCH_SIZE)
    distinct_files = np.mean([len(np.unique(groups[row])) for row in rows])
    return distinct_episodes_per_batch(order, ends, BATCH_SIZE), float(distinct_files)


FETCH_TARGETS = {"gop-default": 2.5, "gop-30": 2.0}  # window="auto" + BatchedFetch vs LeRobot
FETCH_RSS_TARGET = 1.2  # worker peak RSS, at most this times LeRobot's path


@dataclass
class FetchConfig:
    """The rows measured on one recorded dataset."""

    dataset: str  # "gop-default" or "gop-30"
    size: int
    header: str
    reason: str
    command: str
    rows: list[FetchRow]
    profile: str = ""  # --profile: where the workers' time goes under window="auto" + fetch

    @property
    def title(self) -> str:
        spacing = "2 (LeRobot's default)" if self.dataset == "gop-default" else "30"
        return f"{self.size}x{self.size}, keyframe spacing {spacing}"


def run_fetch(args: argparse.Namespace, log: Callable[[str], None]) -> list[FetchConfig]:
    """Every setup of FETCH_SETUPS on each recorded dataset (one per --gops entry), LeRobot's
    default decoder cache, interleaved and rotated repeats."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from episampler._lerobot import auto_window

    configs = []
    for gop in args.gops:
        started = time.perf_counter()
        recording = Recording.of(args, gop)
        dataset = LeRobotDataset(REPO_ID, root=record(args.out, recording, log=log))
        os.environ.pop("LEROBOT_VIDEO_DECODER_CACHE_SIZE", None)  # LeRobot's default cache
        choice = auto_window(dataset)
        log(choice.reason)
        rows = measure_fetch(args, dataset, log)
        summary = ""
        if args.profile:
            summary = profile_fetch(args, dataset, recording.name, log)
        configs.append(
            FetchConfig(
                recording.name,
                args.size,
                describe(args, time.perf_counter() - started),
                choice.reason,
                "",
                rows,
                summary,
            )
        )
    return configs


def profile_fetch(
    args: argparse.Namespace, dataset: Any, name: str, log: Callable[[str], None]
) -> str:
    """One more measurement of window="auto" + BatchedFetch with py-spy sampling the
    workers (all threads, idle included), summarized as markdown."""
    setup = FETCH_SETUPS[3]
    stacks = args.out / f"py-spy-fetch-{name}.txt"
    result = measure(
        dataset,
        fetch_sampler(setup, dataset, 0, 0),
        cache_size=LEROBOT_DEFAULT_CACHE,
        warmup_batches=args.warmup_batches,
        timed_batches=args.timed_batches,
        profile_to=stacks,
        fetch=True,
    )
    log(f"profiled {name} {setup.label}: {result.frames_per_s:,.0f} frames/s")
    samples = args.timed_batches * BATCH_SIZE
    return (
        f"Where a worker's time goes, {setup.label} (py-spy, {SPY_RATE} samples/s per "
        "thread, busy samples only: the workers idle while the main process takes their "
        "batches, and the profiler's attach wait adds idle time; "
        f"{result.frames_per_s:,.0f} frames/s under the profiler):\n\n"
        + summarize_stacks(
            stacks, samples, SPY_RATE, FETCH_WORKER_BUCKETS, FETCH_DECODE_BUCKETS, busy_only=True
        )
    )


def measure_fetch(
    args: argparse.Namespace, dataset: Any, log: Callable[[str], None]
) -> list[FetchRow]:
    ends = np.asarray(dataset.meta.episodes["dataset_to_index"], dtype=np.int64)
    groups = video_file_groups(dataset)
    rows = [FetchRow(FETCH_SETUPS[k]) for k in args.fetch_setups]
    for seed in range(args.repeats):
        for row in rows:
            order = np.fromiter(iter(fetch_sampler(row.setup, dataset, seed, 0)), dtype=np.int64)
            episodes, files = per_batch(order, ends, groups)
            row.episodes.append(episodes)
            row.files.append(files)
    needed = (args.warmup_batches + args.timed_batches) * BATCH_SIZE
    for repeat in range(args.repeats):
        start = int(
            np.random.default_rng((args.record_seed, repeat)).integers(
                0, max(1, len(dataset) - needed)
            )
        )
        shift = repeat % len(rows)
        results: dict[str, Measurement] = {}
        for row in rows[shift:] + rows[:shift]:
            row.loads.append(os.getloadavg()[0])
            result = measure(
                dataset,
                fetch_sampler(row.setup, dataset, repeat, start),
                cache_size=LEROBOT_DEFAULT_CACHE,
                warmup_batches=args.warmup_batches,
                timed_batches=args.timed_batches,
                fetch=row.setup.fetch,
            )
            results[row.setup.label] = result
            log(
                f"repeat {repeat} {row.setup.label}: {result.frames_per_s:,.0f} frames/s, "
                f"{result.calls_per_1000:,.0f} calls, {result.opens_per_1000:,.0f} opens "
                f"per 1000 samples, {result.cpu_ms_per_sample:.2f} CPU ms/sample, "
                f"peak worker RSS {result.rss_mb:,.0f} MiB"
            )
        baseline = results[rows[0].setup.label]
        for row in rows:
            result = results[row.setup.label]
            row.frames_per_s.append(result.frames_per_s)
            row.ratios.append(result.frames_per_s / baseline.frames_per_s)
            row.calls.append(result.calls_per_1000)
            row.opens.append(result.opens_per_1000)
            row.cpu_ms.append(result.cpu_ms_per_sample)
            row.cpu_ratios.append(result.cpu_ms_per_sample / baseline.cpu_ms_per_sample)
            row.rss_mb.append(result.rss_mb)
            row.rss_ratios.append(result.rss_mb / baseline.rss_mb)
    return rows


def fetch_config_to_json(config: FetchConfig) -> dict[str, Any]:
    return {
        **{k: v for k, v in config.__dict__.items() if k != "rows"},
        "rows": [
            {"setup": row.setup.__dict__, **{k: v for k, v in row.__dict__.items() if k != "setup"}}
            for row in config.rows
        ],
    }


def fetch_config_from_json(saved: dict[str, Any]) -> FetchConfig:
    rows = []
    for entry in saved["rows"]:
        row = FetchRow(FetchSetup(**entry["setup"]))
        for name, value in entry.items():
            if name != "setup":
                setattr(row, name, [float("nan") if v is None else v for v in value])
        rows.append(row)
    return FetchConfig(**{**saved, "rows": rows})


FETCH_BEGIN = "<!-- batched-fetch: begin (written by benches/lerobot_video.py --fetch) -->"
FETCH_END = "<!-- batched-fetch: end -->"


def fetch_markdown(
    configs: Sequence[FetchConfig], plot_link: str | None, merge_command: str | None = None
) -> str:
    commands = list(dict.fromkeys(config.command for config in configs))
    commands += [merge_command] if merge_command else []
    lines = [
        FETCH_BEGIN,
        "## Batched fetch and the automatic window, at LeRobot's defaults",
        "",
        "Measured with `benches/lerobot_video.py --fetch`, which records its datasets with "
        "LeRobot's own writer (the same recorder as above: 3 cameras, 20 episodes per video "
        "file, more files per camera than LeRobot's default decoder cache holds) and wrote "
        "this section (a command with `--fetch-results` merges the runs' saved results):",
        "",
        *[f"    .venv-lerobot-0.6/bin/python benches/lerobot_video.py {c}" for c in commands],
        "",
        "Every row against LeRobot 0.6.1's own path in the same run: `dataset[i]` per item "
        "under LeRobot's default shuffle (a DataLoader with `shuffle=True` draws from torch's "
        "`RandomSampler`), with LeRobot's default decoder cache (100 per worker, not "
        "emulated) in every row. LeRobot's training script defaults to 4 DataLoader workers; "
        "on 2 cores this uses 2. Streams: `stream_settings(2, 64)`, one stream of windows per "
        "worker. Decoding calls count calls of LeRobot's decoding function "
        "(`decode_video_frames`); opens count the decoders LeRobot's cache creates; worker CPU "
        "is the process time of the DataLoader workers (all their threads) over the timed "
        "samples; worker RSS is the larger of the two workers' peak resident set (VmHWM) at "
        "the end of the timed batches. Ratios are medians of the per-repeat ratios to "
        "LeRobot's path.",
        "",
    ]
    if plot_link is not None:
        lines += [f"![frames/s and distinct episodes per batch]({plot_link})", ""]
    for config in configs:
        rows = config.rows
        lines += [
            f"### {config.title}",
            "",
            config.header,
            "",
            f"Automatic window: {config.reason}",
            "",
            "| loading | frames/s (median, min to max) | vs LeRobot | worker CPU ms / sample "
            "| vs LeRobot | decoding calls / 1,000 samples | decoder opens / 1,000 samples | "
            "worker peak RSS, MiB | vs LeRobot | distinct episodes / batch of 64 | distinct "
            "files / batch (per camera) |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for row in rows:
            fps = row.frames_per_s
            lines.append(
                f"| {row.setup.label} | {fmt(median(fps))} ({fmt(min(fps))} to "
                f"{fmt(max(fps))}) | {fmt(median(row.ratios), 2)}x | "
                f"{fmt(median(row.cpu_ms), 2)} | {fmt(median(row.cpu_ratios), 2)}x | "
                f"{fmt(mean(row.calls), 1)} | {fmt(mean(row.opens), 1)} | "
                f"{fmt(median(row.rss_mb))} | {fmt(median(row.rss_ratios), 2)}x | "
                f"{fmt(median(row.episodes), 1)} | {fmt(median(row.files), 1)} |"
            )
        baseline, fetch_alone, both = rows[0], rows[1], rows[3]
        loads = [load for row in rows for load in row.loads]
        target = FETCH_TARGETS.get(config.dataset) if config.size == 64 else None
        checks = []
        if target is not None:
            met = "met" if median(both.ratios) >= target else "not met"
            checks.append(
                f'window="auto" + BatchedFetch {fmt(median(both.ratios), 2)}x LeRobot\'s '
                f"frames/s (target >= {target}x: {met})"
            )
        else:
            checks.append(
                f'window="auto" + BatchedFetch {fmt(median(both.ratios), 2)}x LeRobot\'s '
                "frames/s (at this resolution the target is to report it)"
            )
        met = "met" if median(fetch_alone.ratios) >= 1.0 else "not met"
        checks.append(
            f"BatchedFetch alone {fmt(median(fetch_alone.ratios), 2)}x (target: not slower, {met})"
        )
        worst = max(median(row.rss_ratios) for row in rows[1:])
        met = "met" if worst <= FETCH_RSS_TARGET else "not met"
        checks.append(
            f"worker RSS at most {fmt(worst, 2)}x LeRobot's "
            f"{fmt(median(baseline.rss_mb))} MiB (target <= {FETCH_RSS_TARGET}x: {met})"
        )
        lines += [
            "",
            "Targets: " + "; ".join(checks) + ". The machine's 1-minute load average before "
            f"the measurements ranged from {fmt(min(loads, default=float('nan')), 1)} to "
            f"{fmt(max(loads, default=float('nan')), 1)} on its 2 cores (other jobs ran "
            "beside this one), so frames/s moved from repeat to repeat; the CPU time per "
            "sample, which other jobs move far less, is the steadier figure.",
            "",
        ]
        if config.profile:
            lines += [config.profile, ""]
    lines.append(FETCH_END)
    return "\n".join(lines)


def fetch_plot(configs: Sequence[FetchConfig], path: Path) -> None:
    """Per dataset: each row's frames/s ratio to LeRobot's path (bars) with its distinct
    episodes per batch written on it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(configs), figsize=(4.6 * len(configs), 4.6), squeeze=False)
    colors = ["#888888", "#c9a227", "#6a9fd4", "#2e6fb5", "#17477d"]
    for axis, config in zip(axes[0], configs, strict=True):
        labels = [
            row.setup.label.replace(" (baseline)", "")
            .replace("LeRobot: dataset[i], shuffled", "LeRobot")
            .replace('window="auto"', "auto")
            .replace("BatchedFetch", "fetch")
            for row in config.rows
        ]
        ratios = [median(row.ratios) for row in config.rows]
        bars = axis.bar(range(len(ratios)), ratios, color=colors[: len(ratios)])
        for bar, row in zip(bars, config.rows, strict=True):
            axis.annotate(
                f"{median(row.ratios):.2f}x\n{median(row.episodes):.0f} ep.",
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=7,
            )
        axis.axhline(1.0, color="black", linewidth=0.8)
        axis.set_xticks(range(len(labels)), labels, rotation=35, ha="right", fontsize=7)
        axis.set_title(config.title, fontsize=9)
        axis.set_ylabel("frames/s vs LeRobot's path (median ratio)")
        axis.set_ylim(0, max(ratios) * 1.25)
        axis.grid(axis="y", alpha=0.3)
    figure.suptitle(
        "LeRobot 0.6.1, 3 cameras, decoder cache 100, 2 workers, batch 64: frames/s ratio "
        "(label: distinct episodes per batch of 64)",
        fontsize=9,
    )
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)


def write_fetch_section(path: Path, section: str) -> None:
    """Replace the batched-fetch section of `path` (or append it)."""
    text = path.read_text() if path.exists() else ""
    if FETCH_BEGIN in text and FETCH_END in text:
        before, rest = text.split(FETCH_BEGIN, 1)
        after = rest.split(FETCH_END, 1)[1]
        text = before + section + after
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="See the module docstring for what is measured and how.",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("target/video-bench"),
        help="where datasets are recorded (and reused) (default: %(default)s)",
    )
    parser.add_argument(
        "--gops",
        type=lambda s: [None if g == "default" else int(g) for g in s.split(",")],
        default=[None, 30],
        help="keyframe spacings, 'default' = LeRobot's (default: default,30)",
    )
    parser.add_argument("--episodes", type=int, default=1280)
    parser.add_argument("--episodes-per-file", type=int, default=20)
    parser.add_argument("--min-length", type=int, default=12, help="frames per episode, min")
    parser.add_argument("--max-length", type=int, default=20, help="frames per episode, max")
    parser.add_argument("--size", type=int, default=64, help="camera width and height (>= 64)")
    parser.add_argument("--record-seed", type=int, default=0)
    parser.add_argument(
        "--windows",
        type=lambda s: [int(k) for k in s.split(",")],
        default=[1280, 2560, 5120, 10240],
        help="window sizes in frames (default: %(default)s, i.e. about 4, 8, 16 and 32 "
        "files of 20 episodes of 16 frames)",
    )
    parser.add_argument(
        "--cache-sizes",
        type=lambda s: [int(c) for c in s.split(",")],
        default=[60, LEROBOT_DEFAULT_CACHE],
        help="decoder cache sizes per worker (default: %(default)s)",
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup-batches", type=int, default=12)
    parser.add_argument(
        "--timed-batches",
        type=int,
        default=60,
        help="timed batches of 64 per measurement (default: %(default)s)",
    )
    parser.add_argument(
        "--emulate-window",
        action="store_true",
        help="without episampler's window=, emulate it with numpy (labelled)",
    )
    parser.add_argument("--record-only", action="store_true")
    parser.add_argument(
        "--fetch",
        action="store_true",
        help="instead of the order table: BatchedFetch and window='auto' against LeRobot's "
        "own loading (default cache, each --gops entry); --markdown then replaces that "
        "section of the file",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="instead of the table, py-spy the workers for each shuffled order; with "
        "--fetch, also profile window='auto' + BatchedFetch after the measurements",
    )
    parser.add_argument(
        "--from-results",
        type=Path,
        help="rebuild the tables and plot from a results.json a previous run wrote to --out",
    )
    parser.add_argument(
        "--fetch-results",
        type=lambda s: [Path(p) for p in s.split(",")],
        help="with --fetch: no measuring, rebuild the section (and plot) from these "
        "fetch-results.json files of earlier --fetch runs, in order",
    )
    parser.add_argument(
        "--fetch-setups",
        type=lambda s: [int(k) for k in s.split(",")],
        default=list(range(len(FETCH_SETUPS))),
        help="with --fetch: measure only these rows (0 = LeRobot's path, the baseline, must "
        "come first; 1 BatchedFetch shuffled, 2 window='auto', 3 both, 4 both + streams); the "
        "markdown needs all of them",
    )
    parser.add_argument("--markdown", type=Path, help="write the tables here")
    parser.add_argument("--plot", type=Path, help="write the plot (PNG) here")
    args = parser.parse_args(argv)
    if args.size < 64:
        parser.error("--size must be >= 64 (LeRobot's AV1 encoder crashes below 64x64)")
    if args.fetch_setups[0] != 0 or not set(args.fetch_setups) <= set(range(len(FETCH_SETUPS))):
        parser.error(f"--fetch-setups must start with 0 and name rows 0..{len(FETCH_SETUPS) - 1}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    if args.profile and not args.fetch:
        print(profile(args, log))
        return 0
    if args.fetch:
        command = " ".join(arg for arg in (argv if argv is not None else sys.argv[1:]))
        configs: list[FetchConfig] = []
        for saved_path in args.fetch_results or []:
            configs += [
                fetch_config_from_json(c) for c in json.loads(saved_path.read_text())["configs"]
            ]
        if not args.fetch_results:
            configs = run_fetch(args, log)
            for config in configs:
                config.command = command
            results = args.out / "fetch-results.json"
            results.write_text(json.dumps({"configs": [fetch_config_to_json(c) for c in configs]}))
            log(f"raw results: {results} (merge runs with --fetch-results)")
            if len(args.fetch_setups) < len(FETCH_SETUPS):
                for config in configs:
                    for row in config.rows:
                        log(
                            f"{config.title}, {row.setup.label}: frames/s ratios "
                            f"{[round(r, 2) for r in row.ratios]}, CPU ratios "
                            f"{[round(r, 2) for r in row.cpu_ratios]}"
                        )
                return 0  # the section needs every row
        link = None
        if args.plot:  # relative to the markdown file
            where = args.markdown.parent if args.markdown else Path()
            link = os.path.relpath(args.plot, where)
        section = fetch_markdown(configs, link, command if args.fetch_results else None)
        print(section)
        if args.markdown:
            write_fetch_section(args.markdown, section)
        if args.plot:
            fetch_plot(configs, args.plot)
        return 0
    if args.from_results:
        saved = json.loads(args.from_results.read_text())
        header, rows = saved["header"], [row_from_json(r) for r in saved["rows"]]
    else:
        start = time.perf_counter()
        rows = run(args, log)
        if not rows:
            return 0
        header = describe(args, time.perf_counter() - start)
        results = args.out / "results.json"
        results.write_text(json.dumps({"header": header, "rows": [row_to_json(r) for r in rows]}))
        log(f"raw results: {results} (rebuild the table and plot with --from-results)")
    text = markdown(rows, header)
    print(text)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(text + "\n")
    if args.plot:
        plot(rows, args.plot)
    return 0


def describe(args: argparse.Namespace, seconds: float) -> str:
    import torch

    return (
        f"lerobot {importlib.metadata.version('lerobot')}, "
        f"episampler {importlib.metadata.version('episampler')}, "
        f"torch {torch.__version__}, {os.cpu_count()} CPUs; {args.episodes:,} episodes of "
        f"{args.min_length}-{args.max_length} frames, {args.episodes_per_file} episodes per "
        f"video file, {len(CAMERAS)} cameras {args.size}x{args.size} at {FPS} fps; "
        f"DataLoader {NUM_WORKERS} workers, batch {BATCH_SIZE}, {args.warmup_batches} warm-up "
        f"+ {args.timed_batches} timed batches per measurement, {args.repeats} interleaved "
        f"repeats (seeds 0..{args.repeats - 1}), medians; {seconds:.0f} s"
    )


ROW_LISTS = (
    "frames_per_s",
    "ratios",
    "opens",
    "distinct",
    "files",
    "simulated_opens",
    "needed_cache",
)


def row_to_json(row: Row) -> dict[str, Any]:
    order = {
        "label": row.order.label,
        "window": row.order.window,
        "shuffle": row.order.shuffle,
        "emulated": row.order.emulated,
    }
    return {
        "dataset": row.dataset,
        "cache": row.cache_size,
        "order": order,
        **{name: getattr(row, name) for name in ROW_LISTS},
    }


def row_from_json(saved: dict[str, Any]) -> Row:
    row = Row(saved["dataset"], saved["cache"], Order(**saved["order"]))
    for name in ROW_LISTS:
        setattr(row, name, [float("nan") if v is None else v for v in saved[name]])
    return row


if __name__ == "__main__":
    raise SystemExit(main())
