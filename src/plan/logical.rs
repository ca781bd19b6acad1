//! The logical plan: a small tree of relational nodes over one streaming input.

use arrow::datatypes::SchemaRef;

use crate::expr::Expr;
pub use crate::plan::aggregate::{AggregateCall, GroupKey};
pub use crate::plan::analytic::{AnalyticCall, AnalyticWindow};
pub use crate::plan::window::WindowPlan;

/// One ORDER BY key over an emission's columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortKey {
    /// Output column index.
    pub column: usize,
    /// `DESC`.
    pub descending: bool,
    /// `NULLS FIRST`.
    pub nulls_first: bool,
}
use crate::sql::EmitMode;

/// A node of the logical plan.
#[derive(Debug, Clone)]
pub enum LogicalPlan {
    /// The streaming input.
    Scan {
        /// Registered input name.
        table: String,
        /// Its schema.
        schema: SchemaRef,
    },
    /// Keeps the rows where `predicate` is true.
    Filter {
        /// Input node.
        input: Box<LogicalPlan>,
        /// A BOOLEAN expression over the input's columns.
        predicate: Expr,
    },
    /// Computes the output columns.
    Projection {
        /// Input node.
        input: Box<LogicalPlan>,
        /// One expression per output column.
        exprs: Vec<Expr>,
        /// Output schema (names from aliases or expression text).
        schema: SchemaRef,
    },
    /// Hash aggregation: one row per group (keys, then aggregate results).
    Aggregate {
        /// Input node.
        input: Box<LogicalPlan>,
        /// GROUP BY keys (empty: one global group).
        keys: Vec<GroupKey>,
        /// Aggregate calls.
        calls: Vec<AggregateCall>,
        /// When groups are emitted.
        emit: EmitMode,
        /// Event-time window: its bounds then lead the output.
        window: Option<WindowPlan>,
        /// Output schema: [window_start, window_end,] keys, then aggregate results.
        schema: SchemaRef,
    },
    /// Sorts each emission.
    Sort {
        /// Input node.
        input: Box<LogicalPlan>,
        /// Sort keys over the input's columns.
        keys: Vec<SortKey>,
    },
    /// ROWS-window analytics: the input's columns, then one column per call (one output
    /// row per input row, in input order).
    Analytic {
        /// Input node.
        input: Box<LogicalPlan>,
        /// Partitioning and ordering of the calls.
        windows: Vec<AnalyticWindow>,
        /// The calls.
        calls: Vec<AnalyticCall>,
        /// Output schema: the input's fields, then the calls' results.
        schema: SchemaRef,
    },
    /// `LIMIT fetch OFFSET skip` over the whole output stream.
    Limit {
        /// Input node.
        input: Box<LogicalPlan>,
        /// Rows skipped first.
        skip: usize,
        /// Rows kept after that (None: all).
        fetch: Option<usize>,
    },
}

impl LogicalPlan {
    /// The schema of the rows this node produces.
    pub fn schema(&self) -> SchemaRef {
        match self {
            LogicalPlan::Scan { schema, .. }
            | LogicalPlan::Projection { schema, .. }
            | LogicalPlan::Aggregate { schema, .. }
            | LogicalPlan::Analytic { schema, .. } => schema.clone(),
            LogicalPlan::Filter { input, .. }
            | LogicalPlan::Limit { input, .. }
            | LogicalPlan::Sort { input, .. } => input.schema(),
        }
    }
}

/// Options after merging the query's `WITH (...)`, the caller's options and defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvedOptions {
    /// Emission mode, when the query aggregates.
    pub emit: Option<EmitMode>,
    /// Event-time column.
    pub event_time: Option<String>,
    /// Watermark delay in milliseconds.
    pub watermark_delay_ms: i64,
    /// `_op` column on EMIT CHANGES output.
    pub changelog: bool,
    /// State memory limit.
    pub memory_limit_bytes: Option<usize>,
    /// Keep late rows for the late sink.
    pub collect_late_rows: bool,
}

/// A planned query.
#[derive(Debug, Clone)]
pub struct QueryPlan {
    /// The plan tree.
    pub root: LogicalPlan,
    /// The input the query reads.
    pub input: String,
    /// Resolved options.
    pub options: ResolvedOptions,
}
