//! Planning of event-time windows: which window a query declares (a `WINDOW` clause, a
//! window TVF, or a group-window function in GROUP BY), its event-time column, and its
//! sizes in the unit of that column.
//!
//! ```text
//!  WINDOW TUMBLING(ts, 1m) ─┐
//!  TABLE(TUMBLE(TABLE t, …)) ├─▶ WindowKind (ms) + time column ─▶ WindowPlan (column unit)
//!  GROUP BY TUMBLE(ts, 1m) ──┘
//! ```

use arrow::datatypes::{DataType, TimeUnit};
use sqlparser::ast::{self, Expr as SqlExpr, FunctionArg, FunctionArgExpr, FunctionArguments};

use super::expr_planner::position_of;
use super::scope::{Lookup, Scope, closest, did_you_mean};
use crate::error::{Error, Result};
use crate::expr::types::sql_type_name;
use crate::sql::WindowKind;
use crate::sql::duration::parse_duration_ms;

/// A window in the unit of its event-time column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowPlan {
    /// Shape, with sizes in milliseconds as written.
    pub kind: WindowKind,
    /// Event-time column index in the input.
    pub time_index: usize,
    /// Event-time column name.
    pub time_name: String,
    /// Its type (`Timestamp(_)` or `Int64` epoch milliseconds); also the type of the
    /// window bound columns.
    pub time_type: DataType,
    /// Event-time units per millisecond (1000 for microseconds); 0 for seconds, whose
    /// durations must be whole seconds.
    pub units_per_ms: i64,
}

impl WindowPlan {
    /// Converts a duration in milliseconds to the column's unit.
    ///
    /// # Errors
    /// A duration finer than a seconds column can hold, or an overflow.
    pub fn to_units(&self, ms: i64, what: &str) -> Result<i64> {
        if self.units_per_ms == 0 {
            if ms % 1000 != 0 {
                return Err(Error::plan(format!(
                    "{what} of {ms}ms is finer than the event-time column \"{}\" (TIMESTAMP in seconds)",
                    self.time_name
                )));
            }
            return Ok(ms / 1000);
        }
        ms.checked_mul(self.units_per_ms).ok_or_else(|| {
            Error::plan(format!(
                "{what} of {ms}ms overflows the unit of \"{}\"",
                self.time_name
            ))
        })
    }
}

/// Event-time units per millisecond for a supported time column type (0 for seconds).
pub fn units_per_ms(t: &DataType) -> Option<i64> {
    match t {
        DataType::Int64 | DataType::Timestamp(TimeUnit::Millisecond, _) => Some(1),
        DataType::Timestamp(TimeUnit::Second, _) => Some(0),
        DataType::Timestamp(TimeUnit::Microsecond, _) => Some(1_000),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => Some(1_000_000),
        _ => None,
    }
}

/// Resolves the event-time column of a window.
///
/// # Errors
/// No column named (neither in the window nor by option), an unknown column, or a
/// column that is not a timestamp / epoch-milliseconds BIGINT.
pub fn plan_window(
    kind: WindowKind,
    column: Option<&str>,
    option_column: Option<&str>,
    scope: &Scope,
    input_name: &str,
) -> Result<WindowPlan> {
    let Some(name) = column.or(option_column) else {
        return Err(Error::plan(format!(
            "window {kind} needs an event-time column: name it in the window (e.g. TUMBLING(ts, 1m)) or set it with --event-time / WITH ('event.time.field' = 'ts')"
        )));
    };
    let c = match scope.lookup(None, name, false) {
        Lookup::Found(c) => c,
        _ => {
            return Err(Error::plan(format!(
                "unknown event-time column \"{name}\" in {input_name}{}",
                did_you_mean(closest(name, scope.columns.iter().map(|c| c.name.as_str())))
            )));
        }
    };
    let Some(units) = units_per_ms(&c.data_type) else {
        return Err(Error::plan(format!(
            "event-time column \"{}\" is {}; a window needs a TIMESTAMP or a BIGINT of epoch milliseconds",
            c.name,
            sql_type_name(&c.data_type)
        )));
    };
    Ok(WindowPlan {
        kind,
        time_index: c.index,
        time_name: c.name.clone(),
        time_type: c.data_type.clone(),
        units_per_ms: units,
    })
}

/// Checks the sizes of a window.
///
/// # Errors
/// A slide that exceeds or does not divide the size, a zero size.
pub fn validate_kind(kind: &WindowKind) -> Result<()> {
    match *kind {
        WindowKind::Tumbling { size_ms, .. } if size_ms <= 0 => {
            Err(Error::plan("window size must be greater than zero"))
        }
        WindowKind::Sliding {
            size_ms, slide_ms, ..
        } => {
            if size_ms <= 0 || slide_ms <= 0 {
                return Err(Error::plan(
                    "sliding window size and advance must be greater than zero",
                ));
            }
            if slide_ms > size_ms {
                return Err(Error::plan(format!(
                    "sliding window advance ({slide_ms}ms) must not exceed its size ({size_ms}ms)"
                )));
            }
            if size_ms % slide_ms != 0 {
                return Err(Error::plan(format!(
                    "sliding window size ({size_ms}ms) must be a whole multiple of its advance ({slide_ms}ms)"
                )));
            }
            Ok(())
        }
        WindowKind::Session { gap_ms } if gap_ms <= 0 => {
            Err(Error::plan("session gap must be greater than zero"))
        }
        _ => Ok(()),
    }
}

/// A group-window function in GROUP BY (`TUMBLE(ts, size [, offset])`,
/// `HOP(ts, slide, size [, offset])`, `SESSION(ts, gap)`): the window and its column.
/// `None` when `e` is not one.
///
/// # Errors
/// Wrong arguments, bad durations.
pub fn group_window_function(e: &SqlExpr) -> Result<Option<(WindowKind, String)>> {
    let SqlExpr::Function(f) = e else {
        return Ok(None);
    };
    if f.over.is_some() {
        return Ok(None);
    }
    let name = f.name.to_string().to_ascii_uppercase();
    if !matches!(name.as_str(), "TUMBLE" | "HOP" | "SESSION") {
        return Ok(None);
    }
    let args: Vec<&SqlExpr> = match &f.args {
        FunctionArguments::List(list) => list
            .args
            .iter()
            .filter_map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) => Some(x),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let at = position_of(e);
    let column = match args.first() {
        Some(SqlExpr::Identifier(id)) => id.value.clone(),
        Some(SqlExpr::CompoundIdentifier(p)) if !p.is_empty() => {
            p.last().map(|x| x.value.clone()).unwrap_or_default()
        }
        _ => {
            return Err(Error::sql(
                format!("{name} in GROUP BY needs the event-time column as its first argument"),
                at,
            ));
        }
    };
    let durations = args[1..]
        .iter()
        .map(|a| sql_duration_ms(a))
        .collect::<Result<Vec<i64>>>()?;
    let kind = match (name.as_str(), durations.as_slice()) {
        ("TUMBLE", [size]) => WindowKind::Tumbling {
            size_ms: *size,
            offset_ms: 0,
        },
        ("TUMBLE", [size, offset]) => WindowKind::Tumbling {
            size_ms: *size,
            offset_ms: *offset,
        },
        ("HOP", [slide, size]) => WindowKind::Sliding {
            size_ms: *size,
            slide_ms: *slide,
            offset_ms: 0,
        },
        ("HOP", [slide, size, offset]) => WindowKind::Sliding {
            size_ms: *size,
            slide_ms: *slide,
            offset_ms: *offset,
        },
        ("SESSION", [gap]) => WindowKind::Session { gap_ms: *gap },
        _ => {
            let form = match name.as_str() {
                "TUMBLE" => "TUMBLE(time_column, size [, offset])",
                "HOP" => "HOP(time_column, slide, size [, offset])",
                _ => "SESSION(time_column, gap)",
            };
            return Err(Error::sql(format!("{name} expects {form}"), at));
        }
    };
    validate_kind(&kind).map_err(|err| match err {
        Error::Plan(m) => Error::sql(m, at),
        other => other,
    })?;
    Ok(Some((kind, column)))
}

/// A duration written as an SQL expression: `INTERVAL '1' MINUTE`, `INTERVAL '5 seconds'`,
/// `'5s'`, or `0`.
fn sql_duration_ms(e: &SqlExpr) -> Result<i64> {
    let text = match e {
        SqlExpr::Interval(iv) => {
            let value = match iv.value.as_ref() {
                SqlExpr::Value(v) => match &v.value {
                    ast::Value::SingleQuotedString(s) | ast::Value::Number(s, _) => s.clone(),
                    other => other.to_string(),
                },
                other => other.to_string(),
            };
            match &iv.leading_field {
                Some(f) => format!("{value} {f}"),
                None => value,
            }
        }
        SqlExpr::Value(v) => match &v.value {
            ast::Value::SingleQuotedString(s) | ast::Value::Number(s, _) => s.clone(),
            other => other.to_string(),
        },
        other => other.to_string(),
    };
    parse_duration_ms(&text).map_err(|m| Error::sql(m, position_of(e)))
}
