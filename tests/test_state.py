"""Epochs, iteration, state_dict / load_state_dict, pickling: the resume contract."""

from __future__ import annotations

import copy
import itertools
import json
import pickle
import warnings

import pytest
from torch.utils.data import DataLoader

from episampler import ALGORITHM_VERSION, EpisodeAwareBatchSampler, EpisodeAwareSampler

from .support import FROM, TO, make


def take(iterator, count):
    return list(itertools.islice(iterator, count))


def test_creating_iterators_has_no_side_effect(permutation):
    sampler = make(shuffle=True, permutation=permutation)
    first, second = iter(sampler), iter(sampler)
    assert list(first) == list(second)


def test_exhaustion_advances_the_epoch(permutation):
    sampler = make(shuffle=True, seed=1, permutation=permutation)
    epochs = [list(sampler) for _ in range(3)]
    assert epochs == [sampler.epoch_indices(e).tolist() for e in range(3)]
    assert len({tuple(e) for e in epochs}) == 3
    assert sampler.state_dict()["epoch"] == 3
    assert sampler.epoch == 3


def test_yielding_the_last_index_ends_the_epoch_at_once():
    sampler = make(shuffle=True)
    iterator = iter(sampler)
    take(iterator, len(sampler) - 1)
    assert sampler.state_dict()["epoch"] == 0
    next(iterator)  # the last index; no StopIteration seen yet
    state = sampler.state_dict()
    assert (state["epoch"], state["start_index"]) == (1, 0)
    assert list(sampler) == sampler.epoch_indices(1).tolist()


def test_an_iterator_with_nothing_left_ends_the_epoch_when_it_stops():
    sampler = make(shuffle=True)
    sampler.load_state_dict({"epoch": 2, "start_index": sampler.num_frames})
    assert sampler.state_dict()["epoch"] == 2
    assert list(sampler) == []
    assert (sampler.state_dict()["epoch"], sampler.state_dict()["start_index"]) == (3, 0)
    assert list(sampler) == sampler.epoch_indices(3).tolist()


def test_an_abandoned_iterator_leaves_the_resume_point():
    sampler = make(shuffle=True)
    full = sampler.epoch_indices().tolist()
    iterator = iter(sampler)
    assert take(iterator, 5) == full[:5]
    # The state describes the most recent iterator...
    assert sampler.state_dict()["start_index"] == 5
    # ...but a new iterator starts from the resume point, which did not move.
    assert list(sampler) == full
    assert sampler.state_dict()["epoch"] == 1


def test_set_epoch_is_idempotent_and_resets_otherwise():
    sampler = make(shuffle=True)
    sampler.load_state_dict({"epoch": 3, "start_index": 7})
    sampler.set_epoch(3)
    assert (sampler.state_dict()["epoch"], sampler.state_dict()["start_index"]) == (3, 7)
    assert list(sampler) == sampler.epoch_indices(3).tolist()[7:]
    sampler.set_epoch(5)
    assert (sampler.state_dict()["epoch"], sampler.state_dict()["start_index"]) == (5, 0)
    assert list(sampler) == sampler.epoch_indices(5).tolist()


def test_set_epoch_rejects_bad_epochs():
    sampler = make()
    with pytest.raises(ValueError, match="epoch must be >= 0, got -1"):
        sampler.set_epoch(-1)
    with pytest.raises(TypeError, match="epoch"):
        sampler.set_epoch("1")


def test_state_dict_is_a_fresh_plain_json_dict():
    sampler = make(shuffle=True, seed=2**64 - 1, permutation="feistel")
    state = sampler.state_dict()
    assert set(state) == {
        "epoch",
        "start_index",
        "sampler",
        "seed",
        "num_frames",
        "permutation",
        "fingerprint",
        "algorithm_version",
        "settings",
    }
    settings = state.pop("settings")
    assert all(type(v) in (int, str) for v in state.values())
    assert all(v is None or type(v) in (bool, int, str) for v in settings.values())
    state["settings"] = settings
    assert json.loads(json.dumps(state)) == state
    assert state["algorithm_version"] == ALGORITHM_VERSION
    state["epoch"] = 99
    assert sampler.state_dict()["epoch"] == 0


@pytest.mark.parametrize("world", [1, 2, 3])
@pytest.mark.parametrize("drop_last", [False, True])
def test_resume_at_every_position_equals_the_uninterrupted_order(permutation, world, drop_last):
    kwargs = dict(
        shuffle=True, seed=4, permutation=permutation, num_replicas=world, drop_last=drop_last
    )
    for epoch in (0, 1):
        full = {r: make(rank=r, **kwargs).epoch_indices(epoch).tolist() for r in range(world)}
        following = {
            r: make(rank=r, **kwargs).epoch_indices(epoch + 1).tolist() for r in range(world)
        }
        for k in range(len(full[0]) + 1):
            states = []
            for rank in range(world):
                sampler = make(rank=rank, **kwargs)
                sampler.set_epoch(epoch)
                take(iter(sampler), k)
                states.append(sampler.state_dict())
            # Ranks in lockstep describe their progress with the same dict.
            assert all(state == states[0] for state in states)
            for rank in range(world):
                resumed = make(rank=rank, **kwargs)
                resumed.load_state_dict(states[0])
                # The rest of the epoch; a finished epoch's state resumes into the next one.
                expected = full[rank][k:] if k < len(full[0]) else following[rank]
                assert list(resumed) == expected, (epoch, k, rank)
            # Once done with the epoch, the next one follows from position 0.
            expected_next = (epoch + 1, 0) if k == len(full[0]) else (epoch, k * world)
            assert (states[0]["epoch"], states[0]["start_index"]) == expected_next


def test_len_is_the_full_epoch_even_when_resuming():
    assert len(make()) == 28
    assert len(make(num_replicas=3)) == 10
    assert len(make(num_replicas=3, drop_last=True)) == 9
    sampler = make(num_replicas=3)
    sampler.load_state_dict({"epoch": 0, "start_index": 12})
    assert len(sampler) == 10
    assert len(list(iter(sampler))) == 6


def test_load_state_dict_accepts_lerobot_and_compute_sampler_state_dicts():
    sampler = make(shuffle=True)
    sampler.load_state_dict({"epoch": 2, "start_index": 3})
    assert list(sampler) == make(shuffle=True).epoch_indices(2).tolist()[3:]


def test_a_state_saved_on_rank_zero_loads_on_every_rank_and_world_size():
    state = make(shuffle=True, num_replicas=2, rank=0).state_dict()
    for world in (1, 2, 3, 8):
        for rank in range(world):
            make(shuffle=True, num_replicas=world, rank=rank).load_state_dict(state)
    assert (
        make(shuffle=True, num_replicas=4, drop_last=True).state_dict()["fingerprint"]
        == (state["fingerprint"])
    )


@pytest.mark.parametrize(
    ("other", "what"),
    [
        (dict(shuffle=True, seed=1), "seed is 1 in the state but 0 here"),
        (dict(args=(FROM, [10, 22, 30]), shuffle=True), "num_frames is 27 in the state but 28"),
        (dict(args=([0, 10, 24], [10, 22, 30]), shuffle=True), "fingerprint is"),
        (dict(shuffle=False), "fingerprint is"),
        (dict(shuffle=True, permutation="feistel"), "permutation is 'feistel'"),
        (dict(shuffle=True, absolute_to_relative_idx=list(range(1, 40))), "fingerprint is"),
    ],
)
def test_load_state_dict_refuses_another_samplers_state(other, what):
    args = other.pop("args", (FROM, TO))
    state = make(*args, **other).state_dict()
    with pytest.raises(ValueError, match=f"different sampler: .*{what}"):
        make(shuffle=True).load_state_dict(state)


@pytest.mark.parametrize("version", [1, ALGORITHM_VERSION + 1])
def test_load_state_dict_refuses_another_algorithm_version(version):
    # Version 1's "uniform" order differs: its checkpoints must not resume into version 2's.
    state = make(shuffle=True).state_dict() | {"algorithm_version": version}
    message = f"algorithm_version is {version} in the state but {ALGORITHM_VERSION} here"
    with pytest.raises(ValueError, match=message):
        make(shuffle=True).load_state_dict(state)


@pytest.mark.parametrize(
    ("state", "error", "message"),
    [
        ({"epoch": 0, "start_index": 29}, ValueError, r"start_index'\] must be in \[0, 29\)"),
        ({"epoch": 0, "start_index": -1}, ValueError, "start_index"),
        ({"epoch": -1, "start_index": 0}, ValueError, r"epoch'\] must be >= 0"),
        ({"epoch": 0}, ValueError, "no 'start_index' entry"),
        ({"start_index": 0}, ValueError, "no 'epoch' entry"),
        ({"epoch": 0.5, "start_index": 0}, TypeError, "epoch"),
        ([0, 0], TypeError, "state_dict must be a dict"),
    ],
)
def test_load_state_dict_rejects_bad_states(state, error, message):
    sampler = make()
    with pytest.raises(error, match=message):
        sampler.load_state_dict(state)
    assert sampler.state_dict()["epoch"] == 0


def test_start_index_equal_to_num_frames_is_valid():
    sampler = make()
    sampler.load_state_dict({"epoch": 0, "start_index": 28})
    assert list(sampler) == []


@pytest.mark.parametrize("clone", [copy.deepcopy, lambda s: pickle.loads(pickle.dumps(s))])
def test_pickle_and_deepcopy_keep_configuration_and_resume_point(clone, permutation):
    sampler = make(
        FROM,
        TO,
        [0, 2],
        1,
        1,
        shuffle=True,
        seed=2**63 + 5,
        permutation=permutation,
        absolute_to_relative_idx={f: f + 100 for f in range(31)},
        num_replicas=2,
        rank=1,
        drop_last=True,
    )
    sampler.load_state_dict({"epoch": 3, "start_index": 4})
    twin = clone(sampler)
    assert repr(twin) == repr(sampler)
    assert twin.state_dict() == sampler.state_dict()
    assert list(twin) == list(sampler)
    assert list(twin) == list(sampler)  # and the epoch after


@pytest.mark.parametrize("clone", [copy.deepcopy, lambda s: pickle.loads(pickle.dumps(s))])
@pytest.mark.parametrize("kind", ["sampler", "mixture", "weighted"])
def test_a_copy_taken_mid_iteration_resumes_where_state_dict_says(clone, kind):
    """`torch.save(sampler)` during an epoch must not repeat the samples already yielded."""
    from episampler import MixtureSampler, WeightedEpisodeSampler

    def build():
        if kind == "mixture":
            parts = [make(FROM[:2], TO[:2], shuffle=True), make([0], [6], shuffle=True)]
            return MixtureSampler(parts, [2, 1], offsets=[0, 25], block_size=3)
        if kind == "weighted":
            return WeightedEpisodeSampler(FROM, TO, [1, 2, 3], 28, seed=4)
        return make(shuffle=True, seed=4, num_replicas=2, rank=1)

    sampler = build()
    sampler.set_epoch(2)
    iterator = iter(sampler)
    taken = [next(iterator) for _ in range(10)]
    twin = clone(sampler)
    assert twin.state_dict() == sampler.state_dict()
    assert twin.state_dict()["start_index"] == 10 * sampler.num_replicas
    whole = build().epoch_indices(2).tolist()
    assert taken + list(twin) == whole
    # The original's iterator goes on unaffected.
    assert taken + list(iterator) == whole


def test_repr_names_the_configuration_and_position():
    sampler = make(shuffle=True, seed=3, permutation="feistel", num_replicas=2, rank=1)
    sampler.load_state_dict({"epoch": 2, "start_index": 6})
    assert repr(sampler) == (
        "EpisodeAwareSampler(num_frames=28, num_episodes=3, shuffle=True, permutation='feistel', "
        "seed=3, num_replicas=2, rank=1, drop_last=False, epoch=2, start_index=6)"
    )


def test_is_a_torch_sampler():
    from torch.utils.data import Sampler

    assert isinstance(EpisodeAwareSampler(FROM, TO), Sampler)


def test_two_loaders_reading_one_sampler_at_once_are_warned_about():
    # Noticed when the older iterator asks for its next chunk: after its first 64 values.
    sampler = EpisodeAwareSampler([0, 300], [300, 1000], shuffle=True)
    first = DataLoader(range(1000), sampler=sampler, batch_size=4)
    second = DataLoader(range(1000), sampler=sampler, batch_size=4)
    with pytest.warns(RuntimeWarning, match="read after a newer one") as caught:
        pairs = list(zip(first, second, strict=True))
    assert len(caught) == 1  # once per iterator, not per chunk
    # What the warning is about: both loaders got the same values.
    assert all(a.tolist() == b.tolist() for a, b in pairs)


def test_two_batch_loaders_reading_one_sampler_at_once_are_warned_about():
    sampler = make(shuffle=True)
    loaders = [
        DataLoader(range(max(TO)), batch_sampler=EpisodeAwareBatchSampler(sampler, 4))
        for _ in range(2)
    ]
    with pytest.warns(RuntimeWarning, match="Give each loader its own sampler"):
        list(zip(*loaders, strict=True))


def test_a_loop_broken_off_and_started_again_is_not_warned_about():
    sampler = make(shuffle=True)
    loader = DataLoader(range(max(TO)), sampler=sampler, batch_size=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            for step, _ in enumerate(loader):
                if step == 2:
                    break
        old, new = iter(sampler), iter(sampler)
        take(new, 5)
        assert take(new, 3) == sampler.epoch_indices()[5:8].tolist()
        del old  # created before the newest and never read: not a concurrent reader
        assert list(loader)  # a whole epoch after the broken loops
