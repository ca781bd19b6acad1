//! `SUM(x)` per group, exact for integers and decimals.
//!
//! | argument                         | state | result                                     |
//! |----------------------------------|-------|--------------------------------------------|
//! | TINYINT/SMALLINT/INTEGER (+ U…)  | i128  | `Int64` (BIGINT); `Execution` error if the sum leaves it |
//! | BIGINT, UBIGINT                  | i128  | `Decimal128(38, 0)`: the stand-in for DuckDB's HUGEINT |
//! | DECIMAL(p, s) (32/64/128-bit)    | i128  | `Decimal128(38, s)`                        |
//! | FLOAT, DOUBLE                    | f64   | `Float64` (plain summation, as DuckDB's `sum`; no Kahan) |
//!
//! Integer adds never wrap: every add is overflow-checked (`overflowing_add`, the flag
//! tested once per batch), and a result outside `DECIMAL(38)` / BIGINT is an
//! `Execution` error ("Overflow in SUM ..."), never a wrong value. (An `i128` fed with
//! 64-bit values cannot overflow before 2^64 rows; decimals can, and are caught.)
//! A group whose inputs are all NULL (or filtered out) gives NULL.

use std::any::Any;
use std::fmt::Debug;
use std::marker::PhantomData;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, ArrowPrimitiveType, AsArray, BooleanArray, Decimal128Array, Float64Array,
    Int64Array,
};
use arrow::datatypes::DataType;

use super::accumulator::{
    GroupsAccumulator, check_ids, check_merge, check_update, downcast_other, for_each_selected,
    grow, nulls_from_flags, selected_rows,
};
use super::native::{ToF64, ToI128};
use crate::error::{Error, Result};
use crate::expr::types::sql_type_name;

/// How one argument type is summed: its state type and the add.
pub(crate) trait SumKind: Send + 'static {
    /// The argument's Arrow type.
    type T: ArrowPrimitiveType;
    /// The running sum.
    type State: Copy + Default + Send + Debug + 'static;
    /// `state += v`; true if it overflowed.
    fn add(state: &mut Self::State, v: <Self::T as ArrowPrimitiveType>::Native) -> bool;
    /// `state += other`; true if it overflowed.
    fn add_state(state: &mut Self::State, other: Self::State) -> bool;
    /// The sum as `f64` (for AVG; decimals unscaled).
    fn to_f64(state: Self::State) -> f64;
    /// The result array of type `output` from the sums of the emitted groups.
    fn finish(
        sums: impl ExactSizeIterator<Item = Self::State>,
        nulls: Option<arrow::buffer::NullBuffer>,
        output: &DataType,
    ) -> Result<ArrayRef>;
}

/// Integer and decimal sums: exact, in `i128`.
#[derive(Debug)]
pub(crate) struct ExactSum<T>(PhantomData<fn() -> T>);

impl<T: ArrowPrimitiveType> SumKind for ExactSum<T>
where
    T::Native: ToI128,
{
    type T = T;
    type State = i128;

    #[inline(always)]
    fn add(state: &mut i128, v: T::Native) -> bool {
        let (sum, overflow) = state.overflowing_add(v.to_i128());
        *state = sum;
        overflow
    }

    fn add_state(state: &mut i128, other: i128) -> bool {
        let (sum, overflow) = state.overflowing_add(other);
        *state = sum;
        overflow
    }

    fn to_f64(state: i128) -> f64 {
        state as f64
    }

    fn finish(
        sums: impl ExactSizeIterator<Item = i128>,
        nulls: Option<arrow::buffer::NullBuffer>,
        output: &DataType,
    ) -> Result<ArrayRef> {
        let is_null = |i: usize| nulls.as_ref().is_some_and(|n| n.is_null(i));
        match output {
            DataType::Int64 => {
                let values = sums
                    .enumerate()
                    .map(|(i, s)| match i64::try_from(s) {
                        Ok(v) => Ok(v),
                        Err(_) if is_null(i) => Ok(0),
                        Err(_) => Err(overflow_error(s, output)),
                    })
                    .collect::<Result<Vec<i64>>>()?;
                Ok(Arc::new(Int64Array::new(values.into(), nulls)))
            }
            DataType::Decimal128(precision, scale) => {
                let max = 10i128.pow(*precision as u32) - 1;
                let values = sums
                    .enumerate()
                    .map(|(i, s)| {
                        if s.unsigned_abs() <= max as u128 || is_null(i) {
                            Ok(s)
                        } else {
                            Err(overflow_error(s, output))
                        }
                    })
                    .collect::<Result<Vec<i128>>>()?;
                let array = Decimal128Array::new(values.into(), nulls)
                    .with_precision_and_scale(*precision, *scale)?;
                Ok(Arc::new(array))
            }
            other => Err(Error::internal(format!("exact SUM cannot produce {other}"))),
        }
    }
}

fn overflow_error(sum: i128, output: &DataType) -> Error {
    Error::execution(format!(
        "Overflow in SUM: the sum {sum} is out of the range of {}",
        sql_type_name(output)
    ))
}

/// Float sums, in `f64`.
#[derive(Debug)]
pub(crate) struct FloatSum<T>(PhantomData<fn() -> T>);

impl<T: ArrowPrimitiveType> SumKind for FloatSum<T>
where
    T::Native: ToF64,
{
    type T = T;
    type State = f64;

    #[inline(always)]
    fn add(state: &mut f64, v: T::Native) -> bool {
        *state += v.to_f64();
        false
    }

    fn add_state(state: &mut f64, other: f64) -> bool {
        *state += other;
        false
    }

    fn to_f64(state: f64) -> f64 {
        state
    }

    fn finish(
        sums: impl ExactSizeIterator<Item = f64>,
        nulls: Option<arrow::buffer::NullBuffer>,
        _output: &DataType,
    ) -> Result<ArrayRef> {
        Ok(Arc::new(Float64Array::new(sums.collect(), nulls)))
    }
}

/// `SUM` for all groups, with the summation of `K`.
#[derive(Debug)]
pub(crate) struct SumAccumulator<K: SumKind> {
    input: DataType,
    output: DataType,
    sums: Vec<K::State>,
    /// Whether the group has summed at least one value (else its SUM is NULL).
    seen: Vec<bool>,
}

impl<K: SumKind> SumAccumulator<K> {
    pub(crate) fn new(input: DataType, output: DataType) -> Self {
        SumAccumulator {
            input,
            output,
            sums: Vec::new(),
            seen: Vec::new(),
        }
    }

    fn overflow(&self) -> Error {
        Error::execution(format!(
            "Overflow in SUM of {}: the sum is out of the 128-bit range",
            sql_type_name(&self.input)
        ))
    }
}

/// `values[0]` as the primitive array of `T`, or an `Internal` error.
pub(crate) fn primitive_arg<T: ArrowPrimitiveType>(
    values: &[ArrayRef],
) -> Result<&arrow::array::PrimitiveArray<T>> {
    values[0].as_primitive_opt::<T>().ok_or_else(|| {
        Error::internal(format!(
            "aggregate argument of type {} where {} was planned",
            values[0].data_type(),
            T::DATA_TYPE
        ))
    })
}

impl<K: SumKind> GroupsAccumulator for SumAccumulator<K> {
    fn update(
        &mut self,
        values: &[ArrayRef],
        group_ids: &[u32],
        filter: Option<&BooleanArray>,
        total_groups: usize,
    ) -> Result<()> {
        check_update(values, 1, group_ids, filter)?;
        let array = primitive_arg::<K::T>(values)?;
        grow(&mut self.sums, total_groups, K::State::default());
        grow(&mut self.seen, total_groups, false);
        let (sums, seen) = (&mut self.sums[..], &mut self.seen[..]);
        let mut overflow = false;
        match selected_rows(array.nulls(), filter) {
            None => {
                for (&g, &v) in group_ids.iter().zip(array.values().iter()) {
                    let g = g as usize;
                    overflow |= K::add(&mut sums[g], v);
                    seen[g] = true;
                }
            }
            Some(selection) => {
                let v = array.values();
                for_each_selected(&selection, |i| {
                    let g = group_ids[i] as usize;
                    overflow |= K::add(&mut sums[g], v[i]);
                    seen[g] = true;
                });
            }
        }
        if overflow {
            return Err(self.overflow());
        }
        Ok(())
    }

    fn evaluate(&self, ids: &[u32]) -> Result<ArrayRef> {
        check_ids(ids, self.sums.len())?;
        K::finish(
            ids.iter().map(|&id| self.sums[id as usize]),
            nulls_from_flags(ids, &self.seen),
            &self.output,
        )
    }

    fn merge(
        &mut self,
        other: &dyn GroupsAccumulator,
        other_ids: &[u32],
        ids: &[u32],
        total_groups: usize,
    ) -> Result<()> {
        let other = downcast_other::<Self>(other)?;
        check_merge(other_ids, other.sums.len(), ids, total_groups)?;
        grow(&mut self.sums, total_groups, K::State::default());
        grow(&mut self.seen, total_groups, false);
        let mut overflow = false;
        for (&o, &g) in other_ids.iter().zip(ids) {
            let (o, g) = (o as usize, g as usize);
            if other.seen[o] {
                overflow |= K::add_state(&mut self.sums[g], other.sums[o]);
                self.seen[g] = true;
            }
        }
        if overflow {
            return Err(self.overflow());
        }
        Ok(())
    }

    fn size_bytes(&self) -> usize {
        self.sums.capacity() * std::mem::size_of::<K::State>() + self.seen.capacity()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn clear(&mut self) {
        self.sums = Vec::new();
        self.seen = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, Decimal128Array, Float64Array, Int32Array};
    use arrow::datatypes::{Decimal128Type, Float64Type, Int32Type, Int64Type};
    use proptest::prelude::*;

    use super::*;
    use crate::aggregate::accumulator::tests::{case_strategy, int64_values};

    fn int64_sum() -> SumAccumulator<ExactSum<Int64Type>> {
        SumAccumulator::new(DataType::Int64, DataType::Decimal128(38, 0))
    }

    #[test]
    fn bigint_sums_widen_past_i64() {
        let mut acc = int64_sum();
        let v: ArrayRef = Arc::new(Int64Array::from(vec![i64::MAX, i64::MAX, i64::MIN, 5]));
        acc.update(&[v], &[0, 0, 1, 1], None, 3).unwrap();
        let r = acc.evaluate(&[0, 1, 2]).unwrap();
        let r = r.as_primitive::<Decimal128Type>();
        assert_eq!(r.data_type(), &DataType::Decimal128(38, 0));
        assert_eq!(r.value(0), 2 * i64::MAX as i128);
        assert_eq!(r.value(1), i64::MIN as i128 + 5);
        assert!(r.is_null(2));
    }

    #[test]
    fn integer_sums_to_bigint_error_when_out_of_range() {
        let mut acc = SumAccumulator::<ExactSum<Int32Type>>::new(DataType::Int32, DataType::Int64);
        let v: ArrayRef = Arc::new(Int32Array::from(vec![i32::MAX; 1000]));
        acc.update(&[v], &[0; 1000], None, 1).unwrap();
        assert_eq!(
            acc.evaluate(&[0])
                .unwrap()
                .as_primitive::<Int64Type>()
                .value(0),
            i32::MAX as i64 * 1000
        );
        // Push group 0 past i64::MAX through merges of itself.
        let mut big = SumAccumulator::<ExactSum<Int32Type>>::new(DataType::Int32, DataType::Int64);
        big.sums = vec![i64::MAX as i128];
        big.seen = vec![true];
        acc.merge(&big, &[0], &[0], 1).unwrap();
        let err = acc.evaluate(&[0]).unwrap_err();
        assert!(matches!(err, Error::Execution(_)), "{err}");
        assert!(err.to_string().contains("Overflow in SUM"), "{err}");
    }

    #[test]
    fn decimal_sums_are_exact_and_overflow_is_an_error() {
        let mut acc = SumAccumulator::<ExactSum<Decimal128Type>>::new(
            DataType::Decimal128(10, 2),
            DataType::Decimal128(38, 2),
        );
        let v = Decimal128Array::from(vec![Some(10_01), None, Some(-2_50), Some(1)])
            .with_precision_and_scale(10, 2)
            .unwrap();
        acc.update(&[Arc::new(v)], &[0, 0, 0, 1], None, 2).unwrap();
        let r = acc.evaluate(&[0, 1]).unwrap();
        assert_eq!(r.data_type(), &DataType::Decimal128(38, 2));
        assert_eq!(r.as_primitive::<Decimal128Type>().values(), &[7_51, 1]);

        // 10^38 leaves DECIMAL(38): an error at evaluate; 2 * 10^38 leaves i128: at update.
        let max = 10i128.pow(38) - 1;
        let mut acc = SumAccumulator::<ExactSum<Decimal128Type>>::new(
            DataType::Decimal128(38, 0),
            DataType::Decimal128(38, 0),
        );
        let v = Decimal128Array::from(vec![max, 1])
            .with_precision_and_scale(38, 0)
            .unwrap();
        acc.update(&[Arc::new(v.clone())], &[0, 0], None, 1)
            .unwrap();
        assert!(
            acc.evaluate(&[0])
                .unwrap_err()
                .to_string()
                .contains("Overflow in SUM")
        );
        let err = acc.update(&[Arc::new(v)], &[0, 0], None, 1).unwrap_err();
        assert!(matches!(err, Error::Execution(_)), "{err}");
    }

    #[test]
    fn float_sums_and_empty_input() {
        let mut acc =
            SumAccumulator::<FloatSum<Float64Type>>::new(DataType::Float64, DataType::Float64);
        acc.update(
            &[Arc::new(Float64Array::from(Vec::<f64>::new()))],
            &[],
            None,
            2,
        )
        .unwrap();
        let v: ArrayRef = Arc::new(Float64Array::from(vec![Some(0.5), None, Some(0.25)]));
        acc.update(&[v], &[1, 1, 1], None, 2).unwrap();
        let r = acc.evaluate(&[0, 1]).unwrap();
        let r = r.as_primitive::<Float64Type>();
        assert!(r.is_null(0));
        assert_eq!(r.value(1), 0.75);
        assert!(
            acc.update(&[Arc::new(Int32Array::from(vec![1]))], &[0], None, 1)
                .is_err()
        );
    }

    proptest! {
        #[test]
        fn matches_reference(case in case_strategy(int64_values(i64::MIN..i64::MAX))) {
            let v = case.values.as_primitive::<Int64Type>();
            let expected: Vec<Option<i128>> = case
                .rows_by_group()
                .values()
                .map(|rows| (!rows.is_empty()).then(|| rows.iter().map(|&i| v.value(i) as i128).sum()))
                .collect();
            let got = case.run(&mut int64_sum(), &[]);
            let got: Vec<Option<i128>> = got.as_primitive::<Decimal128Type>().iter().collect();
            prop_assert_eq!(&got, &expected);
            let merged = case.run_merged(&mut int64_sum(), &mut int64_sum(), &[]);
            let merged: Vec<Option<i128>> = merged.as_primitive::<Decimal128Type>().iter().collect();
            prop_assert_eq!(merged, expected);
        }
    }
}
