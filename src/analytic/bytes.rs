//! `MIN`, `MAX`, `FIRST_VALUE` and `LAG` over strings and binaries, and the pass-through
//! kernel (`LAST_VALUE`, `LAG(x, 0)`) for any type.
//!
//! The frame's values are copied into one byte arena per kernel and referred to by
//! (start, length) handles, so the rings and deques hold fixed-size entries and a row
//! costs no allocation. Bytes of values that left the frame are reclaimed by compaction:
//! when the arena holds more than twice the live bytes (plus a slack), the live values are
//! copied to a fresh arena: amortised O(1) per byte.
//!
//! ```text
//!  arena  [ "SYM1" | dead | "SYM7" | dead dead | "SYM2" ]   live = 12 bytes
//!  ring[k] = [(0,4) (9,4) (20,4)]   ──compact──▶  [ "SYM1" "SYM7" "SYM2" ]
//! ```
//! These kernels see every row of a batch in order (results are built in row order) and
//! hold the state of every key: they run beside the per-owner kernels, not split by key.
//!
//! Over a time RANGE frame (MIN, MAX, FIRST_VALUE) a key keeps its frame's values sorted
//! by order key, evicted by key as in [`super::range`] (same semantics: late rows are
//! inserted among the kept ones, rows below the range and NULL keys are alone), and MIN /
//! MAX a monotonic deque of handles into them.

use arrow::array::PrimitiveArray;
use arrow::array::{
    Array, ArrayRef, BinaryArray, BinaryViewArray, GenericByteArray, GenericByteViewArray,
    LargeBinaryArray, LargeStringArray, StringArray, StringViewArray,
};
use arrow::datatypes::{ByteArrayType, ByteViewType, DataType, Int64Type};

use super::kernel::{KernelInput, SequentialKernel, grow};
use super::range::order_keys;
use super::ring::{Deque, Ring};
use crate::aggregate::byte_arrays::build_bytes_array;
use crate::error::{Error, Result};

/// Compaction slack: an arena smaller than this is never compacted.
const ARENA_SLACK_BYTES: usize = 64 << 10;

/// A value in the arena.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Handle {
    start: usize,
    len: usize,
}

/// A value that may be NULL.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    h: Handle,
    valid: bool,
}

#[derive(Debug, Default)]
struct Arena {
    data: Vec<u8>,
    live: usize,
}

impl Arena {
    fn put(&mut self, bytes: &[u8]) -> Handle {
        let h = Handle {
            start: self.data.len(),
            len: bytes.len(),
        };
        self.data.extend_from_slice(bytes);
        self.live += bytes.len();
        h
    }

    fn get(&self, h: Handle) -> &[u8] {
        self.data.get(h.start..h.start + h.len).unwrap_or_default()
    }

    fn release(&mut self, h: Handle) {
        self.live = self.live.saturating_sub(h.len);
    }

    fn wants_compaction(&self) -> bool {
        self.data.len() > 2 * self.live + ARENA_SLACK_BYTES
    }
}

/// What a byte kernel computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BytesOp {
    /// `MIN(x)`.
    Min,
    /// `MAX(x)`.
    Max,
    /// `FIRST_VALUE(x)`.
    First,
    /// `LAG(x, k)`, `k ≥ 1`.
    Lag(usize),
}

#[derive(Debug, Clone, Default)]
struct KeyState {
    rows: u64,
    /// FIRST_VALUE / LAG: the last values.
    ring: Ring<Slot>,
    /// MIN / MAX: (row number, value), monotonic.
    deque: Deque<(u64, Handle)>,
    /// UNBOUNDED FIRST_VALUE: the first value; UNBOUNDED MIN/MAX: the extreme so far.
    kept: Option<Slot>,
    /// RANGE frames: the frame's (order key, value), sorted by key.
    sorted: Deque<(i64, Slot)>,
    /// RANGE MIN/MAX: monotonic (order key, value) over `sorted`.
    extremes: Deque<(i64, Handle)>,
}

/// MIN / MAX / FIRST_VALUE / LAG over a byte-array column.
#[derive(Debug)]
pub(crate) struct BytesKernel {
    op: BytesOp,
    /// Frame rows (`None`: UNBOUNDED); for LAG the offset.
    cap: Option<usize>,
    /// RANGE frames: the span in the order key's units.
    range: Option<i64>,
    data_type: DataType,
    arena: Arena,
    states: Vec<KeyState>,
    /// Heap bytes of the rings and deques.
    held_bytes: usize,
    /// Per-batch result spans (into `out_data`) and validity.
    out_data: Vec<u8>,
    out_spans: Vec<(usize, usize, bool)>,
}

impl BytesKernel {
    pub(crate) fn new(op: BytesOp, frame_rows: Option<u64>, data_type: DataType) -> Self {
        let cap = match op {
            BytesOp::Lag(k) => Some(k.max(1)),
            _ => frame_rows.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        };
        BytesKernel {
            op,
            cap,
            range: None,
            data_type,
            arena: Arena::default(),
            states: Vec::new(),
            held_bytes: 0,
            out_data: Vec::new(),
            out_spans: Vec::new(),
        }
    }

    /// MIN / MAX / FIRST_VALUE (`op`) over a time RANGE frame of `span` order-key units.
    pub(crate) fn new_range(op: BytesOp, span: i64, data_type: DataType) -> Self {
        BytesKernel {
            range: Some(span),
            ..BytesKernel::new(op, None, data_type)
        }
    }

    /// Copies the live values to a fresh arena and rewrites their handles.
    fn compact(&mut self) {
        let old = std::mem::take(&mut self.arena.data);
        let mut fresh = Arena {
            data: Vec::with_capacity(self.arena.live),
            live: 0,
        };
        let mut moved = |h: &mut Handle| {
            let bytes = old.get(h.start..h.start + h.len).unwrap_or_default();
            *h = fresh.put(bytes);
        };
        for s in &mut self.states {
            for slot in s.ring.values_mut() {
                if slot.valid {
                    moved(&mut slot.h);
                }
            }
            s.deque.for_each_mut(|(_, h)| moved(h));
            if let Some(k) = &mut s.kept
                && k.valid
            {
                moved(&mut k.h);
            }
            s.sorted.for_each_mut(|(_, slot)| {
                if slot.valid {
                    moved(&mut slot.h);
                }
            });
        }
        self.arena = fresh;
        // the extremes point into the sorted values: rebuilt over the moved ones
        if self.range.is_some() && matches!(self.op, BytesOp::Min | BytesOp::Max) {
            for s in &mut self.states {
                rebuild_extremes(self.op, s, &self.arena, &mut self.held_bytes);
            }
        }
    }

    /// Advances key `p` by one row of a RANGE frame with order key `t` (`None`: NULL)
    /// holding `value`; returns where the row's result is.
    fn row_range(&mut self, p: usize, t: Option<i64>, value: Option<&[u8]>) -> RowResult {
        let (op, span) = (self.op, self.range.unwrap_or(0));
        let Some(s) = self.states.get_mut(p) else {
            return RowResult::Null;
        };
        let arena = &mut self.arena;
        let held = &mut self.held_bytes;
        let max = s.sorted.back().map(|(t, _)| t);
        let t = match (t, max) {
            (Some(t), Some(max)) if t >= max.saturating_sub(span) => t,
            (Some(t), None) => t,
            // a NULL key, or below the range of every kept row: a frame of its own
            _ => {
                return match value {
                    Some(b) => {
                        let h = arena.put(b);
                        arena.release(h);
                        RowResult::Arena(h)
                    }
                    None => RowResult::Null,
                };
            }
        };
        let slot = match value {
            Some(b) => Slot {
                h: arena.put(b),
                valid: true,
            },
            None => Slot::default(),
        };
        if max.is_none_or(|max| t >= max) {
            let floor = t.saturating_sub(span);
            while let Some((front, old)) = s.sorted.front() {
                if front >= floor {
                    break;
                }
                s.sorted.pop_front();
                if old.valid {
                    arena.release(old.h);
                }
            }
            s.sorted.push_back((t, slot), usize::MAX, held);
            let result = match op {
                BytesOp::Min | BytesOp::Max => {
                    while s.extremes.front().is_some_and(|(e, _)| e < floor) {
                        s.extremes.pop_front();
                    }
                    if slot.valid {
                        let v = arena.get(slot.h);
                        s.extremes
                            .pop_back_while(|&(_, h)| !beats(op, arena.get(h), v));
                        s.extremes.push_back((t, slot.h), usize::MAX, held);
                    }
                    s.extremes.front().map(|(_, h)| h)
                }
                _ => s.sorted.front().filter(|(_, f)| f.valid).map(|(_, f)| f.h),
            };
            return result.map_or(RowResult::Null, RowResult::Arena);
        }
        // late: after the kept rows with a key ≤ t; its frame is the rows up to it
        let (mut lo, mut hi) = (0usize, s.sorted.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match s.sorted.get(mid) {
                Some((k, _)) if k <= t => lo = mid + 1,
                _ => hi = mid,
            }
        }
        s.sorted.insert(lo, (t, slot), usize::MAX, held);
        let frame = s.sorted.iter_first(lo + 1).filter(|(_, v)| v.valid);
        let result = match op {
            BytesOp::Min | BytesOp::Max => {
                let best = frame.map(|(_, v)| v.h).reduce(|best, h| {
                    if beats(op, arena.get(h), arena.get(best)) {
                        h
                    } else {
                        best
                    }
                });
                if slot.valid {
                    rebuild_extremes(op, s, arena, held);
                }
                best
            }
            _ => s.sorted.front().filter(|(_, f)| f.valid).map(|(_, f)| f.h),
        };
        result.map_or(RowResult::Null, RowResult::Arena)
    }

    /// Advances key `p` by one row holding `value`; returns where the row's result is.
    fn row(&mut self, p: usize, value: Option<&[u8]>) -> RowResult {
        let op = self.op;
        let cap = self.cap;
        let Some(s) = self.states.get_mut(p) else {
            return RowResult::Null;
        };
        s.rows += 1;
        let seq = s.rows;
        let arena = &mut self.arena;
        let slot_of = |arena: &mut Arena, value: Option<&[u8]>| match value {
            Some(b) => Slot {
                h: arena.put(b),
                valid: true,
            },
            None => Slot::default(),
        };
        let kept = match (op, cap) {
            (BytesOp::First, None) => {
                if s.kept.is_none() {
                    s.kept = Some(slot_of(arena, value));
                }
                s.kept.filter(|k| k.valid).map(|k| k.h)
            }
            (BytesOp::First, Some(cap)) => {
                let slot = slot_of(arena, value);
                if let Some(old) = s.ring.push(slot, cap, &mut self.held_bytes)
                    && old.valid
                {
                    arena.release(old.h);
                }
                s.ring.front().filter(|f| f.valid).map(|f| f.h)
            }
            (BytesOp::Lag(_), Some(cap)) => {
                let slot = slot_of(arena, value);
                // a push into a full ring evicts the value `k` rows back: the result
                // (its bytes stay in the arena until the compaction after the batch)
                return match s.ring.push(slot, cap, &mut self.held_bytes) {
                    Some(old) if old.valid => {
                        arena.release(old.h);
                        RowResult::Arena(old.h)
                    }
                    Some(_) => RowResult::Null,
                    None => RowResult::Default,
                };
            }
            (BytesOp::Lag(_), None) => return RowResult::Default,
            (BytesOp::Min | BytesOp::Max, None) => {
                if let Some(b) = value {
                    let better = match s.kept {
                        Some(k) => beats(op, b, arena.get(k.h)),
                        None => true,
                    };
                    if better {
                        if let Some(k) = s.kept {
                            arena.release(k.h);
                        }
                        s.kept = Some(Slot {
                            h: arena.put(b),
                            valid: true,
                        });
                    }
                }
                s.kept.map(|k| k.h)
            }
            (BytesOp::Min | BytesOp::Max, Some(cap)) => {
                while let Some((front, h)) = s.deque.front() {
                    if seq - front >= cap as u64 {
                        s.deque.pop_front();
                        arena.release(h);
                    } else {
                        break;
                    }
                }
                if let Some(b) = value {
                    while let Some((_, h)) = s.deque.back() {
                        if beats(op, arena.get(h), b) {
                            break;
                        }
                        s.deque.pop_back();
                        arena.release(h);
                    }
                    let h = arena.put(b);
                    s.deque.push_back((seq, h), cap, &mut self.held_bytes);
                }
                s.deque.front().map(|(_, h)| h)
            }
        };
        match kept {
            Some(h) => RowResult::Arena(h),
            None => RowResult::Null,
        }
    }
}

/// Where a row's result is.
#[derive(Debug, Clone, Copy)]
enum RowResult {
    Null,
    Arena(Handle),
    /// LAG's default (the default column's value at the row, or NULL).
    Default,
}

/// Rebuilds a key's RANGE MIN / MAX deque from its sorted values.
fn rebuild_extremes(op: BytesOp, s: &mut KeyState, arena: &Arena, held: &mut usize) {
    let KeyState {
        sorted, extremes, ..
    } = s;
    extremes.clear();
    for (t, slot) in sorted.iter_first(sorted.len()) {
        if slot.valid {
            let v = arena.get(slot.h);
            extremes.pop_back_while(|&(_, h)| !beats(op, arena.get(h), v));
            extremes.push_back((t, slot.h), usize::MAX, held);
        }
    }
}

/// `a` is strictly better than `b` for MIN / MAX (bytewise: code-point order for UTF-8).
fn beats(op: BytesOp, a: &[u8], b: &[u8]) -> bool {
    match op {
        BytesOp::Max => a > b,
        _ => a < b,
    }
}

/// Row access to one byte-array layout, so the row loop is compiled once per layout
/// (the layout is chosen once per batch).
trait ByteValues {
    /// The bytes of row `i` (arbitrary for a NULL row).
    fn bytes_at(&self, i: usize) -> &[u8];
}

impl<T: ByteArrayType> ByteValues for GenericByteArray<T> {
    #[inline(always)]
    fn bytes_at(&self, i: usize) -> &[u8] {
        self.value(i).as_ref()
    }
}

impl<T: ByteViewType + ?Sized> ByteValues for GenericByteViewArray<T> {
    #[inline(always)]
    fn bytes_at(&self, i: usize) -> &[u8] {
        self.value(i).as_ref()
    }
}

impl BytesKernel {
    /// The rows of one batch, with the argument (and LAG's default) of layout `A`.
    fn run<A: ByteValues + Array + 'static>(
        &mut self,
        arg: &ArrayRef,
        default: Option<&ArrayRef>,
        gids: &[u32],
        order: Option<&PrimitiveArray<Int64Type>>,
    ) -> Result<()> {
        let layout_error = || Error::internal("byte kernel argument of another layout");
        let values = arg.as_any().downcast_ref::<A>().ok_or_else(layout_error)?;
        let nulls = arg.logical_nulls();
        let default = match default {
            Some(d) => Some((
                d.as_any().downcast_ref::<A>().ok_or_else(layout_error)?,
                d.logical_nulls(),
            )),
            None => None,
        };
        self.out_data.clear();
        self.out_spans.clear();
        for (i, &g) in gids.iter().enumerate() {
            let v = nulls
                .as_ref()
                .is_none_or(|n| n.is_valid(i))
                .then(|| values.bytes_at(i));
            let result = match order {
                Some(o) => self.row_range(g as usize, o.is_valid(i).then(|| o.value(i)), v),
                None => self.row(g as usize, v),
            };
            let bytes = match result {
                RowResult::Null => None,
                RowResult::Arena(h) => Some(self.arena.get(h)),
                RowResult::Default => default.as_ref().and_then(|(d, n)| {
                    n.as_ref()
                        .is_none_or(|n| n.is_valid(i))
                        .then(|| d.bytes_at(i))
                }),
            };
            match bytes {
                Some(b) => {
                    let start = self.out_data.len();
                    self.out_data.extend_from_slice(b);
                    self.out_spans.push((start, b.len(), true));
                }
                None => self.out_spans.push((0, 0, false)),
            }
        }
        Ok(())
    }
}

impl SequentialKernel for BytesKernel {
    fn update(
        &mut self,
        input: &KernelInput<'_>,
        gids: &[u32],
        num_keys: usize,
    ) -> Result<ArrayRef> {
        if gids.len() != input.num_rows || gids.iter().any(|&g| g as usize >= num_keys) {
            return Err(Error::internal("byte kernel given keys out of range"));
        }
        grow(&mut self.states, num_keys);
        let arg = input.arg(0)?;
        let default = input.args.get(1);
        let order = match self.range {
            Some(_) => Some(order_keys(input.order)?),
            None => None,
        };
        let o = order.as_ref();
        match arg.data_type() {
            DataType::Utf8 => self.run::<StringArray>(arg, default, gids, o)?,
            DataType::LargeUtf8 => self.run::<LargeStringArray>(arg, default, gids, o)?,
            DataType::Utf8View => self.run::<StringViewArray>(arg, default, gids, o)?,
            DataType::Binary => self.run::<BinaryArray>(arg, default, gids, o)?,
            DataType::LargeBinary => self.run::<LargeBinaryArray>(arg, default, gids, o)?,
            DataType::BinaryView => self.run::<BinaryViewArray>(arg, default, gids, o)?,
            other => {
                return Err(Error::internal(format!(
                    "byte kernel over values of type {other}"
                )));
            }
        }
        if self.arena.wants_compaction() {
            self.compact();
        }
        let data = &self.out_data;
        build_bytes_array(
            &self.data_type,
            self.out_spans
                .iter()
                .map(|&(s, l, valid)| valid.then(|| data.get(s..s + l).unwrap_or_default())),
        )
    }

    fn size_bytes(&self) -> usize {
        self.arena.data.capacity()
            + self.states.capacity() * std::mem::size_of::<KeyState>()
            + self.held_bytes
            + self.out_data.capacity()
            + self.out_spans.capacity() * std::mem::size_of::<(usize, usize, bool)>()
    }
}

/// `LAST_VALUE(x)` over a frame that ends at the current row, and `LAG(x, 0)`: the
/// argument itself.
#[derive(Debug)]
pub(crate) struct PassThroughKernel;

impl SequentialKernel for PassThroughKernel {
    fn update(
        &mut self,
        input: &KernelInput<'_>,
        _gids: &[u32],
        _num_keys: usize,
    ) -> Result<ArrayRef> {
        Ok(input.arg(0)?.clone())
    }

    fn size_bytes(&self) -> usize {
        0
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{AsArray, Int64Array};

    use super::*;

    /// A long stream through RANGE MIN / MAX / FIRST_VALUE kernels, in batches, so that
    /// the arena is compacted many times while values are kept; checked against a scan
    /// of each frame.
    #[test]
    fn range_kernels_keep_their_values_across_compactions() {
        let n = 6_000usize;
        let span = 50i64;
        let text: Vec<String> = (0..n)
            .map(|i| format!("{:05}{}", (i * 7919) % 10007, "x".repeat(200)))
            .collect();
        for op in [BytesOp::Min, BytesOp::Max, BytesOp::First] {
            let mut k = BytesKernel::new_range(op, span, DataType::Utf8);
            let mut got: Vec<String> = Vec::new();
            for start in (0..n).step_by(700) {
                let end = (start + 700).min(n);
                let values: ArrayRef = Arc::new(StringArray::from(
                    text[start..end]
                        .iter()
                        .map(String::as_str)
                        .collect::<Vec<_>>(),
                ));
                let order: ArrayRef = Arc::new(Int64Array::from(
                    (start as i64..end as i64).collect::<Vec<_>>(),
                ));
                let input = KernelInput {
                    args: std::slice::from_ref(&values),
                    order: Some(&order),
                    num_rows: end - start,
                };
                let out = k.update(&input, &vec![0; end - start], 1).unwrap();
                got.extend(
                    out.as_string::<i32>()
                        .iter()
                        .map(|v| v.unwrap().to_string()),
                );
            }
            for (i, g) in got.iter().enumerate() {
                let frame = &text[i.saturating_sub(span as usize)..=i];
                let want = match op {
                    BytesOp::Min => frame.iter().min(),
                    BytesOp::Max => frame.iter().max(),
                    _ => frame.first(),
                };
                assert_eq!(Some(g), want, "{op:?} row {i}");
            }
            assert!(
                k.arena.data.len() < 2 * (span as usize + 1) * 205 + ARENA_SLACK_BYTES + 700 * 205
            );
        }
    }
}
