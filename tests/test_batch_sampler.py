"""EpisodeAwareBatchSampler: torch BatchSampler's batches built in Rust; the sampler's state."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from torch.utils.data import BatchSampler, DataLoader, Dataset

from episampler import EpisodeAwareBatchSampler, EpisodeAwareSampler

from .support import FROM, TO, make


def batches(batch_sampler, count):
    """`count` batches of a loop that re-iterates the batch sampler when an epoch ends."""
    seen = []
    while len(seen) < count:
        for batch in batch_sampler:
            seen.append(batch)
            if len(seen) == count:
                break
    return seen


@pytest.mark.parametrize("batch_size", [1, 3, 5, 7, 28, 40])
@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("world", [1, 2])
def test_same_batches_as_torch_batch_sampler_over_epochs(permutation, batch_size, drop_last, world):
    def sampler():
        return make(
            shuffle=True, seed=4, permutation=permutation, num_replicas=world, rank=world - 1
        )

    ours = EpisodeAwareBatchSampler(sampler(), batch_size, drop_last=drop_last)
    reference = BatchSampler(sampler(), batch_size, drop_last)
    assert len(ours) == len(reference)
    count = 3 * max(len(reference), 1)
    if len(reference) == 0:
        assert list(ours) == list(reference) == []
        return
    expected = batches(reference, count)
    assert batches(ours, count) == expected
    assert all(type(i) is int for batch in expected for i in batch)


def endless(batch_sampler):
    while True:
        yield from batch_sampler


def test_batches_are_lists_of_python_ints():
    batch = next(iter(EpisodeAwareBatchSampler(make(shuffle=True), 4)))
    assert type(batch) is list and all(type(i) is int for i in batch)


@pytest.mark.parametrize("drop_last", [False, True])
def test_state_after_every_batch_resumes_the_rest(permutation, drop_last):
    def batch_sampler():
        sampler = make(shuffle=True, seed=9, permutation=permutation)
        return EpisodeAwareBatchSampler(sampler, 5, drop_last=drop_last)

    uninterrupted = batch_sampler()
    total = 3 * len(uninterrupted)
    expected = batches(uninterrupted, total)
    running = batch_sampler()
    stream = endless(running)
    for done in range(total):
        state = running.state_dict()
        resumed = batch_sampler()
        resumed.load_state_dict(state)
        assert batches(resumed, total - done) == expected[done:], done
        assert next(stream) == expected[done]


def test_drop_last_ends_the_epoch_with_the_last_full_batch():
    sampler = make(shuffle=True)  # 28 frames: 5 full batches of 5, 3 left over
    batch_sampler = EpisodeAwareBatchSampler(sampler, 5, drop_last=True)
    iterator = iter(batch_sampler)
    for _ in range(4):
        next(iterator)
    assert batch_sampler.state_dict()["epoch"] == 0
    next(iterator)
    state = batch_sampler.state_dict()
    assert (state["epoch"], state["start_index"]) == (1, 0)
    with pytest.raises(StopIteration):
        next(iterator)


def test_batch_sampler_state_is_the_sampler_state():
    sampler = make(shuffle=True)
    batch_sampler = EpisodeAwareBatchSampler(sampler, 4)
    iterator = iter(batch_sampler)
    next(iterator), next(iterator)
    assert batch_sampler.state_dict() == sampler.state_dict()
    assert sampler.state_dict()["start_index"] == 8
    batch_sampler.set_epoch(5)
    assert sampler.epoch == 5


class Frames(Dataset):
    def __getitem__(self, index: int) -> int:
        return index

    def __len__(self) -> int:
        return TO[-1]


@pytest.mark.slow
def test_dataloader_with_workers_sees_the_same_batches(permutation):
    def loader(num_workers):
        sampler = make(shuffle=True, seed=2, permutation=permutation)
        return DataLoader(
            Frames(),
            batch_sampler=EpisodeAwareBatchSampler(sampler, 6),
            num_workers=num_workers,
        )

    streams = [[b.tolist() for b in loader(n)] for n in (0, 2)]
    assert streams[0] == streams[1]
    assert sorted(i for batch in streams[0] for i in batch) == sorted(
        i for e in range(3) for i in range(FROM[e], TO[e])
    )


def test_stateful_dataloader_resumes_a_batch_sampler_exactly():
    stateful_dataloader = pytest.importorskip("torchdata.stateful_dataloader")

    def loader(state=None):
        sampler = make(shuffle=True, seed=3, permutation="feistel")
        dl = stateful_dataloader.StatefulDataLoader(
            Frames(), batch_sampler=EpisodeAwareBatchSampler(sampler, 4)
        )
        if state is not None:
            dl.load_state_dict(state)
        return dl

    running = loader()
    expected = [b.tolist() for b in batches(running, 20)]
    running = loader()
    consumed = [b.tolist() for b in batches(running, 9)]
    state = running.state_dict()
    rest = [b.tolist() for b in batches(loader(state), 11)]
    assert consumed + rest == expected


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"batch_size": 0}, ValueError, r"batch_size must be >= 1, got 0"),
        ({"batch_size": -3}, ValueError, "batch_size"),
        ({"batch_size": 2.5}, TypeError, "batch_size"),
        ({"batch_size": True}, TypeError, "batch_size"),
        ({"batch_size": 4, "drop_last": "yes"}, TypeError, "drop_last"),
    ],
)
def test_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        EpisodeAwareBatchSampler(make(), **kwargs)


def test_sampler_must_be_an_episode_aware_sampler():
    expected = "sampler must be an EpisodeAwareSampler, MixtureSampler or WeightedEpisodeSampler"
    with pytest.raises(TypeError, match=f"{expected}, got list"):
        EpisodeAwareBatchSampler(list(range(10)), 2)


def test_repr_and_attributes_like_torch_batch_sampler():
    sampler = make()
    batch_sampler = EpisodeAwareBatchSampler(sampler, 8, drop_last=True)
    assert batch_sampler.sampler is sampler
    assert (batch_sampler.batch_size, batch_sampler.drop_last) == (8, True)
    assert repr(batch_sampler).startswith("EpisodeAwareBatchSampler(EpisodeAwareSampler(")


def test_item_state_is_exact_across_chunk_boundaries(permutation):
    # Items come in Rust-built chunks of 64, 128, 256, ...: the state must count what the
    # consumer took, not what was built, at and around every chunk boundary.
    sampler = EpisodeAwareSampler(
        np.arange(0, 5000, 50), np.arange(40, 5001, 50), shuffle=True, permutation=permutation
    )
    full = sampler.epoch_indices().tolist()
    for taken in [0, 1, 63, 64, 65, 191, 192, 193, 447, 448, 449, 1000, len(full) - 1]:
        iterator = iter(sampler)
        assert list(itertools.islice(iterator, taken)) == full[:taken]
        state = sampler.state_dict()
        assert state["start_index"] == taken
        resumed = EpisodeAwareSampler(
            np.arange(0, 5000, 50), np.arange(40, 5001, 50), shuffle=True, permutation=permutation
        )
        resumed.load_state_dict(state)
        assert list(resumed) == full[taken:]


def test_passed_as_a_dataloaders_sampler_it_is_refused_with_the_fix():
    from torch.utils.data import DataLoader

    batches = EpisodeAwareBatchSampler(EpisodeAwareSampler([0], [10], shuffle=True), 4)
    with pytest.raises(TypeError, match="pass it to the DataLoader as batch_sampler="):
        next(iter(DataLoader(list(range(10)), sampler=batches)))
    assert next(iter(DataLoader(list(range(10)), batch_sampler=batches))).tolist() == next(
        iter(batches)
    )
