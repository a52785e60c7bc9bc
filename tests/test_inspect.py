"""`episampler.inspect`: the read-order report against a plain per-sample LRU simulation, its
argument checks, and `python -m episampler.inspect`."""

from __future__ import annotations

import importlib.util
import inspect as python_inspect
import subprocess
import sys
import warnings
from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from episampler import EpisodeAwareSampler
from episampler.inspect import io_report, main

from .support import REPOSITORY

WINDOWS = "window" in python_inspect.signature(EpisodeAwareSampler.__init__).parameters
needs_windows = pytest.mark.skipif(not WINDOWS, reason="this episampler has no windowed order")

# Eight episodes of uneven lengths with gaps, not in frame order.
FROM = [40, 0, 12, 70, 30, 55, 90, 100]
TO = [52, 9, 30, 85, 38, 66, 97, 131]


# --- the reference: every sample through an OrderedDict LRU ----------------------------------


def episode_of_frame(from_indices, to_indices) -> dict[int, int]:
    return {
        frame: episode
        for episode, (start, end) in enumerate(zip(from_indices, to_indices, strict=True))
        for frame in range(start, end)
    }


def lru_opens(sample_groups, batch_size, num_workers, cache_size, decoders_per_group):
    """Decoders each worker opens: batch i to worker i % num_workers (the main process alone for
    0 workers), each worker an LRU keyed (camera, group) that evicts beyond `cache_size`
    entries (None: never)."""
    readers = max(1, num_workers)
    opens = [0] * readers
    caches = [OrderedDict() for _ in range(readers)]
    batches = [sample_groups[i : i + batch_size] for i in range(0, len(sample_groups), batch_size)]
    for number, batch in enumerate(batches):
        worker = number % readers
        cache = caches[worker]
        for group in batch:
            for camera in range(decoders_per_group):
                key = (camera, group)
                if key in cache:
                    cache.move_to_end(key)
                    continue
                opens[worker] += 1
                cache[key] = True
                if cache_size is not None and len(cache) > cache_size:
                    cache.popitem(last=False)
    return opens


def reference_figures(
    sampler, groups, *, batch_size, num_workers, decoder_cache_size, decoders_per_group, epoch,
    span_batches=16,
):  # fmt: skip
    """The report's figures for `sampler` (identity rows: its values are frames), by brute
    force; `groups` has one id per boundary episode (None: each episode its own)."""
    config = sampler._config
    from_indices, to_indices = config["from_indices"], config["to_indices"]
    episode_of = episode_of_frame(from_indices, to_indices)
    if groups is None:
        groups = list(range(len(from_indices)))
    stream = sampler.epoch_indices(epoch).tolist()
    episodes = [episode_of[frame] for frame in stream]
    sample_groups = [groups[episode] for episode in episodes]
    batches = range(0, len(stream), batch_size)
    opens = lru_opens(
        sample_groups, batch_size, num_workers, decoder_cache_size, decoders_per_group
    )
    cold = lru_opens(sample_groups, batch_size, num_workers, None, decoders_per_group)

    def total_opens(cache_size):
        return sum(
            lru_opens(sample_groups, batch_size, num_workers, cache_size, decoders_per_group)
        )

    needed = 1  # the smallest cache that opens no more than an unbounded one
    while total_opens(needed) > sum(cold):
        needed += 1

    # The global order of the epoch (all ranks), against boundary order.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # skipped episodes: warned already
        unsharded = EpisodeAwareSampler(
            from_indices,
            to_indices,
            config["episode_indices_to_use"],
            config["drop_n_first_frames"],
            config["drop_n_last_frames"],
            config["shuffle"],
            config["seed"],
            permutation=config["permutation"],
            **window_arguments(sampler),
        )
    global_order = unsharded.epoch_indices(epoch).tolist()
    # Samples and distinct groups of every worker: batch i to worker i % readers.
    readers = max(1, num_workers)
    worker_samples, worker_groups = [0] * readers, [set() for _ in range(readers)]
    for number, i in enumerate(batches):
        worker_samples[number % readers] += len(stream[i : i + batch_size])
        worker_groups[number % readers].update(sample_groups[i : i + batch_size])
    rates = [1000 * len(g) / n for g, n in zip(worker_groups, worker_samples, strict=True) if n]
    spans = range(0, len(stream), batch_size * span_batches)
    span = batch_size * span_batches
    boundary_position = {frame: p for p, frame in enumerate(unsharded.indices)}
    n = len(global_order)
    moved = sum(abs(p - boundary_position[frame]) for p, frame in enumerate(global_order))
    return {
        "num_samples": len(stream),
        "num_batches": len(batches),
        "mean_episodes_per_batch": np.mean(
            [len(set(episodes[i : i + batch_size])) for i in batches]
        ),
        "mean_groups_per_batch": np.mean(
            [len(set(sample_groups[i : i + batch_size])) for i in batches]
        ),
        "num_spans": len(spans),
        "mean_episodes_per_span": np.mean([len(set(episodes[i : i + span])) for i in spans])
        if spans
        else 0.0,
        "mean_groups_per_span": np.mean([len(set(sample_groups[i : i + span])) for i in spans])
        if spans
        else 0.0,
        "worker_opens": opens,
        "worker_samples": worker_samples,
        "worker_groups": [len(g) for g in worker_groups],
        "files_per_worker_per_1000_samples": np.mean(rates) if rates else 0.0,
        "decoder_opens": sum(opens),
        "cold_opens": sum(cold),
        "opens_per_1000_samples": 1000 * sum(opens) / len(stream),
        "mean_displacement": moved / n / n,
        "needed_cache_size": needed,
        "fits_cache": decoder_cache_size is None or needed <= decoder_cache_size,
    }


def window_arguments(sampler) -> dict:
    window = getattr(sampler, "window", None)
    if window is None:
        return {}
    return {
        "window": window,
        "episode_groups": sampler.episode_groups,
        "streams": sampler.streams,
        "stream_block": sampler.stream_block,
    }


def assert_figures_equal(got: dict, expected: dict) -> None:
    assert set(got) == set(expected)
    for key, value in expected.items():
        if isinstance(value, float):
            assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key
        else:
            assert got[key] == value, key


def make_sampler(shuffle, permutation="uniform", *, window=None, groups=None, **kwargs):
    extra = {} if window is None else {"window": window, "episode_groups": groups}
    return EpisodeAwareSampler(
        FROM,
        TO,
        kwargs.pop("episode_indices_to_use", [0, 2, 3, 4, 5, 7]),
        kwargs.pop("drop_n_first_frames", 1),
        kwargs.pop("drop_n_last_frames", 2),
        shuffle,
        kwargs.pop("seed", 11),
        permutation=permutation,
        **extra,
        **kwargs,
    )


GROUP_LAYOUTS = {
    "per episode": None,
    "pairs": [0, 0, 1, 1, 2, 2, 3, 3],
    "scattered ids": [5, -1, 5, 9, -1, 9, 5, 2],
    "one file": [4] * 8,
}


# --- the report against the reference --------------------------------------------------------


@pytest.mark.parametrize("layout", list(GROUP_LAYOUTS))
@pytest.mark.parametrize(
    "order",
    ["boundary", "uniform", "feistel", "uniform, rank 1 of 2", "feistel, 3 ranks, drop_last"],
)
def test_report_equals_the_reference(order, layout):
    groups = GROUP_LAYOUTS[layout]
    sharding = {}
    if "rank 1 of 2" in order:
        sharding = {"num_replicas": 2, "rank": 1}
    elif "3 ranks" in order:
        sharding = {"num_replicas": 3, "rank": 2, "drop_last": True}
    permutation = "feistel" if order.startswith("feistel") else "uniform"
    sampler = make_sampler(order != "boundary", permutation, **sharding)
    for batch_size, num_workers, cache_size, per_group, span in [
        (1, 0, 1, 1, 1),
        (4, 1, 2, 1, 2),
        (3, 2, 3, 2, 3),
        (5, 3, 5, 3, 16),
        (2, 4, None, 2, 5),
        (7, 2, 100, 1, 1),
    ]:
        report = io_report(
            sampler,
            batch_size=batch_size,
            num_workers=num_workers,
            decoder_cache_size=cache_size,
            decoders_per_group=per_group,
            episode_groups=groups,
            epoch=3,
            span_batches=span,
        )
        setup = {
            "batch_size": batch_size,
            "num_workers": num_workers,
            "decoder_cache_size": cache_size,
            "decoders_per_group": per_group,
            "epoch": 3,
            "span_batches": span,
        }
        assert_figures_equal(report["sampler"], reference_figures(sampler, groups, **setup))
        uniform = make_sampler(True, **sharding)
        assert_figures_equal(report["uniform"], reference_figures(uniform, groups, **setup))
        distinct_groups = len({(groups or list(range(8)))[e] for e in [0, 2, 3, 4, 5, 7]})
        assert report["num_groups"] == distinct_groups
        assert report["num_episodes"] == 6
        assert report["num_frames"] == sampler.num_frames
        assert {key: report[key] for key in setup} == setup


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lengths=st.lists(st.integers(1, 9), min_size=1, max_size=10),
    group_ids=st.lists(st.integers(-2, 3), min_size=10, max_size=10),
    shuffle=st.booleans(),
    permutation=st.sampled_from(["uniform", "feistel"]),
    seed=st.integers(0, 2**64 - 1),
    epoch=st.integers(0, 5),
    batch_size=st.integers(1, 6),
    num_workers=st.integers(0, 4),
    cache_size=st.one_of(st.none(), st.integers(1, 8)),
    per_group=st.integers(1, 3),
)
def test_report_equals_the_reference_on_random_cases(
    lengths,
    group_ids,
    shuffle,
    permutation,
    seed,
    epoch,
    batch_size,
    num_workers,
    cache_size,
    per_group,
):
    to_indices = np.cumsum(lengths).tolist()
    from_indices = [end - length for end, length in zip(to_indices, lengths, strict=True)]
    sampler = EpisodeAwareSampler(
        from_indices, to_indices, shuffle=shuffle, seed=seed, permutation=permutation
    )
    groups = group_ids[: len(lengths)]
    report = io_report(
        sampler,
        batch_size=batch_size,
        num_workers=num_workers,
        decoder_cache_size=cache_size,
        decoders_per_group=per_group,
        episode_groups=groups,
        epoch=epoch,
    )
    expected = reference_figures(
        sampler,
        groups,
        batch_size=batch_size,
        num_workers=num_workers,
        decoder_cache_size=cache_size,
        decoders_per_group=per_group,
        epoch=epoch,
    )
    assert_figures_equal(report["sampler"], expected)


@needs_windows
@pytest.mark.parametrize("window", [1, 6, 25])
@pytest.mark.parametrize("streams", [1, 2])
def test_report_of_a_windowed_order_equals_the_reference(window, streams, permutation):
    groups = GROUP_LAYOUTS["pairs"]
    extra = {} if streams == 1 else {"streams": streams, "stream_block": 4}
    sampler = make_sampler(True, permutation, window=window, groups=groups, **extra)
    report = io_report(
        sampler, batch_size=4, num_workers=2, decoder_cache_size=2, decoders_per_group=2, epoch=1
    )
    expected = reference_figures(
        sampler,
        groups,
        batch_size=4,
        num_workers=2,
        decoder_cache_size=2,
        decoders_per_group=2,
        epoch=1,
    )
    # groups=None takes the sampler's own episode groups.
    assert_figures_equal(report["sampler"], expected)


def test_report_of_a_larger_shuffle_equals_the_reference():
    # Workers read thousands of samples: the core works through them in chunks.
    from_indices = list(range(0, 12_000, 120))
    to_indices = [start + 100 for start in from_indices]
    groups = [episode // 4 for episode in range(len(from_indices))]
    sampler = EpisodeAwareSampler(from_indices, to_indices, shuffle=True, seed=3)
    setup = {
        "batch_size": 9,
        "num_workers": 1,
        "decoder_cache_size": 7,
        "decoders_per_group": 2,
        "epoch": 0,
    }
    report = io_report(sampler, episode_groups=groups, **setup)
    assert_figures_equal(report["sampler"], reference_figures(sampler, groups, **setup))


def test_report_of_a_sampler_with_skipped_episodes_warns_nothing_more():
    # Episode 4 (8 frames) is emptied by the drops: the sampler warns once, the report not.
    with pytest.warns(UserWarning, match="1 selected episode"):
        sampler = make_sampler(True, drop_n_first_frames=5, drop_n_last_frames=4)
    setup = {
        "batch_size": 3,
        "num_workers": 2,
        "decoder_cache_size": 2,
        "decoders_per_group": 1,
        "epoch": 0,
    }
    groups = GROUP_LAYOUTS["scattered ids"]
    report = io_report(sampler, episode_groups=groups, **setup)
    assert report["num_episodes"] == 5
    assert_figures_equal(report["sampler"], reference_figures(sampler, groups, **setup))


def test_boundary_order_has_no_displacement_and_opens_each_decoder_once_per_worker():
    sampler = make_sampler(False)
    report = io_report(sampler, batch_size=4, num_workers=3, decoders_per_group=2)
    figures = report["sampler"]
    assert figures["mean_displacement"] == 0.0
    assert figures["decoder_opens"] == figures["cold_opens"]
    assert figures["needed_cache_size"] == 2  # consecutive samples of one group
    assert figures["fits_cache"] is True


def test_a_global_shuffle_displaces_frames_by_about_a_third():
    from_indices = list(range(0, 30_000, 300))
    to_indices = [start + 300 for start in from_indices]
    sampler = EpisodeAwareSampler(from_indices, to_indices, shuffle=True, seed=7)
    report = io_report(sampler, batch_size=32, num_workers=2)
    for figures in (report["sampler"], report["uniform"]):
        # Mean |U - V| of two independent uniforms; the sampling spread here is ~0.002.
        assert figures["mean_displacement"] == pytest.approx(1 / 3, abs=0.01)
    # 100 episodes in a cache of 100: each decoder opened once per worker.
    assert report["sampler"]["decoder_opens"] == 200
    assert report["sampler"]["needed_cache_size"] == 100


def test_groups_default_to_the_sampler_episode_groups():
    sampler = make_sampler(True)
    per_episode = io_report(sampler, batch_size=4, num_workers=1)
    explicit = io_report(sampler, batch_size=4, num_workers=1, episode_groups=list(range(8)))
    assert per_episode == explicit
    if WINDOWS:
        groups = GROUP_LAYOUTS["pairs"]
        windowed = make_sampler(True, window=8, groups=groups)
        assert io_report(windowed, batch_size=4, num_workers=1) == io_report(
            windowed, batch_size=4, num_workers=1, episode_groups=groups
        )


def test_epoch_defaults_to_the_current_epoch_and_differs_between_epochs():
    sampler = make_sampler(True)
    sampler.set_epoch(4)
    report = io_report(sampler, batch_size=2, num_workers=1, decoder_cache_size=1)
    assert report["epoch"] == 4
    assert report == io_report(sampler, batch_size=2, num_workers=1, decoder_cache_size=1, epoch=4)
    others = [
        io_report(sampler, batch_size=2, num_workers=1, decoder_cache_size=1, epoch=epoch)
        for epoch in range(4)
    ]
    displacements = {other["sampler"]["mean_displacement"] for other in others}
    assert len(displacements) > 1


# --- bad arguments ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"batch_size": 0}, ValueError, "batch_size must be >= 1, got 0"),
        ({"batch_size": 2.0}, TypeError, "batch_size must be an int, got float 2.0"),
        ({"batch_size": True}, TypeError, "batch_size must be an int, got the bool True"),
        ({"num_workers": -1}, ValueError, "num_workers must be >= 0, got -1"),
        ({"num_workers": 70_000}, ValueError, "num_workers must be in [0, 65537), got 70000"),
        ({"decoder_cache_size": 0}, ValueError, "decoder_cache_size must be >= 1, got 0"),
        ({"decoder_cache_size": "100"}, TypeError, "decoder_cache_size must be an int, got str"),
        ({"decoders_per_group": 0}, ValueError, "decoders_per_group must be >= 1, got 0"),
        ({"span_batches": 0}, ValueError, "span_batches must be >= 1, got 0"),
        ({"span_batches": 1.5}, TypeError, "span_batches must be an int, got float 1.5"),
        (
            {"episode_groups": [0, 1]},
            ValueError,
            "one id per episode of the boundary arrays (8), got 2",
        ),
        ({"episode_groups": [0.5] * 8}, TypeError, "groups must hold integers"),
        (
            {"episode_groups": "abcdefgh"},
            TypeError,
            "groups must be a 1-D sequence of ints, got str",
        ),
        ({"epoch": -1}, ValueError, "epoch must be >= 0, got -1"),
        ({"epoch": 2**63}, ValueError, "epoch 9223372036854775808 cannot be iterated"),
    ],
)
def test_bad_arguments_name_the_argument_and_value(arguments, error, message):
    sampler = make_sampler(True)
    keywords = {"batch_size": 4, "num_workers": 2, **arguments}
    with pytest.raises(error) as raised:
        io_report(sampler, **keywords)
    assert message in str(raised.value)


def test_the_sampler_must_be_an_episode_aware_sampler():
    with pytest.raises(TypeError, match="sampler must be an EpisodeAwareSampler, got list"):
        io_report([0, 1, 2], batch_size=1, num_workers=0)


# --- python -m episampler.inspect ------------------------------------------------------------


def run_cli(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "episampler.inspect", *arguments],
        capture_output=True,
        text=True,
        cwd=REPOSITORY,
        timeout=240,
        check=False,
    )


def table_rows(output: str) -> dict[str, list[str]]:
    rows = {}
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells[0] not in ("order",):
            rows[cells[0]] = cells[1:]
    return rows


def test_cli_prints_the_table_against_window_sizes():
    result = run_cli(
        "--frames",
        "20000",
        "--episodes",
        "100",
        "--episodes-per-group",
        "5",
        "--batch-size",
        "16",
        "--num-workers",
        "2",
        "--decoder-cache-size",
        "10",
        "--windows",
        "0,256,1024",
    )
    assert result.returncode == 0, result.stderr
    output = result.stdout
    assert (
        "| order | episodes / batch | groups / batch | episodes / 16 batches "
        "| groups / 16 batches | decoder opens / 1k samples" in output
    )
    rows = table_rows(output)
    boundary, uniform = rows["boundary"], rows["global (uniform)"]
    assert boundary[7] == "0.0000"  # displacement
    assert float(uniform[7]) == pytest.approx(1 / 3, abs=0.02)
    # 20 groups of 5 episodes: a global shuffle needs all 20 in a cache of 10.
    assert uniform[8:] == ["20", "NO"]
    assert boundary[8:] == ["1", "yes"]
    # Over 16 batches (256 samples) a global shuffle sees most of the 100 episodes (of uneven
    # lengths) and nearly all 20 groups; boundary order a few consecutive episodes.
    assert float(uniform[2]) > 60 and float(uniform[3]) > 19
    assert float(boundary[2]) < 4 and float(boundary[2]) >= float(boundary[0])
    if WINDOWS:
        assert {"window 256", "window 1,024", "window 1,024, 2 streams"} <= set(rows)
        # Files per worker per 1k samples: each worker reads its own stream's files only.
        assert float(rows["window 1,024, 2 streams"][6]) < 0.7 * float(rows["window 1,024"][6])
        # A window of 1,024 frames mixes fewer episodes over 16 batches than the global shuffle.
        assert float(rows["window 1,024"][2]) < float(uniform[2])
        assert "need the windowed order" not in output
    else:
        assert "Window sizes 256, 1024 need the windowed order" in output
    assert "LEROBOT_VIDEO_DECODER_CACHE_SIZE" in output
    assert "- global (uniform): needs 20 decoder(s) per worker" in output


def test_cli_help_and_bad_arguments(capsys):
    with pytest.raises(SystemExit) as raised:
        main(["--help"])
    assert raised.value.code == 0
    assert "--windows" in capsys.readouterr().out
    for arguments, message in [
        (["--frames", "10", "--episodes", "20"], "--episodes (20) must be <= --frames (10)"),
        (["--windows", "0,x"], "not a number: 'x'"),
        (["--batch-size", "0"], "must be at least 1: '0'"),
        (["--num-workers", "1.5"], "not a whole number: '1.5'"),
        (["--repo-id", "a/b"], "--lerobot-root and --repo-id go together"),
    ]:
        with pytest.raises(SystemExit) as raised:
            main(arguments)
        assert raised.value.code == 2
        assert message in capsys.readouterr().err


@pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is not None, reason="matplotlib is installed"
)
def test_cli_plot_without_matplotlib_says_how_to_install_it(tmp_path, capsys):
    with pytest.raises(SystemExit) as raised:
        main(["--frames", "1000", "--episodes", "10", "--plot", str(tmp_path / "p.png")])
    assert "--plot needs matplotlib" in str(raised.value.code)
    assert "pip install matplotlib" in str(raised.value.code)
    assert capsys.readouterr().out == ""  # it fails before the report
    assert not (tmp_path / "p.png").exists()


@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None, reason="needs matplotlib")
def test_cli_writes_a_plot(tmp_path):
    path = tmp_path / "report.png"
    result = run_cli("--frames", "5000", "--episodes", "20", "--windows", "0", "--plot", str(path))
    assert result.returncode == 0, result.stderr
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_groups_is_a_deprecated_name_of_episode_groups():
    sampler = make_sampler(True)
    ids = [e // 2 for e in range(8)]
    expected = io_report(sampler, batch_size=4, num_workers=2, episode_groups=ids)
    with pytest.warns(DeprecationWarning, match="pass episode_groups="):
        assert io_report(sampler, batch_size=4, num_workers=2, groups=ids) == expected
    with pytest.raises(TypeError, match="not both"), pytest.warns(DeprecationWarning):
        io_report(sampler, batch_size=4, num_workers=2, groups=ids, episode_groups=ids)
