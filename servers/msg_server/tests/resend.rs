//! Client resends at msg_server: the client's `create_time` travels to db_proxy beside the
//! server's, and a stored message db_proxy marks as a duplicate is acked to its sender and
//! delivered, relayed and pushed to nobody.

#![allow(clippy::unwrap_used)]

mod support;

use support::*;
use teamtalk_proto::pb::buddy::ImAllUserReq;
use teamtalk_proto::pb::message::{ImMsgData, ImMsgDataAck};
use teamtalk_proto::{CommandId, MsgDataResend, Pdu};

fn message(to: u32, create_time: u32) -> ImMsgData {
    ImMsgData {
        from_user_id: 0,
        to_session_id: to,
        msg_id: 0,
        create_time,
        msg_type: 1,
        msg_data: b"nnZSBwfPCz60q69ddmfIJA==".to_vec(),
        attach_data: None,
    }
}

#[test]
fn the_client_create_time_goes_to_db_proxy_and_duplicates_are_only_acked() {
    let h = Harness::ready();
    let mut alice = h.login("alice", 300, WINDOWS);
    let mut bob = h.login("bob", 301, WINDOWS);
    let sent_at = 1_600_000_123;

    // First copy: stored and delivered as usual; db_proxy sees both times.
    alice.send(CommandId::MsgData, &message(301, sent_at));
    let (i, up) = h.fakes.db.expect(CommandId::MsgData);
    let stored: ImMsgData = up.parse().unwrap();
    assert_ne!(
        stored.create_time, sent_at,
        "msg_server stamps its own clock"
    );
    assert_eq!(
        MsgDataResend::read(&up.body).client_create_time,
        Some(sent_at)
    );
    let mut answer = Pdu::new(
        CommandId::MsgData,
        up.header.seq_num,
        &ImMsgData {
            msg_id: 7,
            ..stored.clone()
        },
    );
    h.fakes.db.send(i, &answer);
    assert_eq!(
        alice
            .expect(CommandId::MsgDataAck)
            .parse::<ImMsgDataAck>()
            .unwrap()
            .msg_id,
        7
    );
    let delivered = bob.expect(CommandId::MsgData);
    assert_eq!(
        MsgDataResend::read(&delivered.body),
        MsgDataResend::default(),
        "the resend fields never reach a client"
    );
    let relayed = h.fakes.route.expect(CommandId::MsgData).1;
    assert_eq!(MsgDataResend::read(&relayed.body), MsgDataResend::default());
    h.fakes.db.expect(CommandId::OtherGetDeviceTokenReq);

    // The copy sent after a lost ack: db_proxy answers the first id, marked duplicate.
    alice.send(CommandId::MsgData, &message(301, sent_at));
    let (i, up) = h.fakes.db.expect(CommandId::MsgData);
    answer.header.seq_num = up.header.seq_num;
    let mut copy: ImMsgData = up.parse().unwrap();
    copy.msg_id = 7;
    answer.body = prost::Message::encode_to_vec(&copy);
    MsgDataResend {
        client_create_time: Some(sent_at),
        duplicate: Some(true),
    }
    .append_to(&mut answer.body);
    h.fakes.db.send(i, &answer);
    assert_eq!(
        alice
            .expect(CommandId::MsgDataAck)
            .parse::<ImMsgDataAck>()
            .unwrap()
            .msg_id,
        7
    );
    // Nothing for bob, route_server or the push round: the next thing each sees comes after.
    bob.sync();
    alice.send(CommandId::BuddyListAllUserRequest, &ImAllUserReq::default());
    h.fakes.db.expect(CommandId::BuddyListAllUserRequest);
    assert!(h.fakes.route.pending().is_empty());
}

#[test]
fn a_copy_of_a_message_never_delivered_from_here_is_delivered() {
    let h = Harness::ready();
    let mut alice = h.login("alice", 310, WINDOWS);
    let mut bob = h.login("bob", 311, WINDOWS);
    let sent_at = 1_600_000_321;
    // The first copy was stored, but its answer was lost with the db_proxy link: the copy
    // sent again is answered "duplicate", and nobody has the message yet.
    alice.send(CommandId::MsgData, &message(311, sent_at));
    let (i, up) = h.fakes.db.expect(CommandId::MsgData);
    let mut copy: ImMsgData = up.parse().unwrap();
    copy.msg_id = 9;
    let mut answer = Pdu::new(CommandId::MsgData, up.header.seq_num, &copy);
    MsgDataResend {
        client_create_time: Some(sent_at),
        duplicate: Some(true),
    }
    .append_to(&mut answer.body);
    h.fakes.db.send(i, &answer);
    let ack: ImMsgDataAck = alice.expect(CommandId::MsgDataAck).parse().unwrap();
    assert_eq!(ack.msg_id, 9);
    let got: ImMsgData = bob.expect(CommandId::MsgData).parse().unwrap();
    assert_eq!(got.msg_id, 9);
    h.fakes.route.expect(CommandId::MsgData);
}
