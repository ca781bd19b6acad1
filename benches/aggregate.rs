//! Criterion benches for the group-by core: key interning (`GroupValues`) per key shape,
//! and one SPEC §9 S2-shaped aggregation step (intern two string keys, then COUNT(*),
//! AVG(price), SUM(quantity), SUM(price * quantity)), all single-threaded, data in memory.
//!
//! Throughput is in input rows; the state bytes per group of each table are printed once
//! before its bench runs.

use std::hint::black_box;
use std::sync::Arc;

use arrow::array::{ArrayRef, DictionaryArray, Float64Array, Int32Array, Int64Array, StringArray};
use arrow::compute::kernels::numeric::mul;
use arrow::datatypes::{DataType, Int32Type};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use velostream::aggregate::{AggregateFunction, GroupsAccumulator, new_group_values};

const ROWS: usize = 1_000_000;
const BATCH: usize = 8192;

/// Row ranges of the batches.
fn batch_ranges(rows: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    (0..rows)
        .step_by(BATCH)
        .map(move |start| start..(start + BATCH).min(rows))
}

/// One key column per batch, built by `make` from a row range.
fn key_batches(make: impl Fn(std::ops::Range<usize>) -> ArrayRef) -> Vec<Vec<ArrayRef>> {
    batch_ranges(ROWS).map(|r| vec![make(r)]).collect()
}

fn trader(i: usize) -> String {
    format!("TRADER{}", i % 20)
}

fn symbol(i: usize) -> String {
    format!("SYM{}", (i / 20) % 10)
}

/// Interns every batch into a fresh table; prints the table's bytes per group once.
fn bench_intern(c: &mut Criterion, name: &str, types: &[DataType], batches: &[Vec<ArrayRef>]) {
    let rows: usize = batches.iter().map(|b| b[0].len()).sum();
    let mut ids = Vec::new();
    {
        let mut table = new_group_values(types).expect("table");
        for b in batches {
            table.intern(b, &mut ids).expect("intern");
        }
        println!(
            "state {name}: {} groups, {:.1} bytes/group",
            table.len(),
            table.size_bytes() as f64 / table.len() as f64
        );
    }
    let mut group = c.benchmark_group("intern");
    group.throughput(Throughput::Elements(rows as u64));
    group.sample_size(10);
    group.bench_function(format!("{name}/rows={rows}/batch={BATCH}"), |b| {
        b.iter(|| {
            let mut table = new_group_values(types).expect("table");
            for batch in batches {
                table.intern(batch, &mut ids).expect("intern");
            }
            black_box(table.len())
        })
    });
    group.finish();
}

fn interning(c: &mut Criterion) {
    let utf8_20 = key_batches(|r| Arc::new(StringArray::from_iter_values(r.map(trader))));
    bench_intern(c, "utf8_distinct=20", &[DataType::Utf8], &utf8_20);

    // One dictionary shared by every batch (as an IPC stream delivers it).
    let values: ArrayRef = Arc::new(StringArray::from_iter_values((0..20).map(trader)));
    let dict = key_batches(|r| {
        let keys = Int32Array::from_iter_values(r.map(|i| (i % 20) as i32));
        Arc::new(DictionaryArray::<Int32Type>::try_new(keys, values.clone()).expect("dict"))
    });
    let dict_type = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    bench_intern(c, "dictionary_distinct=20", &[dict_type], &dict);

    let s2: Vec<Vec<ArrayRef>> = batch_ranges(ROWS)
        .map(|r| {
            vec![
                Arc::new(StringArray::from_iter_values(r.clone().map(trader))) as ArrayRef,
                Arc::new(StringArray::from_iter_values(r.map(symbol))),
            ]
        })
        .collect();
    bench_intern(
        c,
        "two_utf8_distinct=20x10",
        &[DataType::Utf8, DataType::Utf8],
        &s2,
    );

    // 1M distinct keys, in a scattered order (a multiplicative permutation of 0..2^20).
    let scatter = |i: usize| (i as u64).wrapping_mul(0x9E37_79B9) % (1 << 20);
    let ints =
        key_batches(|r| Arc::new(Int64Array::from_iter_values(r.map(|i| scatter(i) as i64))));
    bench_intern(c, "int64_distinct=1M", &[DataType::Int64], &ints);

    let short = key_batches(|r| {
        Arc::new(StringArray::from_iter_values(
            r.map(|i| format!("U{:011}", scatter(i))),
        ))
    });
    bench_intern(c, "utf8_len=12_distinct=1M", &[DataType::Utf8], &short);
    let long = key_batches(|r| {
        Arc::new(StringArray::from_iter_values(
            r.map(|i| format!("customer-{:012}-account", scatter(i))),
        ))
    });
    bench_intern(c, "utf8_len=29_distinct=1M", &[DataType::Utf8], &long);
}

/// The S2 aggregation step: intern (trader_id, symbol), then four accumulators.
fn s2_step(c: &mut Criterion) {
    struct Batch {
        keys: Vec<ArrayRef>,
        price: ArrayRef,
        quantity: ArrayRef,
        value: ArrayRef,
    }
    let mut seed = 42u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let batches: Vec<Batch> = batch_ranges(ROWS)
        .map(|r| {
            let n = r.len();
            let price = Float64Array::from_iter_values(
                (0..n).map(|_| 100.0 + (next() % 5000) as f64 / 100.0),
            );
            let quantity =
                Int64Array::from_iter_values((0..n).map(|_| 100 + (next() % 1001) as i64));
            let quantity_f = arrow::compute::cast(&quantity, &DataType::Float64).expect("cast");
            let value = mul(&price, &quantity_f).expect("mul");
            Batch {
                keys: vec![
                    Arc::new(StringArray::from_iter_values(r.clone().map(trader))),
                    Arc::new(StringArray::from_iter_values(r.map(symbol))),
                ],
                price: Arc::new(price),
                quantity: Arc::new(quantity),
                value,
            }
        })
        .collect();
    let key_types = [DataType::Utf8, DataType::Utf8];
    let run = || {
        let mut table = new_group_values(&key_types).expect("table");
        let mut accs: Vec<Box<dyn GroupsAccumulator>> = vec![
            AggregateFunction::CountStar
                .create_accumulator(&[])
                .expect("count"),
            AggregateFunction::Avg
                .create_accumulator(&[DataType::Float64])
                .expect("avg"),
            AggregateFunction::Sum
                .create_accumulator(&[DataType::Int64])
                .expect("sum"),
            AggregateFunction::Sum
                .create_accumulator(&[DataType::Float64])
                .expect("sum"),
        ];
        let mut ids = Vec::new();
        for b in &batches {
            table.intern(&b.keys, &mut ids).expect("intern");
            let groups = table.len();
            accs[0].update(&[], &ids, None, groups).expect("update");
            accs[1]
                .update(std::slice::from_ref(&b.price), &ids, None, groups)
                .expect("update");
            accs[2]
                .update(std::slice::from_ref(&b.quantity), &ids, None, groups)
                .expect("update");
            accs[3]
                .update(std::slice::from_ref(&b.value), &ids, None, groups)
                .expect("update");
        }
        (table, accs)
    };
    let (table, accs) = run();
    let groups = table.len();
    let bytes = table.size_bytes() + accs.iter().map(|a| a.size_bytes()).sum::<usize>();
    println!(
        "state s2_step: {groups} groups, {:.1} bytes/group (keys + 4 accumulators)",
        bytes as f64 / groups as f64
    );
    let mut group = c.benchmark_group("s2_step");
    group.throughput(Throughput::Elements(ROWS as u64));
    group.sample_size(10);
    group.bench_function(
        format!("intern+count+avg+sum+sum/rows={ROWS}/batch={BATCH}"),
        |b| b.iter(|| black_box(run().0.len())),
    );
    // The accumulators alone, on precomputed group ids.
    let mut table = new_group_values(&key_types).expect("table");
    let ids: Vec<Vec<u32>> = batches
        .iter()
        .map(|b| {
            let mut ids = Vec::new();
            table.intern(&b.keys, &mut ids).expect("intern");
            ids
        })
        .collect();
    group.bench_function(
        format!("count+avg+sum+sum/rows={ROWS}/batch={BATCH}"),
        |bench| {
            bench.iter(|| {
                let mut accs: Vec<Box<dyn GroupsAccumulator>> = vec![
                    AggregateFunction::CountStar
                        .create_accumulator(&[])
                        .expect("count"),
                    AggregateFunction::Avg
                        .create_accumulator(&[DataType::Float64])
                        .expect("avg"),
                    AggregateFunction::Sum
                        .create_accumulator(&[DataType::Int64])
                        .expect("sum"),
                    AggregateFunction::Sum
                        .create_accumulator(&[DataType::Float64])
                        .expect("sum"),
                ];
                for (b, ids) in batches.iter().zip(&ids) {
                    accs[0].update(&[], ids, None, groups).expect("update");
                    accs[1]
                        .update(std::slice::from_ref(&b.price), ids, None, groups)
                        .expect("update");
                    accs[2]
                        .update(std::slice::from_ref(&b.quantity), ids, None, groups)
                        .expect("update");
                    accs[3]
                        .update(std::slice::from_ref(&b.value), ids, None, groups)
                        .expect("update");
                }
                black_box(accs.len())
            })
        },
    );
    group.finish();
}

criterion_group!(benches, interning, s2_step);
criterion_main!(benches);
