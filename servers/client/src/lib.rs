//! TeamTalk client library: what the official clients do on the wire, for tests, the load
//! generator and the `tt` command line.
//!
//! * [`crypto`]: password hashing and message-text encryption (PROTOCOL §7), dependency-light
//!   so servers can use it too.

pub mod crypto;

pub use crypto::{CryptoError, DEFAULT_AES_KEY};
