//! file_server: relays online file transfers between two clients and stores offline files
//! until the receiver fetches them (BEHAVIOUR §5.2–5.3, STORAGE §6).
//!
//! msg_servers connect to the msg-server port, learn the client addresses (IMFileServerIPReq)
//! and create transfer tasks (IMFileTransferReq). Clients then connect to the client port, log
//! in to a task by its id and exchange 32 KiB blocks. Offline files are written synchronously on
//! the loop thread, one block per request, under `./offline_file/`.
//!
//! Differences from the original, all invisible to conforming clients (KNOWN_DEFECTS §11):
//! task ids are random UUIDs and idle tasks expire after `TaskTimeout`; a login that does not
//! fit the task state is refused; uploaded blocks must have the expected size; an upload starts
//! from an empty file, an aborted upload's partial file is removed and a stored file is kept
//! for repeated downloads until its retention period ends; uploads stay under a disk quota;
//! file size, file name length and tasks per sender are bounded; a client must log in and
//! complete each PDU within deadlines; a failed task creation keeps the msg_server link open;
//! an optional `ClientAdvertiseIP` overrides the advertised addresses.

pub mod config;
mod handler;
mod metrics;
pub mod offline;
mod peer;
pub mod server;
pub mod task;

pub use config::Config;
pub use server::{LocalAddrs, Server, ServerError, ServerHandle};
