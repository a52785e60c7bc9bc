"""Resume under accelerate: 2 real processes (gloo, CPU), default even_batches=True."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("accelerate")

WORLD_SIZE = 2


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def per_rank_results(tmp_path_factory) -> list[dict]:
    out = tmp_path_factory.mktemp("accelerate")
    port = free_port()
    worker = Path(__file__).with_name("accelerate_worker.py")
    processes = []
    for rank in range(WORLD_SIZE):
        env = dict(
            os.environ,
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=str(port),
            RANK=str(rank),
            LOCAL_RANK=str(rank),
            WORLD_SIZE=str(WORLD_SIZE),
            LOCAL_WORLD_SIZE=str(WORLD_SIZE),
            OMP_NUM_THREADS="1",
        )
        processes.append(
            subprocess.Popen(
                [sys.executable, str(worker), str(out)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    for process in processes:
        output, _ = process.communicate(timeout=600)
        assert process.returncode == 0, output
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(WORLD_SIZE)]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_uninterrupted_stream_is_padded_like_accelerate_and_disjoint(per_rank_results):
    for key in per_rank_results[0]:
        streams = [results[key]["stream"] for results in per_rank_results]
        assert len(streams[0]) == len(streams[1])
        batch_size = len(streams[0][0])
        assert all(len(batch) == batch_size for stream in streams for batch in stream), key
        # Every epoch covers all 28 frames across the two processes.
        epochs = 3
        per_epoch = len(streams[0]) // epochs
        for epoch in range(epochs):
            frames = {
                index
                for stream in streams
                for batch in stream[epoch * per_epoch : (epoch + 1) * per_epoch]
                for index in batch
            }
            assert frames == set(range(0, 22)) | set(range(25, 31)), (key, epoch)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_resumed_streams_equal_the_uninterrupted_run(per_rank_results):
    checked = 0
    for rank, results in enumerate(per_rank_results):
        for key, result in results.items():
            for checkpoint, resumed in result["resumed"].items():
                expected = result["stream"][resumed["done"] :]
                assert resumed["rest"] == expected, (rank, key, checkpoint)
                checked += 1
    assert checked == WORLD_SIZE * 8 * 3
