//! The planner: one parsed query plus the registered input schemas → [`QueryPlan`].
//!
//! It resolves the FROM input, plans WHERE and the SELECT list through the expression
//! planner, resolves the `WITH (...)` options against the caller's, and names what is
//! recognised but not available yet.

use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use sqlparser::ast::{
    self, Expr as SqlExpr, GroupByExpr, LimitClause, SelectItem, SetExpr, TableFactor,
};

use super::aggregate::{AggContext, GroupKey, contains_aggregate, normalized_text};
use super::expr_planner::{ExprPlanner, position_of};
use super::logical::SortKey;
use super::logical::{LogicalPlan, QueryPlan, ResolvedOptions};
use super::scope::{Scope, closest, did_you_mean};
use super::window::{WindowPlan, group_window_function, plan_window, validate_kind};
use crate::config::QueryOptions;
use crate::error::{Error, Result};
use crate::expr::Expr;
use crate::sql::duration::parse_duration_ms;
use crate::sql::{EmitMode, ParsedQuery, QueryOption};

/// Query option keys accepted in `WITH (...)`.
pub const OPTION_KEYS: &[&str] = &[
    "event.time.field",
    "watermark.max_out_of_orderness",
    "emit.changelog",
];

/// Plans a parsed query against the registered inputs.
///
/// # Errors
/// [`Error::Sql`] (unknown names with suggestions, type errors, each with a position),
/// [`Error::NotSupported`] for features that are recognised but not available.
pub fn plan_query(
    parsed: &ParsedQuery,
    inputs: &[(String, SchemaRef)],
    options: &QueryOptions,
) -> Result<QueryPlan> {
    let query = &parsed.query;
    if query.with.is_some() {
        return Err(Error::not_supported("WITH common table expressions"));
    }
    if query.fetch.is_some() || !query.locks.is_empty() {
        return Err(Error::not_supported("FETCH / FOR UPDATE"));
    }
    let select = match query.body.as_ref() {
        SetExpr::Select(s) => s,
        SetExpr::SetOperation { .. } => {
            return Err(Error::not_supported("UNION / INTERSECT / EXCEPT"));
        }
        SetExpr::Values(_) => return Err(Error::not_supported("VALUES as a query")),
        _ => return Err(Error::not_supported("this kind of query body")),
    };
    if select.distinct.is_some() {
        return Err(Error::not_supported("SELECT DISTINCT"));
    }
    if select.qualify.is_some() {
        return Err(Error::not_supported("QUALIFY"));
    }

    // FROM: exactly one registered input
    let (table, alias, table_node) = match select.from.as_slice() {
        [] => {
            return Err(Error::sql(
                "a query needs a FROM clause naming its input",
                position_of(&select.select_token.0),
            ));
        }
        [twj] => {
            if let Some(j) = twj.joins.first() {
                return Err(Error::sql(
                    format!(
                        "not supported: JOIN {} (stream-table joins are not supported yet)",
                        j.relation
                    ),
                    position_of(&j.relation),
                ));
            }
            match &twj.relation {
                TableFactor::Table {
                    name, alias, args, ..
                } => {
                    if args.is_some() {
                        return Err(Error::not_supported(format!("table function {name}")));
                    }
                    (
                        name.to_string(),
                        alias.as_ref().map(|a| a.name.value.clone()),
                        &twj.relation,
                    )
                }
                other => {
                    return Err(Error::not_supported(format!(
                        "FROM {other} (only a registered input name is supported)"
                    )));
                }
            }
        }
        _ => {
            return Err(Error::not_supported(
                "several inputs in FROM (joins are not supported yet)",
            ));
        }
    };
    let (input_name, schema) =
        resolve_input(&table, inputs).map_err(|m| Error::sql(m, position_of(table_node)))?;
    let qualifier = alias.clone().unwrap_or_else(|| input_name.clone());
    let scope = Scope::from_schema(&schema, Some(&qualifier));
    let ep = ExprPlanner {
        scope: &scope,
        agg: None,
    };

    let group_by: &[SqlExpr] = match &select.group_by {
        GroupByExpr::Expressions(v, mods) => {
            if !mods.is_empty() {
                return Err(Error::not_supported(
                    "GROUP BY modifiers (ROLLUP, CUBE, ...)",
                ));
            }
            v
        }
        GroupByExpr::All(_) => return Err(Error::not_supported("GROUP BY ALL")),
    };
    let window = plan_query_window(parsed, group_by, options, &scope, &input_name)?;
    let is_aggregate = window.is_some()
        || !group_by.is_empty()
        || select.having.is_some()
        || select.projection.iter().any(|item| match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                contains_aggregate(e)
            }
            _ => false,
        });
    let emit = parsed.streaming.emit;
    // SPEC §4: a window without EMIT is EMIT FINAL, a plain GROUP BY is EMIT CHANGES
    let default_emit = if window.is_some() {
        EmitMode::Final
    } else {
        EmitMode::Changes
    };
    if !is_aggregate && let Some((EmitMode::Final, at)) = emit {
        return Err(Error::sql(
            "EMIT FINAL needs a GROUP BY or a window: a plain SELECT emits each row as it arrives",
            at,
        ));
    }

    let mut root = LogicalPlan::Scan {
        table: input_name.clone(),
        schema: schema.clone(),
    };
    if let Some(w) = &select.selection {
        if contains_aggregate(w) {
            return Err(Error::sql(
                "aggregate functions are not allowed in WHERE (use HAVING)",
                position_of(w),
            ));
        }
        let mut predicate = ep.plan(w)?;
        if predicate.data_type() == arrow::datatypes::DataType::Null {
            predicate =
                super::expr_planner::cast_to(predicate, &arrow::datatypes::DataType::Boolean)?;
        }
        let t = predicate.data_type();
        if !matches!(t, arrow::datatypes::DataType::Boolean) {
            return Err(Error::sql(
                format!(
                    "WHERE needs a BOOLEAN condition, got {}",
                    crate::expr::types::sql_type_name(&t)
                ),
                position_of(w),
            ));
        }
        root = LogicalPlan::Filter {
            input: Box::new(root),
            predicate,
        };
    }

    // the aggregate context: keys first, aggregate calls are added while planning
    let ctx = if is_aggregate {
        Some(plan_group_keys(select, group_by, &ep, window.as_ref())?)
    } else {
        None
    };
    // ROWS-window analytics (plan::analytic): each OVER call becomes a result column
    let analytic =
        super::analytic::plan_analytic(parsed, select, &scope, &schema, is_aggregate, options)?;
    let select_scope = analytic.as_ref().map_or(&scope, |a| &a.scope);
    let select_schema = analytic.as_ref().map_or(&schema, |a| &a.schema);
    let projection = analytic
        .as_ref()
        .map_or(&select.projection, |a| &a.projection);
    let out_ep = ExprPlanner {
        scope: select_scope,
        agg: ctx.as_ref(),
    };

    // SELECT list
    let mut exprs: Vec<Expr> = Vec::new();
    let mut fields: Vec<Field> = Vec::new();
    let mut item_texts: Vec<String> = Vec::new();
    for item in projection {
        match item {
            SelectItem::Wildcard(opts) | SelectItem::QualifiedWildcard(_, opts) => {
                reject_wildcard_options(opts)?;
                if let SelectItem::QualifiedWildcard(kind, _) = item {
                    let q = match kind {
                        ast::SelectItemQualifiedWildcardKind::ObjectName(name) => name.to_string(),
                        ast::SelectItemQualifiedWildcardKind::Expr(e) => e.to_string(),
                    };
                    if !q.eq_ignore_ascii_case(&qualifier) {
                        return Err(Error::sql(
                            format!(
                                "unknown table \"{q}\" in {q}.* (the input is \"{qualifier}\")"
                            ),
                            position_of(item),
                        ));
                    }
                }
                if is_aggregate {
                    return Err(Error::sql(
                        "SELECT * cannot be used with GROUP BY or aggregates: name the key columns",
                        position_of(item),
                    ));
                }
                for (i, f) in schema.fields().iter().enumerate() {
                    exprs.push(column_expr(i, f));
                    fields.push(f.as_ref().clone());
                    item_texts.push(f.name().to_ascii_lowercase());
                }
            }
            SelectItem::UnnamedExpr(e) => {
                let planned = out_ep.plan(e)?;
                let name = output_name(e);
                fields.push(output_field(&planned, name, select_schema, is_aggregate));
                exprs.push(planned);
                item_texts.push(normalized_text(e));
            }
            SelectItem::ExprWithAlias { expr, alias } => {
                let planned = out_ep.plan(expr)?;
                fields.push(output_field(
                    &planned,
                    alias.value.clone(),
                    select_schema,
                    is_aggregate,
                ));
                exprs.push(planned);
                item_texts.push(normalized_text(expr));
            }
            SelectItem::ExprWithAliases { .. } => {
                return Err(Error::not_supported("multiple aliases for one SELECT item"));
            }
        }
    }

    if let Some(ctx) = &ctx {
        let having = match &select.having {
            Some(h) => {
                let p = out_ep.plan(h)?;
                let p = if p.data_type() == arrow::datatypes::DataType::Null {
                    super::expr_planner::cast_to(p, &arrow::datatypes::DataType::Boolean)?
                } else {
                    p
                };
                if p.data_type() != arrow::datatypes::DataType::Boolean {
                    return Err(Error::sql(
                        format!(
                            "HAVING needs a BOOLEAN condition, got {}",
                            crate::expr::types::sql_type_name(&p.data_type())
                        ),
                        position_of(h),
                    ));
                }
                Some(p)
            }
            None => None,
        };
        let calls = ctx.calls.borrow().clone();
        let mut agg_fields: Vec<Field> = Vec::new();
        if let Some(w) = &window {
            agg_fields.push(Field::new("window_start", w.time_type.clone(), false));
            agg_fields.push(Field::new("window_end", w.time_type.clone(), false));
        }
        agg_fields.extend(ctx.keys.iter().map(|k| {
            Field::new(
                k.name.clone(),
                crate::aggregate::emitted_key_type(&k.expr.data_type()),
                true,
            )
        }));
        agg_fields.extend(
            calls
                .iter()
                .map(|c| Field::new(c.text.clone(), c.data_type.clone(), true)),
        );
        root = LogicalPlan::Aggregate {
            input: Box::new(root),
            keys: ctx.keys.clone(),
            calls,
            emit: emit.map(|e| e.0).unwrap_or(default_emit),
            window: window.clone(),
            schema: Arc::new(Schema::new(agg_fields)),
        };
        if let Some(predicate) = having {
            root = LogicalPlan::Filter {
                input: Box::new(root),
                predicate,
            };
        }
    }
    if let Some(a) = analytic {
        root = a.wrap(root);
    }
    let out_schema = Arc::new(Schema::new(fields));
    root = LogicalPlan::Projection {
        input: Box::new(root),
        exprs,
        schema: out_schema.clone(),
    };

    if let Some(order) = &query.order_by {
        if !is_aggregate {
            return Err(Error::sql(
                "not supported: ORDER BY on a query without GROUP BY (a stream's rows leave in arrival order; ORDER BY sorts each emission of an aggregation)",
                position_of(order),
            ));
        }
        let keys = plan_order_by(order, &out_schema, &item_texts)?;
        root = LogicalPlan::Sort {
            input: Box::new(root),
            keys,
        };
    }
    if let Some(limit) = &query.limit_clause {
        let (skip, fetch) = match limit {
            LimitClause::LimitOffset {
                limit,
                offset,
                limit_by,
            } => {
                if !limit_by.is_empty() {
                    return Err(Error::not_supported("LIMIT BY"));
                }
                let fetch = limit.as_ref().map(count_literal).transpose()?;
                let skip = offset
                    .as_ref()
                    .map(|o| count_literal(&o.value))
                    .transpose()?;
                (skip.unwrap_or(0), fetch)
            }
            LimitClause::OffsetCommaLimit { offset, limit } => {
                (count_literal(offset)?, Some(count_literal(limit)?))
            }
        };
        root = LogicalPlan::Limit {
            input: Box::new(root),
            skip,
            fetch,
        };
    }

    let emit_mode = if is_aggregate {
        Some(emit.map(|e| e.0).unwrap_or(default_emit))
    } else {
        emit.map(|e| e.0)
    };
    let options = resolve_options(&parsed.streaming.options, options, emit_mode)?;
    if let Some(et) = &options.event_time
        && schema.index_of(et).is_err()
    {
        return Err(Error::plan(format!(
            "event-time column \"{et}\" is not a column of {input_name}{}",
            did_you_mean(closest(
                et,
                schema.fields().iter().map(|f| f.name().as_str())
            ))
        )));
    }
    Ok(QueryPlan {
        root,
        input: input_name,
        options,
    })
}

fn reject_wildcard_options(opts: &ast::WildcardAdditionalOptions) -> Result<()> {
    if opts.opt_exclude.is_some()
        || opts.opt_except.is_some()
        || opts.opt_replace.is_some()
        || opts.opt_rename.is_some()
        || opts.opt_ilike.is_some()
    {
        return Err(Error::not_supported(
            "SELECT * EXCLUDE/EXCEPT/REPLACE/RENAME",
        ));
    }
    Ok(())
}

fn column_expr(index: usize, f: &Field) -> Expr {
    Expr::Column {
        index,
        name: f.name().clone(),
        data_type: f.data_type().clone(),
    }
}

/// DuckDB names an unaliased column by its SQL text (a bare column by its name).
fn output_name(e: &SqlExpr) -> String {
    match e {
        SqlExpr::Identifier(id) => id.value.clone(),
        SqlExpr::CompoundIdentifier(parts) => {
            parts.last().map(|p| p.value.clone()).unwrap_or_default()
        }
        other => other.to_string(),
    }
}

fn output_field(e: &Expr, name: String, input: &Schema, aggregate: bool) -> Field {
    let nullable = match e {
        Expr::Column { index, .. } if !aggregate => input.field(*index).is_nullable(),
        _ => true,
    };
    Field::new(name, e.data_type(), nullable)
}

/// A non-negative integer literal (LIMIT / OFFSET).
fn count_literal(e: &SqlExpr) -> Result<usize> {
    match e {
        SqlExpr::Value(v) => match &v.value {
            ast::Value::Number(n, _) => n.parse::<usize>().ok(),
            _ => None,
        },
        _ => None,
    }
    .ok_or_else(|| {
        Error::sql(
            format!("LIMIT/OFFSET needs a non-negative integer, got {e}"),
            position_of(e),
        )
    })
}

/// Finds an input by name (exact, then case-insensitive), or says which exist.
fn resolve_input(
    name: &str,
    inputs: &[(String, SchemaRef)],
) -> Result<(String, SchemaRef), String> {
    let found = inputs
        .iter()
        .find(|(n, _)| n == name)
        .or_else(|| inputs.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)));
    match found {
        Some((n, s)) => Ok((n.clone(), s.clone())),
        None => {
            let names: Vec<&str> = inputs.iter().map(|(n, _)| n.as_str()).collect();
            let registered = if names.is_empty() {
                "no inputs are registered".to_string()
            } else {
                format!("registered inputs: {}", names.join(", "))
            };
            Err(format!(
                "unknown table \"{name}\"{} ({registered})",
                did_you_mean(closest(name, names.iter().copied()))
            ))
        }
    }
}

/// Merges `WITH (...)` options with the caller's (the caller's win) and defaults.
fn resolve_options(
    with: &[QueryOption],
    caller: &QueryOptions,
    emit: Option<EmitMode>,
) -> Result<ResolvedOptions> {
    let mut out = ResolvedOptions {
        emit,
        ..Default::default()
    };
    for opt in with {
        match opt.key.as_str() {
            "event.time.field" => out.event_time = Some(opt.value.clone()),
            "watermark.max_out_of_orderness" => {
                out.watermark_delay_ms = parse_duration_ms(&opt.value)
                    .map_err(|m| Error::sql(format!("option '{}': {m}", opt.key), opt.position))?;
            }
            "emit.changelog" => {
                out.changelog = match opt.value.to_ascii_lowercase().as_str() {
                    "true" => true,
                    "false" => false,
                    _ => {
                        return Err(Error::sql(
                            format!(
                                "option 'emit.changelog' must be 'true' or 'false', got '{}'",
                                opt.value
                            ),
                            opt.position,
                        ));
                    }
                }
            }
            other => {
                return Err(Error::sql(
                    format!(
                        "unknown query option '{other}'{}; valid options: {}",
                        did_you_mean(closest(other, OPTION_KEYS.iter().copied())),
                        OPTION_KEYS.join(", ")
                    ),
                    opt.position,
                ));
            }
        }
    }
    if let Some(et) = &caller.event_time {
        out.event_time = Some(et.clone());
    }
    if let Some(d) = caller.watermark_delay_ms {
        if d < 0 {
            return Err(Error::plan("watermark delay must not be negative"));
        }
        out.watermark_delay_ms = d;
    }
    out.changelog |= caller.changelog;
    out.memory_limit_bytes = caller.memory_limit_bytes;
    out.collect_late_rows = caller.collect_late_rows;
    Ok(out)
}

/// Plans the GROUP BY keys (an ordinal or a SELECT alias names a SELECT item).
fn plan_group_keys(
    select: &ast::Select,
    group_by: &[SqlExpr],
    ep: &ExprPlanner<'_>,
    window: Option<&WindowPlan>,
) -> Result<AggContext> {
    let window_ctx = AggContext {
        window_type: window.map(|w| w.time_type.clone()),
        ..Default::default()
    };
    let aliases: Vec<(String, SqlExpr)> = select
        .projection
        .iter()
        .filter_map(|i| match i {
            SelectItem::ExprWithAlias { expr, alias } => Some((alias.value.clone(), expr.clone())),
            _ => None,
        })
        .collect();
    let mut keys: Vec<GroupKey> = Vec::new();
    for g in group_by {
        // the window's own bounds and group-window functions are implied keys
        if window.is_some()
            && (window_ctx.window_slot(g).is_some() || group_window_function(g)?.is_some())
        {
            continue;
        }
        // GROUP BY 2: the second SELECT item
        let resolved: SqlExpr = match g {
            SqlExpr::Value(v) if matches!(v.value, ast::Value::Number(..)) => {
                let n: usize = v.value.to_string().parse().unwrap_or(0);
                match select.projection.get(n.wrapping_sub(1)) {
                    Some(SelectItem::UnnamedExpr(e))
                    | Some(SelectItem::ExprWithAlias { expr: e, .. }) => e.clone(),
                    _ => {
                        return Err(Error::sql(
                            format!("GROUP BY position {n} is not in the SELECT list"),
                            position_of(g),
                        ));
                    }
                }
            }
            SqlExpr::Identifier(id)
                if matches!(
                    ep.scope.lookup(None, &id.value, id.quote_style.is_some()),
                    super::scope::Lookup::Missing(_)
                ) =>
            {
                match aliases
                    .iter()
                    .find(|(a, _)| a.eq_ignore_ascii_case(&id.value))
                {
                    Some((_, e)) => e.clone(),
                    None => g.clone(),
                }
            }
            other => other.clone(),
        };
        if contains_aggregate(&resolved) {
            return Err(Error::sql(
                "aggregate functions are not allowed in GROUP BY",
                position_of(g),
            ));
        }
        let expr = ep.plan(&resolved)?;
        // keys are matched by their planned form: `t.g`, `g` and `(g)` are one key
        let text = expr.to_string();
        if keys.iter().any(|k| k.text == text) {
            continue;
        }
        keys.push(GroupKey {
            name: output_name(&resolved),
            expr,
            text,
        });
    }
    Ok(AggContext {
        keys,
        calls: Default::default(),
        aliases,
        window_type: window.map(|w| w.time_type.clone()),
    })
}

/// ORDER BY items as output column indices: an ordinal, an output column name, or an
/// expression written like a SELECT item.
fn plan_order_by(
    order: &ast::OrderBy,
    out: &Schema,
    item_texts: &[String],
) -> Result<Vec<SortKey>> {
    let ast::OrderByKind::Expressions(items) = &order.kind else {
        return Err(Error::not_supported("ORDER BY ALL"));
    };
    let mut keys = Vec::new();
    for item in items {
        let e = &item.expr;
        let column = match e {
            SqlExpr::Value(v) if matches!(v.value, ast::Value::Number(..)) => v
                .value
                .to_string()
                .parse::<usize>()
                .ok()
                .filter(|n| *n >= 1 && *n <= out.fields().len())
                .map(|n| n - 1),
            SqlExpr::Identifier(id) => out
                .fields()
                .iter()
                .position(|f| f.name() == &id.value)
                .or_else(|| {
                    out.fields()
                        .iter()
                        .position(|f| f.name().eq_ignore_ascii_case(&id.value))
                }),
            _ => None,
        }
        .or_else(|| item_texts.iter().position(|t| *t == normalized_text(e)));
        let Some(column) = column else {
            return Err(Error::sql(
                format!(
                    "ORDER BY {e}: sort by a SELECT column (by name, alias or position); available: {}",
                    out.fields()
                        .iter()
                        .map(|f| f.name().as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                position_of(e),
            ));
        };
        let descending = matches!(item.options.sort, Some(ast::OrderBySort::Desc));
        if matches!(item.options.sort, Some(ast::OrderBySort::Using(_))) {
            return Err(Error::not_supported("ORDER BY ... USING"));
        }
        keys.push(SortKey {
            column,
            descending,
            // DuckDB: NULLS LAST by default, in both directions
            nulls_first: item.options.nulls_first.unwrap_or(false),
        });
    }
    Ok(keys)
}

/// The query's window, from the WINDOW clause / TVF or a group-window function in
/// GROUP BY (at most one of them), with its event-time column resolved.
fn plan_query_window(
    parsed: &ParsedQuery,
    group_by: &[SqlExpr],
    options: &QueryOptions,
    scope: &Scope,
    input_name: &str,
) -> Result<Option<WindowPlan>> {
    let mut found: Option<(
        crate::sql::WindowKind,
        Option<String>,
        crate::error::SqlPosition,
    )> = parsed
        .streaming
        .window
        .as_ref()
        .map(|w| (w.kind.clone(), w.time_column.clone(), w.position));
    for g in group_by {
        if let Some((kind, column)) = group_window_function(g)? {
            if found.is_some() {
                return Err(Error::sql(
                    "two window clauses: a query has one window (a WINDOW clause, a window table function or one TUMBLE/HOP/SESSION in GROUP BY)",
                    position_of(g),
                ));
            }
            found = Some((kind, Some(column), position_of(g)));
        }
    }
    let Some((kind, column, at)) = found else {
        return Ok(None);
    };
    let with_event_time = parsed
        .streaming
        .options
        .iter()
        .find(|o| o.key == "event.time.field")
        .map(|o| o.value.clone());
    let option_column = options.event_time.clone().or(with_event_time);
    let locate = |e: Error| match e {
        Error::Plan(m) => Error::sql(m, at),
        other => other,
    };
    validate_kind(&kind).map_err(locate)?;
    let plan = plan_window(
        kind,
        column.as_deref(),
        option_column.as_deref(),
        scope,
        input_name,
    )
    .map_err(locate)?;
    // the sizes must be expressible in the column's unit
    match plan.kind {
        crate::sql::WindowKind::Tumbling { size_ms, offset_ms } => {
            plan.to_units(size_ms, "window size").map_err(locate)?;
            plan.to_units(offset_ms, "window offset").map_err(locate)?;
        }
        crate::sql::WindowKind::Sliding {
            size_ms,
            slide_ms,
            offset_ms,
        } => {
            plan.to_units(size_ms, "window size").map_err(locate)?;
            plan.to_units(slide_ms, "window advance").map_err(locate)?;
            plan.to_units(offset_ms, "window offset").map_err(locate)?;
        }
        crate::sql::WindowKind::Session { gap_ms } => {
            plan.to_units(gap_ms, "session gap").map_err(locate)?;
        }
    }
    Ok(Some(plan))
}
