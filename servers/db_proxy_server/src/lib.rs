//! db_proxy_server: the TeamTalk storage tier. msg_server and http_msg_server send it PDUs
//! over TCP; it runs each request on a worker thread against MySQL (`teamtalk_master` for
//! writes, `teamtalk_slave` for reads) and Redis (named pools), and answers on the same link
//! with what the original C++ server answers (BEHAVIOUR §8), minus the defects listed in
//! KNOWN_DEFECTS §2 and §10.
//!
//! - [`config`]: reads `dbproxyserver.conf`.
//! - [`server`]: the reactor, the stop sequence, [`Server`] / [`ServerHandle`].
//! - [`peer`]: per-link state (answer ordering).
//! - [`worker`]: the worker pool.
//! - [`handler`]: one module per `.proto` package, the command dispatch.
//! - [`model`]: SQL statements and Redis keys.
//! - [`store`]: the pools and the storage error type.
//! - [`msfs`], [`limiter`], [`sync_center`]: audio blobs, login lock-out, group session sync.
//! - [`metrics`]: what the metrics endpoint exports.

pub mod config;
pub mod handler;
pub mod limiter;
pub mod metrics;
pub mod model;
pub mod msfs;
pub mod peer;
pub mod server;
pub mod store;
pub mod sync_center;
pub mod worker;

pub use config::Config;
pub use server::{Server, ServerError, ServerHandle};
