"""The windowed order on a real LeRobot 0.6 dataset (v3) whose files hold several episodes:
`from_lerobot(..., window=..., group_by=...)` keeps every file's episodes in one window, and every
index it yields loads. The groups are checked against the file paths LeRobot itself resolves."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.real_lerobot.conftest import require_lerobot

require_lerobot("0.6")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"

from lerobot.datasets.lerobot_dataset import LeRobotDataset  # noqa: E402

from episampler import EpisodeAwareSampler  # noqa: E402
from tests.real_lerobot.record import CAMERA, features, frame_values  # noqa: E402

REPO_ID = "episampler/files"
EPISODES, LENGTH = 8, 30
WINDOW = 50


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """Recorded with small file-size limits, so that LeRobot's writer starts new data and video
    files every few episodes, as it does every few hundred megabytes on real data."""
    import datasets

    root = tmp_path_factory.mktemp("files") / REPO_ID
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path_factory.mktemp("cache"))
        dataset = LeRobotDataset.create(
            REPO_ID, 10, features=features(video=True), root=root, use_videos=True,
            video_files_size_in_mb=0.004, data_files_size_in_mb=0.005,
        )  # fmt: skip
        for episode in range(EPISODES):
            for frame in range(LENGTH):
                dataset.add_frame({**frame_values(episode, frame, video=True), "task": "t"})
            dataset.save_episode()
        dataset.finalize()
    return root


def file_of_each_episode(dataset, group_by: str) -> list[str]:
    """The file holding every episode, as LeRobot resolves it to read the episode."""
    meta = dataset.meta
    if group_by == "data_file":
        return [str(meta.get_data_file_path(e)) for e in range(meta.total_episodes)]
    return [str(meta.get_video_file_path(e, CAMERA)) for e in range(meta.total_episodes)]


@pytest.mark.parametrize("group_by", ["video_file", "data_file"])
@pytest.mark.parametrize("selection", [None, [6, 1, 4, 1, 7, 0]])
def test_windows_keep_each_files_episodes_together_and_every_index_loads(
    root, group_by, selection, permutation
):
    dataset = LeRobotDataset(REPO_ID, root=root, episodes=selection)
    files = file_of_each_episode(dataset, group_by)
    selected = sorted(set(range(EPISODES) if selection is None else selection))
    assert len({files[e] for e in selected}) >= 2, "the recording must span several files"
    sampler = EpisodeAwareSampler.from_lerobot(
        dataset, shuffle=True, seed=5, window=WINDOW, group_by=group_by, permutation=permutation
    )
    rows_of_file: dict[str, list[int]] = {}
    for epoch in range(3):
        order = sampler.epoch_indices(epoch).tolist()
        assert sorted(order) == list(range(len(dataset)))
        episodes = dataset.hf_dataset.select(order)["episode_index"]
        file_at = [files[int(e)] for e in episodes]
        assert {int(e) for e in episodes} == set(selected)
        # Each file's frames form a run that no other file interleaves... unless they share a
        # window: cut where the files before and after are disjoint; a piece (inside one window)
        # holds fewer than WINDOW frames plus its largest file's.
        last = {f: p for p, f in enumerate(file_at)}
        largest = max(file_at.count(f) for f in set(file_at))
        start, end = 0, 0
        for position, f in enumerate(file_at):
            end = max(end, last[f])
            if position == end:
                assert position + 1 - start < WINDOW + largest
                start = position + 1
        for row in order[:12]:  # a sample of real loads, video decoded
            item = dataset[row]
            rows_of_file.setdefault(files[int(item["episode_index"])], []).append(row)
    assert rows_of_file


def test_group_by_names_what_it_accepts(root):
    dataset = LeRobotDataset(REPO_ID, root=root)
    with pytest.raises(ValueError, match="group_by must be None or one of"):
        EpisodeAwareSampler.from_lerobot(dataset, shuffle=True, window=8, group_by="camera")
    with pytest.raises(TypeError, match="derives episode_groups"):
        EpisodeAwareSampler.from_lerobot(dataset, window=8, group_by="data_file",
                                         episode_groups=[0] * EPISODES)  # fmt: skip


def test_inspect_reports_on_a_recorded_dataset(root):
    """`python -m episampler.inspect --lerobot-root` on the recording: its groups are the video
    files LeRobot resolves, and in boundary order one worker opens each file once."""
    import subprocess
    import sys

    from tests.support import REPOSITORY

    dataset = LeRobotDataset(REPO_ID, root=root)
    files = set(file_of_each_episode(dataset, "video_file"))
    command = [sys.executable, "-m", "episampler.inspect", "--lerobot-root", str(root),
               "--repo-id", REPO_ID, "--batch-size", "5", "--num-workers", "1",
               "--windows", "0,50"]  # fmt: skip
    result = subprocess.run(command, cwd=REPOSITORY, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout
    assert f"LeRobot dataset {REPO_ID} at {root}, 1 camera(s): {CAMERA}" in output
    assert f"; {len(files)} groups;" in output
    header, *rows_of = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in output.splitlines()
        if line.startswith("| ")
    ]
    rows = {cells[0]: dict(zip(header, cells, strict=True)) for cells in rows_of}
    assert {"boundary", "global (uniform)", "window 50"} <= set(rows)
    opens = rows["boundary"]["decoder opens / 1k samples"]
    assert opens == f"{1000 * len(files) / len(dataset):.2f}"


def test_worker_streams_give_each_dataloader_worker_its_own_files(root):
    """`from_lerobot(..., streams=2, stream_block=B)` read by 2 real DataLoader workers in
    batches of B: every row loads as the frame the order names, and while both streams have
    frames, no video file is read by both workers (a plain window shares its files)."""
    from collections import Counter

    import torch
    from torch.utils.data import DataLoader, get_worker_info

    from episampler import stream_settings

    class WithWorker(torch.utils.data.Dataset):
        def __init__(self, dataset):
            self.dataset = dataset

        def __len__(self):
            return len(self.dataset)

        def __getitem__(self, row):
            item = self.dataset[row]
            return row, int(item["episode_index"]), int(item["frame_index"]), get_worker_info().id

    dataset = LeRobotDataset(REPO_ID, root=root)
    files = file_of_each_episode(dataset, "video_file")
    batch = 5
    settings = stream_settings(num_workers=2, batch_size=batch)
    sampler = EpisodeAwareSampler.from_lerobot(
        dataset, shuffle=True, seed=2, window=WINDOW, group_by="video_file", **settings
    )
    assert (sampler.streams, sampler.stream_block) == (2, batch)
    order = sampler.epoch_indices(0).tolist()
    assert sorted(order) == list(range(len(dataset)))
    table = dataset.hf_dataset
    # Units (files) go to the lighter stream, so the streams' lengths differ by at most the
    # largest file's frames: both have frames for at least this many rounds of 2 batches.
    largest = max(Counter(files[int(e)] for e in table["episode_index"]).values())
    rounds = (len(dataset) - largest) // 2 // batch
    assert rounds >= 2
    loader = DataLoader(WithWorker(dataset), sampler=sampler, batch_size=batch, num_workers=2)
    read: dict[int, set[str]] = {}
    seen = []
    for rows, episodes, frames, workers in loader:
        for row, episode, frame in zip(rows.tolist(), episodes.tolist(), frames.tolist(),
                                       strict=True):  # fmt: skip
            assert (episode, frame) == (int(table[row]["episode_index"]),
                                        int(table[row]["frame_index"]))  # fmt: skip
            seen.append(row)
        if len(seen) <= 2 * rounds * batch:
            read.setdefault(int(workers[0]), set()).update(files[e] for e in episodes.tolist())
    assert seen == order
    assert len(read) == 2 and not (read[0] & read[1])
    assert len(read[0] | read[1]) >= 3
