//! The streaming clauses that standard SQL lacks, as found by the pre-pass:
//! window specifications (Velostream `WINDOW ...` clause or a Flink window TVF), the
//! `EMIT` mode and the trailing `WITH (...)` query options.

use std::fmt;

use crate::error::SqlPosition;

/// When results of an aggregation leave the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmitMode {
    /// After each input batch, the groups that batch changed (an upsert changelog).
    Changes,
    /// Once per (window, group) when the window closes (or at end of input).
    Final,
}

impl fmt::Display for EmitMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EmitMode::Changes => "EMIT CHANGES",
            EmitMode::Final => "EMIT FINAL",
        })
    }
}

/// The shape of an event-time window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WindowKind {
    /// Fixed, non-overlapping windows of `size_ms`.
    Tumbling {
        /// Window length.
        size_ms: i64,
        /// Shift of the window grid from the epoch.
        offset_ms: i64,
    },
    /// Windows of `size_ms` starting every `slide_ms` (HOP / SLIDING / HOPPING).
    Sliding {
        /// Window length.
        size_ms: i64,
        /// Distance between window starts.
        slide_ms: i64,
        /// Shift of the window grid from the epoch.
        offset_ms: i64,
    },
    /// Per-key sessions closed by a gap of inactivity.
    Session {
        /// Inactivity gap.
        gap_ms: i64,
    },
}

impl fmt::Display for WindowKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WindowKind::Tumbling { size_ms, offset_ms } => {
                write!(f, "TUMBLING(size={size_ms}ms")?;
                if *offset_ms != 0 {
                    write!(f, ", offset={offset_ms}ms")?;
                }
                write!(f, ")")
            }
            WindowKind::Sliding {
                size_ms,
                slide_ms,
                offset_ms,
            } => {
                write!(f, "SLIDING(size={size_ms}ms, slide={slide_ms}ms")?;
                if *offset_ms != 0 {
                    write!(f, ", offset={offset_ms}ms")?;
                }
                write!(f, ")")
            }
            WindowKind::Session { gap_ms } => write!(f, "SESSION(gap={gap_ms}ms)"),
        }
    }
}

/// Which surface syntax declared the window (it decides the names of the window
/// bound columns: `_window_start` or `window_start`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowSyntax {
    /// `WINDOW TUMBLING(...)` clause.
    Clause,
    /// `FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), ...))`.
    TableFunction,
}

/// A window declared by the query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowSpec {
    /// Shape and sizes.
    pub kind: WindowKind,
    /// Event-time column named in the clause, if any.
    pub time_column: Option<String>,
    /// `SESSION(TABLE t PARTITION BY k, ...)` keys (TVF form only).
    pub partition_by: Vec<String>,
    /// How it was written.
    pub syntax: WindowSyntax,
    /// Where it was written.
    pub position: SqlPosition,
}

/// One `'key' = 'value'` entry of the trailing `WITH (...)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryOption {
    /// Option name, e.g. `event.time.field`.
    pub key: String,
    /// Option value as written.
    pub value: String,
    /// Where the key was written.
    pub position: SqlPosition,
}

/// The streaming clauses of one query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamingClauses {
    /// The window, from either syntax.
    pub window: Option<WindowSpec>,
    /// `EMIT CHANGES` / `EMIT FINAL`, with its position.
    pub emit: Option<(EmitMode, SqlPosition)>,
    /// `WITH (...)` options in order.
    pub options: Vec<QueryOption>,
}
