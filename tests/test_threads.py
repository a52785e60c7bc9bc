"""Threads, fork and Ctrl-C, with real threads, real forks and real signals: a state read while
another thread iterates never fails and is a point the iterator passed through; a child forked
while a parent thread builds an epoch can use the inherited sampler; Ctrl-C interrupts a long
epoch build and leaves the sampler usable; the parallel build gives the same tables."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

from episampler import EpisodeAwareBatchSampler, EpisodeAwareSampler, MixtureSampler

from .support import REPOSITORY

pytestmark = pytest.mark.timeout(300)


def run_script(source: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Runs `source` in a fresh interpreter (forks and signals stay out of pytest's process)."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(source)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPOSITORY,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["uniform", "feistel", "mixture"])
def test_state_dict_hammered_during_iteration_never_fails_nor_tears(kind):
    """The issue's reproducer, with a check that every state read lies between the values the
    consumer had before and after the read."""
    n = 2_000_000
    if kind == "mixture":
        parts = [EpisodeAwareSampler([0], [n // 2], shuffle=True, seed=s) for s in (1, 2)]
        sampler = MixtureSampler(parts, [1, 1], offsets=[0, n])
    else:
        sampler = EpisodeAwareSampler([0], [n], shuffle=True, permutation=kind)
    consumed = [0]
    started = threading.Event()

    def consume():
        started.set()
        for count, _ in enumerate(sampler, start=1):
            consumed[0] = count

    thread = threading.Thread(target=consume)
    thread.start()
    started.wait()
    errors, reads, torn = 0, 0, []
    while thread.is_alive():
        before = consumed[0]
        try:
            state = sampler.state_dict()
        except RuntimeError:
            errors += 1
            continue
        after = consumed[0]
        reads += 1
        if state["epoch"] == 0 and not before <= state["start_index"] <= after + 1:
            torn.append((before, state["start_index"], after))
    thread.join()
    assert errors == 0
    assert torn == []
    assert reads > 1000
    assert (sampler.state_dict()["epoch"], sampler.state_dict()["start_index"]) == (1, 0)


@pytest.mark.slow
def test_a_million_state_reads_during_iteration_see_no_error():
    sampler = EpisodeAwareSampler([0], [10**7], shuffle=True)
    stop = threading.Event()

    def consume():
        while not stop.is_set():
            for _ in sampler:
                if stop.is_set():
                    return

    thread = threading.Thread(target=consume)
    thread.start()
    errors = 0
    for _ in range(10**6):
        try:
            sampler.state_dict()
        except RuntimeError:
            errors += 1
    stop.set()
    thread.join()
    assert errors == 0


@pytest.mark.slow
def test_other_threads_may_set_the_epoch_load_states_and_iterate_meanwhile():
    sampler = EpisodeAwareSampler([0, 100], [100, 250], shuffle=True, seed=5)
    reference = EpisodeAwareSampler([0, 100], [100, 250], shuffle=True, seed=5)
    failures: list[BaseException] = []
    stop = threading.Event()

    def iterate():
        try:
            while not stop.is_set():
                values = list(sampler)
                assert len(set(values)) == len(values)
        except BaseException as error:  # reported by the main thread
            failures.append(error)

    def control():
        try:
            for i in range(3000):
                if i % 3 == 0:
                    sampler.set_epoch(i % 7)
                elif i % 3 == 1:
                    sampler.load_state_dict({"epoch": i % 5, "start_index": i % 250})
                else:
                    state = sampler.state_dict()
                    assert 0 <= state["start_index"] <= 250
                    assert sampler.epoch_indices(i % 4).tolist() == orders[i % 4]
        except BaseException as error:
            failures.append(error)

    orders = [reference.epoch_indices(e).tolist() for e in range(4)]
    threads = [threading.Thread(target=iterate) for _ in range(2)]
    threads += [threading.Thread(target=control) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads[2:]:
        thread.join()
    stop.set()
    for thread in threads[:2]:
        thread.join()
    assert failures == []


def test_threads_sharing_one_iterator_get_distinct_values_and_the_state_counts_them():
    sampler = EpisodeAwareSampler([0], [200_000], shuffle=True, seed=2)
    iterator = iter(sampler)
    taken: list[list[int]] = [[], []]
    halt = threading.Barrier(3)

    def take(mine):
        for _ in range(30_000):
            mine.append(next(iterator))
        halt.wait()

    threads = [threading.Thread(target=take, args=(taken[i],)) for i in range(2)]
    for thread in threads:
        thread.start()
    halt.wait()
    state = sampler.state_dict()
    for thread in threads:
        thread.join()
    together = taken[0] + taken[1]
    assert len(set(together)) == 60_000
    order = sampler.epoch_indices(0).tolist()
    assert sorted(together) == sorted(order[:60_000])
    assert state["start_index"] == 60_000


FORK_REPRODUCER = """
    import os, threading, time
    from episampler import EpisodeAwareSampler
    s = EpisodeAwareSampler([0], [10**7], shuffle=True)
    def busy():
        for e in range(10**6):
            s.set_epoch(e + 1); iter(s)
    threading.Thread(target=busy, daemon=True).start(); time.sleep(0.2)
    hung = 0
    for attempt in range(ATTEMPTS):
        pid = os.fork()
        if pid == 0:
            s.set_epoch(0); next(iter(s)); os._exit(0)
        deadline = time.time() + 20
        done = os.waitpid(pid, os.WNOHANG)
        while time.time() < deadline and done == (0, 0):
            time.sleep(0.01)
            done = os.waitpid(pid, os.WNOHANG)
        if done == (0, 0):
            hung += 1; os.kill(pid, 9); os.waitpid(pid, 0)
        elif os.waitstatus_to_exitcode(done[1]) != 0:
            raise SystemExit(f"child failed: {done}")
        time.sleep(0.05)
    print("hung", hung)
"""


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_child_forked_while_a_thread_builds_an_epoch_uses_the_sampler():
    """The issue's reproducer: before, the child hung in a futex 12 times out of 12."""
    result = run_script(FORK_REPRODUCER.replace("ATTEMPTS", "6"), timeout=500)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["hung", "0"], result.stdout + result.stderr


CTRL_C = """
    import os, signal, sys, threading, time
    # A process started in the background by a non-interactive shell (nohup, &) inherits
    # SIGINT as ignored, and Python then installs no KeyboardInterrupt handler: set it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from episampler import EpisodeAwareSampler
    s = EpisodeAwareSampler([0], [3 * 10**8], shuffle=True, num_threads=THREADS)
    delays = []
    for attempt in range(3):
        s.set_epoch(attempt + 1)
        sent = []
        def interrupt():
            time.sleep(0.4)
            sent.append(time.perf_counter())
            os.kill(os.getpid(), signal.SIGINT)
        threading.Thread(target=interrupt).start()
        try:
            next(iter(s))
            print("not interrupted"); sys.exit(1)
        except KeyboardInterrupt:
            delays.append(time.perf_counter() - sent[0])
    # Still usable: a small epoch, then the large one to its end of the first value.
    s.set_epoch(10)
    first = next(iter(s))
    assert 0 <= first < 3 * 10**8
    print(" ".join(f"{d:.3f}" for d in delays))
"""


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("threads", [1, 2])
def test_ctrl_c_interrupts_a_large_build_quickly_and_the_sampler_stays_usable(threads):
    result = run_script(CTRL_C.replace("THREADS", str(threads)), timeout=500)
    assert result.returncode == 0, result.stdout + result.stderr
    delays = [float(d) for d in result.stdout.split()]
    assert len(delays) == 3
    # 0.2 s is the target (the benchmark reports the figure); a loaded CI machine gets slack.
    assert sorted(delays)[1] < 0.5, delays


@pytest.mark.parametrize("num_frames", [70_000, 3 * 2**22 + 11, 10_000_019])
def test_the_parallel_build_gives_the_same_order_on_any_thread_count(num_frames):
    def order(threads):
        sampler = EpisodeAwareSampler([0], [num_frames], shuffle=True, seed=9, num_threads=threads)
        return sampler.epoch_indices(3)

    orders = {threads: order(threads) for threads in (1, 2, 3, 5)}
    for threads, order in orders.items():
        assert np.array_equal(order, orders[1]), threads


def test_the_environment_variable_caps_the_threads(monkeypatch):
    sampler = EpisodeAwareSampler([0], [10], shuffle=True, num_threads=8)
    assert sampler._threads() == 8
    monkeypatch.setenv("EPISAMPLER_NUM_THREADS", "2")
    assert sampler._threads() == 2
    monkeypatch.setenv("EPISAMPLER_NUM_THREADS", "many")
    with pytest.raises(ValueError, match="EPISAMPLER_NUM_THREADS must be a positive int"):
        sampler.epoch_indices(0)
    with pytest.raises(ValueError, match="num_threads must be >= 1"):
        EpisodeAwareSampler([0], [10], num_threads=0)


def test_batches_and_states_from_threads_agree():
    sampler = EpisodeAwareSampler([0], [10_000], shuffle=True)
    batches = EpisodeAwareBatchSampler(sampler, 64)
    iterator = iter(batches)
    got = [next(iterator) for _ in range(5)]
    states = []
    reader = threading.Thread(target=lambda: states.append(batches.state_dict()))
    reader.start()
    reader.join()
    assert states[0]["start_index"] == 5 * 64
    assert [v for b in got for v in b] == sampler.epoch_indices(0)[: 5 * 64].tolist()


def test_fork_safety_does_not_need_a_lock_in_python():
    # The resume point is one tuple replaced whole: no Python lock that a fork could inherit.
    sampler = EpisodeAwareSampler([0], [10])
    assert not any(isinstance(value, type(threading.Lock())) for value in vars(sampler).values())
