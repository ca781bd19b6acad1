//! Parallel work with an in-order sequential consumer that overlaps it.
//!
//! Stateful operators pre-aggregate each batch of a call into a partial state (parallel),
//! then merge the partials into the query's state in input order (sequential). A few
//! partial states are reused batch after batch, so memory does not grow with the call. With a fork/join the workers idle while the calling thread merges;
//! here partial `i` is merged as soon as it and every partial before it are ready, while
//! the other worker goes on with the later batches.
//!
//! The merges run on the workers themselves ("combining"): the worker that finishes an
//! item stores its result, and if no other worker is merging, merges every result that
//! is ready in order. No extra thread competes with the workers for the cores and no
//! thread is woken per item; the calling thread only waits for the call to end.
//!
//! ```text
//!  worker 0:  [work 0][merge 0][work 2][merge 1, 2] …   (input order of merges kept)
//!  worker 1:  [work 1      ][work 3][merge 3] …
//! ```
//!
//! Tasks are spawned FIFO (`in_place_scope_fifo`): a merge that frees a scratch state
//! spawns the next item, and a worker runs the items it spawned oldest first, so the
//! item the merges wait for is not left behind newer ones (with rayon's default LIFO
//! order it was: `velo bench -p 2` S3a/S3b ran 5–25 % longer).
//!
//! A few lock acquisitions per item (a batch), never per row.
//!
//! A [`PhaseClock`] adds up the time spent working items and consuming them, and the
//! wall time of the parallel calls, so that a query's metrics show how busy its workers
//! were (two clock reads and two relaxed adds per item).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::{Duration, Instant};

use rayon::ThreadPool;

/// Time spent in [`run_ordered`]: working items, consuming them, and inside calls run
/// on a pool. Shared by the operators of one query (through its `Workers`).
#[derive(Debug, Default)]
pub struct PhaseClock {
    work_ns: AtomicU64,
    consume_ns: AtomicU64,
    parallel_ns: AtomicU64,
    parallel_calls: AtomicU64,
}

/// A snapshot of a [`PhaseClock`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PhaseTimes {
    /// Summed over the items (and threads): working an item (pre-aggregation).
    pub work: Duration,
    /// Summed over the items: consuming an item (the in-order merge).
    pub consume: Duration,
    /// Wall time of the calls that ran on a pool.
    pub parallel: Duration,
    /// Calls that ran on a pool.
    pub parallel_calls: u64,
}

impl PhaseClock {
    /// The times so far.
    pub fn snapshot(&self) -> PhaseTimes {
        let d = |a: &AtomicU64| Duration::from_nanos(a.load(Ordering::Relaxed));
        PhaseTimes {
            work: d(&self.work_ns),
            consume: d(&self.consume_ns),
            parallel: d(&self.parallel_ns),
            parallel_calls: self.parallel_calls.load(Ordering::Relaxed),
        }
    }

    fn add(counter: &AtomicU64, since: Instant) {
        let ns = u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX);
        counter.fetch_add(ns, Ordering::Relaxed);
    }

    /// `work(i, s)`, timed.
    fn work<S, R>(&self, work: impl FnOnce(usize, &mut S) -> R, i: usize, s: &mut S) -> R {
        let t = Instant::now();
        let r = work(i, s);
        Self::add(&self.work_ns, t);
        r
    }

    /// `consume(i, s, r)`, timed.
    fn consume<S, R>(&self, consume: impl FnOnce(usize, &mut S, R), i: usize, s: &mut S, r: R) {
        let t = Instant::now();
        consume(i, s, r);
        Self::add(&self.consume_ns, t);
    }
}

impl PhaseTimes {
    /// The share of the workers' time inside parallel calls that was neither work nor
    /// consumption (waiting, waking, spinning), for `workers` threads; `None` before any
    /// parallel call. Sequential calls, when there were some, count as busy time outside
    /// the calls and can push the figure below zero; it is clamped at zero.
    pub fn idle_share(&self, workers: usize) -> Option<f64> {
        if self.parallel_calls == 0 || workers == 0 {
            return None;
        }
        let available = self.parallel.as_secs_f64() * workers as f64;
        if available <= 0.0 {
            return None;
        }
        let busy = (self.work + self.consume).as_secs_f64();
        Some((1.0 - busy / available).max(0.0))
    }
}

/// Results waiting for their turn, and the index of the next one to consume.
struct Ready<I, R> {
    slots: Vec<Option<(I, R)>>,
    next: usize,
}

impl<I, R> Ready<I, R> {
    /// Takes the next result if it is ready.
    fn take_next(&mut self) -> Option<(usize, I, R)> {
        let k = self.next;
        let (item, r) = self.slots.get_mut(k)?.take()?;
        self.next += 1;
        Some((k, item, r))
    }

    fn next_is_ready(&self) -> bool {
        self.slots.get(self.next).is_some_and(Option::is_some)
    }
}

/// Locks a mutex whose holder cannot leave it inconsistent (a panic while holding it
/// unwinds the whole call anyway).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Partial states to keep per worker for [`run_ordered_with`]: enough for every worker
/// to have an item in hand while another waits for its turn to be consumed. 2 measured
/// best: 3 was 3–5 % slower on S3a/S3b at two partitions (each partial state re-learns
/// the key ids of every new pane), 6 and 12 no faster (`BENCHMARKS.md`).
const SCRATCH_PER_WORKER: usize = 2;

/// How many scratch states to give [`run_ordered_with`] on `pool` (1 without a pool).
pub fn scratch_count(pool: Option<&ThreadPool>) -> usize {
    pool.map_or(1, |p| SCRATCH_PER_WORKER * p.current_num_threads())
}

/// Grows `scratch` to [`scratch_count`] states for `pool`, making the missing ones with
/// `make` (states are kept between calls and reused).
///
/// # Errors
/// As `make`.
pub fn fill_scratch<S, E>(
    pool: Option<&ThreadPool>,
    scratch: &mut Vec<S>,
    mut make: impl FnMut() -> Result<S, E>,
) -> Result<(), E> {
    while scratch.len() < scratch_count(pool) {
        scratch.push(make()?);
    }
    Ok(())
}

/// What every task of one [`run_ordered_with`] call refers to.
struct Shared<'s, S, R, W, C> {
    n: usize,
    clock: &'s PhaseClock,
    work: &'s W,
    ready: &'s Mutex<Ready<S, R>>,
    consumer: &'s Mutex<(C, Spawner<S>)>,
}

// Copied into each task: only references and a count (a derive would ask `S: Copy`, …).
impl<S, R, W, C> Clone for Shared<'_, S, R, W, C> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<S, R, W, C> Copy for Shared<'_, S, R, W, C> {}

/// Scratch states waiting to be handed out, and the next item without a task.
struct Spawner<S> {
    free: Vec<S>,
    next: usize,
}

/// Runs `work(i, &mut s)` for items `0..n` on `pool` and calls `consume(i, &mut s,
/// result)` for every item in item order, each as soon as the items before it have been
/// consumed and its own work is done; `consume` is called exactly once per item even when
/// some work failed, so the caller can reset per-item state (it decides itself what a
/// failure means). The items share a few reusable scratch states: at
/// most `scratch.len()` items are in flight, item `i` is worked on with a free scratch
/// (`work(i, &mut s)`), and once it is consumed (`consume(i, &mut s, result)`, in item
/// order, on the workers, one call at a time) its scratch goes to the next item. Memory
/// is therefore bounded by the scratch states, not by `n`. The scratch states are back
/// in `scratch` when the call returns. With no scratch state nothing runs.
pub fn run_ordered_with<S, R, W, C>(
    pool: &ThreadPool,
    clock: &PhaseClock,
    n: usize,
    scratch: &mut Vec<S>,
    work: W,
    consume: C,
) where
    S: Send,
    R: Send,
    W: Fn(usize, &mut S) -> R + Sync,
    C: FnMut(usize, &mut S, R) + Send,
{
    if scratch.is_empty() {
        return;
    }
    let call_start = Instant::now();
    let ready = Mutex::new(Ready {
        slots: (0..n).map(|_| None).collect(),
        next: 0,
    });
    // The first items are claimed, and the spare scratch states set aside, before any
    // task runs: the calling thread never takes the consumer lock, so a worker that
    // finds it taken knows another worker is merging and will see its result.
    let mut initial: Vec<S> = std::mem::take(scratch);
    let first = initial.len().min(n);
    let spare = initial.split_off(first);
    let consumer = Mutex::new((
        consume,
        Spawner {
            free: spare,
            next: first,
        },
    ));
    let shared = Shared {
        n,
        clock,
        work: &work,
        ready: &ready,
        consumer: &consumer,
    };
    pool.in_place_scope_fifo(|scope| {
        // item `i` with scratch `s`: work, store, then consume whatever is ready in order
        // and start the next items on the scratches this frees
        fn task<'s, S, R, W, C>(
            scope: &rayon::ScopeFifo<'s>,
            i: usize,
            mut s: S,
            sh: Shared<'s, S, R, W, C>,
        ) where
            S: Send + 's,
            R: Send + 's,
            W: Fn(usize, &mut S) -> R + Sync,
            C: FnMut(usize, &mut S, R) + Send,
        {
            let r = sh.clock.work(sh.work, i, &mut s);
            if let Some(slot) = lock(sh.ready).slots.get_mut(i) {
                *slot = Some((s, r));
            }
            loop {
                let mut guard = match sh.consumer.try_lock() {
                    Ok(g) => g,
                    Err(TryLockError::Poisoned(p)) => p.into_inner(),
                    Err(TryLockError::WouldBlock) => return,
                };
                let (consume, spawner) = &mut *guard;
                loop {
                    // the `ready` guard is dropped before `consume`: other workers store
                    // their results while this one merges
                    let next = lock(sh.ready).take_next();
                    let Some((k, mut s, r)) = next else { break };
                    sh.clock.consume(&mut *consume, k, &mut s, r);
                    if spawner.next < sh.n {
                        let j = spawner.next;
                        spawner.next += 1;
                        scope.spawn_fifo(move |scope| task(scope, j, s, sh));
                    } else {
                        spawner.free.push(s);
                    }
                }
                drop(guard);
                if !lock(sh.ready).next_is_ready() {
                    return;
                }
            }
        }
        for (i, s) in initial.into_iter().enumerate() {
            scope.spawn_fifo(move |scope| task(scope, i, s, shared));
        }
    });
    let (_, spawner) = consumer
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    scratch.extend(spawner.free);
    PhaseClock::add(&clock.parallel_ns, call_start);
    clock.parallel_calls.fetch_add(1, Ordering::Relaxed);
}

/// [`run_ordered_with`] on `pool`; without a pool, each item is worked and consumed in
/// turn on the calling thread with the first scratch state (nothing runs without one).
pub fn run_ordered<S, R, W, C>(
    pool: Option<&ThreadPool>,
    clock: &PhaseClock,
    n: usize,
    scratch: &mut Vec<S>,
    work: W,
    mut consume: C,
) where
    S: Send,
    R: Send,
    W: Fn(usize, &mut S) -> R + Sync,
    C: FnMut(usize, &mut S, R) + Send,
{
    match pool {
        Some(pool) => run_ordered_with(pool, clock, n, scratch, work, consume),
        None => {
            if let Some(s) = scratch.first_mut() {
                for i in 0..n {
                    let r = clock.work(&work, i, s);
                    clock.consume(&mut consume, i, s, r);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_is_filled_to_the_count_and_kept() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let mut scratch = vec![7u8];
        let mut made = 0;
        let r: Result<(), ()> = fill_scratch(Some(&pool), &mut scratch, || {
            made += 1;
            Ok(0)
        });
        assert_eq!(r, Ok(()));
        assert_eq!(scratch.len(), scratch_count(Some(&pool)));
        assert_eq!((scratch[0], made), (7, scratch.len() - 1));
        assert_eq!(
            fill_scratch(None, &mut scratch, || Err("not called")),
            Ok(())
        );
        let mut empty: Vec<u8> = Vec::new();
        assert_eq!(
            fill_scratch(None, &mut empty, || Err("fails")),
            Err("fails")
        );
    }

    #[test]
    fn without_a_pool_items_run_in_turn_on_the_first_scratch() {
        let mut scratch = vec![0usize, 100];
        let mut seen = Vec::new();
        run_ordered(
            None,
            &PhaseClock::default(),
            4,
            &mut scratch,
            |i, s: &mut usize| {
                *s += 1;
                i * 2
            },
            |i, s: &mut usize, r| seen.push((i, *s, r)),
        );
        assert_eq!(seen, vec![(0, 1, 0), (1, 2, 2), (2, 3, 4), (3, 4, 6)]);
        assert_eq!(scratch, vec![4, 100]);
        let mut none: Vec<usize> = Vec::new();
        run_ordered(
            None,
            &PhaseClock::default(),
            3,
            &mut none,
            |i, _: &mut usize| i,
            |_, _, _: usize| panic!("no scratch state: nothing runs"),
        );
    }

    #[test]
    fn consumes_in_order_whatever_the_finishing_order() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        for n in [0usize, 1, 2, 7, 64] {
            let mut scratch = vec![0u64; 8];
            let mut seen = Vec::new();
            run_ordered_with(
                &pool,
                &PhaseClock::default(),
                n,
                &mut scratch,
                |i, s: &mut u64| {
                    // later items finish first
                    std::thread::sleep(std::time::Duration::from_micros(((n - i) * 50) as u64));
                    *s = i as u64 * 10;
                    *s + 1
                },
                |i, s: &mut u64, r| seen.push((i, *s, r)),
            );
            let expected: Vec<(usize, u64, u64)> = (0..n)
                .map(|i| (i, i as u64 * 10, i as u64 * 10 + 1))
                .collect();
            assert_eq!(seen, expected, "n = {n}");
        }
    }

    #[test]
    fn consumes_one_at_a_time_each_item_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        for round in 0..20u64 {
            let n = 257;
            let inside = AtomicUsize::new(0);
            let mut order = Vec::new();
            let mut scratch = vec![(); 9];
            run_ordered_with(
                &pool,
                &PhaseClock::default(),
                n,
                &mut scratch,
                |i, _: &mut ()| {
                    // uneven work so that workers finish out of order
                    if (i as u64 + round).is_multiple_of(7) {
                        std::thread::sleep(std::time::Duration::from_micros(30));
                    }
                    i as u64 + 1
                },
                |i, _: &mut (), r| {
                    assert_eq!(
                        inside.fetch_add(1, Ordering::SeqCst),
                        0,
                        "concurrent consume"
                    );
                    std::thread::yield_now();
                    order.push((i, r));
                    inside.fetch_sub(1, Ordering::SeqCst);
                },
            );
            let expected: Vec<(usize, u64)> = (0..n).map(|i| (i, i as u64 + 1)).collect();
            assert_eq!(order, expected, "round {round}");
        }
    }

    #[test]
    fn scratch_states_bound_the_items_in_flight_and_come_back() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        for (n, k) in [
            (0usize, 2usize),
            (1, 4),
            (3, 8),
            (100, 1),
            (100, 2),
            (500, 5),
        ] {
            let in_flight = AtomicUsize::new(0);
            let most = AtomicUsize::new(0);
            // each scratch remembers the items it served
            let mut scratch: Vec<Vec<usize>> = vec![Vec::new(); k];
            let mut order = Vec::new();
            run_ordered_with(
                &pool,
                &PhaseClock::default(),
                n,
                &mut scratch,
                |i, s: &mut Vec<usize>| {
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    if i % 5 == 0 {
                        std::thread::sleep(std::time::Duration::from_micros(20));
                    }
                    s.push(i);
                    i * 3
                },
                |i, s: &mut Vec<usize>, r| {
                    // the scratch handed back is the one the item was worked on with
                    assert_eq!(s.last(), Some(&i));
                    // released here, as the scratch only goes to the next item now
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    order.push((i, r));
                },
            );
            assert_eq!(
                order,
                (0..n).map(|i| (i, i * 3)).collect::<Vec<_>>(),
                "n={n} k={k}"
            );
            assert!(most.load(Ordering::SeqCst) <= k, "n={n} k={k}");
            assert_eq!(scratch.len(), k, "every scratch state comes back");
            let mut served: Vec<usize> = scratch.concat();
            served.sort_unstable();
            assert_eq!(served, (0..n).collect::<Vec<_>>());
        }
    }

    #[test]
    fn every_item_is_consumed_when_there_are_more_scratch_states_than_items() {
        // A worker that finishes while the calling thread still hands out the spare
        // scratch states must not find the consumer busy and walk away.
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        for round in 0..3000 {
            for n in [1usize, 2, 3] {
                let mut scratch = vec![0u8; 64];
                let mut seen = Vec::new();
                run_ordered_with(
                    &pool,
                    &PhaseClock::default(),
                    n,
                    &mut scratch,
                    |i, _: &mut u8| i,
                    |i, _, r| {
                        seen.push((i, r));
                    },
                );
                let expected: Vec<(usize, usize)> = (0..n).map(|i| (i, i)).collect();
                assert_eq!(seen, expected, "round {round}, n = {n}");
                assert_eq!(scratch.len(), 64);
            }
        }
    }

    #[test]
    fn the_clock_adds_up_work_consumption_and_parallel_calls() {
        use std::time::Duration;
        let pause = Duration::from_millis(2);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let clock = PhaseClock::default();
        let mut scratch = vec![(); 4];
        // work: 6 items of 2 ms; consumption: 6 of 1 ms
        run_ordered_with(
            &pool,
            &clock,
            6,
            &mut scratch,
            |_, _: &mut ()| std::thread::sleep(pause),
            |_, _, ()| std::thread::sleep(pause / 2),
        );
        let t = clock.snapshot();
        assert!(t.work >= pause * 6, "{t:?}");
        assert!(t.consume >= pause * 3, "{t:?}");
        assert!(t.work < pause * 6 * 20, "{t:?}");
        assert_eq!(t.parallel_calls, 1);
        // the call lasts at least the consumption, done one item at a time
        assert!(t.parallel >= pause * 3, "{t:?}");
        let idle = t.idle_share(2).unwrap();
        assert!((0.0..1.0).contains(&idle), "{idle}");
        // without a pool the items are timed too, and no parallel call is counted
        run_ordered(
            None,
            &clock,
            2,
            &mut scratch,
            |_, _: &mut ()| std::thread::sleep(pause),
            |_, _, ()| {},
        );
        let after = clock.snapshot();
        assert!(after.work >= t.work + pause * 2, "{after:?}");
        assert_eq!(after.parallel_calls, 1);
        assert_eq!(after.parallel, t.parallel);
        assert_eq!(PhaseTimes::default().idle_share(2), None);
    }
}
