//! SQL type names (as sqlparser parses them) to Arrow types.

use arrow::datatypes::{DataType, TimeUnit};
use sqlparser::ast::{DataType as SqlType, ExactNumberInfo, TimezoneInfo};

use crate::error::{Error, Result};

/// The Arrow type for a SQL type in a CAST or table definition (DuckDB's mapping).
///
/// # Errors
/// [`Error::NotSupported`] naming the type.
pub fn to_arrow_type(t: &SqlType) -> Result<DataType> {
    Ok(match t {
        SqlType::Boolean | SqlType::Bool => DataType::Boolean,
        SqlType::TinyInt(_) => DataType::Int8,
        SqlType::SmallInt(_) | SqlType::Int2(_) | SqlType::Int16 => DataType::Int16,
        SqlType::Int(_) | SqlType::Integer(_) | SqlType::Int4(_) | SqlType::Int32 => {
            DataType::Int32
        }
        SqlType::BigInt(_) | SqlType::Int8(_) | SqlType::Int64 => DataType::Int64,
        SqlType::UTinyInt | SqlType::UInt8 => DataType::UInt8,
        SqlType::USmallInt | SqlType::UInt16 => DataType::UInt16,
        SqlType::UInt32 | SqlType::IntUnsigned(_) | SqlType::IntegerUnsigned(_) => DataType::UInt32,
        SqlType::UBigInt | SqlType::UInt64 | SqlType::BigIntUnsigned(_) => DataType::UInt64,
        SqlType::Real | SqlType::Float4 | SqlType::Float32 => DataType::Float32,
        SqlType::Float(info) => match info {
            ExactNumberInfo::Precision(p) if *p <= 24 => DataType::Float32,
            _ => DataType::Float64,
        },
        SqlType::Double(_) | SqlType::DoublePrecision | SqlType::Float8 | SqlType::Float64 => {
            DataType::Float64
        }
        SqlType::Decimal(info) | SqlType::Numeric(info) | SqlType::Dec(info) => {
            let (p, s) = match info {
                ExactNumberInfo::None => (18, 3),
                ExactNumberInfo::Precision(p) => (*p, 0),
                ExactNumberInfo::PrecisionAndScale(p, s) => (*p, (*s).max(0) as u64),
            };
            if p == 0 || p > 38 || s > p {
                return Err(Error::plan(format!(
                    "invalid DECIMAL({p},{s}): precision must be 1..=38 and scale at most the precision"
                )));
            }
            DataType::Decimal128(p as u8, s as i8)
        }
        SqlType::Varchar(_)
        | SqlType::Char(_)
        | SqlType::Character(_)
        | SqlType::CharacterVarying(_)
        | SqlType::CharVarying(_)
        | SqlType::Nvarchar(_)
        | SqlType::Text
        | SqlType::String(_) => DataType::Utf8,
        SqlType::Date => DataType::Date32,
        SqlType::Timestamp(_, _) | SqlType::Datetime(_) => {
            DataType::Timestamp(TimeUnit::Microsecond, None)
        }
        SqlType::Custom(name, _) => {
            let n = name.to_string().to_ascii_uppercase();
            match n.as_str() {
                "TIMESTAMP_MS" => DataType::Timestamp(TimeUnit::Millisecond, None),
                "TIMESTAMP_S" => DataType::Timestamp(TimeUnit::Second, None),
                "TIMESTAMP_US" => DataType::Timestamp(TimeUnit::Microsecond, None),
                "TIMESTAMP_NS" => DataType::Timestamp(TimeUnit::Nanosecond, None),
                "HUGEINT" => DataType::Decimal128(38, 0),
                "TINYINT" => DataType::Int8,
                "UTINYINT" => DataType::UInt8,
                "USMALLINT" => DataType::UInt16,
                "UINTEGER" => DataType::UInt32,
                "UBIGINT" => DataType::UInt64,
                _ => return Err(Error::not_supported(format!("type {n}"))),
            }
        }
        other => return Err(Error::not_supported(format!("type {other}"))),
    })
}

/// Whether a timestamp type carries a zone (kept for future use; zones are UTC).
pub fn has_time_zone(tz: &TimezoneInfo) -> bool {
    matches!(tz, TimezoneInfo::WithTimeZone | TimezoneInfo::Tz)
}
