"""`make_loader`'s arguments and DataLoader settings, on a duck-typed LeRobot v3 dataset (the
real datasets are in tests/real_lerobot/test_make_loader.py)."""

from __future__ import annotations

import pytest

from episampler.integrations.lerobot import make_loader

from .test_auto_window import FILES, LENGTHS, v3_dataset


def test_workers_are_set_up_as_lerobot_trains_unless_told_otherwise():
    loader = make_loader(v3_dataset(LENGTHS, FILES), batch_size=4, num_workers=2)
    assert loader.multiprocessing_context.get_start_method() == "spawn"
    assert (loader.prefetch_factor, loader.persistent_workers) == (4, True)
    assert (loader.batch_size, loader.num_workers, loader.drop_last) == (4, 2, False)
    mine = make_loader(
        v3_dataset(LENGTHS, FILES), batch_size=4, num_workers=2, prefetch_factor=2, drop_last=True
    )
    assert (mine.prefetch_factor, mine.drop_last) == (2, True)
    single = make_loader(v3_dataset(LENGTHS, FILES), batch_size=4, num_workers=0)
    assert single.multiprocessing_context is None and single.prefetch_factor is None


def test_the_default_is_the_global_shuffle_and_a_window_comes_with_worker_streams():
    dataset = v3_dataset(LENGTHS, FILES)
    plain = make_loader(dataset, batch_size=4, num_workers=2, seed=7)
    assert plain.sampler.window is None and plain.sampler.shuffle
    windowed = make_loader(dataset, batch_size=4, num_workers=2, seed=7, window=30)
    assert (windowed.sampler.window, windowed.sampler.streams) == (30, 2)
    assert windowed.sampler.stream_block == 4
    assert sorted(windowed.sampler.epoch_indices(0).tolist()) == list(range(sum(LENGTHS)))
    auto = make_loader(dataset, batch_size=4, num_workers=0, window="auto")
    assert auto.sampler.window is None  # 5 files of 2 cameras fit LeRobot's default cache


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"batch_size": 0, "num_workers": 0}, ValueError, "batch_size must be >= 1"),
        ({"batch_size": 4, "num_workers": -1}, ValueError, "num_workers must be >= 0"),
        ({"batch_size": 4, "num_workers": 0, "window": "big"}, ValueError, "'big'"),
        ({"batch_size": 4, "num_workers": 0, "window": 0}, ValueError, "window must be >= 1"),
        ({"batch_size": 4, "num_workers": 0, "shuffle": "yes"}, TypeError, "shuffle"),
        ({"batch_size": 4, "num_workers": 0, "sampler": []}, TypeError, "sets sampler itself"),
        ({"batch_size": 4, "num_workers": 0, "shuffle": True, "batch_sampler": 1}, TypeError,
         "batch_sampler"),
    ],
)  # fmt: skip
def test_bad_arguments_are_refused_naming_them(arguments, error, message):
    with pytest.raises(error, match=message):
        make_loader(v3_dataset(LENGTHS, FILES), **arguments)
