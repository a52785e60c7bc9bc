"""Several datasets in lerobot-train (`--episampler.datasets`), LeRobot 0.6's real training entry
point on CPU (tiny ACT) with datasets recorded by LeRobot's own writer.

- A run stopped after a checkpoint past the first mixture epoch and resumed with `--resume=true`
  takes, step for step, the (dataset, frame) pairs of the uninterrupted run, with 0 and 2
  DataLoader workers and on 2 gloo processes.
- The consumed stream holds each dataset's exact share in every full block, and each dataset is
  read through its own epochs (every frame once before any repeats).
- The normalisation stats equal the stats of the frames an epoch of the mixture draws.
- Bad input is refused before anything trains, naming the dataset.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.real_lerobot.conftest import lerobot_version, require_lerobot

require_lerobot("0.6")
VERSIONS = pytest.mark.lerobot_versions  # what differs between LeRobot versions (Makefile)

import numpy as np  # noqa: E402

from tests.real_lerobot.record import offline_environment, record_dataset  # noqa: E402
from tests.real_lerobot.test_train import (  # noqa: E402
    resume_arguments,
    tiny_act_arguments,
    train,
)
from tests.support import REPOSITORY  # noqa: E402

LENGTHS = {"a": [17, 21, 20], "b": [9, 11, 6]}  # 58 and 26 frames
WEIGHTS = {"a": 0.7, "b": 0.3}
BLOCK = 10  # 7 of a and 3 of b in every block
BATCH_SIZE, SEED = 4, 7
EPOCH = sum(map(sum, LENGTHS.values()))  # 84 positions: 8 full blocks and one of 4


@pytest.fixture(scope="module")
def roots(tmp_path_factory) -> dict[str, Path]:
    data = tmp_path_factory.mktemp("data")
    return {
        name: record_dataset(data / name, f"local/mix-{name}", lengths, video=True)
        for name, lengths in LENGTHS.items()
    }


def datasets_option(roots, weights=WEIGHTS) -> str:
    specs = [
        {"repo_id": f"local/mix-{name}", "root": str(root), **({"weight": weights[name]})}
        for name, root in roots.items()
    ]
    return "--episampler.datasets=" + json.dumps(specs)


def read_options(num_workers: int, window: str = "10") -> list[str]:
    """With workers, the read-local window and (where supported) the batched fetch, per dataset."""
    from episampler.lerobot.fetch import FETCH_TESTED_VERSIONS

    if num_workers == 0:
        return []
    fetch = str(lerobot_version() in FETCH_TESTED_VERSIONS).lower()
    return [f"--episampler.window={window}", f"--episampler.batched_fetch={fetch}"]


def run_arguments(
    roots, out: Path, num_workers: int, steps: int, checkpoint: int, window: str = "10"
) -> list[str]:
    return [
        datasets_option(roots), f"--episampler.block_size={BLOCK}",
        *read_options(num_workers, window),
        *tiny_act_arguments(out, num_workers, steps, checkpoint),
    ]  # fmt: skip


def uninterrupted_and_resumed(
    roots, tmp_path, num_workers, steps, checkpoint, processes=1, window="10"
):
    runs = {}
    for name, stop_after in (("uninterrupted", None), ("stopped", checkpoint)):
        out = tmp_path / name
        arguments = run_arguments(roots, out, num_workers, steps, checkpoint, window)
        runs[name] = train(tmp_path / f"{name}.jsonl", "episampler", *arguments,
                           stop_after=stop_after, processes=processes)  # fmt: skip
    assert all(len(batches) == checkpoint for batches in runs["stopped"])
    resumed = train(tmp_path / "resumed.jsonl", "episampler",
                    *resume_arguments(tmp_path / "stopped"), processes=processes)  # fmt: skip
    return runs["uninterrupted"], [a + b for a, b in zip(runs["stopped"], resumed, strict=True)]


def global_stream(per_rank: list[list[list]], steps_per_epoch: int) -> list[list[tuple]]:
    """Every epoch's positions in the mixture's order: the ranks' batches interleaved the way
    accelerate dealt them (round-robin), the padding of the last round cut off."""
    epochs = []
    for start in range(0, len(per_rank[0]), steps_per_epoch):
        stream = []
        for step in range(start, min(start + steps_per_epoch, len(per_rank[0]))):
            for batches in per_rank:
                stream += [tuple(pair) for pair in batches[step]]
        epochs.append(stream[:EPOCH])
    return epochs


def check_mixture_stream(epochs: list[list[tuple]]) -> None:
    """Exact block counts in every full block, and each dataset read through its own epochs."""
    sizes = [sum(LENGTHS["a"]), sum(LENGTHS["b"])]
    for stream in epochs:
        for start in range(0, len(stream) - BLOCK + 1, BLOCK):
            counts = Counter(c for c, _ in stream[start : start + BLOCK])
            assert (counts[0], counts[1]) == (7, 3), (start, counts)
    draws = [[frame for epoch in epochs for c, frame in epoch if c == k] for k in (0, 1)]
    for k, size in enumerate(sizes):
        for start in range(0, len(draws[k]) - size + 1, size):  # every whole pass: each frame once
            assert sorted(draws[k][start : start + size]) == list(range(size)), (k, start)
    assert len(draws[1]) > sizes[1]  # dataset b was read into its second epoch


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.parametrize(("num_workers", "window"), [(0, None), (2, "10"), (2, "auto")])
def test_mixture_run_resumes_exactly_with_exact_block_counts(roots, tmp_path, num_workers, window):
    # 21 steps per mixture epoch; the checkpoint at step 24 is past the first epoch.
    steps, checkpoint = 32, 24
    [uninterrupted], [resumed] = uninterrupted_and_resumed(
        roots, tmp_path, num_workers, steps, checkpoint, window=window
    )
    assert len(uninterrupted) == steps
    assert resumed == uninterrupted
    check_mixture_stream(global_stream([uninterrupted], -(-EPOCH // BATCH_SIZE)))
    saved = json.loads(
        (tmp_path / "stopped/checkpoints/last/training_state/episampler.json").read_text()
    )
    assert [d["weight"] for d in saved["options"]["datasets"]] == [0.7, 0.3]
    assert saved["sampler"]["block_counts"] == [7, 3]
    assert saved["options"]["window"] == {None: None, "10": 10, "auto": "auto"}[window]
    log = (tmp_path / "uninterrupted.log").read_text()  # the datasets and the blocks, logged
    for c, (name, frames, weight, slots) in enumerate([("a", 58, 0.7, 7), ("b", 26, 0.3, 3)]):
        line = (f"episampler mixture: dataset {c} (local/mix-{name}), {frames} frames, weight "
                f"{weight}, {slots} of {BLOCK} slots per block, ")  # fmt: skip
        assert line in log, line
    assert "MixtureSampler(components=2, block_counts=[7, 3], block_size=10" in log
    if window == "auto":  # each dataset's window fits half of LeRobot's default decoder cache
        for c, name in enumerate("ab"):
            line = f"dataset {c} (local/mix-{name}), its share of the decoder cache (50 of 100): "
            assert line + "window='auto': " in log, line


@VERSIONS
@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_mixture_run_on_two_processes_resumes_exactly(roots, tmp_path):
    # 84 positions = 21 batches: 11 steps per epoch on each process (the last round padded);
    # the checkpoint at step 13 is past the first epoch.
    steps, checkpoint = 18, 13
    uninterrupted, resumed = uninterrupted_and_resumed(
        roots, tmp_path, 0, steps, checkpoint, processes=2
    )
    for rank in range(2):
        assert resumed[rank] == uninterrupted[rank], rank
    check_mixture_stream(global_stream(uninterrupted, -(-EPOCH // (2 * BATCH_SIZE))))


@VERSIONS
def test_stats_are_those_of_the_frames_an_epoch_draws(roots, monkeypatch):
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from episampler import MixtureSampler
    from episampler.lerobot.datasets import draws_per_epoch, mixture_stats

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    parts = [LeRobotDataset(f"local/mix-{name}", root=root) for name, root in roots.items()]
    # One block per epoch, 58 of a and 52 of b: a's frames once and b's twice (whole passes, so
    # the drawn frames' stats are exact, and they differ from a size-weighted aggregate).
    sampler = MixtureSampler.from_lerobot(
        parts, [58, 52], block_size=110, samples_per_epoch=110, seed=SEED
    )
    assert draws_per_epoch(sampler) == [58, 52]
    stats = mixture_stats(parts, draws_per_epoch(sampler))
    offsets = sampler.offsets
    drawn = {key: [] for key in ("observation.state", "action")}
    columns = [{key: np.asarray(p.hf_dataset[key]) for key in drawn} for p in parts]
    for row in sampler.epoch_indices(0).tolist():
        c = 1 if row >= offsets[1] else 0
        for key in drawn:
            drawn[key].append(columns[c][key][row - offsets[c]])
    for key, values in drawn.items():
        values = np.stack(values).astype(np.float64)
        np.testing.assert_allclose(stats[key]["mean"], values.mean(axis=0), rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(stats[key]["std"], values.std(axis=0), rtol=1e-5, atol=1e-9)
        np.testing.assert_array_equal(stats[key]["min"], values.min(axis=0))
        np.testing.assert_array_equal(stats[key]["max"], values.max(axis=0))
        assert int(np.asarray(stats[key]["count"]).item()) == 110
        by_size = mixture_stats(parts, [len(p) for p in parts])[key]["mean"]
        assert not np.allclose(by_size, values.mean(axis=0)), key  # the weighting matters


def refused(tmp_path: Path, *arguments: str) -> str:
    """Run episampler-lerobot-train with `arguments`; it must fail before training. Returns
    its error output."""
    out = tmp_path / "out"
    env = {**os.environ, **offline_environment(tmp_path / "cache")}
    command = [sys.executable, "-m", "episampler.lerobot", *arguments,
               "--policy.type=act", "--policy.pretrained_backbone_weights=null",
               "--policy.device=cpu", "--policy.push_to_hub=false", "--wandb.enable=false",
               "--steps=4", "--save_freq=2", "--batch_size=4", f"--output_dir={out}"]  # fmt: skip
    result = subprocess.run(command, cwd=REPOSITORY, env=env, capture_output=True, text=True,
                            timeout=300)  # fmt: skip
    assert result.returncode != 0, result.stdout[-3000:]
    assert not (out / "checkpoints").exists()  # nothing trained
    return result.stderr


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_bad_datasets_are_refused_naming_the_dataset(roots, tmp_path_factory):
    a, b = (str(roots[name]) for name in ("a", "b"))
    tmp = tmp_path_factory.mktemp("refused")
    no_video = record_dataset(tmp / "nv", "local/no-video", [5, 6], video=False)
    old = tmp / "old" / "local" / "old-format"
    shutil.copytree(b, old)
    info = json.loads((old / "meta/info.json").read_text())
    (old / "meta/info.json").write_text(json.dumps({**info, "codebase_version": "v2.1"}))

    def spec(repo_id, root, **weight):
        return {"repo_id": repo_id, "root": root, **weight}

    cases = {
        "missing root": (
            [spec("local/mix-a", a), spec("local/gone", str(tmp / "gone"))],
            r"dataset 1 \(local/gone\): root .*gone is not a directory",
        ),
        "mismatched features": (
            [spec("local/mix-a", a), spec("local/no-video", str(no_video))],
            r"dataset 1 \(local/no-video\) differs from dataset 0 \(local/mix-a\): it has no "
            r"feature 'observation\.images",
        ),
        "weights of the wrong length": (
            [spec("local/mix-a", a, weight=0.7), spec("local/mix-b", b)],
            r"give a weight for every dataset or for none; 1 of 2 have none \(local/mix-b\)",
        ),
        "negative weight": (
            [spec("local/mix-a", a, weight=1.0), spec("local/mix-b", b, weight=-0.5)],
            r"datasets\[1\] \(local/mix-b\): weight must be finite and >= 0, got -0\.5",
        ),
        "v2.1 dataset": (
            [spec("local/mix-a", a), spec("local/old-format", str(old))],
            r"dataset 1 \(local/old-format\): format v2\.1; several datasets need LeRobot's "
            r"format v3",
        ),
    }
    import re

    for name, (specs, message) in cases.items():
        error = refused(tmp / name.replace(" ", "-"), "--episampler.datasets=" + json.dumps(specs))
        assert re.search(message, error), (name, error[-2000:])
        assert "Traceback" not in error, (name, error[-2000:])
    error = refused(tmp / "both", datasets_option(roots), "--dataset.repo_id=local/mix-a")
    assert "--episampler.datasets replaces --dataset.repo_id" in error
    error = refused(tmp / "split", datasets_option(roots), "--dataset.eval_split=0.2")
    assert "--dataset.eval_split applies to one dataset; it is refused with several" in error


@VERSIONS
def test_items_keep_their_task_and_carry_their_dataset_index(tmp_path_factory):
    """The mixture's items: each dataset's own task strings (its episodes' tasks, not the first
    dataset's), `dataset_index` the component, with `dataset[i]` and with the batched fetch."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from episampler import MixtureSampler
    from episampler.lerobot import BatchedFetch
    from episampler.lerobot.datasets import MixtureDataset

    data = tmp_path_factory.mktemp("tasks")
    tasks = {"x": ["open the drawer", "close the drawer"], "y": ["stack the cubes"]}
    lengths = {"x": [5, 6], "y": [7]}
    parts = []
    for name in ("x", "y"):
        root = record_dataset(data / name, f"local/tasks-{name}", lengths[name], video=True,
                              tasks=tasks[name])  # fmt: skip
        parts.append(LeRobotDataset(f"local/tasks-{name}", root=root))
    sampler = MixtureSampler.from_lerobot(parts, [1, 1], block_size=2, seed=SEED)
    expected = [
        (c, tasks[name][int(parts[c][r]["episode_index"])])
        for c, name in enumerate(("x", "y"))
        for r in range(len(parts[c]))
    ]
    for wrap in (lambda d: d, BatchedFetch):
        mixture = MixtureDataset([wrap(p) for p in parts], {}, sampler)
        one_by_one = [mixture[i] for i in range(len(mixture))]
        batched = mixture.__getitems__(list(range(len(mixture))))
        for items in (one_by_one, batched):
            assert [(int(item["dataset_index"]), item["task"]) for item in items] == expected
