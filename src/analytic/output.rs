//! The result column of one analytic call over one batch, filled slot by slot.
//!
//! ```text
//!  one partition:   OutputColumn (n slots) ◀── the kernel appends row i's result ──▶ finish()
//!
//!  N partitions:    owner p: OutputColumn (its m_p rows) ◀── slot k = its k-th row
//!                   scatter(): the owners' runs merged in row order, one copy per run
//! ```
//! Kernels write their slots in order, so a column is appended to, never pre-filled.
//! With several partitions each owner thread fills a compact column of its own rows
//! (threads never write near each other: interleaved writes into one shared column made
//! the cache lines at every change of key bounce between the cores), and the batch's
//! column is assembled from them. Validity is a byte per slot, allocated at the first
//! NULL result (most columns have none) and packed into a bitmap at the end.

use std::sync::Arc;

use arrow::array::{ArrayData, ArrayRef, BooleanArray, make_array};
use arrow::buffer::{BooleanBuffer, Buffer, MutableBuffer, NullBuffer};
use arrow::datatypes::{ArrowNativeType, DataType};

use super::kernel::Run;
use crate::error::{Error, Result};

/// A fixed-width result column under construction.
#[derive(Debug)]
pub(crate) struct OutputColumn {
    data_type: DataType,
    /// Slots the column will hold.
    len: usize,
    /// Bytes per value (1 for BOOLEAN, written as 0/1 bytes).
    width: usize,
    /// The values written so far.
    values: MutableBuffer,
    /// 1 = valid, 0 = NULL, for all `len` slots; allocated at the first NULL.
    valid: Option<Vec<u8>>,
}

impl OutputColumn {
    /// An empty column for `len` values of `data_type` (a fixed-width type or BOOLEAN).
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
            values: MutableBuffer::with_capacity(len * width),
            valid: None,
        })
    }

    /// Number of slots.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The typed writer.
    ///
    /// # Errors
    /// `Internal` when `T` is not the column's width.
    pub(crate) fn writer<T: ArrowNativeType>(&mut self) -> Result<Writer<'_, T>> {
        if std::mem::size_of::<T>() != self.width {
            return Err(Error::internal(format!(
                "analytic output of {}-byte values written as {}-byte values",
                self.width,
                std::mem::size_of::<T>()
            )));
        }
        Ok(Writer {
            written: self.values.len() / self.width,
            len: self.len,
            values: &mut self.values,
            valid: &mut self.valid,
            _t: std::marker::PhantomData,
        })
    }

    /// The finished Arrow array.
    ///
    /// # Errors
    /// `Internal` when a slot was not written (a bug); Arrow errors building the array.
    pub(crate) fn finish(self) -> Result<ArrayRef> {
        if self.values.len() != self.len * self.width {
            return Err(Error::internal(format!(
                "analytic output has {} of its {} values",
                self.values.len() / self.width.max(1),
                self.len
            )));
        }
        let nulls = self.valid.as_ref().map(|valid| {
            NullBuffer::from(BooleanBuffer::collect_bool(self.len, |i| valid[i] != 0))
        });
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

    /// A column of `len` rows from compact owner columns: the slots of `parts[p].0` are
    /// the rows of the runs `parts[p].1`, in order; the runs of all owners cover `0..len`.
    /// The runs are merged in row order and each is copied once (a run of one row, the
    /// common case for keys that change on every row, as one value).
    ///
    /// # Errors
    /// `Internal` when the parts do not fit the column.
    pub(crate) fn scatter(
        data_type: &DataType,
        len: usize,
        parts: &[(OutputColumn, &[Run])],
    ) -> Result<ArrayRef> {
        let mut out = OutputColumn::new(data_type, len)?;
        if parts.iter().any(|(p, _)| p.width != out.width) {
            return Err(Error::internal("analytic owner columns of another width"));
        }
        match out.width {
            1 => merge_runs::<u8>(&mut out, parts)?,
            2 => merge_runs::<u16>(&mut out, parts)?,
            4 => merge_runs::<u32>(&mut out, parts)?,
            8 => merge_runs::<u64>(&mut out, parts)?,
            16 => merge_runs::<i128>(&mut out, parts)?,
            w => {
                return Err(Error::internal(format!(
                    "analytic output of {w}-byte values"
                )));
            }
        }
        out.finish()
    }
}

/// Appends the owners' slots to `out` in row order (values as `T`, the column's width).
fn merge_runs<T: ArrowNativeType>(
    out: &mut OutputColumn,
    parts: &[(OutputColumn, &[Run])],
) -> Result<()> {
    let misfit = || Error::internal("analytic owner columns do not fit their rows");
    let len = out.len;
    let any_nulls = parts.iter().any(|(p, _)| p.valid.is_some());
    let mut valid: Vec<u8> = Vec::with_capacity(if any_nulls { len } else { 0 });
    let values: Vec<&[T]> = parts
        .iter()
        .map(|(p, _)| p.values.typed_data::<T>())
        .collect();
    // per part: next run, next slot
    let mut next: Vec<(usize, usize)> = vec![(0, 0); parts.len()];
    let mut row = 0usize;
    while row < len {
        // the part whose next run starts at `row`
        let Some(p) = (0..parts.len()).find(|&p| {
            parts[p]
                .1
                .get(next[p].0)
                .is_some_and(|r| r.start as usize == row)
        }) else {
            return Err(misfit());
        };
        let (r, slot) = next[p];
        let n = parts[p].1[r].len as usize;
        let src = values[p].get(slot..slot + n).ok_or_else(misfit)?;
        if let [one] = src {
            out.values.push(*one);
        } else {
            out.values.extend_from_slice(src);
        }
        if any_nulls {
            match &parts[p].0.valid {
                Some(v) => valid.extend_from_slice(v.get(slot..slot + n).ok_or_else(misfit)?),
                None => valid.resize(valid.len() + n, 1),
            }
        }
        next[p] = (r + 1, slot + n);
        row += n;
    }
    // every run and every slot of every part taken
    if next
        .iter()
        .zip(parts)
        .zip(&values)
        .any(|((&(r, slot), (_, runs)), v)| r != runs.len() || slot != v.len())
    {
        return Err(misfit());
    }
    if any_nulls {
        out.valid = Some(valid);
    }
    Ok(())
}

/// Appends results to an [`OutputColumn`], slot after slot.
#[derive(Debug)]
pub(crate) struct Writer<'a, T> {
    values: &'a mut MutableBuffer,
    valid: &'a mut Option<Vec<u8>>,
    /// Slots written.
    written: usize,
    /// Slots in the column.
    len: usize,
    _t: std::marker::PhantomData<T>,
}

impl<T: ArrowNativeType> Writer<'_, T> {
    /// Writes a valid value at `slot`, the next slot (kernels write their rows in order;
    /// a slot already written is overwritten).
    #[inline(always)]
    pub(crate) fn set(&mut self, slot: usize, v: T) {
        if slot == self.written {
            self.values.push(v);
            self.written += 1;
        } else {
            self.overwrite(slot, v);
        }
    }

    /// Writes a value at `slot` that is valid or NULL.
    #[inline(always)]
    pub(crate) fn set_opt(&mut self, slot: usize, v: T, valid: bool) {
        self.set(slot, v);
        if !valid {
            self.set_null(slot);
        }
    }

    #[cold]
    fn overwrite(&mut self, slot: usize, v: T) {
        if let Some(x) = self.values.typed_data_mut::<T>().get_mut(slot) {
            *x = v;
        }
    }

    #[cold]
    fn set_null(&mut self, slot: usize) {
        let len = self.len;
        if let Some(v) = self
            .valid
            .get_or_insert_with(|| vec![1u8; len])
            .get_mut(slot)
        {
            *v = 0;
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
        let mut w = c.writer::<i64>().unwrap();
        w.set(0, 7);
        w.set_opt(1, 1, false);
        w.set_opt(2, 9, true);
        w.set_opt(3, 5, false);
        let a = c.finish().unwrap();
        let a = a.as_primitive::<Int64Type>();
        assert_eq!(a.null_count(), 2);
        assert_eq!((a.value(0), a.value(2)), (7, 9));
        assert!(a.is_null(1) && a.is_null(3));
    }

    #[test]
    fn booleans_wrong_widths_and_missing_slots() {
        let mut c = OutputColumn::new(&DataType::Boolean, 3).unwrap();
        assert!(c.writer::<i64>().is_err());
        let mut w = c.writer::<u8>().unwrap();
        w.set(0, 1);
        w.set(1, 0);
        w.set(2, 1);
        let a = c.finish().unwrap();
        assert_eq!(a.as_boolean(), &BooleanArray::from(vec![true, false, true]));
        assert!(OutputColumn::new(&DataType::Utf8, 1).is_err());
        let c = OutputColumn::new(&DataType::Float64, 0).unwrap();
        assert_eq!(c.finish().unwrap().as_primitive::<Float64Type>().len(), 0);
        let mut c = OutputColumn::new(&DataType::Float64, 2).unwrap();
        c.writer::<f64>().unwrap().set(0, 1.0);
        assert!(
            c.finish().is_err(),
            "a slot left unwritten is a bug, reported"
        );
    }

    #[test]
    fn scatter_merges_owner_runs_in_row_order() {
        // owner 0 has rows 0, 2, 3; owner 1 has rows 1, 4
        let mut a = OutputColumn::new(&DataType::Int64, 3).unwrap();
        {
            let mut w = a.writer::<i64>().unwrap();
            w.set(0, 10);
            w.set_opt(1, 0, false);
            w.set(2, 30);
        }
        let mut b = OutputColumn::new(&DataType::Int64, 2).unwrap();
        {
            let mut w = b.writer::<i64>().unwrap();
            w.set(0, 11);
            w.set(1, 41);
        }
        let run = |start, len| Run { start, len, pid: 0 };
        let rows_a = [run(0, 1), run(2, 2)];
        let rows_b = [run(1, 1), run(4, 1)];
        let out =
            OutputColumn::scatter(&DataType::Int64, 5, &[(a, &rows_a), (b, &rows_b)]).unwrap();
        let out = out.as_primitive::<Int64Type>();
        assert_eq!(out.values(), &[10, 11, 0, 30, 41]);
        assert!(out.is_null(2) && out.null_count() == 1);
        let short = OutputColumn::new(&DataType::Int64, 1).unwrap();
        assert!(OutputColumn::scatter(&DataType::Int64, 5, &[(short, &rows_b)]).is_err());
    }

    /// Owner columns holding `rows`' values (NULL where `None`) and their runs: rows
    /// dealt to owners by `row_owner`, consecutive rows of one owner made one run unless
    /// the row index is a multiple of 3.
    type Dealt = Vec<(OutputColumn, Vec<Run>)>;

    fn deal(rows: &[Option<i64>], row_owner: &[u8], owners: usize) -> Dealt {
        let mut runs: Vec<Vec<Run>> = vec![Vec::new(); owners];
        let mut values: Vec<Vec<Option<i64>>> = vec![Vec::new(); owners];
        for (i, (v, &o)) in rows.iter().zip(row_owner).enumerate() {
            let p = usize::from(o);
            match runs[p].last_mut() {
                Some(r) if (r.start + r.len) as usize == i && i % 3 != 0 => r.len += 1,
                _ => runs[p].push(Run {
                    start: i as u32,
                    len: 1,
                    pid: 0,
                }),
            }
            values[p].push(*v);
        }
        values
            .iter()
            .zip(runs)
            .map(|(mine, runs)| {
                let mut c = OutputColumn::new(&DataType::Int64, mine.len()).unwrap();
                let mut w = c.writer::<i64>().unwrap();
                for (slot, v) in mine.iter().enumerate() {
                    w.set_opt(slot, v.unwrap_or(0), v.is_some());
                }
                (c, runs)
            })
            .collect()
    }

    /// `OutputColumn::scatter` of the dealt parts over `len` rows.
    fn scatter_dealt(len: usize, dealt: Dealt) -> Result<ArrayRef> {
        let (columns, runs): (Vec<OutputColumn>, Vec<Vec<Run>>) = dealt.into_iter().unzip();
        let placed: Vec<(OutputColumn, &[Run])> = columns
            .into_iter()
            .zip(runs.iter().map(Vec::as_slice))
            .collect();
        OutputColumn::scatter(&DataType::Int64, len, &placed)
    }

    #[test]
    fn scatter_puts_every_owner_slot_back_at_its_row() {
        // random owners, rows in runs of one or more, with and without NULLs, against
        // the rows the parts were dealt from
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for owners in [1usize, 2, 3, 5] {
            for with_nulls in [false, true] {
                let n = 1000;
                let rows: Vec<Option<i64>> = (0..n)
                    .map(|i| (!with_nulls || next() % 7 != 0).then_some(i as i64 * 3 - 500))
                    .collect();
                // owners in runs of 1 to 4 rows
                let mut row_owner = Vec::new();
                while row_owner.len() < n {
                    let o = (next() % owners as u64) as u8;
                    let len = 1 + (next() % 4) as usize;
                    row_owner.extend(std::iter::repeat_n(o, len.min(n - row_owner.len())));
                }
                let out = scatter_dealt(n, deal(&rows, &row_owner, owners)).unwrap();
                let got: Vec<Option<i64>> = out.as_primitive::<Int64Type>().iter().collect();
                assert_eq!(got, rows, "{owners} owners, NULLs: {with_nulls}");
            }
        }
    }

    #[test]
    fn a_misfit_names_the_owner_columns() {
        // each way of not fitting gives the same internal error, naming what went wrong
        let rows = [Some(1), Some(2), Some(3), Some(4)];
        let dealt = [0u8, 1, 1, 0];
        let mut short = deal(&rows, &dealt, 2);
        short[1].1.pop();
        let mut long = deal(&rows, &dealt, 2);
        long[1].1[0].len += 1;
        for (what, len, parts) in [
            ("a run left out", 4, short),
            ("a run longer than its slots", 4, long),
            ("fewer rows than the runs", 3, deal(&rows, &dealt, 2)),
        ] {
            match scatter_dealt(len, parts) {
                Err(Error::Internal(message)) => assert!(
                    message.contains("owner columns do not fit their rows"),
                    "{what}: {message}"
                ),
                other => panic!("{what}: {other:?}"),
            }
        }
    }

    #[test]
    fn scatter_reports_parts_that_do_not_fit() {
        let rows = [Some(1), Some(2), Some(3), Some(4)];
        let dealt = [0u8, 1, 1, 0];
        // as dealt: fits
        assert!(scatter_dealt(4, deal(&rows, &dealt, 2)).is_ok());
        // a run left out; a run past the end; a run longer than its part's slots; fewer
        // rows than the runs hold
        let mut short = deal(&rows, &dealt, 2);
        short[1].1.pop();
        assert!(scatter_dealt(4, short).is_err());
        let mut past = deal(&rows, &dealt, 2);
        past[0].1.push(Run {
            start: 4,
            len: 1,
            pid: 0,
        });
        assert!(scatter_dealt(4, past).is_err());
        let mut long = deal(&rows, &dealt, 2);
        long[1].1[0].len += 1;
        assert!(scatter_dealt(4, long).is_err());
        assert!(scatter_dealt(3, deal(&rows, &dealt, 2)).is_err());
    }
}
