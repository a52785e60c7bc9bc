//! Weighted draws with replacement: at every position an episode by weight (Walker's alias
//! table, built by Vose's method) and a frame uniform inside it.
//!
//! Position `p` of epoch `e` reads SplitMix64 words from the state `absorb(key(seed, e), p)`:
//! a counter-based draw, so any position is computed directly (O(1) seek) and the draws depend
//! on neither the epoch length nor the world size.

use std::sync::Arc;

use crate::error::SamplerError;
use crate::keys::{
    absorb, epoch_key, mix64, SplitMix64, WordHasher, ALGORITHM_VERSION, DOMAIN_WEIGHTED,
};
use crate::mixture::check_weights_with;
use crate::order::EpochValues;
use crate::parallel::Build;
use crate::rng::below;
use crate::sampler::Sampler;
use crate::shard::Shard;

/// What a weight applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Per {
    /// Episode `k` is drawn with probability `w_k / sum w`.
    Episode,
    /// Every kept frame of episode `k` weighs `w_k`.
    Frame,
}

/// Walker's alias table over `weights` (all finite and > 0, fewer than 2^32), built by Vose's
/// method in place: returns `(accept, alias)`, column `i` kept with probability `accept[i]`,
/// else `alias[i]` taken.
pub fn alias_table(weights: Vec<f64>) -> (Vec<f64>, Vec<u32>) {
    alias_table_with(weights, Build::serial()).expect("never interrupted")
}

/// [`alias_table`], polling `build`'s interruption check every
/// [`crate::parallel::POLL_EVERY`] columns.
pub fn alias_table_with(
    mut weights: Vec<f64>,
    build: Build<'_>,
) -> Result<(Vec<f64>, Vec<u32>), SamplerError> {
    let n = weights.len();
    let scale = n as f64 / sum_polled(&weights, build)?;
    for piece in build.pieces(0..n) {
        weights[piece?].iter_mut().for_each(|w| *w *= scale);
    }
    let accept = &mut weights;
    // Columns kept with probability 1 never read their alias.
    let mut alias = vec![0u32; n];
    // Two stacks in one buffer: small columns grow from the front, large from the back.
    let mut stacks = vec![0u32; n];
    let (mut small, mut large) = (0, n);
    for piece in build.pieces(0..n) {
        for i in piece? {
            if accept[i] < 1.0 {
                stacks[small] = i as u32;
                small += 1;
            } else {
                large -= 1;
                stacks[large] = i as u32;
            }
        }
    }
    let mut ticks = build.ticks();
    while small > 0 && large < n {
        small -= 1;
        let (s, l) = (stacks[small] as usize, stacks[large] as usize);
        alias[s] = l as u32;
        let rest = accept[l] + accept[s] - 1.0;
        accept[l] = rest;
        if rest < 1.0 {
            // `l` moves from the large stack to the small one.
            large += 1;
            stacks[small] = l as u32;
            small += 1;
        }
        ticks.add(1)?;
    }
    // What is left is 1 up to rounding: always kept.
    for &i in stacks[..small].iter().chain(&stacks[large..]) {
        accept[i as usize] = 1.0;
    }
    Ok((weights, alias))
}

/// The sum of `values` in order (as `Iterator::sum`), polling `build` between pieces.
fn sum_polled(values: &[f64], build: Build<'_>) -> Result<f64, SamplerError> {
    let mut sum = -0.0;
    for piece in build.pieces(0..values.len()) {
        sum = values[piece?].iter().fold(sum, |sum, &v| sum + v);
    }
    Ok(sum)
}

/// Probability of every column of an alias table (for tests and reports).
pub fn alias_probabilities(accept: &[f64], alias: &[u32]) -> Vec<f64> {
    let n = accept.len() as f64;
    let mut p: Vec<f64> = accept.iter().map(|a| a / n).collect();
    for (i, a) in accept.iter().enumerate() {
        p[alias[i] as usize] += (1.0 - a) / n;
    }
    p
}

/// One column of the table with everything a draw needs, so that a draw reads one 32-byte
/// record: the coin threshold, then for the column's own episode and its alias the value of
/// the first frame (or, with a row table, the logical position of the first frame) and the
/// frame count.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(32))]
struct Column {
    /// Keep the own episode when the 64-bit coin is below this (`u64::MAX`: always).
    threshold: u64,
    first: [i64; 2],
    len: [u32; 2],
}

/// The coin threshold of an acceptance probability: `coin < threshold` with a uniform 64-bit
/// coin has probability `accept` (to 2^-53; 1 is always).
fn threshold(accept: f64) -> u64 {
    if accept >= 1.0 {
        u64::MAX
    } else {
        // accept < 1 has at most 53 significant bits: exact in the scaled integer.
        (accept * 2f64.powi(64)) as u64
    }
}

/// A validated weighted sampler.
#[derive(Debug)]
pub struct WeightedDraws {
    sampler: Arc<Sampler>,
    columns: Vec<Column>,
    /// Values are rows of a table (`Column::first` holds logical positions).
    through_rows: bool,
    seed: u64,
    fingerprint: u64,
}

/// Longest episode a weighted sampler draws from (frame counts are stored as `u32`).
pub const MAX_EPISODE_LEN: u64 = u32::MAX as u64;

impl WeightedDraws {
    /// `weights` holds one entry per episode of the boundary arrays; only the kept episodes'
    /// count. `sampler` gives the kept frames and their rows (its shuffle is not used).
    pub fn new(
        sampler: Arc<Sampler>,
        weights: &[f64],
        per: Per,
        seed: u64,
    ) -> Result<Self, SamplerError> {
        Self::new_with(sampler, weights, per, seed, Build::serial())
    }

    /// [`WeightedDraws::new`], polling `build`'s interruption check every
    /// [`crate::parallel::POLL_EVERY`] episodes ([`SamplerError::Interrupted`] if interrupted).
    pub fn new_with(
        sampler: Arc<Sampler>,
        weights: &[f64],
        per: Per,
        seed: u64,
        build: Build<'_>,
    ) -> Result<Self, SamplerError> {
        let index = sampler.index();
        let boundary_episodes = index.num_boundary_episodes();
        if weights.len() != boundary_episodes {
            return Err(SamplerError::invalid(format!(
                "weights must hold one entry per episode of the boundary arrays \
                 ({boundary_episodes}), got {}",
                weights.len()
            )));
        }
        check_weights_with("weights", weights, build)?;
        let mut episodes: Vec<u32> = Vec::with_capacity(index.num_episodes());
        let mut column_weights = Vec::with_capacity(index.num_episodes());
        let ids = index.episode_ids();
        for piece in build.pieces(0..ids.len()) {
            for k in piece? {
                let id = ids[k];
                let len = index.episode_len(k);
                let weight = match per {
                    Per::Episode => weights[id as usize],
                    Per::Frame => weights[id as usize] * len as f64,
                };
                if weight > 0.0 {
                    if len > MAX_EPISODE_LEN {
                        return Err(SamplerError::invalid(format!(
                            "episode {id} has {len} kept frames: weighted draws support episodes \
                             of up to {MAX_EPISODE_LEN} frames"
                        )));
                    }
                    episodes.push(k as u32);
                    column_weights.push(weight);
                }
            }
        }
        if episodes.is_empty() {
            return Err(SamplerError::invalid(
                "weights are 0 for every kept episode: nothing could be drawn",
            ));
        }
        if !sum_polled(&column_weights, build)?.is_finite() {
            return Err(SamplerError::invalid(
                "weights times episode lengths sum to more than a float can hold",
            ));
        }
        let (accept, alias) = alias_table_with(column_weights, build)?;
        let through_rows = sampler.first_value_if_consecutive(0).is_none();
        let first = |k: usize| {
            sampler
                .first_value_if_consecutive(k)
                .unwrap_or(index.offsets()[k] as i64)
        };
        let mut columns = Vec::with_capacity(episodes.len());
        for piece in build.pieces(0..episodes.len()) {
            columns.extend(piece?.map(|i| {
                let own = episodes[i] as usize;
                let other = episodes[alias[i] as usize] as usize;
                Column {
                    threshold: threshold(accept[i]),
                    first: [first(own), first(other)],
                    len: [
                        index.episode_len(own) as u32,
                        index.episode_len(other) as u32,
                    ],
                }
            }));
        }
        Ok(WeightedDraws {
            columns,
            through_rows,
            fingerprint: fingerprint(&sampler, per, weights, build)?,
            sampler,
            seed,
        })
    }

    /// Identifies the kept frames, their rows, the weights and what they apply to.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// The draws of `epoch`.
    pub fn epoch(self: &Arc<Self>, epoch: u64) -> WeightedEpoch {
        WeightedEpoch {
            draws: Arc::clone(self),
            key: epoch_key(DOMAIN_WEIGHTED, self.seed, epoch),
        }
    }

    /// The value at `position` of the epoch keyed by `key`: a uniform column, a 64-bit coin
    /// against its threshold (own episode or alias), a uniform frame of that episode, all from
    /// the SplitMix64 words of state `absorb(key, position)`.
    #[inline]
    pub fn value_at(&self, key: u64, position: u64) -> i64 {
        let mut words = SplitMix64::new(absorb(key, position));
        let mut next = || words.next_u64();
        let column = &self.columns[below(self.columns.len() as u64, &mut next) as usize];
        let side = usize::from(next() >= column.threshold);
        let frame = below(u64::from(column.len[side]), next) as i64;
        let first = column.first[side];
        if self.through_rows {
            self.sampler.value_of_logical((first + frame) as u64)
        } else {
            first.wrapping_add(frame)
        }
    }
}

/// Identifies the kept frames (first frame and length of every kept episode), their rows, what
/// the weights apply to and every weight (-0.0 and 0.0 alike). Polls `build` every
/// [`crate::parallel::POLL_EVERY`] words.
fn fingerprint(
    sampler: &Sampler,
    per: Per,
    weights: &[f64],
    build: Build<'_>,
) -> Result<u64, SamplerError> {
    let index = sampler.index();
    let state = absorb(
        absorb(mix64(ALGORITHM_VERSION), DOMAIN_WEIGHTED),
        per as u64,
    );
    let state = absorb(state, index.num_frames());
    // Parts of POLL_EVERY episodes (two words each) and weights: multiples of 4 words.
    let mut episodes = WordHasher::new();
    for piece in build.pieces(0..index.num_episodes()) {
        episodes.absorb_words(piece?.flat_map(|k| [index.starts()[k], index.episode_len(k)]));
    }
    let state = sampler.remap_fingerprint_with(episodes.finish(state), build)?;
    let mut words = WordHasher::new();
    for piece in build.pieces(0..weights.len()) {
        words.absorb_words(weights[piece?].iter().map(|w| (w + 0.0).to_bits()));
    }
    Ok(words.finish(state))
}

/// One epoch of weighted draws.
pub struct WeightedEpoch {
    draws: Arc<WeightedDraws>,
    key: u64,
}

impl WeightedEpoch {
    #[inline]
    pub fn value_at(&self, position: u64) -> i64 {
        self.draws.value_at(self.key, position)
    }
}

impl EpochValues for WeightedEpoch {
    fn fill(&mut self, shard: &Shard, first: u64, out: &mut [i64]) -> Result<(), SamplerError> {
        for (i, slot) in (first..).zip(out.iter_mut()) {
            *slot = self.value_at(shard.global_position(i));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_table_probabilities_match_the_weights() {
        for weights in [
            vec![1.0],
            vec![1.0, 1.0],
            vec![1.0, 2.0, 3.0, 4.0],
            vec![1e-12, 1.0, 5.0, 0.25, 7.5, 1e6],
        ] {
            let (accept, alias) = alias_table(weights.clone());
            let sum: f64 = weights.iter().sum();
            for (p, w) in alias_probabilities(&accept, &alias).iter().zip(&weights) {
                assert!((p - w / sum).abs() < 1e-12, "{p} vs {}", w / sum);
            }
        }
    }

    #[test]
    fn a_polled_build_is_the_same_and_stops_when_told() {
        use crate::index::{EpisodeIndex, EpisodeSpec, Remap};
        use crate::order::Permutation;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let episodes = 200_000i64;
        let from: Vec<i64> = (0..episodes).map(|e| e * 3).collect();
        let to: Vec<i64> = from.iter().map(|f| f + 2).collect();
        let spec = EpisodeSpec {
            from: &from,
            to: &to,
            ..Default::default()
        };
        let polls = AtomicUsize::new(0);
        let counting = || {
            polls.fetch_add(1, Ordering::Relaxed);
            false
        };
        let build = Build {
            threads: 1,
            interrupted: &counting,
        };
        let index = EpisodeIndex::new_with(&spec, build).unwrap();
        assert_eq!(index, EpisodeIndex::new(&spec).unwrap());
        let sampler = Arc::new(Sampler::new(
            index,
            Remap::Identity,
            false,
            Permutation::Uniform,
            0,
        ));
        let weights: Vec<f64> = (0..episodes).map(|e| 1.0 + (e % 7) as f64).collect();
        let plain =
            Arc::new(WeightedDraws::new(Arc::clone(&sampler), &weights, Per::Frame, 5).unwrap());
        polls.store(0, Ordering::Relaxed);
        let polled = Arc::new(
            WeightedDraws::new_with(Arc::clone(&sampler), &weights, Per::Frame, 5, build).unwrap(),
        );
        assert_eq!(polled.fingerprint(), plain.fingerprint());
        let (a, b) = (plain.epoch(1), polled.epoch(1));
        assert!((0..1000).all(|p| a.value_at(p) == b.value_at(p)));
        let total = polls.load(Ordering::Relaxed);
        assert!(total >= 10, "{total} polls");
        for stop_at in [0, total / 2, total - 1] {
            polls.store(0, Ordering::Relaxed);
            let stopping = || polls.fetch_add(1, Ordering::Relaxed) == stop_at;
            let build = Build {
                threads: 1,
                interrupted: &stopping,
            };
            let error =
                WeightedDraws::new_with(Arc::clone(&sampler), &weights, Per::Frame, 5, build);
            assert_eq!(error.unwrap_err(), SamplerError::Interrupted);
            if stop_at < 10 {
                polls.store(0, Ordering::Relaxed);
                let error = EpisodeIndex::new_with(&spec, build).unwrap_err();
                assert_eq!(error, SamplerError::Interrupted);
            }
        }
    }
}
