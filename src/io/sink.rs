//! The [`Sink`] trait, [`open_sink`], and [`EncoderSink`], which encodes batches as an
//! Arrow IPC file or stream, CSV, or newline-delimited JSON.
//!
//! ```text
//!   batch ─▶ EncoderSink ─▶ arrow-ipc / arrow-csv / arrow-json writer ─▶ Output ─▶ stdout
//!                                                                           └──▶ AtomicFile ─finish─▶ target
//! ```

use std::path::{Path, PathBuf};

use arrow::array::{Array, RecordBatch};
use arrow::csv::{Writer as CsvWriter, WriterBuilder as CsvWriterBuilder};
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::ipc::writer::{FileWriter, StreamWriter};
use arrow::json::LineDelimitedWriter;

use super::arrow_error;
use super::format::{FORMAT_NAMES, Format};
use super::output::{Output, PipeClosed};
use super::table::{DEFAULT_TABLE_ROWS, TableSink};
use crate::error::{Error, Result};

/// A destination for result batches.
pub trait Sink: Send {
    /// Writes one batch.
    ///
    /// # Errors
    /// [`Error::Io`] if stdout was closed (see [`is_broken_pipe`](super::is_broken_pipe));
    /// [`Error::Input`] naming the output for other write failures.
    fn write(&mut self, batch: &RecordBatch) -> Result<()>;

    /// Flushes and, for files, atomically renames the temp file onto the target.
    /// Dropping a sink without `finish()` removes its temp file (no partial output ever
    /// at the target path).
    ///
    /// # Errors
    /// As for [`Sink::write`].
    fn finish(self: Box<Self>) -> Result<()>;
}

/// Opens a sink. `path` `None` or `"-"` = stdout. The format is `format` if given, else
/// the one the extension names; stdout defaults to [`Format::ArrowStream`].
///
/// # Errors
/// [`Error::Plan`] if the format of a file cannot be told from its extension;
/// [`Error::Input`] if the output file cannot be created.
///
/// ```no_run
/// use velostream::io::open_sink;
/// # let batch: arrow::array::RecordBatch = todo!();
/// let mut sink = open_sink(Some("out.csv"), None, batch.schema())?;
/// sink.write(&batch)?;
/// sink.finish()?; // out.csv appears only now
/// # Ok::<(), velostream::Error>(())
/// ```
pub fn open_sink(
    path: Option<&str>,
    format: Option<Format>,
    schema: SchemaRef,
) -> Result<Box<dyn Sink>> {
    let path = path.filter(|p| *p != "-");
    let format = match (format, path) {
        (Some(format), _) => format,
        (None, None) => Format::ArrowStream,
        (None, Some(path)) => Format::from_path(Path::new(path)).ok_or_else(|| {
            Error::plan(format!(
                "cannot tell the output format from '{path}'; give a known extension \
                 (.arrow, .arrows, .csv, .json) or a format ({FORMAT_NAMES})"
            ))
        })?,
    };
    let (output, label) = match path {
        None => (Output::stdout(), PathBuf::from("-")),
        Some(path) => (Output::file(path)?, PathBuf::from(path)),
    };
    if format == Format::Table {
        return Ok(Box::new(TableOutputSink {
            table: TableSink::new(output, schema, DEFAULT_TABLE_ROWS),
        }));
    }
    Ok(Box::new(EncoderSink::new(output, label, format, schema)?))
}

/// The format writer inside an [`EncoderSink`].
enum Encoder {
    IpcFile(FileWriter<Output>),
    IpcStream(StreamWriter<Output>),
    Csv(CsvWriter<Output>),
    Json(LineDelimitedWriter<Output>),
}

/// Encodes batches as an Arrow IPC file or stream, CSV (with a header row), or
/// newline-delimited JSON, into an [`Output`].
pub struct EncoderSink {
    label: PathBuf,
    schema: SchemaRef,
    pipe_closed: PipeClosed,
    encoder: Option<Encoder>,
    batches: u64,
    failed: bool,
}

impl std::fmt::Debug for EncoderSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncoderSink")
            .field("label", &self.label)
            .field("batches", &self.batches)
            .finish_non_exhaustive()
    }
}

impl EncoderSink {
    /// A sink writing `format` to `output`; `label` names the output in errors.
    ///
    /// # Errors
    /// [`Error::Plan`] for [`Format::Table`] (use [`TableSink`]); [`Error::Input`] if the
    /// IPC header cannot be written.
    pub fn new(output: Output, label: PathBuf, format: Format, schema: SchemaRef) -> Result<Self> {
        let pipe_closed = output.pipe_closed();
        let encoder = match format {
            Format::ArrowFile => Encoder::IpcFile(
                FileWriter::try_new(output, &schema)
                    .map_err(|e| write_error(&label, &pipe_closed, e))?,
            ),
            Format::ArrowStream => Encoder::IpcStream(
                StreamWriter::try_new(output, &schema)
                    .map_err(|e| write_error(&label, &pipe_closed, e))?,
            ),
            // timestamps as DuckDB prints them (a space, not ISO's `T`)
            Format::Csv => Encoder::Csv(
                CsvWriterBuilder::new()
                    .with_header(true)
                    .with_timestamp_format("%Y-%m-%d %H:%M:%S%.f".to_string())
                    .with_timestamp_tz_format("%Y-%m-%d %H:%M:%S%.f%:z".to_string())
                    .build(output),
            ),
            // NULLs are written as `null`, so every line has every column
            Format::Json => Encoder::Json(
                arrow::json::WriterBuilder::new()
                    .with_explicit_nulls(true)
                    .build::<_, arrow::json::writer::LineDelimited>(output),
            ),
            Format::Table => {
                return Err(Error::internal(
                    "EncoderSink cannot write a table; use TableSink",
                ));
            }
        };
        Ok(EncoderSink {
            label,
            schema,
            pipe_closed,
            encoder: Some(encoder),
            batches: 0,
            failed: false,
        })
    }

    fn finish_encoder(
        encoder: Encoder,
        schema: &SchemaRef,
        batches: u64,
    ) -> Result<Output, ArrowError> {
        match encoder {
            Encoder::IpcFile(writer) => writer.into_inner(),
            Encoder::IpcStream(writer) => writer.into_inner(),
            Encoder::Csv(mut writer) => {
                if batches == 0 {
                    // arrow-csv writes the header with the first batch: an empty result
                    // still gets its header row.
                    writer.write(&RecordBatch::new_empty(schema.clone()))?;
                }
                // Every `write` flushed, so nothing is buffered and `into_inner` (which
                // would panic on a failed flush) cannot fail.
                Ok(writer.into_inner())
            }
            Encoder::Json(mut writer) => {
                writer.finish()?;
                Ok(writer.into_inner())
            }
        }
    }
}

impl Sink for EncoderSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let Some(encoder) = self.encoder.as_mut() else {
            return Err(Error::internal("write to a finished sink"));
        };
        if self.failed {
            return Err(Error::input(
                &self.label,
                "output abandoned after a write error",
            ));
        }
        check_batch_schema(&self.schema, batch)?;
        let result = match encoder {
            Encoder::IpcFile(writer) => writer.write(batch),
            Encoder::IpcStream(writer) => writer.write(batch),
            Encoder::Csv(writer) => writer.write(batch),
            Encoder::Json(writer) => writer.write(batch),
        };
        match result {
            Ok(()) => {
                self.batches += 1;
                Ok(())
            }
            Err(e) => {
                self.failed = true;
                Err(write_error(&self.label, &self.pipe_closed, e))
            }
        }
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        let Some(encoder) = self.encoder.take() else {
            return Err(Error::internal("sink finished twice"));
        };
        if self.failed {
            // Dropping the encoder drops the output: a temp file is removed.
            return Err(Error::input(
                &self.label,
                "output abandoned after a write error",
            ));
        }
        let output = Self::finish_encoder(encoder, &self.schema, self.batches)
            .map_err(|e| write_error(&self.label, &self.pipe_closed, e))?;
        output.commit()
    }
}

/// Maps an encoder's error, reporting a closed pipe as such even when the encoder
/// turned the I/O error into text (arrow-csv does).
fn write_error(label: &Path, pipe_closed: &PipeClosed, err: ArrowError) -> Error {
    if pipe_closed.is_set() {
        PipeClosed::error()
    } else {
        arrow_error(label, "cannot write", err)
    }
}

/// Checks that `batch` fits the schema the output was opened with: the same column
/// types, and no NULLs in a non-nullable column. The IPC writers do not check, and would
/// write a file whose own schema contradicts its data.
///
/// # Errors
/// [`Error::Execution`] naming the first column that does not fit.
pub fn check_batch_schema(schema: &SchemaRef, batch: &RecordBatch) -> Result<()> {
    if batch.num_columns() != schema.fields().len() {
        return Err(Error::execution(format!(
            "a result batch has {} columns, the output schema {}",
            batch.num_columns(),
            schema.fields().len()
        )));
    }
    for (column, field) in batch.columns().iter().zip(schema.fields()) {
        if column.data_type() != field.data_type() {
            return Err(Error::execution(format!(
                "result column '{}' is {}, the output schema says {}",
                field.name(),
                column.data_type(),
                field.data_type()
            )));
        }
        if !field.is_nullable() && column.null_count() > 0 {
            return Err(Error::execution(format!(
                "result column '{}' is declared non-nullable but holds NULLs",
                field.name()
            )));
        }
    }
    Ok(())
}

/// A [`TableSink`] on an [`Output`]: commits the file (or flushes stdout) on finish.
struct TableOutputSink {
    table: TableSink<Output>,
}

impl Sink for TableOutputSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.table.write_batch(batch)
    }

    fn finish(self: Box<Self>) -> Result<()> {
        self.table.into_inner()?.commit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::Arc;

    use arrow_select::concat::concat_batches;

    use crate::io::test_data::*;
    use crate::io::{is_broken_pipe, open_source};

    fn extension(format: Format) -> &'static str {
        match format {
            Format::ArrowFile => "arrow",
            Format::ArrowStream => "arrows",
            Format::Csv => "csv",
            Format::Json => "ndjson",
            Format::Table => "txt",
        }
    }

    #[test]
    fn every_format_round_trips_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let schema = plain_schema();
        let batches = plain_batches(&[7, 0, 300, 1]);
        let expected = concat_batches(&schema, &batches).unwrap();
        for format in [
            Format::ArrowFile,
            Format::ArrowStream,
            Format::Csv,
            Format::Json,
        ] {
            let path = dir.path().join(format!("out.{}", extension(format)));
            let path = path.to_str().unwrap();
            let mut sink = open_sink(Some(path), None, schema.clone()).unwrap();
            for batch in &batches {
                sink.write(batch).unwrap();
            }
            sink.finish().unwrap();

            let source = open_source(path, None).unwrap();
            let read_schema = source.schema();
            let back: Vec<RecordBatch> = source.collect::<Result<_>>().unwrap();
            let back = concat_batches(&read_schema, &back).unwrap();
            match format {
                Format::ArrowFile | Format::ArrowStream => {
                    assert_eq!(read_schema, schema, "{format}");
                    assert_eq!(back, expected, "{format}");
                }
                _ => assert_eq!(cast_to(&back, &schema), expected, "{format}"),
            }
            // Nothing but the output is left in the directory.
            let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
            assert!(names.iter().all(|e| {
                let name = e.as_ref().unwrap().file_name();
                !name.to_string_lossy().contains(".tmp-")
            }));
        }
    }

    #[test]
    fn dropping_a_sink_without_finish_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        for format in [
            Format::ArrowFile,
            Format::ArrowStream,
            Format::Csv,
            Format::Json,
            Format::Table,
        ] {
            let path = dir.path().join(format!("out.{}", extension(format)));
            let mut sink = open_sink(path.to_str(), Some(format), plain_schema()).unwrap();
            for batch in plain_batches(&[10_000, 10_000]) {
                sink.write(&batch).unwrap();
            }
            drop(sink);
            assert!(!path.exists(), "{format}");
            assert_eq!(
                std::fs::read_dir(dir.path()).unwrap().count(),
                0,
                "{format}"
            );
        }
    }

    #[test]
    fn the_target_changes_only_on_finish() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        std::fs::write(&path, "old\n").unwrap();
        let mut sink = open_sink(path.to_str(), None, plain_schema()).unwrap();
        sink.write(&plain_batch(0, 3)).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old\n");
        sink.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("ts,name,price,qty\n"), "{text}");
        assert_eq!(text.lines().count(), 4);
    }

    #[test]
    fn an_empty_csv_result_still_has_its_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.csv");
        open_sink(path.to_str(), None, plain_schema())
            .unwrap()
            .finish()
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "ts,name,price,qty\n"
        );
    }

    #[test]
    fn an_empty_ipc_result_is_a_valid_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.arrow");
        let path = path.to_str().unwrap();
        open_sink(Some(path), None, plain_schema())
            .unwrap()
            .finish()
            .unwrap();
        let source = open_source(path, None).unwrap();
        assert_eq!(source.schema(), plain_schema());
        assert_eq!(source.total_rows(), Some(0));
    }

    #[test]
    fn the_format_comes_from_the_name_or_the_extension() {
        let dir = tempfile::tempdir().unwrap();
        let err = open_sink(Some("out.parquet"), None, plain_schema())
            .err()
            .unwrap();
        assert!(matches!(err, Error::Plan(_)), "{err:?}");
        assert!(err.to_string().contains("out.parquet"), "{err}");

        // An explicit format wins over the extension.
        let path = dir.path().join("out.data");
        let mut sink = open_sink(path.to_str(), Some(Format::Json), plain_schema()).unwrap();
        sink.write(&plain_batch(0, 2)).unwrap();
        sink.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("{\"ts\":"), "{text}");
        assert_eq!(text.lines().count(), 2);
    }

    #[test]
    fn a_closed_pipe_is_a_quiet_io_error() {
        let closed = || Output::writer(Box::new(ClosedPipe));
        // IPC writers write the schema up front.
        let err = EncoderSink::new(closed(), "-".into(), Format::ArrowStream, plain_schema())
            .unwrap_err();
        assert!(is_broken_pipe(&err), "{err:?}");
        let mut sink = EncoderSink::new(closed(), "-".into(), Format::Csv, plain_schema()).unwrap();
        let err = sink.write(&plain_batch(0, 5)).unwrap_err();
        assert!(is_broken_pipe(&err), "{err:?}");
        assert!(matches!(err, Error::Io(_)));
        // The sink stays failed and finishing does not panic.
        assert!(sink.write(&plain_batch(0, 5)).is_err());
        assert!(Box::new(sink).finish().is_err());
        // Not every error is a closed pipe.
        assert!(!is_broken_pipe(&Error::execution("x")));
    }

    #[test]
    fn a_batch_that_does_not_fit_the_schema_is_refused() {
        let buffer = SharedBuffer::default();
        let mut sink = EncoderSink::new(
            Output::writer(Box::new(buffer)),
            "-".into(),
            Format::ArrowStream,
            plain_schema(),
        )
        .unwrap();
        let err = sink.write(&dict_batch(0, 3)).unwrap_err();
        assert!(matches!(err, Error::Execution(_)), "{err:?}");

        let strict = Arc::new(arrow::datatypes::Schema::new(
            plain_schema()
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_nullable(false))
                .collect::<Vec<_>>(),
        ));
        let err = check_batch_schema(&strict, &plain_batch(0, 10)).unwrap_err();
        assert!(err.to_string().contains("non-nullable"), "{err}");
        // Writing continues after a refused batch: nothing was written.
        sink.write(&plain_batch(0, 3)).unwrap();
    }

    #[test]
    fn writes_to_any_writer() {
        let buffer = SharedBuffer::default();
        let mut sink = EncoderSink::new(
            Output::writer(Box::new(buffer.clone())),
            "-".into(),
            Format::Csv,
            plain_schema(),
        )
        .unwrap();
        sink.write(&plain_batch(0, 2)).unwrap();
        Box::new(sink).finish().unwrap();
        let text = buffer.text();
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(text.contains("\"name, \"\"1\"\"\""), "{text}");
    }

    #[test]
    fn csv_timestamps_use_a_space_and_json_writes_nulls() {
        use arrow::array::{Int64Array, TimestampMillisecondArray};
        use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
        let schema = Arc::new(Schema::new(vec![
            Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
            Field::new("v", DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(TimestampMillisecondArray::from(vec![
                    Some(1_700_000_000_123),
                    None,
                ])),
                Arc::new(Int64Array::from(vec![None, Some(7)])),
            ],
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        for (name, expect) in [
            ("out.csv", vec!["ts,v", "2023-11-14 22:13:20.123,", ",7"]),
            (
                "out.json",
                vec![
                    r#"{"ts":"2023-11-14T22:13:20.123","v":null}"#,
                    r#"{"ts":null,"v":7}"#,
                ],
            ),
        ] {
            let path = dir.path().join(name);
            let p = path.to_string_lossy().to_string();
            let mut sink = open_sink(Some(&p), None, schema.clone()).unwrap();
            sink.write(&batch).unwrap();
            sink.finish().unwrap();
            let text = std::fs::read_to_string(&path).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines, expect, "{name}");
        }
    }
}
