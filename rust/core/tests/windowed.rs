//! Windowed orders: every epoch a permutation of the kept frames, windows made of whole units and
//! at least `window` frames, random access equal to bulk evaluation, fingerprints that tell
//! configurations apart.

use std::collections::HashMap;
use std::sync::Arc;

use episampler_core::index::EpisodeSpec;
use episampler_core::{EpisodeIndex, EpochOrder, Permutation, Remap, Sampler};
use episampler_core::{Units, WindowSpec};
use proptest::prelude::*;

mod cases;

mod common;
use common::{check_shards_equal_position_by_position, layout, permutation};

fn windowed_sampler(
    from: &[i64],
    to: &[i64],
    groups: Option<&[i64]>,
    window: u64,
    permutation: Permutation,
    seed: u64,
) -> Sampler {
    let spec = EpisodeSpec {
        from,
        to,
        ..Default::default()
    };
    let index = EpisodeIndex::new(&spec).unwrap();
    let units = match groups {
        Some(groups) => Units::from_groups(&index, groups).unwrap(),
        None => Units::per_episode(&index),
    };
    let windows = WindowSpec::new(window, units).unwrap();
    Sampler::new(index, Remap::Identity, true, permutation, seed)
        .with_windows(Some(Arc::new(windows)))
}

proptest! {
    #![proptest_config(cases::config(300))]

    #[test]
    fn every_epoch_is_a_permutation_of_whole_units_in_windows(
        (from, to, groups) in layout(), window in 1u64..80, permutation in permutation(),
        seed: u64, epoch in 0u64..1000, grouped: bool,
    ) {
        let sampler = windowed_sampler(
            &from, &to, grouped.then_some(groups.as_slice()), window, permutation, seed,
        );
        let index = sampler.index();
        let n = sampler.num_frames();
        let order = sampler.epoch_order(epoch).unwrap();
        let EpochOrder::Windowed(windowed) = &order else { panic!("not windowed") };
        let logical: Vec<u64> = (0..n).map(|p| order.logical(p)).collect();
        let mut sorted = logical.clone();
        sorted.sort_unstable();
        prop_assert_eq!(sorted, (0..n).collect::<Vec<_>>());

        // The unit of every kept episode: its group, or itself.
        let unit_of = |k: usize| -> i64 {
            if grouped { groups[index.episode_ids()[k] as usize] } else { k as i64 + 1000 }
        };
        let mut window_of_unit: HashMap<i64, usize> = HashMap::new();
        for w in 0..windowed.num_windows() {
            let (start, end) = windowed.window(w);
            let last = w + 1 == windowed.num_windows();
            prop_assert!(end - start >= window || last);
            let mut frames_of_unit: HashMap<i64, u64> = HashMap::new();
            for &l in &logical[start as usize..end as usize] {
                let unit = unit_of(index.episode_of(l));
                // A unit lies in one window only.
                prop_assert_eq!(*window_of_unit.entry(unit).or_insert(w), w);
                *frames_of_unit.entry(unit).or_default() += 1;
            }
            // The window closed as soon as it held `window` frames: without its last unit (at
            // most its largest) it held fewer.
            let largest = frames_of_unit.values().max().copied().unwrap();
            prop_assert!(end - start - largest < window);
        }
        // Random access equals bulk evaluation.
        let mut positions: Vec<u64> = (0..n).rev().collect();
        windowed.logical_many(&mut positions);
        let expected: Vec<u64> = (0..n).rev().map(|p| logical[p as usize]).collect();
        prop_assert_eq!(positions, expected);
    }

    #[test]
    fn shard_values_equal_position_by_position(
        (from, to, _) in layout(), window in 1u64..60, permutation in permutation(),
        seed: u64, world in 1u64..4, start_cut in 0u64..100,
    ) {
        let sampler = windowed_sampler(&from, &to, None, window, permutation, seed);
        check_shards_equal_position_by_position(&sampler, world, start_cut)?;
    }
}

#[test]
fn a_window_of_one_frame_keeps_every_unit_contiguous_and_a_huge_one_is_a_single_window() {
    let (from, to) = (vec![0, 5, 9, 20], vec![5, 9, 20, 21]);
    for permutation in [Permutation::Uniform, Permutation::Feistel] {
        let sampler = windowed_sampler(&from, &to, None, 1, permutation, 11);
        let order = sampler.epoch_order(0).unwrap();
        let EpochOrder::Windowed(windowed) = &order else {
            panic!()
        };
        assert_eq!(windowed.num_windows(), 4); // one per episode
        let sampler = windowed_sampler(&from, &to, None, 1 << 40, permutation, 11);
        let EpochOrder::Windowed(windowed) = sampler.epoch_order(0).unwrap() else {
            panic!()
        };
        assert_eq!(windowed.num_windows(), 1);
    }
}

#[test]
fn orders_depend_on_seed_and_epoch_and_repeat_exactly() {
    let from: Vec<i64> = (0..50).map(|e| e * 10).collect();
    let to: Vec<i64> = from.iter().map(|f| f + 10).collect();
    for permutation in [Permutation::Uniform, Permutation::Feistel] {
        let values = |seed: u64, epoch: u64| -> Vec<u64> {
            let sampler = windowed_sampler(&from, &to, None, 40, permutation, seed);
            let order = sampler.epoch_order(epoch).unwrap();
            (0..500).map(|p| order.logical(p)).collect()
        };
        assert_eq!(values(1, 2), values(1, 2));
        assert_ne!(values(1, 2), values(1, 3));
        assert_ne!(values(1, 2), values(2, 2));
    }
}

#[test]
fn fingerprints_cover_window_and_grouping_but_not_group_labels() {
    let (from, to) = (vec![0, 5, 9, 20], vec![5, 9, 20, 21]);
    let fingerprint = |groups: Option<&[i64]>, window: u64| {
        windowed_sampler(&from, &to, groups, window, Permutation::Uniform, 0).fingerprint()
    };
    let global = Sampler::new(
        EpisodeIndex::new(&EpisodeSpec {
            from: &from,
            to: &to,
            ..Default::default()
        })
        .unwrap(),
        Remap::Identity,
        true,
        Permutation::Uniform,
        0,
    );
    assert_ne!(fingerprint(None, 4), global.fingerprint());
    assert_ne!(fingerprint(None, 4), fingerprint(None, 5));
    assert_ne!(fingerprint(None, 4), fingerprint(Some(&[0, 0, 1, 1]), 4));
    assert_eq!(
        fingerprint(Some(&[0, 0, 1, 1]), 4),
        fingerprint(Some(&[9, 9, -2, -2]), 4)
    );
    // Per-episode units and one distinct id per episode are the same grouping.
    assert_eq!(fingerprint(None, 4), fingerprint(Some(&[3, 1, 2, 0]), 4));
    // Without a shuffle there are no windows: the boundary order's fingerprint.
    let unshuffled = |windows: bool| {
        let index = EpisodeIndex::new(&EpisodeSpec {
            from: &from,
            to: &to,
            ..Default::default()
        });
        let index = index.unwrap();
        let spec = WindowSpec::new(4, Units::per_episode(&index)).unwrap();
        let sampler = Sampler::new(index, Remap::Identity, false, Permutation::Uniform, 0);
        sampler
            .with_windows(windows.then(|| Arc::new(spec)))
            .fingerprint()
    };
    assert_eq!(unshuffled(true), unshuffled(false));
}
