//! A bounded queue between pipeline stages that wakes a blocked producer only once the
//! queue has drained to its low-water mark.
//!
//! With a plain bounded channel a producer faster than its consumer (the IPC reader ahead
//! of a one-partition query) sleeps on the full queue and is woken for every item the
//! consumer takes: two context switches per batch, about 5 µs each on a virtual machine,
//! 5–10 % of a one-thread run. Here it sleeps until the queue is down to `low_water`
//! items and then refills it in one burst, so both threads switch once per
//! `capacity - low_water` items.
//!
//! ```text
//!  capacity 8, low water 4:  ████████ full ─▶ producer sleeps
//!                            ████       drained to 4 ─▶ producer woken, refills to 8
//! ```
//! A consumer waiting on an empty queue is woken by the next item (no delay added). A
//! lock is taken once per item (a group of batches), never per row.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

struct State<T> {
    items: VecDeque<T>,
    senders: usize,
    receiver_alive: bool,
    consumer_waiting: bool,
    producers_waiting: usize,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    capacity: usize,
    low_water: usize,
    /// Signalled when an item arrives for a waiting consumer, or the last sender leaves.
    not_empty: Condvar,
    /// Signalled when the queue drains to the low-water mark, or the receiver leaves.
    drained: Condvar,
}

impl<T> Shared<T> {
    /// Locks the state; a panic while it is held leaves it consistent (every update is
    /// a single field write), so a poisoned lock is used as is.
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The sending side; clone it for several producers.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

/// The receiving side (one consumer).
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

/// A queue holding at most `capacity` items (at least 1) whose blocked producers are
/// woken when it is down to `low_water` items (clamped below `capacity`).
pub fn bounded<T>(capacity: usize, low_water: usize) -> (Sender<T>, Receiver<T>) {
    let capacity = capacity.max(1);
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::with_capacity(capacity),
            senders: 1,
            receiver_alive: true,
            consumer_waiting: false,
            producers_waiting: 0,
        }),
        capacity,
        low_water: low_water.min(capacity - 1),
        not_empty: Condvar::new(),
        drained: Condvar::new(),
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

impl<T> Sender<T> {
    /// Queues `item`, waiting while the queue is full (until it drains to the low-water
    /// mark). Gives the item back if the receiver is gone.
    ///
    /// # Errors
    /// The item, when the receiver has been dropped.
    pub fn send(&self, item: T) -> Result<(), T> {
        let shared = &*self.shared;
        let mut state = shared.lock();
        if state.receiver_alive && state.items.len() >= shared.capacity {
            state.producers_waiting += 1;
            while state.receiver_alive && state.items.len() > shared.low_water {
                state = shared
                    .drained
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            state.producers_waiting -= 1;
        }
        self.push(state, item)
    }

    /// Queues `item` if there is room now.
    ///
    /// # Errors
    /// The item, when the queue is full or the receiver has been dropped.
    pub fn try_send(&self, item: T) -> Result<(), T> {
        let state = self.shared.lock();
        if state.items.len() >= self.shared.capacity {
            return Err(item);
        }
        self.push(state, item)
    }

    fn push(&self, mut state: MutexGuard<'_, State<T>>, item: T) -> Result<(), T> {
        if !state.receiver_alive {
            return Err(item);
        }
        state.items.push_back(item);
        let wake = state.consumer_waiting;
        drop(state);
        if wake {
            self.shared.not_empty.notify_one();
        }
        Ok(())
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.lock().senders += 1;
        Sender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let last = {
            let mut state = self.shared.lock();
            state.senders -= 1;
            state.senders == 0
        };
        if last {
            self.shared.not_empty.notify_all();
        }
    }
}

/// Every sender is gone and the queue is empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disconnected;

impl<T> Receiver<T> {
    /// The next item, waiting for one while any sender is alive.
    ///
    /// # Errors
    /// [`Disconnected`] once the queue is empty and every sender has been dropped.
    pub fn recv(&self) -> Result<T, Disconnected> {
        let shared = &*self.shared;
        let mut state = shared.lock();
        loop {
            if let Some(item) = state.items.pop_front() {
                let wake = state.producers_waiting > 0 && state.items.len() <= shared.low_water;
                drop(state);
                if wake {
                    shared.drained.notify_all();
                }
                return Ok(item);
            }
            if state.senders == 0 {
                return Err(Disconnected);
            }
            state.consumer_waiting = true;
            state = shared
                .not_empty
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
            state.consumer_waiting = false;
        }
    }
}

impl<T> Iterator for &Receiver<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.recv().ok()
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        {
            let mut state = self.shared.lock();
            state.receiver_alive = false;
            // queued items are dropped now, not when the last sender goes
            state.items.clear();
        }
        self.shared.drained.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn items_arrive_in_order_across_threads_and_the_queue_never_overfills() {
        for (capacity, low) in [(1, 0), (2, 1), (8, 4), (32, 16), (5, 9)] {
            let (tx, rx) = bounded::<u32>(capacity, low);
            let probe = rx.shared.clone();
            let producer = std::thread::spawn(move || {
                for i in 0..20_000 {
                    tx.send(i).expect("receiver alive");
                }
            });
            let mut next = 0;
            let mut most = 0;
            loop {
                most = most.max(probe.lock().items.len());
                let Ok(i) = rx.recv() else { break };
                assert_eq!(i, next);
                next += 1;
            }
            producer.join().expect("producer");
            assert_eq!(next, 20_000);
            assert!(most <= capacity, "{most} items held, capacity {capacity}");
            assert!(most > 0);
        }
    }

    #[test]
    fn a_blocked_producer_waits_until_the_low_water_mark() {
        let (tx, rx) = bounded::<u32>(4, 1);
        for i in 0..4 {
            tx.send(i).expect("room");
        }
        assert_eq!(tx.try_send(9), Err(9), "full");
        let producer = std::thread::spawn(move || tx.send(4).map_err(|_| ()));
        std::thread::sleep(Duration::from_millis(30));
        // 4 → 3 → 2 items: still above the mark, the producer stays blocked
        assert_eq!(rx.recv(), Ok(0));
        assert_eq!(rx.recv(), Ok(1));
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(rx.shared.lock().items.len(), 2);
        assert!(!producer.is_finished());
        // down to 1 item: woken, it queues its item
        assert_eq!(rx.recv(), Ok(2));
        assert_eq!(producer.join().expect("producer"), Ok(()));
        assert_eq!(rx.recv(), Ok(3));
        assert_eq!(rx.recv(), Ok(4));
        assert_eq!(rx.recv(), Err(Disconnected));
    }

    #[test]
    fn a_dropped_receiver_fails_blocked_and_later_sends() {
        let (tx, rx) = bounded::<u32>(1, 0);
        tx.send(0).expect("room");
        let tx2 = tx.clone();
        let blocked = std::thread::spawn(move || tx2.send(1));
        std::thread::sleep(Duration::from_millis(20));
        drop(rx);
        assert_eq!(blocked.join().expect("producer"), Err(1));
        assert_eq!(tx.send(2), Err(2));
        assert_eq!(tx.try_send(3), Err(3));
    }

    #[test]
    fn the_receiver_drains_the_queue_then_sees_every_sender_gone() {
        let (tx, rx) = bounded::<u32>(3, 1);
        let tx2 = tx.clone();
        tx.send(1).expect("room");
        tx2.send(2).expect("room");
        drop(tx);
        assert_eq!(rx.recv(), Ok(1));
        let waiter = std::thread::spawn(move || {
            let first = rx.recv();
            (first, rx.recv())
        });
        std::thread::sleep(Duration::from_millis(20));
        drop(tx2);
        assert_eq!(waiter.join().expect("consumer"), (Ok(2), Err(Disconnected)));
    }
}
