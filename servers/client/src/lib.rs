//! TeamTalk client library: what the official clients do on the wire, for tests, the load
//! generator and the `tt` command line.
//!
//! * [`crypto`]: password hashing and message-text encryption (PROTOCOL §7), re-exported from
//!   the protocol crate.
//! * [`discover()`]: asks login_server's HTTP API for a msg_server (PROTOCOL §8).
//! * [`Client`]: one msg_server connection with request/response matching by seq, an event
//!   stream for everything the server pushes, heartbeats, and typed calls for every client
//!   command (BEHAVIOUR §2).
//! * [`message`]: typed views of pushed PDUs ([`ReceivedMessage`], [`Event`]).
//!
//! ```no_run
//! use std::time::Duration;
//! use tt_client::{Client, pb::base_define::{ClientType, UserStatType}};
//!
//! # fn main() -> Result<(), tt_client::ClientError> {
//! let client = Client::connect("127.0.0.1:8000", Duration::from_secs(5))?;
//! let me = client.login("tt1", "test123", ClientType::Windows, UserStatType::UserStatusOnline)?;
//! client.send_text(2, "hello")?;
//! let msg = client.next_message(Duration::from_secs(10))?;
//! println!("{} says {} (I am {})", msg.from, msg.text, me.user_id());
//! # Ok(())
//! # }
//! ```

pub mod calls;
/// Password hashing and text encryption, from the protocol crate.
pub use teamtalk_proto::crypto;
pub mod client;
pub mod discover;
pub mod message;
pub mod transport;

pub use calls::{LoginInfo, login_refusal_text};
pub use client::{
    Client, ClientConfig, ClientError, CloseReason, DEFAULT_CLIENT_VERSION,
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_REQUEST_TIMEOUT,
};
pub use crypto::{CryptoError, DEFAULT_AES_KEY};
pub use discover::{DiscoverError, MsgServerInfo, discover, discover_with_timeout};
pub use message::{Event, ReceivedMessage};
pub use teamtalk_proto::{CommandId, Pdu, PduError, pb};
pub use transport::{ClientTransport, TlsOptions};
