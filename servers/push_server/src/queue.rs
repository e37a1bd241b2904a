//! The bounded queue between the reactor and the delivery thread. Pushing never blocks the
//! reactor: when the queue is full the oldest push is dropped (and counted by the caller), so a
//! provider outage costs old notifications, never the msg_server link.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use tokio::sync::Notify;

/// A drop-oldest FIFO with an async `pop`.
#[derive(Debug)]
pub(crate) struct DropOldestQueue<T> {
    state: Mutex<State<T>>,
    ready: Notify,
    capacity: usize,
}

#[derive(Debug)]
struct State<T> {
    items: VecDeque<T>,
    closed: bool,
}

impl<T> DropOldestQueue<T> {
    /// A queue holding at most `capacity` items (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::new(State {
                items: VecDeque::new(),
                closed: false,
            }),
            ready: Notify::new(),
            capacity: capacity.max(1),
        }
    }

    /// Appends `item`; returns the oldest item when it had to make room.
    pub(crate) fn push(&self, item: T) -> Option<T> {
        let dropped = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            let dropped = if state.items.len() >= self.capacity {
                state.items.pop_front()
            } else {
                None
            };
            state.items.push_back(item);
            dropped
        };
        self.ready.notify_one();
        dropped
    }

    /// The next item; `None` once the queue is closed.
    pub(crate) async fn pop(&self) -> Option<T> {
        loop {
            let notified = self.ready.notified();
            {
                let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                if state.closed {
                    return None;
                }
                if let Some(item) = state.items.pop_front() {
                    return Some(item);
                }
            }
            notified.await;
        }
    }

    /// Wakes the consumer for good: `pop` answers `None` from now on.
    pub(crate) fn close(&self) {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .closed = true;
        self.ready.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_queue_drops_the_oldest_and_close_ends_pop() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let q = DropOldestQueue::new(2);
        assert_eq!(q.push(1), None);
        assert_eq!(q.push(2), None);
        assert_eq!(q.push(3), Some(1));
        assert_eq!(rt.block_on(q.pop()), Some(2));
        assert_eq!(rt.block_on(q.pop()), Some(3));
        q.close();
        assert_eq!(rt.block_on(q.pop()), None);
    }
}
