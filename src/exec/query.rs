//! A running query: push input batches, take result batches.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, SchemaRef};
use rayon::prelude::*;

use super::hash_aggregate::HashAggregate;
use super::metrics::Metrics;
use super::physical::PhysicalPlan;
use super::window::panes::PaneAggregate;
use super::window::session::SessionAggregate;
use super::window::{Settle, TimeSpan, WindowExec, WindowShape, passing_where, screen, time_span};
use super::workers::Workers;
use super::{Check, check_batch};
use crate::error::{Error, Result};
use crate::expr::types::sql_type_name;
use crate::plan::QueryPlan;

/// The stateful operator of a query.
enum Stateful {
    /// GROUP BY without a window.
    Plain(Box<HashAggregate>),
    /// Tumbling / sliding windows.
    Panes(Box<PaneAggregate>),
    /// Session windows.
    Session(Box<SessionAggregate>),
}

impl Stateful {
    fn groups_live(&self) -> u64 {
        match self {
            Stateful::Plain(a) => a.groups_live(),
            Stateful::Panes(a) => a.groups_live(),
            Stateful::Session(a) => a.groups_live(),
        }
    }

    fn state_bytes(&self) -> u64 {
        match self {
            Stateful::Plain(a) => a.state_bytes(),
            Stateful::Panes(a) => a.state_bytes(),
            Stateful::Session(a) => a.state_bytes(),
        }
    }

    fn window_counts(&self) -> (u64, u64) {
        match self {
            Stateful::Plain(_) => (0, 0),
            Stateful::Panes(a) => a.window_counts(),
            Stateful::Session(a) => a.window_counts(),
        }
    }

    /// Closes what watermark `wm` closes (windowed operators).
    fn close(&mut self, wm: i64) -> Result<Option<RecordBatch>> {
        match self {
            Stateful::Plain(_) => Ok(None),
            Stateful::Panes(a) => a.close(wm),
            Stateful::Session(a) => a.close(wm),
        }
    }
}

/// A batch's screening as its task did it: its event-time span, the smallest kept event
/// time, and the rows set aside (NULL event time, late), before WHERE.
struct Screening {
    span: TimeSpan,
    kept_min: Option<i64>,
    nulls: Option<RecordBatch>,
    late: Option<RecordBatch>,
}

/// Calls screened against exact watermarks (spans found in a pass of their own) after
/// a call whose optimistic screening had to be redone.
const EXACT_SCREENING_CALLS: u32 = 16;

/// A compiled, running query. Created by [`crate::Engine::query`].
///
/// Batches go in with [`Query::push`] (or several at once with
/// [`Query::push_batches`], which runs the stateless stage on all of them in parallel)
/// and results come out in input order.
pub struct Query {
    plan: QueryPlan,
    physical: PhysicalPlan,
    aggregate: Option<Stateful>,
    /// Event-time window: the watermark (column units) and the late rows kept.
    window: Option<WindowExec>,
    watermark: i64,
    /// Calls left to screen against exact watermarks (see `push_windowed`).
    exact_screening: u32,
    late: Vec<RecordBatch>,
    /// ROWS-window analytics.
    analytic: Option<super::analytic::AnalyticOperator>,
    workers: Workers,
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
        workers: Workers,
        partitions: usize,
    ) -> Result<Self> {
        let (skip_left, fetch_left) = match physical.limit {
            Some(l) => (l.skip, l.fetch),
            None => (0, None),
        };
        let window = physical.aggregate.as_ref().and_then(|a| a.window.clone());
        let aggregate = match physical.aggregate.clone() {
            None => None,
            Some(spec) => Some(match spec.window.clone() {
                None => Stateful::Plain(Box::new(HashAggregate::new(spec, workers.clone())?)),
                Some(w) => match w.shape {
                    WindowShape::Panes { .. } => {
                        Stateful::Panes(Box::new(PaneAggregate::new(spec, w, workers.clone())?))
                    }
                    WindowShape::Session { .. } => Stateful::Session(Box::new(
                        SessionAggregate::new(spec, w, workers.clone())?,
                    )),
                },
            }),
        };
        let analytic = physical
            .analytic
            .clone()
            .map(|spec| super::analytic::AnalyticOperator::new(spec, partitions, workers.clone()))
            .transpose()?;
        Ok(Query {
            plan,
            physical,
            aggregate,
            window,
            watermark: i64::MIN,
            exact_screening: 0,
            late: Vec::new(),
            analytic,
            workers,
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

    /// The query's worker pool (none with one partition).
    pub(crate) fn pool(&self) -> Option<&std::sync::Arc<rayon::ThreadPool>> {
        self.workers.pool()
    }

    /// True once a LIMIT is satisfied: further input cannot change the result.
    pub fn is_done(&self) -> bool {
        self.aggregate.is_none() && self.fetch_left == Some(0)
    }

    /// The input columns the query reads, as indices into [`Query::input_schema`] in
    /// ascending order: those its WHERE, SELECT, GROUP BY, OVER and window clauses name.
    /// Every column when the query keeps its late rows (they are written whole).
    ///
    /// A source can skip decoding the others ([`crate::io::BatchSource::read_columns`]);
    /// [`crate::Engine::query_source`] does that for the input a query reads.
    pub fn input_columns(&self) -> Vec<usize> {
        let all = self.physical.input_schema.fields().len();
        if self.plan.options.collect_late_rows {
            return (0..all).collect();
        }
        let mut columns = self.physical.pre.input_columns();
        if let Some(w) = &self.window {
            columns.push(w.input_time_index);
        }
        columns.sort_unstable();
        columns.dedup();
        columns.retain(|&c| c < all);
        columns
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
        self.push_checked(input, batches, None)
    }

    /// [`Query::push_batches`] of batches read unchecked
    /// ([`crate::io::BatchSource::defer_checks`]): each must pass `check` (by its
    /// position in `batches`) before its values are read, which the operators do where
    /// they first use it. Errors come in input order, as the source's own would.
    pub(crate) fn push_checked(
        &mut self,
        input: &str,
        batches: Vec<RecordBatch>,
        check: Check<'_>,
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
            let results = {
                let shape = shaper(&self.physical, self.plan.options.changelog);
                op.process(&self.physical.pre, batches, &shape, check)?
            };
            self.metrics.groups_live = op.groups_live();
            self.metrics.state_bytes = op.state_bytes();
            let mut out = Vec::with_capacity(results.len());
            for r in results {
                self.deliver(r, &mut out);
            }
            return Ok(out);
        }
        if let Some(w) = self.window.clone() {
            return self.push_windowed(&w, batches, check);
        }
        let stage = &self.physical.pre;
        let mut out = Vec::with_capacity(batches.len());
        let emitted: Vec<Option<RecordBatch>> = match &mut self.aggregate {
            Some(Stateful::Plain(agg)) => {
                // projected and pre-aggregated in one parallel task per batch, EMIT
                // CHANGES rows shaped inside the merge
                let e = {
                    let shape = shaper(&self.physical, self.plan.options.changelog);
                    let prepare = |i, b: &RecordBatch| stage.apply_checked(check, i, b);
                    agg.update_batches_with(&batches, prepare, &shape)?
                };
                self.metrics.groups_live = agg.groups_live();
                self.metrics.state_bytes = agg.state_bytes();
                for b in e.into_iter().flatten() {
                    self.deliver(b, &mut out);
                }
                return Ok(out);
            }
            Some(_) => return Err(Error::internal("windowed operator without a window")),
            None => self
                .in_parallel(&batches, |i, b| stage.apply_checked(check, i, b))?
                .into_iter()
                .map(Some)
                .collect(),
        };
        for e in emitted.into_iter().flatten() {
            self.emit(e, &mut out)?;
        }
        Ok(out)
    }

    /// The analytic operator, for tests of its plans.
    #[cfg(test)]
    pub(crate) fn analytic_operator(&mut self) -> Option<&mut super::analytic::AnalyticOperator> {
        self.analytic.as_mut()
    }

    /// Runs `f(i, batch)` over the batches, in parallel when the call is big enough for
    /// the workers; the first error in batch order is the one returned.
    fn in_parallel<T: Send>(
        &self,
        batches: &[RecordBatch],
        f: impl Fn(usize, &RecordBatch) -> Result<T> + Sync + Send,
    ) -> Result<Vec<T>> {
        let run = |(i, b): (usize, &RecordBatch)| f(i, b);
        match self.workers.for_call(batches) {
            Some(pool) => pool
                .install(|| batches.par_iter().enumerate().map(run).collect::<Vec<_>>())
                .into_iter()
                .collect(),
            None => batches.iter().enumerate().map(run).collect(),
        }
    }

    /// A windowed aggregation: watermark per batch, NULL-time and late rows screened out
    /// (counted, kept for the late sink), the rest pre-projected and aggregated.
    fn push_windowed(
        &mut self,
        w: &WindowExec,
        batches: Vec<RecordBatch>,
        check: Check<'_>,
    ) -> Result<Vec<RecordBatch>> {
        // Screening needs the watermark before each batch, which depends on the largest
        // event times of the batches before it. Optimistically, each batch's own task
        // finds its event-time span and screens against the watermark known when it
        // starts: a lower bound, so every row it drops is late. The in-order merge, where
        // the true watermark is known, checks that no kept row is late under it, and
        // screens and aggregates the batch again in the rare case one is. On one
        // partition the known watermark is the true one. After a call with redoes, a few
        // calls find the spans first, in a pass of their own, and screen exactly.
        let delay = w.delay;
        let exact: Option<Vec<(TimeSpan, i64)>> = if self.exact_screening > 0 {
            self.exact_screening -= 1;
            let spans = self.in_parallel(&batches, |i, b| {
                check_batch(check, i, b)?;
                time_span(b.column(w.input_time_index))
            })?;
            let mut wm = self.watermark;
            Some(
                spans
                    .into_iter()
                    .map(|span| {
                        let before = wm;
                        if let Some(m) = span.max() {
                            wm = wm.max(m.saturating_sub(delay));
                        }
                        (span, before)
                    })
                    .collect(),
            )
        } else {
            None
        };
        let known = AtomicI64::new(self.watermark);
        let stage = &self.physical.pre;
        // the batches are checked here unless the pass over their spans did it
        let check = if exact.is_some() { None } else { check };
        let prepare = |i: usize, b: &RecordBatch| -> Result<(RecordBatch, Screening)> {
            check_batch(check, i, b)?;
            let (span, guess) = match &exact {
                Some(v) => *v
                    .get(i)
                    .ok_or_else(|| Error::internal("batch index out of range"))?,
                None => (
                    time_span(b.column(w.input_time_index))?,
                    known.load(Ordering::Relaxed),
                ),
            };
            let s = screen(w, b, &span, guess)?;
            Ok((
                stage.apply(&s.kept)?,
                Screening {
                    span,
                    kept_min: s.kept_min,
                    nulls: s.null_candidates,
                    late: s.late_candidates,
                },
            ))
        };
        let mut wm = self.watermark;
        let mut redoes = 0usize;
        let settle = |i: usize, s: &mut Screening| -> Result<Settle> {
            let before = wm;
            let threshold = w.shape.late_threshold(before);
            let redo = if s.kept_min.is_some_and(|m| m < threshold) {
                redoes += 1;
                let b = batches
                    .get(i)
                    .ok_or_else(|| Error::internal("batch index out of range"))?;
                let again = screen(w, b, &s.span, before)?;
                s.kept_min = again.kept_min;
                s.nulls = again.null_candidates;
                s.late = again.late_candidates;
                Some(stage.apply(&again.kept)?)
            } else {
                None
            };
            if let Some(m) = s.span.max() {
                wm = wm.max(m.saturating_sub(delay));
            }
            known.store(wm, Ordering::Relaxed);
            Ok(Settle {
                before,
                after: wm,
                redo,
            })
        };
        let result = {
            let shape = shaper(&self.physical, self.plan.options.changelog);
            match &mut self.aggregate {
                Some(Stateful::Panes(a)) => {
                    a.update_batches_with(&batches, prepare, settle, &shape)
                }
                Some(Stateful::Session(a)) => {
                    a.update_batches_with(&batches, prepare, settle, &shape)
                }
                _ => return Err(Error::internal("window without a windowed operator")),
            }
        };
        self.watermark = wm;
        if redoes > 0 {
            self.exact_screening = EXACT_SCREENING_CALLS;
        }
        let (emitted, screened) = result?;
        for Screening { nulls, late, .. } in screened {
            if let Some(n) = nulls {
                let n = passing_where(stage.predicate(), n)?;
                self.metrics.null_event_time_rows += n.num_rows() as u64;
            }
            if let Some(l) = late {
                let l = passing_where(stage.predicate(), l)?;
                self.metrics.late_rows += l.num_rows() as u64;
                if w.collect_late && l.num_rows() > 0 {
                    self.late.push(l);
                }
            }
        }
        self.refresh_state_metrics();
        let mut out = Vec::with_capacity(emitted.len());
        for e in emitted {
            self.deliver(e, &mut out);
        }
        Ok(out)
    }

    fn refresh_state_metrics(&mut self) {
        if let Some(a) = &self.aggregate {
            self.metrics.groups_live = a.groups_live();
            self.metrics.state_bytes = a.state_bytes();
            let (opened, closed) = a.window_counts();
            self.metrics.windows_opened = opened;
            self.metrics.windows_closed = closed;
        }
    }

    /// True for a query with an event-time window.
    pub fn is_windowed(&self) -> bool {
        self.window.is_some()
    }

    /// The rows dropped as late since the last call (input schema, unchanged), when
    /// the query was created with [`crate::QueryOptions::collect_late_rows`].
    pub fn take_late_rows(&mut self) -> Vec<RecordBatch> {
        std::mem::take(&mut self.late)
    }

    /// Runs an emission through the post-projection, ORDER BY and LIMIT.
    fn emit(&mut self, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()> {
        let batch = shape_emission(&self.physical, self.plan.options.changelog, batch)?;
        self.deliver(batch, out);
        Ok(())
    }

    /// An emission already shaped ([`shape_emission`]): LIMIT / OFFSET and the counters.
    fn deliver(&mut self, batch: RecordBatch, out: &mut Vec<RecordBatch>) {
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
        let last = match &mut self.aggregate {
            Some(Stateful::Plain(agg)) => agg.finish()?,
            // end of a bounded input: the watermark jumps to +∞
            Some(other) => other.close(i64::MAX)?,
            None => None,
        };
        self.refresh_state_metrics();
        if let Some(b) = last
            && !self.is_done()
        {
            self.emit(b, &mut out)?;
        }
        self.metrics.elapsed = self.started.elapsed();
        Ok(out)
    }

    /// Advances the event-time watermark explicitly (for idle inputs) to `ts_ms` (epoch
    /// milliseconds; it never moves back) and returns the emissions of the windows
    /// that closes. A query without windows has nothing to close.
    ///
    /// # Errors
    /// A result that does not fit its type; a call after [`Query::finish`].
    pub fn advance_watermark(&mut self, ts_ms: i64) -> Result<Vec<RecordBatch>> {
        if self.finished {
            return Err(Error::execution(
                "advance_watermark after finish(): the query has ended",
            ));
        }
        let Some(w) = &self.window else {
            return Ok(Vec::new());
        };
        self.watermark = self.watermark.max(w.ms_to_units(ts_ms));
        let wm = self.watermark;
        let closed = match &mut self.aggregate {
            Some(a) => a.close(wm)?,
            None => None,
        };
        self.refresh_state_metrics();
        let mut out = Vec::new();
        if let Some(b) = closed {
            self.emit(b, &mut out)?;
        }
        Ok(out)
    }

    /// A snapshot of the counters.
    pub fn metrics(&self) -> Metrics {
        let mut m = self.metrics.clone();
        if !self.finished {
            m.elapsed = self.started.elapsed();
        }
        let t = self.workers.clock().snapshot();
        m.pre_aggregate_time = t.work;
        m.merge_time = t.consume;
        m.parallel_time = t.parallel;
        m.parallel_calls = t.parallel_calls;
        m.workers = self.workers.threads();
        m
    }

    fn check_schema(&self, batch: &RecordBatch) -> Result<()> {
        let expected = &self.physical.input_schema;
        let got = batch.schema();
        let same = std::sync::Arc::ptr_eq(&got, expected)
            || got.fields().len() == expected.fields().len()
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

/// An emission of the query's operator in its final shape: the SELECT over the
/// operator's output (a changelog's `_op` column kept last), then the ORDER BY. Touches
/// no query state, so the windowed operators run it on their workers.
fn shape_emission(
    physical: &PhysicalPlan,
    changelog: bool,
    batch: RecordBatch,
) -> Result<RecordBatch> {
    let batch = match &physical.post {
        Some(post) => {
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
                RecordBatch::try_new(physical.output_schema.clone(), cols)?
            } else {
                projected
            }
        }
        None => batch,
    };
    if physical.sort.is_empty() || batch.num_rows() < 2 {
        Ok(batch)
    } else {
        sort_batch(&batch, &physical.sort)
    }
}

/// [`shape_emission`] for one query, as the operators take it ([`super::Shape`]).
fn shaper(
    physical: &PhysicalPlan,
    changelog: bool,
) -> impl Fn(RecordBatch) -> Result<RecordBatch> + Sync + '_ {
    move |b| shape_emission(physical, changelog, b)
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::datagen::trades::TradesGenerator;
    use crate::{Engine, QueryOptions};

    /// One query shape per path a batch takes through `push_checked`.
    const SHAPES: [&str; 6] = [
        "SELECT symbol, price FROM trades WHERE price > 120",
        "SELECT symbol, COUNT(*) AS n FROM trades GROUP BY symbol",
        "SELECT symbol, COUNT(*) AS n FROM trades GROUP BY symbol \
         WINDOW TUMBLING(ts, INTERVAL '1' SECOND) EMIT FINAL",
        "SELECT symbol, COUNT(*) AS n FROM trades GROUP BY symbol \
         WINDOW SESSION(ts, INTERVAL '1' SECOND) EMIT FINAL",
        "SELECT symbol, AVG(price) OVER (PARTITION BY symbol ORDER BY ts \
         ROWS BETWEEN 9 PRECEDING AND CURRENT ROW) AS m FROM trades",
        "SELECT symbol, SUM(quantity) OVER (PARTITION BY symbol ORDER BY ts \
         ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS q FROM trades",
    ];

    fn call(batches: usize) -> Vec<RecordBatch> {
        let g = TradesGenerator::new(batches as u64 * 1_000, 1_000, 7, 0);
        (0..batches)
            .map(|b| g.batch_at(b as u64 * 1_000, 1_000))
            .collect()
    }

    fn query(sql: &str, partitions: usize) -> Query {
        Engine::with_partitions(partitions)
            .with_min_parallel_rows(0)
            .query(
                sql,
                &[("trades", TradesGenerator::schema())],
                QueryOptions::default(),
            )
            .expect("query")
    }

    /// Every batch is checked once, whichever path it takes (one or two partitions; the
    /// windowed path with its pass over the event-time spans too), and the results are
    /// those of a push without a check.
    #[test]
    fn push_checked_checks_every_batch_once() {
        for sql in SHAPES {
            for partitions in [1, 2] {
                for exact in [false, true] {
                    let batches = call(12);
                    let mut q = query(sql, partitions);
                    q.exact_screening = u32::from(exact);
                    let seen: Vec<AtomicUsize> =
                        (0..batches.len()).map(|_| AtomicUsize::new(0)).collect();
                    let check = |i: usize, _: &RecordBatch| {
                        seen[i].fetch_add(1, Ordering::Relaxed);
                        Ok(())
                    };
                    let got = q.push_checked("trades", batches.clone(), Some(&check));
                    let want = query(sql, partitions).push_batches("trades", batches);
                    assert_eq!(got.expect("checked"), want.expect("unchecked"), "{sql}");
                    let counts: Vec<usize> =
                        seen.iter().map(|c| c.load(Ordering::Relaxed)).collect();
                    assert_eq!(
                        counts,
                        vec![1; 12],
                        "{sql}, {partitions} partitions, exact {exact}"
                    );
                }
            }
        }
    }

    /// A batch that fails its check fails the call with the check's error: the first
    /// failing batch in input order, whatever thread met which first.
    #[test]
    fn the_first_failing_check_in_input_order_is_the_error() {
        for sql in SHAPES {
            for partitions in [1, 2] {
                let mut q = query(sql, partitions);
                let check = |i: usize, _: &RecordBatch| match i {
                    5 | 9 => Err(Error::execution(format!("batch {i} is corrupt"))),
                    _ => Ok(()),
                };
                let e = q
                    .push_checked("trades", call(12), Some(&check))
                    .expect_err("a corrupt batch");
                assert!(e.to_string().contains("batch 5 is corrupt"), "{sql}: {e}");
            }
        }
    }
}
