//! The distributed position rule. The global order of an epoch is the same on every rank; from
//! resume point `start`, rank `r` of `world` takes global positions `start + r + i * world`.
//! Positions past the end wrap to the start of the same order (padding, as PyTorch's
//! `DistributedSampler` does), unless `drop_last` cuts every rank to the same shorter count.

use crate::error::SamplerError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    num_frames: u64,
    start: u64,
    rank: u64,
    world: u64,
    count: u64,
}

impl Shard {
    pub fn new(
        len: u64,
        start: u64,
        rank: u64,
        world: u64,
        drop_last: bool,
    ) -> Result<Self, SamplerError> {
        if world == 0 {
            return Err(SamplerError::invalid("num_replicas must be >= 1, got 0"));
        }
        if rank >= world {
            return Err(SamplerError::invalid(format!(
                "rank must be in [0, num_replicas) = [0, {world}), got {rank}"
            )));
        }
        if start > len {
            return Err(SamplerError::invalid(format!(
                "start_index must be in [0, num_frames] = [0, {len}], got {start}"
            )));
        }
        Ok(Shard {
            num_frames: len,
            start,
            rank,
            world,
            count: Self::count(len - start, world, drop_last),
        })
    }

    /// A single stream from `start` that runs on, wrapping, to the first multiple of `multiple`
    /// at or after `len`. Accelerate pads every epoch to whole rounds of `processes * batch_size`
    /// positions with the epoch's first positions; yielding that padding here (instead of letting
    /// accelerate build it from whatever the iteration started with) keeps a resumed epoch's
    /// batches identical to the uninterrupted run's.
    pub fn padded(len: u64, start: u64, multiple: u64) -> Result<Self, SamplerError> {
        let plain = Self::new(len, start, 0, 1, false)?;
        if multiple == 0 {
            return Err(SamplerError::invalid("pad multiple must be >= 1, got 0"));
        }
        let end = u128::from(len).div_ceil(u128::from(multiple)) * u128::from(multiple);
        Ok(Shard {
            count: u64::try_from(end - u128::from(start)).map_err(|_| {
                SamplerError::invalid(format!("pad multiple {multiple} is too large"))
            })?,
            ..plain
        })
    }

    /// Positions each rank takes from `remaining` global positions.
    pub fn count(remaining: u64, world: u64, drop_last: bool) -> u64 {
        if world == 0 {
            return 0; // no ranks, nothing to take (Shard::new refuses world == 0)
        }
        if drop_last {
            remaining / world
        } else {
            remaining.div_ceil(world)
        }
    }

    /// Number of positions this rank yields.
    pub fn len(&self) -> u64 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn start(&self) -> u64 {
        self.start
    }

    pub fn world(&self) -> u64 {
        self.world
    }

    /// Global position of this rank's `i`-th index (`i < len()`), wrapped into the epoch.
    #[inline]
    pub fn global_position(&self, i: u64) -> u64 {
        debug_assert!(i < self.count);
        let raw = i
            .checked_mul(self.world)
            .and_then(|offset| offset.checked_add(self.start))
            .and_then(|offset| offset.checked_add(self.rank));
        match raw {
            Some(raw) if raw < self.num_frames => raw,
            Some(raw) => raw % self.num_frames,
            // Beyond u64 only for absurd sizes; exact in u128 all the same.
            None => {
                let raw = u128::from(self.start)
                    + u128::from(self.rank)
                    + u128::from(i) * u128::from(self.world);
                (raw % u128::from(self.num_frames)) as u64
            }
        }
    }

    /// The resume point once this rank has yielded `yielded` indices (`< len()`): global positions
    /// consumed by all ranks in lockstep. Inside trailing padding it stays at the epoch's end.
    pub fn resume_point(&self, yielded: u64) -> u64 {
        // Saturating: a padded stream may run past u64::MAX in principle; the result is capped
        // at num_frames anyway.
        self.start
            .saturating_add(yielded.saturating_mul(self.world))
            .min(self.num_frames)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn positions(len: u64, start: u64, rank: u64, world: u64, drop_last: bool) -> Vec<u64> {
        let shard = Shard::new(len, start, rank, world, drop_last).unwrap();
        (0..shard.len()).map(|i| shard.global_position(i)).collect()
    }

    #[test]
    fn matches_distributed_sampler_from_zero() {
        // DistributedSampler(10 items, 3 replicas): padded to 12 by repeating items 0, 1.
        assert_eq!(positions(10, 0, 0, 3, false), vec![0, 3, 6, 9]);
        assert_eq!(positions(10, 0, 1, 3, false), vec![1, 4, 7, 0]);
        assert_eq!(positions(10, 0, 2, 3, false), vec![2, 5, 8, 1]);
        assert_eq!(positions(10, 0, 2, 3, true), vec![2, 5, 8]);
        // Fewer items than ranks: padding repeats the order as often as needed.
        assert_eq!(positions(1, 0, 2, 3, false), vec![0]);
        assert_eq!(positions(2, 0, 0, 5, true), Vec::<u64>::new());
    }

    #[test]
    fn resume_with_another_world_size_covers_each_position_once() {
        let len = 23;
        for consumed_steps in 0..=4u64 {
            // World 2 ran `consumed_steps` steps, then world 3 takes the rest.
            let start = consumed_steps * 2;
            let mut seen: Vec<u64> = (0..start).collect();
            for rank in 0..3 {
                seen.extend(positions(len, start, rank, 3, true));
            }
            let tail = (len - start) % 3;
            seen.extend(len - tail..len);
            seen.sort_unstable();
            assert_eq!(seen, (0..len).collect::<Vec<_>>());
        }
    }

    #[test]
    fn padded_streams_run_to_a_multiple_and_wrap() {
        let positions = |len, start, multiple| {
            let shard = Shard::padded(len, start, multiple).unwrap();
            (0..shard.len())
                .map(|i| shard.global_position(i))
                .collect::<Vec<u64>>()
        };
        assert_eq!(positions(5, 0, 4), vec![0, 1, 2, 3, 4, 0, 1, 2]);
        assert_eq!(positions(5, 4, 4), vec![4, 0, 1, 2]);
        assert_eq!(positions(2, 0, 5), vec![0, 1, 0, 1, 0]);
        assert_eq!(positions(8, 4, 4), vec![4, 5, 6, 7]);
        let shard = Shard::padded(5, 4, 4).unwrap();
        assert_eq!(shard.resume_point(1), 5);
        assert!(Shard::padded(5, 0, 0).is_err());
    }

    #[test]
    fn rejects_bad_arguments() {
        assert!(Shard::new(10, 0, 0, 0, false).is_err());
        assert!(Shard::new(10, 0, 3, 3, false).is_err());
        assert!(Shard::new(10, 11, 0, 1, false).is_err());
        assert!(Shard::new(10, 10, 0, 1, false).unwrap().is_empty());
    }
}
