//! The `"feistel"` permutation: a keyed Feistel network over the smallest bit width that covers
//! the domain, with cycle-walking into `[0, len)`. O(1) memory, O(1) expected time per position
//! (fewer than two network evaluations on average, since the width is at most twice the domain).

use crate::keys::{mix64, SplitMix64};

/// Number of Feistel rounds. Even, so the two unbalanced halves end where they started.
pub const ROUNDS: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feistel {
    len: u64,
    /// Width in bits of the high half (`width / 2`) and of the low half (the rest).
    high_bits: u32,
    low_bits: u32,
    round_keys: [u64; ROUNDS],
}

#[inline]
fn mask(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

#[inline]
fn round_function(key: u64, half: u64) -> u64 {
    mix64(half ^ key)
}

impl Feistel {
    /// A bijection on `[0, len)` keyed by `key`. `len == 0` gives the empty permutation.
    pub fn new(len: u64, key: u64) -> Self {
        // Smallest width with 2^width >= len, computed in integers; at least 2 bits so that both
        // halves are non-empty and the network can move something.
        let width = (64 - len.saturating_sub(1).leading_zeros()).max(2);
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

    /// One pass of the network over `[0, 2^width)`. Each round maps `(a, b)` with widths
    /// `(wa, wb)` to `(b, a ^ F(b))` with widths `(wb, wa)`: unbalanced halves alternate.
    #[inline]
    fn encrypt_block(&self, x: u64) -> u64 {
        let (mut a_bits, mut b_bits) = (self.high_bits, self.low_bits);
        let mut a = x >> b_bits;
        let mut b = x & mask(b_bits);
        for &key in &self.round_keys {
            let next_b = a ^ (round_function(key, b) & mask(a_bits));
            a = b;
            b = next_b;
            std::mem::swap(&mut a_bits, &mut b_bits);
        }
        (a << b_bits) | b
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
        x
    }

    /// The inverse of [`Feistel::apply`].
    #[inline]
    pub fn invert(&self, value: u64) -> u64 {
        debug_assert!(value < self.len);
        let mut x = self.decrypt_block(value);
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
    fn width_is_the_smallest_covering_power_of_two() {
        assert_eq!(Feistel::new(1, 0).width(), 2);
        assert_eq!(Feistel::new(4, 0).width(), 2);
        assert_eq!(Feistel::new(5, 0).width(), 3);
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
    fn seeks_into_a_trillion_frames() {
        let feistel = Feistel::new(1_000_000_000_000, 3);
        for position in [0u64, 1, 999_999_999_999, 123_456_789_012] {
            let value = feistel.apply(position);
            assert!(value < 1_000_000_000_000);
            assert_eq!(feistel.invert(value), position);
        }
    }
}
