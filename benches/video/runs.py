"""The benchmark's runs: the order table (`run`), its py-spy profiles (`profile`) and the
--fetch comparison (`run_fetch`), each over the recordings the command line asks for."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .measure import (
    BATCH_SIZE,
    LEROBOT_DEFAULT_CACHE,
    NUM_WORKERS,
    Measurement,
    measure,
    resume_point,
)
from .orders import (
    FETCH_SETUPS,
    distinct_episodes_per_batch,
    fetch_sampler,
    files_per_window,
    make_orders,
    per_batch,
    sampler_order,
    simulated_io,
)
from .profiling import (
    FETCH_DECODE_BUCKETS,
    FETCH_WORKER_BUCKETS,
    SPY_RATE,
    summarize_stacks,
)
from .recording import CAMERAS, FPS, Recording, load, record, record_and_load, video_file_groups
from .results import FetchConfig, FetchRow, Row, row_to_json

Log = Callable[[str], None]

# --- The order table ---------------------------------------------------------------------------


def run(args: argparse.Namespace, log: Log) -> list[Row]:
    """Every order on every recording and cache size: the order figures over whole epochs, then
    `--repeats` interleaved, rotated measurements."""
    recordings = [Recording.of(args, gop) for gop in args.gops]
    roots = [record(args.out, recording, log=log) for recording in recordings]
    if args.record_only:
        return []
    datasets = {
        recording.name: load(root) for recording, root in zip(recordings, roots, strict=True)
    }
    orders = make_orders(args.windows)
    rows = {
        (name, cache, order.label): Row(name, cache, order)
        for name in datasets
        for cache in args.cache_sizes
        for order in orders
    }
    for name, dataset in datasets.items():  # the order figures (no decoding)
        ends = np.asarray(dataset.meta.episodes["dataset_to_index"], dtype=np.int64)
        groups = video_file_groups(dataset)
        log(
            f"{name}: {len(dataset):,} frames, {len(ends):,} episodes, "
            f"{len(np.unique(groups))} video files per camera"
        )
        for seed in range(args.repeats):
            for order in orders:
                sampler = order.sampler(dataset, seed)
                sequence = sampler_order(sampler)
                distinct = distinct_episodes_per_batch(sequence, ends, BATCH_SIZE)
                files = files_per_window(sequence, ends, groups) if order.window else float("nan")
                for cache in args.cache_sizes:
                    row = rows[(name, cache, order.label)]
                    row.distinct.append(distinct)
                    row.files.append(files)
                    simulated, needed = simulated_io(sampler, groups, cache)
                    row.simulated_opens.append(simulated)
                    row.needed_cache.append(needed)
    for repeat in range(args.repeats):
        for name, dataset in datasets.items():
            start = resume_point(args, dataset, repeat)
            for cache in args.cache_sizes:
                # Interleaved, rotated each repeat so no order always runs first.
                shift = repeat % len(orders)
                results: dict[str, Measurement] = {}
                for order in orders[shift:] + orders[:shift]:
                    result = measure(
                        dataset,
                        order.sampler(dataset, repeat, start),
                        cache_size=cache,
                        warmup_batches=args.warmup_batches,
                        timed_batches=args.timed_batches,
                    )
                    results[order.label] = result
                    log(
                        f"repeat {repeat} {name} cache {cache} {order.label}: "
                        f"{result.frames_per_s:,.0f} frames/s, "
                        f"{result.opens_per_1000:,.0f} opens/1000 samples"
                    )
                reference = results[orders[1].label].frames_per_s  # the global shuffle
                for label, result in results.items():
                    row = rows[(name, cache, label)]
                    row.frames_per_s.append(result.frames_per_s)
                    row.ratios.append(result.frames_per_s / reference)
                    row.opens.append(result.opens_per_1000)
            # Partial results survive an interrupted run (rebuild with --from-results).
            partial = {"header": "partial run", "rows": [row_to_json(r) for r in rows.values()]}
            (args.out / "results.json").write_text(json.dumps(partial))
    return list(rows.values())


def profile(args: argparse.Namespace, log: Log) -> str:
    """py-spy profiles of the DataLoader workers under the global shuffle and the window
    orders (each recorded dataset, first cache size), summarized as markdown."""
    out = []
    samples = args.timed_batches * BATCH_SIZE
    for gop in args.gops:
        name, dataset = record_and_load(args, gop, log)
        for order in make_orders(args.windows)[1:]:
            stacks = args.out / f"py-spy-{name}-{order.label.split()[0]}-{order.window or 0}.txt"
            result = measure(
                dataset,
                order.sampler(dataset, 0),
                cache_size=args.cache_sizes[0],
                warmup_batches=args.warmup_batches,
                timed_batches=args.timed_batches,
                profile_to=stacks,
            )
            log(f"profiled {name} {order.label}: {result.frames_per_s:,.0f} frames/s")
            out.append(
                f"### {name}, cache {args.cache_sizes[0]}, {order.label}: "
                f"{result.frames_per_s:,.0f} frames/s (under py-spy)\n\n"
                + summarize_stacks(stacks, samples, SPY_RATE)
            )
    return "\n\n".join(out)


# --- BatchedFetch and window="auto" against LeRobot's own loading (--fetch) ------------------


def run_fetch(args: argparse.Namespace, log: Log) -> list[FetchConfig]:
    """Every setup of FETCH_SETUPS on each recorded dataset (one per --gops entry), LeRobot's
    default decoder cache, interleaved and rotated repeats."""
    from episampler.lerobot.auto_window import auto_window

    configs = []
    for gop in args.gops:
        started = time.perf_counter()
        name, dataset = record_and_load(args, gop, log)
        os.environ.pop("LEROBOT_VIDEO_DECODER_CACHE_SIZE", None)  # LeRobot's default cache
        choice = auto_window(dataset)
        log(choice.reason)
        rows = measure_fetch(args, dataset, log)
        summary = profile_fetch(args, dataset, name, log) if args.profile else ""
        configs.append(
            FetchConfig(
                name,
                args.size,
                describe(args, time.perf_counter() - started),
                choice.reason,
                "",
                rows,
                summary,
            )
        )
    return configs


def measure_fetch(args: argparse.Namespace, dataset: Any, log: Log) -> list[FetchRow]:
    ends = np.asarray(dataset.meta.episodes["dataset_to_index"], dtype=np.int64)
    groups = video_file_groups(dataset)
    rows = [FetchRow(FETCH_SETUPS[k]) for k in args.fetch_setups]
    for seed in range(args.repeats):
        for row in rows:
            order = sampler_order(fetch_sampler(row.setup, dataset, seed, 0))
            episodes, files = per_batch(order, ends, groups)
            row.episodes.append(episodes)
            row.files.append(files)
    for repeat in range(args.repeats):
        start = resume_point(args, dataset, repeat)
        shift = repeat % len(rows)
        results: dict[str, Measurement] = {}
        for row in rows[shift:] + rows[:shift]:
            row.loads.append(os.getloadavg()[0])
            result = measure(
                dataset,
                fetch_sampler(row.setup, dataset, repeat, start),
                cache_size=LEROBOT_DEFAULT_CACHE,
                warmup_batches=args.warmup_batches,
                timed_batches=args.timed_batches,
                fetch=row.setup.fetch,
            )
            results[row.setup.label] = result
            log(
                f"repeat {repeat} {row.setup.label}: {result.frames_per_s:,.0f} frames/s, "
                f"{result.calls_per_1000:,.0f} calls, {result.opens_per_1000:,.0f} opens "
                f"per 1000 samples, {result.cpu_ms_per_sample:.2f} CPU ms/sample, "
                f"peak worker RSS {result.rss_mb:,.0f} MiB"
            )
        baseline = results[rows[0].setup.label]
        for row in rows:
            result = results[row.setup.label]
            row.frames_per_s.append(result.frames_per_s)
            row.ratios.append(result.frames_per_s / baseline.frames_per_s)
            row.calls.append(result.calls_per_1000)
            row.opens.append(result.opens_per_1000)
            row.cpu_ms.append(result.cpu_ms_per_sample)
            row.cpu_ratios.append(result.cpu_ms_per_sample / baseline.cpu_ms_per_sample)
            row.rss_mb.append(result.rss_mb)
            row.rss_ratios.append(result.rss_mb / baseline.rss_mb)
    return rows


def profile_fetch(args: argparse.Namespace, dataset: Any, name: str, log: Log) -> str:
    """One more measurement of window="auto" + BatchedFetch with py-spy sampling the
    workers (all threads, idle included), summarized as markdown."""
    setup = FETCH_SETUPS[3]
    stacks = args.out / f"py-spy-fetch-{name}.txt"
    result = measure(
        dataset,
        fetch_sampler(setup, dataset, 0, 0),
        cache_size=LEROBOT_DEFAULT_CACHE,
        warmup_batches=args.warmup_batches,
        timed_batches=args.timed_batches,
        profile_to=stacks,
        fetch=True,
    )
    log(f"profiled {name} {setup.label}: {result.frames_per_s:,.0f} frames/s")
    samples = args.timed_batches * BATCH_SIZE
    return (
        f"Where a worker's time goes, {setup.label} (py-spy, {SPY_RATE} samples/s per "
        "thread, busy samples only: the workers idle while the main process takes their "
        "batches, and the profiler's attach wait adds idle time; "
        f"{result.frames_per_s:,.0f} frames/s under the profiler):\n\n"
        + summarize_stacks(
            stacks, samples, SPY_RATE, FETCH_WORKER_BUCKETS, FETCH_DECODE_BUCKETS, busy_only=True
        )
    )


def describe(args: argparse.Namespace, seconds: float) -> str:
    """The header of a run's tables: versions, machine, recording and measurement settings."""
    import torch

    return (
        f"lerobot {importlib.metadata.version('lerobot')}, "
        f"episampler {importlib.metadata.version('episampler')}, "
        f"torch {torch.__version__}, {os.cpu_count()} CPUs; {args.episodes:,} episodes of "
        f"{args.min_length}-{args.max_length} frames, {args.episodes_per_file} episodes per "
        f"video file, {len(CAMERAS)} cameras {args.size}x{args.size} at {FPS} fps; "
        f"DataLoader {NUM_WORKERS} workers, batch {BATCH_SIZE}, {args.warmup_batches} warm-up "
        f"+ {args.timed_batches} timed batches per measurement, {args.repeats} interleaved "
        f"repeats (seeds 0..{args.repeats - 1}), medians; {seconds:.0f} s"
    )
