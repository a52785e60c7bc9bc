//! Windowed (read-local) orders. The kept episodes are grouped into units: each episode alone,
//! or every kept episode sharing a group id (for example the video file that holds it). Every
//! epoch permutes the units, cuts the permuted sequence into consecutive windows that close as
//! soon as they hold at least `window` frames (a unit is never split; the last window may be
//! smaller), and shuffles the frames inside each window, keyed per window. Windows are yielded
//! in order, so a reader touches the files of a few units at a time.
//!
//! Worker-aware streams (`streams = K > 1`): the permuted units are dealt to `K` streams, each
//! unit to the stream holding the fewest frames so far (ties to the lowest index); each stream is
//! cut into windows and shuffled as above, and the epoch takes `block` positions from every stream
//! that still has frames, in turn. With `block` = the DataLoader's batch size (times the
//! data-parallel size) and `K` workers, batch `b` comes from stream `b mod K`: each worker reads
//! its own stream's windows. The streams laid end to end (stream-major order) form an ordinary
//! windowed order whose windows are numbered across streams; [`Interleave`] maps an epoch
//! position to its stream-major position in O(log rounds * log K + K).
//!
//! Readers of a stream (`stream_readers = R > 1`, `"uniform"` only): `R` readers share each
//! stream's windows, reader `c` reading the stream's blocks `c, c + R, ...` of `block` positions
//! (a DataLoader's workers, when one stream serves a process). Each window's frames, in unit
//! order, are cut into runs of [`READER_RUN`] frames dealt to the readers in turn, so a reader
//! decodes whole runs of a file instead of every other frame; reader `c`'s positions of the
//! window take the runs dealt to it (a few frames move to the next reader where the counts
//! differ), shuffled. Every reader's blocks still draw from all the window's episodes.
//!
//! Any position is found by a binary search over the window starts (O(log windows)): `"uniform"`
//! windows are materialised as one table per epoch (as the global `"uniform"` order, at most 4
//! bytes per frame), `"feistel"` windows keep O(kept episodes) memory and run a keyed Feistel
//! network over the window's frames.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use crate::config;
use crate::error::{try_filled, SamplerError, Zeroable};
use crate::feistel::Feistel;
use crate::index::EpisodeIndex;
use crate::keys::{
    absorb, epoch_key, DOMAIN_WINDOW_FEISTEL, DOMAIN_WINDOW_UNIFORM, DOMAIN_WINDOW_UNITS,
};
use crate::order::Permutation;
use crate::parallel::{Build, Ticks, POLL_EVERY};
use crate::rng::{BoundedDraws, Xoshiro256PlusPlus};
use crate::uniform::PermutationTable;

/// The kept episodes grouped into units, numbered by their first kept episode in boundary order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Units {
    /// Unit `u` holds kept episodes `members[first[u]..first[u + 1]]` (ascending).
    first: Vec<usize>,
    members: Vec<u32>,
    /// Kept frames of every unit.
    frames: Vec<u64>,
    /// Unit of every kept episode: what the fingerprint records.
    unit_of: Vec<u32>,
}

impl Units {
    /// Every kept episode its own unit.
    pub fn per_episode(index: &EpisodeIndex) -> Self {
        let kept = index.num_episodes();
        Self::from_unit_of(index, (0..kept as u32).collect(), kept)
    }

    /// Kept episodes with equal `groups[e]` (`e`: the episode's position in the boundary
    /// arrays, so `groups` has one entry per episode of those arrays) form one unit.
    pub fn from_groups(index: &EpisodeIndex, groups: &[i64]) -> Result<Self, SamplerError> {
        config::check_group_ids(
            "episode_groups",
            groups.len(),
            index.num_boundary_episodes(),
        )?;
        let mut number_of: HashMap<i64, u32> = HashMap::new();
        let mut unit_of = Vec::with_capacity(index.num_episodes());
        for &episode in index.episode_ids() {
            let group = groups[episode as usize]; // in range: checked above
            let next = number_of.len() as u32;
            unit_of.push(*number_of.entry(group).or_insert(next));
        }
        let count = number_of.len();
        Ok(Self::from_unit_of(index, unit_of, count))
    }

    fn from_unit_of(index: &EpisodeIndex, unit_of: Vec<u32>, count: usize) -> Self {
        let mut sizes = vec![0usize; count];
        let mut frames = vec![0u64; count];
        for (k, &unit) in unit_of.iter().enumerate() {
            sizes[unit as usize] += 1;
            frames[unit as usize] += index.episode_len(k);
        }
        let mut first = Vec::with_capacity(count + 1);
        first.push(0);
        for size in &sizes {
            first.push(first.last().unwrap() + size);
        }
        let mut filled = first[..count].to_vec();
        let mut members = vec![0u32; unit_of.len()];
        for (k, &unit) in unit_of.iter().enumerate() {
            members[filled[unit as usize]] = k as u32;
            filled[unit as usize] += 1;
        }
        Units {
            first,
            members,
            frames,
            unit_of,
        }
    }

    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Kept episodes of unit `u`, ascending.
    pub fn members(&self, unit: usize) -> &[u32] {
        &self.members[self.first[unit]..self.first[unit + 1]]
    }

    /// Kept frames of unit `u`.
    pub fn frames(&self, unit: usize) -> u64 {
        self.frames[unit]
    }
}

/// A windowed order's configuration: the window size, the units and the streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowSpec {
    window: u64,
    units: Units,
    /// `None`: one stream (the windowed order of version 2, bit for bit).
    streams: Option<Streams>,
    /// `None`: one reader per stream (the order without readers, bit for bit).
    readers: Option<Readers>,
}

/// Readers of a stream: `count >= 2` readers take a stream's blocks of `block` positions in
/// turn, and its windows' frames in runs of [`READER_RUN`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readers {
    pub count: u64,
    pub block: u64,
}

/// Consecutive frames (in a window's unit order) that go to one reader: with a key frame every
/// few frames, a reader holding a run decodes each key frame once, where single frames dealt
/// in turn make both readers decode it.
pub const READER_RUN: u64 = 8;

/// Worker-aware streams: `count >= 2` streams read `block` positions at a time, in turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Streams {
    pub count: u64,
    pub block: u64,
}

pub use crate::config::MAX_STREAMS;

/// Streams up to which bulk evaluation gathers each stream's positions (a counting sort).
const MAX_GATHERED_STREAMS: usize = 1024;

/// Tags the streams part of a fingerprint.
const STREAMS_FINGERPRINT_TAG: u64 = 0x7374_7265_616D_7300; // "streams\0"

/// Tags the readers part of a fingerprint.
const READERS_FINGERPRINT_TAG: u64 = 0x7265_6164_6572_7300; // "readers\0"

/// Tags the windowed part of a fingerprint.
const WINDOW_FINGERPRINT_TAG: u64 = 0x7769_6E64_6F77_0000; // "window\0\0"

impl WindowSpec {
    pub fn new(window: u64, units: Units) -> Result<Self, SamplerError> {
        if window == 0 {
            return Err(SamplerError::invalid("window must be >= 1, got 0"));
        }
        Ok(WindowSpec {
            window,
            units,
            streams: None,
            readers: None,
        })
    }

    /// The same windows split among `readers` readers per stream, each reading every
    /// `readers`-th block of `block` positions of its stream. One reader leaves the order as it
    /// is (`block` ignored); more need `block >= 1` and `"uniform"` windows.
    pub fn with_readers(
        mut self,
        readers: u64,
        block: Option<u64>,
        permutation: Permutation,
    ) -> Result<Self, SamplerError> {
        self.readers = config::reader_settings(readers, block, true, permutation)?
            .map(|(count, block)| Readers { count, block });
        Ok(self)
    }

    /// The readers per stream (`None`: one).
    pub fn readers(&self) -> Option<Readers> {
        self.readers
    }

    /// The same windows dealt to `streams` streams read `block` positions at a time. One stream
    /// is the plain windowed order (`block` ignored); more need `block >= 1`.
    pub fn with_streams(mut self, streams: u64, block: Option<u64>) -> Result<Self, SamplerError> {
        self.streams = config::stream_settings(streams, block, true)?
            .map(|(count, block)| Streams { count, block });
        Ok(self)
    }

    /// The streams (`None`: one).
    pub fn streams(&self) -> Option<Streams> {
        self.streams
    }

    pub fn window(&self) -> u64 {
        self.window
    }

    pub fn units(&self) -> &Units {
        &self.units
    }

    /// `state` extended with the window and the grouping of the kept episodes into units.
    pub fn fingerprint(&self, state: u64) -> u64 {
        let mut state = absorb(absorb(state, WINDOW_FINGERPRINT_TAG), self.window);
        state = absorb(state, self.units.len() as u64);
        for &unit in &self.units.unit_of {
            state = absorb(state, u64::from(unit));
        }
        state = match self.streams {
            // One stream leaves the version-2 fingerprint as it was.
            None => state,
            Some(Streams { count, block }) => {
                absorb(absorb(absorb(state, STREAMS_FINGERPRINT_TAG), count), block)
            }
        };
        match self.readers {
            // One reader leaves it as it was too.
            None => state,
            Some(Readers { count, block }) => {
                let state = absorb(absorb(state, READERS_FINGERPRINT_TAG), count);
                absorb(absorb(state, block), READER_RUN)
            }
        }
    }

    /// The order of `epoch` for `seed`, with windows shuffled by `permutation`.
    pub fn epoch_order(
        &self,
        index: &EpisodeIndex,
        permutation: Permutation,
        seed: u64,
        epoch: u64,
    ) -> Result<WindowedOrder, SamplerError> {
        self.epoch_order_with(index, permutation, seed, epoch, Build::serial())
    }

    /// [`WindowSpec::epoch_order`], polling `build`'s interruption check every
    /// [`POLL_EVERY`] units, episodes or frames ([`SamplerError::Interrupted`] if interrupted).
    pub fn epoch_order_with(
        &self,
        index: &EpisodeIndex,
        permutation: Permutation,
        seed: u64,
        epoch: u64,
        build: Build<'_>,
    ) -> Result<WindowedOrder, SamplerError> {
        let units = &self.units;
        // 1. Units permuted by Fisher–Yates (exact bounded draws) under the epoch's unit key.
        let mut order: Vec<u32> = (0..units.len() as u32).collect();
        let mut rng = Xoshiro256PlusPlus::from_key(epoch_key(DOMAIN_WINDOW_UNITS, seed, epoch));
        build.for_each_rev(1..order.len(), |i| {
            let j = rng.below(i as u64 + 1) as usize;
            order.swap(i, j);
        })?;
        // 2. Streams: each unit to the stream with the fewest frames so far (ties to the lowest
        //    index), laid end to end; one stream keeps the permuted order as it is.
        let (order, interleave) = match self.streams {
            None => (order, None),
            Some(streams) => {
                let (order, lengths) = deal_to_streams(units, &order, streams.count, build)?;
                (order, Some(Interleave::new(lengths, streams.block)))
            }
        };
        // 3. Windows: consecutive units of a stream, closed once they hold `window` frames; a
        //    stream's last window closes at its end.
        let stream_ends = match &interleave {
            None => vec![],
            Some(interleave) => interleave.starts[1..].to_vec(),
        };
        let mut next_stream_end = stream_ends.iter().peekable();
        let mut window_starts = vec![0u64];
        let mut filled = 0u64;
        let mut position = 0u64;
        build.for_each(0..order.len(), |i| {
            let unit = order[i];
            position += units.frames(unit as usize);
            filled += units.frames(unit as usize);
            // Empty streams end where the previous one did.
            let mut at_stream_end = false;
            while let Some(&end) = next_stream_end.next_if(|&&end| end <= position) {
                at_stream_end |= end == position;
            }
            if filled >= self.window || (at_stream_end && filled > 0) {
                window_starts.push(position);
                filled = 0;
            }
        })?;
        if filled > 0 {
            window_starts.push(position);
        }
        // The kept episodes in the epoch's unit order, with where each starts.
        let episodes = order
            .iter()
            .flat_map(|&unit| units.members(unit as usize).iter().map(|&k| k as usize));
        let shuffle = match permutation {
            Permutation::Uniform => {
                let key = epoch_key(DOMAIN_WINDOW_UNIFORM, seed, epoch);
                // Where each window's stream starts: a reader's blocks count from there.
                let stream_starts = match &interleave {
                    None => vec![0],
                    Some(interleave) => interleave.starts.clone(),
                };
                let readers = self.readers.map(|readers| (readers, &stream_starts[..]));
                WindowShuffle::Table(shuffled_windows(
                    index,
                    episodes,
                    &window_starts,
                    key,
                    readers,
                    build,
                )?)
            }
            Permutation::Feistel if self.readers.is_some() => {
                return Err(SamplerError::invalid(
                    "stream_readers > 1 needs permutation='uniform', got 'feistel'",
                ))
            }
            Permutation::Feistel => {
                let mut segment_starts = Vec::with_capacity(index.num_episodes());
                let mut segment_logical = Vec::with_capacity(index.num_episodes());
                let mut window_segments = Vec::with_capacity(window_starts.len());
                let mut start = 0u64;
                let mut ticks = build.ticks();
                for k in episodes {
                    // Windows hold whole units, so each starts with a segment.
                    if window_starts.get(window_segments.len()) == Some(&start) {
                        window_segments.push(segment_starts.len());
                    }
                    segment_starts.push(start);
                    segment_logical.push(index.offsets()[k]);
                    start += index.episode_len(k);
                    ticks.add(1)?;
                }
                window_segments.push(segment_starts.len());
                WindowShuffle::Feistel {
                    key: epoch_key(DOMAIN_WINDOW_FEISTEL, seed, epoch),
                    segment_starts,
                    segment_logical,
                    window_segments,
                }
            }
        };
        Ok(WindowedOrder {
            window_starts,
            shuffle,
            interleave,
        })
    }
}

/// The permuted units dealt to `count` streams (each to the stream with the fewest frames so
/// far, ties to the lowest index), laid end to end; and every stream's frames.
fn deal_to_streams(
    units: &Units,
    permuted: &[u32],
    count: u64,
    build: Build<'_>,
) -> Result<(Vec<u32>, Vec<u64>), SamplerError> {
    let count = count as usize;
    let mut lightest: BinaryHeap<Reverse<(u64, usize)>> =
        (0..count).map(|s| Reverse((0u64, s))).collect();
    let mut stream_of = Vec::with_capacity(permuted.len());
    let mut lengths = vec![0u64; count];
    build.for_each(0..permuted.len(), |i| {
        let unit = permuted[i];
        let Reverse((frames, s)) = lightest.pop().expect("at least one stream");
        let frames = frames + units.frames(unit as usize);
        lengths[s] = frames;
        stream_of.push(s as u32);
        lightest.push(Reverse((frames, s)));
    })?;
    // A stable counting sort by stream keeps each stream's units in permuted order.
    let mut next = vec![0usize; count + 1];
    for &s in &stream_of {
        next[s as usize + 1] += 1;
    }
    for s in 0..count {
        next[s + 1] += next[s];
    }
    let mut order = vec![0u32; permuted.len()];
    for (&unit, &s) in permuted.iter().zip(&stream_of) {
        order[next[s as usize]] = unit;
        next[s as usize] += 1;
    }
    Ok((order, lengths))
}

/// Epoch positions -> stream-major positions: in round `r` every stream `s` with
/// `lengths[s] > r * block` contributes its positions `r * block ..` (at most `block` of them),
/// streams in index order.
///
/// The positions before round `r` are `sum_s min(lengths[s], r * block)`: linear in `r`
/// between two rounds where a stream ends, so a position's round is found by a binary search
/// over those (at most `K`) phases and one division.
#[derive(Debug, Clone)]
pub struct Interleave {
    block: u64,
    lengths: Vec<u64>,
    /// Stream-major start of every stream, then the end.
    starts: Vec<u64>,
    /// Phases: from round `first_round` on, `active` streams take `block` positions per round,
    /// and `before` positions precede that round. Ascending, the last one with `active == 0`.
    phases: Vec<Phase>,
}

#[derive(Debug, Clone, Copy)]
struct Phase {
    first_round: u64,
    before: u64,
    active: u64,
}

/// A run of consecutive epoch positions `first..first + len` that one stream contributes to one
/// round: stream-major positions `stream_major..stream_major + len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub first: u64,
    pub len: u64,
    pub stream_major: u64,
    pub stream: usize,
}

impl Segment {
    #[inline]
    fn holds(&self, position: u64) -> bool {
        position.wrapping_sub(self.first) < self.len
    }
}

impl Interleave {
    fn new(lengths: Vec<u64>, block: u64) -> Self {
        let mut starts = Vec::with_capacity(lengths.len() + 1);
        starts.push(0);
        for &length in &lengths {
            starts.push(starts.last().unwrap() + length);
        }
        // A stream with `L` frames takes part in rounds `0..ceil(L / block)`.
        let mut ends: Vec<(u64, u64)> = lengths
            .iter()
            .map(|&length| (length.div_ceil(block), length))
            .collect();
        ends.sort_unstable();
        let mut phases = vec![Phase {
            first_round: 0,
            before: 0,
            active: lengths.len() as u64,
        }];
        let mut finished = 0u64; // frames of the streams that have ended
        for (k, &(rounds, length)) in ends.iter().enumerate() {
            finished += length;
            let active = (ends.len() - k - 1) as u64;
            let phase = Phase {
                first_round: rounds,
                before: finished + rounds.saturating_mul(block).saturating_mul(active),
                active,
            };
            match phases.last_mut() {
                Some(last) if last.first_round == rounds => *last = phase,
                _ => phases.push(phase),
            }
        }
        Interleave {
            block,
            lengths,
            starts,
            phases,
        }
    }

    /// Frames of every stream.
    pub fn lengths(&self) -> &[u64] {
        &self.lengths
    }

    /// The segment holding epoch position `position` (`<` the epoch's frames).
    pub fn segment(&self, position: u64) -> Segment {
        // The phase, then the round: the last one starting at or before `position`. The last
        // round of a phase may be short (streams ending in it), hence the cap.
        let k = self
            .phases
            .partition_point(|phase| phase.before <= position)
            - 1;
        let phase = self.phases[k];
        let next_round = self.phases[k + 1].first_round;
        let per_round = self.block * phase.active;
        let round = (phase.first_round + (position - phase.before) / per_round).min(next_round - 1);
        let base = round * self.block;
        let mut first = phase.before + (round - phase.first_round) * per_round;
        for (stream, &length) in self.lengths.iter().enumerate() {
            let len = length.saturating_sub(base).min(self.block);
            if position - first < len {
                return Segment {
                    first,
                    len,
                    stream_major: self.starts[stream] + base,
                    stream,
                };
            }
            first += len;
        }
        unreachable!("position {position} past the epoch's end")
    }

    /// The stream-major position of epoch position `position`.
    #[inline]
    pub fn stream_major(&self, position: u64) -> u64 {
        let segment = self.segment(position);
        segment.stream_major + (position - segment.first)
    }

    /// [`Interleave::stream_major`] of every entry, in place; a run of positions inside one
    /// segment costs one search.
    pub fn stream_major_many(&self, positions: &mut [u64]) {
        let mut current: Option<Segment> = None;
        for position in positions.iter_mut() {
            let segment = match current {
                Some(segment) if segment.holds(*position) => segment,
                _ => *current.insert(self.segment(*position)),
            };
            *position = segment.stream_major + (*position - segment.first);
        }
    }
}

/// One epoch of a windowed order over logical positions `0..num_frames`.
#[derive(Debug, Clone)]
pub struct WindowedOrder {
    /// Start of every window (in stream-major positions), then the end of the epoch.
    window_starts: Vec<u64>,
    shuffle: WindowShuffle,
    /// Epoch positions -> stream-major positions (`None`: one stream, the same positions).
    interleave: Option<Interleave>,
}

#[derive(Debug, Clone)]
enum WindowShuffle {
    /// The logical position at every position, windows shuffled in place.
    Table(PermutationTable),
    /// Window `w` maps its offset `j` to `Feistel::new(len_w, absorb(key, w)).apply(j)`, an
    /// offset into the window's unshuffled frames: the kept episodes in unit order, segment `s`
    /// starting at `segment_starts[s]` with logical position `segment_logical[s]`; window `w`
    /// holds segments `window_segments[w]..window_segments[w + 1]`.
    Feistel {
        key: u64,
        segment_starts: Vec<u64>,
        segment_logical: Vec<u64>,
        window_segments: Vec<usize>,
    },
}

impl WindowedOrder {
    pub fn num_windows(&self) -> usize {
        self.window_starts.len() - 1
    }

    /// The streams' interleave (`None`: one stream).
    pub fn interleave(&self) -> Option<&Interleave> {
        self.interleave.as_ref()
    }

    /// Start and end of window `w`, in stream-major positions (epoch positions with one
    /// stream).
    pub fn window(&self, w: usize) -> (u64, u64) {
        (self.window_starts[w], self.window_starts[w + 1])
    }

    /// The window holding stream-major position `position`.
    #[inline]
    pub fn window_of(&self, position: u64) -> usize {
        self.window_starts
            .partition_point(|&start| start <= position)
            - 1
    }

    /// Logical position at global position `position`.
    #[inline]
    pub fn logical(&self, position: u64) -> u64 {
        let position = match &self.interleave {
            None => position,
            Some(interleave) => interleave.stream_major(position),
        };
        self.logical_of_stream_major(position)
    }

    /// Logical position at stream-major position `position`.
    #[inline]
    fn logical_of_stream_major(&self, position: u64) -> u64 {
        match &self.shuffle {
            WindowShuffle::Table(table) => table.get(position),
            WindowShuffle::Feistel { key, .. } => {
                let w = self.window_of(position);
                let (start, end) = self.window(w);
                let network = Feistel::new(end - start, absorb(*key, w as u64));
                self.unshuffled_logical(w, start + network.apply(position - start))
            }
        }
    }

    /// [`WindowedOrder::logical`] of every entry, in place: one network per run of positions
    /// inside the same window, evaluated many at a time.
    pub fn logical_many(&self, positions: &mut [u64]) {
        let Some(interleave) = &self.interleave else {
            return self.logical_many_stream_major(positions);
        };
        interleave.stream_major_many(positions);
        let streams = interleave.lengths.len();
        if matches!(self.shuffle, WindowShuffle::Table(_)) || streams > MAX_GATHERED_STREAMS {
            return self.logical_many_stream_major(positions);
        }
        // Consecutive epoch positions alternate between streams every `block`: gather each
        // stream's positions (consecutive inside its windows) so that Feistel windows see long
        // runs, evaluate, and put them back.
        let stream_of = |q: u64| interleave.starts.partition_point(|&start| start <= q) - 1;
        let mut next = vec![0usize; streams + 1];
        for &q in positions.iter() {
            next[stream_of(q) + 1] += 1;
        }
        for s in 0..streams {
            next[s + 1] += next[s];
        }
        let mut gathered = vec![0u64; positions.len()];
        let mut origin = vec![0usize; positions.len()];
        for (i, &q) in positions.iter().enumerate() {
            let slot = &mut next[stream_of(q)];
            gathered[*slot] = q;
            origin[*slot] = i;
            *slot += 1;
        }
        self.logical_many_stream_major(&mut gathered);
        for (&i, &logical) in origin.iter().zip(&gathered) {
            positions[i] = logical;
        }
    }

    /// [`WindowedOrder::logical_many`] of stream-major positions.
    fn logical_many_stream_major(&self, positions: &mut [u64]) {
        let key = match &self.shuffle {
            WindowShuffle::Table(table) => {
                for position in positions.iter_mut() {
                    *position = table.get(*position);
                }
                return;
            }
            WindowShuffle::Feistel { key, .. } => key,
        };
        let mut rest = positions;
        while let Some(&first) = rest.first() {
            let w = self.window_of(first);
            let (start, end) = self.window(w);
            let run = rest
                .iter()
                .position(|&p| p < start || p >= end)
                .unwrap_or(rest.len());
            let (same_window, after) = rest.split_at_mut(run);
            for position in same_window.iter_mut() {
                *position -= start;
            }
            Feistel::new(end - start, absorb(*key, w as u64)).apply_many(same_window);
            for position in same_window.iter_mut() {
                *position = self.unshuffled_logical(w, start + *position);
            }
            rest = after;
        }
    }

    /// Logical position of the `offset`-th frame of the epoch's unshuffled unit order, which
    /// lies in window `w`: a binary search over that window's segments only.
    #[inline]
    fn unshuffled_logical(&self, w: usize, offset: u64) -> u64 {
        let WindowShuffle::Feistel {
            segment_starts,
            segment_logical,
            window_segments,
            ..
        } = &self.shuffle
        else {
            unreachable!("only Feistel windows keep segments")
        };
        let first = window_segments[w];
        let segments = &segment_starts[first..window_segments[w + 1]];
        let s = first + segments.partition_point(|&start| start <= offset) - 1;
        segment_logical[s] + (offset - segment_starts[s])
    }

    /// Bytes the order holds.
    pub fn bytes(&self) -> u64 {
        let streams = self
            .interleave
            .as_ref()
            .map_or(0, |interleave| 32 * interleave.lengths.len() as u64);
        let windows = streams + 8 * self.window_starts.len() as u64;
        windows
            + match &self.shuffle {
                WindowShuffle::Table(table) => table.bytes(),
                WindowShuffle::Feistel {
                    segment_starts,
                    window_segments,
                    ..
                } => 16 * segment_starts.len() as u64 + 8 * window_segments.len() as u64,
            }
    }
}

/// The table of a `"uniform"` windowed epoch: the logical positions of `episodes`' frames in
/// that order, then each window Fisher–Yates-shuffled with its own stream (`absorb(key, w)`).
fn shuffled_windows(
    index: &EpisodeIndex,
    episodes: impl Iterator<Item = usize>,
    window_starts: &[u64],
    key: u64,
    readers: Option<(Readers, &[u64])>,
    build: Build<'_>,
) -> Result<PermutationTable, SamplerError> {
    let len = index.num_frames();
    Ok(if len <= u64::from(u32::MAX) + 1 {
        PermutationTable::U32(fill_and_shuffle(
            index,
            episodes,
            window_starts,
            key,
            readers,
            |v| v as u32,
            build,
        )?)
    } else {
        PermutationTable::U64(fill_and_shuffle(
            index,
            episodes,
            window_starts,
            key,
            readers,
            |v| v,
            build,
        )?)
    })
}

/// Polls `build` every [`POLL_EVERY`] frames written or swapped (whatever the episode and
/// window sizes).
fn fill_and_shuffle<T: Zeroable>(
    index: &EpisodeIndex,
    episodes: impl Iterator<Item = usize>,
    window_starts: &[u64],
    key: u64,
    readers: Option<(Readers, &[u64])>,
    entry: impl Fn(u64) -> T,
    build: Build<'_>,
) -> Result<Vec<T>, SamplerError> {
    let mut table: Vec<T> = try_filled("the windowed table", index.num_frames())?;
    let mut ticks = build.ticks();
    let mut at = 0usize;
    for k in episodes {
        let first = index.offsets()[k];
        let len = index.episode_len(k) as usize;
        let mut done = 0;
        while done < len {
            let piece = (len - done).min(POLL_EVERY);
            let slots = &mut table[at..at + piece];
            for (logical, slot) in (first + done as u64..).zip(slots.iter_mut()) {
                *slot = entry(logical);
            }
            at += piece;
            done += piece;
            ticks.add(piece)?;
        }
    }
    for (w, bounds) in window_starts.windows(2).enumerate() {
        let window = &mut table[bounds[0] as usize..bounds[1] as usize];
        let mut draws = BoundedDraws::new(absorb(key, w as u64));
        match readers {
            None => fisher_yates(window, &mut draws, &mut ticks)?,
            Some((readers, stream_starts)) => {
                // Windows never straddle two streams.
                let stream = stream_starts.partition_point(|&start| start <= bounds[0]) - 1;
                let offset = bounds[0] - stream_starts[stream];
                split_among_readers(window, offset, readers, &mut draws, &mut ticks)?;
            }
        }
    }
    Ok(table)
}

/// Fisher–Yates from the top, a piece of at most [`POLL_EVERY`] swaps at a time.
fn fisher_yates<T>(
    items: &mut [T],
    draws: &mut BoundedDraws,
    ticks: &mut Ticks<'_>,
) -> Result<(), SamplerError> {
    let mut top = items.len();
    while top > 1 {
        let bottom = top.saturating_sub(POLL_EVERY).max(1);
        let head = &mut items[..top];
        for i in (bottom..head.len()).rev() {
            let j = if i < u32::MAX as usize {
                draws.below_u32(i as u32 + 1) as usize
            } else {
                draws.below(i as u64 + 1) as usize
            };
            head.swap(i, j);
        }
        ticks.add(top - bottom)?;
        top = bottom;
    }
    Ok(())
}

/// A window's frames (in unit order) placed for `readers`: the window starts `offset`
/// positions into its stream, whose block `b` is read by reader `b mod count`. Runs of
/// [`READER_RUN`] frames go to the readers in turn; laid out reader by reader, the first
/// reader's positions take as many frames from the front as it has positions, the next
/// reader's the following ones (so where a reader has more positions than run frames it takes
/// a few of the next reader's), and each reader's frames are shuffled over its positions.
fn split_among_readers<T: Copy>(
    window: &mut [T],
    offset: u64,
    readers: Readers,
    draws: &mut BoundedDraws,
    ticks: &mut Ticks<'_>,
) -> Result<(), SamplerError> {
    let count = readers.count as usize;
    let reader_at = |i: usize| (((offset + i as u64) / readers.block) % readers.count) as usize;
    let run_of = |i: usize| ((i as u64 / READER_RUN) % readers.count) as usize;
    // Where each reader's frames start, laid out reader by reader.
    let mut first = vec![0usize; count + 1];
    for i in 0..window.len() {
        first[run_of(i) + 1] += 1;
    }
    for c in 0..count {
        first[c + 1] += first[c];
    }
    let mut laid_out = window.to_vec();
    for (i, &frame) in window.iter().enumerate() {
        let slot = &mut first[run_of(i)];
        laid_out[*slot] = frame;
        *slot += 1;
    }
    ticks.add(window.len())?;
    // Every reader's share: as many frames as it has positions, in reader order.
    let mut share = vec![0usize; count + 1];
    for i in 0..window.len() {
        share[reader_at(i) + 1] += 1;
    }
    for c in 0..count {
        share[c + 1] += share[c];
        fisher_yates(&mut laid_out[share[c]..share[c + 1]], draws, ticks)?;
    }
    for (i, slot) in window.iter_mut().enumerate() {
        let next = &mut share[reader_at(i)];
        *slot = laid_out[*next];
        *next += 1;
    }
    ticks.add(window.len())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::EpisodeSpec;

    fn index(from: &[i64], to: &[i64]) -> EpisodeIndex {
        EpisodeIndex::new(&EpisodeSpec {
            from,
            to,
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn groups_make_units_of_every_kept_episode_with_the_id() {
        // Episodes 0..5 of 2, 3, 1, 4, 2 frames; ids not contiguous in boundary order.
        let index = index(&[0, 2, 5, 6, 10], &[2, 5, 6, 10, 12]);
        let units = Units::from_groups(&index, &[7, -1, 7, 3, -1]).unwrap();
        assert_eq!(units.len(), 3);
        assert_eq!(units.members(0), &[0, 2]);
        assert_eq!(units.members(1), &[1, 4]);
        assert_eq!(units.members(2), &[3]);
        assert_eq!(
            (units.frames(0), units.frames(1), units.frames(2)),
            (3, 5, 4)
        );
        assert!(Units::from_groups(&index, &[1, 2]).is_err());
    }

    #[test]
    fn windows_close_at_the_first_unit_reaching_the_size() {
        let index = index(&[0, 2, 5, 6, 10], &[2, 5, 6, 10, 12]);
        let spec = WindowSpec::new(4, Units::per_episode(&index)).unwrap();
        for permutation in [Permutation::Uniform, Permutation::Feistel] {
            for epoch in 0..20 {
                let order = spec.epoch_order(&index, permutation, 3, epoch).unwrap();
                let mut previous_end = 0;
                for w in 0..order.num_windows() {
                    let (start, end) = order.window(w);
                    assert_eq!(start, previous_end);
                    previous_end = end;
                    let last = w + 1 == order.num_windows();
                    assert!(
                        end - start >= 4 || last,
                        "window {w} of {:?}",
                        order.window_starts
                    );
                }
                assert_eq!(previous_end, 12);
            }
        }
    }

    #[test]
    fn a_build_polls_its_interruption_check_and_stops_when_told() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        // 3000 episodes of 100 frames: polls in the unit shuffle, the streams, the windows and
        // the table or segments.
        let from: Vec<i64> = (0..3000).map(|e| e * 100).collect();
        let to: Vec<i64> = from.iter().map(|f| f + 100).collect();
        let index = index(&from, &to);
        for streams in [1, 3] {
            let spec = WindowSpec::new(1000, Units::per_episode(&index))
                .unwrap()
                .with_streams(streams, Some(7))
                .unwrap();
            for permutation in [Permutation::Uniform, Permutation::Feistel] {
                let polls = AtomicUsize::new(0);
                let counting = || {
                    polls.fetch_add(1, Ordering::Relaxed);
                    false
                };
                let build = Build {
                    threads: 1,
                    interrupted: &counting,
                };
                let polled = spec
                    .epoch_order_with(&index, permutation, 5, 2, build)
                    .unwrap();
                let plain = spec.epoch_order(&index, permutation, 5, 2).unwrap();
                let logical = |order: &WindowedOrder| -> Vec<u64> {
                    (0..index.num_frames()).map(|p| order.logical(p)).collect()
                };
                assert_eq!(logical(&polled), logical(&plain));
                let total = polls.load(Ordering::Relaxed);
                assert!(total >= 2, "{total} polls");
                // Told to stop at each poll in turn: it stops there.
                for stop_at in 0..total {
                    polls.store(0, Ordering::Relaxed);
                    let stopping = || polls.fetch_add(1, Ordering::Relaxed) == stop_at;
                    let build = Build {
                        threads: 1,
                        interrupted: &stopping,
                    };
                    let error = spec
                        .epoch_order_with(&index, permutation, 5, 2, build)
                        .unwrap_err();
                    assert_eq!(error, SamplerError::Interrupted);
                    assert_eq!(polls.load(Ordering::Relaxed), stop_at + 1);
                }
            }
        }
    }
}
