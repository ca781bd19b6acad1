//! The file formats velostream reads and writes, and how a format is chosen: by name
//! (`--format`), by file extension, or by sniffing the first bytes of the file.

use std::fmt;
use std::path::Path;

use crate::error::{Error, Result};

/// The magic bytes that open (and close) an Arrow IPC *file*.
pub(crate) const ARROW_FILE_MAGIC: &[u8; 6] = b"ARROW1";

/// The continuation marker that opens every message of an Arrow IPC *stream* (since
/// format version 0.15).
pub(crate) const IPC_CONTINUATION: [u8; 4] = [0xFF; 4];

/// A file format for inputs and outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Arrow IPC file (random access, footer at the end): `.arrow`, `.feather`, `.ipc`.
    ArrowFile,
    /// Arrow IPC stream (sequential messages): `.arrows`, or `-` for stdin/stdout.
    ArrowStream,
    /// Comma-separated values with a header row.
    Csv,
    /// Newline-delimited JSON, one object per row.
    Json,
    /// A human-readable table (output only).
    Table,
}

/// The names accepted by [`Format::from_name`], for error messages and `--help`.
pub const FORMAT_NAMES: &str = "arrow (ipc, feather), arrows (stream), csv, json (ndjson), table";

impl Format {
    /// Parses a format name as given to `--format` (case-insensitive).
    ///
    /// `arrow`, `ipc`, `feather` → [`Format::ArrowFile`]; `arrows`, `stream` →
    /// [`Format::ArrowStream`]; `csv`; `json`, `ndjson`, `jsonl` → [`Format::Json`];
    /// `table`.
    ///
    /// # Errors
    /// [`Error::Plan`] naming the valid choices if `name` is none of these.
    ///
    /// ```
    /// use velostream::io::Format;
    /// assert_eq!(Format::from_name("feather").unwrap(), Format::ArrowFile);
    /// assert!(Format::from_name("parquet").is_err());
    /// ```
    pub fn from_name(name: &str) -> Result<Format> {
        match name.trim().to_ascii_lowercase().as_str() {
            "arrow" | "ipc" | "feather" => Ok(Format::ArrowFile),
            "arrows" | "stream" => Ok(Format::ArrowStream),
            "csv" => Ok(Format::Csv),
            "json" | "ndjson" | "jsonl" => Ok(Format::Json),
            "table" => Ok(Format::Table),
            _ => Err(Error::plan(format!(
                "unknown format '{name}'; valid formats are: {FORMAT_NAMES}"
            ))),
        }
    }

    /// The format a path's extension names (case-insensitive), if any.
    ///
    /// `.arrow`, `.feather`, `.ipc` → [`Format::ArrowFile`]; `.arrows` →
    /// [`Format::ArrowStream`]; `.csv`; `.json`, `.ndjson`, `.jsonl` → [`Format::Json`].
    ///
    /// ```
    /// use std::path::Path;
    /// use velostream::io::Format;
    /// assert_eq!(Format::from_path(Path::new("t.arrows")), Some(Format::ArrowStream));
    /// assert_eq!(Format::from_path(Path::new("t.txt")), None);
    /// ```
    pub fn from_path(path: &Path) -> Option<Format> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "arrow" | "feather" | "ipc" => Some(Format::ArrowFile),
            "arrows" => Some(Format::ArrowStream),
            "csv" => Some(Format::Csv),
            "json" | "ndjson" | "jsonl" => Some(Format::Json),
            _ => None,
        }
    }

    /// The Arrow IPC format the first bytes of a file announce, if they announce one:
    /// `ARROW1` opens an IPC file, the `0xFFFFFFFF` continuation marker an IPC stream.
    pub fn sniff(prefix: &[u8]) -> Option<Format> {
        if prefix.starts_with(ARROW_FILE_MAGIC) {
            Some(Format::ArrowFile)
        } else if prefix.starts_with(&IPC_CONTINUATION) {
            Some(Format::ArrowStream)
        } else {
            None
        }
    }

    /// The canonical name, as accepted by [`Format::from_name`].
    pub fn name(self) -> &'static str {
        match self {
            Format::ArrowFile => "arrow",
            Format::ArrowStream => "arrows",
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Table => "table",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_to_formats() {
        let cases = [
            ("arrow", Format::ArrowFile),
            ("IPC", Format::ArrowFile),
            ("feather", Format::ArrowFile),
            ("arrows", Format::ArrowStream),
            ("stream", Format::ArrowStream),
            ("csv", Format::Csv),
            ("json", Format::Json),
            ("ndjson", Format::Json),
            ("table", Format::Table),
        ];
        for (name, format) in cases {
            assert_eq!(Format::from_name(name).unwrap(), format, "{name}");
        }
        for format in [
            Format::ArrowFile,
            Format::ArrowStream,
            Format::Csv,
            Format::Json,
            Format::Table,
        ] {
            assert_eq!(Format::from_name(format.name()).unwrap(), format);
        }
    }

    #[test]
    fn unknown_name_lists_the_choices() {
        let err = Format::from_name("parquet").unwrap_err();
        assert!(matches!(err, Error::Plan(_)), "{err:?}");
        let message = err.to_string();
        assert!(message.contains("parquet"), "{message}");
        assert!(message.contains("arrows"), "{message}");
        assert!(message.contains("table"), "{message}");
    }

    #[test]
    fn extensions_map_to_formats() {
        let cases = [
            ("a.arrow", Some(Format::ArrowFile)),
            ("dir.x/a.FEATHER", Some(Format::ArrowFile)),
            ("a.ipc", Some(Format::ArrowFile)),
            ("a.arrows", Some(Format::ArrowStream)),
            ("a.csv", Some(Format::Csv)),
            ("a.json", Some(Format::Json)),
            ("a.ndjson", Some(Format::Json)),
            ("a.jsonl", Some(Format::Json)),
            ("a.parquet", None),
            ("noext", None),
            ("-", None),
        ];
        for (path, format) in cases {
            assert_eq!(Format::from_path(Path::new(path)), format, "{path}");
        }
    }

    #[test]
    fn sniffs_file_and_stream_magic() {
        assert_eq!(Format::sniff(b"ARROW1\0\0"), Some(Format::ArrowFile));
        assert_eq!(
            Format::sniff(&[0xFF, 0xFF, 0xFF, 0xFF, 0x10, 0, 0, 0]),
            Some(Format::ArrowStream)
        );
        assert_eq!(Format::sniff(b"a,b,c\n"), None);
        assert_eq!(Format::sniff(b""), None);
    }
}
