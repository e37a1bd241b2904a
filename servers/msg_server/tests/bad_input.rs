//! Hostile or broken input at the client port: framing errors close that one connection,
//! unparsable bodies and unknown commands are ignored, nothing is processed before login
//! (KNOWN_DEFECTS D-AUTH-1, D-NET-1/2), floods and the connection cap — while other clients
//! keep working.

#![allow(clippy::unwrap_used)]

mod support;

use support::*;
use teamtalk_proto::pb::buddy::ImAllUserReq;
use teamtalk_proto::pb::group::ImGroupChangeMemberReq;
use teamtalk_proto::pb::message::{ImClientTimeReq, ImClientTimeRsp, ImMsgData};
use teamtalk_proto::pb::switch_service::Imp2pCmdMsg;
use teamtalk_proto::{CommandId, Pdu, PduHeader};

fn header_bytes(length: u32, command: u16) -> Vec<u8> {
    let mut out = Vec::new();
    PduHeader {
        length,
        version: 1,
        flag: 0,
        service_id: 3,
        command_id: command,
        seq_num: 1,
        reserved: 0,
    }
    .write(&mut out);
    out
}

/// A bystander pair that must keep chatting through everything.
fn chat(h: &Harness, from: &mut TestClient, to: &mut TestClient, to_id: u32) {
    let msg = ImMsgData {
        from_user_id: 0,
        to_session_id: to_id,
        msg_id: 0,
        create_time: 0,
        msg_type: 1,
        msg_data: b"nnZSBwfPCz60q69ddmfIJA==".to_vec(),
        attach_data: None,
    };
    from.send(CommandId::MsgData, &msg);
    let (i, up) = h.fakes.db.expect(CommandId::MsgData);
    let mut stored: ImMsgData = up.parse().unwrap();
    stored.msg_id = 1;
    h.fakes
        .db
        .send(i, &Pdu::new(CommandId::MsgData, up.header.seq_num, &stored));
    from.expect(CommandId::MsgDataAck);
    to.expect(CommandId::MsgData);
    h.fakes.route.expect(CommandId::MsgData);
    h.fakes.db.expect(CommandId::OtherGetDeviceTokenReq);
}

#[test]
fn framing_errors_close_only_the_offending_connection() {
    let h = Harness::ready();
    let mut alice = h.login("alice", 200, WINDOWS);
    let mut bob = h.login("bob", 201, WINDOWS);

    for length in [0u32, 5, 15] {
        let mut bad = TestClient::connect(h.addr);
        bad.write(&header_bytes(length, 0x0701));
        assert!(bad.wait_closed().is_empty(), "length {length}");
    }
    // 2 GiB announced: refused before any body arrives.
    let mut huge = TestClient::connect(h.addr);
    huge.write(&header_bytes(0x8000_0000, 0x0301));
    assert!(huge.wait_closed().is_empty());
    // The same from a logged-in client.
    let mut carol = h.login("carol", 202, WINDOWS);
    carol.write(&header_bytes(0xffff_ffff, 0x0301));
    carol.wait_closed();
    h.fakes.route.expect(CommandId::OtherUserStatusUpdate);
    h.fakes.login.expect(CommandId::OtherUserCntUpdate);

    chat(&h, &mut alice, &mut bob, 201);
}

#[test]
fn garbage_bodies_and_unknown_commands_are_ignored_and_the_connection_stays() {
    let h = Harness::ready();
    let mut alice = h.login("alice", 203, WINDOWS);
    let mut bob = h.login("bob", 204, WINDOWS);
    // Not protobuf at all (a field with wire type 7).
    alice.send_pdu(&Pdu::from_body(
        CommandId::MsgData,
        5,
        vec![0xff, 0xff, 0xff, 0x0f],
    ));
    alice.send_pdu(&Pdu::from_body(
        CommandId::BuddyListAllUserRequest,
        6,
        vec![0x0f],
    ));
    // Unknown and server-only commands.
    let mut unknown = header_bytes(16, 0x0999);
    unknown.extend_from_slice(&header_bytes(16, 0x070c));
    alice.write(&unknown);
    alice.send_pdu(&Pdu::empty(CommandId::OtherValidateRsp, 7));
    alice.send_pdu(&Pdu::empty(CommandId::OtherServerKickUser, 8));
    alice.sync();
    // A wrong service id is fine: dispatch is by command.
    let mut time = Pdu::new(CommandId::MsgTimeRequest, 9, &ImClientTimeReq {});
    time.header.service_id = 0x77;
    alice.send_pdu(&time);
    let rsp = alice.expect(CommandId::MsgTimeResponse);
    assert_eq!(rsp.header.seq_num, 9);
    assert!(rsp.parse::<ImClientTimeRsp>().unwrap().server_time > 1_600_000_000);
    // Nothing reached db_proxy: the next request there is this one.
    alice.send(CommandId::BuddyListAllUserRequest, &ImAllUserReq::default());
    h.fakes.db.expect(CommandId::BuddyListAllUserRequest);
    chat(&h, &mut alice, &mut bob, 204);
}

#[test]
fn nothing_but_heartbeat_and_login_is_processed_before_login() {
    let h = Harness::ready();
    let mut alice = h.login("alice", 205, WINDOWS);
    let mut bob = h.login("bob", 206, WINDOWS);
    let mut anon = TestClient::connect(h.addr);
    let msg = ImMsgData {
        from_user_id: 205,
        to_session_id: 206,
        msg_id: 0,
        create_time: 0,
        msg_type: 1,
        msg_data: b"x".to_vec(),
        attach_data: None,
    };
    anon.send(CommandId::MsgData, &msg);
    let change = ImGroupChangeMemberReq {
        user_id: 0,
        change_type: 1,
        group_id: 1,
        member_id_list: vec![666],
        attach_data: None,
    };
    anon.send(CommandId::GroupChangeMemberRequest, &change);
    let p2p = Imp2pCmdMsg {
        from_user_id: 205,
        to_user_id: 206,
        cmd_msg_data: "x".into(),
    };
    anon.send(CommandId::SwitchP2pCmd, &p2p);
    anon.send(CommandId::BuddyListAllUserRequest, &ImAllUserReq::default());
    // The time request is ignored too (D-AUTH-1): the heartbeat sent after it is the first
    // and only answer, echoed byte for byte.
    anon.send(CommandId::MsgTimeRequest, &ImClientTimeReq {});
    let hb = Pdu::empty(CommandId::OtherHeartbeat, 4321);
    anon.send_pdu(&hb);
    let echo = anon.recv();
    assert_eq!(echo.encode(), hb.encode());
    anon.sync();
    // Nothing reached db_proxy, route or bob.
    bob.sync();
    assert!(h.fakes.route.pending().is_empty());
    alice.send(CommandId::BuddyListAllUserRequest, &ImAllUserReq::default());
    h.fakes.db.expect(CommandId::BuddyListAllUserRequest);
    chat(&h, &mut alice, &mut bob, 206);
}

#[test]
fn a_flooding_client_is_cut_off() {
    let h = Harness::ready();
    let mut alice = h.login("alice", 207, WINDOWS);
    let mut bob = h.login("bob", 208, WINDOWS);
    let mut flood = TestClient::connect(h.addr);
    let mut burst = Vec::new();
    for seq in 0..2000u16 {
        Pdu::empty(CommandId::OtherHeartbeat, seq).encode_into(&mut burst);
    }
    flood.write(&burst);
    let answered = flood.wait_closed().len();
    assert!(answered < 2000, "all {answered} answered");
    chat(&h, &mut alice, &mut bob, 208);
}

#[test]
fn connections_over_max_conn_cnt_are_refused() {
    let h = Harness::start_with(2, |_| {});
    h.expect_link_setup();
    let mut a = TestClient::connect(h.addr);
    let mut b = TestClient::connect(h.addr);
    a.sync();
    b.sync();
    let mut c = TestClient::connect(h.addr);
    assert!(c.wait_closed().is_empty());
    drop(a);
    // The freed slot is usable again (poll: the close reaches the server asynchronously).
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let mut d = TestClient::connect(h.addr);
        d.send_pdu(&Pdu::empty(CommandId::OtherHeartbeat, 1));
        if d.try_recv().is_some() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "slot never freed");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    b.sync();
}

#[test]
fn a_client_that_stops_reading_is_cut_off_and_others_are_unaffected() {
    let h = Harness::ready();
    let mut alice = h.login("alice", 209, WINDOWS);
    let mut bob = h.login("bob", 210, WINDOWS);
    let mut stalled = h.login("carol", 211, WINDOWS);
    // Messages relayed by route_server for carol, far more than her socket and her 4 MiB
    // output cap hold while she reads nothing.
    let mut burst = Vec::new();
    for k in 0..3000u32 {
        // From a user of another msg_server, so only carol's connection receives them.
        let msg = ImMsgData {
            from_user_id: 999,
            to_session_id: 211,
            msg_id: k + 1,
            create_time: 0,
            msg_type: 1,
            msg_data: vec![b'A'; 4000],
            attach_data: None,
        };
        Pdu::new(CommandId::MsgData, 0, &msg).encode_into(&mut burst);
    }
    for chunk in burst.chunks(1 << 20) {
        h.fakes.route.send_raw(0, chunk);
    }
    // msg_server closes carol's connection: she finds the end of the stream behind whatever
    // reached her socket buffer before the cut.
    let got = stalled.wait_closed();
    assert!(got.len() < 3000, "all {} messages were queued", got.len());
    h.fakes.route.expect(CommandId::OtherUserStatusUpdate);
    chat(&h, &mut alice, &mut bob, 210);
}
