"""What a user meets at the edges: a misplaced argument, a state of another kind of sampler,
bad weights, a report count that would overflow, advice that can be followed, every flag of the
command-line tools explained."""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

from episampler import (
    EpisodeAwareSampler,
    MixtureSampler,
    WeightedEpisodeSampler,
    balance_weights,
)
from episampler.inspect import io_report

FROM, TO = [0, 10, 30], [10, 30, 36]


def samplers():
    episodes = EpisodeAwareSampler(FROM, TO, shuffle=True, seed=3)
    weighted = WeightedEpisodeSampler(FROM, TO, [1.0, 2.0, 3.0], 36, seed=3)
    mixture = MixtureSampler(
        [EpisodeAwareSampler(FROM, TO), EpisodeAwareSampler(FROM, TO)],
        [0.5, 0.5],
        offsets=[0, 100],
        block_size=4,
        samples_per_epoch=36,
        seed=3,
    )
    return {
        "EpisodeAwareSampler": episodes,
        "WeightedEpisodeSampler": weighted,
        "MixtureSampler": mixture,
    }


# --- episode_groups without window ---------------------------------------------------------


def test_episode_groups_without_a_window_warns_and_changes_nothing():
    plain = EpisodeAwareSampler(FROM, TO, shuffle=True, seed=5)
    with pytest.warns(UserWarning, match="episode_groups has no effect without window="):
        grouped = EpisodeAwareSampler(FROM, TO, shuffle=True, seed=5, episode_groups=[0, 0, 1])
    assert grouped.epoch_indices(1).tolist() == plain.epoch_indices(1).tolist()


def test_episode_groups_with_a_window_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        EpisodeAwareSampler(FROM, TO, shuffle=True, window=8, episode_groups=[0, 0, 1])


# --- a state of another kind ----------------------------------------------------------------


@pytest.mark.parametrize("saved_by", ["EpisodeAwareSampler", "WeightedEpisodeSampler",
                                      "MixtureSampler"])  # fmt: skip
@pytest.mark.parametrize("loaded_into", ["EpisodeAwareSampler", "WeightedEpisodeSampler",
                                         "MixtureSampler"])  # fmt: skip
def test_a_state_of_another_kind_is_refused_naming_the_kind(saved_by, loaded_into):
    state = samplers()[saved_by].state_dict()
    assert state["sampler"] == saved_by
    target = samplers()[loaded_into]
    if saved_by == loaded_into:
        target.load_state_dict(state)
        return
    with pytest.raises(
        ValueError, match=f"this state is from an? {saved_by}, not an? {loaded_into}"
    ):
        target.load_state_dict(state)


@pytest.mark.parametrize("saved_by", ["WeightedEpisodeSampler", "MixtureSampler"])
def test_a_state_without_its_kind_is_still_recognised_by_its_entries(saved_by):
    state = dict(samplers()[saved_by].state_dict())
    del state["sampler"]  # as saved before the kind was recorded
    with pytest.raises(ValueError, match="from a MixtureSampler or a WeightedEpisodeSampler"):
        samplers()["EpisodeAwareSampler"].load_state_dict(state)
    samplers()[saved_by].load_state_dict(state)  # its own kind still loads it


def test_a_bare_resume_point_loads_into_every_kind():
    for sampler in samplers().values():
        sampler.load_state_dict({"epoch": 2, "start_index": 5})
        assert sampler.state_dict()["epoch"] == 2


def test_a_subclass_saves_and_loads_as_its_base_kind():
    class Mine(EpisodeAwareSampler):
        pass

    state = Mine(FROM, TO, shuffle=True, seed=3).state_dict()
    assert state["sampler"] == "EpisodeAwareSampler"
    samplers()["EpisodeAwareSampler"].load_state_dict(state)


@pytest.mark.parametrize("kind", [3, None])
def test_a_kind_that_is_not_a_string_is_a_type_error(kind):
    state = dict(samplers()["EpisodeAwareSampler"].state_dict(), sampler=kind)
    with pytest.raises(TypeError, match=r"state_dict\['sampler'\] must be a str"):
        samplers()["EpisodeAwareSampler"].load_state_dict(state)


# --- tensors in a state ---------------------------------------------------------------------


@pytest.mark.parametrize("wrap", [torch.tensor, lambda v: torch.tensor([v]), np.int64],
                         ids=["tensor", "1-element tensor", "numpy"])  # fmt: skip
def test_identity_entries_accept_integers_as_the_resume_point_does(wrap):
    sampler = EpisodeAwareSampler(FROM, TO, shuffle=True, seed=7)
    state = sampler.state_dict()
    loaded = EpisodeAwareSampler(FROM, TO, shuffle=True, seed=7)
    loaded.load_state_dict(
        {
            **state,
            "epoch": wrap(3),
            "start_index": wrap(4),
            "seed": wrap(7),
            "num_frames": wrap(36),
        }
    )
    assert (loaded.state_dict()["epoch"], loaded.state_dict()["start_index"]) == (3, 4)


def test_a_tensor_seed_of_another_value_is_still_refused():
    state = EpisodeAwareSampler(FROM, TO, shuffle=True, seed=7).state_dict()
    with pytest.raises(ValueError, match="seed is tensor\\(8\\) in the state but 7 here"):
        EpisodeAwareSampler(FROM, TO, shuffle=True, seed=7).load_state_dict(
            {**state, "seed": torch.tensor(8)}
        )
    with pytest.raises(ValueError, match="seed"):
        EpisodeAwareSampler(FROM, TO, shuffle=True, seed=7).load_state_dict(
            {**state, "seed": torch.tensor(7.0)}
        )


# --- balance_weights ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("items", "weights", "error", "message"),
    [
        (None, None, TypeError, "items must be a sequence of samplers, .* got NoneType"),
        ("abc", None, TypeError, "items must be a sequence .* got str"),
        ([10, "ab"], None, TypeError, r"items\[1\] must be a sampler, .* got str 'ab'"),
        ([10, True], None, TypeError, r"items\[1\] .* got a bool"),
        ([10, -1], None, ValueError, r"items\[1\] must be >= 0, got -1"),
        ([10, 20], [math.nan, 1.0], ValueError, r"weights\[0\] must be finite and >= 0, got nan"),
        ([10, 20], [1.0, -2.0], ValueError, r"weights\[1\] must be finite and >= 0, got -2.0"),
        ([10, 20], [1.0, math.inf], ValueError, r"weights\[1\] must be finite and >= 0, got inf"),
        ([10, 20], ["a", "b"], TypeError, "weights must hold real numbers"),
        ([10, 20], [1.0], ValueError, r"one entry per item \(2\), got 1"),
    ],
)  # fmt: skip
def test_balance_weights_refuses_bad_input(items, weights, error, message):
    with pytest.raises(error, match=message):
        balance_weights(items, weights)


def test_balance_weights_still_weighs_sizes():
    sampler = EpisodeAwareSampler(FROM, TO)
    assert balance_weights([sampler, [0] * 4, 6], [1.0, 2.0, 0.0]) == [36.0, 8.0, 0.0]


# --- io_report counts -----------------------------------------------------------------------


def test_io_report_refuses_decoders_per_group_whose_counts_would_saturate():
    sampler = EpisodeAwareSampler(FROM, TO, shuffle=True)
    limit = (2**64 - 1) // 36
    with pytest.raises(
        ValueError, match=f"decoders_per_group must be at most {limit} .*, got {2**62}"
    ):
        io_report(sampler, batch_size=4, num_workers=1, decoders_per_group=2**62)
    report = io_report(sampler, batch_size=4, num_workers=1, decoders_per_group=limit)
    counts = [v for v in report["sampler"].values() if isinstance(v, int)]
    assert counts and max(counts) < 2**64 - 1  # exact, not saturated
    assert report["decoders_per_group"] == limit


# --- mixture advice -------------------------------------------------------------------------


def components():
    return [EpisodeAwareSampler(FROM, TO), EpisodeAwareSampler(FROM, TO)]


@pytest.mark.parametrize("tiny", [5e-324, 1e-12])
def test_a_weight_too_small_for_any_block_gets_advice_that_can_be_followed(tiny):
    with pytest.raises(ValueError) as raised:
        MixtureSampler(components(), [1.0, tiny], offsets=[0, 100])
    message = str(raised.value)
    assert "inf" not in message and "nan" not in message, message
    assert "no block_size up to 2**32 gives it one" in message
    advised = float(message.split("a weight of at least ")[1].split(" ")[0])
    MixtureSampler(components(), [1.0, advised * 1.01], offsets=[0, 100], block_size=2**32)


def test_a_weight_too_small_for_this_block_gets_the_block_size_that_works():
    with pytest.raises(ValueError, match="use a block_size of at least 100001") as raised:
        MixtureSampler(components(), [1.0, 1e-5], offsets=[0, 100])
    advised = int(str(raised.value).split("at least ")[1].split(" ")[0])
    MixtureSampler(components(), [1.0, 1e-5], offsets=[0, 100], block_size=advised)


# --- command-line help ----------------------------------------------------------------------


@pytest.mark.parametrize("module", ["episampler", "episampler.inspect", "benches.compare"])
def test_every_command_line_flag_has_help(module, monkeypatch, capsys):
    """Every option of every parser the command builds has a help text."""
    parsers: list[argparse.ArgumentParser] = []
    original = argparse.ArgumentParser.parse_args

    def capture(self, *args, **kwargs):
        parsers.append(self)
        raise SystemExit(0)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", capture)
    runner = __import__(module, fromlist=["main"])
    if module == "episampler":
        runner = __import__("episampler.__main__", fromlist=["main"])
    with pytest.raises(SystemExit):
        runner.main([])
    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", original)
    assert parsers
    for action in parsers[0]._actions:
        assert action.help, f"{module}: {action.option_strings} has no help"
        assert action.help != argparse.SUPPRESS


def test_inspect_help_runs_and_names_seed_and_epoch():
    result = subprocess.run(
        [sys.executable, "-m", "episampler.inspect", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "the samplers' seed" in result.stdout
    assert "the epoch whose order is measured" in result.stdout
    assert "episampler[bench]" not in result.stdout
