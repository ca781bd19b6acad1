//! Moving `VAR_SAMP`, `VAR_POP`, `STDDEV_SAMP`, `STDDEV_POP` (result DOUBLE).
//!
//! - Frames of the last `n` rows: sums of the values shifted by a reference value `K`
//!   close to them, with an exact inverse for the row that leaves the frame:
//!
//!   ```text
//!    add x:     d = x - K;  s1 += d;  s2 += d²        M2 = s2 - s1² / count
//!    remove x:  d = x - K;  s1 -= d;  s2 -= d²
//!   ```
//!   The shift keeps `s2 - s1²/count` from cancelling catastrophically (large means,
//!   small spreads) as long as `K` is near the frame's mean, so the state is recomputed
//!   from the ring (two passes, `K` = the frame's mean) at every `n`-th row of the key
//!   (amortised O(1) per row), and at once when the sums start to cancel (an outlier
//!   that was the shift left the frame). No division per row, unlike Welford's update
//!   with its inverse.
//!
//!   The scheduled recomputations fall on the key's row counts that are multiples of
//!   `n`, and one makes the state a function of the frame alone; so a row's result is a
//!   function of the key's row count and its last `2n` rows (back to the frame of the
//!   last multiple of `n`). That lets a thread take up a key's stream in the middle
//!   (batch-parallel evaluation): [`FrameKernel::skip`], then a replay of the key's
//!   last `2n` rows, which passes a multiple of `n` with the whole frame in the ring.
//! - UNBOUNDED PRECEDING: Welford's update (nothing leaves the frame).
//!
//! Infinities and NaN are counted apart and make the result NaN while they are in the
//! frame (as DuckDB). Decimals are divided by 10^scale first; the sample forms need two
//! values (else NULL), the population forms one.

use std::marker::PhantomData;

use arrow::array::{Array, ArrowPrimitiveType};

use super::kernel::{FrameKernel, KernelInput, Rows, deal_keys, for_each_row, grow};
use super::output::OutputColumn;
use super::ring::Ring;
use super::sum::primitive;
use crate::aggregate::native::ToF64;
use crate::error::Result;

/// Which statistic a variance kernel reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Statistic {
    /// `VAR_SAMP` / `VARIANCE`.
    VarSamp,
    /// `VAR_POP`.
    VarPop,
    /// `STDDEV_SAMP` / `STDDEV`.
    StddevSamp,
    /// `STDDEV_POP`.
    StddevPop,
}

/// Recompute when `s2` exceeds the result `M2` by this factor (2^20: at most 20 of the
/// 53 bits lost, a relative error near 2^-33 at worst).
const CANCELLATION_LIMIT: f64 = 1_048_576.0;

/// 2^-40: the relative distance between the shift and the mean below which the gap is
/// rounding noise of the shift, not an outlier.
const NOISE_BITS: f64 = 1.0 / 1_099_511_627_776.0;

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct WelfordState {
    /// Finite values in the frame.
    n: f64,
    /// Welford: the mean. Shifted sums: the shift `K`.
    mean: f64,
    /// Welford: the sum of squared deviations. Shifted sums: Σ(x - K)².
    m2: f64,
    /// Shifted sums: Σ(x - K).
    s1: f64,
    /// Shifted sums: the largest Σ(x - K)² since the last recomputation (its rounding
    /// error stays in the sums after the values that made it leave).
    peak: f64,
    /// Non-finite values in the frame.
    special: u64,
    /// Removals since the last recomputation.
    pub(crate) evicted: u64,
}

impl WelfordState {
    /// Welford's update (UNBOUNDED frames).
    #[inline(always)]
    fn add(&mut self, x: f64) {
        if !x.is_finite() {
            self.special += 1;
            return;
        }
        self.n += 1.0;
        let d = x - self.mean;
        self.mean += d / self.n;
        self.m2 += d * (x - self.mean);
    }

    /// Adds `x` to the shifted sums (bounded frames); the first value of an empty frame
    /// becomes the shift.
    #[inline(always)]
    pub(crate) fn add_shifted(&mut self, x: f64) {
        if !x.is_finite() {
            self.special += 1;
            return;
        }
        if self.n == 0.0 {
            self.mean = x;
            self.s1 = 0.0;
            self.m2 = 0.0;
        }
        let d = x - self.mean;
        self.n += 1.0;
        self.s1 += d;
        self.m2 += d * d;
        self.peak = self.peak.max(self.m2);
    }

    /// Removes `x` from the shifted sums.
    #[inline(always)]
    pub(crate) fn remove_shifted(&mut self, x: f64) {
        if !x.is_finite() {
            self.special -= 1;
            return;
        }
        let d = x - self.mean;
        self.n -= 1.0;
        self.s1 -= d;
        self.m2 -= d * d;
        if self.n <= 0.0 {
            self.n = 0.0;
            self.s1 = 0.0;
            self.m2 = 0.0;
        }
    }

    /// Recomputes the shifted sums from the frame's values, shifted by their mean;
    /// `SCALED`: the values are divided by `divisor` (decimals).
    #[inline(always)]
    fn recompute<N: ToF64 + Copy, const SCALED: bool>(
        &mut self,
        ring: &Ring<(N, bool)>,
        divisor: f64,
    ) {
        let (a, b) = ring.as_slices();
        self.recompute_from(|| {
            a.iter()
                .chain(b)
                .filter(|(_, valid)| *valid)
                .map(|&(v, _)| scaled::<N, SCALED>(v, divisor))
        });
    }

    /// Recomputes the shifted sums from the frame's non-NULL values (`values` gives
    /// them afresh on each call; two passes).
    pub(crate) fn recompute_from<I: Iterator<Item = f64>>(&mut self, values: impl Fn() -> I) {
        let finite = || values().filter(|x| x.is_finite());
        let (mut n, mut sum) = (0.0, 0.0);
        for x in finite() {
            n += 1.0;
            sum += x;
        }
        let shift = if n > 0.0 { sum / n } else { 0.0 };
        let (mut s1, mut s2) = (0.0, 0.0);
        for x in finite() {
            let d = x - shift;
            s1 += d;
            s2 += d * d;
        }
        self.n = n;
        self.mean = shift;
        self.s1 = s1;
        self.m2 = s2;
        self.peak = s2;
        self.evicted = 0;
    }

    /// Whether `m2` = `s2 - s1²/count` has lost more than 20 bits to cancellation: the sums
    /// once held values far larger than the frame's deviations (an outlier left the
    /// frame, or the shift is far from the mean), and their rounding errors are that
    /// large. Rounding noise of a good shift (|K - mean| near 2^-40·|K|) does not count,
    /// so frames of equal values do not recompute on every row.
    #[inline(always)]
    pub(crate) fn cancels(&self, m2: f64) -> bool {
        let noise = self.mean * NOISE_BITS;
        self.peak > CANCELLATION_LIMIT * m2.max(0.0) && self.peak > self.n.max(1.0) * noise * noise
    }

    /// The sum of squared deviations of the shifted sums.
    #[inline(always)]
    pub(crate) fn m2_shifted(&self) -> f64 {
        if self.n > 0.0 {
            self.m2 - self.s1 * self.s1 / self.n
        } else {
            0.0
        }
    }

    /// The statistic for a frame whose sum of squared deviations is `m2`.
    #[inline(always)]
    pub(crate) fn result(&self, statistic: Statistic, m2: f64) -> Option<f64> {
        let count = self.n + self.special as f64;
        let (min, sample, root) = match statistic {
            Statistic::VarSamp => (2.0, true, false),
            Statistic::VarPop => (1.0, false, false),
            Statistic::StddevSamp => (2.0, true, true),
            Statistic::StddevPop => (1.0, false, true),
        };
        if count < min {
            return None;
        }
        if self.special > 0 {
            return Some(f64::NAN);
        }
        // rounding can leave m2 a hair below 0 for equal values
        let var = m2.max(0.0) / if sample { self.n - 1.0 } else { self.n };
        Some(if root { var.sqrt() } else { var })
    }
}

/// `x` as a float, divided by `divisor` when `SCALED` (decimals; for the others the
/// divisor is 1, and `x / 1` is `x`).
#[inline(always)]
fn scaled<N: ToF64, const SCALED: bool>(x: N, divisor: f64) -> f64 {
    if SCALED {
        x.to_f64() / divisor
    } else {
        x.to_f64()
    }
}

/// The bounded-frame state of a [`VarianceKernel`], for one call of its update.
struct Frames<'a, N> {
    cap: usize,
    states: &'a mut [WelfordState],
    rings: &'a mut [Ring<(N, bool)>],
    phases: &'a mut [u64],
    ring_bytes: &'a mut usize,
}

impl<N: ToF64 + Copy> Frames<'_, N> {
    /// The shifted sums over `rows`, each row's `m2` to `write`; `SCALED`: values are
    /// divided by `divisor` (decimals).
    #[inline(always)]
    fn run<const SCALED: bool>(
        self,
        values: &[N],
        nulls: Option<&arrow::buffer::NullBuffer>,
        divisor: f64,
        rows: &Rows<'_>,
        mut write: impl FnMut(usize, &WelfordState, f64),
    ) {
        let Frames {
            cap,
            states,
            rings,
            phases,
            ring_bytes,
        } = self;
        let period = cap.max(1) as u64;
        let scale = |x: N| scaled::<N, SCALED>(x, divisor);
        for_each_row(
            rows,
            #[inline(always)]
            |i, o, p| {
                let s = &mut states[p];
                let ring = &mut rings[p];
                let phase = &mut phases[p];
                let valid = nulls.is_none_or(|n| n.is_valid(i));
                let v = values[i];
                if let Some((old, old_valid)) = ring.push((v, valid), cap, ring_bytes)
                    && old_valid
                {
                    s.remove_shifted(scale(old));
                }
                if valid {
                    s.add_shifted(scale(v));
                }
                // the key's row count modulo the frame size
                *phase += 1;
                let scheduled = *phase == period;
                if scheduled {
                    *phase = 0;
                }
                let mut m2 = s.m2_shifted();
                if scheduled || s.cancels(m2) {
                    s.recompute::<N, SCALED>(ring, divisor);
                    m2 = s.m2_shifted();
                }
                write(o, s, m2);
            },
        );
    }
}

/// A moving variance / standard deviation of a numeric column.
#[derive(Debug)]
pub(crate) struct VarianceKernel<T: ArrowPrimitiveType> {
    statistic: Statistic,
    /// 10^scale for decimals, else 1.
    divisor: f64,
    cap: Option<usize>,
    states: Vec<WelfordState>,
    rings: Vec<Ring<(T::Native, bool)>>,
    /// Bounded frames: each key's row count modulo the frame size (the recomputations
    /// fall on its multiples of the frame size).
    phases: Vec<u64>,
    /// Heap bytes of the rings.
    ring_bytes: usize,
    _t: PhantomData<fn() -> T>,
}

impl<T: ArrowPrimitiveType> Clone for VarianceKernel<T> {
    fn clone(&self) -> Self {
        VarianceKernel {
            statistic: self.statistic,
            divisor: self.divisor,
            cap: self.cap,
            states: self.states.clone(),
            rings: self.rings.clone(),
            phases: self.phases.clone(),
            ring_bytes: self.ring_bytes,
            _t: PhantomData,
        }
    }
}

impl<T: ArrowPrimitiveType> VarianceKernel<T>
where
    T::Native: ToF64,
{
    pub(crate) fn new(statistic: Statistic, divisor: f64, frame_rows: Option<u64>) -> Self {
        VarianceKernel {
            statistic,
            divisor,
            cap: frame_rows.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
            states: Vec::new(),
            rings: Vec::new(),
            phases: Vec::new(),
            ring_bytes: 0,
            _t: PhantomData,
        }
    }
}

impl<T: ArrowPrimitiveType> FrameKernel for VarianceKernel<T>
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
        grow(&mut self.states, num_keys);
        let mut out = out.writer::<f64>()?;
        let arg = primitive::<T>(input.arg(0)?, "VARIANCE")?;
        let values = arg.values();
        let nulls = arg.nulls().filter(|n| n.null_count() > 0);
        let (divisor, statistic) = (self.divisor, self.statistic);
        let states = &mut self.states[..];
        let mut write = |i: usize, s: &WelfordState, m2: f64| {
            let r = s.result(statistic, m2);
            out.set_opt(i, r.unwrap_or(0.0), r.is_some());
        };
        match self.cap {
            None => for_each_row(
                rows,
                #[inline(always)]
                |i, o, p| {
                    let s = &mut states[p];
                    if nulls.is_none_or(|n| n.is_valid(i)) {
                        s.add(values[i].to_f64() / divisor);
                    }
                    write(o, s, s.m2);
                },
            ),
            Some(cap) => {
                grow(&mut self.rings, num_keys);
                grow(&mut self.phases, num_keys);
                let frames = Frames {
                    cap,
                    states,
                    rings: &mut self.rings[..],
                    phases: &mut self.phases[..],
                    ring_bytes: &mut self.ring_bytes,
                };
                // x / 1 is x: floats skip the division
                if divisor == 1.0 {
                    frames.run::<false>(values, nulls, divisor, rows, write);
                } else {
                    frames.run::<true>(values, nulls, divisor, rows, write);
                }
            }
        }
        Ok(())
    }

    fn size_bytes(&self) -> usize {
        self.states.capacity() * std::mem::size_of::<WelfordState>()
            + self.rings.capacity() * std::mem::size_of::<Ring<(T::Native, bool)>>()
            + self.phases.capacity() * std::mem::size_of::<u64>()
            + self.ring_bytes
    }

    fn fork(&self) -> Option<Box<dyn FrameKernel>> {
        self.cap
            .map(|_| Box::new(self.clone()) as Box<dyn FrameKernel>)
    }

    fn history_rows(&self) -> u64 {
        self.cap.map_or(u64::MAX, |c| (c as u64).saturating_mul(2))
    }

    fn skip(&mut self, pid: usize, rows: u64) {
        // the replay of the last 2n rows rebuilds the state from an empty one
        grow(&mut self.states, pid + 1);
        grow(&mut self.rings, pid + 1);
        grow(&mut self.phases, pid + 1);
        let period = self.cap.unwrap_or(1).max(1) as u64;
        if let (Some(s), Some(r), Some(phase)) = (
            self.states.get_mut(pid),
            self.rings.get_mut(pid),
            self.phases.get_mut(pid),
        ) {
            *s = WelfordState::default();
            r.clear();
            *phase = (*phase + rows % period) % period;
        }
    }

    fn deal(&mut self, owners: usize) -> Option<Vec<Box<dyn FrameKernel>>> {
        let states = deal_keys(std::mem::take(&mut self.states), owners);
        let rings = deal_keys(std::mem::take(&mut self.rings), owners);
        let phases = deal_keys(std::mem::take(&mut self.phases), owners);
        self.ring_bytes = 0;
        Some(
            states
                .into_iter()
                .zip(rings)
                .zip(phases)
                .map(|((states, rings), phases)| {
                    let ring_bytes = Ring::total_bytes(&rings);
                    Box::new(VarianceKernel::<T> {
                        statistic: self.statistic,
                        divisor: self.divisor,
                        cap: self.cap,
                        states,
                        rings,
                        phases,
                        ring_bytes,
                        _t: PhantomData,
                    }) as Box<dyn FrameKernel>
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, AsArray, Float64Array};
    use arrow::datatypes::{DataType, Float64Type};

    use super::*;
    use crate::analytic::output::OutputColumn;

    fn two_pass(v: &[f64]) -> f64 {
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (v.len() - 1) as f64
    }

    #[test]
    fn moving_variance_stays_accurate_over_a_long_stream() {
        // a large offset and a small spread, over a long stream: removal errors would
        // accumulate without the periodic recomputation
        let v: Vec<f64> = (0..50_000)
            .map(|i| 1e9 + ((i * 7919) % 1000) as f64 / 100.0)
            .collect();
        let values: ArrayRef = Arc::new(Float64Array::from(v.clone()));
        let n = v.len();
        let pids = vec![0u32; n];
        let mut column = OutputColumn::new(&DataType::Float64, n).unwrap();
        let mut k = VarianceKernel::<Float64Type>::new(Statistic::VarSamp, 1.0, Some(50));
        let input = KernelInput {
            args: std::slice::from_ref(&values),
            order: None,
            num_rows: n,
        };
        k.update(&input, &Rows::All { pids: &pids }, 1, &mut column)
            .unwrap();
        let out = column.finish().unwrap();
        let out = out.as_primitive::<Float64Type>();
        for i in (49..n).step_by(997) {
            let want = two_pass(&v[i - 49..=i]);
            let got = out.value(i);
            assert!(
                (got - want).abs() <= 1e-6 * want.abs(),
                "row {i}: {got} vs {want}"
            );
        }
        assert!(out.is_null(0));
    }
}

#[cfg(test)]
mod outlier_tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, AsArray, Float64Array};
    use arrow::datatypes::{DataType, Float64Type};

    use super::*;
    use crate::analytic::output::OutputColumn;

    #[test]
    fn an_outlier_leaving_the_frame_does_not_cost_precision() {
        // the first value (the shift) is huge; once it left, the small values' variance
        // must be as precise as a fresh two-pass computation
        let mut v = vec![1e15];
        v.extend((0..200).map(|i| (i % 7) as f64 * 0.5));
        let values: ArrayRef = Arc::new(Float64Array::from(v.clone()));
        let n = v.len();
        let pids = vec![0u32; n];
        let mut column = OutputColumn::new(&DataType::Float64, n).unwrap();
        let mut k = VarianceKernel::<Float64Type>::new(Statistic::VarPop, 1.0, Some(100));
        let input = KernelInput {
            args: std::slice::from_ref(&values),
            order: None,
            num_rows: n,
        };
        k.update(&input, &Rows::All { pids: &pids }, 1, &mut column)
            .unwrap();
        let out = column.finish().unwrap();
        let out = out.as_primitive::<Float64Type>();
        for i in 101..n {
            let frame = &v[i - 99..=i];
            let mean = frame.iter().sum::<f64>() / 100.0;
            let want = frame.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / 100.0;
            let got = out.value(i);
            assert!(
                (got - want).abs() <= 1e-12 * want.max(1.0),
                "row {i}: {got} vs {want}"
            );
        }
    }
}
