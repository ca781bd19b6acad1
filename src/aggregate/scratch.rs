//! Per-thread pools of scratch vectors for the per-batch work of tables and
//! accumulators (per-column ids, packed keys, row hashes, ...).
//!
//! A scratch vector is as long as a batch (8192 rows: 32-128 KiB). Kept inside every
//! table, it would cost that much per table — and the executor holds one table per open
//! window and partition. Taken from a per-thread pool instead, it costs that much per
//! thread: [`take`] pops a vector (or makes one), [`give`] clears it and puts it back.
//! Nested users (a multi-column table and its column tables) simply hold different
//! vectors.

use std::cell::RefCell;

use super::hash_table::Key128;

/// Vectors kept per type and thread; more are dropped.
const POOL_SIZE: usize = 16;
/// Vectors larger than this (elements) are dropped instead of pooled, so one huge
/// batch does not pin its memory for the thread's lifetime.
const MAX_POOLED_LEN: usize = 1 << 20;

/// An element type with a per-thread pool.
pub(crate) trait Pooled: Sized + 'static {
    fn with_pool<R>(f: impl FnOnce(&mut Vec<Vec<Self>>) -> R) -> R;
}

macro_rules! pooled {
    ($($t:ty => $pool:ident),* $(,)?) => {$(
        thread_local! {
            static $pool: RefCell<Vec<Vec<$t>>> = const { RefCell::new(Vec::new()) };
        }
        impl Pooled for $t {
            fn with_pool<R>(f: impl FnOnce(&mut Vec<Vec<Self>>) -> R) -> R {
                $pool.with(|pool| f(&mut pool.borrow_mut()))
            }
        }
    )*};
}
pooled!(u32 => POOL_U32, u64 => POOL_U64, Key128 => POOL_KEY128);

/// An empty vector from this thread's pool (or a new one).
pub(crate) fn take<T: Pooled>() -> Vec<T> {
    T::with_pool(|pool| pool.pop()).unwrap_or_default()
}

/// Returns a vector to this thread's pool.
pub(crate) fn give<T: Pooled>(mut v: Vec<T>) {
    if v.capacity() == 0 || v.capacity() > MAX_POOLED_LEN {
        return;
    }
    v.clear();
    T::with_pool(|pool| {
        if pool.len() < POOL_SIZE {
            pool.push(v);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_come_back_cleared_and_nested_takes_differ() {
        let mut a: Vec<u32> = take();
        a.extend([1, 2, 3]);
        let ptr = a.as_ptr();
        give(a);
        let b: Vec<u32> = take();
        assert!(b.is_empty());
        assert_eq!(b.as_ptr(), ptr, "the pooled buffer is reused");
        let c: Vec<u32> = take();
        assert_ne!(c.as_ptr(), ptr);
        give(b);
        give(c);
        give(Vec::<u64>::with_capacity(MAX_POOLED_LEN + 1));
        assert!(take::<u64>().capacity() <= MAX_POOLED_LEN);
    }
}
