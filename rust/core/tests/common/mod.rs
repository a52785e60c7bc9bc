//! Strategies shared by the windowed-order test files.

use episampler_core::{Permutation, Sampler, Shard};
use proptest::prelude::*;

/// Episodes of 1..20 frames laid end to end (with gaps), and a group id for each.
pub fn layout() -> impl Strategy<Value = (Vec<i64>, Vec<i64>, Vec<i64>)> {
    prop::collection::vec((0i64..3, 1i64..20, -3i64..6), 1..40).prop_map(|episodes| {
        let (mut from, mut to, mut groups) = (Vec::new(), Vec::new(), Vec::new());
        let mut cursor = 0;
        for (gap, length, group) in episodes {
            cursor += gap;
            from.push(cursor);
            cursor += length;
            to.push(cursor);
            groups.push(group);
        }
        (from, to, groups)
    })
}

pub fn permutation() -> impl Strategy<Value = Permutation> {
    prop_oneof![Just(Permutation::Uniform), Just(Permutation::Feistel)]
}

/// Every rank's shard of epoch 3 from resume point `start_cut % (N + 1)`, filled in bulk, equals
/// its positions read one by one.
pub fn check_shards_equal_position_by_position(
    sampler: &Sampler,
    world: u64,
    start_cut: u64,
) -> Result<(), TestCaseError> {
    let order = sampler.epoch_order(3).unwrap();
    let start = start_cut % (sampler.num_frames() + 1);
    for rank in 0..world {
        let shard = Shard::new(sampler.num_frames(), start, rank, world, false).unwrap();
        let values = sampler.shard_values(&order, &shard).unwrap();
        let expected: Vec<i64> = (0..shard.len())
            .map(|i| sampler.value_at(&order, shard.global_position(i)))
            .collect();
        prop_assert_eq!(values, expected);
    }
    Ok(())
}
