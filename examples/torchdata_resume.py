"""Exact resume with torchdata's StatefulDataLoader and worker processes: the loader's own
state_dict() holds the sampler's state per batch, prefetching included. Also: resuming with
another number of workers, through the sampler's state.

Run: python examples/torchdata_resume.py   (needs: pip install torchdata)
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

STARTS, ENDS = [0, 40, 100, 180], [40, 100, 180, 300]


class Frames(Dataset):
    def __len__(self) -> int:
        return ENDS[-1]

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.tensor(index)


def batches(loader, count: int) -> list[list[int]]:
    out = []
    for batch in loader:
        out.append(batch.tolist())
        if len(out) == count:
            break
    return out


def main() -> None:
    dataset = Frames()
    # --8<-- [start:torchdata]
    from torchdata.stateful_dataloader import StatefulDataLoader

    from episampler import EpisodeAwareSampler
    from episampler.integrations.torchdata import sampler_state

    def make_loader(num_workers: int, state=None):
        sampler = EpisodeAwareSampler(STARTS, ENDS, shuffle=True, seed=7)
        if state is not None and num_workers != state["num_workers"]:
            # Another worker count: carry only the sampler's position over.
            sampler.load_state_dict(sampler_state(state["loader"]))
            state = None
        loader = StatefulDataLoader(dataset, sampler=sampler, batch_size=8, num_workers=num_workers)
        if state is not None:
            loader.load_state_dict(state["loader"])  # same worker count: the whole snapshot
        return loader

    loader = make_loader(num_workers=2)
    first = batches(loader, 20)  # epoch 0 has 38 batches of 8 (300 frames)
    checkpoint = {"loader": loader.state_dict(), "num_workers": 2}
    # --8<-- [end:torchdata]

    uninterrupted = make_loader(num_workers=2)
    reference = batches(uninterrupted, 38) + batches(uninterrupted, 22)  # epochs 0 and 1
    assert first == reference[:20]
    for workers in (2, 1, 0):
        resumed = make_loader(workers, checkpoint)
        rest = batches(resumed, 18) + batches(resumed, 22)  # the rest of epoch 0, then epoch 1
        assert rest == reference[20:60], workers
    print("StatefulDataLoader: resumed after batch 20 with 2, 1 and 0 workers, identical")


if __name__ == "__main__":
    main()
