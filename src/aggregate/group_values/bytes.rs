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
//! 16-byte load, a mask, a multiply-hash and usually one probe. For `Utf8View` a string of
//! up to 12 bytes is keyed straight from its view.

use arrow::array::{Array, ArrayRef, OffsetSizeTrait};
use arrow::buffer::NullBuffer;
use arrow::datatypes::DataType;

use super::{GroupValues, check_capacity, check_ids, single_key};
use crate::aggregate::byte_arrays::{BytesView, build_bytes_array};
use crate::aggregate::hash_table::{HashSeeds, Key128, KeyTable, StoredHash, TableKey};
use crate::error::Result;

/// Strings of at most this many bytes are keyed inline (15 bytes + a length byte).
const SHORT_MAX: usize = 15;

/// A value no short key can take (its length byte is 0xFF): the empty run cache.
const NO_KEY: Key128 = Key128([u64::MAX, u64::MAX]);

/// One row, classified.
enum RowKey<'a> {
    Short(Key128),
    Long(&'a [u8]),
}

/// The inline key of the `len ≤ 15` bytes at `data[start..start + len]`.
#[inline(always)]
fn short_key(data: &[u8], start: usize, len: usize) -> Key128 {
    debug_assert!(len <= SHORT_MAX);
    let mut buf = [0u8; 16];
    match data.get(start..start + 16) {
        // One unaligned 16-byte load, the bytes past `len` masked off below.
        Some(chunk) => buf.copy_from_slice(chunk),
        None => buf[..len].copy_from_slice(&data[start..start + len]),
    }
    let bytes = u128::from_le_bytes(buf) & ((1u128 << (8 * len)) - 1);
    Key128::from_u128(bytes | ((len as u128) << 120))
}

/// The inline key of a `Utf8View`/`BinaryView` view whose string has `len ≤ 12` bytes.
#[inline(always)]
fn short_key_from_view(view: u128, len: usize) -> Key128 {
    let bytes = (view >> 32) & ((1u128 << (8 * len)) - 1);
    Key128::from_u128(bytes | ((len as u128) << 120))
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

    #[inline(always)]
    fn intern_short(&mut self, key: Key128) -> u32 {
        let hash = key.hash(self.short.seeds());
        let next = self.next_id();
        let (id, inserted) = self.short.find_or_insert(key, hash, |_| true, next);
        if inserted {
            let v = (key.0[0] as u128) | ((key.0[1] as u128) << 64);
            let len = (v >> 120) as usize;
            self.arena.extend_from_slice(&v.to_le_bytes()[..len]);
            self.offsets.push(self.arena.len());
        }
        id
    }

    #[inline]
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

    /// The loop shared by every layout: `row(i)` classifies row `i`.
    #[inline(always)]
    fn intern_rows<'a>(
        &mut self,
        n: usize,
        nulls: Option<&NullBuffer>,
        row: impl Fn(usize) -> RowKey<'a>,
        out: &mut Vec<u32>,
    ) {
        let mut last_short = NO_KEY;
        let mut last_short_id = 0;
        let mut last_long: Option<(&[u8], u32)> = None;
        let mut one = |this: &mut Self, i: usize| match row(i) {
            RowKey::Short(key) => {
                if key != last_short {
                    last_short = key;
                    last_short_id = this.intern_short(key);
                }
                last_short_id
            }
            RowKey::Long(bytes) => match last_long {
                Some((prev, id)) if prev == bytes => id,
                _ => {
                    let id = this.intern_long(bytes);
                    last_long = Some((bytes, id));
                    id
                }
            },
        };
        match nulls {
            None => {
                for i in 0..n {
                    let id = one(self, i);
                    out.push(id);
                }
            }
            Some(nulls) => {
                for i in 0..n {
                    let id = if nulls.is_valid(i) {
                        one(self, i)
                    } else {
                        self.null_id()
                    };
                    out.push(id);
                }
            }
        }
    }

    fn intern_offsets<O: OffsetSizeTrait>(
        &mut self,
        offsets: &[O],
        data: &[u8],
        nulls: Option<&NullBuffer>,
        out: &mut Vec<u32>,
    ) {
        let n = offsets.len().saturating_sub(1);
        self.intern_rows(
            n,
            nulls,
            |i| {
                let start = offsets[i].as_usize();
                let end = offsets[i + 1].as_usize();
                let len = end - start;
                if len <= SHORT_MAX {
                    RowKey::Short(short_key(data, start, len))
                } else {
                    RowKey::Long(&data[start..end])
                }
            },
            out,
        );
    }

    fn intern_views<'a>(
        &mut self,
        views: &[u128],
        value: impl Fn(usize) -> &'a [u8],
        nulls: Option<&NullBuffer>,
        out: &mut Vec<u32>,
    ) {
        self.intern_rows(
            views.len(),
            nulls,
            |i| {
                let view = views[i];
                let len = view as u32 as usize;
                if len <= 12 {
                    RowKey::Short(short_key_from_view(view, len))
                } else if len <= SHORT_MAX {
                    RowKey::Short(short_key(value(i), 0, len))
                } else {
                    RowKey::Long(value(i))
                }
            },
            out,
        );
    }
}

impl GroupValues for BytesGroupValues {
    fn intern(&mut self, keys: &[ArrayRef], out: &mut Vec<u32>) -> Result<()> {
        out.clear();
        let array = single_key(keys, &self.data_type)?;
        check_capacity(self.len(), array.len())?;
        out.reserve(array.len());
        let nulls = array.nulls().filter(|n| n.null_count() > 0);
        match BytesView::try_new(array.as_ref())? {
            BytesView::Small { offsets, data } => self.intern_offsets(offsets, data, nulls, out),
            BytesView::Large { offsets, data } => self.intern_offsets(offsets, data, nulls, out),
            BytesView::StringView(a) => {
                self.intern_views(a.views(), |i| a.value(i).as_bytes(), nulls, out)
            }
            BytesView::BinaryView(a) => self.intern_views(a.views(), |i| a.value(i), nulls, out),
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
        self.arena = Vec::new();
        self.offsets = vec![0];
        self.null_group = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_keys_tell_trailing_zero_bytes_from_shorter_strings() {
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
