//! `IM.Server` commands on msg_server links: registration (IMMsgServInfo) and connection-count
//! updates (IMUserCntUpdate).
//!
//! The original never checks whether these bodies parse: a message lacking a required field,
//! or cut by a malformed one, is used with what it has and defaults for the rest. So is it
//! here.

use log::{debug, info, warn};
use netlib::ConnHandle;
use teamtalk_proto::Pdu;
use teamtalk_proto::pb::server::{ImMsgServInfo, ImUserCntUpdate};

use crate::registry::{MsgServerInfo, OtherPorts, Registry};
use crate::socket_order::SocketNo;

/// Longest WebSocket path passed on to clients.
const MAX_WS_PATH: usize = 256;

/// IMMsgServInfo: records (or replaces) the link's msg_server.
pub(super) fn handle_msg_serv_info(
    registry: &mut Registry,
    h: ConnHandle,
    socket: SocketNo,
    pdu: &Pdu,
) {
    let msg = parse_unchecked::<ImMsgServInfo>(h, pdu);
    let info = MsgServerInfo {
        ip1: msg.ip1,
        ip2: msg.ip2,
        port: msg.port,
        max_conn_cnt: msg.max_conn_cnt,
        cur_conn_cnt: msg.cur_conn_cnt,
        host_name: msg.host_name,
        other_ports: OtherPorts {
            tls: msg.tls_port,
            ws: msg.ws_port,
            wss: msg.wss_port,
            // A path clients could not use (or a peer's junk) is not advertised.
            ws_path: msg
                .ws_path
                .filter(|p| p.len() <= MAX_WS_PATH && p.starts_with('/'))
                .filter(|p| p.bytes().all(|b| b.is_ascii_graphic())),
        },
    };
    let line = format!(
        "handle={h} socket={socket} host={} ip1={} ip2={} port={} max_conns={} cur_conns={}",
        info.host_name, info.ip1, info.ip2, info.port, info.max_conn_cnt, info.cur_conn_cnt
    );
    if registry.register(socket, info).is_some() {
        warn!("msg_server registered again, replacing: {line}");
    } else {
        info!("msg_server registered: {line}");
    }
}

/// IMUserCntUpdate: one client connection more (1) or fewer (2) on the link's msg_server.
pub(super) fn handle_user_cnt_update(
    registry: &mut Registry,
    h: ConnHandle,
    socket: SocketNo,
    pdu: &Pdu,
) {
    let msg = parse_unchecked::<ImUserCntUpdate>(h, pdu);
    match registry.update_count(socket, msg.user_action) {
        Some(s) => {
            let (host, port, cur) = (s.host_name.clone(), s.port, s.cur_conn_cnt);
            debug!(
                "user count update: host={host} port={port} cur_conns={cur} total_conns={}",
                registry.total()
            );
        }
        None => debug!(
            "ignoring user count update: handle={h} action={} registered={}",
            msg.user_action,
            registry.iter().any(|(r, _)| r == socket)
        ),
    }
}

/// Decodes what it can of a body: absent fields keep their defaults, and the fields before a
/// malformed one are kept, as the original's unchecked `ParseFromArray` leaves them.
fn parse_unchecked<M: prost::Message + Default>(h: ConnHandle, pdu: &Pdu) -> M {
    let mut msg = M::default();
    if let Err(e) = msg.merge(pdu.body.as_slice()) {
        debug!("using the fields before a malformed one: handle={h} err={e}");
    }
    msg
}
