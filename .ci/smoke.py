"""Smoke test of an installed episampler (a wheel or an sdist build), run outside the source
tree: the package must come from site-packages and work without the repository."""

import itertools
import pathlib
import sys

import episampler
from episampler import EpisodeAwareSampler, MixtureSampler, WeightedEpisodeSampler

location = pathlib.Path(episampler.__file__).resolve()
assert "site-packages" in location.parts, f"episampler imported from {location}, not an install"
assert pathlib.Path(episampler._core.__file__).suffix in (".so", ".pyd"), episampler._core
sampler = EpisodeAwareSampler([0, 10], [10, 25], shuffle=True, seed=3)
head = list(itertools.islice(iter(sampler), 7))
resumed = EpisodeAwareSampler([0, 10], [10, 25], shuffle=True, seed=3)
resumed.load_state_dict(sampler.state_dict())
assert head + list(resumed) == sampler.epoch_indices(0).tolist()
parts = [EpisodeAwareSampler([0], [5], shuffle=True), EpisodeAwareSampler([0], [3])]
assert len(list(MixtureSampler(parts, [2, 1], offsets=[0, 5], block_size=3))) == 8
assert set(WeightedEpisodeSampler([0, 5], [5, 8], [1, 0], 20).epoch_indices(0)) <= set(range(5))
print(f"episampler {episampler.__version__} from {location.parent} on Python {sys.version.split()[0]}: ok")
