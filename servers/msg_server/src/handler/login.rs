//! `IM.Login`: login requests, logout, device token, kicking the PC client, push shield and
//! the Polaris fork's registration (BEHAVIOUR §2.2–§2.6, §2.16). The validation answer that
//! completes a login is an `IM.Server` message and lives in `handler::server`.
//!
//! Registration is off unless `EnableRegistration=1`, and then limited per source address
//! (`RegistrationsPerMinute`); msg_server's own refusals use the fork's `ResultType` codes: 6
//! (`REFUSE_REASON_DB_VALIDATE_FAILED`, as db_proxy refuses invalid fields) when registration
//! is off or a field is over its bound, 2 (`REFUSE_REASON_MSG_SERVER_FULL`, "try later") over
//! the rate.

use log::{debug, info};
use netlib::ConnHandle;
use teamtalk_proto::pb::base_define::{ClientType, KickReasonType, ResultType};
use teamtalk_proto::pb::login::{
    ImDeviceTokenReq, ImDeviceTokenRsp, ImKickPcClientRsp, ImKickUser, ImLoginReq, ImLoginRes,
    ImLogoutRsp, ImPushShieldReq, ImPushShieldRsp, ImQueryPushShieldReq, ImQueryPushShieldRsp,
    ImRegistReq, ImRegistRes,
};
use teamtalk_proto::pb::server::{ImServerKickUser, ImValidateReq};
use teamtalk_proto::{CommandId, DbAttachData, Pdu, PduHeader};

use super::{
    AttachForm, Refusal, failure_answer, forward, forward_tracked, reply, violation, within_bounds,
};
use crate::limits::{Violation, check_device_token};
use crate::peer::client::{
    ClientRef, ClientState, is_mobile, login_status, same_kind, valid_client_type,
};
use crate::pending::{Continuation, Failure};
use crate::state::{Caller, Ctx, State, client, client_mut, spread_of, unix_now};

/// `result_string` of the refusals decided by msg_server itself: "server exception".
pub(crate) const SERVER_ERROR_TEXT: &str = "服务端异常";
/// `result_code` of the push-shield answers sent when db_proxy gives none.
const FAILED: u32 = 1;
/// `result_string` when the login names a client type no client has: "unsupported client".
const BAD_CLIENT_TYPE_TEXT: &str = "不支持的客户端类型";
/// `result_string` when a login's name or password is over its bound: "invalid user name or
/// password".
const BAD_LOGIN_TEXT: &str = "用户名或密码无效";
/// `result_string` when registration is switched off: "registration is closed".
const REGIST_OFF_TEXT: &str = "注册未开放";
/// `result_string` when a registration field is over its bound (db_proxy's text for invalid
/// fields): "invalid registration data".
const REGIST_INVALID_TEXT: &str = "注册信息无效";
/// `result_string` over the per-address rate: "too many registrations, try again later".
const REGIST_RATE_TEXT: &str = "注册过于频繁，请稍后再试";

/// Sends IMLoginRes with a refusal and closes the connection once it is written.
pub(crate) fn refuse_login(
    st: &mut State,
    ctx: &mut Ctx,
    h: ConnHandle,
    seq: u16,
    code: ResultType,
    text: String,
) {
    st.metrics.login_refused(code);
    if let Some(c) = client(ctx, h) {
        let name = match &c.state {
            ClientState::Validating { name } => name,
            _ => "-",
        };
        info!(
            "login refused: handle={h} peer={} name={name} client_type={} reason={code:?}",
            c.peer_label(),
            c.client_type
        );
    }
    let res = ImLoginRes {
        server_time: unix_now(),
        result_code: code as i32,
        result_string: Some(text),
        online_status: None,
        user_info: None,
    };
    ctx.send_pdu_deferred(h, &Pdu::new(CommandId::LoginResUserlogin, seq, &res));
    st.close_client_after_flush(ctx, h);
}

/// 0x0103: checks the back ends are reachable, then asks db_proxy to validate the password.
/// A connection logs in once: later login requests are ignored.
pub(crate) fn handle_login_req(st: &mut State, ctx: &mut Ctx, h: ConnHandle, pdu: &Pdu) {
    let Some(c) = client(ctx, h) else {
        return;
    };
    if c.state != ClientState::Fresh {
        return;
    }
    let generation = c.generation;
    let seq = pdu.header.seq_num;
    let refusal = if !st.links.db.any_open() {
        Some(ResultType::RefuseReasonNoDbServer)
    } else if st.links.login.open_handles().next().is_none() {
        Some(ResultType::RefuseReasonNoLoginServer)
    } else if st.links.route.master().is_none() {
        Some(ResultType::RefuseReasonNoRouteServer)
    } else {
        None
    };
    if let Some(code) = refusal {
        refuse_login(st, ctx, h, seq, code, SERVER_ERROR_TEXT.to_owned());
        return;
    }
    let Ok(req) = pdu.parse::<ImLoginReq>() else {
        debug!("ignoring unparsable login: handle={h}");
        return;
    };
    let Some(client_type) = valid_client_type(req.client_type) else {
        debug!(
            "refusing login with client type {}: handle={h}",
            req.client_type
        );
        refuse_login(
            st,
            ctx,
            h,
            seq,
            ResultType::RefuseReasonDbValidateFailed,
            BAD_CLIENT_TYPE_TEXT.to_owned(),
        );
        return;
    };
    if !within_bounds(st, ctx, h, &req, Refusal::Answered) {
        refuse_login(
            st,
            ctx,
            h,
            seq,
            ResultType::RefuseReasonDbValidateFailed,
            BAD_LOGIN_TEXT.to_owned(),
        );
        return;
    }
    let Some(link) = st.links.db.for_login(spread_of(h)) else {
        return;
    };
    let id = st.track(
        ctx.now(),
        ClientRef {
            handle: h,
            generation,
        },
        link,
        Continuation::Login,
        Failure::RefuseLogin { seq },
    );
    let attach = DbAttachData::handle(id);
    let validate = ImValidateReq {
        user_name: req.user_name.clone(),
        password: req.password,
        attach_data: Some(attach.encode()),
    };
    if let Some(c) = client_mut(ctx, h) {
        c.state = ClientState::Validating {
            name: req.user_name.into_boxed_str(),
        };
        c.client_type = client_type;
        c.online_status = login_status(req.online_status);
    }
    ctx.send_pdu_deferred(link, &Pdu::new(CommandId::OtherValidateReq, seq, &validate));
}

/// 0x0105: clears the phone's push token, answers and closes.
pub(crate) fn handle_logout_req(st: &mut State, ctx: &mut Ctx, me: Caller, pdu: &Pdu) {
    // Only a phone clears the push token: a PC logging out must not silence the user's phone
    // (KNOWN_DEFECTS D-PUSH-2). client_type stays unset so db_proxy stores a plain "".
    if is_mobile(me.client_type) {
        if let Some(link) = st.links.db.for_business(me.spread()) {
            let clear = ImDeviceTokenReq {
                user_id: me.user_id,
                device_token: String::new(),
                client_type: None,
                attach_data: None,
            };
            ctx.send_pdu_deferred(
                link,
                &Pdu::new(CommandId::LoginReqDevicetoken, pdu.header.seq_num, &clear),
            );
        }
    }
    reply(
        ctx,
        me.handle,
        pdu,
        CommandId::LoginResLoginout,
        &ImLogoutRsp { result_code: 0 },
    );
    st.close_client_after_flush(ctx, me.handle);
}

/// 0x0108: a phone registers its push token; answered at once, stored by db_proxy. A token
/// that is not of its platform's form is dropped unanswered (nothing is stored).
pub(crate) fn handle_device_token_req(st: &mut State, ctx: &mut Ctx, me: Caller, pdu: &Pdu) {
    if !is_mobile(me.client_type) {
        return;
    }
    let Ok(req) = pdu.parse::<ImDeviceTokenReq>() else {
        return;
    };
    if let Err(v) = check_device_token(me.client_type, &req.device_token) {
        st.counters.bad_device_token();
        violation(st, ctx, me.handle, v, Refusal::Dropped);
        return;
    }
    let link = st.links.db.for_business(me.spread());
    let stored = forward::<ImDeviceTokenReq>(st, ctx, me.handle, link, pdu, |m| {
        m.user_id = me.user_id;
        m.client_type = Some(i32::from(me.client_type));
        m.attach_data = None;
    });
    if stored.is_some() {
        let rsp = ImDeviceTokenRsp {
            user_id: me.user_id,
            attach_data: None,
        };
        reply(ctx, me.handle, pdu, CommandId::LoginResDevicetoken, &rsp);
    }
}

/// Sends IMKickUser to a connection and closes it once that is written (KNOWN_DEFECTS
/// D-MS-3). It leaves the user's connection list at once, so it gets nothing more.
pub(crate) fn kick(
    st: &mut State,
    ctx: &mut Ctx,
    h: ConnHandle,
    user_id: u32,
    reason: KickReasonType,
) {
    if let Some(c) = client(ctx, h) {
        info!(
            "kicking client: handle={h} user={user_id} client_type={} peer={} reason={reason:?}",
            c.client_type,
            c.peer_label()
        );
    }
    let kick = ImKickUser {
        user_id,
        kick_reason: reason as i32,
    };
    ctx.send_pdu_deferred(h, &Pdu::new(CommandId::LoginKickUser, 0, &kick));
    if let Some(c) = client_mut(ctx, h) {
        c.state = ClientState::Kicked { user_id };
    }
    st.users.remove(user_id, h);
    st.close_client_after_flush(ctx, h);
}

/// Kicks every open connection of `user_id` here whose kind matches `client_type`, except
/// `keep` (KNOWN_DEFECTS D-MS-4: all of them, not just the first).
pub(crate) fn kick_same_kind(
    st: &mut State,
    ctx: &mut Ctx,
    user_id: u32,
    client_type: u8,
    keep: Option<ConnHandle>,
    reason: KickReasonType,
) {
    let victims: Vec<ConnHandle> = st
        .users
        .conns(user_id)
        .iter()
        .copied()
        .filter(|&h| Some(h) != keep)
        .filter(|&h| client(ctx, h).is_some_and(|c| same_kind(c.client_type, client_type)))
        .collect();
    for h in victims {
        kick(st, ctx, h, user_id, reason);
    }
}

/// Asks the other msg_servers (through route_server) to kick the same kind of client.
pub(crate) fn kick_remote(
    st: &State,
    ctx: &mut Ctx,
    user_id: u32,
    client_type: u8,
    reason: KickReasonType,
) {
    if let Some(route) = st.links.route.master() {
        let kick = ImServerKickUser {
            user_id,
            client_type: i32::from(client_type),
            reason: reason as u32,
        };
        ctx.send_pdu_deferred(route, &Pdu::new(CommandId::OtherServerKickUser, 0, &kick));
    }
}

/// 0x010a: a phone kicks the user's PC clients, here and on every other msg_server.
pub(crate) fn handle_kick_pc_client_req(st: &mut State, ctx: &mut Ctx, me: Caller, pdu: &Pdu) {
    if !is_mobile(me.client_type) {
        return;
    }
    let pc = ClientType::Mac as u8;
    kick_same_kind(
        st,
        ctx,
        me.user_id,
        pc,
        None,
        KickReasonType::KickReasonMobileKick,
    );
    kick_remote(
        st,
        ctx,
        me.user_id,
        pc,
        KickReasonType::KickReasonMobileKick,
    );
    let rsp = ImKickPcClientRsp {
        user_id: me.user_id,
        result_code: 0,
    };
    reply(ctx, me.handle, pdu, CommandId::LoginResKickpcclient, &rsp);
}

/// 0x010c: forwarded to db_proxy with the 16-byte attach.
pub(crate) fn handle_push_shield_req(st: &mut State, ctx: &mut Ctx, me: Caller, pdu: &Pdu) {
    let link = st.links.db.for_business(me.spread());
    let failed = |_: &ImPushShieldReq, header: &PduHeader| {
        let rsp = ImPushShieldRsp {
            user_id: me.user_id,
            result_code: FAILED,
            shield_status: None,
            attach_data: None,
        };
        failure_answer(header, CommandId::LoginResPushShield, &rsp)
    };
    forward_tracked::<ImPushShieldReq>(st, ctx, me, link, pdu, AttachForm::Pdu, failed);
}

/// 0x010e: forwarded to db_proxy with the 16-byte attach.
pub(crate) fn handle_query_push_shield_req(st: &mut State, ctx: &mut Ctx, me: Caller, pdu: &Pdu) {
    let link = st.links.db.for_business(me.spread());
    let failed = |_: &ImQueryPushShieldReq, header: &PduHeader| {
        let rsp = ImQueryPushShieldRsp {
            user_id: me.user_id,
            result_code: FAILED,
            shield_status: None,
            attach_data: None,
        };
        failure_answer(header, CommandId::LoginResQueryPushShield, &rsp)
    };
    forward_tracked::<ImQueryPushShieldReq>(st, ctx, me, link, pdu, AttachForm::Pdu, failed);
}

/// 0x0110 (Polaris fork): registration, allowed before login when enabled; db_proxy answers
/// 0x0111. Refused here when switched off, over a field bound or over the per-address rate.
pub(crate) fn handle_regist_req(st: &mut State, ctx: &mut Ctx, h: ConnHandle, pdu: &Pdu) {
    let Some(c) = client(ctx, h) else {
        return;
    };
    let client_ref = ClientRef {
        handle: h,
        generation: c.generation,
    };
    let Ok(mut req) = pdu.parse::<ImRegistReq>() else {
        debug!("ignoring unparsable registration: handle={h}");
        return;
    };
    let refusal = if !st.config.enable_registration {
        Some((ResultType::RefuseReasonDbValidateFailed, REGIST_OFF_TEXT))
    } else if !within_bounds(st, ctx, h, &req, Refusal::Answered) {
        Some((
            ResultType::RefuseReasonDbValidateFailed,
            REGIST_INVALID_TEXT,
        ))
    } else if !registration_slot(st, ctx, h) {
        Some((ResultType::RefuseReasonMsgServerFull, REGIST_RATE_TEXT))
    } else {
        None
    };
    if let Some((code, text)) = refusal {
        st.counters.registration_refused();
        let rsp = ImRegistRes {
            user_name: req.user_name,
            result_code: code as i32,
            result_string: Some(text.to_owned()),
            user_id: None,
            attach_data: None,
        };
        reply(ctx, h, pdu, CommandId::LoginResRegist, &rsp);
        return;
    }
    let no_db = ImRegistRes {
        user_name: req.user_name.clone(),
        result_code: ResultType::RefuseReasonNoDbServer as i32,
        result_string: Some(SERVER_ERROR_TEXT.to_owned()),
        user_id: None,
        attach_data: None,
    };
    let Some(link) = st.links.db.for_login(spread_of(h)) else {
        reply(ctx, h, pdu, CommandId::LoginResRegist, &no_db);
        return;
    };
    let failure = Failure::Answer(Pdu::reply(&pdu.header, CommandId::LoginResRegist, &no_db));
    let id = st.track(ctx.now(), client_ref, link, Continuation::Register, failure);
    req.attach_data = Some(DbAttachData::handle(id).encode());
    ctx.send_pdu_deferred(link, &Pdu::forward(&pdu.header, &req));
}

/// Takes one registration of the client's source address this minute; over the rate (or with
/// no address to key on) it counts a violation and returns `false`.
fn registration_slot(st: &mut State, ctx: &mut Ctx, h: ConnHandle) -> bool {
    let second = st.second;
    let allowed = ctx
        .conn(h)
        .and_then(netlib::Conn::peer)
        .is_some_and(|addr| st.registrations.allow(addr.ip(), second));
    if !allowed {
        let v = Violation::TooFrequent {
            what: "registrations",
            per_minute: st.registrations.per_minute(),
        };
        violation(st, ctx, h, v, Refusal::Answered);
    }
    allowed
}

/// 0x0111 from db_proxy: relayed to the registering connection (not logged in, so it is found
/// by its attach alone).
pub(crate) fn handle_regist_res(st: &mut State, ctx: &mut Ctx, pdu: &Pdu) {
    let Ok(mut rsp) = pdu.parse::<ImRegistRes>() else {
        return;
    };
    let attach = rsp.attach_data.take().unwrap_or_default();
    let Some(request) = st.answered(&attach, Continuation::Register) else {
        return;
    };
    let Some(h) = st.requester(ctx, &request, None) else {
        return;
    };
    if client(ctx, h).is_some_and(|c| !matches!(c.state, ClientState::Kicked { .. })) {
        ctx.send_pdu_deferred(h, &Pdu::forward(&pdu.header, &rsp));
    }
}
