//! The `"feistel"` permutation: a keyed Feistel network over the smallest bit width that covers
//! the domain, with cycle-walking into `[0, len)`. O(1) memory, O(1) expected time per position
//! (fewer than two network evaluations on average, since the width is at most twice the domain).

use crate::keys::{mix64, SplitMix64};

/// Number of Feistel rounds. Even, so the two unbalanced halves end where they started.
pub const ROUNDS: usize = 16;

/// Narrowest network. A Feistel network over 1- or 2-bit halves can only reach a small set of
/// permutations (all even, for a start); over 4-bit halves, cycle-walked down to a small
/// domain, the induced order is as uniform as the statistical tests can see. Walking costs at
/// most 2^8 / len network passes per position, which only small domains pay.
pub const MIN_WIDTH: u32 = 8;

/// Positions evaluated together by [`Feistel::apply_many`]: enough independent dependency
/// chains (eight 8-lane vectors with AVX-512) to hide the multiplies' latency.
pub const LANES: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feistel {
    len: u64,
    /// Width in bits of the high half (`width / 2`) and of the low half (the rest).
    high_bits: u32,
    low_bits: u32,
    round_keys: [u64; ROUNDS],
    /// Whether values 0 and 1 trade places after the walk. A Feistel network over halves of 2
    /// bits or more is an even permutation, and cycle walking keeps most of that evenness
    /// (e.g. every order of exactly 2^16 frames would be even); composing with this keyed
    /// transposition makes odd and even orders equally likely.
    swap_first_two: bool,
}

#[inline(always)]
fn mask(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

#[inline(always)]
fn round_function(key: u64, half: u64) -> u64 {
    mix64(half ^ key)
}

impl Feistel {
    /// A bijection on `[0, len)` keyed by `key`. `len == 0` gives the empty permutation.
    pub fn new(len: u64, key: u64) -> Self {
        // Smallest width with 2^width >= len, computed in integers, but at least MIN_WIDTH.
        let width = (64 - len.saturating_sub(1).leading_zeros()).max(MIN_WIDTH);
        let high_bits = width / 2;
        let mut expander = SplitMix64::new(key);
        let mut round_keys = [0u64; ROUNDS];
        for round_key in &mut round_keys {
            *round_key = expander.next_u64();
        }
        Feistel {
            len,
            high_bits,
            low_bits: width - high_bits,
            round_keys,
            swap_first_two: len >= 2 && expander.next_u64() >> 63 == 1,
        }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Width in bits of the network's domain.
    pub fn width(&self) -> u32 {
        self.high_bits + self.low_bits
    }

    /// One pass of the network over `[0, 2^width)`.
    #[inline]
    fn encrypt_block(&self, x: u64) -> u64 {
        self.encrypt_lanes([x])[0]
    }

    #[inline]
    fn decrypt_block(&self, y: u64) -> u64 {
        // After an even number of rounds the widths are back to (high_bits, low_bits).
        let (mut a_bits, mut b_bits) = (self.high_bits, self.low_bits);
        let mut a = y >> b_bits;
        let mut b = y & mask(b_bits);
        for &key in self.round_keys.iter().rev() {
            // Undo (a, b) = (b_prev, a_prev ^ F(b_prev)): b_prev = a, a_prev = b ^ F(a).
            std::mem::swap(&mut a_bits, &mut b_bits);
            let prev_a = b ^ (round_function(key, a) & mask(a_bits));
            b = a;
            a = prev_a;
        }
        (a << b_bits) | b
    }

    /// The image of `position` (which must be `< len`).
    #[inline]
    pub fn apply(&self, position: u64) -> u64 {
        debug_assert!(position < self.len);
        let mut x = self.encrypt_block(position);
        while x >= self.len {
            x = self.encrypt_block(x);
        }
        self.parity_swap(x)
    }

    /// The keyed transposition of values 0 and 1 (its own inverse).
    #[inline(always)]
    fn parity_swap(&self, value: u64) -> u64 {
        if self.swap_first_two && value < 2 {
            value ^ 1
        } else {
            value
        }
    }

    /// The network on every lane: each round maps `(a, b)` with widths `(wa, wb)` to
    /// `(b, a ^ F(b))` with widths `(wb, wa)` (unbalanced halves alternate). Written lane-wise
    /// so that, for many lanes, the compiler can vectorise it where 64-bit vector multiplies
    /// exist (see [`Feistel::apply_many`]); one lane is [`Feistel::encrypt_block`].
    #[inline(always)]
    fn encrypt_lanes<const N: usize>(&self, blocks: [u64; N]) -> [u64; N] {
        let (mut a_bits, mut b_bits) = (self.high_bits, self.low_bits);
        let mut a = blocks.map(|x| x >> b_bits);
        let mut b = blocks.map(|x| x & mask(b_bits));
        for &key in &self.round_keys {
            let a_mask = mask(a_bits);
            for lane in 0..N {
                let next_b = a[lane] ^ (round_function(key, b[lane]) & a_mask);
                a[lane] = b[lane];
                b[lane] = next_b;
            }
            std::mem::swap(&mut a_bits, &mut b_bits);
        }
        std::array::from_fn(|lane| (a[lane] << b_bits) | b[lane])
    }

    /// [`Feistel::apply`] on every entry of `positions` (each `< len`), in place, many
    /// positions at a time: one position alone waits on every multiply of every round, while
    /// [`LANES`] independent positions keep the multipliers busy.
    ///
    /// On x86-64 CPUs with AVX-512 (checked at run time) the lanes run as one vector: the same
    /// integer operations, so the same output everywhere, only faster.
    pub fn apply_many(&self, positions: &mut [u64]) {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512dq") {
            // SAFETY: the CPU supports the features the function is compiled for.
            unsafe { self.apply_many_avx512(positions) };
            return;
        }
        self.apply_many_lanes(positions);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512dq")]
    fn apply_many_avx512(&self, positions: &mut [u64]) {
        self.apply_many_lanes(positions);
    }

    #[inline(always)]
    fn apply_many_lanes(&self, positions: &mut [u64]) {
        // Every position once through the network, a full set of lanes at a time.
        for chunk in positions.chunks_mut(LANES) {
            self.encrypt_chunk(chunk);
        }
        // Cycle-walk the blocks that left `[0, len)` (under half of them): packed densely with
        // their slots, so each pass runs full lanes over contiguous memory, then compacted
        // without branches.
        let mut slots: Vec<usize> = Vec::new();
        let mut blocks: Vec<u64> = Vec::new();
        for (slot, &block) in positions.iter().enumerate() {
            if block >= self.len {
                slots.push(slot);
                blocks.push(block);
            }
        }
        while !blocks.is_empty() {
            for chunk in blocks.chunks_mut(LANES) {
                self.encrypt_chunk(chunk);
            }
            let mut kept = 0;
            for i in 0..blocks.len() {
                let (slot, block) = (slots[i], blocks[i]);
                positions[slot] = block; // final unless it walks on (then overwritten later)
                slots[kept] = slot;
                blocks[kept] = block;
                kept += usize::from(block >= self.len);
            }
            slots.truncate(kept);
            blocks.truncate(kept);
        }
        if self.swap_first_two {
            for value in positions.iter_mut() {
                *value = self.parity_swap(*value);
            }
        }
    }

    #[inline(always)]
    fn encrypt_chunk(&self, chunk: &mut [u64]) {
        let mut blocks = [0u64; LANES];
        blocks[..chunk.len()].copy_from_slice(chunk);
        let blocks = self.encrypt_lanes(blocks);
        chunk.copy_from_slice(&blocks[..chunk.len()]);
    }

    /// The inverse of [`Feistel::apply`].
    #[inline]
    pub fn invert(&self, value: u64) -> u64 {
        debug_assert!(value < self.len);
        let mut x = self.decrypt_block(self.parity_swap(value));
        while x >= self.len {
            x = self.decrypt_block(x);
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn width_is_the_smallest_covering_power_of_two_from_the_minimum() {
        assert_eq!(Feistel::new(1, 0).width(), MIN_WIDTH);
        assert_eq!(Feistel::new(4, 0).width(), MIN_WIDTH);
        assert_eq!(Feistel::new(256, 0).width(), 8);
        assert_eq!(Feistel::new(257, 0).width(), 9);
        assert_eq!(Feistel::new(1 << 20, 0).width(), 20);
        assert_eq!(Feistel::new((1 << 20) + 1, 0).width(), 21);
        assert_eq!(Feistel::new(1_000_000_000_000, 0).width(), 40);
        assert_eq!(Feistel::new(u64::MAX, 0).width(), 64);
    }

    #[test]
    fn block_cipher_round_trips_at_full_width() {
        let feistel = Feistel::new(u64::MAX, 99);
        for x in [0u64, 1, 12345, u64::MAX - 1, 1 << 63] {
            assert_eq!(feistel.decrypt_block(feistel.encrypt_block(x)), x);
        }
    }

    #[test]
    fn apply_many_agrees_with_one_at_a_time() {
        for len in [1u64, 5, 1000, (1 << 20) + 1, 1_000_000_000_000] {
            let feistel = Feistel::new(len, len.wrapping_mul(31));
            for count in [0usize, 1, LANES - 1, LANES, 3 * LANES + 5, 1000] {
                let mut many: Vec<u64> = (0..count as u64).map(|i| (i * 7919) % len).collect();
                let expected: Vec<u64> = many.iter().map(|&x| feistel.apply(x)).collect();
                feistel.apply_many(&mut many);
                assert_eq!(many, expected, "len {len} count {count}");
            }
        }
    }

    /// Sign of a permutation of `0..n` from its cycle count: (-1)^(n - cycles).
    fn is_odd(order: &[u64]) -> bool {
        let mut seen = vec![false; order.len()];
        let mut cycles = 0;
        for start in 0..order.len() {
            if !seen[start] {
                cycles += 1;
                let mut i = start;
                while !seen[i] {
                    seen[i] = true;
                    i = order[i] as usize;
                }
            }
        }
        (order.len() - cycles) % 2 == 1
    }

    #[test]
    fn odd_and_even_orders_are_equally_likely() {
        // Without the keyed transposition every order of exactly 2^16 (or 2^8) values is even.
        for len in [256u64, 1 << 16, 1000] {
            let keys = 400u64;
            let odd = (0..keys)
                .filter(|&key| {
                    let feistel = Feistel::new(len, key);
                    let order: Vec<u64> = (0..len).map(|p| feistel.apply(p)).collect();
                    is_odd(&order)
                })
                .count() as f64;
            // Binomial(400, 1/2): 6 sigma is 60.
            assert!((odd - 200.0).abs() < 60.0, "len {len}: {odd} odd of {keys}");
        }
    }

    #[test]
    fn seeks_into_a_trillion_frames() {
        let feistel = Feistel::new(1_000_000_000_000, 3);
        for position in [0u64, 1, 999_999_999_999, 123_456_789_012] {
            let value = feistel.apply(position);
            assert!(value < 1_000_000_000_000);
            assert_eq!(feistel.invert(value), position);
        }
    }
}
