//! Group ids for one dictionary-encoded key column: the dictionary's values are interned
//! (by the table for the value type), and rows are mapped by their dictionary key.
//!
//! ```text
//!  keys:   [2, 0, 2, 2, ...]          map (per dictionary): dict key → group id
//!  values: ["b", "x", "a"]   ──▶      [7, UNSET, 3]   ──▶  ids: [3, 7, 3, 3, ...]
//! ```
//! Only the values a batch actually uses are interned, in the order their rows come
//! (so ids stay in first-seen row order, and unused dictionary entries make no groups).
//! In steady state a row costs one array lookup. The map is kept while the next batch
//! carries the same dictionary (same buffers: the IPC reader shares them between batches);
//! a new dictionary starts a fresh map, and its values are interned again, landing on the
//! existing groups. A NULL key and a NULL value are the same (NULL) group.
//!
//! Emitted keys have the dictionary's **value type**.

use arrow::array::{Array, ArrayRef, AsArray, DictionaryArray, UInt32Array};
use arrow::compute::take;
use arrow::datatypes::{ArrowDictionaryKeyType, ArrowNativeType, DataType};

use super::{GroupValues, check_capacity, single_column, single_key};
use crate::aggregate::accumulator::reset;
use crate::error::{Error, Result};

/// A map entry not yet resolved to a group id.
const UNSET: u32 = u32::MAX;
/// Marks a map entry (and a provisional row id) as "new in this batch": the low bits are
/// its position in the batch's list of new dictionary keys.
const PENDING: u32 = 1 << 31;

/// Group ids for one `Dictionary(K, value_type)` key column.
pub struct DictionaryGroupValues<K: ArrowDictionaryKeyType> {
    data_type: DataType,
    /// Interns dictionary values; its ids are this table's ids.
    values: Box<dyn GroupValues>,
    /// Dictionary key → group id (or `UNSET` / `PENDING | i`), plus one last entry for a
    /// NULL key.
    map: Vec<u32>,
    /// The dictionary `map` belongs to (held, so its buffers cannot be reused by another
    /// dictionary while we compare pointers).
    dictionary: Option<arrow::array::ArrayData>,
    /// Dictionary keys first used in this batch (the NULL-key entry as `map.len() - 1`).
    new_keys: Vec<usize>,
    scratch: Vec<u32>,
    _key: std::marker::PhantomData<fn() -> K>,
}

impl<K: ArrowDictionaryKeyType> std::fmt::Debug for DictionaryGroupValues<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DictionaryGroupValues")
            .field("data_type", &self.data_type)
            .field("groups", &self.values.len())
            .finish()
    }
}

impl<K: ArrowDictionaryKeyType> DictionaryGroupValues<K> {
    /// A table for `Dictionary(K, value_type)` keys.
    ///
    /// # Errors
    /// Only if no table exists for `value_type` (never: there is a general fallback).
    pub fn try_new(value_type: &DataType) -> Result<Self> {
        Ok(DictionaryGroupValues {
            data_type: DataType::Dictionary(Box::new(K::DATA_TYPE), Box::new(value_type.clone())),
            values: single_column(value_type)?,
            map: Vec::new(),
            dictionary: None,
            new_keys: Vec::new(),
            scratch: Vec::new(),
            _key: std::marker::PhantomData,
        })
    }

    /// Interns the dictionary values of `new_keys` (in order) and resolves their map
    /// entries.
    fn resolve_new(&mut self, dictionary_values: &ArrayRef) -> Result<()> {
        let null_entry = self.map.len() - 1;
        let indices: UInt32Array = self
            .new_keys
            .iter()
            .map(|&k| (k != null_entry).then_some(k as u32))
            .collect();
        let taken = take(dictionary_values.as_ref(), &indices, None)?;
        self.values.intern(&[taken], &mut self.scratch)?;
        for (&k, &id) in self.new_keys.iter().zip(&self.scratch) {
            self.map[k] = id;
        }
        Ok(())
    }
}

impl<K: ArrowDictionaryKeyType> DictionaryGroupValues<K> {
    /// Maps every row through the dictionary map, interning the values first used here.
    fn map_rows(&mut self, array: &DictionaryArray<K>, out: &mut Vec<u32>) -> Result<()> {
        let dictionary_values = array.values();
        let null_entry = self.map.len() - 1;
        self.new_keys.clear();
        out.reserve(array.len());

        // One pass: resolved keys map straight to ids; a key first seen in this batch gets
        // a provisional id (PENDING | its position in `new_keys`), fixed up below.
        let map = &mut self.map;
        let new_keys = &mut self.new_keys;
        let mut lookup = |k: usize| -> Result<u32> {
            let entry = map
                .get_mut(k)
                .ok_or_else(|| Error::execution(format!("dictionary key {k} out of range")))?;
            if *entry == UNSET {
                *entry = PENDING | new_keys.len() as u32;
                new_keys.push(k);
            }
            Ok(*entry)
        };
        let key_values = array.keys().values();
        match array.keys().nulls().filter(|n| n.null_count() > 0) {
            None => {
                for k in key_values.iter() {
                    out.push(lookup(k.as_usize())?);
                }
            }
            Some(nulls) => {
                for (i, k) in key_values.iter().enumerate() {
                    let k = if nulls.is_valid(i) {
                        k.as_usize()
                    } else {
                        null_entry
                    };
                    out.push(lookup(k)?);
                }
            }
        }
        if !self.new_keys.is_empty() {
            self.resolve_new(dictionary_values)?;
            let scratch = &self.scratch;
            for id in out.iter_mut().filter(|id| **id & PENDING != 0) {
                *id = scratch[(*id & !PENDING) as usize];
            }
        }
        Ok(())
    }
}

impl<K: ArrowDictionaryKeyType> GroupValues for DictionaryGroupValues<K> {
    fn intern(&mut self, keys: &[ArrayRef], out: &mut Vec<u32>) -> Result<()> {
        out.clear();
        let array = single_key(keys, &self.data_type)?.as_dictionary::<K>();
        check_capacity(self.values.len(), array.len())?;
        let dictionary_values = array.values();
        let data = dictionary_values.to_data();
        if !self.dictionary.as_ref().is_some_and(|d| d.ptr_eq(&data)) {
            self.map.clear();
            self.map.resize(dictionary_values.len() + 1, UNSET);
            self.dictionary = Some(data);
        }
        let result = self.map_rows(array, out);
        if result.is_err() {
            // The map may hold provisional entries: start afresh next batch.
            self.dictionary = None;
            self.map.clear();
        }
        result
    }

    fn len(&self) -> usize {
        self.values.len()
    }

    fn size_bytes(&self) -> usize {
        self.values.size_bytes() + self.map.capacity() * 4 + self.scratch.capacity() * 4
    }

    fn emit(&self, ids: &[u32]) -> Result<Vec<ArrayRef>> {
        self.values.emit(ids)
    }

    fn clear(&mut self) {
        self.values.clear();
        reset(&mut self.map);
        self.dictionary = None;
        reset(&mut self.new_keys);
        reset(&mut self.scratch);
    }
}
