//! The hash aggregation operator: batches pre-aggregated in parallel, merged in input
//! order; emission in the order SPEC §4 fixes.
//!
//! ```text
//!  pre-projected batches [keys | args | filters]   (up to `partitions` at a time)
//!     ├──────────────┬──────────────┐          rayon: each batch into its own partial
//!  partial 0      partial 1 …   partial N-1:   intern keys → dense ids (first-seen order)
//!                                              accumulators.update(ids, args)
//!     └── merged one by one, in input order: partial keys interned into the query's
//!         table, accumulators merged group by group (cost ∝ groups in the batch)
//!         EMIT CHANGES: after each batch, its groups in first-change order, HAVING
//!         applied, `_op` per SPEC §4;  EMIT FINAL: every group sorted by the keys
//! ```
//! Every partition count pre-aggregates each batch the same way and merges in the same
//! order, so the output is identical for every N.

use std::sync::Arc;

use crate::exec::Shape;
use crate::exec::overlap::fill_scratch;
use crate::exec::workers::Workers;
use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, RecordBatch, RecordBatchOptions, StringArray,
    new_empty_array,
};
use arrow::compute::{SortColumn, SortOptions, lexsort_to_indices, take};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::aggregate::{
    AggregateFunction, GroupValues, GroupsAccumulator, emitted_key_type, new_group_values,
};
use crate::error::{Error, Result};
use crate::expr::Expr;
use crate::sql::EmitMode;

/// Where one aggregate finds its inputs in the pre-projected batch.
#[derive(Debug, Clone)]
pub struct CallLayout {
    /// The function.
    pub func: AggregateFunction,
    /// Argument column indices.
    pub args: Vec<usize>,
    /// Argument types.
    pub arg_types: Vec<DataType>,
    /// `FILTER (WHERE ...)` column index.
    pub filter: Option<usize>,
}

/// Static description of the operator.
#[derive(Debug, Clone)]
pub struct AggregateSpec {
    /// Key columns are `0..num_keys` of the pre-projected batch.
    pub key_types: Vec<DataType>,
    /// The aggregates.
    pub calls: Vec<CallLayout>,
    /// When groups are emitted.
    pub emit: EmitMode,
    /// HAVING over the output layout (keys, aggregates).
    pub having: Option<Expr>,
    /// Add the `_op` column (EMIT CHANGES only).
    pub changelog: bool,
    /// Output schema: [window_start, window_end,] keys, aggregates (and `_op` when
    /// `changelog`).
    pub schema: SchemaRef,
    /// Event-time window (pane or session operator instead of the plain one).
    pub window: Option<crate::exec::window::WindowExec>,
    /// State limit in bytes.
    pub memory_limit_bytes: Option<usize>,
}

/// A group table plus one accumulator per aggregate.
pub(crate) struct GroupState {
    /// `None` for a global aggregate (every row is group 0).
    pub(crate) groups: Option<Box<dyn GroupValues>>,
    pub(crate) accumulators: Vec<Box<dyn GroupsAccumulator>>,
    /// Number of groups (for a global aggregate: 1 once a row arrived).
    pub(crate) num_groups: usize,
    pub(crate) ids: Vec<u32>,
    /// Groups of the last batch, in the order they first appeared in it.
    pub(crate) touched: Vec<u32>,
    /// A partial state's group id → the id of its key in the state it merges into
    /// (`u32::MAX`: not known yet); valid while this table keeps its keys.
    pub(crate) merged_ids: Vec<u32>,
    /// Per group: the batch number it was last touched in.
    touched_in: Vec<u64>,
    batch_no: u64,
}

/// A partial state keeps its key table between batches (interning learns the key set,
/// e.g. the string-pair cache), and forgets it once it holds this many groups.
const PARTIAL_TABLE_MAX_GROUPS: usize = 1 << 16;

impl GroupState {
    /// A state whose table interns keys of `key_types`.
    pub(crate) fn new(spec: &AggregateSpec, key_types: &[DataType]) -> Result<GroupState> {
        let groups = if key_types.is_empty() {
            None
        } else {
            Some(new_group_values(key_types)?)
        };
        let accumulators = spec
            .calls
            .iter()
            .map(|c| c.func.create_accumulator(&c.arg_types))
            .collect::<Result<Vec<_>>>()?;
        Ok(GroupState {
            groups,
            accumulators,
            num_groups: 0,
            ids: Vec::new(),
            touched: Vec::new(),
            merged_ids: Vec::new(),
            touched_in: Vec::new(),
            batch_no: 0,
        })
    }

    /// Folds a pre-projected batch into this state and notes the groups it touched.
    fn update(&mut self, spec: &AggregateSpec, batch: &RecordBatch) -> Result<()> {
        let n = batch.num_rows();
        if n == 0 {
            self.touched.clear();
            self.batch_no += 1;
            return Ok(());
        }
        let num_keys = spec.key_types.len();
        match &mut self.groups {
            Some(table) => {
                table.intern(&batch.columns()[..num_keys], &mut self.ids)?;
                self.num_groups = table.len();
            }
            None => {
                self.ids.clear();
                self.ids.resize(n, 0);
                self.num_groups = 1;
            }
        }
        self.accumulate(spec, batch)
    }

    /// Folds a batch into the groups `self.ids` (one per row, all below
    /// `self.num_groups`) and notes the groups it touched, in first-seen order.
    pub(crate) fn accumulate(&mut self, spec: &AggregateSpec, batch: &RecordBatch) -> Result<()> {
        self.touched.clear();
        self.batch_no += 1;
        if batch.num_rows() == 0 {
            return Ok(());
        }
        for (acc, call) in self.accumulators.iter_mut().zip(&spec.calls) {
            let values: Vec<ArrayRef> =
                call.args.iter().map(|&i| batch.column(i).clone()).collect();
            let filter = call.filter.map(|i| batch.column(i).as_boolean());
            acc.update(&values, &self.ids, filter, self.num_groups)?;
        }
        self.touched_in.resize(self.num_groups, 0);
        let no = self.batch_no;
        for &g in &self.ids {
            let slot = &mut self.touched_in[g as usize];
            if *slot != no {
                *slot = no;
                self.touched.push(g);
            }
        }
        Ok(())
    }

    /// After a merge: drops the accumulated values, keeps the key table (unless large).
    pub(crate) fn reset_values(&mut self) {
        for a in &mut self.accumulators {
            a.clear();
        }
        if self.num_groups > PARTIAL_TABLE_MAX_GROUPS {
            if let Some(g) = &mut self.groups {
                g.clear();
            }
            self.num_groups = 0;
            self.touched_in.clear();
            self.merged_ids.clear();
        }
    }

    /// Keys and aggregate values of `ids`, as output columns (no `_op`).
    pub(crate) fn evaluate(&self, ids: &[u32]) -> Result<Vec<ArrayRef>> {
        let mut cols = match &self.groups {
            Some(table) => table.emit(ids)?,
            None => Vec::new(),
        };
        for acc in &self.accumulators {
            cols.push(acc.evaluate(ids)?);
        }
        Ok(cols)
    }

    pub(crate) fn clear(&mut self) {
        if let Some(g) = &mut self.groups {
            g.clear();
        }
        self.merged_ids.clear();
        for a in &mut self.accumulators {
            a.clear();
        }
        self.num_groups = 0;
        self.touched_in.clear();
    }

    pub(crate) fn size_bytes(&self) -> usize {
        self.groups.as_ref().map_or(0, |g| g.size_bytes())
            + self
                .accumulators
                .iter()
                .map(|a| a.size_bytes())
                .sum::<usize>()
            + self.ids.capacity() * 4
    }
}

/// The hash aggregation operator.
///
/// Batches are pre-aggregated in parallel, each into a small partial state of its own
/// (one per worker, reused), then merged into the query's state one after another in
/// input order. The merge touches each group of a batch once (200 groups for SPEC §9 S2
/// against 8,192 rows), so the row work runs on every core, while the result is the
/// same for every partition count: batches are always pre-aggregated the same way, and
/// merged in the same order.
pub struct HashAggregate {
    spec: Arc<AggregateSpec>,
    /// The query's state; its table interns emitted key values (dictionaries decoded).
    global: GroupState,
    /// Per-batch partial states, one per worker.
    partials: Vec<GroupState>,
    /// Per global group: emitted and currently satisfying HAVING (changelog).
    visible: Vec<bool>,
    /// Output schema without `_op`.
    values_schema: SchemaRef,
    /// The query's workers: the batches of a call big enough for them are
    /// pre-aggregated in parallel.
    workers: Workers,
    partial_ids: Vec<u32>,
    global_ids: Vec<u32>,
}

impl HashAggregate {
    /// Creates the operator; the batches of a call big enough for `workers` are
    /// pre-aggregated in parallel.
    ///
    /// # Errors
    /// Key or argument types without an implementation.
    pub fn new(spec: AggregateSpec, workers: Workers) -> Result<HashAggregate> {
        let emitted: Vec<DataType> = spec.key_types.iter().map(emitted_key_type).collect();
        let global = GroupState::new(&spec, &emitted)?;
        let partials = vec![GroupState::new(&spec, &spec.key_types)?];
        let value_fields: Vec<Field> = spec
            .schema
            .fields()
            .iter()
            .take(spec.key_types.len() + spec.calls.len())
            .map(|f| f.as_ref().clone())
            .collect();
        Ok(HashAggregate {
            values_schema: Arc::new(Schema::new(value_fields)),
            spec: Arc::new(spec),
            global,
            partials,
            visible: Vec::new(),
            workers,
            partial_ids: Vec::new(),
            global_ids: Vec::new(),
        })
    }

    /// The output schema.
    pub fn schema(&self) -> &SchemaRef {
        &self.spec.schema
    }

    /// Groups held now.
    pub fn groups_live(&self) -> u64 {
        self.global.num_groups as u64
    }

    /// Bytes of state held now.
    pub fn state_bytes(&self) -> u64 {
        (self.global.size_bytes()
            + self
                .partials
                .iter()
                .map(GroupState::size_bytes)
                .sum::<usize>()
            + self.visible.capacity()) as u64
    }

    /// Folds one pre-projected batch into the state; with EMIT CHANGES returns the
    /// changelog rows of that batch.
    ///
    /// # Errors
    /// Overflow in exact sums, the memory limit.
    pub fn update(&mut self, batch: &RecordBatch) -> Result<Option<RecordBatch>> {
        let mut out = self.update_batches(std::slice::from_ref(batch))?;
        Ok(out.pop().flatten())
    }

    /// Folds several batches (pre-aggregated in parallel, merged in order) and returns,
    /// per batch, its EMIT CHANGES rows.
    ///
    /// # Errors
    /// Overflow in exact sums, the memory limit.
    pub fn update_batches(&mut self, batches: &[RecordBatch]) -> Result<Vec<Option<RecordBatch>>> {
        self.update_batches_with(batches, |_, b| Ok(b.clone()), &Ok)
    }

    /// As [`HashAggregate::update_batches`], with `prepare(i, batch)` (the pre-projection)
    /// applied to each input batch inside the same parallel task as its pre-aggregation, so a
    /// batch is projected and aggregated while it is still in the worker's cache, with
    /// one fork/join per call; and with `shape` (the query's SELECT and ORDER BY over the
    /// aggregate) applied to each batch's EMIT CHANGES rows inside its merge, on the
    /// worker that built them.
    ///
    /// # Errors
    /// As `prepare` and `shape`; overflow in exact sums, the memory limit.
    pub fn update_batches_with<F>(
        &mut self,
        batches: &[RecordBatch],
        prepare: F,
        shape: Shape<'_>,
    ) -> Result<Vec<Option<RecordBatch>>>
    where
        F: Fn(usize, &RecordBatch) -> Result<RecordBatch> + Sync,
    {
        let call = self.workers.ordered_call(batches);
        // a few partial states, reused batch after batch
        fill_scratch(call.pool(), &mut self.partials, || {
            GroupState::new(&self.spec, &self.spec.key_types)
        })?;
        // set aside while the merges borrow `self`
        let mut partials = std::mem::take(&mut self.partials);
        let spec = Arc::clone(&self.spec);
        let work = |i: usize, p: &mut GroupState| -> Result<()> {
            match batches.get(i) {
                Some(b) => p.update(&spec, &prepare(i, b)?),
                None => Err(Error::internal("batch index out of range")),
            }
        };
        let mut out = Vec::with_capacity(batches.len());
        let mut failed = None;
        let consume = |_: usize, p: &mut GroupState, r: Result<()>| {
            if failed.is_none() {
                let merged = r.and_then(|()| self.merge_partial(p));
                match merged.and_then(|changes| changes.map(shape).transpose()) {
                    Ok(changes) => out.push(changes),
                    Err(e) => failed = Some(e),
                }
            }
            p.reset_values();
        };
        // batches i+1.. pre-aggregate while batch i merges
        call.run_ordered(batches.len(), &mut partials, work, consume);
        self.partials = partials;
        match failed {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    /// Merges a partial state into the query's state and returns its EMIT CHANGES rows
    /// (the caller clears the partial).
    fn merge_partial(&mut self, partial: &mut GroupState) -> Result<Option<RecordBatch>> {
        if partial.touched.is_empty() {
            return Ok(None);
        }
        self.partial_ids.clear();
        self.partial_ids.extend_from_slice(&partial.touched);
        // `touched` is in first-seen order, so the global ids below are the groups of
        // this batch in the order they first changed
        match (&partial.groups, &mut self.global.groups) {
            (Some(p), Some(g)) => {
                map_to_merged(
                    p.as_ref(),
                    &mut partial.merged_ids,
                    &self.partial_ids,
                    g.as_mut(),
                    &mut self.global_ids,
                )?;
                self.global.num_groups = g.len();
            }
            _ => {
                self.global_ids.clear();
                self.global_ids.push(0);
                self.global.num_groups = 1;
            }
        }
        let total = self.global.num_groups;
        for (g, p) in self
            .global
            .accumulators
            .iter_mut()
            .zip(&partial.accumulators)
        {
            g.merge(p.as_ref(), &self.partial_ids, &self.global_ids, total)?;
        }
        if let Some(limit) = self.spec.memory_limit_bytes {
            let used = self.state_bytes();
            if used > limit as u64 {
                return Err(Error::ResourcesExhausted(format!(
                    "aggregation state is {used} bytes ({} groups), over the memory limit of {limit} bytes (--memory-limit)",
                    self.groups_live()
                )));
            }
        }
        match self.spec.emit {
            EmitMode::Changes => {
                let ids = std::mem::take(&mut self.global_ids);
                let r = self.emit_changes(&ids);
                self.global_ids = ids;
                r
            }
            EmitMode::Final => Ok(None),
        }
    }

    /// The rows of groups `ids` (changed by the last batch, in first-change order).
    fn emit_changes(&mut self, ids: &[u32]) -> Result<Option<RecordBatch>> {
        let n = ids.len();
        let mut columns = self.global.evaluate(ids)?;
        let values = RecordBatch::try_new_with_options(
            self.values_schema.clone(),
            columns.clone(),
            &RecordBatchOptions::new().with_row_count(Some(n)),
        )?;
        let passes = self.having_mask(&values)?;
        if !self.spec.changelog {
            let batch = RecordBatch::try_new_with_options(
                self.spec.schema.clone(),
                columns,
                &RecordBatchOptions::new().with_row_count(Some(n)),
            )?;
            return Ok(Some(match passes {
                Some(mask) => arrow::compute::filter_record_batch(&batch, &mask)?,
                None => batch,
            }));
        }
        // changelog: insert / update / delete per SPEC §4
        self.visible.resize(self.global.num_groups, false);
        let mut keep = Vec::with_capacity(n);
        let mut ops: Vec<&'static str> = Vec::with_capacity(n);
        for (row, &g) in ids.iter().enumerate() {
            let pass = passes.as_ref().is_none_or(|m| m.value(row));
            let visible = &mut self.visible[g as usize];
            let op = match (pass, *visible) {
                (true, false) => Some("insert"),
                (true, true) => Some("update"),
                (false, true) => Some("delete"),
                (false, false) => None,
            };
            *visible = pass;
            if let Some(op) = op {
                keep.push(row as u32);
                ops.push(op);
            }
        }
        if keep.is_empty() {
            return Ok(None);
        }
        if keep.len() != n {
            let idx = arrow::array::UInt32Array::from(keep);
            columns = columns
                .iter()
                .map(|c| take(c.as_ref(), &idx, None))
                .collect::<std::result::Result<_, _>>()?;
        }
        columns.push(Arc::new(StringArray::from(ops)));
        Ok(Some(RecordBatch::try_new(
            self.spec.schema.clone(),
            columns,
        )?))
    }

    /// HAVING over emitted rows (NULL counts as false), or `None` without HAVING.
    fn having_mask(&self, values: &RecordBatch) -> Result<Option<BooleanArray>> {
        having_mask(self.spec.having.as_ref(), values)
    }

    /// End of input: with EMIT FINAL, one row per group sorted by the keys (NULLs last);
    /// the state is freed.
    ///
    /// # Errors
    /// Overflow when a result does not fit its type.
    pub fn finish(&mut self) -> Result<Option<RecordBatch>> {
        if self.spec.emit != EmitMode::Final {
            return Ok(None);
        }
        if self.spec.key_types.is_empty() && self.global.num_groups == 0 {
            // a global aggregate over no rows still has its one row (COUNT 0, SUM NULL)
            for (acc, call) in self.global.accumulators.iter_mut().zip(&self.spec.calls) {
                let empty: Vec<ArrayRef> = call.arg_types.iter().map(new_empty_array).collect();
                acc.update(&empty, &[], None, 1)?;
            }
            self.global.num_groups = 1;
        }
        if self.global.num_groups == 0 {
            return Ok(None);
        }
        let ids: Vec<u32> = (0..self.global.num_groups as u32).collect();
        let cols = self.global.evaluate(&ids)?;
        self.global.clear();
        let all = RecordBatch::try_new_with_options(
            self.values_schema.clone(),
            cols,
            &RecordBatchOptions::new().with_row_count(Some(ids.len())),
        )?;
        let sorted = sort_by_keys(&all, self.spec.key_types.len())?;
        let out = match self.having_mask(&sorted)? {
            Some(mask) => arrow::compute::filter_record_batch(&sorted, &mask)?,
            None => sorted,
        };
        let out = if self.spec.changelog {
            let n = out.num_rows();
            let mut cols = out.columns().to_vec();
            cols.push(Arc::new(StringArray::from(vec!["insert"; n])));
            RecordBatch::try_new(self.spec.schema.clone(), cols)?
        } else {
            out
        };
        Ok((out.num_rows() > 0).then_some(out))
    }
}

/// The ids, in table `into`, of the keys of groups `ids` of table `from`, through the
/// cache `known` (from-id → into-id, `u32::MAX` unknown): only keys not seen before are
/// emitted and interned, so merging a batch whose keys repeat costs an array lookup per
/// group instead of re-hashing its keys.
///
/// # Errors
/// Key emission or interning errors.
pub(crate) fn map_to_merged(
    from: &dyn GroupValues,
    known: &mut Vec<u32>,
    ids: &[u32],
    into: &mut dyn GroupValues,
    out: &mut Vec<u32>,
) -> Result<()> {
    out.clear();
    let mut misses: Vec<u32> = Vec::new();
    for (j, &g) in ids.iter().enumerate() {
        match known.get(g as usize) {
            Some(&d) if d != u32::MAX => out.push(d),
            _ => {
                out.push(u32::MAX);
                misses.push(j as u32);
            }
        }
    }
    if misses.is_empty() {
        return Ok(());
    }
    let gids: Vec<u32> = misses.iter().map(|&j| ids[j as usize]).collect();
    let cols = from.emit(&gids)?;
    let mut fresh = Vec::with_capacity(gids.len());
    into.intern(&cols, &mut fresh)?;
    for ((&j, &g), &d) in misses.iter().zip(&gids).zip(&fresh) {
        out[j as usize] = d;
        if known.len() <= g as usize {
            known.resize(g as usize + 1, u32::MAX);
        }
        known[g as usize] = d;
    }
    Ok(())
}

/// HAVING over emitted rows (NULL counts as false), or `None` without HAVING.
pub(crate) fn having_mask(
    having: Option<&Expr>,
    values: &RecordBatch,
) -> Result<Option<BooleanArray>> {
    let Some(h) = having else {
        return Ok(None);
    };
    let m = h.evaluate_mask(values)?;
    let m = match m.nulls() {
        Some(nulls) if nulls.null_count() > 0 => {
            BooleanArray::new(m.values() & nulls.inner(), None)
        }
        _ => m,
    };
    Ok(Some(m))
}

/// Sorts rows by the first `num_keys` columns ascending, NULLs last.
pub fn sort_by_keys(batch: &RecordBatch, num_keys: usize) -> Result<RecordBatch> {
    if num_keys == 0 || batch.num_rows() < 2 {
        return Ok(batch.clone());
    }
    let columns: Vec<SortColumn> = batch.columns()[..num_keys]
        .iter()
        .map(|c| SortColumn {
            values: c.clone(),
            options: Some(SortOptions {
                descending: false,
                nulls_first: false,
            }),
        })
        .collect();
    let idx = lexsort_to_indices(&columns, None)?;
    Ok(arrow::compute::take_record_batch(batch, &idx)?)
}
