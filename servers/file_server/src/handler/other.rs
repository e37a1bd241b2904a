//! `IM.Other`: heartbeats, echoed unchanged on both ports (PROTOCOL §6.2).

use netlib::{ConnHandle, Ctx};
use teamtalk_proto::Pdu;

use crate::peer::PeerData;

/// Echoes the heartbeat PDU as received (same header, same seq).
pub(crate) fn handle_heartbeat(ctx: &mut Ctx<PeerData>, h: ConnHandle, pdu: &Pdu) {
    ctx.send_pdu(h, pdu);
}
