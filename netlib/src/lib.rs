//! The reactor every teamtalk-rs server runs on: a port of the original single-threaded netlib
//! to mio, plus the pieces all servers share.
//!
//! - [`event_loop`]: `EventLoop`, the reactor itself: listeners, readiness, framing, ticks.
//! - [`handler`]: the `Handler` callbacks a server implements; [`ctx`]: `Ctx`, what they act
//!   through; [`handle`]: stopping and joining a running loop from other threads.
//! - [`conn`]: connection handles, the slab, per-connection options and close reasons.
//! - [`timer`]: one-shot and repeating timers.
//! - [`link`]: outbound server links with the reconnect back-off.
//! - [`peer_filter`]: the allow-list of addresses an internal listener accepts.
//! - [`transport`]: plain TCP, TLS, WebSocket or both under a listener's PDUs.
//! - [`worker`]: worker threads and the response queue that wakes the loop.
//! - [`http`]: the minimal HTTP request parser and response writer; [`styled_json`]: the
//!   jsoncpp `StyledWriter` form of the original HTTP answers.
//! - [`metrics`]: the operator endpoint (`/metrics`, `/healthz`, `/readyz`) and metric helpers.
//! - [`conf`]: the original `*.conf` format.
//! - [`cmdline`]: the servers' command line; [`logging`]: log set-up, log file rotation;
//!   [`process`]: the frame of every server `main`, `server.pid`.

pub mod cmdline;
pub mod conf;
pub mod conn;
pub mod ctx;
pub mod event_loop;
pub mod handle;
pub mod handler;
pub mod http;
pub mod link;
pub mod logging;
pub mod metrics;
pub mod peer_filter;
pub mod process;
pub mod styled_json;
pub mod timer;
pub mod transport;
pub mod worker;

pub use conf::{Conf, ConfError};
pub use conn::{CloseReason, Conn, ConnHandle, ConnOptions, ConnTable, Framing, ListenerTag};
pub use ctx::Ctx;
pub use event_loop::{EventLoop, NetError};
pub use handle::{LoopHandle, ServerHandle, StopHandle};
pub use handler::Handler;
pub use link::{Dialer, Link, LinkState};
pub use metrics::{LinkStates, Metrics, MetricsConf, Readiness};
pub use peer_filter::{Cidr, CidrError, PeerFilter};

pub use timer::TimerId;
pub use transport::{
    ClientTransports, DialTransport, HttpsConf, LinkTlsConf, TlsError, TlsFiles, Transport,
};
pub use worker::{ResponseQueue, ResponseSender, WorkerPool};
