//! Readers of a stream: the same windows as without readers, each window's frames dealt to the
//! readers in runs of `READER_RUN` and shuffled over each reader's blocks; one reader is the
//! order without readers, bit for bit.

use std::sync::Arc;

use episampler_core::index::EpisodeSpec;
use episampler_core::windowed::READER_RUN;
use episampler_core::{EpisodeIndex, EpochOrder, Permutation, Remap, Sampler};
use episampler_core::{Units, WindowSpec};
use proptest::prelude::*;

mod cases;

mod common;
use common::{check_shards_equal_position_by_position, layout, permutation};

fn sampler(
    from: &[i64],
    to: &[i64],
    window: u64,
    streams: u64,
    readers: u64,
    block: u64,
    seed: u64,
) -> Sampler {
    let index = EpisodeIndex::new(&EpisodeSpec {
        from,
        to,
        ..Default::default()
    })
    .unwrap();
    let windows = WindowSpec::new(window, Units::per_episode(&index))
        .unwrap()
        .with_streams(streams, Some(block))
        .unwrap()
        .with_readers(readers, Some(block), Permutation::Uniform)
        .unwrap();
    Sampler::new(index, Remap::Identity, true, Permutation::Uniform, seed)
        .with_windows(Some(Arc::new(windows)))
}

/// Every window's logical positions, sorted (stream-major windows of `order`).
fn window_contents(order: &EpochOrder, n: u64) -> Vec<Vec<u64>> {
    let EpochOrder::Windowed(windowed) = order else {
        panic!("not windowed")
    };
    let mut positions: Vec<u64> = (0..n).collect();
    if let Some(interleave) = windowed.interleave() {
        interleave.stream_major_many(&mut positions);
    }
    let mut by_stream_major = vec![0u64; n as usize];
    for (p, &q) in positions.iter().enumerate() {
        by_stream_major[q as usize] = order.logical(p as u64);
    }
    (0..windowed.num_windows())
        .map(|w| {
            let (start, end) = windowed.window(w);
            let mut frames = by_stream_major[start as usize..end as usize].to_vec();
            frames.sort_unstable();
            frames
        })
        .collect()
}

proptest! {
    #![proptest_config(cases::config(300))]

    #[test]
    fn one_reader_is_the_order_without_readers_bit_for_bit(
        (from, to, _) in layout(), window in 1u64..60, seed: u64, epoch in 0u64..100,
        streams in 1u64..4, block in 1u64..12,
    ) {
        let plain = sampler(&from, &to, window, streams, 1, block, seed);
        let index = plain.index().clone();
        let windows = WindowSpec::new(window, Units::per_episode(&index)).unwrap()
            .with_streams(streams, Some(block)).unwrap();
        let without = Sampler::new(index, Remap::Identity, true, Permutation::Uniform, seed)
            .with_windows(Some(Arc::new(windows)));
        prop_assert_eq!(plain.fingerprint(), without.fingerprint());
        let (a, b) = (plain.epoch_order(epoch).unwrap(), without.epoch_order(epoch).unwrap());
        for p in 0..plain.num_frames() {
            prop_assert_eq!(a.logical(p), b.logical(p));
        }
    }

    #[test]
    fn readers_keep_every_window_s_frames_and_every_frame_once(
        (from, to, _) in layout(), window in 1u64..60, seed: u64, epoch in 0u64..100,
        streams in 1u64..4, readers in 2u64..5, block in 1u64..12,
    ) {
        let split = sampler(&from, &to, window, streams, readers, block, seed);
        let plain = sampler(&from, &to, window, streams, 1, block, seed);
        let n = split.num_frames();
        let (a, b) = (split.epoch_order(epoch).unwrap(), plain.epoch_order(epoch).unwrap());
        // The same windows hold the same frames: readers only move frames inside a window,
        // so every frame comes once.
        prop_assert_eq!(window_contents(&a, n), window_contents(&b, n));
    }

    #[test]
    fn a_reader_s_blocks_hold_the_runs_dealt_to_it(
        frames in 1i64..3000, readers in 2u64..5, block in 1u64..100, seed: u64,
        epoch in 0u64..100,
    ) {
        // One episode in one window: the window's unit order is the frames in order, so frame
        // f belongs to run f / READER_RUN, dealt to reader (f / READER_RUN) mod readers.
        let split = sampler(&[0], &[frames], frames as u64, 1, readers, block, seed);
        let order = split.epoch_order(epoch).unwrap();
        let n = frames as u64;
        let count = readers as usize;
        let reader_at = |p: u64| ((p / block) % readers) as usize;
        let dealt_to = |f: u64| ((f / READER_RUN) % readers) as usize;
        // Laid out reader by reader, reader c's positions take the frames from
        // positions_before(c) on: those of its own runs that fall in that range are its own.
        let mut positions = vec![0u64; count];
        let mut runs = vec![0u64; count];
        for p in 0..n {
            positions[reader_at(p)] += 1;
            runs[dealt_to(p)] += 1;
        }
        let mut own = 0;
        let (mut taken, mut laid) = (0u64, 0u64);
        for c in 0..count {
            let (take_from, take_to) = (taken, taken + positions[c]);
            let (lay_from, lay_to) = (laid, laid + runs[c]);
            own += take_to.min(lay_to).saturating_sub(take_from.max(lay_from));
            taken = take_to;
            laid = lay_to;
        }
        let actual = (0..n).filter(|&p| dealt_to(order.logical(p)) == reader_at(p)).count();
        prop_assert_eq!(actual as u64, own);
        // A reader's positions and its runs' frames differ by less than a block and a run, so
        // only a few frames move, however long the window.
        let bound = 2 * readers * (block + READER_RUN);
        prop_assert!(n - own <= bound, "{} of {} frames moved (bound {})", n - own, n, bound);
    }

    #[test]
    fn only_uniform_windows_take_readers(
        window in 1u64..60, permutation in permutation(), readers in 1u64..4, block in 1u64..9,
    ) {
        let index = EpisodeIndex::new(&EpisodeSpec {
            from: &[0], to: &[50], ..Default::default()
        }).unwrap();
        let spec = WindowSpec::new(window, Units::per_episode(&index)).unwrap()
            .with_readers(readers, Some(block), permutation);
        let accepted = readers == 1 || permutation == Permutation::Uniform;
        prop_assert_eq!(spec.is_ok(), accepted);
    }

    #[test]
    fn shard_values_equal_position_by_position(
        (from, to, _) in layout(), window in 1u64..60, seed: u64, world in 1u64..4,
        start_cut in 0u64..100, streams in 1u64..4, readers in 2u64..4, block in 1u64..9,
    ) {
        let split = sampler(&from, &to, window, streams, readers, block, seed);
        check_shards_equal_position_by_position(&split, world, start_cut)?;
    }
}

#[test]
fn fingerprints_cover_readers_and_block() {
    let (from, to) = (vec![0, 5, 9, 20], vec![5, 9, 20, 21]);
    let fingerprint = |readers, block| sampler(&from, &to, 4, 1, readers, block, 0).fingerprint();
    assert_eq!(fingerprint(1, 64), fingerprint(1, 32));
    assert_ne!(fingerprint(1, 64), fingerprint(2, 64));
    assert_ne!(fingerprint(2, 64), fingerprint(3, 64));
    assert_ne!(fingerprint(2, 64), fingerprint(2, 32));
}

#[test]
fn readers_need_uniform_windows_and_a_block() {
    let index = EpisodeIndex::new(&EpisodeSpec {
        from: &[0],
        to: &[50],
        ..Default::default()
    })
    .unwrap();
    let spec = || WindowSpec::new(4, Units::per_episode(&index)).unwrap();
    assert!(spec()
        .with_readers(0, Some(4), Permutation::Uniform)
        .is_err());
    assert!(spec().with_readers(2, None, Permutation::Uniform).is_err());
    assert!(spec()
        .with_readers(2, Some(0), Permutation::Uniform)
        .is_err());
    assert!(spec()
        .with_readers(2, Some(4), Permutation::Feistel)
        .is_err());
    assert!(spec().with_readers(1, None, Permutation::Feistel).is_ok());
    // A uniform spec with readers asked for a Feistel epoch: an error, not a silent order.
    let readers = spec()
        .with_readers(2, Some(4), Permutation::Uniform)
        .unwrap();
    assert!(readers
        .epoch_order(&index, Permutation::Feistel, 0, 0)
        .is_err());
}
