//! Tumbling and sliding windows over panes.
//!
//! ```text
//!  time ─┬──────┬──────┬──────┬──────┬──   panes of gcd(size, slide) (= slide)
//!        │ p0   │ p1   │ p2   │ p3   │     each: accumulators over its keys
//!        └──────┴──────┴──────┘            window [p0, p3): p0 ⊕ p1 ⊕ p2 (merge)
//!               └──────┴──────┴──────┘     window [p1, p4): p1 ⊕ p2 ⊕ p3
//! ```
//! A row lands in exactly one pane, so the per-row work does not depend on how many
//! windows overlap (size / slide): a batch is interned once, each row gets the slot of
//! its (pane, key) pair, and accumulators are updated from those slots in typed loops.
//! Panes are merged only when a window is emitted. A tumbling window is a single pane
//! and is emitted straight from it.
//!
//! Panes keep no key table: their groups are named by the ids of one query-wide key
//! table. A partial state interns a key into it once (and remembers the id while its
//! own table keeps the key), so a new pane costs no hashing of key values, whichever
//! partial state reaches it (`PaneKeyIndex`). With per-pane tables, each of the few
//! partial states that take turns on the workers re-interned every key of every new
//! pane: on two partitions the in-order merge of S3a took 70 % longer than on one.
//!
//! As in the plain operator, batches are pre-aggregated in parallel into partial states
//! and merged into the panes one by one in input order, so the output is the same for
//! every partition count.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, StringArray, UInt32Array};
use arrow::compute::{
    concat, concat_batches, filter_record_batch, interleave, interleave_record_batch,
    take_record_batch,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::row::{RowConverter, SortField};

use super::key_ranks::KeyRanks;
use super::pane_fifo::WindowMerger;
use super::pane_keys::{PaneKeyIndex, PaneKeyMap};
use super::{
    Settle, WindowExec, WindowShape, batch_of, event_times, floor_to, min_max_of, sort_by_columns,
};
use crate::aggregate::{GroupValues, GroupsAccumulator, emitted_key_type, new_group_values};
use crate::error::{Error, Result};
use crate::exec::Shape;
use crate::exec::hash_aggregate::{AggregateSpec, GroupState, having_mask};
use crate::exec::overlap::fill_scratch;
use crate::exec::workers::Workers;
use crate::sql::EmitMode;

/// A partial table forgets its keys once it holds this many groups.
const PARTIAL_TABLE_MAX_GROUPS: usize = 1 << 16;

/// One batch pre-aggregated by (pane, key) slot.
struct PanePartial {
    /// Key table (raw key types), kept across batches; `None` without keys.
    keys: Option<Box<dyn GroupValues>>,
    /// Accumulators over slots (no table of its own).
    state: GroupState,
    gids: Vec<u32>,
    starts: Vec<i64>,
    /// Per slot: pane start and key id.
    slot_pane: Vec<i64>,
    slot_gid: Vec<u32>,
    /// Per slot: group id in its pane after the merge.
    slot_dst: Vec<u32>,
    /// (pane offset * keys + key) → slot + 1 (0: none yet), kept zeroed between batches.
    remap: Vec<u32>,
    remap_far: HashMap<(i64, u32), u32, ahash::RandomState>,
    /// Key id → query-wide key id (`NO_ID`: not known yet), valid for
    /// key-table generation `global_of_generation` while this table keeps its keys.
    global_of: Vec<u32>,
    global_of_generation: u64,
    /// Per slot: its query-wide key id.
    slot_global: Vec<u32>,
    /// Tumbling EMIT CHANGES: the key columns of the touched slots in first-change
    /// order, emitted by the worker so the in-order merge only evaluates aggregates.
    change_keys: Vec<ArrayRef>,
}

/// A key id not known yet (ids stay below 2^31).
const NO_ID: u32 = u32::MAX;

impl PanePartial {
    fn new(spec: &AggregateSpec) -> Result<PanePartial> {
        Ok(PanePartial {
            keys: if spec.key_types.is_empty() {
                None
            } else {
                Some(new_group_values(&spec.key_types)?)
            },
            state: GroupState::new(spec, &[])?,
            gids: Vec::new(),
            starts: Vec::new(),
            slot_pane: Vec::new(),
            slot_gid: Vec::new(),
            slot_dst: Vec::new(),
            remap: Vec::new(),
            remap_far: HashMap::default(),
            global_of: Vec::new(),
            global_of_generation: u64::MAX,
            slot_global: Vec::new(),
            change_keys: Vec::new(),
        })
    }

    /// Interns the batch's keys, gives each row the slot of its (pane, key), and folds
    /// the rows into the slot accumulators.
    fn update(
        &mut self,
        spec: &AggregateSpec,
        exec: &WindowExec,
        batch: &RecordBatch,
    ) -> Result<()> {
        let n = batch.num_rows();
        self.slot_pane.clear();
        self.slot_gid.clear();
        self.change_keys.clear();
        self.state.ids.clear();
        if n == 0 {
            self.state.num_groups = 0;
            return self.state.accumulate(spec, batch);
        }
        let num_keys = spec.key_types.len();
        let keys_len = match &mut self.keys {
            Some(t) => {
                t.intern(&batch.columns()[..num_keys], &mut self.gids)?;
                t.len()
            }
            None => {
                self.gids.clear();
                self.gids.resize(n, 0);
                1
            }
        };
        let WindowShape::Panes { pane, offset, .. } = exec.shape else {
            return Err(Error::internal("pane operator on a session window"));
        };
        let (times, _) = event_times(batch.column(exec.pre_time_index))?;
        // the first and last pane (the pane start is monotonic in the time)
        let (first, last) = min_max_of(&times).unwrap_or((0, 0));
        let (lo, hi) = (floor_to(first, pane, offset), floor_to(last, pane, offset));
        let ids = &mut self.state.ids;
        if lo == hi {
            // the common case: the whole batch in one pane (found without a pane start
            // per row), slots are the key ids
            std::mem::swap(ids, &mut self.gids);
            self.slot_pane.resize(keys_len, lo);
            self.slot_gid.extend(0..keys_len as u32);
        } else {
            pane_starts(&times, pane, offset, &mut self.starts);
            let panes = (hi as i128 - lo as i128) / pane as i128 + 1;
            let cells = panes.saturating_mul(keys_len as i128);
            if cells <= 2 * n as i128 {
                // few (pane, key) cells against the rows (a batch over a few panes of an
                // in-order stream): every cell is a slot, pane-major, no remap; untouched
                // slots cost only their accumulator room
                for pi in 0..panes as i64 {
                    self.slot_pane
                        .extend(std::iter::repeat_n(lo + pi * pane, keys_len));
                    self.slot_gid.extend(0..keys_len as u32);
                }
                // rows come in runs of one pane: the division is paid once per run
                let (mut run, mut run_base) = (lo, 0u32);
                for (&s, &g) in self.starts.iter().zip(&self.gids) {
                    if s != run {
                        run = s;
                        run_base = (((s - lo) / pane) as usize * keys_len) as u32;
                    }
                    ids.push(run_base + g);
                }
            } else if cells <= (4 * n).max(1 << 16) as i128 {
                let cells = cells as usize;
                if self.remap.len() < cells {
                    self.remap.resize(cells, 0);
                }
                // rows come in runs of one pane: the division is paid once per run
                let (mut run, mut run_base) = (lo, 0usize);
                for (&s, &g) in self.starts.iter().zip(&self.gids) {
                    if s != run {
                        run = s;
                        run_base = ((s - lo) / pane) as usize * keys_len;
                    }
                    let cell = run_base + g as usize;
                    let slot = &mut self.remap[cell];
                    if *slot == 0 {
                        self.slot_pane.push(s);
                        self.slot_gid.push(g);
                        *slot = self.slot_pane.len() as u32;
                    }
                    ids.push(*slot - 1);
                }
                for (&s, &g) in self.slot_pane.iter().zip(&self.slot_gid) {
                    self.remap[((s - lo) / pane) as usize * keys_len + g as usize] = 0;
                }
            } else {
                self.remap_far.clear();
                for (&s, &g) in self.starts.iter().zip(&self.gids) {
                    let next = self.slot_pane.len() as u32;
                    let slot = *self.remap_far.entry((s, g)).or_insert(next);
                    if slot == next {
                        self.slot_pane.push(s);
                        self.slot_gid.push(g);
                    }
                    ids.push(slot);
                }
            }
        }
        self.state.num_groups = self.slot_pane.len();
        self.state.accumulate(spec, batch)?;
        let WindowShape::Panes { size, slide, .. } = exec.shape else {
            return Ok(());
        };
        if spec.emit == EmitMode::Changes
            && size == slide
            && let Some(keys) = &self.keys
        {
            // reuses `gids` (the rows' key ids are no longer needed)
            self.gids.clear();
            self.gids.extend(
                self.state
                    .touched
                    .iter()
                    .map(|&s| self.slot_gid[s as usize]),
            );
            self.change_keys = keys.emit(&self.gids)?;
        }
        Ok(())
    }

    /// After the merge: values dropped, key table kept unless large.
    fn reset(&mut self) {
        self.state.reset_values();
        self.state.num_groups = 0;
        if let Some(k) = &mut self.keys
            && k.len() > PARTIAL_TABLE_MAX_GROUPS
        {
            k.clear();
            self.global_of.clear();
        }
    }

    fn size_bytes(&self) -> usize {
        self.keys.as_ref().map_or(0, |k| k.size_bytes())
            + self.state.size_bytes()
            + (self.gids.capacity() + self.slot_gid.capacity() + self.slot_dst.capacity()) * 4
            + (self.starts.capacity() + self.slot_pane.capacity()) * 8
            + self.remap.capacity() * 4
            + (self.global_of.capacity() + self.slot_global.capacity()) * 4
    }
}

/// One pane of the query's state.
pub(super) struct Pane {
    /// Unique per pane created (keys of the partials' id caches).
    generation: u64,
    state: GroupState,
    /// Per group: emitted and passing HAVING (tumbling changelog).
    visible: Vec<bool>,
    /// Per group: its id in the query-wide key table (without keys:
    /// `[0]`, the one group). Panes keep no key table of their own.
    global_ids: Vec<u32>,
    /// Large panes only: key id → group (see `PaneKeyIndex`).
    local: Option<PaneKeyMap>,
}

impl Pane {
    /// The accumulators, over the pane's groups.
    pub(super) fn accumulators(&self) -> &[Box<dyn GroupsAccumulator>] {
        &self.state.accumulators
    }

    /// Per group of the pane: its query-wide key id (sliding windows).
    pub(super) fn key_ids(&self) -> &[u32] {
        &self.global_ids
    }
}

/// The tumbling / sliding window aggregation operator.
pub struct PaneAggregate {
    spec: Arc<AggregateSpec>,
    exec: Arc<WindowExec>,
    size: i64,
    slide: i64,
    offset: i64,
    partials: Vec<PanePartial>,
    panes: BTreeMap<i64, Pane>,
    /// Every window ending at or before this has been closed.
    closed_upto: i64,
    /// Emitted key types (the pane tables').
    key_types: Vec<DataType>,
    /// Output without `_op`: [window_start, window_end, keys, aggregates].
    values_schema: SchemaRef,
    /// The query's workers (a call big enough is pre-aggregated in parallel).
    workers: Workers,
    /// Sliding changelog: (window start, key row) → passing HAVING when last emitted.
    window_visible: HashMap<(i64, Box<[u8]>), bool, ahash::RandomState>,
    rows: Option<RowConverter>,
    windows_opened: u64,
    windows_closed: u64,
    /// Panes created so far.
    windows_opened_panes: u64,
    dst: Vec<u32>,
    /// With keys: one key table for all panes, whose ids name the panes' groups.
    global: Option<Box<dyn GroupValues>>,
    /// Accumulators a window is merged into.
    scratch: GroupState,
    seen: Vec<bool>,
    /// Sliding windows, EMIT FINAL: the merged state of each closing window.
    merger: Option<WindowMerger>,
    /// With keys: sort ranks of the query-wide key ids.
    ranks: KeyRanks,
    /// With keys: group ids of key ids in the pane merged last.
    key_index: PaneKeyIndex,
    /// Bumped whenever `global` is rebuilt (partials' key id caches expire).
    global_generation: u64,
}

impl PaneAggregate {
    /// Creates the operator.
    ///
    /// # Errors
    /// Key or argument types without an implementation.
    pub fn new(spec: AggregateSpec, exec: WindowExec, workers: Workers) -> Result<PaneAggregate> {
        let WindowShape::Panes {
            size,
            slide,
            offset,
            ..
        } = exec.shape
        else {
            return Err(Error::internal("pane operator on a session window"));
        };
        let key_types: Vec<DataType> = spec.key_types.iter().map(emitted_key_type).collect();
        let value_fields: Vec<Field> = spec
            .schema
            .fields()
            .iter()
            .take(2 + spec.key_types.len() + spec.calls.len())
            .map(|f| f.as_ref().clone())
            .collect();
        let rows = if spec.changelog && size != slide && !key_types.is_empty() {
            Some(RowConverter::new(
                key_types
                    .iter()
                    .map(|t| SortField::new(t.clone()))
                    .collect(),
            )?)
        } else {
            None
        };
        // panes name their groups by query-wide key id (see `PaneKeyIndex`)
        let global = if !key_types.is_empty() {
            Some(new_group_values(&key_types)?)
        } else {
            None
        };
        let scratch = GroupState::new(&spec, &[])?;
        let spec = Arc::new(spec);
        let merger = if size != slide && spec.emit == EmitMode::Final {
            Some(WindowMerger::new(Arc::clone(&spec), slide, offset)?)
        } else {
            None
        };
        Ok(PaneAggregate {
            partials: vec![PanePartial::new(&spec)?],
            values_schema: Arc::new(Schema::new(value_fields)),
            spec,
            exec: Arc::new(exec),
            size,
            slide,
            offset,
            panes: BTreeMap::new(),
            closed_upto: i64::MIN,
            key_types,
            workers,
            window_visible: HashMap::default(),
            rows,
            windows_opened: 0,
            windows_closed: 0,
            windows_opened_panes: 0,
            dst: Vec::new(),
            global,
            scratch,
            seen: Vec::new(),
            merger,
            ranks: KeyRanks::default(),
            key_index: PaneKeyIndex::default(),
            global_generation: 0,
        })
    }

    fn tumbling(&self) -> bool {
        self.size == self.slide
    }

    /// Groups held now, over all open panes.
    pub fn groups_live(&self) -> u64 {
        self.panes.values().map(|p| p.state.num_groups as u64).sum()
    }

    /// Bytes of state held now.
    pub fn state_bytes(&self) -> u64 {
        (self
            .panes
            .values()
            .map(|p| {
                p.state.size_bytes()
                    + p.visible.capacity()
                    + p.global_ids.capacity() * 4
                    + p.local.as_ref().map_or(0, |m| m.capacity() * 16)
            })
            .sum::<usize>()
            + self
                .partials
                .iter()
                .map(PanePartial::size_bytes)
                .sum::<usize>()
            + self.window_visible.len() * 48
            + self.global.as_ref().map_or(0, |g| g.size_bytes())
            + self.scratch.size_bytes()
            + self.merger.as_ref().map_or(0, WindowMerger::size_bytes)
            + self.ranks.size_bytes()
            + self.key_index.size_bytes()) as u64
    }

    /// Windows that received rows, and windows closed so far.
    pub fn window_counts(&self) -> (u64, u64) {
        (self.windows_opened, self.windows_closed)
    }

    /// Folds input batches: `prepare(i, batch)` (screening and pre-projection) and the
    /// pre-aggregation of its result run in one parallel task per batch; the partials
    /// are merged in input order, overlapping the later tasks (`overlap::run_ordered`).
    /// Before batch `i` is merged, `settle(i, side)` gives the watermarks around it and,
    /// when the worker's screening must be redone, the batch to aggregate instead.
    /// Returns the emissions in order (per batch, its EMIT CHANGES rows, then the windows
    /// its watermark closes), each passed through `shape` (the query's SELECT and ORDER BY
    /// over it) inside the merge, on the worker that built it, and each batch's side
    /// value from `prepare`.
    ///
    /// # Errors
    /// Overflow in exact sums, the memory limit.
    pub fn update_batches_with<T, F, G>(
        &mut self,
        batches: &[RecordBatch],
        prepare: F,
        mut settle: G,
        shape: Shape<'_>,
    ) -> Result<(Vec<RecordBatch>, Vec<T>)>
    where
        T: Send,
        F: Fn(usize, &RecordBatch) -> Result<(RecordBatch, T)> + Sync,
        G: FnMut(usize, &mut T) -> Result<Settle> + Send,
    {
        let call = self.workers.ordered_call(batches);
        // a few partial states, reused batch after batch
        fill_scratch(call.pool(), &mut self.partials, || {
            PanePartial::new(&self.spec)
        })?;
        // the partials are set aside while the merges borrow `self`
        let mut partials = std::mem::take(&mut self.partials);
        let spec = Arc::clone(&self.spec);
        let exec = Arc::clone(&self.exec);
        let work = |i: usize, p: &mut PanePartial| -> Result<T> {
            let b = batches
                .get(i)
                .ok_or_else(|| Error::internal("batch index out of range"))?;
            let (pre, side) = prepare(i, b)?;
            p.update(&spec, &exec, &pre)?;
            Ok(side)
        };
        let mut out = Vec::new();
        let mut sides = Vec::with_capacity(batches.len());
        let mut failed = None;
        let consume = |i: usize, p: &mut PanePartial, r: Result<T>| {
            if failed.is_none() {
                let merged = r.and_then(|mut side| {
                    let settled = settle(i, &mut side)?;
                    if let Some(pre) = settled.redo {
                        p.reset();
                        p.update(&spec, &exec, &pre)?;
                    }
                    if let Some(b) = self.merge_into_panes(p, settled.before)? {
                        out.push(shape(b)?);
                    }
                    if let Some(b) = self.close(settled.after)? {
                        out.push(shape(b)?);
                    }
                    Ok(side)
                });
                match merged {
                    Ok(side) => sides.push(side),
                    Err(e) => failed = Some(e),
                }
            }
            p.reset();
        };
        // batches i+1.. pre-aggregate while batch i merges
        call.run_ordered(batches.len(), &mut partials, work, consume);
        self.partials = partials;
        match failed {
            Some(e) => Err(e),
            None => Ok((out, sides)),
        }
    }

    fn merge_into_panes(
        &mut self,
        p: &mut PanePartial,
        wm_before: i64,
    ) -> Result<Option<RecordBatch>> {
        if p.state.touched.is_empty() {
            return Ok(None);
        }
        // touched slots bucketed by pane, buckets in order of first appearance
        let buckets = bucket_by(&p.state.touched, |s| p.slot_pane[s as usize]);
        p.slot_dst.clear();
        p.slot_dst.resize(p.slot_pane.len(), 0);
        let keyed = self.global.is_some();
        if keyed {
            self.slots_to_global(p)?;
        }
        let mut gids: Vec<u32> = Vec::new();
        for (start, src) in &buckets {
            gids.clear();
            if keyed {
                gids.extend(src.iter().map(|&s| p.slot_global[s as usize]));
            }
            if !self.panes.contains_key(start) {
                // panes name their groups by query-wide key id: no key table
                let state = GroupState::new(&self.spec, &[])?;
                self.panes.insert(
                    *start,
                    Pane {
                        generation: self.windows_opened_panes,
                        state,
                        visible: Vec::new(),
                        global_ids: if self.spec.key_types.is_empty() {
                            vec![0]
                        } else {
                            Vec::new()
                        },
                        local: None,
                    },
                );
                self.windows_opened_panes += 1;
                self.windows_opened += self.new_windows_for_pane(*start);
            }
            if let Some(m) = &mut self.merger {
                m.pane_changed(*start);
            }
            let Some(pane) = self.panes.get_mut(start) else {
                return Err(Error::internal("pane vanished during merge"));
            };
            if keyed {
                self.key_index.map(
                    pane.generation,
                    &mut pane.global_ids,
                    &mut pane.local,
                    &gids,
                    &mut self.dst,
                );
                pane.state.num_groups = pane.global_ids.len();
            } else {
                self.dst.clear();
                self.dst.push(0);
                pane.state.num_groups = 1;
            }
            let total = pane.state.num_groups;
            for (g, q) in pane
                .state
                .accumulators
                .iter_mut()
                .zip(&p.state.accumulators)
            {
                g.merge(q.as_ref(), src, &self.dst, total)?;
            }
            for (&s, &d) in src.iter().zip(&self.dst) {
                p.slot_dst[s as usize] = d;
            }
        }
        if let Some(limit) = self.spec.memory_limit_bytes {
            let used = self.state_bytes();
            if used > limit as u64 {
                return Err(Error::ResourcesExhausted(format!(
                    "window state is {used} bytes ({} groups in {} panes), over the memory limit of {limit} bytes (--memory-limit)",
                    self.groups_live(),
                    self.panes.len()
                )));
            }
        }
        if self.spec.emit != EmitMode::Changes {
            return Ok(None);
        }
        if self.tumbling() {
            self.changes_tumbling(p, &buckets)
        } else {
            self.changes_sliding(p, wm_before)
        }
    }

    /// How many windows a new pane opens (windows containing it that had no pane yet).
    fn new_windows_for_pane(&self, start: i64) -> u64 {
        // a window [s, s + size) holds another pane iff the nearest one before `start`
        // is at or after s, or the nearest one after `start` is before s + size
        let before = self.panes.range(..start).next_back().map(|(&p, _)| p);
        let after = self
            .panes
            .range((std::ops::Bound::Excluded(start), std::ops::Bound::Unbounded))
            .next()
            .map(|(&p, _)| p);
        let last = floor_to(start, self.slide, self.offset);
        let mut n = 0;
        let mut s = last;
        while s > start.saturating_sub(self.size) {
            let end = s.saturating_add(self.size);
            let alone = before.is_none_or(|b| b < s) && after.is_none_or(|a| a >= end);
            if end > self.closed_upto && alone {
                n += 1;
            }
            if s == i64::MIN {
                break;
            }
            s = s.saturating_sub(self.slide);
        }
        n
    }

    /// EMIT CHANGES, tumbling: (pane, group) in first-change order. The key columns
    /// come from the worker (`change_keys`); here only the bounds and the aggregates of
    /// the merged groups are built, one `evaluate` per aggregate and pane.
    fn changes_tumbling(
        &mut self,
        p: &PanePartial,
        buckets: &[(i64, Vec<u32>)],
    ) -> Result<Option<RecordBatch>> {
        let touched = &p.state.touched;
        let n = touched.len();
        let starts: Vec<i64> = touched.iter().map(|&s| p.slot_pane[s as usize]).collect();
        let ends: Vec<i64> = starts.iter().map(|s| s.saturating_add(self.size)).collect();
        let mut cols: Vec<ArrayRef> =
            vec![self.exec.bound_column(starts), self.exec.bound_column(ends)];
        if p.change_keys.len() != self.spec.key_types.len() {
            return Err(Error::internal("changed rows without their key columns"));
        }
        cols.extend(p.change_keys.iter().cloned());
        // per pane, its aggregates over the merged groups, then rows in first-change order
        let mut parts: Vec<Vec<ArrayRef>> = Vec::with_capacity(buckets.len());
        for (start, src) in buckets {
            let Some(pane) = self.panes.get(start) else {
                return Err(Error::internal("pane vanished during emission"));
            };
            let ids: Vec<u32> = src.iter().map(|&s| p.slot_dst[s as usize]).collect();
            parts.push(
                pane.state
                    .accumulators
                    .iter()
                    .map(|a| a.evaluate(&ids))
                    .collect::<Result<_>>()?,
            );
        }
        if parts.len() == 1 {
            cols.extend(parts.pop().unwrap_or_default());
        } else {
            let order = first_change_order(buckets, touched, |s| p.slot_pane[s as usize])?;
            for a in 0..self.spec.calls.len() {
                let arrays: Vec<&dyn Array> = parts.iter().map(|part| part[a].as_ref()).collect();
                cols.push(interleave(&arrays, &order)?);
            }
        }
        let batch = batch_of(&self.values_schema, cols, n)?;
        let passes = having_mask(self.spec.having.as_ref(), &batch)?;
        if !self.spec.changelog {
            return Ok(non_empty(match passes {
                Some(m) => filter_record_batch(&batch, &m)?,
                None => batch,
            }));
        }
        let mut ops = Vec::with_capacity(batch.num_rows());
        for (row, &slot) in p.state.touched.iter().enumerate() {
            let Some(pane) = self.panes.get_mut(&p.slot_pane[slot as usize]) else {
                return Err(Error::internal("pane vanished during emission"));
            };
            pane.visible.resize(pane.state.num_groups, false);
            let pass = passes.as_ref().is_none_or(|m| m.value(row));
            let visible = &mut pane.visible[p.slot_dst[slot as usize] as usize];
            ops.push(changelog_op(pass, visible));
        }
        self.with_ops(&batch, &ops)
    }

    /// EMIT CHANGES, sliding: every open window over a touched pane, per key.
    fn changes_sliding(&mut self, p: &PanePartial, wm_before: i64) -> Result<Option<RecordBatch>> {
        // (window start, partial key) pairs in first-change order
        let mut order: Vec<(i64, u32)> = Vec::new();
        let mut seen: HashMap<(i64, u32), (), ahash::RandomState> = HashMap::default();
        for &slot in &p.state.touched {
            let ps = p.slot_pane[slot as usize];
            let gid = p.slot_gid[slot as usize];
            for s in self.open_windows_of(ps, wm_before) {
                if seen.insert((s, gid), ()).is_none() {
                    order.push((s, gid));
                }
            }
        }
        let flat: Vec<u32> = (0..order.len() as u32).collect();
        let buckets = bucket_by(&flat, |i| order[i as usize].0);
        let mut parts = Vec::with_capacity(buckets.len());
        for (start, members) in &buckets {
            let gids: Vec<u32> = members.iter().map(|&i| order[i as usize].1).collect();
            let keys = match &p.keys {
                Some(k) => Some(k.emit(&gids)?),
                None => None,
            };
            parts.push(self.merged_window_rows(*start, keys.as_deref())?);
        }
        let batch = self.in_first_change_order(parts, &buckets, &flat, |i| order[i as usize].0)?;
        let passes = having_mask(self.spec.having.as_ref(), &batch)?;
        if !self.spec.changelog {
            return Ok(non_empty(match passes {
                Some(m) => filter_record_batch(&batch, &m)?,
                None => batch,
            }));
        }
        let key_rows = match &mut self.rows {
            Some(conv) => {
                Some(conv.convert_columns(&batch.columns()[2..2 + self.key_types.len()])?)
            }
            None => None,
        };
        let mut ops = Vec::with_capacity(batch.num_rows());
        for (row, &(s, _)) in order.iter().enumerate() {
            let pass = passes.as_ref().is_none_or(|m| m.value(row));
            let key: Box<[u8]> = match &key_rows {
                Some(r) => r.row(row).as_ref().into(),
                None => Box::new([]),
            };
            let visible = self.window_visible.entry((s, key)).or_insert(false);
            ops.push(changelog_op(pass, visible));
        }
        self.with_ops(&batch, &ops)
    }

    /// Window starts (ascending) of the windows containing pane `ps` still open after
    /// watermark `wm`.
    fn open_windows_of(&self, ps: i64, wm: i64) -> Vec<i64> {
        let last = floor_to(ps, self.slide, self.offset);
        let mut out = Vec::new();
        let mut s = last;
        loop {
            if s <= ps.saturating_sub(self.size) {
                break;
            }
            if s.saturating_add(self.size) > wm {
                out.push(s);
            }
            if s == i64::MIN {
                break;
            }
            s = s.saturating_sub(self.slide);
        }
        out.reverse();
        out
    }

    /// Rows [window_start, window_end, keys, aggregates] of every group of the pane at
    /// `start`, a whole tumbling window, in key order (SPEC §4). The keys come from the
    /// query-wide table. While the pane holds a good share of that table's keys, the
    /// groups are put in order by the keys' sort ranks (`KeyRanks`: a window with the
    /// same key list as the last one reuses its order and key columns); else by sorting
    /// the pane's key columns, so that a few keys never rank a large table.
    fn tumbling_window_rows(&mut self, start: i64) -> Result<Option<RecordBatch>> {
        let Some(pane) = self.panes.get(&start) else {
            return Ok(None);
        };
        let n = pane.state.num_groups;
        let end = start.saturating_add(self.size);
        let mut cols: Vec<ArrayRef> = vec![
            self.exec.bound_column(vec![start; n]),
            self.exec.bound_column(vec![end; n]),
        ];
        // no keys (the one group) or a sparse pane: groups in id order, sorted after
        let ranked = self
            .global
            .as_ref()
            .filter(|g| g.len() <= 4 * pane.global_ids.len() + 1024);
        let ids: Vec<u32> = match (ranked, &self.global) {
            (Some(global), _) => {
                self.ranks.refresh(global.as_ref())?;
                let order = self.ranks.order(&pane.global_ids).to_vec();
                cols.extend(self.ranks.ordered_columns(global.as_ref())?.iter().cloned());
                order
            }
            (None, Some(global)) => {
                cols.extend(global.emit(&pane.global_ids)?);
                (0..n as u32).collect()
            }
            (None, None) => (0..n as u32).collect(),
        };
        cols.extend(pane.state.evaluate(&ids)?);
        let rows = batch_of(&self.values_schema, cols, n)?;
        if ranked.is_some() {
            return Ok(Some(rows));
        }
        let key_cols: Vec<usize> = (2..2 + self.key_types.len()).collect();
        Ok(Some(sort_by_columns(&rows, &key_cols)?))
    }

    /// Window `start` merged from its panes; with `keys`, only those keys (in that
    /// order), else every key of the window (in order of first appearance).
    ///
    /// Panes share the query-wide key ids of `global`, so a pane merges into the window
    /// by id, without re-interning its keys.
    fn merged_window_rows(&mut self, start: i64, keys: Option<&[ArrayRef]>) -> Result<RecordBatch> {
        let end = start.saturating_add(self.size);
        let total = self.global.as_ref().map_or(1, |g| g.len());
        self.scratch.clear();
        self.scratch.num_groups = total;
        let mut dst = Vec::new();
        for (_, pane) in self.panes.range(start..end) {
            let n = pane.state.num_groups;
            let src: Vec<u32> = (0..n as u32).collect();
            let dst_ids: &[u32] = if self.global.is_some() {
                &pane.global_ids
            } else {
                dst.clear();
                dst.resize(n, 0);
                &dst
            };
            for (g, q) in self
                .scratch
                .accumulators
                .iter_mut()
                .zip(&pane.state.accumulators)
            {
                g.merge(q.as_ref(), &src, dst_ids, total)?;
            }
        }
        let mut ids = Vec::new();
        match (keys, &mut self.global) {
            (Some(k), Some(g)) => g.intern(k, &mut ids)?,
            (None, Some(_)) => {
                self.seen.clear();
                self.seen.resize(total, false);
                for (_, pane) in self.panes.range(start..end) {
                    for &id in &pane.global_ids {
                        if !std::mem::replace(&mut self.seen[id as usize], true) {
                            ids.push(id);
                        }
                    }
                }
            }
            _ => {
                if self.panes.range(start..end).next().is_some() {
                    ids.push(0);
                }
            }
        }
        let n = ids.len();
        let mut cols: Vec<ArrayRef> = vec![
            self.exec.bound_column(vec![start; n]),
            self.exec.bound_column(vec![end; n]),
        ];
        if let Some(g) = &self.global {
            cols.extend(g.emit(&ids)?);
        }
        for acc in &self.scratch.accumulators {
            cols.push(acc.evaluate(&ids)?);
        }
        batch_of(&self.values_schema, cols, n)
    }

    /// EMIT FINAL rows of the sliding windows `starts` (ascending, just closed), as one
    /// batch: per window, its merged state's groups in key order. Every window is a
    /// segment of one output state, so each aggregate is evaluated once for all of them.
    fn sliding_final_rows(&mut self, starts: &[i64]) -> Result<Option<RecordBatch>> {
        let Some(merger) = self.merger.as_mut() else {
            return Err(Error::internal("sliding windows without a merger"));
        };
        if let Some(g) = &self.global {
            self.ranks.refresh(g.as_ref())?;
        }
        merger.begin_output();
        let mut row_starts: Vec<i64> = Vec::new();
        // output groups in emission order
        let mut ids: Vec<u32> = Vec::new();
        // windows emitted, and the key list generation if they all had the same list
        let mut windows = 0usize;
        let mut same_keys: Option<Option<u64>> = None;
        for &s in starts {
            let groups = merger.append_window(s, s.saturating_add(self.size), &self.panes)?;
            if groups.is_empty() {
                continue;
            }
            row_starts.extend(std::iter::repeat_n(s, groups.len()));
            let base = groups.start as u32;
            windows += 1;
            if self.global.is_some() {
                let order = self.ranks.order(&merger.output().keys[groups]);
                ids.extend(order.iter().map(|&i| base + i));
                let generation = self.ranks.generation();
                same_keys = match same_keys {
                    None => Some(Some(generation)),
                    Some(g) => Some(g.filter(|&g| g == generation)),
                };
            } else {
                ids.extend(groups.map(|g| g as u32));
            }
        }
        let n = row_starts.len();
        if n == 0 {
            return Ok(None);
        }
        let ends: Vec<i64> = row_starts
            .iter()
            .map(|s| s.saturating_add(self.size))
            .collect();
        let mut cols: Vec<ArrayRef> = vec![
            self.exec.bound_column(row_starts),
            self.exec.bound_column(ends),
        ];
        let output = merger.output();
        if let Some(g) = &self.global {
            if let Some(Some(_)) = same_keys {
                // every window has the same keys: copies of that list's columns
                for col in self.ranks.ordered_columns(g.as_ref())? {
                    let copies: Vec<&dyn Array> = vec![col.as_ref(); windows];
                    cols.push(concat(&copies)?);
                }
            } else {
                let key_ids: Vec<u32> = ids.iter().map(|&i| output.keys[i as usize]).collect();
                cols.extend(g.emit(&key_ids)?);
            }
        }
        for acc in &output.accumulators {
            cols.push(acc.evaluate(&ids)?);
        }
        Ok(Some(batch_of(&self.values_schema, cols, n)?))
    }

    /// The query-wide key id of every touched slot of `p`, into
    /// `p.slot_global`. Keys the partial has not seen under this key table are interned
    /// once (one emit and one intern per batch); the partial remembers their ids.
    fn slots_to_global(&mut self, p: &mut PanePartial) -> Result<()> {
        let (Some(global), Some(keys)) = (&mut self.global, &p.keys) else {
            return Err(Error::internal("query-wide key ids without key tables"));
        };
        if p.global_of_generation != self.global_generation {
            p.global_of.clear();
            p.global_of_generation = self.global_generation;
        }
        if p.global_of.len() < keys.len() {
            p.global_of.resize(keys.len(), NO_ID);
        }
        let mut misses: Vec<u32> = Vec::new();
        for &s in &p.state.touched {
            let g = p.slot_gid[s as usize] as usize;
            if p.global_of[g] == NO_ID {
                // pending: listed once
                p.global_of[g] = NO_ID - 1;
                misses.push(g as u32);
            }
        }
        if !misses.is_empty() {
            let cols = keys.emit(&misses)?;
            let mut fresh = Vec::with_capacity(misses.len());
            global.intern(&cols, &mut fresh)?;
            for (&g, &id) in misses.iter().zip(&fresh) {
                p.global_of[g as usize] = id;
            }
        }
        p.slot_global.clear();
        p.slot_global.resize(p.slot_gid.len(), NO_ID);
        for &s in &p.state.touched {
            p.slot_global[s as usize] = p.global_of[p.slot_gid[s as usize] as usize];
        }
        Ok(())
    }

    /// Rebuilds the query-wide key table from the open panes once most
    /// of its keys belong to freed panes.
    fn compact_global(&mut self) -> Result<()> {
        let Some(global) = &self.global else {
            return Ok(());
        };
        let live: usize = self.panes.values().map(|p| p.global_ids.len()).sum();
        if global.len() <= 4 * live + 4096 {
            return Ok(());
        }
        let mut table = new_group_values(&self.key_types)?;
        for pane in self.panes.values_mut() {
            let cols = global.emit(&pane.global_ids)?;
            let mut ids = Vec::with_capacity(pane.global_ids.len());
            table.intern(&cols, &mut ids)?;
            pane.global_ids = ids;
            pane.local = None;
        }
        self.global = Some(table);
        // the key ids changed meaning
        self.global_generation += 1;
        self.key_index.reset();
        if let Some(m) = &mut self.merger {
            m.reset();
        }
        self.ranks.reset();
        Ok(())
    }

    /// Interleaves per-bucket rows into the order of `order` (each item's bucket given
    /// by `bucket_of`).
    fn in_first_change_order(
        &self,
        parts: Vec<RecordBatch>,
        buckets: &[(i64, Vec<u32>)],
        order: &[u32],
        bucket_of: impl Fn(u32) -> i64,
    ) -> Result<RecordBatch> {
        if parts.len() == 1 {
            return parts
                .into_iter()
                .next()
                .ok_or_else(|| Error::internal("no emission part"));
        }
        let indices = first_change_order(buckets, order, bucket_of)?;
        let parts: Vec<&RecordBatch> = parts.iter().collect();
        Ok(interleave_record_batch(&parts, &indices)?)
    }

    /// Appends `_op` and drops rows without an op.
    fn with_ops(
        &self,
        batch: &RecordBatch,
        ops: &[Option<&'static str>],
    ) -> Result<Option<RecordBatch>> {
        let keep: Vec<u32> = (0..ops.len() as u32)
            .filter(|&i| ops[i as usize].is_some())
            .collect();
        if keep.is_empty() {
            return Ok(None);
        }
        let kept = if keep.len() == ops.len() {
            batch.clone()
        } else {
            take_record_batch(batch, &UInt32Array::from(keep.clone()))?
        };
        let op_values: Vec<&str> = keep.iter().filter_map(|&i| ops[i as usize]).collect();
        let mut cols = kept.columns().to_vec();
        cols.push(Arc::new(StringArray::from(op_values)));
        Ok(Some(RecordBatch::try_new(self.spec.schema.clone(), cols)?))
    }

    /// Starts (ascending) of the windows with `closed_upto < end ≤ wm` that hold a pane.
    fn closing_starts(&self, wm: i64) -> Vec<i64> {
        let (size, slide, offset) = (self.size, self.slide, self.offset);
        let mut starts: Vec<i64> = Vec::new();
        // away from the ends of the i64 range, walk the grid of window starts alongside
        // the panes, unless the grid is much longer than the pane list (a jump in time)
        let bounded = size.checked_mul(2).is_some_and(|margin| {
            self.closed_upto.checked_sub(margin).is_some() && wm.checked_add(margin).is_some()
        });
        if bounded {
            let lo = floor_to(self.closed_upto - size, slide, offset) + slide;
            let hi = floor_to(wm - size, slide, offset);
            if hi < lo {
                return starts;
            }
            let grid = (hi as i128 - lo as i128) / slide as i128 + 1;
            if grid <= 4 * self.panes.len() as i128 + 64 {
                let mut panes = self.panes.range(lo..).map(|(&p, _)| p).peekable();
                let mut s = lo;
                while s <= hi {
                    while panes.next_if(|&p| p < s).is_some() {}
                    if panes.peek().is_some_and(|&p| p < s + size) {
                        starts.push(s);
                    }
                    s += slide;
                }
                return starts;
            }
        }
        for &ps in self.panes.range(..wm).map(|(k, _)| k) {
            let last = floor_to(ps, self.slide, self.offset);
            let mut s = last;
            let mut mine = Vec::new();
            while s > ps.saturating_sub(self.size) {
                let end = s.saturating_add(self.size);
                if end > self.closed_upto && end <= wm {
                    mine.push(s);
                }
                if s == i64::MIN {
                    break;
                }
                s = s.saturating_sub(self.slide);
            }
            for s in mine.into_iter().rev() {
                if starts.last().is_none_or(|&l| s > l) {
                    starts.push(s);
                }
            }
        }
        starts.sort_unstable();
        starts.dedup();
        starts
    }

    /// Closes the windows whose end is at or before `wm`: EMIT FINAL emits them (ordered
    /// by window start, then keys); their panes are freed once no open window needs
    /// them.
    ///
    /// # Errors
    /// Overflow when a result does not fit its type.
    pub fn close(&mut self, wm: i64) -> Result<Option<RecordBatch>> {
        if wm <= self.closed_upto {
            return Ok(None);
        }
        let starts = self.closing_starts(wm);
        self.windows_closed += starts.len() as u64;
        let mut out = None;
        if self.spec.emit == EmitMode::Final && !starts.is_empty() && !self.tumbling() {
            out = self.sliding_final_rows(&starts)?;
        } else if self.spec.emit == EmitMode::Final && !starts.is_empty() {
            let mut parts = Vec::with_capacity(starts.len());
            // tumbling: a window is its pane
            for &s in &starts {
                parts.extend(self.tumbling_window_rows(s)?);
            }
            out = Some(concat_batches(&self.values_schema, &parts)?);
        }
        let out = match out {
            Some(all) => {
                let all = match having_mask(self.spec.having.as_ref(), &all)? {
                    Some(m) => filter_record_batch(&all, &m)?,
                    None => all,
                };
                if self.spec.changelog {
                    let n = all.num_rows();
                    let mut cols = all.columns().to_vec();
                    cols.push(Arc::new(StringArray::from(vec!["insert"; n])));
                    non_empty(RecordBatch::try_new(self.spec.schema.clone(), cols)?)
                } else {
                    non_empty(all)
                }
            }
            None => None,
        };
        // free the panes no open window needs: floor_slide(ps) + size ≤ wm
        let (size, slide, offset) = (self.size, self.slide, self.offset);
        self.panes
            .retain(|&ps, _| floor_to(ps, slide, offset).saturating_add(size) > wm);
        if !self.window_visible.is_empty() {
            self.window_visible
                .retain(|(s, _), _| s.saturating_add(size) > wm);
        }
        if let Some(m) = &mut self.merger {
            // windows starting before the first open one are closed
            let first_open = floor_to(wm.saturating_sub(size), slide, offset).saturating_add(slide);
            m.release_before(first_open);
        }
        self.closed_upto = wm;
        self.compact_global()?;
        Ok(out)
    }
}

/// The pane start of every time. Consecutive rows mostly share a pane, so the last
/// pane's range is checked first and the division is paid only when a row leaves it.
fn pane_starts(times: &[i64], pane: i64, offset: i64, out: &mut Vec<i64>) {
    out.clear();
    out.reserve(times.len());
    // [lo, hi): the cached pane (empty at first, and near the ends of the i64 range)
    let (mut lo, mut hi, mut start) = (i64::MAX, i64::MIN, 0i64);
    for &t in times {
        if t < lo || t >= hi {
            start = floor_to(t, pane, offset);
            // cache only a true grid point (floor_to saturates at the range ends)
            let on_grid = (start.rem_euclid(pane) - offset.rem_euclid(pane)).rem_euclid(pane) == 0;
            match (on_grid, start.checked_add(pane)) {
                (true, Some(end)) => (lo, hi) = (start, end),
                _ => (lo, hi) = (i64::MAX, i64::MIN),
            }
        }
        out.push(start);
    }
}

/// For items `order` (each in the bucket `bucket_of(item)`, buckets listing their
/// members in that same order), the (bucket index, position in bucket) of each item: the
/// indices that interleave per-bucket rows back into the order of `order`.
fn first_change_order(
    buckets: &[(i64, Vec<u32>)],
    order: &[u32],
    bucket_of: impl Fn(u32) -> i64,
) -> Result<Vec<(usize, usize)>> {
    let index: HashMap<i64, usize, ahash::RandomState> = buckets
        .iter()
        .enumerate()
        .map(|(b, (start, _))| (*start, b))
        .collect();
    let mut next = vec![0usize; buckets.len()];
    let mut out = Vec::with_capacity(order.len());
    for &item in order {
        let Some(&b) = index.get(&bucket_of(item)) else {
            return Err(Error::internal("emission row without a bucket"));
        };
        out.push((b, next[b]));
        next[b] += 1;
    }
    Ok(out)
}

/// Items bucketed by `key`, buckets in order of first appearance, items in order.
fn bucket_by(items: &[u32], key: impl Fn(u32) -> i64) -> Vec<(i64, Vec<u32>)> {
    let mut buckets: Vec<(i64, Vec<u32>)> = Vec::new();
    let mut index: HashMap<i64, usize, ahash::RandomState> = HashMap::default();
    for &item in items {
        let k = key(item);
        match buckets.last_mut() {
            Some((last, members)) if *last == k => members.push(item),
            _ => match index.get(&k) {
                Some(&b) => buckets[b].1.push(item),
                None => {
                    index.insert(k, buckets.len());
                    buckets.push((k, vec![item]));
                }
            },
        }
    }
    buckets
}

/// The changelog op of a (window, group) given whether it passes HAVING now and
/// whether it was visible before (updated in place), per SPEC §4.
pub(crate) fn changelog_op(pass: bool, visible: &mut bool) -> Option<&'static str> {
    let op = match (pass, *visible) {
        (true, false) => Some("insert"),
        (true, true) => Some("update"),
        (false, true) => Some("delete"),
        (false, false) => None,
    };
    *visible = pass;
    op
}

fn non_empty(b: RecordBatch) -> Option<RecordBatch> {
    (b.num_rows() > 0).then_some(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pane_starts_match_floor_to() {
        let times = [
            0,
            5,
            9,
            10,
            -1,
            -10,
            -11,
            25,
            24,
            i64::MIN,
            i64::MIN + 3,
            i64::MAX,
            i64::MAX - 1,
            7,
        ];
        for (pane, offset) in [(10, 0), (10, 3), (7, -2), (1, 0)] {
            let mut out = Vec::new();
            pane_starts(&times, pane, offset, &mut out);
            let expected: Vec<i64> = times.iter().map(|&t| floor_to(t, pane, offset)).collect();
            assert_eq!(out, expected, "pane {pane} offset {offset}");
        }
    }
}
