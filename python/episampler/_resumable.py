"""The state protocol every episampler sampler shares: the resume point `(epoch, start_index)`,
iteration through a Rust core's chunks, sharding arguments, `state_dict` / `load_state_dict`
with identity checks, `set_epoch`, and pickling. Subclasses only say how to build their core
(`_setup`), how long an epoch is (`_epoch_length`) and what identifies them (`_identity`)."""

from __future__ import annotations

import hashlib
import itertools
import operator
import os
from collections.abc import Iterator, Mapping
from typing import Any, TypedDict, cast

import numpy as np
from torch.utils.data import Sampler

from episampler._core import DrawCore, EpochChunks, SamplerCore
from episampler._inputs import as_int, is_bool

# Epochs below 2**63 can be iterated; 2**63 itself can be loaded and set (it is the state after
# the last such epoch) but not iterated, so every state the sampler produces loads again.
EPOCH_LIMIT = 2**63
COUNT_LIMIT = 2**63  # drops, replica counts, sample counts: anything larger cannot mean anything
THREADS_VARIABLE = "EPISAMPLER_NUM_THREADS"


class _ResumePoint(TypedDict):
    epoch: int
    start_index: int


class SamplerState(_ResumePoint, total=False):
    """What `state_dict()` returns: a plain dict at run time (JSON-serialisable).

    `epoch` and `start_index` are always there (the resume point; `load_state_dict` needs only
    them, as LeRobot's and `compute_sampler_state`'s states have). The others identify the
    sampler, so that a state of another one is refused: `sampler` (the kind:
    `"EpisodeAwareSampler"`, `"MixtureSampler"` or `"WeightedEpisodeSampler"`), `seed`,
    `fingerprint` and `algorithm_version` always; `num_frames` and `permutation` for an
    `EpisodeAwareSampler`; `num_samples` (positions per epoch) for a `MixtureSampler` or
    `WeightedEpisodeSampler`. `settings` lists what the fingerprint covers (window, streams,
    groups, boundaries, weights, block size...), so that a refused state names what differs. A
    state without `sampler` (saved by an earlier release) still loads.

    `compute_sampler_state` returns the resume point with the geometry it assumed:
    `num_frames` (positions per epoch), `batch_size`, `drop_last` and `num_processes`; such a
    state loads into any kind of sampler whose epoch has `num_frames` positions.
    """

    sampler: str
    seed: int
    num_frames: int
    num_samples: int
    permutation: str
    fingerprint: str
    algorithm_version: int
    settings: dict[str, Any]
    batch_size: int
    drop_last: bool
    num_processes: int


def check_iterable_epoch(epoch: int) -> None:
    if epoch >= EPOCH_LIMIT:
        raise ValueError(f"epoch {epoch} cannot be iterated: epochs must be < 2**63")


def _a(name: str) -> str:
    if not name:
        return "an unnamed sampler"
    return f"an {name}" if name[0] in "AEIOU" else f"a {name}"


def digest(*arrays: Any) -> str | None:
    """A short SHA-256 of integer arrays (None: absent), for a state's `settings`: equal arrays
    give equal digests on every machine (little-endian int64)."""
    if all(a is None for a in arrays):
        return None
    hasher = hashlib.sha256()
    for array in arrays:
        hasher.update(b"-" if array is None else np.asarray(array, dtype="<i8").tobytes() + b"|")
    return hasher.hexdigest()[:16]


def _same_entry(theirs: Any, mine: int | str) -> bool:
    """Whether a state entry equals ours, without trusting `theirs.__eq__` (a tensor or an
    array would answer with an array, or raise)."""
    if isinstance(mine, str):
        return isinstance(theirs, str) and theirs == mine
    if is_bool(theirs):
        return False
    try:
        # Integers as the resume point takes them: ints, numpy integers, one-element integer
        # tensors and arrays (`operator.index`), so `seed=torch.tensor(7)` loads as `epoch` does.
        return operator.index(theirs) == mine
    except TypeError:
        return False


class ResumableSampler(Sampler[int]):
    """Base of the episampler samplers: a seeded order over epochs of `_epoch_length` positions,
    sharded over `num_replicas` ranks by the stride rule, resumable at any position.

    Threads: `state_dict()`, `iter()`, `set_epoch()`, `load_state_dict()` and `epoch_indices()`
    may be called from any thread while others iterate. None of them fails because of
    concurrency, and each sees one consistent position: a state read during iteration is a
    point the iterator really passed through. Calls from different threads take effect in the
    order they happen (a `set_epoch` racing an `iter()` may land before or after it). Two
    threads that each call `iter()` get two iterators, each a consistent stream from the resume
    point at its creation; the state then describes the most recently created one. Threads that
    share one iterator each get distinct values, and the state counts them all.

    Fork: a child process can use an inherited sampler at any moment (no lock is ever held
    across an epoch build or waited for); only an iterator that another parent thread was
    advancing at the instant of the fork refuses to continue in the child (create a new one).
    """

    _core: SamplerCore | DrawCore  # subclasses narrow it to the kind they build
    _config: dict[str, Any]

    # --- what a subclass provides ----------------------------------------------------------

    def _setup(self, config: dict[str, Any], epoch: int = 0, start_index: int = 0) -> None:
        """Build `self._core` from `config`, then call `_reset(config, epoch, start_index)`."""
        raise NotImplementedError

    @property
    def _epoch_length(self) -> int:
        """Positions of one epoch over all ranks."""
        raise NotImplementedError

    def _identity(self) -> dict[str, int | str]:
        """State entries that must match for a state to load (besides the resume point)."""
        raise NotImplementedError

    def _settings(self) -> dict[str, Any]:
        """What the fingerprint covers, as plain JSON values (large arrays as digests), so that
        a refused state can name the settings that differ."""
        raise NotImplementedError

    def _cached_settings(self) -> dict[str, Any]:
        """`_settings()`, computed once per sampler: `state_dict()` stays O(1)."""
        cached: dict[str, Any] | None = getattr(self, "_settings_cache", None)
        if cached is None:
            cached = self._settings()
            self._settings_cache = cached
        return cached

    def _kind(self) -> str:
        """The public episampler class this sampler is (a user's subclass counts as its base),
        recorded in the state so that a state of another kind is refused by name."""
        return next(
            k.__name__
            for k in type(self).__mro__
            if k.__module__.startswith("episampler") and not k.__name__.startswith("_")
        )

    def _check_kind(self, state_dict: Mapping[str, Any]) -> None:
        """Refuse a state of another kind of sampler, naming it. States saved before the kind
        was recorded are recognised by their entries (`num_frames` / `permutation` for an
        `EpisodeAwareSampler`, `num_samples` for a mixture or weighted sampler)."""
        mine = self._kind()
        theirs = state_dict.get("sampler")
        if "sampler" not in state_dict:
            if "batch_size" in state_dict and "permutation" not in state_dict:
                return  # compute_sampler_state's: a resume point and its geometry, any kind
            if "num_frames" in state_dict or "permutation" in state_dict:
                theirs = "EpisodeAwareSampler"
            elif "num_samples" in state_dict:
                theirs = "MixtureSampler or a WeightedEpisodeSampler"
            else:
                return  # only a resume point (LeRobot's, compute_sampler_state's): any kind
            if mine in theirs.split(" or a "):
                return
        elif not isinstance(theirs, str):
            raise TypeError(
                f"state_dict['sampler'] must be a str, got {type(theirs).__name__} {theirs!r}"
            )
        if theirs != mine:
            raise ValueError(
                f"this state is from {_a(theirs)}, not {_a(mine)}: load it into the kind of "
                f"sampler that saved it"
            )

    def _reset(self, config: dict[str, Any], epoch: int, start_index: int) -> None:
        self._config = config
        # The resume point and the latest iterator (whose progress the state describes), as one
        # tuple replaced whole: a thread reading it while another iterates, sets the epoch or
        # loads a state always sees one consistent position, with no lock to hold (or to
        # inherit locked across a fork).
        self._position: tuple[int, int, EpochChunks | None] = (epoch, start_index, None)

    # --- sharding --------------------------------------------------------------------------

    @property
    def num_replicas(self) -> int:
        """Ranks every epoch is sharded over."""
        return cast(int, self._config["num_replicas"])

    @property
    def rank(self) -> int:
        """This process's rank, in `[0, num_replicas)`."""
        return cast(int, self._config["rank"])

    @property
    def drop_last(self) -> bool:
        """Whether ranks stop evenly (True) or pad to equal counts by wrapping (False)."""
        return cast(bool, self._config["drop_last"])

    @property
    def epoch(self) -> int:
        """Epoch the next iterator yields."""
        return self._resume_point()[0]

    def __len__(self) -> int:
        """Values one full epoch yields on this rank (also while resuming mid-epoch)."""
        length = self._epoch_length
        multiple: int | None = self._config.get("pad_to_multiple")
        if multiple is not None:
            return -(-length // multiple) * multiple
        if self.drop_last:
            return length // self.num_replicas
        return -(-length // self.num_replicas)

    def _threads(self) -> int:
        """Threads that build an epoch's order: `num_threads` if given, else the cores this
        process may use; capped by the `EPISAMPLER_NUM_THREADS` environment variable."""
        requested = self._config.get("num_threads")
        if requested is None:
            try:
                requested = len(os.sched_getaffinity(0))
            except AttributeError:  # not on Linux
                requested = os.cpu_count() or 1
        cap = os.environ.get(THREADS_VARIABLE)
        if cap:
            try:
                requested = min(requested, max(1, int(cap)))
            except ValueError:
                raise ValueError(
                    f"{THREADS_VARIABLE} must be a positive int, got {cap!r}"
                ) from None
        return max(1, requested)

    def _shard_args(self) -> tuple[int, int, bool, int | None]:
        config = self._config
        return (
            config["rank"],
            config["num_replicas"],
            config["drop_last"],
            config.get("pad_to_multiple"),
        )

    def _pad_epochs_to_multiple(self, multiple: int | None) -> None:
        """Yield every epoch padded with its own first positions up to a multiple of `multiple`
        (None: no padding), as accelerate's `even_batches` pads it. Used by
        `episampler.integrations.accelerate`; the global order and the state are unchanged."""
        if multiple is not None:
            multiple = as_int("multiple", multiple, low=1, high=COUNT_LIMIT)
            if self.num_replicas != 1:
                raise ValueError(
                    "epoch padding is for a single stream sharded by accelerate; "
                    f"this sampler has num_replicas={self.num_replicas}"
                )
        self._config["pad_to_multiple"] = multiple

    # --- iteration -------------------------------------------------------------------------

    def _resume_point(self) -> tuple[int, int]:
        """Where a new iterator starts: the latest one's end once it has run out, else the
        point it started from (creating an iterator has no side effect)."""
        epoch, start_index, latest = self._position
        if latest is not None and latest.exhausted:
            return latest.resume_point
        return epoch, start_index

    def _start_iteration(
        self, batch_size: int | None = None, drop_last_batch: bool = False
    ) -> EpochChunks:
        """Values of the current epoch from the resume point, as chunks built in Rust; they
        become the latest iterator, whose progress the state describes (an older iterator read
        after it is warned about: two loaders reading one sampler at once)."""
        epoch, start_index = self._resume_point()
        check_iterable_epoch(epoch)
        # Dropping the previous iterator lets the core reuse its epoch's table for this one.
        self._position = (epoch, start_index, None)
        latest = self._core.iter_epoch(
            epoch,
            start_index,
            *self._shard_args(),
            batch_size,
            drop_last_batch,
            threads=self._threads(),
        )
        self._position = (epoch, start_index, latest)
        return latest

    def __iter__(self) -> Iterator[int]:
        """This rank's values of the current epoch from the resume point, as Python ints.
        Creating an iterator changes nothing; once it yields the epoch's last value the resume
        point becomes `(epoch + 1, 0)`."""
        # Each value is one step of a list iterator inside `chain`: no Python or Rust call per
        # value. The chunks know how much of their latest list was read, for `state_dict`.
        return itertools.chain.from_iterable(self._start_iteration())

    def epoch_indices(self, epoch: int | None = None) -> np.ndarray:
        """This rank's whole order of an epoch from position 0: the values iteration yields.

        Args:
            epoch: the epoch (default: the one the next iterator yields), in `[0, 2**63)`.

        Returns:
            A new `int64` numpy array of `len(self)` values. The resume point is unchanged.

        Raises:
            TypeError, ValueError: a bad `epoch`.
            MemoryError: the values (or a `"uniform"` table) do not fit in memory.
        """
        epoch = self.epoch if epoch is None else as_int("epoch", epoch, high=EPOCH_LIMIT)
        check_iterable_epoch(epoch)
        return self._core.epoch_indices(epoch, 0, *self._shard_args(), threads=self._threads())

    def set_epoch(self, epoch: int) -> None:
        """Start `epoch` from its beginning; a no-op if it is already the current epoch (the
        position inside it is then kept, so a resumed run's `set_epoch` does not undo a
        `load_state_dict`).

        Args:
            epoch: in `[0, 2**63]` (`2**63` can be set and saved but not iterated).

        Raises:
            TypeError, ValueError: a bad `epoch`.
        """
        epoch = as_int("epoch", epoch, high=EPOCH_LIMIT + 1)
        if epoch != self.epoch:
            self._position = (epoch, 0, None)

    # --- state -----------------------------------------------------------------------------

    def _live_resume_point(self) -> tuple[int, int]:
        """Where a new iterator must start to continue right after the latest one's values."""
        epoch, start_index, latest = self._position
        return latest.resume_point if latest is not None else (epoch, start_index)

    def state_dict(self) -> SamplerState:
        """The resume point, as the latest iterator left it, plus what identifies this sampler.

        O(1); a fresh dict of plain ints and strs. If an iterator was created since the last
        `load_state_dict` / `set_epoch`, the state describes that iterator's progress: loading
        it into a sampler built with the same arguments continues right after the last value
        it yielded (after `k` values from resume point `s`, `start_index` is
        `s + k * num_replicas`; after the epoch's last value, `(epoch + 1, 0)`). Rank and world
        size are not part of it: it loads on every rank and under another world size.

        Returns:
            A `SamplerState` (a plain dict at run time).
        """
        epoch, start_index = self._live_resume_point()
        state: dict[str, Any] = {
            "epoch": epoch,
            "start_index": start_index,
            "sampler": self._kind(),
            **self._identity(),
            "settings": dict(self._cached_settings()),
        }
        return cast(SamplerState, state)  # the resume point and this sampler's identity

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Set the resume point: the next iterator starts at `state_dict`'s position.

        Args:
            state_dict: ours (`state_dict()`), LeRobot's or `compute_sampler_state`'s: any
                mapping with `"epoch"` and `"start_index"`; identity entries it holds (seed,
                sizes, fingerprint, algorithm version) must match this sampler's.

        Raises:
            TypeError: `state_dict` is not a mapping, or an entry is not an int.
            ValueError: an entry is missing, the state belongs to a different sampler (what
                differs is named), a negative epoch, or `start_index` outside
                `[0, positions per epoch]`.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict must be a dict, got {type(state_dict).__name__}")
        for key in ("epoch", "start_index"):
            if key not in state_dict:
                raise ValueError(f"state_dict has no {key!r} entry: {dict(state_dict)!r}")
        self._check_kind(state_dict)
        if "sampler" in state_dict and "fingerprint" not in state_dict:
            raise ValueError(
                "state_dict has a 'sampler' entry but no 'fingerprint': every state this "
                "sampler saves carries both, so this one was altered (restore its fingerprint "
                "or pass only 'epoch' and 'start_index')"
            )
        mine = self._identity()
        differs = [
            f"{key} is {state_dict[key]!r} in the state but {mine[key]!r} here"
            for key in mine
            if key in state_dict
            and key != "fingerprint"
            and not _same_entry(state_dict[key], mine[key])
        ]
        settings = state_dict.get("settings")
        if "settings" in state_dict and not isinstance(settings, Mapping):
            differs.append(f"settings is {settings!r} in the state, not a dict of settings")
        elif "fingerprint" in state_dict and not _same_entry(
            state_dict["fingerprint"], mine["fingerprint"]
        ):
            # The fingerprint decides; the settings only say what differs.
            named = self._settings_that_differ(state_dict)
            differs.append(
                f"fingerprint is {state_dict['fingerprint']!r} in the state but "
                f"{mine['fingerprint']!r} here"
                + (f" (what differs: {'; '.join(named)})" if named else "")
            )
        if differs:
            raise ValueError("state_dict belongs to a different sampler: " + "; ".join(differs))
        self._check_geometry(state_dict)
        epoch = as_int("state_dict['epoch']", state_dict["epoch"], high=EPOCH_LIMIT + 1)
        start_index = as_int(
            "state_dict['start_index']", state_dict["start_index"], high=self._epoch_length + 1
        )
        self._position = (epoch, start_index, None)

    def _settings_that_differ(self, state_dict: Mapping[str, Any]) -> list[str]:
        """The settings a state differs in, by name (empty when the state does not list its
        settings: it was saved by an earlier release, or by `compute_sampler_state`)."""
        theirs = state_dict.get("settings")
        if not isinstance(theirs, Mapping):
            return []
        mine = self._cached_settings()
        return [
            f"{key} is {theirs.get(key)!r} in the state but {mine.get(key)!r} here"
            for key in sorted(set(mine) | set(theirs))
            if theirs.get(key) != mine.get(key)
        ]

    def _check_geometry(self, state_dict: Mapping[str, Any]) -> None:
        """A state from `compute_sampler_state` records the epoch length it assumed: refuse it
        for a sampler whose epoch has another length (its resume point would be wrong)."""
        if "batch_size" not in state_dict or "num_frames" not in state_dict:
            return
        assumed = as_int("state_dict['num_frames']", state_dict["num_frames"], low=1)
        # LeRobot passes `len(sampler)`: the same for a single stream, also when padded.
        if assumed not in (self._epoch_length, len(self)):
            raise ValueError(
                f"state_dict was computed for num_frames={assumed} positions per epoch, but this "
                f"sampler's epoch has {self._epoch_length} (pass the sampler's own length: "
                "`num_frames`, a mixture's `samples_per_epoch`, a weighted sampler's "
                "`num_samples`; or use resume_from_step(loader, step))"
            )

    def _position_repr(self) -> str:
        """The sharding and the resume point, for `__repr__`."""
        epoch, start_index = self._resume_point()
        return (
            f"num_replicas={self.num_replicas}, rank={self.rank}, drop_last={self.drop_last}, "
            f"epoch={epoch}, start_index={start_index}"
        )

    def __getstate__(self) -> dict[str, Any]:
        # The position `state_dict()` reports: a copy taken mid-iteration resumes right after
        # the values already yielded (`torch.save(sampler)` must not repeat samples).
        epoch, start_index = self._live_resume_point()
        return {"config": self._config, "epoch": epoch, "start_index": start_index}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._setup(state["config"], state["epoch"], state["start_index"])
