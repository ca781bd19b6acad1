//! Planning of aggregate queries: GROUP BY keys, the aggregate calls found in SELECT,
//! HAVING and ORDER BY, and the rewrite of those clauses over the aggregate's output.
//!
//! ```text
//!  input row ─▶ [key exprs] [agg args] [FILTER masks]      (pre-projection, per batch)
//!            ─▶ HashAggregate: groups → [keys..., aggregates...]   (one row per group)
//!            ─▶ HAVING + SELECT planned over that layout          (post-projection)
//! ```
//! While SELECT and HAVING are planned in aggregate mode, an aggregate call becomes a
//! reference to its output slot (identical calls share a slot), an expression equal to a
//! GROUP BY key becomes a reference to that key, and any other column is an error.

use std::cell::RefCell;

use arrow::datatypes::DataType;
use sqlparser::ast::{self, Expr as SqlExpr, FunctionArg, FunctionArgExpr, FunctionArguments};

use super::expr_planner::{AGGREGATE_NAMES, ExprPlanner, cast_to};
use crate::aggregate::AggregateFunction;
use crate::error::{Error, Result};
use crate::expr::Expr;
use crate::expr::types::sql_type_name;

/// One aggregate call of the query.
#[derive(Debug, Clone)]
pub struct AggregateCall {
    /// The function.
    pub func: AggregateFunction,
    /// Argument expressions over the input (empty for `COUNT(*)`).
    pub args: Vec<Expr>,
    /// `FILTER (WHERE ...)` over the input.
    pub filter: Option<Expr>,
    /// Result type.
    pub data_type: DataType,
    /// SQL text (for EXPLAIN and deduplication).
    pub text: String,
}

/// One GROUP BY key.
#[derive(Debug, Clone)]
pub struct GroupKey {
    /// Key expression over the input.
    pub expr: Expr,
    /// SQL text as written (normalised), to recognise it in SELECT/HAVING.
    pub text: String,
    /// Output name.
    pub name: String,
}

/// The aggregate context of the expression planner.
#[derive(Debug, Default)]
pub struct AggContext {
    /// GROUP BY keys, in order: output slots `0..keys.len()`.
    pub keys: Vec<GroupKey>,
    /// Aggregate calls found so far: output slots `keys.len()..`.
    pub calls: RefCell<Vec<AggregateCall>>,
    /// SELECT aliases usable in HAVING (`HAVING n > 1` for `COUNT(*) AS n`).
    pub aliases: Vec<(String, SqlExpr)>,
    /// Windowed: the type of the window bound columns, which then take output slots 0
    /// (`window_start`) and 1 (`window_end`) before the keys.
    pub window_type: Option<DataType>,
}

/// Names that refer to the window bounds in a windowed query (any syntax).
pub const WINDOW_START_NAMES: &[&str] = &["_window_start", "window_start"];
/// See [`WINDOW_START_NAMES`].
pub const WINDOW_END_NAMES: &[&str] = &["_window_end", "window_end"];
/// Group-window auxiliary functions (`TUMBLE_START(ts, size)`, ...): their arguments
/// repeat the window's.
pub const WINDOW_START_FUNCTIONS: &[&str] = &["TUMBLE_START", "HOP_START", "SESSION_START"];
/// See [`WINDOW_START_FUNCTIONS`].
pub const WINDOW_END_FUNCTIONS: &[&str] = &["TUMBLE_END", "HOP_END", "SESSION_END"];

/// Normalised SQL text of an expression, for matching GROUP BY keys.
pub fn normalized_text(e: &SqlExpr) -> String {
    e.to_string().to_ascii_lowercase()
}

/// True when `name` is an aggregate function name.
pub fn is_aggregate_name(name: &str) -> bool {
    AGGREGATE_NAMES.contains(&name.to_ascii_uppercase().as_str())
}

/// True when the expression contains an aggregate call (not inside OVER).
pub fn contains_aggregate(e: &SqlExpr) -> bool {
    let mut found = false;
    walk(e, &mut |x| {
        if let SqlExpr::Function(f) = x
            && f.over.is_none()
            && is_aggregate_name(&f.name.to_string())
        {
            found = true;
        }
    });
    found
}

/// Calls `f` on `e` and every sub-expression of the kinds the planner accepts.
fn walk(e: &SqlExpr, f: &mut dyn FnMut(&SqlExpr)) {
    f(e);
    match e {
        SqlExpr::BinaryOp { left, right, .. } => {
            walk(left, f);
            walk(right, f);
        }
        SqlExpr::UnaryOp { expr, .. }
        | SqlExpr::Nested(expr)
        | SqlExpr::IsNull(expr)
        | SqlExpr::IsNotNull(expr)
        | SqlExpr::IsTrue(expr)
        | SqlExpr::IsNotTrue(expr)
        | SqlExpr::IsFalse(expr)
        | SqlExpr::IsNotFalse(expr)
        | SqlExpr::Cast { expr, .. }
        | SqlExpr::Extract { expr, .. }
        | SqlExpr::Ceil { expr, .. }
        | SqlExpr::Floor { expr, .. } => walk(expr, f),
        SqlExpr::IsDistinctFrom(a, b) | SqlExpr::IsNotDistinctFrom(a, b) => {
            walk(a, f);
            walk(b, f);
        }
        SqlExpr::Between {
            expr, low, high, ..
        } => {
            walk(expr, f);
            walk(low, f);
            walk(high, f);
        }
        SqlExpr::In {
            expr,
            target: ast::InTarget::List(list),
            ..
        } => {
            walk(expr, f);
            list.iter().for_each(|x| walk(x, f));
        }
        SqlExpr::Like { expr, pattern, .. } | SqlExpr::ILike { expr, pattern, .. } => {
            walk(expr, f);
            walk(pattern, f);
        }
        SqlExpr::Case {
            operand,
            conditions,
            else_result,
            ..
        } => {
            if let Some(o) = operand {
                walk(o, f);
            }
            for c in conditions {
                walk(&c.condition, f);
                walk(&c.result, f);
            }
            if let Some(x) = else_result {
                walk(x, f);
            }
        }
        SqlExpr::Substring {
            expr,
            substring_from,
            substring_for,
            ..
        } => {
            walk(expr, f);
            if let Some(x) = substring_from {
                walk(x, f);
            }
            if let Some(x) = substring_for {
                walk(x, f);
            }
        }
        SqlExpr::Trim {
            expr, trim_what, ..
        } => {
            walk(expr, f);
            if let Some(x) = trim_what {
                walk(x, f);
            }
        }
        SqlExpr::Function(func) => {
            if let FunctionArguments::List(list) = &func.args {
                for a in &list.args {
                    if let FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) = a {
                        walk(x, f);
                    }
                }
            }
        }
        _ => {}
    }
}

impl AggContext {
    /// Output slots taken by the window bounds (0 or 2).
    pub fn window_slots(&self) -> usize {
        if self.window_type.is_some() { 2 } else { 0 }
    }

    /// The output slot of a key whose text is `text`.
    pub fn key_slot(&self, text: &str) -> Option<usize> {
        self.keys
            .iter()
            .position(|k| k.text == text)
            .map(|i| i + self.window_slots())
    }

    /// The output slot of a key that is exactly input column `index`.
    pub fn key_slot_of_column(&self, index: usize) -> Option<usize> {
        self.keys
            .iter()
            .position(|k| matches!(k.expr, Expr::Column { index: i, .. } if i == index))
            .map(|i| i + self.window_slots())
    }

    /// The window bound slot an expression names (`_window_start`, `window_end`,
    /// `TUMBLE_START(...)`, ...), in a windowed query.
    pub fn window_slot(&self, e: &SqlExpr) -> Option<usize> {
        self.window_type.as_ref()?;
        let is = |names: &[&str], n: &str| names.iter().any(|x| x.eq_ignore_ascii_case(n));
        match e {
            SqlExpr::Identifier(id) => {
                if is(WINDOW_START_NAMES, &id.value) {
                    Some(0)
                } else if is(WINDOW_END_NAMES, &id.value) {
                    Some(1)
                } else {
                    None
                }
            }
            SqlExpr::Function(f) if f.over.is_none() => {
                let name = f.name.to_string();
                if is(WINDOW_START_FUNCTIONS, &name) {
                    Some(0)
                } else if is(WINDOW_END_FUNCTIONS, &name) {
                    Some(1)
                } else {
                    None
                }
            }
            SqlExpr::Nested(inner) => self.window_slot(inner),
            _ => None,
        }
    }

    /// A reference to output slot `slot`.
    pub fn slot_expr(&self, slot: usize) -> Expr {
        let w = self.window_slots();
        if let (Some(t), true) = (&self.window_type, slot < w) {
            Expr::Column {
                index: slot,
                name: if slot == 0 {
                    "window_start"
                } else {
                    "window_end"
                }
                .to_string(),
                data_type: t.clone(),
            }
        } else if slot < w + self.keys.len() {
            let k = &self.keys[slot - w];
            Expr::Column {
                index: slot,
                name: k.name.clone(),
                data_type: crate::aggregate::emitted_key_type(&k.expr.data_type()),
            }
        } else {
            let calls = self.calls.borrow();
            let c = &calls[slot - w - self.keys.len()];
            Expr::Column {
                index: slot,
                name: c.text.clone(),
                data_type: c.data_type.clone(),
            }
        }
    }

    /// Plans an aggregate call (arguments over the input scope) and returns a reference
    /// to its output slot.
    ///
    /// # Errors
    /// Nested aggregates, wrong argument counts or types, a non-constant percentile.
    pub fn plan_call(&self, input: &ExprPlanner<'_>, f: &ast::Function) -> Result<Expr> {
        let name = f.name.to_string().to_ascii_uppercase();
        let text = f.to_string();
        if let Some(i) = self.calls.borrow().iter().position(|c| c.text == text) {
            return Ok(self.slot_expr(self.window_slots() + self.keys.len() + i));
        }
        let (args, distinct, star) = match &f.args {
            FunctionArguments::None => (Vec::new(), false, false),
            FunctionArguments::Subquery(_) => return Err(Error::not_supported("subqueries")),
            FunctionArguments::List(list) => {
                if !list.clauses.is_empty() {
                    return Err(Error::not_supported(format!(
                        "{name} with ORDER BY/LIMIT arguments"
                    )));
                }
                let distinct = matches!(
                    list.duplicate_treatment,
                    Some(ast::DuplicateTreatment::Distinct)
                );
                let mut star = false;
                let mut args = Vec::new();
                for a in &list.args {
                    match a {
                        FunctionArg::Unnamed(FunctionArgExpr::Wildcard) => star = true,
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) => {
                            if contains_aggregate(x) {
                                return Err(Error::plan(format!(
                                    "aggregate calls cannot be nested (inside {name})"
                                )));
                            }
                            args.push(input.plan(x)?);
                        }
                        other => {
                            return Err(Error::not_supported(format!(
                                "argument `{other}` of {name}"
                            )));
                        }
                    }
                }
                (args, distinct, star)
            }
        };
        let (func, args) = if star {
            if name != "COUNT" || !args.is_empty() {
                return Err(Error::plan(format!(
                    "{name}(*) is not allowed; only COUNT(*)"
                )));
            }
            (AggregateFunction::CountStar, args)
        } else if name == "APPROX_PERCENTILE" || name == "QUANTILE_CONT" {
            let [x, p] = <[Expr; 2]>::try_from(args).map_err(|_| {
                Error::plan("APPROX_PERCENTILE expects (value, fraction between 0 and 1)")
            })?;
            let fraction = constant_f64(&p).filter(|v| (0.0..=1.0).contains(v)).ok_or_else(|| {
                Error::plan("APPROX_PERCENTILE needs a constant fraction between 0 and 1 as its second argument")
            })?;
            (AggregateFunction::ApproxPercentile(fraction), vec![x])
        } else {
            if distinct && name != "COUNT" {
                return Err(Error::not_supported(format!(
                    "{name}(DISTINCT ...); only COUNT(DISTINCT x) is supported"
                )));
            }
            let func = AggregateFunction::from_name(&name, distinct)
                .ok_or_else(|| Error::plan(format!("unknown aggregate function {name}")))?;
            (func, args)
        };
        let arg_types: Vec<DataType> = args.iter().map(Expr::data_type).collect();
        let data_type = func.return_type(&arg_types)?;
        let filter = match &f.filter {
            Some(cond) => {
                if contains_aggregate(cond) {
                    return Err(Error::plan(format!(
                        "aggregate functions are not allowed in FILTER (WHERE ...) of {name}"
                    )));
                }
                let c = input.plan(cond)?;
                Some(match c.data_type() {
                    DataType::Boolean => c,
                    DataType::Null => cast_to(c, &DataType::Boolean)?,
                    other => {
                        return Err(Error::plan(format!(
                            "FILTER (WHERE ...) needs a BOOLEAN condition, got {}",
                            sql_type_name(&other)
                        )));
                    }
                })
            }
            None => None,
        };
        let mut calls = self.calls.borrow_mut();
        calls.push(AggregateCall {
            func,
            args,
            filter,
            data_type,
            text,
        });
        let slot = self.window_slots() + self.keys.len() + calls.len() - 1;
        drop(calls);
        Ok(self.slot_expr(slot))
    }
}

/// A constant numeric expression's value.
fn constant_f64(e: &Expr) -> Option<f64> {
    let Expr::Literal(v) = e else { return None };
    let f = arrow::compute::cast(v.as_ref(), &DataType::Float64).ok()?;
    let f = f.as_any().downcast_ref::<arrow::array::Float64Array>()?;
    (!arrow::array::Array::is_null(f, 0)).then(|| f.value(0))
}
