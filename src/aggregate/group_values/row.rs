//! Group ids for key columns of any type arrow-row can encode (the fallback for types
//! without a specialised table: intervals, `Decimal256`, structs, lists, `Null`, ...).
//!
//! Each batch's keys become arrow-row rows (one byte string per row, equal iff the keys
//! are equal, NULLs included); a row's ahash is probed in a [`KeyTable`] of stored hashes
//! and confirmed against the arena copy of the group's row. Emission parses the stored
//! rows back into columns.

use arrow::array::ArrayRef;
use arrow::datatypes::DataType;
use arrow::row::{RowConverter, SortField};

use super::{GroupValues, check_capacity, check_ids};
use crate::aggregate::accumulator::reset;
use crate::aggregate::hash_table::{HashSeeds, KeyTable, StoredHash};
use crate::error::{Error, Result};

/// Group ids for key columns encoded as arrow-row rows.
#[derive(Debug)]
pub struct RowGroupValues {
    types: Vec<DataType>,
    converter: RowConverter,
    table: KeyTable<StoredHash>,
    hasher: ahash::RandomState,
    arena: Vec<u8>,
    offsets: Vec<usize>,
}

impl RowGroupValues {
    /// A table for keys of `types`.
    ///
    /// # Errors
    /// `NotSupported` if arrow-row cannot encode one of the types.
    pub fn try_new(types: &[DataType]) -> Result<Self> {
        let fields = types.iter().map(|t| SortField::new(t.clone())).collect();
        let converter = RowConverter::new(fields)
            .map_err(|e| Error::not_supported(format!("GROUP BY keys of types {types:?}: {e}")))?;
        Ok(RowGroupValues {
            types: types.to_vec(),
            converter,
            table: KeyTable::new(HashSeeds::random()),
            hasher: ahash::RandomState::new(),
            arena: Vec::new(),
            offsets: vec![0],
        })
    }
}

impl GroupValues for RowGroupValues {
    fn intern(&mut self, keys: &[ArrayRef], out: &mut Vec<u32>) -> Result<()> {
        out.clear();
        let types_match = keys.len() == self.types.len()
            && keys
                .iter()
                .zip(&self.types)
                .all(|(k, t)| k.data_type() == t);
        if !types_match {
            return Err(Error::internal(format!(
                "group keys of types {:?} given to a table for {:?}",
                keys.iter().map(|k| k.data_type()).collect::<Vec<_>>(),
                self.types
            )));
        }
        let rows = self.converter.convert_columns(keys)?;
        check_capacity(self.len(), rows.num_rows())?;
        out.reserve(rows.num_rows());
        for row in rows.iter() {
            let bytes = row.as_ref();
            let hash = self.hasher.hash_one(bytes);
            let next = (self.offsets.len() - 1) as u32;
            let (arena, offsets) = (&self.arena, &self.offsets);
            let (id, inserted) = self.table.find_or_insert(
                StoredHash(hash),
                hash,
                |id| &arena[offsets[id as usize]..offsets[id as usize + 1]] == bytes,
                next,
            );
            if inserted {
                self.arena.extend_from_slice(bytes);
                self.offsets.push(self.arena.len());
            }
            out.push(id);
        }
        Ok(())
    }

    fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    fn size_bytes(&self) -> usize {
        self.table.size_bytes()
            + self.arena.capacity()
            + self.offsets.capacity() * std::mem::size_of::<usize>()
            + self.converter.size()
    }

    fn emit(&self, ids: &[u32]) -> Result<Vec<ArrayRef>> {
        check_ids(ids, self.len())?;
        let parser = self.converter.parser();
        let rows = ids.iter().map(|&id| {
            let id = id as usize;
            parser.parse(&self.arena[self.offsets[id]..self.offsets[id + 1]])
        });
        Ok(self.converter.convert_rows(rows)?)
    }

    fn clear(&mut self) {
        self.table.clear();
        reset(&mut self.arena);
        reset(&mut self.offsets);
        self.offsets.push(0);
    }
}
