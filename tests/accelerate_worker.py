"""One process of the accelerate resume test (launched by tests/test_accelerate.py as
`python -m tests.accelerate_worker`).

Runs an uninterrupted 3-epoch stream through a dataloader prepared by accelerate, then for each
checkpoint step a fresh sampler + loader resumed with `resume_from_step`, and writes every batch
this process saw to `<out>/rank<r>.json`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from accelerate import Accelerator
from torch.utils.data import DataLoader, Dataset

from episampler import EpisodeAwareSampler, MixtureSampler
from episampler.integrations.accelerate import resume_from_step
from tests.support import endless_batches

FROM, TO = [0, 10, 25], [10, 22, 31]  # 28 frames
EPOCHS = 3
# The global orders, and a windowed one (episodes 0 and 2 form one unit).
ORDERS = {
    "uniform": {"permutation": "uniform"},
    "feistel": {"permutation": "feistel"},
    "feistel windowed": {"permutation": "feistel", "window": 7, "episode_groups": [0, 1, 0]},
    "feistel streams": {"permutation": "feistel", "window": 5, "streams": 2, "stream_block": 8},
    # Not EpisodeAwareSampler arguments: a mixture whose every epoch covers the 28 frames.
    "mixture": {},
}


class FrameDataset(Dataset):
    """Returns the row index, so batches show the sampler's order."""

    def __len__(self) -> int:
        return 31

    def __getitem__(self, index: int) -> int:
        return index


def prepared_loader(accelerator, batch_size, order, gradient_accumulation_steps):
    if order == "mixture":
        first = EpisodeAwareSampler(FROM[:2], TO[:2], shuffle=True, seed=3)
        second = EpisodeAwareSampler([0], [6], shuffle=True, seed=4, permutation="feistel")
        sampler = MixtureSampler([first, second], [22, 6], offsets=[0, 25], block_size=14)
    else:
        sampler = EpisodeAwareSampler(FROM, TO, shuffle=True, seed=3, **ORDERS[order])
    loader = DataLoader(FrameDataset(), sampler=sampler, batch_size=batch_size)
    return accelerator.prepare(loader)


def main() -> None:
    out = Path(sys.argv[1])
    accelerator = Accelerator(cpu=True)
    results = {}
    for batch_size in (4, 3):
        for permutation in ORDERS:
            for accumulation in (1, 2):
                batches = -(-28 // batch_size)
                batches_per_epoch = -(-batches // accelerator.num_processes)
                steps_per_epoch = -(-batches_per_epoch // accumulation)
                total = EPOCHS * batches_per_epoch
                loader = prepared_loader(accelerator, batch_size, permutation, accumulation)
                stream = endless_batches(loader, total)
                checkpoints = {
                    "inside epoch 0": 1,
                    "epoch boundary": steps_per_epoch,
                    "inside epoch 2": 2 * steps_per_epoch + 1,
                }
                resumed = {}
                for name, step in checkpoints.items():
                    loader = prepared_loader(accelerator, batch_size, permutation, accumulation)
                    resume_from_step(loader, step, gradient_accumulation_steps=accumulation)
                    # Batches taken by `step` optimiser steps: the last step of an epoch may
                    # accumulate fewer (accelerate syncs at the end of the dataloader).
                    epochs_done, steps_into_epoch = divmod(step, steps_per_epoch)
                    done = epochs_done * batches_per_epoch + steps_into_epoch * accumulation
                    resumed[name] = {"done": done, "rest": endless_batches(loader, total - done)}
                key = f"batch_size={batch_size} {permutation} accumulation={accumulation}"
                results[key] = {"stream": stream, "resumed": resumed}
    (out / f"rank{accelerator.process_index}.json").write_text(json.dumps(results))
    accelerator.wait_for_everyone()


if __name__ == "__main__":
    main()
