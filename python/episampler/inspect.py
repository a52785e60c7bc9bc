"""`episampler.inspect`: the quality and I/O report of a sampler's read order.

Training on video datasets is bound by decoding, and the order the sampler yields decides how
many video files (decoders) every DataLoader worker opens. `io_report` measures one epoch of a
sampler's order, next to a global `"uniform"` shuffle of the same frames:

- mean distinct episodes and groups (e.g. video files) per batch, and over spans of several
  consecutive batches (the mixing over several optimiser steps);
- decoder opens per 1,000 samples, from an exact simulation of each worker's LRU decoder cache
  as LeRobot 0.6.1 keeps it: one LRU per worker process (`LEROBOT_VIDEO_DECODER_CACHE_SIZE`
  decoders, 100 by default), keyed by video file path, so shared by the cameras;
- the mean normalised displacement of frames from boundary order (0: boundary order, about
  1/3: a global shuffle);
- the decoder-cache size the order needs to open each decoder only once per worker.

`python -m episampler.inspect` prints these figures against window sizes of the windowed
("read-local") order, on synthetic episodes or on a LeRobot v3 dataset's episodes, and can plot
them (`--plot PATH.png`, needs matplotlib: `pip install matplotlib`).
"""

from __future__ import annotations

import argparse
import time
import types
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from episampler import _core
from episampler._baselines import synthetic_episodes
from episampler._cli import count as _count
from episampler._cli import require_matplotlib
from episampler._inputs import as_index_array, as_int
from episampler._resumable import COUNT_LIMIT, EPOCH_LIMIT, check_iterable_epoch
from episampler._sampler import EpisodeAwareSampler, stream_settings
from episampler.lerobot.auto_window import (
    CACHE_SIZE_VARIABLE,
    LEROBOT_DEFAULT_CACHE_SIZE,
    auto_window,
    decoder_cache_size,
)
from episampler.lerobot.layout import lerobot_groups

__all__ = ["io_report", "main"]

DEFAULT_DECODER_CACHE_SIZE = LEROBOT_DEFAULT_CACHE_SIZE  # without CACHE_SIZE_VARIABLE set
DEFAULT_SPAN_BATCHES = 16  # the span figures: distinct episodes and groups in 16 batches
_WORKER_LIMIT = _core.MAX_WORKERS + 1


@dataclass(frozen=True)
class _ReadSetup:
    batch_size: int
    num_workers: int
    decoder_cache_size: int | None
    decoders_per_group: int
    span_batches: int = DEFAULT_SPAN_BATCHES


def _read_setup(
    batch_size: Any,
    num_workers: Any,
    decoder_cache_size: Any,
    decoders_per_group: Any,
    span_batches: Any = DEFAULT_SPAN_BATCHES,
) -> _ReadSetup:
    return _ReadSetup(
        batch_size=as_int("batch_size", batch_size, low=1, high=COUNT_LIMIT),
        num_workers=as_int("num_workers", num_workers, high=_WORKER_LIMIT),
        decoder_cache_size=None
        if decoder_cache_size is None
        else as_int("decoder_cache_size", decoder_cache_size, low=1, high=COUNT_LIMIT),
        decoders_per_group=as_int(
            "decoders_per_group", decoders_per_group, low=1, high=COUNT_LIMIT
        ),
        span_batches=as_int("span_batches", span_batches, low=1, high=COUNT_LIMIT),
    )


def _groups_of(sampler: EpisodeAwareSampler, groups: Any) -> np.ndarray | None:
    """`episode_groups` checked against the boundary arrays, else the sampler's own,
    else None (each episode its own group)."""
    if groups is None:
        groups = getattr(sampler, "episode_groups", None)
        if groups is None:
            return None
    ids = as_index_array("episode_groups", groups)
    _core.check_group_ids("episode_groups", len(ids), len(sampler._config["from_indices"]))
    return ids


def _figures(
    core: _core.SamplerCore,
    shard_args: tuple[int, int, bool, int | None],
    groups: np.ndarray | None,
    epoch: int,
    setup: _ReadSetup,
) -> dict[str, Any]:
    rank, num_replicas, drop_last, pad_to_multiple = shard_args
    figures = _core.io_report(
        core,
        groups,
        epoch,
        setup.batch_size,
        setup.num_workers,
        setup.decoder_cache_size,
        setup.decoders_per_group,
        rank,
        num_replicas,
        drop_last,
        pad_to_multiple,
        setup.span_batches,
    )
    cache = setup.decoder_cache_size
    figures["fits_cache"] = cache is None or figures["needed_cache_size"] <= cache
    # Each worker's distinct files per 1,000 of its samples, averaged over the workers that read.
    rates = [
        1000 * files / samples
        for files, samples in zip(figures["worker_groups"], figures["worker_samples"], strict=True)
        if samples
    ]
    figures["files_per_worker_per_1000_samples"] = sum(rates) / len(rates) if rates else 0.0
    return figures


def _uniform_core(config: dict[str, Any]) -> _core.SamplerCore:
    """A global `"uniform"` shuffle of the kept frames of `config`, with its seed. Built in the
    core directly: `EpisodeAwareSampler` would warn about skipped episodes a second time."""
    return _core.SamplerCore(
        config["from_indices"],
        config["to_indices"],
        config["episode_indices_to_use"],
        config["drop_n_first_frames"],
        config["drop_n_last_frames"],
        True,
        config["seed"],
        "uniform",
    )


def io_report(
    sampler: EpisodeAwareSampler,
    *,
    batch_size: int,
    num_workers: int,
    decoder_cache_size: int | None = DEFAULT_DECODER_CACHE_SIZE,
    decoders_per_group: int = 1,
    episode_groups: npt.ArrayLike | None = None,
    epoch: int | None = None,
    groups: npt.ArrayLike | None = None,
    span_batches: int = DEFAULT_SPAN_BATCHES,
) -> dict[str, Any]:
    """The quality and I/O report of one epoch of `sampler`'s order, next to the same figures
    for a global `"uniform"` shuffle of the same kept frames (same seed and sharding).

    The epoch is read from its start as this rank's shard, cut into batches of `batch_size`
    (a short last batch counts as one batch, as with the DataLoader's `drop_last=False`);
    batch `i` is read by worker `i % num_workers` (`num_workers=0`: the main process reads all),
    each worker with its own LRU of `decoder_cache_size` decoders, starting empty. A sample
    needs `decoders_per_group` decoders of its episode's group, one per camera, as LeRobot
    0.6.1's `VideoDecoderCache` keys decoders by video file path (camera and file), one cache
    per worker process shared by the cameras. The cameras are looked up in a fixed order, so
    a cache of `C` decoders behaves as `C // decoders_per_group` whole groups.

    Args:
        sampler: The sampler whose order is reported (any order: boundary, global shuffle,
            windowed). The epoch's order is the one the sampler caches for iteration: reused
            if built, else built and kept in its place.
        batch_size: Samples per batch, >= 1.
        num_workers: DataLoader workers, >= 0 (0: one reader, the main process).
        decoder_cache_size: Decoders each worker's LRU holds, >= 1 (LeRobot:
            `LEROBOT_VIDEO_DECODER_CACHE_SIZE`, 100 by default); None: unbounded.
        decoders_per_group: Decoders a sample opens in its group (e.g. cameras), >= 1.
        episode_groups: One id (any int) per episode of the sampler's boundary arrays, e.g. the
            video file holding it; episodes with equal ids share decoders. Default: the
            sampler's `episode_groups` when it has them, else each episode its own group.
        epoch: The epoch reported; default the sampler's current epoch.
        groups: Deprecated name of `episode_groups` (a `DeprecationWarning`).
        span_batches: Consecutive batches of the span figures, >= 1 (default 16).

    Returns:
        A dict with the inputs (`num_frames`, `num_episodes` kept, `num_groups` among them,
        `epoch`, `batch_size`, `num_workers`, `decoder_cache_size`, `decoders_per_group`) and
        the figures of the sampler's order under `"sampler"` and of the global shuffle under
        `"uniform"`, each a dict with:

        - `num_samples`, `num_batches`: samples this rank reads, and their batches;
        - `mean_episodes_per_batch`, `mean_groups_per_batch`: distinct kept episodes / groups
        in a batch, averaged over the batches, the short last one included;
        - `num_spans`, `mean_episodes_per_span`, `mean_groups_per_span`: the same over spans
        of `span_batches` consecutive batches in the order the DataLoader delivers them
        (batch `i` after batch `i - 1`, whichever worker read it), the short last span
        included: how many episodes and files the model sees over that many steps;
        - `decoder_opens`: decoders opened, all workers together, and `worker_opens`, per
        worker (`max(1, num_workers)` entries);
        - `worker_samples`, `worker_groups`: samples and distinct groups (files) each worker
        reads, and `files_per_worker_per_1000_samples`: `1000 * worker_groups /
        worker_samples`, averaged over the workers (with worker-aware `streams`, each worker
        reads only its own stream's files);
        - `opens_per_1000_samples`: `1000 * decoder_opens / num_samples`, each worker's rate
        weighted by its samples;
        - `cold_opens`: what an unbounded cache opens (each worker's distinct decoders once);
        - `mean_displacement`: mean over global positions `p` of `|p - logical(p)| /
        num_frames`, `logical(p)` the boundary-order position of the frame yielded at `p`;
        - `needed_cache_size`: the smallest cache size at which every worker opens only
        `cold_opens` (any larger one does too), i.e. `decoders_per_group` times the largest
        number of distinct groups a worker reads from one read of a group to its next
        (1 if no worker reads a group twice); and `fits_cache`: whether it is
        <= `decoder_cache_size`.

    Raises:
        TypeError: `sampler` is not an `EpisodeAwareSampler`, or an argument is not an int
            (or `episode_groups` not a sequence of ints), or both `episode_groups` and
            `groups` are given.
        ValueError: An argument is out of range (`num_workers` above 65536, `epoch` beyond
            2**63 - 1, `decoders_per_group` times the epoch's positions at 2**64 or more, where
            counts of decoder opens could no longer be exact), or `episode_groups` does not hold
            one id per episode.
        MemoryError: The uniform order of the epoch does not fit in memory.
    """
    if not isinstance(sampler, EpisodeAwareSampler):
        raise TypeError(f"sampler must be an EpisodeAwareSampler, got {type(sampler).__name__}")
    setup = _read_setup(
        batch_size, num_workers, decoder_cache_size, decoders_per_group, span_batches
    )
    positions = len(sampler) * sampler.num_replicas
    if setup.decoders_per_group * max(positions, 1) >= 2**64:
        # Counts of decoder opens reach decoders_per_group times the positions of an epoch:
        # they must stay exact 64-bit counts, never saturate.
        raise ValueError(
            f"decoders_per_group must be at most {(2**64 - 1) // max(positions, 1)} "
            f"((2**64 - 1) // the epoch's {positions} positions), got {setup.decoders_per_group}"
        )
    if groups is not None:
        warnings.warn(
            "io_report(groups=...) is deprecated: pass episode_groups=..., the sampler's name "
            "for the same ids",
            DeprecationWarning,
            stacklevel=2,
        )
        if episode_groups is not None:
            raise TypeError("pass episode_groups or its deprecated name groups, not both")
        episode_groups = groups
    ids = _groups_of(sampler, episode_groups)
    epoch = sampler.epoch if epoch is None else as_int("epoch", epoch, high=EPOCH_LIMIT + 1)
    check_iterable_epoch(epoch)
    shard_args = sampler._shard_args()
    mine = _figures(sampler._core, shard_args, ids, epoch, setup)
    uniform = _figures(_uniform_core(sampler._config), shard_args, ids, epoch, setup)
    num_groups = mine.pop("num_groups")
    uniform.pop("num_groups")
    return {
        "num_frames": sampler.num_frames,
        "num_episodes": sampler._core.num_episodes,
        "num_groups": num_groups,
        "epoch": epoch,
        "batch_size": setup.batch_size,
        "num_workers": setup.num_workers,
        "decoder_cache_size": setup.decoder_cache_size,
        "decoders_per_group": setup.decoders_per_group,
        "span_batches": setup.span_batches,
        "sampler": mine,
        "uniform": uniform,
    }


# --- command line ----------------------------------------------------------------------------


@dataclass
class _Source:
    """Episodes to report on: how to build a sampler, their groups and what they are."""

    build: Callable[..., EpisodeAwareSampler]
    groups: np.ndarray
    decoders_per_group: int
    description: str
    auto: str | None = None  # what window="auto" picks (LeRobot datasets)


@dataclass
class _Row:
    label: str
    window: int | None  # None: boundary order; 0: global shuffle
    figures: dict[str, Any]


def _synthetic_source(args: argparse.Namespace) -> _Source:
    from_indices, to_indices = synthetic_episodes(args.frames, args.episodes, args.seed)
    groups = np.arange(args.episodes, dtype=np.int64) // args.episodes_per_group

    def build(**kwargs: Any) -> EpisodeAwareSampler:
        return EpisodeAwareSampler(from_indices, to_indices, **kwargs)

    return _Source(
        build,
        groups,
        args.decoders_per_group or 1,
        f"{args.frames:,} synthetic frames in {args.episodes:,} episodes of uneven lengths, "
        f"{args.episodes_per_group:,} consecutive episodes per group (video file)",
    )


def _lerobot_source(args: argparse.Namespace) -> _Source:
    """A LeRobot v3 dataset's episodes; a group is the tuple of video files (one per camera)
    holding an episode, a sample needs one decoder per camera."""
    try:
        from lerobot.datasets.dataset_metadata import LeRobotDatasetMetadata
    except ImportError:
        raise SystemExit(
            "--lerobot-root needs LeRobot >= 0.4 (dataset format v3): pip install lerobot"
        ) from None
    meta = LeRobotDatasetMetadata(args.repo_id, root=args.lerobot_root)
    # Only the metadata is needed: from_lerobot and the groups read `meta.episodes`, and
    # `episodes=None` selects every episode (no frame is loaded).
    dataset = types.SimpleNamespace(meta=meta, episodes=None)
    cameras = list(meta.video_keys)
    if cameras:
        groups = lerobot_groups(dataset, "video_file")
        what = f"{len(cameras)} camera(s): {', '.join(cameras)}"
    else:
        groups = lerobot_groups(dataset, "data_file")
        what = "no video feature: grouped by data file"

    def build(**kwargs: Any) -> EpisodeAwareSampler:
        return EpisodeAwareSampler.from_lerobot(dataset, **kwargs)

    cache = args.decoder_cache_size
    auto = auto_window(dataset, "unbounded" if cache is None else cache)
    return _Source(
        build,
        groups,
        args.decoders_per_group or max(1, len(cameras)),
        f"LeRobot dataset {args.repo_id} at {args.lerobot_root}, {what}; "
        f"a group is an episode's tuple of video files",
        auto.reason,
    )


def _rows(
    source: _Source, windows: Sequence[int], setup: _ReadSetup, args: argparse.Namespace
) -> list[_Row]:
    """The boundary row, then one per window size (0: the global shuffle)."""
    orders: list[tuple[str, int | None]] = [("boundary", None)]
    for size in windows:
        orders.append(("global (uniform)", 0) if size == 0 else (f"window {size:,}", size))
    streams = stream_settings(setup.num_workers, setup.batch_size)
    rows = []
    for label, window in orders:
        kwargs: dict[str, Any] = {"shuffle": window is not None, "seed": args.seed}
        variants: list[tuple[str, Mapping[str, Any]]] = [(label, {})]
        if window:
            kwargs.update(window=window, episode_groups=source.groups)
            if streams["streams"] > 1:  # one window per worker
                variants.append((f"{label}, {streams['streams']} streams", streams))
        for name, extra in variants:
            sampler = source.build(**kwargs, **extra)
            figures = _figures(
                sampler._core, sampler._shard_args(), source.groups, args.epoch, setup
            )
            rows.append(_Row(name, window, figures))
    return rows


def _cache_words(size: int | None) -> str:
    return "unbounded" if size is None else f"{size:,}"


def _table(rows: Sequence[_Row], setup: _ReadSetup) -> str:
    span = setup.span_batches
    lines = [
        f"| order | episodes / batch | groups / batch | episodes / {span} batches "
        f"| groups / {span} batches | decoder opens / 1k samples "
        "| cold opens / 1k samples | files / worker / 1k samples | displacement "
        "| cache needed | fits |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        figures = row.figures
        samples = max(1, figures["num_samples"])
        lines.append(
            f"| {row.label} | {figures['mean_episodes_per_batch']:.2f} "
            f"| {figures['mean_groups_per_batch']:.2f} "
            f"| {figures['mean_episodes_per_span']:.2f} "
            f"| {figures['mean_groups_per_span']:.2f} "
            f"| {figures['opens_per_1000_samples']:.2f} "
            f"| {1000 * figures['cold_opens'] / samples:.2f} "
            f"| {figures['files_per_worker_per_1000_samples']:.2f} "
            f"| {figures['mean_displacement']:.4f} "
            f"| {figures['needed_cache_size']:,} | {'yes' if figures['fits_cache'] else 'NO'} |"
        )
    return "\n".join(lines)


def _cache_advice(rows: Sequence[_Row], setup: _ReadSetup) -> str:
    lines = [
        f"Decoder cache: LeRobot 0.6.1 keeps one LRU of {CACHE_SIZE_VARIABLE} decoders "
        f"({DEFAULT_DECODER_CACHE_SIZE} by default) per DataLoader worker, keyed by video "
        f"file, shared by the cameras; this report assumes "
        f"{_cache_words(setup.decoder_cache_size)} and {setup.decoders_per_group} decoder(s) "
        "per sample. An order re-opens decoders beyond the cold opens when it needs more:"
    ]
    for row in rows:
        needed = row.figures["needed_cache_size"]
        verdict = "fits" if row.figures["fits_cache"] else f"set {CACHE_SIZE_VARIABLE}={needed}"
        lines.append(f"- {row.label}: needs {needed:,} decoder(s) per worker ({verdict})")
    return "\n".join(lines)


def write_plot(path: str, rows: Sequence[_Row], setup: _ReadSetup) -> None:
    """Four bar panels, one bar per order: decoder opens per 1,000 samples (a black mark: with
    an unbounded cache), groups per batch, displacement, and the cache needed (log scale, with
    the cache size as a line).

    Args:
        path: Where to write the image (its format from the suffix, e.g. `.png`).
        rows: The orders and their figures, as `main` computes them.
        setup: The reading setup the figures were computed with.

    Raises:
        SystemExit: matplotlib is not installed.
    """
    require_matplotlib()
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state

    labels = [row.label for row in rows]
    figure = Figure(figsize=(12, 7), layout="constrained")
    panels = figure.subplots(2, 2)
    for axes, key, title in (
        (panels[0][0], "opens_per_1000_samples", "decoder opens per 1,000 samples"),
        (panels[0][1], "mean_groups_per_batch", "distinct groups per batch"),
        (panels[1][0], "mean_displacement", "mean normalised displacement"),
        (panels[1][1], "needed_cache_size", "decoder cache needed per worker"),
    ):
        axes.bar(labels, [row.figures[key] for row in rows], color="C0")
        axes.set_title(title)
        axes.tick_params(axis="x", labelrotation=30)
        axes.grid(True, axis="y", alpha=0.3)
    opens_axes = panels[0][0]
    cold = [1000 * row.figures["cold_opens"] / max(1, row.figures["num_samples"]) for row in rows]
    opens_axes.scatter(labels, cold, marker="_", s=600, color="k", label="unbounded cache")
    opens_axes.set_yscale("log")
    opens_axes.legend(fontsize="small")
    cache_axes = panels[1][1]
    cache_axes.set_yscale("log")
    if setup.decoder_cache_size is not None:
        cache_axes.axhline(
            setup.decoder_cache_size, color="C3", linestyle="--", label="decoder cache size"
        )
        cache_axes.legend(fontsize="small")
    figure.suptitle(
        f"batch size {setup.batch_size}, {setup.num_workers} worker(s), "
        f"{setup.decoders_per_group} decoder(s) per sample"
    )
    figure.savefig(path, dpi=120)


def _windows(text: str) -> list[int]:
    """Comma-separated window sizes; 0 is the global shuffle."""
    return [_count(part.strip(), low=0) for part in text.split(",") if part.strip()]


def _cache_size(text: str) -> int | None:
    """A cache size as LeRobot reads its variable: a positive int, or none / -1 (unbounded)."""
    if text.strip().lower() in ("none", "unbounded", "-1"):
        return None
    return _count(text)


def _default_cache_size() -> int | None:
    """The cache size LeRobot's workers use: its variable as LeRobot reads it, else 100."""
    try:
        return decoder_cache_size()
    except ValueError as error:
        raise SystemExit(str(error)) from None


def main(argv: list[str] | None = None) -> None:
    """`python -m episampler.inspect`: the report's table against window sizes.

    Args:
        argv: The command-line arguments (default: `sys.argv[1:]`); see `--help`.

    Raises:
        SystemExit: On bad arguments (argparse's usage error, status 2), or when `--plot`
            needs matplotlib or `--lerobot-root` needs LeRobot and they are missing.
    """
    parser = argparse.ArgumentParser(
        prog="python -m episampler.inspect",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    data = parser.add_argument_group("episodes (synthetic unless --lerobot-root)")
    data.add_argument(
        "--frames", type=_count, default=1_000_000, help="synthetic frames (default: 1e6)"
    )
    data.add_argument(
        "--episodes", type=_count, default=2_500, help="synthetic episodes (default: 2500)"
    )
    data.add_argument(
        "--episodes-per-group",
        type=_count,
        default=10,
        help="consecutive synthetic episodes per group, i.e. video file (default: 10)",
    )
    data.add_argument("--lerobot-root", metavar="DIR", help="a LeRobot v3 dataset's directory")
    data.add_argument("--repo-id", metavar="ID", help="its repo id (with --lerobot-root)")
    reading = parser.add_argument_group("reading")
    reading.add_argument(
        "--batch-size", type=_count, default=32, help="samples per batch (default: 32)"
    )
    reading.add_argument(
        "--num-workers",
        type=lambda text: _count(text, low=0),
        default=4,
        help="DataLoader workers, 0: the main process (default: 4)",
    )
    reading.add_argument(
        "--decoder-cache-size",
        type=_cache_size,
        default=_default_cache_size(),
        metavar="N",
        help=f"decoders per worker, or none (default: ${CACHE_SIZE_VARIABLE}, else "
        f"{DEFAULT_DECODER_CACHE_SIZE}, as LeRobot)",
    )
    reading.add_argument(
        "--decoders-per-group",
        "--cameras",
        type=_count,
        metavar="D",
        help="decoders a sample needs, e.g. cameras (default: 1; LeRobot: its video keys)",
    )
    reading.add_argument(
        "--span-batches",
        type=_count,
        default=DEFAULT_SPAN_BATCHES,
        metavar="N",
        help="consecutive batches of the span columns: distinct episodes and groups over the "
        f"next N batches (default: {DEFAULT_SPAN_BATCHES})",
    )
    orders = parser.add_argument_group("orders")
    orders.add_argument(
        "--windows",
        type=_windows,
        default=[0, 256, 1024, 4096],
        metavar="K,K,...",
        help="window sizes in frames, 0: the global shuffle (default: 0,256,1024,4096)",
    )
    orders.add_argument(
        "--seed",
        type=lambda text: _count(text, low=0),
        default=0,
        help="the samplers' seed, in [0, 2**64) (default: 0)",
    )
    orders.add_argument(
        "--epoch",
        type=lambda text: _count(text, low=0),
        default=0,
        help="the epoch whose order is measured (default: 0)",
    )
    parser.add_argument(
        "--plot",
        metavar="PATH.png",
        help="also write a bar plot (needs matplotlib: pip install matplotlib)",
    )
    args = parser.parse_args(argv)

    if (args.lerobot_root is None) != (args.repo_id is None):
        parser.error("--lerobot-root and --repo-id go together")
    if args.lerobot_root is None and args.episodes > args.frames:
        parser.error(f"--episodes ({args.episodes}) must be <= --frames ({args.frames})")
    if args.epoch >= EPOCH_LIMIT:
        parser.error(f"--epoch must be < 2**63, got {args.epoch}")
    if args.seed >= 2**64:
        parser.error(f"--seed must be < 2**64, got {args.seed}")
    if args.plot:
        require_matplotlib()  # fail before the report, not after it

    source = _synthetic_source(args) if args.lerobot_root is None else _lerobot_source(args)
    setup = _ReadSetup(
        args.batch_size,
        args.num_workers,
        args.decoder_cache_size,
        source.decoders_per_group,
        args.span_batches,
    )
    started = time.perf_counter()
    rows = _rows(source, args.windows, setup, args)
    elapsed = time.perf_counter() - started

    figures = rows[0].figures
    print(
        f"episampler read-order report, epoch {args.epoch}, seed {args.seed}: "
        f"{source.description}; {figures['num_groups']:,} groups; "
        f"{figures['num_samples']:,} samples in batches of {setup.batch_size} "
        f"({figures['num_batches']:,} batches, the short last one included), batch i read by "
        f"worker i % {max(1, setup.num_workers)}; decoder cache "
        f"{_cache_words(setup.decoder_cache_size)} per worker, "
        f"{setup.decoders_per_group} decoder(s) per sample.\n"
    )
    print(_table(rows, setup))
    print()
    print(_cache_advice(rows, setup))
    if source.auto is not None:
        print(f"\n{source.auto}")
    print(f"\nComputed in {elapsed:.2f} s.")
    if args.plot:
        write_plot(args.plot, rows, setup)
        print(f"plot written to {args.plot}")


if __name__ == "__main__":
    main()
