//! The split by batch, pipelined: one thread (the stager) reads the call's batches in
//! order, runs the pre-projection and interns their keys straight into the windows' key
//! tables, and hands each batch on as soon as it is staged (its rows as runs of one key
//! where its keys come in runs, else a key id per row); the other threads run the
//! frame kernels of the first groups of batches right behind it. The stager then runs the
//! last group itself, interning and computing each batch in one pass.
//!
//! ```text
//!  stager:    stage 0 1 2 3 4 5 6 │ 7 8 9   (stage + kernels, batch by batch)
//!  thread 0:    kernels 0 1 2 3 4 5 6        (each batch once it is staged)
//!                                 └ every key's rows before 7: counted while staging;
//!                                   the stager's forks skip them but the last history
//!                                   rows, which they replay (catch-up)
//! ```
//!
//! Each key's rows meet the same state as on one thread (forks caught up to their group's
//! start), so results are the same bits for any split. Against the split with a separate
//! interning round, a batch is read once, its key ids stay in cache between interning and
//! the kernels on the stager, and the call has one parallel phase instead of three. The
//! group sizes balance the stager's extra work (interning every batch) against the
//! kernels, from the measured cost of each (see [`pipeline_groups`]).

use std::ops::Range;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::SchemaRef;
use rayon::prelude::*;

use super::{
    AnalyticOperator, AnalyticSpec, BatchKeys, CallColumns, CallLayout, Check, Shape, Split,
    call_input, catch_up_window, count_rows, finish_batch, kernel_column, sequential_column,
    window_kernels,
};
use crate::aggregate::GroupValues;
use crate::analytic::kernel::{FrameKernel, Rows, Run, RunChoice, SequentialKernel};
use crate::error::{Error, Result};
use crate::exec::filter_project::FilterProject;

/// The split with a separate interning round costs about this much more than its ideal
/// share of the work (its extra pass over the key ids, the three phases of a call); the
/// pipeline is chosen when its own plan is within it.
const ROUND_SPLIT_OVERHEAD: f64 = 1.1;

/// The pipelined split's costs per row, in units of a row's kernels on a thread behind
/// the stager.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct StageCosts {
    /// Staging a row (pre-projection, interning, counting).
    pub(super) stage: f64,
    /// The stager's own kernels on a row (slower than a thread's behind it: the staging
    /// between its batches takes part of its cache; its catch-up counts here too).
    pub(super) own: f64,
}

impl StageCosts {
    /// Before any call is measured: interning a row's key costs about a third of one
    /// moving average's kernel (S1), less when there are several calls; pre-projection
    /// alone (no PARTITION BY) next to nothing.
    fn prior(spec: &AnalyticSpec) -> StageCosts {
        let keyed = spec
            .windows
            .iter()
            .filter(|w| !w.key_types.is_empty())
            .count();
        let calls = spec.calls.len().max(1) as f64;
        StageCosts {
            stage: 0.02 + 0.35 * keyed as f64 / calls,
            own: 1.0,
        }
    }

    /// The average of `self` and `other`.
    fn blend(self, other: StageCosts) -> StageCosts {
        StageCosts {
            stage: (self.stage + other.stage) / 2.0,
            own: (self.own + other.own) / 2.0,
        }
    }
}

/// A batch as the stager hands it on.
struct Staged {
    batch: RecordBatch,
    /// Per window: the key id of each row (`None`: no PARTITION BY, every row key 0; or
    /// handed on as runs only).
    ids: Vec<Option<Vec<u32>>>,
    /// Per window: the rows as runs of one key each, covering the batch in order, when
    /// its keys come in runs (see [`RunChoice`]).
    runs: Vec<Option<Vec<Run>>>,
    /// Per window: the keys known once this batch is staged.
    num_keys: Vec<usize>,
    /// Per call: argument columns and order column.
    inputs: Vec<(Vec<ArrayRef>, Option<ArrayRef>)>,
}

impl Staged {
    /// Window `w`'s rows as frame kernel input, and its key count.
    fn rows<'a>(&'a self, w: usize, zeros: &'a [u32]) -> Result<(Rows<'a>, usize)> {
        if let (Some(Some(runs)), Some(&keys)) = (self.runs.get(w), self.num_keys.get(w)) {
            return Ok((Rows::Runs { runs }, keys));
        }
        let (pids, keys) = self.ids(w, zeros)?;
        Ok((Rows::All { pids }, keys))
    }

    /// Window `w`'s key id per row, and its key count.
    fn ids<'a>(&'a self, w: usize, zeros: &'a [u32]) -> Result<(&'a [u32], usize)> {
        let n = self.batch.num_rows();
        match (self.ids.get(w), self.num_keys.get(w)) {
            (Some(Some(ids)), Some(&keys)) => Ok((ids, keys)),
            (Some(None), Some(_)) => zeros
                .get(..n)
                .map(|z| (z, 1))
                .ok_or_else(|| Error::internal("analytic pipeline: key scratch too short")),
            _ => Err(Error::internal("analytic pipeline: window not staged")),
        }
    }

    /// Call `c`'s argument columns and order column.
    fn input(&self, c: usize) -> Result<&(Vec<ArrayRef>, Option<ArrayRef>)> {
        self.inputs
            .get(c)
            .ok_or_else(|| Error::internal("analytic pipeline: call input missing"))
    }

    /// Window `w`'s key ids, as a catch-up scans them.
    fn keys(&self, w: usize) -> BatchKeys<'_> {
        if let Some(Some(runs)) = self.runs.get(w) {
            return BatchKeys::Runs(runs);
        }
        match self.ids.get(w) {
            Some(Some(ids)) => BatchKeys::Ids(ids),
            _ => BatchKeys::One(self.batch.num_rows()),
        }
    }
}

/// A batch's results as the thread that ran its frame calls hands them back.
enum Output {
    /// The frame calls' columns, to be assembled with the sequential calls' after the
    /// call.
    Columns(CallColumns),
    /// Without sequential calls: the finished emission, assembled and shaped on the
    /// thread while the batch is in its cache (`None`: the batch was empty).
    Finished(Option<RecordBatch>),
}

/// Finishes a batch on the thread that ran its calls, when it ran all of them.
struct Finish<'a> {
    schema: &'a SchemaRef,
    shape: Shape<'a>,
}

/// Batch `staged`'s output from its frame call columns: finished by `finish` when given.
fn output(staged: &Staged, columns: CallColumns, finish: Option<&Finish<'_>>) -> Result<Output> {
    let Some(f) = finish else {
        return Ok(Output::Columns(columns));
    };
    let arrays = columns
        .into_iter()
        .enumerate()
        .map(|(c, a)| a.ok_or_else(|| Error::internal(format!("analytic call {c} missing"))))
        .collect::<Result<Vec<_>>>()?;
    finish_batch(f.schema, &staged.batch, arrays, f.shape).map(Output::Finished)
}

/// What the stager has published, for the threads behind it. A slot left `None` means
/// the stager stopped (an error); every slot is set before the stager returns, so no
/// thread waits forever.
struct Board {
    /// Per batch.
    slots: Vec<OnceLock<Option<Staged>>>,
    /// Per group: every key's rows before the group's first batch, per window.
    marks: Vec<OnceLock<Option<Vec<Vec<u64>>>>>,
}

impl Board {
    fn new(batches: usize, groups: usize) -> Board {
        Board {
            slots: (0..batches).map(|_| OnceLock::new()).collect(),
            marks: (0..groups).map(|_| OnceLock::new()).collect(),
        }
    }

    /// Batch `b`, once staged.
    fn staged(&self, b: usize) -> Result<&Staged> {
        self.slots
            .get(b)
            .and_then(|s| s.wait().as_ref())
            .ok_or_else(stopped)
    }

    /// The key counts at group `g`'s start, once the stager is there.
    fn mark(&self, g: usize) -> Result<&[Vec<u64>]> {
        self.marks
            .get(g)
            .and_then(|m| m.wait().as_deref())
            .ok_or_else(stopped)
    }
}

fn stopped() -> Error {
    Error::internal("analytic pipeline: the staging thread stopped")
}

/// Sets every slot and mark the stager has not, when it returns or unwinds.
struct CloseBoard<'a>(&'a Board);

impl Drop for CloseBoard<'_> {
    fn drop(&mut self) {
        for s in &self.0.slots {
            let _ = s.set(None);
        }
        for m in &self.0.marks {
            let _ = m.set(None);
        }
    }
}

/// Time and rows of one kind of work, summed over a call.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    time: Duration,
    rows: usize,
}

impl Tally {
    fn add(&mut self, since: Instant, rows: usize) {
        self.time += since.elapsed();
        self.rows += rows;
    }

    fn per_row(self) -> Option<f64> {
        (self.rows > 0 && !self.time.is_zero()).then(|| self.time.as_secs_f64() / self.rows as f64)
    }
}

/// The pipelined split's measured costs, and when to measure them again.
///
/// The costs of a call decide the next call's plan, and a call the costs turn down (for
/// the split with a separate interning round) measures nothing. A call slowed by
/// something else (first-touch page faults, another process on the cores) could then
/// keep a query on the slower split for good: S1 on two partitions ran about 15 % slower
/// on it. So the costs turn the pipeline down only once they have refused it on
/// [`REFUSALS_TO_TURN_DOWN`] calls in a row, the first ones run pipelined all the same (one
/// slow call no longer moves a query to the other split: the first call of a `velo bench`
/// run, slowed by first-touch page faults, moved 8 of S1's 10 calls there); and after
/// [`PROBE_EVERY`] calls turned down in a row, one runs pipelined again. The measurement of
/// a call run against the costs replaces them instead of being averaged in.
#[derive(Debug, Default)]
pub(super) struct PipelineCosts {
    /// `None` before the first pipelined call.
    measured: Option<StageCosts>,
    /// Calls in a row the costs refused, run pipelined all the same (at most
    /// [`REFUSALS_TO_TURN_DOWN`] − 1; kept there while the pipeline stays turned down).
    refused: u32,
    /// Calls turned down since the last pipelined one.
    turned_down: u32,
    /// The running call is a probe.
    probing: bool,
}

/// Calls the measured costs turn down in a row before one runs pipelined to measure them
/// again (about 6 % of the calls then run on the split the costs advise against).
const PROBE_EVERY: u32 = 16;

/// Calls in a row the costs must refuse the pipeline before it is turned down: the first
/// ones run pipelined all the same, and measure the costs again.
const REFUSALS_TO_TURN_DOWN: u32 = 3;

impl PipelineCosts {
    /// Takes a call's measurement: averaged with the costs so far, or in their place
    /// after a probe.
    fn record(&mut self, measured: StageCosts) {
        self.measured = Some(match self.measured {
            Some(c) if !self.probing => c.blend(measured),
            _ => measured,
        });
        self.probing = false;
    }
}

/// What the stager reads and writes.
struct Stager<'a> {
    pre: &'a FilterProject,
    /// What each batch passes before its pre-projection.
    check: Check<'a>,
    raw: &'a [RecordBatch],
    spec: &'a AnalyticSpec,
    /// Per window: its key table (`None`: no PARTITION BY).
    tables: Vec<Option<&'a mut Box<dyn GroupValues>>>,
    /// Per window: whether its rows go on as runs.
    run_choices: Vec<&'a mut RunChoice>,
    /// Spare key-id buffers.
    spare: &'a mut Vec<Vec<u32>>,
    /// Spare run buffers.
    spare_runs: &'a mut Vec<Vec<Run>>,
    /// Keep each batch's key ids when its rows go on as runs (the sequential calls read
    /// them).
    keep_ids: bool,
}

impl Stager<'_> {
    /// Batch `b`: pre-projected, its keys interned.
    fn stage(&mut self, b: usize) -> Result<Staged> {
        let raw = self
            .raw
            .get(b)
            .ok_or_else(|| Error::internal("analytic pipeline: batch out of range"))?;
        let batch = self.pre.apply_checked(self.check, b, raw)?;
        let windows = self.tables.len();
        let mut ids = Vec::with_capacity(windows);
        let mut runs = Vec::with_capacity(windows);
        let mut num_keys = Vec::with_capacity(windows);
        let choices = self.run_choices.iter_mut();
        for ((table, layout), choice) in self.tables.iter_mut().zip(&self.spec.windows).zip(choices)
        {
            match table {
                Some(table) => {
                    let keys: Vec<ArrayRef> = layout
                        .keys
                        .iter()
                        .map(|&k| batch.column(k).clone())
                        .collect();
                    let mut out = self.spare.pop().unwrap_or_default();
                    table.intern(&keys, &mut out)?;
                    num_keys.push(table.len());
                    let mut batch_runs = self.spare_runs.pop().unwrap_or_default();
                    if choice.runs(&out, &mut batch_runs) {
                        runs.push(Some(batch_runs));
                        if self.keep_ids {
                            ids.push(Some(out));
                        } else {
                            // the same buffer again for the next batch, still in cache
                            self.spare.push(out);
                            ids.push(None);
                        }
                    } else {
                        self.spare_runs.push(batch_runs);
                        runs.push(None);
                        ids.push(Some(out));
                    }
                }
                None => {
                    ids.push(None);
                    runs.push(None);
                    num_keys.push(1);
                }
            }
        }
        let inputs = self
            .spec
            .calls
            .iter()
            .map(|call| call_input(&batch, call, &self.spec.windows[call.window]))
            .collect();
        Ok(Staged {
            batch,
            ids,
            runs,
            num_keys,
            inputs,
        })
    }

    /// Stages every batch in order, publishing each, and the key counts at each group
    /// start; runs the last group's kernels (`kernels`, forks made at the call's start)
    /// on the batches of the last group as it stages them. Returns the last group's
    /// outputs, and the staging and kernel tallies.
    #[allow(clippy::too_many_arguments)]
    fn run(
        mut self,
        board: &Board,
        groups: &[Range<usize>],
        history: &[u64],
        calls: &[CallLayout],
        kernels: &mut [Option<Box<dyn FrameKernel>>],
        zeros: &[u32],
        finish: Option<&Finish<'_>>,
    ) -> Result<(Vec<Output>, Tally, Tally)> {
        let _close = CloseBoard(board);
        let last = groups.last().map_or(0, |g| g.start);
        let mut counts: Vec<Vec<u64>> = self
            .tables
            .iter()
            .map(|t| vec![0; t.as_ref().map_or(1, |t| t.len())])
            .collect();
        let mut hist = Vec::new();
        let (mut staging, mut computing) = (Tally::default(), Tally::default());
        let mut out = Vec::with_capacity(self.raw.len().saturating_sub(last));
        for b in 0..self.raw.len() {
            for (g, range) in groups.iter().enumerate().skip(1) {
                if range.start == b && g + 1 < groups.len() {
                    let _ = board.marks[g].set(Some(counts.clone()));
                }
            }
            if b == last && b > 0 {
                let t = Instant::now();
                catch_up(board, calls, kernels, &counts, history, b)?;
                computing.add(t, 0);
            }
            let t = Instant::now();
            let staged = self.stage(b)?;
            let n = staged.batch.num_rows();
            if b < last {
                for (w, count) in counts.iter_mut().enumerate() {
                    let keys = staged.num_keys.get(w).copied().unwrap_or(1);
                    count.resize(keys, 0);
                    match (staged.runs.get(w), staged.ids.get(w)) {
                        (Some(Some(runs)), _) => {
                            for r in runs {
                                if let Some(c) = count.get_mut(r.pid as usize) {
                                    *c += u64::from(r.len);
                                }
                            }
                        }
                        (_, Some(Some(ids))) => {
                            count_rows(ids, keys, &mut hist);
                            for (c, &h) in count.iter_mut().zip(&hist) {
                                *c += u64::from(h);
                            }
                        }
                        _ => count[0] += n as u64,
                    }
                }
            }
            staging.add(t, n);
            let _ = board.slots[b].set(Some(staged));
            if b >= last {
                let t = Instant::now();
                let staged = board.staged(b)?;
                let columns = frame_columns(staged, calls, kernels, zeros)?;
                out.push(output(staged, columns, finish)?);
                computing.add(t, n);
            }
        }
        Ok((out, staging, computing))
    }
}

/// The frame calls (`kernels`, by call) over one staged batch.
fn frame_columns(
    staged: &Staged,
    calls: &[CallLayout],
    kernels: &mut [Option<Box<dyn FrameKernel>>],
    zeros: &[u32],
) -> Result<CallColumns> {
    let n = staged.batch.num_rows();
    let mut columns: CallColumns = vec![None; calls.len()];
    for (c, ((call, kernel), column)) in calls
        .iter()
        .zip(kernels.iter_mut())
        .zip(&mut columns)
        .enumerate()
    {
        let Some(kernel) = kernel else {
            continue;
        };
        let (rows, num_keys) = staged.rows(call.window, zeros)?;
        let input = staged.input(c)?;
        let col = kernel_column(kernel, input, n, &call.output_type, &rows, num_keys, n)?;
        *column = Some(col.finish()?);
    }
    Ok(columns)
}

/// Brings forks made at the call's start to the state at batch `start`, given every
/// key's rows before it (`counts`, per window).
fn catch_up(
    board: &Board,
    calls: &[CallLayout],
    kernels: &mut [Option<Box<dyn FrameKernel>>],
    counts: &[Vec<u64>],
    history: &[u64],
    start: usize,
) -> Result<()> {
    for (w, count) in counts.iter().enumerate() {
        let mut mine = window_kernels(calls, kernels, w);
        if mine.is_empty() {
            continue;
        }
        let keys_of = |b: usize| Ok(board.staged(b)?.keys(w));
        let replay = |b: usize, c: usize, k: &mut Box<dyn FrameKernel>, rows: &Rows<'_>| {
            let staged = board.staged(b)?;
            let input = staged.input(c)?;
            let slots = super::rows_len(rows);
            let output_type = &calls[c].output_type;
            let n = staged.batch.num_rows();
            kernel_column(k, input, n, output_type, rows, count.len(), slots).map(drop)
        };
        let r = history.get(w).copied().unwrap_or(0);
        catch_up_window(&mut mine, count, r, start, keys_of, replay)?;
    }
    Ok(())
}

/// Replaces each kernel with an exact copy allocated by this thread.
///
/// A kernel's per-key state is written at every run of rows. The forks of a call are
/// made on the thread that then stages it (the allocator puts them next to that thread's
/// other blocks), and the main kernels a thread behind the stager takes were a previous
/// call's fork, made on whichever thread staged that call. Two threads writing state in
/// neighbouring blocks then share cache lines, and each write waits for the line to come
/// back from the other core: S1 on two partitions ran at 145–153 M rows/s instead of
/// 181–186 M in a phase of the host where that trip is long. A copy made here lives in
/// this thread's own heap; making it costs one pass over the state (the split by batch
/// runs only while the state is under an eighth of the call's rows).
fn rehome(kernels: &mut [Option<Box<dyn FrameKernel>>]) {
    for k in kernels.iter_mut().flatten() {
        if let Some(copy) = k.fork() {
            *k = copy;
        }
    }
}

/// Group `g` (not the last) behind the stager: caught up to its start from the stager's
/// counts, then its batches as they are staged.
#[allow(clippy::too_many_arguments)]
fn follow(
    board: &Board,
    g: usize,
    range: Range<usize>,
    history: &[u64],
    calls: &[CallLayout],
    kernels: &mut [Option<Box<dyn FrameKernel>>],
    zeros: &[u32],
    finish: Option<&Finish<'_>>,
) -> Result<(Vec<Output>, Tally)> {
    let mut computing = Tally::default();
    // the stager's forks were made on its own thread (`fork_sets` runs there, and
    // `rayon::join` runs the stager on the calling thread); these were not
    rehome(kernels);
    if g > 0 {
        let counts = board.mark(g)?;
        let t = Instant::now();
        catch_up(board, calls, kernels, counts, history, range.start)?;
        computing.add(t, 0);
    }
    let mut out = Vec::with_capacity(range.len());
    for b in range {
        let staged = board.staged(b)?;
        let t = Instant::now();
        let columns = frame_columns(staged, calls, kernels, zeros)?;
        out.push(output(staged, columns, finish)?);
        computing.add(t, staged.batch.num_rows());
    }
    Ok((out, computing))
}

/// The sequential calls over every batch, as they are staged.
fn follow_sequential(
    board: &Board,
    batches: usize,
    calls: &[CallLayout],
    kernels: &mut [Option<Box<dyn SequentialKernel>>],
    zeros: &[u32],
) -> Result<Vec<CallColumns>> {
    let mut out = Vec::with_capacity(batches);
    for b in 0..batches {
        let staged = board.staged(b)?;
        let n = staged.batch.num_rows();
        let mut row: CallColumns = vec![None; calls.len()];
        for (c, (call, kernel)) in calls.iter().zip(kernels.iter_mut()).enumerate() {
            let Some(kernel) = kernel else {
                continue;
            };
            let (gids, num_keys) = staged.ids(call.window, zeros)?;
            let input = staged.input(c)?;
            row[c] = Some(sequential_column(kernel, input, n, gids, num_keys)?);
        }
        out.push(row);
    }
    Ok(out)
}

/// The groups of batches for `threads` threads, given `costs`: every group but the last to
/// a thread behind the stager, the last to the stager. A thread behind starts once the
/// stager has staged the rows before its group, then takes 1 per row; the stager stages
/// every row, then runs the last group at its own cost per row. The group ends are those
/// where every thread finishes at once.
/// `None` when the plan leaves the stager no batch (its kernels must end the call), or,
/// with `compare`, is not clearly better than the split with a separate interning round.
pub(super) fn pipeline_groups(
    batches: &[RecordBatch],
    threads: usize,
    costs: StageCosts,
    compare: bool,
) -> Option<Vec<Range<usize>>> {
    let rows: Vec<f64> = batches.iter().map(|b| b.num_rows() as f64).collect();
    let total: f64 = rows.iter().sum();
    if threads < 2 || batches.len() < 2 || total <= 0.0 {
        return None;
    }
    if !costs.stage.is_finite() || !costs.own.is_finite() {
        return None;
    }
    let r = costs.stage.clamp(0.0, 100.0);
    let q = costs.own.clamp(0.01, 100.0);
    // the followers' group ends (in rows) if every thread is to finish by time `c`
    // (one kernel cost per row), and the time the stager then needs
    let plan = |c: f64| -> (Vec<f64>, f64) {
        let mut ends = Vec::with_capacity(threads - 1);
        let mut s = 0.0f64;
        for _ in 0..threads - 1 {
            s = (s + (c - r * s).max(0.0)).min(total);
            ends.push(s);
        }
        (ends, r * total + q * (total - s))
    };
    let (mut lo, mut hi) = (0.0, total * (1.0 + r + q));
    for _ in 0..60 {
        let mid = (lo + hi) / 2.0;
        if plan(mid).1 <= mid {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    if compare && hi > total * (1.0 + r) / threads as f64 * ROUND_SPLIT_OVERHEAD {
        return None;
    }
    let (ends, _) = plan(hi);
    // a group ends before the first batch whose middle row lies past its end
    let mut cuts = Vec::with_capacity(ends.len());
    let mut before = 0.0f64;
    let mut b = 0usize;
    for end in ends {
        while b < rows.len() && before + rows[b] / 2.0 < end {
            before += rows[b];
            b += 1;
        }
        cuts.push(b);
    }
    let mut groups = Vec::with_capacity(threads);
    let mut start = 0usize;
    for cut in cuts {
        if cut > start {
            groups.push(start..cut);
            start = cut;
        }
    }
    if start >= batches.len() || groups.is_empty() {
        return None;
    }
    groups.push(start..batches.len());
    Some(groups)
}

impl AnalyticOperator {
    /// Whether this call of `raw` batches runs pipelined; the groups if so (see
    /// [`pipeline_groups`]; under `AnalyticSplit::ByBatch`, whenever it can). Only with every key table taking the batches' own key types
    /// (dictionary keys are interned by value, through partial tables).
    /// The costs turn it down once they have refused it on [`REFUSALS_TO_TURN_DOWN`]
    /// calls in a row; every [`PROBE_EVERY`]th call in a row that the costs turn down runs
    /// pipelined all the same, to measure them again (see [`PipelineCosts`]).
    pub(super) fn pipeline_plan(&mut self, raw: &[RecordBatch]) -> Option<Vec<Range<usize>>> {
        if self.split == Split::Owners || !self.direct_keys {
            return None;
        }
        let rows = raw.iter().map(RecordBatch::num_rows).sum();
        let forced = self.workers.analytic_split() == super::AnalyticSplit::ByBatch;
        if !forced && !self.batch_split_fits(rows) {
            return None;
        }
        let costs = self
            .pipeline_costs
            .measured
            .unwrap_or_else(|| StageCosts::prior(&self.spec));
        let threads = self.owners.len();
        // a split by batch asked for runs pipelined whenever it can
        if forced {
            return pipeline_groups(raw, threads, costs, false);
        }
        let state = &mut self.pipeline_costs;
        if let Some(groups) = pipeline_groups(raw, threads, costs, true) {
            state.turned_down = 0;
            state.refused = 0;
            return Some(groups);
        }
        // refused: run against the costs all the same while they have refused it fewer
        // than REFUSALS_TO_TURN_DOWN times in a row, and then every PROBE_EVERYth call
        let against = if state.refused + 1 < REFUSALS_TO_TURN_DOWN {
            state.refused += 1;
            true
        } else {
            state.turned_down += 1;
            state.turned_down >= PROBE_EVERY
        };
        if !against {
            return None;
        }
        state.turned_down = 0;
        // costs that leave no plan at all come from a call slowed by something else: plan
        // this one from the prior
        let groups = pipeline_groups(raw, threads, costs, false)
            .or_else(|| pipeline_groups(raw, threads, StageCosts::prior(&self.spec), false))?;
        state.probing = true;
        Some(groups)
    }

    /// Runs a call pipelined over `groups` (from [`AnalyticOperator::pipeline_plan`]),
    /// inside the pool.
    pub(super) fn run_pipeline(
        &mut self,
        pre: &FilterProject,
        raw: &[RecordBatch],
        groups: Vec<Range<usize>>,
        shape: Shape<'_>,
        check: Check<'_>,
    ) -> Result<Vec<RecordBatch>> {
        self.split = Split::Batches;
        let history: Vec<u64> = self
            .window_history()
            .into_iter()
            .map(|h| h.unwrap_or(0))
            .collect();
        let n_max = raw.iter().map(RecordBatch::num_rows).max().unwrap_or(0);
        if self.zeros.len() < n_max {
            self.zeros.resize(n_max, 0);
        }
        let mut sets = self.fork_sets(groups.len())?;
        let board_store = Board::new(raw.len(), groups.len());
        let AnalyticOperator {
            spec,
            sequential,
            windows,
            zeros,
            spare_ids,
            spare_runs,
            ..
        } = self;
        let calls = &spec.calls[..];
        let zeros = &zeros[..];
        let has_sequential = sequential.iter().any(Option::is_some);
        let (tables, run_choices) = windows
            .iter_mut()
            .map(|w| (w.global.as_mut(), &mut w.run_choice))
            .unzip();
        let stager = Stager {
            pre,
            check,
            raw,
            spec,
            tables,
            run_choices,
            spare: spare_ids,
            spare_runs,
            keep_ids: has_sequential,
        };
        // without sequential calls a batch's thread runs all its calls: it finishes it
        let finish_store = Finish {
            schema: &spec.schema,
            shape,
        };
        let finish = (!has_sequential).then_some(&finish_store);
        let (last_set, follower_sets) = sets
            .split_last_mut()
            .ok_or_else(|| Error::internal("analytic pipeline without groups"))?;
        let (history, groups, board) = (&history[..], &groups[..], &board_store);
        let followers = || {
            let run = |(g, (set, range)): (usize, (&mut Vec<_>, &Range<usize>))| {
                follow(board, g, range.clone(), history, calls, set, zeros, finish)
            };
            let mut groups_out = || {
                follower_sets
                    .par_iter_mut()
                    .zip(groups.par_iter())
                    .enumerate()
                    .map(run)
                    .collect::<Result<Vec<_>>>()
            };
            if has_sequential {
                rayon::join(groups_out, || {
                    follow_sequential(board, raw.len(), calls, sequential, zeros)
                })
            } else {
                (groups_out(), Ok(Vec::new()))
            }
        };
        let (staged, (followed, sequential_out)) = rayon::join(
            || stager.run(board, groups, history, calls, last_set, zeros, finish),
            followers,
        );
        // the stager's kernels hold every key's state at the call's end
        let last_kernels = sets.pop().unwrap_or_default();
        self.owners[0].kernels = last_kernels;
        for w in &mut self.windows {
            if let Some(g) = &w.global {
                w.num_keys = g.len();
            }
        }
        let (last_out, staging, own) = staged?;
        let mut frame_out: Vec<Output> = Vec::with_capacity(raw.len());
        let mut behind = Tally::default();
        for (out, tally) in followed? {
            frame_out.extend(out);
            behind.time += tally.time;
            behind.rows += tally.rows;
        }
        frame_out.extend(last_out);
        let sequential_out = sequential_out?;
        if let (Some(s), Some(o), Some(k)) = (staging.per_row(), own.per_row(), behind.per_row()) {
            let measured = StageCosts {
                stage: s / k,
                own: o / k,
            };
            self.pipeline_costs.record(measured);
        }
        // the sequential calls' columns still need the batches
        let mut batches = Vec::with_capacity(if has_sequential { raw.len() } else { 0 });
        for slot in board_store.slots {
            let staged = slot.into_inner().flatten().ok_or_else(stopped)?;
            let keep = raw.len() * self.windows.len();
            for ids in staged.ids.into_iter().flatten() {
                if self.spare_ids.len() < keep {
                    self.spare_ids.push(ids);
                }
            }
            for runs in staged.runs.into_iter().flatten() {
                if self.spare_runs.len() < keep {
                    self.spare_runs.push(runs);
                }
            }
            if has_sequential {
                batches.push(staged.batch);
            }
        }
        if !has_sequential {
            let mut out = Vec::with_capacity(frame_out.len());
            for o in frame_out {
                match o {
                    Output::Finished(b) => out.extend(b),
                    Output::Columns(_) => {
                        return Err(Error::internal("analytic pipeline: a batch not finished"));
                    }
                }
            }
            return Ok(out);
        }
        let columns = frame_out
            .into_iter()
            .map(|o| match o {
                Output::Columns(c) => Ok(c),
                Output::Finished(_) => Err(Error::internal(
                    "analytic pipeline: a batch finished before its sequential calls",
                )),
            })
            .collect::<Result<Vec<_>>>()?;
        self.assemble_results(&batches, columns, sequential_out, true, shape)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::tests::batches;
    use super::*;

    /// The finishing time of each thread under a plan, by the model the plan is made
    /// from: thread k behind the stager starts once the rows before its group are staged
    /// (`ratio` a row) and takes 1 a row; the stager stages every row, then runs the last
    /// group.
    fn finish_times(rows: &[usize], groups: &[Range<usize>], costs: StageCosts) -> Vec<f64> {
        let (ratio, own) = (costs.stage, costs.own);
        let sum = |r: &Range<usize>| rows[r.clone()].iter().sum::<usize>() as f64;
        let total = rows.iter().sum::<usize>() as f64;
        let (last, behind) = groups.split_last().expect("groups");
        let mut times: Vec<f64> = behind
            .iter()
            .map(|g| ratio * sum(&(0..g.start)) + sum(g))
            .collect();
        times.push(ratio * total + own * sum(last));
        times
    }

    proptest! {
        /// The groups are contiguous and cover every batch in order, there are at most
        /// `threads` and at least two, and none is empty.
        #[test]
        fn pipeline_groups_cover_the_batches(
            rows in proptest::collection::vec(1usize..100, 2..60),
            threads in 2usize..6,
            stage in 0.0f64..3.0,
            own in 0.5f64..2.0,
        ) {
            let b = batches(&rows);
            let costs = StageCosts { stage, own };
            if let Some(groups) = pipeline_groups(&b, threads, costs, false) {
                prop_assert!(groups.len() >= 2 && groups.len() <= threads);
                let mut next = 0;
                for g in &groups {
                    prop_assert_eq!(g.start, next);
                    prop_assert!(g.end > g.start);
                    next = g.end;
                }
                prop_assert_eq!(next, rows.len());
            }
        }

        /// With batches of equal size, two threads and staging cheaper than the kernels
        /// by enough that the stager's share of the call, (1 - stage) / (1 + own), is a
        /// batch and a half or more, there is a plan, and both threads finish within two
        /// batches' time of each other (balanced up to the batch granularity).
        #[test]
        fn two_thread_plans_balance_the_threads(
            batches_n in 8usize..80,
            rows in 10usize..200,
            stage in 0.0f64..0.9,
            own in 0.7f64..1.5,
        ) {
            prop_assume!((1.0 - stage) / (1.0 + own) * batches_n as f64 >= 1.5);
            let r = vec![rows; batches_n];
            let costs = StageCosts { stage, own };
            let groups = pipeline_groups(&batches(&r), 2, costs, false);
            prop_assert!(groups.is_some());
            let groups = groups.unwrap_or_default();
            let times = finish_times(&r, &groups, costs);
            let spread = times.iter().cloned().fold(f64::MIN, f64::max)
                - times.iter().cloned().fold(f64::MAX, f64::min);
            let batch = own.max(1.0) * rows as f64;
            prop_assert!(spread <= 2.0 * batch + 1e-6, "{groups:?} {times:?}");
        }
    }

    /// Calls whose measured costs refuse the pipeline run it all the same, measured, until
    /// the costs have refused it three times in a row; then calls run on the split with
    /// an interning round, which measures nothing, and the 16th in a row runs pipelined
    /// again and its measurement replaces the costs. Results stay those of one partition.
    #[test]
    fn a_pipeline_turned_down_is_measured_again() {
        use arrow::array::{Float64Array, StringArray};
        use arrow::datatypes::{DataType, Field, Schema};

        use crate::{Engine, Query, QueryOptions};

        let schema = std::sync::Arc::new(Schema::new(vec![
            Field::new("s", DataType::Utf8, false),
            Field::new("x", DataType::Float64, false),
        ]));
        let call: Vec<RecordBatch> = (0..8)
            .map(|b| {
                let rows = b * 1000..(b + 1) * 1000;
                let s =
                    StringArray::from_iter_values(rows.clone().map(|i| format!("k{}", i / 7 % 5)));
                let x = Float64Array::from_iter_values(rows.map(|i| (i % 13) as f64));
                RecordBatch::try_new(
                    schema.clone(),
                    vec![std::sync::Arc::new(s), std::sync::Arc::new(x)],
                )
                .expect("batch")
            })
            .collect();
        let sql = "SELECT s, x, AVG(x) OVER (PARTITION BY s ROWS BETWEEN 9 PRECEDING AND CURRENT ROW) AS a FROM t";
        let query = |partitions| {
            Engine::with_partitions(partitions)
                .with_min_parallel_rows(0)
                .query(sql, &[("t", schema.clone())], QueryOptions::default())
                .expect("query")
        };
        let (mut one, mut two) = (query(1), query(2));
        let mut push = |calls: usize, two: &mut Query| {
            for _ in 0..calls {
                let want = one.push_batches("t", call.clone()).expect("one partition");
                let got = two.push_batches("t", call.clone()).expect("two partitions");
                assert_eq!(got, want);
            }
        };
        push(1, &mut two);
        let op = two.analytic_operator().expect("an analytic query");
        assert_eq!(op.split, Split::Batches);
        assert!(
            op.pipeline_costs.measured.is_some(),
            "the first call ran pipelined"
        );
        // staging half a kernel, the stager's own kernels three: the pipeline loses
        let bad = StageCosts {
            stage: 0.5,
            own: 3.0,
        };
        op.pipeline_costs.measured = Some(bad);
        // refused once: run pipelined all the same, its measurement in place of the costs
        push(1, &mut two);
        let op = two.analytic_operator().expect("an analytic query");
        assert_ne!(
            op.pipeline_costs.measured,
            Some(bad),
            "one refusal does not turn it down"
        );
        assert_eq!(op.pipeline_costs.refused, 1);
        assert_eq!(op.pipeline_costs.turned_down, 0);
        // costs so bad that they leave no plan at all: the prior plans the call, and its
        // measurement replaces them (averaged in, the stager's own kernels would stay at
        // 15 or more)
        let hopeless = StageCosts {
            stage: 5.0,
            own: 30.0,
        };
        assert!(pipeline_groups(&call, 2, hopeless, false).is_none());
        op.pipeline_costs.measured = Some(hopeless);
        op.pipeline_costs.refused = 0;
        push(1, &mut two);
        let op = two.analytic_operator().expect("an analytic query");
        let measured = op.pipeline_costs.measured.unwrap_or(hopeless);
        assert!(measured.own < 10.0 && measured.stage < 2.5, "{measured:?}");
        assert_eq!(op.pipeline_costs.refused, 1);
        // refused on the calls before as well: turned down
        op.pipeline_costs.measured = Some(bad);
        op.pipeline_costs.refused = REFUSALS_TO_TURN_DOWN - 1;
        push(PROBE_EVERY as usize - 1, &mut two);
        let op = two.analytic_operator().expect("an analytic query");
        assert_eq!(
            op.pipeline_costs.measured,
            Some(bad),
            "turned down, nothing measured"
        );
        push(1, &mut two);
        let op = two.analytic_operator().expect("an analytic query");
        assert_ne!(
            op.pipeline_costs.measured,
            Some(bad),
            "the probe measured again"
        );
        assert!(!op.pipeline_costs.probing);
    }

    /// A call's measurement is averaged into the costs, a probe's replaces them.
    #[test]
    fn a_probe_replaces_the_costs() {
        let costs = |stage, own| StageCosts { stage, own };
        let mut c = PipelineCosts::default();
        c.record(costs(0.4, 2.0));
        assert_eq!(c.measured, Some(costs(0.4, 2.0)));
        c.record(costs(0.2, 1.0));
        assert_eq!(c.measured, Some(costs(0.30000000000000004, 1.5)));
        c.probing = true;
        c.record(costs(0.25, 1.1));
        assert_eq!(c.measured, Some(costs(0.25, 1.1)));
        assert!(!c.probing);
    }

    /// Staging as dear as the kernels leaves the stager no group on two threads: no plan.
    /// When the plan loses to the split with a separate interning round, `compare` turns
    /// it down.
    #[test]
    fn plans_that_do_not_pay_are_refused() {
        let b = batches(&[100; 20]);
        let costs = |stage| StageCosts { stage, own: 1.0 };
        assert!(pipeline_groups(&b, 2, costs(1.5), false).is_none());
        assert!(pipeline_groups(&b, 2, costs(0.3), true).is_some());
        assert!(pipeline_groups(&b, 4, costs(0.5), false).is_some());
        assert!(pipeline_groups(&b, 4, costs(0.5), true).is_none());
        assert!(pipeline_groups(&b[..1], 2, costs(0.3), false).is_none());
        // the stager's own kernels dearer: it takes fewer batches
        let even = pipeline_groups(&b, 2, costs(0.2), false).unwrap_or_default();
        let dear = StageCosts {
            stage: 0.2,
            own: 1.3,
        };
        let fewer = pipeline_groups(&b, 2, dear, false).unwrap_or_default();
        assert!(fewer.len() == 2 && even.len() == 2, "{fewer:?} {even:?}");
        assert!(fewer[1].len() < even[1].len(), "{fewer:?} against {even:?}");
    }
}
