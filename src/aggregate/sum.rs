//! `SUM(x)` per group, exact for integers and decimals.
//!
//! | argument                             | state       | result                          |
//! |--------------------------------------|-------------|---------------------------------|
//! | TINYINT/SMALLINT/INTEGER (+ U…)      | i64 + carry | `Int64` (BIGINT); `Execution` error if the sum leaves it |
//! | BIGINT                               | i64 + carry | `Decimal128(38, 0)`: the stand-in for DuckDB's HUGEINT |
//! | UBIGINT                              | i128        | `Decimal128(38, 0)`             |
//! | DECIMAL(p, s), 32/64-bit             | i64 + carry | `Decimal128(38, s)`             |
//! | DECIMAL(p, s), 128-bit               | i128        | `Decimal128(38, s)`             |
//! | FLOAT, DOUBLE                        | f64         | `Float64` (plain summation, as DuckDB's `sum`; no Kahan) |
//!
//! Integer adds never lose a bit: each add wraps and reports its carry, the rare carries
//! are counted per group, and the exact sum is `state + carry · 2^bits` (so a 64-bit
//! state holds any 128-bit sum, at the memory traffic of an `i64`). A result outside
//! `DECIMAL(38)` / BIGINT is an `Execution` error ("Overflow in SUM ..."), never a wrong
//! value. A group whose inputs are all NULL (or filtered out) gives NULL.

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
    AlignedMerge, GroupsAccumulator, check_ids, check_merge, check_update, downcast_other,
    for_each_selected, grow, nulls_from_flags, reset, selected_rows,
};
use super::native::{ToF64, ToI64, ToI128};
use crate::error::{Error, Result};
use crate::expr::types::sql_type_name;

/// How one argument type is summed: its state type and the add.
pub(crate) trait SumKind: Send + 'static {
    /// The argument's Arrow type.
    type T: ArrowPrimitiveType;
    /// The running sum (wrapping; the carries are kept beside it).
    type State: Copy + Default + Send + Debug + 'static;
    /// `state += v`, wrapping; the carry out: +1 / -1 if it wrapped up / down, else 0.
    fn add(state: &mut Self::State, v: <Self::T as ArrowPrimitiveType>::Native) -> i64;
    /// `state += other`, wrapping; the carry out.
    fn add_state(state: &mut Self::State, other: Self::State) -> i64;
    /// The sum (`state` with `carry`) as `f64`, for AVG (decimals unscaled).
    fn to_f64(state: Self::State, carry: i64) -> f64;
    /// The result array of type `output` from the (sum, carry) of the emitted groups.
    fn finish(
        sums: impl ExactSizeIterator<Item = (Self::State, i64)>,
        nulls: Option<arrow::buffer::NullBuffer>,
        output: &DataType,
    ) -> Result<ArrayRef>;
}

/// Sums of integers (and 32/64-bit decimals) of at most 64 bits: an `i64` state and a
/// carry count, exact to 128 bits.
#[derive(Debug)]
pub(crate) struct WideSum<T>(PhantomData<fn() -> T>);

impl<T: ArrowPrimitiveType> SumKind for WideSum<T>
where
    T::Native: ToI64,
{
    type T = T;
    type State = i64;

    #[inline(always)]
    fn add(state: &mut i64, v: T::Native) -> i64 {
        let v = v.to_i64_exact();
        let (sum, wrapped) = state.overflowing_add(v);
        *state = sum;
        if wrapped { v.signum() } else { 0 }
    }

    fn add_state(state: &mut i64, other: i64) -> i64 {
        let (sum, wrapped) = state.overflowing_add(other);
        *state = sum;
        if wrapped { other.signum() } else { 0 }
    }

    fn to_f64(state: i64, carry: i64) -> f64 {
        carry as f64 * 18_446_744_073_709_551_616.0 + state as f64
    }

    fn finish(
        sums: impl ExactSizeIterator<Item = (i64, i64)>,
        nulls: Option<arrow::buffer::NullBuffer>,
        output: &DataType,
    ) -> Result<ArrayRef> {
        // state + carry * 2^64; i128 holds it for any carry a real input can produce.
        let exact = sums.map(|(s, c)| {
            (c as i128)
                .checked_mul(1i128 << 64)
                .and_then(|high| high.checked_add(s as i128))
        });
        finish_exact(exact, nulls, output)
    }
}

/// Sums of 128-bit decimals and UBIGINT: an `i128` state; a carry means the sum left
/// the 128-bit range.
#[derive(Debug)]
pub(crate) struct ExactSum<T>(PhantomData<fn() -> T>);

impl<T: ArrowPrimitiveType> SumKind for ExactSum<T>
where
    T::Native: ToI128,
{
    type T = T;
    type State = i128;

    #[inline(always)]
    fn add(state: &mut i128, v: T::Native) -> i64 {
        let v = v.to_i128();
        let (sum, wrapped) = state.overflowing_add(v);
        *state = sum;
        if wrapped { v.signum() as i64 } else { 0 }
    }

    fn add_state(state: &mut i128, other: i128) -> i64 {
        let (sum, wrapped) = state.overflowing_add(other);
        *state = sum;
        if wrapped { other.signum() as i64 } else { 0 }
    }

    fn to_f64(state: i128, carry: i64) -> f64 {
        carry as f64 * 2f64.powi(128) + state as f64
    }

    fn finish(
        sums: impl ExactSizeIterator<Item = (i128, i64)>,
        nulls: Option<arrow::buffer::NullBuffer>,
        output: &DataType,
    ) -> Result<ArrayRef> {
        finish_exact(sums.map(|(s, c)| (c == 0).then_some(s)), nulls, output)
    }
}

/// The result array (`Int64` or `Decimal128`) of exact sums; `None` is a sum past
/// 128 bits. An out-of-range sum of a non-NULL group is an `Execution` error.
fn finish_exact(
    sums: impl ExactSizeIterator<Item = Option<i128>>,
    nulls: Option<arrow::buffer::NullBuffer>,
    output: &DataType,
) -> Result<ArrayRef> {
    let is_null = |i: usize| nulls.as_ref().is_some_and(|n| n.is_null(i));
    let overflow = |sum: Option<i128>| {
        Error::execution(match sum {
            Some(sum) => format!(
                "Overflow in SUM: the sum {sum} is out of the range of {}",
                sql_type_name(output)
            ),
            None => "Overflow in SUM: the sum is out of the 128-bit range".to_string(),
        })
    };
    match output {
        DataType::Int64 => {
            let values = sums
                .enumerate()
                .map(|(i, s)| match s.and_then(|s| i64::try_from(s).ok()) {
                    Some(v) => Ok(v),
                    None if is_null(i) => Ok(0),
                    None => Err(overflow(s)),
                })
                .collect::<Result<Vec<i64>>>()?;
            Ok(Arc::new(Int64Array::new(values.into(), nulls)))
        }
        DataType::Decimal128(precision, scale) => {
            let max = 10i128.pow(*precision as u32) - 1;
            let values = sums
                .enumerate()
                .map(
                    |(i, s)| match s.filter(|s| s.unsigned_abs() <= max as u128) {
                        Some(v) => Ok(v),
                        None if is_null(i) => Ok(0),
                        None => Err(overflow(s)),
                    },
                )
                .collect::<Result<Vec<i128>>>()?;
            let array = Decimal128Array::new(values.into(), nulls)
                .with_precision_and_scale(*precision, *scale)?;
            Ok(Arc::new(array))
        }
        other => Err(Error::internal(format!("exact SUM cannot produce {other}"))),
    }
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
    fn add(state: &mut f64, v: T::Native) -> i64 {
        *state += v.to_f64();
        0
    }

    fn add_state(state: &mut f64, other: f64) -> i64 {
        *state += other;
        0
    }

    fn to_f64(state: f64, _carry: i64) -> f64 {
        state
    }

    fn finish(
        sums: impl ExactSizeIterator<Item = (f64, i64)>,
        nulls: Option<arrow::buffer::NullBuffer>,
        _output: &DataType,
    ) -> Result<ArrayRef> {
        Ok(Arc::new(Float64Array::new(
            sums.map(|(s, _)| s).collect(),
            nulls,
        )))
    }
}

/// Per-group sums of kind `K` with their carries (shared by SUM and AVG).
#[derive(Debug)]
pub(crate) struct Sums<K: SumKind> {
    pub(crate) values: Vec<K::State>,
    /// Per group, the carries out of its state (empty until the first carry).
    carries: Vec<i64>,
    /// Carries of the current batch, applied after its loop (they are rare).
    pub(crate) pending: Vec<(u32, i64)>,
}

impl<K: SumKind> Sums<K> {
    pub(crate) fn new() -> Self {
        Sums {
            values: Vec::new(),
            carries: Vec::new(),
            pending: Vec::new(),
        }
    }

    pub(crate) fn grow_to(&mut self, n: usize) {
        grow(&mut self.values, n, K::State::default());
    }

    /// Applies the carries the last loop collected in `pending`.
    pub(crate) fn apply_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        grow(&mut self.carries, self.values.len(), 0);
        for (g, c) in self.pending.drain(..) {
            self.carries[g as usize] += c;
        }
    }

    /// Group `g`'s (state, carry).
    #[inline]
    pub(crate) fn get(&self, g: usize) -> (K::State, i64) {
        (self.values[g], self.carries.get(g).copied().unwrap_or(0))
    }

    /// Adds group `og` of `other` into group `g`.
    pub(crate) fn add_from(&mut self, g: usize, other: &Self, og: usize) {
        let (state, carry) = other.get(og);
        let c = K::add_state(&mut self.values[g], state) + carry;
        if c != 0 {
            self.pending.push((g as u32, c));
        }
    }

    /// Adds groups `0..n` of `other` into groups `dst.start..` (`dst` of length `n`),
    /// where `when(i)` says whether group `i` of `other` takes part. One contiguous loop.
    pub(crate) fn add_range(
        &mut self,
        dst: std::ops::Range<usize>,
        other: &Self,
        when: impl Fn(usize) -> bool,
    ) {
        let base = dst.start;
        let n = dst.len();
        let pending = &mut self.pending;
        for (i, (x, &y)) in self.values[dst]
            .iter_mut()
            .zip(&other.values[..n])
            .enumerate()
        {
            let c = if when(i) { K::add_state(x, y) } else { 0 };
            if c != 0 {
                pending.push(((base + i) as u32, c));
            }
        }
        let carries = &other.carries[..other.carries.len().min(n)];
        for (i, &c) in carries.iter().enumerate() {
            if c != 0 && when(i) {
                pending.push(((base + i) as u32, c));
            }
        }
        self.apply_pending();
    }

    pub(crate) fn size_bytes(&self) -> usize {
        self.values.capacity() * std::mem::size_of::<K::State>()
            + (self.carries.capacity() + 2 * self.pending.capacity()) * 8
    }

    pub(crate) fn clear(&mut self) {
        reset(&mut self.values);
        reset(&mut self.carries);
        reset(&mut self.pending);
    }
}

/// `SUM` for all groups, with the summation of `K`.
#[derive(Debug)]
pub(crate) struct SumAccumulator<K: SumKind> {
    output: DataType,
    sums: Sums<K>,
    /// Whether the group has summed at least one value (else its SUM is NULL).
    seen: Vec<bool>,
}

impl<K: SumKind> SumAccumulator<K> {
    pub(crate) fn new(output: DataType) -> Self {
        SumAccumulator {
            output,
            sums: Sums::new(),
            seen: Vec::new(),
        }
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
        self.sums.grow_to(total_groups);
        grow(&mut self.seen, total_groups, false);
        let (sums, seen) = (&mut self.sums.values[..], &mut self.seen[..]);
        let carries = &mut self.sums.pending;
        match selected_rows(array.nulls(), filter) {
            None => {
                for (&g, &v) in group_ids.iter().zip(array.values().iter()) {
                    let c = K::add(&mut sums[g as usize], v);
                    if c != 0 {
                        carries.push((g, c));
                    }
                    seen[g as usize] = true;
                }
            }
            Some(selection) => {
                let v = array.values();
                for_each_selected(&selection, |i| {
                    let g = group_ids[i];
                    let c = K::add(&mut sums[g as usize], v[i]);
                    if c != 0 {
                        carries.push((g, c));
                    }
                    seen[g as usize] = true;
                });
            }
        }
        self.sums.apply_pending();
        Ok(())
    }

    fn evaluate(&self, ids: &[u32]) -> Result<ArrayRef> {
        check_ids(ids, self.seen.len())?;
        K::finish(
            ids.iter().map(|&id| self.sums.get(id as usize)),
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
        check_merge(other_ids, other.seen.len(), ids, total_groups)?;
        self.sums.grow_to(total_groups);
        grow(&mut self.seen, total_groups, false);
        for (&o, &g) in other_ids.iter().zip(ids) {
            let (o, g) = (o as usize, g as usize);
            if other.seen[o] {
                self.sums.add_from(g, &other.sums, o);
                self.seen[g] = true;
            }
        }
        self.sums.apply_pending();
        Ok(())
    }

    fn merge_aligned(
        &mut self,
        other: &dyn GroupsAccumulator,
        ranges: AlignedMerge<'_>,
        total_groups: usize,
    ) -> Result<()> {
        let (other, dst) = ranges.target(other, |o: &Self| o.seen.len(), total_groups)?;
        self.sums.grow_to(total_groups);
        grow(&mut self.seen, total_groups, false);
        let other_seen = &other.seen[..dst.len()];
        self.sums
            .add_range(dst.clone(), &other.sums, |i| other_seen[i]);
        for (s, &o) in self.seen[dst].iter_mut().zip(other_seen) {
            *s |= o;
        }
        Ok(())
    }

    fn size_bytes(&self) -> usize {
        self.sums.size_bytes() + self.seen.capacity()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn clear(&mut self) {
        self.sums.clear();
        reset(&mut self.seen);
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, Decimal128Array, Float64Array, Int32Array};
    use arrow::datatypes::{Decimal128Type, Float64Type, Int32Type, Int64Type};
    use proptest::prelude::*;

    use super::*;
    use crate::aggregate::accumulator::tests::{case_strategy, int64_values};

    fn int64_sum() -> SumAccumulator<WideSum<Int64Type>> {
        SumAccumulator::new(DataType::Decimal128(38, 0))
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
        // Many wraps each way (carries ±1 per wrap), split across batches.
        let up: ArrayRef = Arc::new(Int64Array::from(vec![i64::MAX; 9]));
        let down: ArrayRef = Arc::new(Int64Array::from(vec![i64::MIN; 13]));
        acc.update(&[up], &[2; 9], None, 3).unwrap();
        acc.update(&[down], &[2; 13], None, 3).unwrap();
        let r = acc.evaluate(&[2]).unwrap();
        assert_eq!(
            r.as_primitive::<Decimal128Type>().value(0),
            9 * i64::MAX as i128 + 13 * i64::MIN as i128
        );
    }

    #[test]
    fn integer_sums_to_bigint_error_when_out_of_range() {
        let mut acc = SumAccumulator::<WideSum<Int32Type>>::new(DataType::Int64);
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
        let mut big = SumAccumulator::<WideSum<Int32Type>>::new(DataType::Int64);
        big.sums.values = vec![i64::MAX];
        big.seen = vec![true];
        acc.merge(&big, &[0], &[0], 1).unwrap();
        let err = acc.evaluate(&[0]).unwrap_err();
        assert!(matches!(err, Error::Execution(_)), "{err}");
        assert!(err.to_string().contains("Overflow in SUM"), "{err}");
    }

    #[test]
    fn decimal_sums_are_exact_and_overflow_is_an_error() {
        let mut acc = SumAccumulator::<ExactSum<Decimal128Type>>::new(DataType::Decimal128(38, 2));
        let v = Decimal128Array::from(vec![Some(10_01), None, Some(-2_50), Some(1)])
            .with_precision_and_scale(10, 2)
            .unwrap();
        acc.update(&[Arc::new(v)], &[0, 0, 0, 1], None, 2).unwrap();
        let r = acc.evaluate(&[0, 1]).unwrap();
        assert_eq!(r.data_type(), &DataType::Decimal128(38, 2));
        assert_eq!(r.as_primitive::<Decimal128Type>().values(), &[7_51, 1]);

        // 10^38 leaves DECIMAL(38): an error at evaluate; 2 * 10^38 leaves i128: at update.
        let max = 10i128.pow(38) - 1;
        let mut acc = SumAccumulator::<ExactSum<Decimal128Type>>::new(DataType::Decimal128(38, 0));
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
        // Past 2^127 the state wraps and counts a carry: still an error, never a value...
        acc.update(&[Arc::new(v.clone())], &[0, 0], None, 1)
            .unwrap();
        let err = acc.evaluate(&[0]).unwrap_err();
        assert!(matches!(err, Error::Execution(_)), "{err}");
        // ...and coming back into range gives the exact sum again.
        let neg = Decimal128Array::from(vec![-max, -1, -max, -1])
            .with_precision_and_scale(38, 0)
            .unwrap();
        acc.update(&[Arc::new(neg)], &[0, 0, 0, 0], None, 1)
            .unwrap();
        assert_eq!(
            acc.evaluate(&[0])
                .unwrap()
                .as_primitive::<Decimal128Type>()
                .value(0),
            0
        );
    }

    #[test]
    fn float_sums_and_empty_input() {
        let mut acc = SumAccumulator::<FloatSum<Float64Type>>::new(DataType::Float64);
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
