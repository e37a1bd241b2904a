//! Graceful stop: every link is told IMStopReceivePacket before the server exits.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use teamtalk_proto::CommandId;
use teamtalk_proto::pb::message::{ImUnreadMsgCntReq, ImUnreadMsgCntRsp};
use teamtalk_proto::pb::server::ImStopReceivePacket;

#[test]
fn stopping_the_server_sends_stop_receive_packet_to_every_link() {
    let server = start();
    let mut links: Vec<Link> = (0..3).map(|_| Link::to(&server)).collect();
    // Make sure every link is accepted and served before the stop.
    for link in &mut links {
        let _: ImUnreadMsgCntRsp = link.call(
            CommandId::MsgUnreadCntRequest,
            &ImUnreadMsgCntReq {
                user_id: 0,
                attach_data: None,
            },
            CommandId::MsgUnreadCntResponse,
        );
    }
    server.shutdown().unwrap();
    for link in &mut links {
        let pdu = link
            .recv_within(Duration::from_secs(10))
            .expect("stop notice");
        assert_eq!(pdu.header.command_id, CommandId::OtherStopRecvPacket as u16);
        assert_eq!(pdu.header.seq_num, 0);
        let notice: ImStopReceivePacket = pdu.parse().unwrap();
        assert_eq!(notice.result, 0);
        // Then the server is gone.
        assert!(link.recv_within(Duration::from_secs(10)).is_none());
    }
}
