//! What the aggregation kernels need from Arrow native values: a hashable key form, a
//! total order (floats: NaN largest, -0.0 == 0.0, as DuckDB), and widening to `i128` /
//! `f64`. Implemented once per native type so that the kernels stay generic.
//!
//! `Float16` has no implementation (arrow does not re-export the `half` type, so it
//! cannot be named here); tables and accumulators handle it by casting to `Float32`.

use std::cmp::Ordering;

use arrow::datatypes::{ArrowNativeType, i256};

use super::hash_table::{Key128, TableKey};

/// A native value usable as a group key: equal values (in SQL terms) map to equal keys.
pub(crate) trait KeyNative: ArrowNativeType {
    /// The fixed-width key form.
    type Key: TableKey + std::hash::Hash;
    /// Floats: NaN canonicalised, -0.0 as 0.0; integers: an injective widening.
    fn to_key(self) -> Self::Key;
}

macro_rules! key_int {
    ($($t:ty),*) => {$(
        impl KeyNative for $t {
            type Key = u64;
            #[inline(always)]
            fn to_key(self) -> u64 {
                // Sign-extending first keeps the map injective for signed types.
                self as i64 as u64
            }
        }
    )*};
}
key_int!(i8, i16, i32, i64, u8, u16, u32);

impl KeyNative for u64 {
    type Key = u64;
    #[inline(always)]
    fn to_key(self) -> u64 {
        self
    }
}

impl KeyNative for i128 {
    type Key = Key128;
    #[inline(always)]
    fn to_key(self) -> Key128 {
        Key128::from_u128(self as u128)
    }
}

impl KeyNative for f64 {
    type Key = u64;
    #[inline(always)]
    fn to_key(self) -> u64 {
        if self.is_nan() {
            f64::NAN.to_bits()
        } else if self == 0.0 {
            0
        } else {
            self.to_bits()
        }
    }
}

impl KeyNative for f32 {
    type Key = u64;
    #[inline(always)]
    fn to_key(self) -> u64 {
        if self.is_nan() {
            f32::NAN.to_bits() as u64
        } else if self == 0.0 {
            0
        } else {
            self.to_bits() as u64
        }
    }
}

/// A total order on native values, as SQL orders them (DuckDB: NaN above +inf, and
/// -0.0 equal to 0.0).
pub(crate) trait OrdNative: ArrowNativeType {
    /// `a < b` in the total order.
    fn is_lt(a: Self, b: Self) -> bool;
    /// The total order.
    fn cmp_total(a: Self, b: Self) -> Ordering;
    /// The largest value (the start value of a running MIN).
    fn largest() -> Self;
    /// The smallest value (the start value of a running MAX).
    fn smallest() -> Self;
}

macro_rules! ord_int {
    ($($t:ty),*) => {$(
        impl OrdNative for $t {
            #[inline(always)]
            fn is_lt(a: Self, b: Self) -> bool {
                a < b
            }
            #[inline(always)]
            fn cmp_total(a: Self, b: Self) -> Ordering {
                a.cmp(&b)
            }
            fn largest() -> Self {
                <$t>::MAX
            }
            fn smallest() -> Self {
                <$t>::MIN
            }
        }
    )*};
}
ord_int!(i8, i16, i32, i64, i128, u8, u16, u32, u64, i256);

macro_rules! ord_float {
    ($($t:ty),*) => {$(
        impl OrdNative for $t {
            #[inline(always)]
            fn is_lt(a: Self, b: Self) -> bool {
                // NaN is the largest value; every other pair compares as IEEE (-0 == 0).
                if b.is_nan() { !a.is_nan() } else { a < b }
            }
            #[inline]
            fn cmp_total(a: Self, b: Self) -> Ordering {
                match (a.is_nan(), b.is_nan()) {
                    (true, true) => Ordering::Equal,
                    (true, false) => Ordering::Greater,
                    (false, true) => Ordering::Less,
                    (false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
                }
            }
            fn largest() -> Self {
                <$t>::NAN
            }
            fn smallest() -> Self {
                <$t>::NEG_INFINITY
            }
        }
    )*};
}
ord_float!(f32, f64);

/// Widening to `f64` (decimals: the unscaled integer; the caller divides by 10^scale).
pub(crate) trait ToF64: ArrowNativeType {
    /// The value as `f64` (may round for integers above 2^53).
    fn to_f64(self) -> f64;
}

macro_rules! to_f64_as {
    ($($t:ty),*) => {$(
        impl ToF64 for $t {
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
        }
    )*};
}
to_f64_as!(i8, i16, i32, i64, i128, u8, u16, u32, u64, f32, f64);

/// The lower middle of two values, `lo + (hi - lo) / 2` rounded down (DuckDB's
/// interpolation of the median of an even count, in the values' own type).
pub(crate) trait Midpoint: ArrowNativeType {
    /// The midpoint of `lo ≤ hi`.
    fn midpoint_down(lo: Self, hi: Self) -> Self;
}

macro_rules! midpoint_int {
    ($($t:ty),*) => {$(
        impl Midpoint for $t {
            #[inline]
            fn midpoint_down(lo: Self, hi: Self) -> Self {
                // hi - lo is exact as u128 (two's complement); its half fits i128, and
                // lo plus it lies in [lo, hi], so nothing overflows.
                let (lo, hi) = (lo as i128, hi as i128);
                let half = (hi.wrapping_sub(lo) as u128 / 2) as i128;
                lo.wrapping_add(half) as $t
            }
        }
    )*};
}
midpoint_int!(i8, i16, i32, i64, i128, u8, u16, u32, u64);

macro_rules! midpoint_float {
    ($($t:ty),*) => {$(
        impl Midpoint for $t {
            #[inline]
            fn midpoint_down(lo: Self, hi: Self) -> Self {
                lo + (hi - lo) / 2.0
            }
        }
    )*};
}
midpoint_float!(f32, f64);

/// Exact widening of an integer (or decimal's unscaled integer) to `i128`.
pub(crate) trait ToI128: ArrowNativeType {
    /// The value as `i128`.
    fn to_i128(self) -> i128;
}

macro_rules! to_i128_as {
    ($($t:ty),*) => {$(
        impl ToI128 for $t {
            #[inline(always)]
            fn to_i128(self) -> i128 {
                self as i128
            }
        }
    )*};
}
to_i128_as!(i8, i16, i32, i64, i128, u8, u16, u32, u64);

/// Exact conversion to `i64`, for the natives that always fit (not `u64`, not `i128`).
pub(crate) trait ToI64: ArrowNativeType {
    /// The value as `i64`.
    fn to_i64_exact(self) -> i64;
}

macro_rules! to_i64_as {
    ($($t:ty),*) => {$(
        impl ToI64 for $t {
            #[inline(always)]
            fn to_i64_exact(self) -> i64 {
                self as i64
            }
        }
    )*};
}
to_i64_as!(i8, i16, i32, i64, u8, u16, u32);

/// `match $dt { pattern => { type $t = ArrowType; $body } … _ => $other }` for a list of
/// `pattern => ArrowType` arms (patterns may name `D`, `DataType`, and `U`, `TimeUnit`).
macro_rules! match_primitive_types {
    ($dt:expr, $t:ident => $body:expr, _ => $other:expr, { $($p:pat => $ty:ident),* $(,)? }) => {{
        #[allow(unused_imports)]
        use arrow::datatypes::DataType as D;
        #[allow(unused_imports)]
        use arrow::datatypes::TimeUnit as U;
        #[allow(unused_imports)]
        use arrow::datatypes::*;
        match $dt {
            $($p => {
                type $t = $ty;
                $body
            })*
            _ => $other,
        }
    }};
}
pub(crate) use match_primitive_types;

/// Calls `$body` with `$t` bound to the Arrow type of `$dt` (a `DataType`) for the numeric
/// types (integers, floats 32/64, decimals 32/64/128); evaluates `$other` for anything
/// else.
macro_rules! with_numeric_type {
    ($dt:expr, $t:ident => $body:expr, _ => $other:expr) => {
        $crate::aggregate::native::match_primitive_types!($dt, $t => $body, _ => $other, {
            D::Int8 => Int8Type,
            D::Int16 => Int16Type,
            D::Int32 => Int32Type,
            D::Int64 => Int64Type,
            D::UInt8 => UInt8Type,
            D::UInt16 => UInt16Type,
            D::UInt32 => UInt32Type,
            D::UInt64 => UInt64Type,
            D::Float32 => Float32Type,
            D::Float64 => Float64Type,
            D::Decimal32(_, _) => Decimal32Type,
            D::Decimal64(_, _) => Decimal64Type,
            D::Decimal128(_, _) => Decimal128Type,
        })
    };
}
pub(crate) use with_numeric_type;

/// Calls `$body` with `$t` bound to the Arrow primitive type of `$dt` (a `DataType`),
/// for the numeric types of [`with_numeric_type`] and the date, time, timestamp and
/// duration types; evaluates `$other` for anything else. (`$dt` must be free of side
/// effects: a non-numeric type is matched a second time.)
macro_rules! with_primitive_type {
    ($dt:expr, $t:ident => $body:expr, _ => $other:expr) => {
        $crate::aggregate::native::with_numeric_type!($dt, $t => $body, _ =>
            $crate::aggregate::native::match_primitive_types!($dt, $t => $body, _ => $other, {
                D::Date32 => Date32Type,
                D::Date64 => Date64Type,
                D::Time32(U::Second) => Time32SecondType,
                D::Time32(U::Millisecond) => Time32MillisecondType,
                D::Time64(U::Microsecond) => Time64MicrosecondType,
                D::Time64(U::Nanosecond) => Time64NanosecondType,
                D::Timestamp(U::Second, _) => TimestampSecondType,
                D::Timestamp(U::Millisecond, _) => TimestampMillisecondType,
                D::Timestamp(U::Microsecond, _) => TimestampMicrosecondType,
                D::Timestamp(U::Nanosecond, _) => TimestampNanosecondType,
                D::Duration(U::Second) => DurationSecondType,
                D::Duration(U::Millisecond) => DurationMillisecondType,
                D::Duration(U::Microsecond) => DurationMicrosecondType,
                D::Duration(U::Nanosecond) => DurationNanosecondType,
            }))
    };
}
pub(crate) use with_primitive_type;

/// Calls `$body` with `$t` bound to the Arrow type of `$dt` for the exact types whose
/// values fit `i64` (all but
/// UBIGINT and 128-bit decimals): the ones summed as `i64` + carry.
macro_rules! with_i64_type {
    ($dt:expr, $t:ident => $body:expr, _ => $other:expr) => {{
        use arrow::datatypes::DataType as D;
        #[allow(unused_imports)]
        use arrow::datatypes::*;
        match $dt {
            D::Int8 => {
                type $t = Int8Type;
                $body
            }
            D::Int16 => {
                type $t = Int16Type;
                $body
            }
            D::Int32 => {
                type $t = Int32Type;
                $body
            }
            D::Int64 => {
                type $t = Int64Type;
                $body
            }
            D::UInt8 => {
                type $t = UInt8Type;
                $body
            }
            D::UInt16 => {
                type $t = UInt16Type;
                $body
            }
            D::UInt32 => {
                type $t = UInt32Type;
                $body
            }
            D::Decimal32(_, _) => {
                type $t = Decimal32Type;
                $body
            }
            D::Decimal64(_, _) => {
                type $t = Decimal64Type;
                $body
            }
            _ => $other,
        }
    }};
}
pub(crate) use with_i64_type;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_keys_canonicalise_nan_and_zero() {
        assert_eq!((-0.0f64).to_key(), 0.0f64.to_key());
        assert_eq!(f64::NAN.to_key(), (-f64::NAN).to_key());
        assert_ne!(1.0f64.to_key(), (-1.0f64).to_key());
        assert_eq!((-0.0f32).to_key(), 0.0f32.to_key());
        assert_ne!((-1i32).to_key(), (u32::MAX as i32 as u32).to_key() + 1);
    }

    #[test]
    fn midpoints_round_down_without_overflow() {
        assert_eq!(i64::midpoint_down(1, 2), 1);
        assert_eq!(i64::midpoint_down(-3, 0), -2);
        assert_eq!(i128::midpoint_down(i128::MIN, i128::MAX), -1);
        assert_eq!(u64::midpoint_down(u64::MAX - 1, u64::MAX), u64::MAX - 1);
        assert_eq!(f64::midpoint_down(1.0, 2.0), 1.5);
    }

    #[test]
    fn float_order_puts_nan_last() {
        assert!(f64::is_lt(f64::INFINITY, f64::NAN));
        assert!(!f64::is_lt(f64::NAN, f64::INFINITY));
        assert!(!f64::is_lt(f64::NAN, f64::NAN));
        assert!(!f64::is_lt(-0.0, 0.0));
        assert_eq!(f64::cmp_total(f64::NAN, 1.0), Ordering::Greater);
        assert_eq!(f64::cmp_total(-0.0, 0.0), Ordering::Equal);
    }
}
