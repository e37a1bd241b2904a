//! Handlers for what msg_servers send, and the dispatch on command id. The original ended the
//! session on any command it did not know; unknown commands are ignored here instead
//! (KNOWN_DEFECTS D-PUSH-6), as every other server does.

pub(crate) mod other;
pub(crate) mod server;

use log::debug;
use netlib::{ConnHandle, Ctx};
use teamtalk_proto::{CommandId, Pdu};

use crate::server::PushServer;

/// Routes one PDU from session `h`.
pub(crate) fn dispatch(ps: &mut PushServer, ctx: &mut Ctx<()>, h: ConnHandle, pdu: Pdu) {
    match pdu.command() {
        Some(CommandId::OtherHeartbeat) => other::handle_heartbeat(ctx, h, &pdu),
        Some(CommandId::OtherPushToUserReq) => server::handle_push_to_user_req(ps, ctx, h, &pdu),
        _ => debug!(
            "ignoring unknown command: handle={h} command=0x{:04x}",
            pdu.header.command_id
        ),
    }
}
