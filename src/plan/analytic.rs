//! Planning of ROWS-window analytics: `f(...) OVER (...)` calls in the SELECT list.
//!
//! ```text
//!  SELECT symbol, price - AVG(price) OVER (PARTITION BY symbol ROWS 9 PRECEDING) AS d
//!         ─────── ─────────────────────────────────────────────────────────────
//!           │                       │ planned here: a call (function, arguments,
//!           │                       │ window = partition keys + order key, frame)
//!           ▼                       ▼
//!  SELECT symbol, price - "AVG(price) OVER (...)"       the call becomes a reference to
//!         planned by the planner over [input columns | one column per call]
//!
//!  Scan ─▶ Filter (WHERE) ─▶ Analytic (appends the call columns) ─▶ Projection
//! ```
//! Both surface syntaxes arrive here as standard `OVER (...)` (the pre-pass rewrites
//! `ROWS WINDOW BUFFER n ROWS`); named windows (`WINDOW w AS (...)`, `OVER w`,
//! `OVER (w ROWS ...)`) are resolved here.
//!
//! Streaming semantics, checked here: rows are taken in arrival order; a frame ends at
//! the current row (`FOLLOWING` and `LEAD` would need rows that have not arrived); an
//! `ORDER BY` must be ascending and name the event-time column (a TIMESTAMP or DATE
//! column, or the integer column set by `event.time.field`): it defines ties for RANK /
//! DENSE_RANK and is otherwise the arrival order itself. `RANGE` frames need such a
//! column: `RANGE [BETWEEN] UNBOUNDED PRECEDING [AND CURRENT ROW]` (the default with
//! ORDER BY) counts the rows that have arrived so far; `RANGE [BETWEEN] <d> PRECEDING [AND
//! CURRENT ROW]` with a duration `d` (`INTERVAL '10' SECOND`, `INTERVAL '10 seconds'`,
//! `'10s'`, or `10s` as the pre-pass rewrites it; a plain number only over an integer
//! event-time column, in its units, milliseconds) keeps the rows whose order key is
//! within `d` of the current row's (see `analytic::range` for late rows and NULL keys);
//! `RANGE CURRENT ROW` is a span of 0, the current row's peers that have arrived.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use sqlparser::ast::{
    self, Expr as SqlExpr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, SelectItem,
    Spanned, WindowFrameBound, WindowFrameUnits, WindowSpec, WindowType,
};

use super::aggregate::contains_aggregate;
use super::expr_planner::{ExprPlanner, at, cast_to, ident_position, position_of};
use super::logical::LogicalPlan;
use super::scope::{Scope, ScopeColumn, closest, did_you_mean};
use crate::analytic::{AnalyticFunction, Frame};
use crate::config::QueryOptions;
use crate::error::{Error, Result};
use crate::expr::Expr;
use crate::expr::types::sql_type_name;
use crate::sql::ParsedQuery;

/// The partitioning and ordering shared by one or more calls.
#[derive(Debug, Clone)]
pub struct AnalyticWindow {
    /// `PARTITION BY` expressions over the input (empty: one partition).
    pub partition_by: Vec<Expr>,
    /// The `ORDER BY` column over the input, if any (ascending, event time).
    pub order_by: Option<Expr>,
}

/// One analytic call.
#[derive(Debug, Clone)]
pub struct AnalyticCall {
    /// The function.
    pub func: AnalyticFunction,
    /// Argument expressions over the input (LAG: value, then default if given).
    pub args: Vec<Expr>,
    /// Index into the plan's windows.
    pub window: usize,
    /// The frame (ignored by ROW_NUMBER, RANK, DENSE_RANK, LAG).
    pub frame: Frame,
    /// Result type.
    pub data_type: DataType,
    /// SQL text of the call with its OVER clause.
    pub text: String,
}

/// The analytic part of a query, found in its SELECT list.
#[derive(Debug, Clone)]
pub struct AnalyticPlan {
    /// The SELECT items with each call replaced by a reference to its result column.
    pub projection: Vec<SelectItem>,
    /// The scope the SELECT list is planned in: the input's columns, then the results.
    pub scope: Scope,
    /// The schema of that scope.
    pub schema: SchemaRef,
    /// Distinct windows.
    pub windows: Vec<AnalyticWindow>,
    /// Calls, in order of first appearance (result column `inputs + i`).
    pub calls: Vec<AnalyticCall>,
}

impl AnalyticPlan {
    /// The Analytic node over `input`.
    pub fn wrap(self, input: LogicalPlan) -> LogicalPlan {
        LogicalPlan::Analytic {
            input: Box::new(input),
            windows: self.windows,
            calls: self.calls,
            schema: self.schema,
        }
    }
}

/// Finds the OVER calls of the SELECT list and plans them, or `None` when there are none.
///
/// # Errors
/// [`Error::Sql`] with the position of the call for: analytic functions with GROUP BY or
/// aggregates, frames that need future rows (`FOLLOWING`, `LEAD`), DESC or non-time
/// `ORDER BY`, RANGE frames without an event-time ORDER BY or with an offset that is not
/// a non-negative duration, unknown named windows, wrong arguments.
pub fn plan_analytic(
    parsed: &ParsedQuery,
    select: &ast::Select,
    scope: &Scope,
    schema: &SchemaRef,
    is_aggregate: bool,
    options: &QueryOptions,
) -> Result<Option<AnalyticPlan>> {
    let event_time = options.event_time.clone().or_else(|| {
        parsed
            .streaming
            .options
            .iter()
            .find(|o| o.key == "event.time.field")
            .map(|o| o.value.clone())
    });
    let mut planner = CallPlanner {
        scope,
        input_fields: schema.fields().len(),
        named: named_windows(select)?,
        event_time,
        windows: Vec::new(),
        window_texts: Vec::new(),
        calls: Vec::new(),
    };
    let mut projection = select.projection.clone();
    for item in &mut projection {
        let (expr, unnamed) = match item {
            SelectItem::UnnamedExpr(e) => (e, true),
            SelectItem::ExprWithAlias { expr, .. } => (expr, false),
            _ => continue,
        };
        let original = expr.clone();
        let replaced = rewrite_calls(expr, &mut |f| {
            if is_aggregate {
                return Err(Error::sql(
                    "not supported: analytic functions (OVER) in a query with GROUP BY or aggregate functions",
                    position_of(f),
                ));
            }
            planner.plan_call(f)
        })?;
        if replaced && unnamed {
            // keep DuckDB's column name: the expression's text
            let name = original.to_string();
            *item = SelectItem::ExprWithAlias {
                expr: expr.clone(),
                alias: Ident::new(name),
            };
        }
    }
    if planner.calls.is_empty() {
        return Ok(None);
    }
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    let mut select_scope = scope.clone();
    for (slot, c) in planner.calls.iter().enumerate() {
        fields.push(Field::new(c.text.clone(), c.data_type.clone(), true));
        select_scope.columns.push(ScopeColumn {
            qualifier: None,
            name: placeholder(&c.text, slot, scope),
            index: planner.input_fields + slot,
            data_type: c.data_type.clone(),
        });
    }
    Ok(Some(AnalyticPlan {
        projection,
        scope: select_scope,
        schema: Arc::new(Schema::new(fields)),
        windows: planner.windows,
        calls: planner.calls,
    }))
}

/// The name the SELECT list uses for call `slot`'s result: its SQL text, with the slot
/// appended in the unlikely case that an input column has that name.
fn placeholder(text: &str, slot: usize, input: &Scope) -> String {
    if input
        .columns
        .iter()
        .any(|c| c.name.eq_ignore_ascii_case(text))
    {
        format!("{text} #{slot}")
    } else {
        text.to_string()
    }
}

/// `WINDOW w AS (...)` definitions by name (case-insensitive), with references between
/// them resolved.
fn named_windows(select: &ast::Select) -> Result<HashMap<String, WindowSpec>> {
    let mut raw: HashMap<String, &ast::NamedWindowDefinition> = HashMap::new();
    for def in &select.named_window {
        let name = def.0.value.to_ascii_lowercase();
        if raw.insert(name, def).is_some() {
            return Err(Error::sql(
                format!("window \"{}\" is defined twice", def.0.value),
                ident_position(&def.0),
            ));
        }
    }
    let mut out = HashMap::new();
    for (name, def) in &raw {
        // follow `WINDOW a AS b` chains (at most one step per definition)
        let mut current = *def;
        let mut steps = 0;
        let spec = loop {
            match &current.1 {
                ast::NamedWindowExpr::WindowSpec(spec) => break spec.clone(),
                ast::NamedWindowExpr::NamedWindow(other) => {
                    steps += 1;
                    match raw.get(&other.value.to_ascii_lowercase()) {
                        Some(next) if steps <= raw.len() => current = next,
                        Some(_) => {
                            return Err(Error::sql(
                                format!("window \"{}\" refers to itself", def.0.value),
                                ident_position(&def.0),
                            ));
                        }
                        None => {
                            return Err(unknown_window(other, raw.keys()));
                        }
                    }
                }
            }
        };
        out.insert(name.clone(), spec);
    }
    Ok(out)
}

fn unknown_window<'a>(name: &Ident, defined: impl Iterator<Item = &'a String>) -> Error {
    let defined: Vec<&str> = defined.map(String::as_str).collect();
    let list = if defined.is_empty() {
        "no windows are defined (WINDOW w AS (...))".to_string()
    } else {
        format!("defined windows: {}", defined.join(", "))
    };
    Error::sql(
        format!(
            "unknown window \"{}\"{} ({list})",
            name.value,
            did_you_mean(closest(&name.value, defined.iter().copied()))
        ),
        ident_position(name),
    )
}

/// Replaces every OVER call of `e` (outside OVER calls) by the identifier `on_call`
/// returns; true when something was replaced.
fn rewrite_calls(
    e: &mut SqlExpr,
    on_call: &mut dyn FnMut(&ast::Function) -> Result<Ident>,
) -> Result<bool> {
    if let SqlExpr::Function(f) = e
        && f.over.is_some()
    {
        let id = on_call(f)?;
        *e = SqlExpr::Identifier(id);
        return Ok(true);
    }
    let mut any = false;
    let mut go = |x: &mut SqlExpr| -> Result<()> {
        any |= rewrite_calls(x, on_call)?;
        Ok(())
    };
    match e {
        SqlExpr::BinaryOp { left, right, .. } => {
            go(left)?;
            go(right)?;
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
        | SqlExpr::Floor { expr, .. } => go(expr)?,
        SqlExpr::IsDistinctFrom(a, b) | SqlExpr::IsNotDistinctFrom(a, b) => {
            go(a)?;
            go(b)?;
        }
        SqlExpr::Between {
            expr, low, high, ..
        } => {
            go(expr)?;
            go(low)?;
            go(high)?;
        }
        SqlExpr::In {
            expr,
            target: ast::InTarget::List(list),
            ..
        } => {
            go(expr)?;
            for x in list {
                go(x)?;
            }
        }
        SqlExpr::Like { expr, pattern, .. } | SqlExpr::ILike { expr, pattern, .. } => {
            go(expr)?;
            go(pattern)?;
        }
        SqlExpr::Case {
            operand,
            conditions,
            else_result,
            ..
        } => {
            if let Some(o) = operand {
                go(o)?;
            }
            for c in conditions {
                go(&mut c.condition)?;
                go(&mut c.result)?;
            }
            if let Some(x) = else_result {
                go(x)?;
            }
        }
        SqlExpr::Substring {
            expr,
            substring_from,
            substring_for,
            ..
        } => {
            go(expr)?;
            if let Some(x) = substring_from {
                go(x)?;
            }
            if let Some(x) = substring_for {
                go(x)?;
            }
        }
        SqlExpr::Trim {
            expr, trim_what, ..
        } => {
            go(expr)?;
            if let Some(x) = trim_what {
                go(x)?;
            }
        }
        SqlExpr::Function(func) => {
            if let FunctionArguments::List(list) = &mut func.args {
                for a in &mut list.args {
                    if let FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) = a {
                        go(x)?;
                    }
                }
            }
        }
        _ => {}
    }
    Ok(any)
}

/// True when `e` holds an OVER call.
fn contains_over(e: &SqlExpr) -> bool {
    let mut copy = e.clone();
    rewrite_calls(&mut copy, &mut |_| Ok(Ident::new("x"))).unwrap_or(true)
}

struct CallPlanner<'a> {
    scope: &'a Scope,
    input_fields: usize,
    named: HashMap<String, WindowSpec>,
    event_time: Option<String>,
    windows: Vec<AnalyticWindow>,
    /// Per window: the texts of its partition keys and order key (for deduplication).
    window_texts: Vec<(Vec<String>, Option<String>)>,
    calls: Vec<AnalyticCall>,
}

impl CallPlanner<'_> {
    fn input(&self) -> ExprPlanner<'_> {
        ExprPlanner {
            scope: self.scope,
            agg: None,
        }
    }

    /// Plans one call and returns the identifier of its result column.
    fn plan_call(&mut self, f: &ast::Function) -> Result<Ident> {
        let text = f.to_string();
        let slot = match self.calls.iter().position(|c| c.text == text) {
            Some(slot) => slot,
            None => {
                let call = self.call(f, text.clone()).map_err(|e| at(f, e))?;
                self.calls.push(call);
                self.calls.len() - 1
            }
        };
        let mut id = Ident::with_quote('"', placeholder(&text, slot, self.scope));
        id.span = f.span();
        Ok(id)
    }

    fn call(&mut self, f: &ast::Function, text: String) -> Result<AnalyticCall> {
        let name = f.name.to_string().to_ascii_uppercase();
        if name == "LEAD" {
            return Err(Error::plan(
                "LEAD needs rows that have not arrived yet: a stream cannot look ahead without delaying its output (use LAG)",
            ));
        }
        let Some(mut func) = AnalyticFunction::from_name(&name) else {
            return Err(Error::not_supported(format!(
                "{name}(...) OVER (...); analytic functions are AVG, SUM, MIN, MAX, COUNT, STDDEV, STDDEV_SAMP, STDDEV_POP, VARIANCE, VAR_SAMP, VAR_POP, FIRST_VALUE, LAST_VALUE, LAG, ROW_NUMBER, RANK, DENSE_RANK"
            )));
        };
        if f.filter.is_some() {
            return Err(Error::not_supported(format!(
                "FILTER (WHERE ...) on the analytic function {name}"
            )));
        }
        if matches!(f.null_treatment, Some(ast::NullTreatment::IgnoreNulls)) {
            return Err(Error::not_supported(format!("{name}(...) IGNORE NULLS")));
        }
        if !f.within_group.is_empty() {
            return Err(Error::not_supported(format!("{name} WITHIN GROUP")));
        }
        let (raw_args, star) = self.arguments(f, &name)?;
        if star {
            if func != AnalyticFunction::Count || !raw_args.is_empty() {
                return Err(Error::plan(format!(
                    "{name}(*) is not allowed; only COUNT(*)"
                )));
            }
            func = AnalyticFunction::CountStar;
        }
        let args = self.normalise_args(&mut func, &name, raw_args)?;
        let arg_types: Vec<DataType> = args.iter().map(Expr::data_type).collect();
        let data_type = func.return_type(&arg_types)?;

        let spec = self.resolve_spec(f)?;
        let order = self.order_key(&spec)?;
        let frame = self.frame(&spec, func, order.as_ref(), &name)?;
        self.check_time_key(order.as_ref())?;
        let partition_by = spec
            .partition_by
            .iter()
            .map(|p| {
                if contains_aggregate(p) || contains_over(p) {
                    return Err(Error::sql(
                        "aggregate and analytic functions are not allowed in PARTITION BY",
                        position_of(p),
                    ));
                }
                self.input().plan(p)
            })
            .collect::<Result<Vec<_>>>()?;
        let window = self.window_slot(partition_by, order.map(|(e, _)| e));
        Ok(AnalyticCall {
            func,
            args,
            window,
            frame,
            data_type,
            text,
        })
    }

    /// The argument expressions (planned over the input) and whether the argument is `*`.
    fn arguments(&self, f: &ast::Function, name: &str) -> Result<(Vec<(Expr, SqlExpr)>, bool)> {
        match &f.args {
            FunctionArguments::None => Ok((Vec::new(), false)),
            FunctionArguments::Subquery(_) => Err(Error::not_supported("subqueries")),
            FunctionArguments::List(list) => {
                if list.duplicate_treatment == Some(ast::DuplicateTreatment::Distinct) {
                    return Err(Error::not_supported(format!(
                        "{name}(DISTINCT ...) OVER (...)"
                    )));
                }
                if !list.clauses.is_empty() {
                    return Err(Error::not_supported(format!(
                        "{name} with ORDER BY/LIMIT arguments"
                    )));
                }
                let mut star = false;
                let mut args = Vec::new();
                for a in &list.args {
                    match a {
                        FunctionArg::Unnamed(FunctionArgExpr::Wildcard) => star = true,
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) => {
                            if contains_over(x) {
                                return Err(Error::sql(
                                    format!("analytic functions cannot be nested (inside {name})"),
                                    position_of(x),
                                ));
                            }
                            if contains_aggregate(x) {
                                return Err(Error::sql(
                                    format!(
                                        "not supported: an aggregate function inside the analytic function {name}"
                                    ),
                                    position_of(x),
                                ));
                            }
                            args.push((self.input().plan(x)?, x.clone()));
                        }
                        other => {
                            return Err(Error::not_supported(format!(
                                "argument `{other}` of {name}"
                            )));
                        }
                    }
                }
                Ok((args, star))
            }
        }
    }

    /// Casts arguments to the types the kernels read (dictionaries to their values, an
    /// untyped NULL to INTEGER, HALF FLOAT to FLOAT for the numeric functions); takes
    /// LAG's constant offset out and casts its default to the value's type.
    fn normalise_args(
        &self,
        func: &mut AnalyticFunction,
        name: &str,
        raw: Vec<(Expr, SqlExpr)>,
    ) -> Result<Vec<Expr>> {
        let numeric = matches!(
            func,
            AnalyticFunction::Sum
                | AnalyticFunction::Avg
                | AnalyticFunction::StddevSamp
                | AnalyticFunction::StddevPop
                | AnalyticFunction::VarSamp
                | AnalyticFunction::VarPop
        );
        let normal = |e: Expr, sql: &SqlExpr| -> Result<Expr> {
            let t = e.data_type();
            let to = match &t {
                DataType::Dictionary(_, v) => v.as_ref().clone(),
                DataType::Null => DataType::Int32,
                DataType::Float16 if numeric => DataType::Float32,
                DataType::Float16 => {
                    return Err(Error::sql(
                        format!(
                            "not supported: {name} OVER (...) of HALF FLOAT values (cast them to FLOAT)"
                        ),
                        position_of(sql),
                    ));
                }
                other => other.clone(),
            };
            cast_to(e, &to).map_err(|err| at(sql, err))
        };
        let mut raw = raw.into_iter();
        let mut args = Vec::new();
        if let AnalyticFunction::Lag { .. } = func {
            let Some((x, x_sql)) = raw.next() else {
                return Err(Error::plan("LAG expects (value [, offset [, default]])"));
            };
            let x = normal(x, &x_sql)?;
            let offset = match raw.next() {
                None => 1,
                Some((n, n_sql)) => constant_count(&n).ok_or_else(|| {
                    Error::sql(
                        format!(
                            "LAG's offset must be a constant non-negative integer, got {n_sql}"
                        ),
                        position_of(&n_sql),
                    )
                })?,
            };
            *func = AnalyticFunction::Lag { offset };
            let x_type = x.data_type();
            args.push(x);
            if let Some((d, d_sql)) = raw.next() {
                let d = cast_to(d, &x_type).map_err(|err| {
                    at(
                        &d_sql,
                        Error::plan(format!(
                            "LAG's default must convert to {}: {err}",
                            sql_type_name(&x_type)
                        )),
                    )
                })?;
                args.push(d);
            }
            if let Some((_, extra)) = raw.next() {
                return Err(Error::sql(
                    "LAG expects (value [, offset [, default]])",
                    position_of(&extra),
                ));
            }
            return Ok(args);
        }
        for (e, sql) in raw {
            args.push(normal(e, &sql)?);
        }
        Ok(args)
    }

    /// The call's window specification, with a named window resolved.
    fn resolve_spec(&self, f: &ast::Function) -> Result<WindowSpec> {
        let lookup = |id: &Ident| {
            self.named
                .get(&id.value.to_ascii_lowercase())
                .cloned()
                .ok_or_else(|| unknown_window(id, self.named.keys()))
        };
        match &f.over {
            Some(WindowType::NamedWindow(id)) => lookup(id),
            Some(WindowType::WindowSpec(spec)) => match &spec.window_name {
                None => Ok(spec.clone()),
                Some(base_name) => {
                    // `OVER (w ORDER BY ... ROWS ...)`: w's partitioning, refined here
                    let base = lookup(base_name)?;
                    if !spec.partition_by.is_empty() {
                        return Err(Error::sql(
                            format!(
                                "OVER ({base_name} PARTITION BY ...): a window that refines the named window \"{base_name}\" cannot repartition it"
                            ),
                            ident_position(base_name),
                        ));
                    }
                    if !base.order_by.is_empty() && !spec.order_by.is_empty() {
                        return Err(Error::sql(
                            format!("the named window \"{base_name}\" already has an ORDER BY"),
                            ident_position(base_name),
                        ));
                    }
                    if base.window_frame.is_some() {
                        return Err(Error::sql(
                            format!(
                                "the named window \"{base_name}\" has a frame, so it cannot be refined; use OVER {base_name}"
                            ),
                            ident_position(base_name),
                        ));
                    }
                    Ok(WindowSpec {
                        window_name: None,
                        partition_by: base.partition_by,
                        order_by: if spec.order_by.is_empty() {
                            base.order_by
                        } else {
                            spec.order_by.clone()
                        },
                        window_frame: spec.window_frame.clone(),
                    })
                }
            },
            None => Err(Error::internal("an analytic call without OVER")),
        }
    }

    /// The ORDER BY key and its text: at most one key, ascending.
    fn order_key(&self, spec: &WindowSpec) -> Result<Option<(Expr, SqlExpr)>> {
        let item = match spec.order_by.as_slice() {
            [] => return Ok(None),
            [one] => one,
            [_, second, ..] => {
                return Err(Error::sql(
                    "not supported: more than one ORDER BY key in OVER (...): rows are taken in arrival order, ordered by the event-time column alone",
                    position_of(second),
                ));
            }
        };
        if matches!(item.options.sort, Some(ast::OrderBySort::Desc)) {
            return Err(Error::sql(
                format!(
                    "ORDER BY {} DESC in OVER (...) is not supported: a stream is processed in arrival order, so only an ascending ORDER BY on the event-time column is possible",
                    item.expr
                ),
                position_of(item),
            ));
        }
        if matches!(item.options.sort, Some(ast::OrderBySort::Using(_))) {
            return Err(Error::sql(
                "not supported: ORDER BY ... USING in OVER (...)",
                position_of(item),
            ));
        }
        let e = self.input().plan(&item.expr)?;
        Ok(Some((e, item.expr.clone())))
    }

    /// Checks that the ORDER BY key names the event-time column (after the frame, so
    /// that a RANGE frame gets its own message).
    fn check_time_key(&self, order: Option<&(Expr, SqlExpr)>) -> Result<()> {
        match order {
            Some((e, sql)) if !self.is_time_key(e) => Err(Error::sql(
                format!(
                    "ORDER BY {sql} in OVER (...): analytic functions take rows in arrival order, so ORDER BY must name the event-time column (a TIMESTAMP or DATE column, or the integer column set by 'event.time.field'), not {sql} ({})",
                    sql_type_name(&e.data_type())
                ),
                position_of(sql),
            )),
            _ => Ok(()),
        }
    }

    /// A plain column of a time type, or the configured integer event-time column.
    fn is_time_key(&self, e: &Expr) -> bool {
        let Expr::Column {
            name, data_type, ..
        } = e
        else {
            return false;
        };
        match data_type {
            DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64 => true,
            t if crate::analytic::rank::is_rank_order_type(t) => self
                .event_time
                .as_deref()
                .is_some_and(|et| et.eq_ignore_ascii_case(name)),
            _ => false,
        }
    }

    /// The frame of a call; rejects frames that need future rows.
    fn frame(
        &self,
        spec: &WindowSpec,
        func: AnalyticFunction,
        order: Option<&(Expr, SqlExpr)>,
        name: &str,
    ) -> Result<Frame> {
        let future = |what: &str| {
            Error::plan(format!(
                "{what} in OVER (...) needs rows that have not arrived yet: a stream cannot look ahead without delaying its output; a frame must end at the CURRENT ROW"
            ))
        };
        let Some(frame) = &spec.window_frame else {
            if order.is_some() || !func.uses_frame() {
                // the default with ORDER BY: RANGE UNBOUNDED PRECEDING, i.e. every row
                // that has arrived so far
                return Ok(Frame::Unbounded);
            }
            return Err(Error::plan(format!(
                "{name}(...) OVER (...) without ORDER BY or a frame covers the whole partition, including rows that have not arrived yet; add ROWS BETWEEN n PRECEDING AND CURRENT ROW (or UNBOUNDED PRECEDING)"
            )));
        };
        match &frame.end_bound {
            None | Some(WindowFrameBound::CurrentRow) => {}
            Some(WindowFrameBound::Following(_)) => return Err(future("a FOLLOWING frame")),
            Some(WindowFrameBound::Preceding(_)) => {
                return Err(Error::not_supported(
                    "frames that end before the current row (... AND n PRECEDING); a frame must end at the CURRENT ROW",
                ));
            }
        }
        match frame.units {
            WindowFrameUnits::Rows => match &frame.start_bound {
                WindowFrameBound::Preceding(None) => Ok(Frame::Unbounded),
                WindowFrameBound::CurrentRow => Ok(Frame::Rows(1)),
                WindowFrameBound::Preceding(Some(n)) => {
                    let rows = self
                        .input()
                        .plan(n)
                        .ok()
                        .as_ref()
                        .and_then(constant_count)
                        .and_then(|k| k.checked_add(1))
                        .ok_or_else(|| {
                            let hint = if matches!(n.as_ref(), SqlExpr::Interval(_)) {
                                " (a time span needs a RANGE frame: RANGE BETWEEN INTERVAL '10' SECOND PRECEDING AND CURRENT ROW)"
                            } else {
                                ""
                            };
                            Error::sql(
                                format!("ROWS frame bound must be a constant non-negative integer, got {n}{hint}"),
                                position_of(n.as_ref()),
                            )
                        })?;
                    Ok(Frame::Rows(rows))
                }
                WindowFrameBound::Following(_) => Err(future("a FOLLOWING frame")),
            },
            WindowFrameUnits::Range => {
                let key = order.filter(|(e, _)| self.is_time_key(e));
                let Some((key, key_sql)) = key else {
                    let what = match order {
                        Some((e, sql)) => format!(
                            "the ORDER BY key {sql} is {}, not the event-time column",
                            sql_type_name(&e.data_type())
                        ),
                        None => "there is no ORDER BY".to_string(),
                    };
                    return Err(Error::plan(format!(
                        "RANGE frames need an ORDER BY on the event-time column (a TIMESTAMP or DATE column, or the column set by 'event.time.field'); {what}"
                    )));
                };
                match &frame.start_bound {
                    WindowFrameBound::Preceding(None) => Ok(Frame::Unbounded),
                    WindowFrameBound::Following(_) => Err(future("a FOLLOWING frame")),
                    WindowFrameBound::CurrentRow => Ok(Frame::Range { span_ms: 0 }),
                    WindowFrameBound::Preceding(Some(n)) => Ok(Frame::Range {
                        span_ms: range_offset_ms(n, key, key_sql)?,
                    }),
                }
            }
            WindowFrameUnits::Groups => Err(Error::not_supported(
                "GROUPS frames; use ROWS BETWEEN n PRECEDING AND CURRENT ROW",
            )),
        }
    }

    /// The index of the window with these keys (shared by calls that have the same).
    fn window_slot(&mut self, partition_by: Vec<Expr>, order_by: Option<Expr>) -> usize {
        let texts = (
            partition_by.iter().map(Expr::to_string).collect::<Vec<_>>(),
            order_by.as_ref().map(Expr::to_string),
        );
        if let Some(i) = self.window_texts.iter().position(|t| *t == texts) {
            return i;
        }
        self.window_texts.push(texts);
        self.windows.push(AnalyticWindow {
            partition_by,
            order_by,
        });
        self.windows.len() - 1
    }
}

/// The offset `n` of `RANGE BETWEEN n PRECEDING` over the event-time key `key`, in
/// milliseconds: a duration (`INTERVAL '10' SECOND`, `INTERVAL '10 seconds'`, `'10s'`;
/// the pre-pass turns `10s` into `'10s'`), or a plain integer over an integer event-time
/// key (epoch milliseconds), or `0`.
///
/// # Errors
/// [`Error::Sql`] at the offset: negative, not a constant, an unknown or variable-length
/// unit (MONTH, YEAR), a compound interval, a non-zero plain number over a TIMESTAMP /
/// DATE key.
fn range_offset_ms(n: &SqlExpr, key: &Expr, key_sql: &SqlExpr) -> Result<i64> {
    use crate::sql::duration::parse_duration_ms;
    let bad = |message: String| Error::sql(message, position_of(n));
    let negative = |shown: &dyn std::fmt::Display| {
        bad(format!(
            "RANGE frame offset must not be negative, got {shown}: the frame runs from the offset before the current row up to the current row"
        ))
    };
    let duration = |text: &str| {
        let text = text.trim();
        if text.starts_with('-') {
            return Err(negative(&n));
        }
        parse_duration_ms(text).map_err(|m| bad(format!("invalid RANGE frame offset: {m}")))
    };
    let literal = |e: &SqlExpr| match e {
        SqlExpr::Value(v) => match &v.value {
            ast::Value::SingleQuotedString(s) | ast::Value::Number(s, _) => Some(s.clone()),
            _ => None,
        },
        SqlExpr::UnaryOp {
            op: ast::UnaryOperator::Minus,
            expr,
        } => Some(format!("-{expr}")),
        _ => None,
    };
    match n {
        SqlExpr::Interval(iv) => {
            if iv.last_field.is_some()
                || iv.leading_precision.is_some()
                || iv.fractional_seconds_precision.is_some()
            {
                return Err(bad(format!(
                    "not supported: the compound interval {n} as a RANGE frame offset; write a single unit, e.g. INTERVAL '90' SECOND"
                )));
            }
            let Some(value) = literal(&iv.value) else {
                return Err(bad(format!(
                    "RANGE frame offset must be a constant duration such as INTERVAL '10' SECOND or 10s, got {n}"
                )));
            };
            match &iv.leading_field {
                Some(unit) => duration(&format!("{value} {unit}")),
                None => duration(&value),
            }
        }
        SqlExpr::Value(v) => match &v.value {
            ast::Value::SingleQuotedString(text) => duration(text),
            ast::Value::Number(text, _) => {
                let key_type = key.data_type();
                if key_type.is_integer() {
                    text.parse::<i64>().map_err(|_| {
                        bad(format!(
                            "RANGE frame offset over the integer event-time column {key_sql} must be a whole number of its units (milliseconds) or a duration such as 10s, got {text}"
                        ))
                    })
                } else if text.parse::<f64>() == Ok(0.0) {
                    Ok(0)
                } else {
                    Err(bad(format!(
                        "RANGE frame offset over {key_sql} ({}) must be a duration such as INTERVAL '{text}' SECOND or {text}s, not the number {text}",
                        sql_type_name(&key_type)
                    )))
                }
            }
            _ => Err(bad(format!(
                "RANGE frame offset must be a constant duration such as INTERVAL '10' SECOND or 10s, got {n}"
            ))),
        },
        SqlExpr::UnaryOp {
            op: ast::UnaryOperator::Minus,
            expr,
        } => Err(match literal(expr) {
            // `-5s` (the pre-pass made `5s` a string): shown as written
            Some(text) => negative(&format!("-{text}")),
            None => negative(&n),
        }),
        SqlExpr::Nested(inner) => range_offset_ms(inner, key, key_sql),
        other => Err(bad(format!(
            "RANGE frame offset must be a constant duration such as INTERVAL '10' SECOND or 10s, got {other}"
        ))),
    }
}

/// A constant non-negative integer expression's value.
fn constant_count(e: &Expr) -> Option<u64> {
    let Expr::Literal(v) = e else { return None };
    if !v.data_type().is_integer() {
        return None;
    }
    let v = arrow::compute::cast(v.as_ref(), &DataType::Int64).ok()?;
    let v = v.as_any().downcast_ref::<arrow::array::Int64Array>()?;
    if arrow::array::Array::is_null(v, 0) {
        return None;
    }
    u64::try_from(v.value(0)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_counts() {
        let lit = |a: arrow::array::ArrayRef| Expr::Literal(a);
        assert_eq!(
            constant_count(&lit(Arc::new(arrow::array::Int32Array::from(vec![3])))),
            Some(3)
        );
        assert_eq!(
            constant_count(&lit(Arc::new(arrow::array::Int32Array::from(vec![-1])))),
            None
        );
        assert_eq!(
            constant_count(&lit(Arc::new(arrow::array::Float64Array::from(vec![1.0])))),
            None
        );
    }
}
