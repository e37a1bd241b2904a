//! The msg_server process: binds the client listener, starts the back-end links and runs the
//! event loop on the calling thread ([`Server::run`]) or its own ([`Server::spawn`]).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use log::info;
use netlib::{EventLoop, Metrics, NetError};

use crate::config::Config;
use crate::counters::Counters;
use crate::handler::{CLIENT_LISTENER, client_options};
use crate::state::State;

/// Period of the housekeeping timer (reconnects, deadlines), as the original's 1-s timer.
const TICK: Duration = Duration::from_secs(1);
/// Name of the thread [`Server::spawn`] runs the loop on.
const THREAD_NAME: &str = "msg_server";

/// Why the server could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The event loop or a listener could not be set up, or the loop failed.
    #[error("event loop failure")]
    Net(#[from] NetError),
    /// A TLS certificate or key file could not be used.
    #[error("tls: {0}")]
    Tls(#[from] netlib::transport::TlsError),
    /// The loop thread could not be started.
    #[error("cannot start the server thread")]
    Spawn(#[source] io::Error),
}

/// A bound, not yet running msg_server.
#[derive(Debug)]
pub struct Server {
    event_loop: EventLoop<State>,
    addrs: Vec<SocketAddr>,
    /// The TLS and WebSocket client addresses, with their transport's name.
    transport_addrs: Vec<(&'static str, SocketAddr)>,
}

/// A msg_server running on its own thread (see [`netlib::ServerHandle`]).
pub type ServerHandle = netlib::ServerHandle<Vec<SocketAddr>>;

impl Server {
    /// Binds every client listener (port 0 picks a free port) and schedules the first connects
    /// to every configured back end.
    pub fn bind(config: Config) -> Result<Self, ServerError> {
        let ips = config.listen_ips.clone();
        let port = config.listen_port;
        let max_client_pdu_len = config.max_client_pdu_len;
        let options = client_options(max_client_pdu_len);
        let metrics_conf = config.metrics.clone();
        let transports = config.transports.clone();
        let mut metrics = Metrics::new();
        let state = State::new(config, Instant::now(), &mut metrics);
        let mut event_loop = EventLoop::new(state)?;
        let addrs = event_loop.listen_all(&ips, port, CLIENT_LISTENER, options)?;
        // The other transports carry the same PDUs to the same handler, with the same limits.
        let mut transport_addrs = Vec::new();
        for (port, transport) in transports.transports(max_client_pdu_len)? {
            let bound = event_loop.listen_all_with(
                &ips,
                port,
                CLIENT_LISTENER,
                options,
                None,
                &transport,
            )?;
            transport_addrs.extend(bound.into_iter().map(|addr| (transport.name(), addr)));
        }
        if let Some(conf) = &metrics_conf {
            event_loop.serve_metrics(conf, metrics)?;
        }
        let (state, ctx) = event_loop.parts_mut();
        // login_server hands clients this port; with port 0 it is the one actually bound.
        if let Some(addr) = addrs.first() {
            state.listen_port = addr.port();
        }
        for (name, addr) in &transport_addrs {
            let port = Some(addr.port());
            match *name {
                "tls" => state.other_ports.tls = port,
                "ws" => state.other_ports.ws = port,
                _ => state.other_ports.wss = port,
            }
        }
        state.links.tick(ctx);
        ctx.add_timer(TICK, true);
        info!("msg_server listening: addrs={addrs:?} other_transports={transport_addrs:?}");
        Ok(Self {
            event_loop,
            addrs,
            transport_addrs,
        })
    }

    /// The bound client addresses, one per `ListenIP`.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The TLS, WebSocket and WebSocket-over-TLS client addresses, each with its transport's
    /// name (`tls`, `ws`, `wss`).
    pub fn transport_addrs(&self) -> &[(&'static str, SocketAddr)] {
        &self.transport_addrs
    }

    /// Where the metrics endpoint listens, when the conf turned it on.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.event_loop.metrics_addr()
    }

    /// The live counters of refused client input and lost links (see [`Counters`]).
    pub fn counters(&self) -> Arc<Counters> {
        Arc::clone(&self.event_loop.handler().counters)
    }

    /// Installs the original's signal behaviour (CONFIG §1.1) for a binary: SIGTERM, SIGINT
    /// and (when `hup_stops`) SIGHUP stop the server (the original exits at once on SIGHUP;
    /// stopping closes the connections cleanly instead), SIGUSR1 resets the message counters,
    /// SIGUSR2 toggles logging of every received message. `hup_stops` is false when SIGHUP
    /// reopens the log file instead (the conf set `LogFile`); with a TLS port SIGHUP never
    /// stops the server either: it rereads the certificate and key (at the next 1-s tick).
    pub fn handle_signals(&mut self, hup_stops: bool) -> io::Result<()> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
        let mut wanted = vec![SIGTERM, SIGINT, SIGUSR1, SIGUSR2];
        let reloads_tls = self.event_loop.handler().config.transports.uses_tls();
        if reloads_tls {
            signal_hook::flag::register(SIGHUP, self.event_loop.tls_reload_flag())?;
        } else if hup_stops {
            wanted.push(SIGHUP);
        }
        let mut signals = signal_hook::iterator::Signals::new(wanted)?;
        let stop = self.event_loop.stop_handle();
        let (state, _) = self.event_loop.parts_mut();
        let flags = Arc::clone(&state.signals);
        thread::Builder::new()
            .name("msg_server-signals".into())
            .spawn(move || {
                for sig in signals.forever() {
                    match sig {
                        SIGUSR1 => flags.reset_stats.store(true, Ordering::Relaxed),
                        SIGUSR2 => flags.toggle_msg_log.store(true, Ordering::Relaxed),
                        _ => {
                            info!("signal received, stopping: signal={sig}");
                            stop.stop();
                            return;
                        }
                    }
                }
            })?;
        Ok(())
    }

    /// Runs the loop on this thread until stopped.
    pub fn run(self) -> Result<(), ServerError> {
        Ok(self.event_loop.run()?)
    }

    /// Runs the loop on a thread named `msg_server`.
    pub fn spawn(self) -> Result<ServerHandle, ServerError> {
        ServerHandle::spawn(self.event_loop, THREAD_NAME, self.addrs).map_err(ServerError::Spawn)
    }
}
