//! The columnar accumulator trait, and the pieces every accumulator shares: argument and
//! length checks, the row selection (argument validity AND the FILTER mask), and a loop
//! over the selected rows.
//!
//! ```text
//!  values[0] validity ─┐
//!                      ├─ AND ─▶ selection bitmap (None: every row) ─┐
//!  FILTER (NULL=false) ┘                                             ├─▶ typed loop:
//!  group_ids: [u32; rows] ───────────────────────────────────────────┘   state[g] ⊕= v
//! ```
//! When nothing is NULL and there is no FILTER (the common case), the selection is `None`
//! and the accumulators run a plain zip over `(group id, value)` slices.

use std::any::Any;

use arrow::array::{Array, ArrayRef, BooleanArray};
use arrow::buffer::{BooleanBuffer, NullBuffer};

use crate::error::{Error, Result};

/// State for ALL groups of one aggregate, as vectors indexed by group id.
pub trait GroupsAccumulator: Send {
    /// Folds `values` (the aggregate's argument columns, already evaluated; empty for
    /// `COUNT(*)`) into the groups `group_ids[i]`, for rows where `filter` (the
    /// `FILTER (WHERE ...)` mask, NULL = false) is true or absent. `total_groups` is the
    /// number of groups after this batch (state grows to it).
    ///
    /// # Errors
    /// `Execution` on overflow (exact sums); `Internal` if the columns do not match the
    /// types the accumulator was created for, or lengths differ.
    fn update(
        &mut self,
        values: &[ArrayRef],
        group_ids: &[u32],
        filter: Option<&BooleanArray>,
        total_groups: usize,
    ) -> Result<()>;

    /// Current results of groups `ids` (in that order), without consuming state (EMIT
    /// CHANGES reads the same groups repeatedly).
    ///
    /// # Errors
    /// `Execution` if a result does not fit its type (a sum past `DECIMAL(38)`);
    /// `Internal` for an id past the state.
    fn evaluate(&self, ids: &[u32]) -> Result<ArrayRef>;

    /// Merges another accumulator's state for the same aggregate: group `other_ids[i]` of
    /// `other` into group `ids[i]` of `self` (sliding-window panes). `other`'s rows count
    /// as arriving after `self`'s (FIRST_VALUE / LAST_VALUE ties).
    ///
    /// # Errors
    /// `Internal` if `other` is a different kind of accumulator; `Execution` on overflow.
    fn merge(
        &mut self,
        other: &dyn GroupsAccumulator,
        other_ids: &[u32],
        ids: &[u32],
        total_groups: usize,
    ) -> Result<()>;

    /// [`merge`](Self::merge) where the pairs are aligned ranges: `other`'s groups
    /// `0..n` into `self`'s groups `dst..dst + n` (a window's panes folded over the same
    /// keys). Accumulators with a contiguous loop override it; the default merges through
    /// the explicit id lists, which `ranges` also carries.
    ///
    /// # Errors
    /// As [`merge`](Self::merge).
    fn merge_aligned(
        &mut self,
        other: &dyn GroupsAccumulator,
        ranges: AlignedMerge<'_>,
        total_groups: usize,
    ) -> Result<()> {
        self.merge(other, ranges.other_ids, ranges.ids, total_groups)
    }

    /// Bytes of state (for metrics and the memory limit).
    fn size_bytes(&self) -> usize;

    /// `self` as `Any`, for [`merge`](Self::merge) to downcast `other`.
    fn as_any(&self) -> &dyn Any;

    /// Drops all state (all groups). Small allocations are kept for reuse, large ones
    /// released (as [`GroupValues::clear`](crate::aggregate::GroupValues::clear)).
    fn clear(&mut self);
}

/// Checks the argument count and every length against `group_ids`.
pub(crate) fn check_update(
    values: &[ArrayRef],
    args: usize,
    group_ids: &[u32],
    filter: Option<&BooleanArray>,
) -> Result<()> {
    if values.len() != args {
        return Err(Error::internal(format!(
            "aggregate given {} argument columns, expects {args}",
            values.len()
        )));
    }
    let rows = group_ids.len();
    if values.iter().any(|v| v.len() != rows) || filter.is_some_and(|f| f.len() != rows) {
        return Err(Error::internal(
            "aggregate argument, filter and group-id lengths differ",
        ));
    }
    Ok(())
}

/// The rows an update folds in: valid in `validity` and true in `filter` (NULL = false);
/// `None` when that is every row.
pub(crate) fn selected_rows(
    validity: Option<&NullBuffer>,
    filter: Option<&BooleanArray>,
) -> Option<BooleanBuffer> {
    let validity = validity
        .filter(|n| n.null_count() > 0)
        .map(|n| n.inner().clone());
    let filter = filter.map(|f| match f.nulls().filter(|n| n.null_count() > 0) {
        Some(nulls) => f.values() & nulls.inner(),
        None => f.values().clone(),
    });
    let selection = match (validity, filter) {
        (None, None) => return None,
        (Some(v), None) => v,
        (None, Some(f)) => f,
        (Some(v), Some(f)) => &v & &f,
    };
    (selection.count_set_bits() < selection.len()).then_some(selection)
}

/// Calls `f(i)` for every set bit `i` of `selection`, a 64-row word at a time (a full
/// word runs a plain counted loop).
#[inline(always)]
pub(crate) fn for_each_selected(selection: &BooleanBuffer, mut f: impl FnMut(usize)) {
    let chunks = selection.bit_chunks();
    let mut base = 0;
    for mut word in chunks.iter() {
        if word == u64::MAX {
            for i in base..base + 64 {
                f(i);
            }
        } else {
            while word != 0 {
                f(base + word.trailing_zeros() as usize);
                word &= word - 1;
            }
        }
        base += 64;
    }
    let mut word = chunks.remainder_bits();
    while word != 0 {
        f(base + word.trailing_zeros() as usize);
        word &= word - 1;
    }
}

/// Runs `f(i)` for every selected row: all of `0..rows`, or the set bits of `selection`.
#[inline(always)]
pub(crate) fn for_each_row(
    rows: usize,
    selection: Option<&BooleanBuffer>,
    mut f: impl FnMut(usize),
) {
    match selection {
        None => (0..rows).for_each(f),
        Some(s) => for_each_selected(s, &mut f),
    }
}

/// `other` as the accumulator type `A`, or an `Internal` error.
pub(crate) fn downcast_other<A: 'static>(other: &dyn GroupsAccumulator) -> Result<&A> {
    other.as_any().downcast_ref::<A>().ok_or_else(|| {
        Error::internal(format!(
            "cannot merge a different accumulator into {}",
            std::any::type_name::<A>()
        ))
    })
}

/// The pairs of an aligned merge: `other`'s groups `0..n` into `dst..dst + n`, with the
/// same pairs as id lists (`other_ids = 0..n`, `ids = dst..dst + n`).
#[derive(Debug, Clone, Copy)]
pub struct AlignedMerge<'a> {
    dst: usize,
    other_ids: &'a [u32],
    ids: &'a [u32],
}

impl<'a> AlignedMerge<'a> {
    /// The ranges `0..n` → `dst..dst + n` given as their id lists, or `Internal` if the
    /// lists are not those ranges (checked at the ends; fully in debug builds).
    ///
    /// # Errors
    /// `Internal` if the lists are not aligned ranges.
    pub fn new(other_ids: &'a [u32], ids: &'a [u32]) -> Result<AlignedMerge<'a>> {
        let n = ids.len();
        let dst = ids.first().map_or(0, |&d| d as usize);
        let aligned = other_ids.len() == n
            && (n == 0
                || (other_ids[0] == 0
                    && other_ids[n - 1] as usize == n - 1
                    && ids[n - 1] as usize == dst + n - 1));
        debug_assert!(
            !aligned
                || (other_ids.iter().enumerate().all(|(i, &o)| o as usize == i)
                    && ids.iter().enumerate().all(|(i, &g)| g as usize == dst + i))
        );
        if !aligned {
            return Err(Error::internal(
                "an aligned merge over id lists that are not ranges",
            ));
        }
        Ok(AlignedMerge {
            dst,
            other_ids,
            ids,
        })
    }

    /// Groups merged.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when no group is merged.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// `other` as an `A` (the accumulator merging it) and `self`'s range, after checking
    /// both ranges lie inside their states (`groups(other)` groups in `other`).
    ///
    /// # Errors
    /// `Internal` if `other` is another kind of accumulator or a range reaches past its
    /// state.
    pub(crate) fn target<'o, A: 'static>(
        &self,
        other: &'o dyn GroupsAccumulator,
        groups: impl Fn(&A) -> usize,
        total_groups: usize,
    ) -> Result<(&'o A, std::ops::Range<usize>)> {
        let other = downcast_other::<A>(other)?;
        let dst = self.checked(groups(other), total_groups)?;
        Ok((other, dst))
    }

    /// `self`'s range, after checking both ranges lie inside their states.
    ///
    /// # Errors
    /// `Internal` if a range reaches past its state.
    pub(crate) fn checked(
        &self,
        other_groups: usize,
        total_groups: usize,
    ) -> Result<std::ops::Range<usize>> {
        let end = self.dst + self.len();
        if self.len() > other_groups || end > total_groups {
            return Err(Error::internal(format!(
                "aligned merge of {} groups at {} past the states ({other_groups} and {total_groups} groups)",
                self.len(),
                self.dst
            )));
        }
        Ok(self.dst..end)
    }
}

/// Checks the id lists of a merge: same length, every id inside its state.
pub(crate) fn check_merge(
    other_ids: &[u32],
    other_groups: usize,
    ids: &[u32],
    total_groups: usize,
) -> Result<()> {
    if other_ids.len() != ids.len() {
        return Err(Error::internal("merge id lists of different lengths"));
    }
    crate::aggregate::group_values::check_ids(other_ids, other_groups)?;
    crate::aggregate::group_values::check_ids(ids, total_groups)
}

/// `Internal` unless every id is below `len`.
pub(crate) fn check_ids(ids: &[u32], len: usize) -> Result<()> {
    crate::aggregate::group_values::check_ids(ids, len)
}

/// Validity of the results of groups `ids`, from per-group "has a value" flags.
pub(crate) fn nulls_from_flags(ids: &[u32], has_value: &[bool]) -> Option<NullBuffer> {
    if ids.iter().all(|&id| has_value[id as usize]) {
        return None;
    }
    Some(NullBuffer::from_iter(
        ids.iter().map(|&id| has_value[id as usize]),
    ))
}

/// Vectors up to this many elements keep their allocation across `clear()`: a table
/// or accumulator reused batch after batch (as the executor's per-batch partial states
/// are) then allocates nothing, while one that once held millions of groups lets go.
pub(crate) const RETAIN_MAX: usize = 1 << 16;

/// Empties `v`, keeping its allocation if it is at most [`RETAIN_MAX`] elements.
pub(crate) fn reset<T>(v: &mut Vec<T>) {
    if v.capacity() > RETAIN_MAX {
        *v = Vec::new();
    } else {
        v.clear();
    }
}

/// Grows `v` to `n` entries of `fill` (never shrinks).
#[inline]
pub(crate) fn grow<T: Clone>(v: &mut Vec<T>, n: usize, fill: T) {
    if v.len() < n {
        v.resize(n, fill);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    //! Shared harness: random data, a row-at-a-time reference, batch splits, FILTER.

    use std::collections::BTreeMap;
    use std::sync::Arc;

    use arrow::array::{Array, ArrayRef, BooleanArray, Int64Array};

    use super::*;

    #[test]
    fn selection_combines_validity_and_filter() {
        let validity = NullBuffer::from(vec![true, false, true, true]);
        let filter = BooleanArray::from(vec![Some(true), Some(true), None, Some(false)]);
        let sel = selected_rows(Some(&validity), Some(&filter)).unwrap();
        assert_eq!(sel.iter().collect::<Vec<_>>(), [true, false, false, false]);
        assert!(selected_rows(None, Some(&BooleanArray::from(vec![true, true]))).is_none());
        assert!(selected_rows(Some(&NullBuffer::new_valid(3)), None).is_none());
    }

    #[test]
    fn for_each_selected_visits_set_bits_in_order() {
        let bits: Vec<bool> = (0..200).map(|i| i < 64 || i % 3 == 0).collect();
        let buffer = BooleanBuffer::from(bits.clone()).slice(3, 190);
        let mut seen = Vec::new();
        for_each_selected(&buffer, |i| seen.push(i));
        let expected: Vec<usize> = (0..190).filter(|&i| bits[i + 3]).collect();
        assert_eq!(seen, expected);
    }

    /// An aligned merge (`0..n` into `dst..dst + n`) gives what the general merge gives
    /// over the same pairs, for every accumulator with a range loop and one without.
    mod aligned_merge {
        use arrow::array::{Float64Array, Int64Array};
        use arrow::datatypes::DataType;
        use proptest::prelude::*;

        use super::*;
        use crate::aggregate::AggregateFunction as F;

        fn merged(
            func: &F,
            arg: &ArrayRef,
            (a_groups, b_groups): (&[u32], &[u32]),
            dst: u32,
            aligned: bool,
        ) -> ArrayRef {
            let args: Vec<ArrayRef> = if matches!(func, F::CountStar) {
                Vec::new()
            } else {
                vec![arg.clone()]
            };
            let types: Vec<DataType> = args.iter().map(|a| a.data_type().clone()).collect();
            let nb = b_groups.iter().max().map_or(0, |&g| g + 1);
            let na = a_groups.iter().max().map_or(0, |&g| g + 1);
            let total = na.max(dst + nb) as usize;
            let half = a_groups.len();
            let slice = |lo: usize, len: usize| -> Vec<ArrayRef> {
                args.iter().map(|c| c.slice(lo, len)).collect()
            };
            let mut a = func.create_accumulator(&types).expect("create");
            let mut b = func.create_accumulator(&types).expect("create");
            a.update(&slice(0, half), a_groups, None, na as usize)
                .expect("update a");
            b.update(&slice(half, b_groups.len()), b_groups, None, nb as usize)
                .expect("update b");
            let other_ids: Vec<u32> = (0..nb).collect();
            let ids: Vec<u32> = (dst..dst + nb).collect();
            if aligned {
                let ranges = AlignedMerge::new(&other_ids, &ids).expect("aligned");
                a.merge_aligned(b.as_ref(), ranges, total)
                    .expect("merge_aligned");
            } else {
                a.merge(b.as_ref(), &other_ids, &ids, total).expect("merge");
            }
            let all: Vec<u32> = (0..total as u32).collect();
            a.evaluate(&all).expect("evaluate")
        }

        fn functions() -> Vec<F> {
            vec![
                F::CountStar,
                F::Count,
                F::Sum,
                F::Avg,
                F::Min,
                F::Max,
                F::FirstValue,
                F::VarPop,
            ]
        }

        proptest! {
            #[test]
            fn matches_the_general_merge(
                rows in proptest::collection::vec(
                    (0u32..6, proptest::option::weighted(0.8, -1_000i64..1_000), any::<bool>()),
                    0..80,
                ),
                split in 0usize..80,
                dst in 0u32..8,
                big in any::<bool>(),
            ) {
                let split = split.min(rows.len());
                let groups: Vec<u32> = rows.iter().map(|r| r.0).collect();
                // near i64::MAX the exact sums carry past 64 bits
                let ints: ArrayRef = Arc::new(Int64Array::from(
                    rows.iter()
                        .map(|r| r.1.map(|v| if big { i64::MAX - v.abs() } else { v }))
                        .collect::<Vec<_>>(),
                ));
                let floats: ArrayRef = Arc::new(Float64Array::from(
                    rows.iter()
                        .map(|r| r.1.map(|v| if r.2 && v == 0 { -0.0 } else { v as f64 / 8.0 }))
                        .collect::<Vec<_>>(),
                ));
                for arg in [&ints, &floats] {
                    for func in functions() {
                        let parts = (&groups[..split], &groups[split..]);
                        let want = merged(&func, arg, parts, dst, false);
                        let got = merged(&func, arg, parts, dst, true);
                        prop_assert_eq!(
                            got.as_ref(), want.as_ref(),
                            "{:?} over {}", func, arg.data_type()
                        );
                        prop_assert_eq!(got.data_type(), want.data_type());
                    }
                }
            }
        }

        #[test]
        fn lists_that_are_not_ranges_or_reach_past_a_state_are_internal_errors() {
            assert!(AlignedMerge::new(&[0, 1], &[3, 4]).is_ok());
            assert!(AlignedMerge::new(&[1, 2], &[3, 4]).is_err());
            let err = AlignedMerge::new(&[0, 1], &[4, 3]).expect_err("not a range");
            assert!(err.to_string().contains("not ranges"), "{err}");
            assert!(AlignedMerge::new(&[0, 1], &[3, 5]).is_err());
            assert!(AlignedMerge::new(&[0], &[3, 4]).is_err());
            let arg: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 3]));
            let mut a = F::Sum
                .create_accumulator(&[DataType::Int64])
                .expect("create");
            let mut b = F::Sum
                .create_accumulator(&[DataType::Int64])
                .expect("create");
            a.update(std::slice::from_ref(&arg), &[0, 1, 2], None, 3)
                .expect("update");
            b.update(std::slice::from_ref(&arg), &[0, 1, 2], None, 3)
                .expect("update");
            let ranges = AlignedMerge::new(&[0, 1, 2], &[2, 3, 4]).expect("ranges");
            // the target range ends past the 4 groups the call declares
            let err = a
                .merge_aligned(b.as_ref(), ranges, 4)
                .expect_err("past the state");
            assert!(err.to_string().contains("past the states"), "{err}");
            let ranges = AlignedMerge::new(&[0, 1, 2, 3], &[0, 1, 2, 3]).expect("ranges");
            // the source holds 3 groups, not 4
            assert!(a.merge_aligned(b.as_ref(), ranges, 4).is_err());
        }
    }

    /// One test case: rows of (group, value) with NULLs and a filter, cut into batches.
    #[derive(Debug, Clone)]
    pub(crate) struct Case {
        pub groups: Vec<u32>,
        pub values: ArrayRef,
        pub filter: Option<BooleanArray>,
        pub cuts: Vec<usize>,
    }

    impl Case {
        pub(crate) fn total_groups(&self) -> usize {
            self.groups.iter().max().map_or(0, |&g| g as usize + 1)
        }

        /// The selected, non-NULL rows of every group `0..total_groups` (the reference
        /// model's input), as row indices.
        pub(crate) fn rows_by_group(&self) -> BTreeMap<u32, Vec<usize>> {
            let mut m: BTreeMap<u32, Vec<usize>> = (0..self.total_groups() as u32)
                .map(|g| (g, Vec::new()))
                .collect();
            for (i, &g) in self.groups.iter().enumerate() {
                let keep = self
                    .filter
                    .as_ref()
                    .is_none_or(|f| f.is_valid(i) && f.value(i));
                if keep && self.values.is_valid(i) {
                    m.entry(g).or_default().push(i);
                }
            }
            m
        }

        /// Feeds the case batch by batch into `acc` (with `extra` argument columns after
        /// the values) and returns the results for groups `0..total_groups`.
        pub(crate) fn run(&self, acc: &mut dyn GroupsAccumulator, extra: &[ArrayRef]) -> ArrayRef {
            self.feed(acc, extra, 0, self.groups.len());
            let ids: Vec<u32> = (0..self.total_groups() as u32).collect();
            acc.evaluate(&ids).expect("evaluate")
        }

        /// Feeds rows `from..to`, split at the case's cuts.
        pub(crate) fn feed(
            &self,
            acc: &mut dyn GroupsAccumulator,
            extra: &[ArrayRef],
            from: usize,
            to: usize,
        ) {
            let mut cuts: Vec<usize> = self
                .cuts
                .iter()
                .copied()
                .filter(|&c| c > from && c < to)
                .collect();
            cuts.insert(0, from);
            cuts.push(to);
            for w in cuts.windows(2) {
                let (lo, len) = (w[0], w[1] - w[0]);
                let mut cols = vec![self.values.slice(lo, len)];
                cols.extend(extra.iter().map(|e| e.slice(lo, len)));
                let filter = self.filter.as_ref().map(|f| f.slice(lo, len));
                // Groups seen so far (the executor passes the table's length).
                let total = self.groups[..w[1]]
                    .iter()
                    .max()
                    .map_or(0, |&g| g as usize + 1);
                acc.update(&cols, &self.groups[lo..w[1]], filter.as_ref(), total)
                    .expect("update");
            }
        }

        /// Runs the first half into `a`, the second half into `b` (with group ids renumbered
        /// in reverse), merges `b` into `a`, and returns `a`'s results.
        pub(crate) fn run_merged(
            &self,
            a: &mut dyn GroupsAccumulator,
            b: &mut dyn GroupsAccumulator,
            extra: &[ArrayRef],
        ) -> ArrayRef {
            let half = self.groups.len() / 2;
            let total = self.total_groups();
            self.feed(a, extra, 0, half);
            // b sees the second half under renumbered ids: g ↦ total - 1 - g.
            let flipped = Case {
                groups: self.groups.iter().map(|&g| total as u32 - 1 - g).collect(),
                ..self.clone()
            };
            flipped.feed(b, extra, half, self.groups.len());
            // Merge the groups b has (those of the second half).
            let b_groups = flipped.groups[half..].iter().max().map_or(0, |&g| g + 1);
            let (other_ids, ids): (Vec<u32>, Vec<u32>) =
                (0..b_groups).map(|og| (og, total as u32 - 1 - og)).unzip();
            a.merge(&*b, &other_ids, &ids, total).expect("merge");
            let all: Vec<u32> = (0..total as u32).collect();
            a.evaluate(&all).expect("evaluate")
        }
    }

    /// Random cases for a value generator: `gen(i, rng_value)` gives the value array.
    pub(crate) fn case_strategy(
        values: impl proptest::strategy::Strategy<Value = ArrayRef> + Clone,
    ) -> impl proptest::strategy::Strategy<Value = Case> {
        use proptest::prelude::*;
        values.prop_flat_map(|values| {
            let n = values.len();
            (
                Just(values),
                proptest::collection::vec(0u32..7, n),
                proptest::option::of(proptest::collection::vec(
                    proptest::option::weighted(0.9, any::<bool>()),
                    n,
                )),
                proptest::collection::vec(0..=n, 0..4),
            )
                .prop_map(|(values, groups, filter, mut cuts)| {
                    cuts.sort_unstable();
                    Case {
                        groups,
                        values,
                        filter: filter.map(BooleanArray::from),
                        cuts,
                    }
                })
        })
    }

    /// Random Int64 columns with NULLs.
    pub(crate) fn int64_values(
        range: std::ops::Range<i64>,
    ) -> impl proptest::strategy::Strategy<Value = ArrayRef> + Clone {
        use proptest::prelude::*;
        proptest::collection::vec(proptest::option::weighted(0.8, range), 0..120)
            .prop_map(|v| Arc::new(Int64Array::from(v)) as ArrayRef)
    }
}
