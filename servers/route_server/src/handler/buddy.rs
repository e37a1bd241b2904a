//! `IM.Buddy` commands: the users-status query (0x020a → 0x020b).

use log::debug;
use netlib::{ConnHandle, Ctx};
use teamtalk_proto::pb::base_define::UserStat;
use teamtalk_proto::pb::buddy::{ImUsersStatReq, ImUsersStatRsp};
use teamtalk_proto::{CommandId, Pdu};

use super::parse;
use crate::peer::msg_server::MsgServerLink;
use crate::presence::{Presence, UserId};

/// IMUsersStatReq: one status per requested id, in request order, with the request's seq and
/// `attach_data` echoed (msg_server routes the answer by it, PROTOCOL §5).
pub(super) fn handle_users_status_request(
    presence: &Presence,
    ctx: &mut Ctx<MsgServerLink>,
    h: ConnHandle,
    pdu: &Pdu,
) {
    let Some(req) = parse::<ImUsersStatReq>(h, pdu) else {
        return;
    };
    debug!(
        "users status request: handle={h} user_id={} count={}",
        req.user_id,
        req.user_id_list.len()
    );
    let rsp = ImUsersStatRsp {
        user_id: req.user_id,
        user_stat_list: req
            .user_id_list
            .iter()
            .map(|&id| UserStat {
                user_id: id,
                status: presence.status(UserId(id)) as i32,
            })
            .collect(),
        // The original always sets the field, so an absent attach comes back as an empty one.
        attach_data: Some(req.attach_data.unwrap_or_default()),
    };
    ctx.send_pdu(
        h,
        &Pdu::reply(&pdu.header, CommandId::BuddyListUsersStatusResponse, &rsp),
    );
}
