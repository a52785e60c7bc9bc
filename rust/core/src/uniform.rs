//! The `"uniform"` permutation: Fisher–Yates (Durstenfeld) driven by xoshiro256++ with exact
//! bounded draws, so every permutation is equally likely. Stored as `u32` while the frame count
//! fits, halving memory to 4 bytes per frame.

use crate::rng::Xoshiro256PlusPlus;

/// A materialised permutation of `0..len`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PermutationTable {
    U32(Vec<u32>),
    U64(Vec<u64>),
}

impl PermutationTable {
    /// The permutation of `0..len` for `key`. The same `(len, key)` gives the same table on
    /// every platform: only integer operations on fixed-width types are involved.
    pub fn shuffled(len: u64, key: u64) -> Self {
        let mut rng = Xoshiro256PlusPlus::from_key(key);
        if len <= u64::from(u32::MAX) + 1 {
            let mut table: Vec<u32> = (0..len).map(|i| i as u32).collect();
            fisher_yates(&mut table, &mut rng);
            PermutationTable::U32(table)
        } else {
            let mut table: Vec<u64> = (0..len).collect();
            fisher_yates(&mut table, &mut rng);
            PermutationTable::U64(table)
        }
    }

    #[inline]
    pub fn get(&self, position: u64) -> u64 {
        match self {
            PermutationTable::U32(table) => u64::from(table[position as usize]),
            PermutationTable::U64(table) => table[position as usize],
        }
    }

    pub fn len(&self) -> u64 {
        match self {
            PermutationTable::U32(table) => table.len() as u64,
            PermutationTable::U64(table) => table.len() as u64,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held by the table (the benchmark reports it).
    pub fn bytes(&self) -> u64 {
        match self {
            PermutationTable::U32(table) => 4 * table.len() as u64,
            PermutationTable::U64(table) => 8 * table.len() as u64,
        }
    }
}

fn fisher_yates<T>(items: &mut [T], rng: &mut Xoshiro256PlusPlus) {
    for i in (1..items.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_permutation_of_four_is_reachable_and_roughly_equally_likely() {
        let mut counts = std::collections::HashMap::new();
        let trials = 48_000u64;
        for key in 0..trials {
            let table = PermutationTable::shuffled(4, key);
            let order: Vec<u64> = (0..4).map(|i| table.get(i)).collect();
            *counts.entry(order).or_insert(0u32) += 1;
        }
        assert_eq!(counts.len(), 24);
        // Expected 2000 each; 6 sigma is about 270.
        for (order, count) in counts {
            assert!((1_730..2_270).contains(&count), "{order:?}: {count}");
        }
    }

    #[test]
    fn storage_is_u32_below_two_to_the_32() {
        assert!(matches!(
            PermutationTable::shuffled(10, 1),
            PermutationTable::U32(_)
        ));
        assert_eq!(PermutationTable::shuffled(10, 1).bytes(), 40);
    }
}
