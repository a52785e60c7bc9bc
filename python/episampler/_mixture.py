"""`MixtureSampler` (several datasets in set proportions, exact per block) and what it shares with
`WeightedEpisodeSampler` (`_weighted.py`): both validate in Python, keep the resume point through
`ResumableSampler`, and leave the order to the Rust core."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence, Sized
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from episampler import _core
from episampler._core import DrawCore
from episampler._inputs import as_bool, as_index_array, as_int, as_weights
from episampler._resumable import COUNT_LIMIT, ResumableSampler
from episampler._sampler import EpisodeAwareSampler

_MAX_BLOCK_SIZE: int = _core.MAX_BLOCK_SIZE


def _sharding(num_replicas: Any, rank: Any, drop_last: Any) -> dict[str, Any]:
    num_replicas = as_int("num_replicas", num_replicas, low=1, high=COUNT_LIMIT)
    return {
        "num_replicas": num_replicas,
        "rank": as_int("rank", rank, high=num_replicas),
        "drop_last": as_bool("drop_last", drop_last),
        "pad_to_multiple": None,
    }


def _size(c: int, item: Any) -> int:
    if isinstance(item, ResumableSampler):
        return item._epoch_length
    if isinstance(item, (bool, np.bool_)):
        raise TypeError(f"items[{c}] must be a sampler, a dataset or a size, got a bool")
    if isinstance(item, (int, np.integer)):
        return as_int(f"items[{c}]", item)
    if hasattr(item, "__len__") and not isinstance(item, (str, bytes)):
        return len(item)
    raise TypeError(
        f"items[{c}] must be a sampler, a dataset or a size, got {type(item).__name__} {item!r}"
    )


def balance_weights(items: Sequence[Any], weights: npt.ArrayLike | None = None) -> list[float]:
    """Mixture weights proportional to size (times `weights`, if given), as Octo's
    `balance_weights` makes them: each frame of every dataset is then drawn about equally often.

    Args:
        items: one entry per component: an `EpisodeAwareSampler` (its `num_frames`), a dataset
            (its `len`) or a size (an int).
        weights: optional per-component factors (default: all 1).

    Returns:
        The weights `weights[c] * size[c]`, as floats.

    Raises:
        TypeError: `items` is not a sequence, an item has no size (a string is not a dataset),
            or weights that are not numbers.
        ValueError: a negative size, weights of another length than `items`, or a weight that
            is negative, NaN or infinite.
    """
    if isinstance(items, (str, bytes)) or not hasattr(items, "__iter__"):
        raise TypeError(
            f"items must be a sequence of samplers, datasets or sizes, got {type(items).__name__}"
        )
    sizes = [_size(c, item) for c, item in enumerate(items)]
    factors = np.ones(len(sizes)) if weights is None else as_weights("weights", weights)
    if len(factors) != len(sizes):
        raise ValueError(f"weights must hold one entry per item ({len(sizes)}), got {len(factors)}")
    bad = np.flatnonzero(~np.isfinite(factors) | (factors < 0))
    if bad.size:
        c = int(bad[0])
        raise ValueError(f"weights[{c}] must be finite and >= 0, got {float(factors[c])!r}")
    return [float(f) * size for f, size in zip(factors.tolist(), sizes, strict=True)]


def _no_slot(c: int, weights: np.ndarray, block_size: int) -> str:
    """The core's "no slot in a block" error for component `c` with advice that can be
    followed: the block size that would give it a slot, or, when none up to 2**32 would, only a
    larger weight or a weight of 0."""
    weight, total = float(weights[c]), float(weights.sum())
    needed = math.ceil(total / weight) if total / weight < 2**63 else None
    head = (
        f"block_size={block_size} gives component {c} (weight {weight:.6g}) no slot in a "
        f"block (the weights sum to {total:.6g}): "
    )
    if needed is not None and needed <= _MAX_BLOCK_SIZE:
        return head + f"use a block_size of at least {needed} or give it a weight of 0"
    return head + (
        f"no block_size up to 2**32 gives it one; give it a weight of at least "
        f"{total / _MAX_BLOCK_SIZE:.3g} (a share of 2**-32) or a weight of 0"
    )


class _DrawSampler(ResumableSampler):
    """What mixtures and weighted draws share: a seed, and an identity made of the seed, the
    epoch length (`num_samples`) and the core's fingerprint."""

    _core: DrawCore

    @property
    def seed(self) -> int:
        """The sampler's seed (its components, if any, have their own)."""
        return cast(int, self._config["seed"])

    @property
    def weights(self) -> np.ndarray:
        """The weights (a copy)."""
        return cast(np.ndarray, self._config["weights"].copy())

    def _identity(self) -> dict[str, int | str]:
        return {
            "seed": self.seed,
            "num_samples": self._epoch_length,
            "fingerprint": self._core.fingerprint,
            "algorithm_version": _core.ALGORITHM_VERSION,
        }


def _components(samplers: Any) -> list[EpisodeAwareSampler]:
    if isinstance(samplers, (str, bytes)) or not hasattr(samplers, "__iter__"):
        raise TypeError(
            f"samplers must be a sequence of EpisodeAwareSampler, got {type(samplers).__name__}"
        )
    components = list(samplers)
    for c, sampler in enumerate(components):
        if not isinstance(sampler, EpisodeAwareSampler):
            raise TypeError(
                f"samplers[{c}] must be an EpisodeAwareSampler, got {type(sampler).__name__}"
            )
        if sampler.num_replicas != 1:
            raise ValueError(
                f"samplers[{c}] has num_replicas={sampler.num_replicas}: components must have "
                "num_replicas=1 (the mixture shards: pass num_replicas/rank to MixtureSampler)"
            )
    if not components:
        raise ValueError("samplers must hold at least one component sampler, got 0")
    return components


def _check_offsets(samplers: list[EpisodeAwareSampler], offsets: np.ndarray) -> None:
    """Every component's shifted rows must be >= 0 and must not meet another component's."""
    if len(offsets) != len(samplers):
        raise ValueError(
            f"offsets must hold one entry per component sampler ({len(samplers)}), "
            f"got {len(offsets)}"
        )
    spans = []
    for c, (sampler, offset) in enumerate(zip(samplers, offsets.tolist(), strict=True)):
        low, high = sampler._core.value_range()
        if offset + low < 0:
            raise ValueError(f"offsets[{c}] = {offset} makes row {offset + low} negative")
        if offset + high >= 2**63:
            raise ValueError(f"offsets[{c}] = {offset} takes rows beyond 2**63")
        spans.append((offset + low, offset + high, c))
    spans.sort()
    for (_, end, a), (start, _, b) in itertools.pairwise(spans):
        if start <= end:
            first, second = sorted((a, b))
            raise ValueError(
                f"offsets overlap: component {first} and component {second} would both yield "
                f"row {start} (offsets {offsets[first]} and {offsets[second]})"
            )


class MixtureSampler(_DrawSampler):
    """Several datasets in set proportions, exact in every block, seekable and resumable.

    Use it over a `torch.utils.data.ConcatDataset` of the components' datasets: it yields
    `offsets[c] + v` for component `c`'s value `v`. Every block of `block_size` positions holds
    each component's count exactly (largest remainder of `weights`, ties to the lower index),
    in an order shuffled per `(seed, epoch, block)`. Component `c`'s k-th draw since epoch 0 is
    `samplers[c].epoch_indices(k // len_c)[k % len_c]`: each dataset is read through its own
    sampler's epochs (own seed, shuffle, drops, permutation), never repeating a frame before
    every frame was used, across mixture epochs too. The state is `(epoch, start_index)` plus
    the mixture's identity; any position is reached in O(1).

    Args:
        samplers: one `EpisodeAwareSampler` per dataset, each with `num_replicas=1`.
        weights: one weight per component (finite, >= 0, not all 0).
        offsets: the first row of every component in the concatenated dataset
            (`for_concat` takes them from a `ConcatDataset`).
        block_size: positions per block; every positive weight must get at least one slot.
        samples_per_epoch: positions per epoch over all ranks (default: the sum of the
            components' `num_frames`).
        seed: orders the slots of every block (the components' orders use their own seeds),
            in `[0, 2**64)`.
        num_replicas: ranks the epoch is sharded over (stride rule, as `EpisodeAwareSampler`).
        rank: this process's rank, in `[0, num_replicas)`.
        drop_last: cut every rank to the same shorter count instead of padding.

    Raises:
        TypeError: a component that is not an `EpisodeAwareSampler`, non-numeric weights, a
            non-int count.
        ValueError: no component, a component with `num_replicas != 1`, bad weights
            (negative, NaN, infinite, all zero, wrong length), offsets that overlap or make
            rows negative, `block_size` outside `[1, 2**32]` or too small for a weight,
            `samples_per_epoch < 0`, a seed outside `[0, 2**64)`, a rank outside the world.
    """

    def __init__(
        self,
        samplers: Sequence[EpisodeAwareSampler],
        weights: npt.ArrayLike,
        *,
        offsets: npt.ArrayLike,
        block_size: int = 1024,
        samples_per_epoch: int | None = None,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
        drop_last: bool = False,
    ) -> None:
        """Build the sampler (every argument is described in the class docstring)."""
        super().__init__()
        components = _components(samplers)
        offsets = as_index_array("offsets", offsets)
        _check_offsets(components, offsets)
        config = {
            "samplers": components,
            "weights": as_weights("weights", weights),
            "offsets": offsets,
            "block_size": as_int("block_size", block_size, low=1, high=_MAX_BLOCK_SIZE + 1),
            "samples_per_epoch": sum(s.num_frames for s in components)
            if samples_per_epoch is None
            else as_int("samples_per_epoch", samples_per_epoch, high=COUNT_LIMIT),
            "seed": as_int("seed", seed, high=2**64),
            **_sharding(num_replicas, rank, drop_last),
        }
        try:
            self._setup(config)
        except _core.NoSlotError as error:
            component = error.args[1]
            raise ValueError(_no_slot(component, config["weights"], config["block_size"])) from None

    def _setup(self, config: dict[str, Any], epoch: int = 0, start_index: int = 0) -> None:
        self._core = _core.DrawCore.mixture_of(
            [sampler._core for sampler in config["samplers"]],
            config["offsets"].tolist(),
            config["weights"],
            config["block_size"],
            config["samples_per_epoch"],
            config["seed"],
        )
        self._reset(config, epoch, start_index)

    @classmethod
    def for_concat(
        cls,
        dataset: Any,
        samplers: Sequence[EpisodeAwareSampler],
        weights: npt.ArrayLike,
        **kwargs: Any,
    ) -> MixtureSampler:
        """A mixture over `dataset`, a `torch.utils.data.ConcatDataset`, whose `datasets[c]` the
        sampler `samplers[c]` reads; the offsets come from the `ConcatDataset`.

        Args:
            dataset: the `ConcatDataset` the `DataLoader` will read.
            samplers: one `EpisodeAwareSampler` per dataset in it, in the same order.
            weights: one weight per component.
            **kwargs: the other `MixtureSampler` arguments (`block_size`, `samples_per_epoch`,
                `seed`, sharding), not `offsets`.

        Raises:
            TypeError: `dataset` is not a `ConcatDataset`, or `offsets` is given.
            ValueError: as the constructor, a count of samplers that is not the count of
                datasets, or a sampler yielding a row its dataset does not have.
        """
        if "offsets" in kwargs:
            raise TypeError("for_concat takes the offsets from the ConcatDataset")
        sizes = _concat_sizes(dataset)
        components = _components(samplers)
        if len(components) != len(sizes):
            raise ValueError(
                f"samplers must hold one sampler per dataset of the ConcatDataset "
                f"({len(sizes)}), got {len(components)}"
            )
        for c, (sampler, size) in enumerate(zip(components, sizes, strict=True)):
            low, high = sampler._core.value_range()
            if low < 0 or high >= size:
                raise ValueError(
                    f"samplers[{c}] yields row {high if high >= size else low}, but dataset {c} "
                    f"of the ConcatDataset has {size} rows: its offsets would not match"
                )
        offsets = np.cumsum([0, *sizes[:-1]], dtype=np.int64)
        return cls(components, weights, offsets=offsets, **kwargs)

    @classmethod
    def from_lerobot(
        cls,
        datasets: Any,
        weights: npt.ArrayLike,
        *,
        shuffle: bool = True,
        component_options: dict[str, Any] | Sequence[dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> MixtureSampler:
        """A mixture over several LeRobot datasets, each read by
        `EpisodeAwareSampler.from_lerobot`.

        Use it with `ConcatDataset(datasets)` (or pass that `ConcatDataset` itself):

            data = ConcatDataset([ds_a, ds_b])
            sampler = MixtureSampler.from_lerobot(data, weights=[3, 1], seed=0)
            loader = DataLoader(data, sampler=sampler, batch_size=8)

        Args:
            datasets: a `ConcatDataset` of `LeRobotDataset`s, or a sequence of them.
            weights: one weight per dataset (see `balance_weights` for size-proportional ones).
            shuffle: whether every component shuffles its frames (its own seed, default 0).
            component_options: `EpisodeAwareSampler.from_lerobot` arguments for every
                component (one dict), or one dict per dataset (drops, seed, permutation,
                window, ...); they override `shuffle`.
            **kwargs: the other `MixtureSampler` arguments (`block_size`, `samples_per_epoch`,
                `seed`, sharding).

        Raises:
            TypeError, ValueError: as `for_concat` and `EpisodeAwareSampler.from_lerobot`.
        """
        from torch.utils.data import ConcatDataset

        if not isinstance(datasets, ConcatDataset):
            if isinstance(datasets, (str, bytes)) or not hasattr(datasets, "__iter__"):
                raise TypeError(
                    "datasets must be a ConcatDataset or a sequence of LeRobot datasets, got "
                    f"{type(datasets).__name__}"
                )
            datasets = ConcatDataset(list(datasets))
        parts = datasets.datasets
        if component_options is None or isinstance(component_options, dict):
            options = [dict(component_options or {}) for _ in parts]
        else:
            options = [dict(o) for o in component_options]
            if len(options) != len(parts):
                raise ValueError(
                    f"component_options must be one dict or one per dataset ({len(parts)}), "
                    f"got {len(options)}"
                )
        samplers = [
            EpisodeAwareSampler.from_lerobot(part, **{"shuffle": shuffle, **opts})
            for part, opts in zip(parts, options, strict=True)
        ]
        return cls.for_concat(datasets, samplers, weights, **kwargs)

    # --- configuration ---------------------------------------------------------------------

    @property
    def samplers(self) -> tuple[EpisodeAwareSampler, ...]:
        """The component samplers."""
        return tuple(self._config["samplers"])

    @property
    def offsets(self) -> tuple[int, ...]:
        """The first row of every component in the concatenated dataset."""
        return tuple(self._config["offsets"].tolist())

    @property
    def block_size(self) -> int:
        """Positions per block (every full block holds `block_counts` exactly)."""
        return cast(int, self._config["block_size"])

    @property
    def block_counts(self) -> tuple[int, ...]:
        """Slots of every component in each full block."""
        return tuple(self._core.counts)

    @property
    def samples_per_epoch(self) -> int:
        """Positions of one epoch, over all ranks."""
        return cast(int, self._config["samples_per_epoch"])

    @property
    def num_samples(self) -> int:
        """`samples_per_epoch` under the name `WeightedEpisodeSampler` and the state use."""
        return self.samples_per_epoch

    @property
    def _epoch_length(self) -> int:
        return self.samples_per_epoch

    def _settings(self) -> dict[str, Any]:
        config = self._config
        return {
            "components": [s._core.fingerprint for s in config["samplers"]],
            "offsets": [int(o) for o in config["offsets"]],
            "weights": [float(w) for w in config["weights"]],
            "block_size": config["block_size"],
        }

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(components={len(self._config['samplers'])}, "
            f"block_counts={list(self.block_counts)}, block_size={self.block_size}, "
            f"samples_per_epoch={self.samples_per_epoch}, seed={self.seed}, "
            f"{self._position_repr()})"
        )


def _concat_sizes(dataset: Any) -> list[int]:
    from torch.utils.data import ConcatDataset

    if not isinstance(dataset, ConcatDataset):
        raise TypeError(f"dataset must be a ConcatDataset, got {type(dataset).__name__}")
    return [len(cast(Sized, part)) for part in dataset.datasets]


def __getattr__(name: str) -> Any:
    # `WeightedEpisodeSampler` lived here before `_weighted.py`; `episampler._mixture.Weighted...`
    # still imports (lazily: `_weighted` imports this module).
    if name in ("WeightedEpisodeSampler", "PER"):
        from episampler import _weighted

        return getattr(_weighted, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
