//! Where a sink's bytes go: stdout, any writer, or an [`AtomicFile`] renamed onto its
//! target when the sink finishes.
//!
//! An [`Output`] also remembers whether its reader went away (`EPIPE`): some encoders
//! (arrow-csv) turn I/O errors into plain text, so the sink asks the output, not the
//! error, whether to report a closed pipe (see [`is_broken_pipe`](super::is_broken_pipe)).

use std::io::{self, BufWriter, Stdout, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::atomic_file::AtomicFile;
use crate::error::{Error, Result};

/// Stdout buffer size: big writes, few syscalls, still streaming for pipelines.
const STDOUT_BUFFER_BYTES: usize = 1 << 16;

/// The destination of an encoded output.
pub struct Output {
    target: Target,
    pipe_closed: PipeClosed,
}

enum Target {
    Stdout(BufWriter<Stdout>),
    File(AtomicFile),
    Writer(Box<dyn Write + Send>),
}

/// Set once a write to an [`Output`] failed because its reader went away.
#[derive(Debug, Clone, Default)]
pub struct PipeClosed(Arc<AtomicBool>);

impl PipeClosed {
    /// True once the reader has gone away.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// The error a sink returns for a closed pipe: [`Error::Io`] with
    /// [`io::ErrorKind::BrokenPipe`].
    pub fn error() -> Error {
        Error::Io(io::ErrorKind::BrokenPipe.into())
    }
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.target {
            Target::Stdout(_) => f.write_str("Output::Stdout"),
            Target::File(file) => f.debug_tuple("Output::File").field(file).finish(),
            Target::Writer(_) => f.write_str("Output::Writer"),
        }
    }
}

impl Output {
    fn new(target: Target) -> Self {
        Output {
            target,
            pipe_closed: PipeClosed::default(),
        }
    }

    /// Standard output, buffered.
    pub fn stdout() -> Self {
        Self::new(Target::Stdout(BufWriter::with_capacity(
            STDOUT_BUFFER_BYTES,
            io::stdout(),
        )))
    }

    /// A file at `path`, written atomically.
    ///
    /// # Errors
    /// See [`AtomicFile::create`].
    pub fn file(path: impl AsRef<Path>) -> Result<Self> {
        Ok(Self::new(Target::File(AtomicFile::create(path)?)))
    }

    /// Any writer (an embedding application's buffer or socket); flushed on commit.
    pub fn writer(writer: Box<dyn Write + Send>) -> Self {
        Self::new(Target::Writer(writer))
    }

    /// A handle that tells whether a write failed because the reader went away.
    pub fn pipe_closed(&self) -> PipeClosed {
        self.pipe_closed.clone()
    }

    /// Flushes stdout or the writer, or commits the file.
    ///
    /// # Errors
    /// [`Error::Io`] for a closed pipe; [`Error::Input`] naming the file otherwise.
    pub fn commit(self) -> Result<()> {
        let flushed = match self.target {
            Target::Stdout(mut out) => out.flush(),
            Target::Writer(mut writer) => writer.flush(),
            Target::File(file) => return file.commit(),
        };
        flushed.map_err(|e| super::io_error(Path::new("-"), "cannot write", e))
    }

    /// Passes `result` on, noting a closed pipe.
    fn note<T>(&self, result: io::Result<T>) -> io::Result<T> {
        if let Err(e) = &result
            && e.kind() == io::ErrorKind::BrokenPipe
        {
            self.pipe_closed.0.store(true, Ordering::Relaxed);
        }
        result
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let result = match &mut self.target {
            Target::Stdout(out) => out.write(buf),
            Target::File(file) => file.write(buf),
            Target::Writer(writer) => writer.write(buf),
        };
        self.note(result)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        let result = match &mut self.target {
            Target::Stdout(out) => out.write_all(buf),
            Target::File(file) => file.write_all(buf),
            Target::Writer(writer) => writer.write_all(buf),
        };
        self.note(result)
    }

    fn flush(&mut self) -> io::Result<()> {
        let result = match &mut self.target {
            Target::Stdout(out) => out.flush(),
            Target::File(file) => file.flush(),
            Target::Writer(writer) => writer.flush(),
        };
        self.note(result)
    }
}
