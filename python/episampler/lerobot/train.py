"""Train with LeRobot's own entry point (`lerobot-train`) using episampler, with exact resume
(`episampler.lerobot.install` / `main`; also importable as `episampler.integrations.lerobot`).

One step. Instead of `lerobot-train ARGS`, run

    episampler-lerobot-train ARGS            # or: python -m episampler.lerobot ARGS

with the same arguments, plus any `--episampler.*` option (`--help` lists them), and
`accelerate launch -m episampler.lerobot ARGS` for several processes. Resume as
usual with `--resume=true --config_path=...`: the `--episampler.*` options are saved with every
checkpoint and restored. From Python, call `install()` once before LeRobot's `train(cfg)`.

What `install()` changes in `lerobot.scripts.lerobot_train`, and nothing else:

- its `EpisodeAwareSampler` becomes episampler's (same arguments; the order is episampler's, a
  pure function of the seed and the epoch, with the chosen permutation and window);
- its `compute_sampler_state` becomes episampler's (the same answers on LeRobot's arguments);
- its `make_train_eval_datasets` resolves the options (restoring a resumed checkpoint's), builds
  several datasets when asked, and wraps the training dataset for the batched fetch;
- its `save_checkpoint` also writes the options into the checkpoint's `training_state`, with
  what identifies each dataset (episodes, frames, a fingerprint of the episode boundaries); a
  resumed run compares that with the dataset on disk and refuses a changed one unless
  `--episampler.on_data_change=restart_epoch` (then its `compute_sampler_state` starts the
  next epoch on the new data);
- the loop's `cycle(dataloader)` first aligns the dataloader prepared by accelerate with the
  sampler's resume point (`episampler.integrations.accelerate.align_with_sampler`). LeRobot
  alone loses that point: accelerate calls `sampler.set_epoch(0)` when a resumed run first
  iterates, so a run resumed after its first epoch replays epoch 0's order from the saved
  offset, and with several processes accelerate pads the resumed epoch with the wrong batches.

Supported LeRobot versions: `TESTED_LEROBOT_VERSIONS`; see `versions` for the policy on others.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypedDict, cast

import numpy.typing as npt

from episampler._sampler import EpisodeAwareSampler
from episampler._state import compute_sampler_state
from episampler.integrations.accelerate import align_with_sampler
from episampler.lerobot import options as _options
from episampler.lerobot.fetch import BatchedFetch
from episampler.lerobot.layout import DatasetIdentity, dataset_identity
from episampler.lerobot.options import Options, OptionsError, SavedData
from episampler.lerobot.versions import (
    TESTED_LEROBOT_VERSIONS,
    choose,
    installed_version,
)

__all__ = [
    "TESTED_LEROBOT_VERSIONS",
    "BatchedFetch",
    "install",
    "main",
]

logger = logging.getLogger("episampler.lerobot")
_TRAINING_STATE_DIR = "training_state"  # LeRobot's name for it, in 0.6.1 and 0.6.2
_INSTALL_HINT = "pip install 'lerobot[dataset,training]=={}'"
_SAMPLER_KEYS = ("window", "streams", "stream_block")


class _SamplerExtra(TypedDict, total=False):
    """The `EpisodeAwareSampler` keywords the installation adds to LeRobot's call."""

    window: int
    streams: int
    stream_block: int
    episode_groups: npt.ArrayLike


def _lerobot_version() -> str:
    version = installed_version()
    if version is None:
        raise RuntimeError(
            "episampler.integrations.lerobot needs LeRobot: "
            + _INSTALL_HINT.format(TESTED_LEROBOT_VERSIONS[0])
        )
    return version


def install(
    *,
    permutation: str | None = None,
    window: int | str | None = None,
    batched_fetch: bool | None = None,
    datasets: Any = None,
    block_size: int | None = None,
    on_data_change: str | None = None,
    cache_bytes: int | str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> None:
    """Make `lerobot.scripts.lerobot_train` sample with episampler and resume exactly.

    An argument left at None is not given: a new run takes the default (`Options`), a resumed
    run the value saved in its checkpoint. A given argument that contradicts the checkpoint of a
    resumed run is refused when the run starts (`OptionsError`, naming the option).

    Args:
        permutation: `"uniform"` or `"feistel"`.
        window: `"none"`, `"auto"` or frames per window of the read-local order.
        batched_fetch: decode each batch file by file (`BatchedFetch`).
        datasets: several datasets: a JSON list, the path of a JSON file, or a list of
            `{"repo_id", "root", "weight"}` dicts.
        block_size: positions per block of a mixture of several datasets.
        on_data_change: what a resumed run does when a dataset changed since its checkpoint:
            `"refuse"` (the default: an `OptionsError` naming the dataset and what changed) or
            `"restart_epoch"` (a warning; training goes on from the start of the next epoch on
            the new data). Not saved with the checkpoint.
        cache_bytes: with `--dataset.streaming=true`, the local disk for the stream's copies
            of the files being read (bytes, or a string with a unit: `"40GB"`). Not saved.
        cache_dir: with `--dataset.streaming=true`, where those copies go. Not saved.

    Safe to call more than once with the same arguments (other arguments are a `ValueError`).

    Raises:
        RuntimeError: LeRobot is missing, or its version is refused.
        OptionsError: a bad option (a `ValueError`).
    """
    given = {
        "permutation": permutation,
        "window": window,
        "batched_fetch": batched_fetch,
        "datasets": datasets,
        "block_size": block_size,
        "on_data_change": on_data_change,
        "cache_bytes": cache_bytes,
        "cache_dir": cache_dir,
    }
    explicit = _options.checked({k: v for k, v in given.items() if v is not None})
    version = _lerobot_version()
    try:
        from lerobot.scripts import lerobot_train
    except ImportError as error:
        raise RuntimeError(
            f"episampler's lerobot-train integration supports lerobot "
            f"{', '.join(TESTED_LEROBOT_VERSIONS)}, not {version}, whose training script "
            f"does not import ({error}). Install a supported version: "
            + _INSTALL_HINT.format(TESTED_LEROBOT_VERSIONS[0])
        ) from None

    installed = getattr(lerobot_train, "_episampler_installation", None)
    if installed is not None:
        if installed.explicit != explicit:
            raise ValueError(
                f"episampler is already installed with {installed.explicit or 'the defaults'}, "
                f"not {explicit or 'the defaults'}"
            )
        return
    profile, warning = choose(version, lerobot_train)
    if warning is not None:
        logger.warning(warning)
    _Installation(lerobot_train, profile.dp_size_from, explicit).patch()


class _Installation:
    """The patched names and what they share during one run."""

    def __init__(self, module: Any, dp_size_from: str | None, explicit: dict[str, Any]):
        self.module = module
        self.dp_size_from = dp_size_from
        self.explicit = explicit
        self.on_data_change: str = explicit.get("on_data_change", "refuse")
        self.options: Options | None = None  # resolved when the datasets are made
        self.saved_sampler: dict[str, Any] = {}
        self.saved_data: SavedData | None = None  # the resumed checkpoint's, if it has one
        self.checkpoint: str = ""  # the resumed checkpoint's directory
        self.identities: tuple[DatasetIdentity, ...] = ()  # of the datasets this run reads
        self.restart = False  # resume on changed data: start the next epoch
        self.epoch_length: int | None = None  # positions per epoch of the sampler
        self.origin = (0, 0)  # (step, epoch): where the epoch count starts from offset 0
        self.settings: dict[str, Any] = {}  # what the sampler was built with
        self.cfg: Any = None
        self.dataset: Any = None
        self.fetch: BatchedFetch | None = None  # the training dataset's, to decode ahead
        self.dp_size: int | None = None

    def patch(self) -> None:
        m = self.module
        m.EpisodeAwareSampler = self.episode_aware_sampler
        m.compute_sampler_state = self.compute_sampler_state
        m.cycle = _aligned_cycle(m.cycle)
        m.make_train_eval_datasets = self.wrap_make_datasets(m.make_train_eval_datasets)
        m.save_checkpoint = self.wrap_save_checkpoint(m.save_checkpoint)
        if self.dp_size_from is not None:
            setattr(m, self.dp_size_from, self.wrap_dp_size(getattr(m, self.dp_size_from)))
        m._episampler_installation = self

    # --- options ---------------------------------------------------------------------------

    def resolve(self, cfg: Any) -> Options:
        saved = None
        if getattr(cfg, "resume", False) and getattr(cfg, "checkpoint_path", None) is not None:
            directory = Path(cfg.checkpoint_path) / _TRAINING_STATE_DIR
            self.checkpoint = str(cfg.checkpoint_path)
            loaded = _options.load(directory)
            if loaded is None:
                logger.warning(
                    "the checkpoint being resumed (%s) holds no episampler options (it was "
                    "written without them); continuing with %s",
                    cfg.checkpoint_path,
                    _options.resolve(self.explicit, None, ""),
                )
            else:
                saved = loaded.options
                self.saved_sampler, self.saved_data = loaded.sampler, loaded.data
                if self.saved_data is not None:
                    self.origin = (self.saved_data.origin_step, self.saved_data.origin_epoch)
        options = _options.resolve(self.explicit, saved, str(getattr(cfg, "checkpoint_path", "")))
        if saved is not None:
            logger.info("episampler options restored from the checkpoint: %s", options)
        return options

    def wrap_make_datasets(self, make: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(make)
        def make_train_eval_datasets(cfg: Any, *args: Any, **kwargs: Any) -> Any:
            self.options = options = self.resolve(cfg)
            self.cfg = cfg
            dataset: Any  # LeRobot's dataset, a MixtureDataset, or either in a BatchedFetch
            if getattr(cfg.dataset, "streaming", False):
                if options.window is None:  # a stream's default
                    self.options = options = dataclasses.replace(options, window="auto")
                dataset, eval_dataset = self.make_stream(cfg, options), None
                self.dataset = dataset
                self.identities = _identities(dataset, options)
                if self.checkpoint:
                    self.check_data(options)
                return dataset, eval_dataset
            for name in _options.STREAM_FIELDS:
                if name in self.explicit:
                    raise OptionsError(
                        f"--episampler.{name} is for --dataset.streaming=true only (a dataset "
                        "read in place copies nothing)"
                    )
            if options.datasets is not None:
                from episampler.lerobot.datasets import make_mixture_datasets

                dataset, eval_dataset = make_mixture_datasets(cfg, options)
            else:
                dataset, eval_dataset = make(cfg, *args, **kwargs)
            self.dataset = dataset
            self.identities = _identities(dataset, options)
            if self.checkpoint:
                self.check_data(options)
            if options.batched_fetch:
                from episampler.lerobot.fetch import BatchedFetch

                try:
                    if options.datasets is not None:  # each component fetches its own rows
                        dataset.datasets = [BatchedFetch(part) for part in dataset.datasets]
                    else:
                        dataset = self.fetch = BatchedFetch(dataset)
                except (RuntimeError, TypeError) as error:  # e.g. an untested LeRobot version
                    raise OptionsError(f"--episampler.batched_fetch=true: {error}") from error
            return dataset, eval_dataset

        return make_train_eval_datasets

    def make_stream(self, cfg: Any, options: Options) -> Any:
        """`--dataset.streaming=true`: an `EpisodeStream` instead of LeRobot's streaming
        dataset, continued at the checkpoint's step on resume."""
        from episampler.lerobot.stream import train_stream

        refused = {
            "--episampler.datasets": options.datasets is not None,
            "--episampler.batched_fetch=true": options.batched_fetch,
            "--dataset.eval_split": bool(getattr(cfg.dataset, "eval_split", 0.0)),
            # A stream continues on the data it was saved on, or is refused.
            "--episampler.on_data_change=restart_epoch": self.on_data_change != "refuse",
        }
        for flag, given in refused.items():
            if given:
                raise OptionsError(f"{flag} is not available with --dataset.streaming=true")
        step = None
        if self.checkpoint:
            path = Path(self.checkpoint) / _TRAINING_STATE_DIR / "training_step.json"
            step = int(json.loads(path.read_text())["step"])
            if not self.saved_sampler:
                logger.warning(
                    "the checkpoint being resumed (%s) does not record its stream's order (an "
                    "older episampler wrote it): the order is resolved anew, which continues "
                    "exactly only with the first run's --num_workers and decoder cache size",
                    self.checkpoint,
                )
        disk = {k: v for k, v in self.explicit.items() if k in _options.STREAM_FIELDS}
        stream = train_stream(cfg, options.window, step, self.saved_sampler or None, **disk)
        self.settings = stream._order_settings()  # saved with each checkpoint
        return stream

    def wrap_save_checkpoint(self, save: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(save)
        def save_checkpoint(checkpoint_dir: Any, *args: Any, **kwargs: Any) -> Any:
            result = save(checkpoint_dir, *args, **kwargs)
            if self.options is not None and _rank() == 0:
                directory = Path(checkpoint_dir) / _TRAINING_STATE_DIR
                data = SavedData(self.identities, self.epoch_length, *self.origin)
                _options.save(directory, self.options, self.settings, data)
            return result

        return save_checkpoint

    def wrap_dp_size(self, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def with_dp_size(*args: Any, **kwargs: Any) -> Any:
            import inspect

            bound = inspect.signature(function).bind(*args, **kwargs)
            self.dp_size = int(bound.arguments["parallel_dims"].dp_world_size)
            return function(*args, **kwargs)

        return with_dp_size

    # --- the data ----------------------------------------------------------------------------

    def check_data(self, options: Options) -> None:
        """On resume: the datasets as the checkpoint recorded them, or refused (or, with
        `on_data_change="restart_epoch"`, a warning and a restart at the next epoch)."""
        saved = self.saved_data
        if saved is None or not saved.datasets:
            logger.info(
                "the checkpoint being resumed (%s) records no dataset identity (it was saved by "
                "an earlier episampler): whether the data changed since cannot be checked",
                self.checkpoint,
            )
            return
        if not self.identities:
            logger.info("the datasets' identity cannot be read: not checked against the checkpoint")
            return
        changed = []
        for before, now in zip(saved.datasets, self.identities, strict=False):
            changes = now.changes_since(before)
            if changes:
                changed.append(f"{before.name()}: {', '.join(changes)}")
        if len(saved.datasets) != len(self.identities):
            changed.append(f"datasets {len(saved.datasets)} -> {len(self.identities)}")
        if not changed:
            self.check_block_counts(options)
            return
        what = (
            f"the data changed since the checkpoint being resumed ({self.checkpoint}) was saved: "
            + "; ".join(changed)
        )
        if self.on_data_change == "refuse":
            raise OptionsError(
                f"{what}. Its order cannot continue on other data: resume with the data as it "
                "was, or pass --episampler.on_data_change=restart_epoch to go on from the start "
                "of the next epoch on the new data"
            )
        logger.warning(
            "%s. --episampler.on_data_change=restart_epoch: training goes on from the start of "
            "the next epoch on the new data",
            what,
        )
        self.restart = True

    def check_block_counts(self, options: Options) -> None:
        """A mixture on unchanged data has the block counts its checkpoint saved."""
        saved = self.saved_sampler.get("block_counts")
        if options.datasets is None or saved is None:
            return
        now = list(self.dataset.sampler.block_counts)
        if now != saved:
            raise OptionsError(
                f"the mixture's block counts are {now} but {saved} in the checkpoint being "
                f"resumed ({self.checkpoint}), on the same data: its saved options were edited"
            )

    def compute_sampler_state(self, step: Any, num_frames: Any, *args: Any, **kwargs: Any) -> Any:
        """LeRobot's resume point: `compute_sampler_state` counted from the epoch origin; after
        a change of data with `on_data_change="restart_epoch"`, the start of the next epoch."""
        origin_step, origin_epoch = self.origin
        steps = int(step) - origin_step if int(step) >= origin_step else int(step)
        if self.restart:
            saved = self.saved_data
            length = (
                num_frames if saved is None or saved.epoch_length is None else saved.epoch_length
            )
            old = compute_sampler_state(steps, length, *args, **kwargs)
            interrupted = origin_epoch + old["epoch"]
            epoch = interrupted + (1 if old["start_index"] else 0)
            self.origin = (int(step), epoch)
            self.restart = False
            if old["start_index"]:
                logger.warning(
                    "episampler: the data changed; epoch %d, interrupted at position %d of %d, is "
                    "not continued: step %d starts epoch %d from its first position, on the new "
                    "data",
                    interrupted,
                    old["start_index"],
                    length,
                    int(step),
                    epoch,
                )
            else:
                logger.warning(
                    "episampler: the data changed; the checkpoint was at the start of epoch %d: "
                    "step %d starts it on the new data",
                    epoch,
                    int(step),
                )
            state = compute_sampler_state(0, num_frames, *args, **kwargs)  # an epoch's start
            state["epoch"] = epoch
            return state
        state = compute_sampler_state(steps, num_frames, *args, **kwargs)
        state["epoch"] += origin_epoch
        return state

    # --- the sampler -----------------------------------------------------------------------

    def episode_aware_sampler(self, *args: Any, **kwargs: Any) -> Any:
        options = self.options or _options.resolve(self.explicit, None, "")
        if options.datasets is not None:  # built with the datasets (their stats need it)
            sampler = self.dataset.sampler
            self.settings = {"block_counts": list(sampler.block_counts)}
            self.epoch_length = len(sampler)
            return sampler
        settings = self.sampler_settings(options, kwargs)
        self.settings = settings
        # Only the keys of _SAMPLER_KEYS, none of them one of LeRobot's arguments.
        extra = cast(
            _SamplerExtra, {k: settings[k] for k in _SAMPLER_KEYS if settings.get(k) is not None}
        )
        if settings.get("group_by") is not None:
            from episampler.lerobot.layout import lerobot_groups

            extra["episode_groups"] = lerobot_groups(self.dataset, settings["group_by"])
        sampler = EpisodeAwareSampler(*args, permutation=options.permutation, **extra, **kwargs)
        if self.fetch is not None:  # its workers decode their next batches ahead
            self.fetch.set_read_ahead(sampler)
        self.epoch_length = len(sampler)
        logger.info("episampler sampler: %r", sampler)
        return sampler

    def sampler_settings(self, options: Options, kwargs: dict[str, Any]) -> dict[str, Any]:
        """window, group_by, streams, stream_block: the checkpoint's when resuming (the choice
        of window="auto" is kept), else chosen now."""
        if self.saved_sampler:
            return dict(self.saved_sampler)
        settings: dict[str, Any] = {"window": options.window, "group_by": None}
        settings.update(streams=None, stream_block=None)
        if options.window == "auto":
            from episampler.lerobot.auto_window import auto_settings

            num_workers = int(getattr(self.cfg, "num_workers", 0) or 0)
            settings.update(
                auto_settings(
                    self.dataset,
                    drop_n_first_frames=kwargs.get("drop_n_first_frames", 0),
                    drop_n_last_frames=kwargs.get("drop_n_last_frames", 0),
                    num_workers=num_workers,
                    batch_size=int(self.cfg.batch_size) if num_workers > 0 else None,
                    num_processes=self.dp_world_size() if num_workers > 0 else 1,
                )
            )
        return settings

    def dp_world_size(self) -> int:
        if self.dp_size is not None:
            return self.dp_size
        import torch.distributed as dist

        return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def _identities(dataset: Any, options: Options) -> tuple[DatasetIdentity, ...]:
    """The identity of each dataset the run reads (one per dataset of a mixture); empty when one
    cannot be read."""
    parts = dataset.datasets if options.datasets is not None else [dataset]
    identities = [dataset_identity(part) for part in parts]
    if any(identity is None for identity in identities):
        return ()
    return tuple(cast(DatasetIdentity, identity) for identity in identities)


def _rank() -> int:
    import torch.distributed as dist

    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def _aligned_cycle(cycle: Callable[[Any], Iterator[Any]]) -> Callable[[Any], Iterator[Any]]:
    @functools.wraps(cycle)
    def aligned_cycle(dataloader: Any) -> Iterator[Any]:
        # LeRobot calls cycle(dataloader) once, right after accelerator.prepare, when the
        # sampler already holds the resume point it loaded.
        if _draws_from_ours(dataloader):
            align_with_sampler(dataloader)
        stream = _stream_of(dataloader)
        if stream is not None:
            from episampler.lerobot.stream import per_process_loader

            dataloader = per_process_loader(dataloader, stream)
            if hasattr(dataloader, "iteration"):
                # accelerate calls set_epoch(iteration) at every pass: count passes from the
                # stream's epoch.
                dataloader.iteration = stream.epoch
        return cycle(dataloader)

    return aligned_cycle


def _stream_of(dataloader: Any) -> Any:
    """The `EpisodeStream` a (prepared) dataloader reads, if it reads one."""
    from episampler.lerobot.stream import EpisodeStream

    dataset = getattr(dataloader, "dataset", None)
    dataset = getattr(dataset, "dataset", dataset)  # under accelerate's IterableDatasetShard
    return dataset if isinstance(dataset, EpisodeStream) else None


def _draws_from_ours(dataloader: Any) -> bool:
    from episampler._resumable import ResumableSampler

    batch_sampler = getattr(dataloader, "batch_sampler", None)
    inner = getattr(batch_sampler, "batch_sampler", batch_sampler)  # under a BatchSamplerShard
    return hasattr(dataloader, "iteration") and isinstance(
        getattr(inner, "sampler", None), ResumableSampler
    )


def main(argv: Sequence[str] | None = None) -> None:
    """`lerobot-train` with episampler: the same arguments, plus the `--episampler.*` options
    (`--help` lists them before LeRobot's own)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        explicit, rest = _options.split_arguments(args)
        if "datasets" in explicit:
            rest = _dataset_placeholder(rest, explicit["datasets"])
        install(**explicit)
        if any(a in ("-h", "--help") for a in rest):
            print(_options.HELP)
    except (RuntimeError, OptionsError) as error:
        raise SystemExit(f"episampler-lerobot-train: error: {error}") from None
    from lerobot.scripts import lerobot_train

    sys.argv = [sys.argv[0], *rest]  # LeRobot parses sys.argv itself
    try:
        lerobot_train.main()
    except OptionsError as error:  # raised when the run resolves its options
        raise SystemExit(f"episampler-lerobot-train: error: {error}") from None


def _dataset_placeholder(args: list[str], datasets: Any) -> list[str]:
    """LeRobot requires `--dataset.repo_id`: several datasets stand in with the first one's."""
    clash = [a for a in args if a.split("=")[0] in ("--dataset.repo_id", "--dataset.root")]
    if clash:
        raise OptionsError(
            f"--episampler.datasets replaces {clash[0].split('=')[0]}: give the datasets in "
            "--episampler.datasets only"
        )
    if any(a.startswith("--config_path") for a in args):
        return args  # a resumed run: LeRobot reads the dataset fields from its train config
    first = datasets[0]
    extra = [f"--dataset.repo_id={first.repo_id}"]
    if first.root is not None:
        extra.append(f"--dataset.root={first.root}")
    return [*args, *extra]
