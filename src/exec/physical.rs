//! The physical plan: the logical tree flattened into the linear operator pipeline of
//! SPEC §5:
//!
//! ```text
//!  scan → pre  (WHERE + SELECT, or WHERE + [keys | aggregate args | FILTER masks])
//!       → aggregate (hash aggregation, EMIT CHANGES / FINAL)        [aggregate queries]
//!       → post (SELECT over [keys | aggregates])                    [aggregate queries]
//!       → sort (ORDER BY, per emission) → limit
//! ```

use std::fmt::Write;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use super::filter_project::FilterProject;
use super::hash_aggregate::{AggregateSpec, CallLayout};
use super::window::{WindowExec, WindowShape};
use crate::error::{Error, Result};
use crate::expr::Expr;
use crate::plan::logical::SortKey;
use crate::plan::{LogicalPlan, QueryPlan};

/// `LIMIT`/`OFFSET` over the whole output stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitSpec {
    /// Rows skipped first.
    pub skip: usize,
    /// Rows kept after that.
    pub fetch: Option<usize>,
}

/// The operator pipeline of one query.
#[derive(Debug, Clone)]
pub struct PhysicalPlan {
    /// The schema of the input the query reads.
    pub input_schema: SchemaRef,
    /// WHERE + SELECT, or WHERE + the aggregate's inputs.
    pub pre: FilterProject,
    /// Hash aggregation.
    pub aggregate: Option<AggregateSpec>,
    /// SELECT over the aggregate's output.
    pub post: Option<FilterProject>,
    /// ORDER BY, applied to each emission.
    pub sort: Vec<SortKey>,
    /// LIMIT / OFFSET.
    pub limit: Option<LimitSpec>,
    /// Schema of every result batch.
    pub output_schema: SchemaRef,
    /// ROWS-window analytics (between `pre` and `post`).
    pub analytic: Option<super::analytic::AnalyticSpec>,
}

impl PhysicalPlan {
    /// Builds the pipeline for a logical plan.
    ///
    /// # Errors
    /// [`Error::Internal`] for a plan shape the planner should not produce.
    pub fn from_logical(plan: &QueryPlan) -> Result<PhysicalPlan> {
        let mut node = &plan.root;
        let mut limit = None;
        if let LogicalPlan::Limit { input, skip, fetch } = node {
            limit = Some(LimitSpec {
                skip: *skip,
                fetch: *fetch,
            });
            node = input;
        }
        let mut sort = Vec::new();
        if let LogicalPlan::Sort { input, keys } = node {
            sort = keys.clone();
            node = input;
        }
        let LogicalPlan::Projection {
            input,
            exprs,
            schema,
        } = node
        else {
            return Err(Error::internal(
                "expected a projection at the top of the plan",
            ));
        };
        if let LogicalPlan::Analytic { .. } = input.as_ref() {
            return super::analytic::plan_physical(plan, input, exprs, schema, sort, limit);
        }
        let mut below = input.as_ref();
        let mut having = None;
        if let LogicalPlan::Filter { input, predicate } = below
            && matches!(input.as_ref(), LogicalPlan::Aggregate { .. })
        {
            having = Some(predicate.clone());
            below = input;
        }
        let aggregate_node = match below {
            LogicalPlan::Aggregate {
                input,
                keys,
                calls,
                emit,
                window,
                schema,
            } => {
                below = input;
                Some((keys, calls, *emit, window, schema))
            }
            _ => None,
        };
        let (predicate, scan) = match below {
            LogicalPlan::Filter { input, predicate } => (Some(predicate.clone()), input.as_ref()),
            other => (None, other),
        };
        let LogicalPlan::Scan {
            schema: input_schema,
            ..
        } = scan
        else {
            return Err(Error::internal("expected a scan at the bottom of the plan"));
        };
        let Some((keys, calls, emit, window, agg_schema)) = aggregate_node else {
            return Ok(PhysicalPlan {
                input_schema: input_schema.clone(),
                pre: FilterProject::new(input_schema, predicate, exprs.clone(), schema.clone()),
                aggregate: None,
                post: None,
                sort,
                limit,
                output_schema: schema.clone(),
                analytic: None,
            });
        };

        // pre-projection: [keys | args of each call | FILTER of each call]
        let mut pre_exprs: Vec<Expr> = keys.iter().map(|k| k.expr.clone()).collect();
        let mut layouts = Vec::with_capacity(calls.len());
        for c in calls {
            let mut args = Vec::with_capacity(c.args.len());
            for a in &c.args {
                args.push(pre_exprs.len());
                pre_exprs.push(a.clone());
            }
            let filter = c.filter.as_ref().map(|f| {
                pre_exprs.push(f.clone());
                pre_exprs.len() - 1
            });
            layouts.push(CallLayout {
                func: c.func,
                args,
                arg_types: c.args.iter().map(Expr::data_type).collect(),
                filter,
            });
        }
        let window = match window {
            Some(w) => {
                pre_exprs.push(Expr::Column {
                    index: w.time_index,
                    name: w.time_name.clone(),
                    data_type: w.time_type.clone(),
                });
                Some(WindowExec::from_plan(
                    w,
                    pre_exprs.len() - 1,
                    plan.options.watermark_delay_ms,
                    plan.options.collect_late_rows,
                )?)
            }
            None => None,
        };
        let pre_schema = Arc::new(Schema::new(
            pre_exprs
                .iter()
                .enumerate()
                .map(|(i, e)| Field::new(format!("#{i}"), e.data_type(), true))
                .collect::<Vec<_>>(),
        ));
        let changelog = plan.options.changelog;
        let op_field = || Arc::new(Field::new("_op", DataType::Utf8, false));
        let mut agg_fields: Vec<Arc<Field>> = agg_schema.fields().iter().cloned().collect();
        let mut out_fields: Vec<Arc<Field>> = schema.fields().iter().cloned().collect();
        if changelog {
            agg_fields.push(op_field());
            out_fields.push(op_field());
        }
        let spec = AggregateSpec {
            key_types: keys.iter().map(|k| k.expr.data_type()).collect(),
            calls: layouts,
            emit,
            having,
            changelog,
            schema: Arc::new(Schema::new(agg_fields)),
            memory_limit_bytes: plan.options.memory_limit_bytes,
            window,
        };
        Ok(PhysicalPlan {
            input_schema: input_schema.clone(),
            pre: FilterProject::new(input_schema, predicate, pre_exprs, pre_schema),
            aggregate: Some(spec),
            post: Some(FilterProject::new(
                agg_schema,
                None,
                exprs.clone(),
                schema.clone(),
            )),
            sort,
            limit,
            output_schema: Arc::new(Schema::new(out_fields)),
            analytic: None,
        })
    }

    /// The pipeline as text, for `velo explain`.
    pub fn explain(&self, partitions: usize) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "ScanExec: batches as they arrive");
        let mut pad = "  ".to_string();
        let what = if self.aggregate.is_some() {
            "aggregate inputs"
        } else if self.analytic.is_some() {
            "analytic inputs"
        } else {
            "output columns"
        };
        match self.pre.predicate() {
            Some(p) => {
                let _ = writeln!(
                    out,
                    "{pad}FilterProjectExec: filter={p}, {} {what} (parallel across batches, order kept)",
                    self.pre.schema().fields().len()
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "{pad}ProjectExec: {} {what} (parallel across batches, order kept)",
                    self.pre.schema().fields().len()
                );
            }
        }
        if let Some(a) = &self.aggregate {
            pad.push_str("  ");
            let names: Vec<String> = a.calls.iter().map(|c| format!("{:?}", c.func)).collect();
            let parts = if a.key_types.is_empty() {
                1
            } else {
                partitions
            };
            if let Some(w) = &a.window {
                let shape = match w.shape {
                    WindowShape::Panes { size, slide, .. } if size == slide => {
                        format!("tumbling size={size} (one pane per window)")
                    }
                    WindowShape::Panes {
                        size, slide, pane, ..
                    } => format!(
                        "sliding size={size} slide={slide}, panes of {pane} merged on emission"
                    ),
                    WindowShape::Session { gap } => format!("session gap={gap}, per key"),
                };
                let _ = writeln!(
                    out,
                    "{pad}WindowAssignExec: {shape} (units of the event-time column), watermark = max(event time) - {}, late rows dropped and counted",
                    w.delay
                );
            }
            let _ = writeln!(
                out,
                "{pad}HashAggregateExec: {} keys, [{}], {}, {parts} key partitions{}{}",
                a.key_types.len(),
                names.join(", "),
                a.emit,
                if a.having.is_some() { ", HAVING" } else { "" },
                if a.changelog { ", changelog (_op)" } else { "" },
            );
            if let Some(p) = &self.post {
                pad.push_str("  ");
                let _ = writeln!(
                    out,
                    "{pad}ProjectExec: {} output columns",
                    p.schema().fields().len()
                );
            }
        }
        if let Some(a) = &self.analytic {
            pad.push_str("  ");
            let _ = writeln!(
                out,
                "{pad}AnalyticExec: {} calls over {} windows, {partitions} key partitions (state per key, input order kept)",
                a.calls.len(),
                a.windows.len(),
            );
            if let Some(p) = &self.post {
                pad.push_str("  ");
                let _ = writeln!(
                    out,
                    "{pad}ProjectExec: {} output columns",
                    p.schema().fields().len()
                );
            }
        }
        if !self.sort.is_empty() {
            pad.push_str("  ");
            let _ = writeln!(out, "{pad}SortExec: {} keys, per emission", self.sort.len());
        }
        if let Some(l) = self.limit {
            pad.push_str("  ");
            let _ = writeln!(out, "{pad}LimitExec: skip={}, fetch={:?}", l.skip, l.fetch);
        }
        out
    }
}
