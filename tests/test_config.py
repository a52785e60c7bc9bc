"""Option names, limits and cross-option rules are written once, in the core
(rust/core/src/config.rs): the Python layer reads them from the extension, and a rule broken
through any entry point is refused with the one message."""

from __future__ import annotations

import re

import numpy as np
import pytest

from episampler import EpisodeAwareSampler, MixtureSampler, _core, stream_settings
from episampler.lerobot.options import OptionsError, checked


def test_the_names_and_limits_are_the_cores():
    assert _core.PERMUTATIONS == ("uniform", "feistel")
    assert (_core.MAX_STREAMS, _core.MAX_WORKERS) == (2**16, 2**16)
    assert _core.MAX_BLOCK_SIZE == 2**32
    for permutation in _core.PERMUTATIONS:
        EpisodeAwareSampler([0], [10], shuffle=True, permutation=permutation)
        assert checked({"permutation": permutation})["permutation"] == permutation
    with pytest.raises(OptionsError, match="must be one of uniform, feistel"):
        checked({"permutation": "random"})


def test_the_stream_limit_is_enforced_at_the_cores_value_everywhere():
    limit = _core.MAX_STREAMS
    settings = stream_settings(limit, 8)
    assert settings["streams"] == limit
    sampler = EpisodeAwareSampler([0], [100], shuffle=True, window=10, **settings)
    assert sampler.streams == limit
    with pytest.raises(ValueError, match=f"streams must be in \\[1, {limit + 1}\\)"):
        EpisodeAwareSampler([0], [100], shuffle=True, window=10, streams=limit + 1,
                            stream_block=8)  # fmt: skip
    with pytest.raises(ValueError, match=f"num_workers must be in \\[0, {limit + 1}\\)"):
        stream_settings(limit + 1, 8)


def test_the_streams_rule_is_the_cores_for_the_sampler_and_the_core_alike():
    for call in (
        lambda: EpisodeAwareSampler([0], [100], shuffle=True, streams=2, stream_block=8),
        lambda: _core.stream_settings(2, 8, False),
    ):
        with pytest.raises(ValueError, match=r"^streams=2 needs window=N \(streams deal"):
            call()
    with pytest.raises(ValueError, match=r"^streams=2 needs stream_block \(the DataLoader's"):
        _core.stream_settings(2, None, True)
    assert _core.stream_settings(1, 99, False) == (1, None)  # one stream ignores its block


def test_group_ids_are_checked_by_the_one_rule():
    message = re.escape(
        "episode_groups must hold one id per episode of the boundary arrays (2), got 3"
    )
    with pytest.raises(ValueError, match=f"^{message}$"):
        EpisodeAwareSampler([0, 5], [5, 9], shuffle=True, window=4, episode_groups=[0, 1, 2])
    with pytest.raises(ValueError, match=f"^{message}$"):
        _core.check_group_ids("episode_groups", 3, 2)


def test_a_block_without_a_slot_is_a_typed_error_naming_the_component():
    parts = [EpisodeAwareSampler([0], [50], shuffle=True), EpisodeAwareSampler([0], [50])]
    with pytest.raises(_core.NoSlotError) as raised:
        _core.DrawCore.mixture_of(
            [p._core for p in parts], [0, 50], np.array([1000.0, 1.0]), 4, 100, 0
        )
    assert raised.value.args[1] == 1
    # The sampler turns it into advice for that component: the block size that gives it a slot.
    with pytest.raises(ValueError, match=r"gives component 1 .* at least 1001"):
        MixtureSampler(parts, [1000.0, 1.0], offsets=[0, 50], block_size=4)
