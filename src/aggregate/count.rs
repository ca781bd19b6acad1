//! `COUNT(*)` and `COUNT(x)`: one `i64` per group. Result `Int64` (DuckDB BIGINT); a
//! group with no (non-NULL, selected) rows counts 0.

use std::any::Any;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Int64Array};

use super::accumulator::{
    AlignedMerge, GroupsAccumulator, check_ids, check_merge, check_update, downcast_other,
    for_each_selected, grow, reset, selected_rows,
};
use crate::error::Result;

/// What a count counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CountMode {
    /// `COUNT(*)`: every (selected) row; no argument columns.
    Rows,
    /// `COUNT(x)`: rows where `x` is not NULL.
    NonNull,
}

/// `COUNT(*)` / `COUNT(x)` for all groups.
#[derive(Debug)]
pub(crate) struct CountAccumulator {
    mode: CountMode,
    counts: Vec<i64>,
}

impl CountAccumulator {
    pub(crate) fn new(mode: CountMode) -> Self {
        CountAccumulator {
            mode,
            counts: Vec::new(),
        }
    }
}

impl GroupsAccumulator for CountAccumulator {
    fn update(
        &mut self,
        values: &[ArrayRef],
        group_ids: &[u32],
        filter: Option<&BooleanArray>,
        total_groups: usize,
    ) -> Result<()> {
        let args = match self.mode {
            CountMode::Rows => 0,
            CountMode::NonNull => 1,
        };
        check_update(values, args, group_ids, filter)?;
        grow(&mut self.counts, total_groups, 0);
        let validity = values.first().and_then(|v| v.logical_nulls());
        let counts = &mut self.counts[..];
        match selected_rows(validity.as_ref(), filter) {
            None => {
                for &g in group_ids {
                    counts[g as usize] += 1;
                }
            }
            Some(selection) => {
                for_each_selected(&selection, |i| counts[group_ids[i] as usize] += 1);
            }
        }
        Ok(())
    }

    fn evaluate(&self, ids: &[u32]) -> Result<ArrayRef> {
        check_ids(ids, self.counts.len())?;
        Ok(Arc::new(Int64Array::from_iter_values(
            ids.iter().map(|&id| self.counts[id as usize]),
        )))
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
        grow(&mut self.counts, total_groups, 0);
        for (&o, &g) in other_ids.iter().zip(ids) {
            self.counts[g as usize] += other.counts[o as usize];
        }
        Ok(())
    }

    fn merge_aligned(
        &mut self,
        other: &dyn GroupsAccumulator,
        ranges: AlignedMerge<'_>,
        total_groups: usize,
    ) -> Result<()> {
        let (other, dst) = ranges.target(other, |o: &Self| o.counts.len(), total_groups)?;
        grow(&mut self.counts, total_groups, 0);
        for (c, &o) in self.counts[dst].iter_mut().zip(&other.counts) {
            *c += o;
        }
        Ok(())
    }

    fn size_bytes(&self) -> usize {
        self.counts.capacity() * 8
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn clear(&mut self) {
        reset(&mut self.counts);
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::Int64Type;
    use proptest::prelude::*;

    use super::*;
    use crate::aggregate::accumulator::tests::{case_strategy, int64_values};

    #[test]
    fn counts_rows_and_non_nulls_with_filter() {
        let values: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), None, Some(3), None]));
        let filter = BooleanArray::from(vec![Some(true), Some(true), None, Some(true)]);
        let groups = [0, 0, 1, 2];
        let mut star = CountAccumulator::new(CountMode::Rows);
        star.update(&[], &groups, None, 3).unwrap();
        star.update(&[], &groups[..2], Some(&filter.slice(0, 2)), 3)
            .unwrap();
        let r = star.evaluate(&[0, 1, 2]).unwrap();
        assert_eq!(r.as_primitive::<Int64Type>().values(), &[4, 1, 1]);
        let mut count = CountAccumulator::new(CountMode::NonNull);
        count.update(&[values], &groups, Some(&filter), 4).unwrap();
        let r = count.evaluate(&[3, 2, 1, 0]).unwrap();
        assert_eq!(r.as_primitive::<Int64Type>().values(), &[0, 0, 0, 1]);
        assert_eq!(r.null_count(), 0);
        assert!(count.evaluate(&[4]).is_err());
        assert!(count.update(&[], &groups, None, 3).is_err());
    }

    proptest! {
        #[test]
        fn matches_reference(case in case_strategy(int64_values(-5..5))) {
            let expected: Vec<i64> = case.rows_by_group().values().map(|r| r.len() as i64).collect();
            let got = case.run(&mut CountAccumulator::new(CountMode::NonNull), &[]);
            prop_assert_eq!(got.as_primitive::<Int64Type>().values().to_vec(), expected.clone());
            let merged = case.run_merged(
                &mut CountAccumulator::new(CountMode::NonNull),
                &mut CountAccumulator::new(CountMode::NonNull),
                &[],
            );
            prop_assert_eq!(merged.as_primitive::<Int64Type>().values().to_vec(), expected);
        }
    }
}
