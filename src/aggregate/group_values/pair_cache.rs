//! A cache in front of [`MultiGroupValues`](super::MultiGroupValues) for exactly two
//! string (or binary) key columns — `GROUP BY trader_id, symbol` — mapping both rows'
//! inline keys straight to the group id, so a row costs one hash and one probe instead
//! of two per-column probes plus the tuple combine.
//!
//! ```text
//!  phase 1 (probe):  (key_a(i), key_b(i)) ─▶ KeyTable<PairKey> ─ hit ─▶ out[i]
//!                                                               └ miss ─▶ misses
//!  phase 2 (learn):  misses ─take─▶ the columnar path (per-column tables + combine)
//!                    ─▶ out[miss rows]; short key pairs inserted into the cache
//! ```
//! The cache only remembers ids the columnar path has assigned, so it cannot change
//! any id: new groups are always numbered by the columnar path, in row order among the
//! missed rows, which keeps first-seen order. A pair with a long string (> 15 bytes) is
//! never cached (always a miss). Batches with NULL keys skip the cache. When more than
//! half of a batch misses (after the first batch, which starts cold), the cache turns
//! itself off: it does not pay for high-cardinality or long keys.

use arrow::array::{Array, ArrayRef};

use super::bytes::{is_marker, offsets_key, view_key};
use crate::aggregate::byte_arrays::BytesView;
use crate::aggregate::hash_table::{HashSeeds, Key128, KeyTable, TableKey};

/// Both columns' inline keys of one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct PairKey([Key128; 2]);

impl TableKey for PairKey {
    #[inline(always)]
    fn hash(&self, seeds: &HashSeeds) -> u64 {
        seeds.hash_pair(self.0[0], self.0[1])
    }
}

/// Identity, so that a `let`-bound closure can carry `#[inline(always)]` (allowed on a
/// closure only in argument position).
fn key_fn<F: Fn(usize) -> Key128 + Copy>(f: F) -> F {
    f
}

/// As [`key_fn`], for pair keys.
fn pair_fn<F: Fn(usize) -> PairKey + Copy>(f: F) -> F {
    f
}

/// The two-string-column cache (see the module doc).
#[derive(Debug)]
pub(crate) struct PairCache {
    table: KeyTable<PairKey>,
    /// Rows of the current batch the cache could not place, with their key pairs.
    misses: Vec<(u32, PairKey)>,
    batches: u64,
    enabled: bool,
}

impl PairCache {
    pub(crate) fn new() -> Self {
        PairCache {
            table: KeyTable::new(HashSeeds::random()),
            misses: Vec::new(),
            batches: 0,
            enabled: true,
        }
    }

    /// Phase 1: writes the ids of cached rows to `out` (resized to the batch) and
    /// collects the others in [`misses`](Self::misses). False (nothing done) if the
    /// batch cannot use the cache: turned off, NULL keys, or not two byte columns.
    pub(crate) fn probe(&mut self, keys: &[ArrayRef], out: &mut Vec<u32>) -> bool {
        if !self.enabled || keys.len() != 2 || keys.iter().any(|k| k.null_count() > 0) {
            return false;
        }
        let (Ok(a), Ok(b)) = (
            BytesView::try_new(keys[0].as_ref()),
            BytesView::try_new(keys[1].as_ref()),
        ) else {
            return false;
        };
        let n = keys[0].len();
        out.clear();
        out.resize(n, 0);
        self.misses.clear();
        // One monomorphised probe loop per pair of layouts.
        macro_rules! with_key_fn {
            ($view:expr, $f:ident => $body:expr) => {
                match $view {
                    BytesView::Small { offsets, data } => {
                        let $f = key_fn(
                            #[inline(always)]
                            |i: usize| offsets_key(offsets, data, i),
                        );
                        $body
                    }
                    BytesView::Large { offsets, data } => {
                        let $f = key_fn(
                            #[inline(always)]
                            |i: usize| offsets_key(offsets, data, i),
                        );
                        $body
                    }
                    BytesView::StringView(v) => {
                        let views = v.views();
                        let $f = key_fn(
                            #[inline(always)]
                            |i: usize| view_key(views[i], || v.value(i).as_bytes()),
                        );
                        $body
                    }
                    BytesView::BinaryView(v) => {
                        let views = v.views();
                        let $f = key_fn(
                            #[inline(always)]
                            |i: usize| view_key(views[i], || v.value(i)),
                        );
                        $body
                    }
                }
            };
        }
        with_key_fn!(a, key_a => with_key_fn!(b, key_b => self.probe_rows(n, key_a, key_b, out)));
        true
    }

    #[inline(always)]
    fn probe_rows(
        &mut self,
        n: usize,
        key_a: impl Fn(usize) -> Key128 + Copy,
        key_b: impl Fn(usize) -> Key128 + Copy,
        out: &mut [u32],
    ) {
        let key_of = pair_fn(
            #[inline(always)]
            move |i: usize| PairKey([key_a(i), key_b(i)]),
        );
        let mut i = 0;
        while i < n {
            i = self.table.lookup_run::<false>(i, out, key_of);
            if i < n {
                self.misses.push((i as u32, key_of(i)));
                i += 1;
            }
        }
    }

    /// Whether the cache is in use (it turns itself off when it does not pay).
    #[cfg(test)]
    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }

    /// The rows phase 1 left for the columnar path, in row order.
    pub(crate) fn misses(&self) -> &[(u32, PairKey)] {
        &self.misses
    }

    /// Phase 2: the columnar path gave the missed rows `ids` (same order); cache the
    /// short pairs, and decide whether the cache still pays (`rows` in the batch).
    pub(crate) fn learn(&mut self, ids: &[u32], rows: usize) {
        for (&(_, key), &id) in self.misses.iter().zip(ids) {
            let [a, b] = key.0;
            if !is_marker(a) && !is_marker(b) {
                let hash = key.hash(self.table.seeds());
                self.table.find_or_insert(key, hash, |_| true, id);
            }
        }
        self.batches += 1;
        if self.batches > 1 && self.misses.len() * 2 > rows {
            *self = PairCache {
                enabled: false,
                ..PairCache::new()
            };
        }
    }

    pub(crate) fn size_bytes(&self) -> usize {
        self.table.size_bytes() + self.misses.capacity() * std::mem::size_of::<(u32, PairKey)>()
    }

    /// Forgets everything and turns the cache back on.
    pub(crate) fn clear(&mut self) {
        *self = PairCache::new();
    }
}
