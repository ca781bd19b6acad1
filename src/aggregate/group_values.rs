//! Key interning: the key columns of each batch become dense group ids `0..n`, numbered
//! in first-seen order across batches.
//!
//! [`new_group_values`] picks a specialised table by key type:
//!
//! ```text
//!  one key of type                     table                 per row
//!  ─────────────────────────────────   ───────────────────   ─────────────────────────────
//!  int / float / decimal / date /      PrimitiveGroupValues  hash the value, probe inline keys
//!    time / timestamp / duration
//!    (Float16: cast to Float32 first)
//!  Boolean                             BooleanGroupValues    index a 3-entry array
//!  Utf8, LargeUtf8, Utf8View, Binary…  BytesGroupValues      ≤ 15 bytes: one 128-bit key;
//!                                                            longer: ahash + arena compare
//!  Dictionary(int, any)                DictionaryGroupValues one array lookup (values interned
//!                                                            once per dictionary)
//!  anything else (structs, lists…)     RowGroupValues        arrow-row bytes in a hash table
//!
//!  several keys                        MultiGroupValues      each column to dense ids first,
//!                                                            then the id tuple: a direct grid
//!                                                            (small), a packed u64, or a hash
//! ```
//! NULL is a key value like any other: all NULLs of a column form one group.

mod boolean;
mod bytes;
mod dictionary;
mod multi;
mod pair_cache;
mod primitive;
mod row;

use arrow::array::ArrayRef;
use arrow::datatypes::DataType;

use crate::error::{Error, Result};

use super::hash_table::MAX_GROUPS;
use super::native::with_primitive_type;

pub(crate) use self::boolean::BooleanGroupValues;
pub(crate) use self::bytes::BytesGroupValues;
pub(crate) use self::dictionary::DictionaryGroupValues;
pub(crate) use self::multi::MultiGroupValues;
pub(crate) use self::primitive::{Float16GroupValues, PrimitiveGroupValues};
pub(crate) use self::row::RowGroupValues;

/// Interns the key columns of each batch into dense group ids `0..n` (first-seen order),
/// across batches.
pub trait GroupValues: Send {
    /// Sets `out` to one group id per row of `keys` (all the same length), replacing what
    /// it held. New keys get the next ids.
    ///
    /// # Errors
    /// `Internal` if the columns do not have the types the table was made for;
    /// `ResourcesExhausted` past 2^31 - 1 groups.
    fn intern(&mut self, keys: &[ArrayRef], out: &mut Vec<u32>) -> Result<()>;

    /// Number of groups.
    fn len(&self) -> usize;

    /// Whether there are no groups.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of state (for metrics and the memory limit).
    fn size_bytes(&self) -> usize;

    /// The key values of groups `ids`, one array per key column, in the order of `ids`.
    ///
    /// Column types are the input key types, except that a dictionary key comes back as
    /// its value type (see [`emitted_key_type`]).
    ///
    /// # Errors
    /// `Internal` if an id is not a group of this table.
    fn emit(&self, ids: &[u32]) -> Result<Vec<ArrayRef>>;

    /// Forgets every group (the next key gets id 0). Small allocations are kept for reuse
    /// (a table cleared after every batch allocates nothing); large ones are released.
    /// Drop the table to release everything.
    fn clear(&mut self);
}

/// A table for keys of types `key_types`, with the fastest path for those types.
///
/// # Errors
/// `Internal` for zero key columns (a global aggregate has no keys: every row is in
/// group 0, without a table).
///
/// # Example
/// ```
/// use std::sync::Arc;
/// use arrow::array::{ArrayRef, Int64Array, StringArray};
/// use arrow::datatypes::DataType;
/// use velostream::aggregate::new_group_values;
///
/// let mut table = new_group_values(&[DataType::Utf8])?;
/// let keys: ArrayRef = Arc::new(StringArray::from(vec!["b", "a", "b"]));
/// let mut ids = Vec::new();
/// table.intern(&[keys], &mut ids)?;
/// assert_eq!(ids, [0, 1, 0]);
/// let emitted = table.emit(&[1, 0])?;
/// assert_eq!(emitted[0].as_ref(), &StringArray::from(vec!["a", "b"]));
/// # Ok::<(), velostream::Error>(())
/// ```
pub fn new_group_values(key_types: &[DataType]) -> Result<Box<dyn GroupValues>> {
    match key_types {
        [] => Err(Error::internal(
            "a group-by table needs at least one key column",
        )),
        [t] => single_column(t),
        _ => Ok(Box::new(MultiGroupValues::try_new(key_types)?)),
    }
}

/// The type [`GroupValues::emit`] returns for a key column of type `key_type`: the value
/// type for a dictionary, else the type itself.
pub fn emitted_key_type(key_type: &DataType) -> DataType {
    match key_type {
        DataType::Dictionary(_, value) => emitted_key_type(value),
        other => other.clone(),
    }
}

/// The specialised table for one key column.
pub(crate) fn single_column(t: &DataType) -> Result<Box<dyn GroupValues>> {
    use arrow::datatypes::*;
    Ok(match t {
        DataType::Boolean => Box::new(BooleanGroupValues::new()),
        DataType::Float16 => Box::new(Float16GroupValues::new()),
        t if super::byte_arrays::is_bytes_type(t) => Box::new(BytesGroupValues::new(t.clone())),
        DataType::Dictionary(key, value) => match key.as_ref() {
            DataType::Int8 => Box::new(DictionaryGroupValues::<Int8Type>::try_new(value)?),
            DataType::Int16 => Box::new(DictionaryGroupValues::<Int16Type>::try_new(value)?),
            DataType::Int32 => Box::new(DictionaryGroupValues::<Int32Type>::try_new(value)?),
            DataType::Int64 => Box::new(DictionaryGroupValues::<Int64Type>::try_new(value)?),
            DataType::UInt8 => Box::new(DictionaryGroupValues::<UInt8Type>::try_new(value)?),
            DataType::UInt16 => Box::new(DictionaryGroupValues::<UInt16Type>::try_new(value)?),
            DataType::UInt32 => Box::new(DictionaryGroupValues::<UInt32Type>::try_new(value)?),
            DataType::UInt64 => Box::new(DictionaryGroupValues::<UInt64Type>::try_new(value)?),
            _ => Box::new(RowGroupValues::try_new(std::slice::from_ref(t))?),
        },
        t => with_primitive_type!(t, T => Box::new(PrimitiveGroupValues::<T>::new(t.clone())),
            _ => Box::new(RowGroupValues::try_new(std::slice::from_ref(t))?)),
    })
}

/// The one key column of a single-column table, or an `Internal` error.
pub(crate) fn single_key<'a>(keys: &'a [ArrayRef], expected: &DataType) -> Result<&'a ArrayRef> {
    match keys {
        [k] if k.data_type() == expected => Ok(k),
        [k] => Err(Error::internal(format!(
            "group key of type {} given to a table for {expected}",
            k.data_type()
        ))),
        _ => Err(Error::internal(format!(
            "{} key columns given to a single-column group table",
            keys.len()
        ))),
    }
}

/// `ResourcesExhausted` unless `groups + new_rows` ids fit (each row may add a group).
pub(crate) fn check_capacity(groups: usize, new_rows: usize) -> Result<()> {
    if groups.saturating_add(new_rows) > MAX_GROUPS {
        return Err(Error::ResourcesExhausted(format!(
            "more than {MAX_GROUPS} groups in one group-by table"
        )));
    }
    Ok(())
}

/// Sizes `out` to `n` ids for a caller that writes every one of them: ids it already
/// holds are left as they are (no pass zeroing a buffer about to be overwritten; a
/// recycled buffer of the batch's size is not touched at all), only new room is zeroed.
pub(crate) fn size_ids(out: &mut Vec<u32>, n: usize) {
    out.truncate(n);
    out.resize(n, 0);
}

/// `Internal` unless every id is below `len`.
pub(crate) fn check_ids(ids: &[u32], len: usize) -> Result<()> {
    match ids.iter().copied().max() {
        Some(m) if m as usize >= len => Err(Error::internal(format!(
            "group id {m} requested from a table of {len} groups"
        ))),
        _ => Ok(()),
    }
}

/// A validity bitmap for the emitted rows: NULL where `ids[i] == null_group`.
pub(crate) fn null_mask(ids: &[u32], null_group: Option<u32>) -> Option<arrow::buffer::NullBuffer> {
    let ng = null_group?;
    if !ids.contains(&ng) {
        return None;
    }
    Some(arrow::buffer::NullBuffer::from_iter(
        ids.iter().map(|&id| id != ng),
    ))
}

#[cfg(test)]
pub(crate) mod tests {
    //! The reference model every table is checked against: a `HashMap` from the key
    //! tuple (values rendered as text, NULL as `None`) to the first-seen id.

    use std::collections::HashMap;
    use std::sync::Arc;

    use arrow::array::{
        Array, ArrayRef, BooleanArray, DictionaryArray, Float64Array, Int32Array, Int64Array,
        LargeStringArray, StringArray, StringViewArray, UInt8Array,
    };
    use arrow::datatypes::{DataType, Int8Type, Int32Type};
    use arrow::util::display::{ArrayFormatter, FormatOptions};
    use proptest::prelude::*;

    use super::*;

    /// Renders row `i` of every column: the reference key.
    pub(crate) fn row_key(columns: &[ArrayRef], i: usize) -> Vec<Option<String>> {
        columns
            .iter()
            .map(|c| {
                if c.logical_nulls().is_some_and(|n| n.is_null(i)) {
                    None
                } else {
                    let f = ArrayFormatter::try_new(c.as_ref(), &FormatOptions::default())
                        .expect("formattable");
                    Some(f.value(i).to_string())
                }
            })
            .collect()
    }

    /// Interns `batches` into `table` and checks the ids against the reference model, and
    /// that `emit` gives back the keys.
    pub(crate) fn check_table(table: &mut dyn GroupValues, batches: &[Vec<ArrayRef>]) {
        let mut reference: HashMap<Vec<Option<String>>, u32> = HashMap::new();
        let mut first_rows: Vec<Vec<Option<String>>> = Vec::new();
        let mut ids = Vec::new();
        for (b, batch) in batches.iter().enumerate() {
            let rows = batch[0].len();
            // a recycled buffer, longer, as long or shorter than the batch, holding ids
            // no table hands out: every slot must be written
            let stale = [rows + 5, rows, rows / 2][b % 3];
            ids.clear();
            ids.resize(stale, u32::MAX - 1);
            table.intern(batch, &mut ids).expect("intern");
            assert_eq!(ids.len(), rows);
            for (i, &id) in ids.iter().enumerate() {
                let key = row_key(batch, i);
                let next = reference.len() as u32;
                let expected = *reference.entry(key.clone()).or_insert_with(|| {
                    first_rows.push(key.clone());
                    next
                });
                assert_eq!(id, expected, "row {i}: key {key:?}");
            }
            assert_eq!(table.len(), reference.len());
        }
        // emit returns the original keys, in the order asked for.
        let all: Vec<u32> = (0..table.len() as u32).rev().collect();
        let emitted = table.emit(&all).expect("emit");
        assert_eq!(emitted.len(), batches.first().map_or(0, Vec::len));
        for (pos, &id) in all.iter().enumerate() {
            let got: Vec<Option<String>> = row_key(&emitted, pos);
            assert_eq!(got, first_rows[id as usize], "emitted group {id}");
        }
        assert!(table.emit(&[table.len() as u32]).is_err());
        assert!(table.size_bytes() > 0 || table.is_empty());
    }

    fn arc<A: Array + 'static>(a: A) -> ArrayRef {
        Arc::new(a)
    }

    #[test]
    fn one_int_key_with_nulls() {
        let mut t = new_group_values(&[DataType::Int64]).unwrap();
        let b1 = vec![arc(Int64Array::from(vec![
            Some(5),
            None,
            Some(5),
            Some(-1),
            None,
        ]))];
        let b2 = vec![arc(Int64Array::from(vec![Some(-1), Some(7), None]))];
        check_table(t.as_mut(), &[b1, b2]);
        assert_eq!(t.len(), 4);
    }

    #[test]
    fn float_keys_group_nan_and_signed_zero() {
        let mut t = new_group_values(&[DataType::Float64]).unwrap();
        let keys = arc(Float64Array::from(vec![
            0.0,
            -0.0,
            f64::NAN,
            -f64::NAN,
            1.5,
        ]));
        let mut ids = Vec::new();
        t.intern(&[keys], &mut ids).unwrap();
        assert_eq!(ids, [0, 0, 1, 1, 2]);
    }

    #[test]
    fn strings_of_every_length_and_layout() {
        let long = "a string that is longer than sixteen bytes";
        let values = vec![
            Some(""),
            Some("a"),
            None,
            Some("exactly15bytes!"),
            Some("exactly16bytes!!"),
            Some(long),
            Some("a"),
            Some(""),
            Some(long),
            None,
            Some("a\0"),
        ];
        for t in [DataType::Utf8, DataType::LargeUtf8, DataType::Utf8View] {
            let arr: ArrayRef = match t {
                DataType::Utf8 => arc(StringArray::from(values.clone())),
                DataType::LargeUtf8 => arc(LargeStringArray::from(values.clone())),
                _ => arc(StringViewArray::from(values.clone())),
            };
            let mut table = new_group_values(std::slice::from_ref(&t)).unwrap();
            check_table(
                table.as_mut(),
                &[vec![arr.slice(0, 6)], vec![arr.slice(6, 5)]],
            );
            assert_eq!(table.len(), 7, "{t}");
            assert_eq!(table.emit(&[0]).unwrap()[0].data_type(), &t);
        }
    }

    #[test]
    fn booleans() {
        let mut t = new_group_values(&[DataType::Boolean]).unwrap();
        let b = vec![arc(BooleanArray::from(vec![
            Some(true),
            None,
            Some(false),
            Some(true),
        ]))];
        check_table(t.as_mut(), &[b]);
    }

    #[test]
    fn dictionary_keys_with_changing_dictionaries() {
        let dt = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        let mut t = new_group_values(std::slice::from_ref(&dt)).unwrap();
        let d1: DictionaryArray<Int32Type> = vec![Some("x"), Some("y"), None, Some("x")]
            .into_iter()
            .collect();
        // Same dictionary object again (cache hit), a sliced copy, then a new dictionary
        // with the values in another order, a duplicate value and an unused value.
        let d2 = d1.clone();
        let values = arc(StringArray::from(vec![
            Some("unused"),
            Some("z"),
            Some("y"),
            Some("z"),
            None,
        ]));
        let d3 = DictionaryArray::<Int32Type>::try_new(
            Int32Array::from(vec![Some(2), Some(1), Some(3), None, Some(4)]),
            values,
        )
        .unwrap();
        let batches = [vec![arc(d1)], vec![arc(d2.slice(1, 3))], vec![arc(d3)]];
        check_table(t.as_mut(), &batches);
        assert_eq!(t.emit(&[0]).unwrap()[0].data_type(), &DataType::Utf8);
        assert_eq!(emitted_key_type(&dt), DataType::Utf8);
        // A second dictionary key type, with int values.
        let mut t = new_group_values(&[DataType::Dictionary(
            Box::new(DataType::Int8),
            Box::new(DataType::Int32),
        )])
        .unwrap();
        let d = DictionaryArray::<Int8Type>::try_new(
            arrow::array::Int8Array::from(vec![1, 0, 1]),
            arc(Int32Array::from(vec![10, 20])),
        )
        .unwrap();
        check_table(t.as_mut(), &[vec![arc(d)]]);
    }

    #[test]
    fn out_of_range_dictionary_key_is_an_error_not_a_panic() {
        let dt = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        let mut t = new_group_values(std::slice::from_ref(&dt)).unwrap();
        let values = arc(StringArray::from(vec!["a", "b"]));
        // SAFETY (test only): a deliberately invalid array, as a corrupt input could carry.
        let bad = unsafe {
            DictionaryArray::<Int32Type>::new_unchecked(
                Int32Array::from(vec![1, 7]),
                values.clone(),
            )
        };
        let mut ids = Vec::new();
        let err = t.intern(&[arc(bad)], &mut ids).unwrap_err();
        assert!(
            err.to_string().contains("dictionary key 7 out of range"),
            "{err}"
        );
        // The table recovers: the next (valid) batch with the same values maps correctly.
        let good =
            DictionaryArray::<Int32Type>::try_new(Int32Array::from(vec![1, 0, 1]), values).unwrap();
        t.intern(&[arc(good)], &mut ids).unwrap();
        let emitted = t.emit(&ids).unwrap();
        assert_eq!(emitted[0].as_ref(), &StringArray::from(vec!["b", "a", "b"]));
    }

    #[test]
    fn several_keys_of_mixed_types() {
        let mut t =
            new_group_values(&[DataType::Utf8, DataType::Int32, DataType::Boolean]).unwrap();
        let b1 = vec![
            arc(StringArray::from(vec![
                Some("a"),
                Some("a"),
                None,
                Some("a"),
            ])),
            arc(Int32Array::from(vec![Some(1), Some(2), Some(1), Some(1)])),
            arc(BooleanArray::from(vec![
                Some(true),
                Some(true),
                None,
                Some(true),
            ])),
        ];
        let b2 = vec![
            arc(StringArray::from(vec![None, Some("b")])),
            arc(Int32Array::from(vec![Some(1), None])),
            arc(BooleanArray::from(vec![None, Some(false)])),
        ];
        check_table(t.as_mut(), &[b1, b2]);
        assert_eq!(t.len(), 4);
    }

    #[test]
    fn fallback_rows_for_other_types() {
        let dt = DataType::Interval(arrow::datatypes::IntervalUnit::MonthDayNano);
        let mut t = new_group_values(std::slice::from_ref(&dt)).unwrap();
        let a = arrow::array::IntervalMonthDayNanoArray::from(vec![
            Some(arrow::datatypes::IntervalMonthDayNano::new(1, 2, 3)),
            None,
            Some(arrow::datatypes::IntervalMonthDayNano::new(1, 2, 3)),
        ]);
        check_table(t.as_mut(), &[vec![arc(a)]]);
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn clear_forgets_groups() {
        let mut t = new_group_values(&[DataType::Utf8, DataType::Int64]).unwrap();
        let b = vec![
            arc(StringArray::from(vec!["a", "b"])),
            arc(Int64Array::from(vec![1, 2])),
        ];
        let mut ids = Vec::new();
        t.intern(&b, &mut ids).unwrap();
        t.clear();
        assert_eq!(t.len(), 0);
        let b = vec![
            arc(StringArray::from(vec!["b"])),
            arc(Int64Array::from(vec![2])),
        ];
        t.intern(&b, &mut ids).unwrap();
        assert_eq!(ids, [0]);
    }

    #[test]
    fn wrong_inputs_are_errors() {
        assert!(new_group_values(&[]).is_err());
        let mut t = new_group_values(&[DataType::Int64]).unwrap();
        let mut ids = Vec::new();
        let err = t
            .intern(&[arc(Int32Array::from(vec![1]))], &mut ids)
            .unwrap_err();
        assert!(err.to_string().contains("Int32"), "{err}");
        assert!(t.intern(&[], &mut ids).is_err());
        let mut t = new_group_values(&[DataType::Utf8, DataType::Int64]).unwrap();
        assert!(
            t.intern(&[arc(StringArray::from(vec!["a"]))], &mut ids)
                .is_err()
        );
        assert!(t.emit(&[0]).is_err());
        let _ = UInt8Array::from(vec![1u8]);
    }

    /// A random key column: `kind` picks the type, values from a small domain (so keys
    /// repeat), some NULL.
    fn column(kind: u8, vals: &[Option<u16>], domain: u16) -> ArrayRef {
        let v = |x: &Option<u16>| x.map(|x| x % domain);
        match kind % 5 {
            0 => arc(Int64Array::from_iter(
                vals.iter().map(|x| v(x).map(|x| x as i64 - 3)),
            )),
            1 => arc(StringArray::from_iter(vals.iter().map(|x| {
                v(x).map(|x| {
                    if x % 3 == 0 {
                        format!("long key number {x} padded")
                    } else {
                        format!("k{x}")
                    }
                })
            }))),
            2 => {
                let d: DictionaryArray<Int32Type> = vals
                    .iter()
                    .map(|x| v(x).map(|x| format!("d{x}")))
                    .collect::<Vec<_>>()
                    .iter()
                    .map(|x| x.as_deref())
                    .collect();
                arc(d)
            }
            3 => arc(Float64Array::from_iter(
                vals.iter().map(|x| v(x).map(|x| x as f64 / 2.0)),
            )),
            _ => arc(StringViewArray::from_iter(vals.iter().map(|x| {
                v(x).map(|x| format!("view-{x:04}-{}", "z".repeat(x as usize % 20)))
            }))),
        }
    }

    fn column_type(kind: u8) -> DataType {
        match kind % 5 {
            0 => DataType::Int64,
            1 => DataType::Utf8,
            2 => DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            3 => DataType::Float64,
            _ => DataType::Utf8View,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn random_keys_match_the_reference(
            kinds in proptest::collection::vec(0u8..5, 1..4),
            rows in proptest::collection::vec(proptest::collection::vec(proptest::option::weighted(0.9, 0u16..2000), 3), 0..400),
            domain in prop_oneof![Just(3u16), Just(40u16), Just(2000u16)],
            splits in proptest::collection::vec(0usize..400, 0..4),
        ) {
            let types: Vec<DataType> = kinds.iter().map(|&k| column_type(k)).collect();
            let mut table = new_group_values(&types).unwrap();
            let mut cuts: Vec<usize> = splits.into_iter().filter(|&s| s < rows.len()).collect();
            cuts.push(0);
            cuts.push(rows.len());
            cuts.sort_unstable();
            cuts.dedup();
            if cuts.len() == 1 {
                cuts.push(0); // no rows: one empty batch
            }
            let batches: Vec<Vec<ArrayRef>> = cuts.windows(2).map(|w| {
                kinds.iter().enumerate().map(|(c, &k)| {
                    let vals: Vec<Option<u16>> = rows[w[0]..w[1]].iter().map(|r| r[c]).collect();
                    column(k, &vals, domain)
                }).collect()
            }).collect();
            check_table(table.as_mut(), &batches);
        }
    }
}
