//! A configured sampler: kept frames, optional row map, and the seeded order of any epoch.

use std::sync::{Arc, OnceLock};

use crate::error::{try_filled, SamplerError};
use crate::feistel::Feistel;
use crate::index::{EpisodeIndex, Remap};
use crate::keys::{absorb, epoch_key, mix64, ALGORITHM_VERSION, DOMAIN_FEISTEL, DOMAIN_UNIFORM};
use crate::parallel::{run_units, Build, SharedSlice};
use crate::shard::Shard;
use crate::uniform::PermutationTable;
use crate::windowed::{WindowSpec, WindowedOrder};

// Their home before `order` held them: `sampler::Permutation` and `sampler::EpochValues` stay.
pub use crate::order::{EpochValues, Permutation};

/// Values per unit of [`Sampler::fill_parallel`].
pub const FILL_PIECE: usize = 1 << 18;

/// Frames below which any epoch order builds in well under a millisecond.
pub const QUICK_BUILD_FRAMES: u64 = 1 << 16;

/// Positions mapped per `Feistel::apply_many` call in [`Sampler::fill`].
pub const FEISTEL_CHUNK: usize = 4096;

/// The order of one epoch over logical positions `0..num_frames`.
#[derive(Debug, Clone)]
pub enum EpochOrder {
    Sequential,
    Table(PermutationTable),
    Feistel(Feistel),
    Windowed(WindowedOrder),
}

impl EpochOrder {
    /// Logical position at global position `position`.
    #[inline]
    pub fn logical(&self, position: u64) -> u64 {
        match self {
            EpochOrder::Sequential => position,
            EpochOrder::Table(table) => table.get(position),
            EpochOrder::Feistel(feistel) => feistel.apply(position),
            EpochOrder::Windowed(windowed) => windowed.logical(position),
        }
    }

    /// Bytes the order holds (0 for the O(1)-memory orders).
    pub fn bytes(&self) -> u64 {
        match self {
            EpochOrder::Table(table) => table.bytes(),
            EpochOrder::Windowed(windowed) => windowed.bytes(),
            EpochOrder::Sequential | EpochOrder::Feistel(_) => 0,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Sampler {
    index: EpisodeIndex,
    remap: Remap,
    shuffle: bool,
    permutation: Permutation,
    seed: u64,
    /// A windowed order's configuration (`None`: the global order).
    windows: Option<Arc<WindowSpec>>,
    /// Computed when first asked (an O(episodes) hash that building need not pay).
    fingerprint: OnceLock<u64>,
}

impl Sampler {
    pub fn new(
        index: EpisodeIndex,
        remap: Remap,
        shuffle: bool,
        permutation: Permutation,
        seed: u64,
    ) -> Self {
        Sampler {
            index,
            remap,
            shuffle,
            permutation,
            seed,
            windows: None,
            fingerprint: OnceLock::new(),
        }
    }

    /// The same sampler with a windowed order (`None`: the global order). Only a shuffled
    /// sampler's order depends on it (boundary order has no windows), so only then does it
    /// extend the fingerprint; the global order's fingerprint is the one [`Sampler::new`] gives.
    pub fn with_windows(self, windows: Option<Arc<WindowSpec>>) -> Self {
        let mut sampler = Sampler::new(
            self.index,
            self.remap,
            self.shuffle,
            self.permutation,
            self.seed,
        );
        sampler.windows = windows.filter(|_| sampler.shuffle);
        sampler
    }

    pub fn windows(&self) -> Option<&Arc<WindowSpec>> {
        self.windows.as_ref()
    }

    pub fn index(&self) -> &EpisodeIndex {
        &self.index
    }

    pub fn num_frames(&self) -> u64 {
        self.index.num_frames()
    }

    pub fn shuffle(&self) -> bool {
        self.shuffle
    }

    pub fn permutation(&self) -> Permutation {
        self.permutation
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Everything that shapes the global order except the seed (recorded on its own) and the
    /// rank / world size (a state must load under another world size).
    pub fn fingerprint(&self) -> u64 {
        *self.fingerprint.get_or_init(|| {
            let index = &self.index;
            let mut state = absorb(mix64(ALGORITHM_VERSION), index.num_frames());
            for k in 0..index.num_episodes() {
                state = absorb(absorb(state, index.starts()[k]), index.episode_len(k));
            }
            state = absorb(state, u64::from(self.shuffle));
            state = absorb(
                state,
                if self.shuffle {
                    self.permutation as u64
                } else {
                    0
                },
            );
            let state = self.remap.fingerprint(state);
            match &self.windows {
                Some(spec) => spec.fingerprint(state),
                None => state,
            }
        })
    }

    /// The order of `epoch`. O(num_frames) time and memory for a shuffled `"uniform"` sampler,
    /// O(1) otherwise.
    /// Fails only when a `"uniform"` table does not fit in memory.
    pub fn epoch_order(&self, epoch: u64) -> Result<EpochOrder, SamplerError> {
        self.epoch_order_reusing(epoch, None)
    }

    /// [`Sampler::epoch_order`], building a `"uniform"` table in the memory of `spare` (a
    /// previous epoch's order that nothing uses any more) when it can.
    pub fn epoch_order_reusing(
        &self,
        epoch: u64,
        spare: Option<EpochOrder>,
    ) -> Result<EpochOrder, SamplerError> {
        self.epoch_order_with(epoch, spare, Build::serial())
    }

    /// [`Sampler::epoch_order_reusing`] built as `build` says: a `"uniform"` table on its
    /// threads (the same table on any number of threads), and every order that takes long
    /// polling its interruption check ([`SamplerError::Interrupted`] if interrupted).
    pub fn epoch_order_with(
        &self,
        epoch: u64,
        spare: Option<EpochOrder>,
        build: Build<'_>,
    ) -> Result<EpochOrder, SamplerError> {
        let n = self.num_frames();
        let spare = match spare {
            Some(EpochOrder::Table(table)) => Some(table),
            _ => None,
        };
        if let (true, Some(windows)) = (self.shuffle, &self.windows) {
            let order =
                windows.epoch_order_with(&self.index, self.permutation, self.seed, epoch, build)?;
            return Ok(EpochOrder::Windowed(order));
        }
        Ok(match (self.shuffle, self.permutation) {
            (false, _) => EpochOrder::Sequential,
            (true, Permutation::Uniform) => EpochOrder::Table(PermutationTable::shuffled_with(
                n,
                epoch_key(DOMAIN_UNIFORM, self.seed, epoch),
                spare,
                build,
            )?),
            (true, Permutation::Feistel) => {
                EpochOrder::Feistel(Feistel::new(n, epoch_key(DOMAIN_FEISTEL, self.seed, epoch)))
            }
        })
    }

    /// Whether an epoch's order is built in well under a millisecond: O(1) (boundary order, a
    /// global `"feistel"` order) or small (fewer than [`QUICK_BUILD_FRAMES`] frames), so not
    /// worth running as long work (see [`crate::order::RunLong`]).
    pub fn builds_quickly(&self) -> bool {
        let constant =
            !self.shuffle || (self.permutation == Permutation::Feistel && self.windows.is_none());
        constant || self.num_frames() < QUICK_BUILD_FRAMES
    }

    /// The value yielded at global position `position` of the epoch ordered by `order`.
    #[inline]
    pub fn value_at(&self, order: &EpochOrder, position: u64) -> i64 {
        self.value_of_logical(order.logical(position))
    }

    /// The value of the kept frame at logical position `logical` (`< num_frames`, boundary
    /// order).
    #[inline]
    pub fn value_of_logical(&self, logical: u64) -> i64 {
        let k = self.index.episode_of(logical);
        self.value_in_episode(k, logical - self.index.offsets()[k])
    }

    /// The value of kept episode `k`'s frame number `offset` (`< episode_len(k)`).
    #[inline]
    pub fn value_in_episode(&self, k: usize, offset: u64) -> i64 {
        let frame = self.index.starts()[k] + offset;
        self.remap.row(k, self.index.offsets()[k] + offset, frame)
    }

    /// Folds the row map into `state` (see [`Remap::fingerprint`]).
    pub fn remap_fingerprint(&self, state: u64) -> u64 {
        self.remap.fingerprint(state)
    }

    /// [`Sampler::remap_fingerprint`], polling `build`'s interruption check.
    pub fn remap_fingerprint_with(
        &self,
        state: u64,
        build: Build<'_>,
    ) -> Result<u64, SamplerError> {
        self.remap.fingerprint_with(state, build)
    }

    /// The value of kept episode `k`'s first frame when its frames' values are consecutive
    /// (no remap, or a shift per episode), so that frame `offset` yields that value plus
    /// `offset`; `None` with a row table.
    #[inline]
    pub fn first_value_if_consecutive(&self, k: usize) -> Option<i64> {
        match self.remap {
            Remap::Table(_) => None,
            _ => Some(self.value_in_episode(k, 0)),
        }
    }

    /// The smallest and largest value the sampler yields: O(episodes), or O(num_frames) with a
    /// row table.
    pub fn value_range(&self) -> (i64, i64) {
        let index = &self.index;
        let values = |k: usize| {
            let last = index.episode_len(k) - 1;
            match &self.remap {
                Remap::Table(_) => (0..=last)
                    .map(|offset| self.value_in_episode(k, offset))
                    .fold((i64::MAX, i64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v))),
                _ => (self.value_in_episode(k, 0), self.value_in_episode(k, last)),
            }
        };
        (0..index.num_episodes())
            .map(values)
            .fold((i64::MAX, i64::MIN), |(lo, hi), (a, b)| {
                (lo.min(a), hi.max(b))
            })
    }

    /// Every kept frame's value (its row, after the remap) in boundary order, whatever the
    /// shuffle: LeRobot's `indices`. O(num_frames); fails when it does not fit in memory.
    pub fn boundary_values(&self) -> Result<Vec<i64>, SamplerError> {
        let mut out = try_filled("the kept frames", self.num_frames())?;
        for (logical, slot) in (0..).zip(out.iter_mut()) {
            *slot = self.value_of_logical(logical);
        }
        Ok(out)
    }

    /// Values of this shard's indices `first..first + out.len()`.
    pub fn fill(&self, order: &EpochOrder, shard: &Shard, first: u64, out: &mut [i64]) {
        let mut positions = [0u64; FEISTEL_CHUNK];
        let mut i = first;
        for chunk in out.chunks_mut(FEISTEL_CHUNK) {
            let positions = &mut positions[..chunk.len()];
            for (offset, slot) in (i..).zip(positions.iter_mut()) {
                *slot = shard.global_position(offset);
            }
            self.values_at(order, positions, chunk);
            i += chunk.len() as u64;
        }
    }

    /// The values at global `positions` of the epoch ordered by `order` (`positions` is
    /// overwritten with their logical positions). Orders computed on demand map the whole
    /// slice at once (see `Feistel::apply_many`).
    pub fn values_at(&self, order: &EpochOrder, positions: &mut [u64], out: &mut [i64]) {
        match order {
            EpochOrder::Feistel(feistel) => feistel.apply_many(positions),
            EpochOrder::Windowed(windowed) => windowed.logical_many(positions),
            EpochOrder::Sequential | EpochOrder::Table(_) => {
                for (slot, position) in out.iter_mut().zip(positions.iter()) {
                    *slot = self.value_at(order, *position);
                }
                return;
            }
        }
        for (slot, &logical) in out.iter_mut().zip(positions.iter()) {
            *slot = self.value_of_logical(logical);
        }
    }

    /// [`Sampler::fill`] of `out` (this shard's indices `0..out.len()`) in pieces of
    /// [`FILL_PIECE`] values on `build.threads` threads (interruptions polled between pieces,
    /// a few milliseconds apart): the same values.
    pub fn fill_parallel(
        &self,
        order: &EpochOrder,
        shard: &Shard,
        out: &mut [i64],
        build: Build<'_>,
    ) -> Result<(), SamplerError> {
        let pieces = out.len().div_ceil(FILL_PIECE);
        let shared = SharedSlice::new(out);
        run_units(pieces, build, |piece, _| {
            let start = piece * FILL_PIECE;
            let end = (start + FILL_PIECE).min(shared.len());
            // SAFETY: pieces are disjoint ranges of `out`.
            let values = unsafe { shared.range(start, end) };
            self.fill(order, shard, start as u64, values);
        })?;
        Ok(())
    }

    /// All values of `shard`; fails when they do not fit in memory.
    pub fn shard_values(
        &self,
        order: &EpochOrder,
        shard: &Shard,
    ) -> Result<Vec<i64>, SamplerError> {
        let mut out = try_filled("the epoch's values", shard.len())?;
        self.fill(order, shard, 0, &mut out);
        Ok(out)
    }
}

/// An [`EpochValues`] of a [`Sampler`]: its configuration and one epoch's order, both shared.
pub struct SamplerEpoch {
    pub sampler: Arc<Sampler>,
    pub order: Arc<EpochOrder>,
}

impl EpochValues for SamplerEpoch {
    fn fill(&mut self, shard: &Shard, first: u64, out: &mut [i64]) -> Result<(), SamplerError> {
        self.sampler.fill(&self.order, shard, first, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::EpisodeSpec;

    #[test]
    fn boundary_values_are_the_kept_rows_in_boundary_order_whatever_the_shuffle() {
        let spec = EpisodeSpec {
            from: &[10, 0, 20],
            to: &[14, 3, 21],
            episodes_to_use: Some(&[2, 0]),
            drop_first: 1,
            drop_last: 0,
        };
        let index = EpisodeIndex::new(&spec).unwrap();
        // Episode 2 (one frame) is emptied by the drop; episode 0 keeps frames 11..14.
        for shuffle in [false, true] {
            let sampler = Sampler::new(
                index.clone(),
                Remap::Identity,
                shuffle,
                Permutation::Uniform,
                7,
            );
            assert_eq!(sampler.boundary_values().unwrap(), vec![11, 12, 13]);
        }
        let shifted = Remap::from_episode_shifts(&index, &[-11, 0, 0]).unwrap();
        let sampler = Sampler::new(index, shifted, true, Permutation::Feistel, 7);
        assert_eq!(sampler.boundary_values().unwrap(), vec![0, 1, 2]);
    }
}
