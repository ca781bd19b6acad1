//! Counting kernels: `ROW_NUMBER()`, `COUNT(*)` over a frame, `RANK()`, `DENSE_RANK()`.
//!
//! Each keeps a few integers per key. Ties for RANK / DENSE_RANK are runs of equal
//! ORDER BY values in arrival order within the partition: a row whose order value equals
//! the previous row's (NULL equals NULL) shares its rank; any other value starts a new
//! run, ranked by its row number (RANK) or by the number of runs so far (DENSE_RANK).
//! For rows that arrive in ORDER BY order this is SQL's RANK; rows that arrive out of
//! order are ranked in arrival order.

use arrow::array::{Array, ArrowPrimitiveType, AsArray};
use arrow::datatypes::DataType;

use super::kernel::{FrameKernel, KernelInput, Rows, deal_keys, for_each_row, grow};
use super::output::OutputColumn;
use crate::aggregate::native::ToI64;
use crate::error::{Error, Result};

/// `ROW_NUMBER()` (`cap` = `u64::MAX`) and `COUNT(*)` over the last `cap` rows:
/// `min(rows so far, cap)`.
#[derive(Debug, Clone)]
pub(crate) struct RowCountKernel {
    cap: u64,
    counts: Vec<u64>,
}

impl RowCountKernel {
    pub(crate) fn new(cap: u64) -> Self {
        RowCountKernel {
            cap,
            counts: Vec::new(),
        }
    }
}

impl FrameKernel for RowCountKernel {
    fn update(
        &mut self,
        input: &KernelInput<'_>,
        rows: &Rows<'_>,
        num_keys: usize,
        out: &mut OutputColumn,
    ) -> Result<()> {
        rows.check(input.num_rows, out.len(), num_keys)?;
        grow(&mut self.counts, num_keys);
        let mut out = out.writer::<i64>()?;
        let (counts, cap) = (&mut self.counts[..], self.cap);
        for_each_row(
            rows,
            #[inline(always)]
            |_, o, p| {
                let c = counts[p] + 1;
                counts[p] = c;
                out.set(o, c.min(cap) as i64);
            },
        );
        Ok(())
    }

    fn size_bytes(&self) -> usize {
        self.counts.capacity() * 8
    }

    fn fork(&self) -> Option<Box<dyn FrameKernel>> {
        Some(Box::new(self.clone()))
    }

    fn skip(&mut self, pid: usize, rows: u64) {
        grow(&mut self.counts, pid + 1);
        if let Some(c) = self.counts.get_mut(pid) {
            *c += rows;
        }
    }

    fn deal(&mut self, owners: usize) -> Option<Vec<Box<dyn FrameKernel>>> {
        let cap = self.cap;
        Some(
            deal_keys(std::mem::take(&mut self.counts), owners)
                .into_iter()
                .map(|counts| Box::new(RowCountKernel { cap, counts }) as Box<dyn FrameKernel>)
                .collect(),
        )
    }
}

/// RANK or DENSE_RANK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RankKind {
    /// `RANK()`: the row number of the first row of the tie run.
    Rank,
    /// `DENSE_RANK()`: the number of tie runs so far.
    Dense,
}

#[derive(Debug, Clone, Copy, Default)]
struct RankState {
    rows: u64,
    rank: u64,
    dense: u64,
    last: i64,
    last_valid: bool,
}

/// `RANK()` / `DENSE_RANK()` over an integer-like order column (timestamps, dates,
/// integers); without ORDER BY every row is a peer of every other (rank 1).
#[derive(Debug)]
pub(crate) struct RankKernel {
    kind: RankKind,
    order_type: Option<DataType>,
    states: Vec<RankState>,
}

impl RankKernel {
    /// # Errors
    /// `Plan` for an order type that is not integer-like.
    pub(crate) fn new(kind: RankKind, order_type: Option<DataType>) -> Result<Self> {
        if let Some(t) = &order_type
            && !is_rank_order_type(t)
        {
            return Err(Error::plan(format!(
                "RANK / DENSE_RANK cannot order by a value of type {}",
                crate::expr::types::sql_type_name(t)
            )));
        }
        Ok(RankKernel {
            kind,
            order_type,
            states: Vec::new(),
        })
    }

    fn update_typed<T: ArrowPrimitiveType>(
        &mut self,
        order: &dyn Array,
        rows: &Rows<'_>,
        out: &mut OutputColumn,
    ) -> Result<()>
    where
        T::Native: ToI64,
    {
        let order = order
            .as_primitive_opt::<T>()
            .ok_or_else(|| Error::internal("RANK order column of an unexpected type"))?;
        let values = order.values();
        let nulls = order.nulls().filter(|n| n.null_count() > 0);
        let mut out = out.writer::<i64>()?;
        let states = &mut self.states[..];
        let dense = self.kind == RankKind::Dense;
        for_each_row(
            rows,
            #[inline(always)]
            |i, o, p| {
                let v = values[i].to_i64_exact();
                let valid = nulls.is_none_or(|n| n.is_valid(i));
                let s = &mut states[p];
                s.rows += 1;
                let tie = s.rows > 1 && valid == s.last_valid && (!valid || v == s.last);
                if !tie {
                    s.rank = s.rows;
                    s.dense += 1;
                    s.last = v;
                    s.last_valid = valid;
                }
                let r = if dense { s.dense } else { s.rank };
                out.set(o, r as i64);
            },
        );
        Ok(())
    }
}

/// The order column types RANK accepts: integers and the temporal types stored as them.
pub(crate) fn is_rank_order_type(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::Date32
            | DataType::Date64
            | DataType::Timestamp(_, _)
    )
}

impl FrameKernel for RankKernel {
    fn update(
        &mut self,
        input: &KernelInput<'_>,
        rows: &Rows<'_>,
        num_keys: usize,
        out: &mut OutputColumn,
    ) -> Result<()> {
        rows.check(input.num_rows, out.len(), num_keys)?;
        grow(&mut self.states, num_keys);
        let (Some(order), Some(t)) = (input.order, self.order_type.clone()) else {
            let mut out = out.writer::<i64>()?;
            for_each_row(
                rows,
                #[inline(always)]
                |_, o, _| out.set(o, 1),
            );
            return Ok(());
        };
        use arrow::datatypes::*;
        let order = order.as_ref();
        match t {
            DataType::Int8 => self.update_typed::<Int8Type>(order, rows, out),
            DataType::Int16 => self.update_typed::<Int16Type>(order, rows, out),
            DataType::Int32 => self.update_typed::<Int32Type>(order, rows, out),
            DataType::Int64 => self.update_typed::<Int64Type>(order, rows, out),
            DataType::UInt8 => self.update_typed::<UInt8Type>(order, rows, out),
            DataType::UInt16 => self.update_typed::<UInt16Type>(order, rows, out),
            DataType::UInt32 => self.update_typed::<UInt32Type>(order, rows, out),
            DataType::Date32 => self.update_typed::<Date32Type>(order, rows, out),
            DataType::Date64 => self.update_typed::<Date64Type>(order, rows, out),
            DataType::Timestamp(TimeUnit::Second, _) => {
                self.update_typed::<TimestampSecondType>(order, rows, out)
            }
            DataType::Timestamp(TimeUnit::Millisecond, _) => {
                self.update_typed::<TimestampMillisecondType>(order, rows, out)
            }
            DataType::Timestamp(TimeUnit::Microsecond, _) => {
                self.update_typed::<TimestampMicrosecondType>(order, rows, out)
            }
            DataType::Timestamp(TimeUnit::Nanosecond, _) => {
                self.update_typed::<TimestampNanosecondType>(order, rows, out)
            }
            other => Err(Error::internal(format!("RANK over {other}"))),
        }
    }

    fn size_bytes(&self) -> usize {
        self.states.capacity() * std::mem::size_of::<RankState>()
    }
}
