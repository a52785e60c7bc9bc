"""Where one loading process's CPU goes, in a minute: `make_loader`'s batched fetch run in this
process (no workers), on a recording `python -m benches.video` made.

The DataLoader benchmark (`--fetch`) takes ten minutes per table and the machine's noise moves
its frames/s; this measures the quantity that limits it on a busy 2-core machine, CPU time per
sample, split by thread (the thread that builds the batches and collates them, and the camera
decoding threads), with the frames decoded per sample and, with `--native`, the share of the
process's CPU in each shared library (`perf record`, where the kernel allows it), which tells
the video decoder's own work from the Python and torch around it. Use it for a quick A/B of a
change to the fetch; the DataLoader benchmark remains the measurement of record.

    .venv-lerobot-0.6/bin/python -m benches.video.worker_cpu \\
        --recording target/video-bench/gop-default-3x224x224-apart --native

Torch runs one intra-op thread, as in a DataLoader worker. Collation here is into ordinary
memory (a worker collates into shared memory, which costs about 0.2 ms more per sample on
224x224 frames).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import benches.video  # noqa: F401  (the offline environment, before LeRobot is imported)


def count_decoded_frames() -> list[int]:
    """Wraps LeRobot's torchcodec decoding function (which the batched fetch looks up on every
    call) to count the frames it is asked for; returns the counter."""
    from lerobot.datasets import video_utils

    counter = [0]
    lock = threading.Lock()
    decode = video_utils.decode_video_frames_torchcodec

    def counting(video_path: Any, timestamps: Sequence[float], *args: Any, **kwargs: Any) -> Any:
        with lock:
            counter[0] += len(timestamps)
        return decode(video_path, timestamps, *args, **kwargs)

    video_utils.decode_video_frames_torchcodec = counting
    return counter


def native_shares(data: Path, top: int = 8) -> list[tuple[str, float]]:
    """(shared library, share of the samples) from a `perf record` file, largest first."""
    report = subprocess.run(
        ["perf", "report", "-i", str(data), "--stdio", "--no-children", "--sort", "dso"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    shares = []
    for line in report.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].endswith("%") and not line.startswith("#"):
            shares.append((parts[1], float(parts[0].rstrip("%")) / 100))
    return shares[:top]


def resident_mib(field: str) -> float:
    """This process's resident set now (`VmRSS`) or at its peak (`VmHWM`), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(args: argparse.Namespace) -> dict[str, float]:
    import os

    import torch

    from benches.video.recording import load
    from episampler.lerobot import make_loader

    torch.set_num_threads(1)
    frames = count_decoded_frames()
    if args.decoders is not None:  # as LEROBOT_VIDEO_DECODER_CACHE_SIZE would set it
        from lerobot.datasets import video_utils

        video_utils._default_decoder_cache.max_size = args.decoders
    dataset = load(args.recording, return_uint8=True)
    window = args.window if args.window in (None, "auto") else int(args.window)
    read_ahead = None if args.read_ahead_mib is None else args.read_ahead_mib * 2**20
    loader = make_loader(
        dataset,
        batch_size=args.batch_size,
        num_workers=0,
        window=window,
        read_ahead_bytes=read_ahead,
    )
    batches = iter(loader)
    for _ in range(args.warmup_batches):
        next(batches)
    perf = None
    if args.native:
        data = Path(tempfile.mkdtemp()) / "perf.data"
        command = ["perf", "record", "-q", "-F", "499", "-p", str(os.getpid()), "-o", str(data)]
        perf = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)  # attached before the timed batches
    frames_before = frames[0]
    process, main, wall = time.process_time(), time.thread_time(), time.perf_counter()
    samples = 0
    for _ in range(args.timed_batches):
        samples += len(next(batches)["index"])
    process, main = time.process_time() - process, time.thread_time() - main
    wall = time.perf_counter() - wall
    result = {
        "samples": samples,
        "cpu_ms": 1000 * process / samples,
        "main_thread_ms": 1000 * main / samples,
        "decoding_threads_ms": 1000 * (process - main) / samples,
        "frames_per_sample": (frames[0] - frames_before) / samples,
        "wall_ms": 1000 * wall / samples,
        "rss_mib": resident_mib("VmRSS"),
        "peak_rss_mib": resident_mib("VmHWM"),
    }
    if perf is not None:
        perf.send_signal(2)  # SIGINT: perf writes its file and exits
        perf.wait(timeout=60)
        for library, share in native_shares(data):
            result[f"native {library}"] = share
        shutil.rmtree(data.parent, ignore_errors=True)
    return result


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benches.video.worker_cpu",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--recording", type=Path, required=True, help="a recorded dataset's root")
    parser.add_argument("--window", default=None, help="None (global shuffle), auto or frames")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--warmup-batches", type=int, default=20)
    parser.add_argument("--timed-batches", type=int, default=60)
    parser.add_argument("--decoders", type=int, default=None, help="decoder cache size")
    parser.add_argument("--read-ahead-mib", type=int, default=None, help="read-ahead buffer")
    parser.add_argument("--repeats", type=int, default=1, help="runs, in fresh processes")
    parser.add_argument("--native", action="store_true", help="perf's shares per library")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # a repeat's run
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    import json
    import sys

    args = parse_args(argv)
    if args.one:
        print(json.dumps(measure(args)))
        return 0
    if args.native and shutil.which("perf") is None:
        raise SystemExit("--native needs perf (linux-perf) on the PATH")
    runs = []
    forwarded = ["--recording", str(args.recording), "--batch-size", str(args.batch_size)]
    forwarded += ["--warmup-batches", str(args.warmup_batches)]
    forwarded += ["--timed-batches", str(args.timed_batches)]
    forwarded += [] if args.window is None else ["--window", str(args.window)]
    forwarded += ["--native"] if args.native else []
    for flag, value in (("--decoders", args.decoders), ("--read-ahead-mib", args.read_ahead_mib)):
        forwarded += [] if value is None else [flag, str(value)]
    for _ in range(args.repeats):  # a fresh process per repeat: nothing cached between them
        command = [sys.executable, "-m", "benches.video.worker_cpu", *forwarded, "--one"]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        runs.append(json.loads(output.strip().splitlines()[-1]))
    for key in runs[0]:
        values = [run[key] for run in runs if key in run]
        runs_text = ", ".join(f"{v:.3f}" for v in values)
        print(f"{key}: {statistics.median(values):.3f} (runs: {runs_text})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
