//! Planning-time helpers shared by the function families: the "does not accept" error,
//! casts that coerce an argument to the type a function wants, binding a function to its
//! arguments, and reading constant arguments (a DATE_PART field, a ROUND precision).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, RecordBatchOptions};
use arrow::datatypes::{DataType, Int64Type, Schema};

use super::operand::is_null_scalar;
use crate::error::{Error, Result};
use crate::expr::cast::CastMode;
use crate::expr::types::sql_type_name;
use crate::expr::{Expr, ScalarFunction};

/// The SQL types of the arguments, as `(INTEGER, VARCHAR)`.
pub(super) fn describe_args(args: &[Expr]) -> String {
    let names: Vec<String> = args.iter().map(|a| sql_type_name(&a.data_type())).collect();
    format!("({})", names.join(", "))
}

/// The error for a call whose argument count or types the function does not accept.
///
/// `expected` describes the accepted signatures, e.g. `(numeric [, INTEGER])`.
pub(super) fn mismatch(name: &str, args: &[Expr], expected: &str) -> Error {
    Error::plan(format!(
        "function {name} does not accept {}; expected {expected}",
        describe_args(args)
    ))
}

/// Checks that the call has between `min` and `max` arguments.
///
/// # Errors
/// [`mismatch`] when it has not.
pub(super) fn check_arity(
    name: &str,
    args: &[Expr],
    min: usize,
    max: usize,
    expected: &str,
) -> Result<()> {
    if args.len() < min || args.len() > max {
        Err(mismatch(name, args, expected))
    } else {
        Ok(())
    }
}

/// Wraps `expr` in a strict cast to `to` unless it already has that type. A literal is
/// cast at once (so constant arguments stay readable as literals); if that cast fails
/// the error is left to execution time, as for any other `CAST`.
pub(super) fn coerce(expr: Expr, to: &DataType) -> Expr {
    if expr.data_type() == *to {
        return expr;
    }
    if let Expr::Literal(value) = &expr
        && let Ok(cast) = arrow::compute::cast_with_options(
            value.as_ref(),
            to,
            &arrow::compute::CastOptions {
                safe: false,
                ..Default::default()
            },
        )
    {
        return Expr::Literal(cast);
    }
    Expr::Cast {
        expr: Box::new(expr),
        to: to.clone(),
        mode: CastMode::Strict,
    }
}

/// Binds a function to its (already coerced) arguments.
pub(super) fn bind(func: impl ScalarFunction + 'static, args: Vec<Expr>) -> Expr {
    Expr::Function {
        func: Arc::new(func),
        args,
    }
}

/// A NULL literal of type `data_type`: the plan of a call whose result is NULL whatever
/// its other arguments are.
pub(super) fn null_literal(data_type: &DataType) -> Expr {
    Expr::Literal(arrow::array::new_null_array(data_type, 1))
}

/// The value of a constant expression as a one-element array, or `None` when the
/// expression reads a column.
///
/// # Errors
/// A failure while evaluating the constant (a bad cast).
pub(super) fn constant_value(expr: &Expr) -> Result<Option<ArrayRef>> {
    if let Expr::Literal(value) = expr {
        return Ok(Some(Arc::clone(value)));
    }
    if !expr.is_constant() {
        return Ok(None);
    }
    // a constant reads no column, so a batch of one row and no columns evaluates it
    let batch = RecordBatch::try_new_with_options(
        Arc::new(Schema::empty()),
        vec![],
        &RecordBatchOptions::new().with_row_count(Some(1)),
    )?;
    Ok(Some(expr.evaluate(&batch)?.into_array(1)?))
}

/// A constant string argument: `Some(Some(text))`, `Some(None)` for NULL, `None` when
/// the argument is not a constant string.
///
/// # Errors
/// As [`constant_value`].
pub(super) fn constant_string(expr: &Expr) -> Result<Option<Option<String>>> {
    let Some(value) = constant_value(expr)? else {
        return Ok(None);
    };
    if value.is_empty() {
        return Ok(None);
    }
    if is_null_scalar(&value) {
        return Ok(Some(None));
    }
    let text = match value.data_type() {
        DataType::Utf8 => value.as_string::<i32>().value(0).to_string(),
        DataType::LargeUtf8 => value.as_string::<i64>().value(0).to_string(),
        DataType::Utf8View => value.as_string_view().value(0).to_string(),
        DataType::Dictionary(_, v) if **v == DataType::Utf8 => {
            let utf8 = arrow::compute::cast(&value, &DataType::Utf8)?;
            utf8.as_string::<i32>().value(0).to_string()
        }
        _ => return Ok(None),
    };
    Ok(Some(Some(text)))
}

/// A constant integer argument: `Some(Some(v))`, `Some(None)` for NULL, `None` when the
/// argument is not a constant integer.
///
/// # Errors
/// As [`constant_value`].
pub(super) fn constant_i64(expr: &Expr) -> Result<Option<Option<i64>>> {
    if !(expr.data_type().is_integer() || expr.data_type() == DataType::Null) {
        return Ok(None);
    }
    let Some(value) = constant_value(expr)? else {
        return Ok(None);
    };
    if value.is_empty() {
        return Ok(None);
    }
    if is_null_scalar(&value) {
        return Ok(Some(None));
    }
    let value = arrow::compute::cast(&value, &DataType::Int64)?;
    Ok(Some(Some(value.as_primitive::<Int64Type>().value(0))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::BinaryOp;
    use crate::expr::functions::test_support::*;

    #[test]
    fn mismatch_names_function_and_argument_types() {
        let err = mismatch(
            "ROUND",
            &[lit_str(Some("x")), lit_i64(Some(1))],
            "(numeric [, INTEGER])",
        );
        assert_eq!(
            err.to_string(),
            "planning error: function ROUND does not accept (VARCHAR, BIGINT); expected (numeric [, INTEGER])"
        );
        assert!(matches!(err, Error::Plan(_)));
        assert_eq!(describe_args(&[]), "()");
    }

    #[test]
    fn coerce_folds_literals_and_wraps_columns() {
        let folded = coerce(lit_i64(Some(3)), &DataType::Float64);
        assert!(matches!(&folded, Expr::Literal(v) if v.data_type() == &DataType::Float64));
        let same = coerce(lit_i64(Some(3)), &DataType::Int64);
        assert!(matches!(same, Expr::Literal(_)));
        let wrapped = coerce(col(0, "a", DataType::Int32), &DataType::Int64);
        assert!(matches!(
            wrapped,
            Expr::Cast {
                mode: CastMode::Strict,
                ..
            }
        ));
        // a literal that cannot be cast stays a CAST and fails when evaluated
        let bad = coerce(lit_str(Some("x")), &DataType::Int64);
        assert!(matches!(bad, Expr::Cast { .. }));
    }

    #[test]
    fn constants_are_read_from_literals_and_constant_expressions() {
        assert_eq!(
            constant_string(&lit_str(Some("year"))).unwrap(),
            Some(Some("year".to_string()))
        );
        assert_eq!(constant_string(&lit_str(None)).unwrap(), Some(None));
        assert_eq!(constant_string(&col(0, "s", DataType::Utf8)).unwrap(), None);
        assert_eq!(constant_string(&lit_i64(Some(1))).unwrap(), None);
        let sum = Expr::Binary {
            op: BinaryOp::Plus,
            left: Box::new(lit_i64(Some(1))),
            right: Box::new(lit_i64(Some(2))),
            data_type: DataType::Int64,
        };
        assert_eq!(constant_i64(&sum).unwrap(), Some(Some(3)));
        assert_eq!(constant_i64(&lit_null()).unwrap(), Some(None));
        assert_eq!(constant_i64(&lit_f64(Some(1.0))).unwrap(), None);
        assert_eq!(constant_i64(&col(0, "a", DataType::Int64)).unwrap(), None);
    }
}
