//! The `"uniform"` permutation: scatter-then-shuffle (Sanders, "Random permutations on
//! distributed, external and hierarchical memory", 1998), exactly uniform and cache-friendly.
//!
//! 1. Every index `i` gets a bucket among `2^b` from a counter-based stream (SplitMix64's output
//!    at counter `i` under the epoch's scatter key), so any chunk of indices can be processed
//!    on its own, by any thread, with the same result.
//! 2. The indices are counted per bucket and scattered into the table, bucket after bucket.
//! 3. Each bucket (about 2^16 entries: 256 KiB of `u32`, inside L2) is shuffled by Fisher–Yates
//!    with its own xoshiro256++ stream and exact bounded draws (Lemire), two 32-bit draws per
//!    64-bit word.
//!
//! Uniform because the buckets are an i.i.d. uniform assignment and each bucket's order is a
//! uniform permutation: every permutation of `0..len` has the same probability. The bucket
//! count depends only on `len`, never on the machine or the thread count. Stored as `u32` while
//! the frame count fits (4 bytes per frame plus a small per-bucket array).

use crate::error::{try_filled, SamplerError, Zeroable};
use crate::keys::{absorb, mix64};
use crate::parallel::{run_units, Build, Poll, SharedSlice, POLL_EVERY};
use crate::rng::BoundedDraws;

/// Target entries per bucket: 2^16 `u32` (256 KiB) stays in a typical L2 cache while shuffled.
pub const BUCKET_LEN_LOG2: u32 = 16;
/// At most 2^20 buckets, whatever the size: the per-bucket counters stay small.
const MAX_BUCKET_BITS: u32 = 20;
const SCATTER_STREAM: u64 = 1;
const SHUFFLE_STREAM: u64 = 2;
const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// A materialised permutation of `0..len`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PermutationTable {
    U32(Vec<u32>),
    U64(Vec<u64>),
}

/// `log2` of the number of buckets for `len` entries: the smallest `b` with
/// `len <= 2^(b + BUCKET_LEN_LOG2)`, capped at [`MAX_BUCKET_BITS`].
pub fn bucket_bits(len: u64) -> u32 {
    let buckets = len.div_ceil(1 << BUCKET_LEN_LOG2);
    let bits = if buckets <= 1 {
        0
    } else {
        64 - (buckets - 1).leading_zeros()
    };
    bits.min(MAX_BUCKET_BITS)
}

/// Entry types of a table: `u32` below 2^32 frames, `u64` above.
trait Entry: Copy + Default + Zeroable {
    fn from_index(index: u64) -> Self;
}

impl Entry for u32 {
    #[inline]
    fn from_index(index: u64) -> Self {
        index as u32
    }
}

impl Entry for u64 {
    #[inline]
    fn from_index(index: u64) -> Self {
        index
    }
}

impl PermutationTable {
    /// The permutation of `0..len` for `key`. The same `(len, key)` gives the same table on
    /// every platform: only integer operations on fixed-width types are involved.
    ///
    /// Fails, instead of aborting, when the table does not fit in memory.
    pub fn shuffled(len: u64, key: u64) -> Result<Self, SamplerError> {
        Self::shuffled_reusing(len, key, None)
    }

    /// [`PermutationTable::shuffled`], writing into `spare`'s memory when it is a table of the
    /// same size (a previous epoch's): the same table, without a fresh allocation's page
    /// faults. Every entry is overwritten.
    pub fn shuffled_reusing(
        len: u64,
        key: u64,
        spare: Option<PermutationTable>,
    ) -> Result<Self, SamplerError> {
        Self::shuffled_with(len, key, spare, Build::serial())
    }

    /// [`PermutationTable::shuffled_reusing`] built as `build` says: the same table on any
    /// number of threads; [`SamplerError::Interrupted`] if `build.interrupted` said so.
    pub fn shuffled_with(
        len: u64,
        key: u64,
        spare: Option<PermutationTable>,
        build: Build<'_>,
    ) -> Result<Self, SamplerError> {
        let spare = spare.filter(|table| table.len() == len);
        Ok(if len <= u64::from(u32::MAX) + 1 {
            let spare = match spare {
                Some(PermutationTable::U32(table)) => Some(table),
                _ => None,
            };
            PermutationTable::U32(scatter_shuffle(len, key, spare, build)?)
        } else {
            let spare = match spare {
                Some(PermutationTable::U64(table)) => Some(table),
                _ => None,
            };
            PermutationTable::U64(scatter_shuffle(len, key, spare, build)?)
        })
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

/// Calls `visit(i, bucket)` for every index `i` of `range`, in order. Buckets are read `bits`
/// at a time from the top of SplitMix64's output at counter `w` (word `w` serves indices
/// `w * k .. (w + 1) * k` with `k = 64 / bits`): counter-based, so any word range is processed
/// on its own. `range.start` must be a multiple of `k` (a word boundary).
#[inline]
fn for_each_bucket_in(
    range: std::ops::Range<u64>,
    scatter_key: u64,
    bits: u32,
    mut visit: impl FnMut(u64, usize),
) {
    let per_word = u64::from(64 / bits);
    debug_assert_eq!(range.start % per_word, 0);
    let (mut i, len) = (range.start, range.end);
    let mut counter = scatter_key.wrapping_add((range.start / per_word).wrapping_mul(GOLDEN_GAMMA));
    while i < len {
        counter = counter.wrapping_add(GOLDEN_GAMMA);
        let mut word = mix64(counter);
        for _ in 0..per_word.min(len - i) {
            visit(i, (word >> (64 - bits)) as usize);
            word <<= bits;
            i += 1;
        }
    }
}

/// [`for_each_bucket_in`] about [`POLL_EVERY`] indices at a time (whole words), asking `poll`
/// between them: the same visits, or `false` once `poll` said to stop.
#[inline]
fn for_each_bucket_polled(
    range: std::ops::Range<u64>,
    scatter_key: u64,
    bits: u32,
    poll: &Poll<'_>,
    mut visit: impl FnMut(u64, usize),
) -> bool {
    let per_word = u64::from(64 / bits);
    let piece = (POLL_EVERY as u64 / per_word).max(1) * per_word;
    let mut start = range.start;
    while start < range.end {
        if poll.stopped() {
            return false;
        }
        let end = range.end.min(start + piece);
        for_each_bucket_in(start..end, scatter_key, bits, &mut visit);
        start = end;
    }
    true
}

/// The table for `(len, key)`, in `spare` (of length `len`) if given: both branches below write
/// every entry, so what `spare` held does not matter.
///
/// The indices are cut into chunks of about [`CHUNK`] (a whole number of words). Pass 1 counts
/// every chunk's entries per bucket; a bucket's entries are then laid out chunk after chunk, in
/// index order inside a chunk, exactly as one pass over all indices would; pass 2 scatters every
/// chunk into its own places; pass 3 shuffles every bucket with its own stream. Chunks and
/// buckets are independent units of work, taken by up to `build.threads` scoped threads (the
/// calling thread among them polls `build.interrupted` every [`POLL_EVERY`] indices, and every
/// thread stops at its next such point once it said so), so the table is the same for any
/// thread count.
fn scatter_shuffle<T: Entry + Send + Sync>(
    len: u64,
    key: u64,
    spare: Option<Vec<T>>,
    build: Build<'_>,
) -> Result<Vec<T>, SamplerError> {
    let bits = bucket_bits(len);
    let shuffle_key = absorb(key, SHUFFLE_STREAM);
    let mut table = match spare {
        Some(table) => table,
        None => try_filled::<T>("the epoch's \"uniform\" table", len)?,
    };
    if bits == 0 {
        for (i, slot) in (0..len).zip(table.iter_mut()) {
            *slot = T::from_index(i);
        }
        // At most 2^16 entries (one bucket): no poll needed.
        fisher_yates(&mut table, absorb(shuffle_key, 0), &|| false);
        return Ok(table);
    }
    let scatter_key = absorb(key, SCATTER_STREAM);
    let buckets = 1usize << bits;
    let per_word = u64::from(64 / bits);
    // At least 256 entries per bucket and chunk: the per-chunk counters stay below 1/64 of
    // the table.
    let chunk = (CHUNK.max(256 * buckets as u64) / per_word).max(1) * per_word;
    let chunks = len.div_ceil(chunk) as usize;
    let range = |c: usize| c as u64 * chunk..((c as u64 + 1) * chunk).min(len);

    // Pass 1: every chunk's bucket sizes (recomputed in pass 2 rather than stored).
    let counts: Vec<Vec<u32>> = run_units(chunks, build, |c, poll| {
        let mut count = vec![0u32; buckets];
        for_each_bucket_polled(range(c), scatter_key, bits, poll, |_, b| count[b] += 1);
        count
    })?;
    let mut starts = vec![0usize; buckets + 1];
    for count in &counts {
        for (b, &n) in count.iter().enumerate() {
            starts[b + 1] += n as usize;
        }
    }
    for b in 0..buckets {
        starts[b + 1] += starts[b];
    }
    // Where every chunk's entries of every bucket go: after the earlier chunks' ones.
    let mut offsets = Vec::with_capacity(chunks);
    let mut next = starts[..buckets].to_vec();
    for count in &counts {
        offsets.push(next.clone());
        for (b, &n) in count.iter().enumerate() {
            next[b] += n as usize;
        }
    }
    drop(counts);

    // Pass 2: each chunk writes its own places (disjoint from every other chunk's).
    let shared = SharedSlice::new(&mut table);
    run_units(chunks, build, |c, poll| {
        let mut next = offsets[c].clone();
        if bits <= DIRECT_SCATTER_MAX_BITS {
            for_each_bucket_polled(range(c), scatter_key, bits, poll, |i, b| {
                // SAFETY: `next[b]` runs over this chunk's own places of bucket `b`.
                unsafe { shared.write(next[b], T::from_index(i)) };
                next[b] += 1;
            });
        } else {
            scatter_through_lines(&shared, &mut next, range(c), scatter_key, bits, poll);
        }
    })?;

    // Pass 3: each bucket is shuffled on its own.
    run_units(buckets, build, |b, poll| {
        // SAFETY: buckets are disjoint ranges of the table.
        let items = unsafe { shared.range(starts[b], starts[b + 1]) };
        fisher_yates(items, absorb(shuffle_key, b as u64), &|| poll.stopped());
    })?;
    Ok(table)
}

/// Indices per chunk of the scatter (at least): large enough that per-chunk counters stay cheap
/// (interruptions are polled inside chunks, every [`POLL_EVERY`] indices).
const CHUNK: u64 = 1 << 22;

/// Up to 2^12 buckets (2^28 frames) the scatter writes each entry straight to its bucket: the
/// buckets' write positions stay in cache and in the TLB. Beyond, every write would miss both.
const DIRECT_SCATTER_MAX_BITS: u32 = 12;
/// Entries gathered per bucket before [`scatter_through_lines`] writes them out together.
const LINE: usize = 16;

/// The same scatter as the direct one (same table), for many buckets: entries are gathered in
/// a small line per bucket (`LINE` entries, 64 bytes of `u32`) and written out a line at a
/// time, so the table sees one miss per line instead of one per entry.
fn scatter_through_lines<T: Entry>(
    table: &SharedSlice<T>,
    next: &mut [usize],
    range: std::ops::Range<u64>,
    scatter_key: u64,
    bits: u32,
    poll: &Poll<'_>,
) {
    let mut lines = vec![[T::default(); LINE]; next.len()];
    let mut filled = vec![0u8; next.len()];
    let flush = |b: usize, line: &[T], next: &mut [usize]| {
        // SAFETY: `next[b]..` are this chunk's own places of bucket `b`.
        unsafe { table.range(next[b], next[b] + line.len()) }.copy_from_slice(line);
        next[b] += line.len();
    };
    let finished = for_each_bucket_polled(range, scatter_key, bits, poll, |i, b| {
        let count = usize::from(filled[b]);
        lines[b][count] = T::from_index(i);
        if count + 1 == LINE {
            flush(b, &lines[b], next);
            filled[b] = 0;
        } else {
            filled[b] = (count + 1) as u8;
        }
    });
    if !finished {
        return; // interrupted: the table is thrown away
    }
    for (b, line) in lines.iter().enumerate() {
        flush(b, &line[..usize::from(filled[b])], next);
    }
}

/// Durstenfeld's Fisher–Yates on `items`, from the stream `key`, asking `stopped` every
/// [`POLL_EVERY`] swaps (a bucket holds about 2^16 entries, more only past 2^36 frames): stops
/// early, leaving `items` half shuffled, once it says so.
fn fisher_yates<T>(items: &mut [T], key: u64, stopped: &dyn Fn() -> bool) {
    let mut draws = BoundedDraws::new(key);
    let mut top = items.len();
    while top > 1 {
        if top < items.len() && stopped() {
            return;
        }
        let bottom = top.saturating_sub(POLL_EVERY).max(1);
        let narrow = items.len() as u64 <= u64::from(u32::MAX) + 1;
        let head = &mut items[..top];
        if narrow {
            for i in (bottom..head.len()).rev() {
                let j = draws.below_u32((i as u32).wrapping_add(1)) as usize;
                head.swap(i, j);
            }
        } else {
            for i in (bottom..head.len()).rev() {
                let j = draws.below(i as u64 + 1) as usize;
                head.swap(i, j);
            }
        }
        top = bottom;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn as_vec(table: &PermutationTable) -> Vec<u64> {
        (0..table.len()).map(|i| table.get(i)).collect()
    }

    #[test]
    fn every_permutation_of_four_is_reachable_and_roughly_equally_likely() {
        let mut counts = std::collections::HashMap::new();
        let trials = 48_000u64;
        for key in 0..trials {
            let order = as_vec(&PermutationTable::shuffled(4, key).unwrap());
            *counts.entry(order).or_insert(0u32) += 1;
        }
        assert_eq!(counts.len(), 24);
        // Expected 2000 each; 6 sigma is about 270.
        for (order, count) in counts {
            assert!((1_730..2_270).contains(&count), "{order:?}: {count}");
        }
    }

    #[test]
    fn reusing_a_spare_table_gives_the_same_table() {
        for len in [10u64, (3 << 16) + 5] {
            let fresh = PermutationTable::shuffled(len, 77).unwrap();
            let garbage = PermutationTable::U32(vec![u32::MAX; len as usize]);
            let reused = PermutationTable::shuffled_reusing(len, 77, Some(garbage)).unwrap();
            assert_eq!(reused, fresh);
            // A spare of another size is ignored.
            let small = PermutationTable::U32(vec![0; 3]);
            let reused = PermutationTable::shuffled_reusing(len, 77, Some(small)).unwrap();
            assert_eq!(reused, fresh);
        }
    }

    #[test]
    fn storage_is_u32_below_two_to_the_32() {
        assert!(matches!(
            PermutationTable::shuffled(10, 1).unwrap(),
            PermutationTable::U32(_)
        ));
        assert_eq!(PermutationTable::shuffled(10, 1).unwrap().bytes(), 40);
    }

    #[test]
    fn bucket_count_depends_only_on_the_size() {
        let per_bucket = 1u64 << BUCKET_LEN_LOG2;
        assert_eq!(bucket_bits(0), 0);
        assert_eq!(bucket_bits(per_bucket), 0);
        assert_eq!(bucket_bits(per_bucket + 1), 1);
        assert_eq!(bucket_bits(4 * per_bucket), 2);
        assert_eq!(bucket_bits(4 * per_bucket + 1), 3);
        assert_eq!(bucket_bits(100_000_000), 11);
        assert_eq!(bucket_bits(u64::MAX), MAX_BUCKET_BITS);
    }

    #[test]
    fn scattered_tables_are_permutations() {
        // Sizes around the one-bucket limit and with several buckets.
        for len in [(1 << 16) + 1, 3 << 16, (5 << 16) + 7] {
            let table = as_vec(&PermutationTable::shuffled(len, len ^ 5).unwrap());
            let mut seen = vec![false; len as usize];
            for value in table {
                assert!(!std::mem::replace(&mut seen[value as usize], true));
            }
        }
    }

    #[test]
    fn buffered_scatter_writes_the_same_table_as_the_direct_one() {
        let len = 100_003u64;
        let bits = 7; // more buckets than this size would use, to exercise partial lines
        let key = 99;
        let mut counts = vec![0usize; 1 << bits];
        for_each_bucket_in(0..len, key, bits, |_, b| counts[b] += 1);
        let mut starts = vec![0usize];
        starts.extend(counts.iter().scan(0, |sum, &c| {
            *sum += c;
            Some(*sum)
        }));
        let mut direct = vec![0u32; len as usize];
        let mut next = starts[..1 << bits].to_vec();
        for_each_bucket_in(0..len, key, bits, |i, b| {
            direct[next[b]] = i as u32;
            next[b] += 1;
        });
        let mut buffered = vec![0u32; len as usize];
        let mut next = starts[..1 << bits].to_vec();
        scatter_through_lines(
            &SharedSlice::new(&mut buffered),
            &mut next,
            0..len,
            key,
            bits,
            &Poll::never(),
        );
        assert_eq!(buffered, direct);
    }

    #[test]
    fn every_thread_count_builds_the_same_table() {
        // One chunk, several chunks (CHUNK = 2^22), a ragged last word.
        for len in [3u64 << 16, (1 << 22) * 3 + 7, 10_000_019] {
            let serial = PermutationTable::shuffled(len, 41).unwrap();
            for threads in [2, 3, 4, 7] {
                let build = Build {
                    threads,
                    interrupted: &|| false,
                };
                let parallel = PermutationTable::shuffled_with(len, 41, None, build).unwrap();
                assert!(parallel == serial, "len {len}, {threads} threads");
            }
        }
    }

    #[test]
    fn an_interruption_stops_the_build_between_units() {
        let polls = AtomicUsize::new(0);
        let interrupted = || polls.fetch_add(1, Ordering::Relaxed) >= 2;
        for threads in [1, 2] {
            polls.store(0, Ordering::Relaxed);
            let build = Build {
                threads,
                interrupted: &interrupted,
            };
            let error = PermutationTable::shuffled_with(50_000_000, 1, None, build).unwrap_err();
            assert_eq!(error, SamplerError::Interrupted);
            // Stopped right after the poll that said so (helpers finish their own unit).
            assert!(polls.load(Ordering::Relaxed) <= 4, "{polls:?}");
        }
    }

    #[test]
    fn buckets_are_filled_evenly() {
        // With 8 buckets of ~2^16 each, counts stay within 6 sigma (~1500) of the mean.
        let len = 8u64 << 16;
        let bits = bucket_bits(len);
        assert_eq!(bits, 3);
        let mut counts = [0i64; 8];
        for_each_bucket_in(0..len, 12345, bits, |_, b| counts[b] += 1);
        for count in counts {
            assert!((count - (1 << 16)).abs() < 1_500, "{counts:?}");
        }
    }

    #[test]
    fn first_position_is_uniform_across_buckets() {
        // Where index 0 lands, over many keys, with 2 buckets: each half equally often.
        let len = 2u64 << 16;
        let mut halves = [0u32; 2];
        for key in 0..2_000u64 {
            let table = PermutationTable::shuffled(len, key).unwrap();
            let position = (0..len).find(|&p| table.get(p) == 0).unwrap();
            halves[(position / (len / 2)) as usize] += 1;
        }
        // Expected 1000 each; 6 sigma is about 134.
        for count in halves {
            assert!((866..1_134).contains(&count), "{halves:?}");
        }
    }
}
