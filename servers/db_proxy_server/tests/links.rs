//! Link handling: graceful stop (every link is told IMStopReceivePacket before the server
//! exits) and the optional peer allow-list.
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
        assert!(link.closed_within(Duration::from_secs(10)));
    }
}

#[test]
fn links_from_peers_outside_the_allow_list_are_closed() {
    let allowed = start_with(db_proxy_server::Config {
        allowed_peers: vec!["127.0.0.1".parse().unwrap()],
        ..config("http://127.0.0.1:9")
    });
    let mut link = Link::to(&allowed);
    let rsp: ImUnreadMsgCntRsp = link.call(
        CommandId::MsgUnreadCntRequest,
        &ImUnreadMsgCntReq {
            user_id: 0,
            attach_data: None,
        },
        CommandId::MsgUnreadCntResponse,
    );
    assert_eq!(rsp.total_cnt, 0);

    let refused = start_with(db_proxy_server::Config {
        allowed_peers: vec!["10.255.255.1".parse().unwrap()],
        ..config("http://127.0.0.1:9")
    });
    // The server closes the link without reading from it: the read ends (EOF or reset).
    let mut link = Link::to(&refused);
    assert!(link.closed_within(Duration::from_secs(10)));
}
