//! Link handling: graceful stop (every link is told IMStopReceivePacket before the server
//! exits) and the peer allow-list (`AllowedPeerIPs`, KNOWN_DEFECTS D-AUTH-10).
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
fn links_from_peers_outside_the_allow_list_are_closed_unanswered() {
    let unread = ImUnreadMsgCntReq {
        user_id: 0,
        attach_data: None,
    };
    // Exact addresses and CIDR ranges both admit the test's 127.0.0.1.
    for allowed in ["127.0.0.1", "127.0.0.0/8"] {
        let server = start_with(db_proxy_server::Config {
            allowed_peers: vec![allowed.parse().unwrap()],
            ..config("http://127.0.0.1:9")
        });
        let mut link = Link::to(&server);
        let rsp: ImUnreadMsgCntRsp = link.call(
            CommandId::MsgUnreadCntRequest,
            &unread,
            CommandId::MsgUnreadCntResponse,
        );
        assert_eq!(rsp.total_cnt, 0, "{allowed}");
    }

    for refused in ["10.255.255.1", "10.0.0.0/8", "::1"] {
        let server = start_with(db_proxy_server::Config {
            allowed_peers: vec![refused.parse().unwrap()],
            ..config("http://127.0.0.1:9")
        });
        // The server closes the link at accept without reading from it: the request is never
        // answered and the read ends (EOF or reset).
        let mut link = Link::to(&server);
        link.send(CommandId::MsgUnreadCntRequest, &unread);
        assert!(
            link.recv_within(Duration::from_secs(10)).is_none(),
            "{refused}"
        );
        assert!(link.closed_within(Duration::from_secs(10)), "{refused}");
    }
}

#[test]
fn without_the_key_loopback_links_are_served() {
    let server = start();
    assert!(server.local_addrs()[0].ip().is_loopback());
    let mut link = Link::to(&server);
    let rsp: ImUnreadMsgCntRsp = link.call(
        CommandId::MsgUnreadCntRequest,
        &ImUnreadMsgCntReq {
            user_id: 0,
            attach_data: None,
        },
        CommandId::MsgUnreadCntResponse,
    );
    assert_eq!(rsp.total_cnt, 0);
}
