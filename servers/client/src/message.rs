//! Typed views of what the server pushes to a client: delivered messages (with their text
//! decrypted) and the notifications of BEHAVIOUR §3.
//!
//! Text message types (0x01 single, 0x11 group) carry AES-encrypted base64 text; audio types
//! (0x02, 0x12) carry a 4-byte big-endian duration followed by the audio bytes (PROTOCOL §7.3).

use teamtalk_proto::pb::base_define::{MsgInfo, MsgType, SessionType};
use teamtalk_proto::pb::buddy::{
    ImRemoveSessionNotify, ImSignInfoChangedNotify, ImUserStatNotify, ImpcLoginStatusNotify,
};
use teamtalk_proto::pb::file::ImFileNotify;
use teamtalk_proto::pb::group::ImGroupChangeMemberNotify;
use teamtalk_proto::pb::login::ImKickUser;
use teamtalk_proto::pb::message::{ImMsgData, ImMsgDataReadNotify};
use teamtalk_proto::pb::switch_service::Imp2pCmdMsg;
use teamtalk_proto::{CommandId, Pdu};

use crate::client::ClientError;
use crate::crypto::{CryptoError, decrypt_text};

/// A message delivered to this client (`IMMsgData` MS→C).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// Sender's user id.
    pub from: u32,
    /// Receiver's user id for single chat, group id for group chat.
    pub to_session: u32,
    /// Server-assigned message id (per user pair or per group).
    pub msg_id: u32,
    /// Message type.
    pub msg_type: MsgType,
    /// Server receive time, Unix seconds.
    pub create_time: u32,
    /// Decrypted text for text types; empty for audio.
    pub text: String,
    /// `msg_data` as received (ciphertext for text types).
    pub data: Vec<u8>,
    /// Header seq of the delivering PDU (0 for local delivery, the sender's seq when the
    /// message crossed route_server).
    pub seq: u16,
}

impl ReceivedMessage {
    /// Decodes an `IMMsgData` PDU, decrypting text with `key`.
    pub fn from_pdu(pdu: &Pdu, key: &[u8; 32]) -> Result<Self, ClientError> {
        let msg: ImMsgData = pdu.parse()?;
        let mut out = Self::from_msg_data(msg, key)?;
        out.seq = pdu.header.seq_num;
        Ok(out)
    }

    /// Decodes an `IMMsgData` body already parsed.
    pub fn from_msg_data(msg: ImMsgData, key: &[u8; 32]) -> Result<Self, ClientError> {
        let msg_type = msg_type(msg.msg_type)?;
        let text = message_text(msg_type, &msg.msg_data, key)?;
        Ok(Self {
            from: msg.from_user_id,
            to_session: msg.to_session_id,
            msg_id: msg.msg_id,
            msg_type,
            create_time: msg.create_time,
            text,
            data: msg.msg_data,
            seq: 0,
        })
    }

    /// Whether this is a group message.
    pub fn is_group(&self) -> bool {
        Self::is_group_type(self.msg_type as i32)
    }

    /// The session this message belongs to from the receiver's point of view: the sender for
    /// single chat, the group for group chat.
    pub fn session(&self) -> (SessionType, u32) {
        if self.is_group() {
            (SessionType::Group, self.to_session)
        } else {
            (SessionType::Single, self.from)
        }
    }

    /// Whether a raw `msg_type` value is one of the group types.
    pub fn is_group_type(msg_type: i32) -> bool {
        msg_type == MsgType::GroupText as i32 || msg_type == MsgType::GroupAudio as i32
    }
}

/// A `msg_type` wire value as [`MsgType`].
pub fn msg_type(value: i32) -> Result<MsgType, ClientError> {
    MsgType::try_from(value).map_err(|_| ClientError::UnexpectedValue {
        field: "msg_type",
        value: i64::from(value),
    })
}

/// Readable text of a message body: decrypted text for text types (invalid UTF-8 replaced),
/// empty for audio.
pub fn message_text(msg_type: MsgType, data: &[u8], key: &[u8; 32]) -> Result<String, CryptoError> {
    match msg_type {
        MsgType::SingleText | MsgType::GroupText => {
            let plain = decrypt_text(data, key)?;
            Ok(String::from_utf8_lossy(&plain).into_owned())
        }
        MsgType::SingleAudio | MsgType::GroupAudio => Ok(String::new()),
    }
}

/// One-line rendering of a stored message (`MsgInfo` from history or by-id queries): its text,
/// `[audio Ns]` for audio, or a marker when the text cannot be decrypted.
pub fn describe_msg_info(info: &MsgInfo, key: &[u8; 32]) -> String {
    describe_body(info.msg_type, &info.msg_data, key)
}

/// One-line rendering of a message body of raw type `msg_type` (see [`describe_msg_info`]).
pub fn describe_body(msg_type_value: i32, data: &[u8], key: &[u8; 32]) -> String {
    match MsgType::try_from(msg_type_value) {
        Ok(t @ (MsgType::SingleText | MsgType::GroupText)) => match message_text(t, data, key) {
            Ok(text) => text,
            Err(_) => "[undecryptable text]".to_owned(),
        },
        Ok(MsgType::SingleAudio | MsgType::GroupAudio) => match data.get(..4) {
            Some(d) => format!("[audio {}s]", u32::from_be_bytes([d[0], d[1], d[2], d[3]])),
            None => "[audio]".to_owned(),
        },
        Err(_) => format!("[message type {msg_type_value}]"),
    }
}

/// A server push, typed.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A delivered message (0x0301).
    Message(ReceivedMessage),
    /// This connection was kicked (0x0107).
    Kicked(ImKickUser),
    /// A user's presence changed (0x0203, PC clients only).
    UserStatus(ImUserStatNotify),
    /// Another device of this user read a session (0x0304).
    ReadNotify(ImMsgDataReadNotify),
    /// Another device of this user removed a session (0x020f).
    SessionRemoved(ImRemoveSessionNotify),
    /// This user's PC client logged in or out (0x020e, mobile clients only).
    PcLoginStatus(ImpcLoginStatusNotify),
    /// A user changed their signature (0x0215).
    SignInfoChanged(ImSignInfoChangedNotify),
    /// Group membership changed (0x040b).
    GroupMembersChanged(ImGroupChangeMemberNotify),
    /// A file is offered (0x0508).
    FileNotify(ImFileNotify),
    /// An opaque peer-to-peer command (0x0601).
    P2p(Imp2pCmdMsg),
    /// Anything else, undecoded.
    Other(Pdu),
}

impl Event {
    /// Decodes an event PDU, decrypting message text with `key`.
    pub fn from_pdu(pdu: Pdu, key: &[u8; 32]) -> Result<Self, ClientError> {
        let Some(cmd) = pdu.command() else {
            return Ok(Self::Other(pdu));
        };
        Ok(match cmd {
            CommandId::MsgData => Self::Message(ReceivedMessage::from_pdu(&pdu, key)?),
            CommandId::LoginKickUser => Self::Kicked(pdu.parse()?),
            CommandId::BuddyListStatusNotify => Self::UserStatus(pdu.parse()?),
            CommandId::MsgReadNotify => Self::ReadNotify(pdu.parse()?),
            CommandId::BuddyListRemoveSessionNotify => Self::SessionRemoved(pdu.parse()?),
            CommandId::BuddyListPcLoginStatusNotify => Self::PcLoginStatus(pdu.parse()?),
            CommandId::BuddyListSignInfoChangedNotify => Self::SignInfoChanged(pdu.parse()?),
            CommandId::GroupChangeMemberNotify => Self::GroupMembersChanged(pdu.parse()?),
            CommandId::FileNotify => Self::FileNotify(pdu.parse()?),
            CommandId::SwitchP2pCmd => Self::P2p(pdu.parse()?),
            _ => Self::Other(pdu),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{DEFAULT_AES_KEY, encrypt_text};

    #[test]
    fn text_message_is_decrypted() {
        let msg = ImMsgData {
            from_user_id: 5,
            to_session_id: 9,
            msg_id: 3,
            create_time: 100,
            msg_type: MsgType::GroupText as i32,
            msg_data: encrypt_text("hi there", DEFAULT_AES_KEY).into_bytes(),
            attach_data: None,
        };
        let pdu = Pdu::new(CommandId::MsgData, 0, &msg);
        let got = ReceivedMessage::from_pdu(&pdu, DEFAULT_AES_KEY).unwrap();
        assert_eq!(got.text, "hi there");
        assert_eq!(got.session(), (SessionType::Group, 9));
        assert!(got.is_group());
    }

    #[test]
    fn undecryptable_text_is_an_error_and_unknown_type_too() {
        let mut msg = ImMsgData {
            from_user_id: 5,
            to_session_id: 9,
            msg_id: 3,
            create_time: 100,
            msg_type: MsgType::SingleText as i32,
            msg_data: b"%%%".to_vec(),
            attach_data: None,
        };
        assert!(matches!(
            ReceivedMessage::from_msg_data(msg.clone(), DEFAULT_AES_KEY),
            Err(ClientError::Crypto(_))
        ));
        msg.msg_type = 7;
        assert!(matches!(
            ReceivedMessage::from_msg_data(msg, DEFAULT_AES_KEY),
            Err(ClientError::UnexpectedValue { value: 7, .. })
        ));
    }

    #[test]
    fn audio_is_described_by_duration() {
        assert_eq!(
            describe_body(2, &[0, 0, 0, 7, 1, 2], DEFAULT_AES_KEY),
            "[audio 7s]"
        );
        assert_eq!(describe_body(0x12, &[0], DEFAULT_AES_KEY), "[audio]");
        assert_eq!(describe_body(9, &[], DEFAULT_AES_KEY), "[message type 9]");
    }
}
