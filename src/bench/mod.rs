//! `velo bench`: the benchmark scenarios of SPEC §9, run through the real query path.
//!
//! Data comes from the trades generator. Each scenario runs in up to three modes:
//! `mem` (batches already in memory, results materialized), `file` (decode an Arrow IPC
//! file from a memory map, results materialized) and `file-to-file` (results also written
//! to an IPC file).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;

use crate::config::QueryOptions;
use crate::datagen::TradesGenerator;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::exec::metrics::human_rate;
use crate::exec::runner::{CollectSink, RunSettings, run_to_sink};
use crate::io::{self, Format};

/// A benchmark scenario of SPEC §9.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// Short id (S0, S1, ...).
    pub id: &'static str,
    /// What it measures.
    pub title: &'static str,
    /// The query over the `trades` input.
    pub sql: &'static str,
    /// The original Velostream's measured rows/s on this workload (5,000 rows, batches
    /// of 1,000), from its performance analysis.
    pub original_rows_per_sec: f64,
}

/// The scenarios of SPEC §9.
pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        id: "S0",
        title: "pure SELECT",
        sql: "SELECT symbol, price, quantity, price * quantity AS value FROM trades WHERE price > 120",
        original_rows_per_sec: 23_000.0,
    },
    Scenario {
        id: "S1",
        title: "ROWS window",
        sql: "SELECT symbol, ts, price, AVG(price) OVER (PARTITION BY symbol ORDER BY ts ROWS BETWEEN 99 PRECEDING AND CURRENT ROW) AS moving_avg FROM trades",
        original_rows_per_sec: 20_000.0,
    },
    Scenario {
        id: "S2",
        title: "GROUP BY",
        sql: "SELECT trader_id, symbol, COUNT(*) AS trade_count, AVG(price) AS avg_price, SUM(quantity) AS total_quantity, SUM(price * quantity) AS total_value FROM trades GROUP BY trader_id, symbol EMIT FINAL",
        original_rows_per_sec: 23_000.0,
    },
    Scenario {
        id: "S3a",
        title: "TUMBLING + GROUP BY",
        sql: "SELECT trader_id, symbol, COUNT(*) AS trade_count, AVG(price) AS avg_price, SUM(quantity) AS total_quantity, SUM(price * quantity) AS total_value FROM trades GROUP BY trader_id, symbol WINDOW TUMBLING(ts, INTERVAL '1' MINUTE) EMIT FINAL",
        original_rows_per_sec: 21_000.0,
    },
    Scenario {
        id: "S3b",
        title: "TUMBLING + GROUP BY + EMIT CHANGES",
        sql: "SELECT trader_id, symbol, COUNT(*) AS trade_count, AVG(price) AS avg_price, SUM(quantity) AS total_quantity, SUM(price * quantity) AS total_value FROM trades GROUP BY trader_id, symbol WINDOW TUMBLING(ts, INTERVAL '1' MINUTE) EMIT CHANGES",
        original_rows_per_sec: 20_000.0,
    },
];

/// Arguments of `velo bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Scenario id (S0, S1, S2, S3a, S3b) or `all`.
    #[arg(long, default_value = "all")]
    pub scenario: String,
    /// Preset: `scale` (10 M rows, batches of 8,192) or `original` (5,000 rows in
    /// batches of 1,000, as in the Velostream analysis). --rows/--batch-size override it.
    #[arg(long, default_value = "scale")]
    pub preset: String,
    /// Input rows.
    #[arg(long)]
    pub rows: Option<u64>,
    /// Rows per batch.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Partitions (threads): a number or `all` (number of cores).
    #[arg(short, long, default_value = "1")]
    pub partitions: String,
    /// Modes to run: mem, file, file-to-file, or all.
    #[arg(long, default_value = "all")]
    pub mode: String,
    /// Timed repetitions per measurement (the best is reported).
    #[arg(long, default_value_t = 3)]
    pub repeat: u32,
    /// Directory for the generated input file (default: the system temp dir).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// One measurement.
#[derive(Debug, Clone)]
pub struct BenchResult {
    /// Scenario id.
    pub scenario: &'static str,
    /// mem / file / file-to-file.
    pub mode: &'static str,
    /// Input rows.
    pub rows: u64,
    /// Batch size.
    pub batch_size: usize,
    /// Partitions.
    pub partitions: usize,
    /// Best wall time.
    pub wall: Duration,
    /// Output rows.
    pub rows_out: u64,
    /// Peak resident memory of the process so far, bytes.
    pub peak_rss_bytes: u64,
    /// Median per-batch latency (push to results).
    pub p50: Duration,
    /// 99th percentile per-batch latency.
    pub p99: Duration,
    /// Speed-up over the original engine's published figure.
    pub speedup_vs_original: f64,
}

impl BenchResult {
    /// Input rows per second.
    pub fn rows_per_sec(&self) -> f64 {
        self.rows as f64 / self.wall.as_secs_f64().max(1e-9)
    }
}

/// Peak resident set size of this process (VmHWM), in bytes; 0 where unknown.
pub fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// Runs `sql` over in-memory batches; returns (wall, output rows, per-push latencies).
fn run_mem(
    engine: &Engine,
    sql: &str,
    batches: &[RecordBatch],
) -> Result<(Duration, u64, Vec<Duration>)> {
    let schema = batches
        .first()
        .map(|b| b.schema())
        .unwrap_or_else(TradesGenerator::schema);
    let mut q = engine.query(sql, &[("trades", schema)], QueryOptions::default())?;
    let group = crate::exec::runner::batches_per_push(engine.partitions());
    let mut latencies = Vec::with_capacity(batches.len() / group + 1);
    let mut out_rows = 0u64;
    let mut keep = Vec::new();
    let start = Instant::now();
    for chunk in batches.chunks(group) {
        let t = Instant::now();
        let out = q.push_batches("trades", chunk.to_vec())?;
        latencies.push(t.elapsed());
        out_rows += out.iter().map(|b| b.num_rows() as u64).sum::<u64>();
        keep.extend(out);
    }
    let out = q.finish()?;
    out_rows += out.iter().map(|b| b.num_rows() as u64).sum::<u64>();
    keep.extend(out);
    let wall = start.elapsed();
    drop(keep);
    Ok((wall, out_rows, latencies))
}

/// Runs `sql` from an IPC file through the CLI's runner.
fn run_file(
    engine: &Engine,
    sql: &str,
    path: &str,
    out_path: Option<&str>,
) -> Result<(Duration, u64)> {
    let start = Instant::now();
    let source = io::open_source(path, Some(Format::ArrowFile))?;
    let mut q = engine.query(sql, &[("trades", source.schema())], QueryOptions::default())?;
    let rows_out = match out_path {
        None => {
            let mut sink = CollectSink::default();
            run_to_sink(&mut q, source, &RunSettings::default(), &mut sink)?;
            sink.batches.iter().map(|b| b.num_rows() as u64).sum()
        }
        Some(p) => {
            let mut sink = io::open_sink(Some(p), Some(Format::ArrowFile), q.output_schema())?;
            run_to_sink(&mut q, source, &RunSettings::default(), sink.as_mut())?;
            sink.finish()?;
            q.metrics().rows_out
        }
    };
    Ok((start.elapsed(), rows_out))
}

/// Runs the benchmark and prints the results.
///
/// # Errors
/// Bad arguments, I/O errors writing the input file.
pub fn run_bench(args: &BenchArgs) -> Result<()> {
    let (default_rows, default_batch) = match args.preset.as_str() {
        "scale" => (10_000_000u64, 8192usize),
        "original" => (5_000, 1_000),
        other => {
            return Err(Error::plan(format!(
                "unknown preset '{other}' (expected scale or original)"
            )));
        }
    };
    let rows = args.rows.unwrap_or(default_rows);
    let batch_size = args.batch_size.unwrap_or(default_batch).max(1);
    let partitions = match args.partitions.as_str() {
        "all" => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        n => n.parse::<usize>().ok().filter(|n| *n >= 1).ok_or_else(|| {
            Error::plan(format!(
                "--partitions: expected a number or 'all', got '{n}'"
            ))
        })?,
    };
    let scenarios: Vec<&Scenario> = if args.scenario.eq_ignore_ascii_case("all") {
        SCENARIOS.iter().collect()
    } else {
        let s = SCENARIOS
            .iter()
            .find(|s| s.id.eq_ignore_ascii_case(&args.scenario))
            .ok_or_else(|| {
                Error::plan(format!(
                    "unknown scenario '{}' (expected S0, S1, S2, S3a, S3b or all)",
                    args.scenario
                ))
            })?;
        vec![s]
    };
    let modes: Vec<&'static str> = match args.mode.as_str() {
        "all" => vec!["mem", "file", "file-to-file"],
        "mem" => vec!["mem"],
        "file" => vec!["file"],
        "file-to-file" => vec!["file-to-file"],
        other => {
            return Err(Error::plan(format!(
                "unknown mode '{other}' (expected mem, file, file-to-file or all)"
            )));
        }
    };
    let engine = Engine::with_partitions(partitions);
    let batches: Vec<RecordBatch> = TradesGenerator::new(rows, batch_size, 42, 0).collect();
    let dir = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let input_path = dir.join(format!(
        "velo-bench-{rows}-{batch_size}-{}.arrow",
        std::process::id()
    ));
    let output_path = dir.join(format!("velo-bench-out-{}.arrow", std::process::id()));
    let needs_file = modes.iter().any(|m| *m != "mem");
    if needs_file {
        let mut sink = io::open_sink(
            Some(&input_path.to_string_lossy()),
            Some(Format::ArrowFile),
            TradesGenerator::schema(),
        )?;
        for b in &batches {
            sink.write(b)?;
        }
        sink.finish()?;
    }
    let mut results = Vec::new();
    let mut skipped = Vec::new();
    for s in &scenarios {
        for mode in &modes {
            let mut best: Option<(Duration, u64, Vec<Duration>)> = None;
            let mut failure = None;
            for _ in 0..args.repeat.max(1) {
                let r = match *mode {
                    "mem" => run_mem(&engine, s.sql, &batches),
                    "file" => run_file(&engine, s.sql, &input_path.to_string_lossy(), None)
                        .map(|(w, o)| (w, o, Vec::new())),
                    _ => run_file(
                        &engine,
                        s.sql,
                        &input_path.to_string_lossy(),
                        Some(&output_path.to_string_lossy()),
                    )
                    .map(|(w, o)| (w, o, Vec::new())),
                };
                match r {
                    Ok(r) => {
                        if best.as_ref().is_none_or(|b| r.0 < b.0) {
                            best = Some(r);
                        }
                    }
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
            match (best, failure) {
                (Some((wall, rows_out, mut lat)), None) => {
                    lat.sort_unstable();
                    let res = BenchResult {
                        scenario: s.id,
                        mode,
                        rows,
                        batch_size,
                        partitions,
                        wall,
                        rows_out,
                        peak_rss_bytes: peak_rss_bytes(),
                        p50: percentile(&lat, 0.5),
                        p99: percentile(&lat, 0.99),
                        speedup_vs_original: 0.0,
                    };
                    let speedup = res.rows_per_sec() / s.original_rows_per_sec;
                    results.push(BenchResult {
                        speedup_vs_original: speedup,
                        ..res
                    });
                }
                (_, Some(e)) => skipped.push(format!("{} ({mode}): {e}", s.id)),
                (None, None) => {}
            }
        }
    }
    let _ = std::fs::remove_file(&input_path);
    let _ = std::fs::remove_file(&output_path);
    print!("{}", format_results(&results, args.json));
    for s in skipped {
        eprintln!("skipped {s}");
    }
    Ok(())
}

/// The results as a table or JSON lines.
pub fn format_results(results: &[BenchResult], json: bool) -> String {
    let mut out = String::new();
    if json {
        for r in results {
            let _ = writeln!(
                out,
                "{{\"scenario\":\"{}\",\"mode\":\"{}\",\"rows\":{},\"batch_size\":{},\"partitions\":{},\"wall_s\":{:.6},\"rows_per_sec\":{:.0},\"rows_out\":{},\"amplification\":{:.6},\"peak_rss_bytes\":{},\"p50_us\":{},\"p99_us\":{},\"speedup_vs_original\":{:.1}}}",
                r.scenario,
                r.mode,
                r.rows,
                r.batch_size,
                r.partitions,
                r.wall.as_secs_f64(),
                r.rows_per_sec(),
                r.rows_out,
                r.rows_out as f64 / r.rows.max(1) as f64,
                r.peak_rss_bytes,
                r.p50.as_micros(),
                r.p99.as_micros(),
                r.speedup_vs_original
            );
        }
        return out;
    }
    let _ = writeln!(
        out,
        "{:<5} {:<13} {:>11} {:>6} {:>5} {:>9} {:>10} {:>11} {:>7} {:>9} {:>9} {:>9} {:>10}",
        "scen",
        "mode",
        "rows",
        "batch",
        "parts",
        "wall",
        "rows/s",
        "rows out",
        "ampl",
        "peak RSS",
        "p50",
        "p99",
        "vs orig"
    );
    for r in results {
        let _ = writeln!(
            out,
            "{:<5} {:<13} {:>11} {:>6} {:>5} {:>8.3}s {:>10} {:>11} {:>7.4} {:>7}MB {:>7}us {:>7}us {:>9.0}x",
            r.scenario,
            r.mode,
            r.rows,
            r.batch_size,
            r.partitions,
            r.wall.as_secs_f64(),
            human_rate(r.rows_per_sec()),
            r.rows_out,
            r.rows_out as f64 / r.rows.max(1) as f64,
            r.peak_rss_bytes >> 20,
            r.p50.as_micros(),
            r.p99.as_micros(),
            r.speedup_vs_original
        );
    }
    out
}
