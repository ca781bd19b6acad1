//! Where a sink's bytes go: stdout, or an [`AtomicFile`] renamed onto its target when the
//! sink finishes.

use std::io::{self, BufWriter, Stdout, Write};
use std::path::Path;

use super::atomic_file::AtomicFile;
use crate::error::Result;

/// Stdout buffer size: big writes, few syscalls, still streaming for pipelines.
const STDOUT_BUFFER_BYTES: usize = 1 << 16;

/// The destination of an encoded output.
pub enum Output {
    /// Standard output (`-`, or no path).
    Stdout(BufWriter<Stdout>),
    /// A file, committed on [`Output::commit`].
    File(AtomicFile),
    /// Any writer (an embedding application's buffer or socket); flushed on commit.
    Writer(Box<dyn Write + Send>),
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Output::Stdout(_) => f.write_str("Output::Stdout"),
            Output::File(file) => f.debug_tuple("Output::File").field(file).finish(),
            Output::Writer(_) => f.write_str("Output::Writer"),
        }
    }
}

impl Output {
    /// Standard output, buffered.
    pub fn stdout() -> Self {
        Output::Stdout(BufWriter::with_capacity(STDOUT_BUFFER_BYTES, io::stdout()))
    }

    /// A file at `path`, written atomically.
    ///
    /// # Errors
    /// See [`AtomicFile::create`].
    pub fn file(path: impl AsRef<Path>) -> Result<Self> {
        Ok(Output::File(AtomicFile::create(path)?))
    }

    /// Flushes stdout, or commits the file.
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) for a closed stdout pipe; [`Error::Input`](crate::Error::Input) naming the file otherwise.
    pub fn commit(self) -> Result<()> {
        match self {
            Output::Stdout(mut out) => out
                .flush()
                .map_err(|e| super::io_error(Path::new("-"), "cannot write", e)),
            Output::File(file) => file.commit(),
            Output::Writer(mut writer) => writer
                .flush()
                .map_err(|e| super::io_error(Path::new("-"), "cannot write", e)),
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Output::Stdout(out) => out.write(buf),
            Output::File(file) => file.write(buf),
            Output::Writer(writer) => writer.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Output::Stdout(out) => out.write_all(buf),
            Output::File(file) => file.write_all(buf),
            Output::Writer(writer) => writer.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Output::Stdout(out) => out.flush(),
            Output::File(file) => file.flush(),
            Output::Writer(writer) => writer.flush(),
        }
    }
}
