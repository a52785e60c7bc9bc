"""The read-local (windowed) order on a video-like layout: episodes are stored several to a
video file, and a window keeps each stretch of the epoch inside a few files, so a DataLoader
worker opens few decoders, while every batch still mixes several episodes. With one stream of
windows per worker, each worker reads its own files.

Run: python examples/windowed_video.py
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

EPISODES, FRAMES_PER_EPISODE, EPISODES_PER_FILE = 60, 50, 4
STARTS = np.arange(EPISODES) * FRAMES_PER_EPISODE
ENDS = STARTS + FRAMES_PER_EPISODE
FILE_OF_EPISODE = np.arange(EPISODES) // EPISODES_PER_FILE  # what LeRobot v3 records per episode


class VideoFrames(Dataset):
    """Item `i` says which video file frame `i` would be decoded from."""

    def __len__(self) -> int:
        return int(ENDS[-1])

    def __getitem__(self, index: int) -> torch.Tensor:
        episode = index // FRAMES_PER_EPISODE
        return torch.tensor([index, FILE_OF_EPISODE[episode], episode])


def files_and_episodes_per_batch(sampler) -> tuple[float, float, list[int]]:
    from torch.utils.data import DataLoader

    loader = DataLoader(VideoFrames(), sampler=sampler, batch_size=32, num_workers=2)
    files, episodes, frames = [], [], []
    for batch in loader:
        frames += batch[:, 0].tolist()
        files.append(len(set(batch[:, 1].tolist())))
        episodes.append(len(set(batch[:, 2].tolist())))
    return float(np.mean(files)), float(np.mean(episodes)), frames


def main() -> None:
    # --8<-- [start:windowed]
    from episampler import EpisodeAwareSampler
    from episampler.inspect import io_report

    windowed = EpisodeAwareSampler(
        STARTS,
        ENDS,
        shuffle=True,
        seed=0,
        window=400,  # frames per window (a window never splits a file)
        episode_groups=FILE_OF_EPISODE,  # from_lerobot(..., group_by="video_file") reads these
    )
    shuffled = EpisodeAwareSampler(STARTS, ENDS, shuffle=True, seed=0)  # the global order
    for name, sampler in (("window 400", windowed), ("global", shuffled)):
        report = io_report(
            sampler,
            batch_size=32,
            num_workers=2,
            decoder_cache_size=10,
            episode_groups=FILE_OF_EPISODE,
        )
        mine = report["sampler"]
        print(
            f"{name:>10}: {mine['mean_groups_per_batch']:.1f} files and "
            f"{mine['mean_episodes_per_batch']:.1f} episodes per batch, "
            f"{mine['opens_per_1000_samples']:.0f} decoder opens per 1,000 samples"
        )
    # --8<-- [end:windowed]

    files_w, episodes_w, frames_w = files_and_episodes_per_batch(windowed)
    files_g, _, frames_g = files_and_episodes_per_batch(shuffled)
    assert sorted(frames_w) == sorted(frames_g) == list(range(len(VideoFrames())))  # each once
    assert files_w < files_g / 3, (files_w, files_g)  # reads stay inside few files
    assert episodes_w > 4, episodes_w  # ... and batches still mix several episodes
    report = io_report(windowed, batch_size=32, num_workers=2, decoder_cache_size=10)
    assert report["sampler"]["mean_groups_per_batch"] == files_w  # the report is exact
    assert report["sampler"]["decoder_opens"] < report["uniform"]["decoder_opens"] / 10
    print(
        f"measured through a DataLoader: {files_w:.1f} files per batch windowed, "
        f"{files_g:.1f} global; {episodes_w:.1f} episodes per batch windowed"
    )

    # --8<-- [start:streams]
    from episampler import stream_settings

    per_worker = EpisodeAwareSampler(
        STARTS,
        ENDS,
        shuffle=True,
        seed=0,
        window=400,
        episode_groups=FILE_OF_EPISODE,
        **stream_settings(num_workers=2, batch_size=32),  # one stream of windows per worker
    )
    # --8<-- [end:streams]
    files_s, episodes_s, frames_s = files_and_episodes_per_batch(per_worker)
    assert sorted(frames_s) == sorted(frames_w)  # every frame once, as before
    assert abs(files_s - files_w) < 1 and episodes_s > 0.8 * episodes_w  # batches as diverse
    plain = io_report(windowed, batch_size=32, num_workers=2, decoder_cache_size=10)["sampler"]
    mine = io_report(per_worker, batch_size=32, num_workers=2, decoder_cache_size=10)["sampler"]
    # Each worker reads its own stream's files: about half the files per worker.
    assert sum(mine["worker_groups"]) < 0.7 * sum(plain["worker_groups"]), mine
    print(
        f"one stream per worker: {mine['worker_groups']} files per worker "
        f"(plain window: {plain['worker_groups']})"
    )


if __name__ == "__main__":
    main()
