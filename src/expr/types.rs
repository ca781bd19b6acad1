//! SQL names of Arrow types and the text of scalar values, for messages and EXPLAIN.

use arrow::array::{Array, ArrayRef};
use arrow::datatypes::{DataType, TimeUnit};
use arrow::util::display::{ArrayFormatter, FormatOptions};

/// The SQL (DuckDB-style) name of an Arrow type, as used in error messages.
pub fn sql_type_name(t: &DataType) -> String {
    match t {
        DataType::Null => "NULL".into(),
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Int8 => "TINYINT".into(),
        DataType::Int16 => "SMALLINT".into(),
        DataType::Int32 => "INTEGER".into(),
        DataType::Int64 => "BIGINT".into(),
        DataType::UInt8 => "UTINYINT".into(),
        DataType::UInt16 => "USMALLINT".into(),
        DataType::UInt32 => "UINTEGER".into(),
        DataType::UInt64 => "UBIGINT".into(),
        DataType::Float16 => "HALF".into(),
        DataType::Float32 => "FLOAT".into(),
        DataType::Float64 => "DOUBLE".into(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "VARCHAR".into(),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "BLOB".into(),
        DataType::Date32 | DataType::Date64 => "DATE".into(),
        DataType::Timestamp(unit, tz) => {
            let base = match unit {
                TimeUnit::Second => "TIMESTAMP_S",
                TimeUnit::Millisecond => "TIMESTAMP_MS",
                TimeUnit::Microsecond => "TIMESTAMP",
                TimeUnit::Nanosecond => "TIMESTAMP_NS",
            };
            match tz {
                Some(_) => format!("{base} WITH TIME ZONE"),
                None => base.into(),
            }
        }
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => format!("DECIMAL({p},{s})"),
        DataType::Dictionary(_, v) => sql_type_name(v),
        DataType::Interval(_) | DataType::Duration(_) => "INTERVAL".into(),
        other => format!("{other}"),
    }
}

/// The value of a one-element array as SQL-ish text (strings quoted).
pub fn format_scalar(value: &ArrayRef) -> String {
    if value.is_empty() || value.is_null(0) {
        return "NULL".into();
    }
    let opts = FormatOptions::default();
    let text = match ArrayFormatter::try_new(value.as_ref(), &opts) {
        Ok(f) => f.value(0).to_string(),
        Err(_) => "?".into(),
    };
    match value.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            format!("'{}'", text.replace('\'', "''"))
        }
        DataType::Timestamp(_, _) => format!("TIMESTAMP '{text}'"),
        DataType::Date32 | DataType::Date64 => format!("DATE '{text}'"),
        _ => text,
    }
}

/// True for the string types (and dictionaries of strings).
pub fn is_string(t: &DataType) -> bool {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => is_string(v),
        _ => false,
    }
}

/// True for integer types.
pub fn is_integer(t: &DataType) -> bool {
    t.is_integer()
}

/// True for numeric types (integers, floats, decimals).
pub fn is_numeric(t: &DataType) -> bool {
    t.is_integer() || t.is_floating() || matches!(t, DataType::Decimal128(_, _))
}

/// The value type of a dictionary, or the type itself.
pub fn value_type(t: &DataType) -> &DataType {
    match t {
        DataType::Dictionary(_, v) => v.as_ref(),
        other => other,
    }
}
