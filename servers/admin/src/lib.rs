//! Administration of a TeamTalk organisation on the original schema, so the original's PHP
//! admin keeps working beside it: departments, users (stored with the original's salted
//! password hash), groups (through http_msg_server, so online members are notified), CSV
//! import, and an audit log of every change (`IMAdminAudit`). The `tt-admin` command line is a
//! thin layer over this library.
//!
//! Every operation checks its input first and writes in one transaction, audit entry
//! included: a refused operation writes nothing.

pub mod audit;
pub mod department;
pub mod error;
pub mod group;
pub mod import;
mod row;
pub mod user;

pub use error::{AdminError, Result};
