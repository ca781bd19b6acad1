//! The job runner: source → (re-chunk) → query → sink as a three-stage pipeline, with
//! progress. The CLI, the SQL golden tests and `velo bench` all run queries through this
//! one path.
//!
//! ```text
//!   reader thread                 calling thread                  writer thread
//!   BatchSource                   Query::push_batches             Sink::write
//!    ─▶ Rechunker (--batch-size)   (parallel on the query's        (+ late-rows sink)
//!    ─▶ groups of batches ══╗      rayon pool, order kept)  ══╗    ─▶ …
//!                           ╚═▶ bounded queue ─▶ … ─▶ results ╚═▶ bounded queue
//!                               (a few groups)                    (a few pushes' results)
//! ```
//! Decoding the next groups overlaps computing the current one, and encoding/writing
//! results overlaps both. Each queue message is a whole group of batches (or the results
//! of one push), never a row. The queues are bounded, so memory holds at most a few
//! groups beyond the query's own state, and a slow stage holds back the others.
//!
//! Errors come out in stream order, as a sequential run would report them: a read error
//! travels down the input queue behind the groups read before it; a query error stops
//! the reading (the reader sees a stop flag or a closed queue) and lets the writer finish
//! the results already queued, whose write error (if any) came first; a write error
//! closes the result queue, which stops the compute at its next send. Nothing waits on a
//! stage that has stopped, so no failure can hang the run. The sinks are never finished
//! here: the caller finishes them on success or drops them (no output file) on failure.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use indicatif::ProgressBar;
use rayon::ThreadPool;
use rayon::prelude::*;

use super::handoff::{Receiver, Sender, bounded};
use super::query::Query;
use crate::error::{Error, Result};
use crate::io::{BatchCheck, BatchDecoder, BatchSource, Sink, rechunk};

/// Batches the input queue holds on one partition (see [`CallSize`]): 32 batches of
/// 8,192 trade rows are ~12 MB, enough for the reader to absorb a slow read without
/// holding much memory.
const INPUT_QUEUE_BATCHES: usize = 32;

/// Push results the output queue holds: enough to ride out one slow write.
const OUTPUT_QUEUE_MESSAGES: usize = 4;

/// How to feed a query.
#[derive(Debug, Clone, Default)]
pub struct RunSettings {
    /// Re-chunk the input into batches of exactly this many rows.
    pub batch_size: Option<usize>,
    /// Progress bar to advance by input rows.
    pub progress: Option<ProgressBar>,
    /// Record the latency of every push in [`RunReport::push_latencies`] (one entry per
    /// group of batches, so memory grows with the input: for benchmarks).
    pub record_latencies: bool,
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    /// Input rows pushed into the query.
    pub rows_in: u64,
    /// Input batches pushed (after re-chunking).
    pub batches_in: u64,
    /// Calls to [`Query::push_batches`] (groups of batches).
    pub pushes: u64,
    /// Result rows written to the sink.
    pub rows_out: u64,
    /// Result batches written to the sink.
    pub batches_out: u64,
    /// Time the compute stage waited for input (reading/decoding slower than compute).
    pub input_wait: Duration,
    /// Time the compute stage waited for the writer (writing slower than compute).
    pub output_wait: Duration,
    /// Wall time of each push, in input order (only with
    /// [`RunSettings::record_latencies`]).
    pub push_latencies: Vec<Duration>,
}

/// Runs `query` over all of `source`, writing every result batch to `sink`, then
/// finishes the query (flushing open state). The sink is not finished here: the caller
/// decides (so a failed run can drop it and leave no output file).
///
/// Reading, computing and writing run on three threads joined by bounded queues; see
/// the [module documentation](self).
///
/// # Errors
/// The first input, execution or output error in stream order.
pub fn run_to_sink(
    query: &mut Query,
    source: Box<dyn BatchSource>,
    settings: &RunSettings,
    sink: &mut dyn Sink,
) -> Result<RunReport> {
    run_to_sinks(query, source, settings, sink, None)
}

/// As [`run_to_sink`], and writes the rows a windowed query drops as late to
/// `late_sink` (the query must collect them: [`crate::QueryOptions::collect_late_rows`]).
///
/// If the run stops before the end of the input (an error, or a LIMIT reached), the
/// reader thread is not waited for: it may be blocked reading a slow input (stdin), and
/// it ends by itself at its next batch.
///
/// # Errors
/// The first input, execution or output error in stream order.
pub fn run_to_sinks(
    query: &mut Query,
    mut source: Box<dyn BatchSource>,
    settings: &RunSettings,
    sink: &mut dyn Sink,
    late_sink: Option<&mut dyn Sink>,
) -> Result<RunReport> {
    // Several partitions: the workers check each batch just before they first use it
    // (its bytes then come from memory once), instead of the reader thread checking all
    // of them on a core the workers need. One partition keeps the checks on the reader,
    // where they overlap the computing. Not when batches are re-cut (that reads them).
    let deferred = if query.partitions() > 1 && settings.batch_size.is_none() {
        // SAFETY: the reader thread only counts the rows of the batches it reads and
        // hands them to `compute`, which passes each to the query with this check
        // (`Query::push_checked`): the operators run it before anything reads a value.
        unsafe { source.defer_checks() }
    } else {
        None
    };
    // Several partitions: a source that can (an IPC file) has its batches decoded on the
    // query's workers, a call's worth at a time: the reader thread hands the pool the job
    // and waits, rather than decode on a core the workers need. The workers take the job
    // up whenever they run out of work in a call, and at its end. Not for small batches,
    // where decoding is a larger share of the work and the reader thread decoding beside
    // the workers measured 2-3 % faster (S3b at batches of 1,000).
    let large_batches = match (source.total_rows(), source.size_hint().0) {
        (Some(rows), batches) if batches > 0 => rows / batches as u64 >= SPLIT_DECODE_MIN_ROWS,
        _ => false,
    };
    let split = match query.pool() {
        Some(pool) if query.partitions() > 1 && settings.batch_size.is_none() && large_batches => {
            source
                .split_decoding()
                .map(|decoder| (Arc::clone(pool), decoder))
        }
        _ => None,
    };
    let group = CallSize::reading(query.partitions());
    let capacity = group.queue_capacity();
    let (groups_tx, groups_rx) = bounded(capacity, capacity / 2);
    let wake = groups_tx.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let input = match split {
        Some((pool, decoder)) => Input::Split(pool, decoder),
        None => Input::Source(source, settings.batch_size),
    };
    let reader = spawn_reader(input, group, groups_tx, stop.clone())?;
    let collect_late = late_sink.is_some();
    let mut report = RunReport::default();
    let (computed, written) = std::thread::scope(|scope| {
        let (results_tx, results_rx) = bounded(OUTPUT_QUEUE_MESSAGES, OUTPUT_QUEUE_MESSAGES / 2);
        let writer = std::thread::Builder::new()
            .name("velo-writer".into())
            .spawn_scoped(scope, move || {
                write_results(results_rx, sink, late_sink, wake)
            })
            .map_err(|e| Error::internal(format!("cannot start the writer thread: {e}")));
        let writer = match writer {
            Ok(writer) => writer,
            Err(e) => return (Err(e), Ok(Written::default())),
        };
        let computed = compute(
            query,
            groups_rx,
            results_tx,
            settings,
            collect_late,
            deferred.as_deref(),
            &mut report,
        );
        // The input queue is closed (`groups_rx` was moved into `compute` and dropped);
        // the flag also stops a reader that is between groups.
        stop.store(true, Ordering::Relaxed);
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(Error::internal("the writer thread panicked")));
        (computed, written)
    });
    let ended = match (computed, written) {
        // Everything the writer got came from groups before the one that failed.
        (_, Err(e)) => return Err(e),
        (Err(e), Ok(_)) => return Err(e),
        (Ok(ComputeEnd::WriterStopped), Ok(_)) => {
            return Err(Error::internal(
                "the writer stopped without an error before the end of the results",
            ));
        }
        (Ok(ended), Ok(written)) => {
            report.rows_out = written.rows;
            report.batches_out = written.batches;
            ended
        }
    };
    if ended == ComputeEnd::InputEnd {
        // The reader has sent its last message and is returning.
        reader
            .join()
            .map_err(|_| Error::internal("the reader thread panicked"))?;
    }
    Ok(report)
}

/// The fewest rows a source's batches hold on average for them to be decoded on the
/// query's pool (see `run_to_sinks`).
const SPLIT_DECODE_MIN_ROWS: u64 = 4096;

/// Several partitions: each worker gets at least this many batches a call...
const CALL_BATCHES_PER_WORKER: usize = 32;
/// ...and, for batches in memory, at least this many rows (64 batches of 8,192)...
const CALL_ROWS_PER_WORKER: usize = 64 * 8192;
/// ...but never more than this many batches (tiny batches).
const CALL_MAX_BATCHES_PER_WORKER: usize = 1024;

/// How the input is cut into calls of the query (`push_batches`). One partition: a batch
/// a call. Several: enough for each worker to get many batches (32 a worker measured best
/// on S2/S3b, 8 cost 5–15 %). A call ends when its last batch is done, so its tail idles
/// a worker, and starting one wakes the workers: together tens of µs a call on each
/// worker. For batches in memory ([`CallSize::in_memory`]) a call also holds at least
/// 524,288 rows per worker, which keeps those costs a small share whatever the batch
/// size: S3b at batches of 1,000 on two partitions lost 5–8 % of the workers' time to
/// them with 64 batches a call, about 1 % with 256 or more, and ran 5–7 % faster with 525;
/// S1 at batches of 8,192 ran 3 % faster with 128 batches a call than with 64 (S3a and
/// S3b 1–2 %), at twice the latency of a call. The CLI's runner ([`CallSize::reading`])
/// counts batches only: there a reader thread shares the cores, and calls of 525 batches
/// of 1,000 ran 5 % slower than calls of 64.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallSize {
    partitions: usize,
    /// Rows per worker a call waits for, once it has its batches.
    rows_per_worker: usize,
}

impl CallSize {
    /// The calls of a query on `partitions` partitions over batches already in memory
    /// (how `velo bench --mode mem` pushes; what a host program pushing many small
    /// batches does well to follow).
    pub fn in_memory(partitions: usize) -> CallSize {
        CallSize {
            partitions: partitions.max(1),
            rows_per_worker: CALL_ROWS_PER_WORKER,
        }
    }

    /// The calls of a query on `partitions` partitions fed by a reader thread.
    pub fn reading(partitions: usize) -> CallSize {
        CallSize {
            partitions: partitions.max(1),
            rows_per_worker: 0,
        }
    }

    /// Whether a call of `batches` batches holding `rows` rows is complete.
    pub fn is_full(self, batches: usize, rows: usize) -> bool {
        let p = self.partitions;
        if p == 1 {
            return batches >= 1;
        }
        batches >= CALL_MAX_BATCHES_PER_WORKER * p
            || (batches >= CALL_BATCHES_PER_WORKER * p && rows >= self.rows_per_worker * p)
    }

    /// `batches` cut into calls, in order.
    pub fn split(self, batches: &[RecordBatch]) -> Vec<&[RecordBatch]> {
        let mut calls = Vec::new();
        let (mut start, mut rows) = (0usize, 0usize);
        for (i, b) in batches.iter().enumerate() {
            rows += b.num_rows();
            if self.is_full(i + 1 - start, rows) {
                calls.push(&batches[start..=i]);
                start = i + 1;
                rows = 0;
            }
        }
        if start < batches.len() {
            calls.push(&batches[start..]);
        }
        calls
    }

    /// Calls the input queue holds: about [`INPUT_QUEUE_BATCHES`] batches on one
    /// partition; two calls on several (so the reader fills one while the compute takes
    /// the other). A reader ahead of the query refills the queue once it is half empty
    /// (see [`super::handoff`]).
    fn queue_capacity(self) -> usize {
        if self.partitions == 1 {
            INPUT_QUEUE_BATCHES
        } else {
            2
        }
    }
}

/// A message from the reader to the compute stage.
enum ReadMessage {
    /// The next group of batches and their rows.
    Group(Vec<RecordBatch>, u64),
    /// The input failed; nothing follows.
    Failed(Error),
    /// The input ended; nothing follows.
    End,
    /// Sent by the writer when a write failed, to wake a compute stage waiting for input.
    WriterStopped,
}

/// The results of one push: result batches, then late rows.
struct WriteMessage {
    results: Vec<RecordBatch>,
    late: Vec<RecordBatch>,
}

/// How the compute stage stopped (without an error of its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ComputeEnd {
    /// The input ended and the query finished.
    InputEnd,
    /// A LIMIT was reached before the end of the input; the query finished.
    LimitReached,
    /// The writer stopped taking results (it failed).
    WriterStopped,
}

/// What the writer wrote.
#[derive(Debug, Default)]
struct Written {
    rows: u64,
    batches: u64,
}

/// What the reader thread reads.
enum Input {
    /// A source, its batches re-cut to a size if given.
    Source(Box<dyn BatchSource>, Option<usize>),
    /// A source's batches decoded on the pool.
    Split(Arc<ThreadPool>, Arc<dyn BatchDecoder>),
}

/// Starts the reader thread: pulls batches from `input`, re-chunks them, and sends them
/// in calls (`group`) until the input ends, fails, `stop` is set, or the compute stage
/// closes the queue.
fn spawn_reader(
    input: Input,
    group: CallSize,
    queue: Sender<ReadMessage>,
    stop: Arc<AtomicBool>,
) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("velo-reader".into())
        .spawn(move || {
            let read = std::panic::catch_unwind(AssertUnwindSafe(|| match input {
                Input::Source(source, batch_size) => {
                    let schema = source.schema();
                    let batches: Box<dyn Iterator<Item = Result<RecordBatch>>> = match batch_size {
                        Some(n) => Box::new(rechunk(source, schema, n)),
                        None => Box::new(source),
                    };
                    read_groups(batches, group, &queue, &stop)
                }
                Input::Split(pool, decoder) => {
                    decode_groups(&pool, decoder.as_ref(), group, &queue, &stop)
                }
            }));
            if read.is_err() {
                // The compute stage must not wait for a reader that is gone.
                let _ = queue.send(ReadMessage::Failed(Error::internal(
                    "the reader thread panicked",
                )));
            }
        })
        .map_err(|e| Error::internal(format!("cannot start the reader thread: {e}")))
}

/// The reader loop of [`spawn_reader`] for a split source: each call's batches decoded
/// on `pool`, the first error in input order ending the input.
fn decode_groups(
    pool: &ThreadPool,
    decoder: &dyn BatchDecoder,
    group: CallSize,
    queue: &Sender<ReadMessage>,
    stop: &AtomicBool,
) {
    let n = decoder.num_batches();
    let mut start = 0;
    while start < n {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let (mut end, mut rows) = (start, 0u64);
        while end < n && !group.is_full(end - start, usize::try_from(rows).unwrap_or(usize::MAX)) {
            rows += decoder.rows(end);
            end += 1;
        }
        let decoded: Vec<Result<RecordBatch>> = pool.install(|| {
            (start..end)
                .into_par_iter()
                .map(|i| decoder.decode(i))
                .collect()
        });
        let batches: Result<Vec<RecordBatch>> = decoded.into_iter().collect();
        let message = match batches {
            Ok(batches) => ReadMessage::Group(batches, rows),
            Err(e) => {
                // Either send fails only if the compute stage has stopped already.
                let _ = queue.send(ReadMessage::Failed(e));
                return;
            }
        };
        if queue.send(message).is_err() {
            return;
        }
        start = end;
    }
    let _ = queue.send(ReadMessage::End);
}

/// The reader loop of [`spawn_reader`].
fn read_groups(
    mut batches: impl Iterator<Item = Result<RecordBatch>>,
    group: CallSize,
    queue: &Sender<ReadMessage>,
    stop: &AtomicBool,
) {
    loop {
        let mut pending = Vec::new();
        let mut rows = 0u64;
        let mut exhausted = false;
        while !group.is_full(pending.len(), rows as usize) {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            match batches.next() {
                Some(Ok(batch)) => {
                    rows += batch.num_rows() as u64;
                    pending.push(batch);
                }
                Some(Err(e)) => {
                    // Either send fails only if the compute stage has stopped already.
                    let _ = queue.send(ReadMessage::Failed(e));
                    return;
                }
                None => {
                    exhausted = true;
                    break;
                }
            }
        }
        if !pending.is_empty() && queue.send(ReadMessage::Group(pending, rows)).is_err() {
            return;
        }
        if exhausted {
            let _ = queue.send(ReadMessage::End);
            return;
        }
    }
}

/// The compute stage: pushes every group into the query and queues the results.
fn compute(
    query: &mut Query,
    groups: Receiver<ReadMessage>,
    results: Sender<WriteMessage>,
    settings: &RunSettings,
    collect_late: bool,
    deferred: Option<&dyn BatchCheck>,
    report: &mut RunReport,
) -> Result<ComputeEnd> {
    let input = query.input_name().to_string();
    let send = |message: WriteMessage, report: &mut RunReport| -> bool {
        if message.results.is_empty() && message.late.is_empty() {
            return true;
        }
        let waited = Instant::now();
        let sent = results.send(message).is_ok();
        report.output_wait += waited.elapsed();
        sent
    };
    let mut end = ComputeEnd::InputEnd;
    // the source's index of the next batch (every batch it yields reaches this stage)
    let mut next_batch = 0u64;
    loop {
        let waited = Instant::now();
        let message = groups.recv();
        report.input_wait += waited.elapsed();
        let (batches, rows) = match message {
            Ok(ReadMessage::Group(batches, rows)) => (batches, rows),
            Ok(ReadMessage::Failed(e)) => return Err(e),
            Ok(ReadMessage::End) => break,
            Ok(ReadMessage::WriterStopped) => return Ok(ComputeEnd::WriterStopped),
            Err(_) => {
                return Err(Error::internal(
                    "the reader thread stopped before the end of the input",
                ));
            }
        };
        report.batches_in += batches.len() as u64;
        report.rows_in += rows;
        report.pushes += 1;
        let started = Instant::now();
        let first = next_batch;
        next_batch += batches.len() as u64;
        let out = match deferred {
            Some(c) => {
                let check = |i: usize, b: &RecordBatch| c.check(first + i as u64, b);
                query.push_checked(&input, batches, Some(&check))?
            }
            None => query.push_batches(&input, batches)?,
        };
        let late = if collect_late {
            query.take_late_rows()
        } else {
            Vec::new()
        };
        if settings.record_latencies {
            report.push_latencies.push(started.elapsed());
        }
        if let Some(p) = &settings.progress {
            p.inc(rows);
        }
        let message = WriteMessage { results: out, late };
        if !send(message, report) {
            return Ok(ComputeEnd::WriterStopped);
        }
        if query.is_done() {
            end = ComputeEnd::LimitReached;
            break;
        }
    }
    drop(groups);
    let message = WriteMessage {
        results: query.finish()?,
        late: Vec::new(),
    };
    if !send(message, report) {
        return Ok(ComputeEnd::WriterStopped);
    }
    Ok(end)
}

/// The writer stage: writes every queued result until the queue closes or a write fails.
/// A failure drops the result queue (so the compute stage stops at its next send) and
/// posts [`ReadMessage::WriterStopped`] on the input queue through `wake` (so a compute
/// stage waiting for a slow input stops now).
fn write_results(
    queue: Receiver<WriteMessage>,
    sink: &mut dyn Sink,
    late_sink: Option<&mut dyn Sink>,
    wake: Sender<ReadMessage>,
) -> Result<Written> {
    let written = write_all(&queue, sink, late_sink);
    if written.is_err() {
        // A full queue means the compute stage is not waiting for input: it will find
        // the result queue closed at its next send.
        let _ = wake.try_send(ReadMessage::WriterStopped);
    }
    written
}

/// The loop of [`write_results`].
fn write_all(
    queue: &Receiver<WriteMessage>,
    sink: &mut dyn Sink,
    mut late_sink: Option<&mut dyn Sink>,
) -> Result<Written> {
    let mut written = Written::default();
    for message in queue {
        for batch in &message.results {
            sink.write(batch)?;
            written.rows += batch.num_rows() as u64;
            written.batches += 1;
        }
        if let Some(late) = late_sink.as_deref_mut() {
            for batch in &message.late {
                late.write(batch)?;
            }
        }
    }
    Ok(written)
}

/// A sink that keeps every batch in memory (for tests and embedding).
#[derive(Debug, Default)]
pub struct CollectSink {
    /// The batches written so far.
    pub batches: Vec<RecordBatch>,
}

impl Sink for CollectSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.batches.push(batch.clone());
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

/// A sink that counts the rows and batches written and drops them (for benchmarks: the
/// results are computed, but memory does not grow with the output).
#[derive(Debug, Default)]
pub struct CountSink {
    /// Rows written so far.
    pub rows: u64,
    /// Batches written so far.
    pub batches: u64,
}

impl Sink for CountSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.rows += batch.num_rows() as u64;
        self.batches += 1;
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::collections::VecDeque;
    use std::sync::mpsc::{Sender, channel};

    use arrow::datatypes::SchemaRef;
    use arrow_select::concat::concat_batches;

    use crate::io::test_data::{dict_batch, plain_batches, plain_schema};
    use crate::{Engine, QueryOptions};

    /// What a [`ScriptedSource`] does after its scripted items.
    enum Tail {
        /// Ends the input.
        End,
        /// Blocks (like a stalled stdin) until the test drops the sender.
        Block(std::sync::mpsc::Receiver<()>),
        /// Repeats this batch forever.
        Endless(RecordBatch),
    }

    /// A source that yields scripted items, then does what its tail says.
    struct ScriptedSource {
        items: VecDeque<Result<RecordBatch>>,
        tail: Tail,
    }

    impl Iterator for ScriptedSource {
        type Item = Result<RecordBatch>;

        fn next(&mut self) -> Option<Self::Item> {
            if let Some(item) = self.items.pop_front() {
                return Some(item);
            }
            match &self.tail {
                Tail::End => None,
                Tail::Block(wait) => {
                    let _ = wait.recv();
                    None
                }
                Tail::Endless(batch) => Some(Ok(batch.clone())),
            }
        }
    }

    impl BatchSource for ScriptedSource {
        fn schema(&self) -> SchemaRef {
            plain_schema()
        }

        fn total_rows(&self) -> Option<u64> {
            None
        }
    }

    fn source(items: Vec<Result<RecordBatch>>, tail: Tail) -> Box<dyn BatchSource> {
        Box::new(ScriptedSource {
            items: items.into(),
            tail,
        })
    }

    fn ok_batches(sizes: &[usize]) -> Vec<Result<RecordBatch>> {
        plain_batches(sizes).into_iter().map(Ok).collect()
    }

    /// A tail that blocks until the returned sender is dropped.
    fn blocking_tail() -> (Tail, Sender<()>) {
        let (release, wait) = channel();
        (Tail::Block(wait), release)
    }

    fn query(sql: &str, partitions: usize) -> Query {
        Engine::with_partitions(partitions)
            .with_min_parallel_rows(0)
            .query(sql, &[("t", plain_schema())], QueryOptions::default())
            .unwrap()
    }

    /// A sink whose `fail_at`-th write (0-based) fails.
    struct FailingSink {
        writes: usize,
        fail_at: usize,
    }

    impl Sink for FailingSink {
        fn write(&mut self, _batch: &RecordBatch) -> Result<()> {
            self.writes += 1;
            if self.writes > self.fail_at {
                return Err(Error::input("out.csv", "cannot write: disk full"));
            }
            Ok(())
        }

        fn finish(self: Box<Self>) -> Result<()> {
            Ok(())
        }
    }

    const SELECT: &str = "SELECT name, qty * 2 AS q FROM t WHERE qty > 0";

    #[test]
    fn calls_hold_many_batches_and_rows_per_worker() {
        let lens = |partitions: usize, rows: usize, n: usize| -> Vec<usize> {
            let batches = plain_batches(&vec![rows; n]);
            let calls = CallSize::in_memory(partitions).split(&batches);
            let joined: Vec<RecordBatch> = calls.iter().flat_map(|c| c.to_vec()).collect();
            assert_eq!(joined, batches, "calls cover the input in order");
            calls.iter().map(|c| c.len()).collect()
        };
        // one partition: a batch a call
        assert_eq!(lens(1, 8192, 3), [1, 1, 1]);
        // 64 batches of 8,192 rows per worker
        assert_eq!(lens(2, 8192, 300), [128, 128, 44]);
        assert_eq!(lens(3, 8192, 200), [192, 8]);
        // small batches: 2 × 524,288 rows, 1,049 batches of 1,000
        assert_eq!(lens(2, 1000, 2200), [1049, 1049, 102]);
        // tiny batches: at most 1,024 per worker
        assert_eq!(lens(2, 10, 5000), [2048, 2048, 904]);
        // large batches: still 32 per worker
        assert_eq!(lens(2, 100_000, 70), [64, 6]);
        assert!(lens(2, 10, 0).is_empty());
        // a reader's calls count batches only
        let batches = plain_batches(&vec![1000; 130]);
        let calls = CallSize::reading(2).split(&batches);
        let sizes: Vec<usize> = calls.iter().map(|c| c.len()).collect();
        assert_eq!(sizes, [64, 64, 2]);
    }

    #[test]
    fn results_equal_a_sequential_run() {
        let sizes = [50, 0, 33, 100, 1, 64, 7];
        let batches = plain_batches(&sizes);
        let rows: usize = sizes.iter().sum();
        for partitions in [1, 2, 3] {
            let mut sequential = query(SELECT, partitions);
            let mut expected = Vec::new();
            for b in &batches {
                expected.extend(sequential.push("t", b.clone()).unwrap());
            }
            expected.extend(sequential.finish().unwrap());
            let expected = concat_batches(&sequential.output_schema(), &expected).unwrap();
            for batch_size in [None, Some(1), Some(7), Some(1000)] {
                let mut q = query(SELECT, partitions);
                let mut sink = CollectSink::default();
                let settings = RunSettings {
                    batch_size,
                    record_latencies: true,
                    ..RunSettings::default()
                };
                let report = run_to_sink(
                    &mut q,
                    source(ok_batches(&sizes), Tail::End),
                    &settings,
                    &mut sink,
                )
                .unwrap();
                let got = concat_batches(&q.output_schema(), &sink.batches).unwrap();
                let setting = format!("partitions {partitions}, batch size {batch_size:?}");
                assert_eq!(got, expected, "{setting}");
                assert_eq!(report.rows_in, rows as u64, "{setting}");
                assert_eq!(report.rows_out, expected.num_rows() as u64, "{setting}");
                assert_eq!(report.batches_out, sink.batches.len() as u64, "{setting}");
                assert_eq!(report.push_latencies.len() as u64, report.pushes);
                let group = if partitions == 1 {
                    1
                } else {
                    (partitions * CALL_BATCHES_PER_WORKER) as u64
                };
                assert_eq!(
                    report.pushes,
                    report.batches_in.div_ceil(group),
                    "{setting}"
                );
            }
        }
    }

    #[test]
    fn a_read_error_mid_stream_is_returned() {
        for partitions in [1, 2] {
            let mut items = ok_batches(&[10, 10, 10]);
            items.push(Err(Error::input("t.arrow", "corrupt record batch 3")));
            items.extend(ok_batches(&[10]));
            let mut q = query(SELECT, partitions);
            let err = run_to_sink(
                &mut q,
                source(items, Tail::End),
                &RunSettings::default(),
                &mut CollectSink::default(),
            )
            .unwrap_err();
            assert_eq!(err.to_string(), "t.arrow: corrupt record batch 3");
        }
    }

    #[test]
    fn a_query_error_returns_while_the_input_is_stalled() {
        let (tail, release) = blocking_tail();
        let mut items = ok_batches(&[5]);
        items.push(Ok(dict_batch(0, 3)));
        let mut q = query(SELECT, 1);
        let err = run_to_sink(
            &mut q,
            source(items, tail),
            &RunSettings::default(),
            &mut CollectSink::default(),
        )
        .unwrap_err();
        assert!(matches!(err, Error::Execution(_)), "{err:?}");
        assert!(err.to_string().contains("schema mismatch"), "{err}");
        // Lets the reader (still waiting for input) end.
        drop(release);
    }

    #[test]
    fn a_write_error_stops_an_endless_input() {
        for partitions in [1, 2] {
            let mut q = query(SELECT, partitions);
            let endless = Tail::Endless(plain_batches(&[20]).remove(0));
            let err = run_to_sink(
                &mut q,
                source(Vec::new(), endless),
                &RunSettings::default(),
                &mut FailingSink {
                    writes: 0,
                    fail_at: 3,
                },
            )
            .unwrap_err();
            assert_eq!(err.to_string(), "out.csv: cannot write: disk full");
        }
    }

    #[test]
    fn a_write_error_returns_while_the_input_is_stalled() {
        let (tail, release) = blocking_tail();
        let mut q = query(SELECT, 1);
        let err = run_to_sink(
            &mut q,
            source(ok_batches(&[20, 20]), tail),
            &RunSettings::default(),
            &mut FailingSink {
                writes: 0,
                fail_at: 0,
            },
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "out.csv: cannot write: disk full");
        drop(release);
    }

    #[test]
    fn the_earliest_error_in_stream_order_wins() {
        // The write of batch 0's results fails; the input fails later, and the compute
        // may see that before it sees the writer stop: the write error is reported.
        let mut items = ok_batches(&[20, 20, 20, 20]);
        items.push(Err(Error::input("t.arrow", "corrupt record batch 4")));
        let mut q = query(SELECT, 1);
        let err = run_to_sink(
            &mut q,
            source(items, Tail::End),
            &RunSettings::default(),
            &mut FailingSink {
                writes: 0,
                fail_at: 0,
            },
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "out.csv: cannot write: disk full");
    }

    #[test]
    fn a_limit_stops_an_endless_input() {
        for partitions in [1, 2] {
            let mut q = query("SELECT name FROM t LIMIT 25", partitions);
            let mut sink = CollectSink::default();
            let endless = Tail::Endless(plain_batches(&[10]).remove(0));
            let report = run_to_sink(
                &mut q,
                source(Vec::new(), endless),
                &RunSettings::default(),
                &mut sink,
            )
            .unwrap();
            assert_eq!(report.rows_out, 25);
            let rows: usize = sink.batches.iter().map(|b| b.num_rows()).sum();
            assert_eq!(rows, 25);
        }
    }

    #[test]
    fn a_panicking_source_is_an_internal_error() {
        struct Panics;
        impl Iterator for Panics {
            type Item = Result<RecordBatch>;
            fn next(&mut self) -> Option<Self::Item> {
                panic!("test source panics")
            }
        }
        impl BatchSource for Panics {
            fn schema(&self) -> SchemaRef {
                plain_schema()
            }
            fn total_rows(&self) -> Option<u64> {
                None
            }
        }
        let mut q = query(SELECT, 1);
        let err = run_to_sink(
            &mut q,
            Box::new(Panics),
            &RunSettings::default(),
            &mut CollectSink::default(),
        )
        .unwrap_err();
        assert!(matches!(err, Error::Internal(_)), "{err:?}");
        assert!(err.to_string().contains("reader thread panicked"), "{err}");
    }

    #[test]
    fn the_results_of_finish_are_written() {
        for partitions in [1, 2] {
            let mut q = query("SELECT COUNT(*) AS n FROM t EMIT FINAL", partitions);
            let mut sink = CollectSink::default();
            let report = run_to_sink(
                &mut q,
                source(ok_batches(&[30, 40, 0, 5]), Tail::End),
                &RunSettings::default(),
                &mut sink,
            )
            .unwrap();
            assert_eq!(report.rows_in, 75);
            assert_eq!(report.rows_out, 1);
            let n = sink.batches[0]
                .column(0)
                .as_any()
                .downcast_ref::<arrow::array::Int64Array>()
                .unwrap()
                .value(0);
            assert_eq!(n, 75);
        }
        // No input at all: nothing pushed, the query still finishes.
        let mut q = query("SELECT name FROM t", 2);
        let report = run_to_sink(
            &mut q,
            source(Vec::new(), Tail::End),
            &RunSettings::default(),
            &mut CollectSink::default(),
        )
        .unwrap();
        assert_eq!((report.pushes, report.rows_out), (0, 0));
        assert!(q.push("t", plain_batches(&[1]).remove(0)).is_err());
    }
}
