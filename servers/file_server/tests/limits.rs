//! Bounds on what msg_servers and clients can make the server hold: file name length, tasks
//! per sender, offline file size, and the deadlines that close slow or silent connections.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::transfer::{OFFLINE, ONLINE, SENDER, login};
use common::{PduConn, WAIT, config, create_task, request_task, start, temp_dir};
use teamtalk_proto::pb::file::{ImFileLoginReq, ImFileLoginRsp};
use teamtalk_proto::{CommandId, Pdu};

/// Sends `bytes` one at a time, `gap` apart, then waits for the server's answer; returns
/// whether the server closed the connection instead of answering.
fn trickle_is_cut_off(stream: &mut TcpStream, bytes: &[u8], gap: Duration) -> bool {
    for byte in bytes {
        if stream.write_all(&[*byte]).is_err() {
            return true;
        }
        std::thread::sleep(gap);
    }
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Ok(0) => true,
        Err(e) if e.kind() == ErrorKind::ConnectionReset => true,
        Ok(_) => false,
        Err(e) => panic!("neither an answer nor a close: {e}"),
    }
}

#[test]
fn transfer_requests_past_a_bound_are_refused_and_the_link_stays() {
    let dir = temp_dir("bounds");
    let mut cfg = config(&dir);
    cfg.limits.max_file_name_len = 10;
    cfg.limits.max_tasks_per_user = 2;
    cfg.limits.max_file_size = 1_000;
    let server = start(cfg);
    let client_addr = server.local_addrs().client[0];
    let mut msg = PduConn::connect(server.local_addrs().msg_server);
    let refused = |rsp: teamtalk_proto::pb::server::ImFileTransferRsp| {
        rsp.result_code == 1 && rsp.task_id.as_deref() == Some("")
    };

    assert!(refused(request_task(
        &mut msg,
        5,
        6,
        "abcdefghijk",
        10,
        ONLINE
    )));
    assert!(refused(request_task(
        &mut msg,
        5,
        6,
        "abcdefghij",
        1_001,
        OFFLINE
    )));
    // The size cap is for stored files; an online transfer stores nothing.
    let online = request_task(&mut msg, 5, 6, "abcdefghij", 1_001, ONLINE);
    assert_eq!(online.result_code, 0);
    let offline = create_task(&mut msg, 5, 6, 1_000, OFFLINE);
    assert!(!offline.is_empty());
    assert!(
        refused(request_task(&mut msg, 5, 6, "a", 1, ONLINE)),
        "third live task of the same sender"
    );
    assert_eq!(request_task(&mut msg, 7, 5, "a", 1, ONLINE).result_code, 0);

    // When one of its tasks ends the sender may create another.
    let task = online.task_id.unwrap();
    let mut sender = PduConn::connect(client_addr);
    assert_eq!(login(&mut sender, 5, &task, SENDER, 1), 0);
    drop(sender);
    assert!(common::eventually(|| {
        request_task(&mut msg, 5, 6, "a", 1, ONLINE).result_code == 0
    }));
    msg.expect_alive();
    server.shutdown().unwrap();
}

#[test]
fn login_with_an_overlong_task_id_is_refused_without_echoing_it() {
    let dir = temp_dir("long-id");
    let server = start(config(&dir));
    let mut conn = PduConn::connect(server.local_addrs().client[0]);
    let req = ImFileLoginReq {
        user_id: 1,
        task_id: "a".repeat(100_000),
        file_role: SENDER,
    };
    conn.send_msg(CommandId::FileLoginReq, 4, &req);
    let (_, rsp): (_, ImFileLoginRsp) = conn.recv_msg(CommandId::FileLoginRes);
    assert_eq!((rsp.result_code, rsp.task_id.as_str()), (1, ""));
    conn.expect_closed();
    server.shutdown().unwrap();
}

#[test]
fn client_that_never_logs_in_is_closed_at_the_login_deadline() {
    let dir = temp_dir("login-deadline");
    let mut cfg = config(&dir);
    cfg.limits.login_timeout = Duration::from_secs(1);
    let server = start(cfg);
    let mut conn = PduConn::connect(server.local_addrs().client[0]);
    // Heartbeats are answered, but do not stand in for a login.
    let hb = Pdu::empty(CommandId::OtherHeartbeat, 1).encode();
    let deadline = std::time::Instant::now() + WAIT;
    let closed = loop {
        assert!(std::time::Instant::now() < deadline, "never closed");
        if conn.stream.write_all(&hb).is_err() {
            break true;
        }
        let mut buf = [0u8; 16];
        match conn.stream.read(&mut buf) {
            Ok(0) => break true,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break true,
            Ok(_) => std::thread::sleep(Duration::from_millis(200)),
            Err(e) => panic!("{e}"),
        }
    };
    assert!(closed);
    server.shutdown().unwrap();
}

#[test]
fn pdu_trickled_a_byte_at_a_time_is_cut_off_on_both_ports() {
    let dir = temp_dir("trickle");
    let mut cfg = config(&dir);
    // Each byte arrives well within the idle limit; the whole PDU does not.
    cfg.client_timeout = Duration::from_secs(1);
    cfg.msg_server_timeout = Duration::from_secs(1);
    let server = start(cfg);
    let mut msg = PduConn::connect(server.local_addrs().msg_server);
    let task = create_task(&mut msg, 1, 2, 10, ONLINE);
    let mut sender = PduConn::connect(server.local_addrs().client[0]);
    assert_eq!(login(&mut sender, 1, &task, SENDER, 1), 0);
    let hb = Pdu::empty(CommandId::OtherHeartbeat, 2).encode();
    let gap = Duration::from_millis(300);
    assert!(
        trickle_is_cut_off(&mut sender.stream, &hb, gap),
        "client port"
    );
    // A fresh link, so its plain idle limit has not run out meanwhile.
    let mut link = TcpStream::connect(server.local_addrs().msg_server).unwrap();
    assert!(trickle_is_cut_off(&mut link, &hb, gap), "msg-server port");
    server.shutdown().unwrap();
}
