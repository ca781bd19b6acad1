//! Kernels that return one of the frame's values: `FIRST_VALUE(x)` and `LAG(x, k [,
//! default])` over fixed-width types (numbers, decimals, temporal types; BOOLEAN as 0/1
//! bytes).
//!
//! - `FIRST_VALUE` over the last `n` rows: a ring of the last `n` (value, valid) pairs;
//!   the result is the oldest (NULL if that row's value is NULL, as DuckDB). Over
//!   UNBOUNDED PRECEDING: the partition's first value, kept once.
//! - `LAG(x, k)`: a ring of the last `k` values; a push into a full ring evicts exactly
//!   the value `k` rows back, which is the result; before `k` rows the default (NULL
//!   without one).
//!
//! Bounded `FIRST_VALUE` and `LAG` hold nothing but a key's last `n` (or `k`) rows, so a
//! thread can take up a key's stream in the middle (batch-parallel evaluation): a fork
//! forgets the key's ring on [`FrameKernel::skip`] and is shown its last rows again.

use std::marker::PhantomData;

use arrow::array::{Array, ArrowPrimitiveType};

use super::kernel::{FrameKernel, KernelInput, Rows, deal_keys, for_each_row, grow};
use super::output::OutputColumn;
use super::ring::Ring;
use super::sum::primitive;
use crate::error::Result;

/// `FIRST_VALUE(x)` over the last `cap` rows, or over all rows so far.
#[derive(Debug)]
pub(crate) struct FirstValueKernel<T: ArrowPrimitiveType> {
    cap: Option<usize>,
    rings: Vec<Ring<(T::Native, bool)>>,
    /// Heap bytes of the rings.
    ring_bytes: usize,
    /// UNBOUNDED: (value, valid, seen).
    firsts: Vec<(T::Native, bool, bool)>,
    _t: PhantomData<fn() -> T>,
}

impl<T: ArrowPrimitiveType> Clone for FirstValueKernel<T> {
    fn clone(&self) -> Self {
        FirstValueKernel {
            cap: self.cap,
            rings: self.rings.clone(),
            ring_bytes: self.ring_bytes,
            firsts: self.firsts.clone(),
            _t: PhantomData,
        }
    }
}

impl<T: ArrowPrimitiveType> FirstValueKernel<T> {
    pub(crate) fn new(frame_rows: Option<u64>) -> Self {
        FirstValueKernel {
            cap: frame_rows.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
            rings: Vec::new(),
            ring_bytes: 0,
            firsts: Vec::new(),
            _t: PhantomData,
        }
    }
}

impl<T: ArrowPrimitiveType> FrameKernel for FirstValueKernel<T> {
    fn update(
        &mut self,
        input: &KernelInput<'_>,
        rows: &Rows<'_>,
        num_keys: usize,
        out: &mut OutputColumn,
    ) -> Result<()> {
        rows.check(input.num_rows, out.len(), num_keys)?;
        let arg = primitive::<T>(input.arg(0)?, "FIRST_VALUE")?;
        let values = arg.values();
        let nulls = arg.nulls().filter(|n| n.null_count() > 0);
        let mut out = out.writer::<T::Native>()?;
        match self.cap {
            None => {
                grow(&mut self.firsts, num_keys);
                let firsts = &mut self.firsts[..];
                for_each_row(
                    rows,
                    #[inline(always)]
                    |i, o, p| {
                        let f = &mut firsts[p];
                        if !f.2 {
                            *f = (values[i], nulls.is_none_or(|n| n.is_valid(i)), true);
                        }
                        out.set_opt(o, f.0, f.1);
                    },
                );
            }
            Some(cap) => {
                grow(&mut self.rings, num_keys);
                let rings = &mut self.rings[..];
                let ring_bytes = &mut self.ring_bytes;
                for_each_row(
                    rows,
                    #[inline(always)]
                    |i, o, p| {
                        let ring = &mut rings[p];
                        ring.push(
                            (values[i], nulls.is_none_or(|n| n.is_valid(i))),
                            cap,
                            ring_bytes,
                        );
                        let (v, valid) = ring.front().unwrap_or((T::Native::default(), false));
                        out.set_opt(o, v, valid);
                    },
                );
            }
        }
        Ok(())
    }

    fn size_bytes(&self) -> usize {
        self.rings.capacity() * std::mem::size_of::<Ring<(T::Native, bool)>>()
            + self.ring_bytes
            + self.firsts.capacity() * std::mem::size_of::<(T::Native, bool, bool)>()
    }

    /// Bounded frames only: UNBOUNDED keeps the key's first row, which a fork that
    /// skips rows cannot see again.
    fn fork(&self) -> Option<Box<dyn FrameKernel>> {
        self.cap
            .map(|_| Box::new(self.clone()) as Box<dyn FrameKernel>)
    }

    fn history_rows(&self) -> u64 {
        self.cap.map_or(u64::MAX, |c| c as u64)
    }

    fn skip(&mut self, pid: usize, _rows: u64) {
        forget_ring(&mut self.rings, pid);
    }

    fn deal(&mut self, owners: usize) -> Option<Vec<Box<dyn FrameKernel>>> {
        let rings = deal_keys(std::mem::take(&mut self.rings), owners);
        let firsts = deal_keys(std::mem::take(&mut self.firsts), owners);
        self.ring_bytes = 0;
        Some(
            rings
                .into_iter()
                .zip(firsts)
                .map(|(rings, firsts)| {
                    Box::new(FirstValueKernel::<T> {
                        cap: self.cap,
                        ring_bytes: Ring::total_bytes(&rings),
                        rings,
                        firsts,
                        _t: PhantomData,
                    }) as Box<dyn FrameKernel>
                })
                .collect(),
        )
    }
}

/// Empties key `pid`'s ring (a fork skipping the key's rows: the replay refills it).
fn forget_ring<V: Copy + Default>(rings: &mut Vec<Ring<V>>, pid: usize) {
    grow(rings, pid + 1);
    if let Some(r) = rings.get_mut(pid) {
        r.clear();
    }
}

/// `LAG(x, k [, default])` with `k ≥ 1`; argument 1, if present, is the default column.
#[derive(Debug)]
pub(crate) struct LagKernel<T: ArrowPrimitiveType> {
    offset: usize,
    rings: Vec<Ring<(T::Native, bool)>>,
    /// Heap bytes of the rings.
    ring_bytes: usize,
    _t: PhantomData<fn() -> T>,
}

impl<T: ArrowPrimitiveType> Clone for LagKernel<T> {
    fn clone(&self) -> Self {
        LagKernel {
            offset: self.offset,
            rings: self.rings.clone(),
            ring_bytes: self.ring_bytes,
            _t: PhantomData,
        }
    }
}

impl<T: ArrowPrimitiveType> LagKernel<T> {
    pub(crate) fn new(offset: u64) -> Self {
        LagKernel {
            offset: usize::try_from(offset).unwrap_or(usize::MAX).max(1),
            rings: Vec::new(),
            ring_bytes: 0,
            _t: PhantomData,
        }
    }
}

impl<T: ArrowPrimitiveType> FrameKernel for LagKernel<T> {
    fn update(
        &mut self,
        input: &KernelInput<'_>,
        rows: &Rows<'_>,
        num_keys: usize,
        out: &mut OutputColumn,
    ) -> Result<()> {
        rows.check(input.num_rows, out.len(), num_keys)?;
        grow(&mut self.rings, num_keys);
        let arg = primitive::<T>(input.arg(0)?, "LAG")?;
        let values = arg.values();
        let nulls = arg.nulls().filter(|n| n.null_count() > 0);
        let default = match input.args.get(1) {
            Some(d) => Some(primitive::<T>(d, "LAG default")?),
            None => None,
        };
        let mut out = out.writer::<T::Native>()?;
        let cap = self.offset;
        let rings = &mut self.rings[..];
        let ring_bytes = &mut self.ring_bytes;
        for_each_row(
            rows,
            #[inline(always)]
            |i, o, p| {
                let current = (values[i], nulls.is_none_or(|n| n.is_valid(i)));
                let (v, valid) = match rings[p].push(current, cap, ring_bytes) {
                    Some(back) => back,
                    None => match default {
                        Some(d) => (d.values()[i], d.is_valid(i)),
                        None => (T::Native::default(), false),
                    },
                };
                out.set_opt(o, v, valid);
            },
        );
        Ok(())
    }

    fn size_bytes(&self) -> usize {
        self.rings.capacity() * std::mem::size_of::<Ring<(T::Native, bool)>>() + self.ring_bytes
    }

    fn fork(&self) -> Option<Box<dyn FrameKernel>> {
        Some(Box::new(self.clone()))
    }

    fn history_rows(&self) -> u64 {
        self.offset as u64
    }

    fn skip(&mut self, pid: usize, _rows: u64) {
        forget_ring(&mut self.rings, pid);
    }

    fn deal(&mut self, owners: usize) -> Option<Vec<Box<dyn FrameKernel>>> {
        self.ring_bytes = 0;
        Some(
            deal_keys(std::mem::take(&mut self.rings), owners)
                .into_iter()
                .map(|rings| {
                    Box::new(LagKernel::<T> {
                        offset: self.offset,
                        ring_bytes: Ring::total_bytes(&rings),
                        rings,
                        _t: PhantomData,
                    }) as Box<dyn FrameKernel>
                })
                .collect(),
        )
    }
}
