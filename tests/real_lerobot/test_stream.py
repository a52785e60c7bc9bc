"""`EpisodeStream` over a real LeRobot 0.6 dataset recorded by LeRobot's own writer (two
cameras, several video files each), read in place and from a loopback HTTP server: every frame
once per epoch, items equal `LeRobotDataset(local copy)[index]`, the same batches with 0 and 2
workers, exact resume with 0, 2 and 4 workers (by step and through torchdata's
StatefulDataLoader) and on 2 gloo processes, transport faults and stalls retried within bounds,
and the local copy kept within its budget."""

from __future__ import annotations

import itertools
import math
import os
from pathlib import Path

import pytest

from tests.real_lerobot.conftest import require_lerobot

require_lerobot("0.6")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"

import torch  # noqa: E402
from lerobot.datasets.lerobot_dataset import LeRobotDataset  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from episampler import resume_from_step  # noqa: E402
from episampler.integrations.lerobot import EpisodeStream  # noqa: E402
from tests.real_lerobot.http_server import serve  # noqa: E402
from tests.real_lerobot.record import record_two_cameras  # noqa: E402

REPO_ID = "episampler/stream"
LENGTHS = [12, 9, 15, 11, 8, 14, 10, 13]
BATCH = 4
FRAMES = sum(LENGTHS)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return record_two_cameras(
        tmp_path_factory.mktemp("stream"), REPO_ID, LENGTHS, video_files_mb=0.003,
        data_files_mb=0.004, datasets_cache=tmp_path_factory.mktemp("cache"),
    )  # fmt: skip


@pytest.fixture(scope="module")
def server(root):
    with serve(root.parents[1]) as (url, faults):
        yield f"{url}/{REPO_ID}", faults


@pytest.fixture(scope="module")
def reference(root):
    return LeRobotDataset(REPO_ID, root=root, return_uint8=True)


def stream(where, tmp_path, **options) -> EpisodeStream:
    options.setdefault("batch_size", BATCH)
    options.setdefault("window", 20)
    return EpisodeStream(REPO_ID, root=where, seed=3, cache_dir=tmp_path / "cache", **options)


def stream_directories(cache_dir: Path) -> list[Path]:
    """The streams' directories under `cache_dir` (which must have been used)."""
    assert (cache_dir / "streams").is_dir(), cache_dir
    return [p for p in (cache_dir / "streams").iterdir() if p.is_dir()]


def assert_item_equal(item: dict, expected: dict) -> None:
    assert list(item) == list(expected)
    for key, value in expected.items():
        if isinstance(value, torch.Tensor):
            assert item[key].dtype == value.dtype and torch.equal(item[key], value), key
        else:
            assert item[key] == value, key


def indices(batches) -> list[list[int]]:
    return [batch["index"].tolist() for batch in batches]


def flat(batches: list[list[int]]) -> list[int]:
    return [index for batch in batches for index in batch]


@pytest.mark.parametrize("where", ["local", "http"])
def test_every_frame_once_per_epoch_and_items_equal_the_datasets(root, server, reference,
                                                                 tmp_path, where):  # fmt: skip
    source = root if where == "local" else server[0]
    episodes = stream(source, tmp_path)
    for epoch in range(2):
        items = list(episodes)  # a new pass is the next epoch
        assert sorted(int(item["index"]) for item in items) == list(range(FRAMES)), epoch
        for item in items[::7]:
            assert_item_equal(item, reference[int(item["index"])])
    assert episodes.epoch == 2


def test_two_workers_give_the_same_batches_as_none_from_http(server, tmp_path):
    url, _ = server
    alone = indices(DataLoader(stream(url, tmp_path / "a"), batch_size=BATCH))
    workers = indices(DataLoader(stream(url, tmp_path / "b"), batch_size=BATCH, num_workers=2))
    # One stream of windows per process: its workers deal its blocks, in order.
    assert sorted(flat(alone)) == list(range(FRAMES))
    assert workers == alone
    # Another number of readers per stream is another order (each of the 2 default readers
    # takes every other batch and its own runs of frames).
    one_reader = stream(url, tmp_path / "d", stream_readers=1)
    assert indices(DataLoader(one_reader, batch_size=BATCH, num_workers=2)) != alone
    # Another number of streams is another order.
    two = EpisodeStream(REPO_ID, root=url, seed=3, batch_size=BATCH, window=20,
                        cache_dir=tmp_path / "c", streams=2)  # fmt: skip
    assert indices(DataLoader(two, batch_size=BATCH)) != alone


@pytest.mark.parametrize("num_workers", [0, 2, 4])
@pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")  # 4 on 2 cores
def test_resume_from_step_continues_exactly(server, tmp_path, num_workers):
    url, _ = server
    uninterrupted = indices(
        DataLoader(stream(url, tmp_path / "u"), batch_size=BATCH, num_workers=num_workers)
    )
    resumed = DataLoader(stream(url, tmp_path / "r"), batch_size=BATCH, num_workers=num_workers)
    resume_from_step(resumed, 5)
    assert indices(resumed) == uninterrupted[5:]


@pytest.mark.parametrize("num_workers", [0, 2, 4])
@pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")  # 4 on 2 cores
def test_statefuldataloader_resumes_exactly_with_workers(server, tmp_path, num_workers):
    from torchdata.stateful_dataloader import StatefulDataLoader

    url, _ = server
    first = StatefulDataLoader(
        stream(url, tmp_path / "a"), batch_size=BATCH, num_workers=num_workers
    )
    iterator = iter(first)
    head = [next(iterator)["index"].tolist() for _ in range(4)]
    state = first.state_dict()
    rest = indices(iterator)
    again = StatefulDataLoader(
        stream(url, tmp_path / "b"), batch_size=BATCH, num_workers=num_workers
    )
    again.load_state_dict(state)
    assert indices(again) == rest
    assert sorted(flat(head + rest)) == list(range(FRAMES))


def run_ranks(url: str, tmp_path: Path, name: str, step: int = 0) -> list[list[list[int]]]:
    """Both ranks of a 2-process gloo group reading from `url` (from `step`): each rank's
    batches."""
    import json
    import socket
    import subprocess
    import sys

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    repository = Path(__file__).resolve().parents[2]
    processes, outputs = [], []
    for rank in range(2):
        out = tmp_path / f"{name}-{rank}.json"
        env = {**os.environ, "RANK": str(rank), "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1",
               "MASTER_PORT": str(port), "PYTHONPATH": str(repository)}  # fmt: skip
        cache = tmp_path / f"{name}-cache-{rank}"
        command = [sys.executable, "-m", "tests.real_lerobot.stream_ranks", url, str(cache),
                   str(out), "--step", str(step)]  # fmt: skip
        processes.append(subprocess.Popen(command, env=env, cwd=repository))
        outputs.append(out)
    for process in processes:
        assert process.wait(timeout=300) == 0
    return [json.loads(out.read_text())["batches"] for out in outputs]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_two_processes_share_every_frame_once_and_resume_exactly(server, tmp_path):
    url, _ = server
    uninterrupted = run_ranks(url, tmp_path, "whole")
    assert sorted(flat(uninterrupted[0] + uninterrupted[1])) == list(range(FRAMES))
    assert abs(len(flat(uninterrupted[0])) - len(flat(uninterrupted[1]))) <= 2 * BATCH
    resumed = run_ranks(url, tmp_path, "resumed", step=3)
    assert resumed == [batches[3:] for batches in uninterrupted]


@pytest.mark.parametrize("kind", ["reset", "503", "short"])
def test_transport_faults_are_retried_and_nothing_is_skipped(server, reference, tmp_path, kind):
    url, faults = server
    faults.every, faults.kind, injected = 3, kind, faults.injected
    try:
        items = list(stream(url, tmp_path, backoff_s=0.01))
    finally:
        faults.every = 0
    assert faults.injected > injected
    assert sorted(int(item["index"]) for item in items) == list(range(FRAMES))
    for item in items[::9]:
        assert_item_equal(item, reference[int(item["index"])])


def test_a_file_that_keeps_failing_is_named_with_its_byte_range(server, tmp_path):
    url, faults = server
    episodes = stream(url, tmp_path, retries=2, backoff_s=0.01)
    faults.always = True
    try:
        with pytest.raises(OSError, match=r"(data|videos)/.*bytes 0-\d+ failed after 3 tries"):
            next(iter(episodes))
    finally:
        faults.always = False


def test_a_stalled_response_times_out_and_is_retried_then_named(server, tmp_path):
    """Every request loop is bounded in time: a server that sends headers and then nothing
    fails each try after `timeout_s`, and the last names the file and byte range."""
    import time

    url, faults = server
    episodes = stream(url, tmp_path, retries=1, backoff_s=0.01, timeout_s=0.5)
    faults.always, faults.kind, faults.stall_s = True, "stall", 8.0
    started = time.monotonic()
    try:
        with pytest.raises(OSError, match=r"(data|videos)/.*bytes 0-\d+ failed after 2 tries"):
            next(iter(episodes))
    finally:
        faults.always, faults.kind = False, "503"
    assert time.monotonic() - started < faults.stall_s  # cut short by the timeout, not the server


@pytest.mark.parametrize(
    ("argument", "value", "error"),
    [("timeout_s", 0, ValueError), ("timeout_s", "1", TypeError), ("backoff_s", -1.0, ValueError)],
)
def test_bad_durations_are_refused_by_name(server, tmp_path, argument, value, error):
    url, _ = server
    with pytest.raises(error, match=argument):
        stream(url, tmp_path, **{argument: value})


def disk_used(mirror: Path) -> int:
    """Bytes of the data and video files under `mirror`, while the stream's fetching thread
    writes, renames and deletes them (a file gone between listing and reading counts 0)."""
    import contextlib

    used = 0
    for folder in ("data", "videos"):
        for path in (mirror / folder).rglob("*"):
            with contextlib.suppress(FileNotFoundError):
                if path.is_file():
                    used += path.stat().st_size
    return used


@pytest.mark.parametrize("beside_metadata", [True, False])
@pytest.mark.parametrize("num_workers", [0, 2])
def test_the_local_copy_stays_within_its_budget(
    server, tmp_path, monkeypatch, num_workers, beside_metadata
):
    """The copies a process's readers share stay within `cache_bytes`, sampled every few
    milliseconds while the workers fetch, rename and delete. Groups are fetched before the
    readers have left the group two before them when the groups from the oldest reader's to
    the one fetched fit together beside the metadata; this dataset's metadata outweighs its
    files, so that path is taken when the metadata is not counted: the bound holds then too."""
    import threading

    from episampler.lerobot.shared_copies import SharedCopies

    if not beside_metadata:
        monkeypatch.setattr(EpisodeStream, "_fixed_bytes", 0)

    real_has_room = SharedCopies.has_room
    early = tmp_path / "early"
    early.mkdir()

    def has_room(self, group, fits=None):  # runs in the (forked) workers too
        oldest = min(self.read_frontiers())
        if oldest < group - 1 and fits is not None and fits(oldest):
            (early / str(os.getpid())).touch()
        return real_has_room(self, group, fits)

    monkeypatch.setattr(SharedCopies, "has_room", has_room)
    url, faults = server
    budget = 40_000
    episodes = stream(url, tmp_path, cache_bytes=budget)
    mirror = episodes._work / "ranks" / "0" / REPO_ID
    peak, stop = [0], threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], disk_used(mirror))
            stop.wait(0.002)

    sampler = threading.Thread(target=sample)
    faults.latency_s = 0.01  # fetches that take a while, so the sampling sees them
    sampler.start()
    try:
        batches = indices(DataLoader(episodes, batch_size=BATCH, num_workers=num_workers))
    finally:
        stop.set()
        sampler.join()
        faults.latency_s = 0.0
    assert sorted(flat(batches)) == list(range(FRAMES))
    assert 0 < peak[0] <= budget
    if not beside_metadata:
        assert any(early.iterdir())


def test_the_workers_of_a_process_fetch_each_file_once_for_all(server, tmp_path):
    """Two workers read the same file groups from one shared copy: the bytes they fetch in an
    epoch are those one reader fetches (within a little for timing), not twice as many."""
    url, faults = server
    served = {}
    for workers in (0, 2):
        episodes = stream(url, tmp_path / str(workers), cache_bytes=40_000)
        before = faults.served
        batches = indices(DataLoader(episodes, batch_size=BATCH, num_workers=workers))
        served[workers] = faults.served - before
        assert sorted(flat(batches)) == list(range(FRAMES))
    assert served[0] > 0 and served[2] <= 1.2 * served[0], served


def test_the_streaming_example_runs_against_the_server(server, tmp_path):
    import subprocess
    import sys

    url, _ = server
    repository = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, str(repository / "examples" / "stream_lerobot.py"),
         "--repo-id", REPO_ID, "--root", url],
        capture_output=True, text=True, timeout=300, cwd=repository, check=False,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{FRAMES} frames streamed once each" in result.stdout, result.stdout


@pytest.mark.slow
@pytest.mark.timeout(1200)
# lerobot-train's make_dataset differs between versions: checked on each without workers.
@pytest.mark.parametrize("num_workers", [pytest.param(0, marks=pytest.mark.lerobot_versions), 2])
def test_lerobot_train_streams_from_the_server_and_resumes_exactly(
    server, tmp_path, monkeypatch, num_workers
):
    """`episampler-lerobot-train --dataset.streaming=true --dataset.root=<URL>`: a run stopped
    after its checkpoint and resumed with --resume=true consumes the uninterrupted run's
    batches, and every frame once per epoch. The run with 2 workers is resumed without
    workers and with a decoder cache of 2, for which window="auto" would choose another
    window: the checkpoint keeps the first run's order. The copies go where
    --episampler.cache_dir says (a flag of each run: the resume copies elsewhere)."""
    from tests.real_lerobot.test_train import (
        resume_arguments,
        saved_options,
        tiny_act_arguments,
        train,
    )

    url, _ = server
    steps, checkpoint = 30, 12  # 23 batches an epoch: the resumed run crosses into epoch 1
    runs = {}
    for name, stop_after in (("uninterrupted", None), ("stopped", checkpoint)):
        arguments = [
            f"--dataset.repo_id={REPO_ID}", f"--dataset.root={url}", "--dataset.streaming=true",
            *tiny_act_arguments(tmp_path / name, num_workers, steps, checkpoint),
            f"--batch_size={BATCH}", f"--episampler.cache_dir={tmp_path / f'{name}-copies'}",
            "--episampler.cache_bytes=1MB",
        ]  # fmt: skip
        [runs[name]] = train(tmp_path / f"{name}.jsonl", "episampler", *arguments,
                             stop_after=stop_after)  # fmt: skip
        left = stream_directories(tmp_path / f"{name}-copies")
        if stop_after is None:
            assert left == []  # deleted at the run's end
        else:  # a killed run leaves its copies, for the next stream there to delete
            assert [(d / REPO_ID / "meta" / "info.json").is_file() for d in left] == [True]
    saved = saved_options(tmp_path / "stopped")["sampler"]
    assert saved["stream_readers"] == 2 and saved["window"] >= 1, saved  # the order's, kept
    changed = [f"--episampler.cache_dir={tmp_path / 'resumed-copies'}"]
    if num_workers:
        changed.append("--num_workers=0")
        monkeypatch.setenv("LEROBOT_VIDEO_DECODER_CACHE_SIZE", "2")
    [resumed] = train(tmp_path / "resumed.jsonl", "episampler",
                      *resume_arguments(tmp_path / "stopped"), *changed)  # fmt: skip
    assert stream_directories(tmp_path / "resumed-copies") == []
    if num_workers:
        assert "'num_workers': 0" in (tmp_path / "resumed.log").read_text()  # the config
    assert len(runs["uninterrupted"]) == steps
    assert runs["stopped"] + resumed == runs["uninterrupted"]
    epoch = [i for batch in runs["uninterrupted"][:23] for i in batch]
    assert sorted(epoch) == list(range(FRAMES))


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_streams_disk_flags_are_refused_without_streaming(root, tmp_path):
    from tests.real_lerobot.test_train import tiny_act_arguments, train

    for flag in ("--episampler.cache_bytes=1GB", f"--episampler.cache_dir={tmp_path / 'c'}"):
        error = train(tmp_path / "refused.jsonl", "episampler",
                      f"--dataset.repo_id={REPO_ID}", f"--dataset.root={root}",
                      *tiny_act_arguments(tmp_path / "run", 0, 4, 4), flag,
                      returncode=1)  # fmt: skip
        name = flag.split("=")[0]
        assert f"{name} is for --dataset.streaming=true only" in error, error[-3000:]
        assert "Traceback" not in error, error[-3000:]


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_lerobot_train_streams_on_two_processes_and_resumes_exactly(server, tmp_path):
    """Two processes of one gloo group (as `accelerate launch` starts them), each reading its
    own share of the stream (accelerate's dispatching of an iterable dataset fails on LeRobot's
    task strings): a stopped run resumed with --resume=true consumes, on each process, the
    uninterrupted run's batches, across an epoch; the processes' first epoch holds every frame
    once."""
    from tests.real_lerobot.test_train import resume_arguments, tiny_act_arguments, train

    url, _ = server
    # 23 batches an epoch: process 0 reads 12 of them, process 1 the other 11.
    steps, checkpoint, epoch_steps = 18, 8, (12, 11)
    runs = {}
    for name, stop_after in (("uninterrupted", None), ("stopped", checkpoint)):
        arguments = [
            f"--dataset.repo_id={REPO_ID}", f"--dataset.root={url}", "--dataset.streaming=true",
            *tiny_act_arguments(tmp_path / name, 0, steps, checkpoint), f"--batch_size={BATCH}",
        ]  # fmt: skip
        runs[name] = train(tmp_path / f"{name}.jsonl", "episampler", *arguments,
                           stop_after=stop_after, processes=2)  # fmt: skip
    resumed = train(tmp_path / "resumed.jsonl", "episampler",
                    *resume_arguments(tmp_path / "stopped"), processes=2)  # fmt: skip
    for rank in range(2):
        assert len(runs["uninterrupted"][rank]) == steps
        assert runs["stopped"][rank] + resumed[rank] == runs["uninterrupted"][rank], rank
    epoch = [i for rank in range(2) for batch in runs["uninterrupted"][rank][:epoch_steps[rank]]
             for i in batch]  # fmt: skip
    assert sorted(epoch) == list(range(FRAMES))


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_streamed_resume_on_changed_data_is_refused_naming_the_change(tmp_path):
    """The checkpoint of a streamed run records the dataset's identity; after the served
    dataset is recorded again with its last episode a frame shorter, --resume=true is refused
    with a line naming the change, as is `--episampler.on_data_change=restart_epoch` (a
    stream continues on its own data only)."""
    import shutil

    from tests.real_lerobot.test_train import resume_arguments, tiny_act_arguments, train

    parent = tmp_path / "served"
    options = {"video_files_mb": 0.003, "data_files_mb": 0.004,
               "datasets_cache": tmp_path / "record-cache"}  # fmt: skip
    root = record_two_cameras(parent, REPO_ID, LENGTHS, **options)
    with serve(parent) as (base, _):
        arguments = [
            f"--dataset.repo_id={REPO_ID}", f"--dataset.root={base}/{REPO_ID}",
            "--dataset.streaming=true", *tiny_act_arguments(tmp_path / "run", 0, 12, 6),
            f"--batch_size={BATCH}",
        ]  # fmt: skip
        [stopped] = train(tmp_path / "stopped.jsonl", "episampler", *arguments, stop_after=6)
        assert len(stopped) == 6
        shutil.rmtree(root)
        shorter = [*LENGTHS[:-1], LENGTHS[-1] - 1]
        assert record_two_cameras(parent, REPO_ID, shorter, **options) == root
        for extra in ([], ["--episampler.on_data_change=restart_epoch"]):
            error = train(tmp_path / "refused.jsonl", "episampler",
                          *resume_arguments(tmp_path / "run"), *extra, returncode=1)  # fmt: skip
            assert "Traceback" not in error, error[-3000:]
            [line] = [line for line in error.splitlines()
                      if "episampler-lerobot-train: error:" in line]  # fmt: skip
            if extra:
                assert "on_data_change=restart_epoch is not available with " in line, line
            else:
                assert "the data changed since the checkpoint being resumed" in line, line
                assert f"frames {FRAMES} -> {FRAMES - 1}, episode boundaries differ" in line, line
            assert not (tmp_path / "refused.jsonl").exists()


def test_resume_by_step_on_another_worker_count_is_exact(server, tmp_path):
    url, _ = server
    # A run without workers, resumed with 2 workers: the same order, split anew.
    alone = indices(DataLoader(stream(url, tmp_path / "a"), batch_size=BATCH))
    resumed = DataLoader(stream(url, tmp_path / "b"), batch_size=BATCH, num_workers=2)
    resume_from_step(resumed, 6)
    assert indices(resumed) == alone[6:]


def test_an_auto_window_does_not_depend_on_the_worker_count(root, server, tmp_path):
    """window="auto" sizes windows to half of `cache_bytes`, which a process's workers share
    (not to a share per worker): at a budget where dividing it among 2 would give another
    window, a run with 2 workers reads the order of a run without, and a resume by step on
    another worker count continues it."""
    url, _ = server
    files = [p for folder in ("data", "videos") for p in (root / folder).rglob("*") if p.is_file()]
    dataset_bytes = sum(p.stat().st_size for p in files)
    for budget in (dataset_bytes * k for k in (1, 2, 3, 4, 6)):  # one where a division matters
        auto = {"window": "auto", "cache_bytes": budget}
        probe = stream(url, tmp_path / f"p{budget}", **auto)
        if probe._resolve_window(1) != probe._resolve_window(2):
            break
    else:
        raise AssertionError("no budget where half of it gives another window")
    first = stream(url, tmp_path / "a", **auto)
    alone = indices(DataLoader(first, batch_size=BATCH))
    assert first._order == probe._resolve_window(1)  # half of the whole budget
    two = DataLoader(stream(url, tmp_path / "t", **auto), batch_size=BATCH, num_workers=2)
    assert indices(two) == alone
    resumed = DataLoader(stream(url, tmp_path / "b", **auto), batch_size=BATCH, num_workers=2)
    resume_from_step(resumed, 6)
    assert indices(resumed) == alone[6:]


def test_a_workers_own_state_on_another_worker_count_is_refused(server, tmp_path):
    url, _ = server
    first = stream(url, tmp_path / "a")
    iterator = iter(first)
    for _ in range(BATCH + 1):  # into the second block of the only reader
        next(iterator)
    state = first.state_dict()
    again = DataLoader(stream(url, tmp_path / "b"), batch_size=BATCH, num_workers=2)
    again.dataset.load_state_dict(state)
    with pytest.raises(ValueError, match=r"saved by one of 1 readers .* read by 2"):
        next(iter(again))


def test_a_state_keeps_its_runs_auto_window_whatever_the_decoder_cache_says_now(
    root, tmp_path, monkeypatch
):
    """window="auto" is resolved once, by the first run, and its state carries the window and
    its grouping: a stream resumed under another decoder cache size (for which "auto" chooses
    another window) continues the first run's order. A state of version 1, which did not carry
    them, resolves the window anew."""

    def numbers(items) -> list[int]:
        return [int(item["index"]) for item in items]

    monkeypatch.setenv("LEROBOT_VIDEO_DECODER_CACHE_SIZE", "4")  # 2 files of each camera
    first = stream(root, tmp_path / "a", window="auto", stream_readers=1)  # as before readers
    items = iter(first)
    head = numbers(next(items) for _ in range(2 * BATCH + 1))
    state = first.state_dict()
    rest = numbers(items)
    assert state["version"] == 4 and state["order"]["window"] >= 1, state
    monkeypatch.setenv("LEROBOT_VIDEO_DECODER_CACHE_SIZE", "100")  # holds every file
    assert numbers(stream(root, tmp_path / "b", window="auto")) != head + rest
    again = stream(root, tmp_path / "c", window="auto")
    again.load_state_dict(state)
    assert numbers(again) == rest
    older = {key: value for key, value in state.items() if key != "order"} | {"version": 1}
    anew = stream(root, tmp_path / "d", window="auto")
    anew.load_state_dict(older)
    assert numbers(anew) != rest  # resolved for 100 decoders now
    monkeypatch.setenv("LEROBOT_VIDEO_DECODER_CACHE_SIZE", "4")
    anew = stream(root, tmp_path / "e", window="auto")
    anew.load_state_dict(older)
    assert numbers(anew) == rest


def test_a_state_saved_before_readers_continues_with_one_reader(root, tmp_path):
    """States of version 3 and before carry no readers: their runs read one reader per
    stream, which a stream made without `stream_readers` then reads (made with another count,
    it refuses the state by name)."""
    first = stream(root, tmp_path / "a", stream_readers=1)
    items = iter(first)
    head = [int(next(items)["index"]) for _ in range(BATCH + 3)]
    state = first.state_dict()
    rest = [int(item["index"]) for item in items]
    assert state["order"] == {"window": 20, "group_by": "video_file", "stream_readers": 1}
    older = state | {"version": 3, "order": {"window": 20, "group_by": "video_file"}}
    resumed = stream(root, tmp_path / "b")
    resumed.load_state_dict(older)
    assert [int(item["index"]) for item in resumed] == rest
    # The default order (2 readers) is another one, and a state of it is not one of 1 reader.
    default = stream(root, tmp_path / "c")
    assert [int(item["index"]) for item in default] != head + rest
    with pytest.raises(ValueError, match=r"stream_readers'\] is 1 but this stream was made with"):
        stream(root, tmp_path / "d", stream_readers=2).load_state_dict(older)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"version": 5}, r"state\['version'\] is 5"),
        (
            {"order": {"window": 20, "group_by": "video_file", "stream_readers": 0}},
            r"state\['order'\]\['stream_readers'\] must be >= 1",
        ),
        ({"readers": 0}, r"state\['readers'\]"),
        ({"order": {"window": 0, "group_by": "video_file"}}, r"state\['order'\]\['window'\]"),
        ({"order": {"window": 5, "group_by": "camera"}}, r"not a window and its grouping"),
        ({"order": {"window": 5}}, r"state\['order'\] must be null or an object"),
        ({"order": {"window": 7, "group_by": "video_file"}}, r"window=20 reads \(20, "),
    ],
)
def test_a_bad_or_foreign_state_is_refused_by_name(root, tmp_path, change, message):
    first = stream(root, tmp_path / "a")  # window=20
    state = first.state_dict()
    with pytest.raises(ValueError, match=message):
        stream(root, tmp_path / "b").load_state_dict(state | change)


def test_a_temporary_directory_of_its_own_goes_with_the_stream(server, tmp_path, monkeypatch):
    """Without `cache_dir`, the copies of the files being read go into a directory of the
    stream's own under one directory per user in the system's temporary directory: deleted at
    `close()` or when the stream is collected (DataLoader workers, which hold copies of the
    stream, leave it alone), not left behind after a run; and a killed run's, which nothing
    of its own deletes, by the next stream there."""
    import gc
    import os
    import subprocess
    import sys
    import tempfile

    url, _ = server
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    closed = EpisodeStream(REPO_ID, root=url, batch_size=BATCH, window=20)
    assert len(list(closed)) == FRAMES
    where = closed._work
    shared = tmp_path / f"episampler-streams-{os.getuid()}"
    assert closed.cache_dir == shared and where.parent == shared / "streams"
    assert any(where.rglob("*.mp4")) and shared.stat().st_mode & 0o777 == 0o700
    closed.close()
    assert not where.exists()
    collected = EpisodeStream(REPO_ID, root=url, batch_size=BATCH, window=20)
    batches = indices(DataLoader(collected, batch_size=BATCH, num_workers=2))
    where = collected._work
    assert sorted(flat(batches)) == list(range(FRAMES)) and where.exists()
    del collected
    gc.collect()
    assert not where.exists()
    # A process that ends without deleting its stream's directory (killed, or `os._exit`).
    code = (
        "import os, sys\n"
        "from episampler.integrations.lerobot import EpisodeStream\n"
        f"s = EpisodeStream(sys.argv[1], root=sys.argv[2], window=20, batch_size={BATCH})\n"
        "next(iter(s))\n"
        "print(s._work)\n"
        "os._exit(0)\n"
    )
    ended = subprocess.run(
        [sys.executable, "-c", code, REPO_ID, url], capture_output=True, text=True,
        timeout=240, env={**os.environ, "TMPDIR": str(tmp_path)},
    )  # fmt: skip
    assert ended.returncode == 0, ended.stderr[-4000:]
    left = Path(ended.stdout.strip().splitlines()[-1])
    assert left.parent == shared / "streams" and any(left.rglob("*.mp4"))
    EpisodeStream(REPO_ID, root=url, batch_size=BATCH, window=20).close()
    assert not left.exists()


def test_streams_sharing_a_cache_dir_keep_their_files_apart(server, reference, tmp_path):
    """Two streams over one `cache_dir` (a training and an evaluation stream, or two runs of
    a sweep): one read to its end and closed while the other is half way through a pass
    leaves the other's copies alone, and both read every frame once, equal to the dataset's."""
    url, _ = server
    paused = stream(url, tmp_path, cache_bytes=40_000)
    other = stream(url, tmp_path, cache_bytes=40_000)
    assert paused._work != other._work
    items = iter(paused)
    first_half = [next(items) for _ in range(FRAMES // 2)]
    assert sorted(int(item["index"]) for item in other) == list(range(FRAMES))
    other.close()
    assert not other._work.exists() and paused._work.exists()
    read = first_half + list(items)
    assert sorted(int(item["index"]) for item in read) == list(range(FRAMES))
    for item in read[-BATCH:]:
        assert_item_equal(item, reference[int(item["index"])])


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_directory_left_by_an_ended_process_goes_and_a_live_streams_stays(server, tmp_path):
    """A process that ends without deleting its stream's directory (killed, or `os._exit`)
    leaves its copies under `cache_dir`; the next stream there deletes them, and leaves the
    directory of a stream that is still alive."""
    import subprocess
    import sys

    url, _ = server
    live = stream(url, tmp_path, cache_bytes=40_000)
    next(iter(live))
    code = (
        "import os, sys\n"
        "from episampler.integrations.lerobot import EpisodeStream\n"
        "s = EpisodeStream(sys.argv[1], root=sys.argv[2], cache_dir=sys.argv[3], window=20,\n"
        f"                  batch_size={BATCH})\n"
        "next(iter(s))\n"
        "print(s._work)\n"
        "os._exit(0)\n"
    )
    cache = tmp_path / "cache"
    ended = subprocess.run(
        [sys.executable, "-c", code, REPO_ID, url, str(cache)],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert ended.returncode == 0, ended.stderr[-4000:]
    left = Path(ended.stdout.strip().splitlines()[-1])
    assert any(left.rglob("*.mp4")) and left.with_suffix(".lock").exists()
    later = stream(url, tmp_path, cache_bytes=40_000)
    assert not left.exists() and not left.with_suffix(".lock").exists()
    assert live._work.exists() and any(live._work.rglob("*.mp4"))
    assert sorted(p.name for p in (cache / "streams").iterdir()) == sorted(
        [live._work.name, f"{live._work.name}.lock", later._work.name, f"{later._work.name}.lock"]
    )


def test_a_window_or_a_group_larger_than_half_the_cache_is_named_in_a_warning(
    root, tmp_path, caplog
):
    """A window whose files do not fit half of `cache_bytes` makes most
    blocks open and fetch a new group: allowed (every frame still comes once), but logged with
    the window, the budget and the window that fits. A budget whose half does not hold even
    one file group's files cannot keep the local copy within it: logged with the budget that
    would."""
    import logging

    with caplog.at_level(logging.WARNING, logger="episampler.lerobot.stream"):
        fits = list(stream(root, tmp_path / "a"))  # window=20, 4 GiB
        assert "does not fit" not in caplog.text and "exceed" not in caplog.text
        probe = stream(root, tmp_path / "p", cache_bytes=52_000)
        _, group_bytes = probe._disk_fit("video_file", 1)
        assert 20_000 < group_bytes < 26_000  # one group fits half of 52,000 bytes
        tight = list(stream(root, tmp_path / "b", window=80, cache_bytes=52_000))
        assert "a window of 80 frames does not fit half of cache_bytes=52000" in caplog.text
        assert "exceed" not in caplog.text
        caplog.clear()
        tiny = list(stream(root, tmp_path / "c", window=80, cache_bytes=40_000))
    needed = math.ceil(2 * group_bytes)
    assert (
        f"the files of one file group take up to {group_bytes:,.0f} bytes, more than half of "
        "cache_bytes=40000: a process keeps" in caplog.text
    )
    assert f"the local copy will exceed cache_bytes. Pass cache_bytes >= {needed}" in caplog.text
    every = sorted(int(i["index"]) for i in fits)
    assert sorted(int(i["index"]) for i in tight) == every == sorted(int(i["index"]) for i in tiny)


def test_each_group_decodes_its_next_blocks_ahead(server, reference, tmp_path, monkeypatch):
    """Within a group of files, a block's frames come from one decoding call per camera and
    file for the blocks ahead: fewer calls than one per block and camera, the same items."""
    from lerobot.datasets import video_utils

    url, _ = server
    calls = []
    real = video_utils.decode_video_frames_torchcodec

    def counted(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(video_utils, "decode_video_frames_torchcodec", counted)
    items = list(stream(url, tmp_path))
    streamed_calls = len(calls)  # before the reference decodes its own
    assert sorted(int(item["index"]) for item in items) == list(range(FRAMES))
    for item in items:
        assert_item_equal(item, reference[int(item["index"])])
    blocks = -(-FRAMES // BATCH)
    assert streamed_calls < blocks * 2, (streamed_calls, blocks)  # 2 cameras: >= that without


# A later group's rows are read past LeRobot's loader, into its reader: checked on each version.
@pytest.mark.parametrize(
    "where", [pytest.param("local", marks=pytest.mark.lerobot_versions), "http"]
)
def test_later_groups_share_the_first_groups_metadata_and_hold_their_rows_in_memory(
    root, server, reference, tmp_path, monkeypatch, where
):
    """With a budget of a few files, a pass opens many groups: every group after the first
    reuses the first one's metadata (LeRobot's constructor runs once) and holds its rows in
    memory, and its items still equal the dataset's; the first group's arrow copy of its rows
    goes under `cache_dir` and is deleted with the group, and nothing goes into `datasets`'
    global cache, where every group of every epoch would stay."""
    import datasets
    from lerobot.datasets import lerobot_dataset

    global_cache = tmp_path / "global-datasets-cache"
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", global_cache)
    constructed = []
    real_init = lerobot_dataset.LeRobotDataset.__init__

    def counted(self, *args, **kwargs):
        constructed.append(kwargs.get("episodes"))
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(lerobot_dataset.LeRobotDataset, "__init__", counted)
    source = root if where == "local" else server[0]
    episodes = stream(source, tmp_path, cache_bytes=40_000)
    items = list(episodes)
    assert sorted(int(item["index"]) for item in items) == list(range(FRAMES))
    monkeypatch.setattr(lerobot_dataset.LeRobotDataset, "__init__", real_init)
    for item in items:
        assert_item_equal(item, reference[int(item["index"])])
    assert episodes._opened > 2, episodes._opened
    assert len(constructed) == 1, constructed
    assert not any((episodes._work / "arrow" / "0").rglob("*.arrow"))
    assert not global_cache.exists() or not any(global_cache.rglob("*.arrow"))
    episodes.close()
    assert not episodes._work.exists() and (tmp_path / "cache").exists()


def test_a_reader_decodes_every_group_with_one_pool_of_threads(server, tmp_path, monkeypatch):
    """A pass of many file groups decodes them all in one pool of threads: new threads for
    each group would each take another malloc arena and keep its peak of decoded frames there
    (the stream's workers used 1.2x the local path's memory that way)."""
    from episampler.lerobot import fetch

    pools = []

    class Counted(fetch.ThreadPoolExecutor):
        def __init__(self, *args, **kwargs):
            pools.append(kwargs.get("thread_name_prefix"))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(fetch, "ThreadPoolExecutor", Counted)
    url, _ = server
    episodes = stream(url, tmp_path, cache_bytes=40_000)
    assert sorted(int(item["index"]) for item in episodes) == list(range(FRAMES))
    assert episodes._opened > 2  # several groups
    assert pools == ["episampler-fetch"]


def test_a_reader_keeps_the_decoders_of_files_the_next_group_reads_again(server, tmp_path,
                                                                        monkeypatch):  # fmt: skip
    """Moving to the next file group, a reader reopens only the video files that group adds:
    the decoders of files both groups read are kept (and those of the others dropped, so that
    no decoder holds a deleted copy open)."""
    import torchcodec.decoders

    opened: list[str] = []
    original = torchcodec.decoders.VideoDecoder

    def counted(path, *args, **kwargs):
        opened.append(str(path))
        return original(path, *args, **kwargs)

    monkeypatch.setattr(torchcodec.decoders, "VideoDecoder", counted)
    url, _ = server
    episodes = stream(url, tmp_path, cache_bytes=40_000)
    assert sorted(int(item["index"]) for item in episodes) == list(range(FRAMES))
    spans = episodes._pass_groups.spans
    videos = [{f for f in span.files if f.startswith("videos/")} for span in spans]
    added = len(videos[0]) + sum(len(new - old) for old, new in itertools.pairwise(videos))
    assert added < sum(map(len, videos))  # consecutive groups share files here
    assert len(spans) > 2 and len(opened) == added
    files = episodes._files
    assert {Path(p).relative_to(files).as_posix() for p in opened} == set().union(*videos)


def test_without_a_chosen_decoder_count_an_auto_window_is_bounded_by_the_fetchs_own(
    root, tmp_path, monkeypatch
):
    """A stream's group is decoded by its own batched fetch, which keeps a decoder for every
    file that fits its memory budget when the user chose no count: `window="auto"` is bounded
    by that, not by LeRobot's default of 100 decoders; a count the user set still bounds it."""
    from episampler.lerobot.decoders import (
        DECODER_BYTES,
        _open_files_limit,
        decoders_that_fit,
        estimated_decoder_bytes,
    )

    monkeypatch.delenv("LEROBOT_VIDEO_DECODER_CACHE_SIZE", raising=False)
    episodes = stream(root, tmp_path / "a", window="auto")
    frame = max(math.prod(episodes.meta.features[k]["shape"]) for k in episodes.meta.video_keys)
    fit = decoders_that_fit(estimated_decoder_bytes(frame), _open_files_limit(), DECODER_BYTES)
    assert fit > 100
    assert episodes._decoder_bound() == fit
    monkeypatch.setenv("LEROBOT_VIDEO_DECODER_CACHE_SIZE", "6")
    assert stream(root, tmp_path / "b", window="auto")._decoder_bound() == 6
