//! The [`BatchSource`] trait and [`open_source`], which picks a reader for a path.
//!
//! ```text
//!   "-"          ──▶ IPC stream on stdin (or CSV/JSON with an explicit format)
//!   path, format ──▶ explicit format
//!   path         ──▶ extension (.arrow/.arrows: confirmed by the magic bytes) ──▶ magic bytes
//! ```

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use super::csv::CsvSource;
use super::format::{FORMAT_NAMES, Format};
use super::io_error;
use super::ipc_file::IpcFileSource;
use super::ipc_stream::IpcStreamSource;
use super::json::JsonSource;
use crate::error::{Error, Result};

/// Rows per batch for formats that do not store batches (CSV, JSON). 8192 rows is the
/// engine's working batch size (SPEC §9) and arrow's CSV default.
pub const DEFAULT_BATCH_SIZE: usize = 8192;

/// A source of record batches, read incrementally (never the whole input in memory).
///
/// Every batch has the schema returned by [`BatchSource::schema`]. After an `Err` the
/// source yields nothing more.
pub trait BatchSource: Iterator<Item = Result<RecordBatch>> + Send {
    /// The schema of every batch.
    fn schema(&self) -> SchemaRef;
    /// Total rows if known up front (IPC file footer / metadata), for progress bars.
    fn total_rows(&self) -> Option<u64>;

    /// Asks the source to decode only `columns` (ascending indices into
    /// [`BatchSource::schema`]) from now on, and to leave the bytes of the others
    /// untouched. Returns the schema of the narrower batches it will yield (which
    /// [`BatchSource::schema`] then returns too), or `None` if it goes on yielding every
    /// column: the default, as a CSV or JSON line or an IPC stream must be read whole,
    /// and no source narrows once it has yielded a batch.
    fn read_columns(&mut self, columns: &[usize]) -> Option<SchemaRef> {
        let _ = columns;
        None
    }

    /// Hands the checks of the batches still to come (offsets, UTF-8 and the like) to
    /// the caller, so that they run where the batches are used: on the query's workers,
    /// each just before the batch's first use, instead of all on the thread that reads.
    /// `None` (the default): the source goes on checking every batch itself. A source
    /// that defers does so only before its first batch, so a batch's position among
    /// those it yields is its index in the input.
    ///
    /// # Safety
    /// Once this returns `Some`, the batches the source yields may hold offsets out of
    /// bounds or invalid UTF-8: nothing may read their column values (their schema and
    /// row count excepted) before the returned [`BatchCheck`] has passed them.
    unsafe fn defer_checks(&mut self) -> Option<Arc<dyn BatchCheck>> {
        None
    }

    /// Hands the decoding of the batches still to come to the caller, who may then
    /// decode several at once, on any threads (the query's workers, between and beside
    /// their calls). The source itself yields nothing more. `None` (the default): the
    /// source decodes each batch as it yields it. Only before the first batch.
    fn split_decoding(&mut self) -> Option<Arc<dyn BatchDecoder>> {
        None
    }
}

/// The batches of a source decoded by index, on any thread (see
/// [`BatchSource::split_decoding`]).
pub trait BatchDecoder: Send + Sync {
    /// Number of batches.
    fn num_batches(&self) -> usize;

    /// Rows of batch `index` (0 past the end).
    fn rows(&self, index: usize) -> u64;

    /// Batch `index`, decoded; checked too, unless the source's checks were deferred
    /// ([`BatchSource::defer_checks`]), whose contract then covers it. Each index is
    /// decoded at most once.
    ///
    /// # Errors
    /// [`Error::Input`] naming the source and the batch when it is corrupt.
    fn decode(&self, index: usize) -> Result<RecordBatch>;
}

/// The check of batches a source yields unchecked (see [`BatchSource::defer_checks`]).
pub trait BatchCheck: Send + Sync {
    /// Checks the source's batch `index` (its position among the batches it yielded).
    ///
    /// # Errors
    /// [`Error::Input`] naming the source and the batch when a column is corrupt.
    fn check(&self, index: u64, batch: &RecordBatch) -> Result<()>;
}

/// Opens `path` (`"-"` = Arrow IPC stream on stdin) as a [`BatchSource`].
///
/// The format is `format` if given, else the one the extension names, else the one the
/// first bytes announce (`ARROW1` file magic, or the stream's continuation marker). An
/// `.arrow` file that is really an IPC stream (or an `.arrows` file that is really an IPC
/// file) is read as what it is; an explicit `format` is never second-guessed.
///
/// # Errors
/// [`Error::Input`] naming the file for a missing, unreadable, empty, truncated or corrupt
/// file, or one whose format cannot be told; [`Error::Plan`] for a format that cannot be
/// read (`table`, or an IPC file on stdin).
///
/// ```no_run
/// use velostream::io::open_source;
/// let source = open_source("data/trades.arrow", None)?;
/// println!("{} rows", source.total_rows().unwrap_or(0));
/// for batch in source {
///     let batch = batch?;
///     // ...
/// }
/// # Ok::<(), velostream::Error>(())
/// ```
pub fn open_source(path: &str, format: Option<Format>) -> Result<Box<dyn BatchSource>> {
    if path == "-" {
        return open_stdin(format);
    }
    let file_path = Path::new(path);
    let format = match format {
        Some(format) => format,
        None => guess_format(file_path)?,
    };
    Ok(match format {
        Format::ArrowFile => Box::new(IpcFileSource::open(file_path)?),
        Format::ArrowStream => Box::new(IpcStreamSource::open(file_path)?),
        Format::Csv => Box::new(CsvSource::open(file_path, DEFAULT_BATCH_SIZE)?),
        Format::Json => Box::new(JsonSource::open(file_path, DEFAULT_BATCH_SIZE)?),
        Format::Table => return Err(output_only()),
    })
}

fn open_stdin(format: Option<Format>) -> Result<Box<dyn BatchSource>> {
    let stdin = || -> Box<dyn Read + Send> { Box::new(std::io::stdin()) };
    Ok(match format.unwrap_or(Format::ArrowStream) {
        Format::ArrowStream => Box::new(IpcStreamSource::from_reader("-", stdin())?),
        Format::Csv => Box::new(CsvSource::from_reader("-", stdin(), DEFAULT_BATCH_SIZE)?),
        Format::Json => Box::new(JsonSource::from_reader("-", stdin(), DEFAULT_BATCH_SIZE)?),
        Format::ArrowFile => {
            return Err(Error::plan(
                "an Arrow IPC file cannot be read from stdin (it is read from its footer \
                 backwards); pipe an Arrow IPC stream instead, or pass the file's path",
            ));
        }
        Format::Table => return Err(output_only()),
    })
}

fn output_only() -> Error {
    Error::plan("'table' is an output format; inputs can be arrow, arrows, csv or json")
}

/// The format of an existing file, from its extension and its first bytes.
fn guess_format(path: &Path) -> Result<Format> {
    let by_extension = Format::from_path(path);
    if let Some(text @ (Format::Csv | Format::Json)) = by_extension {
        return Ok(text);
    }
    let mut prefix = [0u8; 8];
    let mut file = File::open(path).map_err(|e| io_error(path, "", e))?;
    if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
        return Err(Error::input(path, "is a directory, not an input file"));
    }
    let mut filled = 0;
    while filled < prefix.len() {
        match file.read(&mut prefix[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_error(path, "", e)),
        }
    }
    match (Format::sniff(&prefix[..filled]), by_extension) {
        (Some(sniffed), _) => Ok(sniffed),
        // Let the reader the extension names explain what is wrong with the file.
        (None, Some(format)) => Ok(format),
        (None, None) if filled == 0 => Err(Error::input(path, "file is empty")),
        (None, None) => Err(Error::input(
            path,
            format!(
                "cannot tell the file's format: the extension is not known and the file is \
                 not Arrow IPC; name the format ({FORMAT_NAMES})"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::io::test_data::*;

    fn err_of(result: Result<Box<dyn BatchSource>>) -> Error {
        match result {
            Ok(_) => panic!("opened"),
            Err(err) => err,
        }
    }

    fn rows(source: Box<dyn BatchSource>) -> usize {
        source.map(|b| b.unwrap().num_rows()).sum()
    }

    #[test]
    fn picks_the_reader_by_format_extension_or_magic() {
        let dir = tempfile::tempdir().unwrap();
        let file = ipc_file_bytes(&plain_schema(), &plain_batches(&[3, 4]));
        let stream = ipc_stream_bytes(&plain_schema(), &plain_batches(&[5]));
        let write = |name: &str, bytes: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            path.to_str().unwrap().to_string()
        };
        // By extension.
        let source = open_source(&write("a.arrow", &file), None).unwrap();
        assert_eq!(source.total_rows(), Some(7));
        assert_eq!(rows(source), 7);
        assert_eq!(
            rows(open_source(&write("a.arrows", &stream), None).unwrap()),
            5
        );
        // By magic: no extension, or an Arrow extension that names the other IPC format.
        assert_eq!(rows(open_source(&write("noext", &file), None).unwrap()), 7);
        assert_eq!(
            rows(open_source(&write("noext2", &stream), None).unwrap()),
            5
        );
        assert_eq!(
            rows(open_source(&write("mixed.arrow", &stream), None).unwrap()),
            5
        );
        assert_eq!(
            rows(open_source(&write("mixed.arrows", &file), None).unwrap()),
            7
        );
        // An explicit format is not second-guessed.
        let err = err_of(open_source(
            &write("s.arrow", &stream),
            Some(Format::ArrowFile),
        ));
        assert!(err.to_string().contains("bad magic"), "{err}");
        // CSV by extension, or by explicit format whatever the name.
        let csv = b"a,b\n1,x\n2,y\n";
        assert_eq!(rows(open_source(&write("t.csv", csv), None).unwrap()), 2);
        assert_eq!(
            rows(open_source(&write("t.txt", csv), Some(Format::Csv)).unwrap()),
            2
        );
        assert_eq!(
            rows(open_source(&write("t.jsonl", b"{\"a\":1}\n"), None).unwrap()),
            1
        );
    }

    #[test]
    fn unknown_and_unreadable_inputs_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.txt");
        std::fs::write(&path, b"a,b\n1,2\n").unwrap();
        let err = err_of(open_source(path.to_str().unwrap(), None));
        let message = err.to_string();
        assert!(
            message.contains("t.txt") && message.contains("cannot tell"),
            "{message}"
        );
        assert!(message.contains("csv"), "{message}");

        let path = dir.path().join("empty");
        std::fs::write(&path, b"").unwrap();
        let message = err_of(open_source(path.to_str().unwrap(), None)).to_string();
        assert!(message.contains("file is empty"), "{message}");

        let message = err_of(open_source("/no/such/input", None)).to_string();
        assert!(message.contains("no such file"), "{message}");

        let message = err_of(open_source(dir.path().to_str().unwrap(), None)).to_string();
        assert!(message.contains("is a directory"), "{message}");
    }

    #[test]
    fn output_only_and_stdin_file_formats_are_plan_errors() {
        let err = err_of(open_source("t.arrow", Some(Format::Table)));
        assert!(matches!(err, Error::Plan(_)), "{err:?}");
        let err = err_of(open_source("-", Some(Format::ArrowFile)));
        assert!(matches!(err, Error::Plan(_)), "{err:?}");
        assert!(err.to_string().contains("stdin"), "{err}");
    }
}
