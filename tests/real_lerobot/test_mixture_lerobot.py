"""Mixtures and weighted draws over real LeRobot 0.6 datasets (format v3), recorded by LeRobot's
own writer and read through a torch `ConcatDataset` by a real `DataLoader` with worker processes.

Every yielded row is loaded and checked against what was recorded: the dataset it belongs to
(by the offsets of the `ConcatDataset`), its episode and frame, and the kept frames of each
component (a selection, drops). Expectations come from the recordings and from each component's
own sampler, never from the mixture itself.
"""

from __future__ import annotations

import os

import pytest

from tests.real_lerobot.conftest import require_lerobot

require_lerobot("0.6")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"

import numpy as np  # noqa: E402
import torch  # noqa: E402
from lerobot.datasets.lerobot_dataset import LeRobotDataset  # noqa: E402
from torch.utils.data import ConcatDataset, DataLoader  # noqa: E402

from episampler import (  # noqa: E402
    EpisodeAwareSampler,
    MixtureSampler,
    WeightedEpisodeSampler,
    balance_weights,
)
from tests.real_lerobot.record import check_item, record_dataset, row_identities  # noqa: E402

FPS = 10
LENGTHS = {"a": [12, 9, 15, 7], "b": [6, 10, 8]}
SELECTED = {"a": [3, 0, 2], "b": None}  # dataset a: an unsorted selection (rows shift)
FIRST = 1  # drop_n_first_frames of every component
WEIGHTS = [3, 1]
BLOCK = 8
SAMPLES = 40  # not a multiple of either component's size: they cycle through their epochs


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    import datasets as hf_datasets

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(hf_datasets.config, "HF_DATASETS_CACHE", tmp_path_factory.mktemp("hf"))
        loaded = []
        for name in ("a", "b"):
            repo_id = f"episampler/mix-{name}"
            root = record_dataset(
                tmp_path_factory.mktemp(name), repo_id, LENGTHS[name], video=False, fps=FPS
            )
            loaded.append(LeRobotDataset(repo_id, root=root, episodes=SELECTED[name]))
        yield loaded


def make_mixture(datasets, **kwargs):
    return MixtureSampler.from_lerobot(
        ConcatDataset(datasets),
        WEIGHTS,
        component_options={"drop_n_first_frames": FIRST, "seed": 5},
        block_size=BLOCK,
        samples_per_epoch=SAMPLES,
        seed=11,
        **kwargs,
    )


def components(datasets):
    return [
        EpisodeAwareSampler.from_lerobot(d, shuffle=True, drop_n_first_frames=FIRST, seed=5)
        for d in datasets
    ]


def identify(datasets, value: int) -> tuple[int, int, int]:
    """(dataset, recorded episode, recorded frame) of a row of the concatenation."""
    sizes = [len(d) for d in datasets]
    c = 0 if value < sizes[0] else 1
    episodes, frames = row_identities(datasets[c])
    row = value - (0 if c == 0 else sizes[0])
    return c, int(episodes[row]), int(frames[row])


def test_rows_are_kept_frames_of_the_right_dataset_in_exact_block_proportions(datasets):
    sampler = make_mixture(datasets)
    assert sampler.offsets == (0, len(datasets[0]))
    assert sampler.block_counts == (6, 2)
    allowed = [set(SELECTED["a"]), set(range(len(LENGTHS["b"])))]
    for epoch in range(3):
        order = sampler.epoch_indices(epoch).tolist()
        assert len(order) == SAMPLES
        owners = []
        for value in order:
            c, episode, frame = identify(datasets, value)
            assert episode in allowed[c] and frame >= FIRST, (c, episode, frame)
            owners.append(c)
        for start in range(0, SAMPLES, BLOCK):
            assert owners[start : start + BLOCK].count(0) == 6


def test_each_dataset_is_read_through_its_own_sampler_epochs(datasets):
    sampler = make_mixture(datasets)
    parts = components(datasets)
    offsets = sampler.offsets
    draws: list[list[int]] = [[], []]
    for epoch in range(4):
        for value in sampler.epoch_indices(epoch).tolist():
            c = 0 if value < offsets[1] else 1
            draws[c].append(value - offsets[c])
    for c, part in enumerate(parts):
        n = part.num_frames
        expected = np.concatenate([part.epoch_indices(e) for e in range(len(draws[c]) // n + 1)])
        assert draws[c] == expected[: len(draws[c])].tolist()


def test_a_list_of_datasets_gives_the_same_mixture_as_its_concat_dataset(datasets):
    from_list = MixtureSampler.from_lerobot(
        datasets, WEIGHTS, component_options={"drop_n_first_frames": FIRST, "seed": 5},
        block_size=BLOCK, samples_per_epoch=SAMPLES, seed=11,
    )  # fmt: skip
    assert from_list.state_dict() == make_mixture(datasets).state_dict()
    assert from_list.epoch_indices(2).tolist() == make_mixture(datasets).epoch_indices(2).tolist()


def test_dataloader_workers_load_the_rows_the_mixture_names_and_resume_exactly(datasets):
    data = ConcatDataset(datasets)
    sampler = make_mixture(datasets)
    loader = DataLoader(data, batch_size=4, sampler=sampler, num_workers=2)
    lengths = {0: LENGTHS["a"], 1: LENGTHS["b"]}
    stream = []
    for _ in range(2):
        order = sampler.epoch_indices().tolist()
        got = []
        for batch in loader:
            for row in range(len(batch["index"])):
                item = {key: batch[key][row] for key in batch if key != "task"}
                value = order[len(got)]
                c, episode, frame = identify(datasets, value)
                assert check_item(item, lengths=lengths[c], fps=FPS) == (episode, frame)
                got.append(value)
        assert got == order
        stream += got
    # Stop after 3 batches of epoch 1 and resume in a fresh sampler and loader.
    sampler = make_mixture(datasets)
    sampler.set_epoch(1)
    taken = []
    for batch in DataLoader(data, batch_size=4, sampler=sampler, num_workers=0):
        taken += batch["index"].tolist()
        if len(taken) == 12:
            break
    state = sampler.state_dict()
    assert (state["epoch"], state["start_index"]) == (1, 12)
    resumed = make_mixture(datasets)
    resumed.load_state_dict(state)
    rest = [v for b in DataLoader(data, batch_size=4, sampler=resumed) for v in b["index"]]
    expected = stream[SAMPLES + 12 :]
    assert len(rest) == len(expected)
    for value, got_index in zip(expected, rest, strict=True):
        c = 0 if value < len(datasets[0]) else 1
        row = value - (0 if c == 0 else len(datasets[0]))
        assert int(got_index) == int(datasets[c].hf_dataset[row]["index"])


def test_balance_weights_reads_dataset_sizes(datasets):
    assert balance_weights(datasets) == [float(len(d)) for d in datasets]
    sampler = MixtureSampler.from_lerobot(datasets, balance_weights(datasets), block_size=64)
    counts = sampler.block_counts
    share = len(datasets[0]) / sum(len(d) for d in datasets)
    assert abs(counts[0] / 64 - share) <= 1 / 64


def test_weighted_draws_over_a_selection_yield_its_rows(datasets):
    dataset = datasets[0]  # episodes 0, 2, 3 selected out of 4
    weights = [1.0, 100.0, 0.0, 3.0]  # per episode of meta.episodes; 1 is not selected
    sampler = WeightedEpisodeSampler.from_lerobot(dataset, weights, 4000, seed=2)
    draws = sampler.epoch_indices(0)
    episodes, frames = row_identities(dataset)
    drawn = episodes[draws]
    assert set(drawn.tolist()) == {0, 3}
    assert abs((drawn == 0).mean() - 0.25) < 0.03
    loader = DataLoader(dataset, batch_size=16, sampler=sampler, num_workers=2)
    first = next(iter(loader))
    for row in range(16):
        item = {key: first[key][row] for key in first if key != "task"}
        value = int(draws[row])
        assert check_item(item, lengths=LENGTHS["a"], fps=FPS) == (
            int(episodes[value]),
            int(frames[value]),
        )
    assert torch.equal(first["index"], torch.tensor(dataset.hf_dataset["index"])[draws[:16]])
