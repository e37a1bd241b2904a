//! HTTP connections (PROTOCOL §8.1): one request per connection, answered once complete and
//! closed after the answer is flushed.
//!
//! Bytes accumulate until the request (headers plus any `Content-Length` body) is whole, so a
//! request split over many packets works; the loop closes a connection that buffers more than
//! 1 KiB. A target starting with `/msg_server` (an 11-byte prefix compare, as the original)
//! gets the answer; any other target closes the connection without a reply. Bytes that are not
//! HTTP get no reply and no close: like the original, the connection waits for the size limit
//! or the idle timeout.
//!
//! With `WebClient=1`, targets under `/web` are the browser demo client's files
//! ([`crate::web_client`]), answered 200, 301, 404 or 405 like any web server.

use log::debug;
use netlib::http::Request;
use netlib::{ConnHandle, Ctx};

use super::{HTTPS_LISTENER, Peer};
use crate::discovery;
use crate::registry::Registry;
use crate::web_client;

/// The path prefix clients ask.
const MSG_SERVER_PATH: &[u8] = b"/msg_server";

/// What the HTTP side needs from the server's state.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HttpContext<'a> {
    /// The registered msg_servers.
    pub(crate) registry: &'a Registry,
    /// `msfs` conf value.
    pub(crate) msfs_url: &'a str,
    /// `discovery` conf value.
    pub(crate) discovery_url: &'a str,
    /// `WebClient` conf value.
    pub(crate) web_client: bool,
}

/// Handles the buffered bytes of an HTTP connection.
pub(crate) fn on_data(
    state: HttpContext<'_>,
    ctx: &mut Ctx<Peer>,
    h: ConnHandle,
    input: &mut Vec<u8>,
) {
    let request = match Request::parse(input) {
        Ok(None) => return,
        Ok(Some((request, _))) => request,
        Err(e) => {
            // The original's parser stops at the error and never reports the request complete,
            // so the connection just waits: more bytes than the limit, or the idle timeout,
            // close it, without an answer either way.
            debug!("waiting on a malformed http request: handle={h} err={e}");
            return;
        }
    };
    // One request per connection: whatever follows it is never read.
    input.clear();
    if state.web_client && web_client::is_web_target(&request.target) {
        let secure = ctx.conn(h).and_then(netlib::Conn::listener) == Some(HTTPS_LISTENER);
        debug!("web client file: handle={h} target={}", request.target);
        ctx.send(
            h,
            &web_client::response(&request.method, &request.target, secure),
        );
        ctx.close_after_flush(h);
        return;
    }
    if !request.target.as_bytes().starts_with(MSG_SERVER_PATH) {
        debug!("closing http conn on unknown url: handle={h}");
        ctx.close(h);
        return;
    }
    let peer = ctx.conn(h).and_then(netlib::Conn::peer).map(|a| a.ip());
    let response = discovery::msg_server_response(
        state.registry.pick(),
        peer,
        state.msfs_url,
        state.discovery_url,
    );
    debug!("msg_server answer: handle={h} peer={peer:?}");
    ctx.send(h, &response);
    ctx.close_after_flush(h);
}
