//! Numeric functions: ABS, ROUND, FLOOR, CEIL / CEILING, SQRT, POWER / POW, LN and EXP.
//!
//! Result types follow DuckDB:
//!
//! | function          | integer input   | DOUBLE / FLOAT   | DECIMAL(p,s)                          |
//! |-------------------|-----------------|------------------|---------------------------------------|
//! | ABS               | same type       | same type        | DECIMAL(p,s)                          |
//! | ROUND(x)          | same (no-op)    | same type        | DECIMAL(p,0)                          |
//! | ROUND(x, d)       | same type       | same type        | DECIMAL(p, clamp(d, 0, s)); d constant |
//! | FLOOR, CEIL       | same (no-op)    | same type        | DECIMAL(p,0)                          |
//! | SQRT, LN, EXP     | DOUBLE          | DOUBLE           | DOUBLE                                |
//! | POWER(x, y)       | DOUBLE          | DOUBLE           | DOUBLE                                |
//!
//! ROUND rounds half away from zero; a negative `d` rounds to tens, hundreds, ... (for
//! DOUBLE exactly DuckDB's `round(x / 10^-d) * 10^-d`). Errors (DuckDB's): ABS of the
//! smallest integer overflows; SQRT of a negative number; LN of zero or of a negative
//! number. A NULL argument gives NULL; an untyped NULL argument is treated as DOUBLE.
//! Rounding an integer or DECIMAL to a negative `d` that no longer fits its type (for
//! example `ROUND(127::TINYINT, -1)`) is an overflow error.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, PrimitiveArray};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type,
    Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};

use super::operand::{IntOperand, Shape};
use super::signature::{bind, check_arity, coerce, constant_i64, mismatch};
use crate::error::{Error, Result};
use crate::expr::types::{is_numeric, sql_type_name};
use crate::expr::{ColumnarValue, Expr, ScalarFunction};

/// The names this family plans.
pub(super) const NAMES: &[&str] = &[
    "ABS", "ROUND", "FLOOR", "CEIL", "CEILING", "SQRT", "POWER", "POW", "LN", "EXP",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MathOp {
    Abs,
    Round,
    Floor,
    Ceil,
    Sqrt,
    Power,
    Ln,
    Exp,
}

impl MathOp {
    fn name(self) -> &'static str {
        match self {
            MathOp::Abs => "ABS",
            MathOp::Round => "ROUND",
            MathOp::Floor => "FLOOR",
            MathOp::Ceil => "CEIL",
            MathOp::Sqrt => "SQRT",
            MathOp::Power => "POWER",
            MathOp::Ln => "LN",
            MathOp::Exp => "EXP",
        }
    }
}

/// A bound numeric function.
#[derive(Debug)]
struct MathFunction {
    op: MathOp,
    return_type: DataType,
    /// ROUND of a DECIMAL: the constant number of digits (DuckDB requires a constant).
    decimal_digits: i64,
}

/// Plans a call of one of [`NAMES`].
///
/// # Errors
/// Wrong argument count or non-numeric arguments; ROUND of a DECIMAL with a precision
/// that is not a constant.
pub(super) fn plan(name: &str, args: Vec<Expr>) -> Result<Expr> {
    let op = match name {
        "ABS" => MathOp::Abs,
        "ROUND" => MathOp::Round,
        "FLOOR" => MathOp::Floor,
        "CEIL" | "CEILING" => MathOp::Ceil,
        "SQRT" => MathOp::Sqrt,
        "POWER" | "POW" => MathOp::Power,
        "LN" => MathOp::Ln,
        _ => MathOp::Exp,
    };
    let expected = match op {
        MathOp::Round => "(numeric [, INTEGER])",
        MathOp::Power => "(numeric, numeric)",
        _ => "(numeric)",
    };
    let (min, max) = match op {
        MathOp::Round => (1, 2),
        MathOp::Power => (2, 2),
        _ => (1, 1),
    };
    check_arity(name, &args, min, max, expected)?;
    let types: Vec<DataType> = args.iter().map(Expr::data_type).collect();
    let numeric_or_null = |t: &DataType| is_numeric(t) || *t == DataType::Null;
    if !numeric_or_null(&types[0]) {
        return Err(mismatch(name, &args, expected));
    }
    if op == MathOp::Power && !numeric_or_null(&types[1]) {
        return Err(mismatch(name, &args, expected));
    }
    if op == MathOp::Round
        && let Some(t) = types.get(1)
        && !(t.is_integer() || *t == DataType::Null)
    {
        return Err(mismatch(name, &args, expected));
    }
    // the type the value is computed in
    let value_type = match &types[0] {
        DataType::Null => DataType::Float64,
        DataType::Float16 => DataType::Float32,
        t => t.clone(),
    };
    let mut decimal_digits = 0;
    let (arg_type, return_type) = match (op, &value_type) {
        (MathOp::Sqrt | MathOp::Ln | MathOp::Exp | MathOp::Power, _) => {
            (DataType::Float64, DataType::Float64)
        }
        (MathOp::Floor | MathOp::Ceil, DataType::Decimal128(p, _)) => {
            (value_type.clone(), DataType::Decimal128(*p, 0))
        }
        (MathOp::Round, DataType::Decimal128(p, s)) => {
            let digits = match args.get(1) {
                None => Some(0),
                Some(d) => constant_i64(d)?.flatten(),
            };
            let Some(digits) = digits else {
                return Err(Error::plan(format!(
                    "function {name}: ROUND(DECIMAL, INTEGER) with a precision that is not a \
                     non-NULL constant is not supported"
                )));
            };
            decimal_digits = digits;
            let scale = if digits < 0 {
                0
            } else {
                digits.min(i64::from(*s)) as i8
            };
            (value_type.clone(), DataType::Decimal128(*p, scale))
        }
        _ => (value_type.clone(), value_type.clone()),
    };
    let mut it = args.into_iter();
    let mut bound = Vec::with_capacity(max);
    if let Some(x) = it.next() {
        bound.push(coerce(x, &arg_type));
    }
    if let Some(y) = it.next() {
        let second = if op == MathOp::Power {
            DataType::Float64
        } else {
            DataType::Int64
        };
        bound.push(coerce(y, &second));
    }
    Ok(bind(
        MathFunction {
            op,
            return_type,
            decimal_digits,
        },
        bound,
    ))
}

impl ScalarFunction for MathFunction {
    fn name(&self) -> &str {
        self.op.name()
    }

    fn return_type(&self) -> &DataType {
        &self.return_type
    }

    fn invoke(&self, args: &[ColumnarValue], num_rows: usize) -> Result<ColumnarValue> {
        let shape = Shape::of(args, num_rows);
        let Some(first) = args.first() else {
            return Err(Error::internal("numeric function without arguments"));
        };
        let x = shape.array(first)?;
        let out = match self.op {
            MathOp::Abs => abs(&x)?,
            MathOp::Floor => floor_or_ceil(&x, true, &self.return_type)?,
            MathOp::Ceil => floor_or_ceil(&x, false, &self.return_type)?,
            MathOp::Round => match args.get(1) {
                _ if matches!(x.data_type(), DataType::Decimal128(_, _)) => {
                    round_decimal(&x, self.decimal_digits, &self.return_type)?
                }
                None => round(&x, &IntOperand::Scalar(Some(0)))?,
                Some(d) => round(&x, &IntOperand::new(d)?)?,
            },
            MathOp::Sqrt => float_try_unary(&x, |v| {
                if v < 0.0 {
                    Err(Error::execution(
                        "cannot take square root of a negative number",
                    ))
                } else {
                    Ok(v.sqrt())
                }
            })?,
            MathOp::Ln => float_try_unary(&x, |v| {
                if v < 0.0 {
                    Err(Error::execution(
                        "cannot take logarithm of a negative number",
                    ))
                } else if v == 0.0 {
                    Err(Error::execution("cannot take logarithm of zero"))
                } else {
                    Ok(v.ln())
                }
            })?,
            MathOp::Exp => float_try_unary(&x, |v| Ok(v.exp()))?,
            MathOp::Power => {
                let Some(y) = args.get(1) else {
                    return Err(Error::internal("POWER without an exponent"));
                };
                power(&x, y, shape)?
            }
        };
        Ok(shape.wrap(out))
    }
}

/// Calls `$f::<ArrowType>(args...)` for the integer Arrow type `$t`.
macro_rules! dispatch_integer {
    ($t:expr, $f:ident, $($arg:expr),*) => {
        match $t {
            DataType::Int8 => $f::<Int8Type>($($arg),*),
            DataType::Int16 => $f::<Int16Type>($($arg),*),
            DataType::Int32 => $f::<Int32Type>($($arg),*),
            DataType::Int64 => $f::<Int64Type>($($arg),*),
            DataType::UInt8 => $f::<UInt8Type>($($arg),*),
            DataType::UInt16 => $f::<UInt16Type>($($arg),*),
            DataType::UInt32 => $f::<UInt32Type>($($arg),*),
            DataType::UInt64 => $f::<UInt64Type>($($arg),*),
            other => Err(unsupported(other)),
        }
    };
}

fn unsupported(t: &DataType) -> Error {
    Error::internal(format!(
        "numeric function called with {} (the planner did not cast it)",
        sql_type_name(t)
    ))
}

fn overflow(function: &str, t: &DataType) -> Error {
    Error::execution(format!("Overflow in {function} of {}", sql_type_name(t)))
}

fn abs(x: &ArrayRef) -> Result<ArrayRef> {
    Ok(match x.data_type() {
        DataType::Float64 => Arc::new(
            x.as_primitive::<Float64Type>()
                .unary::<_, Float64Type>(f64::abs),
        ),
        DataType::Float32 => Arc::new(
            x.as_primitive::<Float32Type>()
                .unary::<_, Float32Type>(f32::abs),
        ),
        DataType::Decimal128(p, s) => {
            let out = x
                .as_primitive::<Decimal128Type>()
                .try_unary::<_, Decimal128Type, _>(|v| {
                    v.checked_abs()
                        .ok_or_else(|| overflow("ABS", x.data_type()))
                })?;
            Arc::new(out.with_precision_and_scale(*p, *s)?)
        }
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => Arc::clone(x),
        t => dispatch_integer!(t, abs_signed, x)?,
    })
}

fn abs_signed<T>(x: &ArrayRef) -> Result<ArrayRef>
where
    T: ArrowPrimitiveType,
    T::Native: Into<i128> + TryFrom<i128>,
{
    let a = x.as_primitive::<T>();
    let out = a.try_unary::<_, T, _>(|v| {
        let wide: i128 = v.into();
        T::Native::try_from(wide.abs()).map_err(|_| overflow("ABS", x.data_type()))
    })?;
    Ok(Arc::new(out))
}

/// FLOOR (`floor == true`) or CEIL; integers are returned unchanged.
fn floor_or_ceil(x: &ArrayRef, floor: bool, return_type: &DataType) -> Result<ArrayRef> {
    Ok(match x.data_type() {
        DataType::Float64 => {
            let f = if floor { f64::floor } else { f64::ceil };
            Arc::new(x.as_primitive::<Float64Type>().unary::<_, Float64Type>(f))
        }
        DataType::Float32 => {
            let f = if floor { f32::floor } else { f32::ceil };
            Arc::new(x.as_primitive::<Float32Type>().unary::<_, Float32Type>(f))
        }
        DataType::Decimal128(_, s) => {
            let DataType::Decimal128(p, _) = return_type else {
                return Err(Error::internal("FLOOR/CEIL of DECIMAL must return DECIMAL"));
            };
            let Some(factor) = pow10(i64::from(*s)) else {
                return Err(Error::internal("DECIMAL scale above 38"));
            };
            let a = x.as_primitive::<Decimal128Type>();
            // |v| < 10^38, so the negations cannot overflow for a valid decimal; wrapping
            // keeps garbage in NULL slots from panicking
            let out = if floor {
                a.unary::<_, Decimal128Type>(|v| v.div_euclid(factor))
            } else {
                a.unary::<_, Decimal128Type>(|v| v.wrapping_neg().div_euclid(factor).wrapping_neg())
            };
            Arc::new(out.with_precision_and_scale(*p, 0)?)
        }
        _ => Arc::clone(x),
    })
}

/// `10^exp` as an `i128`, for `0 <= exp <= 38`.
fn pow10(exp: i64) -> Option<i128> {
    u32::try_from(exp).ok().and_then(|e| 10i128.checked_pow(e))
}

/// Divides by `factor` (a positive power of ten), rounding half away from zero.
#[inline]
fn div_round_half_away(v: i128, factor: i128) -> i128 {
    let half = factor / 2;
    if v < 0 {
        v.saturating_sub(half) / factor
    } else {
        v.saturating_add(half) / factor
    }
}

/// DuckDB's ROUND of a double to `digits` decimal places.
#[inline]
fn round_f64(x: f64, digits: i64) -> f64 {
    // beyond ±400 digits the power of ten is 0 or infinite either way
    let digits = digits.clamp(-400, 400) as i32;
    if digits == 0 {
        let r = x.round();
        return if r.is_finite() { r } else { x };
    }
    if digits < 0 {
        let m = 10f64.powi(-digits);
        let r = (x / m).round() * m;
        if r.is_finite() { r } else { 0.0 }
    } else {
        let m = 10f64.powi(digits);
        let r = (x * m).round() / m;
        if r.is_finite() { r } else { x }
    }
}

/// ROUND of a float or integer column to `digits` places (a scalar or a column).
fn round(x: &ArrayRef, digits: &IntOperand<'_>) -> Result<ArrayRef> {
    match x.data_type() {
        DataType::Float64 => {
            let a = x.as_primitive::<Float64Type>();
            round_float(a, digits, round_f64)
        }
        DataType::Float32 => {
            let a = x.as_primitive::<Float32Type>();
            round_float(a, digits, |v, d| round_f64(f64::from(v), d) as f32)
        }
        t => dispatch_integer!(t, round_integer, x, digits),
    }
}

fn round_float<T: ArrowPrimitiveType>(
    a: &PrimitiveArray<T>,
    digits: &IntOperand<'_>,
    f: impl Fn(T::Native, i64) -> T::Native,
) -> Result<ArrayRef> {
    Ok(match digits {
        IntOperand::Scalar(None) => arrow::array::new_null_array(a.data_type(), a.len()),
        IntOperand::Scalar(Some(d)) => {
            let d = *d;
            Arc::new(a.unary::<_, T>(|v| f(v, d)))
        }
        IntOperand::Array(d) => Arc::new(arrow::compute::kernels::arity::binary::<_, _, _, T>(
            a, *d, f,
        )?),
    })
}

fn round_integer<T>(x: &ArrayRef, digits: &IntOperand<'_>) -> Result<ArrayRef>
where
    T: ArrowPrimitiveType,
    T::Native: Into<i128> + TryFrom<i128>,
{
    let a = x.as_primitive::<T>();
    let round_one = |v: T::Native, d: i64| -> Result<T::Native> {
        if d >= 0 {
            return Ok(v);
        }
        // every 64-bit integer rounds to 0 beyond 10^20
        let Some(factor) = pow10(d.unsigned_abs().min(21) as i64) else {
            return Ok(v);
        };
        let rounded = div_round_half_away(v.into(), factor) * factor;
        T::Native::try_from(rounded).map_err(|_| overflow("ROUND", x.data_type()))
    };
    Ok(match digits {
        IntOperand::Scalar(None) => arrow::array::new_null_array(x.data_type(), x.len()),
        IntOperand::Scalar(Some(d)) if *d >= 0 => Arc::clone(x),
        IntOperand::Scalar(Some(d)) => {
            let d = *d;
            Arc::new(a.try_unary::<_, T, _>(|v| round_one(v, d))?)
        }
        IntOperand::Array(d) => {
            let nulls = NullBuffer::union(a.nulls(), d.nulls());
            let mut values = Vec::with_capacity(a.len());
            for (i, (&v, &dv)) in a.values().iter().zip(d.values().iter()).enumerate() {
                let valid = nulls.as_ref().is_none_or(|n| n.is_valid(i));
                values.push(if valid { round_one(v, dv)? } else { v });
            }
            Arc::new(PrimitiveArray::<T>::new(values.into(), nulls))
        }
    })
}

/// ROUND of a DECIMAL(p, s) to a constant number of digits (DuckDB's rules: the result
/// scale is `clamp(digits, 0, s)`).
fn round_decimal(x: &ArrayRef, digits: i64, return_type: &DataType) -> Result<ArrayRef> {
    let (DataType::Decimal128(_, s), DataType::Decimal128(p, target)) =
        (x.data_type(), return_type)
    else {
        return Err(Error::internal("ROUND of DECIMAL must return DECIMAL"));
    };
    let (s, p, target) = (i64::from(*s), *p, *target);
    if digits >= s {
        return Ok(Arc::clone(x));
    }
    let a = x.as_primitive::<Decimal128Type>();
    let out = if digits >= 0 {
        let factor = pow10(s - digits).ok_or_else(|| Error::internal("DECIMAL scale above 38"))?;
        a.unary::<_, Decimal128Type>(|v| div_round_half_away(v, factor))
    } else {
        // round to 10^-digits, then scale 0: v / 10^(s - digits) * 10^-digits
        let limit = pow10(i64::from(p)).unwrap_or(i128::MAX);
        match (pow10(s - digits), pow10(-digits)) {
            (Some(divide), Some(multiply)) => a.try_unary::<_, Decimal128Type, _>(|v| {
                div_round_half_away(v, divide)
                    .checked_mul(multiply)
                    .filter(|r| r.unsigned_abs() < limit.unsigned_abs())
                    .ok_or_else(|| overflow("ROUND", x.data_type()))
            })?,
            // more digits than a DECIMAL holds: everything rounds to zero
            _ => a.unary::<_, Decimal128Type>(|_| 0),
        }
    };
    Ok(Arc::new(out.with_precision_and_scale(p, target)?))
}

fn float_try_unary(x: &ArrayRef, f: impl Fn(f64) -> Result<f64>) -> Result<ArrayRef> {
    let a = x
        .as_primitive_opt::<Float64Type>()
        .ok_or_else(|| unsupported(x.data_type()))?;
    Ok(Arc::new(a.try_unary::<_, Float64Type, _>(f)?))
}

fn power(x: &ArrayRef, y: &ColumnarValue, shape: Shape) -> Result<ArrayRef> {
    let base = x
        .as_primitive_opt::<Float64Type>()
        .ok_or_else(|| unsupported(x.data_type()))?;
    match y {
        ColumnarValue::Scalar(e) => {
            let e = e
                .as_primitive_opt::<Float64Type>()
                .ok_or_else(|| unsupported(e.data_type()))?;
            if e.is_null(0) {
                return Ok(Arc::new(Float64Array::new_null(base.len())));
            }
            let e = e.value(0);
            Ok(Arc::new(base.unary::<_, Float64Type>(|b| b.powf(e))))
        }
        ColumnarValue::Array(_) => {
            let e = shape.array(y)?;
            let e = e
                .as_primitive_opt::<Float64Type>()
                .ok_or_else(|| unsupported(e.data_type()))?;
            Ok(Arc::new(arrow::compute::kernels::arity::binary::<
                _,
                _,
                _,
                Float64Type,
            >(base, e, f64::powf)?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::functions::test_support::*;
    use arrow::array::{
        Decimal128Array, Float32Array, Int8Array, Int32Array, Int64Array, UInt8Array,
    };

    fn f64s(a: &ArrayRef) -> Vec<Option<f64>> {
        a.as_primitive::<Float64Type>().iter().collect()
    }

    fn i64s(a: &ArrayRef) -> Vec<Option<i64>> {
        a.as_primitive::<Int64Type>().iter().collect()
    }

    fn dec(values: Vec<Option<i128>>, p: u8, s: i8) -> ArrayRef {
        arr(Decimal128Array::from(values)
            .with_precision_and_scale(p, s)
            .unwrap())
    }

    fn i128s(a: &ArrayRef) -> Vec<Option<i128>> {
        a.as_primitive::<Decimal128Type>().iter().collect()
    }

    #[test]
    fn abs_keeps_the_type_and_errors_on_overflow() {
        let cols = [
            arr(Int64Array::from(vec![Some(-3), Some(4), None, Some(0)])),
            arr(Float64Array::from(vec![
                Some(-1.5),
                Some(-0.0),
                None,
                Some(2.0),
            ])),
        ];
        assert_eq!(
            i64s(&eval("ABS", vec![c(&cols, 0)], &cols)),
            vec![Some(3), Some(4), None, Some(0)]
        );
        let out = eval("ABS", vec![c(&cols, 1)], &cols);
        assert_eq!(f64s(&out), vec![Some(1.5), Some(0.0), None, Some(2.0)]);
        assert!(
            out.as_primitive::<Float64Type>()
                .value(1)
                .is_sign_positive()
        );
        let tiny = [arr(Int8Array::from(vec![i8::MIN]))];
        assert_eq!(
            eval_error("ABS", vec![c(&tiny, 0)], &tiny),
            "execution error: Overflow in ABS of TINYINT"
        );
        // NULL slots hold whatever value: they never fail
        let masked = [arr(Int64Array::new(
            vec![i64::MIN].into(),
            Some(NullBuffer::from(vec![false])),
        ))];
        assert_eq!(i64s(&eval("ABS", vec![c(&masked, 0)], &masked)), vec![None]);
        let d = [dec(vec![Some(-1234), None], 6, 2)];
        let out = eval("ABS", vec![c(&d, 0)], &d);
        assert_eq!(out.data_type(), &DataType::Decimal128(6, 2));
        assert_eq!(i128s(&out), vec![Some(1234), None]);
        let u = [arr(UInt8Array::from(vec![200]))];
        assert_eq!(
            eval("ABS", vec![c(&u, 0)], &u).data_type(),
            &DataType::UInt8
        );
        // scalar in, scalar out
        let v = eval_value("ABS", vec![lit_i64(Some(-9))], &[]);
        assert!(matches!(v, ColumnarValue::Scalar(_)));
        // untyped NULL: DOUBLE NULL
        assert_eq!(planned_type("ABS", vec![lit_null()]), DataType::Float64);
        assert_eq!(eval("ABS", vec![lit_null()], &[]).null_count(), 1);
    }

    #[test]
    fn round_double_half_away_from_zero() {
        let cols = [arr(Float64Array::from(vec![
            Some(2.5),
            Some(-2.5),
            Some(0.49999),
            None,
            Some(1234.5678),
            Some(f64::INFINITY),
        ]))];
        assert_eq!(
            f64s(&eval("ROUND", vec![c(&cols, 0)], &cols)),
            vec![
                Some(3.0),
                Some(-3.0),
                Some(0.0),
                None,
                Some(1235.0),
                Some(f64::INFINITY)
            ]
        );
        assert_eq!(
            f64s(&eval("ROUND", vec![c(&cols, 0), lit_i64(Some(2))], &cols)),
            vec![
                Some(2.5),
                Some(-2.5),
                Some(0.5),
                None,
                Some(1234.57),
                Some(f64::INFINITY)
            ]
        );
        assert_eq!(
            f64s(&eval("ROUND", vec![c(&cols, 0), lit_i64(Some(-2))], &cols)),
            vec![
                Some(0.0),
                Some(-0.0),
                Some(0.0),
                None,
                Some(1200.0),
                Some(0.0)
            ]
        );
        // NULL digits: NULL
        assert_eq!(
            eval("ROUND", vec![c(&cols, 0), lit_null()], &cols).null_count(),
            6
        );
        // huge digit counts are harmless
        assert_eq!(
            f64s(&eval(
                "ROUND",
                vec![lit_f64(Some(1.25)), lit_i64(Some(i64::MAX))],
                &[]
            )),
            vec![Some(1.25)]
        );
        assert_eq!(
            f64s(&eval(
                "ROUND",
                vec![lit_f64(Some(1.25)), lit_i64(Some(i64::MIN))],
                &[]
            )),
            vec![Some(0.0)]
        );
    }

    #[test]
    fn round_with_per_row_digits() {
        let cols = [
            arr(Float64Array::from(vec![
                Some(1.2345),
                Some(1.2345),
                Some(15.0),
                None,
            ])),
            arr(Int32Array::from(vec![Some(1), Some(3), Some(-1), Some(1)])),
            arr(Int64Array::from(vec![
                Some(15),
                Some(149),
                Some(-250),
                None,
            ])),
            arr(Int64Array::from(vec![Some(-1), None, Some(-2), Some(-1)])),
        ];
        assert_eq!(
            f64s(&eval("ROUND", vec![c(&cols, 0), c(&cols, 1)], &cols)),
            vec![Some(1.2), Some(1.235), Some(20.0), None]
        );
        assert_eq!(
            i64s(&eval("ROUND", vec![c(&cols, 2), c(&cols, 3)], &cols)),
            vec![Some(20), None, Some(-300), None]
        );
    }

    #[test]
    fn round_integers_stay_integers() {
        let cols = [arr(Int64Array::from(vec![
            Some(15),
            Some(-15),
            Some(14),
            None,
            Some(i64::MAX),
        ]))];
        assert_eq!(planned_type("ROUND", vec![c(&cols, 0)]), DataType::Int64);
        assert_eq!(
            i64s(&eval("ROUND", vec![c(&cols, 0), lit_i64(Some(2))], &cols)),
            vec![Some(15), Some(-15), Some(14), None, Some(i64::MAX)]
        );
        let small = [arr(Int64Array::from(vec![
            Some(15),
            Some(-15),
            Some(14),
            None,
        ]))];
        assert_eq!(
            i64s(&eval(
                "ROUND",
                vec![c(&small, 0), lit_i64(Some(-1))],
                &small
            )),
            vec![Some(20), Some(-20), Some(10), None]
        );
        assert_eq!(
            i64s(&eval(
                "ROUND",
                vec![c(&small, 0), lit_i64(Some(-30))],
                &small
            )),
            vec![Some(0), Some(0), Some(0), None]
        );
        assert_eq!(
            eval_error("ROUND", vec![c(&cols, 0), lit_i64(Some(-1))], &cols),
            "execution error: Overflow in ROUND of BIGINT"
        );
        let tiny = [arr(Int8Array::from(vec![127i8]))];
        assert_eq!(
            eval_error("ROUND", vec![c(&tiny, 0), lit_i64(Some(-1))], &tiny),
            "execution error: Overflow in ROUND of TINYINT"
        );
    }

    #[test]
    fn round_decimal_changes_the_scale_like_duckdb() {
        // 123.456, -123.455, 99.999
        let d = [dec(
            vec![Some(123456), Some(-123455), Some(99999), None],
            6,
            3,
        )];
        let out = eval("ROUND", vec![c(&d, 0), lit_i64(Some(1))], &d);
        assert_eq!(out.data_type(), &DataType::Decimal128(6, 1));
        assert_eq!(i128s(&out), vec![Some(1235), Some(-1235), Some(1000), None]);
        let out = eval("ROUND", vec![c(&d, 0)], &d);
        assert_eq!(out.data_type(), &DataType::Decimal128(6, 0));
        assert_eq!(i128s(&out), vec![Some(123), Some(-123), Some(100), None]);
        let out = eval("ROUND", vec![c(&d, 0), lit_i64(Some(5))], &d);
        assert_eq!(out.data_type(), &DataType::Decimal128(6, 3));
        assert_eq!(
            i128s(&out),
            vec![Some(123456), Some(-123455), Some(99999), None]
        );
        let out = eval("ROUND", vec![c(&d, 0), lit_i64(Some(-2))], &d);
        assert_eq!(out.data_type(), &DataType::Decimal128(6, 0));
        assert_eq!(i128s(&out), vec![Some(100), Some(-100), Some(100), None]);
        let out = eval("ROUND", vec![c(&d, 0), lit_i64(Some(-50))], &d);
        assert_eq!(i128s(&out), vec![Some(0), Some(0), Some(0), None]);
        // 999 rounded to tens does not fit DECIMAL(3,0)
        let big = [dec(vec![Some(999)], 3, 0)];
        assert_eq!(
            eval_error("ROUND", vec![c(&big, 0), lit_i64(Some(-1))], &big),
            "execution error: Overflow in ROUND of DECIMAL(3,0)"
        );
        // the precision of a DECIMAL must be constant
        let cols = [d[0].clone(), arr(Int64Array::from(vec![1, 1, 1, 1]))];
        assert_eq!(
            plan_error("ROUND", vec![c(&cols, 0), c(&cols, 1)]),
            "planning error: function ROUND: ROUND(DECIMAL, INTEGER) with a precision that is \
             not a non-NULL constant is not supported"
        );
    }

    #[test]
    fn floor_and_ceil() {
        let cols = [
            arr(Float64Array::from(vec![
                Some(1.5),
                Some(-1.5),
                None,
                Some(-0.0),
            ])),
            arr(Int32Array::from(vec![Some(7), None, Some(-7), Some(0)])),
            dec(vec![Some(150), Some(-150), Some(-100), None], 5, 2),
            arr(Float32Array::from(vec![
                Some(2.5f32),
                None,
                Some(-2.5),
                Some(0.0),
            ])),
        ];
        assert_eq!(
            f64s(&eval("FLOOR", vec![c(&cols, 0)], &cols)),
            vec![Some(1.0), Some(-2.0), None, Some(-0.0)]
        );
        assert_eq!(
            f64s(&eval("CEIL", vec![c(&cols, 0)], &cols)),
            vec![Some(2.0), Some(-1.0), None, Some(-0.0)]
        );
        assert_eq!(
            f64s(&eval("CEILING", vec![c(&cols, 0)], &cols)),
            vec![Some(2.0), Some(-1.0), None, Some(-0.0)]
        );
        let out = eval("FLOOR", vec![c(&cols, 1)], &cols);
        assert_eq!(out.data_type(), &DataType::Int32);
        let out = eval("FLOOR", vec![c(&cols, 2)], &cols);
        assert_eq!(out.data_type(), &DataType::Decimal128(5, 0));
        assert_eq!(i128s(&out), vec![Some(1), Some(-2), Some(-1), None]);
        let out = eval("CEIL", vec![c(&cols, 2)], &cols);
        assert_eq!(i128s(&out), vec![Some(2), Some(-1), Some(-1), None]);
        let out = eval("CEIL", vec![c(&cols, 3)], &cols);
        let out: Vec<_> = out.as_primitive::<Float32Type>().iter().collect();
        assert_eq!(out, vec![Some(3.0), None, Some(-2.0), Some(0.0)]);
    }

    #[test]
    fn sqrt_ln_exp_power_are_double() {
        let cols = [
            arr(Int64Array::from(vec![Some(4), Some(0), None])),
            arr(Float64Array::from(vec![
                Some(1.0),
                Some(std::f64::consts::E),
                None,
            ])),
        ];
        assert_eq!(
            f64s(&eval("SQRT", vec![c(&cols, 0)], &cols)),
            vec![Some(2.0), Some(0.0), None]
        );
        assert_eq!(
            f64s(&eval("LN", vec![c(&cols, 1)], &cols)),
            vec![Some(0.0), Some(1.0), None]
        );
        assert_eq!(
            f64s(&eval("EXP", vec![c(&cols, 0)], &cols)),
            vec![Some(4f64.exp()), Some(1.0), None]
        );
        assert_eq!(
            f64s(&eval("POWER", vec![c(&cols, 0), lit_i64(Some(2))], &cols)),
            vec![Some(16.0), Some(0.0), None]
        );
        assert_eq!(
            f64s(&eval("POW", vec![lit_i64(Some(2)), c(&cols, 0)], &cols)),
            vec![Some(16.0), Some(1.0), None]
        );
        assert_eq!(
            f64s(&eval("POWER", vec![c(&cols, 0), c(&cols, 1)], &cols)),
            vec![Some(4.0), Some(0.0), None]
        );
        assert_eq!(
            f64s(&eval("POWER", vec![c(&cols, 0), lit_null()], &cols)),
            vec![None, None, None]
        );
        assert_eq!(planned_type("SQRT", vec![c(&cols, 0)]), DataType::Float64);
    }

    #[test]
    fn sqrt_and_ln_errors() {
        let neg = [arr(Float64Array::from(vec![Some(4.0), Some(-1.0)]))];
        assert_eq!(
            eval_error("SQRT", vec![c(&neg, 0)], &neg),
            "execution error: cannot take square root of a negative number"
        );
        assert_eq!(
            eval_error("LN", vec![c(&neg, 0)], &neg),
            "execution error: cannot take logarithm of a negative number"
        );
        assert_eq!(
            eval_error("LN", vec![lit_i64(Some(0))], &[]),
            "execution error: cannot take logarithm of zero"
        );
        // a NULL row hiding a negative value is fine
        let masked = [arr(Float64Array::new(
            vec![-1.0].into(),
            Some(NullBuffer::from(vec![false])),
        ))];
        assert_eq!(eval("SQRT", vec![c(&masked, 0)], &masked).null_count(), 1);
    }

    #[test]
    fn planning_errors() {
        assert_eq!(
            plan_error("ROUND", vec![lit_str(Some("1.5"))]),
            "planning error: function ROUND does not accept (VARCHAR); expected (numeric [, INTEGER])"
        );
        assert_eq!(
            plan_error("ROUND", vec![lit_f64(Some(1.5)), lit_f64(Some(1.0))]),
            "planning error: function ROUND does not accept (DOUBLE, DOUBLE); expected (numeric [, INTEGER])"
        );
        assert_eq!(
            plan_error("ROUND", vec![]),
            "planning error: function ROUND does not accept (); expected (numeric [, INTEGER])"
        );
        assert_eq!(
            plan_error("ABS", vec![lit_i64(Some(1)), lit_i64(Some(1))]),
            "planning error: function ABS does not accept (BIGINT, BIGINT); expected (numeric)"
        );
        assert_eq!(
            plan_error("POW", vec![lit_i64(Some(1))]),
            "planning error: function POW does not accept (BIGINT); expected (numeric, numeric)"
        );
        assert_eq!(
            plan_error("POWER", vec![lit_i64(Some(1)), lit_str(Some("x"))]),
            "planning error: function POWER does not accept (BIGINT, VARCHAR); expected (numeric, numeric)"
        );
        assert_eq!(
            plan_error("CEILING", vec![lit_str(None)]),
            "planning error: function CEILING does not accept (VARCHAR); expected (numeric)"
        );
        for name in ["SQRT", "LN", "EXP", "FLOOR"] {
            let b = lit(arr(arrow::array::BooleanArray::from(vec![true])));
            assert_eq!(
                plan_error(name, vec![b]),
                format!(
                    "planning error: function {name} does not accept (BOOLEAN); expected (numeric)"
                )
            );
        }
    }
}
