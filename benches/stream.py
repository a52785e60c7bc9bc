"""Streaming benchmark: LeRobot's `StreamingLeRobotDataset`, a local `LeRobotDataset` through
episampler's fastest loader, and `EpisodeStream` from a loopback HTTP server (0 ms, and an
emulated remote store: 30 ms per request, 100 MB/s), all in lerobot-train's DataLoader setup
(spawned workers, prefetch 4, persistent workers, uint8 frames).

    python -m benches.stream [--out DIR] [--repeats N] [--results benches/results_stream.md]
                             [--rows 1,2,6] [--json FILE]

Run with LeRobot 0.6 installed (`make lerobot-envs`: `.venv-lerobot-0.6/bin/python`). The
dataset is the loading benchmark's main recording (`benches.video`): 400 episodes, 3 cameras at
224x224 whose files roll over apart (over 100 files per camera), LeRobot's default encoder; it
is recorded under `--out` or reused from there. Each row reads one epoch, rows interleaved over
`--repeats` rounds; the figures are medians: frames/s after the first batch, time to the first
batch (from creating the dataset), peak local disk of the stream's copy, peak RSS of a worker,
distinct episodes per batch, the workers' CPU seconds (their start included) and the loopback
server's, with its request count (it shares the benchmark's cores), and how busy the machine's
cores were from the first batch to the last. LeRobot's streaming dataset fails on a dataset
with more than one video file per camera (LeRobot #3080, #4524): that is reported, and it is
measured on a copy of the same frames recorded into one file per camera. Rows 6 to 8 are
measured only when `--rows` names them: row 6 streams windows of about 90 episodes (the
mixing of LeRobot's shuffle buffer, at the disk it costs); rows 7 and 8 read the local copy and
the stream at 30 ms without `LEROBOT_VIDEO_DECODER_CACHE_SIZE`, as lerobot-train runs by
default, and row 9 is row 8 with one reader per stream (`stream_readers=1`, the order before
readers). `--recording long` reads 100 episodes of 100-160 frames instead (each starting new
files), recorded under `OUT/long-episodes`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from benches.video.recording import REPO_ID, Recording, record

WORKERS = 2
BATCH = 64
DECODER_CACHE = 100  # as the loading benchmark's main configuration
# The loading benchmark's main recording: each camera's files roll over at 0.26 MB, apart.
MAIN = Recording(None, 400, 20, 20, 40, 224, 0, file_mb=0.26)
# The same frames (the same seed and per-camera content), every camera in one file.
ONE_FILE = Recording(None, 400, 400, 20, 40, 224, 0, distinct_cameras=True)
# Episodes of 100-160 frames (3-5 s at 30 fps), each starting a new file of every camera.
LONG = Recording(None, 100, 20, 100, 160, 224, 0, file_mb=0.26)
LONG_ONE_FILE = Recording(None, 100, 100, 100, 160, 224, 0, distinct_cameras=True)
RECORDINGS = {"main": (MAIN, ONE_FILE), "long": (LONG, LONG_ONE_FILE)}
MIXING_WINDOW = 2800  # frames: about 90 of these episodes
ROWS = 10
UNSET = {"LEROBOT_VIDEO_DECODER_CACHE_SIZE": None}


class Sampler(threading.Thread):
    """Samples peak disk use under `directory` and peak worker RSS every 0.1 s."""

    def __init__(self, directory: Path | None) -> None:
        super().__init__(daemon=True)
        self.directory = directory
        self.disk = 0
        self.rss = 0
        self.cpu: dict[int, float] = {}  # the last CPU seconds seen of each worker
        self.stop = threading.Event()

    def run(self) -> None:
        import psutil

        me = psutil.Process()
        while not self.stop.wait(0.1):
            if self.directory is not None:
                self.disk = max(self.disk, disk_used(self.directory))
            for child in me.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    self.rss = max(self.rss, child.memory_info().rss)
                    times = child.cpu_times()
                    self.cpu[child.pid] = times.user + times.system


def disk_used(directory: Path) -> int:
    """Bytes of the regular files under `directory` (symlinks not followed). With `os.scandir`
    (one `stat` per file, no path objects): the walk runs every 0.1 s on the cores the rows
    share, only for the rows that keep a copy, and a `Path.rglob` walk took about twice the CPU
    (6-7 ms against 2-4 ms for 770 files)."""
    used = 0
    pending = [os.fspath(directory)]
    while pending:
        try:
            entries = list(os.scandir(pending.pop()))
        except FileNotFoundError:
            continue
        for entry in entries:
            with contextlib.suppress(FileNotFoundError):
                if entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    used += entry.stat(follow_symlinks=False).st_size
    return used


def _set_environment(values: dict[str, str | None]) -> None:
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@contextlib.contextmanager
def environment(changes: dict[str, str | None]) -> Iterator[None]:
    """The environment with `changes` (None: unset) while a row is measured: its spawned
    workers read it."""
    saved = {key: os.environ.get(key) for key in changes}
    _set_environment(changes)
    try:
        yield
    finally:
        _set_environment(saved)


def measure(
    name: str, make: Callable[[], tuple[Any, Path | None]], faults: Any = None
) -> dict[str, Any]:
    """One epoch of the loader `make` returns (with the directory whose size is sampled), and
    what the workers and the loopback server (`faults`' counters) spent on it."""
    import psutil
    import torch

    requests = (faults.gets + faults.heads, faults.cpu_s) if faults is not None else (0, 0.0)
    start = time.perf_counter()
    try:
        loader, directory = make()
        sampler = Sampler(directory)
        sampler.start()
        first = None
        frames, episodes_per_batch, seen = 0, [], set()
        for batch in loader:
            if first is None:
                first = time.perf_counter()
                cores_at_first = psutil.cpu_times()
            indices = batch["index"].tolist()
            frames += len(indices)
            seen.update(indices)
            episodes_per_batch.append(len(torch.unique(batch["episode_index"])))
        end = time.perf_counter()
        cores_at_end = psutil.cpu_times()
        sampler.stop.set()
        sampler.join()
    except Exception as error:  # LeRobot's streaming dataset on several files per camera
        message = str(error).splitlines()[0][:160]
        return {"row": name, "error": f"{type(error).__name__}: {message}"}
    assert first is not None
    return {
        "row": name,
        "frames": frames,
        "distinct_frames": len(seen),
        "frames_per_s": (frames - len(indices)) / max(end - first, 1e-9),
        "first_batch_s": first - start,
        "peak_disk_mb": sampler.disk / 1e6 if directory is not None else None,
        "peak_worker_rss_mb": sampler.rss / 1e6,
        "episodes_per_batch": sum(episodes_per_batch) / len(episodes_per_batch),
        # CPU seconds of the workers (their start included) and of the loopback server, which
        # shares the cores in this benchmark (a remote store would not)
        "worker_cpu_s": sum(sampler.cpu.values()),
        "server_requests": (faults.gets + faults.heads - requests[0]) if faults else 0,
        "server_cpu_s": (faults.cpu_s - requests[1]) if faults else 0.0,
        # the machine's cores busy from the first batch to the last (the figure frames/s is)
        "cores_busy": _busy(cores_at_first, cores_at_end),
    }


def _busy(before: Any, after: Any) -> float:
    total = sum(after) - sum(before)
    idle = (after.idle + getattr(after, "iowait", 0)) - (before.idle + getattr(before, "iowait", 0))
    return 1 - idle / total if total > 0 else 0.0


def loader_settings() -> dict[str, Any]:
    return {
        "batch_size": BATCH,
        "num_workers": WORKERS,
        "multiprocessing_context": "spawn",
        "prefetch_factor": 4,
        "persistent_workers": True,
    }


def rows(
    many: Path, one: Path, url: str, faults: Any, scratch: Path, chosen: set[int]
) -> list[dict[str, Any]]:
    import torch
    from lerobot.datasets.lerobot_dataset import LeRobotDataset
    from lerobot.datasets.streaming_dataset import StreamingLeRobotDataset

    from episampler.integrations.lerobot import EpisodeStream, make_loader

    def lerobot_streaming(root: Path) -> Callable[[], tuple[Any, None]]:
        def make() -> tuple[Any, None]:
            dataset = StreamingLeRobotDataset(
                REPO_ID, root=root, max_num_shards=WORKERS, return_uint8=True
            )
            return torch.utils.data.DataLoader(dataset, **loader_settings()), None

        return make

    def local_episampler() -> tuple[Any, None]:
        dataset = LeRobotDataset(REPO_ID, root=many, return_uint8=True)
        return make_loader(dataset, window="auto", **loader_settings()), None

    size = sum(p.stat().st_size for p in many.rglob("*") if p.is_file())

    def stream(
        latency: float,
        bandwidth: float,
        share: float,
        label: str,
        window: int | str = "auto",
        stream_readers: int | None = None,
    ) -> Callable[[], tuple[Any, Path]]:
        def make() -> tuple[Any, Path]:
            faults.latency_s, faults.bytes_per_s = latency, bandwidth
            cache = scratch / label
            dataset = EpisodeStream(
                REPO_ID, root=url, seed=0, batch_size=BATCH, cache_dir=cache, window=window,
                cache_bytes=int(size / share),  # a part of the dataset: it does not fit
                stream_readers=stream_readers,
            )  # fmt: skip
            return torch.utils.data.DataLoader(dataset, **loader_settings()), cache

        return make

    every = [
        ("LeRobot StreamingLeRobotDataset, local, several files per camera",
         lerobot_streaming(many)),
        ("LeRobot StreamingLeRobotDataset, local, a one-file copy", lerobot_streaming(one)),
        ('LeRobotDataset, local, episampler make_loader(window="auto")', local_episampler),
        ("EpisodeStream from a loopback server, 0 ms, local copy 1/2 of the dataset",
         stream(0.0, 0.0, 2, "half")),
        ("EpisodeStream, 30 ms per request, 100 MB/s, local copy 1/2",
         stream(0.03, 100e6, 2, "remote")),
        ("EpisodeStream from a loopback server, 0 ms, local copy 1/4",
         stream(0.0, 0.0, 4, "quarter")),
        # Windows of about 90 episodes mix a batch of 64 about as LeRobot's shuffle buffer
        # does. A process keeps two file groups (the one its workers read, the next one
        # fetched), each window's files a third of this 400-episode dataset's; the peak disk
        # measured is the cost (a budget of the dataset's size: each group gets half, which
        # holds one such window's files). Its groups span about 150 files of each
        # camera: it reads without the decoder cache size the other rows set, so its batched
        # fetch keeps a decoder for every file of a group, as it does by default.
        (f"EpisodeStream, 30 ms per request, 100 MB/s, window={MIXING_WINDOW}, cache_bytes the "
         "dataset's size, a decoder per file",
         stream(0.03, 100e6, 1, "mixing", window=MIXING_WINDOW), UNSET),
        # lerobot-train's own environment: the decoder cache size not set, so a batched fetch
        # keeps a decoder for every file it reads if they fit its budget (the local path's
        # decoders too), and the stream's window="auto" is sized to those and to the disk.
        ('LeRobotDataset, local, episampler make_loader(window="auto"), decoder cache size '
         "not set", local_episampler, UNSET),
        ("EpisodeStream, 30 ms per request, 100 MB/s, local copy 1/2, decoder cache size not set",
         stream(0.03, 100e6, 2, "remote-unset"), UNSET),
        # Row 8 with one reader per stream (the order before stream_readers): a process's two
        # workers each decode about half of every key-frame group of the window's files.
        ("EpisodeStream, 30 ms per request, 100 MB/s, local copy 1/2, decoder cache size not "
         "set, one reader per stream", stream(0.03, 100e6, 2, "remote-one", stream_readers=1),
         UNSET),
    ]  # fmt: skip
    assert len(every) == ROWS
    results = []
    for k, (name, make, *changes) in enumerate(every):
        if k in chosen:
            with environment(changes[0] if changes else {}):
                result = measure(name, make, faults)
                result["decoder_cache"] = os.environ.get("LEROBOT_VIDEO_DECODER_CACHE_SIZE")
                results.append(result)
    faults.latency_s, faults.bytes_per_s = 0.0, 0.0
    return results


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| row | frames/s | vs local episampler | first batch | peak local disk | "
        "peak worker RSS | distinct episodes / batch | worker CPU | server CPU (requests) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    # Each row against the local row read with the same decoder cache setting.
    local = {
        r.get("decoder_cache"): r["frames_per_s"]
        for r in results
        if "make_loader" in r["row"] and "error" not in r
    }
    for r in results:
        if "error" in r:
            lines.append(f"| {r['row']} | fails: `{r['error']}` | | | | | | | |")
            continue
        disk = "-" if r["peak_disk_mb"] is None else f"{r['peak_disk_mb']:.1f} MB"
        baseline = local.get(r.get("decoder_cache"))
        ratio = f"{r['frames_per_s'] / baseline:.2f}x" if baseline else ""
        lines.append(
            f"| {r['row']} | {r['frames_per_s']:.0f} | {ratio} | {r['first_batch_s']:.1f} s | "
            f"{disk} | {r['peak_worker_rss_mb']:.0f} MB | {r['episodes_per_batch']:.1f} | "
            f"{r.get('worker_cpu_s', 0):.1f} s | {r.get('server_cpu_s', 0):.1f} s "
            f"({r.get('server_requests', 0):.0f}) |"
        )
    return "\n".join(lines)


def plot(results_file: Path, image: Path) -> None:
    """The rows of the results file's last JSON block (its latest run) as bars (frames/s), for
    the docs: `python3 -c "from benches.stream import plot; plot(...)"` where matplotlib is
    installed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    text = results_file.read_text()
    results = json.loads(text.rsplit("```json\n", 1)[1].split("\n```", 1)[0])
    measured = [r for r in results if "error" not in r]
    failed = [r for r in results if "error" in r]
    figure, axis = plt.subplots(figsize=(9, 3.6))
    names = [textwrap.fill(r["row"], 48, break_on_hyphens=False) for r in measured]
    bars = axis.barh(names, [r["frames_per_s"] for r in measured], color="#4c72b0")
    for bar, r in zip(bars, measured, strict=True):
        disk = "" if r["peak_disk_mb"] is None else f", disk {r['peak_disk_mb']:.1f} MB"
        axis.text(bar.get_width(), bar.get_y() + bar.get_height() / 2,
                  f" {r['frames_per_s']:.0f}/s, first batch {r['first_batch_s']:.1f} s{disk}",
                  va="center", fontsize=8)  # fmt: skip
    axis.invert_yaxis()
    axis.set_xlabel(f"frames/s (one epoch, {WORKERS} spawned workers, batch {BATCH})")
    title = "Streaming a LeRobot dataset"
    if failed:
        title += " (LeRobot's own fails with several files per camera)"
    figure.suptitle(title, fontsize=10, x=0.02, ha="left")
    axis.set_xlim(0, max(r["frames_per_s"] for r in measured) * 2.1)
    figure.tight_layout()
    figure.savefig(image, dpi=110)


def medians(rounds: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Per row, the median of each figure over the rounds (a row that failed once is failed)."""
    import statistics

    merged = []
    for runs in zip(*rounds, strict=True):
        failed = next((run for run in runs if "error" in run), None)
        if failed is not None:
            merged.append(failed)
            continue
        row = dict(runs[0])
        for key, value in runs[0].items():
            if isinstance(value, float):
                row[key] = statistics.median(run[key] for run in runs)
        row["frames_per_s_runs"] = [run["frames_per_s"] for run in runs]
        merged.append(row)
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("target/video-bench"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--results", type=Path, default=None)
    parser.add_argument(
        "--rows", default=None, help="the rows to measure, e.g. 1,2,6 (default: all but 6)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also save the medians here")
    parser.add_argument(
        "--recording",
        choices=sorted(RECORDINGS),
        default="main",
        help="main: 400 episodes of 20-40 frames; long: 100 episodes of 100-160 frames, "
        "recorded under OUT/long-episodes",
    )
    args = parser.parse_args()
    chosen = set(range(6)) if args.rows is None else {int(r) for r in args.rows.split(",")}
    if not chosen <= set(range(ROWS)):
        parser.error(f"--rows: rows are 0 to {ROWS - 1}, got {args.rows}")
    os.environ["LEROBOT_VIDEO_DECODER_CACHE_SIZE"] = str(DECODER_CACHE)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    from tests.real_lerobot.http_server import serve

    def log(message: str) -> None:
        print(message, flush=True)

    recording, one_file = RECORDINGS[args.recording]
    out = args.out if args.recording == "main" else args.out / "long-episodes"
    many = record(out, recording, log=log)
    # The one-file copy only for the rows that read it (LeRobot's stream).
    one = record(out, one_file, log=log) if chosen & {0, 1} else many
    rounds = []
    with serve(many.parent) as (base, faults):
        for repeat in range(args.repeats):
            with tempfile.TemporaryDirectory() as scratch:
                url = f"{base}/{many.name}"
                rounds.append(rows(many, one, url, faults, Path(scratch), chosen))
            log(f"round {repeat + 1}/{args.repeats}:\n{table(rounds[-1])}")
    results = medians(rounds)
    text = table(results)
    print(text)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    if args.results is not None:
        header = (
            "# Streaming benchmark\n\n"
            f"`python -m benches.stream --repeats {args.repeats} --recording {args.recording}` "
            f"(LeRobot 0.6; {recording.episodes} episodes of "
            f"{recording.min_length}-{recording.max_length} frames, 3 cameras "
            f"{recording.size}x{recording.size} whose files roll over "
            "apart, LeRobot's default encoder; "
            f"{WORKERS} spawned workers, batch {BATCH}, prefetch 4, persistent workers, uint8 "
            f"frames; `LEROBOT_VIDEO_DECODER_CACHE_SIZE={DECODER_CACHE}`; the stream's local "
            "copy limited to a half or a quarter of the dataset). One epoch per row, rows "
            f"interleaved over {args.repeats} rounds, medians.\n\n"
        )
        args.results.write_text(header + text + "\n\n```json\n" + json.dumps(results, indent=1)
                                + "\n```\n")  # fmt: skip


if __name__ == "__main__":
    main()
