//! The single-threaded reactor every server runs: a port of the original netlib on mio.
//!
//! The loop owns all state. A server implements [`Handler`]; the loop calls it for accepts,
//! completed or failed connects, whole PDUs (or raw bytes for HTTP), closes, timers, wake-ups
//! from other threads and once per loop turn. Handlers act through [`Ctx`]: send, close,
//! connect, timers. Rules kept from the original and the mio readiness contract:
//! - sockets are edge-triggered: read and write until `WouldBlock`, retry `Interrupted`, and treat
//!   spurious events as normal;
//! - a close requested while handling an event is carried out after that event, and the
//!   handler hears about it once, through `on_close`, with the connection's data;
//! - bytes given to [`Ctx::send_deferred`] are written once per loop turn, after every event of
//!   the turn was handled, so many small PDUs to one peer leave in one write;
//! - every 1 s tick, each connection with a heartbeat sends IMHeartBeat when it sent nothing for
//!   the interval, and each connection with an idle timeout is closed when it received nothing
//!   for that long (PROTOCOL §6);
//! - nothing a peer sends can panic the loop: framing errors close that one connection;
//! - a listener bound with a [`PeerFilter`] closes a connection from any other address at
//!   accept, before the handler hears of it, with at most one `warn!` a second per listener;
//! - the metrics endpoint ([`EventLoop::serve_metrics`]) is served by the loop itself: its
//!   connections never reach the handler, which only refreshes gauges
//!   ([`Handler::refresh_metrics`]) and says whether it is ready ([`Handler::readiness`]).

use std::io::{self, Read, Write};
use std::mem;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use slab::Slab;
use teamtalk_proto::{CommandId, Pdu};

use crate::conn::Layered;
use crate::conn::{
    CloseReason, Conn, ConnHandle, ConnOptions, ConnState, ConnTable, Framing, ListenerTag,
};
use crate::http::Request;
use crate::metrics::{self, METRICS_LISTENER, Metrics, MetricsConf, Probe, Readiness};
use crate::peer_filter::{PeerFilter, RefusalLog};
use crate::timer::{TimerId, Timers};
use crate::transport::{
    DEFAULT_HANDSHAKE_TIMEOUT, DialTransport, LinkTls, LinkTlsConf, TlsError, Transport,
};
use teamtalk_transport::Opened;

/// Token of the cross-thread waker (stop requests and worker responses).
const WAKER_TOKEN: Token = Token(usize::MAX);
/// Listener `i` uses token `LISTENER_TOKEN_BASE - i`; connection keys stay far below it.
const LISTENER_TOKEN_BASE: usize = usize::MAX - 1;
/// Most listeners one loop may have (tokens above `LISTENER_TOKEN_BASE - MAX_LISTENERS`).
const MAX_LISTENERS: usize = 1024;
/// Size of one socket read.
const READ_CHUNK: usize = 64 * 1024;
/// Reads per readiness event before yielding to other connections (fairness under load).
const READS_PER_TURN: usize = 16;
/// Period of the heartbeat / idle-timeout sweep, as the original's 1-s timer.
const TICK: Duration = Duration::from_secs(1);

/// Errors that stop a loop or a listener from starting.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// A listen address could not be parsed.
    #[error("invalid listen address {addr}")]
    BadAddress {
        /// The text given.
        addr: String,
    },
    /// Binding a listener failed.
    #[error("cannot listen on {addr}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// The poller failed.
    #[error("event loop failure")]
    Poll(#[source] io::Error),
}

/// What a server does with the loop's events. Every method has a no-op default.
pub trait Handler: Send + 'static {
    /// Per-connection data stored with each connection.
    type ConnData: Default + Send + 'static;

    /// A connection was accepted on the listener tagged `listener`.
    fn on_accept(
        &mut self,
        ctx: &mut Ctx<Self::ConnData>,
        conn: ConnHandle,
        listener: ListenerTag,
    ) {
        let _ = (ctx, conn, listener);
    }

    /// An outbound connection completed.
    fn on_connect(&mut self, ctx: &mut Ctx<Self::ConnData>, conn: ConnHandle) {
        let _ = (ctx, conn);
    }

    /// A whole PDU arrived on a PDU-framed connection.
    fn on_pdu(&mut self, ctx: &mut Ctx<Self::ConnData>, conn: ConnHandle, pdu: Pdu) {
        let _ = (ctx, conn, pdu);
    }

    /// Bytes arrived on a raw connection; drain from `input` what was consumed.
    fn on_data(&mut self, ctx: &mut Ctx<Self::ConnData>, conn: ConnHandle, input: &mut Vec<u8>) {
        let _ = (ctx, conn);
        input.clear();
    }

    /// A connection ended (including failed connects); `data` is what it carried.
    fn on_close(
        &mut self,
        ctx: &mut Ctx<Self::ConnData>,
        conn: ConnHandle,
        data: Self::ConnData,
        reason: CloseReason,
    ) {
        let _ = (ctx, conn, data, reason);
    }

    /// A timer added with [`Ctx::add_timer`] fired.
    fn on_timer(&mut self, ctx: &mut Ctx<Self::ConnData>, timer: TimerId) {
        let _ = (ctx, timer);
    }

    /// Another thread woke the loop (see [`crate::worker::ResponseQueue`]).
    fn on_wake(&mut self, ctx: &mut Ctx<Self::ConnData>) {
        let _ = ctx;
    }

    /// Runs once per loop turn, after events and timers (the original's loop hooks).
    fn on_loop(&mut self, ctx: &mut Ctx<Self::ConnData>) {
        let _ = ctx;
    }

    /// A scrape of `/metrics` is about to be answered: set the gauges that are a view of the
    /// handler's state (table sizes, queue depths, link states).
    fn refresh_metrics(&mut self, ctx: &Ctx<Self::ConnData>) {
        let _ = ctx;
    }

    /// What `/readyz` answers: the required links that are down. Ready by default.
    fn readiness(&self, ctx: &Ctx<Self::ConnData>) -> Readiness {
        let _ = ctx;
        Readiness::ready()
    }

    /// A stop was requested; return `false` to finish work first and call [`Ctx::exit`] later.
    fn on_stop(&mut self, ctx: &mut Ctx<Self::ConnData>) -> bool {
        let _ = ctx;
        true
    }
}

/// Requests a loop to stop from any thread.
#[derive(Debug, Clone)]
pub struct StopHandle {
    requested: Arc<AtomicBool>,
    waker: Arc<Waker>,
}

impl StopHandle {
    /// Asks the loop to stop; it calls `Handler::on_stop` on its own thread.
    pub fn stop(&self) {
        self.requested.store(true, Ordering::SeqCst);
        if let Err(e) = self.waker.wake() {
            warn!("cannot wake event loop for stop: err={e}");
        }
    }

    /// Stops the loop on SIGTERM or SIGINT (a thread waits for the signal).
    pub fn stop_on_signals(&self) -> io::Result<()> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT])?;
        let stop = self.clone();
        thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                if let Some(sig) = signals.forever().next() {
                    info!("signal received, stopping: signal={sig}");
                    stop.stop();
                }
            })?;
        Ok(())
    }
}

/// A loop running on its own thread.
#[derive(Debug)]
pub struct LoopHandle {
    stop: StopHandle,
    thread: Option<JoinHandle<Result<(), NetError>>>,
}

impl LoopHandle {
    /// A handle to stop the loop from elsewhere.
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Stops the loop and waits for its thread.
    pub fn shutdown(mut self) -> Result<(), NetError> {
        self.stop.stop();
        self.join()
    }

    /// Waits for the loop's thread to end by itself.
    pub fn join(&mut self) -> Result<(), NetError> {
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(NetError::Poll(io::Error::other(
                "event loop thread panicked",
            ))),
            None => Ok(()),
        }
    }
}

impl Drop for LoopHandle {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.stop.stop();
            let _ = self.join();
        }
    }
}

/// A server's loop running on its own thread, with the addresses the server bound; every
/// server's `spawn` returns one. Dropping it stops the loop too.
#[derive(Debug)]
pub struct ServerHandle<A> {
    handle: LoopHandle,
    addrs: A,
    metrics_addr: Option<SocketAddr>,
}

impl<A> ServerHandle<A> {
    /// Runs `event_loop` on a thread named `name`.
    pub fn spawn<H: Handler>(event_loop: EventLoop<H>, name: &str, addrs: A) -> io::Result<Self> {
        let metrics_addr = event_loop.metrics_addr();
        Ok(Self {
            handle: event_loop.spawn(name)?,
            addrs,
            metrics_addr,
        })
    }

    /// The addresses the server listens on.
    pub fn local_addrs(&self) -> &A {
        &self.addrs
    }

    /// Where the metrics endpoint listens, when the conf turned it on.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// A handle that stops the server from elsewhere.
    pub fn stop_handle(&self) -> StopHandle {
        self.handle.stop_handle()
    }

    /// Stops the loop (every connection closes) and waits for its thread.
    pub fn shutdown(self) -> Result<(), NetError> {
        self.handle.shutdown()
    }
}

#[derive(Debug)]
struct Listener {
    socket: TcpListener,
    /// The bound address, for log lines.
    local: SocketAddr,
    tag: ListenerTag,
    options: ConnOptions,
    /// Who may connect; `None` accepts everybody.
    filter: Option<PeerFilter>,
    refusals: RefusalLog,
    /// What the PDUs travel over.
    transport: Transport,
}

/// What handlers act through: connections, timers, the waker.
#[derive(Debug)]
pub struct Ctx<D> {
    registry: Registry,
    conns: ConnTable<D>,
    timers: Timers,
    waker: Arc<Waker>,
    stop_requested: Arc<AtomicBool>,
    exit: bool,
    now: Instant,
    pending_close: Vec<(ConnHandle, CloseReason)>,
    /// Connections that still had input to read when their read budget ran out.
    read_again: Vec<ConnHandle>,
    /// Connections with deferred output to write at the end of this turn.
    deferred: Vec<ConnHandle>,
    /// Mutual TLS for links to other servers ([`EventLoop::secure_links`]).
    link_tls: Option<Arc<LinkTls>>,
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
        if !self.conns.contains(h) {
            return false;
        }
        let mut bytes = Vec::with_capacity(pdu.len());
        pdu.encode_into(&mut bytes);
        self.send(h, &bytes)
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
    fn send_wire(&mut self, h: ConnHandle, bytes: &[u8]) -> bool {
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
        if !self.conns.contains(h) {
            return false;
        }
        let mut bytes = Vec::with_capacity(pdu.len());
        pdu.encode_into(&mut bytes);
        self.send_deferred(h, &bytes)
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

    fn close_with(&mut self, h: ConnHandle, reason: CloseReason) {
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
fn write_some(stream: &mut TcpStream, bytes: &[u8]) -> io::Result<usize> {
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

/// The reactor: a poller, listeners, connections and a handler.
#[derive(Debug)]
pub struct EventLoop<H: Handler> {
    poll: Poll,
    listeners: Slab<Listener>,
    handler: H,
    ctx: Ctx<H::ConnData>,
    read_buf: Vec<u8>,
    /// What `/metrics` exports, and where, once [`EventLoop::serve_metrics`] bound it.
    metrics: Option<(Metrics, SocketAddr)>,
    /// Set (by SIGHUP, say) to reread the TLS listeners' certificates at the next tick.
    tls_reload: Arc<AtomicBool>,
}

impl<H: Handler> EventLoop<H> {
    /// A loop with no listeners yet.
    pub fn new(handler: H) -> Result<Self, NetError> {
        Self::with_waker(|_| handler)
    }

    /// A loop whose handler needs the loop's waker to be built (e.g. to own a
    /// [`crate::ResponseQueue`] its workers answer through).
    pub fn with_waker(make: impl FnOnce(Arc<Waker>) -> H) -> Result<Self, NetError> {
        let poll = Poll::new().map_err(NetError::Poll)?;
        let registry = poll.registry().try_clone().map_err(NetError::Poll)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER_TOKEN).map_err(NetError::Poll)?);
        let handler = make(Arc::clone(&waker));
        Ok(Self {
            poll,
            listeners: Slab::new(),
            handler,
            ctx: Ctx {
                registry,
                conns: ConnTable::new(),
                timers: Timers::default(),
                waker,
                stop_requested: Arc::new(AtomicBool::new(false)),
                exit: false,
                now: Instant::now(),
                pending_close: Vec::new(),
                read_again: Vec::new(),
                deferred: Vec::new(),
                link_tls: None,
            },
            read_buf: vec![0; READ_CHUNK],
            metrics: None,
            tls_reload: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Listens on `ip:port` (port 0 picks one; `ip` an IPv4 or IPv6 literal, brackets optional);
    /// accepted connections get `options` and report `tag`. Returns the bound address.
    pub fn listen(
        &mut self,
        ip: &str,
        port: u16,
        tag: ListenerTag,
        options: ConnOptions,
    ) -> Result<SocketAddr, NetError> {
        self.bind_listener(ip, port, tag, options, None, Transport::plain())
    }

    /// Like [`EventLoop::listen`], but a connection from an address `filter` does not allow is
    /// closed at accept, before the handler hears of it (with a rate-limited `warn!`).
    pub fn listen_filtered(
        &mut self,
        ip: &str,
        port: u16,
        tag: ListenerTag,
        options: ConnOptions,
        filter: &PeerFilter,
    ) -> Result<SocketAddr, NetError> {
        let transport = match &self.ctx.link_tls {
            Some(tls) => tls.listener.clone(),
            None => Transport::plain(),
        };
        self.bind_listener(ip, port, tag, options, Some(filter.clone()), transport)
    }

    /// [`EventLoop::listen_filtered`] on every IP of a list.
    pub fn listen_all_filtered(
        &mut self,
        ips: &[String],
        port: u16,
        tag: ListenerTag,
        options: ConnOptions,
        filter: &PeerFilter,
    ) -> Result<Vec<SocketAddr>, NetError> {
        ips.iter()
            .map(|ip| self.listen_filtered(ip, port, tag, options, filter))
            .collect()
    }

    /// Listens on every IP of a list with a transport other than plain TCP (TLS, WebSocket),
    /// and an allow-list when `filter` is given.
    pub fn listen_all_with(
        &mut self,
        ips: &[String],
        port: u16,
        tag: ListenerTag,
        options: ConnOptions,
        filter: Option<&PeerFilter>,
        transport: &Transport,
    ) -> Result<Vec<SocketAddr>, NetError> {
        ips.iter()
            .map(|ip| {
                self.bind_listener(ip, port, tag, options, filter.cloned(), transport.clone())
            })
            .collect()
    }

    /// Turns on mutual TLS for links between servers (`LinkTls…` conf keys): every listener
    /// bound with an allow-list (the internal ports) — already or later — takes only TLS peers
    /// with a certificate from the CA, and every [`Ctx::dial`] uses TLS.
    pub fn secure_links(&mut self, conf: &LinkTlsConf) -> Result<(), TlsError> {
        let tls = LinkTls::load(conf)?;
        for (_, listener) in &mut self.listeners {
            if listener.filter.is_some() {
                listener.transport = tls.listener.clone();
            }
        }
        info!(
            "links between servers use mutual TLS: ca={}",
            conf.ca.display()
        );
        self.ctx.link_tls = Some(Arc::new(tls));
        Ok(())
    }

    /// The flag that makes the loop reread every TLS listener's certificate and key at its
    /// next tick (a server sets it from SIGHUP).
    pub fn tls_reload_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.tls_reload)
    }

    fn bind_listener(
        &mut self,
        ip: &str,
        port: u16,
        tag: ListenerTag,
        options: ConnOptions,
        filter: Option<PeerFilter>,
        transport: Transport,
    ) -> Result<SocketAddr, NetError> {
        let text = format!("{ip}:{port}");
        // Conf lists hold bare IPs; an IPv6 one (`::1`) needs no brackets there.
        let addr = ip
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .map(|ip| SocketAddr::new(ip, port))
            .map_err(|_| NetError::BadAddress { addr: text.clone() })?;
        let mut socket =
            TcpListener::bind(addr).map_err(|source| NetError::Listen { addr, source })?;
        let local = socket
            .local_addr()
            .map_err(|source| NetError::Listen { addr, source })?;
        let entry = self.listeners.vacant_key();
        if entry >= MAX_LISTENERS {
            return Err(NetError::BadAddress { addr: text });
        }
        self.poll
            .registry()
            .register(
                &mut socket,
                Token(LISTENER_TOKEN_BASE - entry),
                Interest::READABLE,
            )
            .map_err(|source| NetError::Listen { addr, source })?;
        let over = transport.name();
        match &filter {
            Some(filter) => info!(
                "listening: addr={local} tag={} transport={over} peers={filter}",
                tag.0
            ),
            None => info!("listening: addr={local} tag={} transport={over}", tag.0),
        }
        self.listeners.insert(Listener {
            socket,
            local,
            tag,
            options,
            filter,
            refusals: RefusalLog::default(),
            transport,
        });
        Ok(local)
    }

    /// Serves `metrics`, `/healthz` and `/readyz` on `conf`'s address from this loop (see
    /// [`crate::metrics`]). Returns the bound address.
    pub fn serve_metrics(
        &mut self,
        conf: &MetricsConf,
        metrics: Metrics,
    ) -> Result<SocketAddr, NetError> {
        let addr = self.listen(
            &conf.ip,
            conf.port,
            METRICS_LISTENER,
            metrics::endpoint_options(),
        )?;
        info!("metrics endpoint: addr={addr}");
        self.metrics = Some((metrics, addr));
        Ok(addr)
    }

    /// Where the metrics endpoint listens, once served.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|(_, addr)| *addr)
    }

    /// Listens on every IP of a list (the conf's `;`-separated form, already split).
    pub fn listen_all(
        &mut self,
        ips: &[String],
        port: u16,
        tag: ListenerTag,
        options: ConnOptions,
    ) -> Result<Vec<SocketAddr>, NetError> {
        ips.iter()
            .map(|ip| self.listen(ip, port, tag, options))
            .collect()
    }

    /// The handler, for set-up before the loop runs.
    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// The context, for set-up before the loop runs (connects, timers).
    pub fn ctx_mut(&mut self) -> &mut Ctx<H::ConnData> {
        &mut self.ctx
    }

    /// The handler and the context together, for set-up that needs both.
    pub fn parts_mut(&mut self) -> (&mut H, &mut Ctx<H::ConnData>) {
        (&mut self.handler, &mut self.ctx)
    }

    /// A handle that stops this loop.
    pub fn stop_handle(&self) -> StopHandle {
        self.ctx.stop_handle()
    }

    /// Runs the loop on a new thread named `name`.
    pub fn spawn(self, name: &str) -> io::Result<LoopHandle> {
        let stop = self.stop_handle();
        let thread = thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || self.run())?;
        Ok(LoopHandle {
            stop,
            thread: Some(thread),
        })
    }

    /// Runs until stopped. Consumes the loop; connections close when it returns.
    pub fn run(mut self) -> Result<(), NetError> {
        let mut events = Events::with_capacity(1024);
        let mut next_tick = Instant::now() + TICK;
        loop {
            let timeout = if self.ctx.read_again.is_empty() {
                let deadline = self
                    .ctx
                    .timers
                    .next_deadline()
                    .map_or(next_tick, |t| t.min(next_tick));
                deadline.saturating_duration_since(Instant::now())
            } else {
                Duration::ZERO
            };
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(NetError::Poll(e));
                }
            }
            self.ctx.now = Instant::now();

            for handle in mem::take(&mut self.ctx.read_again) {
                self.readable(handle);
                self.process_closes();
            }
            for event in events.iter() {
                match event.token() {
                    WAKER_TOKEN => self.woken(),
                    Token(t) if t > LISTENER_TOKEN_BASE - MAX_LISTENERS => {
                        self.accept(LISTENER_TOKEN_BASE - t);
                    }
                    Token(t) => {
                        let h = ConnHandle(t);
                        if event.is_writable() || event.is_write_closed() || event.is_error() {
                            self.writable(h);
                        }
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            self.readable(h);
                        }
                    }
                }
                self.process_closes();
            }

            while let Some(id) = self.ctx.timers.pop_due(self.ctx.now) {
                self.handler.on_timer(&mut self.ctx, id);
                self.process_closes();
            }
            if self.ctx.now >= next_tick {
                next_tick = self.ctx.now + TICK;
                self.tick();
                self.process_closes();
            }
            self.handler.on_loop(&mut self.ctx);
            self.process_closes();
            self.flush_deferred();
            if self.ctx.exit {
                info!("event loop exiting: conns={}", self.ctx.conns.len());
                return Ok(());
            }
        }
    }

    fn woken(&mut self) {
        if self.ctx.stop_requested.swap(false, Ordering::SeqCst)
            && self.handler.on_stop(&mut self.ctx)
        {
            self.ctx.exit = true;
        }
        self.handler.on_wake(&mut self.ctx);
    }

    fn accept(&mut self, index: usize) {
        loop {
            let Some(listener) = self.listeners.get_mut(index) else {
                return;
            };
            let (tag, options) = (listener.tag, listener.options);
            let handshake_timeout = listener.transport.handshake_timeout();
            let (mut stream, peer) = match listener.socket.accept() {
                Ok(pair) => pair,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // EMFILE and friends: the pending connection stays in the backlog.
                    warn!("accept failed: tag={} err={e}", tag.0);
                    return;
                }
            };
            if listener
                .filter
                .as_ref()
                .is_some_and(|filter| !filter.allows(peer.ip()))
            {
                if let Some(unlogged) = listener.refusals.refused(Instant::now()) {
                    warn!(
                        "refused peer outside the allow-list: listener={} peer={peer} \
                         refused_unlogged={unlogged}",
                        listener.local
                    );
                }
                // Dropping the stream closes it: the peer sees EOF, nothing was read.
                drop(stream);
                continue;
            }
            let layers = match listener.transport.layers() {
                Ok(layers) => layers,
                Err(e) => {
                    warn!("cannot start the transport layers: peer={peer} err={e}");
                    continue;
                }
            };
            if let Err(e) = stream.set_nodelay(true) {
                debug!("set_nodelay failed: peer={peer} err={e}");
            }
            let entry = self.ctx.conns.vacant_key();
            if let Err(e) = self.ctx.registry.register(
                &mut stream,
                Token(entry),
                Interest::READABLE | Interest::WRITABLE,
            ) {
                warn!("cannot register accepted connection: peer={peer} err={e}");
                continue;
            }
            let mut conn = Conn::new(stream, ConnState::Open, options, H::ConnData::default());
            conn.listener = Some(tag);
            conn.peer = Some(peer);
            conn.layered = layers.map(|layers| {
                Box::new(Layered {
                    layers,
                    staged: Vec::new(),
                    handshake_deadline: self.ctx.now + handshake_timeout,
                })
            });
            let h = self.ctx.conns.insert(conn);
            debug!("accepted: handle={h} peer={peer} tag={}", tag.0);
            if tag != METRICS_LISTENER {
                self.handler.on_accept(&mut self.ctx, h, tag);
            }
            self.process_closes();
        }
    }

    fn writable(&mut self, h: ConnHandle) {
        let Some(conn) = self.ctx.conns.get_mut(h) else {
            return;
        };
        if conn.state == ConnState::Connecting {
            match conn.stream.take_error() {
                Ok(Some(e)) | Err(e) => {
                    self.ctx.close_with(h, CloseReason::ConnectFailed(e));
                    return;
                }
                Ok(None) => {}
            }
            match conn.stream.peer_addr() {
                Ok(peer) => conn.peer = Some(peer),
                // Spurious wake-up: the connect is still in progress.
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                Err(e) => {
                    self.ctx.close_with(h, CloseReason::ConnectFailed(e));
                    return;
                }
            }
            if let Err(e) = conn.stream.set_nodelay(true) {
                debug!("set_nodelay failed: handle={h} err={e}");
            }
            conn.state = ConnState::Open;
            conn.last_recv = self.ctx.now;
            debug!("connected: handle={h} peer={:?}", conn.peer);
            self.handler.on_connect(&mut self.ctx, h);
        }
        self.flush(h);
    }

    /// Writes what handlers deferred during this turn (see [`Ctx::send_deferred`]).
    fn flush_deferred(&mut self) {
        while !self.ctx.deferred.is_empty() {
            for h in mem::take(&mut self.ctx.deferred) {
                if let Some(conn) = self.ctx.conns.get_mut(h) {
                    conn.flush_queued = false;
                    self.flush(h);
                }
            }
            // A failed write closes its connection; on_close may defer more output.
            self.process_closes();
        }
    }

    fn flush(&mut self, h: ConnHandle) {
        let Some(conn) = self.ctx.conns.get_mut(h) else {
            return;
        };
        if let Some(layered) = conn.layered.as_mut().filter(|l| !l.staged.is_empty()) {
            let staged = mem::take(&mut layered.staged);
            if let Err(e) = layered.layers.seal(&staged, &mut conn.output) {
                self.ctx.close_with(h, CloseReason::Protocol(e.to_string()));
                return;
            }
        }
        if conn.state == ConnState::Connecting || conn.wire_pending() == 0 {
            return;
        }
        match write_some(&mut conn.stream, &conn.output[conn.output_pos..]) {
            Ok(n) => {
                conn.output_pos += n;
                if conn.wire_pending() == 0 {
                    // Release the memory: idle connections must cost no buffer.
                    conn.output = Vec::new();
                    conn.output_pos = 0;
                    if conn.state == ConnState::Draining {
                        self.ctx.close_with(h, CloseReason::Local);
                    }
                } else if conn.output_pos > conn.output.len() / 2 {
                    conn.output.drain(..conn.output_pos);
                    conn.output_pos = 0;
                }
            }
            Err(e) => self.ctx.close_with(h, CloseReason::Io(e)),
        }
    }

    fn readable(&mut self, h: ConnHandle) {
        for _ in 0..READS_PER_TURN {
            let Some(conn) = self.ctx.conns.get_mut(h) else {
                return;
            };
            if conn.state == ConnState::Connecting {
                return;
            }
            match conn.stream.read(&mut self.read_buf) {
                Ok(0) => {
                    self.ctx.close_with(h, CloseReason::PeerClosed);
                    return;
                }
                Ok(n) => {
                    conn.last_recv = self.ctx.now;
                    if conn.state == ConnState::Draining {
                        continue;
                    }
                    let Some(layered) = &mut conn.layered else {
                        conn.input.extend_from_slice(&self.read_buf[..n]);
                        self.deliver(h);
                        continue;
                    };
                    let mut reply = Vec::new();
                    let opened =
                        layered
                            .layers
                            .open(&self.read_buf[..n], &mut conn.input, &mut reply);
                    if !reply.is_empty() {
                        self.ctx.send_wire(h, &reply);
                    }
                    match opened {
                        Ok(Opened::Open) => self.deliver(h),
                        Ok(Opened::PeerClosed) => {
                            self.deliver(h);
                            self.ctx.close_with(h, CloseReason::PeerClosed);
                            return;
                        }
                        Err(e) => {
                            debug!("closing: handle={h} transport error: {e}");
                            self.ctx.close_with(h, CloseReason::Protocol(e.to_string()));
                            return;
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.ctx.close_with(h, CloseReason::Io(e));
                    return;
                }
            }
            if self.ctx.pending_close.iter().any(|(p, _)| *p == h) {
                return;
            }
        }
        // Budget used up with data possibly still waiting: come back next turn.
        self.ctx.read_again.push(h);
    }

    /// Hands buffered input to the handler: whole PDUs one by one, or raw bytes.
    fn deliver(&mut self, h: ConnHandle) {
        let Some(conn) = self.ctx.conns.get_mut(h) else {
            return;
        };
        let (options, internal) = (conn.options, conn.is_internal());
        let mut input = mem::take(&mut conn.input);
        match options.framing {
            Framing::Raw => {
                if input.len() > options.max_input {
                    warn!("closing: handle={h} input over {} bytes", options.max_input);
                    self.ctx
                        .close_with(h, CloseReason::Protocol("request too large".into()));
                    return;
                }
                if internal {
                    self.serve_endpoint(h, &mut input);
                } else {
                    self.handler.on_data(&mut self.ctx, h, &mut input);
                }
            }
            Framing::Pdu => {
                let mut used = 0;
                loop {
                    if self.ctx.pending_close.iter().any(|(p, _)| *p == h)
                        || !self.ctx.conns.contains(h)
                    {
                        return;
                    }
                    match Pdu::decode(&input[used..], options.max_input) {
                        Ok(Some((pdu, n))) => {
                            used += n;
                            self.handler.on_pdu(&mut self.ctx, h, pdu);
                        }
                        Ok(None) => break,
                        Err(e) => {
                            warn!("closing: handle={h} framing error: {e}");
                            self.ctx.close_with(h, CloseReason::Protocol(e.to_string()));
                            return;
                        }
                    }
                }
                input.drain(..used);
            }
        }
        if let Some(conn) = self.ctx.conns.get_mut(h) {
            if !input.is_empty() {
                // The handler may not have appended anything meanwhile; keep order anyway.
                input.append(&mut conn.input);
                conn.input = input;
            }
        }
    }

    /// Answers a complete request on a metrics connection and closes it after the answer; a
    /// request that does not parse closes it at once.
    fn serve_endpoint(&mut self, h: ConnHandle, input: &mut Vec<u8>) {
        let req = match Request::parse(input) {
            Ok(Some((req, _))) => req,
            Ok(None) => return,
            Err(e) => {
                debug!("closing metrics caller: handle={h} err={e}");
                self.ctx.close_with(h, CloseReason::Protocol(e.to_string()));
                return;
            }
        };
        input.clear();
        let probe = metrics::probe(&req);
        let readiness = match probe {
            Probe::Metrics => {
                self.handler.refresh_metrics(&self.ctx);
                None
            }
            Probe::Ready => Some(self.handler.readiness(&self.ctx)),
            Probe::Health | Probe::NotFound | Probe::NotGet => None,
        };
        let Some((metrics, _)) = &self.metrics else {
            self.ctx.close(h);
            return;
        };
        let answer = metrics::answer(probe, metrics, readiness);
        self.ctx.send(h, &answer);
        self.ctx.close_after_flush(h);
    }

    /// The 1-s sweep: TLS certificates reread when asked, heartbeats on quiet links, idle and
    /// over-age connections closed, and those whose TLS or WebSocket handshake is overdue.
    fn tick(&mut self) {
        if self.tls_reload.swap(false, Ordering::Relaxed) {
            for (_, listener) in &mut self.listeners {
                listener.transport.reload();
            }
        }
        let now = self.ctx.now;
        let mut heartbeats = Vec::new();
        let mut idle = Vec::new();
        for (h, conn) in self.ctx.conns.iter_all() {
            if let Some(timeout) = conn.options.idle_timeout {
                if now.duration_since(conn.last_recv) > timeout {
                    idle.push(h);
                    continue;
                }
            }
            if let Some(lifetime) = conn.options.lifetime {
                if now.duration_since(conn.created) > lifetime {
                    idle.push(h);
                    continue;
                }
            }
            if conn
                .layered
                .as_ref()
                .is_some_and(|l| now > l.handshake_deadline && !l.layers.is_established())
            {
                idle.push(h);
                continue;
            }
            if let Some(interval) = conn.options.heartbeat {
                if conn.state == ConnState::Open && now.duration_since(conn.last_send) >= interval {
                    heartbeats.push(h);
                }
            }
        }
        for h in idle {
            self.ctx.close_with(h, CloseReason::Timeout);
        }
        let heartbeat = Pdu::empty(CommandId::OtherHeartbeat, 0);
        for h in heartbeats {
            self.ctx.send_pdu(h, &heartbeat);
        }
    }

    fn process_closes(&mut self) {
        while !self.ctx.pending_close.is_empty() {
            for (h, reason) in mem::take(&mut self.ctx.pending_close) {
                let Some(mut conn) = self.ctx.conns.remove(h) else {
                    continue;
                };
                if let Err(e) = self.ctx.registry.deregister(&mut conn.stream) {
                    debug!("deregister failed: handle={h} err={e}");
                }
                self.ctx.read_again.retain(|r| *r != h);
                debug!("closed: handle={h} peer={:?} reason={reason}", conn.peer);
                if !conn.is_internal() {
                    self.handler.on_close(&mut self.ctx, h, conn.data, reason);
                }
            }
        }
    }
}
