"""Type stubs for the Rust extension module (hand-written; `make lint` checks them against the
built extension with mypy's stubtest)."""

from collections.abc import Iterator
from typing import Any, final

import numpy as np
import numpy.typing as npt

__all__ = [
    "ALGORITHM_VERSION",
    "MAX_BLOCK_SIZE",
    "MAX_STREAMS",
    "MAX_THREADS",
    "MAX_WORKERS",
    "PERMUTATIONS",
    "READER_RUN",
    "DrawCore",
    "EpochChunks",
    "NoSlotError",
    "SamplerCore",
    "__version__",
    "check_group_ids",
    "io_report",
    "reader_settings",
    "stream_settings",
]

ALGORITHM_VERSION: int
"""Version of the order algorithms: every order is a pure function of its inputs and this
version, which changes only with a deliberate change of an order (golden vectors)."""
__version__: str
"""The package version."""
# Names and limits of the options (rust/core/src/config.rs).
PERMUTATIONS: tuple[str, ...]
MAX_STREAMS: int
MAX_WORKERS: int
MAX_BLOCK_SIZE: int
MAX_THREADS: int
READER_RUN: int
"""Consecutive frames of a window that go to one reader of a stream (`stream_readers`)."""

class NoSlotError(ValueError):
    """A mixture's block gives a component of positive weight no slot.

    args: (message, component).
    """

def stream_settings(
    streams: int, stream_block: int | None, windowed: bool
) -> tuple[int, int | None]: ...
def reader_settings(
    stream_readers: int, stream_block: int | None, windowed: bool, permutation: str
) -> tuple[int, int | None]: ...
def check_group_ids(name: str, ids: int, episodes: int) -> None: ...

@final
class SamplerCore:
    def __new__(
        cls,
        from_indices: npt.NDArray[np.int64],
        to_indices: npt.NDArray[np.int64],
        episode_indices_to_use: npt.NDArray[np.int64] | None,
        drop_n_first_frames: int,
        drop_n_last_frames: int,
        shuffle: bool,
        seed: int,
        permutation: str,
        window: int | None = None,
        episode_groups: npt.NDArray[np.int64] | None = None,
        streams: int = 1,
        stream_block: int | None = None,
        stream_readers: int = 1,
    ) -> SamplerCore: ...
    def with_rows(self, rows: npt.NDArray[np.int64]) -> SamplerCore: ...
    def with_episode_shifts(self, shifts: npt.NDArray[np.int64]) -> SamplerCore: ...
    @property
    def num_frames(self) -> int: ...
    @property
    def num_episodes(self) -> int: ...
    @property
    def num_skipped(self) -> int: ...
    @property
    def fingerprint(self) -> str: ...
    @property
    def skipped_listed(self) -> list[tuple[int, int]]: ...
    def boundary_values(self) -> npt.NDArray[np.int64]: ...
    def kept_frames(self) -> npt.NDArray[np.int64]: ...
    def value_range(self) -> tuple[int, int]: ...
    def epoch_indices(
        self,
        epoch: int,
        start_index: int,
        rank: int,
        num_replicas: int,
        drop_last: bool,
        pad_to_multiple: int | None = None,
        threads: int = 1,
    ) -> npt.NDArray[np.int64]: ...
    def iter_epoch(
        self,
        epoch: int,
        start_index: int,
        rank: int,
        num_replicas: int,
        drop_last: bool,
        pad_to_multiple: int | None = None,
        batch_size: int | None = None,
        drop_last_batch: bool = False,
        threads: int = 1,
    ) -> EpochChunks: ...

@final
class DrawCore:
    """A mixture (`mixture_of`) or weighted draws (`weighted`), iterated like `SamplerCore`."""

    @staticmethod
    def mixture_of(
        components: list[SamplerCore],
        offsets: list[int],
        weights: npt.NDArray[np.float64],
        block_size: int,
        samples_per_epoch: int,
        seed: int,
    ) -> DrawCore: ...
    @staticmethod
    def weighted(
        frames: SamplerCore,
        weights: npt.NDArray[np.float64],
        per: str,
        num_samples: int,
        seed: int,
    ) -> DrawCore: ...
    @property
    def fingerprint(self) -> str: ...
    @property
    def counts(self) -> list[int]: ...
    def epoch_indices(
        self,
        epoch: int,
        start_index: int,
        rank: int,
        num_replicas: int,
        drop_last: bool,
        pad_to_multiple: int | None = None,
        threads: int = 1,
    ) -> npt.NDArray[np.int64]: ...
    def iter_epoch(
        self,
        epoch: int,
        start_index: int,
        rank: int,
        num_replicas: int,
        drop_last: bool,
        pad_to_multiple: int | None = None,
        batch_size: int | None = None,
        drop_last_batch: bool = False,
        threads: int = 1,
    ) -> EpochChunks: ...

@final
class EpochChunks(Iterator[Iterator[int] | list[int]]):
    """Item mode: iterators over lists of values; batch mode (`batch_size`): batch lists."""

    def __iter__(self) -> EpochChunks: ...
    def __next__(self) -> Iterator[int] | list[int]: ...
    @property
    def epoch(self) -> int: ...
    @property
    def yielded(self) -> int: ...
    @property
    def exhausted(self) -> bool: ...
    @property
    def resume_point(self) -> tuple[int, int]: ...

# The quality and I/O report of `core`'s order of `epoch` (see `episampler.inspect`).
def io_report(
    core: SamplerCore,
    groups: npt.NDArray[np.int64] | None,
    epoch: int,
    batch_size: int,
    num_workers: int,
    decoder_cache_size: int | None,
    decoders_per_group: int,
    rank: int = 0,
    num_replicas: int = 1,
    drop_last: bool = False,
    pad_to_multiple: int | None = None,
    span_batches: int = 1,
) -> dict[str, Any]: ...
