//! The stateless stage: WHERE then the SELECT list, one batch at a time.
//!
//! ```text
//!  batch ─▶ predicate mask (one kernel pass per operator)
//!        ─▶ filter only the columns the SELECT list reads (the filter is prepared once,
//!           then applied to each column)
//!        ─▶ evaluate the SELECT expressions on that narrow batch
//! ```

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions};
use arrow::datatypes::{Schema, SchemaRef};

use super::selection::Selection;
use super::{Check, check_batch};
use crate::error::Result;
use crate::expr::Expr;

/// WHERE + SELECT over one batch.
#[derive(Debug, Clone)]
pub struct FilterProject {
    input_schema: SchemaRef,
    predicate: Option<Expr>,
    /// Input columns the projections read, in the order of the narrow batch.
    needed: Vec<usize>,
    narrow_schema: SchemaRef,
    /// Projections over the narrow batch.
    projections: Vec<Expr>,
    schema: SchemaRef,
}

impl FilterProject {
    /// Builds the stage. `projections` refer to `input` column indices.
    pub fn new(
        input: &SchemaRef,
        predicate: Option<Expr>,
        projections: Vec<Expr>,
        schema: SchemaRef,
    ) -> Self {
        let mut needed = Vec::new();
        for p in &projections {
            p.column_indices(&mut needed);
        }
        needed.sort_unstable();
        let mut map = vec![usize::MAX; input.fields().len()];
        for (pos, &i) in needed.iter().enumerate() {
            map[i] = pos;
        }
        let narrow_schema = Arc::new(Schema::new(
            needed
                .iter()
                .map(|&i| input.field(i).clone())
                .collect::<Vec<_>>(),
        ));
        let projections = projections.into_iter().map(|p| remap(p, &map)).collect();
        FilterProject {
            input_schema: input.clone(),
            predicate,
            needed,
            narrow_schema,
            projections,
            schema,
        }
    }

    /// The input schema.
    pub fn input_schema(&self) -> &SchemaRef {
        &self.input_schema
    }

    /// The output schema.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The WHERE predicate, if any.
    pub fn predicate(&self) -> Option<&Expr> {
        self.predicate.as_ref()
    }

    /// The input columns the stage reads (WHERE and SELECT), ascending.
    pub fn input_columns(&self) -> Vec<usize> {
        let mut columns = self.needed.clone();
        if let Some(p) = &self.predicate {
            p.column_indices(&mut columns);
        }
        columns.sort_unstable();
        columns.dedup();
        columns
    }

    /// Batch `i` of a call, after its `check` (batches read unchecked, see
    /// [`super::Check`]): WHERE and SELECT read its values, so the check comes here.
    ///
    /// # Errors
    /// The check's, then as [`FilterProject::apply`].
    pub fn apply_checked(
        &self,
        check: Check<'_>,
        i: usize,
        batch: &RecordBatch,
    ) -> Result<RecordBatch> {
        check_batch(check, i, batch)?;
        self.apply(batch)
    }

    /// Applies WHERE and SELECT to one batch.
    ///
    /// # Errors
    /// Data-dependent expression failures (overflow, failed casts).
    pub fn apply(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let mut rows = batch.num_rows();
        if rows == 0 {
            // nothing to evaluate: an expression that would fail (a constant overflow)
            // must not fail a query over no rows
            return Ok(RecordBatch::new_empty(self.schema.clone()));
        }
        let columns: Vec<ArrayRef> = match &self.predicate {
            None => self
                .needed
                .iter()
                .map(|&i| batch.column(i).clone())
                .collect(),
            Some(pred) => {
                let mask = pred.evaluate_mask(batch)?;
                let mut selection = Selection::new(&mask);
                let selected = selection.count();
                if selected == rows {
                    self.needed
                        .iter()
                        .map(|&i| batch.column(i).clone())
                        .collect()
                } else if selected == 0 {
                    return Ok(RecordBatch::new_empty(self.schema.clone()));
                } else {
                    rows = selected;
                    self.needed
                        .iter()
                        .map(|&i| selection.apply(batch.column(i)))
                        .collect::<Result<_>>()?
                }
            }
        };
        let narrow = RecordBatch::try_new_with_options(
            self.narrow_schema.clone(),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(rows)),
        )?;
        let outputs = self
            .projections
            .iter()
            .map(|p| p.evaluate(&narrow)?.into_array(rows))
            .collect::<Result<Vec<_>>>()?;
        Ok(RecordBatch::try_new_with_options(
            self.schema.clone(),
            outputs,
            &RecordBatchOptions::new().with_row_count(Some(rows)),
        )?)
    }
}

/// Rewrites column indices through `map` (input index → narrow index).
pub(crate) fn remap(e: Expr, map: &[usize]) -> Expr {
    let r = |b: Box<Expr>| Box::new(remap(*b, map));
    match e {
        Expr::Column {
            index,
            name,
            data_type,
        } => Expr::Column {
            index: map[index],
            name,
            data_type,
        },
        Expr::Literal(v) => Expr::Literal(v),
        Expr::Binary {
            op,
            left,
            right,
            data_type,
        } => Expr::Binary {
            op,
            left: r(left),
            right: r(right),
            data_type,
        },
        Expr::Not(x) => Expr::Not(r(x)),
        Expr::Negative(x) => Expr::Negative(r(x)),
        Expr::IsNull { expr, negated } => Expr::IsNull {
            expr: r(expr),
            negated,
        },
        Expr::Like {
            negated,
            case_insensitive,
            expr,
            pattern,
        } => Expr::Like {
            negated,
            case_insensitive,
            expr: r(expr),
            pattern: r(pattern),
        },
        Expr::InList {
            expr,
            list,
            negated,
        } => Expr::InList {
            expr: r(expr),
            list: list.into_iter().map(|x| remap(x, map)).collect(),
            negated,
        },
        Expr::Case {
            when_then,
            else_expr,
            data_type,
        } => Expr::Case {
            when_then: when_then
                .into_iter()
                .map(|(w, t)| (remap(w, map), remap(t, map)))
                .collect(),
            else_expr: else_expr.map(r),
            data_type,
        },
        Expr::Cast { expr, to, mode } => Expr::Cast {
            expr: r(expr),
            to,
            mode,
        },
        Expr::Function { func, args } => Expr::Function {
            func,
            args: args.into_iter().map(|x| remap(x, map)).collect(),
        },
    }
}
