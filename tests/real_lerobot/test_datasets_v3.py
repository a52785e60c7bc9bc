"""`EpisodeAwareSampler.from_lerobot` on real LeRobot 0.6 datasets (format v3), recorded by
LeRobot's own writer into a temporary folder and loaded by `LeRobotDataset`, offline.

Each selection LeRobot offers is covered (all episodes, an `episodes=` list unsorted with a
duplicate, `episode_filter`, the train/eval halves of `eval_split`), with `delta_timestamps`, drops
and a video camera. Expectations come from what was recorded (every frame's state names its
episode and frame) and from LeRobot's own sampler, never from episampler itself.
"""

from __future__ import annotations

import copy
import math
import os
import shutil

import pytest

from tests.real_lerobot.conftest import require_lerobot

require_lerobot("0.6")
# Before huggingface_hub is first imported: it reads these once. Nothing here needs the Hub.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"

from lerobot.configs.default import DatasetConfig  # noqa: E402
from lerobot.configs.train import TrainPipelineConfig  # noqa: E402
from lerobot.datasets.factory import make_train_eval_datasets  # noqa: E402
from lerobot.datasets.lerobot_dataset import LeRobotDataset  # noqa: E402
from lerobot.datasets.sampler import EpisodeAwareSampler as LeRobotSampler  # noqa: E402
from lerobot.policies.diffusion.configuration_diffusion import DiffusionConfig  # noqa: E402

from episampler import EpisodeAwareSampler  # noqa: E402
from tests.real_lerobot.record import (  # noqa: E402
    ACTION,
    CAMERA,
    check_loader_rows,
    check_shuffled_epochs,
    kept_rows,
    record_dataset,
    row_identities,
)

REPO_ID = "episampler/real-v3"
FPS = 10
LENGTHS = [12, 9, 15, 11, 14, 10]
# Tasks interleaved so that eval_split's per-task halves are unsorted episode lists.
TASKS = ["pick", "place", "place", "pick", "place", "pick"]
EVAL_SPLIT = 0.25
DELTAS = {ACTION: [-0.1, 0.0, 0.1], CAMERA: [-0.1, 0.0]}
FIRST, LAST = 2, 3  # drop_n_first_frames, drop_n_last_frames
SEEDS = (0, 1, 2**40 + 3)
ALL = set(range(len(LENGTHS)))


def long_episodes(episode: dict) -> bool:
    return episode["length"] >= 11


@pytest.fixture(scope="module")
def hermetic_datasets_cache(tmp_path_factory):
    """Keeps the `datasets` library's Arrow cache of this module's parquet files out of ~/.cache."""
    import datasets

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path_factory.mktemp("hf-cache"))
        yield


@pytest.fixture(scope="module")
def root(tmp_path_factory, hermetic_datasets_cache):
    return record_dataset(
        tmp_path_factory.mktemp("recorded"), REPO_ID, LENGTHS, video=True, tasks=TASKS, fps=FPS
    )


def eval_halves() -> tuple[list[int], list[int]]:
    """The episodes `make_train_eval_datasets` trains and evaluates on, from its documented rule:
    the last ceil(n * eval_split) episodes of each task (in order of first appearance) held out."""
    by_task: dict[str, list[int]] = {}
    for episode, task in enumerate(TASKS):
        by_task.setdefault(task, []).append(episode)
    train, held_out = [], []
    for episodes in by_task.values():
        cut = len(episodes) - math.ceil(len(episodes) * EVAL_SPLIT)
        train += episodes[:cut]
        held_out += episodes[cut:]
    return train, held_out


@pytest.fixture(scope="module")
def policy():
    """A real policy config, as `lerobot-train` gets one: its delta indices and drop_n_last_frames
    decide the datasets' `delta_timestamps` and the sampler's drop."""
    return DiffusionConfig(n_obs_steps=2, horizon=8, n_action_steps=4, drop_n_last_frames=LAST)


@pytest.fixture(scope="module")
def cases(root, policy):
    """name -> (dataset, its selected episodes, its delta_timestamps)."""

    def load(**kwargs):
        return LeRobotDataset(REPO_ID, root=root, delta_timestamps=DELTAS, **kwargs)

    config = TrainPipelineConfig(
        dataset=DatasetConfig(repo_id=REPO_ID, root=str(root), eval_split=EVAL_SPLIT),
        policy=policy,
    )
    train, held_out = make_train_eval_datasets(config)
    assert held_out is not None
    assert (train.episodes, held_out.episodes) == eval_halves()
    return {
        "all": (load(), ALL, DELTAS),
        "episodes": (load(episodes=[4, 1, 5, 1]), {1, 4, 5}, DELTAS),
        "episode_filter": (
            load(episode_filter=long_episodes),
            {e for e, n in enumerate(LENGTHS) if n >= 11},
            DELTAS,
        ),
        "episodes+filter": (
            load(episodes=[5, 3, 0, 3], episode_filter=long_episodes),
            {0, 3},
            DELTAS,
        ),
        "eval_split-train": (train, set(eval_halves()[0]), train.delta_timestamps),
        "eval_split-eval": (held_out, set(eval_halves()[1]), held_out.delta_timestamps),
    }


CASES = [
    "all",
    "episodes",
    "episode_filter",
    "episodes+filter",
    "eval_split-train",
    "eval_split-eval",
]


def lerobot_sampler(dataset, first: int = 0, last: int = 0) -> LeRobotSampler:
    """LeRobot's sampler, built as `lerobot-train` builds it (plus `drop_n_first_frames`)."""
    return LeRobotSampler(
        dataset.meta.episodes["dataset_from_index"],
        dataset.meta.episodes["dataset_to_index"],
        episode_indices_to_use=dataset.episodes,
        drop_n_first_frames=first,
        drop_n_last_frames=last,
        shuffle=False,
        absolute_to_relative_idx=dataset.absolute_to_relative_idx,
    )


def test_the_cases_select_what_lerobot_documents(cases):
    """The fixtures mean what the tests assume: each dataset holds exactly the frames of its
    selected episodes, and the eval_split halves are unsorted lists."""
    for name, (dataset, selected, _) in cases.items():
        episodes, frames = row_identities(dataset)
        assert sorted(zip(episodes.tolist(), frames.tolist(), strict=True)) == [
            (e, f) for e in sorted(selected) for f in range(LENGTHS[e])
        ], name
    train, held_out = eval_halves()
    assert train != sorted(train) and held_out != sorted(held_out)
    # Both shapes of LeRobot's row mapping are exercised: none for the whole dataset, a dict
    # from absolute frame to row for a selection.
    assert cases["all"][0].absolute_to_relative_idx is None
    assert all(
        isinstance(dataset.absolute_to_relative_idx, dict)
        for name, (dataset, _, _) in cases.items()
        if name != "all"
    )


@pytest.mark.parametrize("case", CASES)
def test_shuffled_epochs_hold_each_kept_frame_once_and_every_index_loads(cases, case, permutation):
    dataset, selected, deltas = cases[case]
    check_shuffled_epochs(
        dataset, selected, deltas, lengths=LENGTHS, fps=FPS, first=FIRST, last=LAST,
        seeds=SEEDS, permutation=permutation,
    )  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_unshuffled_order_is_lerobots(cases, case):
    dataset, selected, _ = cases[case]
    for first, last in ((0, 0), (0, LAST), (FIRST, LAST)):
        theirs = lerobot_sampler(dataset, first, last)
        ours = EpisodeAwareSampler.from_lerobot(
            dataset, drop_n_first_frames=first, drop_n_last_frames=last, shuffle=False
        )
        assert list(ours) == list(theirs), (first, last)
        assert ours.indices == theirs.indices
        assert len(ours) == len(theirs)
        # Both walk the kept rows in ascending order (a filtered dataset keeps frame order).
        assert list(ours) == kept_rows(dataset, LENGTHS, selected, first, last)


def test_eval_split_halves_partition_the_kept_frames(cases, policy):
    """Samplers over the train and eval datasets reach disjoint frames that, together, are every
    kept frame of the whole dataset (frames compared by their absolute `index`)."""
    whole = cases["all"][0]
    absolute = {}
    for name in ("eval_split-train", "eval_split-eval"):
        dataset = cases[name][0]
        sampler = EpisodeAwareSampler.from_lerobot(
            dataset, drop_n_last_frames=policy.drop_n_last_frames, shuffle=True, seed=5
        )
        index = dataset.hf_dataset.data.column("index").to_numpy()
        absolute[name] = index[list(sampler)].tolist()
        assert len(set(absolute[name])) == len(absolute[name])
    train, held_out = (set(absolute[name]) for name in absolute)
    assert not train & held_out
    whole_index = whole.hf_dataset.data.column("index").to_numpy()
    kept = whole_index[kept_rows(whole, LENGTHS, ALL, 0, policy.drop_n_last_frames)]
    assert train | held_out == set(kept.tolist())


def test_drop_that_empties_an_episode_skips_it_like_lerobot(cases, permutation):
    dataset, _, _ = cases["episodes"]  # episodes 4, 1, 5: episode 1 has 9 frames
    first, last = 4, 5
    with pytest.warns(UserWarning, match="1 selected episode"):
        ours = EpisodeAwareSampler.from_lerobot(
            dataset, drop_n_first_frames=first, drop_n_last_frames=last
        )
    assert list(ours) == list(lerobot_sampler(dataset, first, last))
    assert list(ours) == kept_rows(dataset, LENGTHS, {4, 5}, first, last)
    with pytest.warns(UserWarning, match="1 selected episode"):
        shuffled = EpisodeAwareSampler.from_lerobot(
            dataset,
            drop_n_first_frames=first,
            drop_n_last_frames=last,
            shuffle=True,
            permutation=permutation,
        )
    assert sorted(shuffled) == list(ours)


def test_a_dict_of_columns_in_place_of_the_table_gives_the_same_order(cases):
    dataset, _, _ = cases["episodes"]
    columns = copy.copy(dataset)
    columns.meta = copy.copy(dataset.meta)
    columns.meta.episodes = {
        name: list(dataset.meta.episodes[name])
        for name in ("episode_index", "dataset_from_index", "dataset_to_index")
    }
    kwargs = dict(drop_n_first_frames=1, shuffle=True, seed=3)
    assert list(EpisodeAwareSampler.from_lerobot(columns, **kwargs)) == list(
        EpisodeAwareSampler.from_lerobot(dataset, **kwargs)
    )


@pytest.fixture(scope="module")
def loader_root(root, tmp_path_factory):
    """A copy of the recorded dataset, under paths no test decodes in this process: LeRobot caches
    one video decoder per path, and a decoder made before the DataLoader forks fails in workers."""
    copy_root = tmp_path_factory.mktemp("loader") / REPO_ID
    shutil.copytree(root, copy_root)
    return copy_root


def test_dataloader_workers_yield_the_rows_the_sampler_names(loader_root, permutation):
    selected = {1, 4, 5}
    dataset = LeRobotDataset(
        REPO_ID, root=loader_root, episodes=[4, 1, 5, 1], delta_timestamps=DELTAS
    )
    sampler = EpisodeAwareSampler.from_lerobot(
        dataset,
        drop_n_first_frames=1,
        drop_n_last_frames=1,
        shuffle=True,
        seed=11,
        permutation=permutation,
    )
    check_loader_rows(dataset, sampler, selected, DELTAS, lengths=LENGTHS, fps=FPS)


# --- Bad dataset objects: a TypeError or ValueError that says what was expected ----------------


def with_episodes_table(dataset, table):
    bad = copy.copy(dataset)
    bad.meta = copy.copy(dataset.meta)
    bad.meta.episodes = table
    return bad


def with_selection(dataset, episodes):
    bad = copy.copy(dataset)
    bad.episodes = episodes
    return bad


def v3_columns(dataset, **changes):
    columns = {
        name: list(dataset.meta.episodes[name])
        for name in ("episode_index", "dataset_from_index", "dataset_to_index")
    }
    columns.update(changes)
    return {name: values for name, values in columns.items() if values is not None}


# What LeRobot 0.3's `meta.episodes` holds: a dict by episode, without boundaries.
V21_EPISODES = {
    e: {"episode_index": e, "tasks": [TASKS[e]], "length": n} for e, n in enumerate(LENGTHS)
}
BAD = {
    "table without dataset_to_index": (
        lambda d: with_episodes_table(d, d.meta.episodes.remove_columns("dataset_to_index")),
        TypeError,
        r"'dataset_from_index' and 'dataset_to_index'.*meta\.episodes has no 'dataset_to_index'",
    ),
    "table without dataset_from_index": (
        lambda d: with_episodes_table(d, d.meta.episodes.remove_columns("dataset_from_index")),
        TypeError,
        r"dataset must be a LeRobot dataset: v3 with `meta\.episodes` columns 'dataset_from_index'",
    ),
    "v2.1-style dict in place of the table": (
        lambda d: with_episodes_table(d, V21_EPISODES),
        TypeError,
        r"or v2\.x with `episode_data_index` entries 'from' and 'to'; got LeRobotDataset",
    ),
    "dict of columns without dataset_to_index": (
        lambda d: with_episodes_table(d, v3_columns(d, dataset_to_index=None)),
        TypeError,
        r"meta\.episodes has no 'dataset_to_index'",
    ),
    "float boundaries": (
        lambda d: with_episodes_table(
            d,
            v3_columns(
                d, dataset_from_index=[float(i) for i in d.meta.episodes["dataset_from_index"]]
            ),
        ),
        TypeError,
        r"meta\.episodes\['dataset_from_index'\] must hold integers",
    ),
    "no episodes table": (
        lambda d: with_episodes_table(d, None),
        TypeError,
        r"dataset must be a LeRobot dataset",
    ),
    # Set on a loaded dataset: LeRobot 0.6.1 itself only warns about an out-of-range episode, finds
    # its local files insufficient and goes to the Hub for them (offline: OfflineModeIsEnabled).
    "selection naming an absent episode": (
        lambda d: with_selection(d, [1, 99]),
        ValueError,
        r"dataset\.episodes names episode 99, absent from meta\.episodes",
    ),
    "selection that is a string": (
        lambda d: with_selection(d, "1,4"),
        TypeError,
        r"dataset\.episodes must be a 1-D sequence of ints, got str",
    ),
    "the metadata, not the dataset": (
        lambda d: d.meta,
        TypeError,
        r"dataset must be a LeRobot dataset.*got LeRobotDatasetMetadata",
    ),
    "the HF dataset, not the LeRobot dataset": (
        lambda d: d.hf_dataset,
        TypeError,
        r"dataset must be a LeRobot dataset.*got Dataset",
    ),
    "the repo id": (lambda d: REPO_ID, TypeError, r"dataset must be a LeRobot dataset.*got str"),
    "None": (lambda d: None, TypeError, r"dataset must be a LeRobot dataset.*got NoneType"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_a_bad_dataset_object_is_refused_with_what_was_expected(cases, name):
    make_bad, error, message = BAD[name]
    bad = make_bad(cases["episodes"][0])
    with pytest.raises(error, match=message):
        EpisodeAwareSampler.from_lerobot(bad, shuffle=True)


def test_bad_objects_leave_the_real_dataset_untouched(cases):
    dataset, selected, _ = cases["episodes"]
    for make_bad, _, _ in BAD.values():
        make_bad(dataset)
    assert dataset.episodes == [4, 1, 5, 1]
    assert "dataset_to_index" in dataset.meta.episodes.column_names
    assert sorted(EpisodeAwareSampler.from_lerobot(dataset)) == kept_rows(
        dataset, LENGTHS, selected
    )
