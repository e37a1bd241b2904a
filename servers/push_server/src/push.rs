//! One push as the delivery side sees it: built on the reactor from one token of an
//! IMPushToUserReq (BEHAVIOUR §10) and routed by the token's client type.

use std::sync::Arc;

/// `ClientType` of iOS devices (served by APNs).
pub const CLIENT_TYPE_IOS: i32 = 0x11;
/// `ClientType` of Android devices (served by FCM).
pub const CLIENT_TYPE_ANDROID: i32 = 0x12;
/// `push_type` of a normal (alert and sound) push; anything else is silent.
pub const PUSH_TYPE_NORMAL: u32 = 1;

/// Which service reaches a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    /// Apple Push Notification service, HTTP/2 provider API.
    Apns,
    /// Firebase Cloud Messaging, HTTP v1 API.
    Fcm,
}

impl Provider {
    /// The provider for a token's client type, if any.
    pub fn for_client_type(client_type: i32) -> Option<Self> {
        match client_type {
            CLIENT_TYPE_IOS => Some(Self::Apns),
            CLIENT_TYPE_ANDROID => Some(Self::Fcm),
            _ => None,
        }
    }

    /// Name for log lines.
    pub fn name(self) -> &'static str {
        match self {
            Self::Apns => "apns",
            Self::Fcm => "fcm",
        }
    }
}

/// One notification for one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    /// Where it goes.
    pub provider: Provider,
    /// The device's user (for clearing a dead token).
    pub user_id: u32,
    /// The device token as the client registered it.
    pub token: String,
    /// The alert text as msg_server cut it (`flash`).
    pub flash: Arc<str>,
    /// msg_server's `data` JSON text, passed on as `custom`.
    pub data: Arc<str>,
    /// Badge number (`push_count`).
    pub badge: u32,
    /// Silent push: badge and data only, no alert and no sound (a PC client is online).
    pub silent: bool,
}

/// A token a provider called dead, to be cleared through db_proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadToken {
    /// The user the token was pushed for.
    pub user_id: u32,
    /// The dead token.
    pub token: String,
}
