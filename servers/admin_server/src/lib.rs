//! The TeamTalk admin console: a web UI for administrators (accounts of its own, argon2
//! hashes, cookie sessions with CSRF tokens, throttled sign-in) over the `tt_admin` library:
//! departments, users, groups (through http_msg_server), the audit log, and a dashboard of the
//! servers' health and metrics endpoints.
//!
//! Unlike the eight servers it runs on tokio and axum: it serves a handful of people with
//! request/response pages, and every slow call (MySQL, argon2, http_msg_server) runs on the
//! blocking pool, apart from every reactor of the cluster.

pub mod account;
pub mod config;
pub mod dashboard;
pub mod pages;
pub mod server;
pub mod session;
pub mod web;

pub use config::Config;
pub use server::{Server, ServerError, ServerHandle};
