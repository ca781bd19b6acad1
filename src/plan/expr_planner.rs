//! sqlparser expressions to typed [`Expr`]s: name resolution, literal typing, implicit
//! casts (DuckDB's rules, see `expr::coerce`) and constant folding.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Decimal128Array, Float64Array, Int32Array, Int64Array,
    NullArray, RecordBatch, RecordBatchOptions, StringArray, new_empty_array,
};
use arrow::datatypes::{DataType, Schema};
use sqlparser::ast::{
    self, BinaryOperator, CastKind, DateTimeField, Expr as SqlExpr, FunctionArg, FunctionArgExpr,
    FunctionArguments, Spanned, UnaryOperator, Value,
};

use super::aggregate::AggContext;
use super::scope::{Lookup, Scope, closest, did_you_mean};
use super::sql_types::to_arrow_type;
use crate::error::{Error, Result, SqlPosition};
use crate::expr::coerce::{common_of, comparison_common, numeric_common};
use crate::expr::types::{is_numeric, is_string, sql_type_name, value_type};
use crate::expr::{BinaryOp, CastMode, ColumnarValue, Expr, cast, functions};

/// Aggregate function names (planned by the aggregation operator, not here).
pub const AGGREGATE_NAMES: &[&str] = &[
    "COUNT",
    "SUM",
    "AVG",
    "MIN",
    "MAX",
    "STDDEV",
    "STDDEV_SAMP",
    "STDDEV_POP",
    "VARIANCE",
    "VAR_SAMP",
    "VAR_POP",
    "FIRST_VALUE",
    "LAST_VALUE",
    "APPROX_COUNT_DISTINCT",
    "MEDIAN",
    "APPROX_PERCENTILE",
];

/// Analytic-only function names.
pub const ANALYTIC_NAMES: &[&str] = &["LAG", "LEAD", "ROW_NUMBER", "RANK", "DENSE_RANK"];

/// The position where an AST node starts.
pub fn position_of(e: &impl Spanned) -> SqlPosition {
    let s = e.span();
    SqlPosition {
        line: s.start.line,
        column: s.start.column,
    }
}

/// The position of an identifier.
pub fn ident_position(id: &ast::Ident) -> SqlPosition {
    SqlPosition {
        line: id.span.start.line,
        column: id.span.start.column,
    }
}

/// Attaches the position of `node` to a planning error that has none.
pub fn at(node: &impl Spanned, e: Error) -> Error {
    match e {
        Error::Plan(message) => Error::sql(message, position_of(node)),
        Error::NotSupported(message) => {
            Error::sql(format!("not supported: {message}"), position_of(node))
        }
        other => other,
    }
}

/// Plans expressions against one scope.
pub struct ExprPlanner<'a> {
    /// Visible columns.
    pub scope: &'a Scope,
    /// Set while planning SELECT / HAVING of an aggregate query: expressions are then
    /// planned over the aggregate's output (keys, then aggregate results).
    pub agg: Option<&'a AggContext>,
}

impl ExprPlanner<'_> {
    /// Plans one expression (with constant folding).
    ///
    /// # Errors
    /// [`Error::Sql`] with the position of the offending node.
    pub fn plan(&self, e: &SqlExpr) -> Result<Expr> {
        let planned = self.plan_inner(e)?;
        Ok(fold_constants(planned))
    }

    fn plan_inner(&self, e: &SqlExpr) -> Result<Expr> {
        self.plan_node(e).map_err(|err| at(e, err))
    }

    fn plan_node(&self, e: &SqlExpr) -> Result<Expr> {
        if let Some(agg) = self.agg {
            if let Some(slot) = agg.window_slot(e) {
                return Ok(agg.slot_expr(slot));
            }
            // an expression equal to a GROUP BY key (compared after planning, so `t.g`
            // matches `g` and parentheses do not matter) refers to that key
            if !matches!(
                e,
                SqlExpr::Identifier(_) | SqlExpr::CompoundIdentifier(_) | SqlExpr::Value(_)
            ) && !super::aggregate::contains_aggregate(e)
            {
                let input = ExprPlanner {
                    scope: self.scope,
                    agg: None,
                };
                if let Ok(planned) = input.plan(e)
                    && let Some(slot) = agg.key_slot(&planned.to_string())
                {
                    return Ok(agg.slot_expr(slot));
                }
            }
            if let SqlExpr::Function(f) = e
                && f.over.is_none()
                && super::aggregate::is_aggregate_name(&f.name.to_string())
            {
                let input = ExprPlanner {
                    scope: self.scope,
                    agg: None,
                };
                return agg.plan_call(&input, f);
            }
        }
        match e {
            SqlExpr::Identifier(id) => self.column(None, id),
            SqlExpr::CompoundIdentifier(parts) => match parts.as_slice() {
                [q, c] => self.column(Some(q), c),
                [_, q, c] => self.column(Some(q), c),
                _ => Err(Error::plan(format!("invalid column reference {e}"))),
            },
            SqlExpr::Value(v) => literal(&v.value),
            SqlExpr::Nested(inner) => self.plan_inner(inner),
            SqlExpr::TypedString(ts) => {
                let to = to_arrow_type(&ts.data_type)?;
                let text = match &ts.value.value {
                    Value::SingleQuotedString(s) => s.clone(),
                    other => other.to_string(),
                };
                let lit: ArrayRef = Arc::new(StringArray::from(vec![text.clone()]));
                let v = cast::cast_value(ColumnarValue::Scalar(lit), &to, CastMode::Strict)
                    .map_err(|_| {
                        Error::plan(format!("invalid {} literal '{text}'", sql_type_name(&to)))
                    })?;
                Ok(Expr::Literal(match v {
                    ColumnarValue::Scalar(a) | ColumnarValue::Array(a) => a,
                }))
            }
            SqlExpr::Interval(_) => Err(Error::not_supported(
                "INTERVAL values in expressions (durations are accepted in window clauses)",
            )),
            SqlExpr::UnaryOp { op, expr } => {
                let inner = self.plan_inner(expr)?;
                match op {
                    UnaryOperator::Not => Ok(Expr::Not(Box::new(self.boolean(inner, "NOT")?))),
                    UnaryOperator::Minus => {
                        let t = inner.data_type();
                        if !is_numeric(&t) && t != DataType::Null {
                            return Err(Error::plan(format!(
                                "cannot negate a value of type {}",
                                sql_type_name(&t)
                            )));
                        }
                        Ok(Expr::Negative(Box::new(inner)))
                    }
                    UnaryOperator::Plus => Ok(inner),
                    other => Err(Error::not_supported(format!("unary operator {other}"))),
                }
            }
            SqlExpr::BinaryOp { left, op, right } => {
                let l = self.plan_inner(left)?;
                let r = self.plan_inner(right)?;
                let op = match op {
                    BinaryOperator::Plus => BinaryOp::Plus,
                    BinaryOperator::Minus => BinaryOp::Minus,
                    BinaryOperator::Multiply => BinaryOp::Multiply,
                    BinaryOperator::Divide => BinaryOp::Divide,
                    BinaryOperator::Modulo => BinaryOp::Modulo,
                    BinaryOperator::Eq => BinaryOp::Eq,
                    BinaryOperator::NotEq => BinaryOp::NotEq,
                    BinaryOperator::Lt => BinaryOp::Lt,
                    BinaryOperator::LtEq => BinaryOp::LtEq,
                    BinaryOperator::Gt => BinaryOp::Gt,
                    BinaryOperator::GtEq => BinaryOp::GtEq,
                    BinaryOperator::And => BinaryOp::And,
                    BinaryOperator::Or => BinaryOp::Or,
                    BinaryOperator::StringConcat => BinaryOp::Concat,
                    other => return Err(Error::not_supported(format!("operator {other}"))),
                };
                binary(op, l, r)
            }
            SqlExpr::IsNull(x) | SqlExpr::IsNotNull(x) => Ok(Expr::IsNull {
                expr: Box::new(self.plan_inner(x)?),
                negated: matches!(e, SqlExpr::IsNotNull(_)),
            }),
            SqlExpr::IsTrue(x)
            | SqlExpr::IsNotTrue(x)
            | SqlExpr::IsFalse(x)
            | SqlExpr::IsNotFalse(x) => {
                let v = self.boolean(self.plan_inner(x)?, "IS TRUE/FALSE")?;
                let want = matches!(e, SqlExpr::IsTrue(_) | SqlExpr::IsNotTrue(_));
                let negated = matches!(e, SqlExpr::IsNotTrue(_) | SqlExpr::IsNotFalse(_));
                let cmp = binary(
                    BinaryOp::IsNotDistinctFrom,
                    v,
                    Expr::Literal(Arc::new(BooleanArray::from(vec![want]))),
                )?;
                Ok(if negated {
                    Expr::Not(Box::new(cmp))
                } else {
                    cmp
                })
            }
            SqlExpr::IsDistinctFrom(a, b) => binary(
                BinaryOp::IsDistinctFrom,
                self.plan_inner(a)?,
                self.plan_inner(b)?,
            ),
            SqlExpr::IsNotDistinctFrom(a, b) => binary(
                BinaryOp::IsNotDistinctFrom,
                self.plan_inner(a)?,
                self.plan_inner(b)?,
            ),
            SqlExpr::Between {
                expr,
                negated,
                low,
                high,
            } => {
                let x = self.plan_inner(expr)?;
                let lo = binary(BinaryOp::GtEq, x.clone(), self.plan_inner(low)?)?;
                let hi = binary(BinaryOp::LtEq, x, self.plan_inner(high)?)?;
                let both = binary(BinaryOp::And, lo, hi)?;
                Ok(if *negated {
                    Expr::Not(Box::new(both))
                } else {
                    both
                })
            }
            SqlExpr::In {
                expr,
                target: ast::InTarget::List(list),
                negated,
                ..
            } => {
                let x = self.plan_inner(expr)?;
                let items = list
                    .iter()
                    .map(|i| self.plan_inner(i))
                    .collect::<Result<Vec<_>>>()?;
                let mut types = vec![x.data_type()];
                types.extend(items.iter().map(Expr::data_type));
                let Some(common) = common_of(&types) else {
                    return Err(Error::plan(format!(
                        "IN list values must have the type of the tested value ({})",
                        sql_type_name(&types[0])
                    )));
                };
                // compare on the operand's own type when possible (dictionary kept)
                let target = if value_type(&types[0]) == &common {
                    types[0].clone()
                } else {
                    common.clone()
                };
                let x = cast_to(x, &target)?;
                let items = items
                    .into_iter()
                    .map(|i| cast_to(i, value_type(&target)))
                    .collect::<Result<Vec<_>>>()?;
                Ok(Expr::InList {
                    expr: Box::new(x),
                    list: items,
                    negated: *negated,
                })
            }
            SqlExpr::Like {
                negated,
                any,
                expr,
                pattern,
                escape_char,
            }
            | SqlExpr::ILike {
                negated,
                any,
                expr,
                pattern,
                escape_char,
            } => {
                if *any || escape_char.is_some() {
                    return Err(Error::not_supported("LIKE ANY / LIKE ... ESCAPE"));
                }
                let x = self.plan_inner(expr)?;
                let p = self.plan_inner(pattern)?;
                for (what, t) in [("value", x.data_type()), ("pattern", p.data_type())] {
                    if !is_string(&t) && t != DataType::Null {
                        return Err(Error::plan(format!(
                            "LIKE needs a VARCHAR {what}, got {}",
                            sql_type_name(&t)
                        )));
                    }
                }
                let target = value_type(&x.data_type()).clone();
                let target = if target == DataType::Null {
                    DataType::Utf8
                } else {
                    target
                };
                let x = if x.data_type() == DataType::Null {
                    cast_to(x, &target)?
                } else {
                    x
                };
                Ok(Expr::Like {
                    negated: *negated,
                    case_insensitive: matches!(e, SqlExpr::ILike { .. }),
                    expr: Box::new(x),
                    pattern: Box::new(cast_to(p, &target)?),
                })
            }
            SqlExpr::Case {
                operand,
                conditions,
                else_result,
                ..
            } => {
                let operand = operand.as_ref().map(|o| self.plan_inner(o)).transpose()?;
                let mut whens = Vec::with_capacity(conditions.len());
                let mut thens = Vec::with_capacity(conditions.len());
                for cw in conditions {
                    let c = self.plan_inner(&cw.condition)?;
                    let c = match &operand {
                        Some(o) => {
                            binary(BinaryOp::Eq, o.clone(), c).map_err(|e| at(&cw.condition, e))?
                        }
                        None => self
                            .boolean(c, "CASE WHEN")
                            .map_err(|e| at(&cw.condition, e))?,
                    };
                    whens.push(c);
                    thens.push(self.plan_inner(&cw.result)?);
                }
                let els = else_result
                    .as_ref()
                    .map(|x| self.plan_inner(x))
                    .transpose()?;
                let mut types: Vec<DataType> = thens.iter().map(Expr::data_type).collect();
                if let Some(x) = &els {
                    types.push(x.data_type());
                }
                let Some(t) = common_of(&types) else {
                    return Err(Error::plan(format!(
                        "CASE branches have incompatible types: {}",
                        types
                            .iter()
                            .map(sql_type_name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                };
                let when_then = whens
                    .into_iter()
                    .zip(thens)
                    .map(|(w, th)| Ok((w, cast_to(th, &t)?)))
                    .collect::<Result<Vec<_>>>()?;
                Ok(Expr::Case {
                    when_then,
                    else_expr: els.map(|x| cast_to(x, &t)).transpose()?.map(Box::new),
                    data_type: t,
                })
            }
            SqlExpr::Cast {
                kind,
                expr,
                data_type,
                format,
            } => {
                if format.is_some() {
                    return Err(Error::not_supported("CAST ... FORMAT"));
                }
                let x = self.plan_inner(expr)?;
                let to = to_arrow_type(data_type)?;
                let from = x.data_type();
                if !cast::can_cast(&from, &to) {
                    return Err(Error::plan(format!(
                        "cannot cast {} to {}",
                        sql_type_name(&from),
                        sql_type_name(&to)
                    )));
                }
                let mode = match kind {
                    CastKind::TryCast | CastKind::SafeCast => CastMode::Try,
                    CastKind::Cast | CastKind::DoubleColon => CastMode::Strict,
                };
                Ok(Expr::Cast {
                    expr: Box::new(x),
                    to,
                    mode,
                })
            }
            SqlExpr::Function(f) => self.function(f),
            SqlExpr::Extract { field, expr, .. } => {
                let name = date_field_name(field)?;
                let args = vec![string_literal(&name), self.plan_inner(expr)?];
                self.call("DATE_PART", args)
            }
            SqlExpr::Ceil { expr, field } | SqlExpr::Floor { expr, field } => {
                let name = if matches!(e, SqlExpr::Ceil { .. }) {
                    "CEIL"
                } else {
                    "FLOOR"
                };
                match field {
                    ast::CeilFloorKind::DateTimeField(DateTimeField::NoDateTime) => {
                        self.call(name, vec![self.plan_inner(expr)?])
                    }
                    _ => Err(Error::not_supported(format!(
                        "{name} with a scale or TO field"
                    ))),
                }
            }
            SqlExpr::Substring {
                expr,
                substring_from,
                substring_for,
                ..
            } => {
                let mut args = vec![self.plan_inner(expr)?];
                args.push(match substring_from {
                    Some(f) => self.plan_inner(f)?,
                    None => Expr::Literal(Arc::new(Int64Array::from(vec![1i64]))),
                });
                if let Some(len) = substring_for {
                    args.push(self.plan_inner(len)?);
                }
                self.call("SUBSTRING", args)
            }
            SqlExpr::Trim {
                trim_where,
                trim_what,
                expr,
                trim_characters,
            } => {
                if trim_characters.as_ref().is_some_and(|c| c.len() != 1) {
                    return Err(Error::not_supported(
                        "TRIM with more than one character list",
                    ));
                }
                let name = match trim_where {
                    Some(ast::TrimWhereField::Leading) => "LTRIM",
                    Some(ast::TrimWhereField::Trailing) => "RTRIM",
                    _ => "TRIM",
                };
                let mut args = vec![self.plan_inner(expr)?];
                if let Some(w) = trim_what {
                    args.push(self.plan_inner(w)?);
                }
                if let Some([chars]) = trim_characters.as_deref() {
                    args.push(self.plan_inner(chars)?);
                }
                self.call(name, args)
            }
            SqlExpr::Subquery(_) | SqlExpr::Exists { .. } | SqlExpr::In { .. } => {
                Err(Error::not_supported("subqueries"))
            }
            SqlExpr::Wildcard(_) | SqlExpr::QualifiedWildcard(..) => Err(Error::plan(
                "* is only allowed as a whole SELECT item or in COUNT(*)",
            )),
            other => Err(Error::not_supported(format!("expression `{other}`"))),
        }
    }

    fn column(&self, qualifier: Option<&ast::Ident>, id: &ast::Ident) -> Result<Expr> {
        let q = qualifier.map(|q| q.value.as_str());
        let found = self.scope.lookup(q, &id.value, id.quote_style.is_some());
        if let Some(agg) = self.agg {
            return match found {
                Lookup::Found(c) => match agg.key_slot_of_column(c.index) {
                    Some(slot) => Ok(agg.slot_expr(slot)),
                    None => Err(Error::sql(
                        format!(
                            "column \"{}\" must appear in the GROUP BY clause or be used in an aggregate function",
                            c.name
                        ),
                        ident_position(id),
                    )),
                },
                _ if q.is_none() => {
                    match agg
                        .aliases
                        .iter()
                        .find(|(a, _)| a.eq_ignore_ascii_case(&id.value))
                    {
                        Some((_, aliased)) => self.plan_inner(aliased),
                        None => self.missing_column(q, id, found),
                    }
                }
                _ => self.missing_column(q, id, found),
            };
        }
        match found {
            Lookup::Found(c) => Ok(Expr::Column {
                index: c.index,
                name: c.name.clone(),
                data_type: c.data_type.clone(),
            }),
            other => self.missing_column(q, id, other),
        }
    }

    fn missing_column(&self, q: Option<&str>, id: &ast::Ident, found: Lookup<'_>) -> Result<Expr> {
        match found {
            Lookup::Found(c) => Ok(Expr::Column {
                index: c.index,
                name: c.name.clone(),
                data_type: c.data_type.clone(),
            }),
            Lookup::Missing(suggestion) => {
                let full = match q {
                    Some(q) => format!("{q}.{}", id.value),
                    None => id.value.clone(),
                };
                if let Some(q) = q
                    && !self.scope.columns.iter().any(|c| {
                        c.qualifier
                            .as_deref()
                            .is_some_and(|cq| cq.eq_ignore_ascii_case(q))
                    })
                {
                    return Err(Error::sql(
                        format!("unknown table \"{q}\" in column reference {full}"),
                        ident_position(id),
                    ));
                }
                Err(Error::sql(
                    format!("unknown column \"{full}\"{}", did_you_mean(suggestion)),
                    ident_position(id),
                ))
            }
            Lookup::Ambiguous(quals) => Err(Error::sql(
                format!(
                    "column reference \"{}\" is ambiguous (it exists in {})",
                    id.value,
                    quals.join(" and ")
                ),
                ident_position(id),
            )),
        }
    }

    fn boolean(&self, e: Expr, context: &str) -> Result<Expr> {
        match e.data_type() {
            DataType::Boolean => Ok(e),
            DataType::Null => cast_to(e, &DataType::Boolean),
            other => Err(Error::plan(format!(
                "{context} needs a BOOLEAN, got {}",
                sql_type_name(&other)
            ))),
        }
    }

    fn function(&self, f: &ast::Function) -> Result<Expr> {
        let name = f.name.to_string().to_ascii_uppercase();
        let known = functions::FUNCTION_NAMES.contains(&name.as_str())
            || AGGREGATE_NAMES.contains(&name.as_str())
            || ANALYTIC_NAMES.contains(&name.as_str())
            || matches!(
                name.as_str(),
                "TUMBLE"
                    | "HOP"
                    | "SESSION"
                    | "TUMBLE_START"
                    | "TUMBLE_END"
                    | "NOW"
                    | "CURRENT_TIMESTAMP"
            );
        if !known {
            // before the arguments: a typo must not be reported as a bad argument
            let all = functions::FUNCTION_NAMES
                .iter()
                .chain(AGGREGATE_NAMES)
                .copied();
            return Err(Error::plan(format!(
                "unknown function {name}{}",
                did_you_mean(closest(&name, all))
            )));
        }
        if f.over.is_some() {
            return Err(Error::plan(format!(
                "analytic function {name} OVER (...) is only allowed in the SELECT list (not in WHERE, GROUP BY, HAVING or a function argument)"
            )));
        }
        if ANALYTIC_NAMES.contains(&name.as_str()) {
            return Err(Error::plan(format!(
                "analytic function {name} needs an OVER (...) clause"
            )));
        }
        if AGGREGATE_NAMES.contains(&name.as_str()) || f.filter.is_some() {
            return Err(Error::not_supported(format!(
                "aggregate function {name} (GROUP BY aggregation is not supported yet)"
            )));
        }
        if matches!(
            name.as_str(),
            "TUMBLE" | "HOP" | "SESSION" | "TUMBLE_START" | "TUMBLE_END"
        ) {
            return Err(Error::not_supported(format!(
                "{name}: event-time windows are not supported yet"
            )));
        }
        if name == "NOW" || name == "CURRENT_TIMESTAMP" {
            return Err(Error::plan(format!(
                "{name}() is not allowed: results must be reproducible (use the event-time column)"
            )));
        }
        let args = match &f.args {
            FunctionArguments::None => Vec::new(),
            FunctionArguments::Subquery(_) => return Err(Error::not_supported("subqueries")),
            FunctionArguments::List(list) => {
                if list.duplicate_treatment.is_some() || !list.clauses.is_empty() {
                    return Err(Error::not_supported(format!(
                        "{name} with DISTINCT/ORDER BY arguments"
                    )));
                }
                list.args
                    .iter()
                    .map(|a| match a {
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) => self.plan_inner(x),
                        _ => Err(Error::not_supported(format!("argument `{a}` of {name}"))),
                    })
                    .collect::<Result<Vec<_>>>()?
            }
        };
        self.call(&name, args)
    }

    fn call(&self, name: &str, args: Vec<Expr>) -> Result<Expr> {
        match functions::plan_function(name, args)? {
            Some(e) => Ok(lazy_coalesce(e)),
            None => {
                let all = functions::FUNCTION_NAMES
                    .iter()
                    .chain(AGGREGATE_NAMES)
                    .copied();
                Err(Error::plan(format!(
                    "unknown function {name}{}",
                    did_you_mean(closest(name, all))
                )))
            }
        }
    }
}

/// `COALESCE(a, b, …)` whose later arguments can fail becomes
/// `CASE WHEN a IS NOT NULL THEN a WHEN b IS NOT NULL THEN b … ELSE last END`, so (as in
/// DuckDB) an argument is only evaluated on the rows still NULL.
fn lazy_coalesce(e: Expr) -> Expr {
    let Expr::Function { func, args } = &e else {
        return e;
    };
    if func.name() != "COALESCE" || args.len() < 2 || !args[1..].iter().any(Expr::can_fail) {
        return e;
    }
    let data_type = func.return_type().clone();
    let (last, rest) = match args.split_last() {
        Some(x) => x,
        None => return e,
    };
    let when_then = rest
        .iter()
        .map(|a| {
            (
                Expr::IsNull {
                    expr: Box::new(a.clone()),
                    negated: true,
                },
                a.clone(),
            )
        })
        .collect();
    Expr::Case {
        when_then,
        else_expr: Some(Box::new(last.clone())),
        data_type,
    }
}

fn string_literal(s: &str) -> Expr {
    Expr::Literal(Arc::new(StringArray::from(vec![s.to_string()])))
}

fn date_field_name(f: &DateTimeField) -> Result<String> {
    Ok(match f {
        DateTimeField::Year => "year".into(),
        DateTimeField::Quarter => "quarter".into(),
        DateTimeField::Month => "month".into(),
        DateTimeField::Week(_) => "week".into(),
        DateTimeField::Day => "day".into(),
        DateTimeField::DayOfWeek | DateTimeField::Dow => "dayofweek".into(),
        DateTimeField::DayOfYear | DateTimeField::Doy => "dayofyear".into(),
        DateTimeField::Hour => "hour".into(),
        DateTimeField::Minute => "minute".into(),
        DateTimeField::Second => "second".into(),
        DateTimeField::Millisecond | DateTimeField::Milliseconds => "millisecond".into(),
        DateTimeField::Microsecond | DateTimeField::Microseconds => "microsecond".into(),
        DateTimeField::Epoch => "epoch".into(),
        DateTimeField::Custom(id) => id.value.to_ascii_lowercase(),
        other => return Err(Error::not_supported(format!("EXTRACT field {other}"))),
    })
}

/// Types a literal value as DuckDB does: integers as INTEGER or BIGINT, decimals
/// as DECIMAL(p,s), exponents as DOUBLE, strings as VARCHAR.
pub fn literal(v: &Value) -> Result<Expr> {
    let arr: ArrayRef = match v {
        Value::Number(text, _) => number_literal(text)?,
        Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => {
            Arc::new(StringArray::from(vec![s.clone()]))
        }
        Value::Boolean(b) => Arc::new(BooleanArray::from(vec![*b])),
        Value::Null => Arc::new(NullArray::new(1)),
        other => return Err(Error::not_supported(format!("literal {other}"))),
    };
    Ok(Expr::Literal(arr))
}

fn number_literal(text: &str) -> Result<ArrayRef> {
    if !text.contains(['.', 'e', 'E']) {
        if let Ok(v) = text.parse::<i32>() {
            return Ok(Arc::new(Int32Array::from(vec![v])));
        }
        if let Ok(v) = text.parse::<i64>() {
            return Ok(Arc::new(Int64Array::from(vec![v])));
        }
        if let Ok(v) = text.parse::<i128>()
            && text.trim_start_matches('-').len() <= 38
        {
            return Ok(Arc::new(
                Decimal128Array::from(vec![v]).with_precision_and_scale(38, 0)?,
            ));
        }
    } else if !text.contains(['e', 'E']) {
        let (int_part, frac) = text.split_once('.').unwrap_or((text, ""));
        let int_digits = int_part.trim_start_matches('0').len();
        let scale = frac.len();
        let precision = (int_digits + scale).max(1);
        if precision <= 18 {
            let digits: String = format!("{int_part}{frac}");
            if let Ok(v) = digits.parse::<i128>() {
                return Ok(Arc::new(
                    Decimal128Array::from(vec![v])
                        .with_precision_and_scale(precision.max(scale) as u8, scale as i8)?,
                ));
            }
        }
    }
    text.parse::<f64>()
        .map(|v| Arc::new(Float64Array::from(vec![v])) as ArrayRef)
        .map_err(|_| Error::plan(format!("invalid number {text}")))
}

/// Wraps `e` in a strict cast to `to` unless it already has that type.
///
/// # Errors
/// When no cast exists between the types.
pub fn cast_to(e: Expr, to: &DataType) -> Result<Expr> {
    let from = e.data_type();
    if &from == to {
        return Ok(e);
    }
    if !cast::can_cast(&from, to) {
        return Err(Error::plan(format!(
            "cannot convert {} to {}",
            sql_type_name(&from),
            sql_type_name(to)
        )));
    }
    Ok(fold_constants(Expr::Cast {
        expr: Box::new(e),
        to: to.clone(),
        mode: CastMode::Strict,
    }))
}

/// If `e` is a literal that converts losslessly to `to`, the converted literal.
fn literal_as(e: &Expr, to: &DataType) -> Option<Expr> {
    let Expr::Literal(v) = e else { return None };
    if v.is_null(0) {
        return Some(Expr::Literal(arrow::array::new_null_array(to, 1)));
    }
    let there = arrow::compute::cast_with_options(
        v.as_ref(),
        to,
        &arrow::compute::CastOptions {
            safe: false,
            ..Default::default()
        },
    )
    .ok()?;
    let back = arrow::compute::cast(there.as_ref(), v.data_type()).ok()?;
    (back.as_ref() == v.as_ref() || is_string(v.data_type())).then_some(Expr::Literal(there))
}

/// Plans `l op r` with implicit casts, computing the result type from the kernel.
///
/// # Errors
/// Operand types the operator does not accept, named in the message.
pub fn binary(op: BinaryOp, l: Expr, r: Expr) -> Result<Expr> {
    let (lt, rt) = (l.data_type(), r.data_type());
    let mismatch = || {
        Error::plan(format!(
            "cannot apply {op} to {} and {}",
            sql_type_name(&lt),
            sql_type_name(&rt)
        ))
    };
    match op {
        BinaryOp::And | BinaryOp::Or => {
            for t in [&lt, &rt] {
                if !matches!(t, DataType::Boolean | DataType::Null) {
                    return Err(Error::plan(format!(
                        "{op} needs BOOLEAN operands, got {}",
                        sql_type_name(t)
                    )));
                }
            }
            Ok(Expr::Binary {
                op,
                left: Box::new(cast_to(l, &DataType::Boolean)?),
                right: Box::new(cast_to(r, &DataType::Boolean)?),
                data_type: DataType::Boolean,
            })
        }
        BinaryOp::Concat => {
            let target = DataType::Utf8;
            let conv = |e: Expr| -> Result<Expr> {
                match e.data_type() {
                    DataType::Utf8 => Ok(e),
                    _ => cast_to(e, &target),
                }
            };
            Ok(Expr::Binary {
                op,
                left: Box::new(conv(l)?),
                right: Box::new(conv(r)?),
                data_type: target,
            })
        }
        _ if op.is_comparison() => {
            // a literal takes the column's type when it converts losslessly, so the
            // column is never cast
            let (l, r) = if l.is_constant() && !r.is_constant() {
                match literal_as(&l, value_type(&rt)) {
                    Some(lit) => (lit, r),
                    None => (l, r),
                }
            } else if r.is_constant() && !l.is_constant() {
                match literal_as(&r, value_type(&lt)) {
                    Some(lit) => (l, lit),
                    None => (l, r),
                }
            } else {
                (l, r)
            };
            let (lt2, rt2) = (l.data_type(), r.data_type());
            let common = comparison_common(&lt2, &rt2).ok_or_else(mismatch)?;
            let side = |e: Expr, t: &DataType| -> Result<Expr> {
                // dictionaries are compared on their values by the kernel
                if value_type(t) == value_type(&common) && matches!(t, DataType::Dictionary(..)) {
                    Ok(e)
                } else {
                    cast_to(e, value_type(&common))
                }
            };
            let (l, r) = (side(l, &lt2)?, side(r, &rt2)?);
            Ok(Expr::Binary {
                op,
                left: Box::new(l),
                right: Box::new(r),
                data_type: DataType::Boolean,
            })
        }
        _ => {
            // arithmetic
            let is_temporal = lt.is_temporal() || rt.is_temporal();
            if is_temporal {
                return Err(Error::not_supported(format!(
                    "arithmetic {op} on {} and {} (date/time arithmetic)",
                    sql_type_name(&lt),
                    sql_type_name(&rt)
                )));
            }
            if !(is_numeric(&lt) || lt == DataType::Null)
                || !(is_numeric(&rt) || rt == DataType::Null)
            {
                return Err(mismatch());
            }
            if op == BinaryOp::Multiply
                && (matches!(lt, DataType::Decimal128(..))
                    || matches!(rt, DataType::Decimal128(..)))
                && !lt.is_floating()
                && !rt.is_floating()
            {
                // DuckDB: the scales of a decimal product add up (an integer has scale 0)
                let (l, r) = (as_decimal(l)?, as_decimal(r)?);
                let t = arrow::compute::kernels::numeric::mul(
                    &new_empty_array(&l.data_type()),
                    &new_empty_array(&r.data_type()),
                )
                .map_err(|e| Error::plan(format!("cannot multiply: {e}")))?
                .data_type()
                .clone();
                return Ok(Expr::Binary {
                    op,
                    left: Box::new(l),
                    right: Box::new(r),
                    data_type: t,
                });
            }
            let mut common = numeric_common(&lt, &rt).ok_or_else(mismatch)?;
            if common == DataType::Null {
                common = DataType::Int32;
            }
            if op == BinaryOp::Divide && !common.is_floating() {
                // DuckDB: `/` on integers and decimals is a DOUBLE division
                common = DataType::Float64;
            }
            let (l, r) = (cast_to(l, &common)?, cast_to(r, &common)?);
            let data_type = kernel_result_type(op, &common)?;
            Ok(Expr::Binary {
                op,
                left: Box::new(l),
                right: Box::new(r),
                data_type,
            })
        }
    }
}

/// An integer or decimal operand as a decimal of scale 0 (integers) or itself.
fn as_decimal(e: Expr) -> Result<Expr> {
    let t = e.data_type();
    match t {
        DataType::Decimal128(..) => Ok(e),
        DataType::Null => cast_to(e, &DataType::Decimal128(18, 0)),
        ref i if i.is_integer() => {
            let digits = match i {
                DataType::Int8 | DataType::UInt8 => 3,
                DataType::Int16 | DataType::UInt16 => 5,
                DataType::Int32 | DataType::UInt32 => 10,
                DataType::Int64 => 19,
                _ => 20,
            };
            cast_to(e, &DataType::Decimal128(digits, 0))
        }
        other => Err(Error::plan(format!(
            "cannot use {} as a decimal",
            sql_type_name(&other)
        ))),
    }
}

/// The result type of an arithmetic kernel on two `t` operands (asked of the kernel
/// itself on empty arrays, so planning and execution cannot disagree).
fn kernel_result_type(op: BinaryOp, t: &DataType) -> Result<DataType> {
    use arrow::compute::kernels::numeric;
    let a = new_empty_array(t);
    let out = match op {
        BinaryOp::Plus => numeric::add(&a, &a),
        BinaryOp::Minus => numeric::sub(&a, &a),
        BinaryOp::Multiply => numeric::mul(&a, &a),
        BinaryOp::Divide => numeric::div(&a, &a),
        BinaryOp::Modulo => numeric::rem(&a, &a),
        _ => return Err(Error::internal(format!("{op} is not arithmetic"))),
    }
    .map_err(|e| Error::plan(format!("cannot apply {op} to {}: {e}", sql_type_name(t))))?;
    Ok(out.data_type().clone())
}

/// Replaces constant subtrees by their value (evaluated once at planning time). A
/// subtree whose evaluation fails is kept, so the error surfaces when it runs.
pub fn fold_constants(e: Expr) -> Expr {
    if matches!(e, Expr::Literal(_) | Expr::Column { .. }) || !e.is_constant() {
        return e;
    }
    let schema = Arc::new(Schema::empty());
    let Ok(batch) = RecordBatch::try_new_with_options(
        schema,
        vec![],
        &RecordBatchOptions::new().with_row_count(Some(1)),
    ) else {
        return e;
    };
    match e.evaluate(&batch) {
        Ok(ColumnarValue::Scalar(v)) | Ok(ColumnarValue::Array(v)) if v.len() == 1 => {
            Expr::Literal(v)
        }
        _ => e,
    }
}
