//! Moving sums: `SUM(x)`, `AVG(x)` and `COUNT(x)` over the last `n` rows (or every row so
//! far) of each partition, in O(1) per row whatever the frame size.
//!
//! ```text
//!  row of key k ─▶ ring[k].push(value) ──▶ evicted value (the row that left the frame)
//!                  sum[k] += value          sum[k] -= evicted
//!                  out = sum[k] (or sum / count)
//! ```
//! - Integers and decimals: an exact `i128` sum (SUM is DuckDB's HUGEINT /
//!   `DECIMAL(38, s)`; a result past 38 digits is an `Execution` error).
//! - Floats: Neumaier's compensated sum, with subtraction done as the addition of the
//!   negated value. Infinities and NaN are counted apart (a frame holding +inf and -inf,
//!   or a NaN, sums to NaN; the finite part stays exact once they leave), and the sum is
//!   recomputed from the ring every 64 turns of the ring (64·`n` evictions) and whenever
//!   it overflows, so rounding cannot accumulate over a long stream: amortised O(1) per
//!   row.
//! - AVG is the sum divided by the count of non-NULL values in the frame (decimals
//!   divided by 10^scale first, as the GROUP BY AVG); an empty frame gives NULL.

use std::marker::PhantomData;

use arrow::array::{Array, ArrowPrimitiveType, AsArray};
use arrow::datatypes::DataType;

use super::chunk_sum::ChunkSum;
use super::kernel::{FrameKernel, KernelInput, Rows, deal_keys, for_each_row, for_each_run, grow};
use super::output::OutputColumn;
use super::ring::Ring;
use crate::aggregate::native::{ToF64, ToI128};
use crate::error::{Error, Result};
use crate::expr::types::sql_type_name;

/// What a moving sum reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum SumOutput {
    /// The sum, in the result type.
    Sum,
    /// The sum divided by 10^scale (decimals) and by the count.
    Avg {
        /// 10^scale for decimals, else 1.
        divisor: f64,
    },
}

/// Frame rows as a ring capacity; `None` for UNBOUNDED PRECEDING (no ring needed).
fn ring_cap(frame_rows: Option<u64>) -> Option<usize> {
    frame_rows.map(|n| usize::try_from(n).unwrap_or(usize::MAX))
}

/// A copy of a kernel over `cap` rows (its state is the last `cap` rows of each key),
/// or `None` for UNBOUNDED PRECEDING (its state is all the key's rows).
fn fork_bounded<K: FrameKernel + Clone + 'static>(
    kernel: &K,
    cap: Option<usize>,
) -> Option<Box<dyn FrameKernel>> {
    cap.map(|_| Box::new(kernel.clone()) as Box<dyn FrameKernel>)
}

/// The rows of a key's history a kernel over `cap` rows keeps.
fn frame_history(cap: Option<usize>) -> u64 {
    cap.map_or(u64::MAX, |c| c as u64)
}

/// The primitive argument column, or an `Internal` error.
pub(crate) fn primitive<'a, T: ArrowPrimitiveType>(
    a: &'a arrow::array::ArrayRef,
    what: &str,
) -> Result<&'a arrow::array::PrimitiveArray<T>> {
    a.as_primitive_opt::<T>().ok_or_else(|| {
        Error::internal(format!(
            "{what}: argument of type {} given to a kernel for {}",
            a.data_type(),
            T::DATA_TYPE
        ))
    })
}

// ---------------------------------------------------------------------------------------
// exact sums

#[derive(Debug, Clone, Copy, Default)]
struct ExactState {
    sum: i128,
    count: u64,
}

/// SUM / AVG of integers and decimals: exact `i128` sums.
#[derive(Debug)]
pub(crate) struct ExactSumKernel<T: ArrowPrimitiveType> {
    output: SumOutput,
    /// DECIMAL(38, s) / HUGEINT: the largest magnitude a SUM may reach.
    max_abs: i128,
    /// `None`: UNBOUNDED PRECEDING.
    cap: Option<usize>,
    states: Vec<ExactState>,
    rings: Vec<Ring<(T::Native, bool)>>,
    /// Heap bytes of the rings.
    ring_bytes: usize,
    result_type: DataType,
    _t: PhantomData<fn() -> T>,
}

impl<T: ArrowPrimitiveType> Clone for ExactSumKernel<T> {
    fn clone(&self) -> Self {
        ExactSumKernel {
            output: self.output,
            max_abs: self.max_abs,
            cap: self.cap,
            states: self.states.clone(),
            rings: self.rings.clone(),
            ring_bytes: self.ring_bytes,
            result_type: self.result_type.clone(),
            _t: PhantomData,
        }
    }
}

impl<T: ArrowPrimitiveType> ExactSumKernel<T>
where
    T::Native: ToI128,
{
    pub(crate) fn new(output: SumOutput, frame_rows: Option<u64>, result_type: DataType) -> Self {
        ExactSumKernel {
            output,
            max_abs: 10i128.pow(38) - 1,
            cap: ring_cap(frame_rows),
            states: Vec::new(),
            rings: Vec::new(),
            ring_bytes: 0,
            result_type,
            _t: PhantomData,
        }
    }

    fn overflow(&self) -> Error {
        Error::execution(format!(
            "Overflow in SUM: the sum of a window frame is out of the range of {}",
            sql_type_name(&self.result_type)
        ))
    }

    /// Runs the rows; `max_abs` bounds every row's sum (SUM's 38 digits; AVG: none).
    fn run<const NULLS: bool, R: arrow::datatypes::ArrowNativeType>(
        &mut self,
        input: &KernelInput<'_>,
        rows: &Rows<'_>,
        mut out: super::output::Writer<'_, R>,
        max_abs: u128,
        result: impl Fn(&ExactState) -> R,
    ) -> Result<()> {
        let arg = primitive::<T>(input.arg(0)?, "SUM")?;
        let values = arg.values();
        let nulls = arg.nulls();
        let states = &mut self.states[..];
        let mut failed = false;
        match self.cap {
            None => for_each_row(
                rows,
                #[inline(always)]
                |i, o, p| {
                    let s = &mut states[p];
                    if !NULLS || nulls.is_none_or(|n| n.is_valid(i)) {
                        match s.sum.checked_add(values[i].to_i128()) {
                            Some(v) => s.sum = v,
                            None => failed = true,
                        }
                        s.count += 1;
                    }
                    failed |= s.sum.unsigned_abs() > max_abs;
                    out.set_opt(o, result(s), s.count > 0);
                },
            ),
            Some(cap) => {
                let rings = &mut self.rings[..];
                let ring_bytes = &mut self.ring_bytes;
                // the key's state stays in locals for a run of its rows
                for_each_run(
                    rows,
                    #[inline(always)]
                    |run, first_slot, p| {
                        let mut s = states[p];
                        let ring = &mut rings[p];
                        for (i, o) in run.zip(first_slot..) {
                            let valid = !NULLS || nulls.is_none_or(|n| n.is_valid(i));
                            let v = values[i];
                            if let Some((old, old_valid)) = ring.push((v, valid), cap, ring_bytes)
                                && old_valid
                            {
                                match s.sum.checked_sub(old.to_i128()) {
                                    Some(x) => s.sum = x,
                                    None => failed = true,
                                }
                                s.count -= 1;
                            }
                            if valid {
                                match s.sum.checked_add(v.to_i128()) {
                                    Some(x) => s.sum = x,
                                    None => failed = true,
                                }
                                s.count += 1;
                            }
                            failed |= s.sum.unsigned_abs() > max_abs;
                            out.set_opt(o, result(&s), s.count > 0);
                        }
                        states[p] = s;
                    },
                );
            }
        }
        if failed {
            return Err(self.overflow());
        }
        Ok(())
    }
}

impl<T: ArrowPrimitiveType> FrameKernel for ExactSumKernel<T>
where
    T::Native: ToI128,
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
        if self.cap.is_some() {
            grow(&mut self.rings, num_keys);
        }
        let nulls = input.arg(0)?.null_count() > 0;
        match self.output {
            SumOutput::Sum => {
                let out = out.writer::<i128>()?;
                let max = self.max_abs as u128;
                let f = |s: &ExactState| s.sum;
                if nulls {
                    self.run::<true, _>(input, rows, out, max, f)
                } else {
                    self.run::<false, _>(input, rows, out, max, f)
                }
            }
            SumOutput::Avg { divisor } => {
                let out = out.writer::<f64>()?;
                let f = move |s: &ExactState| s.sum as f64 / divisor / s.count as i64 as f64;
                if nulls {
                    self.run::<true, _>(input, rows, out, u128::MAX, f)
                } else {
                    self.run::<false, _>(input, rows, out, u128::MAX, f)
                }
            }
        }
    }

    fn size_bytes(&self) -> usize {
        self.states.capacity() * std::mem::size_of::<ExactState>()
            + self.rings.capacity() * std::mem::size_of::<Ring<(T::Native, bool)>>()
            + self.ring_bytes
    }

    fn fork(&self) -> Option<Box<dyn FrameKernel>> {
        fork_bounded(self, self.cap)
    }

    fn history_rows(&self) -> u64 {
        frame_history(self.cap)
    }

    fn skip(&mut self, pid: usize, _rows: u64) {
        // exact sums: the replayed rows alone make the frame's sum
        grow(&mut self.states, pid + 1);
        grow(&mut self.rings, pid + 1);
        if let (Some(s), Some(r)) = (self.states.get_mut(pid), self.rings.get_mut(pid)) {
            *s = ExactState::default();
            r.clear();
        }
    }

    fn deal(&mut self, owners: usize) -> Option<Vec<Box<dyn FrameKernel>>> {
        let states = deal_keys(std::mem::take(&mut self.states), owners);
        let rings = deal_keys(std::mem::take(&mut self.rings), owners);
        self.ring_bytes = 0;
        Some(
            states
                .into_iter()
                .zip(rings)
                .map(|(states, rings)| {
                    let ring_bytes = Ring::total_bytes(&rings);
                    Box::new(ExactSumKernel::<T> {
                        output: self.output,
                        max_abs: self.max_abs,
                        cap: self.cap,
                        states,
                        rings,
                        ring_bytes,
                        result_type: self.result_type.clone(),
                        _t: PhantomData,
                    }) as Box<dyn FrameKernel>
                })
                .collect(),
        )
    }
}

// ---------------------------------------------------------------------------------------
// float sums

/// A moving float sum is recomputed from its ring after this many turns of the ring.
/// Neumaier's compensation already keeps each step's rounding error, so what the
/// recomputation bounds is the error of the compensation term itself (about eps² of the
/// sum per row); one O(n) pass per 64·n rows costs under 2% of the per-row work, where
/// one per n rows cost a third of it on SPEC §9 S1.
pub(crate) const RECOMPUTE_TURNS: u64 = 64;

/// Per-key state of a compensated float sum.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FloatState {
    /// Finite values: running sum and Neumaier compensation.
    sum: f64,
    comp: f64,
    /// Non-NULL values in the frame (finite or not).
    pub(crate) count: u64,
    nan: u32,
    pos_inf: u32,
    neg_inf: u32,
    /// Evictions since the sum was last recomputed from the ring.
    pub(crate) evicted: u64,
}

impl FloatState {
    /// Neumaier's step: adds `v` (finite) to `sum`, keeping the lost low bits in `comp`.
    #[inline(always)]
    fn add_finite(&mut self, v: f64) {
        let t = self.sum + v;
        if self.sum.abs() >= v.abs() {
            self.comp += (self.sum - t) + v;
        } else {
            self.comp += (v - t) + self.sum;
        }
        self.sum = t;
    }

    #[inline(always)]
    pub(crate) fn add(&mut self, v: f64) {
        self.count += 1;
        if v.is_finite() {
            self.add_finite(v);
        } else {
            self.count_special(v, 1);
        }
    }

    #[inline(always)]
    pub(crate) fn remove(&mut self, v: f64) {
        self.count -= 1;
        if v.is_finite() {
            self.add_finite(-v);
        } else {
            self.count_special(v, u32::MAX);
        }
    }

    #[cold]
    fn count_special(&mut self, v: f64, delta: u32) {
        let c = if v.is_nan() {
            &mut self.nan
        } else if v > 0.0 {
            &mut self.pos_inf
        } else {
            &mut self.neg_inf
        };
        *c = c.wrapping_add(delta);
    }

    /// The sum of the frame's values (NaN / ±inf by IEEE rules when any is not finite).
    #[inline(always)]
    pub(crate) fn total(&self) -> f64 {
        if (self.nan | self.pos_inf | self.neg_inf) != 0 {
            return if self.nan > 0 || (self.pos_inf > 0 && self.neg_inf > 0) {
                f64::NAN
            } else if self.pos_inf > 0 {
                f64::INFINITY
            } else {
                f64::NEG_INFINITY
            };
        }
        let s = self.sum + self.comp;
        if s.is_finite() { s } else { self.sum }
    }

    /// Recomputes the finite sum from the frame's non-NULL values.
    pub(crate) fn recompute_from(&mut self, values: impl Iterator<Item = f64>) {
        self.sum = 0.0;
        self.comp = 0.0;
        self.evicted = 0;
        for v in values {
            if v.is_finite() {
                self.add_finite(v);
            }
        }
    }

    /// Whether the finite running sum overflowed (it is then recomputed).
    #[inline(always)]
    pub(crate) fn overflowed(&self) -> bool {
        !self.sum.is_finite()
    }
}

/// SUM / AVG of FLOAT / DOUBLE: compensated `f64` sums.
#[derive(Debug)]
pub(crate) struct FloatSumKernel<T: ArrowPrimitiveType> {
    output: SumOutput,
    cap: Option<usize>,
    /// UNBOUNDED PRECEDING: a running sum per key.
    states: Vec<FloatState>,
    /// `n` rows: chunked sums per key.
    frames: Vec<ChunkSum<T::Native>>,
    /// Heap bytes of the frames' buffers.
    frame_bytes: usize,
    _t: PhantomData<fn() -> T>,
}

impl<T: ArrowPrimitiveType> Clone for FloatSumKernel<T> {
    fn clone(&self) -> Self {
        FloatSumKernel {
            output: self.output,
            cap: self.cap,
            states: self.states.clone(),
            frames: self.frames.clone(),
            frame_bytes: self.frame_bytes,
            _t: PhantomData,
        }
    }
}

impl<T: ArrowPrimitiveType> FloatSumKernel<T>
where
    T::Native: ToF64,
{
    pub(crate) fn new(output: SumOutput, frame_rows: Option<u64>) -> Self {
        FloatSumKernel {
            output,
            cap: ring_cap(frame_rows),
            states: Vec::new(),
            frames: Vec::new(),
            frame_bytes: 0,
            _t: PhantomData,
        }
    }

    fn run<const NULLS: bool, const AVG: bool>(
        &mut self,
        input: &KernelInput<'_>,
        rows: &Rows<'_>,
        mut out: super::output::Writer<'_, f64>,
    ) -> Result<()> {
        let arg = primitive::<T>(input.arg(0)?, "SUM")?;
        let values = arg.values();
        let nulls = arg.nulls();
        // (float arguments have no decimal divisor; `as i64` converts in one instruction)
        let result = |total: f64, count: u64| {
            if AVG {
                total / count as i64 as f64
            } else {
                total
            }
        };
        match self.cap {
            None => {
                let states = &mut self.states[..];
                for_each_row(
                    rows,
                    #[inline(always)]
                    |i, o, p| {
                        let s = &mut states[p];
                        if !NULLS || nulls.is_none_or(|n| n.is_valid(i)) {
                            s.add(values[i].to_f64());
                        }
                        out.set_opt(o, result(s.total(), s.count), s.count > 0);
                    },
                )
            }
            Some(cap) => {
                let frames = &mut self.frames[..];
                let bytes = &mut self.frame_bytes;
                // the key's scalar state stays in locals for a run of its rows
                for_each_run(
                    rows,
                    #[inline(always)]
                    |run, first_slot, p| {
                        let frame = &mut frames[p];
                        let mut head = frame.head;
                        for (i, o) in run.zip(first_slot..) {
                            let valid = !NULLS || nulls.is_none_or(|n| n.is_valid(i));
                            let total = frame.push(&mut head, values[i], valid, cap, bytes);
                            out.set_opt(o, result(total, head.count), head.count > 0);
                        }
                        frame.head = head;
                    },
                );
            }
        }
        Ok(())
    }
}

impl<T: ArrowPrimitiveType> FrameKernel for FloatSumKernel<T>
where
    T::Native: ToF64,
{
    fn update(
        &mut self,
        input: &KernelInput<'_>,
        rows: &Rows<'_>,
        num_keys: usize,
        out: &mut OutputColumn,
    ) -> Result<()> {
        rows.check(input.num_rows, out.len(), num_keys)?;
        if self.cap.is_some() {
            grow(&mut self.frames, num_keys);
        } else {
            grow(&mut self.states, num_keys);
        }
        let out = out.writer::<f64>()?;
        let nulls = input.arg(0)?.null_count() > 0;
        match (nulls, matches!(self.output, SumOutput::Avg { .. })) {
            (true, true) => self.run::<true, true>(input, rows, out),
            (true, false) => self.run::<true, false>(input, rows, out),
            (false, true) => self.run::<false, true>(input, rows, out),
            (false, false) => self.run::<false, false>(input, rows, out),
        }
    }

    fn size_bytes(&self) -> usize {
        self.states.capacity() * std::mem::size_of::<FloatState>()
            + self.frames.capacity() * std::mem::size_of::<ChunkSum<T::Native>>()
            + self.frame_bytes
    }

    fn fork(&self) -> Option<Box<dyn FrameKernel>> {
        fork_bounded(self, self.cap)
    }

    fn history_rows(&self) -> u64 {
        frame_history(self.cap)
    }

    fn skip(&mut self, pid: usize, rows: u64) {
        if let Some(cap) = self.cap {
            grow(&mut self.frames, pid + 1);
            if let Some(f) = self.frames.get_mut(pid) {
                f.skip(rows, cap, &mut self.frame_bytes);
            }
        }
    }

    fn deal(&mut self, owners: usize) -> Option<Vec<Box<dyn FrameKernel>>> {
        let states = deal_keys(std::mem::take(&mut self.states), owners);
        let frames = deal_keys(std::mem::take(&mut self.frames), owners);
        self.frame_bytes = 0;
        Some(
            states
                .into_iter()
                .zip(frames)
                .map(|(states, frames)| {
                    let frame_bytes = frames.iter().map(ChunkSum::heap_bytes).sum();
                    Box::new(FloatSumKernel::<T> {
                        output: self.output,
                        cap: self.cap,
                        states,
                        frames,
                        frame_bytes,
                        _t: PhantomData,
                    }) as Box<dyn FrameKernel>
                })
                .collect(),
        )
    }
}

// ---------------------------------------------------------------------------------------
// COUNT(x)

/// `COUNT(x)`: non-NULL values in the frame, from a ring of validity flags.
#[derive(Debug, Clone)]
pub(crate) struct CountKernel {
    cap: Option<usize>,
    counts: Vec<u64>,
    rings: Vec<Ring<bool>>,
    /// Heap bytes of the rings.
    ring_bytes: usize,
}

impl CountKernel {
    pub(crate) fn new(frame_rows: Option<u64>) -> Self {
        CountKernel {
            cap: ring_cap(frame_rows),
            counts: Vec::new(),
            rings: Vec::new(),
            ring_bytes: 0,
        }
    }
}

impl FrameKernel for CountKernel {
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
        let arg = input.arg(0)?;
        let nulls = arg.logical_nulls();
        let counts = &mut self.counts[..];
        match self.cap {
            None => for_each_row(
                rows,
                #[inline(always)]
                |i, o, p| {
                    counts[p] += u64::from(nulls.as_ref().is_none_or(|n| n.is_valid(i)));
                    out.set(o, counts[p] as i64);
                },
            ),
            Some(cap) => {
                grow(&mut self.rings, num_keys);
                let rings = &mut self.rings[..];
                let ring_bytes = &mut self.ring_bytes;
                for_each_row(
                    rows,
                    #[inline(always)]
                    |i, o, p| {
                        let valid = nulls.as_ref().is_none_or(|n| n.is_valid(i));
                        if rings[p].push(valid, cap, ring_bytes) == Some(true) {
                            counts[p] -= 1;
                        }
                        counts[p] += u64::from(valid);
                        out.set(o, counts[p] as i64);
                    },
                );
            }
        }
        Ok(())
    }

    fn size_bytes(&self) -> usize {
        self.counts.capacity() * 8
            + self.rings.capacity() * std::mem::size_of::<Ring<bool>>()
            + self.ring_bytes
    }

    fn fork(&self) -> Option<Box<dyn FrameKernel>> {
        fork_bounded(self, self.cap)
    }

    fn history_rows(&self) -> u64 {
        frame_history(self.cap)
    }

    fn skip(&mut self, pid: usize, _rows: u64) {
        grow(&mut self.counts, pid + 1);
        grow(&mut self.rings, pid + 1);
        if let (Some(c), Some(r)) = (self.counts.get_mut(pid), self.rings.get_mut(pid)) {
            *c = 0;
            r.clear();
        }
    }

    fn deal(&mut self, owners: usize) -> Option<Vec<Box<dyn FrameKernel>>> {
        let counts = deal_keys(std::mem::take(&mut self.counts), owners);
        let rings = deal_keys(std::mem::take(&mut self.rings), owners);
        self.ring_bytes = 0;
        Some(
            counts
                .into_iter()
                .zip(rings)
                .map(|(counts, rings)| {
                    let ring_bytes = Ring::total_bytes(&rings);
                    Box::new(CountKernel {
                        cap: self.cap,
                        counts,
                        rings,
                        ring_bytes,
                    }) as Box<dyn FrameKernel>
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, AsArray, Float64Array, Int64Array};
    use arrow::datatypes::{Float64Type, Int64Type};

    use super::*;
    use crate::analytic::output::OutputColumn;

    /// Runs a kernel over `values` (one key), batch by batch, returning every result.
    fn run(kernel: &mut dyn FrameKernel, values: ArrayRef, out_type: &DataType) -> ArrayRef {
        let n = values.len();
        let pids = vec![0u32; n];
        let mut column = OutputColumn::new(out_type, n).unwrap();
        let input = KernelInput {
            args: std::slice::from_ref(&values),
            order: None,
            num_rows: n,
        };
        kernel
            .update(&input, &Rows::All { pids: &pids }, 1, &mut column)
            .unwrap();
        column.finish().unwrap()
    }

    #[test]
    fn float_sum_forgets_large_values_exactly() {
        // huge values pass through a 3-row frame; once they left, the small values'
        // sum must be exact (a plain running sum would keep the rounding of 1e16 + 0.5)
        let mut v = Vec::new();
        for i in 0..2000 {
            v.push(if i % 7 < 2 {
                1e16 * (1.0 + i as f64)
            } else {
                0.25 * i as f64
            });
        }
        let values: ArrayRef = Arc::new(Float64Array::from(v.clone()));
        let mut k = FloatSumKernel::<Float64Type>::new(SumOutput::Sum, Some(3));
        let out = run(&mut k, values, &DataType::Float64);
        let out = out.as_primitive::<Float64Type>();
        for i in 2..v.len() {
            let frame = &v[i - 2..=i];
            if frame.iter().all(|x| *x < 1e15) {
                let exact: f64 = frame.iter().sum(); // small multiples of 0.25: exact
                assert_eq!(out.value(i), exact, "row {i}");
            }
        }
    }

    #[test]
    fn float_sum_infinities_and_nan_leave_the_frame() {
        let v = vec![
            1.0,
            f64::INFINITY,
            2.0,
            f64::NEG_INFINITY,
            3.0,
            4.0,
            f64::NAN,
            5.0,
            6.0,
        ];
        let values: ArrayRef = Arc::new(Float64Array::from(v));
        let mut k = FloatSumKernel::<Float64Type>::new(SumOutput::Sum, Some(2));
        let out = run(&mut k, values, &DataType::Float64);
        let got: Vec<f64> = out.as_primitive::<Float64Type>().values().to_vec();
        let want = [
            1.0,
            f64::INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
            7.0,
        ];
        assert_eq!(&got[..6], &want);
        assert!(got[6].is_nan() && got[7].is_nan());
        assert_eq!(got[8], 11.0);
    }

    #[test]
    fn exact_sums_and_overflow() {
        let values: ArrayRef = Arc::new(Int64Array::from(vec![
            Some(i64::MAX),
            Some(i64::MAX),
            None,
            Some(-5),
        ]));
        let t = DataType::Decimal128(38, 0);
        let mut k = ExactSumKernel::<Int64Type>::new(SumOutput::Sum, Some(2), t.clone());
        let out = run(&mut k, values, &t);
        let out = out.as_primitive::<arrow::datatypes::Decimal128Type>();
        assert_eq!(out.value(1), 2 * i64::MAX as i128);
        assert_eq!(out.value(2), i64::MAX as i128);
        assert_eq!(out.value(3), -5);

        // DECIMAL(38) sums past 38 digits are an error, never a wrong value
        let big = 10i128.pow(37) * 6;
        let values: ArrayRef = Arc::new(
            arrow::array::Decimal128Array::from(vec![big, big])
                .with_precision_and_scale(38, 0)
                .unwrap(),
        );
        let mut k = ExactSumKernel::<arrow::datatypes::Decimal128Type>::new(
            SumOutput::Sum,
            None,
            t.clone(),
        );
        let n = 2;
        let pids = vec![0u32; n];
        let mut column = OutputColumn::new(&t, n).unwrap();
        let input = KernelInput {
            args: std::slice::from_ref(&values),
            order: None,
            num_rows: n,
        };
        let err = k
            .update(&input, &Rows::All { pids: &pids }, 1, &mut column)
            .unwrap_err();
        assert!(err.to_string().contains("Overflow in SUM"), "{err}");
    }

    #[test]
    fn count_of_values_in_frame() {
        let values: ArrayRef = Arc::new(Int64Array::from(vec![
            Some(1),
            None,
            None,
            Some(4),
            Some(5),
        ]));
        let mut k = CountKernel::new(Some(2));
        let out = run(&mut k, values, &DataType::Int64);
        assert_eq!(out.as_primitive::<Int64Type>().values(), &[1, 1, 0, 1, 2]);
    }
}
