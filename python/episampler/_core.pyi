"""Type stubs for the Rust extension module (hand-written; keep in step with rust/python)."""

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

ALGORITHM_VERSION: int

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
    def kept_frames(self) -> npt.NDArray[np.int64]: ...
    def epoch_indices(
        self,
        epoch: int,
        start_index: int,
        rank: int,
        num_replicas: int,
        drop_last: bool,
        pad_to_multiple: int | None = None,
    ) -> npt.NDArray[np.int64]: ...
    def iter_epoch(
        self,
        epoch: int,
        start_index: int,
        rank: int,
        num_replicas: int,
        drop_last: bool,
        pad_to_multiple: int | None = None,
    ) -> EpochIterator: ...

class EpochIterator(Iterator[int]):
    def __iter__(self) -> EpochIterator: ...
    def __next__(self) -> int: ...
    def __length_hint__(self) -> int: ...
    @property
    def epoch(self) -> int: ...
    @property
    def yielded(self) -> int: ...
    @property
    def exhausted(self) -> bool: ...
    @property
    def resume_point(self) -> tuple[int, int]: ...
