//! Bounded per-key buffers: a FIFO ring (the last `n` rows of a partition) and a
//! double-ended queue (the monotonic deque of MIN / MAX).
//!
//! ```text
//!  Ring, capacity 4, after 6 pushes:   buf [r4 r5 r2 r3]   head ─▶ r2 (the oldest)
//!                                              ▲ the next push overwrites r2
//! ```
//! Both grow their buffer as rows arrive, up to the capacity and never past it, so a
//! partition that saw 3 rows holds 3 slots, not `n` (memory follows the rows held, not
//! the frame size times the number of keys). Each growth is added to a byte counter the
//! owning kernel keeps, so state size is known without visiting every key.

/// The initial number of slots a buffer reserves (it then doubles up to its capacity).
const FIRST_SLOTS: usize = 4;

/// A FIFO of at most `cap` values: pushing into a full ring evicts the oldest.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ring<T> {
    buf: Vec<T>,
    /// Index of the oldest value once the ring is full (0 before).
    head: usize,
}

impl<T: Copy> Ring<T> {
    /// Number of values held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    /// Appends `v`; when the ring already holds `cap` values, the oldest is evicted and
    /// returned. Heap bytes the ring allocates are added to `bytes`.
    #[inline(always)]
    pub(crate) fn push(&mut self, v: T, cap: usize, bytes: &mut usize) -> Option<T> {
        if self.buf.len() < cap {
            push_within(&mut self.buf, v, cap, bytes);
            None
        } else {
            // cap >= 1 and the ring is full, so head < buf.len()
            let slot = self.buf.get_mut(self.head)?;
            let old = std::mem::replace(slot, v);
            self.head += 1;
            if self.head == self.buf.len() {
                self.head = 0;
            }
            Some(old)
        }
    }

    /// Forgets every value (the buffer is kept).
    pub(crate) fn clear(&mut self) {
        self.buf.clear();
        self.head = 0;
    }

    /// The oldest value.
    #[inline(always)]
    pub(crate) fn front(&self) -> Option<T> {
        self.buf.get(self.head).copied()
    }

    /// The values, oldest first, as two slices.
    pub(crate) fn as_slices(&self) -> (&[T], &[T]) {
        let (a, b) = self.buf.split_at(self.head.min(self.buf.len()));
        (b, a)
    }

    /// Every value held, in no particular order, for rewriting in place.
    pub(crate) fn values_mut(&mut self) -> &mut [T] {
        &mut self.buf
    }

    /// Heap bytes held.
    pub(crate) fn size_bytes(&self) -> usize {
        self.buf.capacity() * std::mem::size_of::<T>()
    }

    /// Heap bytes held by all of `rings` (a kernel's keys, after a deal).
    pub(crate) fn total_bytes(rings: &[Ring<T>]) -> usize {
        rings.iter().map(Ring::size_bytes).sum()
    }
}

/// A double-ended queue of at most `cap` values, stored in one growable circular buffer.
#[derive(Debug, Clone, Default)]
pub(crate) struct Deque<T> {
    buf: Vec<T>,
    head: usize,
    len: usize,
}

impl<T: Copy + Default> Deque<T> {
    /// Whether the deque is empty.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of values held.
    #[inline(always)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The `k`-th value from the front.
    #[inline(always)]
    pub(crate) fn get(&self, k: usize) -> Option<T> {
        if k < self.len {
            self.buf.get(self.slot(k)).copied()
        } else {
            None
        }
    }

    /// The first `n` values (all when `n` is larger), front first.
    pub(crate) fn iter_first(&self, n: usize) -> impl Iterator<Item = T> + Clone + '_ {
        let n = n.min(self.len);
        let first = (self.buf.len() - self.head.min(self.buf.len())).min(n);
        let a = self
            .buf
            .get(self.head..self.head + first)
            .unwrap_or_default();
        let b = self.buf.get(..n - first).unwrap_or_default();
        a.iter().chain(b).copied()
    }

    /// Removes every value (the buffer is kept).
    pub(crate) fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }

    /// Removes the `k`-th value from the front, moving the values behind it forward by
    /// one: O(len − k).
    pub(crate) fn remove(&mut self, k: usize) {
        if k >= self.len {
            return;
        }
        for j in k..self.len - 1 {
            let (a, b) = (self.slot(j), self.slot(j + 1));
            self.buf.swap(a, b);
        }
        self.len -= 1;
    }

    /// Inserts `v` so that it becomes the `k`-th value from the front (`k ≤ len`),
    /// moving the values behind it back by one: O(len − k). As [`Deque::push_back`],
    /// a deque full at `cap` drops its first value.
    pub(crate) fn insert(&mut self, k: usize, v: T, cap: usize, bytes: &mut usize) {
        let k = k.min(self.len);
        let before = self.len;
        self.push_back(v, cap, bytes);
        // a full deque dropped its front: the insertion point moved forward by one
        let k = if self.len == before {
            k.saturating_sub(1)
        } else {
            k
        };
        let mut j = self.len - 1;
        while j > k {
            let (a, b) = (self.slot(j - 1), self.slot(j));
            self.buf.swap(a, b);
            j -= 1;
        }
    }

    #[inline(always)]
    fn slot(&self, k: usize) -> usize {
        let i = self.head + k;
        if i >= self.buf.len() {
            i - self.buf.len()
        } else {
            i
        }
    }

    /// The first value.
    #[inline(always)]
    pub(crate) fn front(&self) -> Option<T> {
        if self.len == 0 {
            None
        } else {
            self.buf.get(self.head).copied()
        }
    }

    /// The last value.
    #[inline(always)]
    pub(crate) fn back(&self) -> Option<T> {
        if self.len == 0 {
            None
        } else {
            self.buf.get(self.slot(self.len - 1)).copied()
        }
    }

    /// Removes the first value.
    #[inline(always)]
    pub(crate) fn pop_front(&mut self) {
        if self.len > 0 {
            self.head = self.slot(1);
            self.len -= 1;
        }
    }

    /// Removes values from the back while `f` holds for the last one.
    #[inline(always)]
    pub(crate) fn pop_back_while(&mut self, mut f: impl FnMut(&T) -> bool) {
        while self.len > 0 {
            match self.buf.get(self.slot(self.len - 1)) {
                Some(v) if f(v) => self.len -= 1,
                _ => break,
            }
        }
    }

    /// Removes the last value.
    #[inline(always)]
    pub(crate) fn pop_back(&mut self) {
        if self.len > 0 {
            self.len -= 1;
        }
    }

    /// Appends `v`. The caller keeps at most `cap` values (it evicts before pushing
    /// into a full deque); a push into a full deque drops the first value. Heap bytes
    /// the deque allocates are added to `bytes`.
    #[inline(always)]
    pub(crate) fn push_back(&mut self, v: T, cap: usize, bytes: &mut usize) {
        if self.len == self.buf.len() {
            if self.buf.len() >= cap {
                // full at capacity: make room by dropping the oldest
                self.pop_front();
            } else {
                let before = self.buf.capacity();
                self.grow(cap);
                *bytes += self.buf.capacity().saturating_sub(before) * std::mem::size_of::<T>();
            }
        }
        let at = self.slot(self.len);
        if let Some(s) = self.buf.get_mut(at) {
            *s = v;
            self.len += 1;
        }
    }

    /// Calls `f` on every value held, for rewriting in place.
    pub(crate) fn for_each_mut(&mut self, mut f: impl FnMut(&mut T)) {
        for k in 0..self.len {
            let at = self.slot(k);
            if let Some(v) = self.buf.get_mut(at) {
                f(v);
            }
        }
    }

    /// Doubles the buffer (up to `cap`), unrolling the circular contents to the start.
    #[cold]
    fn grow(&mut self, cap: usize) {
        let new_len = (self.buf.len() * 2).clamp(FIRST_SLOTS.min(cap), cap.max(1));
        let mut next = Vec::with_capacity(new_len);
        for k in 0..self.len {
            next.push(self.buf[self.slot(k)]);
        }
        next.resize(new_len, T::default());
        self.buf = next;
        self.head = 0;
    }

    /// Heap bytes held.
    #[cfg(test)]
    pub(crate) fn size_bytes(&self) -> usize {
        self.buf.capacity() * std::mem::size_of::<T>()
    }
}

/// Appends `v` to a buffer that never holds more than `cap` values (the caller keeps
/// `buf.len() < cap`), growing it as [`grow_exact`] does; heap bytes it allocates are
/// added to `bytes`.
#[inline(always)]
pub(crate) fn push_within<T>(buf: &mut Vec<T>, v: T, cap: usize, bytes: &mut usize) {
    if buf.len() == buf.capacity() {
        let before = buf.capacity();
        grow_exact(buf, cap);
        *bytes += (buf.capacity() - before) * std::mem::size_of::<T>();
    }
    buf.push(v);
}

/// Reserves room for the next values of a buffer that never holds more than `cap`:
/// doubling, but exactly up to `cap`.
#[cold]
fn grow_exact<T>(buf: &mut Vec<T>, cap: usize) {
    let cap = cap.max(1);
    let want = (buf.capacity() * 2).clamp(FIRST_SLOTS.min(cap), cap);
    buf.reserve_exact(want.saturating_sub(buf.len()));
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn ring_evicts_oldest_and_stays_within_capacity() {
        let mut r = Ring::default();
        let mut evicted = Vec::new();
        let mut bytes = 0;
        for v in 0..10 {
            if let Some(e) = r.push(v, 3, &mut bytes) {
                evicted.push(e);
            }
        }
        assert_eq!(evicted, [0, 1, 2, 3, 4, 5, 6]);
        assert_eq!(r.len(), 3);
        assert_eq!(r.front(), Some(7));
        let (a, b) = r.as_slices();
        assert_eq!([a, b].concat(), [7, 8, 9]);
        assert!(r.size_bytes() <= 4 * std::mem::size_of::<i32>());
        assert_eq!(bytes, r.size_bytes());
    }

    proptest! {
        #[test]
        fn ring_matches_vecdeque(cap in 1usize..20, values in prop::collection::vec(any::<i16>(), 0..200)) {
            let mut r = Ring::default();
            let mut model = VecDeque::new();
            let mut bytes = 0;
            for v in values {
                let want = if model.len() == cap { model.pop_front() } else { None };
                model.push_back(v);
                prop_assert_eq!(r.push(v, cap, &mut bytes), want);
                prop_assert_eq!(r.front(), model.front().copied());
                let (a, b) = r.as_slices();
                prop_assert_eq!([a, b].concat(), model.iter().copied().collect::<Vec<_>>());
            }
            prop_assert_eq!(bytes, r.size_bytes());
        }

        #[test]
        fn deque_inserts_and_reads_like_vecdeque(ops in prop::collection::vec((0u8..5, any::<i16>(), 0usize..40), 0..300)) {
            let mut d = Deque::default();
            let mut model: VecDeque<i16> = VecDeque::new();
            let mut bytes = 0;
            for (op, v, at) in ops {
                match op {
                    0 | 1 => {
                        let at = at.min(model.len());
                        model.insert(at, v);
                        d.insert(at, v, usize::MAX, &mut bytes);
                    }
                    2 => {
                        model.push_back(v);
                        d.push_back(v, usize::MAX, &mut bytes);
                    }
                    3 => {
                        model.pop_front();
                        d.pop_front();
                    }
                    4 if at % 3 == 0 => {
                        model.clear();
                        d.clear();
                    }
                    _ => {
                        if at < model.len() {
                            model.remove(at);
                        }
                        d.remove(at);
                    }
                }
                prop_assert_eq!(d.len(), model.len());
                prop_assert_eq!(d.get(at), model.get(at).copied());
                let n = at.min(model.len());
                prop_assert_eq!(
                    d.iter_first(at).collect::<Vec<_>>(),
                    model.iter().take(n).copied().collect::<Vec<_>>()
                );
            }
            prop_assert_eq!(bytes, d.size_bytes());
        }

        #[test]
        fn deque_matches_vecdeque(cap in 1usize..20, ops in prop::collection::vec((0u8..4, any::<i16>()), 0..300)) {
            let mut d = Deque::default();
            let mut model: VecDeque<i16> = VecDeque::new();
            let mut bytes = 0;
            for (op, v) in ops {
                match op {
                    0 | 1 => {
                        if model.len() == cap {
                            model.pop_front();
                        }
                        model.push_back(v);
                        d.push_back(v, cap, &mut bytes);
                    }
                    2 => {
                        model.pop_front();
                        d.pop_front();
                    }
                    _ => {
                        model.pop_back();
                        d.pop_back();
                    }
                }
                prop_assert_eq!(d.front(), model.front().copied());
                prop_assert_eq!(d.back(), model.back().copied());
                prop_assert_eq!(d.is_empty(), model.is_empty());
            }
            prop_assert!(d.size_bytes() <= cap.max(4) * 2);
            prop_assert_eq!(bytes, d.size_bytes());
        }
    }
}
