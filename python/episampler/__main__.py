"""`python -m episampler`: a short demo and benchmark on synthetic episodes.

Compares episampler with a LeRobot 0.6 style sampler (episode boundaries, a seeded
`torch.randperm` per epoch, one `np.searchsorted` per sample) in the same run, and shows an
exact resume. `python -m benches.compare` is the full benchmark.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import time
from collections.abc import Callable, Iterable, Iterator

from episampler import EpisodeAwareSampler
from episampler._baselines import LeRobotStyleSampler, synthetic_episodes


def best_seconds(work: Callable[[], object], repeats: int) -> float:
    """The fastest of `repeats` runs: the run least disturbed by other work on the machine."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def consume(iterable: Iterable[object], count: int) -> None:
    for _ in itertools.islice(iterable, count):
        pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m episampler", description=__doc__)
    parser.add_argument(
        "--frames", type=int, default=1_000_000, help="frames in the dataset (default: 1000000)"
    )
    parser.add_argument(
        "--episodes", type=int, default=1_000, help="episodes in the dataset (default: 1000)"
    )
    parser.add_argument(
        "--samples", type=int, default=200_000, help="samples drawn per timing (default: 200000)"
    )
    parser.add_argument(
        "--repeats", type=int, default=7, help="runs per measurement, the best kept (default: 7)"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.episodes < args.frames:
        parser.error("need 1 <= --episodes < --frames")
    samples = min(args.samples, args.frames)

    from_indices, to_indices = synthetic_episodes(args.frames, args.episodes)
    print(
        f"episampler demo: {args.frames:,} frames in {args.episodes:,} episodes; each figure is "
        f"the best of {args.repeats} runs, {samples:,} samples per run\n"
    )

    rows = []
    samplers: dict[str, LeRobotStyleSampler | EpisodeAwareSampler] = {
        "LeRobot 0.6 style": LeRobotStyleSampler(from_indices, to_indices, shuffle=True)
    }
    for permutation in ("uniform", "feistel"):
        samplers[f"episampler {permutation!r}"] = EpisodeAwareSampler(
            from_indices, to_indices, shuffle=True, permutation=permutation
        )
    for name, sampler in samplers.items():
        # A new epoch each time, so the epoch-start cost is really paid.
        epochs = itertools.count(1)

        def start_epoch(
            sampler: LeRobotStyleSampler | EpisodeAwareSampler = sampler,
            epochs: Iterator[int] = epochs,
        ) -> None:
            sampler.set_epoch(next(epochs))
            next(iter(sampler))

        epoch_start = best_seconds(start_epoch, args.repeats)
        per_sample = best_seconds(functools.partial(consume, sampler, samples), args.repeats)
        per_sample /= samples
        rows.append((name, epoch_start, per_sample))

    print(f"{'sampler':<44}{'epoch start':>14}{'per sample':>14}{'speed-up':>10}")
    base_per_sample = rows[0][2]
    for name, start, per in rows:
        start_text = f"{start * 1e3:.1f} ms" if start >= 1e-3 else f"{start * 1e6:.0f} us"
        print(f"{name:<44}{start_text:>14}{per * 1e9:>11.0f} ns{base_per_sample / per:>9.1f}x")
    print(
        "\n  epoch start: from iter() on a new epoch to its first index (building the order)\n"
        "  per sample:  time per index of `for i in sampler` after the first one\n"
        "  speed-up:    LeRobot 0.6 style per-sample time / this sampler's, same run\n"
        "  Times depend on the machine and on what else runs on it (on a busy machine the\n"
        "  speed-up moved between 4x and 96x from run to run); `--repeats` takes more runs."
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
    print(
        '\nNext, on the documentation site (`make docs` builds it into site/): "Getting\n'
        'started", then the guides "Resume exactly in any loop", "Train with lerobot-train",\n'
        '"Faster video loading", "Several datasets" and "Distributed"; examples/ holds\n'
        "scripts to copy. `python -m benches.compare` is the full benchmark."
    )


if __name__ == "__main__":
    main()
