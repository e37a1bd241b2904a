//! Binding login_server's three listener groups and running its loop.
//!
//! [`Server::bind`] opens every listener before anything runs, so a caller learns the bound
//! addresses (port 0 allowed) before the first connection is served.

use std::fmt;
use std::io;
use std::net::SocketAddr;

use log::info;
use netlib::{EventLoop, NetError, StopHandle};

use crate::config::Config;
use crate::handler::LoginHandler;
use crate::peer::{self, CLIENT_LISTENER, HTTP_LISTENER, HTTPS_LISTENER, MSG_SERVER_LISTENER};

/// Name of the loop's thread.
const THREAD_NAME: &str = "login_server";

/// Why login_server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The event loop could not be created, a listener could not be bound, or polling failed.
    #[error("login_server network failure")]
    Net(#[from] NetError),
    /// A TLS certificate, key or CA file could not be used.
    #[error("tls: {0}")]
    Tls(#[from] netlib::transport::TlsError),
    /// The loop's thread could not be started.
    #[error("cannot start the login_server thread")]
    Spawn(#[source] io::Error),
}

/// The bound addresses of each listener group, each in its conf list's order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalAddrs {
    /// Legacy TCP client listeners (`ClientListenIP`/`ClientPort`).
    pub client: Vec<SocketAddr>,
    /// HTTP listeners (`HttpListenIP`/`HttpPort`).
    pub http: Vec<SocketAddr>,
    /// msg_server listeners (`MsgServerListenIP`/`MsgServerPort`).
    pub msg_server: Vec<SocketAddr>,
    /// HTTPS listeners (`HttpListenIP`/`HttpsPort`), empty when off.
    pub https: Vec<SocketAddr>,
}

impl fmt::Display for LocalAddrs {
    /// The start-up lines the original prints, one per group.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |addrs: &[SocketAddr]| {
            addrs
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(";")
        };
        write!(
            f,
            "For client {}\nFor MsgServer: {}\nFor http:{}",
            join(&self.client),
            join(&self.msg_server),
            join(&self.http)
        )
    }
}

/// A bound, not yet running login_server.
#[derive(Debug)]
pub struct Server {
    event_loop: EventLoop<LoginHandler>,
    local_addrs: LocalAddrs,
}

/// A login_server running on its own thread (see [`netlib::ServerHandle`]).
pub type ServerHandle = netlib::ServerHandle<LocalAddrs>;

impl Server {
    /// Creates the loop, listens on every IP of each group (the msg_server group behind
    /// `AllowedPeerIPs`), and starts the stats timer.
    pub fn bind(config: Config) -> Result<Self, ServerError> {
        let mut metrics = netlib::Metrics::new();
        let mut event_loop = EventLoop::new(LoginHandler::new(&config, &mut metrics))?;
        if config.allowed_peers.is_default() {
            info!(
                "AllowedPeerIPs not set: msg_server links accepted from loopback and private \
                 addresses only"
            );
        }
        let local_addrs = LocalAddrs {
            client: event_loop.listen_all(
                &config.client_listen_ips,
                config.client_port,
                CLIENT_LISTENER,
                peer::client_options(&config),
            )?,
            msg_server: event_loop.listen_all_filtered(
                &config.msg_server_listen_ips,
                config.msg_server_port,
                MSG_SERVER_LISTENER,
                peer::msg_server_options(&config),
                &config.allowed_peers,
            )?,
            http: event_loop.listen_all(
                &config.http_listen_ips,
                config.http_port,
                HTTP_LISTENER,
                peer::http_options(&config),
            )?,
            https: match &config.https {
                // The same requests and answers as the HTTP port, inside TLS.
                Some(https) => event_loop.listen_all_with(
                    &config.http_listen_ips,
                    https.port,
                    HTTPS_LISTENER,
                    peer::http_options(&config),
                    None,
                    &https.transport()?,
                )?,
                None => Vec::new(),
            },
        };
        if let Some(tls) = &config.link_tls {
            event_loop.secure_links(tls)?;
        }
        if let Some(conf) = &config.metrics {
            event_loop.serve_metrics(conf, metrics)?;
        }
        let (handler, ctx) = event_loop.parts_mut();
        handler.set_stats_timer(ctx.add_timer(config.stats_interval, true));
        Ok(Self {
            event_loop,
            local_addrs,
        })
    }

    /// The bound listen addresses.
    pub fn local_addrs(&self) -> &LocalAddrs {
        &self.local_addrs
    }

    /// A handle that stops the server from another thread (or on a signal).
    pub fn stop_handle(&self) -> StopHandle {
        self.event_loop.stop_handle()
    }

    /// The flag that makes the loop reread the HTTPS certificate and key at its next tick
    /// (the binary sets it from SIGHUP when `HttpsPort` is configured).
    pub fn tls_reload_flag(&self) -> std::sync::Arc<std::sync::atomic::AtomicBool> {
        self.event_loop.tls_reload_flag()
    }

    /// Runs the loop on the calling thread until stopped.
    pub fn run(self) -> Result<(), ServerError> {
        Ok(self.event_loop.run()?)
    }

    /// Runs the loop on a thread named `login_server`.
    pub fn spawn(self) -> Result<ServerHandle, ServerError> {
        ServerHandle::spawn(self.event_loop, THREAD_NAME, self.local_addrs)
            .map_err(ServerError::Spawn)
    }
}
