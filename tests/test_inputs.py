"""Every input rule of the contract: the documented error, naming the argument and the value."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from episampler import EpisodeAwareSampler

from .support import FROM, TO, make


@pytest.mark.parametrize(
    "convert",
    [
        list,
        tuple,
        lambda v: np.asarray(v, dtype=np.int64),
        lambda v: np.asarray(v, dtype=np.int32),
        lambda v: np.asarray(v, dtype=np.uint16),
        lambda v: np.asarray(v, dtype=np.uint64),
        lambda v: torch.tensor(v, dtype=torch.int64),
        lambda v: torch.tensor(v, dtype=torch.int32),
        lambda v: (x for x in v),
    ],
    ids=["list", "tuple", "int64", "int32", "uint16", "uint64", "torch64", "torch32", "gen"],
)
def test_boundaries_accept_any_integer_sequence(convert):
    sampler = EpisodeAwareSampler(convert(FROM), convert(TO))
    assert list(sampler) == list(range(0, 22)) + list(range(25, 31))


def test_boundaries_accept_a_datasets_column():
    datasets = pytest.importorskip("datasets")
    table = datasets.Dataset.from_dict({"dataset_from_index": FROM, "dataset_to_index": TO})
    sampler = EpisodeAwareSampler(table["dataset_from_index"], table["dataset_to_index"])
    assert sampler.num_frames == 28


@pytest.mark.parametrize(
    "bad",
    [
        [0.0, 10.0, 25.0],
        np.asarray([0.0, 10.0, 25.0]),
        torch.tensor([0.0, 10.0, 25.0]),
        [False, True, True],
        np.asarray([False, True, True]),
        torch.tensor([False, True, True]),
        ["0", "10", "25"],
        "0, 10, 25",
        5,
        None,
    ],
)
def test_non_integer_boundaries_are_a_type_error(bad):
    with pytest.raises(TypeError, match="dataset_from_indices"):
        EpisodeAwareSampler(bad, TO)


def test_boundaries_must_be_one_dimensional():
    with pytest.raises(ValueError, match=r"dataset_to_indices must be 1-D.*\(1, 3\)"):
        EpisodeAwareSampler(FROM, [TO])


def test_boundaries_must_have_equal_lengths():
    with pytest.raises(ValueError, match="same length, got 3 and 2"):
        EpisodeAwareSampler(FROM, TO[:2])


def test_boundaries_need_at_least_one_episode():
    with pytest.raises(ValueError, match="at least one episode"):
        EpisodeAwareSampler([], [])


def test_negative_boundary_names_the_episode():
    with pytest.raises(ValueError, match=r"dataset_from_indices.*\[1\] = -4.*episode 1"):
        EpisodeAwareSampler([0, -4, 25], TO)
    with pytest.raises(ValueError, match=r"dataset_to_indices.*\[2\] = -1"):
        EpisodeAwareSampler([0, 10, 25], [10, 22, -1])


def test_boundary_beyond_int64_is_a_value_error():
    with pytest.raises(ValueError, match="dataset_to_indices"):
        EpisodeAwareSampler([0], [2**64])
    with pytest.raises(ValueError, match="dataset_to_indices must be < 2\\*\\*63"):
        EpisodeAwareSampler(np.asarray([0], np.uint64), np.asarray([2**63], np.uint64))


def test_episode_ending_before_it_starts_names_the_episode():
    with pytest.raises(ValueError, match=r"episode 1 ends before it starts.*= 10 > .* = 9"):
        EpisodeAwareSampler([0, 10, 25], [10, 9, 31])


def test_overlapping_episodes_name_both():
    with pytest.raises(ValueError, match=r"overlap: episode 0 \[0, 12\) and episode 1 \[10, 22\)"):
        EpisodeAwareSampler([0, 10, 25], [12, 22, 31])


def test_episodes_may_come_in_any_order_and_touch():
    sampler = EpisodeAwareSampler([25, 0, 10], [31, 10, 25])
    # Boundary order, not frame order.
    assert list(sampler) == list(range(25, 31)) + list(range(0, 25))


@pytest.mark.parametrize("bad", [-1, 3, 100])
def test_episode_ids_out_of_range_are_a_value_error(bad):
    with pytest.raises(ValueError, match=rf"episode_indices_to_use .*\[0, 3\), got {bad}"):
        EpisodeAwareSampler(FROM, TO, [0, bad])


def test_episode_ids_must_be_integers():
    with pytest.raises(TypeError, match="episode_indices_to_use"):
        EpisodeAwareSampler(FROM, TO, [0.0, 1.0])


def test_episode_ids_collapse_duplicates_and_ignore_order():
    assert list(EpisodeAwareSampler(FROM, TO, [2, 0, 2, 0])) == list(range(10)) + list(
        range(25, 31)
    )


@pytest.mark.parametrize("name", ["drop_n_first_frames", "drop_n_last_frames"])
def test_drops_must_be_non_negative_ints(name):
    # LeRobot's phrase first (its users' tests match on it), our range after it.
    with pytest.raises(ValueError, match=rf"^{name} must be >= 0, got -1 .*\[0, 2\*\*63\)"):
        EpisodeAwareSampler(FROM, TO, **{name: -1})
    with pytest.raises(TypeError, match=name):
        EpisodeAwareSampler(FROM, TO, **{name: 1.5})
    with pytest.raises(TypeError, match=name):
        EpisodeAwareSampler(FROM, TO, **{name: True})


def test_skipped_episodes_give_one_warning_with_their_count():
    with pytest.warns(UserWarning, match=r"^2 selected episode\(s\) have no frame left") as record:
        sampler = EpisodeAwareSampler([0, 10, 20, 30], [10, 13, 22, 40], drop_n_first_frames=3)
    assert len(record) == 1
    assert list(sampler) == list(range(3, 10)) + list(range(33, 40))


def test_empty_episodes_count_as_skipped():
    with pytest.warns(UserWarning, match=r"^1 selected episode"):
        sampler = EpisodeAwareSampler([0, 5, 5], [5, 5, 9])
    assert list(sampler) == list(range(9))


def test_no_frame_left_is_a_value_error():
    with pytest.raises(ValueError, match=r"^No valid frames remain .*3 selected episode"):
        make(drop_n_first_frames=6, drop_n_last_frames=6)
    with pytest.raises(ValueError, match=r"^No valid frames remain .*selects no episode"):
        EpisodeAwareSampler(FROM, TO, episode_indices_to_use=[])


@pytest.mark.parametrize("seed", [2**64, 2**70])
def test_seed_out_of_range(seed):
    with pytest.raises(ValueError, match=rf"seed must be in \[0, 2\*\*64\), got {seed}"):
        EpisodeAwareSampler(FROM, TO, shuffle=True, seed=seed)
    with pytest.raises(ValueError, match=r"seed must be >= 0, got -1 .*\[0, 2\*\*64\)"):
        EpisodeAwareSampler(FROM, TO, shuffle=True, seed=-1)


def test_seed_must_be_an_int():
    with pytest.raises(TypeError, match="seed"):
        EpisodeAwareSampler(FROM, TO, shuffle=True, seed=1.0)


def test_largest_seed_is_accepted():
    assert make(shuffle=True, seed=2**64 - 1).seed == 2**64 - 1


def test_unknown_permutation():
    with pytest.raises(ValueError, match=r"permutation must be one of.*'random'"):
        EpisodeAwareSampler(FROM, TO, shuffle=True, permutation="random")
    with pytest.raises(TypeError, match="permutation"):
        EpisodeAwareSampler(FROM, TO, shuffle=True, permutation=1)


@pytest.mark.parametrize("num_replicas", [0, -2])
def test_num_replicas_below_one(num_replicas):
    with pytest.raises(
        ValueError, match=rf"num_replicas must be >= 1, got {num_replicas} .*\[1, 2\*\*63\)"
    ):
        EpisodeAwareSampler(FROM, TO, num_replicas=num_replicas)


@pytest.mark.parametrize("rank", [-1, 2, 3])
def test_rank_outside_replicas(rank):
    with pytest.raises(ValueError, match=rf"rank must be (>= 0|in \[0, 2\)), got {rank}"):
        EpisodeAwareSampler(FROM, TO, num_replicas=2, rank=rank)


def test_flags_must_be_bools():
    with pytest.raises(TypeError, match="shuffle"):
        EpisodeAwareSampler(FROM, TO, shuffle="yes")
    with pytest.raises(TypeError, match="drop_last"):
        EpisodeAwareSampler(FROM, TO, drop_last=1)


def test_remap_must_cover_every_kept_frame():
    mapping = {frame: frame - 10 for frame in range(10, 31)}
    with pytest.raises(ValueError, match="absolute_to_relative_idx has no entry for kept frame 0"):
        EpisodeAwareSampler(FROM, TO, absolute_to_relative_idx=mapping)
    with pytest.raises(ValueError, match="no entry for kept frame 30"):
        EpisodeAwareSampler(FROM, TO, absolute_to_relative_idx=np.arange(30))
    with pytest.raises(TypeError, match="absolute_to_relative_idx values"):
        EpisodeAwareSampler(FROM, TO, absolute_to_relative_idx={f: 0.5 for f in range(31)})


def test_remap_is_applied_to_every_index(permutation):
    # A filtered LeRobot dataset: episodes 1 and 2 kept, rows renumbered from 0.
    frames = list(range(10, 22)) + list(range(25, 31))
    mapping = {frame: row for row, frame in enumerate(frames)}
    plain = make(FROM, TO, [1, 2], shuffle=True, seed=5, permutation=permutation)
    mapped = make(
        FROM,
        TO,
        [1, 2],
        shuffle=True,
        seed=5,
        absolute_to_relative_idx=mapping,
        permutation=permutation,
    )
    assert list(mapped) == [mapping[f] for f in plain]
    assert sorted(mapped.epoch_indices()) == list(range(18))


def test_remap_is_not_a_dict_lookup_per_sample():
    class CountingDict(dict):
        lookups = 0

        def __getitem__(self, key):
            type(self).lookups += 1
            return super().__getitem__(key)

    mapping = CountingDict({frame: frame + 1 for frame in range(31)})
    sampler = make(shuffle=True, absolute_to_relative_idx=mapping)
    built = CountingDict.lookups
    assert built == sampler.num_frames
    for _ in range(3):
        list(sampler)
    assert CountingDict.lookups == built


def test_no_input_surfaces_a_rust_panic():
    # Extremes that could overflow in the core: huge boundaries, drops, seeds and replicas.
    big = 2**63 - 1
    cases = [
        lambda: EpisodeAwareSampler([big - 5], [big], drop_n_first_frames=2**64 - 1),
        lambda: EpisodeAwareSampler(
            [0], [big], drop_n_first_frames=2**63, drop_n_last_frames=2**63
        ),
        lambda: list(EpisodeAwareSampler([big - 3], [big], shuffle=True, num_replicas=2**62)),
        lambda: EpisodeAwareSampler([0], [3]).load_state_dict({"epoch": 2**63, "start_index": 0}),
        lambda: EpisodeAwareSampler([0], [3]).set_epoch(2**64),
        lambda: EpisodeAwareSampler([0], [3]).epoch_indices(-1),
        lambda: EpisodeAwareSampler([0], [3], drop_n_first_frames=2**64),
    ]
    for case in cases:
        try:
            case()
        except (ValueError, TypeError):
            pass
        except BaseException as error:  # a PanicException derives from BaseException
            pytest.fail(f"unexpected {type(error).__name__}: {error}")


@pytest.mark.parametrize("epoch", [-1, 2**63 + 1])
def test_epoch_limits_read_as_powers_of_two(epoch):
    with pytest.raises(ValueError, match=r"\[0, 2\*\*63\]"):
        EpisodeAwareSampler([0], [5]).set_epoch(epoch)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (True, "True"),
        (np.bool_(False), "False"),
        (torch.tensor(True), "True"),
        (torch.tensor([True]), "True"),
        (torch.tensor([[False]]), "False"),
        (np.array(True), "True"),
        (np.array([False]), "False"),
    ],
    ids=["bool", "numpy-bool", "tensor-0d", "tensor-1", "tensor-1x1", "array-0d", "array-1"],
)
def test_a_boolean_scalar_is_not_an_int(value, shown):
    import operator

    from episampler._inputs import as_int

    if isinstance(value, torch.Tensor):
        assert operator.index(value) in (0, 1)  # what let it pass as an int
    with pytest.raises(TypeError, match=f"^count must be an int, got the bool {shown}$"):
        as_int("count", value)
    with pytest.raises(TypeError, match=r"^count must be an int, got a Tensor of bools"):
        as_int("count", torch.tensor([True, False]))
    # Integer tensors and arrays of one value still are ints.
    assert as_int("count", torch.tensor(3)) == 3 and as_int("count", np.array(4)) == 4


def test_a_boolean_tensor_is_refused_where_the_api_takes_an_int():
    from episampler import compute_sampler_state

    with pytest.raises(TypeError, match="batch_size must be an int, got the bool True"):
        compute_sampler_state(3, 10, torch.tensor(True), 1)
    with pytest.raises(TypeError, match="epoch must be an int, got the bool True"):
        make(FROM, TO, shuffle=True).epoch_indices(torch.tensor(True))
