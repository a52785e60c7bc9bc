"""`EpisodeAwareSampler`: the torch `Sampler` users see. It validates arguments, keeps the resume
point and the state protocol; the order itself is computed by the Rust core."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, TypedDict, cast

import numpy as np
import numpy.typing as npt

from episampler import _core
from episampler._core import SamplerCore
from episampler._inputs import as_bool, as_index_array, as_int, rows_for_frames
from episampler._resumable import COUNT_LIMIT, ResumableSampler, digest

# Names and limits come from the core (rust/core/src/config.rs), where each is written once.
PERMUTATIONS: tuple[str, ...] = _core.PERMUTATIONS
MAX_STREAMS: int = _core.MAX_STREAMS


def _as_groups(episode_groups: Any, num_episodes: int) -> np.ndarray:
    groups = as_index_array("episode_groups", episode_groups)
    _core.check_group_ids("episode_groups", len(groups), num_episodes)
    return groups


def _first_seen_labels(groups: np.ndarray) -> np.ndarray:
    """Group ids renumbered by first appearance: the grouping itself, whatever its labels (the
    order and the fingerprint depend only on which episodes share a group)."""
    _, first, inverse = np.unique(groups, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    return rank[inverse.reshape(-1)]


class StreamSettings(TypedDict):
    """`streams` and `stream_block` of a configuration (what `stream_settings` returns)."""

    streams: int
    stream_block: int | None


def _stream_config(
    streams: Any, stream_block: Any, stream_readers: Any, window: Any, permutation: str
) -> dict[str, Any]:
    """The `streams` / `stream_block` / `stream_readers` entries of a configuration;
    `stream_block` is dropped with one stream and one reader, so it never changes that order or
    its fingerprint."""
    streams = as_int("streams", streams, low=1, high=MAX_STREAMS + 1)
    stream_readers = as_int("stream_readers", stream_readers, low=1, high=MAX_STREAMS + 1)
    if stream_block is not None:
        stream_block = as_int("stream_block", stream_block, low=1, high=2**63)
    windowed = window is not None
    streams, by_streams = _core.stream_settings(streams, stream_block, windowed)
    stream_readers, by_readers = _core.reader_settings(
        stream_readers, stream_block, windowed, permutation
    )
    return {
        "streams": streams,
        "stream_block": by_streams or by_readers,
        "stream_readers": stream_readers,
    }


def stream_settings(num_workers: int, batch_size: int, num_processes: int = 1) -> StreamSettings:
    """`streams` and `stream_block` for a windowed order read by `num_workers` DataLoader
    workers in batches of `batch_size`, on `num_processes` data-parallel processes.

    A DataLoader deals batch `b` to worker `b % num_workers`. With sharding by position
    (`num_replicas=P`), rank `r`'s `j`-th batch holds global positions `[j*B*P, (j+1)*B*P)`,
    and under accelerate (one unsharded sampler, whole batches dealt to `P` processes) the
    `P` batches of a step are `B*P` consecutive positions too: `stream_block = B * P` puts
    every batch of every rank in one stream, and `streams = num_workers` gives every worker
    its own stream. With no workers (`num_workers=0`) one reader reads everything: one stream.

    Args:
        num_workers: DataLoader workers per process, >= 0.
        batch_size: the DataLoader's batch size per process, >= 1.
        num_processes: data-parallel processes (ranks), >= 1.

    Returns:
        `{"streams": K, "stream_block": S}`, to pass on: `EpisodeAwareSampler(...,
        window=k, **stream_settings(4, 64))`.

    Raises:
        TypeError: an argument is not an int.
        ValueError: an argument is out of range.

    Example:
        >>> stream_settings(num_workers=4, batch_size=64, num_processes=2)
        {'streams': 4, 'stream_block': 128}
        >>> stream_settings(num_workers=0, batch_size=64)
        {'streams': 1, 'stream_block': None}
    """
    workers = as_int("num_workers", num_workers, high=MAX_STREAMS + 1)
    batch = as_int("batch_size", batch_size, low=1, high=COUNT_LIMIT)
    processes = as_int("num_processes", num_processes, low=1, high=COUNT_LIMIT)
    if workers <= 1:
        return {"streams": 1, "stream_block": None}
    return {"streams": workers, "stream_block": batch * processes}


class EpisodeAwareSampler(ResumableSampler):
    """Yields the frames of the kept episodes, in boundary order or in a seeded shuffle that is a
    pure function of `(seed, epoch)`, sharded over `num_replicas` ranks, resumable at any sample.

    A drop-in for LeRobot 0.6's `lerobot.datasets.sampler.EpisodeAwareSampler` (same positional
    arguments, same meaning). Only episode boundaries are stored; the order of an epoch is
    computed in Rust. Re-iterating starts the next epoch by itself; `state_dict()` /
    `load_state_dict()` resume at the exact sample (the documentation's guide "Resume exactly
    in any loop" has one recipe per training setup).

    Args:
        dataset_from_indices: first frame of every episode (any 1-D integer sequence: list,
            tuple, numpy array, torch tensor, HF `datasets` column), values >= 0.
        dataset_to_indices: end (exclusive) of every episode, same length; episodes must not
            overlap but may come in any order.
        episode_indices_to_use: keep only these episodes (ids into the boundary arrays;
            duplicates and order are ignored: frames always come in boundary order). None: all.
        drop_n_first_frames: frames dropped from the start of every kept episode (>= 0).
        drop_n_last_frames: frames dropped from the end of every kept episode (>= 0). Episodes
            left empty are skipped with one `UserWarning` naming the first of them.
        shuffle: False: boundary order, frames ascending inside each episode. True: a seeded
            permutation of the kept frames, a new one every epoch.
        seed: in `[0, 2**64)`; with the epoch it decides the order (never the global RNGs).
        absolute_to_relative_idx: optional map from an absolute frame index to a dataset row
            (a dict or a sequence indexed by frame), applied to every value; converted once.
        permutation: `"uniform"` (every order equally likely; 4 bytes per frame per epoch) or
            `"feistel"` (a keyed bijection: O(1) memory and O(1) seek at any size).
        num_replicas: ranks the epoch is sharded over; rank `r` takes global positions
            `s + r, s + r + W, ...` from the resume point `s` (DistributedSampler's rule).
        rank: this process's rank, in `[0, num_replicas)`.
        drop_last: True: every rank stops at the same shorter count; False: the last round is
            padded by wrapping to the epoch's start.
        window: frames per window of the read-local order (None: the global order). Units
            (episodes, or groups of `episode_groups`) are permuted, cut into windows of at least
            `window` frames, and every window is shuffled: a worker reads few files at a time.
            Needs `shuffle=True` to have an effect.
        streams: worker-aware streams of the windowed order (default 1: one stream, the
            plain windowed order bit for bit). With `K > 1` (needs `window` and
            `stream_block`), each permuted unit goes to the stream holding the fewest frames so
            far, every stream is cut into windows and shuffled inside them, and the epoch takes
            `stream_block` positions from each stream in turn: with `K` DataLoader workers and
            `stream_block` = batch size x data-parallel size, every worker reads its own
            stream's windows (see `stream_settings`).
        stream_block: positions each stream contributes per turn, and each of its readers reads
            per turn, >= 1 (required with `streams > 1` or `stream_readers > 1`, else ignored).
        stream_readers: readers sharing each stream's windows (default 1: the order without
            readers, bit for bit). With `R > 1` (needs `window`, `stream_block` and
            `permutation="uniform"`), reader `c` reads the stream's blocks `c, c + R, ...` of
            `stream_block` positions (a process's DataLoader workers, when the process reads
            one stream), and every window's frames, in unit order, go to the readers in runs of
            `READER_RUN` (8) consecutive frames in turn, shuffled over each reader's blocks: a
            reader decodes whole runs of a file, not every other frame, and its blocks still
            draw from all the window's episodes. Each window keeps its frames.
        episode_groups: one group id per episode of the boundary arrays (for example the video
            file that holds it): the episodes of one group form one unit of the windowed order.
            Accepted without `window` but then without effect, with a `UserWarning`.
        num_threads: threads that build a `"uniform"` epoch's table and compute
            `epoch_indices` (None: the cores this process may use). The environment variable
            `EPISAMPLER_NUM_THREADS` caps it. The order never depends on it.

    Raises:
        TypeError: an argument of the wrong kind (floats or bools as indices, a non-str
            `permutation`, ...).
        ValueError: a broken rule, naming the argument and the first offending value:
            overlapping or inverted episodes, ids out of range, negative drops, no frame left
            (`No valid frames remain ...`), a seed or rank out of range, an unknown
            permutation, an `absolute_to_relative_idx` that misses a kept frame.

    Example:
        >>> sampler = EpisodeAwareSampler([0, 10], [10, 25], shuffle=True, seed=3)
        >>> len(sampler), sorted(sampler) == list(range(25))
        (25, True)
    """

    _core: SamplerCore

    def __init__(
        self,
        dataset_from_indices: npt.ArrayLike,
        dataset_to_indices: npt.ArrayLike,
        episode_indices_to_use: npt.ArrayLike | None = None,
        drop_n_first_frames: int = 0,
        drop_n_last_frames: int = 0,
        shuffle: bool = False,
        seed: int = 0,
        absolute_to_relative_idx: Mapping[int, int] | npt.ArrayLike | None = None,
        *,
        permutation: str = "uniform",
        num_replicas: int = 1,
        rank: int = 0,
        drop_last: bool = False,
        window: int | None = None,
        episode_groups: npt.ArrayLike | None = None,
        streams: int = 1,
        stream_block: int | None = None,
        stream_readers: int = 1,
        num_threads: int | None = None,
    ) -> None:
        """Build the sampler (every argument is described in the class docstring)."""
        super().__init__()
        if not isinstance(permutation, str):
            raise TypeError(f"permutation must be a str, got {type(permutation).__name__}")
        if permutation not in PERMUTATIONS:
            raise ValueError(f"permutation must be one of {PERMUTATIONS}, got {permutation!r}")
        num_replicas = as_int("num_replicas", num_replicas, low=1, high=COUNT_LIMIT)
        from_indices = as_index_array("dataset_from_indices", dataset_from_indices)
        config = {
            "from_indices": from_indices,
            "to_indices": as_index_array("dataset_to_indices", dataset_to_indices),
            "episode_indices_to_use": None
            if episode_indices_to_use is None
            else as_index_array("episode_indices_to_use", episode_indices_to_use),
            "drop_n_first_frames": as_int(
                "drop_n_first_frames", drop_n_first_frames, high=COUNT_LIMIT
            ),
            "drop_n_last_frames": as_int(
                "drop_n_last_frames", drop_n_last_frames, high=COUNT_LIMIT
            ),
            "shuffle": as_bool("shuffle", shuffle),
            "seed": as_int("seed", seed, high=2**64),
            "permutation": permutation,
            "remap": None,  # None, ("rows", array per kept frame) or ("episode_shifts", array)
            "num_replicas": num_replicas,
            "rank": as_int("rank", rank, high=num_replicas),
            "drop_last": as_bool("drop_last", drop_last),
            "pad_to_multiple": None,
            "window": None if window is None else as_int("window", window, low=1, high=2**63),
            "episode_groups": None
            if episode_groups is None
            else _as_groups(episode_groups, len(from_indices)),
            **_stream_config(streams, stream_block, stream_readers, window, permutation),
            "num_threads": None
            if num_threads is None
            else as_int("num_threads", num_threads, low=1, high=_core.MAX_THREADS + 1),
        }
        if window is not None and not config["shuffle"]:
            warnings.warn(
                f"window={window} has no effect with shuffle=False (the order is the episodes' "
                "boundary order); pass shuffle=True for the read-local order, or drop window",
                UserWarning,
                stacklevel=2,
            )
        elif episode_groups is not None and window is None:
            warnings.warn(
                "episode_groups has no effect without window= (the global order ignores "
                "groups); pass window=N for the read-local order, or drop episode_groups",
                UserWarning,
                stacklevel=2,
            )
        self._setup(config)
        if self._core.num_skipped:
            self._report_skipped()
        if absolute_to_relative_idx is not None:
            rows = rows_for_frames(absolute_to_relative_idx, self._core.kept_frames())
            self._set_remap(("rows", rows))

    def _report_skipped(self) -> None:
        """One line, as one `UserWarning`: the count, and the first skipped episodes with
        their lengths (a bounded list, however many episodes were skipped)."""
        first, last = self._config["drop_n_first_frames"], self._config["drop_n_last_frames"]
        skipped = self._core.num_skipped
        listed = self._core.skipped_listed
        named = ", ".join(f"{episode} ({length} frames)" for episode, length in listed)
        more = f" and {skipped - len(listed)} more" if skipped > len(listed) else ""
        warnings.warn(
            f"{skipped} selected episode(s) have no frame left after "
            f"drop_n_first_frames={first} and drop_n_last_frames={last}; they are skipped: "
            f"episode {named}{more}",
            UserWarning,
            stacklevel=3,
        )

    @classmethod
    def from_lerobot(
        cls, dataset: Any, *, group_by: str | None = None, **kwargs: Any
    ) -> EpisodeAwareSampler:
        """A sampler over a LeRobot dataset's episodes (v3 or v2.x layout, duck-typed).

        v3: boundaries from `dataset.meta.episodes["dataset_from_index" / "dataset_to_index"]`,
        the selection from `dataset.episodes`; when a selection is set, indices are the rows of
        the filtered dataset (computed per episode, not through a per-frame dict). v2.x:
        `dataset.episode_data_index["from" / "to"]`, already in rows.

        Args:
            dataset: a `LeRobotDataset` (or an object with the same attributes).
            group_by: v3 only: `"video_file"` (the files of all cameras), `"video_file:<video
                key>"` (one camera's files) or `"data_file"` makes the episodes held by one
                file a unit of the windowed order (`episode_groups`), read from
                `meta.episodes`' chunk and file index columns. None: no groups.
            **kwargs: the other constructor arguments (drops, shuffle, seed, permutation,
                window, sharding); not the boundaries, selection or row map. `window="auto"`
                (v3) picks the largest window whose video files fit one DataLoader worker's
                decoder cache (`LEROBOT_VIDEO_DECODER_CACHE_SIZE`, else LeRobot's 100), grouped
                by video file: at most `cache // cameras - 1` file groups per window. It logs
                the choice and why; without video, or when the cache holds every file, it
                picks the global order, and then ignores `streams` and `stream_block` (the
                global order has no windows to deal to workers), so that one call serves
                datasets of every size.

        Returns:
            The sampler, yielding rows of `dataset`.

        Raises:
            TypeError: `dataset` lacks what is read, or `kwargs` names a derived argument.
            ValueError: as the constructor, an unknown `group_by`, or `window="auto"` with
                `group_by="data_file"`.
        """
        from episampler.lerobot.auto_window import resolve_auto_window
        from episampler.lerobot.layout import lerobot_arguments, lerobot_groups

        if isinstance(kwargs.get("window"), str):
            kwargs["window"], group_by = resolve_auto_window(dataset, group_by, kwargs)
            if kwargs["window"] is None:  # the global order: no windows to deal to workers
                kwargs.pop("streams", None)
                kwargs.pop("stream_block", None)
                kwargs.pop("stream_readers", None)
        derived, episode_shifts = lerobot_arguments(dataset)
        if group_by is not None:
            derived["episode_groups"] = lerobot_groups(dataset, group_by)
        clash = sorted(set(derived) & set(kwargs))
        if clash:
            raise TypeError(f"from_lerobot derives {', '.join(clash)} from the dataset")
        sampler = cls(**derived, **kwargs)
        if episode_shifts is not None:
            sampler._set_remap(("episode_shifts", episode_shifts))
        return sampler

    def _set_remap(self, remap: tuple[str, np.ndarray]) -> None:
        self._config["remap"] = remap
        self._core = self._remapped(self._core, remap)

    @staticmethod
    def _remapped(core: SamplerCore, remap: tuple[str, np.ndarray]) -> SamplerCore:
        kind, values = remap
        return core.with_rows(values) if kind == "rows" else core.with_episode_shifts(values)

    def _setup(self, config: dict[str, Any], epoch: int = 0, start_index: int = 0) -> None:
        core = _core.SamplerCore(
            config["from_indices"],
            config["to_indices"],
            config["episode_indices_to_use"],
            config["drop_n_first_frames"],
            config["drop_n_last_frames"],
            config["shuffle"],
            config["seed"],
            config["permutation"],
            config.get("window"),  # absent from pickles of samplers older than windows
            config.get("episode_groups"),
            config.get("streams", 1),
            config.get("stream_block"),
            config.get("stream_readers", 1),
        )
        if config["remap"] is not None:
            core = self._remapped(core, config["remap"])
        self._core = core
        self._reset(config, epoch, start_index)

    # --- configuration -------------------------------------------------------------------

    @property
    def num_frames(self) -> int:
        """Frames kept, over all ranks."""
        return self._core.num_frames

    @property
    def indices(self) -> list[int]:
        """The kept frames in boundary order (after `absolute_to_relative_idx`, whatever
        `shuffle` is), as a list: LeRobot 0.6.1's property. Built when asked: O(num_frames)
        time and memory (about 36 bytes per frame as Python ints), so introspection only."""
        return cast(list[int], self._core.boundary_values().tolist())

    @property
    def shuffle(self) -> bool:
        """Whether epochs are shuffled (False: boundary order)."""
        return cast(bool, self._config["shuffle"])

    @property
    def seed(self) -> int:
        """The seed, in `[0, 2**64)`."""
        return cast(int, self._config["seed"])

    @property
    def permutation(self) -> str:
        """`"uniform"` or `"feistel"`."""
        return cast(str, self._config["permutation"])

    @property
    def window(self) -> int | None:
        """Frames per window of the windowed order (None: the global order). Only a shuffled
        sampler has windows."""
        return self._config.get("window")

    @property
    def streams(self) -> int:
        """Worker-aware streams of the windowed order (1: one stream)."""
        return cast(int, self._config.get("streams", 1))

    @property
    def stream_block(self) -> int | None:
        """Positions a stream contributes per turn (None with one stream)."""
        return self._config.get("stream_block")

    @property
    def stream_readers(self) -> int:
        """Readers sharing each stream's windows (1: the order without readers)."""
        return cast(int, self._config.get("stream_readers", 1))

    @property
    def episode_groups(self) -> np.ndarray | None:
        """The group id of every episode of the boundary arrays (a copy), or None."""
        groups = self._config.get("episode_groups")
        return None if groups is None else groups.copy()

    @property
    def _epoch_length(self) -> int:
        return self.num_frames

    # --- state ---------------------------------------------------------------------------

    def _settings(self) -> dict[str, Any]:
        config = self._config
        shuffle = config["shuffle"]  # without it, no window, stream or group changes the order
        windowed = shuffle and config["window"] is not None
        groups = config["episode_groups"] if windowed else None
        remap = config["remap"]
        # Listed only when it shapes the order, as states saved before it existed do not list it.
        readers = config.get("stream_readers", 1) if windowed else 1
        return {
            "shuffle": shuffle,
            "window": config["window"] if shuffle else None,
            "streams": config["streams"] if windowed else 1,
            "stream_block": config["stream_block"] if windowed else None,
            "episode_groups": None if groups is None else digest(_first_seen_labels(groups)),
            **({"stream_readers": readers} if readers > 1 else {}),
            "boundaries": digest(config["from_indices"], config["to_indices"]),
            "episodes": digest(config["episode_indices_to_use"]),
            "drop_n_first_frames": config["drop_n_first_frames"],
            "drop_n_last_frames": config["drop_n_last_frames"],
            "rows": None if remap is None else f"{remap[0]}:{digest(remap[1])}",
        }

    def _identity(self) -> dict[str, int | str]:
        return {
            "seed": self.seed,
            "num_frames": self.num_frames,
            "permutation": self.permutation,
            "fingerprint": self._core.fingerprint,
            "algorithm_version": _core.ALGORITHM_VERSION,
        }

    def __repr__(self) -> str:
        window = "" if self.window is None else f"window={self.window}, "
        if self.streams > 1:
            window += f"streams={self.streams}, "
        if self.streams > 1 or self.stream_readers > 1:
            window += f"stream_block={self.stream_block}, "
        if self.stream_readers > 1:
            window += f"stream_readers={self.stream_readers}, "
        return (
            f"{type(self).__name__}(num_frames={self.num_frames}, "
            f"num_episodes={self._core.num_episodes}, shuffle={self.shuffle}, "
            f"permutation={self.permutation!r}, seed={self.seed}, {window}"
            f"{self._position_repr()})"
        )
