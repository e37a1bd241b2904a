//! One TCP connection owned by the reactor: its socket, buffers, framing and liveness clocks.
//!
//! Invariants: a connection's output buffer never exceeds its cap (the connection is closed
//! instead); buffers hold no heap memory while empty, so an idle connection costs only this
//! struct; `last_recv`/`last_send` are the clocks the heartbeat and idle-timeout rules read.

use std::fmt;
use std::net::SocketAddr;
use std::ops::{Index, IndexMut};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use slab::Slab;
use teamtalk_proto::DEFAULT_MAX_PDU_LEN;
use teamtalk_transport::Layers;

/// Handle of a connection: its key in the reactor's slab. Keys are reused after a close, so a
/// holder must forget a handle when it sees that connection's close.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnHandle(pub usize);

impl fmt::Display for ConnHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Tag given to a listener; accepted connections report it so one loop can serve several ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenerTag(pub u32);

/// How the byte stream of a connection is cut into units for the handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// 16-byte-header PDUs, delivered whole to `Handler::on_pdu`.
    Pdu,
    /// Raw bytes (HTTP), delivered to `Handler::on_data` which consumes what it parsed.
    Raw,
}

/// Default cap on queued output per connection (a stalled peer is closed past it).
pub const DEFAULT_MAX_WRITE_BUF: usize = 16 * 1024 * 1024;

/// Per-connection behaviour: framing, limits and the heartbeat/idle rules (PROTOCOL §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnOptions {
    /// How incoming bytes are framed.
    pub framing: Framing,
    /// Send an IMHeartBeat when nothing was sent for this long (server links: 5 s).
    pub heartbeat: Option<Duration>,
    /// Close when nothing was received for this long.
    pub idle_timeout: Option<Duration>,
    /// Close when the connection is this old, however busy: an HTTP request (and its answer)
    /// must be done within it, so a peer trickling a byte now and then, which keeps resetting
    /// the idle timeout, is still cut off (slowloris).
    pub lifetime: Option<Duration>,
    /// Largest PDU accepted (PDU framing) or largest buffered input (raw framing).
    pub max_input: usize,
    /// Largest queued output before the peer is considered stalled and closed.
    pub max_write_buf: usize,
}

impl ConnOptions {
    /// PDU framing, no heartbeat, no idle timeout, default caps.
    pub const fn pdu() -> Self {
        Self {
            framing: Framing::Pdu,
            heartbeat: None,
            idle_timeout: None,
            lifetime: None,
            max_input: DEFAULT_MAX_PDU_LEN,
            max_write_buf: DEFAULT_MAX_WRITE_BUF,
        }
    }

    /// A server-to-server link as the original runs it: heartbeat after 5 s without sending,
    /// closed after 30 s without receiving.
    pub const fn server_link() -> Self {
        Self {
            heartbeat: Some(Duration::from_secs(5)),
            idle_timeout: Some(Duration::from_secs(30)),
            ..Self::pdu()
        }
    }

    /// Raw byte framing (HTTP) with an input cap and idle timeout.
    pub const fn raw(max_input: usize, idle_timeout: Duration) -> Self {
        Self {
            framing: Framing::Raw,
            heartbeat: None,
            idle_timeout: Some(idle_timeout),
            lifetime: None,
            max_input,
            max_write_buf: DEFAULT_MAX_WRITE_BUF,
        }
    }
}

/// Why a connection ended.
#[derive(Debug)]
pub enum CloseReason {
    /// The peer closed its side (read returned 0).
    PeerClosed,
    /// A socket error.
    Io(std::io::Error),
    /// The peer sent bytes that cannot be framed (bad length, over the cap).
    Protocol(String),
    /// Nothing was received within the idle timeout.
    Timeout,
    /// The output queue exceeded its cap: the peer stopped reading.
    WriteOverflow,
    /// An outbound connect did not complete.
    ConnectFailed(std::io::Error),
    /// This side asked for the close.
    Local,
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PeerClosed => f.write_str("peer closed"),
            Self::Io(e) => write!(f, "io error: {e}"),
            Self::Protocol(why) => write!(f, "protocol error: {why}"),
            Self::Timeout => f.write_str("idle timeout"),
            Self::WriteOverflow => f.write_str("write buffer overflow"),
            Self::ConnectFailed(e) => write!(f, "connect failed: {e}"),
            Self::Local => f.write_str("closed locally"),
        }
    }
}

/// Lifecycle of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnState {
    /// Outbound connect in progress.
    Connecting,
    /// Established.
    Open,
    /// Close once the output buffer is flushed; input is ignored.
    Draining,
}

/// A connection and its per-handle data `D` (the handler's "callback data").
#[derive(Debug)]
pub struct Conn<D> {
    pub(crate) stream: TcpStream,
    pub(crate) state: ConnState,
    pub(crate) peer: Option<SocketAddr>,
    pub(crate) options: ConnOptions,
    pub(crate) input: Vec<u8>,
    pub(crate) output: Vec<u8>,
    /// Bytes of `output` already written to the socket.
    pub(crate) output_pos: usize,
    pub(crate) last_recv: Instant,
    pub(crate) last_send: Instant,
    /// When the connection was accepted or dialled (for `ConnOptions::lifetime`).
    pub(crate) created: Instant,
    pub(crate) listener: Option<ListenerTag>,
    /// Already listed for the end-of-turn flush of deferred sends.
    pub(crate) flush_queued: bool,
    /// TLS and WebSocket layers; `None` on plain TCP, which then pays nothing for them.
    pub(crate) layered: Option<Box<Layered>>,
    /// The handler's data for this connection.
    pub data: D,
}

impl<D> Conn<D> {
    pub(crate) fn new(stream: TcpStream, state: ConnState, options: ConnOptions, data: D) -> Self {
        let now = Instant::now();
        Self {
            peer: stream.peer_addr().ok(),
            stream,
            state,
            options,
            input: Vec::new(),
            output: Vec::new(),
            output_pos: 0,
            last_recv: now,
            last_send: now,
            created: now,
            listener: None,
            flush_queued: false,
            layered: None,
            data,
        }
    }

    /// Bytes queued but not yet written (on a layered connection, plaintext waiting for the
    /// end-of-turn flush included).
    pub fn pending_output(&self) -> usize {
        self.output.len() - self.output_pos + self.layered.as_ref().map_or(0, |l| l.staged.len())
    }

    /// Bytes sealed for the socket but not yet written.
    pub(crate) fn wire_pending(&self) -> usize {
        self.output.len() - self.output_pos
    }

    /// The remote address, once known.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// When bytes last arrived (or the connection was made).
    pub fn last_recv(&self) -> Instant {
        self.last_recv
    }

    /// The listener that accepted this connection (`None` for outbound ones).
    pub fn listener(&self) -> Option<ListenerTag> {
        self.listener
    }

    /// Whether the connection is established and not closing.
    pub fn is_open(&self) -> bool {
        self.state == ConnState::Open
    }

    /// Whether the loop itself serves this connection (the metrics endpoint): the handler
    /// never hears of it.
    pub(crate) fn is_internal(&self) -> bool {
        self.listener == Some(crate::metrics::METRICS_LISTENER)
    }
}

/// The layers of a TLS or WebSocket connection and its deferred plaintext: PDUs deferred in
/// one loop turn are sealed together at its end (one TLS record, one WebSocket message).
#[derive(Debug)]
pub(crate) struct Layered {
    pub(crate) layers: Box<Layers>,
    pub(crate) staged: Vec<u8>,
    /// The connection is closed if its handshakes are not done by then.
    pub(crate) handshake_deadline: Instant,
}

/// The slab of connections, indexed by [`ConnHandle`]. Connections the loop serves itself
/// (the metrics endpoint) are in the slab but not counted or listed: a handler that counts or
/// broadcasts sees only its own.
#[derive(Debug)]
pub struct ConnTable<D> {
    slab: Slab<Conn<D>>,
    /// How many of the slab's connections are the loop's own.
    internal: usize,
}

impl<D> ConnTable<D> {
    pub(crate) fn new() -> Self {
        Self {
            slab: Slab::new(),
            internal: 0,
        }
    }

    pub(crate) fn vacant_key(&self) -> usize {
        self.slab.vacant_key()
    }

    pub(crate) fn insert(&mut self, conn: Conn<D>) -> ConnHandle {
        self.internal += usize::from(conn.is_internal());
        ConnHandle(self.slab.insert(conn))
    }

    pub(crate) fn remove(&mut self, h: ConnHandle) -> Option<Conn<D>> {
        let conn = self.slab.try_remove(h.0)?;
        self.internal -= usize::from(conn.is_internal());
        Some(conn)
    }

    /// Every connection, the loop's own included (for the liveness sweep).
    pub(crate) fn iter_all(&self) -> impl Iterator<Item = (ConnHandle, &Conn<D>)> {
        self.slab.iter().map(|(k, c)| (ConnHandle(k), c))
    }

    /// The connection for `h`, if it still exists.
    pub fn get(&self, h: ConnHandle) -> Option<&Conn<D>> {
        self.slab.get(h.0)
    }

    /// Mutable access to the connection for `h`, if it still exists.
    pub fn get_mut(&mut self, h: ConnHandle) -> Option<&mut Conn<D>> {
        self.slab.get_mut(h.0)
    }

    /// Whether `h` names a live connection.
    pub fn contains(&self, h: ConnHandle) -> bool {
        self.slab.contains(h.0)
    }

    /// Number of live connections.
    pub fn len(&self) -> usize {
        self.slab.len() - self.internal
    }

    /// Whether there are no connections.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every live connection with its handle, in handle order.
    pub fn iter(&self) -> impl Iterator<Item = (ConnHandle, &Conn<D>)> {
        self.iter_all().filter(|(_, c)| !c.is_internal())
    }

    /// Every live connection, mutably.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (ConnHandle, &mut Conn<D>)> {
        self.slab
            .iter_mut()
            .filter(|(_, c)| !c.is_internal())
            .map(|(k, c)| (ConnHandle(k), c))
    }
}

impl<D> Index<ConnHandle> for ConnTable<D> {
    type Output = Conn<D>;

    fn index(&self, h: ConnHandle) -> &Conn<D> {
        &self.slab[h.0]
    }
}

impl<D> IndexMut<ConnHandle> for ConnTable<D> {
    fn index_mut(&mut self, h: ConnHandle) -> &mut Conn<D> {
        &mut self.slab[h.0]
    }
}
