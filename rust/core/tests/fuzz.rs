//! Fuzz-style properties of the core's public API under arbitrary, often hostile, inputs:
//! boundaries anywhere in `i64` (negative, near `i64::MAX`, overlapping, mismatched, empty),
//! selections with duplicates and foreign ids, drops up to `u64::MAX`, shards and networks of any
//! `u64` size. Every constructor must return `Ok` or `Err` exactly when a naive reference says
//! so, never panic (the test profile checks overflow), and, when `Ok`, agree with the reference.
//!
//! Executions per run: `CASES_*` below are the cases of every property in their `proptest!`
//! block: 5 x 100_000 cheap ones, 20_000 networks, 50_000 sampler pipelines and 200 bucketed
//! tables, about 570_000 in all, scaled by `EPISAMPLER_PROPTEST_SCALE` (see `cases`).

use episampler_core::index::{EpisodeSpec, SKIPPED_LISTED};
use episampler_core::uniform::PermutationTable;
use episampler_core::{EpisodeIndex, EpochOrder, Feistel, Permutation, Remap, Sampler, Shard};
use proptest::prelude::*;

use proptest::test_runner::Config;

mod cases;

/// Cheap properties (index construction, shard arithmetic, small tables).
const CASES_CHEAP: u32 = 100_000;
/// Networks of any width; those up to 4096 entries are checked as whole bijections.
const CASES_FEISTEL: u32 = 20_000;
/// Properties that build orders and fill thousands of values per case.
const CASES_SAMPLER: u32 = 50_000;
/// Tables large enough to take the bucketed path of `"uniform"` (over 2^16 entries).
const CASES_LARGE_TABLES: u32 = 200;

/// Positions checked one by one against the reference when the index is too big to expand.
const EXPAND_LIMIT: u64 = 4096;
/// Largest `"uniform"` table the sampler properties build (O(num_frames) per epoch).
const UNIFORM_LIMIT: u64 = 1 << 18;

fn config(full: u32) -> Config {
    Config {
        // Never write regression files into the source tree: failures print their input.
        failure_persistence: None,
        ..cases::config(full)
    }
}

// --- value strategies --------------------------------------------------------------------------

/// Any `i64`, biased to the edges: small values of both signs, 0, the extremes.
fn wild_i64() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => -4i64..40,
        2 => any::<i64>(),
        1 => (i64::MAX - 40)..=i64::MAX,
        1 => i64::MIN..=(i64::MIN + 4),
        1 => Just(i64::MAX / 2),
    ]
}

/// Any `u64`, biased to the edges: small, around 2^32 and 2^63, near `u64::MAX`, powers of two.
fn wild_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0u64..16,
        2 => any::<u64>(),
        1 => (u64::MAX - 16)..=u64::MAX,
        1 => ((1u64 << 63) - 8)..=((1u64 << 63) + 8),
        1 => ((1u64 << 32) - 4)..=((1u64 << 32) + 4),
        1 => (0u32..64, -2i64..=2).prop_map(|(k, d)| (1u64 << k).wrapping_add_signed(d)),
    ]
}

fn drop_count() -> impl Strategy<Value = u64> {
    prop_oneof![
        20 => Just(0u64),
        20 => 1u64..4,
        1 => 0u64..(1 << 41),
        1 => Just(i64::MAX as u64),
        1 => (u64::MAX - 3)..=u64::MAX,
        1 => any::<u64>(),
    ]
}

fn gap() -> impl Strategy<Value = u64> {
    prop_oneof![8 => 0u64..3, 1 => 0u64..(1 << 50), 1 => any::<u64>()]
}

fn length() -> impl Strategy<Value = u64> {
    prop_oneof![
        10 => 0u64..8,
        3 => 8u64..200,
        1 => 0u64..=(1 << 40),
        1 => 0u64..=(i64::MAX as u64),
    ]
}

/// Where a layout sits in `[0, i64::MAX]`.
#[derive(Debug, Clone, Copy)]
enum Anchor {
    Zero,
    Shift(u64),
    /// The last episode ends at `i64::MAX`.
    End,
}

/// A small corruption of an otherwise valid layout.
#[derive(Debug, Clone, Copy)]
enum Mutation {
    None,
    /// Add `delta` to episode `which`'s start (`false`) or end (`true`).
    Nudge(usize, bool, i64),
    /// Overwrite one boundary with an arbitrary value.
    Overwrite(usize, bool, i64),
    /// Append a copy of episode `which` (an overlap unless it is empty).
    Duplicate(usize),
    /// Drop the last end boundary (mismatched lengths).
    Truncate,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        12 => Just(Mutation::None),
        2 => (any::<usize>(), any::<bool>(), -3i64..=3)
            .prop_map(|(w, end, d)| Mutation::Nudge(w, end, d)),
        1 => (any::<usize>(), any::<bool>(), wild_i64())
            .prop_map(|(w, end, v)| Mutation::Overwrite(w, end, v)),
        1 => any::<usize>().prop_map(Mutation::Duplicate),
        1 => Just(Mutation::Truncate),
    ]
}

/// Non-overlapping episodes (some empty, some huge unless `tame`) anywhere in `[0, i64::MAX]`,
/// in shuffled boundary order, then maybe corrupted by one [`Mutation`].
fn layout() -> impl Strategy<Value = (Vec<i64>, Vec<i64>)> {
    let anchor = prop_oneof![
        4 => Just(Anchor::Zero),
        1 => (0u64..1000).prop_map(Anchor::Shift),
        1 => Just(Anchor::End),
    ];
    (
        prop::collection::vec((gap(), length()), 1..24),
        anchor,
        mutation(),
        prop::bool::weighted(0.6),
    )
        .prop_flat_map(|(pieces, anchor, mutation, tame)| {
            let max = i64::MAX as u128;
            let (mut from, mut to) = (Vec::new(), Vec::new());
            let mut cursor = 0u128;
            for (gap, length) in pieces {
                // A tame layout has few enough frames to be written out in full.
                let (gap, length) = if tame {
                    (gap % 3, length % 200)
                } else {
                    (gap, length)
                };
                let start = (cursor + u128::from(gap)).min(max);
                let end = (start + u128::from(length)).min(max);
                from.push(start);
                to.push(end);
                cursor = end;
            }
            let shift = match anchor {
                Anchor::Zero => 0,
                Anchor::Shift(shift) => u128::from(shift),
                Anchor::End => max - cursor,
            };
            let from: Vec<i64> = from.iter().map(|&v| (v + shift).min(max) as i64).collect();
            let to: Vec<i64> = to.iter().map(|&v| (v + shift).min(max) as i64).collect();
            let n = from.len();
            (
                Just(from),
                Just(to),
                Just((0..n).collect::<Vec<usize>>()).prop_shuffle(),
                Just(mutation),
            )
        })
        .prop_map(|(from, to, order, mutation)| {
            let mut from: Vec<i64> = order.iter().map(|&e| from[e]).collect();
            let mut to: Vec<i64> = order.iter().map(|&e| to[e]).collect();
            let n = from.len();
            match mutation {
                Mutation::None => {}
                Mutation::Nudge(which, end, delta) => {
                    let side = if end { &mut to } else { &mut from };
                    side[which % n] = side[which % n].saturating_add(delta);
                }
                Mutation::Overwrite(which, end, value) => {
                    let side = if end { &mut to } else { &mut from };
                    side[which % n] = value;
                }
                Mutation::Duplicate(which) => {
                    from.push(from[which % n]);
                    to.push(to[which % n]);
                }
                Mutation::Truncate => {
                    to.pop();
                }
            }
            (from, to)
        })
}

/// An episode id: mostly a valid one (resolved modulo the episode count), sometimes anything.
#[derive(Debug, Clone, Copy)]
enum IdPick {
    Valid(usize),
    Raw(i64),
}

fn selection() -> impl Strategy<Value = Option<Vec<IdPick>>> {
    let pick = prop_oneof![
        40 => any::<usize>().prop_map(IdPick::Valid),
        1 => wild_i64().prop_map(IdPick::Raw),
    ];
    prop::option::weighted(0.5, prop::collection::vec(pick, 0..12))
}

fn resolve(picks: &Option<Vec<IdPick>>, episodes: usize) -> Option<Vec<i64>> {
    picks.as_ref().map(|picks| {
        picks
            .iter()
            .map(|&pick| match pick {
                IdPick::Valid(id) => (id % episodes.max(1)) as i64,
                IdPick::Raw(id) => id,
            })
            .collect()
    })
}

// --- references --------------------------------------------------------------------------------

/// What `EpisodeIndex::new` must build.
#[derive(Debug)]
struct Expected {
    /// `(boundary id, first kept frame, kept length)` of every kept episode, in boundary order.
    kept: Vec<(u64, u64, u64)>,
    /// Selected episodes emptied by the drops.
    skipped: usize,
    /// `(boundary id, length)` of each of them, in boundary order.
    skipped_ids: Vec<(u64, u64)>,
}

/// The index a spec must give, or `None` when it must be rejected. Quadratic and in `u128`:
/// obviously right rather than fast.
fn reference(spec: &EpisodeSpec<'_>) -> Option<Expected> {
    let (from, to) = (spec.from, spec.to);
    let n = from.len();
    if n != to.len() || n == 0 {
        return None;
    }
    if from.iter().chain(to).any(|&v| v < 0) || (0..n).any(|e| from[e] > to[e]) {
        return None;
    }
    for a in 0..n {
        for b in a + 1..n {
            let both_non_empty = from[a] < to[a] && from[b] < to[b];
            if both_non_empty && from[a] < to[b] && from[b] < to[a] {
                return None;
            }
        }
    }
    if let Some(ids) = spec.episodes_to_use {
        if ids.iter().any(|&id| id < 0 || id as u128 >= n as u128) {
            return None;
        }
    }
    let dropped = u128::from(spec.drop_first) + u128::from(spec.drop_last);
    let mut expected = Expected {
        kept: Vec::new(),
        skipped: 0,
        skipped_ids: Vec::new(),
    };
    for e in 0..n {
        if spec
            .episodes_to_use
            .is_some_and(|ids| !ids.contains(&(e as i64)))
        {
            continue;
        }
        let length = (to[e] as i128 - from[e] as i128) as u128;
        if dropped >= length {
            expected.skipped += 1;
            expected.skipped_ids.push((e as u64, length as u64));
        } else {
            let first = from[e] as u128 + u128::from(spec.drop_first);
            expected
                .kept
                .push((e as u64, first as u64, (length - dropped) as u64));
        }
    }
    if expected.kept.is_empty() {
        return None;
    }
    Some(expected)
}

/// Every kept frame written out one by one, straight from the boundaries.
fn naive_frames(spec: &EpisodeSpec<'_>) -> Vec<u64> {
    let mut frames = Vec::new();
    for e in 0..spec.from.len() {
        if spec
            .episodes_to_use
            .is_some_and(|ids| !ids.contains(&(e as i64)))
        {
            continue;
        }
        let start = spec.from[e] as i128 + i128::from(spec.drop_first);
        let end = spec.to[e] as i128 - i128::from(spec.drop_last);
        frames.extend((start..end.max(start)).map(|frame| frame as u64));
    }
    frames
}

/// Positions worth checking in `0..len`: all of them when few, else the edges of every kept
/// episode plus `extra` (reduced modulo `len`).
fn probe_positions(expected: &Expected, len: u64, extra: &[u64]) -> Vec<u64> {
    if len <= EXPAND_LIMIT {
        return (0..len).collect();
    }
    let mut positions: Vec<u64> = extra.iter().map(|&p| p % len).collect();
    let mut offset = 0u64;
    for &(_, _, kept) in &expected.kept {
        positions.extend([offset, offset + kept - 1, offset + kept / 2]);
        offset += kept;
    }
    positions.extend([0, len - 1]);
    positions
}

/// Checks an index against the reference (`Ok` exactly when the reference accepts).
fn check_index(
    spec: &EpisodeSpec<'_>,
    result: Result<EpisodeIndex, episampler_core::SamplerError>,
    extra: &[u64],
) -> Result<Option<EpisodeIndex>, TestCaseError> {
    let expected = reference(spec);
    let (index, expected) = match (result, expected) {
        (Err(_), None) => return Ok(None),
        (Err(error), Some(expected)) => {
            return Err(TestCaseError::fail(format!(
                "rejected a valid spec {spec:?} ({expected:?}): {error}"
            )))
        }
        (Ok(index), None) => {
            return Err(TestCaseError::fail(format!(
                "accepted an invalid spec {spec:?}: {index:?}"
            )))
        }
        (Ok(index), Some(expected)) => (index, expected),
    };
    let total: u128 = expected
        .kept
        .iter()
        .map(|&(_, _, len)| u128::from(len))
        .sum();
    prop_assert_eq!(u128::from(index.num_frames()), total);
    prop_assert_eq!(index.num_episodes(), expected.kept.len());
    prop_assert_eq!(index.num_skipped(), expected.skipped);
    let listed = expected.skipped_ids.len().min(SKIPPED_LISTED);
    prop_assert_eq!(index.skipped_listed(), &expected.skipped_ids[..listed]);
    let mut offset = 0u64;
    for (k, &(id, first, len)) in expected.kept.iter().enumerate() {
        prop_assert_eq!(index.episode_ids()[k], id);
        prop_assert_eq!(index.starts()[k], first);
        prop_assert_eq!(index.offsets()[k], offset);
        prop_assert_eq!(index.episode_len(k), len);
        offset += len;
    }
    let offsets = index.offsets().to_vec();
    for position in probe_positions(&expected, index.num_frames(), extra) {
        let k = offsets.partition_point(|&o| o <= position) - 1;
        prop_assert_eq!(index.episode_of(position), k, "position {}", position);
        let (_, first, _) = expected.kept[k];
        prop_assert_eq!(index.frame_at(position), first + (position - offsets[k]));
    }
    if index.num_frames() <= EXPAND_LIMIT {
        let got: Vec<u64> = (0..index.num_frames()).map(|p| index.frame_at(p)).collect();
        prop_assert_eq!(got, naive_frames(spec));
    }
    Ok(Some(index))
}

/// Reference of the shard rule: `Some(count)` when `Shard::new` must accept.
fn shard_count(len: u64, start: u64, rank: u64, world: u64, drop_last: bool) -> Option<u64> {
    if world == 0 || rank >= world || start > len {
        return None;
    }
    let remaining = u128::from(len - start);
    let world = u128::from(world);
    let count = if drop_last {
        remaining / world
    } else {
        remaining.div_ceil(world)
    };
    Some(count as u64)
}

/// Indices of a shard worth checking: all when few, else the edges plus `extra`.
fn probe_indices(count: u64, extra: &[u64]) -> Vec<u64> {
    if count <= 512 {
        return (0..count).collect();
    }
    let mut indices: Vec<u64> = extra.iter().map(|&i| i % count).collect();
    indices.extend([0, 1, 2, count / 2, count - 2, count - 1]);
    indices
}

/// Rows of a remap built from `salt`: the identity, a (possibly wrapping) shift per episode, or
/// an arbitrary table.
fn rows_for(index: &EpisodeIndex, salt: u64) -> Vec<i64> {
    let n = index.num_frames();
    (0..n)
        .map(|p| {
            let frame = index.frame_at(p) as i64;
            match salt % 3 {
                0 => frame,
                1 => frame.wrapping_add((index.episode_of(p) as i64).wrapping_mul(salt as i64)),
                _ => (p.wrapping_mul(salt | 1) ^ salt) as i64,
            }
        })
        .collect()
}

fn assert_bijection(len: u64, image: impl Fn(u64) -> u64) -> Result<(), TestCaseError> {
    let mut hit = vec![false; len as usize];
    for position in 0..len {
        let value = image(position);
        prop_assert!(value < len, "len {}: {} -> {}", len, position, value);
        prop_assert!(!hit[value as usize], "len {}: {} hit twice", len, value);
        hit[value as usize] = true;
    }
    Ok(())
}

fn feistel_len() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 1u64..=4096,
        2 => 1u64..=u64::MAX,
        1 => (u64::MAX - 16)..=u64::MAX,
        2 => (0u32..64, -3i64..=3)
            .prop_map(|(k, d)| (1u64 << k).saturating_add_signed(d).max(1)),
    ]
}

// --- properties --------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(CASES_CHEAP))]

    /// Anything at all: mostly rejected, never a panic, and accepted exactly when valid.
    #[test]
    fn index_of_arbitrary_vectors(
        from in prop::collection::vec(wild_i64(), 0..7),
        to in prop::collection::vec(wild_i64(), 0..7),
        used in prop::option::of(prop::collection::vec(wild_i64(), 0..8)),
        drop_first in drop_count(),
        drop_last in drop_count(),
        extra in prop::collection::vec(any::<u64>(), 0..8),
    ) {
        let spec = EpisodeSpec {
            from: &from, to: &to, episodes_to_use: used.as_deref(), drop_first, drop_last,
        };
        check_index(&spec, EpisodeIndex::new(&spec), &extra)?;
    }

    /// Near-valid layouts (anywhere up to `i64::MAX`, some corrupted), selections with
    /// duplicates and foreign ids, drops up to `u64::MAX`.
    #[test]
    fn index_of_layouts(
        (from, to) in layout(),
        picks in selection(),
        drop_first in drop_count(),
        drop_last in drop_count(),
        extra in prop::collection::vec(any::<u64>(), 0..8),
    ) {
        let used = resolve(&picks, from.len());
        let spec = EpisodeSpec {
            from: &from, to: &to, episodes_to_use: used.as_deref(), drop_first, drop_last,
        };
        check_index(&spec, EpisodeIndex::new(&spec), &extra)?;
    }

    #[test]
    fn shard_of_arbitrary_u64s(
        len in wild_u64(),
        start in wild_u64(),
        rank in wild_u64(),
        world in wild_u64(),
        drop_last: bool,
        fit_start: bool,
        fit_rank: bool,
        extra in prop::collection::vec(any::<u64>(), 0..6),
    ) {
        // Often pull start and rank into range so that most cases are accepted.
        let start = if fit_start { start % len.saturating_add(1).max(1) } else { start };
        let rank = if fit_rank && world > 0 { rank % world } else { rank };
        let expected = shard_count(len, start, rank, world, drop_last);
        let shard = match (Shard::new(len, start, rank, world, drop_last), expected) {
            (Err(_), None) => return Ok(()),
            (Ok(shard), Some(count)) => {
                prop_assert_eq!(shard.len(), count);
                prop_assert_eq!(shard.is_empty(), count == 0);
                shard
            }
            (result, expected) => {
                return Err(TestCaseError::fail(format!(
                    "Shard::new({len}, {start}, {rank}, {world}, {drop_last}) = {result:?}, \
                     expected count {expected:?}"
                )))
            }
        };
        prop_assert_eq!(shard.start(), start);
        prop_assert_eq!(shard.world(), world);
        prop_assert_eq!(Shard::count(len - start, world, drop_last), shard.len());
        for i in probe_indices(shard.len(), &extra) {
            let position = shard.global_position(i);
            prop_assert!(position < len, "position {} of {}", position, len);
            let raw = u128::from(start) + u128::from(rank) + u128::from(i) * u128::from(world);
            prop_assert_eq!(u128::from(position), raw % u128::from(len));
            let resume = (u128::from(start) + u128::from(i) * u128::from(world))
                .min(u128::from(len));
            prop_assert_eq!(u128::from(shard.resume_point(i)), resume);
        }
    }

    #[test]
    fn padded_shard_of_arbitrary_u64s(
        len in wild_u64(),
        start in wild_u64(),
        multiple in wild_u64(),
        fit_start: bool,
        extra in prop::collection::vec(any::<u64>(), 0..6),
    ) {
        let start = if fit_start { start % len.saturating_add(1).max(1) } else { start };
        let end = (multiple > 0)
            .then(|| u128::from(len).div_ceil(u128::from(multiple)) * u128::from(multiple));
        let expected = match end {
            Some(end) if start <= len => u64::try_from(end - u128::from(start)).ok(),
            _ => None,
        };
        let shard = match (Shard::padded(len, start, multiple), expected) {
            (Err(_), None) => return Ok(()),
            (Ok(shard), Some(count)) => {
                prop_assert_eq!(shard.len(), count);
                shard
            }
            (result, expected) => {
                return Err(TestCaseError::fail(format!(
                    "Shard::padded({len}, {start}, {multiple}) = {result:?}, \
                     expected count {expected:?}"
                )))
            }
        };
        prop_assert_eq!(shard.world(), 1);
        for i in probe_indices(shard.len(), &extra) {
            let position = shard.global_position(i);
            prop_assert!(position < len, "position {} of {}", position, len);
            prop_assert_eq!(
                u128::from(position),
                (u128::from(start) + u128::from(i)) % u128::from(len)
            );
            // `resume_point` saturates where `start + i` would pass u64::MAX (see
            // `padded_resume_point_past_u64_max`).
            prop_assert_eq!(shard.resume_point(i), start.saturating_add(i).min(len));
        }
    }

    #[test]
    fn small_uniform_tables_are_bijections(len in 0u64..=5000, key: u64) {
        let table = PermutationTable::shuffled(len, key).unwrap();
        prop_assert_eq!(table.len(), len);
        prop_assert_eq!(table.is_empty(), len == 0);
        prop_assert_eq!(table.bytes(), 4 * len);
        assert_bijection(len, |p| table.get(p))?;
        prop_assert_eq!(&table, &PermutationTable::shuffled(len, key).unwrap());
    }
}

proptest! {
    #![proptest_config(config(CASES_FEISTEL))]

    #[test]
    fn feistel_of_any_size(
        len in feistel_len(),
        key: u64,
        positions in prop::collection::vec(any::<u64>(), 0..8),
    ) {
        let feistel = Feistel::new(len, key);
        prop_assert_eq!(feistel.len(), len);
        prop_assert!(!feistel.is_empty());
        let bits = 64 - (len - 1).leading_zeros();
        prop_assert_eq!(feistel.width(), bits.max(8));
        let mut probes: Vec<u64> = positions.iter().map(|&p| p % len).collect();
        probes.extend([0, len - 1, len / 2]);
        let mut many = probes.clone();
        feistel.apply_many(&mut many);
        for (&position, &batched) in probes.iter().zip(&many) {
            let image = feistel.apply(position);
            prop_assert!(image < len);
            prop_assert_eq!(batched, image, "apply_many vs apply at {}", position);
            prop_assert_eq!(feistel.invert(image), position);
            let preimage = feistel.invert(position);
            prop_assert!(preimage < len);
            prop_assert_eq!(feistel.apply(preimage), position);
        }
        if len <= 4096 {
            assert_bijection(len, |p| feistel.apply(p))?;
            let mut all: Vec<u64> = (0..len).collect();
            feistel.apply_many(&mut all);
            let single: Vec<u64> = (0..len).map(|p| feistel.apply(p)).collect();
            prop_assert_eq!(all, single);
        }
    }
}

proptest! {
    #![proptest_config(config(CASES_SAMPLER))]

    /// `fill` (batched, the bindings' path) agrees with `value_at` (one position at a time) for
    /// any shard of any order, and a whole epoch is a permutation of the kept rows.
    #[test]
    fn sampler_fill_agrees_with_value_at(
        (from, to) in layout(),
        picks in selection(),
        drop_first in drop_count(),
        drop_last in drop_count(),
        shuffle: bool,
        feistel: bool,
        seed: u64,
        epoch in wild_u64(),
        remap_salt in prop::option::of(any::<u64>()),
        world in prop_oneof![6 => 1u64..6, 1 => wild_u64()],
        rank in wild_u64(),
        start in wild_u64(),
        shard_drop_last: bool,
        first in any::<u64>(),
        count in prop_oneof![4 => 0usize..300, 1 => 0usize..6000],
    ) {
        let used = resolve(&picks, from.len());
        let spec = EpisodeSpec {
            from: &from, to: &to, episodes_to_use: used.as_deref(), drop_first, drop_last,
        };
        let Some(index) = check_index(&spec, EpisodeIndex::new(&spec), &[])? else {
            return Ok(());
        };
        let n = index.num_frames();
        let mut permutation = if feistel { Permutation::Feistel } else { Permutation::Uniform };
        if shuffle && permutation == Permutation::Uniform && n > UNIFORM_LIMIT {
            permutation = Permutation::Feistel; // a table of that size per case is too slow
        }
        let remap = match remap_salt {
            None => Remap::Identity,
            Some(salt) if n <= EXPAND_LIMIT => {
                let rows = rows_for(&index, salt);
                Remap::from_rows(&index, rows).expect("one row per kept frame")
            }
            Some(salt) => {
                let shifts: Vec<i64> =
                    (0..from.len() as u64).map(|e| (e ^ salt) as i64).collect();
                Remap::from_episode_shifts(&index, &shifts).expect("one shift per episode")
            }
        };
        let sampler = Sampler::new(index.clone(), remap.clone(), shuffle, permutation, seed);
        let order = sampler.epoch_order(epoch).unwrap();
        match (&order, shuffle, permutation) {
            (EpochOrder::Sequential, false, _)
            | (EpochOrder::Table(_), true, Permutation::Uniform)
            | (EpochOrder::Feistel(_), true, Permutation::Feistel) => {}
            _ => prop_assert!(false, "unexpected order kind"),
        }

        // Logical position -> expected value, from the remap's definition.
        let expected_value = |logical: u64| -> i64 {
            let k = index.episode_of(logical);
            let frame = index.frame_at(logical);
            match &remap {
                Remap::Identity => frame as i64,
                Remap::EpisodeShift(shifts) => (frame as i64).wrapping_add(shifts[k]),
                Remap::Table(rows) => rows[logical as usize],
            }
        };
        if n <= EXPAND_LIMIT {
            assert_bijection(n, |p| order.logical(p))?;
            let mut values: Vec<i64> = (0..n).map(|p| sampler.value_at(&order, p)).collect();
            let mut rows: Vec<i64> = (0..n).map(expected_value).collect();
            if !shuffle {
                prop_assert_eq!(&values, &rows);
            }
            values.sort_unstable();
            rows.sort_unstable();
            prop_assert_eq!(values, rows);
        } else {
            for p in [0, n / 3, n - 1, seed % n] {
                let logical = order.logical(p);
                prop_assert!(logical < n);
                prop_assert_eq!(sampler.value_at(&order, p), expected_value(logical));
            }
        }

        // Half the cases pull the shard into range, the rest stay arbitrary.
        let (rank, start) = if seed & 1 == 0 {
            (rank % world.max(1), start % (n + 1))
        } else {
            (rank, start)
        };
        let Ok(shard) = Shard::new(n, start, rank, world, shard_drop_last) else {
            prop_assert!(shard_count(n, start, rank, world, shard_drop_last).is_none());
            return Ok(());
        };
        let first = first % (shard.len() + 1);
        let count = count.min((shard.len() - first) as usize);
        let mut filled = vec![0i64; count];
        sampler.fill(&order, &shard, first, &mut filled);
        for (i, &value) in (first..).zip(&filled) {
            prop_assert_eq!(value, sampler.value_at(&order, shard.global_position(i)), "i {}", i);
        }
        if shard.len() <= 6000 {
            let all = sampler.shard_values(&order, &shard).unwrap();
            prop_assert_eq!(all.len() as u64, shard.len());
            prop_assert_eq!(&all[first as usize..first as usize + count], &filled[..]);
        }
    }
}

proptest! {
    #![proptest_config(config(CASES_LARGE_TABLES))]

    /// Tables over 2^16 entries take the scatter-then-shuffle path (several buckets).
    #[test]
    fn bucketed_uniform_tables_are_bijections(len in 65_537u64..=300_000, key: u64) {
        let table = PermutationTable::shuffled(len, key).unwrap();
        prop_assert_eq!(table.len(), len);
        assert_bijection(len, |p| table.get(p))?;
    }
}

#[test]
fn empty_feistel_is_harmless() {
    for key in [0, 1, 0xDEAD_BEEF, u64::MAX] {
        let feistel = Feistel::new(0, key);
        assert!(feistel.is_empty());
        assert_eq!(feistel.width(), 8);
        feistel.apply_many(&mut []);
    }
}

/// Regression for a finding of this suite: `Shard::padded` accepts a padded end beyond
/// `u64::MAX` (as long as the count fits), and `resume_point` then overflows `start + yielded`.
/// Unreachable from Python (frames < 2^63, multiple < 2^63); fixed by saturating arithmetic.
#[test]
fn padded_resume_point_past_u64_max() {
    let shard = Shard::padded(u64::MAX, u64::MAX, u64::MAX - 1).unwrap();
    assert_eq!(shard.len(), u64::MAX - 2);
    assert_eq!(shard.resume_point(10), u64::MAX);
}
