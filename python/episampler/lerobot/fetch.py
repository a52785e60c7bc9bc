"""`BatchedFetch`: a LeRobot dataset whose batches are read and decoded per video file.

LeRobot's `dataset[i]` reads one parquet row, then decodes each camera's frames for that one
item (with several cameras, on a thread pool it creates and joins for the item). `BatchedFetch`
gives `torch.utils.data.DataLoader` a `__getitems__` that builds the same items for a whole
batch at once:

- the batch's rows are read in one read (and the rows of their `delta_timestamps` windows in
  one more);
- every frame the batch needs is grouped by (camera, video file), and each group is decoded
  by one call to LeRobot's own decoding function (the one `dataset[i]` calls, with its
  timestamp tolerance check), its timestamps sorted and without repeats; torchcodec groups
  get their decoder from the worker's own cache (`decoders.Decoders`: one per video file the
  dataset reads if they all fit a memory estimate, else LeRobot's size; files opened by path
  and outside the lock), depth maps and other backends decode as `dataset[i]`;
- the groups run on a thread pool of the worker process, created when first needed and again
  after a fork;
- everything after decoding (padding masks, image transforms, depth units, the task string)
  is applied per item, in LeRobot's order;
- with `read_ahead=sampler`, the frames of the worker's next batches (read off the sampler's
  order, `read_ahead.RowPlan`) are decoded together with the current batch's, one call per
  (camera, file) in storage order, into a buffer bounded by `read_ahead_bytes` per worker.

The items are equal to `dataset[i]`'s: the same keys in the same order, dtypes, shapes and
values. The reading code of LeRobot is private and changes between releases, so only the
versions in `FETCH_TESTED_VERSIONS` are accepted.
"""

from __future__ import annotations

import operator
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from episampler._inputs import as_int, is_bool
from episampler.lerobot.decoders import Decoders
from episampler.lerobot.layout import v3_table
from episampler.lerobot.read_ahead import DEFAULT_READ_AHEAD_BYTES, RowPlan
from episampler.lerobot.versions import TESTED_LEROBOT_VERSIONS, installed_version

__all__ = ["FETCH_TESTED_VERSIONS", "BatchedFetch"]

# LeRobot versions whose dataset reading `BatchedFetch` reproduces, tested item for item: the
# versions table's (`versions.PROFILES`). To support another version, run
# tests/real_lerobot/test_batched_fetch.py with it and add it there (and, if its reader differs,
# adapt `_ReaderSettings.of`, the one place that reads LeRobot's private reader state).
FETCH_TESTED_VERSIONS = TESTED_LEROBOT_VERSIONS


def _usable_cores() -> int:
    """The CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _check_version() -> None:
    version = installed_version()
    supported = ", ".join(FETCH_TESTED_VERSIONS)
    if version is None:
        raise RuntimeError(
            f"BatchedFetch needs LeRobot ({supported}): "
            f"pip install 'lerobot[dataset]=={FETCH_TESTED_VERSIONS[-1]}'"
        )
    if version not in FETCH_TESTED_VERSIONS:
        raise RuntimeError(
            f"BatchedFetch supports lerobot {supported}, not {version}: it reproduces "
            "LeRobot's item reading, which changes between releases. Install a supported "
            "version, or pass the dataset to the DataLoader without BatchedFetch."
        )


def _check_dataset(dataset: Any) -> None:
    """`TypeError` unless `dataset` is a LeRobot format-v3 dataset (a `LeRobotDataset`),
    `RuntimeError` unless the installed LeRobot is a tested version."""
    meta = getattr(dataset, "meta", None)
    if meta is None:
        raise TypeError(
            "dataset must be a LeRobotDataset (LeRobot dataset format v3), got "
            f"{type(dataset).__name__}"
        )
    if hasattr(dataset, "episode_data_index") or v3_table(dataset) is None:
        raise TypeError(
            "BatchedFetch reads LeRobot dataset format v3 (LeRobot >= 0.4); this dataset "
            f"({type(dataset).__name__}) has the older v2.x layout. Convert it to v3 with "
            "LeRobot's converter, or use it without BatchedFetch."
        )
    _check_version()
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    if not isinstance(dataset, LeRobotDataset):
        raise TypeError(
            f"dataset must be a LeRobotDataset, got {type(dataset).__name__} (several datasets: "
            "wrap each one)"
        )


def _being_recorded(dataset: Any) -> bool:
    """A dataset made by `LeRobotDataset.create` / `resume` and not finalized yet."""
    return getattr(dataset, "writer", None) is not None and not getattr(
        dataset, "_is_finalized", True
    )


@dataclass(frozen=True)
class _ReaderSettings:
    """What LeRobot's reader does with an item, read from its (private) state at each batch,
    so that `set_image_transforms` and the like apply here as they do to `dataset[i]`."""

    reader: Any
    hf_dataset: Any
    delta_indices: dict[str, list[int]] | None
    absolute_to_relative: dict[int, int] | None
    tolerance_s: float
    backend: str | None
    return_uint8: bool
    image_transforms: Any
    depth_output_unit: str
    depth_encoders: dict[str, Any]
    image_depth_units: dict[str, str | None]

    @classmethod
    def of(cls, dataset: Any) -> _ReaderSettings:
        hf_dataset = dataset.hf_dataset  # creates the reader and loads the rows, as dataset[i]
        reader = dataset.reader
        return cls(
            reader=reader,
            hf_dataset=hf_dataset,
            delta_indices=reader.delta_indices,
            absolute_to_relative=reader._absolute_to_relative_idx,
            tolerance_s=reader._tolerance_s,
            backend=reader._video_backend,
            return_uint8=reader._return_uint8,
            image_transforms=reader._image_transforms,
            depth_output_unit=reader._depth_output_unit,
            depth_encoders=reader._depth_encoder_configs,
            image_depth_units=reader._image_depth_units,
        )


class _Episodes:
    """The columns of `meta.episodes` an item needs, one entry per episode, read once (LeRobot
    reads the episode's whole metadata row per item, and again per camera for the file path)."""

    def __init__(self, meta: Any, root: Path, video_keys: Sequence[str]) -> None:
        from episampler.lerobot.layout import episode_file_paths

        table = meta.episodes
        self.starts = np.asarray(table["dataset_from_index"], dtype=np.int64)
        self.ends = np.asarray(table["dataset_to_index"], dtype=np.int64)
        self.from_timestamps: dict[str, list[float]] = {}
        self.paths: dict[str, list[Path]] = {}
        for key in video_keys:
            self.from_timestamps[key] = [float(t) for t in table[f"videos/{key}/from_timestamp"]]
            interned: dict[str, Path] = {}  # one Path per file
            self.paths[key] = [
                interned.setdefault(path, root / path) for path in episode_file_paths(meta, key)
            ]

    def frames_at(self, episode: int, timestamp: float) -> list[tuple[str, Path, float]]:
        """The frame of every camera at `timestamp` of `episode`: (camera, its video file, the
        timestamp in that file), the key frames are decoded and buffered under."""
        return [
            (key, self.paths[key][episode], self.from_timestamps[key][episode] + timestamp)
            for key in self.paths
        ]


@dataclass
class _Group:
    """The frames of one (camera, video file) that a batch needs."""

    key: str
    path: Path
    queries: list[tuple[int, list[float]]]  # (item position, shifted timestamps)


class BatchedFetch:
    """A LeRobot dataset that builds whole batches at once: `DataLoader` calls
    `__getitems__(indices)`, which returns exactly `[dataset[i] for i in indices]` (every key,
    dtype, shape and value, `delta_timestamps` windows and their `_is_pad` masks, image
    transforms, depth maps, `return_uint8`, filtered datasets) with far fewer decoder calls.

    The batch's rows are read at once; its video frames are grouped by (camera, video file) and
    each group is decoded by one call to LeRobot's own decoding function (its tolerance check:
    a frame too far from its timestamp fails with LeRobot's error naming the file and the
    timestamps), on a thread pool kept by each worker process, with decoders from the worker's
    own cache, opened by path: LeRobot's count if you chose one
    (`LEROBOT_VIDEO_DECODER_CACHE_SIZE`), else one per video file the dataset reads if they
    all fit an estimated 512 MiB, else LeRobot's count
    (`episampler.lerobot.decoders.decoder_capacity`).
    Image transforms run per item and per camera in LeRobot's order, so even random transforms
    draw the same random numbers as `dataset[i]` would in the same process.

    The gain grows with the batch's locality: with a read-local order
    (`EpisodeAwareSampler.from_lerobot(dataset, window=..., group_by="video_file")`) a batch's
    frames come from a few files, so a batch costs a few decoder calls instead of one per item
    and camera.

    `fetch[i]` is `dataset[i]`; `len(fetch)` is `len(dataset)`; every other attribute
    (`meta`, `episodes`, `num_frames`, `fps`, `features`, ...) is the dataset's. Pass it to
    `torch.utils.data.DataLoader` with `batch_size=` or `batch_sampler=` (a DataLoader without
    batching calls `fetch[i]`, i.e. LeRobot's path).

    Decoding ahead (`read_ahead=sampler`, the sampler the DataLoader draws from): the order is
    a pure function of `(seed, epoch)` and the DataLoader deals batches to its workers in turn,
    so a worker asked for a batch knows the rows of its own next batches. It decodes their
    frames with the current batch's, one call per (camera, file), and serves them from a
    buffer of at most `read_ahead_bytes` of decoded frames per worker (or process). Fewer
    decoder opens and calls, the same items: a frame is served from the buffer only when the
    batch asks for it, and a wrong guess (a loader resumed elsewhere, a new epoch) costs only
    time. Not used for video keys with `delta_timestamps` (those batches decode as without).

    Args:
        dataset: a `LeRobotDataset` (LeRobot dataset format v3) of a LeRobot version listed in
            `FETCH_TESTED_VERSIONS`, finalized if it was recorded in this process.
        read_ahead: None (decode each batch on its own), or the sampler the DataLoader draws
            from (anything with `epoch` and `epoch_indices(epoch)`, e.g. an
            `EpisodeAwareSampler`), to decode ahead.
        read_ahead_bytes: the budget of decoded frames held ahead per worker, >= 0 (512 MiB
            by default: about 1,100 samples of three 224x224 uint8 cameras).

    Raises:
        TypeError: `dataset` is not a `LeRobotDataset`, or has the older v2.x layout; a
            `read_ahead` without `epoch_indices`.
        RuntimeError: LeRobot is missing, or its version is not in `FETCH_TESTED_VERSIONS`.
        ValueError: `dataset` is still being recorded (`finalize()` was not called); a
            negative `read_ahead_bytes`.

    Example (a LeRobot 0.6.1 dataset `dataset`):

        loader = DataLoader(BatchedFetch(dataset), batch_size=64, num_workers=4,
                            sampler=EpisodeAwareSampler.from_lerobot(
                                dataset, shuffle=True, window="auto"))
    """

    def __init__(
        self,
        dataset: Any,
        *,
        read_ahead: Any = None,
        read_ahead_bytes: int = DEFAULT_READ_AHEAD_BYTES,
    ) -> None:
        """Wrap `dataset` (every argument is described in the class docstring)."""
        if _being_recorded(dataset):
            raise ValueError(
                "dataset is still being recorded: call dataset.finalize() before reading it"
            )
        _check_dataset(dataset)
        self._read_ahead_bytes = as_int("read_ahead_bytes", read_ahead_bytes, high=2**62)
        self._dataset = dataset
        self._plan: RowPlan | None = None
        self._buffer: dict[tuple[str, Path, float], Any] = {}  # decoded frames held ahead
        if read_ahead is not None:
            self.set_read_ahead(read_ahead)
        self._frame_bytes: dict[str, int] = {}  # bytes of one decoded frame, per camera
        self._episodes: _Episodes | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._pool_pid: int | None = None
        self._decoders: Decoders | None = None  # this process's, made when first needed
        self._decoders_pid: int | None = None

    def set_read_ahead(self, sampler: Any) -> None:
        """Decode ahead of `sampler`'s order from now on (as `read_ahead=sampler` does), e.g.
        when the sampler is made after the dataset; before the DataLoader starts its workers.

        Raises:
            TypeError: `sampler` has no `epoch_indices`.
        """
        if not callable(getattr(sampler, "epoch_indices", None)):
            raise TypeError(
                "read_ahead must be None or the sampler the DataLoader draws from (with "
                f"epoch_indices), got {type(sampler).__name__}"
            )
        self._plan = RowPlan(sampler)
        self._buffer = {}

    # --- what passes through ------------------------------------------------------------

    @property
    def dataset(self) -> Any:
        """The wrapped LeRobot dataset."""
        return self._dataset

    def __len__(self) -> int:
        return len(self._dataset)

    def __getitem__(self, index: Any) -> Any:
        return self._dataset[index]

    def __getattr__(self, name: str) -> Any:
        # Only called for names the wrapper lacks; never during unpickling's probes.
        dataset = self.__dict__.get("_dataset")
        if dataset is None or name.startswith("__"):
            raise AttributeError(name)
        return getattr(dataset, name)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        # threads, open decoders and frames do not travel
        state.update(_pool=None, _pool_pid=None, _buffer={}, _decoders=None, _decoders_pid=None)
        return state

    def __repr__(self) -> str:
        return f"BatchedFetch({self._dataset!r})"

    # --- the batch ----------------------------------------------------------------------

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, Any]]:
        """The items of `indices`, equal to `[dataset[i] for i in indices]`.

        Args:
            indices: rows of the dataset (ints; negative ones count from the end, as
                `dataset[i]` does).

        Returns:
            One dict per index, in the order of `indices`.

        Raises:
            TypeError: an index is not an int (a bool is not), or `indices` is a boolean
                mask (an array or tensor of bools).
            IndexError: an index is out of range (as `dataset[i]` raises).
        """
        dataset = self._dataset
        if _being_recorded(dataset):
            raise RuntimeError(
                "Cannot read from a dataset that is being recorded: call finalize() first"
            )
        rows = self._rows(indices)
        if not rows:
            return []
        settings = _ReaderSettings.of(dataset)
        meta = dataset.meta
        video_keys = list(meta.video_keys)
        episodes = self._episode_table(meta, video_keys)

        table = settings.hf_dataset[rows]  # one read: {column: [value per row]}
        columns = list(table)
        items: list[dict[str, Any]] = [
            {column: table[column][position] for column in columns} for position in range(len(rows))
        ]
        episode_ids = [int(item["episode_index"].item()) for item in items]

        query_indices: list[dict[str, list[int]]] | None = None
        if settings.delta_indices is not None:
            query_indices = self._add_windows(items, episode_ids, episodes, settings, video_keys)

        if video_keys and self._plan is not None and query_indices is None:
            frames = self._decode_ahead(rows, items, episode_ids, episodes, settings)
            items = [
                {**{key: frames[position][key] for key in video_keys}, **item}
                for position, item in enumerate(items)
            ]
        elif video_keys:
            frames = self._decode(items, episode_ids, query_indices, episodes, settings)
            items = [
                {**{key: frames[position][key] for key in video_keys}, **item}
                for position, item in enumerate(items)
            ]

        self._finish(items, meta, settings)
        return items

    def _rows(self, indices: Sequence[int]) -> list[int]:
        if is_bool(indices):  # a mask: its items would pass as rows 0 and 1
            raise TypeError(
                f"indices must be ints, got a {type(indices).__name__} of bools (a mask); "
                "pass the rows' indices, e.g. mask.nonzero()"
            )
        length = len(self._dataset)
        rows = []
        for index in indices:
            try:
                if is_bool(index):  # operator.index takes a bool tensor as 0 or 1
                    raise TypeError
                row = operator.index(index)  # ints, numpy ints, integer tensors of one value
            except TypeError:
                raise TypeError(f"indices must be ints, got {index!r}") from None
            if not -length <= row < length:
                raise IndexError(f"index {row} is out of range for a dataset of {length} rows")
            rows.append(row + length if row < 0 else row)
        return rows

    def _episode_table(self, meta: Any, video_keys: list[str]) -> _Episodes:
        episodes = self._episodes
        if episodes is None:
            episodes = _Episodes(meta, Path(self._dataset.root), video_keys)
            self._episodes = episodes
        return episodes

    def _add_windows(
        self,
        items: list[dict[str, Any]],
        episode_ids: list[int],
        episodes: _Episodes,
        settings: _ReaderSettings,
        video_keys: list[str],
    ) -> list[dict[str, list[int]]]:
        """The `delta_timestamps` windows: frames clamped to their episode, `_is_pad` masks, the
        non-video keys' values read for the whole batch at once."""
        deltas = settings.delta_indices or {}
        all_queries: list[dict[str, list[int]]] = []
        for item, episode in zip(items, episode_ids, strict=True):
            absolute = int(item["index"].item())
            start, end = int(episodes.starts[episode]), int(episodes.ends[episode])
            queries = {
                key: [max(start, min(end - 1, absolute + d)) for d in steps]
                for key, steps in deltas.items()
            }
            padding = {
                f"{key}_is_pad": torch.BoolTensor([not start <= absolute + d < end for d in steps])
                for key, steps in deltas.items()
            }
            item.update(padding)
            all_queries.append(queries)

        # Read every window's rows at once, per key, then hand each item its slice.
        hf_dataset = settings.hf_dataset
        for key in [k for k in deltas if k not in video_keys]:
            flat = [self._relative(i, settings) for q in all_queries for i in q[key]]
            try:
                values = hf_dataset[key][flat]
            except (KeyError, TypeError, IndexError):
                values = hf_dataset[flat][key]
            width = len(deltas[key])
            for position, item in enumerate(items):
                item[key] = torch.stack(values[position * width : (position + 1) * width])
        return all_queries

    @staticmethod
    def _relative(absolute: int, settings: _ReaderSettings) -> int:
        mapping = settings.absolute_to_relative
        return absolute if mapping is None else mapping[absolute]

    def _decode(
        self,
        items: list[dict[str, Any]],
        episode_ids: list[int],
        query_indices: list[dict[str, list[int]]] | None,
        episodes: _Episodes,
        settings: _ReaderSettings,
    ) -> list[dict[str, Any]]:
        """Every item's frames of every camera, decoded one (camera, file) group at a time."""
        video_keys = list(episodes.paths)
        # Timestamps of the window frames, read for the whole batch at once.
        window_timestamps: dict[tuple[int, str], list[float]] = {}
        if query_indices is not None:
            windowed = [key for key in video_keys if key in query_indices[0]]
            if windowed:
                flat = [
                    self._relative(i, settings)
                    for queries in query_indices
                    for key in windowed
                    for i in queries[key]
                ]
                stamps = settings.hf_dataset["timestamp"][flat]
                values = [float(t.item()) for t in stamps]
                cursor = 0
                for position, queries in enumerate(query_indices):
                    for key in windowed:
                        width = len(queries[key])
                        window_timestamps[(position, key)] = values[cursor : cursor + width]
                        cursor += width

        groups: dict[tuple[str, Path], _Group] = {}
        for position, (item, episode) in enumerate(zip(items, episode_ids, strict=True)):
            current = None
            for key in video_keys:
                stamps = window_timestamps.get((position, key))
                if stamps is None:
                    if current is None:
                        current = float(item["timestamp"].item())
                    stamps = [current]
                offset = episodes.from_timestamps[key][episode]
                path = episodes.paths[key][episode]
                group = groups.get((key, path))
                if group is None:
                    group = groups[(key, path)] = _Group(key, path, [])
                group.queries.append((position, [offset + t for t in stamps]))

        depth_keys = set(self._dataset.meta.depth_keys)
        frames: list[dict[str, Any]] = [{} for _ in items]
        for group, unique, stacked in self._run_groups(list(groups.values()), settings, depth_keys):
            where = {stamp: k for k, stamp in enumerate(unique)}
            for position, stamps in group.queries:
                picked = stacked[torch.tensor([where[s] for s in stamps], dtype=torch.long)]
                if group.key in depth_keys:
                    picked = self._dequantize(picked, group.key, settings)
                frames[position][group.key] = picked.squeeze(0)
        return frames

    def _decode_ahead(
        self,
        rows: list[int],
        items: list[dict[str, Any]],
        episode_ids: list[int],
        episodes: _Episodes,
        settings: _ReaderSettings,
    ) -> list[dict[str, Any]]:
        """Every item's frames of every camera, from the buffer of frames decoded ahead; what
        it lacks is decoded now, with the frames of this worker's next batches."""
        import torch.utils.data

        depth_keys = set(self._dataset.meta.depth_keys)
        needs = [
            (position, *frame)
            for position, (item, episode) in enumerate(zip(items, episode_ids, strict=True))
            for frame in episodes.frames_at(episode, float(item["timestamp"].item()))
        ]
        buffer = self._buffer
        if any((key, path, stamp) not in buffer for _, key, path, stamp in needs):
            wanted: dict[tuple[str, Path], set[float]] = {}
            for _, key, path, stamp in needs:
                wanted.setdefault((key, path), set()).add(stamp)
            info = torch.utils.data.get_worker_info()
            stride = len(rows) * (1 if info is None else info.num_workers)
            sample_bytes = sum(self._frame_bytes.values()) if self._frame_bytes else 0
            room = (self._read_ahead_bytes // sample_bytes - len(rows)) if sample_bytes else 0
            assert self._plan is not None
            ahead = self._plan.upcoming(rows, stride, room)
            if ahead:
                hf_dataset = settings.hf_dataset
                stamps = [float(t) for t in hf_dataset["timestamp"][ahead]]
                owners = [int(e) for e in hf_dataset["episode_index"][ahead]]
                for stamp, episode in zip(stamps, owners, strict=True):
                    for key, path, shifted in episodes.frames_at(episode, stamp):
                        wanted.setdefault((key, path), set()).add(shifted)
            # Keep what the new span still needs; drop the rest (a guess that did not come).
            self._buffer = buffer = {
                frame: value
                for frame, value in buffer.items()
                if frame[2] in wanted.get((frame[0], frame[1]), ())
            }
            groups = []
            for (key, path), group_stamps in wanted.items():
                missing = [s for s in group_stamps if (key, path, s) not in buffer]
                if missing:
                    groups.append(_Group(key, path, [(0, missing)]))
            for group, unique, stacked in self._run_groups(groups, settings, depth_keys):
                self._frame_bytes[group.key] = stacked[0].numel() * stacked.element_size()
                for position, stamp in enumerate(unique):
                    buffer[(group.key, group.path, stamp)] = stacked[position].clone()

        frames: list[dict[str, Any]] = [{} for _ in items]
        served: dict[tuple[str, Path, float], Any] = {}
        for position, key, path, stamp in needs:
            frame_id = (key, path, stamp)
            frame = served.get(frame_id)
            if frame is None:
                frame = served[frame_id] = buffer.pop(frame_id)
            if key in depth_keys:
                frame = self._dequantize(frame.unsqueeze(0), key, settings).squeeze(0)
            frames[position][key] = frame
        return frames

    def _run_groups(
        self, groups: list[_Group], settings: _ReaderSettings, depth_keys: set[str]
    ) -> Iterator[tuple[_Group, list[float], Any]]:
        """Decode each group with one call to LeRobot's decoding function, on the pool: each
        group with its sorted timestamps and frames, dropped here once handed over (a span's
        decoded frames are not all held twice, as decoded and as buffered). Files with an open
        decoder go first, so that a span's later opens evict files this span has already read
        (a span larger than the cache then still reuses a cache's worth of decoders)."""
        decode = self._file_decoder(settings, depth_keys)
        decoders = self._decoders
        if decoders is not None:
            groups = sorted(groups, key=lambda group: str(group.path) not in decoders)
        # As many as LeRobot uses per item, and no more than the cores this process may use
        # (more threads only contend: measured in benches/results_loading.md).
        threads = min(len(self._dataset.meta.video_keys), _usable_cores())
        if len(groups) == 1 or threads == 1:
            for group in groups:
                yield group, *decode(group)
            return
        pool = self._thread_pool(threads)
        futures: deque[tuple[_Group, Future[tuple[list[float], Any]]]] = deque(
            (group, pool.submit(decode, group)) for group in groups
        )
        while futures:
            group, future = futures.popleft()
            yield group, *future.result()

    def _file_decoder(
        self, settings: _ReaderSettings, depth_keys: set[str]
    ) -> Callable[[_Group], tuple[list[float], Any]]:
        """The function decoding one group's frames, sorted and without repeats: LeRobot's
        torchcodec decoding function handed this worker's `Decoders` (decoders opened by path,
        more of them), or, for depth maps and other backends, the function `dataset[i]` calls."""
        from lerobot.datasets import dataset_reader, video_utils
        from lerobot.utils.import_utils import get_safe_default_video_backend

        backend = settings.backend or get_safe_default_video_backend()
        decoders = self._process_decoders() if backend == "torchcodec" else None

        def decode(group: _Group) -> tuple[list[float], Any]:
            unique = sorted({stamp for _, stamps in group.queries for stamp in stamps})
            is_depth = group.key in depth_keys
            if decoders is not None and not is_depth:
                stacked = video_utils.decode_video_frames_torchcodec(
                    group.path,
                    unique,
                    settings.tolerance_s,
                    decoder_cache=decoders,
                    return_uint8=settings.return_uint8,
                )
            else:
                stacked = dataset_reader.decode_video_frames(
                    group.path,
                    unique,
                    settings.tolerance_s,
                    settings.backend,
                    return_uint8=settings.return_uint8,
                    is_depth=is_depth,
                )
            return unique, stacked

        return decode

    def _process_decoders(self) -> Decoders:
        """This process's decoders: LeRobot's count if the user chose one, else one for every
        video file the dataset reads if they all fit (`decoder_capacity`)."""
        if self._decoders is None or self._decoders_pid != os.getpid():  # none after a fork
            from episampler.lerobot.decoders import (
                estimated_decoder_bytes,
                largest_frame_bytes,
                lerobot_decoders,
            )

            meta = self._dataset.meta
            episodes = self._episode_table(meta, list(meta.video_keys))
            kept = self._dataset.episodes
            files = sum(
                len({paths[e] for e in (range(len(paths)) if kept is None else kept)})
                for paths in episodes.paths.values()
            )
            decoder_bytes = estimated_decoder_bytes(largest_frame_bytes(meta))
            self._decoders = lerobot_decoders(files, decoder_bytes)
            self._decoders_pid = os.getpid()
        return self._decoders

    def _thread_pool(self, size: int) -> ThreadPoolExecutor:
        """This process's pool: made when first needed, and made again in a forked child (whose
        copy of the parent's pool has no threads)."""
        pid = os.getpid()
        if self._pool is None or self._pool_pid != pid:
            self._pool = ThreadPoolExecutor(size, thread_name_prefix="episampler-fetch")
            self._pool_pid = pid
        return self._pool

    @staticmethod
    def _dequantize(frames: Any, key: str, settings: _ReaderSettings) -> Any:
        from lerobot.datasets.depth_utils import dequantize_depth

        encoder = settings.depth_encoders[key]
        return dequantize_depth(
            frames,
            depth_min=encoder.depth_min,
            depth_max=encoder.depth_max,
            shift=encoder.shift,
            use_log=encoder.use_log,
            output_unit=settings.depth_output_unit,
        )

    @staticmethod
    def _finish(items: list[dict[str, Any]], meta: Any, settings: _ReaderSettings) -> None:
        """What LeRobot does after decoding, per item in its order: image transforms (not on
        depth), depth images to the output unit, the task string."""
        transform = settings.image_transforms
        depth_keys = set(meta.depth_keys)
        cameras = [key for key in meta.camera_keys if key not in depth_keys]
        if settings.image_depth_units:
            from lerobot.configs import DEPTH_METER_UNIT
            from lerobot.datasets.depth_utils import MM_PER_METRE
        tasks = meta.tasks
        names: dict[int, str] = {}
        for item in items:
            if transform is not None:
                for key in cameras:
                    item[key] = transform(item[key])
            for key, unit in settings.image_depth_units.items():
                if key in item and unit is not None and unit != settings.depth_output_unit:
                    scale = MM_PER_METRE
                    item[key] = item[key] * scale if unit == DEPTH_METER_UNIT else item[key] / scale
            task = int(item["task_index"].item())
            if task not in names:
                names[task] = tasks.iloc[task].name
            item["task"] = names[task]
