//! The two kinds of connection file_server accepts, stored as the reactor's per-connection data.
//!
//! Invariant: a client connection is bound to at most one task, and only after that task
//! accepted its IMFileLoginReq; every client command except login and heartbeat is ignored on an
//! unbound connection, as in the original.
//!
//! Each connection also carries two clocks for the deadlines the reactor's byte-level idle
//! timeout cannot give: a client must log in within a limit of its accept, and every
//! connection must complete a PDU within its idle limit of the previous one, so a peer that
//! trickles a PDU a byte at a time is closed (the idle timeout alone only needs one byte).

use std::time::Instant;

/// The reactor's per-connection data: the kind of peer and its deadline clocks.
#[derive(Debug)]
pub(crate) struct PeerData {
    /// What the connection is.
    pub(crate) peer: Peer,
    /// When it was accepted.
    pub(crate) accepted: Instant,
    /// When its last whole PDU arrived (the accept until then).
    pub(crate) last_pdu: Instant,
}

impl Default for PeerData {
    fn default() -> Self {
        let now = Instant::now();
        Self {
            peer: Peer::Unknown,
            accepted: now,
            last_pdu: now,
        }
    }
}

/// The kind of a connection.
#[derive(Debug, Default)]
pub(crate) enum Peer {
    /// Accepted but not yet classified (only between accept and `on_accept`).
    #[default]
    Unknown,
    /// A msg_server on the msg-server port.
    MsgServer,
    /// A client on the client port.
    Client(Option<Binding>),
}

/// The task and user a client connection logged in as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Binding {
    /// Task id.
    pub(crate) task_id: String,
    /// User id given at login.
    pub(crate) user_id: u32,
}
