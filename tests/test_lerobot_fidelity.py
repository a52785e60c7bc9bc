"""What LeRobot 0.6.1's own sampler tests rely on: `indices`, its error phrases, and skipped
episodes summarised in one warning (tests/real_lerobot runs against the real package)."""

from __future__ import annotations

import logging
import warnings

import pytest

from episampler import EpisodeAwareSampler

from .support import FROM, TO, lerobot_frames, make


@pytest.mark.parametrize("subset", [None, [2, 0], [1, 1]])
@pytest.mark.parametrize(("first", "last"), [(0, 0), (2, 3), (6, 0)])
@pytest.mark.parametrize("shuffle", [False, True])
def test_indices_are_the_kept_frames_in_boundary_order(subset, first, last, shuffle, permutation):
    sampler = make(
        FROM, TO, subset, first, last, shuffle, 5, permutation=permutation
    )  # fmt: skip
    expected = lerobot_frames(FROM, TO, subset, first, last)
    assert sampler.indices == expected
    assert all(type(value) is int for value in sampler.indices)
    assert sorted(sampler) == expected  # iteration is another order of the same frames


def test_indices_go_through_absolute_to_relative_idx():
    mapping = {frame: 1000 - frame for frame in range(31)}
    sampler = make(FROM, TO, [0, 2], 1, 0, True, absolute_to_relative_idx=mapping)
    assert sampler.indices == [mapping[f] for f in lerobot_frames(FROM, TO, [0, 2], 1, 0)]


def test_indices_is_a_fresh_list_each_time_and_leaves_the_state_alone():
    sampler = make(shuffle=True)
    iterator = iter(sampler)
    next(iterator)
    state = sampler.state_dict()
    sampler.indices.append(-1)
    assert sampler.indices == lerobot_frames(FROM, TO)
    assert sampler.state_dict() == state


@pytest.mark.parametrize("name", ["drop_n_first_frames", "drop_n_last_frames"])
def test_negative_drops_use_lerobots_phrase(name):
    with pytest.raises(ValueError, match=rf"^{name} must be >= 0, got -3"):
        EpisodeAwareSampler([0], [10], **{name: -3})


def test_no_frame_left_uses_lerobots_phrase():
    with pytest.raises(ValueError, match=r"^No valid frames remain") as caught:
        make([0, 1, 2], [1, 2, 3], drop_n_first_frames=1)
    assert "3 selected episode(s)" in str(caught.value)


def skip_records(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("episampler")]


def test_skipped_episodes_are_summarised_in_one_warning(caplog):
    with caplog.at_level(logging.DEBUG), pytest.warns(UserWarning) as caught:
        sampler = EpisodeAwareSampler([0, 10, 20, 30], [10, 13, 22, 40], drop_n_first_frames=3)
    # Episodes 1 (3 frames) and 2 (2 frames), by their position in the boundary arrays.
    assert [str(w.message) for w in caught] == [
        "2 selected episode(s) have no frame left after drop_n_first_frames=3 and "
        "drop_n_last_frames=0; they are skipped: episode 1 (3 frames), 2 (2 frames)"
    ]
    assert skip_records(caplog) == []  # no line per episode
    assert sampler.indices == list(range(3, 10)) + list(range(33, 40))


def test_only_selected_skipped_episodes_are_named():
    with pytest.warns(UserWarning, match=r"^1 selected .*: episode 1 \(1 frames\)$"):
        EpisodeAwareSampler([0, 1, 5], [1, 2, 9], [1, 2], drop_n_last_frames=1)


def test_the_warning_names_a_bounded_number_of_skipped_episodes(caplog):
    episodes = 100_000
    starts = list(range(0, 2 * episodes, 2))  # every episode 1 frame long, the last 2
    ends = [start + 1 for start in starts[:-1]] + [2 * episodes]
    with caplog.at_level(logging.DEBUG), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sampler = EpisodeAwareSampler(starts, ends, drop_n_first_frames=1)
    assert len(caught) == 1
    message = str(caught[0].message)
    named = ", ".join(f"{e} (1 frames)" for e in range(10))
    assert message.startswith(f"{episodes - 1} selected")
    assert message.endswith(f": episode {named} and {episodes - 11} more")
    assert "\n" not in message
    assert skip_records(caplog) == []
    assert sampler.num_frames == 1


def test_nothing_is_logged_when_no_episode_is_skipped(caplog):
    with caplog.at_level(logging.DEBUG):
        make(drop_n_first_frames=2)
    assert skip_records(caplog) == []
