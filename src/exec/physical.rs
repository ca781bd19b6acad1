//! The physical plan: the logical tree flattened into the linear operator pipeline of
//! SPEC §5 (scan → filter/project → limit).

use std::fmt::Write;

use arrow::datatypes::SchemaRef;

use super::filter_project::FilterProject;
use crate::error::{Error, Result};
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
    /// WHERE + SELECT.
    pub stage: FilterProject,
    /// LIMIT / OFFSET.
    pub limit: Option<LimitSpec>,
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
        let (predicate, scan) = match input.as_ref() {
            LogicalPlan::Filter { input, predicate } => (Some(predicate.clone()), input.as_ref()),
            other => (None, other),
        };
        let LogicalPlan::Scan {
            schema: input_schema,
            ..
        } = scan
        else {
            return Err(Error::internal("expected a scan below the projection"));
        };
        Ok(PhysicalPlan {
            input_schema: input_schema.clone(),
            stage: FilterProject::new(input_schema, predicate, exprs.clone(), schema.clone()),
            limit,
        })
    }

    /// The pipeline as text, for `velo explain`.
    pub fn explain(&self, partitions: usize) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "ScanExec: batches as they arrive");
        match self.stage.predicate() {
            Some(p) => {
                let _ = writeln!(
                    out,
                    "  FilterProjectExec: filter={p}, {} output columns (parallel across batches, {partitions} threads, order kept)",
                    self.stage.schema().fields().len()
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "  ProjectExec: {} output columns (parallel across batches, {partitions} threads, order kept)",
                    self.stage.schema().fields().len()
                );
            }
        }
        if let Some(l) = self.limit {
            let _ = writeln!(out, "    LimitExec: skip={}, fetch={:?}", l.skip, l.fetch);
        }
        out
    }
}
