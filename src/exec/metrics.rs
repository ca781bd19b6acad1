//! Query metrics: counters kept by the operators and reported by `--stats` and
//! `Query::metrics()`.

use std::fmt;
use std::time::Duration;

use super::overlap::PhaseTimes;

/// A snapshot of a query's counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    /// Input rows received.
    pub rows_in: u64,
    /// Input batches received.
    pub batches_in: u64,
    /// Result rows emitted.
    pub rows_out: u64,
    /// Result batches emitted.
    pub batches_out: u64,
    /// Rows that arrived after all their windows had closed.
    pub late_rows: u64,
    /// Rows dropped from windowed operators because their event time was NULL.
    pub null_event_time_rows: u64,
    /// Windows opened.
    pub windows_opened: u64,
    /// Windows closed (emitted and freed).
    pub windows_closed: u64,
    /// Groups (or partition keys) held in state now.
    pub groups_live: u64,
    /// Bytes of operator state now.
    pub state_bytes: u64,
    /// Wall time since the query started.
    pub elapsed: Duration,
    /// Aggregation operators (GROUP BY, windows): time spent pre-aggregating batches
    /// into partial states, summed over the threads that did it.
    pub pre_aggregate_time: Duration,
    /// Aggregation operators: time spent merging the partial states into the query's
    /// state in input order (and emitting what the merges close).
    pub merge_time: Duration,
    /// Wall time of the calls whose batches were pre-aggregated on the worker threads.
    pub parallel_time: Duration,
    /// Calls whose batches were pre-aggregated on the worker threads.
    pub parallel_calls: u64,
    /// Worker threads of the query (1: every call runs on the calling thread).
    pub workers: usize,
}

impl Metrics {
    /// Input rows per second over the elapsed time.
    pub fn rows_in_per_sec(&self) -> f64 {
        per_sec(self.rows_in, self.elapsed)
    }

    /// Output rows per second over the elapsed time.
    pub fn rows_out_per_sec(&self) -> f64 {
        per_sec(self.rows_out, self.elapsed)
    }

    /// The share of the workers' time inside parallel calls spent neither
    /// pre-aggregating nor merging (waiting for their turn, waking, spinning); `None`
    /// before any parallel call.
    pub fn worker_idle_share(&self) -> Option<f64> {
        PhaseTimes {
            work: self.pre_aggregate_time,
            consume: self.merge_time,
            parallel: self.parallel_time,
            parallel_calls: self.parallel_calls,
        }
        .idle_share(self.workers)
    }

    /// Output rows per input row.
    pub fn amplification(&self) -> f64 {
        if self.rows_in == 0 {
            0.0
        } else {
            self.rows_out as f64 / self.rows_in as f64
        }
    }
}

fn per_sec(n: u64, d: Duration) -> f64 {
    let s = d.as_secs_f64();
    if s > 0.0 { n as f64 / s } else { 0.0 }
}

/// Formats a rate as `12.3M`, `45.6K`, `789`.
pub fn human_rate(v: f64) -> String {
    if v >= 1e9 {
        format!("{:.2}G", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}K", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

impl fmt::Display for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "rows in:              {}", self.rows_in)?;
        writeln!(f, "batches in:           {}", self.batches_in)?;
        writeln!(f, "rows out:             {}", self.rows_out)?;
        writeln!(f, "batches out:          {}", self.batches_out)?;
        writeln!(f, "late rows:            {}", self.late_rows)?;
        writeln!(f, "null event-time rows: {}", self.null_event_time_rows)?;
        writeln!(f, "windows opened:       {}", self.windows_opened)?;
        writeln!(f, "windows closed:       {}", self.windows_closed)?;
        writeln!(f, "groups live:          {}", self.groups_live)?;
        writeln!(f, "state bytes:          {}", self.state_bytes)?;
        writeln!(
            f,
            "elapsed:              {:.3}s",
            self.elapsed.as_secs_f64()
        )?;
        writeln!(
            f,
            "rows/s in:            {}",
            human_rate(self.rows_in_per_sec())
        )?;
        writeln!(
            f,
            "rows/s out:           {}",
            human_rate(self.rows_out_per_sec())
        )?;
        write!(f, "amplification:        {:.4}", self.amplification())?;
        if !self.pre_aggregate_time.is_zero() || !self.merge_time.is_zero() {
            write!(
                f,
                "\npre-aggregation:      {:.3}s\nmerges:               {:.3}s",
                self.pre_aggregate_time.as_secs_f64(),
                self.merge_time.as_secs_f64()
            )?;
        }
        if let Some(idle) = self.worker_idle_share() {
            write!(
                f,
                "\nparallel calls:       {} ({:.3}s on {} workers, {:.1}% idle)",
                self.parallel_calls,
                self.parallel_time.as_secs_f64(),
                self.workers,
                idle * 100.0
            )?;
        }
        Ok(())
    }
}
