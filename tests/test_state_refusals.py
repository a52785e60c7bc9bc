"""A state refused for another sampler names every setting that differs, not only "fingerprint";
a state naming its sampler must carry its fingerprint; boolean values never pass as ints."""

from __future__ import annotations

import json

import pytest
import torch

from episampler import EpisodeAwareSampler, MixtureSampler, WeightedEpisodeSampler

STARTS, ENDS = [0, 10, 25, 31], [10, 25, 31, 50]


def sampler(**kwargs) -> EpisodeAwareSampler:
    options = {"shuffle": True, "seed": 3, "window": 12, "episode_groups": [0, 0, 1, 1]}
    return EpisodeAwareSampler(STARTS, ENDS, **{**options, **kwargs})


@pytest.mark.parametrize(
    ("other", "named"),
    [
        ({"window": 20}, ["window is 12 in the state but 20 here"]),
        ({"episode_groups": [0, 1, 1, 2]}, ["episode_groups is"]),
        ({"streams": 2, "stream_block": 4},
         ["streams is 1 in the state but 2 here", "stream_block is None in the state but 4"]),
        ({"window": None, "episode_groups": None}, ["window is 12 in the state but None"]),
        ({"drop_n_first_frames": 1}, ["drop_n_first_frames is 0 in the state but 1 here"]),
        ({"episode_indices_to_use": [0, 1, 3]}, ["episodes is None in the state but"]),
    ],
)  # fmt: skip
def test_a_refused_state_names_the_settings_that_differ(other, named):
    state = json.loads(json.dumps(sampler().state_dict()))  # as saved to and read from disk
    with pytest.raises(ValueError, match="fingerprint is") as refused:
        sampler(**other).load_state_dict(state)
    for text in named:
        assert text in str(refused.value)


def test_other_boundaries_and_seeds_are_named():
    state = sampler().state_dict()
    moved = EpisodeAwareSampler([0, 10, 26, 31], ENDS, shuffle=True, seed=3, window=12,
                                episode_groups=[0, 0, 1, 1])  # fmt: skip
    with pytest.raises(ValueError, match=r"boundaries is '[0-9a-f]+' in the state but"):
        moved.load_state_dict(state)
    with pytest.raises(ValueError, match="seed is 3 in the state but 4 here"):
        sampler(seed=4).load_state_dict(state)


def test_relabelled_groups_are_the_same_grouping():
    state = sampler().state_dict()
    sampler(episode_groups=[7, 7, -2, -2]).load_state_dict(state)


def test_mixture_weights_and_block_size_are_named():
    def mixture(weights=(2, 1), block_size=6):
        parts = [EpisodeAwareSampler([0], [10], shuffle=True), EpisodeAwareSampler([0], [6])]
        return MixtureSampler(parts, list(weights), offsets=[0, 10], block_size=block_size)

    state = mixture().state_dict()
    with pytest.raises(ValueError, match=r"weights is \[2.0, 1.0\] in the state but \[3.0, 1.0\]"):
        mixture(weights=(3, 1)).load_state_dict(state)
    with pytest.raises(ValueError, match="block_size is 6 in the state but 9 here"):
        mixture(block_size=9).load_state_dict(state)
    weighted = WeightedEpisodeSampler(STARTS, ENDS, [1, 1, 2, 0], 40).state_dict()
    with pytest.raises(ValueError, match=r"weights is '[0-9a-f]+' in the state but"):
        WeightedEpisodeSampler(STARTS, ENDS, [1, 1, 2, 1], 40).load_state_dict(weighted)


def test_a_state_naming_its_sampler_needs_its_fingerprint():
    state = dict(sampler().state_dict())
    del state["fingerprint"]
    with pytest.raises(ValueError, match="'sampler' entry but no 'fingerprint'"):
        sampler(window=20).load_state_dict(state)
    # LeRobot's states carry only the resume point: they load into anything.
    sampler(window=20).load_state_dict({"epoch": 2, "start_index": 5})


def test_a_state_whose_settings_are_not_a_dict_is_refused():
    state = dict(sampler().state_dict(), settings="window=12")
    with pytest.raises(ValueError, match="settings is 'window=12' in the state, not a dict"):
        sampler().load_state_dict(state)


@pytest.mark.parametrize("key", ["epoch", "start_index", "seed"])
def test_boolean_tensors_never_pass_as_ints(key):
    state = dict(sampler().state_dict())
    state[key] = torch.tensor(True)
    with pytest.raises((TypeError, ValueError), match=key):
        sampler().load_state_dict(state)
