"""Reading episode boundaries off LeRobot datasets, by duck typing (lerobot is never imported).

Two layouts exist. v3 (LeRobot >= 0.4): `meta.episodes` is a table with the columns
`dataset_from_index` / `dataset_to_index` (absolute frames) and `dataset.episodes` the selection.
v2.x (LeRobot <= 0.3): `episode_data_index` holds `from` / `to` of the loaded episodes, already in
dataset rows; its `meta.episodes` is a dict `{episode: {"episode_index", "tasks", "length"}}`
without boundaries, so the layout is told by the columns, not by the attribute's presence.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import numpy as np

from episampler._inputs import as_index_array

_EXPECTED = (
    "a LeRobot dataset: v3 with `meta.episodes` columns 'dataset_from_index' and "
    "'dataset_to_index', or v2.x with `episode_data_index` entries 'from' and 'to'"
)


def lerobot_arguments(dataset: Any) -> tuple[dict[str, Any], np.ndarray | None]:
    """Constructor arguments for `dataset`, and per-episode row shifts when its rows are a
    filtered subset (v3 with `dataset.episodes` set), else None."""
    table = v3_table(dataset)
    if table is not None:
        return _v3_arguments(dataset, table)
    episode_data_index = getattr(dataset, "episode_data_index", None)
    if episode_data_index is not None:
        # v2.x: boundaries of the loaded (possibly filtered) episodes, already in dataset rows.
        return {
            "dataset_from_indices": _required(episode_data_index, "from", "episode_data_index"),
            "dataset_to_indices": _required(episode_data_index, "to", "episode_data_index"),
        }, None
    raise TypeError(f"dataset must be {_EXPECTED}; got {type(dataset).__name__}")


GROUP_BY = ("video_file", "data_file")
# `"video_file:<video key>"`: the files of that one camera (what `window="auto"` picks when the
# cameras' files roll over at different episodes).
CAMERA_FILE_PREFIX = "video_file:"


def is_group_by(value: Any) -> bool:
    """Whether `value` names a grouping `lerobot_groups` knows (None aside)."""
    return isinstance(value, str) and (
        value in GROUP_BY or (value.startswith(CAMERA_FILE_PREFIX) and value != CAMERA_FILE_PREFIX)
    )


def camera_files(table: Any, video_keys: list[str]) -> np.ndarray:
    """One column per camera of `video_keys` (at least one): the id (chunk and file index) of
    the video file that holds each episode of the v3 table `meta.episodes`."""
    columns = []
    for key in video_keys:
        chunk = _required(table, f"videos/{key}/chunk_index", "meta.episodes")
        file = _required(table, f"videos/{key}/file_index", "meta.episodes")
        columns.append(np.asarray(chunk, dtype=np.int64) * 2**32 + np.asarray(file, np.int64))
    return np.stack(columns, axis=1)


def episode_file_paths(meta: Any, key: str | None) -> list[str]:
    """The file (relative to the root) holding each episode of a v3 dataset's metadata `meta`:
    its data file (`key` None) or the video file of camera `key`. LeRobot's
    `get_data_file_path` / `get_video_file_path` read the episode's whole metadata row per
    call; this reads the two index columns once and formats each file's path from the same
    templates (`meta.data_path`, `meta.video_path`) once."""
    prefix = "data" if key is None else f"videos/{key}"
    chunks = _required(meta.episodes, f"{prefix}/chunk_index", "meta.episodes").tolist()
    files = _required(meta.episodes, f"{prefix}/file_index", "meta.episodes").tolist()
    paths: dict[tuple[int, int], str] = {}
    for where in zip(chunks, files, strict=True):
        if where not in paths:
            chunk, file = where
            if key is None:
                paths[where] = meta.data_path.format(chunk_index=chunk, file_index=file)
            else:
                paths[where] = meta.video_path.format(
                    video_key=key, chunk_index=chunk, file_index=file
                )
    return [paths[where] for where in zip(chunks, files, strict=True)]


def lerobot_groups(dataset: Any, group_by: str) -> np.ndarray:
    """One group id per episode of a v3 dataset's `meta.episodes`: the file that holds it
    (`"video_file"`: the video files of all cameras together; `"video_file:<video key>"`: that
    camera's video file; `"data_file"`: the parquet file), read from the table's chunk and file
    index columns."""
    if not is_group_by(group_by):
        raise ValueError(
            f"group_by must be None or one of {GROUP_BY} (or 'video_file:<video key>'), "
            f"got {group_by!r}"
        )
    table = v3_table(dataset)
    if table is None:
        raise ValueError(
            f"group_by={group_by!r} needs a v3 dataset (meta.episodes with chunk and file index "
            "columns); v2.x keeps one file per episode, so leave group_by=None there"
        )
    if group_by == "data_file":
        files = np.stack(
            [
                np.asarray(_required(table, f"data/{index}", "meta.episodes"), dtype=np.int64)
                for index in ("chunk_index", "file_index")
            ],
            axis=1,
        )
    else:
        video_keys = list(getattr(dataset.meta, "video_keys", None) or [])
        if not video_keys:
            raise ValueError(f"group_by={group_by!r} needs video features; use 'data_file'")
        if group_by != "video_file":
            key = group_by[len(CAMERA_FILE_PREFIX) :]
            if key not in video_keys:
                raise ValueError(
                    f"group_by={group_by!r}: {key!r} is not a video key of the dataset "
                    f"({', '.join(video_keys)})"
                )
            video_keys = [key]
        files = camera_files(table, video_keys)
    # Episodes whose files are the same (for every camera read) share an id.
    _, ids = np.unique(files, axis=0, return_inverse=True)
    return ids.reshape(-1).astype(np.int64)


def _v3_arguments(dataset: Any, table: Any) -> tuple[dict[str, Any], np.ndarray | None]:
    from_indices = _required(table, "dataset_from_index", "meta.episodes")
    to_indices = _required(table, "dataset_to_index", "meta.episodes")
    arguments: dict[str, Any] = {
        "dataset_from_indices": from_indices,
        "dataset_to_indices": to_indices,
    }
    selection = getattr(dataset, "episodes", None)
    if selection is None:
        return arguments, None

    # `dataset.episodes` holds episode ids; the table's rows may list them in any order.
    ids = _column(table, "episode_index")
    ids = np.arange(len(from_indices)) if ids is None else as_index_array("episode_index", ids)
    position_of = {int(episode_id): position for position, episode_id in enumerate(ids)}
    selected = as_index_array("dataset.episodes", selection)
    missing = [int(e) for e in selected if int(e) not in position_of]
    if missing:
        raise ValueError(f"dataset.episodes names episode {missing[0]}, absent from meta.episodes")
    positions = np.unique(np.asarray([position_of[int(e)] for e in selected], dtype=np.int64))
    arguments["episode_indices_to_use"] = positions

    # A filtered dataset holds the selected episodes' frames in ascending frame order, renumbered
    # from 0: the row of frame f of episode e is f - from[e] + (frames of selected episodes that
    # start before e). One shift per episode, no per-frame map.
    shifts = np.zeros(len(from_indices), dtype=np.int64)
    by_start = positions[np.argsort(from_indices[positions], kind="stable")]
    lengths = to_indices[by_start] - from_indices[by_start]
    first_rows = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    shifts[by_start] = first_rows - from_indices[by_start]
    return arguments, shifts


def v3_table(dataset: Any) -> Any | None:
    """The `meta.episodes` table of a LeRobot format-v3 dataset, or None for anything else (a
    v2.x dataset, whose `meta.episodes` has no boundary columns, or not a dataset): the one test
    of the layout every LeRobot entry point uses."""
    table = getattr(getattr(dataset, "meta", None), "episodes", None)
    if table is None:
        return None
    listed = getattr(table, "column_names", None)  # a `datasets.Dataset` lists its columns
    if isinstance(listed, (list, tuple)) and "dataset_from_index" in listed:
        return table
    return None if _column(table, "dataset_from_index") is None else table


@dataclasses.dataclass(frozen=True)
class DatasetIdentity:
    """What identifies a dataset's contents for a resumed run: its episodes, its frames, and a
    fingerprint of its episode boundaries. `repo_id` and `root` name it in messages only."""

    repo_id: str | None
    root: str | None
    episodes: int
    frames: int
    boundaries: str  # "sha256:" + hex digest of the start column then the end column (int64 LE)

    def name(self) -> str:
        """How messages name the dataset: its repo id and root."""
        parts = [p for p in (self.repo_id, None if self.root is None else f"root {self.root}") if p]
        return ", ".join(parts) or "the dataset"

    def changes_since(self, saved: DatasetIdentity) -> list[str]:
        """What differs from `saved` (the same dataset, earlier): empty when nothing does."""
        changes = []
        if self.episodes != saved.episodes:
            changes.append(f"episodes {saved.episodes} -> {self.episodes}")
        if self.frames != saved.frames:
            changes.append(f"frames {saved.frames} -> {self.frames}")
        if self.boundaries != saved.boundaries:
            changes.append("episode boundaries differ")
        return changes


def boundaries_fingerprint(starts: np.ndarray, ends: np.ndarray) -> str:
    """ "sha256:" and the SHA-256 of the start then the end of every episode, as little-endian
    int64."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(starts, dtype="<i8").tobytes())
    digest.update(np.ascontiguousarray(ends, dtype="<i8").tobytes())
    return "sha256:" + digest.hexdigest()


def dataset_identity(dataset: Any) -> DatasetIdentity | None:
    """The identity of the dataset on disk (all its episodes, whatever `dataset.episodes`
    selects): v3 from `meta.episodes`' `dataset_from_index` / `dataset_to_index`, v2.x from
    `episode_data_index`. None for an object of neither layout."""
    table = v3_table(dataset)
    if table is not None:
        starts = _required(table, "dataset_from_index", "meta.episodes")
        ends = _required(table, "dataset_to_index", "meta.episodes")
    else:
        index = getattr(dataset, "episode_data_index", None)
        if index is None:
            return None
        starts = _required(index, "from", "episode_data_index")
        ends = _required(index, "to", "episode_data_index")
    if len(starts) != len(ends):
        raise ValueError(
            f"the dataset has {len(starts)} episode starts but {len(ends)} episode ends"
        )
    repo_id, root = getattr(dataset, "repo_id", None), getattr(dataset, "root", None)
    return DatasetIdentity(
        repo_id=None if repo_id is None else str(repo_id),
        root=None if root is None else str(root),
        episodes=len(starts),
        frames=int((ends - starts).sum()),
        boundaries=boundaries_fingerprint(starts, ends),
    )


def is_v3_format(codebase_version: str) -> bool:
    """Whether a dataset's `meta/info.json` `codebase_version` (e.g. "v3.0") is format v3."""
    return codebase_version.startswith("v3")


def _column(table: Any, name: str) -> Any:
    """`table[name]`, or None when the table has no such column (whatever it raises)."""
    try:
        return table[name]
    except (KeyError, IndexError, ValueError, TypeError, AttributeError):
        return None


def _required(table: Any, name: str, where: str) -> np.ndarray:
    column = _column(table, name)
    if column is None:
        raise TypeError(f"dataset must be {_EXPECTED}; {where} has no {name!r}")
    return as_index_array(f"{where}[{name!r}]", column)
