"""The `--episampler.*` options of `episampler-lerobot-train`: one dataclass, parsed from the
command line, saved with every checkpoint and restored on `--resume=true`."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from episampler._sampler import PERMUTATIONS

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
        in one call, which groups its video frames by camera and file.
  --episampler.datasets=JSON|PATH
        Train on several LeRobot v3 datasets in set proportions: a JSON list (or a file holding
        one) of {"repo_id": ..., "root": ..., "weight": ...}; without weights, each dataset is
        drawn in proportion to its frames. Replaces --dataset.repo_id / --dataset.root.
        Items carry dataset_index; the normalisation stats are the mixture's.
  --episampler.block_size=N
        With several datasets: positions per block (default 1024); every block holds each
        dataset's share of N exactly.
These options are saved with every checkpoint; --resume=true restores them, and refuses a flag
that contradicts the saved value.
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
    def from_json(cls, data: dict[str, Any]) -> Options:
        """The options `to_json` wrote."""
        datasets = data.get("datasets")
        return cls(
            permutation=data["permutation"],
            window=data["window"],
            batched_fetch=data["batched_fetch"],
            datasets=None if datasets is None else tuple(DatasetSpec(**d) for d in datasets),
            block_size=data["block_size"],
        )


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


_CHECKS = {
    "permutation": check_permutation,
    "window": check_window,
    "batched_fetch": lambda v: check_bool("batched_fetch", v),
    "datasets": check_datasets,
    "block_size": check_block_size,
}


def checked(explicit: dict[str, Any]) -> dict[str, Any]:
    """The explicit options, validated and normalised (unknown names refused)."""
    unknown = sorted(set(explicit) - set(FIELDS))
    if unknown:
        raise OptionsError(
            f"unknown option {PREFIX}{unknown[0]}; the options are "
            + ", ".join(PREFIX + f for f in FIELDS)
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
    contradicting it, else the defaults updated with the explicit flags."""
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


def save(directory: Path, options: Options, sampler: dict[str, Any]) -> None:
    """Write the options (and the sampler settings they resolved to) into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    payload = {"format": _FORMAT, "options": options.to_json(), "sampler": sampler}
    (directory / STATE_FILE).write_text(json.dumps(payload, indent=2) + "\n")


def load(directory: Path) -> tuple[Options, dict[str, Any]] | None:
    """The options saved in `directory` (None when there are none)."""
    path = directory / STATE_FILE
    if not path.is_file():
        return None
    payload = json.loads(path.read_text())
    if payload.get("format") != _FORMAT:
        raise OptionsError(
            f"{path} was written by another version of episampler (format "
            f"{payload.get('format')!r}, this one reads {_FORMAT})"
        )
    return Options.from_json(payload["options"]), dict(payload.get("sampler") or {})
