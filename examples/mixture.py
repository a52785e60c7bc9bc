"""Several datasets in set proportions: a MixtureSampler over a ConcatDataset. Every block of
`block_size` positions holds each dataset's share exactly; each dataset is read through its own
episode-aware shuffled sampler (a small dataset cycles through its own epochs, no frame repeats
before all were used); the state resumes exactly.

Run: python examples/mixture.py
"""

from __future__ import annotations

import itertools

import torch
from torch.utils.data import Dataset


class Frames(Dataset):
    """A dataset of `n` frames whose item says which dataset and frame it is."""

    def __init__(self, name: int, n: int) -> None:
        self.name, self.n = name, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.tensor([self.name, index])


def main() -> None:
    big, medium, small = Frames(0, 600), Frames(1, 300), Frames(2, 40)
    # --8<-- [start:mixture]
    from torch.utils.data import ConcatDataset, DataLoader

    from episampler import EpisodeAwareSampler, MixtureSampler

    data = ConcatDataset([big, medium, small])
    samplers = [  # one per dataset, over its own episodes (here: every 20 frames)
        EpisodeAwareSampler(range(0, len(d), 20), range(20, len(d) + 1, 20), shuffle=True, seed=c)
        for c, d in enumerate(data.datasets)
    ]
    mixture = MixtureSampler.for_concat(data, samplers, weights=[0.5, 0.3, 0.2], block_size=10)
    loader = DataLoader(data, sampler=mixture, batch_size=10, num_workers=2)
    # --8<-- [end:mixture]

    assert mixture.block_counts == (5, 3, 2)
    batches = [batch for batch, _ in zip(loader, range(40), strict=False)]
    for batch in batches:  # batches line up with blocks here: exact shares in every one
        names = batch[:, 0].tolist()
        assert (names.count(0), names.count(1), names.count(2)) == (5, 3, 2), names
    small_frames = [f for b in batches for n, f in b.tolist() if n == 2]
    assert len(small_frames) == 80  # 2 epochs of the small dataset, each frame once per epoch
    assert sorted(small_frames[:40]) == sorted(small_frames[40:]) == list(range(40))

    # Exact resume: the mixture's state after 23 samples, loaded into a new mixture.
    running = iter(mixture)
    head = list(itertools.islice(running, 23))
    state = mixture.state_dict()  # describes `running`: 23 samples in
    fresh = MixtureSampler.for_concat(data, samplers, weights=[0.5, 0.3, 0.2], block_size=10)
    fresh.load_state_dict(state)
    assert list(itertools.islice(iter(fresh), 50)) == list(itertools.islice(running, 50))
    assert len(head) == 23 and state["sampler"] == "MixtureSampler"
    print("mixture: shares (5, 3, 2) in every block of 10; the small dataset cycles exactly;")
    print("         a state after 23 samples resumes identically")


if __name__ == "__main__":
    main()
