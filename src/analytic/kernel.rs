//! What every analytic kernel implements, and the rows it is handed.
//!
//! ```text
//!  batch b, rows owned by this kernel instance:  Rows::All { pids }     (one owner)
//!                                                Rows::Some { pairs }   (several)
//!  pids[i] / the low half of pairs[k] = the dense id of the row's partition key in this
//!  instance's state; the high half of pairs[k] is the row
//!
//!  FrameKernel::update(input, rows, num_keys, out)
//!     for each (row, pid) in input order:  state[pid] ← push value, evict the oldest
//!                                          out[row]   ← the frame's result
//! ```
//! A [`FrameKernel`] writes fixed-width results through [`SharedOut`], so that several
//! instances (one per owner thread, each holding the state of its own keys) can fill one
//! output column. A [`SequentialKernel`] (variable-width values, pass-through) sees every
//! row of the batch in order and returns the whole column.

use arrow::array::ArrayRef;

use super::output::SharedOut;
use crate::error::{Error, Result};

/// The input of one kernel call: the call's argument columns and the window's order
/// column, all of the batch's length.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KernelInput<'a> {
    /// Argument columns (evaluated by the pre-projection).
    pub args: &'a [ArrayRef],
    /// The ORDER BY column, if any.
    pub order: Option<&'a ArrayRef>,
    /// Rows in the batch.
    pub num_rows: usize,
}

impl KernelInput<'_> {
    /// Argument `i`, or an `Internal` error.
    pub(crate) fn arg(&self, i: usize) -> Result<&ArrayRef> {
        self.args
            .get(i)
            .ok_or_else(|| Error::internal(format!("analytic kernel without argument {i}")))
    }
}

/// The rows of a batch one kernel instance processes, in input order.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Rows<'a> {
    /// Every row; `pids[i]` is row i's key id.
    All {
        /// Key id per row.
        pids: &'a [u32],
    },
    /// Some rows, each as `row << 32 | key id` (rows increasing).
    Some {
        /// Packed (row, key id) pairs.
        pairs: &'a [u64],
    },
}

impl Rows<'_> {
    /// Checks that every row index is below `len` and every key id below `num_keys`, so
    /// that kernels may write rows and index state without further checks.
    ///
    /// # Errors
    /// `Internal` (a bug in the operator).
    pub(crate) fn check(&self, len: usize, num_keys: usize) -> Result<()> {
        let ok = match self {
            Rows::All { pids } => {
                pids.len() <= len && pids.iter().all(|&p| (p as usize) < num_keys)
            }
            Rows::Some { pairs } => {
                pairs.last().is_none_or(|&r| ((r >> 32) as usize) < len)
                    && pairs.iter().all(|&r| ((r as u32) as usize) < num_keys)
            }
        };
        if ok {
            Ok(())
        } else {
            Err(Error::internal(
                "analytic kernel given rows or keys out of range",
            ))
        }
    }
}

/// Calls `f(row, pid)` for each row in order. Inlined into each kernel, so the `All`
/// case is a plain counted loop.
#[inline(always)]
pub(crate) fn for_each_row(rows: &Rows<'_>, mut f: impl FnMut(usize, usize)) {
    match rows {
        Rows::All { pids } => {
            for (i, &p) in pids.iter().enumerate() {
                f(i, p as usize);
            }
        }
        Rows::Some { pairs } => {
            for &r in pairs.iter() {
                f((r >> 32) as usize, (r as u32) as usize);
            }
        }
    }
}

/// An analytic function with fixed-width results, over the keys of one owner.
pub(crate) trait FrameKernel: Send {
    /// Processes `rows` of one batch, in order, writing each row's result to `out`.
    /// Every key id is below `num_keys`.
    ///
    /// # Errors
    /// `Execution` for data errors (overflow in an exact SUM); `Internal` for argument
    /// types the kernel was not made for.
    fn update(
        &mut self,
        input: &KernelInput<'_>,
        rows: &Rows<'_>,
        num_keys: usize,
        out: SharedOut<'_>,
    ) -> Result<()>;

    /// Bytes of state held.
    fn size_bytes(&self) -> usize;
}

/// An analytic function that sees every row of each batch, in order, and returns the
/// whole result column.
pub(crate) trait SequentialKernel: Send {
    /// Processes one batch; `gids[i]` is row i's key id, below `num_keys`.
    ///
    /// # Errors
    /// As [`FrameKernel::update`].
    fn update(
        &mut self,
        input: &KernelInput<'_>,
        gids: &[u32],
        num_keys: usize,
    ) -> Result<ArrayRef>;

    /// Bytes of state held.
    fn size_bytes(&self) -> usize;
}

/// A kernel of either kind.
pub(crate) enum Kernel {
    /// One instance per owner thread; results written in place.
    Frame(Box<dyn FrameKernel>),
    /// One instance; whole columns.
    Sequential(Box<dyn SequentialKernel>),
}

impl std::fmt::Debug for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Kernel::Frame(_) => f.write_str("Kernel::Frame"),
            Kernel::Sequential(_) => f.write_str("Kernel::Sequential"),
        }
    }
}

/// Grows a per-key state vector to `n` entries.
#[inline]
pub(crate) fn grow<T: Clone + Default>(v: &mut Vec<T>, n: usize) {
    if v.len() < n {
        v.resize(n, T::default());
    }
}
