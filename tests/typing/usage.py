"""What users' type-checked training scripts write; `make lint` runs `mypy --strict` on it (it
is not a pytest module)."""

from episampler import (
    EpisodeAwareSampler,
    MixtureSampler,
    SamplerState,
    WeightedEpisodeSampler,
    compute_sampler_state,
)
from episampler.integrations.torchdata import sampler_state

sampler = EpisodeAwareSampler([0], [10], shuffle=True)
state: SamplerState = sampler.state_dict()
start_index: int = state["start_index"]
epoch: int = compute_sampler_state(3, 10, 2, 1)["epoch"]
fingerprint: str = state.get("fingerprint", "")
sampler.load_state_dict(state)
mixture = MixtureSampler([sampler], [1.0], offsets=[0])
mixture.load_state_dict(mixture.state_dict())
weighted = WeightedEpisodeSampler([0], [10], [1.0], 5)
first: int = next(iter(weighted))
restored: SamplerState = sampler_state({"_index_sampler_state": state})
