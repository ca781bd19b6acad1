//! Group ids for several key columns.
//!
//! ```text
//!  column 0 ──▶ its own table ──▶ dense ids a[i] ─┐
//!  column 1 ──▶ its own table ──▶ dense ids b[i] ─┼─▶ packed key a | b << bits(a) | ...
//!  ...                                            ┘        │
//!      Grid   (Σ bits ≤ 16): grid[packed] is the group id — one array lookup per row
//!      Packed (Σ bits ≤ 64): packed key in a KeyTable<u64>
//!      Tuple  (wider):       hash of the id tuple, confirmed against the stored tuples
//! ```
//! Each column is interned by the specialised table for its type (so two string keys
//! cost two short-string probes, not a row encoding), and the id tuple is then combined
//! without touching the key bytes again. Each column gets as many bits as its current
//! number of distinct values needs (plus one bit of headroom when it grows); when a
//! column outgrows its bits, the grid or table is rebuilt from the stored tuples, moving
//! to the next mode when the total no longer fits. Low-cardinality keys (SPEC §9 S2: 20
//! traders x 10 symbols) therefore stay in a grid of a few KiB.
//!
//! Two string columns (the SPEC §9 S2 shape) first go through a
//! [`PairCache`](super::pair_cache) from both rows' inline keys to the group id; only the
//! rows it misses take the path above.

use arrow::array::ArrayRef;
use arrow::datatypes::DataType;

use arrow::array::UInt32Array;
use arrow::compute::take;

use super::pair_cache::PairCache;
use super::{GroupValues, check_capacity, check_ids, single_column};
use crate::aggregate::accumulator::reset;
use crate::aggregate::byte_arrays::is_bytes_type;
use crate::aggregate::hash_table::{EMPTY, HashSeeds, KeyTable, StoredHash, TableKey};
use crate::aggregate::scratch;
use crate::error::{Error, Result};

/// Rows a cold pair cache learns from (through the columnar path) before serving the
/// rest of the batch: enough to meet every pair of a low-cardinality key (S2 has 200).
const WARMUP_ROWS: usize = 512;

/// Widest packed key kept in a direct grid: 2^16 entries x 4 bytes = 256 KiB, small
/// enough to stay in L2.
const GRID_MAX_BITS: u32 = 16;

/// How the per-column ids are combined into a group id.
#[derive(Debug)]
enum Combine {
    /// `grid[packed key]` = group id (or `EMPTY`).
    Grid(Vec<u32>),
    /// Packed key → group id.
    Packed(KeyTable<u64>),
    /// Hash of the id tuple → group id.
    Tuple(KeyTable<StoredHash>),
}

/// Group ids for several key columns.
pub struct MultiGroupValues {
    types: Vec<DataType>,
    columns: Vec<Box<dyn GroupValues>>,
    /// Per group, its per-column ids (`columns.len()` of them).
    tuples: Vec<u32>,
    /// Per column: bits it takes in the packed key, and its shift.
    bits: Vec<u32>,
    shifts: Vec<u32>,
    combine: Combine,
    seeds: HashSeeds,
    /// Widest packed key (64; lowered by tests to reach the Tuple mode cheaply).
    max_packed_bits: u32,
    /// For exactly two byte-array columns: the key-pair cache in front of all this.
    pair_cache: Option<PairCache>,
}

impl std::fmt::Debug for MultiGroupValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MultiGroupValues")
            .field("columns", &self.columns.len())
            .field("groups", &self.len())
            .field("bits", &self.bits)
            .finish()
    }
}

/// Bits needed to hold ids `0..n`.
fn bits_for(n: usize) -> u32 {
    usize::BITS - n.saturating_sub(1).leading_zeros()
}

impl MultiGroupValues {
    /// A table for keys of `types` (two or more columns).
    ///
    /// # Errors
    /// `NotSupported` if a column's type cannot be a key.
    pub fn try_new(types: &[DataType]) -> Result<Self> {
        let columns = types
            .iter()
            .map(single_column)
            .collect::<Result<Vec<_>>>()?;
        let pair_cache = (types.len() == 2 && types.iter().all(is_bytes_type)).then(PairCache::new);
        Ok(MultiGroupValues {
            types: types.to_vec(),
            pair_cache,

            bits: vec![0; columns.len()],
            shifts: vec![0; columns.len()],
            columns,
            tuples: Vec::new(),
            combine: Combine::Grid(vec![EMPTY]),
            seeds: HashSeeds::random(),
            max_packed_bits: 64,
        })
    }

    fn width(&self) -> usize {
        self.columns.len()
    }

    /// The packed key of a stored group's tuple.
    fn packed_of(&self, tuple: &[u32]) -> u64 {
        tuple
            .iter()
            .zip(&self.shifts)
            .fold(0, |acc, (&id, &s)| acc | ((id as u64) << s))
    }

    /// The hash of an id tuple (Tuple mode).
    fn tuple_hash(seeds: &HashSeeds, tuple: impl Iterator<Item = u32>) -> u64 {
        tuple.fold(0, |h, id| seeds.hash_u64(h ^ id as u64).rotate_left(5))
    }

    /// Widens the columns' bit budgets for the current column cardinalities, rebuilding
    /// the grid or table (and changing mode) if any column outgrew its bits.
    fn fit_layout(&mut self) {
        if matches!(self.combine, Combine::Tuple(_)) {
            return;
        }
        let mut grew = false;
        for (c, column) in self.columns.iter().enumerate() {
            if bits_for(column.len()) > self.bits[c] {
                // One bit of headroom, so that steady growth rebuilds rarely.
                self.bits[c] = bits_for(column.len() * 2);
                grew = true;
            }
        }
        if !grew {
            return;
        }
        let total: u32 = self.bits.iter().sum();
        let mut shift = 0;
        for (c, &b) in self.bits.iter().enumerate() {
            self.shifts[c] = shift;
            shift += b;
        }
        let n = self.width();
        let groups = self.tuples.chunks_exact(n);
        self.combine = if total <= GRID_MAX_BITS {
            let mut grid = vec![EMPTY; 1 << total];
            for (g, tuple) in groups.enumerate() {
                grid[self.packed_of(tuple) as usize] = g as u32;
            }
            Combine::Grid(grid)
        } else if total <= self.max_packed_bits {
            let mut table = KeyTable::new(self.seeds);
            for (g, tuple) in groups.enumerate() {
                let k = self.packed_of(tuple);
                table.find_or_insert(k, k.hash(&self.seeds), |_| true, g as u32);
            }
            Combine::Packed(table)
        } else {
            let mut table = KeyTable::new(self.seeds);
            for (g, tuple) in groups.enumerate() {
                let h = Self::tuple_hash(&self.seeds, tuple.iter().copied());
                table.find_or_insert(StoredHash(h), h, |_| false, g as u32);
            }
            Combine::Tuple(table)
        };
    }

    /// Records a new group for row `i` of the batch and returns its id.
    #[inline]
    fn push_group(tuples: &mut Vec<u32>, column_ids: &[Vec<u32>], i: usize) -> u32 {
        let id = (tuples.len() / column_ids.len()) as u32;
        tuples.extend(column_ids.iter().map(|ids| ids[i]));
        id
    }
}

impl GroupValues for MultiGroupValues {
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
        if let Some(mut cache) = self.pair_cache.take() {
            let result = self.intern_cached(&mut cache, keys, out);
            self.pair_cache = Some(cache);
            return result;
        }
        self.intern_columnar(keys, out)
    }

    fn len(&self) -> usize {
        self.tuples.len() / self.width()
    }

    fn size_bytes(&self) -> usize {
        let combine = match &self.combine {
            Combine::Grid(grid) => grid.capacity() * 4,
            Combine::Packed(t) => t.size_bytes(),
            Combine::Tuple(t) => t.size_bytes(),
        };
        self.columns.iter().map(|c| c.size_bytes()).sum::<usize>()
            + self.tuples.capacity() * 4
            + self.pair_cache.as_ref().map_or(0, PairCache::size_bytes)
            + combine
    }

    fn emit(&self, ids: &[u32]) -> Result<Vec<ArrayRef>> {
        check_ids(ids, self.len())?;
        let n = self.width();
        let mut column_ids = Vec::with_capacity(ids.len());
        let mut out = Vec::with_capacity(n);
        for (c, column) in self.columns.iter().enumerate() {
            column_ids.clear();
            column_ids.extend(ids.iter().map(|&g| self.tuples[g as usize * n + c]));
            out.extend(column.emit(&column_ids)?);
        }
        Ok(out)
    }

    fn clear(&mut self) {
        for c in &mut self.columns {
            c.clear();
        }
        reset(&mut self.tuples);
        self.bits.iter_mut().for_each(|b| *b = 0);
        self.shifts.iter_mut().for_each(|s| *s = 0);
        self.combine = Combine::Grid(vec![EMPTY]);
        if let Some(cache) = &mut self.pair_cache {
            cache.clear();
        }
    }
}

impl MultiGroupValues {
    /// Interns through the two-string-column cache; the rows it misses go through the
    /// columnar path (taken out of the batch, in row order).
    fn intern_cached(
        &mut self,
        cache: &mut PairCache,
        keys: &[ArrayRef],
        out: &mut Vec<u32>,
    ) -> Result<()> {
        let rows = keys[0].len();
        if cache.is_cold() && rows > WARMUP_ROWS {
            // A cold cache (a new table, or one cleared for the next batch) learns from the
            // first rows through the columnar path, then serves the rest. Ids stay in
            // first-seen order: the head's rows all come before the tail's.
            let head: Vec<ArrayRef> = keys.iter().map(|k| k.slice(0, WARMUP_ROWS)).collect();
            let tail: Vec<ArrayRef> = keys
                .iter()
                .map(|k| k.slice(WARMUP_ROWS, rows - WARMUP_ROWS))
                .collect();
            self.intern_cached(cache, &head, out)?;
            let mut rest = scratch::take::<u32>();
            self.intern_cached(cache, &tail, &mut rest)?;
            out.extend_from_slice(&rest);
            scratch::give(rest);
            return Ok(());
        }
        let mut misses = scratch::take::<u32>();
        if !cache.probe(keys, out, &mut misses) {
            scratch::give(misses);
            return self.intern_columnar(keys, out);
        }
        if misses.is_empty() {
            scratch::give(misses);
            return Ok(());
        }
        let mut ids = scratch::take::<u32>();
        if misses.len() == rows {
            // Nothing was cached (a cold start): no need to take the rows out.
            self.intern_columnar(keys, &mut ids)?;
        } else {
            let indices = UInt32Array::from_iter_values(misses.iter().copied());
            let missed = keys
                .iter()
                .map(|k| take(k.as_ref(), &indices, None))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            self.intern_columnar(&missed, &mut ids)?;
        }
        for (&row, &id) in misses.iter().zip(&ids) {
            out[row as usize] = id;
        }
        cache.learn(keys, &misses, &ids, self.len());
        scratch::give(misses);
        scratch::give(ids);
        Ok(())
    }

    /// The general path: every column through its own table, then the id tuples
    /// combined.
    fn intern_columnar(&mut self, keys: &[ArrayRef], out: &mut Vec<u32>) -> Result<()> {
        out.clear();
        let rows = keys[0].len();
        check_capacity(self.len(), rows)?;
        let mut column_ids: Vec<Vec<u32>> = self.columns.iter().map(|_| scratch::take()).collect();
        for ((column, key), ids) in self.columns.iter_mut().zip(keys).zip(&mut column_ids) {
            column.intern(std::slice::from_ref(key), ids)?;
            if ids.len() != rows {
                return Err(Error::internal("key columns of different lengths"));
            }
        }
        self.fit_layout();

        // The packed key (or tuple hash) of every row, one column at a time.
        let mut packed = scratch::take::<u64>();
        if let Combine::Tuple(_) = self.combine {
            packed.resize(rows, 0);
            for ids in &column_ids {
                for (h, &id) in packed.iter_mut().zip(ids) {
                    *h = self.seeds.hash_u64(*h ^ id as u64).rotate_left(5);
                }
            }
        } else {
            packed.extend(column_ids[0].iter().map(|&id| id as u64));
            for (ids, &shift) in column_ids.iter().zip(&self.shifts).skip(1) {
                for (k, &id) in packed.iter_mut().zip(ids) {
                    *k |= (id as u64) << shift;
                }
            }
        }
        self.combine_rows(&column_ids, &packed, out);
        scratch::give(packed);
        column_ids.into_iter().for_each(scratch::give);
        Ok(())
    }

    /// Maps every row's packed key (or tuple hash) to its group id, adding new groups.
    fn combine_rows(&mut self, column_ids: &[Vec<u32>], packed: &[u64], out: &mut Vec<u32>) {
        let rows = packed.len();
        out.resize(rows, 0);
        let tuples = &mut self.tuples;
        match &mut self.combine {
            Combine::Grid(grid) => {
                // The grid's length is a power of two covering every packed key; the mask
                // only lets the compiler drop the bounds check.
                let mask = grid.len() - 1;
                let grid = &mut grid[..];
                for (i, (id, &k)) in out.iter_mut().zip(packed.iter()).enumerate() {
                    let slot = &mut grid[k as usize & mask];
                    if *slot == EMPTY {
                        *slot = Self::push_group(tuples, column_ids, i);
                    }
                    *id = *slot;
                }
            }
            Combine::Packed(table) => {
                let mut i = 0;
                while i < rows {
                    i = table.lookup_run::<true>(i, out, |j| packed[j]);
                    if let Some(&k) = packed.get(i) {
                        let next = (tuples.len() / column_ids.len()) as u32;
                        let (id, inserted) =
                            table.find_or_insert(k, k.hash(&self.seeds), |_| true, next);
                        if inserted {
                            Self::push_group(tuples, column_ids, i);
                        }
                        out[i] = id;
                        i += 1;
                    }
                }
            }
            Combine::Tuple(table) => {
                let n = column_ids.len();
                for (i, (id, &h)) in out.iter_mut().zip(packed.iter()).enumerate() {
                    let next = (tuples.len() / n) as u32;
                    let stored = &*tuples;
                    let (found, inserted) = table.find_or_insert(
                        StoredHash(h),
                        h,
                        |g| {
                            let t = &stored[g as usize * n..(g as usize + 1) * n];
                            t.iter().zip(column_ids).all(|(&a, ids)| a == ids[i])
                        },
                        next,
                    );
                    if inserted {
                        Self::push_group(tuples, column_ids, i);
                    }
                    *id = found;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray};

    use super::super::tests::check_table;
    use super::*;

    #[test]
    fn bits_for_counts() {
        assert_eq!(
            [0, 1, 2, 3, 4, 5, 256, 257].map(bits_for),
            [0, 0, 1, 2, 2, 3, 8, 9]
        );
    }

    /// Cardinalities that walk through all three modes, in several batches.
    #[test]
    fn grows_from_grid_to_packed_to_tuple() {
        let types = [DataType::Int64, DataType::Utf8, DataType::Int64];
        let mut t = MultiGroupValues::try_new(&types).unwrap();
        t.max_packed_bits = 32;
        let batch = |lo: i64, hi: i64, modulo: i64| -> Vec<ArrayRef> {
            vec![
                Arc::new(Int64Array::from_iter_values((lo..hi).map(|i| i % modulo))),
                Arc::new(StringArray::from_iter_values(
                    (lo..hi).map(|i| format!("s{}", i % 7)),
                )),
                Arc::new(Int64Array::from_iter_values((lo..hi).map(|i| i / 3))),
            ]
        };
        let batches = [
            batch(0, 50, 4),
            batch(50, 2000, 1000),
            batch(2000, 60_000, 40_000),
            batch(0, 100, 4),
        ];
        check_table(&mut t, &batches);
        assert!(matches!(t.combine, Combine::Tuple(_)), "{:?}", t.bits);
        let mut small = MultiGroupValues::try_new(&types).unwrap();
        check_table(&mut small, &batches[..1]);
        assert!(matches!(small.combine, Combine::Grid(_)));
        let mut mid = MultiGroupValues::try_new(&types).unwrap();
        check_table(&mut mid, &batches[..2]);
        assert!(matches!(mid.combine, Combine::Packed(_)));
    }

    /// Two string columns (the pair cache): cold start, warm batches, long strings
    /// (never cached), NULL batches (cache skipped), a view column, and high
    /// cardinality (the cache turns itself off) — ids always as the reference says.
    #[test]
    fn two_string_columns_through_the_pair_cache() {
        use arrow::array::StringViewArray;
        let batch = |lo: usize, hi: usize, modulo: usize| -> Vec<ArrayRef> {
            vec![
                Arc::new(StringArray::from_iter_values((lo..hi).map(|i| {
                    if i % 7 == 3 {
                        format!("a long trader name number {}", i % 5)
                    } else {
                        format!("T{}", i % 20)
                    }
                }))),
                Arc::new(StringViewArray::from_iter_values(
                    (lo..hi).map(|i| format!("S{}", (i / 20) % modulo)),
                )),
            ]
        };
        let with_nulls: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![Some("T1"), None, Some("T1")])),
            Arc::new(StringViewArray::from(vec![Some("S0"), Some("S0"), None])),
        ];
        let types = [DataType::Utf8, DataType::Utf8View];
        let mut t = MultiGroupValues::try_new(&types).unwrap();
        let batches = [
            batch(0, 500, 10),
            batch(500, 1200, 10),
            with_nulls.clone(),
            batch(1200, 3000, 12),
        ];
        check_table(&mut t, &batches);
        let cache = t.pair_cache.as_ref().unwrap();
        assert!(cache.enabled(), "low cardinality keeps the cache");
        assert!(cache.size_bytes() > 0);

        let mut high = MultiGroupValues::try_new(&types).unwrap();
        let batches = [
            batch(0, 1000, 1000),
            batch(20_000, 22_000, 100_000),
            batch(40_000, 42_000, 100_000),
            with_nulls,
        ];
        check_table(&mut high, &batches);
        assert!(
            !high.pair_cache.as_ref().unwrap().enabled(),
            "mostly misses turn it off"
        );
        high.clear();
        assert!(high.pair_cache.as_ref().unwrap().enabled());
    }

    /// A table reused per batch (cleared in between, as the executor's partial states
    /// are): every batch numbers from 0 again, with the pair cache cold each time.
    #[test]
    fn reuse_after_clear_renumbers_from_zero() {
        let mut t = MultiGroupValues::try_new(&[DataType::Utf8, DataType::Utf8]).unwrap();
        for round in 0..3 {
            let batch: Vec<ArrayRef> = vec![
                Arc::new(StringArray::from_iter_values(
                    (0..300).map(|i| format!("T{}", (i + round) % 20)),
                )),
                Arc::new(StringArray::from_iter_values(
                    (0..300).map(|i| format!("S{}", (i / 20) % 10)),
                )),
            ];
            check_table(&mut t, std::slice::from_ref(&batch));
            // A second batch on the warm cache before clearing.
            check_table_continue(&mut t, &batch);
            t.clear();
            assert_eq!(t.len(), 0);
        }
    }

    /// Interning the same batch again gives the ids of its first-seen order.
    fn check_table_continue(t: &mut MultiGroupValues, batch: &[ArrayRef]) {
        let mut first = Vec::new();
        let mut again = Vec::new();
        let n = t.len();
        t.intern(batch, &mut first).unwrap();
        t.intern(batch, &mut again).unwrap();
        assert_eq!(first, again);
        assert_eq!(t.len(), n, "no new groups");
    }
}
