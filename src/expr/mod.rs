//! Vectorized expressions: a typed, resolved expression tree evaluated a whole batch at
//! a time.
//!
//! ```text
//!   sqlparser AST ──plan::──▶ Expr (typed, columns resolved to indices)
//!                               │ evaluate(&RecordBatch)  — once per batch, never per row
//!                               ▼
//!                         ColumnarValue (an Arrow array, or a one-row scalar)
//! ```
//! Every node dispatches on the Arrow type once per batch and then runs an Arrow compute
//! kernel or a typed loop over the column.

pub mod binary;
pub mod cast;
pub mod coerce;
pub mod compare;
pub mod functions;
pub mod types;

use std::fmt;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, new_null_array};
use arrow::datatypes::DataType;

use crate::error::{Error, Result};

pub use binary::BinaryOp;
pub use cast::CastMode;

/// The value of an expression over one batch: a column of `num_rows` values, or one
/// value standing for all rows (a literal, or an expression over literals only).
#[derive(Debug, Clone)]
pub enum ColumnarValue {
    /// One value per row.
    Array(ArrayRef),
    /// One value for every row, held as a one-element array.
    Scalar(ArrayRef),
}

impl ColumnarValue {
    /// The Arrow type of the value.
    pub fn data_type(&self) -> &DataType {
        match self {
            ColumnarValue::Array(a) | ColumnarValue::Scalar(a) => a.data_type(),
        }
    }

    /// The value as an array of `num_rows` rows (a scalar is repeated).
    ///
    /// # Errors
    /// Fails if the scalar cannot be repeated (an Arrow error).
    pub fn into_array(self, num_rows: usize) -> Result<ArrayRef> {
        match self {
            ColumnarValue::Array(a) => Ok(a),
            ColumnarValue::Scalar(s) => repeat_scalar(&s, num_rows),
        }
    }

    /// True when this is a scalar that is NULL.
    pub fn is_null_scalar(&self) -> bool {
        matches!(self, ColumnarValue::Scalar(s) if s.is_null(0))
    }
}

/// Repeats the single value of `scalar` `num_rows` times.
///
/// # Errors
/// Fails if `scalar` is not a one-element array.
pub fn repeat_scalar(scalar: &ArrayRef, num_rows: usize) -> Result<ArrayRef> {
    if scalar.len() != 1 {
        return Err(Error::internal(format!(
            "scalar value has {} elements",
            scalar.len()
        )));
    }
    if scalar.is_null(0) {
        return Ok(new_null_array(scalar.data_type(), num_rows));
    }
    if num_rows == 1 {
        return Ok(Arc::clone(scalar));
    }
    // `take` with an all-zero index column repeats the value without a per-type match.
    let indices = arrow::array::UInt32Array::from(vec![0u32; num_rows]);
    Ok(arrow::compute::take(scalar.as_ref(), &indices, None)?)
}

/// A scalar function bound to its argument types at planning time.
///
/// Implementations evaluate whole columns: `invoke` is called once per batch.
pub trait ScalarFunction: Send + Sync + fmt::Debug {
    /// Upper-case SQL name, for EXPLAIN and column names.
    fn name(&self) -> &str;
    /// The result type (fixed at planning time).
    fn return_type(&self) -> &DataType;
    /// Evaluates the function over one batch. `args` have the types the function asked
    /// for when it was planned; `num_rows` is the batch length (scalars stand for all rows).
    ///
    /// # Errors
    /// Data-dependent failures (overflow, invalid input) as [`Error::Execution`].
    fn invoke(&self, args: &[ColumnarValue], num_rows: usize) -> Result<ColumnarValue>;
}

/// A resolved, typed expression.
#[derive(Debug, Clone)]
pub enum Expr {
    /// A column of the input batch.
    Column {
        /// Index in the input schema.
        index: usize,
        /// Column name (for display).
        name: String,
        /// Column type.
        data_type: DataType,
    },
    /// A constant (a one-element array; NULL literals have type `Null` until coerced).
    Literal(ArrayRef),
    /// `left op right`.
    Binary {
        /// Operator.
        op: BinaryOp,
        /// Left operand.
        left: Box<Expr>,
        /// Right operand.
        right: Box<Expr>,
        /// Result type.
        data_type: DataType,
    },
    /// Boolean `NOT`.
    Not(Box<Expr>),
    /// Arithmetic negation.
    Negative(Box<Expr>),
    /// `IS NULL` (`negated`: `IS NOT NULL`).
    IsNull {
        /// Operand.
        expr: Box<Expr>,
        /// `IS NOT NULL`.
        negated: bool,
    },
    /// `[NOT] [I]LIKE pattern`.
    Like {
        /// `NOT LIKE`.
        negated: bool,
        /// `ILIKE`.
        case_insensitive: bool,
        /// Operand (a string type).
        expr: Box<Expr>,
        /// Pattern (a string type).
        pattern: Box<Expr>,
    },
    /// `[NOT] IN (list)`.
    InList {
        /// Operand.
        expr: Box<Expr>,
        /// Candidates (same type as the operand after coercion).
        list: Vec<Expr>,
        /// `NOT IN`.
        negated: bool,
    },
    /// Searched `CASE WHEN c THEN v ... ELSE e END` (the simple form is rewritten to this).
    Case {
        /// (condition, value) pairs in order.
        when_then: Vec<(Expr, Expr)>,
        /// `ELSE` value; NULL when absent.
        else_expr: Option<Box<Expr>>,
        /// Result type.
        data_type: DataType,
    },
    /// `CAST` / `TRY_CAST`.
    Cast {
        /// Operand.
        expr: Box<Expr>,
        /// Target type.
        to: DataType,
        /// Error or NULL on failure.
        mode: CastMode,
    },
    /// A scalar function call.
    Function {
        /// The bound function.
        func: Arc<dyn ScalarFunction>,
        /// Arguments, already coerced to the types the function asked for.
        args: Vec<Expr>,
    },
}

impl Expr {
    /// A literal from a one-element array.
    pub fn literal(value: ArrayRef) -> Expr {
        Expr::Literal(value)
    }

    /// The result type.
    pub fn data_type(&self) -> DataType {
        match self {
            Expr::Column { data_type, .. } => data_type.clone(),
            Expr::Literal(v) => v.data_type().clone(),
            Expr::Binary { data_type, .. } => data_type.clone(),
            Expr::Not(_) | Expr::IsNull { .. } | Expr::Like { .. } | Expr::InList { .. } => {
                DataType::Boolean
            }
            Expr::Negative(e) => e.data_type(),
            Expr::Case { data_type, .. } => data_type.clone(),
            Expr::Cast { to, .. } => to.clone(),
            Expr::Function { func, .. } => func.return_type().clone(),
        }
    }

    /// True when the expression reads no column (it can be folded to a constant).
    pub fn is_constant(&self) -> bool {
        let mut constant = true;
        self.visit(&mut |e| {
            if matches!(e, Expr::Column { .. }) {
                constant = false;
            }
        });
        constant
    }

    /// True when evaluating the expression may fail on some rows (integer overflow, a
    /// failing cast, a function that rejects its input). CASE and COALESCE evaluate such
    /// expressions only on the rows that need them.
    pub fn can_fail(&self) -> bool {
        let mut fails = false;
        self.visit(&mut |e| {
            fails |= match e {
                Expr::Binary { op, data_type, .. } => {
                    op.is_arithmetic() && !data_type.is_floating()
                }
                Expr::Negative(x) => !x.data_type().is_floating(),
                Expr::Cast { mode, .. } => *mode == CastMode::Strict,
                Expr::Function { .. } => true,
                _ => false,
            };
        });
        fails
    }

    /// Calls `f` on this node and every node below it.
    pub fn visit(&self, f: &mut dyn FnMut(&Expr)) {
        f(self);
        match self {
            Expr::Column { .. } | Expr::Literal(_) => {}
            Expr::Binary { left, right, .. } => {
                left.visit(f);
                right.visit(f);
            }
            Expr::Not(e) | Expr::Negative(e) | Expr::IsNull { expr: e, .. } => e.visit(f),
            Expr::Cast { expr, .. } => expr.visit(f),
            Expr::Like { expr, pattern, .. } => {
                expr.visit(f);
                pattern.visit(f);
            }
            Expr::InList { expr, list, .. } => {
                expr.visit(f);
                list.iter().for_each(|e| e.visit(f));
            }
            Expr::Case {
                when_then,
                else_expr,
                ..
            } => {
                for (w, t) in when_then {
                    w.visit(f);
                    t.visit(f);
                }
                if let Some(e) = else_expr {
                    e.visit(f);
                }
            }
            Expr::Function { args, .. } => args.iter().for_each(|e| e.visit(f)),
        }
    }

    /// Indices of the input columns the expression reads.
    pub fn column_indices(&self, out: &mut Vec<usize>) {
        self.visit(&mut |e| {
            if let Expr::Column { index, .. } = e
                && !out.contains(index)
            {
                out.push(*index);
            }
        });
    }

    /// Evaluates the expression over a batch.
    ///
    /// # Errors
    /// Data-dependent failures (overflow, failed casts) as [`Error::Execution`].
    pub fn evaluate(&self, batch: &RecordBatch) -> Result<ColumnarValue> {
        let n = batch.num_rows();
        match self {
            Expr::Column { index, .. } => {
                if *index >= batch.num_columns() {
                    return Err(Error::internal(format!(
                        "column index {index} out of range for a batch of {} columns",
                        batch.num_columns()
                    )));
                }
                Ok(ColumnarValue::Array(Arc::clone(batch.column(*index))))
            }
            Expr::Literal(v) => Ok(ColumnarValue::Scalar(Arc::clone(v))),
            Expr::Binary {
                op, left, right, ..
            } => {
                if let Some(v) = binary::fused_int_to_float(*op, left, right, batch)? {
                    return Ok(v);
                }
                binary::evaluate(*op, left.evaluate(batch)?, right.evaluate(batch)?, n)
            }
            Expr::Not(e) => binary::not(e.evaluate(batch)?),
            Expr::Negative(e) => binary::negate(e.evaluate(batch)?),
            Expr::IsNull { expr, negated } => binary::is_null(expr.evaluate(batch)?, *negated),
            Expr::Like {
                negated,
                case_insensitive,
                expr,
                pattern,
            } => binary::like(
                expr.evaluate(batch)?,
                pattern.evaluate(batch)?,
                *negated,
                *case_insensitive,
                n,
            ),
            Expr::InList {
                expr,
                list,
                negated,
            } => binary::in_list(self_eval(expr, batch)?, list, batch, *negated, n),
            Expr::Case {
                when_then,
                else_expr,
                data_type,
            } => binary::case(when_then, else_expr.as_deref(), data_type, batch),
            Expr::Cast { expr, to, mode } => cast::cast_value(expr.evaluate(batch)?, to, *mode),
            Expr::Function { func, args } => {
                let values = args
                    .iter()
                    .map(|a| a.evaluate(batch))
                    .collect::<Result<Vec<_>>>()?;
                func.invoke(&values, n)
            }
        }
    }

    /// Evaluates a boolean expression as a selection mask of `batch.num_rows()` rows.
    ///
    /// # Errors
    /// As [`Expr::evaluate`]; also if the expression is not boolean.
    pub fn evaluate_mask(&self, batch: &RecordBatch) -> Result<BooleanArray> {
        let value = self.evaluate(batch)?.into_array(batch.num_rows())?;
        value
            .as_any()
            .downcast_ref::<BooleanArray>()
            .cloned()
            .ok_or_else(|| Error::internal("predicate did not evaluate to BOOLEAN"))
    }
}

fn self_eval(e: &Expr, batch: &RecordBatch) -> Result<ColumnarValue> {
    e.evaluate(batch)
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Column { name, .. } => write!(f, "{name}"),
            Expr::Literal(v) => write!(f, "{}", types::format_scalar(v)),
            Expr::Binary {
                op, left, right, ..
            } => write!(f, "({left} {op} {right})"),
            Expr::Not(e) => write!(f, "(NOT {e})"),
            Expr::Negative(e) => write!(f, "(-{e})"),
            Expr::IsNull { expr, negated } => {
                write!(f, "({expr} IS {}NULL)", if *negated { "NOT " } else { "" })
            }
            Expr::Like {
                negated,
                case_insensitive,
                expr,
                pattern,
            } => write!(
                f,
                "({expr} {}{} {pattern})",
                if *negated { "NOT " } else { "" },
                if *case_insensitive { "ILIKE" } else { "LIKE" }
            ),
            Expr::InList {
                expr,
                list,
                negated,
            } => {
                write!(f, "({expr} {}IN (", if *negated { "NOT " } else { "" })?;
                for (i, e) in list.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{e}")?;
                }
                write!(f, "))")
            }
            Expr::Case {
                when_then,
                else_expr,
                ..
            } => {
                write!(f, "CASE")?;
                for (w, t) in when_then {
                    write!(f, " WHEN {w} THEN {t}")?;
                }
                if let Some(e) = else_expr {
                    write!(f, " ELSE {e}")?;
                }
                write!(f, " END")
            }
            Expr::Cast { expr, to, mode } => write!(
                f,
                "{}({expr} AS {})",
                match mode {
                    CastMode::Strict => "CAST",
                    CastMode::Try => "TRY_CAST",
                },
                types::sql_type_name(to)
            ),
            Expr::Function { func, args } => {
                write!(f, "{}(", func.name())?;
                for (i, e) in args.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{e}")?;
                }
                write!(f, ")")
            }
        }
    }
}
