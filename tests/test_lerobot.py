"""from_lerobot: LeRobot v3 and v2.x dataset shapes, duck-typed with stand-in objects."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from episampler import EpisodeAwareSampler

from .support import make

# Four episodes, listed out of frame order in the table (ids 0..3).
FROM = [0, 30, 12, 50]
TO = [12, 50, 30, 57]


def episodes_table(kind: str, with_ids: bool = True):
    columns = {"dataset_from_index": FROM, "dataset_to_index": TO}
    if with_ids:
        columns["episode_index"] = [0, 1, 2, 3]
    if kind == "datasets":
        datasets = pytest.importorskip("datasets")
        return datasets.Dataset.from_dict(columns)
    return {name: np.asarray(values) for name, values in columns.items()}


def v3_dataset(selection=None, kind="datasets", with_ids=True):
    return SimpleNamespace(meta=SimpleNamespace(episodes=episodes_table(kind, with_ids)),
                           episodes=selection)  # fmt: skip


def filtered_rows(selection):
    """The rows of a filtered v3 dataset, as LeRobot builds `_absolute_to_relative_idx`: the
    selected episodes' frames in ascending order, numbered from 0."""
    frames = sorted(f for e in set(selection) for f in range(FROM[e], TO[e]))
    return {frame: row for row, frame in enumerate(frames)}


@pytest.mark.parametrize("kind", ["datasets", "arrays"])
def test_v3_whole_dataset(kind, permutation):
    sampler = EpisodeAwareSampler.from_lerobot(
        v3_dataset(kind=kind), shuffle=True, seed=2, permutation=permutation
    )
    reference = make(FROM, TO, shuffle=True, seed=2, permutation=permutation)
    assert list(sampler) == list(reference)
    assert sampler.state_dict() == reference.state_dict()


@pytest.mark.parametrize("selection", [[1, 3], [3, 1, 1], [2], [0, 1, 2, 3]])
@pytest.mark.parametrize("with_ids", [True, False])
def test_v3_filtered_dataset_yields_relative_rows(selection, with_ids, permutation):
    dataset = v3_dataset(selection, with_ids=with_ids)
    kwargs = dict(drop_n_first_frames=1, drop_n_last_frames=2, shuffle=True, seed=9,
                  permutation=permutation)  # fmt: skip
    sampler = EpisodeAwareSampler.from_lerobot(dataset, **kwargs)
    reference = make(FROM, TO, selection, absolute_to_relative_idx=filtered_rows(selection),
                     **kwargs)  # fmt: skip
    assert list(sampler) == list(reference)
    assert sampler.state_dict()["fingerprint"] == reference.state_dict()["fingerprint"]
    rows = sampler.epoch_indices()
    assert rows.min() >= 0 and rows.max() < sum(TO[e] - FROM[e] for e in set(selection))


def test_v3_rows_are_shifts_not_a_per_frame_map():
    sampler = EpisodeAwareSampler.from_lerobot(v3_dataset([1, 3]))
    # Episode 1 (frames 30..49) becomes rows 0..19, episode 3 (50..56) rows 20..26.
    assert list(sampler) == list(range(27))
    assert sampler._config["remap"][0] == "episode_shifts"


def test_v3_with_episode_ids_not_in_table_order():
    table = {"dataset_from_index": [30, 0], "dataset_to_index": [50, 12], "episode_index": [7, 4]}
    dataset = SimpleNamespace(meta=SimpleNamespace(episodes=table), episodes=[7])
    assert list(EpisodeAwareSampler.from_lerobot(dataset)) == list(range(20))
    dataset.episodes = [5]
    with pytest.raises(ValueError, match=r"dataset\.episodes names episode 5"):
        EpisodeAwareSampler.from_lerobot(dataset)


def test_v2_episode_data_index():
    # v2.x keeps boundaries of the loaded episodes in dataset rows already.
    dataset = SimpleNamespace(
        episode_data_index={"from": torch.tensor([0, 12, 30]), "to": torch.tensor([12, 30, 37])}
    )
    sampler = EpisodeAwareSampler.from_lerobot(dataset, drop_n_last_frames=1, shuffle=True)
    assert sorted(sampler) == [f for s, e in [(0, 11), (12, 29), (30, 36)] for f in range(s, e)]


def test_from_lerobot_rejects_other_objects_and_derived_arguments():
    with pytest.raises(TypeError, match="LeRobot dataset"):
        EpisodeAwareSampler.from_lerobot(object())
    with pytest.raises(TypeError, match="derives episode_indices_to_use"):
        EpisodeAwareSampler.from_lerobot(v3_dataset([1]), episode_indices_to_use=[0])


def test_from_lerobot_pickles(permutation):
    import pickle

    sampler = EpisodeAwareSampler.from_lerobot(v3_dataset([1, 3]), shuffle=True,
                                               permutation=permutation)  # fmt: skip
    assert list(pickle.loads(pickle.dumps(sampler))) == list(sampler)


def test_the_earlier_import_paths_are_the_lerobot_packages_own_objects():
    # `episampler.integrations.lerobot` and `episampler._lerobot` were the homes of what is now
    # `episampler.lerobot`: their names still import, as the very same objects (a monkeypatch
    # through either path reaches the code that runs).
    import importlib

    import episampler._lerobot as earlier_layout
    import episampler.integrations.lerobot as earlier
    import episampler.lerobot as lerobot
    from episampler.lerobot import auto_window, layout

    for name in earlier.__all__:
        assert getattr(earlier, name) is getattr(lerobot, name), name
    for old, new in [("_options", "options"), ("_versions", "versions"), ("fetch", "fetch"),
                     ("datasets", "datasets")]:  # fmt: skip
        module = importlib.import_module(f"episampler.integrations.lerobot.{old}")
        assert module is importlib.import_module(f"episampler.lerobot.{new}"), old
    for name in earlier_layout.__all__:
        assert getattr(earlier_layout, name) is (
            getattr(auto_window, name, None) or getattr(layout, name)
        ), name
