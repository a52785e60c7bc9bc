"""A statistical battery for seeded permutations, and weak permutations that prove it has teeth.

A *source* maps `(seed, epoch, n)` to a permutation of `range(n)` as an int64 array (position ->
value). `EpisamplerSource` wraps the library's two permutations; `TwoRoundFeistel` and
`AffineMap` are deliberately weak references written with numpy. Every section below takes a
source and returns `Result`s; `run_battery` runs them all, so the same code scores the library
and the weak references.

Every statistic is a chi-squared or a standard normal under the hypothesis "each permutation is
uniform and independent of the others" and gets a p-value (upper tail for chi-squared, two
tails for z). A statistic rejects when p < ALPHA = 1e-4. The battery computes about 80
statistics per source, so the chance that a truly uniform source fails at least one is at most
about 80 * 1e-4 = 0.8% (Bonferroni). Seeds are fixed (a SplitMix64 stream per section), so a
run is reproducible: the same source gives the same numbers every time.

`python -m tests.randomness` runs the whole battery on the four sources and writes
docs/randomness_results.md (deterministic: no timings, no machine details).
"""

from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from episampler import EpisodeAwareSampler

ALPHA = 1e-4
"""Per-statistic rejection threshold (false-alarm rate of one statistic on a uniform source)."""

MASK64 = (1 << 64) - 1
GOLDEN_GAMMA = 0x9E37_79B9_7F4A_7C15


# --- seeds -------------------------------------------------------------------------------------


def mix64(z: int) -> int:
    """SplitMix64's output function on a Python int (a bijection of [0, 2**64))."""
    z &= MASK64
    z = ((z ^ (z >> 30)) * 0xBF58_476D_1CE4_E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D0_49BB_1331_11EB) & MASK64
    return z ^ (z >> 31)


def absorb(state: int, word: int) -> int:
    return mix64(state ^ mix64(word + GOLDEN_GAMMA))


def seed_stream(label: str, count: int) -> list[int]:
    """`count` distinct seeds in [0, 2**64), a pure function of `label` (SplitMix64 outputs at
    consecutive counters: distinct because mix64 is a bijection)."""
    root = 0
    for byte in label.encode():
        root = absorb(root, byte)
    return [mix64(root + (i + 1) * GOLDEN_GAMMA) for i in range(count)]


# --- p-values (no scipy) -----------------------------------------------------------------------


def _regularized_upper_gamma(a: float, x: float) -> float:
    """Q(a, x) = Gamma(a, x) / Gamma(a): series below a + 1, Lentz's continued fraction above
    (Numerical Recipes 6.2); relative accuracy about 1e-14."""
    if x <= 0:
        return 1.0
    log_prefactor = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1:
        term = total = 1.0 / a
        denominator = a
        for _ in range(1_000_000):
            denominator += 1
            term *= x / denominator
            total += term
            if term < total * 1e-17:
                break
        return max(0.0, 1.0 - math.exp(log_prefactor + math.log(total)))
    tiny = 1e-300
    b = x + 1 - a
    c = 1 / tiny
    d = 1 / b
    h = d
    for i in range(1, 1_000_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-16:
            break
    return math.exp(log_prefactor) * h


def chi2_sf(statistic: float, dof: int) -> float:
    """Upper tail P[X >= statistic] of a chi-squared with `dof` degrees of freedom."""
    return _regularized_upper_gamma(dof / 2, statistic / 2)


def normal_two_sided(z: float) -> float:
    """P[|Z| >= |z|] for a standard normal Z."""
    return math.erfc(abs(z) / math.sqrt(2))


# --- results -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    """One statistic: `kind` "chi2" (with `dof`) or "z"; `p` its p-value."""

    section: str
    name: str
    kind: str
    statistic: float
    dof: int | None
    p: float

    @property
    def rejected(self) -> bool:
        return self.p < ALPHA

    def describe(self) -> str:
        value = f"chi2={self.statistic:.6g} dof={self.dof}" if self.kind == "chi2" else ""
        value = value or f"z={self.statistic:+.4f}"
        return f"{self.name}: {value} p={self.p:.3g} ({'REJECT' if self.rejected else 'ok'})"


def chi2_result(section: str, name: str, observed, expected, dof: int) -> Result:
    observed = np.asarray(observed, dtype=np.float64)
    expected = np.broadcast_to(np.asarray(expected, dtype=np.float64), observed.shape)
    statistic = float(np.sum((observed - expected) ** 2 / expected))
    return Result(section, name, "chi2", statistic, dof, chi2_sf(statistic, dof))


def z_result(section: str, name: str, z: float) -> Result:
    return Result(section, name, "z", float(z), None, normal_two_sided(z))


def z_family(section: str, name: str, zs: Sequence[float]) -> list[Result]:
    """Per-seed z-scores combined two ways: `pooled` (Stouffer, sum z / sqrt(S): a bias shared
    by the seeds) and `per-seed` (sum z^2, chi-squared with S dof: biases that vary from seed to
    seed, such as an affine map's slope, which average out when pooled)."""
    zs = np.asarray(zs, dtype=np.float64)
    pooled = z_result(section, f"{name} pooled", float(zs.sum() / math.sqrt(len(zs))))
    spread = float(np.sum(zs**2))
    per_seed = Result(
        section, f"{name} per-seed", "chi2", spread, len(zs), chi2_sf(spread, len(zs))
    )
    return [pooled, per_seed]


# --- sources -----------------------------------------------------------------------------------


class PermutationSource:
    """A seeded permutation family: `full(seed, epoch, n)` is position -> value."""

    name = "source"
    #: Whether `prefix` costs O(k) rather than building the whole permutation.
    cheap_prefix = False

    def full(self, seed: int, epoch: int, n: int) -> np.ndarray:
        raise NotImplementedError

    def many(self, seeds: Sequence[int], epoch: int, n: int) -> np.ndarray:
        """One permutation per seed, as rows of a (len(seeds), n) array."""
        return np.stack([self.full(seed, epoch, n) for seed in seeds])

    def prefix(self, seed: int, epoch: int, n: int, k: int) -> np.ndarray:
        """The first `k` values of `full(seed, epoch, n)`."""
        return self.full(seed, epoch, n)[:k]

    def __repr__(self) -> str:
        return self.name


class EpisamplerSource(PermutationSource):
    """The library: one episode of `n` frames, shuffled."""

    def __init__(self, permutation: str) -> None:
        self.permutation = permutation
        self.name = permutation
        self.cheap_prefix = permutation == "feistel"

    def _sampler(self, seed: int, n: int) -> EpisodeAwareSampler:
        return EpisodeAwareSampler([0], [n], shuffle=True, seed=seed, permutation=self.permutation)

    def full(self, seed: int, epoch: int, n: int) -> np.ndarray:
        return self._sampler(seed, n).epoch_indices(epoch)

    def prefix(self, seed: int, epoch: int, n: int, k: int) -> np.ndarray:
        # Iterating reads values as they are made: no int64 copy of the whole epoch (and no
        # table at all for "feistel").
        sampler = self._sampler(seed, n)
        sampler.set_epoch(epoch)
        return np.fromiter(itertools.islice(iter(sampler), k), dtype=np.int64, count=k)


_MIX_1 = np.uint64(0xBF58_476D_1CE4_E5B9)
_MIX_2 = np.uint64(0x94D0_49BB_1331_11EB)


def mix64_array(z: np.ndarray) -> np.ndarray:
    """`mix64` on a uint64 array (array arithmetic wraps modulo 2**64 without warnings)."""
    z = (z ^ (z >> np.uint64(30))) * _MIX_1
    z = (z ^ (z >> np.uint64(27))) * _MIX_2
    return z ^ (z >> np.uint64(31))


class TwoRoundFeistel(PermutationSource):
    """WEAK: the library's Feistel structure (unbalanced halves, high half `width // 2` bits,
    round function `mix64(half ^ round_key)`, width at least 8, cycle walking) with only 2
    rounds. Two rounds leave the output's high half equal to `a ^ F1(b)` for input halves
    `(a, b)`: inputs sharing their low half keep their XOR difference in the high half."""

    name = "2-round Feistel (weak)"
    cheap_prefix = True
    rounds = 2
    min_width = 8
    domain = 0x7765_616B_2D66_6500  # "weak-fe\0"

    def round_keys(self, seed: int, epoch: int) -> list[int]:
        key = absorb(absorb(self.domain, seed), epoch)
        return [mix64(key + (r + 1) * GOLDEN_GAMMA) for r in range(self.rounds)]

    def _halves(self, n: int) -> tuple[int, int]:
        width = max(self.min_width, (n - 1).bit_length())
        return width // 2, width - width // 2

    def _encrypt(self, x: np.ndarray, keys: np.ndarray, high: int, low: int) -> np.ndarray:
        a_bits, b_bits = high, low
        a = x >> np.uint64(b_bits)
        b = x & np.uint64((1 << b_bits) - 1)
        for r in range(self.rounds):
            next_b = a ^ (mix64_array(b ^ keys[:, r]) & np.uint64((1 << a_bits) - 1))
            a, b = b, next_b
            a_bits, b_bits = b_bits, a_bits
        return (a << np.uint64(b_bits)) | b

    def _apply(self, positions: np.ndarray, keys: np.ndarray, n: int) -> np.ndarray:
        """The image of every position (keys: one row of round keys per position)."""
        high, low = self._halves(n)
        x = self._encrypt(positions.astype(np.uint64), keys, high, low)
        walking = np.flatnonzero(x >= np.uint64(n))
        while walking.size:
            moved = self._encrypt(x[walking], keys[walking], high, low)
            x[walking] = moved
            walking = walking[moved >= np.uint64(n)]
        return x.astype(np.int64)

    def _keys_for(self, seed: int, epoch: int, count: int) -> np.ndarray:
        keys = np.array(self.round_keys(seed, epoch), dtype=np.uint64)
        return np.broadcast_to(keys, (count, self.rounds))

    def full(self, seed: int, epoch: int, n: int) -> np.ndarray:
        return self._apply(np.arange(n), self._keys_for(seed, epoch, n), n)

    def prefix(self, seed: int, epoch: int, n: int, k: int) -> np.ndarray:
        return self._apply(np.arange(k), self._keys_for(seed, epoch, k), n)

    def many(self, seeds: Sequence[int], epoch: int, n: int) -> np.ndarray:
        keys = np.array([self.round_keys(seed, epoch) for seed in seeds], dtype=np.uint64)
        positions = np.tile(np.arange(n), len(seeds))
        return self._apply(positions, np.repeat(keys, n, axis=0), n).reshape(len(seeds), n)


class AffineMap(PermutationSource):
    """WEAK: x -> (a * x + b) mod n, with `a` uniform among the units mod n and `b` uniform in
    [0, n), both drawn from (seed, epoch). Consecutive positions are `a` apart."""

    name = "affine map (weak)"
    cheap_prefix = True
    domain = 0x6166_6669_6E65_0000  # "affine\0\0"

    def coefficients(self, seed: int, epoch: int, n: int) -> tuple[int, int]:
        state = absorb(absorb(self.domain, seed), epoch)
        b = mix64(state) % n
        counter = 1
        while True:
            a = mix64(state + counter * GOLDEN_GAMMA) % n
            if math.gcd(a, n) == 1:
                return a, b
            counter += 1

    def _values(self, positions: np.ndarray, a, b, n: int) -> np.ndarray:
        return (np.asarray(a, dtype=np.int64) * positions + np.asarray(b, dtype=np.int64)) % n

    def full(self, seed: int, epoch: int, n: int) -> np.ndarray:
        return self._values(np.arange(n), *self.coefficients(seed, epoch, n), n)

    def prefix(self, seed: int, epoch: int, n: int, k: int) -> np.ndarray:
        return self._values(np.arange(k), *self.coefficients(seed, epoch, n), n)

    def many(self, seeds: Sequence[int], epoch: int, n: int) -> np.ndarray:
        a, b = np.array([self.coefficients(seed, epoch, n) for seed in seeds]).reshape(-1, 2).T
        return self._values(np.arange(n)[None, :], a[:, None], b[:, None], n)


SOURCES: dict[str, Callable[[], PermutationSource]] = {
    "uniform": lambda: EpisamplerSource("uniform"),
    "feistel": lambda: EpisamplerSource("feistel"),
    "two_round_feistel": TwoRoundFeistel,
    "affine": AffineMap,
}


def check_permutations(perms: np.ndarray) -> None:
    """Every row of `perms` is a permutation of range(n)."""
    perms = np.atleast_2d(perms)
    expected = np.arange(perms.shape[1])
    if not np.array_equal(np.sort(perms, axis=1), np.broadcast_to(expected, perms.shape)):
        raise AssertionError("not a permutation")


# --- 1. full permutation -----------------------------------------------------------------------


def full_permutation(
    source: PermutationSource, sizes: Sequence[int] = (4, 5, 6), per_order: int = 200
) -> list[Result]:
    """Chi-squared over all n! orders of range(n): `per_order * n!` distinct seeds at epoch 0,
    expected `per_order` of each order; n! - 1 dof."""
    results = []
    for n in sizes:
        orders = math.factorial(n)
        perms = source.many(seed_stream(f"full-permutation-{n}", per_order * orders), 0, n)
        check_permutations(perms)
        weights = n ** np.arange(n, dtype=np.int64)
        all_codes = np.sort(np.array(list(itertools.permutations(range(n)))) @ weights)
        counts = np.bincount(np.searchsorted(all_codes, perms @ weights), minlength=orders)
        results.append(
            chi2_result(
                "full permutation",
                f"orders n={n} ({per_order}/order)",
                counts,
                per_order,
                orders - 1,
            )
        )
    return results


# --- 2. position frequency ---------------------------------------------------------------------


def position_frequency(
    source: PermutationSource, n: int = 100, seeds: int = 20_000
) -> list[Result]:
    """Chi-squared on the n x n table (position, value) over `seeds` seeds at epoch 0, expected
    seeds / n per cell; (n - 1)^2 dof (every row and column sums to `seeds`)."""
    counts = np.zeros(n * n, dtype=np.int64)
    chunk = max(1, 2_000_000 // n)
    all_seeds = seed_stream(f"position-frequency-{n}", seeds)
    for start in range(0, seeds, chunk):
        perms = source.many(all_seeds[start : start + chunk], 0, n)
        check_permutations(perms)
        counts += np.bincount((np.arange(n) * n + perms).ravel(), minlength=n * n)
    name = f"position x value n={n} ({seeds} seeds)"
    return [chi2_result("position frequency", name, counts, seeds / n, (n - 1) ** 2)]


# --- 3. order of structured pairs --------------------------------------------------------------


def feistel_halves(n: int, min_width: int = 8) -> tuple[int, int]:
    """(width, low-half bits) of the library's Feistel network for n frames."""
    width = max(min_width, (n - 1).bit_length())
    return width, width - width // 2


def pair_families(n: int, min_pairs: int = 1000) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Disjoint pairs (i, j) of positions: adjacent (2t + 1, 2t + 2), across a carry half the
    time (xor 2^0 covers (2t, 2t + 1)); mirror (i, n - 1 - i); and
    (i, i xor 2^k) for k in {0, 1, L - 1, L, L + 1, width - 2}, where L is the low half's width
    of the Feistel network for n (bits L - 1 | L straddle the split). Families with fewer than
    `min_pairs` pairs are left out."""
    width, low = feistel_halves(n)
    i = np.arange(n, dtype=np.int64)
    families = {
        "adjacent": (i[1 : n - 1 : 2], i[2:n:2]),
        "mirror": (i[: n // 2], n - 1 - i[: n // 2]),
    }
    for k in sorted({0, 1, low - 1, low, low + 1, width - 2}):
        left = i[((i >> k) & 1 == 0) & ((i | (1 << k)) < n)]
        families[f"xor 2^{k}"] = (left, left | (1 << k))
    return {name: pair for name, pair in families.items() if len(pair[0]) >= min_pairs}


def pair_order(
    source: PermutationSource,
    sizes: Sequence[int] = (1 << 16, (1 << 16) + 1, 1_000_000),
    seeds: int = 16,
) -> list[Result]:
    """Pr[sigma(i) < sigma(j)] = 1/2 for each family of disjoint pairs. For a uniform
    permutation the indicators of disjoint pairs are independent fair coins, so the count over
    m pairs is Binomial(m, 1/2): one z per seed (epoch 0), combined by `z_family`."""
    results = []
    for n in sizes:
        families = pair_families(n)
        zs: dict[str, list[float]] = {name: [] for name in families}
        for seed in seed_stream(f"pair-order-{n}", seeds):
            sigma = source.full(seed, 0, n)
            for name, (left, right) in families.items():
                m = len(left)
                less = int(np.count_nonzero(sigma[left] < sigma[right]))
                zs[name].append((less - m / 2) / math.sqrt(m / 4))
        for name, values in zs.items():
            results += z_family("pair order", f"{name} N={n}", values)
    return results


# --- 4. rank correlations ----------------------------------------------------------------------


def spearman_z(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rho between two permutations of range(N) (their own ranks), scaled by
    sqrt(N - 1): standard normal in the limit, exact variance 1 under independence."""
    n = len(x)
    centre = (n - 1) / 2
    rho = float(np.dot(x - centre, y - centre)) / (n * (n * n - 1) / 12)
    return rho * math.sqrt(n - 1)


def inverse(sigma: np.ndarray) -> np.ndarray:
    """value -> position (when each frame is read)."""
    result = np.empty_like(sigma)
    result[sigma] = np.arange(len(sigma))
    return result


SPEARMAN_SEEDS = (0, 41, (1 << 32) - 1, (1 << 63) - 1, (1 << 64) - 2)
"""Seeds s of the rank-correlation section (s + 1 is used too): small ones, and ones where
s + 1 crosses 2^32 and 2^63 or is the largest seed."""


def rank_correlations(
    source: PermutationSource,
    sizes: Sequence[int] = ((1 << 16) + 1, 1_000_000),
    seeds: Sequence[int] = SPEARMAN_SEEDS,
) -> list[Result]:
    """Spearman z between: position and value (epoch 0); the orders of epochs 0 and 1 of the
    same seed, by value at each position and by position of each frame; the orders of seeds s
    and s + 1 at epoch 0, both ways. One z per seed, combined by `z_family`."""
    results = []
    for n in sizes:
        zs: dict[str, list[float]] = {
            "position~value": [],
            "epoch e~e+1 values": [],
            "epoch e~e+1 frames": [],
            "seed s~s+1 values": [],
            "seed s~s+1 frames": [],
        }
        for seed in seeds:
            first = source.full(seed, 0, n)
            next_epoch = source.full(seed, 1, n)
            next_seed = source.full(seed + 1, 0, n)
            zs["position~value"].append(spearman_z(np.arange(n), first))
            zs["epoch e~e+1 values"].append(spearman_z(first, next_epoch))
            zs["epoch e~e+1 frames"].append(spearman_z(inverse(first), inverse(next_epoch)))
            zs["seed s~s+1 values"].append(spearman_z(first, next_seed))
            zs["seed s~s+1 frames"].append(spearman_z(inverse(first), inverse(next_seed)))
        for name, values in zs.items():
            results += z_family("rank correlation", f"{name} N={n}", values)
    return results


# --- 5. cycles, parity, fixed points -----------------------------------------------------------


def cycle_counts(perms: np.ndarray) -> np.ndarray:
    """Number of cycles of every row, by pointer doubling: after t steps `low[x]` is the least
    of x, sigma(x), ..., sigma^(2^t - 1)(x), so it ends as its cycle's least element, and each
    cycle has exactly one element equal to its own `low`."""
    rows, n = perms.shape
    following = (perms + (np.arange(rows, dtype=np.int64) * n)[:, None]).ravel()
    identity = np.arange(rows * n, dtype=np.int64)
    low = identity.copy()
    span = 1
    while span < n:
        np.minimum(low, low[following], out=low)
        following = following[following]
        span *= 2
    return (low == identity).reshape(rows, n).sum(axis=1)


def fixed_point_bins(seeds: int) -> list[float]:
    """Poisson(1) probabilities of 0, 1, 2, 3, >= 4 fixed points (the exact law for n >= 100 to
    double precision), tail bins merged until each expects at least 5."""
    probabilities = [math.exp(-1) / math.factorial(k) for k in range(4)]
    probabilities.append(1 - sum(probabilities))
    while seeds * probabilities[-1] < 5:
        probabilities[-2:] = [probabilities[-2] + probabilities[-1]]
    return probabilities


def cycles(
    source: PermutationSource,
    configurations: Sequence[tuple[int, int]] = ((1000, 4000), (1 << 16, 200)),
) -> list[Result]:
    """For each (n, seeds), over seeds at epoch 0: the mean cycle count against H_n (z with the
    exact variance H_n - H_n^(2)); the share of odd permutations against 1/2 (binomial z); the
    fixed-point counts against Poisson(1) (chi-squared, bins 0, 1, 2, 3, >= 4)."""
    results = []
    for n, seeds in configurations:
        all_seeds = seed_stream(f"cycles-{n}", seeds)
        chunk = max(1, (1 << 21) // n)
        counts, fixed = [], []
        for start in range(0, seeds, chunk):
            perms = source.many(all_seeds[start : start + chunk], 0, n)
            check_permutations(perms)
            counts.append(cycle_counts(perms))
            fixed.append(np.count_nonzero(perms == np.arange(n), axis=1))
        cycle_count = np.concatenate(counts)
        fixed_points = np.concatenate(fixed)
        harmonic = math.fsum(1 / k for k in range(1, n + 1))
        variance = harmonic - math.fsum(1 / (k * k) for k in range(1, n + 1))
        mean_z = (cycle_count.sum() - seeds * harmonic) / math.sqrt(seeds * variance)
        results.append(z_result("cycles", f"mean cycle count n={n} ({seeds} seeds)", mean_z))
        odd = int(np.count_nonzero((n - cycle_count) % 2))
        parity_z = (odd - seeds / 2) / math.sqrt(seeds / 4)
        results.append(z_result("cycles", f"parity (odd share) n={n} ({seeds} seeds)", parity_z))
        probabilities = fixed_point_bins(seeds)
        bins = np.bincount(np.minimum(fixed_points, len(probabilities) - 1))
        bins = np.pad(bins, (0, len(probabilities) - len(bins)))
        expected = seeds * np.array(probabilities)
        name = f"fixed points ~ Poisson(1) n={n} ({seeds} seeds)"
        results.append(chi2_result("cycles", name, bins, expected, len(probabilities) - 1))
    return results


# --- 6. deciles of the first outputs -----------------------------------------------------------


def decile_seeds(source: PermutationSource, n: int) -> int:
    """Seeds of the decile section at size n: 16 up to 10^7; at 10^8 (a 400 MB table for a
    materialised permutation) 4 where a prefix is cheap, else 1."""
    if n <= 10_000_000:
        return 16
    return 4 if source.cheap_prefix else 1


def first_outputs_deciles(
    source: PermutationSource, sizes: Sequence[int] = (10_000_000, 100_000_000), k: int = 100_000
) -> list[Result]:
    """Of the first k values (positions 0..k-1, epoch 0), how many fall in each tenth of
    [0, n): expected k / 10 each (the sampling is without replacement, which only shrinks the
    statistic since k << n). Pooled over seeds, 9 dof; and the per-seed statistics summed,
    9 * seeds dof. This is the test that exposed torch.randperm's bias."""
    results = []
    for n in sizes:
        seeds = decile_seeds(source, n)
        per_seed = []
        for seed in seed_stream(f"deciles-{n}", seeds):
            values = source.prefix(seed, 0, n, k)
            ordered = np.sort(values)
            if ordered[0] < 0 or ordered[-1] >= n or np.any(ordered[1:] == ordered[:-1]):
                raise AssertionError("prefix is not part of a permutation")
            per_seed.append(np.bincount(values * 10 // n, minlength=10))
        per_seed = np.array(per_seed)
        name = f"deciles of first {k} N={n}"
        results.append(chi2_result("deciles", f"{name} pooled", per_seed.sum(0), seeds * k / 10, 9))
        if seeds > 1:
            results.append(chi2_result("deciles", f"{name} per-seed", per_seed, k / 10, 9 * seeds))
    return results


# --- the battery -------------------------------------------------------------------------------

SECTIONS: dict[str, Callable[[PermutationSource], list[Result]]] = {
    "full permutation": full_permutation,
    "position frequency": position_frequency,
    "pair order": pair_order,
    "rank correlation": rank_correlations,
    "cycles": cycles,
    "deciles": first_outputs_deciles,
}


def run_battery(source: PermutationSource, sections: Sequence[str] | None = None) -> list[Result]:
    """Every statistic of the named sections (all by default) on `source`."""
    results = []
    for section in sections or SECTIONS:
        results += SECTIONS[section](source)
    return results


def _format_cell(result: Result) -> str:
    if result.kind == "chi2":
        value = f"χ²={result.statistic:.5g} ({result.dof})"
    else:
        value = f"z={result.statistic:+.3f}"
    p = "0" if result.p == 0 else f"{result.p:.2g}"
    cell = f"{value}, p={p}"
    return f"**{cell}**" if result.rejected else cell


def results_markdown(by_source: dict[str, list[Result]]) -> str:
    """A markdown table: one row per statistic, one column per source; rejections in bold."""
    names = list(by_source)
    rows: dict[tuple[str, str], dict[str, Result]] = {}
    for source_name, results in by_source.items():
        for result in results:
            rows.setdefault((result.section, result.name), {})[source_name] = result
    counts = {name: len(results) for name, results in by_source.items()}
    lines = [
        "# Randomness battery: results",
        "",
        "Written by `python -m tests.randomness` (deterministic seeds; do not edit by hand).",
        "Statistics: chi-squared (dof in brackets, upper-tail p) or standard normal z (two-tailed",
        f"p). Each statistic rejects at p < {ALPHA:g} (**bold**). Statistics per source: "
        + ", ".join(f"{name} {count}" for name, count in counts.items())
        + f"; a uniform source fails any at all with probability at most about "
        f"{max(counts.values()) * ALPHA:.1%} (Bonferroni). p = 0 means below 1e-300.",
        "",
        "| section | statistic | " + " | ".join(names) + " |",
        "| --- | --- | " + " | ".join("---" for _ in names) + " |",
    ]
    for (section, statistic), cells in rows.items():
        values = [_format_cell(cells[name]) if name in cells else "" for name in names]
        lines.append(f"| {section} | {statistic} | " + " | ".join(values) + " |")
    lines.append("")
    rejected = {
        name: [r.name for r in results if r.rejected] for name, results in by_source.items()
    }
    lines.append("Rejections per source:")
    lines.append("")
    for name, failed in rejected.items():
        lines.append(f"- {name}: {len(failed)} of {counts[name]}")
    lines.append("")
    return "\n".join(lines)


# --- parity survey (for the document) ----------------------------------------------------------

PARITY_SURVEY = (
    (100, 4000),
    (257, 4000),
    (1000, 4000),
    (65_536, 200),
    (65_537, 400),
    (100_000, 300),
    (1_000_000, 40),
)


def feistel_parity_prediction(n: int) -> float:
    """Share of odd permutations the library's Feistel network *alone* (without version 2's
    keyed transposition) is expected to give for n frames. The network on T = 2^w values
    (w = max(8, bits of n - 1)) is always even; the cycle-walked permutation has parity
    (-1)^(T - n + e), e = cycles of the network made only of values >= n, and e is close to
    Poisson(ln(T / n)), so E[(-1)^e] ~ (n / T)^2."""
    width, _ = feistel_halves(n)
    same = (1 + (n / (1 << width)) ** 2) / 2
    return same if ((1 << width) - n) % 2 else 1 - same


def parity_survey(
    source: PermutationSource, configurations: Sequence[tuple[int, int]] = PARITY_SURVEY
) -> list[tuple[int, int, int, float]]:
    """(n, seeds, odd permutations, two-tailed p against 1/2) at epoch 0 for each size."""
    rows = []
    for n, seeds in configurations:
        all_seeds = seed_stream(f"parity-{n}", seeds)
        chunk = max(1, (1 << 21) // n)
        odd = 0
        for start in range(0, seeds, chunk):
            perms = source.many(all_seeds[start : start + chunk], 0, n)
            odd += int(np.count_nonzero((n - cycle_counts(perms)) % 2))
        rows.append((n, seeds, odd, normal_two_sided((odd - seeds / 2) / math.sqrt(seeds / 4))))
    return rows


def parity_markdown(by_source: dict[str, list[tuple[int, int, int, float]]]) -> str:
    lines = [
        "## Parity of the permutation",
        "",
        "Share of odd permutations over distinct seeds (epoch 0); a uniform permutation is odd",
        "with probability 1/2. The last column is the share predicted for the Feistel network",
        "alone, without the keyed transposition of values 0 and 1 (`feistel_parity_prediction`,",
        'see the notes): what `"feistel"` gave before that step was added.',
        "",
        "| N | Feistel width | seeds | "
        + " | ".join(f"{name}: odd share (p)" for name in by_source)
        + " | predicted, network alone |",
        "| --- | --- | --- | " + " | ".join("---" for _ in by_source) + " | --- |",
    ]
    first = next(iter(by_source.values()))
    for index, (n, seeds, _, _) in enumerate(first):
        cells = []
        for rows in by_source.values():
            _, _, odd, p = rows[index]
            cell = f"{odd / seeds:.3f} (p={'0' if p == 0 else f'{p:.2g}'})"
            cells.append(f"**{cell}**" if p < ALPHA else cell)
        width, _ = feistel_halves(n)
        lines.append(
            f"| {n} | {width} | {seeds} | "
            + " | ".join(cells)
            + f" | {feistel_parity_prediction(n):.3f} |"
        )
    lines.append("")
    return "\n".join(lines)


NOTES = """## Notes

- Sources: `uniform` and `feistel` are the library (`EpisodeAwareSampler([0], [N], shuffle=True,
  seed=s, permutation=...)`); the two weak references are in `tests/randomness.py`: the same
  Feistel structure with 2 rounds instead of 16, and x -> (a x + b) mod N with a unit `a`.
- Pair order: `xor 2^k` pairs are (i, i xor 2^k); for N = 2^16 the Feistel network's low half has
  8 bits, for 2^16 + 1 it has 9, for 10^6 it has 10, so the middle three `k` straddle the split.
- Parity: a Feistel network on 2^w values whose halves have at least 2 bits is an even
  permutation (each round's XOR step swaps values in pairs, an even number of transpositions,
  and the half rotations of an even number of rounds cancel in sign). Cycle walking keeps most of
  that: the permutation of [0, N) is odd exactly when 2^w - N plus the number of network cycles
  lying wholly in [N, 2^w) is odd, and such cycles are rare when N is close to 2^w. So
  `feistel` is even for every seed at N = 2^w, and for other N its parity is biased by about
  (N / 2^w)^2 / 2: 12.5 to 50 percentage points for N > 128, negligible for a handful of
  frames (the network is at least 8 bits wide). No other statistic here saw it. So version 2
  adds one keyed transposition after the walk (values 0 and 1 trade places when a key bit is
  set), which makes the parity fair; the table shows `feistel` with it.
- Deciles: 16 seeds at N = 10^7; at 10^8, 4 seeds where the first outputs are cheap (`feistel`,
  the weak references) and 1 seed for `uniform` (a 400 MB table per seed), which has no
  per-seed row.
- The weak references are also *too* regular for some statistics (chi-squared far below its
  dof, p close to 1: the affine map's deciles and rank correlations, the 2-round network's pairs
  inside one half); the battery tests upper tails only, so these do not count as rejections.
"""


FIGURE_N = 64
FIGURE_SEEDS = 20_000


def position_frequency_figure(target: Path) -> None:
    """Heat maps of how often value x lands at position p (n = 64, 20 000 seeds), relative to
    the uniform expectation, for every source: flat noise for a good permutation, structure
    for a weak one. Needs matplotlib (`pip install matplotlib`)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    sources = [make() for make in SOURCES.values()]
    figure = Figure(figsize=(4 * len(sources), 4.4), layout="constrained")
    axes = figure.subplots(1, len(sources))
    expected = FIGURE_SEEDS / FIGURE_N
    for ax, source in zip(axes, sources, strict=True):
        perms = source.many(seed_stream(f"figure-{source.name}", FIGURE_SEEDS), 0, FIGURE_N)
        counts = np.zeros((FIGURE_N, FIGURE_N))
        np.add.at(counts, (np.tile(np.arange(FIGURE_N), len(perms)), perms.ravel()), 1)
        image = ax.imshow(counts / expected, vmin=0.5, vmax=1.5, cmap="coolwarm")
        ax.set_title(source.name)
        ax.set_xlabel("value")
        ax.set_ylabel("position")
    figure.colorbar(image, ax=axes, shrink=0.8, label="count / expected")
    figure.suptitle(f"Position frequency, n = {FIGURE_N}, {FIGURE_SEEDS:,} seeds")
    figure.savefig(target, dpi=80)


def main() -> None:
    docs = Path(__file__).resolve().parent.parent / "docs"
    if sys.argv[1:] == ["--figure"]:
        position_frequency_figure(docs / "position_frequency.png")
        print("wrote position_frequency.png")
        return
    by_source = {}
    parity = {}
    for make in SOURCES.values():
        source = make()
        by_source[source.name] = run_battery(source)
        print(f"{source.name}: {sum(r.rejected for r in by_source[source.name])} rejections")
        if isinstance(source, EpisamplerSource):
            parity[source.name] = parity_survey(source)
    target = docs / "randomness_results.md"
    text = results_markdown(by_source) + "\n" + parity_markdown(parity) + "\n" + NOTES
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target.name}")


if __name__ == "__main__":
    main()
