//! The job runner: source → (re-chunk) → query → sink, with progress. The CLI, the
//! SQL golden tests and `velo bench` all run queries through this one path.
//!
//! ```text
//!  BatchSource ─▶ Rechunker (--batch-size) ─▶ groups of `partitions` batches
//!      ─▶ Query::push_batches (parallel, order kept) ─▶ Sink::write … Query::finish ─▶ Sink
//! ```

use indicatif::ProgressBar;

use super::query::Query;
use crate::error::Result;
use crate::io::{BatchSource, Sink, rechunk};

/// How to feed a query.
#[derive(Debug, Clone, Default)]
pub struct RunSettings {
    /// Re-chunk the input into batches of exactly this many rows.
    pub batch_size: Option<usize>,
    /// Progress bar to advance by input rows.
    pub progress: Option<ProgressBar>,
}

/// Runs `query` over all of `source`, writing every result batch to `sink`, then
/// finishes the query (flushing open state). The sink is not finished here: the caller
/// decides (so a failed run can drop it and leave no output file).
///
/// # Errors
/// Input, execution and output errors, as they happen.
pub fn run_to_sink(
    query: &mut Query,
    source: Box<dyn BatchSource>,
    settings: &RunSettings,
    sink: &mut dyn Sink,
) -> Result<()> {
    run_to_sinks(query, source, settings, sink, None)
}

/// As [`run_to_sink`], and writes the rows a windowed query drops as late to
/// `late_sink` (the query must collect them: [`crate::QueryOptions::collect_late_rows`]).
///
/// # Errors
/// Input, execution and output errors, as they happen.
pub fn run_to_sinks(
    query: &mut Query,
    source: Box<dyn BatchSource>,
    settings: &RunSettings,
    sink: &mut dyn Sink,
    mut late_sink: Option<&mut dyn Sink>,
) -> Result<()> {
    let schema = source.schema();
    let input = query.input_name().to_string();
    let group = batches_per_push(query.partitions());
    let mut batches: Box<dyn Iterator<Item = Result<arrow::array::RecordBatch>>> =
        match settings.batch_size {
            Some(n) => Box::new(rechunk(source, schema, n)),
            None => Box::new(source),
        };
    let mut pending = Vec::with_capacity(group);
    loop {
        pending.clear();
        while pending.len() < group {
            match batches.next() {
                Some(b) => pending.push(b?),
                None => break,
            }
        }
        if pending.is_empty() {
            break;
        }
        let rows: u64 = pending.iter().map(|b| b.num_rows() as u64).sum();
        for out in query.push_batches(&input, std::mem::take(&mut pending))? {
            sink.write(&out)?;
        }
        if let Some(late) = late_sink.as_deref_mut() {
            for l in query.take_late_rows() {
                late.write(&l)?;
            }
        }
        if let Some(p) = &settings.progress {
            p.inc(rows);
        }
        if query.is_done() {
            break;
        }
    }
    for out in query.finish()? {
        sink.write(&out)?;
    }
    Ok(())
}

/// Batches handed to the query per call: one for a single partition; otherwise enough
/// for each worker to get many (a call ends when its last batch is done, so its tail
/// idles a worker; 32 per worker measured best on S2/S3b, 8 per worker cost 5–15 %).
pub fn batches_per_push(partitions: usize) -> usize {
    if partitions <= 1 { 1 } else { partitions * 32 }
}

/// A sink that keeps every batch in memory (for tests and embedding).
#[derive(Debug, Default)]
pub struct CollectSink {
    /// The batches written so far.
    pub batches: Vec<arrow::array::RecordBatch>,
}

impl Sink for CollectSink {
    fn write(&mut self, batch: &arrow::array::RecordBatch) -> Result<()> {
        self.batches.push(batch.clone());
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}
