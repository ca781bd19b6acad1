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

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use rayon::prelude::*;

use super::filter_project::{FilterProject, remap};
use super::physical::{LimitSpec, PhysicalPlan};
use crate::aggregate::{GroupValues, emitted_key_type, new_group_values};
use crate::analytic::kernel::{FrameKernel, Kernel, KernelInput, Rows, SequentialKernel};
use crate::analytic::output::{OutputColumn, SharedOut};
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
    /// Per local id: global id, owner, key id within the owner.
    gid: Vec<u32>,
    owner: Vec<u32>,
    pid: Vec<u32>,
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
}

/// Per owner thread: its kernels (by call) and scratch row lists.
struct Owner {
    kernels: Vec<Option<Box<dyn FrameKernel>>>,
    rows: Vec<u32>,
    pids: Vec<u32>,
}

/// The ROWS-window analytics operator.
pub struct AnalyticOperator {
    spec: AnalyticSpec,
    owners: Vec<Owner>,
    /// By call: the kernel of a sequential call.
    sequential: Vec<Option<Box<dyn SequentialKernel>>>,
    windows: Vec<WindowState>,
    pool: Option<Arc<rayon::ThreadPool>>,
    /// Scratch: key id 0 for every row (windows without PARTITION BY).
    zeros: Vec<u32>,
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
        pool: Option<Arc<rayon::ThreadPool>>,
    ) -> Result<AnalyticOperator> {
        let partitions = partitions.max(1);
        let mut owners: Vec<Owner> = (0..partitions)
            .map(|_| Owner {
                kernels: Vec::new(),
                rows: Vec::new(),
                pids: Vec::new(),
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
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(AnalyticOperator {
            spec,
            owners,
            sequential,
            windows,
            pool,
            zeros: Vec::new(),
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

    /// Bytes of state held now: key tables and every kernel's buffers.
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
                                    + p.maps.pid.capacity())
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
        (tables + kernels) as u64
    }

    /// Processes batches in order; returns each with the call columns appended.
    ///
    /// # Errors
    /// Overflow in an exact SUM, the memory limit, key types without a table.
    pub fn process(&mut self, batches: Vec<RecordBatch>) -> Result<Vec<RecordBatch>> {
        if batches.iter().all(|b| b.num_rows() == 0) {
            return batches
                .iter()
                .filter(|b| b.num_rows() > 0)
                .map(|b| self.assemble(b, Vec::new()))
                .collect();
        }
        let results = if self.owners.len() == 1 {
            self.run_single(&batches)?
        } else {
            self.run_owners(&batches)?
        };
        let out = batches
            .iter()
            .zip(results)
            .filter(|(b, _)| b.num_rows() > 0)
            .map(|(b, cols)| self.assemble(b, cols))
            .collect::<Result<Vec<_>>>()?;
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

    /// `batch` with the result columns appended.
    fn assemble(&self, batch: &RecordBatch, results: Vec<ArrayRef>) -> Result<RecordBatch> {
        let mut cols = batch.columns().to_vec();
        cols.extend(results);
        Ok(RecordBatch::try_new_with_options(
            self.spec.schema.clone(),
            cols,
            &RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
        )?)
    }

    /// One partition: everything on the caller's thread, every row to one kernel per call.
    fn run_single(&mut self, batches: &[RecordBatch]) -> Result<Vec<Vec<ArrayRef>>> {
        let mut out = Vec::with_capacity(batches.len());
        for batch in batches {
            let n = batch.num_rows();
            if self.zeros.len() < n {
                self.zeros.resize(n, 0);
            }
            for (w, layout) in self.windows.iter_mut().zip(&self.spec.windows) {
                if w.gids.is_empty() {
                    w.gids.push(Vec::new());
                }
                if let Some(table) = &mut w.global {
                    let keys: Vec<ArrayRef> = layout
                        .keys
                        .iter()
                        .map(|&k| batch.column(k).clone())
                        .collect();
                    table.intern(&keys, &mut w.gids[0])?;
                    w.num_keys = table.len();
                }
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
                    k.update(
                        &input,
                        &Rows::All { pids: gids },
                        w.num_keys,
                        column.shared(),
                    )?;
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

    /// Several partitions: keys interned per batch in parallel, then one task per owner.
    fn run_owners(&mut self, batches: &[RecordBatch]) -> Result<Vec<Vec<ArrayRef>>> {
        let owners = self.owners.len();
        // round 1: each batch's keys into its slot's partial table
        for (w, layout) in self.windows.iter_mut().zip(&self.spec.windows) {
            if w.global.is_none() {
                continue;
            }
            while w.partials.len() < batches.len() {
                w.partials.push(None);
            }
            for slot in &mut w.partials[..batches.len()] {
                if slot.is_none() {
                    *slot = Some(Partial {
                        table: new_group_values(&layout.key_types)?,
                        maps: KeyMaps::default(),
                    });
                }
            }
        }
        {
            let layouts = &self.spec.windows;
            let windows = &mut self.windows;
            // per batch slot: the partials of every window
            let mut slots: Vec<Vec<&mut Partial>> =
                (0..batches.len()).map(|_| Vec::new()).collect();
            let mut slot_layouts: Vec<&WindowLayout> = Vec::new();
            for (w, layout) in windows.iter_mut().zip(layouts) {
                if w.global.is_none() {
                    continue;
                }
                slot_layouts.push(layout);
                for (b, p) in w.partials[..batches.len()].iter_mut().enumerate() {
                    if let Some(p) = p {
                        slots[b].push(p);
                    }
                }
            }
            let intern = |(parts, batch): (&mut Vec<&mut Partial>, &RecordBatch)| -> Result<()> {
                for (p, layout) in parts.iter_mut().zip(&slot_layouts) {
                    if p.table.len() > PARTIAL_MAX_KEYS {
                        p.table.clear();
                        p.maps.gid.clear();
                        p.maps.owner.clear();
                        p.maps.pid.clear();
                    }
                    let keys: Vec<ArrayRef> = layout
                        .keys
                        .iter()
                        .map(|&k| batch.column(k).clone())
                        .collect();
                    p.table.intern(&keys, &mut p.maps.ids)?;
                }
                Ok(())
            };
            match &self.pool {
                Some(pool) if batches.len() > 1 => pool.install(|| {
                    slots
                        .par_iter_mut()
                        .zip(batches.par_iter())
                        .try_for_each(intern)
                })?,
                _ => slots.iter_mut().zip(batches.iter()).try_for_each(intern)?,
            }
        }
        // in batch order: new local keys get global ids (first-seen order), owners
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
                        p.maps.gid.push(g);
                        p.maps.owner.push(g % owners as u32);
                        p.maps.pid.push(g / owners as u32);
                    }
                }
            }
            w.num_keys = global.len();
        }
        let n_max = batches.iter().map(RecordBatch::num_rows).max().unwrap_or(0);
        if self.zeros.len() < n_max {
            self.zeros.resize(n_max, 0);
        }
        // the result columns, written in place by the owners
        let calls = &self.spec.calls;
        let mut columns: Vec<Vec<Option<OutputColumn>>> = batches
            .iter()
            .map(|b| {
                calls
                    .iter()
                    .enumerate()
                    .map(|(c, call)| {
                        if self.sequential[c].is_some() {
                            Ok(None)
                        } else {
                            OutputColumn::new(&call.output_type, b.num_rows()).map(Some)
                        }
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<_>>()?;
        let inputs: Vec<Vec<(Vec<ArrayRef>, Option<ArrayRef>)>> = batches
            .iter()
            .map(|b| {
                calls
                    .iter()
                    .map(|call| call_input(b, call, &self.spec.windows[call.window]))
                    .collect()
            })
            .collect();
        let mut sequential_out: Vec<Vec<Option<ArrayRef>>> = Vec::new();
        {
            let shared: Vec<Vec<Option<SharedOut<'_>>>> = columns
                .iter_mut()
                .map(|cols| {
                    cols.iter_mut()
                        .map(|c| c.as_mut().map(OutputColumn::shared))
                        .collect()
                })
                .collect();
            let views: Vec<WindowView<'_>> = self
                .windows
                .iter()
                .map(|w| WindowView {
                    num_keys: w.num_keys,
                    maps: w.partials[..batches.len().min(w.partials.len())]
                        .iter()
                        .map(|p| p.as_ref().map(|p| &p.maps))
                        .collect(),
                })
                .collect();
            let ctx = RoundContext {
                batches,
                inputs: &inputs,
                shared: &shared,
                calls,
                windows: &views,
                zeros: &self.zeros,
                owners: owners as u32,
            };
            let owner_states = &mut self.owners;
            let sequential = &mut self.sequential;
            let has_sequential = sequential.iter().any(Option::is_some);
            let run_owners = |states: &mut Vec<Owner>| -> Result<()> {
                match &self.pool {
                    Some(pool) => pool.install(|| {
                        states
                            .par_iter_mut()
                            .enumerate()
                            .try_for_each(|(p, o)| ctx.run_owner(p as u32, o))
                    }),
                    None => states
                        .iter_mut()
                        .enumerate()
                        .try_for_each(|(p, o)| ctx.run_owner(p as u32, o)),
                }
            };
            if has_sequential {
                let (a, b) = match &self.pool {
                    Some(pool) => pool.install(|| {
                        rayon::join(
                            || run_owners(owner_states),
                            || ctx.run_sequential(sequential),
                        )
                    }),
                    None => (run_owners(owner_states), ctx.run_sequential(sequential)),
                };
                a?;
                sequential_out = b?;
            } else {
                run_owners(owner_states)?;
            }
        }
        let mut out = Vec::with_capacity(batches.len());
        for (b, cols) in columns.into_iter().enumerate() {
            let mut arrays = Vec::with_capacity(cols.len());
            for (c, col) in cols.into_iter().enumerate() {
                match col {
                    Some(col) => arrays.push(col.finish()?),
                    None => arrays.push(
                        sequential_out
                            .get_mut(b)
                            .and_then(|r| r.get_mut(c))
                            .and_then(Option::take)
                            .ok_or_else(|| Error::internal("sequential analytic result missing"))?,
                    ),
                }
            }
            out.push(arrays);
        }
        Ok(out)
    }
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
    shared: &'a [Vec<Option<SharedOut<'a>>>],
    calls: &'a [CallLayout],
    windows: &'a [WindowView<'a>],
    zeros: &'a [u32],
    owners: u32,
}

impl RoundContext<'_> {
    /// Owner `p`: its rows of every batch, in order, through its kernels.
    fn run_owner(&self, p: u32, owner: &mut Owner) -> Result<()> {
        for (b, batch) in self.batches.iter().enumerate() {
            let n = batch.num_rows();
            for (w, window) in self.windows.iter().enumerate() {
                if !self.calls.iter().enumerate().any(|(c, call)| {
                    call.window == w && owner.kernels.get(c).is_some_and(Option::is_some)
                }) {
                    continue;
                }
                // this owner's rows and key ids
                let (rows, num_keys) = match window.maps.get(b).copied().flatten() {
                    Some(part) => {
                        select_rows(part, p, &mut owner.rows, &mut owner.pids);
                        let keys = (window.num_keys + (self.owners - 1 - p) as usize)
                            / self.owners as usize;
                        (
                            Rows::Some {
                                rows: &owner.rows,
                                pids: &owner.pids,
                            },
                            keys,
                        )
                    }
                    // no PARTITION BY: one key, owned by owner 0
                    None if p == 0 => (
                        Rows::All {
                            pids: &self.zeros[..n],
                        },
                        1,
                    ),
                    None => continue,
                };
                for (c, call) in self.calls.iter().enumerate() {
                    if call.window != w {
                        continue;
                    }
                    let (Some(kernel), Some(Some(out))) = (
                        owner.kernels.get_mut(c).and_then(Option::as_mut),
                        self.shared.get(b).map(|s| s.get(c).copied().flatten()),
                    ) else {
                        continue;
                    };
                    let (args, order) = &self.inputs[b][c];
                    let input = KernelInput {
                        args,
                        order: order.as_ref(),
                        num_rows: n,
                    };
                    kernel.update(&input, &rows, num_keys, out)?;
                }
            }
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
                let (args, order) = &self.inputs[b][c];
                let input = KernelInput {
                    args,
                    order: order.as_ref(),
                    num_rows: n,
                };
                row[c] = Some(kernel.update(&input, ids, window.num_keys.max(1))?);
            }
            out.push(row);
        }
        Ok(out)
    }
}

/// The rows of a batch owner `p` holds and their key ids in it. Branch-free: every row
/// is written at the end of the lists, which only grow when the row is `p`'s (random
/// keys would mispredict a branch on every other row).
fn select_rows(maps: &KeyMaps, p: u32, rows: &mut Vec<u32>, pids: &mut Vec<u32>) {
    let n = maps.ids.len();
    rows.clear();
    pids.clear();
    rows.resize(n + 1, 0);
    pids.resize(n + 1, 0);
    let mut len = 0usize;
    for (i, &l) in maps.ids.iter().enumerate() {
        let l = l as usize;
        let (Some(&owner), Some(&pid)) = (maps.owner.get(l), maps.pid.get(l)) else {
            continue;
        };
        rows[len] = i as u32;
        pids[len] = pid;
        len += usize::from(owner == p);
    }
    rows.truncate(len);
    pids.truncate(len);
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
