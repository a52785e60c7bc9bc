"""The sampler against the real LeRobot `EpisodeAwareSampler`, in one process and one run: run it
in a virtualenv with LeRobot (`make lerobot-envs`), from the repository root:

    .venv-lerobot-0.6/bin/python -m benches.lerobot_sampler \
        --markdown benches/results_lerobot_sampler.md

Rows, each the median of interleaved repeats on the same synthetic episodes:
- `episampler` (`"uniform"` and `"feistel"`);
- LeRobot's own `lerobot.datasets.sampler.EpisodeAwareSampler` (the installed version);
- our reimplementation of it (`episampler._baselines.LeRobotStyleSampler`), labelled as one, to
  show how far it is from the real thing.
Figures: seconds to the first index of a shuffled epoch (the epoch's start), nanoseconds per
index over the next indices, and seconds to the first index after a resume in the middle of an
epoch. These are the sampler's own costs: a training worker spends milliseconds per sample on
data, so they matter at the epoch's start and on resume, not per sample.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import itertools
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from episampler import EpisodeAwareSampler
from episampler._baselines import LeRobotStyleSampler, synthetic_episodes


def samplers(starts: Any, ends: Any) -> dict[str, Callable[[], Any]]:
    from lerobot.datasets.sampler import EpisodeAwareSampler as LeRobotSampler

    version = importlib.metadata.version("lerobot")
    starts_list, ends_list = starts.tolist(), ends.tolist()
    return {
        'episampler "uniform"': lambda: EpisodeAwareSampler(starts, ends, shuffle=True, seed=1),
        'episampler "feistel"': lambda: EpisodeAwareSampler(
            starts, ends, shuffle=True, seed=1, permutation="feistel"
        ),
        f"LeRobot {version} EpisodeAwareSampler": lambda: LeRobotSampler(
            starts_list, ends_list, shuffle=True, seed=1
        ),
        "our reimplementation of LeRobot's (not LeRobot)": lambda: LeRobotStyleSampler(
            starts, ends, shuffle=True, seed=1
        ),
    }


def measure(make: Callable[[], Any], count: int, resume_at: int) -> tuple[float, float, float]:
    sampler = make()
    begin = time.perf_counter()
    iterator = iter(sampler)
    next(iterator)
    first = time.perf_counter() - begin
    begin = time.perf_counter()
    for _ in itertools.islice(iterator, count):
        pass
    per_index = (time.perf_counter() - begin) / count
    resumed = make()
    resumed.load_state_dict({"epoch": 0, "start_index": resume_at})
    begin = time.perf_counter()
    next(iter(resumed))
    resume = time.perf_counter() - begin
    return first, per_index, resume


def _seconds(value: float) -> str:
    if value >= 0.1:
        return f"{value:.2f} s"
    if value >= 1e-4:
        return f"{value * 1e3:.2f} ms"
    return f"{value * 1e6:.1f} µs"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benches.lerobot_sampler", description=__doc__)
    parser.add_argument("--frames", type=int, default=10**7, help="frames (default 10^7)")
    parser.add_argument("--episodes", type=int, default=10**4, help="episodes (default 10^4)")
    parser.add_argument("--count", type=int, default=10**6, help="indices timed per repeat")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repeats (default 5)")
    parser.add_argument("--markdown", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    starts, ends = synthetic_episodes(args.frames, args.episodes)
    rows = samplers(starts, ends)
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in rows}
    for _ in range(args.repeats):  # interleaved: every row sees the same machine load
        for name, make in rows.items():
            results[name].append(measure(make, args.count, args.frames // 2))
    medians = {
        name: tuple(statistics.median(r[i] for r in runs) for i in range(3))
        for name, runs in results.items()
    }
    lerobot = next(name for name in medians if name.startswith("LeRobot "))
    base = medians[lerobot]
    lines = [
        f"`python -m benches.lerobot_sampler --frames {args.frames} --episodes {args.episodes} "
        f"--count {args.count} --repeats {args.repeats}`: {args.frames:,} frames in "
        f"{args.episodes:,} synthetic episodes, medians of {args.repeats} interleaved repeats, "
        f"one process; torch {torch.__version__}, Python {platform.python_version()}, "
        f"{platform.machine()}.",
        "",
        "| sampler | first index of an epoch | per index after it | first index after a "
        "mid-epoch resume | LeRobot's per index / this one's |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, (first, per_index, resume) in medians.items():
        lines.append(
            f"| {name} | {_seconds(first)} | {per_index * 1e9:,.0f} ns | {_seconds(resume)} | "
            f"{base[1] / per_index:,.1f}x |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        args.markdown.write_text("# The sampler against LeRobot's own\n\n" + text)


if __name__ == "__main__":
    main()
