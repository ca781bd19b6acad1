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

use std::marker::PhantomData;

use arrow::array::{Array, ArrowPrimitiveType};

use super::kernel::{FrameKernel, KernelInput, Rows, for_each_row, grow};
use super::output::OutputColumn;
use super::ring::Ring;
use super::sum::primitive;
use crate::error::Result;

/// `FIRST_VALUE(x)` over the last `cap` rows, or over all rows so far.
#[derive(Debug)]
pub(crate) struct FirstValueKernel<T: ArrowPrimitiveType> {
    cap: Option<usize>,
    rings: Vec<Ring<(T::Native, bool)>>,
    /// UNBOUNDED: (value, valid, seen).
    firsts: Vec<(T::Native, bool, bool)>,
    _t: PhantomData<fn() -> T>,
}

impl<T: ArrowPrimitiveType> FirstValueKernel<T> {
    pub(crate) fn new(frame_rows: Option<u64>) -> Self {
        FirstValueKernel {
            cap: frame_rows.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
            rings: Vec::new(),
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
                for_each_row(
                    rows,
                    #[inline(always)]
                    |i, o, p| {
                        let ring = &mut rings[p];
                        ring.push((values[i], nulls.is_none_or(|n| n.is_valid(i))), cap);
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
            + self.rings.iter().map(Ring::size_bytes).sum::<usize>()
            + self.firsts.capacity() * std::mem::size_of::<(T::Native, bool, bool)>()
    }
}

/// `LAG(x, k [, default])` with `k ≥ 1`; argument 1, if present, is the default column.
#[derive(Debug)]
pub(crate) struct LagKernel<T: ArrowPrimitiveType> {
    offset: usize,
    rings: Vec<Ring<(T::Native, bool)>>,
    _t: PhantomData<fn() -> T>,
}

impl<T: ArrowPrimitiveType> LagKernel<T> {
    pub(crate) fn new(offset: u64) -> Self {
        LagKernel {
            offset: usize::try_from(offset).unwrap_or(usize::MAX).max(1),
            rings: Vec::new(),
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
        for_each_row(
            rows,
            #[inline(always)]
            |i, o, p| {
                let current = (values[i], nulls.is_none_or(|n| n.is_valid(i)));
                let (v, valid) = match rings[p].push(current, cap) {
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
        self.rings.capacity() * std::mem::size_of::<Ring<(T::Native, bool)>>()
            + self.rings.iter().map(Ring::size_bytes).sum::<usize>()
    }
}
