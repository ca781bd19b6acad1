//! `AVG(x)` per group: a sum (exact for integers and decimals, `f64` for floats, as in
//! [`super::sum`]) and a count. Result `Float64` (DuckDB DOUBLE, for decimals too):
//! `sum / 10^scale / count`; NULL for a group with no values.

use std::any::Any;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, Float64Array};
use arrow::datatypes::DataType;

use super::accumulator::{
    AlignedMerge, GroupsAccumulator, check_ids, check_merge, check_update, downcast_other,
    for_each_selected, grow, reset, selected_rows,
};
use super::sum::{SumKind, Sums, primitive_arg};
use crate::error::Result;

/// `AVG` for all groups, summing with `K`.
#[derive(Debug)]
pub(crate) struct AvgAccumulator<K: SumKind> {
    /// 10^scale for decimals, else 1.
    divisor: f64,
    sums: Sums<K>,
    counts: Vec<i64>,
}

impl<K: SumKind> AvgAccumulator<K> {
    pub(crate) fn new(input: DataType) -> Self {
        let scale = match input {
            DataType::Decimal32(_, s) | DataType::Decimal64(_, s) | DataType::Decimal128(_, s) => {
                s as i32
            }
            _ => 0,
        };
        AvgAccumulator {
            divisor: 10f64.powi(scale),
            sums: Sums::new(),
            counts: Vec::new(),
        }
    }
}

impl<K: SumKind> GroupsAccumulator for AvgAccumulator<K> {
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
        grow(&mut self.counts, total_groups, 0);
        let (sums, counts) = (&mut self.sums.values[..], &mut self.counts[..]);
        let carries = &mut self.sums.pending;
        match selected_rows(array.nulls(), filter) {
            None => {
                for (&g, &v) in group_ids.iter().zip(array.values().iter()) {
                    let c = K::add(&mut sums[g as usize], v);
                    if c != 0 {
                        carries.push((g, c));
                    }
                    counts[g as usize] += 1;
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
                    counts[g as usize] += 1;
                });
            }
        }
        self.sums.apply_pending();
        Ok(())
    }

    fn evaluate(&self, ids: &[u32]) -> Result<ArrayRef> {
        check_ids(ids, self.counts.len())?;
        let array: Float64Array = ids
            .iter()
            .map(|&id| {
                let (sum, carry) = self.sums.get(id as usize);
                let count = self.counts[id as usize];
                (count > 0).then(|| K::to_f64(sum, carry) / self.divisor / count as f64)
            })
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
        check_merge(other_ids, other.counts.len(), ids, total_groups)?;
        self.sums.grow_to(total_groups);
        grow(&mut self.counts, total_groups, 0);
        for (&o, &g) in other_ids.iter().zip(ids) {
            let (o, g) = (o as usize, g as usize);
            self.sums.add_from(g, &other.sums, o);
            self.counts[g] += other.counts[o];
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
        let (other, dst) = ranges.target(other, |o: &Self| o.counts.len(), total_groups)?;
        self.sums.grow_to(total_groups);
        grow(&mut self.counts, total_groups, 0);
        self.sums.add_range(dst.clone(), &other.sums, |_| true);
        for (c, &o) in self.counts[dst].iter_mut().zip(&other.counts) {
            *c += o;
        }
        Ok(())
    }

    fn size_bytes(&self) -> usize {
        self.sums.size_bytes() + self.counts.capacity() * 8
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn clear(&mut self) {
        self.sums.clear();
        reset(&mut self.counts);
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, AsArray, Decimal128Array, Int64Array};
    use arrow::datatypes::{Decimal128Type, Float64Type, Int64Type};
    use proptest::prelude::*;

    use super::*;
    use crate::aggregate::accumulator::tests::{case_strategy, int64_values};
    use crate::aggregate::sum::{ExactSum, FloatSum, WideSum};

    #[test]
    fn averages_ints_floats_and_decimals() {
        let mut acc = AvgAccumulator::<WideSum<Int64Type>>::new(DataType::Int64);
        let v: ArrayRef = Arc::new(Int64Array::from(vec![
            Some(i64::MAX),
            Some(i64::MAX),
            None,
            Some(1),
        ]));
        acc.update(&[v], &[0, 0, 1, 2], None, 4).unwrap();
        let r = acc.evaluate(&[0, 1, 2, 3]).unwrap();
        let r = r.as_primitive::<Float64Type>();
        assert_eq!(r.value(0), i64::MAX as f64);
        assert!(r.is_null(1) && r.is_null(3));
        assert_eq!(r.value(2), 1.0);

        let mut acc = AvgAccumulator::<ExactSum<Decimal128Type>>::new(DataType::Decimal128(10, 2));
        let v = Decimal128Array::from(vec![1_00, 2_01])
            .with_precision_and_scale(10, 2)
            .unwrap();
        acc.update(&[Arc::new(v)], &[0, 0], None, 1).unwrap();
        assert_eq!(
            acc.evaluate(&[0])
                .unwrap()
                .as_primitive::<Float64Type>()
                .value(0),
            1.505
        );

        let mut acc = AvgAccumulator::<FloatSum<Float64Type>>::new(DataType::Float64);
        let v: ArrayRef = Arc::new(arrow::array::Float64Array::from(vec![1.0, 2.0, 4.0]));
        let filter = BooleanArray::from(vec![true, false, true]);
        acc.update(&[v], &[0, 0, 0], Some(&filter), 1).unwrap();
        assert_eq!(
            acc.evaluate(&[0])
                .unwrap()
                .as_primitive::<Float64Type>()
                .value(0),
            2.5
        );
    }

    proptest! {
        #[test]
        fn matches_reference(case in case_strategy(int64_values(-1000..1000))) {
            let v = case.values.as_primitive::<Int64Type>();
            let expected: Vec<Option<f64>> = case
                .rows_by_group()
                .values()
                .map(|rows| (!rows.is_empty()).then(|| rows.iter().map(|&i| v.value(i) as f64).sum::<f64>() / rows.len() as f64))
                .collect();
            let new = || AvgAccumulator::<WideSum<Int64Type>>::new(DataType::Int64);
            let got = case.run(&mut new(), &[]);
            prop_assert_eq!(got.as_primitive::<Float64Type>().iter().collect::<Vec<_>>(), expected.clone());
            let merged = case.run_merged(&mut new(), &mut new(), &[]);
            prop_assert_eq!(merged.as_primitive::<Float64Type>().iter().collect::<Vec<_>>(), expected);
        }
    }
}
