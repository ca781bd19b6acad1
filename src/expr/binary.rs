//! Operators over whole columns: arithmetic, comparison, boolean logic, `||`, `LIKE`,
//! `IN`, `IS NULL` and `CASE`. The planner has already cast both operands to the same
//! type, so each function here dispatches once per batch to an Arrow kernel.
//!
//! NULL and error semantics follow DuckDB: integer overflow is an error (never
//! wrap-around), division and modulo by zero give NULL, `AND`/`OR` use three-valued logic.

use std::fmt;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Datum, RecordBatch, Scalar, new_null_array,
};
use arrow::buffer::NullBuffer;
use arrow::compute::kernels::{boolean, cmp, numeric, zip};
use arrow::datatypes::DataType;
use arrow::error::ArrowError;

use super::types::sql_type_name;
use super::{ColumnarValue, Expr};
use crate::error::{Error, Result};

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `+`
    Plus,
    /// `-`
    Minus,
    /// `*`
    Multiply,
    /// `/` (always DOUBLE for integer and decimal operands, as in DuckDB)
    Divide,
    /// `%`
    Modulo,
    /// `=`
    Eq,
    /// `<>` / `!=`
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    LtEq,
    /// `>`
    Gt,
    /// `>=`
    GtEq,
    /// `AND`
    And,
    /// `OR`
    Or,
    /// `||` string concatenation
    Concat,
    /// `IS DISTINCT FROM`
    IsDistinctFrom,
    /// `IS NOT DISTINCT FROM`
    IsNotDistinctFrom,
}

impl BinaryOp {
    /// True for the operators that return BOOLEAN from two comparable values.
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Eq
                | BinaryOp::NotEq
                | BinaryOp::Lt
                | BinaryOp::LtEq
                | BinaryOp::Gt
                | BinaryOp::GtEq
                | BinaryOp::IsDistinctFrom
                | BinaryOp::IsNotDistinctFrom
        )
    }

    /// True for `+ - * / %`.
    pub fn is_arithmetic(self) -> bool {
        matches!(
            self,
            BinaryOp::Plus
                | BinaryOp::Minus
                | BinaryOp::Multiply
                | BinaryOp::Divide
                | BinaryOp::Modulo
        )
    }

    fn verb(self) -> &'static str {
        match self {
            BinaryOp::Plus => "addition",
            BinaryOp::Minus => "subtraction",
            BinaryOp::Multiply => "multiplication",
            BinaryOp::Divide => "division",
            BinaryOp::Modulo => "modulo",
            _ => "operation",
        }
    }
}

impl fmt::Display for BinaryOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BinaryOp::Plus => "+",
            BinaryOp::Minus => "-",
            BinaryOp::Multiply => "*",
            BinaryOp::Divide => "/",
            BinaryOp::Modulo => "%",
            BinaryOp::Eq => "=",
            BinaryOp::NotEq => "<>",
            BinaryOp::Lt => "<",
            BinaryOp::LtEq => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::GtEq => ">=",
            BinaryOp::And => "AND",
            BinaryOp::Or => "OR",
            BinaryOp::Concat => "||",
            BinaryOp::IsDistinctFrom => "IS DISTINCT FROM",
            BinaryOp::IsNotDistinctFrom => "IS NOT DISTINCT FROM",
        })
    }
}

/// A borrowed value usable as an Arrow `Datum` (scalars flagged as such).
enum DatumRef<'a> {
    Array(&'a ArrayRef),
    Scalar(Scalar<ArrayRef>),
}

impl<'a> DatumRef<'a> {
    fn new(v: &'a ColumnarValue) -> Self {
        match v {
            ColumnarValue::Array(a) => DatumRef::Array(a),
            ColumnarValue::Scalar(s) => DatumRef::Scalar(Scalar::new(Arc::clone(s))),
        }
    }
    fn datum(&self) -> &dyn Datum {
        match self {
            DatumRef::Array(a) => *a,
            DatumRef::Scalar(s) => s,
        }
    }
}

/// Wraps a kernel result: scalar when both inputs were scalars.
fn wrap(result: ArrayRef, both_scalar: bool) -> ColumnarValue {
    if both_scalar {
        ColumnarValue::Scalar(result)
    } else {
        ColumnarValue::Array(result)
    }
}

fn overflow(op: BinaryOp, t: &DataType, e: ArrowError) -> Error {
    match e {
        ArrowError::ArithmeticOverflow(_) => Error::execution(format!(
            "Overflow in {} of {}",
            op.verb(),
            sql_type_name(t)
        )),
        ArrowError::DivideByZero => Error::execution("division by zero"),
        other => Error::Arrow(other),
    }
}

/// Evaluates `left op right` for operands of equal type.
///
/// # Errors
/// Integer overflow; operand types the kernel does not support (a planner bug).
pub fn evaluate(
    op: BinaryOp,
    left: ColumnarValue,
    right: ColumnarValue,
    num_rows: usize,
) -> Result<ColumnarValue> {
    let both_scalar =
        matches!(left, ColumnarValue::Scalar(_)) && matches!(right, ColumnarValue::Scalar(_));
    let (l, r) = (DatumRef::new(&left), DatumRef::new(&right));
    let (l, r) = (l.datum(), r.datum());
    let t = left.data_type().clone();
    let result: ArrayRef = match op {
        BinaryOp::Plus => numeric::add(l, r).map_err(|e| overflow(op, &t, e))?,
        BinaryOp::Minus => numeric::sub(l, r).map_err(|e| overflow(op, &t, e))?,
        BinaryOp::Multiply => numeric::mul(l, r).map_err(|e| overflow(op, &t, e))?,
        BinaryOp::Divide | BinaryOp::Modulo => {
            return divide_or_modulo(op, left, right, num_rows, both_scalar);
        }
        BinaryOp::Eq => Arc::new(cmp::eq(l, r)?),
        BinaryOp::NotEq => Arc::new(cmp::neq(l, r)?),
        BinaryOp::Lt => Arc::new(cmp::lt(l, r)?),
        BinaryOp::LtEq => Arc::new(cmp::lt_eq(l, r)?),
        BinaryOp::Gt => Arc::new(cmp::gt(l, r)?),
        BinaryOp::GtEq => Arc::new(cmp::gt_eq(l, r)?),
        BinaryOp::IsDistinctFrom => Arc::new(cmp::distinct(l, r)?),
        BinaryOp::IsNotDistinctFrom => Arc::new(cmp::not_distinct(l, r)?),
        BinaryOp::And | BinaryOp::Or => {
            let n = if both_scalar { 1 } else { num_rows };
            let la = left.into_array(n)?;
            let ra = right.into_array(n)?;
            let (la, ra) = (la.as_boolean(), ra.as_boolean());
            let out = if op == BinaryOp::And {
                boolean::and_kleene(la, ra)?
            } else {
                boolean::or_kleene(la, ra)?
            };
            Arc::new(out)
        }
        BinaryOp::Concat => {
            let n = if both_scalar { 1 } else { num_rows };
            let la = left.into_array(n)?;
            let ra = right.into_array(n)?;
            arrow::compute::kernels::concat_elements::concat_elements_dyn(&la, &ra)?
        }
    };
    Ok(wrap(result, both_scalar))
}

/// `/` and `%` with DuckDB's NULL for a zero divisor.
fn divide_or_modulo(
    op: BinaryOp,
    left: ColumnarValue,
    right: ColumnarValue,
    num_rows: usize,
    both_scalar: bool,
) -> Result<ColumnarValue> {
    let n = if both_scalar { 1 } else { num_rows };
    let t = left.data_type().clone();
    let zero = arrow::compute::cast(&arrow::array::Int8Array::from(vec![0i8]), &t)?;
    let rz = DatumRef::new(&right);
    let is_zero = cmp::eq(rz.datum(), &Scalar::new(zero))?;
    let has_zero = is_zero.true_count() > 0;
    let right = if has_zero {
        // replace zero divisors by one so the kernel cannot fail, then null those rows
        let one = arrow::compute::cast(&arrow::array::Int8Array::from(vec![1i8]), &t)?;
        let r = right.into_array(n)?;
        ColumnarValue::Array(zip::zip(&is_zero, &Scalar::new(one), &r)?)
    } else {
        right
    };
    let (l, r) = (DatumRef::new(&left), DatumRef::new(&right));
    let out = if op == BinaryOp::Divide {
        numeric::div(l.datum(), r.datum())
    } else {
        numeric::rem(l.datum(), r.datum())
    }
    .map_err(|e| overflow(op, &t, e))?;
    let out = if has_zero {
        let zero_rows = is_zero.values();
        let keep = NullBuffer::from(!zero_rows);
        let nulls = NullBuffer::union(out.logical_nulls().as_ref(), Some(&keep));
        let data = out.to_data().into_builder().nulls(nulls).build()?;
        arrow::array::make_array(data)
    } else {
        out
    };
    Ok(wrap(out, both_scalar))
}

/// Boolean `NOT` (NULL stays NULL).
///
/// # Errors
/// A non-boolean operand (a planner bug).
pub fn not(v: ColumnarValue) -> Result<ColumnarValue> {
    let map = |a: &ArrayRef| -> Result<ArrayRef> {
        let b = a
            .as_boolean_opt()
            .ok_or_else(|| Error::internal("NOT of a non-boolean"))?;
        Ok(Arc::new(boolean::not(b)?))
    };
    Ok(match v {
        ColumnarValue::Array(a) => ColumnarValue::Array(map(&a)?),
        ColumnarValue::Scalar(s) => ColumnarValue::Scalar(map(&s)?),
    })
}

/// Arithmetic negation (overflow of the minimum integer is an error).
///
/// # Errors
/// Overflow.
pub fn negate(v: ColumnarValue) -> Result<ColumnarValue> {
    let map = |a: &ArrayRef| -> Result<ArrayRef> {
        numeric::neg(a.as_ref()).map_err(|e| overflow(BinaryOp::Minus, a.data_type(), e))
    };
    Ok(match v {
        ColumnarValue::Array(a) => ColumnarValue::Array(map(&a)?),
        ColumnarValue::Scalar(s) => ColumnarValue::Scalar(map(&s)?),
    })
}

/// `IS [NOT] NULL`.
///
/// # Errors
/// None in practice (Arrow errors are passed on).
pub fn is_null(v: ColumnarValue, negated: bool) -> Result<ColumnarValue> {
    let map = |a: &ArrayRef| -> Result<ArrayRef> {
        Ok(Arc::new(if negated {
            boolean::is_not_null(a.as_ref())?
        } else {
            boolean::is_null(a.as_ref())?
        }))
    };
    Ok(match v {
        ColumnarValue::Array(a) => ColumnarValue::Array(map(&a)?),
        ColumnarValue::Scalar(s) => ColumnarValue::Scalar(map(&s)?),
    })
}

/// `[NOT] [I]LIKE`. A dictionary operand is matched once per distinct value.
///
/// # Errors
/// An invalid pattern.
pub fn like(
    value: ColumnarValue,
    pattern: ColumnarValue,
    negated: bool,
    case_insensitive: bool,
    num_rows: usize,
) -> Result<ColumnarValue> {
    use arrow::compute::kernels::comparison as k;
    let both_scalar =
        matches!(value, ColumnarValue::Scalar(_)) && matches!(pattern, ColumnarValue::Scalar(_));
    let run = |l: &dyn Datum, r: &dyn Datum| -> Result<BooleanArray> {
        Ok(match (negated, case_insensitive) {
            (false, false) => k::like(l, r)?,
            (false, true) => k::ilike(l, r)?,
            (true, false) => k::nlike(l, r)?,
            (true, true) => k::nilike(l, r)?,
        })
    };
    // fast path: dictionary column against a constant pattern
    if let (ColumnarValue::Array(a), ColumnarValue::Scalar(p)) = (&value, &pattern)
        && let Some(dict) = a.as_any_dictionary_opt()
    {
        let on_values = run(dict.values(), &Scalar::new(Arc::clone(p)))?;
        let keys = dict.normalized_keys();
        let idx = arrow::array::UInt32Array::from_iter(keys.iter().map(|k| *k as u32));
        let taken = arrow::compute::take(&on_values, &idx, None)?;
        let nulls = NullBuffer::union(taken.logical_nulls().as_ref(), a.logical_nulls().as_ref());
        let data = taken.to_data().into_builder().nulls(nulls).build()?;
        return Ok(ColumnarValue::Array(arrow::array::make_array(data)));
    }
    let n = if both_scalar { 1 } else { num_rows };
    let value = match value {
        ColumnarValue::Array(a) if a.as_any_dictionary_opt().is_some() => {
            ColumnarValue::Array(arrow::compute::cast(&a, super::types::value_type(a.data_type()))?)
        }
        v => v,
    };
    let _ = n;
    let (l, r) = (DatumRef::new(&value), DatumRef::new(&pattern));
    Ok(wrap(Arc::new(run(l.datum(), r.datum())?), both_scalar))
}

/// `[NOT] IN (list)`: the OR of equality tests, with SQL's NULL rules (no match and a
/// NULL candidate gives NULL).
///
/// # Errors
/// As the comparison kernels.
pub fn in_list(
    value: ColumnarValue,
    list: &[Expr],
    batch: &RecordBatch,
    negated: bool,
    num_rows: usize,
) -> Result<ColumnarValue> {
    let all_scalar = matches!(value, ColumnarValue::Scalar(_));
    let mut acc: Option<ColumnarValue> = None;
    for candidate in list {
        let c = candidate.evaluate(batch)?;
        let eq = evaluate(BinaryOp::Eq, value.clone(), c, num_rows)?;
        acc = Some(match acc {
            None => eq,
            Some(prev) => evaluate(BinaryOp::Or, prev, eq, num_rows)?,
        });
    }
    let result = match acc {
        Some(r) => r,
        None => {
            let n = if all_scalar { 1 } else { num_rows };
            ColumnarValue::Array(Arc::new(BooleanArray::from(vec![false; n])))
        }
    };
    if negated { not(result) } else { Ok(result) }
}

/// Searched `CASE`: the first WHEN whose condition is true picks its THEN value; NULL
/// conditions count as false; no match gives the ELSE value (or NULL).
///
/// # Errors
/// As the branch expressions.
pub fn case(
    when_then: &[(Expr, Expr)],
    else_expr: Option<&Expr>,
    data_type: &DataType,
    batch: &RecordBatch,
) -> Result<ColumnarValue> {
    let n = batch.num_rows();
    let mut result: ArrayRef = match else_expr {
        Some(e) => e.evaluate(batch)?.into_array(n)?,
        None => new_null_array(data_type, n),
    };
    // Walk the branches backwards so that earlier branches overwrite later ones.
    for (when, then) in when_then.iter().rev() {
        let cond = when.evaluate(batch)?.into_array(n)?;
        let cond = cond
            .as_boolean_opt()
            .ok_or_else(|| Error::internal("CASE condition is not boolean"))?;
        // NULL conditions are false
        let cond = match cond.nulls() {
            Some(nulls) if nulls.null_count() > 0 => {
                BooleanArray::new(cond.values() & nulls.inner(), None)
            }
            _ => cond.clone(),
        };
        let value = then.evaluate(batch)?;
        let v = DatumRef::new(&value);
        result = zip::zip(&cond, v.datum(), &result)?;
    }
    Ok(ColumnarValue::Array(result))
}
