//! Criterion benches for the IPC file source: every batch of a 2 M-row trades file
//! memory-mapped, decoded and checked, with every column or only those a query reads
//! (projection pushdown, `BatchSource::read_columns`), and the pages of each batch
//! released once it is dropped.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use velostream::datagen::write_trades;
use velostream::io::{self, Format};

fn bench_ipc_read(c: &mut Criterion) {
    let rows: u64 = 2_000_000;
    let batch = 8192;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("trades.arrow");
    let path_text = path.to_string_lossy().to_string();
    write_trades(
        &path_text,
        Some(Format::ArrowFile),
        rows,
        batch,
        42,
        0,
        None,
    )
    .expect("write");
    let mut group = c.benchmark_group("ipc_read");
    group.throughput(Throughput::Elements(rows));
    group.sample_size(20);
    // ts, trader_id, symbol, price, quantity
    let reads: [(&str, &[usize]); 4] = [
        ("all_columns", &[0, 1, 2, 3, 4]),
        ("s1_ts_symbol_price", &[0, 2, 3]),
        ("s0_symbol_price_quantity", &[2, 3, 4]),
        ("numbers_only_ts_price_quantity", &[0, 3, 4]),
    ];
    for (name, columns) in reads {
        group.bench_function(format!("{name}/rows={rows}/batch={batch}"), |b| {
            b.iter(|| {
                let mut source = io::open_source(&path_text, None).expect("open");
                if columns.len() < 5 {
                    source.read_columns(columns).expect("narrowed");
                }
                let mut read = 0usize;
                for batch in source {
                    read += black_box(batch.expect("batch")).num_rows();
                }
                assert_eq!(read as u64, rows);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_ipc_read);
criterion_main!(benches);
