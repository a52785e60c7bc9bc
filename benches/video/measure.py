"""One measurement: a fresh DataLoader over a recorded dataset and a sampler, timed, with the
decoders opened, the decoding calls, the CPU time and the peak memory counted inside its
workers."""

from __future__ import annotations

import argparse
import functools
import os
import resource
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .profiling import start_py_spy

BATCH_SIZE = 64
NUM_WORKERS = 2
LEROBOT_DEFAULT_CACHE = 100  # lerobot.datasets.video_utils.DEFAULT_DECODER_CACHE_SIZE

# --- In each DataLoader worker -----------------------------------------------------------------

_OPENS = 0  # decoders this worker process created (set up by `_worker_init`)
_CALLS = 0  # calls of LeRobot's decoding function in this worker (set up by `_worker_init`)


def _worker_init(cache_size: int, _worker_id: int) -> None:
    """In each DataLoader worker: LeRobot's decoder cache of `cache_size` (what
    LEROBOT_VIDEO_DECODER_CACHE_SIZE does, set here because the cache object was made at import
    time in the parent; LeRobot's default is left unset, as a user who chose nothing leaves it,
    so the batched fetch sizes its own decoders), and a count of every decoder created."""
    import torchcodec.decoders
    from lerobot.datasets import video_utils

    video_utils._default_decoder_cache.clear()
    if cache_size != LEROBOT_DEFAULT_CACHE:
        os.environ["LEROBOT_VIDEO_DECODER_CACHE_SIZE"] = str(cache_size)
        video_utils._default_decoder_cache.max_size = cache_size
    real_decoder = torchcodec.decoders.VideoDecoder

    def counting_decoder(*args: Any, **kwargs: Any) -> Any:
        global _OPENS
        _OPENS += 1
        return real_decoder(*args, **kwargs)

    # VideoDecoderCache.get_decoder imports the class from this module on every miss.
    torchcodec.decoders.VideoDecoder = counting_decoder

    # dataset[i] (through `decode_video_frames`) and BatchedFetch call LeRobot's torchcodec
    # decoding function through this module's name.
    real_decode = video_utils.decode_video_frames_torchcodec

    def counting_decode(*args: Any, **kwargs: Any) -> Any:
        global _CALLS
        _CALLS += 1
        return real_decode(*args, **kwargs)

    video_utils.decode_video_frames_torchcodec = counting_decode


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
    """`episampler.lerobot.BatchedFetch` over a LeRobotDataset (decoding ahead of `read_ahead`,
    the loader's sampler, if given), with the same marks as `CountingDataset` on every item (the
    DataLoader calls `__getitems__`)."""

    def __init__(self, dataset: Any, read_ahead: Any = None) -> None:
        from episampler.lerobot import BatchedFetch

        self.fetch = BatchedFetch(dataset, read_ahead=read_ahead)

    def __len__(self) -> int:
        return len(self.fetch)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return _marked(self.fetch[index])

    def __getitems__(self, indices: list[int]) -> list[dict[str, Any]]:
        return [_marked(item) for item in self.fetch.__getitems__(indices)]


# --- In the main process -----------------------------------------------------------------------


@dataclass(frozen=True)
class LoaderSettings:
    """How the DataLoader is set up. `lerobot_train`: as lerobot-train (0.6) sets it up, spawned
    workers, 4 batches prefetched per worker, persistent workers (its datasets return uint8
    frames: `load(..., return_uint8=True)`); else torch's defaults (forked workers, prefetch 2)."""

    batch_size: int = BATCH_SIZE
    num_workers: int = NUM_WORKERS
    lerobot_train: bool = False

    def dataloader_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"batch_size": self.batch_size, "num_workers": self.num_workers}
        if self.lerobot_train:
            kwargs.update(
                multiprocessing_context="spawn", prefetch_factor=4, persistent_workers=True
            )
        return kwargs


@dataclass
class Measurement:
    frames_per_s: float
    opens_per_1000: float
    calls_per_1000: float
    cpu_ms_per_sample: float
    rss_mb: float  # the largest worker's peak resident set, MiB


def measure(
    dataset: Any,
    sampler: Any,
    *,
    cache_size: int,
    warmup_batches: int,
    timed_batches: int,
    profile_to: Path | None = None,
    fetch: bool = False,
    read_ahead: bool = False,
    settings: LoaderSettings = LoaderSettings(),
    timed_start: int | None = None,
) -> Measurement:
    """Frames/s, and per 1,000 samples the decoder opens and decoding calls, and the workers'
    CPU time per sample, over `timed_batches` batches of a fresh DataLoader set up as
    `settings` says, after `warmup_batches` (worker start-up included). `fetch`: items through
    `BatchedFetch`. `profile_to`: py-spy samples the timed batches into this file.

    With `timed_start` (an `EpisodeAwareSampler`, or a sampler whose positions do not matter),
    the warm-up and the timed batches are two passes of the same persistent workers: the
    warm-up reads the `warmup_batches` after the timed ones' positions, to its end (no batch
    left in flight), then the timed pass reads from `timed_start`, its clock started before its
    first batch is asked for. So a worker that decodes ahead (`read_ahead`) pays, in the timed
    pass, for every frame that pass reads (and, at its end, for some it does not: the figure
    errs against decoding ahead); in one pass, the warm-up would have decoded part of the
    timed batches. Without it, one pass: warm-up batches, then timed ones."""
    import torch.utils.data

    if timed_start is not None and settings.num_workers and not settings.lerobot_train:
        raise ValueError("two passes need persistent workers (lerobot-train's settings)")
    passes = _Passes(sampler)
    loader = torch.utils.data.DataLoader(
        CountingFetch(dataset, sampler if read_ahead else None)
        if fetch
        else CountingDataset(dataset),
        sampler=passes if timed_start is not None else sampler,
        worker_init_fn=functools.partial(_worker_init, cache_size),
        **settings.dataloader_kwargs(),
    )
    counters = ("bench_opens", "bench_calls", "bench_cpu")

    def read(batch: dict[str, Any]) -> tuple[int, tuple[float, ...]]:
        return int(batch["bench_worker"][0]), tuple(float(batch[c].max()) for c in counters)

    peak_rss: dict[int, float] = {}

    batch_size = settings.batch_size
    if timed_start is not None:
        passes.set(timed_start + timed_batches * batch_size, warmup_batches * batch_size)
    batches = iter(loader)
    before: dict[int, tuple[float, ...]] = {}
    for _ in range(warmup_batches):
        worker, values = read(next(batches))
        before[worker] = values
    if timed_start is not None:
        assert next(batches, None) is None  # the warm-up pass is over: nothing in flight
        passes.set(timed_start, timed_batches * batch_size)
    after: dict[int, tuple[float, ...]] = {}
    samples: dict[int, int] = {}
    spy = None if profile_to is None else start_py_spy(profile_to)
    start = time.perf_counter()
    if timed_start is not None:
        batches = iter(loader)  # the same (persistent) workers
    for _ in range(timed_batches):
        batch = next(batches)
        worker, values = read(batch)
        after[worker] = values
        samples[worker] = samples.get(worker, 0) + len(batch["bench_worker"])
        peak_rss[worker] = float(batch["bench_rss"].max()) / 1024
    elapsed = time.perf_counter() - start
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=60)
    del batches, loader  # shuts the workers down (persistent ones with the loader)
    # A worker's last warm-up batch marks its start (none: it counted from its birth).
    totals = [
        sum(after[w][c] - before.get(w, (0.0, 0.0, 0.0))[c] for w in after)
        for c in range(len(counters))
    ]
    total = sum(samples.values())
    return Measurement(
        total / elapsed,
        1000 * totals[0] / total,
        1000 * totals[1] / total,
        1000 * totals[2] / total,
        max(peak_rss.values(), default=float("nan")),
    )


def read_ahead_cycle(dataset: Any, batch_size: int) -> int:
    """A worker's batches from one refill of its read-ahead buffer to the next, at the default
    budget: a refill decodes the batch asked for and the next `budget // sample bytes -
    batch_size` samples of that worker's batches (the last one in part)."""
    from episampler.lerobot.read_ahead import DEFAULT_READ_AHEAD_BYTES

    sample_bytes = 0
    for key in dataset.meta.video_keys:
        height, width, channels = dataset.meta.features[key]["shape"]
        sample_bytes += height * width * channels  # uint8 frames
    room = DEFAULT_READ_AHEAD_BYTES // sample_bytes - batch_size
    return max(0, room) // batch_size + 1


class _Passes:
    """A sampler read in passes: each pass yields `count` positions of `inner` from sample
    `start` of its epoch (an `EpisodeAwareSampler` resumes there; another sampler, e.g. torch's
    `RandomSampler`, just goes on drawing)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.count = 0

    def set(self, start: int, count: int) -> None:
        if hasattr(self.inner, "load_state_dict"):
            self.inner.load_state_dict({**self.inner.state_dict(), "start_index": start})
        self.count = count

    def __iter__(self) -> Any:
        import itertools

        return itertools.islice(iter(self.inner), self.count)

    def __len__(self) -> int:
        return self.count


def resume_point(
    args: argparse.Namespace,
    dataset: Any,
    repeat: int,
    batch_size: int = BATCH_SIZE,
    timed_batches: int | None = None,
) -> int:
    """Where every order of repeat `repeat` starts reading (the same for every order): a random
    point of the epoch, so the timed samples cross window boundaries as often as a whole epoch
    does."""
    timed = args.timed_batches if timed_batches is None else timed_batches
    needed = (args.warmup_batches + timed) * batch_size
    rng = np.random.default_rng((args.record_seed, repeat))
    return int(rng.integers(0, max(1, len(dataset) - needed)))


# --- The decode-only limit -------------------------------------------------------------------


def _import_decoder(_: int) -> None:
    """In a pool process, before timing: the decoder's imports."""
    import torchcodec.decoders  # noqa: F401


def _decode_file(path: str) -> int:
    """In a pool process: every frame of the video file at `path`, decoded in order by
    torchcodec alone (runs of 32 frames, uint8); the number of frames."""
    from torchcodec.decoders import VideoDecoder

    decoder = VideoDecoder(path)
    frames = len(decoder)
    for start in range(0, frames, 32):
        decoder.get_frames_in_range(start, min(start + 32, frames))
    return frames


def decode_only(dataset: Any, processes: int) -> float:
    """The decode-only limit, in samples (one frame of every camera) per second: every frame of
    every video file of `dataset` decoded in file order by the decoder alone, no loader, in
    `processes` spawned processes (as many as the DataLoader has workers), files handed out one
    at a time. Process start-up and imports are not timed."""
    import multiprocessing

    root = Path(dataset.root)
    paths = sorted(str(path) for path in (root / "videos").rglob("*.mp4"))
    cameras = len(dataset.meta.video_keys)
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        pool.map(_import_decoder, range(processes), chunksize=1)
        start = time.perf_counter()
        frames = sum(pool.imap_unordered(_decode_file, paths, chunksize=1))
        elapsed = time.perf_counter() - start
    if frames != cameras * dataset.meta.total_frames:
        raise RuntimeError(
            f"decoded {frames} frames from {len(paths)} files; expected {cameras} cameras x "
            f"{dataset.meta.total_frames} frames"
        )
    return frames / cameras / elapsed
