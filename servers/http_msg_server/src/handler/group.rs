//! `IM.Group` answers from db_proxy: each finishes the HTTP request named by its
//! `attach_data`; a successful membership change is also announced through the master
//! route_server (PROTOCOL §9.2–9.3).

use log::{debug, info, warn};
use netlib::Ctx;
use teamtalk_proto::attach::DbAttachData;
use teamtalk_proto::pb::group::{
    ImGroupChangeMemberNotify, ImGroupChangeMemberRsp, ImGroupCreateRsp,
};
use teamtalk_proto::{CommandId, Pdu};

use crate::http::{self, QueryKind};
use crate::peer::Peer;
use crate::query::ErrorCode;
use crate::server::HttpMsgServer;

fn caller_id(attach: Option<&Vec<u8>>) -> Option<u32> {
    DbAttachData::decode(attach?).ok().map(|a| a.handle)
}

/// IMGroupCreateRsp.
pub(crate) fn handle_group_create_rsp(hms: &mut HttpMsgServer, ctx: &mut Ctx<Peer>, pdu: &Pdu) {
    let rsp: ImGroupCreateRsp = match pdu.parse() {
        Ok(rsp) => rsp,
        Err(e) => {
            warn!("ignoring group create answer: err={e}");
            return;
        }
    };
    let Some(id) = caller_id(rsp.attach_data.as_ref()) else {
        warn!("group create answer without a usable attach");
        return;
    };
    let Some((h, kind)) = http::take_pending(hms, ctx, id) else {
        debug!("group create answer for a gone caller: id={id}");
        return;
    };
    if kind != QueryKind::CreateGroup {
        warn!("group create answer for a different request: id={id} kind={kind:?}");
        http::answer(ctx, h, &kind.failure_body());
        return;
    }
    let group_id = rsp.group_id.unwrap_or(0);
    info!(
        "group created: result={} group={group_id} members={}",
        rsp.result_code,
        rsp.user_id_list.len()
    );
    let code = if rsp.result_code == 0 {
        ErrorCode::Success
    } else {
        ErrorCode::CreateGroup
    };
    http::answer(ctx, h, &code.create_group_body(group_id));
}

/// IMGroupChangeMemberRsp.
pub(crate) fn handle_group_change_member_rsp(
    hms: &mut HttpMsgServer,
    ctx: &mut Ctx<Peer>,
    pdu: &Pdu,
) {
    let rsp: ImGroupChangeMemberRsp = match pdu.parse() {
        Ok(rsp) => rsp,
        Err(e) => {
            warn!("ignoring member change answer: err={e}");
            return;
        }
    };
    let Some(id) = caller_id(rsp.attach_data.as_ref()) else {
        warn!("member change answer without a usable attach");
        return;
    };
    let Some((h, kind)) = http::take_pending(hms, ctx, id) else {
        debug!("member change answer for a gone caller: id={id}");
        return;
    };
    if kind != QueryKind::ChangeMembers {
        warn!("member change answer for a different request: id={id} kind={kind:?}");
        http::answer(ctx, h, &kind.failure_body());
        return;
    }
    info!(
        "group members changed: result={} group={} type={}",
        rsp.result_code, rsp.group_id, rsp.change_type
    );
    if rsp.result_code != 0 {
        http::answer(ctx, h, &ErrorCode::ChangeMember.body());
        return;
    }
    http::answer(ctx, h, &ErrorCode::Success.body());
    let notify = ImGroupChangeMemberNotify {
        user_id: rsp.user_id,
        change_type: rsp.change_type,
        group_id: rsp.group_id,
        cur_user_id_list: rsp.cur_user_id_list,
        chg_user_id_list: rsp.chg_user_id_list,
    };
    match hms.master_route {
        Some(route) => {
            ctx.send_pdu(
                route,
                &Pdu::new(CommandId::GroupChangeMemberNotify, 0, &notify),
            );
        }
        None => debug!(
            "no route_server for the change notify: group={}",
            rsp.group_id
        ),
    }
}
