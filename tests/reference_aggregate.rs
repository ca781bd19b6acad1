//! GROUP BY aggregation against a row-at-a-time reference model, over random tables.
//!
//! ```text
//!  random table ─┬─▶ random batch split ─▶ Engine (1 or 2 partitions) ─▶ rows ─┐
//!                └─▶ Reference: BTreeMap<key, state>, one row at a time ─▶ rows ─┴─▶ equal?
//! ```
//!
//! The reference is deliberately plain: a map from the key tuple to the group's values
//! (every value is kept; statistics are computed in two passes at emission), updated
//! one row at a time, with SPEC §4's emission rules written out directly:
//!
//! - EMIT FINAL: every group once at the end, sorted by the keys (NULLs last); a global
//!   aggregate gives its one row even over no rows;
//! - EMIT CHANGES: after each batch, the groups that received a row in it, in the order
//!   of their first row in it, with their current values; HAVING filters; the changelog
//!   adds `_op` (insert / update / delete).
//!
//! Exact results (counts, integer sums, MIN/MAX) must be equal; floating-point results
//! within 1e-9 relative to the magnitude of their inputs (summation order and the
//! engine's one-pass variance may differ from the reference in the last bits).
//!
//! A second part checks the result types of SPEC §3.4 (DuckDB's) on the output schema.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{
    DataType, Decimal128Type, Field, Float64Type, Int64Type, Schema, SchemaRef, TimeUnit,
};
use proptest::prelude::*;
use velostream::{Engine, QueryOptions};

// ---------------------------------------------------------------------------------------
// the random input
// ---------------------------------------------------------------------------------------

/// One input row: `ki BIGINT, ks VARCHAR, x BIGINT, y DOUBLE`.
#[derive(Debug, Clone)]
struct Row {
    ki: Option<i64>,
    ks: Option<String>,
    x: Option<i64>,
    y: Option<f64>,
}

/// Which columns are the GROUP BY keys.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Keys {
    None,
    Int,
    Str,
    IntStr,
    StrInt,
}

impl Keys {
    fn sql(self) -> &'static [&'static str] {
        match self {
            Keys::None => &[],
            Keys::Int => &["ki"],
            Keys::Str => &["ks"],
            Keys::IntStr => &["ki", "ks"],
            Keys::StrInt => &["ks", "ki"],
        }
    }

    fn of(self, r: &Row) -> Vec<Key> {
        let int = Key::Int(r.ki);
        let string = Key::Str(r.ks.clone());
        match self {
            Keys::None => vec![],
            Keys::Int => vec![int],
            Keys::Str => vec![string],
            Keys::IntStr => vec![int, string],
            Keys::StrInt => vec![string, int],
        }
    }
}

/// One key value. The derived order puts `None` first; [`Key::sort_key`] puts it last.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Key {
    Int(Option<i64>),
    Str(Option<String>),
}

impl Key {
    /// Ascending, NULLs last (SPEC §4 EMIT FINAL order; strings by bytes).
    fn sort_key(&self) -> (bool, Option<i64>, Option<Vec<u8>>) {
        match self {
            Key::Int(v) => (v.is_none(), *v, None),
            Key::Str(v) => (v.is_none(), None, v.as_ref().map(|s| s.as_bytes().to_vec())),
        }
    }

    fn cell(&self) -> Cell {
        match self {
            Key::Int(v) => v.map_or(Cell::Null, |v| Cell::Int(v as i128)),
            Key::Str(v) => v.clone().map_or(Cell::Null, Cell::Str),
        }
    }
}

/// How the string key column is encoded.
#[derive(Debug, Clone, Copy, PartialEq)]
enum StrEncoding {
    Utf8,
    /// One dictionary for the whole table (batches are slices of it).
    DictShared,
    /// A dictionary of its own for every batch (values in a different order each time).
    DictPerBatch,
}

fn string_key(high_cardinality: bool) -> BoxedStrategy<Option<String>> {
    if high_cardinality {
        prop::option::weighted(0.9, "[a-z]{0,20}").boxed()
    } else {
        // lengths around the short-string boundaries, a shared prefix, the empty string
        prop::option::weighted(
            0.8,
            prop::sample::select(vec![
                "",
                "a",
                "b",
                "ab",
                "abcdefgh",
                "abcdefghi",
                "abcdefghijkl",
                "abcdefghijklm",
                "abcdefghijklmnopqrs",
                "B",
            ])
            .prop_map(str::to_string),
        )
        .boxed()
    }
}

fn int_key(high_cardinality: bool) -> BoxedStrategy<Option<i64>> {
    if high_cardinality {
        prop::option::weighted(0.9, prop_oneof![-100_000i64..100_000, any::<i64>()]).boxed()
    } else {
        prop::option::weighted(0.8, -2i64..3).boxed()
    }
}

fn value_x() -> impl Strategy<Value = Option<i64>> {
    prop::option::weighted(
        0.8,
        prop_oneof![
            8 => -1000i64..1000,
            1 => (i64::MAX - 1000)..=i64::MAX,
            1 => i64::MIN..(i64::MIN + 1000),
        ],
    )
}

fn value_y() -> impl Strategy<Value = Option<f64>> {
    prop::option::weighted(
        0.8,
        prop_oneof![
            // quarters: sums are exact
            (-400i32..400).prop_map(|q| q as f64 / 4.0),
            -1.0e6f64..1.0e6,
        ],
    )
}

/// Mostly small tables (easy to read when a case fails), sometimes a few thousand rows
/// (hash tables grow, dictionaries get long).
fn rows(int_high: bool, str_high: bool) -> impl Strategy<Value = Vec<Row>> {
    let sizes = prop_oneof![4 => 0usize..120, 1 => 500usize..3000];
    sizes.prop_flat_map(move |n| {
        prop::collection::vec(
            (
                int_key(int_high),
                string_key(str_high),
                value_x(),
                value_y(),
            )
                .prop_map(|(ki, ks, x, y)| Row { ki, ks, x, y }),
            n,
        )
    })
}

// ---------------------------------------------------------------------------------------
// the random query
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq)]
enum Func {
    CountStar,
    Count,
    Sum,
    Avg,
    Min,
    Max,
    VarSamp,
    StddevSamp,
    CountDistinct,
    Median,
    FirstValue,
    LastValue,
}

impl Func {
    /// Takes a numeric argument only.
    fn numeric(self) -> bool {
        matches!(
            self,
            Func::Sum | Func::Avg | Func::VarSamp | Func::StddevSamp | Func::Median
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Arg {
    X,
    Y,
    /// The string column `ks` (not for numeric-only functions).
    S,
}

/// `FILTER (WHERE ...)`; NULL counts as false.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Pred {
    XPositive,
    YBelow10,
    XEven,
}

impl Pred {
    fn sql(self) -> &'static str {
        match self {
            Pred::XPositive => "x > 0",
            Pred::YBelow10 => "y < 10",
            Pred::XEven => "x % 2 = 0",
        }
    }

    fn eval(self, r: &Row) -> bool {
        match self {
            Pred::XPositive => r.x.is_some_and(|x| x > 0),
            Pred::YBelow10 => r.y.is_some_and(|y| y < 10.0),
            Pred::XEven => r.x.is_some_and(|x| x % 2 == 0),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Agg {
    func: Func,
    arg: Arg,
    filter: Option<Pred>,
}

impl Agg {
    fn sql(&self) -> String {
        let arg = match self.arg {
            Arg::X => "x",
            Arg::Y => "y",
            Arg::S => "ks",
        };
        let call = match self.func {
            Func::CountStar => "COUNT(*)".to_string(),
            Func::Count => format!("COUNT({arg})"),
            Func::Sum => format!("SUM({arg})"),
            Func::Avg => format!("AVG({arg})"),
            Func::Min => format!("MIN({arg})"),
            Func::Max => format!("MAX({arg})"),
            Func::VarSamp => format!("VAR_SAMP({arg})"),
            Func::StddevSamp => format!("STDDEV({arg})"),
            Func::CountDistinct => format!("COUNT(DISTINCT {arg})"),
            Func::Median => format!("MEDIAN({arg})"),
            Func::FirstValue => format!("FIRST_VALUE({arg})"),
            Func::LastValue => format!("LAST_VALUE({arg})"),
        };
        match self.filter {
            Some(p) => format!("{call} FILTER (WHERE {})", p.sql()),
            None => call,
        }
    }
}

fn agg() -> impl Strategy<Value = Agg> {
    (
        prop::sample::select(vec![
            Func::CountStar,
            Func::Count,
            Func::Sum,
            Func::Avg,
            Func::Min,
            Func::Max,
            Func::VarSamp,
            Func::StddevSamp,
            Func::CountDistinct,
            Func::Median,
            Func::FirstValue,
            Func::LastValue,
        ]),
        prop::sample::select(vec![Arg::X, Arg::Y, Arg::S]),
        prop::option::weighted(
            0.3,
            prop::sample::select(vec![Pred::XPositive, Pred::YBelow10, Pred::XEven]),
        ),
    )
        .prop_map(|(func, arg, filter)| {
            let arg = if arg == Arg::S && func.numeric() {
                Arg::X
            } else {
                arg
            };
            Agg { func, arg, filter }
        })
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Emit {
    Final,
    Changes,
    Changelog,
}

#[derive(Debug, Clone)]
struct Case {
    rows: Vec<Row>,
    keys: Keys,
    encoding: StrEncoding,
    aggs: Vec<Agg>,
    /// `WHERE x > -500` (drops NULL x too).
    filter_rows: bool,
    /// `HAVING COUNT(*) >= n`.
    having_min_count: Option<i64>,
    emit: Emit,
    /// Batch sizes, cycled until the table is used up.
    batch_sizes: Vec<usize>,
    partitions: usize,
}

impl Case {
    fn sql(&self) -> String {
        let keys = self.keys.sql();
        let mut items: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        items.extend(self.aggs.iter().map(Agg::sql));
        let mut sql = format!("SELECT {} FROM t", items.join(", "));
        if self.filter_rows {
            sql.push_str(" WHERE x > -500");
        }
        if !keys.is_empty() {
            sql.push_str(&format!(" GROUP BY {}", keys.join(", ")));
        }
        if let Some(n) = self.having_min_count {
            sql.push_str(&format!(" HAVING COUNT(*) >= {n}"));
        }
        match self.emit {
            Emit::Final => sql.push_str(" EMIT FINAL"),
            Emit::Changes => {}
            Emit::Changelog => sql.push_str(" EMIT CHANGES WITH ('emit.changelog' = 'true')"),
        }
        sql
    }

    /// The row ranges of the input batches.
    fn batches(&self) -> Vec<std::ops::Range<usize>> {
        let mut out = Vec::new();
        let mut start = 0;
        let mut sizes = self.batch_sizes.iter().cycle();
        while start < self.rows.len() {
            let n = (*sizes.next().unwrap_or(&1)).max(1);
            let end = (start + n).min(self.rows.len());
            out.push(start..end);
            start = end;
        }
        if out.is_empty() {
            out.push(0..0);
        }
        out
    }
}

/// A random case; `with_where` adds `WHERE x > -500` to about half of them.
fn case(with_where: bool) -> impl Strategy<Value = Case> {
    (
        any::<bool>(),
        any::<bool>(),
        prop::sample::select(vec![
            Keys::None,
            Keys::Int,
            Keys::Int,
            Keys::Str,
            Keys::Str,
            Keys::IntStr,
            Keys::StrInt,
        ]),
        prop::sample::select(vec![
            StrEncoding::Utf8,
            StrEncoding::DictShared,
            StrEncoding::DictPerBatch,
        ]),
    )
        .prop_flat_map(move |(int_high, str_high, keys, encoding)| {
            (
                rows(int_high, str_high),
                Just(keys),
                Just(encoding),
                prop::collection::vec(agg(), 1..6),
                prop::bool::weighted(if with_where { 0.5 } else { 0.0 }),
                prop::option::weighted(0.3, 1i64..4),
                prop::sample::select(vec![Emit::Final, Emit::Changes, Emit::Changelog]),
                prop::collection::vec(prop_oneof![Just(1usize), 1usize..8, 8usize..64], 1..4),
                1usize..=2,
            )
        })
        .prop_map(
            |(
                rows,
                keys,
                encoding,
                aggs,
                filter_rows,
                having_min_count,
                emit,
                batch_sizes,
                partitions,
            )| {
                Case {
                    rows,
                    keys,
                    encoding,
                    aggs,
                    filter_rows,
                    having_min_count,
                    emit,
                    batch_sizes,
                    partitions,
                }
            },
        )
}

// ---------------------------------------------------------------------------------------
// result cells
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Cell {
    Null,
    /// Integers, BIGINT sums (DECIMAL(38,0)).
    Int(i128),
    /// A float with the tolerance it is compared with.
    Float(f64, f64),
    /// A standard deviation: compared through its square (the variance), with the
    /// variance's tolerance, since a square root magnifies rounding near 0.
    Stddev(f64, f64),
    Str(String),
}

/// Compares an engine cell (`actual`, its floats with tolerance 0) with a reference cell.
fn same(actual: &Cell, expected: &Cell) -> bool {
    match (actual, expected) {
        (Cell::Null, Cell::Null) => true,
        (Cell::Int(a), Cell::Int(b)) => a == b,
        (Cell::Str(a), Cell::Str(b)) => a == b,
        (Cell::Float(a, _), Cell::Float(b, tol)) => a == b || (a - b).abs() <= *tol,
        (Cell::Float(a, _), Cell::Stddev(b, tol)) => (a * a - b * b).abs() <= *tol,
        _ => false,
    }
}

fn column_cells(column: &ArrayRef) -> Vec<Cell> {
    let n = column.len();
    let cells = |f: &dyn Fn(usize) -> Cell| -> Vec<Cell> {
        (0..n)
            .map(|i| if column.is_null(i) { Cell::Null } else { f(i) })
            .collect()
    };
    match column.data_type() {
        DataType::Int64 => {
            let a = column.as_primitive::<Int64Type>();
            cells(&|i| Cell::Int(a.value(i) as i128))
        }
        DataType::Decimal128(_, 0) => {
            let a = column.as_primitive::<Decimal128Type>();
            cells(&|i| Cell::Int(a.value(i)))
        }
        DataType::Float64 => {
            let a = column.as_primitive::<Float64Type>();
            cells(&|i| Cell::Float(a.value(i), 0.0))
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Dictionary(..) => {
            let s = cast(column, &DataType::Utf8).expect("cast a string column to Utf8");
            let a = s.as_string::<i32>();
            cells(&|i| Cell::Str(a.value(i).to_string()))
        }
        other => panic!("unexpected result type {other}"),
    }
}

fn batch_rows(batches: &[RecordBatch]) -> Vec<Vec<Cell>> {
    let mut out = Vec::new();
    for b in batches {
        let cols: Vec<Vec<Cell>> = b.columns().iter().map(column_cells).collect();
        for r in 0..b.num_rows() {
            out.push(cols.iter().map(|c| c[r].clone()).collect());
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// the reference model
// ---------------------------------------------------------------------------------------

/// One group: every row it received (after WHERE), in arrival order.
#[derive(Debug, Default, Clone)]
struct Group {
    rows: Vec<Row>,
    /// Emitted and currently satisfying HAVING (changelog bookkeeping).
    visible: bool,
}

/// Tolerance for a float computed from `values`: 1e-9 relative to their magnitude.
fn tolerance(values: &[f64], power: i32) -> f64 {
    let scale = values.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    1e-9 * scale.powi(power) * (values.len().max(1) as f64)
}

fn evaluate(agg: &Agg, rows: &[Row]) -> Cell {
    let selected: Vec<&Row> = rows
        .iter()
        .filter(|r| agg.filter.is_none_or(|p| p.eval(r)))
        .collect();
    if agg.func == Func::CountStar {
        return Cell::Int(selected.len() as i128);
    }
    match agg.arg {
        Arg::X => {
            let xs: Vec<i64> = selected.iter().filter_map(|r| r.x).collect();
            let fs: Vec<f64> = xs.iter().map(|&v| v as f64).collect();
            if agg.func == Func::Count {
                return Cell::Int(xs.len() as i128);
            }
            if agg.func == Func::CountDistinct {
                return Cell::Int(xs.iter().collect::<BTreeSet<_>>().len() as i128);
            }
            if xs.is_empty() {
                return Cell::Null;
            }
            let sum: i128 = xs.iter().map(|&v| v as i128).sum();
            match agg.func {
                Func::Median => median(&fs),
                Func::FirstValue => Cell::Int(xs[0] as i128),
                Func::LastValue => Cell::Int(xs[xs.len() - 1] as i128),
                Func::Sum => Cell::Int(sum),
                Func::Avg => {
                    let avg = sum as f64 / xs.len() as f64;
                    Cell::Float(avg, 1e-9 * avg.abs().max(1.0))
                }
                Func::Min => Cell::Int(*xs.iter().min().unwrap_or(&0) as i128),
                Func::Max => Cell::Int(*xs.iter().max().unwrap_or(&0) as i128),
                _ => variance(agg.func, &fs),
            }
        }
        Arg::Y => {
            let ys: Vec<f64> = selected.iter().filter_map(|r| r.y).collect();
            if agg.func == Func::Count {
                return Cell::Int(ys.len() as i128);
            }
            if agg.func == Func::CountDistinct {
                let bits: BTreeSet<u64> = ys.iter().map(|v| (v + 0.0).to_bits()).collect();
                return Cell::Int(bits.len() as i128);
            }
            if ys.is_empty() {
                return Cell::Null;
            }
            let sum: f64 = ys.iter().sum();
            match agg.func {
                Func::Median => median(&ys),
                Func::FirstValue => Cell::Float(ys[0], 0.0),
                Func::LastValue => Cell::Float(ys[ys.len() - 1], 0.0),
                Func::Sum => Cell::Float(sum, tolerance(&ys, 1)),
                Func::Avg => Cell::Float(sum / ys.len() as f64, tolerance(&ys, 1)),
                Func::Min => Cell::Float(ys.iter().copied().fold(f64::INFINITY, f64::min), 0.0),
                Func::Max => Cell::Float(ys.iter().copied().fold(f64::NEG_INFINITY, f64::max), 0.0),
                _ => variance(agg.func, &ys),
            }
        }
        Arg::S => {
            let ss: Vec<&String> = selected.iter().filter_map(|r| r.ks.as_ref()).collect();
            match agg.func {
                Func::Count => Cell::Int(ss.len() as i128),
                Func::CountDistinct => Cell::Int(ss.iter().collect::<BTreeSet<_>>().len() as i128),
                _ if ss.is_empty() => Cell::Null,
                Func::Min => Cell::Str(ss.iter().min().map(|s| s.to_string()).unwrap_or_default()),
                Func::Max => Cell::Str(ss.iter().max().map(|s| s.to_string()).unwrap_or_default()),
                Func::FirstValue => Cell::Str(ss[0].clone()),
                Func::LastValue => Cell::Str(ss[ss.len() - 1].clone()),
                other => panic!("{other:?} of a string is not generated"),
            }
        }
    }
}

/// The middle value, or the mean of the two middle values of an even count (DuckDB).
fn median(values: &[f64]) -> Cell {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let m = if n % 2 == 1 {
        v[n / 2]
    } else {
        v[n / 2 - 1] + (v[n / 2] - v[n / 2 - 1]) / 2.0
    };
    Cell::Float(m, 1e-9 * v[0].abs().max(v[n - 1].abs()).max(1.0))
}

/// Sample variance / standard deviation, two-pass; NULL below two values.
fn variance(func: Func, values: &[f64]) -> Cell {
    if values.len() < 2 {
        return Cell::Null;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let m2: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
    let var = m2 / (n - 1.0);
    let tol = tolerance(values, 2);
    match func {
        Func::VarSamp => Cell::Float(var, tol),
        _ => Cell::Stddev(var.sqrt(), tol),
    }
}

/// The reference's output rows for a case.
fn reference(case: &Case) -> Vec<Vec<Cell>> {
    let mut groups: BTreeMap<Vec<Key>, Group> = BTreeMap::new();
    let mut out = Vec::new();
    let passes = |g: &Group| {
        case.having_min_count
            .is_none_or(|n| g.rows.len() as i64 >= n)
    };
    let values = |key: &[Key], g: &Group| -> Vec<Cell> {
        let mut row: Vec<Cell> = key.iter().map(Key::cell).collect();
        row.extend(case.aggs.iter().map(|a| evaluate(a, &g.rows)));
        row
    };
    for range in case.batches() {
        let mut changed: Vec<Vec<Key>> = Vec::new();
        for r in &case.rows[range] {
            if case.filter_rows && r.x.is_none_or(|x| x <= -500) {
                continue;
            }
            let key = case.keys.of(r);
            let g = groups.entry(key.clone()).or_default();
            g.rows.push(r.clone());
            if !changed.contains(&key) {
                changed.push(key);
            }
        }
        if case.emit == Emit::Final {
            continue;
        }
        for key in changed {
            let g = groups.get_mut(&key).expect("a changed group exists");
            let pass = passes(g);
            let op = match (pass, g.visible) {
                (true, false) => Some("insert"),
                (true, true) => Some("update"),
                (false, true) => Some("delete"),
                (false, false) => None,
            };
            g.visible = pass;
            match case.emit {
                Emit::Changes if pass => out.push(values(&key, g)),
                Emit::Changelog => {
                    if let Some(op) = op {
                        let mut row = values(&key, g);
                        row.push(Cell::Str(op.to_string()));
                        out.push(row);
                    }
                }
                _ => {}
            }
        }
    }
    if case.emit == Emit::Final {
        if case.keys == Keys::None && groups.is_empty() {
            groups.insert(Vec::new(), Group::default());
        }
        let mut all: Vec<(&Vec<Key>, &Group)> = groups.iter().collect();
        all.sort_by_key(|(k, _)| k.iter().map(Key::sort_key).collect::<Vec<_>>());
        for (key, g) in all {
            if passes(g) {
                out.push(values(key, g));
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// running the engine
// ---------------------------------------------------------------------------------------

fn schema(encoding: StrEncoding) -> SchemaRef {
    let ks = match encoding {
        StrEncoding::Utf8 => DataType::Utf8,
        _ => DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
    };
    Arc::new(Schema::new(vec![
        Field::new("ki", DataType::Int64, true),
        Field::new("ks", ks, true),
        Field::new("x", DataType::Int64, true),
        Field::new("y", DataType::Float64, true),
    ]))
}

fn string_column(rows: &[Row], encoding: StrEncoding) -> ArrayRef {
    let plain: ArrayRef = Arc::new(StringArray::from(
        rows.iter().map(|r| r.ks.clone()).collect::<Vec<_>>(),
    ));
    match encoding {
        StrEncoding::Utf8 => plain,
        _ => cast(
            &plain,
            &DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
        )
        .expect("cast to a dictionary"),
    }
}

fn batch_of(rows: &[Row], schema: &SchemaRef, encoding: StrEncoding) -> RecordBatch {
    RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.ki).collect::<Vec<_>>(),
            )),
            string_column(rows, encoding),
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.x).collect::<Vec<_>>(),
            )),
            Arc::new(Float64Array::from(
                rows.iter().map(|r| r.y).collect::<Vec<_>>(),
            )),
        ],
    )
    .expect("a valid batch")
}

fn run_engine(case: &Case) -> Result<Vec<RecordBatch>, velostream::Error> {
    let schema = schema(case.encoding);
    let engine = Engine::with_partitions(case.partitions).with_min_parallel_rows(0);
    let mut q = engine.query(
        &case.sql(),
        &[("t", schema.clone())],
        QueryOptions::default(),
    )?;
    let batches: Vec<RecordBatch> = match case.encoding {
        StrEncoding::DictShared => {
            let whole = batch_of(&case.rows, &schema, case.encoding);
            case.batches()
                .into_iter()
                .map(|r| whole.slice(r.start, r.len()))
                .collect()
        }
        _ => case
            .batches()
            .into_iter()
            .map(|r| {
                // reverse the rows, cast, and reverse back: each batch's dictionary
                // holds its values in a different order than a shared one would
                let mut part: Vec<Row> = case.rows[r].to_vec();
                part.reverse();
                let b = batch_of(&part, &schema, case.encoding);
                let idx = arrow::array::UInt32Array::from(
                    (0..part.len() as u32).rev().collect::<Vec<_>>(),
                );
                arrow::compute::take_record_batch(&b, &idx).expect("take")
            })
            .collect(),
    };
    let mut out = Vec::new();
    for b in batches {
        out.extend(q.push("t", b)?);
    }
    out.extend(q.finish()?);
    Ok(out)
}

fn check(case: &Case) -> Result<(), TestCaseError> {
    let sql = case.sql();
    let batches = run_engine(case).map_err(|e| TestCaseError::fail(format!("{sql}: {e}")))?;
    let actual = batch_rows(&batches);
    let expected = reference(case);
    let mismatch = actual.len() != expected.len()
        || actual
            .iter()
            .zip(&expected)
            .any(|(a, e)| a.len() != e.len() || a.iter().zip(e).any(|(x, y)| !same(x, y)));
    if mismatch {
        return Err(TestCaseError::fail(format!(
            "{sql}\nbatches {:?}, partitions {}\nengine ({} rows):\n{}\nreference ({} rows):\n{}",
            case.batches(),
            case.partitions,
            actual.len(),
            show(&actual),
            expected.len(),
            show(&expected)
        )));
    }
    Ok(())
}

fn show(rows: &[Vec<Cell>]) -> String {
    rows.iter()
        .map(|r| format!("  {r:?}"))
        .collect::<Vec<_>>()
        .join("\n")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn group_by_matches_the_reference(case in case(false)) {
        check(&case)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, failure_persistence: None, ..ProptestConfig::default() })]

    /// WHERE may remove every row of a batch: such a batch changes no group.
    #[test]
    fn group_by_after_where_matches_the_reference(case in case(true)) {
        check(&case)?;
    }
}

// ---------------------------------------------------------------------------------------
// fixed cases the random ones might rarely hit
// ---------------------------------------------------------------------------------------

/// The case over `rows` for each partition count and string encoding.
fn fixed(
    rows: Vec<Row>,
    keys: Keys,
    emit: Emit,
    batch_sizes: Vec<usize>,
    filter_rows: bool,
) -> Vec<Case> {
    let aggs = vec![
        Agg {
            func: Func::CountStar,
            arg: Arg::X,
            filter: None,
        },
        Agg {
            func: Func::Sum,
            arg: Arg::X,
            filter: None,
        },
        Agg {
            func: Func::Avg,
            arg: Arg::Y,
            filter: Some(Pred::YBelow10),
        },
        Agg {
            func: Func::StddevSamp,
            arg: Arg::Y,
            filter: None,
        },
    ];
    let mut out = Vec::new();
    for partitions in [1, 2] {
        for encoding in [
            StrEncoding::Utf8,
            StrEncoding::DictShared,
            StrEncoding::DictPerBatch,
        ] {
            out.push(Case {
                rows: rows.clone(),
                keys,
                encoding,
                aggs: aggs.clone(),
                filter_rows,
                having_min_count: Some(2),
                emit,
                batch_sizes: batch_sizes.clone(),
                partitions,
            });
        }
    }
    out
}

fn row(ki: Option<i64>, ks: Option<&str>, x: Option<i64>, y: Option<f64>) -> Row {
    Row {
        ki,
        ks: ks.map(str::to_string),
        x,
        y,
    }
}

/// A batch whose rows WHERE removes entirely emits nothing (and does not repeat the
/// previous batch's groups).
#[test]
fn a_batch_emptied_by_where_emits_nothing() {
    let rows = vec![
        row(Some(1), Some("a"), Some(1), Some(1.0)),
        row(Some(1), Some("a"), Some(2), Some(2.0)),
        row(Some(2), Some("b"), Some(-900), Some(3.0)),
        row(Some(1), Some("a"), None, Some(4.0)),
        row(Some(2), Some("b"), Some(5), Some(5.0)),
        row(Some(2), Some("b"), Some(6), Some(6.0)),
    ];
    for keys in [Keys::None, Keys::Int, Keys::Str, Keys::IntStr] {
        for emit in [Emit::Changes, Emit::Changelog] {
            for case in fixed(rows.clone(), keys, emit, vec![2], true) {
                check(&case).unwrap_or_else(|e| panic!("{e}"));
            }
        }
    }
}

/// NULL keys, all-NULL values, one row per batch, both emit modes.
#[test]
fn null_keys_and_null_values_row_by_row() {
    let rows = vec![
        row(None, None, None, None),
        row(Some(1), None, Some(3), None),
        row(None, Some("a"), None, Some(2.5)),
        row(None, None, Some(4), Some(0.5)),
        row(Some(1), None, None, None),
        row(None, Some("a"), Some(7), Some(9.5)),
        row(None, None, None, Some(1.0)),
    ];
    for keys in [Keys::None, Keys::Int, Keys::Str, Keys::IntStr, Keys::StrInt] {
        for emit in [Emit::Final, Emit::Changes, Emit::Changelog] {
            // one dictionary per one-row batch would be empty for a NULL: that is
            // `an_all_null_dictionary_batch_is_the_null_group`
            for case in fixed(rows.clone(), keys, emit, vec![1], false)
                .into_iter()
                .filter(|c| c.encoding != StrEncoding::DictPerBatch)
            {
                check(&case).unwrap_or_else(|e| panic!("{e}"));
            }
        }
    }
}

/// Sums of BIGINT values near the ends of the range are exact (128-bit).
#[test]
fn bigint_sums_are_exact() {
    let rows: Vec<Row> = (0..40)
        .map(|i| {
            let x = if i % 3 == 0 {
                i64::MIN + i
            } else {
                i64::MAX - i
            };
            row(
                Some(i % 2),
                Some(if i % 4 < 2 { "p" } else { "q" }),
                Some(x),
                Some(i as f64),
            )
        })
        .collect();
    for keys in [Keys::None, Keys::Int, Keys::StrInt] {
        for emit in [Emit::Final, Emit::Changes] {
            for case in fixed(rows.clone(), keys, emit, vec![3, 1, 7], false) {
                check(&case).unwrap_or_else(|e| panic!("{e}"));
            }
        }
    }
}

/// A batch whose dictionary key column is all NULL (its dictionary is empty) is one
/// NULL group, with any number of partitions.
#[test]
fn an_all_null_dictionary_batch_is_the_null_group() {
    let rows = vec![
        row(Some(1), Some("a"), Some(1), Some(1.0)),
        row(Some(2), None, Some(2), Some(2.0)),
        row(Some(1), None, Some(3), Some(3.0)),
        row(Some(2), Some("b"), Some(4), Some(4.0)),
    ];
    for keys in [Keys::Str, Keys::IntStr] {
        for emit in [Emit::Final, Emit::Changes] {
            for case in fixed(rows.clone(), keys, emit, vec![1, 2, 1], false) {
                check(&case).unwrap_or_else(|e| panic!("{e}"));
            }
        }
    }
}

/// Pushing a batch of no rows changes nothing and emits nothing (EMIT CHANGES re-emits
/// nothing from the previous batch), whatever the key type and partition count.
#[test]
fn an_empty_batch_emits_nothing() {
    for encoding in [StrEncoding::Utf8, StrEncoding::DictPerBatch] {
        for partitions in [1, 2] {
            for sql in [
                "SELECT ks, COUNT(*) FROM t GROUP BY ks",
                "SELECT ki, ks, SUM(x) FROM t GROUP BY ki, ks",
                "SELECT COUNT(*) FROM t",
            ] {
                let schema = schema(encoding);
                let engine = Engine::with_partitions(partitions).with_min_parallel_rows(0);
                let mut q = engine
                    .query(sql, &[("t", schema.clone())], QueryOptions::default())
                    .expect("plans");
                let full = batch_of(
                    &[row(Some(1), Some("a"), Some(1), Some(1.0))],
                    &schema,
                    encoding,
                );
                let empty = batch_of(&[], &schema, encoding);
                let what = format!("{sql} ({encoding:?}, {partitions} partitions)");
                let first = q.push("t", full).unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_eq!(batch_rows(&first).len(), 1, "{what}");
                let second = q.push("t", empty).unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_eq!(
                    batch_rows(&second).len(),
                    0,
                    "{what}: an empty batch emitted rows"
                );
                assert!(q.finish().expect("finishes").is_empty(), "{what}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// result types (SPEC §3.4: DuckDB's)
// ---------------------------------------------------------------------------------------

fn output_types(columns: &[(&str, DataType)], select: &str) -> Vec<DataType> {
    let schema: SchemaRef = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(n, t)| Field::new(*n, t.clone(), true))
            .collect::<Vec<_>>(),
    ));
    let sql = format!("SELECT {select} FROM t");
    let q = Engine::with_partitions(1)
        .with_min_parallel_rows(0)
        .query(&sql, &[("t", schema)], QueryOptions::default())
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    q.output_schema()
        .fields()
        .iter()
        .map(|f| f.data_type().clone())
        .collect()
}

fn typed_columns() -> Vec<(&'static str, DataType)> {
    vec![
        ("i8", DataType::Int8),
        ("i16", DataType::Int16),
        ("i32", DataType::Int32),
        ("i64", DataType::Int64),
        ("u8", DataType::UInt8),
        ("u32", DataType::UInt32),
        ("u64", DataType::UInt64),
        ("f32", DataType::Float32),
        ("f64", DataType::Float64),
        ("dec", DataType::Decimal128(10, 2)),
        ("s", DataType::Utf8),
        ("ls", DataType::LargeUtf8),
        ("vs", DataType::Utf8View),
        (
            "ds",
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
        ),
        ("b", DataType::Boolean),
        ("ts", DataType::Timestamp(TimeUnit::Millisecond, None)),
        ("dt", DataType::Date32),
    ]
}

#[test]
fn sum_types_are_exact_and_wide() {
    let t = output_types(
        &typed_columns(),
        "SUM(i8), SUM(i16), SUM(i32), SUM(u8), SUM(u32), SUM(i64), SUM(u64), SUM(dec), SUM(f32), SUM(f64)",
    );
    assert_eq!(
        t,
        vec![
            DataType::Int64,
            DataType::Int64,
            DataType::Int64,
            DataType::Int64,
            DataType::Int64,
            DataType::Decimal128(38, 0),
            DataType::Decimal128(38, 0),
            DataType::Decimal128(38, 2),
            DataType::Float64,
            DataType::Float64,
        ]
    );
}

#[test]
fn counts_averages_and_statistics_types() {
    let t = output_types(
        &typed_columns(),
        "COUNT(*), COUNT(s), COUNT(DISTINCT ds), APPROX_COUNT_DISTINCT(s), AVG(i32), AVG(i64), AVG(dec), AVG(f32), \
         STDDEV(i32), STDDEV_SAMP(f64), STDDEV_POP(dec), VARIANCE(i64), VAR_SAMP(u8), VAR_POP(f32), MEDIAN(i32), MEDIAN(f64)",
    );
    let mut expected = vec![DataType::Int64; 4];
    expected.extend(vec![DataType::Float64; 12]);
    assert_eq!(t, expected);
}

#[test]
fn min_max_first_last_keep_the_argument_type() {
    let t = output_types(
        &typed_columns(),
        "MIN(i8), MAX(u64), MIN(f32), MAX(dec), MIN(s), MAX(ls), MIN(vs), MAX(b), MIN(ts), MAX(dt), \
         FIRST_VALUE(i16), LAST_VALUE(s), FIRST_VALUE(dec, ts), APPROX_PERCENTILE(i64, 0.5), APPROX_PERCENTILE(ts, 0.9)",
    );
    assert_eq!(
        t,
        vec![
            DataType::Int8,
            DataType::UInt64,
            DataType::Float32,
            DataType::Decimal128(10, 2),
            DataType::Utf8,
            DataType::LargeUtf8,
            DataType::Utf8View,
            DataType::Boolean,
            DataType::Timestamp(TimeUnit::Millisecond, None),
            DataType::Date32,
            DataType::Int16,
            DataType::Utf8,
            DataType::Decimal128(10, 2),
            DataType::Int64,
            DataType::Timestamp(TimeUnit::Millisecond, None),
        ]
    );
}

/// A dictionary argument counts as its value type: MIN/MAX give plain strings.
#[test]
fn dictionary_arguments_give_plain_results() {
    let t = output_types(&typed_columns(), "MIN(ds), MAX(ds), FIRST_VALUE(ds)");
    assert_eq!(t, vec![DataType::Utf8; 3]);
}

/// DuckDB: `median(DECIMAL(p,s))` is `DECIMAL(p,s)` (an interpolated quantile of the
/// type), `median(INTEGER)` is DOUBLE.
#[test]
fn median_of_a_decimal_is_a_decimal() {
    let t = output_types(&typed_columns(), "MEDIAN(dec)");
    assert_eq!(t, vec![DataType::Decimal128(10, 2)]);
}

#[test]
fn changelog_adds_an_op_column_last() {
    let schema: SchemaRef = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Utf8, true),
        Field::new("v", DataType::Int64, true),
    ]));
    let q = Engine::with_partitions(1)
        .with_min_parallel_rows(0)
        .query(
            "SELECT k, SUM(v) AS total FROM t GROUP BY k",
            &[("t", schema)],
            QueryOptions::default().changelog(true),
        )
        .expect("plans");
    let s = q.output_schema();
    let names: Vec<&str> = s.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, vec!["k", "total", "_op"]);
    assert_eq!(s.field(2).data_type(), &DataType::Utf8);
}

// ---------------------------------------------------------------------------------------
// state limit
// ---------------------------------------------------------------------------------------

/// Group state past `memory_limit_bytes` is a `ResourcesExhausted` error naming the limit;
/// under the limit the same query runs.
#[test]
fn state_past_the_memory_limit_is_resources_exhausted() {
    let schema = schema(StrEncoding::Utf8);
    let rows: Vec<Row> = (0..20_000)
        .map(|i| row(Some(i), Some("k"), Some(i), Some(i as f64)))
        .collect();
    let batch = batch_of(&rows, &schema, StrEncoding::Utf8);
    for partitions in [1, 2] {
        let run = |limit: usize| {
            let engine = Engine::with_partitions(partitions).with_min_parallel_rows(0);
            let mut q = engine
                .query(
                    "SELECT ki, SUM(x), MEDIAN(y) FROM t GROUP BY ki EMIT FINAL",
                    &[("t", schema.clone())],
                    QueryOptions::default().memory_limit_bytes(limit),
                )
                .expect("plans");
            q.push("t", batch.clone()).and_then(|mut out| {
                out.extend(q.finish()?);
                Ok(out)
            })
        };
        match run(64 * 1024) {
            Err(velostream::Error::ResourcesExhausted(message)) => {
                assert!(message.contains("memory limit"), "{message}");
            }
            other => panic!("expected ResourcesExhausted, got {other:?}"),
        }
        let out = run(1 << 30).expect("runs under a large limit");
        assert_eq!(batch_rows(&out).len(), 20_000);
    }
}

/// The metrics time the aggregation's two phases: on two partitions a call big enough
/// for the workers counts as one parallel call, and its idle share is a fraction; on
/// one partition the phases are timed and no parallel call is counted; a query without
/// an aggregation reports neither.
#[test]
fn metrics_time_the_pre_aggregation_and_merges() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("v", DataType::Float64, false),
    ]));
    let batches: Vec<RecordBatch> = (0..8)
        .map(|b| {
            let keys: Vec<i64> = (0..4096).map(|i| (i * 7 + b) % 97).collect();
            let values: Vec<f64> = (0..4096).map(|i| f64::from(i) * 0.5).collect();
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from(keys)),
                    Arc::new(Float64Array::from(values)),
                ],
            )
            .unwrap()
        })
        .collect();
    let run = |partitions: usize, sql: &str| {
        let engine = Engine::with_partitions(partitions).with_min_parallel_rows(0);
        let mut q = engine
            .query(sql, &[("t", schema.clone())], QueryOptions::default())
            .unwrap();
        q.push_batches("t", batches.clone()).unwrap();
        q.finish().unwrap();
        q.metrics()
    };
    let grouped = "SELECT k, SUM(v) AS s, COUNT(*) AS n FROM t GROUP BY k EMIT FINAL";
    let two = run(2, grouped);
    assert_eq!((two.workers, two.parallel_calls), (2, 1), "{two:?}");
    assert!(!two.pre_aggregate_time.is_zero(), "{two:?}");
    assert!(!two.merge_time.is_zero(), "{two:?}");
    assert!(two.parallel_time <= two.elapsed, "{two:?}");
    let idle = two.worker_idle_share().expect("a parallel call ran");
    assert!((0.0..1.0).contains(&idle), "{idle}");
    assert!(two.to_string().contains("parallel calls:       1"), "{two}");
    let one = run(1, grouped);
    assert_eq!((one.workers, one.parallel_calls), (1, 0), "{one:?}");
    assert!(!one.pre_aggregate_time.is_zero(), "{one:?}");
    assert_eq!(one.worker_idle_share(), None);
    assert!(!one.to_string().contains("parallel calls"), "{one}");
    let plain = run(2, "SELECT k, v * 2 AS w FROM t WHERE v > 10");
    assert!(
        plain.pre_aggregate_time.is_zero() && plain.merge_time.is_zero(),
        "{plain:?}"
    );
    assert_eq!(plain.worker_idle_share(), None);
}
