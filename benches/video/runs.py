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
    LoaderSettings,
    Measurement,
    decode_only,
    measure,
    read_ahead_cycle,
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
from .recording import (
    CAMERAS,
    FPS,
    Recording,
    files_per_camera,
    load,
    record,
    record_and_load,
    video_file_groups,
)
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
    default decoder cache, lerobot-train's DataLoader settings and uint8 frames, interleaved and
    rotated repeats, with the decode-only limit measured in each repeat."""
    from episampler.lerobot.auto_window import auto_window

    configs = []
    for gop in args.gops:
        started = time.perf_counter()
        recording = Recording.of(args, gop)
        name, dataset = record_and_load(args, gop, log, return_uint8=True)
        if args.record_only:
            continue
        os.environ.pop("LEROBOT_VIDEO_DECODER_CACHE_SIZE", None)  # LeRobot's default cache
        choice = auto_window(dataset)
        log(choice.reason)
        files = files_per_camera(dataset)
        log(f"{name}: {len(dataset):,} frames, video files per camera: {files}")
        rows, decode_only_fps = measure_fetch(args, dataset, log)
        summary = profile_fetch(args, dataset, name, log) if args.profile else ""
        configs.append(
            FetchConfig(
                name,
                args.size,
                describe_fetch(
                    args,
                    recording,
                    files,
                    time.perf_counter() - started,
                    fetch_timed_batches(args, dataset),
                ),
                choice.reason,
                "",
                rows,
                summary,
                decode_only_fps=decode_only_fps,
                title_text=fetch_title(args, recording),
                batch_size=args.batch_size,
                height=recording.shape[0],
                gop=recording.gop,
            )
        )
    return configs


def loader_settings(args: argparse.Namespace) -> LoaderSettings:
    return LoaderSettings(args.batch_size, args.workers, lerobot_train=True)


def fetch_timed_batches(args: argparse.Namespace, dataset: Any) -> int:
    """The timed batches of every row: `--timed-batches`, or, when a row decodes ahead, the
    nearest whole number of refill cycles of every worker (a row that decodes ahead pays for
    a whole refill of its buffer at a time: so it pays for what it reads, not more or less)."""
    if not any(FETCH_SETUPS[k].read_ahead for k in args.fetch_setups):
        return int(args.timed_batches)
    settings = loader_settings(args)
    whole = max(1, settings.num_workers) * read_ahead_cycle(dataset, settings.batch_size)
    return max(1, round(args.timed_batches / whole)) * whole


def measure_fetch(
    args: argparse.Namespace, dataset: Any, log: Log
) -> tuple[list[FetchRow], list[float]]:
    """The rows' figures, and the decode-only limit's samples/s, per repeat."""
    settings = loader_settings(args)
    batch = settings.batch_size
    ends = np.asarray(dataset.meta.episodes["dataset_to_index"], dtype=np.int64)
    groups = video_file_groups(dataset)
    rows = [FetchRow(FETCH_SETUPS[k]) for k in args.fetch_setups]
    for seed in range(args.repeats):
        for row in rows:
            sampler = fetch_sampler(row.setup, dataset, seed, 0, settings.num_workers, batch)
            episodes, files = per_batch(sampler_order(sampler), ends, groups, batch)
            row.episodes.append(episodes)
            row.files.append(files)
    timed = fetch_timed_batches(args, dataset)
    log(f"timed batches: {timed}")
    decode_only_fps: list[float] = []
    for repeat in range(args.repeats):
        start = resume_point(args, dataset, repeat, batch, timed)
        shift = repeat % len(rows)
        results: dict[str, Measurement] = {}
        for row in rows[shift:] + rows[:shift]:
            row.loads.append(os.getloadavg()[0])
            result = measure(
                dataset,
                fetch_sampler(row.setup, dataset, repeat, 0, settings.num_workers, batch),
                cache_size=LEROBOT_DEFAULT_CACHE,
                warmup_batches=args.warmup_batches,
                timed_batches=timed,
                fetch=row.setup.fetch,
                read_ahead=row.setup.read_ahead,
                settings=settings,
                timed_start=start,
            )
            results[row.setup.label] = result
            log(
                f"repeat {repeat} {row.setup.label}: {result.frames_per_s:,.0f} frames/s, "
                f"{result.calls_per_1000:,.0f} calls, {result.opens_per_1000:,.0f} opens "
                f"per 1000 samples, {result.cpu_ms_per_sample:.2f} CPU ms/sample, "
                f"peak worker RSS {result.rss_mb:,.0f} MiB"
            )
        decode_only_fps.append(decode_only(dataset, settings.num_workers))
        log(f"repeat {repeat} decode only: {decode_only_fps[-1]:,.0f} samples/s")
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
    return rows, decode_only_fps


def profile_fetch(args: argparse.Namespace, dataset: Any, name: str, log: Log) -> str:
    """One more measurement of window="auto" + BatchedFetch with py-spy sampling the
    workers (all threads, idle included), summarized as markdown."""
    setup = FETCH_SETUPS[6]  # make_loader's default
    stacks = args.out / f"py-spy-fetch-{name}.txt"
    settings = loader_settings(args)
    result = measure(
        dataset,
        fetch_sampler(setup, dataset, 0, 0, settings.num_workers, settings.batch_size),
        cache_size=LEROBOT_DEFAULT_CACHE,
        warmup_batches=args.warmup_batches,
        timed_batches=args.timed_batches,
        profile_to=stacks,
        fetch=True,
        read_ahead=setup.read_ahead,
        settings=settings,
        timed_start=0,
    )
    log(f"profiled {name} {setup.label}: {result.frames_per_s:,.0f} frames/s")
    samples = args.timed_batches * settings.batch_size
    return (
        f"Where a worker's time goes, {setup.label} (py-spy, {SPY_RATE} samples/s per "
        "thread, busy samples only: the workers idle while the main process takes their "
        "batches, and the profiler's attach wait adds idle time; "
        f"{result.frames_per_s:,.0f} frames/s under the profiler):\n\n"
        + summarize_stacks(
            stacks, samples, SPY_RATE, FETCH_WORKER_BUCKETS, FETCH_DECODE_BUCKETS, busy_only=True
        )
    )


def fetch_title(args: argparse.Namespace, recording: Recording) -> str:
    height, width = recording.shape
    spacing = "2 (LeRobot's default)" if recording.gop is None else str(recording.gop)
    files = (
        "files rolling over apart"
        if recording.file_mb is not None
        else "aligned files"
        if recording.distinct_cameras
        else "aligned files, alike cameras"
    )
    held_out = f", held-out recording (seed {recording.seed})" if recording.seed else ""
    return (
        f"{recording.cameras} cameras {height}x{width}, keyframe every {spacing}, {files}"
        f"{held_out}; batch {args.batch_size}, {args.workers} workers"
    )


def versions() -> str:
    """What every table's header starts with: the packages' versions and the machine's CPUs."""
    import torch

    return (
        f"lerobot {importlib.metadata.version('lerobot')}, "
        f"episampler {importlib.metadata.version('episampler')}, "
        f"torch {torch.__version__}, {os.cpu_count()} CPUs"
    )


def describe_fetch(
    args: argparse.Namespace,
    recording: Recording,
    files: dict[str, int],
    seconds: float,
    timed_batches: int,
) -> str:
    """The header of a --fetch table: versions, machine, recording, loader settings."""
    height, width = recording.shape
    layout = (
        f"LeRobot's writer starting each camera's next file at {recording.file_mb} MB, each "
        "camera with its own content and bitrate"
        if recording.file_mb is not None
        else f"{recording.episodes_per_file} episodes per video file"
    )
    return (
        f"{versions()}; {recording.episodes:,} episodes "
        f"of {recording.min_length}-{recording.max_length} frames, {recording.cameras} "
        f"cameras {height}x{width} at {FPS} fps, {layout}: video files per camera "
        f"{', '.join(str(n) for n in files.values())}; DataLoader as lerobot-train sets it up "
        f"(uint8 frames, spawned workers, prefetch 4, persistent workers), {args.workers} "
        f"workers, batch {args.batch_size}, decoder cache {LEROBOT_DEFAULT_CACHE} per worker; "
        f"{args.warmup_batches} warm-up + {timed_batches} timed batches (whole read-ahead "
        "cycles where a row decodes ahead) per "
        f"measurement, {args.repeats} interleaved repeats (seeds 0..{args.repeats - 1}), "
        f"medians; {seconds:.0f} s"
    )


def describe(args: argparse.Namespace, seconds: float) -> str:
    """The header of a run's tables: versions, machine, recording and measurement settings."""
    return (
        f"{versions()}; {args.episodes:,} episodes of "
        f"{args.min_length}-{args.max_length} frames, {args.episodes_per_file} episodes per "
        f"video file, {len(CAMERAS)} cameras {args.size}x{args.size} at {FPS} fps; "
        f"DataLoader {NUM_WORKERS} workers, batch {BATCH_SIZE}, {args.warmup_batches} warm-up "
        f"+ {args.timed_batches} timed batches per measurement, {args.repeats} interleaved "
        f"repeats (seeds 0..{args.repeats - 1}), medians; {seconds:.0f} s"
    )
