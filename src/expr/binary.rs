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
use arrow::buffer::{BooleanBuffer, NullBuffer};
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
        ArrowError::ArithmeticOverflow(_) => {
            Error::execution(format!("Overflow in {} of {}", op.verb(), sql_type_name(t)))
        }
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
    if let Some(cmp_op) = super::compare::CmpOp::from_binary(op) {
        let fast = match (&left, &right) {
            (ColumnarValue::Array(a), ColumnarValue::Scalar(s)) => {
                super::compare::compare_with_constant(a.as_ref(), s.as_ref(), cmp_op)
            }
            (ColumnarValue::Scalar(s), ColumnarValue::Array(a)) => {
                super::compare::compare_with_constant(a.as_ref(), s.as_ref(), cmp_op.flip())
            }
            (ColumnarValue::Array(a), ColumnarValue::Array(b)) => {
                super::compare::compare_arrays(a.as_ref(), b.as_ref(), cmp_op)
            }
            _ => None,
        };
        if let Some(mask) = fast {
            return Ok(ColumnarValue::Array(Arc::new(mask)));
        }
    }
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
        BinaryOp::IsDistinctFrom | BinaryOp::IsNotDistinctFrom if t.is_floating() => {
            // Arrow orders floats totally (-0.0 before 0.0); SQL does not
            let (lc, rc) = (canonical_floats(&left)?, canonical_floats(&right)?);
            let (l, r) = (DatumRef::new(&lc), DatumRef::new(&rc));
            Arc::new(if op == BinaryOp::IsDistinctFrom {
                cmp::distinct(l.datum(), r.datum())?
            } else {
                cmp::not_distinct(l.datum(), r.datum())?
            })
        }
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

/// `double_column op CAST(bigint_column AS DOUBLE)` (or the mirror image) for `+ - *`,
/// computed in one pass without materialising the cast column — the shape of
/// `price * quantity` in SPEC §9. `None` when the expression has another shape.
///
/// # Errors
/// None in practice (floating-point arithmetic cannot fail).
pub fn fused_int_to_float(
    op: BinaryOp,
    left: &Expr,
    right: &Expr,
    batch: &RecordBatch,
) -> Result<Option<ColumnarValue>> {
    use arrow::datatypes::{Float64Type, Int64Type};
    if !matches!(op, BinaryOp::Plus | BinaryOp::Minus | BinaryOp::Multiply) {
        return Ok(None);
    }
    let int_of = |e: &Expr| match e {
        Expr::Cast {
            expr,
            to: DataType::Float64,
            ..
        } if matches!(
            expr.as_ref(),
            Expr::Column {
                data_type: DataType::Int64,
                ..
            }
        ) =>
        {
            Some(expr.as_ref().clone())
        }
        _ => None,
    };
    let (float_side, int_side, int_on_right) = match (int_of(right), int_of(left)) {
        (Some(i), _)
            if matches!(
                left,
                Expr::Column {
                    data_type: DataType::Float64,
                    ..
                }
            ) =>
        {
            (left, i, true)
        }
        (_, Some(i))
            if matches!(
                right,
                Expr::Column {
                    data_type: DataType::Float64,
                    ..
                }
            ) =>
        {
            (right, i, false)
        }
        _ => return Ok(None),
    };
    let (ColumnarValue::Array(f), ColumnarValue::Array(i)) =
        (float_side.evaluate(batch)?, int_side.evaluate(batch)?)
    else {
        return Ok(None);
    };
    let (f, i) = (
        f.as_primitive::<Float64Type>(),
        i.as_primitive::<Int64Type>(),
    );
    if f.len() != i.len() {
        return Ok(None);
    }
    let fused = match (op, int_on_right) {
        (BinaryOp::Plus, _) => FusedOp::Add,
        (BinaryOp::Multiply, _) => FusedOp::Multiply,
        (BinaryOp::Minus, true) => FusedOp::FloatMinusInt,
        (BinaryOp::Minus, false) => FusedOp::IntMinusFloat,
        _ => return Ok(None),
    };
    let values = fused_values(f.values(), i.values(), fused);
    let nulls = arrow::buffer::NullBuffer::union(f.nulls(), i.nulls());
    let out = arrow::array::Float64Array::new(values.into(), nulls);
    Ok(Some(ColumnarValue::Array(Arc::new(out))))
}

/// The operation of [`fused_int_to_float`], with the operands' order.
#[derive(Clone, Copy)]
enum FusedOp {
    Add,
    Multiply,
    FloatMinusInt,
    IntMinusFloat,
}

/// `f op CAST(i AS DOUBLE)` row by row (same lengths). Compiled for AVX-512 where the CPU
/// has it, which converts 8 integers to doubles per instruction (SSE2 and AVX2 have no
/// vector int64 → double conversion, so the baseline build converts one at a time).
fn fused_values(f: &[f64], i: &[i64], op: FusedOp) -> Vec<f64> {
    #[inline(always)]
    fn run(f: &[f64], i: &[i64], op: FusedOp) -> Vec<f64> {
        let rows = f.iter().zip(i);
        match op {
            FusedOp::Add => rows.map(|(&a, &b)| a + b as f64).collect(),
            FusedOp::Multiply => rows.map(|(&a, &b)| a * b as f64).collect(),
            FusedOp::FloatMinusInt => rows.map(|(&a, &b)| a - b as f64).collect(),
            FusedOp::IntMinusFloat => rows.map(|(&a, &b)| b as f64 - a).collect(),
        }
    }
    crate::simd::avx512_or_baseline!((f: &[f64], i: &[i64], op: FusedOp) -> Vec<f64> => run(f, i, op))
}

/// Floats with -0.0 folded onto 0.0 and every NaN onto one NaN.
fn canonical_floats(v: &ColumnarValue) -> Result<ColumnarValue> {
    use arrow::datatypes::{Float32Type, Float64Type};
    let map = |a: &ArrayRef| -> ArrayRef {
        match a.data_type() {
            DataType::Float64 => Arc::new(a.as_primitive::<Float64Type>().unary::<_, Float64Type>(
                |x| {
                    if x.is_nan() {
                        f64::NAN
                    } else if x == 0.0 {
                        0.0
                    } else {
                        x
                    }
                },
            )),
            DataType::Float32 => Arc::new(a.as_primitive::<Float32Type>().unary::<_, Float32Type>(
                |x| {
                    if x.is_nan() {
                        f32::NAN
                    } else if x == 0.0 {
                        0.0
                    } else {
                        x
                    }
                },
            )),
            _ => a.clone(),
        }
    };
    Ok(match v {
        ColumnarValue::Array(a) => ColumnarValue::Array(map(a)),
        ColumnarValue::Scalar(s) => ColumnarValue::Scalar(map(s)),
    })
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
    if t.is_floating() {
        // DuckDB (IEEE-754): x / 0.0 is ±inf or NaN, x % 0.0 is NaN
        let (l, r) = (DatumRef::new(&left), DatumRef::new(&right));
        let out = if op == BinaryOp::Divide {
            numeric::div(l.datum(), r.datum())
        } else {
            numeric::rem(l.datum(), r.datum())
        }?;
        return Ok(wrap(out, both_scalar));
    }
    let zero = arrow::compute::cast(&arrow::array::Int8Array::from(vec![0i8]), &t)?;
    if let ColumnarValue::Scalar(r) = &right
        && !r.is_null(0)
        && cmp::eq(r, &Scalar::new(zero.clone()))?.value(0)
    {
        // a constant zero divisor: every row is NULL
        let result_type = if op == BinaryOp::Divide {
            numeric::div(&zero, &zero).map(|a| a.data_type().clone())
        } else {
            Ok(t.clone())
        }
        .unwrap_or(t.clone());
        return Ok(wrap(new_null_array(&result_type, n), both_scalar));
    }
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
    if let (ColumnarValue::Array(a), ColumnarValue::Scalar(_)) = (&value, &pattern)
        && let Some(dict) = a.as_any_dictionary_opt()
        && dict.values().is_empty()
    {
        // no values: every row is NULL
        return Ok(ColumnarValue::Array(new_null_array(
            &DataType::Boolean,
            a.len(),
        )));
    }
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
        ColumnarValue::Array(a) if a.as_any_dictionary_opt().is_some() => ColumnarValue::Array(
            arrow::compute::cast(&a, super::types::value_type(a.data_type()))?,
        ),
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
/// As in DuckDB, a branch is only evaluated on the rows that reach it: an expression that
/// can fail (overflow, a failing cast, a function) runs on just those rows, so
/// `CASE WHEN x > 0 THEN 10 / x END`-style guards work. Branches that cannot fail run over
/// the whole batch, which is cheaper than selecting rows.
///
/// # Errors
/// As the branch expressions, on the rows that reach them.
pub fn case(
    when_then: &[(Expr, Expr)],
    else_expr: Option<&Expr>,
    data_type: &DataType,
    batch: &RecordBatch,
) -> Result<ColumnarValue> {
    let n = batch.num_rows();
    if *data_type == DataType::Null {
        return Ok(ColumnarValue::Array(new_null_array(data_type, n)));
    }
    let mut remaining = BooleanBuffer::new_set(n);
    let mut picks: Vec<(BooleanBuffer, ColumnarValue)> = Vec::with_capacity(when_then.len());
    for (when, then) in when_then {
        if remaining.count_set_bits() == 0 {
            break;
        }
        let cond = evaluate_on(when, batch, &remaining)?.into_array(n)?;
        let cond = cond
            .as_boolean_opt()
            .ok_or_else(|| Error::internal("CASE condition is not boolean"))?;
        // NULL conditions are false; rows taken by an earlier branch are out
        let mut hit = cond.values() & &remaining;
        if let Some(nulls) = cond.nulls() {
            hit = &hit & nulls.inner();
        }
        if hit.count_set_bits() == 0 {
            continue;
        }
        remaining = &remaining & &!&hit;
        let value = evaluate_on(then, batch, &hit)?;
        picks.push((hit, value));
    }
    let mut result: ArrayRef = match else_expr {
        Some(e) if remaining.count_set_bits() > 0 => {
            evaluate_on(e, batch, &remaining)?.into_array(n)?
        }
        _ => new_null_array(data_type, n),
    };
    // the branch masks are disjoint, so the order of the zips does not matter
    for (hit, value) in picks.iter().rev() {
        let mask = BooleanArray::new(hit.clone(), None);
        let v = DatumRef::new(value);
        result = zip::zip(&mask, v.datum(), &result)?;
    }
    Ok(ColumnarValue::Array(result))
}

/// Evaluates `e` for the rows of `rows`: over the whole batch when it cannot fail, else
/// over just those rows, scattered back to full length (other rows NULL).
fn evaluate_on(e: &Expr, batch: &RecordBatch, rows: &BooleanBuffer) -> Result<ColumnarValue> {
    let n = batch.num_rows();
    let selected = rows.count_set_bits();
    if !e.can_fail() || selected == n {
        return e.evaluate(batch);
    }
    let mask = BooleanArray::new(rows.clone(), None);
    let subset = arrow::compute::filter_record_batch(batch, &mask)?;
    let compact = match e.evaluate(&subset)? {
        ColumnarValue::Scalar(s) => return Ok(ColumnarValue::Scalar(s)),
        ColumnarValue::Array(a) => a,
    };
    let mut next = 0u32;
    let indices: arrow::array::UInt32Array = (0..n)
        .map(|i| {
            rows.value(i).then(|| {
                next += 1;
                next - 1
            })
        })
        .collect();
    Ok(ColumnarValue::Array(arrow::compute::take(
        compact.as_ref(),
        &indices,
        None,
    )?))
}

#[cfg(test)]
mod tests {
    use arrow::array::{Float64Array, Int64Array};
    use arrow::datatypes::{Field, Schema};
    use proptest::prelude::*;

    use super::*;
    use crate::expr::cast::CastMode;

    fn column(index: usize, data_type: DataType) -> Expr {
        Expr::Column {
            index,
            name: format!("c{index}"),
            data_type,
        }
    }

    proptest! {
        /// `f op CAST(i AS DOUBLE)` and the mirror image, for every operator the fused
        /// kernel takes, with NULLs on either side: the values of a row-by-row model.
        #[test]
        fn fused_int_to_float_matches_a_row_model(
            rows in proptest::collection::vec(
                (proptest::option::of(-1e6f64..1e6), proptest::option::of(any::<i64>())),
                0..300,
            ),
        ) {
            let floats = Float64Array::from(rows.iter().map(|r| r.0).collect::<Vec<_>>());
            let ints = Int64Array::from(rows.iter().map(|r| r.1).collect::<Vec<_>>());
            let schema = Arc::new(Schema::new(vec![
                Field::new("f", DataType::Float64, true),
                Field::new("i", DataType::Int64, true),
            ]));
            let batch = RecordBatch::try_new(schema, vec![Arc::new(floats), Arc::new(ints)])
                .unwrap();
            let f = column(0, DataType::Float64);
            let cast = Expr::Cast {
                expr: Box::new(column(1, DataType::Int64)),
                to: DataType::Float64,
                mode: CastMode::Strict,
            };
            type Model = fn(f64, f64) -> f64;
            let cases: [(BinaryOp, bool, Model); 6] = [
                (BinaryOp::Plus, true, |a, b| a + b),
                (BinaryOp::Plus, false, |a, b| b + a),
                (BinaryOp::Multiply, true, |a, b| a * b),
                (BinaryOp::Multiply, false, |a, b| b * a),
                (BinaryOp::Minus, true, |a, b| a - b),
                (BinaryOp::Minus, false, |a, b| b - a),
            ];
            for (op, float_left, model) in cases {
                let (left, right) = if float_left { (&f, &cast) } else { (&cast, &f) };
                let Some(ColumnarValue::Array(out)) =
                    fused_int_to_float(op, left, right, &batch).unwrap()
                else {
                    panic!("{op:?}: the fused kernel did not take the expression");
                };
                let out = out.as_primitive::<arrow::datatypes::Float64Type>();
                prop_assert_eq!(out.len(), rows.len());
                for (k, (a, b)) in rows.iter().enumerate() {
                    match (a, b) {
                        (Some(a), Some(b)) => {
                            prop_assert!(out.is_valid(k));
                            let expected = model(*a, *b as f64);
                            prop_assert_eq!(out.value(k).to_bits(), expected.to_bits(),
                                "{:?} row {}", op, k);
                        }
                        _ => prop_assert!(out.is_null(k), "{:?} row {}", op, k),
                    }
                }
            }
        }
    }
}
