//! A row selection prepared once per batch and applied to each column.
//!
//! The predicate's NULLs are folded into the mask once, the selected count is known up
//! front (so "all rows" and "no rows" skip filtering entirely), and columns without
//! NULLs take kernels of their own:
//!
//! - strings (`filter_strings`): one pass over the selected rows that copies a string of
//!   up to 16 bytes with one fixed-size move, where Arrow's filter calls `memcpy` per
//!   string. On S0 (`symbol`, 4-byte strings, 60 % selected) that took the in-memory run
//!   from 147 M to 195 M rows/s on session 5's host (BENCHMARKS.md).
//! - primitives (`compact`): branch-free compaction over 64-row mask words, with no row
//!   index list. S0 in memory, one partition: 128–132 M → 144–145 M rows/s (session 7).
//!   On CPUs with AVX-512F, 4- and 8-byte values are compacted 16 or 8 rows per
//!   instruction (module `avx512`): S0 221–223 M → 243–249 M rows/s (session 10, on an
//!   AMD EPYC host).
//!
//! Other columns (NULLs, booleans, nested types) go through Arrow's filter, prepared once
//! per selection (index or slice iteration, chosen by selectivity).

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, ArrowPrimitiveType, AsArray, BooleanArray, GenericStringArray,
    OffsetSizeTrait, PrimitiveArray, downcast_primitive_array,
};
use arrow::buffer::{BooleanBuffer, Buffer, OffsetBuffer, ScalarBuffer};
use arrow::compute::{FilterBuilder, FilterPredicate};
use arrow::datatypes::{ArrowNativeType, DataType};

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
            if let Some(filtered) = filter_primitive(column.as_ref(), self) {
                return Ok(filtered);
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

/// The selected values of a primitive column without NULLs, or `None` for other
/// columns (Arrow's filter takes those).
fn filter_primitive(column: &dyn Array, selection: &Selection) -> Option<ArrayRef> {
    downcast_primitive_array!(
        column => filter_values(column, selection),
        _ => None
    )
}

fn filter_values<T: ArrowPrimitiveType>(
    column: &PrimitiveArray<T>,
    selection: &Selection,
) -> Option<ArrayRef> {
    let values = compact(column.values(), selection)?;
    let array = PrimitiveArray::<T>::new(ScalarBuffer::from(values), None)
        .with_data_type(column.data_type().clone());
    Some(Arc::new(array))
}

/// The values of `values` at the selected rows, or `None` when the mask and `values`
/// disagree in length (never, for a selection made for the batch). With AVX-512 (4- and
/// 8-byte values) each instruction compresses 16 or 8 rows ([`avx512`]); otherwise
/// [`compact_scalar`] does a row per step. Arrow's prepared filter turns the mask into a
/// list of row indices per batch and gathers through it per column; on S0 (60 % of rows
/// selected, two 8-byte columns) that list and the gathers were 27 % of the run.
fn compact<T: ArrowNativeType>(values: &[T], selection: &Selection) -> Option<Vec<T>> {
    #[cfg(target_arch = "x86_64")]
    if matches!(std::mem::size_of::<T>(), 4 | 8) && crate::simd::has_avx512() {
        if values.len() != selection.mask.len() {
            return None;
        }
        // SAFETY: the CPU has AVX-512, `T` is 4 or 8 bytes wide and `values` has a row
        // per mask bit (checked just above).
        return unsafe { avx512::compact(values, selection) };
    }
    compact_scalar(values, selection)
}

/// Branch-free compaction a 64-row mask word at a time: every value of the word is
/// written at the next output slot, and the slot advances only past selected ones (a word
/// of all selected rows is one block copy, one of none is skipped).
fn compact_scalar<T: Copy>(values: &[T], selection: &Selection) -> Option<Vec<T>> {
    const WORD: usize = 64;
    if values.len() != selection.mask.len() {
        return None;
    }
    let count = selection.count;
    // room for a whole word past the last selected value
    let mut out: Vec<T> = Vec::with_capacity(count + WORD);
    let spare = out.spare_capacity_mut();
    let chunks = selection.mask.bit_chunks();
    let remainder = (chunks.remainder_len() > 0).then(|| chunks.remainder_bits());
    let words = chunks.iter().chain(remainder);
    let mut k = 0usize;
    for (word, rows) in words.zip(values.chunks(WORD)) {
        let dst = spare.get_mut(k..k + WORD)?;
        if word == u64::MAX && rows.len() == WORD {
            for (d, v) in dst.iter_mut().zip(rows) {
                d.write(*v);
            }
            k += WORD;
        } else if word != 0 {
            let mut c = 0usize;
            for (j, v) in rows.iter().enumerate() {
                // c ≤ j < 64, so the mask keeps the index in bounds without a check
                dst[c & (WORD - 1)].write(*v);
                c += ((word >> j) & 1) as usize;
            }
            k += c;
        }
    }
    if k != count {
        return None;
    }
    // SAFETY: `k` ≤ `count` + 64 is within the capacity, and every slot below `k` was
    // written: slot `k + c` of a word is written (with row `j`) before `c` moves past
    // it, and `c` only moves past it when row `j` is selected, whose value stays.
    unsafe { out.set_len(k) };
    Some(out)
}

/// Compaction with AVX-512F's compress instructions: per 8-row (8-byte values) or 16-row
/// (4-byte values) slice of a mask word, one masked load, one `vpcompress` into a
/// register, and one full-width store at the next output slot, which then advances by the
/// slice's selected count (the store's tail is overwritten next, or lies in the output's
/// slack). Compress straight to memory is slow on AMD Zen 4, the register form is not.
/// (The AVX-512 intrinsics are stable since Rust 1.89, the crate's `rust-version`.)
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::{
        __m512i, _mm512_maskz_compress_epi32, _mm512_maskz_compress_epi64,
        _mm512_maskz_loadu_epi32, _mm512_maskz_loadu_epi64, _mm512_storeu_epi32,
        _mm512_storeu_epi64,
    };
    use std::mem::size_of;

    use arrow::datatypes::ArrowNativeType;

    use super::Selection;

    /// Output slack: one store may write a whole register past the last selected value.
    const SLACK: usize = 16;

    /// [`super::compact`] with AVX-512: the selected values, or `None` if the mask's
    /// words do not add up to the selection's count (never, for a selection's own mask).
    ///
    /// # Safety
    /// The CPU has AVX-512F, `T` is 4 or 8 bytes wide, and `values.len()` equals the
    /// mask's length.
    pub(super) unsafe fn compact<T: ArrowNativeType>(
        values: &[T],
        selection: &Selection,
    ) -> Option<Vec<T>> {
        let width = size_of::<T>();
        let count = selection.count;
        let mut out: Vec<T> = Vec::with_capacity(count + SLACK);
        let chunks = selection.mask.bit_chunks();
        let remainder = (chunks.remainder_len() > 0).then(|| chunks.remainder_bits());
        let words = chunks.iter().chain(remainder);
        let (src, dst) = (values.as_ptr().cast::<u8>(), out.as_mut_ptr().cast::<u8>());
        // SAFETY: AVX-512F, per the contract; `words` are the mask's, a bit per value of
        // `values` with none set past the last one (`bit_chunks` zeroes the remainder's
        // padding), so their popcounts sum to `count`; `dst` has room for `count + SLACK`
        // values. An ArrowNativeType of 4 or 8 bytes is a plain number (or a pair of
        // i32), so its bytes may be moved as integers.
        let k = unsafe {
            if width == 8 {
                compact_words::<8>(words, src, dst, count)
            } else {
                compact_words::<4>(words, src, dst, count)
            }
        };
        if k != count {
            return None;
        }
        // SAFETY: slots `0..k` were written by the stores, with the selected values in
        // row order, and `k = count` is within the capacity.
        unsafe { out.set_len(k) };
        Some(out)
    }

    /// Compacts the `WIDTH`-byte values at `src` selected by the mask `words` (64 rows
    /// each) to `dst`; returns how many were written (stops past `count`).
    ///
    /// # Safety
    /// AVX-512F; the rows of set bits readable at `src`; `WIDTH` · (`count` + SLACK)
    /// bytes writable at `dst`.
    #[target_feature(enable = "avx512f")]
    unsafe fn compact_words<const WIDTH: usize>(
        words: impl Iterator<Item = u64>,
        src: *const u8,
        dst: *mut u8,
        count: usize,
    ) -> usize {
        let mut k = 0usize;
        for (w, word) in words.enumerate() {
            if word == 0 {
                continue;
            }
            let at = src.wrapping_add(w * 64 * WIDTH);
            // SAFETY: loads read only rows whose mask bit is set, all within the values
            // (masked-off lanes are never accessed, so `wrapping_add` past the end is not
            // dereferenced). Each store writes one register at output slot `k`, the
            // values kept so far: `k` ≤ `count`, and a register spans at most 16 slots,
            // within `count + SLACK`.
            k += unsafe {
                if WIDTH == 8 {
                    word_8(at, word, dst.add(k * 8))
                } else {
                    word_4(at, word, dst.add(k * 4))
                }
            };
            if k > count {
                break;
            }
        }
        k
    }

    /// Defines `$name`: compacts the 64 `$width`-byte values at `src` selected by `word`
    /// to `dst`, a register of `$lanes` values at a time; returns how many were written.
    ///
    /// # Safety (of the function defined)
    /// AVX-512F; the rows of set bits readable at `src`; `$width` · (popcount + `$lanes`)
    /// bytes writable at `dst`.
    macro_rules! compress_word {
        ($name:ident, $width:literal, $lanes:literal, $mask:ty, $int:ty,
         $load:ident, $compress:ident, $store:ident) => {
            #[inline]
            #[target_feature(enable = "avx512f")]
            unsafe fn $name(src: *const u8, word: u64, dst: *mut u8) -> usize {
                let mut k = 0usize;
                for j in 0..64 / $lanes {
                    let m = (word >> ($lanes * j)) as $mask;
                    // SAFETY: per the function's contract; masked-off lanes are not read.
                    unsafe {
                        let v: __m512i = $load(m, src.wrapping_add(64 * j).cast::<$int>());
                        $store(dst.add($width * k).cast::<$int>(), $compress(m, v));
                    }
                    k += m.count_ones() as usize;
                }
                k
            }
        };
    }
    compress_word!(
        word_8,
        8,
        8,
        u8,
        i64,
        _mm512_maskz_loadu_epi64,
        _mm512_maskz_compress_epi64,
        _mm512_storeu_epi64
    );
    compress_word!(
        word_4,
        4,
        16,
        u16,
        i32,
        _mm512_maskz_loadu_epi32,
        _mm512_maskz_compress_epi32,
        _mm512_storeu_epi32
    );
}

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
    // the selected strings hold at most the bytes of all strings; the buffer is not
    // zeroed: a short string is copied as a 16-byte block and the buffer cut back to it
    let mut bytes: Vec<u8> = Vec::with_capacity(last - first + SHORT_STRING);
    let mut out_offsets: Vec<O> = Vec::with_capacity(selection.count + 1);
    out_offsets.push(O::usize_as(0));
    for i in selection.mask.set_indices() {
        let (start, end) = (offsets[i].as_usize(), offsets[i + 1].as_usize());
        let at = bytes.len();
        match values
            .get(start..)
            .and_then(<[u8]>::first_chunk::<SHORT_STRING>)
        {
            Some(block) if end - start <= SHORT_STRING => {
                bytes.extend_from_slice(block);
                bytes.truncate(at + (end - start));
            }
            _ => bytes.extend_from_slice(&values[start..end]),
        }
        out_offsets.push(O::usize_as(bytes.len()));
    }
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

    use arrow::array::{
        Decimal128Array, Float64Array, Int8Array, Int32Array, Int64Array, LargeStringArray,
        StringArray, TimestampMillisecondArray, UInt16Array,
    };
    use proptest::prelude::*;

    use super::*;

    fn reference(column: &ArrayRef, mask: &BooleanArray) -> ArrayRef {
        arrow::compute::filter(column.as_ref(), mask).unwrap()
    }

    #[test]
    fn compaction_takes_whole_words_partial_words_and_the_tail() {
        let values: Vec<u32> = (0..200).collect();
        // word 0 all kept, word 1 none, words 2–3 every third row, and the last row
        let keep: Vec<bool> = (0..200)
            .map(|i| i < 64 || (i >= 128 && i % 3 == 0) || i == 199)
            .collect();
        let selection = Selection::new(&BooleanArray::from(keep.clone()));
        let expected: Vec<u32> = values
            .iter()
            .zip(&keep)
            .filter(|(_, k)| **k)
            .map(|(v, _)| *v)
            .collect();
        assert_eq!(compact(&values, &selection), Some(expected));
        assert_eq!(compact(&values[..100], &selection), None, "lengths differ");
        let none = Selection::new(&BooleanArray::from(vec![false; 200]));
        assert_eq!(compact(&values, &none), Some(vec![]));
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

        /// The SIMD compaction (where the CPU has it) and the scalar one give the same
        /// values, for both widths it takes, with words of every density and a tail.
        #[test]
        fn simd_and_scalar_compaction_agree(
            rows in proptest::collection::vec((any::<i64>(), 0u8..5), 0..400),
            skip in 0usize..64,
        ) {
            let skip = skip.min(rows.len());
            let keep: Vec<bool> = rows.iter().enumerate().map(|(i, r)| match r.1 {
                0 => true,
                1 => false,
                2 => (i / 64) % 2 == 0,
                _ => (i / 8) % 3 == 0,
            }).collect();
            let mask = BooleanArray::from(keep.clone());
            let wide: Vec<i64> = rows.iter().map(|r| r.0).collect();
            let narrow: Vec<i32> = wide.iter().map(|&v| v as i32).collect();
            for (m, range) in [(mask.clone(), 0..rows.len()), (mask.slice(skip, rows.len() - skip), skip..rows.len())] {
                let selection = Selection::new(&m);
                let expected: Vec<i64> = range.clone().filter(|&i| keep[i]).map(|i| wide[i]).collect();
                prop_assert_eq!(compact(&wide[range.clone()], &selection), Some(expected.clone()));
                prop_assert_eq!(compact_scalar(&wide[range.clone()], &selection), Some(expected.clone()));
                let expected: Vec<i32> = expected.iter().map(|&v| v as i32).collect();
                prop_assert_eq!(compact(&narrow[range.clone()], &selection), Some(expected.clone()));
                prop_assert_eq!(compact_scalar(&narrow[range.clone()], &selection), Some(expected));
            }
        }

        /// Primitive columns without NULLs (the compaction kernel): every width, a type
        /// with parameters (timezone, precision), masks with whole words selected and
        /// none, sliced columns and masks, against Arrow's filter.
        #[test]
        fn primitives_match_arrow_filter(
            rows in proptest::collection::vec((any::<i64>(), 0u8..4), 0..700),
            skip in 0usize..70,
        ) {
            // runs of the pattern make words of all selected and all dropped rows
            let keep: Vec<bool> = rows.iter().enumerate().map(|(i, r)| match r.1 {
                0 => true,
                1 => false,
                _ => (i / 64) % 2 == 0,
            }).collect();
            let skip = skip.min(rows.len());
            let v: Vec<i64> = rows.iter().map(|r| r.0).collect();
            let columns: Vec<ArrayRef> = vec![
                Arc::new(Int8Array::from(v.iter().map(|&x| x as i8).collect::<Vec<_>>())),
                Arc::new(UInt16Array::from(v.iter().map(|&x| x as u16).collect::<Vec<_>>())),
                Arc::new(Int32Array::from(v.iter().map(|&x| x as i32).collect::<Vec<_>>())),
                Arc::new(Int64Array::from(v.clone())),
                Arc::new(Float64Array::from(v.iter().map(|&x| x as f64 / 3.0).collect::<Vec<_>>())),
                Arc::new(TimestampMillisecondArray::from(v.clone()).with_timezone("+01:00")),
                Arc::new(
                    Decimal128Array::from(v.iter().map(|&x| x as i128 * 1000).collect::<Vec<_>>())
                        .with_precision_and_scale(38, 3)
                        .unwrap(),
                ),
            ];
            let mask = BooleanArray::from(keep);
            for col in &columns {
                for (c, m) in [
                    (col.clone(), mask.clone()),
                    (col.slice(skip, rows.len() - skip), mask.slice(skip, rows.len() - skip)),
                ] {
                    let ours = Selection::new(&m).apply(&c).unwrap();
                    let theirs = reference(&c, &m);
                    prop_assert_eq!(ours.data_type(), c.data_type());
                    prop_assert_eq!(ours.as_ref(), theirs.as_ref());
                }
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
