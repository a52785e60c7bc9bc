"""resume_from_step(loader, step): any loader whose sampler or batch sampler is episampler's
continues exactly where an uninterrupted run was after `step` optimiser steps, with the batch
size, drop_last and processes read from the loader (never retyped); a state computed for
another geometry is refused, naming it."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset

from episampler import (
    EpisodeAwareBatchSampler,
    EpisodeAwareSampler,
    MixtureSampler,
    compute_sampler_state,
    resume_from_step,
)

STARTS, ENDS = [0, 7, 20, 26], [7, 20, 26, 37]  # 37 frames in 4 episodes


class Rows(Dataset[int]):
    def __len__(self) -> int:
        return ENDS[-1]

    def __getitem__(self, index: int) -> int:
        return index


def sampler(**kwargs) -> EpisodeAwareSampler:
    return EpisodeAwareSampler(STARTS, ENDS, shuffle=True, seed=5, **kwargs)


def steps_of(loader, count: int, accumulation: int) -> list[list[list[int]]]:
    """The batches of each optimiser step of an uninterrupted run: a step every `accumulation`
    batches and one at the end of every epoch (each pass over the loader is an epoch)."""
    steps: list[list[list[int]]] = []
    while len(steps) < count:
        batches = [batch.tolist() for batch in loader]
        for i in range(0, len(batches), accumulation):
            steps.append(batches[i : i + accumulation])
    return steps[:count]


def make_loader(kind: str, sampler_, batch_size: int, drop_last: bool, num_workers: int = 0):
    if kind == "sampler":
        return DataLoader(Rows(), sampler=sampler_, batch_size=batch_size, drop_last=drop_last,
                          num_workers=num_workers)  # fmt: skip
    if kind == "batch_sampler":
        batches = EpisodeAwareBatchSampler(sampler_, batch_size, drop_last)
        return DataLoader(Rows(), batch_sampler=batches, num_workers=num_workers)
    if kind == "torch_batch_sampler":
        batches = BatchSampler(sampler_, batch_size, drop_last)
        return DataLoader(Rows(), batch_sampler=batches, num_workers=num_workers)
    from torchdata.stateful_dataloader import StatefulDataLoader

    return StatefulDataLoader(Rows(), sampler=sampler_, batch_size=batch_size,
                              drop_last=drop_last, num_workers=num_workers)  # fmt: skip


@pytest.mark.parametrize("kind", ["sampler", "batch_sampler", "torch_batch_sampler", "stateful"])
@pytest.mark.parametrize(("batch_size", "drop_last", "accumulation"),
                         [(4, False, 1), (4, True, 1), (5, True, 2), (6, False, 3)])  # fmt: skip
def test_every_resume_point_continues_the_uninterrupted_run(kind, batch_size, drop_last,
                                                            accumulation):  # fmt: skip
    total = 30
    reference = steps_of(make_loader(kind, sampler(), batch_size, drop_last), total, accumulation)
    for step in range(total - 3):
        loader = make_loader(kind, sampler(), batch_size, drop_last)
        state = resume_from_step(loader, step, gradient_accumulation_steps=accumulation)
        assert (state["batch_size"], state["drop_last"]) == (batch_size, drop_last)
        resumed = steps_of(loader, 3, accumulation)
        assert resumed == reference[step : step + 3], (step, state)


@pytest.mark.slow
def test_worker_processes_resume_exactly():
    reference = steps_of(make_loader("sampler", sampler(), 4, True, num_workers=2), 20, 1)
    for step in (0, 3, 8, 9, 15):
        loader = make_loader("sampler", sampler(), 4, True, num_workers=2)
        resume_from_step(loader, step)
        assert steps_of(loader, 3, 1) == reference[step : step + 3], step


@pytest.mark.parametrize("drop_last", [False, True])
def test_processes_sharding_the_sampler_each_resume_their_own_part(drop_last):
    # Two processes, each with its own rank's sampler and loader; the same step on both.
    def loader(rank: int) -> DataLoader:
        return make_loader("sampler", sampler(num_replicas=2, rank=rank), 3, drop_last)

    references = [steps_of(loader(rank), 24, 1) for rank in (0, 1)]
    for step in range(20):
        for rank in (0, 1):
            resumed_loader = loader(rank)
            state = resume_from_step(resumed_loader, step)
            assert state["num_processes"] == 2
            assert steps_of(resumed_loader, 3, 1) == references[rank][step : step + 3]


def test_a_mixture_resumes_through_its_loader():
    parts = [EpisodeAwareSampler([0], [10], shuffle=True), EpisodeAwareSampler([0], [6], seed=1)]
    mix = MixtureSampler(parts, [2, 1], offsets=[0, 10], block_size=6, samples_per_epoch=25)
    reference = steps_of(make_loader("sampler", mix, 4, False), 20, 1)
    for step in range(17):
        again = MixtureSampler(parts, [2, 1], offsets=[0, 10], block_size=6,
                               samples_per_epoch=25)  # fmt: skip
        loader = make_loader("sampler", again, 4, False)
        resume_from_step(loader, step)
        assert steps_of(loader, 3, 1) == reference[step : step + 3]


def test_a_loader_without_an_episampler_sampler_is_refused_naming_what_it_draws_from():
    with pytest.raises(TypeError, match="draws from RandomSampler"):
        resume_from_step(DataLoader(Rows(), shuffle=True, batch_size=4), 3)
    with pytest.raises(TypeError, match="draws from SequentialSampler"):
        resume_from_step(DataLoader(Rows(), batch_size=4), 3)
    batches = EpisodeAwareBatchSampler(sampler(), 4)
    with pytest.raises(TypeError, match="pass it as batch_sampler="):
        resume_from_step(DataLoader(Rows(), sampler=batches, batch_size=None), 3)


def test_a_state_computed_for_another_epoch_length_is_refused_naming_both():
    # `len(dataset)` passed for num_frames: 37 rows, but drops leave 29 frames per epoch.
    dropping = sampler(drop_n_last_frames=2)
    assert dropping.num_frames == 29
    state = compute_sampler_state(9, 37, 4, 1)
    with pytest.raises(ValueError, match="num_frames is 37 in the state but 29 here"):
        dropping.load_state_dict(state)
    parts = [EpisodeAwareSampler([0], [10]), EpisodeAwareSampler([0], [6])]
    mix = MixtureSampler(parts, [1, 1], offsets=[0, 10], block_size=2)
    with pytest.raises(ValueError, match=r"computed for num_frames=37 .* epoch has 16"):
        mix.load_state_dict(state)
    # LeRobot's own state (only the resume point) still loads; so does the right geometry.
    dropping.load_state_dict({"epoch": 1, "start_index": 4})
    dropping.load_state_dict(compute_sampler_state(9, 29, 4, 1))
    assert dropping.epoch == 1


def test_the_loaded_state_equals_compute_sampler_state_on_the_loaders_geometry():
    for step, (batch_size, drop_last) in itertools.product(
        range(0, 40, 7), [(4, True), (5, False)]
    ):
        loader = make_loader("sampler", sampler(), batch_size, drop_last)
        state = resume_from_step(loader, step)
        expected = compute_sampler_state(step, 37, batch_size, 1, drop_last=drop_last)
        assert state == expected
        assert loader.sampler.state_dict()["start_index"] == expected["start_index"]
        assert torch.is_tensor(next(iter(loader)))
