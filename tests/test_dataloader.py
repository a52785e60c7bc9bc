"""The sampler inside a real torch DataLoader, with and without worker processes."""

from __future__ import annotations

import pytest
from torch.utils.data import DataLoader, Dataset

from .support import make


class FrameDataset(Dataset):
    """Returns the row index itself, so the stream of batches shows the sampler's order."""

    def __len__(self) -> int:
        return 40

    def __getitem__(self, index: int) -> int:
        return index


def stream(num_workers: int, permutation: str, epochs: int = 2) -> list[list[int]]:
    sampler = make(shuffle=True, seed=21, permutation=permutation)
    loader = DataLoader(FrameDataset(), sampler=sampler, batch_size=5, num_workers=num_workers)
    # Re-iterate without set_epoch, as LeRobot's `cycle` does.
    return [batch.tolist() for _ in range(epochs) for batch in loader]


@pytest.mark.slow
def test_worker_processes_see_the_same_stream(permutation):
    single = stream(0, permutation)
    assert stream(2, permutation) == single
    flat = [v for batch in single for v in batch]
    sampler = make(shuffle=True, seed=21, permutation=permutation)
    assert flat == sampler.epoch_indices(0).tolist() + sampler.epoch_indices(1).tolist()


@pytest.mark.slow
def test_resume_through_a_dataloader(permutation):
    sampler = make(shuffle=True, seed=21, permutation=permutation)
    loader = DataLoader(FrameDataset(), sampler=sampler, batch_size=4, num_workers=0)
    iterator = iter(loader)
    seen = [next(iterator).tolist() for _ in range(3)]
    state = sampler.state_dict()  # no prefetching with num_workers=0: exactly 12 consumed
    assert state["start_index"] == 12
    resumed = make(shuffle=True, seed=21, permutation=permutation)
    resumed.load_state_dict(state)
    rest = [b.tolist() for b in DataLoader(FrameDataset(), sampler=resumed, batch_size=4)]
    flat = [v for batch in seen + rest for v in batch]
    assert flat == sampler.epoch_indices(0).tolist()
