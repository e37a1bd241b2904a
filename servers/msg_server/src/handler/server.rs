//! `IM.Server`: the server-to-server side. Link set-up (PROTOCOL §6.4), the end of a client
//! connection (BEHAVIOUR §1.5), the validation answer that completes a login (§2.2), kicks and
//! PC-login notices from route_server (§3.4). The push round is `handler::push_round`, the
//! file_server answers are in `handler::file`.

use std::time::Duration;

use log::{debug, info};
use netlib::{CloseReason, ConnHandle};
use teamtalk_proto::pb::base_define::{KickReasonType, ResultType, ServerUserStat, UserStatType};
use teamtalk_proto::pb::buddy::ImpcLoginStatusNotify;
use teamtalk_proto::pb::login::ImLoginRes;
use teamtalk_proto::pb::server::{
    ImFileServerIpReq, ImMsgServInfo, ImOnlineUserInfo, ImRoleSet, ImServerKickUser,
    ImServerPcLoginStatusNotify, ImValidateRsp,
};
use teamtalk_proto::{CommandId, Pdu};

use super::login::{kick_remote, kick_same_kind, refuse_login};
use crate::peer::client::{ClientConn, ClientState, is_mobile};
use crate::peer::{Connected, LinkKind};
use crate::pending::Continuation;
use crate::state::{Ctx, State, client, client_mut, unix_now};

/// A PC (or not yet logged-in) client is closed after this long without sending anything.
pub(crate) const PC_IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// A phone is closed after this long without sending anything.
pub(crate) const MOBILE_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Entries per IMOnlineUserInfo. The original always sends one PDU; at most 12 bytes an entry
/// this keeps it to one below the peers' 4 MiB PDU cap for any server that fits in its file
/// descriptors, and splits only beyond that.
const ONLINE_USERS_PER_PDU: usize = 250_000;

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
                tls_port: st.other_ports.tls.map(u32::from),
                ws_port: st.other_ports.ws.map(u32::from),
                wss_port: st.other_ports.wss.map(u32::from),
                ws_path: (st.other_ports.ws.is_some() || st.other_ports.wss.is_some())
                    .then(|| st.config.transports.ws_path.clone()),
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
    info!(
        "logout: handle={h} user={user_id} client_type={} peer={} reason={reason}",
        c.client_type,
        c.peer_label()
    );
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
    st.metrics.login_ok();
    st.announce_online(ctx, user_id, client_type);
    if let Some(c) = client(ctx, h) {
        info!(
            "login: handle={h} user={user_id} client_type={client_type} peer={}",
            c.peer_label()
        );
    }
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
