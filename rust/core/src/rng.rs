//! xoshiro256++ (Blackman & Vigna), written here so its output can never change under us with a
//! dependency upgrade: the golden-vector tests pin every order built from it.

use crate::keys::SplitMix64;

#[derive(Debug, Clone)]
pub struct Xoshiro256PlusPlus {
    s: [u64; 4],
}

impl Xoshiro256PlusPlus {
    /// Seeds the state with SplitMix64, as the authors recommend (never all-zero).
    pub fn from_key(key: u64) -> Self {
        let mut seeder = SplitMix64::new(key);
        Xoshiro256PlusPlus {
            s: [
                seeder.next_u64(),
                seeder.next_u64(),
                seeder.next_u64(),
                seeder.next_u64(),
            ],
        }
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// A uniform integer in `[0, bound)`, `bound > 0` ([`below`]).
    #[inline]
    pub fn below(&mut self, bound: u64) -> u64 {
        below(bound, || self.next_u64())
    }
}

/// A uniform integer in `[0, bound)`, `bound > 0`, from the 64-bit words `next` gives, by
/// Lemire's multiply-and-reject method: exact (no modulo bias, no floating point) and rarely
/// needs a second word.
#[inline]
pub fn below(bound: u64, mut next: impl FnMut() -> u64) -> u64 {
    debug_assert!(bound > 0);
    let mut product = u128::from(next()) * u128::from(bound);
    let mut low = product as u64;
    if low < bound {
        let threshold = bound.wrapping_neg() % bound;
        while low < threshold {
            product = u128::from(next()) * u128::from(bound);
            low = product as u64;
        }
    }
    (product >> 64) as u64
}

/// Exact bounded draws below 2^32 that use both halves of every 64-bit output (the 32-bit
/// counterpart of [`Xoshiro256PlusPlus::below`], for Fisher–Yates on fewer than 2^32 items).
pub struct BoundedDraws {
    rng: Xoshiro256PlusPlus,
    spare: u64,
    has_spare: bool,
}

impl BoundedDraws {
    /// Draws from xoshiro256++ seeded with the first SplitMix64 output of state `key`.
    pub fn new(key: u64) -> Self {
        BoundedDraws {
            rng: Xoshiro256PlusPlus::from_key(SplitMix64::new(key).next_u64()),
            spare: 0,
            has_spare: false,
        }
    }

    /// A uniform integer in `[0, bound)` from a whole 64-bit word ([`Xoshiro256PlusPlus::below`]).
    #[inline]
    pub fn below(&mut self, bound: u64) -> u64 {
        self.rng.below(bound)
    }

    /// Low half of a fresh word first, then its high half.
    #[inline]
    fn next_u32(&mut self) -> u32 {
        if self.has_spare {
            self.has_spare = false;
            (self.spare >> 32) as u32
        } else {
            self.spare = self.rng.next_u64();
            self.has_spare = true;
            self.spare as u32
        }
    }

    /// A uniform integer in `[0, bound)`, `1 <= bound <= 2^32` (`bound == 2^32` is passed as
    /// 0 by the wrapping cast and handled as the full range): Lemire's multiply-and-reject.
    #[inline]
    pub fn below_u32(&mut self, bound: u32) -> u32 {
        if bound == 0 {
            return self.next_u32();
        }
        let mut product = u64::from(self.next_u32()) * u64::from(bound);
        let mut low = product as u32;
        if low < bound {
            let threshold = bound.wrapping_neg() % bound;
            while low < threshold {
                product = u64::from(self.next_u32()) * u64::from(bound);
                low = product as u32;
            }
        }
        (product >> 32) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_reference_xoshiro256plusplus() {
        // Reference output of xoshiro256++ from state [1, 2, 3, 4] (as used by rand_xoshiro).
        let mut rng = Xoshiro256PlusPlus { s: [1, 2, 3, 4] };
        let expected = [
            41943041u64,
            58720359,
            3588806011781223,
            3591011842654386,
            9228616714210784205,
            9973669472204895162,
        ];
        for value in expected {
            assert_eq!(rng.next_u64(), value);
        }
    }

    #[test]
    fn below_stays_in_range_and_hits_every_value() {
        let mut rng = Xoshiro256PlusPlus::from_key(7);
        for bound in [1u64, 2, 3, 7, 10, 1 << 33, u64::MAX] {
            for _ in 0..1000 {
                assert!(rng.below(bound) < bound);
            }
        }
        let mut counts = [0u32; 6];
        for _ in 0..60_000 {
            counts[rng.below(6) as usize] += 1;
        }
        // Each face expects 10_000; 6 sigma is about 550.
        for count in counts {
            assert!((9_400..10_600).contains(&count), "{counts:?}");
        }
    }

    #[test]
    fn bounded_draws_cover_the_full_32_bit_range() {
        let mut draws = BoundedDraws::new(3);
        for bound in [1u32, 2, 3, 7, 1 << 31, u32::MAX] {
            for _ in 0..1000 {
                assert!(draws.below_u32(bound) < bound);
            }
        }
        let high = (0..64).any(|_| draws.below_u32(0) > u32::MAX / 2);
        assert!(high, "bound 2^32 (passed as 0) reaches the upper half");
    }
}
