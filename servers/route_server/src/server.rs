//! Binding route_server's listeners and running its loop.
//!
//! [`Server::bind`] opens every listener before anything runs, so a caller learns the bound
//! addresses (port 0 allowed) before the first connection is served.

use std::io;
use std::net::SocketAddr;

use log::info;
use netlib::{ConnOptions, EventLoop, ListenerTag, Metrics, NetError, StopHandle};

use crate::config::Config;
use crate::handler::RouteHandler;

/// Tag of the msg_server listeners (the only kind).
const MSG_SERVER_LISTENER: ListenerTag = ListenerTag(1);
/// Name of the loop's thread.
const THREAD_NAME: &str = "route_server";

/// Why route_server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The event loop could not be created, a listener could not be bound, or polling failed.
    #[error("route_server network failure")]
    Net(#[from] NetError),
    /// A TLS certificate, key or CA file could not be used.
    #[error("tls: {0}")]
    Tls(#[from] netlib::transport::TlsError),
    /// The loop's thread could not be started.
    #[error("cannot start the route_server thread")]
    Spawn(#[source] io::Error),
}

/// A bound, not yet running route_server.
#[derive(Debug)]
pub struct Server {
    event_loop: EventLoop<RouteHandler>,
    local_addrs: Vec<SocketAddr>,
}

/// A route_server running on its own thread (see [`netlib::ServerHandle`]).
pub type ServerHandle = netlib::ServerHandle<Vec<SocketAddr>>;

impl Server {
    /// Creates the loop and listens on every `ListenIP` at `ListenMsgPort`; links from
    /// addresses outside `AllowedPeerIPs` are closed at accept.
    pub fn bind(config: Config) -> Result<Self, ServerError> {
        let mut metrics = Metrics::new();
        let mut event_loop = EventLoop::new(RouteHandler::new(&config, &mut metrics))?;
        let options = ConnOptions {
            heartbeat: Some(config.heartbeat_interval),
            idle_timeout: Some(config.link_timeout),
            ..ConnOptions::server_link()
        };
        if config.allowed_peers.is_default() {
            info!(
                "AllowedPeerIPs not set: links accepted from loopback and private addresses only"
            );
        }
        let local_addrs = event_loop.listen_all_filtered(
            &config.listen_ips,
            config.listen_port,
            MSG_SERVER_LISTENER,
            options,
            &config.allowed_peers,
        )?;
        if let Some(tls) = &config.link_tls {
            event_loop.secure_links(tls)?;
        }
        if let Some(conf) = &config.metrics {
            event_loop.serve_metrics(conf, metrics)?;
        }
        Ok(Self {
            event_loop,
            local_addrs,
        })
    }

    /// The bound listen addresses, in `ListenIP` order.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// A handle that stops the server from another thread (or on a signal).
    pub fn stop_handle(&self) -> StopHandle {
        self.event_loop.stop_handle()
    }

    /// Runs the loop on the calling thread until stopped.
    pub fn run(self) -> Result<(), ServerError> {
        Ok(self.event_loop.run()?)
    }

    /// Runs the loop on a thread named `route_server`.
    pub fn spawn(self) -> Result<ServerHandle, ServerError> {
        ServerHandle::spawn(self.event_loop, THREAD_NAME, self.local_addrs)
            .map_err(ServerError::Spawn)
    }
}
