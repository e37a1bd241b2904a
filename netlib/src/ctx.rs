//! [`Ctx`]: what handlers act through — connections (send, close, connect), timers, the
//! waker. Sends go to the socket at once when it can take them, else to the connection's
//! output buffer, which the loop flushes when the socket is writable again; closes asked for
//! while an event is handled are carried out after it.

use std::io::{self, Write};
use std::mem;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use log::warn;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token, Waker};
use teamtalk_proto::Pdu;

use crate::conn::{CloseReason, Conn, ConnHandle, ConnOptions, ConnState, ConnTable, Layered};
use crate::handle::StopHandle;
use crate::timer::{TimerId, Timers};
use crate::transport::{DEFAULT_HANDSHAKE_TIMEOUT, DialTransport, LinkTls};

/// What handlers act through: connections, timers, the waker.
#[derive(Debug)]
pub struct Ctx<D> {
    pub(crate) registry: Registry,
    pub(crate) conns: ConnTable<D>,
    pub(crate) timers: Timers,
    pub(crate) waker: Arc<Waker>,
    pub(crate) stop_requested: Arc<AtomicBool>,
    pub(crate) exit: bool,
    pub(crate) now: Instant,
    pub(crate) pending_close: Vec<(ConnHandle, CloseReason)>,
    /// Connections that still had input to read when their read budget ran out.
    pub(crate) read_again: Vec<ConnHandle>,
    /// Connections with deferred output to write at the end of this turn.
    pub(crate) deferred: Vec<ConnHandle>,
    /// Mutual TLS for links to other servers ([`EventLoop::secure_links`]).
    pub(crate) link_tls: Option<Arc<LinkTls>>,
}

impl<D> Ctx<D> {
    /// The loop's clock, read once per event batch.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// All connections.
    pub fn conns(&self) -> &ConnTable<D> {
        &self.conns
    }

    /// One connection, if it exists.
    pub fn conn(&self, h: ConnHandle) -> Option<&Conn<D>> {
        self.conns.get(h)
    }

    /// The handler's data for `h`.
    pub fn data(&self, h: ConnHandle) -> Option<&D> {
        self.conns.get(h).map(|c| &c.data)
    }

    /// The handler's data for `h`, mutably.
    pub fn data_mut(&mut self, h: ConnHandle) -> Option<&mut D> {
        self.conns.get_mut(h).map(|c| &mut c.data)
    }

    /// Whether `h` is established and not closing.
    pub fn is_open(&self, h: ConnHandle) -> bool {
        self.conns.get(h).is_some_and(Conn::is_open)
    }

    /// Changes the idle timeout of a connection (e.g. after a client logs in).
    pub fn set_idle_timeout(&mut self, h: ConnHandle, timeout: Option<Duration>) {
        if let Some(conn) = self.conns.get_mut(h) {
            conn.options.idle_timeout = timeout;
        }
    }

    /// Encodes and sends a PDU. Returns `false` if the connection is gone or was closed.
    pub fn send_pdu(&mut self, h: ConnHandle, pdu: &Pdu) -> bool {
        self.conns.contains(h) && self.send(h, &pdu.encode())
    }

    /// Sends bytes: written now as far as the socket takes them, the rest queued and flushed
    /// on writability. Returns `false` if the connection is gone, closing, or went over its
    /// output cap (it is then closed).
    pub fn send(&mut self, h: ConnHandle, bytes: &[u8]) -> bool {
        let Some(conn) = self.conns.get_mut(h) else {
            return false;
        };
        let Some(layered) = &mut conn.layered else {
            return self.send_wire(h, bytes);
        };
        if conn.state == ConnState::Draining {
            return false;
        }
        // Deferred plaintext goes first, to keep the order of the PDU stream.
        let mut wire = Vec::new();
        let staged = mem::take(&mut layered.staged);
        let sealed = layered
            .layers
            .seal(&staged, &mut wire)
            .and_then(|()| layered.layers.seal(bytes, &mut wire));
        if let Err(e) = sealed {
            self.close_with(h, CloseReason::Protocol(e.to_string()));
            return false;
        }
        self.send_wire(h, &wire)
    }

    /// Sends bytes exactly as given (already sealed by the connection's layers, if any).
    pub(crate) fn send_wire(&mut self, h: ConnHandle, bytes: &[u8]) -> bool {
        let Some(conn) = self.conns.get_mut(h) else {
            return false;
        };
        if conn.state == ConnState::Draining {
            return false;
        }
        conn.last_send = self.now;
        let mut written = 0;
        if conn.state == ConnState::Open && conn.wire_pending() == 0 {
            match write_some(&mut conn.stream, bytes) {
                Ok(n) => written = n,
                Err(e) => {
                    self.close_with(h, CloseReason::Io(e));
                    return false;
                }
            }
        }
        if written == bytes.len() {
            return true;
        }
        if conn.wire_pending() + bytes.len() - written > conn.options.max_write_buf {
            warn!(
                "closing stalled peer: handle={h} peer={:?} queued={}",
                conn.peer,
                conn.pending_output()
            );
            self.close_with(h, CloseReason::WriteOverflow);
            return false;
        }
        conn.output.extend_from_slice(&bytes[written..]);
        true
    }

    /// Queues bytes to be written at the end of the current loop turn, after the remaining
    /// events of the turn: PDUs sent to one peer during a turn then share a write. Order with
    /// [`Ctx::send`] is kept (a later `send` queues behind deferred bytes). Returns `false` if
    /// the connection is gone, closing, or went over its output cap (it is then closed).
    pub fn send_deferred(&mut self, h: ConnHandle, bytes: &[u8]) -> bool {
        // A connection already being closed (e.g. over its cap a moment ago) takes nothing.
        if self.pending_close.iter().any(|(p, _)| *p == h) {
            return false;
        }
        let Some(conn) = self.conns.get_mut(h) else {
            return false;
        };
        if conn.state == ConnState::Draining {
            return false;
        }
        if conn.pending_output() + bytes.len() > conn.options.max_write_buf {
            warn!(
                "closing stalled peer: handle={h} peer={:?} queued={}",
                conn.peer,
                conn.pending_output()
            );
            self.close_with(h, CloseReason::WriteOverflow);
            return false;
        }
        conn.last_send = self.now;
        match &mut conn.layered {
            Some(layered) => layered.staged.extend_from_slice(bytes),
            None => conn.output.extend_from_slice(bytes),
        }
        if !conn.flush_queued {
            conn.flush_queued = true;
            self.deferred.push(h);
        }
        true
    }

    /// Encodes a PDU and sends it with [`Ctx::send_deferred`].
    pub fn send_pdu_deferred(&mut self, h: ConnHandle, pdu: &Pdu) -> bool {
        self.conns.contains(h) && self.send_deferred(h, &pdu.encode())
    }

    /// Closes a connection after the current event; the handler's `on_close` follows.
    pub fn close(&mut self, h: ConnHandle) {
        self.close_with(h, CloseReason::Local);
    }

    /// Closes once everything queued was written (used after a final answer or a kick).
    pub fn close_after_flush(&mut self, h: ConnHandle) {
        let Some(conn) = self.conns.get_mut(h) else {
            return;
        };
        if let Some(layered) = &mut conn.layered {
            // What was deferred, then the polite end (WebSocket close, TLS close_notify),
            // written now: the socket may have no writability event left to come.
            let staged = mem::take(&mut layered.staged);
            let mut wire = Vec::new();
            if layered.layers.seal(&staged, &mut wire).is_ok() {
                layered.layers.seal_close(&mut wire);
            }
            self.send_wire(h, &wire);
        }
        let Some(conn) = self.conns.get_mut(h) else {
            return;
        };
        if conn.state == ConnState::Open && conn.pending_output() > 0 {
            conn.state = ConnState::Draining;
        } else {
            self.close(h);
        }
    }

    pub(crate) fn close_with(&mut self, h: ConnHandle, reason: CloseReason) {
        if self.conns.contains(h) && !self.pending_close.iter().any(|(p, _)| *p == h) {
            self.pending_close.push((h, reason));
        }
    }

    /// Starts a non-blocking connect; `Handler::on_connect` or `on_close` tells the outcome.
    /// A synchronous failure is returned here (callers treat it like an asynchronous one).
    pub fn connect(
        &mut self,
        addr: SocketAddr,
        options: ConnOptions,
        data: D,
    ) -> io::Result<ConnHandle> {
        self.connect_layered(addr, options, data, None)
    }

    /// Connects a link to another server (what [`crate::Dialer`] does): like
    /// [`Ctx::connect`], over mutual TLS when the loop has link TLS, with `host` (the conf's
    /// IP or name) as the name the peer's certificate must carry.
    pub fn dial(
        &mut self,
        addr: SocketAddr,
        host: &str,
        options: ConnOptions,
        data: D,
    ) -> io::Result<ConnHandle> {
        let layers = match &self.link_tls {
            Some(tls) => Some(tls.dial(host).map_err(io::Error::other)?),
            None => None,
        };
        self.connect_layered(addr, options, data, layers)
    }

    /// Like [`Ctx::connect`], with the PDUs over `transport` (TLS, WebSocket, both, or plain
    /// TCP): `Handler::on_connect` still reports the TCP connect, and what is sent before the
    /// handshakes finish waits in the layers until they do.
    pub fn connect_over(
        &mut self,
        addr: SocketAddr,
        transport: &DialTransport,
        options: ConnOptions,
        data: D,
    ) -> io::Result<ConnHandle> {
        let layers = transport.layers(addr).map_err(io::Error::other)?;
        self.connect_layered(addr, options, data, layers)
    }

    fn connect_layered(
        &mut self,
        addr: SocketAddr,
        options: ConnOptions,
        data: D,
        layers: Option<(Box<teamtalk_transport::Layers>, Vec<u8>)>,
    ) -> io::Result<ConnHandle> {
        let mut stream = TcpStream::connect(addr)?;
        let entry = self.conns.vacant_key();
        self.registry.register(
            &mut stream,
            Token(entry),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        let mut conn = Conn::new(stream, ConnState::Connecting, options, data);
        conn.peer = Some(addr);
        if let Some((layers, first)) = layers {
            // The ClientHello leaves once the connect completes.
            conn.output = first;
            conn.layered = Some(Box::new(Layered {
                layers,
                staged: Vec::new(),
                handshake_deadline: self.now + DEFAULT_HANDSHAKE_TIMEOUT,
            }));
        }
        let h = self.conns.insert(conn);
        debug_assert_eq!(h.0, entry);
        Ok(h)
    }

    /// Adds a timer; `repeat` makes it fire every `after`.
    pub fn add_timer(&mut self, after: Duration, repeat: bool) -> TimerId {
        self.timers.add(self.now, after, repeat)
    }

    /// Cancels a timer.
    pub fn cancel_timer(&mut self, id: TimerId) {
        self.timers.cancel(id);
    }

    /// The loop's waker, for threads that hand results back (`Handler::on_wake` runs).
    pub fn waker(&self) -> Arc<Waker> {
        Arc::clone(&self.waker)
    }

    /// A handle that stops this loop.
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle {
            requested: Arc::clone(&self.stop_requested),
            waker: Arc::clone(&self.waker),
        }
    }

    /// Ends the loop after the current turn.
    pub fn exit(&mut self) {
        self.exit = true;
    }
}

/// Writes until done or `WouldBlock`; returns the bytes written.
pub(crate) fn write_some(stream: &mut TcpStream, bytes: &[u8]) -> io::Result<usize> {
    let mut written = 0;
    while written < bytes.len() {
        match stream.write(&bytes[written..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(written)
}
