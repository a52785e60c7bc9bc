"""`SharedCopies`, the local copies the DataLoader workers of one process share while streaming:
each file fetched once for all of them (by real processes racing for it), a dead process's
claim taken over, a failed fetch released for another try, deletions that keep what the live
groups need (up to the groups fetched ahead) and never a copy being written, and no group
fetched before every reader has left the one two before it (which bounds the disk to two
groups) unless the caller says the live groups fit together."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from episampler.lerobot.shared_copies import DONE, SharedCopies

FILES = [f"videos/cam/file-{k:03d}.mp4" for k in range(6)]


def logged_fetch(log: Path, relative: str, destination: Path) -> None:
    """Writes `relative`'s content to `destination`, slowly, and logs the fetch."""
    with open(log, "a") as out:
        out.write(f"{os.getpid()} {relative}\n")
    time.sleep(0.05)
    destination.write_text(relative)


class Fetch:
    def __init__(self, log: Path) -> None:
        self.log = log

    def __call__(self, relative: str, destination: Path) -> None:
        logged_fetch(self.log, relative, destination)


def copies(tmp_path: Path, reader: int = 0, readers: int = 1, fetch=None) -> SharedCopies:
    return SharedCopies(
        tmp_path / "files", fetch or Fetch(tmp_path / "log"), tmp_path / "pass", reader,
        readers, concurrent=3,
    )  # fmt: skip


def fetched(tmp_path: Path) -> list[str]:
    log = tmp_path / "log"
    return [line.split()[1] for line in log.read_text().splitlines()] if log.exists() else []


def keep_nothing(first: int, last: int) -> set[str]:
    return set()


def ensure_all(tmp_path: Path, reader: int, readers: int) -> None:
    shared = copies(tmp_path, reader, readers)
    shared.set_frontier(0)
    shared.ensure(0, FILES, lambda first, last: set(FILES))


def test_readers_in_several_processes_fetch_each_file_once(tmp_path):
    context = multiprocessing.get_context("spawn")
    readers = [context.Process(target=ensure_all, args=(tmp_path, k, 3)) for k in range(3)]
    for process in readers:
        process.start()
    for process in readers:
        process.join(timeout=120)
        assert process.exitcode == 0
    assert sorted(fetched(tmp_path)) == sorted(FILES)  # each once
    for relative in FILES:
        assert (tmp_path / "files" / relative).read_text() == relative
    assert not list((tmp_path / "files").rglob("*.claim"))


def test_a_claim_left_by_a_process_that_died_is_taken_over(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    claim = tmp_path / "files" / (FILES[0] + ".claim")
    claim.parent.mkdir(parents=True)
    claim.write_text(dead.stdout.strip())
    shared = copies(tmp_path)
    shared.set_frontier(0)
    shared.ensure(0, FILES[:1], keep_nothing)
    assert fetched(tmp_path) == FILES[:1] and not claim.exists()


def test_a_failed_fetch_releases_its_claim_and_raises_and_a_later_try_fetches(tmp_path):
    def failing(relative: str, destination: Path) -> None:
        raise OSError(f"{relative} bytes 0-9 failed after 3 tries")

    shared = copies(tmp_path, fetch=failing)
    shared.set_frontier(0)
    with pytest.raises(OSError, match=r"file-000\.mp4 bytes 0-9 failed"):
        shared.ensure(0, FILES[:1], keep_nothing)
    assert not list((tmp_path / "files").rglob("*.claim"))
    copies(tmp_path).ensure(0, FILES[:1], keep_nothing)
    assert fetched(tmp_path) == FILES[:1]


def test_eviction_keeps_the_live_groups_files_and_the_copies_being_written(tmp_path):
    groups = [set(FILES[0:2]), set(FILES[2:4]), set(FILES[4:6])]
    shared = copies(tmp_path, 0, 2)
    shared.set_frontier(0)
    shared.ensure(0, FILES, lambda first, last: set(FILES))
    writing = tmp_path / "files" / "videos" / "cam" / "file-009.mp4.123.fetched"
    writing.write_text("partial")
    asked = []

    def keep(first: int, last: int) -> set[str]:
        asked.append((first, last))
        return set().union(*groups[first : last + 1])

    shared.set_frontier(1)
    copies(tmp_path, 1, 2).set_frontier(DONE)  # a reader with no block left does not count
    shared.evict(keep)
    assert asked == [(1, 2)]
    local = {str(p.relative_to(tmp_path / "files")) for p in (tmp_path / "files").rglob("*.mp4")}
    assert local == groups[1] | groups[2]
    assert writing.exists()
    shared.set_frontier(DONE)
    shared.evict(keep)  # every reader done: nothing to decide, nothing deleted
    assert asked == [(1, 2)]


def test_a_group_is_fetched_only_once_every_reader_has_left_the_one_two_before(tmp_path):
    ahead, behind = copies(tmp_path, 0, 2), copies(tmp_path, 1, 2)
    ahead.set_frontier(1)
    behind.set_frontier(0)
    moved = []

    def move_on() -> None:
        time.sleep(0.3)
        moved.append(time.monotonic())
        behind.set_frontier(1)

    mover = threading.Thread(target=move_on)
    mover.start()
    ahead.ensure(2, FILES[:1], keep_nothing)
    done = time.monotonic()
    mover.join()
    assert moved and done >= moved[0]
    assert fetched(tmp_path) == FILES[:1]


def test_present_files_are_not_fetched_and_need_no_wait(tmp_path):
    shared = copies(tmp_path, 0, 2)
    shared.set_frontier(0)
    shared.ensure(0, FILES[:2], keep_nothing)
    copies(tmp_path, 1, 2).set_frontier(0)
    started = time.monotonic()
    shared.ensure(5, FILES[:2], keep_nothing)  # would wait for frontiers >= 4 if it fetched
    assert time.monotonic() - started < 1.0
    assert sorted(fetched(tmp_path)) == FILES[:2]  # each once (fetched at once, in any order)


def test_an_unstarted_reader_counts_as_at_the_first_group(tmp_path):
    shared = copies(tmp_path, 0, 2)
    shared.set_frontier(3)
    assert shared.read_frontiers() == [3, 0]


def test_a_group_whose_live_groups_fit_together_is_fetched_before_the_readers_move_on(tmp_path):
    """`fits(oldest)` says the groups from the oldest reader's to the one fetched fit the
    budget together: then it is fetched at once, while a reader is still two groups back."""
    ahead, behind = copies(tmp_path, 0, 2), copies(tmp_path, 1, 2)
    ahead.set_frontier(1)
    behind.set_frontier(0)  # never moves on in this test
    asked = []

    def fits(oldest: int) -> bool:
        asked.append(oldest)
        return True

    assert ahead.ensure(2, FILES[:1], keep_nothing, fits)
    assert asked == [0]
    assert fetched(tmp_path) == FILES[:1]


def test_without_waiting_a_group_that_does_not_fit_yet_is_left_alone(tmp_path):
    ahead, behind = copies(tmp_path, 0, 2), copies(tmp_path, 1, 2)
    ahead.set_frontier(1)
    behind.set_frontier(0)
    started = time.monotonic()
    assert not ahead.ensure(3, FILES[:1], keep_nothing, lambda oldest: False, wait=False)
    assert time.monotonic() - started < 1.0  # no wait for the reader behind
    assert fetched(tmp_path) == []
    ahead.set_frontier(2)
    behind.set_frontier(2)  # both readers past group 1: group 3 may be fetched
    assert ahead.ensure(3, FILES[:1], keep_nothing, lambda oldest: False, wait=False)
    assert fetched(tmp_path) == FILES[:1]


@pytest.mark.parametrize("groups_ahead", [1, 2])
def test_eviction_keeps_the_groups_a_reader_may_have_fetched_ahead(tmp_path, groups_ahead):
    shared = SharedCopies(
        tmp_path / "files", Fetch(tmp_path / "log"), tmp_path / "pass", 0, 2, concurrent=3,
        groups_ahead=groups_ahead,
    )  # fmt: skip
    shared.set_frontier(3)
    copies(tmp_path, 1, 2).set_frontier(1)
    asked = []

    def keep(first: int, last: int) -> set[str]:
        asked.append((first, last))
        return set()

    shared.evict(keep)
    assert asked == [(1, 3 + groups_ahead)]
