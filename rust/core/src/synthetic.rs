//! Synthetic episode layouts for the benchmarks (the binary and the criterion benches): the
//! same `(frames, episodes, seed)` gives the same layout everywhere.

use crate::keys::SplitMix64;

/// Keeps the layout stream apart from the sampler's own keys even for equal seeds.
const LAYOUT_STREAM: u64 = 0x6C61_796F_7574_0000; // "layout"

/// `episodes` back-to-back episodes of varying length, summing to exactly `frames`, as
/// `(from, to)` boundary arrays. Each episode gets one frame; the other `frames - episodes` are
/// split in proportion to random weights in [1024, 4096), cut at rounded-down cumulative sums
/// so that the parts add up exactly. Requires `1 <= episodes <= frames < 2^63`.
pub fn episodes(frames: u64, episodes: u64, seed: u64) -> (Vec<i64>, Vec<i64>) {
    assert!(episodes >= 1 && frames >= episodes && frames <= i64::MAX as u64);
    let mut rng = SplitMix64::new(seed ^ LAYOUT_STREAM);
    let weights: Vec<u64> = (0..episodes)
        .map(|_| 1024 + rng.next_u64() % 3072)
        .collect();
    let total: u128 = weights.iter().map(|&w| u128::from(w)).sum();
    let spare = u128::from(frames - episodes);
    let (mut from, mut to) = (Vec::with_capacity(weights.len()), Vec::new());
    let (mut cumulative, mut start) = (0u128, 0u64);
    for (k, &weight) in (1u64..).zip(&weights) {
        cumulative += u128::from(weight);
        // <= spare, so end <= frames.
        let end = k + (spare * cumulative / total) as u64;
        from.push(start as i64);
        to.push(end as i64);
        start = end;
    }
    (from, to)
}

#[cfg(test)]
mod tests {
    #[test]
    fn layouts_cover_every_frame_once() {
        for (frames, count) in [(1u64, 1u64), (10, 10), (1000, 7), (12345, 100)] {
            let (from, to) = super::episodes(frames, count, 3);
            assert_eq!(from.len() as u64, count);
            assert_eq!(from[0], 0);
            assert_eq!(*to.last().unwrap() as u64, frames);
            assert!(from.iter().zip(&to).all(|(a, b)| a < b));
            assert!(from[1..].iter().zip(&to).all(|(next, end)| next == end));
        }
    }
}
