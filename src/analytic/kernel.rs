//! What every analytic kernel implements, and the rows it is handed.
//!
//! ```text
//!  batch b, rows owned by this kernel instance:  Rows::All { pids }   (one owner)
//!                                                Rows::Runs { runs }  (several)
//!  pids[i] / run.pid = the dense id of the row's partition key in this instance's
//!  state; a run is a range of consecutive rows of one key (keys often arrive in runs,
//!  so an owner's rows are a short list of ranges, not one entry per row)
//!
//!  FrameKernel::update(input, rows, num_keys, out)
//!     for each (row, slot, pid) in input order:  state[pid] ← push value, evict the oldest
//!                                                out[slot]  ← the frame's result
//! ```
//! A [`FrameKernel`] writes fixed-width results into an [`OutputColumn`] with one slot
//! per row it is given (all rows: slot = row; an owner's rows: slot = its k-th row), so
//! several instances (one per owner thread, each holding the state of its own keys) run
//! side by side. A [`SequentialKernel`] (variable-width values, pass-through) sees every
//! row of the batch in order and returns the whole column.

use arrow::array::ArrayRef;

use super::output::OutputColumn;
use crate::error::{Error, Result};

/// The input of one kernel call: the call's argument columns and the window's order
/// column, all of the batch's length.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KernelInput<'a> {
    /// Argument columns (evaluated by the pre-projection).
    pub args: &'a [ArrayRef],
    /// The ORDER BY column, if any.
    pub order: Option<&'a ArrayRef>,
    /// Rows in the batch.
    pub num_rows: usize,
}

impl KernelInput<'_> {
    /// Argument `i`, or an `Internal` error.
    pub(crate) fn arg(&self, i: usize) -> Result<&ArrayRef> {
        self.args
            .get(i)
            .ok_or_else(|| Error::internal(format!("analytic kernel without argument {i}")))
    }
}

/// Consecutive rows `start .. start + len` of a batch, all of key `pid`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Run {
    /// First row.
    pub start: u32,
    /// Number of rows.
    pub len: u32,
    /// Key id in the kernel's state.
    pub pid: u32,
}

/// A batch's rows are handed to the frame kernels as runs only while its runs average at
/// least this many rows; with shorter runs a list of runs costs more than per-row ids.
const RUN_MIN_ROWS: usize = 4;

/// Batches after one whose keys did not come in runs that are handed on as per-row ids
/// without trying runs again.
const RUN_RETRY_AFTER: u32 = 63;

/// Whether a window's rows go to its frame kernels as runs ([`Rows::Runs`] covering the
/// batch) or as per-row key ids ([`Rows::All`]). Runs save each kernel its own search for
/// where a key's run ends (a compare and a mispredicted branch per run), and they are a
/// twentieth of the ids' bytes on S1's keys, which matters when another core reads them.
/// The runs are found once per batch, 64 rows at a time from a mask of key changes.
/// Keys that change every few rows stay per-row ids: after such a batch the next
/// [`RUN_RETRY_AFTER`] batches do not try.
#[derive(Debug, Default, Clone)]
pub(crate) struct RunChoice {
    /// Batches still to go before trying runs again.
    skip: u32,
}

impl RunChoice {
    /// `ids` as runs into `runs` (cleared first), when the batch's keys come in runs;
    /// `false` (and `runs` unspecified) when they are to go as per-row ids.
    pub(crate) fn runs(&mut self, ids: &[u32], runs: &mut Vec<Run>) -> bool {
        if self.skip > 0 {
            self.skip -= 1;
            return false;
        }
        if key_runs(ids, ids.len() / RUN_MIN_ROWS, runs) {
            true
        } else {
            self.skip = RUN_RETRY_AFTER;
            false
        }
    }
}

/// `ids` as runs of one key each, covering every row in order, into `runs` (cleared
/// first); `false` once there would be more than `max` runs.
pub(crate) fn key_runs(ids: &[u32], max: usize, runs: &mut Vec<Run>) -> bool {
    crate::simd::avx512_or_baseline!((ids: &[u32], max: usize, runs: &mut Vec<Run>) -> bool => key_runs_loop(ids, max, runs))
}

#[inline(always)]
fn key_runs_loop(ids: &[u32], max: usize, runs: &mut Vec<Run>) -> bool {
    runs.clear();
    let Some(&first) = ids.first() else {
        return true;
    };
    let mut start = 0usize;
    let mut pid = first;
    // 64 rows at a time, a mask of where the key changes: bit j says that row
    // base + j + 1 starts a run (compared with the row before it)
    let next = ids.get(1..).unwrap_or_default();
    for (c, chunk) in next.chunks(64).enumerate() {
        let base = c * 64;
        let before = ids.get(base..).unwrap_or_default();
        let mut mask = 0u64;
        for (j, (&x, &p)) in chunk.iter().zip(before).enumerate() {
            mask |= u64::from(x != p) << j;
        }
        while mask != 0 {
            let i = base + mask.trailing_zeros() as usize + 1;
            mask &= mask - 1;
            if runs.len() == max {
                return false;
            }
            runs.push(Run {
                start: start as u32,
                len: (i - start) as u32,
                pid,
            });
            start = i;
            pid = ids.get(i).copied().unwrap_or(pid);
        }
    }
    if runs.len() == max {
        return false;
    }
    runs.push(Run {
        start: start as u32,
        len: (ids.len() - start) as u32,
        pid,
    });
    true
}

/// The rows of a batch one kernel instance processes, in input order.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Rows<'a> {
    /// Every row; `pids[i]` is row i's key id. Slot = row.
    All {
        /// Key id per row.
        pids: &'a [u32],
    },
    /// Some rows, as increasing runs; slots count the runs' rows in order.
    Runs {
        /// The runs.
        runs: &'a [Run],
    },
    /// Every row; row i's key id is `gid[ids[i]]` (a batch's local key ids and their
    /// key ids in the kernel's state). Slot = row.
    Mapped {
        /// Local key id per row.
        ids: &'a [u32],
        /// Key id per local id.
        gid: &'a [u32],
    },
}

impl Rows<'_> {
    /// Checks that every row index is below `num_rows`, that there is one output slot
    /// per row, and that every key id is below `num_keys`, so that kernels index rows,
    /// slots and state within bounds.
    ///
    /// # Errors
    /// `Internal` (a bug in the operator).
    pub(crate) fn check(&self, num_rows: usize, slots: usize, num_keys: usize) -> Result<()> {
        let ok = match self {
            Rows::All { pids } => {
                pids.len() == num_rows && slots == num_rows && below(pids, num_keys)
            }
            Rows::Runs { runs } => {
                let mut next = 0usize;
                let mut total = 0usize;
                let mut ok = true;
                for r in runs.iter() {
                    let start = r.start as usize;
                    ok &= start >= next && (r.pid as usize) < num_keys;
                    next = start + r.len as usize;
                    total += r.len as usize;
                }
                ok && next <= num_rows && total == slots
            }
            Rows::Mapped { ids, gid } => {
                ids.len() == num_rows
                    && slots == num_rows
                    && below(ids, gid.len())
                    && below(gid, num_keys)
            }
        };
        if ok {
            Ok(())
        } else {
            Err(Error::internal(
                "analytic kernel given rows, slots or keys out of range",
            ))
        }
    }
}

/// Whether every id is below `n` (a max over all of them, which vectorizes, where an
/// early-exit test would not).
fn below(ids: &[u32], n: usize) -> bool {
    ids.is_empty() || (ids.iter().fold(0u32, |m, &i| m.max(i)) as usize) < n
}

/// Calls `f(row, slot, pid)` for each row in order. Inlined into each kernel, so each
/// case is a plain counted loop.
#[inline(always)]
pub(crate) fn for_each_row(rows: &Rows<'_>, mut f: impl FnMut(usize, usize, usize)) {
    match rows {
        Rows::All { pids } => {
            for (i, &p) in pids.iter().enumerate() {
                f(i, i, p as usize);
            }
        }
        Rows::Runs { runs } => {
            let mut slot = 0usize;
            for r in runs.iter() {
                let (start, p) = (r.start as usize, r.pid as usize);
                for row in start..start + r.len as usize {
                    f(row, slot, p);
                    slot += 1;
                }
            }
        }
        Rows::Mapped { ids, gid } => {
            for (i, &l) in ids.iter().enumerate() {
                f(i, i, gid[l as usize] as usize);
            }
        }
    }
}

/// Calls `f(rows, first_slot, pid)` for each run of consecutive rows of one key, in
/// order (the slots of a run's rows follow on from `first_slot`). A kernel that keeps the
/// key's state in locals for the run, instead of loading and storing it per row, takes the
/// store-to-load round trip out of the dependency chain of a running sum. Keys that change
/// on every row make runs of one row.
#[inline(always)]
pub(crate) fn for_each_run(
    rows: &Rows<'_>,
    mut f: impl FnMut(std::ops::Range<usize>, usize, usize),
) {
    match rows {
        Rows::All { pids } => {
            let n = pids.len();
            let mut i = 0usize;
            while let Some(&p) = pids.get(i) {
                let mut end = i + 1;
                while end < n && pids[end] == p {
                    end += 1;
                }
                f(i..end, i, p as usize);
                i = end;
            }
        }
        Rows::Runs { runs } => {
            let mut slot = 0usize;
            for r in runs.iter() {
                let start = r.start as usize;
                f(start..start + r.len as usize, slot, r.pid as usize);
                slot += r.len as usize;
            }
        }
        Rows::Mapped { ids, gid } => {
            let n = ids.len();
            let mut i = 0usize;
            while let Some(&l) = ids.get(i) {
                let mut end = i + 1;
                while end < n && ids[end] == l {
                    end += 1;
                }
                f(i..end, i, gid[l as usize] as usize);
                i = end;
            }
        }
    }
}

/// An analytic function with fixed-width results, over the keys of one owner.
pub(crate) trait FrameKernel: Send {
    /// Processes `rows` of one batch, in order, writing each row's result to its slot of
    /// `out`. Every key id is below `num_keys`.
    ///
    /// # Errors
    /// `Execution` for data errors (overflow in an exact SUM); `Internal` for argument
    /// types the kernel was not made for.
    fn update(
        &mut self,
        input: &KernelInput<'_>,
        rows: &Rows<'_>,
        num_keys: usize,
        out: &mut OutputColumn,
    ) -> Result<()>;

    /// Bytes of state held.
    fn size_bytes(&self) -> usize;

    /// A copy of the kernel and its state, for a thread that takes up the stream further
    /// on (batch-parallel evaluation), or `None` when a key's state depends on more than
    /// a count of its rows and its last [`FrameKernel::history_rows`] rows. A fork is
    /// brought to the state of a later point of the stream by [`FrameKernel::skip`] and a
    /// replay of each key's last rows before that point.
    fn fork(&self) -> Option<Box<dyn FrameKernel>> {
        None
    }

    /// How many of a key's last rows a fork must be shown again to hold the key's exact
    /// state (the frame's rows; 0 when a count of the rows is all it keeps).
    fn history_rows(&self) -> u64 {
        0
    }

    /// Key `pid` advances by `rows` rows (`rows > 0`) that the kernel is not shown; they
    /// are followed by a replay of at least [`FrameKernel::history_rows`] rows of the key,
    /// so what they held may be forgotten: only their count matters. Called on forks only.
    fn skip(&mut self, pid: usize, rows: u64) {
        let _ = (pid, rows);
    }

    /// Deals the kernel's keys to `owners` new kernels of its kind (key `k` becomes key
    /// `k / owners` of kernel `k % owners`, the split by key), leaving this one empty;
    /// `None` for kernels that cannot fork (they are never split by batch, so never
    /// dealt).
    fn deal(&mut self, owners: usize) -> Option<Vec<Box<dyn FrameKernel>>> {
        let _ = owners;
        None
    }
}

/// Deals per-key state to `owners` vectors: key `k` becomes key `k / owners` of vector
/// `k % owners`.
pub(crate) fn deal_keys<T>(keys: Vec<T>, owners: usize) -> Vec<Vec<T>> {
    let owners = owners.max(1);
    let mut out: Vec<Vec<T>> = (0..owners)
        .map(|_| Vec::with_capacity(keys.len() / owners + 1))
        .collect();
    for (k, state) in keys.into_iter().enumerate() {
        if let Some(o) = out.get_mut(k % owners) {
            o.push(state);
        }
    }
    out
}

/// An analytic function that sees every row of each batch, in order, and returns the
/// whole result column.
pub(crate) trait SequentialKernel: Send {
    /// Processes one batch; `gids[i]` is row i's key id, below `num_keys`.
    ///
    /// # Errors
    /// As [`FrameKernel::update`].
    fn update(
        &mut self,
        input: &KernelInput<'_>,
        gids: &[u32],
        num_keys: usize,
    ) -> Result<ArrayRef>;

    /// Bytes of state held.
    fn size_bytes(&self) -> usize;
}

/// A kernel of either kind.
pub(crate) enum Kernel {
    /// One instance per owner thread; results written in place.
    Frame(Box<dyn FrameKernel>),
    /// One instance; whole columns.
    Sequential(Box<dyn SequentialKernel>),
}

impl std::fmt::Debug for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Kernel::Frame(_) => f.write_str("Kernel::Frame"),
            Kernel::Sequential(_) => f.write_str("Kernel::Sequential"),
        }
    }
}

/// Grows a per-key state vector to `n` entries.
#[inline]
pub(crate) fn grow<T: Clone + Default>(v: &mut Vec<T>, n: usize) {
    if v.len() < n {
        v.resize(n, T::default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The runs of `ids`, one row at a time.
    fn reference_runs(ids: &[u32]) -> Vec<Run> {
        let mut runs: Vec<Run> = Vec::new();
        for (i, &id) in ids.iter().enumerate() {
            match runs.last_mut() {
                Some(r) if r.pid == id => r.len += 1,
                _ => runs.push(Run {
                    start: i as u32,
                    len: 1,
                    pid: id,
                }),
            }
        }
        runs
    }

    proptest! {
        /// Runs of random lengths (1 to 150 rows, so that runs cross the 64-row masks
        /// and end on their edges) over a few keys, batches of any length: the same runs
        /// as one row at a time, or `false` exactly when there are more than `max`.
        #[test]
        fn key_runs_are_the_runs_one_row_at_a_time(
            runs in proptest::collection::vec((1usize..150, 0u32..4), 0..60),
            max in 0usize..80,
        ) {
            let ids: Vec<u32> = runs
                .iter()
                .flat_map(|&(len, key)| std::iter::repeat_n(key, len))
                .collect();
            let want = reference_runs(&ids);
            let mut got = vec![Run { start: 9, len: 9, pid: 9 }];
            let fits = key_runs(&ids, max, &mut got);
            prop_assert_eq!(fits, want.len() <= max);
            if fits {
                prop_assert_eq!(got, want);
            }
        }
    }

    /// Keys that change every row go as ids, and runs are not tried again for
    /// `RUN_RETRY_AFTER` batches; then keys in runs go as runs again.
    #[test]
    fn a_batch_without_runs_turns_runs_off_for_a_while() {
        let dense: Vec<u32> = (0..1000).map(|i| i % 7).collect();
        let runs_of_20: Vec<u32> = (0..1000).map(|i| (i / 20) % 7).collect();
        let mut choice = RunChoice::default();
        let mut runs = Vec::new();
        assert!(choice.runs(&runs_of_20, &mut runs));
        assert_eq!(runs, reference_runs(&runs_of_20));
        assert!(!choice.runs(&dense, &mut runs));
        for b in 0..RUN_RETRY_AFTER {
            assert!(!choice.runs(&runs_of_20, &mut runs), "batch {b} after");
        }
        assert!(choice.runs(&runs_of_20, &mut runs));
        assert_eq!(runs, reference_runs(&runs_of_20));
        // runs of 4 rows on average go as runs, of fewer as ids
        let fours: Vec<u32> = (0..1000).map(|i| (i / 4) % 7).collect();
        assert!(RunChoice::default().runs(&fours, &mut runs));
        let threes: Vec<u32> = (0..999).map(|i| (i / 3) % 7).collect();
        assert!(!RunChoice::default().runs(&threes, &mut runs));
    }

    fn message(r: Result<()>) -> String {
        match r {
            Ok(()) => "ok".to_string(),
            Err(e) => e.to_string(),
        }
    }

    /// Every way a batch's rows can misfit its kernel call is the internal error naming
    /// it, never an index past a slice; rows that fit pass.
    #[test]
    fn rows_that_misfit_the_batch_or_the_keys_are_internal_errors() {
        let misfit = "analytic kernel given rows, slots or keys out of range";
        let (ids, gid) = ([0u32, 1, 1, 0], [4u32, 2]);
        let mapped = Rows::Mapped {
            ids: &ids,
            gid: &gid,
        };
        assert_eq!(message(mapped.check(4, 4, 5)), "ok");
        for (rows, slots, keys, why) in [
            (3, 4, 5, "more ids than rows"),
            (4, 3, 5, "fewer slots than rows"),
            (4, 4, 4, "a key id past the keys"),
        ] {
            let got = message(mapped.check(rows, slots, keys));
            assert!(got.contains(misfit), "{why}: {got}");
        }
        let stray = [0u32, 2, 1, 0];
        let got = message(
            Rows::Mapped {
                ids: &stray,
                gid: &gid,
            }
            .check(4, 4, 5),
        );
        assert!(got.contains(misfit), "a local id without a key id: {got}");
        let pids = [0u32, 3, 1];
        assert_eq!(message(Rows::All { pids: &pids }.check(3, 3, 4)), "ok");
        let got = message(Rows::All { pids: &pids }.check(3, 3, 3));
        assert!(got.contains(misfit), "a key id past the keys: {got}");
    }
}
