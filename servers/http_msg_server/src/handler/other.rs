//! `IM.Server` / `IM.Other` from db_proxy: the stop notice sent before it shuts down.

use log::info;
use netlib::ConnHandle;

use crate::server::HttpMsgServer;

/// IMStopReceivePacket: db_proxy is going away; stop choosing this link.
pub(crate) fn handle_stop_receive_packet(hms: &mut HttpMsgServer, h: ConnHandle) {
    info!("db_proxy stops receiving: handle={h}");
    hms.stopped_db.insert(h);
}
