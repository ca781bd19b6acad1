//! Moving `VAR_SAMP`, `VAR_POP`, `STDDEV_SAMP`, `STDDEV_POP` (result DOUBLE).
//!
//! Welford's update with its inverse for the row that leaves the frame:
//!
//! ```text
//!  add x:     n += 1;  d = x - mean;  mean += d / n;  m2 += d · (x - mean)
//!  remove x:  n -= 1;  d = x - mean;  mean -= d / n;  m2 -= d · (x - mean)
//! ```
//! Removal is less stable than addition, so the state is recomputed from the ring (two
//! passes: the mean, then the squared deviations) each time the ring has turned over:
//! every `n` evictions, amortised O(1) per row. Infinities and NaN are counted apart and
//! make the result NaN while they are in the frame (as DuckDB). Decimals are divided by
//! 10^scale first; the sample forms need two values (else NULL), the population forms one.

use std::marker::PhantomData;

use arrow::array::{Array, ArrowPrimitiveType};

use super::kernel::{FrameKernel, KernelInput, Rows, for_each_row, grow};
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

#[derive(Debug, Clone, Copy, Default)]
struct WelfordState {
    /// Finite values in the frame.
    n: f64,
    mean: f64,
    m2: f64,
    /// Non-finite values in the frame.
    special: u64,
    evicted: u64,
}

impl WelfordState {
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

    #[inline(always)]
    fn remove(&mut self, x: f64) {
        if !x.is_finite() {
            self.special -= 1;
            return;
        }
        self.n -= 1.0;
        if self.n <= 0.0 {
            self.n = 0.0;
            self.mean = 0.0;
            self.m2 = 0.0;
            return;
        }
        let d = x - self.mean;
        self.mean -= d / self.n;
        self.m2 -= d * (x - self.mean);
    }

    fn recompute<N: ToF64>(&mut self, ring: &Ring<(N, bool)>, divisor: f64) {
        let (a, b) = ring.as_slices();
        let finite = || {
            a.iter()
                .chain(b)
                .filter(|(_, valid)| *valid)
                .map(|(v, _)| v.to_f64() / divisor)
                .filter(|x| x.is_finite())
        };
        let (mut n, mut sum) = (0.0, 0.0);
        for x in finite() {
            n += 1.0;
            sum += x;
        }
        let mean = if n > 0.0 { sum / n } else { 0.0 };
        self.m2 = finite().map(|x| (x - mean) * (x - mean)).sum();
        self.n = n;
        self.mean = mean;
        self.evicted = 0;
    }

    #[inline(always)]
    fn result(&self, statistic: Statistic) -> Option<f64> {
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
        let var = self.m2.max(0.0) / if sample { self.n - 1.0 } else { self.n };
        Some(if root { var.sqrt() } else { var })
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
    _t: PhantomData<fn() -> T>,
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
        let mut write = |i: usize, s: &WelfordState| {
            let r = s.result(statistic);
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
                    write(o, s);
                },
            ),
            Some(cap) => {
                grow(&mut self.rings, num_keys);
                let rings = &mut self.rings[..];
                for_each_row(
                    rows,
                    #[inline(always)]
                    |i, o, p| {
                        let s = &mut states[p];
                        let ring = &mut rings[p];
                        let valid = nulls.is_none_or(|n| n.is_valid(i));
                        let v = values[i];
                        if let Some((old, old_valid)) = ring.push((v, valid), cap) {
                            if old_valid {
                                s.remove(old.to_f64() / divisor);
                            }
                            s.evicted += 1;
                        }
                        if valid {
                            s.add(v.to_f64() / divisor);
                        }
                        if s.evicted >= cap as u64 {
                            s.recompute(ring, divisor);
                        }
                        write(o, s);
                    },
                );
            }
        }
        Ok(())
    }

    fn size_bytes(&self) -> usize {
        self.states.capacity() * std::mem::size_of::<WelfordState>()
            + self.rings.capacity() * std::mem::size_of::<Ring<(T::Native, bool)>>()
            + self.rings.iter().map(Ring::size_bytes).sum::<usize>()
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
