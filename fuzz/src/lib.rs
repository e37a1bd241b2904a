//! Shared pieces of the fuzz targets: which message type each client-reachable command carries
//! ([`commands`]) and the in-process servers the socket targets talk to ([`harness`]).
//!
//! The targets themselves live in `fuzz_targets/`, one per attack surface; `examples/seeds.rs`
//! writes their seed corpora from the same tables.

pub mod commands;
pub mod harness;
pub mod stub_backend;
