//! Tests of the `velo` command line (SPEC §7): every subcommand, the input and output
//! formats, exit codes (0 success, 1 query/runtime error, 2 bad usage), messages on
//! stderr, and atomic output files (nothing left at the target, nor beside it, after a
//! failure).
//!
//! Each test runs the real binary in a fresh temporary directory; inputs come from the
//! repo's `data/trades.arrow` or are written by the test.

use std::fs;
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit, TimestampMillisecondType};
use arrow::ipc::reader::{FileReader, StreamReader};
use arrow::ipc::writer::StreamWriter;

// ---------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn trades_path() -> PathBuf {
    repo().join("data/trades.arrow")
}

/// `-i trades=<repo>/data/trades.arrow`
fn trades_input() -> String {
    format!("trades={}", trades_path().display())
}

fn velo() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_velo"));
    c.current_dir(repo());
    c
}

/// Runs `velo args...` with no stdin.
fn run(args: &[&str]) -> Output {
    velo()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("velo runs")
}

/// Runs `velo args...` with `input` on stdin (written from another thread, so that a
/// full stdout pipe cannot deadlock the test).
fn run_with_stdin(args: &[&str], input: Vec<u8>) -> Output {
    let mut child = velo()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("velo starts");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let writer = std::thread::spawn(move || {
        // velo may stop reading early (an error): a broken pipe is not our failure
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("velo ends");
    writer.join().expect("stdin writer");
    out
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Asserts the exit code, showing stderr when it differs.
fn assert_exit(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "exit status {:?}\nstderr:\n{}\nstdout:\n{}",
        o.status,
        stderr(o),
        stdout(o)
    );
}

/// A failure is reported as a message, never as a panic or a backtrace.
fn assert_clean_failure(o: &Output) {
    let e = stderr(o);
    assert!(!e.trim().is_empty(), "no message on stderr");
    assert!(!e.contains("panicked"), "velo panicked:\n{e}");
    assert!(!e.contains("stack backtrace"), "backtrace on stderr:\n{e}");
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

fn total_rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

/// The trades sample as one batch (schema: ts, trader_id, symbol, price, quantity).
fn trades() -> RecordBatch {
    let batches = read_ipc_file(&trades_path());
    arrow::compute::concat_batches(&batches[0].schema(), &batches).expect("concat")
}

/// The trades sample encoded as an Arrow IPC stream.
fn trades_as_stream() -> Vec<u8> {
    let batches = read_ipc_file(&trades_path());
    let mut buf = Vec::new();
    {
        let mut w = StreamWriter::try_new(&mut buf, &batches[0].schema()).expect("writer");
        for b in &batches {
            w.write(b).expect("write");
        }
        w.finish().expect("finish");
    }
    buf
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

fn column_f64(b: &RecordBatch, name: &str) -> Vec<f64> {
    b.column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .as_primitive::<Float64Type>()
        .values()
        .to_vec()
}

fn column_i64(b: &RecordBatch, name: &str) -> Vec<i64> {
    b.column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .as_primitive::<Int64Type>()
        .values()
        .to_vec()
}

fn column_str(b: &RecordBatch, name: &str) -> Vec<String> {
    let c = b
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"));
    let c = arrow::compute::cast(c, &DataType::Utf8).expect("string column");
    let s = c.as_string::<i32>();
    (0..s.len()).map(|i| s.value(i).to_string()).collect()
}

/// The S0 query of SPEC §9.
const S0: &str =
    "SELECT symbol, price, quantity, price * quantity AS value FROM trades WHERE price > 120";

/// Checks an S0 result against the input, computed here row by row.
fn check_s0(result: &[RecordBatch]) {
    let input = trades();
    let (prices, qty, symbols) = (
        column_f64(&input, "price"),
        column_i64(&input, "quantity"),
        column_str(&input, "symbol"),
    );
    let want: Vec<usize> = (0..input.num_rows())
        .filter(|&i| prices[i] > 120.0)
        .collect();
    assert!(
        !want.is_empty() && want.len() < input.num_rows(),
        "the filter must matter"
    );
    let schema = result.first().expect("at least one batch").schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["symbol", "price", "quantity", "value"]);
    assert_eq!(schema.field(3).data_type(), &DataType::Float64);
    let got = arrow::compute::concat_batches(&schema, result).expect("concat");
    assert_eq!(got.num_rows(), want.len());
    let (g_price, g_qty, g_sym, g_value) = (
        column_f64(&got, "price"),
        column_i64(&got, "quantity"),
        column_str(&got, "symbol"),
        column_f64(&got, "value"),
    );
    for (k, &i) in want.iter().enumerate() {
        assert_eq!(g_price[k], prices[i], "row {k}");
        assert_eq!(g_qty[k], qty[i], "row {k}");
        assert_eq!(g_sym[k], symbols[i], "row {k}");
        assert_eq!(g_value[k], prices[i] * qty[i] as f64, "row {k}");
    }
}

// ---------------------------------------------------------------------------------
// velo run: formats
// ---------------------------------------------------------------------------------

#[test]
fn run_ipc_file_to_ipc_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out.arrow");
    let o = run(&[
        "run",
        "-i",
        &trades_input(),
        "-o",
        out.to_str().unwrap(),
        "-p",
        "2",
        S0,
    ]);
    assert_exit(&o, 0);
    check_s0(&read_ipc_file(&out));
    // only the result: no temporary file left beside it
    assert_eq!(entries(dir.path()), ["out.arrow"]);
}

#[test]
fn run_ipc_stream_stdin_to_stdout() {
    let o = run_with_stdin(
        &["run", "-i", "trades=-", "-o", "-", S0],
        trades_as_stream(),
    );
    assert_exit(&o, 0);
    check_s0(&read_ipc_stream(&o.stdout));
}

#[test]
fn run_ipc_stream_with_explicit_format() {
    let o = run_with_stdin(
        &["run", "-i", "trades=-", "-o", "-", "--format", "arrows", S0],
        trades_as_stream(),
    );
    assert_exit(&o, 0);
    check_s0(&read_ipc_stream(&o.stdout));
}

#[test]
fn run_without_output_writes_a_stream_to_a_pipe() {
    // stdout is not a terminal here: the default output is an IPC stream
    let o = run_with_stdin(&["run", "-i", "trades=-", S0], trades_as_stream());
    assert_exit(&o, 0);
    check_s0(&read_ipc_stream(&o.stdout));
}

#[test]
fn run_ipc_stream_file_by_extension() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in.arrows");
    fs::write(&input, trades_as_stream()).expect("write");
    let out = dir.path().join("out.arrows");
    let o = run(&[
        "run",
        "-i",
        &format!("trades={}", input.display()),
        "-o",
        out.to_str().unwrap(),
        S0,
    ]);
    assert_exit(&o, 0);
    check_s0(&read_ipc_stream(&fs::read(&out).expect("output")));
}

#[test]
fn run_csv_input_to_csv_stdout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = dir.path().join("scores.csv");
    fs::write(&csv, "id,name,score\n1,a,1.5\n2,b,\n3,c,3.25\n").expect("write");
    let o = run(&[
        "run",
        "-i",
        &format!("t={}", csv.display()),
        "--format",
        "csv",
        "-o",
        "-",
        "SELECT id, score * 2 AS s2, name FROM t WHERE id >= 2",
    ]);
    assert_exit(&o, 0);
    assert_eq!(stdout(&o), "id,s2,name\n2,,b\n3,6.5,c\n");
}

#[test]
fn run_csv_output_file_by_extension() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out.csv");
    let o = run(&[
        "run",
        "-i",
        &trades_input(),
        "-o",
        out.to_str().unwrap(),
        "SELECT symbol, quantity FROM trades LIMIT 3",
    ]);
    assert_exit(&o, 0);
    let input = trades();
    let (sym, qty) = (column_str(&input, "symbol"), column_i64(&input, "quantity"));
    let want: String = std::iter::once("symbol,quantity\n".to_string())
        .chain((0..3).map(|i| format!("{},{}\n", sym[i], qty[i])))
        .collect();
    assert_eq!(fs::read_to_string(&out).expect("output"), want);
}

#[test]
fn run_json_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out.json");
    let o = run(&[
        "run",
        "-i",
        &trades_input(),
        "-o",
        out.to_str().unwrap(),
        "SELECT quantity FROM trades LIMIT 2",
    ]);
    assert_exit(&o, 0);
    let qty = column_i64(&trades(), "quantity");
    let text = fs::read_to_string(&out).expect("output");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            format!("{{\"quantity\":{}}}", qty[0]),
            format!("{{\"quantity\":{}}}", qty[1])
        ]
    );
}

#[test]
fn run_table_output() {
    let o = run(&[
        "run",
        "-i",
        &trades_input(),
        "--format",
        "table",
        "-o",
        "-",
        "SELECT symbol, quantity FROM trades LIMIT 2",
    ]);
    assert_exit(&o, 0);
    let text = stdout(&o);
    let qty = column_i64(&trades(), "quantity");
    assert!(
        text.contains("symbol") && text.contains("quantity"),
        "{text}"
    );
    assert!(text.contains(&qty[0].to_string()), "{text}");
}

#[test]
fn run_sql_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sql = dir.path().join("q.sql");
    fs::write(&sql, format!("{S0}\n")).expect("write");
    let o = run_with_stdin(
        &[
            "run",
            "-i",
            "trades=-",
            "-o",
            "-",
            "--sql-file",
            sql.to_str().unwrap(),
        ],
        trades_as_stream(),
    );
    assert_exit(&o, 0);
    check_s0(&read_ipc_stream(&o.stdout));
}

/// SPEC §4: the same input, SQL and batch size give identical output for every
/// partition count; projections and filters keep the input order for any batch size.
#[test]
fn run_output_does_not_depend_on_partitions_or_batch_size() {
    let csv = |extra: &[&str]| -> Vec<u8> {
        let mut args = vec![
            "run",
            "-i",
            "trades=data/trades.arrow",
            "--format",
            "csv",
            "-o",
            "-",
        ];
        args.extend_from_slice(extra);
        args.push(S0);
        let o = run(&args);
        assert_exit(&o, 0);
        o.stdout
    };
    let base = csv(&["-p", "1"]);
    assert!(base.len() > 1000);
    assert_eq!(csv(&["-p", "2"]), base);
    assert_eq!(csv(&["-p", "2", "--batch-size", "7"]), base);
    assert_eq!(csv(&["-p", "1", "--batch-size", "1000"]), base);
}

#[test]
fn run_stats_on_stderr() {
    let o = run(&[
        "run",
        "-i",
        &trades_input(),
        "--format",
        "csv",
        "-o",
        "-",
        "--stats",
        "SELECT price FROM trades WHERE price > 149",
    ]);
    assert_exit(&o, 0);
    let e = stderr(&o);
    let rows = trades().num_rows();
    assert!(
        e.contains("rows in") && e.contains(&rows.to_string()),
        "{e}"
    );
    assert!(e.contains("rows out"), "{e}");
}

// ---------------------------------------------------------------------------------
// velo run: query and runtime errors (exit code 1)
// ---------------------------------------------------------------------------------

/// Runs a failing query writing to `dir/out.arrow` and checks that nothing is left.
fn run_failing_into(dir: &Path, args: &[&str]) -> Output {
    let out = dir.join("out.arrow");
    let mut all = vec!["run", "-o", out.to_str().unwrap()];
    all.extend_from_slice(args);
    let o = run(&all);
    assert_exit(&o, 1);
    assert_clean_failure(&o);
    assert!(!out.exists(), "a failed run left {}", out.display());
    o
}

#[test]
fn unknown_column_is_a_query_error_with_a_suggestion() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = run_failing_into(
        dir.path(),
        &["-i", &trades_input(), "SELECT pricee FROM trades"],
    );
    let e = stderr(&o);
    assert!(e.contains("line 1, column 8"), "{e}");
    assert!(
        e.contains("unknown column \"pricee\" (did you mean \"price\"?)"),
        "{e}"
    );
    assert_eq!(entries(dir.path()), Vec::<String>::new());
    assert!(o.stdout.is_empty());
}

#[test]
fn unknown_table_is_a_query_error_with_a_suggestion() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = run_failing_into(
        dir.path(),
        &["-i", &trades_input(), "SELECT price FROM trade"],
    );
    let e = stderr(&o);
    assert!(
        e.contains("unknown table \"trade\" (did you mean \"trades\"?)"),
        "{e}"
    );
    assert_eq!(entries(dir.path()), Vec::<String>::new());
}

#[test]
fn syntax_error_names_line_and_column() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = run_failing_into(
        dir.path(),
        &[
            "-i",
            &trades_input(),
            "SELECT price\nFROM trades\nWHERE price > > 1",
        ],
    );
    let e = stderr(&o);
    assert!(e.contains("line 3, column 15"), "{e}");
}

#[test]
fn unsupported_feature_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = run_failing_into(
        dir.path(),
        &[
            "-i",
            &trades_input(),
            "SELECT * FROM trades t JOIN trades u ON t.symbol = u.symbol",
        ],
    );
    assert!(stderr(&o).contains("not supported"), "{}", stderr(&o));
}

/// A runtime error after some result batches were already written: the partial
/// output is discarded, no temporary file remains, and an existing file at the target
/// is left as it was.
#[test]
fn runtime_error_after_partial_output_leaves_nothing_behind() {
    let prices = column_f64(&trades(), "price");
    let first_bad = prices
        .iter()
        .position(|p| *p > 149.9)
        .expect("a price above 149.9");
    assert!(
        first_bad >= 100,
        "the error must come after the first batch of 100 rows"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out.arrow");
    fs::write(&out, b"previous contents").expect("write");
    let o = run(&[
        "run",
        "-i",
        &trades_input(),
        "-o",
        out.to_str().unwrap(),
        "--batch-size",
        "100",
        "-p",
        "2",
        "SELECT CAST(CASE WHEN price > 149.9 THEN 'x' ELSE '1' END AS INTEGER) AS c FROM trades",
    ]);
    assert_exit(&o, 1);
    assert_clean_failure(&o);
    assert!(stderr(&o).contains("could not cast"), "{}", stderr(&o));
    assert_eq!(fs::read(&out).expect("target"), b"previous contents");
    assert_eq!(entries(dir.path()), ["out.arrow"]);
}

#[test]
fn overflow_is_a_runtime_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = run_failing_into(
        dir.path(),
        &[
            "-i",
            &trades_input(),
            "SELECT quantity * 9223372036854775807 FROM trades",
        ],
    );
    assert!(
        stderr(&o).contains("Overflow in multiplication"),
        "{}",
        stderr(&o)
    );
    assert_eq!(entries(dir.path()), Vec::<String>::new());
}

#[test]
fn missing_input_file_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nope.arrow");
    let o = run_failing_into(
        dir.path(),
        &[
            "-i",
            &format!("trades={}", missing.display()),
            "SELECT price FROM trades",
        ],
    );
    assert!(
        stderr(&o).contains(&missing.display().to_string()),
        "{}",
        stderr(&o)
    );
    assert_eq!(entries(dir.path()), Vec::<String>::new());
}

#[test]
fn corrupt_and_truncated_inputs_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let garbage = dir.path().join("garbage.arrow");
    fs::write(&garbage, b"ARROW1\0\0this is not an arrow file").expect("write");
    let full = fs::read(trades_path()).expect("trades");
    let truncated = dir.path().join("truncated.arrow");
    fs::write(&truncated, &full[..full.len() / 2]).expect("write");
    let empty = dir.path().join("empty.arrow");
    fs::write(&empty, b"").expect("write");
    for bad in [&garbage, &truncated, &empty] {
        let out_dir = tempfile::tempdir().expect("tempdir");
        let o = run_failing_into(
            out_dir.path(),
            &[
                "-i",
                &format!("trades={}", bad.display()),
                "SELECT price FROM trades",
            ],
        );
        assert!(
            stderr(&o).contains(&bad.display().to_string()),
            "{}",
            stderr(&o)
        );
        assert_eq!(entries(out_dir.path()), Vec::<String>::new());
    }
}

#[test]
fn bad_stdin_is_an_error() {
    for input in [Vec::new(), b"garbage\n".to_vec()] {
        let o = run_with_stdin(&["run", "-i", "t=-", "-o", "-", "SELECT * FROM t"], input);
        assert_exit(&o, 1);
        assert_clean_failure(&o);
    }
}

// ---------------------------------------------------------------------------------
// Bad usage (exit code 2)
// ---------------------------------------------------------------------------------

#[test]
fn bad_usage_exits_with_2() {
    let input = trades_input();
    let cases: Vec<Vec<&str>> = vec![
        vec![],
        vec!["frobnicate"],
        vec!["run", "--bogus", "-i", &input, "SELECT price FROM trades"],
        vec!["run", "-i", "trades", "SELECT price FROM trades"],
        vec!["run", "-i", &input],
        vec!["run", "SELECT price FROM trades"],
        vec!["run", "-i", &input, "-p", "0", "SELECT price FROM trades"],
        vec![
            "run",
            "-i",
            &input,
            "--batch-size",
            "0",
            "SELECT price FROM trades",
        ],
        vec![
            "run",
            "-i",
            &input,
            "--format",
            "parquet",
            "SELECT price FROM trades",
        ],
        vec![
            "run",
            "-i",
            &input,
            "-o",
            "out.xyz",
            "SELECT price FROM trades",
        ],
        vec![
            "run",
            "-i",
            &input,
            "-i",
            &input,
            "SELECT price FROM trades",
        ],
        vec![
            "run",
            "-i",
            &input,
            "--watermark-delay",
            "5x",
            "SELECT price FROM trades",
        ],
        vec![
            "run",
            "-i",
            &input,
            "--memory-limit",
            "lots",
            "SELECT price FROM trades",
        ],
        vec!["explain", "SELECT price FROM trades"],
        vec!["schema"],
        vec!["gen", "trades", "--rows", "10"],
        vec!["gen", "trades", "--rows", "-5", "-o", "x.arrow"],
        vec!["gen", "orders", "-o", "x.arrow"],
    ];
    for args in cases {
        let o = run(&args);
        assert_eq!(
            o.status.code(),
            Some(2),
            "velo {args:?}: {:?}\n{}",
            o.status,
            stderr(&o)
        );
        assert_clean_failure(&o);
    }
    assert!(!repo().join("out.xyz").exists() && !repo().join("x.arrow").exists());
}

#[test]
fn help_on_every_subcommand() {
    for args in [
        vec!["--help"],
        vec!["run", "--help"],
        vec!["explain", "--help"],
        vec!["schema", "--help"],
        vec!["gen", "--help"],
        vec!["gen", "trades", "--help"],
        vec!["bench", "--help"],
        vec!["--version"],
    ] {
        let o = run(&args);
        assert_exit(&o, 0);
        assert!(
            !stdout(&o).trim().is_empty(),
            "velo {args:?} printed nothing"
        );
    }
    let o = run(&["run", "--help"]);
    for flag in [
        "--input",
        "--output",
        "--format",
        "--partitions",
        "--batch-size",
        "--event-time",
        "--watermark-delay",
        "--late-output",
        "--memory-limit",
        "--stats",
        "--sql-file",
    ] {
        assert!(
            stdout(&o).contains(flag),
            "run --help does not mention {flag}"
        );
    }
}

// ---------------------------------------------------------------------------------
// velo schema / explain
// ---------------------------------------------------------------------------------

#[test]
fn schema_prints_columns_and_row_count() {
    let o = run(&["schema", "data/trades.arrow"]);
    assert_exit(&o, 0);
    let text = stdout(&o);
    let input = trades();
    for f in input.schema().fields() {
        assert!(text.contains(f.name().as_str()), "{text}");
    }
    assert!(
        text.contains(&format!("rows: {}", input.num_rows())),
        "{text}"
    );
}

#[test]
fn schema_of_a_csv_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = dir.path().join("x.csv");
    fs::write(&csv, "id,name\n1,a\n2,b\n").expect("write");
    let o = run(&["schema", csv.to_str().unwrap()]);
    assert_exit(&o, 0);
    let text = stdout(&o);
    assert!(
        text.contains("id") && text.contains("name") && text.contains("rows: 2"),
        "{text}"
    );
}

#[test]
fn schema_of_a_missing_file_fails() {
    let o = run(&["schema", "data/no_such_file.arrow"]);
    assert_exit(&o, 1);
    assert_clean_failure(&o);
    assert!(stderr(&o).contains("no_such_file.arrow"), "{}", stderr(&o));
}

#[test]
fn explain_prints_both_plans() {
    let o = run(&["explain", "-i", &trades_input(), S0]);
    assert_exit(&o, 0);
    let text = stdout(&o);
    assert!(text.contains("== Logical plan =="), "{text}");
    assert!(text.contains("== Physical plan =="), "{text}");
    assert!(
        text.contains("trades") && text.contains("price > 120"),
        "{text}"
    );
}

#[test]
fn explain_reports_query_errors() {
    let o = run(&[
        "explain",
        "-i",
        &trades_input(),
        "SELECT pricee FROM trades",
    ]);
    assert_exit(&o, 1);
    assert_clean_failure(&o);
    assert!(
        stderr(&o).contains("did you mean \"price\""),
        "{}",
        stderr(&o)
    );
}

// ---------------------------------------------------------------------------------
// velo gen
// ---------------------------------------------------------------------------------

fn gen_trades(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let mut args = vec!["gen", "trades", "-o", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = run(&args);
    assert_exit(&o, 0);
    out
}

#[test]
fn gen_is_reproducible_for_a_seed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = gen_trades(dir.path(), "a.arrow", &["--rows", "1000", "--seed", "7"]);
    let b = gen_trades(dir.path(), "b.arrow", &["--rows", "1000", "--seed", "7"]);
    let c = gen_trades(dir.path(), "c.arrow", &["--rows", "1000", "--seed", "8"]);
    let (a, b, c) = (
        fs::read(a).unwrap(),
        fs::read(b).unwrap(),
        fs::read(c).unwrap(),
    );
    assert_eq!(a, b, "same seed, different files");
    assert_ne!(a, c, "different seeds, same file");
    assert_eq!(entries(dir.path()), ["a.arrow", "b.arrow", "c.arrow"]);
}

/// SPEC §9: row i has trader_id TRADER{i % 20}, symbol SYM{(i / 20) % 10}, price in
/// [100, 150), quantity in [100, 1100], ts = 1_700_000_000_000 + i ms.
#[test]
fn gen_follows_the_trades_shape() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = gen_trades(
        dir.path(),
        "t.arrow",
        &["--rows", "1000", "--seed", "7", "--batch-size", "300"],
    );
    let batches = read_ipc_file(&path);
    assert_eq!(
        batches
            .iter()
            .map(RecordBatch::num_rows)
            .collect::<Vec<_>>(),
        [300, 300, 300, 100]
    );
    let t = arrow::compute::concat_batches(&batches[0].schema(), &batches).expect("concat");
    let schema = t.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    for n in ["ts", "trader_id", "symbol", "price", "quantity"] {
        assert!(names.contains(&n), "missing column {n} in {names:?}");
    }
    assert_eq!(
        schema.field_with_name("ts").unwrap().data_type(),
        &DataType::Timestamp(TimeUnit::Millisecond, None)
    );
    let ts = t
        .column_by_name("ts")
        .unwrap()
        .as_primitive::<TimestampMillisecondType>()
        .values()
        .to_vec();
    let (trader, symbol) = (column_str(&t, "trader_id"), column_str(&t, "symbol"));
    let (price, qty) = (column_f64(&t, "price"), column_i64(&t, "quantity"));
    for i in 0..t.num_rows() {
        assert_eq!(trader[i], format!("TRADER{}", i % 20), "row {i}");
        assert_eq!(symbol[i], format!("SYM{}", (i / 20) % 10), "row {i}");
        assert!(
            (100.0..150.0).contains(&price[i]),
            "row {i}: price {}",
            price[i]
        );
        assert!(
            (100..=1100).contains(&qty[i]),
            "row {i}: quantity {}",
            qty[i]
        );
        assert_eq!(ts[i], 1_700_000_000_000 + i as i64, "row {i}");
    }
}

#[test]
fn gen_disorder_jitters_timestamps_within_bounds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = gen_trades(
        dir.path(),
        "t.arrow",
        &["--rows", "2000", "--seed", "3", "--disorder", "5s"],
    );
    let batches = read_ipc_file(&path);
    let mut i = 0i64;
    let mut out_of_order = false;
    let mut previous = i64::MIN;
    for b in &batches {
        for &ts in b
            .column_by_name("ts")
            .unwrap()
            .as_primitive::<TimestampMillisecondType>()
            .values()
        {
            let base = 1_700_000_000_000 + i;
            assert!((base..=base + 5_000).contains(&ts), "row {i}: ts {ts}");
            out_of_order |= ts < previous;
            previous = ts;
            i += 1;
        }
    }
    assert_eq!(i, 2000);
    assert!(
        out_of_order,
        "a 5 s jitter over 1 ms steps must reorder some rows"
    );
}

#[test]
fn gen_zero_rows_gives_a_readable_empty_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = gen_trades(dir.path(), "t.arrow", &["--rows", "0"]);
    assert_eq!(total_rows(&read_ipc_file(&path)), 0);
    let o = run(&["schema", path.to_str().unwrap()]);
    assert_exit(&o, 0);
    assert!(stdout(&o).contains("rows: 0"), "{}", stdout(&o));
}

/// `velo gen ... -o - | velo run -i trades=- -o -`: the documented pipeline.
#[test]
fn gen_to_stdout_feeds_run() {
    let o = run(&[
        "gen", "trades", "--rows", "500", "--seed", "1", "-o", "-", "--format", "arrows",
    ]);
    assert_exit(&o, 0);
    let generated = read_ipc_stream(&o.stdout);
    assert_eq!(total_rows(&generated), 500);
    let r = run_with_stdin(
        &[
            "run",
            "-i",
            "trades=-",
            "-o",
            "-",
            "--format",
            "csv",
            "SELECT quantity FROM trades WHERE quantity > 1000",
        ],
        o.stdout.clone(),
    );
    assert_exit(&r, 0);
    let all = arrow::compute::concat_batches(&generated[0].schema(), &generated).expect("concat");
    let want: Vec<String> = column_i64(&all, "quantity")
        .into_iter()
        .filter(|q| *q > 1000)
        .map(|q| q.to_string())
        .collect();
    let text = stdout(&r);
    let got: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(got, want);
}

#[test]
fn late_rows_go_to_late_output_unchanged() {
    let dir = tempfile::tempdir().expect("temp dir");
    let csv = dir.path().join("ev.csv");
    // batches of 2: after rows 1-2 the watermark is 25; row 3 (t = 5) is late for
    // 10 ms tumbling windows ([0,10) closed), row 4 (t = 21) joins b in [20,30)
    fs::write(&csv, "k,ts,x\na,1,1\nb,25,2\nc,5,3\nd,21,4\n").expect("write");
    let late = dir.path().join("late.csv");
    let o = run(&[
        "run",
        "-i",
        &format!("t={}", csv.display()),
        "--batch-size",
        "2",
        "--late-output",
        &late.to_string_lossy(),
        "--format",
        "csv",
        "-o",
        "-",
        "--stats",
        "SELECT COUNT(*) AS n, SUM(x) AS s, _window_start AS ws FROM t WINDOW TUMBLING(ts, 10ms)",
    ]);
    assert_exit(&o, 0);
    assert_eq!(stdout(&o), "n,s,ws\n1,1,0\n2,6,20\n");
    assert_eq!(
        fs::read_to_string(&late).expect("late file"),
        "k,ts,x\nc,5,3\n"
    );
    assert!(
        stderr(&o).contains("late rows:            1"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn late_output_needs_a_window() {
    let dir = tempfile::tempdir().expect("temp dir");
    let late = dir.path().join("late.arrow");
    let o = run(&[
        "run",
        "-i",
        &trades_input(),
        "--late-output",
        &late.to_string_lossy(),
        "-o",
        &dir.path().join("out.arrow").to_string_lossy(),
        "SELECT price FROM trades",
    ]);
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("--late-output needs a windowed query"),
        "{}",
        stderr(&o)
    );
    assert!(!late.exists());
}

/// The number after `"name":` in a JSON line of `velo bench --json`.
fn json_number(line: &str, name: &str) -> f64 {
    let key = format!("\"{name}\":");
    let start = line
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {line}"))
        + key.len();
    let rest = &line[start..];
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    rest[..end]
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{name} in {line}: {e}"))
}

/// `velo bench` over 20,000 rows in batches of 1,000, its input file in `dir`, with
/// `args`.
fn small_bench(dir: &tempfile::TempDir, args: &[&str]) -> Output {
    let dir_arg = dir.path().to_str().expect("utf-8 temp dir");
    let mut all = vec![
        "bench",
        "--rows",
        "20000",
        "--batch-size",
        "1000",
        "--dir",
        dir_arg,
    ];
    all.extend_from_slice(args);
    run(&all)
}

#[test]
fn bench_json_runs_every_scenario_and_mode_through_the_query_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = small_bench(
        &dir,
        &[
            "--scenario",
            "all",
            "--mode",
            "all",
            "--repeat",
            "3",
            "-p",
            "2",
            "--json",
        ],
    );
    assert_exit(&o, 0);
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with('{')).collect();
    assert_eq!(lines.len(), 15, "5 scenarios x 3 modes:\n{out}");
    for scenario in ["S0", "S1", "S2", "S3a", "S3b"] {
        let rows: Vec<&&str> = lines
            .iter()
            .filter(|l| l.contains(&format!("\"scenario\":\"{scenario}\"")))
            .collect();
        assert_eq!(rows.len(), 3, "{scenario}: one line per mode");
        let outs: Vec<f64> = rows.iter().map(|l| json_number(l, "rows_out")).collect();
        assert!(
            outs.iter().all(|&n| n == outs[0]),
            "{scenario}: every mode gives the same output rows: {outs:?}"
        );
        for l in &rows {
            assert_eq!(json_number(l, "rows"), 20000.0);
            assert_eq!(json_number(l, "partitions"), 2.0);
            let best = json_number(l, "rows_per_sec");
            let median = json_number(l, "median_rows_per_sec");
            assert!(
                median > 0.0 && best >= median,
                "best {best} < median {median}: {l}"
            );
        }
        match scenario {
            // one result per input row; one per (trader, symbol)
            "S1" => assert_eq!(outs[0], 20000.0),
            "S2" => assert_eq!(outs[0], 200.0),
            // S0 keeps the rows with price > 120: some, not all
            "S0" => assert!(outs[0] > 0.0 && outs[0] < 20000.0),
            _ => assert!(outs[0] > 0.0),
        }
    }
}

/// `-p 2,1,2`: both partition counts measured (the duplicate dropped, in the order
/// listed), then one scaling line comparing the second with the first, whose figures
/// follow from the two result lines: the ratio of their rows/s, best and median, and the
/// ceiling, the first's wall time times the cores over the second's CPU time.
#[test]
fn bench_with_a_list_of_partition_counts_prints_their_scaling() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = small_bench(
        &dir,
        &[
            "--scenario",
            "S1",
            "--mode",
            "mem,file",
            "--repeat",
            "2",
            "-p",
            "2,1,2",
            "--json",
        ],
    );
    // modes are one name or all: a list is refused, by name
    assert_exit(&o, 1);
    assert!(
        stderr(&o).contains("unknown mode 'mem,file'"),
        "{}",
        stderr(&o)
    );
    let o = small_bench(
        &dir,
        &[
            "--scenario",
            "S1",
            "--mode",
            "all",
            "--repeat",
            "2",
            "-p",
            "2,1,2",
            "--json",
        ],
    );
    assert_exit(&o, 0);
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with('{')).collect();
    let (scaling, results): (Vec<&str>, Vec<&str>) =
        lines.iter().partition(|l| l.contains("\"scaling\":true"));
    assert_eq!(results.len(), 6, "3 modes x 2 partition counts:\n{out}");
    assert_eq!(scaling.len(), 3, "one comparison per mode:\n{out}");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    for mode in ["mem", "file", "file-to-file"] {
        let of_mode = |l: &&&str| l.contains(&format!("\"mode\":\"{mode}\""));
        let rows: Vec<&&str> = results.iter().filter(of_mode).collect();
        let parts: Vec<f64> = rows.iter().map(|l| json_number(l, "partitions")).collect();
        assert_eq!(parts, [2.0, 1.0], "{mode}: in the order listed, once each");
        let (two, one) = (rows[0], rows[1]);
        let c = scaling.iter().find(of_mode).expect("a scaling line");
        assert_eq!(json_number(c, "partitions"), 1.0);
        assert_eq!(json_number(c, "base_partitions"), 2.0);
        let near = |got: f64, want: f64, tol: f64| (got - want).abs() <= tol * want.abs();
        let ratio = json_number(one, "rows_per_sec") / json_number(two, "rows_per_sec");
        assert!(
            near(json_number(c, "ratio"), ratio, 1e-3),
            "{c} against {ratio}"
        );
        let median =
            json_number(one, "median_rows_per_sec") / json_number(two, "median_rows_per_sec");
        assert!(near(json_number(c, "median_ratio"), median, 1e-3), "{c}");
        // `cpu` is printed to two decimals
        let cpu_time = json_number(one, "cpu") * json_number(one, "wall_s");
        if cpu_time > 0.0 {
            let ceiling = json_number(two, "wall_s") * cores / cpu_time;
            assert!(
                near(json_number(c, "ceiling"), ceiling, 0.05),
                "{c} against {ceiling}"
            );
        }
        assert_eq!(json_number(one, "rows_out"), 20000.0);
        assert_eq!(json_number(two, "rows_out"), 20000.0);
    }
    // the table: the same comparisons as lines after it
    let o = small_bench(
        &dir,
        &[
            "--scenario",
            "S1",
            "--mode",
            "mem",
            "--repeat",
            "1",
            "-p",
            "1,2",
        ],
    );
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert!(
        out.lines()
            .any(|l| l.starts_with("S1 mem: 2 partitions over 1: ") && l.contains("x best")),
        "{out}"
    );
    // a bad item names itself and the list
    let o = run(&["bench", "--rows", "10", "-p", "1,x"]);
    assert_exit(&o, 1);
    assert!(
        stderr(&o).contains("--partitions: expected a number, 'all' or a comma-separated list of them, got 'x' in '1,x'"),
        "{}",
        stderr(&o)
    );
}

/// The queries of the README's `sql` blocks (the grammar block, written with `<...>`
/// placeholders, aside): each line starting with `SELECT` begins a query, `--` comments
/// and `[...]` optional parts are dropped.
fn readme_queries() -> Vec<String> {
    let readme = fs::read_to_string(repo().join("README.md")).expect("README.md");
    let mut queries = Vec::new();
    let mut in_sql = false;
    let mut block: Vec<String> = Vec::new();
    for line in readme.lines() {
        if !in_sql {
            in_sql = line.trim() == "```sql";
            block.clear();
            continue;
        }
        if line.trim() != "```" {
            block.push(line.to_string());
            continue;
        }
        in_sql = false;
        if block.iter().any(|l| l.contains('<')) {
            continue;
        }
        let mut current: Option<String> = None;
        for l in &block {
            let code = l.split(" --").next().unwrap_or("").trim_end();
            if code.trim_start().starts_with("--") || code.trim().is_empty() {
                continue;
            }
            // `[, offset]`: documentation of an optional part
            let mut text = String::new();
            let mut depth = 0usize;
            for c in code.chars() {
                match c {
                    '[' => depth += 1,
                    ']' => depth = depth.saturating_sub(1),
                    _ if depth == 0 => text.push(c),
                    _ => {}
                }
            }
            if text.trim_start().starts_with("SELECT") {
                queries.extend(current.take());
                current = Some(text);
            } else if let Some(q) = current.as_mut() {
                q.push('\n');
                q.push_str(&text);
            }
        }
        queries.extend(current);
    }
    queries
}

#[test]
fn every_query_in_the_readme_runs_on_the_shipped_sample() {
    let queries = readme_queries();
    // the OVER example, the three window clauses, the TVF and the group-window function
    assert!(
        queries.len() >= 6,
        "found only {} README queries: {queries:#?}",
        queries.len()
    );
    let dir = tempfile::tempdir().expect("tempdir");
    for (i, q) in queries.iter().enumerate() {
        let out = dir.path().join(format!("q{i}.csv"));
        let o = run(&[
            "run",
            "-i",
            &trades_input(),
            "-o",
            out.to_str().expect("utf-8 temp path"),
            "--format",
            "csv",
            q,
        ]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "README query failed:\n{q}\nstderr: {}",
            stderr(&o)
        );
        let csv = fs::read_to_string(&out).expect("output written");
        assert!(
            csv.lines().count() > 1,
            "README query gave no rows on the sample:\n{q}"
        );
    }
}
