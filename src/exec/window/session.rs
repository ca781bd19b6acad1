//! Session windows, per GROUP BY key (SPEC §4).
//!
//! ```text
//!  batch ─▶ keys interned → key ids ─▶ per row: the key's open sessions (sorted, few)
//!            t joins a session when t < last + gap and t > first − gap;
//!            no session: a new one; several: they merge into the earliest
//!        ─▶ one slot per session: accumulators updated from (slot, value) columns
//!        ─▶ merges applied (slot contents folded into the surviving slot)
//!  watermark ≥ last + gap ─▶ the session closes (a min-heap of ends, checked lazily)
//! ```
//! Slots of closed or merged sessions are dead; when they outnumber the live ones the
//! accumulators and the key table are compacted, so state stays proportional to the
//! open sessions.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray, UInt32Array};
use arrow::compute::{filter_record_batch, take_record_batch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use super::panes::changelog_op;
use super::{WindowExec, WindowShape, batch_of, event_times, sort_by_columns};
use crate::aggregate::{GroupValues, GroupsAccumulator, emitted_key_type, new_group_values};
use crate::error::{Error, Result};
use crate::exec::hash_aggregate::{AggregateSpec, GroupState, having_mask};
use crate::sql::EmitMode;

/// One open session of a key.
#[derive(Debug, Clone, Copy)]
struct Session {
    first: i64,
    last: i64,
    slot: u32,
}

/// The session window aggregation operator.
pub struct SessionAggregate {
    spec: AggregateSpec,
    exec: WindowExec,
    gap: i64,
    /// Per-batch key table (raw key types).
    batch_keys: Option<Box<dyn GroupValues>>,
    /// The query's key table (emitted key types): key → key id.
    keys: Option<Box<dyn GroupValues>>,
    /// Per key id: its open sessions, sorted by first event.
    sessions: Vec<Vec<Session>>,
    /// Accumulators over session slots.
    state: GroupState,
    slot_key: Vec<u32>,
    slot_first: Vec<i64>,
    slot_last: Vec<i64>,
    slot_live: Vec<bool>,
    /// Changelog: emitted and passing HAVING, per slot.
    visible: Vec<bool>,
    live: usize,
    /// (end, slot), possibly stale: the true end is checked when popped.
    ends: BinaryHeap<Reverse<(i64, u32)>>,
    values_schema: SchemaRef,
    key_types: Vec<DataType>,
    opened: u64,
    closed: u64,
    batch_gids: Vec<u32>,
    key_of_batch_gid: Vec<u32>,
}

impl SessionAggregate {
    /// Creates the operator.
    ///
    /// # Errors
    /// Key or argument types without an implementation.
    pub fn new(spec: AggregateSpec, exec: WindowExec) -> Result<SessionAggregate> {
        let WindowShape::Session { gap } = exec.shape else {
            return Err(Error::internal("session operator on a pane window"));
        };
        let key_types: Vec<DataType> = spec.key_types.iter().map(emitted_key_type).collect();
        let (batch_keys, keys) = if spec.key_types.is_empty() {
            (None, None)
        } else {
            (
                Some(new_group_values(&spec.key_types)?),
                Some(new_group_values(&key_types)?),
            )
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
            spec,
            exec,
            gap,
            batch_keys,
            keys,
            sessions: Vec::new(),
            slot_key: Vec::new(),
            slot_first: Vec::new(),
            slot_last: Vec::new(),
            slot_live: Vec::new(),
            visible: Vec::new(),
            live: 0,
            ends: BinaryHeap::new(),
            key_types,
            opened: 0,
            closed: 0,
            batch_gids: Vec::new(),
            key_of_batch_gid: Vec::new(),
        })
    }

    /// Open sessions.
    pub fn groups_live(&self) -> u64 {
        self.live as u64
    }

    /// Bytes of state held now.
    pub fn state_bytes(&self) -> u64 {
        (self.keys.as_ref().map_or(0, |k| k.size_bytes())
            + self.batch_keys.as_ref().map_or(0, |k| k.size_bytes())
            + self.state.size_bytes()
            + self.sessions.capacity() * 24
            + self.live * std::mem::size_of::<Session>()
            + self.slot_key.capacity() * 4
            + (self.slot_first.capacity() + self.slot_last.capacity()) * 8
            + self.slot_live.capacity()
            + self.visible.capacity()
            + self.ends.capacity() * 16) as u64
    }

    /// Sessions opened and closed so far.
    pub fn window_counts(&self) -> (u64, u64) {
        (self.opened, self.closed)
    }

    /// Folds pre-projected batches in order; per batch: its EMIT CHANGES rows, then
    /// the sessions its watermark closes (EMIT FINAL).
    ///
    /// # Errors
    /// Overflow in exact sums, the memory limit.
    pub fn update_batches(
        &mut self,
        batches: &[RecordBatch],
        wm_after: &[i64],
    ) -> Result<Vec<RecordBatch>> {
        let mut out = Vec::new();
        for (b, &wm) in batches.iter().zip(wm_after) {
            out.extend(self.update(b)?);
            out.extend(self.close(wm)?);
        }
        Ok(out)
    }

    fn update(&mut self, batch: &RecordBatch) -> Result<Option<RecordBatch>> {
        let n = batch.num_rows();
        if n == 0 {
            return Ok(None);
        }
        // key ids: intern per batch, then the batch's distinct keys into the query's table
        let num_keys = self.spec.key_types.len();
        match (&mut self.batch_keys, &mut self.keys) {
            (Some(bk), Some(k)) => {
                bk.clear();
                bk.intern(&batch.columns()[..num_keys], &mut self.batch_gids)?;
                let distinct: Vec<u32> = (0..bk.len() as u32).collect();
                let cols = bk.emit(&distinct)?;
                k.intern(&cols, &mut self.key_of_batch_gid)?;
                if self.sessions.len() < k.len() {
                    self.sessions.resize_with(k.len(), Vec::new);
                }
            }
            _ => {
                self.batch_gids.clear();
                self.batch_gids.resize(n, 0);
                self.key_of_batch_gid.clear();
                self.key_of_batch_gid.push(0);
                if self.sessions.is_empty() {
                    self.sessions.push(Vec::new());
                }
            }
        }
        let (times, _) = event_times(batch.column(self.exec.pre_time_index))?;
        // session assignment: a short scan of the key's open sessions per row
        let gap = self.gap;
        let mut ids = std::mem::take(&mut self.state.ids);
        ids.clear();
        let mut merges: Vec<(u32, u32)> = Vec::new();
        for (&bg, &t) in self.batch_gids.iter().zip(times.iter()) {
            let key = self.key_of_batch_gid[bg as usize];
            let list = &mut self.sessions[key as usize];
            // fast path: the latest session takes the row
            if let Some(s) = list.last_mut()
                && t < s.last.saturating_add(gap)
                && t >= s.first
            {
                s.last = s.last.max(t);
                self.slot_last[s.slot as usize] = s.last;
                ids.push(s.slot);
                continue;
            }
            let overlaps =
                |s: &Session| t < s.last.saturating_add(gap) && t > s.first.saturating_sub(gap);
            let Some(first_hit) = list.iter().position(overlaps) else {
                // a new session, kept sorted by first event
                let slot = self.slot_key.len() as u32;
                self.slot_key.push(key);
                self.slot_first.push(t);
                self.slot_last.push(t);
                self.slot_live.push(true);
                self.live += 1;
                self.opened += 1;
                self.ends.push(Reverse((t.saturating_add(gap), slot)));
                let at = list.partition_point(|s| s.first < t);
                list.insert(
                    at,
                    Session {
                        first: t,
                        last: t,
                        slot,
                    },
                );
                ids.push(slot);
                continue;
            };
            let mut keep = list[first_hit];
            keep.first = keep.first.min(t);
            keep.last = keep.last.max(t);
            // later sessions the row bridges into this one
            let j = first_hit + 1;
            while j < list.len() && overlaps(&list[j]) {
                let other = list.remove(j);
                keep.first = keep.first.min(other.first);
                keep.last = keep.last.max(other.last);
                merges.push((other.slot, keep.slot));
                self.slot_live[other.slot as usize] = false;
                self.live -= 1;
            }
            // a merged session can now reach earlier or later ones: extend until stable
            list[first_hit] = keep;
            self.slot_first[keep.slot as usize] = keep.first;
            self.slot_last[keep.slot as usize] = keep.last;
            ids.push(keep.slot);
        }
        self.state.ids = ids;
        self.state.num_groups = self.slot_key.len();
        self.state.accumulate(&self.spec, batch)?;
        let targets = self.apply_merges(&merges)?;
        if let Some(limit) = self.spec.memory_limit_bytes {
            let used = self.state_bytes();
            if used > limit as u64 {
                return Err(Error::ResourcesExhausted(format!(
                    "session state is {used} bytes ({} open sessions), over the memory limit of {limit} bytes (--memory-limit)",
                    self.live
                )));
            }
        }
        if self.spec.emit != EmitMode::Changes {
            return Ok(None);
        }
        // touched slots through their merge targets, first occurrence kept
        let mut order: Vec<u32> = Vec::with_capacity(self.state.touched.len());
        let mut seen = std::collections::HashSet::<u32, ahash::RandomState>::default();
        for &s in &self.state.touched {
            let t = resolve(&targets, s);
            if seen.insert(t) {
                order.push(t);
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
        self.visible.resize(self.slot_key.len(), false);
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

    /// Folds merged sessions' accumulator slots into their survivors; returns the
    /// redirect table (slot → slot it was merged into).
    fn apply_merges(&mut self, merges: &[(u32, u32)]) -> Result<Vec<(u32, u32)>> {
        if merges.is_empty() {
            return Ok(Vec::new());
        }
        let targets: Vec<(u32, u32)> = merges.to_vec();
        let froms: Vec<u32> = merges.iter().map(|m| m.0).collect();
        let finals: Vec<u32> = froms.iter().map(|&f| resolve(&targets, f)).collect();
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
        let total = self.slot_key.len();
        for (acc, call) in self.state.accumulators.iter_mut().zip(&self.spec.calls) {
            let mut scratch = call.func.create_accumulator(&call.arg_types)?;
            scratch.merge(acc.as_ref(), &froms, &scratch_ids, froms.len())?;
            acc.merge(scratch.as_ref(), &scratch_ids, &finals, total)?;
        }
        Ok(targets)
    }

    /// Rows [window_start, window_end, keys, aggregates] of session slots.
    fn rows_of(&self, slots: &[u32]) -> Result<RecordBatch> {
        let n = slots.len();
        let starts: Vec<i64> = slots.iter().map(|&s| self.slot_first[s as usize]).collect();
        let ends: Vec<i64> = slots
            .iter()
            .map(|&s| self.slot_last[s as usize].saturating_add(self.gap))
            .collect();
        let mut cols: Vec<ArrayRef> =
            vec![self.exec.bound_column(starts), self.exec.bound_column(ends)];
        if let Some(k) = &self.keys {
            let kids: Vec<u32> = slots.iter().map(|&s| self.slot_key[s as usize]).collect();
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
        while let Some(&Reverse((end, slot))) = self.ends.peek() {
            if end > wm {
                break;
            }
            self.ends.pop();
            let s = slot as usize;
            if !self.slot_live[s] {
                continue;
            }
            let actual = self.slot_last[s].saturating_add(self.gap);
            if actual > wm {
                self.ends.push(Reverse((actual, slot)));
                continue;
            }
            closing.push(slot);
        }
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
            let s = slot as usize;
            self.slot_live[s] = false;
            self.live -= 1;
            self.closed += 1;
            let list = &mut self.sessions[self.slot_key[s] as usize];
            list.retain(|x| x.slot != slot);
        }
        let dead = self.slot_key.len() - self.live;
        if dead > 1024 && dead > self.live {
            self.compact()?;
        }
        Ok(out)
    }

    /// Rebuilds accumulators, slots and the key table over the open sessions only.
    fn compact(&mut self) -> Result<()> {
        let live: Vec<u32> = (0..self.slot_key.len() as u32)
            .filter(|&s| self.slot_live[s as usize])
            .collect();
        let new_ids: Vec<u32> = (0..live.len() as u32).collect();
        let mut fresh: Vec<Box<dyn GroupsAccumulator>> = Vec::with_capacity(self.spec.calls.len());
        for (acc, call) in self.state.accumulators.iter().zip(&self.spec.calls) {
            let mut a = call.func.create_accumulator(&call.arg_types)?;
            a.merge(acc.as_ref(), &live, &new_ids, live.len())?;
            fresh.push(a);
        }
        self.state.accumulators = fresh;
        self.state.touched.clear();
        // keys of open sessions only
        let old_kids: Vec<u32> = live.iter().map(|&s| self.slot_key[s as usize]).collect();
        let mut new_kid_of_slot = Vec::with_capacity(live.len());
        if let Some(k) = &mut self.keys {
            let cols = k.emit(&old_kids)?;
            let mut table = new_group_values(&self.key_types)?;
            table.intern(&cols, &mut new_kid_of_slot)?;
            *k = table;
        } else {
            new_kid_of_slot.resize(live.len(), 0);
        }
        let num_keys = new_kid_of_slot
            .iter()
            .map(|&k| k as usize + 1)
            .max()
            .unwrap_or(0);
        let mut sessions: Vec<Vec<Session>> =
            vec![Vec::new(); num_keys.max(usize::from(self.keys.is_none()))];
        let mut ends = BinaryHeap::with_capacity(live.len());
        let mut visible = Vec::with_capacity(live.len());
        let (mut key, mut first, mut last) = (Vec::new(), Vec::new(), Vec::new());
        for (new, &old) in live.iter().enumerate() {
            let o = old as usize;
            let kid = new_kid_of_slot[new];
            key.push(kid);
            first.push(self.slot_first[o]);
            last.push(self.slot_last[o]);
            visible.push(self.visible.get(o).copied().unwrap_or(false));
            sessions[kid as usize].push(Session {
                first: self.slot_first[o],
                last: self.slot_last[o],
                slot: new as u32,
            });
            ends.push(Reverse((
                self.slot_last[o].saturating_add(self.gap),
                new as u32,
            )));
        }
        for list in &mut sessions {
            list.sort_by_key(|s| s.first);
        }
        self.sessions = sessions;
        self.slot_key = key;
        self.slot_first = first;
        self.slot_last = last;
        self.slot_live = vec![true; live.len()];
        self.visible = visible;
        self.ends = ends;
        self.state.num_groups = live.len();
        Ok(())
    }
}

/// Follows merge redirects to the surviving slot.
fn resolve(targets: &[(u32, u32)], mut slot: u32) -> u32 {
    // merges are few per batch: a linear walk is cheaper than a map
    loop {
        match targets.iter().find(|(from, _)| *from == slot) {
            Some(&(_, into)) => slot = into,
            None => return slot,
        }
    }
}
