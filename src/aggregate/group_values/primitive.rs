//! Group ids for one primitive key column (integers, floats, decimals, dates, times,
//! timestamps, durations).
//!
//! The value's key form (floats: NaN canonicalised, -0.0 as 0.0) is hashed and probed in
//! a [`KeyTable`] that stores keys inline; the first-seen value of each group is kept in a
//! `Vec` indexed by group id for emission. NULL is one group of its own, kept outside the
//! table. A one-entry cache of the previous row's key makes runs of equal keys cost one
//! comparison.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, ArrowPrimitiveType, AsArray, PrimitiveArray};
use arrow::datatypes::DataType;

use super::{GroupValues, check_capacity, check_ids, null_mask, single_key};
use crate::aggregate::accumulator::reset;
use crate::aggregate::hash_table::{HashSeeds, KeyTable, TableKey};
use crate::aggregate::native::KeyNative;
use crate::error::Result;

/// Group ids for one primitive key column of Arrow type `T`.
#[derive(Debug)]
pub struct PrimitiveGroupValues<T: ArrowPrimitiveType>
where
    T::Native: KeyNative,
{
    data_type: DataType,
    table: KeyTable<<T::Native as KeyNative>::Key>,
    /// The first-seen value of each group (the NULL group holds a placeholder).
    values: Vec<T::Native>,
    null_group: Option<u32>,
}

impl<T: ArrowPrimitiveType> PrimitiveGroupValues<T>
where
    T::Native: KeyNative,
{
    /// A table for keys of `data_type` (a type whose native type is `T::Native`, e.g. any
    /// `Timestamp` unit's time zone).
    pub fn new(data_type: DataType) -> Self {
        PrimitiveGroupValues {
            data_type,
            table: KeyTable::new(HashSeeds::random()),
            values: Vec::new(),
            null_group: None,
        }
    }

    #[inline(always)]
    fn intern_value(&mut self, v: T::Native) -> u32 {
        let key = v.to_key();
        let hash = key.hash(self.table.seeds());
        let next = self.values.len() as u32;
        let (id, inserted) = self.table.find_or_insert(key, hash, |_| true, next);
        if inserted {
            self.values.push(v);
        }
        id
    }

    fn null_id(&mut self) -> u32 {
        match self.null_group {
            Some(id) => id,
            None => {
                let id = self.values.len() as u32;
                self.values.push(T::Native::default());
                self.null_group = Some(id);
                id
            }
        }
    }
}

impl<T: ArrowPrimitiveType> GroupValues for PrimitiveGroupValues<T>
where
    T::Native: KeyNative,
{
    fn intern(&mut self, keys: &[ArrayRef], out: &mut Vec<u32>) -> Result<()> {
        let array = single_key(keys, &self.data_type)?.as_primitive::<T>();
        check_capacity(self.values.len(), array.len())?;
        let values = array.values();
        // every id is written below
        super::size_ids(out, values.len());
        match array.nulls().filter(|n| n.null_count() > 0) {
            None => {
                // Present keys in the read-only fast loop; each absent one inserted here.
                let mut i = 0;
                while i < values.len() {
                    i = self.table.lookup_run::<true>(
                        i,
                        out,
                        #[inline(always)]
                        |j| values[j].to_key(),
                    );
                    if let Some(&v) = values.get(i) {
                        out[i] = self.intern_value(v);
                        i += 1;
                    }
                }
            }
            Some(nulls) => {
                for (i, (id, &v)) in out.iter_mut().zip(values.iter()).enumerate() {
                    *id = if nulls.is_valid(i) {
                        self.intern_value(v)
                    } else {
                        self.null_id()
                    };
                }
            }
        }
        Ok(())
    }

    fn len(&self) -> usize {
        self.values.len()
    }

    fn size_bytes(&self) -> usize {
        self.table.size_bytes() + self.values.capacity() * std::mem::size_of::<T::Native>()
    }

    fn emit(&self, ids: &[u32]) -> Result<Vec<ArrayRef>> {
        check_ids(ids, self.values.len())?;
        let values: Vec<T::Native> = ids.iter().map(|&id| self.values[id as usize]).collect();
        let array = PrimitiveArray::<T>::new(values.into(), null_mask(ids, self.null_group))
            .with_data_type(self.data_type.clone());
        Ok(vec![Arc::new(array)])
    }

    fn clear(&mut self) {
        self.table.clear();
        reset(&mut self.values);
        self.null_group = None;
    }
}

/// Group ids for `Float16` keys: the column is cast to `Float32` (exact) and interned by
/// a `PrimitiveGroupValues<Float32Type>`; emitted keys are cast back (exact as well).
#[derive(Debug)]
pub struct Float16GroupValues {
    inner: PrimitiveGroupValues<arrow::datatypes::Float32Type>,
}

impl Default for Float16GroupValues {
    fn default() -> Self {
        Self::new()
    }
}

impl Float16GroupValues {
    /// An empty table.
    pub fn new() -> Self {
        Float16GroupValues {
            inner: PrimitiveGroupValues::new(DataType::Float32),
        }
    }
}

impl GroupValues for Float16GroupValues {
    fn intern(&mut self, keys: &[ArrayRef], out: &mut Vec<u32>) -> Result<()> {
        let key = single_key(keys, &DataType::Float16)?;
        let widened = arrow::compute::cast(key, &DataType::Float32)?;
        self.inner.intern(&[widened], out)
    }

    fn len(&self) -> usize {
        self.inner.len()
    }

    fn size_bytes(&self) -> usize {
        self.inner.size_bytes()
    }

    fn emit(&self, ids: &[u32]) -> Result<Vec<ArrayRef>> {
        self.inner
            .emit(ids)?
            .iter()
            .map(|a| Ok(arrow::compute::cast(a, &DataType::Float16)?))
            .collect()
    }

    fn clear(&mut self) {
        self.inner.clear();
    }
}
