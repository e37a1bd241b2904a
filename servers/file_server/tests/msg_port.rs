//! The msg-server port: address list, task creation, heartbeats, bad input (BEHAVIOUR §5.2).

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;

use common::{PduConn, config, start, temp_dir};
use teamtalk_proto::pb::base_define::IpAddr;
use teamtalk_proto::pb::server::{
    ImFileServerIpReq, ImFileServerIpRsp, ImFileTransferReq, ImFileTransferRsp,
};
use teamtalk_proto::{CommandId, Pdu, PduHeader};

#[test]
fn server_ip_request_lists_every_advertised_address_with_the_client_port() {
    let dir = temp_dir("ip");
    let mut cfg = config(&dir);
    cfg.client_advertise_ips = vec!["10.0.0.1".into(), "10.0.0.2".into()];
    let server = start(cfg);
    let port = server.local_addrs().client[0].port();
    let mut msg = PduConn::connect(server.local_addrs().msg_server);
    msg.send_msg(
        CommandId::OtherFileServerIpReq,
        0x1234,
        &ImFileServerIpReq {},
    );
    let raw = msg.recv_raw();
    let expected = Pdu::new(
        CommandId::OtherFileServerIpRsp,
        0x1234,
        &ImFileServerIpRsp {
            ip_addr_list: vec![
                IpAddr {
                    ip: "10.0.0.1".into(),
                    port: u32::from(port),
                },
                IpAddr {
                    ip: "10.0.0.2".into(),
                    port: u32::from(port),
                },
            ],
        },
    );
    // version 1, flag 0, service 7, command 0x0734, the request's seq, reserved 0.
    assert_eq!(
        &raw[4..16],
        &[0, 1, 0, 0, 0, 7, 0x07, 0x34, 0x12, 0x34, 0, 0]
    );
    assert_eq!(raw, expected.encode());
    server.shutdown().unwrap();
}

#[test]
fn heartbeat_is_echoed_byte_for_byte_on_both_ports() {
    let dir = temp_dir("hb");
    let server = start(config(&dir));
    let hb = Pdu {
        header: PduHeader {
            length: 16,
            version: 3,
            flag: 9,
            service_id: 1,
            command_id: CommandId::OtherHeartbeat as u16,
            seq_num: 777,
            reserved: 5,
        },
        body: Vec::new(),
    };
    for addr in [
        server.local_addrs().msg_server,
        server.local_addrs().client[0],
    ] {
        let mut conn = PduConn::connect(addr);
        conn.send(&hb);
        assert_eq!(conn.recv_raw(), hb.encode());
    }
    server.shutdown().unwrap();
}

#[test]
fn transfer_request_creates_a_uuid_task_and_echoes_fields_seq_and_attach() {
    let dir = temp_dir("create");
    let server = start(config(&dir));
    let mut msg = PduConn::connect(server.local_addrs().msg_server);
    let attach = vec![0, 0, 0, 1, 0, 0, 0, 12, 0, 0, 0, 0];
    let req = ImFileTransferReq {
        from_user_id: 5,
        to_user_id: 6,
        file_name: "报告.pdf".into(),
        file_size: 1000,
        trans_mode: 2,
        attach_data: Some(attach.clone()),
    };
    msg.send_msg(CommandId::OtherFileTransferReq, 99, &req);
    let (pdu, rsp): (_, ImFileTransferRsp) = msg.recv_msg(CommandId::OtherFileTransferRsp);
    assert_eq!(pdu.header.seq_num, 99);
    assert_eq!(pdu.header.service_id, 7);
    let task_id = rsp.task_id.clone().unwrap();
    assert!(file_server::offline::is_task_id(&task_id), "{task_id}");
    assert_eq!(task_id.to_lowercase(), task_id);
    assert_eq!(
        rsp,
        ImFileTransferRsp {
            result_code: 0,
            from_user_id: 5,
            to_user_id: 6,
            file_name: Some("报告.pdf".into()),
            file_size: Some(1000),
            task_id: Some(task_id.clone()),
            trans_mode: Some(2),
            attach_data: Some(attach),
        }
    );
    msg.send_msg(CommandId::OtherFileTransferReq, 100, &req);
    let (_, second): (_, ImFileTransferRsp) = msg.recv_msg(CommandId::OtherFileTransferRsp);
    assert_ne!(second.task_id.unwrap(), task_id);
    server.shutdown().unwrap();
}

#[test]
fn invalid_transfer_mode_answers_failure_and_keeps_the_link() {
    let dir = temp_dir("badmode");
    let server = start(config(&dir));
    let mut msg = PduConn::connect(server.local_addrs().msg_server);
    let req = ImFileTransferReq {
        from_user_id: 5,
        to_user_id: 6,
        file_name: "a".into(),
        file_size: 1,
        trans_mode: 7,
        attach_data: None,
    };
    msg.send_msg(CommandId::OtherFileTransferReq, 1, &req);
    let (_, rsp): (_, ImFileTransferRsp) = msg.recv_msg(CommandId::OtherFileTransferRsp);
    assert_eq!(rsp.result_code, 1);
    assert_eq!(rsp.task_id.as_deref(), Some(""));
    assert_eq!(rsp.trans_mode, Some(7));
    msg.expect_alive();
    server.shutdown().unwrap();
}

#[test]
fn bad_protobuf_and_unknown_commands_are_ignored() {
    let dir = temp_dir("ignore");
    let server = start(config(&dir));
    let mut msg = PduConn::connect(server.local_addrs().msg_server);
    msg.send(&Pdu::from_body(
        CommandId::OtherFileTransferReq,
        1,
        vec![0xff; 7],
    ));
    msg.send(&Pdu::from_body(CommandId::FileLoginReq, 2, Vec::new()));
    let mut unknown = Pdu::empty(CommandId::OtherHeartbeat, 3).encode();
    unknown[10..12].copy_from_slice(&0x7777u16.to_be_bytes());
    msg.stream.write_all(&unknown).unwrap();
    msg.expect_alive();
    server.shutdown().unwrap();
}

#[test]
fn framing_errors_close_only_that_connection() {
    let dir = temp_dir("framing");
    let server = start(config(&dir));
    let mut good = PduConn::connect(server.local_addrs().msg_server);
    for length in [0u32, 15, 64 * 1024 * 1024] {
        let mut bad = PduConn::connect(server.local_addrs().msg_server);
        let mut bytes = length.to_be_bytes().to_vec();
        bytes.extend_from_slice(&[0, 1, 0, 0, 0, 7, 7, 1, 0, 0, 0, 0]);
        bad.stream.write_all(&bytes).unwrap();
        bad.expect_closed();
    }
    good.expect_alive();
    server.shutdown().unwrap();
}

#[test]
fn silent_connections_are_closed_after_their_idle_limit() {
    let dir = temp_dir("idle");
    let mut cfg = config(&dir);
    cfg.client_timeout = std::time::Duration::from_secs(1);
    cfg.msg_server_timeout = std::time::Duration::from_secs(1);
    let server = start(cfg);
    PduConn::connect(server.local_addrs().client[0]).expect_closed();
    PduConn::connect(server.local_addrs().msg_server).expect_closed();
    server.shutdown().unwrap();
}

#[test]
fn transfer_answer_carries_an_empty_attach_when_the_request_had_none() {
    let dir = temp_dir("noattach");
    let server = start(config(&dir));
    let mut msg = PduConn::connect(server.local_addrs().msg_server);
    let req = ImFileTransferReq {
        from_user_id: 5,
        to_user_id: 6,
        file_name: "a".into(),
        file_size: 1,
        trans_mode: 1,
        attach_data: None,
    };
    msg.send_msg(CommandId::OtherFileTransferReq, 1, &req);
    let raw = msg.recv_raw();
    // Field 20, length-delimited, empty: the last two bytes of the body.
    assert_eq!(&raw[raw.len() - 3..], &[0xa2, 0x01, 0x00]);
    let (rsp, _) = Pdu::decode(&raw, usize::MAX).unwrap().unwrap();
    let rsp: ImFileTransferRsp = rsp.parse().unwrap();
    assert_eq!(rsp.attach_data, Some(Vec::new()));
    server.shutdown().unwrap();
}
