"""lerobot-train (LeRobot 0.6.1's real training entry point) with episampler: a run stopped after a
checkpoint and resumed with LeRobot's own `--resume=true` consumes, step for step, exactly the
frames of an uninterrupted run, with 0 and 2 DataLoader workers. LeRobot alone does not."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.real_lerobot.conftest import require_lerobot

require_lerobot("0.6")

from episampler import EpisodeAwareSampler  # noqa: E402
from tests.real_lerobot.record import offline_environment, record_dataset  # noqa: E402
from tests.real_lerobot.train_runner import STOPPED_EXIT_CODE  # noqa: E402
from tests.support import REPOSITORY  # noqa: E402

LENGTHS = [17, 21, 20]  # 58 frames: an epoch is 14 batches of 4 and one of 2
BATCH_SIZE, SEED = 4, 7
STEPS, CHECKPOINT = 32, 18  # the checkpoint is 3 steps into epoch 1; the run ends in epoch 2
STEPS_PER_EPOCH = -(-sum(LENGTHS) // BATCH_SIZE)


@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory) -> Path:
    return record_dataset(tmp_path_factory.mktemp("data"), "local/train", LENGTHS, video=True)


def train(dataset_root: Path, out: Path, mode: str, *args: str, stop_after: int | None = None):
    """One lerobot-train process (tiny ACT policy on CPU); returns the batches it consumed."""
    record = out.parent / f"{out.name}-{len(list(out.parent.glob(out.name + '-*')))}.jsonl"
    env = {**os.environ, **offline_environment(out.parent / "cache"), "OMP_NUM_THREADS": "1"}
    if stop_after is not None:
        env["STOP_AFTER_STEPS"] = str(stop_after)
    command = [sys.executable, "-m", "tests.real_lerobot.train_runner", str(record), mode, *args]
    result = subprocess.run(
        command, cwd=REPOSITORY, env=env, capture_output=True, text=True, timeout=600
    )
    expected_code = 0 if stop_after is None else STOPPED_EXIT_CODE
    assert result.returncode == expected_code, result.stdout[-4000:] + result.stderr[-8000:]
    return [json.loads(line) for line in record.read_text().splitlines()]


def new_run_arguments(dataset_root: Path, out: Path, num_workers: int) -> list[str]:
    return [
        "--dataset.repo_id=local/train", f"--dataset.root={dataset_root}",
        "--policy.type=act", "--policy.pretrained_backbone_weights=null",
        "--policy.dim_model=64", "--policy.n_heads=2", "--policy.dim_feedforward=128",
        "--policy.n_encoder_layers=1", "--policy.n_decoder_layers=1",
        "--policy.chunk_size=5", "--policy.n_action_steps=5",
        "--policy.device=cpu", "--policy.push_to_hub=false", "--wandb.enable=false",
        f"--steps={STEPS}", f"--save_freq={CHECKPOINT}", f"--batch_size={BATCH_SIZE}",
        f"--num_workers={num_workers}", f"--seed={SEED}", "--log_freq=1000",
        f"--output_dir={out}",
    ]  # fmt: skip


def resume_arguments(out: Path) -> list[str]:
    config = out / "checkpoints" / "last" / "pretrained_model" / "train_config.json"
    return ["--resume=true", f"--config_path={config}"]


def stop_and_resume(dataset_root, tmp_path, mode, num_workers):
    out = tmp_path / f"{mode}-stopped"
    stopped = train(dataset_root, out, mode, *new_run_arguments(dataset_root, out, num_workers),
                    stop_after=CHECKPOINT)  # fmt: skip
    assert len(stopped) == CHECKPOINT
    resumed = train(dataset_root, out, mode, *resume_arguments(out))
    return stopped, resumed


def episampler_batches(count: int) -> list[list[int]]:
    """The batches episampler's order makes: each epoch of the sampler LeRobot's train script
    builds, cut into batches of BATCH_SIZE (an epoch ends with its short batch)."""
    ends = list(itertools.accumulate(LENGTHS))
    sampler = EpisodeAwareSampler([0, *ends[:-1]], ends, shuffle=True, seed=SEED)
    batches = []
    for epoch in itertools.count():
        order = sampler.epoch_indices(epoch).tolist()
        batches += [order[i : i + BATCH_SIZE] for i in range(0, len(order), BATCH_SIZE)]
        if len(batches) >= count:
            return batches[:count]
    raise AssertionError("unreachable")


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("num_workers", [0, 2])
def test_stopped_and_resumed_run_consumes_the_uninterrupted_runs_frames(
    dataset_root, tmp_path, num_workers
):
    out = tmp_path / "uninterrupted"
    uninterrupted = train(dataset_root, out, "episampler",
                          *new_run_arguments(dataset_root, out, num_workers))  # fmt: skip
    assert uninterrupted == episampler_batches(STEPS)  # episampler's order, not LeRobot's
    stopped, resumed = stop_and_resume(dataset_root, tmp_path, "episampler", num_workers)
    assert stopped + resumed == uninterrupted


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_lerobot_alone_replays_epoch_0_after_a_resume_in_epoch_1(dataset_root, tmp_path):
    """What the README says LeRobot 0.6.1 alone gets wrong: accelerate calls
    `sampler.set_epoch(0)` when the resumed run first iterates, so LeRobot's sampler replays
    epoch 0 from the saved offset instead of continuing epoch 1."""
    out = tmp_path / "lerobot-uninterrupted"
    uninterrupted = train(dataset_root, out, "lerobot", *new_run_arguments(dataset_root, out, 0))
    stopped, resumed = stop_and_resume(dataset_root, tmp_path, "lerobot", 0)
    assert stopped == uninterrupted[:CHECKPOINT]
    assert stopped + resumed != uninterrupted
    into_epoch = CHECKPOINT - STEPS_PER_EPOCH
    replayed = uninterrupted[into_epoch:STEPS_PER_EPOCH]  # epoch 0's batches from the offset
    assert resumed[: len(replayed)] == replayed


def test_install_is_idempotent_and_refuses_untested_versions(monkeypatch):
    from lerobot.scripts import lerobot_train

    from episampler.integrations import lerobot as integration

    for name in ("EpisodeAwareSampler", "compute_sampler_state", "cycle"):
        monkeypatch.setattr(lerobot_train, name, getattr(lerobot_train, name))  # restored after
    monkeypatch.setattr(lerobot_train, "_episampler_permutation", None, raising=False)
    original_cycle = lerobot_train.cycle

    integration.install(permutation="feistel")
    patched = (lerobot_train.EpisodeAwareSampler, lerobot_train.cycle)
    integration.install(permutation="feistel")
    assert (lerobot_train.EpisodeAwareSampler, lerobot_train.cycle) == patched
    assert lerobot_train.cycle is not original_cycle
    sampler = lerobot_train.EpisodeAwareSampler([0], [9], shuffle=True, seed=1)
    assert isinstance(sampler, EpisodeAwareSampler) and sampler.permutation == "feistel"
    assert lerobot_train.compute_sampler_state(7, 100, 10, 2) == {"epoch": 1, "start_index": 40}
    with pytest.raises(ValueError, match="already installed with permutation='feistel'"):
        integration.install(permutation="uniform")
    with pytest.raises(ValueError, match="permutation must be one of"):
        integration.install(permutation="random")

    monkeypatch.setattr(integration, "TESTED_LEROBOT_VERSIONS", ("0.0.1",))
    with pytest.raises(RuntimeError, match=r"tested with lerobot 0\.0\.1, not 0\.6\.1"):
        integration.install(permutation="feistel")


def test_console_script_is_lerobot_trains_command_line():
    script = Path(sys.executable).parent / "episampler-lerobot-train"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "--dataset.repo_id" in result.stdout and "--resume" in result.stdout
