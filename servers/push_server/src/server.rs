//! The push_server process: the listener for msg_server sessions, the db_proxy links dead
//! tokens are cleared through, the reactor handler and its lifecycle.
//!
//! A session is closed 30 s after it last sent anything (the original counted heartbeats and
//! push requests, the only commands a session may send without being closed).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use netlib::{
    CloseReason, ConnHandle, ConnOptions, Ctx, Dialer, EventLoop, Handler, ListenerTag, Metrics,
    NetError, StopHandle, TimerId,
};
use teamtalk_proto::CommandId;
use teamtalk_proto::Pdu;
use teamtalk_proto::pb::server::ImClearDeviceTokenReq;

use crate::config::Config;
use crate::delivery::{Delivery, DeliveryError};
use crate::handler;
use crate::metrics::PushMetrics;
use crate::push::DeadToken;
use crate::sink::PushSink;
use crate::stats::{PushStats, StatsSnapshot};

const SESSION_PORT: ListenerTag = ListenerTag(0);
/// Sessions are closed after this long without input.
const SESSION_TIMEOUT: Duration = Duration::from_secs(30);
/// How often links are redialled and dead tokens sent to db_proxy.
const TICK: Duration = Duration::from_secs(1);

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The listener or the poller failed.
    #[error("network failure")]
    Net(#[from] NetError),
    /// A TLS certificate, key or CA file could not be used.
    #[error("tls: {0}")]
    Tls(#[from] netlib::transport::TlsError),
    /// The loop thread could not be started.
    #[error("cannot start the server thread")]
    Spawn(#[source] io::Error),
    /// The delivery side could not start (credentials, TLS, thread).
    #[error("push delivery")]
    Delivery(#[from] DeliveryError),
}

/// The reactor handler. Connections are msg_server sessions, except the db_proxy links the
/// dialer owns.
pub(crate) struct PushServer {
    pub(crate) sink: Box<dyn PushSink>,
    pub(crate) stats: Arc<PushStats>,
    db: Dialer,
    dead: Receiver<DeadToken>,
    tick: Option<TimerId>,
    metrics: PushMetrics,
}

impl std::fmt::Debug for PushServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushServer")
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

impl PushServer {
    /// Sends the clear requests for tokens the providers called dead over a db_proxy link;
    /// without one they are dropped (the next push to a dead token reports it again).
    fn clear_dead_tokens(&mut self, ctx: &mut Ctx<()>) {
        let link = self.db.open_handles().next();
        for dead in self.dead.try_iter() {
            let Some(link) = link else {
                warn!(
                    "no db_proxy link, dead token not cleared: user={}",
                    dead.user_id
                );
                continue;
            };
            let req = ImClearDeviceTokenReq {
                user_id: dead.user_id,
                device_token: dead.token,
            };
            ctx.send_pdu(
                link,
                &Pdu::new(CommandId::OtherClearDeviceTokenReq, 0, &req),
            );
            self.stats.token_cleared();
        }
    }
}

impl Handler for PushServer {
    type ConnData = ();

    fn on_accept(&mut self, _ctx: &mut Ctx<()>, h: ConnHandle, _listener: ListenerTag) {
        info!("push session opened: handle={h}");
    }

    fn on_connect(&mut self, ctx: &mut Ctx<()>, h: ConnHandle) {
        if self.db.connected(h, ctx.now()).is_some() {
            info!("db_proxy link open: handle={h}");
        }
    }

    fn on_pdu(&mut self, ctx: &mut Ctx<()>, h: ConnHandle, pdu: Pdu) {
        if self.db.index_of(h).is_some() {
            // db_proxy only ever sends heartbeats here.
            return;
        }
        handler::dispatch(self, ctx, h, pdu);
    }

    fn refresh_metrics(&mut self, ctx: &Ctx<()>) {
        let sessions = ctx
            .conns()
            .iter()
            .filter(|(h, _)| self.db.index_of(*h).is_none())
            .count();
        self.metrics
            .refresh(sessions, self.db.links(), &self.stats.snapshot());
    }

    fn on_close(&mut self, ctx: &mut Ctx<()>, h: ConnHandle, _data: (), reason: CloseReason) {
        if self.db.closed(h, ctx.now()).is_some() {
            info!("db_proxy link closed: handle={h} reason={reason}");
        } else {
            debug!("push session closed: handle={h} reason={reason}");
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<()>, timer: TimerId) {
        if Some(timer) == self.tick {
            self.db.tick(ctx);
            self.clear_dead_tokens(ctx);
        }
    }
}

/// A bound push_server, ready to run.
#[derive(Debug)]
pub struct Server {
    event_loop: EventLoop<PushServer>,
    addrs: Vec<SocketAddr>,
    stats: Arc<PushStats>,
}

/// A push_server running on its own thread.
#[derive(Debug)]
pub struct ServerHandle {
    inner: netlib::ServerHandle<Vec<SocketAddr>>,
    stats: Arc<PushStats>,
}

impl ServerHandle {
    /// The bound address (`ListenIP` is a single address).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        self.inner.local_addrs()
    }

    /// A handle that stops the server from elsewhere.
    pub fn stop_handle(&self) -> StopHandle {
        self.inner.stop_handle()
    }

    /// Where the metrics endpoint listens, when the conf turned it on.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.inner.metrics_addr()
    }

    /// The delivery counters now.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// Stops the loop (every connection closes, queued pushes are dropped) and waits for it.
    pub fn shutdown(self) -> Result<(), NetError> {
        self.inner.shutdown()
    }
}

impl Server {
    /// Binds the listener, starts the delivery thread with the configured providers and
    /// starts dialling db_proxy.
    pub fn bind(config: Config) -> Result<Self, ServerError> {
        let stats = Arc::new(PushStats::default());
        let (dead_tx, dead_rx) = mpsc::channel();
        let delivery = Delivery::start(&config.delivery, Arc::clone(&stats), dead_tx)?;
        Self::bind_parts(config, Box::new(delivery), stats, dead_rx)
    }

    /// Binds the listener with pushes going to `sink` instead of the providers (tests that
    /// look only at the msg_server side); no dead tokens are reported.
    pub fn bind_with_sink(config: Config, sink: Box<dyn PushSink>) -> Result<Self, ServerError> {
        let (_, dead) = mpsc::channel();
        Self::bind_parts(config, sink, Arc::new(PushStats::default()), dead)
    }

    fn bind_parts(
        config: Config,
        sink: Box<dyn PushSink>,
        stats: Arc<PushStats>,
        dead: Receiver<DeadToken>,
    ) -> Result<Self, ServerError> {
        if config.db_servers.is_empty() {
            info!("no DBServerIP1: dead device tokens are not cleared");
        }
        let mut metrics = Metrics::new();
        let handler = PushServer {
            sink,
            stats: Arc::clone(&stats),
            db: Dialer::new(
                &config.db_servers,
                ConnOptions::server_link(),
                Instant::now(),
            ),
            dead,
            tick: None,
            metrics: PushMetrics::new(&mut metrics),
        };
        let mut event_loop = EventLoop::new(handler)?;
        let options = ConnOptions {
            idle_timeout: Some(SESSION_TIMEOUT),
            ..ConnOptions::pdu()
        };
        if config.allowed_peers.is_default() {
            info!(
                "AllowedPeerIPs not set: sessions accepted from loopback and private addresses only"
            );
        }
        let addr = event_loop.listen_filtered(
            &config.listen_ip,
            config.listen_port,
            SESSION_PORT,
            options,
            &config.allowed_peers,
        )?;
        if let Some(tls) = &config.link_tls {
            event_loop.secure_links(tls)?;
        }
        if let Some(conf) = &config.metrics {
            event_loop.serve_metrics(conf, metrics)?;
        }
        let (handler, ctx) = event_loop.parts_mut();
        handler.db.tick(ctx);
        handler.tick = Some(ctx.add_timer(TICK, true));
        Ok(Self {
            event_loop,
            addrs: vec![addr],
            stats,
        })
    }

    /// The bound address (`ListenIP` is a single address).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The delivery counters now.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// A handle that stops the server from another thread or a signal.
    pub fn stop_handle(&self) -> StopHandle {
        self.event_loop.stop_handle()
    }

    /// Runs the server on this thread until stopped.
    pub fn run(self) -> Result<(), ServerError> {
        Ok(self.event_loop.run()?)
    }

    /// Runs the server on a thread named `push_server`.
    pub fn spawn(self) -> Result<ServerHandle, ServerError> {
        let inner = netlib::ServerHandle::spawn(self.event_loop, "push_server", self.addrs)
            .map_err(ServerError::Spawn)?;
        Ok(ServerHandle {
            inner,
            stats: self.stats,
        })
    }
}
