"""`python -m benches.compare`: episampler against a `torch.randperm` shuffle and a LeRobot 0.6
style sampler on synthetic episodes, at several dataset sizes, in one run.

For every size N and method it measures (medians over `--repeats`):

- epoch start: seconds from `iter(sampler)` on a new epoch to the first index (building the
  epoch's order is paid here);
- ns per sample of `for i in iterator` over the next `--samples` indices;
- resume: seconds to the first index after `load_state_dict({"epoch", "start_index": N // 2})`;
- batch throughput (ns per sample, batches of `--batch-size`) of `EpisodeAwareBatchSampler`
  against `torch.utils.data.BatchSampler` over the same sampler.

The machine's load changes absolute times from run to run; the ratios against the baselines,
measured in the same run, are the numbers to read. `--plot PATH.png` draws them (needs
matplotlib: `pip install matplotlib`).
"""

from __future__ import annotations

import argparse
import functools
import gc
import itertools
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import BatchSampler

from episampler import ALGORITHM_VERSION, EpisodeAwareBatchSampler, EpisodeAwareSampler
from episampler._baselines import LeRobotStyleSampler, RandpermSampler, synthetic_episodes
from episampler._cli import count as _count
from episampler._cli import require_matplotlib

__all__ = ["LeRobotStyleSampler", "RandpermSampler", "main", "synthetic_episodes"]

LIST = "Python list (reference)"
RANDPERM = "torch.randperm"
LEROBOT = "LeRobot 0.6 style"
UNIFORM = 'episampler "uniform"'
FEISTEL = 'episampler "feistel"'
METHODS = (LIST, RANDPERM, LEROBOT, UNIFORM, FEISTEL)
PERMUTATIONS = {UNIFORM: "uniform", FEISTEL: "feistel"}

QUICK_SIZES = (100_000, 1_000_000)
DEFAULT_SIZES = (1_000_000, 10_000_000, 100_000_000)


@dataclass
class Row:
    """One method at one size; times in seconds, None where the method has no such step."""

    size: int
    method: str
    epoch_start: float | None = None
    per_sample: float | None = None
    resume: float | None = None


@dataclass
class BatchRow:
    size: int
    permutation: str
    method: str
    per_sample: float | None = None


# --- measurements ----------------------------------------------------------------------------


def median_seconds(action: Callable[[], Any], repeats: int) -> float:
    """Median seconds of `action()`; what it returns is freed outside the timed span."""
    times = []
    for _ in range(repeats):
        begin = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - begin)
        del result
    return statistics.median(times)


def _drain(iterator: Iterable[Any], count: int) -> None:
    for _ in itertools.islice(iterator, count):
        pass


def _time_first_index(sampler: Any, positions: Iterable[Callable[[], None]]) -> float:
    """Median seconds from `iter()` to the first index, after each call of `positions` (each
    moves the sampler to a new epoch or resume point)."""
    times = []
    for move in positions:
        move()
        begin = time.perf_counter()
        iterator = iter(sampler)
        next(iterator)
        times.append(time.perf_counter() - begin)
        del iterator
    return statistics.median(times)


def time_epoch_start(sampler: Any, repeats: int) -> float:
    """Median seconds from `iter()` on a new epoch to its first index. Each repeat starts
    another epoch so that its order is really built (episampler caches the latest epoch's
    order). The repeats run back to back: right after a long loop the first call into a
    sampler is slower by some microseconds (cold caches), which would swamp `"feistel"`."""
    return _time_first_index(
        sampler, (functools.partial(sampler.set_epoch, epoch) for epoch in range(1, repeats + 1))
    )


def time_iteration(sampler: Any, count: int, repeats: int) -> float:
    """Median seconds per sample over the `count` indices after the first one of an epoch
    (the current one: episampler reuses its cached order, the baselines rebuild theirs)."""
    times = []
    for _ in range(repeats):
        iterator = iter(sampler)
        next(iterator)
        begin = time.perf_counter()
        _drain(iterator, count)
        times.append((time.perf_counter() - begin) / count)
        del iterator
    return statistics.median(times)


def time_resume(sampler: Any, start_index: int, repeats: int) -> float:
    """Median seconds to the first index after resuming a new epoch at `start_index`."""
    states = ({"epoch": e, "start_index": start_index} for e in range(1_000, 1_000 + repeats))
    return _time_first_index(
        sampler, (functools.partial(sampler.load_state_dict, state) for state in states)
    )


def time_list(values: list[int], repeats: int) -> float:
    """Median seconds per element of the same `for` loop over a plain list."""
    times = []
    for _ in range(repeats):
        begin = time.perf_counter()
        _drain(values, len(values))
        times.append((time.perf_counter() - begin) / len(values))
    return statistics.median(times)


def time_batches(
    batch_sampler: Iterable[list[int]], count: int, batch_size: int, repeats: int
) -> float | None:
    """Median seconds per sample over about `count` samples of whole batches, after the first
    batch (which pays for the epoch's order)."""
    times = []
    for _ in range(repeats):
        iterator = iter(batch_sampler)
        if next(iterator, None) is None:
            return None
        samples = 0
        begin = time.perf_counter()
        for batch in itertools.islice(iterator, max(1, count // batch_size)):
            samples += len(batch)
        end = time.perf_counter()
        del iterator
        if not samples:
            return None
        times.append((end - begin) / samples)
    return statistics.median(times)


def _progress(message: str) -> None:
    print(f"  ... {message}", file=sys.stderr, flush=True)


def bench_size(
    size: int, episodes: int, samples: int, repeats: int, batch_size: int
) -> tuple[list[Row], list[BatchRow]]:
    from_indices, to_indices = synthetic_episodes(size, episodes)
    count = min(samples, size - 1)  # after the first index, within one epoch
    rows = [Row(size, LIST)]
    values = np.random.default_rng(1).integers(0, size, count).tolist()
    rows[0].per_sample = time_list(values, repeats)
    del values

    def make(method: str) -> Any:
        if method == RANDPERM:
            return RandpermSampler(size)
        if method == LEROBOT:
            return LeRobotStyleSampler(from_indices, to_indices, shuffle=True)
        return EpisodeAwareSampler(
            from_indices, to_indices, shuffle=True, permutation=PERMUTATIONS[method]
        )

    for method in (RANDPERM, LEROBOT, UNIFORM, FEISTEL):
        _progress(f"N={size:,}: {method}")
        sampler = make(method)
        row = Row(size, method)
        row.epoch_start = time_epoch_start(sampler, repeats)
        row.per_sample = time_iteration(sampler, count, repeats)
        if method != RANDPERM:  # a bare randperm has no resume point
            row.resume = time_resume(sampler, size // 2, repeats)
        rows.append(row)
        del sampler
        gc.collect()  # free the last order (up to 8 bytes per frame) before the next method

    batch_rows = []
    for method, permutation in PERMUTATIONS.items():
        _progress(f"N={size:,}: batches of {batch_size} over {method}")
        sampler = make(method)  # one sampler: both batch samplers share its cached order
        torch_row = BatchRow(size, permutation, f"torch BatchSampler({batch_size})")
        torch_row.per_sample = time_batches(
            BatchSampler(sampler, batch_size, drop_last=False), count, batch_size, repeats
        )
        ours = BatchRow(size, permutation, f"EpisodeAwareBatchSampler({batch_size})")
        ours.per_sample = time_batches(
            EpisodeAwareBatchSampler(sampler, batch_size, drop_last=False),
            count,
            batch_size,
            repeats,
        )
        batch_rows += [torch_row, ours]
        del sampler
        gc.collect()
    return rows, batch_rows


# --- output ----------------------------------------------------------------------------------


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 1:
        return f"{value:.2f} s"
    if value >= 1e-3:
        return f"{value * 1e3:.1f} ms"
    if value >= 1e-5:
        return f"{value * 1e6:.0f} µs"
    return f"{value * 1e6:.1f} µs"


def _ns(value: float | None) -> str:
    if value is None:
        return "—"
    ns = value * 1e9
    return f"{ns:,.0f}" if ns >= 10 else f"{ns:.1f}"


def _ratio(baseline: float | None, value: float | None) -> str:
    if baseline is None or value is None or value <= 0:
        return "—"
    ratio = baseline / value
    return f"{ratio:,.0f}x" if ratio >= 10 else f"{ratio:.2f}x"


def markdown_tables(rows: Sequence[Row], batch_rows: Sequence[BatchRow], batch_size: int) -> str:
    lines = [
        "| N | method | epoch start → first index | vs LeRobot | ns / sample | vs LeRobot "
        "| resume mid-epoch → first index | vs LeRobot |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    baselines = {row.size: row for row in rows if row.method == LEROBOT}
    for row in rows:
        base = baselines.get(row.size)
        lines.append(
            f"| {row.size:,} | {row.method} "
            f"| {_seconds(row.epoch_start)} "
            f"| {_ratio(None if base is None else base.epoch_start, row.epoch_start)} "
            f"| {_ns(row.per_sample)} "
            f"| {_ratio(None if base is None else base.per_sample, row.per_sample)} "
            f"| {_seconds(row.resume)} "
            f"| {_ratio(None if base is None else base.resume, row.resume)} |"
        )
    lines += [
        "",
        "vs LeRobot: the LeRobot 0.6 style sampler's time divided by this method's, same run "
        "(above 1: faster). torch.randperm shuffles positions only (no episode mapping, no "
        "resume); the Python list row is the floor of the `for` loop itself.",
        "",
        f"Batches of {batch_size} (ns per sample, after the first batch):",
        "",
        "| N | sampler | batch sampler | ns / sample | vs torch BatchSampler |",
        "| ---: | --- | --- | ---: | ---: |",
    ]
    torch_rows = {
        (batch.size, batch.permutation): batch
        for batch in batch_rows
        if batch.method.startswith("torch")
    }
    for batch in batch_rows:
        torch_row = torch_rows[batch.size, batch.permutation]
        lines.append(
            f"| {batch.size:,} | {batch.permutation} | {batch.method} | {_ns(batch.per_sample)} "
            f"| {_ratio(torch_row.per_sample, batch.per_sample)} |"
        )
    return "\n".join(lines)


def write_plot(path: str, rows: Sequence[Row]) -> None:
    """Two log-log panels: ns per sample vs N, and seconds to the first index vs N (dashed:
    after a mid-epoch resume); one line per method."""
    require_matplotlib()
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state

    figure = Figure(figsize=(12, 4.8), layout="constrained")
    per_sample_axes, start_axes = figure.subplots(1, 2)
    colors = {method: f"C{i}" for i, method in enumerate(METHODS)}
    for method in METHODS:
        mine = sorted((row for row in rows if row.method == method), key=lambda row: row.size)
        for axes, attribute, scale, style, suffix in (
            (per_sample_axes, "per_sample", 1e9, "-", ""),
            (start_axes, "epoch_start", 1.0, "-", ""),
            (start_axes, "resume", 1.0, "--", " (resume)"),
        ):
            points = [
                (row.size, getattr(row, attribute) * scale)
                for row in mine
                if getattr(row, attribute) is not None
            ]
            if points:
                sizes, values = zip(*points, strict=True)
                axes.plot(
                    sizes, values, style, marker="o", color=colors[method], label=method + suffix
                )
    per_sample_axes.set(title="Iteration", ylabel="ns per sample")
    start_axes.set(title="Epoch start (dashed: resume mid-epoch)", ylabel="seconds to first index")
    for axes in (per_sample_axes, start_axes):
        axes.set(xscale="log", yscale="log", xlabel="frames N")
        axes.grid(True, which="both", alpha=0.3)
        axes.legend(fontsize="small")
    figure.savefig(path, dpi=120)


# --- command line ----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benches.compare",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--sizes",
        type=_count,
        nargs="+",
        metavar="N",
        help="dataset sizes in frames (default: 1e6 1e7 1e8; with --quick: 1e5 1e6)",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes only: 1e5 1e6")
    parser.add_argument(
        "--episodes",
        type=_count,
        default=10_000,
        help="episodes per dataset, capped at N (default: 10000)",
    )
    parser.add_argument(
        "--repeats", type=_count, default=3, help="runs per measurement (default: 3)"
    )
    parser.add_argument(
        "--samples",
        type=_count,
        default=1_000_000,
        help="samples iterated per timing, capped at N - 1 (default: 1000000)",
    )
    parser.add_argument("--batch-size", type=_count, default=256, help="batch size (default: 256)")
    parser.add_argument("--plot", metavar="PATH.png", help="also write a log-log plot")
    args = parser.parse_args(argv)
    sizes = args.sizes or (QUICK_SIZES if args.quick else DEFAULT_SIZES)
    if min(sizes) < 2:
        parser.error("every size needs at least 2 frames")
    if args.plot:
        require_matplotlib()  # fail before the benchmark, not after it

    print(
        f"episampler bench (algorithm version {ALGORITHM_VERSION}): torch {torch.__version__}, "
        f"numpy {np.__version__}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, {torch.get_num_threads()} torch threads; "
        f"{args.episodes:,} synthetic episodes of uneven lengths (capped at N); "
        f"medians of {args.repeats} runs; up to {args.samples:,} samples per iteration timing\n"
    )

    rows: list[Row] = []
    batch_rows: list[BatchRow] = []
    for size in sizes:
        size_rows, size_batch_rows = bench_size(
            size, min(args.episodes, size), args.samples, args.repeats, args.batch_size
        )
        rows += size_rows
        batch_rows += size_batch_rows
    print(markdown_tables(rows, batch_rows, args.batch_size))
    if args.plot:
        write_plot(args.plot, rows)
        print(f"\nplot written to {args.plot}")


if __name__ == "__main__":
    main()
