//! Execution: physical operators over record batches, the query object that drives
//! them, metrics, and the job runner used by the CLI.
//!
//! ```text
//!  push(batch) ─▶ schema check ─▶ FilterProject (rayon across batches when several
//!                                 arrive together; output order kept) ─▶ Limit ─▶ out
//! ```

pub mod analytic;
pub mod filter_project;
pub mod handoff;
pub mod hash_aggregate;
pub mod metrics;
pub mod overlap;
pub mod partition;
pub mod physical;
pub mod query;
pub mod runner;
pub mod selection;
pub mod window;
pub mod workers;

pub use filter_project::FilterProject;
pub use metrics::Metrics;
pub use physical::PhysicalPlan;
pub use query::Query;
pub use workers::{AnalyticSplit, Workers};
