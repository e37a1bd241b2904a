//! Message relay on the wire against fake back ends: upstream checks and stamping, acks,
//! delivery, route relays, group fan-out and the push round (BEHAVIOUR §2.7–§2.9, §3, §4).

#![allow(clippy::unwrap_used)]

mod support;

use prost::Message;
use support::*;
use teamtalk_proto::attach::attach_type;
use teamtalk_proto::crypto::encrypt_text;
use teamtalk_proto::pb::base_define::{GroupInfo, ShieldStatus, UserStat, UserTokenInfo};
use teamtalk_proto::pb::buddy::{ImAllUserReq, ImUsersStatReq, ImUsersStatRsp};
use teamtalk_proto::pb::group::{ImGroupInfoListReq, ImGroupInfoListRsp};
use teamtalk_proto::pb::message::{ImMsgData, ImMsgDataAck, ImMsgDataReadAck, ImMsgDataReadNotify};
use teamtalk_proto::pb::server::{
    ImGetDeviceTokenReq, ImGetDeviceTokenRsp, ImGroupGetShieldReq, ImGroupGetShieldRsp,
    ImPushToUserReq,
};
use teamtalk_proto::{CommandId, Pdu, PduAttachData, PduHeader};

fn text(from: u32, to: u32, msg_type: i32, plain: &str) -> ImMsgData {
    ImMsgData {
        from_user_id: from,
        to_session_id: to,
        msg_id: 0,
        create_time: 0,
        msg_type,
        msg_data: encrypt_text(plain, AES_KEY.as_bytes().try_into().unwrap()).into_bytes(),
        attach_data: None,
    }
}

/// db_proxy's answer to a stored message: a fresh header (version 1) echoing the seq.
fn stored(req: &Pdu, msg_id: u32) -> Pdu {
    let mut msg: ImMsgData = req.parse().unwrap();
    msg.msg_id = msg_id;
    Pdu::new(CommandId::MsgData, req.header.seq_num, &msg)
}

#[test]
fn single_message_is_stored_acked_and_delivered_to_every_other_device() {
    let h = Harness::ready();
    let mut alice_pc = h.login("alice", 10, WINDOWS);
    let mut alice_phone = h.login("alice", 10, ANDROID);
    let mut bob = h.login("bob", 11, MAC);

    // from_user_id and create_time are the server's; msg_id is ignored.
    let mut sent = text(999, 11, 1, "hello");
    sent.msg_id = 77;
    sent.create_time = 5;
    let seq = alice_pc.send(CommandId::MsgData, &sent);
    let (i, up) = h.fakes.db.expect(CommandId::MsgData);
    assert_eq!(up.header.seq_num, seq);
    let up_msg: ImMsgData = up.parse().unwrap();
    assert_eq!(up_msg.from_user_id, 10);
    assert_eq!(up_msg.to_session_id, 11);
    assert!(up_msg.create_time > 1_600_000_000);
    assert_eq!(up_msg.msg_data, sent.msg_data);
    let attach = db_attach(up_msg.attach_data.as_deref().unwrap());
    assert_eq!(attach.attach_type, 1);

    let answer = stored(&up, 5);
    h.fakes.db.send(i, &answer);
    let ack = alice_pc.expect(CommandId::MsgDataAck);
    assert_eq!(ack.header.seq_num, seq);
    let ack: ImMsgDataAck = ack.parse().unwrap();
    assert_eq!(
        (ack.user_id, ack.session_id, ack.msg_id, ack.session_type),
        (10, 11, 5, 1)
    );

    // Delivered with seq 0, no attach, to the recipient and the sender's other device.
    for c in [&mut bob, &mut alice_phone] {
        let got = c.expect(CommandId::MsgData);
        assert_eq!(got.header.seq_num, 0);
        let got: ImMsgData = got.parse().unwrap();
        assert_eq!(
            (got.from_user_id, got.to_session_id, got.msg_id),
            (10, 11, 5)
        );
        assert_eq!(got.attach_data, None);
    }
    // Not echoed to the sending connection.
    alice_pc.sync();

    // route_server gets db_proxy's PDU unchanged; db_proxy is asked for the push tokens.
    let (_, relayed) = h.fakes.route.expect(CommandId::MsgData);
    assert_eq!(relayed.encode(), answer.encode(), "relayed byte for byte");
    let (j, tokens) = h.fakes.db.expect(CommandId::OtherGetDeviceTokenReq);
    assert_eq!(j, i, "token request on the same db_proxy link");
    assert_eq!(tokens.header.seq_num, 0);
    let tokens: ImGetDeviceTokenReq = tokens.parse().unwrap();
    assert_eq!(tokens.user_id, [11]);
    let pushed = ImMsgData::decode(tokens.attach_data.unwrap().as_slice()).unwrap();
    assert_eq!(pushed.msg_id, 5);
    assert_eq!(pushed.attach_data, None);
}

#[test]
fn unstored_message_gets_no_ack_and_no_delivery() {
    let h = Harness::ready();
    let mut alice = h.login("alice", 12, WINDOWS);
    let mut bob = h.login("bob", 13, WINDOWS);
    alice.send(CommandId::MsgData, &text(0, 13, 1, "x"));
    let (i, up) = h.fakes.db.expect(CommandId::MsgData);
    h.fakes.db.send(i, &stored(&up, 0));
    alice.sync();
    bob.sync();
    assert!(h.fakes.route.pending().is_empty());
}

#[test]
fn empty_oversized_and_self_messages_are_discarded() {
    let h = Harness::ready();
    let mut alice = h.login("alice", 14, WINDOWS);
    let mut empty = text(0, 15, 1, "x");
    empty.msg_data.clear();
    alice.send(CommandId::MsgData, &empty);
    let mut big = text(0, 15, 1, "x");
    big.msg_data = vec![b'A'; 4097];
    alice.send(CommandId::MsgData, &big);
    alice.send(CommandId::MsgData, &text(15, 14, 1, "to myself"));
    // Barrier on the same db_proxy link: the next thing stored is this one.
    alice.send(CommandId::MsgData, &text(0, 15, 1, "ok"));
    let (_, up) = h.fakes.db.expect(CommandId::MsgData);
    assert_eq!(up.parse::<ImMsgData>().unwrap().to_session_id, 15);
    assert!(h.fakes.db.pending().is_empty());
}

#[test]
fn more_than_twenty_messages_in_a_second_are_discarded() {
    let h = Harness::ready();
    let mut alice = h.login("alice", 16, WINDOWS);
    // One write: all 45 PDUs are handled within the same second.
    let mut burst = Vec::new();
    for k in 0..45u16 {
        Pdu::new(CommandId::MsgData, 1000 + k, &text(0, 17, 1, "spam")).encode_into(&mut burst);
    }
    alice.write(&burst);
    alice.sync();
    let barrier = ImAllUserReq {
        user_id: 0,
        latest_update_time: 0,
        attach_data: None,
    };
    alice.send(CommandId::BuddyListAllUserRequest, &barrier);
    let mut stored = 0;
    loop {
        let (_, pdu) = h.fakes.db.recv();
        match pdu.command() {
            Some(CommandId::MsgData) => stored += 1,
            Some(CommandId::BuddyListAllUserRequest) => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(stored, 20);
}

#[test]
fn message_relayed_by_route_reaches_both_parties_without_attach() {
    let h = Harness::ready();
    let mut alice = h.login("alice", 18, WINDOWS);
    let mut bob = h.login("bob", 19, ANDROID);
    let mut msg = text(18, 19, 1, "via route");
    msg.msg_id = 9;
    msg.attach_data = Some(vec![0, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0, 0]);
    let relayed = Pdu::new(CommandId::MsgData, 4242, &msg);
    h.fakes.route.send(0, &relayed);
    for c in [&mut alice, &mut bob] {
        let got = c.expect(CommandId::MsgData);
        assert_eq!(got.header.seq_num, 4242, "the sender's seq is kept");
        let got: ImMsgData = got.parse().unwrap();
        assert_eq!(got.msg_id, 9);
        assert_eq!(got.attach_data, None);
    }
    // No push round on the receiving side.
    alice.sync();
    assert!(h.fakes.db.pending().is_empty());
}

#[test]
fn a_message_route_sends_again_reaches_each_connection_once() {
    let h = Harness::ready();
    let mut carol = h.login("carol", 40, WINDOWS);
    let mut dave = h.login("dave", 41, ANDROID);
    let routed = |from: u32, to: u32, msg_id: u32| {
        let mut msg = text(from, to, 1, "via route");
        msg.msg_id = msg_id;
        Pdu::new(CommandId::MsgData, 7, &msg)
    };
    // route_server replays a message to a link that reported a login late; this server had it.
    h.fakes.route.send(0, &routed(40, 41, 9));
    h.fakes.route.send(0, &routed(40, 41, 9));
    // Positive control on the same link, after the copy: the next message does come.
    h.fakes.route.send(0, &routed(40, 41, 10));
    for c in [&mut carol, &mut dave] {
        let ids: Vec<u32> = (0..2)
            .map(|_| {
                c.expect(CommandId::MsgData)
                    .parse::<ImMsgData>()
                    .unwrap()
                    .msg_id
            })
            .collect();
        assert_eq!(ids, [9, 10]);
    }

    // A message that reached nobody here is delivered when it comes again after a login.
    h.fakes.route.send(0, &routed(50, 42, 11));
    // A barrier on the route link: carol's message comes after that one was handled.
    h.fakes.route.send(0, &routed(50, 40, 13));
    let got: ImMsgData = carol.expect(CommandId::MsgData).parse().unwrap();
    assert_eq!(got.msg_id, 13);
    let mut erin = h.login("erin", 42, WINDOWS);
    h.fakes.route.send(0, &routed(50, 42, 11));
    h.fakes.route.send(0, &routed(50, 42, 11));
    h.fakes.route.send(0, &routed(50, 42, 12));
    let ids: Vec<u32> = (0..2)
        .map(|_| {
            erin.expect(CommandId::MsgData)
                .parse::<ImMsgData>()
                .unwrap()
                .msg_id
        })
        .collect();
    assert_eq!(ids, [11, 12]);
}

#[test]
fn acks_and_read_acks_are_handled_and_read_notify_reaches_other_devices() {
    let h = Harness::ready();
    let mut bob_pc = h.login("bob", 21, WINDOWS);
    let mut bob_phone = h.login("bob", 21, IOS);
    let ack = ImMsgDataAck {
        user_id: 0,
        session_id: 20,
        msg_id: 3,
        session_type: 1,
    };
    bob_pc.send(CommandId::MsgDataAck, &ack);
    let read = ImMsgDataReadAck {
        user_id: 999,
        session_id: 20,
        msg_id: 3,
        session_type: 1,
    };
    let seq = bob_pc.send(CommandId::MsgReadAck, &read);
    let (_, fwd) = h.fakes.db.expect(CommandId::MsgReadAck);
    assert_eq!(fwd.header.seq_num, seq);
    let fwd: ImMsgDataReadAck = fwd.parse().unwrap();
    assert_eq!((fwd.user_id, fwd.session_id, fwd.msg_id), (21, 20, 3));
    let notify = bob_phone.expect(CommandId::MsgReadNotify);
    assert_eq!(notify.header.seq_num, 0);
    let n: ImMsgDataReadNotify = notify.parse().unwrap();
    assert_eq!(
        (n.user_id, n.session_id, n.msg_id, n.session_type),
        (21, 20, 3, 1)
    );
    let (_, routed) = h.fakes.route.expect(CommandId::MsgReadNotify);
    assert_eq!(routed.parse::<ImMsgDataReadNotify>().unwrap(), n);
    bob_pc.sync();

    // A read notify from another msg_server goes to every connection of the reader.
    h.fakes.route.send(0, &routed);
    bob_pc.expect(CommandId::MsgReadNotify);
    bob_phone.expect(CommandId::MsgReadNotify);
}

fn group_info(group_id: u32, members: &[u32]) -> GroupInfo {
    GroupInfo {
        group_id,
        version: 1,
        group_name: "g".into(),
        group_avatar: String::new(),
        group_creator_id: members[0],
        group_type: 2,
        shield_status: 0,
        group_member_list: members.to_vec(),
    }
}

#[test]
fn group_message_fans_out_to_members_and_starts_the_push_round() {
    let h = Harness::ready();
    let mut alice_pc = h.login("alice", 30, WINDOWS);
    let mut alice_phone = h.login("alice", 30, ANDROID);
    let mut bob = h.login("bob", 31, WINDOWS);
    let mut outsider = h.login("eve", 39, WINDOWS);

    let seq = alice_pc.send(CommandId::MsgData, &text(0, 500, 0x11, "hi group"));
    let (i, up) = h.fakes.db.expect(CommandId::MsgData);
    let answer = stored(&up, 8);
    h.fakes.db.send(i, &answer);
    let ack = alice_pc.expect(CommandId::MsgDataAck);
    assert_eq!(ack.header.seq_num, seq);
    let ack: ImMsgDataAck = ack.parse().unwrap();
    assert_eq!((ack.session_id, ack.msg_id, ack.session_type), (500, 8, 2));
    let (_, relayed) = h.fakes.route.expect(CommandId::MsgData);
    assert_eq!(relayed.encode(), answer.encode(), "relayed byte for byte");

    // Members come from a group-info request carrying the stored message.
    let (j, info_req) = h.fakes.db.expect(CommandId::GroupInfoRequest);
    assert_eq!(info_req.header.seq_num, 0);
    let req: ImGroupInfoListReq = info_req.parse().unwrap();
    assert_eq!(req.user_id, 30);
    assert_eq!(req.group_version_list[0].group_id, 500);
    assert_eq!(req.group_version_list[0].version, 0);
    let attach = PduAttachData::decode(req.attach_data.as_deref().unwrap()).unwrap();
    assert_eq!(attach.attach_type, attach_type::HANDLE_AND_PDU);
    assert_eq!(attach.pdu, answer.body, "the stored body, attach included");
    let rsp = ImGroupInfoListRsp {
        user_id: 30,
        group_info_list: vec![group_info(500, &[30, 31, 32])],
        attach_data: req.attach_data.clone(),
    };
    h.fakes
        .db
        .send(j, &Pdu::new(CommandId::GroupInfoResponse, 0, &rsp));

    for c in [&mut bob, &mut alice_phone] {
        let got = c.expect(CommandId::MsgData);
        assert_eq!(got.header.seq_num, 0);
        assert_eq!(got.header.version, 1);
        let got: ImMsgData = got.parse().unwrap();
        assert_eq!(
            (got.from_user_id, got.to_session_id, got.msg_id),
            (30, 500, 8)
        );
        assert_eq!(got.attach_data, None);
    }
    alice_pc.sync();
    outsider.sync();

    // Push round: shield settings of every member, then tokens of the unmuted ones.
    let (k, shield_req) = h.fakes.db.expect(CommandId::OtherGetShieldReq);
    let shield_req: ImGroupGetShieldReq = shield_req.parse().unwrap();
    assert_eq!(shield_req.group_id, 500);
    assert_eq!(shield_req.user_id, [30, 31, 32]);
    assert_eq!(
        shield_req.attach_data.as_deref(),
        Some(answer.body.as_slice()),
        "the stored body as the original sends it, server attach included"
    );
    let shield = ImGroupGetShieldRsp {
        group_id: 500,
        shield_status_list: [(30, 0), (31, 1), (32, 0)]
            .iter()
            .map(|&(user_id, shield_status)| ShieldStatus {
                user_id,
                group_id: 500,
                shield_status,
            })
            .collect(),
        attach_data: shield_req.attach_data.clone(),
    };
    h.fakes
        .db
        .send(k, &Pdu::new(CommandId::OtherGetShieldRsp, 0, &shield));
    let (_, tokens) = h.fakes.db.expect(CommandId::OtherGetDeviceTokenReq);
    let tokens: ImGetDeviceTokenReq = tokens.parse().unwrap();
    assert_eq!(tokens.user_id, [30, 32]);
    assert_eq!(tokens.attach_data, shield_req.attach_data);
}

#[test]
fn group_message_from_a_non_member_is_not_delivered() {
    let h = Harness::ready();
    let mut eve = h.login("eve", 40, WINDOWS);
    let mut bob = h.login("bob", 41, WINDOWS);
    eve.send(CommandId::MsgData, &text(0, 501, 0x11, "let me in"));
    let (i, up) = h.fakes.db.expect(CommandId::MsgData);
    h.fakes.db.send(i, &stored(&up, 2));
    let (j, info_req) = h.fakes.db.expect(CommandId::GroupInfoRequest);
    let req: ImGroupInfoListReq = info_req.parse().unwrap();
    let rsp = ImGroupInfoListRsp {
        user_id: 40,
        group_info_list: vec![group_info(501, &[41, 42])],
        attach_data: req.attach_data,
    };
    h.fakes
        .db
        .send(j, &Pdu::new(CommandId::GroupInfoResponse, 0, &rsp));
    eve.expect(CommandId::MsgDataAck);
    bob.sync();
}

#[test]
fn group_message_relayed_by_route_is_fanned_out_without_a_push_round() {
    let h = Harness::ready();
    let mut bob = h.login("bob", 45, WINDOWS);
    let mut msg = text(44, 502, 0x11, "from elsewhere");
    msg.msg_id = 4;
    msg.attach_data = Some(vec![0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0, 0]);
    h.fakes
        .route
        .send(0, &Pdu::new(CommandId::MsgData, 77, &msg));
    let (j, info_req) = h.fakes.db.expect(CommandId::GroupInfoRequest);
    let req: ImGroupInfoListReq = info_req.parse().unwrap();
    let attach = PduAttachData::decode(req.attach_data.as_deref().unwrap()).unwrap();
    // The stored message rides in the attach; the handle names msg_server's pending fan-out.
    assert!(!attach.pdu.is_empty(), "the message rides in the attach");
    let rsp = ImGroupInfoListRsp {
        user_id: 44,
        group_info_list: vec![group_info(502, &[44, 45])],
        attach_data: req.attach_data,
    };
    h.fakes
        .db
        .send(j, &Pdu::new(CommandId::GroupInfoResponse, 0, &rsp));
    let got: ImMsgData = bob.expect(CommandId::MsgData).parse().unwrap();
    assert_eq!((got.msg_id, got.attach_data), (4, None));
    bob.sync();
    assert!(
        h.fakes.db.pending().is_empty(),
        "no shield query on relayed copies"
    );
}

fn token(user_id: u32, user_type: i32) -> UserTokenInfo {
    UserTokenInfo {
        user_id,
        user_type,
        token: format!("tok{user_id}"),
        push_count: 3,
        push_type: 1,
    }
}

#[test]
fn push_round_builds_the_notification_and_asks_route_about_absent_users() {
    let h = Harness::ready();
    let _alice = h.login("alice", 50, WINDOWS);
    let _bob = h.login("bob", 51, IOS);
    let mut msg = text(50, 51, 1, "see you at 5");
    msg.msg_id = 12;
    let rsp = ImGetDeviceTokenRsp {
        user_token_info: vec![token(50, 0x11), token(51, 0x11), token(52, 0x11)],
        attach_data: Some(msg.encode_to_vec()),
    };
    h.fakes
        .db
        .send(0, &Pdu::new(CommandId::OtherGetDeviceTokenRsp, 0, &rsp));

    // bob is logged in here without a PC: a normal push, the sender's nick and text.
    let (_, push) = h.fakes.push.expect(CommandId::OtherPushToUserReq);
    assert_eq!(push.header.seq_num, 0);
    let push: ImPushToUserReq = push.parse().unwrap();
    assert_eq!(push.flash, "nick-alice:see you at 5");
    assert_eq!(push.data, "{\n\t\"from_id\": 50,\n\t\"msg_type\": 1 \n} \n");
    assert_eq!(push.user_token_list.len(), 1);
    assert_eq!(push.user_token_list[0].user_id, 51);
    assert_eq!(push.user_token_list[0].push_type, 1);

    // user 52 is not here: route is asked (attach type 4) and its answer decides the type.
    let (_, stat) = h.fakes.route.expect(CommandId::BuddyListUsersStatusRequest);
    let stat: ImUsersStatReq = stat.parse().unwrap();
    assert_eq!((stat.user_id, stat.user_id_list.as_slice()), (0, &[52][..]));
    let attach = PduAttachData::decode(stat.attach_data.as_deref().unwrap()).unwrap();
    assert_eq!(attach.attach_type, attach_type::PDU_FOR_PUSH);
    let answer = ImUsersStatRsp {
        user_id: 0,
        user_stat_list: vec![UserStat {
            user_id: 52,
            status: 1,
        }],
        attach_data: stat.attach_data,
    };
    h.fakes.route.send(
        0,
        &Pdu::new(CommandId::BuddyListUsersStatusResponse, 0, &answer),
    );
    let (_, push) = h.fakes.push.expect(CommandId::OtherPushToUserReq);
    let push: ImPushToUserReq = push.parse().unwrap();
    assert_eq!(push.user_token_list[0].user_id, 52);
    assert_eq!(
        push.user_token_list[0].push_type, 2,
        "a PC is online: silent"
    );
}

#[test]
fn push_is_abandoned_when_the_text_does_not_decrypt() {
    let h = Harness::ready();
    let _bob = h.login("bob", 61, IOS);
    let mut msg = text(60, 61, 1, "x");
    msg.msg_data = b"not base64 at all!".to_vec();
    let rsp = ImGetDeviceTokenRsp {
        user_token_info: vec![token(61, 0x11)],
        attach_data: Some(msg.encode_to_vec()),
    };
    h.fakes
        .db
        .send(0, &Pdu::new(CommandId::OtherGetDeviceTokenRsp, 0, &rsp));
    // Then a valid one: the first push to arrive must be the second message's.
    let ok = text(60, 61, 1, "second");
    let rsp = ImGetDeviceTokenRsp {
        user_token_info: vec![token(61, 0x11)],
        attach_data: Some(ok.encode_to_vec()),
    };
    h.fakes
        .db
        .send(0, &Pdu::new(CommandId::OtherGetDeviceTokenRsp, 0, &rsp));
    let (_, push) = h.fakes.push.expect(CommandId::OtherPushToUserReq);
    let push: ImPushToUserReq = push.parse().unwrap();
    assert_eq!(push.flash, "您收到了一条消息", "sender not logged in here");
}

#[test]
fn message_header_fields_of_the_client_are_kept_towards_db_proxy() {
    let h = Harness::ready();
    let mut alice = h.login("alice", 70, WINDOWS);
    let pdu = Pdu {
        header: PduHeader {
            version: 3,
            flag: 9,
            service_id: 0x55,
            reserved: 7,
            ..PduHeader::new(CommandId::MsgData, 321)
        },
        body: text(0, 71, 1, "hdr").encode_to_vec(),
    };
    alice.send_pdu(&pdu);
    let (_, up) = h.fakes.db.expect(CommandId::MsgData);
    assert_eq!(
        (up.header.version, up.header.flag, up.header.service_id),
        (3, 9, 0x55)
    );
    assert_eq!((up.header.seq_num, up.header.reserved), (321, 7));
}

/// Waits until msg_server has lost its route_server link: logins are then refused with
/// NO_ROUTE_SERVER (5). While the link is still up a login goes to validation instead (its
/// heartbeat is echoed first), which the fake db_proxy swallows.
fn wait_route_gone(h: &Harness) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let mut c = TestClient::connect(h.addr);
        c.send(
            CommandId::LoginReqUserlogin,
            &login_req("route-probe", WINDOWS),
        );
        c.send_pdu(&Pdu::empty(CommandId::OtherHeartbeat, 1));
        let first = c.recv();
        if first.command() == Some(CommandId::LoginResUserlogin) {
            let res: teamtalk_proto::pb::login::ImLoginRes = first.parse().unwrap();
            assert_eq!(res.result_code, 5);
            return;
        }
        h.fakes.db_login.expect(CommandId::OtherValidateReq);
        assert!(
            std::time::Instant::now() < deadline,
            "route link never went"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn token_and_shield_queries_go_to_db_proxy_even_without_a_push_server() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = dead.local_addr().unwrap().port().to_string();
    drop(dead);
    let h = Harness::start_with(100, |c| c.set("PushServerPort1", dead_port));
    h.expect_link_setup();
    h.fakes.db.wait_conns(1);
    h.probe_db();
    let mut alice = h.login("alice", 70, WINDOWS);
    let _bob = h.login("bob", 71, WINDOWS);

    alice.send(CommandId::MsgData, &text(0, 71, 1, "no push server"));
    let (i, up) = h.fakes.db.expect(CommandId::MsgData);
    h.fakes.db.send(i, &stored(&up, 3));
    let (_, tokens) = h.fakes.db.expect(CommandId::OtherGetDeviceTokenReq);
    let tokens: ImGetDeviceTokenReq = tokens.parse().unwrap();
    assert_eq!(tokens.user_id, [71]);

    alice.send(
        CommandId::MsgData,
        &text(0, 600, 0x11, "group, no push server"),
    );
    let (i, up) = h.fakes.db.expect(CommandId::MsgData);
    let answer = stored(&up, 4);
    h.fakes.db.send(i, &answer);
    let (j, info_req) = h.fakes.db.expect(CommandId::GroupInfoRequest);
    let req: ImGroupInfoListReq = info_req.parse().unwrap();
    let rsp = ImGroupInfoListRsp {
        user_id: 70,
        group_info_list: vec![group_info(600, &[70, 71])],
        attach_data: req.attach_data,
    };
    h.fakes
        .db
        .send(j, &Pdu::new(CommandId::GroupInfoResponse, 0, &rsp));
    let (k, shield_req) = h.fakes.db.expect(CommandId::OtherGetShieldReq);
    let shield_req: ImGroupGetShieldReq = shield_req.parse().unwrap();
    assert_eq!(shield_req.user_id, [70, 71]);

    // Everybody muted the group: the token query still goes out, with no users.
    let shield = ImGroupGetShieldRsp {
        group_id: 600,
        shield_status_list: [70, 71]
            .iter()
            .map(|&user_id| ShieldStatus {
                user_id,
                group_id: 600,
                shield_status: 1,
            })
            .collect(),
        attach_data: shield_req.attach_data.clone(),
    };
    h.fakes
        .db
        .send(k, &Pdu::new(CommandId::OtherGetShieldRsp, 0, &shield));
    let (_, tokens) = h.fakes.db.expect(CommandId::OtherGetDeviceTokenReq);
    assert_eq!(tokens.header.seq_num, 0);
    let tokens: ImGetDeviceTokenReq = tokens.parse().unwrap();
    assert!(tokens.user_id.is_empty());
    assert_eq!(tokens.attach_data, shield_req.attach_data);
}

#[test]
fn without_route_server_absent_users_are_not_pushed_and_online_file_requests_are_refused() {
    let h = Harness::ready();
    let mut alice = h.login("alice", 80, WINDOWS);
    let _bob = h.login("bob", 81, IOS);
    h.fakes.route.stop();
    wait_route_gone(&h);

    // 82 is not here and route_server cannot be asked: no push for 82 at all; bob (here)
    // is pushed in the batch, which is therefore the first thing push_server gets.
    let mut msg = text(80, 81, 1, "route is down");
    msg.msg_id = 6;
    let rsp = ImGetDeviceTokenRsp {
        user_token_info: vec![token(82, 0x11), token(81, 0x11)],
        attach_data: Some(msg.encode_to_vec()),
    };
    h.fakes
        .db
        .send(0, &Pdu::new(CommandId::OtherGetDeviceTokenRsp, 0, &rsp));
    let (_, push) = h.fakes.push.expect(CommandId::OtherPushToUserReq);
    let push: ImPushToUserReq = push.parse().unwrap();
    let pushed: Vec<u32> = push.user_token_list.iter().map(|t| t.user_id).collect();
    assert_eq!(pushed, [81]);

    // An online transfer needs the peer's presence from route_server: without it the
    // request is refused at once (the original left it unanswered).
    let req = teamtalk_proto::pb::file::ImFileReq {
        from_user_id: 80,
        to_user_id: 83,
        file_name: "a.txt".into(),
        file_size: 10,
        trans_mode: 1,
    };
    let seq = alice.send(CommandId::FileRequest, &req);
    let got = alice.expect(CommandId::FileResponse);
    assert_eq!(got.header.seq_num, seq);
    let got: teamtalk_proto::pb::file::ImFileRsp = got.parse().unwrap();
    assert_eq!((got.result_code, got.to_user_id), (1, 83));
    assert!(h.fakes.file.pending().is_empty());
    assert!(h.fakes.push.pending().is_empty());
}
