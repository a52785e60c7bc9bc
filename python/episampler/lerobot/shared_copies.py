"""The local copies of a streamed dataset's files, shared by the readers of one process (its
DataLoader workers, or the process itself), which read the same file groups.

The groups are numbered in the order a pass reads them. Each reader records its frontier (the
group of its next block; `DONE` once it has no more) in a file of the pass. The files of group
`g` are fetched once `g - 1` is the oldest group a reader is still in (every frontier >= g - 1),
or earlier if the files of every group from the oldest frontier to `g` fit the budget together
(the caller's `fits`: groups share files and seldom fill their half), after deleting the copies
no group from the oldest frontier to `groups_ahead` past the newest needs (a reader fetches up
to that many groups past its own): so the disk holds at most two groups' files, each sized to
half the budget, or what `fits` allowed. A file is fetched by the
reader that claims it (`<file>.claim`, created exclusively); the others wait for it. Deletions
and the renames that publish a finished copy hold one lock (`flock`), so a deletion never sees
frontiers older than the copies it deletes.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

DONE = 2**62  # the frontier of a reader with no block left in the pass
_POLL_S = 0.005  # how often a waiting reader looks again
# A reader waiting for the others to leave a group, or for a file another one fetches, gives up
# after this long with an error (a reader that died stops the DataLoader well before).
_WAIT_LIMIT_S = 3600.0
_WRITING = (".claim", ".fetched", ".part", ".tmp")  # a copy being written, never deleted


class SharedCopies:
    """The copies under `files` (data and video files at their dataset paths), fetched with
    `fetch(relative, destination)` (which writes `destination` whole or not at all).

    Args:
        files: the shared directory of copies (its `meta` is not touched).
        fetch: copies one file from the source to a local path.
        frontiers: this pass's directory of frontiers (one per pass of the readers).
        reader: this reader's number in `[0, readers)`.
        readers: the readers of the pass.
        concurrent: files fetched at once by this reader.
        groups_ahead: how many groups past its frontier a reader may fetch (copies of groups
            up to that far past the newest frontier are kept).
    """

    def __init__(
        self,
        files: Path,
        fetch: Callable[[str, Path], Any],
        frontiers: Path,
        reader: int,
        readers: int,
        concurrent: int,
        groups_ahead: int = 1,
    ) -> None:
        self.files = files
        self.groups_ahead = groups_ahead
        self._fetch = fetch
        self.frontiers = frontiers
        self.reader, self.readers = reader, readers
        self.concurrent = concurrent
        files.mkdir(parents=True, exist_ok=True)
        frontiers.mkdir(parents=True, exist_ok=True)
        self._lock_path = files / ".lock"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self._lock_path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # --- frontiers -----------------------------------------------------------------------

    def set_frontier(self, group: int) -> None:
        """This reader's next block is in `group` (`DONE`: it has none left)."""
        path = self.frontiers / str(self.reader)
        partial = path.with_name(f"{self.reader}.{os.getpid()}.tmp")
        partial.write_text(str(group))
        os.replace(partial, path)

    def read_frontiers(self) -> list[int]:
        """Each reader's frontier; 0 for one that has not started (it may read group 0)."""
        found = []
        for reader in range(self.readers):
            try:
                found.append(int((self.frontiers / str(reader)).read_text()))
            except (FileNotFoundError, ValueError):
                found.append(0)
        return found

    def has_room(self, group: int, fits: Callable[[int], bool] | None = None) -> bool:
        """Whether `group` may be fetched now (see `wait_for_room`)."""
        oldest = min(self.read_frontiers())
        return oldest >= group - 1 or (fits is not None and fits(oldest))

    def wait_for_room(
        self, group: int, what: str, fits: Callable[[int], bool] | None = None
    ) -> None:
        """Waits until every reader's frontier is at least `group - 1`, or until
        `fits(oldest frontier)` says that the files of the groups from there to `group` fit
        the budget together."""
        started = time.monotonic()
        while not self.has_room(group, fits):
            if time.monotonic() - started > _WAIT_LIMIT_S:
                raise TimeoutError(
                    f"EpisodeStream: waited {_WAIT_LIMIT_S:.0f} s for the other DataLoader "
                    f"workers to finish group {group - 2} before fetching {what}"
                )
            time.sleep(_POLL_S)

    # --- copies --------------------------------------------------------------------------

    def evict(self, keep: Callable[[int, int], set[str]]) -> None:
        """Deletes the copies outside `keep(oldest, newest)`, the files of the groups from the
        oldest frontier to `groups_ahead` past the newest (never a copy being written)."""
        with self._locked():
            frontiers = [f for f in self.read_frontiers() if f != DONE]
            if not frontiers:
                return
            kept = keep(min(frontiers), max(frontiers) + self.groups_ahead)
            for folder in ("data", "videos"):
                for path in (self.files / folder).rglob("*"):
                    relative = str(path.relative_to(self.files))
                    if path.is_file() and path.suffix not in _WRITING and relative not in kept:
                        path.unlink()

    def present(self, relative: str) -> bool:
        return (self.files / relative).exists()

    def ensure(
        self,
        group: int,
        relatives: Iterable[str],
        keep: Callable[[int, int], set[str]],
        fits: Callable[[int], bool] | None = None,
        wait: bool = True,
    ) -> bool:
        """Makes the files of `group` local: once no reader is before `group - 1` (or the
        groups from the oldest reader's to `group` fit, see `wait_for_room`), deletes the
        copies no live group needs, then fetches the missing ones (several at once, each by
        the reader that claims it). With `wait=False`, if there is no room yet, fetches
        nothing and returns False."""
        missing = sorted(r for r in relatives if not self.present(r))
        if not missing:
            return True
        if wait:
            self.wait_for_room(group, missing[0], fits)
        elif not self.has_room(group, fits):
            return False
        self.evict(keep)
        # Readers start at different files, so that together they fetch several at once.
        shift = (self.reader * len(missing)) // max(1, self.readers)
        missing = missing[shift:] + missing[:shift]
        with ThreadPoolExecutor(
            min(self.concurrent, len(missing)), thread_name_prefix="episampler-copy"
        ) as pool:
            for _ in pool.map(self._copy, missing):
                pass  # raises the first failure
        return True

    def _copy(self, relative: str) -> None:
        """Fetches `relative` unless another reader does; returns once it is local."""
        final = self.files / relative
        claim = final.with_name(final.name + ".claim")
        started = time.monotonic()
        while not final.exists():
            final.parent.mkdir(parents=True, exist_ok=True)
            try:
                descriptor = os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                if _claimant_gone(claim):
                    with contextlib.suppress(FileNotFoundError):
                        claim.unlink()
                elif time.monotonic() - started > _WAIT_LIMIT_S:
                    raise TimeoutError(
                        f"EpisodeStream: waited {_WAIT_LIMIT_S:.0f} s for another DataLoader "
                        f"worker to fetch {relative}"
                    ) from None
                time.sleep(_POLL_S)
                continue
            try:
                os.write(descriptor, str(os.getpid()).encode())
                os.close(descriptor)
                if not final.exists():
                    partial = final.with_name(f"{final.name}.{os.getpid()}.fetched")
                    self._fetch(relative, partial)
                    with self._locked():
                        os.replace(partial, final)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    claim.unlink()


def _claimant_gone(claim: Path) -> bool:
    """Whether the process that wrote `claim` no longer runs (a crashed run's claim)."""
    try:
        pid = int(claim.read_text() or "0")
    except (FileNotFoundError, ValueError):
        return False  # being written, or just released
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
