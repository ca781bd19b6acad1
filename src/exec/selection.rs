//! A row selection prepared once per batch and applied to each column.
//!
//! The predicate's NULLs are folded into the mask once, the selected count is known up
//! front (so "all rows" and "no rows" skip filtering entirely), and Arrow's filter is
//! prepared once (index or slice iteration, chosen by selectivity) for every column.
//!
//! String columns without NULLs take a kernel of their own (`filter_strings`): one pass
//! over the selected rows that copies a string of up to 16 bytes with one fixed-size
//! move, where Arrow's filter calls `memcpy` per string. On S0 (`symbol`, 4-byte strings,
//! 60 % selected) that took the in-memory run from 147 M to 195 M rows/s (BENCHMARKS.md).
//! For primitives, hand-written branch-free compaction was 30 % slower than Arrow's
//! prepared filter at S0's selectivity (measured 2026-11-24), so they use Arrow's kernel.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, GenericStringArray, OffsetSizeTrait};
use arrow::buffer::{BooleanBuffer, Buffer, OffsetBuffer, ScalarBuffer};
use arrow::compute::{FilterBuilder, FilterPredicate};
use arrow::datatypes::DataType;

use crate::error::Result;

/// The rows of a batch to keep.
pub struct Selection {
    mask: BooleanBuffer,
    count: usize,
    /// Arrow's prepared filter (index or slice iteration chosen once per batch).
    prepared: Option<FilterPredicate>,
}

impl Selection {
    /// Prepares a selection from a predicate result (NULL counts as not selected).
    pub fn new(predicate: &BooleanArray) -> Selection {
        let mask = match predicate.nulls() {
            Some(n) if n.null_count() > 0 => predicate.values() & n.inner(),
            _ => predicate.values().clone(),
        };
        let count = mask.count_set_bits();
        Selection {
            mask,
            count,
            prepared: None,
        }
    }

    /// Rows selected.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Rows in the unfiltered batch.
    pub fn len(&self) -> usize {
        self.mask.len()
    }

    /// True when the batch had no rows.
    pub fn is_empty(&self) -> bool {
        self.mask.is_empty()
    }

    /// The selected rows of `column`.
    ///
    /// # Errors
    /// Arrow errors from the filter kernel.
    pub fn apply(&mut self, column: &ArrayRef) -> Result<ArrayRef> {
        if column.null_count() == 0 {
            match column.data_type() {
                DataType::Utf8 => return Ok(filter_strings(column.as_string::<i32>(), self)),
                DataType::LargeUtf8 => {
                    return Ok(filter_strings(column.as_string::<i64>(), self));
                }
                _ => {}
            }
        }
        let mask = &self.mask;
        let filter = self.prepared.get_or_insert_with(|| {
            FilterBuilder::new(&BooleanArray::new(mask.clone(), None))
                .optimize()
                .build()
        });
        Ok(filter.filter(column.as_ref())?)
    }
}

/// Strings a selection keeps may be copied with one fixed 16-byte move each (the output
/// has 16 bytes of slack) instead of a `memcpy` call sized to the string.
const SHORT_STRING: usize = 16;

/// The selected strings of a column without NULLs: offsets rebuilt and bytes copied in
/// one pass over the selected rows. Arrow's filter copies each string with a
/// length-sized `memcpy`, which for short strings (symbols, ids) costs more than the copy
/// itself; here a string of up to 16 bytes is one fixed-size move into a buffer with
/// 16 bytes of slack.
fn filter_strings<O: OffsetSizeTrait>(
    strings: &GenericStringArray<O>,
    selection: &Selection,
) -> ArrayRef {
    let offsets = strings.value_offsets();
    let values = strings.value_data();
    let first = offsets.first().map_or(0, |o| o.as_usize());
    let last = offsets.last().map_or(0, |o| o.as_usize());
    // the selected strings hold at most the bytes of all strings
    let mut bytes = vec![0u8; last - first + SHORT_STRING];
    let mut out_offsets: Vec<O> = Vec::with_capacity(selection.count + 1);
    out_offsets.push(O::usize_as(0));
    let mut at = 0usize;
    for i in selection.mask.set_indices() {
        let (start, end) = (offsets[i].as_usize(), offsets[i + 1].as_usize());
        let len = end - start;
        if len <= SHORT_STRING && start + SHORT_STRING <= values.len() {
            bytes[at..at + SHORT_STRING].copy_from_slice(&values[start..start + SHORT_STRING]);
        } else {
            bytes[at..at + len].copy_from_slice(&values[start..end]);
        }
        at += len;
        out_offsets.push(O::usize_as(at));
    }
    bytes.truncate(at);
    // SAFETY: the offsets start at 0 and grow by each copied string's length, so they are
    // monotonic and end at `bytes.len()`; every string is copied whole from a valid UTF-8
    // array, so each slice between two offsets is valid UTF-8.
    let array = unsafe {
        GenericStringArray::<O>::new_unchecked(
            OffsetBuffer::new_unchecked(ScalarBuffer::from(out_offsets)),
            Buffer::from_vec(bytes),
            None,
        )
    };
    Arc::new(array)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Float64Array, Int64Array, LargeStringArray, StringArray};
    use proptest::prelude::*;

    use super::*;

    fn reference(column: &ArrayRef, mask: &BooleanArray) -> ArrayRef {
        arrow::compute::filter(column.as_ref(), mask).unwrap()
    }

    proptest! {
        /// Strings of every length around the 16-byte fast path, multi-byte characters,
        /// both offset widths, sliced arrays: the same rows as Arrow's filter.
        #[test]
        fn strings_match_arrow_filter(
            rows in proptest::collection::vec(("[a-zé€😀]{0,24}", any::<bool>()), 0..200),
            skip in 0usize..3,
        ) {
            let skip = skip.min(rows.len());
            let texts: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
            let mask = BooleanArray::from(rows.iter().map(|r| r.1).collect::<Vec<_>>());
            let narrow: ArrayRef = Arc::new(StringArray::from(texts.clone()));
            let wide: ArrayRef = Arc::new(LargeStringArray::from(texts));
            for col in [narrow, wide] {
                let col = col.slice(skip, rows.len() - skip);
                let m = mask.slice(skip, rows.len() - skip);
                let ours = Selection::new(&m).apply(&col).unwrap();
                let theirs = reference(&col, &m);
                prop_assert_eq!(ours.as_ref(), theirs.as_ref());
                prop_assert_eq!(ours.data_type(), col.data_type());
            }
        }

        #[test]
        fn matches_arrow_filter(
            rows in proptest::collection::vec((any::<i64>(), any::<bool>(), "[a-z]{0,12}", proptest::option::of(any::<bool>())), 0..300),
            with_nulls in any::<bool>(),
        ) {
            let ints: ArrayRef = Arc::new(Int64Array::from(rows.iter().map(|r| r.0).collect::<Vec<_>>()));
            let floats: ArrayRef = Arc::new(Float64Array::from(
                rows.iter().enumerate().map(|(i, r)| if with_nulls && i % 5 == 0 { None } else { Some(r.0 as f64) }).collect::<Vec<_>>(),
            ));
            let strings: ArrayRef = Arc::new(StringArray::from(rows.iter().map(|r| r.2.clone()).collect::<Vec<_>>()));
            let mask = BooleanArray::from(rows.iter().map(|r| if with_nulls { r.3 } else { Some(r.1) }).collect::<Vec<_>>());
            let mut sel = Selection::new(&mask);
            for col in [&ints, &floats, &strings] {
                let (ours, theirs) = (sel.apply(col).unwrap(), reference(col, &mask));
                prop_assert_eq!(ours.as_ref(), theirs.as_ref());
            }
            // sliced inputs agree too (strings: offsets not starting at 0)
            if rows.len() > 3 {
                let m2 = mask.slice(1, rows.len() - 1);
                let sliced = strings.slice(1, rows.len() - 1);
                let mut sel2 = Selection::new(&m2);
                let (ours, theirs) = (sel2.apply(&sliced).unwrap(), reference(&sliced, &m2));
                prop_assert_eq!(ours.as_ref(), theirs.as_ref());
            }
            if rows.len() > 3 {
                let sliced = ints.slice(1, rows.len() - 1);
                let m2 = mask.slice(1, rows.len() - 1);
                let mut sel2 = Selection::new(&m2);
                let (ours, theirs) = (sel2.apply(&sliced).unwrap(), reference(&sliced, &m2));
                prop_assert_eq!(ours.as_ref(), theirs.as_ref());
            }
        }
    }
}
