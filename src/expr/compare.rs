//! Comparison of a primitive column with a constant, as a tight typed loop.
//!
//! Arrow's generic comparison kernel orders floats with `total_cmp` (slow, and it
//! treats -0.0 < 0.0); this kernel compares 64 values into one mask word with plain
//! operators, which the compiler vectorizes. Float semantics follow DuckDB: NaN equals
//! NaN and is greater than every other value; -0.0 equals 0.0.

use arrow::array::{Array, ArrowPrimitiveType, BooleanArray, PrimitiveArray};
use arrow::buffer::{BooleanBuffer, MutableBuffer};
use arrow::datatypes::{
    DataType, Date32Type, Date64Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};

use super::BinaryOp;

/// A comparison operator with the column on the left and the constant on the right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `=`
    Eq,
    /// `<>`
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    LtEq,
    /// `>`
    Gt,
    /// `>=`
    GtEq,
}

impl CmpOp {
    /// The operator for `column op constant`, or `None` for other operators.
    pub fn from_binary(op: BinaryOp) -> Option<CmpOp> {
        Some(match op {
            BinaryOp::Eq => CmpOp::Eq,
            BinaryOp::NotEq => CmpOp::NotEq,
            BinaryOp::Lt => CmpOp::Lt,
            BinaryOp::LtEq => CmpOp::LtEq,
            BinaryOp::Gt => CmpOp::Gt,
            BinaryOp::GtEq => CmpOp::GtEq,
            _ => return None,
        })
    }

    /// The operator with its operands swapped (`c op x` == `x op.flip() c`).
    pub fn flip(self) -> CmpOp {
        match self {
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::LtEq => CmpOp::GtEq,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::GtEq => CmpOp::LtEq,
            other => other,
        }
    }
}

/// Values the kernel can compare with SQL semantics.
pub trait SqlOrd: Copy {
    /// `self op other`.
    fn cmp_op(self, op: CmpOp, other: Self) -> bool;
}

macro_rules! int_ord {
    ($($t:ty),*) => {$(
        impl SqlOrd for $t {
            #[inline(always)]
            fn cmp_op(self, op: CmpOp, o: Self) -> bool {
                match op {
                    CmpOp::Eq => self == o,
                    CmpOp::NotEq => self != o,
                    CmpOp::Lt => self < o,
                    CmpOp::LtEq => self <= o,
                    CmpOp::Gt => self > o,
                    CmpOp::GtEq => self >= o,
                }
            }
        }
    )*};
}
int_ord!(i8, i16, i32, i64, u8, u16, u32, u64);

macro_rules! float_ord {
    ($($t:ty),*) => {$(
        impl SqlOrd for $t {
            #[inline(always)]
            fn cmp_op(self, op: CmpOp, o: Self) -> bool {
                // NaN is the largest value and equal to itself (DuckDB)
                let (sn, on) = (self.is_nan(), o.is_nan());
                match op {
                    CmpOp::Eq => self == o || (sn & on),
                    CmpOp::NotEq => !(self == o || (sn & on)),
                    CmpOp::Lt => (self < o) | (on & !sn),
                    CmpOp::LtEq => (self <= o) | on,
                    CmpOp::Gt => (self > o) | (sn & !on),
                    CmpOp::GtEq => (self >= o) | sn,
                }
            }
        }
    )*};
}
float_ord!(f32, f64);

/// [`compare_loop`] compiled for AVX-512 (the same code: the compiler vectorizes it with
/// mask registers), where the CPU has it.
fn compare_loop_dispatch<T: SqlOrd>(values: &[T], constant: T, op: CmpOp) -> BooleanBuffer {
    crate::simd::avx512_or_baseline!(<T: SqlOrd> (values: &[T], constant: T, op: CmpOp)
        -> BooleanBuffer => compare_loop(values, constant, op))
}

/// `values op constant` for one operator, 64 rows per mask word.
#[inline(always)]
fn compare_loop<T: SqlOrd>(values: &[T], constant: T, op: CmpOp) -> BooleanBuffer {
    #[inline(always)]
    fn run<T: SqlOrd>(values: &[T], f: impl Fn(T) -> bool) -> BooleanBuffer {
        let len = values.len();
        let mut words = MutableBuffer::new(len.div_ceil(64) * 8);
        let chunks = values.chunks_exact(64);
        let rest = chunks.remainder();
        for chunk in chunks {
            let mut w = 0u64;
            for (i, v) in chunk.iter().enumerate() {
                w |= (f(*v) as u64) << i;
            }
            words.push(w);
        }
        if !rest.is_empty() {
            let mut w = 0u64;
            for (i, v) in rest.iter().enumerate() {
                w |= (f(*v) as u64) << i;
            }
            words.push(w);
        }
        BooleanBuffer::new(words.into(), 0, len)
    }
    // one monomorphized loop per operator, so the operator is not matched per row
    match op {
        CmpOp::Eq => run(values, |v| v.cmp_op(CmpOp::Eq, constant)),
        CmpOp::NotEq => run(values, |v| v.cmp_op(CmpOp::NotEq, constant)),
        CmpOp::Lt => run(values, |v| v.cmp_op(CmpOp::Lt, constant)),
        CmpOp::LtEq => run(values, |v| v.cmp_op(CmpOp::LtEq, constant)),
        CmpOp::Gt => run(values, |v| v.cmp_op(CmpOp::Gt, constant)),
        CmpOp::GtEq => run(values, |v| v.cmp_op(CmpOp::GtEq, constant)),
    }
}

fn compare_typed<T>(column: &dyn Array, constant: &dyn Array, op: CmpOp) -> Option<BooleanArray>
where
    T: ArrowPrimitiveType,
    T::Native: SqlOrd,
{
    let col = column.as_any().downcast_ref::<PrimitiveArray<T>>()?;
    let c = constant.as_any().downcast_ref::<PrimitiveArray<T>>()?;
    if c.is_null(0) {
        return None;
    }
    let bits = compare_loop_dispatch(col.values(), c.value(0), op);
    Some(BooleanArray::new(bits, col.nulls().cloned()))
}

fn compare_pair<T>(left: &dyn Array, right: &dyn Array, op: CmpOp) -> Option<BooleanArray>
where
    T: ArrowPrimitiveType,
    T::Native: SqlOrd,
{
    let l = left.as_any().downcast_ref::<PrimitiveArray<T>>()?;
    let r = right.as_any().downcast_ref::<PrimitiveArray<T>>()?;
    let (lv, rv) = (l.values(), r.values());
    #[inline(always)]
    fn run<T: SqlOrd>(lv: &[T], rv: &[T], f: impl Fn(T, T) -> bool) -> BooleanBuffer {
        BooleanBuffer::collect_bool(lv.len(), |i| f(lv[i], rv[i]))
    }
    let bits = match op {
        CmpOp::Eq => run(lv, rv, |a, b| a.cmp_op(CmpOp::Eq, b)),
        CmpOp::NotEq => run(lv, rv, |a, b| a.cmp_op(CmpOp::NotEq, b)),
        CmpOp::Lt => run(lv, rv, |a, b| a.cmp_op(CmpOp::Lt, b)),
        CmpOp::LtEq => run(lv, rv, |a, b| a.cmp_op(CmpOp::LtEq, b)),
        CmpOp::Gt => run(lv, rv, |a, b| a.cmp_op(CmpOp::Gt, b)),
        CmpOp::GtEq => run(lv, rv, |a, b| a.cmp_op(CmpOp::GtEq, b)),
    };
    let nulls = arrow::buffer::NullBuffer::union(l.nulls(), r.nulls());
    Some(BooleanArray::new(bits, nulls))
}

/// `left op right` for two float columns of the same type and length (DuckDB's float
/// semantics), or `None` for other types: integer and temporal columns compare the same
/// way in Arrow's kernel.
pub fn compare_arrays(left: &dyn Array, right: &dyn Array, op: CmpOp) -> Option<BooleanArray> {
    if left.data_type() != right.data_type() || left.len() != right.len() {
        return None;
    }
    match left.data_type() {
        DataType::Float32 => compare_pair::<Float32Type>(left, right, op),
        DataType::Float64 => compare_pair::<Float64Type>(left, right, op),
        _ => None,
    }
}

/// `column op constant` for primitive columns, or `None` when this kernel does not
/// handle the type (the caller falls back to Arrow's kernel). The constant must be a
/// non-NULL one-element array of the column's type.
pub fn compare_with_constant(
    column: &dyn Array,
    constant: &dyn Array,
    op: CmpOp,
) -> Option<BooleanArray> {
    if column.data_type() != constant.data_type() || constant.len() != 1 {
        return None;
    }
    match column.data_type() {
        DataType::Int8 => compare_typed::<Int8Type>(column, constant, op),
        DataType::Int16 => compare_typed::<Int16Type>(column, constant, op),
        DataType::Int32 => compare_typed::<Int32Type>(column, constant, op),
        DataType::Int64 => compare_typed::<Int64Type>(column, constant, op),
        DataType::UInt8 => compare_typed::<UInt8Type>(column, constant, op),
        DataType::UInt16 => compare_typed::<UInt16Type>(column, constant, op),
        DataType::UInt32 => compare_typed::<UInt32Type>(column, constant, op),
        DataType::UInt64 => compare_typed::<UInt64Type>(column, constant, op),
        DataType::Float32 => compare_typed::<Float32Type>(column, constant, op),
        DataType::Float64 => compare_typed::<Float64Type>(column, constant, op),
        DataType::Date32 => compare_typed::<Date32Type>(column, constant, op),
        DataType::Date64 => compare_typed::<Date64Type>(column, constant, op),
        DataType::Timestamp(unit, _) => match unit {
            TimeUnit::Second => compare_typed::<TimestampSecondType>(column, constant, op),
            TimeUnit::Millisecond => {
                compare_typed::<TimestampMillisecondType>(column, constant, op)
            }
            TimeUnit::Microsecond => {
                compare_typed::<TimestampMicrosecondType>(column, constant, op)
            }
            TimeUnit::Nanosecond => compare_typed::<TimestampNanosecondType>(column, constant, op),
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Float64Array, Int64Array, Scalar};
    use arrow::compute::kernels::cmp;

    use super::*;

    /// The kernel agrees with Arrow's on NaN-free data for every operator.
    #[test]
    fn agrees_with_arrow_on_ordinary_values() {
        let col: ArrayRef = Arc::new(Int64Array::from(
            (0..200)
                .map(|i| if i % 7 == 0 { None } else { Some(i % 13 - 6) })
                .collect::<Vec<_>>(),
        ));
        let k: ArrayRef = Arc::new(Int64Array::from(vec![2]));
        for (op, reference) in [
            (
                CmpOp::Eq,
                cmp::eq as fn(&dyn arrow::array::Datum, &dyn arrow::array::Datum) -> _,
            ),
            (CmpOp::NotEq, cmp::neq),
            (CmpOp::Lt, cmp::lt),
            (CmpOp::LtEq, cmp::lt_eq),
            (CmpOp::Gt, cmp::gt),
            (CmpOp::GtEq, cmp::gt_eq),
        ] {
            let ours = compare_with_constant(col.as_ref(), k.as_ref(), op).unwrap();
            let theirs = reference(&col, &Scalar::new(k.clone())).unwrap();
            assert_eq!(ours, theirs, "{op:?}");
        }
    }

    #[test]
    fn float_nan_and_signed_zero_follow_duckdb() {
        let col = Float64Array::from(vec![f64::NAN, -0.0, 1.0, f64::INFINITY]);
        let zero = Float64Array::from(vec![0.0]);
        let eq = compare_with_constant(&col, &zero, CmpOp::Eq).unwrap();
        assert_eq!(eq, BooleanArray::from(vec![false, true, false, false]));
        let gt = compare_with_constant(&col, &zero, CmpOp::Gt).unwrap();
        assert_eq!(gt, BooleanArray::from(vec![true, false, true, true]));
        let nan = Float64Array::from(vec![f64::NAN]);
        let eq_nan = compare_with_constant(&col, &nan, CmpOp::Eq).unwrap();
        assert_eq!(eq_nan, BooleanArray::from(vec![true, false, false, false]));
        let lt_nan = compare_with_constant(&col, &nan, CmpOp::Lt).unwrap();
        assert_eq!(lt_nan, BooleanArray::from(vec![false, true, true, true]));
        let ge_inf =
            compare_with_constant(&col, &Float64Array::from(vec![f64::INFINITY]), CmpOp::GtEq)
                .unwrap();
        assert_eq!(ge_inf, BooleanArray::from(vec![true, false, false, true]));
    }

    #[test]
    fn float_columns_compare_with_sql_semantics() {
        let a = Float64Array::from(vec![Some(-0.0), Some(f64::NAN), None, Some(1.0)]);
        let b = Float64Array::from(vec![Some(0.0), Some(f64::NAN), Some(1.0), Some(2.0)]);
        let eq = compare_arrays(&a, &b, CmpOp::Eq).unwrap();
        assert_eq!(
            eq,
            BooleanArray::from(vec![Some(true), Some(true), None, Some(false)])
        );
        let lt = compare_arrays(&a, &b, CmpOp::Lt).unwrap();
        assert_eq!(
            lt,
            BooleanArray::from(vec![Some(false), Some(false), None, Some(true)])
        );
    }

    #[test]
    fn unsupported_types_fall_back() {
        let col = arrow::array::StringArray::from(vec!["a"]);
        assert!(compare_with_constant(&col, &col, CmpOp::Eq).is_none());
    }
}
