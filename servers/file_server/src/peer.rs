//! The two kinds of connection file_server accepts, stored as the reactor's per-connection data.
//!
//! Invariant: a client connection is bound to at most one task, and only after that task
//! accepted its IMFileLoginReq; every client command except login and heartbeat is ignored on an
//! unbound connection, as in the original.

/// Per-connection data.
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
