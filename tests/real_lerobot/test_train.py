"""lerobot-train (LeRobot 0.6's real training entry point, 0.6.1 and the 0.6.2 snapshot) with
episampler: a run stopped after a checkpoint and resumed with LeRobot's own `--resume=true`
consumes, step for step, exactly the frames of an uninterrupted run, with 0 and 2 DataLoader
workers, on one process and two, with the read-local window and the batched fetch, and with the
`--episampler.*` options restored from the checkpoint. LeRobot alone does not."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.real_lerobot.conftest import lerobot_version, require_lerobot

require_lerobot("0.6")
VERSIONS = pytest.mark.lerobot_versions  # what differs between LeRobot versions (Makefile)

from episampler import EpisodeAwareSampler  # noqa: E402
from tests.real_lerobot.record import offline_environment, record_dataset  # noqa: E402
from tests.real_lerobot.train_runner import STOPPED_EXIT_CODE  # noqa: E402
from tests.support import REPOSITORY, launch_ranks  # noqa: E402

LENGTHS = [17, 21, 20]  # 58 frames: an epoch is 14 batches of 4 and one of 2
BATCH_SIZE, SEED = 4, 7
STEPS, CHECKPOINT = 32, 18  # one process: the checkpoint is 3 steps into epoch 1 (of 15 steps)
STEPS_PER_EPOCH = -(-sum(LENGTHS) // BATCH_SIZE)


@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory) -> Path:
    return record_dataset(tmp_path_factory.mktemp("data"), "local/train", LENGTHS, video=True)


def train(record: Path, mode: str, *args: str, stop_after: int | None = None, processes: int = 1,
          returncode: int | None = None):  # fmt: skip
    """lerobot-train (tiny ACT policy on CPU) in `processes` processes; returns the batches each
    process consumed."""
    env = {**offline_environment(record.parent / "cache"), "OMP_NUM_THREADS": "1"}
    if stop_after is not None:
        env["STOP_AFTER_STEPS"] = str(stop_after)
    if returncode is None:
        returncode = 0 if stop_after is None else STOPPED_EXIT_CODE
    if processes == 1:
        command = [sys.executable, "-m", "tests.real_lerobot.train_runner", str(record), mode]
        result = subprocess.run([*command, *args], cwd=REPOSITORY, env={**os.environ, **env},
                                capture_output=True, text=True, timeout=600)  # fmt: skip
        assert result.returncode == returncode, result.stdout[-4000:] + result.stderr[-8000:]
        record.with_suffix(".log").write_text(result.stdout + result.stderr)
        if returncode not in (0, STOPPED_EXIT_CODE):
            return result.stderr
        records = [record]
    else:  # ranks of one gloo group, as torchrun or `accelerate launch` start them
        launch_ranks("tests.real_lerobot.train_runner", processes, str(record), mode, *args,
                     env=env, returncode=returncode)  # fmt: skip
        records = [Path(f"{record}.rank{rank}") for rank in range(processes)]
    return [[json.loads(line) for line in path.read_text().splitlines()] for path in records]


def new_run_arguments(dataset_root: Path, out: Path, num_workers: int, steps: int,
                      checkpoint: int) -> list[str]:  # fmt: skip
    return [
        "--dataset.repo_id=local/train", f"--dataset.root={dataset_root}",
        *tiny_act_arguments(out, num_workers, steps, checkpoint),
    ]  # fmt: skip


def tiny_act_arguments(out: Path, num_workers: int, steps: int, checkpoint: int) -> list[str]:
    """A tiny ACT policy trained on the CPU, checkpointing every `checkpoint` steps."""
    return [
        "--policy.type=act", "--policy.pretrained_backbone_weights=null",
        "--policy.dim_model=64", "--policy.n_heads=2", "--policy.dim_feedforward=128",
        "--policy.n_encoder_layers=1", "--policy.n_decoder_layers=1",
        "--policy.chunk_size=5", "--policy.n_action_steps=5",
        "--policy.device=cpu", "--policy.push_to_hub=false", "--wandb.enable=false",
        f"--steps={steps}", f"--save_freq={checkpoint}", f"--batch_size={BATCH_SIZE}",
        f"--num_workers={num_workers}", f"--seed={SEED}", "--log_freq=1000",
        f"--output_dir={out}",
    ]  # fmt: skip


def resume_arguments(out: Path) -> list[str]:
    config = out / "checkpoints" / "last" / "pretrained_model" / "train_config.json"
    return ["--resume=true", f"--config_path={config}"]


def stopped_and_resumed(dataset_root, tmp_path, mode, num_workers, *, steps=STEPS,
                        checkpoint=CHECKPOINT, processes=1, options=()):  # fmt: skip
    """Per process: the batches of a run of `steps` steps killed after its checkpoint at step
    `checkpoint`, followed by those of its resumption with --resume=true (the `--episampler.*`
    options are not repeated: the checkpoint restores them)."""
    out = tmp_path / f"{mode}-stopped"
    arguments = new_run_arguments(dataset_root, out, num_workers, steps, checkpoint)
    stopped = train(tmp_path / f"{mode}-stopped.jsonl", mode, *arguments, *options,
                    stop_after=checkpoint, processes=processes)  # fmt: skip
    assert all(len(batches) == checkpoint for batches in stopped)
    resumed = train(tmp_path / f"{mode}-resumed.jsonl", mode, *resume_arguments(out),
                    processes=processes)  # fmt: skip
    return [a + b for a, b in zip(stopped, resumed, strict=True)]


def uninterrupted_and_resumed(dataset_root, tmp_path, mode, num_workers, *, steps=STEPS,
                              checkpoint=CHECKPOINT, processes=1, options=()):  # fmt: skip
    """Per process: the batches of an uninterrupted run, and those of `stopped_and_resumed`.
    Where episampler's order is known (`episampler_batches`), comparing the stopped and resumed
    run with it is as strong and costs one run less: these runs are what ties that model to
    lerobot-train's real uninterrupted run."""
    out = tmp_path / f"{mode}-uninterrupted"
    arguments = new_run_arguments(dataset_root, out, num_workers, steps, checkpoint)
    uninterrupted = train(tmp_path / f"{mode}-uninterrupted.jsonl", mode, *arguments, *options,
                          processes=processes)  # fmt: skip
    resumed = stopped_and_resumed(dataset_root, tmp_path, mode, num_workers, steps=steps,
                                  checkpoint=checkpoint, processes=processes,
                                  options=options)  # fmt: skip
    return uninterrupted, resumed


def episampler_batches(count: int, processes: int = 1, rank: int = 0,
                       **options) -> list[list[int]]:  # fmt: skip
    """The batches process `rank` takes in episampler's order: each epoch of the sampler LeRobot's
    train script builds, cut into batches of BATCH_SIZE and dealt round-robin to the processes;
    with several, the epoch is first padded with its own first frames to whole rounds of whole
    batches (accelerate's `even_batches`); with one, it ends with its short batch."""
    ends = list(itertools.accumulate(LENGTHS))
    sampler = EpisodeAwareSampler([0, *ends[:-1]], ends, shuffle=True, seed=SEED, **options)
    batches = []
    for epoch in itertools.count():
        order = sampler.epoch_indices(epoch).tolist()
        if processes > 1:
            order += order[: -len(order) % (BATCH_SIZE * processes)]
        epoch_batches = [order[i : i + BATCH_SIZE] for i in range(0, len(order), BATCH_SIZE)]
        batches += epoch_batches[rank::processes]
        if len(batches) >= count:
            return batches[:count]
    raise AssertionError("unreachable")


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("num_workers", [pytest.param(0, marks=VERSIONS), 2])
def test_stopped_and_resumed_run_consumes_the_uninterrupted_runs_frames(
    dataset_root, tmp_path, num_workers
):
    [uninterrupted], [resumed] = uninterrupted_and_resumed(
        dataset_root, tmp_path, "episampler", num_workers
    )
    assert uninterrupted == episampler_batches(STEPS)  # episampler's order, not LeRobot's
    assert resumed == uninterrupted


def saved_options(out: Path) -> dict:
    """The `--episampler.*` options (and the sampler settings they resolved to) that the run in
    `out` saved with its last checkpoint."""
    return json.loads((out / "checkpoints/last/training_state/episampler.json").read_text())


@VERSIONS  # where LeRobot saves checkpoints (every rank on 0.6.2)
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_options_are_restored_on_resume_and_a_contradicting_flag_is_refused(dataset_root, tmp_path):
    # Started with feistel, resumed without the flag: the resumed run continues in feistel order.
    feistel = ("--episampler.permutation=feistel",)
    [resumed] = stopped_and_resumed(dataset_root, tmp_path, "episampler", 0, options=feistel)
    assert resumed == episampler_batches(STEPS, permutation="feistel")
    assert resumed != episampler_batches(STEPS, permutation="uniform")
    out = tmp_path / "episampler-stopped"
    assert saved_options(out)["options"]["permutation"] == "feistel"

    error = train(tmp_path / "refused.jsonl", "episampler", *resume_arguments(out),
                  "--episampler.permutation=uniform", returncode=1)  # fmt: skip
    assert "--episampler.permutation=uniform contradicts the checkpoint being resumed" in error
    assert "--episampler.permutation=feistel" in error
    assert not (tmp_path / "refused.jsonl").exists()  # not one batch was taken


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize(
    ("window", "num_workers"), [("10", 0), ("10", 2), pytest.param("auto", 2, marks=VERSIONS)]
)
def test_window_and_batched_fetch_resume_exactly(dataset_root, tmp_path, window, num_workers):
    """The read-local order, and the batched fetch where LeRobot's version supports it."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from episampler.lerobot.auto_window import auto_window
    from episampler.lerobot.fetch import FETCH_TESTED_VERSIONS
    from episampler.lerobot.layout import lerobot_groups

    fetch = lerobot_version() in FETCH_TESTED_VERSIONS
    if not fetch:  # the batched fetch refuses this version, before anything trains
        out = tmp_path / "refused"
        error = train(tmp_path / "refused.jsonl", "episampler", "--episampler.batched_fetch=true",
                      *new_run_arguments(dataset_root, out, num_workers, STEPS, CHECKPOINT),
                      returncode=1)  # fmt: skip
        assert "--episampler.batched_fetch=true: " in error and "Traceback" not in error
        assert not (tmp_path / "refused.jsonl").exists()
    options = (f"--episampler.window={window}", f"--episampler.batched_fetch={str(fetch).lower()}")
    [resumed] = stopped_and_resumed(
        dataset_root, tmp_path, "episampler", num_workers, options=options
    )
    saved = saved_options(tmp_path / "episampler-stopped")
    assert saved["options"]["batched_fetch"] is fetch
    settings = saved["sampler"]
    dataset = LeRobotDataset("local/train", root=dataset_root)
    if window == "auto":  # the choice is the dataset's, and kept by the checkpoint
        choice = auto_window(dataset)
        assert (settings["window"], settings["group_by"]) == (choice.window, choice.group_by)
    else:
        assert (settings["window"], settings["group_by"]) == (10, None)
    arguments = {k: settings[k] for k in ("window", "streams", "stream_block") if settings[k]}
    if settings["group_by"] is not None:
        arguments["episode_groups"] = lerobot_groups(dataset, settings["group_by"])
    assert resumed == episampler_batches(STEPS, **arguments)
    if settings["window"] is not None:
        assert resumed != episampler_batches(STEPS)  # windowed, not the global order


@VERSIONS  # the data-parallel size LeRobot reports
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_two_processes_resume_exactly_padding_included(dataset_root, tmp_path):
    # 8 steps per epoch on each process (16 batches, the last round padded); the checkpoint is
    # 3 steps into epoch 1, and the run ends inside epoch 2.
    steps, checkpoint = 20, 11
    resumed = stopped_and_resumed(
        dataset_root, tmp_path, "episampler", 0, steps=steps, checkpoint=checkpoint, processes=2
    )
    for rank in range(2):
        assert resumed[rank] == episampler_batches(steps, 2, rank), rank


if lerobot_version() != "0.6.1":  # 0.6.2 on: the loop's step counts micro-batches

    @VERSIONS
    @pytest.mark.slow
    @pytest.mark.timeout(900)
    def test_gradient_accumulation_resumes_exactly(dataset_root, tmp_path):
        """With 2 micro-batches per optimiser step, LeRobot 0.6.2 counts micro-batches in its
        step, saves at step 18 (9 updates) and resumes from the same micro-batch."""
        accumulate = ("--accelerator.gradient_accumulation.steps=2",)
        [resumed] = stopped_and_resumed(dataset_root, tmp_path, "episampler", 0, options=accumulate)
        assert resumed == episampler_batches(STEPS)


@VERSIONS  # a claim about LeRobot itself
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_lerobot_alone_replays_epoch_0_after_a_resume_in_epoch_1(dataset_root, tmp_path):
    """What the README says LeRobot 0.6.1 alone gets wrong: accelerate calls
    `sampler.set_epoch(0)` when the resumed run first iterates, so LeRobot's sampler replays
    epoch 0 from the saved offset instead of continuing epoch 1."""
    [uninterrupted], [resumed] = uninterrupted_and_resumed(dataset_root, tmp_path, "lerobot", 0)
    assert resumed[:CHECKPOINT] == uninterrupted[:CHECKPOINT]
    assert resumed != uninterrupted
    into_epoch = CHECKPOINT - STEPS_PER_EPOCH
    replayed = uninterrupted[into_epoch:STEPS_PER_EPOCH]  # epoch 0's batches from the offset
    assert resumed[CHECKPOINT : CHECKPOINT + len(replayed)] == replayed


@VERSIONS
def test_install_is_idempotent_and_refuses_untested_versions(monkeypatch):
    from lerobot.scripts import lerobot_train

    from episampler import lerobot as integration
    from episampler.lerobot import versions as _versions

    patched_names = ("EpisodeAwareSampler", "compute_sampler_state", "cycle",
                     "make_train_eval_datasets", "save_checkpoint", "make_dataloaders")  # fmt: skip
    for name in patched_names:
        if hasattr(lerobot_train, name):
            monkeypatch.setattr(lerobot_train, name, getattr(lerobot_train, name))  # restored
    monkeypatch.setattr(lerobot_train, "_episampler_installation", None, raising=False)
    original_cycle = lerobot_train.cycle

    integration.install(permutation="feistel")
    patched = (lerobot_train.EpisodeAwareSampler, lerobot_train.cycle)
    integration.install(permutation="feistel")
    assert (lerobot_train.EpisodeAwareSampler, lerobot_train.cycle) == patched
    assert lerobot_train.cycle is not original_cycle
    sampler = lerobot_train.EpisodeAwareSampler([0], [9], shuffle=True, seed=1)
    assert isinstance(sampler, EpisodeAwareSampler) and sampler.permutation == "feistel"
    state = lerobot_train.compute_sampler_state(7, 100, 10, 2)
    assert (state["epoch"], state["start_index"]) == (1, 40)
    with pytest.raises(ValueError, match="already installed with"):
        integration.install(permutation="uniform")
    with pytest.raises(ValueError, match=r"--episampler\.permutation must be one of"):
        integration.install(permutation="random")
    with pytest.raises(ValueError, match=r"--episampler\.window must be none, auto or a number"):
        integration.install(window=0)

    # Versions policy: a tested version whose names check out runs; an untested one of another
    # series is refused unless overridden; names that do not check out are always refused.
    version = lerobot_version()
    profile, warning = _versions.choose(version, lerobot_train)
    assert profile.version == version and warning is None
    monkeypatch.delenv(_versions.UNTESTED_ENV, raising=False)
    with pytest.raises(
        RuntimeError, match=rf"tested with lerobot .*, not 9\.0\.0.*{_versions.UNTESTED_ENV}=1"
    ):
        _versions.choose("9.0.0", lerobot_train)
    profile, warning = _versions.choose("0.6.99", lerobot_train)  # a patch release of 0.6
    assert profile.version == version and "not 0.6.99" in warning
    monkeypatch.setenv(_versions.UNTESTED_ENV, "1")
    profile, warning = _versions.choose("9.0.0", lerobot_train)
    assert profile.version == version and f"{_versions.UNTESTED_ENV}=1 is set" in warning
    monkeypatch.delattr(lerobot_train, "make_train_eval_datasets")
    with pytest.raises(RuntimeError, match=r"lerobot_train\.make_train_eval_datasets is missing"):
        _versions.choose("9.0.0", lerobot_train)
    with pytest.raises(RuntimeError, match="not the released one"):
        _versions.choose(version, lerobot_train)


@VERSIONS
def test_console_script_is_lerobot_trains_command_line():
    script = Path(sys.executable).parent / "episampler-lerobot-train"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "--dataset.repo_id" in result.stdout and "--resume" in result.stdout
    for flag in ("permutation=uniform|feistel", "window=none|auto|N", "batched_fetch=true|false",
                 "datasets=JSON|PATH"):  # fmt: skip
        assert f"--episampler.{flag}" in result.stdout, flag
