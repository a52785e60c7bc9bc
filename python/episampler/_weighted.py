"""`WeightedEpisodeSampler`: draws with replacement by episode weight. Validates in Python, keeps
the resume point through `ResumableSampler` (with the mixture, in `_DrawSampler`), and leaves the
draws to the Rust core (an alias table over episodes, counter-based)."""

from __future__ import annotations

import hashlib
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from episampler import _core
from episampler._inputs import as_int, as_weights
from episampler._mixture import _DrawSampler, _sharding
from episampler._resumable import COUNT_LIMIT
from episampler._sampler import EpisodeAwareSampler

PER = ("episode", "frame")


class WeightedEpisodeSampler(_DrawSampler):
    """Draws with replacement by episode weight: `num_samples` draws per epoch, each an episode
    by weight then a frame uniform inside it, for upweighting tasks, successes or rare episodes.

    Position `p` of epoch `e` is a pure function of `(seed, e, p)` (an alias table over the
    episodes and a counter-based random function), so it does not depend on `num_samples` or
    the world size, any position is reached in O(1) and a resume is exact. Sharding, state,
    `set_epoch`, pickling and the integrations work as for `EpisodeAwareSampler`.

    Args:
        dataset_from_indices: first frame of each episode (1-D ints).
        dataset_to_indices: end (exclusive) of each episode (1-D ints).
        weights: one weight per episode of the boundary arrays (finite, >= 0), also when
            `episode_indices_to_use` keeps fewer.
        num_samples: draws per epoch, over all ranks.
        per: `"episode"`: episode `k` is drawn with probability `w_k / sum w`; `"frame"`:
            every kept frame of episode `k` weighs `w_k` (frames counted after the drops).
        episode_indices_to_use: keep only these episodes (as `EpisodeAwareSampler`).
        drop_n_first_frames: frames dropped from the start of every kept episode.
        drop_n_last_frames: frames dropped from the end of every kept episode.
        seed: in `[0, 2**64)`.
        num_replicas: ranks the epoch is sharded over (stride rule).
        rank: this process's rank, in `[0, num_replicas)`.
        drop_last: cut every rank to the same shorter count instead of padding.

    Raises:
        TypeError: non-integer boundaries or counts, non-numeric weights.
        ValueError: the boundary errors of `EpisodeAwareSampler`, weights that are negative,
            NaN, infinite, all zero or zero for every kept episode, or of the wrong length,
            `num_samples < 0`, `per` not in `("episode", "frame")`, a bad seed or rank.
    """

    def __init__(
        self,
        dataset_from_indices: npt.ArrayLike,
        dataset_to_indices: npt.ArrayLike,
        weights: npt.ArrayLike,
        num_samples: int,
        *,
        per: str = "episode",
        episode_indices_to_use: npt.ArrayLike | None = None,
        drop_n_first_frames: int = 0,
        drop_n_last_frames: int = 0,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
        drop_last: bool = False,
    ) -> None:
        """Build the sampler (every argument is described in the class docstring)."""
        frames = EpisodeAwareSampler(
            dataset_from_indices,
            dataset_to_indices,
            episode_indices_to_use,
            drop_n_first_frames,
            drop_n_last_frames,
        )
        self._init(frames, weights, num_samples, per, seed, num_replicas, rank, drop_last)

    def _init(
        self,
        frames: EpisodeAwareSampler,
        weights: Any,
        num_samples: Any,
        per: Any,
        seed: Any,
        num_replicas: Any,
        rank: Any,
        drop_last: Any,
    ) -> None:
        super().__init__()
        if not isinstance(per, str):
            raise TypeError(f"per must be a str, got {type(per).__name__}")
        if per not in PER:
            raise ValueError(f"per must be one of {PER}, got {per!r}")
        config = {
            "frames": frames,
            "weights": as_weights("weights", weights),
            "num_samples": as_int("num_samples", num_samples, high=COUNT_LIMIT),
            "per": per,
            "seed": as_int("seed", seed, high=2**64),
            **_sharding(num_replicas, rank, drop_last),
        }
        self._setup(config)

    @classmethod
    def from_lerobot(
        cls,
        dataset: Any,
        weights: npt.ArrayLike,
        num_samples: int,
        *,
        per: str = "episode",
        drop_n_first_frames: int = 0,
        drop_n_last_frames: int = 0,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
        drop_last: bool = False,
    ) -> WeightedEpisodeSampler:
        """Weighted draws over a LeRobot dataset's episodes, yielding its rows (as
        `EpisodeAwareSampler.from_lerobot` reads it; `weights` has one entry per episode of
        `dataset.meta.episodes`, selected or not)."""
        frames = EpisodeAwareSampler.from_lerobot(
            dataset, drop_n_first_frames=drop_n_first_frames, drop_n_last_frames=drop_n_last_frames
        )
        sampler = cls.__new__(cls)
        sampler._init(frames, weights, num_samples, per, seed, num_replicas, rank, drop_last)
        return sampler

    def _setup(self, config: dict[str, Any], epoch: int = 0, start_index: int = 0) -> None:
        self._core = _core.DrawCore.weighted(
            config["frames"]._core,
            config["weights"],
            config["per"],
            config["num_samples"],
            config["seed"],
        )
        self._reset(config, epoch, start_index)

    # --- configuration ---------------------------------------------------------------------

    def _settings(self) -> dict[str, Any]:
        config = self._config
        weights = np.asarray(config["weights"], dtype="<f8")
        return {
            "per": config["per"],
            "weights": hashlib.sha256(weights.tobytes()).hexdigest()[:16],
            "frames": config["frames"]._core.fingerprint,
        }

    @property
    def num_samples(self) -> int:
        """Draws per epoch, over all ranks."""
        return cast(int, self._config["num_samples"])

    @property
    def num_frames(self) -> int:
        """Frames that can be drawn (kept frames, zero-weight episodes included)."""
        frames: EpisodeAwareSampler = self._config["frames"]
        return frames.num_frames

    @property
    def per(self) -> str:
        """What a weight applies to: `"episode"` or `"frame"`."""
        return cast(str, self._config["per"])

    @property
    def _epoch_length(self) -> int:
        return self.num_samples

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(num_samples={self.num_samples}, per={self.per!r}, "
            f"num_frames={self.num_frames}, seed={self.seed}, {self._position_repr()})"
        )
