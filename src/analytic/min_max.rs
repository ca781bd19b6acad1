//! Moving `MIN(x)` / `MAX(x)` over the last `n` rows: blocks of `n` rows per key, each
//! row's extreme the better of two running extremes, O(1) per row without a branch on
//! the data (van Herk / Gil-Werman).
//!
//! ```text
//!  MAX, n = 4: the key's rows in blocks of 4     … 5 1 3 2 │ 4 0 6 1 │ …
//!  a block, once complete, is rewritten as its suffix extremes:  5 3 3 2
//!  row at position j of the next block: frame = previous block from j+1 on
//!                                                + this block up to j
//!   j=0 (4): max(suffix[1]=3, prefix 4) = 4     j=1 (0): max(suffix[2]=3, prefix 4) = 4
//!   j=2 (6): max(suffix[3]=2, prefix 6) = 6     j=3 (1): prefix 6 (the block is the frame)
//! ```
//! One buffer of `n` slots per key serves both blocks: slot `j` holds this block's value
//! once position `j` is reached, the previous block's suffix extreme until then (the rows
//! behind the current one never need the suffixes before it). A complete block is turned
//! into its suffixes by one backward pass: each row is stored once, scanned once and read
//! once. The buffer grows with the key's rows up to `n` slots, so a key with 3 rows holds
//! 3, like the ring of a moving sum.
//!
//! Among equal values the newest row's wins (so `-0.0` and `0.0`, or two NaNs, give the
//! later row's bits): the prefix takes a row unless it is strictly beaten, the suffix
//! pass keeps the later extreme unless an earlier row strictly beats it, and the
//! previous block's suffix beats this block's prefix only when strictly better. The
//! order is SQL's (DuckDB): NaN above +inf, -0.0 equal to 0.0; BOOLEAN arrives as 0/1
//! bytes. NULLs have no value in their slot; a frame without values gives NULL.

use std::marker::PhantomData;

use arrow::array::{Array, ArrowPrimitiveType};

use super::kernel::{FrameKernel, KernelInput, Rows, deal_keys, for_each_row, for_each_run, grow};
use super::output::OutputColumn;
use super::ring::push_within;
use super::sum::primitive;
use crate::aggregate::native::OrdNative;
use crate::error::Result;

/// Which extreme a kernel keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Extreme {
    /// `MIN`.
    Min,
    /// `MAX`.
    Max,
}

/// A value and whether there is one (a NULL row's slot, or a suffix of NULLs, has none).
type Slot<N> = (N, bool);

#[derive(Debug, Clone, Default)]
struct KeyState<N: Copy + Default> {
    /// Bounded frames: the next row's position in its block (`0..n`).
    pos: usize,
    /// Bounded frames: this block's values up to `pos`, the previous block's suffix
    /// extremes from `pos` on (see the module doc).
    slots: Vec<Slot<N>>,
    /// The extreme of this block's rows so far (of all rows so far, UNBOUNDED frames).
    best: N,
    has_best: bool,
}

impl<N: Copy + Default> KeyState<N> {
    fn size_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot<N>>()
    }
}

/// `MIN` / `MAX` over the last `cap` rows (or all rows so far).
#[derive(Debug)]
pub(crate) struct MinMaxKernel<T: ArrowPrimitiveType> {
    extreme: Extreme,
    cap: Option<u64>,
    states: Vec<KeyState<T::Native>>,
    /// Heap bytes of the keys' slots.
    slot_bytes: usize,
    _t: PhantomData<fn() -> T>,
}

impl<T: ArrowPrimitiveType> Clone for MinMaxKernel<T>
where
    T::Native: OrdNative,
{
    fn clone(&self) -> Self {
        MinMaxKernel::with_states(self.extreme, self.cap, self.states.clone())
    }
}

/// Rewrites a complete block, oldest row first, as its suffix extremes: slot `j` becomes
/// the extreme of rows `j..` (the later row's on a tie).
#[inline(never)]
fn suffixes<N: Copy + Default>(slots: &mut [Slot<N>], beats: impl Fn(N, N) -> bool) {
    let (mut best, mut has) = (N::default(), false);
    for slot in slots.iter_mut().rev() {
        let (v, valid) = *slot;
        if valid && (!has || beats(v, best)) {
            best = v;
            has = true;
        }
        *slot = (best, has);
    }
}

impl<T: ArrowPrimitiveType> MinMaxKernel<T>
where
    T::Native: OrdNative,
{
    pub(crate) fn new(extreme: Extreme, frame_rows: Option<u64>) -> Self {
        MinMaxKernel::with_states(extreme, frame_rows, Vec::new())
    }

    fn with_states(extreme: Extreme, cap: Option<u64>, states: Vec<KeyState<T::Native>>) -> Self {
        MinMaxKernel {
            extreme,
            cap,
            slot_bytes: states.iter().map(KeyState::size_bytes).sum(),
            states,
            _t: PhantomData,
        }
    }

    fn run<const MAX: bool>(
        &mut self,
        input: &KernelInput<'_>,
        rows: &Rows<'_>,
        out: &mut OutputColumn,
    ) -> Result<()> {
        let arg = primitive::<T>(input.arg(0)?, "MIN/MAX")?;
        let values = arg.values();
        let nulls = arg.nulls().filter(|n| n.null_count() > 0);
        let mut out = out.writer::<T::Native>()?;
        let states = &mut self.states[..];
        // `a` beats `b`: strictly better in the extreme's direction
        let beats = |a: T::Native, b: T::Native| {
            if MAX {
                T::Native::is_lt(b, a)
            } else {
                T::Native::is_lt(a, b)
            }
        };
        match self.cap {
            None => for_each_row(
                rows,
                #[inline(always)]
                |i, o, p| {
                    let s = &mut states[p];
                    if nulls.is_none_or(|n| n.is_valid(i)) {
                        let v = values[i];
                        if !s.has_best || beats(v, s.best) {
                            s.best = v;
                            s.has_best = true;
                        }
                    }
                    out.set_opt(o, s.best, s.has_best);
                },
            ),
            Some(cap) => {
                let n = usize::try_from(cap).unwrap_or(usize::MAX).max(1);
                let slot_bytes = &mut self.slot_bytes;
                // the key's position and block extreme stay in locals for a run of its rows
                for_each_run(
                    rows,
                    #[inline(always)]
                    |run, first_slot, p| {
                        let s = &mut states[p];
                        let (mut pos, mut best, mut has_best) = (s.pos, s.best, s.has_best);
                        for (i, o) in run.zip(first_slot..) {
                            let valid = nulls.is_none_or(|n| n.is_valid(i));
                            let v = values[i];
                            // this block up to this row: a tie goes to the later row
                            if valid && (!has_best || !beats(best, v)) {
                                best = v;
                            }
                            has_best |= valid;
                            // the previous block from the next position on (none in a
                            // key's first block, nor at a block's last position)
                            let (older, has_older) =
                                s.slots.get(pos + 1).copied().unwrap_or_default();
                            let take_older = has_older && (!has_best || beats(older, best));
                            let x = if take_older { older } else { best };
                            out.set_opt(o, x, take_older || has_best);
                            match s.slots.get_mut(pos) {
                                Some(slot) => *slot = (v, valid),
                                // the key's first block: the buffer grows (up to n)
                                None => push_within(&mut s.slots, (v, valid), n, slot_bytes),
                            }
                            pos += 1;
                            if pos == n {
                                suffixes(&mut s.slots, beats);
                                pos = 0;
                                has_best = false;
                            }
                        }
                        (s.pos, s.best, s.has_best) = (pos, best, has_best);
                    },
                );
            }
        }
        Ok(())
    }
}

impl<T: ArrowPrimitiveType> FrameKernel for MinMaxKernel<T>
where
    T::Native: OrdNative,
{
    fn update(
        &mut self,
        input: &KernelInput<'_>,
        rows: &Rows<'_>,
        num_keys: usize,
        out: &mut OutputColumn,
    ) -> Result<()> {
        rows.check(input.num_rows, out.len(), num_keys)?;
        grow(&mut self.states, num_keys);
        match self.extreme {
            Extreme::Max => self.run::<true>(input, rows, out),
            Extreme::Min => self.run::<false>(input, rows, out),
        }
    }

    fn size_bytes(&self) -> usize {
        self.states.capacity() * std::mem::size_of::<KeyState<T::Native>>() + self.slot_bytes
    }

    // a bounded frame's state is its position in the block (the row count mod `cap`) and
    // values derived from the key's last `cap` rows

    fn fork(&self) -> Option<Box<dyn FrameKernel>> {
        self.cap
            .map(|_| Box::new(self.clone()) as Box<dyn FrameKernel>)
    }

    fn history_rows(&self) -> u64 {
        self.cap.unwrap_or(u64::MAX)
    }

    fn skip(&mut self, pid: usize, _rows: u64) {
        if self.cap.is_none() {
            return;
        }
        grow(&mut self.states, pid + 1);
        let Some(s) = self.states.get_mut(pid) else {
            return;
        };
        // any block phase serves, as long as it holds from the replay on: the replay
        // starts a new block, and every slot forgets its value (the replay's `cap` rows
        // fill them all before a frame reads one)
        s.pos = 0;
        s.has_best = false;
        for slot in &mut s.slots {
            slot.1 = false;
        }
    }

    fn deal(&mut self, owners: usize) -> Option<Vec<Box<dyn FrameKernel>>> {
        self.slot_bytes = 0;
        Some(
            deal_keys(std::mem::take(&mut self.states), owners)
                .into_iter()
                .map(|states| {
                    Box::new(MinMaxKernel::<T>::with_states(
                        self.extreme,
                        self.cap,
                        states,
                    )) as Box<dyn FrameKernel>
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, AsArray, Float64Array, Int64Array};
    use arrow::datatypes::{DataType, Float64Type, Int64Type};
    use proptest::prelude::*;

    use super::*;

    /// Runs `kernel` over `values` with key `keys[i]` for row `i`, cutting the rows into
    /// batches at `cuts`; returns each row's result as its bits (None for NULL).
    fn run_f64(
        kernel: &mut dyn FrameKernel,
        values: &[Option<f64>],
        keys: &[u32],
        cuts: &[usize],
    ) -> Vec<Option<u64>> {
        let mut got = Vec::new();
        let mut start = 0;
        let mut ends: Vec<usize> = cuts.iter().copied().filter(|&c| c < values.len()).collect();
        ends.push(values.len());
        ends.sort_unstable();
        for end in ends {
            if end <= start {
                continue;
            }
            let array: ArrayRef = Arc::new(Float64Array::from(values[start..end].to_vec()));
            let pids = &keys[start..end];
            let mut column = OutputColumn::new(&DataType::Float64, end - start).unwrap();
            let input = KernelInput {
                args: std::slice::from_ref(&array),
                order: None,
                num_rows: end - start,
            };
            kernel
                .update(&input, &Rows::All { pids }, 4, &mut column)
                .unwrap();
            let out = column.finish().unwrap();
            let out = out.as_primitive::<Float64Type>();
            got.extend((0..out.len()).map(|i| out.is_valid(i).then(|| out.value(i).to_bits())));
            start = end;
        }
        got
    }

    /// SQL order: NaN (of either sign) above everything, -0.0 equal to 0.0.
    fn sql_lt(a: f64, b: f64) -> bool {
        if b.is_nan() { !a.is_nan() } else { a < b }
    }

    /// Each row's extreme over its key's last `frame` rows, recomputed from the rows:
    /// the latest of the values no later value strictly beats.
    fn reference(
        values: &[Option<f64>],
        keys: &[u32],
        frame: usize,
        max: bool,
    ) -> Vec<Option<u64>> {
        (0..values.len())
            .map(|i| {
                let rows: Vec<Option<f64>> = (0..=i)
                    .filter(|&j| keys[j] == keys[i])
                    .map(|j| values[j])
                    .collect();
                let frame_rows = &rows[rows.len().saturating_sub(frame)..];
                let mut best: Option<f64> = None;
                for v in frame_rows.iter().flatten() {
                    let beaten =
                        best.is_some_and(|b| if max { sql_lt(*v, b) } else { sql_lt(b, *v) });
                    if !beaten {
                        best = Some(*v);
                    }
                }
                best.map(f64::to_bits)
            })
            .collect()
    }

    fn value() -> impl Strategy<Value = Option<f64>> {
        prop_oneof![
            1 => Just(None),
            1 => Just(Some(0.0)),
            1 => Just(Some(-0.0)),
            1 => Just(Some(f64::NAN)),
            1 => Just(Some(-f64::NAN)),
            1 => Just(Some(f64::INFINITY)),
            1 => Just(Some(f64::NEG_INFINITY)),
            4 => (-5i32..5).prop_map(|x| Some(f64::from(x))),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Frames of 1 to 7 rows over up to four keys, cut into batches anywhere: every
        /// row's MIN and MAX has the bits of the latest extreme in its frame (ties of
        /// -0.0 and 0.0, and NaNs of both signs, included).
        #[test]
        fn moving_extremes_match_a_recomputation(
            rows in prop::collection::vec((value(), 0u32..4), 0..120),
            frame in 1u64..8,
            cuts in prop::collection::vec(0usize..120, 0..6),
        ) {
            let (values, keys): (Vec<_>, Vec<_>) = rows.into_iter().unzip();
            for (extreme, max) in [(Extreme::Max, true), (Extreme::Min, false)] {
                let mut k = MinMaxKernel::<Float64Type>::new(extreme, Some(frame));
                let got = run_f64(&mut k, &values, &keys, &cuts);
                let want = reference(&values, &keys, usize::try_from(frame).unwrap(), max);
                prop_assert_eq!(got, want, "{:?}, frame {}", extreme, frame);
            }
        }

        /// A fork that skips a key's early rows and is shown only its last `frame` rows
        /// again gives the same results from there on as the kernel that saw them all.
        #[test]
        fn a_fork_caught_up_on_the_frame_agrees(
            before in prop::collection::vec(value(), 1..60),
            after in prop::collection::vec(value(), 1..40),
            frame in 1u64..8,
        ) {
            let n = usize::try_from(frame).unwrap();
            prop_assume!(before.len() > n);
            let mut whole = MinMaxKernel::<Float64Type>::new(Extreme::Max, Some(frame));
            let all: Vec<Option<f64>> = before.iter().chain(&after).copied().collect();
            let want = run_f64(&mut whole, &all, &vec![0; all.len()], &[]);
            // the fork starts from the kernel's state after one row, as a later thread's
            // copy does, then skips the rest of `before` but its last `frame` rows
            let mut main = MinMaxKernel::<Float64Type>::new(Extreme::Max, Some(frame));
            run_f64(&mut main, &before[..1], &[0], &[]);
            let mut fork = main.fork().unwrap();
            fork.skip(0, (before.len() - 1 - n) as u64);
            let replay: Vec<Option<f64>> = before[before.len() - n..].iter().chain(&after).copied().collect();
            let got = run_f64(fork.as_mut(), &replay, &vec![0; replay.len()], &[]);
            prop_assert_eq!(&got[n..], &want[before.len()..]);
        }
    }

    #[test]
    fn integers_and_state_bytes_follow_the_rows_held() {
        // a key with 3 rows holds 3 slots (at most 4 reserved), not the frame's 1,000
        let values: ArrayRef = Arc::new(Int64Array::from(vec![Some(3), None, Some(-7)]));
        let mut k = MinMaxKernel::<Int64Type>::new(Extreme::Min, Some(1000));
        let mut column = OutputColumn::new(&DataType::Int64, 3).unwrap();
        let input = KernelInput {
            args: std::slice::from_ref(&values),
            order: None,
            num_rows: 3,
        };
        k.update(&input, &Rows::All { pids: &[0, 0, 0] }, 1, &mut column)
            .unwrap();
        let out = column.finish().unwrap();
        let out = out.as_primitive::<Int64Type>();
        assert_eq!(
            out.iter().collect::<Vec<_>>(),
            vec![Some(3), Some(3), Some(-7)]
        );
        let slots = k.size_bytes() - k.states.capacity() * std::mem::size_of::<KeyState<i64>>();
        assert!(
            slots <= 4 * std::mem::size_of::<Slot<i64>>(),
            "{slots} bytes"
        );
        assert!(
            slots >= 3 * std::mem::size_of::<Slot<i64>>(),
            "{slots} bytes"
        );
    }
}
