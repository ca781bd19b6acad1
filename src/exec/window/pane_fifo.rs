//! The merged state of each closing sliding window, from its panes: with two stacks of
//! partial aggregates (O(1) amortized folds per window), or pane by pane.
//!
//! ```text
//!  panes     │ a │ b │ c │ d │ e │ f │ g │ h │        windows of 4 panes, slide 1 pane
//!            └───────────────┼───────────┘
//!  front (suffixes, built    │             back (prefix, grown one slide per window)
//!  once per `size` of input) │
//!   a⊕b⊕c⊕d  b⊕c⊕d  c⊕d  d   │  e   e⊕f   e⊕f⊕g
//!                           mid
//!  window [a, e) = front(a)            window [b, f) = front(b) ⊕ back(e)
//!  window [c, g) = front(c) ⊕ back(e⊕f)   …   window [e, i): front exhausted → rebuild
//! ```
//! Windows close in increasing order of start, so each window costs a constant number
//! of folds (one into the back, two to combine front and back, two amortized for the
//! front rebuild) instead of one per pane (`size / slide` of them). Suffixes are kept only
//! where a slide bucket holds panes, so sparse streams store no empty states.
//!
//! Panes of open windows can still receive rows (rows out of order within the watermark
//! delay): [`WindowMerger::pane_changed`] drops the stack parts that include the pane,
//! to be rebuilt when next needed. In order with no delay, rows only reach panes past
//! the last closed window, which the stacks do not cover yet.
//!
//! Accumulators whose state grows with the rows (COUNT DISTINCT, MEDIAN, …) would hold
//! each row once per suffix; for them the merger folds every pane of each window into
//! one scratch state instead.

use std::collections::{BTreeMap, VecDeque};

use super::floor_to;
use super::keyed_aggregate::{FoldScratch, KeyedAggregate};
use super::panes::Pane;
use crate::aggregate::AggregateFunction;
use crate::error::Result;
use crate::exec::hash_aggregate::AggregateSpec;

/// Recycled states kept at most (more are dropped with their memory).
const MAX_SPARE: usize = 64;

/// How window states are built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strategy {
    /// Suffix and prefix aggregates (fixed-size accumulator states).
    TwoStacks,
    /// Every pane of the window folded into one state.
    PaneByPane,
}

/// Builds the merged state of sliding windows `[start, start + size)`, asked for in
/// increasing order of start.
pub(super) struct WindowMerger {
    strategy: Strategy,
    slide: i64,
    offset: i64,
    /// Whether `front`, `mid`, `back` describe the panes as they are.
    valid: bool,
    /// The first window start the stacks were built for.
    lo: i64,
    /// Suffix aggregates, ascending by slide bucket `x`: panes in `[x, mid)`.
    front: VecDeque<(i64, KeyedAggregate)>,
    mid: i64,
    /// Panes in `[mid, back_end)`.
    back: KeyedAggregate,
    back_end: i64,
    /// The windows of one emission, a segment each.
    output: KeyedAggregate,
    spare: Vec<KeyedAggregate>,
    scratch: FoldScratch,
    bucket_panes: Vec<i64>,
    template: KeyedAggregateTemplate,
}

/// What a new state is made from.
struct KeyedAggregateTemplate {
    spec: std::sync::Arc<AggregateSpec>,
}

impl KeyedAggregateTemplate {
    fn make(&self, spare: &mut Vec<KeyedAggregate>) -> Result<KeyedAggregate> {
        match spare.pop() {
            Some(s) => Ok(s),
            None => KeyedAggregate::new(&self.spec),
        }
    }
}

/// Whether every accumulator of `spec` has a state of bounded size per group, so that
/// keeping one copy per suffix costs no more than a constant factor of the panes.
fn fixed_size_states(spec: &AggregateSpec) -> bool {
    spec.calls.iter().all(|c| {
        !matches!(
            c.func,
            AggregateFunction::CountDistinct
                | AggregateFunction::ApproxCountDistinct
                | AggregateFunction::Median
                | AggregateFunction::ApproxPercentile(_)
        )
    })
}

impl WindowMerger {
    /// A merger for windows on the grid `offset + k * slide`.
    ///
    /// # Errors
    /// Argument types without an accumulator.
    pub(super) fn new(
        spec: std::sync::Arc<AggregateSpec>,
        slide: i64,
        offset: i64,
    ) -> Result<WindowMerger> {
        let strategy = if fixed_size_states(&spec) {
            Strategy::TwoStacks
        } else {
            Strategy::PaneByPane
        };
        Ok(WindowMerger {
            strategy,
            slide,
            offset,
            valid: false,
            lo: i64::MIN,
            front: VecDeque::new(),
            mid: i64::MIN,
            back: KeyedAggregate::new(&spec)?,
            back_end: i64::MIN,
            output: KeyedAggregate::new(&spec)?,
            spare: Vec::new(),
            scratch: FoldScratch::default(),
            bucket_panes: Vec::new(),
            template: KeyedAggregateTemplate { spec },
        })
    }

    /// The pane starting at `pane_start` received rows (or was created): stack parts
    /// that include it are dropped.
    pub(super) fn pane_changed(&mut self, pane_start: i64) {
        if !self.valid {
            return;
        }
        if pane_start < self.mid {
            self.reset();
        } else if pane_start < self.back_end {
            self.back.clear();
            self.back_end = self.mid;
        }
    }

    /// Forgets the stacks (the key ids changed meaning, or a covered pane changed).
    pub(super) fn reset(&mut self) {
        self.valid = false;
        while let Some((_, s)) = self.front.pop_front() {
            self.recycle(s);
        }
        self.back.clear();
    }

    /// Drops the suffixes of windows starting before `start` (closed).
    pub(super) fn release_before(&mut self, start: i64) {
        while self.front.front().is_some_and(|(x, _)| *x < start) {
            if let Some((_, s)) = self.front.pop_front() {
                self.recycle(s);
            }
        }
        if self.front.is_empty() && self.back_end <= start {
            self.back.clear();
        }
    }

    fn recycle(&mut self, mut s: KeyedAggregate) {
        if self.spare.len() < MAX_SPARE {
            s.clear();
            self.spare.push(s);
        }
    }

    /// Starts an emission: the output state is emptied.
    pub(super) fn begin_output(&mut self) {
        self.output.clear();
    }

    /// The windows appended since [`begin_output`](Self::begin_output), one segment each.
    pub(super) fn output(&self) -> &KeyedAggregate {
        &self.output
    }

    /// Appends the merged state of window `[start, end)` over `panes` to the output as a
    /// new segment (empty if the window has no pane) and returns its groups.
    ///
    /// # Errors
    /// Overflow in a merge.
    pub(super) fn append_window(
        &mut self,
        start: i64,
        end: i64,
        panes: &BTreeMap<i64, Pane>,
    ) -> Result<std::ops::Range<usize>> {
        self.output.start_segment();
        if self.strategy == Strategy::PaneByPane {
            for pane in panes.range(start..end).map(|(_, p)| p) {
                self.output
                    .fold(pane.accumulators(), pane.key_ids(), &mut self.scratch)?;
            }
            return Ok(self.output.segment());
        }
        self.release_before(start);
        if !self.valid || start < self.lo || start >= self.mid || end < self.back_end {
            self.rebuild(start, end, panes)?;
        }
        if end > self.back_end {
            for pane in panes.range(self.back_end..end).map(|(_, p)| p) {
                self.back
                    .fold(pane.accumulators(), pane.key_ids(), &mut self.scratch)?;
            }
            self.back_end = end;
        }
        // the first suffix at or after `start`: no pane lies between `start` and it
        if let Some((_, suffix)) = self.front.front() {
            self.output.fold_state(suffix, &mut self.scratch)?;
        }
        self.output.fold_state(&self.back, &mut self.scratch)?;
        Ok(self.output.segment())
    }

    /// Builds the suffixes of `[start, end)` (the window itself is the first one); the
    /// back starts empty at `end`.
    fn rebuild(&mut self, start: i64, end: i64, panes: &BTreeMap<i64, Pane>) -> Result<()> {
        self.reset();
        self.valid = true;
        self.lo = start;
        self.mid = end;
        self.back_end = end;
        self.bucket_panes.clear();
        self.bucket_panes
            .extend(panes.range(start..end).map(|(&s, _)| s));
        // buckets from the last one down: suffix(x) = panes of x ⊕ suffix(next bucket)
        let mut hi = self.bucket_panes.len();
        while hi > 0 {
            let x = floor_to(self.bucket_panes[hi - 1], self.slide, self.offset);
            let mut lo = hi - 1;
            while lo > 0 && self.bucket_panes[lo - 1] >= x {
                lo -= 1;
            }
            let mut agg = self.template.make(&mut self.spare)?;
            for ps in &self.bucket_panes[lo..hi] {
                if let Some(pane) = panes.get(ps) {
                    agg.fold(pane.accumulators(), pane.key_ids(), &mut self.scratch)?;
                }
            }
            if let Some((_, next)) = self.front.front() {
                agg.fold_state(next, &mut self.scratch)?;
            }
            self.front.push_front((x, agg));
            hi = lo;
        }
        Ok(())
    }

    pub(super) fn size_bytes(&self) -> usize {
        self.front
            .iter()
            .map(|(_, s)| s.size_bytes() + 8)
            .sum::<usize>()
            + self.back.size_bytes()
            + self.output.size_bytes()
            + self
                .spare
                .iter()
                .map(KeyedAggregate::size_bytes)
                .sum::<usize>()
            + self.scratch.size_bytes()
            + self.bucket_panes.capacity() * 8
    }
}
