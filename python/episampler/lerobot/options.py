"""The `--episampler.*` options of `episampler-lerobot-train`: one dataclass, parsed from the
command line, saved with every checkpoint and restored on `--resume=true`."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from episampler._inputs import as_int
from episampler._sampler import PERMUTATIONS
from episampler.lerobot.layout import GROUP_BY, DatasetIdentity, is_group_by

PREFIX = "--episampler."
STATE_FILE = "episampler.json"  # in the checkpoint's training_state directory
_FORMAT = 1

HELP = """\
episampler options (everything else is lerobot-train's own, listed below):
  --episampler.permutation=uniform|feistel
        The shuffle of every epoch (default uniform: every order equally likely; feistel: a
        keyed bijection, O(1) memory).
  --episampler.window=none|auto|N
        The read-local order (default none: a global shuffle). N: windows of at least N frames,
        each shuffled, so a DataLoader worker reads few video files at a time. auto: the largest
        window whose files fit one worker's video decoder cache; with --num_workers > 0 also
        one stream of windows per worker.
  --episampler.batched_fetch=true|false
        Decode each batch file by file (default false): the DataLoader fetches a whole batch
        in one call, which groups its video frames by camera and file; with one dataset each
        worker also decodes its next batches ahead (up to 512 MiB of frames per worker).
  --episampler.datasets=JSON|PATH
        Train on several LeRobot v3 datasets in set proportions: a JSON list (or a file holding
        one) of {"repo_id": ..., "root": ..., "weight": ...}; without weights, each dataset is
        drawn in proportion to its frames. Replaces --dataset.repo_id / --dataset.root.
        Items carry dataset_index; the normalisation stats are the mixture's.
  --episampler.block_size=N
        With several datasets: positions per block (default 1024); every block holds each
        dataset's share of N exactly.
These options are saved with every checkpoint; --resume=true restores them, and refuses a flag
that contradicts the saved value. The checkpoint also records each dataset's episodes, frames
and episode boundaries; --resume=true compares them with the dataset on disk:
  --episampler.on_data_change=refuse|restart_epoch
        What a resumed run does when a dataset changed since the checkpoint (default refuse:
        an error naming the dataset and what changed). restart_epoch: a warning, and training
        continues from the start of the next epoch on the new data (the rest of the interrupted
        epoch is skipped; the epoch count goes on). Not saved: give it on the resume.
With --dataset.streaming=true (an exactly resumable stream, from a directory or a URL), also,
not saved (a resume may use another disk; the stream's order is saved on its own):
  --episampler.cache_bytes=N
        Local disk for the copies of the files being read, shared by the DataLoader workers
        (default 4GiB; units: KB, MB, GB, TB, KiB, MiB, GiB, TiB).
  --episampler.cache_dir=PATH
        Where those copies go (default: a temporary directory, deleted at the end).
"""


class OptionsError(ValueError):
    """A bad `--episampler.*` flag, or one that contradicts the checkpoint being resumed."""


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """One dataset of `--episampler.datasets`."""

    repo_id: str
    root: str | None = None
    weight: float | None = None


@dataclasses.dataclass(frozen=True)
class Options:
    """The integration's options, saved with every checkpoint (the defaults: a global shuffle
    read item by item, as LeRobot reads).

    Args:
        permutation: `"uniform"` or `"feistel"` (`--episampler.permutation`).
        window: None, `"auto"` or frames per window of the read-local order
            (`--episampler.window`).
        batched_fetch: decode each batch per video file (`--episampler.batched_fetch`).
        datasets: several datasets (`--episampler.datasets`), None for LeRobot's one.
        block_size: positions per block of a mixture (`--episampler.block_size`).
    """

    permutation: str = "uniform"
    window: int | str | None = None  # None, "auto" or frames per window
    batched_fetch: bool = False
    datasets: tuple[DatasetSpec, ...] | None = None
    block_size: int = 1024  # positions per block of a mixture

    def to_json(self) -> dict[str, Any]:
        """The options as JSON-ready values."""
        data = dataclasses.asdict(self)
        if self.datasets is not None:
            data["datasets"] = [dataclasses.asdict(d) for d in self.datasets]
        return data

    @classmethod
    def from_json(cls, data: Any, where: str = "the saved options") -> Options:
        """The options `to_json` wrote, each checked by its command-line flag's check (`checked`);
        a missing, unknown or bad key is an `OptionsError` naming `where` and the key."""
        if not isinstance(data, dict):
            raise OptionsError(f"{where}: 'options' must be an object, got {_kind(data)}")
        _known_keys(data, FIELDS, where, "options.")
        values: dict[str, Any] = {}
        for name in FIELDS:
            if name not in data:
                raise OptionsError(f"{where}: the key 'options.{name}' is missing")
            try:
                values.update(checked({name: data[name]}))  # the command line's check
            except OptionsError as error:
                raise OptionsError(f"{where}: bad 'options.{name}': {error}") from None
        return cls(**values)


FIELDS = tuple(f.name for f in dataclasses.fields(Options))


def check_permutation(value: Any) -> str:
    if value not in PERMUTATIONS:
        raise OptionsError(
            f"--episampler.permutation must be one of {', '.join(PERMUTATIONS)}, got {value!r}"
        )
    return str(value)


def check_window(value: Any) -> int | str | None:
    if value is None or value == "auto":
        return cast("str | None", value)
    if isinstance(value, str):
        if value.lower() in ("none", "null"):
            return None
        if value.lower() == "auto":
            return "auto"
        if value.isdigit():
            value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise OptionsError(
        f"--episampler.window must be none, auto or a number of frames >= 1, got {value!r}"
    )


def check_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise OptionsError(f"--episampler.{name} must be true or false, got {value!r}")


def check_datasets(value: Any) -> tuple[DatasetSpec, ...] | None:
    """`--episampler.datasets`: a JSON list, a path to a JSON file holding one, or specs."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text.startswith("["):
            path = Path(text).expanduser()
            if not path.is_file():
                raise OptionsError(
                    f"--episampler.datasets must be a JSON list or the path of a JSON file, "
                    f"got {value!r} (no such file)"
                )
            text = path.read_text()
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            raise OptionsError(f"--episampler.datasets is not valid JSON: {error}") from None
    if not isinstance(value, (list, tuple)) or not value:
        raise OptionsError(
            f"--episampler.datasets must be a non-empty list of datasets, got {value!r}"
        )
    specs = []
    for i, item in enumerate(value):
        if isinstance(item, DatasetSpec):
            item = dataclasses.asdict(item)
        if not isinstance(item, dict) or not isinstance(item.get("repo_id"), str):
            raise OptionsError(
                f"--episampler.datasets[{i}] must be an object with a repo_id string, got {item!r}"
            )
        unknown = sorted(set(item) - {"repo_id", "root", "weight"})
        if unknown:
            raise OptionsError(
                f"--episampler.datasets[{i}] ({item['repo_id']}): unknown keys {unknown} "
                "(allowed: repo_id, root, weight)"
            )
        root, weight = item.get("root"), item.get("weight")
        if root is not None and not isinstance(root, str):
            raise OptionsError(
                f"--episampler.datasets[{i}] ({item['repo_id']}): root must be a string, "
                f"got {root!r}"
            )
        if weight is not None:
            if isinstance(weight, bool) or not isinstance(weight, (int, float)):
                raise OptionsError(
                    f"--episampler.datasets[{i}] ({item['repo_id']}): weight must be a number, "
                    f"got {weight!r}"
                )
            if not math.isfinite(weight) or weight < 0:
                raise OptionsError(
                    f"--episampler.datasets[{i}] ({item['repo_id']}): weight must be finite "
                    f"and >= 0, got {weight!r}"
                )
            weight = float(weight)
        specs.append(DatasetSpec(item["repo_id"], root, weight))
    given = [s.weight is not None for s in specs]
    if any(given) and not all(given):
        missing = [s.repo_id for s in specs if s.weight is None]
        raise OptionsError(
            f"--episampler.datasets: give a weight for every dataset or for none; "
            f"{len(missing)} of {len(specs)} have none ({', '.join(missing)})"
        )
    if all(given) and not any(s.weight for s in specs):
        raise OptionsError("--episampler.datasets: the weights are all 0")
    names = [s.repo_id for s in specs]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate is not None:
        raise OptionsError(f"--episampler.datasets names {duplicate!r} twice")
    return tuple(specs)


def check_block_size(value: Any) -> int:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 2**32:
        return value
    raise OptionsError(f"--episampler.block_size must be a number in [1, 2**32], got {value!r}")


ON_DATA_CHANGE = ("refuse", "restart_epoch")
# Options of one invocation, not saved with the checkpoint (how a resume goes, where and how
# much a stream copies: a stream's order is saved with the checkpoint on its own).
RUN_FIELDS = ("on_data_change", "cache_bytes", "cache_dir")
STREAM_FIELDS = ("cache_bytes", "cache_dir")  # only with --dataset.streaming=true
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}  # fmt: skip


def check_cache_bytes(value: Any) -> int:
    """Bytes: a number >= 1, optionally with a unit (`500MB`, `40GiB`)."""
    number, unit = -1.0, ""
    if isinstance(value, int) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([a-z]*)", value.strip().lower())
        if match is not None:
            number, unit = float(match[1]), match[2]
    if unit in _UNITS and 1 <= number * _UNITS[unit] <= 2**62:
        return int(number * _UNITS[unit])
    raise OptionsError(
        "--episampler.cache_bytes must be a number of bytes >= 1, optionally with a unit "
        f"({', '.join(u for u in _UNITS if u)}; e.g. 40GB), got {value!r}"
    )


def check_cache_dir(value: Any) -> str:
    if isinstance(value, (str, os.PathLike)) and os.fspath(value).strip():
        return os.fspath(value)
    raise OptionsError(f"--episampler.cache_dir must be a directory path, got {value!r}")


def check_on_data_change(value: Any) -> str:
    if value not in ON_DATA_CHANGE:
        raise OptionsError(
            f"--episampler.on_data_change must be one of {', '.join(ON_DATA_CHANGE)}, got {value!r}"
        )
    return str(value)


_CHECKS = {
    "permutation": check_permutation,
    "window": check_window,
    "batched_fetch": lambda v: check_bool("batched_fetch", v),
    "datasets": check_datasets,
    "block_size": check_block_size,
    "on_data_change": check_on_data_change,
    "cache_bytes": check_cache_bytes,
    "cache_dir": check_cache_dir,
}


def checked(explicit: dict[str, Any]) -> dict[str, Any]:
    """The explicit options, validated and normalised (unknown names refused)."""
    unknown = sorted(set(explicit) - set(FIELDS) - set(RUN_FIELDS))
    if unknown:
        raise OptionsError(
            f"unknown option {PREFIX}{unknown[0]}; the options are "
            + ", ".join(PREFIX + f for f in (*FIELDS, *RUN_FIELDS))
        )
    return {name: _CHECKS[name](value) for name, value in explicit.items()}


def split_arguments(args: Sequence[str]) -> tuple[dict[str, Any], list[str]]:
    """(the explicit `--episampler.*` options, checked; the arguments left for LeRobot).
    Accepts `--episampler.NAME=VALUE` and `--episampler.NAME VALUE`."""
    explicit: dict[str, Any] = {}
    rest: list[str] = []
    args = list(args)
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith(PREFIX):
            name, sep, value = arg[len(PREFIX) :].partition("=")
            if not sep:
                if i + 1 >= len(args):
                    raise OptionsError(f"{arg} needs a value")
                value = args[i + 1]
                i += 1
            if name in explicit:
                raise OptionsError(f"{PREFIX}{name} is given twice")
            explicit[name] = value
        else:
            rest.append(arg)
        i += 1
    return checked(explicit), rest


def resolve(explicit: dict[str, Any], saved: Options | None, where: str) -> Options:
    """The options of a run: `saved` (a resumed checkpoint's) with no explicit flag
    contradicting it, else the defaults updated with the explicit flags (the options of
    `RUN_FIELDS` are not the run's saved options, and are ignored here)."""
    explicit = {name: value for name, value in explicit.items() if name in FIELDS}
    if saved is None:
        return dataclasses.replace(Options(), **explicit)
    for name, value in explicit.items():
        if value != getattr(saved, name):
            raise OptionsError(
                f"{PREFIX}{name}={_show(value)} contradicts the checkpoint being resumed "
                f"({where}), which was trained with {PREFIX}{name}={_show(getattr(saved, name))}. "
                "Drop the flag to continue with the saved options, or start a new run."
            )
    return saved


def _show(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return json.dumps([dataclasses.asdict(d) for d in value])
    return str(value)


@dataclasses.dataclass(frozen=True)
class SavedData:
    """What a checkpoint records of the data its run trained on.

    Args:
        datasets: each dataset's identity (one, or one per dataset of a mixture); empty when
            they could not be read.
        epoch_length: positions per epoch of the run's sampler (None if not built yet).
        origin_step, origin_epoch: the step at which the run's epoch `origin_epoch` started
            from its first position: 0 and 0, unless a resume on changed data restarted the
            order (`--episampler.on_data_change=restart_epoch`). A resume maps its step to an
            epoch and an offset from there.
    """

    datasets: tuple[DatasetIdentity, ...] = ()
    epoch_length: int | None = None
    origin_step: int = 0
    origin_epoch: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "datasets": [dataclasses.asdict(d) for d in self.datasets],
            "epoch_length": self.epoch_length,
            "epoch_origin": {"step": self.origin_step, "epoch": self.origin_epoch},
        }


@dataclasses.dataclass(frozen=True)
class Saved:
    """The contents of a checkpoint's `episampler.json`, checked (`load`)."""

    options: Options
    sampler: dict[str, Any]  # the sampler settings the options resolved to
    data: SavedData | None  # None in a checkpoint written before the data was recorded


def save(
    directory: Path, options: Options, sampler: dict[str, Any], data: SavedData | None = None
) -> None:
    """Write the options (the sampler settings they resolved to, and what identifies the data)
    into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    payload: dict[str, Any] = {"format": _FORMAT, "options": options.to_json(), "sampler": sampler}
    if data is not None:
        payload["data"] = data.to_json()
    (directory / STATE_FILE).write_text(json.dumps(payload, indent=2) + "\n")


def load(directory: Path) -> Saved | None:
    """The options saved in `directory` (None when there are none), checked as the command line
    checks its flags (`parse_saved`).

    Raises:
        OptionsError: the file is unreadable, not JSON, or a key is missing, unknown or bad;
            the message names the file and the key.
    """
    path = directory / STATE_FILE
    if not path.is_file():
        return None
    try:
        payload = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as error:
        raise OptionsError(f"{path} cannot be read: {error}") from None
    except json.JSONDecodeError as error:
        raise OptionsError(
            f"{path} is not valid JSON ({error}): the checkpoint's episampler options are damaged"
        ) from None
    return parse_saved(payload, str(path))


_TOP_KEYS = ("format", "options", "sampler", "data")
_SAMPLER_KEYS = ("window", "group_by", "streams", "stream_block", "stream_readers", "block_counts")


def parse_saved(payload: Any, where: str) -> Saved:
    """The checked contents of an `episampler.json` (`where` names it in errors): every option
    through the check its command-line flag goes through (`checked`), no key missing or
    unknown, the sampler settings and the data identities well formed and consistent."""
    if not isinstance(payload, dict):
        raise OptionsError(f"{where} must hold a JSON object, got {_kind(payload)}")
    if "format" not in payload:
        raise OptionsError(f"{where} has no 'format' key: not an episampler options file")
    if payload["format"] != _FORMAT or isinstance(payload["format"], bool):
        raise OptionsError(
            f"{where} was written by another version of episampler (format "
            f"{payload['format']!r}, this one reads {_FORMAT})"
        )
    _known_keys(payload, _TOP_KEYS, where, "")
    for key in ("options", "sampler"):
        if key not in payload:
            raise OptionsError(f"{where}: the key '{key}' is missing")
    options = Options.from_json(payload["options"], where)
    if not isinstance(payload["sampler"], dict):
        raise OptionsError(f"{where}: 'sampler' must be an object, got {_kind(payload['sampler'])}")
    sampler = _parse_sampler(payload["sampler"], options, where)
    data = None if payload.get("data") is None else _parse_data(payload["data"], options, where)
    return Saved(options, sampler, data)


def _parse_sampler(sampler: dict[str, Any], options: Options, where: str) -> dict[str, Any]:
    _known_keys(sampler, _SAMPLER_KEYS, where, "sampler.")
    checked_settings: dict[str, Any] = {}
    for key, value in sampler.items():
        name = f"sampler.{key}"
        if key == "group_by":
            if value is not None and not is_group_by(value):
                raise OptionsError(
                    f"{where}: bad '{name}': must be null, one of {', '.join(GROUP_BY)} or "
                    f"'video_file:<video key>', got {value!r}"
                )
        elif key == "block_counts":
            if not isinstance(value, list) or not value:
                raise OptionsError(f"{where}: bad '{name}': must be a list, got {value!r}")
            value = [_int(where, f"{name}[{i}]", v, low=0) for i, v in enumerate(value)]
        elif value is not None:
            value = _int(where, name, value, low=1)
        checked_settings[key] = value
    if not checked_settings:
        return checked_settings
    if options.datasets is None:
        if "block_counts" in checked_settings:
            raise OptionsError(f"{where}: 'sampler.block_counts' is set but there is one dataset")
        window = checked_settings.get("window")
        if options.window != "auto" and window != options.window:
            raise OptionsError(
                f"{where}: 'sampler.window' is {_show(window)} but 'options.window' is "
                f"{_show(options.window)}: the two were edited apart"
            )
    else:
        extra = sorted(set(checked_settings) - {"block_counts"})
        if extra:
            raise OptionsError(
                f"{where}: 'sampler.{extra[0]}' is set but the run trains on several datasets "
                "(only 'sampler.block_counts' applies)"
            )
        counts = checked_settings.get("block_counts")
        if counts is not None and len(counts) != len(options.datasets):
            raise OptionsError(
                f"{where}: 'sampler.block_counts' has {len(counts)} entries for "
                f"{len(options.datasets)} datasets"
            )
    return checked_settings


def _parse_data(data: Any, options: Options, where: str) -> SavedData:
    if not isinstance(data, dict):
        raise OptionsError(f"{where}: 'data' must be an object, got {_kind(data)}")
    _known_keys(data, ("datasets", "epoch_length", "epoch_origin"), where, "data.")
    for key in ("datasets", "epoch_length", "epoch_origin"):
        if key not in data:
            raise OptionsError(f"{where}: the key 'data.{key}' is missing")
    entries = data["datasets"]
    if not isinstance(entries, list):
        raise OptionsError(f"{where}: 'data.datasets' must be a list, got {_kind(entries)}")
    expected = 1 if options.datasets is None else len(options.datasets)
    if entries and len(entries) != expected:
        raise OptionsError(
            f"{where}: 'data.datasets' has {len(entries)} entries for {expected} "
            f"dataset{'s' if expected > 1 else ''}"
        )
    fields = [f.name for f in dataclasses.fields(DatasetIdentity)]
    identities = []
    for i, entry in enumerate(entries):
        name = f"data.datasets[{i}]"
        if not isinstance(entry, dict):
            raise OptionsError(f"{where}: '{name}' must be an object, got {_kind(entry)}")
        _known_keys(entry, fields, where, f"{name}.")
        for key in fields:
            if key not in entry:
                raise OptionsError(f"{where}: the key '{name}.{key}' is missing")
        for key in ("repo_id", "root"):
            if entry[key] is not None and not isinstance(entry[key], str):
                raise OptionsError(
                    f"{where}: bad '{name}.{key}': must be a string or null, got {entry[key]!r}"
                )
        boundaries = entry["boundaries"]
        if not (isinstance(boundaries, str) and boundaries.startswith("sha256:")):
            raise OptionsError(
                f"{where}: bad '{name}.boundaries': must be 'sha256:' and a digest, got "
                f"{boundaries!r}"
            )
        identities.append(
            DatasetIdentity(
                repo_id=entry["repo_id"],
                root=entry["root"],
                episodes=_int(where, f"{name}.episodes", entry["episodes"], low=0),
                frames=_int(where, f"{name}.frames", entry["frames"], low=0),
                boundaries=boundaries,
            )
        )
    length = data["epoch_length"]
    origin = data["epoch_origin"]
    if not isinstance(origin, dict):
        raise OptionsError(f"{where}: 'data.epoch_origin' must be an object, got {_kind(origin)}")
    _known_keys(origin, ("step", "epoch"), where, "data.epoch_origin.")
    for key in ("step", "epoch"):
        if key not in origin:
            raise OptionsError(f"{where}: the key 'data.epoch_origin.{key}' is missing")
    return SavedData(
        datasets=tuple(identities),
        epoch_length=None if length is None else _int(where, "data.epoch_length", length, low=1),
        origin_step=_int(where, "data.epoch_origin.step", origin["step"], low=0),
        origin_epoch=_int(where, "data.epoch_origin.epoch", origin["epoch"], low=0),
    )


def _known_keys(mapping: dict[str, Any], known: Sequence[str], where: str, prefix: str) -> None:
    unknown = sorted(set(mapping) - set(known))
    if unknown:
        raise OptionsError(
            f"{where}: unknown key '{prefix}{unknown[0]}' (the keys are "
            + ", ".join(prefix + k for k in known)
            + ")"
        )


def _int(where: str, name: str, value: Any, *, low: int) -> int:
    try:
        return as_int("the value", value, low=low)
    except (TypeError, ValueError) as error:
        raise OptionsError(f"{where}: bad '{name}': {error}") from None


def _kind(value: Any) -> str:
    kinds = {list: "a list", dict: "an object", str: "a string", bool: "a boolean"}
    return kinds.get(type(value), "null" if value is None else f"a {type(value).__name__}")
