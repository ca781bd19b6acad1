//! Per-batch views of function arguments that keep constant arguments scalar: the
//! result [`Shape`] of a call, integer and string operands read row by row without
//! expanding a scalar to a column, and Arrow `Datum`s for the comparison kernels.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Datum, Int64Array, Scalar, StringArray};
use arrow::datatypes::{DataType, Int64Type};

use crate::error::{Error, Result};
use crate::expr::{ColumnarValue, repeat_scalar};

/// The shape of a call's result: a scalar when every argument is a scalar, else a column
/// of the batch's `num_rows` rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Shape {
    /// Rows to compute: 1 for a scalar result.
    pub rows: usize,
    /// True when the result stands for every row.
    pub scalar: bool,
}

impl Shape {
    /// The shape of a call over `args` in a batch of `num_rows` rows.
    pub fn of(args: &[ColumnarValue], num_rows: usize) -> Shape {
        if args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_))) {
            Shape {
                rows: 1,
                scalar: true,
            }
        } else {
            Shape {
                rows: num_rows,
                scalar: false,
            }
        }
    }

    /// Wraps a computed array of `self.rows` rows.
    pub fn wrap(self, array: ArrayRef) -> ColumnarValue {
        if self.scalar {
            ColumnarValue::Scalar(array)
        } else {
            ColumnarValue::Array(array)
        }
    }

    /// The value as an array of `self.rows` rows (a scalar is repeated only when the
    /// result is a column).
    ///
    /// # Errors
    /// As [`repeat_scalar`].
    pub fn array(self, value: &ColumnarValue) -> Result<ArrayRef> {
        match value {
            ColumnarValue::Array(a) => Ok(Arc::clone(a)),
            ColumnarValue::Scalar(s) if self.scalar => Ok(Arc::clone(s)),
            ColumnarValue::Scalar(s) => repeat_scalar(s, self.rows),
        }
    }
}

/// True when a one-element array holds NULL (also for the untyped `Null` array, whose
/// nulls are only logical).
pub(super) fn is_null_scalar(value: &ArrayRef) -> bool {
    value.is_empty() || value.logical_null_count() > 0
}

/// An `Int64` argument: one value for all rows, or a column.
pub(super) enum IntOperand<'a> {
    /// The same value (or NULL) for every row.
    Scalar(Option<i64>),
    /// One value per row.
    Array(&'a Int64Array),
}

impl<'a> IntOperand<'a> {
    /// Views an argument the planner cast to `Int64`.
    ///
    /// # Errors
    /// An argument of another type (a planner bug).
    pub fn new(value: &'a ColumnarValue) -> Result<Self> {
        match value {
            ColumnarValue::Scalar(s) => {
                let a = s
                    .as_primitive_opt::<Int64Type>()
                    .ok_or_else(|| wrong_type("BIGINT", s.data_type()))?;
                Ok(IntOperand::Scalar(
                    (!a.is_empty() && a.is_valid(0)).then(|| a.value(0)),
                ))
            }
            ColumnarValue::Array(a) => Ok(IntOperand::Array(
                a.as_primitive_opt::<Int64Type>()
                    .ok_or_else(|| wrong_type("BIGINT", a.data_type()))?,
            )),
        }
    }

    /// The value at row `i` (`i` is in range for a column).
    #[inline]
    pub fn get(&self, i: usize) -> Option<i64> {
        match self {
            IntOperand::Scalar(v) => *v,
            IntOperand::Array(a) => a.is_valid(i).then(|| a.value(i)),
        }
    }
}

/// A `Utf8` argument: one value for all rows, or a column.
pub(super) enum StrOperand<'a> {
    /// The same value (or NULL) for every row.
    Scalar(Option<&'a str>),
    /// One value per row.
    Array(&'a StringArray),
}

impl<'a> StrOperand<'a> {
    /// Views an argument the planner cast to `Utf8`.
    ///
    /// # Errors
    /// An argument of another type (a planner bug).
    pub fn new(value: &'a ColumnarValue) -> Result<Self> {
        match value {
            ColumnarValue::Scalar(s) => {
                let a = s
                    .as_string_opt::<i32>()
                    .ok_or_else(|| wrong_type("VARCHAR", s.data_type()))?;
                Ok(StrOperand::Scalar(
                    (!a.is_empty() && a.is_valid(0)).then(|| a.value(0)),
                ))
            }
            ColumnarValue::Array(a) => Ok(StrOperand::Array(
                a.as_string_opt::<i32>()
                    .ok_or_else(|| wrong_type("VARCHAR", a.data_type()))?,
            )),
        }
    }

    /// The value at row `i` (`i` is in range for a column).
    #[inline]
    pub fn get(&self, i: usize) -> Option<&'a str> {
        match self {
            StrOperand::Scalar(v) => *v,
            StrOperand::Array(a) => a.is_valid(i).then(|| a.value(i)),
        }
    }
}

fn wrong_type(wanted: &str, got: &DataType) -> Error {
    Error::internal(format!(
        "function argument should be {wanted}, got {got} (the planner did not cast it)"
    ))
}

/// A value usable as an Arrow [`Datum`]: scalars are flagged as such, so that the
/// comparison and `zip` kernels broadcast them instead of needing a full column.
pub(super) enum DatumValue {
    /// A column.
    Array(ArrayRef),
    /// One value for every row.
    Scalar(Scalar<ArrayRef>),
}

impl DatumValue {
    /// Wraps a value.
    pub fn new(value: &ColumnarValue) -> Self {
        match value {
            ColumnarValue::Array(a) => DatumValue::Array(Arc::clone(a)),
            ColumnarValue::Scalar(s) => DatumValue::Scalar(Scalar::new(Arc::clone(s))),
        }
    }

    /// The value as a `Datum`.
    pub fn datum(&self) -> &dyn Datum {
        match self {
            DatumValue::Array(a) => a,
            DatumValue::Scalar(s) => s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar_i64(v: Option<i64>) -> ColumnarValue {
        ColumnarValue::Scalar(Arc::new(Int64Array::from(vec![v])))
    }

    #[test]
    fn shape_is_scalar_only_when_every_argument_is() {
        let column = ColumnarValue::Array(Arc::new(Int64Array::from(vec![1, 2, 3])));
        let s = Shape::of(&[scalar_i64(Some(1)), scalar_i64(None)], 3);
        assert_eq!(
            s,
            Shape {
                rows: 1,
                scalar: true
            }
        );
        let a = Shape::of(&[scalar_i64(Some(1)), column], 3);
        assert_eq!(
            a,
            Shape {
                rows: 3,
                scalar: false
            }
        );
        assert_eq!(a.array(&scalar_i64(Some(7))).unwrap().len(), 3);
        assert_eq!(s.array(&scalar_i64(Some(7))).unwrap().len(), 1);
        assert!(matches!(
            s.wrap(Arc::new(Int64Array::from(vec![1]))),
            ColumnarValue::Scalar(_)
        ));
    }

    #[test]
    fn operands_read_scalars_and_columns() {
        let column = ColumnarValue::Array(Arc::new(Int64Array::from(vec![Some(1), None])));
        let c = IntOperand::new(&column).unwrap();
        assert_eq!((c.get(0), c.get(1)), (Some(1), None));
        let s = scalar_i64(Some(5));
        assert_eq!(IntOperand::new(&s).unwrap().get(1), Some(5));
        let n = scalar_i64(None);
        assert_eq!(IntOperand::new(&n).unwrap().get(0), None);
        let text = ColumnarValue::Scalar(Arc::new(StringArray::from(vec!["x"])));
        assert_eq!(StrOperand::new(&text).unwrap().get(3), Some("x"));
        assert!(IntOperand::new(&text).is_err());
        assert!(StrOperand::new(&column).is_err());
    }
}
