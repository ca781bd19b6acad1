//! velostream
pub mod config;
pub mod engine;
pub mod error;
pub mod exec;
pub mod expr;
pub mod plan;
pub mod sql;
pub use config::QueryOptions;
pub use engine::{Engine, ResultIter};
pub use error::{Error, Result};
pub use exec::{Metrics, Query};
