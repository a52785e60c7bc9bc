"""lerobot-train with episampler when the dataset changes between the stop and the resume: one
more episode is recorded into the dataset after the run was killed. `--resume=true` is refused
with one line naming the dataset and what changed; with `--episampler.on_data_change=
restart_epoch` the run goes on from the start of the next epoch, in the new data's order."""

from __future__ import annotations

import shutil

import pytest

from tests.real_lerobot.conftest import require_lerobot

require_lerobot("0.6")

from episampler import EpisodeAwareSampler  # noqa: E402
from tests.real_lerobot.record import record_dataset  # noqa: E402
from tests.real_lerobot.test_train import (  # noqa: E402
    BATCH_SIZE,
    CHECKPOINT,
    LENGTHS,
    SEED,
    STEPS,
    new_run_arguments,
    resume_arguments,
    saved_options,
    train,
)


def batches_of_epoch(lengths: list[int], epoch: int) -> list[list[int]]:
    ends = [sum(lengths[: i + 1]) for i in range(len(lengths))]
    starts = [0, *ends[:-1]]
    order = EpisodeAwareSampler(starts, ends, shuffle=True, seed=SEED).epoch_indices(epoch)
    order = order.tolist()
    return [order[i : i + BATCH_SIZE] for i in range(0, len(order), BATCH_SIZE)]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_dataset_changed_before_the_resume_is_refused_or_restarts_the_epoch(tmp_path):
    parent = tmp_path / "data"
    root = record_dataset(parent, "local/train", LENGTHS, video=True)
    out = tmp_path / "run"
    [stopped] = train(tmp_path / "stopped.jsonl", "episampler",
                      *new_run_arguments(root, out, 0, STEPS, CHECKPOINT),
                      stop_after=CHECKPOINT)  # fmt: skip
    assert len(stopped) == CHECKPOINT
    [identity] = saved_options(out)["data"]["datasets"]
    assert (identity["repo_id"], identity["episodes"], identity["frames"]) == ("local/train", 3, 58)
    assert identity["root"] == str(root) and identity["boundaries"].startswith("sha256:")

    # One more episode recorded into the dataset while the run was down.
    new_lengths = [*LENGTHS, 9]
    shutil.rmtree(root)
    assert record_dataset(parent, "local/train", new_lengths, video=True) == root

    error = train(tmp_path / "refused.jsonl", "episampler", *resume_arguments(out),
                  returncode=1)  # fmt: skip
    assert "Traceback" not in error, error[-3000:]
    [line] = [line for line in error.splitlines() if "episampler-lerobot-train: error:" in line]
    assert "the data changed since the checkpoint being resumed" in line
    assert f"local/train, root {root}: episodes 3 -> 4, frames 58 -> 67" in line
    assert "--episampler.on_data_change=restart_epoch" in line
    assert not (tmp_path / "refused.jsonl").exists()  # not one batch was taken

    [resumed] = train(tmp_path / "restarted.jsonl", "episampler", *resume_arguments(out),
                      "--episampler.on_data_change=restart_epoch")  # fmt: skip
    log = (tmp_path / "restarted.log").read_text()
    assert "episodes 3 -> 4" in log and "step 18 starts epoch 2" in log
    # Step 18 was 3 steps into epoch 1 (58 frames: 15 steps per epoch): the rest of epoch 1 is
    # skipped, and the run reads epoch 2 of the new data (67 frames) from its first position.
    assert len(resumed) == STEPS - CHECKPOINT
    assert resumed == batches_of_epoch(new_lengths, 2)[: STEPS - CHECKPOINT]
    assert resumed != batches_of_epoch(LENGTHS, 2)[: STEPS - CHECKPOINT]
    saved = saved_options(out)  # the last checkpoint, at step 32, on the new data
    assert saved["data"]["epoch_origin"] == {"step": CHECKPOINT, "epoch": 2}
    assert saved["data"]["datasets"][0]["episodes"] == 4
    assert saved["data"]["epoch_length"] == 67
