//! The requests msg_server sent to a back end on behalf of a client and has no answer for yet:
//! one table, keyed by the request id that travels in the `attach_data` handle.
//!
//! Every client request forwarded with a type-1 (HANDLE) attach is entered here with what its
//! answer continues ([`Continuation`]), the client it belongs to, the link it went out on, a
//! deadline, and what the client is told if no answer comes ([`Failure`]). The attach bytes
//! keep the original's layout (`CDbAttachData` or an empty-pdu `CPduAttachData`, PROTOCOL
//! §5.3), so C++ back ends echo them as before; only the handle's meaning is ours.
//!
//! Invariants:
//! - an entry leaves the table exactly once: with its answer ([`PendingTable::answer`]), when
//!   its link closes ([`PendingTable::take_link`]) or at its deadline
//!   ([`PendingTable::expire`]); an answer arriving after that finds nothing and is dropped,
//!   so a client never gets both an answer and a failure;
//! - every entry has the same timeout (`RequestTimeout`), so deadlines are in insertion order
//!   and expiry pops from the front; entries already gone are skipped there;
//! - request ids are never 0 (0 is the handle of requests no client waits for) and wrap
//!   after 2³²−1, far beyond what can be pending at once.
//!
//! The group fan-out (the member query a stored group message waits for) is entered too,
//! with the stored message as its failure: asked again on another link. A file request is
//! entered for each of its two legs (presence from route_server, the task from file_server).
//! Only the push round is not entered: it carries its PDU in the attach and no client waits
//! for it.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use netlib::{ConnHandle, Metrics};
use prometheus_client::metrics::counter::Counter;
use teamtalk_proto::Pdu;

use crate::peer::client::ClientRef;

/// What the answer to a request continues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Continuation {
    /// A query: the answer goes to the client unchanged, attach removed.
    Relay,
    /// IMValidateReq: the answer completes or refuses the login.
    Login,
    /// IMMsgData: the stored message is acked, delivered, relayed and pushed.
    Deliver,
    /// IMRegistReq: the answer goes to a client that is not logged in.
    Register,
    /// IMUsersStatReq to route_server for an online file transfer: the recipient's presence
    /// decides the transfer mode, then a [`Continuation::FileTransfer`] follows.
    FilePresence,
    /// IMFileTransferReq to a file_server: the task goes to the requester and the recipient.
    FileTransfer,
    /// IMGroupInfoListReq for a stored group message: the members get it (except the
    /// sender's connection, the entry's client) and, when `push` (stored here, not relayed),
    /// the push round starts.
    FanOut {
        /// Whether this server runs the push round (KNOWN_DEFECTS D-PUSH-3).
        push: bool,
    },
}

/// What a client is told when its request gets no answer (link lost, deadline passed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The protocol has no failure answer for it: nothing is sent, the loss is counted.
    Silent,
    /// This answer, prepared when the request was sent.
    Answer(Pdu),
    /// The login is refused ("no db_proxy") and the connection closed.
    RefuseLogin {
        /// The login request's seq.
        seq: u16,
    },
    /// A group message's member query is asked again on another link (the message is
    /// stored; its members must still get it), at most [`FAN_OUT_ATTEMPTS`] times in all.
    FanOutAgain {
        /// The group.
        group: u32,
        /// The sender.
        from: u32,
        /// The stored message body (db_proxy's, attach included).
        body: Vec<u8>,
        /// Attempts made so far (1 for the first).
        attempt: u8,
    },
}

/// How many times a group message's member query is asked before its fan-out is given up.
pub(crate) const FAN_OUT_ATTEMPTS: u8 = 3;

/// One request without an answer yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pending {
    /// What the answer continues.
    pub(crate) continuation: Continuation,
    /// The client connection (with its accept generation) the request came from.
    pub(crate) client: ClientRef,
    /// The back-end link the request went out on.
    pub(crate) link: ConnHandle,
    /// When the request went out.
    pub(crate) sent: Instant,
    /// When the client is told it failed.
    pub(crate) deadline: Instant,
    /// What the client is told then.
    pub(crate) failure: Failure,
}

/// How the table's entries ended, for the statistics line, the metrics endpoint
/// (`teamtalk_db_proxy_requests_total{outcome}`) and tests.
#[derive(Debug, Default)]
pub(crate) struct PendingStats {
    /// Answered by the back end.
    pub(crate) answered: Counter,
    /// Ended because their link closed.
    pub(crate) link_lost: Counter,
    /// Ended at their deadline.
    pub(crate) expired: Counter,
    /// Answers that found no entry (late, or never asked).
    pub(crate) unmatched: Counter,
}

impl PendingStats {
    /// The counters, registered in `metrics`.
    pub(crate) fn new(metrics: &mut Metrics) -> Self {
        let [answered, link_lost, expired, unmatched] = metrics.counters(
            "db_proxy_requests",
            "Client requests to db_proxy by how they ended (unmatched: an answer that found \
             no request)",
            "outcome",
            ["answered", "link_lost", "expired", "unmatched"],
        );
        Self {
            answered,
            link_lost,
            expired,
            unmatched,
        }
    }
}

/// The table of pending requests.
#[derive(Debug, Default)]
pub(crate) struct PendingTable {
    last_id: u32,
    requests: HashMap<u32, Pending>,
    deadlines: VecDeque<(Instant, u32)>,
    /// How entries ended so far.
    pub(crate) stats: PendingStats,
}

impl PendingTable {
    /// An empty table counting into `stats`.
    pub(crate) fn new(stats: PendingStats) -> Self {
        Self {
            stats,
            ..Self::default()
        }
    }

    /// Enters a request sent at `sent` that fails at `deadline`; returns the id to put in
    /// its attach handle.
    pub(crate) fn insert(
        &mut self,
        continuation: Continuation,
        client: ClientRef,
        link: ConnHandle,
        failure: Failure,
        (sent, deadline): (Instant, Instant),
    ) -> u32 {
        let id = self.next_id();
        self.requests.insert(
            id,
            Pending {
                continuation,
                client,
                link,
                sent,
                deadline,
                failure,
            },
        );
        self.deadlines.push_back((deadline, id));
        id
    }

    fn next_id(&mut self) -> u32 {
        loop {
            self.last_id = self.last_id.wrapping_add(1);
            if self.last_id != 0 && !self.requests.contains_key(&self.last_id) {
                return self.last_id;
            }
        }
    }

    /// The request an answer with attach handle `id` belongs to, removed from the table.
    /// `None` when it already ended (or the handle names nothing).
    pub(crate) fn answer(&mut self, id: u32) -> Option<Pending> {
        let found = self.requests.remove(&id);
        match found {
            Some(_) => self.stats.answered.inc(),
            None => self.stats.unmatched.inc(),
        };
        found
    }

    /// The request `id`, left in the table.
    pub(crate) fn peek(&self, id: u32) -> Option<&Pending> {
        self.requests.get(&id)
    }

    /// Every request that went out on `link`, which closed; removed from the table.
    pub(crate) fn take_link(&mut self, link: ConnHandle) -> Vec<Pending> {
        let ids: Vec<u32> = self
            .requests
            .iter()
            .filter(|(_, p)| p.link == link)
            .map(|(id, _)| *id)
            .collect();
        let taken: Vec<Pending> = ids
            .iter()
            .filter_map(|id| self.requests.remove(id))
            .collect();
        self.stats.link_lost.inc_by(taken.len() as u64);
        taken
    }

    /// Every request whose deadline passed by `now`; removed from the table.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<Pending> {
        let mut out = Vec::new();
        while let Some(&(at, id)) = self.deadlines.front() {
            if at > now {
                break;
            }
            self.deadlines.pop_front();
            if let Some(p) = self.requests.remove(&id) {
                out.push(p);
            }
        }
        self.stats.expired.inc_by(out.len() as u64);
        // Entries that ended otherwise leave their deadline behind; drop those in bulk when
        // they outnumber the live ones, so the queue stays bounded by the table.
        if self.deadlines.len() > 2 * self.requests.len() + 1024 {
            let requests = &self.requests;
            self.deadlines.retain(|(_, id)| requests.contains_key(id));
        }
        out
    }

    /// Requests waiting now.
    pub(crate) fn len(&self) -> usize {
        self.requests.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

    fn client(key: usize) -> ClientRef {
        ClientRef {
            handle: ConnHandle(key),
            generation: 1,
        }
    }

    #[test]
    fn an_answered_request_is_gone_and_a_second_answer_finds_nothing() {
        let mut t = PendingTable::default();
        let now = Instant::now();
        let id = t.insert(
            Continuation::Relay,
            client(3),
            ConnHandle(9),
            Failure::Silent,
            (now, now + REQUEST_TIMEOUT),
        );
        assert_ne!(id, 0);
        let p = t.answer(id).unwrap();
        assert_eq!((p.client, p.link), (client(3), ConnHandle(9)));
        assert!(t.answer(id).is_none());
        assert!(t.expire(now + REQUEST_TIMEOUT).is_empty());
        assert_eq!((t.stats.answered.get(), t.stats.unmatched.get()), (1, 1));
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn a_closed_link_takes_only_its_own_requests() {
        let mut t = PendingTable::default();
        let now = Instant::now();
        let a = t.insert(
            Continuation::Login,
            client(1),
            ConnHandle(7),
            Failure::Silent,
            (now, now + REQUEST_TIMEOUT),
        );
        let b = t.insert(
            Continuation::Relay,
            client(2),
            ConnHandle(8),
            Failure::Silent,
            (now, now + REQUEST_TIMEOUT),
        );
        let lost = t.take_link(ConnHandle(7));
        assert_eq!(lost.len(), 1);
        assert_eq!(lost[0].continuation, Continuation::Login);
        assert!(t.answer(a).is_none());
        assert!(t.answer(b).is_some());
        assert_eq!(t.stats.link_lost.get(), 1);
    }

    #[test]
    fn requests_expire_at_their_deadline_in_order() {
        let mut t = PendingTable::default();
        let start = Instant::now();
        let first = t.insert(
            Continuation::Relay,
            client(1),
            ConnHandle(5),
            Failure::Silent,
            (start, start + REQUEST_TIMEOUT),
        );
        let later = start + Duration::from_secs(2);
        t.insert(
            Continuation::Deliver,
            client(2),
            ConnHandle(5),
            Failure::Silent,
            (later, later + REQUEST_TIMEOUT),
        );
        assert!(
            t.expire(start + REQUEST_TIMEOUT - Duration::from_millis(1))
                .is_empty()
        );
        let due = t.expire(start + REQUEST_TIMEOUT);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].client, client(1));
        assert!(t.answer(first).is_none());
        assert_eq!(t.expire(later + REQUEST_TIMEOUT).len(), 1);
        assert_eq!((t.len(), t.stats.expired.get()), (0, 2));
    }

    #[test]
    fn ids_skip_zero_and_ids_still_pending() {
        let mut t = PendingTable {
            last_id: u32::MAX - 1,
            ..PendingTable::default()
        };
        let now = Instant::now();
        let a = t.insert(
            Continuation::Relay,
            client(1),
            ConnHandle(5),
            Failure::Silent,
            (now, now + REQUEST_TIMEOUT),
        );
        assert_eq!(a, u32::MAX);
        let b = t.insert(
            Continuation::Relay,
            client(1),
            ConnHandle(5),
            Failure::Silent,
            (now, now + REQUEST_TIMEOUT),
        );
        assert_eq!(b, 1);
        t.last_id = 0;
        let c = t.insert(
            Continuation::Relay,
            client(1),
            ConnHandle(5),
            Failure::Silent,
            (now, now + REQUEST_TIMEOUT),
        );
        assert_eq!(c, 2, "1 is still pending");
    }

    #[test]
    fn the_deadline_queue_stays_bounded_when_requests_are_answered() {
        let mut t = PendingTable::default();
        let now = Instant::now();
        for _ in 0..5000 {
            let id = t.insert(
                Continuation::Relay,
                client(1),
                ConnHandle(5),
                Failure::Silent,
                (now, now + REQUEST_TIMEOUT),
            );
            t.answer(id);
        }
        t.expire(now);
        assert!(t.deadlines.len() <= 1024, "{}", t.deadlines.len());
    }
}
