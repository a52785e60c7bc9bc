"""The video decoders a worker's batched fetch keeps open.

LeRobot's `dataset[i]` gets its torchcodec decoders from one process-wide `VideoDecoderCache`.
Two of its choices cost a batched fetch, whose threads decode several files at once:

- it opens each file through an fsspec file object, so every read of the decoder calls back
  into Python and takes the GIL (an open costs about twice an open by path);
- it holds its lock while it opens a file, so the fetch's threads wait for each other's opens.

`Decoders` is the same cache (an LRU of `VideoDecoder(..., seek_mode="approximate")`, LeRobot's
seek mode, so the frames are the same, and as many decoders as LeRobot's cache holds), opening
files by path and outside its lock. LeRobot's decoding function
(`decode_video_frames_torchcodec`, with its frame choice and tolerance check) still decodes
every frame; only the decoder it is handed differs.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

__all__ = ["Decoders"]


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
