//! `MIN(x)` / `MAX(x)` per group, for every orderable type; the result has the
//! argument's type.
//!
//! - primitives (integers, floats, decimals, dates, times, timestamps, durations): one
//!   native per group, started at the order's far end (MIN from the largest value, MAX
//!   from the smallest), so the loop is a compare-and-store; floats order NaN above +inf
//!   and -0.0 equal to 0.0 (DuckDB), so `MAX` of a group holding a NaN is NaN;
//! - strings and binaries: one byte buffer per group (compared bytewise, which for UTF-8
//!   is code-point order), reused when a better value arrives;
//! - booleans: `MIN` = AND, `MAX` = OR.
//!
//! A group with no (non-NULL, selected) values gives NULL.

use std::any::Any;
use std::marker::PhantomData;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, ArrowPrimitiveType, AsArray, BooleanArray, PrimitiveArray};
use arrow::datatypes::DataType;

use super::accumulator::{
    AlignedMerge, GroupsAccumulator, check_ids, check_merge, check_update, downcast_other,
    for_each_row, grow, nulls_from_flags, reset, selected_rows,
};
use super::byte_arrays::{BytesView, build_bytes_array};
use super::native::OrdNative;
use super::sum::primitive_arg;
use crate::error::{Error, Result};

/// Which extreme an accumulator keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Extreme {
    /// `MIN`.
    Min,
    /// `MAX`.
    Max,
}

/// Compile-time [`Extreme`], so the inner loops carry no runtime branch on it.
pub(crate) trait ExtremeKind: Send + 'static {
    const EXTREME: Extreme;
}
/// `MIN`.
#[derive(Debug)]
pub(crate) struct MinKind;
/// `MAX`.
#[derive(Debug)]
pub(crate) struct MaxKind;
impl ExtremeKind for MinKind {
    const EXTREME: Extreme = Extreme::Min;
}
impl ExtremeKind for MaxKind {
    const EXTREME: Extreme = Extreme::Max;
}

/// Whether `new` should replace `current` (strictly better: ties keep the first).
#[inline(always)]
fn better<E: ExtremeKind, N: OrdNative>(new: N, current: N) -> bool {
    match E::EXTREME {
        Extreme::Min => N::is_lt(new, current),
        Extreme::Max => N::is_lt(current, new),
    }
}

/// MIN/MAX over a primitive type.
#[derive(Debug)]
pub(crate) struct PrimitiveMinMax<T: ArrowPrimitiveType, E: ExtremeKind> {
    data_type: DataType,
    values: Vec<T::Native>,
    seen: Vec<bool>,
    _extreme: PhantomData<fn() -> E>,
}

impl<T: ArrowPrimitiveType, E: ExtremeKind> PrimitiveMinMax<T, E>
where
    T::Native: OrdNative,
{
    pub(crate) fn new(data_type: DataType) -> Self {
        PrimitiveMinMax {
            data_type,
            values: Vec::new(),
            seen: Vec::new(),
            _extreme: PhantomData,
        }
    }

    /// The value every group starts from: the other end of the order.
    fn start() -> T::Native {
        match E::EXTREME {
            Extreme::Min => T::Native::largest(),
            Extreme::Max => T::Native::smallest(),
        }
    }

    fn grow_to(&mut self, n: usize) {
        grow(&mut self.values, n, Self::start());
        grow(&mut self.seen, n, false);
    }
}

impl<T: ArrowPrimitiveType, E: ExtremeKind> GroupsAccumulator for PrimitiveMinMax<T, E>
where
    T::Native: OrdNative,
{
    fn update(
        &mut self,
        values: &[ArrayRef],
        group_ids: &[u32],
        filter: Option<&BooleanArray>,
        total_groups: usize,
    ) -> Result<()> {
        check_update(values, 1, group_ids, filter)?;
        let array = primitive_arg::<T>(values)?;
        self.grow_to(total_groups);
        let (state, seen) = (&mut self.values[..], &mut self.seen[..]);
        match selected_rows(array.nulls(), filter) {
            None => {
                for (&g, &v) in group_ids.iter().zip(array.values().iter()) {
                    let g = g as usize;
                    if better::<E, _>(v, state[g]) {
                        state[g] = v;
                    }
                    seen[g] = true;
                }
            }
            Some(selection) => {
                let v = array.values();
                for_each_row(v.len(), Some(&selection), |i| {
                    let g = group_ids[i] as usize;
                    if better::<E, _>(v[i], state[g]) {
                        state[g] = v[i];
                    }
                    seen[g] = true;
                });
            }
        }
        Ok(())
    }

    fn evaluate(&self, ids: &[u32]) -> Result<ArrayRef> {
        check_ids(ids, self.values.len())?;
        let values: Vec<T::Native> = ids.iter().map(|&id| self.values[id as usize]).collect();
        let array = PrimitiveArray::<T>::new(values.into(), nulls_from_flags(ids, &self.seen))
            .with_data_type(self.data_type.clone());
        Ok(Arc::new(array))
    }

    fn merge(
        &mut self,
        other: &dyn GroupsAccumulator,
        other_ids: &[u32],
        ids: &[u32],
        total_groups: usize,
    ) -> Result<()> {
        let other = downcast_other::<Self>(other)?;
        check_merge(other_ids, other.values.len(), ids, total_groups)?;
        self.grow_to(total_groups);
        for (&o, &g) in other_ids.iter().zip(ids) {
            let (o, g) = (o as usize, g as usize);
            if other.seen[o] {
                if better::<E, _>(other.values[o], self.values[g]) {
                    self.values[g] = other.values[o];
                }
                self.seen[g] = true;
            }
        }
        Ok(())
    }

    fn merge_aligned(
        &mut self,
        other: &dyn GroupsAccumulator,
        ranges: AlignedMerge<'_>,
        total_groups: usize,
    ) -> Result<()> {
        let (other, dst) = ranges.target(other, |o: &Self| o.values.len(), total_groups)?;
        self.grow_to(total_groups);
        let n = dst.len();
        let pairs = self.values[dst.clone()]
            .iter_mut()
            .zip(&mut self.seen[dst])
            .zip(other.values[..n].iter().zip(&other.seen[..n]));
        for ((v, s), (&o, &os)) in pairs {
            if os && better::<E, _>(o, *v) {
                *v = o;
            }
            *s |= os;
        }
        Ok(())
    }

    fn size_bytes(&self) -> usize {
        self.values.capacity() * std::mem::size_of::<T::Native>() + self.seen.capacity()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn clear(&mut self) {
        reset(&mut self.values);
        reset(&mut self.seen);
    }
}

/// MIN/MAX over strings or binaries (any of the six layouts; the result has the
/// argument's layout).
#[derive(Debug)]
pub(crate) struct BytesMinMax<E: ExtremeKind> {
    data_type: DataType,
    values: Vec<Vec<u8>>,
    seen: Vec<bool>,
    _extreme: PhantomData<fn() -> E>,
}

impl<E: ExtremeKind> BytesMinMax<E> {
    pub(crate) fn new(data_type: DataType) -> Self {
        BytesMinMax {
            data_type,
            values: Vec::new(),
            seen: Vec::new(),
            _extreme: PhantomData,
        }
    }

    #[inline(always)]
    fn offer(values: &mut [Vec<u8>], seen: &mut [bool], g: usize, v: &[u8]) {
        let current = &mut values[g];
        let replace = !seen[g]
            || match E::EXTREME {
                Extreme::Min => v < current.as_slice(),
                Extreme::Max => v > current.as_slice(),
            };
        if replace {
            current.clear();
            current.extend_from_slice(v);
            seen[g] = true;
        }
    }
}

impl<E: ExtremeKind> GroupsAccumulator for BytesMinMax<E> {
    fn update(
        &mut self,
        values: &[ArrayRef],
        group_ids: &[u32],
        filter: Option<&BooleanArray>,
        total_groups: usize,
    ) -> Result<()> {
        check_update(values, 1, group_ids, filter)?;
        if values[0].data_type() != &self.data_type {
            return Err(Error::internal(format!(
                "MIN/MAX argument of type {} where {} was planned",
                values[0].data_type(),
                self.data_type
            )));
        }
        let view = BytesView::try_new(values[0].as_ref())?;
        grow(&mut self.values, total_groups, Vec::new());
        grow(&mut self.seen, total_groups, false);
        let (state, seen) = (&mut self.values[..], &mut self.seen[..]);
        let selection = selected_rows(values[0].nulls(), filter);
        for_each_row(group_ids.len(), selection.as_ref(), |i| {
            Self::offer(state, seen, group_ids[i] as usize, view.value(i));
        });
        Ok(())
    }

    fn evaluate(&self, ids: &[u32]) -> Result<ArrayRef> {
        check_ids(ids, self.values.len())?;
        build_bytes_array(
            &self.data_type,
            ids.iter().map(|&id| {
                let id = id as usize;
                self.seen[id].then(|| self.values[id].as_slice())
            }),
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
        check_merge(other_ids, other.values.len(), ids, total_groups)?;
        grow(&mut self.values, total_groups, Vec::new());
        grow(&mut self.seen, total_groups, false);
        for (&o, &g) in other_ids.iter().zip(ids) {
            if other.seen[o as usize] {
                Self::offer(
                    &mut self.values,
                    &mut self.seen,
                    g as usize,
                    &other.values[o as usize],
                );
            }
        }
        Ok(())
    }

    fn size_bytes(&self) -> usize {
        self.values.capacity() * std::mem::size_of::<Vec<u8>>()
            + self.values.iter().map(Vec::capacity).sum::<usize>()
            + self.seen.capacity()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn clear(&mut self) {
        reset(&mut self.values);
        reset(&mut self.seen);
    }
}

/// MIN (AND) / MAX (OR) over booleans.
#[derive(Debug)]
pub(crate) struct BooleanMinMax<E: ExtremeKind> {
    values: Vec<bool>,
    seen: Vec<bool>,
    _extreme: PhantomData<fn() -> E>,
}

impl<E: ExtremeKind> BooleanMinMax<E> {
    pub(crate) fn new() -> Self {
        BooleanMinMax {
            values: Vec::new(),
            seen: Vec::new(),
            _extreme: PhantomData,
        }
    }

    fn grow_to(&mut self, n: usize) {
        // MIN starts from true (AND), MAX from false (OR).
        grow(&mut self.values, n, E::EXTREME == Extreme::Min);
        grow(&mut self.seen, n, false);
    }

    #[inline(always)]
    fn fold(current: &mut bool, v: bool) {
        match E::EXTREME {
            Extreme::Min => *current &= v,
            Extreme::Max => *current |= v,
        }
    }
}

impl<E: ExtremeKind> GroupsAccumulator for BooleanMinMax<E> {
    fn update(
        &mut self,
        values: &[ArrayRef],
        group_ids: &[u32],
        filter: Option<&BooleanArray>,
        total_groups: usize,
    ) -> Result<()> {
        check_update(values, 1, group_ids, filter)?;
        let array = values[0]
            .as_boolean_opt()
            .ok_or_else(|| Error::internal("MIN/MAX of BOOLEAN given another type"))?;
        self.grow_to(total_groups);
        let (state, seen) = (&mut self.values[..], &mut self.seen[..]);
        let bits = array.values();
        for_each_row(
            group_ids.len(),
            selected_rows(array.nulls(), filter).as_ref(),
            |i| {
                let g = group_ids[i] as usize;
                Self::fold(&mut state[g], bits.value(i));
                seen[g] = true;
            },
        );
        Ok(())
    }

    fn evaluate(&self, ids: &[u32]) -> Result<ArrayRef> {
        check_ids(ids, self.values.len())?;
        let array: BooleanArray = ids
            .iter()
            .map(|&id| self.seen[id as usize].then_some(self.values[id as usize]))
            .collect();
        Ok(Arc::new(array))
    }

    fn merge(
        &mut self,
        other: &dyn GroupsAccumulator,
        other_ids: &[u32],
        ids: &[u32],
        total_groups: usize,
    ) -> Result<()> {
        let other = downcast_other::<Self>(other)?;
        check_merge(other_ids, other.values.len(), ids, total_groups)?;
        self.grow_to(total_groups);
        for (&o, &g) in other_ids.iter().zip(ids) {
            let (o, g) = (o as usize, g as usize);
            if other.seen[o] {
                Self::fold(&mut self.values[g], other.values[o]);
                self.seen[g] = true;
            }
        }
        Ok(())
    }

    fn size_bytes(&self) -> usize {
        self.values.capacity() + self.seen.capacity()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn clear(&mut self) {
        reset(&mut self.values);
        reset(&mut self.seen);
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Float64Array, Int64Array, StringArray, StringViewArray};
    use arrow::datatypes::{Float64Type, Int64Type};
    use proptest::prelude::*;

    use super::*;
    use crate::aggregate::accumulator::tests::{case_strategy, int64_values};

    #[test]
    fn float_min_max_order_nan_last_and_ignore_nulls() {
        let v: ArrayRef = Arc::new(Float64Array::from(vec![
            Some(1.0),
            Some(f64::NAN),
            Some(-3.0),
            None,
            Some(f64::NAN),
            Some(f64::NEG_INFINITY),
            None,
        ]));
        let groups = [0, 0, 0, 1, 1, 2, 3];
        let mut max = PrimitiveMinMax::<Float64Type, MaxKind>::new(DataType::Float64);
        let mut min = PrimitiveMinMax::<Float64Type, MinKind>::new(DataType::Float64);
        max.update(std::slice::from_ref(&v), &groups, None, 4)
            .unwrap();
        min.update(&[v], &groups, None, 4).unwrap();
        let max = max.evaluate(&[0, 1, 2, 3]).unwrap();
        let min = min.evaluate(&[0, 1, 2, 3]).unwrap();
        let (max, min) = (
            max.as_primitive::<Float64Type>(),
            min.as_primitive::<Float64Type>(),
        );
        assert!(max.value(0).is_nan() && max.value(1).is_nan());
        assert_eq!(max.value(2), f64::NEG_INFINITY);
        assert_eq!((min.value(0), min.value(2)), (-3.0, f64::NEG_INFINITY));
        assert!(min.value(1).is_nan(), "a group of only NaN has MIN NaN");
        assert!(max.is_null(3) && min.is_null(3));
    }

    #[test]
    fn string_min_max_keep_the_argument_layout() {
        for v in [
            Arc::new(StringArray::from(vec![
                Some("b"),
                None,
                Some("abc"),
                Some(""),
            ])) as ArrayRef,
            Arc::new(StringViewArray::from(vec![
                Some("b"),
                None,
                Some("abc"),
                Some(""),
            ])),
        ] {
            let t = v.data_type().clone();
            let mut min = BytesMinMax::<MinKind>::new(t.clone());
            let mut max = BytesMinMax::<MaxKind>::new(t.clone());
            min.update(std::slice::from_ref(&v), &[0, 0, 0, 1], None, 3)
                .unwrap();
            max.update(std::slice::from_ref(&v), &[0, 0, 0, 1], None, 3)
                .unwrap();
            let (mn, mx) = (
                min.evaluate(&[0, 1, 2]).unwrap(),
                max.evaluate(&[0, 1, 2]).unwrap(),
            );
            assert_eq!(mn.data_type(), &t);
            let mn = BytesView::try_new(mn.as_ref()).unwrap();
            let mx = BytesView::try_new(mx.as_ref()).unwrap();
            assert_eq!((mn.value(0), mx.value(0)), (&b"abc"[..], &b"b"[..]));
            assert_eq!((mn.value(1), mx.value(1)), (&b""[..], &b""[..]));
            let again = min.evaluate(&[2]).unwrap();
            assert!(again.is_null(0));
        }
    }

    #[test]
    fn boolean_min_is_and_max_is_or() {
        let v: ArrayRef = Arc::new(BooleanArray::from(vec![
            Some(true),
            Some(false),
            None,
            Some(true),
        ]));
        let mut min = BooleanMinMax::<MinKind>::new();
        let mut max = BooleanMinMax::<MaxKind>::new();
        min.update(std::slice::from_ref(&v), &[0, 0, 1, 2], None, 3)
            .unwrap();
        max.update(&[v], &[0, 0, 1, 2], None, 3).unwrap();
        assert_eq!(
            min.evaluate(&[0, 1, 2]).unwrap().as_boolean(),
            &BooleanArray::from(vec![Some(false), None, Some(true)])
        );
        assert_eq!(
            max.evaluate(&[0, 1, 2]).unwrap().as_boolean(),
            &BooleanArray::from(vec![Some(true), None, Some(true)])
        );
    }

    proptest! {
        #[test]
        fn matches_reference(case in case_strategy(int64_values(-50..50))) {
            let v = case.values.as_primitive::<Int64Type>();
            let groups = case.rows_by_group();
            let exp_min: Vec<Option<i64>> = groups.values().map(|r| r.iter().map(|&i| v.value(i)).min()).collect();
            let exp_max: Vec<Option<i64>> = groups.values().map(|r| r.iter().map(|&i| v.value(i)).max()).collect();
            let min = || PrimitiveMinMax::<Int64Type, MinKind>::new(DataType::Int64);
            let max = || PrimitiveMinMax::<Int64Type, MaxKind>::new(DataType::Int64);
            let got = case.run(&mut min(), &[]);
            prop_assert_eq!(got.as_primitive::<Int64Type>().iter().collect::<Vec<_>>(), exp_min.clone());
            let got = case.run_merged(&mut min(), &mut min(), &[]);
            prop_assert_eq!(got.as_primitive::<Int64Type>().iter().collect::<Vec<_>>(), exp_min);
            let got = case.run(&mut max(), &[]);
            prop_assert_eq!(got.as_primitive::<Int64Type>().iter().collect::<Vec<_>>(), exp_max.clone());
            // The same data as strings: MIN/MAX of the decimal renderings.
            let s: ArrayRef = Arc::new(StringArray::from_iter(v.iter().map(|x| x.map(|x| format!("{x:+04}")))));
            let sc = crate::aggregate::accumulator::tests::Case { values: s, ..case.clone() };
            let exp: Vec<Option<String>> = groups.values().map(|r| r.iter().map(|&i| format!("{:+04}", v.value(i))).max()).collect();
            let mut acc = BytesMinMax::<MaxKind>::new(DataType::Utf8);
            let got = sc.run_merged(&mut acc, &mut BytesMinMax::<MaxKind>::new(DataType::Utf8), &[]);
            let got: Vec<Option<String>> = got.as_string::<i32>().iter().map(|x| x.map(str::to_string)).collect();
            prop_assert_eq!(got, exp);
            let _ = Int64Array::from(vec![0]);
        }
    }
}
