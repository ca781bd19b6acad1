//! `COUNT(DISTINCT x)` per group, exact; result `Int64`.
//!
//! ```text
//!  x ──GroupValues (x's type)──▶ value id v ─┐
//!  group id g ───────────────────────────────┴─▶ pair (g << 32 | v) in one KeyTable<u64>
//!                                                 new pair ⇒ count[g] += 1
//! ```
//! Values are interned once for all groups (by the same specialised tables as GROUP BY
//! keys, so strings and dictionaries are fast), and one table of (group, value) pairs
//! serves every group. Memory: each distinct value once (≈ its bytes + 20-40 bytes),
//! plus ≈ 24-40 bytes per distinct (group, value) pair, plus 8 bytes per group. Values of
//! filtered-out rows are interned too (they cost memory, not counts). NULLs are not
//! counted.

use std::any::Any;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Int64Array};
use arrow::datatypes::DataType;

use super::accumulator::{
    GroupsAccumulator, check_ids, check_merge, check_update, downcast_other, for_each_row, grow,
    reset, selected_rows,
};
use super::group_values::{GroupValues, new_group_values};
use super::hash_table::{EMPTY, HashSeeds, KeyTable, TableKey};
use super::scratch;
use crate::error::Result;

/// Exact distinct counts of all groups.
pub(crate) struct CountDistinctAccumulator {
    input: DataType,
    values: Box<dyn GroupValues>,
    /// (group, value id) pairs seen.
    pairs: KeyTable<u64>,
    /// The same pairs, in insertion order (for merge).
    pair_list: Vec<(u32, u32)>,
    counts: Vec<i64>,
}

impl std::fmt::Debug for CountDistinctAccumulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountDistinctAccumulator")
            .field("values", &self.values.len())
            .field("pairs", &self.pair_list.len())
            .finish()
    }
}

impl CountDistinctAccumulator {
    pub(crate) fn try_new(input: &DataType) -> Result<Self> {
        Ok(CountDistinctAccumulator {
            input: input.clone(),
            values: new_group_values(std::slice::from_ref(input))?,
            pairs: KeyTable::new(HashSeeds::random()),
            pair_list: Vec::new(),
            counts: Vec::new(),
        })
    }

    #[inline(always)]
    fn insert(
        pairs: &mut KeyTable<u64>,
        pair_list: &mut Vec<(u32, u32)>,
        counts: &mut [i64],
        g: u32,
        v: u32,
    ) {
        let key = ((g as u64) << 32) | v as u64;
        let next = pair_list.len() as u32;
        let (_, inserted) = pairs.find_or_insert(key, key.hash(pairs.seeds()), |_| true, next);
        if inserted {
            pair_list.push((g, v));
            counts[g as usize] += 1;
        }
    }
}

impl GroupsAccumulator for CountDistinctAccumulator {
    fn update(
        &mut self,
        values: &[ArrayRef],
        group_ids: &[u32],
        filter: Option<&BooleanArray>,
        total_groups: usize,
    ) -> Result<()> {
        check_update(values, 1, group_ids, filter)?;
        grow(&mut self.counts, total_groups, 0);
        let mut value_ids = scratch::take::<u32>();
        self.values.intern(&values[..1], &mut value_ids)?;
        let validity = values[0].logical_nulls();
        let selection = selected_rows(validity.as_ref(), filter);
        let (pairs, pair_list, counts) = (&mut self.pairs, &mut self.pair_list, &mut self.counts);
        for_each_row(group_ids.len(), selection.as_ref(), |i| {
            Self::insert(pairs, pair_list, counts, group_ids[i], value_ids[i]);
        });
        scratch::give(value_ids);
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
        // other's group → our group.
        let mut target = vec![EMPTY; other.counts.len()];
        for (&o, &g) in other_ids.iter().zip(ids) {
            target[o as usize] = g;
        }
        let (groups, other_values): (Vec<u32>, Vec<u32>) = other
            .pair_list
            .iter()
            .filter(|(og, _)| target[*og as usize] != EMPTY)
            .map(|&(og, v)| (target[og as usize], v))
            .unzip();
        if groups.is_empty() {
            return Ok(());
        }
        // Re-intern other's values into our value table (a dictionary input's values come
        // back plain: encode them again).
        let mut values = other.values.emit(&other_values)?;
        if values[0].data_type() != &self.input {
            values[0] = arrow::compute::cast(&values[0], &self.input)?;
        }
        let mut value_ids = scratch::take::<u32>();
        self.values.intern(&values, &mut value_ids)?;
        for (&g, &v) in groups.iter().zip(&value_ids) {
            Self::insert(&mut self.pairs, &mut self.pair_list, &mut self.counts, g, v);
        }
        scratch::give(value_ids);
        Ok(())
    }

    fn size_bytes(&self) -> usize {
        self.values.size_bytes()
            + self.pairs.size_bytes()
            + self.pair_list.capacity() * 8
            + self.counts.capacity() * 8
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn clear(&mut self) {
        self.values.clear();
        self.pairs.clear();
        reset(&mut self.pair_list);
        reset(&mut self.counts);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use arrow::array::{Array, AsArray, DictionaryArray, StringArray};
    use arrow::datatypes::{Int32Type, Int64Type};
    use proptest::prelude::*;

    use super::*;
    use crate::aggregate::accumulator::tests::{case_strategy, int64_values};

    #[test]
    fn strings_and_dictionaries() {
        let v: ArrayRef = Arc::new(StringArray::from(vec![
            Some("a"),
            Some("a"),
            None,
            Some("b"),
            Some("a"),
        ]));
        let mut acc = CountDistinctAccumulator::try_new(&DataType::Utf8).unwrap();
        acc.update(&[v], &[0, 0, 0, 0, 1], None, 3).unwrap();
        assert_eq!(
            acc.evaluate(&[0, 1, 2])
                .unwrap()
                .as_primitive::<Int64Type>()
                .values(),
            &[2, 1, 0]
        );
        let dt = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        let d: DictionaryArray<Int32Type> = vec![Some("x"), None, Some("y"), Some("x")]
            .into_iter()
            .collect();
        let mut acc = CountDistinctAccumulator::try_new(&dt).unwrap();
        let filter = BooleanArray::from(vec![true, true, false, true]);
        acc.update(&[Arc::new(d)], &[0, 0, 0, 0], Some(&filter), 1)
            .unwrap();
        assert_eq!(
            acc.evaluate(&[0])
                .unwrap()
                .as_primitive::<Int64Type>()
                .value(0),
            1
        );
        // Merging dictionary-valued state.
        let mut other = CountDistinctAccumulator::try_new(&dt).unwrap();
        let d: DictionaryArray<Int32Type> = vec![Some("z"), Some("x")].into_iter().collect();
        other.update(&[Arc::new(d)], &[0, 0], None, 1).unwrap();
        acc.merge(&other, &[0], &[0], 1).unwrap();
        assert_eq!(
            acc.evaluate(&[0])
                .unwrap()
                .as_primitive::<Int64Type>()
                .value(0),
            2
        );
    }

    proptest! {
        #[test]
        fn matches_reference(case in case_strategy(int64_values(-8..8))) {
            let v = case.values.as_primitive::<Int64Type>();
            let expected: Vec<i64> = case.rows_by_group().values()
                .map(|rows| rows.iter().map(|&i| v.value(i)).collect::<BTreeSet<_>>().len() as i64)
                .collect();
            let new = || CountDistinctAccumulator::try_new(&DataType::Int64).unwrap();
            let got = case.run(&mut new(), &[]);
            prop_assert_eq!(got.as_primitive::<Int64Type>().values().to_vec(), expected.clone());
            let merged = case.run_merged(&mut new(), &mut new(), &[]);
            prop_assert_eq!(merged.as_primitive::<Int64Type>().values().to_vec(), expected);
            prop_assert!(merged.null_count() == 0);
        }
    }
}
