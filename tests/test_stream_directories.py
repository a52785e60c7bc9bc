"""Streams sharing a `cache_dir`: each claims a directory of its own under `cache_dir/streams`,
held by a lock its process keeps; a directory whose lock nobody holds is removed by the next
claim, one whose lock is held stays."""

from __future__ import annotations

import os
import subprocess
import sys

from episampler.lerobot.stream import _claim_directory, _release_directory


def test_live_claims_in_one_process_are_apart_and_kept(tmp_path):
    first, first_lock = _claim_directory(tmp_path)
    (first / "copy.mp4").write_bytes(b"x")
    second, second_lock = _claim_directory(tmp_path)  # the first one is alive: kept
    assert first != second and first.parent == second.parent == tmp_path / "streams"
    assert (first / "copy.mp4").exists() and second.exists()
    _release_directory(str(first), first_lock, os.getpid())
    assert not first.exists() and not first.with_suffix(".lock").exists()
    assert second.exists() and second.with_suffix(".lock").exists()
    _release_directory(str(second), second_lock, os.getpid())
    assert list((tmp_path / "streams").iterdir()) == []


def test_directories_nobody_holds_are_removed_by_the_next_claim(tmp_path):
    streams = tmp_path / "streams"
    (streams / "ended").mkdir(parents=True)
    (streams / "ended" / "copy.mp4").write_bytes(b"x")
    (streams / "ended.lock").touch()  # its process is gone: nobody holds the lock
    (streams / "claiming").mkdir()  # a process that ended half way through a claim
    (streams / ".claiming.pending").touch()
    mine, lock = _claim_directory(tmp_path)
    assert sorted(p.name for p in streams.iterdir()) == [mine.name, f"{mine.name}.lock"]
    _release_directory(str(mine), lock, os.getpid())


def test_a_claim_of_a_process_that_ended_without_releasing_it_goes(tmp_path):
    code = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from episampler.lerobot.stream import _claim_directory\n"
        "directory, _ = _claim_directory(Path(sys.argv[1]))\n"
        "(directory / 'copy.mp4').write_bytes(b'x')\n"
        "print(directory, flush=True)\n"
        "os._exit(0)\n"  # no finalizer runs, as when the process is killed
    )
    ended = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert ended.returncode == 0, ended.stderr[-2000:]
    left = tmp_path / "streams" / ended.stdout.strip().splitlines()[-1].rsplit("/", 1)[-1]
    assert (left / "copy.mp4").exists()
    mine, lock = _claim_directory(tmp_path)
    assert not left.exists() and mine.exists()
    _release_directory(str(mine), lock, os.getpid())


def test_another_process_leaves_the_directory_alone(tmp_path):
    mine, lock = _claim_directory(tmp_path)
    _release_directory(str(mine), lock, os.getpid() + 1)  # as a forked worker would
    assert mine.exists()
    _release_directory(str(mine), lock, os.getpid())
    assert not mine.exists()
