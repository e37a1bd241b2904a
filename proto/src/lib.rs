//! TeamTalk wire protocol: the protobuf schema (`pb`), service and command ids (`ids`), the PDU
//! framing (`pdu`), the `attach_data` layouts (`attach`), the password and text-encryption
//! rules (`crypto`) and the resend fields teamtalk-rs adds to `IMMsgData` between its own
//! servers (`resend`). Pure data and codecs, no I/O.

pub mod attach;
pub mod crypto;
pub mod ids;
pub mod pdu;
mod required;
pub mod resend;

/// Messages generated from `protos/*.proto`, one module per `IM.*` package.
#[allow(
    missing_docs,
    clippy::all,
    unreachable_pub,
    missing_debug_implementations
)]
pub mod pb {
    /// The `IM` package namespace as generated (cross-package references resolve through it).
    pub mod im {
        /// `IM.BaseDefine`: shared enums and structures.
        pub mod base_define {
            include!(concat!(env!("OUT_DIR"), "/im.base_define.rs"));
        }
        /// `IM.Buddy`: sessions, users, presence, departments.
        pub mod buddy {
            include!(concat!(env!("OUT_DIR"), "/im.buddy.rs"));
        }
        /// `IM.File`: file transfer.
        pub mod file {
            include!(concat!(env!("OUT_DIR"), "/im.file.rs"));
        }
        /// `IM.Group`: groups.
        pub mod group {
            include!(concat!(env!("OUT_DIR"), "/im.group.rs"));
        }
        /// `IM.Login`: login, logout, kick, device token, push shield, registration.
        pub mod login {
            include!(concat!(env!("OUT_DIR"), "/im.login.rs"));
        }
        /// `IM.Message`: messages, acks, unread, history.
        pub mod message {
            include!(concat!(env!("OUT_DIR"), "/im.message.rs"));
        }
        /// `IM.Other`: heartbeat.
        pub mod other {
            include!(concat!(env!("OUT_DIR"), "/im.other.rs"));
        }
        /// `IM.Server`: server-to-server messages.
        pub mod server {
            include!(concat!(env!("OUT_DIR"), "/im.server.rs"));
        }
        /// `IM.SwitchService`: opaque peer-to-peer commands.
        pub mod switch_service {
            include!(concat!(env!("OUT_DIR"), "/im.switch_service.rs"));
        }
    }
    pub use im::*;
}

pub use attach::{AttachError, DbAttachData, PduAttachData};
pub use ids::{CommandId, ServiceId, UnknownId};
pub use pdu::{DEFAULT_MAX_PDU_LEN, HEADER_LEN, Pdu, PduError, PduHeader};
pub use resend::MsgDataResend;
