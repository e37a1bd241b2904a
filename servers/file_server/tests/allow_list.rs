//! `AllowedPeerIPs` (KNOWN_DEFECTS D-AUTH-10) guards the msg_server port only: a link from an
//! address outside the list is closed at accept and its request never answered; the client
//! port serves that address all the same. The tests run on loopback, so "outside" is a list
//! without 127.0.0.1.
#![allow(clippy::unwrap_used)]

mod common;

use common::{PduConn, config, start, temp_dir};
use netlib::PeerFilter;
use teamtalk_proto::CommandId;
use teamtalk_proto::pb::server::{ImFileServerIpReq, ImFileServerIpRsp};

#[test]
fn msg_server_link_from_outside_the_allow_list_is_closed_unanswered() {
    let dir = temp_dir("allow-refused");
    let mut cfg = config(&dir);
    cfg.allowed_peers = PeerFilter::parse_list("AllowedPeerIPs", "10.0.0.0/8;::1").unwrap();
    let server = start(cfg);

    let mut msg = PduConn::connect(server.local_addrs().msg_server);
    msg.send_msg(CommandId::OtherFileServerIpReq, 1, &ImFileServerIpReq {});
    msg.expect_closed();

    // The client port is not behind the list.
    let mut client = PduConn::connect(server.local_addrs().client[0]);
    client.expect_alive();
    server.shutdown().unwrap();
}

#[test]
fn msg_server_link_from_inside_the_allow_list_is_served() {
    let dir = temp_dir("allow-served");
    let mut cfg = config(&dir);
    cfg.allowed_peers = PeerFilter::parse_list("AllowedPeerIPs", "127.0.0.0/8").unwrap();
    let server = start(cfg);
    let mut msg = PduConn::connect(server.local_addrs().msg_server);
    msg.send_msg(CommandId::OtherFileServerIpReq, 2, &ImFileServerIpReq {});
    let (_, rsp): (_, ImFileServerIpRsp) = msg.recv_msg(CommandId::OtherFileServerIpRsp);
    assert_eq!(rsp.ip_addr_list.len(), 1);
    server.shutdown().unwrap();
}
