"""One rank of a 2-process `EpisodeStream` run (a real gloo process group), started by
tests/real_lerobot/test_stream.py: reads one epoch from the server through a DataLoader with 2
workers, from step `--step` (`resume_from_step`), and writes its batches' indices as JSON.

    python -m tests.real_lerobot.stream_ranks URL CACHE OUT --step N  (with RANK, WORLD_SIZE,
    MASTER_ADDR and MASTER_PORT set, as torchrun sets them)
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("cache", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--step", type=int, default=0)
    parser.add_argument("--repo-id", default="episampler/stream")
    parser.add_argument("--batch", type=int, default=4)
    args = parser.parse_args()

    import torch.distributed as dist
    from torch.utils.data import DataLoader

    from episampler import resume_from_step
    from episampler.integrations.lerobot import EpisodeStream

    dist.init_process_group("gloo")
    try:  # num_replicas and rank come from the process group
        episodes = EpisodeStream(args.repo_id, root=args.url, seed=3, window=20,
                                 batch_size=args.batch, cache_dir=args.cache)  # fmt: skip
        loader = DataLoader(episodes, batch_size=args.batch, num_workers=2)
        if args.step:
            resume_from_step(loader, args.step)
        batches = [batch["index"].tolist() for batch in loader]
        args.out.write_text(json.dumps({"rank": dist.get_rank(), "batches": batches}))
        dist.barrier()
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
