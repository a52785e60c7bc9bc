//! Key derivation. Every random choice of an epoch comes from one 64-bit key that hashes
//! `(key scheme, permutation kind, seed, epoch)` through SplitMix64 steps, so
//! `(seed, epoch + 1)` and `(seed + 1, epoch)` get unrelated keys (unlike `seed + epoch`).

/// Bumped whenever any order produced by this crate changes; golden vectors pin it.
/// Version 1: Fisher–Yates `"uniform"`. Version 2: scatter-then-shuffle `"uniform"`
/// (`"feistel"` and the key derivation unchanged).
pub const ALGORITHM_VERSION: u64 = 2;

/// The key derivation below, unchanged since version 1. Kept apart from [`ALGORITHM_VERSION`]
/// so that a new version changes only the orders of the algorithms it changes.
const KEY_SCHEME: u64 = 1;

const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// The SplitMix64 output function (Stafford's "Mix13"): a bijection on `u64` with full avalanche.
#[inline(always)]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Fold one more word into a running hash. Injective in `word` for a fixed `state`.
#[inline]
pub fn absorb(state: u64, word: u64) -> u64 {
    mix64(state ^ mix64(word.wrapping_add(GOLDEN_GAMMA)))
}

/// Folds a long sequence of words into `state`, fast: four independent lanes (so the CPU
/// overlaps them), each word mixed with its position, the lanes and the count absorbed at the
/// end. Any change to a word, its position or the count changes the result (up to collisions).
pub fn hash_words(state: u64, words: impl IntoIterator<Item = u64>) -> u64 {
    let mut hasher = WordHasher::new();
    hasher.absorb_words(words);
    hasher.finish(state)
}

/// [`hash_words`] fed a part at a time (so that a long sequence can be hashed between polls of
/// an interruption check): the same result as one call over the parts' words in order,
/// provided every part but the last holds a multiple of 4 words.
pub struct WordHasher {
    lanes: [u64; 4],
    count: u64,
}

impl Default for WordHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl WordHasher {
    pub fn new() -> Self {
        WordHasher {
            lanes: [
                0x243F_6A88_85A3_08D3u64,
                0x1319_8A2E_0370_7344,
                0xA409_3822_299F_31D0,
                0x082E_FA98_EC4E_6C89,
            ],
            count: 0,
        }
    }

    /// Folds the next part in.
    #[inline]
    pub fn absorb_words(&mut self, words: impl IntoIterator<Item = u64>) {
        debug_assert!(
            self.count.is_multiple_of(4),
            "only the last part may end inside a quad"
        );
        let mut lanes = self.lanes;
        let mut count = self.count;
        let mut words = words.into_iter();
        loop {
            let mut quad = [0u64; 4];
            let mut taken = 0;
            for (slot, word) in quad.iter_mut().zip(&mut words) {
                *slot = word;
                taken += 1;
            }
            // Four independent chains, straight-line: the CPU overlaps them.
            for (j, (lane, word)) in lanes.iter_mut().zip(quad).enumerate().take(taken) {
                let position = count + j as u64;
                *lane = mix64(*lane ^ word ^ position.wrapping_mul(GOLDEN_GAMMA));
            }
            count += taken as u64;
            if taken < 4 {
                break;
            }
        }
        self.lanes = lanes;
        self.count = count;
    }

    /// `state` with the words folded so far.
    pub fn finish(self, state: u64) -> u64 {
        self.lanes
            .into_iter()
            .fold(absorb(state, self.count), absorb)
    }
}

/// The SplitMix64 generator: used to expand one key into several round keys or RNG seeds.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        mix64(self.state)
    }
}

/// Domain tags keep the keys of different permutation algorithms independent.
pub const DOMAIN_UNIFORM: u64 = 0x756E_6966_6F72_6D00; // "uniform\0"
pub const DOMAIN_FEISTEL: u64 = 0x6665_6973_7465_6C00; // "feistel\0"
/// Windowed orders: the permutation of the units, and the shuffles inside the windows.
pub const DOMAIN_WINDOW_UNITS: u64 = 0x7775_6E69_7473_0000; // "wunits\0\0"
pub const DOMAIN_WINDOW_UNIFORM: u64 = 0x7775_6E69_666F_726D; // "wuniform"
pub const DOMAIN_WINDOW_FEISTEL: u64 = 0x7766_6569_7374_656C; // "wfeistel"
/// Mixtures: the order of the slots of every block (keyed further by the block number).
pub const DOMAIN_MIXTURE_SLOTS: u64 = 0x6D69_7873_6C6F_7473; // "mixslots"
/// Weighted draws: the episode and frame at every position (keyed further by the position).
pub const DOMAIN_WEIGHTED: u64 = 0x7765_6967_6874_6564; // "weighted"

/// The key of one epoch's permutation.
pub fn epoch_key(domain: u64, seed: u64, epoch: u64) -> u64 {
    let state = absorb(mix64(KEY_SCHEME), domain);
    absorb(absorb(state, seed), epoch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn mix64_matches_reference_splitmix64() {
        // First outputs of the reference SplitMix64 (Vigna) seeded with 0.
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(rng.next_u64(), 0x06C4_5D18_8009_454F);
    }

    #[test]
    fn seed_and_epoch_do_not_alias() {
        for domain in [DOMAIN_UNIFORM, DOMAIN_FEISTEL] {
            for seed in 0..64u64 {
                for epoch in 0..64u64 {
                    assert_ne!(
                        epoch_key(domain, seed, epoch + 1),
                        epoch_key(domain, seed + 1, epoch),
                        "seed {seed} epoch {epoch}"
                    );
                }
            }
        }
    }

    #[test]
    fn keys_are_distinct_over_a_grid() {
        let mut seen = HashSet::new();
        let domains = [
            DOMAIN_UNIFORM,
            DOMAIN_FEISTEL,
            DOMAIN_WINDOW_UNITS,
            DOMAIN_WINDOW_UNIFORM,
            DOMAIN_WINDOW_FEISTEL,
            DOMAIN_MIXTURE_SLOTS,
            DOMAIN_WEIGHTED,
        ];
        for domain in domains {
            for seed in (0..50u64).chain([u64::MAX, u64::MAX - 1, 1 << 63]) {
                for epoch in 0..50u64 {
                    assert!(seen.insert(epoch_key(domain, seed, epoch)));
                }
            }
        }
    }

    #[test]
    fn full_64_bit_seed_matters() {
        assert_ne!(
            epoch_key(DOMAIN_UNIFORM, 1, 0),
            epoch_key(DOMAIN_UNIFORM, 1 | (1 << 63), 0)
        );
        assert_ne!(
            epoch_key(DOMAIN_UNIFORM, 0, 0),
            epoch_key(DOMAIN_UNIFORM, 1 << 32, 0)
        );
    }

    #[test]
    fn words_hashed_in_parts_hash_as_one_sequence() {
        for len in [0u64, 1, 3, 4, 5, 8, 13, 4096 + 3] {
            let words = (0..len).map(|w| mix64(w ^ 0xABCD));
            let whole = hash_words(7, words.clone());
            for part in [4usize, 8, 64] {
                let all: Vec<u64> = words.clone().collect();
                let mut hasher = WordHasher::new();
                for chunk in all.chunks(part) {
                    hasher.absorb_words(chunk.iter().copied());
                }
                assert_eq!(hasher.finish(7), whole, "len {len}, parts of {part}");
            }
        }
    }
}
