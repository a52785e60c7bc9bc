"""Resume under accelerate: 1 process, and 2 real processes (gloo, CPU), default even_batches=True
(one process is not sharded, so accelerate pads nothing; two are padded to whole rounds)."""

from __future__ import annotations

import json

import pytest

from tests.accelerate_worker import ORDERS
from tests.support import launch_ranks

pytest.importorskip("accelerate")


@pytest.fixture(scope="module", params=[1, 2], ids=lambda world_size: f"world_size={world_size}")
def per_rank_results(request, tmp_path_factory) -> list[dict]:
    world_size = request.param
    out = tmp_path_factory.mktemp("accelerate")
    launch_ranks("tests.accelerate_worker", world_size, str(out))
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(world_size)]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_uninterrupted_stream_is_padded_like_accelerate_and_disjoint(per_rank_results):
    for key in per_rank_results[0]:
        streams = [results[key]["stream"] for results in per_rank_results]
        assert len({len(stream) for stream in streams}) == 1
        batch_size = len(streams[0][0])
        sizes = [len(batch) for stream in streams for batch in stream]
        if len(streams) > 1:  # padded to whole rounds of whole batches
            assert all(size == batch_size for size in sizes), key
        else:  # one process: nothing padded, an epoch ends with its short batch
            assert sum(sizes) == 3 * 28, key
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
    # 2 batch sizes, every order, 2 accumulations, 3 checkpoints.
    assert checked == len(per_rank_results) * 2 * len(ORDERS) * 2 * 3
