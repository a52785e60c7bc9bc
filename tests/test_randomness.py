"""The randomness battery (tests/randomness.py) on both permutations, and its teeth.

Threshold: a statistic rejects at p < ALPHA = 1e-4 (chi-squared upper tail, or two-tailed z).
A uniform source fails one given statistic with probability 1e-4; the battery runs about 80
statistics per permutation, so with fresh seeds a perfect permutation would fail some test here
with probability at most about 2 * 80 * 1e-4 = 1.6% (Bonferroni). The seeds are fixed, so
the outcome is reproducible. The weak references (a 2-round Feistel network and an affine map)
must be rejected at the same threshold by the statistics named in their tests.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

from tests.randomness import (
    ALPHA,
    SECTIONS,
    AffineMap,
    EpisamplerSource,
    Result,
    TwoRoundFeistel,
    check_permutations,
    chi2_sf,
    cycle_counts,
    normal_two_sided,
    pair_families,
)


@functools.cache
def section(name: str, source_name: str) -> tuple[Result, ...]:
    """One section's statistics for a source, computed once per test session."""
    sources = {
        "uniform": lambda: EpisamplerSource("uniform"),
        "feistel": lambda: EpisamplerSource("feistel"),
        "two_round_feistel": TwoRoundFeistel,
        "affine": AffineMap,
    }
    return tuple(SECTIONS[name](sources[source_name]()))


def assert_none_rejected(results) -> None:
    rejected = [result.describe() for result in results if result.rejected]
    assert not rejected, f"rejected at p < {ALPHA:g}:\n" + "\n".join(rejected)


def statistic(results, name: str) -> Result:
    (match,) = [result for result in results if result.name == name]
    return match


def is_parity(result: Result) -> bool:
    return result.name.startswith("parity")


# --- the library's permutations ----------------------------------------------------------------


def test_every_order_of_a_few_frames_is_equally_likely(permutation):
    """Chi-squared over all n! orders, n = 4, 5, 6, 200 * n! seeds each: 3 statistics."""
    assert_none_rejected(section("full permutation", permutation))


def test_every_frame_is_equally_likely_at_every_position(permutation):
    """Chi-squared on the 100 x 100 (position, value) table over 20000 seeds: 1 statistic."""
    assert_none_rejected(section("position frequency", permutation))


def test_structured_pairs_are_in_either_order_with_probability_one_half(permutation):
    """Pairs (2t+1, 2t+2), (i, N-1-i), (i, i xor 2^k) around the Feistel half split, N = 2^16,
    2^16 + 1, 10^6, 16 seeds: pooled and per-seed binomial z, 48 statistics."""
    assert_none_rejected(section("pair order", permutation))


def test_orders_are_uncorrelated_with_positions_epochs_and_seeds(permutation):
    """Spearman z between position and value, epochs e and e+1, seeds s and s+1 (by value and
    by frame), N = 2^16 + 1 and 10^6, 5 seeds: pooled and per-seed, 20 statistics."""
    assert_none_rejected(section("rank correlation", permutation))


def test_cycle_counts_and_fixed_points_follow_the_uniform_laws(permutation):
    """Mean cycle count against H_N and fixed points against Poisson(1), n = 1000 (4000 seeds)
    and 2^16 (200 seeds): 4 statistics (parity is the next test)."""
    assert_none_rejected([r for r in section("cycles", permutation) if not is_parity(r)])


def test_odd_and_even_permutations_are_equally_likely(permutation):
    """Share of odd permutations against 1/2 (binomial z), n = 1000 (4000 seeds) and 2^16
    (200 seeds): 2 statistics. A Feistel network over halves of 2 bits or more is an even
    permutation and cycle walking keeps most of that (before version 2's keyed transposition
    every "feistel" order of 2^16 frames was even, and 89 of 4000 of 1000 frames were odd)."""
    assert_none_rejected([r for r in section("cycles", permutation) if is_parity(r)])


def test_first_outputs_are_spread_over_the_deciles(permutation):
    """Deciles of the first 10^5 values, N = 10^7 (16 seeds) and 10^8 (4 seeds for "feistel",
    1 for "uniform"): pooled and per-seed chi-squared, 3 or 4 statistics."""
    assert_none_rejected(section("deciles", permutation))


# --- teeth: the same statistics reject weak permutations ---------------------------------------


def test_battery_rejects_two_round_feistel():
    """Two rounds keep the input's high half, XORed with F1(low half), in the output's high
    half: the first outputs cluster (deciles), pairs differing in a high bit keep their order
    for every input with the same low half (pair order per seed), and the network barely mixes
    across the whole range (position~value)."""
    deciles = section("deciles", "two_round_feistel")
    pairs = section("pair order", "two_round_feistel")
    ranks = section("rank correlation", "two_round_feistel")
    for result in [
        statistic(deciles, "deciles of first 100000 N=10000000 pooled"),
        statistic(deciles, "deciles of first 100000 N=10000000 per-seed"),
        statistic(pairs, "xor 2^10 N=1000000 per-seed"),  # 2^10: lowest bit of the high half
        statistic(ranks, "position~value N=1000000 pooled"),
    ]:
        assert result.rejected, result.describe()


def test_battery_rejects_affine_map():
    """Only n * phi(n) of the n! orders are reachable (8 of 24 for n = 4), consecutive
    positions are a fixed distance apart, and cycles have the structure of x -> a x + b."""
    full = section("full permutation", "affine")
    pairs = section("pair order", "affine")
    cycles = section("cycles", "affine")
    for result in [
        statistic(full, "orders n=4 (200/order)"),
        statistic(full, "orders n=6 (200/order)"),
        statistic(pairs, "adjacent N=1000000 per-seed"),
        statistic(cycles, "mean cycle count n=1000 (4000 seeds)"),
    ]:
        assert result.rejected, result.describe()


# --- the battery's own parts -------------------------------------------------------------------


def test_p_values_match_known_values():
    assert chi2_sf(3.841458820694124, 1) == pytest.approx(0.05, rel=1e-9)
    assert chi2_sf(21.665994333461924, 9) == pytest.approx(0.01, rel=1e-9)
    for x in [0.5, 10.0, 300.0]:  # two dof: exp(-x / 2)
        assert chi2_sf(x, 2) == pytest.approx(math.exp(-x / 2), rel=1e-12)
    # Large dof: Wilson-Hilferty is accurate to a few 1e-4 here.
    dof = 9801
    for x in [9500.0, 9801.0, 10200.0]:
        cube = (x / dof) ** (1 / 3)
        z = (cube - (1 - 2 / (9 * dof))) / math.sqrt(2 / (9 * dof))
        assert chi2_sf(x, dof) == pytest.approx(0.5 * math.erfc(z / math.sqrt(2)), abs=1e-3)
    assert normal_two_sided(3.890591886413094) == pytest.approx(1e-4, rel=1e-9)
    assert chi2_sf(1e5, 9) == 0.0


def test_cycle_counts_match_a_direct_count():
    rng = np.random.default_rng(7)
    perms = np.stack([rng.permutation(50) for _ in range(20)])
    for row, count in zip(perms, cycle_counts(perms), strict=True):
        seen, direct = set(), 0
        for start in range(50):
            direct += start not in seen
            while start not in seen:
                seen.add(start)
                start = int(row[start])
        assert count == direct
    assert list(cycle_counts(np.array([[0, 1, 2], [1, 2, 0], [1, 0, 2]]))) == [3, 1, 2]


@pytest.mark.parametrize("source", [TwoRoundFeistel(), AffineMap()], ids=repr)
def test_weak_references_are_seeded_permutations(source):
    for n in [1, 2, 6, 100, 257, 65_537]:
        perms = source.many([0, 1, 2**64 - 1], 3, n)
        check_permutations(perms)
        assert np.array_equal(perms[1], source.full(1, 3, n))
        assert np.array_equal(source.prefix(1, 3, n, min(n, 10)), perms[1][:10])
        assert np.array_equal(source.full(1, 3, n), source.full(1, 3, n))
        if n > 6:
            assert not np.array_equal(perms[0], perms[1])
            assert not np.array_equal(source.full(1, 3, n), source.full(1, 4, n))


def test_library_prefix_is_the_start_of_the_epoch(permutation):
    source = EpisamplerSource(permutation)
    for n, epoch in [(10, 0), (1000, 2), (70_000, 1)]:
        assert np.array_equal(source.prefix(5, epoch, n, 7), source.full(5, epoch, n)[:7])


def test_pair_families_are_disjoint_pairs_that_straddle_the_feistel_split():
    families = pair_families(1_000_000)  # width 20: low half 10 bits
    assert {"adjacent", "mirror", "xor 2^9", "xor 2^10", "xor 2^11"} <= set(families)
    for left, right in families.values():
        both = np.concatenate([left, right])
        assert both.min() >= 0 and both.max() < 1_000_000
        assert np.bincount(both, minlength=1_000_000).max() == 1
