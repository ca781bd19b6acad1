//! Functions that pick one of their arguments row by row: COALESCE, NULLIF, LEAST and
//! GREATEST.
//!
//! ```text
//!   COALESCE(a, b, c):  result = a ──(rows still NULL)──▶ zip in b ──(still NULL)──▶ zip in c
//!                        stops as soon as no row is NULL (a scalar non-NULL stops at once)
//!   LEAST(a, b, c):     result = a ──▶ zip(b < result OR result IS NULL, b, result) ──▶ ...
//!   NULLIF(a, b):       nullif(a, a = b)
//! ```
//! Types (DuckDB): COALESCE, LEAST and GREATEST cast every argument to their common type
//! ([`crate::expr::coerce::common_of`]) and return it; NULLIF compares in the common type of
//! its two arguments and returns the first argument unchanged (its own type). LEAST and
//! GREATEST skip NULLs: the result is NULL only when every argument is NULL. Floating
//! point NaN is larger than every other value, as in DuckDB.
//!
//! Deviation: the arguments of COALESCE are all evaluated before the call (the expression
//! tree evaluates arguments eagerly), so an argument that fails on rows COALESCE would
//! not need (a failing CAST) fails the query where DuckDB would not evaluate it.

use arrow::array::{Array, ArrayRef, BooleanArray};
use arrow::compute::kernels::{boolean, cmp, nullif, zip};
use arrow::datatypes::DataType;

use super::operand::{DatumValue, Shape, is_null_scalar};
use super::signature::{bind, check_arity, coerce, mismatch};
use crate::error::{Error, Result};
use crate::expr::coerce::{common_of, comparison_common};
use crate::expr::types::{is_numeric, is_string};
use crate::expr::{ColumnarValue, Expr, ScalarFunction};

/// The names this family plans.
pub(super) const NAMES: &[&str] = &["COALESCE", "NULLIF", "LEAST", "GREATEST"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Choice {
    Coalesce,
    NullIf,
    Least,
    Greatest,
}

impl Choice {
    fn name(self) -> &'static str {
        match self {
            Choice::Coalesce => "COALESCE",
            Choice::NullIf => "NULLIF",
            Choice::Least => "LEAST",
            Choice::Greatest => "GREATEST",
        }
    }
}

/// A bound COALESCE, NULLIF, LEAST or GREATEST.
#[derive(Debug)]
struct ConditionalFunction {
    choice: Choice,
    return_type: DataType,
}

/// Plans a call of one of [`NAMES`].
///
/// # Errors
/// No arguments, or arguments without a common type.
pub(super) fn plan(name: &str, args: Vec<Expr>) -> Result<Expr> {
    let choice = match name {
        "COALESCE" => Choice::Coalesce,
        "NULLIF" => Choice::NullIf,
        "LEAST" => Choice::Least,
        _ => Choice::Greatest,
    };
    if choice == Choice::NullIf {
        return plan_nullif(name, args);
    }
    let expected = if choice == Choice::Coalesce {
        "(value [, ...]) with a common type"
    } else {
        "(value [, ...]) with a common orderable type"
    };
    check_arity(name, &args, 1, usize::MAX, expected)?;
    let types: Vec<DataType> = args.iter().map(Expr::data_type).collect();
    let common = common_of(&types).ok_or_else(|| mismatch(name, &args, expected))?;
    if choice != Choice::Coalesce && !is_orderable(&common) {
        return Err(mismatch(name, &args, expected));
    }
    let args = args.into_iter().map(|a| coerce(a, &common)).collect();
    Ok(bind(
        ConditionalFunction {
            choice,
            return_type: common,
        },
        args,
    ))
}

/// Types the comparison kernels order.
fn is_orderable(t: &DataType) -> bool {
    is_numeric(t)
        || is_string(t)
        || t.is_temporal()
        || matches!(
            t,
            DataType::Null
                | DataType::Boolean
                | DataType::Binary
                | DataType::LargeBinary
                | DataType::BinaryView
        )
}

/// NULLIF(a, b): arguments `[a, b']` when `a` already has the comparison type, else
/// `[a, a', b']` (primes: cast to the comparison type), so that the result keeps `a`'s
/// type.
fn plan_nullif(name: &str, args: Vec<Expr>) -> Result<Expr> {
    let expected = "(value, value) with a common type";
    check_arity(name, &args, 2, 2, expected)?;
    let (ta, tb) = (args[0].data_type(), args[1].data_type());
    let common = comparison_common(&ta, &tb).ok_or_else(|| mismatch(name, &args, expected))?;
    let mut it = args.into_iter();
    let (a, b) = match (it.next(), it.next()) {
        (Some(a), Some(b)) => (a, b),
        _ => return Err(Error::internal("NULLIF arity checked above")),
    };
    let args = if ta == common {
        vec![a, coerce(b, &common)]
    } else {
        vec![a.clone(), coerce(a, &common), coerce(b, &common)]
    };
    Ok(bind(
        ConditionalFunction {
            choice: Choice::NullIf,
            return_type: ta,
        },
        args,
    ))
}

impl ScalarFunction for ConditionalFunction {
    fn name(&self) -> &str {
        self.choice.name()
    }

    fn return_type(&self) -> &DataType {
        &self.return_type
    }

    fn invoke(&self, args: &[ColumnarValue], num_rows: usize) -> Result<ColumnarValue> {
        let shape = Shape::of(args, num_rows);
        match self.choice {
            Choice::Coalesce => coalesce(args, shape),
            Choice::NullIf => nullif_value(args, shape),
            Choice::Least => extremum(args, shape, true),
            Choice::Greatest => extremum(args, shape, false),
        }
    }
}

/// A boolean mask with NULL read as false.
fn nulls_as_false(mask: BooleanArray) -> BooleanArray {
    match mask.nulls() {
        Some(nulls) if nulls.null_count() > 0 => {
            BooleanArray::new(mask.values() & nulls.inner(), None)
        }
        _ => mask,
    }
}

/// Rows of `value` that are not NULL, as a mask without NULLs.
fn is_valid_mask(value: &ArrayRef) -> Result<BooleanArray> {
    Ok(boolean::is_not_null(value.as_ref())?)
}

fn coalesce(args: &[ColumnarValue], shape: Shape) -> Result<ColumnarValue> {
    let Some((first, rest)) = args.split_first() else {
        return Err(Error::internal("COALESCE without arguments"));
    };
    let mut acc = first.clone();
    for next in rest {
        match &acc {
            ColumnarValue::Scalar(s) if !is_null_scalar(s) => break,
            ColumnarValue::Scalar(_) => acc = next.clone(),
            ColumnarValue::Array(a) => {
                if a.logical_null_count() == 0 {
                    break;
                }
                let keep = is_valid_mask(a)?;
                let filler = DatumValue::new(next);
                acc = ColumnarValue::Array(zip::zip(&keep, a, filler.datum())?);
            }
        }
    }
    Ok(match acc {
        // a scalar reached while other arguments were columns still stands for every row
        ColumnarValue::Scalar(s) if !shape.scalar => ColumnarValue::Scalar(s),
        other => other,
    })
}

fn nullif_value(args: &[ColumnarValue], shape: Shape) -> Result<ColumnarValue> {
    let (value, left, right) = match args {
        [a, b] => (a, a, b),
        [a, ca, cb] => (a, ca, cb),
        _ => return Err(Error::internal("NULLIF takes two arguments")),
    };
    if value.data_type() == &DataType::Null {
        return Ok(value.clone());
    }
    let (l, r) = (DatumValue::new(left), DatumValue::new(right));
    let equal = cmp::eq(l.datum(), r.datum())?;
    let value = shape.array(value)?;
    Ok(shape.wrap(nullif::nullif(value.as_ref(), &equal)?))
}

/// LEAST (`least == true`) or GREATEST over values of one orderable type.
fn extremum(args: &[ColumnarValue], shape: Shape, least: bool) -> Result<ColumnarValue> {
    let Some((first, rest)) = args.split_first() else {
        return Err(Error::internal("LEAST/GREATEST without arguments"));
    };
    let better = |candidate: &dyn arrow::array::Datum,
                  current: &dyn arrow::array::Datum|
     -> Result<BooleanArray> {
        Ok(nulls_as_false(if least {
            cmp::lt(candidate, current)?
        } else {
            cmp::gt(candidate, current)?
        }))
    };
    let mut acc = first.clone();
    for next in rest {
        if matches!(next, ColumnarValue::Scalar(s) if is_null_scalar(s)) {
            continue;
        }
        acc = match &acc {
            ColumnarValue::Scalar(s) if is_null_scalar(s) => next.clone(),
            ColumnarValue::Scalar(_) => {
                let (n, a) = (DatumValue::new(next), DatumValue::new(&acc));
                let take_next = better(n.datum(), a.datum())?;
                shape.wrap(zip::zip(&take_next, n.datum(), a.datum())?)
            }
            ColumnarValue::Array(current) => {
                let n = DatumValue::new(next);
                let mut take_next = better(n.datum(), current)?;
                if current.logical_null_count() > 0 {
                    let missing = boolean::is_null(current.as_ref())?;
                    take_next = boolean::or(&take_next, &missing)?;
                }
                ColumnarValue::Array(zip::zip(&take_next, n.datum(), current)?)
            }
        };
    }
    Ok(acc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::functions::test_support::*;
    use arrow::array::{
        AsArray, DictionaryArray, Float64Array, Int32Array, Int64Array, StringArray,
        TimestampMillisecondArray,
    };
    use arrow::datatypes::{Int32Type, Int64Type};

    fn i64s(a: &ArrayRef) -> Vec<Option<i64>> {
        a.as_primitive::<Int64Type>().iter().collect()
    }

    fn strs(a: &ArrayRef) -> Vec<Option<String>> {
        a.as_string::<i32>()
            .iter()
            .map(|s| s.map(str::to_string))
            .collect()
    }

    #[test]
    fn coalesce_fills_only_null_rows_in_order() {
        let cols = [
            arr(Int64Array::from(vec![Some(1), None, None, None])),
            arr(Int64Array::from(vec![Some(10), Some(20), None, None])),
            arr(Int64Array::from(vec![
                Some(100),
                Some(200),
                Some(300),
                None,
            ])),
        ];
        let out = eval(
            "COALESCE",
            vec![c(&cols, 0), c(&cols, 1), c(&cols, 2)],
            &cols,
        );
        assert_eq!(i64s(&out), vec![Some(1), Some(20), Some(300), None]);
        // a scalar fallback fills every remaining row
        let out = eval("COALESCE", vec![c(&cols, 0), lit_i64(Some(-1))], &cols);
        assert_eq!(i64s(&out), vec![Some(1), Some(-1), Some(-1), Some(-1)]);
        // NULL literals are skipped
        let out = eval(
            "COALESCE",
            vec![lit_null(), c(&cols, 1), lit_null(), lit_i64(Some(0))],
            &cols,
        );
        assert_eq!(i64s(&out), vec![Some(10), Some(20), Some(0), Some(0)]);
    }

    #[test]
    fn coalesce_of_scalars_stays_scalar_and_stops_at_first_value() {
        let cols = [arr(Int64Array::from(vec![Some(1), None]))];
        let v = eval_value("COALESCE", vec![lit_i64(Some(7)), c(&cols, 0)], &cols);
        assert!(matches!(v, ColumnarValue::Scalar(_)));
        assert_eq!(i64s(&v.into_array(2).unwrap()), vec![Some(7), Some(7)]);
        let v = eval_value("COALESCE", vec![lit_null(), lit_i64(Some(2))], &[]);
        assert!(matches!(v, ColumnarValue::Scalar(_)));
        // only NULLs: NULL of type NULL
        let v = eval("COALESCE", vec![lit_null(), lit_null()], &[]);
        assert_eq!(v.data_type(), &DataType::Null);
        assert_eq!(v.logical_null_count(), 1);
    }

    #[test]
    fn coalesce_coerces_to_the_common_type() {
        let cols = [
            arr(Int32Array::from(vec![Some(1), None])),
            arr(Float64Array::from(vec![Some(0.5), Some(2.5)])),
        ];
        assert_eq!(
            planned_type("COALESCE", vec![c(&cols, 0), c(&cols, 1)]),
            DataType::Float64
        );
        let out = eval("COALESCE", vec![c(&cols, 0), c(&cols, 1)], &cols);
        let out: Vec<_> = out
            .as_primitive::<arrow::datatypes::Float64Type>()
            .iter()
            .collect();
        assert_eq!(out, vec![Some(1.0), Some(2.5)]);
        // a dictionary column and a string literal meet in VARCHAR
        let dict: DictionaryArray<Int32Type> =
            vec![Some("a"), None, Some("a")].into_iter().collect();
        let cols = [arr(dict)];
        let out = eval("COALESCE", vec![c(&cols, 0), lit_str(Some("z"))], &cols);
        assert_eq!(
            strs(&out),
            vec![Some("a".into()), Some("z".into()), Some("a".into())]
        );
    }

    #[test]
    fn coalesce_errors() {
        assert_eq!(
            plan_error("COALESCE", vec![]),
            "planning error: function COALESCE does not accept (); expected (value [, ...]) with a common type"
        );
        let cols = [
            arr(Int64Array::from(vec![1])),
            arr(arrow::array::BooleanArray::from(vec![true])),
        ];
        assert_eq!(
            plan_error("COALESCE", vec![c(&cols, 0), c(&cols, 1)]),
            "planning error: function COALESCE does not accept (BIGINT, BOOLEAN); expected (value [, ...]) with a common type"
        );
    }

    #[test]
    fn nullif_nulls_equal_rows_and_keeps_the_first_type() {
        let cols = [
            arr(Int32Array::from(vec![Some(1), Some(2), None, Some(4)])),
            arr(Int64Array::from(vec![Some(1), Some(3), Some(3), None])),
        ];
        let out = eval("NULLIF", vec![c(&cols, 0), c(&cols, 1)], &cols);
        assert_eq!(out.data_type(), &DataType::Int32);
        let out: Vec<_> = out.as_primitive::<Int32Type>().iter().collect();
        assert_eq!(out, vec![None, Some(2), None, Some(4)]);
        // scalar second argument
        let out = eval("NULLIF", vec![c(&cols, 1), lit_i64(Some(3))], &cols);
        assert_eq!(i64s(&out), vec![Some(1), None, None, None]);
        // NULL second argument: the first unchanged
        let out = eval("NULLIF", vec![c(&cols, 1), lit_null()], &cols);
        assert_eq!(i64s(&out), vec![Some(1), Some(3), Some(3), None]);
        // both scalars
        let v = eval_value("NULLIF", vec![lit_str(Some("a")), lit_str(Some("a"))], &[]);
        assert!(matches!(v, ColumnarValue::Scalar(ref s) if s.is_null(0)));
        let v = eval("NULLIF", vec![lit_str(Some("a")), lit_str(Some("b"))], &[]);
        assert_eq!(strs(&v), vec![Some("a".into())]);
        // NULL first argument
        let v = eval("NULLIF", vec![lit_null(), lit_i64(Some(1))], &[]);
        assert_eq!(v.logical_null_count(), 1);
    }

    #[test]
    fn nullif_of_a_dictionary_compares_values() {
        let dict: DictionaryArray<Int32Type> =
            vec![Some("x"), Some("y"), None].into_iter().collect();
        let cols = [arr(dict)];
        let out = eval("NULLIF", vec![c(&cols, 0), lit_str(Some("x"))], &cols);
        let out = arrow::compute::cast(&out, &DataType::Utf8).unwrap();
        assert_eq!(strs(&out), vec![None, Some("y".into()), None]);
    }

    #[test]
    fn nullif_errors() {
        assert_eq!(
            plan_error("NULLIF", vec![lit_i64(Some(1))]),
            "planning error: function NULLIF does not accept (BIGINT); expected (value, value) with a common type"
        );
        let b = lit(arr(arrow::array::BooleanArray::from(vec![true])));
        assert!(
            plan_error("NULLIF", vec![lit_i64(Some(1)), b])
                .contains("function NULLIF does not accept (BIGINT, BOOLEAN)")
        );
    }

    #[test]
    fn least_and_greatest_skip_nulls() {
        let cols = [
            arr(Int64Array::from(vec![Some(1), None, Some(5), None])),
            arr(Int64Array::from(vec![Some(3), Some(2), None, None])),
            arr(Int64Array::from(vec![Some(2), Some(9), Some(4), None])),
        ];
        let args = || vec![c(&cols, 0), c(&cols, 1), c(&cols, 2)];
        assert_eq!(
            i64s(&eval("LEAST", args(), &cols)),
            vec![Some(1), Some(2), Some(4), None]
        );
        assert_eq!(
            i64s(&eval("GREATEST", args(), &cols)),
            vec![Some(3), Some(9), Some(5), None]
        );
        // scalar first argument, NULL literal in between
        let out = eval(
            "GREATEST",
            vec![lit_i64(Some(3)), lit_null(), c(&cols, 0)],
            &cols,
        );
        assert_eq!(i64s(&out), vec![Some(3), Some(3), Some(5), Some(3)]);
        // one argument is the identity
        assert_eq!(
            i64s(&eval("LEAST", vec![c(&cols, 0)], &cols)),
            vec![Some(1), None, Some(5), None]
        );
        // all scalars: scalar
        let v = eval_value("LEAST", vec![lit_i64(Some(3)), lit_i64(Some(-3))], &[]);
        assert!(matches!(v, ColumnarValue::Scalar(_)));
        assert_eq!(i64s(&v.into_array(1).unwrap()), vec![Some(-3)]);
    }

    #[test]
    fn least_and_greatest_order_strings_timestamps_and_mixed_numbers() {
        let cols = [
            arr(StringArray::from(vec![Some("b"), Some("é"), None])),
            arr(TimestampMillisecondArray::from(vec![
                Some(5),
                None,
                Some(1),
            ])),
            arr(Int32Array::from(vec![1, 2, 3])),
        ];
        let out = eval("LEAST", vec![c(&cols, 0), lit_str(Some("a"))], &cols);
        assert_eq!(
            strs(&out),
            vec![Some("a".into()), Some("a".into()), Some("a".into())]
        );
        let out = eval("GREATEST", vec![c(&cols, 0), lit_str(Some("c"))], &cols);
        assert_eq!(
            strs(&out),
            vec![Some("c".into()), Some("é".into()), Some("c".into())]
        );
        let three = lit(arr(TimestampMillisecondArray::from(vec![3])));
        let out = eval("GREATEST", vec![c(&cols, 1), three], &cols);
        assert_eq!(
            out.data_type(),
            &DataType::Timestamp(arrow::datatypes::TimeUnit::Millisecond, None)
        );
        let ts: Vec<_> = out
            .as_primitive::<arrow::datatypes::TimestampMillisecondType>()
            .iter()
            .collect();
        assert_eq!(ts, vec![Some(5), Some(3), Some(3)]);
        let out = eval("LEAST", vec![c(&cols, 2), lit_f64(Some(1.5))], &cols);
        let out: Vec<_> = out
            .as_primitive::<arrow::datatypes::Float64Type>()
            .iter()
            .collect();
        assert_eq!(out, vec![Some(1.0), Some(1.5), Some(1.5)]);
    }

    #[test]
    fn greatest_treats_nan_as_largest() {
        let cols = [arr(Float64Array::from(vec![f64::NAN, 1.0]))];
        let out = eval(
            "GREATEST",
            vec![c(&cols, 0), lit_f64(Some(f64::INFINITY))],
            &cols,
        );
        let out = out.as_primitive::<arrow::datatypes::Float64Type>();
        assert!(out.value(0).is_nan());
        assert_eq!(out.value(1), f64::INFINITY);
        let out = eval("LEAST", vec![c(&cols, 0), lit_f64(Some(0.0))], &cols);
        assert_eq!(
            out.as_primitive::<arrow::datatypes::Float64Type>().value(0),
            0.0
        );
    }

    #[test]
    fn least_errors() {
        assert_eq!(
            plan_error("LEAST", vec![]),
            "planning error: function LEAST does not accept (); expected (value [, ...]) with a common orderable type"
        );
        let b = lit(arr(arrow::array::BooleanArray::from(vec![true])));
        assert!(
            plan_error("GREATEST", vec![lit_i64(Some(1)), b])
                .contains("function GREATEST does not accept (BIGINT, BOOLEAN)")
        );
    }
}
