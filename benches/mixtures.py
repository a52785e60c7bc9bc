"""Costs of `MixtureSampler` and `WeightedEpisodeSampler`, as ratios against baselines measured
in the same run (against the targets set for them).

- Mixture of 3 components (sizes in a 10:3:1 ratio, weights 5:3:2, blocks of 1024) against one
  `EpisodeAwareSampler` over as many frames (target <= 1.5x): ns per sample of `for i in
  iterator` with `"feistel"` components; with `"uniform"` components over a whole epoch from
  `iter()` on, building the orders included (a component's table is built lazily, once per
  component epoch, so only whole epochs compare like with like); seek: seconds to the first
  index after `load_state_dict` at position 10**9 of the `"feistel"` mixture (target < 1 ms).
- Weighted sampler over 10**6 episodes: build time (the constructor, validation included;
  target <= 50 ms) and ns per sample against `EpisodeAwareSampler` over the same episodes
  (target <= 2x).
- Against `torch.utils.data.WeightedRandomSampler` at 2**24 weights (the most
  `torch.multinomial` accepts) and as many samples: epoch start (from `iter()` to the first
  index) and ns per sample.

Every figure is a median over `--repeats` runs; the whole-epoch comparison takes its two
samplers in turns, `2 * repeats + 1` epochs each, and reports the median of the per-turn
ratios. Run from the repository root:

    python3 benches/mixtures.py --markdown benches/results_mixtures.md
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from episampler import EpisodeAwareSampler, MixtureSampler, WeightedEpisodeSampler
from episampler._baselines import synthetic_episodes

if __package__ in (None, ""):  # run as a script: the repository root holds the benches package
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benches.compare import median_seconds, time_epoch_start, time_iteration, time_resume


def whole_epoch_seconds(sampler, epoch: int) -> float:
    """Seconds per sample of one whole epoch, from `iter()` on a new epoch to the end."""
    sampler.set_epoch(epoch)
    begin = time.perf_counter()
    for _ in sampler:
        pass
    return (time.perf_counter() - begin) / len(sampler)


def interleaved_whole_epochs(baseline, sampler, repeats: int) -> tuple[float, float, float]:
    """Whole epochs of `baseline` and `sampler` taken in turns (so a slow spell of a shared
    machine hits both): median seconds per sample of each and the median of the per-turn
    ratios."""
    pairs = [
        (whole_epoch_seconds(baseline, epoch), whole_epoch_seconds(sampler, epoch))
        for epoch in range(1, repeats + 1)
    ]
    return (
        statistics.median(a for a, _ in pairs),
        statistics.median(b for _, b in pairs),
        statistics.median(b / a for a, b in pairs),
    )


def components(total: int, permutation: str) -> list[EpisodeAwareSampler]:
    sizes = [total * 10 // 14, total * 3 // 14, total - total * 13 // 14]
    parts = []
    for seed, size in enumerate(sizes):
        starts, ends = synthetic_episodes(size, max(1, size // 100), seed=seed)
        parts.append(EpisodeAwareSampler(starts, ends, shuffle=True, seed=seed,
                                         permutation=permutation))  # fmt: skip
    return parts


def mixture(parts, **kwargs) -> MixtureSampler:
    offsets = np.cumsum([0] + [p.num_frames for p in parts[:-1]])
    return MixtureSampler(parts, [5, 3, 2], offsets=offsets, seed=1, **kwargs)


def run(frames: int, samples: int, repeats: int) -> list[tuple[str, str, str, str]]:
    rows = []
    # --- mixture per sample ---
    starts, ends = synthetic_episodes(frames, frames // 100, seed=7)
    feistel_mix = mixture(components(frames, "feistel"))
    single = EpisodeAwareSampler(starts, ends, shuffle=True, seed=7, permutation="feistel")
    base = time_iteration(single, samples, repeats)
    mixed = time_iteration(feistel_mix, samples, repeats)
    rows.append(("Mixture of 3 (feistel), per sample", f"{mixed * 1e9:.1f} ns",
                 f"EpisodeAwareSampler feistel {base * 1e9:.1f} ns",
                 f"{mixed / base:.2f}x (<= 1.5x)"))  # fmt: skip
    uniform_mix = mixture(components(frames, "uniform"))
    single = EpisodeAwareSampler(starts, ends, shuffle=True, seed=7)
    base, mixed, ratio = interleaved_whole_epochs(single, uniform_mix, 2 * repeats + 1)
    rows.append(("Mixture of 3 (uniform), per sample over whole epochs", f"{mixed * 1e9:.1f} ns",
                 f"EpisodeAwareSampler uniform {base * 1e9:.1f} ns",
                 f"{ratio:.2f}x (<= 1.5x)"))  # fmt: skip
    # --- mixture seek at 10**9 ---
    far = mixture(components(frames, "feistel"), samples_per_epoch=4 * 10**9)
    seek = time_resume(far, 10**9, repeats)
    plain = EpisodeAwareSampler(starts, ends, shuffle=True, permutation="feistel")
    plain_seek = time_resume(plain, frames // 2, repeats)
    rows.append(("Mixture seek to 10**9 (feistel)", f"{seek * 1e6:.0f} us",
                 f"EpisodeAwareSampler feistel {plain_seek * 1e6:.0f} us",
                 f"{seek / plain_seek:.2f}x (< 1 ms)"))  # fmt: skip
    # --- weighted: build and per sample ---
    starts6, ends6 = synthetic_episodes(10**8, 10**6, seed=3)
    weights6 = np.random.default_rng(0).exponential(size=10**6)
    build = median_seconds(lambda: WeightedEpisodeSampler(starts6, ends6, weights6, samples),
                           repeats)  # fmt: skip
    base_build = median_seconds(lambda: EpisodeAwareSampler(starts6, ends6, shuffle=True), repeats)
    rows.append(("Weighted build, 10**6 episodes", f"{build * 1e3:.1f} ms",
                 f"EpisodeAwareSampler {base_build * 1e3:.1f} ms",
                 f"{build / base_build:.2f}x (<= 50 ms)"))  # fmt: skip
    weighted = WeightedEpisodeSampler(starts6, ends6, weights6, 10**8, seed=2)
    plain6 = EpisodeAwareSampler(starts6, ends6, shuffle=True, permutation="feistel")
    w_sample = time_iteration(weighted, samples, repeats)
    p_sample = time_iteration(plain6, samples, repeats)
    rows.append(("Weighted, per sample (10**6 episodes)", f"{w_sample * 1e9:.1f} ns",
                 f"EpisodeAwareSampler feistel {p_sample * 1e9:.1f} ns",
                 f"{w_sample / p_sample:.2f}x (<= 2x)"))  # fmt: skip
    # --- against torch's WeightedRandomSampler at 2**24 weights ---
    n = 2**24
    weights24 = np.random.default_rng(1).exponential(size=n)
    torch_sampler = torch.utils.data.WeightedRandomSampler(torch.from_numpy(weights24), n)
    boundaries = np.arange(n + 1, dtype=np.int64)
    ours = WeightedEpisodeSampler(boundaries[:-1], boundaries[1:], weights24, n, seed=0)
    torch_start = median_seconds(lambda: next(iter(torch_sampler)), max(3, repeats // 2))
    ours_start = time_epoch_start(ours, repeats)
    rows.append(("Epoch start, 2**24 weights", f"{ours_start * 1e6:.0f} us",
                 f"torch WeightedRandomSampler {torch_start * 1e3:.0f} ms",
                 f"{torch_start / ours_start:.0f}x faster"))  # fmt: skip
    torch_sample = time_iteration(torch_sampler, samples, max(3, repeats // 2))
    ours_sample = time_iteration(ours, samples, repeats)
    rows.append(("Per sample, 2**24 weights", f"{ours_sample * 1e9:.1f} ns",
                 f"torch WeightedRandomSampler {torch_sample * 1e9:.1f} ns",
                 f"{ours_sample / torch_sample:.2f}x"))  # fmt: skip
    return rows


def markdown(rows, args) -> str:
    lines = [
        "# Mixture and weighted sampler costs",
        "",
        f"`python3 benches/mixtures.py --frames {args.frames} --samples {args.samples} "
        f"--repeats {args.repeats}`, medians of {args.repeats} repeats, one run; "
        f"{platform.python_implementation()} {platform.python_version()}, torch "
        f"{torch.__version__}, {platform.machine()}.",
        "",
        "| measure | episampler | baseline (same run) | ratio (target) |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=10**7, help="frames of the mixture")
    parser.add_argument("--samples", type=int, default=10**6, help="samples timed per repeat")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    table = markdown(run(args.frames, args.samples, args.repeats), args)
    print(table)
    if args.markdown:
        args.markdown.write_text(table)


if __name__ == "__main__":
    main()
