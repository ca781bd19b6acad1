//! Session windows, per GROUP BY key (SPEC §4).
//!
//! ```text
//!  worker, per batch:  keys interned → key ids ─▶ per row: the key's sessions within
//!    the batch (a span [first, last] per run of rows closer than gap, merged as rows
//!    bridge them) ─▶ accumulators per span, from (span, value) columns
//!  in input order:     each span joins the query's open sessions of its key it overlaps
//!    (merging them into the earliest) or opens one ─▶ span states merged into theirs
//!  watermark ≥ last + gap ─▶ the session closes (a radix heap of ends, checked lazily)
//! ```
//! Sessions are the connected components of the rows' intervals `[t, t + gap)`, so the
//! components of a batch's rows, merged into the query's sessions in input order, give
//! the same sessions as the rows one at a time: the batches are sessionised on the
//! workers in parallel (`overlap::run_ordered_with`) and only their spans are merged on
//! one thread, as the other windowed operators do.
//!
//! Slots of closed or merged sessions are dead; when they outnumber the live ones the
//! accumulators and the key table are compacted, so state stays proportional to the
//! open sessions.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray, UInt32Array};
use arrow::compute::{filter_record_batch, take_record_batch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use super::end_queue::EndQueue;
use super::panes::changelog_op;
use super::session_table::SessionTable;
use super::{Settle, WindowExec, WindowShape, batch_of, event_times, sort_by_columns};
use crate::aggregate::{GroupValues, GroupsAccumulator, emitted_key_type, new_group_values};
use crate::error::{Error, Result};
use crate::exec::Shape;
use crate::exec::hash_aggregate::{AggregateSpec, GroupState, having_mask, map_to_merged};
use crate::exec::overlap::fill_scratch;
use crate::exec::workers::Workers;
use crate::sql::EmitMode;

/// A partial's key table is kept between batches (so its keys' query-wide ids can be
/// cached) until it holds this many keys.
const PARTIAL_MAX_KEYS: usize = 1 << 12;

/// One batch's sessions, built on a worker: per key, its spans of rows within the batch,
/// each with its accumulator slot.
struct SessionPartial {
    /// Key table (raw key types); `None` without GROUP BY keys.
    keys: Option<Box<dyn GroupValues>>,
    /// Per partial key id: the query's key id (`u32::MAX`: not known yet), valid while
    /// the query's key table is at generation `generation`.
    merged_ids: Vec<u32>,
    generation: u64,
    key_ids: Vec<u32>,
    /// The batch's spans (slots); merged ones are dead.
    table: SessionTable,
    /// Accumulators over the spans; `touched`: the surviving spans in the order they
    /// first changed in the batch.
    state: GroupState,
    merges: Vec<(u32, u32)>,
    redirect: Vec<u32>,
}

impl SessionPartial {
    fn new(spec: &AggregateSpec, gap: i64) -> Result<SessionPartial> {
        Ok(SessionPartial {
            keys: if spec.key_types.is_empty() {
                None
            } else {
                Some(new_group_values(&spec.key_types)?)
            },
            merged_ids: Vec::new(),
            generation: 0,
            key_ids: Vec::new(),
            table: SessionTable::new(gap),
            state: GroupState::new(spec, &[])?,
            merges: Vec::new(),
            redirect: Vec::new(),
        })
    }

    /// Sessionises one pre-projected batch.
    fn update(
        &mut self,
        spec: &AggregateSpec,
        time_index: usize,
        batch: &RecordBatch,
    ) -> Result<()> {
        self.table.clear();
        self.merges.clear();
        for a in &mut self.state.accumulators {
            a.clear();
        }
        let n = batch.num_rows();
        let num_keys = spec.key_types.len();
        match &mut self.keys {
            Some(k) => {
                if k.len() > PARTIAL_MAX_KEYS {
                    k.clear();
                    self.merged_ids.clear();
                }
                k.intern(&batch.columns()[..num_keys], &mut self.key_ids)?;
                self.table.ensure_keys(k.len());
            }
            None => {
                self.key_ids.clear();
                self.key_ids.resize(n, 0);
                self.table.ensure_keys(1);
            }
        }
        let (times, _) = event_times(batch.column(time_index))?;
        let mut ids = std::mem::take(&mut self.state.ids);
        ids.clear();
        for (&k, &t) in self.key_ids.iter().zip(times.iter()) {
            ids.push(self.table.add(k, t, t, &mut self.merges).0);
        }
        if !self.merges.is_empty() {
            // rows of merged spans go to the span that survived
            self.redirect.clear();
            self.redirect.extend(0..self.table.slots() as u32);
            for &(from, into) in &self.merges {
                self.redirect[from as usize] = into;
            }
            for s in 0..self.redirect.len() {
                let mut r = self.redirect[s];
                while self.redirect[r as usize] != r {
                    r = self.redirect[r as usize];
                }
                self.redirect[s] = r;
            }
            for id in &mut ids {
                *id = self.redirect[*id as usize];
            }
        }
        self.state.ids = ids;
        self.state.num_groups = self.table.slots();
        self.state.accumulate(spec, batch)
    }
}

/// The session window aggregation operator.
pub struct SessionAggregate {
    spec: Arc<AggregateSpec>,
    exec: WindowExec,
    gap: i64,
    workers: Workers,
    /// Partial states, reused batch after batch.
    partials: Vec<SessionPartial>,
    /// The query's key table (emitted key types): key → key id.
    keys: Option<Box<dyn GroupValues>>,
    /// Bumped when compaction renumbers the key ids (partials' caches go stale).
    key_generation: u64,
    /// Open sessions per key id, and per slot its key and bounds.
    table: SessionTable,
    /// Accumulators over session slots.
    state: GroupState,
    /// Changelog: emitted and passing HAVING, per slot.
    visible: Vec<bool>,
    /// (end, slot), possibly stale: the true end is checked when taken out.
    ends: EndQueue,
    ended: Vec<(i64, u32)>,
    values_schema: SchemaRef,
    key_types: Vec<DataType>,
    opened: u64,
    closed: u64,
    // per-merge scratch
    key_ids: Vec<u32>,
    partial_keys: Vec<u32>,
    joined: Vec<u32>,
    merges: Vec<(u32, u32)>,
}

impl SessionAggregate {
    /// Creates the operator; calls big enough for `workers` sessionise their batches in
    /// parallel.
    ///
    /// # Errors
    /// Key or argument types without an implementation.
    pub fn new(
        spec: AggregateSpec,
        exec: WindowExec,
        workers: Workers,
    ) -> Result<SessionAggregate> {
        let WindowShape::Session { gap } = exec.shape else {
            return Err(Error::internal("session operator on a pane window"));
        };
        let key_types: Vec<DataType> = spec.key_types.iter().map(emitted_key_type).collect();
        let keys = if spec.key_types.is_empty() {
            None
        } else {
            Some(new_group_values(&key_types)?)
        };
        let value_fields: Vec<Field> = spec
            .schema
            .fields()
            .iter()
            .take(2 + spec.key_types.len() + spec.calls.len())
            .map(|f| f.as_ref().clone())
            .collect();
        Ok(SessionAggregate {
            state: GroupState::new(&spec, &[])?,
            values_schema: Arc::new(Schema::new(value_fields)),
            spec: Arc::new(spec),
            exec,
            gap,
            workers,
            partials: Vec::new(),
            keys,
            key_generation: 0,
            table: SessionTable::new(gap),
            visible: Vec::new(),
            ends: EndQueue::default(),
            ended: Vec::new(),
            key_types,
            opened: 0,
            closed: 0,
            key_ids: Vec::new(),
            partial_keys: Vec::new(),
            joined: Vec::new(),
            merges: Vec::new(),
        })
    }

    /// Open sessions.
    pub fn groups_live(&self) -> u64 {
        self.table.live as u64
    }

    /// Bytes of state held now (the query's sessions; the partials are scratch).
    pub fn state_bytes(&self) -> u64 {
        (self.keys.as_ref().map_or(0, |k| k.size_bytes())
            + self.state.size_bytes()
            + self.table.size_bytes()
            + self.visible.capacity()
            + self.ends.size_bytes()) as u64
    }

    /// Sessions opened and closed so far.
    pub fn window_counts(&self) -> (u64, u64) {
        (self.opened, self.closed)
    }

    /// Folds input batches: `prepare(i, batch)` (screening and pre-projection) and the
    /// batch's sessions run in one parallel task per batch; the partials are merged in
    /// input order, overlapping the later tasks. Before batch `i` is merged,
    /// `settle(i, side)` gives the watermark after it and, when the worker's screening
    /// must be redone, the batch to aggregate instead. Returns the emissions in order (per batch, its EMIT CHANGES rows, then
    /// the sessions its watermark closes) and each batch's side value from `prepare`.
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
            SessionPartial::new(&self.spec, self.gap)
        })?;
        // the partials are set aside while the merges borrow `self`
        let mut partials = std::mem::take(&mut self.partials);
        let spec = Arc::clone(&self.spec);
        let time_index = self.exec.pre_time_index;
        let work = |i: usize, p: &mut SessionPartial| -> Result<T> {
            let b = batches
                .get(i)
                .ok_or_else(|| Error::internal("batch index out of range"))?;
            let (pre, side) = prepare(i, b)?;
            p.update(&spec, time_index, &pre)?;
            Ok(side)
        };
        let mut out = Vec::new();
        let mut sides = Vec::with_capacity(batches.len());
        let mut failed = None;
        let consume = |i: usize, p: &mut SessionPartial, r: Result<T>| {
            if failed.is_some() {
                return;
            }
            let merged = r.and_then(|mut side| {
                let settled = settle(i, &mut side)?;
                if let Some(pre) = settled.redo {
                    p.update(&spec, time_index, &pre)?;
                }
                if let Some(b) = self.merge_partial(p)? {
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
        };
        // batches i+1.. are sessionised while batch i merges
        call.run_ordered(batches.len(), &mut partials, work, consume);
        self.partials = partials;
        match failed {
            Some(e) => Err(e),
            None => Ok((out, sides)),
        }
    }

    /// Merges a batch's spans into the query's sessions, in the order they first changed;
    /// returns the batch's EMIT CHANGES rows.
    fn merge_partial(&mut self, p: &mut SessionPartial) -> Result<Option<RecordBatch>> {
        let spans = &p.state.touched;
        if spans.is_empty() {
            return Ok(None);
        }
        // the spans' query-wide key ids
        match (&p.keys, &mut self.keys) {
            (Some(pk), Some(k)) => {
                if p.generation != self.key_generation {
                    p.merged_ids.clear();
                    p.generation = self.key_generation;
                }
                self.partial_keys.clear();
                self.partial_keys
                    .extend(spans.iter().map(|&s| p.table.slot_key[s as usize]));
                map_to_merged(
                    pk.as_ref(),
                    &mut p.merged_ids,
                    &self.partial_keys,
                    k.as_mut(),
                    &mut self.key_ids,
                )?;
                self.table.ensure_keys(k.len());
            }
            _ => {
                self.key_ids.clear();
                self.key_ids.resize(spans.len(), 0);
                self.table.ensure_keys(1);
            }
        }
        // each span joins (and may merge) the key's open sessions, or opens one
        self.merges.clear();
        self.joined.clear();
        for (&s, &key) in spans.iter().zip(&self.key_ids) {
            let (first, last) = (
                p.table.slot_first[s as usize],
                p.table.slot_last[s as usize],
            );
            let (slot, new) = self.table.add(key, first, last, &mut self.merges);
            if new {
                self.opened += 1;
                self.ends.push(last.saturating_add(self.gap), slot);
            }
            self.joined.push(slot);
        }
        let merges = std::mem::take(&mut self.merges);
        let redirects = self.apply_merges(&merges);
        self.merges = merges;
        let redirects = redirects?;
        for slot in &mut self.joined {
            *slot = redirects.resolve(*slot);
        }
        let total = self.table.slots();
        for (acc, part) in self
            .state
            .accumulators
            .iter_mut()
            .zip(&p.state.accumulators)
        {
            acc.merge(part.as_ref(), spans, &self.joined, total)?;
        }
        self.state.num_groups = total;
        if let Some(limit) = self.spec.memory_limit_bytes {
            let used = self.state_bytes();
            if used > limit as u64 {
                return Err(Error::ResourcesExhausted(format!(
                    "session state is {used} bytes ({} open sessions), over the memory limit of {limit} bytes (--memory-limit)",
                    self.table.live
                )));
            }
        }
        if self.spec.emit != EmitMode::Changes {
            return Ok(None);
        }
        // the sessions the batch changed, first occurrence kept
        let mut order: Vec<u32> = Vec::with_capacity(self.joined.len());
        let mut seen = std::collections::HashSet::<u32, ahash::RandomState>::default();
        for &s in &self.joined {
            if seen.insert(s) {
                order.push(s);
            }
        }
        let batch = self.rows_of(&order)?;
        let passes = having_mask(self.spec.having.as_ref(), &batch)?;
        if !self.spec.changelog {
            let b = match passes {
                Some(m) => filter_record_batch(&batch, &m)?,
                None => batch,
            };
            return Ok((b.num_rows() > 0).then_some(b));
        }
        self.visible.resize(self.table.slots(), false);
        let mut keep = Vec::new();
        let mut ops = Vec::new();
        for (row, &slot) in order.iter().enumerate() {
            let pass = passes.as_ref().is_none_or(|m| m.value(row));
            if let Some(op) = changelog_op(pass, &mut self.visible[slot as usize]) {
                keep.push(row as u32);
                ops.push(op);
            }
        }
        if keep.is_empty() {
            return Ok(None);
        }
        let kept = take_record_batch(&batch, &UInt32Array::from(keep))?;
        let mut cols = kept.columns().to_vec();
        cols.push(Arc::new(StringArray::from(ops)));
        Ok(Some(RecordBatch::try_new(self.spec.schema.clone(), cols)?))
    }

    /// Folds merged sessions' accumulator slots into their survivors; returns where each
    /// merged slot went.
    fn apply_merges(&mut self, merges: &[(u32, u32)]) -> Result<Redirects> {
        let redirects = Redirects::new(merges);
        if merges.is_empty() {
            return Ok(redirects);
        }
        let froms: Vec<u32> = merges.iter().map(|m| m.0).collect();
        let finals: Vec<u32> = froms.iter().map(|&f| redirects.resolve(f)).collect();
        // a merged session was emitted when any of its parts was (changelog)
        for (&f, &t) in froms.iter().zip(&finals) {
            if self.visible.get(f as usize).copied().unwrap_or(false) {
                if self.visible.len() <= t as usize {
                    self.visible.resize(t as usize + 1, false);
                }
                self.visible[t as usize] = true;
            }
        }
        let scratch_ids: Vec<u32> = (0..froms.len() as u32).collect();
        let total = self.table.slots();
        for (acc, call) in self.state.accumulators.iter_mut().zip(&self.spec.calls) {
            let mut scratch = call.func.create_accumulator(&call.arg_types)?;
            scratch.merge(acc.as_ref(), &froms, &scratch_ids, froms.len())?;
            acc.merge(scratch.as_ref(), &scratch_ids, &finals, total)?;
        }
        Ok(redirects)
    }

    /// Rows [window_start, window_end, keys, aggregates] of session slots.
    fn rows_of(&self, slots: &[u32]) -> Result<RecordBatch> {
        let n = slots.len();
        let starts: Vec<i64> = slots
            .iter()
            .map(|&s| self.table.slot_first[s as usize])
            .collect();
        let ends: Vec<i64> = slots
            .iter()
            .map(|&s| self.table.slot_last[s as usize].saturating_add(self.gap))
            .collect();
        let mut cols: Vec<ArrayRef> =
            vec![self.exec.bound_column(starts), self.exec.bound_column(ends)];
        if let Some(k) = &self.keys {
            let kids: Vec<u32> = slots
                .iter()
                .map(|&s| self.table.slot_key[s as usize])
                .collect();
            cols.extend(k.emit(&kids)?);
        }
        for acc in &self.state.accumulators {
            cols.push(acc.evaluate(slots)?);
        }
        batch_of(&self.values_schema, cols, n)
    }

    /// Closes sessions with last + gap ≤ `wm`; EMIT FINAL emits them ordered by start,
    /// then keys.
    ///
    /// # Errors
    /// Overflow when a result does not fit its type.
    pub fn close(&mut self, wm: i64) -> Result<Option<RecordBatch>> {
        let mut closing: Vec<u32> = Vec::new();
        let mut ended = std::mem::take(&mut self.ended);
        ended.clear();
        self.ends.drain_to(wm, &mut ended);
        for &(_, slot) in &ended {
            let s = slot as usize;
            if !self.table.slot_live[s] {
                continue;
            }
            let actual = self.table.slot_last[s].saturating_add(self.gap);
            if actual > wm {
                self.ends.push(actual, slot);
                continue;
            }
            closing.push(slot);
        }
        self.ended = ended;
        if closing.is_empty() {
            return Ok(None);
        }
        let out = if self.spec.emit == EmitMode::Final {
            let rows = self.rows_of(&closing)?;
            let mut sort_cols = vec![0usize];
            sort_cols.extend(2..2 + self.key_types.len());
            let rows = sort_by_columns(&rows, &sort_cols)?;
            let rows = match having_mask(self.spec.having.as_ref(), &rows)? {
                Some(m) => filter_record_batch(&rows, &m)?,
                None => rows,
            };
            if rows.num_rows() == 0 {
                None
            } else if self.spec.changelog {
                let mut cols = rows.columns().to_vec();
                cols.push(Arc::new(StringArray::from(vec!["insert"; rows.num_rows()])));
                Some(RecordBatch::try_new(self.spec.schema.clone(), cols)?)
            } else {
                Some(rows)
            }
        } else {
            None
        };
        for &slot in &closing {
            self.table.close(slot);
            self.closed += 1;
        }
        let dead = self.table.slots() - self.table.live;
        if dead > 1024 && dead > self.table.live {
            self.compact()?;
        }
        Ok(out)
    }

    /// Rebuilds accumulators, slots and the key table over the open sessions only.
    fn compact(&mut self) -> Result<()> {
        let live = self.table.live_slots();
        let new_ids: Vec<u32> = (0..live.len() as u32).collect();
        let mut fresh: Vec<Box<dyn GroupsAccumulator>> = Vec::with_capacity(self.spec.calls.len());
        for (acc, call) in self.state.accumulators.iter().zip(&self.spec.calls) {
            let mut a = call.func.create_accumulator(&call.arg_types)?;
            a.merge(acc.as_ref(), &live, &new_ids, live.len())?;
            fresh.push(a);
        }
        self.state.accumulators = fresh;
        self.state.touched.clear();
        // keys of open sessions only: the key ids change
        let old_kids: Vec<u32> = live
            .iter()
            .map(|&s| self.table.slot_key[s as usize])
            .collect();
        let mut new_kids = Vec::with_capacity(live.len());
        let num_keys = match &mut self.keys {
            Some(k) => {
                let cols = k.emit(&old_kids)?;
                let mut table = new_group_values(&self.key_types)?;
                table.intern(&cols, &mut new_kids)?;
                *k = table;
                k.len()
            }
            None => {
                new_kids.resize(live.len(), 0);
                1
            }
        };
        self.key_generation += 1;
        let visible: Vec<bool> = live
            .iter()
            .map(|&s| self.visible.get(s as usize).copied().unwrap_or(false))
            .collect();
        self.table.compact(&live, &new_kids, num_keys);
        self.visible = visible;
        self.ends = EndQueue::default();
        for s in 0..live.len() as u32 {
            let end = self.table.slot_last[s as usize].saturating_add(self.gap);
            self.ends.push(end, s);
        }
        self.state.num_groups = live.len();
        Ok(())
    }
}

/// Where merged slots went: follows `(from, into)` pairs to the surviving slot (an
/// empty map, which does not allocate, when nothing merged).
struct Redirects(std::collections::HashMap<u32, u32, ahash::RandomState>);

impl Redirects {
    fn new(merges: &[(u32, u32)]) -> Redirects {
        Redirects(merges.iter().copied().collect())
    }

    /// The slot `slot` ended up in (itself when it was not merged).
    fn resolve(&self, mut slot: u32) -> u32 {
        // a merged slot is dead and never a merge target: the chain ends
        while let Some(&into) = self.0.get(&slot) {
            slot = into;
        }
        slot
    }
}
