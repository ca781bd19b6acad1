//! Query metrics: counters kept by the operators and reported by `--stats` and
//! `Query::metrics()`.

use std::fmt;
use std::time::Duration;

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
        write!(f, "amplification:        {:.4}", self.amplification())
    }
}
