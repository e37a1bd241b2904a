//! `IM.Buddy`: sessions, users, departments, presence and signatures — forwarded queries, the
//! presence round trip through route_server and the notifications that follow changes
//! (BEHAVIOUR §2.11–§2.12, §3.3–§3.4).

use log::debug;
use teamtalk_proto::attach::attach_type;
use teamtalk_proto::pb::base_define::{SessionType, UserStatType};
use teamtalk_proto::pb::buddy::{
    ImAllUserReq, ImChangeAvatarReq, ImChangeSignInfoReq, ImChangeSignInfoRsp, ImDepartmentReq,
    ImRecentContactSessionReq, ImRemoveSessionNotify, ImRemoveSessionReq, ImRemoveSessionRsp,
    ImSignInfoChangedNotify, ImUsersInfoReq, ImUsersStatReq, ImUsersStatRsp,
};
use teamtalk_proto::{CommandId, Pdu, PduAttachData, PduHeader};

use super::{
    AttachForm, Refusal, failure_answer, file, forward, forward_tracked, push_round, relay_answer,
    reply, silent, violation, within_bounds,
};
use crate::limits::Violation;
use crate::peer::client::ClientConn;
use crate::pending::Continuation;
use crate::presence::PRESENCE_DELAY;
use crate::state::{Caller, Ctx, State};
use crate::wire;

/// `result_code` of the failure answers sent when db_proxy gives none.
const FAILED: u32 = 1;

/// 0x0201: recent sessions (login pool).
pub(crate) fn handle_recent_contact_session_req(
    st: &mut State,
    ctx: &mut Ctx,
    me: Caller,
    pdu: &Pdu,
) {
    let link = st.links.db.for_login(me.spread());
    forward_tracked::<ImRecentContactSessionReq>(st, ctx, me, link, pdu, AttachForm::Db, silent);
}

/// 0x0204: user details (login pool).
pub(crate) fn handle_users_info_req(st: &mut State, ctx: &mut Ctx, me: Caller, pdu: &Pdu) {
    let link = st.links.db.for_login(me.spread());
    forward_tracked::<ImUsersInfoReq>(st, ctx, me, link, pdu, AttachForm::Db, silent);
}

/// 0x0206: removes a session; for single chats the user's other connections (here and
/// elsewhere) are told at once, without waiting for db_proxy.
pub(crate) fn handle_remove_session_req(st: &mut State, ctx: &mut Ctx, me: Caller, pdu: &Pdu) {
    let link = st.links.db.for_business(me.spread());
    let failed = |req: &ImRemoveSessionReq, header: &PduHeader| {
        let rsp = ImRemoveSessionRsp {
            user_id: req.user_id,
            result_code: FAILED,
            session_type: req.session_type,
            session_id: req.session_id,
            attach_data: None,
        };
        failure_answer(header, CommandId::BuddyListRemoveSessionRes, &rsp)
    };
    let Some(req) =
        forward_tracked::<ImRemoveSessionReq>(st, ctx, me, link, pdu, AttachForm::Db, failed)
    else {
        return;
    };
    if req.session_type != SessionType::Single as i32 {
        return;
    }
    let notify = ImRemoveSessionNotify {
        user_id: me.user_id,
        session_type: req.session_type,
        session_id: req.session_id,
    };
    let notify = Pdu::new(CommandId::BuddyListRemoveSessionNotify, 0, &notify);
    st.send_to_user(ctx, me.user_id, &notify.encode(), Some(me.handle));
    st.relay_to_route(ctx, &notify);
}

/// 0x020f relayed by route_server: to every connection of the user here.
pub(crate) fn handle_remove_session_notify(st: &mut State, ctx: &mut Ctx, pdu: &Pdu) {
    if let Ok(n) = pdu.parse::<ImRemoveSessionNotify>() {
        st.send_to_user(ctx, n.user_id, &pdu.encode(), None);
    }
}

/// 0x0208: all users changed since a time (business pool).
pub(crate) fn handle_all_user_req(st: &mut State, ctx: &mut Ctx, me: Caller, pdu: &Pdu) {
    let link = st.links.db.for_business(me.spread());
    forward_tracked::<ImAllUserReq>(st, ctx, me, link, pdu, AttachForm::Db, silent);
}

/// 0x0210: departments changed since a time (business pool).
pub(crate) fn handle_department_req(st: &mut State, ctx: &mut Ctx, me: Caller, pdu: &Pdu) {
    let link = st.links.db.for_business(me.spread());
    forward_tracked::<ImDepartmentReq>(st, ctx, me, link, pdu, AttachForm::Db, silent);
}

/// 0x020a: presence of some users, asked of route_server (16-byte attach).
pub(crate) fn handle_users_stat_req(st: &mut State, ctx: &mut Ctx, me: Caller, pdu: &Pdu) {
    let link = st.links.route.master();
    forward_tracked::<ImUsersStatReq>(st, ctx, me, link, pdu, AttachForm::Pdu, silent);
}

/// 0x020b from route_server: by attach type, a client's answer (1), the presence a push
/// waits for (4) or the presence an online file transfer waits for (5).
pub(crate) fn handle_users_stat_rsp(st: &mut State, ctx: &mut Ctx, pdu: &Pdu) {
    let Ok(rsp) = pdu.parse::<ImUsersStatRsp>() else {
        return;
    };
    let attach_bytes = rsp.attach_data.as_deref().unwrap_or_default();
    let Ok(attach) = PduAttachData::decode(attach_bytes) else {
        return;
    };
    // Internal queries ask about exactly one user; an empty list is a malformed answer
    // (KNOWN_DEFECTS D-PB-2).
    let online = rsp
        .user_stat_list
        .first()
        .map(|s| s.status == UserStatType::UserStatusOnline as i32);
    match attach.attach_type {
        attach_type::HANDLE => relay_answer(st, ctx, pdu),
        attach_type::PDU_FOR_PUSH => {
            if let Some(online) = online {
                push_round::push_after_presence(st, ctx, online, &attach.pdu);
            }
        }
        attach_type::HANDLE_AND_PDU_FOR_FILE => {
            if let Some(pending) = st.answered(attach_bytes, Continuation::FilePresence) {
                let seq = pdu.header.seq_num;
                file::transfer_after_presence(st, ctx, pending, &attach, online, seq);
            }
        }
        other => debug!("ignoring users-stat answer with attach type {other}"),
    }
}

/// 0x0203 from route_server: a user's presence changed; every PC connection here is told
/// (phones never get presence), in a batch with the other notifications of the next few
/// milliseconds (see `presence`).
pub(crate) fn handle_user_stat_notify(st: &mut State, ctx: &mut Ctx, pdu: &Pdu) {
    if st.presence.push(&pdu.encode()) {
        send_presence(st, ctx);
    } else if st.presence.needs_timer() {
        let timer = ctx.add_timer(PRESENCE_DELAY, false);
        st.presence.armed(timer);
    }
}

/// Broadcasts the waiting presence notifications to every PC connection.
pub(crate) fn send_presence(st: &mut State, ctx: &mut Ctx) {
    let (bytes, timer) = st.presence.take();
    if let Some(timer) = timer {
        ctx.cancel_timer(timer);
    }
    if !bytes.is_empty() {
        st.broadcast(ctx, &bytes, |c: &ClientConn| !c.is_mobile());
    }
}

/// Takes one of the user's profile changes (signature, avatar) this minute: each is broadcast
/// to every logged-in user of every msg_server. Over the rate it counts a violation.
fn profile_change_slot(st: &mut State, ctx: &mut Ctx, me: Caller, r: Refusal) -> bool {
    let second = st.second;
    if st.profile_changes.allow(me.user_id, second) {
        return true;
    }
    let v = Violation::TooFrequent {
        what: "profile changes",
        per_minute: st.profile_changes.per_minute(),
    };
    violation(st, ctx, me.handle, v, r);
    false
}

/// 0x020c: a new avatar URL, forwarded as the original does (no attach; one a client put in
/// is removed). The request has no failure answer (db_proxy never answers it, D-MS-11), so
/// one over its bound or the rate is dropped.
pub(crate) fn handle_change_avatar_req(st: &mut State, ctx: &mut Ctx, me: Caller, pdu: &Pdu) {
    let Ok(req) = pdu.parse::<ImChangeAvatarReq>() else {
        return;
    };
    if !within_bounds(st, ctx, me.handle, &req, Refusal::Dropped)
        || !profile_change_slot(st, ctx, me, Refusal::Dropped)
    {
        return;
    }
    let link = st.links.db.for_business(me.spread());
    forward::<ImChangeAvatarReq>(st, ctx, me.handle, link, pdu, |m| {
        m.user_id = me.user_id;
        m.attach_data = None;
    });
}

/// 0x020d from db_proxy: to every connection of the user (the request had no attach).
pub(crate) fn handle_change_avatar_rsp(st: &mut State, ctx: &mut Ctx, pdu: &Pdu) {
    if let Ok(answer) = wire::split_answer(&pdu.body) {
        let bytes = Pdu {
            header: pdu.header,
            body: answer.stripped,
        }
        .encode();
        st.send_to_user(ctx, answer.user_id, &bytes, None);
    }
}

/// 0x0213: a new signature (business pool, 16-byte attach). Over 128 bytes or over the
/// per-user rate it is answered with `result_code` 1, as db_proxy refuses it.
pub(crate) fn handle_change_sign_info_req(st: &mut State, ctx: &mut Ctx, me: Caller, pdu: &Pdu) {
    let Ok(req) = pdu.parse::<ImChangeSignInfoReq>() else {
        return;
    };
    if !within_bounds(st, ctx, me.handle, &req, Refusal::Answered)
        || !profile_change_slot(st, ctx, me, Refusal::Answered)
    {
        let rsp = ImChangeSignInfoRsp {
            user_id: me.user_id,
            result_code: 1,
            sign_info: None,
            attach_data: None,
        };
        reply(
            ctx,
            me.handle,
            pdu,
            CommandId::BuddyListChangeSignInfoResponse,
            &rsp,
        );
        return;
    }
    let link = st.links.db.for_business(me.spread());
    let failed = |req: &ImChangeSignInfoReq, header: &PduHeader| {
        let rsp = ImChangeSignInfoRsp {
            user_id: req.user_id,
            result_code: FAILED,
            sign_info: None,
            attach_data: None,
        };
        failure_answer(header, CommandId::BuddyListChangeSignInfoResponse, &rsp)
    };
    forward_tracked::<ImChangeSignInfoReq>(st, ctx, me, link, pdu, AttachForm::Pdu, failed);
}

/// 0x0214 from db_proxy: answered to the requester; on success route_server is told, and it
/// reflects the notification to every msg_server, this one included.
pub(crate) fn handle_change_sign_info_rsp(st: &mut State, ctx: &mut Ctx, pdu: &Pdu) {
    relay_answer(st, ctx, pdu);
    let Ok(rsp) = pdu.parse::<ImChangeSignInfoRsp>() else {
        return;
    };
    if rsp.result_code != 0 {
        return;
    }
    let notify = ImSignInfoChangedNotify {
        changed_user_id: rsp.user_id,
        sign_info: rsp.sign_info.unwrap_or_default(),
    };
    st.relay_to_route(
        ctx,
        &Pdu::new(CommandId::BuddyListSignInfoChangedNotify, 0, &notify),
    );
}

/// 0x0215 from route_server: to every connection of every user logged in here.
pub(crate) fn handle_sign_info_changed_notify(st: &mut State, ctx: &mut Ctx, pdu: &Pdu) {
    st.broadcast(ctx, &pdu.encode(), |_| true);
}
