"""Parallel epoch builds, Ctrl-C latency and the per-sample hot path, as ratios
against baselines measured in the same run.

- `"uniform"` epoch build at `--frames` (default 10**8): seconds from `iter()` on a new epoch
  to its first index with `num_threads` = 1, 2, ... (up to the cores available), against
  `torch.randperm(N)` (torch's own thread pool), medians of `--repeats`;
- `epoch_indices` of the same epoch (order cached) on 1, 2, ... threads;
- Ctrl-C: seconds from a SIGINT sent during a `"uniform"` build to the `KeyboardInterrupt`
  (median of `--repeats`), at `--frames` * 3;
- the per-sample hot path: ns per sample of `for i in sampler` against a plain list of the
  same ints.

Run from the repository root: `python3 benches/threads.py --markdown benches/results_threads.md`.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import statistics
import sys
import threading
import time
from pathlib import Path

import torch

from episampler import EpisodeAwareSampler

if __package__ in (None, ""):  # run as a script: the repository root holds the benches package
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benches.compare import median_seconds, time_iteration, time_list


def epoch_build(frames: int, threads: int, repeats: int) -> float:
    sampler = EpisodeAwareSampler([0], [frames], shuffle=True, num_threads=threads)
    epochs = iter(range(1, 10**6))

    def build():
        sampler.set_epoch(next(epochs))
        return next(iter(sampler))

    build()  # the first table's pages are faulted in once; later epochs reuse its memory
    return median_seconds(build, repeats)


def epoch_indices(frames: int, threads: int, repeats: int) -> float:
    sampler = EpisodeAwareSampler([0], [frames], shuffle=True, num_threads=threads)
    sampler.epoch_indices(0)
    return median_seconds(lambda: sampler.epoch_indices(0), repeats)


def interrupt_latency(frames: int, threads: int, repeats: int) -> float:
    # Under nohup or `&` SIGINT arrives ignored and Python installs no handler for it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sampler = EpisodeAwareSampler([0], [frames], shuffle=True, num_threads=threads)
    delays = []
    for attempt in range(repeats):
        sampler.set_epoch(attempt + 1)
        sent: list[float] = []

        def interrupt(sent=sent):
            time.sleep(0.3)
            sent.append(time.perf_counter())
            os.kill(os.getpid(), signal.SIGINT)

        threading.Thread(target=interrupt).start()
        try:
            next(iter(sampler))
        except KeyboardInterrupt:
            delays.append(time.perf_counter() - sent[0])
    return statistics.median(delays) if delays else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=10**8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    counts = sorted({1, 2, cores} if cores > 1 else {1})
    n = args.frames
    randperm = median_seconds(lambda: torch.randperm(n), args.repeats)
    builds = {t: epoch_build(n, t, args.repeats) for t in counts}
    fills = {t: epoch_indices(n, t, args.repeats) for t in counts}
    latency = {t: interrupt_latency(3 * n, t, args.repeats) for t in counts}
    per_sample = time_iteration(EpisodeAwareSampler([0], [10**7], shuffle=True), 10**6, 7)
    per_list = time_list(list(range(10**6, 2 * 10**6)), 7)

    lines = [
        "# Parallel builds, Ctrl-C and the hot path",
        "",
        f"`python3 benches/threads.py --frames {n} --repeats {args.repeats}`: medians, one run, "
        f"{cores} cores, {platform.python_implementation()} {platform.python_version()}, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads).",
        "",
        f'| threads | `"uniform"` epoch build, {n:.0e} frames | vs `torch.randperm` '
        f"({randperm:.2f} s) | scaling | `epoch_indices` | Ctrl-C to KeyboardInterrupt "
        f"({3 * n:.0e} frames) |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for t in counts:
        lines.append(
            f"| {t} | {builds[t]:.3f} s | {randperm / builds[t]:.1f}x faster | "
            f"{builds[1] / builds[t]:.2f}x | {fills[t]:.3f} s | {latency[t] * 1e3:.0f} ms |"
        )
    lines += [
        "",
        f"Per sample, `for i in sampler` (shuffled, 10^7 frames): {per_sample * 1e9:.1f} ns, "
        f"against {per_list * 1e9:.1f} ns for a plain list: {per_sample / per_list:.2f}x.",
    ]
    table = "\n".join(lines) + "\n"
    print(table)
    if args.markdown:
        args.markdown.write_text(table)


if __name__ == "__main__":
    main()
