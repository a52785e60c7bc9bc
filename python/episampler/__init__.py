"""Episode-aware, seekable, exactly resumable frame sampling for robot-learning datasets.

- `EpisodeAwareSampler`: LeRobot's sampler, drop-in, with a seeded order that is a pure
  function of `(seed, epoch)`, sharding, exact resume and a read-local (windowed) order;
  `stream_settings` gives each DataLoader worker its own stream of windows.
- `EpisodeAwareBatchSampler`: the batches `torch.utils.data.BatchSampler` would make, built in
  Rust.
- `MixtureSampler`, `balance_weights`: several datasets in set proportions, exact per block.
- `WeightedEpisodeSampler`: draws with replacement by episode weight.
- `resume_from_step`: set any loader's sampler to continue after a number of optimiser steps,
  reading the batch size, `drop_last` and processes from the loader.
- `compute_sampler_state`: the state after a number of optimiser steps (LeRobot style).
- `SamplerState`: the type of `state_dict()`.

Integrations: `episampler.integrations.accelerate`, `.lerobot`, `.torchdata`; the read-order
report: `python -m episampler.inspect`.
"""

from episampler import _core
from episampler._batch import EpisodeAwareBatchSampler
from episampler._core import __version__
from episampler._mixture import MixtureSampler, balance_weights
from episampler._resumable import SamplerState
from episampler._sampler import EpisodeAwareSampler, stream_settings
from episampler._state import compute_sampler_state, resume_from_step
from episampler._weighted import WeightedEpisodeSampler

ALGORITHM_VERSION: int = _core.ALGORITHM_VERSION
"""Version of the order algorithms. Every order is a pure function of its inputs and this
version, which changes only with a deliberate change of an order (and of the golden vectors)."""

__all__ = [
    "ALGORITHM_VERSION",
    "EpisodeAwareBatchSampler",
    "EpisodeAwareSampler",
    "MixtureSampler",
    "SamplerState",
    "WeightedEpisodeSampler",
    "__version__",
    "balance_weights",
    "compute_sampler_state",
    "resume_from_step",
    "stream_settings",
]
