//! `VAR_SAMP`, `VAR_POP`, `STDDEV_SAMP`, `STDDEV_POP` per group, over any numeric type;
//! result `Float64`.
//!
//! Welford's online update per row (count, mean, sum of squared deviations `m2`), which
//! stays accurate where the textbook `Σx² - (Σx)²/n` cancels catastrophically (large
//! means, small spreads); two states merge with Chan et al.'s parallel formula. Decimals
//! are divided by 10^scale first. The sample forms need two values (else NULL); the
//! population forms one.

use std::any::Any;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, ArrowPrimitiveType, BooleanArray, Float64Array};
use arrow::datatypes::DataType;

use super::accumulator::{
    GroupsAccumulator, check_ids, check_merge, check_update, downcast_other, for_each_row, grow,
    reset, selected_rows,
};
use super::native::{ToF64, with_numeric_type};
use super::sum::primitive_arg;
use crate::error::{Error, Result};

/// Which statistic a [`VarianceAccumulator`] reports.
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

/// Welford state of all groups.
#[derive(Debug)]
pub(crate) struct VarianceAccumulator {
    statistic: Statistic,
    input: DataType,
    /// 10^scale for decimals, else 1.
    divisor: f64,
    counts: Vec<f64>,
    means: Vec<f64>,
    m2s: Vec<f64>,
}

impl VarianceAccumulator {
    pub(crate) fn new(statistic: Statistic, input: DataType) -> Self {
        let scale = match input {
            DataType::Decimal32(_, s) | DataType::Decimal64(_, s) | DataType::Decimal128(_, s) => {
                s as i32
            }
            _ => 0,
        };
        VarianceAccumulator {
            statistic,
            input,
            divisor: 10f64.powi(scale),
            counts: Vec::new(),
            means: Vec::new(),
            m2s: Vec::new(),
        }
    }

    fn grow_to(&mut self, n: usize) {
        grow(&mut self.counts, n, 0.0);
        grow(&mut self.means, n, 0.0);
        grow(&mut self.m2s, n, 0.0);
    }

    fn update_typed<T: ArrowPrimitiveType>(
        &mut self,
        values: &[ArrayRef],
        group_ids: &[u32],
        filter: Option<&BooleanArray>,
    ) -> Result<()>
    where
        T::Native: ToF64,
    {
        let array = primitive_arg::<T>(values)?;
        let v = array.values();
        let divisor = self.divisor;
        let (counts, means, m2s) = (&mut self.counts[..], &mut self.means[..], &mut self.m2s[..]);
        let selection = selected_rows(array.nulls(), filter);
        for_each_row(v.len(), selection.as_ref(), |i| {
            let g = group_ids[i] as usize;
            let x = v[i].to_f64() / divisor;
            let n = counts[g] + 1.0;
            let delta = x - means[g];
            let mean = means[g] + delta / n;
            m2s[g] += delta * (x - mean);
            means[g] = mean;
            counts[g] = n;
        });
        Ok(())
    }

    fn result(&self, g: usize) -> Option<f64> {
        let (n, m2) = (self.counts[g], self.m2s[g]);
        // Rounding can leave m2 a hair below 0 for equal values.
        let m2 = m2.max(0.0);
        match self.statistic {
            Statistic::VarSamp => (n >= 2.0).then(|| m2 / (n - 1.0)),
            Statistic::VarPop => (n >= 1.0).then(|| m2 / n),
            Statistic::StddevSamp => (n >= 2.0).then(|| (m2 / (n - 1.0)).sqrt()),
            Statistic::StddevPop => (n >= 1.0).then(|| (m2 / n).sqrt()),
        }
    }
}

impl GroupsAccumulator for VarianceAccumulator {
    fn update(
        &mut self,
        values: &[ArrayRef],
        group_ids: &[u32],
        filter: Option<&BooleanArray>,
        total_groups: usize,
    ) -> Result<()> {
        check_update(values, 1, group_ids, filter)?;
        self.grow_to(total_groups);
        let input = self.input.clone();
        with_numeric_type!(&input, T => self.update_typed::<T>(values, group_ids, filter),
            _ => Err(Error::internal(format!("variance of {input}"))))
    }

    fn evaluate(&self, ids: &[u32]) -> Result<ArrayRef> {
        check_ids(ids, self.counts.len())?;
        let array: Float64Array = ids.iter().map(|&id| self.result(id as usize)).collect();
        Ok(Arc::new(array))
    }

    fn merge(
        &mut self,
        other: &dyn GroupsAccumulator,
        other_ids: &[u32],
        ids: &[u32],
        total_groups: usize,
    ) -> Result<()> {
        let other = downcast_other::<Self>(other)?;
        check_merge(other_ids, other.counts.len(), ids, total_groups)?;
        self.grow_to(total_groups);
        for (&o, &g) in other_ids.iter().zip(ids) {
            let (o, g) = (o as usize, g as usize);
            let (nb, mean_b, m2b) = (other.counts[o], other.means[o], other.m2s[o]);
            if nb == 0.0 {
                continue;
            }
            let (na, mean_a, m2a) = (self.counts[g], self.means[g], self.m2s[g]);
            // Chan, Golub & LeVeque: combine two (n, mean, M2) summaries.
            let n = na + nb;
            let delta = mean_b - mean_a;
            self.counts[g] = n;
            self.means[g] = mean_a + delta * nb / n;
            self.m2s[g] = m2a + m2b + delta * delta * na * nb / n;
        }
        Ok(())
    }

    fn size_bytes(&self) -> usize {
        (self.counts.capacity() + self.means.capacity() + self.m2s.capacity()) * 8
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn clear(&mut self) {
        reset(&mut self.counts);
        reset(&mut self.means);
        reset(&mut self.m2s);
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{AsArray, Decimal128Array, Float64Array, Int64Array};
    use arrow::datatypes::{Float64Type, Int64Type};
    use proptest::prelude::*;

    use super::*;
    use crate::aggregate::accumulator::tests::{case_strategy, int64_values};

    fn close(a: Option<f64>, b: Option<f64>) -> bool {
        match (a, b) {
            (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0),
            (a, b) => a == b,
        }
    }

    #[test]
    fn known_values_and_null_rules() {
        let v: ArrayRef = Arc::new(Float64Array::from(vec![
            Some(2.0),
            Some(4.0),
            Some(4.0),
            Some(4.0),
            Some(5.0),
            Some(5.0),
            Some(7.0),
            Some(9.0),
            Some(1.0),
            None,
        ]));
        let groups = [0, 0, 0, 0, 0, 0, 0, 0, 1, 2];
        let run = |s| {
            let mut a = VarianceAccumulator::new(s, DataType::Float64);
            a.update(std::slice::from_ref(&v), &groups, None, 3)
                .unwrap();
            a.evaluate(&[0, 1, 2])
                .unwrap()
                .as_primitive::<Float64Type>()
                .iter()
                .collect::<Vec<_>>()
        };
        assert_eq!(run(Statistic::VarPop), [Some(4.0), Some(0.0), None]);
        assert_eq!(run(Statistic::StddevPop), [Some(2.0), Some(0.0), None]);
        assert_eq!(run(Statistic::VarSamp), [Some(32.0 / 7.0), None, None]);
        assert!(close(
            run(Statistic::StddevSamp)[0],
            Some((32.0f64 / 7.0).sqrt())
        ));
    }

    #[test]
    fn stable_for_a_large_mean() {
        // Σx² - (Σx)²/n loses every digit here; Welford keeps them.
        let v: ArrayRef = Arc::new(Float64Array::from(vec![
            1e9 + 4.0,
            1e9 + 7.0,
            1e9 + 13.0,
            1e9 + 16.0,
        ]));
        let mut a = VarianceAccumulator::new(Statistic::VarSamp, DataType::Float64);
        a.update(&[v], &[0, 0, 0, 0], None, 1).unwrap();
        assert_eq!(
            a.evaluate(&[0])
                .unwrap()
                .as_primitive::<Float64Type>()
                .value(0),
            30.0
        );
    }

    #[test]
    fn decimals_are_scaled() {
        let v = Decimal128Array::from(vec![1_00, 3_00])
            .with_precision_and_scale(10, 2)
            .unwrap();
        let mut a = VarianceAccumulator::new(Statistic::VarPop, DataType::Decimal128(10, 2));
        a.update(&[Arc::new(v)], &[0, 0], None, 1).unwrap();
        assert_eq!(
            a.evaluate(&[0])
                .unwrap()
                .as_primitive::<Float64Type>()
                .value(0),
            1.0
        );
        assert!(
            a.update(&[Arc::new(Int64Array::from(vec![1]))], &[0], None, 1)
                .is_err()
        );
    }

    proptest! {
        #[test]
        fn matches_reference(case in case_strategy(int64_values(-1000..1000))) {
            let v = case.values.as_primitive::<Int64Type>();
            let expected: Vec<Option<f64>> = case.rows_by_group().values().map(|rows| {
                let n = rows.len() as f64;
                (rows.len() >= 2).then(|| {
                    let mean = rows.iter().map(|&i| v.value(i) as f64).sum::<f64>() / n;
                    rows.iter().map(|&i| (v.value(i) as f64 - mean).powi(2)).sum::<f64>() / (n - 1.0)
                })
            }).collect();
            let new = || VarianceAccumulator::new(Statistic::VarSamp, DataType::Int64);
            for got in [case.run(&mut new(), &[]), case.run_merged(&mut new(), &mut new(), &[])] {
                let got: Vec<Option<f64>> = got.as_primitive::<Float64Type>().iter().collect();
                prop_assert_eq!(got.len(), expected.len());
                for (g, e) in got.iter().zip(&expected) {
                    prop_assert!(close(*g, *e), "{:?} vs {:?}", g, e);
                }
            }
        }
    }
}
