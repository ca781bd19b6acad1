//! Tests of `velo run`'s pipelined runner (reader, compute and writer threads joined by
//! bounded queues) through the real binary: results over many batches equal rows
//! computed here, at one and two partitions and any re-chunking; a read error in the
//! middle of the input, a failing output and a query error all end the run with a clear
//! message, a non-zero exit and no output file; `velo gen | velo run` on stdin gives the
//! same rows as the file.

use std::collections::BTreeMap;
use std::fs;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{Decimal128Type, Float64Type, Int64Type};
use arrow::ipc::reader::{FileReader, StreamReader};

fn velo() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_velo"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn run<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    velo()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("velo runs")
}

/// The arguments `run -i trades=<input> -p <partitions> -o <out>`, then `rest`.
fn query_args(input: &Path, partitions: &str, out: &str, rest: &[&str]) -> Vec<String> {
    let input = format!("trades={}", input.display());
    ["run", "-i", input.as_str(), "-p", partitions, "-o", out]
        .iter()
        .chain(rest)
        .map(|a| a.to_string())
        .collect()
}

/// `velo run -i trades=<input> -p <partitions> -o <out> <sql>`.
fn run_query(input: &Path, partitions: &str, out: &Path, sql: &str) -> Output {
    let out = out.to_str().expect("utf-8 path");
    run(&query_args(input, partitions, out, &[sql]))
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn assert_exit(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "exit status {:?}\nstderr:\n{}",
        o.status,
        stderr(o)
    );
}

/// A failure is a message on stderr, never a panic.
fn assert_clean_failure(o: &Output) {
    assert_exit(o, 1);
    let e = stderr(o);
    assert!(e.starts_with("error: "), "{e}");
    assert!(!e.contains("panicked"), "{e}");
}

/// Names of the entries of a directory, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .expect("readable dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// `velo gen trades --rows <rows> --batch-size <batch>` into `dir/name`.
fn gen_trades(dir: &Path, name: &str, rows: u64, batch: usize) -> PathBuf {
    let path = dir.join(name);
    let o = run(&[
        "gen",
        "trades",
        "--rows",
        &rows.to_string(),
        "--batch-size",
        &batch.to_string(),
        "-o",
        path.to_str().expect("utf-8 path"),
    ]);
    assert_exit(&o, 0);
    path
}

fn read_ipc_file(path: &Path) -> Vec<RecordBatch> {
    let f = fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    FileReader::try_new(f, None)
        .expect("an Arrow IPC file")
        .collect::<Result<_, _>>()
        .expect("readable batches")
}

fn read_ipc_stream(bytes: &[u8]) -> Vec<RecordBatch> {
    StreamReader::try_new(Cursor::new(bytes), None)
        .expect("an Arrow IPC stream")
        .collect::<Result<_, _>>()
        .expect("readable batches")
}

/// One trade row: (trader_id, symbol, price, quantity).
type Trade = (String, String, f64, i64);

/// The rows of batches with the trades columns (or a projection holding them all).
fn trades_of(batches: &[RecordBatch]) -> Vec<Trade> {
    let mut rows = Vec::new();
    for b in batches {
        let col = |name: &str| {
            b.column_by_name(name)
                .unwrap_or_else(|| panic!("no column {name}"))
                .clone()
        };
        let (traders, symbols, prices, quantities) = (
            col("trader_id"),
            col("symbol"),
            col("price"),
            col("quantity"),
        );
        let (traders, symbols) = (traders.as_string::<i32>(), symbols.as_string::<i32>());
        let prices = prices.as_primitive::<Float64Type>();
        let quantities = quantities.as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            rows.push((
                traders.value(i).to_string(),
                symbols.value(i).to_string(),
                prices.value(i),
                quantities.value(i),
            ));
        }
    }
    rows
}

const SELECT: &str =
    "SELECT trader_id, symbol, price, quantity FROM trades WHERE price > 140 AND quantity < 600";

const GROUP_BY: &str = "SELECT trader_id, symbol, COUNT(*) AS n, SUM(quantity) AS q \
                        FROM trades GROUP BY trader_id, symbol EMIT FINAL";

/// Per (trader_id, symbol): (COUNT(*), SUM(quantity)).
type Totals = BTreeMap<(String, String), (i64, i64)>;

fn totals_of_input(rows: &[Trade]) -> Totals {
    let mut totals = Totals::new();
    for (trader, symbol, _, quantity) in rows {
        let t = totals.entry((trader.clone(), symbol.clone())).or_default();
        t.0 += 1;
        t.1 += quantity;
    }
    totals
}

fn totals_of_result(batches: &[RecordBatch]) -> Totals {
    let mut totals = Totals::new();
    for b in batches {
        let traders = b.column(0).as_string::<i32>();
        let symbols = b.column(1).as_string::<i32>();
        let counts = b.column(2).as_primitive::<Int64Type>();
        // SUM of a BIGINT is a DECIMAL(38, 0), as in DuckDB
        let sums = b.column(3).as_primitive::<Decimal128Type>();
        for i in 0..b.num_rows() {
            let key = (traders.value(i).to_string(), symbols.value(i).to_string());
            let sum = i64::try_from(sums.value(i)).expect("a sum that fits in i64");
            let previous = totals.insert(key, (counts.value(i), sum));
            assert!(previous.is_none(), "a group emitted twice");
        }
    }
    totals
}

#[test]
fn a_multi_batch_file_gives_the_expected_rows_at_one_and_two_partitions() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 60 stored batches of 1,000 rows: many groups through the queues at any setting.
    let input = gen_trades(dir.path(), "in.arrow", 60_000, 1_000);
    let rows = trades_of(&read_ipc_file(&input));
    assert_eq!(rows.len(), 60_000);
    let want_select: Vec<Trade> = rows
        .iter()
        .filter(|(_, _, price, quantity)| *price > 140.0 && *quantity < 600)
        .cloned()
        .collect();
    assert!(want_select.len() > 1_000, "{}", want_select.len());
    let want_totals = totals_of_input(&rows);
    let input_arg = format!("trades={}", input.display());
    for partitions in ["1", "2"] {
        for batch_size in [None, Some("777")] {
            let setting = format!("partitions {partitions}, batch size {batch_size:?}");
            let out = dir.path().join("out.arrow");
            let out_arg = out.to_str().expect("utf-8 path");
            let mut args = vec!["run", "-i", &input_arg, "-p", partitions, "-o", out_arg];
            if let Some(n) = batch_size {
                args.extend(["--batch-size", n]);
            }
            let o = run(&[args.as_slice(), &[SELECT]].concat());
            assert_exit(&o, 0);
            assert_eq!(trades_of(&read_ipc_file(&out)), want_select, "{setting}");

            let o = run(&[args.as_slice(), &[GROUP_BY]].concat());
            assert_exit(&o, 0);
            assert_eq!(
                totals_of_result(&read_ipc_file(&out)),
                want_totals,
                "{setting}"
            );
            assert_eq!(entries(dir.path()), ["in.arrow", "out.arrow"], "{setting}");
        }
    }
}

/// The offset of the last `TRADER` string in the file's last record batch.
fn last_trader_string(bytes: &[u8]) -> usize {
    bytes
        .windows(b"TRADER".len())
        .rposition(|w| w == b"TRADER")
        .expect("a trader_id value in the file")
}

#[test]
fn a_corrupt_batch_fails_mid_stream_naming_the_file_and_leaves_no_output() {
    // Batches of 1,000: the reader thread decodes them on two partitions too.
    a_corrupt_last_batch_fails(1_000);
}

#[test]
fn a_corrupt_batch_decoded_on_the_workers_fails_naming_the_file_and_leaves_no_output() {
    // Batches of 8,192: on two partitions the workers decode them (split decoding).
    a_corrupt_last_batch_fails(8_192);
}

/// A file of 40 batches of `batch` rows with invalid UTF-8 in the last one: every query
/// that reads the column fails naming batch 39, at one and two partitions, and leaves no
/// output; a query that does not read it gives the intact file's results.
fn a_corrupt_last_batch_fails(batch: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let rows = 40 * batch as u64;
    let input = gen_trades(dir.path(), "corrupt.arrow", rows, batch);
    let intact = gen_trades(dir.path(), "intact.arrow", rows, batch);
    let mut bytes = fs::read(&input).expect("read");
    // Invalid UTF-8 in the last batch's trader_id: the footer and every message header
    // are fine, so the file opens and the error comes when that batch is decoded, after
    // 39 batches went through the query and results were written.
    let at = last_trader_string(&bytes);
    bytes[at] = 0xFF;
    fs::write(&input, bytes).expect("write");
    let out_dir = tempfile::tempdir().expect("tempdir");
    let out = out_dir.path().join("out.csv");
    // Every query shape that reads trader_id: the batch's check stops each before it
    // reads the batch (on the reader's thread on one partition, on the worker that first
    // uses the batch on two).
    let queries = [
        "SELECT trader_id, price FROM trades",
        "SELECT trader_id, price FROM trades WHERE price > 100",
        GROUP_BY,
        "SELECT COUNT(*) AS n, SUM(quantity) AS q FROM trades WHERE trader_id <> 'x'",
        "SELECT trader_id, COUNT(*) AS n FROM trades GROUP BY trader_id \
         WINDOW TUMBLING(ts, INTERVAL '1' SECOND) EMIT FINAL",
        "SELECT symbol, MAX(price) AS hi FROM trades WHERE trader_id <> 'x' GROUP BY symbol \
         WINDOW SLIDING(ts, INTERVAL '10' SECOND, INTERVAL '2' SECOND) EMIT CHANGES",
        "SELECT trader_id, AVG(price) OVER (PARTITION BY trader_id ORDER BY ts \
         ROWS BETWEEN 9 PRECEDING AND CURRENT ROW) AS m FROM trades",
        "SELECT symbol, SUM(quantity) OVER (PARTITION BY trader_id ORDER BY ts \
         ROWS BETWEEN 4 PRECEDING AND CURRENT ROW) AS q FROM trades",
        // split by key (an unbounded frame cannot take up a key's stream midway)
        "SELECT symbol, SUM(quantity) OVER (PARTITION BY trader_id ORDER BY ts \
         ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS q FROM trades",
    ];
    for sql in queries {
        for partitions in ["1", "2"] {
            let o = run_query(&input, partitions, &out, sql);
            assert_clean_failure(&o);
            let e = stderr(&o);
            assert!(e.contains(&input.display().to_string()), "{sql}: {e}");
            assert!(e.contains("corrupt record batch 39"), "{sql}: {e}");
            assert!(e.contains("UTF-8"), "{sql}: {e}");
            assert_eq!(entries(out_dir.path()), Vec::<String>::new(), "{sql}");
        }
    }
    // A query that does not read trader_id never decodes it (projection pushdown), so
    // it gives what it gives on the intact file.
    let queries = [
        "SELECT COUNT(*) AS n, SUM(quantity) AS q FROM trades",
        "SELECT symbol, MAX(price) AS hi FROM trades GROUP BY symbol \
         WINDOW SLIDING(ts, INTERVAL '10' SECOND, INTERVAL '2' SECOND) EMIT CHANGES",
        "SELECT symbol, SUM(quantity) OVER (PARTITION BY symbol ORDER BY ts \
         ROWS BETWEEN 4 PRECEDING AND CURRENT ROW) AS q FROM trades",
    ];
    let expected_out = out_dir.path().join("expected.csv");
    for sql in queries {
        for partitions in ["1", "2"] {
            assert_exit(&run_query(&input, partitions, &out, sql), 0);
            assert_exit(&run_query(&intact, partitions, &expected_out, sql), 0);
            let got = fs::read(&out).expect("output");
            assert!(got.len() > 100, "{sql}: {} bytes", got.len());
            assert_eq!(got, fs::read(&expected_out).expect("output"), "{sql}");
        }
    }
}

#[test]
fn a_truncated_stream_fails_mid_stream_naming_the_file_and_leaves_no_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = gen_trades(dir.path(), "cut.arrows", 40_000, 1_000);
    let bytes = fs::read(&input).expect("read");
    fs::write(&input, &bytes[..bytes.len() * 2 / 3]).expect("write");
    let out_dir = tempfile::tempdir().expect("tempdir");
    let out = out_dir.path().join("out.arrow");
    for partitions in ["1", "2"] {
        let o = run_query(
            &input,
            partitions,
            &out,
            "SELECT trader_id, price FROM trades",
        );
        assert_clean_failure(&o);
        let e = stderr(&o);
        assert!(e.contains(&input.display().to_string()), "{e}");
        assert!(e.contains("truncated"), "{e}");
        assert_eq!(entries(out_dir.path()), Vec::<String>::new());
    }
}

#[test]
fn a_failing_output_is_a_clear_error_and_does_not_hang() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = gen_trades(dir.path(), "in.arrow", 200_000, 8_192);
    for partitions in ["1", "2"] {
        for format in ["csv", "arrows"] {
            // Every write to /dev/full fails with ENOSPC.
            let full = fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .expect("/dev/full");
            let sql = "SELECT trader_id, symbol, price FROM trades";
            let o = velo()
                .args(query_args(
                    &input,
                    partitions,
                    "-",
                    &["--format", format, sql],
                ))
                .stdin(Stdio::null())
                .stdout(Stdio::from(full))
                .output()
                .expect("velo runs");
            assert_clean_failure(&o);
            let e = stderr(&o);
            assert!(e.contains("No space left on device"), "{format}: {e}");
        }
    }
}

#[test]
fn a_query_error_mid_stream_leaves_the_target_as_it_was() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = gen_trades(dir.path(), "in.arrow", 50_000, 1_000);
    // Row i has ts = 1,700,000,000,000 + i ms: rows from 30,000 on fail the cast, after
    // 30 batches went through and their results were written.
    let out_dir = tempfile::tempdir().expect("tempdir");
    let out = out_dir.path().join("out.json");
    fs::write(&out, b"previous contents").expect("write");
    for partitions in ["1", "2"] {
        let o = run_query(
            &input,
            partitions,
            &out,
            "SELECT trader_id, \
             CAST(CASE WHEN DATE_PART('epoch', ts) >= 1700000030 THEN 'x' ELSE '1' END AS INTEGER) \
             FROM trades",
        );
        assert_clean_failure(&o);
        assert!(stderr(&o).contains("could not cast"), "{}", stderr(&o));
        assert_eq!(fs::read(&out).expect("target"), b"previous contents");
        assert_eq!(entries(out_dir.path()), ["out.json"]);
    }
}

#[test]
fn the_stdin_pipeline_gives_the_rows_of_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = gen_trades(dir.path(), "in.arrow", 50_000, 1_000);
    for partitions in ["1", "2"] {
        let from_file = run(&query_args(&input, partitions, "-", &[SELECT]));
        assert_exit(&from_file, 0);
        let want = trades_of(&read_ipc_stream(&from_file.stdout));
        assert!(want.len() > 1_000, "{}", want.len());

        // velo gen trades ... -o - | velo run -i trades=- -o -
        let mut producer = velo()
            .args([
                "gen",
                "trades",
                "--rows",
                "50000",
                "--batch-size",
                "1000",
                "-o",
                "-",
                "--format",
                "arrows",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("velo gen starts");
        let pipe = producer.stdout.take().expect("piped stdout");
        let consumer = velo()
            .args(["run", "-i", "trades=-", "-p", partitions, "-o", "-", SELECT])
            .stdin(Stdio::from(pipe))
            .output()
            .expect("velo run runs");
        let produced = producer.wait().expect("velo gen ends");
        assert!(produced.success(), "velo gen failed: {produced:?}");
        assert_exit(&consumer, 0);
        assert_eq!(trades_of(&read_ipc_stream(&consumer.stdout)), want);
    }
}
