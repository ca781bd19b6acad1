//! The hash aggregation operator: N key partitions, each owning its group table and
//! accumulators, updated in parallel; emission in the order SPEC §4 fixes.
//!
//! ```text
//!  pre-projected batch [keys | args | filters]
//!     │ partition_rows (hash of keys; skipped for one partition)
//!     ├──────────────┬──────────────┐           (rayon, no locks)
//!  partition 0    partition 1 …  partition N-1:  intern keys → group ids (dense)
//!                                                accumulators.update(ids, args)
//!                                                note groups first changed in the batch
//!     └── EMIT CHANGES: changed groups of all partitions, merged by the row where each
//!         first changed (identical for every N), HAVING applied, `_op` per SPEC §4
//!         EMIT FINAL: every group, sorted by the keys (NULLs last), state freed
//! ```

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, RecordBatch, RecordBatchOptions, StringArray,
    new_empty_array,
};
use arrow::compute::{SortColumn, SortOptions, interleave, lexsort_to_indices, take};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use rayon::prelude::*;

use super::partition::{partition_rows, take_rows};
use crate::aggregate::{AggregateFunction, GroupValues, GroupsAccumulator, new_group_values};
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
    /// Output schema: keys, aggregates (and `_op` when `changelog`).
    pub schema: SchemaRef,
    /// State limit in bytes.
    pub memory_limit_bytes: Option<usize>,
}

/// One key partition's state.
struct Partition {
    /// `None` for a global aggregate (every row is group 0).
    groups: Option<Box<dyn GroupValues>>,
    accumulators: Vec<Box<dyn GroupsAccumulator>>,
    /// Number of groups (for a global aggregate: 1 once a row arrived).
    num_groups: usize,
    ids: Vec<u32>,
    /// Per group: the batch sequence number in which it last changed.
    changed_in: Vec<u64>,
    /// Groups changed in the current batch: (first row in the batch, group).
    changed: Vec<(u32, u32)>,
    /// Per group: emitted and currently satisfying HAVING (changelog bookkeeping).
    visible: Vec<bool>,
}

impl Partition {
    fn new(spec: &AggregateSpec) -> Result<Partition> {
        let groups = if spec.key_types.is_empty() {
            None
        } else {
            Some(new_group_values(&spec.key_types)?)
        };
        let accumulators = spec
            .calls
            .iter()
            .map(|c| c.func.create_accumulator(&c.arg_types))
            .collect::<Result<Vec<_>>>()?;
        Ok(Partition {
            groups,
            accumulators,
            num_groups: 0,
            ids: Vec::new(),
            changed_in: Vec::new(),
            changed: Vec::new(),
            visible: Vec::new(),
        })
    }

    /// Folds one (partition of a) batch into the state. `rows` maps local rows to rows of
    /// the whole batch (None: identity).
    fn update(
        &mut self,
        spec: &AggregateSpec,
        batch: &RecordBatch,
        rows: Option<&[u32]>,
        seq: u64,
    ) -> Result<()> {
        let n = batch.num_rows();
        self.changed.clear();
        if n == 0 {
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
        for (acc, call) in self.accumulators.iter_mut().zip(&spec.calls) {
            let values: Vec<ArrayRef> =
                call.args.iter().map(|&i| batch.column(i).clone()).collect();
            let filter = call.filter.map(|i| batch.column(i).as_boolean());
            acc.update(&values, &self.ids, filter, self.num_groups)?;
        }
        if spec.emit == EmitMode::Changes {
            self.changed_in.resize(self.num_groups, u64::MAX);
            self.visible.resize(self.num_groups, false);
            for (i, &g) in self.ids.iter().enumerate() {
                let slot = &mut self.changed_in[g as usize];
                if *slot != seq {
                    *slot = seq;
                    let row = rows.map_or(i as u32, |r| r[i]);
                    self.changed.push((row, g));
                }
            }
        }
        Ok(())
    }

    /// Keys and aggregate values of `ids`, as output columns (no `_op`).
    fn evaluate(&self, spec: &AggregateSpec, ids: &[u32]) -> Result<Vec<ArrayRef>> {
        let mut cols = match &self.groups {
            Some(table) => table.emit(ids)?,
            None => Vec::new(),
        };
        for acc in &self.accumulators {
            cols.push(acc.evaluate(ids)?);
        }
        debug_assert_eq!(cols.len(), spec.key_types.len() + spec.calls.len());
        Ok(cols)
    }

    fn size_bytes(&self) -> usize {
        self.groups.as_ref().map_or(0, |g| g.size_bytes())
            + self
                .accumulators
                .iter()
                .map(|a| a.size_bytes())
                .sum::<usize>()
            + self.changed_in.capacity() * 8
            + self.visible.capacity()
            + self.ids.capacity() * 4
    }
}

/// The hash aggregation operator.
pub struct HashAggregate {
    spec: AggregateSpec,
    partitions: Vec<Partition>,
    /// Output schema without `_op`.
    values_schema: SchemaRef,
    seq: u64,
    pool: Option<Arc<rayon::ThreadPool>>,
}

impl HashAggregate {
    /// Creates the operator with `partitions` key partitions (1 for a global aggregate).
    ///
    /// # Errors
    /// Key or argument types without an implementation.
    pub fn new(
        spec: AggregateSpec,
        partitions: usize,
        pool: Option<Arc<rayon::ThreadPool>>,
    ) -> Result<HashAggregate> {
        let n = if spec.key_types.is_empty() {
            1
        } else {
            partitions.max(1)
        };
        let parts = (0..n)
            .map(|_| Partition::new(&spec))
            .collect::<Result<Vec<_>>>()?;
        let value_fields: Vec<Field> = spec
            .schema
            .fields()
            .iter()
            .take(spec.key_types.len() + spec.calls.len())
            .map(|f| f.as_ref().clone())
            .collect();
        Ok(HashAggregate {
            values_schema: Arc::new(Schema::new(value_fields)),
            spec,
            partitions: parts,
            seq: 0,
            pool,
        })
    }

    /// The output schema.
    pub fn schema(&self) -> &SchemaRef {
        &self.spec.schema
    }

    /// Groups held now.
    pub fn groups_live(&self) -> u64 {
        self.partitions.iter().map(|p| p.num_groups as u64).sum()
    }

    /// Bytes of state held now.
    pub fn state_bytes(&self) -> u64 {
        self.partitions.iter().map(|p| p.size_bytes() as u64).sum()
    }

    /// Folds one pre-projected batch into the state; with EMIT CHANGES returns the
    /// changelog rows of that batch.
    ///
    /// # Errors
    /// Overflow in exact sums, the memory limit, key types that cannot be hashed.
    pub fn update(&mut self, batch: &RecordBatch) -> Result<Option<RecordBatch>> {
        self.seq += 1;
        let seq = self.seq;
        let spec = &self.spec;
        if self.partitions.len() == 1 {
            self.partitions[0].update(spec, batch, None, seq)?;
        } else {
            let num_keys = spec.key_types.len();
            let parts = partition_rows(
                &batch.columns()[..num_keys],
                batch.num_rows(),
                self.partitions.len(),
            )?;
            let run = |(p, rows): (&mut Partition, &Vec<u32>)| -> Result<()> {
                if rows.is_empty() {
                    p.changed.clear();
                    return Ok(());
                }
                let sub = take_rows(batch, rows)?;
                p.update(spec, &sub, Some(rows), seq)
            };
            match &self.pool {
                Some(pool) => pool.install(|| {
                    self.partitions
                        .par_iter_mut()
                        .zip(parts.par_iter())
                        .map(run)
                        .collect::<Result<Vec<()>>>()
                })?,
                None => self
                    .partitions
                    .iter_mut()
                    .zip(parts.iter())
                    .map(run)
                    .collect::<Result<Vec<()>>>()?,
            };
        }
        if let Some(limit) = spec.memory_limit_bytes {
            let used = self.state_bytes();
            if used > limit as u64 {
                return Err(Error::ResourcesExhausted(format!(
                    "aggregation state is {used} bytes ({} groups), over the memory limit of {limit} bytes (--memory-limit)",
                    self.groups_live()
                )));
            }
        }
        match self.spec.emit {
            EmitMode::Changes => self.emit_changes(),
            EmitMode::Final => Ok(None),
        }
    }

    /// The groups changed by the last batch, in the order they first changed.
    fn emit_changes(&mut self) -> Result<Option<RecordBatch>> {
        // (row, partition, group)
        let mut order: Vec<(u32, usize, u32)> = Vec::new();
        for (pi, p) in self.partitions.iter().enumerate() {
            order.extend(p.changed.iter().map(|&(row, g)| (row, pi, g)));
        }
        if order.is_empty() {
            return Ok(None);
        }
        if self.partitions.len() > 1 {
            order.sort_unstable_by_key(|e| e.0);
        }
        // per partition: the groups in emission order and their values
        let mut per_part: Vec<Vec<u32>> = vec![Vec::new(); self.partitions.len()];
        let mut index: Vec<(usize, usize)> = Vec::with_capacity(order.len());
        for &(_, pi, g) in &order {
            index.push((pi, per_part[pi].len()));
            per_part[pi].push(g);
        }
        let mut columns = if self.partitions.len() == 1 {
            self.partitions[0].evaluate(&self.spec, &per_part[0])?
        } else {
            let evaluated: Vec<Vec<ArrayRef>> = self
                .partitions
                .iter()
                .zip(&per_part)
                .map(|(p, ids)| p.evaluate(&self.spec, ids))
                .collect::<Result<_>>()?;
            let ncols = self.values_schema.fields().len();
            (0..ncols)
                .map(|c| {
                    let arrays: Vec<&dyn Array> =
                        evaluated.iter().map(|cols| cols[c].as_ref()).collect();
                    Ok(interleave(&arrays, &index)?)
                })
                .collect::<Result<Vec<_>>>()?
        };
        let n = order.len();
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
        let mut keep = Vec::with_capacity(n);
        let mut ops: Vec<&'static str> = Vec::with_capacity(n);
        for (row, &(_, pi, g)) in order.iter().enumerate() {
            let pass = passes.as_ref().is_none_or(|m| m.value(row));
            let visible = &mut self.partitions[pi].visible[g as usize];
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
        let Some(h) = &self.spec.having else {
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

    /// End of input: with EMIT FINAL, one row per group sorted by the keys (NULLs last);
    /// the state is freed.
    ///
    /// # Errors
    /// Overflow when a result does not fit its type.
    pub fn finish(&mut self) -> Result<Option<RecordBatch>> {
        if self.spec.emit != EmitMode::Final {
            return Ok(None);
        }
        let global = self.spec.key_types.is_empty();
        if global && self.partitions[0].num_groups == 0 {
            // a global aggregate over no rows still has its one row (COUNT 0, SUM NULL)
            let p = &mut self.partitions[0];
            for (acc, call) in p.accumulators.iter_mut().zip(&self.spec.calls) {
                let empty: Vec<ArrayRef> = call.arg_types.iter().map(new_empty_array).collect();
                acc.update(&empty, &[], None, 1)?;
            }
            p.num_groups = 1;
        }
        let mut parts = Vec::new();
        for p in &self.partitions {
            if p.num_groups == 0 {
                continue;
            }
            let ids: Vec<u32> = (0..p.num_groups as u32).collect();
            let cols = p.evaluate(&self.spec, &ids)?;
            parts.push(RecordBatch::try_new_with_options(
                self.values_schema.clone(),
                cols,
                &RecordBatchOptions::new().with_row_count(Some(ids.len())),
            )?);
        }
        for p in &mut self.partitions {
            if let Some(g) = &mut p.groups {
                g.clear();
            }
            for a in &mut p.accumulators {
                a.clear();
            }
            p.num_groups = 0;
        }
        if parts.is_empty() {
            return Ok(None);
        }
        let all = arrow::compute::concat_batches(&self.values_schema, &parts)?;
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
