//! The db_proxy_server process: the reactor owning the msg_server / http_msg_server links, the
//! worker pool running handlers, and the sync center.
//!
//! Flow: a PDU arrives on a link → queued on the link → when the link is idle its next request
//! (or run of messages) goes to the worker pool → the answers come back through the response
//! queue, which wakes the reactor → they are written in request order and the link's next
//! requests are dispatched. One link runs one batch at a time; links run in parallel. Answers
//! for a link that closed (or whose handle now belongs to a newer link, told apart by serial
//! number) are dropped.
//!
//! Stop (SIGTERM, or [`ServerHandle::shutdown`]): every link gets IMStopReceivePacket, and the
//! loop exits after the grace period (4 s, as the original) so in-flight answers still go out.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use log::{debug, info, warn};
use netlib::{
    CloseReason, ConnHandle, ConnOptions, Ctx, EventLoop, Handler, ListenerTag, Metrics, NetError,
    Readiness, ResponseQueue, StopHandle, TimerId,
};
use teamtalk_proto::pb::server::ImStopReceivePacket;
use teamtalk_proto::{CommandId, Pdu};

use crate::config::Config;
use crate::metrics::LinkMetrics;
use crate::model::resend::Liveness;
use crate::peer::server_link::{QueueBounds, ServerLink};
use crate::store::{Store, StoreError};
use crate::sync_center::SyncCenter;
use crate::worker::{self, Answer, LinkId, Task, Workers};

/// Most consecutive messages of one link stored in one transaction.
const MAX_BATCH: usize = 256;
/// Tag of the one listener.
const LINK_LISTENER: ListenerTag = ListenerTag(0);

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// MySQL or Redis could not be reached at start-up.
    #[error("cannot open storage")]
    Store(#[from] StoreError),
    /// The reactor or a listener failed.
    #[error("network failure")]
    Net(#[from] NetError),
    /// A TLS certificate, key or CA file could not be used.
    #[error("tls: {0}")]
    Tls(#[from] netlib::transport::TlsError),
    /// A thread could not be started.
    #[error("cannot start thread")]
    Thread(#[from] std::io::Error),
    /// The server thread panicked.
    #[error("server thread panicked")]
    Panicked,
}

/// Workers to run: `ThreadNum`, but no more than the smallest pool a task draws from. A task
/// holds at most one connection of each pool at a time, so with this many workers a checkout
/// never waits for another task (the original let its surplus threads block on the pools).
fn worker_count(config: &Config) -> usize {
    let smallest = [config.master.max_conns, config.slave.max_conns]
        .into_iter()
        .chain(config.caches.iter().map(|c| c.max_conns))
        .min()
        .unwrap_or(1) as usize;
    let count = config.thread_num.min(smallest).max(1);
    if count < config.thread_num {
        info!(
            "running fewer workers than ThreadNum: workers={count} thread_num={} \
             smallest_pool={smallest}",
            config.thread_num
        );
    }
    count
}

/// A bound server, ready to run.
#[derive(Debug)]
pub struct Server {
    event_loop: EventLoop<ProxyHandler>,
    addrs: Vec<SocketAddr>,
    sync: SyncCenter,
    alive: Liveness,
}

impl Server {
    /// Opens the pools, starts the workers and the sync center, and binds every listener.
    pub fn bind(config: Config) -> Result<Self, ServerError> {
        let store = Arc::new(Store::open(&config)?);
        let mut metrics = Metrics::new();
        store.metrics.register(&mut metrics);
        let mut event_loop = EventLoop::new(ProxyHandler {
            metrics: LinkMetrics::new(&mut metrics),
            store: Arc::clone(&store),
            workers: None,
            answers: None,
            next_serial: 0,
            stop_grace: config.stop_grace,
            stop_timer: None,
            link_queue: config.policy.link_queue,
            admin_peers: config.policy.admin_peers.clone(),
        })?;
        let queue = ResponseQueue::new(event_loop.ctx_mut().waker());
        let workers = worker::start(worker_count(&config), Arc::clone(&store), queue.sender())?;
        let (handler, _) = event_loop.parts_mut();
        handler.workers = Some(workers);
        handler.answers = Some(queue);
        let alive = Liveness::start(Arc::clone(&store))?;
        let sync = SyncCenter::start(store)?;
        let peers = config.peer_filter();
        if peers.is_default() {
            info!(
                "AllowedPeerIPs not set: links accepted from loopback and private addresses only"
            );
        }
        let addrs = event_loop.listen_all_filtered(
            &config.listen_ips,
            config.listen_port,
            LINK_LISTENER,
            ConnOptions::server_link(),
            &peers,
        )?;
        info!(
            "db_proxy_server listening: addrs={addrs:?} threads={}",
            config.thread_num
        );
        if let Some(tls) = &config.link_tls {
            event_loop.secure_links(tls)?;
        }
        if let Some(conf) = &config.metrics {
            event_loop.serve_metrics(conf, metrics)?;
        }
        Ok(Self {
            event_loop,
            addrs,
            sync,
            alive,
        })
    }

    /// The bound listen addresses.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Where the metrics endpoint listens, when the conf turned it on.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.event_loop.metrics_addr()
    }

    /// A handle that stops the server from another thread (or a signal).
    pub fn stop_handle(&self) -> StopHandle {
        self.event_loop.stop_handle()
    }

    /// Runs until stopped; then waits for the workers and the sync center.
    pub fn run(self) -> Result<(), ServerError> {
        let Self {
            event_loop,
            sync,
            alive,
            ..
        } = self;
        // The handler, and with it the worker pool, is dropped (joined) when the loop returns.
        let result = event_loop.run();
        drop(sync);
        // After the workers: no claim of this process is in use any more.
        drop(alive);
        result.map_err(ServerError::from)
    }

    /// Runs the server on a thread named `db_proxy_server`.
    pub fn spawn(self) -> Result<ServerHandle, ServerError> {
        let stop = self.stop_handle();
        let addrs = self.addrs.clone();
        let metrics_addr = self.metrics_addr();
        let thread = thread::Builder::new()
            .name("db_proxy_server".into())
            .spawn(move || self.run())?;
        Ok(ServerHandle {
            stop,
            addrs,
            metrics_addr,
            thread: Some(thread),
        })
    }
}

/// A server running on its own thread.
#[derive(Debug)]
pub struct ServerHandle {
    stop: StopHandle,
    addrs: Vec<SocketAddr>,
    metrics_addr: Option<SocketAddr>,
    thread: Option<JoinHandle<Result<(), ServerError>>>,
}

impl ServerHandle {
    /// The bound listen addresses.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Where the metrics endpoint listens, when the conf turned it on.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// A handle that stops the server.
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Stops the server (stop notice, grace period) and waits for it to end.
    pub fn shutdown(mut self) -> Result<(), ServerError> {
        self.stop.stop();
        self.join()
    }

    fn join(&mut self) -> Result<(), ServerError> {
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(ServerError::Panicked),
            None => Ok(()),
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.stop.stop();
            let _ = self.join();
        }
    }
}

/// The reactor side: queues requests per link, hands them to workers, writes answers.
#[derive(Debug)]
struct ProxyHandler {
    /// The reactor's metrics.
    metrics: LinkMetrics,
    /// The pools, for their health (`/readyz`).
    store: Arc<Store>,
    workers: Option<Workers>,
    answers: Option<ResponseQueue<Answer>>,
    next_serial: u64,
    stop_grace: std::time::Duration,
    stop_timer: Option<TimerId>,
    /// What one link may have waiting (`Policy::link_queue`).
    link_queue: QueueBounds,
    /// Addresses whose links may act as user 0 (`Policy::admin_peers`).
    admin_peers: Vec<std::net::IpAddr>,
}

impl ProxyHandler {
    /// Hands the link's next requests to a worker if the link is idle.
    fn dispatch(&self, ctx: &mut Ctx<ServerLink>, conn: ConnHandle) {
        let Some(workers) = &self.workers else {
            return;
        };
        let Some(link) = ctx.data_mut(conn) else {
            return;
        };
        let Some(pdus) = link.next_batch(MAX_BATCH) else {
            return;
        };
        let link_id = LinkId {
            handle: conn,
            serial: link.serial,
        };
        let admin = !self.admin_peers.is_empty()
            && ctx
                .conn(conn)
                .and_then(|c| c.peer())
                .is_some_and(|p| self.admin_peers.contains(&p.ip()));
        let task = Task {
            link: link_id,
            pdus,
            admin,
        };
        if workers.submit(task).is_err() {
            // Only possible while shutting down.
            if let Some(link) = ctx.data_mut(conn) {
                link.finish();
            }
        }
    }
}

impl Handler for ProxyHandler {
    type ConnData = ServerLink;

    fn on_accept(&mut self, ctx: &mut Ctx<ServerLink>, conn: ConnHandle, _: ListenerTag) {
        // Peers outside AllowedPeerIPs were already closed by the listener (D-AUTH-10).
        self.next_serial += 1;
        if let Some(link) = ctx.data_mut(conn) {
            *link = ServerLink::new(self.next_serial);
        }
        info!(
            "server link accepted: handle={conn} peer={:?}",
            ctx.conn(conn).and_then(|c| c.peer())
        );
    }

    fn on_pdu(&mut self, ctx: &mut Ctx<ServerLink>, conn: ConnHandle, pdu: Pdu) {
        // Heartbeats only refresh the link's receive clock, which the reactor already did.
        if pdu.header.command_id == CommandId::OtherHeartbeat as u16 {
            return;
        }
        debug!(
            "request: handle={conn} cmd=0x{:04x} seq={}",
            pdu.header.command_id, pdu.header.seq_num
        );
        let Some(link) = ctx.data_mut(conn) else {
            return;
        };
        if !link.push(pdu, self.link_queue) {
            // Shed, not closed: the link is shared by many users (see `peer::server_link`).
            // Logged at the first shed request and then at powers of two.
            self.metrics.shed.inc();
            let shed = link.shed();
            if shed.is_power_of_two() {
                warn!(
                    "link queue full, shedding requests: handle={conn} shed={shed} \
                     queued={} bounds={:?}",
                    link.in_flight(),
                    self.link_queue
                );
            }
            return;
        }
        self.dispatch(ctx, conn);
    }

    fn on_close(
        &mut self,
        _: &mut Ctx<ServerLink>,
        conn: ConnHandle,
        link: ServerLink,
        reason: CloseReason,
    ) {
        info!(
            "server link closed: handle={conn} reason={reason} unanswered={} shed={}",
            link.in_flight(),
            link.shed()
        );
    }

    fn on_wake(&mut self, ctx: &mut Ctx<ServerLink>) {
        let Some(answers) = &self.answers else {
            return;
        };
        let done: Vec<Answer> = answers.drain().collect();
        for answer in done {
            let h = answer.link.handle;
            match ctx.data_mut(h) {
                Some(link) if link.serial == answer.link.serial => link.finish(),
                _ => {
                    self.metrics.answers_dropped.inc();
                    debug!("dropping answers for a closed link: handle={h}");
                    continue;
                }
            }
            for pdu in &answer.pdus {
                if !ctx.send_pdu(h, pdu) {
                    warn!(
                        "answer not sent: handle={h} cmd=0x{:04x}",
                        pdu.header.command_id
                    );
                }
            }
            self.dispatch(ctx, h);
        }
    }

    fn refresh_metrics(&mut self, ctx: &Ctx<ServerLink>) {
        self.metrics.set(
            ctx.conns().len(),
            ctx.conns().iter().map(|(_, c)| c.data.in_flight()),
            self.workers.as_ref().map_or(0, Workers::backlog),
        );
    }

    /// Ready while every pool answered its last use.
    fn readiness(&self, _: &Ctx<ServerLink>) -> Readiness {
        self.store
            .metrics
            .pools_down()
            .fold(Readiness::ready(), |r, pool| r.require(pool, false))
    }

    fn on_stop(&mut self, ctx: &mut Ctx<ServerLink>) -> bool {
        let notice = Pdu::new(
            CommandId::OtherStopRecvPacket,
            0,
            &ImStopReceivePacket { result: 0 },
        );
        let links: Vec<ConnHandle> = ctx.conns().iter().map(|(h, _)| h).collect();
        info!(
            "stopping: notifying links={} grace={:?}",
            links.len(),
            self.stop_grace
        );
        for h in links {
            ctx.send_pdu(h, &notice);
        }
        if self.stop_grace.is_zero() {
            return true;
        }
        self.stop_timer = Some(ctx.add_timer(self.stop_grace, false));
        false
    }

    fn on_timer(&mut self, ctx: &mut Ctx<ServerLink>, timer: TimerId) {
        if self.stop_timer == Some(timer) {
            info!("stop grace period over, exiting");
            ctx.exit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_are_capped_by_the_smallest_pool() {
        let conf = netlib::Conf::parse(include_str!("../../../conf/dbproxyserver.conf"));
        let mut config = Config::from_conf(&conf).unwrap();
        config.thread_num = 48;
        assert_eq!(worker_count(&config), 16);
        config.thread_num = 4;
        assert_eq!(worker_count(&config), 4);
        config.caches[1].max_conns = 2;
        config.thread_num = 48;
        assert_eq!(worker_count(&config), 2);
    }
}
