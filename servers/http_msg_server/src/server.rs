//! The http_msg_server process: the HTTP listener, the db_proxy and route_server links, the
//! reactor handler and its lifecycle.
//!
//! db_proxy links: `ConcurrentDBConnCnt` per configured entry; the first half of the entries
//! forms the login pool and the rest the business pool, and requests go to a random open
//! business link, else a random open login link (BEHAVIOUR §1.3, without the original's spin
//! loop, D-MS-6). A link that announced IMStopReceivePacket is not chosen again. route_server
//! links: the oldest open one is the master; it gets IMRoleSet {master 1} when it becomes master
//! and every change-member notification.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use log::{debug, info};
use netlib::{
    CloseReason, ConnHandle, ConnOptions, Ctx, Dialer, EventLoop, Handler, Link, LinkStates,
    ListenerTag, Metrics, NetError, Readiness, StopHandle, TimerId,
};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use rand::seq::IndexedRandom;
use teamtalk_proto::pb::server::ImRoleSet;
use teamtalk_proto::{CommandId, Pdu};

use crate::config::Config;
use crate::handler;
use crate::http::{self, MAX_REQUEST, Pending};
use crate::peer::{HttpConn, HttpState, Peer};

const HTTP_PORT: ListenerTag = ListenerTag(0);
/// Period of the reconnect and request-timeout checks.
const TICK: Duration = Duration::from_secs(1);

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A listener or the poller failed.
    #[error("network failure")]
    Net(#[from] NetError),
    /// A TLS certificate, key or CA file could not be used.
    #[error("tls: {0}")]
    Tls(#[from] netlib::transport::TlsError),
    /// The loop thread could not be started.
    #[error("cannot start the server thread")]
    Spawn(#[source] io::Error),
}

/// The reactor handler.
#[derive(Debug)]
pub(crate) struct HttpMsgServer {
    pub(crate) config: Config,
    db: Dialer,
    /// Number of leading db links forming the login pool.
    login_links: usize,
    pub(crate) stopped_db: HashSet<ConnHandle>,
    route: Dialer,
    pub(crate) master_route: Option<ConnHandle>,
    pub(crate) pending: HashMap<u32, Pending>,
    last_http_id: u32,
    tick: Option<TimerId>,
    pub(crate) metrics: ApiMetrics,
}

/// What http_msg_server exports on its metrics endpoint.
#[derive(Debug)]
pub(crate) struct ApiMetrics {
    /// API calls by outcome: answered here, refused (key or address), forwarded to db_proxy,
    /// closed without answer, db_proxy answer overdue.
    pub(crate) answered: Counter,
    pub(crate) refused: Counter,
    pub(crate) forwarded: Counter,
    pub(crate) closed: Counter,
    pub(crate) timed_out: Counter,
    /// Calls waiting for db_proxy (set before a scrape).
    pending: Gauge,
    links: LinkStates,
}

impl ApiMetrics {
    fn new(metrics: &mut Metrics) -> Self {
        let [answered, refused, forwarded, closed, timed_out] = metrics.counters(
            "api_requests",
            "Admin API calls by outcome",
            "result",
            ["answered", "refused", "forwarded", "closed", "timed_out"],
        );
        Self {
            answered,
            refused,
            forwarded,
            closed,
            timed_out,
            pending: metrics.gauge("pending_requests", "API calls waiting for db_proxy"),
            links: metrics.link_states(),
        }
    }
}

impl HttpMsgServer {
    fn new(config: Config, now: Instant, metrics: &mut Metrics) -> Self {
        let db_peers: Vec<(String, u16)> = config
            .db_servers
            .iter()
            .flat_map(|entry| std::iter::repeat_n(entry.clone(), config.concurrent_db_conn_cnt))
            .collect();
        Self {
            login_links: config.db_servers.len() / 2 * config.concurrent_db_conn_cnt,
            db: Dialer::new(&db_peers, ConnOptions::server_link(), now),
            route: Dialer::new(&config.route_servers, ConnOptions::server_link(), now),
            config,
            stopped_db: HashSet::new(),
            master_route: None,
            pending: HashMap::new(),
            last_http_id: 0,
            tick: None,
            metrics: ApiMetrics::new(metrics),
        }
    }

    /// A random usable db_proxy link: business pool first, then login pool.
    pub(crate) fn pick_db(&self) -> Option<ConnHandle> {
        let usable = |links: &[Link]| -> Vec<ConnHandle> {
            links
                .iter()
                .filter_map(Link::open_handle)
                .filter(|h| !self.stopped_db.contains(h))
                .collect()
        };
        let (login, business) = self.db.links().split_at(self.login_links);
        let mut pool = usable(business);
        if pool.is_empty() {
            pool = usable(login);
        }
        pool.choose(&mut rand::rng()).copied()
    }

    fn next_http_id(&mut self) -> u32 {
        // Counter from 1 like the original; 0 is skipped on wrap-around.
        self.last_http_id = self.last_http_id.wrapping_add(1).max(1);
        self.last_http_id
    }

    fn update_master_route(&mut self, ctx: &mut Ctx<Peer>) {
        self.master_route = self.route.oldest_open();
        if let Some(master) = self.master_route {
            info!("route_server master: handle={master}");
            ctx.send_pdu(
                master,
                &Pdu::new(CommandId::OtherRoleSet, 0, &ImRoleSet { master: 1 }),
            );
        }
    }
}

impl Handler for HttpMsgServer {
    type ConnData = Peer;

    fn on_accept(&mut self, ctx: &mut Ctx<Peer>, h: ConnHandle, _listener: ListenerTag) {
        let id = self.next_http_id();
        if let Some(data) = ctx.data_mut(h) {
            *data = Peer::Http(HttpConn {
                id,
                state: HttpState::Reading,
            });
        }
    }

    fn on_connect(&mut self, ctx: &mut Ctx<Peer>, h: ConnHandle) {
        let now = ctx.now();
        if self.db.connected(h, now).is_some() {
            return;
        }
        if self.route.connected(h, now).is_some() && self.master_route.is_none() {
            self.update_master_route(ctx);
        }
    }

    fn on_data(&mut self, ctx: &mut Ctx<Peer>, h: ConnHandle, input: &mut Vec<u8>) {
        http::on_data(self, ctx, h, input);
    }

    fn on_pdu(&mut self, ctx: &mut Ctx<Peer>, h: ConnHandle, pdu: Pdu) {
        if self.db.index_of(h).is_some() {
            handler::dispatch_db(self, ctx, h, pdu);
        } else {
            debug!(
                "ignoring route_server command: handle={h} command=0x{:04x}",
                pdu.header.command_id
            );
        }
    }

    fn on_close(&mut self, ctx: &mut Ctx<Peer>, h: ConnHandle, data: Peer, reason: CloseReason) {
        let now = ctx.now();
        match data {
            Peer::Http(conn) => {
                debug!("http caller closed: handle={h} reason={reason}");
                self.pending.remove(&conn.id);
            }
            Peer::Link => {
                if self.db.closed(h, now).is_some() {
                    self.stopped_db.remove(&h);
                    info!("db_proxy link closed: handle={h} reason={reason}");
                } else if self.route.closed(h, now).is_some() {
                    info!("route_server link closed: handle={h} reason={reason}");
                    if self.master_route == Some(h) {
                        self.update_master_route(ctx);
                    }
                }
            }
        }
    }

    fn refresh_metrics(&mut self, _ctx: &Ctx<Peer>) {
        let m = &self.metrics;
        m.pending
            .set(i64::try_from(self.pending.len()).unwrap_or(i64::MAX));
        for link in self.db.links() {
            m.links.set("db_proxy", link);
        }
        for link in self.route.links() {
            m.links.set("route", link);
        }
    }

    /// Ready with a db_proxy link: every API call goes to db_proxy.
    fn readiness(&self, _ctx: &Ctx<Peer>) -> Readiness {
        Readiness::ready().require("db_proxy", self.pick_db().is_some())
    }

    fn on_timer(&mut self, ctx: &mut Ctx<Peer>, timer: TimerId) {
        if Some(timer) == self.tick {
            self.db.tick(ctx);
            self.route.tick(ctx);
            http::expire_pending(self, ctx);
        }
    }
}

/// A bound http_msg_server, ready to run.
#[derive(Debug)]
pub struct Server {
    event_loop: EventLoop<HttpMsgServer>,
    addrs: Vec<SocketAddr>,
}

/// A http_msg_server running on its own thread (see [`netlib::ServerHandle`]).
pub type ServerHandle = netlib::ServerHandle<Vec<SocketAddr>>;

impl Server {
    /// Binds the HTTP listeners and starts dialling db_proxy and route_server.
    pub fn bind(config: Config) -> Result<Self, ServerError> {
        let listen_ips = config.listen_ips.clone();
        let port = config.listen_port;
        let http_timeout = config.http_timeout;
        if config.app_key.is_none() && config.allow_ips.is_none() {
            info!(
                "neither AppKey nor AllowIP set: answering loopback callers only, others get \
                 error 6"
            );
        }
        let metrics_conf = config.metrics.clone();
        let link_tls = config.link_tls.clone();
        let mut metrics = Metrics::new();
        let mut event_loop =
            EventLoop::new(HttpMsgServer::new(config, Instant::now(), &mut metrics))?;
        let addrs = event_loop.listen_all(
            &listen_ips,
            port,
            HTTP_PORT,
            ConnOptions {
                // The whole request and its answer, however slowly the caller sends (slowloris).
                lifetime: Some(http_timeout),
                ..ConnOptions::raw(MAX_REQUEST, http_timeout)
            },
        )?;
        if let Some(tls) = &link_tls {
            event_loop.secure_links(tls)?;
        }
        if let Some(conf) = &metrics_conf {
            event_loop.serve_metrics(conf, metrics)?;
        }
        let (hms, ctx) = event_loop.parts_mut();
        hms.db.tick(ctx);
        hms.route.tick(ctx);
        hms.tick = Some(ctx.add_timer(TICK, true));
        Ok(Self { event_loop, addrs })
    }

    /// The bound HTTP addresses.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// A handle that stops the server from another thread or a signal.
    pub fn stop_handle(&self) -> StopHandle {
        self.event_loop.stop_handle()
    }

    /// Runs the server on this thread until stopped.
    pub fn run(self) -> Result<(), ServerError> {
        Ok(self.event_loop.run()?)
    }

    /// Runs the server on a thread named `http_msg_server`.
    pub fn spawn(self) -> Result<ServerHandle, ServerError> {
        ServerHandle::spawn(self.event_loop, "http_msg_server", self.addrs)
            .map_err(ServerError::Spawn)
    }
}
