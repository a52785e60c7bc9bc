"""Helpers shared by the test modules."""

from __future__ import annotations

import warnings

from episampler import EpisodeAwareSampler

# Three episodes of unequal length with a gap between the second and the third.
FROM = [0, 10, 25]
TO = [10, 22, 31]


def lerobot_frames(from_indices, to_indices, episode_indices_to_use=None, first=0, last=0):
    """LeRobot 0.6's unshuffled order, written out frame by frame: the reference for parity."""
    frames = []
    for episode, (start, end) in enumerate(zip(from_indices, to_indices, strict=True)):
        if episode_indices_to_use is None or episode in episode_indices_to_use:
            if first + last >= end - start:
                continue
            frames.extend(range(start + first, end - last))
    return frames


def make(*args, **kwargs) -> EpisodeAwareSampler:
    """A sampler over FROM/TO unless boundaries are given; skip warnings are not the point."""
    if not args:
        args = (FROM, TO)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return EpisodeAwareSampler(*args, **kwargs)
