//! The replay window: the targeted relays of the last few seconds, filed under the users they
//! are addressed to, so that a link reporting a login of such a user after the relay went out
//! gets it too (KNOWN_DEFECTS D-RS-4).
//!
//! Presence and traffic reach route_server on different links: a client may already be logged
//! in on msg_server C, its status update still on the way, when a message for the user arrives
//! from msg_server A. The relay then goes to the links presence names, which are not C; when
//! C's update arrives, the relay is sent to C from here. Each entry remembers the links it went
//! to (the sender's included), so no link gets one relay twice while the entry lives.
//!
//! Invariants: entries are in relay order and numbered consecutively from `first_seq`;
//! `by_user` holds, for every user an entry names, that user's entry numbers in increasing
//! order, and no user with an empty list; `bytes` is the sum of the entries' costs (PDU length
//! plus [`ENTRY_OVERHEAD`]). The window never holds more than `max_entries` entries or
//! `max_bytes` bytes: the oldest leave first, when older than `span` or to make room.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use netlib::ConnHandle;

use crate::presence::UserId;

/// Bytes an entry costs besides its PDU (the entry, its index slots, the list of links it went
/// to), counted against the byte bound so that the bound follows the memory held.
pub(crate) const ENTRY_OVERHEAD: usize = 128;

/// Who a user-addressed relay is for: the addressee and, for PDUs msg_server also shows to
/// the sender's other devices, the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Addressees {
    /// The user the PDU is addressed to.
    pub(crate) to: UserId,
    /// A second user whose links get the PDU too (never equal to `to`).
    pub(crate) also: Option<UserId>,
}

impl Addressees {
    /// The addressee and a second user, kept only when it differs from the addressee.
    pub(crate) fn new(to: UserId, also: Option<UserId>) -> Self {
        Self {
            to,
            also: also.filter(|&u| u != to),
        }
    }

    /// Both users, the addressee first.
    pub(crate) fn users(self) -> impl Iterator<Item = UserId> {
        std::iter::once(self.to).chain(self.also)
    }
}

/// One targeted relay.
#[derive(Debug)]
struct Entry {
    /// When it was relayed.
    at: Instant,
    /// Who it is for.
    addressees: Addressees,
    /// The relayed bytes, header included.
    pdu: Vec<u8>,
    /// The links it went to, the one it came from included.
    sent: Vec<ConnHandle>,
}

/// The recent targeted relays, by addressee.
#[derive(Debug)]
pub(crate) struct ReplayWindow {
    span: Duration,
    max_entries: usize,
    max_bytes: usize,
    entries: VecDeque<Entry>,
    first_seq: u64,
    by_user: HashMap<UserId, VecDeque<u64>>,
    bytes: usize,
}

impl ReplayWindow {
    /// An empty window keeping relays for `span`, at most `max_entries` of them and
    /// `max_bytes` bytes.
    pub(crate) fn new(span: Duration, max_entries: usize, max_bytes: usize) -> Self {
        Self {
            span,
            max_entries,
            max_bytes,
            entries: VecDeque::new(),
            first_seq: 0,
            by_user: HashMap::new(),
            bytes: 0,
        }
    }

    /// Files a relay made at `now` to the links `sent`. A PDU larger than the whole byte bound
    /// is not kept.
    pub(crate) fn record(
        &mut self,
        now: Instant,
        addressees: Addressees,
        pdu: Vec<u8>,
        sent: Vec<ConnHandle>,
    ) {
        self.expire(now);
        let cost = pdu.len() + ENTRY_OVERHEAD;
        if cost > self.max_bytes || self.max_entries == 0 {
            return;
        }
        while self.entries.len() >= self.max_entries || self.bytes + cost > self.max_bytes {
            self.pop_oldest();
        }
        let seq = self.first_seq + self.entries.len() as u64;
        for user in addressees.users() {
            self.by_user.entry(user).or_default().push_back(seq);
        }
        self.bytes += cost;
        self.entries.push_back(Entry {
            at: now,
            addressees,
            pdu,
            sent,
        });
    }

    /// `user` logged in on `link` at `now`: every live relay for the user that did not go to
    /// the link is passed to `send`, oldest first, and counts as sent there. Returns how many.
    pub(crate) fn replay(
        &mut self,
        now: Instant,
        user: UserId,
        link: ConnHandle,
        mut send: impl FnMut(&[u8]),
    ) -> usize {
        self.expire(now);
        let Some(seqs) = self.by_user.get(&user) else {
            return 0;
        };
        let mut replayed = 0;
        for &seq in seqs {
            // Entry numbers in `by_user` are live ones (invariant), so the index is in range.
            let Some(entry) = usize::try_from(seq - self.first_seq)
                .ok()
                .and_then(|i| self.entries.get_mut(i))
            else {
                continue;
            };
            if !entry.sent.contains(&link) {
                entry.sent.push(link);
                send(&entry.pdu);
                replayed += 1;
            }
        }
        replayed
    }

    /// A link closed: its handle may be reused by the next link, which has got nothing yet.
    pub(crate) fn forget_link(&mut self, link: ConnHandle) {
        for entry in &mut self.entries {
            entry.sent.retain(|&h| h != link);
        }
    }

    /// Relays held.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Bytes held, overhead included.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Drops the relays older than the span.
    fn expire(&mut self, now: Instant) {
        while self
            .entries
            .front()
            .is_some_and(|e| now.saturating_duration_since(e.at) > self.span)
        {
            self.pop_oldest();
        }
    }

    fn pop_oldest(&mut self) {
        let Some(entry) = self.entries.pop_front() else {
            return;
        };
        let seq = self.first_seq;
        self.first_seq += 1;
        self.bytes -= entry.pdu.len() + ENTRY_OVERHEAD;
        for user in entry.addressees.users() {
            if let Some(seqs) = self.by_user.get_mut(&user) {
                // The oldest entry is the front of each of its users' lists.
                if seqs.front() == Some(&seq) {
                    seqs.pop_front();
                }
                if seqs.is_empty() {
                    self.by_user.remove(&user);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: ConnHandle = ConnHandle(1);
    const B: ConnHandle = ConnHandle(2);
    const C: ConnHandle = ConnHandle(3);
    const T: UserId = UserId(7);
    const S: UserId = UserId(8);

    fn window() -> ReplayWindow {
        ReplayWindow::new(Duration::from_secs(5), 100, 1 << 20)
    }

    fn replayed(w: &mut ReplayWindow, now: Instant, user: UserId, link: ConnHandle) -> Vec<u8> {
        let mut got = Vec::new();
        w.replay(now, user, link, |pdu| got.push(pdu[0]));
        got
    }

    #[test]
    fn a_relay_is_replayed_once_to_a_link_it_did_not_go_to() {
        let mut w = window();
        let t0 = Instant::now();
        w.record(t0, Addressees::new(T, Some(S)), vec![1], vec![A, B]);
        w.record(t0, Addressees::new(S, None), vec![2], vec![A]);
        assert_eq!(replayed(&mut w, t0, T, A), b"", "A had it");
        assert_eq!(replayed(&mut w, t0, T, C), [1]);
        assert_eq!(replayed(&mut w, t0, T, C), b"", "only once");
        assert_eq!(
            replayed(&mut w, t0, S, C),
            [2],
            "the sender's copy went to C already"
        );
        assert_eq!(replayed(&mut w, t0, UserId(99), C), b"");
    }

    #[test]
    fn relays_older_than_the_span_are_dropped() {
        let mut w = window();
        let t0 = Instant::now();
        w.record(t0, Addressees::new(T, Some(S)), vec![1], vec![A]);
        w.record(
            t0 + Duration::from_secs(3),
            Addressees::new(T, None),
            vec![2],
            vec![A],
        );
        assert_eq!(replayed(&mut w, t0 + Duration::from_secs(6), T, B), [2]);
        assert_eq!(w.len(), 1);
        assert!(!w.by_user.contains_key(&S), "S's only entry left");
        assert_eq!(replayed(&mut w, t0 + Duration::from_secs(9), T, C), b"");
        assert_eq!((w.len(), w.bytes()), (0, 0));
        assert!(w.by_user.is_empty());
    }

    #[test]
    fn the_oldest_make_room_within_the_entry_and_byte_bounds() {
        let t0 = Instant::now();
        let mut w = ReplayWindow::new(Duration::from_secs(5), 3, 1 << 20);
        for i in 0..5 {
            w.record(t0, Addressees::new(T, None), vec![i], vec![A]);
        }
        assert_eq!(w.len(), 3);
        assert_eq!(replayed(&mut w, t0, T, B), [2, 3, 4]);

        let mut w = ReplayWindow::new(Duration::from_secs(5), 100, 2 * (ENTRY_OVERHEAD + 10));
        for i in 0..4 {
            w.record(t0, Addressees::new(T, None), vec![i; 10], vec![A]);
        }
        assert_eq!((w.len(), w.bytes()), (2, 2 * (ENTRY_OVERHEAD + 10)));
        assert_eq!(replayed(&mut w, t0, T, B), [2, 3]);
        w.record(t0, Addressees::new(T, None), vec![9; 1 << 20], vec![A]);
        assert_eq!(w.len(), 2, "a PDU over the whole bound is not kept");
    }

    #[test]
    fn a_closed_links_handle_gets_replays_again() {
        let mut w = window();
        let t0 = Instant::now();
        w.record(t0, Addressees::new(T, None), vec![1], vec![A, B]);
        w.forget_link(B);
        assert_eq!(replayed(&mut w, t0, T, B), [1]);
        assert_eq!(replayed(&mut w, t0, T, A), b"");
    }

    #[test]
    fn a_sender_writing_to_itself_is_filed_once() {
        let a = Addressees::new(T, Some(T));
        assert_eq!(a.users().collect::<Vec<_>>(), [T]);
    }
}
