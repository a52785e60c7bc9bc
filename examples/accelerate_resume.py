"""Exact resume under Hugging Face accelerate: the prepared DataLoader calls `set_epoch` with its
own counter and pads epochs by itself, so a plain `load_state_dict` is not enough;
`resume_from_step` aligns both with the step the checkpoint recorded.

Run: python examples/accelerate_resume.py    (one process; the same code runs under
`accelerate launch --num_processes N`)    needs: pip install accelerate
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

STARTS, ENDS = [0, 30, 75, 130], [30, 75, 130, 200]


class Frames(Dataset):
    def __len__(self) -> int:
        return ENDS[-1]

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.tensor(index)


def run(total_steps: int, resume_step: int | None = None) -> dict[int, list[int]]:
    dataset, seen = Frames(), {}
    # --8<-- [start:accelerate]
    from accelerate import Accelerator
    from torch.utils.data import DataLoader

    from episampler import EpisodeAwareSampler
    from episampler.integrations.accelerate import resume_from_step

    accelerator = Accelerator(cpu=True)
    sampler = EpisodeAwareSampler(STARTS, ENDS, shuffle=True, seed=3)  # num_replicas=1
    loader = accelerator.prepare(DataLoader(dataset, sampler=sampler, batch_size=8))
    step = 0
    if resume_step is not None:  # the step your checkpoint recorded
        resume_from_step(loader, resume_step)
        step = resume_step
    while step < total_steps:
        for batch in loader:
            seen[step] = batch.tolist()  # your training step
            step += 1
            if step == total_steps:
                break
    # --8<-- [end:accelerate]
    return seen


def main() -> None:
    uninterrupted = run(60)  # 25 batches per epoch: 2.4 epochs
    resumed = run(60, resume_step=33)  # a checkpoint inside epoch 1
    assert sorted(resumed) == list(range(33, 60))
    assert all(resumed[s] == uninterrupted[s] for s in range(33, 60))
    print("accelerate: resumed at step 33 (epoch 1), steps 33..59 identical")


if __name__ == "__main__":
    main()
