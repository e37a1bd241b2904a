//! `IM.Server`: the server-to-server side. Link set-up (PROTOCOL §6.4), the end of a client
//! connection (BEHAVIOUR §1.5), the validation answer that completes a login (§2.2), kicks and
//! PC-login notices from route_server (§3.4), the push round (§4) and file_server answers
//! (§5.1).

use std::time::Duration;

use log::{debug, info, warn};
use netlib::{CloseReason, ConnHandle};
use prost::Message;
use teamtalk_proto::attach::attach_type;
use teamtalk_proto::crypto::decrypt_text;
use teamtalk_proto::pb::base_define::{
    KickReasonType, ResultType, ServerUserStat, TransferFileType, UserStatType,
};
use teamtalk_proto::pb::buddy::{ImUsersStatReq, ImpcLoginStatusNotify};
use teamtalk_proto::pb::file::{ImFileNotify, ImFileRsp};
use teamtalk_proto::pb::login::ImLoginRes;
use teamtalk_proto::pb::message::ImMsgData;
use teamtalk_proto::pb::server::{
    ImFileServerIpReq, ImFileServerIpRsp, ImFileTransferRsp, ImGetDeviceTokenReq,
    ImGetDeviceTokenRsp, ImGroupGetShieldRsp, ImMsgServInfo, ImOnlineUserInfo, ImPushToUserReq,
    ImPushToUserRsp, ImRoleSet, ImServerKickUser, ImServerPcLoginStatusNotify, ImValidateRsp,
};
use teamtalk_proto::{CommandId, Pdu, PduAttachData};

use super::login::{kick_remote, kick_same_kind, refuse_login};
use crate::peer::client::{ClientConn, ClientState, is_mobile};
use crate::peer::{Connected, LinkKind};
use crate::pending::Continuation;
use crate::push;
use crate::state::{Ctx, State, client, client_mut, unix_now};

/// A PC (or not yet logged-in) client is closed after this long without sending anything.
pub(crate) const PC_IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// A phone is closed after this long without sending anything.
pub(crate) const MOBILE_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Entries per IMOnlineUserInfo. The original always sends one PDU; at most 12 bytes an entry
/// this keeps it to one below the peers' 4 MiB PDU cap for any server that fits in its file
/// descriptors, and splits only beyond that.
const ONLINE_USERS_PER_PDU: usize = 250_000;
/// `push_type` of a normal push (alert and sound).
const PUSH_NORMAL: u32 = 1;
/// `push_type` of a silent push (badge only), used while a PC client is online.
const PUSH_SILENT: u32 = 2;

/// A back-end link came up: send what that link expects first.
pub(crate) fn link_up(st: &mut State, ctx: &mut Ctx, h: ConnHandle, up: Connected) {
    match up.kind {
        LinkKind::Login => {
            let info = ImMsgServInfo {
                ip1: st.config.ip_addr1.clone(),
                ip2: st.config.ip_addr2.clone(),
                port: u32::from(st.listen_port),
                max_conn_cnt: st.config.max_conn_cnt,
                cur_conn_cnt: st.logged_in,
                host_name: st.host_name.clone(),
            };
            ctx.send_pdu_deferred(h, &Pdu::new(CommandId::OtherMsgServInfo, 0, &info));
        }
        LinkKind::Route => {
            if up.new_master {
                send_role_set(ctx, h);
            }
            send_online_users(st, ctx, h);
        }
        LinkKind::File => {
            ctx.send_pdu_deferred(
                h,
                &Pdu::new(CommandId::OtherFileServerIpReq, 0, &ImFileServerIpReq {}),
            );
        }
        LinkKind::Db | LinkKind::Push => {}
    }
}

fn send_role_set(ctx: &mut Ctx, h: ConnHandle) {
    info!("route link is master: handle={h}");
    ctx.send_pdu_deferred(
        h,
        &Pdu::new(CommandId::OtherRoleSet, 0, &ImRoleSet { master: 1 }),
    );
}

/// IMOnlineUserInfo with one entry per logged-in connection, so route_server learns (again)
/// who is online here.
fn send_online_users(st: &State, ctx: &mut Ctx, h: ConnHandle) {
    let mut stats = Vec::new();
    for (user_id, user) in st.users.iter() {
        for &c in user.conns() {
            if let Some(conn) = client(ctx, c) {
                stats.push(ServerUserStat {
                    user_id,
                    status: i32::from(conn.online_status),
                    client_type: i32::from(conn.client_type),
                });
            }
        }
    }
    if stats.is_empty() {
        ctx.send_pdu_deferred(
            h,
            &Pdu::new(
                CommandId::OtherOnlineUserInfo,
                0,
                &ImOnlineUserInfo::default(),
            ),
        );
    }
    for chunk in stats.chunks(ONLINE_USERS_PER_PDU) {
        let info = ImOnlineUserInfo {
            user_stat_list: chunk.to_vec(),
        };
        ctx.send_pdu_deferred(h, &Pdu::new(CommandId::OtherOnlineUserInfo, 0, &info));
    }
}

/// A back-end link closed (or a connect failed): schedule the reconnect and, if the route
/// master went, promote the next route link.
pub(crate) fn link_down(st: &mut State, ctx: &mut Ctx, h: ConnHandle, reason: &CloseReason) {
    debug!("link closed: handle={h} reason={reason}");
    // The link leaves its pool first, so what its requests' failures ask again goes elsewhere.
    if let Some(master) = st.links.closed(h, ctx.now()) {
        send_role_set(ctx, master);
    }
    let lost = st.pending.take_link(h);
    if !lost.is_empty() {
        info!(
            "link closed with requests pending, failing them: handle={h} requests={}",
            lost.len()
        );
    }
    for pending in lost {
        super::fail_pending(st, ctx, pending, "link closed");
    }
}

/// A client connection ended (BEHAVIOUR §1.5): if it was logged in, it leaves its user and
/// login_servers and route_servers hear about it.
pub(crate) fn client_closed(
    st: &mut State,
    ctx: &mut Ctx,
    h: ConnHandle,
    c: ClientConn,
    reason: &CloseReason,
) {
    st.clients = st.clients.saturating_sub(1);
    let user_id = match c.state {
        ClientState::Open { user_id } => {
            st.users.remove(user_id, h);
            user_id
        }
        ClientState::Kicked { user_id } => user_id,
        ClientState::Fresh | ClientState::Validating { .. } => {
            debug!("client closed before login: handle={h} reason={reason}");
            return;
        }
    };
    debug!("client closed: handle={h} user={user_id} reason={reason}");
    st.logged_in = st.logged_in.saturating_sub(1);
    st.announce_offline(ctx, user_id, c.client_type);
}

/// 0x0704: db_proxy's verdict on a login (BEHAVIOUR §2.2, answer side).
pub(crate) fn handle_validate_rsp(st: &mut State, ctx: &mut Ctx, pdu: &Pdu) {
    let Ok(rsp) = pdu.parse::<ImValidateRsp>() else {
        return;
    };
    let attach = rsp.attach_data.as_deref().unwrap_or_default();
    let Some(h) = st.peek_requester(ctx, attach, Continuation::Login) else {
        debug!(
            "dropping validation for a gone client: user_name_len={}",
            rsp.user_name.len()
        );
        return;
    };
    let Some(c) = client(ctx, h) else {
        return;
    };
    // An answer for another name does not end the request: the real one may follow.
    match &c.state {
        ClientState::Validating { name } if **name == *rsp.user_name => {}
        _ => return,
    }
    st.answered(attach, Continuation::Login);
    let (client_type, online_status) = (c.client_type, c.online_status);
    let seq = pdu.header.seq_num;
    let text = rsp.result_string.unwrap_or_default();
    let user = rsp
        .user_info
        .filter(|u| rsp.result_code == 0 && u.user_id != 0);
    let Some(mut user) = user else {
        debug!(
            "login refused by db_proxy: handle={h} code={}",
            rsp.result_code
        );
        refuse_login(
            st,
            ctx,
            h,
            seq,
            ResultType::RefuseReasonDbValidateFailed,
            text,
        );
        return;
    };
    // The original copies every field into the answer, so `sign_info` (optional) is always
    // present, empty if db_proxy left it out.
    user.sign_info.get_or_insert_with(String::new);
    let user_id = user.user_id;
    let entry = st.users.add(user_id, &user.user_nick_name, h);
    if !is_mobile(client_type) {
        entry.pc_online = true;
    }
    kick_same_kind(
        st,
        ctx,
        user_id,
        client_type,
        Some(h),
        KickReasonType::KickReasonDuplicateUser,
    );
    kick_remote(
        st,
        ctx,
        user_id,
        client_type,
        KickReasonType::KickReasonDuplicateUser,
    );
    if let Some(c) = client_mut(ctx, h) {
        c.state = ClientState::Open { user_id };
    }
    if is_mobile(client_type) {
        ctx.set_idle_timeout(h, Some(MOBILE_IDLE_TIMEOUT));
    }
    st.logged_in += 1;
    st.announce_online(ctx, user_id, client_type);
    debug!("client logged in: handle={h} user={user_id} client_type={client_type}");
    let res = ImLoginRes {
        server_time: unix_now(),
        result_code: ResultType::RefuseReasonNone as i32,
        result_string: Some(text),
        online_status: Some(i32::from(online_status)),
        user_info: Some(user),
    };
    ctx.send_pdu_deferred(h, &Pdu::new(CommandId::LoginResUserlogin, seq, &res));
}

/// 0x0702: db_proxy is shutting down; this link takes no more requests.
pub(crate) fn handle_stop_receive_packet(st: &mut State, h: ConnHandle) {
    info!("db_proxy stops receiving: handle={h}");
    st.links.db.stop_received(h);
}

/// 0x070d from route_server: a login elsewhere kicks this user's clients of the same kind.
pub(crate) fn handle_server_kick_user(st: &mut State, ctx: &mut Ctx, pdu: &Pdu) {
    let Ok(kick) = pdu.parse::<ImServerKickUser>() else {
        return;
    };
    let reason = KickReasonType::try_from(kick.reason as i32)
        .unwrap_or(KickReasonType::KickReasonDuplicateUser);
    let client_type = u8::try_from(kick.client_type).unwrap_or(0);
    kick_same_kind(st, ctx, kick.user_id, client_type, None, reason);
}

/// 0x070e from route_server: whether some PC client of the user is online anywhere; the
/// user's phones here are told.
pub(crate) fn handle_server_pc_login_status_notify(st: &mut State, ctx: &mut Ctx, pdu: &Pdu) {
    let Ok(n) = pdu.parse::<ImServerPcLoginStatusNotify>() else {
        return;
    };
    let Some(user) = st.users.get_mut(n.user_id) else {
        return;
    };
    user.pc_online = n.login_status == 1;
    let login_stat = if n.login_status == 1 {
        UserStatType::UserStatusOnline
    } else {
        UserStatType::UserStatusOffline
    };
    let notify = ImpcLoginStatusNotify {
        user_id: n.user_id,
        login_stat: login_stat as i32,
    };
    let bytes = Pdu::new(CommandId::BuddyListPcLoginStatusNotify, 0, &notify).encode();
    st.send_to_user_where(ctx, n.user_id, &bytes, ClientConn::is_mobile);
}

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

/// 0x0734: the client addresses of a file_server.
pub(crate) fn handle_file_server_ip_rsp(st: &mut State, h: ConnHandle, pdu: &Pdu) {
    if let Ok(rsp) = pdu.parse::<ImFileServerIpRsp>() {
        st.links.file.set_addrs(h, rsp.ip_addr_list);
    }
}

/// 0x0732: file_server created (or refused) a transfer task: tell the requester and, on
/// success, the recipient (here and through route_server).
pub(crate) fn handle_file_transfer_rsp(st: &mut State, ctx: &mut Ctx, h: ConnHandle, pdu: &Pdu) {
    let Ok(rsp) = pdu.parse::<ImFileTransferRsp>() else {
        return;
    };
    let addrs = st.links.file.addrs_of(h).to_vec();
    let trans_mode = rsp
        .trans_mode
        .unwrap_or(TransferFileType::FileTypeOnline as i32);
    let file_name = rsp.file_name.clone().unwrap_or_default();
    let task_id = rsp.task_id.clone().unwrap_or_default();
    let attach = rsp.attach_data.as_deref().unwrap_or_default();
    if let Some(requester) = st.open_client(ctx, attach, rsp.from_user_id) {
        let file_rsp = ImFileRsp {
            result_code: rsp.result_code,
            from_user_id: rsp.from_user_id,
            to_user_id: rsp.to_user_id,
            file_name: file_name.clone(),
            task_id: task_id.clone(),
            ip_addr_list: addrs.clone(),
            trans_mode,
        };
        ctx.send_pdu_deferred(
            requester,
            &Pdu::new(CommandId::FileResponse, pdu.header.seq_num, &file_rsp),
        );
    }
    if rsp.result_code != 0 {
        warn!(
            "file_server refused a transfer: from={} to={} code={}",
            rsp.from_user_id, rsp.to_user_id, rsp.result_code
        );
        return;
    }
    let notify = ImFileNotify {
        from_user_id: rsp.from_user_id,
        to_user_id: rsp.to_user_id,
        file_name,
        file_size: rsp.file_size.unwrap_or_default(),
        task_id,
        ip_addr_list: addrs,
        trans_mode,
        offline_ready: 0,
    };
    super::file::notify_file(st, ctx, &notify);
}
