//! Link life cycle: heartbeats, the idle timeout, and what a lost link does to presence
//! (KNOWN_DEFECTS D-RS-1: its users' counts are removed and the offline notifications sent).
#![allow(clippy::unwrap_used)]

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::*;
use teamtalk_proto::pb::server::ImRoleSet;
use teamtalk_proto::{CommandId, Pdu};

const ON: i32 = ONLINE as i32;
const OFF: i32 = OFFLINE as i32;

/// Syncs `link` until it has received something, returning that batch.
fn first_news(link: &mut FakeMsgServer) -> Vec<Note> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let seen = link.sync();
        if !seen.is_empty() {
            return notes(&seen);
        }
        assert!(Instant::now() < deadline, "nothing arrived in time");
        thread::sleep(Duration::from_millis(20));
    }
}

/// Users on `a` and `b` in every combination the close must handle.
fn populate(a: &mut FakeMsgServer, b: &mut FakeMsgServer) {
    a.status(1, ONLINE, WINDOWS); // only on a
    a.status(1, ONLINE, WINDOWS); // twice
    a.status(2, ONLINE, ANDROID); // only on a, mobile
    a.status(3, ONLINE, MAC); // PC on both
    b.status(3, ONLINE, WINDOWS);
    a.status(4, ONLINE, WINDOWS); // PC on a, mobile on b
    b.status(4, ONLINE, IOS);
    a.sync();
    b.sync();
}

fn assert_offline_news_after_losing_a(b: &mut FakeMsgServer) {
    assert_eq!(
        first_news(b),
        [Note::Stat(1, 2), Note::PcLogin(4, 0), Note::Stat(4, 2)]
    );
    assert_eq!(
        b.query(&[1, 2, 3, 4]),
        [(1, OFF), (2, OFF), (3, ON), (4, OFF)]
    );
}

#[test]
fn closing_a_link_takes_its_users_offline_and_notifies_the_other_links() {
    let server = start();
    let addr = server.local_addrs()[0];
    let (mut a, mut b) = (FakeMsgServer::connect(addr), FakeMsgServer::connect(addr));
    populate(&mut a, &mut b);
    a.kill();
    assert_offline_news_after_losing_a(&mut b);
    // The counts a contributed are gone: b alone now decides user 3's presence.
    b.status(3, OFFLINE, WINDOWS);
    assert_eq!(notes(&b.sync()), [Note::Stat(3, 2)]);
    assert_eq!(b.query(&[3]), [(3, OFF)]);
}

#[test]
fn closing_a_link_drops_it_from_the_sets_it_stayed_in_without_clients() {
    let server = start();
    let addr = server.local_addrs()[0];
    let (mut a, mut b) = (FakeMsgServer::connect(addr), FakeMsgServer::connect(addr));
    a.status(1, ONLINE, WINDOWS);
    a.sync();
    // b had a client of user 1 that left while a's was online: b stays in 1's set.
    b.status(1, ONLINE, ANDROID);
    b.status(1, OFFLINE, ANDROID);
    b.status(2, ONLINE, MAC);
    b.sync();
    a.sync();
    a.status(1, OFFLINE, WINDOWS);
    assert_eq!(notes(&a.sync()), [Note::PcLogin(1, 0), Note::Stat(1, 2)]);
    b.kill();
    // Only b's own client is news; user 1 disappears with b silently.
    assert_eq!(first_news(&mut a), [Note::Stat(2, 2)]);
    a.status(1, OFFLINE, WINDOWS);
    assert_eq!(
        notes(&a.sync()),
        [Note::Stat(1, 2)],
        "user 1 no longer exists"
    );
}

#[test]
fn a_link_that_stops_sending_times_out_and_its_users_go_offline() {
    let server = start_with(|c| {
        c.link_timeout = Duration::from_secs(2);
        c.heartbeat_interval = Duration::from_secs(1);
    });
    let addr = server.local_addrs()[0];
    let (mut a, mut b) = (FakeMsgServer::connect(addr), FakeMsgServer::connect(addr));
    populate(&mut a, &mut b);
    // a goes silent; b keeps talking through its syncs.
    assert_offline_news_after_losing_a(&mut b);
    a.expect_closed();
}

#[test]
fn an_idle_link_gets_heartbeats_from_route_server() {
    let server = start_with(|c| c.heartbeat_interval = Duration::from_secs(1));
    let mut a = FakeMsgServer::connect(server.local_addrs()[0]);
    let heartbeat = a.recv_raw_any().unwrap();
    assert_eq!(
        heartbeat,
        [0, 0, 0, 0x10, 0, 1, 0, 0, 0, 7, 7, 1, 0, 0, 0, 0],
        "server-built IMHeartBeat"
    );
}

#[test]
fn heartbeats_from_the_link_are_not_answered() {
    let server = start();
    let mut a = FakeMsgServer::connect(server.local_addrs()[0]);
    a.send(&Pdu::empty(CommandId::OtherHeartbeat, 3));
    assert!(a.sync().is_empty());
}

#[test]
fn role_set_gets_no_answer_and_keeps_the_link() {
    let server = start();
    let addr = server.local_addrs()[0];
    let (mut a, mut b) = (FakeMsgServer::connect(addr), FakeMsgServer::connect(addr));
    a.send(&Pdu::new(
        CommandId::OtherRoleSet,
        0,
        &ImRoleSet { master: 1 },
    ));
    a.send(&Pdu::new(
        CommandId::OtherRoleSet,
        0,
        &ImRoleSet { master: 0 },
    ));
    assert!(a.sync().is_empty());
    assert!(b.sync().is_empty());
}

#[test]
fn unknown_commands_and_bad_bodies_are_ignored_and_the_link_stays_open() {
    let server = start();
    let mut a = FakeMsgServer::connect(server.local_addrs()[0]);
    let mut unknown = Pdu::empty(CommandId::OtherHeartbeat, 1);
    unknown.header.command_id = 0x0999;
    a.send(&unknown);
    // A command route_server does not handle.
    a.send(&Pdu::empty(CommandId::LoginReqMsgserver, 2));
    // Not protobuf: a truncated varint.
    let mut bad = Pdu::empty(CommandId::OtherUserStatusUpdate, 3);
    bad.body = vec![0x08, 0xff];
    a.send(&bad);
    let mut bad_query = Pdu::empty(CommandId::BuddyListUsersStatusRequest, 4);
    bad_query.body = vec![0x12, 0x05, 0x01];
    a.send(&bad_query);
    assert!(a.sync().is_empty());
    assert_eq!(a.query(&[1]), [(1, OFF)]);
}

#[test]
fn a_header_shorter_than_sixteen_bytes_closes_the_link() {
    let server = start();
    let mut a = FakeMsgServer::connect(server.local_addrs()[0]);
    a.send_raw(&[0, 0, 0, 8, 0, 1, 0, 0, 0, 7, 7, 1, 0, 0, 0, 0]);
    a.expect_closed();
}

#[test]
fn a_pdu_over_the_size_limit_closes_the_link() {
    let server = start();
    let mut a = FakeMsgServer::connect(server.local_addrs()[0]);
    a.send_raw(&[0x10, 0, 0, 0, 0, 1, 0, 0, 0, 7, 7, 1, 0, 0, 0, 0]);
    a.expect_closed();
}

#[test]
fn shutdown_stops_the_server_and_closes_links() {
    let server = start();
    let mut a = FakeMsgServer::connect(server.local_addrs()[0]);
    a.sync();
    server.shutdown().unwrap();
    a.expect_closed();
}
