//! Type coercion rules (DuckDB's): the common type of two operands, and the result type
//! of each operator. The planner inserts casts so that kernels always see equal types.

use arrow::datatypes::{DataType, TimeUnit};

use super::types::{is_numeric, is_string, value_type};

/// Rank of an integer type in the widening order (signed and unsigned).
fn int_rank(t: &DataType) -> Option<(bool, u8)> {
    Some(match t {
        DataType::Int8 => (true, 8),
        DataType::Int16 => (true, 16),
        DataType::Int32 => (true, 32),
        DataType::Int64 => (true, 64),
        DataType::UInt8 => (false, 8),
        DataType::UInt16 => (false, 16),
        DataType::UInt32 => (false, 32),
        DataType::UInt64 => (false, 64),
        _ => return None,
    })
}

fn signed_int(bits: u8) -> DataType {
    match bits {
        8 => DataType::Int8,
        16 => DataType::Int16,
        32 => DataType::Int32,
        _ => DataType::Int64,
    }
}

/// Decimal precision needed to hold any value of an integer type.
fn int_decimal_digits(t: &DataType) -> Option<u8> {
    Some(match t {
        DataType::Int8 | DataType::UInt8 => 3,
        DataType::Int16 | DataType::UInt16 => 5,
        DataType::Int32 | DataType::UInt32 => 10,
        DataType::Int64 => 19,
        DataType::UInt64 => 20,
        _ => return None,
    })
}

/// The common numeric type of two numeric types, or `None`.
pub fn numeric_common(a: &DataType, b: &DataType) -> Option<DataType> {
    use DataType::*;
    if a == b {
        return Some(a.clone());
    }
    match (a, b) {
        (Null, t) | (t, Null) if is_numeric(t) => return Some(t.clone()),
        (Float64, t) | (t, Float64) if is_numeric(t) => return Some(Float64),
        (Float32, Float16) | (Float16, Float32) => return Some(Float32),
        (Float32 | Float16, t) | (t, Float32 | Float16) if is_numeric(t) => {
            return Some(if t.is_integer() && matches!(t, Int8 | Int16 | UInt8 | UInt16) {
                Float32
            } else {
                Float64
            });
        }
        _ => {}
    }
    if let (Some((sa, ba)), Some((sb, bb))) = (int_rank(a), int_rank(b)) {
        return Some(match (sa, sb) {
            (true, true) => signed_int(ba.max(bb)),
            (false, false) => {
                if ba >= bb {
                    a.clone()
                } else {
                    b.clone()
                }
            }
            _ => {
                // mixed signedness: a signed type wide enough for both
                let (sbits, ubits) = if sa { (ba, bb) } else { (bb, ba) };
                if ubits < sbits {
                    signed_int(sbits)
                } else if ubits < 64 {
                    signed_int(ubits * 2)
                } else {
                    Decimal128(20, 0)
                }
            }
        });
    }
    match (a, b) {
        (Decimal128(p1, s1), Decimal128(p2, s2)) => {
            let s = (*s1).max(*s2);
            let int_digits = (*p1 as i16 - *s1 as i16).max(*p2 as i16 - *s2 as i16);
            let p = (int_digits + s as i16).clamp(1, 38) as u8;
            Some(Decimal128(p, s))
        }
        (Decimal128(_, _), t) | (t, Decimal128(_, _)) if t.is_integer() => {
            let d = if let Decimal128(p, s) = if matches!(a, Decimal128(_, _)) { a } else { b } {
                (*p, *s)
            } else {
                return None;
            };
            let digits = int_decimal_digits(t)?;
            let p = (digits as i16 + d.1 as i16).max(d.0 as i16).clamp(1, 38) as u8;
            Some(Decimal128(p, d.1))
        }
        _ => None,
    }
}

/// Finer of two time units.
fn finer_unit(a: &TimeUnit, b: &TimeUnit) -> TimeUnit {
    fn rank(u: &TimeUnit) -> u8 {
        match u {
            TimeUnit::Second => 0,
            TimeUnit::Millisecond => 1,
            TimeUnit::Microsecond => 2,
            TimeUnit::Nanosecond => 3,
        }
    }
    if rank(a) >= rank(b) { *a } else { *b }
}

/// The type both sides of a comparison (or CASE branches, IN lists, COALESCE
/// arguments) are cast to, or `None` when they are not comparable.
///
/// Dictionary and view string types are kept as they are when the other side is a
/// plain string: the comparison kernels unwrap dictionaries themselves.
pub fn comparison_common(a: &DataType, b: &DataType) -> Option<DataType> {
    use DataType::*;
    if a == b {
        return Some(a.clone());
    }
    let (va, vb) = (value_type(a), value_type(b));
    if va == vb {
        return Some(va.clone());
    }
    match (va, vb) {
        (Null, t) | (t, Null) => Some(t.clone()),
        _ if is_numeric(va) && is_numeric(vb) => numeric_common(va, vb),
        _ if is_string(va) && is_string(vb) => Some(if matches!(va, LargeUtf8) || matches!(vb, LargeUtf8) {
            LargeUtf8
        } else if matches!(va, Utf8View) || matches!(vb, Utf8View) {
            Utf8View
        } else {
            Utf8
        }),
        (Timestamp(ua, tza), Timestamp(ub, tzb)) if tza == tzb => {
            Some(Timestamp(finer_unit(ua, ub), tza.clone()))
        }
        (Timestamp(u, tz), Date32 | Date64) | (Date32 | Date64, Timestamp(u, tz)) => {
            Some(Timestamp(*u, tz.clone()))
        }
        (Date32, Date64) | (Date64, Date32) => Some(Date32),
        // a string against a temporal or numeric value: the string is parsed
        (t, s) | (s, t) if is_string(s) && (t.is_temporal() || is_numeric(t) || *t == Boolean) => {
            Some(t.clone())
        }
        _ => None,
    }
}

/// The common type of many values (CASE branches, COALESCE, LEAST/GREATEST, IN).
pub fn common_of(types: &[DataType]) -> Option<DataType> {
    let mut it = types.iter();
    let mut acc = it.next()?.clone();
    for t in it {
        acc = comparison_common(&acc, t)?;
    }
    // a dictionary result is unwrapped: branches are merged value by value
    Some(value_type(&acc).clone())
}
