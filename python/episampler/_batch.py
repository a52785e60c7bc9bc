"""`EpisodeAwareBatchSampler`: the batches `torch.utils.data.BatchSampler` would make over an
`EpisodeAwareSampler`, each list built in Rust in one call."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from typing import Any, cast

from torch.utils.data import BatchSampler, Sampler

from episampler._inputs import as_bool, as_int
from episampler._resumable import ResumableSampler, SamplerState

# torch's BatchSampler iterating its sampler: the frame that calls our `__iter__` when this batch
# sampler is misused as a DataLoader's `sampler=`.
_BATCHING = BatchSampler.__iter__.__code__


class EpisodeAwareBatchSampler(Sampler[list[int]]):
    """Batches of `batch_size` indices of `sampler` (an `EpisodeAwareSampler`,
    `MixtureSampler` or `WeightedEpisodeSampler`), for `DataLoader(batch_sampler=...)`.

    Yields the same lists as `torch.utils.data.BatchSampler(sampler, batch_size, drop_last)`,
    across epochs too. Its state is the sampler's (`state_dict`/`load_state_dict` delegate),
    so a checkpoint resumes right after the last batch yielded; with `drop_last=True` the
    short batch left at the end of an epoch is dropped and the epoch ends with the last full
    batch.

    Args:
        sampler: the episampler sampler to batch (its sharding, epochs and state are used).
        batch_size: indices per batch (>= 1).
        drop_last: drop the short batch at the end of every epoch.

    Raises:
        TypeError: `sampler` is not an episampler sampler, or a non-int `batch_size`.
        ValueError: `batch_size < 1`.
    """

    def __init__(self, sampler: ResumableSampler, batch_size: int, drop_last: bool = False):
        """Batch `sampler` (the arguments are described in the class docstring)."""
        if not isinstance(sampler, ResumableSampler):
            raise TypeError(
                "sampler must be an EpisodeAwareSampler, MixtureSampler or "
                f"WeightedEpisodeSampler, got {type(sampler).__name__}"
            )
        super().__init__()
        self.sampler = sampler
        self.batch_size = as_int("batch_size", batch_size, low=1, high=2**63)
        self.drop_last = as_bool("drop_last", drop_last)

    def __iter__(self) -> Iterator[list[int]]:
        """The batches of the sampler's current epoch from its resume point."""
        if sys._getframe(1).f_code is _BATCHING:
            # `DataLoader(dataset, sampler=this)` batches our batches: every "index" a list.
            raise TypeError(
                "EpisodeAwareBatchSampler yields whole batches: pass it to the DataLoader as "
                "batch_sampler=..., not sampler=..."
            )
        chunks = self.sampler._start_iteration(self.batch_size, self.drop_last)
        return cast(Iterator[list[int]], chunks)  # in batch mode every chunk is a batch list

    def __len__(self) -> int:
        """Batches of one full epoch on this rank."""
        if self.drop_last:
            return len(self.sampler) // self.batch_size
        return -(-len(self.sampler) // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """The sampler's `set_epoch`."""
        self.sampler.set_epoch(epoch)

    def state_dict(self) -> SamplerState:
        """The sampler's state, as the latest batch iterator left it."""
        return self.sampler.state_dict()

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """The sampler's `load_state_dict`."""
        self.sampler.load_state_dict(state_dict)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.sampler!r}, batch_size={self.batch_size}, "
            f"drop_last={self.drop_last})"
        )
