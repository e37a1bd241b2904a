//! Command handlers, one module per protobuf package, and the single dispatch on command id.
//!
//! Which commands a connection may send depends on the port it came in on: msg_servers speak
//! `IM.Server` file-server commands, clients speak `IM.File`; both may heartbeat. Anything else
//! is logged and ignored (PROTOCOL §2.1), as is a body that fails to parse.

pub(crate) mod file;
pub(crate) mod other;
pub(crate) mod server;

use log::debug;
use netlib::{ConnHandle, Ctx};
use teamtalk_proto::{CommandId, Pdu};

use crate::peer::{Peer, PeerData};
use crate::server::FileServer;

/// Routes one PDU from connection `h` to its handler.
pub(crate) fn dispatch(fs: &mut FileServer, ctx: &mut Ctx<PeerData>, h: ConnHandle, pdu: Pdu) {
    let is_client = match ctx.data(h).map(|d| &d.peer) {
        Some(Peer::MsgServer) => false,
        Some(Peer::Client(_)) => true,
        _ => return,
    };
    match (is_client, pdu.command()) {
        (_, Some(CommandId::OtherHeartbeat)) => other::handle_heartbeat(ctx, h, &pdu),
        (false, Some(CommandId::OtherFileServerIpReq)) => {
            server::handle_file_server_ip_req(fs, ctx, h, &pdu);
        }
        (false, Some(CommandId::OtherFileTransferReq)) => {
            server::handle_file_transfer_req(fs, ctx, h, &pdu);
        }
        (true, Some(CommandId::FileLoginReq)) => file::handle_file_login_req(fs, ctx, h, &pdu),
        (true, Some(CommandId::FileState)) => file::handle_file_state(fs, ctx, h, &pdu),
        (true, Some(CommandId::FilePullDataReq)) => {
            file::handle_file_pull_data_req(fs, ctx, h, &pdu);
        }
        (true, Some(CommandId::FilePullDataRsp)) => {
            file::handle_file_pull_data_rsp(fs, ctx, h, pdu);
        }
        _ => debug!(
            "ignoring command: handle={h} command=0x{:04x} client={is_client}",
            pdu.header.command_id
        ),
    }
}
