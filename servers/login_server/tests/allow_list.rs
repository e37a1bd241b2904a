//! `AllowedPeerIPs` (KNOWN_DEFECTS D-AUTH-10) guards the msg_server port only: a link from an
//! address outside the list is closed at accept and its report is never registered, while the
//! HTTP and legacy client ports still serve that address. Every address in 127.0.0.0/8 is
//! loopback on Linux, so links from 127.0.0.2 come from a second address.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use netlib::PeerFilter;
use teamtalk_proto::pb::login::ImMsgServRsp;
use teamtalk_proto::{CommandId, Pdu};

#[test]
fn msg_server_link_from_outside_the_allow_list_is_closed_and_not_registered() {
    let server = start_with(|config| {
        config.allowed_peers = PeerFilter::parse_list("AllowedPeerIPs", "127.0.0.2").unwrap();
    });
    let addrs = server.local_addrs();

    // From 127.0.0.1, outside the list.
    let mut stranger = PduConn::connect(addrs.msg_server[0]);
    stranger.send(&serv_info("10.6.6.6", "10.6.6.7", 8666, 0, 10));
    assert!(stranger.until_closed().is_empty());
    // The HTTP port serves 127.0.0.1 all the same, and nothing was registered.
    assert_eq!(get_msg_server(addrs.http[0]), answer_no_server());
    // So does the legacy client port.
    let mut client = PduConn::connect(addrs.client[0]);
    client.send(&Pdu::empty(CommandId::LoginReqMsgserver, 3));
    let answers = client.until_closed();
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].parse::<ImMsgServRsp>().unwrap().result_code, 1);

    let mut allowed = PduConn::connect_from("127.0.0.2", addrs.msg_server[0]);
    allowed.send(&serv_info("10.0.0.1", "10.0.0.2", 8001, 0, 10));
    await_answer(addrs.http[0], &answer_ok("10.0.0.1", "10.0.0.2", 8001));
    server.shutdown().unwrap();
}

#[test]
fn without_the_key_loopback_msg_servers_may_link() {
    let server = start();
    let addrs = server.local_addrs();
    let mut ms = PduConn::connect_from("127.0.0.3", addrs.msg_server[0]);
    ms.send(&serv_info("10.0.0.5", "10.0.0.6", 8005, 0, 10));
    await_answer(addrs.http[0], &answer_ok("10.0.0.5", "10.0.0.6", 8005));
    server.shutdown().unwrap();
}
