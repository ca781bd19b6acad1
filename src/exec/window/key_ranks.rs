//! The sort rank of every query-wide key id, so that the groups of a window are put in
//! key order (SPEC §4: ascending, NULLs last) by sorting `u32` ranks instead of the key
//! columns.
//!
//! ```text
//!  key table  id: 0 "b"  1 "a"  2 NULL  3 "c"      ranked once (lexsort of all keys)
//!  rank           1      0      3       2          re-ranked only when keys are added
//!  window keys [3, 0, 1] ──sort by rank──▶ [1, 0, 3]   (last order cached: a window
//!                                                       with the same key list reuses it)
//! ```

use arrow::array::ArrayRef;
use arrow::compute::{SortColumn, SortOptions, lexsort_to_indices};

use crate::aggregate::GroupValues;
use crate::error::Result;

/// Sort ranks of the key ids of one key table.
#[derive(Default)]
pub(super) struct KeyRanks {
    /// Key id → position in key order; valid for the first `rank.len()` ids.
    rank: Vec<u32>,
    /// The last key list ordered, and its order (positions into it).
    last_keys: Vec<u32>,
    last_order: Vec<u32>,
    /// Bumped whenever the cached key list changes.
    last_generation: u64,
    /// The key columns of the cached list in key order, once asked for.
    last_columns: Option<Vec<ArrayRef>>,
}

impl KeyRanks {
    /// Forgets every rank (the key table was rebuilt: ids changed meaning).
    pub(super) fn reset(&mut self) {
        self.rank.clear();
        self.last_keys.clear();
        self.last_order.clear();
        self.last_generation += 1;
        self.last_columns = None;
    }

    /// Ranks every key of `table` if keys were added since the last call.
    ///
    /// # Errors
    /// Key emission or sort errors.
    pub(super) fn refresh(&mut self, table: &dyn GroupValues) -> Result<()> {
        let n = table.len();
        if self.rank.len() == n {
            return Ok(());
        }
        let all: Vec<u32> = (0..n as u32).collect();
        let columns: Vec<SortColumn> = table
            .emit(&all)?
            .into_iter()
            .map(|values| SortColumn {
                values,
                options: Some(SortOptions {
                    descending: false,
                    nulls_first: false,
                }),
            })
            .collect();
        let sorted = lexsort_to_indices(&columns, None)?;
        self.rank.clear();
        self.rank.resize(n, 0);
        for (pos, &id) in sorted.values().iter().enumerate() {
            self.rank[id as usize] = pos as u32;
        }
        // adding keys keeps the relative order of the old ones: the cache stays valid
        Ok(())
    }

    /// Positions into `keys` (distinct, ranked ids) in key order.
    pub(super) fn order(&mut self, keys: &[u32]) -> &[u32] {
        if keys != self.last_keys.as_slice() {
            self.last_keys.clear();
            self.last_keys.extend_from_slice(keys);
            self.last_order.clear();
            self.last_order.extend(0..keys.len() as u32);
            let rank = &self.rank;
            self.last_order
                .sort_unstable_by_key(|&i| rank.get(keys[i as usize] as usize).copied());
            self.last_generation += 1;
            self.last_columns = None;
        }
        &self.last_order
    }

    /// Identifies the key list [`order`](Self::order) last ordered: equal generations,
    /// equal lists.
    pub(super) fn generation(&self) -> u64 {
        self.last_generation
    }

    /// The key columns of the list [`order`](Self::order) last ordered, in key order
    /// (emitted from `table` once per list).
    ///
    /// # Errors
    /// Key emission errors.
    pub(super) fn ordered_columns(&mut self, table: &dyn GroupValues) -> Result<&[ArrayRef]> {
        if self.last_columns.is_none() {
            let ids: Vec<u32> = self
                .last_order
                .iter()
                .map(|&i| self.last_keys[i as usize])
                .collect();
            self.last_columns = Some(table.emit(&ids)?);
        }
        Ok(self.last_columns.as_deref().unwrap_or_default())
    }

    pub(super) fn size_bytes(&self) -> usize {
        (self.rank.capacity() + self.last_keys.capacity() + self.last_order.capacity()) * 4
    }
}
