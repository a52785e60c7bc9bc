"""Decoding ahead: which rows a DataLoader worker will be asked for next, read off the sampler.

The sampler's order is a pure function of `(seed, epoch)`, and a DataLoader hands its batches to
its workers in turn (batch `k` of an iterator to worker `k % num_workers`). So a worker that is
asked for a batch can find where that batch sits in the epoch's order and list the rows of its
own next batches. `BatchedFetch(dataset, read_ahead=sampler)` decodes the frames of those rows
together with the current batch's, one decoding call per (camera, video file), in storage order,
and keeps them in a bounded buffer until they are asked for.

A guess that turns out wrong (another epoch, a resumed loader, a worker that died) costs only
time: the buffer is keyed by (camera, file, timestamp), a frame is served from it only when the
batch asks for exactly that frame, and anything not found is decoded as without read-ahead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["DEFAULT_READ_AHEAD_BYTES", "RowPlan"]

# Decoded frames a worker may hold ahead, per worker: 512 MiB holds about 1,100 samples of three
# 224x224 uint8 cameras, or about 270 of two 480x640 ones.
DEFAULT_READ_AHEAD_BYTES = 512 * 2**20


class RowPlan:
    """The rows this process will be asked for after a batch, from a copy of the sampler.

    Args:
        sampler: the sampler the DataLoader draws from (an `EpisodeAwareSampler`, or anything
            with `epoch` and `epoch_indices(epoch)`); it is only read.
    """

    def __init__(self, sampler: Any) -> None:
        self._sampler = sampler
        self._anchor: int | None = None  # the epoch the last located batch was in
        # epoch -> (its order, row -> position in it or -1), for the anchor and the next epoch
        self._orders: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"_sampler": self._sampler, "_anchor": None, "_orders": {}}

    def upcoming(self, rows: Sequence[int], stride: int, limit: int) -> list[int]:
        """Up to `limit` rows this process is asked for next, in order: the batches of
        `len(rows)` rows starting every `stride` positions after `rows` (a worker's share when
        the DataLoader deals batches to `stride // len(rows)` workers in turn). Empty when
        `rows` is not a run of the current or the next epoch's order."""
        if not rows or limit <= 0:
            return []
        located = self._locate(rows)
        if located is None:
            return []
        order, position = located
        batch = len(rows)
        ahead: list[np.ndarray] = []
        count = 0
        start = position + stride
        while start < len(order) and count < limit:
            chunk = order[start : start + min(batch, limit - count)]
            ahead.append(chunk)
            count += len(chunk)
            start += stride
        return np.concatenate(ahead).tolist() if ahead else []

    def _locate(self, rows: Sequence[int]) -> tuple[np.ndarray, int] | None:
        """The order of the epoch `rows` is a run of (the anchor's or the next), and where."""
        base = int(getattr(self._sampler, "epoch", 0)) if self._anchor is None else self._anchor
        wanted = np.asarray(rows, dtype=np.int64)
        for epoch in (base, base + 1):
            order, where = self._epoch_order(epoch)
            first = int(wanted[0])
            position = int(where[first]) if 0 <= first < len(where) else -1
            if position < 0:
                continue
            run = order[position : position + len(wanted)]
            if len(run) == len(wanted) and np.array_equal(run, wanted):
                self._anchor = epoch
                self._orders = {e: o for e, o in self._orders.items() if e in (epoch, epoch + 1)}
                return order, position
        return None

    def _epoch_order(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        found = self._orders.get(epoch)
        if found is None:
            order = np.asarray(self._sampler.epoch_indices(epoch), dtype=np.int64)
            where = np.full(int(order.max(initial=-1)) + 1, -1, dtype=np.int64)
            where[order] = np.arange(len(order), dtype=np.int64)
            found = self._orders[epoch] = (order, where)
        return found
