"""Helpers shared by the test modules."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import warnings
from pathlib import Path

from episampler import EpisodeAwareSampler

REPOSITORY = Path(__file__).resolve().parent.parent

# Three episodes of unequal length with a gap between the second and the third.
FROM = [0, 10, 25]
TO = [10, 22, 31]


def lerobot_frames(from_indices, to_indices, episode_indices_to_use=None, first=0, last=0):
    """LeRobot 0.6's unshuffled order, written out frame by frame: the reference for parity."""
    frames = []
    for episode, (start, end) in enumerate(zip(from_indices, to_indices, strict=True)):
        if episode_indices_to_use is None or episode in episode_indices_to_use:
            if first + last >= end - start:
                continue
            frames.extend(range(start + first, end - last))
    return frames


def make(*args, **kwargs) -> EpisodeAwareSampler:
    """A sampler over FROM/TO unless boundaries are given; skip warnings are not the point."""
    if not args:
        args = (FROM, TO)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return EpisodeAwareSampler(*args, **kwargs)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def launch_ranks(
    worker_module: str,
    world_size: int,
    *args: str,
    timeout: float = 600,
    env: dict[str, str] | None = None,
    returncode: int = 0,
) -> None:
    """Run `python -m worker_module` as `world_size` real processes of one torch.distributed
    group (env:// rendezvous on loopback), the way torchrun starts them, from the repository
    root, with `env` added to the environment; fail with a rank's output if any rank ends with
    another exit code than `returncode`."""
    port = free_port()
    processes = []
    for rank in range(world_size):
        rank_env = dict(
            {**os.environ, **(env or {})},
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=str(port),
            RANK=str(rank),
            LOCAL_RANK=str(rank),
            WORLD_SIZE=str(world_size),
            LOCAL_WORLD_SIZE=str(world_size),
            OMP_NUM_THREADS="1",
        )
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", worker_module, *args],
                cwd=REPOSITORY,
                env=rank_env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    failures = []
    try:
        for rank, process in enumerate(processes):
            output, _ = process.communicate(timeout=timeout)
            if process.returncode != returncode:
                failures.append(
                    f"rank {rank} of {world_size} ended with {process.returncode}:\n{output}"
                )
                break  # the other ranks may wait for this one forever
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.communicate()  # reap it and close its pipe
    assert not failures, failures[0]


def endless_batches(loader, count: int) -> list[list[int]]:
    """`count` batches of a training loop that re-iterates `loader` whenever an iteration ends
    (LeRobot's `cycle`) and never calls `set_epoch`."""
    seen: list[list[int]] = []
    while len(seen) < count:
        for batch in loader:
            seen.append(batch.tolist())
            if len(seen) == count:
                break
    return seen
