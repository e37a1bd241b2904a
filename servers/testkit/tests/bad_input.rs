//! Broken and hostile input at a msg_server's client port, end to end: framing errors close
//! that connection, garbage and unknown commands are ignored, nothing before login has any
//! effect or is stored — while two other users keep chatting on the same msg_server.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use mysql::prelude::Queryable;
use testkit::{REDIS_DB_GROUP_MEMBER, TestCluster};
use tt_client::pb::group::ImGroupChangeMemberReq;
use tt_client::pb::message::{ImClientTimeReq, ImMsgData};
use tt_client::{Client, ClientError, CommandId, Pdu, crypto::encrypt_text};

const WAIT: Duration = Duration::from_secs(15);

fn header(length: u32, command: u16) -> Vec<u8> {
    let mut out = length.to_be_bytes().to_vec();
    for field in [1u16, 0, 3, command, 1, 0] {
        out.extend_from_slice(&field.to_be_bytes());
    }
    out
}

fn chat_round(a: &Client, b: &Client, b_id: u32, text: &str) {
    let ack = a.send_text(b_id, text).unwrap();
    let got = b.next_message(WAIT).unwrap();
    assert_eq!((got.msg_id, got.text.as_str()), (ack.msg_id, text));
}

#[test]
fn bad_input_closes_or_is_ignored_and_other_clients_keep_chatting() {
    let cluster = TestCluster::start();
    let alice = cluster.create_user("a");
    let bob = cluster.create_user("b");
    let mallory = cluster.create_user("m");
    let gid = cluster.create_group("safe", alice.id, &[alice.id, bob.id], 2);
    let a = cluster.login(0, &alice);
    let b = cluster.login(0, &bob);
    chat_round(&a, &b, bob.id, "before");

    // Length below the header size, and a 2 GiB announcement: the connection is closed.
    for (i, bytes) in [
        header(0, 0x0701),
        header(9, 0x0701),
        header(0x8000_0000, 0x0301),
    ]
    .into_iter()
    .enumerate()
    {
        let bad = cluster.connect(0);
        bad.send_raw(&bytes).unwrap();
        bad.wait_closed(WAIT).unwrap();
        // Distinct texts: the same text in the same second would be one message sent again.
        chat_round(&a, &b, bob.id, &format!("between {i}"));
    }

    // Garbage protobuf and unknown commands: ignored, the connection stays usable.
    let odd = cluster.connect(0);
    odd.send_pdu(&Pdu::from_body(CommandId::MsgData, 3, vec![0xff; 40]))
        .unwrap();
    let mut unknown = header(16, 0x0999);
    unknown.extend_from_slice(&header(20, 0x0fff));
    unknown.extend_from_slice(&[1, 2, 3, 4]);
    odd.send_raw(&unknown).unwrap();
    odd.ping(WAIT).unwrap();
    // Not logged in: even the time request goes unanswered (D-AUTH-1), the connection stays.
    let time = odd.request(
        CommandId::MsgTimeRequest,
        &ImClientTimeReq {},
        CommandId::MsgTimeResponse,
        Duration::from_secs(1),
    );
    assert!(matches!(time, Err(ClientError::Timeout { .. })), "{time:?}");
    odd.ping(WAIT).unwrap();

    // Commands before login: no effect. A message to bob and adding mallory to the group.
    let spoof = ImMsgData {
        from_user_id: alice.id,
        to_session_id: bob.id,
        msg_id: 0,
        create_time: 0,
        msg_type: 1,
        msg_data: encrypt_text("forged", tt_client::DEFAULT_AES_KEY).into_bytes(),
        attach_data: None,
    };
    odd.send(CommandId::MsgData, &spoof).unwrap();
    let join = ImGroupChangeMemberReq {
        user_id: 0,
        change_type: 1,
        group_id: gid,
        member_id_list: vec![mallory.id],
        attach_data: None,
    };
    odd.send(CommandId::GroupChangeMemberRequest, &join)
        .unwrap();
    odd.ping(WAIT).unwrap();
    assert!(odd.drain_events().is_empty(), "no answers before login");

    chat_round(&a, &b, bob.id, "after");
    // Nothing was stored: bob has exactly the messages alice sent, the group has no mallory.
    let history = b
        .message_list(
            tt_client::pb::base_define::SessionType::Single,
            alice.id,
            0,
            20,
        )
        .unwrap();
    let texts: Vec<String> = history
        .msg_list
        .iter()
        .map(|m| {
            tt_client::message::message_text(
                tt_client::pb::base_define::MsgType::SingleText,
                &m.msg_data,
                tt_client::DEFAULT_AES_KEY,
            )
            .unwrap()
        })
        .collect();
    assert_eq!(
        texts,
        ["after", "between 2", "between 1", "between 0", "before"]
    );
    let mut db = cluster.fixtures().mysql();
    let rows: Vec<u32> = db
        .exec(
            "SELECT userId FROM IMGroupMember WHERE groupId = ? AND userId = ?",
            (gid, mallory.id),
        )
        .unwrap();
    assert!(rows.is_empty());
    let mut redis = cluster.fixtures().redis(REDIS_DB_GROUP_MEMBER);
    let member: Option<String> = redis::cmd("HGET")
        .arg(format!("group_member_{gid}"))
        .arg(mallory.id)
        .query(&mut redis)
        .unwrap();
    assert_eq!(member, None);
}
