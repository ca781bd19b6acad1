//! The result column of one analytic call over one batch, filled row by row.
//!
//! ```text
//!  OutputColumn::new(type, n)   zeroed values (n × width bytes) + one validity byte per row
//!        │ shared()  ──▶ SharedOut (Copy, Send): handed to every owner thread of the call
//!        │                 └ typed::<T>() ─▶ RawOut<T>: set(row, value) at the rows it owns
//!        ▼ finish()   ──▶ ArrayRef (validity bytes packed into a bitmap only if a row is NULL)
//! ```
//! With several partitions, the rows of a batch are spread over owner threads by
//! partition key, so one output column is written at interleaved rows by several threads
//! at once. Each row has exactly one owner, so the writes never overlap; they go through
//! raw pointers because no safe slice type expresses "disjoint, interleaved indices".
//! Validity is a byte per row (not a bit) so that two threads never write the same byte.

use std::marker::PhantomData;
use std::sync::Arc;

use arrow::array::{ArrayData, ArrayRef, BooleanArray, make_array};
use arrow::buffer::{BooleanBuffer, Buffer, MutableBuffer, NullBuffer};
use arrow::datatypes::DataType;

use crate::error::{Error, Result};

/// A fixed-width result column under construction.
#[derive(Debug)]
pub(crate) struct OutputColumn {
    data_type: DataType,
    len: usize,
    /// Bytes per value (1 for BOOLEAN, written as 0/1 bytes).
    width: usize,
    values: MutableBuffer,
    /// 1 = valid, 0 = NULL. Rows start valid and only NULL results are written: a
    /// kernel writes every row it owns, and a valid result then touches no validity byte
    /// (which would otherwise be a cache line shared by the owners of nearby rows).
    valid: Vec<u8>,
}

impl OutputColumn {
    /// A column of `len` zero values of `data_type` (a fixed-width type or BOOLEAN), to be
    /// overwritten row by row.
    ///
    /// # Errors
    /// `Internal` for a variable-width type.
    pub(crate) fn new(data_type: &DataType, len: usize) -> Result<OutputColumn> {
        let width = match data_type {
            DataType::Boolean => 1,
            t => t.primitive_width().ok_or_else(|| {
                Error::internal(format!("analytic output of variable-width type {t}"))
            })?,
        };
        Ok(OutputColumn {
            data_type: data_type.clone(),
            len,
            width,
            values: MutableBuffer::from_len_zeroed(len * width),
            valid: vec![1u8; len],
        })
    }

    /// A handle for writing rows from several threads.
    pub(crate) fn shared(&mut self) -> SharedOut<'_> {
        SharedOut {
            values: self.values.as_mut_ptr(),
            valid: self.valid.as_mut_ptr(),
            len: self.len,
            width: self.width,
            _column: PhantomData,
        }
    }

    /// The finished Arrow array.
    ///
    /// # Errors
    /// Arrow errors building the array (a bug).
    pub(crate) fn finish(self) -> Result<ArrayRef> {
        let nulls = if self.valid.iter().all(|&v| v != 0) {
            None
        } else {
            Some(NullBuffer::from(BooleanBuffer::collect_bool(
                self.len,
                |i| self.valid[i] != 0,
            )))
        };
        if self.data_type == DataType::Boolean {
            let bytes = self.values.as_slice();
            let bits = BooleanBuffer::collect_bool(self.len, |i| bytes[i] != 0);
            return Ok(Arc::new(BooleanArray::new(bits, nulls)));
        }
        let data = ArrayData::builder(self.data_type)
            .len(self.len)
            .add_buffer(Buffer::from(self.values))
            .nulls(nulls)
            .build()?;
        Ok(make_array(data))
    }
}

/// An untyped, copyable handle on an [`OutputColumn`]'s buffers, valid while the column
/// is borrowed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SharedOut<'a> {
    values: *mut u8,
    valid: *mut u8,
    len: usize,
    width: usize,
    _column: PhantomData<&'a mut OutputColumn>,
}

// SAFETY: a SharedOut only hands out `RawOut`s, whose writes are `unsafe fn`s that
// require the caller to write each row from one thread only; the buffers live as long as
// the `&'a mut OutputColumn` borrow, which no one else can use meanwhile.
unsafe impl Send for SharedOut<'_> {}
// SAFETY: as for Send: shared use only writes, through `unsafe fn`s with that contract.
unsafe impl Sync for SharedOut<'_> {}

impl<'a> SharedOut<'a> {
    /// The typed writer.
    ///
    /// # Errors
    /// `Internal` when `T` is not the column's width.
    pub(crate) fn typed<T: Copy>(self) -> Result<RawOut<'a, T>> {
        if std::mem::size_of::<T>() != self.width {
            return Err(Error::internal(format!(
                "analytic output of {}-byte values written as {}-byte values",
                self.width,
                std::mem::size_of::<T>()
            )));
        }
        Ok(RawOut {
            values: self.values.cast::<T>(),
            valid: self.valid,
            len: self.len,
            _column: PhantomData,
        })
    }

    /// Number of rows.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

/// A typed writer on an output column.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawOut<'a, T> {
    values: *mut T,
    valid: *mut u8,
    len: usize,
    _column: PhantomData<&'a mut [T]>,
}

impl<T: Copy> RawOut<'_, T> {
    /// Writes a valid value at `row`.
    ///
    /// # Safety
    /// `row < len`, and no other thread writes `row` of this column while this handle is
    /// alive (each row is owned by one kernel instance).
    #[inline(always)]
    pub(crate) unsafe fn set(&self, row: usize, v: T) {
        debug_assert!(row < self.len);
        // SAFETY: the caller guarantees `row < len` and exclusive access to this row; the
        // buffers are `len` values long and 64-byte aligned (MutableBuffer).
        unsafe { self.values.add(row).write(v) }
    }

    /// Writes a value at `row` that is valid or not.
    ///
    /// # Safety
    /// As [`RawOut::set`].
    #[inline(always)]
    pub(crate) unsafe fn set_opt(&self, row: usize, v: T, valid: bool) {
        debug_assert!(row < self.len);
        // SAFETY: as in `set`.
        unsafe {
            self.values.add(row).write(v);
            if !valid {
                self.valid.add(row).write(0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Float64Type, Int64Type};

    use super::*;

    #[test]
    fn null_results_and_values() {
        let mut c = OutputColumn::new(&DataType::Int64, 4).unwrap();
        let w = c.shared().typed::<i64>().unwrap();
        // SAFETY: rows < 4, one thread
        unsafe {
            w.set(0, 7);
            w.set_opt(1, 1, false);
            w.set_opt(2, 9, true);
            w.set_opt(3, 5, false);
        }
        let a = c.finish().unwrap();
        let a = a.as_primitive::<Int64Type>();
        assert_eq!(a.null_count(), 2);
        assert_eq!((a.value(0), a.value(2)), (7, 9));
        assert!(a.is_null(1) && a.is_null(3));
    }

    #[test]
    fn booleans_and_wrong_widths() {
        let mut c = OutputColumn::new(&DataType::Boolean, 3).unwrap();
        assert!(c.shared().typed::<i64>().is_err());
        let w = c.shared().typed::<u8>().unwrap();
        // SAFETY: rows < 3, one thread
        unsafe {
            w.set(0, 1);
            w.set(1, 0);
            w.set(2, 1);
        }
        let a = c.finish().unwrap();
        assert_eq!(a.as_boolean(), &BooleanArray::from(vec![true, false, true]));
        assert!(OutputColumn::new(&DataType::Utf8, 1).is_err());
        let c = OutputColumn::new(&DataType::Float64, 0).unwrap();
        assert_eq!(c.finish().unwrap().as_primitive::<Float64Type>().len(), 0);
    }
}
