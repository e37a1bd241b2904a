//! msg_server: the TeamTalk client gateway.
//!
//! Clients log in here and every chat, presence, group and file-signalling command passes
//! through; msg_server keeps who is connected and relays the rest to db_proxy_server (storage
//! and authentication), route_server (other msg_servers and presence), login_server (load
//! reporting), push_server (phone notifications) and file_server (transfer tasks). It is
//! wire-compatible with the original clients and with the original back-end servers.
//!
//! Layout: [`Config`] reads `msgserver.conf`; [`Server`] binds and runs the event loop;
//! `state` holds what the loop owns; `pending` the requests waiting for a back end's answer;
//! `peer` the connection kinds and links; `handler` one module per `.proto` package with the
//! dispatch tables; `users` the logged-in users; `push` the notification text; `wire` raw
//! protobuf field access; `delivered` the stored messages delivered lately; `presence` the
//! presence notifications waiting to be broadcast; `limits` every
//! bound on client input and the rate limiters;
//! `counters` what those refused, readable while the server runs; `metrics` the rest of what
//! the metrics endpoint exports.

mod config;
mod counters;
mod delivered;
mod handler;
pub mod limits;
mod metrics;
mod peer;
mod pending;
mod presence;
mod push;
mod server;
mod state;
mod users;
mod wire;

pub use config::{
    Config, DEFAULT_CONCURRENT_DB_CONN_CNT, DEFAULT_PROFILE_CHANGES_PER_MINUTE,
    DEFAULT_REGISTRATIONS_PER_MINUTE, Endpoint, MIN_DB_SERVERS,
};
pub use counters::{CounterSnapshot, Counters};
pub use server::{Server, ServerError, ServerHandle};
