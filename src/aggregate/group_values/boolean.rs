//! Group ids for one Boolean key column: at most three groups (false, true, NULL), found
//! by indexing a three-entry array.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray};
use arrow::datatypes::DataType;

use super::{GroupValues, check_ids, single_key};
use crate::aggregate::hash_table::EMPTY;
use crate::error::Result;

/// Slot of the NULL group in [`BooleanGroupValues::ids`].
const NULL_SLOT: usize = 2;

/// Group ids for one Boolean key column.
#[derive(Debug)]
pub struct BooleanGroupValues {
    /// Group id of false, true and NULL (`EMPTY` until seen).
    ids: [u32; 3],
    /// Slot (0 false, 1 true, 2 NULL) of each group.
    slots: Vec<u8>,
}

impl Default for BooleanGroupValues {
    fn default() -> Self {
        Self::new()
    }
}

impl BooleanGroupValues {
    /// An empty table.
    pub fn new() -> Self {
        BooleanGroupValues {
            ids: [EMPTY; 3],
            slots: Vec::new(),
        }
    }

    #[inline(always)]
    fn id_of(&mut self, slot: usize) -> u32 {
        let id = self.ids[slot];
        if id != EMPTY {
            return id;
        }
        let id = self.slots.len() as u32;
        self.ids[slot] = id;
        self.slots.push(slot as u8);
        id
    }
}

impl GroupValues for BooleanGroupValues {
    fn intern(&mut self, keys: &[ArrayRef], out: &mut Vec<u32>) -> Result<()> {
        out.clear();
        let array = single_key(keys, &DataType::Boolean)?.as_boolean();
        out.reserve(array.len());
        match array.nulls().filter(|n| n.null_count() > 0) {
            None => out.extend(array.values().iter().map(|v| self.id_of(v as usize))),
            Some(nulls) => out.extend(array.values().iter().enumerate().map(|(i, v)| {
                self.id_of(if nulls.is_valid(i) {
                    v as usize
                } else {
                    NULL_SLOT
                })
            })),
        }
        Ok(())
    }

    fn len(&self) -> usize {
        self.slots.len()
    }

    fn size_bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.slots.capacity()
    }

    fn emit(&self, ids: &[u32]) -> Result<Vec<ArrayRef>> {
        check_ids(ids, self.slots.len())?;
        let array: BooleanArray = ids
            .iter()
            .map(|&id| match self.slots[id as usize] as usize {
                NULL_SLOT => None,
                v => Some(v == 1),
            })
            .collect();
        Ok(vec![Arc::new(array)])
    }

    fn clear(&mut self) {
        *self = Self::new();
    }
}
