//! EXPLAIN text: the logical plan as an indented tree.

use std::fmt::Write;

use super::logical::{LogicalPlan, QueryPlan};
use crate::expr::types::sql_type_name;

/// The logical plan as text, one node per line, children indented.
pub fn explain_logical(plan: &QueryPlan) -> String {
    let mut out = String::new();
    write_node(&plan.root, 0, &mut out);
    let o = &plan.options;
    if let Some(emit) = o.emit {
        let _ = writeln!(out, "options: {emit}");
    }
    if let Some(et) = &o.event_time {
        let _ = writeln!(
            out,
            "options: event_time={et}, watermark_delay={}ms",
            o.watermark_delay_ms
        );
    }
    out
}

fn write_node(node: &LogicalPlan, depth: usize, out: &mut String) {
    let pad = "  ".repeat(depth);
    match node {
        LogicalPlan::Scan { table, schema } => {
            let cols: Vec<String> = schema
                .fields()
                .iter()
                .map(|f| format!("{}:{}", f.name(), sql_type_name(f.data_type())))
                .collect();
            let _ = writeln!(out, "{pad}Scan: {table} [{}]", cols.join(", "));
        }
        LogicalPlan::Filter { input, predicate } => {
            let _ = writeln!(out, "{pad}Filter: {predicate}");
            write_node(input, depth + 1, out);
        }
        LogicalPlan::Projection {
            input,
            exprs,
            schema,
        } => {
            let items: Vec<String> = exprs
                .iter()
                .zip(schema.fields())
                .map(|(e, f)| {
                    let text = e.to_string();
                    if &text == f.name() {
                        text
                    } else {
                        format!("{text} AS {}", f.name())
                    }
                })
                .collect();
            let _ = writeln!(out, "{pad}Projection: {}", items.join(", "));
            write_node(input, depth + 1, out);
        }
        LogicalPlan::Aggregate {
            input,
            keys,
            calls,
            emit,
            window,
            ..
        } => {
            let k: Vec<String> = keys.iter().map(|k| k.expr.to_string()).collect();
            let c: Vec<String> = calls.iter().map(|c| c.text.clone()).collect();
            let w = window
                .as_ref()
                .map(|w| format!(", window={} on {}", w.kind, w.time_name))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "{pad}Aggregate: keys=[{}], aggregates=[{}]{w}, {emit}",
                k.join(", "),
                c.join(", ")
            );
            write_node(input, depth + 1, out);
        }
        LogicalPlan::Sort { input, keys } => {
            let k: Vec<String> = keys
                .iter()
                .map(|k| {
                    format!(
                        "#{}{}{}",
                        k.column,
                        if k.descending { " DESC" } else { "" },
                        if k.nulls_first { " NULLS FIRST" } else { "" }
                    )
                })
                .collect();
            let _ = writeln!(out, "{pad}Sort (per emission): {}", k.join(", "));
            write_node(input, depth + 1, out);
        }
        LogicalPlan::Analytic {
            input,
            windows,
            calls,
            ..
        } => {
            let c: Vec<String> = calls
                .iter()
                .map(|c| {
                    let (keys, order) = match windows.get(c.window) {
                        Some(w) => (
                            w.partition_by
                                .iter()
                                .map(|k| k.to_string())
                                .collect::<Vec<_>>(),
                            w.order_by
                                .as_ref()
                                .map(|o| format!(" order={o}"))
                                .unwrap_or_default(),
                        ),
                        None => (Vec::new(), String::new()),
                    };
                    let frame = if c.func.uses_frame() {
                        format!(", {}", c.frame)
                    } else {
                        String::new()
                    };
                    format!("{} [partition=({}){order}{frame}]", c.func, keys.join(", "))
                })
                .collect();
            let _ = writeln!(out, "{pad}Analytic: {}", c.join(", "));
            write_node(input, depth + 1, out);
        }
        LogicalPlan::Limit { input, skip, fetch } => {
            let _ = match fetch {
                Some(f) => writeln!(out, "{pad}Limit: skip={skip}, fetch={f}"),
                None => writeln!(out, "{pad}Limit: skip={skip}"),
            };
            write_node(input, depth + 1, out);
        }
    }
}
