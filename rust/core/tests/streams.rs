//! Worker-aware streams: the units dealt to the lightest stream, windows cut per stream, the
//! epoch read `block` positions per stream in turn; one stream is the plain windowed order.

use std::collections::HashMap;
use std::sync::Arc;

use episampler_core::index::EpisodeSpec;
use episampler_core::{EpisodeIndex, EpochOrder, Permutation, Remap, Sampler};
use episampler_core::{Units, WindowSpec};
use proptest::prelude::*;

mod cases;

mod common;
use common::{check_shards_equal_position_by_position, layout, permutation};

struct Setup<'a> {
    from: &'a [i64],
    to: &'a [i64],
    groups: Option<&'a [i64]>,
    window: u64,
    streams: u64,
    block: Option<u64>,
    permutation: Permutation,
    seed: u64,
}

impl Setup<'_> {
    fn index(&self) -> EpisodeIndex {
        EpisodeIndex::new(&EpisodeSpec {
            from: self.from,
            to: self.to,
            ..Default::default()
        })
        .unwrap()
    }

    fn units(&self, index: &EpisodeIndex) -> Units {
        match self.groups {
            Some(groups) => Units::from_groups(index, groups).unwrap(),
            None => Units::per_episode(index),
        }
    }

    fn sampler(&self) -> Sampler {
        let index = self.index();
        let windows = WindowSpec::new(self.window, self.units(&index))
            .unwrap()
            .with_streams(self.streams, self.block)
            .unwrap();
        Sampler::new(index, Remap::Identity, true, self.permutation, self.seed)
            .with_windows(Some(Arc::new(windows)))
    }

    /// The unit of every kept episode (an id that is the same for episodes of one unit).
    fn unit_of(&self, k: usize) -> i64 {
        match self.groups {
            Some(groups) => groups[k],
            None => k as i64 + 1000,
        }
    }
}

/// The reference interleave, round by round: (stream, offset in the stream) of every position.
fn reference_interleave(lengths: &[u64], block: u64) -> Vec<(usize, u64)> {
    let mut out = Vec::new();
    let mut round = 0u64;
    while lengths.iter().any(|&length| length > round * block) {
        for (stream, &length) in lengths.iter().enumerate() {
            let first = round * block;
            for offset in first..length.min(first + block) {
                out.push((stream, offset));
            }
        }
        round += 1;
    }
    out
}

proptest! {
    #![proptest_config(cases::config(300))]

    #[test]
    fn one_stream_is_the_windowed_order_bit_for_bit(
        (from, to, groups) in layout(), window in 1u64..80, permutation in permutation(),
        seed: u64, epoch in 0u64..1000, grouped: bool, block in prop::option::of(0u64..10),
    ) {
        let setup = Setup {
            from: &from, to: &to, groups: grouped.then_some(groups.as_slice()), window,
            streams: 1, block, permutation, seed,
        };
        let with_streams = setup.sampler();
        let index = setup.index();
        let plain = Sampler::new(index.clone(), Remap::Identity, true, permutation, seed)
            .with_windows(Some(Arc::new(WindowSpec::new(window, setup.units(&index)).unwrap())));
        prop_assert_eq!(with_streams.fingerprint(), plain.fingerprint());
        let (a, b) = (with_streams.epoch_order(epoch).unwrap(), plain.epoch_order(epoch).unwrap());
        for p in 0..plain.num_frames() {
            prop_assert_eq!(a.logical(p), b.logical(p));
        }
    }

    #[test]
    fn units_go_to_the_lightest_stream_and_the_epoch_reads_streams_in_turn(
        (from, to, groups) in layout(), permutation in permutation(), seed: u64,
        epoch in 0u64..1000, grouped: bool, streams in 2u64..6, block in 1u64..12,
    ) {
        // With window = 1 every unit is a window, so the plain order lists the permuted units.
        let groups = grouped.then_some(groups.as_slice());
        let plain = Setup { from: &from, to: &to, groups, window: 1, streams: 1, block: None,
                            permutation, seed };
        let setup = Setup { streams, block: Some(block), ..plain };
        let index = setup.index();
        let unit_at = |order: &EpochOrder, p: u64| setup.unit_of(index.episode_ids()[index.episode_of(order.logical(p))] as usize);
        let plain_order = plain.sampler().epoch_order(epoch).unwrap();
        let mut permuted: Vec<(i64, u64)> = Vec::new();  // (unit, frames) in permuted order
        for p in 0..index.num_frames() {
            let unit = unit_at(&plain_order, p);
            match permuted.last_mut() {
                Some((last, frames)) if *last == unit => *frames += 1,
                _ => permuted.push((unit, 1)),
            }
        }
        // Deal: the stream with the fewest frames so far, ties to the lowest index.
        let mut lengths = vec![0u64; streams as usize];
        let mut stream_units: Vec<Vec<(i64, u64)>> = vec![vec![]; streams as usize];
        for &(unit, frames) in &permuted {
            let s = (0..streams as usize).min_by_key(|&s| (lengths[s], s)).unwrap();
            lengths[s] += frames;
            stream_units[s].push((unit, frames));
        }
        // Unit at every offset of every stream, then at every epoch position.
        let stream_unit_at: Vec<Vec<i64>> = stream_units.iter().map(|units| {
            units.iter().flat_map(|&(unit, frames)| std::iter::repeat_n(unit, frames as usize)).collect()
        }).collect();
        let expected: Vec<i64> = reference_interleave(&lengths, block)
            .into_iter().map(|(s, offset)| stream_unit_at[s][offset as usize]).collect();
        let order = setup.sampler().epoch_order(epoch).unwrap();
        let EpochOrder::Windowed(windowed) = &order else { panic!("not windowed") };
        prop_assert_eq!(windowed.interleave().unwrap().lengths(), lengths.as_slice());
        let actual: Vec<i64> = (0..index.num_frames()).map(|p| unit_at(&order, p)).collect();
        prop_assert_eq!(actual, expected);
    }

    #[test]
    fn every_epoch_is_a_permutation_with_windows_inside_streams(
        (from, to, groups) in layout(), window in 1u64..60, permutation in permutation(),
        seed: u64, epoch in 0u64..1000, grouped: bool, streams in 2u64..6, block in 1u64..12,
    ) {
        let setup = Setup {
            from: &from, to: &to, groups: grouped.then_some(groups.as_slice()), window,
            streams, block: Some(block), permutation, seed,
        };
        let sampler = setup.sampler();
        let index = sampler.index();
        let n = sampler.num_frames();
        let order = sampler.epoch_order(epoch).unwrap();
        let EpochOrder::Windowed(windowed) = &order else { panic!("not windowed") };
        let logical: Vec<u64> = (0..n).map(|p| order.logical(p)).collect();
        let mut sorted = logical.clone();
        sorted.sort_unstable();
        prop_assert_eq!(sorted, (0..n).collect::<Vec<_>>());

        // Stream-major positions: stream s holds [starts[s], starts[s + 1]).
        let lengths = windowed.interleave().unwrap().lengths().to_vec();
        let mut stream_end = 0;
        let ends: Vec<u64> = lengths.iter().map(|l| { stream_end += l; stream_end }).collect();
        let stream_of = |q: u64| ends.partition_point(|&end| end <= q);
        // The stream-major order of logical positions.
        let mut by_stream_major = vec![0u64; n as usize];
        let mut positions: Vec<u64> = (0..n).collect();
        windowed.interleave().unwrap().stream_major_many(&mut positions);
        for (p, &q) in positions.iter().enumerate() {
            by_stream_major[q as usize] = logical[p];
        }
        let mut window_of_unit: HashMap<i64, usize> = HashMap::new();
        for w in 0..windowed.num_windows() {
            let (start, end) = windowed.window(w);
            // A window lies inside one stream; only a stream's last window may be short.
            prop_assert_eq!(stream_of(start), stream_of(end - 1));
            let last_of_stream = ends.contains(&end);
            prop_assert!(end - start >= window || last_of_stream);
            for &l in &by_stream_major[start as usize..end as usize] {
                let unit = setup.unit_of(index.episode_ids()[index.episode_of(l)] as usize);
                prop_assert_eq!(*window_of_unit.entry(unit).or_insert(w), w);
            }
        }
        // Random access equals bulk evaluation, in any order of positions.
        let mut positions: Vec<u64> = (0..n).rev().collect();
        windowed.logical_many(&mut positions);
        let expected: Vec<u64> = (0..n).rev().map(|p| logical[p as usize]).collect();
        prop_assert_eq!(positions, expected);
    }

    #[test]
    fn shard_values_equal_position_by_position(
        (from, to, _) in layout(), window in 1u64..60, permutation in permutation(),
        seed: u64, world in 1u64..4, start_cut in 0u64..100, streams in 2u64..5,
        block in 1u64..9,
    ) {
        let setup = Setup { from: &from, to: &to, groups: None, window, streams,
                            block: Some(block), permutation, seed };
        let sampler = setup.sampler();
        check_shards_equal_position_by_position(&sampler, world, start_cut)?;
    }
}

#[test]
fn fingerprints_cover_streams_and_block() {
    let (from, to) = (vec![0, 5, 9, 20], vec![5, 9, 20, 21]);
    let fingerprint = |streams: u64, block: Option<u64>| {
        Setup {
            from: &from,
            to: &to,
            groups: None,
            window: 4,
            streams,
            block,
            permutation: Permutation::Uniform,
            seed: 0,
        }
        .sampler()
        .fingerprint()
    };
    assert_eq!(fingerprint(1, None), fingerprint(1, Some(64)));
    assert_ne!(fingerprint(1, None), fingerprint(2, Some(64)));
    assert_ne!(fingerprint(2, Some(64)), fingerprint(3, Some(64)));
    assert_ne!(fingerprint(2, Some(64)), fingerprint(2, Some(32)));
}

#[test]
fn bad_stream_settings_are_errors() {
    let index = EpisodeIndex::new(&EpisodeSpec {
        from: &[0],
        to: &[5],
        ..Default::default()
    })
    .unwrap();
    let spec = || WindowSpec::new(4, Units::per_episode(&index)).unwrap();
    assert!(spec().with_streams(0, Some(4)).is_err());
    assert!(spec().with_streams(2, None).is_err());
    assert!(spec().with_streams(2, Some(0)).is_err());
    assert!(spec().with_streams(1 << 20, Some(4)).is_err());
    // More streams than units: the extra streams stay empty.
    let sampler = Sampler::new(
        index.clone(),
        Remap::Identity,
        true,
        Permutation::Feistel,
        1,
    )
    .with_windows(Some(Arc::new(spec().with_streams(8, Some(2)).unwrap())));
    let order = sampler.epoch_order(0).unwrap();
    let mut values: Vec<u64> = (0..5).map(|p| order.logical(p)).collect();
    values.sort_unstable();
    assert_eq!(values, vec![0, 1, 2, 3, 4]);
}

#[test]
fn seeking_far_into_a_large_stream_order_is_cheap() {
    // 2 * 10^5 episodes of 5 * 10^4 frames (10^10 frames), 8 streams, Feistel windows: any
    // position without building a table.
    let count = 200_000i64;
    let from: Vec<i64> = (0..count).map(|e| e * 50_000).collect();
    let to: Vec<i64> = from.iter().map(|f| f + 50_000).collect();
    let setup = Setup {
        from: &from,
        to: &to,
        groups: None,
        window: 400_000,
        streams: 8,
        block: Some(64),
        permutation: Permutation::Feistel,
        seed: 5,
    };
    let sampler = setup.sampler();
    let order = sampler.epoch_order(2).unwrap();
    let n = sampler.num_frames();
    let mut seen = std::collections::HashSet::new();
    for p in [0, 1, n / 3, n / 2 + 17, n - 1] {
        let logical = order.logical(p);
        assert!(logical < n);
        assert!(seen.insert(logical));
    }
    // Consecutive blocks of 64 come from different streams, so from different windows.
    let EpochOrder::Windowed(windowed) = &order else {
        panic!()
    };
    let interleave = windowed.interleave().unwrap();
    let streams: Vec<usize> = (0..8).map(|b| interleave.segment(b * 64).stream).collect();
    assert_eq!(streams, (0..8).collect::<Vec<_>>());
}
