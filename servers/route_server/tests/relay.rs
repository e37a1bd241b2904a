//! Relays (BEHAVIOUR §6.3): cross-server traffic goes byte for byte to the other links — the
//! ones hosting its users when it is addressed to users (KNOWN_DEFECTS D-RS-4), sent again to
//! a link reporting a login of such a user just after, and every other link otherwise — and
//! sign-info notifications to every link including the sender's.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

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

/// The commands still relayed to every other link, with bodies naming users 1 and 2.
fn broadcast_commands() -> Vec<(CommandId, Vec<u8>)> {
    vec![
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
        (CommandId::MsgData, msg_data(1, 500, 1, GROUP_TEXT)),
        // A body without its addressee goes everywhere, for the receivers to ignore.
        (CommandId::FileNotify, vec![0x08, 0x01]),
    ]
}

/// The user-addressed commands, from user 1 to user 2, and who each is for: (command, body,
/// relayed to user 2's links, relayed to user 1's other links).
fn addressed_commands() -> Vec<(CommandId, Vec<u8>, bool, bool)> {
    vec![
        (
            CommandId::MsgData,
            msg_data(1, 2, 3, SINGLE_TEXT),
            true,
            true,
        ),
        (
            CommandId::SwitchP2pCmd,
            Imp2pCmdMsg {
                from_user_id: 1,
                to_user_id: 2,
                cmd_msg_data: "{\"type\":1}".into(),
            }
            .encode_to_vec(),
            true,
            true,
        ),
        (
            // The reader's other devices are told.
            CommandId::MsgReadNotify,
            ImMsgDataReadNotify {
                user_id: 1,
                session_id: 2,
                msg_id: 3,
                session_type: 1,
            }
            .encode_to_vec(),
            false,
            true,
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
            true,
            false,
        ),
        (
            CommandId::BuddyListRemoveSessionNotify,
            ImRemoveSessionNotify {
                user_id: 1,
                session_type: 1,
                session_id: 2,
            }
            .encode_to_vec(),
            false,
            true,
        ),
    ]
}

const SINGLE_TEXT: i32 = 0x01;
const GROUP_TEXT: i32 = 0x11;

fn msg_data(from: u32, to: u32, msg_id: u32, msg_type: i32) -> Vec<u8> {
    ImMsgData {
        from_user_id: from,
        to_session_id: to,
        msg_id,
        create_time: 4,
        msg_type,
        msg_data: b"cipher".to_vec(),
        attach_data: Some(vec![0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0, 0]),
    }
    .encode_to_vec()
}

/// One expected relay.
fn one(bytes: &[u8]) -> Vec<Vec<u8>> {
    vec![bytes.to_vec()]
}

/// What a link got before its sync, as bytes, presence notifications left out. The sync is
/// the bounded wait: route_server writes a relay before it reads the sender's next PDU.
fn relays(link: &mut FakeMsgServer) -> Vec<Vec<u8>> {
    link.sync()
        .into_iter()
        .filter(|p| {
            ![
                CommandId::OtherLoginStatusNotify as u16,
                CommandId::BuddyListStatusNotify as u16,
            ]
            .contains(&p.header.command_id)
        })
        .map(|p| p.encode())
        .collect()
}

/// Four links to one route_server with user 1 on `a` and `c`, user 2 on `b`, user 50 on `d`.
fn four_links(server: &route_server::ServerHandle) -> [FakeMsgServer; 4] {
    let addr = server.local_addrs()[0];
    let mut links = [(); 4].map(|()| FakeMsgServer::connect(addr));
    let [a, b, c, d] = &mut links;
    a.status(1, ONLINE, WINDOWS);
    b.status(2, ONLINE, WINDOWS);
    c.status(1, ONLINE, ANDROID);
    d.status(50, ONLINE, WINDOWS);
    for link in &mut links {
        relays(link);
    }
    links
}

#[test]
fn kicks_group_traffic_and_unaddressed_bodies_reach_every_other_link_but_not_the_sender() {
    let server = start();
    let [mut a, mut b, mut c, mut d] = four_links(&server);
    for (command, body) in broadcast_commands() {
        let bytes = odd_pdu(command, body);
        a.send_raw(&bytes);
        assert!(relays(&mut a).is_empty(), "{command} echoed to its sender");
        for (name, link) in [("b", &mut b), ("c", &mut c), ("d", &mut d)] {
            assert_eq!(relays(link), one(&bytes), "{command} to {name}");
        }
    }
}

#[test]
fn user_addressed_traffic_reaches_only_the_links_hosting_its_users_unchanged() {
    let server = start();
    let [mut a, mut b, mut c, mut d] = four_links(&server);
    for (command, body, to_peer, to_sender) in addressed_commands() {
        let bytes = odd_pdu(command, body);
        a.send_raw(&bytes);
        assert!(relays(&mut a).is_empty(), "{command} echoed to its sender");
        let want = |wanted: bool| if wanted { one(&bytes) } else { vec![] };
        assert_eq!(relays(&mut b), want(to_peer), "{command} to user 2's link");
        assert_eq!(
            relays(&mut c),
            want(to_sender),
            "{command} to user 1's other link"
        );
        assert!(
            relays(&mut d).is_empty(),
            "{command} to a link without either"
        );
    }
    // Positive control: d does get what is addressed to its user, on the same path.
    let bytes = odd_pdu(CommandId::MsgData, msg_data(1, 50, 4, SINGLE_TEXT));
    a.send_raw(&bytes);
    a.sync();
    assert_eq!(relays(&mut d), [bytes]);
    assert!(relays(&mut b).is_empty());
}

#[test]
fn a_message_reaches_the_senders_other_device_on_a_third_link_and_no_bystander() {
    let server = start();
    let [mut a, mut b, mut c, mut d] = four_links(&server);
    // User 2 answers from b: user 1 is on a and c, both get it; d hosts neither.
    let bytes = odd_pdu(CommandId::MsgData, msg_data(2, 1, 7, SINGLE_TEXT));
    b.send_raw(&bytes);
    b.sync();
    assert_eq!(relays(&mut a), one(&bytes));
    assert_eq!(relays(&mut c), [bytes]);
    assert!(relays(&mut d).is_empty());
    assert!(relays(&mut b).is_empty());
    // User 1 writes from c to user 2: b for the peer, a for the sender's other device.
    let bytes = odd_pdu(CommandId::MsgData, msg_data(1, 2, 8, SINGLE_TEXT));
    c.send_raw(&bytes);
    c.sync();
    assert_eq!(relays(&mut a), one(&bytes));
    assert_eq!(relays(&mut b), [bytes]);
    assert!(relays(&mut d).is_empty());
}

#[test]
fn a_message_for_a_user_logging_in_just_after_reaches_that_link_once() {
    let server = start();
    let [mut a, mut b, mut c, mut d] = four_links(&server);
    // User 60 is online nowhere yet: the message goes only to the sender's other device.
    let bytes = odd_pdu(CommandId::MsgData, msg_data(1, 60, 9, SINGLE_TEXT));
    a.send_raw(&bytes);
    a.sync();
    assert_eq!(relays(&mut c), one(&bytes));
    assert!(relays(&mut b).is_empty());
    assert!(relays(&mut d).is_empty());
    // Then d reports the login (its client was there before the message, its update late).
    d.status(60, ONLINE, WINDOWS);
    assert_eq!(relays(&mut d), one(&bytes));
    // A second device of the user on d, and the same one again: d had it, nothing more.
    d.status(60, ONLINE, ANDROID);
    d.status(60, ONLINE, WINDOWS);
    assert!(relays(&mut d).is_empty());
    // Another msg_server where the user logs in gets its own copy, once; the sender's link,
    // where the message was delivered before it was relayed, gets none.
    b.status(60, ONLINE, MAC);
    assert_eq!(relays(&mut b), one(&bytes));
    b.status(60, ONLINE, IOS);
    assert!(relays(&mut b).is_empty());
    a.status(60, ONLINE, IOS);
    assert!(relays(&mut a).is_empty());
    // Logouts replay nothing, and neither does a login where the relay went for the sender.
    c.status(60, OFFLINE, WINDOWS);
    c.status(60, ONLINE, WINDOWS);
    assert!(relays(&mut c).is_empty());
    // The sender's own new device is synced too: user 1 logs in on b and d.
    b.status(1, ONLINE, WINDOWS);
    assert!(relays(&mut b).is_empty(), "b got it for user 60 already");
    let second = odd_pdu(CommandId::MsgData, msg_data(1, 2, 10, SINGLE_TEXT));
    c.send_raw(&second);
    c.sync();
    assert_eq!(relays(&mut a), one(&second));
    assert_eq!(relays(&mut b), one(&second));
    d.status(1, ONLINE, MAC);
    assert_eq!(relays(&mut d), [second]);
}

#[test]
fn a_relay_older_than_the_window_is_not_replayed() {
    // Margins wide enough for a busy machine: the recent relay is replayed well within the
    // span, the old one is past it.
    let server = start_with(|c| c.replay_span = Duration::from_secs(2));
    let [mut a, mut b, _, _] = four_links(&server);
    let old = odd_pdu(CommandId::MsgData, msg_data(1, 60, 1, SINGLE_TEXT));
    a.send_raw(&old);
    a.sync();
    std::thread::sleep(Duration::from_millis(2500));
    let new = odd_pdu(CommandId::MsgData, msg_data(1, 60, 2, SINGLE_TEXT));
    a.send_raw(&new);
    a.sync();
    b.status(60, ONLINE, WINDOWS);
    assert_eq!(relays(&mut b), [new], "only the recent one");
}

#[test]
fn the_window_keeps_only_its_newest_relays_within_its_entry_and_byte_bounds() {
    let sent: Vec<Vec<u8>> = (1..=5)
        .map(|i| odd_pdu(CommandId::MsgData, msg_data(1, 60, i, SINGLE_TEXT)))
        .collect();
    let server = start_with(|c| c.replay_max_entries = 3);
    let [mut a, mut b, _, _] = four_links(&server);
    for bytes in &sent {
        a.send_raw(bytes);
    }
    a.sync();
    b.status(60, ONLINE, WINDOWS);
    assert_eq!(relays(&mut b), sent[2..]);

    // 128 bytes of bookkeeping per entry count against the byte bound too.
    let one = sent[0].len() + 128;
    let server = start_with(|c| c.replay_max_bytes = 2 * one + one / 2);
    let [mut a, mut b, _, _] = four_links(&server);
    for bytes in &sent {
        a.send_raw(bytes);
    }
    a.sync();
    b.status(60, ONLINE, WINDOWS);
    assert_eq!(relays(&mut b), sent[3..]);
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
