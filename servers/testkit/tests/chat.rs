//! One-to-one chat end to end: delivery on one msg_server and across two through
//! route_server, offline messages with unread counters and history, read acks, presence,
//! users status, signatures and peer-to-peer commands.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use prost::Message;
use testkit::TestCluster;
use tt_client::pb::base_define::{ClientType, SessionType, UserStatType};
use tt_client::pb::buddy::{ImSignInfoChangedNotify, ImUserStatNotify};
use tt_client::pb::message::ImMsgDataReadNotify;
use tt_client::pb::switch_service::Imp2pCmdMsg;
use tt_client::{CommandId, Pdu};

const WAIT: Duration = Duration::from_secs(15);

#[test]
fn online_message_is_acked_and_delivered_on_one_msg_server() {
    let cluster = TestCluster::start();
    let alice = cluster.create_user("a");
    let bob = cluster.create_user("b");
    let a = cluster.login(0, &alice);
    let b = cluster.login(0, &bob);
    let ack = a.send_text(bob.id, "hello bob").unwrap();
    assert_eq!(
        (ack.user_id, ack.session_id, ack.session_type),
        (alice.id, bob.id, 1)
    );
    assert!(ack.msg_id >= 1);
    let got = b.next_message(WAIT).unwrap();
    assert_eq!(
        (got.from, got.to_session, got.msg_id),
        (alice.id, bob.id, ack.msg_id)
    );
    assert_eq!(got.text, "hello bob");
    assert_eq!(got.seq, 0);
    b.ack_message(&got).unwrap();
    // Ids grow per pair.
    let next = b.send_text(alice.id, "hi alice").unwrap();
    assert_eq!(next.msg_id, ack.msg_id + 1);
    assert_eq!(a.next_message(WAIT).unwrap().text, "hi alice");
}

#[test]
fn message_crosses_msg_servers_through_route_to_every_device() {
    let cluster = TestCluster::start();
    let alice = cluster.create_user("a");
    let bob = cluster.create_user("b");
    let a_pc = cluster.login_as(0, &alice, ClientType::Windows);
    let a_phone = cluster.login_as(1, &alice, ClientType::Android);
    let b_pc = cluster.login_as(1, &bob, ClientType::Mac);
    let b_phone = cluster.login_as(0, &bob, ClientType::Ios);
    let ack = a_pc.send_text(bob.id, "across").unwrap();
    for c in [&b_pc, &b_phone, &a_phone] {
        let got = c.next_message(WAIT).unwrap();
        assert_eq!(
            (got.from, got.msg_id, got.text.as_str()),
            (alice.id, ack.msg_id, "across")
        );
    }
    // The sending connection gets only its ack (presence notices aside).
    a_pc.ping(WAIT).unwrap();
    assert!(
        a_pc.drain_events()
            .iter()
            .all(|p| p.command() != Some(CommandId::MsgData))
    );
}

#[test]
fn offline_messages_show_as_unread_then_history_then_read_clears_them() {
    let cluster = TestCluster::start();
    let alice = cluster.create_user("a");
    let bob = cluster.create_user("b");
    let a = cluster.login(0, &alice);
    let mut ids = Vec::new();
    for text in ["one", "two", "three"] {
        ids.push(a.send_text(bob.id, text).unwrap().msg_id);
    }
    let b_pc = cluster.login_as(1, &bob, ClientType::Windows);
    let b_phone = cluster.login_as(0, &bob, ClientType::Android);

    let unread = b_pc.unread_counts().unwrap();
    assert_eq!(unread.user_id, bob.id);
    assert_eq!(unread.total_cnt, 3);
    let info = &unread.unreadinfo_list[0];
    assert_eq!(
        (info.session_id, info.session_type, info.unread_cnt),
        (alice.id, 1, 3)
    );
    assert_eq!(info.latest_msg_id, ids[2]);

    let list = b_pc
        .message_list(SessionType::Single, alice.id, 0, 10)
        .unwrap();
    let got: Vec<u32> = list.msg_list.iter().map(|m| m.msg_id).collect();
    assert_eq!(got, [ids[2], ids[1], ids[0]], "newest first");

    let sessions = b_pc.recent_sessions(0).unwrap();
    assert!(
        sessions
            .contact_session_list
            .iter()
            .any(|s| s.session_id == alice.id && s.latest_msg_id == ids[2])
    );

    b_pc.read_ack(SessionType::Single, alice.id, ids[2])
        .unwrap();
    let notify: ImMsgDataReadNotify = b_phone
        .wait_for_parsed(CommandId::MsgReadNotify, WAIT)
        .unwrap();
    assert_eq!(
        (notify.user_id, notify.session_id, notify.msg_id),
        (bob.id, alice.id, ids[2])
    );
    // The counters are cleared (db_proxy handles the read ack asynchronously: poll).
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let unread = b_phone.unread_counts().unwrap();
        if unread.total_cnt == 0 {
            assert!(unread.unreadinfo_list.is_empty());
            break;
        }
        assert!(std::time::Instant::now() < deadline, "unread never cleared");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn presence_reaches_pc_clients_and_users_status_reports_it() {
    let cluster = TestCluster::start();
    let alice = cluster.create_user("a");
    let bob = cluster.create_user("b");
    let carol = cluster.create_user("c");
    let a = cluster.login(0, &alice);
    let b = cluster.login_as(1, &bob, ClientType::Mac);
    let is_bob = |p: &Pdu| {
        ImUserStatNotify::decode(p.body.as_slice()).is_ok_and(|n| n.user_stat.user_id == bob.id)
    };
    let on = a
        .wait_for_matching("bob online", WAIT, |p| {
            p.command() == Some(CommandId::BuddyListStatusNotify) && is_bob(p)
        })
        .unwrap();
    let on: ImUserStatNotify = on.parse().unwrap();
    assert_eq!(on.user_stat.status, UserStatType::UserStatusOnline as i32);

    let status = a.users_status(&[bob.id, carol.id]).unwrap();
    assert_eq!(status.user_id, alice.id);
    let got: Vec<(u32, i32)> = status
        .user_stat_list
        .iter()
        .map(|s| (s.user_id, s.status))
        .collect();
    assert_eq!(got, [(bob.id, 1), (carol.id, 2)]);

    b.logout().unwrap();
    let off = a
        .wait_for_matching("bob offline", WAIT, |p| {
            p.command() == Some(CommandId::BuddyListStatusNotify)
                && is_bob(p)
                && p.parse::<ImUserStatNotify>().unwrap().user_stat.status == 2
        })
        .unwrap();
    assert_eq!(
        off.parse::<ImUserStatNotify>().unwrap().user_stat.user_id,
        bob.id
    );
}

#[test]
fn sign_info_change_reaches_users_on_both_msg_servers() {
    let cluster = TestCluster::start();
    let alice = cluster.create_user("a");
    let bob = cluster.create_user("b");
    let a = cluster.login(0, &alice);
    let b = cluster.login_as(1, &bob, ClientType::Android);
    let rsp = a.change_sign_info("gone fishing").unwrap();
    assert_eq!((rsp.user_id, rsp.result_code), (alice.id, 0));
    for c in [&a, &b] {
        let n: ImSignInfoChangedNotify = c
            .wait_for_parsed(CommandId::BuddyListSignInfoChangedNotify, WAIT)
            .unwrap();
        assert_eq!(
            (n.changed_user_id, n.sign_info.as_str()),
            (alice.id, "gone fishing")
        );
    }
    let info = b.users_info(&[alice.id]).unwrap();
    assert_eq!(
        info.user_info_list[0].sign_info.as_deref(),
        Some("gone fishing")
    );
}

#[test]
fn p2p_commands_are_relayed_across_msg_servers() {
    let cluster = TestCluster::start();
    let alice = cluster.create_user("a");
    let bob = cluster.create_user("b");
    let a = cluster.login(0, &alice);
    let b = cluster.login(1, &bob);
    a.p2p(bob.id, "{\"type\":\"typing\"}").unwrap();
    let cmd: Imp2pCmdMsg = b.wait_for_parsed(CommandId::SwitchP2pCmd, WAIT).unwrap();
    assert_eq!((cmd.from_user_id, cmd.to_user_id), (alice.id, bob.id));
    assert_eq!(cmd.cmd_msg_data, "{\"type\":\"typing\"}");
}
