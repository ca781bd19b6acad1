//! Inputs and outputs: sources that yield Arrow record batches from files and stdin, and
//! sinks that write result batches to files and stdout.
//!
//! ```text
//!   path / "-" ──open_source──▶ Box<dyn BatchSource> ──rechunk──▶ batches of N rows ──▶ engine
//!                 ├ IpcFileSource    (.arrow: mmap + footer, zero-copy, lazy per batch)
//!                 ├ IpcStreamSource  (.arrows, stdin: message by message)
//!                 ├ CsvSource        (.csv: header row, schema inferred)
//!                 └ JsonSource       (.json/.ndjson: one object per line)
//!
//!   engine ──▶ Box<dyn Sink> ◀──open_sink── path / "-" / None
//!                 ├ EncoderSink      (IPC file, IPC stream, CSV, NDJSON)
//!                 └ TableSink        (pretty table, first and last rows only)
//!                     │
//!                     ▼ Output: stdout, or AtomicFile (`<target>.tmp-<pid>`, renamed on finish)
//! ```
//!
//! Every problem with a file is an [`crate::Error::Input`] naming the file
//! and the problem. Corrupt Arrow IPC data is checked before arrow-ipc decodes it (see
//! [`ipc_message`]), so no input can make a reader panic.

pub mod atomic_file;
pub mod csv;
pub mod decoded_source;
pub mod format;
pub mod ipc_file;
pub mod ipc_message;
pub mod ipc_stream;
pub mod ipc_validate;
pub mod json;
pub(crate) mod mapped_blocks;
pub mod output;
pub mod rechunk;
pub mod sink;
pub mod source;
pub mod table;
#[cfg(test)]
pub(crate) mod test_data;

pub use atomic_file::AtomicFile;
pub use csv::CsvSource;
pub use format::{FORMAT_NAMES, Format};
pub use ipc_file::IpcFileSource;
pub use ipc_stream::IpcStreamSource;
pub use json::JsonSource;
pub use output::{Output, PipeClosed};
pub use rechunk::{Rechunker, rechunk};
pub use sink::{EncoderSink, Sink, open_sink};
pub use source::{BatchCheck, BatchDecoder, BatchSource, DEFAULT_BATCH_SIZE, open_source};
pub use table::{DEFAULT_TABLE_ROWS, TableSink};

use std::io;
use std::path::Path;

use arrow::error::ArrowError;

use crate::error::Error;

/// True if `err` says the reader of stdout went away (`EPIPE`, e.g. `velo ... | head`):
/// the CLI should stop quietly with success rather than print an error.
pub fn is_broken_pipe(err: &Error) -> bool {
    match err {
        Error::Io(e) => e.kind() == io::ErrorKind::BrokenPipe,
        Error::Arrow(ArrowError::IoError(_, e)) => e.kind() == io::ErrorKind::BrokenPipe,
        _ => false,
    }
}

/// Maps an I/O error on `path` to an [`Error`]: a closed pipe stays [`Error::Io`] (see
/// [`is_broken_pipe`]); anything else becomes [`Error::Input`] with a plain message.
pub(crate) fn io_error(path: &Path, context: &str, err: io::Error) -> Error {
    let message = match err.kind() {
        io::ErrorKind::BrokenPipe => return Error::Io(err),
        io::ErrorKind::NotFound => "no such file".to_string(),
        io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        io::ErrorKind::UnexpectedEof => "file is truncated".to_string(),
        _ => err.to_string(),
    };
    if context.is_empty() {
        Error::input(path, message)
    } else {
        Error::input(path, format!("{context}: {message}"))
    }
}

/// Maps an arrow error while reading or writing `path` to an [`Error`], keeping a closed
/// pipe as [`Error::Io`].
pub(crate) fn arrow_error(path: &Path, context: &str, err: ArrowError) -> Error {
    match err {
        ArrowError::IoError(_, e) => io_error(path, context, e),
        other => Error::input(path, format!("{context}: {other}")),
    }
}
