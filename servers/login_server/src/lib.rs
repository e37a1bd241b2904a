//! login_server: tells clients which msg_server to use. msg_servers register over a PDU link
//! and report their connection counts; clients ask over HTTP (`/msg_server`) or the legacy
//! TCP client port and get the least-loaded one (BEHAVIOUR §7, PROTOCOL §8, §11.3).
//!
//! - [`config`] — `loginserver.conf`.
//! - [`server`] — binding the three listener groups and running the loop.
//! - `registry` — the registered msg_servers, their counts and the selection rule.
//! - `socket_order` — numbering connections as the original's socket fds, which order ties.
//! - `discovery` — the `/msg_server` answer and its jsoncpp-styled JSON.
//! - `handler` — one function per command, dispatched on the command id.
//! - `peer` — the connection kinds: msg_server links, legacy clients, HTTP.
//! - `web_client` — the browser demo client's files under `/web/` (`WebClient=1`).

pub mod config;
mod discovery;
mod handler;
mod peer;
mod registry;
pub mod server;
mod socket_order;
mod web_client;

pub use config::Config;
pub use server::{LocalAddrs, Server, ServerError, ServerHandle};
