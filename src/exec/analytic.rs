//! The ROWS-window analytics operator: one output row per input row, in input order, with
//! one result column per analytic call appended; per-key state kept across batches.
//!
//! ```text
//!  pre-projected batches [needed columns | partition keys | order keys | arguments]
//!
//!  1 partition:  per batch, per window: intern the keys → key id per row (GroupValues)
//!                per call: kernel.update(all rows, key ids) → result column
//!
//!  N partitions (owners):
//!   round 1 (rayon, one task per batch)   each batch's keys → local ids in a partial table
//!   (in order, cost ∝ new keys)           new local keys → global id g (first-seen order);
//!                                         owner = g mod N, key id in the owner = g div N
//!   round 2 (rayon, one task per owner,   owner p: for each batch in order, the rows whose
//!            + one for sequential calls)  key it owns → its kernels, which write results
//!                                         in place at those rows of the shared columns
//!   then                                  batch = [pre columns | result columns]
//! ```
//! Each key's rows reach one kernel instance in input order whatever N is, so results are
//! identical for every partition count; keys are dealt round-robin in first-seen order,
//! which balances the owners. Calls over strings (and pass-through calls) run as one
//! sequential task beside the owners.
//!
//! When every frame kernel can fork (its per-key state a function of the key's row count
//! and last rows) and the keys are few, the call is split by batch instead: contiguous
//! groups of batches, one per thread, each later group's forks caught up on the rows
//! before it. It runs pipelined (`analytic/pipeline.rs`: one thread stages every batch, the others
//! compute right behind it) or, when that does not pay, after the parallel round 1.

mod pipeline;

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use rayon::prelude::*;

use super::filter_project::{FilterProject, remap};
use super::physical::{LimitSpec, PhysicalPlan};
use super::workers::{AnalyticSplit, Workers};
use super::{Check, Shape};
use crate::aggregate::{GroupValues, emitted_key_type, new_group_values};
use crate::analytic::kernel::{
    FrameKernel, Kernel, KernelInput, Rows, Run, RunChoice, SequentialKernel,
};
use crate::analytic::output::OutputColumn;
use crate::analytic::{AnalyticFunction, Frame};
use crate::error::{Error, Result};
use crate::expr::Expr;
use crate::plan::{LogicalPlan, QueryPlan};

/// One window's key and order columns in the pre-projected batch.
#[derive(Debug, Clone)]
pub struct WindowLayout {
    /// Partition key column indices (empty: one partition).
    pub keys: Vec<usize>,
    /// Their types.
    pub key_types: Vec<DataType>,
    /// The ORDER BY column, if any.
    pub order: Option<usize>,
    /// Its type.
    pub order_type: Option<DataType>,
}

/// One call's inputs in the pre-projected batch.
#[derive(Debug, Clone)]
pub struct CallLayout {
    /// The function.
    pub func: AnalyticFunction,
    /// Its frame.
    pub frame: Frame,
    /// Index into the windows.
    pub window: usize,
    /// Argument column indices.
    pub args: Vec<usize>,
    /// Argument types (logical: BOOLEAN values arrive as 0/1 `UInt8` columns).
    pub arg_types: Vec<DataType>,
    /// Result type.
    pub output_type: DataType,
}

/// Static description of the operator.
#[derive(Debug, Clone)]
pub struct AnalyticSpec {
    /// Distinct windows.
    pub windows: Vec<WindowLayout>,
    /// The calls, in result-column order.
    pub calls: Vec<CallLayout>,
    /// Output: the pre-projected columns, then one column per call.
    pub schema: SchemaRef,
    /// State limit in bytes.
    pub memory_limit_bytes: Option<usize>,
}

/// A partial key table of one batch slot (several partitions only).
struct Partial {
    table: Box<dyn GroupValues>,
    maps: KeyMaps,
}

/// A batch's rows as local key ids, and where each local key lives.
#[derive(Debug, Default)]
struct KeyMaps {
    /// Local id per row of the current batch.
    ids: Vec<u32>,
    /// Per local id: the global id.
    gid: Vec<u32>,
    /// Per local id: its owner, and its key id within the owner.
    owner: Vec<u32>,
    pid: Vec<u32>,
    /// Per owner: its rows of the current batch, as runs of one key, and their count.
    runs: Vec<Vec<Run>>,
    counts: Vec<usize>,
    /// Per local id: its rows in the current batch (batch-parallel evaluation).
    hist: Vec<u32>,
}

impl KeyMaps {
    /// Whether every local key of the batch has its global id (then the owners' row
    /// lists can be built right after interning, in the parallel round).
    fn all_mapped(&self, table_len: usize) -> bool {
        table_len <= self.gid.len()
    }

    /// Notes the global id of the next local key.
    fn push_key(&mut self, gid: u32, owners: usize) {
        let owners = owners as u32;
        self.gid.push(gid);
        self.owner.push(gid % owners);
        self.pid.push(gid / owners);
    }

    /// Forgets the local keys (their table was cleared).
    fn clear_keys(&mut self) {
        self.gid.clear();
        self.owner.clear();
        self.pid.clear();
    }

    /// Splits the batch's rows by owner into runs of equal keys, in one pass (keys often
    /// arrive in runs; random keys make runs of one row, where the run-end test predicts
    /// well since a key rarely repeats).
    fn split_by_owner(&mut self, owners: usize) {
        let n = self.ids.len();
        self.runs.resize_with(owners, Vec::new);
        for r in &mut self.runs {
            r.clear();
        }
        self.counts.clear();
        self.counts.resize(owners, 0);
        let (ids, owner, pid) = (&self.ids, &self.owner, &self.pid);
        let mut i = 0;
        while i < n {
            let l = ids[i];
            let mut end = i + 1;
            while end < n && ids[end] == l {
                end += 1;
            }
            if let (Some(&o), Some(&k)) = (owner.get(l as usize), pid.get(l as usize))
                && let (Some(runs), Some(count)) = (
                    self.runs.get_mut(o as usize),
                    self.counts.get_mut(o as usize),
                )
            {
                runs.push(Run {
                    start: i as u32,
                    len: (end - i) as u32,
                    pid: k,
                });
                *count += end - i;
            }
            i = end;
        }
    }

    /// Counts the batch's rows of each of the table's `keys` local ids.
    fn count_ids(&mut self, keys: usize) {
        count_rows(&self.ids, keys, &mut self.hist);
    }

    /// Owner `p`'s rows, as runs, and how many rows they hold.
    fn owner_runs(&self, p: usize) -> Option<(&[Run], usize)> {
        Some((self.runs.get(p)?, *self.counts.get(p)?))
    }
}

/// Sets `hist` to the number of rows of each id `0..keys` in `ids` (ids out of range are
/// not counted). Four counters per id, taken in turn, so that a run of one key is not one
/// chain of dependent increments through memory.
fn count_rows(ids: &[u32], keys: usize, hist: &mut Vec<u32>) {
    hist.clear();
    hist.resize(keys * 4, 0);
    let (h0, rest) = hist.split_at_mut(keys);
    let (h1, rest) = rest.split_at_mut(keys);
    let (h2, h3) = rest.split_at_mut(keys);
    let mut quads = ids.chunks_exact(4);
    for q in &mut quads {
        if let (Some(a), Some(b), Some(c), Some(d)) = (
            h0.get_mut(q[0] as usize),
            h1.get_mut(q[1] as usize),
            h2.get_mut(q[2] as usize),
            h3.get_mut(q[3] as usize),
        ) {
            *a += 1;
            *b += 1;
            *c += 1;
            *d += 1;
        }
    }
    for &l in quads.remainder() {
        if let Some(a) = h0.get_mut(l as usize) {
            *a += 1;
        }
    }
    for ((a, b), (c, d)) in h0.iter_mut().zip(&*h1).zip(h2.iter().zip(&*h3)) {
        *a += b + c + d;
    }
    hist.truncate(keys);
}

/// A partial table forgets its keys once it holds this many (it then relearns them),
/// so that N·8 batch slots do not each keep a copy of a large key set.
const PARTIAL_MAX_KEYS: usize = 1 << 16;

struct WindowState {
    /// All keys of the window (`None`: no PARTITION BY, one key).
    global: Option<Box<dyn GroupValues>>,
    num_keys: usize,
    /// Per batch slot, when there are several partitions.
    partials: Vec<Option<Partial>>,
    /// One partition: key id per row of each batch of the call.
    gids: Vec<Vec<u32>>,
    /// Whether the frame kernels get the batch's rows as runs (one partition and the
    /// pipelined split).
    run_choice: RunChoice,
    /// One partition: the batch's rows as runs, when they go that way.
    runs: Vec<Run>,
}

/// Per owner thread: its kernels (by call; `None` for sequential calls).
struct Owner {
    kernels: Vec<Option<Box<dyn FrameKernel>>>,
}

/// The ROWS-window analytics operator.
pub struct AnalyticOperator {
    spec: AnalyticSpec,
    owners: Vec<Owner>,
    /// By call: the kernel of a sequential call.
    sequential: Vec<Option<Box<dyn SequentialKernel>>>,
    windows: Vec<WindowState>,
    workers: Workers,
    /// How several partitions share the frame kernels.
    split: Split,
    /// Scratch: key id 0 for every row (windows without PARTITION BY).
    zeros: Vec<u32>,
    /// Whether every window's key table takes the batches' key columns as they are (no
    /// dictionary keys), which the pipelined split by batch needs.
    direct_keys: bool,
    /// The pipelined split's measured costs, and when to measure them again.
    pipeline_costs: pipeline::PipelineCosts,
    /// Key-id buffers of the pipelined split, kept between calls.
    spare_ids: Vec<Vec<u32>>,
    /// Run buffers of the pipelined split, kept between calls.
    spare_runs: Vec<Vec<Run>>,
}

/// How the frame kernels of several partitions share a call's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Split {
    /// Not yet known: every kernel can fork; the first call's keys decide.
    Undecided,
    /// Each key's rows to its owner (`gid mod N`).
    Owners,
    /// Contiguous groups of batches, one per thread, each taking up every key's stream
    /// where the group begins; the kernels live in owner 0 with `pid = gid`.
    Batches,
}

impl std::fmt::Debug for AnalyticOperator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnalyticOperator")
            .field("calls", &self.spec.calls.len())
            .field("owners", &self.owners.len())
            .finish_non_exhaustive()
    }
}

impl AnalyticOperator {
    /// Creates the operator with `partitions` owners.
    ///
    /// # Errors
    /// Key or argument types without an implementation.
    pub fn new(
        spec: AnalyticSpec,
        partitions: usize,
        workers: Workers,
    ) -> Result<AnalyticOperator> {
        let partitions = partitions.max(1);
        let mut owners: Vec<Owner> = (0..partitions)
            .map(|_| Owner {
                kernels: Vec::new(),
            })
            .collect();
        let mut sequential = Vec::new();
        for call in &spec.calls {
            let window = spec
                .windows
                .get(call.window)
                .ok_or_else(|| Error::internal("analytic call without its window"))?;
            let mut is_frame = false;
            for owner in &mut owners {
                match call.func.create_kernel(
                    call.frame,
                    &call.arg_types,
                    window.order_type.as_ref(),
                )? {
                    Kernel::Frame(k) => {
                        owner.kernels.push(Some(k));
                        is_frame = true;
                    }
                    Kernel::Sequential(_) => owner.kernels.push(None),
                }
            }
            sequential.push(if is_frame {
                None
            } else {
                match call.func.create_kernel(
                    call.frame,
                    &call.arg_types,
                    window.order_type.as_ref(),
                )? {
                    Kernel::Sequential(k) => Some(k),
                    Kernel::Frame(_) => None,
                }
            });
        }
        let windows = spec
            .windows
            .iter()
            .map(|w| {
                let global = if w.key_types.is_empty() {
                    None
                } else if partitions == 1 {
                    Some(new_group_values(&w.key_types)?)
                } else {
                    let emitted: Vec<DataType> = w.key_types.iter().map(emitted_key_type).collect();
                    Some(new_group_values(&emitted)?)
                };
                Ok(WindowState {
                    num_keys: usize::from(global.is_none()),
                    global,
                    partials: Vec::new(),
                    gids: Vec::new(),
                    run_choice: RunChoice::default(),
                    runs: Vec::new(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let direct_keys = spec
            .windows
            .iter()
            .all(|w| w.key_types.iter().all(|t| emitted_key_type(t) == *t));
        let forkable = owners.first().is_some_and(|o| {
            o.kernels.iter().any(Option::is_some)
                && o.kernels.iter().flatten().all(|k| k.fork().is_some())
        });
        let split = match (forkable, workers.analytic_split()) {
            (false, _) | (true, AnalyticSplit::ByKey) => Split::Owners,
            (true, AnalyticSplit::ByBatch) => Split::Batches,
            (true, AnalyticSplit::Auto) => Split::Undecided,
        };
        Ok(AnalyticOperator {
            spec,
            owners,
            sequential,
            windows,
            workers,
            split,
            zeros: Vec::new(),
            direct_keys,
            pipeline_costs: pipeline::PipelineCosts::default(),
            spare_ids: Vec::new(),
            spare_runs: Vec::new(),
        })
    }

    /// The output schema.
    pub fn schema(&self) -> &SchemaRef {
        &self.spec.schema
    }

    /// Partition keys held now (summed over the windows).
    pub fn groups_live(&self) -> u64 {
        self.windows
            .iter()
            .map(|w| if w.global.is_some() { w.num_keys } else { 0 })
            .sum::<usize>() as u64
    }

    /// Bytes of state held now: key tables, every kernel's buffers, and the scratch
    /// kept between calls (key ids of the batches).
    pub fn state_bytes(&self) -> u64 {
        let tables: usize = self
            .windows
            .iter()
            .map(|w| {
                w.global.as_ref().map_or(0, |g| g.size_bytes())
                    + w.partials
                        .iter()
                        .flatten()
                        .map(|p| {
                            p.table.size_bytes()
                                + (p.maps.ids.capacity()
                                    + p.maps.gid.capacity()
                                    + p.maps.owner.capacity()
                                    + p.maps.pid.capacity()
                                    + p.maps.runs.iter().map(Vec::capacity).sum::<usize>() * 3)
                                    * 4
                        })
                        .sum::<usize>()
            })
            .sum();
        let kernels: usize = self
            .owners
            .iter()
            .flat_map(|o| o.kernels.iter().flatten())
            .map(|k| k.size_bytes())
            .sum::<usize>()
            + self
                .sequential
                .iter()
                .flatten()
                .map(|k| k.size_bytes())
                .sum::<usize>();
        // the pipelined split's key-id and run buffers, kept between calls
        let spare: usize = self.spare_ids.iter().map(Vec::capacity).sum::<usize>() * 4
            + self.spare_runs.iter().map(Vec::capacity).sum::<usize>() * std::mem::size_of::<Run>();
        (tables + kernels + spare) as u64
    }

    /// Runs `pre` (WHERE and the pre-projection) on raw input batches, then the calls,
    /// in order; returns each non-empty batch with the call columns appended, passed
    /// through `shape` (the query's SELECT and ORDER BY) where it is assembled: on the
    /// workers when the call runs on them.
    ///
    /// With several partitions the whole call runs inside the query's thread pool: the
    /// pre-projection and key interning in parallel across batches, the kernels in
    /// parallel across owners.
    ///
    /// Each batch passes `check` (by its position) right before its pre-projection.
    ///
    /// # Errors
    /// Expression failures, overflow in an exact SUM, the memory limit, a batch that
    /// fails `check` (the first in input order).
    pub fn process(
        &mut self,
        pre: &FilterProject,
        batches: Vec<RecordBatch>,
        shape: Shape<'_>,
        check: Check<'_>,
    ) -> Result<Vec<RecordBatch>> {
        let out = if self.owners.len() == 1 {
            let batches = batches
                .iter()
                .enumerate()
                .map(|(i, b)| pre.apply_checked(check, i, b))
                .collect::<Result<Vec<_>>>()?;
            let results = self.run_single(&batches)?;
            let schema = &self.spec.schema;
            batches
                .iter()
                .zip(results)
                .filter_map(|(b, cols)| finish_batch(schema, b, cols, shape).transpose())
                .collect::<Result<Vec<_>>>()?
        } else {
            match self.workers.for_call(&batches).cloned() {
                Some(pool) => {
                    pool.install(|| self.run_owners(pre, &batches, true, shape, check))?
                }
                None => self.run_owners(pre, &batches, false, shape, check)?,
            }
        };
        if let Some(limit) = self.spec.memory_limit_bytes {
            let used = self.state_bytes();
            if used > limit as u64 {
                return Err(Error::ResourcesExhausted(format!(
                    "analytic state is {used} bytes ({} partition keys), over the memory limit of {limit} bytes (--memory-limit)",
                    self.groups_live()
                )));
            }
        }
        Ok(out)
    }

    /// One partition: everything on the caller's thread, every row to one kernel per call.
    fn run_single(&mut self, batches: &[RecordBatch]) -> Result<Vec<Vec<ArrayRef>>> {
        let mut out = Vec::with_capacity(batches.len());
        for batch in batches {
            let n = batch.num_rows();
            if self.zeros.len() < n {
                self.zeros.resize(n, 0);
            }
            let mut as_runs = Vec::with_capacity(self.windows.len());
            for (w, layout) in self.windows.iter_mut().zip(&self.spec.windows) {
                if w.gids.is_empty() {
                    w.gids.push(Vec::new());
                }
                let mut runs = false;
                if let Some(table) = &mut w.global {
                    let keys: Vec<ArrayRef> = layout
                        .keys
                        .iter()
                        .map(|&k| batch.column(k).clone())
                        .collect();
                    table.intern(&keys, &mut w.gids[0])?;
                    w.num_keys = table.len();
                    runs = w.run_choice.runs(&w.gids[0], &mut w.runs);
                }
                as_runs.push(runs);
            }
            let mut cols = Vec::with_capacity(self.spec.calls.len());
            for (c, call) in self.spec.calls.iter().enumerate() {
                let w = &self.windows[call.window];
                let gids: &[u32] = if w.global.is_some() {
                    &w.gids[0]
                } else {
                    &self.zeros[..n]
                };
                let input = call_input(batch, call, &self.spec.windows[call.window]);
                let args = input.0;
                let input = KernelInput {
                    args: &args,
                    order: input.1.as_ref(),
                    num_rows: n,
                };
                if let Some(k) = &mut self.owners[0].kernels[c] {
                    let mut column = OutputColumn::new(&call.output_type, n)?;
                    let rows = if as_runs.get(call.window) == Some(&true) {
                        Rows::Runs { runs: &w.runs }
                    } else {
                        Rows::All { pids: gids }
                    };
                    k.update(&input, &rows, w.num_keys, &mut column)?;
                    cols.push(column.finish()?);
                } else if let Some(k) = &mut self.sequential[c] {
                    cols.push(k.update(&input, gids, w.num_keys)?);
                } else {
                    return Err(Error::internal("analytic call without a kernel"));
                }
            }
            out.push(cols);
        }
        Ok(out)
    }

    /// Several partitions: pre-projection and key interning per batch in parallel, then
    /// one task per owner (and one for the sequential calls). `parallel`: running inside
    /// the pool (else everything runs on this thread, in the same order).
    fn run_owners(
        &mut self,
        pre: &FilterProject,
        raw: &[RecordBatch],
        parallel: bool,
        shape: Shape<'_>,
        check: Check<'_>,
    ) -> Result<Vec<RecordBatch>> {
        let owners = self.owners.len();
        if parallel && let Some(groups) = self.pipeline_plan(raw) {
            return self.run_pipeline(pre, raw, groups, shape, check);
        }
        for (w, layout) in self.windows.iter_mut().zip(&self.spec.windows) {
            if w.global.is_none() {
                continue;
            }
            while w.partials.len() < raw.len() {
                w.partials.push(None);
            }
            for slot in &mut w.partials[..raw.len()] {
                if slot.is_none() {
                    *slot = Some(Partial {
                        table: new_group_values(&layout.key_types)?,
                        maps: KeyMaps::default(),
                    });
                }
            }
        }
        // round 1, one task per batch: WHERE and the pre-projection, its keys into the
        // slot's partial table, its rows split by owner (when its keys are known) or
        // counted by key (batch-parallel)
        let split = self.split;
        // batch-parallel: the groups of batches, and the batches whose rows per key the
        // later groups' catch-up counts (those before the last group)
        let groups = if split == Split::Owners || !parallel {
            Vec::new()
        } else {
            row_groups(raw, owners)
        };
        let counted = groups.last().map_or(0, |g| g.start);
        let mut batches: Vec<RecordBatch> = Vec::with_capacity(raw.len());
        {
            let layouts = &self.spec.windows;
            let windows = &mut self.windows;
            // per batch slot: the partials of every window
            let mut slots: Vec<BatchSlot<'_>> = raw
                .iter()
                .enumerate()
                .map(|(b, raw)| BatchSlot {
                    index: b,
                    raw,
                    count: b < counted,
                    partials: Vec::new(),
                    batch: None,
                })
                .collect();
            let mut slot_layouts: Vec<&WindowLayout> = Vec::new();
            for (w, layout) in windows.iter_mut().zip(layouts) {
                if w.global.is_none() {
                    continue;
                }
                slot_layouts.push(layout);
                for (slot, p) in slots.iter_mut().zip(&mut w.partials[..raw.len()]) {
                    if let Some(p) = p {
                        slot.partials.push(p);
                    }
                }
            }
            let round1 = |slot: &mut BatchSlot<'_>| -> Result<()> {
                let batch = pre.apply_checked(check, slot.index, slot.raw)?;
                for (p, layout) in slot.partials.iter_mut().zip(&slot_layouts) {
                    if p.table.len() > PARTIAL_MAX_KEYS {
                        p.table.clear();
                        p.maps.clear_keys();
                    }
                    let keys: Vec<ArrayRef> = layout
                        .keys
                        .iter()
                        .map(|&k| batch.column(k).clone())
                        .collect();
                    p.table.intern(&keys, &mut p.maps.ids)?;
                    if slot.count {
                        p.maps.count_ids(p.table.len());
                    }
                    if split != Split::Batches && p.maps.all_mapped(p.table.len()) {
                        p.maps.split_by_owner(owners);
                    }
                }
                slot.batch = Some(batch);
                Ok(())
            };
            if parallel {
                // the first error in batch order, as on one thread
                let done: Vec<Result<()>> = slots.par_iter_mut().map(round1).collect();
                done.into_iter().collect::<Result<()>>()?;
            } else {
                slots.iter_mut().try_for_each(round1)?;
            }
            for slot in slots {
                batches.push(
                    slot.batch
                        .ok_or_else(|| Error::internal("analytic batch not pre-projected"))?,
                );
            }
        }
        // in batch order: new local keys get global ids (first-seen order) and owners;
        // the batches that had new keys are split by owner now
        for w in &mut self.windows {
            let Some(global) = &mut w.global else {
                continue;
            };
            let mut new_gids = Vec::new();
            for p in w.partials[..batches.len()].iter_mut().flatten() {
                let known = p.maps.gid.len();
                if p.table.len() > known {
                    let new_ids: Vec<u32> = (known as u32..p.table.len() as u32).collect();
                    let keys = p.table.emit(&new_ids)?;
                    global.intern(&keys, &mut new_gids)?;
                    for &g in &new_gids {
                        p.maps.push_key(g, owners);
                    }
                    if split != Split::Batches {
                        p.maps.split_by_owner(owners);
                    }
                }
            }
            w.num_keys = global.len();
        }
        let n_max = batches.iter().map(RecordBatch::num_rows).max().unwrap_or(0);
        if self.zeros.len() < n_max {
            self.zeros.resize(n_max, 0);
        }
        let inputs: Vec<Vec<(Vec<ArrayRef>, Option<ArrayRef>)>> = batches
            .iter()
            .map(|b| {
                self.spec
                    .calls
                    .iter()
                    .map(|call| call_input(b, call, &self.spec.windows[call.window]))
                    .collect()
            })
            .collect();
        let fits = self.split != Split::Owners
            && self.batch_split_fits(batches.iter().map(RecordBatch::num_rows).sum());
        let forced = self.workers.analytic_split() == AnalyticSplit::ByBatch;
        if self.split == Split::Undecided {
            self.split = if fits { Split::Batches } else { Split::Owners };
        }
        if self.split == Split::Batches && parallel && !forced && !fits {
            // the keys outgrew the split by batch: split by key from now on
            self.switch_to_owners(batches.len())?;
        }
        if self.split == Split::Batches {
            // one group per thread when the call runs on the workers, else one group
            let groups = if parallel && groups.len() > 1 && (forced || fits) {
                groups
            } else {
                std::iter::once(0..batches.len()).collect()
            };
            return self.run_batches(&batches, &inputs, parallel, groups, shape);
        }
        // round 2: one task per owner, plus one for the sequential calls
        let calls = &self.spec.calls;
        let views = window_views(&self.windows, batches.len());
        let ctx = RoundContext {
            batches: &batches,
            inputs: &inputs,
            calls,
            windows: &views,
            zeros: &self.zeros,
            owners: owners as u32,
        };
        let owner_states = &mut self.owners;
        let sequential = &mut self.sequential;
        let has_sequential = sequential.iter().any(Option::is_some);
        let run_owners = |states: &mut Vec<Owner>| -> Result<Vec<OwnerColumns>> {
            if parallel {
                states
                    .par_iter_mut()
                    .enumerate()
                    .map(|(p, o)| ctx.run_owner(p as u32, o))
                    .collect()
            } else {
                states
                    .iter_mut()
                    .enumerate()
                    .map(|(p, o)| ctx.run_owner(p as u32, o))
                    .collect()
            }
        };
        let (owner_columns, mut sequential_out) = if has_sequential {
            let (a, b) = if parallel {
                rayon::join(
                    || run_owners(owner_states),
                    || ctx.run_sequential(sequential),
                )
            } else {
                (run_owners(owner_states), ctx.run_sequential(sequential))
            };
            (a?, b?)
        } else {
            (run_owners(owner_states)?, Vec::new())
        };
        // per batch: the owners' compact columns (by call, in owner order) and the
        // sequential calls' columns
        let mut results: Vec<BatchResults> = (0..batches.len())
            .map(|_| BatchResults {
                parts: (0..calls.len())
                    .map(|_| Vec::with_capacity(owners))
                    .collect(),
                sequential: Vec::new(),
            })
            .collect();
        for columns in owner_columns {
            for (b, cols) in columns.into_iter().enumerate() {
                for (c, col) in cols.into_iter().enumerate() {
                    if let (Some(col), Some(slot)) =
                        (col, results.get_mut(b).and_then(|r| r.parts.get_mut(c)))
                    {
                        slot.push(col);
                    }
                }
            }
        }
        for (r, seq) in results.iter_mut().zip(sequential_out.drain(..)) {
            r.sequential = seq;
        }
        // the finished columns beside the pre-projected ones: one task per batch
        let schema = &self.spec.schema;
        let assemble = |(b, (batch, results)): (usize, (&RecordBatch, BatchResults))| {
            let mut arrays = Vec::with_capacity(calls.len());
            let mut seq = results.sequential.into_iter();
            for (c, (call, mut parts)) in calls.iter().zip(results.parts).enumerate() {
                let from_sequential = seq.next().flatten();
                let window = &views[call.window];
                let array = match (from_sequential, window.maps.get(b).copied().flatten()) {
                    (Some(a), _) => a,
                    // no PARTITION BY: owner 0 wrote every row
                    (None, None) => parts
                        .pop()
                        .ok_or_else(|| Error::internal(format!("analytic call {c} missing")))?
                        .finish()?,
                    (None, Some(maps)) => {
                        let placed: Vec<(OutputColumn, &[Run])> = parts
                            .into_iter()
                            .enumerate()
                            .map(|(p, col)| (col, maps.owner_runs(p).map_or(&[][..], |r| r.0)))
                            .collect();
                        OutputColumn::scatter(&call.output_type, batch.num_rows(), &placed)?
                    }
                };
                arrays.push(array);
            }
            finish_batch(schema, batch, arrays, shape)
        };
        let out: Vec<Option<RecordBatch>> = if parallel {
            batches
                .par_iter()
                .zip(results.into_par_iter())
                .enumerate()
                .map(assemble)
                .collect::<Result<_>>()?
        } else {
            batches
                .iter()
                .zip(results)
                .enumerate()
                .map(assemble)
                .collect::<Result<_>>()?
        };
        Ok(out.into_iter().flatten().collect())
    }
}

impl AnalyticOperator {
    /// From the split by batch to the split by key, before the kernels of a call: owner
    /// 0's kernels (every key, `pid = gid`) dealt to the owners (`gid mod N`, `gid div
    /// N`), and the first `n` batch slots' rows split by owner (round 1 did not).
    fn switch_to_owners(&mut self, n: usize) -> Result<()> {
        let owners = self.owners.len();
        let Some(first) = self.owners.first_mut() else {
            return Err(Error::internal("analytic operator without kernels"));
        };
        let main = std::mem::take(&mut first.kernels);
        let mut dealt: Vec<Vec<Option<Box<dyn FrameKernel>>>> = (0..owners)
            .map(|_| Vec::with_capacity(main.len()))
            .collect();
        for kernel in main {
            match kernel {
                Some(mut k) => {
                    let parts = k
                        .deal(owners)
                        .filter(|p| p.len() == owners)
                        .ok_or_else(|| Error::internal("analytic kernel cannot be dealt"))?;
                    for (d, part) in dealt.iter_mut().zip(parts) {
                        d.push(Some(part));
                    }
                }
                None => dealt.iter_mut().for_each(|d| d.push(None)),
            }
        }
        for (owner, kernels) in self.owners.iter_mut().zip(dealt) {
            owner.kernels = kernels;
        }
        for w in &mut self.windows {
            let n = n.min(w.partials.len());
            for p in w.partials[..n].iter_mut().flatten() {
                p.maps.split_by_owner(owners);
            }
        }
        self.split = Split::Owners;
        Ok(())
    }

    /// Per window: the rows of each key's history a fork of its frame kernels must be
    /// shown again ([`FrameKernel::history_rows`], the largest of its calls).
    fn window_history(&self) -> Vec<Option<u64>> {
        let mut history = vec![None; self.spec.windows.len()];
        let kernels = self.owners.first().map_or(&[][..], |o| &o.kernels[..]);
        for (call, kernel) in self.spec.calls.iter().zip(kernels) {
            if let (Some(k), Some(h)) = (kernel, history.get_mut(call.window)) {
                *h = Some(h.unwrap_or(0).max(k.history_rows()));
            }
        }
        history
    }

    /// Whether batch-parallel evaluation of a call of `rows` rows pays: each thread but
    /// the first catches up on every key (a skip and a replay of its history rows), which
    /// must stay a small part of the call's work.
    fn batch_split_fits(&self, rows: usize) -> bool {
        let forks = self.owners.len().saturating_sub(1) as u64;
        let mut cost = 0u64;
        for (w, history) in self.windows.iter().zip(self.window_history()) {
            if let Some(h) = history {
                let keys = w.num_keys.max(1) as u64;
                cost = cost.saturating_add(keys.saturating_mul(h.saturating_add(1)));
            }
        }
        cost.saturating_mul(forks) <= rows as u64 / 8
    }

    /// Several partitions, batch-parallel: the call's batches in `groups`, contiguous, one
    /// per thread. The first group's thread runs the kernels themselves; each other
    /// thread runs forks of them made at the call's start, brought to its group's start
    /// by [`RoundContext::catch_up`]; the last group's forks then hold the state at the
    /// call's end. Results are the same bits as one thread's (every forkable kernel's
    /// state is a function of a key's row count and its last history rows).
    fn run_batches(
        &mut self,
        batches: &[RecordBatch],
        inputs: &[Vec<(Vec<ArrayRef>, Option<ArrayRef>)>],
        parallel: bool,
        groups: Vec<std::ops::Range<usize>>,
        shape: Shape<'_>,
    ) -> Result<Vec<RecordBatch>> {
        let history: Vec<u64> = self
            .window_history()
            .into_iter()
            .map(|h| h.unwrap_or(0))
            .collect();
        let mut sets = self.fork_sets(groups.len())?;
        let views = window_views(&self.windows, batches.len());
        let calls = &self.spec.calls;
        let ctx = RoundContext {
            batches,
            inputs,
            calls,
            windows: &views,
            zeros: &self.zeros,
            owners: 1,
        };
        let sequential = &mut self.sequential;
        let has_sequential = sequential.iter().any(Option::is_some);
        let history = &history[..];
        let groups = &groups[..];
        let run_groups = |sets: &mut Vec<Vec<Option<Box<dyn FrameKernel>>>>| -> Result<Vec<_>> {
            if parallel {
                sets.par_iter_mut()
                    .zip(groups.par_iter())
                    .map(|(k, g)| ctx.run_group(g.clone(), history, k))
                    .collect::<Result<Vec<_>>>()
            } else {
                sets.iter_mut()
                    .zip(groups)
                    .map(|(k, g)| ctx.run_group(g.clone(), history, k))
                    .collect::<Result<Vec<_>>>()
            }
        };
        let (frame_out, sequential_out) = if has_sequential && parallel {
            rayon::join(|| run_groups(&mut sets), || ctx.run_sequential(sequential))
        } else if has_sequential {
            (run_groups(&mut sets), ctx.run_sequential(sequential))
        } else {
            (run_groups(&mut sets), Ok(Vec::new()))
        };
        // the last group's kernels hold every key's state at the call's end
        self.owners[0].kernels = sets.pop().unwrap_or_default();
        let frame_out: Vec<CallColumns> = frame_out?.into_iter().flatten().collect();
        self.assemble_results(batches, frame_out, sequential_out?, parallel, shape)
    }

    /// `groups` sets of frame kernels: owner 0's own (taken from it), then forks of them
    /// (left in place on an error).
    fn fork_sets(&mut self, groups: usize) -> Result<Vec<KernelSet>> {
        let Some(main) = self.owners.first_mut() else {
            return Err(Error::internal("analytic operator without kernels"));
        };
        let mut sets: Vec<KernelSet> = Vec::with_capacity(groups);
        for _ in 1..groups {
            let fork = main
                .kernels
                .iter()
                .map(|k| match k {
                    Some(k) => k
                        .fork()
                        .map(Some)
                        .ok_or_else(|| Error::internal("analytic kernel cannot fork")),
                    None => Ok(None),
                })
                .collect::<Result<Vec<_>>>()?;
            sets.push(fork);
        }
        sets.insert(0, std::mem::take(&mut main.kernels));
        Ok(sets)
    }

    /// The batches with their results appended (frame calls' and sequential calls'
    /// columns, by batch, then call), shaped; empty batches left out.
    fn assemble_results(
        &self,
        batches: &[RecordBatch],
        frame_out: Vec<CallColumns>,
        mut sequential_out: Vec<CallColumns>,
        parallel: bool,
        shape: Shape<'_>,
    ) -> Result<Vec<RecordBatch>> {
        sequential_out.resize_with(batches.len(), Vec::new);
        let schema = &self.spec.schema;
        let assemble = |((batch, frame), seq): ((&RecordBatch, CallColumns), CallColumns)| {
            let mut seq = seq.into_iter();
            let mut arrays = Vec::with_capacity(frame.len());
            for (c, f) in frame.into_iter().enumerate() {
                match (f, seq.next().flatten()) {
                    (Some(a), _) | (None, Some(a)) => arrays.push(a),
                    (None, None) => {
                        return Err(Error::internal(format!("analytic call {c} missing")));
                    }
                }
            }
            finish_batch(schema, batch, arrays, shape)
        };
        let out: Vec<Option<RecordBatch>> = if parallel {
            batches
                .par_iter()
                .zip(frame_out)
                .zip(sequential_out)
                .map(assemble)
                .collect::<Result<_>>()?
        } else {
            batches
                .iter()
                .zip(frame_out)
                .zip(sequential_out)
                .map(assemble)
                .collect::<Result<_>>()?
        };
        Ok(out.into_iter().flatten().collect())
    }
}

/// The windows' key maps for the first `n` batch slots.
fn window_views(windows: &[WindowState], n: usize) -> Vec<WindowView<'_>> {
    windows
        .iter()
        .map(|w| WindowView {
            num_keys: w.num_keys,
            maps: w.partials[..n.min(w.partials.len())]
                .iter()
                .map(|p| p.as_ref().map(|p| &p.maps))
                .collect(),
        })
        .collect()
}

/// `batches` in at most `groups` contiguous ranges of about equal rows (empty ranges
/// left out; at least one range).
fn row_groups(batches: &[RecordBatch], groups: usize) -> Vec<std::ops::Range<usize>> {
    let total: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let groups = groups.max(1);
    let mut out = Vec::with_capacity(groups);
    let (mut start, mut rows) = (0usize, 0usize);
    for (b, batch) in batches.iter().enumerate() {
        rows += batch.num_rows();
        // group g ends once the rows so far reach g+1 shares of the total
        if rows * groups >= total * (out.len() + 1) && out.len() + 1 < groups {
            out.push(start..b + 1);
            start = b + 1;
        }
    }
    if start < batches.len() || out.is_empty() {
        out.push(start..batches.len());
    }
    out
}

/// One thread's frame kernels, by call (`None` for sequential calls).
type KernelSet = Vec<Option<Box<dyn FrameKernel>>>;

/// One batch's result columns, by call (`None` for the calls another task ran).
type CallColumns = Vec<Option<ArrayRef>>;

/// The results of one batch of a round, before assembly.
struct BatchResults {
    /// Per call: the owners' compact columns, in owner order (empty for sequential
    /// calls; owner 0's alone for windows without PARTITION BY).
    parts: Vec<Vec<OutputColumn>>,
    /// Per call: the sequential kernel's column.
    sequential: Vec<Option<ArrayRef>>,
}

/// One owner's result columns of a round: per batch, per call (`None` for calls it does
/// not run).
type OwnerColumns = Vec<Vec<Option<OutputColumn>>>;

/// One input batch of a round-1 task: the raw batch, the partial tables it interns
/// into (one per window with keys), and what the task produces.
struct BatchSlot<'a> {
    /// Its position in the call.
    index: usize,
    raw: &'a RecordBatch,
    /// Whether its rows are counted by key (see [`KeyMaps::count_ids`]).
    count: bool,
    partials: Vec<&'a mut Partial>,
    batch: Option<RecordBatch>,
}

/// A window's key maps for the batches of one round.
struct WindowView<'a> {
    num_keys: usize,
    /// Per batch (`None`: no PARTITION BY).
    maps: Vec<Option<&'a KeyMaps>>,
}

/// What the owner tasks of one round share.
struct RoundContext<'a> {
    batches: &'a [RecordBatch],
    /// Per batch, per call: argument columns and the order column.
    inputs: &'a [Vec<(Vec<ArrayRef>, Option<ArrayRef>)>],
    calls: &'a [CallLayout],
    windows: &'a [WindowView<'a>],
    zeros: &'a [u32],
    owners: u32,
}

impl RoundContext<'_> {
    /// Owner `p`: its rows of every batch, in order, through its kernels, into compact
    /// columns of its own (one slot per row it owns).
    fn run_owner(&self, p: u32, owner: &mut Owner) -> Result<OwnerColumns> {
        let mut out: OwnerColumns = Vec::with_capacity(self.batches.len());
        for (b, batch) in self.batches.iter().enumerate() {
            let n = batch.num_rows();
            let mut columns: Vec<Option<OutputColumn>> =
                (0..self.calls.len()).map(|_| None).collect();
            for (w, window) in self.windows.iter().enumerate() {
                // this owner's rows and key ids
                let (rows, num_keys, slots) = match window.maps.get(b).copied().flatten() {
                    Some(part) => {
                        let Some((runs, count)) = part.owner_runs(p as usize) else {
                            return Err(Error::internal("analytic rows not split by owner"));
                        };
                        let keys = (window.num_keys + (self.owners - 1 - p) as usize)
                            / self.owners as usize;
                        (Rows::Runs { runs }, keys, count)
                    }
                    // no PARTITION BY: one key, owned by owner 0
                    None if p == 0 => (
                        Rows::All {
                            pids: &self.zeros[..n],
                        },
                        1,
                        n,
                    ),
                    None => continue,
                };
                for (c, call) in self.calls.iter().enumerate() {
                    if call.window != w {
                        continue;
                    }
                    let Some(kernel) = owner.kernels.get_mut(c).and_then(Option::as_mut) else {
                        continue;
                    };
                    columns[c] = Some(self.update(b, c, kernel, &rows, num_keys, slots)?);
                }
            }
            out.push(columns);
        }
        Ok(out)
    }

    /// Call `c`'s kernel over `rows` of batch `b` (`slots` of them), into a new column.
    fn update(
        &self,
        b: usize,
        c: usize,
        kernel: &mut Box<dyn FrameKernel>,
        rows: &Rows<'_>,
        num_keys: usize,
        slots: usize,
    ) -> Result<OutputColumn> {
        kernel_column(
            kernel,
            &self.inputs[b][c],
            self.batches[b].num_rows(),
            &self.calls[c].output_type,
            rows,
            num_keys,
            slots,
        )
    }

    /// Batch-parallel: the frame calls over the batches of `group`, with `kernels` at
    /// the state of the call's start, or of the group's start when the group is the
    /// first; results by batch, then call (`None` for sequential calls).
    fn run_group(
        &self,
        group: std::ops::Range<usize>,
        history: &[u64],
        kernels: &mut [Option<Box<dyn FrameKernel>>],
    ) -> Result<Vec<Vec<Option<ArrayRef>>>> {
        if group.start > 0 {
            self.catch_up(group.start, history, kernels)?;
        }
        let mut out = Vec::with_capacity(group.len());
        for b in group {
            let n = self.batches[b].num_rows();
            let mut columns: Vec<Option<ArrayRef>> = vec![None; self.calls.len()];
            let calls = self.calls.iter().zip(kernels.iter_mut()).zip(&mut columns);
            for (c, ((call, kernel), column)) in calls.enumerate() {
                let Some(kernel) = kernel else {
                    continue;
                };
                let window = &self.windows[call.window];
                let (rows, num_keys) = match window.maps.get(b).copied().flatten() {
                    Some(part) => (
                        Rows::Mapped {
                            ids: &part.ids,
                            gid: &part.gid,
                        },
                        window.num_keys,
                    ),
                    None => (
                        Rows::All {
                            pids: &self.zeros[..n],
                        },
                        1,
                    ),
                };
                *column = Some(self.update(b, c, kernel, &rows, num_keys, n)?.finish()?);
            }
            out.push(columns);
        }
        Ok(out)
    }

    /// Brings forks made at the call's start to the state at batch `start`: per window,
    /// each key's rows in the batches before are skipped but for its last `history`
    /// rows, which are replayed (see [`catch_up_window`]).
    fn catch_up(
        &self,
        start: usize,
        history: &[u64],
        kernels: &mut [Option<Box<dyn FrameKernel>>],
    ) -> Result<()> {
        for (w, window) in self.windows.iter().enumerate() {
            let mut mine = window_kernels(self.calls, kernels, w);
            if mine.is_empty() {
                continue;
            }
            // each key's rows before `start`
            let mut count = vec![0u64; window.num_keys.max(1)];
            for b in 0..start {
                match window.maps.get(b).copied().flatten() {
                    Some(part) => {
                        for (l, &h) in part.hist.iter().enumerate() {
                            if let Some(c) =
                                part.gid.get(l).and_then(|&g| count.get_mut(g as usize))
                            {
                                *c += u64::from(h);
                            }
                        }
                    }
                    None => count[0] += self.batches[b].num_rows() as u64,
                }
            }
            let keys_of = |b: usize| {
                Ok(match window.maps.get(b).copied().flatten() {
                    Some(part) => BatchKeys::Mapped {
                        ids: &part.ids,
                        gid: &part.gid,
                    },
                    None => BatchKeys::One(self.batches[b].num_rows()),
                })
            };
            let replay = |b: usize, c: usize, k: &mut Box<dyn FrameKernel>, rows: &Rows<'_>| {
                let slots = rows_len(rows);
                self.update(b, c, k, rows, count.len(), slots).map(drop)
            };
            let r = history.get(w).copied().unwrap_or(0);
            catch_up_window(&mut mine, &count, r, start, keys_of, replay)?;
        }
        Ok(())
    }

    /// The sequential calls over every batch; results by batch, then call.
    fn run_sequential(
        &self,
        kernels: &mut [Option<Box<dyn SequentialKernel>>],
    ) -> Result<Vec<Vec<Option<ArrayRef>>>> {
        let mut out = Vec::with_capacity(self.batches.len());
        let mut gids: Vec<u32> = Vec::new();
        for (b, batch) in self.batches.iter().enumerate() {
            let n = batch.num_rows();
            let mut row = vec![None; self.calls.len()];
            for (c, call) in self.calls.iter().enumerate() {
                let Some(kernel) = kernels.get_mut(c).and_then(Option::as_mut) else {
                    continue;
                };
                let window = &self.windows[call.window];
                let ids: &[u32] = match window.maps.get(b).copied().flatten() {
                    Some(part) => {
                        gids.clear();
                        gids.extend(part.ids.iter().map(|&l| part.gid[l as usize]));
                        &gids
                    }
                    None => &self.zeros[..n],
                };
                row[c] = Some(sequential_column(
                    kernel,
                    &self.inputs[b][c],
                    n,
                    ids,
                    window.num_keys.max(1),
                )?);
            }
            out.push(row);
        }
        Ok(out)
    }
}

/// Window `w`'s frame kernels among `kernels` (by call), with their call indexes.
fn window_kernels<'k>(
    calls: &[CallLayout],
    kernels: &'k mut [Option<Box<dyn FrameKernel>>],
    w: usize,
) -> Vec<(usize, &'k mut Box<dyn FrameKernel>)> {
    calls
        .iter()
        .zip(kernels.iter_mut())
        .enumerate()
        .filter(|(_, (call, _))| call.window == w)
        .filter_map(|(c, (_, k))| k.as_mut().map(|k| (c, k)))
        .collect()
}

/// One batch's key ids, as a catch-up scans them.
#[derive(Clone, Copy)]
enum BatchKeys<'a> {
    /// Local ids, and the key id of each local id.
    Mapped { ids: &'a [u32], gid: &'a [u32] },
    /// Key ids.
    Ids(&'a [u32]),
    /// Runs of one key, covering the batch in order.
    Runs(&'a [Run]),
    /// No PARTITION BY: this many rows, all of key 0.
    One(usize),
}

/// The slots of `rows` (runs only: the rows a catch-up replays).
fn rows_len(rows: &Rows<'_>) -> usize {
    match rows {
        Rows::All { pids } => pids.len(),
        Rows::Runs { runs } => runs.iter().map(|r| r.len as usize).sum(),
        Rows::Mapped { ids, .. } => ids.len(),
    }
}

/// Brings `kernels` (one window's forks, with their call indexes), made at the call's
/// start, to their state at batch `start`, given `count`: every key's rows in the
/// batches before. Each key's rows but its last `r` are skipped
/// ([`FrameKernel::skip`]); those last rows are found scanning back from `start`
/// (`keys_of(b)`: batch b's key ids) and replayed in order, as runs
/// (`replay(b, call, kernel, rows)`).
fn catch_up_window<'a>(
    kernels: &mut [(usize, &mut Box<dyn FrameKernel>)],
    count: &[u64],
    r: u64,
    start: usize,
    keys_of: impl Fn(usize) -> Result<BatchKeys<'a>>,
    mut replay: impl FnMut(usize, usize, &mut Box<dyn FrameKernel>, &Rows<'_>) -> Result<()>,
) -> Result<()> {
    // each key's last `r` rows, scanning back
    let mut need: Vec<u64> = count.iter().map(|&c| c.min(r)).collect();
    let mut remaining: u64 = need.iter().sum();
    let mut replays: Vec<(usize, Vec<Run>)> = Vec::new();
    let mut b = start;
    while remaining > 0 && b > 0 {
        b -= 1;
        let mut runs: Vec<Run> = Vec::new();
        let mut take = |i: usize, g: u32, runs: &mut Vec<Run>| {
            let Some(left) = need.get_mut(g as usize) else {
                return false;
            };
            if *left == 0 {
                return false;
            }
            *left -= 1;
            remaining -= 1;
            match runs.last_mut() {
                Some(run) if run.pid == g && run.start as usize == i + 1 => {
                    run.start -= 1;
                    run.len += 1;
                }
                _ => runs.push(Run {
                    start: i as u32,
                    len: 1,
                    pid: g,
                }),
            }
            remaining == 0
        };
        match keys_of(b)? {
            BatchKeys::Mapped { ids, gid } => {
                for (i, &l) in ids.iter().enumerate().rev() {
                    let g = gid
                        .get(l as usize)
                        .copied()
                        .ok_or_else(|| Error::internal("analytic local key without key id"))?;
                    if take(i, g, &mut runs) {
                        break;
                    }
                }
            }
            BatchKeys::Ids(ids) => {
                for (i, &g) in ids.iter().enumerate().rev() {
                    if take(i, g, &mut runs) {
                        break;
                    }
                }
            }
            BatchKeys::Runs(key_runs) => {
                'scan: for run in key_runs.iter().rev() {
                    let first = run.start as usize;
                    for i in (first..first + run.len as usize).rev() {
                        if take(i, run.pid, &mut runs) {
                            break 'scan;
                        }
                    }
                }
            }
            BatchKeys::One(n) => {
                let t = remaining.min(n as u64) as usize;
                remaining -= t as u64;
                runs.push(Run {
                    start: (n - t) as u32,
                    len: t as u32,
                    pid: 0,
                });
            }
        }
        runs.reverse();
        replays.push((b, runs));
    }
    if remaining > 0 {
        return Err(Error::internal("analytic catch-up ran out of rows"));
    }
    for (_, kernel) in kernels.iter_mut() {
        for (g, &c) in count.iter().enumerate() {
            let kept = c.min(r);
            if c > kept {
                kernel.skip(g, c - kept);
            }
        }
    }
    for (b, runs) in replays.iter().rev() {
        if runs.iter().all(|r| r.len == 0) {
            continue;
        }
        for (c, kernel) in kernels.iter_mut() {
            replay(*b, *c, kernel, &Rows::Runs { runs })?;
        }
    }
    Ok(())
}

/// A frame kernel over `rows` of a batch of `num_rows` rows (`input`: the call's argument
/// columns and order column), into a new column of `slots` slots.
fn kernel_column(
    kernel: &mut Box<dyn FrameKernel>,
    input: &(Vec<ArrayRef>, Option<ArrayRef>),
    num_rows: usize,
    output_type: &DataType,
    rows: &Rows<'_>,
    num_keys: usize,
    slots: usize,
) -> Result<OutputColumn> {
    let mut column = OutputColumn::new(output_type, slots)?;
    kernel.update(&kernel_input(input, num_rows), rows, num_keys, &mut column)?;
    Ok(column)
}

/// A call's argument columns and order column as a kernel's input.
fn kernel_input(input: &(Vec<ArrayRef>, Option<ArrayRef>), num_rows: usize) -> KernelInput<'_> {
    KernelInput {
        args: &input.0,
        order: input.1.as_ref(),
        num_rows,
    }
}

/// A sequential kernel over a whole batch of `num_rows` rows (`gids`: key id per row).
fn sequential_column(
    kernel: &mut Box<dyn SequentialKernel>,
    input: &(Vec<ArrayRef>, Option<ArrayRef>),
    num_rows: usize,
    gids: &[u32],
    num_keys: usize,
) -> Result<ArrayRef> {
    kernel.update(&kernel_input(input, num_rows), gids, num_keys)
}

/// `batch` with the result columns appended, as a batch of `schema`, passed through
/// `shape`; `None` for an empty batch (it emits nothing).
fn finish_batch(
    schema: &SchemaRef,
    batch: &RecordBatch,
    results: Vec<ArrayRef>,
    shape: Shape<'_>,
) -> Result<Option<RecordBatch>> {
    if batch.num_rows() == 0 {
        return Ok(None);
    }
    shape(assemble_batch(schema, batch, results)?).map(Some)
}

/// `batch` with the result columns appended, as a batch of `schema`.
fn assemble_batch(
    schema: &SchemaRef,
    batch: &RecordBatch,
    results: Vec<ArrayRef>,
) -> Result<RecordBatch> {
    let mut cols = batch.columns().to_vec();
    cols.extend(results);
    Ok(RecordBatch::try_new_with_options(
        schema.clone(),
        cols,
        &RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
    )?)
}

/// A call's argument columns and its window's order column in `batch`.
fn call_input(
    batch: &RecordBatch,
    call: &CallLayout,
    window: &WindowLayout,
) -> (Vec<ArrayRef>, Option<ArrayRef>) {
    (
        call.args.iter().map(|&a| batch.column(a).clone()).collect(),
        window.order.map(|o| batch.column(o).clone()),
    )
}

/// Builds the pipeline of an analytic query: `Projection ← Analytic ← [Filter] ← Scan`.
///
/// ```text
///  pre:  WHERE, then [input columns the SELECT list reads | partition keys | order keys
///        | arguments] (duplicates computed once)
///  AnalyticOperator: pre columns + one column per call
///  post: the SELECT list over that
/// ```
///
/// # Errors
/// `Internal` for a plan shape the planner does not produce.
pub(crate) fn plan_physical(
    plan: &QueryPlan,
    analytic: &LogicalPlan,
    exprs: &[Expr],
    schema: &SchemaRef,
    sort: Vec<crate::plan::logical::SortKey>,
    limit: Option<LimitSpec>,
) -> Result<PhysicalPlan> {
    let LogicalPlan::Analytic {
        input,
        windows,
        calls,
        ..
    } = analytic
    else {
        return Err(Error::internal("expected an Analytic node"));
    };
    let (predicate, scan) = match input.as_ref() {
        LogicalPlan::Filter { input, predicate } => (Some(predicate.clone()), input.as_ref()),
        other => (None, other),
    };
    let LogicalPlan::Scan {
        schema: input_schema,
        ..
    } = scan
    else {
        return Err(Error::internal("expected a scan below the Analytic node"));
    };
    let n_in = input_schema.fields().len();
    // input columns the SELECT list reads
    let mut used = Vec::new();
    for e in exprs {
        e.column_indices(&mut used);
    }
    used.retain(|&i| i < n_in);
    used.sort_unstable();
    used.dedup();
    let mut pre: Vec<Expr> = Vec::new();
    let mut map = vec![usize::MAX; n_in + calls.len()];
    for &i in &used {
        map[i] = pre.len();
        pre.push(Expr::Column {
            index: i,
            name: input_schema.field(i).name().clone(),
            data_type: input_schema.field(i).data_type().clone(),
        });
    }
    let slot = |pre: &mut Vec<Expr>, e: Expr| -> usize {
        let text = e.to_string();
        let t = e.data_type();
        match pre
            .iter()
            .position(|p| p.data_type() == t && p.to_string() == text)
        {
            Some(i) => i,
            None => {
                pre.push(e);
                pre.len() - 1
            }
        }
    };
    let mut window_layouts = Vec::with_capacity(windows.len());
    for w in windows {
        let keys: Vec<usize> = w
            .partition_by
            .iter()
            .map(|k| slot(&mut pre, k.clone()))
            .collect();
        let order = w.order_by.as_ref().map(|o| slot(&mut pre, o.clone()));
        window_layouts.push(WindowLayout {
            key_types: w.partition_by.iter().map(Expr::data_type).collect(),
            keys,
            order,
            order_type: w.order_by.as_ref().map(Expr::data_type),
        });
    }
    let mut call_layouts = Vec::with_capacity(calls.len());
    for c in calls {
        let args = c
            .args
            .iter()
            .map(|a| {
                let t = c.func.kernel_arg_type(&a.data_type());
                let a = if t == a.data_type() {
                    a.clone()
                } else {
                    Expr::Cast {
                        expr: Box::new(a.clone()),
                        to: t,
                        mode: crate::expr::CastMode::Strict,
                    }
                };
                slot(&mut pre, a)
            })
            .collect();
        call_layouts.push(CallLayout {
            func: c.func,
            frame: c.frame,
            window: c.window,
            args,
            arg_types: c.args.iter().map(Expr::data_type).collect(),
            output_type: c.data_type.clone(),
        });
    }
    let pre_len = pre.len();
    for (s, m) in map[n_in..].iter_mut().enumerate() {
        *m = pre_len + s;
    }
    let pre_fields: Vec<Field> = pre
        .iter()
        .enumerate()
        .map(|(i, e)| Field::new(format!("#{i}"), e.data_type(), true))
        .collect();
    let pre_schema = Arc::new(Schema::new(pre_fields.clone()));
    let mut out_fields = pre_fields;
    out_fields.extend(
        calls
            .iter()
            .map(|c| Field::new(c.text.clone(), c.data_type.clone(), true)),
    );
    let analytic_schema = Arc::new(Schema::new(out_fields));
    let post_exprs: Vec<Expr> = exprs.iter().map(|e| remap(e.clone(), &map)).collect();
    Ok(PhysicalPlan {
        input_schema: input_schema.clone(),
        pre: FilterProject::new(input_schema, predicate, pre, pre_schema),
        aggregate: None,
        post: Some(FilterProject::new(
            &analytic_schema,
            None,
            post_exprs,
            schema.clone(),
        )),
        sort,
        limit,
        output_schema: schema.clone(),
        analytic: Some(AnalyticSpec {
            windows: window_layouts,
            calls: call_layouts,
            schema: analytic_schema,
            memory_limit_bytes: plan.options.memory_limit_bytes,
        }),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};
    use proptest::prelude::*;

    use super::*;

    /// Batches of one Int64 column with these row counts.
    pub(super) fn batches(rows: &[usize]) -> Vec<RecordBatch> {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, true)]));
        rows.iter()
            .map(|&n| {
                let col: ArrayRef = Arc::new(Int64Array::from(vec![0i64; n]));
                RecordBatch::try_new(schema.clone(), vec![col]).expect("batch")
            })
            .collect()
    }

    proptest! {
        /// The groups are contiguous, cover every batch in order, are no more than asked,
        /// and none holds more rows than its share plus one batch.
        #[test]
        fn row_groups_cover_the_batches_in_balanced_ranges(
            rows in proptest::collection::vec(0usize..50, 0..40),
            groups in 1usize..6,
        ) {
            let b = batches(&rows);
            let got = row_groups(&b, groups);
            prop_assert!(!got.is_empty() && got.len() <= groups);
            let mut next = 0;
            let total: usize = rows.iter().sum();
            let largest = rows.iter().copied().max().unwrap_or(0);
            for g in &got {
                prop_assert_eq!(g.start, next);
                next = g.end;
                let in_group: usize = rows[g.clone()].iter().sum();
                prop_assert!(
                    in_group <= total.div_ceil(groups) + largest,
                    "{got:?} of {rows:?}"
                );
            }
            prop_assert_eq!(next, rows.len());
        }
    }
}
