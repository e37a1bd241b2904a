//! push_server: turns msg_server push requests into notifications on phones (BEHAVIOUR §10,
//! PROTOCOL §11).
//!
//! msg_servers connect, heartbeat (echoed) and send IMPushToUserReq. Each token goes to the
//! provider its client type names — iOS (0x11) to APNs over HTTP/2 ([`apns`]), Android (0x12)
//! to FCM HTTP v1 ([`fcm`]) — when that provider is configured and the token is well formed,
//! and gets result 0; every other token gets result 1. The answer is IMPushToUserRsp with one
//! result per token, sent at once: delivery runs on its own thread ([`delivery`]) behind a
//! bounded queue, so a slow or failing provider never holds up the msg_server link. Tokens a
//! provider calls dead are cleared through db_proxy. A request that does not parse ends the
//! session; other commands are ignored (the original closed the session, KNOWN_DEFECTS
//! D-PUSH-6).

pub mod apns;
mod attempt;
pub mod config;
pub mod delivery;
pub mod fcm;
mod handler;
mod http_client;
mod metrics;
pub mod push;
mod queue;
pub mod server;
pub mod sink;
pub mod stats;

pub use config::Config;
pub use http_client::ClientError;
pub use push::{DeadToken, Provider, Push};
pub use server::{Server, ServerError, ServerHandle};
pub use sink::PushSink;
pub use stats::{ProviderSnapshot, StatsSnapshot};
