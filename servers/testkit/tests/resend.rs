//! A message a client sends again after losing the ack (same sender, session, type,
//! `create_time` and data) is stored and delivered once and acked with the first msg id —
//! also when db_proxy_server restarted in between, and for group messages.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use testkit::TestCluster;
use tt_client::pb::base_define::SessionType;
use tt_client::pb::message::{ImMsgData, ImMsgDataAck};
use tt_client::{Client, CommandId, crypto::encrypt_text};

const WAIT: Duration = Duration::from_secs(15);

fn message(from: &Client, to: u32, msg_type: i32, text: &str, create_time: u32) -> ImMsgData {
    ImMsgData {
        from_user_id: from.user_id(),
        to_session_id: to,
        msg_id: 0,
        create_time,
        msg_type,
        msg_data: encrypt_text(text, tt_client::DEFAULT_AES_KEY).into_bytes(),
        attach_data: None,
    }
}

fn send(client: &Client, msg: &ImMsgData) -> u32 {
    let ack: ImMsgDataAck = client
        .call(CommandId::MsgData, msg, CommandId::MsgDataAck)
        .unwrap();
    ack.msg_id
}

fn now() -> u32 {
    u32::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

#[test]
fn a_resent_message_is_stored_and_delivered_once_also_across_a_db_proxy_restart() {
    let mut cluster = TestCluster::start();
    let alice = cluster.create_user("a");
    let bob = cluster.create_user("b");
    let a = cluster.login(0, &alice);
    let b = cluster.login(1, &bob);

    let first = message(&a, bob.id, 1, "once", now());
    let id = send(&a, &first);
    assert_eq!(send(&a, &first), id, "the copy is acked with the first id");
    assert_eq!(b.next_message(WAIT).unwrap().text, "once");
    let later = send(&a, &message(&a, bob.id, 1, "next", now()));
    assert_eq!(later, id + 1);
    let got = b.next_message(WAIT).unwrap();
    assert_eq!(
        (got.text.as_str(), got.msg_id),
        ("next", later),
        "no second copy"
    );

    cluster.restart_db();
    cluster.wait_ready();
    let deadline = Instant::now() + WAIT;
    let again = loop {
        match a.call::<_, ImMsgDataAck>(CommandId::MsgData, &first, CommandId::MsgDataAck) {
            Ok(ack) => break ack.msg_id,
            Err(e) => assert!(Instant::now() < deadline, "no ack after the restart: {e}"),
        }
    };
    assert_eq!(again, id);
    let history = b
        .message_list(SessionType::Single, alice.id, 0, 10)
        .unwrap();
    assert_eq!(history.msg_list.len(), 2, "{:?}", history.msg_list);
}

#[test]
fn a_resent_group_message_is_delivered_once() {
    let cluster = TestCluster::start();
    let alice = cluster.create_user("a");
    let bob = cluster.create_user("b");
    let gid = cluster.create_group("resend", alice.id, &[alice.id, bob.id], 2);
    let a = cluster.login(0, &alice);
    let b = cluster.login(1, &bob);
    let msg = message(&a, gid, 0x11, "group once", now());
    let id = send(&a, &msg);
    assert_eq!(send(&a, &msg), id);
    assert_eq!(b.next_message(WAIT).unwrap().text, "group once");
    let next = send(&a, &message(&a, gid, 0x11, "group next", now()));
    let got = b.next_message(WAIT).unwrap();
    assert_eq!((got.text.as_str(), got.msg_id), ("group next", next));
}
