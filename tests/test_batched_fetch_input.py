"""`BatchedFetch` refuses what it cannot read before touching LeRobot (duck-typed stand-ins;
the items themselves are checked against real LeRobot in tests/real_lerobot)."""

from __future__ import annotations

import importlib.metadata
import re
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from episampler.lerobot import BatchedFetch
from episampler.lerobot import fetch as fetch_module


def v3_like(**extra):
    episodes = SimpleNamespace(column_names=["episode_index", "dataset_from_index"])
    return SimpleNamespace(meta=SimpleNamespace(episodes=episodes), **extra)


def test_what_is_not_a_lerobot_dataset_is_a_type_error():
    with pytest.raises(TypeError, match=r"dataset must be a LeRobotDataset .* got list"):
        BatchedFetch([1, 2, 3])


def test_a_v2_dataset_is_a_type_error_naming_the_layout():
    v21 = SimpleNamespace(
        meta=SimpleNamespace(episodes={0: {"episode_index": 0, "tasks": ["t"], "length": 3}}),
        episode_data_index={"from": [0], "to": [3]},
    )
    with pytest.raises(TypeError, match=r"older v2\.x layout"):
        BatchedFetch(v21)


def test_a_dataset_being_recorded_is_a_value_error():
    with pytest.raises(ValueError, match=r"still being recorded: call dataset\.finalize\(\)"):
        BatchedFetch(v3_like(writer=object(), _is_finalized=False))


def test_lerobot_missing_or_untested_is_a_runtime_error_naming_what_is_supported(monkeypatch):
    supported = re.escape(", ".join(fetch_module.FETCH_TESTED_VERSIONS))

    def version(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", version)
    with pytest.raises(RuntimeError, match=f"needs LeRobot \\({supported}\\)"):
        BatchedFetch(v3_like())
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "0.5.0")
    with pytest.raises(RuntimeError, match=rf"supports lerobot {supported}, not 0\.5\.0"):
        BatchedFetch(v3_like())


@pytest.mark.parametrize(
    "mask",
    [
        torch.tensor([True, False]),
        np.array([True, False]),
    ],
    ids=["tensor", "array"],
)
def test_a_boolean_mask_is_not_a_list_of_rows(mask):
    # Checked before LeRobot is touched: a wrapper around a plain list of rows is enough.
    fetch = object.__new__(BatchedFetch)
    fetch._dataset = ["row 0", "row 1", "row 2"]
    with pytest.raises(TypeError, match=r"^indices must be ints, got a \w+ of bools \(a mask\)"):
        fetch.__getitems__(mask)
    # One boolean among ints, whatever its type, is not row 0 or 1 either.
    for flag in (True, torch.tensor(True), torch.tensor([False])):
        with pytest.raises(TypeError, match=r"^indices must be ints, got"):
            fetch.__getitems__([2, flag])
