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
        format_options: FormatOptions::default(),
    };
    let map = |a: &Arc<dyn Array>| -> Result<Arc<dyn Array>> {
        cast_with_options(a.as_ref(), to, &options).map_err(|e| {
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
