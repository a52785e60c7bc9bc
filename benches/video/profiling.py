"""py-spy profiles of the DataLoader workers: sampling them, and summarizing the collapsed
stacks into buckets of where their time goes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

SPY_RATE = 250  # samples per second and thread


def start_py_spy(output: Path) -> subprocess.Popen[bytes]:
    """py-spy sampling this process and its DataLoader workers (all threads, so LeRobot's
    per-item camera decoding threads too) into collapsed stacks at `output`, until SIGINT."""
    spy = Path(sys.executable).with_name("py-spy")
    command = [str(spy) if spy.exists() else "py-spy", "record", "--pid", str(os.getpid())]
    command += ["--subprocesses", "--idle", "--format", "raw", "--rate", str(SPY_RATE)]
    command += ["-o", str(output)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2.0)  # attach before the timed batches
    return process


# (label, regex on the stack): the first match names a sample; None marks the idle bucket.
WORKER_BUCKETS = (
    ("idle: waiting for indices from the main process", None),
    ("camera frames: thread pool start and stop (a new pool per item)", r"ThreadPoolExecutor"),
    ("episode metadata row, meta.episodes[ep]", r"_query_videos \([^;]*;Dataset\.__getitem__"),
    ("camera frames: waiting for the decoding threads", r"_query_videos"),
    ("parquet row and delta queries (hf_dataset)", r"datasets/"),
    ("collate and send the batch", r"collate"),
    ("other item work (LeRobot, torch)", r"get_item"),
)
DECODE_BUCKETS = (
    ("decoder open (torchcodec VideoDecoder, file open)", r"counting_decoder|fsspec"),
    ("frame decode and seek (get_frames_at)", r"get_frames_at"),
    (
        "decoder cache lookup, incl. waiting for its lock (held while any camera opens one)",
        r"get_decoder",
    ),
    ("episode metadata row per camera (get_video_file_path)", r"get_video_file_path"),
    ("other decode-path Python (timestamps, tolerance check, tensors)", r"_decode_single"),
    ("thread start, exit and idle waits", None),
)

FETCH_WORKER_BUCKETS = (  # the workers' main threads under BatchedFetch
    ("idle: waiting for indices from the main process", None),
    ("decoding: waiting for its threads (decoding in place for a lone group)", r"_run_groups"),
    ("rows, windows and timestamps read (hf_dataset)", r"datasets/"),
    ("per-item finishing (padding, transforms, task string)", r"_finish"),
    ("grouping frames by camera and file, the read-ahead buffer", r"_decode|read_ahead"),
    ("building the items from the rows", r"__getitems__"),
    ("collate and send the batch", r"collate"),
    ("other (sampler indices, DataLoader)", r"."),
)
SEND_BUSY = "pickling the batch's tensors into shared memory and writing to the pipe"
SEND_IDLE = "idle: waiting for the next batch"
FETCH_DECODE_BUCKETS = (
    *DECODE_BUCKETS[:3],
    ("other decode-path Python (timestamps, tolerance check, tensors)", r"decode_video_frames"),
    ("idle: waiting for a group to decode", None),
)


def summarize_stacks(
    path: Path,
    samples: int,
    rate: int,
    worker_buckets: Sequence[tuple[str, str | None]] = (),
    decode_buckets: Sequence[tuple[str, str | None]] = (),
    busy_only: bool = False,
) -> str:
    """Where the DataLoader workers spend their time, from py-spy's collapsed stacks (idle
    samples included): the workers' main threads (wall time, per sample) and LeRobot's camera
    decoding threads (thread time, per sample)."""
    main: dict[str, int] = {}
    decode: dict[str, int] = {}
    send: dict[str, int] = {}  # the queue's feeder thread: the batch pickled to the main process
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        frames = stack.split(";")
        if not count_text.isdigit() or len(frames) < 2 or not frames[1].startswith("process "):
            continue  # the main process's own threads
        count = int(count_text)
        if "_worker_loop" in stack:
            buckets, table = worker_buckets or WORKER_BUCKETS, main
            work = stack.split("_worker_loop", 1)[1]  # not the process name (its arguments)
            if "fetch (" not in work and "_MapDatasetFetcher.fetch" not in work:
                table[buckets[0][0]] = table.get(buckets[0][0], 0) + count
                continue
        elif "concurrent/futures/thread.py" in stack:
            buckets, table = decode_buckets or DECODE_BUCKETS, decode
        elif "_feed (" in stack and "queues.py" in stack:
            label = SEND_BUSY if re.search(r"dumps|reduce|share|send", stack) else SEND_IDLE
            send[label] = send.get(label, 0) + int(count_text)
            continue
        else:
            continue
        label = next(
            (lbl for lbl, mark in buckets if mark and re.search(mark, stack)), buckets[-1][0]
        )
        if buckets is WORKER_BUCKETS and label == buckets[-1][0] and "get_item" not in stack:
            label = "other (sampler indices, DataLoader)"
        table[label] = table.get(label, 0) + count

    if busy_only:  # idle includes the profiler's attach wait, when the workers are ahead
        main.pop((worker_buckets or WORKER_BUCKETS)[0][0], None)
        decode.pop((decode_buckets or DECODE_BUCKETS)[-1][0], None)
        send.pop(SEND_IDLE, None)

    def table_lines(title: str, table: dict[str, int]) -> list[str]:
        total = sum(table.values())
        lines = [f"| {title} | share | ms per sample |", "| --- | ---: | ---: |"]
        for label, count in sorted(table.items(), key=lambda kv: -kv[1]):
            ms = 1000 * count / rate / samples
            lines.append(f"| {label} | {count / max(total, 1):.0%} | {ms:.2f} |")
        ms_total = 1000 * total / rate / samples
        return [*lines, f"| total | 100% | {ms_total:.2f} |"]

    if not main:
        return "(no worker samples: is py-spy installed and allowed to attach?)"
    return "\n".join(
        [
            *table_lines("worker main threads (wall time)", main),
            "",
            *table_lines("camera decoding threads (thread time)", decode),
            "",
            *table_lines("sending thread: the batch to the main process (thread time)", send),
        ]
    )
