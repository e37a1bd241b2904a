//! `IM.Other`: heartbeats, echoed unchanged.

use netlib::{ConnHandle, Ctx};
use teamtalk_proto::Pdu;

/// Echoes the heartbeat PDU as received.
pub(crate) fn handle_heartbeat(ctx: &mut Ctx<()>, h: ConnHandle, pdu: &Pdu) {
    ctx.send_pdu(h, pdu);
}
