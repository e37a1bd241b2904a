//! TLS and WebSocket as layers between a socket and the PDU stream, without any I/O.
//!
//! The reactor (`netlib`) and the blocking client (`tt_client`) own their sockets; they hand
//! each chunk read from the socket to [`Layers::open`], which returns the PDU bytes inside it
//! (to be framed exactly as on a plain connection) and the bytes the layers must answer on
//! their own (TLS handshake records and alerts, the WebSocket upgrade answer, pongs, close
//! frames). Outgoing PDU bytes go through [`Layers::seal`]. So one PDU stream runs over four
//! transports — plain TCP, TLS, WebSocket, WebSocket over TLS — and the protocol above is the
//! same on all of them (docs/PROTOCOL.md, "Transports").
//!
//! Invariants: nothing a peer sends panics; every buffer a peer can fill is capped (the
//! WebSocket upgrade request, message and frame sizes, TLS's own record limits); an error is
//! final — after [`Layers::open`] or [`Layers::seal`] failed, the caller writes out what the
//! call left in its output (a TLS alert, an HTTP error answer) and closes the connection.

mod pipe;
#[cfg(feature = "test-pki")]
pub mod test_pki;
mod tls;
mod websocket;

use std::io::{self, Read, Write};
use std::sync::Arc;

pub use rustls;
pub use tls::{TlsError, TlsFiles, client_config, server_config};
pub use websocket::{MAX_UPGRADE_REQUEST, WsClient, WsServer};

use websocket::WsLayer;

/// Why a connection's layers gave up. The connection is closed after it.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// The TLS peer broke the protocol or failed authentication.
    #[error("tls: {0}")]
    Tls(#[from] rustls::Error),
    /// The WebSocket upgrade request or answer was refused.
    #[error("websocket upgrade: {0}")]
    Upgrade(String),
    /// A WebSocket frame broke the protocol or a size limit.
    #[error("websocket: {0}")]
    WebSocket(String),
    /// A text WebSocket message: PDUs travel only in binary messages.
    #[error("websocket: text message (only binary messages carry PDUs)")]
    TextMessage,
}

/// What the peer's bytes amounted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    /// The connection goes on.
    Open,
    /// The peer ended its side cleanly (TLS close_notify or a WebSocket close frame); the
    /// caller writes out the reply, if any, and closes.
    PeerClosed,
}

/// The layers of one connection, outermost (TLS) first.
#[derive(Debug)]
pub struct Layers {
    tls: Option<rustls::Connection>,
    ws: Option<WsLayer>,
    /// Scratch for bytes between the TLS and WebSocket layers, kept to reuse its allocation
    /// only while the connection is busy (released when empty, see [`release`]).
    scratch: Vec<u8>,
}

impl Layers {
    /// The server side of an accepted connection: TLS when `tls` is given, then WebSocket
    /// when `ws` is given.
    pub fn server(
        tls: Option<&Arc<rustls::ServerConfig>>,
        ws: Option<&WsServer>,
    ) -> Result<Self, LayerError> {
        let tls = match tls {
            Some(config) => Some(unbounded(
                rustls::ServerConnection::new(Arc::clone(config))?.into(),
            )),
            None => None,
        };
        Ok(Self {
            tls,
            ws: ws.map(WsLayer::server),
            scratch: Vec::new(),
        })
    }

    /// The client side of a connection; `first` receives the bytes to send before anything
    /// else (the TLS ClientHello, or the WebSocket upgrade request on a plain socket).
    pub fn client(
        tls: Option<(
            Arc<rustls::ClientConfig>,
            rustls::pki_types::ServerName<'static>,
        )>,
        ws: Option<WsClient>,
        first: &mut Vec<u8>,
    ) -> Result<Self, LayerError> {
        let tls = match tls {
            Some((config, name)) => Some(unbounded(
                rustls::ClientConnection::new(config, name)?.into(),
            )),
            None => None,
        };
        let mut layers = Self {
            tls,
            ws: None,
            scratch: Vec::new(),
        };
        if let Some(ws) = ws {
            let mut request = Vec::new();
            layers.ws = Some(WsLayer::client(ws, &mut request));
            layers.tls_seal(&request, first)?;
        } else {
            layers.tls_flush(first)?;
        }
        Ok(layers)
    }

    /// Whether every handshake is done (TLS, then the WebSocket upgrade). A connection whose
    /// layers stay unestablished past a deadline is closed by its owner.
    pub fn is_established(&self) -> bool {
        self.tls.as_ref().is_none_or(|tls| !tls.is_handshaking())
            && self.ws.as_ref().is_none_or(WsLayer::is_open)
    }

    /// Takes bytes read from the socket: appends the PDU bytes they carry to `plain` and the
    /// bytes to send back to `reply`.
    pub fn open(
        &mut self,
        wire: &[u8],
        plain: &mut Vec<u8>,
        reply: &mut Vec<u8>,
    ) -> Result<Opened, LayerError> {
        let mut scratch = std::mem::take(&mut self.scratch);
        let result = self.open_into(wire, plain, reply, &mut scratch);
        scratch.clear();
        self.scratch = release(scratch);
        result
    }

    fn open_into(
        &mut self,
        wire: &[u8],
        plain: &mut Vec<u8>,
        reply: &mut Vec<u8>,
        scratch: &mut Vec<u8>,
    ) -> Result<Opened, LayerError> {
        match (&mut self.tls, &mut self.ws) {
            (None, None) => {
                plain.extend_from_slice(wire);
                Ok(Opened::Open)
            }
            (Some(tls), None) => open_tls(tls, wire, plain, reply),
            (None, Some(ws)) => ws.open(wire, plain, reply),
            (Some(tls), Some(ws)) => {
                let tls_opened = open_tls(tls, wire, scratch, reply)?;
                // What the WebSocket layer answers (upgrade, pong, close) travels inside TLS.
                let mut answer = Vec::new();
                let ws_opened = ws.open(scratch, plain, &mut answer);
                seal_tls(Some(tls), &answer, reply)?;
                if ws_opened? == Opened::PeerClosed {
                    return Ok(Opened::PeerClosed);
                }
                Ok(tls_opened)
            }
        }
    }

    /// Wraps PDU bytes for the wire, appending to `wire`.
    pub fn seal(&mut self, plain: &[u8], wire: &mut Vec<u8>) -> Result<(), LayerError> {
        match &mut self.ws {
            Some(ws) => {
                let mut framed = std::mem::take(&mut self.scratch);
                let sealed = ws
                    .seal(plain, &mut framed)
                    .and_then(|()| seal_tls(self.tls.as_mut(), &framed, wire));
                framed.clear();
                self.scratch = release(framed);
                sealed
            }
            None => self.tls_seal(plain, wire),
        }
    }

    /// The bytes that end the connection politely (a WebSocket close frame, TLS
    /// close_notify), appended to `wire`; nothing is sealed after them.
    pub fn seal_close(&mut self, wire: &mut Vec<u8>) {
        let mut framed = Vec::new();
        if let Some(ws) = &mut self.ws {
            ws.seal_close(&mut framed);
        }
        if let Some(tls) = &mut self.tls {
            if seal_tls(Some(tls), &framed, wire).is_ok() {
                tls.send_close_notify();
                let _ = drain_tls(tls, wire);
            }
        } else {
            wire.extend_from_slice(&framed);
        }
    }

    /// TLS-encrypts `plain` (or passes it through without TLS) into `wire`.
    fn tls_seal(&mut self, plain: &[u8], wire: &mut Vec<u8>) -> Result<(), LayerError> {
        seal_tls(self.tls.as_mut(), plain, wire)
    }

    /// Whatever TLS has to send now (the ClientHello of a fresh client).
    fn tls_flush(&mut self, wire: &mut Vec<u8>) -> Result<(), LayerError> {
        match &mut self.tls {
            Some(tls) => drain_tls(tls, wire),
            None => Ok(()),
        }
    }
}

/// TLS-decrypts `wire` into `plain`; handshake records and alerts go to `reply`.
fn open_tls(
    tls: &mut rustls::Connection,
    wire: &[u8],
    plain: &mut Vec<u8>,
    reply: &mut Vec<u8>,
) -> Result<Opened, LayerError> {
    let mut rest = wire;
    let mut opened = Opened::Open;
    while !rest.is_empty() {
        if let Err(e) = tls.read_tls(&mut rest) {
            return Err(LayerError::Tls(rustls::Error::General(e.to_string())));
        }
        let processed = tls.process_new_packets();
        // An alert explaining a failure is sent before the connection closes.
        drain_tls(tls, reply)?;
        let state = processed?;
        // Everything decrypted so far; `WouldBlock` only says there is no more now.
        match tls.reader().read_to_end(plain) {
            Ok(_) => opened = Opened::PeerClosed,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            // The peer closed without close_notify: the bytes read so far are kept.
            Err(_) => opened = Opened::PeerClosed,
        }
        if state.peer_has_closed() {
            opened = Opened::PeerClosed;
        }
    }
    Ok(opened)
}

/// Lifts rustls's own cap on buffered output: every seal drains what it encrypted at once, so
/// the owner's output cap (netlib's write buffer limit) is the one that bounds memory, and a
/// PDU larger than rustls's default 64 KiB can be sealed before the handshake ends.
fn unbounded(mut tls: rustls::Connection) -> rustls::Connection {
    tls.set_buffer_limit(None);
    tls
}

/// Encrypts `plain` into `wire` when there is TLS, copies it otherwise.
fn seal_tls(
    tls: Option<&mut rustls::Connection>,
    plain: &[u8],
    wire: &mut Vec<u8>,
) -> Result<(), LayerError> {
    let Some(tls) = tls else {
        wire.extend_from_slice(plain);
        return Ok(());
    };
    if !plain.is_empty() {
        // Before the handshake ends rustls holds the plaintext (up to its buffer limit, which
        // the owner's output cap bounds anyway) and sends it once keys exist.
        tls.writer()
            .write_all(plain)
            .map_err(|e| LayerError::Tls(rustls::Error::General(e.to_string())))?;
    }
    drain_tls(tls, wire)
}

/// Moves every pending TLS record into `wire`.
fn drain_tls(tls: &mut rustls::Connection, wire: &mut Vec<u8>) -> Result<(), LayerError> {
    while tls.wants_write() {
        // Writing into a Vec cannot fail.
        if let Err(e) = tls.write_tls(wire) {
            return Err(LayerError::Tls(rustls::Error::General(e.to_string())));
        }
    }
    Ok(())
}

/// Gives up a buffer's memory when it grew past a small size, so an idle connection keeps no
/// large allocation.
fn release(buf: Vec<u8>) -> Vec<u8> {
    if buf.capacity() > 16 * 1024 {
        Vec::new()
    } else {
        buf
    }
}

/// An `io::Error` for "no more bytes now", which the WebSocket codec treats as "come back".
fn would_block() -> io::Error {
    io::ErrorKind::WouldBlock.into()
}

/// A blocking stream with layers, for tools and tests that talk to one server from one
/// thread: `Read` yields PDU bytes, `Write` seals them. (The `tt` client, which reads and
/// writes from different threads, drives [`Layers`] itself.)
#[derive(Debug)]
pub struct Blocking<S> {
    socket: S,
    layers: Layers,
    /// PDU bytes received and not yet read, from `at`.
    plain: Vec<u8>,
    at: usize,
    closed: bool,
}

impl<S: Read + Write> Blocking<S> {
    /// Starts the client side of `layers` on a connected socket: the first flight (TLS
    /// ClientHello, WebSocket upgrade request) goes out now, the handshakes finish as the
    /// first reads and writes go.
    pub fn client(
        mut socket: S,
        tls: Option<(
            Arc<rustls::ClientConfig>,
            rustls::pki_types::ServerName<'static>,
        )>,
        ws: Option<WsClient>,
    ) -> io::Result<Self> {
        let mut first = Vec::new();
        let layers = Layers::client(tls, ws, &mut first).map_err(io::Error::other)?;
        socket.write_all(&first)?;
        Ok(Self {
            socket,
            layers,
            plain: Vec::new(),
            at: 0,
            closed: false,
        })
    }

    /// The socket underneath.
    pub fn get_ref(&self) -> &S {
        &self.socket
    }
}

impl<S: Read + Write> Read for Blocking<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut chunk = [0u8; 16 * 1024];
        while self.at == self.plain.len() {
            if self.closed {
                return Ok(0);
            }
            self.plain.clear();
            self.at = 0;
            let n = self.socket.read(&mut chunk)?;
            if n == 0 {
                return Ok(0);
            }
            let mut reply = Vec::new();
            let opened = self.layers.open(&chunk[..n], &mut self.plain, &mut reply);
            self.socket.write_all(&reply)?;
            if opened.map_err(io::Error::other)? == Opened::PeerClosed {
                self.closed = true;
            }
        }
        let n = buf.len().min(self.plain.len() - self.at);
        buf[..n].copy_from_slice(&self.plain[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

impl<S: Read + Write> Write for Blocking<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut wire = Vec::new();
        self.layers.seal(buf, &mut wire).map_err(io::Error::other)?;
        self.socket.write_all(&wire)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.socket.flush()
    }
}
