//! The query's worker threads, and which calls are worth handing to them.
//!
//! A call (`Query::push_batches`) runs on the workers when there is more than one
//! partition, more than one batch and at least [`Workers::min_rows`] rows; smaller calls
//! run on the calling thread. Waking the workers costs tens of microseconds on a virtual
//! machine, more than a call of a few thousand rows takes (`velo bench --preset
//! original`: 5,000 rows in batches of 1,000 ran 35–55 % slower on two partitions than on
//! one before this threshold). The result is the same either way (SPEC §4).

use std::sync::Arc;

use arrow::array::RecordBatch;
use rayon::ThreadPool;

use super::overlap::{PhaseClock, run_ordered};

/// Fewer input rows than this in one call run on the calling thread by default.
pub const DEFAULT_MIN_PARALLEL_ROWS: usize = 16_384;

/// How a ROWS-window analytic query spreads its per-key kernels over several partitions.
/// The results are the same bits either way (SPEC §4); tests of both paths use it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AnalyticSplit {
    /// By batch when every call can take up a key's stream in the middle (bounded
    /// SUM, AVG, COUNT, MIN and MAX frames, ROW_NUMBER) and the first call's keys are few enough
    /// that catching up on them is a small part of the work; by key otherwise.
    #[default]
    Auto,
    /// Each key's rows to one partition (the key's id modulo the partitions).
    ByKey,
    /// Contiguous groups of each call's batches, one per partition, whenever every call
    /// can take up a key's stream in the middle (by key otherwise).
    ByBatch,
}

/// A query's thread pool and the smallest call it is used for.
#[derive(Debug, Clone)]
pub struct Workers {
    /// `None` with one partition, or when no thread could be started.
    pool: Option<Arc<ThreadPool>>,
    min_rows: usize,
    /// How analytic queries split their kernels.
    analytic_split: AnalyticSplit,
    /// The time the query's operators spent in `overlap::run_ordered` (shared by the
    /// clones of one query's `Workers`).
    clock: Arc<PhaseClock>,
}

impl Workers {
    /// `pool` used for calls of at least `min_rows` rows (and more than one batch).
    pub fn new(pool: Option<Arc<ThreadPool>>, min_rows: usize) -> Workers {
        Workers {
            pool,
            min_rows,
            analytic_split: AnalyticSplit::Auto,
            clock: Arc::default(),
        }
    }

    /// With analytic queries split as `split`.
    #[must_use]
    pub fn with_analytic_split(mut self, split: AnalyticSplit) -> Workers {
        self.analytic_split = split;
        self
    }

    /// How analytic queries split their kernels.
    pub fn analytic_split(&self) -> AnalyticSplit {
        self.analytic_split
    }

    /// Every call runs on the calling thread.
    pub fn none() -> Workers {
        Workers {
            pool: None,
            min_rows: 0,
            analytic_split: AnalyticSplit::Auto,
            clock: Arc::default(),
        }
    }

    /// The clock of the query's pre-aggregation and merges.
    pub fn clock(&self) -> &PhaseClock {
        &self.clock
    }

    /// Worker threads (1 without a pool: calls run on the calling thread).
    pub fn threads(&self) -> usize {
        self.pool
            .as_ref()
            .map_or(1, |p| p.current_num_threads().max(1))
    }

    /// The pool for `batches` (see [`Workers::for_call`]) and the query's clock, to
    /// run one call's pre-aggregation and merges (`overlap::run_ordered`).
    pub fn ordered_call(&self, batches: &[RecordBatch]) -> OrderedCall {
        OrderedCall {
            pool: self.for_call(batches).cloned(),
            clock: Arc::clone(&self.clock),
        }
    }

    /// The query's pool, if it has one.
    pub fn pool(&self) -> Option<&Arc<ThreadPool>> {
        self.pool.as_ref()
    }

    /// The smallest call, in rows, that runs on the workers.
    pub fn min_rows(&self) -> usize {
        self.min_rows
    }

    /// The pool, when the call of `batches` is worth spreading over it.
    pub fn for_call(&self, batches: &[RecordBatch]) -> Option<&Arc<ThreadPool>> {
        let pool = self.pool.as_ref()?;
        if pool.current_num_threads() < 2 || batches.len() < 2 {
            return None;
        }
        // stops counting at the threshold: a call of many batches costs a few adds
        let mut rows = 0usize;
        for b in batches {
            rows += b.num_rows();
            if rows >= self.min_rows {
                return Some(pool);
            }
        }
        None
    }
}

/// One call's pool (`None`: the calling thread) and the query's phase clock.
pub struct OrderedCall {
    pool: Option<Arc<ThreadPool>>,
    clock: Arc<PhaseClock>,
}

impl OrderedCall {
    /// The pool the call runs on, if any.
    pub fn pool(&self) -> Option<&ThreadPool> {
        self.pool.as_deref()
    }

    /// [`run_ordered`] on this call's pool, timed by the query's clock.
    pub fn run_ordered<S, R, W, C>(&self, n: usize, scratch: &mut Vec<S>, work: W, consume: C)
    where
        S: Send,
        R: Send,
        W: Fn(usize, &mut S) -> R + Sync,
        C: FnMut(usize, &mut S, R) + Send,
    {
        run_ordered(self.pool(), &self.clock, n, scratch, work, consume);
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch(rows: usize) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![1i64; rows]))]).unwrap()
    }

    fn pool(threads: usize) -> Option<Arc<ThreadPool>> {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .ok()
            .map(Arc::new)
    }

    #[test]
    fn small_calls_single_batches_and_single_threads_stay_on_the_caller() {
        let w = Workers::new(pool(2), 100);
        assert!(
            w.for_call(&[batch(60), batch(39)]).is_none(),
            "99 rows < 100"
        );
        assert!(w.for_call(&[batch(60), batch(40)]).is_some(), "100 rows");
        assert!(w.for_call(&[batch(1000)]).is_none(), "one batch");
        assert!(w.for_call(&[]).is_none());
        let one = Workers::new(pool(1), 0);
        assert!(
            one.for_call(&[batch(10), batch(10)]).is_none(),
            "one thread"
        );
        assert!(Workers::none().for_call(&[batch(10), batch(10)]).is_none());
        let always = Workers::new(pool(2), 0);
        assert!(always.for_call(&[batch(0), batch(0)]).is_some());
        assert_eq!(always.min_rows(), 0);
    }
}
