//! `IM.Server` commands on msg_server links: registration (IMMsgServInfo) and connection-count
//! updates (IMUserCntUpdate).

use log::{debug, info, warn};
use netlib::ConnHandle;
use teamtalk_proto::Pdu;
use teamtalk_proto::pb::server::{ImMsgServInfo, ImUserCntUpdate};

use super::parse;
use crate::registry::{MsgServerInfo, Registry};

/// IMMsgServInfo: records (or replaces) the link's msg_server.
pub(super) fn handle_msg_serv_info(registry: &mut Registry, h: ConnHandle, pdu: &Pdu) {
    let Some(msg) = parse::<ImMsgServInfo>(h, pdu) else {
        return;
    };
    let info = MsgServerInfo {
        ip1: msg.ip1,
        ip2: msg.ip2,
        port: msg.port,
        max_conn_cnt: msg.max_conn_cnt,
        cur_conn_cnt: msg.cur_conn_cnt,
        host_name: msg.host_name,
    };
    let line = format!(
        "handle={h} host={} ip1={} ip2={} port={} max_conns={} cur_conns={}",
        info.host_name, info.ip1, info.ip2, info.port, info.max_conn_cnt, info.cur_conn_cnt
    );
    if registry.register(h, info).is_some() {
        warn!("msg_server registered again, replacing: {line}");
    } else {
        info!("msg_server registered: {line}");
    }
}

/// IMUserCntUpdate: one client connection more (1) or fewer (2) on the link's msg_server.
pub(super) fn handle_user_cnt_update(registry: &mut Registry, h: ConnHandle, pdu: &Pdu) {
    let Some(msg) = parse::<ImUserCntUpdate>(h, pdu) else {
        return;
    };
    match registry.update_count(h, msg.user_action) {
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
            registry.iter().any(|(r, _)| r == h)
        ),
    }
}
