"""Resume under torchdata's `StatefulDataLoader`, consumed as an endless stream.

The training loop re-iterates the loader whenever an iteration ends and never calls `set_epoch`
(LeRobot's `cycle`). A checkpoint is `loader.state_dict()` after any batch or between two
iterations; a fresh sampler and loader loaded with it must yield exactly the rest of the
uninterrupted stream, across epoch boundaries, with worker processes or without.
"""

from __future__ import annotations

import copy

import pytest
from torch.utils.data import Dataset

from episampler import MixtureSampler, WeightedEpisodeSampler
from tests.support import FROM, TO, make

stateful_dataloader = pytest.importorskip("torchdata.stateful_dataloader")
StatefulDataLoader = stateful_dataloader.StatefulDataLoader

KEPT = set(range(0, 22)) | set(range(25, 31))  # the 28 frames of FROM/TO
BATCH_SIZE = 5  # 28 frames: five batches of 5 and an uneven last batch of 3 per epoch
BATCHES_PER_EPOCH = 6
EPOCHS = 3


class FrameDataset(Dataset):
    """Returns the frame index it is asked for, so a batch shows which frames were sampled."""

    def __getitem__(self, index: int) -> int:
        return index

    def __len__(self) -> int:
        return TO[-1]


# The global orders, windowed ones (windows of whole units: episodes 0 and 2 form one) and
# worker-aware streams.
ORDERS = {
    "uniform": {"permutation": "uniform"},
    "feistel": {"permutation": "feistel"},
    "uniform windowed": {"permutation": "uniform", "window": 7, "episode_groups": [0, 1, 0]},
    "feistel windowed": {"permutation": "feistel", "window": 7, "episode_groups": [0, 1, 0]},
    # Worker-aware streams: each of 2 streams takes 4 positions per turn (the batch size).
    "uniform streams": {"permutation": "uniform", "window": 5, "streams": 2, "stream_block": 4},
}


# Samplers of other kinds over the same rows. The mixture draws 22 frames of the first two
# episodes and 6 of the third per epoch (blocks of 14 hold 11 and 3): each epoch covers every
# kept frame once. Weighted draws repeat frames, so their epochs are not permutations.
MIXTURE = "mixture of 2"
WEIGHTED = "weighted"


def make_sampler(order: str):
    if order == MIXTURE:
        first = make(FROM[:2], TO[:2], shuffle=True, seed=11)
        second = make([0], [6], shuffle=True, seed=5, permutation="feistel")
        return MixtureSampler([first, second], [22, 6], offsets=[0, 25], block_size=14, seed=2)
    if order == WEIGHTED:
        return WeightedEpisodeSampler(FROM, TO, [1.0, 2.0, 3.0], 28, seed=11)
    return make(FROM, TO, shuffle=True, seed=11, **ORDERS[order])


@pytest.fixture(params=[*sorted(ORDERS), MIXTURE, WEIGHTED])
def permutation(request) -> str:
    """Overrides the suite's fixture: every order, windowed ones, mixtures and weighted draws
    included."""
    return request.param


def make_loader(permutation: str, num_workers: int, state: dict | None = None):
    sampler = make_sampler(permutation)
    loader = StatefulDataLoader(
        FrameDataset(), batch_size=BATCH_SIZE, sampler=sampler, num_workers=num_workers
    )
    if state is not None:
        loader.load_state_dict(state)
    return loader


def consume(loader, num_batches: int, record_states: bool = False):
    """Read `num_batches` batches, re-iterating the loader when an iteration ends.

    Returns the batches and, if asked, `(batches read so far, loader.state_dict())` after every
    batch and between iterations.
    """
    batches: list[list[int]] = []
    states: list[tuple[int, dict]] = []
    while len(batches) < num_batches:
        for batch in loader:
            batches.append(batch.tolist())
            if record_states:
                states.append((len(batches), copy.deepcopy(loader.state_dict())))
            if len(batches) == num_batches:
                break
        else:
            if record_states:
                states.append((len(batches), copy.deepcopy(loader.state_dict())))
    return batches, states


@pytest.fixture(scope="module", params=[0, 2], ids=lambda n: f"num_workers={n}")
def num_workers(request) -> int:
    return request.param


@pytest.fixture(scope="module")
def uninterrupted(num_workers):
    """The stream and its checkpoints, per permutation, computed once per worker count."""
    runs = {}
    for permutation in [*ORDERS, MIXTURE, WEIGHTED]:
        runs[permutation] = consume(
            make_loader(permutation, num_workers), EPOCHS * BATCHES_PER_EPOCH, record_states=True
        )
    return runs


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_endless_stream_gives_a_new_shuffle_every_epoch(uninterrupted, permutation):
    batches, states = uninterrupted[permutation]
    assert [len(b) for b in batches] == [5, 5, 5, 5, 5, 3] * EPOCHS
    epochs = [[i for batch in batches[e * 6 : (e + 1) * 6] for i in batch] for e in range(EPOCHS)]
    for order in epochs:
        if permutation == WEIGHTED:
            assert set(order) <= KEPT and len(order) == len(KEPT)
        else:
            assert sorted(order) == sorted(KEPT)
    assert len({tuple(order) for order in epochs}) == EPOCHS
    # A checkpoint after every batch plus one between each pair of iterations.
    assert len(states) == EPOCHS * BATCHES_PER_EPOCH + EPOCHS - 1


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_every_checkpoint_resumes_the_exact_rest_of_the_stream(
    uninterrupted, permutation, num_workers
):
    batches, states = uninterrupted[permutation]
    total = len(batches)
    for consumed, state in states:
        if consumed == total:
            continue
        resumed, _ = consume(make_loader(permutation, num_workers, state), total - consumed)
        assert resumed == batches[consumed:], f"checkpoint after {consumed} batches"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_checkpoint_between_iterations_starts_the_next_epoch(uninterrupted, num_workers):
    batches, states = uninterrupted["uniform"]
    between = [state for consumed, state in states if consumed == BATCHES_PER_EPOCH]
    # One after the last batch of epoch 0 and one after the iteration ended.
    assert len(between) == 2
    for state in between:
        resumed, _ = consume(make_loader("uniform", num_workers, state), BATCHES_PER_EPOCH)
        assert resumed == batches[BATCHES_PER_EPOCH : 2 * BATCHES_PER_EPOCH]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_resumed_loader_checkpoints_resume_too(uninterrupted, num_workers):
    """A run resumed from a checkpoint produces checkpoints that resume exactly as well."""
    batches, states = uninterrupted["feistel"]
    consumed, state = states[4]  # inside epoch 0
    loader = make_loader("feistel", num_workers, state)
    second_half, second_states = consume(loader, 8, record_states=True)
    assert second_half == batches[consumed : consumed + 8]
    later, state = second_states[-1]
    resumed, _ = consume(make_loader("feistel", num_workers, state), 3)
    assert resumed == batches[consumed + later : consumed + later + 3]


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("batch_sampler", [False, True], ids=["sampler", "batch_sampler"])
def test_another_num_workers_resumes_through_the_sampler_state(batch_sampler):
    """torchdata restores a snapshot only into a loader with the same `num_workers`; the
    sampler's state taken out of it (`integrations.torchdata.sampler_state`) resumes a loader
    with any `num_workers`."""
    from episampler import EpisodeAwareBatchSampler
    from episampler.integrations.torchdata import sampler_state

    def loader(num_workers, sampler=None):
        sampler = sampler or make_sampler("feistel")
        if batch_sampler:
            batches = EpisodeAwareBatchSampler(sampler, BATCH_SIZE)
            return StatefulDataLoader(FrameDataset(), batch_sampler=batches,
                                      num_workers=num_workers)  # fmt: skip
        return StatefulDataLoader(FrameDataset(), batch_size=BATCH_SIZE, sampler=sampler,
                                  num_workers=num_workers)  # fmt: skip

    batches, _ = consume(loader(2), 4 * BATCHES_PER_EPOCH)
    two_workers = loader(2)
    _, states = consume(two_workers, 8, record_states=True)
    consumed, snapshot = states[-1]
    refusing = loader(1)
    refusing.load_state_dict(snapshot)
    with pytest.raises(AssertionError):
        consume(refusing, 1)
    for num_workers in (0, 1):
        sampler = make_sampler("feistel")
        sampler.load_state_dict(sampler_state(snapshot))
        rest, _ = consume(loader(num_workers, sampler), 6)
        assert rest == batches[consumed : consumed + 6], num_workers
    with pytest.raises(ValueError, match="holds no sampler state"):
        sampler_state({"_sampler_iter_state": None})
    with pytest.raises(TypeError, match="snapshot must be a dict"):
        sampler_state([1, 2])
