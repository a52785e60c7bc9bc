"""Fuzzing the Python API with hypothesis: arbitrary boundaries (ints of any size and sign, floats,
bools, numpy arrays and torch tensors of many dtypes), selections, drops, seeds, permutations,
sharding, resume points and state dicts of any content, batch sizes.

Every call must either work and satisfy the README's contract, or raise `ValueError` /
`TypeError`: never a Rust panic (`pyo3_runtime.PanicException`), an `OverflowError`, any other
exception, or a hang (pytest-timeout). Accepted configurations are checked against a naive
reference: the kept frames, `len(sampler)`, the sharding rule from any resume point,
`epoch_indices`, state round trips, batches. The defects this file found are regression tests at
the end.
"""

from __future__ import annotations

import copy
import itertools
import operator
import pickle
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from episampler import EpisodeAwareBatchSampler, EpisodeAwareSampler

pytestmark = pytest.mark.timeout(180)

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
EPOCH_LIMIT = 2**63  # epochs that can be iterated: [0, 2**63)
LOADABLE_EPOCHS = 2**63 + 1  # set_epoch / load_state_dict also take 2**63, the state after the last
COUNT_LIMIT = 2**63  # drops, num_replicas, batch_size: below 2**63
LIMIT = 3000  # epochs with more frames are probed, never written out
PERMUTATIONS = ("uniform", "feistel")
SCALARS = (
    "drop_n_first_frames",
    "drop_n_last_frames",
    "shuffle",
    "seed",
    "permutation",
    "num_replicas",
    "rank",
    "drop_last",
)
FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --- outcomes ------------------------------------------------------------------------------------


def attempt(function, *args, **kwargs) -> tuple[bool, Any]:
    """`(True, result)`, or `(False, error)` for a ValueError / TypeError; anything else (a Rust
    panic, an OverflowError, any other exception) fails the test."""
    try:
        return True, function(*args, **kwargs)
    except BaseException as error:
        if type(error).__name__ == "PanicException":
            raise AssertionError(f"Rust panic: {error!r}") from error
        if isinstance(error, OverflowError):
            raise AssertionError(f"OverflowError: {error!r}") from error
        if isinstance(error, (ValueError, TypeError)):
            return False, error
        raise


def construct(*args, **kwargs) -> tuple[EpisodeAwareSampler, list[warnings.WarningMessage]]:
    """A sampler and the warnings its construction emitted."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sampler = EpisodeAwareSampler(*args, **kwargs)
    return sampler, list(caught)


def quiet(*args, **kwargs) -> EpisodeAwareSampler:
    """A sampler whose skip warning (checked elsewhere) is not the point."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return EpisodeAwareSampler(*args, **kwargs)


# --- the contract, written out naively -----------------------------------------------------------


def reference(from_values, to_values, subset=None, first=0, last=0):
    """`(ranges of kept frames in boundary order, episodes emptied by the drops)`, or None when
    the configuration breaks a rule (ValueError)."""
    n = len(from_values)
    if n == 0 or n != len(to_values):
        return None
    pairs = list(zip(from_values, to_values, strict=True))
    if any(f < 0 or t < 0 or f > t for f, t in pairs):
        return None
    for a, (fa, ta) in enumerate(pairs):
        for fb, tb in pairs[a + 1 :]:
            if fa < ta and fb < tb and fa < tb and fb < ta:
                return None  # two non-empty episodes share a frame
    if subset is not None and any(not 0 <= e < n for e in subset):
        return None
    ranges, skipped = [], 0
    for e, (f, t) in enumerate(pairs):
        if subset is not None and e not in subset:
            continue
        if first + last >= t - f:
            skipped += 1
        else:
            ranges.append(range(f + first, t - last))
    if not ranges:
        return None
    return ranges, skipped


def frame_at(ranges, position: int) -> int:
    for frames in ranges:
        if position < len(frames):
            return frames[position]
        position -= len(frames)
    raise AssertionError("position past the end")


def count(remaining: int, world: int, drop_last: bool) -> int:
    """Indices a rank yields from `remaining` global positions (README: sharding)."""
    return remaining // world if drop_last else -(-remaining // world)


def rank_values(order, start: int, rank: int, world: int, drop_last: bool) -> list[int]:
    """Positions `start + rank, start + rank + world, ...` of `order`, wrapping past the end."""
    n = len(order)
    return [
        order[(start + rank + i * world) % n] for i in range(count(n - start, world, drop_last))
    ]


def int_ok(value: Any, low: int = 0, high: int | None = None) -> bool:
    """An int (not a bool) in `[low, high)`."""
    if isinstance(value, (bool, np.bool_)):
        return False
    try:
        number = operator.index(value)
    except TypeError:
        return False
    return low <= number and (high is None or number < high)


def same_entry(theirs: Any, mine: Any) -> bool:
    """A state entry matches ours when it is the same value of the same kind: a str equal to a
    str, an integer (not a bool, not a float) equal to an int."""
    if isinstance(mine, str):
        return isinstance(theirs, str) and theirs == mine
    if isinstance(mine, dict):  # the settings: they only name what a fingerprint mismatch is
        return isinstance(theirs, Mapping)
    if isinstance(theirs, (bool, np.bool_)) or not isinstance(theirs, (int, np.integer)):
        return False
    return int(theirs) == mine


def bool_ok(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_))


# --- strategies ----------------------------------------------------------------------------------


def wild_ints() -> st.SearchStrategy[int]:
    """Ints of any size and sign, biased to the edges of int64 and uint64."""
    return st.one_of(
        st.integers(0, 60),
        st.integers(-5, -1),
        st.integers(INT64_MAX - 3, INT64_MAX + 3),
        st.integers(INT64_MIN - 3, INT64_MIN + 3),
        st.integers(2**64 - 3, 2**64 + 3),
        st.integers(-(2**70), 2**70),
    )


NOT_INTS = st.one_of(
    st.booleans(),
    st.floats(allow_nan=True),
    st.just(2.0),
    st.none(),
    st.text(max_size=2),
    st.just(np.float32(1.0)),
    st.just(np.bool_(True)),
    st.just([1]),
)


def counts(small_max: int = 3, low: int = 0) -> st.SearchStrategy[Any]:
    """Mostly small valid counts, sometimes any int, sometimes not an int at all."""
    return st.one_of(
        st.integers(low, small_max),
        st.integers(low, small_max),
        st.integers(low, small_max).map(np.int64),
        wild_ints(),
        NOT_INTS,
    )


NUMPY_INTS = (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64)
TORCH_INTS = (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)
CONTAINERS = (
    "list",
    "list",
    "tuple",
    "generator",
    "strided",
    "big-endian",
    "numpy-list",
    *NUMPY_INTS,
    *TORCH_INTS,
)


def contain(values: list[int], how: Any) -> Any:
    """`values` in the container `how`; a plain list when that container cannot hold them."""
    if how == "tuple":
        return tuple(values)
    if how == "generator":
        return (value for value in values)
    fits_int64 = all(INT64_MIN <= value <= INT64_MAX for value in values)
    if how == "strided" and fits_int64:
        doubled = np.zeros(2 * len(values), dtype=np.int64)
        doubled[::2] = values
        return doubled[::2]
    if how == "big-endian" and fits_int64:
        return np.array(values, dtype=">i8")
    if how == "numpy-list" and fits_int64:
        return [np.int64(value) for value in values]
    if how in NUMPY_INTS:
        info = np.iinfo(how)
        if all(info.min <= value <= info.max for value in values):
            return np.array(values, dtype=how)
    if isinstance(how, torch.dtype):
        info = torch.iinfo(how)
        if all(info.min <= value <= info.max for value in values):
            return torch.tensor(values, dtype=how)
    return list(values)


# Not a 1-D sequence of ints: each must be refused with a TypeError or ValueError (None too,
# where it does not mean "no selection" / "no map").
WRONG_NON_MAPPINGS = st.one_of(
    st.lists(st.floats(allow_nan=True), min_size=1, max_size=4),
    st.lists(st.integers(0, 9), min_size=1, max_size=4).map(lambda v: [float(x) for x in v]),
    st.lists(st.booleans(), min_size=1, max_size=4),
    st.lists(st.booleans(), min_size=1, max_size=4).map(np.array),
    st.lists(st.booleans(), min_size=1, max_size=4).map(torch.tensor),
    st.lists(st.integers(0, 9), min_size=1, max_size=4).map(lambda v: np.array(v, float)),
    st.lists(st.integers(0, 9), min_size=1, max_size=4).map(lambda v: torch.tensor(v) * 1.0),
    st.lists(st.lists(st.integers(0, 9), min_size=1, max_size=3), min_size=1, max_size=3),
    st.lists(st.integers(0, 9), min_size=1, max_size=4).map(lambda v: np.array([v, v])),
    st.lists(st.text(max_size=2), min_size=1, max_size=3),
    st.lists(st.one_of(st.none(), st.just(1.5), st.just("1")), min_size=1, max_size=3),
    st.text(max_size=3),
    st.binary(max_size=3),
    st.integers(0, 9),
    st.floats(),
    st.just(np.int64(3)),
    st.just(torch.tensor(3)),
    st.just(object()),
)
WRONG_SEQUENCES = st.one_of(
    WRONG_NON_MAPPINGS, st.dictionaries(st.integers(0, 5), st.integers(0, 5), max_size=3)
)


@st.composite
def layouts(draw, max_episodes: int = 12, max_length: int = 120, wild: bool = True):
    """Boundaries as Python ints: non-overlapping episodes in shuffled order, small, far out near
    2**63, or with one huge episode; when `wild`, sometimes corrupted by one mutation."""
    n = draw(st.integers(1, max_episodes))
    scale = draw(st.sampled_from(["small"] * 5 + ["far", "huge"])) if wild else "small"
    lengths = draw(st.lists(st.integers(0, max_length), min_size=n, max_size=n))
    gaps = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    if scale == "huge":
        lengths[draw(st.integers(0, n - 1))] = draw(st.integers(LIMIT + 1, 2**62))
    total = sum(lengths) + sum(gaps)
    if scale == "far":
        base = draw(st.one_of(st.just(INT64_MAX - total), st.integers(2**62, INT64_MAX - total)))
    else:
        base = draw(st.integers(0, 5))
    starts, cursor = [], base
    for gap, length in zip(gaps, lengths, strict=True):
        cursor += gap
        starts.append(cursor)
        cursor += length
    order = draw(st.permutations(range(n)))
    from_values = [starts[e] for e in order]
    to_values = [starts[e] + lengths[e] for e in order]
    if wild:
        mutation = draw(st.sampled_from(["none"] * 8 + ["nudge", "set", "copy", "cut"]))
        which = draw(st.integers(0, n - 1))
        side = from_values if draw(st.booleans()) else to_values
        if mutation == "nudge":
            side[which] += draw(st.integers(-3, 3))
        elif mutation == "set":
            side[which] = draw(wild_ints())
        elif mutation == "copy":
            from_values.append(from_values[which])
            to_values.append(to_values[which])
        elif mutation == "cut":
            side.pop()
    return from_values, to_values


@st.composite
def small_layouts(draw, max_episodes: int = 8, max_length: int = 40):
    """Valid boundaries with at least one frame, small enough to write out."""
    from_values, to_values = draw(layouts(max_episodes, max_length, wild=False))
    if sum(t - f for f, t in zip(from_values, to_values, strict=True)) == 0:
        to_values[0] += 1 + draw(st.integers(0, 5))
        # Keep episodes apart: shift every later-starting episode out of the way.
        shift = to_values[0] - from_values[0]
        for e in range(1, len(from_values)):
            if from_values[e] >= from_values[0]:
                from_values[e] += shift
                to_values[e] += shift
    return from_values, to_values


def config_of(data, layout=None, *, wild: bool = True) -> dict[str, Any]:
    """A full, valid constructor configuration as plain Python values."""
    from_values, to_values = layout if layout is not None else data.draw(small_layouts())
    n = len(from_values)
    world = data.draw(st.integers(1, 4))
    config = {
        "from": from_values,
        "to": to_values,
        "subset": data.draw(st.none() | st.lists(st.integers(0, n - 1), min_size=1, max_size=6)),
        "first": data.draw(st.integers(0, 2)),
        "last": data.draw(st.integers(0, 2)),
        "shuffle": data.draw(st.booleans()),
        "seed": data.draw(st.integers(0, 2**64 - 1)),
        "permutation": data.draw(st.sampled_from(PERMUTATIONS)),
        "num_replicas": world,
        "rank": data.draw(st.integers(0, world - 1)),
        "drop_last": data.draw(st.booleans()),
    }
    if reference(from_values, to_values, config["subset"], config["first"], config["last"]) is None:
        config.update(subset=None, first=0, last=0)  # selection and drops left no frame
    return config


def make(config: dict[str, Any], **overrides: Any) -> EpisodeAwareSampler:
    config = {**config, **overrides}
    return quiet(
        config["from"],
        config["to"],
        config["subset"],
        config["first"],
        config["last"],
        config["shuffle"],
        config["seed"],
        permutation=config["permutation"],
        num_replicas=config["num_replicas"],
        rank=config["rank"],
        drop_last=config["drop_last"],
    )


def global_order(config: dict[str, Any], epoch: int) -> list[int]:
    """The epoch's order over all ranks (one rank of one), checked against the kept frames."""
    order = make(config, num_replicas=1, rank=0, drop_last=False).epoch_indices(epoch).tolist()
    ranges, _ = reference(
        config["from"], config["to"], config["subset"], config["first"], config["last"]
    )
    frames = [frame for frames in ranges for frame in frames]
    if config["shuffle"]:
        assert sorted(order) == sorted(frames)
    else:
        assert order == frames
    return order


# --- properties ----------------------------------------------------------------------------------


@settings(FUZZ, max_examples=1500)
@given(data=st.data())
def test_constructor_accepts_exactly_the_valid_configurations(data):
    from_values, to_values = data.draw(layouts(), label="boundaries")
    n = len(from_values)
    valid = True

    def sequence(values, label):
        nonlocal valid
        if data.draw(st.integers(0, 29), label=f"{label} wrong kind?") == 0:
            valid = False
            wrong = WRONG_SEQUENCES if label == "subset" else st.none() | WRONG_SEQUENCES
            return data.draw(wrong, label=label)
        valid &= all(INT64_MIN <= value <= INT64_MAX for value in values)
        return contain(values, data.draw(st.sampled_from(CONTAINERS), label=f"{label} container"))

    from_arg = sequence(from_values, "from")
    to_arg = sequence(to_values, "to")
    valid_ids = st.lists(st.integers(0, max(n - 1, 0)), max_size=8)
    subset = data.draw(
        st.one_of(st.none(), st.none(), valid_ids, valid_ids, st.lists(wild_ints(), max_size=3)),
        label="subset",
    )
    subset_arg = None if subset is None else sequence(subset, "subset")

    # A third of the cases corrupt one scalar argument (wrong kind or out of range).
    faulty = data.draw(st.sampled_from([None] * 2 * len(SCALARS) + list(SCALARS)), label="faulty")

    def scalar(name, good, bad):
        return data.draw(bad if name == faulty else good, label=name)

    bad_int = st.one_of(wild_ints(), NOT_INTS)
    bad_bool = st.one_of(NOT_INTS, st.integers(0, 1))
    small = st.one_of(st.just(0), st.integers(0, 3), st.integers(0, 3).map(np.int64))
    flag = st.one_of(st.booleans(), st.booleans(), st.just(np.bool_(True)))
    first = scalar("drop_n_first_frames", small, bad_int)
    last = scalar("drop_n_last_frames", small, bad_int)
    shuffle = scalar("shuffle", flag, bad_bool)
    seed = scalar(
        "seed",
        st.one_of(
            st.integers(0, 2**64 - 1),
            st.sampled_from([0, 2**63, 2**64 - 1]),
            st.integers(0, 2**64 - 1).map(np.uint64),
        ),
        bad_int,
    )
    permutation = scalar(
        "permutation",
        st.sampled_from(PERMUTATIONS),
        st.sampled_from(["Uniform", "", "fisher-yates", None, 1, b"uniform"]),
    )
    world = scalar("num_replicas", st.one_of(st.integers(1, 4), st.just(np.int64(2))), bad_int)
    ranks = st.integers(0, operator.index(world) - 1) if int_ok(world, 1, 5) else small
    rank = scalar("rank", ranks, st.one_of(bad_int, st.just(world)))
    drop_last = scalar("drop_last", flag, bad_bool)

    valid &= int_ok(first, 0, COUNT_LIMIT) and int_ok(last, 0, COUNT_LIMIT)
    valid &= bool_ok(shuffle) and bool_ok(drop_last) and int_ok(seed, 0, 2**64)
    valid &= isinstance(permutation, str) and permutation in PERMUTATIONS
    valid &= int_ok(world, 1, COUNT_LIMIT) and int_ok(rank, 0, operator.index(world))
    expected = None
    if valid:
        first, last = operator.index(first), operator.index(last)
        expected = reference(from_values, to_values, subset, first, last)

    ok, result = attempt(
        construct,
        from_arg,
        to_arg,
        subset_arg,
        first,
        last,
        shuffle,
        seed,
        permutation=permutation,
        num_replicas=world,
        rank=rank,
        drop_last=drop_last,
    )
    assert ok == (expected is not None), result
    event("accepted" if ok else f"refused: {type(result).__name__}")
    if not ok:
        return
    sampler, caught = result
    ranges, skipped = expected
    messages = [str(w.message) for w in caught]
    if skipped:
        assert [w.category for w in caught] == [UserWarning], messages
        assert messages[0].startswith(f"{skipped} selected episode(s) have no frame left")
    else:
        assert not caught, messages

    n = sum(map(len, ranges))
    world, rank = operator.index(world), operator.index(rank)
    assert sampler.num_frames == n
    assert len(sampler) == count(n, world, bool(drop_last))
    state = sampler.state_dict()
    assert (state["epoch"], state["start_index"], state["num_frames"]) == (0, 0, n)
    assert state["seed"] == operator.index(seed)
    event("written out" if n <= LIMIT else "probed")
    if n <= LIMIT:
        config = {
            "from": from_values,
            "to": to_values,
            "subset": subset,
            "first": first,
            "last": last,
            "shuffle": bool(shuffle),
            "seed": operator.index(seed),
            "permutation": permutation,
        }
        order = global_order(config, 0)
        expected_values = rank_values(order, 0, rank, world, bool(drop_last))
        indices = sampler.epoch_indices()
        assert indices.dtype == np.int64
        assert indices.tolist() == expected_values
        values = list(sampler)
        assert values == expected_values
        assert all(type(value) is int for value in values)
        assert len(values) == len(sampler)
        state = sampler.state_dict()
        assert (state["epoch"], state["start_index"]) == (1, 0)
    elif not (shuffle and permutation == "uniform"):  # a huge "uniform" table takes O(n)
        head = list(itertools.islice(sampler, 5))
        assert len(head) == min(5, len(sampler))
        assert all(type(value) is int for value in head)
        if shuffle:
            assert all(any(value in frames for frames in ranges) for value in head)
        else:
            positions = [(rank + i * world) % n for i in range(len(head))]
            assert head == [frame_at(ranges, p) for p in positions]


STATE_VALUES = st.one_of(
    st.integers(-3, 12), wild_ints(), NOT_INTS, st.just(np.int64(1)), st.just("uniform")
)


@settings(FUZZ, max_examples=1000)
@given(data=st.data())
def test_any_state_dict_resumes_exactly_or_is_refused(data):
    config = config_of(data)
    sampler = make(config)
    n, world, rank, drop_last = (
        sampler.num_frames,
        config["num_replicas"],
        config["rank"],
        config["drop_last"],
    )
    mine = sampler.state_dict()
    identity = set(mine) - {"epoch", "start_index"}  # must match when present

    # A state: ours or LeRobot's, with arbitrary resume point, entries changed, dropped, added.
    state: dict[Any, Any] = dict(mine) if data.draw(st.booleans()) else {}
    state["epoch"] = data.draw(
        st.one_of(
            st.integers(0, 3),
            st.integers(EPOCH_LIMIT - 2, EPOCH_LIMIT + 1),
            STATE_VALUES,
            st.just(np.uint64(2)),
        ),
        label="epoch",
    )
    state["start_index"] = data.draw(
        st.one_of(st.integers(0, n), st.integers(0, n), st.just(n), STATE_VALUES),
        label="start_index",
    )
    for key in data.draw(st.lists(st.sampled_from(sorted(mine)), max_size=3), label="change"):
        state[key] = data.draw(st.one_of(st.just(mine[key]), STATE_VALUES), label=key)
    for key in data.draw(st.lists(st.sampled_from(sorted(mine)), max_size=2), label="drop"):
        state.pop(key, None)
    extra = data.draw(st.dictionaries(st.text(max_size=3), STATE_VALUES, max_size=2))
    state.update({key: value for key, value in extra.items() if key not in mine})
    argument: Any = state
    kind = data.draw(st.sampled_from(["dict"] * 8 + ["items", "none", "str"]), label="kind")
    if kind == "items":
        argument = list(state.items())
    elif kind in ("none", "str"):
        argument = None if kind == "none" else "state"

    epoch, start = state.get("epoch"), state.get("start_index")
    valid = (
        isinstance(argument, Mapping)
        and "epoch" in state
        and "start_index" in state
        and all(same_entry(state[key], mine[key]) for key in identity if key in state)
        # A state naming its sampler always carried its fingerprint: one without it was altered.
        and ("fingerprint" in state or "sampler" not in state)
        and int_ok(epoch, 0, LOADABLE_EPOCHS)
        and int_ok(start, 0, n + 1)
    )
    ok, error = attempt(sampler.load_state_dict, argument)
    assert ok == valid, (state, error)
    event("loaded" if ok else f"refused: {type(error).__name__}")
    if not ok:
        return
    epoch, start = operator.index(epoch), operator.index(start)
    assert sampler.epoch == epoch
    if epoch == EPOCH_LIMIT:  # the state after the last epoch loads, but cannot be iterated
        with pytest.raises(ValueError, match="cannot be iterated"):
            iter(sampler)
        return
    order = global_order(config, epoch)
    expected = rank_values(order, start, rank, world, drop_last)

    # A state round trip of a fresh sampler, pickle and deepcopy keep the resume point.
    twin = make(config)
    twin.load_state_dict(sampler.state_dict())
    copies = [twin, pickle.loads(pickle.dumps(sampler)), copy.deepcopy(sampler)]

    # Part of the epoch, then the state, then the rest in a new sampler.
    taken = data.draw(st.integers(0, len(expected)), label="taken")
    head = list(itertools.islice(iter(sampler), taken))
    assert head == expected[:taken]
    saved = sampler.state_dict()
    if taken == len(expected):
        assert (saved["epoch"], saved["start_index"]) == (epoch + 1, 0)
    else:
        assert (saved["epoch"], saved["start_index"]) == (epoch, start + taken * world)
        resumed = make(config)
        resumed.load_state_dict(saved)
        assert list(resumed) == expected[taken:]
    for other in copies:
        values = list(other)
        assert values == expected
        assert all(type(value) is int for value in values)
    # The state after a whole epoch loads again (up to epoch 2**63, which cannot be iterated).
    finished = copies[0].state_dict()
    assert (finished["epoch"], finished["start_index"]) == (epoch + 1, 0)
    make(config).load_state_dict(finished)
    if start == 0:
        assert make(config).epoch_indices(epoch).tolist() == expected


@settings(FUZZ, max_examples=500)
@given(data=st.data())
def test_resuming_under_another_world_size_takes_every_frame_once(data):
    config = config_of(data)
    n = make(config).num_frames
    epoch = data.draw(st.integers(0, 2**63 - 2), label="epoch")
    before = data.draw(st.integers(1, 5), label="world before")
    after = data.draw(st.integers(1, 5), label="world after")
    drop_last = config["drop_last"]
    order = global_order(config, epoch)
    position = {frame: p for p, frame in enumerate(order)}

    # `before` ranks in lockstep for some steps; rank 0's state resumes `after` ranks.
    steps = data.draw(st.integers(0, count(n, before, drop_last)), label="steps")
    consumed = []
    state = None
    for rank in range(before):
        sampler = make(config, num_replicas=before, rank=rank)
        sampler.set_epoch(epoch)
        consumed += itertools.islice(iter(sampler), steps)
        if rank == 0:
            state = sampler.state_dict()
    if state["epoch"] != epoch:  # the whole epoch was taken
        return
    start = state["start_index"]
    assert start == steps * before
    for rank in range(after):
        sampler = make(config, num_replicas=after, rank=rank)
        sampler.load_state_dict(state)
        values = list(sampler)
        assert values == rank_values(order, start, rank, after, drop_last)
        consumed += values
    taken = sorted(position[frame] for frame in consumed)
    # Every position once (the wrapped padding aside); with drop_last, a tail under one round
    # of `after` ranks is dropped.
    distinct = sorted(set(taken))
    end = start + count(n - start, after, True) * after if drop_last else n
    assert distinct == list(range(end))
    assert len(taken) - len(distinct) == (0 if drop_last else -(n - start) % after)


@settings(FUZZ, max_examples=800)
@given(data=st.data())
def test_batches_are_the_items_cut_in_order(data):
    config = config_of(data)
    sampler = make(config)
    n, world, rank = sampler.num_frames, config["num_replicas"], config["rank"]
    batch_size = data.draw(
        st.one_of(
            st.integers(1, 12),
            st.integers(1, 12),
            st.integers(-2, 0),
            st.integers(n, n + 3),
            st.integers(COUNT_LIMIT - 2, COUNT_LIMIT + 1),
            st.just(2**62),
            NOT_INTS,
        ),
        label="batch_size",
    )
    drop_last = data.draw(st.one_of(st.booleans(), st.booleans(), NOT_INTS), label="drop_last")
    ok, batches = attempt(EpisodeAwareBatchSampler, sampler, batch_size, drop_last)
    assert ok == (int_ok(batch_size, 1, COUNT_LIMIT) and bool_ok(drop_last)), batches
    if not ok:
        return
    batch_size = operator.index(batch_size)
    epoch = data.draw(st.integers(0, 5), label="epoch")
    start = data.draw(st.integers(0, n), label="start_index")
    sampler.load_state_dict({"epoch": epoch, "start_index": start})
    items = rank_values(global_order(config, epoch), start, rank, world, config["drop_last"])
    expected = [items[i : i + batch_size] for i in range(0, len(items), batch_size)]
    if drop_last and expected and len(expected[-1]) < batch_size:
        expected.pop()
    if start == 0:
        assert len(batches) == len(expected)
    taken = data.draw(st.integers(0, len(expected)), label="batches taken")
    iterator = iter(batches)
    head = list(itertools.islice(iterator, taken))
    assert head == expected[:taken]
    assert all(type(value) is int for batch in head for value in batch)
    saved = batches.state_dict()
    if taken == len(expected) and (taken or not items):
        assert (saved["epoch"], saved["start_index"]) == (epoch + 1, 0)
        return
    if taken == len(expected):
        # Only a short batch, dropped: the epoch ends when the iterator is asked for more.
        assert (saved["epoch"], saved["start_index"]) == (epoch, start)
        assert next(iterator, None) is None
        saved = batches.state_dict()
        assert (saved["epoch"], saved["start_index"]) == (epoch + 1, 0)
        return
    assert (saved["epoch"], saved["start_index"]) == (epoch, start + taken * batch_size * world)
    resumed = EpisodeAwareBatchSampler(make(config), batch_size, drop_last)
    resumed.load_state_dict(saved)
    assert list(resumed) == expected[taken:]


@settings(FUZZ, max_examples=500)
@given(data=st.data())
def test_any_row_map_yields_its_rows_or_is_refused(data):
    config = config_of(data)
    ranges, _ = reference(
        config["from"], config["to"], config["subset"], config["first"], config["last"]
    )
    kept = [frame for frames in ranges for frame in frames]
    # Rows: a shift per frame or a stride, with a few arbitrary ints (any size) written over.
    base, stride = data.draw(st.integers(-5, 10**6)), data.draw(st.integers(-3, 3))
    rows = {frame: base + stride * i for i, frame in enumerate(kept)}
    for frame in data.draw(st.lists(st.sampled_from(kept), max_size=3), label="overwritten"):
        rows[frame] = data.draw(wild_ints())
    kind = data.draw(st.sampled_from(["dict", "dict-missing", "table", "short table", "wrong"]))
    valid = all(INT64_MIN <= row <= INT64_MAX for row in rows.values())
    if kind.startswith("dict"):
        mapping: Any = dict(rows)
        if kind == "dict-missing":
            del mapping[data.draw(st.sampled_from(kept))]
            valid = False
    elif kind.endswith("table"):
        size = max(kept) + 1 - (kind == "short table")
        filler = data.draw(st.integers(-5, 5))
        table = [rows.get(frame, filler) for frame in range(size)]
        mapping = contain(table, data.draw(st.sampled_from(CONTAINERS)))
        valid = valid and kind == "table"
    else:
        mapping = data.draw(WRONG_NON_MAPPINGS)  # a dict may well map every kept frame
        valid = False
    arguments = (config["from"], config["to"], config["subset"], config["first"], config["last"])
    ok, sampler = attempt(
        quiet,
        *arguments,
        config["shuffle"],
        config["seed"],
        mapping,
        permutation=config["permutation"],
        num_replicas=config["num_replicas"],
        rank=config["rank"],
        drop_last=config["drop_last"],
    )
    assert ok == valid, sampler
    if ok:
        frames = rank_values(
            global_order(config, 0), 0, config["rank"], config["num_replicas"], config["drop_last"]
        )
        assert list(sampler) == [rows[frame] for frame in frames]


@settings(FUZZ, max_examples=500)
@given(data=st.data())
def test_any_epoch_argument_works_or_is_refused(data):
    config = config_of(data)
    sampler = make(config)
    epoch = data.draw(st.one_of(st.integers(0, 5), st.integers(EPOCH_LIMIT - 2, EPOCH_LIMIT + 1)))
    epoch = data.draw(st.one_of(st.just(epoch), st.just(np.int64(1)), wild_ints(), NOT_INTS))
    ok, error = attempt(sampler.set_epoch, epoch)
    assert ok == int_ok(epoch, 0, LOADABLE_EPOCHS), error
    valid = int_ok(epoch, 0, EPOCH_LIMIT)
    ok, indices = attempt(sampler.epoch_indices, epoch)
    # None asks for the current epoch.
    assert ok == (valid or (epoch is None and sampler.epoch < EPOCH_LIMIT)), indices
    if not ok:
        if sampler.epoch == EPOCH_LIMIT:  # set, but past the last epoch that can be iterated
            with pytest.raises(ValueError, match="cannot be iterated"):
                iter(sampler)
        return
    epoch = 0 if epoch is None else operator.index(epoch)
    assert sampler.epoch == epoch
    expected = rank_values(
        global_order(config, epoch), 0, config["rank"], config["num_replicas"], config["drop_last"]
    )
    assert indices.tolist() == expected
    assert list(sampler) == expected


# --- regressions: defects this file found ---------------------------------------------------------


def no_panic(function, *args):
    """`function(*args)`, with a Rust panic turned into a test failure (never a pass)."""
    try:
        return function(*args)
    except BaseException as error:
        if type(error).__name__ == "PanicException":
            raise AssertionError(f"Rust panic: {error!r}") from error
        raise


def test_epoch_indices_of_a_huge_epoch_is_refused_without_a_panic():
    sampler = EpisodeAwareSampler([0], [2**62])
    with pytest.raises((ValueError, MemoryError)):
        no_panic(sampler.epoch_indices)


def test_a_huge_batch_is_refused_without_a_panic():
    batches = EpisodeAwareBatchSampler(EpisodeAwareSampler([0], [2**62]), 2**62)
    with pytest.raises((ValueError, MemoryError)):
        no_panic(next, iter(batches))


def test_state_after_the_last_loadable_epoch_loads():
    sampler = EpisodeAwareSampler([0], [3])
    sampler.load_state_dict({"epoch": 2**63 - 1, "start_index": 0})
    assert list(sampler) == [0, 1, 2]
    state = sampler.state_dict()  # epoch 2**63
    resumed = EpisodeAwareSampler([0], [3])
    resumed.load_state_dict(state)
    resumed.set_epoch(resumed.epoch)
    with pytest.raises(ValueError, match="epoch 9223372036854775808 cannot be iterated"):
        iter(resumed)


@pytest.mark.parametrize(
    ("seed", "entry"),
    [
        (0, torch.tensor([0, 1])),  # RuntimeError: ambiguous truth value of a tensor
        (2**63, np.True_),  # OverflowError: numpy compares its bool with a C long
    ],
)
def test_a_state_entry_that_cannot_be_compared_is_refused(seed, entry):
    sampler = EpisodeAwareSampler([0], [3], seed=seed)
    with pytest.raises((ValueError, TypeError)):
        sampler.load_state_dict({"epoch": 0, "start_index": 0, "seed": entry})


def test_bools_among_ints_are_refused():
    with pytest.raises(TypeError):
        quiet([True, 5], [2, 8])


def test_a_numpy_object_array_of_ints_is_a_sequence_of_ints():
    assert list(quiet(np.array([0, 10], dtype=object), [5, 12])) == [0, 1, 2, 3, 4, 10, 11]
