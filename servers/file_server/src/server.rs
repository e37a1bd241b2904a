//! The file_server process: its two listeners, the reactor handler and its lifecycle.
//!
//! One loop serves both ports. msg_server links are closed after 30 s without input and never
//! receive heartbeats from us (we only echo theirs); client links are closed after 120 s without
//! input (PROTOCOL §6.1; both limits are `Config` fields). Every 10 s idle tasks are expired.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use log::info;
use netlib::{
    CloseReason, ConnHandle, ConnOptions, Ctx, EventLoop, Handler, ListenerTag, NetError,
    StopHandle, TimerId,
};
use teamtalk_proto::Pdu;
use teamtalk_proto::pb::base_define::IpAddr;

use crate::config::Config;
use crate::handler;
use crate::offline::OfflineStore;
use crate::peer::Peer;
use crate::task::TaskTable;

const CLIENT_PORT: ListenerTag = ListenerTag(0);
const MSG_SERVER_PORT: ListenerTag = ListenerTag(1);
/// Period of the task expiry sweep.
const TASK_SWEEP: Duration = Duration::from_secs(10);

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A listener or the poller failed.
    #[error("network failure")]
    Net(#[from] NetError),
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
    task_timeout: Duration,
    sweep: Option<TimerId>,
}

impl FileServer {
    fn expire_tasks(&mut self, ctx: &mut Ctx<Peer>) {
        for task in self.tasks.expire(ctx.now(), self.task_timeout) {
            info!("task expired: task={} state={:?}", task.id, task.state());
            for h in task.conns() {
                ctx.close_after_flush(h);
            }
            if task.state() == crate::task::TaskState::Uploading {
                if let Err(e) = self.store.remove(&task.id) {
                    log::warn!("cannot delete partial upload: task={} err={e}", task.id);
                }
            }
        }
    }
}

impl Handler for FileServer {
    type ConnData = Peer;

    fn on_accept(&mut self, ctx: &mut Ctx<Peer>, h: ConnHandle, listener: ListenerTag) {
        if let Some(data) = ctx.data_mut(h) {
            *data = if listener == MSG_SERVER_PORT {
                Peer::MsgServer
            } else {
                Peer::Client(None)
            };
        }
    }

    fn on_pdu(&mut self, ctx: &mut Ctx<Peer>, h: ConnHandle, pdu: Pdu) {
        handler::dispatch(self, ctx, h, pdu);
    }

    fn on_close(&mut self, ctx: &mut Ctx<Peer>, h: ConnHandle, data: Peer, reason: CloseReason) {
        match data {
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

    fn on_timer(&mut self, ctx: &mut Ctx<Peer>, timer: TimerId) {
        if Some(timer) == self.sweep {
            self.expire_tasks(ctx);
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
        let handler = FileServer {
            advertised: Vec::new(),
            tasks: TaskTable::default(),
            store: OfflineStore::new(&config.offline_dir),
            task_timeout: config.task_timeout,
            sweep: None,
        };
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
