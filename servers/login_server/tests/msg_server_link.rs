//! msg_server links (BEHAVIOUR §7): registration, count updates (KNOWN_DEFECTS D-LS-2),
//! heartbeats, and what a lost link does to `/msg_server`.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use teamtalk_proto::pb::server::ImMsgServInfo;
use teamtalk_proto::{CommandId, Pdu};

#[test]
fn a_second_report_on_the_same_link_replaces_the_first() {
    let server = start();
    let addrs = server.local_addrs();
    let mut ms = PduConn::connect(addrs.msg_server[0]);
    ms.send(&serv_info("10.0.0.1", "10.0.0.2", 8001, 0, 10));
    await_answer(addrs.http[0], &answer_ok("10.0.0.1", "10.0.0.2", 8001));
    ms.send(&serv_info("10.0.0.3", "10.0.0.4", 8002, 0, 10));
    await_answer(addrs.http[0], &answer_ok("10.0.0.3", "10.0.0.4", 8002));
    ms.send(&serv_info("10.0.0.3", "10.0.0.4", 8002, 10, 10));
    await_answer(addrs.http[0], &answer_all_full());
}

#[test]
fn count_updates_fill_and_free_a_server() {
    let server = start();
    let addrs = server.local_addrs();
    let mut ms = PduConn::connect(addrs.msg_server[0]);
    ms.send_all(&[
        serv_info("10.0.0.1", "10.0.0.2", 8001, 0, 2),
        cnt_update(1),
        cnt_update(1),
    ]);
    await_answer(addrs.http[0], &answer_all_full());
    ms.send(&cnt_update(2));
    await_answer(addrs.http[0], &answer_ok("10.0.0.1", "10.0.0.2", 8001));
}

#[test]
fn decrementing_at_zero_stays_at_zero() {
    let server = start();
    let addrs = server.local_addrs();
    let mut ms = PduConn::connect(addrs.msg_server[0]);
    // A wrapped count would be u32::MAX and make the server look full.
    ms.send_all(&[
        serv_info("10.0.0.1", "10.0.0.2", 8001, 0, 1),
        cnt_update(2),
        cnt_update(2),
    ]);
    await_answer(addrs.http[0], &answer_ok("10.0.0.1", "10.0.0.2", 8001));
    ms.send(&cnt_update(1));
    await_answer(addrs.http[0], &answer_all_full());
}

#[test]
fn actions_other_than_1_and_2_are_ignored() {
    let server = start();
    let addrs = server.local_addrs();
    let mut a = PduConn::connect(addrs.msg_server[0]);
    let mut b = PduConn::connect(addrs.msg_server[0]);
    a.send(&serv_info("10.0.0.1", "10.0.0.2", 8001, 5, 10));
    b.send(&serv_info("10.0.0.3", "10.0.0.4", 8002, 1, 2));
    await_answer(addrs.http[0], &answer_ok("10.0.0.3", "10.0.0.4", 8002));
    // Ignored, 7 and 0 leave b at 1 and the increment fills it; taken as decrements they
    // would leave b below a and still chosen.
    b.send_all(&[cnt_update(7), cnt_update(0), cnt_update(1)]);
    await_answer(addrs.http[0], &answer_ok("10.0.0.1", "10.0.0.2", 8001));
}

#[test]
fn updates_before_registration_are_ignored() {
    let server = start();
    let addrs = server.local_addrs();
    let mut ms = PduConn::connect(addrs.msg_server[0]);
    ms.send_all(&[
        cnt_update(1),
        cnt_update(1),
        serv_info("10.0.0.1", "10.0.0.2", 8001, 0, 1),
    ]);
    await_answer(addrs.http[0], &answer_ok("10.0.0.1", "10.0.0.2", 8001));
}

#[test]
fn a_killed_msg_server_disappears_from_the_answer() {
    let server = start();
    let addrs = server.local_addrs();
    let mut a = PduConn::connect(addrs.msg_server[0]);
    let mut b = PduConn::connect(addrs.msg_server[0]);
    a.send(&serv_info("10.0.0.1", "10.0.0.2", 8001, 0, 10));
    b.send(&serv_info("10.0.0.3", "10.0.0.4", 8002, 5, 10));
    await_answer(addrs.http[0], &answer_ok("10.0.0.1", "10.0.0.2", 8001));
    a.kill();
    await_answer(addrs.http[0], &answer_ok("10.0.0.3", "10.0.0.4", 8002));
    b.kill();
    await_answer(addrs.http[0], &answer_no_server());
}

#[test]
fn a_silent_msg_server_gets_heartbeats_then_times_out_and_is_removed() {
    let server = start_with(|c| {
        c.heartbeat_interval = Duration::from_secs(1);
        c.link_timeout = Duration::from_secs(3);
    });
    let addrs = server.local_addrs();
    let mut ms = PduConn::connect(addrs.msg_server[0]);
    ms.send(&serv_info("10.0.0.1", "10.0.0.2", 8001, 0, 10));
    await_answer(addrs.http[0], &answer_ok("10.0.0.1", "10.0.0.2", 8001));
    assert_eq!(
        ms.recv_raw().unwrap(),
        [0, 0, 0, 0x10, 0, 1, 0, 0, 0, 7, 7, 1, 0, 0, 0, 0],
        "login_server's own IMHeartBeat"
    );
    assert!(ms.until_closed().is_empty());
    await_answer(addrs.http[0], &answer_no_server());
}

#[test]
fn unknown_commands_and_bad_bodies_are_ignored_and_the_link_stays() {
    let server = start();
    let addrs = server.local_addrs();
    let mut ms = PduConn::connect(addrs.msg_server[0]);
    let mut unknown = Pdu::empty(CommandId::OtherHeartbeat, 0);
    unknown.header.command_id = 0x0999;
    let mut bad = Pdu::empty(CommandId::OtherMsgServInfo, 0);
    bad.body = vec![0x0a, 0x30, 0x31];
    ms.send_all(&[
        unknown,
        bad,
        Pdu::empty(CommandId::OtherHeartbeat, 0),
        Pdu::empty(CommandId::MsgData, 0),
        serv_info("10.0.0.1", "10.0.0.2", 8001, 0, 10),
    ]);
    await_answer(addrs.http[0], &answer_ok("10.0.0.1", "10.0.0.2", 8001));
}

#[test]
fn registrations_on_the_client_port_are_ignored() {
    let server = start();
    let addrs = server.local_addrs();
    let mut client = PduConn::connect(addrs.client[0]);
    let mut ms = PduConn::connect(addrs.msg_server[0]);
    client.send(&serv_info("10.6.6.6", "10.6.6.6", 6666, 0, 10));
    ms.send(&serv_info("10.0.0.1", "10.0.0.2", 8001, 9, 10));
    await_answer(addrs.http[0], &answer_ok("10.0.0.1", "10.0.0.2", 8001));
}

/// `body` without its last `n` bytes (the encoding of its highest field when that is last).
fn without_tail(mut pdu: Pdu, n: usize) -> Pdu {
    pdu.body.truncate(pdu.body.len() - n);
    pdu
}

#[test]
fn reports_lacking_a_required_field_are_used_as_the_original_does() {
    let server = start();
    let addrs = server.local_addrs();
    let mut ms = PduConn::connect(addrs.msg_server[0]);
    // host_name "" is the last field, two bytes: 0x32 0x00.
    let info = Pdu::new(
        CommandId::OtherMsgServInfo,
        0,
        &ImMsgServInfo {
            ip1: "10.0.0.1".into(),
            ip2: "10.0.0.2".into(),
            port: 8001,
            max_conn_cnt: 2,
            cur_conn_cnt: 0,
            host_name: String::new(),
            ..Default::default()
        },
    );
    assert_eq!(info.body[info.body.len() - 2..], [0x32, 0x00]);
    ms.send(&without_tail(info, 2));
    await_answer(addrs.http[0], &answer_ok("10.0.0.1", "10.0.0.2", 8001));
    // user_id (0x10 0x09) is the last field of the update.
    let update = cnt_update(1);
    assert_eq!(update.body[update.body.len() - 2..], [0x10, 0x09]);
    ms.send_all(&[without_tail(update.clone(), 2), without_tail(update, 2)]);
    await_answer(addrs.http[0], &answer_all_full());
}
