//! Strategies shared by the windowed-order test files.

use episampler_core::Permutation;
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
