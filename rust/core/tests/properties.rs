use episampler_core::index::EpisodeSpec;
use episampler_core::uniform::PermutationTable;
use episampler_core::{EpisodeIndex, Feistel, Permutation, Remap, Sampler, Shard};
use proptest::prelude::*;

mod cases;

/// Frames of every kept episode, written out one by one: the obvious (slow) reference.
fn naive_frames(from: &[i64], to: &[i64], used: Option<&[i64]>, first: u64, last: u64) -> Vec<u64> {
    let mut frames = Vec::new();
    for e in 0..from.len() {
        if used.is_some_and(|ids| !ids.contains(&(e as i64))) {
            continue;
        }
        let (start, end) = (from[e] as u64 + first, (to[e] as u64).saturating_sub(last));
        frames.extend(start..end.max(start));
    }
    frames
}

/// Non-overlapping episodes in shuffled boundary order, some of them empty.
fn episodes() -> impl Strategy<Value = (Vec<i64>, Vec<i64>)> {
    prop::collection::vec((0u8..4, 0i64..12), 1..30)
        .prop_flat_map(|gaps_and_lengths| {
            let mut from = Vec::new();
            let mut to = Vec::new();
            let mut cursor = 0i64;
            for (gap, length) in gaps_and_lengths {
                cursor += i64::from(gap);
                from.push(cursor);
                cursor += length;
                to.push(cursor);
            }
            let n = from.len();
            (
                Just(from),
                Just(to),
                Just((0..n).collect::<Vec<usize>>()).prop_shuffle(),
            )
        })
        .prop_map(|(from, to, order)| {
            (
                order.iter().map(|&e| from[e]).collect(),
                order.iter().map(|&e| to[e]).collect(),
            )
        })
}

proptest! {
    #![proptest_config(cases::config(256))]

    #[test]
    fn index_map_matches_naive_expansion(
        (from, to) in episodes(),
        first in 0u64..4,
        last in 0u64..4,
        subset in prop::option::of(prop::collection::vec(0usize..64, 0..10)),
    ) {
        let used: Option<Vec<i64>> =
            subset.map(|ids| ids.into_iter().map(|id| (id % from.len()) as i64).collect());
        let expected = naive_frames(&from, &to, used.as_deref(), first, last);
        let spec = EpisodeSpec {
            from: &from, to: &to, episodes_to_use: used.as_deref(), drop_first: first, drop_last: last,
        };
        match EpisodeIndex::new(&spec) {
            Err(error) => {
                prop_assert!(expected.is_empty(), "{error}");
                prop_assert!(error.to_string().starts_with("No valid frames remain"));
            }
            Ok(index) => {
                let got: Vec<u64> = (0..index.num_frames()).map(|p| index.frame_at(p)).collect();
                prop_assert_eq!(got, expected);
            }
        }
    }

    #[test]
    fn remap_table_and_shift_agree_with_rows((from, to) in episodes(), salt in 0i64..3) {
        let spec = EpisodeSpec { from: &from, to: &to, ..Default::default() };
        let Ok(index) = EpisodeIndex::new(&spec) else { return Ok(()) };
        let frames: Vec<u64> = (0..index.num_frames()).map(|p| index.frame_at(p)).collect();
        // salt 0: identity, 1: a shift per episode, 2: an arbitrary table.
        let rows: Vec<i64> = frames.iter().enumerate().map(|(p, &f)| match salt {
            0 => f as i64,
            1 => f as i64 - 3 * index.episode_of(p as u64) as i64,
            _ => (p as i64 * 7919) % 10007,
        }).collect();
        let remap = Remap::from_rows(&index, rows.clone()).unwrap();
        if salt == 0 {
            prop_assert_eq!(&remap, &Remap::Identity);
        }
        let sampler = Sampler::new(index, remap, false, Permutation::Uniform, 0);
        let order = sampler.epoch_order(0).unwrap();
        let got: Vec<i64> = (0..sampler.num_frames()).map(|p| sampler.value_at(&order, p)).collect();
        prop_assert_eq!(got, rows);
    }

    #[test]
    fn feistel_inverse_round_trips(len in 1u64..u64::MAX, key: u64, position: u64) {
        let feistel = Feistel::new(len, key);
        let position = position % len;
        let image = feistel.apply(position);
        prop_assert!(image < len);
        prop_assert_eq!(feistel.invert(image), position);
    }

    #[test]
    fn sharded_resume_yields_the_rest_of_the_epoch(
        len in 1u64..200, world in 1u64..5, cut in 0u64..200, key: u64,
    ) {
        // Positions consumed before `start` by lockstep ranks + positions every rank takes from
        // `start` = each position exactly once (padding aside).
        let start = cut % (len + 1);
        let mut seen: Vec<u64> = (0..start).collect();
        for rank in 0..world {
            let shard = Shard::new(len, start, rank, world, false).unwrap();
            for i in 0..shard.len() {
                let position = start + rank + i * world;
                if position < len {
                    seen.push(shard.global_position(i));
                } else {
                    prop_assert_eq!(shard.global_position(i), position % len);
                }
            }
        }
        seen.sort_unstable();
        prop_assert_eq!(seen, (0..len).collect::<Vec<_>>());
        let _ = key;
    }
}

fn sizes() -> Vec<u64> {
    let mut sizes = vec![1, 2, 3];
    for k in 2..=20u32 {
        sizes.extend([(1u64 << k) - 1, 1 << k, (1 << k) + 1]);
    }
    // A few sizes that are not near a power of two.
    sizes.extend([10, 100, 1000, 12_345, 99_991, 777_777]);
    sizes.sort_unstable();
    sizes.dedup();
    sizes
}

fn assert_bijection(len: u64, image: impl Fn(u64) -> u64) {
    let mut hit = vec![false; len as usize];
    for position in 0..len {
        let value = image(position);
        assert!(value < len, "len {len}: {position} -> {value}");
        assert!(!hit[value as usize], "len {len}: {value} hit twice");
        hit[value as usize] = true;
    }
}

#[test]
fn uniform_is_a_bijection_for_every_size() {
    for len in sizes() {
        for key in [0u64, 0xDEAD_BEEF] {
            let table = PermutationTable::shuffled(len, key).unwrap();
            assert_eq!(table.len(), len);
            assert_bijection(len, |p| table.get(p));
        }
    }
}

#[test]
fn feistel_is_a_bijection_for_every_size() {
    for len in sizes() {
        for key in [0u64, 0xDEAD_BEEF] {
            let feistel = Feistel::new(len, key);
            assert_bijection(len, |p| feistel.apply(p));
            for position in (0..len).step_by(((len / 1000) as usize).max(1)) {
                assert_eq!(feistel.invert(feistel.apply(position)), position);
            }
        }
    }
}

#[test]
fn shuffled_orders_move_frames_and_depend_on_seed_and_epoch() {
    let from = [0i64, 100, 300];
    let to = [100i64, 300, 1000];
    for permutation in [Permutation::Uniform, Permutation::Feistel] {
        let build = |seed| {
            let spec = EpisodeSpec {
                from: &from,
                to: &to,
                ..Default::default()
            };
            Sampler::new(
                EpisodeIndex::new(&spec).unwrap(),
                Remap::Identity,
                true,
                permutation,
                seed,
            )
        };
        let values = |sampler: &Sampler, epoch| {
            let order = sampler.epoch_order(epoch).unwrap();
            let shard = Shard::new(sampler.num_frames(), 0, 0, 1, false).unwrap();
            sampler.shard_values(&order, &shard).unwrap()
        };
        let (a, b) = (build(0), build(1));
        let base = values(&a, 0);
        assert_ne!(base, (0..1000).collect::<Vec<i64>>());
        assert_ne!(base, values(&a, 1));
        assert_ne!(base, values(&b, 0));
        assert_eq!(base, values(&build(0), 0));
        assert_eq!(
            a.fingerprint(),
            b.fingerprint(),
            "the seed is recorded on its own"
        );
    }
}
