//! A running query: push input batches, take result batches.

use std::sync::Arc;
use std::time::Instant;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, SchemaRef};
use rayon::prelude::*;

use super::hash_aggregate::HashAggregate;
use super::metrics::Metrics;
use super::physical::PhysicalPlan;
use crate::error::{Error, Result};
use crate::expr::types::sql_type_name;
use crate::plan::QueryPlan;

/// A compiled, running query. Created by [`crate::Engine::query`].
///
/// Batches go in with [`Query::push`] (or several at once with
/// [`Query::push_batches`], which runs the stateless stage on all of them in parallel)
/// and results come out in input order.
pub struct Query {
    plan: QueryPlan,
    physical: PhysicalPlan,
    aggregate: Option<HashAggregate>,
    /// ROWS-window analytics.
    analytic: Option<super::analytic::AnalyticOperator>,
    pool: Option<Arc<rayon::ThreadPool>>,
    partitions: usize,
    metrics: Metrics,
    started: Instant,
    /// Rows still to skip for OFFSET.
    skip_left: usize,
    /// Rows still allowed by LIMIT.
    fetch_left: Option<usize>,
    finished: bool,
}

impl std::fmt::Debug for Query {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Query")
            .field("input", &self.plan.input)
            .field("partitions", &self.partitions)
            .finish_non_exhaustive()
    }
}

impl Query {
    pub(crate) fn new(
        plan: QueryPlan,
        physical: PhysicalPlan,
        pool: Option<Arc<rayon::ThreadPool>>,
        partitions: usize,
    ) -> Result<Self> {
        let (skip_left, fetch_left) = match physical.limit {
            Some(l) => (l.skip, l.fetch),
            None => (0, None),
        };
        let aggregate = physical
            .aggregate
            .clone()
            .map(|spec| HashAggregate::new(spec, partitions, pool.clone()))
            .transpose()?;
        let analytic = physical
            .analytic
            .clone()
            .map(|spec| super::analytic::AnalyticOperator::new(spec, partitions, pool.clone()))
            .transpose()?;
        Ok(Query {
            plan,
            physical,
            aggregate,
            analytic,
            pool,
            partitions,
            metrics: Metrics::default(),
            started: Instant::now(),
            skip_left,
            fetch_left,
            finished: false,
        })
    }

    /// The schema of every result batch.
    pub fn output_schema(&self) -> SchemaRef {
        self.physical.output_schema.clone()
    }

    /// The schema the query expects for its input.
    pub fn input_schema(&self) -> SchemaRef {
        self.physical.input_schema.clone()
    }

    /// Name of the input the query reads.
    pub fn input_name(&self) -> &str {
        &self.plan.input
    }

    /// The logical plan.
    pub fn plan(&self) -> &QueryPlan {
        &self.plan
    }

    /// Number of partitions (threads) the query runs on.
    pub fn partitions(&self) -> usize {
        self.partitions
    }

    /// True once a LIMIT is satisfied: further input cannot change the result.
    pub fn is_done(&self) -> bool {
        self.aggregate.is_none() && self.fetch_left == Some(0)
    }

    /// Processes one input batch and returns the result batches it produces.
    ///
    /// # Errors
    /// Unknown input name, a batch whose schema differs from the registered one,
    /// data-dependent expression failures, or a push after [`Query::finish`].
    pub fn push(&mut self, input: &str, batch: RecordBatch) -> Result<Vec<RecordBatch>> {
        self.push_batches(input, vec![batch])
    }

    /// Processes several input batches (in parallel on the query's threads) and returns
    /// their results in input order.
    ///
    /// # Errors
    /// As [`Query::push`].
    pub fn push_batches(
        &mut self,
        input: &str,
        batches: Vec<RecordBatch>,
    ) -> Result<Vec<RecordBatch>> {
        if self.finished {
            return Err(Error::execution("push after finish(): the query has ended"));
        }
        if input != self.plan.input && !input.eq_ignore_ascii_case(&self.plan.input) {
            return Err(Error::execution(format!(
                "unknown input \"{input}\": this query reads \"{}\"",
                self.plan.input
            )));
        }
        for b in &batches {
            self.check_schema(b)?;
            self.metrics.rows_in += b.num_rows() as u64;
            self.metrics.batches_in += 1;
        }
        if self.is_done() {
            return Ok(Vec::new());
        }
        // ROWS-window analytics run the pre-projection inside their own parallel rounds,
        // and append the call columns (input order kept)
        if let Some(op) = &mut self.analytic {
            let results = op.process(&self.physical.pre, batches)?;
            self.metrics.groups_live = op.groups_live();
            self.metrics.state_bytes = op.state_bytes();
            let mut out = Vec::with_capacity(results.len());
            for r in results {
                self.emit(r, &mut out)?;
            }
            return Ok(out);
        }
        let stage = &self.physical.pre;
        let results: Vec<RecordBatch> = if let Some(pool) = self
            .pool
            .as_ref()
            .filter(|_| batches.len() > 1 && self.partitions > 1)
        {
            pool.install(|| {
                batches
                    .par_iter()
                    .map(|b| stage.apply(b))
                    .collect::<Result<Vec<_>>>()
            })?
        } else {
            batches
                .iter()
                .map(|b| stage.apply(b))
                .collect::<Result<Vec<_>>>()?
        };
        let mut out = Vec::with_capacity(results.len());
        let emitted: Vec<Option<RecordBatch>> = match &mut self.aggregate {
            Some(agg) => {
                let e = agg.update_batches(&results)?;
                self.metrics.groups_live = agg.groups_live();
                self.metrics.state_bytes = agg.state_bytes();
                e
            }
            None => results.into_iter().map(Some).collect(),
        };
        for e in emitted.into_iter().flatten() {
            self.emit(e, &mut out)?;
        }
        Ok(out)
    }

    /// Runs an emission through the post-projection, ORDER BY and LIMIT.
    fn emit(&mut self, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()> {
        let batch = match &self.physical.post {
            Some(post) => {
                let changelog = self.plan.options.changelog;
                let values_cols = post_input_columns(&batch, changelog);
                let values = RecordBatch::try_new_with_options(
                    post_schema(post),
                    values_cols,
                    &arrow::array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
                )?;
                let projected = post.apply(&values)?;
                if changelog {
                    let mut cols = projected.columns().to_vec();
                    if let Some(op) = batch.columns().last() {
                        cols.push(op.clone());
                    }
                    RecordBatch::try_new(self.physical.output_schema.clone(), cols)?
                } else {
                    projected
                }
            }
            None => batch,
        };
        let batch = if self.physical.sort.is_empty() || batch.num_rows() < 2 {
            batch
        } else {
            sort_batch(&batch, &self.physical.sort)?
        };
        let limited = if self.aggregate.is_some() {
            // ORDER BY and LIMIT apply to each emission of an aggregation
            self.physical.limit.map_or(Some(batch.clone()), |l| {
                let start = l.skip.min(batch.num_rows());
                let len = l.fetch.map_or(batch.num_rows() - start, |f| {
                    f.min(batch.num_rows() - start)
                });
                (len > 0).then(|| batch.slice(start, len))
            })
        } else {
            self.apply_limit(batch)
        };
        if let Some(r) = limited {
            self.metrics.rows_out += r.num_rows() as u64;
            self.metrics.batches_out += 1;
            out.push(r);
        }
        Ok(())
    }

    /// Ends the input: flushes whatever the operators still hold.
    ///
    /// # Errors
    /// None for stateless queries.
    pub fn finish(&mut self) -> Result<Vec<RecordBatch>> {
        if self.finished {
            return Ok(Vec::new());
        }
        self.finished = true;
        let mut out = Vec::new();
        if let Some(agg) = &mut self.aggregate {
            let last = agg.finish()?;
            self.metrics.groups_live = agg.groups_live();
            self.metrics.state_bytes = agg.state_bytes();
            if let Some(b) = last
                && !self.is_done()
            {
                self.emit(b, &mut out)?;
            }
        }
        self.metrics.elapsed = self.started.elapsed();
        Ok(out)
    }

    /// Advances the event-time watermark explicitly (for idle inputs) and returns what
    /// that closes. A query without windows has nothing to close.
    ///
    /// # Errors
    /// None for stateless queries.
    pub fn advance_watermark(&mut self, _ts_ms: i64) -> Result<Vec<RecordBatch>> {
        Ok(Vec::new())
    }

    /// A snapshot of the counters.
    pub fn metrics(&self) -> Metrics {
        let mut m = self.metrics.clone();
        if !self.finished {
            m.elapsed = self.started.elapsed();
        }
        m
    }

    fn check_schema(&self, batch: &RecordBatch) -> Result<()> {
        let expected = &self.physical.input_schema;
        let got = batch.schema();
        let same = got.fields().len() == expected.fields().len()
            && got
                .fields()
                .iter()
                .zip(expected.fields())
                .all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type());
        if same {
            return Ok(());
        }
        let describe = |s: &SchemaRef| {
            s.fields()
                .iter()
                .map(|f| format!("{} {}", f.name(), type_text(f.data_type())))
                .collect::<Vec<_>>()
                .join(", ")
        };
        Err(Error::execution(format!(
            "schema mismatch on input \"{}\": batch {} has columns ({}) but the query was planned for ({})",
            self.plan.input,
            self.metrics.batches_in + 1,
            describe(&got),
            describe(expected)
        )))
    }

    /// Applies OFFSET/LIMIT to one result batch.
    fn apply_limit(&mut self, mut batch: RecordBatch) -> Option<RecordBatch> {
        if self.skip_left > 0 {
            let n = batch.num_rows().min(self.skip_left);
            self.skip_left -= n;
            batch = batch.slice(n, batch.num_rows() - n);
        }
        if let Some(left) = self.fetch_left.as_mut() {
            let n = batch.num_rows().min(*left);
            *left -= n;
            batch = batch.slice(0, n);
        }
        (batch.num_rows() > 0).then_some(batch)
    }
}

/// The aggregate output columns the post-projection reads (all but `_op`).
fn post_input_columns(batch: &RecordBatch, changelog: bool) -> Vec<arrow::array::ArrayRef> {
    let cols = batch.columns();
    if changelog && !cols.is_empty() {
        cols[..cols.len() - 1].to_vec()
    } else {
        cols.to_vec()
    }
}

fn post_schema(post: &super::filter_project::FilterProject) -> SchemaRef {
    post.input_schema().clone()
}

/// Sorts one emission by the ORDER BY keys.
fn sort_batch(batch: &RecordBatch, keys: &[crate::plan::logical::SortKey]) -> Result<RecordBatch> {
    let columns: Vec<arrow::compute::SortColumn> = keys
        .iter()
        .map(|k| arrow::compute::SortColumn {
            values: batch.column(k.column).clone(),
            options: Some(arrow::compute::SortOptions {
                descending: k.descending,
                nulls_first: k.nulls_first,
            }),
        })
        .collect();
    let idx = arrow::compute::lexsort_to_indices(&columns, None)?;
    Ok(arrow::compute::take_record_batch(batch, &idx)?)
}

fn type_text(t: &DataType) -> String {
    sql_type_name(t)
}
