//! Timers of the reactor: one-shot or repeating, fired in deadline order (ties in creation
//! order) from the loop thread. The poll timeout is the earliest deadline.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use slab::Slab;

/// Identifies a timer registered with [`crate::Ctx::add_timer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimerId(pub usize);

#[derive(Debug)]
struct Entry {
    interval: Option<Duration>,
    /// Bumped on every re-arm and cancel so stale heap entries are skipped.
    generation: u64,
}

/// The timer set: a min-heap of `(deadline, sequence, id, generation)`.
#[derive(Debug, Default)]
pub struct Timers {
    entries: Slab<Entry>,
    heap: BinaryHeap<Reverse<(Instant, u64, usize, u64)>>,
    sequence: u64,
}

impl Timers {
    /// Schedules a timer `after` from `now`; `repeat` re-arms it with the same period.
    pub fn add(&mut self, now: Instant, after: Duration, repeat: bool) -> TimerId {
        let id = self.entries.insert(Entry {
            interval: repeat.then_some(after),
            generation: 0,
        });
        self.push(id, now + after, 0);
        TimerId(id)
    }

    /// Cancels a timer; unknown ids are ignored.
    pub fn cancel(&mut self, id: TimerId) {
        self.entries.try_remove(id.0);
    }

    /// The earliest pending deadline.
    pub fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(Reverse((at, _, id, generation))) = self.heap.peek().copied() {
            if self.is_current(id, generation) {
                return Some(at);
            }
            self.heap.pop();
        }
        None
    }

    /// Pops the next timer due at `now`, re-arming repeating ones.
    pub fn pop_due(&mut self, now: Instant) -> Option<TimerId> {
        loop {
            let Reverse((at, _, id, generation)) = *self.heap.peek()?;
            if at > now {
                return None;
            }
            self.heap.pop();
            if !self.is_current(id, generation) {
                continue;
            }
            let entry = &mut self.entries[id];
            match entry.interval {
                Some(period) => {
                    entry.generation += 1;
                    let generation = entry.generation;
                    // Re-arm from the due time, not from `now`, so a late loop does not drift;
                    // but never schedule in the past (that would fire in a burst).
                    let next = (at + period).max(now);
                    self.push(id, next, generation);
                }
                None => {
                    self.entries.remove(id);
                }
            }
            return Some(TimerId(id));
        }
    }

    fn is_current(&self, id: usize, generation: u64) -> bool {
        self.entries
            .get(id)
            .is_some_and(|e| e.generation == generation)
    }

    fn push(&mut self, id: usize, at: Instant, generation: u64) {
        self.sequence += 1;
        self.heap.push(Reverse((at, self.sequence, id, generation)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_fire_in_deadline_order_and_repeat() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        let slow = timers.add(t0, Duration::from_millis(30), false);
        let fast = timers.add(t0, Duration::from_millis(10), true);
        let mid = timers.add(t0, Duration::from_millis(20), false);
        assert_eq!(timers.next_deadline(), Some(t0 + Duration::from_millis(10)));
        let mut fired = Vec::new();
        let end = t0 + Duration::from_millis(35);
        while let Some(id) = timers.pop_due(end) {
            fired.push(id);
            if fired.len() > 10 {
                break;
            }
        }
        // Popping late (at 35) fires the repeating timer once for its missed ticks and re-arms
        // it no earlier than now, so a stalled loop does not fire bursts.
        assert_eq!(fired, vec![fast, mid, slow, fast]);
        timers.cancel(fast);
        assert_eq!(timers.next_deadline(), None);
    }

    #[test]
    fn cancelled_timer_never_fires() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        let a = timers.add(t0, Duration::from_millis(1), false);
        timers.cancel(a);
        assert_eq!(timers.pop_due(t0 + Duration::from_secs(1)), None);
    }
}
