"""The video decoders a worker's batched fetch keeps open.

LeRobot's `dataset[i]` gets its torchcodec decoders from one process-wide `VideoDecoderCache`.
Two of its choices cost a batched fetch, whose threads decode several files at once:

- it opens each file through an fsspec file object, so every read of the decoder calls back
  into Python and takes the GIL (an open costs about twice an open by path);
- it holds its lock while it opens a file, so the fetch's threads wait for each other's opens.

`Decoders` is the same cache (an LRU of `VideoDecoder(..., seek_mode="approximate")`, LeRobot's
seek mode, so the frames are the same), opening files by path and outside its lock. LeRobot's
decoding function (`decode_video_frames_torchcodec`, with its frame choice and tolerance check)
still decodes every frame; only the decoder it is handed differs.

How many decoders (`decoder_capacity`): LeRobot's count when the user chose one
(`LEROBOT_VIDEO_DECODER_CACHE_SIZE`, or a cache resized in code). Otherwise one for every video
file the dataset reads if all of them fit: their estimated memory within what is left of
`DECODER_BYTES` (one budget per process, which a mixture's datasets share) and at most half the
process's open-files limit; if they do not all fit, LeRobot's default. All or nothing, because
under the global shuffle every span of a decoding-ahead worker's buffer reads nearly every
file: a cache that holds them all never reopens one, while a cache smaller than the files
reopens almost all of them every span, so a larger but partial cache costs memory for little
(400 decoders for 748 files: 0.96x the CPU of 100; all 748: 0.86x, measured in
`benches/results_loading.md`).
"""

from __future__ import annotations

import dataclasses
import math
import os
import threading
import weakref
from collections import OrderedDict
from typing import Any

__all__ = [
    "DECODER_BYTES",
    "DecoderDemand",
    "Decoders",
    "budgeted_decoders",
    "decoder_capacity",
    "decoders_that_fit",
    "estimated_decoder_bytes",
    "largest_frame_bytes",
    "lerobot_decoder_bound",
    "lerobot_decoders",
]

# The estimated memory of a decoder for every file, per worker process, that may be kept open.
DECODER_BYTES = 512 * 2**20
# Never more decoders than this per process, whatever the memory and file limits allow.
MOST_DECODERS = 4096


def estimated_decoder_bytes(frame_bytes: int) -> int:
    """An open decoder's memory: its contexts (a quarter of a MiB) and two decoded frames of
    `frame_bytes` (an RGB frame's bytes). At 224x224 this says 0.54 MiB; 748 decoders added
    about 400 MiB to a DataLoader worker's peak resident set (0.53 MiB each)."""
    return 2**18 + 2 * frame_bytes


@dataclasses.dataclass(frozen=True)
class DecoderDemand:
    """What a batched fetch asks of a process's decoders.

    Args:
        lerobot_size: the size of LeRobot's decoder cache (None: unbounded).
        chosen: whether the user chose that size (`LEROBOT_VIDEO_DECODER_CACHE_SIZE`, or a
            cache resized in code); then it is the answer.
        files: the video files the dataset reads, over all its cameras.
        decoder_bytes: the estimated memory of one open decoder (`estimated_decoder_bytes`).
        open_files_limit: the process's limit on open files (the soft `RLIMIT_NOFILE`).
        lerobot_default: LeRobot's default size.
    """

    lerobot_size: int | None
    chosen: bool
    files: int
    decoder_bytes: int
    open_files_limit: int
    lerobot_default: int = 100


def decoder_capacity(demand: DecoderDemand, budget_bytes: int = DECODER_BYTES) -> int | None:
    """How many decoders a worker keeps open (None: no limit): LeRobot's size if the user
    chose it, else every file if they all fit (see the module docstring) the estimated memory
    `budget_bytes` (what this process's other batched fetches have not taken of
    `DECODER_BYTES`), else LeRobot's size, never fewer than its default when the user did not
    choose."""
    size = demand.lerobot_size
    if demand.chosen or size is None:
        return size
    fits = demand.files <= decoders_that_fit(
        demand.decoder_bytes, demand.open_files_limit, budget_bytes
    )
    return max(size, demand.lerobot_default, demand.files if fits else 0)


def decoders_that_fit(decoder_bytes: int, open_files_limit: int, budget_bytes: int) -> int:
    """The most decoders of `decoder_bytes` each that a worker keeps open when the user did not
    choose LeRobot's count: within `budget_bytes`, half the open-files limit (the other half
    for everything else) and `MOST_DECODERS`."""
    return min(budget_bytes // max(decoder_bytes, 1), open_files_limit // 2, MOST_DECODERS)


def lerobot_decoder_bound(decoder_bytes: int) -> int | None:
    """The most decoders one batched fetch keeps open in a process with the LeRobot installed
    here (None: no limit): LeRobot's count if the user chose it, else as many as fit
    `DECODER_BYTES` and the open-files limit (`decoders_that_fit`), at least LeRobot's count.
    What a dataset whose files are each read by one fetch (a stream's file group) may size a
    read-local window to."""
    size, chosen, default = _lerobot_cache_size()
    if chosen or size is None:
        return size
    most = decoders_that_fit(decoder_bytes, _open_files_limit(), DECODER_BYTES)
    return max(size, default, most)


def largest_frame_bytes(meta: Any) -> int:
    """The bytes of the largest camera's RGB frame in a LeRobot dataset's metadata (0 without
    video): what `estimated_decoder_bytes` takes."""
    shapes = (meta.features[key]["shape"] for key in meta.video_keys)
    return max((math.prod(int(n) for n in shape) for shape in shapes), default=0)


# The estimated bytes of the decoders beyond LeRobot's count that this process's batched
# fetches hold (a mixture holds one fetch per dataset): `DECODER_BYTES` is per process.
_reserved_bytes = 0
_budget_lock = threading.Lock()


def _forget_the_parents_reservations() -> None:
    global _reserved_bytes
    _reserved_bytes = 0  # a forked child opens its own decoders


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_the_parents_reservations)


def _release(reserved: int, pid: int) -> None:
    global _reserved_bytes
    if os.getpid() == pid:  # a parent's decoders collected in a forked child release nothing
        with _budget_lock:
            _reserved_bytes -= reserved


def budgeted_decoders(demand: DecoderDemand) -> Decoders:
    """`Decoders` of `decoder_capacity`, within what this process's other batched fetches left
    of `DECODER_BYTES`; what they take beyond LeRobot's count returns to the process when they
    are collected."""
    global _reserved_bytes
    with _budget_lock:
        capacity = decoder_capacity(demand, budget_bytes=DECODER_BYTES - _reserved_bytes)
        lerobot_count = max(demand.lerobot_size or 0, demand.lerobot_default)
        beyond = capacity is not None and capacity > lerobot_count
        reserved = capacity * demand.decoder_bytes if beyond and capacity is not None else 0
        _reserved_bytes += reserved
    decoders = Decoders(capacity)
    if reserved:
        weakref.finalize(decoders, _release, reserved, os.getpid())
    return decoders


def lerobot_decoders(files: int, decoder_bytes: int) -> Decoders:
    """`budgeted_decoders` for the LeRobot installed here and this process's limits."""
    size, chosen, default = _lerobot_cache_size()
    demand = DecoderDemand(size, chosen, files, decoder_bytes, _open_files_limit(), default)
    return budgeted_decoders(demand)


def _lerobot_cache_size() -> tuple[int | None, bool, int]:
    """(LeRobot's decoder cache size (None: unbounded), whether the user chose it, LeRobot's
    default size). The one place that decides both: `LEROBOT_VIDEO_DECODER_CACHE_SIZE` read
    now, as `window="auto"` reads it (LeRobot reads it once, at import, so a value set later
    would otherwise size the fetch's decoders and a window differently), else a LeRobot cache
    resized in code, else LeRobot's default."""
    from episampler.lerobot.auto_window import (
        CACHE_SIZE_VARIABLE,
        LEROBOT_DEFAULT_CACHE_SIZE,
        decoder_cache_size,
    )

    if CACHE_SIZE_VARIABLE in os.environ:
        return decoder_cache_size(), True, LEROBOT_DEFAULT_CACHE_SIZE
    from lerobot.datasets import video_utils

    default = getattr(video_utils, "DEFAULT_DECODER_CACHE_SIZE", LEROBOT_DEFAULT_CACHE_SIZE)
    size = video_utils._default_decoder_cache.max_size
    return size, size != default, default


def _open_files_limit() -> int:
    try:
        import resource
    except ImportError:  # Windows: no such limit to read; its C runtime's default
        return 512
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 2**20


class Decoders:
    """An LRU cache of torchcodec decoders opened by file path, with LeRobot's
    `VideoDecoderCache.get_decoder` interface (what its decoding function takes as
    `decoder_cache`). `capacity` None keeps every decoder (LeRobot's "unbounded"). Thread-safe;
    a batched fetch decodes each file in one call, so one decoder serves one thread at a time."""

    def __init__(self, capacity: int | None) -> None:
        if capacity is not None and capacity < 1:
            raise ValueError(f"capacity must be >= 1 or None, got {capacity}")
        self.capacity = capacity
        self._open: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, path: object) -> bool:
        with self._lock:
            return str(path) in self._open

    def __len__(self) -> int:
        with self._lock:
            return len(self._open)

    def keep_only(self, paths: set[str]) -> None:
        """Closes (drops) the decoders of files outside `paths`."""
        with self._lock:
            for path in [p for p in self._open if p not in paths]:
                del self._open[path]

    def take_from(self, other: Decoders) -> None:
        """Adds `other`'s open decoders (those it has that this one lacks, most recently used
        last), within this one's capacity: a reader moving on to files it partly read keeps
        their decoders instead of opening them again."""
        with other._lock:
            carried = list(other._open.items())
        with self._lock:
            for path, decoder in carried:
                self._open.setdefault(path, decoder)
            while self.capacity is not None and len(self._open) > self.capacity:
                self._open.popitem(last=False)

    def get_decoder(self, video_path: str) -> Any:
        """The open decoder of `video_path`, opened now if it is not (evicting the least
        recently used one when full)."""
        from torchcodec.decoders import VideoDecoder

        video_path = str(video_path)
        with self._lock:
            decoder = self._open.get(video_path)
            if decoder is not None:
                self._open.move_to_end(video_path)
                return decoder
        decoder = VideoDecoder(video_path, seek_mode="approximate")  # outside the lock
        with self._lock:
            decoder = self._open.setdefault(video_path, decoder)  # another thread's, if first
            self._open.move_to_end(video_path)
            while self.capacity is not None and len(self._open) > self.capacity:
                self._open.popitem(last=False)
        return decoder
