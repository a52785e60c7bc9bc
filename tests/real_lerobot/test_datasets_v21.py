"""`EpisodeAwareSampler.from_lerobot` on real LeRobot 0.3 datasets (format v2.1), recorded by
LeRobot's own writer into a temporary folder and loaded by `LeRobotDataset`, offline.

A v2.1 dataset's `meta.episodes` is a dict `{episode: {"episode_index", "tasks", "length"}}`
without boundaries; the boundaries of the loaded episodes are `episode_data_index["from" / "to"]`,
already in dataset rows (an `episodes=` selection is loaded in the order given). LeRobot 0.3 has
no `episode_filter` and no `eval_split`; its train/eval-style selections are `episodes=` lists.

Two LeRobot 0.3.3 defects limit what can be loaded, whatever the sampler; the last tests pin them:
`delta_timestamps` read the wrong episode's boundaries unless the selection is `[0, 1, ..., k-1]`,
and a selection with a duplicate cannot be loaded at all.
"""

from __future__ import annotations

import copy
import os
import shutil

import pytest

from tests.real_lerobot.conftest import require_lerobot

require_lerobot("0.3")
# Before huggingface_hub is first imported: it reads these once. Nothing here needs the Hub.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"

import torch  # noqa: E402
from lerobot.datasets.lerobot_dataset import LeRobotDataset  # noqa: E402
from lerobot.datasets.sampler import EpisodeAwareSampler as LeRobotSampler  # noqa: E402

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

REPO_ID = "episampler/real-v21"
FPS = 10
LENGTHS = [12, 9, 15, 11, 14]
DELTAS = {ACTION: [-0.1, 0.0, 0.1], CAMERA: [-0.1, 0.0]}
FIRST, LAST = 2, 3  # drop_n_first_frames, drop_n_last_frames
SEEDS = (0, 1, 2**40 + 3)
ALL = set(range(len(LENGTHS)))
UNSORTED = [4, 1, 3]

pytestmark = pytest.mark.filterwarnings(
    # LeRobot 0.3.3's `encode_video_frames` opens each episode's first PNG for its size and never
    # closes it (lerobot/datasets/video_utils.py: `dummy_image = Image.open(input_list[0])`).
    r"ignore:unclosed file <_io\.BufferedReader name='.*/frame_000000\.png'>:ResourceWarning"
)


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
        tmp_path_factory.mktemp("recorded"), REPO_ID, LENGTHS, video=True, fps=FPS
    )


@pytest.fixture(scope="module")
def cases(root):
    """name -> (dataset, its selected episodes, its delta_timestamps)."""

    def load(deltas, **kwargs):
        return LeRobotDataset(REPO_ID, root=root, delta_timestamps=deltas, **kwargs), deltas

    cases = {
        "all": (*load(DELTAS), ALL),
        # The train half of a split that holds out the last episodes: the only kind of selection
        # whose delta_timestamps LeRobot 0.3.3 reads right.
        "episodes-0-1-2": (*load(DELTAS, episodes=[0, 1, 2]), {0, 1, 2}),
        # Unsorted, and not 0..k-1: loads, but only without delta_timestamps (see the end).
        "episodes-4-1-3": (*load(None, episodes=UNSORTED), set(UNSORTED)),
        "episodes-3-4": (*load(None, episodes=[3, 4]), {3, 4}),
    }
    return {
        name: (dataset, selected, deltas) for name, (dataset, deltas, selected) in cases.items()
    }


CASES = ["all", "episodes-0-1-2", "episodes-4-1-3", "episodes-3-4"]


def lerobot_sampler(dataset, first: int = 0, last: int = 0) -> LeRobotSampler:
    """LeRobot 0.3's sampler, built as its train script builds it (plus `drop_n_first_frames`)."""
    return LeRobotSampler(
        dataset.episode_data_index,
        drop_n_first_frames=first,
        drop_n_last_frames=last,
        shuffle=False,
    )


def test_the_cases_hold_their_episodes_in_the_order_selected(cases):
    for name, (dataset, selected, _) in cases.items():
        order = sorted(selected) if dataset.episodes is None else dataset.episodes
        episodes, frames = row_identities(dataset)
        assert list(zip(episodes.tolist(), frames.tolist(), strict=True)) == [
            (e, f) for e in order for f in range(LENGTHS[e])
        ], name
        # The v2.1 layout: a dict without boundaries, and the loaded episodes' rows apart.
        assert isinstance(dataset.meta.episodes, dict)
        assert "dataset_from_index" not in dataset.meta.episodes
        lengths = [LENGTHS[e] for e in order]
        assert dataset.episode_data_index["to"].tolist() == torch.tensor(lengths).cumsum(0).tolist()


@pytest.mark.parametrize("case", CASES)
def test_from_lerobot_reads_a_v21_dataset(cases, case):
    """The regression: a v2.1 dataset has a `meta.episodes` (a dict), which once sent
    `from_lerobot` down the v3 branch to a `KeyError: 'dataset_from_index'`."""
    dataset, selected, _ = cases[case]
    sampler = EpisodeAwareSampler.from_lerobot(dataset)
    assert len(sampler) == len(dataset) == sum(LENGTHS[e] for e in selected)
    assert list(sampler) == list(range(len(dataset)))


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
        # Rows in ascending order, i.e. episodes in the order the selection loaded them.
        assert list(ours) == kept_rows(dataset, LENGTHS, selected, first, last)


def test_drop_that_empties_an_episode_skips_it_like_lerobot(cases, permutation):
    dataset, _, _ = cases["episodes-4-1-3"]  # episodes 4, 1, 3: episode 1 has 9 frames
    first, last = 4, 5
    with pytest.warns(UserWarning, match="1 selected episode"):
        ours = EpisodeAwareSampler.from_lerobot(
            dataset, drop_n_first_frames=first, drop_n_last_frames=last
        )
    assert list(ours) == list(lerobot_sampler(dataset, first, last))
    assert list(ours) == kept_rows(dataset, LENGTHS, {4, 3}, first, last)
    with pytest.warns(UserWarning, match="1 selected episode"):
        shuffled = EpisodeAwareSampler.from_lerobot(
            dataset,
            drop_n_first_frames=first,
            drop_n_last_frames=last,
            shuffle=True,
            permutation=permutation,
        )
    assert sorted(shuffled) == list(ours)


@pytest.fixture(scope="module")
def loader_root(root, tmp_path_factory):
    """A copy of the recorded dataset, whose videos no test decodes in this process before the
    DataLoader forks its workers."""
    copy_root = tmp_path_factory.mktemp("loader") / REPO_ID
    shutil.copytree(root, copy_root)
    return copy_root


@pytest.mark.parametrize(
    ("episodes", "deltas", "permutation"),
    [(None, DELTAS, "uniform"), (UNSORTED, None, "feistel")],
    ids=["all-with-deltas", "unsorted-episodes"],
)
def test_dataloader_workers_yield_the_rows_the_sampler_names(
    loader_root, episodes, deltas, permutation
):
    selected = ALL if episodes is None else set(episodes)
    dataset = LeRobotDataset(REPO_ID, root=loader_root, episodes=episodes, delta_timestamps=deltas)
    sampler = EpisodeAwareSampler.from_lerobot(
        dataset,
        drop_n_first_frames=1,
        drop_n_last_frames=1,
        shuffle=True,
        seed=11,
        permutation=permutation,
    )
    check_loader_rows(dataset, sampler, selected, deltas, lengths=LENGTHS, fps=FPS)


# --- Bad dataset objects: a TypeError or ValueError that says what was expected ----------------


def with_episode_data_index(dataset, episode_data_index):
    bad = copy.copy(dataset)
    bad.episode_data_index = episode_data_index
    return bad


EXPECTED = (
    r"dataset must be a LeRobot dataset: v3 with `meta\.episodes` columns 'dataset_from_index' "
    r"and 'dataset_to_index', or v2\.x with `episode_data_index` entries 'from' and 'to'"
)
BAD = {
    "episode_data_index without 'to'": (
        lambda d: with_episode_data_index(d, {"from": d.episode_data_index["from"]}),
        TypeError,
        EXPECTED + r"; episode_data_index has no 'to'",
    ),
    "episode_data_index without 'from'": (
        lambda d: with_episode_data_index(d, {"to": d.episode_data_index["to"]}),
        TypeError,
        EXPECTED + r"; episode_data_index has no 'from'",
    ),
    "no episode_data_index (meta.episodes is no table)": (
        lambda d: with_episode_data_index(d, None),
        TypeError,
        EXPECTED + r"; got LeRobotDataset",
    ),
    "a list in place of episode_data_index": (
        lambda d: with_episode_data_index(d, [0, 12]),
        TypeError,
        EXPECTED + r"; episode_data_index has no 'from'",
    ),
    "float boundaries": (
        lambda d: with_episode_data_index(
            d, {key: value.double() for key, value in d.episode_data_index.items()}
        ),
        TypeError,
        r"episode_data_index\['from'\] must hold integers",
    ),
    "'from' and 'to' of different lengths": (
        lambda d: with_episode_data_index(
            d, {"from": d.episode_data_index["from"][:-1], "to": d.episode_data_index["to"]}
        ),
        ValueError,
        r"must have the same length, got 2 and 3",
    ),
    "'from' and 'to' swapped": (
        lambda d: with_episode_data_index(
            d, {"from": d.episode_data_index["to"], "to": d.episode_data_index["from"]}
        ),
        ValueError,
        r"episode 0 ends before it starts",
    ),
    "the metadata, not the dataset": (
        lambda d: d.meta,
        TypeError,
        EXPECTED + r"; got LeRobotDatasetMetadata",
    ),
    "the HF dataset, not the LeRobot dataset": (
        lambda d: d.hf_dataset,
        TypeError,
        EXPECTED + r"; got Dataset",
    ),
    "the repo id": (lambda d: REPO_ID, TypeError, EXPECTED + r"; got str"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_a_bad_dataset_object_is_refused_with_what_was_expected(cases, name):
    make_bad, error, message = BAD[name]
    bad = make_bad(cases["episodes-4-1-3"][0])
    with pytest.raises(error, match=message):
        EpisodeAwareSampler.from_lerobot(bad, shuffle=True)


def test_bad_objects_leave_the_real_dataset_untouched(cases):
    dataset, selected, _ = cases["episodes-4-1-3"]
    for make_bad, _, _ in BAD.values():
        make_bad(dataset)
    assert set(dataset.episode_data_index) == {"from", "to"}
    assert list(EpisodeAwareSampler.from_lerobot(dataset)) == kept_rows(dataset, LENGTHS, selected)


# --- LeRobot 0.3.3 defects, pinned: they fail whatever the sampler -----------------------------


@pytest.mark.parametrize(
    ("episodes", "symptom"),
    [([1, 2], "wrong episode"), (UNSORTED, IndexError)],
    ids=["sorted-not-from-0", "unsorted"],
)
def test_lerobot_0_3_delta_timestamps_need_episodes_0_to_k(root, episodes, symptom):
    """`LeRobotDataset._get_query_indices(idx, ep_idx)` looks up `episode_data_index["from" /
    "to"][ep_idx]` by episode id, while that index holds the loaded episodes by position. For a
    selection other than [0, ..., k-1], items with delta_timestamps come from another episode's
    boundaries: silently wrong frames, or an IndexError when the id exceeds the selection's size.
    The sampler's rows are right (they hold the selected episodes' frames); the item is not."""
    dataset = LeRobotDataset(REPO_ID, root=root, episodes=episodes, delta_timestamps=DELTAS)
    sampler = EpisodeAwareSampler.from_lerobot(dataset, shuffle=True)
    assert sorted(sampler) == kept_rows(dataset, LENGTHS, set(episodes))
    row = int(dataset.episode_data_index["from"][0])  # the first frame of episodes[0]
    if symptom is IndexError:
        with pytest.raises(IndexError):
            dataset[row]
    else:
        item = dataset[row]
        assert int(item["episode_index"]) == episodes[0]
        windows = item[ACTION][:, 0].tolist()  # the episode each action of the window is from
        assert windows != [episodes[0]] * len(DELTAS[ACTION])


def test_lerobot_0_3_cannot_load_a_selection_with_a_duplicate(root):
    """`load_hf_dataset` reads one parquet file per listed episode, duplicates included, while
    `get_episode_data_index` keys the episodes by id (duplicates collapse): the loaded rows
    outnumber the boundaries and `check_timestamps_sync` refuses the dataset."""
    with pytest.raises(ValueError, match="timestamps unexpectedly violate the tolerance"):
        LeRobotDataset(REPO_ID, root=root, episodes=[4, 1, 4])


def test_group_by_needs_a_v3_dataset(cases):
    dataset, _, _ = cases["all"]
    for group_by in ("video_file", "data_file"):
        with pytest.raises(ValueError, match="needs a v3 dataset"):
            EpisodeAwareSampler.from_lerobot(dataset, shuffle=True, window=8, group_by=group_by)
