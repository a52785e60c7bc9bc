"""Resume under torchdata's `StatefulDataLoader` with another `num_workers` than before.

`loader.load_state_dict(snapshot)` restores a snapshot only into a loader with the same
`num_workers` (torchdata asserts it). The sampler's own state inside the snapshot needs no
workers, so take it out and give it to the sampler of a loader built with any `num_workers`:

    state = loader.state_dict()                          # saved with num_workers=2
    ...
    sampler.load_state_dict(sampler_state(state))        # a new sampler, same arguments
    loader = StatefulDataLoader(dataset, sampler=sampler, batch_size=64, num_workers=8)

Dataset and worker states in the snapshot are not carried over this way (a map-style dataset
has none).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from episampler._resumable import SamplerState

__all__ = ["sampler_state"]


def sampler_state(snapshot: Mapping[str, Any]) -> SamplerState:
    """The sampler's state inside a `StatefulDataLoader.state_dict()` snapshot.

    Works for snapshots of loaders with `num_workers=0` or more, with `sampler=` (and
    `batch_size`) or with `batch_sampler=EpisodeAwareBatchSampler(...)`.

    Args:
        snapshot: what `StatefulDataLoader.state_dict()` returned.

    Returns:
        The sampler's `state_dict()` as of the last batch the loader handed out, for
        `sampler.load_state_dict`.

    Raises:
        TypeError: `snapshot` is not a mapping.
        ValueError: it holds no episampler sampler state (for example a loader whose sampler
            has no `state_dict`, or a snapshot taken before any iteration).
    """
    if not isinstance(snapshot, Mapping):
        raise TypeError(f"snapshot must be a dict, got {type(snapshot).__name__}")
    main = snapshot.get("_snapshot", {}).get("_main_snapshot", snapshot)  # workers > 0
    candidates = [
        (main.get("_sampler_iter_state") or {}).get("sampler_state"),  # sampler= + batch_size
        main.get("_index_sampler_state"),  # batch_sampler= with a state_dict
    ]
    for state in candidates:
        if isinstance(state, Mapping) and "epoch" in state and "start_index" in state:
            return cast(SamplerState, dict(state))  # a sampler's state_dict(), as it saved it
    raise ValueError(
        "snapshot holds no sampler state: expected a StatefulDataLoader.state_dict() of a "
        "loader whose sampler (or batch sampler) is an episampler one, taken after iterating"
    )
