//! `velo bench`: the benchmark scenarios of SPEC §9, run through the real query path.
//!
//! Data comes from the trades generator. Each scenario runs in up to three modes:
//! `mem` (batches already in memory, results materialized and kept), `file` (an Arrow IPC
//! file streamed from a memory map through the CLI's pipelined runner; results
//! materialized as Arrow batches, counted and dropped) and `file-to-file` (results
//! written to an IPC file, which includes `velo run`'s `fsync` of the result before it is
//! renamed into place: disk time, not the engine's). Each row reports its own peak RSS (the mark is reset before
//! it), the CPU use (process CPU time over wall time, so 2.0 = two cores busy) and the
//! p50/p99 latency of one push (a group of batches into the query), and the balance of
//! the worker threads' CPU time (`bal`, least busy over busiest, see [`balance`]).

pub mod balance;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;

use crate::config::QueryOptions;
use crate::datagen::{TradesGenerator, write_trades};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::exec::AnalyticSplit;
use crate::exec::metrics::{Metrics, human_rate};
use crate::exec::runner::{CountSink, RunSettings, run_to_sink};
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

/// `--analytic-split`: how ROWS-window analytics spread their per-key state over the
/// partitions ([`AnalyticSplit`]; the results are the same either way).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum AnalyticSplitArg {
    /// By batch when every call allows it and the keys are few, else by key.
    #[default]
    Auto,
    /// Each key's rows to one partition.
    ByKey,
    /// Contiguous groups of batches, one per partition, whenever every call allows it.
    ByBatch,
}

impl From<AnalyticSplitArg> for AnalyticSplit {
    fn from(a: AnalyticSplitArg) -> AnalyticSplit {
        match a {
            AnalyticSplitArg::Auto => AnalyticSplit::Auto,
            AnalyticSplitArg::ByKey => AnalyticSplit::ByKey,
            AnalyticSplitArg::ByBatch => AnalyticSplit::ByBatch,
        }
    }
}

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
    /// Partitions (threads): a number or `all` (number of cores), or a comma-separated
    /// list of them (`1,2`): each measurement then alternates its repetitions between the
    /// partition counts, so all of them meet the same moments of a noisy host, and the
    /// speed-up over the first is printed after the table (each count's peak RSS then
    /// includes what the others' runs left allocated).
    #[arg(short, long, default_value = "1")]
    pub partitions: String,
    /// How ROWS-window analytics spread their per-key state over the partitions (S1).
    #[arg(long, value_enum, default_value_t = AnalyticSplitArg::Auto)]
    pub analytic_split: AnalyticSplitArg,
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
    /// Median wall time of the repetitions (on a shared or virtual machine the best
    /// alone can flatter: two partitions need both cores at once).
    pub median_wall: Duration,
    /// Output rows.
    pub rows_out: u64,
    /// Peak resident memory during this measurement (all its repetitions), bytes; the
    /// process's peak so far if the mark could not be reset (`peak_rss_reset`).
    pub peak_rss_bytes: u64,
    /// Whether the peak-RSS mark was reset before this measurement.
    pub peak_rss_reset: bool,
    /// Process CPU time (user + system, all threads) over wall time: 1.0 = one core
    /// busy for the whole run.
    pub cpu: f64,
    /// Median per-push latency (one push = a call of batches, see
    /// [`CallSize`](crate::exec::runner::CallSize)).
    pub p50: Duration,
    /// 99th percentile per-batch latency.
    pub p99: Duration,
    /// Speed-up over the original engine's published figure.
    pub speedup_vs_original: f64,
    /// The least busy worker thread's CPU time over the busiest one's, over all timed
    /// runs (1.0 = even); `None` with one worker or where it cannot be read.
    pub balance: Option<f64>,
    /// Best run, aggregation operators: the share of the workers' time inside parallel
    /// calls spent neither pre-aggregating nor merging (see
    /// [`Metrics::worker_idle_share`]); `None` without parallel calls.
    pub worker_idle: Option<f64>,
    /// Best run, aggregation operators: time pre-aggregating batches (all threads).
    pub pre_aggregate: Duration,
    /// Best run, aggregation operators: time merging partial states in order.
    pub merge: Duration,
}

impl BenchResult {
    /// Input rows per second.
    pub fn rows_per_sec(&self) -> f64 {
        self.rows as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    /// Input rows per second of the median repetition.
    pub fn median_rows_per_sec(&self) -> f64 {
        self.rows as f64 / self.median_wall.as_secs_f64().max(1e-9)
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

/// Resets this process's peak resident set size (VmHWM) to its current RSS, so that
/// [`peak_rss_bytes`] then reports the peak of what follows. Returns false where that is
/// not possible (not Linux, or /proc/self/clear_refs not writable): the peak is then the
/// process's peak so far.
pub fn reset_peak_rss() -> bool {
    // "5" resets the peak RSS (Documentation/admin-guide/mm/soft-dirty.rst, proc(5)).
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// CPU time (user + system) this process has used so far, over all its threads; `None`
/// where unknown.
pub fn process_cpu_time() -> Option<Duration> {
    #[cfg(unix)]
    {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: `usage` is a valid, writable rusage that getrusage fills in.
        let status = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
        if status != 0 {
            return None;
        }
        // SAFETY: getrusage succeeded, so it initialised the struct (which was zeroed,
        // a valid value, in any case).
        let usage = unsafe { usage.assume_init() };
        let micros = |t: libc::timeval| -> Option<u64> {
            let secs = u64::try_from(t.tv_sec).ok()?;
            let micros = u64::try_from(t.tv_usec).ok()?;
            secs.checked_mul(1_000_000)?.checked_add(micros)
        };
        let total = micros(usage.ru_utime)?.checked_add(micros(usage.ru_stime)?)?;
        Some(Duration::from_micros(total))
    }
    #[cfg(not(unix))]
    {
        None
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// One timed run.
#[derive(Debug)]
struct Run {
    wall: Duration,
    rows_out: u64,
    /// Per push (group of batches).
    latencies: Vec<Duration>,
    /// Process CPU time during the run.
    cpu: Duration,
    /// The query's metrics at the end of the run.
    metrics: Metrics,
}

/// Times `f`, wall and process CPU time.
fn timed(f: impl FnOnce() -> Result<(u64, Vec<Duration>, Metrics)>) -> Result<Run> {
    let cpu_before = process_cpu_time();
    let start = Instant::now();
    let (rows_out, latencies, metrics) = f()?;
    let wall = start.elapsed();
    let cpu = match (cpu_before, process_cpu_time()) {
        (Some(before), Some(after)) => after.saturating_sub(before),
        _ => Duration::ZERO,
    };
    Ok(Run {
        wall,
        rows_out,
        latencies,
        cpu,
        metrics,
    })
}

/// Runs `sql` over in-memory batches, its results collected into `keep` (the caller
/// drops them after the clock stops, as a peer's collected result is dropped after its
/// timing); returns (output rows, per-push latencies).
fn run_mem(
    engine: &Engine,
    sql: &str,
    batches: &[RecordBatch],
    keep: &mut Vec<RecordBatch>,
) -> Result<(u64, Vec<Duration>, Metrics)> {
    let schema = batches
        .first()
        .map(|b| b.schema())
        .unwrap_or_else(TradesGenerator::schema);
    let mut q = engine.query(sql, &[("trades", schema)], QueryOptions::default())?;
    let calls = crate::exec::runner::CallSize::in_memory(engine.partitions()).split(batches);
    let mut latencies = Vec::with_capacity(calls.len());
    let mut out_rows = 0u64;
    for chunk in calls {
        let t = Instant::now();
        let out = q.push_batches("trades", chunk.to_vec())?;
        latencies.push(t.elapsed());
        out_rows += out.iter().map(|b| b.num_rows() as u64).sum::<u64>();
        keep.extend(out);
    }
    let out = q.finish()?;
    out_rows += out.iter().map(|b| b.num_rows() as u64).sum::<u64>();
    keep.extend(out);
    Ok((out_rows, latencies, q.metrics()))
}

/// Runs `sql` from an IPC file through the CLI's runner (streamed: read, compute and
/// write overlap), results counted and dropped, or written to the IPC file `out_path`;
/// returns (output rows, per-push latencies).
fn run_file(
    engine: &Engine,
    sql: &str,
    path: &str,
    out_path: Option<&str>,
) -> Result<(u64, Vec<Duration>, Metrics)> {
    let mut source = io::open_source(path, Some(Format::ArrowFile))?;
    let mut q = engine.query_source(
        sql,
        &mut [("trades", source.as_mut())],
        QueryOptions::default(),
    )?;
    let settings = RunSettings {
        record_latencies: true,
        ..RunSettings::default()
    };
    let report = match out_path {
        None => run_to_sink(&mut q, source, &settings, &mut CountSink::default())?,
        Some(p) => {
            let mut sink = io::open_sink(Some(p), Some(Format::ArrowFile), q.output_schema())?;
            let report = run_to_sink(&mut q, source, &settings, sink.as_mut())?;
            sink.finish()?;
            report
        }
    };
    Ok((report.rows_out, report.push_latencies, q.metrics()))
}

/// Runs the benchmark and prints the results.
///
/// Modes run one after the other (all scenarios of a mode together, `mem` last), so the
/// in-memory input of `mem` is not held while the file modes run; before each run the
/// peak-RSS mark is reset, so each result reports its own peak. With several partition
/// counts, each measurement's repetitions alternate between them, and the comparisons
/// with the first ([`scaling`]) follow the table.
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
    let partitions = parse_partitions(&args.partitions)?;
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
    let engines: Vec<Engine> = partitions
        .iter()
        .map(|&p| Engine::with_partitions(p).with_analytic_split(args.analytic_split.into()))
        .collect();
    let dir = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let input_path = dir.join(format!(
        "velo-bench-{rows}-{batch_size}-{}.arrow",
        std::process::id()
    ));
    let output_path = dir.join(format!("velo-bench-out-{}.arrow", std::process::id()));
    let measured = measure_modes(
        &engines,
        &scenarios,
        &modes,
        (rows, batch_size),
        &input_path,
        &output_path,
        args.repeat.max(1),
    );
    let _ = std::fs::remove_file(&input_path);
    let _ = std::fs::remove_file(&output_path);
    let (mut results, skipped) = measured?;
    // Table order: scenario by scenario, modes in the order asked, partitions as listed.
    let rank = |r: &BenchResult| {
        let s = scenarios.iter().position(|s| s.id == r.scenario);
        let m = modes.iter().position(|m| *m == r.mode);
        let p = partitions.iter().position(|p| *p == r.partitions);
        (s, m, p)
    };
    results.sort_by_key(rank);
    print!("{}", format_results(&results, args.json));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    print!(
        "{}",
        format_scaling(&scaling(&results, partitions[0], cores), args.json)
    );
    for s in skipped {
        eprintln!("skipped {s}");
    }
    Ok(())
}

/// `--partitions`: a number, `all` (the number of cores), or a comma-separated list of
/// them, duplicates dropped.
fn parse_partitions(arg: &str) -> Result<Vec<usize>> {
    let mut out: Vec<usize> = Vec::new();
    for item in arg.split(',') {
        let p = match item.trim() {
            "all" => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n.parse::<usize>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                Error::plan(format!(
                    "--partitions: expected a number, 'all' or a comma-separated list of them, got '{n}' in '{arg}'"
                ))
            })?,
        };
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(out)
}

/// Two partition counts compared on one scenario and mode.
#[derive(Debug, Clone, PartialEq)]
pub struct Scaling {
    /// Scenario id.
    pub scenario: &'static str,
    /// mem / file / file-to-file.
    pub mode: &'static str,
    /// The partition count compared.
    pub partitions: usize,
    /// The one it is compared with (the first listed).
    pub base_partitions: usize,
    /// Best rows/s over the base's best rows/s.
    pub ratio: f64,
    /// The same of the median runs.
    pub median_ratio: f64,
    /// The most `ratio` could be at the CPU time this run took, on `cores` cores all
    /// busy all the time: the base's best wall time × cores ÷ this run's CPU time; `None`
    /// where the CPU time is unknown.
    pub ceiling: Option<f64>,
}

/// Every result against the one of the same scenario and mode with `base` partitions.
pub fn scaling(results: &[BenchResult], base: usize, cores: usize) -> Vec<Scaling> {
    let mut out = Vec::new();
    for r in results.iter().filter(|r| r.partitions != base) {
        let Some(b) = results
            .iter()
            .find(|b| b.partitions == base && b.scenario == r.scenario && b.mode == r.mode)
        else {
            continue;
        };
        let cpu_time = r.cpu * r.wall.as_secs_f64();
        out.push(Scaling {
            scenario: r.scenario,
            mode: r.mode,
            partitions: r.partitions,
            base_partitions: base,
            ratio: r.rows_per_sec() / b.rows_per_sec().max(1e-9),
            median_ratio: r.median_rows_per_sec() / b.median_rows_per_sec().max(1e-9),
            ceiling: (cpu_time > 0.0).then(|| b.wall.as_secs_f64() * cores as f64 / cpu_time),
        });
    }
    out
}

/// The comparisons as lines after the table, or as JSON lines (`"scaling":true`).
pub fn format_scaling(scaling: &[Scaling], json: bool) -> String {
    let mut out = String::new();
    for c in scaling {
        let ceiling = c
            .ceiling
            .map_or_else(|| "null".to_string(), |x| format!("{x:.3}"));
        if json {
            let _ = writeln!(
                out,
                "{{\"scaling\":true,\"scenario\":\"{}\",\"mode\":\"{}\",\"partitions\":{},\"base_partitions\":{},\"ratio\":{:.4},\"median_ratio\":{:.4},\"ceiling\":{ceiling}}}",
                c.scenario, c.mode, c.partitions, c.base_partitions, c.ratio, c.median_ratio
            );
        } else {
            let bound = c.ceiling.map_or_else(String::new, |x| {
                format!(" (at most {x:.2}x at its CPU time, every core busy)")
            });
            let _ = writeln!(
                out,
                "{} {}: {} partitions over {}: {:.2}x best, {:.2}x median{bound}",
                c.scenario, c.mode, c.partitions, c.base_partitions, c.ratio, c.median_ratio
            );
        }
    }
    out
}

/// The repetitions of one scenario and mode on one engine so far.
#[derive(Default)]
struct Measurement {
    best: Option<Run>,
    walls: Vec<Duration>,
    failure: Option<Error>,
    peak_rss: u64,
    peak_rss_reset: bool,
    /// CPU seconds per worker name over the timed runs.
    workers: Vec<(String, f64)>,
}

impl Measurement {
    fn add_workers(&mut self, spent: Vec<(String, f64)>) {
        for (name, secs) in spent {
            match self.workers.iter_mut().find(|(n, _)| *n == name) {
                Some(w) => w.1 += secs,
                None => self.workers.push((name, secs)),
            }
        }
    }
}

/// Runs every scenario in every mode, mode by mode, each measurement's repetitions
/// alternating between `engines`; returns the results and the scenarios that failed
/// (with their errors).
fn measure_modes(
    engines: &[Engine],
    scenarios: &[&Scenario],
    modes: &[&'static str],
    (rows, batch_size): (u64, usize),
    input_path: &Path,
    output_path: &Path,
    repeat: u32,
) -> Result<(Vec<BenchResult>, Vec<String>)> {
    let input = input_path.to_string_lossy().to_string();
    let output = output_path.to_string_lossy().to_string();
    let mut results = Vec::new();
    let mut skipped = Vec::new();
    let mut file_written = false;
    // The file modes first: memory freed after `mem` may stay with the process (the
    // allocator keeps it), and would count in the file modes' peaks.
    let mut order = modes.to_vec();
    order.sort_by_key(|m| *m == "mem");
    for mode in order {
        // Only `mem` holds the input in memory, and only while it runs.
        let batches: Vec<RecordBatch> = if mode == "mem" {
            TradesGenerator::new(rows, batch_size, 42, 0).collect()
        } else {
            if !file_written {
                write_trades(
                    &input,
                    Some(Format::ArrowFile),
                    rows,
                    batch_size,
                    42,
                    0,
                    None,
                )?;
                file_written = true;
            }
            Vec::new()
        };
        for s in scenarios {
            let mut runs: Vec<Measurement> = engines
                .iter()
                .map(|_| Measurement {
                    peak_rss_reset: true,
                    ..Measurement::default()
                })
                .collect();
            for _ in 0..repeat {
                for (engine, m) in engines.iter().zip(&mut runs) {
                    if m.failure.is_some() {
                        continue;
                    }
                    if mode == "file-to-file" {
                        // Each run writes a new file, as a user's would: renamed over the
                        // previous repetition's, the run would also free that file's blocks
                        // (about 60 ms for S1's 10 M result rows).
                        let _ = std::fs::remove_file(&output);
                    }
                    m.peak_rss_reset &= reset_peak_rss();
                    let workers_before = balance::WorkerCpu::snapshot();
                    let mut results = Vec::new();
                    let r = timed(|| match mode {
                        "mem" => run_mem(engine, s.sql, &batches, &mut results),
                        "file" => run_file(engine, s.sql, &input, None),
                        _ => run_file(engine, s.sql, &input, Some(&output)),
                    });
                    drop(results);
                    m.add_workers(balance::WorkerCpu::snapshot().since(&workers_before));
                    m.peak_rss = m.peak_rss.max(peak_rss_bytes());
                    match r {
                        Ok(r) => {
                            m.walls.push(r.wall);
                            if m.best.as_ref().is_none_or(|b| r.wall < b.wall) {
                                m.best = Some(r);
                            }
                        }
                        Err(e) => m.failure = Some(e),
                    }
                }
            }
            for (engine, m) in engines.iter().zip(runs) {
                let Measurement {
                    best,
                    mut walls,
                    failure,
                    peak_rss,
                    peak_rss_reset,
                    workers,
                } = m;
                match (best, failure) {
                    (Some(mut run), None) => {
                        run.latencies.sort_unstable();
                        walls.sort_unstable();
                        let wall_s = run.wall.as_secs_f64().max(1e-9);
                        // another engine's workers may still spin into this one's runs
                        let balance = if engine.partitions() > 1 {
                            balance::balance(&workers)
                        } else {
                            None
                        };
                        let res = BenchResult {
                            scenario: s.id,
                            mode,
                            rows,
                            batch_size,
                            partitions: engine.partitions(),
                            wall: run.wall,
                            median_wall: percentile(&walls, 0.5),
                            rows_out: run.rows_out,
                            peak_rss_bytes: peak_rss,
                            peak_rss_reset,
                            cpu: run.cpu.as_secs_f64() / wall_s,
                            p50: percentile(&run.latencies, 0.5),
                            p99: percentile(&run.latencies, 0.99),
                            speedup_vs_original: 0.0,
                            balance,
                            worker_idle: run.metrics.worker_idle_share(),
                            pre_aggregate: run.metrics.pre_aggregate_time,
                            merge: run.metrics.merge_time,
                        };
                        let speedup = res.rows_per_sec() / s.original_rows_per_sec;
                        results.push(BenchResult {
                            speedup_vs_original: speedup,
                            ..res
                        });
                    }
                    (_, Some(e)) => skipped.push(format!(
                        "{} ({mode}, {} partitions): {e}",
                        s.id,
                        engine.partitions()
                    )),
                    (None, None) => {}
                }
            }
        }
    }
    Ok((results, skipped))
}

/// The results as a table or JSON lines.
pub fn format_results(results: &[BenchResult], json: bool) -> String {
    let mut out = String::new();
    if json {
        for r in results {
            let _ = writeln!(
                out,
                "{{\"scenario\":\"{}\",\"mode\":\"{}\",\"rows\":{},\"batch_size\":{},\"partitions\":{},\"wall_s\":{:.6},\"rows_per_sec\":{:.0},\"median_wall_s\":{:.6},\"median_rows_per_sec\":{:.0},\"rows_out\":{},\"amplification\":{:.6},\"peak_rss_bytes\":{},\"cpu\":{:.2},\"p50_us\":{},\"p99_us\":{},\"speedup_vs_original\":{:.1},\"balance\":{},\"peak_rss_reset\":{},\"pre_aggregate_s\":{:.6},\"merge_s\":{:.6},\"worker_idle\":{}}}",
                r.scenario,
                r.mode,
                r.rows,
                r.batch_size,
                r.partitions,
                r.wall.as_secs_f64(),
                r.rows_per_sec(),
                r.median_wall.as_secs_f64(),
                r.median_rows_per_sec(),
                r.rows_out,
                r.rows_out as f64 / r.rows.max(1) as f64,
                r.peak_rss_bytes,
                r.cpu,
                r.p50.as_micros(),
                r.p99.as_micros(),
                r.speedup_vs_original,
                r.balance
                    .map_or_else(|| "null".to_string(), |b| format!("{b:.3}")),
                r.peak_rss_reset,
                r.pre_aggregate.as_secs_f64(),
                r.merge.as_secs_f64(),
                r.worker_idle
                    .map_or_else(|| "null".to_string(), |b| format!("{b:.4}"))
            );
        }
        return out;
    }
    let _ = writeln!(
        out,
        "{:<5} {:<13} {:>11} {:>6} {:>5} {:>9} {:>5} {:>10} {:>10} {:>11} {:>7} {:>9} {:>9} {:>9} {:>10} {:>5} {:>5}",
        "scen",
        "mode",
        "rows",
        "batch",
        "parts",
        "wall",
        "cpu",
        "rows/s",
        "median/s",
        "rows out",
        "ampl",
        "peak RSS",
        "p50",
        "p99",
        "vs orig",
        "bal",
        "idle"
    );
    for r in results {
        let _ = writeln!(
            out,
            "{:<5} {:<13} {:>11} {:>6} {:>5} {:>8.3}s {:>5.2} {:>10} {:>10} {:>11} {:>7.4} {:>7}MB {:>7}us {:>7}us {:>9.0}x {:>5} {:>5}",
            r.scenario,
            r.mode,
            r.rows,
            r.batch_size,
            r.partitions,
            r.wall.as_secs_f64(),
            r.cpu,
            human_rate(r.rows_per_sec()),
            human_rate(r.median_rows_per_sec()),
            r.rows_out,
            r.rows_out as f64 / r.rows.max(1) as f64,
            r.peak_rss_bytes >> 20,
            r.p50.as_micros(),
            r.p99.as_micros(),
            r.speedup_vs_original,
            r.balance
                .map_or_else(|| "-".to_string(), |b| format!("{b:.2}")),
            r.worker_idle
                .map_or_else(|| "-".to_string(), |b| format!("{:.0}%", b * 100.0))
        );
    }
    out
}
