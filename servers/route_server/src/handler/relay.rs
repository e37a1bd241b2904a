//! Cross-server traffic route_server passes on without reading (BEHAVIOUR §6.3): messages, P2P
//! commands, read notifications, kicks, group-change, file and remove-session notifications go
//! to every other link; sign-info notifications go to every link including the sender's, whose
//! msg_server relies on the echo to reach its own users.
//!
//! The PDU is relayed byte for byte, received header included (PROTOCOL §2.2). Every relay is
//! a broadcast, as in the original: presence reaches route_server on other links than the
//! traffic, so choosing targets by presence could miss a device that has just logged in.

use netlib::{ConnHandle, Ctx};
use teamtalk_proto::Pdu;

use crate::peer::msg_server::{self, MsgServerLink};

/// Sends the PDU unchanged to every link except the one it came from.
pub(super) fn relay_to_others(ctx: &mut Ctx<MsgServerLink>, from: ConnHandle, pdu: &Pdu) {
    msg_server::broadcast(ctx, pdu, Some(from));
}

/// Sends the PDU unchanged to every link, the sender's included.
pub(super) fn relay_to_all(ctx: &mut Ctx<MsgServerLink>, pdu: &Pdu) {
    msg_server::broadcast(ctx, pdu, None);
}
