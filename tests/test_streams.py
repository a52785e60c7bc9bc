"""Worker-aware streams of the windowed order: the permuted units dealt to the lightest stream,
each stream cut into windows and shuffled inside them, the epoch read `stream_block` positions
per stream in turn. One stream is the plain windowed order; everything else (resume, sharding,
state, pickling, the DataLoader's workers) works as for it."""

from __future__ import annotations

import copy
import hashlib
import itertools
import pickle

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset, get_worker_info

from episampler import ALGORITHM_VERSION, EpisodeAwareBatchSampler, stream_settings
from episampler.inspect import io_report

from .support import lerobot_frames, make

# 12 episodes of 4..15 frames with gaps; groups of 2 episodes (a "video file" each).
LENGTHS = [7, 4, 12, 9, 15, 5, 8, 11, 6, 10, 13, 4]
FROM = [sum(LENGTHS[:e]) + 2 * e for e in range(len(LENGTHS))]
TO = [start + length for start, length in zip(FROM, LENGTHS, strict=True)]
GROUPS = [e // 2 for e in range(len(LENGTHS))]
N = sum(LENGTHS)

# Frozen stream orders (added with streams; algorithm version 2, no other order changed):
# (seed, epoch, window, streams, stream_block, grouped, permutation) -> the first 40 values.
GOLDEN_SETUPS = [
    (0, 0, 10, 2, 4, False, "uniform"),
    (7, 3, 20, 3, 5, True, "uniform"),
    (0, 0, 10, 2, 4, False, "feistel"),
    (2**64 - 1, 1, 16, 4, 3, True, "feistel"),
]
GOLDEN_HEADS = {
    "(0, 0, 10, 2, 4, False, 'uniform')":
        [83, 82, 80, 75, 97, 98, 96, 102, 79, 84, 77, 74, 100, 103, 104, 95, 81, 76, 78, 48,
        99, 101, 17, 16, 54, 47, 45, 43, 21, 15, 66, 65, 49, 50, 51, 46, 67, 68, 70, 19],
    "(7, 3, 20, 3, 5, True, 'uniform')":
        [46, 42, 41, 50, 51, 34, 32, 20, 23, 37, 82, 104, 96, 98, 101, 57, 47, 43, 59, 44, 36,
        16, 33, 19, 18, 87, 77, 71, 66, 99, 48, 49, 60, 40, 54, 29, 25, 22, 35, 31],
    "(0, 0, 10, 2, 4, False, 'feistel')":
        [84, 76, 75, 79, 95, 98, 100, 99, 82, 74, 81, 83, 103, 97, 102, 104, 78, 77, 80, 44,
        96, 101, 21, 64, 48, 45, 52, 47, 70, 67, 71, 24, 40, 43, 41, 50, 17, 16, 68, 26],
    "(18446744073709551615, 1, 16, 4, 3, True, 'feistel')":
        [74, 68, 75, 117, 119, 113, 42, 58, 44, 34, 21, 35, 77, 80, 66, 112, 118, 109, 45, 48,
        57, 30, 25, 23, 83, 71, 84, 124, 125, 108, 46, 61, 52, 26, 15, 33, 65, 69, 76, 107],
}  # fmt: skip
LARGE_DIGESTS = {
    "uniform": "5690b7f90f3f2e618a044a41ed253ab94fba179257c2cbe9902e61bf382766df",
    "feistel": "da002ba50a2e4fda52d08d62ee4f761fba49804a196e69af65c69c81f3572421",
}


def streamed(permutation="uniform", window=10, streams=2, stream_block=4, groups=None, **kw):
    return make(FROM, TO, shuffle=True, permutation=permutation, window=window, streams=streams,
                stream_block=stream_block, episode_groups=groups, **kw)  # fmt: skip


def episode_of(frame: int) -> int:
    return next(e for e, (a, b) in enumerate(zip(FROM, TO, strict=True)) if a <= frame < b)


def large_sampler(permutation: str):
    ends = np.cumsum(np.arange(1000) % 37 + 3)
    return make(np.concatenate([[0], ends[:-1]]), ends, shuffle=True, seed=42,
                permutation=permutation, window=2048, episode_groups=np.arange(1000) // 25,
                streams=4, stream_block=64)  # fmt: skip


@pytest.mark.parametrize("setup", GOLDEN_SETUPS, ids=str)
def test_golden_vectors(setup):
    seed, epoch, window, streams, block, grouped, permutation = setup
    assert ALGORITHM_VERSION == 2
    sampler = streamed(permutation, window, streams, block, GROUPS if grouped else None, seed=seed)
    assert sampler.epoch_indices(epoch)[:40].tolist() == GOLDEN_HEADS[str(setup)]


@pytest.mark.parametrize("permutation", ["uniform", "feistel"])
def test_golden_digest_of_a_larger_grouped_epoch(permutation):
    order = large_sampler(permutation).epoch_indices(2)
    assert hashlib.sha256(order.astype("<i8").tobytes()).hexdigest() == LARGE_DIGESTS[permutation]


def reference_streams(permutation, seed, epoch, streams, grouped):
    """The unit (group or episode) at every offset of every stream, from the spec: the unit
    permutation read off the one-stream order with window 1 (every unit its own window), each
    unit dealt to the stream with the fewest frames so far (ties to the lowest index)."""
    unit = (lambda e: GROUPS[e]) if grouped else (lambda e: e)
    groups = GROUPS if grouped else None
    plain = streamed(permutation, 1, 1, None, groups, seed=seed).epoch_indices(epoch)
    units = (unit(episode_of(f)) for f in plain)
    permuted = [(u, len(list(run))) for u, run in itertools.groupby(units)]
    stream_units: list[list[int]] = [[] for _ in range(streams)]
    for u, frames in permuted:
        s = min(range(streams), key=lambda s: (len(stream_units[s]), s))
        stream_units[s].extend([u] * frames)
    return stream_units


def reference_units(permutation, seed, epoch, streams, block, grouped):
    """The unit of every position: the streams of `reference_streams` read `block` positions
    in turn."""
    stream_units = reference_streams(permutation, seed, epoch, streams, grouped)
    lengths = [len(units) for units in stream_units]
    out, offset = [], 0
    while any(offset < length for length in lengths):
        for s in range(streams):
            out.extend(stream_units[s][offset : offset + block])
        offset += block
    return out


@pytest.mark.parametrize("permutation", ["uniform", "feistel"])
@pytest.mark.parametrize(
    ("streams", "block", "grouped"), [(2, 4, False), (3, 5, True), (5, 1, False)]
)
def test_order_follows_the_spec(permutation, streams, block, grouped):
    groups = GROUPS if grouped else None
    unit = (lambda e: GROUPS[e]) if grouped else (lambda e: e)
    for seed, epoch in [(0, 0), (3, 1), (2**63, 7)]:
        # Window 1: every unit a window, so a stream's units come in dealt order, one at a time.
        sampler = streamed(permutation, 1, streams, block, groups, seed=seed)
        order = sampler.epoch_indices(epoch).tolist()
        assert sorted(order) == lerobot_frames(FROM, TO)
        actual = [unit(episode_of(frame)) for frame in order]
        assert actual == reference_units(permutation, seed, epoch, streams, block, grouped)


def test_consecutive_blocks_come_from_different_streams_and_windows():
    sampler = streamed("feistel", window=20, streams=3, stream_block=6, seed=4)
    order = sampler.epoch_indices(0).tolist()
    blocks = [order[i : i + 6] for i in range(0, 36, 6)]
    episodes = [{episode_of(f) for f in block} for block in blocks]
    # Blocks 0, 1, 2 read three streams: no episode is shared between them.
    assert not (episodes[0] & episodes[1]) and not (episodes[1] & episodes[2])
    assert not (episodes[0] & episodes[2])


def test_one_stream_is_the_plain_windowed_order_bit_for_bit(permutation):
    plain = make(FROM, TO, shuffle=True, permutation=permutation, window=10, seed=5)
    for block in [None, 1, 64]:
        one = streamed(permutation, 10, 1, block, seed=5)
        assert one.state_dict() == plain.state_dict()
        assert one.epoch_indices(3).tolist() == plain.epoch_indices(3).tolist()
        assert one.stream_block is None and one.streams == 1


def test_fingerprint_covers_streams_and_stream_block():
    state = streamed(streams=2, stream_block=4).state_dict()
    for other in [streamed(streams=3, stream_block=4), streamed(streams=2, stream_block=5),
                  streamed(streams=1, stream_block=4)]:  # fmt: skip
        with pytest.raises(ValueError, match="fingerprint"):
            other.load_state_dict(state)
    streamed(streams=2, stream_block=4).load_state_dict(state)


@pytest.mark.parametrize("world", [1, 2, 3])
def test_resume_at_every_position_follows_the_stride_rule(permutation, world):
    global_order = streamed(permutation, streams=3, stream_block=5).epoch_indices(1).tolist()
    state = streamed(permutation, streams=3, stream_block=5).state_dict()
    for start in range(N + 1):
        for rank in range(world):
            resumed = streamed(permutation, streams=3, stream_block=5, num_replicas=world,
                               rank=rank)  # fmt: skip
            resumed.load_state_dict({**state, "epoch": 1, "start_index": start})
            end = start + world * -(-(N - start) // world)
            expected = [global_order[p % N] for p in range(start + rank, end, world)]
            assert list(resumed) == expected, (start, rank)


def test_state_after_k_values_resumes_right_after_them(permutation):
    sampler = streamed(permutation, seed=9)
    order = sampler.epoch_indices(0).tolist()
    for k in [0, 1, 17, N - 1]:
        fresh = streamed(permutation, seed=9)
        taken = list(itertools.islice(iter(fresh), k))
        resumed = streamed(permutation, seed=9)
        resumed.load_state_dict(fresh.state_dict())
        assert taken + list(resumed) == order


def test_elastic_resume_2_to_3_consumes_every_frame_once():
    options = {"streams": 2, "stream_block": 8, "seed": 1}
    ranks = [streamed(num_replicas=2, rank=r, **options) for r in range(2)]
    firsts = [itertools.islice(iter(s), 20) for s in ranks]
    seen = [v for pair in zip(*firsts, strict=True) for v in pair]
    state = ranks[0].state_dict()
    assert state["start_index"] == 40
    for r in range(3):
        resumed = streamed(num_replicas=3, rank=r, drop_last=True, **options)
        resumed.load_state_dict(state)
        seen += list(resumed)
    leftover = (N - 40) % 3
    order = streamed(**options).epoch_indices(0).tolist()
    assert sorted(seen + order[N - leftover :]) == lerobot_frames(FROM, TO)


@pytest.mark.parametrize("clone", [pickle.loads, copy.deepcopy], ids=["pickle", "deepcopy"])
def test_pickle_and_deepcopy_keep_streams(clone, permutation):
    sampler = streamed(permutation, streams=3, stream_block=2, seed=2)
    list(itertools.islice(iter(sampler), 7))
    payload = pickle.dumps(sampler) if clone is pickle.loads else sampler
    copied = clone(payload)
    assert (copied.streams, copied.stream_block) == (3, 2)
    assert copied.state_dict() == sampler.state_dict()
    assert list(copied) == sampler.epoch_indices(0).tolist()[7:]


def test_batch_sampler_batches_the_stream_order():
    sampler = streamed("feistel", streams=2, stream_block=4, seed=6)
    batches = list(EpisodeAwareBatchSampler(sampler, 4))
    order = streamed("feistel", streams=2, stream_block=4, seed=6).epoch_indices(0).tolist()
    assert [v for batch in batches for v in batch] == order
    assert all(len(b) == 4 for b in batches[:-1])


class WorkerRows(Dataset):
    """Returns (row, worker id): which worker read which frame."""

    def __getitem__(self, index: int) -> tuple[int, int]:
        return index, get_worker_info().id

    def __len__(self) -> int:
        return TO[-1]


@pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")  # 2-core CI
@pytest.mark.parametrize("num_workers", [2, 3])
def test_each_dataloader_worker_reads_only_its_own_streams_files(num_workers):
    """Real worker processes: with stream_settings, every file (group) is read by one worker
    only while every stream still has frames (the streams' lengths differ by at most a unit;
    once one runs out, the turns of the others shift between workers), where the plain windowed
    order shares its windows between the workers."""
    batch_size = 4
    settings = stream_settings(num_workers=num_workers, batch_size=batch_size)
    assert settings == {"streams": num_workers, "stream_block": batch_size}
    lengths = [len(units) for units in reference_streams("uniform", 3, 0, num_workers, True)]
    all_streams_batches = min(lengths) // batch_size * num_workers
    assert all_streams_batches >= 2 * num_workers

    def files_per_worker(**options) -> dict[int, set[int]]:
        sampler = make(FROM, TO, shuffle=True, seed=3, window=12, episode_groups=GROUPS, **options)
        loader = DataLoader(WorkerRows(), sampler=sampler, batch_size=batch_size,
                            num_workers=num_workers)  # fmt: skip
        read: dict[int, set[int]] = {}
        for rows, workers in itertools.islice(loader, all_streams_batches):
            assert len(set(workers.tolist())) == 1  # one worker makes a batch
            read.setdefault(int(workers[0]), set()).update(GROUPS[episode_of(int(r))] for r in rows)
        return read

    streams = files_per_worker(**settings)
    for a, b in itertools.combinations(streams.values(), 2):
        assert not (a & b)
    shared = files_per_worker()
    assert any(a & b for a, b in itertools.combinations(shared.values(), 2))


@pytest.mark.parametrize("resume_batches", [4, 5])
def test_a_resume_at_a_batch_boundary_keeps_one_stream_per_worker(resume_batches):
    """Resumed after `k` batches (a step-based state, `start_index = k * batch_size`), a fresh
    DataLoader deals its first batch to worker 0: worker `w` now reads stream `(k + w) mod K`,
    still one stream per worker (with a cold decoder cache)."""
    workers, batch_size = 2, 4
    settings = stream_settings(num_workers=workers, batch_size=batch_size)
    lengths = [len(units) for units in reference_streams("uniform", 3, 0, workers, True)]
    all_streams_batches = min(lengths) // batch_size * workers
    sampler = make(FROM, TO, shuffle=True, seed=3, window=12, episode_groups=GROUPS, **settings)
    sampler.load_state_dict({"epoch": 0, "start_index": resume_batches * batch_size})
    loader = DataLoader(WorkerRows(), sampler=sampler, batch_size=batch_size,
                        num_workers=workers)  # fmt: skip
    read: dict[int, set[int]] = {}
    for rows, worker_ids in itertools.islice(loader, all_streams_batches - resume_batches):
        read.setdefault(int(worker_ids[0]), set()).update(GROUPS[episode_of(int(r))] for r in rows)
    assert len(read) == workers
    for a, b in itertools.combinations(read.values(), 2):
        assert not (a & b)


def test_io_report_counts_each_worker_reading_its_own_stream():
    ends = np.cumsum(np.full(400, 50))
    starts = ends - 50
    groups = np.arange(400) // 4  # 100 files of 4 episodes
    common = {"shuffle": True, "seed": 1, "window": 1600, "episode_groups": groups}
    workers, batch = 4, 32
    plain = make(starts, ends, **common)
    streams = make(starts, ends, **common, **stream_settings(workers, batch))
    report = {
        name: io_report(s, batch_size=batch, num_workers=workers, decoder_cache_size=20)["sampler"]
        for name, s in [("plain", plain), ("streams", streams)]
    }
    # Every file is read by one worker only (but for the epoch's last turns, when the streams
    # run out at slightly different positions), and each worker reads about a quarter of them.
    assert 100 <= sum(report["streams"]["worker_groups"]) <= 100 + workers
    assert max(report["streams"]["worker_groups"]) <= 100 // workers + workers
    assert sum(report["plain"]["worker_groups"]) > 300
    assert sum(report["streams"]["worker_samples"]) == 20_000
    assert report["streams"]["decoder_opens"] < report["plain"]["decoder_opens"] / 3
    # A batch is as diverse as with one shared window.
    assert report["streams"]["mean_groups_per_batch"] == pytest.approx(
        report["plain"]["mean_groups_per_batch"], rel=0.25
    )


def test_stream_settings():
    assert stream_settings(4, 64, 2) == {"streams": 4, "stream_block": 128}
    assert stream_settings(0, 64) == {"streams": 1, "stream_block": None}
    assert stream_settings(1, 64) == {"streams": 1, "stream_block": None}
    with pytest.raises(ValueError, match="batch_size"):
        stream_settings(2, 0)
    with pytest.raises(TypeError, match="num_workers"):
        stream_settings(2.0, 4)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"streams": 0, "stream_block": 4}, ValueError, "streams must be >= 1"),
        ({"streams": True, "stream_block": 4}, TypeError, "streams must be an int"),
        ({"streams": 2.0, "stream_block": 4}, TypeError, "streams must be an int"),
        ({"streams": 2**20, "stream_block": 4}, ValueError, "streams must be in"),
        ({"streams": 2, "stream_block": None}, ValueError, "needs stream_block"),
        ({"streams": 2, "stream_block": 0}, ValueError, "stream_block must be >= 1"),
        ({"streams": 2, "stream_block": False}, TypeError, "stream_block must be an int"),
        ({"streams": 2, "stream_block": 4, "window": None}, ValueError, "needs window"),
    ],
)
def test_bad_stream_arguments(kwargs, error, message):
    options = {"window": 10, **kwargs}
    with pytest.raises(error, match=message):
        make(FROM, TO, shuffle=True, **options)


def test_from_rows_and_torch_tensors():
    sampler = streamed(streams=torch.tensor(2), stream_block=np.int64(4), seed=1)
    assert (sampler.streams, sampler.stream_block) == (2, 4)
