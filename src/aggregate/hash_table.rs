//! An open-addressing hash table from fixed-width keys to dense group ids.
//!
//! ```text
//!   key ──hash──▶ home slot (top bits) ──linear probe──▶ Slot { key, id }  (id = EMPTY: free)
//! ```
//! Keys live inline in the slots, so a lookup that hits touches one cache line. Variable-
//! width keys (long strings, encoded rows) store their hash as the key ([`StoredHash`])
//! and pass an equality test that compares the bytes kept by the caller.
//!
//! The table never stores more than half its slots (linear probing stays short: about
//! 1.5 probes for a hit, 2.5 for a miss), and doubles when it would.

/// The id of a free slot (never a group id: group ids stay below [`MAX_GROUPS`]).
pub(crate) const EMPTY: u32 = u32::MAX;

/// The most groups one table (or accumulator) may hold: ids are `u32`, and the top bit is
/// kept free for markers (see `DictionaryGroupValues`).
pub(crate) const MAX_GROUPS: usize = (1 << 31) - 1;

/// Initial slot count: small, so that one table per window stays cheap.
const INITIAL_SLOTS: usize = 16;

/// Tables up to this many slots keep them across `clear()` (refilled, not reallocated):
/// enough for the groups of any one batch of 8192 rows.
const RETAIN_SLOTS: usize = 1 << 14;

/// The multiply-and-fold step of ahash's fallback hasher: a 64x64 → 128-bit product,
/// halves XORed together. One multiply per key; every input bit reaches the low bits.
#[inline(always)]
pub(crate) fn folded_multiply(a: u64, b: u64) -> u64 {
    let full = (a as u128).wrapping_mul(b as u128);
    (full as u64) ^ ((full >> 64) as u64)
}

/// Odd 64-bit multipliers (from the digits of π, as ahash's constants).
const MUL_A: u64 = 0x243F_6A88_85A3_08D3;
const MUL_B: u64 = 0x1319_8A2E_0370_7345;

/// A per-table random seed (drawn from `ahash`'s randomness) for the fixed-width hash:
/// two tables, or a table and the executor's partitioning hash, never place keys alike,
/// and crafted keys cannot be aimed at one slot. One seed word (the multipliers are
/// constants) keeps the probe loop's registers free.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HashSeeds {
    k0: u64,
}

impl HashSeeds {
    /// A fresh random seed.
    pub(crate) fn random() -> Self {
        let state = ahash::RandomState::new();
        HashSeeds {
            k0: state.hash_one(0xA409_3822_299F_31D0_u64),
        }
    }

    /// Hash of a 64-bit key.
    #[inline(always)]
    pub(crate) fn hash_u64(&self, x: u64) -> u64 {
        folded_multiply(x ^ self.k0, MUL_A)
    }

    /// Hash of a 128-bit key (two words): one multiply of the seeded halves (ahash's
    /// 128-bit step). The second factor is zero only for one value of `hi`.
    #[inline(always)]
    pub(crate) fn hash_u128(&self, lo: u64, hi: u64) -> u64 {
        folded_multiply(lo ^ self.k0, hi ^ MUL_B)
    }

    /// Hash of two 128-bit keys: the first's hash folded into the second's.
    #[inline(always)]
    pub(crate) fn hash_pair(&self, a: Key128, b: Key128) -> u64 {
        folded_multiply(self.hash_u128(a.0[0], a.0[1]) ^ b.0[0], b.0[1] ^ MUL_A)
    }
}

/// A key type of [`KeyTable`].
pub(crate) trait TableKey: Copy + Eq + Default + Send + std::fmt::Debug + 'static {
    /// The hash used to place the key (must agree with the hash the caller passes in).
    fn hash(&self, seeds: &HashSeeds) -> u64;
}

impl TableKey for u64 {
    #[inline(always)]
    fn hash(&self, seeds: &HashSeeds) -> u64 {
        seeds.hash_u64(*self)
    }
}

/// A 128-bit key as two words (8-byte aligned, so a slot is 24 bytes, not 32).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub(crate) struct Key128(pub [u64; 2]);

impl Key128 {
    /// From a `u128` (low word first).
    #[inline(always)]
    pub(crate) fn from_u128(v: u128) -> Self {
        Key128([v as u64, (v >> 64) as u64])
    }
}

impl TableKey for Key128 {
    #[inline(always)]
    fn hash(&self, seeds: &HashSeeds) -> u64 {
        seeds.hash_u128(self.0[0], self.0[1])
    }
}

/// The hash of a variable-width key, stored in place of the key itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct StoredHash(pub u64);

impl TableKey for StoredHash {
    #[inline(always)]
    fn hash(&self, _seeds: &HashSeeds) -> u64 {
        self.0
    }
}

#[derive(Debug, Clone, Copy)]
struct Slot<K> {
    key: K,
    id: u32,
}

/// Open-addressing (linear probing) map from `K` to a `u32` id.
#[derive(Debug)]
pub(crate) struct KeyTable<K> {
    slots: Vec<Slot<K>>,
    mask: usize,
    /// `64 - log2(slots)`: a key's home slot is its hash's top bits (`hash >> shift`).
    shift: u32,
    len: usize,
    seeds: HashSeeds,
}

impl<K: TableKey> KeyTable<K> {
    /// An empty table.
    pub(crate) fn new(seeds: HashSeeds) -> Self {
        KeyTable {
            slots: Self::empty_slots(INITIAL_SLOTS),
            mask: INITIAL_SLOTS - 1,
            shift: Self::shift_for(INITIAL_SLOTS),
            len: 0,
            seeds,
        }
    }

    fn shift_for(slots: usize) -> u32 {
        64 - slots.trailing_zeros()
    }

    /// The home slot of a hash: its top bits. Keys then lie in the table in hash order,
    /// so doubling the table moves them in one forward sweep (no random writes).
    #[inline(always)]
    fn home(&self, hash: u64) -> usize {
        (hash >> self.shift) as usize
    }

    fn empty_slots(n: usize) -> Vec<Slot<K>> {
        vec![
            Slot {
                key: K::default(),
                id: EMPTY
            };
            n
        ]
    }

    /// The seeds keys are hashed with.
    #[inline(always)]
    pub(crate) fn seeds(&self) -> &HashSeeds {
        &self.seeds
    }

    /// Number of keys.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Bytes held.
    pub(crate) fn size_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot<K>>()
    }

    /// Forgets every key; keeps the slots of a small table, releases a large one's.
    pub(crate) fn clear(&mut self) {
        self.len = 0;
        if self.slots.len() <= RETAIN_SLOTS {
            // Reused batch after batch: keep the allocation.
            self.slots.fill(Slot {
                key: K::default(),
                id: EMPTY,
            });
            return;
        }
        self.slots = Self::empty_slots(INITIAL_SLOTS);
        self.mask = INITIAL_SLOTS - 1;
        self.shift = Self::shift_for(INITIAL_SLOTS);
    }

    /// The id of `key` (whose hash is `hash`, and for which `eq(id)` confirms a match
    /// among slots holding an equal `K`), inserting it with `new_id` when absent.
    /// Returns `(id, inserted)`.
    #[inline(always)]
    pub(crate) fn find_or_insert(
        &mut self,
        key: K,
        hash: u64,
        eq: impl Fn(u32) -> bool,
        new_id: u32,
    ) -> (u32, bool) {
        let mut pos = self.home(hash);
        loop {
            let slot = self.slots[pos];
            if slot.id == EMPTY {
                break;
            }
            if slot.key == key && eq(slot.id) {
                return (slot.id, false);
            }
            pos = (pos + 1) & self.mask;
        }
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
            pos = self.free_slot_for(hash);
        }
        self.slots[pos] = Slot { key, id: new_id };
        self.len += 1;
        (new_id, true)
    }

    /// Looks up the keys of rows `from..out.len()` (`key_of(i)`) while they are present,
    /// writing their ids to `out[i]`; returns the first row whose key is absent (or
    /// `out.len()`). The caller inserts that key and calls again from the next row.
    ///
    /// This is the hot loop of interning: read-only, out of line (so the table's slots,
    /// mask and seed stay in registers instead of being reloaded after every store to
    /// `out`). With `RUNS`, a one-entry cache makes runs of equal keys cost one
    /// comparison (worth it for single columns; wide keys skip it to save registers).
    /// Only for keys whose `==` is full equality (not [`StoredHash`]).
    #[inline(never)]
    pub(crate) fn lookup_run<const RUNS: bool>(
        &self,
        from: usize,
        out: &mut [u32],
        key_of: impl Fn(usize) -> K,
    ) -> usize {
        let (slots, seeds) = (&self.slots[..], &self.seeds);
        if slots.is_empty() {
            return from;
        }
        // `slots.len()` is a power of two: masking with `len - 1` keeps every index in
        // bounds, which the compiler can see (no bounds check in the probe).
        let mask = slots.len() - 1;
        let shift = self.shift;
        let find = |key: K| -> u32 {
            let mut pos = (key.hash(seeds) >> shift) as usize;
            loop {
                pos &= mask;
                let slot = slots[pos];
                if slot.id == EMPTY || slot.key == key {
                    return slot.id;
                }
                pos += 1;
            }
        };
        let n = out.len();
        if from >= n {
            return n;
        }
        if !RUNS {
            for (i, id) in (from..).zip(out[from..].iter_mut()) {
                let found = find(key_of(i));
                if found == EMPTY {
                    return i;
                }
                *id = found;
            }
            return n;
        }
        let mut last_key = key_of(from);
        let mut last_id = find(last_key);
        if last_id == EMPTY {
            return from;
        }
        for (i, id) in (from..).zip(out[from..].iter_mut()) {
            let key = key_of(i);
            if key != last_key {
                let found = find(key);
                if found == EMPTY {
                    return i;
                }
                last_key = key;
                last_id = found;
            }
            *id = last_id;
        }
        n
    }

    fn free_slot_for(&self, hash: u64) -> usize {
        let mut pos = self.home(hash);
        while self.slots[pos].id != EMPTY {
            pos = (pos + 1) & self.mask;
        }
        pos
    }

    #[cold]
    fn grow(&mut self) {
        let new_len = self.slots.len() * 2;
        let old = std::mem::replace(&mut self.slots, Self::empty_slots(new_len));
        self.mask = new_len - 1;
        self.shift = Self::shift_for(new_len);
        for slot in old.into_iter().filter(|s| s.id != EMPTY) {
            let pos = self.free_slot_for(slot.key.hash(&self.seeds));
            self.slots[pos] = slot;
        }
    }
}

/// A fixed-seed `ahash` state: hashes that must agree across accumulators (HyperLogLog
/// registers merged from two sketches) use it, and so are reproducible run to run.
pub(crate) fn fixed_ahash() -> ahash::RandomState {
    ahash::RandomState::with_seeds(
        0x9E37_79B9_7F4A_7C15,
        0xBF58_476D_1CE4_E5B9,
        0x94D0_49BB_1331_11EB,
        0x2545_F491_4F6C_DD1D,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_find_and_grow() {
        let mut t = KeyTable::<u64>::new(HashSeeds::random());
        for i in 0..10_000u64 {
            let h = t.seeds().hash_u64(i * 7919);
            assert_eq!(
                t.find_or_insert(i * 7919, h, |_| true, i as u32),
                (i as u32, true)
            );
        }
        assert_eq!(t.len(), 10_000);
        for i in 0..10_000u64 {
            let h = t.seeds().hash_u64(i * 7919);
            assert_eq!(
                t.find_or_insert(i * 7919, h, |_| true, 99),
                (i as u32, false)
            );
        }
        assert!(t.size_bytes() >= 20_000 * 16);
        t.clear();
        assert_eq!(t.len(), 0);
        assert_eq!(
            t.find_or_insert(0, t.seeds().hash_u64(0), |_| true, 7),
            (7, true)
        );
    }

    #[test]
    fn stored_hash_uses_eq_to_tell_collisions_apart() {
        let mut t = KeyTable::<StoredHash>::new(HashSeeds::random());
        // Two different "values" with the same hash: eq tells them apart.
        let values = ["a", "b"];
        let (a, _) = t.find_or_insert(StoredHash(5), 5, |id| values[id as usize] == "a", 0);
        let (b, ins) = t.find_or_insert(StoredHash(5), 5, |id| values[id as usize] == "b", 1);
        assert_eq!((a, b, ins), (0, 1, true));
        let (b2, ins) = t.find_or_insert(StoredHash(5), 5, |id| values[id as usize] == "b", 2);
        assert_eq!((b2, ins), (1, false));
    }
}
