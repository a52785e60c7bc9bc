//! The quality and I/O report of one epoch's read order: how many episodes and video files
//! (groups) each batch mixes, how many decoders every DataLoader worker opens, how far the
//! order moves frames from boundary order, and what decoder cache it needs.
//!
//! # The reading model
//!
//! One rank's stream of the epoch (its [`Shard`] of the global order) is cut into batches of
//! `batch_size` consecutive samples, the last one short when the size does not divide the
//! stream (PyTorch's `DataLoader` with `drop_last=False`). Batch `i` is read by worker
//! `i % num_workers` (the DataLoader's round-robin; `num_workers = 0` reads everything in the
//! main process, one reader), and each worker reads its batches' samples in order.
//!
//! A sample of group `g` (e.g. the video file holding its episode) needs `decoders_per_group`
//! decoders, one per camera. This models LeRobot 0.6.1's `VideoDecoderCache`
//! (`lerobot/datasets/video_utils.py`): one LRU per process (the module-level
//! `_default_decoder_cache`, so one per DataLoader worker), keyed by the video file's path,
//! which names the camera and the `(chunk, file)` index, so the cameras of a sample share the
//! cache; capacity `LEROBOT_VIDEO_DECODER_CACHE_SIZE` (default 100; `none` / `-1`: unbounded).
//! A hit moves the entry to the most recent end, a miss opens a decoder and then evicts the
//! least recently used entries beyond capacity. A sample touches each of its cameras once
//! (`_query_videos` decodes all of a camera's timestamps in one call). The cache starts cold.
//!
//! The cameras of a sample are taken in one fixed order. Then camera `c` of group `g`, accessed
//! again after `D` other distinct groups, has LRU stack distance `decoders_per_group * (D + 1)`
//! whatever `c` is: all cameras of a group hit or miss together, and the decoder-level LRU of
//! capacity `C` opens exactly `decoders_per_group` times what a group-level LRU of capacity
//! `C / decoders_per_group` (rounded down) opens. That is what is simulated, exactly, per
//! worker. (LeRobot decodes the cameras in parallel threads, so the order of their cache
//! look-ups may vary; that can matter only when `C` is not a multiple of
//! `decoders_per_group`, and the real count then lies between this model's at `C` and at the
//! next multiple.) With the pyav backend LeRobot caches nothing: every sample opens its files.
//!
//! # Cost
//!
//! LRU stack distances of each worker's group accesses, with a Fenwick tree over access times
//! compacted to the live entries whenever it fills (see [`StackDistances`]): O(n log G) time for
//! `n` samples and `G` groups, O(episodes + groups + n / batches-per-worker) memory, no
//! O(n * cache) scan. Plus one pass over the global order for the displacement.

use std::collections::HashMap;

use crate::error::SamplerError;
use crate::index::EpisodeIndex;
use crate::sampler::{EpochOrder, Sampler};
use crate::shard::Shard;
// Defined here before it had a module of its own: `report::StackDistances` stays.
pub use crate::stack_distance::StackDistances;

pub use crate::config::MAX_WORKERS;

/// How the DataLoader reads one rank's stream (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadSetup {
    /// Samples per batch, >= 1.
    pub batch_size: u64,
    /// DataLoader workers; 0 reads in the main process (one reader). At most [`MAX_WORKERS`].
    pub num_workers: u64,
    /// Decoders each worker's LRU holds, >= 1; `u64::MAX` for an unbounded cache.
    pub cache_size: u64,
    /// Decoders a sample needs from its group (e.g. one per camera), >= 1.
    pub decoders_per_group: u64,
    /// Consecutive batches (as the DataLoader delivers them) whose distinct episodes and
    /// groups the span figures count, >= 1: the mixing over several optimiser steps.
    pub span_batches: u64,
}

/// The group of every kept episode, numbered densely `0..num_groups` in order of first
/// appearance among the kept episodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupLayout {
    group_of_episode: Vec<u32>,
    num_groups: usize,
}

impl GroupLayout {
    /// Every kept episode its own group.
    pub fn per_episode(index: &EpisodeIndex) -> Self {
        let kept = index.num_episodes();
        GroupLayout {
            group_of_episode: (0..kept as u32).collect(),
            num_groups: kept,
        }
    }

    /// Kept episodes with equal `groups[e]` share a group; `e` is the episode's position in the
    /// boundary arrays, so `groups` has one entry per episode of those arrays (any ids).
    pub fn from_ids(index: &EpisodeIndex, groups: &[i64]) -> Result<Self, SamplerError> {
        crate::config::check_group_ids("groups", groups.len(), index.num_boundary_episodes())?;
        let mut number_of: HashMap<i64, u32> = HashMap::new();
        let mut group_of_episode = Vec::with_capacity(index.num_episodes());
        for &episode in index.episode_ids() {
            let id = groups[episode as usize]; // in range: checked above
            let next = number_of.len() as u32;
            group_of_episode.push(*number_of.entry(id).or_insert(next));
        }
        Ok(GroupLayout {
            group_of_episode,
            num_groups: number_of.len(),
        })
    }

    /// Distinct groups among the kept episodes.
    pub fn num_groups(&self) -> usize {
        self.num_groups
    }

    /// Group of kept episode `k`.
    pub fn group_of(&self, k: usize) -> u32 {
        self.group_of_episode[k]
    }
}

/// The figures of one epoch's order; see [`io_report`] for their definitions.
#[derive(Debug, Clone, PartialEq)]
pub struct IoReport {
    /// Samples the rank reads (its shard's length).
    pub num_samples: u64,
    /// Batches, the short last one included.
    pub num_batches: u64,
    /// Distinct groups among the kept episodes.
    pub num_groups: u64,
    /// Mean over batches of the distinct kept episodes in a batch.
    pub mean_episodes_per_batch: f64,
    /// Mean over batches of the distinct groups in a batch.
    pub mean_groups_per_batch: f64,
    /// Spans of `span_batches` consecutive batches, the short last one included.
    pub num_spans: u64,
    /// Mean over spans of the distinct kept episodes in a span.
    pub mean_episodes_per_span: f64,
    /// Mean over spans of the distinct groups in a span.
    pub mean_groups_per_span: f64,
    /// Decoders each worker opens (`max(1, num_workers)` entries).
    pub worker_opens: Vec<u64>,
    /// Samples each worker reads.
    pub worker_samples: Vec<u64>,
    /// Distinct groups (files) each worker reads.
    pub worker_groups: Vec<u64>,
    /// Decoders opened, all workers together.
    pub decoder_opens: u64,
    /// Decoders an unbounded cache would open: each worker's distinct decoders, once each.
    pub cold_opens: u64,
    /// `1000 * decoder_opens / num_samples`: every worker's rate, weighted by its samples.
    pub opens_per_1000_samples: f64,
    /// Mean over global positions `p` of `|p - logical(p)| / num_frames`.
    pub mean_displacement: f64,
    /// Smallest cache size (>= 1) at which every worker opens only what an unbounded cache
    /// opens; any larger cache does too (LRU is a stack algorithm).
    pub needed_cache_size: u64,
}

/// The report of the epoch ordered by `order` (from `sampler.epoch_order`), read as `shard`
/// (a shard of that sampler's frames) by the DataLoader described by `setup`; groups from
/// `groups` (built from `sampler.index()`).
///
/// * Batch figures: a short last batch counts as one batch, like any other (the mean is over
///   `ceil(num_samples / batch_size)` batches, unweighted).
/// * Opens: the exact LRU simulation of the module documentation.
/// * Displacement: over every global position of the epoch, whatever the shard; `logical(p)`
///   is the boundary-order position of the frame yielded at `p`. 0 for boundary order, about
///   1/3 for a uniform shuffle.
/// * Needed cache size: `decoders_per_group * max_distance`, where `max_distance` is the
///   largest group-level LRU stack distance of a repeated access (1 + the distinct other
///   groups the worker read since the previous access to the same group), over all workers; 1
///   when no worker reads a group twice. A cache of `C` decoders re-opens a repeated access
///   exactly when `decoders_per_group * distance > C`.
///
/// Fails on a zero batch size, cache size, decoders per group or span, too many workers, or groups
/// built for another index.
pub fn io_report(
    sampler: &Sampler,
    order: &EpochOrder,
    shard: &Shard,
    groups: &GroupLayout,
    setup: &ReadSetup,
) -> Result<IoReport, SamplerError> {
    report_chunked(sampler.index(), shard, groups, setup, |positions| {
        logical_many(order, positions)
    })
}

/// [`io_report`] for any order given as `logical` (global position -> boundary-order position,
/// a bijection of `0..index.num_frames()`).
pub fn report_with(
    index: &EpisodeIndex,
    shard: &Shard,
    groups: &GroupLayout,
    setup: &ReadSetup,
    logical: impl Fn(u64) -> u64,
) -> Result<IoReport, SamplerError> {
    report_chunked(index, shard, groups, setup, |positions| {
        for position in positions {
            *position = logical(*position);
        }
    })
}

/// Positions mapped per `map_many` call.
const CHUNK: usize = 4096;

/// `order.logical` of every entry, in place; a Feistel network many positions at a time (see
/// `Feistel::apply_many`: several times faster than one by one).
fn logical_many(order: &EpochOrder, positions: &mut [u64]) {
    match order {
        EpochOrder::Feistel(feistel) => feistel.apply_many(positions),
        EpochOrder::Windowed(windowed) => windowed.logical_many(positions),
        _ => {
            for position in positions {
                *position = order.logical(*position);
            }
        }
    }
}

/// [`report_with`] with the order applied to chunks of positions in place by `map_many`.
fn report_chunked(
    index: &EpisodeIndex,
    shard: &Shard,
    groups: &GroupLayout,
    setup: &ReadSetup,
    map_many: impl Fn(&mut [u64]),
) -> Result<IoReport, SamplerError> {
    check_setup(setup)?;
    if groups.group_of_episode.len() != index.num_episodes() {
        return Err(SamplerError::invalid(format!(
            "groups: expected one group per kept episode ({}), got {}",
            index.num_episodes(),
            groups.group_of_episode.len()
        )));
    }
    let num_samples = shard.len();
    let batch_size = setup.batch_size;
    let num_batches = num_samples.div_ceil(batch_size);
    let readers = setup.num_workers.max(1);
    let group_capacity = setup.cache_size / setup.decoders_per_group;

    // Batch `b` writes `b + 1` into the stamps of the episodes / groups it holds: a distinct
    // count per batch with no clearing between batches.
    let mut episode_stamp = vec![0u64; index.num_episodes()];
    let mut group_stamp = vec![0u64; groups.num_groups];
    let (mut episodes_in_batches, mut groups_in_batches) = (0u64, 0u64);
    let mut worker_group_misses = vec![0u64; readers as usize];
    let mut worker_samples = vec![0u64; readers as usize];
    let mut worker_groups = vec![0u64; readers as usize];
    let (mut cold, mut max_distance) = (0u64, 0u64);
    let mut distances = StackDistances::new(groups.num_groups);
    // A chunk of a worker's samples (possibly from several of its batches): their positions,
    // mapped to logical ones in place, and their batches' stamps.
    let mut positions = vec![0u64; CHUNK];
    let mut stamps = vec![0u64; CHUNK];

    for worker in 0..readers.min(num_batches) {
        let batches = (num_batches - worker).div_ceil(readers);
        let most_samples = batches.saturating_mul(batch_size);
        distances.reset(most_samples.min(groups.num_groups as u64) as usize);
        let (mut misses, mut first_reads, mut read) = (0u64, 0u64, 0u64);
        let mut samples = (worker..num_batches)
            .step_by(readers as usize)
            .flat_map(|batch| {
                let first = batch * batch_size;
                (first..first.saturating_add(batch_size).min(num_samples)).map(move |i| (i, batch))
            })
            .peekable();
        while samples.peek().is_some() {
            let mut filled = 0;
            // The buffer first: `zip` would drop the sample it took when the buffer is full.
            for ((position, stamp), (i, batch)) in positions
                .iter_mut()
                .zip(stamps.iter_mut())
                .zip(&mut samples)
            {
                *position = shard.global_position(i);
                *stamp = batch + 1;
                filled += 1;
            }
            read += filled as u64;
            map_many(&mut positions[..filled]);
            // Episodes first, in a loop of their own: their look-ups are independent and
            // overlap, where the LRU's branches in between would keep them apart.
            for position in &mut positions[..filled] {
                *position = index.episode_of(*position) as u64;
            }
            for (&episode, &stamp) in positions[..filled].iter().zip(&stamps[..filled]) {
                let k = episode as usize;
                let group = groups.group_of_episode[k];
                if episode_stamp[k] != stamp {
                    episode_stamp[k] = stamp;
                    episodes_in_batches += 1;
                }
                if group_stamp[group as usize] != stamp {
                    group_stamp[group as usize] = stamp;
                    groups_in_batches += 1;
                }
                match distances.access(group) {
                    None => {
                        first_reads += 1;
                        misses += 1;
                    }
                    Some(distance) => {
                        max_distance = max_distance.max(u64::from(distance));
                        misses += u64::from(u64::from(distance) > group_capacity);
                    }
                }
            }
        }
        worker_group_misses[worker as usize] = misses;
        worker_samples[worker as usize] = read;
        worker_groups[worker as usize] = first_reads;
        cold += first_reads;
    }

    // Spans: the batches in the order the DataLoader delivers them (batch `b` after `b - 1`,
    // whichever worker read it), stamped `span + 1` as above.
    let span_samples = batch_size.saturating_mul(setup.span_batches);
    let num_spans = num_samples.div_ceil(span_samples);
    episode_stamp.fill(0);
    group_stamp.fill(0);
    let (mut episodes_in_spans, mut groups_in_spans) = (0u64, 0u64);
    let mut first = 0u64;
    while first < num_samples {
        let filled = (num_samples - first).min(CHUNK as u64) as usize;
        for (i, position) in (first..).zip(positions[..filled].iter_mut()) {
            *position = shard.global_position(i);
        }
        map_many(&mut positions[..filled]);
        for (i, position) in (first..).zip(positions[..filled].iter()) {
            let stamp = i / span_samples + 1;
            let k = index.episode_of(*position);
            let group = groups.group_of_episode[k] as usize;
            if episode_stamp[k] != stamp {
                episode_stamp[k] = stamp;
                episodes_in_spans += 1;
            }
            if group_stamp[group] != stamp {
                group_stamp[group] = stamp;
                groups_in_spans += 1;
            }
        }
        first += filled as u64;
    }

    let per_group = setup.decoders_per_group;
    let worker_opens: Vec<u64> = worker_group_misses
        .iter()
        .map(|&misses| misses.saturating_mul(per_group))
        .collect();
    let decoder_opens = worker_opens
        .iter()
        .fold(0u64, |sum, &opens| sum.saturating_add(opens));
    let ratio = |count: u64, total: u64| {
        if total == 0 {
            0.0
        } else {
            count as f64 / total as f64
        }
    };
    Ok(IoReport {
        num_samples,
        num_batches,
        num_groups: groups.num_groups as u64,
        mean_episodes_per_batch: ratio(episodes_in_batches, num_batches),
        mean_groups_per_batch: ratio(groups_in_batches, num_batches),
        num_spans,
        mean_episodes_per_span: ratio(episodes_in_spans, num_spans),
        mean_groups_per_span: ratio(groups_in_spans, num_spans),
        decoder_opens,
        cold_opens: cold.saturating_mul(per_group),
        opens_per_1000_samples: 1000.0 * ratio(decoder_opens, num_samples),
        worker_opens,
        worker_samples,
        worker_groups,
        mean_displacement: mean_displacement(index.num_frames(), &mut positions, map_many),
        needed_cache_size: if max_distance == 0 {
            1
        } else {
            max_distance.saturating_mul(per_group)
        },
    })
}

fn check_setup(setup: &ReadSetup) -> Result<(), SamplerError> {
    for (name, value) in [
        ("batch_size", setup.batch_size),
        ("decoder_cache_size", setup.cache_size),
        ("decoders_per_group", setup.decoders_per_group),
        ("span_batches", setup.span_batches),
    ] {
        if value == 0 {
            return Err(SamplerError::invalid(format!("{name} must be >= 1, got 0")));
        }
    }
    if setup.num_workers > MAX_WORKERS {
        return Err(SamplerError::invalid(format!(
            "num_workers must be <= {MAX_WORKERS}, got {}",
            setup.num_workers
        )));
    }
    Ok(())
}

/// Mean over positions `p < num_frames` of `|p - logical(p)| / num_frames`, a chunk of
/// `buffer.len()` positions at a time.
fn mean_displacement(num_frames: u64, buffer: &mut [u64], map_many: impl Fn(&mut [u64])) -> f64 {
    if num_frames == 0 {
        return 0.0;
    }
    // Exact in u128: each term is < 2^64 and there are < 2^64 of them.
    let mut total = 0u128;
    let mut first = 0u64;
    while first < num_frames {
        let chunk = &mut buffer[..(num_frames - first).min(CHUNK as u64) as usize];
        for (position, slot) in (first..).zip(chunk.iter_mut()) {
            *slot = position;
        }
        map_many(chunk);
        for (position, &logical) in (first..).zip(chunk.iter()) {
            total += u128::from(position.abs_diff(logical));
        }
        first += chunk.len() as u64;
    }
    total as f64 / num_frames as f64 / num_frames as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::EpisodeSpec;
    use crate::{Permutation, Remap};
    use proptest::prelude::*;

    fn index_of(from: &[i64], to: &[i64]) -> EpisodeIndex {
        EpisodeIndex::new(&EpisodeSpec {
            from,
            to,
            ..EpisodeSpec::default()
        })
        .unwrap()
    }

    fn setup(batch_size: u64, num_workers: u64, cache_size: u64, per_group: u64) -> ReadSetup {
        ReadSetup {
            batch_size,
            num_workers,
            cache_size,
            decoders_per_group: per_group,
            span_batches: 1,
        }
    }

    fn whole(index: &EpisodeIndex) -> Shard {
        Shard::new(index.num_frames(), 0, 0, 1, false).unwrap()
    }

    /// The obvious simulation: every worker's decoder-level LRU as a list, most recent last,
    /// keyed `(camera, group)`, cameras in order; plus the stack distances of its accesses.
    /// Returns (opens per worker, cold opens).
    fn brute_force_opens(
        groups_read: &[u32],
        batch_size: usize,
        num_workers: usize,
        cache_size: usize,
        per_group: u32,
    ) -> (Vec<u64>, u64) {
        let readers = num_workers.max(1);
        let mut opens = vec![0u64; readers];
        let mut cold = 0;
        for (worker, opened) in opens.iter_mut().enumerate() {
            let mut cache: Vec<(u32, u32)> = Vec::new();
            let mut seen: Vec<(u32, u32)> = Vec::new();
            for (batch, samples) in groups_read.chunks(batch_size).enumerate() {
                if batch % readers != worker {
                    continue;
                }
                for &group in samples {
                    for camera in 0..per_group {
                        let key = (camera, group);
                        if let Some(at) = cache.iter().position(|&k| k == key) {
                            cache.remove(at);
                        } else {
                            *opened += 1;
                            if !seen.contains(&key) {
                                seen.push(key);
                                cold += 1;
                            }
                        }
                        cache.push(key);
                        if cache.len() > cache_size {
                            cache.remove(0);
                        }
                    }
                }
            }
        }
        (opens, cold)
    }

    /// Group of every sample the rank reads, in stream order.
    fn groups_read(
        index: &EpisodeIndex,
        shard: &Shard,
        layout: &GroupLayout,
        logical: impl Fn(u64) -> u64,
    ) -> Vec<u32> {
        (0..shard.len())
            .map(|i| layout.group_of(index.episode_of(logical(shard.global_position(i)))))
            .collect()
    }

    #[test]
    fn report_of_a_hand_checked_order() {
        // Episodes [0, 2), [2, 4), [4, 6) in groups 0, 1, 0; order 0 2 4 1 3 5.
        let index = index_of(&[0, 2, 4], &[2, 4, 6]);
        let layout = GroupLayout::from_ids(&index, &[7, -3, 7]).unwrap();
        let order = [0u64, 2, 4, 1, 3, 5];
        let shard = whole(&index);
        let run = |setup: ReadSetup| {
            report_with(&index, &shard, &layout, &setup, |p| order[p as usize]).unwrap()
        };
        // Episodes 0 1 | 2 0 | 1 2 ; groups 0 1 | 0 0 | 1 0.
        let one = run(setup(2, 1, 1, 1));
        assert_eq!(one.num_samples, 6);
        assert_eq!(one.num_batches, 3);
        assert_eq!(one.num_groups, 2);
        assert_eq!(one.mean_episodes_per_batch, 2.0);
        assert_eq!(one.mean_groups_per_batch, 5.0 / 3.0);
        // LRU of one group: 0 cold, 1 cold, 0 (distance 2), 0 (1), 1 (2), 0 (2).
        assert_eq!(one.worker_opens, vec![5]);
        assert_eq!(one.decoder_opens, 5);
        assert_eq!(one.cold_opens, 2);
        assert_eq!(one.opens_per_1000_samples, 5000.0 / 6.0);
        // |p - logical(p)| = 0 1 2 2 1 0.
        assert_eq!(one.mean_displacement, 6.0 / 36.0);
        assert_eq!(one.needed_cache_size, 2);
        assert_eq!(run(setup(2, 1, 2, 1)).decoder_opens, 2);
        // Two cameras in a cache of 3: a group-level LRU of 1 (checked by hand, key by key).
        let cameras = run(setup(2, 1, 3, 2));
        assert_eq!((cameras.decoder_opens, cameras.cold_opens), (10, 4));
        assert_eq!(cameras.needed_cache_size, 4);
        assert_eq!(run(setup(2, 1, 4, 2)).decoder_opens, 4);
        // Two workers: batches 0 and 2 (groups 0 1 1 0) and batch 1 (groups 0 0).
        let two = run(setup(2, 2, 1, 1));
        assert_eq!(two.worker_opens, vec![3, 1]);
        assert_eq!(two.worker_samples, vec![4, 2]);
        assert_eq!(two.worker_groups, vec![2, 1]);
        assert_eq!(two.needed_cache_size, 2);
        // A short last batch counts as one batch: episodes 0 1 2 | 0 1 | ... over 2 batches.
        let short = run(setup(4, 0, 100, 1));
        assert_eq!(short.num_batches, 2);
        assert_eq!(short.mean_episodes_per_batch, (3.0 + 2.0) / 2.0);
        assert_eq!(short.mean_groups_per_batch, (2.0 + 2.0) / 2.0);
        assert_eq!(short.worker_opens, vec![2]);
    }

    #[test]
    fn report_of_boundary_order_has_no_displacement_and_one_open_per_group_and_worker() {
        let index = index_of(&[0, 3, 5, 9], &[3, 5, 9, 10]);
        let layout = GroupLayout::per_episode(&index);
        let sampler = Sampler::new(
            index.clone(),
            Remap::Identity,
            false,
            Permutation::Uniform,
            1,
        );
        let order = sampler.epoch_order(0).unwrap();
        let report = io_report(
            &sampler,
            &order,
            &whole(&index),
            &layout,
            &setup(2, 1, 3, 3),
        );
        let report = report.unwrap();
        assert_eq!(report.mean_displacement, 0.0);
        assert_eq!(report.decoder_opens, 4 * 3);
        assert_eq!(report.decoder_opens, report.cold_opens);
        assert_eq!(report.needed_cache_size, 3);
        // Batches: 0 0 | 0 1 | 1 2 | 2 2 | 2 3.
        assert_eq!(report.mean_episodes_per_batch, 8.0 / 5.0);
    }

    #[test]
    fn report_of_a_uniform_shuffle_displaces_about_a_third() {
        let index = index_of(&[0], &[200_000]);
        let sampler = Sampler::new(
            index.clone(),
            Remap::Identity,
            true,
            Permutation::Uniform,
            5,
        );
        let order = sampler.epoch_order(3).unwrap();
        let layout = GroupLayout::per_episode(&index);
        let report = io_report(
            &sampler,
            &order,
            &whole(&index),
            &layout,
            &setup(8, 2, 1, 1),
        );
        let report = report.unwrap();
        // Mean of |U - V| for independent uniforms is 1/3; the sample's spread is ~0.0005.
        assert!(
            (report.mean_displacement - 1.0 / 3.0).abs() < 0.005,
            "{report:?}"
        );
        // One episode: each worker opens its only decoder once.
        assert_eq!(report.worker_opens, vec![1, 1]);
        assert_eq!(report.needed_cache_size, 1);
    }

    #[test]
    fn report_rejects_bad_setups_and_foreign_groups() {
        let index = index_of(&[0, 2], &[2, 4]);
        let layout = GroupLayout::per_episode(&index);
        let shard = whole(&index);
        let run = |setup: ReadSetup, layout: &GroupLayout| {
            report_with(&index, &shard, layout, &setup, |p| p)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            run(setup(0, 1, 1, 1), &layout),
            "batch_size must be >= 1, got 0"
        );
        assert_eq!(
            run(setup(1, 1, 0, 1), &layout),
            "decoder_cache_size must be >= 1, got 0"
        );
        assert_eq!(
            run(setup(1, 1, 1, 0), &layout),
            "decoders_per_group must be >= 1, got 0"
        );
        let no_span = ReadSetup {
            span_batches: 0,
            ..setup(1, 1, 1, 1)
        };
        assert_eq!(run(no_span, &layout), "span_batches must be >= 1, got 0");
        assert_eq!(
            run(setup(1, MAX_WORKERS + 1, 1, 1), &layout),
            "num_workers must be <= 65536, got 65537"
        );
        let other = GroupLayout::per_episode(&index_of(&[0], &[4]));
        assert_eq!(
            run(setup(1, 1, 1, 1), &other),
            "groups: expected one group per kept episode (2), got 1"
        );
        assert_eq!(
            GroupLayout::from_ids(&index, &[1]).unwrap_err().to_string(),
            "groups must hold one id per episode of the boundary arrays (2), got 1"
        );
    }

    #[test]
    fn report_of_an_empty_shard_is_all_zeros() {
        let index = index_of(&[0], &[1]);
        let shard = Shard::new(1, 0, 1, 2, true).unwrap();
        let layout = GroupLayout::per_episode(&index);
        let report = report_with(&index, &shard, &layout, &setup(4, 2, 1, 1), |p| p).unwrap();
        assert_eq!((report.num_samples, report.num_batches), (0, 0));
        assert_eq!(report.worker_opens, vec![0, 0]);
        assert_eq!(report.mean_groups_per_batch, 0.0);
        assert_eq!(report.opens_per_1000_samples, 0.0);
        assert_eq!(report.needed_cache_size, 1);
    }

    #[test]
    fn report_of_streams_of_many_chunks_matches_a_brute_force_lru() {
        // Workers read 13,337 samples: several chunks, some spanning two batches.
        let (from, to) = crate::synthetic::episodes(40_011, 300, 4);
        let index = index_of(&from, &to);
        let ids: Vec<i64> = (0..300).map(|e| e / 7).collect();
        let layout = GroupLayout::from_ids(&index, &ids).unwrap();
        for permutation in [Permutation::Feistel, Permutation::Uniform] {
            let sampler = Sampler::new(index.clone(), Remap::Identity, true, permutation, 9);
            let order = sampler.epoch_order(2).unwrap();
            let shard = whole(&index);
            let read = setup(5, 3, 7, 2);
            let chunked = io_report(&sampler, &order, &shard, &layout, &read).unwrap();
            // Feistel positions go through `apply_many` here, one by one there.
            let one_by_one =
                report_with(&index, &shard, &layout, &read, |p| order.logical(p)).unwrap();
            assert_eq!(chunked, one_by_one);
            let read_groups = groups_read(&index, &shard, &layout, |p| order.logical(p));
            let (opens, cold) = brute_force_opens(&read_groups, 5, 3, 7, 2);
            assert_eq!((chunked.worker_opens, chunked.cold_opens), (opens, cold));
            let distinct_groups: usize = read_groups
                .chunks(5)
                .map(|batch| {
                    let mut seen = batch.to_vec();
                    seen.sort_unstable();
                    seen.dedup();
                    seen.len()
                })
                .sum();
            let batches = read_groups.len().div_ceil(5) as f64;
            assert_eq!(
                chunked.mean_groups_per_batch,
                distinct_groups as f64 / batches
            );
        }
    }

    proptest! {
        #[test]
        fn report_matches_a_brute_force_lru(
            lengths in prop::collection::vec(1i64..9, 1..12),
            group_ids in prop::collection::vec(-2i64..4, 12),
            shuffle in any::<bool>(),
            feistel in any::<bool>(),
            seed in any::<u64>(),
            batch_size in 1u64..7,
            num_workers in 0u64..4,
            cache_size in 1u64..9,
            per_group in 1u64..4,
            world in 1u64..3,
            drop_last in any::<bool>(),
            span_batches in 1u64..5,
        ) {
            let mut from = Vec::new();
            let mut to = Vec::new();
            for &length in &lengths {
                let start = to.last().copied().unwrap_or(0);
                from.push(start);
                to.push(start + length);
            }
            let index = index_of(&from, &to);
            let permutation = if feistel { Permutation::Feistel } else { Permutation::Uniform };
            let sampler = Sampler::new(index.clone(), Remap::Identity, shuffle, permutation, seed);
            let order = sampler.epoch_order(seed % 5).unwrap();
            let layout = GroupLayout::from_ids(&index, &group_ids[..lengths.len()]).unwrap();
            let shard = Shard::new(index.num_frames(), 0, world - 1, world, drop_last).unwrap();
            let read = ReadSetup {
                span_batches,
                ..setup(batch_size, num_workers, cache_size, per_group)
            };
            let report = io_report(&sampler, &order, &shard, &layout, &read).unwrap();

            let read_groups = groups_read(&index, &shard, &layout, |p| order.logical(p));
            let (b, w, per) = (batch_size as usize, num_workers as usize, per_group as u32);
            let (opens, cold) = brute_force_opens(&read_groups, b, w, cache_size as usize, per);
            prop_assert_eq!(&report.worker_opens, &opens);
            prop_assert_eq!(report.decoder_opens, opens.iter().sum::<u64>());
            prop_assert_eq!(report.cold_opens, cold);
            // The needed size is the smallest at which the opens are the cold ones.
            let opens_at = |size: usize| brute_force_opens(&read_groups, b, w, size, per).0;
            let needed = (1..).find(|&size| opens_at(size).iter().sum::<u64>() == cold).unwrap();
            prop_assert_eq!(report.needed_cache_size, needed as u64);

            let n = index.num_frames();
            let moved: u64 = (0..n).map(|p| p.abs_diff(order.logical(p))).sum();
            prop_assert_eq!(report.mean_displacement, moved as f64 / n as f64 / n as f64);
            let batches: Vec<&[u32]> = read_groups.chunks(b).collect();
            let distinct = |batch: &[u32]| {
                let mut seen = batch.to_vec();
                seen.sort_unstable();
                seen.dedup();
                seen.len()
            };
            let groups_total: usize = batches.iter().map(|batch| distinct(batch)).sum();
            let read_episodes: Vec<u32> = (0..shard.len())
                .map(|i| index.episode_of(order.logical(shard.global_position(i))) as u32)
                .collect();
            let episodes_total: usize = read_episodes.chunks(b).map(distinct).sum();
            if !batches.is_empty() {
                let mean = groups_total as f64 / batches.len() as f64;
                prop_assert!((report.mean_groups_per_batch - mean).abs() < 1e-12);
                let mean = episodes_total as f64 / batches.len() as f64;
                prop_assert!((report.mean_episodes_per_batch - mean).abs() < 1e-12);
            }
            // Spans: `span_batches` consecutive batches of the rank, in delivery order.
            let span = b * span_batches as usize;
            let spans = read_groups.len().div_ceil(span);
            prop_assert_eq!(report.num_spans, spans as u64);
            if spans > 0 {
                let groups_total: usize = read_groups.chunks(span).map(distinct).sum();
                let episodes_total: usize = read_episodes.chunks(span).map(distinct).sum();
                let mean = groups_total as f64 / spans as f64;
                prop_assert!((report.mean_groups_per_span - mean).abs() < 1e-12);
                let mean = episodes_total as f64 / spans as f64;
                prop_assert!((report.mean_episodes_per_span - mean).abs() < 1e-12);
            }
        }
    }
}
