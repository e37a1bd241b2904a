//! The connection kinds of http_msg_server, stored as the reactor's per-connection data.
//!
//! Outbound links (db_proxy, route_server) are created by the dialers with the default value;
//! which dialer owns a handle tells its kind. Accepted connections are HTTP callers.

/// Per-connection data.
#[derive(Debug, Default)]
pub(crate) enum Peer {
    /// A db_proxy or route_server link.
    #[default]
    Link,
    /// An HTTP caller.
    Http(HttpConn),
}

/// One HTTP caller: one request per connection.
#[derive(Debug)]
pub(crate) struct HttpConn {
    /// Connection number sent to db_proxy in `attach_data` (never reused soon, unlike the
    /// reactor's handle, so a late answer cannot reach a different caller).
    pub(crate) id: u32,
    /// Where the request is.
    pub(crate) state: HttpState,
}

/// Progress of the single request of an HTTP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HttpState {
    /// Headers or body still arriving.
    Reading,
    /// Sent to db_proxy, waiting for its answer.
    Waiting,
    /// Answered (or being closed); further input is ignored.
    Done,
}
