//! Event-time windows against a row-at-a-time reference model, over random streams.
//!
//! ```text
//!  random rows, window, delay ─┬─▶ batch split + push groups ─▶ Engine (1 or 2 partitions) ─▶ rows per call ─┐
//!                              └─▶ Model: watermark, windows as maps, one row at a time ──▶ rows per call ─┴─▶ equal?
//! ```
//!
//! The model writes SPEC §4 (and the window contract of issue 4) out directly:
//!
//! - the watermark `wm` starts at −∞; the rows of a batch are judged against `wm` as it
//!   stood before the batch; after the batch, `wm = max(wm, max event time of the raw
//!   batch (before WHERE) − delay)`, then every window whose end is `<= wm` closes;
//!   `finish()` sets `wm = +∞`; `advance_watermark(ts)` sets `wm = max(wm, ts)`;
//! - windows are half-open `[start, end)` on a grid `offset + k * slide` (tumbling:
//!   slide = size); a row belongs to every window `s <= t < s + size` of the grid;
//! - sessions per GROUP BY key: a row `t` joins (and merges) every open session of its
//!   key with `first - gap < t < last + gap`; a session is `[first, last + gap)`;
//! - a row that passes WHERE is late when the end of the last window containing it is
//!   `<= wm` before its batch (session: `t + gap <= wm`); it is not aggregated, it is
//!   counted and kept (all input columns) for `take_late_rows()`; a non-late row only
//!   updates the windows with end `> wm`; a NULL event time is dropped and counted;
//! - EMIT FINAL: on close, one row per (window, group) passing HAVING, ordered by window
//!   start, then keys ascending with NULLs last;
//! - EMIT CHANGES: after each batch, one row per (window, group) that received a row in
//!   it, in the order of the first row (then window start) that changed it, HAVING
//!   filters, `_op` is insert / update / delete; closing emits nothing.
//!
//! Every window and session keeps all its rows; aggregates are computed from them at
//! emission. The model itself is checked without the engine: against hand-computed
//! results (`the_model_gives_the_hand_computed_results`; the same cases run against the
//! engine as `engine_*`), against itself across emit modes, and for disorder within the
//! delay changing nothing. Interpretations where the contract is silent:
//!
//! - EMIT CHANGES lists every (window, group) that received a row in the batch, even one
//!   the batch's own watermark then closes (its last change is its final value);
//! - a merged session is one (window, group): `update` if any merged part had been
//!   emitted (and still passed HAVING), else `insert`; absorbed parts get no `delete`;
//! - with `collect_late_rows(false)`, `take_late_rows()` returns no rows;
//! - after `finish()`, `windows_opened == windows_closed` for tumbling and sliding
//!   windows (whatever a window is counted as); session counters are not compared;
//! - the group-window functions `HOP(...)` / `SESSION(...)` in GROUP BY select no
//!   bounds (the contract names none), and their durations are written as INTERVALs.
//!
//! Exact results (keys, window bounds, counts, integer sums, MIN/MAX) must be equal;
//! floating-point results within 1e-9 relative to the magnitude of their inputs.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray, TimestampMillisecondArray, TimestampSecondArray,
};
use arrow::compute::cast;
use arrow::datatypes::{
    DataType, Decimal128Type, Field, Float64Type, Int64Type, Schema, SchemaRef, TimeUnit,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampSecondType,
};
use proptest::prelude::*;
use velostream::{Engine, QueryOptions};

// ---------------------------------------------------------------------------------------
// the input
// ---------------------------------------------------------------------------------------

/// One input row: `k BIGINT, g VARCHAR, ts <time type>, x BIGINT, y DOUBLE`. `ts` is in
/// ticks of the time column's unit.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    k: Option<i64>,
    g: Option<String>,
    ts: Option<i64>,
    x: Option<i64>,
    y: Option<f64>,
}

/// The type of the event-time column.
#[derive(Debug, Clone, Copy, PartialEq)]
enum TimeType {
    /// `Int64` epoch milliseconds.
    Int64Ms,
    TimestampMs,
    TimestampS,
    TimestampUs,
}

impl TimeType {
    fn data_type(self) -> DataType {
        match self {
            TimeType::Int64Ms => DataType::Int64,
            TimeType::TimestampMs => DataType::Timestamp(TimeUnit::Millisecond, None),
            TimeType::TimestampS => DataType::Timestamp(TimeUnit::Second, None),
            TimeType::TimestampUs => DataType::Timestamp(TimeUnit::Microsecond, None),
        }
    }

    /// Durations are whole "quanta": ticks per quantum and milliseconds per quantum (a
    /// SECOND column takes whole seconds, the others whole milliseconds).
    fn quantum(self) -> (i64, i64) {
        match self {
            TimeType::Int64Ms | TimeType::TimestampMs => (1, 1),
            TimeType::TimestampS => (1, 1000),
            TimeType::TimestampUs => (1000, 1),
        }
    }

    fn ticks(self, quanta: i64) -> i64 {
        quanta * self.quantum().0
    }

    fn ms(self, quanta: i64) -> i64 {
        quanta * self.quantum().1
    }

    /// Ticks per second.
    fn per_second(self) -> i64 {
        match self {
            TimeType::Int64Ms | TimeType::TimestampMs => 1_000,
            TimeType::TimestampS => 1,
            TimeType::TimestampUs => 1_000_000,
        }
    }

    fn column(self, ts: Vec<Option<i64>>) -> ArrayRef {
        match self {
            TimeType::Int64Ms => Arc::new(Int64Array::from(ts)),
            TimeType::TimestampMs => Arc::new(TimestampMillisecondArray::from(ts)),
            TimeType::TimestampS => Arc::new(TimestampSecondArray::from(ts)),
            TimeType::TimestampUs => Arc::new(TimestampMicrosecondArray::from(ts)),
        }
    }
}

fn schema(time: TimeType) -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, true),
        Field::new("g", DataType::Utf8, true),
        Field::new("ts", time.data_type(), true),
        Field::new("x", DataType::Int64, true),
        Field::new("y", DataType::Float64, true),
    ]))
}

fn batch_of(rows: &[Row], time: TimeType) -> RecordBatch {
    RecordBatch::try_new(
        schema(time),
        vec![
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.k).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.g.clone()).collect::<Vec<_>>(),
            )),
            time.column(rows.iter().map(|r| r.ts).collect()),
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

/// A row as result cells (for comparing the late rows the engine hands back).
fn row_cells(r: &Row) -> Vec<Cell> {
    vec![
        r.k.map_or(Cell::Null, |v| Cell::Int(v as i128)),
        r.g.clone().map_or(Cell::Null, Cell::Str),
        r.ts.map_or(Cell::Null, |v| Cell::Int(v as i128)),
        r.x.map_or(Cell::Null, |v| Cell::Int(v as i128)),
        r.y.map_or(Cell::Null, |v| Cell::Float(v, 0.0)),
    ]
}

// ---------------------------------------------------------------------------------------
// the query
// ---------------------------------------------------------------------------------------

/// The window, with durations in quanta of the time column (see [`TimeType::quantum`]).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Window {
    Tumbling { size: i64, offset: i64 },
    Sliding { size: i64, slide: i64, offset: i64 },
    Session { gap: i64 },
}

/// How the window is written (SPEC §3.1 / §3.2).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Form {
    /// `GROUP BY keys WINDOW TUMBLING(ts, ...)`, `_window_start` / `_window_end`.
    Clause,
    /// `WINDOW ...` before `GROUP BY`.
    ClauseFirst,
    /// `WINDOW TUMBLING(size)` without the column: the event time comes from the option.
    ClauseNoColumn,
    /// The clause with `TUMBLE_START(ts, size)` / `TUMBLE_END(ts, size)` (tumbling only).
    ClauseTumbleStart,
    /// `FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), ...))`, `window_start` / `window_end`.
    Tvf,
    /// `SESSION(TABLE t PARTITION BY keys, ...)` (sessions with keys only).
    TvfPartitionBy,
    /// `GROUP BY keys, TUMBLE(ts, size)`: tumbling selects `TUMBLE_START` / `TUMBLE_END`,
    /// the others select no window bounds (the contract names no bound function for them).
    GroupFunction,
}

impl Form {
    fn selects_bounds(self, window: Window) -> bool {
        self != Form::GroupFunction || matches!(window, Window::Tumbling { .. })
    }
}

/// Which columns are the GROUP BY keys.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Keys {
    None,
    K,
    G,
    KG,
    GK,
}

impl Keys {
    fn names(self) -> &'static [&'static str] {
        match self {
            Keys::None => &[],
            Keys::K => &["k"],
            Keys::G => &["g"],
            Keys::KG => &["k", "g"],
            Keys::GK => &["g", "k"],
        }
    }

    fn of(self, r: &Row) -> Vec<Key> {
        let k = Key::Int(r.k);
        let g = Key::Str(r.g.clone());
        match self {
            Keys::None => vec![],
            Keys::K => vec![k],
            Keys::G => vec![g],
            Keys::KG => vec![k, g],
            Keys::GK => vec![g, k],
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

#[derive(Debug, Clone, Copy, PartialEq)]
enum Func {
    CountStar,
    Count,
    Sum,
    Avg,
    Min,
    Max,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Arg {
    X,
    Y,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Agg {
    func: Func,
    arg: Arg,
}

impl Agg {
    fn sql(self) -> String {
        let arg = match self.arg {
            Arg::X => "x",
            Arg::Y => "y",
        };
        match self.func {
            Func::CountStar => "COUNT(*)".to_string(),
            Func::Count => format!("COUNT({arg})"),
            Func::Sum => format!("SUM({arg})"),
            Func::Avg => format!("AVG({arg})"),
            Func::Min => format!("MIN({arg})"),
            Func::Max => format!("MAX({arg})"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Having {
    /// `HAVING COUNT(*) > n`: monotone, a window never leaves once it passed.
    CountAbove(i64),
    /// `HAVING SUM(x) >= n`: x may be negative, so a window can leave (changelog delete).
    SumXAtLeast(i64),
}

impl Having {
    fn sql(self) -> String {
        match self {
            Having::CountAbove(n) => format!("HAVING COUNT(*) > {n}"),
            Having::SumXAtLeast(n) => format!("HAVING SUM(x) >= {n}"),
        }
    }

    fn passes(self, rows: &[Row]) -> bool {
        match self {
            Having::CountAbove(n) => rows.len() as i64 > n,
            Having::SumXAtLeast(n) => {
                let xs: Vec<i128> = rows.iter().filter_map(|r| r.x.map(i128::from)).collect();
                !xs.is_empty() && xs.iter().sum::<i128>() >= n as i128
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Emit {
    /// `EMIT FINAL` written.
    Final,
    /// No EMIT clause: FINAL is the default with a window.
    Default,
    Changes,
    /// EMIT CHANGES with the `_op` column, from the builder.
    ChangelogBuilder,
    /// EMIT CHANGES with the `_op` column, from `WITH ('emit.changelog' = 'true')`.
    ChangelogSql,
}

impl Emit {
    fn is_final(self) -> bool {
        matches!(self, Emit::Final | Emit::Default)
    }

    fn changelog(self) -> bool {
        matches!(self, Emit::ChangelogBuilder | Emit::ChangelogSql)
    }
}

#[derive(Debug, Clone)]
struct Case {
    rows: Vec<Row>,
    time: TimeType,
    window: Window,
    form: Form,
    keys: Keys,
    aggs: Vec<Agg>,
    /// `WHERE x > -500` (drops NULL x too).
    filter_rows: bool,
    having: Option<Having>,
    emit: Emit,
    /// Watermark delay in quanta.
    delay: i64,
    /// The delay as `WITH ('watermark.max_out_of_orderness' = ...)`, else the builder.
    delay_in_sql: bool,
    /// How durations are written: 0 `INTERVAL 'n' MILLISECOND`, 1 `nms`, 2 the largest
    /// unit that divides as INTERVAL, 3 the same as a short form.
    duration_style: u8,
    /// Batch sizes, cycled until the rows are used up.
    batch_sizes: Vec<usize>,
    /// Batches per call (`push` for 1, `push_batches` for more), cycled.
    push_groups: Vec<usize>,
    /// After the push call `i`, `advance_watermark` to the largest event time pushed so
    /// far plus this many quanta (cycled; `None`: no call).
    advances: Vec<Option<i64>>,
    partitions: usize,
    collect_late: bool,
}

/// A duration of `quanta` of `time` as SQL.
fn duration_sql(time: TimeType, quanta: i64, style: u8) -> String {
    let ms = time.ms(quanta);
    let unit = if ms % 86_400_000 == 0 {
        ("DAY", "d", 86_400_000)
    } else if ms % 3_600_000 == 0 {
        ("HOUR", "h", 3_600_000)
    } else if ms % 60_000 == 0 {
        ("MINUTE", "m", 60_000)
    } else if ms % 1_000 == 0 {
        ("SECOND", "s", 1_000)
    } else {
        ("MILLISECOND", "ms", 1)
    };
    match style % 4 {
        0 => format!("INTERVAL '{ms}' MILLISECOND"),
        1 => format!("{ms}ms"),
        2 => format!("INTERVAL '{}' {}", ms / unit.2, unit.0),
        _ => format!("{}{}", ms / unit.2, unit.1),
    }
}

impl Case {
    /// A duration in the pre-pass clauses (`WINDOW ...`, window TVFs): every style.
    fn d(&self, quanta: i64) -> String {
        duration_sql(self.time, quanta, self.duration_style)
    }

    /// A duration as an argument of a function that sqlparser parses (`TUMBLE(ts, ..)`
    /// in GROUP BY, `TUMBLE_START`): INTERVAL styles only, since `10ms` is not an
    /// expression.
    fn d_fn(&self, quanta: i64) -> String {
        duration_sql(self.time, quanta, self.duration_style & 2)
    }

    fn sql(&self) -> String {
        let keys = self.keys.names();
        let key_list = keys.join(", ");
        let w = self.window;
        let form = self.form;
        // the window's arguments after the time column
        let clause_args = match w {
            Window::Tumbling { size, offset: 0 } => self.d(size),
            Window::Tumbling { size, offset } => format!("{}, {}", self.d(size), self.d(offset)),
            Window::Sliding {
                size,
                slide,
                offset: 0,
            } => format!("{}, {}", self.d(size), self.d(slide)),
            Window::Sliding {
                size,
                slide,
                offset,
            } => format!("{}, {}, {}", self.d(size), self.d(slide), self.d(offset)),
            Window::Session { gap } => self.d(gap),
        };
        let clause_name = match w {
            Window::Tumbling { .. } => "TUMBLING",
            Window::Sliding { .. } => {
                if self.duration_style.is_multiple_of(2) {
                    "SLIDING"
                } else {
                    "HOPPING"
                }
            }
            Window::Session { .. } => "SESSION",
        };
        let clause = if form == Form::ClauseNoColumn {
            format!("WINDOW {clause_name}({clause_args})")
        } else {
            format!("WINDOW {clause_name}(ts, {clause_args})")
        };
        let bounds = match form {
            Form::Clause | Form::ClauseFirst | Form::ClauseNoColumn => {
                "_window_start AS ws, _window_end AS we".to_string()
            }
            Form::ClauseTumbleStart | Form::GroupFunction => match w {
                Window::Tumbling { size, .. } => format!(
                    "TUMBLE_START(ts, {s}) AS ws, TUMBLE_END(ts, {s}) AS we",
                    s = self.d_fn(size)
                ),
                _ => String::new(),
            },
            Form::Tvf | Form::TvfPartitionBy => "window_start AS ws, window_end AS we".to_string(),
        };
        let mut items: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        if !bounds.is_empty() {
            items.push(bounds);
        }
        items.extend(self.aggs.iter().map(|a| a.sql()));
        let from = match form {
            Form::Tvf | Form::TvfPartitionBy => {
                let table = if form == Form::TvfPartitionBy {
                    format!("TABLE t PARTITION BY {key_list}")
                } else {
                    "TABLE t".to_string()
                };
                match w {
                    Window::Tumbling { size, offset } => {
                        let mut a = format!("{table}, DESCRIPTOR(ts), {}", self.d(size));
                        if offset != 0 {
                            a.push_str(&format!(", {}", self.d(offset)));
                        }
                        format!("TABLE(TUMBLE({a}))")
                    }
                    Window::Sliding {
                        size,
                        slide,
                        offset,
                    } => {
                        let mut a = format!(
                            "{table}, DESCRIPTOR(ts), {}, {}",
                            self.d(slide),
                            self.d(size)
                        );
                        if offset != 0 {
                            a.push_str(&format!(", {}", self.d(offset)));
                        }
                        format!("TABLE(HOP({a}))")
                    }
                    Window::Session { gap } => {
                        format!("TABLE(SESSION({table}, DESCRIPTOR(ts), {}))", self.d(gap))
                    }
                }
            }
            _ => "t".to_string(),
        };
        let mut sql = format!("SELECT {} FROM {from}", items.join(", "));
        if self.filter_rows {
            sql.push_str(" WHERE x > -500");
        }
        let mut group: Vec<String> = Vec::new();
        match form {
            Form::Tvf | Form::TvfPartitionBy => {
                group.push("window_start".into());
                group.push("window_end".into());
                group.extend(keys.iter().map(|k| k.to_string()));
            }
            Form::GroupFunction => {
                group.extend(keys.iter().map(|k| k.to_string()));
                group.push(match w {
                    Window::Tumbling { size, .. } => format!("TUMBLE(ts, {})", self.d_fn(size)),
                    Window::Sliding { size, slide, .. } => {
                        format!("HOP(ts, {}, {})", self.d_fn(slide), self.d_fn(size))
                    }
                    Window::Session { gap } => format!("SESSION(ts, {})", self.d_fn(gap)),
                });
            }
            _ => group.extend(keys.iter().map(|k| k.to_string())),
        }
        let group_by = if group.is_empty() {
            String::new()
        } else {
            format!(" GROUP BY {}", group.join(", "))
        };
        match form {
            Form::ClauseFirst => {
                sql.push_str(&format!(" {clause}"));
                sql.push_str(&group_by);
            }
            Form::Clause | Form::ClauseNoColumn | Form::ClauseTumbleStart => {
                sql.push_str(&group_by);
                sql.push_str(&format!(" {clause}"));
            }
            Form::Tvf | Form::TvfPartitionBy | Form::GroupFunction => sql.push_str(&group_by),
        }
        if let Some(h) = self.having {
            sql.push(' ');
            sql.push_str(&h.sql());
        }
        match self.emit {
            Emit::Final => sql.push_str(" EMIT FINAL"),
            Emit::Default => {}
            Emit::Changes | Emit::ChangelogBuilder | Emit::ChangelogSql => {
                sql.push_str(" EMIT CHANGES")
            }
        }
        let mut with = Vec::new();
        if self.delay_in_sql {
            with.push(format!(
                "'watermark.max_out_of_orderness' = '{}ms'",
                self.time.ms(self.delay)
            ));
        }
        if self.emit == Emit::ChangelogSql {
            with.push("'emit.changelog' = 'true'".to_string());
        }
        if !with.is_empty() {
            sql.push_str(&format!(" WITH ({})", with.join(", ")));
        }
        sql
    }

    fn options(&self) -> QueryOptions {
        let mut o = QueryOptions::default().collect_late_rows(self.collect_late);
        if !self.delay_in_sql {
            o = o.watermark_delay_ms(self.time.ms(self.delay));
        }
        if self.emit == Emit::ChangelogBuilder {
            o = o.changelog(true);
        }
        if self.form == Form::ClauseNoColumn {
            o = o.event_time("ts");
        }
        o
    }

    /// The calls made on the query, in order.
    fn steps(&self) -> Vec<Step> {
        let mut ranges = Vec::new();
        let mut start = 0;
        let mut sizes = self.batch_sizes.iter().cycle();
        while start < self.rows.len() {
            let n = (*sizes.next().unwrap_or(&1)).max(1);
            let end = (start + n).min(self.rows.len());
            ranges.push(start..end);
            start = end;
        }
        if ranges.is_empty() {
            ranges.push(0..0);
        }
        let mut steps = Vec::new();
        let mut groups = self.push_groups.iter().cycle();
        let mut advances = self.advances.iter().cycle();
        let mut ranges = ranges.into_iter().peekable();
        let mut max_seen: Option<i64> = None;
        let (q, _) = self.time.quantum();
        while ranges.peek().is_some() {
            let n = (*groups.next().unwrap_or(&1)).max(1);
            let group: Vec<Range<usize>> = ranges.by_ref().take(n).collect();
            for r in &group {
                for row in &self.rows[r.clone()] {
                    max_seen = max_seen.max(row.ts);
                }
            }
            steps.push(Step::Push(group));
            if let Some(Some(delta)) = advances.next() {
                let base = max_seen.unwrap_or(0).div_euclid(q) * q;
                steps.push(Step::Advance(base + self.time.ticks(*delta)));
            }
        }
        steps.push(Step::Finish);
        steps
    }
}

/// One call on the query.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    /// `push` (one batch) or `push_batches` (several) of these row ranges.
    Push(Vec<Range<usize>>),
    /// `advance_watermark` to these ticks (whole quanta: exact in milliseconds).
    Advance(i64),
    Finish,
}

// ---------------------------------------------------------------------------------------
// result cells
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Cell {
    Null,
    /// Integers, BIGINT sums (DECIMAL(38,0)), timestamps (raw ticks).
    Int(i128),
    /// A float with the tolerance it is compared with.
    Float(f64, f64),
    Str(String),
}

/// Compares an engine cell (`actual`, its floats with tolerance 0) with a model cell.
fn same(actual: &Cell, expected: &Cell) -> bool {
    match (actual, expected) {
        (Cell::Null, Cell::Null) => true,
        (Cell::Int(a), Cell::Int(b)) => a == b,
        (Cell::Str(a), Cell::Str(b)) => a == b,
        (Cell::Float(a, _), Cell::Float(b, tol)) => a == b || (a - b).abs() <= *tol,
        _ => false,
    }
}

fn same_rows(actual: &[Vec<Cell>], expected: &[Vec<Cell>]) -> bool {
    actual.len() == expected.len()
        && actual
            .iter()
            .zip(expected)
            .all(|(a, e)| a.len() == e.len() && a.iter().zip(e).all(|(x, y)| same(x, y)))
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
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            let a = column.as_primitive::<TimestampMillisecondType>();
            cells(&|i| Cell::Int(a.value(i) as i128))
        }
        DataType::Timestamp(TimeUnit::Second, _) => {
            let a = column.as_primitive::<TimestampSecondType>();
            cells(&|i| Cell::Int(a.value(i) as i128))
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            let a = column.as_primitive::<TimestampMicrosecondType>();
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

/// Tolerance for a float computed from `values`: 1e-9 relative to their magnitude.
fn tolerance(values: &[f64]) -> f64 {
    let scale = values.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    1e-9 * scale * (values.len().max(1) as f64)
}

fn evaluate(agg: Agg, rows: &[Row]) -> Cell {
    if agg.func == Func::CountStar {
        return Cell::Int(rows.len() as i128);
    }
    match agg.arg {
        Arg::X => {
            let xs: Vec<i64> = rows.iter().filter_map(|r| r.x).collect();
            if agg.func == Func::Count {
                return Cell::Int(xs.len() as i128);
            }
            if xs.is_empty() {
                return Cell::Null;
            }
            let sum: i128 = xs.iter().map(|&v| v as i128).sum();
            match agg.func {
                Func::Sum => Cell::Int(sum),
                Func::Avg => {
                    let avg = sum as f64 / xs.len() as f64;
                    Cell::Float(avg, 1e-9 * avg.abs().max(1.0))
                }
                Func::Min => Cell::Int(xs.iter().copied().min().unwrap_or(0) as i128),
                Func::Max => Cell::Int(xs.iter().copied().max().unwrap_or(0) as i128),
                Func::CountStar | Func::Count => unreachable!("handled above"),
            }
        }
        Arg::Y => {
            let ys: Vec<f64> = rows.iter().filter_map(|r| r.y).collect();
            if agg.func == Func::Count {
                return Cell::Int(ys.len() as i128);
            }
            if ys.is_empty() {
                return Cell::Null;
            }
            let sum: f64 = ys.iter().sum();
            match agg.func {
                Func::Sum => Cell::Float(sum, tolerance(&ys)),
                Func::Avg => Cell::Float(sum / ys.len() as f64, tolerance(&ys)),
                Func::Min => Cell::Float(ys.iter().copied().fold(f64::INFINITY, f64::min), 0.0),
                Func::Max => Cell::Float(ys.iter().copied().fold(f64::NEG_INFINITY, f64::max), 0.0),
                Func::CountStar | Func::Count => unreachable!("handled above"),
            }
        }
    }
}

/// The window grid in ticks.
#[derive(Debug, Clone, Copy)]
enum Grid {
    /// Tumbling (slide = size) and sliding windows.
    Sliding {
        size: i64,
        slide: i64,
        offset: i64,
    },
    Session {
        gap: i64,
    },
}

/// One open (window, group) of a tumbling or sliding window.
#[derive(Debug, Default)]
struct Pane {
    rows: Vec<Row>,
    /// Emitted and currently satisfying HAVING (changelog bookkeeping).
    visible: bool,
}

/// One open session of a key.
#[derive(Debug)]
struct Session {
    id: u64,
    first: i64,
    last: i64,
    rows: Vec<Row>,
    visible: bool,
}

/// What changed within a batch, for EMIT CHANGES.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Changed {
    /// (window start, group key) of a tumbling or sliding window.
    Pane(i64, Vec<Key>),
    /// (group key, session id).
    Session(Vec<Key>, u64),
}

/// The engine contract, one row at a time. Times are `i128` ticks so that ±∞ and sums
/// never overflow.
struct Model<'a> {
    case: &'a Case,
    grid: Grid,
    delay: i128,
    wm: i128,
    panes: BTreeMap<(i64, Vec<Key>), Pane>,
    sessions: BTreeMap<Vec<Key>, Vec<Session>>,
    next_session: u64,
    late_rows: Vec<Row>,
    late_count: u64,
    null_time_count: u64,
}

const MINUS_INFINITY: i128 = i128::MIN;
const PLUS_INFINITY: i128 = i128::MAX;

impl<'a> Model<'a> {
    fn new(case: &'a Case) -> Self {
        let t = |q: i64| case.time.ticks(q);
        let grid = match case.window {
            Window::Tumbling { size, offset } => Grid::Sliding {
                size: t(size),
                slide: t(size),
                offset: t(offset),
            },
            Window::Sliding {
                size,
                slide,
                offset,
            } => Grid::Sliding {
                size: t(size),
                slide: t(slide),
                offset: t(offset),
            },
            Window::Session { gap } => Grid::Session { gap: t(gap) },
        };
        Model {
            case,
            grid,
            delay: t(case.delay) as i128,
            wm: MINUS_INFINITY,
            panes: BTreeMap::new(),
            sessions: BTreeMap::new(),
            next_session: 0,
            late_rows: Vec::new(),
            late_count: 0,
            null_time_count: 0,
        }
    }

    fn passes(&self, rows: &[Row]) -> bool {
        self.case.having.is_none_or(|h| h.passes(rows))
    }

    /// One output row: keys, window bounds (when the form selects them), aggregates.
    fn values(&self, key: &[Key], start: i64, end: i64, rows: &[Row]) -> Vec<Cell> {
        let mut row: Vec<Cell> = key.iter().map(Key::cell).collect();
        if self.case.form.selects_bounds(self.case.window) {
            row.push(Cell::Int(start as i128));
            row.push(Cell::Int(end as i128));
        }
        row.extend(self.case.aggs.iter().map(|a| evaluate(*a, rows)));
        row
    }

    /// Processes one batch; returns its output rows.
    fn push(&mut self, rows: &[Row]) -> Vec<Vec<Cell>> {
        let wm_before = self.wm;
        // the first change of each (window, group) within the batch: (row index, start)
        let mut changed: BTreeMap<Changed, (usize, i64)> = BTreeMap::new();
        for (i, r) in rows.iter().enumerate() {
            if self.case.filter_rows && r.x.is_none_or(|x| x <= -500) {
                continue;
            }
            let Some(t) = r.ts else {
                self.null_time_count += 1;
                continue;
            };
            let key = self.case.keys.of(r);
            match self.grid {
                Grid::Sliding {
                    size,
                    slide,
                    offset,
                } => {
                    let last_start = (t - offset).div_euclid(slide) * slide + offset;
                    if (last_start as i128 + size as i128) <= wm_before {
                        self.late(r);
                        continue;
                    }
                    // every window [s, s + size) of the grid with s <= t < s + size
                    let mut s = last_start;
                    while (s as i128) + (size as i128) > t as i128 {
                        if (s as i128) + (size as i128) > wm_before {
                            self.panes
                                .entry((s, key.clone()))
                                .or_default()
                                .rows
                                .push(r.clone());
                            changed
                                .entry(Changed::Pane(s, key.clone()))
                                .or_insert((i, s));
                        }
                        s -= slide;
                    }
                }
                Grid::Session { gap } => {
                    if t as i128 + gap as i128 <= wm_before {
                        self.late(r);
                        continue;
                    }
                    let open = self.sessions.entry(key.clone()).or_default();
                    let (joined, kept): (Vec<Session>, Vec<Session>) = open
                        .drain(..)
                        .partition(|s| t < s.last + gap && t > s.first - gap);
                    *open = kept;
                    let mut merged = Session {
                        id: joined
                            .iter()
                            .map(|s| s.id)
                            .min()
                            .unwrap_or(self.next_session),
                        first: t,
                        last: t,
                        rows: Vec::new(),
                        visible: false,
                    };
                    if joined.is_empty() {
                        self.next_session += 1;
                    }
                    let mut first_change = (i, 0);
                    for s in joined {
                        merged.first = merged.first.min(s.first);
                        merged.last = merged.last.max(s.last);
                        merged.rows.extend(s.rows);
                        merged.visible |= s.visible;
                        if let Some(c) = changed.remove(&Changed::Session(key.clone(), s.id)) {
                            first_change = first_change.min(c);
                        }
                    }
                    merged.rows.push(r.clone());
                    changed.insert(Changed::Session(key.clone(), merged.id), first_change);
                    open.push(merged);
                }
            }
        }
        let mut out = Vec::new();
        if !self.case.emit.is_final() {
            let mut order: Vec<(Changed, (usize, i64))> = changed.into_iter().collect();
            order.sort_by_key(|(_, first)| *first);
            for (what, _) in order {
                let (row, pass, visible) = match &what {
                    Changed::Pane(s, key) => {
                        let Grid::Sliding { size, .. } = self.grid else {
                            unreachable!("panes belong to sliding grids")
                        };
                        let pane = &self.panes[&(*s, key.clone())];
                        (
                            self.values(key, *s, s + size, &pane.rows),
                            self.passes(&pane.rows),
                            pane.visible,
                        )
                    }
                    Changed::Session(key, id) => {
                        let Grid::Session { gap } = self.grid else {
                            unreachable!("sessions belong to session grids")
                        };
                        let s = self.sessions[key]
                            .iter()
                            .find(|s| s.id == *id)
                            .expect("a changed session is open");
                        (
                            self.values(key, s.first, s.last + gap, &s.rows),
                            self.passes(&s.rows),
                            s.visible,
                        )
                    }
                };
                match what {
                    Changed::Pane(s, key) => {
                        if let Some(p) = self.panes.get_mut(&(s, key)) {
                            p.visible = pass;
                        }
                    }
                    Changed::Session(key, id) => {
                        if let Some(s) = self
                            .sessions
                            .get_mut(&key)
                            .and_then(|v| v.iter_mut().find(|s| s.id == id))
                        {
                            s.visible = pass;
                        }
                    }
                }
                if self.case.emit.changelog() {
                    let op = match (pass, visible) {
                        (true, false) => "insert",
                        (true, true) => "update",
                        (false, true) => "delete",
                        (false, false) => continue,
                    };
                    let mut row = row;
                    row.push(Cell::Str(op.to_string()));
                    out.push(row);
                } else if pass {
                    out.push(row);
                }
            }
        }
        // the watermark moves once, after the batch, by the raw batch (before WHERE)
        if let Some(max) = rows.iter().filter_map(|r| r.ts).max() {
            self.wm = self.wm.max(max as i128 - self.delay);
        }
        out.extend(self.close());
        out
    }

    fn late(&mut self, r: &Row) {
        self.late_count += 1;
        if self.case.collect_late {
            self.late_rows.push(r.clone());
        }
    }

    /// `advance_watermark(ticks)`.
    fn advance(&mut self, ticks: i64) -> Vec<Vec<Cell>> {
        self.wm = self.wm.max(ticks as i128);
        self.close()
    }

    fn finish(&mut self) -> Vec<Vec<Cell>> {
        self.wm = PLUS_INFINITY;
        self.close()
    }

    /// Closes every window with end `<= wm`; EMIT FINAL rows of the closed ones.
    fn close(&mut self) -> Vec<Vec<Cell>> {
        let wm = self.wm;
        // (start, key sort order, row)
        let mut closed: Vec<(i64, Vec<Key>, i64, Vec<Row>)> = Vec::new();
        match self.grid {
            Grid::Sliding { size, .. } => {
                let ends: Vec<(i64, Vec<Key>)> = self
                    .panes
                    .keys()
                    .filter(|(s, _)| (*s as i128) + (size as i128) <= wm)
                    .cloned()
                    .collect();
                for (s, key) in ends {
                    let pane = self.panes.remove(&(s, key.clone())).expect("listed");
                    closed.push((s, key, s + size, pane.rows));
                }
            }
            Grid::Session { gap } => {
                for (key, open) in self.sessions.iter_mut() {
                    let (done, kept): (Vec<Session>, Vec<Session>) = open
                        .drain(..)
                        .partition(|s| (s.last as i128) + (gap as i128) <= wm);
                    *open = kept;
                    for s in done {
                        closed.push((s.first, key.clone(), s.last + gap, s.rows));
                    }
                }
                self.sessions.retain(|_, v| !v.is_empty());
            }
        }
        if !self.case.emit.is_final() {
            return Vec::new();
        }
        closed
            .sort_by_key(|(s, key, _, _)| (*s, key.iter().map(Key::sort_key).collect::<Vec<_>>()));
        closed
            .iter()
            .filter(|(_, _, _, rows)| self.passes(rows))
            .map(|(s, key, e, rows)| self.values(key, *s, *e, rows))
            .collect()
    }
}

/// What the model (or the engine) produced: the rows of every step, the late rows and
/// the counters.
#[derive(Debug)]
struct Run {
    steps: Vec<Vec<Vec<Cell>>>,
    late_rows: Vec<Vec<Cell>>,
    late_count: u64,
    null_time_count: u64,
}

fn model(case: &Case) -> Run {
    let mut m = Model::new(case);
    let mut steps = Vec::new();
    for step in case.steps() {
        steps.push(match step {
            Step::Push(ranges) => {
                let mut out = Vec::new();
                for r in ranges {
                    out.extend(m.push(&case.rows[r]));
                }
                out
            }
            Step::Advance(ticks) => m.advance(ticks),
            Step::Finish => m.finish(),
        });
    }
    Run {
        steps,
        late_rows: m.late_rows.iter().map(row_cells).collect(),
        late_count: m.late_count,
        null_time_count: m.null_time_count,
    }
}

// ---------------------------------------------------------------------------------------
// running the engine
// ---------------------------------------------------------------------------------------

fn run_engine(case: &Case) -> Result<Run, String> {
    let sql = case.sql();
    let schema = schema(case.time);
    let engine = Engine::with_partitions(case.partitions).with_min_parallel_rows(0);
    let mut q = engine
        .query(&sql, &[("t", schema.clone())], case.options())
        .map_err(|e| format!("plan: {e}"))?;
    check_output_schema(case, &q.output_schema())?;
    let whole = batch_of(&case.rows, case.time);
    let mut steps = Vec::new();
    let mut late = Vec::new();
    for step in case.steps() {
        let out = match &step {
            Step::Push(ranges) => {
                let batches: Vec<RecordBatch> = ranges
                    .iter()
                    .map(|r| whole.slice(r.start, r.len()))
                    .collect();
                let out = if batches.len() == 1 {
                    q.push("t", batches[0].clone())
                } else {
                    q.push_batches("t", batches)
                }
                .map_err(|e| format!("{step:?}: {e}"))?;
                if ranges.len() == 1 && case.emit.is_final() {
                    let nonempty = out.iter().filter(|b| b.num_rows() > 0).count();
                    if nonempty > 1 {
                        return Err(format!(
                            "{step:?}: EMIT FINAL gave {nonempty} result batches for one input batch"
                        ));
                    }
                }
                out
            }
            Step::Advance(ticks) => {
                let (q_ticks, q_ms) = case.time.quantum();
                q.advance_watermark(ticks / q_ticks * q_ms)
                    .map_err(|e| format!("{step:?}: {e}"))?
            }
            Step::Finish => q.finish().map_err(|e| format!("finish: {e}"))?,
        };
        for b in &out {
            if b.schema().fields() != q.output_schema().fields() {
                return Err(format!(
                    "{step:?}: a result batch has schema {:?}, output_schema() is {:?}",
                    b.schema(),
                    q.output_schema()
                ));
            }
        }
        steps.push(batch_rows(&out));
        for b in q.take_late_rows() {
            if b.schema().fields() != schema.fields() {
                return Err(format!(
                    "late rows have schema {:?}, the input {:?}",
                    b.schema(),
                    schema
                ));
            }
            late.push(b);
        }
    }
    let m = q.metrics();
    if matches!(
        case.window,
        Window::Tumbling { .. } | Window::Sliding { .. }
    ) && m.windows_opened != m.windows_closed
    {
        return Err(format!(
            "after finish(): {} windows opened, {} closed",
            m.windows_opened, m.windows_closed
        ));
    }
    Ok(Run {
        steps,
        late_rows: batch_rows(&late),
        late_count: m.late_rows,
        null_time_count: m.null_event_time_rows,
    })
}

/// Window bounds have the type of the time column; `_op` comes last.
fn check_output_schema(case: &Case, s: &SchemaRef) -> Result<(), String> {
    let names: Vec<&str> = s.fields().iter().map(|f| f.name().as_str()).collect();
    let mut expected: Vec<&str> = case.keys.names().to_vec();
    if case.form.selects_bounds(case.window) {
        expected.extend(["ws", "we"]);
    }
    let n_aggs = case.aggs.len();
    if names.len() != expected.len() + n_aggs + usize::from(case.emit.changelog()) {
        return Err(format!("output columns {names:?}"));
    }
    if names[..expected.len()] != expected[..] {
        return Err(format!(
            "output columns {names:?} do not start with {expected:?}"
        ));
    }
    for bound in ["ws", "we"] {
        if let Ok(f) = s.field_with_name(bound)
            && f.data_type() != &case.time.data_type()
        {
            return Err(format!(
                "{bound} has type {}, the time column {}",
                f.data_type(),
                case.time.data_type()
            ));
        }
    }
    if case.emit.changelog() && names.last() != Some(&"_op") {
        return Err(format!("output columns {names:?}: `_op` is not last"));
    }
    Ok(())
}

fn show(rows: &[Vec<Cell>]) -> String {
    rows.iter()
        .map(|r| format!("    {r:?}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Compares two runs; a message naming the first difference.
fn compare(what: &str, actual: &Run, expected: &Run) -> Result<(), String> {
    for (i, (a, e)) in actual.steps.iter().zip(&expected.steps).enumerate() {
        if !same_rows(a, e) {
            return Err(format!(
                "{what}: step {i}: {} rows:\n{}\nexpected {} rows:\n{}",
                a.len(),
                show(a),
                e.len(),
                show(e)
            ));
        }
    }
    if actual.steps.len() != expected.steps.len() {
        return Err(format!(
            "{what}: {} steps, expected {}",
            actual.steps.len(),
            expected.steps.len()
        ));
    }
    if actual.late_count != expected.late_count {
        return Err(format!(
            "{what}: late_rows = {}, expected {}",
            actual.late_count, expected.late_count
        ));
    }
    if actual.null_time_count != expected.null_time_count {
        return Err(format!(
            "{what}: null_event_time_rows = {}, expected {}",
            actual.null_time_count, expected.null_time_count
        ));
    }
    if !same_rows(&actual.late_rows, &expected.late_rows) {
        return Err(format!(
            "{what}: late rows:\n{}\nexpected:\n{}",
            show(&actual.late_rows),
            show(&expected.late_rows)
        ));
    }
    Ok(())
}

fn describe(case: &Case) -> String {
    format!(
        "{}\n  time {:?}, window {:?} (quanta), delay {} quanta, partitions {}, collect_late {}\n  steps {:?}",
        case.sql(),
        case.time,
        case.window,
        case.delay,
        case.partitions,
        case.collect_late,
        case.steps()
    )
}

fn check(case: &Case) -> Result<(), TestCaseError> {
    let expected = model(case);
    let actual =
        run_engine(case).map_err(|e| TestCaseError::fail(format!("{}\n{e}", describe(case))))?;
    compare(&describe(case), &actual, &expected).map_err(TestCaseError::fail)
}

// ---------------------------------------------------------------------------------------
// random cases
// ---------------------------------------------------------------------------------------

fn time_type() -> impl Strategy<Value = TimeType> {
    prop_oneof![
        4 => Just(TimeType::TimestampMs),
        4 => Just(TimeType::Int64Ms),
        1 => Just(TimeType::TimestampS),
        1 => Just(TimeType::TimestampUs),
    ]
}

/// Sizes in quanta (a quantum is 1 ms, or 1 s for a SECOND column).
fn size_quanta() -> impl Strategy<Value = i64> {
    prop_oneof![
        3 => prop::sample::select(vec![1i64, 2, 3, 5, 7, 10]),
        2 => prop::sample::select(vec![60i64, 100, 1_000, 60_000]),
        1 => 1i64..500,
    ]
}

fn window() -> impl Strategy<Value = Window> {
    let tumbling =
        (size_quanta(), prop::option::weighted(0.3, 0.0f64..1.0)).prop_map(|(size, offset)| {
            Window::Tumbling {
                size,
                offset: offset.map_or(0, |f| (f * size as f64) as i64),
            }
        });
    // slide divides size
    let sliding = (
        size_quanta(),
        prop_oneof![1i64..=6, Just(60i64)],
        prop::option::weighted(0.3, 0.0f64..1.0),
    )
        .prop_map(|(slide, factor, offset)| {
            let size = slide * factor;
            Window::Sliding {
                size,
                slide,
                offset: offset.map_or(0, |f| (f * size as f64) as i64),
            }
        });
    let session = size_quanta().prop_map(|gap| Window::Session { gap });
    prop_oneof![tumbling, sliding, session]
}

/// The distance (in quanta) that makes rows fall into neighbouring windows.
fn scale(w: Window) -> i64 {
    match w {
        Window::Tumbling { size, .. } => size,
        Window::Sliding { slide, .. } => slide,
        Window::Session { gap } => gap,
    }
}

fn form(w: Window, keys: Keys) -> impl Strategy<Value = Form> {
    let mut forms = vec![
        Form::Clause,
        Form::ClauseFirst,
        Form::ClauseNoColumn,
        Form::Tvf,
    ];
    let offset = match w {
        Window::Tumbling { offset, .. } | Window::Sliding { offset, .. } => offset,
        Window::Session { .. } => 0,
    };
    if offset == 0 {
        forms.push(Form::GroupFunction);
        if matches!(w, Window::Tumbling { .. }) {
            forms.push(Form::ClauseTumbleStart);
        }
    }
    if matches!(w, Window::Session { .. }) && keys != Keys::None {
        forms.push(Form::TvfPartitionBy);
    }
    prop::sample::select(forms)
}

fn int_key(high_cardinality: bool) -> BoxedStrategy<Option<i64>> {
    if high_cardinality {
        prop::option::weighted(0.9, -100_000i64..100_000).boxed()
    } else {
        prop::option::weighted(0.8, -1i64..3).boxed()
    }
}

fn string_key(high_cardinality: bool) -> BoxedStrategy<Option<String>> {
    if high_cardinality {
        prop::option::weighted(0.9, "[a-z]{0,12}").boxed()
    } else {
        prop::option::weighted(
            0.8,
            prop::sample::select(vec!["", "a", "b", "B", "abcdefghijklm"]).prop_map(str::to_string),
        )
        .boxed()
    }
}

/// How far the next row's trend time moves: 0, a little, about a window, or very far.
#[derive(Debug, Clone, Copy)]
enum Trend {
    Same,
    Small,
    Window,
    Huge,
}

fn increment() -> impl Strategy<Value = Trend> {
    prop_oneof![
        1 => Just(Trend::Same),
        12 => Just(Trend::Small),
        4 => Just(Trend::Window),
        1 => Just(Trend::Huge),
    ]
}

/// Event times: a trend that moves by random increments, plus a jitter of up to
/// `jitter` scales either way (out-of-order rows), some NULL.
fn rows(
    time: TimeType,
    w: Window,
    base: i64,
    jitter: f64,
    int_high: bool,
    str_high: bool,
) -> impl Strategy<Value = Vec<Row>> {
    let scale_ticks = time.ticks(scale(w)) as f64;
    let sizes = prop_oneof![5 => 0usize..100, 1 => 300usize..1200];
    sizes.prop_flat_map(move |n| {
        prop::collection::vec(
            (
                (int_key(int_high), string_key(str_high)),
                prop::bool::weighted(0.06),
                increment(),
                0.0f64..1.0,
                -1.0f64..1.0,
                prop::option::weighted(
                    0.85,
                    prop_oneof![8 => -1000i64..1000, 1 => -100_000_000_000i64..100_000_000_000],
                ),
                prop::option::weighted(
                    0.85,
                    prop_oneof![
                        (-400i32..400).prop_map(|q| q as f64 / 4.0),
                        -1.0e6f64..1.0e6
                    ],
                ),
            ),
            n,
        )
        .prop_map(move |raw| {
            let mut trend = base;
            raw.into_iter()
                .map(|((k, g), null_ts, inc, frac, jit, x, y)| {
                    let step = match inc {
                        Trend::Same => 0.0,
                        Trend::Small => frac * scale_ticks / 3.0,
                        Trend::Window => scale_ticks * (0.5 + 1.5 * frac),
                        Trend::Huge => scale_ticks * (50.0 + 5_000.0 * frac),
                    };
                    trend += step.round() as i64;
                    let ts =
                        (!null_ts).then(|| trend + (jit * jitter * scale_ticks).round() as i64);
                    Row { k, g, ts, x, y }
                })
                .collect()
        })
    })
}

fn case() -> impl Strategy<Value = Case> {
    (time_type(), window(), any::<bool>(), any::<bool>())
        .prop_flat_map(|(time, w, int_high, str_high)| {
            let sc = scale(w);
            let base = prop_oneof![
                Just(0i64),
                Just(-(13 * time.ticks(sc)) - 7),
                Just(1_700_000_000 * time.per_second()),
            ];
            let jitter =
                prop_oneof![2 => Just(0.0f64), 1 => Just(0.5), 1 => Just(2.0), 1 => Just(4.0)];
            let keys = prop::sample::select(vec![Keys::None, Keys::K, Keys::G, Keys::KG, Keys::GK]);
            (
                Just(time),
                Just(w),
                base,
                jitter,
                keys,
                Just((int_high, str_high)),
            )
        })
        .prop_flat_map(|(time, w, base, jitter, keys, (int_high, str_high))| {
            let sc = scale(w);
            (
                (
                    rows(time, w, base, jitter, int_high, str_high),
                    Just(time),
                    Just(w),
                    form(w, keys),
                    Just(keys),
                ),
                (
                    prop::collection::vec(
                        (
                            prop::sample::select(vec![
                                Func::CountStar,
                                Func::Count,
                                Func::Sum,
                                Func::Avg,
                                Func::Min,
                                Func::Max,
                            ]),
                            prop::sample::select(vec![Arg::X, Arg::Y]),
                        )
                            .prop_map(|(func, arg)| Agg { func, arg }),
                        1..4,
                    ),
                    prop::bool::weighted(0.3),
                    prop::option::weighted(
                        0.3,
                        prop_oneof![
                            (0i64..3).prop_map(Having::CountAbove),
                            (-50i64..50).prop_map(Having::SumXAtLeast),
                        ],
                    ),
                    prop::sample::select(vec![
                        Emit::Final,
                        Emit::Default,
                        Emit::Changes,
                        Emit::ChangelogBuilder,
                        Emit::ChangelogSql,
                    ]),
                ),
                (
                    prop_oneof![2 => Just(0i64), 3 => 0..=3 * sc],
                    any::<bool>(),
                    0u8..4,
                    prop::collection::vec(prop_oneof![Just(1usize), 1usize..8, 8usize..64], 1..4),
                    prop::collection::vec(prop_oneof![3 => Just(1usize), 1 => 2usize..=3], 1..3),
                    prop::collection::vec(prop::option::weighted(0.15, -2 * sc..=3 * sc), 1..4),
                    1usize..=2,
                    prop::bool::weighted(0.8),
                ),
            )
        })
        .prop_map(
            |(
                (rows, time, window, form, keys),
                (aggs, filter_rows, having, emit),
                (
                    delay,
                    delay_in_sql,
                    duration_style,
                    batch_sizes,
                    push_groups,
                    advances,
                    partitions,
                    collect_late,
                ),
            )| Case {
                rows,
                time,
                window,
                form,
                keys,
                aggs,
                filter_rows,
                having,
                emit,
                delay,
                delay_in_sql,
                duration_style,
                batch_sizes,
                push_groups,
                advances,
                partitions,
                collect_late,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn windows_match_the_reference(case in case()) {
        check(&case)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    /// Sliding windows of 2 to 12 slides, EMIT FINAL, with a delay of 0 to 4 slides over
    /// rows out of order: closing windows are served from the suffix / prefix stacks of
    /// pane aggregates, which a row reaching an already covered pane must invalidate.
    #[test]
    fn sliding_final_windows_match_the_reference(
        case in case(),
        factor in 2i64..=12,
        delay_slides in 0i64..=4,
    ) {
        let mut case = case;
        let slide = scale(case.window).max(1);
        case.window = Window::Sliding { size: slide * factor, slide, offset: 0 };
        case.emit = Emit::Final;
        case.delay = delay_slides * slide;
        if matches!(case.form, Form::ClauseTumbleStart | Form::TvfPartitionBy) {
            case.form = Form::Clause;
        }
        check(&case)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// The same stream in order and with its rows shuffled within the delay: every row
    /// arrives before the watermark passes its window, so nothing is late and EMIT FINAL
    /// gives the same rows.
    #[test]
    fn disorder_within_the_delay_changes_nothing(case in case(), seed in any::<u64>()) {
        let mut case = case;
        if !case.emit.is_final() {
            case.emit = Emit::Final;
        }
        case.advances = vec![None];
        case.rows.retain(|r| r.ts.is_some());
        case.rows.sort_by_key(|r| r.ts);
        let in_order = model(&case);
        // swap neighbours no further apart than the delay (at least one scale)
        let sc = case.time.ticks(scale(case.window).max(case.delay));
        case.delay = case.delay.max(scale(case.window));
        let mut state = seed | 1;
        for i in 1..case.rows.len() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let (a, b) = (case.rows[i - 1].ts, case.rows[i].ts);
            if state % 3 == 0 && b.zip(a).is_some_and(|(b, a)| b - a <= sc) {
                case.rows.swap(i - 1, i);
            }
        }
        let expected = model(&case);
        prop_assert_eq!(expected.late_count, 0);
        // the model agrees with itself: only the emission steps may differ, not the rows
        let flat = |r: &Run| r.steps.iter().flatten().cloned().collect::<Vec<_>>();
        let mut a = flat(&in_order);
        let mut b = flat(&expected);
        let order = |r: &Vec<Cell>| format!("{r:?}");
        a.sort_by_key(order);
        b.sort_by_key(order);
        prop_assert!(same_rows(&a, &b) || same_rows(&b, &a), "in order:\n{}\nshuffled:\n{}", show(&a), show(&b));
        check(&case)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    /// The model against itself (needs no engine): both emit modes see the same late and
    /// NULL-time rows; every row that passes WHERE with a time is late or counted (once
    /// in a tumbling window or session, in 1 to size/slide sliding windows); and the last
    /// EMIT CHANGES row of every (window, group) is its EMIT FINAL row.
    #[test]
    fn the_model_is_consistent_across_emit_modes(case in case()) {
        let mut base = case;
        base.having = None;
        base.aggs = vec![
            Agg { func: Func::CountStar, arg: Arg::X },
            Agg { func: Func::Sum, arg: Arg::Y },
        ];
        if !base.form.selects_bounds(base.window) {
            base.form = Form::Clause;
        }
        base.collect_late = true;
        let mut fin = base.clone();
        fin.emit = Emit::Final;
        let mut chg = base.clone();
        chg.emit = Emit::Changes;
        let (f, c) = (model(&fin), model(&chg));
        prop_assert_eq!(f.late_count, c.late_count);
        prop_assert_eq!(f.null_time_count, c.null_time_count);
        prop_assert!(same_rows(&f.late_rows, &c.late_rows));
        prop_assert_eq!(f.late_rows.len() as u64, f.late_count);
        let passing: Vec<&Row> = base
            .rows
            .iter()
            .filter(|r| !base.filter_rows || r.x.is_some_and(|x| x > -500))
            .collect();
        let nulls = passing.iter().filter(|r| r.ts.is_none()).count() as u64;
        prop_assert_eq!(f.null_time_count, nulls);
        let counted = passing.len() as i128 - nulls as i128 - f.late_count as i128;
        let n_keys = base.keys.names().len();
        let final_rows: Vec<Vec<Cell>> = f.steps.concat();
        let total: i128 = final_rows
            .iter()
            .map(|r| match r[n_keys + 2] {
                Cell::Int(n) => n,
                _ => 0,
            })
            .sum();
        match base.window {
            Window::Sliding { size, slide, .. } => {
                prop_assert!(counted <= total && total <= counted * (size / slide) as i128,
                    "{} rows counted {} times", counted, total);
            }
            _ => prop_assert_eq!(total, counted),
        }
        let change_rows: Vec<Vec<Cell>> = c.steps.concat();
        let ident = |r: &Vec<Cell>| format!("{:?}", &r[..n_keys + 2]);
        let mut last_change: std::collections::HashMap<String, &Vec<Cell>> =
            std::collections::HashMap::new();
        for row in &change_rows {
            last_change.insert(ident(row), row);
        }
        for row in &final_rows {
            let last = last_change.get(&ident(row));
            prop_assert!(
                last.is_some_and(|l| same_rows(std::slice::from_ref(*l), std::slice::from_ref(row))),
                "FINAL {:?}, last change {:?}", row, last
            );
        }
        if !matches!(base.window, Window::Session { .. }) {
            prop_assert_eq!(last_change.len(), final_rows.len());
        }
    }
}

// ---------------------------------------------------------------------------------------
// hand-computed cases: the model and the engine against expectations written out
// ---------------------------------------------------------------------------------------

fn r(k: Option<i64>, ts: Option<i64>, x: Option<i64>) -> Row {
    Row {
        k,
        g: k.map(|k| format!("g{k}")),
        ts,
        x,
        y: x.map(|x| x as f64 / 2.0),
    }
}

fn int(v: i64) -> Cell {
    Cell::Int(v as i128)
}

fn op(s: &str) -> Cell {
    Cell::Str(s.to_string())
}

/// A case with `COUNT(*)`, `SUM(x)` per `k`, one row per batch unless `batch_sizes`.
fn hand_case(rows: Vec<Row>, window: Window, emit: Emit, delay: i64) -> Case {
    Case {
        rows,
        time: TimeType::Int64Ms,
        window,
        form: Form::Clause,
        keys: Keys::K,
        aggs: vec![
            Agg {
                func: Func::CountStar,
                arg: Arg::X,
            },
            Agg {
                func: Func::Sum,
                arg: Arg::X,
            },
        ],
        filter_rows: false,
        having: None,
        emit,
        delay,
        delay_in_sql: false,
        duration_style: 1,
        batch_sizes: vec![1],
        push_groups: vec![1],
        advances: vec![None],
        partitions: 1,
        collect_late: true,
    }
}

/// Every applicable syntax form, time type, partition count and push grouping of `case`.
fn variants(case: &Case) -> Vec<Case> {
    let mut out = Vec::new();
    let forms = [
        Form::Clause,
        Form::ClauseFirst,
        Form::ClauseNoColumn,
        Form::ClauseTumbleStart,
        Form::Tvf,
        Form::TvfPartitionBy,
        Form::GroupFunction,
    ];
    let offset = match case.window {
        Window::Tumbling { offset, .. } | Window::Sliding { offset, .. } => offset,
        Window::Session { .. } => 0,
    };
    for form in forms {
        let ok = match form {
            Form::ClauseTumbleStart => {
                matches!(case.window, Window::Tumbling { .. }) && offset == 0
            }
            Form::GroupFunction => offset == 0,
            Form::TvfPartitionBy => {
                matches!(case.window, Window::Session { .. }) && case.keys != Keys::None
            }
            _ => true,
        };
        if !ok {
            continue;
        }
        for partitions in [1, 2] {
            for push_groups in [vec![1], vec![2, 1]] {
                for time in [TimeType::Int64Ms, TimeType::TimestampMs] {
                    let mut c = case.clone();
                    c.form = form;
                    c.partitions = partitions;
                    c.push_groups = push_groups.clone();
                    c.time = time;
                    out.push(c);
                }
            }
        }
    }
    out
}

/// A hand-computed case: the rows of every step (keys, bounds, COUNT(*), SUM(x)), and
/// the number of late rows.
struct Hand {
    case: Case,
    expected: Vec<Vec<Vec<Cell>>>,
    late: u64,
}

fn hand(case: Case, expected: Vec<Vec<Vec<Cell>>>, late: u64) -> Hand {
    Hand {
        case,
        expected,
        late,
    }
}

/// The model against the hand-computed results: rows per step, late rows (count and
/// the rows themselves) and NULL event times.
fn check_model(h: &Hand) {
    let run = model(&h.case);
    let late_rows: Vec<Vec<Cell>> = run.late_rows.clone();
    let want = Run {
        steps: h.expected.clone(),
        late_rows,
        late_count: h.late,
        null_time_count: h.case.rows.iter().filter(|r| r.ts.is_none()).count() as u64,
    };
    compare("the model", &run, &want).unwrap_or_else(|e| panic!("{}\n{e}", describe(&h.case)));
    assert_eq!(run.late_rows.len() as u64, h.late, "{}", describe(&h.case));
}

/// The engine against the model in every variant of a hand-computed case (the model
/// itself is checked by `the_model_gives_the_hand_computed_results`).
fn check_engine(hands: Vec<Hand>) {
    for h in hands {
        for v in variants(&h.case) {
            let expected = model(&v);
            let actual = run_engine(&v).unwrap_or_else(|e| panic!("{}\n{e}", describe(&v)));
            compare(&describe(&v), &actual, &expected).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

/// Tumbling 10 ms, delay 0, one row per batch: each batch's watermark is its own row's
/// time, so a row at exactly 10 closes [0, 10) and opens [10, 20); 3 comes after it
/// and is late; 25 is alone in [20, 30); [30, 40) stays empty and never appears.
fn tumbling_boundaries_and_lateness() -> Vec<Hand> {
    let mut hands = Vec::new();
    let rows = vec![
        r(Some(1), Some(0), Some(1)),
        r(Some(1), Some(9), Some(2)),
        r(Some(2), Some(9), Some(4)),
        r(Some(1), Some(10), Some(8)),
        r(Some(1), Some(3), Some(16)),
        r(Some(2), Some(45), Some(32)),
        r(Some(1), Some(25), Some(64)),
    ];
    let case = hand_case(
        rows,
        Window::Tumbling {
            size: 10,
            offset: 0,
        },
        Emit::Final,
        0,
    );
    let row =
        |k: i64, s: i64, n: i64, sum: i64| vec![int(k), int(s), int(s + 10), int(n), int(sum)];
    hands.push(hand(
        case,
        vec![
            vec![],
            vec![],
            vec![],
            // wm = 10 closes [0, 10): k = 1 then k = 2
            vec![row(1, 0, 2, 3), row(2, 0, 1, 4)],
            // 3 is late: its window ended at 10 <= wm
            vec![],
            // wm = 45 closes [10, 20)
            vec![row(1, 10, 1, 8)],
            // 25: window [20, 30) ends at 30 <= 45: late
            vec![],
            // finish
            vec![row(2, 40, 1, 32)],
        ],
        2,
    ));
    hands
}

/// The same rows with a delay of 20 ms: nothing is late, [0, 10) gets 3 as well.
fn tumbling_with_a_delay() -> Vec<Hand> {
    let mut hands = Vec::new();
    let rows = vec![
        r(Some(1), Some(0), Some(1)),
        r(Some(1), Some(9), Some(2)),
        r(Some(2), Some(9), Some(4)),
        r(Some(1), Some(10), Some(8)),
        r(Some(1), Some(3), Some(16)),
        r(Some(2), Some(45), Some(32)),
        r(Some(1), Some(25), Some(64)),
    ];
    let case = hand_case(
        rows,
        Window::Tumbling {
            size: 10,
            offset: 0,
        },
        Emit::Final,
        20,
    );
    let row =
        |k: i64, s: i64, n: i64, sum: i64| vec![int(k), int(s), int(s + 10), int(n), int(sum)];
    hands.push(hand(
        case,
        vec![
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            // wm = 45 - 20 = 25 closes [0, 10) and [10, 20)
            vec![row(1, 0, 3, 19), row(2, 0, 1, 4), row(1, 10, 1, 8)],
            // 25 is in [20, 30), end 30 > 25: on time
            vec![],
            vec![row(1, 20, 1, 64), row(2, 40, 1, 32)],
        ],
        0,
    ));
    hands
}

/// Sliding 30 / 10: a row updates only the windows still open. After 45 (wm 45),
/// [0, 30) and [10, 40) are closed; 29 then goes to [20, 50) only.
fn sliding_updates_only_open_windows() -> Vec<Hand> {
    let mut hands = Vec::new();
    let rows = vec![
        r(Some(1), Some(25), Some(1)),
        r(Some(1), Some(45), Some(2)),
        r(Some(1), Some(29), Some(4)),
        r(Some(1), Some(5), Some(8)),
    ];
    let w = Window::Sliding {
        size: 30,
        slide: 10,
        offset: 0,
    };
    let row = |s: i64, n: i64, sum: i64| vec![int(1), int(s), int(s + 30), int(n), int(sum)];
    let case = hand_case(rows.clone(), w, Emit::Final, 0);
    hands.push(hand(
        case,
        vec![
            // wm 25: no window of 25 has ended
            vec![],
            // wm 45: [0, 30) and [10, 40) close with 25 only
            vec![row(0, 1, 1), row(10, 1, 1)],
            // 29 → [20, 50) only; wm stays 45
            vec![],
            // 5: its last window [0, 30) ended: late
            vec![],
            vec![row(20, 3, 7), row(30, 1, 2), row(40, 1, 2)],
        ],
        1,
    ));
    // EMIT CHANGES with the changelog: each row's open windows in window-start order
    let case = hand_case(rows, w, Emit::ChangelogBuilder, 0);
    let ch = |s: i64, n: i64, sum: i64, o: &str| {
        vec![int(1), int(s), int(s + 30), int(n), int(sum), op(o)]
    };
    hands.push(hand(
        case,
        vec![
            vec![
                ch(0, 1, 1, "insert"),
                ch(10, 1, 1, "insert"),
                ch(20, 1, 1, "insert"),
            ],
            vec![
                ch(20, 2, 3, "update"),
                ch(30, 1, 2, "insert"),
                ch(40, 1, 2, "insert"),
            ],
            vec![ch(20, 3, 7, "update")],
            vec![],
            vec![],
        ],
        1,
    ));
    hands
}

/// Sessions with gap 10 and delay 20 (one key), one row per batch: 0 and 5 form
/// [0, 15); 30 starts [30, 40); 18 joins neither (18 >= 5 + 10, 18 <= 30 - 10) and
/// starts [18, 28); 24 joins [18, 28) (24 < 28) and [30, 40) (24 > 20): they merge into
/// [18, 40); 7 joins [0, 15) only (7 <= 18 - 10) → [0, 17). The watermark never passes
/// 10, so nothing closes before finish().
fn session_merges_by_a_bridging_row() -> Vec<Hand> {
    let mut hands = Vec::new();
    let rows = vec![
        r(Some(1), Some(0), Some(1)),
        r(Some(1), Some(5), Some(2)),
        r(Some(1), Some(30), Some(4)),
        r(Some(1), Some(18), Some(8)),
        r(Some(1), Some(24), Some(16)),
        r(Some(1), Some(7), Some(32)),
    ];
    let w = Window::Session { gap: 10 };
    let case = hand_case(rows.clone(), w, Emit::Final, 20);
    let row = |s: i64, e: i64, n: i64, sum: i64| vec![int(1), int(s), int(e), int(n), int(sum)];
    hands.push(hand(
        case,
        vec![
            vec![],
            vec![],
            // wm 10: [0, 15) still open
            vec![],
            vec![],
            vec![],
            // 7: 7 + 10 > wm 10, on time
            vec![],
            vec![row(0, 17, 3, 35), row(18, 40, 3, 28)],
        ],
        0,
    ));
    // EMIT CHANGES: every batch shows the session it changed (the merged one: update,
    // since [18, 28) had been emitted; the absorbed [30, 40) gets no delete)
    let case = hand_case(rows, w, Emit::ChangelogSql, 20);
    let ch = |s: i64, e: i64, n: i64, sum: i64, o: &str| {
        vec![int(1), int(s), int(e), int(n), int(sum), op(o)]
    };
    hands.push(hand(
        case,
        vec![
            vec![ch(0, 10, 1, 1, "insert")],
            vec![ch(0, 15, 2, 3, "update")],
            vec![ch(30, 40, 1, 4, "insert")],
            vec![ch(18, 28, 1, 8, "insert")],
            vec![ch(18, 40, 3, 28, "update")],
            vec![ch(0, 17, 3, 35, "update")],
            vec![],
        ],
        0,
    ));
    hands
}

/// Sessions: a row at exactly last + gap starts a new session; with delay 0 a session
/// closes as soon as the watermark reaches last + gap, and a row for its range after
/// that is either late (t + gap <= wm) or opens a new session.
fn session_boundaries_and_lateness() -> Vec<Hand> {
    let mut hands = Vec::new();
    let rows = vec![
        r(Some(1), Some(0), Some(1)),
        // 10 = 0 + gap: not inside [0, 10): a new session; wm 10 closes [0, 10)
        r(Some(1), Some(10), Some(2)),
        // 0 + 10 <= wm 10: late
        r(Some(1), Some(0), Some(4)),
        // 5: 5 + 10 > 10, not late; [10, 20) is open: 5 > 10 - 10 joins it → [5, 20)
        r(Some(1), Some(5), Some(8)),
        // another key, far away: wm 100 closes [5, 20)
        r(Some(2), Some(100), Some(16)),
        // 9: 9 + 10 <= 100: late
        r(Some(1), Some(9), Some(32)),
    ];
    let case = hand_case(rows, Window::Session { gap: 10 }, Emit::Final, 0);
    let row =
        |k: i64, s: i64, e: i64, n: i64, sum: i64| vec![int(k), int(s), int(e), int(n), int(sum)];
    hands.push(hand(
        case,
        vec![
            vec![],
            vec![row(1, 0, 10, 1, 1)],
            vec![],
            vec![],
            vec![row(1, 5, 20, 2, 10)],
            vec![],
            vec![row(2, 100, 110, 1, 16)],
        ],
        2,
    ));
    hands
}

/// Several rows per batch: rows are judged against the watermark before their batch
/// (so a batch's own rows are never late because of each other), the watermark moves
/// by the batch's largest time, and EMIT CHANGES lists (window, group)s in the order of
/// their first row in the batch.
fn batches_judge_rows_by_the_previous_watermark() -> Vec<Hand> {
    let mut hands = Vec::new();
    let rows = vec![
        // batch 1
        r(Some(2), Some(35), Some(1)),
        r(Some(1), Some(5), Some(2)),
        r(Some(2), Some(7), Some(4)),
        r(None, Some(36), Some(8)),
        // batch 2: wm 35
        r(Some(1), Some(31), Some(16)),
        r(Some(1), Some(29), Some(32)),
        r(Some(2), None, Some(64)),
        r(None, Some(38), Some(128)),
    ];
    let w = Window::Tumbling {
        size: 10,
        offset: 0,
    };
    let mut case = hand_case(rows.clone(), w, Emit::Final, 0);
    case.batch_sizes = vec![4];
    let row = |k: Option<i64>, s: i64, n: i64, sum: i64| {
        vec![
            k.map_or(Cell::Null, int),
            int(s),
            int(s + 10),
            int(n),
            int(sum),
        ]
    };
    hands.push(hand(
        case,
        vec![
            // wm 36 closes [0, 10): k 1 then 2
            vec![row(Some(1), 0, 1, 2), row(Some(2), 0, 1, 4)],
            // 29 is late (30 <= 36); the NULL time is dropped
            vec![],
            vec![
                row(Some(1), 30, 1, 16),
                row(Some(2), 30, 1, 1),
                row(None, 30, 2, 136),
            ],
        ],
        1,
    ));
    let mut case = hand_case(rows, w, Emit::Changes, 0);
    case.batch_sizes = vec![4];
    hands.push(hand(
        case,
        vec![
            vec![
                row(Some(2), 30, 1, 1),
                row(Some(1), 0, 1, 2),
                row(Some(2), 0, 1, 4),
                row(None, 30, 1, 8),
            ],
            vec![row(Some(1), 30, 1, 16), row(None, 30, 2, 136)],
            vec![],
        ],
        1,
    ));
    hands
}

/// advance_watermark closes windows between batches; the next row of a closed window
/// is late.
fn advance_watermark() -> Vec<Hand> {
    let mut hands = Vec::new();
    let rows = vec![
        r(Some(1), Some(1), Some(1)),
        r(Some(1), Some(12), Some(2)),
        r(Some(1), Some(15), Some(4)),
        r(Some(1), Some(27), Some(8)),
    ];
    let mut case = hand_case(
        rows,
        Window::Tumbling {
            size: 10,
            offset: 0,
        },
        Emit::Final,
        5,
    );
    // after push 1 (max 1): advance to 1 + 0 = 1; after push 2 (max 12): to 12 + 13 = 25
    case.advances = vec![Some(0), Some(13), None, None];
    let row = |s: i64, n: i64, sum: i64| vec![int(1), int(s), int(s + 10), int(n), int(sum)];
    hands.push(hand(
        case,
        vec![
            vec![],
            vec![],
            // wm 12 - 5 = 7: nothing closes
            vec![],
            // advance to 25 closes [0, 10) and [10, 20)
            vec![row(0, 1, 1), row(10, 1, 2)],
            // 15 is late
            vec![],
            vec![],
            vec![row(20, 1, 8)],
        ],
        1,
    ));
    hands
}

/// An offset shifts the grid: size 10, offset 3 gives windows [-7, 3), [3, 13), ...;
/// negative times floor correctly.
fn offset_and_negative_times() -> Vec<Hand> {
    let mut hands = Vec::new();
    let rows = vec![
        r(Some(1), Some(-8), Some(1)),
        r(Some(1), Some(-7), Some(2)),
        r(Some(1), Some(2), Some(4)),
        r(Some(1), Some(3), Some(8)),
    ];
    let mut case = hand_case(
        rows,
        Window::Tumbling {
            size: 10,
            offset: 3,
        },
        Emit::Final,
        100,
    );
    case.batch_sizes = vec![4];
    let row = |s: i64, n: i64, sum: i64| vec![int(1), int(s), int(s + 10), int(n), int(sum)];
    hands.push(hand(
        case,
        vec![vec![], vec![row(-17, 1, 1), row(-7, 2, 6), row(3, 1, 8)]],
        0,
    ));
    hands
}

#[test]
fn the_model_gives_the_hand_computed_results() {
    for h in [
        tumbling_boundaries_and_lateness(),
        tumbling_with_a_delay(),
        sliding_updates_only_open_windows(),
        session_merges_by_a_bridging_row(),
        session_boundaries_and_lateness(),
        batches_judge_rows_by_the_previous_watermark(),
        advance_watermark(),
        offset_and_negative_times(),
    ]
    .into_iter()
    .flatten()
    {
        check_model(&h);
    }
}

#[test]
fn engine_tumbling_boundaries_and_lateness() {
    check_engine(tumbling_boundaries_and_lateness());
}

#[test]
fn engine_tumbling_with_a_delay() {
    check_engine(tumbling_with_a_delay());
}

#[test]
fn engine_sliding_updates_only_open_windows() {
    check_engine(sliding_updates_only_open_windows());
}

#[test]
fn engine_session_merges_by_a_bridging_row() {
    check_engine(session_merges_by_a_bridging_row());
}

#[test]
fn engine_session_boundaries_and_lateness() {
    check_engine(session_boundaries_and_lateness());
}

#[test]
fn engine_batches_judge_rows_by_the_previous_watermark() {
    check_engine(batches_judge_rows_by_the_previous_watermark());
}

#[test]
fn engine_advance_watermark() {
    check_engine(advance_watermark());
}

#[test]
fn engine_offset_and_negative_times() {
    check_engine(offset_and_negative_times());
}

// ---------------------------------------------------------------------------------------
// the API around the windows
// ---------------------------------------------------------------------------------------

fn ms_schema() -> SchemaRef {
    schema(TimeType::TimestampMs)
}

fn one(ts: i64, k: i64, x: i64) -> RecordBatch {
    batch_of(&[r(Some(k), Some(ts), Some(x))], TimeType::TimestampMs)
}

/// Late rows come back unchanged (every column, input schema) and in arrival order,
/// only when asked for; both counters are kept either way.
#[test]
fn late_rows_are_returned_unchanged_only_when_collected() {
    let sql = "SELECT k, COUNT(*) FROM t GROUP BY k WINDOW TUMBLING(ts, INTERVAL '10' MILLISECOND)";
    for partitions in [1, 2] {
        for collect in [true, false] {
            let what = format!("{partitions} partitions, collect {collect}");
            let engine = Engine::with_partitions(partitions).with_min_parallel_rows(0);
            let mut q = engine
                .query(
                    sql,
                    &[("t", ms_schema())],
                    QueryOptions::default().collect_late_rows(collect),
                )
                .expect("plans");
            // wm 50 after this batch
            assert!(batch_rows(&q.push("t", one(50, 1, 1)).expect("push")).is_empty());
            // judged against wm 50: 3 ([0, 10)) and 40 ([40, 50)) are late, 55 is not
            let second = vec![
                r(Some(7), Some(3), Some(-5)),
                r(None, None, None),
                r(Some(8), Some(55), None),
                r(Some(9), Some(40), Some(6)),
            ];
            let out = q
                .push("t", batch_of(&second, TimeType::TimestampMs))
                .expect("push");
            assert!(batch_rows(&out).is_empty(), "{what}");
            let back = q.take_late_rows();
            let m = q.metrics();
            assert_eq!(m.late_rows, 2, "{what}");
            assert_eq!(m.null_event_time_rows, 1, "{what}");
            if collect {
                for b in &back {
                    assert_eq!(b.schema().fields(), ms_schema().fields(), "{what}");
                }
                let got = batch_rows(&back);
                let want: Vec<Vec<Cell>> = [&second[0], &second[3]]
                    .into_iter()
                    .map(row_cells)
                    .collect();
                assert!(
                    same_rows(&got, &want),
                    "{what}: late rows:\n{}\nexpected:\n{}",
                    show(&got),
                    show(&want)
                );
                assert!(
                    batch_rows(&q.take_late_rows()).is_empty(),
                    "{what}: taking empties the buffer"
                );
            } else {
                assert!(batch_rows(&back).is_empty(), "{what}");
            }
            // [50, 60): k 1 and k 8; the late rows opened nothing
            let out = batch_rows(&q.finish().expect("finish"));
            let want = vec![vec![int(1), int(1)], vec![int(8), int(1)]];
            assert!(same_rows(&out, &want), "{what}: {}", show(&out));
        }
    }
}

/// A row whose every window is closed is late; the same time with a larger delay is not.
#[test]
fn the_delay_option_and_with_clause_agree() {
    let rows = [(100, 1), (95, 2), (89, 4)];
    let run = |sql: &str, options: QueryOptions| {
        let engine = Engine::with_partitions(1).with_min_parallel_rows(0);
        let mut q = engine
            .query(sql, &[("t", ms_schema())], options)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let mut out = Vec::new();
        for (ts, x) in rows {
            out.extend(q.push("t", one(ts, 1, x)).expect("push"));
        }
        out.extend(q.finish().expect("finish"));
        (batch_rows(&out), q.metrics().late_rows)
    };
    let base = "SELECT COUNT(*), SUM(x) FROM t WINDOW TUMBLING(ts, 10ms)";
    let (a, late_a) = run(base, QueryOptions::default().watermark_delay_ms(10));
    let (b, late_b) = run(
        &format!("{base} WITH ('watermark.max_out_of_orderness' = '10ms')"),
        QueryOptions::default(),
    );
    // wm 90 after 100: 95 on time ([90, 100) ends 100 > 90), 89 late ([80, 90) ends 90 <= 90)
    let want = vec![vec![int(1), int(2)], vec![int(1), int(1)]];
    assert!(same_rows(&a, &want), "{}", show(&a));
    assert!(same_rows(&b, &want), "{}", show(&b));
    assert_eq!((late_a, late_b), (1, 1));
    let (c, late_c) = run(base, QueryOptions::default().watermark_delay_ms(11));
    let want = vec![
        vec![int(1), int(4)],
        vec![int(1), int(2)],
        vec![int(1), int(1)],
    ];
    assert!(same_rows(&c, &want), "{}", show(&c));
    assert_eq!(late_c, 0);
}

/// SECOND and MICROSECOND columns: durations are converted to the column's unit, the
/// bounds keep its type.
#[test]
fn second_and_microsecond_columns() {
    // SECOND: tumbling 1 minute; 0 s, 59 s, 60 s, 125 s
    let rows = vec![
        r(Some(1), Some(0), Some(1)),
        r(Some(1), Some(59), Some(2)),
        r(Some(1), Some(60), Some(4)),
        r(Some(1), Some(125), Some(8)),
    ];
    let mut case = hand_case(
        rows,
        Window::Tumbling {
            size: 60,
            offset: 0,
        },
        Emit::Final,
        0,
    );
    case.time = TimeType::TimestampS;
    case.duration_style = 3;
    case.batch_sizes = vec![4];
    let row = |s: i64, n: i64, sum: i64| vec![int(1), int(s), int(s + 60), int(n), int(sum)];
    let want = [vec![row(0, 2, 3), row(60, 1, 4)], vec![row(120, 1, 8)]];
    let run = model(&case);
    assert!(
        same_rows(&run.steps.concat(), &want.concat()),
        "model: {:?}",
        run.steps
    );
    let actual = run_engine(&case).unwrap_or_else(|e| panic!("{}\n{e}", describe(&case)));
    compare(&describe(&case), &actual, &run).unwrap_or_else(|e| panic!("{e}"));

    // MICROSECOND: session gap 1 ms = 1000 us; 0, 999 (joins), 1998 (joins: < 999 + 1000),
    // 2998 (= 1998 + 1000: a new session; the watermark 2998 closes the first one)
    let rows = vec![
        r(Some(1), Some(0), Some(1)),
        r(Some(1), Some(999), Some(2)),
        r(Some(1), Some(1_998), Some(4)),
        r(Some(1), Some(2_998), Some(8)),
    ];
    let mut case = hand_case(rows, Window::Session { gap: 1 }, Emit::Final, 0);
    case.time = TimeType::TimestampUs;
    case.duration_style = 0;
    case.batch_sizes = vec![4];
    let want = vec![
        vec![int(1), int(0), int(2_998), int(3), int(7)],
        vec![int(1), int(2_998), int(3_998), int(1), int(8)],
    ];
    let run = model(&case);
    assert!(
        same_rows(&run.steps.concat(), &want),
        "model: {:?}",
        run.steps
    );
    let actual = run_engine(&case).unwrap_or_else(|e| panic!("{}\n{e}", describe(&case)));
    compare(&describe(&case), &actual, &run).unwrap_or_else(|e| panic!("{e}"));
}

/// One query, each syntax form: the engine gives identical rows (bounds included where
/// selected) for every form, 1 and 2 partitions, push and push_batches.
#[test]
fn every_syntax_form_gives_the_same_rows() {
    let rows: Vec<Row> = (0..60)
        .map(|i| {
            let ts = (i * 7919) % 100 + i * 3;
            r(Some(i % 3), Some(ts), Some(i))
        })
        .collect();
    for window in [
        Window::Tumbling {
            size: 20,
            offset: 0,
        },
        Window::Sliding {
            size: 30,
            slide: 10,
            offset: 0,
        },
        Window::Session { gap: 4 },
    ] {
        for emit in [Emit::Final, Emit::ChangelogBuilder] {
            let mut case = hand_case(rows.clone(), window, emit, 25);
            case.batch_sizes = vec![5, 1, 9];
            // runs are compared with the first run of the same push grouping and time
            // type (the grouping decides which rows one call returns)
            let mut seen: Vec<(String, Vec<usize>, TimeType, Run)> = Vec::new();
            for v in variants(&case) {
                let run = run_engine(&v).unwrap_or_else(|e| panic!("{}\n{e}", describe(&v)));
                compare(&describe(&v), &run, &model(&v)).unwrap_or_else(|e| panic!("{e}"));
                if v.form.selects_bounds(v.window) {
                    match seen
                        .iter()
                        .find(|(_, g, t, _)| *g == v.push_groups && *t == v.time)
                    {
                        Some((first, _, _, r0)) => {
                            compare(&format!("{} vs {first}", v.sql()), &run, r0)
                                .unwrap_or_else(|e| panic!("{e}"));
                        }
                        None => seen.push((v.sql(), v.push_groups.clone(), v.time, run)),
                    }
                }
            }
        }
    }
}

/// Window bounds take the time column's type in every syntax.
#[test]
fn window_bounds_have_the_time_column_type() {
    for time in [
        TimeType::Int64Ms,
        TimeType::TimestampMs,
        TimeType::TimestampS,
        TimeType::TimestampUs,
    ] {
        for (sql, cols) in [
            (
                "SELECT _window_start, _window_end, COUNT(*) FROM t WINDOW TUMBLING(ts, INTERVAL '1' MINUTE)",
                ["_window_start", "_window_end"],
            ),
            (
                "SELECT window_start, window_end, COUNT(*) FROM TABLE(HOP(TABLE t, DESCRIPTOR(ts), INTERVAL '1' MINUTE, INTERVAL '2' MINUTE)) GROUP BY window_start, window_end",
                ["window_start", "window_end"],
            ),
            (
                "SELECT k, window_start, window_end, COUNT(*) FROM TABLE(SESSION(TABLE t PARTITION BY k, DESCRIPTOR(ts), INTERVAL '1' MINUTE)) GROUP BY window_start, window_end, k",
                ["window_start", "window_end"],
            ),
            (
                "SELECT TUMBLE_START(ts, INTERVAL '1' MINUTE) AS s, TUMBLE_END(ts, INTERVAL '1' MINUTE) AS e, COUNT(*) FROM t GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE)",
                ["s", "e"],
            ),
        ] {
            let q = Engine::with_partitions(1)
                .with_min_parallel_rows(0)
                .query(sql, &[("t", schema(time))], QueryOptions::default())
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            let s = q.output_schema();
            for c in cols {
                let f = s
                    .field_with_name(c)
                    .unwrap_or_else(|_| panic!("{sql}: no column {c} in {s:?}"));
                assert_eq!(f.data_type(), &time.data_type(), "{sql}: {c}");
            }
        }
    }
}

/// Within one call, batch `j` holds a row that is late only against the watermark of
/// batch `j - 1`. A worker may screen batch `j` before batch `j - 1` is merged (against
/// an older watermark), so the in-order merge must catch the row and redo the batch: two
/// partitions give exactly what one gives, batch by batch.
#[test]
fn rows_late_against_the_previous_batch_of_the_same_call() {
    let batches: Vec<RecordBatch> = (0..64i64)
        .map(|j| {
            let mut rows: Vec<_> = (0..8)
                .map(|k| r(Some(k), Some(100 * j + 50), Some(k + j)))
                .collect();
            if j > 0 {
                // late: the watermark after batch j - 1 is 100 j - 50
                rows.push(r(Some(9), Some(100 * j - 150), Some(1000)));
            }
            batch_of(&rows, TimeType::TimestampMs)
        })
        .collect();
    for sql in [
        "SELECT k, COUNT(*), SUM(x) FROM t GROUP BY k WINDOW TUMBLING(ts, INTERVAL '10' MILLISECOND)",
        "SELECT k, COUNT(*), SUM(x) FROM t GROUP BY k WINDOW TUMBLING(ts, INTERVAL '10' MILLISECOND) EMIT CHANGES",
        "SELECT k, COUNT(*), SUM(x) FROM t GROUP BY k WINDOW SLIDING(ts, INTERVAL '20' MILLISECOND, INTERVAL '10' MILLISECOND) EMIT CHANGES",
        "SELECT k, COUNT(*), SUM(x) FROM t GROUP BY k WINDOW SESSION(ts, INTERVAL '10' MILLISECOND) EMIT CHANGES",
    ] {
        let run = |partitions: usize, calls: &[&[RecordBatch]]| {
            let engine = Engine::with_partitions(partitions).with_min_parallel_rows(0);
            let mut q = engine
                .query(
                    sql,
                    &[("t", ms_schema())],
                    QueryOptions::default().collect_late_rows(true),
                )
                .expect("plans");
            let mut out = Vec::new();
            for call in calls {
                out.push(batch_rows(
                    &q.push_batches("t", call.to_vec()).expect("push"),
                ));
            }
            out.push(batch_rows(&q.finish().expect("finish")));
            (out, q.metrics().late_rows, batch_rows(&q.take_late_rows()))
        };
        // one batch per call: every batch screened against its true watermark
        let singles: Vec<&[RecordBatch]> = batches.iter().map(std::slice::from_ref).collect();
        let (want, want_late, want_rows) = run(1, &singles);
        assert_eq!(want_late, 63, "{sql}");
        let want: Vec<Vec<Cell>> = want.concat();
        for round in 0..10 {
            for partitions in [1, 2] {
                let (got, late, rows) = run(partitions, &[&batches[..32], &batches[32..]]);
                let got: Vec<Vec<Cell>> = got.concat();
                assert_eq!(
                    late, want_late,
                    "{sql}, {partitions} partitions, round {round}"
                );
                assert!(
                    same_rows(&got, &want) && same_rows(&rows, &want_rows),
                    "{sql}, {partitions} partitions, round {round}:\n{}\nexpected:\n{}",
                    show(&got),
                    show(&want)
                );
            }
        }
    }
}

/// Window state past `memory_limit_bytes` is a `ResourcesExhausted` error that names the
/// state and the limit, for sessions and for tumbling and sliding panes (whose state
/// includes the query-wide key table); under a large limit the same input runs.
#[test]
fn window_state_past_the_memory_limit_is_resources_exhausted() {
    let batches: Vec<RecordBatch> = (0..4i64)
        .map(|b| {
            let rows: Vec<_> = (0..5_000i64)
                .map(|k| r(Some(b * 5_000 + k), Some(1_000 + b), Some(k)))
                .collect();
            batch_of(&rows, TimeType::TimestampMs)
        })
        .collect();
    // (query, what the message names, rows out: 20,000 keys, each in 1 or 2 windows)
    let cases = [
        (
            "SELECT k, COUNT(*) FROM t GROUP BY k WINDOW SESSION(ts, INTERVAL '1' MINUTE)",
            "session state",
            20_000,
        ),
        (
            "SELECT k, COUNT(*) FROM t GROUP BY k WINDOW TUMBLING(ts, INTERVAL '1' MINUTE)",
            "window state",
            20_000,
        ),
        (
            "SELECT k, COUNT(*) FROM t GROUP BY k \
             WINDOW SLIDING(ts, INTERVAL '2' MINUTE, INTERVAL '1' MINUTE)",
            "window state",
            40_000,
        ),
    ];
    for (sql, names, rows_out) in cases {
        for partitions in [1, 2] {
            let run = |limit: usize| {
                let engine = Engine::with_partitions(partitions).with_min_parallel_rows(0);
                let mut q = engine
                    .query(
                        sql,
                        &[("t", ms_schema())],
                        QueryOptions::default().memory_limit_bytes(limit),
                    )
                    .expect("plans");
                q.push_batches("t", batches.clone()).and_then(|mut out| {
                    out.extend(q.finish()?);
                    Ok(out)
                })
            };
            match run(256 * 1024) {
                Err(velostream::Error::ResourcesExhausted(message)) => {
                    assert!(
                        message.contains(names) && message.contains("--memory-limit"),
                        "{sql}, {partitions} partitions: {message}"
                    );
                }
                other => panic!(
                    "{sql}, {partitions} partitions: expected ResourcesExhausted, got {other:?}"
                ),
            }
            let out = run(1 << 30).expect("runs under a large limit");
            assert_eq!(
                batch_rows(&out).len(),
                rows_out,
                "{sql}, {partitions} partitions"
            );
        }
    }
}

/// Tumbling windows over many keys: every window brings 600 keys, most never seen
/// before, so the query-wide key table that names the panes' groups outgrows the live
/// panes and is rebuilt, and keys that come back after a rebuild get new ids. Each
/// (window, key) must still get exactly its own rows, on one and two partitions, and the
/// state must stay bounded by the open windows, not by every key ever seen.
#[test]
fn many_keys_across_tumbling_windows_keep_their_groups() {
    const WINDOWS: i64 = 60;
    const KEYS_PER_WINDOW: i64 = 600;
    let sql = "SELECT _window_start AS ws, k, g, COUNT(*) AS n, SUM(x) AS s FROM t \
               GROUP BY k, g WINDOW TUMBLING(ts, INTERVAL '10' MILLISECOND) EMIT FINAL";
    // key ids wrap at a prime: keys of early windows come back in later ones
    let rows: Vec<Row> = (0..WINDOWS)
        .flat_map(|w| {
            (0..KEYS_PER_WINDOW).flat_map(move |j| {
                let k = (w * 1000 + j) % 7919;
                // every key twice in its window, at two times
                [
                    r(Some(k), Some(10 * w + j % 10), Some(j)),
                    r(Some(k), Some(10 * w + 9), Some(w)),
                ]
            })
        })
        .collect();
    let mut expected: BTreeMap<(i64, i64), (i64, i64)> = BTreeMap::new();
    for row in &rows {
        let (Some(k), Some(ts), Some(x)) = (row.k, row.ts, row.x) else {
            unreachable!()
        };
        let e = expected
            .entry((ts - ts.rem_euclid(10), k))
            .or_insert((0, 0));
        e.0 += 1;
        e.1 += x;
    }
    let expected: Vec<(i64, i64, String, i64, i64)> = expected
        .into_iter()
        .map(|((ws, k), (n, s))| (ws, k, format!("g{k}"), n, s))
        .collect();
    let batches: Vec<RecordBatch> = rows
        .chunks(500)
        .map(|c| batch_of(c, TimeType::TimestampMs))
        .collect();
    for partitions in [1, 2] {
        let engine = Engine::with_partitions(partitions).with_min_parallel_rows(0);
        let mut q = engine
            .query(sql, &[("t", ms_schema())], QueryOptions::default())
            .expect("plans");
        let mut out = Vec::new();
        let mut state_bytes = Vec::new();
        for call in batches.chunks(8) {
            out.extend(q.push_batches("t", call.to_vec()).expect("push"));
            state_bytes.push(q.metrics().state_bytes);
        }
        out.extend(q.finish().expect("finish"));
        let mut got = Vec::new();
        for b in &out {
            let ws = cast(b.column(0), &DataType::Int64).unwrap();
            let ws = ws.as_primitive::<Int64Type>();
            let k = b.column(1).as_primitive::<Int64Type>();
            let g = b.column(2).as_string::<i32>();
            let n = cast(b.column(3), &DataType::Int64).unwrap();
            let n = n.as_primitive::<Int64Type>();
            let s = cast(b.column(4), &DataType::Int64).unwrap();
            let s = s.as_primitive::<Int64Type>();
            for i in 0..b.num_rows() {
                got.push((
                    ws.value(i),
                    k.value(i),
                    g.value(i).to_string(),
                    n.value(i),
                    s.value(i),
                ));
            }
        }
        assert_eq!(got.len(), expected.len(), "{partitions} partitions");
        assert!(got == expected, "{partitions} partitions: rows differ");
        // 90 calls over 60 windows: the state after a third of the stream and at its
        // end hold the same few open windows
        let third = state_bytes[state_bytes.len() / 3];
        let last = state_bytes[state_bytes.len() - 1];
        assert!(
            last < 2 * third,
            "{partitions} partitions: state grew from {third} to {last} bytes"
        );
    }
}
