"""Several LeRobot v3 datasets in one `lerobot-train` run (`--episampler.datasets`).

Each dataset is built by LeRobot's own `make_dataset` (its delta timestamps, image transforms,
uint8 transport and stats options), with the run's configuration and that dataset's `repo_id`
and `root`. They must agree on features (names, dtypes, shapes) and fps. The training loop reads
them through `MixtureDataset` (a `ConcatDataset` whose items carry `dataset_index`) in the order
of a `MixtureSampler`: every block of `block_size` positions holds each dataset's share exactly;
each dataset is read through its own shuffled epochs. The normalisation stats are LeRobot's
`aggregate_stats` of the datasets' stats, each counted with its draws in an epoch of the mixture.
"""

from __future__ import annotations

import bisect
import copy
import dataclasses
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np

from episampler._mixture import MixtureSampler, balance_weights
from episampler.lerobot.layout import is_v3_format
from episampler.lerobot.options import DatasetSpec, Options, OptionsError

__all__ = ["MixtureDataset", "draws_per_epoch", "make_mixture_datasets", "mixture_stats"]

logger = logging.getLogger("episampler.lerobot")


class _MixtureMeta:
    """The first dataset's metadata (all agree on features and fps), with the mixture's stats
    and totals."""

    def __init__(self, metas: Sequence[Any], stats: dict[str, Any]):
        self._first = metas[0]
        self.stats = stats
        self.total_frames = sum(int(m.total_frames) for m in metas)
        self.total_episodes = sum(int(m.total_episodes) for m in metas)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_first":  # copy and pickle look these up first
            raise AttributeError(name)
        return getattr(self._first, name)


class MixtureDataset:
    """The datasets of a mixture end to end (row `offsets[c] + r` is row `r` of dataset `c`);
    every item also carries `dataset_index` (c, a 0-d int64 tensor)."""

    def __init__(self, datasets: Sequence[Any], stats: dict[str, Any], sampler: MixtureSampler):
        from torch.utils.data import ConcatDataset

        self.datasets = list(datasets)
        self._concat: ConcatDataset[Any] = ConcatDataset(self.datasets)
        self.cumulative_sizes = self._concat.cumulative_sizes
        self.meta = _MixtureMeta([d.meta for d in self.datasets], stats)
        self.sampler = sampler
        self.num_frames = sum(len(d) for d in self.datasets)
        self.num_episodes = sum(int(d.num_episodes) for d in self.datasets)
        # What LeRobot's training script reads to build its sampler (replaced by `sampler`).
        self.episodes = None
        self.absolute_to_relative_idx = None

    def __len__(self) -> int:
        return self.num_frames

    def _locate(self, index: int) -> tuple[int, int]:
        if not 0 <= index < self.num_frames:
            raise IndexError(f"index {index} is out of range for {self.num_frames} rows")
        c = bisect.bisect_right(self.cumulative_sizes, index)
        return c, index - (self.cumulative_sizes[c - 1] if c else 0)

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, Any]]:
        """The items of `indices`, each component's rows fetched in one call when it has
        `__getitems__` (a `BatchedFetch`)."""
        import torch

        located = [self._locate(int(i)) for i in indices]
        items: list[Any] = [None] * len(located)
        for c, dataset in enumerate(self.datasets):
            slots = [k for k, (owner, _) in enumerate(located) if owner == c]
            if not slots:
                continue
            rows = [located[k][1] for k in slots]
            fetch = getattr(dataset, "__getitems__", None)
            fetched = fetch(rows) if fetch is not None else [dataset[r] for r in rows]
            for k, item in zip(slots, fetched, strict=True):
                item["dataset_index"] = torch.tensor(c, dtype=torch.int64)
                items[k] = item
        return items

    def __getitem__(self, index: int) -> dict[str, Any]:
        import torch

        c, row = self._locate(int(index))
        item: dict[str, Any] = self.datasets[c][row]
        item["dataset_index"] = torch.tensor(c, dtype=torch.int64)
        return item


def _with_dataset(cfg: Any, spec: DatasetSpec) -> Any:
    one = copy.copy(cfg)
    one.dataset = dataclasses.replace(cfg.dataset, repo_id=spec.repo_id, root=spec.root)
    return one


def _name(i: int, spec: DatasetSpec) -> str:
    return f"dataset {i} ({spec.repo_id})"


def _check_root(i: int, spec: DatasetSpec) -> None:
    if spec.root is None:
        return  # LeRobot finds or downloads it
    root = Path(spec.root).expanduser()
    if not root.is_dir():
        raise OptionsError(f"{_name(i, spec)}: root {spec.root} is not a directory")
    info = root / "meta" / "info.json"
    if not info.is_file():
        raise OptionsError(f"{_name(i, spec)}: {info} is missing: not a LeRobot dataset")
    version = str(json.loads(info.read_text()).get("codebase_version", "unknown"))
    if not is_v3_format(version):
        raise OptionsError(
            f"{_name(i, spec)}: format {version}; several datasets need LeRobot's format v3 "
            "(convert it with LeRobot's convert_dataset_v21_to_v30)"
        )


def _feature_summary(meta: Any) -> dict[str, tuple[Any, ...]]:
    return {
        key: (value.get("dtype"), tuple(value.get("shape") or ()), value.get("names"))
        for key, value in meta.features.items()
    }


def _check_agreement(specs: Sequence[DatasetSpec], datasets: Sequence[Any]) -> None:
    first = _feature_summary(datasets[0].meta)
    for i in range(1, len(datasets)):
        meta = datasets[i].meta
        where = f"{_name(i, specs[i])} differs from {_name(0, specs[0])}"
        if meta.fps != datasets[0].meta.fps:
            raise OptionsError(f"{where}: fps {meta.fps}, not {datasets[0].meta.fps}")
        here = _feature_summary(meta)
        for key in sorted(set(first) | set(here)):
            if key not in here:
                raise OptionsError(f"{where}: it has no feature {key!r}")
            if key not in first:
                raise OptionsError(f"{where}: it has a feature {key!r} the first one lacks")
            for part, a, b in zip(("dtype", "shape", "names"), first[key], here[key], strict=True):
                if a != b:
                    raise OptionsError(f"{where}: feature {key!r} has {part} {b}, not {a}")


def draws_per_epoch(sampler: MixtureSampler, epoch: int = 0) -> list[int]:
    """How many positions of `epoch` each component of `sampler` takes."""
    offsets = np.asarray(sampler.offsets)
    indices = np.asarray(sampler.epoch_indices(epoch))
    components = np.searchsorted(offsets, indices, side="right") - 1
    return cast(list[int], np.bincount(components, minlength=len(offsets)).tolist())


def mixture_stats(datasets: Sequence[Any], draws: Sequence[int]) -> dict[str, Any]:
    """LeRobot's `aggregate_stats` of the datasets' stats, dataset `c` counted `draws[c]` times
    (its draws per epoch): the stats of the distribution the mixture draws from."""
    from lerobot.datasets.compute_stats import aggregate_stats

    weighted = []
    for dataset, count in zip(datasets, draws, strict=True):
        if count == 0:
            continue
        stats = {  # numpy arrays (LeRobot's ImageNet stats are tensors), counted by draws
            key: {
                **{name: np.asarray(v, dtype=np.float64) for name, v in value.items()},
                "count": np.array([count], dtype=np.int64),
            }
            for key, value in dataset.meta.stats.items()
        }
        weighted.append(stats)
    return cast(dict[str, Any], aggregate_stats(weighted))


def make_mixture_datasets(cfg: Any, options: Options) -> tuple[MixtureDataset, None]:
    """The training dataset of `--episampler.datasets` (with its sampler; no eval dataset).

    Raises:
        OptionsError: a dataset is missing, of format v2.1, or disagrees with the first one;
            options LeRobot applies to one dataset only (`eval_split`, `episodes`, streaming).
    """
    from lerobot.datasets.factory import make_dataset

    specs = options.datasets
    assert specs is not None
    refused = {
        "--dataset.eval_split": getattr(cfg.dataset, "eval_split", 0.0) not in (0, 0.0, None),
        "--dataset.episodes": getattr(cfg.dataset, "episodes", None) is not None,
        "--dataset.streaming": bool(getattr(cfg.dataset, "streaming", False)),
    }
    for flag, given in refused.items():
        if given:
            raise OptionsError(f"{flag} applies to one dataset; it is refused with several")
    for i, spec in enumerate(specs):
        _check_root(i, spec)
    datasets = []
    for i, spec in enumerate(specs):
        try:
            datasets.append(make_dataset(_with_dataset(cfg, spec)))
        except Exception as error:
            raise OptionsError(f"{_name(i, spec)} could not be loaded: {error}") from error
    _check_agreement(specs, datasets)
    if specs[0].weight is None:
        weights = balance_weights(datasets)
    else:
        weights = [float(spec.weight or 0.0) for spec in specs]
    seed = int(cfg.seed) if cfg.seed is not None else 0
    drop = int(getattr(cfg.trainable_config, "drop_n_last_frames", 0) or 0)
    component = {"shuffle": True, "drop_n_last_frames": drop, "permutation": options.permutation}
    if isinstance(options.window, int):
        component["window"] = options.window
    windows = [dict(component) for _ in datasets]
    if options.window == "auto":
        for c, (spec, dataset) in enumerate(zip(specs, datasets, strict=True)):
            windows[c].update(_auto_component_window(_name(c, spec), dataset, len(datasets), drop))
    sampler = MixtureSampler.from_lerobot(
        datasets,
        weights,
        component_options=[
            {**windows[c], "seed": (seed + 1 + c) % 2**64} for c in range(len(datasets))
        ],
        seed=seed,
        block_size=options.block_size,
    )
    draws = draws_per_epoch(sampler)
    stats = mixture_stats(datasets, draws)
    for c, (spec, dataset) in enumerate(zip(specs, datasets, strict=True)):
        logger.info(
            "episampler mixture: %s, %d frames, weight %.4g, %d of %d slots per block, "
            "%d draws per epoch",
            _name(c, spec),
            len(dataset),
            weights[c],
            sampler.block_counts[c],
            sampler.block_size,
            draws[c],
        )
    logger.info("episampler mixture sampler: %r", sampler)
    return MixtureDataset(datasets, stats, sampler), None


def _auto_component_window(
    name: str, dataset: Any, components: int, drop_n_last_frames: int
) -> dict[str, Any]:
    """`window="auto"` for one dataset of a mixture: every DataLoader worker reads every
    dataset's current window, so each dataset's windows fit an equal share of the decoder
    cache. No worker streams: the mixture interleaves the datasets' draws."""
    from episampler.lerobot.auto_window import auto_window, decoder_cache_size

    cache = decoder_cache_size()
    share = None if cache is None else max(1, cache // components)
    choice = auto_window(
        dataset, "unbounded" if share is None else share, drop_n_last_frames=drop_n_last_frames
    )
    logger.info("%s, its share of the decoder cache (%s of %s): %s", name, share, cache, choice)
    return {"window": choice.window, "group_by": choice.group_by}
