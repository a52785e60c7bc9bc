//! LRU stack distances of a stream of accesses, in O(log ids) per access (see
//! [`StackDistances`]): what the I/O report's decoder-cache simulation runs on.

const NONE: u32 = u32::MAX;

/// LRU stack distances of a stream of accesses to dense ids `0..num_ids`: the distance of an
/// access is 1 + the distinct other ids accessed since the previous access to the same id (so a
/// cache of `C` entries hits exactly when the distance is <= C), `None` for a first access.
///
/// Every access takes the next slot (its time); a Fenwick tree counts, over slots, the latest
/// access of every id, so the distance is the count of such marks after the id's previous slot.
/// When the slots run out, the live marks (one per id seen, at most `live`) are renumbered to
/// `0..live` in order and the tree is rebuilt: with twice as many slots as ids, that happens at
/// most once per `live` accesses, O(1) amortized, and the tree stays small enough for the CPU
/// cache (O(log ids) per access).
#[derive(Debug, Clone)]
pub struct StackDistances {
    /// Slot of every id's latest access, [`NONE`] before its first.
    latest_slot: Vec<u32>,
    /// Id whose latest access is in each slot, [`NONE`] once it was accessed again.
    slot_id: Vec<u32>,
    /// Fenwick tree (1-based) over the slots: 1 where `slot_id` is set.
    tree: Vec<u32>,
    next_slot: usize,
    /// Distinct ids accessed.
    live: u32,
    /// Id of the latest access (whose repeat needs no tree work).
    latest: u32,
}

impl StackDistances {
    /// A stream over ids `0..num_ids` (fewer than `u32::MAX`), ready after [`Self::reset`].
    pub fn new(num_ids: usize) -> Self {
        let mut distances = StackDistances {
            latest_slot: vec![NONE; num_ids],
            slot_id: Vec::new(),
            tree: Vec::new(),
            next_slot: 0,
            live: 0,
            latest: NONE,
        };
        distances.reset(num_ids);
        distances
    }

    /// Starts a new stream that will access at most `most_ids` distinct ids. O(most_ids) plus
    /// the ids of the previous stream.
    pub fn reset(&mut self, most_ids: usize) {
        for &id in &self.slot_id[..self.next_slot] {
            if id != NONE {
                self.latest_slot[id as usize] = NONE;
            }
        }
        let slots = 2 * most_ids.min(self.latest_slot.len()) + 2;
        self.slot_id.clear();
        self.slot_id.resize(slots, NONE);
        self.tree.clear();
        self.tree.resize(slots + 1, 0);
        self.next_slot = 0;
        self.live = 0;
        self.latest = NONE;
    }

    /// The stack distance of an access to `id`, then records it.
    #[inline]
    pub fn access(&mut self, id: u32) -> Option<u32> {
        if id == self.latest {
            return Some(1);
        }
        self.latest = id;
        if self.next_slot == self.slot_id.len() {
            self.compact();
        }
        let previous = self.latest_slot[id as usize];
        let distance = if previous == NONE {
            self.live += 1;
            None
        } else {
            let slot = previous as usize;
            // Marks after `slot` = live ids - marks up to and including `slot`.
            let newer = self.live - self.marks_before(slot + 1);
            self.remove_mark(slot);
            self.slot_id[slot] = NONE;
            Some(newer + 1)
        };
        let slot = self.next_slot;
        self.add_mark(slot);
        self.slot_id[slot] = id;
        self.latest_slot[id as usize] = slot as u32;
        self.next_slot += 1;
        distance
    }

    /// Marks in slots `0..end`.
    #[inline]
    fn marks_before(&self, end: usize) -> u32 {
        let (mut node, mut sum) = (end, 0);
        while node > 0 {
            sum += self.tree[node];
            node &= node - 1;
        }
        sum
    }

    #[inline]
    fn add_mark(&mut self, slot: usize) {
        let mut node = slot + 1;
        while node < self.tree.len() {
            self.tree[node] += 1;
            node += node & node.wrapping_neg();
        }
    }

    #[inline]
    fn remove_mark(&mut self, slot: usize) {
        let mut node = slot + 1;
        while node < self.tree.len() {
            self.tree[node] -= 1;
            node += node & node.wrapping_neg();
        }
    }

    /// Renumbers the live marks to slots `0..live`, in order, and rebuilds the tree.
    fn compact(&mut self) {
        let mut kept = 0;
        for slot in 0..self.next_slot {
            let id = self.slot_id[slot];
            if id != NONE {
                self.slot_id[slot] = NONE;
                self.slot_id[kept] = id;
                self.latest_slot[id as usize] = kept as u32;
                kept += 1;
            }
        }
        debug_assert_eq!(kept, self.live as usize);
        self.next_slot = kept;
        // Node `i` covers slots `i - lowbit(i) .. i` (0-based, half-open); marks fill `0..kept`.
        for node in 1..self.tree.len() {
            let low = node - (node & node.wrapping_neg());
            self.tree[node] = (node.min(kept).saturating_sub(low)) as u32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Stack distances from a list kept in recency order, most recent first.
    fn brute_force_distances(accesses: &[u32]) -> Vec<Option<u32>> {
        let mut stack: Vec<u32> = Vec::new();
        accesses
            .iter()
            .map(|&id| {
                let at = stack.iter().position(|&other| other == id);
                if let Some(at) = at {
                    stack.remove(at);
                }
                stack.insert(0, id);
                at.map(|at| at as u32 + 1)
            })
            .collect()
    }

    proptest! {
        #[test]
        fn stack_distances_match_a_recency_list(
            num_ids in 1usize..12,
            raw in prop::collection::vec(0u32..1000, 0..400),
            streams in 1usize..4,
        ) {
            let accesses: Vec<u32> = raw.iter().map(|&id| id % num_ids as u32).collect();
            let mut distances = StackDistances::new(num_ids);
            // Several streams through one value, as the workers use it.
            for stream in accesses.chunks(accesses.len() / streams + 1) {
                distances.reset(stream.len());
                let got: Vec<Option<u32>> = stream.iter().map(|&id| distances.access(id)).collect();
                prop_assert_eq!(got, brute_force_distances(stream));
            }
        }
    }
}
