//! The one error type of the crate, and its `Result` alias.
//!
//! Variants are split by cause, so that a caller (and the CLI's exit code) can tell a
//! problem in the user's SQL or input from a bug in the engine.

use std::fmt;
use std::path::PathBuf;

use arrow::error::ArrowError;

/// `Result` with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A position in the SQL text (1-based line and column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SqlPosition {
    /// 1-based line.
    pub line: u64,
    /// 1-based column.
    pub column: u64,
}

impl fmt::Display for SqlPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// Every error velostream reports.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The SQL text could not be parsed, or names something that does not exist.
    #[error("SQL error at {position}: {message}")]
    Sql {
        /// What is wrong.
        message: String,
        /// Where in the SQL text.
        position: SqlPosition,
    },
    /// The query parsed but cannot be planned (types, validation).
    #[error("planning error: {0}")]
    Plan(String),
    /// An error from an Arrow kernel or reader.
    #[error("arrow error: {0}")]
    Arrow(#[from] ArrowError),
    /// An I/O error on a named file (or stdin/stdout).
    #[error("{path}: {message}")]
    Input {
        /// The file (or `-`).
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A plain I/O error with no file attached.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A runtime problem caused by the data (overflow, bad cast, schema mismatch).
    #[error("execution error: {0}")]
    Execution(String),
    /// State grew past the configured memory limit.
    #[error("resources exhausted: {0}")]
    ResourcesExhausted(String),
    /// A feature that is recognised but not implemented (yet).
    #[error("not supported: {0}")]
    NotSupported(String),
    /// A bug in velostream: please report it.
    #[error("internal error (this is a bug): {0}")]
    Internal(String),
}

impl Error {
    /// A SQL error at a position.
    pub fn sql(message: impl Into<String>, position: SqlPosition) -> Self {
        Error::Sql {
            message: message.into(),
            position,
        }
    }

    /// A planning error.
    pub fn plan(message: impl Into<String>) -> Self {
        Error::Plan(message.into())
    }

    /// An execution error.
    pub fn execution(message: impl Into<String>) -> Self {
        Error::Execution(message.into())
    }

    /// A not-supported error.
    pub fn not_supported(message: impl Into<String>) -> Self {
        Error::NotSupported(message.into())
    }

    /// An internal error (a bug).
    pub fn internal(message: impl Into<String>) -> Self {
        Error::Internal(message.into())
    }

    /// An error about an input or output file.
    pub fn input(path: impl Into<PathBuf>, message: impl fmt::Display) -> Self {
        Error::Input {
            path: path.into(),
            message: message.to_string(),
        }
    }
}

impl From<sqlparser::parser::ParserError> for Error {
    fn from(e: sqlparser::parser::ParserError) -> Self {
        crate::sql::parser_error(e)
    }
}
