//! Projection pushdown: [`Engine::query_source`] lets an IPC file decode only the
//! columns a query reads. For each query: the columns the narrowed source yields are the
//! ones the SQL names (listed here by hand, not derived from the planner), and the
//! results through the real runner, at one and two partitions, are those of the same
//! query compiled against the whole schema and fed every column.

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use arrow::ipc::writer::FileWriter;
use std::path::Path;
use velostream::datagen::TradesGenerator;
use velostream::exec::runner::{CollectSink, RunSettings, run_to_sink};
use velostream::io::{BatchSource, open_source};
use velostream::{Engine, Query, QueryOptions};

const ALL: &[&str] = &["ts", "trader_id", "symbol", "price", "quantity"];

/// (SQL, the input columns it names).
const CASES: &[(&str, &[&str])] = &[
    (
        "SELECT symbol, price, quantity, price * quantity AS value FROM trades WHERE price > 120",
        &["symbol", "price", "quantity"],
    ),
    (
        "SELECT symbol, ts, price, AVG(price) OVER (PARTITION BY symbol ORDER BY ts ROWS BETWEEN 99 PRECEDING AND CURRENT ROW) AS moving_avg FROM trades",
        &["ts", "symbol", "price"],
    ),
    (
        "SELECT trader_id, symbol, COUNT(*) AS trade_count, AVG(price) AS avg_price, SUM(quantity) AS total_quantity FROM trades GROUP BY trader_id, symbol EMIT FINAL",
        &["trader_id", "symbol", "price", "quantity"],
    ),
    (
        "SELECT trader_id, symbol, COUNT(*) AS n, SUM(price * quantity) AS total_value FROM trades GROUP BY trader_id, symbol WINDOW TUMBLING(ts, INTERVAL '1' MINUTE) EMIT FINAL",
        ALL,
    ),
    // The window's time column is read though no SELECT item names it.
    (
        "SELECT symbol, COUNT(*) AS n FROM trades GROUP BY symbol WINDOW TUMBLING(ts, INTERVAL '1' MINUTE) EMIT CHANGES",
        &["ts", "symbol"],
    ),
    // A session window whose time column comes from the WITH options.
    (
        "SELECT symbol, COUNT(*) AS n FROM trades GROUP BY symbol WINDOW SESSION(2000ms) WITH ('event.time.field' = 'ts') EMIT FINAL",
        &["ts", "symbol"],
    ),
    (
        "SELECT symbol, MAX(price) AS hi FROM trades GROUP BY symbol WINDOW SLIDING(ts, 10s, 2s) HAVING COUNT(*) > 3 ORDER BY hi DESC LIMIT 3 EMIT CHANGES",
        &["ts", "symbol", "price"],
    ),
    // A WHERE column that is not selected.
    (
        "SELECT price FROM trades WHERE trader_id = 'TRADER3'",
        &["trader_id", "price"],
    ),
    // A partition key and a frame argument that are not selected.
    (
        "SELECT price, SUM(quantity) OVER (PARTITION BY trader_id ORDER BY ts ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS s FROM trades",
        &["ts", "trader_id", "price", "quantity"],
    ),
    // No column at all: the row counts come from the narrowest one.
    ("SELECT COUNT(*) AS n FROM trades EMIT FINAL", &["ts"]),
    ("SELECT * FROM trades LIMIT 7", ALL),
];

fn write_file(path: &Path, rows: u64, batch: usize) {
    let schema = TradesGenerator::schema();
    let file = std::fs::File::create(path).unwrap();
    let mut writer = FileWriter::try_new(file, &schema).unwrap();
    for b in TradesGenerator::new(rows, batch, 7, 5_000) {
        writer.write(&b).unwrap();
    }
    writer.finish().unwrap();
}

fn one_batch(batches: &[RecordBatch], schema: &arrow::datatypes::SchemaRef) -> RecordBatch {
    concat_batches(schema, batches).unwrap()
}

/// The query compiled against every column, each batch pushed whole.
fn reference(sql: &str, path: &Path) -> RecordBatch {
    let source = open_source(path.to_str().unwrap(), None).unwrap();
    let engine = Engine::with_partitions(1);
    let mut query = engine
        .query(sql, &[("trades", source.schema())], QueryOptions::default())
        .unwrap();
    let mut out = Vec::new();
    for batch in source {
        out.extend(query.push("trades", batch.unwrap()).unwrap());
    }
    out.extend(query.finish().unwrap());
    one_batch(&out, &query.output_schema())
}

/// `sql` compiled by `query_source` over the file at `path`, and the source.
fn compile(sql: &str, path: &Path, partitions: usize) -> (Query, Box<dyn BatchSource>) {
    let mut source = open_source(path.to_str().unwrap(), None).unwrap();
    let query = Engine::with_partitions(partitions)
        .query_source(
            sql,
            &mut [("trades", source.as_mut())],
            QueryOptions::default(),
        )
        .unwrap();
    (query, source)
}

/// The query through `query_source` and the runner; returns the results and the names of
/// the columns the source decoded.
fn narrowed(sql: &str, path: &Path, partitions: usize) -> (RecordBatch, Vec<String>) {
    let (mut query, source) = compile(sql, path, partitions);
    let read: Vec<String> = source
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(
        query
            .input_schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect::<Vec<_>>(),
        read,
        "the query is compiled against the schema the source yields"
    );
    let mut sink = CollectSink::default();
    run_to_sink(&mut query, source, &RunSettings::default(), &mut sink).unwrap();
    (one_batch(&sink.batches, &query.output_schema()), read)
}

#[test]
fn a_query_over_an_ipc_file_decodes_only_the_columns_it_names_and_gives_the_same_results() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trades.arrow");
    // 40 calls' worth of batches at two partitions, so the parallel paths run.
    write_file(&path, 90_000, 1_000);
    for (sql, names) in CASES {
        let expected = reference(sql, &path);
        assert!(expected.num_rows() > 0, "{sql}: no rows to compare");
        for partitions in [1, 2] {
            let (got, read) = narrowed(sql, &path, partitions);
            assert_eq!(read, names.to_vec(), "{sql}: columns decoded");
            assert_eq!(got, expected, "{sql}: results at {partitions} partitions");
        }
    }
}

#[test]
fn kept_late_rows_keep_every_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trades.arrow");
    write_file(&path, 5_000, 1_000);
    let mut source = open_source(path.to_str().unwrap(), None).unwrap();
    let engine = Engine::with_partitions(1);
    let options = QueryOptions::default().collect_late_rows(true);
    let query = engine
        .query_source(
            "SELECT symbol, COUNT(*) AS n FROM trades GROUP BY symbol WINDOW TUMBLING(ts, INTERVAL '1' MINUTE) EMIT FINAL",
            &mut [("trades", source.as_mut())],
            options,
        )
        .unwrap();
    assert_eq!(query.input_schema().fields().len(), ALL.len());
    assert_eq!(source.schema().fields().len(), ALL.len());
}

#[test]
fn a_source_that_cannot_narrow_is_read_whole() {
    // An IPC stream is read message by message: every column comes back.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trades.arrows");
    let schema = TradesGenerator::schema();
    let file = std::fs::File::create(&path).unwrap();
    let mut writer = arrow::ipc::writer::StreamWriter::try_new(file, &schema).unwrap();
    for b in TradesGenerator::new(3_000, 1_000, 7, 0) {
        writer.write(&b).unwrap();
    }
    writer.finish().unwrap();
    let (mut query, source) = compile("SELECT price FROM trades WHERE price > 120", &path, 1);
    assert_eq!(query.input_schema().fields().len(), ALL.len());
    let mut sink = CollectSink::default();
    run_to_sink(&mut query, source, &RunSettings::default(), &mut sink).unwrap();
    let rows: usize = sink.batches.iter().map(|b| b.num_rows()).sum();
    let expected: usize = TradesGenerator::new(3_000, 1_000, 7, 0)
        .map(|b| {
            let price = b
                .column(3)
                .as_any()
                .downcast_ref::<arrow::array::Float64Array>();
            price.map_or(0, |p| p.values().iter().filter(|&&v| v > 120.0).count())
        })
        .sum();
    assert!(expected > 0);
    assert_eq!(rows, expected);
}
