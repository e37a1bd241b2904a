//! What a client may send, and the one place that checks it.
//!
//! Three layers, each sized so that the next hop takes whatever passes the one before:
//! - the frame: a client PDU longer than `MaxClientPduLen` closes that client at framing
//!   (netlib's `max_input`), before its body is buffered. Start-up refuses a limit that does
//!   not leave [`FORWARD_OVERHEAD`] below [`INTERNAL_MAX_PDU_LEN`], the cap of every internal
//!   link: a back end closes a whole link (every user's requests on it) over one PDU that is
//!   too long, so nothing a client can send may ever grow into one;
//! - the fields: every forwarded text and list is checked against the column or protocol bound
//!   it ends in (`Bounded`), so requests carry no more than the back end can store, and the
//!   lists cannot grow much when re-encoded (prost writes proto2 lists unpacked, one byte per
//!   entry more than the packed form a client may send);
//! - the rates: registrations per source address and profile broadcasts per user
//!   (`RateLimiter`, bounded in memory).
//!
//! A client over a bound gets the protocol's failure answer where its request has one, or the
//! request is dropped; either way it is counted, and a connection that collects
//! [`MAX_VIOLATIONS`] is closed.

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;

use teamtalk_proto::DEFAULT_MAX_PDU_LEN;
use teamtalk_proto::pb::base_define::ClientType;
use teamtalk_proto::pb::buddy::{
    ImChangeAvatarReq, ImChangeSignInfoReq, ImUsersInfoReq, ImUsersStatReq,
};
use teamtalk_proto::pb::file::{ImFileAddOfflineReq, ImFileDelOfflineReq, ImFileReq};
use teamtalk_proto::pb::group::{ImGroupChangeMemberReq, ImGroupCreateReq, ImGroupInfoListReq};
use teamtalk_proto::pb::login::{ImLoginReq, ImRegistReq};
use teamtalk_proto::pb::message::{ImGetMsgByIdReq, ImMsgData};
use teamtalk_proto::pb::switch_service::Imp2pCmdMsg;

use crate::push::is_text;

/// The PDU cap of every internal link (db_proxy, route, file, push, login all use netlib's
/// default): a forwarded PDU must never be longer.
pub const INTERNAL_MAX_PDU_LEN: usize = DEFAULT_MAX_PDU_LEN;
/// Longest text message: what the message tables can store (KNOWN_DEFECTS D-MS-10).
pub const MAX_TEXT_LEN: usize = 4096;
/// Longest audio message (4-byte duration plus the audio bytes, D-MS-10).
pub const MAX_AUDIO_LEN: usize = 2 * 1024 * 1024;
/// Room above the longest message body for the rest of a client PDU (header, ids, type).
pub const CLIENT_PDU_MARGIN: usize = 64 * 1024;
/// `MaxClientPduLen` when the conf does not set it: the longest audio message fits.
pub const DEFAULT_MAX_CLIENT_PDU_LEN: usize = MAX_AUDIO_LEN + CLIENT_PDU_MARGIN;
/// Smallest `MaxClientPduLen` accepted: every request but an audio message fits.
pub const MIN_CLIENT_PDU_LEN: usize = CLIENT_PDU_MARGIN;
/// Largest single entry msg_server adds when it stamps and forwards a request: the user id
/// (6 bytes), a 16-byte attach in field 20 (19 bytes), required fields the client left out,
/// the header the forward keeps.
pub const STAMP_OVERHEAD: usize = 1024;
/// Largest list a client may send (presence queries, [`MAX_STAT_IDS`]); re-encoding it
/// unpacked adds at most one byte per entry.
pub const LIST_REENCODE_OVERHEAD: usize = MAX_STAT_IDS;
/// What a group message gains on the fan-out round (BEHAVIOUR §3.2): the stored body rides
/// in an attach of IMGroupInfoListReq and comes back beside the group's name, avatar and
/// member list (6 bytes a member), which is what most of this budget is for (over 150 000
/// members).
pub const FAN_OUT_OVERHEAD: usize = 1024 * 1024 - STAMP_OVERHEAD - LIST_REENCODE_OVERHEAD;
/// The most msg_server adds to a client's bytes on their way through the back ends.
pub const FORWARD_OVERHEAD: usize = STAMP_OVERHEAD + LIST_REENCODE_OVERHEAD + FAN_OUT_OVERHEAD;
/// Largest `MaxClientPduLen` accepted: strictly below the internal cap minus the overhead.
pub const MAX_CLIENT_PDU_LEN: usize = INTERNAL_MAX_PDU_LEN - FORWARD_OVERHEAD - 1;

/// Longest user name, in characters (`IMUser.name varchar(32)`).
pub const MAX_USER_NAME_CHARS: usize = 32;
/// Length of a password as clients send it: lowercase MD5 hex (PROTOCOL §7.1).
pub const PASSWORD_HEX_LEN: usize = 32;
/// Longest nick, in characters (`IMUser.nick varchar(32)`).
pub const MAX_NICK_CHARS: usize = 32;
/// Longest user avatar URL, in characters (`IMUser.avatar varchar(255)`).
pub const MAX_USER_AVATAR_CHARS: usize = 255;
/// Longest phone number, in characters (`IMUser.phone varchar(11)`).
pub const MAX_PHONE_CHARS: usize = 11;
/// Longest e-mail address, in characters (`IMUser.email varchar(64)`).
pub const MAX_EMAIL_CHARS: usize = 64;
/// Longest signature, in bytes (`IMUser.sign_info`, db_proxy's own check, D-SQL-2).
pub const MAX_SIGN_INFO_LEN: usize = 128;
/// Longest group name, in characters (`IMGroup.name varchar(256)`).
pub const MAX_GROUP_NAME_CHARS: usize = 256;
/// Longest group avatar URL, in characters (`IMGroup.avatar varchar(256)`).
pub const MAX_GROUP_AVATAR_CHARS: usize = 256;
/// Longest file name, in bytes (`IMTransmitFile.fileName varchar(512)` and the 512-byte name
/// slot of file_server's offline header, STORAGE §6).
pub const MAX_FILE_NAME_LEN: usize = 512;
/// Longest task id, in bytes (`IMTransmitFile.taskId varchar(64)`; file_server hands out
/// 36-character UUIDs).
pub const MAX_TASK_ID_LEN: usize = 64;
/// Longest P2P command, in bytes: typing, shake and file-control JSON are far shorter.
pub const MAX_P2P_DATA_LEN: usize = 4096;
/// Longest P2P PDU body: relayed byte for byte, so fields the client added count too.
pub const MAX_P2P_BODY_LEN: usize = MAX_P2P_DATA_LEN + 64;
/// Users per user-info query: each answer entry can take about 2 KiB, so the answer stays
/// well below [`INTERNAL_MAX_PDU_LEN`].
pub const MAX_INFO_IDS: usize = 1000;
/// Users per presence query (about 12 bytes an answer entry).
pub const MAX_STAT_IDS: usize = 50_000;
/// Message ids per by-id history query (a text message is at most 4 KiB in the answer).
pub const MAX_MSG_IDS: usize = 200;
/// Groups per group-info query (each answer entry carries the group's member list).
pub const MAX_GROUP_INFO_IDS: usize = 500;
/// `MaxGroupMembersPerRequest` when the conf does not set it.
pub const DEFAULT_MAX_GROUP_MEMBERS_PER_REQUEST: usize = 500;
/// iOS device tokens: hexadecimal, 64 characters (APNs' 32 bytes) up to 200 (newer tokens
/// are of variable length).
pub const IOS_TOKEN_HEX_LEN: std::ops::RangeInclusive<usize> = 64..=200;
/// Android (FCM) registration tokens: letters, digits, `_`, `:` and `-`, up to this long.
pub const MAX_ANDROID_TOKEN_LEN: usize = 1024;
/// Violations one client connection may collect before it is closed as abusive.
pub const MAX_VIOLATIONS: u8 = 10;

/// A client field over its bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Violation {
    /// A text or byte field is longer than its bound (in `unit`s).
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
        unit: &'static str,
    },
    /// A list has more entries than its bound.
    TooMany {
        field: &'static str,
        count: usize,
        max: usize,
    },
    /// A field does not have the form its bound requires (hex, token charset).
    Malformed { field: &'static str },
    /// A per-user or per-address rate was exceeded.
    TooFrequent { what: &'static str, per_minute: u32 },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong {
                field,
                len,
                max,
                unit,
            } => write!(f, "{field} is {len} {unit}, over {max}"),
            Self::TooMany { field, count, max } => {
                write!(f, "{field} has {count} entries, over {max}")
            }
            Self::Malformed { field } => write!(f, "{field} is malformed"),
            Self::TooFrequent { what, per_minute } => {
                write!(f, "{what} over {per_minute} a minute")
            }
        }
    }
}

/// The configurable part of the bounds (the rest are the constants above).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bounds {
    /// Members per group create or member-change request (`MaxGroupMembersPerRequest`).
    pub(crate) group_members: usize,
}

/// A client request whose forwarded fields have bounds.
pub(crate) trait Bounded {
    /// The first field over its bound, if any.
    fn check(&self, bounds: &Bounds) -> Result<(), Violation>;
}

fn bytes(field: &'static str, len: usize, max: usize) -> Result<(), Violation> {
    if len <= max {
        Ok(())
    } else {
        Err(Violation::TooLong {
            field,
            len,
            max,
            unit: "bytes",
        })
    }
}

/// Column widths count characters; a string of at most `max` bytes needs no counting.
fn chars(field: &'static str, text: &str, max: usize) -> Result<(), Violation> {
    if text.len() <= max {
        return Ok(());
    }
    let len = text.chars().count();
    if len <= max {
        Ok(())
    } else {
        Err(Violation::TooLong {
            field,
            len,
            max,
            unit: "chars",
        })
    }
}

fn opt_chars(field: &'static str, text: Option<&str>, max: usize) -> Result<(), Violation> {
    text.map_or(Ok(()), |t| chars(field, t, max))
}

fn entries(field: &'static str, count: usize, max: usize) -> Result<(), Violation> {
    if count <= max {
        Ok(())
    } else {
        Err(Violation::TooMany { field, count, max })
    }
}

fn password(field: &'static str, text: &str) -> Result<(), Violation> {
    if text.len() == PASSWORD_HEX_LEN && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(Violation::Malformed { field })
    }
}

impl Bounded for ImLoginReq {
    fn check(&self, _: &Bounds) -> Result<(), Violation> {
        chars("user_name", &self.user_name, MAX_USER_NAME_CHARS)?;
        password("password", &self.password)
    }
}

impl Bounded for ImRegistReq {
    fn check(&self, _: &Bounds) -> Result<(), Violation> {
        chars("user_name", &self.user_name, MAX_USER_NAME_CHARS)?;
        password("password", &self.password)?;
        opt_chars("nick", self.nick.as_deref(), MAX_NICK_CHARS)?;
        opt_chars("avatar", self.avatar.as_deref(), MAX_USER_AVATAR_CHARS)?;
        opt_chars("phone", self.phone.as_deref(), MAX_PHONE_CHARS)?;
        opt_chars("email", self.email.as_deref(), MAX_EMAIL_CHARS)
    }
}

impl Bounded for ImUsersInfoReq {
    fn check(&self, _: &Bounds) -> Result<(), Violation> {
        entries("user_id_list", self.user_id_list.len(), MAX_INFO_IDS)
    }
}

impl Bounded for ImUsersStatReq {
    fn check(&self, _: &Bounds) -> Result<(), Violation> {
        entries("user_id_list", self.user_id_list.len(), MAX_STAT_IDS)
    }
}

impl Bounded for ImChangeAvatarReq {
    fn check(&self, _: &Bounds) -> Result<(), Violation> {
        chars("avatar_url", &self.avatar_url, MAX_USER_AVATAR_CHARS)
    }
}

impl Bounded for ImChangeSignInfoReq {
    fn check(&self, _: &Bounds) -> Result<(), Violation> {
        bytes("sign_info", self.sign_info.len(), MAX_SIGN_INFO_LEN)
    }
}

impl Bounded for ImMsgData {
    fn check(&self, _: &Bounds) -> Result<(), Violation> {
        let max = if is_text(self.msg_type) {
            MAX_TEXT_LEN
        } else {
            MAX_AUDIO_LEN
        };
        bytes("msg_data", self.msg_data.len(), max)
    }
}

impl Bounded for ImGetMsgByIdReq {
    fn check(&self, _: &Bounds) -> Result<(), Violation> {
        entries("msg_id_list", self.msg_id_list.len(), MAX_MSG_IDS)
    }
}

impl Bounded for ImGroupInfoListReq {
    fn check(&self, _: &Bounds) -> Result<(), Violation> {
        entries(
            "group_version_list",
            self.group_version_list.len(),
            MAX_GROUP_INFO_IDS,
        )
    }
}

impl Bounded for ImGroupCreateReq {
    fn check(&self, bounds: &Bounds) -> Result<(), Violation> {
        chars("group_name", &self.group_name, MAX_GROUP_NAME_CHARS)?;
        chars("group_avatar", &self.group_avatar, MAX_GROUP_AVATAR_CHARS)?;
        entries(
            "member_id_list",
            self.member_id_list.len(),
            bounds.group_members,
        )
    }
}

impl Bounded for ImGroupChangeMemberReq {
    fn check(&self, bounds: &Bounds) -> Result<(), Violation> {
        entries(
            "member_id_list",
            self.member_id_list.len(),
            bounds.group_members,
        )
    }
}

impl Bounded for ImFileReq {
    fn check(&self, _: &Bounds) -> Result<(), Violation> {
        bytes("file_name", self.file_name.len(), MAX_FILE_NAME_LEN)
    }
}

impl Bounded for ImFileAddOfflineReq {
    fn check(&self, _: &Bounds) -> Result<(), Violation> {
        bytes("task_id", self.task_id.len(), MAX_TASK_ID_LEN)?;
        bytes("file_name", self.file_name.len(), MAX_FILE_NAME_LEN)
    }
}

impl Bounded for ImFileDelOfflineReq {
    fn check(&self, _: &Bounds) -> Result<(), Violation> {
        bytes("task_id", self.task_id.len(), MAX_TASK_ID_LEN)
    }
}

impl Bounded for Imp2pCmdMsg {
    fn check(&self, _: &Bounds) -> Result<(), Violation> {
        bytes("cmd_msg_data", self.cmd_msg_data.len(), MAX_P2P_DATA_LEN)
    }
}

/// Requests that carry only numbers to forward (their attach is overwritten by msg_server).
macro_rules! only_numbers {
    ($($t:ty),* $(,)?) => {
        $(impl Bounded for $t {
            fn check(&self, _: &Bounds) -> Result<(), Violation> {
                Ok(())
            }
        })*
    };
}

only_numbers!(
    teamtalk_proto::pb::login::ImPushShieldReq,
    teamtalk_proto::pb::login::ImQueryPushShieldReq,
    teamtalk_proto::pb::buddy::ImRecentContactSessionReq,
    teamtalk_proto::pb::buddy::ImRemoveSessionReq,
    teamtalk_proto::pb::buddy::ImAllUserReq,
    teamtalk_proto::pb::buddy::ImDepartmentReq,
    teamtalk_proto::pb::message::ImMsgDataReadAck,
    teamtalk_proto::pb::message::ImUnreadMsgCntReq,
    teamtalk_proto::pb::message::ImGetMsgListReq,
    teamtalk_proto::pb::message::ImGetLatestMsgIdReq,
    teamtalk_proto::pb::group::ImNormalGroupListReq,
    teamtalk_proto::pb::group::ImGroupShieldReq,
    teamtalk_proto::pb::file::ImFileHasOfflineReq,
);

/// The token's form depends on the connection's client type, so device-token requests are
/// checked with [`check_device_token`] before they are forwarded.
impl Bounded for teamtalk_proto::pb::login::ImDeviceTokenReq {
    fn check(&self, _: &Bounds) -> Result<(), Violation> {
        Ok(())
    }
}

/// Checks a push token for the client type that registers it. An empty token (the client
/// unregisters) is always valid; PC clients never get here.
pub(crate) fn check_device_token(client_type: u8, token: &str) -> Result<(), Violation> {
    const FIELD: &str = "device_token";
    if token.is_empty() {
        return Ok(());
    }
    let ok = if client_type == ClientType::Ios as u8 {
        IOS_TOKEN_HEX_LEN.contains(&token.len()) && token.bytes().all(|b| b.is_ascii_hexdigit())
    } else if client_type == ClientType::Android as u8 {
        token.len() <= MAX_ANDROID_TOKEN_LEN
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b':' | b'-'))
    } else {
        false
    };
    if ok {
        Ok(())
    } else {
        Err(Violation::Malformed { field: FIELD })
    }
}

/// One key's window in a [`RateLimiter`].
#[derive(Debug, Clone, Copy)]
struct Window {
    /// The second (server tick) the window started.
    start: u32,
    /// Events counted in it.
    count: u32,
}

/// A fixed one-minute window per key, with at most `max_keys` keys: a key whose window ended
/// is forgotten when room is needed (and by [`RateLimiter::purge`]), and while every slot
/// holds a live window new keys are refused, so memory stays bounded whatever the keys.
#[derive(Debug)]
pub(crate) struct RateLimiter<K> {
    per_minute: u32,
    max_keys: usize,
    windows: HashMap<K, Window>,
}

/// Length of a rate window, in seconds.
const WINDOW_SECS: u32 = 60;

impl<K: Hash + Eq + Copy> RateLimiter<K> {
    /// A limiter allowing `per_minute` events per key, tracking at most `max_keys` keys.
    pub(crate) fn new(per_minute: u32, max_keys: usize) -> Self {
        Self {
            per_minute,
            max_keys,
            windows: HashMap::new(),
        }
    }

    /// The configured rate.
    pub(crate) fn per_minute(&self) -> u32 {
        self.per_minute
    }

    /// Counts one event for `key` at `second`; `false` if it is over the rate.
    pub(crate) fn allow(&mut self, key: K, second: u32) -> bool {
        if let Some(w) = self.windows.get_mut(&key) {
            if second.wrapping_sub(w.start) < WINDOW_SECS {
                if w.count >= self.per_minute {
                    return false;
                }
                w.count += 1;
                return true;
            }
            *w = Window {
                start: second,
                count: 0,
            };
        } else {
            if self.windows.len() >= self.max_keys {
                self.purge(second);
            }
            if self.windows.len() >= self.max_keys {
                return false;
            }
        }
        if self.per_minute == 0 {
            return false;
        }
        self.windows.insert(
            key,
            Window {
                start: second,
                count: 1,
            },
        );
        true
    }

    /// Forgets every key whose window ended.
    pub(crate) fn purge(&mut self, second: u32) {
        self.windows
            .retain(|_, w| second.wrapping_sub(w.start) < WINDOW_SECS);
    }

    /// Keys tracked now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.windows.len()
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;
    use teamtalk_proto::attach::attach_type;
    use teamtalk_proto::pb::base_define::{GroupInfo, GroupVersionInfo, MsgType};
    use teamtalk_proto::pb::group::ImGroupInfoListRsp;
    use teamtalk_proto::{CommandId, DbAttachData, Pdu, PduAttachData};

    use super::*;

    const BOUNDS: Bounds = Bounds { group_members: 500 };

    #[test]
    fn every_accepted_client_pdu_fits_the_internal_links_after_forwarding() {
        const { assert!(DEFAULT_MAX_CLIENT_PDU_LEN + FORWARD_OVERHEAD < INTERNAL_MAX_PDU_LEN) };
        const { assert!(MAX_CLIENT_PDU_LEN + FORWARD_OVERHEAD < INTERNAL_MAX_PDU_LEN) };
        const { assert!(MIN_CLIENT_PDU_LEN <= DEFAULT_MAX_CLIENT_PDU_LEN) };
        const { assert!(DEFAULT_MAX_CLIENT_PDU_LEN <= MAX_CLIENT_PDU_LEN) };
        // The longest audio message a client may send fits the default frame.
        let audio = ImMsgData {
            from_user_id: u32::MAX,
            to_session_id: u32::MAX,
            msg_id: u32::MAX,
            create_time: u32::MAX,
            msg_type: MsgType::GroupAudio as i32,
            msg_data: vec![0xa5; MAX_AUDIO_LEN],
            attach_data: None,
        };
        assert!(audio.check(&BOUNDS).is_ok());
        let client = Pdu::new(CommandId::MsgData, 1, &audio).encode();
        assert!(client.len() <= DEFAULT_MAX_CLIENT_PDU_LEN);
        // Stamped with the sender's attach for db_proxy.
        let stored = ImMsgData {
            attach_data: Some(DbAttachData::handle(u32::MAX).encode()),
            ..audio
        };
        let to_db = Pdu::new(CommandId::MsgData, 1, &stored);
        assert!(to_db.encode().len() <= client.len() + STAMP_OVERHEAD);
        // The fan-out round: the stored body in an attach, and back with a big group.
        let wrapped = PduAttachData::new(attach_type::HANDLE_AND_PDU, u32::MAX, to_db.body);
        let members: Vec<u32> = (u32::MAX - 150_000..u32::MAX).collect();
        let rsp = ImGroupInfoListRsp {
            user_id: u32::MAX,
            group_info_list: vec![GroupInfo {
                group_id: u32::MAX,
                version: u32::MAX,
                group_name: "群".repeat(MAX_GROUP_NAME_CHARS),
                group_avatar: "像".repeat(MAX_GROUP_AVATAR_CHARS),
                group_creator_id: u32::MAX,
                group_type: 2,
                shield_status: 1,
                group_member_list: members,
            }],
            attach_data: Some(wrapped.encode()),
        };
        let back = Pdu::new(CommandId::GroupInfoResponse, 1, &rsp).encode();
        assert!(back.len() <= client.len() + FORWARD_OVERHEAD);
        assert!(back.len() < INTERNAL_MAX_PDU_LEN);
        let req = ImGroupInfoListReq {
            user_id: u32::MAX,
            group_version_list: vec![GroupVersionInfo {
                group_id: u32::MAX,
                version: 0,
            }],
            attach_data: rsp.attach_data,
        };
        assert!(
            Pdu::new(CommandId::GroupInfoRequest, 0, &req)
                .encode()
                .len()
                < back.len()
        );
    }

    #[test]
    fn a_packed_list_grows_by_at_most_one_byte_an_entry_when_forwarded() {
        // A client may send the list packed (field 2, one length-delimited run of varints).
        let ids = vec![1u32; MAX_STAT_IDS];
        let mut packed = vec![0x08, 0x01, 0x12];
        prost::encoding::encode_varint(ids.len() as u64, &mut packed);
        packed.extend(std::iter::repeat_n(1u8, ids.len()));
        let req = ImUsersStatReq::decode(packed.as_slice()).unwrap();
        assert_eq!(req.user_id_list, ids);
        assert!(req.check(&BOUNDS).is_ok());
        let forwarded = ImUsersStatReq {
            attach_data: Some(vec![0; 16]),
            ..req
        }
        .encode_to_vec();
        assert!(forwarded.len() <= packed.len() + LIST_REENCODE_OVERHEAD + STAMP_OVERHEAD);
    }

    #[test]
    fn login_fields_are_bounded_by_the_user_table() {
        let ok = ImLoginReq {
            user_name: "名".repeat(MAX_USER_NAME_CHARS),
            password: "cc03e747a6afbbcbf8be7668acfebee5".to_owned(),
            online_status: 1,
            client_type: 1,
            client_version: None,
        };
        assert_eq!(ok.check(&BOUNDS), Ok(()));
        let long = ImLoginReq {
            user_name: "n".repeat(MAX_USER_NAME_CHARS + 1),
            ..ok.clone()
        };
        assert!(matches!(
            long.check(&BOUNDS),
            Err(Violation::TooLong {
                field: "user_name",
                len: 33,
                ..
            })
        ));
        for bad in ["", "short", "zz03e747a6afbbcbf8be7668acfebee5"] {
            let req = ImLoginReq {
                password: bad.to_owned(),
                ..ok.clone()
            };
            assert_eq!(
                req.check(&BOUNDS),
                Err(Violation::Malformed { field: "password" })
            );
        }
    }

    #[test]
    fn each_forwarded_field_is_checked_at_its_bound() {
        let sign = |n| ImChangeSignInfoReq {
            user_id: 1,
            sign_info: "s".repeat(n),
            attach_data: None,
        };
        assert!(sign(MAX_SIGN_INFO_LEN).check(&BOUNDS).is_ok());
        assert!(sign(MAX_SIGN_INFO_LEN + 1).check(&BOUNDS).is_err());
        // Two-byte characters: 128 bytes is the limit, not 128 characters.
        let wide = ImChangeSignInfoReq {
            sign_info: "é".repeat(65),
            ..sign(0)
        };
        assert!(wide.check(&BOUNDS).is_err());
        let text = |n, t: MsgType| ImMsgData {
            msg_type: t as i32,
            msg_data: vec![b'a'; n],
            ..Default::default()
        };
        assert!(
            text(MAX_TEXT_LEN, MsgType::GroupText)
                .check(&BOUNDS)
                .is_ok()
        );
        assert!(
            text(MAX_TEXT_LEN + 1, MsgType::SingleText)
                .check(&BOUNDS)
                .is_err()
        );
        assert!(
            text(MAX_TEXT_LEN + 1, MsgType::SingleAudio)
                .check(&BOUNDS)
                .is_ok()
        );
        assert!(
            text(MAX_AUDIO_LEN + 1, MsgType::SingleAudio)
                .check(&BOUNDS)
                .is_err()
        );
        let group = |members: usize, name: usize| ImGroupCreateReq {
            group_name: "g".repeat(name),
            member_id_list: vec![7; members],
            ..Default::default()
        };
        assert!(group(500, 256).check(&BOUNDS).is_ok());
        assert!(matches!(
            group(501, 1).check(&BOUNDS),
            Err(Violation::TooMany {
                field: "member_id_list",
                count: 501,
                max: 500
            })
        ));
        assert!(group(1, 257).check(&BOUNDS).is_err());
        let change = ImGroupChangeMemberReq {
            member_id_list: vec![1; 11],
            ..Default::default()
        };
        assert!(change.check(&Bounds { group_members: 10 }).is_err());
        let p2p = Imp2pCmdMsg {
            cmd_msg_data: "x".repeat(MAX_P2P_DATA_LEN + 1),
            ..Default::default()
        };
        assert!(p2p.check(&BOUNDS).is_err());
        let file = ImFileReq {
            file_name: "f".repeat(MAX_FILE_NAME_LEN + 1),
            ..Default::default()
        };
        assert!(file.check(&BOUNDS).is_err());
        let info = ImUsersInfoReq {
            user_id_list: vec![1; MAX_INFO_IDS + 1],
            ..Default::default()
        };
        assert!(info.check(&BOUNDS).is_err());
        let reg = ImRegistReq {
            user_name: "new".into(),
            password: "cc03e747a6afbbcbf8be7668acfebee5".into(),
            phone: Some("123456789012".into()),
            ..Default::default()
        };
        assert!(matches!(
            reg.check(&BOUNDS),
            Err(Violation::TooLong { field: "phone", .. })
        ));
    }

    #[test]
    fn device_tokens_follow_the_platform_format() {
        let ios = ClientType::Ios as u8;
        let android = ClientType::Android as u8;
        assert!(check_device_token(ios, &"ab12".repeat(16)).is_ok());
        assert!(check_device_token(ios, &"AB12".repeat(40)).is_ok());
        assert!(check_device_token(ios, &"ab12".repeat(51)).is_err());
        assert!(check_device_token(ios, &"ab1".repeat(10)).is_err());
        assert!(check_device_token(ios, &"zz12".repeat(16)).is_err());
        let fcm = "dQw4w9WgXcQ:APA91bH-abc_DEF012".to_owned() + &"x".repeat(120);
        assert!(check_device_token(android, &fcm).is_ok());
        assert!(check_device_token(android, "bad token").is_err());
        assert!(check_device_token(android, "tok\u{0}en").is_err());
        assert!(check_device_token(android, &"a".repeat(MAX_ANDROID_TOKEN_LEN + 1)).is_err());
        assert!(check_device_token(android, "").is_ok());
        assert!(check_device_token(ClientType::Windows as u8, "ab").is_err());
    }

    #[test]
    fn rate_limiter_counts_per_key_per_minute_and_stays_bounded() {
        let mut rl = RateLimiter::new(3, 2);
        assert!((0..3).all(|_| rl.allow("a", 10)));
        assert!(!rl.allow("a", 69));
        assert!(rl.allow("a", 70));
        assert!(rl.allow("b", 70));
        // Full with live windows: a third key is refused, not tracked.
        assert!(!rl.allow("c", 71));
        assert_eq!(rl.len(), 2);
        // Once the windows end, their slots are reused.
        assert!(rl.allow("c", 130));
        assert!(rl.len() <= 2);
        rl.purge(500);
        assert_eq!(rl.len(), 0);
        let mut off = RateLimiter::new(0, 4);
        assert!(!off.allow(1u32, 0));
        assert_eq!(off.len(), 0);
    }
}
