//! Handlers for what msg_servers send, and the dispatch on command id. Unlike the other
//! servers, push_server ends the session on any command it does not know (PROTOCOL §2.1).

pub(crate) mod other;
pub(crate) mod server;

use log::warn;
use netlib::{ConnHandle, Ctx};
use teamtalk_proto::{CommandId, Pdu};

use crate::server::{PushServer, Session};

/// Routes one PDU from session `h`.
pub(crate) fn dispatch(ps: &mut PushServer, ctx: &mut Ctx<Session>, h: ConnHandle, pdu: Pdu) {
    match pdu.command() {
        Some(CommandId::OtherHeartbeat) => other::handle_heartbeat(ctx, h, &pdu),
        Some(CommandId::OtherPushToUserReq) => server::handle_push_to_user_req(ps, ctx, h, &pdu),
        _ => {
            warn!(
                "unknown command, closing session: handle={h} command=0x{:04x}",
                pdu.header.command_id
            );
            ctx.close(h);
        }
    }
}
