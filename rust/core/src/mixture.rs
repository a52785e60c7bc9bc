//! Mixtures: several component samplers read in set proportions, exactly per block.
//!
//! An epoch of a mixture has `samples_per_epoch` positions, cut into blocks of `block_size`
//! from position 0 (the last block may be partial). Weights become integer counts per block by
//! largest remainder (ties to the lower component), so every full block holds exactly
//! `counts[c]` slots of component `c`; a partial last block of `r` positions gets the largest
//! remainder counts of `r`. The slots of a block (its multiset of components) are shuffled by
//! Fisher–Yates keyed by `(seed, epoch, block)`.
//!
//! Component `c`'s `k`-th draw since epoch 0 is its own sampler's value at position `k % len_c`
//! of its epoch `k / len_c`: it cycles through its own shuffled epochs and repeats no frame
//! before every frame was drawn. Draws per mixture epoch are the same for every epoch, so the
//! draws made before any position are computed, never replayed: O(1) seek, plus O(block_size)
//! to build the block that holds the position.

use std::sync::{Arc, Mutex, TryLockError};

use crate::error::{try_filled, SamplerError};
use crate::keys::{absorb, epoch_key, mix64, ALGORITHM_VERSION, DOMAIN_MIXTURE_SLOTS};
use crate::order::{EpochValues, RunLong};
use crate::parallel::Build;
use crate::rng::BoundedDraws;
use crate::sampler::{EpochOrder, Sampler, FEISTEL_CHUNK};
use crate::shard::Shard;

pub use crate::config::MAX_BLOCK_SIZE;

/// Integer counts summing to `total` in the proportions of `weights` (finite, >= 0, positive
/// sum): the floors of the exact quotas, then one more for the largest fractional parts, ties
/// to the lower index. Quotas are computed in `f64`.
pub fn largest_remainder(weights: &[f64], total: u64) -> Vec<u64> {
    let sum: f64 = weights.iter().sum();
    let quotas: Vec<f64> = weights.iter().map(|&w| w / sum * total as f64).collect();
    let mut counts: Vec<u64> = quotas
        .iter()
        .map(|&q| (q.floor() as u64).min(total))
        .collect();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    // Largest fractional part first; the stable sort keeps ties in index order.
    order.sort_by(|&a, &b| {
        let (fa, fb) = (quotas[a] - quotas[a].floor(), quotas[b] - quotas[b].floor());
        fb.total_cmp(&fa)
    });
    let assigned: u64 = counts.iter().sum();
    if assigned <= total {
        // Exact arithmetic leaves fewer than `weights.len()` to hand out; rounding may leave
        // more, hence the cycle (over positive weights only).
        let positive: Vec<usize> = order.into_iter().filter(|&c| weights[c] > 0.0).collect();
        for &c in positive.iter().cycle().take((total - assigned) as usize) {
            counts[c] += 1;
        }
    } else {
        // Only rounding can overshoot: take back from the smallest fractional parts.
        let mut excess = assigned - total;
        for &c in order.iter().rev().cycle() {
            if excess == 0 {
                break;
            }
            if counts[c] > 0 {
                counts[c] -= 1;
                excess -= 1;
            }
        }
    }
    counts
}

/// A validated mixture configuration.
#[derive(Debug)]
pub struct Mixture {
    components: Vec<Arc<Sampler>>,
    offsets: Vec<i64>,
    block_size: u64,
    samples_per_epoch: u64,
    seed: u64,
    /// Slots of every component in a full block.
    counts: Vec<u64>,
    /// Slots of every component in the partial last block of an epoch (all 0 if none).
    last_counts: Vec<u64>,
    /// Draws of every component in one mixture epoch.
    draws_per_epoch: Vec<u64>,
    fingerprint: u64,
    /// Every component's latest epoch order, handed from one cursor to the next: a component
    /// epoch that straddles two mixture epochs is built once. Held only while a cursor takes
    /// or returns them, never while an order is built, and never waited for.
    orders: Mutex<Vec<Option<(u64, EpochOrder)>>>,
}

impl Mixture {
    pub fn new(
        components: Vec<Arc<Sampler>>,
        offsets: Vec<i64>,
        weights: &[f64],
        block_size: u64,
        samples_per_epoch: u64,
        seed: u64,
    ) -> Result<Self, SamplerError> {
        let n = components.len();
        if n == 0 {
            return Err(SamplerError::invalid(
                "samplers must hold at least one component sampler, got 0",
            ));
        }
        if n > u32::MAX as usize {
            return Err(SamplerError::invalid(format!(
                "samplers: at most {} components, got {n}",
                u32::MAX
            )));
        }
        for (name, len) in [("weights", weights.len()), ("offsets", offsets.len())] {
            if len != n {
                return Err(SamplerError::invalid(format!(
                    "{name} must hold one entry per component sampler ({n}), got {len}"
                )));
            }
        }
        check_weights("weights", weights)?;
        if !(1..=MAX_BLOCK_SIZE).contains(&block_size) {
            return Err(SamplerError::invalid(format!(
                "block_size must be in [1, 2**32], got {block_size}"
            )));
        }
        let counts = largest_remainder(weights, block_size);
        if let Some(c) = (0..n).find(|&c| weights[c] > 0.0 && counts[c] == 0) {
            let sum: f64 = weights.iter().sum();
            return Err(SamplerError::NoSlot {
                component: c,
                message: format!(
                    "block_size={block_size} gives component {c} (weight {}) no slot in a \
                     block: use a block_size of at least {} or a weight of 0",
                    weights[c],
                    (sum / weights[c]).ceil()
                ),
            });
        }
        let full_blocks = samples_per_epoch / block_size;
        let remainder = samples_per_epoch % block_size;
        let last_counts = largest_remainder(weights, remainder);
        let draws_per_epoch = (0..n)
            .map(|c| full_blocks * counts[c] + last_counts[c])
            .collect();
        let mut state = absorb(mix64(ALGORITHM_VERSION), DOMAIN_MIXTURE_SLOTS);
        for (c, component) in components.iter().enumerate() {
            for word in [
                component.fingerprint(),
                component.seed(),
                component.num_frames(),
                offsets[c] as u64,
                (weights[c] + 0.0).to_bits(), // -0.0 and 0.0 alike
            ] {
                state = absorb(state, word);
            }
        }
        let fingerprint = absorb(absorb(state, block_size), samples_per_epoch);
        Ok(Mixture {
            orders: Mutex::new(vec![None; components.len()]),
            components,
            offsets,
            block_size,
            samples_per_epoch,
            seed,
            counts,
            last_counts,
            draws_per_epoch,
            fingerprint,
        })
    }

    pub fn samples_per_epoch(&self) -> u64 {
        self.samples_per_epoch
    }

    /// Slots of every component in a full block.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// Identifies the components (their fingerprints, seeds and sizes), offsets, weights,
    /// block size and epoch length; the mixture's seed is recorded on its own.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// Reads `epoch` (a cursor with its own caches, seeded with the orders the latest cursor
    /// returned).
    pub fn epoch(self: &Arc<Self>, epoch: u64) -> MixtureEpoch {
        let empty = || vec![None; self.components.len()];
        // Never waits: a busy lock (or one a fork left locked) only costs the cache.
        let orders = match self.orders.try_lock() {
            Ok(mut shared) => std::mem::replace(&mut *shared, empty()),
            Err(TryLockError::Poisoned(poisoned)) => {
                std::mem::replace(&mut *poisoned.into_inner(), empty())
            }
            Err(TryLockError::WouldBlock) => empty(),
        };
        MixtureEpoch {
            mixture: Arc::clone(self),
            epoch,
            key: epoch_key(DOMAIN_MIXTURE_SLOTS, self.seed, epoch),
            block: None,
            last: None,
            slots: Vec::new(),
            block_draws: vec![(0, 0); self.components.len()],
            orders,
            scratch: Scratch::default(),
        }
    }
}

/// Weights must be finite and >= 0 with a positive, finite sum (one pass).
pub fn check_weights(name: &str, weights: &[f64]) -> Result<(), SamplerError> {
    check_weights_with(name, weights, Build::serial())
}

/// [`check_weights`], polling `build`'s interruption check every
/// [`crate::parallel::POLL_EVERY`] weights.
pub fn check_weights_with(
    name: &str,
    weights: &[f64],
    build: Build<'_>,
) -> Result<(), SamplerError> {
    let mut sum = 0.0;
    for piece in build.pieces(0..weights.len()) {
        for c in piece? {
            let w = weights[c];
            if w.is_nan() || w < 0.0 || w == f64::INFINITY {
                return Err(SamplerError::invalid(format!(
                    "{name} must be finite and >= 0, got {w} at index {c}"
                )));
            }
            sum += w;
        }
    }
    if sum == 0.0 {
        return Err(SamplerError::invalid(format!(
            "{name} must not all be 0: nothing could be drawn"
        )));
    }
    if !sum.is_finite() {
        return Err(SamplerError::invalid(format!(
            "{name} sum to more than a float can hold"
        )));
    }
    Ok(())
}

/// One slot of a block: its component and how many earlier slots of the block are that
/// component's.
#[derive(Debug, Clone, Copy)]
struct Slot {
    component: u32,
    rank: u32,
}

/// A cursor over one mixture epoch: the latest block's slots and every component's latest
/// epoch order are cached, so reading positions in order costs O(1) each.
pub struct MixtureEpoch {
    mixture: Arc<Mixture>,
    epoch: u64,
    key: u64,
    block: Option<u64>,
    /// The latest position read: (position, its block, its place in the block).
    last: Option<(u64, u64, u64)>,
    slots: Vec<Slot>,
    /// Per component: (its epoch, its position) of its first draw in the cached block.
    block_draws: Vec<(u64, u64)>,
    /// Per component: its latest epoch and that epoch's order.
    orders: Vec<Option<(u64, EpochOrder)>>,
    scratch: Scratch,
}

impl MixtureEpoch {
    /// Component and draw number of global position `position` (`< samples_per_epoch`):
    /// `(c, its epoch, position in that epoch)`.
    pub fn draw_at(&mut self, position: u64) -> Result<(usize, u64, u64), SamplerError> {
        let block_size = self.mixture.block_size;
        // Readers step forward by a rank stride: most steps stay in the block, no division.
        let (block, at) = match self.last {
            Some((last, block, at)) if position >= last && position - last < block_size - at => {
                (block, at + (position - last))
            }
            _ => (position / block_size, position % block_size),
        };
        self.last = Some((position, block, at));
        if self.block != Some(block) {
            self.load_block(block)?;
        }
        let slot = self.slots[at as usize];
        let c = slot.component as usize;
        let len = self.mixture.components[c].num_frames();
        let (mut epoch, mut at) = self.block_draws[c];
        at += u64::from(slot.rank);
        if at >= len {
            epoch = epoch
                .checked_add(at / len)
                .ok_or_else(|| component_epoch_overflow(c))?;
            at %= len;
        }
        Ok((c, epoch, at))
    }

    /// The value at global position `position` (`< samples_per_epoch`).
    pub fn value_at(&mut self, position: u64) -> Result<i64, SamplerError> {
        let (c, epoch, at) = self.draw_at(position)?;
        let mixture = Arc::clone(&self.mixture);
        let order = self.component_order(c, epoch, &mut Build::serial())?;
        Ok(mixture.offsets[c].wrapping_add(mixture.components[c].value_at(order, at)))
    }

    /// Builds, as `build` says, the order of every component drawn in the block of this
    /// shard's index `first`, for the epoch the component is in at that block: reading from
    /// there then builds none until a component starts its next epoch. The same values.
    pub fn prepare(
        &mut self,
        shard: &Shard,
        first: u64,
        mut build: Build<'_>,
    ) -> Result<(), SamplerError> {
        if first >= shard.len() {
            return Ok(());
        }
        self.draw_at(shard.global_position(first))?;
        let mixture = Arc::clone(&self.mixture);
        let block = self.block.expect("loaded by draw_at");
        let full = mixture.samples_per_epoch - block * mixture.block_size >= mixture.block_size;
        let counts = if full {
            &mixture.counts
        } else {
            &mixture.last_counts
        };
        for (c, &count) in counts.iter().enumerate() {
            if count > 0 {
                self.component_order(c, self.block_draws[c].0, &mut build)?;
            }
        }
        Ok(())
    }

    fn load_block(&mut self, block: u64) -> Result<(), SamplerError> {
        let mixture = &self.mixture;
        let first = block * mixture.block_size;
        let len = mixture.block_size.min(mixture.samples_per_epoch - first);
        let counts = if len == mixture.block_size {
            &mixture.counts
        } else {
            &mixture.last_counts
        };
        // The block's multiset of components, then Fisher–Yates keyed by (seed, epoch, block).
        let mut components: Vec<u32> = try_filled("a mixture block", len)?;
        let mut next = 0;
        for (c, &count) in counts.iter().enumerate() {
            components[next..next + count as usize].fill(c as u32);
            next += count as usize;
        }
        let mut draws = BoundedDraws::new(absorb(self.key, block));
        for i in (1..components.len()).rev() {
            // i + 1 <= 2^32: passed as 0 by the wrapping cast when it is 2^32 (full range).
            let j = draws.below_u32((i + 1) as u32) as usize;
            components.swap(i, j);
        }
        let mut seen = vec![0u32; counts.len()];
        self.slots.clear();
        self.slots.extend(components.iter().map(|&c| {
            let rank = seen[c as usize];
            seen[c as usize] += 1;
            Slot { component: c, rank }
        }));
        // Draws before this block: every earlier epoch's, then this epoch's earlier blocks'.
        for c in 0..counts.len() {
            let before = u128::from(self.epoch) * u128::from(mixture.draws_per_epoch[c])
                + u128::from(block) * u128::from(mixture.counts[c]);
            let len = u128::from(mixture.components[c].num_frames());
            let epoch = u64::try_from(before / len).map_err(|_| component_epoch_overflow(c))?;
            self.block_draws[c] = (epoch, (before % len) as u64);
        }
        self.block = Some(block);
        Ok(())
    }
}

impl Drop for MixtureEpoch {
    /// Hands the component orders to the next cursor (keeping any the shared slot has that
    /// this cursor does not).
    fn drop(&mut self) {
        let mut shared = self
            .mixture
            .orders
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for (slot, mine) in shared.iter_mut().zip(self.orders.iter_mut()) {
            if mine.is_some() {
                *slot = mine.take();
            }
        }
    }
}

fn component_epoch_overflow(c: usize) -> SamplerError {
    SamplerError::invalid(format!(
        "component {c} would need an epoch beyond 2**64: the mixture epoch is too large"
    ))
}

impl EpochValues for MixtureEpoch {
    fn fill(&mut self, shard: &Shard, first: u64, out: &mut [i64]) -> Result<(), SamplerError> {
        self.fill_with(shard, first, out, &mut Build::serial())
    }

    /// A chunk at a time: every position's draw first, then each component's draws of one
    /// epoch mapped together (so a `"feistel"` component maps them in bulk). A component order
    /// that takes long to build (see [`Sampler::builds_quickly`]) is built by `long`.
    fn fill_with(
        &mut self,
        shard: &Shard,
        first: u64,
        out: &mut [i64],
        long: &mut dyn RunLong,
    ) -> Result<(), SamplerError> {
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut i = first;
        let result = out.chunks_mut(FEISTEL_CHUNK).try_for_each(|chunk| {
            self.fill_chunk(shard, i, chunk, &mut scratch, long)?;
            i += chunk.len() as u64;
            Ok(())
        });
        self.scratch = scratch;
        result
    }
}

/// Buffers of [`MixtureEpoch::fill_chunk`], kept between calls.
#[derive(Default)]
pub struct Scratch {
    draws: Vec<(u32, u64, u64)>,
    /// Places of the chunk sorted by component (stable), and where each component's start.
    by_component: Vec<u32>,
    starts: Vec<usize>,
    positions: Vec<u64>,
    values: Vec<i64>,
}

impl MixtureEpoch {
    fn fill_chunk(
        &mut self,
        shard: &Shard,
        first: u64,
        out: &mut [i64],
        scratch: &mut Scratch,
        long: &mut dyn RunLong,
    ) -> Result<(), SamplerError> {
        let n = self.mixture.components.len();
        scratch.draws.clear();
        for i in first..first + out.len() as u64 {
            let (c, epoch, at) = self.draw_at(shard.global_position(i))?;
            scratch.draws.push((c as u32, epoch, at));
        }
        // Counting sort of the places by component, keeping their order.
        scratch.starts.clear();
        scratch.starts.resize(n + 1, 0);
        for &(c, _, _) in &scratch.draws {
            scratch.starts[c as usize + 1] += 1;
        }
        for c in 0..n {
            scratch.starts[c + 1] += scratch.starts[c];
        }
        let mut next = scratch.starts.clone();
        scratch.by_component.clear();
        scratch.by_component.resize(out.len(), 0);
        for (place, &(c, _, _)) in scratch.draws.iter().enumerate() {
            scratch.by_component[next[c as usize]] = place as u32;
            next[c as usize] += 1;
        }
        // Each component's places, in runs of one component epoch.
        for c in 0..n {
            let places = &scratch.by_component[scratch.starts[c]..scratch.starts[c + 1]];
            let mut run_start = 0;
            while run_start < places.len() {
                let epoch = scratch.draws[places[run_start] as usize].1;
                let run_end = places[run_start..]
                    .iter()
                    .position(|&p| scratch.draws[p as usize].1 != epoch)
                    .map_or(places.len(), |len| run_start + len);
                let run = &places[run_start..run_end];
                scratch.positions.clear();
                scratch
                    .positions
                    .extend(run.iter().map(|&p| scratch.draws[p as usize].2));
                scratch.values.resize(run.len(), 0);
                let mixture = Arc::clone(&self.mixture);
                let order = self.component_order(c, epoch, long)?;
                mixture.components[c].values_at(order, &mut scratch.positions, &mut scratch.values);
                let offset = mixture.offsets[c];
                for (&place, &value) in run.iter().zip(&scratch.values) {
                    out[place as usize] = offset.wrapping_add(value);
                }
                run_start = run_end;
            }
        }
        Ok(())
    }

    /// Component `c`'s order of its `epoch`, built once and kept while it is the latest; built
    /// by `long` unless it builds quickly.
    fn component_order(
        &mut self,
        c: usize,
        epoch: u64,
        long: &mut dyn RunLong,
    ) -> Result<&EpochOrder, SamplerError> {
        let cached = &mut self.orders[c];
        if !matches!(cached, Some((e, _)) if *e == epoch) {
            let mut spare = cached.take().map(|(_, order)| order);
            let sampler = &*self.mixture.components[c];
            let order = if sampler.builds_quickly() {
                sampler.epoch_order_reusing(epoch, spare)?
            } else {
                let mut built = None;
                long.run_long(&mut |build| {
                    built = Some(sampler.epoch_order_with(epoch, spare.take(), build)?);
                    Ok(())
                })?;
                built.ok_or(SamplerError::Interrupted)?
            };
            *cached = Some((epoch, order));
        }
        Ok(&cached.as_ref().expect("just built").1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn largest_remainder_is_exact_and_breaks_ties_to_the_lower_index() {
        assert_eq!(largest_remainder(&[1.0, 1.0, 1.0], 10), vec![4, 3, 3]);
        assert_eq!(largest_remainder(&[1.0, 1.0, 1.0], 2), vec![1, 1, 0]);
        assert_eq!(largest_remainder(&[3.0, 1.0], 1024), vec![768, 256]);
        assert_eq!(largest_remainder(&[0.0, 2.0, 1.0], 4), vec![0, 3, 1]);
        assert_eq!(largest_remainder(&[0.5, 0.5], 0), vec![0, 0]);
        for total in [1u64, 7, 1000, 1 << 40] {
            let weights = [0.1, 0.2, 0.3, 0.4, 1e-9];
            let counts = largest_remainder(&weights, total);
            assert_eq!(counts.iter().sum::<u64>(), total);
            for (count, w) in counts.iter().zip(weights) {
                let quota = w * total as f64;
                assert!(
                    (*count as f64 - quota).abs() < 1.0 + 1e-6 * quota,
                    "{count} {quota}"
                );
            }
        }
    }

    /// Counts the long work it runs, in place and serially.
    struct Counting(usize);

    impl RunLong for Counting {
        fn run_long(
            &mut self,
            work: &mut (dyn FnMut(Build<'_>) -> Result<(), SamplerError> + Send),
        ) -> Result<(), SamplerError> {
            self.0 += 1;
            work(Build::serial())
        }
    }

    #[test]
    fn long_component_builds_run_through_the_readers_runner_and_give_the_same_values() {
        use crate::index::{EpisodeIndex, EpisodeSpec, Remap};
        use crate::order::{fill_polled, Permutation};
        let sampler = |frames: i64, permutation| {
            let index = EpisodeIndex::new(&EpisodeSpec {
                from: &[0],
                to: &[frames],
                ..Default::default()
            })
            .unwrap();
            Arc::new(Sampler::new(index, Remap::Identity, true, permutation, 3))
        };
        // A large "uniform" component (built through the runner), a small one and a
        // "feistel" one (built in place: quickly).
        let large = (1 << 16) + 5;
        let components = vec![
            sampler(large, Permutation::Uniform),
            sampler(100, Permutation::Uniform),
            sampler(large, Permutation::Feistel),
        ];
        let offsets = vec![0, 1 << 20, 1 << 21];
        let len = 3 * large as u64;
        let mixture =
            Arc::new(Mixture::new(components, offsets, &[1.0, 1.0, 1.0], 64, len, 9).unwrap());
        let shard = Shard::new(len, 0, 0, 1, false).unwrap();
        let mut expected = vec![0i64; len as usize];
        mixture.epoch(1).fill(&shard, 0, &mut expected).unwrap();
        // Item by item through a counting runner: one run per epoch of the large "uniform"
        // component that the epoch reaches (its epochs 1 and 2), none for the others.
        let mut runner = Counting(0);
        let mut cursor = mixture.epoch(1);
        let mut got = vec![0i64; len as usize];
        for (i, slot) in got.chunks_mut(1000).enumerate() {
            cursor
                .fill_with(&shard, i as u64 * 1000, slot, &mut runner)
                .unwrap();
        }
        assert_eq!(got, expected);
        assert_eq!(runner.0, 2);
        // Prepared at the start: the first read builds nothing more.
        let mut cursor = mixture.epoch(1);
        cursor.prepare(&shard, 0, Build::serial()).unwrap();
        let mut runner = Counting(0);
        let mut first = vec![0i64; 1000];
        cursor
            .fill_with(&shard, 0, &mut first, &mut runner)
            .unwrap();
        assert_eq!((runner.0, &first[..]), (0, &expected[..1000]));
        // All at once, polled.
        let mut polled = vec![0i64; len as usize];
        fill_polled(&mut mixture.epoch(1), &shard, &mut polled, Build::serial()).unwrap();
        assert_eq!(polled, expected);
        let interrupted = Build {
            threads: 1,
            interrupted: &|| true,
        };
        let error = fill_polled(&mut mixture.epoch(1), &shard, &mut polled, interrupted);
        assert_eq!(error, Err(SamplerError::Interrupted));
    }
}
