"""What worker-aware windows change in the reads: the I/O report (`episampler.inspect.io_report`,
an exact LRU simulation of the DataLoader's round-robin batches, one decoder cache per worker)
of the plain windowed order and of the same windows with one stream per worker
(`stream_settings(num_workers, batch_size)`), for 2, 4 and 8 workers.

Two synthetic layouts: the one benches/lerobot_video.py records and benches/train_quality.py
trains on (64 files of 20 episodes, 20,480 frames: few files per worker, so the epoch's last
turns, when streams run out at slightly different positions, weigh a lot), and a larger one
(10**6 frames, 200 files of 25 episodes). 3 cameras, batches of 64, LeRobot's default cache of
100 decoders. The figures are exact counts, not timings: they do not depend on the machine.

    python3 benches/streams_report.py --markdown benches/results_streams.md
"""

from __future__ import annotations

import argparse
from pathlib import Path

from episampler import EpisodeAwareSampler, stream_settings
from episampler._baselines import synthetic_episodes
from episampler.inspect import io_report

BATCH, CAMERAS, CACHE = 64, 3, 100
LAYOUTS = [  # (label, frames, episodes, episodes per file, [(workers, window), ...])
    ("64 files of 20 episodes", 20_480, 1_280, 20, [(2, 5120), (4, 5120), (8, 2560)]),
    ("200 files of 25 episodes", 1_000_000, 5_000, 25, [(2, 16384), (4, 16384), (8, 4096)]),
]


def rows() -> list[str]:
    lines = [
        "| layout | workers | window | order | files / batch | episodes / batch | decoder opens "
        "/ 1k samples | vs plain | files / worker / 1k samples | cache needed |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, frames, episodes, per_file, setups in LAYOUTS:
        starts, ends = synthetic_episodes(frames, episodes, seed=0)
        groups = [e // per_file for e in range(episodes)]
        for workers, window in setups:
            common = {"shuffle": True, "seed": 0, "window": window, "episode_groups": groups}
            plain = None
            for name, extra in [("plain", {}), ("streams", stream_settings(workers, BATCH))]:
                sampler = EpisodeAwareSampler(starts, ends, **common, **extra)
                figures = io_report(
                    sampler,
                    batch_size=BATCH,
                    num_workers=workers,
                    decoder_cache_size=CACHE,
                    decoders_per_group=CAMERAS,
                )["sampler"]
                opens = figures["opens_per_1000_samples"]
                plain = opens if plain is None else plain
                lines.append(
                    f"| {label} | {workers} | {window:,} | {name} "
                    f"| {figures['mean_groups_per_batch']:.2f} "
                    f"| {figures['mean_episodes_per_batch']:.1f} | {opens:.2f} "
                    f"| {opens / plain:.2f}x | {figures['files_per_worker_per_1000_samples']:.2f} "
                    f"| {figures['needed_cache_size']} |"
                )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    args = parser.parse_args()
    text = "\n".join(rows())
    print(text)
    if args.markdown:
        header = (
            "# Worker-aware windows: the I/O report\n\n"
            "`python3 benches/streams_report.py --markdown benches/results_streams.md` (exact "
            f"counts; batches of {BATCH}, {CAMERAS} cameras, a cache of {CACHE} decoders per "
            "worker, seed 0, epoch 0).\n\n"
        )
        args.markdown.write_text(header + text + "\n")


if __name__ == "__main__":
    main()
