//! Request handlers, one module per `.proto` package (BEHAVIOUR §8), and the one dispatch
//! `match` on the command id.
//!
//! A handler runs on a worker thread: it parses the request, reads and writes the store, and
//! returns the answer PDU (seq echoed, `attach_data` copied) or `None` when the original sends
//! no answer. Storage errors are logged and answered the way the original answers them
//! (empty lists, failure codes, or nothing); they never panic.

pub mod buddy;
pub mod file;
pub mod group;
pub mod login;
pub mod message;
pub mod server;

use log::{debug, error, warn};
use prost::Message;
use teamtalk_proto::{CommandId, DEFAULT_MAX_PDU_LEN, Pdu};

use crate::store::{Store, StoreResult};

/// Runs the handler for `pdu`'s command. `admin`: the request came from a link that may act
/// as user 0 (`AdminPeerIPs`); from others, user 0 has no privileges (KNOWN_DEFECTS D-AUTH-2).
pub fn handle(store: &Store, pdu: &Pdu, admin: bool) -> Option<Pdu> {
    let Some(cmd) = pdu.command() else {
        debug!(
            "ignoring unknown command: cmd=0x{:04x}",
            pdu.header.command_id
        );
        return None;
    };
    match cmd {
        CommandId::OtherValidateReq => server::handle_validate_req(store, pdu),
        CommandId::OtherGetDeviceTokenReq => server::handle_get_device_token_req(store, pdu),
        CommandId::OtherGetShieldReq => server::handle_group_get_shield_req(store, pdu),
        CommandId::LoginReqDevicetoken => login::handle_device_token_req(store, pdu),
        CommandId::OtherClearDeviceTokenReq => login::handle_clear_device_token_req(store, pdu),
        CommandId::LoginReqPushShield => login::handle_push_shield_req(store, pdu),
        CommandId::LoginReqQueryPushShield => login::handle_query_push_shield_req(store, pdu),
        CommandId::LoginReqRegist => login::handle_regist_req(store, pdu),
        CommandId::BuddyListRecentContactSessionRequest => {
            buddy::handle_recent_contact_session_req(store, pdu)
        }
        CommandId::BuddyListUserInfoRequest => buddy::handle_users_info_req(store, pdu),
        CommandId::BuddyListRemoveSessionReq => buddy::handle_remove_session_req(store, pdu),
        CommandId::BuddyListAllUserRequest => buddy::handle_all_user_req(store, pdu),
        CommandId::BuddyListDepartmentRequest => buddy::handle_department_req(store, pdu),
        CommandId::BuddyListChangeSignInfoRequest => buddy::handle_change_sign_info_req(store, pdu),
        CommandId::MsgData => message::handle_msg_data(store, pdu),
        CommandId::MsgReadAck => message::handle_msg_data_read_ack(store, pdu),
        CommandId::MsgUnreadCntRequest => message::handle_unread_msg_cnt_req(store, pdu),
        CommandId::MsgListRequest => message::handle_get_msg_list_req(store, pdu),
        CommandId::MsgGetLatestMsgIdReq => message::handle_get_latest_msg_id_req(store, pdu),
        CommandId::MsgGetByMsgIdReq => message::handle_get_msg_by_id_req(store, pdu),
        CommandId::GroupNormalListRequest => group::handle_normal_group_list_req(store, pdu),
        CommandId::GroupInfoRequest => group::handle_group_info_list_req(store, pdu, admin),
        CommandId::GroupCreateRequest => group::handle_group_create_req(store, pdu),
        CommandId::GroupChangeMemberRequest => {
            group::handle_group_change_member_req(store, pdu, admin)
        }
        CommandId::GroupShieldGroupRequest => group::handle_group_shield_req(store, pdu),
        CommandId::FileHasOfflineReq => file::handle_file_has_offline_req(store, pdu),
        CommandId::FileAddOfflineReq => file::handle_file_add_offline_req(store, pdu),
        CommandId::FileDelOfflineReq => file::handle_file_del_offline_req(store, pdu),
        other => {
            debug!("ignoring command without a handler: cmd={other}");
            None
        }
    }
}

/// Runs a batch of one link's requests; returns their answers. A batch of several requests is
/// a run of messages, possibly with device-token queries among them (see `peer::server_link`):
/// the messages are stored together and answered in their order, then the queries are
/// answered. A query never concerns a message of its own batch (msg_server asks for a
/// recipient's tokens only after it got that message's answer), so answering it after the
/// batch's messages changes nothing a peer relies on.
pub fn handle_batch(store: &Store, pdus: &[Pdu], admin: bool) -> Vec<Pdu> {
    let mut answers = handle_batch_unchecked(store, pdus, admin);
    // Last line of defence: the handlers clamp their lists to fit, so this only drops an
    // answer some handler failed to bound. Sending it would make the peer close the link.
    answers.retain(|pdu| {
        let fits = pdu.len() <= MAX_ANSWER_LEN;
        if !fits {
            error!(
                "dropping answer over the frame limit: cmd=0x{:04x} len={} max={MAX_ANSWER_LEN}",
                pdu.header.command_id,
                pdu.len()
            );
        }
        fits
    });
    answers
}

fn handle_batch_unchecked(store: &Store, pdus: &[Pdu], admin: bool) -> Vec<Pdu> {
    if pdus.len() > 1 {
        let is_msg = |p: &&Pdu| p.header.command_id == CommandId::MsgData as u16;
        let mut answers = if pdus.iter().any(|p| is_msg(&p)) {
            message::handle_msg_data_batch(store, pdus.iter().filter(is_msg))
        } else {
            Vec::new()
        };
        // The rest of a run are device-token queries (`peer::server_link` admits nothing else).
        answers.extend(server::handle_get_device_token_batch(
            store,
            pdus.iter()
                .filter(|p| p.header.command_id == CommandId::OtherGetDeviceTokenReq as u16),
        ));
        return answers;
    }
    pdus.iter()
        .filter_map(|p| handle(store, p, admin))
        .collect()
}

/// Largest answer PDU, header included: msg_server (and every peer) reads db_proxy links with
/// the protocol's default frame limit and closes a link that sends more.
pub const MAX_ANSWER_LEN: usize = DEFAULT_MAX_PDU_LEN;
/// Room an answer keeps beside its one long list: header, scalar fields, framing.
const ANSWER_SLACK: usize = 64 * 1024;

/// Bytes the list of an answer may take when the answer also carries `echoed` bytes copied
/// from the request (`attach_data`, names): the frame limit less those and some slack.
pub fn list_budget(echoed: usize) -> usize {
    MAX_ANSWER_LEN.saturating_sub(ANSWER_SLACK.saturating_add(echoed))
}

/// Bytes `item` adds to a message as an element of a repeated field: the field key (at most
/// two bytes for the field numbers in use), the length prefix and the body.
pub fn entry_len(item: &impl Message) -> usize {
    let len = item.encoded_len();
    2 + prost::encoding::encoded_len_varint(len as u64) + len
}

/// Keeps the longest prefix of `list` that encodes within `budget` bytes; logs when entries
/// are cut. Returns whether the list was cut.
pub fn clamp_list<T: Message>(list: &mut Vec<T>, budget: usize, what: &str) -> bool {
    let mut used = 0usize;
    for (i, item) in list.iter().enumerate() {
        used = used.saturating_add(entry_len(item));
        if used > budget {
            warn!(
                "answer clamped to the frame limit: list={what} kept={i} of={} budget={budget}",
                list.len()
            );
            list.truncate(i);
            return true;
        }
    }
    false
}

/// Length of an optional echoed byte field.
fn echoed_len(attach: &Option<Vec<u8>>) -> usize {
    attach.as_ref().map_or(0, Vec::len)
}

/// The `attach_data` of an answer: the request's, copied as the original copies it (an absent
/// one becomes present and empty).
fn echo(attach: Option<Vec<u8>>) -> Option<Vec<u8>> {
    Some(attach.unwrap_or_default())
}

/// Parses the request body, logging (and so ignoring) a malformed one.
fn parse<M: Message + prost::Name + Default>(pdu: &Pdu) -> Option<M> {
    match pdu.parse::<M>() {
        Ok(m) => Some(m),
        Err(e) => {
            warn!("ignoring malformed request: err={e}");
            None
        }
    }
}

/// The value of a storage call, or `T::default()` after logging the failure (the original's
/// behaviour: failed reads look like empty results).
fn or_default<T: Default>(result: StoreResult<T>, what: &str) -> T {
    result.unwrap_or_else(|e| {
        warn!("storage call failed: op={what} err={}", error_chain(&e));
        T::default()
    })
}

/// `e` and its causes on one line, for logs.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use teamtalk_proto::pb::base_define::UserInfo;

    use super::*;

    fn user(id: u32, sign: usize) -> UserInfo {
        UserInfo {
            user_id: id,
            sign_info: Some("s".repeat(sign)),
            ..UserInfo::default()
        }
    }

    #[test]
    fn clamp_list_keeps_the_prefix_that_fits() {
        let mut list: Vec<UserInfo> = (1..=10).map(|i| user(i, 100)).collect();
        let one = entry_len(&list[0]);
        assert!(!clamp_list(&mut list, one * 10, "users"));
        assert_eq!(list.len(), 10);
        assert!(clamp_list(&mut list, one * 3 + one / 2, "users"));
        assert_eq!(
            list.iter().map(|u| u.user_id).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        // The entries' real encoding never passes the budget.
        let rsp = teamtalk_proto::pb::buddy::ImUsersInfoRsp {
            user_id: 1,
            user_info_list: list,
            attach_data: None,
        };
        assert!(rsp.encoded_len() <= one * 3 + one / 2 + 16);
    }

    #[test]
    fn the_budget_leaves_room_for_echoed_bytes() {
        assert_eq!(list_budget(0), MAX_ANSWER_LEN - ANSWER_SLACK);
        assert_eq!(list_budget(1000), MAX_ANSWER_LEN - ANSWER_SLACK - 1000);
        assert_eq!(list_budget(usize::MAX), 0);
    }
}
