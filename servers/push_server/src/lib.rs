//! push_server: turns msg_server push requests into Apple push notifications (BEHAVIOUR §10,
//! PROTOCOL §11.1).
//!
//! msg_servers connect, heartbeat (echoed) and send IMPushToUserReq; every token of an iOS
//! device (`user_type` 0x11) with a 64-hex-character token whose payload fits in 256 bytes
//! becomes an APNs command-2 frame handed to the [`apns::ApnsSender`] and gets result 0; every
//! other token gets result 1. The answer is IMPushToUserRsp with one result per token. A
//! request that does not parse ends the session; other commands are ignored (the original
//! closed the session, KNOWN_DEFECTS D-PUSH-6).
//!
//! Delivery to Apple needs TLS, which this build does not contain: the default sender logs and
//! drops the frames (see [`apns`]). Unlike the original, tokens must really be hexadecimal,
//! and a 16-byte heartbeat is echoed at once rather than when the next PDU arrives.

pub mod apns;
pub mod config;
mod handler;
pub mod server;

pub use config::Config;
pub use server::{Server, ServerError, ServerHandle};
