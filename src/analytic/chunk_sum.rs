//! A moving float sum over the last `n` rows of one key whose every result depends only
//! on the rows in its frame and the key's row count: the frame's sum is the suffix sum of
//! the previous chunk of `n` rows plus the prefix sum of the current chunk.
//!
//! ```text
//!  a key's rows:   … │ chunk k-1: v0 … vj v(j+1) … v(n-1) │ chunk k: w0 … wj │ …
//!  frame of wj:                      └── v(j+1) … v(n-1) ──┴── w0 … wj ──┘
//!  sum of it    =  suffix[j+1]     summed once, right to left, when chunk k-1 completed
//!                + prefix          the Neumaier sum of w0 … wj, carried row by row
//! ```
//! Chunks are aligned to the key's row count, so the result of a row is a function of its
//! frame's values and its row count mod `n` alone, whatever came before the frame: the
//! same bits whichever thread, batch split or partition count computes it (a running
//! sum that adds each arriving value and subtracts each leaving one carries the rounding
//! of every value that ever passed). That is what lets a thread take up a key's stream in
//! the middle ([`ChunkSum::skip`], then a replay of the key's last `n` rows) and reach the
//! exact state the key has there. Each value is added twice (into a prefix, then into a
//! suffix), O(1) per row whatever `n`. Infinities and NaN are summed apart, by IEEE rules,
//! so the compensation only ever sees finite values.

use super::ring::push_within;
use crate::aggregate::native::ToF64;

/// Neumaier's compensated sum of finite values.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Neumaier {
    sum: f64,
    comp: f64,
}

impl Neumaier {
    /// Adds `v`, keeping the low bits the addition loses in the compensation.
    #[inline(always)]
    pub(crate) fn add(&mut self, v: f64) {
        let t = self.sum + v;
        self.comp += if self.sum.abs() >= v.abs() {
            (self.sum - t) + v
        } else {
            (v - t) + self.sum
        };
        self.sum = t;
    }

    /// The sum; on overflow the (infinite) uncompensated sum.
    #[inline(always)]
    pub(crate) fn total(self) -> f64 {
        let r = self.sum + self.comp;
        if r.is_finite() { r } else { self.sum }
    }

    /// The sum with `v` added, leaving `self` as it is.
    #[inline(always)]
    fn plus(mut self, v: f64) -> f64 {
        self.add(v);
        self.total()
    }
}

/// The scalar part of a key's state, copied into locals for a run of the key's rows.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ChunkHead {
    /// Position of the key's next row in its chunk (its row count mod `n`).
    pos: usize,
    /// The current chunk's finite values so far, and its other values (IEEE sum, 0 when
    /// there are none).
    prefix: Neumaier,
    prefix_special: f64,
    /// Non-NULL values in the frame.
    pub(crate) count: u64,
}

/// One key's moving sum over frames of `n` rows.
#[derive(Debug, Clone, Default)]
pub(crate) struct ChunkSum<N> {
    /// By position in the chunk: the current chunk's values before `pos`, the previous
    /// chunk's from `pos` on (the frame's oldest rows). Grows to `n` as rows arrive.
    vals: Vec<(N, bool)>,
    /// `suffix[j]`: the previous chunk's values `j .. n` summed (infinite or NaN when they
    /// hold infinities or NaN); `n + 1` entries once a chunk has completed, else none.
    suffix: Vec<f64>,
    /// Copied out for a run of the key's rows, and back.
    pub(crate) head: ChunkHead,
}

impl<N: Copy + Default + ToF64> ChunkSum<N> {
    /// The key's next row: `v` (NULL unless `valid`) enters the frame of `n` rows, the
    /// row `n` back leaves it; returns the frame's sum (0 when it holds no value; the
    /// caller reads `head.count`). Heap bytes allocated are added to `bytes`.
    #[inline(always)]
    pub(crate) fn push(
        &mut self,
        head: &mut ChunkHead,
        v: N,
        valid: bool,
        n: usize,
        bytes: &mut usize,
    ) -> f64 {
        let pos = head.pos;
        match self.vals.get_mut(pos) {
            Some(slot) => {
                head.count -= u64::from(slot.1);
                *slot = (v, valid);
            }
            None => push_within(&mut self.vals, (v, valid), n, bytes),
        }
        head.count += u64::from(valid);
        if valid {
            let f = v.to_f64();
            if f.is_finite() {
                head.prefix.add(f);
            } else {
                head.prefix_special += f;
            }
        }
        let suffix = self.suffix.get(pos + 1).copied().unwrap_or(0.0);
        let total = if suffix.is_finite() && head.prefix_special == 0.0 {
            head.prefix.plus(suffix)
        } else {
            suffix + head.prefix_special + head.prefix.sum
        };
        if pos + 1 >= n {
            self.complete_chunk(head, n, bytes);
        } else {
            head.pos = pos + 1;
        }
        total
    }

    /// The chunk is full: its suffix sums, right to left, and a new chunk begins.
    fn complete_chunk(&mut self, head: &mut ChunkHead, n: usize, bytes: &mut usize) {
        if self.suffix.len() != n + 1 {
            let before = self.suffix.capacity();
            self.suffix.clear();
            self.suffix.resize(n + 1, 0.0);
            *bytes += self.suffix.capacity().saturating_sub(before) * 8;
        }
        if let (Some(suffix), Some(vals)) = (self.suffix.get_mut(..n), self.vals.get(..n)) {
            let mut finite = Neumaier::default();
            let mut special = 0.0f64;
            for (s, &(v, valid)) in suffix.iter_mut().zip(vals).rev() {
                if valid {
                    let f = v.to_f64();
                    if f.is_finite() {
                        finite.add(f);
                    } else {
                        special += f;
                    }
                }
                *s = if special == 0.0 {
                    finite.total()
                } else {
                    special
                };
            }
        }
        head.pos = 0;
        head.prefix = Neumaier::default();
        head.prefix_special = 0.0;
    }

    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.vals.capacity() * std::mem::size_of::<(N, bool)>() + self.suffix.capacity() * 8
    }

    /// The key advances by `rows` rows it is not shown, which a replay of at least `n` of
    /// its rows follows: what the frame held is forgotten (every slot is overwritten by
    /// the replay), the position in the chunk is kept right.
    pub(crate) fn skip(&mut self, rows: u64, n: usize, bytes: &mut usize) {
        let n = n.max(1);
        let before = self.vals.capacity();
        self.vals.clear();
        self.vals.resize(n, (N::default(), false));
        *bytes += self.vals.capacity().saturating_sub(before) * std::mem::size_of::<(N, bool)>();
        self.suffix.clear();
        let pos = (self.head.pos as u64 % n as u64 + rows % n as u64) % n as u64;
        self.head = ChunkHead {
            pos: pos as usize,
            ..ChunkHead::default()
        };
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Every row's frame sum from scratch: finite values in one exact-ish pass (values
    /// are small multiples of 1/8, so any order sums them exactly), specials by IEEE.
    fn model(values: &[Option<f64>], n: usize) -> Vec<(f64, u64)> {
        (0..values.len())
            .map(|i| {
                let frame = &values[(i + 1).saturating_sub(n)..=i];
                let sum: f64 = frame.iter().flatten().sum();
                (sum, frame.iter().flatten().count() as u64)
            })
            .collect()
    }

    fn value() -> impl Strategy<Value = Option<f64>> {
        prop_oneof![
            8 => (-1000i32..1000).prop_map(|v| Some(f64::from(v) / 8.0)),
            1 => Just(None),
            1 => prop_oneof![Just(f64::INFINITY), Just(f64::NEG_INFINITY), Just(f64::NAN)]
                .prop_map(Some),
        ]
    }

    fn same(a: f64, b: f64) -> bool {
        a == b || (a.is_nan() && b.is_nan())
    }

    fn run(values: &[Option<f64>], n: usize, key: &mut ChunkSum<f64>) -> Vec<(f64, u64)> {
        let mut bytes = 0;
        let mut head = key.head;
        let out = values
            .iter()
            .map(|v| {
                let s = key.push(&mut head, v.unwrap_or(0.0), v.is_some(), n, &mut bytes);
                (s, head.count)
            })
            .collect();
        key.head = head;
        out
    }

    proptest! {
        /// Every row's sum and count match a from-scratch model of its frame.
        #[test]
        fn frame_sums_match_the_model(
            values in proptest::collection::vec(value(), 0..300),
            n in 1usize..40,
        ) {
            let got = run(&values, n, &mut ChunkSum::default());
            for (i, (g, w)) in got.iter().zip(model(&values, n)).enumerate() {
                prop_assert!(same(g.0, w.0) && g.1 == w.1, "row {i}: {g:?} against {w:?}");
            }
        }

        /// A key taken up in the middle (its state at an earlier row, then a skip of the
        /// rows up to its last `n` or more, then a replay of those) gives the same bits
        /// from then on as the key that saw every row.
        #[test]
        fn a_skipped_and_replayed_key_gives_the_same_bits(
            values in proptest::collection::vec(
                prop_oneof![9 => (-1e6f64..1e6).prop_map(Some), 1 => Just(None)], 1..300),
            n in 1usize..40,
            cut in 0usize..300,
            extra in 0usize..40,
            seen in 0usize..300,
        ) {
            let cut = cut % values.len();
            let all = run(&values, n, &mut ChunkSum::default());
            let replay = (n + extra).min(cut);
            let seen = seen % (cut - replay + 1);
            let mut fork = ChunkSum::default();
            run(&values[..seen], n, &mut fork);
            let skipped = cut - replay - seen;
            if skipped > 0 {
                let mut bytes = 0;
                fork.skip(skipped as u64, n, &mut bytes);
            }
            run(&values[cut - replay..cut], n, &mut fork);
            let tail = run(&values[cut..], n, &mut fork);
            for (i, (g, w)) in tail.iter().zip(&all[cut..]).enumerate() {
                prop_assert!(
                    g.0.to_bits() == w.0.to_bits() && g.1 == w.1,
                    "row {}: {g:?} against {w:?}", cut + i
                );
            }
        }
    }

    #[test]
    fn a_value_far_larger_than_the_rest_leaves_no_rounding_behind() {
        // 1e17 in a 4-row frame swallows the small values' bits; once it left the
        // frame, the sums must be exact again (a running add/subtract keeps the error)
        let mut values = vec![Some(0.125); 20];
        values[5] = Some(1e17);
        let got = run(&values, 4, &mut ChunkSum::default());
        for (i, (s, _)) in got.iter().enumerate().skip(9) {
            assert_eq!(*s, 0.5, "row {i}");
        }
    }
}
