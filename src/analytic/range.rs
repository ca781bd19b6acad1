//! Time RANGE frames: `f(x) OVER (... ORDER BY ts RANGE BETWEEN d PRECEDING AND CURRENT
//! ROW)` for the fixed-width kernels (COUNT, SUM, AVG, STDDEV*, VAR*, MIN, MAX,
//! FIRST_VALUE), in amortised O(1) per row for rows that arrive in order.
//!
//! Per key, the rows of the frame are kept sorted by their order key `t` (ties in
//! arrival order) in a growable deque, beside the function's running state (the
//! compensated sum of [`super::sum`], the shifted sums of [`super::variance`], a
//! monotonic deque for MIN / MAX). `M` is the largest `t` the key has seen.
//!
//! ```text
//!  row (t, x) of key k, rows[k] sorted by t, M = rows[k].back().t
//!   t ≥ M (in order):   evict the front while front.t < t − d   state.remove(front)
//!                       push (t, x) at the back                  state.add(x)
//!                       result = state over rows[k]              (the whole deque is the frame)
//!   M − d ≤ t < M:      insert (t, x) after the rows with key ≤ t   (late: O(rows after it))
//!                       result = state without the rows after it  (O(rows after it):
//!                                COUNT, SUM, AVG, VAR*; MIN / MAX scan rows[k][0 ..= at])
//!   t < M − d, t NULL:  result = the row alone; it is not kept
//! ```
//! So a row's frame is: the key's rows that have arrived so far (itself included) whose
//! order key lies in `[max(t, M) − d, t]`, where `M` is the largest order key of the
//! key's rows so far. For rows in order of `t` this is SQL's `[t − d, t]`, less the later
//! peers (rows with the same `t` that have not arrived yet). Rows that fell below
//! `M − d` are gone, so a late row's frame starts at `M − d`, and it never holds rows
//! with a later `t` that arrived before it. A row with a NULL order key is a frame of its
//! own and enters no other frame.
//!
//! `d` is in the order key's units (converted from milliseconds by the planner's caller,
//! [`super::AnalyticFunction::create_kernel`]); the order column is read as `i64` once
//! per batch.

use std::marker::PhantomData;

use arrow::array::{Array, ArrayRef, ArrowPrimitiveType, AsArray, PrimitiveArray};
use arrow::datatypes::{ArrowNativeType, DataType, Int64Type};

use super::kernel::{FrameKernel, KernelInput, Rows, for_each_row, grow};
use super::output::{OutputColumn, Writer};
use super::ring::Deque;
use super::sum::{FloatState, RECOMPUTE_TURNS, primitive};
use super::variance::{Statistic, WelfordState};
use crate::aggregate::native::{OrdNative, ToF64, ToI128};
use crate::error::{Error, Result};
use crate::expr::types::sql_type_name;

/// A kept row: its order key, its value and whether the value is non-NULL.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Entry<N> {
    /// Order key (in the key column's units).
    pub t: i64,
    /// Value (arbitrary when NULL).
    pub v: N,
    /// The value is non-NULL.
    pub valid: bool,
}

/// A key's rows in its frame, sorted by order key, and the function's running state.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeyRows<N: Copy + Default, S> {
    rows: Deque<Entry<N>>,
    state: S,
}

/// A deque never holds more than this; RANGE frames are bounded by time, not rows.
const UNBOUNDED_CAP: usize = usize::MAX;

/// The order column of a batch as `i64` (TIMESTAMP / DATE / integer keys; one cast per
/// batch, zero-copy for 64-bit keys).
///
/// # Errors
/// `Internal` without an order column.
pub(crate) fn order_keys(order: Option<&ArrayRef>) -> Result<PrimitiveArray<Int64Type>> {
    let order =
        order.ok_or_else(|| Error::internal("a RANGE frame kernel without an ORDER BY column"))?;
    let cast = arrow::compute::cast(order, &DataType::Int64)?;
    cast.as_primitive_opt::<Int64Type>()
        .cloned()
        .ok_or_else(|| Error::internal("RANGE order key not cast to BIGINT"))
}

/// What a function keeps beside a key's rows, and how it reads a frame.
pub(crate) trait RangeFunction<N: Copy + Default>: Send {
    /// Running state per key.
    type State: Clone + Default + Send;
    /// Result values.
    type Out: ArrowNativeType;

    /// A non-NULL value entered at the back (its order key is the largest).
    fn add(&self, s: &mut Self::State, t: i64, v: N, bytes: &mut usize);

    /// The front row left the frame (rows leave in order of their keys).
    fn remove(&self, s: &mut Self::State, e: &Entry<N>);

    /// The result over every row of `rows` (the frame of a row in order), after its
    /// adds and removes; `None` is NULL.
    fn result(&self, s: &mut Self::State, rows: &Deque<Entry<N>>) -> Option<Self::Out>;

    /// A late row with a non-NULL value was inserted inside `rows` (already there).
    /// Default: an add, for states that do not depend on the order of the rows.
    fn insert_late(
        &self,
        s: &mut Self::State,
        t: i64,
        v: N,
        _rows: &Deque<Entry<N>>,
        bytes: &mut usize,
    ) {
        self.add(s, t, v, bytes);
    }

    /// The result of a late row inserted at `at`: over `rows[0 ..= at]`, after its
    /// [`RangeFunction::insert_late`]. Default: a scan of those rows, O(at); invertible
    /// states take the rows after `at` out of a copy of the state instead, O(len − at),
    /// which is small when rows arrive nearly in order.
    ///
    /// # Errors
    /// As [`RangeFunction::scan`].
    fn late_result(
        &self,
        _s: &Self::State,
        rows: &Deque<Entry<N>>,
        at: usize,
    ) -> Result<Option<Self::Out>> {
        self.scan(rows.iter_first(at + 1))
    }

    /// The result over `frame` computed from scratch (late rows, rows alone).
    ///
    /// # Errors
    /// As [`RangeFunction::overflow_error`].
    fn scan(&self, frame: impl Iterator<Item = Entry<N>> + Clone) -> Result<Option<Self::Out>>;

    /// Whether the state overflowed (exact sums).
    #[inline(always)]
    fn overflowed(&self, _s: &Self::State) -> bool {
        false
    }

    /// The error of an overflowed state.
    fn overflow_error(&self) -> Error {
        Error::internal("RANGE frame state overflowed")
    }
}

/// Runs the rows of one batch through `f` (see the module doc); `value(i)` is row i's
/// value and whether it is non-NULL.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn drive<N: Copy + Default, F: RangeFunction<N>>(
    f: &F,
    keys: &mut [KeyRows<N, F::State>],
    bytes: &mut usize,
    span: i64,
    order: &PrimitiveArray<Int64Type>,
    rows: &Rows<'_>,
    value: impl Fn(usize) -> (N, bool),
    out: &mut Writer<'_, F::Out>,
) -> Result<()> {
    let times = order.values();
    let time_nulls = order.nulls().filter(|n| n.null_count() > 0);
    let mut failed = false;
    let mut error: Option<Error> = None;
    for_each_row(
        rows,
        #[inline(always)]
        |i, o, p| {
            let (v, valid) = value(i);
            let key = &mut keys[p];
            let t = times[i];
            let late = match key.rows.back() {
                _ if time_nulls.is_some_and(|n| n.is_null(i)) => true,
                Some(back) => t < back.t,
                None => false,
            };
            let r = if late {
                let t = time_nulls.is_none_or(|n| n.is_valid(i)).then_some(t);
                match late_row(f, key, t, v, valid, span, bytes) {
                    Ok(r) => r,
                    Err(e) => {
                        error.get_or_insert(e);
                        None
                    }
                }
            } else {
                let floor = t.saturating_sub(span);
                while let Some(front) = key.rows.front() {
                    if front.t >= floor {
                        break;
                    }
                    key.rows.pop_front();
                    f.remove(&mut key.state, &front);
                }
                key.rows
                    .push_back(Entry { t, v, valid }, UNBOUNDED_CAP, bytes);
                if valid {
                    f.add(&mut key.state, t, v, bytes);
                }
                let r = f.result(&mut key.state, &key.rows);
                failed |= f.overflowed(&key.state);
                r
            };
            match r {
                Some(r) => out.set(o, r),
                None => out.set_opt(o, F::Out::default(), false),
            }
        },
    );
    if let Some(e) = error {
        return Err(e);
    }
    if failed {
        return Err(f.overflow_error());
    }
    Ok(())
}

/// A row whose order key is below the key's largest (`t`), or NULL (`None`).
#[cold]
#[inline(never)]
fn late_row<N: Copy + Default, F: RangeFunction<N>>(
    f: &F,
    key: &mut KeyRows<N, F::State>,
    t: Option<i64>,
    v: N,
    valid: bool,
    span: i64,
    bytes: &mut usize,
) -> Result<Option<F::Out>> {
    let max = key.rows.back().map(|b| b.t);
    let (Some(t), Some(max)) = (t, max) else {
        return f.scan(std::iter::once(Entry { t: 0, v, valid }));
    };
    if t < max.saturating_sub(span) {
        // below every kept row's range: a frame of its own
        return f.scan(std::iter::once(Entry { t, v, valid }));
    }
    // after the rows with a key ≤ t (ties in arrival order)
    let (mut lo, mut hi) = (0usize, key.rows.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match key.rows.get(mid) {
            Some(e) if e.t <= t => lo = mid + 1,
            _ => hi = mid,
        }
    }
    key.rows
        .insert(lo, Entry { t, v, valid }, UNBOUNDED_CAP, bytes);
    if valid {
        f.insert_late(&mut key.state, t, v, &key.rows, bytes);
    }
    // every kept row has a key ≥ max − d ≥ t − d: the frame is the rows up to this one
    f.late_result(&key.state, &key.rows, lo)
}

/// The rows after the `at`-th.
#[inline]
fn after<N: Copy + Default>(
    rows: &Deque<Entry<N>>,
    at: usize,
) -> impl Iterator<Item = Entry<N>> + '_ {
    (at + 1..rows.len()).filter_map(|k| rows.get(k))
}

// ---------------------------------------------------------------------------------------
// kernels

/// A RANGE frame function over a primitive argument column of type `T`.
pub(crate) struct RangeKernel<T: ArrowPrimitiveType, F: RangeFunction<T::Native>> {
    f: F,
    /// `d`, in the order key's units.
    span: i64,
    keys: Vec<KeyRows<T::Native, F::State>>,
    /// Heap bytes of the deques.
    bytes: usize,
    _t: PhantomData<fn() -> T>,
}

impl<T: ArrowPrimitiveType, F: RangeFunction<T::Native>> RangeKernel<T, F> {
    pub(crate) fn new(f: F, span: i64) -> Self {
        RangeKernel {
            f,
            span,
            keys: Vec::new(),
            bytes: 0,
            _t: PhantomData,
        }
    }
}

impl<T: ArrowPrimitiveType, F: RangeFunction<T::Native>> FrameKernel for RangeKernel<T, F> {
    fn update(
        &mut self,
        input: &KernelInput<'_>,
        rows: &Rows<'_>,
        num_keys: usize,
        out: &mut OutputColumn,
    ) -> Result<()> {
        rows.check(input.num_rows, out.len(), num_keys)?;
        grow(&mut self.keys, num_keys);
        let order = order_keys(input.order)?;
        let arg = primitive::<T>(input.arg(0)?, "RANGE frame")?;
        let values = arg.values();
        let mut out = out.writer::<F::Out>()?;
        let (f, keys, bytes, span) = (&self.f, &mut self.keys[..], &mut self.bytes, self.span);
        match arg.nulls().filter(|n| n.null_count() > 0) {
            Some(nulls) => drive(
                f,
                keys,
                bytes,
                span,
                &order,
                rows,
                #[inline(always)]
                |i| (values[i], nulls.is_valid(i)),
                &mut out,
            ),
            None => drive(
                f,
                keys,
                bytes,
                span,
                &order,
                rows,
                #[inline(always)]
                |i| (values[i], true),
                &mut out,
            ),
        }
    }

    fn size_bytes(&self) -> usize {
        self.keys.capacity() * std::mem::size_of::<KeyRows<T::Native, F::State>>() + self.bytes
    }
}

/// `COUNT(*)` (`star`) and `COUNT(x)` (of any type) over a RANGE frame.
#[derive(Debug)]
pub(crate) struct RangeCountKernel {
    star: bool,
    span: i64,
    keys: Vec<KeyRows<(), u64>>,
    bytes: usize,
}

impl RangeCountKernel {
    pub(crate) fn new(star: bool, span: i64) -> Self {
        RangeCountKernel {
            star,
            span,
            keys: Vec::new(),
            bytes: 0,
        }
    }
}

impl FrameKernel for RangeCountKernel {
    fn update(
        &mut self,
        input: &KernelInput<'_>,
        rows: &Rows<'_>,
        num_keys: usize,
        out: &mut OutputColumn,
    ) -> Result<()> {
        rows.check(input.num_rows, out.len(), num_keys)?;
        grow(&mut self.keys, num_keys);
        let order = order_keys(input.order)?;
        let nulls = if self.star {
            None
        } else {
            input.arg(0)?.logical_nulls()
        };
        let mut out = out.writer::<i64>()?;
        let (keys, bytes, span) = (&mut self.keys[..], &mut self.bytes, self.span);
        match nulls.filter(|n| n.null_count() > 0) {
            Some(nulls) => drive(
                &CountFn,
                keys,
                bytes,
                span,
                &order,
                rows,
                #[inline(always)]
                |i| ((), nulls.is_valid(i)),
                &mut out,
            ),
            None => drive(
                &CountFn,
                keys,
                bytes,
                span,
                &order,
                rows,
                #[inline(always)]
                |_| ((), true),
                &mut out,
            ),
        }
    }

    fn size_bytes(&self) -> usize {
        self.keys.capacity() * std::mem::size_of::<KeyRows<(), u64>>() + self.bytes
    }
}

// ---------------------------------------------------------------------------------------
// functions

/// COUNT: the non-NULL values in the frame.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CountFn;

impl RangeFunction<()> for CountFn {
    type State = u64;
    type Out = i64;

    #[inline(always)]
    fn add(&self, s: &mut u64, _t: i64, _v: (), _bytes: &mut usize) {
        *s += 1;
    }

    #[inline(always)]
    fn remove(&self, s: &mut u64, e: &Entry<()>) {
        *s -= u64::from(e.valid);
    }

    #[inline(always)]
    fn result(&self, s: &mut u64, _rows: &Deque<Entry<()>>) -> Option<i64> {
        Some(*s as i64)
    }

    fn late_result(&self, s: &u64, rows: &Deque<Entry<()>>, at: usize) -> Result<Option<i64>> {
        let later = after(rows, at).filter(|e| e.valid).count() as u64;
        Ok(Some(s.saturating_sub(later) as i64))
    }

    fn scan(&self, frame: impl Iterator<Item = Entry<()>> + Clone) -> Result<Option<i64>> {
        Ok(Some(frame.filter(|e| e.valid).count() as i64))
    }
}

/// An exact sum of integers / decimals.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ExactState {
    sum: i128,
    count: u64,
    overflow: bool,
}

impl ExactState {
    #[inline(always)]
    fn add(&mut self, v: i128) {
        match self.sum.checked_add(v) {
            Some(s) => self.sum = s,
            None => self.overflow = true,
        }
        self.count += 1;
    }

    #[inline(always)]
    fn remove(&mut self, v: i128) {
        match self.sum.checked_sub(v) {
            Some(s) => self.sum = s,
            None => self.overflow = true,
        }
        self.count -= 1;
    }
}

/// `SUM` (`DECIMAL(38, s)` / HUGEINT) or `AVG` (DOUBLE) of integers and decimals: exact
/// `i128` sums.
#[derive(Debug, Clone)]
pub(crate) struct ExactSumFn<O> {
    /// 10^scale for decimals (AVG), else 1.
    divisor: f64,
    /// The largest magnitude a SUM may reach (AVG: none).
    max_abs: u128,
    result_type: DataType,
    _o: PhantomData<fn() -> O>,
}

impl<O> ExactSumFn<O> {
    /// SUM into `result_type` (`O` = `i128`) or AVG (`O` = `f64`, `divisor` = 10^scale).
    pub(crate) fn new(divisor: f64, result_type: DataType) -> Self {
        let max_abs = if result_type == DataType::Float64 {
            u128::MAX
        } else {
            10u128.pow(38) - 1
        };
        ExactSumFn {
            divisor,
            max_abs,
            result_type,
            _o: PhantomData,
        }
    }
}

/// How an exact sum becomes a result.
pub(crate) trait ExactOut: ArrowNativeType {
    fn from_sum(sum: i128, count: u64, divisor: f64) -> Self;
}

impl ExactOut for i128 {
    #[inline(always)]
    fn from_sum(sum: i128, _count: u64, _divisor: f64) -> i128 {
        sum
    }
}

impl ExactOut for f64 {
    #[inline(always)]
    fn from_sum(sum: i128, count: u64, divisor: f64) -> f64 {
        sum as f64 / divisor / count as i64 as f64
    }
}

impl<N: ToI128 + Default, O: ExactOut> RangeFunction<N> for ExactSumFn<O> {
    type State = ExactState;
    type Out = O;

    #[inline(always)]
    fn add(&self, s: &mut ExactState, _t: i64, v: N, _bytes: &mut usize) {
        s.add(v.to_i128());
    }

    #[inline(always)]
    fn remove(&self, s: &mut ExactState, e: &Entry<N>) {
        if e.valid {
            s.remove(e.v.to_i128());
        }
    }

    #[inline(always)]
    fn result(&self, s: &mut ExactState, _rows: &Deque<Entry<N>>) -> Option<O> {
        s.overflow |= s.sum.unsigned_abs() > self.max_abs;
        (s.count > 0).then(|| O::from_sum(s.sum, s.count, self.divisor))
    }

    fn late_result(&self, s: &ExactState, rows: &Deque<Entry<N>>, at: usize) -> Result<Option<O>> {
        let mut s = *s;
        for e in after(rows, at).filter(|e| e.valid) {
            s.remove(e.v.to_i128());
        }
        if s.overflow || s.sum.unsigned_abs() > self.max_abs {
            // the running sum overflowed on the way: the frame itself may not have
            return self.scan(rows.iter_first(at + 1));
        }
        Ok((s.count > 0).then(|| O::from_sum(s.sum, s.count, self.divisor)))
    }

    fn scan(&self, frame: impl Iterator<Item = Entry<N>> + Clone) -> Result<Option<O>> {
        let mut s = ExactState::default();
        for e in frame.filter(|e| e.valid) {
            s.add(e.v.to_i128());
        }
        if s.overflow || s.sum.unsigned_abs() > self.max_abs {
            return Err(RangeFunction::<N>::overflow_error(self));
        }
        Ok((s.count > 0).then(|| O::from_sum(s.sum, s.count, self.divisor)))
    }

    #[inline(always)]
    fn overflowed(&self, s: &ExactState) -> bool {
        s.overflow
    }

    fn overflow_error(&self) -> Error {
        Error::execution(format!(
            "Overflow in SUM: the sum of a window frame is out of the range of {}",
            sql_type_name(&self.result_type)
        ))
    }
}

/// `SUM` / `AVG` of FLOAT / DOUBLE: the compensated sum of [`super::sum`], recomputed from
/// the frame after 64 frames' worth of evictions and when it overflows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FloatSumFn {
    /// AVG (else SUM).
    pub avg: bool,
}

impl FloatSumFn {
    #[inline(always)]
    fn finish(&self, s: &FloatState) -> Option<f64> {
        (s.count > 0).then(|| {
            if self.avg {
                s.total() / s.count as i64 as f64
            } else {
                s.total()
            }
        })
    }
}

impl<N: ToF64 + Default> RangeFunction<N> for FloatSumFn {
    type State = FloatState;
    type Out = f64;

    #[inline(always)]
    fn add(&self, s: &mut FloatState, _t: i64, v: N, _bytes: &mut usize) {
        s.add(v.to_f64());
    }

    #[inline(always)]
    fn remove(&self, s: &mut FloatState, e: &Entry<N>) {
        if e.valid {
            s.remove(e.v.to_f64());
        }
        s.evicted += 1;
    }

    #[inline(always)]
    fn result(&self, s: &mut FloatState, rows: &Deque<Entry<N>>) -> Option<f64> {
        if s.evicted >= RECOMPUTE_TURNS * rows.len().max(1) as u64 || s.overflowed() {
            recompute_float(s, rows);
        }
        self.finish(s)
    }

    fn late_result(
        &self,
        s: &FloatState,
        rows: &Deque<Entry<N>>,
        at: usize,
    ) -> Result<Option<f64>> {
        let mut s = *s;
        for e in after(rows, at).filter(|e| e.valid) {
            s.remove(e.v.to_f64());
        }
        if s.overflowed() {
            return self.scan(rows.iter_first(at + 1));
        }
        Ok(self.finish(&s))
    }

    fn scan(&self, frame: impl Iterator<Item = Entry<N>> + Clone) -> Result<Option<f64>> {
        let mut s = FloatState::default();
        for e in frame.clone().filter(|e| e.valid) {
            s.add(e.v.to_f64());
        }
        if s.overflowed() {
            s.recompute_from(frame.filter(|e| e.valid).map(|e| e.v.to_f64()));
        }
        Ok(self.finish(&s))
    }
}

#[cold]
fn recompute_float<N: ToF64 + Default>(s: &mut FloatState, rows: &Deque<Entry<N>>) {
    s.recompute_from(
        rows.iter_first(rows.len())
            .filter(|e| e.valid)
            .map(|e| e.v.to_f64()),
    );
}

/// `VAR_*` / `STDDEV_*`: the shifted sums of [`super::variance`], recomputed from the
/// frame once as many rows left it as it holds, and when they cancel.
#[derive(Debug, Clone, Copy)]
pub(crate) struct VarianceFn {
    pub statistic: Statistic,
    /// 10^scale for decimals, else 1.
    pub divisor: f64,
}

impl<N: ToF64 + Default> RangeFunction<N> for VarianceFn {
    type State = WelfordState;
    type Out = f64;

    #[inline(always)]
    fn add(&self, s: &mut WelfordState, _t: i64, v: N, _bytes: &mut usize) {
        s.add_shifted(v.to_f64() / self.divisor);
    }

    #[inline(always)]
    fn remove(&self, s: &mut WelfordState, e: &Entry<N>) {
        if e.valid {
            s.remove_shifted(e.v.to_f64() / self.divisor);
        }
        s.evicted += 1;
    }

    #[inline(always)]
    fn result(&self, s: &mut WelfordState, rows: &Deque<Entry<N>>) -> Option<f64> {
        let mut m2 = s.m2_shifted();
        if s.evicted >= rows.len().max(1) as u64 || s.cancels(m2) {
            let divisor = self.divisor;
            s.recompute_from(|| {
                rows.iter_first(rows.len())
                    .filter(|e| e.valid)
                    .map(move |e| e.v.to_f64() / divisor)
            });
            m2 = s.m2_shifted();
        }
        s.result(self.statistic, m2)
    }

    fn late_result(
        &self,
        s: &WelfordState,
        rows: &Deque<Entry<N>>,
        at: usize,
    ) -> Result<Option<f64>> {
        let mut s = *s;
        for e in after(rows, at).filter(|e| e.valid) {
            s.remove_shifted(e.v.to_f64() / self.divisor);
        }
        let m2 = s.m2_shifted();
        if s.cancels(m2) {
            return self.scan(rows.iter_first(at + 1));
        }
        Ok(s.result(self.statistic, m2))
    }

    fn scan(&self, frame: impl Iterator<Item = Entry<N>> + Clone) -> Result<Option<f64>> {
        let mut s = WelfordState::default();
        let divisor = self.divisor;
        let values = || {
            frame
                .clone()
                .filter(|e| e.valid)
                .map(move |e| e.v.to_f64() / divisor)
        };
        for x in values() {
            s.add_shifted(x);
        }
        s.recompute_from(values);
        Ok(s.result(self.statistic, s.m2_shifted()))
    }
}

/// `MIN` (`MAX = false`) / `MAX`: a monotonic deque of (order key, value) over the sorted
/// rows; rebuilt from the rows when a late row is inserted among them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MinMaxFn<const MAX: bool>;

impl<const MAX: bool> MinMaxFn<MAX> {
    /// `a` is strictly better than `b`.
    #[inline(always)]
    fn beats<N: OrdNative>(a: N, b: N) -> bool {
        if MAX { N::is_lt(b, a) } else { N::is_lt(a, b) }
    }
}

impl<N: OrdNative + Default, const MAX: bool> RangeFunction<N> for MinMaxFn<MAX> {
    type State = Deque<(i64, N)>;
    type Out = N;

    #[inline(always)]
    fn add(&self, s: &mut Deque<(i64, N)>, t: i64, v: N, bytes: &mut usize) {
        s.pop_back_while(|&(_, back)| !Self::beats(back, v));
        s.push_back((t, v), UNBOUNDED_CAP, bytes);
    }

    #[inline(always)]
    fn remove(&self, s: &mut Deque<(i64, N)>, e: &Entry<N>) {
        // rows with equal keys leave together, so every deque entry with a key ≤ e.t
        // leaves in this eviction
        while s.front().is_some_and(|(t, _)| t <= e.t) {
            s.pop_front();
        }
    }

    #[inline(always)]
    fn result(&self, s: &mut Deque<(i64, N)>, _rows: &Deque<Entry<N>>) -> Option<N> {
        s.front().map(|(_, v)| v)
    }

    /// Inserts (t, v) into the deque where its key puts it, in O(deque entries with a
    /// key ≥ t): dominated when a later entry is at least as good; otherwise the earlier
    /// entries it beats or equals leave (they lie just before it).
    fn insert_late(
        &self,
        s: &mut Deque<(i64, N)>,
        t: i64,
        v: N,
        _rows: &Deque<Entry<N>>,
        bytes: &mut usize,
    ) {
        let mut q = s.len();
        while q > 0 && s.get(q - 1).is_some_and(|(u, _)| u > t) {
            q -= 1;
        }
        if s.get(q).is_some_and(|(_, w)| !Self::beats(v, w)) {
            return;
        }
        while q > 0 && s.get(q - 1).is_some_and(|(_, w)| !Self::beats(w, v)) {
            q -= 1;
            s.remove(q);
        }
        s.insert(q, (t, v), UNBOUNDED_CAP, bytes);
    }

    fn scan(&self, frame: impl Iterator<Item = Entry<N>> + Clone) -> Result<Option<N>> {
        Ok(frame
            .filter(|e| e.valid)
            .map(|e| e.v)
            .reduce(|best, v| if Self::beats(v, best) { v } else { best }))
    }
}

/// `FIRST_VALUE`: the frame's first row by order key (ties: the earliest arrival), NULL
/// when that row's value is NULL.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FirstValueFn;

impl<N: ArrowNativeType> RangeFunction<N> for FirstValueFn {
    type State = ();
    type Out = N;

    #[inline(always)]
    fn add(&self, _s: &mut (), _t: i64, _v: N, _bytes: &mut usize) {}

    #[inline(always)]
    fn remove(&self, _s: &mut (), _e: &Entry<N>) {}

    #[inline(always)]
    fn result(&self, _s: &mut (), rows: &Deque<Entry<N>>) -> Option<N> {
        rows.front().filter(|e| e.valid).map(|e| e.v)
    }

    fn scan(&self, mut frame: impl Iterator<Item = Entry<N>> + Clone) -> Result<Option<N>> {
        Ok(frame.next().filter(|e| e.valid).map(|e| e.v))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Float64Array, Int64Array, TimestampMillisecondArray};
    use arrow::datatypes::{Float64Type, Int64Type};

    use super::*;

    /// Runs one key's rows `(t, x)` through a kernel in one batch.
    fn run(
        kernel: &mut dyn FrameKernel,
        ts: Vec<Option<i64>>,
        values: ArrayRef,
        out: &DataType,
    ) -> ArrayRef {
        let n = ts.len();
        let order: ArrayRef = Arc::new(TimestampMillisecondArray::from(ts));
        let pids = vec![0u32; n];
        let mut column = OutputColumn::new(out, n).unwrap();
        let input = KernelInput {
            args: std::slice::from_ref(&values),
            order: Some(&order),
            num_rows: n,
        };
        kernel
            .update(&input, &Rows::All { pids: &pids }, 1, &mut column)
            .unwrap();
        column.finish().unwrap()
    }

    #[test]
    fn sums_over_in_order_ties_late_and_null_keys() {
        // d = 10: frames [t − 10, t] for rows in order
        let ts = vec![
            Some(0),
            Some(5),
            Some(5),  // a peer: the earlier 5 is in its frame
            Some(12), // 0 leaves
            Some(1),  // late, below 12 − 10: alone
            Some(8),  // late, within range: the rows kept with t ≤ 8 (5, 5) and itself
            None,     // alone
            Some(30), // everything else leaves
        ];
        let x: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 4, 8, 16, 32, 64, 128]));
        let t = DataType::Decimal128(38, 0);
        let mut k =
            RangeKernel::<Int64Type, ExactSumFn<i128>>::new(ExactSumFn::new(1.0, t.clone()), 10);
        let out = run(&mut k, ts.clone(), x, &t);
        let got: Vec<i128> = out
            .as_primitive::<arrow::datatypes::Decimal128Type>()
            .values()
            .to_vec();
        assert_eq!(got, [1, 3, 7, 14, 16, 38, 64, 128]);
        // the late 8 stayed: a row at 18 sees 8, 12 (and not 5)
        let mut k = RangeCountKernel::new(true, 10);
        let ts2 = vec![Some(0), Some(5), Some(12), Some(8), Some(18), Some(19)];
        let x2: ArrayRef = Arc::new(Int64Array::from(vec![0; 6]));
        let out = run(&mut k, ts2, x2, &DataType::Int64);
        assert_eq!(
            out.as_primitive::<Int64Type>().values(),
            &[1, 2, 2, 2, 3, 3]
        );
    }

    #[test]
    fn min_max_and_first_value_follow_late_rows() {
        let ts = vec![Some(10), Some(11), Some(12), Some(5), Some(11), Some(20)];
        let y: ArrayRef = Arc::new(Float64Array::from(vec![
            Some(3.0),
            Some(1.0),
            None,
            Some(7.0),
            Some(9.0),
            Some(2.0),
        ]));
        let mut k = RangeKernel::<Float64Type, MinMaxFn<true>>::new(MinMaxFn, 5);
        let out = run(&mut k, ts.clone(), y.clone(), &DataType::Float64);
        let out = out.as_primitive::<Float64Type>();
        // row 4 (t 5): 12 − 5 = 7 > 5, alone; row 5 (t 11, late): 10, 11, 11; row 6
        // (t 20): 15..20: itself
        assert_eq!(out.values(), &[3.0, 3.0, 3.0, 7.0, 9.0, 2.0]);
        let mut k = RangeKernel::<Float64Type, FirstValueFn>::new(FirstValueFn, 1);
        let out = run(&mut k, ts, y, &DataType::Float64);
        let out = out.as_primitive::<Float64Type>();
        // frames: [10], [10 11], [11 12], [5], [11 11'] (12 kept, later), [20]
        assert_eq!(out.value(0), 3.0);
        assert_eq!(out.value(1), 3.0);
        assert_eq!(out.value(2), 1.0);
        assert_eq!(out.value(3), 7.0);
        assert_eq!(out.value(4), 1.0);
        assert_eq!(out.value(5), 2.0);
    }
}
