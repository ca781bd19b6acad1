//! Embedding velostream: push batches from any `RecordBatchReader` through a query and
//! read the results, then print the metrics; then run a query over the shipped sample
//! file.
//!
//! Run with `cargo run --example embed`.

use std::sync::Arc;

use arrow::array::{Float64Array, Int64Array, RecordBatch, RecordBatchIterator, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use velostream::exec::runner::{CollectSink, RunSettings, run_to_sink};
use velostream::{Engine, QueryOptions};

pub fn main() -> velostream::Result<()> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("symbol", DataType::Utf8, false),
        Field::new("price", DataType::Float64, false),
        Field::new("quantity", DataType::Int64, false),
    ]));
    let batches: Vec<RecordBatch> = (0..4)
        .map(|b| {
            let symbols: Vec<String> = (0..1000)
                .map(|i| format!("SYM{}", (b * 1000 + i) % 10))
                .collect();
            let prices: Vec<f64> = (0..1000)
                .map(|i| 100.0 + ((b * 1000 + i) % 50) as f64)
                .collect();
            let qty: Vec<i64> = (0..1000).map(|i| 100 + (i % 1000) as i64).collect();
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(StringArray::from(symbols)),
                    Arc::new(Float64Array::from(prices)),
                    Arc::new(Int64Array::from(qty)),
                ],
            )
        })
        .collect::<Result<_, _>>()?;

    // 1. push batches one by one
    let engine = Engine::default();
    let mut q = engine.query(
        "SELECT symbol, price * quantity AS value FROM trades WHERE price >= 140",
        &[("trades", schema.clone())],
        QueryOptions::default(),
    )?;
    let mut rows = 0;
    for batch in &batches {
        for out in q.push("trades", batch.clone())? {
            assert_eq!(out.schema(), q.output_schema());
            rows += out.num_rows();
        }
    }
    for out in q.finish()? {
        rows += out.num_rows();
    }
    println!("pushed 4 batches, got {rows} rows");
    println!("{}", q.metrics());

    // 2. the one-call helper over a RecordBatchReader
    let reader = RecordBatchIterator::new(batches.into_iter().map(Ok), schema);
    let results = engine.execute_reader(
        "SELECT UPPER(symbol) AS s, price FROM trades WHERE price < 101 LIMIT 3",
        "trades",
        reader,
        QueryOptions::default(),
    )?;
    let mut n = 0;
    for batch in results {
        n += batch?.num_rows();
    }
    assert_eq!(n, 3);
    println!("helper returned {n} rows");

    // 3. over a file, through the pipelined runner: the file decodes only the columns
    //    the query reads (here symbol and price of the shipped sample's five)
    let mut source = velostream::io::open_source("data/trades.arrow", None)?;
    let mut q = engine.query_source(
        "SELECT symbol, AVG(price) AS avg_price FROM trades GROUP BY symbol EMIT FINAL",
        &mut [("trades", source.as_mut())],
        QueryOptions::default(),
    )?;
    assert_eq!(source.schema().fields().len(), 2);
    let mut sink = CollectSink::default();
    run_to_sink(&mut q, source, &RunSettings::default(), &mut sink)?;
    let groups: usize = sink.batches.iter().map(|b| b.num_rows()).sum();
    println!("data/trades.arrow: {groups} symbols");
    Ok(())
}
