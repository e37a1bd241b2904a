//! The presence table (BEHAVIOUR §6.2) seen through IMUsersStatReq, one test per branch.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use teamtalk_proto::pb::buddy::{ImUsersStatReq, ImUsersStatRsp};
use teamtalk_proto::{CommandId, Pdu};

const ON: i32 = ONLINE as i32;
const OFF: i32 = OFFLINE as i32;

#[test]
fn users_status_reply_echoes_seq_user_and_attach_in_request_order() {
    let server = start();
    let mut ms = FakeMsgServer::connect(server.local_addrs()[0]);
    ms.status(30, ONLINE, WINDOWS);
    ms.status(10, ONLINE, MAC);
    ms.sync();
    let req = ImUsersStatReq {
        user_id: 555,
        user_id_list: vec![30, 99, 10, 30],
        attach_data: Some(vec![0, 0, 0, 1, 0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0]),
    };
    let mut pdu = Pdu::new(CommandId::BuddyListUsersStatusRequest, 0xbeef, &req);
    // The header the requester chose besides the seq is not echoed: replies are fresh PDUs.
    pdu.header.version = 3;
    pdu.header.flag = 9;
    pdu.header.reserved = 4;
    ms.send(&pdu);
    let reply = ms.recv();
    let h = reply.header;
    assert_eq!(
        (
            h.version,
            h.flag,
            h.service_id,
            h.command_id,
            h.seq_num,
            h.reserved
        ),
        (1, 0, 0x0002, 0x020b, 0xbeef, 0)
    );
    let rsp = reply.parse::<ImUsersStatRsp>().unwrap();
    assert_eq!(rsp.user_id, 555);
    assert_eq!(rsp.attach_data, req.attach_data);
    let stats: Vec<_> = rsp
        .user_stat_list
        .iter()
        .map(|s| (s.user_id, s.status))
        .collect();
    assert_eq!(stats, [(30, ON), (99, OFF), (10, ON), (30, ON)]);
}

#[test]
fn users_status_reply_carries_an_empty_attach_when_the_request_had_none() {
    let server = start();
    let mut ms = FakeMsgServer::connect(server.local_addrs()[0]);
    let req = ImUsersStatReq {
        user_id: 1,
        user_id_list: vec![],
        attach_data: None,
    };
    ms.send(&Pdu::new(CommandId::BuddyListUsersStatusRequest, 5, &req));
    let reply = ms.recv();
    // user_id 1, then field 20 present with length 0, as the original serialises it.
    assert_eq!(reply.body, [0x08, 0x01, 0xa2, 0x01, 0x00]);
}

#[test]
fn offline_for_an_unknown_user_changes_nothing() {
    let server = start();
    let mut ms = FakeMsgServer::connect(server.local_addrs()[0]);
    ms.status(1, OFFLINE, WINDOWS);
    ms.status(1, ONLINE, WINDOWS);
    assert_eq!(ms.query(&[1]), [(1, ON)]);
    // Had the first OFFLINE been counted, this one would not take the user offline.
    ms.status(1, OFFLINE, WINDOWS);
    assert_eq!(ms.query(&[1]), [(1, OFF)]);
}

#[test]
fn online_for_an_unknown_user_creates_it() {
    let server = start();
    let mut ms = FakeMsgServer::connect(server.local_addrs()[0]);
    assert_eq!(ms.query(&[2]), [(2, OFF)]);
    ms.status(2, ONLINE, MAC);
    assert_eq!(ms.query(&[2]), [(2, ON)]);
}

#[test]
fn online_again_on_the_same_link_increments_the_count() {
    let server = start();
    let mut ms = FakeMsgServer::connect(server.local_addrs()[0]);
    ms.status(3, ONLINE, WINDOWS);
    ms.status(3, LEAVE, WINDOWS);
    ms.status(3, OFFLINE, WINDOWS);
    assert_eq!(ms.query(&[3]), [(3, ON)], "one of two windows clients left");
    ms.status(3, OFFLINE, WINDOWS);
    assert_eq!(ms.query(&[3]), [(3, OFF)]);
}

#[test]
fn offline_on_a_link_in_the_set_decrements_only_that_client_type() {
    let server = start();
    let mut a = FakeMsgServer::connect(server.local_addrs()[0]);
    a.status(4, ONLINE, WINDOWS);
    a.status(4, ONLINE, ANDROID);
    a.status(4, OFFLINE, WINDOWS);
    assert_eq!(a.query(&[4]), [(4, OFF)], "mobile only is reported offline");
    a.status(4, ONLINE, MAC);
    a.status(4, OFFLINE, ANDROID);
    assert_eq!(a.query(&[4]), [(4, ON)]);
    a.status(4, OFFLINE, MAC);
    assert_eq!(a.query(&[4]), [(4, OFF)]);
}

#[test]
fn online_from_a_second_link_adds_that_link() {
    let server = start();
    let addr = server.local_addrs()[0];
    let (mut a, mut b) = (FakeMsgServer::connect(addr), FakeMsgServer::connect(addr));
    a.status(5, ONLINE, WINDOWS);
    a.sync();
    b.status(5, ONLINE, MAC);
    b.sync();
    a.status(5, OFFLINE, WINDOWS);
    a.sync();
    assert_eq!(b.query(&[5]), [(5, ON)], "still online on b");
    b.status(5, OFFLINE, MAC);
    assert_eq!(b.query(&[5]), [(5, OFF)]);
}

#[test]
fn offline_from_a_link_not_in_the_set_changes_nothing() {
    let server = start();
    let addr = server.local_addrs()[0];
    let (mut a, mut b) = (FakeMsgServer::connect(addr), FakeMsgServer::connect(addr));
    a.status(6, ONLINE, WINDOWS);
    a.sync();
    b.status(6, OFFLINE, WINDOWS);
    assert_eq!(b.query(&[6]), [(6, ON)]);
    a.status(6, OFFLINE, WINDOWS);
    assert_eq!(a.query(&[6]), [(6, OFF)]);
}

#[test]
fn mobile_only_users_are_reported_offline() {
    let server = start();
    let mut ms = FakeMsgServer::connect(server.local_addrs()[0]);
    ms.status(7, ONLINE, IOS);
    ms.status(8, ONLINE, ANDROID);
    ms.status(8, ONLINE, WINDOWS);
    assert_eq!(ms.query(&[7, 8]), [(7, OFF), (8, ON)]);
}

#[test]
fn online_user_info_records_every_entry_without_notifications() {
    let server = start();
    let addr = server.local_addrs()[0];
    let (mut a, mut b) = (FakeMsgServer::connect(addr), FakeMsgServer::connect(addr));
    a.online_list(&[
        (11, ONLINE, WINDOWS),
        (12, LEAVE, MAC),
        (13, ONLINE, ANDROID),
        (14, OFFLINE, WINDOWS),
    ]);
    assert!(a.sync().is_empty(), "no notification to the sender");
    assert!(b.sync().is_empty(), "no notification to others");
    assert_eq!(
        b.query(&[11, 12, 13, 14]),
        [(11, ON), (12, ON), (13, OFF), (14, OFF)]
    );
}

#[test]
fn online_user_info_with_an_unknown_client_type_is_ignored_whole() {
    let server = start();
    let mut ms = FakeMsgServer::connect(server.local_addrs()[0]);
    ms.online_list(&[(15, ONLINE, WINDOWS), (16, ONLINE, 0x05)]);
    assert_eq!(ms.query(&[15, 16]), [(15, OFF), (16, OFF)]);
}
