//! `IM.Other`: the client heartbeat.

use netlib::ConnHandle;
use teamtalk_proto::Pdu;

use crate::state::Ctx;

/// 0x0701: echoes the received PDU byte for byte, seq included (PROTOCOL §6.2); msg_server
/// never starts heartbeats towards clients.
pub(crate) fn handle_heartbeat(ctx: &mut Ctx, h: ConnHandle, pdu: &Pdu) {
    ctx.send_pdu_deferred(h, pdu);
}
