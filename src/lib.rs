//! velostream
pub mod error;
pub mod expr;
pub mod sql;
pub use error::{Error, Result};
