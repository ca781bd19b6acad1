//! sqllogictest runner: every `tests/slt/**/*.slt` file, each in a fresh context.
//!
//! ```text
//!  tests/slt/**/*.slt ─▶ sqllogictest::parse_file ─▶ Runner ─▶ VeloDb::run(sql)
//!                                                               │
//!        harness statements (CREATE TABLE, SET) ◀───────────────┤
//!        everything else: Engine::query ─▶ push_batches ─▶ finish ─▶ rows as text
//! ```
//!
//! The engine only runs queries, so the harness itself provides the tables:
//!
//! - `CREATE TABLE t (a BIGINT, s VARCHAR, ...) AS VALUES (...), (...)`: the literal
//!   texts of each column are cast from VARCHAR to the column type (types through
//!   `velostream::plan::sql_types::to_arrow_type`, plus the harness-only names
//!   `VARCHAR_DICT`, `VARCHAR_VIEW` and `LARGE_VARCHAR`). Without `AS VALUES` the
//!   table is empty.
//! - `CREATE TABLE trades AS FILE 'data/trades.arrow'`: an Arrow IPC file of the repo.
//! - `SET batch_size = N`: every table is re-chunked into batches of N rows before it
//!   is pushed (default: the whole table as one batch).
//! - `SET partitions = N`: `Engine::with_partitions(N).with_min_parallel_rows(0)` (every
//!   call of several batches runs on the workers, however small), and batches are pushed N at a
//!   time with `push_batches` (default 1).
//!
//! Cells are printed as DuckDB's sqllogictests do: `NULL`, `(empty)` for an empty
//! string, floats with Rust's shortest `Display` (`2.5`, `3`), timestamps as
//! `YYYY-MM-DD HH:MM:SS[.fff]`.
//!
//! Usage: `cargo test --test slt [-- FILTER]` runs the files whose path contains
//! FILTER; the last line reads `N passed, M failed` (files) and the exit code is
//! non-zero when a file failed.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use arrow::compute::{CastOptions, cast_with_options, concat_batches};
use arrow::datatypes::{DataType, Field, Float32Type, Float64Type, Schema, SchemaRef};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use sqllogictest::{DBOutput, DefaultColumnType, Record, Runner};
use sqlparser::ast::{
    DataType as SqlType, Expr as SqlExpr, SetExpr, Statement, UnaryOperator, Value,
};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;
use velostream::plan::sql_types::to_arrow_type;
use velostream::{Engine, QueryOptions};

/// Timestamps print as DuckDB prints them (space separator, fraction only if any).
const TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.f";

/// One registered table.
struct Table {
    name: String,
    schema: SchemaRef,
    /// All rows, as one batch (re-chunked on every query by `batch_size`).
    rows: RecordBatch,
}

/// The database the runner talks to: registered tables plus the session settings.
struct VeloDb {
    tables: Vec<Table>,
    batch_size: Option<usize>,
    partitions: usize,
}

/// What can go wrong: the engine's own error (its `Display` is what `statement
/// error <regex>` matches), or a problem in the test file itself.
#[derive(Debug)]
enum DbError {
    Engine(velostream::Error),
    Harness(String),
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbError::Engine(e) => write!(f, "{e}"),
            DbError::Harness(m) => write!(f, "slt harness: {m}"),
        }
    }
}

impl std::error::Error for DbError {}

impl From<velostream::Error> for DbError {
    fn from(e: velostream::Error) -> Self {
        DbError::Engine(e)
    }
}

fn harness(message: impl Into<String>) -> DbError {
    DbError::Harness(message.into())
}

impl sqllogictest::DB for VeloDb {
    type Error = DbError;
    type ColumnType = DefaultColumnType;

    fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, DbError> {
        let text = sql.trim().trim_end_matches(';').trim();
        let words: Vec<String> = text
            .split_whitespace()
            .take(2)
            .map(|w| w.to_ascii_uppercase())
            .collect();
        match words
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice()
        {
            ["SET", ..] => self.set(text),
            ["CREATE", "TABLE"] => self.create_table(text),
            _ => self.query(text),
        }
    }

    fn engine_name(&self) -> &str {
        "velostream"
    }
}

impl VeloDb {
    fn new() -> Self {
        VeloDb {
            tables: Vec::new(),
            batch_size: None,
            partitions: 1,
        }
    }

    /// `SET batch_size = N` / `SET partitions = N`.
    fn set(&mut self, text: &str) -> Result<DBOutput<DefaultColumnType>, DbError> {
        let rest = text[3..].trim();
        let (name, value) = rest
            .split_once('=')
            .ok_or_else(|| harness(format!("expected SET name = value, got `{text}`")))?;
        let name = name.trim().to_ascii_lowercase();
        let value = value.trim();
        let n: usize = value
            .parse()
            .map_err(|_| harness(format!("SET {name}: `{value}` is not a number")))?;
        match name.as_str() {
            "batch_size" if n > 0 => self.batch_size = Some(n),
            "partitions" if n > 0 => self.partitions = n,
            "batch_size" | "partitions" => {
                return Err(harness(format!("SET {name}: must be at least 1")));
            }
            other => return Err(harness(format!("unknown setting `{other}`"))),
        }
        Ok(DBOutput::StatementComplete(0))
    }

    fn create_table(&mut self, text: &str) -> Result<DBOutput<DefaultColumnType>, DbError> {
        let table = if let Some((head, path)) = split_as_file(text) {
            let name = head
                .split_whitespace()
                .nth(2)
                .ok_or_else(|| harness("CREATE TABLE needs a name"))?;
            read_ipc_table(name, &path)?
        } else {
            table_from_values(text)?
        };
        if self
            .tables
            .iter()
            .any(|t| t.name.eq_ignore_ascii_case(&table.name))
        {
            return Err(harness(format!("table {} already exists", table.name)));
        }
        let rows = table.rows.num_rows() as u64;
        self.tables.push(table);
        Ok(DBOutput::StatementComplete(rows))
    }

    fn query(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, DbError> {
        let engine = Engine::with_partitions(self.partitions).with_min_parallel_rows(0);
        let inputs: Vec<(&str, SchemaRef)> = self
            .tables
            .iter()
            .map(|t| (t.name.as_str(), t.schema.clone()))
            .collect();
        let mut q = engine.query(sql, &inputs, QueryOptions::default())?;
        let schema = q.output_schema();
        let input = q.input_name().to_string();
        let table = self
            .tables
            .iter()
            .find(|t| t.name == input)
            .ok_or_else(|| {
                harness(format!(
                    "the query reads `{input}`, which is not registered"
                ))
            })?;
        let mut out = Vec::new();
        for group in chunk(&table.rows, self.batch_size).chunks(self.partitions) {
            out.extend(q.push_batches(&input, group.to_vec())?);
        }
        out.extend(q.finish()?);
        for b in &out {
            if b.schema().fields() != schema.fields() {
                return Err(harness(format!(
                    "a result batch has schema {:?}, but output_schema() is {:?}",
                    b.schema(),
                    schema
                )));
            }
        }
        let types = schema
            .fields()
            .iter()
            .map(|f| column_type(f.data_type()))
            .collect();
        let rows = rows_as_text(&out)?;
        Ok(DBOutput::Rows { types, rows })
    }
}

/// `CREATE TABLE name AS FILE 'path'` → (`CREATE TABLE name`, path).
fn split_as_file(text: &str) -> Option<(String, String)> {
    let upper = text.to_ascii_uppercase();
    let at = upper.find(" AS FILE ")?;
    let path = text[at + " AS FILE ".len()..]
        .trim()
        .trim_matches('\'')
        .to_string();
    Some((text[..at].to_string(), path))
}

/// Reads a whole Arrow IPC file (relative to the crate root) as one table.
fn read_ipc_table(name: &str, path: &str) -> Result<Table, DbError> {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    let file = std::fs::File::open(&full)
        .map_err(|e| harness(format!("cannot open {}: {e}", full.display())))?;
    let reader = arrow::ipc::reader::FileReader::try_new(file, None)
        .map_err(|e| harness(format!("{}: {e}", full.display())))?;
    let schema = reader.schema();
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| harness(format!("{}: {e}", full.display())))?;
    let rows = concat_batches(&schema, &batches).map_err(|e| harness(e.to_string()))?;
    Ok(Table {
        name: name.to_string(),
        schema,
        rows,
    })
}

/// `CREATE TABLE t (col TYPE, ...) [AS VALUES (...), ...]`.
fn table_from_values(text: &str) -> Result<Table, DbError> {
    let statements = Parser::parse_sql(&GenericDialect {}, text)
        .map_err(|e| harness(format!("cannot parse `{text}`: {e}")))?;
    let [Statement::CreateTable(create)] = statements.as_slice() else {
        return Err(harness(format!("expected one CREATE TABLE, got `{text}`")));
    };
    if create.columns.is_empty() {
        return Err(harness("CREATE TABLE needs a column list"));
    }
    let fields: Vec<Field> = create
        .columns
        .iter()
        .map(|c| {
            Ok(Field::new(
                c.name.value.clone(),
                column_arrow_type(&c.data_type)?,
                true,
            ))
        })
        .collect::<Result<_, DbError>>()?;
    let schema = Arc::new(Schema::new(fields));
    let value_rows: Vec<Vec<Option<String>>> = match &create.query {
        None => Vec::new(),
        Some(q) => match q.body.as_ref() {
            SetExpr::Values(v) => v
                .rows
                .iter()
                .map(|row| row.content.iter().map(literal_text).collect())
                .collect::<Result<_, _>>()?,
            other => return Err(harness(format!("expected AS VALUES, got AS {other}"))),
        },
    };
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for (i, field) in schema.fields().iter().enumerate() {
        let texts: Vec<Option<String>> = value_rows
            .iter()
            .map(|row| {
                row.get(i).cloned().ok_or_else(|| {
                    harness(format!(
                        "a VALUES row has {} values, the table has {} columns",
                        row.len(),
                        schema.fields().len()
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
        let strings: ArrayRef = Arc::new(StringArray::from(texts));
        let options = CastOptions {
            safe: false,
            ..Default::default()
        };
        let column = cast_with_options(&strings, field.data_type(), &options)
            .map_err(|e| harness(format!("column {}: {e}", field.name())))?;
        columns.push(column);
    }
    if let Some(row) = value_rows.iter().find(|r| r.len() != schema.fields().len()) {
        return Err(harness(format!(
            "a VALUES row has {} values, the table has {} columns",
            row.len(),
            schema.fields().len()
        )));
    }
    let rows = RecordBatch::try_new(schema.clone(), columns).map_err(|e| harness(e.to_string()))?;
    Ok(Table {
        name: create.name.to_string(),
        schema,
        rows,
    })
}

/// Column types, including the three the engine's SQL has no name for.
fn column_arrow_type(t: &SqlType) -> Result<DataType, DbError> {
    if let SqlType::Custom(name, _) = t {
        match name.to_string().to_ascii_uppercase().as_str() {
            "VARCHAR_DICT" => {
                return Ok(DataType::Dictionary(
                    Box::new(DataType::Int32),
                    Box::new(DataType::Utf8),
                ));
            }
            "VARCHAR_VIEW" => return Ok(DataType::Utf8View),
            "LARGE_VARCHAR" => return Ok(DataType::LargeUtf8),
            _ => {}
        }
    }
    to_arrow_type(t).map_err(|e| harness(format!("column type {t}: {e}")))
}

/// The text of one VALUES literal (NULL → `None`).
fn literal_text(e: &SqlExpr) -> Result<Option<String>, DbError> {
    Ok(match e {
        SqlExpr::Value(v) => match &v.value {
            Value::Null => None,
            Value::Number(n, _) => Some(n.clone()),
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => Some(s.clone()),
            Value::Boolean(b) => Some(b.to_string()),
            other => return Err(harness(format!("unsupported VALUES literal {other}"))),
        },
        SqlExpr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => literal_text(expr)?.map(|t| format!("-{t}")),
        SqlExpr::Nested(inner) => literal_text(inner)?,
        SqlExpr::TypedString(ts) => match &ts.value.value {
            Value::SingleQuotedString(s) => Some(s.clone()),
            other => Some(other.to_string()),
        },
        other => return Err(harness(format!("unsupported VALUES expression {other}"))),
    })
}

/// Splits a table into the batches a query is fed: `batch_size` rows each, or the
/// whole table as one batch.
fn chunk(rows: &RecordBatch, batch_size: Option<usize>) -> Vec<RecordBatch> {
    match batch_size {
        None => vec![rows.clone()],
        Some(n) => (0..rows.num_rows())
            .step_by(n)
            .map(|start| rows.slice(start, n.min(rows.num_rows() - start)))
            .collect(),
    }
}

fn column_type(t: &DataType) -> DefaultColumnType {
    match t {
        t if t.is_integer() => DefaultColumnType::Integer,
        t if t.is_floating() => DefaultColumnType::FloatingPoint,
        DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => DefaultColumnType::FloatingPoint,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Dictionary(..) => {
            DefaultColumnType::Text
        }
        _ => DefaultColumnType::Any,
    }
}

/// Every cell of every batch as text.
fn rows_as_text(batches: &[RecordBatch]) -> Result<Vec<Vec<String>>, DbError> {
    let options = FormatOptions::new()
        .with_null("NULL")
        .with_timestamp_format(Some(TIMESTAMP_FORMAT))
        .with_display_error(false);
    let mut rows = Vec::new();
    for batch in batches {
        let cells: Vec<Vec<String>> = batch
            .columns()
            .iter()
            .map(|c| column_as_text(c, &options))
            .collect::<Result<_, _>>()?;
        for r in 0..batch.num_rows() {
            rows.push(cells.iter().map(|c| c[r].clone()).collect());
        }
    }
    Ok(rows)
}

fn column_as_text(column: &ArrayRef, options: &FormatOptions) -> Result<Vec<String>, DbError> {
    let n = column.len();
    let text = |i: usize, s: String| -> String {
        if column.is_null(i) {
            "NULL".to_string()
        } else if s.is_empty() {
            "(empty)".to_string()
        } else {
            s
        }
    };
    Ok(match column.data_type() {
        DataType::Float64 => {
            let a = column.as_primitive::<Float64Type>();
            (0..n).map(|i| text(i, a.value(i).to_string())).collect()
        }
        DataType::Float32 => {
            let a = column.as_primitive::<Float32Type>();
            (0..n).map(|i| text(i, a.value(i).to_string())).collect()
        }
        _ => {
            let f = ArrayFormatter::try_new(column.as_ref(), options)
                .map_err(|e| harness(format!("cannot display {}: {e}", column.data_type())))?;
            (0..n).map(|i| text(i, f.value(i).to_string())).collect()
        }
    })
}

/// Finds every `.slt` file under `dir`, sorted.
fn slt_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "slt") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The outcome of one file: the failure reports of its records.
fn run_file(path: &Path) -> Vec<String> {
    let records = match sqllogictest::parse_file::<DefaultColumnType>(path) {
        Ok(r) => r,
        Err(e) => return vec![format!("cannot parse: {e}")],
    };
    let mut runner = Runner::new(|| std::future::ready(Ok::<_, DbError>(VeloDb::new())));
    let mut failures = Vec::new();
    for record in records {
        if let Record::Halt { .. } = record {
            break;
        }
        let outcome = catch_unwind(AssertUnwindSafe(|| runner.run(record.clone())));
        match outcome {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => failures.push(e.display(false).to_string()),
            Err(panic) => {
                let what = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failures.push(format!("PANIC ({what}) on record:\n{record}"));
            }
        }
    }
    failures
}

/// The filter among the arguments: libtest's flags (and their values) are ignored.
fn filter_from_args(args: &[String]) -> (Option<String>, bool) {
    const TAKES_VALUE: &[&str] = &[
        "--format",
        "--test-threads",
        "--skip",
        "--logfile",
        "--color",
        "-Z",
        "--shuffle-seed",
        "--report-time",
    ];
    let mut filter = None;
    let mut list = false;
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--list" {
            list = true;
        } else if TAKES_VALUE.contains(&a.as_str()) && a != "--report-time" {
            i += 1;
        } else if !a.starts_with('-') && filter.is_none() {
            filter = Some(a.clone());
        }
        i += 1;
    }
    (filter, list)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (filter, list) = filter_from_args(&args);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files: Vec<PathBuf> = slt_files(&root.join("tests/slt"))
        .into_iter()
        .filter(|p| {
            let rel = p.strip_prefix(root).unwrap_or(p).to_string_lossy();
            filter.as_deref().is_none_or(|f| rel.contains(f))
        })
        .collect();
    if list {
        for p in &files {
            println!("{}: test", p.strip_prefix(root).unwrap_or(p).display());
        }
        return ExitCode::SUCCESS;
    }
    // the engine's panics are reported per record; keep the default hook quiet
    std::panic::set_hook(Box::new(|_| {}));
    let (mut passed, mut failed) = (0usize, 0usize);
    for path in &files {
        let rel = path
            .strip_prefix(root)
            .unwrap_or(path)
            .display()
            .to_string();
        let failures = run_file(path);
        if failures.is_empty() {
            println!("{rel} ... ok");
            passed += 1;
        } else {
            println!("{rel} ... FAILED ({} records)", failures.len());
            for f in &failures {
                println!("{}\n", f.trim_end());
            }
            failed += 1;
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
