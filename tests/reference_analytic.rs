//! ROWS-window analytics against a reference model that recomputes every frame from
//! scratch, over random tables.
//!
//! ```text
//!  random table ─┬─▶ random batch split ─▶ Engine (1–3 partitions) ─▶ rows ─┐
//!                └─▶ Reference: for each row, the rows of its partition that    ├─▶ equal?
//!                    arrived so far; the frame = the last n of them ─▶ rows ──┘
//! ```
//!
//! The reference knows nothing of rings, deques or running sums: for every output row it
//! collects the frame's values and computes each function directly (sums by plain
//! addition, variance in two passes, MIN/MAX by scanning, LAG by indexing back). Rows are
//! taken in arrival order; RANK / DENSE_RANK ties are runs of equal `ts` values (NULL
//! equals NULL) in arrival order, as documented in `plan::analytic`.
//!
//! Time RANGE frames of `d` ms (`analytic::range`): the frame of a row with order key `t`
//! is the rows of its partition that arrived so far with a key in `[max(t, M) − d, t]`,
//! `M` the largest key among them, plus the row itself; a NULL key is a frame of its
//! own. FIRST_VALUE is the frame's first row by key, ties by arrival.
//!
//! Exact results (counts, integer sums, MIN/MAX, values, ranks) must be equal; floats
//! within 1e-9 of the magnitude of the frame's values (the engine's compensated moving
//! sums and Welford updates may differ from plain summation in the last bits).

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Decimal128Type, Field, Float64Type, Int64Type, Schema, TimeUnit};
use proptest::prelude::*;
use velostream::{AnalyticSplit, Engine, QueryOptions};

/// One input row: `k BIGINT, s VARCHAR, ts TIMESTAMP(ms), x BIGINT, y DOUBLE, t VARCHAR`.
#[derive(Debug, Clone)]
struct Row {
    k: Option<i64>,
    s: Option<String>,
    ts: Option<i64>,
    x: Option<i64>,
    y: Option<f64>,
    t: Option<String>,
}

fn row_strategy() -> impl Strategy<Value = Row> {
    let y = prop_oneof![
        20 => (-1000i32..1000).prop_map(|v| f64::from(v) / 4.0),
        4 => -1e6f64..1e6,
        2 => prop_oneof![Just(1e15), Just(-1e15), Just(3e15)],
        1 => prop_oneof![Just(f64::INFINITY), Just(f64::NEG_INFINITY), Just(f64::NAN)],
    ];
    (
        prop::option::weighted(0.85, 0i64..4),
        prop::option::weighted(
            0.85,
            prop_oneof![Just("a"), Just("bb"), Just("a longer key ...")],
        ),
        prop::option::weighted(0.9, 0i64..6),
        prop::option::weighted(0.8, -50i64..50),
        prop::option::weighted(0.8, y),
        prop::option::weighted(0.8, "[a-d]{0,3}"),
    )
        .prop_map(|(k, s, ts, x, y, t)| Row {
            k,
            s: s.map(str::to_string),
            ts,
            x,
            y,
            t,
        })
}

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, true),
        Field::new("s", DataType::Utf8, true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
        Field::new("x", DataType::Int64, true),
        Field::new("y", DataType::Float64, true),
        Field::new("t", DataType::Utf8, true),
    ]))
}

fn batch_of(rows: &[Row]) -> RecordBatch {
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(
            rows.iter().map(|r| r.k).collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(
            rows.iter().map(|r| r.s.clone()).collect::<Vec<_>>(),
        )),
        // ts increases by 1 s per step, with ties and steps back from the random offset
        Arc::new(TimestampMillisecondArray::from(
            rows.iter()
                .map(|r| r.ts.map(|v| 1_700_000_000_000 + v * 1000))
                .collect::<Vec<_>>(),
        )),
        Arc::new(Int64Array::from(
            rows.iter().map(|r| r.x).collect::<Vec<_>>(),
        )),
        Arc::new(Float64Array::from(
            rows.iter().map(|r| r.y).collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(
            rows.iter().map(|r| r.t.clone()).collect::<Vec<_>>(),
        )),
    ];
    RecordBatch::try_new(schema(), cols).expect("batch")
}

/// A result cell.
#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Null,
    Int(i128),
    Float(f64),
    Str(String),
}

/// The partition key columns.
#[derive(Debug, Clone, Copy)]
enum Partition {
    None,
    K,
    S,
    KS,
}

impl Partition {
    fn sql(self) -> &'static str {
        match self {
            Partition::None => "",
            Partition::K => "PARTITION BY k",
            Partition::S => "PARTITION BY s",
            Partition::KS => "PARTITION BY k, s",
        }
    }

    fn same(self, a: &Row, b: &Row) -> bool {
        match self {
            Partition::None => true,
            Partition::K => a.k == b.k,
            Partition::S => a.s == b.s,
            Partition::KS => a.k == b.k && a.s == b.s,
        }
    }
}

/// The frame of the `w` window.
#[derive(Debug, Clone, Copy)]
enum FrameSpec {
    /// The last n rows; `None` for UNBOUNDED PRECEDING.
    Rows(Option<usize>),
    /// `RANGE BETWEEN <span_ms> PRECEDING AND CURRENT ROW`, written in syntax `form`.
    Range { span_ms: i64, form: u8 },
}

impl FrameSpec {
    fn sql(self) -> String {
        match self {
            FrameSpec::Rows(Some(n)) => format!("ROWS BETWEEN {} PRECEDING AND CURRENT ROW", n - 1),
            FrameSpec::Rows(None) => "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW".to_string(),
            FrameSpec::Range { span_ms, form } => {
                let seconds = span_ms % 1000 == 0;
                let offset = match form % 4 {
                    0 if seconds => format!("INTERVAL '{}' SECOND", span_ms / 1000),
                    0 => format!("INTERVAL '{span_ms}' MILLISECOND"),
                    1 if seconds => format!("{}s", span_ms / 1000),
                    1 => format!("{span_ms}ms"),
                    2 => format!("INTERVAL '{span_ms} milliseconds'"),
                    _ => format!("'{span_ms}ms'"),
                };
                if form >= 4 {
                    format!("RANGE {offset} PRECEDING")
                } else {
                    format!("RANGE BETWEEN {offset} PRECEDING AND CURRENT ROW")
                }
            }
        }
    }
}

/// One random case.
#[derive(Debug, Clone)]
struct Case {
    rows: Vec<Row>,
    frame: FrameSpec,
    partition: Partition,
    lag: usize,
    /// WHERE y > filter (None: no WHERE).
    filter: Option<f64>,
    /// Batch boundaries (row counts).
    splits: Vec<usize>,
    partitions: usize,
    /// How the engine spreads the kernels over the partitions.
    split: AnalyticSplit,
    /// Only the calls whose kernels can be split by batch ([`FORKABLE`]).
    forkable_only: bool,
}

fn case_strategy() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(row_strategy(), 0..120),
        prop_oneof![
            3 => (1usize..6).prop_map(|n| FrameSpec::Rows(Some(n))),
            1 => Just(FrameSpec::Rows(Some(100usize))),
            1 => Just(FrameSpec::Rows(None)),
        ],
        prop_oneof![
            Just(Partition::None),
            Just(Partition::K),
            Just(Partition::S),
            Just(Partition::KS)
        ],
        0usize..4,
        prop::option::weighted(0.2, -100f64..100.0),
        prop::collection::vec(1usize..40, 1..12),
        1usize..=3,
        split_strategy(),
        prop::bool::weighted(0.5),
    )
        .prop_map(
            |(rows, frame, partition, lag, filter, splits, partitions, split, forkable_only)| {
                Case {
                    rows,
                    frame,
                    partition,
                    lag,
                    filter,
                    splits,
                    partitions,
                    split,
                    forkable_only,
                }
            },
        )
}

/// A case whose partition keys come in runs of 1 to 40 rows (both key columns change
/// together), so that the kernels get most batches' rows as runs rather than per-row ids,
/// and some batches (runs of one row) as ids, on one partition and split by batch.
fn keys_in_runs_case_strategy() -> impl Strategy<Value = Case> {
    let runs = prop::collection::vec(
        (
            1usize..40,
            prop::option::weighted(0.9, 0i64..5),
            prop::option::weighted(0.9, prop_oneof![Just("a"), Just("bb")]),
        ),
        1..12,
    );
    (case_strategy(), runs).prop_map(|(mut case, runs)| {
        let mut keys = runs
            .iter()
            .flat_map(|&(len, k, s)| std::iter::repeat_n((k, s), len))
            .cycle();
        for row in &mut case.rows {
            if let Some((k, s)) = keys.next() {
                row.k = k;
                row.s = s.map(str::to_string);
            }
        }
        case
    })
}

fn split_strategy() -> impl Strategy<Value = AnalyticSplit> {
    prop_oneof![
        Just(AnalyticSplit::Auto),
        Just(AnalyticSplit::ByKey),
        Just(AnalyticSplit::ByBatch),
    ]
}

/// The calls of the query, with how the reference computes each.
const CALLS: &[&str] = &[
    "ROW_NUMBER() OVER p",
    "RANK() OVER p",
    "DENSE_RANK() OVER p",
    "COUNT(*) OVER w",
    "COUNT(y) OVER w",
    "SUM(x) OVER w",
    "SUM(y) OVER w",
    "AVG(x) OVER w",
    "AVG(y) OVER w",
    "MIN(x) OVER w",
    "MAX(y) OVER w",
    "MIN(t) OVER w",
    "MAX(t) OVER w",
    "STDDEV_SAMP(y) OVER w",
    "VAR_POP(x) OVER w",
    "FIRST_VALUE(x) OVER w",
    "FIRST_VALUE(t) OVER w",
    "LAST_VALUE(y) OVER w",
    "LAG(x, {lag}, -1) OVER p",
    "LAG(t, 2) OVER p",
];

/// The calls (indices into [`CALLS`]) whose kernels a thread can take up in the middle
/// of a key's stream, so that a query of only these runs batch-parallel: ROW_NUMBER and
/// LAG, COUNT, SUM, AVG, MIN, MAX, STDDEV, VAR and FIRST_VALUE of numbers (bounded
/// frames), and the calls over strings and LAST_VALUE (sequential tasks beside the
/// groups). Every call but RANK and DENSE_RANK.
const FORKABLE: &[usize] = &[
    0, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
];

/// The calls of `case`'s query, as indices into [`CALLS`].
fn call_indices(case: &Case) -> Vec<usize> {
    if case.forkable_only {
        FORKABLE.to_vec()
    } else {
        (0..CALLS.len()).collect()
    }
}

/// Cases with a time RANGE frame: keys that mostly increase (gaps of 0 to 3 s, so ties),
/// sometimes step back (late rows) or are NULL; spans from 0 to 6 s, on and off the
/// 1-second grid of the keys.
fn range_case_strategy() -> impl Strategy<Value = Case> {
    let step = prop::option::weighted(
        0.93,
        prop_oneof![
            3 => Just(0i64),
            6 => 1i64..3,
            1 => -4i64..0,
        ],
    );
    (
        case_strategy(),
        prop::collection::vec(step, 0..120),
        prop_oneof![
            Just(0i64),
            Just(999),
            Just(1000),
            Just(2500),
            Just(3000),
            Just(6000),
            0i64..7000
        ],
        0u8..8,
    )
        .prop_map(|(mut case, steps, span_ms, form)| {
            let mut t = 0i64;
            for (row, step) in case.rows.iter_mut().zip(steps.iter().cycle()) {
                row.ts = step.map(|s| {
                    t += s;
                    t
                });
            }
            case.frame = FrameSpec::Range { span_ms, form };
            case
        })
}

fn sql(case: &Case) -> String {
    let frame = case.frame.sql();
    let items: Vec<String> = call_indices(case)
        .into_iter()
        .map(|c| CALLS[c].replace("{lag}", &case.lag.to_string()))
        .collect();
    let filter = case
        .filter
        .map(|f| format!(" WHERE y > {f:.3}"))
        .unwrap_or_default();
    format!(
        "SELECT {} FROM t{filter} WINDOW p AS ({} ORDER BY ts), w AS ({} ORDER BY ts {frame})",
        items.join(", "),
        case.partition.sql(),
        case.partition.sql()
    )
}

// ---------------------------------------------------------------------------------------
// the engine

fn cells(column: &ArrayRef) -> Vec<Cell> {
    (0..column.len())
        .map(|i| {
            if column.is_null(i) {
                return Cell::Null;
            }
            match column.data_type() {
                DataType::Int64 => {
                    Cell::Int(i128::from(column.as_primitive::<Int64Type>().value(i)))
                }
                DataType::Decimal128(_, 0) => {
                    Cell::Int(column.as_primitive::<Decimal128Type>().value(i))
                }
                DataType::Float64 => Cell::Float(column.as_primitive::<Float64Type>().value(i)),
                DataType::Utf8 => Cell::Str(column.as_string::<i32>().value(i).to_string()),
                other => panic!("unexpected result type {other}"),
            }
        })
        .collect()
}

fn run_engine(case: &Case) -> Result<Vec<Vec<Cell>>, velostream::Error> {
    run_sql(case, &sql(case))
}

/// `text` over `case`'s rows, batch splits, partitions and split mode, one push per
/// `case.partitions` batches.
fn run_sql(case: &Case, text: &str) -> Result<Vec<Vec<Cell>>, velostream::Error> {
    run_sql_pushing(case, text, case.partitions)
}

/// As [`run_sql`], with `per_push` batches per push.
fn run_sql_pushing(
    case: &Case,
    text: &str,
    per_push: usize,
) -> Result<Vec<Vec<Cell>>, velostream::Error> {
    let engine = Engine::with_partitions(case.partitions)
        .with_min_parallel_rows(0)
        .with_analytic_split(case.split);
    let mut q = engine.query(text, &[("t", schema())], QueryOptions::default())?;
    let all = batch_of(&case.rows);
    let mut batches = Vec::new();
    let mut start = 0;
    let mut split = case.splits.iter().cycle();
    while start < all.num_rows() {
        let n = (*split.next().unwrap_or(&1)).min(all.num_rows() - start);
        batches.push(all.slice(start, n));
        start += n;
    }
    let mut out = Vec::new();
    for group in batches.chunks(per_push.max(1)) {
        out.extend(q.push_batches("t", group.to_vec())?);
    }
    out.extend(q.finish()?);
    let mut rows = Vec::new();
    for b in &out {
        let cols: Vec<Vec<Cell>> = b.columns().iter().map(cells).collect();
        for r in 0..b.num_rows() {
            rows.push(cols.iter().map(|c| c[r].clone()).collect());
        }
    }
    Ok(rows)
}

// ---------------------------------------------------------------------------------------
// the reference

/// SQL order on doubles: NaN above everything.
fn float_lt(a: f64, b: f64) -> bool {
    if b.is_nan() { !a.is_nan() } else { a < b }
}

/// The expected cells of every output row, with the magnitude each float cell is
/// judged against (see [`close`]).
fn reference(case: &Case) -> Vec<(Vec<Cell>, Vec<f64>)> {
    let kept: Vec<&Row> = case
        .rows
        .iter()
        .filter(|r| match case.filter {
            // the bound as the SQL text writes it (3 decimals)
            Some(f) => {
                let f: f64 = format!("{f:.3}").parse().unwrap_or(f);
                r.y.is_some_and(|y| y.is_nan() || y > f)
            }
            None => true,
        })
        .collect();
    let mut out = Vec::new();
    for (i, row) in kept.iter().enumerate() {
        // the rows of this row's partition that arrived so far, this one last
        let part: Vec<&Row> = kept[..=i]
            .iter()
            .copied()
            .filter(|r| case.partition.same(r, row))
            .collect();
        let n = part.len();
        let frame: Vec<&Row> = match case.frame {
            FrameSpec::Rows(Some(f)) => part[n.saturating_sub(f)..].to_vec(),
            FrameSpec::Rows(None) => part.clone(),
            FrameSpec::Range { span_ms, .. } => match row.ts {
                None => vec![*row],
                Some(t) => {
                    // keys are whole seconds (see `batch_of`)
                    let max = part.iter().filter_map(|r| r.ts).max().unwrap_or(t);
                    let low = max * 1000 - span_ms;
                    let mut frame: Vec<&Row> = part[..n - 1]
                        .iter()
                        .copied()
                        .filter(|r| r.ts.is_some_and(|u| u <= t && u * 1000 >= low))
                        .collect();
                    frame.push(row);
                    // by key, ties in arrival order (a stable sort)
                    frame.sort_by_key(|r| r.ts);
                    frame
                }
            },
        };
        // ties: the run of equal ts values ending at this row
        let mut run_start = n - 1;
        while run_start > 0 && part[run_start - 1].ts == row.ts {
            run_start -= 1;
        }
        let mut runs = 0;
        for j in 0..n {
            if j == 0 || part[j].ts != part[j - 1].ts {
                runs += 1;
            }
        }
        let xs: Vec<i64> = frame.iter().filter_map(|r| r.x).collect();
        let ys: Vec<f64> = frame.iter().filter_map(|r| r.y).collect();
        let ts_: Vec<&String> = frame.iter().filter_map(|r| r.t.as_ref()).collect();
        let float_or_null = |v: Option<f64>| v.map_or(Cell::Null, Cell::Float);
        let mut cells = vec![
            Cell::Int(n as i128),
            Cell::Int(run_start as i128 + 1),
            Cell::Int(runs),
            Cell::Int(frame.len() as i128),
            Cell::Int(ys.len() as i128),
            if xs.is_empty() {
                Cell::Null
            } else {
                Cell::Int(xs.iter().map(|&v| v as i128).sum())
            },
            float_or_null((!ys.is_empty()).then(|| ys.iter().sum())),
            float_or_null(
                (!xs.is_empty()).then(|| xs.iter().sum::<i64>() as f64 / xs.len() as f64),
            ),
            float_or_null((!ys.is_empty()).then(|| ys.iter().sum::<f64>() / ys.len() as f64)),
            xs.iter()
                .min()
                .map_or(Cell::Null, |&v| Cell::Int(v as i128)),
            float_or_null(
                ys.iter()
                    .copied()
                    .reduce(|a, b| if float_lt(a, b) { b } else { a }),
            ),
            ts_.iter()
                .min()
                .map_or(Cell::Null, |v| Cell::Str((*v).clone())),
            ts_.iter()
                .max()
                .map_or(Cell::Null, |v| Cell::Str((*v).clone())),
            float_or_null(variance(&ys, true).map(f64::sqrt)),
            float_or_null(variance(
                &xs.iter().map(|&v| v as f64).collect::<Vec<_>>(),
                false,
            )),
            frame[0].x.map_or(Cell::Null, |v| Cell::Int(v as i128)),
            frame[0].t.clone().map_or(Cell::Null, Cell::Str),
            float_or_null(row.y),
        ];
        // LAG over the partition, not the frame
        cells.push(if case.lag == 0 {
            row.x.map_or(Cell::Null, |v| Cell::Int(v as i128))
        } else if n > case.lag {
            part[n - 1 - case.lag]
                .x
                .map_or(Cell::Null, |v| Cell::Int(v as i128))
        } else {
            Cell::Int(-1)
        });
        cells.push(if n > 2 {
            part[n - 3].t.clone().map_or(Cell::Null, Cell::Str)
        } else {
            Cell::Null
        });
        // magnitudes: a sum is judged against the sum of the magnitudes it adds; a
        // variance against the largest squared deviation of the frame; a standard
        // deviation against the largest deviation (1e-6 of it)
        let finite: Vec<f64> = ys.iter().copied().filter(|y| y.is_finite()).collect();
        let abs_sum = |v: &[f64]| v.iter().map(|x| x.abs()).sum::<f64>();
        let max_dev = |v: &[f64]| {
            let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
            v.iter().fold(0.0f64, |a, x| a.max((x - mean).abs()))
        };
        let xf: Vec<f64> = xs.iter().map(|&v| v as f64).collect();
        let mut scales = vec![1.0; cells.len()];
        scales[6] = abs_sum(&finite);
        scales[7] = abs_sum(&xf);
        scales[8] = abs_sum(&finite);
        scales[13] = 1e3 * max_dev(&finite);
        scales[14] = max_dev(&xf).powi(2);
        out.push((cells, scales));
    }
    out
}

/// Two-pass variance; NaN when a value is not finite (as DuckDB).
fn variance(v: &[f64], sample: bool) -> Option<f64> {
    let n = v.len() as f64;
    if n < if sample { 2.0 } else { 1.0 } {
        return None;
    }
    if v.iter().any(|x| !x.is_finite()) {
        return Some(f64::NAN);
    }
    let mean = v.iter().sum::<f64>() / n;
    let m2: f64 = v.iter().map(|x| (x - mean) * (x - mean)).sum();
    Some(m2 / if sample { n - 1.0 } else { n })
}

/// Equal, or for floats within 1e-9 of `scale` (the magnitude of the values involved)
/// or of the results themselves.
fn close(a: &Cell, b: &Cell, scale: f64) -> bool {
    match (a, b) {
        (Cell::Float(x), Cell::Float(y)) => {
            if x.is_nan() || y.is_nan() || x.is_infinite() || y.is_infinite() {
                return (x.is_nan() && y.is_nan()) || x == y;
            }
            (x - y).abs() <= 1e-9 * scale.max(x.abs()).max(y.abs()).max(1.0)
        }
        _ => a == b,
    }
}

fn check(case: &Case) -> Result<(), TestCaseError> {
    let got = run_engine(case).map_err(|e| TestCaseError::fail(format!("{e}\n{}", sql(case))))?;
    let want = reference(case);
    let calls = call_indices(case);
    prop_assert_eq!(got.len(), want.len(), "row count\n{}", sql(case));
    for (i, (g, (w, scales))) in got.iter().zip(&want).enumerate() {
        prop_assert_eq!(g.len(), calls.len());
        for (a, &c) in g.iter().zip(&calls) {
            prop_assert!(
                close(a, &w[c], scales[c]),
                "row {} column {} ({}): engine {:?}, reference {:?}\n{}",
                i,
                c,
                CALLS[c],
                a,
                w[c],
                sql(case)
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(160))]

    #[test]
    fn analytics_match_the_reference(case in case_strategy()) {
        check(&case)?;
    }

    #[test]
    fn range_frames_match_the_reference(case in range_case_strategy()) {
        check(&case)?;
    }

    #[test]
    fn analytics_over_keys_in_runs_match_the_reference(case in keys_in_runs_case_strategy()) {
        check(&case)?;
    }
}

/// The same rows give the same output for every partition count and batch split.
#[test]
fn identical_for_every_partition_count() {
    let rows: Vec<Row> = (0..500)
        .map(|i: i64| Row {
            k: (i % 7 != 3).then_some(i % 5),
            s: Some(["a", "bb", "c"][(i % 3) as usize].to_string()),
            ts: Some(i / 3),
            x: (i % 11 != 0).then_some((i * 37) % 101 - 50),
            y: Some(((i * 7919) % 1000) as f64 / 8.0 - 60.0),
            t: (i % 13 != 0).then(|| format!("v{}", (i * 31) % 17)),
        })
        .collect();
    let base = Case {
        rows,
        frame: FrameSpec::Rows(Some(4)),
        partition: Partition::K,
        lag: 2,
        filter: None,
        splits: vec![64],
        partitions: 1,
        split: AnalyticSplit::Auto,
        forkable_only: false,
    };
    let first = run_engine(&base).expect("engine");
    for (partitions, splits) in [(2, vec![1, 7, 64]), (3, vec![13]), (4, vec![500])] {
        let other = Case {
            partitions,
            splits,
            ..base.clone()
        };
        assert_eq!(
            run_engine(&other).expect("engine"),
            first,
            "{partitions} partitions"
        );
    }
}

/// Asserts that `got` holds the same rows as `want`, floats bit for bit (NaN included).
fn assert_same_bits(got: &[Vec<Cell>], want: &[Vec<Cell>], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: row count");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let same = g.len() == w.len()
            && g.iter().zip(w).all(|(a, b)| match (a, b) {
                (Cell::Float(a), Cell::Float(b)) => a.to_bits() == b.to_bits(),
                _ => a == b,
            });
        assert!(same, "{what}: row {i}: {g:?} against {w:?}");
    }
}

/// Split by batch, split by key and one partition give the same bits, on streams long
/// enough that every key's frames cross many batches and chunk boundaries, for frames of
/// 1, 3, 100 and 1,000 rows, with and without PARTITION BY, for every partition count and
/// for batch splits where a group of batches starts in the middle of a key's chunk.
#[test]
fn split_by_batch_gives_the_same_bits_as_one_partition() {
    let rows: Vec<Row> = (0..6_000)
        .map(|i: i64| Row {
            // runs of one key, of varying length; a few NULL keys
            k: ((i / 7) % 13 != 5).then_some((i / 7 + i / 300) % 6),
            s: Some(["a", "bb"][(i % 2) as usize].to_string()),
            ts: Some(i),
            x: (i % 17 != 0).then_some((i * 7919) % 20_011 - 10_000),
            // values of every magnitude, so that float rounding depends on the order
            y: (i % 23 != 0)
                .then(|| ((i * 104_729) % 1_000_003) as f64 * 10f64.powi((i % 9) as i32 - 4)),
            t: None,
        })
        .collect();
    for frame in [1, 3, 100, 1_000] {
        for partition in [Partition::K, Partition::None, Partition::KS] {
            let base = Case {
                rows: rows.clone(),
                frame: FrameSpec::Rows(Some(frame)),
                partition,
                lag: 1,
                filter: None,
                splits: vec![500],
                partitions: 1,
                split: AnalyticSplit::Auto,
                forkable_only: true,
            };
            let first = run_engine(&base).expect("engine");
            for (partitions, splits, split) in [
                (2, vec![500], AnalyticSplit::ByBatch),
                (2, vec![37, 1_000, 3], AnalyticSplit::ByBatch),
                (3, vec![211], AnalyticSplit::ByBatch),
                (4, vec![64, 9], AnalyticSplit::ByBatch),
                (2, vec![500], AnalyticSplit::ByKey),
                (2, vec![700], AnalyticSplit::Auto),
            ] {
                let other = Case {
                    partitions,
                    splits: splits.clone(),
                    split,
                    ..base.clone()
                };
                assert_same_bits(
                    &run_engine(&other).expect("engine"),
                    &first,
                    &format!(
                        "frame {frame}, {partition:?}, {partitions} partitions, splits {splits:?}, {split:?}"
                    ),
                );
            }
        }
    }
}

/// Long calls (many batches per push) split by batch, which run pipelined: one thread
/// stages every batch of the call and runs the last group, the others run the kernels
/// of the first groups behind it, each caught up from the staging thread's key counts.
/// Every key's stream crosses the group boundaries; string calls run beside the groups;
/// WHERE drops rows; one partition is the reference, bit for bit.
#[test]
fn long_calls_split_by_batch_give_the_same_bits_as_one_partition() {
    let rows: Vec<Row> = (0..9_000)
        .map(|i: i64| Row {
            k: ((i / 5) % 17 != 4).then_some((i / 5 + i / 700) % 9),
            s: Some(["a", "bb", "c"][(i % 3) as usize].to_string()),
            ts: Some(i),
            x: (i % 19 != 0).then_some((i * 7919) % 20_011 - 10_000),
            y: (i % 29 != 0)
                .then(|| ((i * 104_729) % 1_000_003) as f64 * 10f64.powi((i % 11) as i32 - 5)),
            t: (i % 7 != 0).then(|| format!("v{}", (i * 31) % 23)),
        })
        .collect();
    for frame in [3, 100] {
        for partition in [Partition::K, Partition::None, Partition::KS] {
            for filter in [None, Some(0.5)] {
                let base = Case {
                    rows: rows.clone(),
                    frame: FrameSpec::Rows(Some(frame)),
                    partition,
                    lag: 1,
                    filter,
                    splits: vec![97, 300, 41],
                    partitions: 1,
                    split: AnalyticSplit::Auto,
                    forkable_only: true,
                };
                let first = run_engine(&base).expect("engine");
                for (partitions, per_push, split) in [
                    (2, 24, AnalyticSplit::ByBatch),
                    (2, 7, AnalyticSplit::Auto),
                    (2, 1_000, AnalyticSplit::ByBatch),
                    (3, 30, AnalyticSplit::ByBatch),
                    (4, 40, AnalyticSplit::Auto),
                ] {
                    let other = Case {
                        partitions,
                        split,
                        ..base.clone()
                    };
                    let got = run_sql_pushing(&other, &sql(&other), per_push).expect("engine");
                    assert_same_bits(
                        &got,
                        &first,
                        &format!(
                            "frame {frame}, {partition:?}, WHERE {filter:?}, {partitions} partitions, {per_push} batches a push, {split:?}"
                        ),
                    );
                }
            }
        }
    }
}

/// Each forkable call alone in its window, so that the rows a fork is shown again are
/// its own history (in a window shared with longer frames it would be shown theirs):
/// bit for bit against one partition, split by batch over 2 and 3 partitions.
#[test]
fn each_forkable_call_alone_split_by_batch_gives_the_same_bits() {
    let rows: Vec<Row> = (0..6_000)
        .map(|i: i64| Row {
            k: Some((i / 3 + i / 500) % 7),
            s: None,
            ts: Some(i),
            x: (i % 13 != 0).then_some((i * 7919) % 10_007 - 5_000),
            y: (i % 11 != 0)
                .then(|| ((i * 104_729) % 1_000_003) as f64 * 10f64.powi((i % 9) as i32 - 4)),
            t: None,
        })
        .collect();
    let calls = [
        "FIRST_VALUE(x) OVER (PARTITION BY k ORDER BY ts ROWS BETWEEN 6 PRECEDING AND CURRENT ROW)",
        "LAG(x, 3, -1) OVER (PARTITION BY k ORDER BY ts)",
        "LAG(y, 1) OVER (PARTITION BY k ORDER BY ts)",
        "STDDEV_POP(y) OVER (PARTITION BY k ORDER BY ts ROWS BETWEEN 4 PRECEDING AND CURRENT ROW)",
        "VAR_SAMP(x) OVER (ORDER BY ts ROWS BETWEEN 9 PRECEDING AND CURRENT ROW)",
    ];
    for call in calls {
        let text = format!("SELECT k, {call} AS v FROM t");
        let base = Case {
            rows: rows.clone(),
            frame: FrameSpec::Rows(Some(1)),
            partition: Partition::K,
            lag: 1,
            filter: None,
            splits: vec![61, 200, 17],
            partitions: 1,
            split: AnalyticSplit::Auto,
            forkable_only: true,
        };
        let first = run_sql_pushing(&base, &text, 24).expect("engine");
        for partitions in [2, 3] {
            let other = Case {
                partitions,
                split: AnalyticSplit::ByBatch,
                ..base.clone()
            };
            let got = run_sql_pushing(&other, &text, 24).expect("engine");
            assert_same_bits(&got, &first, &format!("{call}, {partitions} partitions"));
        }
    }
}

/// An expression that fails early in a long call (an integer overflow in WHERE, from row
/// 300, the call's second batch) fails the query with that error on every split: under
/// the pipelined split the staging thread stops there, and the thread running the first
/// group, left waiting for that batch, must not bury its error under its own.
#[test]
fn a_failure_while_staging_reports_its_own_error() {
    let rows: Vec<Row> = (0..6_000)
        .map(|i: i64| Row {
            k: Some(i % 3),
            s: None,
            ts: Some(i),
            x: Some(if i < 300 { i % 2 } else { 5 }),
            y: None,
            t: None,
        })
        .collect();
    let text = "SELECT k, SUM(x) OVER (PARTITION BY k ORDER BY ts ROWS BETWEEN 9 PRECEDING AND CURRENT ROW) AS s FROM t WHERE x * 4611686018427387904 > -1";
    for (partitions, split) in [
        (1, AnalyticSplit::Auto),
        (2, AnalyticSplit::ByBatch),
        (2, AnalyticSplit::Auto),
        (3, AnalyticSplit::ByBatch),
    ] {
        let case = Case {
            rows: rows.clone(),
            frame: FrameSpec::Rows(Some(10)),
            partition: Partition::K,
            lag: 1,
            filter: None,
            splits: vec![250],
            partitions,
            split,
            forkable_only: true,
        };
        let e = run_sql_pushing(&case, text, 24).expect_err("an overflow");
        assert!(
            e.to_string()
                .contains("Overflow in multiplication of BIGINT"),
            "{partitions} partitions, {split:?}: {e}"
        );
    }
}

/// MIN and MAX alone (their forks need a replay of the whole frame: no other call's
/// longer history hides a short one) split by batch give the bits of one partition.
#[test]
fn min_and_max_split_by_batch_give_the_same_bits() {
    let rows: Vec<Row> = (0..5_000)
        .map(|i: i64| Row {
            k: ((i / 5) % 11 != 4).then_some((i / 5) % 4),
            s: None,
            ts: Some(i),
            x: (i % 13 != 0).then_some((i * 7919) % 1_009 - 500),
            y: (i % 29 != 0).then(|| ((i * 104_729) % 10_007) as f64 / 7.0 - 700.0),
            t: None,
        })
        .collect();
    for frame in [1usize, 4, 60] {
        let text = format!(
            "SELECT MIN(x) OVER w, MAX(x) OVER w, MIN(y) OVER w, MAX(y) OVER w FROM t \
             WINDOW w AS (PARTITION BY k ORDER BY ts ROWS BETWEEN {} PRECEDING AND CURRENT ROW)",
            frame - 1
        );
        let base = Case {
            rows: rows.clone(),
            frame: FrameSpec::Rows(Some(frame)),
            partition: Partition::K,
            lag: 1,
            filter: None,
            splits: vec![300],
            partitions: 1,
            split: AnalyticSplit::Auto,
            forkable_only: true,
        };
        let first = run_sql(&base, &text).expect("engine");
        for (partitions, splits) in [(2, vec![300]), (3, vec![41, 700])] {
            let other = Case {
                partitions,
                splits,
                split: AnalyticSplit::ByBatch,
                ..base.clone()
            };
            assert_same_bits(
                &run_sql(&other, &text).expect("engine"),
                &first,
                &format!("frame {frame}, {partitions} partitions"),
            );
        }
    }
}

/// A stream that starts with few keys (split by batch under `auto`) and then brings
/// thousands (the split turns to by key mid-stream, the kernels' state dealt to the
/// owners) gives the bits of one partition, and matches the reference.
#[test]
fn keys_outgrowing_the_split_by_batch_give_the_same_bits() {
    let rows: Vec<Row> = (0..16_000)
        .map(|i: i64| Row {
            k: Some(if i < 4_000 { i % 3 } else { (i * 7) % 3_000 }),
            s: Some("a".to_string()),
            ts: Some(i),
            x: (i % 17 != 0).then_some((i * 7919) % 20_011 - 10_000),
            y: (i % 23 != 0)
                .then(|| ((i * 104_729) % 1_000_003) as f64 * 10f64.powi((i % 9) as i32 - 4)),
            t: None,
        })
        .collect();
    let base = Case {
        rows,
        frame: FrameSpec::Rows(Some(3)),
        partition: Partition::K,
        lag: 1,
        filter: None,
        splits: vec![500],
        partitions: 1,
        split: AnalyticSplit::Auto,
        forkable_only: true,
    };
    check(&base).expect("one partition matches the reference");
    let first = run_engine(&base).expect("engine");
    for partitions in [2, 3] {
        let other = Case {
            partitions,
            ..base.clone()
        };
        check(&other).expect("matches the reference");
        assert_same_bits(
            &run_engine(&other).expect("engine"),
            &first,
            &format!("{partitions} partitions"),
        );
    }
}

/// Rows with `keys` distinct partition keys.
fn many_keys(rows: i64, keys: i64) -> Vec<Row> {
    (0..rows)
        .map(|i| Row {
            k: Some(i % keys),
            s: None,
            ts: Some(i),
            x: Some(i),
            y: Some(i as f64),
            t: Some(format!("v{i}")),
        })
        .collect()
}

/// The partition keys and the state they hold are reported, and bounded by the frame.
#[test]
fn metrics_report_partition_keys_and_state_bytes() {
    for partitions in [1, 2] {
        let engine = Engine::with_partitions(partitions).with_min_parallel_rows(0);
        let sql = "SELECT SUM(x) OVER (PARTITION BY k ORDER BY ts ROWS 9 PRECEDING), \
                   MIN(t) OVER (PARTITION BY k ORDER BY ts ROWS 9 PRECEDING) FROM t";
        let mut q = engine
            .query(sql, &[("t", schema())], QueryOptions::default())
            .expect("query");
        let rows = many_keys(20_000, 100);
        let mut bytes_after = Vec::new();
        for chunk in rows.chunks(2_000) {
            q.push_batches("t", vec![batch_of(chunk)]).expect("push");
            bytes_after.push(q.metrics().state_bytes);
        }
        let m = q.metrics();
        assert_eq!(m.groups_live, 100, "{partitions} partitions");
        assert!(m.state_bytes > 0);
        // bounded: 10 rows per key are kept, not the 200 each key has seen
        let (first, last) = (bytes_after[1], bytes_after[bytes_after.len() - 1]);
        assert!(
            last < first * 2,
            "state grew from {first} to {last} bytes over the stream"
        );
    }
}

/// A RANGE frame keeps the rows within its span of each key's latest row: state stays
/// flat over a long stream, and the results do not depend on partitions or batches.
#[test]
fn range_state_is_bounded_by_the_span() {
    let rows = many_keys(20_000, 100);
    let mut results = Vec::new();
    for partitions in [1, 2, 3] {
        let engine = Engine::with_partitions(partitions).with_min_parallel_rows(0);
        // keys repeat every 100 s: a 1,000 s span holds 11 rows of each
        let sql = "SELECT SUM(x) OVER w, MAX(t) OVER w, STDDEV(y) OVER w, FIRST_VALUE(x) OVER w \
                   FROM t WINDOW w AS (PARTITION BY k ORDER BY ts RANGE BETWEEN INTERVAL '1000' SECOND PRECEDING AND CURRENT ROW)";
        let mut q = engine
            .query(sql, &[("t", schema())], QueryOptions::default())
            .expect("query");
        let mut bytes_after = Vec::new();
        let mut out = Vec::new();
        for chunk in rows.chunks(2_000 + partitions * 7) {
            out.extend(q.push_batches("t", vec![batch_of(chunk)]).expect("push"));
            bytes_after.push(q.metrics().state_bytes);
        }
        out.extend(q.finish().expect("finish"));
        let (first, last) = (bytes_after[1], bytes_after[bytes_after.len() - 1]);
        assert!(
            last < first * 2,
            "{partitions} partitions: state grew from {first} to {last} bytes over the stream"
        );
        let sums: Vec<Cell> = out.iter().flat_map(|b| cells(b.column(0))).collect();
        // row i: the rows i, i-100, ..., i-1000 that exist (both ends included)
        for (i, cell) in sums.iter().enumerate().step_by(997) {
            let want: i128 = (0..=10)
                .map(|j| i as i128 - 100 * j)
                .filter(|v| *v >= 0)
                .sum();
            assert_eq!(cell, &Cell::Int(want), "row {i}");
        }
        let columns: Vec<Vec<Cell>> = (0..4)
            .map(|c| out.iter().flat_map(|b| cells(b.column(c))).collect())
            .collect();
        results.push(columns);
    }
    assert_eq!(results[0], results[1]);
    assert_eq!(results[0], results[2]);
}

/// State past `--memory-limit` is a ResourcesExhausted error naming the limit.
#[test]
fn memory_limit_is_honoured() {
    for partitions in [1, 2] {
        let engine = Engine::with_partitions(partitions).with_min_parallel_rows(0);
        let sql = "SELECT AVG(y) OVER (PARTITION BY k ORDER BY ts ROWS 999 PRECEDING) FROM t";
        let mut q = engine
            .query(
                sql,
                &[("t", schema())],
                QueryOptions::default().memory_limit_bytes(100_000),
            )
            .expect("query");
        let rows = many_keys(50_000, 5_000);
        let mut failure = None;
        for chunk in rows.chunks(5_000) {
            if let Err(e) = q.push_batches("t", vec![batch_of(chunk)]) {
                failure = Some(e);
                break;
            }
        }
        let e = failure.expect("the limit must be hit");
        assert!(matches!(e, velostream::Error::ResourcesExhausted(_)), "{e}");
        let text = e.to_string();
        assert!(
            text.contains("analytic state") && text.contains("memory limit of 100000 bytes"),
            "{text}"
        );
    }
}
