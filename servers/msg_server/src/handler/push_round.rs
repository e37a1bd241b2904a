//! The push round (BEHAVIOUR §4), one flow from a stored message to push_server: the
//! recipients' device tokens (or, for a group, first the members' push shields) come from
//! db_proxy; a single-chat recipient's PC presence comes from route_server when the recipient
//! is not online here, and decides a normal or a silent push; the notification text is built
//! by `crate::push`; push_server gets one IMPushToUserReq per token. Only the msg_server that
//! stored a message runs its round (KNOWN_DEFECTS D-PUSH-3).

use log::debug;
use netlib::ConnHandle;
use prost::Message;
use teamtalk_proto::attach::attach_type;
use teamtalk_proto::crypto::decrypt_text;
use teamtalk_proto::pb::buddy::ImUsersStatReq;
use teamtalk_proto::pb::message::ImMsgData;
use teamtalk_proto::pb::server::{
    ImGetDeviceTokenReq, ImGetDeviceTokenRsp, ImGroupGetShieldRsp, ImPushToUserReq, ImPushToUserRsp,
};
use teamtalk_proto::{CommandId, Pdu, PduAttachData};

use crate::push;
use crate::state::{Ctx, State};

/// `push_type` of a normal push (alert and sound).
const PUSH_NORMAL: u32 = 1;
/// `push_type` of a silent push (badge only), used while a PC client is online.
const PUSH_SILENT: u32 = 2;

/// 0x0712: group members' push settings; those who did not mute the group get a push.
pub(crate) fn handle_group_get_shield_rsp(st: &mut State, ctx: &mut Ctx, h: ConnHandle, pdu: &Pdu) {
    let Ok(rsp) = pdu.parse::<ImGroupGetShieldRsp>() else {
        return;
    };
    let users: Vec<u32> = rsp
        .shield_status_list
        .iter()
        .filter(|s| s.shield_status == 0)
        .map(|s| s.user_id)
        .collect();
    // Sent even when every member muted the group, as the original does.
    let req = ImGetDeviceTokenReq {
        user_id: users,
        attach_data: rsp.attach_data,
    };
    let link = if ctx.is_open(h) {
        Some(h)
    } else {
        st.pick_business_link()
    };
    if let Some(link) = link {
        ctx.send_pdu_deferred(link, &Pdu::new(CommandId::OtherGetDeviceTokenReq, 0, &req));
    }
}

/// 0x0706: the recipients' device tokens for a message (the `attach_data`): build the
/// notification and push it (BEHAVIOUR §4).
pub(crate) fn handle_get_device_token_rsp(st: &mut State, ctx: &mut Ctx, pdu: &Pdu) {
    let Ok(rsp) = pdu.parse::<ImGetDeviceTokenRsp>() else {
        return;
    };
    let Some(msg) = rsp
        .attach_data
        .as_deref()
        .and_then(|a| ImMsgData::decode(a).ok())
    else {
        return;
    };
    let plain = if push::is_text(msg.msg_type) {
        match decrypt_text(&msg.msg_data, &st.config.aes_key) {
            Ok(p) => String::from_utf8_lossy(&p).into_owned(),
            Err(e) => {
                debug!(
                    "no push, text does not decrypt: from={} err={e}",
                    msg.from_user_id
                );
                return;
            }
        }
    } else {
        String::new()
    };
    let nick = st.users.get(msg.from_user_id).map(|u| u.nick.as_str());
    let flash = push::flash(msg.msg_type, &plain, nick);
    let data = push::data_json(msg.from_user_id, msg.msg_type, msg.to_session_id);
    let mut batch = Vec::new();
    for mut token in rsp.user_token_info {
        if token.user_id == msg.from_user_id {
            continue;
        }
        if let Some(user) = st.users.get(token.user_id) {
            token.push_type = if user.pc_online {
                PUSH_SILENT
            } else {
                PUSH_NORMAL
            };
            batch.push(token);
            continue;
        }
        // Not here: ask route_server whether a PC client is online anywhere; the answer
        // (attach type 4) carries the one-token push to send.
        token.push_type = PUSH_NORMAL;
        let user_id = token.user_id;
        let single = ImPushToUserReq {
            flash: flash.clone(),
            data: data.clone(),
            user_token_list: vec![token],
        };
        // Without route_server there is no answer to wait for: that user is not pushed, as
        // in the original.
        if let Some(route) = st.links.route.master() {
            let attach = PduAttachData::new(attach_type::PDU_FOR_PUSH, 0, single.encode_to_vec());
            let req = ImUsersStatReq {
                user_id: 0,
                user_id_list: vec![user_id],
                attach_data: Some(attach.encode()),
            };
            ctx.send_pdu_deferred(
                route,
                &Pdu::new(CommandId::BuddyListUsersStatusRequest, 0, &req),
            );
        }
    }
    if !batch.is_empty() {
        send_push(
            st,
            ctx,
            &ImPushToUserReq {
                flash,
                data,
                user_token_list: batch,
            },
        );
    }
}

/// Sends a push request to the push_server, if one is connected.
pub(crate) fn send_push(st: &State, ctx: &mut Ctx, req: &ImPushToUserReq) {
    if let Some(link) = st.links.push_link() {
        ctx.send_pdu_deferred(link, &Pdu::new(CommandId::OtherPushToUserReq, 0, req));
    }
}

/// The presence answer for a push awaiting it (attach type 4): silent if a PC is online.
pub(crate) fn push_after_presence(st: &State, ctx: &mut Ctx, online: bool, body: &[u8]) {
    let Ok(mut req) = ImPushToUserReq::decode(body) else {
        return;
    };
    for token in &mut req.user_token_list {
        token.push_type = if online { PUSH_SILENT } else { PUSH_NORMAL };
    }
    send_push(st, ctx, &req);
}

/// 0x0710: push_server's results, only logged.
pub(crate) fn handle_push_to_user_rsp(pdu: &Pdu) {
    if let Ok(rsp) = pdu.parse::<ImPushToUserRsp>() {
        let failed = rsp
            .push_result_list
            .iter()
            .filter(|r| r.result_code != 0)
            .count();
        debug!(
            "push results: total={} failed={failed}",
            rsp.push_result_list.len()
        );
    }
}
