//! Execution: physical operators over record batches, the query object that drives
//! them, metrics, and the job runner used by the CLI.
//!
//! ```text
//!  push(batch) ─▶ schema check ─▶ FilterProject (rayon across batches when several
//!                                 arrive together; output order kept) ─▶ Limit ─▶ out
//! ```

use arrow::array::RecordBatch;

use crate::error::Result;

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

/// What a stateful operator applies to each of its emissions before handing it back:
/// the query's SELECT and ORDER BY over the operator's output. Stateless, so the
/// operator runs it where the emission is built (on a worker, inside the in-order merge)
/// instead of leaving it to the calling thread after the parallel call.
pub type Shape<'a> = &'a (dyn Fn(RecordBatch) -> Result<RecordBatch> + Sync);

/// The check each batch of a call must pass before anything reads its column values,
/// by the batch's position in the call: batches read unchecked (see
/// [`crate::io::BatchSource::defer_checks`]) are checked by the worker that first uses
/// them, just before its pre-projection, instead of all on the reader's thread.
pub type Check<'a> = Option<&'a (dyn Fn(usize, &RecordBatch) -> Result<()> + Sync)>;

/// Runs `check` on batch `i` of a call, if there is one.
#[inline]
pub(crate) fn check_batch(check: Check<'_>, i: usize, batch: &RecordBatch) -> Result<()> {
    match check {
        Some(check) => check(i, batch),
        None => Ok(()),
    }
}
