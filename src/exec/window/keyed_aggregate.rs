//! Aggregate state over a set of panes, its groups named by query-wide key id.
//!
//! ```text
//!  pane  (local groups 0..n, key ids [7, 2, 9]) ──fold──▶ keyed aggregate
//!                                                          keys:  [2, 9, 4, 7]
//!                                                          accumulators over 0..4
//! ```
//! A fold maps each source group to the target group of the same key id (new key ids
//! are appended), then merges every accumulator once over the whole id list: the cost
//! is one pass over both key lists plus one typed merge per aggregate, whatever the
//! number of rows behind the groups. When the source lists the same keys in the same
//! order as the target (the steady state of a stream whose key set does not change),
//! the mapping is the identity and the key-id pass is a slice comparison.
//!
//! A state can hold several independent segments (one per window of an emission):
//! folds go into the last segment only, so one state and one `evaluate` per aggregate
//! serve every window closed at once.

use crate::aggregate::{AlignedMerge, GroupsAccumulator};
use crate::error::Result;
use crate::exec::hash_aggregate::AggregateSpec;

/// Marks a key id with no group in the target (see [`FoldScratch`]).
const NO_GROUP: u32 = u32::MAX;

/// Buffers reused by every fold.
#[derive(Default)]
pub(super) struct FoldScratch {
    /// Key id → target group during one fold; `NO_GROUP` between folds.
    slot: Vec<u32>,
    /// Source group ids `0..n`.
    src: Vec<u32>,
    /// Target group of each source group.
    dst: Vec<u32>,
}

impl FoldScratch {
    pub(super) fn size_bytes(&self) -> usize {
        (self.slot.capacity() + self.src.capacity() + self.dst.capacity()) * 4
    }
}

/// The accumulators of one query over some panes, with the key id of every group.
pub(super) struct KeyedAggregate {
    /// Per group: its id in the query-wide key table (distinct).
    pub(super) keys: Vec<u32>,
    /// One accumulator per aggregate call, over groups `0..keys.len()`.
    pub(super) accumulators: Vec<Box<dyn GroupsAccumulator>>,
    /// First group of the segment folds go into (keys are distinct within a segment).
    segment: usize,
}

impl KeyedAggregate {
    /// An empty state for the calls of `spec`.
    ///
    /// # Errors
    /// Argument types without an accumulator.
    pub(super) fn new(spec: &AggregateSpec) -> Result<KeyedAggregate> {
        Ok(KeyedAggregate {
            keys: Vec::new(),
            accumulators: spec
                .calls
                .iter()
                .map(|c| c.func.create_accumulator(&c.arg_types))
                .collect::<Result<Vec<_>>>()?,
            segment: 0,
        })
    }

    /// Starts a new, empty segment after the groups held now; later folds go there.
    pub(super) fn start_segment(&mut self) {
        self.segment = self.keys.len();
    }

    /// Groups of the current segment.
    pub(super) fn segment(&self) -> std::ops::Range<usize> {
        self.segment..self.keys.len()
    }

    /// Forgets every group (allocations kept as `GroupsAccumulator::clear` keeps them).
    pub(super) fn clear(&mut self) {
        self.keys.clear();
        self.segment = 0;
        for a in &mut self.accumulators {
            a.clear();
        }
    }

    /// Folds the groups of `accumulators` (ids `0..keys.len()`, group `i` holding key id
    /// `keys[i]`) into this state, as rows arriving after the ones already here.
    ///
    /// # Errors
    /// `Internal` if the accumulators do not match; `Execution` on overflow.
    pub(super) fn fold(
        &mut self,
        accumulators: &[Box<dyn GroupsAccumulator>],
        keys: &[u32],
        scratch: &mut FoldScratch,
    ) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let n = keys.len();
        let base = self.segment;
        let held = &self.keys[base..];
        scratch.src.clear();
        scratch.src.extend(0..n as u32);
        scratch.dst.clear();
        let aligned = held.is_empty() || (held.len() >= n && held[..n] == *keys);
        if aligned {
            if held.is_empty() {
                self.keys.extend_from_slice(keys);
            }
            scratch.dst.extend(base as u32..(base + n) as u32);
            let total = self.keys.len();
            let ranges = AlignedMerge::new(&scratch.src, &scratch.dst)?;
            for (a, o) in self.accumulators.iter_mut().zip(accumulators) {
                a.merge_aligned(o.as_ref(), ranges, total)?;
            }
            return Ok(());
        }
        let max = held.iter().chain(keys).copied().max().unwrap_or(0);
        if scratch.slot.len() <= max as usize {
            scratch.slot.resize(max as usize + 1, NO_GROUP);
        }
        let slot = &mut scratch.slot;
        for (g, &k) in held.iter().enumerate() {
            slot[k as usize] = (base + g) as u32;
        }
        for &k in keys {
            let s = &mut slot[k as usize];
            if *s == NO_GROUP {
                *s = self.keys.len() as u32;
                self.keys.push(k);
            }
            scratch.dst.push(*s);
        }
        for &k in &self.keys[base..] {
            slot[k as usize] = NO_GROUP;
        }
        let total = self.keys.len();
        for (a, o) in self.accumulators.iter_mut().zip(accumulators) {
            a.merge(o.as_ref(), &scratch.src, &scratch.dst, total)?;
        }
        Ok(())
    }

    /// Folds another keyed state in (its rows after these).
    ///
    /// # Errors
    /// As [`fold`](Self::fold).
    pub(super) fn fold_state(
        &mut self,
        other: &KeyedAggregate,
        scratch: &mut FoldScratch,
    ) -> Result<()> {
        self.fold(&other.accumulators, &other.keys, scratch)
    }

    pub(super) fn size_bytes(&self) -> usize {
        self.keys.capacity() * 4
            + self
                .accumulators
                .iter()
                .map(|a| a.size_bytes())
                .sum::<usize>()
    }
}
