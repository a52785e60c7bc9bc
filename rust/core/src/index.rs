//! Episode boundaries -> kept frames, and the map from a logical position in `0..num_frames` to
//! a frame. Only per-episode arrays are stored: O(episodes) memory whatever the frame count.

use std::sync::OnceLock;

use crate::error::SamplerError;
use crate::parallel::Build;

/// How many skipped episodes are listed by id: a bounded list, whatever the episode count.
pub const SKIPPED_LISTED: usize = 10;

/// The kept frames of a dataset: for every kept episode (in boundary order) its first kept frame
/// and the number of kept frames before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpisodeIndex {
    /// Boundary-order id of every kept episode.
    episode_ids: Vec<u64>,
    /// First kept frame of every kept episode.
    starts: Vec<u64>,
    /// Kept frames before every kept episode (exclusive prefix sums), ascending.
    offsets: Vec<u64>,
    num_frames: u64,
    /// Episodes in the boundary arrays, kept or not.
    num_boundary_episodes: usize,
    /// Selected episodes that had no frame left after the drops.
    num_skipped: usize,
    /// The first [`SKIPPED_LISTED`] of them as (boundary-order id, length), for the log.
    skipped_listed: Vec<(u64, u64)>,
    /// The position lookup, built when first needed (draws by episode never need it).
    slots: OnceLock<Slots>,
}

/// Positions grouped in slots of `2^shift`, a quarter to an eighth of an average episode;
/// `episode[s]` is the kept episode holding slot `s`'s first position. It narrows
/// [`EpisodeIndex::episode_of`] to the episodes meeting one slot, usually just one: O(1) for
/// typical lengths, at most 32 bytes per episode.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Slots {
    shift: u32,
    episode: Vec<u32>,
}

/// What the caller asked for; validated by [`EpisodeIndex::new`].
#[derive(Debug, Clone, Default)]
pub struct EpisodeSpec<'a> {
    pub from: &'a [i64],
    pub to: &'a [i64],
    /// `None` keeps every episode; otherwise ids into the boundary arrays (duplicates allowed).
    pub episodes_to_use: Option<&'a [i64]>,
    pub drop_first: u64,
    pub drop_last: u64,
}

impl EpisodeIndex {
    pub fn new(spec: &EpisodeSpec<'_>) -> Result<Self, SamplerError> {
        Self::new_with(spec, Build::serial())
    }

    /// [`EpisodeIndex::new`], polling `build`'s interruption check every
    /// [`crate::parallel::POLL_EVERY`] episodes ([`SamplerError::Interrupted`] if interrupted).
    pub fn new_with(spec: &EpisodeSpec<'_>, build: Build<'_>) -> Result<Self, SamplerError> {
        let (from, to) = (spec.from, spec.to);
        if from.len() != to.len() {
            return Err(SamplerError::invalid(format!(
                "dataset_from_indices and dataset_to_indices must have the same length, got {} and {}",
                from.len(),
                to.len()
            )));
        }
        if from.is_empty() {
            return Err(SamplerError::invalid(
                "dataset_from_indices must describe at least one episode, got 0",
            ));
        }
        for (name, values) in [("dataset_from_indices", from), ("dataset_to_indices", to)] {
            if let Some(e) = first_where(values, build, |_, &v| v < 0)? {
                return Err(SamplerError::invalid(format!(
                    "{name} must be >= 0, got {name}[{e}] = {} (episode {e})",
                    values[e]
                )));
            }
        }
        if let Some(e) = first_where(from, build, |e, &f| f > to[e])? {
            return Err(SamplerError::invalid(format!(
                "episode {e} ends before it starts: dataset_from_indices[{e}] = {} > dataset_to_indices[{e}] = {}",
                from[e], to[e]
            )));
        }
        check_no_overlap(from, to, build)?;

        let mut selected = vec![spec.episodes_to_use.is_none(); from.len()];
        if let Some(ids) = spec.episodes_to_use {
            for piece in build.pieces(0..ids.len()) {
                for &id in &ids[piece?] {
                    if id < 0 || id as u64 >= from.len() as u64 {
                        return Err(SamplerError::invalid(format!(
                            "episode_indices_to_use must hold episode ids in [0, {}), got {id}",
                            from.len()
                        )));
                    }
                    selected[id as usize] = true;
                }
            }
        }

        let mut index = EpisodeIndex {
            episode_ids: Vec::with_capacity(from.len()),
            starts: Vec::with_capacity(from.len()),
            offsets: Vec::with_capacity(from.len()),
            num_frames: 0,
            num_boundary_episodes: from.len(),
            num_skipped: 0,
            skipped_listed: Vec::new(),
            slots: OnceLock::new(),
        };
        let dropped = spec.drop_first.saturating_add(spec.drop_last);
        for piece in build.pieces(0..from.len()) {
            for e in piece?.filter(|&e| selected[e]) {
                let length = (to[e] - from[e]) as u64;
                if dropped >= length {
                    if index.num_skipped < SKIPPED_LISTED {
                        index.skipped_listed.push((e as u64, length));
                    }
                    index.num_skipped += 1;
                    continue;
                }
                index.episode_ids.push(e as u64);
                index.starts.push(from[e] as u64 + spec.drop_first);
                index.offsets.push(index.num_frames);
                index.num_frames += length - dropped;
            }
        }
        if index.num_frames == 0 {
            // Starts with LeRobot's phrase, which its users' tests match on.
            let detail = if index.num_skipped == 0 {
                "episode_indices_to_use selects no episode".to_string()
            } else {
                format!(
                    "{} selected episode(s), all empty after drop_n_first_frames={} and \
                     drop_n_last_frames={}",
                    index.num_skipped, spec.drop_first, spec.drop_last
                )
            };
            return Err(SamplerError::invalid(format!(
                "No valid frames remain after applying drop_n_first_frames and \
                 drop_n_last_frames: {detail}"
            )));
        }
        if index.num_episodes() > u32::MAX as usize {
            return Err(SamplerError::invalid(format!(
                "at most {} episodes are supported, got {}",
                u32::MAX,
                index.num_episodes()
            )));
        }
        Ok(index)
    }

    fn build_slots(&self) -> Slots {
        let average = self.num_frames.div_ceil(self.num_episodes() as u64);
        // Largest power of two <= a quarter of the average length (at least 1): 4 to 8 slots
        // per episode, so that most slots lie inside one episode and need no search.
        let shift = 63 - (average / 4).max(1).leading_zeros();
        let slots = ((self.num_frames - 1) >> shift) + 1;
        let mut episode = vec![0u32; slots as usize];
        // Episode k holds the slots whose first position falls in its frames.
        for k in 0..self.num_episodes() {
            let first_slot = self.offsets[k].div_ceil(1 << shift) as usize;
            let end = self.offsets[k] + self.episode_len(k);
            let end_slot = end.div_ceil(1 << shift) as usize;
            episode[first_slot..end_slot].fill(k as u32);
        }
        Slots { shift, episode }
    }

    pub fn num_frames(&self) -> u64 {
        self.num_frames
    }

    pub fn num_episodes(&self) -> usize {
        self.starts.len()
    }

    /// Episodes in the boundary arrays, kept or not.
    pub fn num_boundary_episodes(&self) -> usize {
        self.num_boundary_episodes
    }

    pub fn num_skipped(&self) -> usize {
        self.num_skipped
    }

    /// The first [`SKIPPED_LISTED`] skipped episodes as (boundary-order id, length).
    pub fn skipped_listed(&self) -> &[(u64, u64)] {
        &self.skipped_listed
    }

    pub fn episode_ids(&self) -> &[u64] {
        &self.episode_ids
    }

    pub fn starts(&self) -> &[u64] {
        &self.starts
    }

    pub fn offsets(&self) -> &[u64] {
        &self.offsets
    }

    /// Kept frames in episode `k` (a kept-episode rank, not a boundary id).
    pub fn episode_len(&self, k: usize) -> u64 {
        self.offsets.get(k + 1).copied().unwrap_or(self.num_frames) - self.offsets[k]
    }

    /// Kept episode holding logical `position` (`< num_frames`).
    #[inline]
    pub fn episode_of(&self, position: u64) -> usize {
        debug_assert!(position < self.num_frames);
        let slots = self.slots.get_or_init(|| self.build_slots());
        let slot = (position >> slots.shift) as usize;
        let first = slots.episode[slot] as usize;
        // The next slot's first episode is the last one that can meet this slot.
        let last = slots
            .episode
            .get(slot + 1)
            .map_or(self.offsets.len() - 1, |&episode| episode as usize);
        first + self.offsets[first + 1..=last].partition_point(|&offset| offset <= position)
    }

    /// The frame at logical `position` (`< num_frames`): binary search over the prefix sums.
    #[inline]
    pub fn frame_at(&self, position: u64) -> u64 {
        let k = self.episode_of(position);
        self.starts[k] + (position - self.offsets[k])
    }
}

/// Episodes may come in any order but must not share a frame. Empty episodes share nothing.
/// The first `e` with `pred(e, &values[e])`, polling `build` every
/// [`crate::parallel::POLL_EVERY`] values.
fn first_where<T>(
    values: &[T],
    build: Build<'_>,
    pred: impl Fn(usize, &T) -> bool,
) -> Result<Option<usize>, SamplerError> {
    for piece in build.pieces(0..values.len()) {
        let piece = piece?;
        let start = piece.start;
        if let Some(at) = values[piece]
            .iter()
            .enumerate()
            .position(|(i, v)| pred(start + i, v))
        {
            return Ok(Some(start + at));
        }
    }
    Ok(None)
}

fn check_no_overlap(from: &[i64], to: &[i64], build: Build<'_>) -> Result<(), SamplerError> {
    // The usual layout, episodes back to back in order, needs no sort.
    let mut previous_end = 0;
    let mut in_order = true;
    for piece in build.pieces(0..from.len()) {
        in_order = piece?.all(|e| {
            let ordered = from[e] >= previous_end || from[e] == to[e];
            previous_end = previous_end.max(to[e]);
            ordered
        });
        if !in_order {
            break;
        }
    }
    if in_order {
        return Ok(());
    }
    // Out of order: a sort (not interruptible inside; polled before it).
    build.check()?;
    let mut order: Vec<usize> = (0..from.len()).filter(|&e| from[e] < to[e]).collect();
    order.sort_unstable_by_key(|&e| (from[e], e));
    let first_clash = order
        .windows(2)
        .filter(|pair| to[pair[0]] > from[pair[1]])
        .map(|pair| (pair[0].min(pair[1]), pair[0].max(pair[1])))
        .min();
    match first_clash {
        None => Ok(()),
        Some((a, b)) => Err(SamplerError::invalid(format!(
            "episodes must not overlap: episode {a} [{}, {}) and episode {b} [{}, {}) share frames \
             (dataset_from_indices / dataset_to_indices)",
            from[a], to[a], from[b], to[b]
        ))),
    }
}

/// Optional map from a kept frame to the dataset row actually yielded
/// (LeRobot's `absolute_to_relative_idx`), held as arrays, never as a per-sample dictionary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remap {
    Identity,
    /// Row = frame + offset of its kept episode (a filtered LeRobot dataset is of this form).
    EpisodeShift(Vec<i64>),
    /// Row of every logical position, when the map is not a shift per episode.
    Table(Vec<i64>),
}

impl Remap {
    /// Builds the smallest representation of `rows` (row of every logical position, in order).
    pub fn from_rows(index: &EpisodeIndex, rows: Vec<i64>) -> Result<Self, SamplerError> {
        if rows.len() as u64 != index.num_frames() {
            return Err(SamplerError::invalid(format!(
                "absolute_to_relative_idx: expected one row per kept frame ({}), got {}",
                index.num_frames(),
                rows.len()
            )));
        }
        let mut shifts = Vec::with_capacity(index.num_episodes());
        for k in 0..index.num_episodes() {
            let first = index.offsets()[k] as usize;
            let len = index.episode_len(k) as usize;
            let shift = rows[first].wrapping_sub(index.starts()[k] as i64);
            let is_shift = rows[first..first + len]
                .iter()
                .enumerate()
                .all(|(j, &row)| row.wrapping_sub(j as i64) == rows[first]);
            if !is_shift {
                return Ok(Remap::Table(rows));
            }
            shifts.push(shift);
        }
        if shifts.iter().all(|&shift| shift == 0) {
            return Ok(Remap::Identity);
        }
        Ok(Remap::EpisodeShift(shifts))
    }

    /// Row = frame + `shifts[e]` for every frame of episode `e` (indexed by boundary id, so one
    /// entry per episode of the boundary arrays): a filtered dataset's rows, computed
    /// arithmetically from its boundaries.
    pub fn from_episode_shifts(index: &EpisodeIndex, shifts: &[i64]) -> Result<Self, SamplerError> {
        let needed = index
            .episode_ids()
            .iter()
            .max()
            .map_or(0, |&id| id as usize + 1);
        if shifts.len() < needed {
            return Err(SamplerError::invalid(format!(
                "episode shifts: expected one per episode ({needed} at least), got {}",
                shifts.len()
            )));
        }
        let kept: Vec<i64> = index
            .episode_ids()
            .iter()
            .map(|&id| shifts[id as usize])
            .collect();
        if kept.iter().all(|&shift| shift == 0) {
            return Ok(Remap::Identity);
        }
        Ok(Remap::EpisodeShift(kept))
    }

    /// Row of logical `position`, whose frame `frame` lies in kept episode `k`.
    #[inline]
    pub fn row(&self, k: usize, position: u64, frame: u64) -> i64 {
        match self {
            Remap::Identity => frame as i64,
            Remap::EpisodeShift(shifts) => (frame as i64).wrapping_add(shifts[k]),
            Remap::Table(rows) => rows[position as usize],
        }
    }

    /// Folds the map into a fingerprint. [`Remap::from_rows`] picks one representation per map,
    /// so equal maps hash equally.
    pub fn fingerprint(&self, state: u64) -> u64 {
        self.fingerprint_with(state, Build::serial())
            .expect("never interrupted")
    }

    /// [`Remap::fingerprint`], polling `build`'s interruption check every
    /// [`crate::parallel::POLL_EVERY`] entries.
    pub fn fingerprint_with(&self, state: u64, build: Build<'_>) -> Result<u64, SamplerError> {
        use crate::keys::absorb;
        let fold = |state: u64, words: &[i64]| -> Result<u64, SamplerError> {
            let mut state = state;
            for piece in build.pieces(0..words.len()) {
                state = words[piece?]
                    .iter()
                    .fold(state, |s, &word| absorb(s, word as u64));
            }
            Ok(state)
        };
        match self {
            Remap::Identity => Ok(absorb(state, 0)),
            Remap::EpisodeShift(shifts) => fold(absorb(state, 1), shifts),
            Remap::Table(rows) => fold(absorb(state, 2), rows),
        }
    }
}
