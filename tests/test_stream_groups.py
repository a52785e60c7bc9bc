"""The file groups of a stream's pass (`_Groups`): planning asks the store for file sizes, and
a reader must not wait for that when the group it asks about is already planned."""

from __future__ import annotations

import threading

import numpy as np

from episampler.lerobot.stream import _Groups


class SlowSizes:
    """What `_Groups` reads from its stream: one episode per block, one 10-byte file per
    episode, room for 3 files per group; asking for sizes past `fast_until` blocks waits until
    `answer` is set (a store's round trips)."""

    batch_size = 1
    cache_bytes = 60  # half of it per group: 3 files

    def __init__(self, fast_until: int) -> None:
        self.fast_until = fast_until
        self.asking = threading.Event()
        self.answer = threading.Event()

    def _ask_sizes(self, order: np.ndarray, blocks: range) -> None:
        if blocks.stop > self.fast_until:
            self.asking.set()
            assert self.answer.wait(30)

    def _block_episodes(self, order: np.ndarray, block: int) -> set[int]:
        return {int(order[block])}

    def _files_of(self, episode: int) -> frozenset[str]:
        return frozenset({f"file-{episode}"})

    def _size(self, relative: str) -> int:
        return 10


def test_a_planned_group_is_found_while_the_next_one_is_being_planned():
    stream = SlowSizes(fast_until=40)
    order = np.arange(100)
    groups = _Groups(stream, order, range(100), 0)  # type: ignore[arg-type]
    assert groups.index_of(5) == 1 and groups.span(1).first == 3  # planned without waiting
    planner = threading.Thread(target=groups.span, args=(20,))
    planner.start()
    try:
        assert stream.asking.wait(30)  # the planner holds the lock, waiting for sizes
        found: list[object] = []
        reader = threading.Thread(
            target=lambda: found.extend([groups.index_of(7), groups.span(2), groups.files(0, 1)])
        )
        reader.start()
        reader.join(5)
        assert not reader.is_alive()  # it did not wait for the planner
        assert found[0] == 2 and found[1] == groups.spans[2]
        assert found[2] == {f"file-{k}" for k in range(6)}
    finally:
        stream.answer.set()
        planner.join(30)
    assert groups.index_of(62) == 20
