"""Resume under accelerate: 2 real processes (gloo, CPU), default even_batches=True."""

from __future__ import annotations

import json

import pytest

from tests.support import launch_ranks

pytest.importorskip("accelerate")

WORLD_SIZE = 2


@pytest.fixture(scope="module")
def per_rank_results(tmp_path_factory) -> list[dict]:
    out = tmp_path_factory.mktemp("accelerate")
    launch_ranks("tests.accelerate_worker", WORLD_SIZE, str(out))
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
