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
    /// Batches since the cache was (re)started.
    batches: u64,
    enabled: bool,
}

impl PairCache {
    pub(crate) fn new() -> Self {
        PairCache {
            table: KeyTable::new(HashSeeds::random()),
            batches: 0,
            enabled: true,
        }
    }

    /// Phase 1: writes the ids of cached rows to `out` (resized to the batch) and the
    /// other rows to `misses`. False (nothing done) if the batch cannot use the cache:
    /// turned off, NULL keys, or not two byte columns.
    pub(crate) fn probe(
        &mut self,
        keys: &[ArrayRef],
        out: &mut Vec<u32>,
        misses: &mut Vec<u32>,
    ) -> bool {
        if !self.enabled || keys.len() != 2 || keys.iter().any(|k| k.null_count() > 0) {
            return false;
        }
        let n = keys[0].len();
        out.clear();
        out.resize(n, 0);
        misses.clear();
        if self.table.len() == 0 {
            // Cold (new or just cleared): every row would miss; skip the probe.
            misses.extend(0..n as u32);
            return true;
        }
        let probe = Probe {
            table: &self.table,
            out,
            misses,
        };
        with_pair_key(keys, probe).is_some()
    }

    /// Whether the cache holds nothing yet (new, or cleared with its table).
    pub(crate) fn is_cold(&self) -> bool {
        self.enabled && self.table.len() == 0
    }

    /// Phase 2: the columnar path gave rows `misses` the ids `ids` (of `groups` groups);
    /// cache their pairs (short ones, each group once), and decide whether the cache
    /// still pays.
    pub(crate) fn learn(&mut self, keys: &[ArrayRef], misses: &[u32], ids: &[u32], groups: usize) {
        let learn = Learn {
            table: &mut self.table,
            misses,
            ids,
            learned: vec![false; groups],
        };
        with_pair_key(keys, learn);
        self.batches += 1;
        if self.batches > 1 && misses.len() * 2 > keys[0].len() {
            *self = PairCache {
                enabled: false,
                ..PairCache::new()
            };
        }
    }

    /// Whether the cache is in use (it turns itself off when it does not pay).
    #[cfg(test)]
    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }

    pub(crate) fn size_bytes(&self) -> usize {
        self.table.size_bytes()
    }

    /// Forgets everything and turns the cache back on.
    pub(crate) fn clear(&mut self) {
        self.table.clear();
        self.batches = 0;
        self.enabled = true;
    }
}

/// Work generic over the row-key function of a pair of column layouts (a closure cannot
/// be generic over the closure it receives, so the users are types).
trait PairKeyUser {
    type Output;
    fn run(self, key_of: impl Fn(usize) -> PairKey + Copy) -> Self::Output;
}

/// Phase 1 over one layout pair: the read-only probe loop.
struct Probe<'a> {
    table: &'a KeyTable<PairKey>,
    out: &'a mut [u32],
    misses: &'a mut Vec<u32>,
}

impl PairKeyUser for Probe<'_> {
    type Output = ();

    #[inline(always)]
    fn run(self, key_of: impl Fn(usize) -> PairKey + Copy) {
        let n = self.out.len();
        let mut i = 0;
        while i < n {
            i = self.table.lookup_run::<false>(i, self.out, key_of);
            if i < n {
                self.misses.push(i as u32);
                i += 1;
            }
        }
    }
}

/// Phase 2 over one layout pair: insert the short pairs of the missed rows.
struct Learn<'a> {
    table: &'a mut KeyTable<PairKey>,
    misses: &'a [u32],
    ids: &'a [u32],
    /// Groups already cached by this call (a cold batch repeats each group many times).
    learned: Vec<bool>,
}

impl PairKeyUser for Learn<'_> {
    type Output = ();

    fn run(mut self, key_of: impl Fn(usize) -> PairKey + Copy) {
        for (&row, &id) in self.misses.iter().zip(self.ids) {
            match self.learned.get_mut(id as usize) {
                Some(done) if !*done => *done = true,
                _ => continue,
            }
            let key = key_of(row as usize);
            let [a, b] = key.0;
            if !is_marker(a) && !is_marker(b) {
                let hash = key.hash(self.table.seeds());
                self.table.find_or_insert(key, hash, |_| true, id);
            }
        }
    }
}

/// Runs `user` with the row-key function of the two byte columns `keys` (one
/// monomorphised copy per pair of layouts); None if they are not two byte columns.
fn with_pair_key<U: PairKeyUser>(keys: &[ArrayRef], user: U) -> Option<U::Output> {
    let (Ok(a), Ok(b)) = (
        BytesView::try_new(keys.first()?.as_ref()),
        BytesView::try_new(keys.get(1)?.as_ref()),
    ) else {
        return None;
    };
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
    Some(with_key_fn!(a, key_a => with_key_fn!(b, key_b =>
        user.run(pair_fn(#[inline(always)] move |i: usize| PairKey([key_a(i), key_b(i)])))
    )))
}
