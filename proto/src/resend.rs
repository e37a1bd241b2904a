//! The resend fields teamtalk-rs adds to `IMMsgData` on the msg_server ⇄ db_proxy hop, so a
//! message a client sends again after a lost ack is stored once (PROTOCOL §7.6).
//!
//! They are ordinary protobuf fields with tags the original schema does not use (21, 22),
//! appended to an encoded `IMMsgData` body: a protobuf parser reads fields in any order and
//! skips tags it does not know, so the C++ servers ignore them (the C++ db_proxy even echoes
//! them back unchanged), while our servers read them with [`MsgDataResend::read`]. Decoding a
//! body as [`ImMsgData`] and encoding it again drops them, which is how msg_server keeps them
//! from clients and from route_server.
//!
//! [`ImMsgData`]: crate::pb::message::ImMsgData

/// The teamtalk-rs fields of an `IMMsgData` body; both absent in a body from a C++ server.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct MsgDataResend {
    /// `create_time` as the client sent it, before msg_server stamped its own clock: with the
    /// sender, the session, the type and the data it identifies one message of one client.
    #[prost(uint32, optional, tag = "21")]
    pub client_create_time: Option<u32>,
    /// Set by db_proxy in its answer when the message had already been stored: the msg id is
    /// the first copy's, and msg_server acks the sender without delivering the message again.
    #[prost(bool, optional, tag = "22")]
    pub duplicate: Option<bool>,
}

impl MsgDataResend {
    /// The fields found in an encoded `IMMsgData` body; absent ones (and an unreadable body)
    /// give `None`s.
    pub fn read(body: &[u8]) -> Self {
        <Self as prost::Message>::decode(body).unwrap_or_default()
    }

    /// Appends the present fields to an encoded `IMMsgData` body.
    pub fn append_to(&self, body: &mut Vec<u8>) {
        prost::Message::encode_raw(self, body);
    }

    /// Whether the body says its message is a copy of one already stored.
    pub fn is_duplicate(body: &[u8]) -> bool {
        Self::read(body).duplicate == Some(true)
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::pb::message::ImMsgData;

    fn data() -> ImMsgData {
        ImMsgData {
            from_user_id: 7,
            to_session_id: 9,
            msg_id: 0,
            create_time: 1_700_000_100,
            msg_type: 1,
            msg_data: b"hello".to_vec(),
            attach_data: Some(vec![1, 2, 3]),
        }
    }

    #[test]
    fn appended_fields_are_read_back_and_ignored_by_the_original_message() {
        let mut body = data().encode_to_vec();
        let resend = MsgDataResend {
            client_create_time: Some(1_700_000_000),
            duplicate: Some(true),
        };
        resend.append_to(&mut body);
        assert_eq!(MsgDataResend::read(&body), resend);
        assert!(MsgDataResend::is_duplicate(&body));
        // The original message type still decodes, and re-encoding drops the extra fields.
        let back = ImMsgData::decode(&body[..]).unwrap();
        assert_eq!(back, data());
        assert_eq!(
            MsgDataResend::read(&back.encode_to_vec()),
            MsgDataResend::default()
        );
    }

    #[test]
    fn a_body_without_the_fields_or_unreadable_reads_as_absent() {
        let plain = data().encode_to_vec();
        assert_eq!(MsgDataResend::read(&plain), MsgDataResend::default());
        assert!(!MsgDataResend::is_duplicate(&plain));
        assert_eq!(MsgDataResend::read(&[0xff, 0xff]), MsgDataResend::default());
    }
}
