"""Conversion and validation of user arguments: every rejection is a TypeError or ValueError that
names the argument and the value, before anything reaches the Rust core."""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping
from typing import Any, cast

import numpy as np
import torch

_INT64_MAX = np.iinfo(np.int64).max


def is_bool(value: Any) -> bool:
    """Whether `value` is a boolean: a Python or numpy bool, or a numpy array or torch tensor of
    bool dtype (whatever its shape). `operator.index` takes a one-value bool tensor as 0 or 1."""
    if isinstance(value, (bool, np.bool_)):
        return True
    dtype = getattr(value, "dtype", None)
    return dtype is torch.bool or (isinstance(dtype, np.dtype) and dtype.kind == "b")


def as_int(name: str, value: Any, *, low: int = 0, high: int | None = None) -> int:
    """`value` as a Python int in `[low, high)`; booleans (Python, numpy, and bool tensors or
    arrays) and non-integers are a TypeError."""
    if is_bool(value):
        if isinstance(value, (bool, np.bool_)) or _size(value) == 1:
            shown = bool(value.item() if hasattr(value, "item") else value)
            raise TypeError(f"{name} must be an int, got the bool {shown!r}")
        raise TypeError(f"{name} must be an int, got a {type(value).__name__} of bools {value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}") from None
    if number < low:
        # "must be >= low" first: LeRobot's messages (and its users' tests) read this way.
        valid = "" if high is None else f" (valid range: {_interval(low, high)})"
        raise ValueError(f"{name} must be >= {low}, got {number}{valid}")
    if high is not None and number >= high:
        raise ValueError(f"{name} must be in {_interval(low, high)}, got {number}")
    return number


def _size(value: Any) -> int:
    """The number of values in a numpy array or torch tensor."""
    size = value.numel() if isinstance(value, torch.Tensor) else getattr(value, "size", 0)
    return int(size)


def _interval(low: int, high: int) -> str:
    """`[low, high)` with large powers of two written `2**k` (so limits like the seed's read as
    in the docs), and `[low, 2**k]` when `high` is one past a power of two."""
    if _is_large_power_of_two(high):
        return f"[{low}, 2**{high.bit_length() - 1})"
    if _is_large_power_of_two(high - 1):
        return f"[{low}, 2**{high.bit_length() - 1}]"
    return f"[{low}, {high})"


def _is_large_power_of_two(value: int) -> bool:
    return value >= 2**32 and value & (value - 1) == 0


def as_seconds(name: str, value: Any, *, positive: bool = False) -> float:
    """A duration in seconds: a real number, finite, >= 0 (> 0 with `positive`)."""
    if is_bool(value) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number of seconds, got {type(value).__name__}")
    seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0 or (positive and seconds == 0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must be a finite number of seconds {bound}, got {value!r}")
    return seconds


def as_bool(name: str, value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be a bool, got {type(value).__name__} {value!r}")


def as_index_array(name: str, value: Any) -> np.ndarray:
    """A 1-D sequence of integers (list, tuple, numpy array, torch tensor, HF `datasets` column)
    as a contiguous int64 numpy array."""
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name} must be a 1-D sequence of ints, got {type(value).__name__}")
    if isinstance(value, torch.Tensor):
        if value.dtype == torch.bool or value.is_floating_point() or value.is_complex():
            raise TypeError(f"{name} must hold integers, got a torch tensor of {value.dtype}")
        value = value.detach().cpu().numpy()
    elif not isinstance(value, np.ndarray):
        if not hasattr(value, "__iter__"):
            raise TypeError(f"{name} must be a 1-D sequence of ints, got {type(value).__name__}")
        items = value if hasattr(value, "__len__") else list(value)
        kinds = set(map(type, items)) if isinstance(items, (list, tuple)) else set()
        if kinds & {bool, np.bool_}:
            raise TypeError(f"{name} must hold integers, got a bool among its values")
        if kinds and all(issubclass(kind, (int, np.integer)) for kind in kinds):
            # Checked one by one: numpy would read [-1, 2**63] as floats.
            value = _from_objects(name, items, (len(items),))
        else:
            value = np.asarray(items)
    if value.dtype == object:  # e.g. Python ints beyond int64, or a non-numpy column
        value = _from_objects(name, list(value.ravel()), value.shape)
    if value.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got an array of shape {value.shape}")
    if value.size == 0:
        return np.empty(0, dtype=np.int64)
    if value.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers, got dtype {value.dtype}")
    if value.dtype.kind == "u" and value.dtype.itemsize == 8 and value.max() > _INT64_MAX:
        raise ValueError(f"{name} must be < 2**63, got {int(value.max())}")
    return np.ascontiguousarray(value, dtype=np.int64)


def _from_objects(name: str, items: Any, shape: tuple[int, ...]) -> np.ndarray:
    """Python (or numpy) integers as int64, each checked: the fast path converts in one call and
    only falls back to a per-item check to name the offending value."""
    try:
        return np.asarray(items, dtype=np.int64).reshape(shape)
    except (OverflowError, TypeError, ValueError):
        pass
    for item in items:
        if isinstance(item, (bool, np.bool_)) or not isinstance(item, (int, np.integer)):
            raise TypeError(f"{name} must hold integers, got {type(item).__name__} {item!r}")
        if not -_INT64_MAX - 1 <= item <= _INT64_MAX:
            raise ValueError(f"{name} must fit in 64 bits, got {item}")
    raise TypeError(f"{name} must hold integers")


def rows_for_frames(mapping: Any, frames: np.ndarray) -> np.ndarray:
    """The dataset row of every kept frame through `absolute_to_relative_idx`, computed once."""
    name = "absolute_to_relative_idx"
    if isinstance(mapping, Mapping):
        rows = []
        for frame in frames.tolist():
            try:
                rows.append(mapping[frame])
            except KeyError:
                raise ValueError(f"{name} has no entry for kept frame {frame}") from None
        return as_index_array(f"{name} values", rows)
    # Otherwise a sequence indexed by absolute frame.
    table = as_index_array(name, mapping)
    missing = frames[frames >= len(table)]
    if missing.size:
        raise ValueError(
            f"{name} has no entry for kept frame {int(missing[0])} (it covers {len(table)} frames)"
        )
    return cast(np.ndarray, table[frames])


def as_weights(name: str, value: Any) -> np.ndarray:
    """A 1-D sequence of real numbers as a contiguous float64 array. Bools, strings and
    complex numbers are a TypeError; finiteness and signs are checked by the core, which names
    the first bad entry."""
    if isinstance(value, (str, bytes)) or value is None or not hasattr(value, "__len__"):
        raise TypeError(f"{name} must be a 1-D sequence of numbers, got {type(value).__name__}")
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    elif not isinstance(value, np.ndarray):
        if any(isinstance(item, (bool, np.bool_)) for item in value):
            raise TypeError(f"{name} must hold numbers, got a bool among its values")
        try:
            value = np.asarray(value)
        except (TypeError, ValueError) as error:
            raise TypeError(f"{name} must be a 1-D sequence of numbers: {error}") from None
    if value.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got an array of shape {value.shape}")
    if value.size and value.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {value.dtype}")
    return np.ascontiguousarray(value, dtype=np.float64)
