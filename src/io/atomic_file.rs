//! A file written under a temporary name beside its target and renamed onto the target
//! only on [`AtomicFile::commit`]: readers of the target never see a partial file.
//!
//! ```text
//!   create(out.arrow) ─▶ out.arrow.tmp-<pid>  ── write … ──▶ commit: flush, fsync, rename ─▶ out.arrow
//!                                                └──────────▶ drop without commit: temp removed
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::io_error;
use crate::error::{Error, Result};

/// Write buffer size: large enough that batch-sized writes go straight to the kernel in
/// few syscalls.
const BUFFER_BYTES: usize = 1 << 20;

/// A file that appears at its target path only when committed.
#[derive(Debug)]
pub struct AtomicFile {
    target: PathBuf,
    temp: PathBuf,
    /// `None` once committed (or after a failed commit, which removed the temp file).
    file: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Creates `<target>.tmp-<pid>` beside `target`, replacing a stale one.
    ///
    /// # Errors
    /// [`Error::Input`] naming `target` if it is a directory or the temp file cannot be
    /// created (missing directory, permissions).
    pub fn create(target: impl AsRef<Path>) -> Result<Self> {
        let target = target.as_ref().to_path_buf();
        if target.is_dir() {
            return Err(Error::input(
                &target,
                "is a directory; give an output file name",
            ));
        }
        let Some(name) = target.file_name() else {
            return Err(Error::input(&target, "is not a file name"));
        };
        let mut temp_name = name.to_os_string();
        temp_name.push(format!(".tmp-{}", std::process::id()));
        let temp = target.with_file_name(temp_name);
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp)
            .map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => {
                    Error::input(&target, "cannot create: no such directory")
                }
                _ => io_error(&target, "cannot create", e),
            })?;
        Ok(AtomicFile {
            target,
            temp,
            file: Some(BufWriter::with_capacity(BUFFER_BYTES, file)),
        })
    }

    /// The path the file will have once committed.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The temporary path being written.
    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    /// Flushes, syncs the data to disk, and renames the temp file onto the target
    /// (replacing any previous file there).
    ///
    /// The sync makes the rename safe across a crash: without it a file system may
    /// commit the rename before the data and leave an empty target.
    ///
    /// # Errors
    /// [`Error::Input`] naming the target if any step fails; the temp file is removed.
    pub fn commit(mut self) -> Result<()> {
        let Some(writer) = self.file.take() else {
            return Err(Error::internal("AtomicFile committed twice"));
        };
        let result = writer
            .into_inner()
            .map_err(|e| e.into_error())
            .and_then(|file| file.sync_all())
            .and_then(|()| fs::rename(&self.temp, &self.target));
        result.map_err(|e| {
            let _ = fs::remove_file(&self.temp);
            io_error(&self.target, "cannot write", e)
        })
    }

    fn writer(&mut self) -> io::Result<&mut BufWriter<File>> {
        self.file
            .as_mut()
            .ok_or_else(|| io::Error::other("write to a committed file"))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer()?.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.writer()?.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer()?.flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if let Some(writer) = self.file.take() {
            // Not committed: the output is incomplete, so it must not survive. Close the
            // file without flushing what is buffered, then remove it.
            let (file, _unflushed) = writer.into_parts();
            drop(file);
            let _ = fs::remove_file(&self.temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_renames_onto_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.csv");
        fs::write(&target, "old").unwrap();
        let mut file = AtomicFile::create(&target).unwrap();
        let temp = file.temp_path().to_path_buf();
        assert_eq!(temp.parent(), target.parent());
        file.write_all(b"new contents").unwrap();
        // The target is untouched until commit.
        assert_eq!(fs::read_to_string(&target).unwrap(), "old");
        file.commit().unwrap();
        assert_eq!(fs::read_to_string(&target).unwrap(), "new contents");
        assert!(!temp.exists());
    }

    #[test]
    fn drop_without_commit_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.arrow");
        let mut file = AtomicFile::create(&target).unwrap();
        let temp = file.temp_path().to_path_buf();
        file.write_all(&[7u8; 3 * BUFFER_BYTES]).unwrap();
        assert!(temp.exists());
        drop(file);
        assert!(!temp.exists());
        assert!(!target.exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn missing_directory_is_an_input_error() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("no/such/dir/out.arrow");
        let err = AtomicFile::create(&target).unwrap_err();
        assert!(err.to_string().contains("no such directory"), "{err}");
        let err = AtomicFile::create(dir.path()).unwrap_err();
        assert!(err.to_string().contains("is a directory"), "{err}");
    }
}
