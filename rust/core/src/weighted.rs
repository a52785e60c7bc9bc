//! Weighted draws with replacement: at every position an episode by weight (Walker's alias
//! table, built by Vose's method) and a frame uniform inside it.
//!
//! Position `p` of epoch `e` reads SplitMix64 words from the state `absorb(key(seed, e), p)`:
//! a counter-based draw, so any position is computed directly (O(1) seek) and the draws depend
//! on neither the epoch length nor the world size.

use std::sync::Arc;

use crate::error::SamplerError;
use crate::keys::{absorb, epoch_key, SplitMix64, DOMAIN_WEIGHTED};
use crate::mixture::check_weights;
use crate::rng::below;
use crate::sampler::{EpochValues, Sampler};
use crate::shard::Shard;

/// What a weight applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Per {
    /// Episode `k` is drawn with probability `w_k / sum w`.
    Episode,
    /// Every kept frame of episode `k` weighs `w_k`.
    Frame,
}

/// Walker's alias table over the columns with a positive weight: column `i` is kept with
/// probability `accept[i]`, else its alias is taken.
#[derive(Debug, Clone)]
pub struct AliasTable {
    accept: Vec<f64>,
    alias: Vec<u32>,
}

impl AliasTable {
    /// Vose's method over `weights` (all finite and > 0, fewer than 2^32).
    pub fn new(weights: &[f64]) -> Self {
        let n = weights.len();
        let sum: f64 = weights.iter().sum();
        let mut scaled: Vec<f64> = weights.iter().map(|&w| w / sum * n as f64).collect();
        let mut alias: Vec<u32> = (0..n as u32).collect();
        let (mut small, mut large): (Vec<u32>, Vec<u32>) =
            (0..n as u32).partition(|&i| scaled[i as usize] < 1.0);
        while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
            small.pop();
            alias[s as usize] = l;
            let rest = scaled[l as usize] + scaled[s as usize] - 1.0;
            scaled[l as usize] = rest;
            if rest < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // What is left is 1 up to rounding: always kept.
        for i in small.into_iter().chain(large) {
            scaled[i as usize] = 1.0;
        }
        AliasTable {
            accept: scaled,
            alias,
        }
    }

    pub fn len(&self) -> usize {
        self.accept.len()
    }

    pub fn is_empty(&self) -> bool {
        self.accept.is_empty()
    }

    /// The column drawn from the words `next` gives (an exact uniform column, then a 53-bit
    /// uniform coin against its acceptance).
    #[inline]
    pub fn draw(&self, mut next: impl FnMut() -> u64) -> usize {
        let column = below(self.accept.len() as u64, &mut next) as usize;
        let coin = (next() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
        if coin < self.accept[column] {
            column
        } else {
            self.alias[column] as usize
        }
    }

    /// Probability of every column (for tests and reports).
    pub fn probabilities(&self) -> Vec<f64> {
        let n = self.len() as f64;
        let mut p: Vec<f64> = self.accept.iter().map(|a| a / n).collect();
        for (i, a) in self.accept.iter().enumerate() {
            p[self.alias[i] as usize] += (1.0 - a) / n;
        }
        p
    }
}

/// A validated weighted sampler.
#[derive(Debug)]
pub struct WeightedDraws {
    sampler: Arc<Sampler>,
    /// Kept episodes (ranks in the index) with a positive weight: the table's columns.
    episodes: Vec<u32>,
    table: AliasTable,
    seed: u64,
    fingerprint: u64,
}

impl WeightedDraws {
    /// `weights` holds one entry per episode of the boundary arrays; only the kept episodes'
    /// count. `sampler` gives the kept frames and their rows (its shuffle is not used).
    pub fn new(
        sampler: Arc<Sampler>,
        weights: &[f64],
        per: Per,
        seed: u64,
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
        check_weights("weights", weights)?;
        let mut episodes = Vec::new();
        let mut column_weights = Vec::new();
        for (k, &id) in index.episode_ids().iter().enumerate() {
            let weight = match per {
                Per::Episode => weights[id as usize],
                Per::Frame => weights[id as usize] * index.episode_len(k) as f64,
            };
            if weight > 0.0 {
                episodes.push(k as u32);
                column_weights.push(weight);
            }
        }
        if episodes.is_empty() {
            return Err(SamplerError::invalid(
                "weights are 0 for every kept episode: nothing could be drawn",
            ));
        }
        if !column_weights.iter().sum::<f64>().is_finite() {
            return Err(SamplerError::invalid(
                "weights times episode lengths sum to more than a float can hold",
            ));
        }
        let mut state = absorb(sampler.fingerprint(), DOMAIN_WEIGHTED);
        state = absorb(state, per as u64);
        for &w in weights {
            state = absorb(state, (w + 0.0).to_bits());
        }
        Ok(WeightedDraws {
            table: AliasTable::new(&column_weights),
            sampler,
            episodes,
            seed,
            fingerprint: state,
        })
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Identifies the kept frames, their rows, the weights and what they apply to.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    pub fn table(&self) -> &AliasTable {
        &self.table
    }

    pub fn num_kept_episodes(&self) -> usize {
        self.sampler.index().num_episodes()
    }

    /// Kept-episode rank of every column of the table.
    pub fn episodes(&self) -> &[u32] {
        &self.episodes
    }

    /// The draws of `epoch`.
    pub fn epoch(self: &Arc<Self>, epoch: u64) -> WeightedEpoch {
        WeightedEpoch {
            draws: Arc::clone(self),
            key: epoch_key(DOMAIN_WEIGHTED, self.seed, epoch),
        }
    }

    /// `(kept episode, frame offset in it)` at `position` of the epoch keyed by `key`.
    #[inline]
    pub fn draw(&self, key: u64, position: u64) -> (usize, u64) {
        let mut words = SplitMix64::new(absorb(key, position));
        let mut next = || words.next_u64();
        let k = self.episodes[self.table.draw(&mut next)] as usize;
        (k, below(self.sampler.index().episode_len(k), next))
    }
}

/// One epoch of weighted draws.
pub struct WeightedEpoch {
    draws: Arc<WeightedDraws>,
    key: u64,
}

impl WeightedEpoch {
    #[inline]
    pub fn value_at(&self, position: u64) -> i64 {
        let (k, offset) = self.draws.draw(self.key, position);
        self.draws.sampler.value_in_episode(k, offset)
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
            let table = AliasTable::new(&weights);
            let sum: f64 = weights.iter().sum();
            for (p, w) in table.probabilities().iter().zip(&weights) {
                assert!((p - w / sum).abs() < 1e-12, "{p} vs {}", w / sum);
            }
        }
    }
}
