//! The [`Sink`] trait, [`open_sink`], and [`EncoderSink`], which encodes batches as an
//! Arrow IPC file or stream, CSV, or newline-delimited JSON.
//!
//! ```text
//!   batch ─▶ EncoderSink ─▶ arrow-ipc / arrow-csv / arrow-json writer ─▶ Output ─▶ stdout
//!                                                                           └──▶ AtomicFile ─finish─▶ target
//! ```

use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::csv::{Writer as CsvWriter, WriterBuilder as CsvWriterBuilder};
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::ipc::writer::{FileWriter, StreamWriter};
use arrow::json::LineDelimitedWriter;

use super::arrow_error;
use super::format::{FORMAT_NAMES, Format};
use super::output::Output;
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
        let encoder = match format {
            Format::ArrowFile => Encoder::IpcFile(
                FileWriter::try_new(output, &schema)
                    .map_err(|e| arrow_error(&label, "cannot write", e))?,
            ),
            Format::ArrowStream => Encoder::IpcStream(
                StreamWriter::try_new(output, &schema)
                    .map_err(|e| arrow_error(&label, "cannot write", e))?,
            ),
            Format::Csv => Encoder::Csv(CsvWriterBuilder::new().with_header(true).build(output)),
            Format::Json => Encoder::Json(LineDelimitedWriter::new(output)),
            Format::Table => {
                return Err(Error::internal(
                    "EncoderSink cannot write a table; use TableSink",
                ));
            }
        };
        Ok(EncoderSink {
            label,
            schema,
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
                Err(arrow_error(&self.label, "cannot write", e))
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
            .map_err(|e| arrow_error(&self.label, "cannot write", e))?;
        output.commit()
    }
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
