//! velostream
pub mod error;
pub mod expr;
pub mod r#gen;
pub mod io;
pub mod sql;
pub use error::{Error, Result};
