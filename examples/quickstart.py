"""Quick start: a shuffled, episode-aware training loop with DataLoader worker processes that
resumes at the exact sample after a crash.

The loop checkpoints only its step: `resume_from_step` turns the step back into the sampler's
position, reading the batch size and `drop_last` from the loader, which stays exact however far
the workers prefetched. (Saving
`sampler.state_dict()` inside the loop would not be: with worker processes the sampler runs
ahead of the batches the loop has received.)

Run: python examples/quickstart.py
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

EPISODE_STARTS = [0, 120, 250, 260, 400]  # first frame of every episode
EPISODE_ENDS = [120, 250, 260, 400, 530]  # end (exclusive) of every episode


class Frames(Dataset):
    """Stands for your dataset: item `i` is frame `i` (a LeRobotDataset works the same)."""

    def __len__(self) -> int:
        return EPISODE_ENDS[-1]

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.tensor(index)


class Crash(Exception):
    """Stands for the process dying (a preemption, an out-of-memory kill)."""


def train(checkpoint: dict | None, total_steps: int, crash_at: int | None = None) -> tuple:
    """Trains until `total_steps` (or a simulated crash); returns the frames of every step and
    the last checkpoint saved."""
    dataset, seen, saved = Frames(), {}, None
    starts, ends = EPISODE_STARTS, EPISODE_ENDS

    def train_step(batch):
        if step == crash_at:
            raise Crash
        seen[step] = batch.tolist()

    def save(state):
        nonlocal saved
        saved = dict(state)

    try:
        # --8<-- [start:loop]
        from torch.utils.data import DataLoader

        from episampler import EpisodeAwareSampler, resume_from_step

        sampler = EpisodeAwareSampler(starts, ends, drop_n_last_frames=7, shuffle=True, seed=1)
        loader = DataLoader(dataset, sampler=sampler, batch_size=16, num_workers=2)

        step = checkpoint["step"] if checkpoint else 0
        # The step alone gives the sampler's exact position, with or without workers:
        resume_from_step(loader, step)
        while step < total_steps:
            for batch in loader:  # each pass over the loader is the next epoch, reshuffled
                train_step(batch)
                step += 1
                if step % 10 == 0:
                    save({"step": step})  # with your model's and optimiser's state
                if step == total_steps:
                    break
        # --8<-- [end:loop]
    except Crash:
        pass
    return seen, saved


def main() -> None:
    total = 100  # about 3.2 epochs of 495 frames in batches of 16
    uninterrupted, _ = train(None, total)
    crashed, checkpoint = train(None, total, crash_at=47)  # dies 7 steps after a checkpoint
    assert checkpoint == {"step": 40}
    resumed, _ = train(checkpoint, total)
    assert sorted(resumed) == list(range(40, total))
    for step in range(40, total):
        assert resumed[step] == uninterrupted[step], step
    for step in range(40):
        assert crashed[step] == uninterrupted[step], step
    frames_of_epoch_0 = sorted(f for s in range(31) for f in uninterrupted[s])
    assert len(frames_of_epoch_0) == len(set(frames_of_epoch_0)) == 495  # each kept frame once
    print(f"resumed at step 40 after a crash at step 47: steps 40..{total - 1} identical")


if __name__ == "__main__":
    main()
