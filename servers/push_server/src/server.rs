//! The push_server process: the listener for msg_server sessions, the reactor handler and its
//! lifecycle.
//!
//! A session is closed 30 s after it last sent anything (the original counted heartbeats and
//! push requests, the only commands a session may send without being closed).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use log::{debug, info};
use netlib::{
    CloseReason, ConnHandle, ConnOptions, Ctx, EventLoop, Handler, ListenerTag, Metrics, NetError,
    StopHandle,
};
use prometheus_client::metrics::gauge::Gauge;
use teamtalk_proto::Pdu;

use crate::apns::{ApnsSender, DropSender};
use crate::config::Config;
use crate::handler;

const SESSION_PORT: ListenerTag = ListenerTag(0);
/// Sessions are closed after this long without input.
const SESSION_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The listener or the poller failed.
    #[error("network failure")]
    Net(#[from] NetError),
    /// The loop thread could not be started.
    #[error("cannot start the server thread")]
    Spawn(#[source] io::Error),
}

/// Per-session data.
#[derive(Debug, Default)]
pub(crate) struct Session {
    /// Id of the last notification built for this session (item 3 of the frame).
    pub(crate) notification_id: u32,
}

/// The reactor handler.
pub(crate) struct PushServer {
    pub(crate) sender: Box<dyn ApnsSender>,
    /// Open msg_server sessions (set before a scrape).
    sessions: Gauge,
}

impl std::fmt::Debug for PushServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushServer").finish_non_exhaustive()
    }
}

impl Handler for PushServer {
    type ConnData = Session;

    fn on_accept(&mut self, _ctx: &mut Ctx<Session>, h: ConnHandle, _listener: ListenerTag) {
        info!("push session opened: handle={h}");
    }

    fn on_pdu(&mut self, ctx: &mut Ctx<Session>, h: ConnHandle, pdu: Pdu) {
        handler::dispatch(self, ctx, h, pdu);
    }

    fn refresh_metrics(&mut self, ctx: &Ctx<Session>) {
        self.sessions
            .set(i64::try_from(ctx.conns().len()).unwrap_or(i64::MAX));
    }

    fn on_close(
        &mut self,
        _ctx: &mut Ctx<Session>,
        h: ConnHandle,
        _data: Session,
        reason: CloseReason,
    ) {
        debug!("push session closed: handle={h} reason={reason}");
    }
}

/// A bound push_server, ready to run.
#[derive(Debug)]
pub struct Server {
    event_loop: EventLoop<PushServer>,
    addrs: Vec<SocketAddr>,
}

/// A push_server running on its own thread (see [`netlib::ServerHandle`]).
pub type ServerHandle = netlib::ServerHandle<Vec<SocketAddr>>;

impl Server {
    /// Binds the listener; frames go to the default [`DropSender`].
    pub fn bind(config: Config) -> Result<Self, ServerError> {
        let sender = DropSender::new(&config);
        Self::bind_with_sender(config, Box::new(sender))
    }

    /// Binds the listener (behind `AllowedPeerIPs`); frames go to `sender`.
    pub fn bind_with_sender(
        config: Config,
        sender: Box<dyn ApnsSender>,
    ) -> Result<Self, ServerError> {
        let mut metrics = Metrics::new();
        let sessions = metrics.gauge("push_sessions", "Open msg_server sessions");
        let mut event_loop = EventLoop::new(PushServer { sender, sessions })?;
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
        if let Some(conf) = &config.metrics {
            event_loop.serve_metrics(conf, metrics)?;
        }
        Ok(Self {
            event_loop,
            addrs: vec![addr],
        })
    }

    /// The bound address (`ListenIP` is a single address).
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

    /// Runs the server on a thread named `push_server`.
    pub fn spawn(self) -> Result<ServerHandle, ServerError> {
        ServerHandle::spawn(self.event_loop, "push_server", self.addrs).map_err(ServerError::Spawn)
    }
}
