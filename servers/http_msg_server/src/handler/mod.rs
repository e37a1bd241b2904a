//! Handlers for what db_proxy sends, one module per protobuf package, and the dispatch on
//! command id. route_server links only carry heartbeats towards us; their input is ignored.

pub(crate) mod group;
pub(crate) mod other;

use log::debug;
use netlib::{ConnHandle, Ctx};
use teamtalk_proto::{CommandId, Pdu};

use crate::peer::Peer;
use crate::server::HttpMsgServer;

/// Routes one PDU from db_proxy link `h`.
pub(crate) fn dispatch_db(hms: &mut HttpMsgServer, ctx: &mut Ctx<Peer>, h: ConnHandle, pdu: Pdu) {
    match pdu.command() {
        Some(CommandId::OtherHeartbeat) => {}
        Some(CommandId::OtherStopRecvPacket) => other::handle_stop_receive_packet(hms, h),
        Some(CommandId::GroupCreateResponse) => group::handle_group_create_rsp(hms, ctx, &pdu),
        Some(CommandId::GroupChangeMemberResponse) => {
            group::handle_group_change_member_rsp(hms, ctx, &pdu);
        }
        _ => debug!(
            "ignoring db_proxy command: handle={h} command=0x{:04x}",
            pdu.header.command_id
        ),
    }
}
