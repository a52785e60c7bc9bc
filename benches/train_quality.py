"""Does the read-local (windowed) order train as well as a global shuffle?

What it measures
----------------
A small non-i.i.d. regression, built so that the read order matters: episodes are grouped like
the episodes of one video file (`--episodes-per-group` per group), every group has its own
region of input space (a random offset, "the scene"), every episode its own offset around it
("the task") and a smooth trajectory through it, and the target is a fixed random nonlinear
function of the input (a teacher MLP) plus a little noise. A model that reads one region for a
long time forgets the others, so an order that stays in a few groups at the end of training
shows up in the held-out loss.

The frames are a map-style dataset with episode boundaries; the same MLP (Adam, cosine decay to
0 or a constant rate (`--schedule`), batches of 64, a fixed number of epochs) is trained from
the same initialisation with:

(a) boundary order, `EpisodeAwareSampler(..., shuffle=False)`;
(b) the global shuffle, `shuffle=True` ("uniform");
(c) the windowed order, `shuffle=True, window=k, episode_groups=group ids`, with the
    recommended windows (`--windows`: the ones benches/lerobot_video.py recommends for a
    60-decoder and for LeRobot's default 100-decoder cache with 3 cameras, i.e. about 16 and
    32 of the 64 groups) and, for context, a smaller one (`--extra-windows`);
(d) worker-aware windows (`--worker-streams W:k,...`): the windowed order with `streams=W`,
    `stream_block=64` (the batch size), i.e. what `W` DataLoader workers read with one window
    each. The DataLoader hands batches back in sampler order whatever the number of workers,
    so the model sees exactly this order; it is trained in the main process;

and reports the final held-out MSE (on held-out episodes of every group, drawn from the same
process) as mean ± std over `--seeds` seeds (the seed sets the model's initialisation and the
sampler's seed; the data are fixed; every order of one seed starts from the same weights), the
relative difference of each order's mean to the global shuffle's, and the same difference
paired by seed (mean ± standard error over seeds) with the number of seeds on which the order
did worse.
The experiment can tell orders apart if (a) is clearly worse than (b). The layout mirrors
benches/lerobot_video.py's datasets: 64 groups of 20 episodes of 12-20 frames.

Run (from the repository root; needs torch and episampler, any of the project's Pythons):

    python3 benches/train_quality.py --markdown benches/results_train_quality.md
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from episampler import EpisodeAwareSampler, stream_settings

BATCH_SIZE = 64
INPUT_DIM = 8


@dataclass(frozen=True)
class Data:
    """Training frames (x, y) in episode order with their boundaries and groups, and the
    held-out frames."""

    x: torch.Tensor
    y: torch.Tensor
    starts: np.ndarray
    ends: np.ndarray
    groups: np.ndarray
    test_x: torch.Tensor
    test_y: torch.Tensor


def make_data(args: argparse.Namespace) -> Data:
    """Deterministic in `args.data_seed`. Episodes of a group are consecutive, as the episodes
    of a video file are in a LeRobot v3 dataset."""
    rng = np.random.default_rng(args.data_seed)
    teacher = [
        (rng.normal(0, 1 / np.sqrt(INPUT_DIM), (INPUT_DIM, 64)), rng.normal(0, 0.3, 64)),
        (rng.normal(0, 1 / np.sqrt(64), (64, 64)), rng.normal(0, 0.3, 64)),
        (rng.normal(0, 1 / np.sqrt(64), (64, 1)), np.zeros(1)),
    ]

    def target(x: np.ndarray) -> np.ndarray:
        h = x
        for layer, (w, b) in enumerate(teacher):
            h = h @ w + b
            if layer < len(teacher) - 1:
                h = np.tanh(h)
        return h

    scenes = rng.normal(0, args.scene_spread, (args.groups, INPUT_DIM))

    def episode(group: int) -> tuple[np.ndarray, np.ndarray]:
        length = int(rng.integers(args.min_length, args.max_length + 1))
        centre = scenes[group] + rng.normal(0, args.task_spread, INPUT_DIM)
        directions = rng.normal(0, 1, (2, INPUT_DIM))
        phase = rng.uniform(0, 2 * np.pi, 2)
        t = np.arange(length)[:, None] / 8.0
        x = (
            centre
            + 0.5 * np.sin(t + phase[0]) * directions[0]
            + 0.3 * np.cos(0.5 * t + phase[1]) * directions[1]
            + rng.normal(0, 0.05, (length, INPUT_DIM))
        )
        y = target(x) + rng.normal(0, 0.05, (length, 1))
        return x, y

    xs, ys, lengths, groups, test_xs, test_ys = [], [], [], [], [], []
    for group in range(args.groups):
        for _ in range(args.episodes_per_group):
            x, y = episode(group)
            xs.append(x)
            ys.append(y)
            lengths.append(len(x))
            groups.append(group)
        for _ in range(args.held_out_per_group):
            x, y = episode(group)
            test_xs.append(x)
            test_ys.append(y)
    ends = np.cumsum(lengths).astype(np.int64)
    as_tensor = lambda parts: torch.tensor(np.concatenate(parts), dtype=torch.float32)  # noqa: E731
    return Data(
        as_tensor(xs),
        as_tensor(ys),
        ends - np.asarray(lengths, dtype=np.int64),
        ends,
        np.asarray(groups, dtype=np.int64),
        as_tensor(test_xs),
        as_tensor(test_ys),
    )


class Frames(torch.utils.data.Dataset):
    """Map-style dataset of the training frames; `__getitems__` fetches a batch at once."""

    def __init__(self, data: Data) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data.x)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.data.x[index], self.data.y[index]

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        rows = torch.as_tensor(indices)
        return self.data.x[rows], self.data.y[rows]


@dataclass(frozen=True)
class Order:
    label: str
    shuffle: bool
    window: int | None = None
    workers: int = 1  # worker-aware streams: one per DataLoader worker

    def sampler(self, data: Data, seed: int) -> EpisodeAwareSampler:
        if self.window is None:
            return EpisodeAwareSampler(data.starts, data.ends, shuffle=self.shuffle, seed=seed)
        return EpisodeAwareSampler(
            data.starts,
            data.ends,
            shuffle=True,
            seed=seed,
            window=self.window,
            episode_groups=data.groups,
            **stream_settings(num_workers=self.workers, batch_size=BATCH_SIZE),
        )


def train(data: Data, order: Order, seed: int, args: argparse.Namespace) -> float:
    """Train the MLP with `order` and return its final held-out MSE."""
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Linear(INPUT_DIM, args.hidden),
        nn.ReLU(),
        nn.Linear(args.hidden, args.hidden),
        nn.ReLU(),
        nn.Linear(args.hidden, 1),
    )
    sampler = order.sampler(data, seed)
    loader = torch.utils.data.DataLoader(
        Frames(data), batch_size=BATCH_SIZE, sampler=sampler, collate_fn=lambda batch: batch
    )
    steps = args.epochs * len(loader)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    schedule: torch.optim.lr_scheduler.LRScheduler = (
        torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
        if args.schedule == "cosine"
        else torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)
    )
    for epoch in range(args.epochs):
        sampler.set_epoch(epoch)
        for x, y in loader:
            loss = nn.functional.mse_loss(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    with torch.no_grad():
        return float(nn.functional.mse_loss(model(data.test_x), data.test_y))


def mean_distinct_groups(data: Data, order: Order, seed: int, span: int) -> float:
    """Mean distinct groups in consecutive runs of `span` samples of epoch 0 (how local the
    order is)."""
    sequence = np.fromiter(iter(order.sampler(data, seed)), dtype=np.int64)
    groups = data.groups[np.searchsorted(data.ends, sequence, side="right")]
    return float(
        np.mean([len(np.unique(groups[i : i + span])) for i in range(0, len(groups), span)])
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="See the module docstring for what is measured and how.",
    )
    parser.add_argument("--groups", type=int, default=64, help="groups (video files)")
    parser.add_argument("--episodes-per-group", type=int, default=20)
    parser.add_argument("--held-out-per-group", type=int, default=2)
    parser.add_argument("--min-length", type=int, default=12, help="frames per episode, min")
    parser.add_argument("--max-length", type=int, default=20, help="frames per episode, max")
    parser.add_argument(
        "--scene-spread",
        type=float,
        default=0.75,
        help="spread of the groups' input offsets (default: %(default)s)",
    )
    parser.add_argument(
        "--task-spread",
        type=float,
        default=1.5,
        help="spread of an episode's offset around its group's (default: %(default)s)",
    )
    parser.add_argument(
        "--windows",
        type=lambda s: [int(k) for k in s.split(",") if k],
        default=[5120, 10240],
        help="the recommended windows, frames: benches/lerobot_video.py's choice for a "
        "60-decoder cache (16 files) and for LeRobot's default 100 (32 files), with 3 cameras "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--extra-windows",
        type=lambda s: [int(k) for k in s.split(",") if k],
        default=[1280, 2560],
        help="smaller windows shown for context, 2560 being the plain counterpart of the "
        "8-worker streams (default: %(default)s)",
    )
    parser.add_argument(
        "--worker-streams",
        type=lambda s: [tuple(int(v) for v in part.split(":")) for part in s.split(",") if part],
        default=[(2, 5120), (4, 5120), (8, 2560), (4, 10240)],
        metavar="W:k,...",
        help="worker-aware windows: W DataLoader workers, each reading its own windows of k "
        "frames (default: 2:5120,4:5120,8:2560,4:10240)",
    )
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument(
        "--schedule",
        choices=("cosine", "constant"),
        default="cosine",
        help="learning rate: cosine decay to 0, or constant (default: %(default)s)",
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--data-seed", type=int, default=0)
    parser.add_argument("--markdown", type=Path, help="write the table here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(1)
    start = time.perf_counter()
    data = make_data(args)
    orders = [Order("(a) boundary", False), Order("(b) global shuffle", True)]
    per_group = len(data.x) / args.groups
    orders += [
        Order(f"(c) window {k} (~{k / per_group:.0f} groups)", True, k) for k in args.windows
    ]
    orders += [
        Order(f"window {k} (~{k / per_group:.0f} groups)", True, k) for k in args.extra_windows
    ]
    orders += [
        Order(f"(d) window {k} (~{k / per_group:.0f} groups), {w} workers", True, k, w)
        for w, k in args.worker_streams
    ]
    losses: dict[str, list[float]] = {order.label: [] for order in orders}
    for seed in range(args.seeds):  # orders interleaved per seed
        for order in orders:
            losses[order.label].append(train(data, order, seed, args))
            print(f"seed {seed} {order.label}: {losses[order.label][-1]:.5f}", file=sys.stderr)
    reference = statistics.mean(losses[orders[1].label])
    lines = [
        f"{args.groups} groups (video files) x {args.episodes_per_group} episodes of "
        f"{args.min_length}-{args.max_length} frames ({len(data.x):,} training frames, about "
        f"{per_group:.0f} per group), {args.held_out_per_group} held-out episodes per "
        f"group ({len(data.test_x):,} frames); MLP {INPUT_DIM}-{args.hidden}-{args.hidden}-1, "
        f"Adam lr {args.lr} "
        f"{'with cosine decay' if args.schedule == 'cosine' else 'constant'}, "
        f"batch {BATCH_SIZE}, {args.epochs} epochs; "
        f"scene spread {args.scene_spread}, task spread {args.task_spread}; "
        f"{args.seeds} seeds (model initialisation and sampler seed), torch "
        f"{torch.__version__}; {time.perf_counter() - start:.0f} s",
        "",
        "| order | groups per 1,000 consecutive samples | held-out MSE (mean ± std) | "
        "vs global shuffle (means) | paired, per seed (mean ± s.e.) | seeds worse than (b) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for order in orders:
        values = losses[order.label]
        mean, std = statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0
        locality = mean_distinct_groups(data, order, 0, 1000)
        paired = [100 * (v / g - 1) for v, g in zip(values, losses[orders[1].label], strict=True)]
        spread = statistics.stdev(paired) / len(paired) ** 0.5 if len(paired) > 1 else 0.0
        worse = sum(p > 0 for p in paired)
        lines.append(
            f"| {order.label} | {locality:.1f} | {mean:.5f} ± {std:.5f} | "
            f"{100 * (mean / reference - 1):+.1f}% | {statistics.mean(paired):+.1f}% ± "
            f"{spread:.1f}% | {worse}/{len(paired)} |"
        )
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
