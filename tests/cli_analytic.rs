//! ROWS-window analytics through the `velo` binary: the S1 moving average over the
//! shipped sample on 1, 2 and 3 partitions, odd batch sizes and each `--analytic-split`,
//! checked against a row-at-a-time computation from the input file and for the same bits
//! everywhere; `--stats` reports the partition keys;
//! `explain` shows the operator; a rejected query exits 1 with its message.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int64Type};
use arrow::ipc::reader::FileReader;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn velo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_velo"))
        .current_dir(repo())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("velo runs")
}

fn read_ipc_file(path: &Path) -> RecordBatch {
    let f = fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let batches: Vec<RecordBatch> = FileReader::try_new(f, None)
        .expect("an Arrow IPC file")
        .collect::<Result<_, _>>()
        .expect("readable batches");
    arrow::compute::concat_batches(&batches[0].schema(), &batches).expect("concat")
}

const S1: &str = "SELECT symbol, price, AVG(price) OVER (PARTITION BY symbol ORDER BY ts \
                  ROWS BETWEEN 99 PRECEDING AND CURRENT ROW) AS moving_avg, \
                  ROW_NUMBER() OVER (PARTITION BY symbol ORDER BY ts) AS n FROM trades";

#[test]
fn s1_matches_a_row_at_a_time_moving_average() {
    let input = read_ipc_file(&repo().join("data/trades.arrow"));
    let symbols = input.column_by_name("symbol").expect("symbol");
    let symbols = arrow::compute::cast(symbols, &arrow::datatypes::DataType::Utf8).expect("utf8");
    let symbols = symbols.as_string::<i32>();
    let prices = input
        .column_by_name("price")
        .expect("price")
        .as_primitive::<Float64Type>();
    // the reference: each row's last 100 prices of its symbol, summed from scratch
    let mut history: HashMap<String, Vec<f64>> = HashMap::new();
    let mut want = Vec::new();
    for i in 0..input.num_rows() {
        let h = history.entry(symbols.value(i).to_string()).or_default();
        h.push(prices.value(i));
        let frame = &h[h.len().saturating_sub(100)..];
        want.push((
            frame.iter().sum::<f64>() / frame.len() as f64,
            h.len() as i64,
        ));
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let mut first: Option<Vec<u64>> = None;
    for (partitions, batch, split) in [
        ("1", "8192", "auto"),
        ("2", "7", "auto"),
        ("2", "1000", "auto"),
        ("2", "1000", "by-key"),
        ("2", "333", "by-batch"),
        ("3", "64", "by-batch"),
    ] {
        let out = dir
            .path()
            .join(format!("s1-{partitions}-{batch}-{split}.arrow"));
        let o = velo(&[
            "run",
            "-i",
            "trades=data/trades.arrow",
            "-o",
            &out.to_string_lossy(),
            "-p",
            partitions,
            "--batch-size",
            batch,
            "--analytic-split",
            split,
            "--stats",
            S1,
        ]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{err}");
        assert!(
            err.lines()
                .any(|l| l.starts_with("groups live:") && l.trim_end().ends_with(" 10")),
            "--stats reports the 10 symbols held:\n{err}"
        );
        let got = read_ipc_file(&out);
        assert_eq!(got.num_rows(), input.num_rows());
        let avg = got.column(2).as_primitive::<Float64Type>();
        let n = got.column(3).as_primitive::<Int64Type>();
        for (i, (a, c)) in want.iter().enumerate() {
            assert!(
                (avg.value(i) - a).abs() <= 1e-9 * a.abs(),
                "row {i}: {} vs {a} ({partitions} partitions, batch {batch})",
                avg.value(i)
            );
            assert_eq!(n.value(i), *c, "row {i}");
        }
        assert_eq!(avg.null_count(), 0);
        // every partition count, batch size and split gives the same bits
        let bits: Vec<u64> = avg.values().iter().map(|v| v.to_bits()).collect();
        match &first {
            None => first = Some(bits),
            Some(f) => assert!(
                f == &bits,
                "{partitions} partitions, batch {batch}, {split}: not the bits of one partition"
            ),
        }
    }
}

#[test]
fn explain_shows_the_analytic_operator() {
    let o = velo(&["explain", "-i", "trades=data/trades.arrow", "-p", "2", S1]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        text.contains("Analytic: AVG [partition=(symbol) order=ts, ROWS 100]"),
        "{text}"
    );
    assert!(
        text.contains("AnalyticExec: 2 calls over 1 windows, 2 key partitions"),
        "{text}"
    );
}

#[test]
fn a_frame_that_needs_future_rows_exits_1_with_its_message() {
    let o = velo(&[
        "run",
        "-i",
        "trades=data/trades.arrow",
        "SELECT LEAD(price) OVER (PARTITION BY symbol ORDER BY ts) FROM trades",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("line 1, column 8: LEAD needs rows that have not arrived yet"),
        "{err}"
    );
}
