//! route_server: the hub every msg_server (and http_msg_server) links to. It keeps who is
//! online on which msg_server, answers presence queries, turns status updates into presence
//! notifications for every msg_server, and relays cross-server traffic (BEHAVIOUR §6).
//!
//! - [`config`] — `routeserver.conf`.
//! - [`server`] — binding the listeners and running the loop.
//! - `presence` — the user → links → client-type counts state and its update rule.
//! - `replay` — the recent targeted relays, sent again to a link that reports a login late.
//! - `handler` — one function per command, dispatched on the command id.
//! - `peer` — the msg_server link and broadcasting over links.

pub mod config;
mod handler;
mod peer;
mod presence;
mod replay;
pub mod server;

pub use config::Config;
pub use server::{Server, ServerError, ServerHandle};
