"""`python -m episampler`: a short demo and benchmark on synthetic episodes.

Compares episampler with the approach of LeRobot 0.6's sampler (a Python list of every frame,
shuffled with `torch.randperm` each epoch) in the same run, and shows an exact resume.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from collections.abc import Callable, Iterator

import numpy as np
import torch

from episampler import EpisodeAwareSampler


def synthetic_episodes(num_frames: int, num_episodes: int, seed: int = 0):
    """Episodes of varied lengths (at least one frame each) that add up to `num_frames`."""
    rng = np.random.default_rng(seed)
    cuts = np.sort(rng.choice(np.arange(1, num_frames), size=num_episodes - 1, replace=False))
    bounds = np.concatenate([[0], cuts, [num_frames]])
    return bounds[:-1], bounds[1:]


class ListRandpermSampler:
    """The baseline: every frame in a Python list, `torch.randperm` at each epoch start."""

    def __init__(self, from_indices, to_indices) -> None:
        self.indices = [
            f for s, e in zip(from_indices, to_indices, strict=True) for f in range(s, e)
        ]
        self.generator = torch.Generator().manual_seed(0)

    def __iter__(self) -> Iterator[int]:
        for i in torch.randperm(len(self.indices), generator=self.generator):
            yield self.indices[i]


def median_seconds(work: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def consume(iterable, count: int) -> None:
    for _ in itertools.islice(iterable, count):
        pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m episampler", description=__doc__)
    parser.add_argument("--frames", type=int, default=1_000_000, help="frames in the dataset")
    parser.add_argument("--episodes", type=int, default=1_000, help="episodes in the dataset")
    parser.add_argument("--samples", type=int, default=200_000, help="samples drawn per timing")
    parser.add_argument("--repeats", type=int, default=3, help="timings per measurement")
    args = parser.parse_args(argv)
    if not 1 <= args.episodes < args.frames:
        parser.error("need 1 <= --episodes < --frames")
    samples = min(args.samples, args.frames)

    from_indices, to_indices = synthetic_episodes(args.frames, args.episodes)
    print(
        f"episampler demo: {args.frames:,} frames in {args.episodes:,} episodes, "
        f"median of {args.repeats} runs, {samples:,} samples per run\n"
    )

    rows = []
    baseline = ListRandpermSampler(from_indices, to_indices)
    epoch_start = median_seconds(lambda: next(iter(baseline)), args.repeats)
    per_sample = median_seconds(lambda: consume(baseline, samples), args.repeats) / samples
    rows.append(("list + torch.randperm (LeRobot 0.6 style)", epoch_start, per_sample))
    for permutation in ("uniform", "feistel"):
        sampler = EpisodeAwareSampler(
            from_indices, to_indices, shuffle=True, permutation=permutation
        )
        # A new epoch each time, so the epoch-start cost is really paid.
        epochs = itertools.count(1)

        def start_epoch(sampler=sampler, epochs=epochs) -> None:
            sampler.set_epoch(next(epochs))
            next(iter(sampler))

        epoch_start = median_seconds(start_epoch, args.repeats)
        per_sample = median_seconds(lambda s=sampler: consume(s, samples), args.repeats) / samples
        rows.append((f"episampler {permutation!r}", epoch_start, per_sample))

    print(f"{'sampler':<44}{'epoch start':>14}{'per sample':>14}{'speed-up':>10}")
    base_per_sample = rows[0][2]
    for name, start, per in rows:
        print(
            f"{name:<44}{start * 1e3:>11.1f} ms{per * 1e9:>11.0f} ns{base_per_sample / per:>9.1f}x"
        )

    # Resume: stop after 1,000 samples, save the state, continue in a fresh sampler.
    sampler = EpisodeAwareSampler(from_indices, to_indices, shuffle=True, seed=7)
    iterator = iter(sampler)
    head = list(itertools.islice(iterator, 1000))
    state = sampler.state_dict()
    resumed = EpisodeAwareSampler(from_indices, to_indices, shuffle=True, seed=7)
    resumed.load_state_dict(state)
    exact = list(itertools.islice(iter(resumed), 1000)) == list(itertools.islice(iterator, 1000))
    print(f"\nresume: state after {len(head):,} samples = {state}")
    print(f"resume: next 1,000 samples identical to the uninterrupted run: {exact}")


if __name__ == "__main__":
    main()
