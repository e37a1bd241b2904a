//! `IM.Group`: group queries and changes forwarded to db_proxy, member-change notifications,
//! and the group-message fan-out that rides on the group-info answer (BEHAVIOUR §2.11, §3.2,
//! §3.3).

use log::debug;
use netlib::ConnHandle;
use teamtalk_proto::pb::base_define::GroupType;
use teamtalk_proto::pb::group::{
    ImGroupChangeMemberNotify, ImGroupChangeMemberReq, ImGroupChangeMemberRsp, ImGroupCreateReq,
    ImGroupCreateRsp, ImGroupInfoListReq, ImGroupInfoListRsp, ImGroupShieldReq, ImGroupShieldRsp,
    ImNormalGroupListReq, ImNormalGroupListRsp,
};
use teamtalk_proto::{CommandId, Pdu, PduAttachData, PduHeader};

use super::{
    AttachForm, Refusal, failure_answer, forward_tracked, relay_answer, reply, within_bounds,
};
use crate::pending::Continuation;
use crate::state::{Caller, Ctx, State};

/// `result_code` of the "no db_proxy" answers and of the answers sent when db_proxy gives
/// none.
const FAILED: u32 = 1;

/// 0x0401: the user's normal groups; answered empty without db_proxy.
pub(crate) fn handle_normal_group_list_req(st: &mut State, ctx: &mut Ctx, me: Caller, pdu: &Pdu) {
    let link = st.links.db.for_business(me.spread());
    let rsp = ImNormalGroupListRsp {
        user_id: me.user_id,
        ..Default::default()
    };
    let failed = |_: &ImNormalGroupListReq, header: &PduHeader| {
        failure_answer(header, CommandId::GroupNormalListResponse, &rsp)
    };
    let sent =
        forward_tracked::<ImNormalGroupListReq>(st, ctx, me, link, pdu, AttachForm::Db, failed);
    if sent.is_some() && link.is_none() {
        reply(
            ctx,
            me.handle,
            pdu,
            CommandId::GroupNormalListResponse,
            &rsp,
        );
    }
}

/// 0x0403: group details (16-byte attach); answered empty without db_proxy.
pub(crate) fn handle_group_info_list_req(st: &mut State, ctx: &mut Ctx, me: Caller, pdu: &Pdu) {
    let link = st.links.db.for_business(me.spread());
    let rsp = ImGroupInfoListRsp {
        user_id: me.user_id,
        ..Default::default()
    };
    let failed = |_: &ImGroupInfoListReq, header: &PduHeader| {
        failure_answer(header, CommandId::GroupInfoResponse, &rsp)
    };
    let sent =
        forward_tracked::<ImGroupInfoListReq>(st, ctx, me, link, pdu, AttachForm::Pdu, failed);
    if sent.is_some() && link.is_none() {
        reply(ctx, me.handle, pdu, CommandId::GroupInfoResponse, &rsp);
    }
}

/// 0x0405: clients may only create temporary groups; normal ones are ignored. A name, avatar
/// or member list over its bound is answered with the failure code, not forwarded.
pub(crate) fn handle_group_create_req(st: &mut State, ctx: &mut Ctx, me: Caller, pdu: &Pdu) {
    let Ok(req) = pdu.parse::<ImGroupCreateReq>() else {
        return;
    };
    if req.group_type == GroupType::Normal as i32 {
        debug!(
            "ignoring normal group creation by a client: user={}",
            me.user_id
        );
        return;
    }
    let within = within_bounds(st, ctx, me.handle, &req, Refusal::Answered);
    let link = st.links.db.for_business(me.spread());
    let failed = |req: &ImGroupCreateReq, header: &PduHeader| {
        let rsp = ImGroupCreateRsp {
            user_id: me.user_id,
            result_code: FAILED,
            group_id: None,
            group_name: req.group_name.clone(),
            user_id_list: Vec::new(),
            attach_data: None,
        };
        failure_answer(header, CommandId::GroupCreateResponse, &rsp)
    };
    let sent = if within {
        forward_tracked::<ImGroupCreateReq>(st, ctx, me, link, pdu, AttachForm::Db, failed)
    } else {
        None
    };
    if !within || (sent.is_some() && link.is_none()) {
        let rsp = ImGroupCreateRsp {
            user_id: me.user_id,
            result_code: FAILED,
            group_id: None,
            // An over-long name is not echoed back.
            group_name: if within {
                req.group_name
            } else {
                String::new()
            },
            user_id_list: Vec::new(),
            attach_data: None,
        };
        reply(ctx, me.handle, pdu, CommandId::GroupCreateResponse, &rsp);
    }
}

/// 0x0407: add or remove members; failure answer without db_proxy or when the member list is
/// over `MaxGroupMembersPerRequest` (then nothing is forwarded).
pub(crate) fn handle_group_change_member_req(st: &mut State, ctx: &mut Ctx, me: Caller, pdu: &Pdu) {
    let Ok(req) = pdu.parse::<ImGroupChangeMemberReq>() else {
        return;
    };
    let within = within_bounds(st, ctx, me.handle, &req, Refusal::Answered);
    let link = st.links.db.for_business(me.spread());
    let failed_rsp = |req: &ImGroupChangeMemberReq| ImGroupChangeMemberRsp {
        user_id: me.user_id,
        change_type: req.change_type,
        result_code: FAILED,
        group_id: req.group_id,
        ..Default::default()
    };
    let failed = |req: &ImGroupChangeMemberReq, header: &PduHeader| {
        failure_answer(
            header,
            CommandId::GroupChangeMemberResponse,
            &failed_rsp(req),
        )
    };
    let sent = if within {
        forward_tracked::<ImGroupChangeMemberReq>(st, ctx, me, link, pdu, AttachForm::Db, failed)
    } else {
        None
    };
    if !within || (sent.is_some() && link.is_none()) {
        let rsp = failed_rsp(&req);
        reply(
            ctx,
            me.handle,
            pdu,
            CommandId::GroupChangeMemberResponse,
            &rsp,
        );
    }
}

/// 0x0409: mute or unmute pushes of a group; failure answer without db_proxy.
pub(crate) fn handle_group_shield_req(st: &mut State, ctx: &mut Ctx, me: Caller, pdu: &Pdu) {
    let link = st.links.db.for_business(me.spread());
    let failed_rsp = |req: &ImGroupShieldReq| ImGroupShieldRsp {
        user_id: me.user_id,
        group_id: req.group_id,
        result_code: FAILED,
        attach_data: None,
    };
    let failed = |req: &ImGroupShieldReq, header: &PduHeader| {
        failure_answer(
            header,
            CommandId::GroupShieldGroupResponse,
            &failed_rsp(req),
        )
    };
    let sent = forward_tracked::<ImGroupShieldReq>(st, ctx, me, link, pdu, AttachForm::Db, failed);
    if let (Some(req), None) = (sent, link) {
        let rsp = failed_rsp(&req);
        reply(
            ctx,
            me.handle,
            pdu,
            CommandId::GroupShieldGroupResponse,
            &rsp,
        );
    }
}

/// 0x0404: either a client's group-info answer (empty attached pdu) or the member list for a
/// group message waiting to be fanned out (`message::fan_out`).
pub(crate) fn handle_group_info_list_rsp(st: &mut State, ctx: &mut Ctx, db: ConnHandle, pdu: &Pdu) {
    let Ok(rsp) = pdu.parse::<ImGroupInfoListRsp>() else {
        return;
    };
    let Some(attach) = rsp
        .attach_data
        .as_deref()
        .and_then(|a| PduAttachData::decode(a).ok())
    else {
        return;
    };
    if attach.pdu.is_empty() {
        relay_answer(st, ctx, pdu);
        return;
    }
    super::message::fan_out(st, ctx, db, &rsp, attach);
}

/// 0x0408: the requester gets the answer; on success every affected user hears of the change,
/// here and (through route_server) on every other msg_server.
pub(crate) fn handle_group_change_member_rsp(st: &mut State, ctx: &mut Ctx, pdu: &Pdu) {
    let Ok(rsp) = pdu.parse::<ImGroupChangeMemberRsp>() else {
        return;
    };
    let attach = rsp.attach_data.as_deref().unwrap_or_default();
    let requester = st
        .answered(attach, Continuation::Relay)
        .and_then(|p| st.requester(ctx, &p, Some(rsp.user_id)));
    if let Some(h) = requester {
        let answer = ImGroupChangeMemberRsp {
            attach_data: None,
            ..rsp.clone()
        };
        ctx.send_pdu_deferred(h, &Pdu::forward(&pdu.header, &answer));
    }
    if rsp.result_code != 0 {
        return;
    }
    let notify = ImGroupChangeMemberNotify {
        user_id: rsp.user_id,
        change_type: rsp.change_type,
        group_id: rsp.group_id,
        cur_user_id_list: rsp.cur_user_id_list,
        chg_user_id_list: rsp.chg_user_id_list,
    };
    let notify_pdu = Pdu::new(CommandId::GroupChangeMemberNotify, 0, &notify);
    st.relay_to_route(ctx, &notify_pdu);
    notify_members(st, ctx, &notify, &notify_pdu.encode(), requester);
}

/// Sends a member-change notification to every connection of the changed users, then of the
/// current members (someone in both lists gets it twice, as from the original).
fn notify_members(
    st: &mut State,
    ctx: &mut Ctx,
    notify: &ImGroupChangeMemberNotify,
    bytes: &[u8],
    except: Option<ConnHandle>,
) {
    for &user_id in notify
        .chg_user_id_list
        .iter()
        .chain(&notify.cur_user_id_list)
    {
        st.send_to_user(ctx, user_id, bytes, except);
    }
}

/// 0x040b relayed by route_server: a membership change made through another server.
pub(crate) fn handle_group_change_member_notify(st: &mut State, ctx: &mut Ctx, pdu: &Pdu) {
    if let Ok(notify) = pdu.parse::<ImGroupChangeMemberNotify>() {
        notify_members(st, ctx, &notify, &pdu.encode(), None);
    }
}
