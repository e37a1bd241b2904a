//! Cross-server traffic route_server passes on unchanged (BEHAVIOUR §6.3), byte for byte,
//! received header included (PROTOCOL §2.2).
//!
//! * PDUs addressed to one user — single-chat IMMsgData, IMP2PCmdMsg, IMMsgDataReadNotify,
//!   IMFileNotify, IMRemoveSessionNotify — go only to the links presence says host that user,
//!   and, for a message or a P2P command, the sender (msg_server shows both to the sender's
//!   other devices). The original sends them to every link (KNOWN_DEFECTS D-RS-4); a link
//!   without either user did nothing with them. Each such relay is filed in the replay window
//!   (`crate::replay`) for a link that reports a login of one of the users just after.
//! * Group messages, group-change notifications and kicks still go to every other link: the
//!   first two concern many users; a kick is about logins that may not have reached presence
//!   yet, and replaying one to a link after a login there would kick the new login.
//! * Sign-info notifications go to every link including the sender's, whose msg_server relies
//!   on the echo to reach its own users.
//!
//! A PDU whose body does not say who it is for (a field missing, malformed) goes to every
//! other link, as before: the receiving msg_server then ignores it as the original does.

use netlib::{ConnHandle, Ctx};
use teamtalk_proto::pb::base_define::MsgType;
use teamtalk_proto::{CommandId, Pdu};

use crate::peer::msg_server::{self, MsgServerLink};
use crate::presence::{Presence, UserId};
use crate::replay::{Addressees, ReplayWindow};

/// How a PDU was relayed, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Relayed {
    /// To every link but the sender's.
    Others,
    /// To the links hosting its addressees.
    Targeted,
}

/// The fields that say who a user-addressed PDU is for: in each such message they are the
/// leading `uint32` fields 1 and 2 (field 2 of IMRemoveSessionNotify is an enum, also a
/// varint). Decoding only these skips the rest of the body without copying it.
#[derive(Clone, PartialEq, prost::Message)]
struct AddressFields {
    #[prost(uint32, optional, tag = "1")]
    field_1: Option<u32>,
    #[prost(uint32, optional, tag = "2")]
    field_2: Option<u32>,
}

/// IMMsgData's addressing fields and its `msg_type` (field 5), which tells group from single.
#[derive(Clone, PartialEq, prost::Message)]
struct MsgDataFields {
    #[prost(uint32, optional, tag = "1")]
    from_user_id: Option<u32>,
    #[prost(uint32, optional, tag = "2")]
    to_session_id: Option<u32>,
    #[prost(int32, optional, tag = "5")]
    msg_type: Option<i32>,
}

/// Relays a PDU of the relayed commands except sign-info (see the module doc): to the links
/// hosting its addressees, or to every other link.
pub(super) fn relay(
    presence: &Presence,
    window: &mut ReplayWindow,
    ctx: &mut Ctx<MsgServerLink>,
    from: ConnHandle,
    command: CommandId,
    pdu: &Pdu,
) -> Relayed {
    let Some(addressees) = addressees(command, &pdu.body) else {
        msg_server::broadcast(ctx, pdu, Some(from));
        return Relayed::Others;
    };
    // A user is on a handful of links at most, so a linear duplicate check beats sorting.
    let mut links: Vec<ConnHandle> = Vec::with_capacity(4);
    for user in addressees.users() {
        for link in presence.links(user) {
            if link != from && !links.contains(&link) {
                links.push(link);
            }
        }
    }
    let mut bytes = Vec::with_capacity(pdu.len());
    pdu.encode_into(&mut bytes);
    for &link in &links {
        ctx.send(link, &bytes);
    }
    // The sender's link counts as served: its msg_server delivered there before relaying.
    links.push(from);
    window.record(ctx.now(), addressees, bytes, links);
    Relayed::Targeted
}

/// Sends the PDU unchanged to every link, the sender's included.
pub(super) fn relay_to_all(ctx: &mut Ctx<MsgServerLink>, pdu: &Pdu) {
    msg_server::broadcast(ctx, pdu, None);
}

/// Who a PDU is for, when it is addressed to users rather than to everyone; `None` for a
/// group message, another command, or a body that does not name its addressee.
fn addressees(command: CommandId, body: &[u8]) -> Option<Addressees> {
    let (to, also) = if command == CommandId::MsgData {
        let msg: MsgDataFields = prost::Message::decode(body).ok()?;
        let msg_type = msg.msg_type?;
        if msg_type == MsgType::GroupText as i32 || msg_type == MsgType::GroupAudio as i32 {
            return None;
        }
        (msg.to_session_id?, msg.from_user_id)
    } else {
        let fields: AddressFields = prost::Message::decode(body).ok()?;
        match command {
            CommandId::SwitchP2pCmd => (fields.field_2?, fields.field_1),
            CommandId::FileNotify => (fields.field_2?, None),
            CommandId::MsgReadNotify | CommandId::BuddyListRemoveSessionNotify => {
                (fields.field_1?, None)
            }
            _ => return None,
        }
    };
    Some(Addressees::new(UserId(to), also.map(UserId)))
}

#[cfg(test)]
mod tests {
    use prost::Message;
    use teamtalk_proto::pb::file::ImFileNotify;
    use teamtalk_proto::pb::message::ImMsgData;

    use super::*;

    fn msg(msg_type: i32) -> Vec<u8> {
        ImMsgData {
            from_user_id: 1,
            to_session_id: 2,
            msg_id: 3,
            create_time: 4,
            msg_type,
            msg_data: b"x".to_vec(),
            attach_data: Some(vec![9; 12]),
        }
        .encode_to_vec()
    }

    #[test]
    fn single_messages_are_for_the_peer_and_the_sender_group_messages_for_everyone() {
        let want = Addressees::new(UserId(2), Some(UserId(1)));
        for t in [MsgType::SingleText, MsgType::SingleAudio] {
            assert_eq!(addressees(CommandId::MsgData, &msg(t as i32)), Some(want));
        }
        for t in [MsgType::GroupText, MsgType::GroupAudio] {
            assert_eq!(addressees(CommandId::MsgData, &msg(t as i32)), None);
        }
    }

    #[test]
    fn a_body_without_its_addressee_or_malformed_is_for_everyone() {
        assert_eq!(addressees(CommandId::MsgData, &[]), None);
        assert_eq!(addressees(CommandId::FileNotify, &[0x08, 0x01]), None);
        assert_eq!(addressees(CommandId::MsgReadNotify, &[0x08]), None);
        assert_eq!(
            addressees(CommandId::OtherServerKickUser, &[0x08, 0x01]),
            None
        );
    }

    #[test]
    fn file_notifications_are_for_the_receiver_only() {
        let body = ImFileNotify {
            from_user_id: 1,
            to_user_id: 2,
            file_name: "a".into(),
            file_size: 1,
            task_id: "t".into(),
            ip_addr_list: vec![],
            trans_mode: 1,
            offline_ready: 0,
        }
        .encode_to_vec();
        assert_eq!(
            addressees(CommandId::FileNotify, &body),
            Some(Addressees::new(UserId(2), None))
        );
    }
}
