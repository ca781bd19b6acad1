//! Moving `MIN(x)` / `MAX(x)` with a monotonic deque per key: amortised O(1) per row.
//!
//! ```text
//!  MAX, frame of 3 rows:   values 5 1 3 2 …
//!   row 1: deque [(1,5)]              max 5
//!   row 2: deque [(1,5) (2,1)]        max 5
//!   row 3: 3 pops (2,1): [(1,5) (3,3)]  max 5
//!   row 4: (1,5) leaves the frame: [(3,3) (4,2)]  max 3
//! ```
//! The deque holds (row number, value) with values strictly decreasing (MAX) or
//! increasing (MIN) from the front; the front is the frame's extreme. Each row is pushed
//! and popped at most once, and the deque never holds more than the frame's rows. The
//! order is SQL's (DuckDB): NaN above +inf, -0.0 equal to 0.0; BOOLEAN arrives as 0/1
//! bytes. NULLs never enter the deque; a frame without values gives NULL.

use std::marker::PhantomData;

use arrow::array::{Array, ArrowPrimitiveType};

use super::kernel::{FrameKernel, KernelInput, Rows, deal_keys, for_each_row, grow};
use super::output::OutputColumn;
use super::ring::Deque;
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

#[derive(Debug, Clone, Default)]
struct KeyState<N: Copy + Default> {
    /// Rows seen (the current row's 1-based number).
    rows: u64,
    deque: Deque<(u64, N)>,
    /// UNBOUNDED frames: the extreme so far.
    best: N,
    has_best: bool,
}

/// `MIN` / `MAX` over the last `cap` rows (or all rows so far).
#[derive(Debug)]
pub(crate) struct MinMaxKernel<T: ArrowPrimitiveType> {
    extreme: Extreme,
    cap: Option<u64>,
    states: Vec<KeyState<T::Native>>,
    /// Heap bytes of the deques.
    deque_bytes: usize,
    _t: PhantomData<fn() -> T>,
}

impl<T: ArrowPrimitiveType> Clone for MinMaxKernel<T> {
    fn clone(&self) -> Self {
        MinMaxKernel {
            extreme: self.extreme,
            cap: self.cap,
            states: self.states.clone(),
            deque_bytes: self.deque_bytes,
            _t: PhantomData,
        }
    }
}

impl<T: ArrowPrimitiveType> MinMaxKernel<T>
where
    T::Native: OrdNative,
{
    pub(crate) fn new(extreme: Extreme, frame_rows: Option<u64>) -> Self {
        MinMaxKernel {
            extreme,
            cap: frame_rows,
            states: Vec::new(),
            deque_bytes: 0,
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
                let deque_cap = usize::try_from(cap).unwrap_or(usize::MAX);
                let deque_bytes = &mut self.deque_bytes;
                for_each_row(
                    rows,
                    #[inline(always)]
                    |i, o, p| {
                        let s = &mut states[p];
                        s.rows += 1;
                        let seq = s.rows;
                        // the row `cap` rows back leaves the frame (one row enters per
                        // row, so at most one leaves)
                        if s.deque.front().is_some_and(|(front, _)| seq - front >= cap) {
                            s.deque.pop_front();
                        }
                        if nulls.is_none_or(|n| n.is_valid(i)) {
                            let v = values[i];
                            s.deque.pop_back_while(|&(_, back)| !beats(back, v));
                            s.deque.push_back((seq, v), deque_cap, deque_bytes);
                        }
                        let (best, valid) = match s.deque.front() {
                            Some((_, v)) => (v, true),
                            None => (T::Native::default(), false),
                        };
                        out.set_opt(o, best, valid);
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
        self.states.capacity() * std::mem::size_of::<KeyState<T::Native>>() + self.deque_bytes
    }

    // a bounded frame's deque is the monotonic deque of the key's last `cap` values, with
    // their row numbers: a function of those rows and the row count

    fn fork(&self) -> Option<Box<dyn FrameKernel>> {
        self.cap
            .map(|_| Box::new(self.clone()) as Box<dyn FrameKernel>)
    }

    fn history_rows(&self) -> u64 {
        self.cap.unwrap_or(u64::MAX)
    }

    fn skip(&mut self, pid: usize, rows: u64) {
        grow(&mut self.states, pid + 1);
        if let Some(s) = self.states.get_mut(pid) {
            s.rows += rows;
            s.deque.clear();
        }
    }

    fn deal(&mut self, owners: usize) -> Option<Vec<Box<dyn FrameKernel>>> {
        self.deque_bytes = 0;
        Some(
            deal_keys(std::mem::take(&mut self.states), owners)
                .into_iter()
                .map(|states| {
                    let deque_bytes = states.iter().map(|s| s.deque.size_bytes()).sum();
                    Box::new(MinMaxKernel::<T> {
                        extreme: self.extreme,
                        cap: self.cap,
                        states,
                        deque_bytes,
                        _t: PhantomData,
                    }) as Box<dyn FrameKernel>
                })
                .collect(),
        )
    }
}
