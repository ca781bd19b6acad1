//! Criterion benches for the stateless stage (SPEC §9 S0): filter + projection with the
//! data in memory, and end to end from an Arrow IPC file.

use std::hint::black_box;

use arrow::array::RecordBatch;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use velostream::datagen::TradesGenerator;
use velostream::exec::runner::{CollectSink, RunSettings, run_to_sink};
use velostream::io::{self, Format};
use velostream::{Engine, QueryOptions};

const S0: &str =
    "SELECT symbol, price, quantity, price * quantity AS value FROM trades WHERE price > 120";

fn bench_s0(c: &mut Criterion) {
    let rows: u64 = 2_000_000;
    let batch = 8192;
    let batches: Vec<RecordBatch> = TradesGenerator::new(rows, batch, 42, 0).collect();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("trades.arrow");
    let path_text = path.to_string_lossy().to_string();
    {
        let mut sink = io::open_sink(
            Some(&path_text),
            Some(Format::ArrowFile),
            TradesGenerator::schema(),
        )
        .expect("sink");
        for b in &batches {
            sink.write(b).expect("write");
        }
        sink.finish().expect("finish");
    }
    let mut group = c.benchmark_group("filter_project");
    group.throughput(Throughput::Elements(rows));
    group.sample_size(20);
    for partitions in [1usize, 2] {
        let engine = Engine::with_partitions(partitions);
        group.bench_function(
            format!("s0_mem/rows={rows}/batch={batch}/partitions={partitions}"),
            |b| {
                b.iter(|| {
                    let mut q = engine
                        .query(
                            S0,
                            &[("trades", TradesGenerator::schema())],
                            QueryOptions::default(),
                        )
                        .expect("query");
                    let mut out = Vec::new();
                    for chunk in batches.chunks(partitions) {
                        out.extend(q.push_batches("trades", chunk.to_vec()).expect("push"));
                    }
                    black_box(out)
                })
            },
        );
        group.bench_function(
            format!("s0_file/rows={rows}/batch={batch}/partitions={partitions}"),
            |b| {
                b.iter(|| {
                    let mut source = io::open_source(&path_text, None).expect("open");
                    let mut q = engine
                        .query_source(
                            S0,
                            &mut [("trades", source.as_mut())],
                            QueryOptions::default(),
                        )
                        .expect("query");
                    let mut sink = CollectSink::default();
                    run_to_sink(&mut q, source, &RunSettings::default(), &mut sink).expect("run");
                    black_box(sink.batches)
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench_s0);
criterion_main!(benches);
