//! The ends of open sessions, taken out as the watermark passes them: a radix heap.
//!
//! The watermark only moves forward, and a session's end is only ever pushed above the
//! watermark, so the queue is monotone: nothing pushed is below what was already taken
//! out. A radix heap uses that. An entry sits in bucket `b` = the position of the
//! highest bit in which its key differs from `last` (the last key taken out); every key
//! in a lower bucket is smaller. Taking out the minimum empties the lowest bucket into
//! lower ones around its own minimum, so each entry moves a few times in its life,
//! through contiguous vectors, where a binary heap costs `log n` scattered accesses per
//! push and per pop (a binary heap here was 20 % of a run over 1 M open sessions, whose
//! ends are re-pushed each time the watermark reaches a stale one).

/// Keys are event times (`i64`), mapped to `u64` in order.
#[inline]
fn to_key(t: i64) -> u64 {
    (t as u64) ^ (1 << 63)
}

/// A monotone min-queue of `(end, slot)`.
#[derive(Debug)]
pub(super) struct EndQueue {
    /// The last key taken out; never above a watermark the queue was drained to.
    last: u64,
    buckets: Vec<Vec<(u64, u32)>>,
    /// Per bucket: its smallest key (valid when the bucket is not empty).
    mins: Vec<u64>,
}

impl Default for EndQueue {
    fn default() -> Self {
        EndQueue {
            last: 0,
            buckets: vec![Vec::new(); 65],
            mins: vec![u64::MAX; 65],
        }
    }
}

impl EndQueue {
    #[inline]
    fn bucket(&self, key: u64) -> usize {
        // keys at or below `last` (none are pushed in a monotone use) go to bucket 0,
        // which is taken out first
        if key <= self.last {
            0
        } else {
            64 - (key ^ self.last).leading_zeros() as usize
        }
    }

    /// Adds session `slot`, ending at `end`.
    #[inline]
    pub(super) fn push(&mut self, end: i64, slot: u32) {
        let key = to_key(end);
        let b = self.bucket(key);
        self.buckets[b].push((key, slot));
        self.mins[b] = self.mins[b].min(key);
    }

    /// Entries held.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.buckets.iter().map(Vec::len).sum()
    }

    /// Bytes held by the buckets.
    pub(super) fn size_bytes(&self) -> usize {
        self.buckets.iter().map(Vec::capacity).sum::<usize>() * 16
    }

    /// Takes out every entry with `end <= wm` into `out` as `(end, slot)`, in no
    /// particular order.
    pub(super) fn drain_to(&mut self, wm: i64, out: &mut Vec<(i64, u32)>) {
        let wm = to_key(wm);
        loop {
            if !self.buckets[0].is_empty() {
                // every key here is at or below `last`, which is at or below `wm`
                out.extend(
                    self.buckets[0]
                        .drain(..)
                        .map(|(k, s)| ((k ^ (1 << 63)) as i64, s)),
                );
                self.mins[0] = u64::MAX;
                if self.buckets[0].capacity() > 4096 {
                    self.buckets[0] = Vec::new();
                }
            }
            let Some(b) = (1..65).find(|&b| !self.buckets[b].is_empty()) else {
                return;
            };
            let min = self.mins[b];
            if min > wm {
                return;
            }
            // the bucket's minimum becomes `last`: its entries spread into lower buckets
            self.last = min;
            let entries = std::mem::take(&mut self.buckets[b]);
            self.mins[b] = u64::MAX;
            for &(k, s) in &entries {
                let nb = self.bucket(k);
                self.buckets[nb].push((k, s));
                self.mins[nb] = self.mins[nb].min(k);
            }
            // a small allocation is kept for later pushes into this bucket; a large one
            // is released, so the queue holds about what its entries need
            if entries.capacity() <= 4096 {
                let mut entries = entries;
                entries.clear();
                self.buckets[b] = entries;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Against a binary heap: pushes above the watermark, drains as it advances.
        #[test]
        fn drains_what_a_binary_heap_pops(
            steps in proptest::collection::vec(
                (proptest::collection::vec((0i64..1 << 40, 0u32..1000), 0..20), 0i64..1 << 38),
                1..40,
            ),
            base in -(1i64 << 50)..(1i64 << 50),
        ) {
            let mut q = EndQueue::default();
            let mut model = BinaryHeap::new();
            let mut wm = base;
            for (pushes, advance) in steps {
                for (d, slot) in pushes {
                    // monotone use: ends above the current watermark
                    let end = wm.saturating_add(1 + d);
                    q.push(end, slot);
                    model.push(Reverse((end, slot)));
                }
                wm = wm.saturating_add(advance);
                let mut got = Vec::new();
                q.drain_to(wm, &mut got);
                let mut want = Vec::new();
                while let Some(&Reverse(e)) = model.peek() {
                    if e.0 > wm {
                        break;
                    }
                    want.push(e);
                    model.pop();
                }
                got.sort_unstable();
                prop_assert_eq!(got, want);
                prop_assert_eq!(q.len(), model.len());
            }
            let mut got = Vec::new();
            q.drain_to(i64::MAX, &mut got);
            prop_assert_eq!(got.len(), model.len());
            prop_assert_eq!(q.len(), 0);
        }
    }

    #[test]
    fn extremes_and_keys_below_the_last_one_taken() {
        let mut q = EndQueue::default();
        q.push(i64::MAX, 1);
        q.push(i64::MIN, 2);
        q.push(0, 3);
        q.push(-5, 4);
        let mut out = Vec::new();
        q.drain_to(-1, &mut out);
        out.sort_unstable();
        assert_eq!(out, vec![(i64::MIN, 2), (-5, 4)]);
        // a key below the last one taken out still comes out at the next drain
        q.push(-10, 5);
        out.clear();
        q.drain_to(-1, &mut out);
        assert_eq!(out, vec![(-10, 5)]);
        out.clear();
        q.drain_to(i64::MAX, &mut out);
        out.sort_unstable();
        assert_eq!(out, vec![(0, 3), (i64::MAX, 1)]);
        assert_eq!(q.len(), 0);
    }
}
