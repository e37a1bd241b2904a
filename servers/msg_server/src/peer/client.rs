//! A client connection's state (BEHAVIOUR §1.1).
//!
//! Invariants:
//! - the login state only moves forward: `Fresh` → `Validating` → `Open` → `Kicked`
//!   (a refused login is closed from `Validating`);
//! - an idle connection owns no heap memory: the unacked list is released when it empties, and
//!   the login name lives only while its validation is in flight;
//! - a [`ClientRef`] names a connection *and* the accept that created it: netlib reuses slab
//!   keys, so an answer or a deadline that comes after its connection closed must not reach a
//!   newer connection on the same key. Every accept gets a 32-bit generation, never 0. Back
//!   ends never see it: the `attach_data` handle of a request names its entry in the pending
//!   table (`pending.rs`), which holds the `ClientRef`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use netlib::ConnHandle;
use teamtalk_proto::pb::base_define::{ClientType, UserStatType};

/// IMMsgData accepted per connection per second; the rest are discarded (PROTOCOL §6.1).
pub(crate) const MSGS_PER_SECOND: u8 = 20;
/// PDUs of any kind per connection per second beyond which the client is cut off as a flood.
pub(crate) const PDUS_PER_SECOND: u16 = 1000;
/// How long a delivered single-chat message waits for its ack before it counts as missed.
pub(crate) const UNACKED_TIMEOUT: Duration = Duration::from_secs(15);

/// A client connection together with the accept it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ClientRef {
    pub(crate) handle: ConnHandle,
    pub(crate) generation: u32,
}

impl ClientRef {
    /// Names no connection (generation 0 is never handed out): the origin of a stored group
    /// message relayed by route_server or whose sender's request ended, which is fanned out
    /// to every member.
    pub(crate) const NOBODY: Self = Self {
        handle: ConnHandle(1),
        generation: 0,
    };
}

/// Hands out connection generations: 1, 2, …, u32::MAX, 1, … (never 0).
#[derive(Debug, Default)]
pub(crate) struct Generations {
    last: u32,
}

impl Generations {
    /// The generation for the next accepted connection.
    pub(crate) fn next(&mut self) -> u32 {
        self.last = self.last.checked_add(1).unwrap_or(1);
        self.last
    }
}

/// Whether a client type is a phone (bit 0x10); unknown (0) counts as PC.
pub(crate) fn is_mobile(client_type: u8) -> bool {
    client_type & 0x10 != 0
}

/// Whether two client types are of the same kind: both PC or both mobile.
pub(crate) fn same_kind(a: u8, b: u8) -> bool {
    is_mobile(a) == is_mobile(b)
}

/// The client type of a login request, if it is one of the four real clients (D-MS-9).
pub(crate) fn valid_client_type(value: i32) -> Option<u8> {
    [
        ClientType::Windows,
        ClientType::Mac,
        ClientType::Ios,
        ClientType::Android,
    ]
    .into_iter()
    .find(|t| *t as i32 == value)
    .map(|t| t as u8)
}

/// The online status a login asked for: 1..=3 as sent, anything else ONLINE.
pub(crate) fn login_status(value: i32) -> u8 {
    match u8::try_from(value) {
        Ok(s @ 1..=3) => s,
        _ => UserStatType::UserStatusOnline as u8,
    }
}

/// The outcome of [`ClientConn::take_msg_slot`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MsgSlot {
    /// Under the limit: the message goes on.
    Granted,
    /// The first message over the limit this second (worth a log line).
    FirstRefused,
    /// A further message over the limit.
    Refused,
}

/// Where a client connection is in its life.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum ClientState {
    /// Accepted; no login request yet.
    #[default]
    Fresh,
    /// A login request for `name` is being validated by db_proxy.
    Validating {
        /// The user name sent, matched against the validation answer.
        name: Box<str>,
    },
    /// Logged in as `user_id`.
    Open {
        /// The authenticated user.
        user_id: u32,
    },
    /// Kicked out by a newer login; closed once the kick is written, ignores everything.
    Kicked {
        /// The user it was logged in as (its offline updates are still due at close).
        user_id: u32,
    },
}

/// A delivered single-chat message awaiting the client's ack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unacked {
    msg_id: u32,
    from_id: u32,
    sent: Instant,
}

/// Per-connection state of a client link.
#[derive(Debug)]
pub(crate) struct ClientConn {
    /// Login progress.
    pub(crate) state: ClientState,
    /// The accept generation (see the module docs).
    pub(crate) generation: u32,
    /// Client type from the login request, 0 before.
    pub(crate) client_type: u8,
    /// Online status from the login request (1..=3), OFFLINE before.
    pub(crate) online_status: u8,
    /// The second (server tick count) the rate counters belong to.
    window: u32,
    msgs_in_window: u8,
    pdus_in_window: u16,
    /// Requests over a bound so far (see `limits::MAX_VIOLATIONS`).
    pub(crate) violations: u8,
    unacked: VecDeque<Unacked>,
    /// The client's address, kept for the log lines of its logout and kicks (the socket is
    /// gone by the time its close is handled).
    peer: Option<SocketAddr>,
}

impl ClientConn {
    /// A freshly accepted connection.
    pub(crate) fn new(generation: u32, peer: Option<SocketAddr>) -> Self {
        Self {
            state: ClientState::Fresh,
            generation,
            client_type: 0,
            online_status: UserStatType::UserStatusOffline as u8,
            window: 0,
            msgs_in_window: 0,
            pdus_in_window: 0,
            violations: 0,
            unacked: VecDeque::new(),
            peer,
        }
    }

    /// The client's address for log lines, `-` when unknown.
    pub(crate) fn peer_label(&self) -> String {
        self.peer.map_or_else(|| "-".to_owned(), |a| a.to_string())
    }

    /// The user this connection is logged in as, if it is open.
    pub(crate) fn open_user(&self) -> Option<u32> {
        match self.state {
            ClientState::Open { user_id } => Some(user_id),
            _ => None,
        }
    }

    /// Whether this connection is a phone.
    pub(crate) fn is_mobile(&self) -> bool {
        is_mobile(self.client_type)
    }

    fn roll_window(&mut self, second: u32) {
        if self.window != second {
            self.window = second;
            self.msgs_in_window = 0;
            self.pdus_in_window = 0;
        }
    }

    /// Counts one received PDU; `false` once the connection floods.
    pub(crate) fn count_pdu(&mut self, second: u32) -> bool {
        self.roll_window(second);
        self.pdus_in_window = self.pdus_in_window.saturating_add(1);
        self.pdus_in_window <= PDUS_PER_SECOND
    }

    /// Takes one of this second's message slots.
    pub(crate) fn take_msg_slot(&mut self, second: u32) -> MsgSlot {
        self.roll_window(second);
        let taken = self.msgs_in_window;
        self.msgs_in_window = taken.saturating_add(1);
        match taken {
            t if t < MSGS_PER_SECOND => MsgSlot::Granted,
            MSGS_PER_SECOND => MsgSlot::FirstRefused,
            _ => MsgSlot::Refused,
        }
    }

    /// Records a delivered single-chat message; returns whether the list was empty before
    /// (the caller then schedules an expiry check).
    pub(crate) fn push_unacked(&mut self, msg_id: u32, from_id: u32, now: Instant) -> bool {
        let was_empty = self.unacked.is_empty();
        self.unacked.push_back(Unacked {
            msg_id,
            from_id,
            sent: now,
        });
        was_empty
    }

    /// Removes the first unacked entry for (`msg_id`, `from_id`), if any.
    pub(crate) fn ack(&mut self, msg_id: u32, from_id: u32) {
        if let Some(i) = self
            .unacked
            .iter()
            .position(|u| u.msg_id == msg_id && u.from_id == from_id)
        {
            self.unacked.remove(i);
            self.release_if_empty();
        }
    }

    /// Drops entries older than [`UNACKED_TIMEOUT`] from the front. Returns how many were
    /// dropped and when the next one expires.
    pub(crate) fn expire_unacked(&mut self, now: Instant) -> (usize, Option<Instant>) {
        let mut missed = 0;
        while let Some(front) = self.unacked.front() {
            if now.duration_since(front.sent) < UNACKED_TIMEOUT {
                break;
            }
            self.unacked.pop_front();
            missed += 1;
        }
        self.release_if_empty();
        (
            missed,
            self.unacked.front().map(|u| u.sent + UNACKED_TIMEOUT),
        )
    }

    fn release_if_empty(&mut self) {
        if self.unacked.is_empty() && self.unacked.capacity() > 0 {
            self.unacked = VecDeque::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations_are_never_zero_and_wrap_to_one() {
        let mut gens = Generations::default();
        assert_eq!(gens.next(), 1);
        assert_ne!(gens.next(), ClientRef::NOBODY.generation);
        let mut gens = Generations { last: u32::MAX };
        assert_eq!(gens.next(), 1);
    }

    #[test]
    fn client_type_rules() {
        assert!(same_kind(0x01, 0x02));
        assert!(same_kind(0x11, 0x12));
        assert!(!same_kind(0x01, 0x12));
        assert!(!is_mobile(0));
        assert_eq!(valid_client_type(0x12), Some(0x12));
        assert_eq!(valid_client_type(0x13), None);
        assert_eq!(valid_client_type(0), None);
        assert_eq!(login_status(3), 3);
        assert_eq!(login_status(0), 1);
        assert_eq!(login_status(7), 1);
    }

    #[test]
    fn rate_limit_allows_twenty_messages_per_second() {
        let mut c = ClientConn::new(1, None);
        let slots: Vec<MsgSlot> = (0..25).map(|_| c.take_msg_slot(5)).collect();
        assert!(slots[..20].iter().all(|s| *s == MsgSlot::Granted));
        assert_eq!(slots[20], MsgSlot::FirstRefused);
        assert!(slots[21..].iter().all(|s| *s == MsgSlot::Refused));
        for _ in 0..300 {
            c.take_msg_slot(5);
        }
        assert_eq!(c.take_msg_slot(6), MsgSlot::Granted);
        assert!((0..PDUS_PER_SECOND).all(|_| c.count_pdu(7)));
        assert!(!c.count_pdu(7));
        assert!(c.count_pdu(8));
    }

    #[test]
    fn unacked_list_acks_expires_and_releases_memory() {
        let t0 = Instant::now();
        let mut c = ClientConn::new(1, None);
        assert!(c.push_unacked(1, 10, t0));
        assert!(!c.push_unacked(2, 10, t0 + Duration::from_secs(5)));
        assert!(!c.push_unacked(3, 11, t0 + Duration::from_secs(6)));
        c.ack(2, 10);
        c.ack(3, 10);
        let (missed, next) = c.expire_unacked(t0 + Duration::from_secs(15));
        assert_eq!(missed, 1);
        assert_eq!(next, Some(t0 + Duration::from_secs(21)));
        c.ack(3, 11);
        assert_eq!(c.unacked.capacity(), 0);
        assert_eq!(c.expire_unacked(t0 + Duration::from_secs(60)), (0, None));
    }
}
