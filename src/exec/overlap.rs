//! Parallel work with an in-order sequential consumer that overlaps it.
//!
//! Stateful operators pre-aggregate each batch of a call into a partial state of its own
//! (parallel), then merge the partials into the query's state in input order
//! (sequential). With a fork/join the workers idle while the calling thread merges;
//! here the calling thread merges partial `i` as soon as it and every partial before it
//! are ready, while the workers go on with the later batches.
//!
//! ```text
//!  workers:  [work 0][work 2][work 4] …        (rayon pool, any order)
//!            [work 1][work 3][work 5] …
//!  caller:          [consume 0][consume 1][consume 2] …   (input order)
//! ```
//!
//! One channel message per item (a batch), never per row.

use std::sync::mpsc;

use rayon::ThreadPool;

/// Runs `work(i, &mut item)` for every item on `pool` and calls `consume(i, item,
/// result)` on the calling thread for every item, in item order, each as soon as the
/// items before it have been consumed and its own work is done.
///
/// `consume` is called exactly once per item even when some work failed, so the caller
/// can reset per-item state; it decides itself what a failure means.
pub fn run_ordered<I, R, W, C>(pool: &ThreadPool, items: Vec<I>, work: W, mut consume: C)
where
    I: Send,
    R: Send,
    W: Fn(usize, &mut I) -> R + Sync,
    C: FnMut(usize, I, R),
{
    let n = items.len();
    let (tx, rx) = mpsc::channel::<(usize, I, R)>();
    pool.in_place_scope(|scope| {
        let work = &work;
        for (i, mut item) in items.into_iter().enumerate() {
            let tx = tx.clone();
            scope.spawn(move |_| {
                let r = work(i, &mut item);
                // the receiver lives until every sender is gone: a send cannot fail
                let _ = tx.send((i, item, r));
            });
        }
        drop(tx);
        let mut ready: Vec<Option<(I, R)>> = (0..n).map(|_| None).collect();
        let mut next = 0;
        // ends when every task has sent (or unwound, dropping its sender)
        for (i, item, r) in rx {
            if let Some(slot) = ready.get_mut(i) {
                *slot = Some((item, r));
            }
            while let Some((item, r)) = ready.get_mut(next).and_then(Option::take) {
                consume(next, item, r);
                next += 1;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumes_in_order_whatever_the_finishing_order() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        for n in [0usize, 1, 2, 7, 64] {
            let items: Vec<u64> = (0..n as u64).collect();
            let mut seen = Vec::new();
            run_ordered(
                &pool,
                items,
                |i, item| {
                    // later items finish first
                    std::thread::sleep(std::time::Duration::from_micros(((n - i) * 50) as u64));
                    *item *= 10;
                    *item + 1
                },
                |i, item, r| seen.push((i, item, r)),
            );
            let expected: Vec<(usize, u64, u64)> = (0..n)
                .map(|i| (i, i as u64 * 10, i as u64 * 10 + 1))
                .collect();
            assert_eq!(seen, expected, "n = {n}");
        }
    }
}
