//! TeamTalk client library: what the official clients do on the wire, for tests, the load
//! generator and the `tt` command line.
//!
//! * [`crypto`]: password hashing and message-text encryption (PROTOCOL §7), dependency-light
//!   so servers can use it too.
//! * [`discover()`]: asks login_server's HTTP API for a msg_server (PROTOCOL §8).

pub mod crypto;
pub mod discover;

pub use crypto::{CryptoError, DEFAULT_AES_KEY};
pub use discover::{DiscoverError, MsgServerInfo, discover, discover_with_timeout};
