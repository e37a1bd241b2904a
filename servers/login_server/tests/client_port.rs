//! The legacy TCP client port (PROTOCOL §11.3), dead in the original (KNOWN_DEFECTS D-NET-6):
//! 0x0101 is answered with 0x0102 and the request's seq, then the connection is closed.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use teamtalk_proto::pb::login::ImMsgServRsp;
use teamtalk_proto::{CommandId, Pdu};

/// Sends 0x0101 with `seq` and returns the answer, checking the connection closes after it.
fn ask(conn: &mut PduConn, seq: u16) -> ImMsgServRsp {
    conn.send(&Pdu::empty(CommandId::LoginReqMsgserver, seq));
    let answers = conn.until_closed();
    assert_eq!(answers.len(), 1, "one answer, then the close");
    let h = answers[0].header;
    assert_eq!(
        (
            h.version,
            h.flag,
            h.service_id,
            h.command_id,
            h.seq_num,
            h.reserved
        ),
        (1, 0, 0x0001, 0x0102, seq, 0)
    );
    answers[0].parse().unwrap()
}

#[test]
fn without_servers_the_answer_is_code_1() {
    let server = start();
    let mut client = PduConn::connect(server.local_addrs().client[0]);
    let rsp = ask(&mut client, 0x1234);
    assert_eq!(
        rsp,
        ImMsgServRsp {
            result_code: 1,
            prior_ip: None,
            backip_ip: None,
            port: None
        }
    );
}

#[test]
fn the_least_loaded_server_is_answered_without_the_telecom_swap() {
    let server = start_with(|c| c.client_listen_ips = vec!["127.0.0.1".into(), "::1".into()]);
    let addrs = server.local_addrs();
    let mut ms = PduConn::connect(addrs.msg_server[0]);
    ms.send(&serv_info("1.1.1.1", "2.2.2.2", 8000, 3, 10));
    await_answer(addrs.http[0], &answer_ok("1.1.1.1", "2.2.2.2", 8000));
    let expected = ImMsgServRsp {
        result_code: 0,
        prior_ip: Some("1.1.1.1".into()),
        backip_ip: Some("2.2.2.2".into()),
        port: Some(8000),
    };
    for addr in &addrs.client {
        assert_eq!(ask(&mut PduConn::connect(*addr), 7), expected, "via {addr}");
    }
}

#[test]
fn with_every_server_full_the_answer_is_code_2() {
    let server = start();
    let addrs = server.local_addrs();
    let mut ms = PduConn::connect(addrs.msg_server[0]);
    ms.send(&serv_info("1.1.1.1", "2.2.2.2", 8000, 10, 10));
    await_answer(addrs.http[0], &answer_all_full());
    let rsp = ask(&mut PduConn::connect(addrs.client[0]), 1);
    assert_eq!(rsp.result_code, 2);
    assert_eq!(rsp.prior_ip, None);
}

#[test]
fn the_request_is_also_answered_on_the_msg_server_port_which_then_drops_that_link() {
    let server = start();
    let addrs = server.local_addrs();
    let mut ms = PduConn::connect(addrs.msg_server[0]);
    ms.send(&serv_info("1.1.1.1", "2.2.2.2", 8000, 0, 10));
    await_answer(addrs.http[0], &answer_ok("1.1.1.1", "2.2.2.2", 8000));
    assert_eq!(ask(&mut ms, 3).port, Some(8000));
    await_answer(addrs.http[0], &answer_no_server());
}

#[test]
fn heartbeats_keep_a_client_and_get_no_answer() {
    let server = start();
    let mut client = PduConn::connect(server.local_addrs().client[0]);
    client.send_all(&[
        Pdu::empty(CommandId::OtherHeartbeat, 1),
        Pdu::empty(CommandId::LoginReqMsgserver, 2),
    ]);
    let answers = client.until_closed();
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].header.seq_num, 2);
}

#[test]
fn an_idle_client_is_closed_after_the_timeout() {
    let server = start_with(|c| c.client_timeout = Duration::from_secs(1));
    let mut client = PduConn::connect(server.local_addrs().client[0]);
    assert!(client.until_closed().is_empty());
}
