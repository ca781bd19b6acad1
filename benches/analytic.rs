//! Criterion benches for ROWS-window analytics, through the real query path (`Engine`,
//! `Query::push_batches`) over SPEC §9 trades data in memory: the S1 moving average at
//! frames of 10, 100 and 10,000 rows (the cost must not grow with the frame), on 1 and 2
//! partitions, a moving MAX at the same frames on 1, the same average over time RANGE frames of 1 second and 1 minute, the
//! two ways of splitting analytics over partitions (by batch, by key) on S1 (and S1 with
//! a moving MIN and MAX beside the average), on a window
//! without PARTITION BY and on one of many keys, and a mix of functions.
//!
//! Throughput is in input rows.

use std::hint::black_box;

use arrow::array::RecordBatch;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use velostream::datagen::TradesGenerator;
use velostream::exec::runner::CallSize;
use velostream::{AnalyticSplit, Engine, QueryOptions};

const ROWS: u64 = 2_000_000;
const BATCH: usize = 8192;

/// Runs `sql` over `batches` (pushed as the CLI pushes them) and returns the output rows.
fn run(engine: &Engine, sql: &str, batches: &[RecordBatch]) -> u64 {
    let schema = TradesGenerator::schema();
    let mut q = engine
        .query(sql, &[("trades", schema)], QueryOptions::default())
        .expect("query");
    let mut rows = 0u64;
    for chunk in CallSize::in_memory(engine.partitions()).split(batches) {
        for b in q.push_batches("trades", chunk.to_vec()).expect("push") {
            rows += b.num_rows() as u64;
        }
    }
    for b in q.finish().expect("finish") {
        rows += b.num_rows() as u64;
    }
    rows
}

fn moving_average(c: &mut Criterion) {
    let batches: Vec<RecordBatch> = TradesGenerator::new(ROWS, BATCH, 42, 0).collect();
    let mut group = c.benchmark_group("analytic");
    group.throughput(Throughput::Elements(ROWS));
    group.sample_size(10);
    for partitions in [1usize, 2] {
        let engine = Engine::with_partitions(partitions);
        for frame in [10u64, 100, 10_000] {
            let sql = format!(
                "SELECT symbol, ts, price, AVG(price) OVER (PARTITION BY symbol ORDER BY ts ROWS BETWEEN {} PRECEDING AND CURRENT ROW) AS moving_avg FROM trades",
                frame - 1
            );
            group.bench_function(
                format!(
                    "s1_moving_avg/frame={frame}/rows={ROWS}/batch={BATCH}/partitions={partitions}"
                ),
                |b| b.iter(|| black_box(run(&engine, &sql, &batches))),
            );
            // the moving MAX at the same frames (its cost must not grow with them either)
            if partitions == 1 {
                let sql = format!(
                    "SELECT symbol, ts, price, MAX(price) OVER (PARTITION BY symbol ORDER BY ts ROWS BETWEEN {} PRECEDING AND CURRENT ROW) AS moving_max FROM trades",
                    frame - 1
                );
                group.bench_function(
                    format!(
                        "s1_moving_max/frame={frame}/rows={ROWS}/batch={BATCH}/partitions={partitions}"
                    ),
                    |b| b.iter(|| black_box(run(&engine, &sql, &batches))),
                );
            }
        }
        // time RANGE frames (issue 5): S1 with the frame given as a time span; S1's keys
        // are 1 ms apart, so a 1-minute frame holds about 6,000 rows of each symbol
        for (range, interval) in [("1s", "INTERVAL '1' SECOND"), ("1m", "INTERVAL '1' MINUTE")] {
            let sql = format!(
                "SELECT symbol, ts, price, AVG(price) OVER (PARTITION BY symbol ORDER BY ts RANGE BETWEEN {interval} PRECEDING AND CURRENT ROW) AS moving_avg FROM trades"
            );
            group.bench_function(
                format!(
                    "s1_range_avg/range={range}/rows={ROWS}/batch={BATCH}/partitions={partitions}"
                ),
                |b| b.iter(|| black_box(run(&engine, &sql, &batches))),
            );
        }
        // the two ways of splitting on two partitions (`auto` takes by-batch for S1),
        // a window without PARTITION BY (one key: split by batch, or on one thread when
        // split by key) and one of many keys (trader_id: split by key)
        let splits: &[(&str, AnalyticSplit)] = if partitions > 1 {
            &[
                ("auto", AnalyticSplit::Auto),
                ("by-key", AnalyticSplit::ByKey),
            ]
        } else {
            &[("auto", AnalyticSplit::Auto)]
        };
        for &(name, split) in splits {
            let engine = Engine::with_partitions(partitions).with_analytic_split(split);
            for (what, sql) in [
                (
                    "s1_moving_avg",
                    "SELECT symbol, ts, price, AVG(price) OVER (PARTITION BY symbol ORDER BY ts ROWS BETWEEN 99 PRECEDING AND CURRENT ROW) AS moving_avg FROM trades",
                ),
                (
                    "s1_moving_min_max_avg",
                    "SELECT symbol, ts, price, MIN(price) OVER w AS lo, MAX(price) OVER w AS hi, AVG(price) OVER w AS moving_avg FROM trades WINDOW w AS (PARTITION BY symbol ORDER BY ts ROWS BETWEEN 99 PRECEDING AND CURRENT ROW)",
                ),
                (
                    "s1_bollinger_avg_stddev",
                    "SELECT symbol, ts, price, AVG(price) OVER w AS mid, STDDEV(price) OVER w AS sd FROM trades WINDOW w AS (PARTITION BY symbol ORDER BY ts ROWS BETWEEN 99 PRECEDING AND CURRENT ROW)",
                ),
                (
                    "global_moving_avg",
                    "SELECT ts, price, AVG(price) OVER (ORDER BY ts ROWS BETWEEN 99 PRECEDING AND CURRENT ROW) AS moving_avg FROM trades",
                ),
                (
                    "trader_moving_avg",
                    "SELECT trader_id, ts, price, AVG(price) OVER (PARTITION BY trader_id ORDER BY ts ROWS BETWEEN 99 PRECEDING AND CURRENT ROW) AS moving_avg FROM trades",
                ),
            ] {
                group.bench_function(
                    format!(
                        "split/{what}/frame=100/rows={ROWS}/batch={BATCH}/partitions={partitions}/split={name}"
                    ),
                    |b| b.iter(|| black_box(run(&engine, sql, &batches))),
                );
            }
        }
        let mixed = "SELECT symbol, price, \
            SUM(quantity) OVER w AS q, MIN(price) OVER w AS lo, MAX(price) OVER w AS hi, \
            STDDEV(price) OVER w AS sd, LAG(price) OVER w AS prev, \
            ROW_NUMBER() OVER (PARTITION BY trader_id ORDER BY ts) AS n \
            FROM trades WINDOW w AS (PARTITION BY symbol ORDER BY ts ROWS BETWEEN 99 PRECEDING AND CURRENT ROW)";
        group.bench_function(
            format!("mixed_6_calls/frame=100/rows={ROWS}/batch={BATCH}/partitions={partitions}"),
            |b| b.iter(|| black_box(run(&engine, mixed, &batches))),
        );
    }
    group.finish();
}

criterion_group!(benches, moving_average);
criterion_main!(benches);
