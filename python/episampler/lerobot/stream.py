"""`EpisodeStream`: a LeRobot v3 dataset read as an exactly resumable stream, from a local path or
an fsspec URL, with only the files of the windows being read on the local disk.

The order is episampler's windowed order (a pure function of `(seed, epoch)`) cut into blocks of
`batch_size` positions, one block per batch. Rank `r` of `P` processes reads blocks `r`, `r + P`,
... (its sequence); its DataLoader's worker `w` of `K` reads every `K`-th block of that sequence
from where the pass starts, so the DataLoader, which deals batches from its workers in turn,
yields the rank's blocks in order: batch `s` of rank `r` is block `s * P + r`. The order has one
stream of windows per process, so a process's workers read the same windows, each its own runs of
their frames where the order's `stream_readers` (2 by default) matches the worker count (a worker
then decodes whole runs of a file, not every other frame; its batches still mix all the window's
episodes): the rank's sequence is cut into file groups (runs of blocks whose files fit half of
`cache_bytes`), and the workers share one local copy of them (`SharedCopies`): the next group's
files (and the one after it, if it fits) are fetched ahead while the current one is read, and
the ones no reader needs any more are deleted, within `cache_bytes`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import hashlib
import json
import logging
import math
import os
import secrets
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import torch

from episampler._inputs import as_bool, as_int, as_seconds
from episampler.lerobot.decoders import Decoders
from episampler.lerobot.http_files import HttpFiles
from episampler.lerobot.shared_copies import DONE, SharedCopies

logger = logging.getLogger(__name__)

DEFAULT_CACHE_BYTES = 4 * 2**30
# 2: the state carries the order's window and grouping (`_window_settings`); 3: and the readers
# a worker's own place was saved by (`readers`); 4: the order's readers per stream
# (`order.stream_readers`, 1 before). 1 to 3 are read too.
STATE_VERSION = 4
_PIECE = 8 * 2**20  # bytes per ranged read
# Files fetched at once: on a remote store each request waits a round trip, so a group of many
# small files is latency-bound when fetched one by one.
_CONCURRENT_FETCHES = 8
_SIZE_LOOKAHEAD = 32  # blocks whose files' sizes a plan asks for together, likewise
# The share of a file group (half of `cache_bytes`) that a `window="auto"` window's files take.
# On the main recording (benches/results_stream.md), half a group mixed 32.6 distinct episodes
# per batch of 64, four fifths 41.8 (LeRobot's stream: 41.8) at 0.94x the speed, a whole
# group 44.7 at about 0.8x (a group then cuts windows apart, and the decoding ahead of a
# reader's blocks stops at its group's end).
_WINDOW_SHARE_OF_GROUP = 0.8
# Readers of a stream's windows, each taking every other batch and its own runs of 8 frames
# (`EpisodeAwareSampler`'s `stream_readers`): a process's 2 workers then decode whole runs of
# a file instead of each decoding about half of every key-frame group, whatever the worker
# count the order is the same (a resume by step on another count continues it), and batches
# mix as many episodes as without (runs dealt in turn put every episode in both readers').
_DEFAULT_STREAM_READERS = 2


class _Source:
    """Where the dataset's files are: a local directory (read in place) or an fsspec URL
    (copied piece by piece into the local mirror, each piece retried with backoff)."""

    def __init__(
        self, root: str | os.PathLike[str], retries: int, backoff: float, timeout: float
    ) -> None:
        text = os.fspath(root)
        self.root = text
        self.remote = "://" in text and not text.startswith("file://")
        self.retries, self.backoff, self.timeout = retries, backoff, timeout
        self._sizes: dict[str, int] = {}  # a remote file's size, asked once
        self._opening = threading.Lock()
        # http(s): the standard library's client (`HttpFiles`); fsspec only lists `meta/`.
        self._http: HttpFiles | None = None
        if self.remote:
            self.base = self._open()[1]
            if text.startswith(("http://", "https://")):
                self._http = HttpFiles(text, timeout)
        else:
            self.local = Path(text.removeprefix("file://"))

    def _open(self) -> tuple[Any, str]:
        import fsspec

        options: dict[str, Any] = {}
        if self.root.startswith(("http://", "https://")):
            import aiohttp  # type: ignore[import-not-found, unused-ignore]

            # A stalled connection fails after `timeout` without data, and is retried.
            timeout = aiohttp.ClientTimeout(sock_connect=self.timeout, sock_read=self.timeout)
            options["client_kwargs"] = {"timeout": timeout}
        # A new instance per process: fsspec's async file systems are not fork-safe.
        self._fs, base = fsspec.core.url_to_fs(self.root, skip_instance_cache=True, **options)
        self._pid = os.getpid()
        return self._fs, base

    @property
    def fs(self) -> Any:
        with self._opening:  # the fetching threads of a new process open one instance
            if getattr(self, "_pid", None) != os.getpid():
                self._open()
        return self._fs

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("_fs", "_pid", "_opening")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._opening = threading.Lock()

    def url(self, relative: str) -> str:
        return f"{self.root.rstrip('/')}/{relative}"

    def _retried(self, what: str, action: Any) -> Any:
        for attempt in range(self.retries + 1):
            try:
                return action()
            except FileNotFoundError:
                raise
            except Exception as error:  # transport faults: resets, 5xx, short bodies
                if attempt == self.retries:
                    raise OSError(
                        f"EpisodeStream: {what} failed after {self.retries + 1} tries: {error}"
                    ) from error
                time.sleep(self.backoff * 2**attempt)
        raise AssertionError("unreachable")

    def size(self, relative: str) -> int:
        if not self.remote:
            return (self.local / relative).stat().st_size
        if relative not in self._sizes:
            path = f"{self.base.rstrip('/')}/{relative}"
            http = self._http
            size = self._retried(
                f"the size of {self.url(relative)}",
                (lambda: http.size(relative)) if http else (lambda: self.fs.size(path)),
            )
            self._sizes[relative] = int(size)
        return self._sizes[relative]

    def size_known(self, relative: str) -> bool:
        """Whether `size(relative)` answers without asking the store."""
        return not self.remote or relative in self._sizes

    def exists(self, relative: str) -> bool:
        if not self.remote:
            return (self.local / relative).exists()
        path = f"{self.base.rstrip('/')}/{relative}"
        http = self._http
        return bool(
            self._retried(
                f"looking up {self.url(relative)}",
                (lambda: http.exists(relative)) if http else (lambda: self.fs.exists(path)),
            )
        )

    def fetch(self, relative: str, destination: Path) -> int:
        """Copies the file into `destination` (written under a temporary name, renamed when
        whole and of the announced size); returns its size."""
        size = self.size(relative)
        destination.parent.mkdir(parents=True, exist_ok=True)
        partial = destination.with_name(destination.name + f".{os.getpid()}.part")
        path = f"{self.base.rstrip('/')}/{relative}"
        with open(partial, "wb") as out:
            for start in range(0, size, _PIECE):
                end = min(size, start + _PIECE)

                def piece(start: int = start, end: int = end) -> bytes:
                    if self._http is not None:
                        return self._http.read(relative, start, end)
                    data = bytes(self.fs.cat_file(path, start=start, end=end))
                    if len(data) != end - start:
                        raise OSError(f"short body: {len(data)} of {end - start} bytes")
                    return data

                out.write(self._retried(f"{self.url(relative)} bytes {start}-{end - 1}", piece))
        os.replace(partial, destination)
        return size


def _size_text(size: float) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size:,.0f} bytes"


def _default_cache_dir() -> Path:
    """The `cache_dir` of streams given none: one directory per user in the system's temporary
    directory, so that the copies of a run that was killed (which no finalizer deletes) are
    deleted by the next stream that starts there. If it cannot be this user's own (made by
    another user, or a symlink), a new temporary directory."""
    shared = Path(tempfile.gettempdir()) / f"episampler-streams-{os.getuid()}"
    with contextlib.suppress(OSError):
        shared.mkdir(mode=0o700, exist_ok=True)
        if not shared.is_symlink() and shared.stat().st_uid == os.getuid():
            return shared
    return Path(tempfile.mkdtemp(prefix="episampler-stream-"))


def _claim_directory(cache_dir: Path) -> tuple[Path, int]:
    """A directory of this stream's own under `cache_dir/streams` (several streams, in one
    process or in several runs, may share a `cache_dir`), with its lock file open and held
    shared while the stream lives; first, the directories of streams whose lock nobody holds
    (their process ended without removing them) are removed."""
    streams = cache_dir / "streams"
    streams.mkdir(parents=True, exist_ok=True)
    # This process's own streams are alive (a finished one removes its directory): skipped,
    # since where flock is emulated with POSIX locks (NFS), a process's own locks never
    # conflict with each other.
    mine = f"{os.getpid()}-"
    for lock, name in _stream_locks(streams):
        if not name.startswith(mine):
            _remove_if_abandoned(lock, streams / name)
    name = f"{mine}{secrets.token_hex(6)}"
    # Locked before it is visible under its name: a stream looking for abandoned ones never
    # sees it unlocked.
    pending = streams / f".{name}.pending"
    handle = os.open(pending, os.O_CREAT | os.O_RDWR, 0o644)
    fcntl.flock(handle, fcntl.LOCK_SH)
    (streams / name).mkdir()
    os.rename(pending, streams / f"{name}.lock")
    return streams / name, handle


def _stream_locks(streams: Path) -> Iterator[tuple[Path, str]]:
    """Every stream's lock file under `streams` with the name of its directory: `<name>.lock`,
    and `.<name>.pending` of a claim not finished (its process may have ended meanwhile)."""
    for lock in streams.glob("*.lock"):
        yield lock, lock.name[: -len(".lock")]
    for pending in streams.glob(".*.pending"):
        yield pending, pending.name[1 : -len(".pending")]


def _remove_if_abandoned(lock: Path, directory: Path) -> None:
    """Removes a stream's `directory` and its `lock` if no process holds `lock` (a live
    stream's process holds it shared; a lock is released when its process ends, however it
    ends)."""
    try:
        handle = os.open(lock, os.O_RDWR)
    except FileNotFoundError:
        return  # removed by another stream meanwhile
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # its stream is alive
        shutil.rmtree(directory, ignore_errors=True)
        lock.unlink(missing_ok=True)
    finally:
        os.close(handle)


def _release_directory(directory: str, lock: int, pid: int) -> None:
    """Removes a stream's own directory under its `cache_dir` and releases its lock, in the
    process that made them only: a forked DataLoader worker inherits the finalizer and must
    leave them alone."""
    if os.getpid() != pid:
        return
    shutil.rmtree(directory, ignore_errors=True)
    Path(f"{directory}.lock").unlink(missing_ok=True)
    os.close(lock)


def _meta_files(source: _Source) -> list[str]:
    """The metadata files to copy: `meta/` as listed, or (on a server that lists nothing) the
    known names, with the episodes' files probed in order."""
    if source.remote:
        base = source.base.rstrip("/")
        try:
            found = [p[len(base) + 1 :] for p in source.fs.find(f"{base}/meta")]
        except Exception:  # a plain HTTP server need not list directories
            found = []
        if any(p.startswith("meta/episodes/") for p in found):
            return sorted(p for p in found if not p.endswith("/"))
        names = [n for n in ("meta/info.json", "meta/stats.json", "meta/tasks.parquet")
                 if source.exists(n)]  # fmt: skip
        for chunk in range(10_000):
            files = []
            for file in range(10_000):
                name = f"meta/episodes/chunk-{chunk:03d}/file-{file:03d}.parquet"
                if not source.exists(name):
                    break
                files.append(name)
            if not files:
                break
            names += files
        return names
    return sorted(str(p.relative_to(source.local)) for p in (source.local / "meta").rglob("*")
                  if p.is_file())  # fmt: skip


@contextlib.contextmanager
def _datasets_cache(directory: Path) -> Iterator[None]:
    """`datasets` writes the arrow copies of the parquet files it loads into `directory`."""
    import datasets

    saved = datasets.config.HF_DATASETS_CACHE
    datasets.config.HF_DATASETS_CACHE = directory
    try:
        yield
    finally:
        datasets.config.HF_DATASETS_CACHE = saved


def _reopen(template: Any, episodes: list[int], data_files: Iterable[Path]) -> Any:
    """`template` (a `LeRobotDataset`) over `episodes` instead, sharing its metadata: a copy
    whose reader holds only those episodes' rows, read from `data_files` (`_group_rows`). None
    where LeRobot's reader is not the one this was written for (then the caller opens the
    dataset anew)."""
    import copy

    from lerobot.datasets import dataset_reader

    reader = getattr(template, "reader", None)
    needed = ("episodes", "hf_dataset", "_meta", "_build_index_mapping")
    if reader is None or not all(hasattr(reader, name) for name in needed):
        return None
    to_features = getattr(dataset_reader, "get_hf_features_from_features", None)
    to_torch = getattr(dataset_reader, "hf_transform_to_torch", None)
    if to_features is None or to_torch is None:
        return None
    reader = copy.copy(reader)
    reader.episodes = list(episodes)
    features = to_features(reader._meta.features)
    check = getattr(reader, "_validate_language_columns_declared", None)  # LeRobot 0.6.2
    if check is not None:
        check(features)
    reader.hf_dataset = _group_rows(data_files, episodes, features)
    reader.hf_dataset.set_transform(to_torch)
    reader._build_index_mapping()
    dataset = copy.copy(template)
    dataset.reader, dataset.episodes = reader, list(episodes)
    return dataset


def _group_rows(data_files: Iterable[Path], episodes: list[int], features: Any) -> Any:
    """The rows of `episodes` in `data_files` as an in-memory `datasets.Dataset` of
    `features`: the rows LeRobot's reader loads (`Dataset.from_parquet` over the data files,
    filtered to the episodes, in file order), without the arrow copy `datasets` writes to
    its cache on every load (about 0.1 s per group, and a reader opens one every few
    batches). A group's rows are its episodes' low-dimensional columns: small. The
    fingerprint is given: `datasets` would otherwise hash the whole table (0.25 s) for
    caches of transformations these rows never go through."""
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets.table import InMemoryTable, table_cast

    paths = sorted(data_files)
    tables = [pq.read_table(path, filters=[("episode_index", "in", episodes)]) for path in paths]
    table = table_cast(pa.concat_tables(tables), features.arrow_schema)
    named = hashlib.sha256(json.dumps([list(map(str, paths)), episodes]).encode()).hexdigest()
    info = datasets.DatasetInfo(features=features)
    return datasets.Dataset(InMemoryTable(table), info=info, fingerprint=named[:32])


class _GroupPlan:
    """What a group's batched fetch decodes ahead: the rows of this reader's next blocks in
    the group, which the stream knows (the same interface as `read_ahead.RowPlan`)."""

    def __init__(self, blocks: list[list[int]]) -> None:
        self.blocks = blocks
        self.at = {tuple(rows): k for k, rows in enumerate(blocks)}

    def upcoming(self, rows: Sequence[int], stride: int, limit: int) -> list[int]:
        k = self.at.get(tuple(rows))
        if k is None or limit <= 0:
            return []  # a block resumed part way: decoded on its own
        ahead = [row for block in self.blocks[k + 1 :] for row in block]
        return ahead[:limit]


@dataclasses.dataclass
class _Group:
    """Episodes opened together, and the files they need."""

    episodes: list[int]
    files: set[str]
    dataset: Any = None
    fetch: Any = None  # a BatchedFetch of `dataset`, where it reads it
    # This reader's blocks the group covers, as rows of `dataset`: what it decodes ahead
    blocks: list[list[int]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class _Span:
    """A file group of a pass: blocks `[first, stop)` of the rank's sequence."""

    first: int
    stop: int
    episodes: list[int]
    files: frozenset[str]


class _Groups:
    """A pass's file groups: from the block where the pass starts, runs of consecutive blocks of
    the rank's sequence whose files fit half of `cache_bytes` (at least one block each), planned
    as far as asked. Every reader of the process plans the same groups: they share them."""

    def __init__(
        self, stream: EpisodeStream, order: np.ndarray, sequence: range, start: int
    ) -> None:
        self.stream, self.order, self.sequence = stream, order, sequence
        self.spans: list[_Span] = []
        self.sizes: dict[str, int] = {}  # the planned groups' files' sizes
        self._bytes: dict[tuple[int, int], int] = {}  # see `bytes`
        self._start = start
        self._sized = start  # the blocks before this one have their files' sizes known
        self._lock = threading.RLock()  # the background fetch plans too

    def _plan_next(self) -> bool:
        """Plans the next group; False at the end of the sequence."""
        stream, sequence = self.stream, self.sequence
        first = self.spans[-1].stop if self.spans else self._start
        if first >= len(sequence):
            return False
        budget = stream.cache_bytes // 2
        episodes: set[int] = set()
        files: set[str] = set()
        used = 0
        at = first
        while at < len(sequence):
            if at >= self._sized:
                self._sized = min(len(sequence), at + _SIZE_LOOKAHEAD)
                stream._ask_sizes(self.order, sequence[at : self._sized])
            new = stream._block_episodes(self.order, sequence[at]) - episodes
            extra = set().union(*(stream._files_of(e) for e in new)) - files if new else set()
            for file in extra:
                self.sizes[file] = stream._size(file)
            cost = sum(self.sizes[f] for f in extra)
            if episodes and used + cost > budget:
                break
            episodes |= new
            files |= extra
            used += cost
            at += 1
        self.spans.append(_Span(first, at, sorted(episodes), frozenset(files)))
        return True

    # Planning asks the store for file sizes (round trips) under the lock, in the thread that
    # fetches ahead; a reader asking for a group already planned must not wait for that, so
    # each lookup first reads the list of groups, which is only ever appended to.

    def index_of(self, at: int) -> int:
        """The group of sequence block `at` (at or after the pass's start)."""
        spans = self.spans
        if not spans or spans[-1].stop <= at:
            with self._lock:
                while not self.spans or self.spans[-1].stop <= at:
                    if not self._plan_next():
                        raise IndexError(f"block {at} is past the sequence's end")
        return next(k for k in range(len(spans) - 1, -1, -1) if spans[k].first <= at)

    def span(self, index: int) -> _Span:
        if len(self.spans) <= index:
            with self._lock:
                while len(self.spans) <= index and self._plan_next():
                    pass
        return self.spans[index]

    def files(self, first: int, last: int) -> set[str]:
        """The files of groups `first` to `last` (those the sequence has)."""
        if len(self.spans) <= last:
            with self._lock:
                while len(self.spans) <= last and self._plan_next():
                    pass
        return set().union(*(span.files for span in self.spans[first : last + 1]))

    def bytes(self, first: int, last: int) -> int:
        """The bytes of the files of groups `first` to `last` together (asked again and again
        while a reader waits for room: computed once)."""
        if (first, last) not in self._bytes:
            self._bytes[first, last] = sum(self.sizes[f] for f in self.files(first, last))
        return self._bytes[first, last]


class EpisodeStream(torch.utils.data.IterableDataset):  # type: ignore[type-arg]
    """A LeRobot v3 dataset read as an exactly resumable stream (see the module docstring).

    Items equal `LeRobotDataset(repo_id, root=<a local copy>, same options)[index]` for the
    frame of that `index`: they go through LeRobot's own reading and decoding (with
    `delta_timestamps`, `image_transforms`, `return_uint8`). Every kept frame comes exactly once
    per epoch over all workers and processes; workers' counts differ by at most one batch.

    Args:
        repo_id: the dataset's repo id (as `LeRobotDataset` takes it).
        root: a local directory or an fsspec URL (`http(s)://`, others with their package).
        seed: the order's seed, in `[0, 2**64)`.
        shuffle: shuffle (True) or boundary order (False).
        window: frames per window, `"auto"` (sized to the decoders a reader keeps and to
            0.4 of `cache_bytes`, counted in whole files, for the grouping of episodes
            that holds the most frames) or None (the global order: every block may need
            other files).
        batch_size: the DataLoader's batch size: a block of the order is one batch.
        cache_dir: where the files being read are kept (default: `episampler-streams-<uid>`
            in the system's temporary directory).
            Streams may share one, in one process or in several: each keeps its files in a
            directory of its own under `cache_dir/streams`, deleted with the stream; one left
            by a process that ended without deleting it is deleted by the next stream there.
        cache_bytes: local disk for data and video files in this process, whose DataLoader
            workers share one copy: the files being read and those fetched ahead each get
            half, and `window="auto"` keeps a window's files within four fifths of that half.
        episodes: episode ids to read (default: all).
        delta_timestamps: as `LeRobotDataset`'s.
        image_transforms: as `LeRobotDataset`'s.
        return_uint8: as `LeRobotDataset`'s (True: frames as uint8, as lerobot-train reads).
        video_backend: as `LeRobotDataset`'s.
        tolerance_s: as `LeRobotDataset`'s.
        num_replicas: processes (default: `torch.distributed`'s world size, else 1).
        rank: this process's rank (default: `torch.distributed`'s, else 0).
        retries: tries after the first for each piece of a file, with exponential backoff.
        backoff_s: the first wait between tries, doubled at each, >= 0.
        timeout_s: over `http(s)://`, a request fails (and is retried) when its connection
            takes longer than this to open, or a read waits longer than this for data, > 0.
        streams: streams of windows in the order (default: the processes, one stream each,
            which its DataLoader workers share). The order depends on it, not on the worker
            count: a resume by step continues it on any number of workers.
        stream_readers: readers splitting each stream's windows, each taking every
            `stream_readers`-th batch of it and its own runs of 8 frames of the window
            (`EpisodeAwareSampler`'s `stream_readers`; default 2). A process's DataLoader
            workers decode least when each reads one reader's batches (`stream_readers` equal
            to, or a multiple of, the workers per process). The order depends on it, not on the
            worker count; a loaded state keeps its first run's.
    """

    def __init__(
        self,
        repo_id: str,
        *,
        root: str | os.PathLike[str],
        seed: int = 0,
        shuffle: bool = True,
        window: int | str | None = "auto",
        batch_size: int = 1,
        cache_dir: str | os.PathLike[str] | None = None,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        episodes: list[int] | None = None,
        delta_timestamps: dict[str, list[float]] | None = None,
        image_transforms: Any = None,
        return_uint8: bool = True,
        video_backend: str | None = None,
        tolerance_s: float = 1e-4,
        num_replicas: int | None = None,
        rank: int | None = None,
        retries: int = 4,
        backoff_s: float = 0.05,
        streams: int | None = None,
        timeout_s: float = 60.0,
        stream_readers: int | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(repo_id, str):
            raise TypeError(f"repo_id must be a str, got {type(repo_id).__name__}")
        self.repo_id = repo_id
        self.root = os.fspath(root)  # as given: a directory or a URL
        self.seed = as_int("seed", seed, high=2**64)
        self.shuffle = as_bool("shuffle", shuffle)
        if window is not None and window != "auto":
            if isinstance(window, str):
                raise ValueError(f"window must be an int >= 1, None or 'auto', got {window!r}")
            window = as_int("window", window, low=1, high=2**63)
        self.window = window
        self.batch_size = as_int("batch_size", batch_size, low=1, high=2**31)
        self.cache_bytes = as_int("cache_bytes", cache_bytes, low=1, high=2**63)
        self.retries = as_int("retries", retries, high=100)
        self.options = {
            "delta_timestamps": delta_timestamps,
            "image_transforms": image_transforms,
            "return_uint8": as_bool("return_uint8", return_uint8),
            "video_backend": video_backend,
            "tolerance_s": float(tolerance_s),
        }
        if num_replicas is None or rank is None:
            import torch.distributed as dist

            ready = dist.is_available() and dist.is_initialized()
            num_replicas = num_replicas or (dist.get_world_size() if ready else 1)
            rank = rank if rank is not None else (dist.get_rank() if ready else 0)
        self.num_replicas = as_int("num_replicas", num_replicas, low=1, high=2**31)
        self.rank = as_int("rank", rank, high=self.num_replicas)
        self._source = _Source(
            root,
            self.retries,
            as_seconds("backoff_s", backoff_s),
            as_seconds("timeout_s", timeout_s, positive=True),
        )
        # A directory of its own goes with the stream: when it is collected, at exit, or at
        # `close()` (copies of the files being read would otherwise stay behind, up to
        # `cache_bytes`, after every run), under `cache_dir`, where no other stream deletes it
        # while this one lives, and where the next stream deletes it if its process is killed.
        self._removal: weakref.finalize[Any, Any] | None
        self.cache_dir = _default_cache_dir() if cache_dir is None else Path(cache_dir)
        self._work, lock = _claim_directory(self.cache_dir)
        self._removal = weakref.finalize(
            self, _release_directory, str(self._work), lock, os.getpid()
        )
        self._mirror = self._work / repo_id if self._source.remote else self._source.local
        if self._source.remote:
            for name in _meta_files(self._source):
                if not (self._mirror / name).exists():
                    self._source.fetch(name, self._mirror / name)
        from lerobot.datasets.dataset_metadata import LeRobotDatasetMetadata

        with _datasets_cache(self._work / "arrow" / "meta"):
            self.meta = LeRobotDatasetMetadata(repo_id, root=self._mirror)
        self.episodes = None if episodes is None else sorted({int(e) for e in episodes})
        table = self.meta.episodes
        self._starts = np.asarray(table["dataset_from_index"], dtype=np.int64)
        self._ends = np.asarray(table["dataset_to_index"], dtype=np.int64)
        self.epoch = 0
        # Where a pass starts in this rank's sequence of blocks, the next one this reader
        # reads (None: not started, so `start` plus its worker number) and the items of that
        # block already yielded.
        self._start: int = 0
        self._next: int | None = None
        self._offset: int = 0
        # Fixed by the argument, the first iteration or a loaded state.
        self._streams = None if streams is None else as_int("streams", streams, low=1)
        self._order: tuple[int | None, str | None] | None = None  # see `_window_settings`
        self.stream_readers = (
            None if stream_readers is None else as_int("stream_readers", stream_readers, low=1)
        )
        self._stream_readers = self.stream_readers  # fixed with the order: `_window_settings`
        self._disk_fits: dict[tuple[str, float], tuple[int, float]] = {}  # see `_disk_fit`
        self._pass_readers: int | None = None  # the readers splitting the pass (its state's)
        self._passes = 0  # passes begun by this reader
        self._groups: _Groups | None = None  # the pass's file groups
        self._copies: SharedCopies | None = None  # the local copies, shared in the process
        self._group: _Group | None = None
        self._group_index = -1  # the pass's group `_group` is
        self._template: Any = None  # the first group's dataset: the metadata later ones share
        self._opened = 0  # groups opened by this reader
        self._episode_columns: Any = None  # the batched fetch's, shared by every group
        self._decode_pool: tuple[Any, int | None] = (None, None)  # likewise (see `_read`)
        self._frame_bytes: dict[str, int] = {}  # a decoded frame's size per camera, likewise
        self._ahead: Future[bool] | None = None
        self._pool: ThreadPoolExecutor | None = None

    # --- the order -----------------------------------------------------------------------

    def _readers(self) -> tuple[int, int, int]:
        """(readers R, this reader's index, workers K) in this process."""
        info = torch.utils.data.get_worker_info()
        workers, worker = (1, 0) if info is None else (info.num_workers, info.id)
        return self.num_replicas * workers, self.rank + self.num_replicas * worker, workers

    def _window_settings(self, streams: int) -> tuple[int | None, str | None]:
        """(frames per window, grouping) of the order, None for the global order: resolved once
        and then kept. `window="auto"` is sized to 0.4 of `cache_bytes` divided among the
        order's `streams` per process (one stream per process unless `streams` says more),
        whatever the worker count: a process's workers read one stream's windows and share
        their files. The state carries the result, so a resumed stream reads its first run's
        order whatever the environment says now (the decoder cache size). The readers of each
        stream are fixed with it (`_DEFAULT_STREAM_READERS` unless given), whatever the worker
        count, so that a resume by step on another worker count continues the order."""
        if self._stream_readers is None:
            windowed = self.shuffle and self.window is not None
            self._stream_readers = _DEFAULT_STREAM_READERS if windowed else 1
        if self._order is None:
            ways = max(1, streams // self.num_replicas)
            self._order = self._resolve_window(ways)
            window, group_by = self._order
            if window is not None and group_by is not None:
                fits, group_bytes = self._disk_fit(group_by, ways)
                if group_bytes > self.cache_bytes / ways / 2:
                    logger.warning(
                        "EpisodeStream: the files of one file group take up to %s, more "
                        "than half of cache_bytes=%d%s: a process keeps the group it reads "
                        "and the next one, so the local copy will exceed cache_bytes. Pass "
                        "cache_bytes >= %d.",
                        _size_text(group_bytes),
                        self.cache_bytes,
                        "" if ways == 1 else f" divided among {ways} streams",
                        math.ceil(2 * group_bytes * ways),
                    )
                elif window > fits:
                    logger.warning(
                        "EpisodeStream: a window of %d frames does not fit half of "
                        "cache_bytes=%d%s (about %d frames): most blocks will need files of "
                        "the next group, which is then opened and fetched anew (slow). Pass a "
                        "larger cache_bytes or a smaller window.",
                        window,
                        self.cache_bytes,
                        "" if ways == 1 else f" divided among {ways} streams",
                        fits,
                    )
        return self._order

    def _disk_fit(self, group_by: str, ways: float) -> tuple[int, float]:
        """The largest window whose files fit half of `cache_bytes` divided among `ways`
        streams, and the bytes of the largest file group's files (`disk_window`: a window
        copies whole files, estimated from the bytes per frame of each kind of file); computed
        once for each (grouping, ways)."""
        from episampler.lerobot.auto_window import disk_window
        from episampler.lerobot.layout import lerobot_groups

        if (group_by, ways) in self._disk_fits:
            return self._disk_fits[group_by, ways]

        view = SimpleNamespace(meta=self.meta, episodes=self.episodes)
        lengths = self._ends - self._starts
        kept = np.arange(len(lengths)) if self.episodes is None else np.asarray(self.episodes)
        columns: list[np.ndarray] = []
        sizes: list[np.ndarray] = []
        for prefix, per_frame in self._prefix_bytes_per_frame.items():
            _, file_of = np.unique(self._file_keys(prefix), return_inverse=True)
            file_of = file_of.reshape(-1)
            columns.append(file_of + sum(map(len, sizes)))  # ids distinct over the kinds
            sizes.append(np.bincount(file_of, weights=lengths) * per_frame)
        fit = disk_window(
            lerobot_groups(view, group_by)[kept],
            lengths[kept],
            np.stack(columns, axis=1)[kept],
            np.concatenate(sizes),
            self.cache_bytes / ways / 2,
        )
        self._disk_fits[group_by, ways] = fit
        return fit

    def _resolve_window(self, ways: int = 1) -> tuple[int | None, str | None]:
        """`(window, group_by)` for this stream's `window` (None, None: the global order).
        `window="auto"`: for each grouping (episodes sharing the files of every camera, or
        one camera's file), the smaller of the window its decoders hold (`_decoder_bound`) and
        the one whose files fit `_WINDOW_SHARE_OF_GROUP` of a file group's share of
        `cache_bytes` (`_disk_fit`); the grouping with the largest window wins (all
        cameras' files on a tie). Coarser units waste less disk on files copied whole for one
        episode, so for the same disk a window holds more episodes, and a batch mixes more of
        them."""
        from episampler.lerobot.auto_window import windows_per_grouping

        if not self.shuffle or self.window is None:
            return None, None
        if self.window != "auto":
            return int(self.window), "video_file" if self.meta.video_keys else "data_file"
        view = SimpleNamespace(meta=self.meta, episodes=self.episodes)
        bound = self._decoder_bound()
        decoders = windows_per_grouping(view, cache_size=bound) or {"data_file": None}
        windows: dict[str, int] = {}
        for group_by, held in decoders.items():
            fits, _ = self._disk_fit(group_by, ways / _WINDOW_SHARE_OF_GROUP)
            windows[group_by] = fits if held is None else min(held, fits)
        group_by = max(windows, key=lambda g: windows[g])  # the first on a tie
        logger.info(
            "EpisodeStream: window='auto': %d frames grouped by %s, the largest window whose "
            "files fit 0.4 of cache_bytes=%d%s and %s decoder(s) (windows per grouping: "
            "%s)",
            windows[group_by],
            group_by,
            self.cache_bytes,
            "" if ways == 1 else f" divided among {ways} streams",
            bound,
            windows,
        )
        return windows[group_by], group_by

    def _decoder_bound(self) -> int | str:
        """The decoders a reader keeps open for one group: LeRobot's count if the user chose
        it, else every file of the group if they fit the batched fetch's memory budget (see
        `episampler.lerobot.decoders`), not LeRobot's default count: a group's files are
        read by its own fetch, so a window may hold as many files as those decoders."""
        from episampler.lerobot.decoders import (
            estimated_decoder_bytes,
            largest_frame_bytes,
            lerobot_decoder_bound,
        )

        bound = lerobot_decoder_bound(estimated_decoder_bytes(largest_frame_bytes(self.meta)))
        return "unbounded" if bound is None else bound

    def _sampler(self, streams: int) -> Any:
        from episampler._sampler import EpisodeAwareSampler
        from episampler.lerobot.layout import lerobot_groups

        settings: dict[str, Any] = {}
        window, group_by = self._window_settings(streams)
        if window is not None and group_by is not None:
            view = SimpleNamespace(meta=self.meta, episodes=self.episodes)
            settings = {"window": window, "episode_groups": lerobot_groups(view, group_by)}
            if streams > 1:
                settings.update(streams=streams, stream_block=self.batch_size)
            if (self._stream_readers or 1) > 1:
                settings.update(stream_readers=self._stream_readers, stream_block=self.batch_size)
        return EpisodeAwareSampler(
            self._starts,
            self._ends,
            self.episodes,
            shuffle=self.shuffle,
            seed=self.seed,
            **settings,
        )

    def _file_keys(self, prefix: str) -> np.ndarray:
        """One key per episode: the file of kind `prefix` ("data" or "videos/<video key>")
        holding it."""
        table = self.meta.episodes
        chunk = np.asarray(table[f"{prefix}/chunk_index"], dtype=np.int64)
        return chunk * 2**32 + np.asarray(table[f"{prefix}/file_index"], dtype=np.int64)

    @functools.cached_property
    def _prefix_bytes_per_frame(self) -> dict[str, float]:
        """Bytes per frame of each kind of file (data, each camera's video), estimated from
        the files of up to 8 episodes spread over the dataset (once: resolving a window and
        checking it both ask)."""
        lengths = self._ends - self._starts
        kept = np.arange(len(lengths)) if self.episodes is None else np.asarray(self.episodes)
        spread = kept[np.linspace(0, len(kept) - 1, min(8, len(kept))).astype(int)]
        estimates = {}
        for prefix in ["data"] + [f"videos/{key}" for key in self.meta.video_keys]:
            key = self._file_keys(prefix)
            sizes, frames = 0, 0
            for episode in {int(key[e]): int(e) for e in spread}.values():  # a file once
                if prefix == "data":
                    relative = str(self.meta.get_data_file_path(episode))
                else:
                    camera = prefix.removeprefix("videos/")
                    relative = str(self.meta.get_video_file_path(episode, camera))
                sizes += self._size(relative)
                frames += int(lengths[key == key[episode]].sum())
            estimates[prefix] = max(sizes / max(frames, 1), 1e-3)
        return estimates

    def __len__(self) -> int:
        """Kept frames per epoch over all readers."""
        if self.episodes is None:
            return int((self._ends - self._starts).sum())
        return int(sum(self._ends[e] - self._starts[e] for e in self.episodes))

    @property
    def num_frames(self) -> int:
        """Kept frames per epoch (as `LeRobotDataset.num_frames`)."""
        return len(self)

    @property
    def num_episodes(self) -> int:
        """Kept episodes."""
        return len(self._starts) if self.episodes is None else len(self.episodes)

    def set_epoch(self, epoch: int) -> None:
        """Start `epoch` from its beginning at the next iteration; a no-op if it is already the
        current epoch (the place inside it is kept, so a loader that calls `set_epoch` at every
        pass, as accelerate's does, does not undo a resume)."""
        epoch = as_int("epoch", epoch, high=2**63)
        if epoch != self.epoch:
            self.epoch = epoch
            self._start, self._next, self._offset = 0, None, 0

    # --- state ---------------------------------------------------------------------------

    def _identity(self) -> str:
        text = json.dumps(
            [self.repo_id, self.seed, self.shuffle, self.window, self.batch_size,
             self.episodes, len(self), self.num_replicas],
            default=str,
        )  # fmt: skip
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def state_dict(self) -> dict[str, Any]:
        """Where this reader's stream continues: JSON-serialisable."""
        return {
            "version": STATE_VERSION,
            "epoch": self.epoch,
            "start": self._start,
            "next": self._next,
            "offset": self._offset,
            "streams": self._streams,
            "readers": self._pass_readers,
            "order": self._order_json(),
            "fingerprint": self._identity(),
        }

    def _order_json(self) -> dict[str, Any] | None:
        if self._order is None:
            return None
        return {"window": self._order[0], "group_by": self._order[1],
                "stream_readers": self._stream_readers or 1}  # fmt: skip

    def _checked_order(self, order: Any) -> tuple[int | None, str | None] | None:
        """A state's `order` (None: not resolved yet), checked; its readers per stream (1 in
        states saved before them) go to `_stream_readers`."""
        from episampler.lerobot.layout import is_group_by

        if order is None:
            return None
        if not isinstance(order, Mapping) or not (
            {"window", "group_by"} <= set(order) <= {"window", "group_by", "stream_readers"}
        ):
            raise ValueError(
                f"state['order'] must be null or an object with 'window', 'group_by' and "
                f"'stream_readers', got {order!r}"
            )
        readers = order.get("stream_readers", 1)
        readers = as_int("state['order']['stream_readers']", readers, low=1, high=2**31)
        window, group_by = order["window"], order["group_by"]
        if window is not None:
            window = as_int("state['order']['window']", window, low=1, high=2**63)
        if (window is None) != (group_by is None) or (
            group_by is not None and not is_group_by(group_by)
        ):
            raise ValueError(f"state['order'] is not a window and its grouping: {dict(order)!r}")
        auto = self.shuffle and self.window == "auto"
        resolved = None if auto else self._resolve_window(1)
        if resolved is not None and resolved != (window, group_by):
            raise ValueError(
                f"state['order'] is {dict(order)!r} but this stream's window={self.window!r} "
                f"reads {resolved}"
            )
        self._fix_readers(readers)
        return window, group_by

    def _fix_readers(self, readers: int) -> None:
        """Fixes the order's readers per stream to a state's, unless they were given apart."""
        if self.stream_readers is not None and readers != self.stream_readers:
            raise ValueError(
                f"state['order']['stream_readers'] is {readers} but this stream was made with "
                f"stream_readers={self.stream_readers}"
            )
        self._stream_readers = readers

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue where `state` (from `state_dict` or `resume_from_step`) left off."""
        if not isinstance(state, Mapping):
            raise TypeError(f"state must be a mapping, got {type(state).__name__}")
        missing = {"epoch", "start", "next", "offset", "streams", "fingerprint"} - set(state)
        if missing:
            raise ValueError(f"state lacks {', '.join(sorted(missing))}")
        version = state.get("version")
        if version not in (1, 2, 3, STATE_VERSION) or isinstance(version, bool):
            raise ValueError(
                f"state['version'] is {version!r}: this episampler reads EpisodeStream states of "
                f"versions 1 to {STATE_VERSION}"
            )
        if state["fingerprint"] != self._identity():
            raise ValueError(
                "this state is from another EpisodeStream (dataset, seed, shuffle, window, "
                "batch_size, episodes or processes differ)"
            )
        self.epoch = as_int("state['epoch']", state["epoch"], high=2**63)
        self._start = as_int("state['start']", state["start"], high=2**63)
        following = state["next"]
        self._next = None if following is None else as_int("state['next']", following, high=2**63)
        self._offset = as_int("state['offset']", state["offset"], high=self.batch_size + 1)
        streams = state["streams"]
        self._streams = None if streams is None else as_int("state['streams']", streams, low=1)
        # Before version 3 a pass's readers were its streams.
        readers = state.get("readers", streams) if version >= 3 else streams
        self._pass_readers = (
            None if readers is None else as_int("state['readers']", readers, low=1, high=2**31)
        )
        order = self._checked_order(state.get("order"))  # a version-1 state has none
        if order is not None:
            self._order = order
        elif version < 4:  # its run read one reader per stream
            self._fix_readers(1)

    def resume_from_step(
        self, step: int, *, num_workers: int, gradient_accumulation_steps: int = 1
    ) -> dict[str, Any]:
        """Set the stream to continue after `step` optimiser steps of this process's
        DataLoader with `num_workers` workers (its batches are this rank's blocks in order;
        an optimiser step every `gradient_accumulation_steps` batches and at each epoch's end).
        The order's streams and window are the first run's where a loaded state (or
        `episampler-lerobot-train`'s checkpoint) fixed them; otherwise they are resolved from
        the `streams` given (the first run's, on another worker count) or for `num_workers`.
        """
        step = as_int("step", step, high=2**62)
        workers = max(1, as_int("num_workers", num_workers, high=2**31))
        accumulation = as_int("gradient_accumulation_steps", gradient_accumulation_steps, low=1)
        self._fix_order(workers, None)  # unless a state or the first run fixed it
        blocks = math.ceil(len(self) / self.batch_size)
        rank_blocks = len(range(self.rank, blocks, self.num_replicas))
        if rank_blocks == 0:
            raise ValueError(f"rank {self.rank} has no batch in an epoch of {len(self)} frames")
        epoch, steps = divmod(step, math.ceil(rank_blocks / accumulation))
        done = min(steps * accumulation, rank_blocks)
        state = {
            "version": STATE_VERSION,
            "epoch": epoch,
            "start": done,
            "next": None,
            "offset": 0,
            "streams": self._streams,
            "readers": None,
            "order": self._order_json(),
            "fingerprint": self._identity(),
        }
        self.load_state_dict(state)
        return state

    def _order_settings(self) -> dict[str, Any]:
        """The order's settings as `episampler-lerobot-train` saves them with a checkpoint."""
        window, group_by = self._order if self._order is not None else (None, None)
        return {"window": window, "group_by": group_by, "streams": self._streams,
                "stream_block": self.batch_size,
                "stream_readers": self._stream_readers or 1}  # fmt: skip

    def _fix_order(self, num_workers: int, saved: Mapping[str, Any] | None) -> None:
        """Fixes the order before the DataLoader's workers copy the stream: `saved` (a
        checkpoint's `_order_settings`) if given, else resolved (one stream per process,
        whatever `num_workers`)."""
        as_int("num_workers", num_workers, high=2**31)  # checked: the order does not use it
        if saved:
            readers = saved.get("stream_readers", 1)  # 1: saved before readers
            self._order = self._checked_order(
                {"window": saved.get("window"), "group_by": saved.get("group_by"),
                 "stream_readers": readers}
            )  # fmt: skip
            self._streams = as_int("streams", saved.get("streams"), low=1)
        else:
            self._streams = self._streams or self.num_replicas
            self._window_settings(self._streams)

    # --- reading -------------------------------------------------------------------------

    @property
    def _files(self) -> Path:
        """Where this process's data and video files are: the root itself when it is local,
        else a directory its readers share (one process never deletes another's files),
        sharing the metadata."""
        if not self._source.remote:
            return self._mirror
        files = self._work / "ranks" / str(self.rank) / self.repo_id
        if not (files / "meta").exists():
            files.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):  # another worker made it
                (files / "meta").symlink_to((self._mirror / "meta").resolve(), True)
        return files

    def _pass_copies(self, worker: int, workers: int) -> SharedCopies | None:
        """The copies this pass's readers in this process share (None for a local root). The
        pass is named by the main process, the DataLoader iterator's base seed and the pass
        count, the same in all its workers and new at each pass."""
        if not self._source.remote:
            return None
        info = torch.utils.data.get_worker_info()
        if info is None:
            name = f"{os.getpid()}-{id(self)}-{self._passes}"
        else:
            # and the pass of persistent workers, which keep their base seed
            name = f"{os.getppid()}-{info.seed - info.id}-{self._passes}"
        passes = self._files.parent / "passes"
        if worker == 0:  # earlier passes' frontiers, once all their readers were done
            for old in passes.glob("*"):
                frontiers = [p.read_text() for p in old.glob("[0-9]*") if p.suffix != ".tmp"]
                if old.name != name and frontiers and all(f == str(DONE) for f in frontiers):
                    shutil.rmtree(old, ignore_errors=True)
        return SharedCopies(
            self._files,
            self._source.fetch,
            passes / name,
            worker,
            workers,
            _CONCURRENT_FETCHES,
            groups_ahead=2,  # see `_fetch_if_room`
        )

    def __iter__(self) -> Iterator[dict[str, Any]]:
        readers, _, workers = self._readers()
        if self._streams is None:
            self._streams = self.num_replicas
        if self._next is not None and (self._pass_readers or readers) != readers:
            # A worker's own place (torchdata's per-worker state) splits the blocks as its
            # run did; a state from `resume_from_step` splits them anew on any worker count.
            raise ValueError(
                f"this state was saved by one of {self._pass_readers} readers (processes x "
                f"DataLoader workers) and is read by {readers}: resume with the same workers "
                "and processes, or by step (resume_from_step), which any number continues"
            )
        self._pass_readers = readers
        sampler = self._sampler(self._streams)
        order = sampler.epoch_indices(self.epoch)
        blocks = math.ceil(len(order) / self.batch_size)
        # This rank's blocks in order are its sequence; worker w of K reads every K-th from
        # where the pass starts, as the DataLoader deals batches from its workers in turn.
        sequence = range(self.rank, blocks, self.num_replicas)
        worker = (self._readers()[1] - self.rank) // self.num_replicas
        first = self._start + worker if self._next is None else self._next
        self._passes += 1
        self._groups = groups = _Groups(self, order, sequence, self._start)
        self._copies = self._pass_copies(worker, workers)
        self._group, self._group_index, self._ahead = None, -1, None
        frontier = groups.index_of(first) if first < len(sequence) else DONE
        if self._copies is not None:
            self._copies.set_frontier(frontier)
        for at in range(first, len(sequence), workers):
            self._next = at
            block = sequence[at]
            positions = order[block * self.batch_size : (block + 1) * self.batch_size]
            items = self._read(positions[self._offset :], at, workers)
            following = at + workers
            if self._copies is not None:  # before yielding: see `SharedCopies`
                reached = groups.index_of(following) if following < len(sequence) else DONE
                if reached != frontier:
                    frontier = reached
                    self._copies.set_frontier(frontier)
            for item in items:
                self._offset += 1
                yield item
            self._next, self._offset = following, 0
        if self._copies is not None and frontier != DONE:
            self._copies.set_frontier(DONE)
        self.epoch += 1
        self._start, self._next, self._offset = 0, None, 0

    def _files_of(self, episode: int) -> frozenset[str]:
        return self._episode_files[episode]

    @functools.cached_property
    def _episode_files(self) -> list[frozenset[str]]:
        """Each episode's data and video files (LeRobot's per-episode lookup reads the
        episode's whole metadata row: once per frame in a plan)."""
        from episampler.lerobot.layout import episode_file_paths

        videos = [episode_file_paths(self.meta, key) for key in self.meta.video_keys]
        return [frozenset(files) for files in zip(self._data_file_of, *videos, strict=True)]

    @functools.cached_property
    def _data_file_of(self) -> list[str]:
        """Each episode's data file."""
        from episampler.lerobot.layout import episode_file_paths

        return episode_file_paths(self.meta, None)

    def _block_episodes(self, order: np.ndarray, block: int) -> set[int]:
        positions = order[block * self.batch_size : (block + 1) * self.batch_size]
        return set((np.searchsorted(self._starts, positions, side="right") - 1).tolist())

    def _ask_sizes(self, order: np.ndarray, blocks: Sequence[int]) -> None:
        """Asks the remote store for the sizes of the files of `blocks` not known yet, several
        at once (one round trip each)."""
        if not self._source.remote:
            return
        episodes = set().union(*(self._block_episodes(order, b) for b in blocks))
        files = {f for e in episodes for f in self._files_of(e)}
        unknown = sorted(
            f for f in files if not self._source.size_known(f) and not (self._files / f).exists()
        )
        if len(unknown) > 1:
            with ThreadPoolExecutor(
                min(_CONCURRENT_FETCHES, len(unknown)), thread_name_prefix="episampler-size"
            ) as pool:
                for _ in pool.map(self._source.size, unknown):
                    pass  # raises the first failure

    def _size(self, relative: str) -> int:
        local = self._files / relative
        try:
            return local.stat().st_size
        except FileNotFoundError:
            return self._source.size(relative)

    @property
    def _pass_groups(self) -> _Groups:
        if self._groups is None:
            raise RuntimeError("EpisodeStream: no pass has started")
        return self._groups

    def _ensure(self, group: int, wait: bool = True) -> bool:
        """Makes the files of the pass's `group` local (see `SharedCopies.ensure`): once the
        readers have left the group two before it, or earlier if the files of the groups from
        the oldest reader's to it fit `cache_bytes` beside the metadata. Without `wait`,
        returns False if they do not fit yet."""
        if self._copies is None:
            return True
        groups = self._pass_groups

        def fits(oldest: int) -> bool:
            return groups.bytes(oldest, group) <= self.cache_bytes - self._fixed_bytes

        return self._copies.ensure(group, groups.span(group).files, groups.files, fits, wait)

    def _fetch_if_room(self, group: int) -> None:
        """Fetches the pass's `group`, if there is one, only if it fits now. A reader fetches
        the group after the one it reads and, so, the one after that: a group may be a block
        or two (where windows meet, a block needs two windows' files), too short a time to
        fetch the next one. A transport failure here is met again when the group is fetched
        for its reading, and raised there."""
        groups = self._pass_groups
        if groups.span(group - 1).stop < len(groups.sequence):
            try:
                self._ensure(group, wait=False)
            except OSError as error:
                logger.debug("EpisodeStream: group %d not fetched early: %s", group, error)

    @functools.cached_property
    def _fixed_bytes(self) -> int:
        """What this stream keeps on the disk besides the groups' files: the metadata's copy
        and `datasets`' arrow copies (of the metadata and the first group's rows), measured
        when a group is first fetched ahead, once they are written."""
        return sum(
            path.stat().st_size
            for folder in (self._mirror / "meta", self._work / "arrow")
            for path in folder.rglob("*")
            if path.is_file()
        )

    def _open(self, group: _Group) -> _Group:
        """A `LeRobotDataset` over the group's episodes. The first group's is LeRobot's own
        constructor; later ones reuse its metadata and hold only the group's rows, in memory
        (see `_reopen`). The arrow copy of the first group's rows, which `datasets` would keep
        in its global cache, goes to a directory of this reader's, deleted with the group (and
        so do a whole group's where LeRobot's reader is not one `_reopen` knows)."""
        from lerobot.datasets.lerobot_dataset import LeRobotDataset

        from episampler.lerobot.fetch import BatchedFetch

        self._opened += 1
        arrow = self._work / "arrow" / str(self._readers()[1]) / str(self._opened)
        with _datasets_cache(arrow):
            data_files = {self._files / self._data_file_of[e] for e in group.episodes}
            group.dataset = self._template and _reopen(self._template, group.episodes, data_files)
            if group.dataset is not None:
                # The template's own rows (the first group's) are not read again: unmapped,
                # their deleted arrow files free their disk space.
                self._template.reader.hf_dataset = None
            else:
                options = {k: v for k, v in self.options.items() if v is not None}
                group.dataset = LeRobotDataset(
                    self.repo_id, root=self._files, episodes=group.episodes, **options
                )
                self._template = group.dataset
        for old in arrow.parent.glob("*"):
            if old != arrow:
                shutil.rmtree(old, ignore_errors=True)  # the previous group's (mapped) rows
        try:
            group.fetch = BatchedFetch(group.dataset)
        except (RuntimeError, TypeError):  # a LeRobot version it was not tested with
            group.fetch = None
            return group
        # The episodes' columns the batched fetch reads are the same for every group of this
        # reader (same metadata, same directory): read once, not once per group.
        group.fetch._episodes = self._episode_columns
        # Its decoding threads too: new ones for every group, started while the fetching
        # threads hold malloc arenas, would take other arenas in turn, each keeping its peak
        # of decoded frames (glibc keeps up to 8 arenas per core): +300-400 MB per worker.
        group.fetch._pool, group.fetch._pool_pid = self._decode_pool
        return group

    def _read(self, positions: np.ndarray, at: int, workers: int) -> list[Any]:
        """The items of `positions` (of block `at` of the sequence), decoded together where
        the batched fetch reads the dataset."""
        index = self._pass_groups.index_of(at)
        if self._group is None or index != self._group_index:
            self._switch(index, at, workers)
        group = cast(_Group, self._group)
        rows = [group.dataset.reader._absolute_to_relative_idx[int(i)] for i in positions]
        if group.fetch is None:
            return [group.dataset[row] for row in rows]
        items = cast(list[Any], group.fetch.__getitems__(rows))
        # Made at the first group's first batch, shared by the next groups (see `_open`).
        self._episode_columns = group.fetch._episodes
        self._decode_pool = group.fetch._pool, group.fetch._pool_pid
        return items

    def _switch(self, index: int, at: int, workers: int) -> None:
        """Opens the pass's group `index` (fetched ahead if it was planned) at this reader's
        block `at`, and starts fetching the next group in the background (and the one after
        it, if it fits: `_fetch_if_room`)."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            ahead.result()  # the group fetched ahead is local (or its failure raises here)
        groups = self._pass_groups
        span = groups.span(index)
        # The decoders of files the new group reads again are kept (opening one costs about a
        # millisecond, and a group shares files with the one before); the others let go of
        # their files before the old group's copies are deleted.
        carried: Decoders | None = None
        old = self._group.fetch if self._group is not None else None
        if old is not None and old._decoders is not None and old._decoders_pid == os.getpid():
            carried = old._decoders
            carried.keep_only({str(Path(old._dataset.root) / f) for f in span.files})
        self._group = None
        del old  # the old group's fetch (its buffer of decoded frames) goes now
        self._ensure(index)
        self._group = self._open(_Group(span.episodes, set(span.files)))
        self._group_index = index
        if self._group.fetch is not None and carried is not None:
            self._group.fetch._process_decoders().take_from(carried)
        if self._group.fetch is not None:  # this reader's blocks in the group, decoded ahead
            to_row = self._group.dataset.reader._absolute_to_relative_idx
            size = self.batch_size
            order, sequence = groups.order, groups.sequence
            self._group.blocks = [
                [to_row[int(i)] for i in order[b * size : (b + 1) * size]]
                for b in (sequence[a] for a in range(at, span.stop, workers))
            ]
            self._group.fetch._plan = _GroupPlan(self._group.blocks)
            self._group.fetch._frame_bytes = self._frame_bytes  # known after the first group
        if span.stop < len(groups.sequence) and self._copies is not None:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="episampler-stream")
            self._ahead = self._pool.submit(self._ensure, index + 1)
            self._pool.submit(self._fetch_if_room, index + 2)  # in turn, on the same thread

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.update(
            _group=None, _ahead=None, _pool=None, _episode_columns=None,
            _decode_pool=(None, None),
            _template=None, _groups=None, _copies=None,
            _removal=None,  # a copy (a worker's) leaves the directory alone
        )  # fmt: skip
        return state

    def close(self) -> None:
        """Deletes this stream's directory: the local copies it made (never a local root).
        Other streams' files under the same `cache_dir` stay."""
        if self._removal is not None:
            self._removal()


def train_stream(
    cfg: Any,
    window: int | str | None,
    resume_step: int | None,
    saved_order: Mapping[str, Any] | None = None,
    *,
    cache_bytes: int = DEFAULT_CACHE_BYTES,
    cache_dir: str | os.PathLike[str] | None = None,
) -> EpisodeStream:
    """The training data of `episampler-lerobot-train --dataset.streaming=true`: an
    `EpisodeStream` with the options LeRobot's `make_dataset` gives its datasets (uint8 frames,
    the policy's `delta_timestamps`, image transforms, ImageNet stats) and
    `--episampler.window` (default `"auto"`), `--episampler.cache_bytes` and
    `--episampler.cache_dir`, set to continue after `resume_step` steps.
    Its order (streams, window, grouping) is `saved_order`, the resumed checkpoint's, or fixed
    now for `cfg.num_workers`; the caller saves `_order_settings()` with each checkpoint, so a
    resumed run reads the first run's order even with another worker count or decoder cache.
    Each process of a `torch.distributed` group reads its own share of every epoch (the
    training loop then reads it through `per_process_loader`)."""
    import inspect

    import torch.distributed as dist
    from lerobot.datasets import factory

    dataset = cfg.dataset
    distributed = dist.is_available() and dist.is_initialized()
    transforms = None
    if dataset.image_transforms.enable:
        transforms = factory.ImageTransforms(dataset.image_transforms)
    stream = EpisodeStream(
        dataset.repo_id,
        root=dataset.root,
        seed=int(cfg.seed) if cfg.seed is not None else 0,
        window="auto" if window is None else window,
        batch_size=int(cfg.batch_size),
        episodes=dataset.episodes,
        image_transforms=transforms,
        return_uint8=True,
        video_backend=dataset.video_backend,
        tolerance_s=cfg.tolerance_s,
        num_replicas=dist.get_world_size() if distributed else 1,
        rank=dist.get_rank() if distributed else 0,
        cache_bytes=cache_bytes,
        cache_dir=cache_dir,
    )
    policy = getattr(cfg, "trainable_config", None) or cfg.policy
    resolve = factory.resolve_delta_timestamps
    arguments = [policy, stream.meta]
    if len(inspect.signature(resolve).parameters) > 2:  # LeRobot 0.6.2: the rename map
        arguments.append(getattr(cfg, "rename_map", None))
    stream.options["delta_timestamps"] = resolve(*arguments)
    if dataset.use_imagenet_stats:
        for key in stream.meta.camera_keys:
            if key not in getattr(stream.meta, "depth_keys", []):
                for kind, stats in factory.IMAGENET_STATS.items():
                    stream.meta.stats[key][kind] = torch.tensor(stats, dtype=torch.float32)
    logger.info("episampler: streaming %s from %s", dataset.repo_id, dataset.root)
    stream._fix_order(int(cfg.num_workers), saved_order)
    if resume_step:
        state = stream.resume_from_step(resume_step, num_workers=int(cfg.num_workers))
        logger.info(
            "episampler: the stream continues after step %d: epoch %d, batch %d",
            resume_step,
            state["epoch"],
            state["start"],
        )
    return stream


def per_process_loader(dataloader: Any, stream: EpisodeStream) -> Any:
    """The loader a process of lerobot-train reads `stream` through: `dataloader` (as
    accelerate prepared it) on one process; on several, a loader of this process's share,
    prepared by accelerate as for one process (batches still placed on its device). accelerate
    would otherwise either dispatch an iterable dataset from the main process (which cannot
    concatenate LeRobot's task strings, and decodes every process's batches in one) or read
    all of it in every process and keep a slice."""
    if stream.num_replicas == 1:
        return dataloader
    from accelerate.data_loader import prepare_data_loader
    from accelerate.state import PartialState

    options = {
        name: getattr(dataloader, name)
        for name in ("num_workers", "collate_fn", "pin_memory", "timeout", "worker_init_fn",
                     "multiprocessing_context", "persistent_workers")
    }  # fmt: skip
    if dataloader.num_workers > 0:
        options["prefetch_factor"] = dataloader.prefetch_factor
    own = torch.utils.data.DataLoader(stream, batch_size=stream.batch_size, **options)
    return prepare_data_loader(
        own, PartialState().device, num_processes=1, process_index=0, dispatch_batches=False
    )
