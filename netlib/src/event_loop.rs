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

use std::io::{self, Read};
use std::mem;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;
use teamtalk_proto::{CommandId, Pdu};

use crate::conn::Layered;
use crate::conn::{
    CloseReason, Conn, ConnHandle, ConnOptions, ConnState, ConnTable, Framing, ListenerTag,
};
use crate::ctx::{Ctx, write_some};
use crate::handle::{LoopHandle, StopHandle};
use crate::handler::Handler;
use crate::http::Request;
use crate::metrics::{self, METRICS_LISTENER, Metrics, MetricsConf, Probe};
use crate::peer_filter::{PeerFilter, RefusalLog};
use crate::timer::Timers;
use crate::transport::{LinkTls, LinkTlsConf, TlsError, Transport};
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
