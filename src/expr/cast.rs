//! `CAST` and `TRY_CAST` over whole columns, with DuckDB's failure behaviour: a value
//! that does not fit is an error for `CAST` and NULL for `TRY_CAST`.

use std::sync::Arc;

use arrow::array::Array;
use arrow::compute::{CastOptions, can_cast_types, cast_with_options};
use arrow::datatypes::DataType;
use arrow::util::display::FormatOptions;

use super::ColumnarValue;
use super::types::sql_type_name;
use crate::error::{Error, Result};

/// What a cast does with a value that cannot be converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CastMode {
    /// `CAST`: the query fails.
    Strict,
    /// `TRY_CAST`: the value becomes NULL.
    Try,
}

/// True when a value of type `from` can be cast to `to`.
pub fn can_cast(from: &DataType, to: &DataType) -> bool {
    from == to || can_cast_types(from, to)
}

/// Casts a value, keeping scalars scalar.
///
/// # Errors
/// For [`CastMode::Strict`], a value that cannot be converted.
pub fn cast_value(value: ColumnarValue, to: &DataType, mode: CastMode) -> Result<ColumnarValue> {
    if value.data_type() == to {
        return Ok(value);
    }
    let options = CastOptions {
        safe: mode == CastMode::Try,
        format_options: FormatOptions::default()
            .with_timestamp_format(Some("%Y-%m-%d %H:%M:%S%.f"))
            .with_timestamp_tz_format(Some("%Y-%m-%d %H:%M:%S%.f%:z")),
    };
    let map = |a: &Arc<dyn Array>| -> Result<Arc<dyn Array>> {
        let rounded;
        let input: &dyn Array = if to.is_integer() {
            // DuckDB rounds (half away from zero) when a fractional value becomes an
            // integer; Arrow truncates
            rounded = round_for_integer_cast(a.as_ref())?;
            rounded.as_deref().unwrap_or(a.as_ref())
        } else {
            a.as_ref()
        };
        cast_with_options(input, to, &options).map_err(|e| {
            Error::execution(format!(
                "could not cast {} to {}: {e}",
                sql_type_name(a.data_type()),
                sql_type_name(to)
            ))
        })
    };
    Ok(match value {
        ColumnarValue::Array(a) => ColumnarValue::Array(map(&a)?),
        ColumnarValue::Scalar(s) => ColumnarValue::Scalar(map(&s)?),
    })
}

/// Rounds floats and decimals to whole numbers (half away from zero) before a cast to an
/// integer type; `None` when the input needs no rounding.
fn round_for_integer_cast(a: &dyn Array) -> Result<Option<Arc<dyn Array>>> {
    use arrow::array::AsArray;
    use arrow::datatypes::{Float32Type, Float64Type};
    Ok(match a.data_type() {
        DataType::Float64 => Some(Arc::new(
            a.as_primitive::<Float64Type>()
                .unary::<_, Float64Type>(f64::round),
        )),
        DataType::Float32 => Some(Arc::new(
            a.as_primitive::<Float32Type>()
                .unary::<_, Float32Type>(f32::round),
        )),
        DataType::Decimal128(_, s) if *s > 0 => {
            Some(arrow::compute::cast(a, &DataType::Decimal128(38, 0))?)
        }
        _ => None,
    })
}
