//! The file_server process: its two listeners, the reactor handler and its lifecycle.
//!
//! One loop serves both ports. msg_server links are closed after 30 s without input and never
//! receive heartbeats from us (we only echo theirs); client links are closed after 120 s without
//! input (PROTOCOL §6.1; both limits are `Config` fields). Every 10 s idle tasks are expired.
//! Every second the per-connection deadlines are checked (login, whole PDUs, see `peer.rs`).
//! The offline store is swept at start-up and then hourly: files past their retention period
//! are deleted (and, at start-up, files left incomplete by an interrupted upload), and the
//! disk budget is recounted from what is on disk.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use log::{info, warn};
use netlib::{
    CloseReason, ConnHandle, ConnOptions, Ctx, EventLoop, Handler, ListenerTag, NetError,
    StopHandle, TimerId,
};
use teamtalk_proto::Pdu;
use teamtalk_proto::pb::base_define::IpAddr;

use crate::config::{Config, Limits};
use crate::handler;
use crate::metrics::FileMetrics;
use crate::offline::{DiskBudget, OfflineStore};
use crate::peer::{Peer, PeerData};
use crate::task::{TaskState, TaskTable};

const CLIENT_PORT: ListenerTag = ListenerTag(0);
const MSG_SERVER_PORT: ListenerTag = ListenerTag(1);
/// Period of the task expiry sweep.
const TASK_SWEEP: Duration = Duration::from_secs(10);
/// Period of the offline store's retention sweep.
const STORE_SWEEP: Duration = Duration::from_secs(60 * 60);
/// Period of the per-connection deadline check.
const DEADLINE_SWEEP: Duration = Duration::from_secs(1);

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

/// The addresses the server listens on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalAddrs {
    /// Client port, one per `ClientListenIP`.
    pub client: Vec<SocketAddr>,
    /// msg_server port.
    pub msg_server: SocketAddr,
}

/// The reactor handler: tasks, the offline store and the advertised address list.
#[derive(Debug)]
pub(crate) struct FileServer {
    pub(crate) advertised: Vec<IpAddr>,
    pub(crate) tasks: TaskTable,
    pub(crate) store: OfflineStore,
    pub(crate) budget: DiskBudget,
    pub(crate) limits: Limits,
    task_timeout: Duration,
    client_timeout: Duration,
    msg_server_timeout: Duration,
    sweep: Option<TimerId>,
    store_sweep: Option<TimerId>,
    deadline_sweep: Option<TimerId>,
    pub(crate) metrics: FileMetrics,
}

impl FileServer {
    fn expire_tasks(&mut self, ctx: &mut Ctx<PeerData>) {
        for task in self.tasks.expire(ctx.now(), self.task_timeout) {
            self.metrics.expired.inc();
            info!("task expired: task={} state={:?}", task.id, task.state());
            for h in task.conns() {
                ctx.close_after_flush(h);
            }
            self.budget.release(task.reserved);
            if task.state() == TaskState::Uploading {
                if let Err(e) = self.store.remove(&task.id) {
                    warn!("cannot delete partial upload: task={} err={e}", task.id);
                }
            }
        }
    }

    /// Deletes stored files past the retention period (and, `at_start`, incomplete ones: no
    /// upload can be running yet) and recounts the disk budget from what stays.
    fn sweep_store(&mut self, at_start: bool) {
        let now = SystemTime::now();
        let mut stored = 0;
        for file in self.store.scan() {
            // An upload in progress is accounted for by its reservation.
            if self
                .tasks
                .get(&file.task_id)
                .is_some_and(|t| t.reserved > 0)
            {
                continue;
            }
            let age = now.duration_since(file.modified).unwrap_or_default();
            let why = if age > self.limits.offline_retention {
                Some("retention period over")
            } else if at_start && self.store.open(&file.task_id).is_err() {
                Some("incomplete")
            } else {
                None
            };
            let Some(why) = why else {
                stored += file.len;
                continue;
            };
            match self.store.remove(&file.task_id) {
                Ok(()) => info!("offline file deleted: task={} why={why}", file.task_id),
                Err(e) => {
                    warn!("cannot delete offline file: task={} err={e}", file.task_id);
                    stored += file.len;
                }
            }
        }
        self.budget.set_stored(stored);
        info!(
            "offline store swept: stored={stored} available={}",
            self.budget.available()
        );
    }

    /// Closes connections past a deadline: a client that has not logged in within the login
    /// limit, and any connection whose last whole PDU is older than its idle limit.
    fn enforce_deadlines(&mut self, ctx: &mut Ctx<PeerData>) {
        let now = ctx.now();
        let late: Vec<(ConnHandle, &str)> = ctx
            .conns()
            .iter()
            .filter_map(|(h, conn)| {
                let data = &conn.data;
                let since_pdu = now.saturating_duration_since(data.last_pdu);
                let why = match data.peer {
                    Peer::Client(None)
                        if now.saturating_duration_since(data.accepted)
                            > self.limits.login_timeout =>
                    {
                        "no login in time"
                    }
                    Peer::Client(_) if since_pdu > self.client_timeout => "no whole pdu in time",
                    Peer::MsgServer if since_pdu > self.msg_server_timeout => {
                        "no whole pdu in time"
                    }
                    _ => return None,
                };
                Some((h, why))
            })
            .collect();
        for (h, why) in late {
            info!("closing connection past its deadline: handle={h} why={why}");
            ctx.close(h);
        }
    }
}

impl Handler for FileServer {
    type ConnData = PeerData;

    fn refresh_metrics(&mut self, ctx: &Ctx<PeerData>) {
        let (mut clients, mut links) = (0, 0);
        for (_, conn) in ctx.conns().iter() {
            match conn.data.peer {
                Peer::Client(_) => clients += 1,
                Peer::MsgServer => links += 1,
                Peer::Unknown => {}
            }
        }
        let [c, l] = &self.metrics.connections;
        c.set(clients);
        l.set(links);
        self.metrics
            .tasks
            .set(i64::try_from(self.tasks.len()).unwrap_or(i64::MAX));
    }

    fn on_accept(&mut self, ctx: &mut Ctx<PeerData>, h: ConnHandle, listener: ListenerTag) {
        if let Some(data) = ctx.data_mut(h) {
            data.peer = if listener == MSG_SERVER_PORT {
                Peer::MsgServer
            } else {
                Peer::Client(None)
            };
        }
    }

    fn on_pdu(&mut self, ctx: &mut Ctx<PeerData>, h: ConnHandle, pdu: Pdu) {
        let now = ctx.now();
        if let Some(data) = ctx.data_mut(h) {
            data.last_pdu = now;
        }
        handler::dispatch(self, ctx, h, pdu);
    }

    fn on_close(
        &mut self,
        ctx: &mut Ctx<PeerData>,
        h: ConnHandle,
        data: PeerData,
        reason: CloseReason,
    ) {
        match data.peer {
            Peer::MsgServer => info!("msg_server link closed: handle={h} reason={reason}"),
            Peer::Client(binding) => {
                log::debug!("client closed: handle={h} reason={reason}");
                if let Some(bound) = binding {
                    handler::file::client_closed(self, ctx, h, bound);
                }
            }
            Peer::Unknown => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<PeerData>, timer: TimerId) {
        if Some(timer) == self.sweep {
            self.expire_tasks(ctx);
        } else if Some(timer) == self.deadline_sweep {
            self.enforce_deadlines(ctx);
        } else if Some(timer) == self.store_sweep {
            self.sweep_store(false);
        }
    }
}

/// A bound file_server, ready to run.
#[derive(Debug)]
pub struct Server {
    event_loop: EventLoop<FileServer>,
    addrs: LocalAddrs,
}

/// A file_server running on its own thread (see [`netlib::ServerHandle`]).
pub type ServerHandle = netlib::ServerHandle<LocalAddrs>;

impl Server {
    /// Binds the client listeners and the msg_server listener (behind `AllowedPeerIPs`).
    pub fn bind(config: Config) -> Result<Self, ServerError> {
        let mut metrics = netlib::Metrics::new();
        let mut handler = FileServer {
            metrics: FileMetrics::new(&mut metrics),
            advertised: Vec::new(),
            tasks: TaskTable::default(),
            store: OfflineStore::new(&config.offline_dir),
            budget: DiskBudget::new(config.limits.offline_disk_quota),
            limits: config.limits.clone(),
            task_timeout: config.task_timeout,
            client_timeout: config.client_timeout,
            msg_server_timeout: config.msg_server_timeout,
            sweep: None,
            store_sweep: None,
            deadline_sweep: None,
        };
        // Files left from before a restart are judged before anything new arrives.
        handler.sweep_store(true);
        let mut event_loop = EventLoop::new(handler)?;
        let client_options = ConnOptions {
            idle_timeout: Some(config.client_timeout),
            ..ConnOptions::pdu()
        };
        let client = event_loop.listen_all(
            &config.client_listen_ips,
            config.client_listen_port,
            CLIENT_PORT,
            client_options,
        )?;
        let msg_options = ConnOptions {
            idle_timeout: Some(config.msg_server_timeout),
            ..ConnOptions::pdu()
        };
        if config.allowed_peers.is_default() {
            info!(
                "AllowedPeerIPs not set: msg_server links accepted from loopback and private \
                 addresses only"
            );
        }
        let msg_server = event_loop.listen_filtered(
            &config.msg_server_listen_ip,
            config.msg_server_listen_port,
            MSG_SERVER_PORT,
            msg_options,
            &config.allowed_peers,
        )?;
        if let Some(tls) = &config.link_tls {
            event_loop.secure_links(tls)?;
        }
        if let Some(conf) = &config.metrics {
            event_loop.serve_metrics(conf, metrics)?;
        }
        // With port 0 (tests) the advertised port is the one actually bound.
        let port = client
            .first()
            .map_or(config.client_listen_port, SocketAddr::port);
        let (fs, ctx) = event_loop.parts_mut();
        fs.advertised = config
            .client_advertise_ips
            .iter()
            .map(|ip| IpAddr {
                ip: ip.clone(),
                port: u32::from(port),
            })
            .collect();
        // A short TaskTimeout (tests) is honoured without waiting for the 10-s sweep.
        fs.sweep = Some(ctx.add_timer(TASK_SWEEP.min(config.task_timeout), true));
        let retention = config.limits.offline_retention;
        fs.store_sweep = Some(ctx.add_timer(STORE_SWEEP.min(retention), true));
        fs.deadline_sweep = Some(ctx.add_timer(DEADLINE_SWEEP, true));
        Ok(Self {
            event_loop,
            addrs: LocalAddrs { client, msg_server },
        })
    }

    /// The bound addresses.
    pub fn local_addrs(&self) -> &LocalAddrs {
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

    /// Runs the server on a thread named `file_server`.
    pub fn spawn(self) -> Result<ServerHandle, ServerError> {
        ServerHandle::spawn(self.event_loop, "file_server", self.addrs).map_err(ServerError::Spawn)
    }
}
