//! Criterion benches for event-time windows, through the public query API, one thread,
//! data in memory (throughput in input rows):
//! - SPEC §9 S3a (tumbling 1 minute, EMIT FINAL) and S3b (EMIT CHANGES, batch 1,000);
//! - sliding windows of 1 minute every 10 s and every 1 s (6 and 60 windows per row),
//!   whose cost must stay close to the tumbling one (panes, not copies per window);
//! - session windows over 1 million keys (state bytes printed once).

use std::hint::black_box;
use std::sync::Arc;

use arrow::array::{Float64Array, Int64Array, RecordBatch, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use velostream::datagen::TradesGenerator;
use velostream::{Engine, QueryOptions};

const AGGS: &str = "trader_id, symbol, COUNT(*) AS trade_count, AVG(price) AS avg_price, \
    SUM(quantity) AS total_quantity, SUM(price * quantity) AS total_value";

/// Runs `sql` over `batches` on `partitions` threads and returns the output row count:
/// one push per batch on one partition, as `velo run` does; calls as `velo bench --mode
/// mem` makes them otherwise (`runner::CallSize::in_memory`).
fn run(sql: &str, schema: &SchemaRef, batches: &[RecordBatch], partitions: usize) -> usize {
    let engine = Engine::with_partitions(partitions);
    let mut q = engine
        .query(sql, &[("t", schema.clone())], QueryOptions::default())
        .expect("query");
    let mut rows = 0;
    for group in velostream::exec::runner::CallSize::in_memory(partitions).split(batches) {
        rows += q
            .push_batches("t", group.to_vec())
            .expect("push")
            .iter()
            .map(|o| o.num_rows())
            .sum::<usize>();
    }
    rows += q
        .finish()
        .expect("finish")
        .iter()
        .map(|o| o.num_rows())
        .sum::<usize>();
    rows
}

fn trades(c: &mut Criterion) {
    let rows: u64 = 2_000_000;
    let schema = TradesGenerator::schema();
    let big: Vec<RecordBatch> = TradesGenerator::new(rows, 8192, 42, 0).collect();
    let small: Vec<RecordBatch> = TradesGenerator::new(rows, 1000, 42, 0).collect();
    let cases = [
        (
            "s3a_tumbling_1m/batch=8192",
            format!(
                "SELECT {AGGS} FROM t GROUP BY trader_id, symbol WINDOW TUMBLING(ts, INTERVAL '1' MINUTE) EMIT FINAL"
            ),
            &big,
        ),
        (
            "s3b_tumbling_1m_changes/batch=1000",
            format!(
                "SELECT {AGGS} FROM t GROUP BY trader_id, symbol WINDOW TUMBLING(ts, INTERVAL '1' MINUTE) EMIT CHANGES"
            ),
            &small,
        ),
        (
            "sliding_1m_every_10s/batch=8192",
            format!(
                "SELECT {AGGS} FROM t GROUP BY trader_id, symbol WINDOW SLIDING(ts, 1m, 10s) EMIT FINAL"
            ),
            &big,
        ),
        (
            "sliding_1m_every_1s/batch=8192",
            format!(
                "SELECT {AGGS} FROM t GROUP BY trader_id, symbol WINDOW SLIDING(ts, 1m, 1s) EMIT FINAL"
            ),
            &big,
        ),
    ];
    let mut group = c.benchmark_group("window");
    group.throughput(Throughput::Elements(rows));
    group.sample_size(10);
    for (name, sql, batches) in &cases {
        group.bench_function(format!("{name}/rows={rows}/partitions=1"), |b| {
            b.iter(|| black_box(run(sql, &schema, batches, 1)))
        });
    }
    group.finish();
}

/// 1 M keys, each seen every 100 s of event time, sessions with a 5-minute gap: every
/// key's session stays open (1 M live sessions) until the end.
fn sessions(c: &mut Criterion) {
    let keys: i64 = 1_000_000;
    let rows: i64 = 4_000_000;
    let schema: SchemaRef = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ),
        Field::new("v", DataType::Float64, false),
    ]));
    let batches: Vec<RecordBatch> = (0..rows)
        .step_by(8192)
        .map(|start| {
            let r = start..(start + 8192).min(rows);
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from_iter_values(r.clone().map(|i| i % keys))),
                    Arc::new(TimestampMillisecondArray::from_iter_values(
                        r.clone().map(|i| 1_700_000_000_000 + i / 10),
                    )),
                    Arc::new(Float64Array::from_iter_values(r.map(|i| (i % 97) as f64))),
                ],
            )
            .expect("batch")
        })
        .collect();
    let sql = "SELECT k, COUNT(*) AS n, SUM(v) AS s, window_start, window_end FROM t \
               GROUP BY k, SESSION(ts, INTERVAL '5' MINUTE)";
    {
        let engine = Engine::with_partitions(1);
        let mut q = engine
            .query(sql, &[("t", schema.clone())], QueryOptions::default())
            .expect("query");
        for b in &batches {
            q.push("t", b.clone()).expect("push");
        }
        let m = q.metrics();
        println!(
            "sessions: {} open sessions, {} state bytes, {:.1} bytes/session",
            m.groups_live,
            m.state_bytes,
            m.state_bytes as f64 / m.groups_live.max(1) as f64
        );
    }
    let mut group = c.benchmark_group("window");
    group.throughput(Throughput::Elements(rows as u64));
    group.sample_size(10);
    for partitions in [1, 2] {
        group.bench_function(
            format!("session_5m_keys={keys}/rows={rows}/batch=8192/partitions={partitions}"),
            |b| b.iter(|| black_box(run(sql, &schema, &batches, partitions))),
        );
    }
    group.finish();
}

criterion_group!(benches, trades, sessions);
criterion_main!(benches);
