//! The kinds of connection login_server serves, one per listener group (CONFIG.md §3), and the
//! options each kind runs with.

pub(crate) mod http;

use netlib::{ConnOptions, ListenerTag};

use crate::config::Config;

/// Listeners for legacy TCP clients (`ClientPort`).
pub(crate) const CLIENT_LISTENER: ListenerTag = ListenerTag(1);
/// Listeners for HTTP clients (`HttpPort`).
pub(crate) const HTTP_LISTENER: ListenerTag = ListenerTag(2);
/// Listeners for msg_server links (`MsgServerPort`).
pub(crate) const MSG_SERVER_LISTENER: ListenerTag = ListenerTag(3);
/// Listeners for HTTPS clients (`HttpsPort`): the same requests as [`HTTP_LISTENER`]; the tag
/// tells the web client's answers which transport the page came over.
pub(crate) const HTTPS_LISTENER: ListenerTag = ListenerTag(4);

/// Largest HTTP request accepted; more buffered bytes close the connection (PROTOCOL §8.1).
const MAX_HTTP_REQUEST: usize = 1024;
/// The same with `WebClient=1`: a browser's request head (user agent, client hints, accept
/// lists, referrer) can exceed 1 KiB.
const MAX_HTTP_REQUEST_WEB: usize = 8 * 1024;
/// Largest PDU a legacy client may send: its only request has an empty body.
const MAX_CLIENT_PDU: usize = 64 * 1024;

/// What a connection is, decided by the listener that accepted it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Peer {
    /// Not classified yet (only between accept and `on_accept`).
    #[default]
    Unclassified,
    /// A legacy client asking for a msg_server with 0x0101.
    Client,
    /// A msg_server reporting its load.
    MsgServer,
    /// An HTTP client asking `/msg_server`.
    Http,
}

impl Peer {
    /// The kind of connection a listener accepts.
    pub(crate) fn of_listener(tag: ListenerTag) -> Self {
        match tag {
            CLIENT_LISTENER => Self::Client,
            MSG_SERVER_LISTENER => Self::MsgServer,
            HTTP_LISTENER | HTTPS_LISTENER => Self::Http,
            _ => Self::Unclassified,
        }
    }
}

/// Options of legacy client connections: PDUs, the 120-s idle timeout (KNOWN_DEFECTS D-NET-6).
pub(crate) fn client_options(config: &Config) -> ConnOptions {
    ConnOptions {
        idle_timeout: Some(config.client_timeout),
        max_input: MAX_CLIENT_PDU,
        ..ConnOptions::pdu()
    }
}

/// Options of msg_server links: heartbeat after idle sending, closed after idle receiving.
pub(crate) fn msg_server_options(config: &Config) -> ConnOptions {
    ConnOptions {
        heartbeat: Some(config.heartbeat_interval),
        idle_timeout: Some(config.link_timeout),
        ..ConnOptions::server_link()
    }
}

/// Options of HTTP connections: raw bytes, 1 KiB per request (8 KiB with the web client on),
/// 60-s idle timeout, and the same 60 s for the whole request, so a caller trickling bytes is
/// cut off too (slowloris).
pub(crate) fn http_options(config: &Config) -> ConnOptions {
    let max_request = if config.web_client {
        MAX_HTTP_REQUEST_WEB
    } else {
        MAX_HTTP_REQUEST
    };
    ConnOptions {
        lifetime: Some(config.http_timeout),
        ..ConnOptions::raw(max_request, config.http_timeout)
    }
}
