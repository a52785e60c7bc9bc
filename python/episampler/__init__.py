"""Episode-aware, seekable, exactly resumable frame sampling for robot-learning datasets."""

from episampler._batch import EpisodeAwareBatchSampler
from episampler._core import ALGORITHM_VERSION
from episampler._mixture import MixtureSampler, WeightedEpisodeSampler, balance_weights
from episampler._sampler import EpisodeAwareSampler
from episampler._state import compute_sampler_state

__all__ = [
    "ALGORITHM_VERSION",
    "EpisodeAwareBatchSampler",
    "EpisodeAwareSampler",
    "MixtureSampler",
    "WeightedEpisodeSampler",
    "balance_weights",
    "compute_sampler_state",
]
