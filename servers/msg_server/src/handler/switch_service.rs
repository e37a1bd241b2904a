//! `IM.SwitchService`: opaque peer-to-peer commands (typing indicators, shakes, file control)
//! relayed between users unchanged (BEHAVIOUR §2.13).

use log::debug;
use teamtalk_proto::Pdu;
use teamtalk_proto::pb::switch_service::Imp2pCmdMsg;

use super::{Refusal, violation, within_bounds};
use crate::limits::{MAX_P2P_BODY_LEN, Violation};
use crate::state::{Caller, Ctx, State};

/// 0x0601 from a client: relayed to the sender's other connections, the receiver's
/// connections and route_server. The claimed sender must be the caller (KNOWN_DEFECTS
/// D-AUTH-3), otherwise the command is dropped. It is relayed byte for byte, so the whole
/// body is bounded as well as the command text; over either it is dropped.
pub(crate) fn handle_p2p_cmd_msg(st: &mut State, ctx: &mut Ctx, me: Caller, pdu: &Pdu) {
    let Ok(cmd) = pdu.parse::<Imp2pCmdMsg>() else {
        return;
    };
    if pdu.body.len() > MAX_P2P_BODY_LEN {
        let v = Violation::TooLong {
            field: "p2p body",
            len: pdu.body.len(),
            max: MAX_P2P_BODY_LEN,
            unit: "bytes",
        };
        violation(st, ctx, me.handle, v, Refusal::Dropped);
        return;
    }
    if !within_bounds(st, ctx, me.handle, &cmd, Refusal::Dropped) {
        return;
    }
    if cmd.from_user_id != me.user_id {
        debug!(
            "dropping p2p command with a forged sender: user={} claimed={}",
            me.user_id, cmd.from_user_id
        );
        return;
    }
    let bytes = pdu.encode();
    // As the original: the sender's other connections, then every connection of the receiver.
    // A command to oneself therefore also comes back to the sending connection and reaches
    // the other ones twice.
    st.send_to_user(ctx, me.user_id, &bytes, Some(me.handle));
    st.send_to_user(ctx, cmd.to_user_id, &bytes, None);
    if let Some(route) = st.links.route.master() {
        ctx.send_pdu_deferred(route, pdu);
    }
}

/// 0x0601 relayed by route_server: to both parties' connections here (a command to oneself
/// reaches them twice, as from the original).
pub(crate) fn handle_routed_p2p_cmd_msg(st: &mut State, ctx: &mut Ctx, pdu: &Pdu) {
    if let Ok(cmd) = pdu.parse::<Imp2pCmdMsg>() {
        let bytes = pdu.encode();
        st.send_to_user(ctx, cmd.from_user_id, &bytes, None);
        st.send_to_user(ctx, cmd.to_user_id, &bytes, None);
    }
}
