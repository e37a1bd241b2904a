//! The order the original's sockets would have. The original keys its msg_server records by
//! socket fd and walks them in fd order, which breaks ties between equally loaded msg_servers
//! (PROTOCOL §8.2); the kernel gives each accepted socket the lowest fd not in use. Connection
//! handles here are reused in another order, so every accepted connection (of any kind, as
//! they all share the original's fd space) gets a number by the kernel's rule instead.
//!
//! Invariants: numbers in use are exactly the values of `by_handle`; `free` holds the unused
//! numbers below `next`, and never `next - 1`.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use netlib::ConnHandle;

/// A connection's number: what its socket's fd would be, up to a constant offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct SocketNo(pub(crate) u32);

impl fmt::Display for SocketNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Numbers of the open connections.
#[derive(Debug, Default)]
pub(crate) struct SocketOrder {
    next: u32,
    free: BTreeSet<u32>,
    by_handle: HashMap<ConnHandle, u32>,
}

impl SocketOrder {
    /// Numbers a newly accepted connection: the lowest number not in use.
    pub(crate) fn open(&mut self, h: ConnHandle) -> SocketNo {
        let n = self.free.pop_first().unwrap_or_else(|| {
            self.next += 1;
            self.next - 1
        });
        if let Some(old) = self.by_handle.insert(h, n) {
            // A handle is only reused after its close; never expected, but keep numbers unique.
            self.release(old);
        }
        SocketNo(n)
    }

    /// Frees a closed connection's number.
    pub(crate) fn close(&mut self, h: ConnHandle) -> Option<SocketNo> {
        let n = self.by_handle.remove(&h)?;
        self.release(n);
        Some(SocketNo(n))
    }

    /// The number of an open connection.
    pub(crate) fn get(&self, h: ConnHandle) -> Option<SocketNo> {
        self.by_handle.get(&h).copied().map(SocketNo)
    }

    fn release(&mut self, n: u32) {
        self.free.insert(n);
        while self.next > 0 && self.free.last() == Some(&(self.next - 1)) {
            self.free.pop_last();
            self.next -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lowest_free_number_is_reused_first() {
        let mut o = SocketOrder::default();
        let nums: Vec<_> = (0..4).map(|i| o.open(ConnHandle(10 + i)).0).collect();
        assert_eq!(nums, [0, 1, 2, 3]);
        o.close(ConnHandle(10));
        o.close(ConnHandle(12));
        // Handles may come back in any order; numbers follow the kernel's rule.
        assert_eq!(o.open(ConnHandle(12)), SocketNo(0));
        assert_eq!(o.open(ConnHandle(10)), SocketNo(2));
        assert_eq!(o.open(ConnHandle(20)), SocketNo(4));
        assert_eq!(o.get(ConnHandle(11)), Some(SocketNo(1)));
        for h in [10, 11, 12, 13, 20] {
            assert!(o.close(ConnHandle(h)).is_some());
        }
        assert_eq!((o.next, o.free.len()), (0, 0));
        assert_eq!(o.close(ConnHandle(10)), None);
    }
}
