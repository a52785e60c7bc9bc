"""The compared read orders (samplers) and what an order's mixing and I/O look like without
decoding anything: distinct episodes and files per batch, files per window, io_report's
simulated decoder opens."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .measure import BATCH_SIZE, NUM_WORKERS
from .recording import CAMERAS

# --- The order table -------------------------------------------------------------------------


@dataclass(frozen=True)
class Order:
    label: str
    window: int | None  # frames; None for the boundary and global orders
    shuffle: bool

    def sampler(self, dataset: Any, seed: int, start: int = 0) -> Any:
        """This order's sampler over `dataset`, resuming at sample `start` of epoch 0."""
        from episampler import EpisodeAwareSampler

        kwargs: dict[str, Any] = {"shuffle": self.shuffle, "seed": seed}
        if self.window is not None:
            kwargs.update(window=self.window, group_by="video_file")
        return resumed(EpisodeAwareSampler.from_lerobot(dataset, **kwargs), start)


def make_orders(windows: Sequence[int]) -> list[Order]:
    """The boundary order, the global shuffle (the reference) and one window order per size."""
    orders = [Order("boundary", None, False), Order("uniform (global)", None, True)]
    return orders + [Order(f"window {k}", k, True) for k in windows]


def resumed(sampler: Any, start: int) -> Any:
    """`sampler` (an `EpisodeAwareSampler`) resuming at sample `start` of its epoch."""
    if start:
        sampler.load_state_dict({**sampler.state_dict(), "start_index": start})
    return sampler


# --- The --fetch comparison ------------------------------------------------------------------


@dataclass(frozen=True)
class FetchSetup:
    """One row of the --fetch comparison: an order and how items are built."""

    label: str
    # "random": torch's RandomSampler (LeRobot's shuffle=True); "auto": window="auto";
    # "streams": window="auto" with one stream of windows per DataLoader worker; "storage":
    # every frame in storage order (episampler's boundary order, shuffle=False), the limit of
    # any read order; "uniform": episampler's global shuffle (what make_loader reads by default);
    # "window:N": a hand-picked window of N frames grouped by video file, one stream of windows
    # per worker (what make_loader(window=N) reads)
    order: str
    fetch: bool  # items through BatchedFetch (else LeRobot's dataset[i])
    read_ahead: bool = False  # BatchedFetch decoding ahead of the sampler (make_loader's way)


FETCH_SETUPS = (
    FetchSetup("LeRobot: dataset[i], shuffled (baseline)", "random", False),
    FetchSetup("BatchedFetch, shuffled", "random", True),
    FetchSetup('window="auto", dataset[i]', "auto", False),
    FetchSetup('window="auto" + BatchedFetch', "auto", True),
    FetchSetup('window="auto" + BatchedFetch + streams', "streams", True),
    FetchSetup("storage order + BatchedFetch (the limit)", "storage", True),
    FetchSetup(
        "make_loader default: global shuffle + BatchedFetch decoding ahead", "uniform", True, True
    ),
    FetchSetup('make_loader(window="auto"): + streams, decoding ahead', "streams", True, True),
    FetchSetup("make_loader(window=1024): hand-picked, decoding ahead", "window:1024", True, True),
    FetchSetup("make_loader(window=4096): hand-picked, decoding ahead", "window:4096", True, True),
)
# The decode-only limit's row label (measured without a DataLoader: `measure.decode_only`).
DECODE_ONLY = "decode only: every frame of every file in order, no loader (the limit)"


def fetch_sampler(
    setup: FetchSetup,
    dataset: Any,
    seed: int,
    start: int,
    workers: int = NUM_WORKERS,
    batch_size: int = BATCH_SIZE,
) -> Any:
    """The sampler of `setup`: LeRobot's default shuffle (a DataLoader with `shuffle=True`
    draws from torch's RandomSampler), or episampler's window="auto" (with one stream of
    windows per DataLoader worker for "streams", for `workers` workers and batches of
    `batch_size`), or its storage order, resumed at `start`."""
    import torch

    if setup.order == "random":
        generator = torch.Generator().manual_seed(seed)
        return torch.utils.data.RandomSampler(range(len(dataset)), generator=generator)
    from episampler import EpisodeAwareSampler, stream_settings

    if setup.order == "storage":
        return resumed(EpisodeAwareSampler.from_lerobot(dataset, shuffle=False), start)
    if setup.order == "uniform":
        return resumed(EpisodeAwareSampler.from_lerobot(dataset, shuffle=True, seed=seed), start)
    if setup.order.startswith("window:"):
        sampler = EpisodeAwareSampler.from_lerobot(
            dataset, shuffle=True, seed=seed, window=int(setup.order.split(":")[1]),
            group_by="video_file", **stream_settings(workers, batch_size),
        )  # fmt: skip
        return resumed(sampler, start)
    streams = stream_settings(workers, batch_size) if setup.order == "streams" else {}
    sampler = EpisodeAwareSampler.from_lerobot(
        dataset, shuffle=True, seed=seed, window="auto", **streams
    )
    return resumed(sampler, start)


# --- Order statistics ------------------------------------------------------------------------


def sampler_order(sampler: Any) -> np.ndarray:
    return np.fromiter(iter(sampler), dtype=np.int64)


def distinct_episodes_per_batch(order: np.ndarray, ends: np.ndarray, batch: int) -> float:
    """Mean distinct episodes in the full batches of `batch` samples of `order`."""
    episodes = np.searchsorted(ends, order, side="right")
    full = len(episodes) // batch * batch
    rows = np.sort(episodes[:full].reshape(-1, batch), axis=1)
    return float(((rows[:, 1:] != rows[:, :-1]).sum(axis=1) + 1).mean())


def per_batch(
    order: np.ndarray, ends: np.ndarray, groups: np.ndarray, batch: int = BATCH_SIZE
) -> tuple[float, float]:
    """Mean distinct episodes and distinct file groups (per camera) per full batch."""
    episodes = np.searchsorted(ends, order, side="right")
    full = len(episodes) // batch * batch
    rows = episodes[:full].reshape(-1, batch)
    distinct_files = np.mean([len(np.unique(groups[row])) for row in rows])
    return distinct_episodes_per_batch(order, ends, batch), float(distinct_files)


def files_per_window(order: np.ndarray, ends: np.ndarray, groups: np.ndarray) -> float:
    """Mean video files (per camera) per window of a windowed order: a window is a block of
    the order holding all the frames of its files, so a block ends where the frames of the
    files seen so far add up to the position."""
    episodes = np.searchsorted(ends, order, side="right")
    files = groups[episodes]
    lengths = np.diff(np.concatenate([[0], ends]))
    file_frames = np.bincount(groups, weights=lengths)
    first = np.zeros(len(files), dtype=bool)
    first[np.unique(files, return_index=True)[1]] = True
    owed = np.cumsum(np.where(first, file_frames[files], 0))
    windows = int((owed == np.arange(1, len(files) + 1)).sum())
    return len(np.unique(files)) / max(windows, 1)


def simulated_io(sampler: Any, groups: np.ndarray, cache_size: int) -> tuple[float, float]:
    """`episampler.inspect.io_report`'s simulated decoder opens per 1,000 samples and needed
    cache size for this order (whole epoch, the measurement's workers, batch and cameras)."""
    from episampler.inspect import io_report

    report = io_report(
        sampler,
        batch_size=BATCH_SIZE,
        num_workers=NUM_WORKERS,
        decoder_cache_size=cache_size,
        decoders_per_group=len(CAMERAS),
        episode_groups=groups,
    )
    figures = report["sampler"]
    return float(figures["opens_per_1000_samples"]), float(figures["needed_cache_size"])
