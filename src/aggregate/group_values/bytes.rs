//! Group ids for one string or binary key column (`Utf8`, `LargeUtf8`, `Utf8View`,
//! `Binary`, `LargeBinary`, `BinaryView`).
//!
//! ```text
//!  row bytes ─┬─ len ≤ 15 ─▶ 128-bit key: bytes (little-endian) | len << 120
//!             │               ├─ equal to the previous row's key? reuse its id
//!             │               └─ short table (KeyTable<Key128>): hash + compare as integers
//!             └─ len > 15 ──▶ ahash of the bytes ─▶ long table (KeyTable<StoredHash>),
//!                              confirmed by comparing with the arena copy
//!  every group's bytes: arena (one Vec<u8>) + offsets, for emission and long compares
//! ```
//! Short keys need no arena access and no byte loop: a row costs two offset loads, one
//! 16-byte load, a mask, a multiply-hash and usually one probe, all inside the table's
//! read-only fast loop ([`KeyTable::lookup_run`]). For `Utf8View` a string of up to 12
//! bytes is keyed straight from its view. Rows the fast loop cannot place (a new key, a
//! NULL, a long string) leave it one at a time.

use arrow::array::{Array, ArrayRef, OffsetSizeTrait};
use arrow::buffer::NullBuffer;
use arrow::datatypes::DataType;

use super::{GroupValues, check_capacity, check_ids, single_key};
use crate::aggregate::accumulator::reset;
use crate::aggregate::byte_arrays::{BytesView, build_bytes_array};
use crate::aggregate::hash_table::{HashSeeds, Key128, KeyTable, StoredHash, TableKey};
use crate::aggregate::scratch;
use crate::error::Result;

/// Strings of at most this many bytes are keyed inline (15 bytes + a length byte).
const SHORT_MAX: usize = 15;

/// Marker keys: their length byte is 0xFF, which no short key has, so they are never in
/// the short table. A NULL row:
pub(crate) const NULL_ROW: Key128 = Key128([0, (0xFF << 56) | 1]);
/// A row longer than `SHORT_MAX` (looked up by its bytes).
pub(crate) const LONG_ROW: Key128 = Key128([0, (0xFF << 56) | 2]);

#[inline(always)]
pub(crate) fn is_marker(key: Key128) -> bool {
    key.0[1] >> 56 == 0xFF
}

/// The inline key of the `len ≤ 15` bytes at `data[start..start + len]`.
#[inline(always)]
fn short_key(data: &[u8], start: usize, len: usize) -> Key128 {
    debug_assert!(len <= SHORT_MAX);
    let bytes = match data.get(start..).and_then(<[u8]>::first_chunk::<16>) {
        // One unaligned 16-byte load; the bytes past `len` are masked off.
        Some(chunk) => u128::from_le_bytes(*chunk),
        None => load_tail(&data[start..start + len]),
    };
    let [lo_mask, hi_mask] = SHORT_MASKS[len & 15];
    Key128([
        bytes as u64 & lo_mask,
        ((bytes >> 64) as u64 & hi_mask) | ((len as u64) << 56),
    ])
}

/// `SHORT_MASKS[len]` keeps the low `len` bytes of a 16-byte load (two words).
const SHORT_MASKS: [[u64; 2]; 16] = {
    let mut masks = [[0u64; 2]; 16];
    let mut len = 0;
    while len < 16 {
        let bits = 8 * len as u32;
        masks[len] = if bits < 64 {
            [(1u64 << bits) - 1, 0]
        } else {
            [u64::MAX, (1u64 << (bits - 64)) - 1]
        };
        len += 1;
    }
    masks
};

/// The little-endian value of fewer than 16 bytes at the very end of a buffer.
#[cold]
fn load_tail(bytes: &[u8]) -> u128 {
    bytes.iter().rev().fold(0, |acc, &b| (acc << 8) | b as u128)
}

/// The inline key of a `Utf8View`/`BinaryView` view whose string has `len ≤ 12` bytes.
#[inline(always)]
fn short_key_from_view(view: u128, len: usize) -> Key128 {
    let bytes = (view >> 32) & ((1u128 << (8 * len)) - 1);
    Key128::from_u128(bytes | ((len as u128) << 120))
}

/// The key of row `i` of an offsets layout: its short key, or `LONG_ROW`.
#[inline(always)]
pub(crate) fn offsets_key<O: OffsetSizeTrait>(offsets: &[O], data: &[u8], i: usize) -> Key128 {
    let (start, end) = (offsets[i].as_usize(), offsets[i + 1].as_usize());
    let len = end.wrapping_sub(start);
    if len <= SHORT_MAX {
        short_key(data, start, len)
    } else {
        LONG_ROW
    }
}

/// The key of a view: inline strings straight from the view, 13-15 bytes from the
/// buffer (`value`), longer ones `LONG_ROW`.
#[inline(always)]
pub(crate) fn view_key<'a>(view: u128, value: impl FnOnce() -> &'a [u8]) -> Key128 {
    let len = view as u32 as usize;
    if len <= 12 {
        short_key_from_view(view, len)
    } else if len <= SHORT_MAX {
        short_key(value(), 0, len)
    } else {
        LONG_ROW
    }
}

/// Group ids for one string or binary key column.
#[derive(Debug)]
pub struct BytesGroupValues {
    data_type: DataType,
    short: KeyTable<Key128>,
    long: KeyTable<StoredHash>,
    long_hasher: ahash::RandomState,
    /// Bytes of every group, back to back (the NULL group holds none).
    arena: Vec<u8>,
    /// `arena[offsets[g]..offsets[g + 1]]` are the bytes of group `g`.
    offsets: Vec<usize>,
    null_group: Option<u32>,
}

impl BytesGroupValues {
    /// A table for keys of `data_type` (one of the six byte-array types).
    pub fn new(data_type: DataType) -> Self {
        let seeds = HashSeeds::random();
        BytesGroupValues {
            data_type,
            short: KeyTable::new(seeds),
            long: KeyTable::new(seeds),
            long_hasher: ahash::RandomState::new(),
            arena: Vec::new(),
            offsets: vec![0],
            null_group: None,
        }
    }

    #[inline(always)]
    fn next_id(&self) -> u32 {
        (self.offsets.len() - 1) as u32
    }

    fn intern_short(&mut self, key: Key128) -> u32 {
        let hash = key.hash(self.short.seeds());
        let next = self.next_id();
        let (id, inserted) = self.short.find_or_insert(key, hash, |_| true, next);
        if inserted {
            let len = (key.0[1] >> 56) as usize;
            let bytes = (key.0[0] as u128) | (((key.0[1] & !(0xFF << 56)) as u128) << 64);
            self.arena.extend_from_slice(&bytes.to_le_bytes()[..len]);
            self.offsets.push(self.arena.len());
        }
        id
    }

    fn intern_long(&mut self, bytes: &[u8]) -> u32 {
        let hash = self.long_hasher.hash_one(bytes);
        let next = self.next_id();
        let (arena, offsets) = (&self.arena, &self.offsets);
        let (id, inserted) = self.long.find_or_insert(
            StoredHash(hash),
            hash,
            |id| &arena[offsets[id as usize]..offsets[id as usize + 1]] == bytes,
            next,
        );
        if inserted {
            self.arena.extend_from_slice(bytes);
            self.offsets.push(self.arena.len());
        }
        id
    }

    fn null_id(&mut self) -> u32 {
        match self.null_group {
            Some(id) => id,
            None => {
                let id = self.next_id();
                self.offsets.push(self.arena.len());
                self.null_group = Some(id);
                id
            }
        }
    }

    /// The group id of every row `0..n`: `key_of(i)` is row `i`'s short key or
    /// `LONG_ROW`, `long_value(i)` its bytes.
    ///
    /// Without NULLs the keys are computed inside the probe loop; with NULLs they are
    /// first written to a scratch vector (NULL rows marked), then probed.
    fn intern_rows<'a>(
        &mut self,
        n: usize,
        nulls: Option<&NullBuffer>,
        key_of: impl Fn(usize) -> Key128 + Copy,
        long_value: impl Fn(usize) -> &'a [u8],
        out: &mut Vec<u32>,
    ) {
        match nulls {
            None => self.resolve(n, key_of, long_value, out),
            Some(nulls) => {
                let mut keys = scratch::take::<Key128>();
                keys.extend((0..n).map(|i| {
                    if nulls.is_valid(i) {
                        key_of(i)
                    } else {
                        NULL_ROW
                    }
                }));
                let keys_ref = &keys;
                self.resolve(
                    n,
                    #[inline(always)]
                    |i| keys_ref[i],
                    long_value,
                    out,
                );
                scratch::give(keys);
            }
        }
    }

    /// Present short keys go through the table's read-only fast loop; absent keys,
    /// NULLs and long strings (markers are never in the short table) one at a time here.
    #[inline(always)]
    fn resolve<'a>(
        &mut self,
        n: usize,
        key_of: impl Fn(usize) -> Key128 + Copy,
        long_value: impl Fn(usize) -> &'a [u8],
        out: &mut Vec<u32>,
    ) {
        // every id is written below
        super::size_ids(out, n);
        let mut i = 0;
        while i < n {
            i = self.short.lookup_run::<true>(i, out, key_of);
            if i < n {
                let key = key_of(i);
                out[i] = if !is_marker(key) {
                    self.intern_short(key)
                } else if key == NULL_ROW {
                    self.null_id()
                } else {
                    self.intern_long(long_value(i))
                };
                i += 1;
            }
        }
    }
}

impl GroupValues for BytesGroupValues {
    fn intern(&mut self, keys: &[ArrayRef], out: &mut Vec<u32>) -> Result<()> {
        let array = single_key(keys, &self.data_type)?;
        check_capacity(self.len(), array.len())?;
        let nulls = array.nulls().filter(|n| n.null_count() > 0);
        let n = array.len();
        match BytesView::try_new(array.as_ref())? {
            BytesView::Small { offsets, data } => self.intern_rows(
                n,
                nulls,
                #[inline(always)]
                |i| offsets_key(offsets, data, i),
                |i| &data[offsets[i] as usize..offsets[i + 1] as usize],
                out,
            ),
            BytesView::Large { offsets, data } => self.intern_rows(
                n,
                nulls,
                #[inline(always)]
                |i| offsets_key(offsets, data, i),
                |i| &data[offsets[i] as usize..offsets[i + 1] as usize],
                out,
            ),
            BytesView::StringView(a) => {
                let views = a.views();
                self.intern_rows(
                    n,
                    nulls,
                    #[inline(always)]
                    |i| view_key(views[i], || a.value(i).as_bytes()),
                    |i| a.value(i).as_bytes(),
                    out,
                )
            }
            BytesView::BinaryView(a) => {
                let views = a.views();
                self.intern_rows(
                    n,
                    nulls,
                    #[inline(always)]
                    |i| view_key(views[i], || a.value(i)),
                    |i| a.value(i),
                    out,
                )
            }
        }
        Ok(())
    }

    fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    fn size_bytes(&self) -> usize {
        self.short.size_bytes()
            + self.long.size_bytes()
            + self.arena.capacity()
            + self.offsets.capacity() * std::mem::size_of::<usize>()
    }

    fn emit(&self, ids: &[u32]) -> Result<Vec<ArrayRef>> {
        check_ids(ids, self.len())?;
        let values = ids.iter().map(|&id| {
            (Some(id) != self.null_group).then(|| {
                let id = id as usize;
                &self.arena[self.offsets[id]..self.offsets[id + 1]]
            })
        });
        Ok(vec![build_bytes_array(&self.data_type, values)?])
    }

    fn clear(&mut self) {
        self.short.clear();
        self.long.clear();
        reset(&mut self.arena);
        reset(&mut self.offsets);
        self.offsets.push(0);
        self.null_group = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_keys_tell_trailing_zero_bytes_from_shorter_strings() {
        assert!(!is_marker(short_key(
            b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
            0,
            15
        )));
        let data = b"a\0a\0\0xxxxxxxxxxxxxxxxxxxx";
        assert_ne!(short_key(data, 0, 1), short_key(data, 0, 2));
        assert_eq!(short_key(data, 0, 2), short_key(data, 2, 2));
        assert_ne!(short_key(data, 2, 2), short_key(data, 2, 3));
        // Near the end of the buffer (no 16 bytes left) the slow copy gives the same key.
        let tail = b"xyab";
        assert_eq!(short_key(tail, 2, 2), short_key(b"ab..............", 0, 2));
    }

    #[test]
    fn view_keys_match_offset_keys() {
        let a = arrow::array::StringViewArray::from(vec!["hello", ""]);
        let v = a.views()[0];
        assert_eq!(short_key_from_view(v, 5), short_key(b"hello", 0, 5));
        assert_eq!(short_key_from_view(a.views()[1], 0), short_key(b"", 0, 0));
    }
}
