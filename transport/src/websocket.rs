//! The WebSocket layer (RFC 6455): the HTTP upgrade on either side, then binary messages that
//! carry PDU bytes. Message boundaries mean nothing to the PDU stream: a message may hold part
//! of a PDU, one PDU or several, exactly like a TCP segment (docs/PROTOCOL.md, "Transports").
//! The frame codec is tungstenite's, driven over an in-memory [`Pipe`].

use std::sync::Arc;

use tungstenite::handshake::client::generate_key;
use tungstenite::handshake::derive_accept_key;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, Role, WebSocketConfig, WebSocketContext};
use tungstenite::{Bytes, Message};

use crate::pipe::Pipe;
use crate::{LayerError, Opened};

/// Longest upgrade request (or answer) head accepted; longer ones are refused.
pub const MAX_UPGRADE_REQUEST: usize = 8 * 1024;
/// Most headers parsed in an upgrade request or answer.
const MAX_HEADERS: usize = 32;
/// The codec's read buffer, allocated for every open WebSocket: small, because a messaging
/// connection is idle most of the time and large messages are rare.
const READ_BUFFER: usize = 4 * 1024;

/// How a server accepts WebSocket connections.
#[derive(Debug, Clone)]
pub struct WsServer {
    /// The request path that upgrades (e.g. `/ws`); any other path is answered 404.
    pub path: Arc<str>,
    /// Largest message (and frame) payload accepted: a larger one closes the connection.
    pub max_message: usize,
}

/// How a client opens a WebSocket connection.
#[derive(Debug, Clone)]
pub struct WsClient {
    /// The `Host` header (`host:port`).
    pub host: String,
    /// The request path.
    pub path: String,
    /// Largest message payload accepted from the server.
    pub max_message: usize,
}

/// One connection's WebSocket state.
pub(crate) struct WsLayer {
    state: State,
    max_message: usize,
    /// PDU bytes sealed before the upgrade finished, framed once it has.
    early: Vec<u8>,
}

enum State {
    /// Server: collecting the upgrade request.
    ServerUpgrade { path: Arc<str>, head: Vec<u8> },
    /// Client: the request went out; collecting the answer.
    ClientUpgrade { key: String, head: Vec<u8> },
    /// Upgraded: frames both ways.
    Open(Box<WebSocketContext>),
    /// A close frame went out or came in.
    Closed,
}

impl std::fmt::Debug for WsLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            State::ServerUpgrade { .. } => "server-upgrade",
            State::ClientUpgrade { .. } => "client-upgrade",
            State::Open(_) => "open",
            State::Closed => "closed",
        };
        f.debug_struct("WsLayer").field("state", &state).finish()
    }
}

impl WsLayer {
    pub(crate) fn server(options: &WsServer) -> Self {
        Self {
            state: State::ServerUpgrade {
                path: Arc::clone(&options.path),
                head: Vec::new(),
            },
            max_message: options.max_message,
            early: Vec::new(),
        }
    }

    /// A client layer; `request` receives the upgrade request to send.
    pub(crate) fn client(options: WsClient, request: &mut Vec<u8>) -> Self {
        let key = generate_key();
        request.extend_from_slice(
            format!(
                "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n",
                options.path, options.host
            )
            .as_bytes(),
        );
        Self {
            state: State::ClientUpgrade {
                key,
                head: Vec::new(),
            },
            max_message: options.max_message,
            early: Vec::new(),
        }
    }

    pub(crate) fn is_open(&self) -> bool {
        matches!(self.state, State::Open(_))
    }

    /// Takes bytes from below: message payloads go to `plain`, what must be sent back (the
    /// upgrade answer, pongs, close frames, an HTTP error) to `answer`.
    pub(crate) fn open(
        &mut self,
        input: &[u8],
        plain: &mut Vec<u8>,
        answer: &mut Vec<u8>,
    ) -> Result<Opened, LayerError> {
        let rest = match &mut self.state {
            State::ServerUpgrade { path, head } => {
                head.extend_from_slice(input);
                let Some((used, accept)) = server_upgrade(head, path, answer)? else {
                    return Ok(Opened::Open);
                };
                let rest = head.split_off(used);
                self.upgraded(Role::Server, answer, accept)?;
                rest
            }
            State::ClientUpgrade { key, head } => {
                head.extend_from_slice(input);
                let Some(used) = client_upgrade(head, key)? else {
                    return Ok(Opened::Open);
                };
                let rest = head.split_off(used);
                self.upgraded(Role::Client, answer, None)?;
                rest
            }
            State::Open(_) => return self.read_frames(input, plain, answer),
            // Whatever follows a close is ignored.
            State::Closed => return Ok(Opened::PeerClosed),
        };
        if rest.is_empty() {
            Ok(Opened::Open)
        } else {
            self.read_frames(&rest, plain, answer)
        }
    }

    /// Switches to frames: the server's `101` answer first, then any early PDU bytes.
    fn upgraded(
        &mut self,
        role: Role,
        answer: &mut Vec<u8>,
        accept: Option<String>,
    ) -> Result<(), LayerError> {
        if let Some(accept) = accept {
            answer.extend_from_slice(
                format!(
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                     Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
                )
                .as_bytes(),
            );
        }
        let config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER)
            .write_buffer_size(0)
            .max_message_size(Some(self.max_message))
            .max_frame_size(Some(self.max_message));
        self.state = State::Open(Box::new(WebSocketContext::new(role, Some(config))));
        let early = std::mem::take(&mut self.early);
        if early.is_empty() {
            Ok(())
        } else {
            self.seal(&early, answer)
        }
    }

    fn read_frames(
        &mut self,
        input: &[u8],
        plain: &mut Vec<u8>,
        answer: &mut Vec<u8>,
    ) -> Result<Opened, LayerError> {
        let State::Open(ws) = &mut self.state else {
            return Ok(Opened::PeerClosed);
        };
        let mut pipe = Pipe {
            input,
            output: answer,
        };
        let outcome = loop {
            match ws.read(&mut pipe) {
                Ok(Message::Binary(payload)) => plain.extend_from_slice(&payload),
                // Pongs are queued by the codec itself; any frame is activity for the idle
                // clock, which the owner resets on every read.
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {}
                Ok(Message::Text(_)) => {
                    let _ = ws.close(&mut pipe, Some(close_frame(CloseCode::Unsupported)));
                    break Err(LayerError::TextMessage);
                }
                // The codec queued the close answer; it is flushed below.
                Ok(Message::Close(_)) => break Ok(Opened::PeerClosed),
                Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    break Ok(Opened::Open);
                }
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    break Ok(Opened::PeerClosed);
                }
                Err(e @ tungstenite::Error::Capacity(_)) => {
                    let _ = ws.close(&mut pipe, Some(close_frame(CloseCode::Size)));
                    break Err(LayerError::WebSocket(e.to_string()));
                }
                Err(e) => {
                    let _ = ws.close(&mut pipe, Some(close_frame(CloseCode::Protocol)));
                    break Err(LayerError::WebSocket(e.to_string()));
                }
            }
        };
        // Pongs and close answers; the pipe never blocks, so this only fails once closed.
        let _ = ws.flush(&mut pipe);
        if !matches!(outcome, Ok(Opened::Open)) {
            self.state = State::Closed;
        }
        outcome
    }

    /// Frames PDU bytes as one binary message into `framed`.
    pub(crate) fn seal(&mut self, plain: &[u8], framed: &mut Vec<u8>) -> Result<(), LayerError> {
        match &mut self.state {
            State::Open(ws) => {
                let mut pipe = Pipe {
                    input: &[],
                    output: framed,
                };
                ws.write(&mut pipe, Message::Binary(Bytes::copy_from_slice(plain)))
                    .and_then(|()| ws.flush(&mut pipe))
                    .map_err(|e| LayerError::WebSocket(e.to_string()))
            }
            State::ServerUpgrade { .. } | State::ClientUpgrade { .. } => {
                self.early.extend_from_slice(plain);
                Ok(())
            }
            State::Closed => Err(LayerError::WebSocket("connection closed".into())),
        }
    }

    /// A normal close frame, once.
    pub(crate) fn seal_close(&mut self, framed: &mut Vec<u8>) {
        if let State::Open(ws) = &mut self.state {
            let mut pipe = Pipe {
                input: &[],
                output: framed,
            };
            let _ = ws.close(&mut pipe, Some(close_frame(CloseCode::Normal)));
            let _ = ws.flush(&mut pipe);
        }
        self.state = State::Closed;
    }
}

fn close_frame(code: CloseCode) -> CloseFrame {
    CloseFrame {
        code,
        reason: "".into(),
    }
}

/// Parses the upgrade request collected so far: `None` while incomplete, else the bytes it
/// used and the `Sec-WebSocket-Accept` value. A refusal writes the HTTP answer to `answer`.
fn server_upgrade(
    head: &[u8],
    path: &str,
    answer: &mut Vec<u8>,
) -> Result<Option<(usize, Option<String>)>, LayerError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let used = match request.parse(head) {
        Ok(httparse::Status::Complete(used)) => used,
        Ok(httparse::Status::Partial) if head.len() <= MAX_UPGRADE_REQUEST => return Ok(None),
        Ok(httparse::Status::Partial) => {
            return Err(refuse(
                answer,
                "431 Request Header Fields Too Large",
                "head too long",
            ));
        }
        Err(e) => return Err(refuse(answer, "400 Bad Request", &e.to_string())),
    };
    if used > MAX_UPGRADE_REQUEST {
        return Err(refuse(
            answer,
            "431 Request Header Fields Too Large",
            "head too long",
        ));
    }
    if request.method != Some("GET") {
        return Err(refuse(answer, "405 Method Not Allowed", "not a GET"));
    }
    let target = request.path.unwrap_or("");
    let asked = target.split_once('?').map_or(target, |(p, _)| p);
    if asked != path {
        return Err(refuse(answer, "404 Not Found", "unknown path"));
    }
    let header = |name: &str| {
        request
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
    };
    let has_token = |name: &str, token: &str| {
        header(name).is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    };
    if !has_token("upgrade", "websocket") || !has_token("connection", "upgrade") {
        return Err(refuse(answer, "400 Bad Request", "not a websocket upgrade"));
    }
    if header("sec-websocket-version") != Some("13") {
        answer.extend_from_slice(
            b"HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n\
              Content-Length: 0\r\nConnection: close\r\n\r\n",
        );
        return Err(LayerError::Upgrade("unsupported websocket version".into()));
    }
    // The key is 16 random bytes in base64: 24 characters.
    let Some(key) = header("sec-websocket-key").filter(|k| k.trim().len() == 24) else {
        return Err(refuse(answer, "400 Bad Request", "bad Sec-WebSocket-Key"));
    };
    Ok(Some((used, Some(derive_accept_key(key.trim().as_bytes())))))
}

/// Parses the server's upgrade answer collected so far: `None` while incomplete, else the
/// bytes it used.
fn client_upgrade(head: &[u8], key: &str) -> Result<Option<usize>, LayerError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let used = match response.parse(head) {
        Ok(httparse::Status::Complete(used)) => used,
        Ok(httparse::Status::Partial) if head.len() <= MAX_UPGRADE_REQUEST => return Ok(None),
        Ok(httparse::Status::Partial) => {
            return Err(LayerError::Upgrade("answer head too long".into()));
        }
        Err(e) => return Err(LayerError::Upgrade(e.to_string())),
    };
    if response.code != Some(101) {
        return Err(LayerError::Upgrade(format!(
            "server answered {}",
            response.code.unwrap_or(0)
        )));
    }
    let expected = derive_accept_key(key.as_bytes());
    let accepted = response.headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("sec-websocket-accept") && h.value == expected.as_bytes()
    });
    if !accepted {
        return Err(LayerError::Upgrade("wrong Sec-WebSocket-Accept".into()));
    }
    Ok(Some(used))
}

/// Writes an HTTP error answer and returns the matching error.
fn refuse(answer: &mut Vec<u8>, status: &str, why: &str) -> LayerError {
    answer.extend_from_slice(
        format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    LayerError::Upgrade(why.to_owned())
}
