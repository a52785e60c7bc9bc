"""The reports: the order table (markdown, recommended window, plot) and the --fetch section of
the results file (markdown, plot, replacing the section in place)."""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from pathlib import Path

from .measure import LEROBOT_DEFAULT_CACHE
from .orders import DECODE_ONLY, FetchSetup
from .results import FetchConfig, FetchRow, Row

DATASET_TITLES = {
    "gop-default": "keyframe spacing: LeRobot's default (g=2)",
    "gop-30": "keyframe spacing g=30",
}
TARGETS = {"gop-default": 1.4, "gop-30": 1.5}  # frames/s of the window vs uniform
FETCH_RSS_TARGET = 1.2  # worker peak RSS, at most this times LeRobot's path

# The --fetch section's markers in the results file (kept as written: they find the section).
FETCH_BEGIN = "<!-- batched-fetch: begin (written by benches/lerobot_video.py --fetch) -->"
FETCH_END = "<!-- batched-fetch: end -->"


def median(values: Sequence[float]) -> float:
    clean = [v for v in values if v == v]
    return statistics.median(clean) if clean else float("nan")


def mean(values: Sequence[float]) -> float:
    clean = [v for v in values if v == v]
    return statistics.fmean(clean) if clean else float("nan")


def fmt(value: float, digits: int = 0) -> str:
    return "—" if value != value else f"{value:,.{digits}f}"


# --- The order table -------------------------------------------------------------------------


def recommended(group: Sequence[Row], uniform: Row) -> Row | None:
    """The largest window whose decoders fit the cache (io_report's needed cache size) and
    whose batches hold >= 0.9x the global shuffle's distinct episodes."""
    best = None
    for row in group:
        if row.order.window is None:
            continue
        fits = median(row.needed_cache) <= row.cache_size
        enough = median(row.distinct) >= 0.9 * median(uniform.distinct)
        if fits and enough and (best is None or row.order.window > (best.order.window or 0)):
            best = row
    return best


def target_checks(row: Row, uniform: Row) -> str:
    """The targets for a window row against the global shuffle, as text."""
    speed = median(row.ratios)
    speed_target = TARGETS.get(row.dataset, 1.4)
    opens = mean(row.opens) / mean(uniform.opens)
    distinct = median(row.distinct) / median(uniform.distinct)
    checks = [
        (f"frames/s {speed:.2f}x (target >= {speed_target}x)", speed >= speed_target),
        (f"decoder opens {opens:.3f}x (target <= 0.1x)", opens <= 0.1),
        (f"distinct episodes {distinct:.2f}x (target >= 0.9x)", distinct >= 0.9),
    ]
    return "; ".join(f"{text} {'met' if ok else 'NOT met'}" for text, ok in checks)


def cache_scale(cache: int) -> str:
    return "emulated scale" if cache < LEROBOT_DEFAULT_CACHE else "LeRobot's default"


def markdown(rows: Sequence[Row], header: str) -> str:
    lines = [header, ""]
    for dataset, cache in dict.fromkeys((r.dataset, r.cache_size) for r in rows):
        group = [r for r in rows if (r.dataset, r.cache_size) == (dataset, cache)]
        uniform = next(r for r in group if r.order.label.startswith("uniform"))
        lines += [
            f"### {dataset}, decoder cache {cache} per worker ({cache_scale(cache)})",
            "",
            "| order | files per window | frames/s (median, min to max) | vs uniform | "
            "decoder opens / 1,000 samples / worker (mean) | vs uniform | simulated opens "
            "(io_report, whole epoch) | cache needed (io_report) | distinct episodes / batch "
            "of 64 | vs uniform |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        chosen = recommended(group, uniform)
        for row in group:
            mark = " **(recommended)**" if row is chosen else ""
            fps = row.frames_per_s
            lines.append(
                f"| {row.order.label}{mark} | {fmt(median(row.files), 1)} | "
                f"{fmt(median(fps))} ({fmt(min(fps, default=float('nan')))} to "
                f"{fmt(max(fps, default=float('nan')))}) | {fmt(median(row.ratios), 2)}x | "
                f"{fmt(mean(row.opens), 1)} | "
                f"{fmt(mean(row.opens) / mean(uniform.opens), 3)}x | "
                f"{fmt(median(row.simulated_opens), 1)} | {fmt(median(row.needed_cache))} | "
                f"{fmt(median(row.distinct), 1)} | "
                f"{fmt(median(row.distinct) / median(uniform.distinct), 2)}x |"
            )
        lines.append("")
        if chosen is not None:
            lines += [
                f"Recommended window ({chosen.order.label}) vs uniform: "
                f"{target_checks(chosen, uniform)}.",
                "",
            ]
        else:
            lines += ["No tested window fits the cache with enough distinct episodes.", ""]
    return "\n".join(lines)


def plot(rows: Sequence[Row], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(r.dataset for r in rows))
    caches = list(dict.fromkeys(r.cache_size for r in rows))
    figure, axes = plt.subplots(1, len(datasets), figsize=(6.5 * len(datasets), 5), squeeze=False)
    for axis, dataset in zip(axes[0], datasets, strict=True):
        for cache, marker in zip(caches, "os^D", strict=False):
            group = [r for r in rows if (r.dataset, r.cache_size) == (dataset, cache)]
            xs = [median(r.distinct) for r in group]
            ys = [median(r.frames_per_s) for r in group]
            label = f"decoder cache {cache} per worker ({cache_scale(cache)})"
            axis.plot(xs, ys, marker, linestyle="none", label=label)
            for row, x, y in zip(group, xs, ys, strict=True):
                axis.annotate(
                    row.order.label.replace(" (global)", ""),
                    (x, y),
                    fontsize=7,
                    xytext=(4, 3),
                    textcoords="offset points",
                )
        axis.set_title(DATASET_TITLES.get(dataset, dataset))
        axis.set_xlabel("distinct episodes per batch of 64")
        axis.set_ylabel("DataLoader frames/s (2 workers, median)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.suptitle(
        "LeRobot 0.6.1 video loading, 3 cameras, 2 DataLoader workers: frames/s against "
        "distinct episodes per batch of 64 (medians)",
        fontsize=10,
    )
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)


# --- The --fetch section -----------------------------------------------------------------------


def fetch_markdown(
    configs: Sequence[FetchConfig], plot_link: str | None, merge_command: str | None = None
) -> str:
    commands = list(dict.fromkeys(config.command for config in configs))
    commands += [merge_command] if merge_command else []
    lines = [
        FETCH_BEGIN,
        "## Loading at lerobot-train's settings: LeRobot's path, the batched fetch, the "
        "automatic window, and the limits",
        "",
        "Measured with `python -m benches.video --fetch`, which records its datasets with "
        "LeRobot's own writer (the tests' recorder) and wrote this section (a command with "
        "`--fetch-results` merges the runs' saved results):",
        "",
        *[f"    .venv-lerobot-0.6/bin/python -m benches.video {c}" for c in commands],
        "",
        "Every DataLoader is set up as `lerobot-train` sets up its own: the dataset returns "
        "uint8 frames (`return_uint8=True`), workers are spawned, each prefetches 4 batches, "
        "and they persist. Every row is measured against LeRobot 0.6.1's own path in the same "
        "run: `dataset[i]` per item under LeRobot's default shuffle (a DataLoader with "
        "`shuffle=True` draws from torch's `RandomSampler`), with LeRobot's default decoder "
        "cache (100 per worker); the rows read through `BatchedFetch` decode with its own "
        "decoders (one per video file the dataset reads, within an estimated 512 MiB per "
        "worker: `episampler.lerobot.decoders`). Rows:",
        "",
        "- *BatchedFetch, shuffled*: the same global shuffle, each batch read through "
        "`episampler.lerobot.BatchedFetch` (one decoding call per camera and file); this is "
        "`make_loader`'s default and it leaves the distribution of batches as it is;",
        '- *window="auto"*: episampler\'s read-local order, windows of whole files sized to the '
        "decoder cache (it changes what a batch mixes: see the distinct episodes and files per "
        "batch, and `docs/windowed.md` for its training cost);",
        "- *+ streams*: one stream of windows per DataLoader worker "
        "(`stream_settings(workers, batch)`);",
        "- *make_loader*: `episampler.lerobot.make_loader`'s two settings: its default, "
        "episampler's global shuffle read through `BatchedFetch` decoding ahead (each worker "
        "decodes the frames of its next batches with the current one's, one call per camera "
        'and file, into a buffer of at most 512 MiB), and `window="auto"` with worker '
        "streams, decoding ahead too;",
        "- *storage order + BatchedFetch (the limit)*: every frame in the order it is stored, "
        "the fastest any read order can be with this loader;",
        "- *decode only (the limit)*: no loader at all: torchcodec alone decodes every frame of "
        "every video file in order, in as many processes as the DataLoader has workers; "
        "samples/s is frames per camera per second.",
        "",
        "Decoding calls count calls of LeRobot's torchcodec decoding function "
        "(`decode_video_frames_torchcodec`); opens count the decoders created (by LeRobot's "
        "cache, or by the batched fetch's own, `episampler.lerobot.decoders`); worker CPU is "
        "the process time of "
        "the DataLoader workers (all their threads) over the timed samples; worker RSS is the "
        "largest worker's peak resident set (VmHWM) at the end of the timed batches. Ratios "
        "are medians of the per-repeat ratios to LeRobot's path.",
        "",
    ]
    if plot_link is not None:
        lines += [f"![frames/s of every row against LeRobot's path]({plot_link})", ""]
    for config in configs:
        lines += fetch_table(config)
    lines.append(FETCH_END)
    return "\n".join(lines)


def row_by_order(config: FetchConfig, order: str, fetch: bool = True) -> FetchRow | None:
    return next((r for r in config.rows if r.setup.order == order and r.setup.fetch == fetch), None)


def global_target(config: FetchConfig) -> float:
    """The issue's target for the global order (BatchedFetch, shuffled) against LeRobot's path."""
    height = config.height or config.size
    if config.batch_size == 8:
        return 2.0
    if (height, config.size) == (480, 640):
        return 4.0
    if config.size == 96:
        return 6.0
    return 3.0


def fetch_table(config: FetchConfig) -> list[str]:
    """One dataset's table of the --fetch section, with its targets."""
    rows = config.rows
    batch = config.batch_size
    lines = [
        f"### {config.title}",
        "",
        config.header,
        "",
        f"Automatic window: {config.reason}",
        "",
        "| loading | frames/s (median, min to max) | vs LeRobot | worker CPU ms / sample "
        "| vs LeRobot | decoding calls / 1,000 samples | decoder opens / 1,000 samples | "
        f"worker peak RSS, MiB | vs LeRobot | distinct episodes / batch of {batch} | distinct "
        "files / batch (per camera) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        fps = row.frames_per_s
        lines.append(
            f"| {row.setup.label} | {fmt(median(fps))} ({fmt(min(fps))} to "
            f"{fmt(max(fps))}) | {fmt(median(row.ratios), 2)}x | "
            f"{fmt(median(row.cpu_ms), 2)} | {fmt(median(row.cpu_ratios), 2)}x | "
            f"{fmt(mean(row.calls), 1)} | {fmt(mean(row.opens), 1)} | "
            f"{fmt(median(row.rss_mb))} | {fmt(median(row.rss_ratios), 2)}x | "
            f"{fmt(median(row.episodes), 1)} | {fmt(median(row.files), 1)} |"
        )
    limit = config.decode_only_fps
    if limit:
        lines.append(
            f"| {DECODE_ONLY} | {fmt(median(limit))} ({fmt(min(limit))} to {fmt(max(limit))}) "
            f"| {fmt(median(config.decode_only_ratios), 2)}x | — | — | — | — | — | — | — | — |"
        )
    checks = []
    shuffled = [r for r in rows[1:] if r.setup.fetch and r.setup.order in ("random", "uniform")]
    if shuffled:
        best_global = max(shuffled, key=lambda r: median(r.ratios))
        target = global_target(config)
        ratio = median(best_global.ratios)
        met = "met" if ratio >= target else "not met"
        checks.append(
            f"the global order ({best_global.setup.label}) {fmt(ratio, 2)}x LeRobot's path "
            f"(target >= {fmt(target, 0)}x: {met})"
        )
    local = [r for r in rows if r.setup.fetch and r.setup.order in ("auto", "streams")]
    if local:
        best = max(local, key=lambda r: median(r.ratios))
        ratio = median(best.ratios)
        line = f"the best read-local row ({best.setup.label}) {fmt(ratio, 2)}x"
        if limit:
            share = median(
                [f / d for f, d in zip(best.frames_per_s, limit, strict=False) if d == d]
            )
            line += f", {share:.0%} of the decode-only limit"
        if global_target(config) == 3.0 and config.gop is None and config.batch_size == 64:
            met = "met" if ratio >= 5.0 else "not met"
            line += f" (target >= 5x and >= 50% of the limit: {met if limit else 'unmeasured'})"
        checks.append(line)
    picked = [r for r in rows if r.setup.order.startswith("window:")]
    automatic = [r for r in local if r.setup.read_ahead]
    if picked and automatic:
        best_picked = max(picked, key=lambda r: median(r.ratios))
        ratio = median(automatic[0].ratios) / median(best_picked.ratios)
        met = "met" if ratio >= 1.0 else "not met"
        checks.append(
            f"{automatic[0].setup.label} {fmt(ratio, 2)}x the best hand-picked window "
            f"({best_picked.setup.label}) (target >= 1x: {met})"
        )
    baseline = rows[0]
    local_episodes = [median(r.episodes) / median(baseline.episodes) for r in local]
    if local_episodes:
        checks.append(
            "distinct episodes per batch of the read-local rows "
            f"{fmt(min(local_episodes), 2)}x LeRobot's (target >= 0.9x)"
        )
    worst = max((median(row.rss_ratios) for row in rows[1:]), default=float("nan"))
    met = "met" if worst <= FETCH_RSS_TARGET else "not met"
    checks.append(
        f"worker RSS at most {fmt(worst, 2)}x LeRobot's "
        f"{fmt(median(baseline.rss_mb))} MiB (target <= {FETCH_RSS_TARGET}x: {met})"
    )
    loads = [load for row in rows for load in row.loads]
    lines += [
        "",
        "Targets: " + "; ".join(checks) + ". The machine's 1-minute load average before "
        f"the measurements ranged from {fmt(min(loads, default=float('nan')), 1)} to "
        f"{fmt(max(loads, default=float('nan')), 1)} on its 2 cores, so frames/s moved from "
        "repeat to repeat; the CPU time per sample, which other jobs move far less, is the "
        "steadier figure.",
        "",
    ]
    if config.profile:
        lines += [config.profile, ""]
    return lines


def short_label(label: str) -> str:
    picked = r"make_loader\(window=(\d+)\): hand-picked, decoding ahead"
    label = re.sub(picked, r"window=\1\n(hand-picked)", label)
    return (
        label.replace(" (baseline)", "")
        .replace("LeRobot: dataset[i], shuffled", "LeRobot")
        .replace('window="auto"', "auto")
        .replace("BatchedFetch", "fetch")
        .replace("storage order + fetch (the limit)", "storage order\n(limit)")
        .replace("make_loader default: global shuffle + fetch decoding ahead", "make_loader")
        .replace("make_loader(auto): + streams, decoding ahead", "make_loader\n(auto)")
    )


def bar_color(setup: FetchSetup) -> str:
    """LeRobot's path grey, episampler's global orders orange, read-local orders blue (light:
    without the batched fetch), decoding ahead darker, the storage-order limit grey."""
    if setup.read_ahead:
        return "#b35c00" if setup.order == "uniform" else "#0b2a4a"
    if not setup.fetch:
        return "#555555" if setup.order == "random" else "#a8c6e8"
    colors = {"random": "#e0a030", "auto": "#6a9fd4", "streams": "#2e6fb5", "storage": "#999999"}
    return colors.get(setup.order, "#777777")


def short_title(title: str) -> str:
    """A table's title, short enough for a plot panel."""
    return (
        title.replace("keyframe every 2 (LeRobot's default)", "keyframes every 2")
        .replace("files rolling over apart", "files apart")
        .replace("; ", "\n")
    )


def fetch_plot(configs: Sequence[FetchConfig], path: Path) -> None:
    """Per dataset: each row's frames/s ratio to LeRobot's path (bars, the limits hatched) with
    its distinct episodes per batch written on it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = min(3, len(configs))
    lines = (len(configs) + columns - 1) // columns
    figure, axes = plt.subplots(lines, columns, figsize=(4.8 * columns, 4.4 * lines), squeeze=False)
    for axis in axes.flat[len(configs) :]:
        axis.set_visible(False)
    for axis, config in zip(axes.flat, configs, strict=False):
        labels = [short_label(row.setup.label) for row in config.rows]
        ratios = [median(row.ratios) for row in config.rows]
        notes = [
            f"{median(row.ratios):.2f}x\n{median(row.episodes):.0f} ep." for row in config.rows
        ]
        bar_colors = [bar_color(row.setup) for row in config.rows]
        hatches = ["//" if row.setup.order == "storage" else "" for row in config.rows]
        if config.decode_only_fps:
            labels.append("decode only\n(limit)")
            ratios.append(median(config.decode_only_ratios))
            notes.append(f"{ratios[-1]:.2f}x")
            bar_colors.append("#dddddd")
            hatches.append("xx")
        bars = axis.bar(range(len(ratios)), ratios, color=bar_colors, edgecolor="black",
                        linewidth=0.4)  # fmt: skip
        for bar, note, hatch in zip(bars, notes, hatches, strict=True):
            bar.set_hatch(hatch)
            axis.annotate(
                note,
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=7,
            )
        axis.axhline(1.0, color="black", linewidth=0.8)
        axis.set_xticks(range(len(labels)), labels, rotation=35, ha="right", fontsize=7)
        axis.set_title(short_title(config.title), fontsize=8)
        axis.set_ylabel("frames/s vs LeRobot's path (median ratio)", fontsize=8)
        axis.set_ylim(0, max(ratios) * 1.25)
        axis.grid(axis="y", alpha=0.3)
    figure.suptitle(
        "LeRobot 0.6.1 at lerobot-train's loader settings (uint8, spawn, prefetch 4), decoder "
        "cache 100: frames/s ratio (label: distinct episodes per batch)",
        fontsize=9,
    )
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)


def write_fetch_section(path: Path, section: str) -> None:
    """Replace the batched-fetch section of `path` (or append it)."""
    text = path.read_text() if path.exists() else ""
    if FETCH_BEGIN in text and FETCH_END in text:
        before, rest = text.split(FETCH_BEGIN, 1)
        after = rest.split(FETCH_END, 1)[1]
        text = before + section + after
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)
