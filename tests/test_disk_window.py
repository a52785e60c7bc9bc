"""`disk_window`: the largest window whose files fit a stream's local copy, counted in whole
files (a file holding episodes of several units is copied whole for the one a window reads),
checked against the windowed order's closing rule on windows cut from other permutations."""

from __future__ import annotations

import numpy as np
import pytest

from episampler.lerobot.auto_window import disk_window
from tests.test_auto_window import windows_of


def windows_with_the_next_first_unit(order: list[int], frames: np.ndarray, window: int):
    """The windows the closing rule cuts from units in `order`, each with the next window's
    first unit (a batch straddling two windows reads both)."""
    windows = windows_of(order, frames, window)
    following = [*windows[1:], []]
    return [this + after[:1] for this, after in zip(windows, following, strict=True)]


def window_bytes(units: list[int], files_of_unit: list[set[int]], sizes: np.ndarray) -> float:
    return float(sizes[sorted(set().union(*(files_of_unit[u] for u in units)))].sum())


def test_one_file_per_unit_counts_the_straddling_unit():
    # 100 units of 10 frames, each alone in a file of 1,000 bytes: 10 files fit 10,000 bytes,
    # so 9 units and the next window's first: 90 frames, not 100.
    units = np.arange(100)
    window, largest = disk_window(units, np.full(100, 10), units[:, None], np.full(100, 1e3), 1e4)
    assert (window, largest) == (90, 1e3)


def test_files_shared_by_units_are_copied_whole():
    """4 units per file: a window of random units reads about one unit of each file it copies,
    so it fits about a quarter of the frames that bytes per frame would say."""
    units = np.arange(400)
    files = units // 4  # 100 files of 4,000 bytes, 10 frames per unit: 100 bytes per frame
    budget = 40_000.0
    window, _ = disk_window(units, np.full(400, 10), files[:, None], np.full(100, 4e3), budget)
    assert window < budget / 100 / 2  # far below 400 frames
    files_of_unit = [{int(files[u])} for u in units]
    rng = np.random.default_rng(7)
    needs, larger = [], []
    for _ in range(50):
        order = rng.permutation(400).tolist()
        needs += [
            window_bytes(w, files_of_unit, np.full(100, 4e3))
            for w in windows_with_the_next_first_unit(order, np.full(400, 10), window)
        ]
        larger += [
            window_bytes(w, files_of_unit, np.full(100, 4e3))
            for w in windows_with_the_next_first_unit(order, np.full(400, 10), 2 * window)
        ]
    assert np.quantile(needs, 0.75) <= budget  # fits in most windows
    assert np.quantile(larger, 0.5) > budget  # twice the window does not


@pytest.mark.parametrize("seed", range(6))
def test_most_windows_fit_and_a_larger_budget_never_gives_a_smaller_window(seed):
    rng = np.random.default_rng(seed)
    episodes = int(rng.integers(50, 300))
    frames = rng.integers(5, 60, episodes)
    # A data file for all, and two cameras whose files roll over at different episodes.
    cameras = [np.cumsum(rng.random(episodes) < 0.3) for _ in range(2)]
    files = np.stack([np.zeros(episodes, dtype=int), 1 + cameras[0],
                      2 + cameras[0].max() + cameras[1]], axis=1)  # fmt: skip
    sizes = rng.uniform(1e3, 1e4, files.max() + 1)
    _, unit_of = np.unique(files, axis=0, return_inverse=True)
    unit_of = unit_of.reshape(-1)
    unit_frames = np.bincount(unit_of, weights=frames).astype(np.int64)
    files_of_unit = [set(files[unit_of == u].reshape(-1).tolist()) for u in range(len(unit_frames))]
    budget = float(rng.uniform(0.1, 0.5) * sizes.sum())
    window, largest = disk_window(unit_of, frames, files, sizes, budget)
    assert largest == max(window_bytes([u], files_of_unit, sizes) for u in range(len(unit_frames)))
    needs = []
    for _ in range(40):
        order = rng.permutation(len(unit_frames)).tolist()
        cut = windows_with_the_next_first_unit(order, unit_frames, window)
        needs += [window_bytes(w, files_of_unit, sizes) for w in cut]
    assert np.mean(np.asarray(needs) <= budget) >= 0.75
    wider, _ = disk_window(unit_of, frames, files, sizes, 2 * budget)
    assert wider >= window


def test_a_unit_larger_than_the_budget_gives_windows_of_one_unit_and_says_how_large():
    units = np.arange(10)
    window, largest = disk_window(units, np.full(10, 50), units[:, None], np.full(10, 5e6), 1e6)
    assert (window, largest) == (1, 5e6)
