"""Baselines for `python -m benches.compare` and the pytest-benchmark suite, plus synthetic
episodes. Our own code, written from a description of the approaches they stand for:

- `RandpermSampler` ("torch.randperm"): a fresh `torch.randperm(N)` per epoch, as torch's
  `RandomSampler` draws one; positions only, no episode mapping (the floor of a torch shuffle).
- `LeRobotStyleSampler` ("LeRobot 0.6 style"): stores the episode boundaries, shuffles positions
  with a seeded `torch.randperm` per epoch and maps each position to its frame with one
  `np.searchsorted` call per sample.

Both iterate their permutation in chunks of `CHUNK` positions (`tensor.tolist()` per chunk) so
that a large epoch never becomes one Python list of every position; this only helps them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch

CHUNK = 1 << 16


def synthetic_episodes(
    num_frames: int, num_episodes: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic episodes of uneven lengths (at least one frame each) that tile
    `[0, num_frames)` in order. Returns the `from` (first frame) and `to` (end, exclusive)
    int64 arrays. Lengths are log-normally spread, so they differ by an order of magnitude."""
    if not 1 <= num_episodes <= num_frames:
        raise ValueError(
            f"need 1 <= num_episodes <= num_frames, got {num_episodes} and {num_frames}"
        )
    weights = np.random.default_rng(seed).lognormal(mean=0.0, sigma=1.0, size=num_episodes)
    spare = num_frames - num_episodes  # frames beyond the one every episode gets
    # Integer cumulative shares: exact sum, no rounding drift, non-decreasing.
    shares = np.floor(np.cumsum(weights) / weights.sum() * spare).astype(np.int64)
    shares = np.minimum(np.maximum.accumulate(shares), spare)
    shares[-1] = spare
    lengths = 1 + np.diff(shares, prepend=0)
    to_indices = np.cumsum(lengths, dtype=np.int64)
    return to_indices - lengths, to_indices


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    # Seeded from seed and epoch, as torch's DistributedSampler does.
    return torch.Generator().manual_seed(seed + epoch)


def _chunked(positions: torch.Tensor) -> Iterator[int]:
    for chunk in torch.split(positions, CHUNK):
        yield from chunk.tolist()


class RandpermSampler:
    """ "torch.randperm": the positions `0..num_frames-1` in `torch.randperm` order, a new order
    per epoch (seeded from `seed + epoch`). Not episode-aware."""

    def __init__(self, num_frames: int, seed: int = 0) -> None:
        self.num_frames = num_frames
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return self.num_frames

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def epoch_order(self, epoch: int | None = None) -> torch.Tensor:
        epoch = self.epoch if epoch is None else epoch
        return torch.randperm(self.num_frames, generator=_epoch_generator(self.seed, epoch))

    def __iter__(self) -> Iterator[int]:
        return _chunked(self.epoch_order())


class LeRobotStyleSampler:
    """ "LeRobot 0.6 style": episode boundaries in numpy arrays, a seeded `torch.randperm` of the
    kept positions per epoch, and one `np.searchsorted` over the cumulative kept-episode lengths
    per sample to turn a position into a frame. Resumes with `{"epoch", "start_index"}` by
    building the epoch's order and skipping to `start_index`."""

    def __init__(
        self,
        dataset_from_indices: Any,
        dataset_to_indices: Any,
        episode_indices_to_use: Any = None,
        drop_n_first_frames: int = 0,
        drop_n_last_frames: int = 0,
        shuffle: bool = False,
        seed: int = 0,
    ) -> None:
        starts = np.asarray(dataset_from_indices, dtype=np.int64) + drop_n_first_frames
        stops = np.asarray(dataset_to_indices, dtype=np.int64) - drop_n_last_frames
        if episode_indices_to_use is not None:
            selected = np.unique(np.asarray(episode_indices_to_use, dtype=np.int64))
            starts, stops = starts[selected], stops[selected]
        lengths = np.maximum(stops - starts, 0)
        kept = lengths > 0
        starts, lengths = starts[kept], lengths[kept]
        # `ends[e]` is the first position after kept episode `e`; a position `p` of episode `e`
        # is frame `p + shifts[e]`.
        self._ends = np.cumsum(lengths)
        self._shifts = starts - (self._ends - lengths)
        self.num_frames = int(self._ends[-1]) if len(self._ends) else 0
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0
        self.start_index = 0

    def __len__(self) -> int:
        return self.num_frames

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.epoch, self.start_index = epoch, 0

    def load_state_dict(self, state_dict: Mapping[str, int]) -> None:
        self.epoch = int(state_dict["epoch"])
        self.start_index = int(state_dict["start_index"])

    def epoch_positions(self, epoch: int) -> torch.Tensor:
        if self.shuffle:
            generator = _epoch_generator(self.seed, epoch)
            return torch.randperm(self.num_frames, generator=generator)
        return torch.arange(self.num_frames)

    def __iter__(self) -> Iterator[int]:
        epoch, start_index = self.epoch, self.start_index
        positions = self.epoch_positions(epoch)[start_index:]
        ends, shifts, searchsorted = self._ends, self._shifts, np.searchsorted
        for position in _chunked(positions):
            episode = searchsorted(ends, position, side="right")
            yield int(position + shifts[episode])
        self.epoch, self.start_index = epoch + 1, 0
