//! Relays (BEHAVIOUR §6.3): cross-server traffic goes byte for byte to every other link, and
//! sign-info notifications to every link including the sender's.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use prost::Message;
use teamtalk_proto::pb::buddy::{ImRemoveSessionNotify, ImSignInfoChangedNotify};
use teamtalk_proto::pb::file::ImFileNotify;
use teamtalk_proto::pb::group::ImGroupChangeMemberNotify;
use teamtalk_proto::pb::message::{ImMsgData, ImMsgDataReadNotify};
use teamtalk_proto::pb::server::ImServerKickUser;
use teamtalk_proto::pb::switch_service::Imp2pCmdMsg;
use teamtalk_proto::{CommandId, Pdu, PduHeader};

/// A PDU with a header no server would build, so a relay that rebuilt it would show.
fn odd_pdu(command: CommandId, body: Vec<u8>) -> Vec<u8> {
    let pdu = Pdu {
        header: PduHeader {
            length: 0,
            version: 6,
            flag: 0x0102,
            service_id: 0x0009,
            command_id: command as u16,
            seq_num: 0x1234,
            reserved: 0xabcd,
        },
        body,
    };
    let mut bytes = Vec::new();
    pdu.encode_into(&mut bytes);
    bytes
}

fn relayed_commands() -> Vec<(CommandId, Vec<u8>)> {
    vec![
        (
            CommandId::MsgData,
            ImMsgData {
                from_user_id: 1,
                to_session_id: 2,
                msg_id: 3,
                create_time: 4,
                msg_type: 1,
                msg_data: b"cipher".to_vec(),
                attach_data: Some(vec![0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0, 0]),
            }
            .encode_to_vec(),
        ),
        (
            CommandId::SwitchP2pCmd,
            Imp2pCmdMsg {
                from_user_id: 1,
                to_user_id: 2,
                cmd_msg_data: "{\"type\":1}".into(),
            }
            .encode_to_vec(),
        ),
        (
            CommandId::MsgReadNotify,
            ImMsgDataReadNotify {
                user_id: 1,
                session_id: 2,
                msg_id: 3,
                session_type: 1,
            }
            .encode_to_vec(),
        ),
        (
            CommandId::OtherServerKickUser,
            ImServerKickUser {
                user_id: 1,
                client_type: 1,
                reason: 1,
            }
            .encode_to_vec(),
        ),
        (
            CommandId::GroupChangeMemberNotify,
            ImGroupChangeMemberNotify {
                user_id: 0,
                change_type: 1,
                group_id: 5,
                cur_user_id_list: vec![1, 2, 3],
                chg_user_id_list: vec![3],
            }
            .encode_to_vec(),
        ),
        (
            CommandId::FileNotify,
            ImFileNotify {
                from_user_id: 1,
                to_user_id: 2,
                file_name: "a.txt".into(),
                file_size: 10,
                task_id: "t".into(),
                ip_addr_list: vec![],
                trans_mode: 1,
                offline_ready: 0,
            }
            .encode_to_vec(),
        ),
        (
            CommandId::BuddyListRemoveSessionNotify,
            ImRemoveSessionNotify {
                user_id: 1,
                session_type: 1,
                session_id: 2,
            }
            .encode_to_vec(),
        ),
    ]
}

#[test]
fn cross_server_traffic_reaches_every_other_link_unchanged_but_not_the_sender() {
    let server = start();
    let addr = server.local_addrs()[0];
    let mut a = FakeMsgServer::connect(addr);
    let mut b = FakeMsgServer::connect(addr);
    let mut c = FakeMsgServer::connect(addr);
    for (command, body) in relayed_commands() {
        let bytes = odd_pdu(command, body);
        a.send_raw(&bytes);
        assert!(a.sync().is_empty(), "{command} echoed to its sender");
        assert_eq!(b.recv_raw(), bytes, "{command} to b");
        assert_eq!(c.recv_raw(), bytes, "{command} to c");
    }
    // Every link may send; the relay always excludes just the sender.
    let bytes = odd_pdu(CommandId::MsgData, vec![]);
    c.send_raw(&bytes);
    assert!(c.sync().is_empty());
    assert_eq!(a.recv_raw(), bytes);
    assert_eq!(b.recv_raw(), bytes);
}

#[test]
fn sign_info_notifications_reach_every_link_including_the_sender() {
    let server = start();
    let addr = server.local_addrs()[0];
    let mut a = FakeMsgServer::connect(addr);
    let mut b = FakeMsgServer::connect(addr);
    let body = ImSignInfoChangedNotify {
        changed_user_id: 8,
        sign_info: "hello".into(),
    }
    .encode_to_vec();
    let bytes = odd_pdu(CommandId::BuddyListSignInfoChangedNotify, body);
    a.send_raw(&bytes);
    assert_eq!(a.recv_raw(), bytes);
    assert_eq!(b.recv_raw(), bytes);
}

#[test]
fn a_single_link_relays_to_nobody() {
    let server = start();
    let mut a = FakeMsgServer::connect(server.local_addrs()[0]);
    a.send_raw(&odd_pdu(CommandId::MsgData, vec![]));
    assert!(a.sync().is_empty());
}

#[test]
fn links_on_every_listen_ip_relay_to_each_other() {
    let server = start_with(|c| c.listen_ips = vec!["127.0.0.1".into(), "::1".into()]);
    let addrs = server.local_addrs();
    assert_eq!(addrs.len(), 2);
    assert!(addrs[1].is_ipv6());
    let mut a = FakeMsgServer::connect(addrs[0]);
    let mut b = FakeMsgServer::connect(addrs[1]);
    let bytes = odd_pdu(CommandId::SwitchP2pCmd, vec![]);
    b.send_raw(&bytes);
    assert_eq!(a.recv_raw(), bytes);
    a.send_raw(&bytes);
    assert_eq!(b.recv_raw(), bytes);
}

#[test]
fn group_messages_are_broadcast_to_links_without_members_online() {
    let server = start();
    let addr = server.local_addrs()[0];
    let mut a = FakeMsgServer::connect(addr);
    let mut b = FakeMsgServer::connect(addr);
    a.status(1, ONLINE, WINDOWS);
    a.sync();
    b.sync();
    let group_msg = ImMsgData {
        from_user_id: 1,
        to_session_id: 500,
        msg_id: 1,
        create_time: 1,
        msg_type: 0x11,
        msg_data: b"x".to_vec(),
        attach_data: None,
    };
    let bytes = odd_pdu(CommandId::MsgData, group_msg.encode_to_vec());
    a.send_raw(&bytes);
    a.sync();
    assert_eq!(b.recv_raw(), bytes);
}
