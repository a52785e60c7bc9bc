"""One rank of the plain-DDP tests (launched by tests/test_distributed.py as
`python -m tests.distributed_worker`, like torchrun would).

Every rank builds `EpisodeAwareSampler(..., num_replicas=W, rank=r)` itself, reads it through a
`DataLoader`, and writes what it saw to `<out>/<phase>-rank<r>.json`. Phases:

- `main` (W=3), for the global orders and a mixture of two datasets: three epochs as an
  endless stream and with `set_epoch` per epoch; the state of
  every rank after every batch (gathered to compare); resume of every rank from checkpoints that
  rank 0 saved with `torch.save`; the second half of the 2 -> 3 elastic resume and the first half
  of the 3 -> 2 one.
- `elastic-first` (W=2): the first half of the 2 -> 3 elastic resume.
- `elastic-second` (W=2): the second half of the 3 -> 2 elastic resume.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset

from episampler import EpisodeAwareSampler, MixtureSampler
from tests.support import endless_batches

LENGTHS = [7, 12, 1, 20, 15, 9, 11, 13, 15]  # 103 frames: padding for W = 2 and W = 3
GAP = 2  # unused rows between episodes, so frames are not simply 0..102
FROM = [sum(LENGTHS[:e]) + GAP * e for e in range(len(LENGTHS))]
TO = [start + length for start, length in zip(FROM, LENGTHS, strict=True)]
SEED = 5
BATCH_SIZE = 4
EPOCHS = 3
ELASTIC_EPOCH = 1
# Batches each rank reads before the elastic checkpoint: 2 ranks * 4 batches * 4 = 32 positions
# (71 left: 3 ranks get 24 each, one padded); 3 ranks * 3 * 4 = 36 (67 left: 2 ranks get 34).
ELASTIC_BATCHES = {2: 4, 3: 3}


class FrameDataset(Dataset):
    """Returns the row index, so batches show the sampler's order."""

    def __len__(self) -> int:
        return TO[-1]

    def __getitem__(self, index: int) -> int:
        return index


def mixture() -> MixtureSampler:
    """The first 5 episodes and the last 4 as two datasets, one block per epoch holding each
    one's size: every epoch covers every frame once, like the other orders."""
    split = FROM[5]
    first = EpisodeAwareSampler(FROM[:5], TO[:5], shuffle=True, seed=SEED)
    second = EpisodeAwareSampler([f - split for f in FROM[5:]], [t - split for t in TO[5:]],
                                 shuffle=True, seed=SEED + 1, permutation="feistel")  # fmt: skip
    sizes = [first.num_frames, second.num_frames]
    world = {"num_replicas": dist.get_world_size(), "rank": dist.get_rank()}
    return MixtureSampler(
        [first, second], sizes, offsets=[0, split], block_size=sum(sizes), seed=SEED, **world
    )


ORDERS = ("uniform", "feistel", "mixture", "streams")
# Worker-aware streams: stream_block shapes the order, so it stays fixed across world sizes (an
# elastic resume keeps the order; its locality then suits the first world size).
STREAMS = {"window": 6, "streams": 2, "stream_block": 2 * BATCH_SIZE}


def make_loader(permutation: str) -> DataLoader:
    if permutation == "mixture":
        return DataLoader(FrameDataset(), sampler=mixture(), batch_size=BATCH_SIZE)
    options = STREAMS if permutation == "streams" else {"permutation": permutation}
    sampler = EpisodeAwareSampler(
        FROM,
        TO,
        shuffle=True,
        seed=SEED,
        num_replicas=dist.get_world_size(),
        rank=dist.get_rank(),
        **options,
    )
    return DataLoader(FrameDataset(), sampler=sampler, batch_size=BATCH_SIZE)


def gather(value):
    gathered = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, value)
    return gathered


def stream_with_states(loader: DataLoader, count: int) -> tuple[list[list[int]], list]:
    """`count` batches of a loop that re-iterates the loader and never calls `set_epoch`, and
    every rank's `sampler.state_dict()` after each batch."""
    seen: list[list[int]] = []
    states: list = []
    while len(seen) < count:
        for batch in itertools.islice(loader, count - len(seen)):
            seen.append(batch.tolist())
            states.append(gather(loader.sampler.state_dict()))
    return seen, states


def checkpoint_on_rank0(state: dict, path: Path) -> dict:
    """Rank 0 saves the sampler state, every rank loads the file: a DDP checkpoint."""
    if dist.get_rank() == 0:
        torch.save(state, path)
    dist.barrier()
    return torch.load(path, weights_only=True)


def rest_of_epoch(loader: DataLoader) -> list[int]:
    return [index for batch in loader for index in batch.tolist()]


def main_phase(out: Path) -> dict:
    results: dict = {}
    batches_per_epoch = len(make_loader("uniform"))
    total = EPOCHS * batches_per_epoch
    for permutation in ORDERS:
        stream, states = stream_with_states(make_loader(permutation), total)
        with_set_epoch = []
        loader = make_loader(permutation)
        for epoch in range(EPOCHS):
            loader.sampler.set_epoch(epoch)
            with_set_epoch.extend(batch.tolist() for batch in loader)
        resumed = {}
        for done in (1, batches_per_epoch - 1, batches_per_epoch, 2 * batches_per_epoch + 2):
            # Every rank holds the same state in lockstep; rank 0's is the one saved.
            state = checkpoint_on_rank0(states[done - 1][0], out / f"{permutation}-{done}.pt")
            loader = make_loader(permutation)
            loader.sampler.load_state_dict(state)
            resumed[done] = endless_batches(loader, total - done)
        results[permutation] = {
            "stream": stream,
            "with_set_epoch": with_set_epoch,
            "states": states,
            "resumed": resumed,
        }
    results["elastic_2_to_3"] = elastic_second_half(out, 2)
    results["elastic_3_to_2"] = elastic_first_half(out)
    return results


def elastic_first_half(out: Path) -> dict:
    world_size = dist.get_world_size()
    loader = make_loader("feistel")
    loader.sampler.set_epoch(ELASTIC_EPOCH)
    seen = endless_batches(loader, ELASTIC_BATCHES[world_size])
    state = loader.sampler.state_dict()
    assert all(other == state for other in gather(state)), "ranks disagree on the state"
    if dist.get_rank() == 0:
        (out / f"elastic-from-{world_size}.json").write_text(json.dumps(state))
    return {"seen": [index for batch in seen for index in batch], "state": state}


def elastic_second_half(out: Path, saved_by: int) -> dict:
    state = json.loads((out / f"elastic-from-{saved_by}.json").read_text())
    loader = make_loader("feistel")
    loader.sampler.load_state_dict(state)
    return {"seen": rest_of_epoch(loader), "state": state}


def main() -> None:
    out, phase = Path(sys.argv[1]), sys.argv[2]
    dist.init_process_group("gloo")
    try:
        if phase == "main":
            results = main_phase(out)
        elif phase == "elastic-first":
            results = elastic_first_half(out)
        elif phase == "elastic-second":
            results = elastic_second_half(out, 3)
        else:
            raise SystemExit(f"unknown phase {phase!r}")
        (out / f"{phase}-rank{dist.get_rank()}.json").write_text(json.dumps(results))
        dist.barrier()
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
