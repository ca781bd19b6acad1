//! `FIRST_VALUE(x [, order])` / `LAST_VALUE(x [, order])` per group; the result has the
//! argument's type.
//!
//! Without an order column, first/last go by arrival (row order within a batch, batches
//! in the order given). With an order column (`values[1]`: `Int64` or any `Timestamp`,
//! typically the event time), FIRST is the row with the smallest order key (ties: the
//! earliest arrival) and LAST the row with the largest (ties: the latest arrival).
//!
//! NULL values are skipped (as Flink's FIRST_VALUE / LAST_VALUE and as every other
//! aggregate here; DuckDB's `first` would return a leading NULL), and so are rows whose
//! order key is NULL. A group with no such rows gives NULL.
//!
//! The chosen value of each group is kept in a [`ValueStore`]: a `Vec` of natives, of
//! byte buffers, or of booleans.

use std::any::Any;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, ArrowPrimitiveType, AsArray, BooleanArray, PrimitiveArray};
use arrow::buffer::{BooleanBuffer, NullBuffer};
use arrow::datatypes::DataType;

use super::accumulator::{
    GroupsAccumulator, check_ids, check_merge, check_update, downcast_other, for_each_row, grow,
    nulls_from_flags, reset, selected_rows,
};
use super::byte_arrays::{BytesView, build_bytes_array};
use crate::error::{Error, Result};

/// Per-group storage of one chosen value.
pub(crate) trait ValueStore: Send + 'static {
    /// A typed view of one batch's argument column.
    type View<'a>;
    /// The view of `array`, or an `Internal` error if its type is not the store's.
    fn view<'a>(&self, array: &'a ArrayRef) -> Result<Self::View<'a>>;
    /// Grows to `n` groups.
    fn grow_to(&mut self, n: usize);
    /// Group `g` takes row `row` of `view`.
    fn set(&mut self, g: usize, view: &Self::View<'_>, row: usize);
    /// Group `g` takes group `og` of `other`.
    fn set_from(&mut self, g: usize, other: &Self, og: usize);
    /// The values of groups `ids`, NULL where `nulls` says.
    fn build(&self, ids: &[u32], nulls: Option<NullBuffer>) -> Result<ArrayRef>;
    fn size_bytes(&self) -> usize;
    fn clear(&mut self);
}

/// Natives of a primitive type.
#[derive(Debug)]
pub(crate) struct PrimitiveStore<T: ArrowPrimitiveType> {
    data_type: DataType,
    values: Vec<T::Native>,
}

impl<T: ArrowPrimitiveType> PrimitiveStore<T> {
    pub(crate) fn new(data_type: DataType) -> Self {
        PrimitiveStore {
            data_type,
            values: Vec::new(),
        }
    }
}

impl<T: ArrowPrimitiveType> ValueStore for PrimitiveStore<T> {
    type View<'a> = &'a [T::Native];

    fn view<'a>(&self, array: &'a ArrayRef) -> Result<&'a [T::Native]> {
        Ok(super::sum::primitive_arg::<T>(std::slice::from_ref(array))?.values())
    }

    fn grow_to(&mut self, n: usize) {
        grow(&mut self.values, n, T::Native::default());
    }

    #[inline(always)]
    fn set(&mut self, g: usize, view: &&[T::Native], row: usize) {
        self.values[g] = view[row];
    }

    fn set_from(&mut self, g: usize, other: &Self, og: usize) {
        self.values[g] = other.values[og];
    }

    fn build(&self, ids: &[u32], nulls: Option<NullBuffer>) -> Result<ArrayRef> {
        let values: Vec<T::Native> = ids.iter().map(|&id| self.values[id as usize]).collect();
        Ok(Arc::new(
            PrimitiveArray::<T>::new(values.into(), nulls).with_data_type(self.data_type.clone()),
        ))
    }

    fn size_bytes(&self) -> usize {
        self.values.capacity() * std::mem::size_of::<T::Native>()
    }

    fn clear(&mut self) {
        reset(&mut self.values);
    }
}

/// Byte buffers (strings and binaries of any layout).
#[derive(Debug)]
pub(crate) struct BytesStore {
    data_type: DataType,
    values: Vec<Vec<u8>>,
}

impl BytesStore {
    pub(crate) fn new(data_type: DataType) -> Self {
        BytesStore {
            data_type,
            values: Vec::new(),
        }
    }
}

impl ValueStore for BytesStore {
    type View<'a> = BytesView<'a>;

    fn view<'a>(&self, array: &'a ArrayRef) -> Result<BytesView<'a>> {
        if array.data_type() != &self.data_type {
            return Err(Error::internal(format!(
                "argument of type {} where {} was planned",
                array.data_type(),
                self.data_type
            )));
        }
        BytesView::try_new(array.as_ref())
    }

    fn grow_to(&mut self, n: usize) {
        grow(&mut self.values, n, Vec::new());
    }

    #[inline]
    fn set(&mut self, g: usize, view: &BytesView<'_>, row: usize) {
        let v = &mut self.values[g];
        v.clear();
        v.extend_from_slice(view.value(row));
    }

    fn set_from(&mut self, g: usize, other: &Self, og: usize) {
        let v = &mut self.values[g];
        v.clear();
        v.extend_from_slice(&other.values[og]);
    }

    fn build(&self, ids: &[u32], nulls: Option<NullBuffer>) -> Result<ArrayRef> {
        build_bytes_array(
            &self.data_type,
            ids.iter().enumerate().map(|(i, &id)| {
                nulls
                    .as_ref()
                    .is_none_or(|n| n.is_valid(i))
                    .then(|| self.values[id as usize].as_slice())
            }),
        )
    }

    fn size_bytes(&self) -> usize {
        self.values.capacity() * std::mem::size_of::<Vec<u8>>()
            + self.values.iter().map(Vec::capacity).sum::<usize>()
    }

    fn clear(&mut self) {
        reset(&mut self.values);
    }
}

/// Booleans.
#[derive(Debug, Default)]
pub(crate) struct BooleanStore {
    values: Vec<bool>,
}

impl ValueStore for BooleanStore {
    type View<'a> = &'a BooleanBuffer;

    fn view<'a>(&self, array: &'a ArrayRef) -> Result<&'a BooleanBuffer> {
        Ok(array
            .as_boolean_opt()
            .ok_or_else(|| Error::internal("BOOLEAN argument expected"))?
            .values())
    }

    fn grow_to(&mut self, n: usize) {
        grow(&mut self.values, n, false);
    }

    #[inline(always)]
    fn set(&mut self, g: usize, view: &&BooleanBuffer, row: usize) {
        self.values[g] = view.value(row);
    }

    fn set_from(&mut self, g: usize, other: &Self, og: usize) {
        self.values[g] = other.values[og];
    }

    fn build(&self, ids: &[u32], nulls: Option<NullBuffer>) -> Result<ArrayRef> {
        let values = BooleanBuffer::from_iter(ids.iter().map(|&id| self.values[id as usize]));
        Ok(Arc::new(BooleanArray::new(values, nulls)))
    }

    fn size_bytes(&self) -> usize {
        self.values.capacity()
    }

    fn clear(&mut self) {
        reset(&mut self.values);
    }
}

/// Which end a [`FirstLastAccumulator`] keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pick {
    /// `FIRST_VALUE`.
    First,
    /// `LAST_VALUE`.
    Last,
}

/// Whether an order column type is accepted (`Int64` or any `Timestamp`).
pub(crate) fn is_order_type(t: &DataType) -> bool {
    matches!(t, DataType::Int64 | DataType::Timestamp(_, _))
}

/// The order column's values as `i64`, whatever its (accepted) type.
fn order_values(array: &ArrayRef) -> Result<&[i64]> {
    use arrow::datatypes::*;
    Ok(match array.data_type() {
        DataType::Int64 => array.as_primitive::<Int64Type>().values(),
        DataType::Timestamp(TimeUnit::Second, _) => {
            array.as_primitive::<TimestampSecondType>().values()
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            array.as_primitive::<TimestampMillisecondType>().values()
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            array.as_primitive::<TimestampMicrosecondType>().values()
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            array.as_primitive::<TimestampNanosecondType>().values()
        }
        other => {
            return Err(Error::internal(format!(
                "FIRST_VALUE/LAST_VALUE order column of type {other}"
            )));
        }
    })
}

/// `FIRST_VALUE` / `LAST_VALUE` for all groups.
#[derive(Debug)]
pub(crate) struct FirstLastAccumulator<S: ValueStore> {
    pick: Pick,
    /// Whether `values[1]` is an order column.
    ordered: bool,
    store: S,
    /// The chosen row's order key (unused without an order column).
    keys: Vec<i64>,
    seen: Vec<bool>,
}

impl<S: ValueStore> FirstLastAccumulator<S> {
    pub(crate) fn new(pick: Pick, ordered: bool, store: S) -> Self {
        FirstLastAccumulator {
            pick,
            ordered,
            store,
            keys: Vec::new(),
            seen: Vec::new(),
        }
    }

    fn grow_to(&mut self, n: usize) {
        self.store.grow_to(n);
        grow(&mut self.seen, n, false);
        if self.ordered {
            grow(&mut self.keys, n, 0);
        }
    }

    /// Folds the selected rows with `replace(seen, new key, current key)`.
    #[inline(always)]
    fn fold(
        &mut self,
        view: &S::View<'_>,
        group_ids: &[u32],
        keys: Option<&[i64]>,
        selection: Option<&BooleanBuffer>,
        replace: impl Fn(bool, i64, i64) -> bool,
    ) {
        let (store, seen, current) = (&mut self.store, &mut self.seen[..], &mut self.keys[..]);
        for_each_row(group_ids.len(), selection, |i| {
            let g = group_ids[i] as usize;
            let key = keys.map_or(0, |k| k[i]);
            let current_key = if keys.is_some() { current[g] } else { 0 };
            if replace(seen[g], key, current_key) {
                store.set(g, view, i);
                if keys.is_some() {
                    current[g] = key;
                }
                seen[g] = true;
            }
        });
    }
}

impl<S: ValueStore> GroupsAccumulator for FirstLastAccumulator<S> {
    fn update(
        &mut self,
        values: &[ArrayRef],
        group_ids: &[u32],
        filter: Option<&BooleanArray>,
        total_groups: usize,
    ) -> Result<()> {
        check_update(values, 1 + self.ordered as usize, group_ids, filter)?;
        self.grow_to(total_groups);
        let view = self.store.view(&values[0])?;
        let (keys, validity) = if self.ordered {
            let validity = NullBuffer::union(values[0].nulls(), values[1].nulls());
            (Some(order_values(&values[1])?), validity)
        } else {
            (None, values[0].nulls().cloned())
        };
        let selection = selected_rows(validity.as_ref(), filter);
        let selection = selection.as_ref();
        match (self.pick, keys.is_some()) {
            (Pick::First, false) => {
                self.fold(&view, group_ids, keys, selection, |seen, _, _| !seen)
            }
            (Pick::Last, false) => self.fold(&view, group_ids, keys, selection, |_, _, _| true),
            (Pick::First, true) => self.fold(&view, group_ids, keys, selection, |seen, k, cur| {
                !seen || k < cur
            }),
            (Pick::Last, true) => self.fold(&view, group_ids, keys, selection, |seen, k, cur| {
                !seen || k >= cur
            }),
        }
        Ok(())
    }

    fn evaluate(&self, ids: &[u32]) -> Result<ArrayRef> {
        check_ids(ids, self.seen.len())?;
        self.store.build(ids, nulls_from_flags(ids, &self.seen))
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
        self.grow_to(total_groups);
        for (&o, &g) in other_ids.iter().zip(ids) {
            let (o, g) = (o as usize, g as usize);
            if !other.seen[o] {
                continue;
            }
            // `other`'s rows arrive after ours.
            let replace = !self.seen[g]
                || match (self.pick, self.ordered) {
                    (Pick::First, false) => false,
                    (Pick::Last, false) => true,
                    (Pick::First, true) => other.keys[o] < self.keys[g],
                    (Pick::Last, true) => other.keys[o] >= self.keys[g],
                };
            if replace {
                self.store.set_from(g, &other.store, o);
                if self.ordered {
                    self.keys[g] = other.keys[o];
                }
                self.seen[g] = true;
            }
        }
        Ok(())
    }

    fn size_bytes(&self) -> usize {
        self.store.size_bytes() + self.keys.capacity() * 8 + self.seen.capacity()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn clear(&mut self) {
        self.store.clear();
        reset(&mut self.keys);
        reset(&mut self.seen);
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int64Array, StringArray, TimestampMillisecondArray};
    use arrow::datatypes::Int64Type;
    use proptest::prelude::*;

    use super::*;
    use crate::aggregate::accumulator::tests::{case_strategy, int64_values};

    fn acc(pick: Pick, ordered: bool) -> FirstLastAccumulator<PrimitiveStore<Int64Type>> {
        FirstLastAccumulator::new(pick, ordered, PrimitiveStore::new(DataType::Int64))
    }

    #[test]
    fn arrival_order_skips_nulls() {
        let v: ArrayRef = Arc::new(Int64Array::from(vec![
            None,
            Some(1),
            Some(2),
            None,
            Some(3),
        ]));
        for (pick, expected) in [
            (Pick::First, [Some(1), Some(3), None]),
            (Pick::Last, [Some(2), Some(3), None]),
        ] {
            let mut a = acc(pick, false);
            a.update(&[v.slice(0, 2)], &[0, 0], None, 1).unwrap();
            a.update(&[v.slice(2, 3)], &[0, 2, 1], None, 3).unwrap();
            let r = a.evaluate(&[0, 1, 2]).unwrap();
            assert_eq!(
                r.as_primitive::<Int64Type>().iter().collect::<Vec<_>>(),
                expected
            );
        }
    }

    #[test]
    fn order_column_decides_with_ties_by_arrival() {
        let v: ArrayRef = Arc::new(StringArray::from(vec!["a", "b", "c", "d", "e"]));
        let ts: ArrayRef = Arc::new(TimestampMillisecondArray::from(vec![
            Some(5),
            Some(3),
            Some(3),
            None,
            Some(9),
        ]));
        let groups = [0, 0, 0, 0, 1];
        let mut first =
            FirstLastAccumulator::new(Pick::First, true, BytesStore::new(DataType::Utf8));
        let mut last = FirstLastAccumulator::new(Pick::Last, true, BytesStore::new(DataType::Utf8));
        first
            .update(&[v.clone(), ts.clone()], &groups, None, 2)
            .unwrap();
        last.update(&[v.slice(0, 3), ts.slice(0, 3)], &groups[..3], None, 1)
            .unwrap();
        last.update(&[v.slice(3, 2), ts.slice(3, 2)], &groups[3..], None, 2)
            .unwrap();
        assert_eq!(
            first.evaluate(&[0, 1]).unwrap().as_string::<i32>(),
            &StringArray::from(vec!["b", "e"])
        );
        // Group 0: largest key 5 is "a" (the NULL-key row "d" is skipped).
        assert_eq!(
            last.evaluate(&[0, 1]).unwrap().as_string::<i32>(),
            &StringArray::from(vec!["a", "e"])
        );
        // A tie at the largest key: the later arrival wins.
        let tie: ArrayRef = Arc::new(TimestampMillisecondArray::from(vec![5]));
        last.update(
            &[Arc::new(StringArray::from(vec!["z"])), tie],
            &[0],
            None,
            2,
        )
        .unwrap();
        assert_eq!(
            last.evaluate(&[0]).unwrap().as_string::<i32>(),
            &StringArray::from(vec!["z"])
        );
    }

    #[test]
    fn booleans_and_merge_puts_other_after_self() {
        let mut a = FirstLastAccumulator::new(Pick::Last, false, BooleanStore::default());
        let mut b = FirstLastAccumulator::new(Pick::Last, false, BooleanStore::default());
        a.update(&[Arc::new(BooleanArray::from(vec![true]))], &[0], None, 1)
            .unwrap();
        b.update(&[Arc::new(BooleanArray::from(vec![false]))], &[0], None, 1)
            .unwrap();
        a.merge(&b, &[0], &[0], 2).unwrap();
        assert_eq!(
            a.evaluate(&[0, 1]).unwrap().as_boolean(),
            &BooleanArray::from(vec![Some(false), None])
        );
    }

    proptest! {
        #[test]
        fn matches_reference(case in case_strategy(int64_values(-50..50)), ordered in any::<bool>()) {
            let v = case.values.as_primitive::<Int64Type>();
            // Order keys: a few distinct values so that ties happen.
            let order: Vec<i64> = (0..v.len() as i64).map(|i| (i * 7) % 5).collect();
            let order_col: ArrayRef = Arc::new(Int64Array::from(order.clone()));
            let extra = if ordered { vec![order_col] } else { vec![] };
            for pick in [Pick::First, Pick::Last] {
                let expected: Vec<Option<i64>> = case.rows_by_group().values().map(|rows| {
                    let key = |i: usize| if ordered { order[i] } else { 0 };
                    let chosen = match pick {
                        // smallest key, earliest row / largest key, latest row
                        Pick::First => rows.iter().min_by_key(|&&i| (key(i), i)),
                        Pick::Last => rows.iter().max_by_key(|&&i| (key(i), i)),
                    };
                    chosen.map(|&i| v.value(i))
                }).collect();
                let got = case.run(&mut acc(pick, ordered), &extra);
                prop_assert_eq!(got.as_primitive::<Int64Type>().iter().collect::<Vec<_>>(), expected.clone());
                let merged = case.run_merged(&mut acc(pick, ordered), &mut acc(pick, ordered), &extra);
                prop_assert_eq!(merged.as_primitive::<Int64Type>().iter().collect::<Vec<_>>(), expected);
            }
        }
    }
}
