//! Requests a client waits for are never left hanging: when the db_proxy link they went out on
//! closes, or no answer comes within `RequestTimeout`, the client gets the request's failure
//! answer (login refused, `result_code` 1, an empty list) or, where the protocol has none,
//! nothing — and an answer arriving after that is dropped, never relayed twice.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use support::*;
use teamtalk_proto::pb::base_define::UserStat;
use teamtalk_proto::pb::base_define::{GroupInfo, ResultType};
use teamtalk_proto::pb::buddy::{ImAllUserReq, ImUsersStatRsp};
use teamtalk_proto::pb::file::{ImFileReq, ImFileRsp};
use teamtalk_proto::pb::group::{
    ImGroupCreateReq, ImGroupCreateRsp, ImGroupInfoListReq, ImGroupInfoListRsp, ImGroupShieldReq,
    ImGroupShieldRsp,
};
use teamtalk_proto::pb::login::{ImLoginRes, ImPushShieldReq, ImPushShieldRsp};
use teamtalk_proto::pb::message::ImMsgData;
use teamtalk_proto::{CommandId, Pdu};

#[test]
fn requests_on_a_lost_db_link_get_their_failure_answers() {
    let mut h = Harness::ready();
    let mut alice = h.login("alice", 400, WINDOWS);
    let create = ImGroupCreateReq {
        user_id: 0,
        group_type: 2,
        group_name: "team".into(),
        group_avatar: String::new(),
        member_id_list: vec![400, 401],
        attach_data: None,
    };
    let create_seq = alice.send(CommandId::GroupCreateRequest, &create);
    h.fakes.db.expect(CommandId::GroupCreateRequest);
    let shield_seq = alice.send(
        CommandId::LoginReqPushShield,
        &ImPushShieldReq {
            user_id: 0,
            shield_status: 1,
            attach_data: None,
        },
    );
    h.fakes.db.expect(CommandId::LoginReqPushShield);
    alice.send(CommandId::BuddyListAllUserRequest, &ImAllUserReq::default());
    h.fakes.db.expect(CommandId::BuddyListAllUserRequest);

    // db_proxy dies with the three requests unanswered.
    h.fakes.db.restart();
    let mut got = [alice.recv(), alice.recv()];
    got.sort_by_key(|p| p.header.command_id);
    let shield: ImPushShieldRsp = got[0].parse().unwrap();
    assert_eq!(got[0].command(), Some(CommandId::LoginResPushShield));
    assert_eq!(got[0].header.seq_num, shield_seq);
    assert_eq!((shield.user_id, shield.result_code), (400, 1));
    let created: ImGroupCreateRsp = got[1].parse().unwrap();
    assert_eq!(got[1].command(), Some(CommandId::GroupCreateResponse));
    assert_eq!(got[1].header.seq_num, create_seq);
    assert_eq!(
        (
            created.user_id,
            created.result_code,
            created.group_name.as_str()
        ),
        (400, 1, "team")
    );
    // The user list has no failure answer: nothing more, and the client stays.
    alice.sync();
}

#[test]
fn a_login_whose_validation_link_is_lost_is_refused() {
    let mut h = Harness::ready();
    let mut c = TestClient::connect(h.addr);
    let seq = c.send(CommandId::LoginReqUserlogin, &login_req("bob", WINDOWS));
    h.fakes.db_login.expect(CommandId::OtherValidateReq);
    h.fakes.db_login.restart();
    let got = c.wait_closed();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].header.seq_num, seq);
    let res: ImLoginRes = got[0].parse().unwrap();
    assert_eq!(
        res.result_code,
        ResultType::RefuseReasonNoDbServer as i32,
        "{res:?}"
    );
}

#[test]
fn an_unanswered_request_fails_at_its_deadline_and_a_late_answer_is_dropped() {
    let h = Harness::start_with(100, |conf| conf.set("RequestTimeout", "1"));
    h.expect_link_setup();
    h.fakes.db.wait_conns(1);
    h.fakes.push.wait_conns(1);
    h.probe_db();
    let mut alice = h.login("alice", 402, WINDOWS);
    let req = ImGroupShieldReq {
        user_id: 0,
        group_id: 77,
        shield_status: 1,
        attach_data: None,
    };
    let asked = Instant::now();
    let seq = alice.send(CommandId::GroupShieldGroupRequest, &req);
    let (i, fwd) = h.fakes.db.expect(CommandId::GroupShieldGroupRequest);
    // The link is alive (a heartbeat comes), only this answer is late.
    h.fakes
        .db
        .send(i, &Pdu::empty(CommandId::OtherHeartbeat, 0));
    let failed = alice.expect(CommandId::GroupShieldGroupResponse);
    assert!(asked.elapsed() >= Duration::from_secs(1));
    assert_eq!(failed.header.seq_num, seq);
    let rsp: ImGroupShieldRsp = failed.parse().unwrap();
    assert_eq!((rsp.user_id, rsp.group_id, rsp.result_code), (402, 77, 1));

    // db_proxy answers after all: the client already has its answer, this one is dropped.
    let fwd: ImGroupShieldReq = fwd.parse().unwrap();
    let late = ImGroupShieldRsp {
        user_id: 402,
        group_id: 77,
        result_code: 0,
        attach_data: fwd.attach_data,
    };
    h.fakes.db.send(
        i,
        &Pdu::new(CommandId::GroupShieldGroupResponse, seq, &late),
    );
    alice.sync();
}

#[test]
fn a_link_silent_past_a_request_deadline_is_closed_and_dialled_again() {
    let h = Harness::start_with(100, |conf| conf.set("RequestTimeout", "1"));
    h.expect_link_setup();
    h.fakes.db.wait_conns(1);
    h.fakes.push.wait_conns(1);
    h.probe_db();
    let mut alice = h.login("alice", 403, WINDOWS);
    alice.send(CommandId::BuddyListAllUserRequest, &ImAllUserReq::default());
    h.fakes.db.expect(CommandId::BuddyListAllUserRequest);
    // db_proxy neither answers nor sends anything else (a stalled peer, the link still open):
    // msg_server closes that link at the request's deadline and dials again.
    h.fakes.db.wait_conns(2);
    // The new link is usable once msg_server has seen its connect complete.
    let deadline = Instant::now() + Duration::from_secs(10);
    let on_new_link = loop {
        alice.send(CommandId::BuddyListAllUserRequest, &ImAllUserReq::default());
        std::thread::sleep(Duration::from_millis(100));
        if let Some((i, _)) = h.fakes.db.pending().into_iter().next() {
            break i;
        }
        assert!(Instant::now() < deadline, "no request on the new link");
    };
    assert_eq!(on_new_link, 1, "the request goes out on the new link");
}

#[test]
fn a_group_fan_out_lost_with_its_link_is_asked_again_on_another() {
    let mut h = Harness::ready();
    let mut alice = h.login("alice", 404, WINDOWS);
    let mut bob = h.login("bob", 405, WINDOWS);
    let msg = ImMsgData {
        from_user_id: 0,
        to_session_id: 900,
        msg_id: 0,
        create_time: 0,
        msg_type: 0x11,
        msg_data: b"nnZSBwfPCz60q69ddmfIJA==".to_vec(),
        attach_data: None,
    };
    alice.send(CommandId::MsgData, &msg);
    let (i, up) = h.fakes.db.expect(CommandId::MsgData);
    let mut stored: ImMsgData = up.parse().unwrap();
    stored.msg_id = 6;
    h.fakes
        .db
        .send(i, &Pdu::new(CommandId::MsgData, up.header.seq_num, &stored));
    alice.expect(CommandId::MsgDataAck);
    h.fakes.db.expect(CommandId::GroupInfoRequest);
    // The business link dies before the member list comes: the stored message must still
    // reach the members, asked on the remaining (login-pool) link.
    h.fakes.db.restart();
    let (j, again) = h.fakes.db_login.expect(CommandId::GroupInfoRequest);
    let req: ImGroupInfoListReq = again.parse().unwrap();
    let rsp = ImGroupInfoListRsp {
        user_id: 404,
        group_info_list: vec![GroupInfo {
            group_id: 900,
            version: 1,
            group_name: "g".into(),
            group_avatar: String::new(),
            group_creator_id: 404,
            group_type: 2,
            shield_status: 0,
            group_member_list: vec![404, 405],
        }],
        attach_data: req.attach_data,
    };
    h.fakes
        .db_login
        .send(j, &Pdu::new(CommandId::GroupInfoResponse, 0, &rsp));
    let got: ImMsgData = bob.expect(CommandId::MsgData).parse().unwrap();
    assert_eq!((got.msg_id, got.to_session_id), (6, 900));
}

fn file_req(from: u32, to: u32, trans_mode: i32) -> ImFileReq {
    ImFileReq {
        from_user_id: from,
        to_user_id: to,
        file_name: "c.txt".into(),
        file_size: 5,
        trans_mode,
    }
}

fn assert_file_refused(got: &Pdu, seq: u16, from: u32, to: u32) {
    assert_eq!(got.header.seq_num, seq);
    let rsp: ImFileRsp = got.parse().unwrap();
    assert_eq!(
        (
            rsp.result_code,
            rsp.from_user_id,
            rsp.to_user_id,
            rsp.file_name.as_str(),
            rsp.task_id.as_str()
        ),
        (1, from, to, "c.txt", "")
    );
}

#[test]
fn a_file_request_lost_with_its_file_server_is_refused() {
    let mut h = Harness::ready();
    let mut alice = h.login("alice", 410, WINDOWS);
    // Offline (2): straight to file_server, which dies before it answers.
    let seq = alice.send(CommandId::FileRequest, &file_req(410, 411, 2));
    h.fakes.file.expect(CommandId::OtherFileTransferReq);
    h.fakes.file.restart();
    let got = alice.expect(CommandId::FileResponse);
    assert_file_refused(&got, seq, 410, 411);
    alice.sync();
}

#[test]
fn an_online_file_request_without_a_presence_answer_is_refused_at_its_deadline() {
    let h = Harness::start_with(100, |conf| conf.set("RequestTimeout", "1"));
    h.expect_link_setup();
    h.fakes.db.wait_conns(1);
    h.fakes.push.wait_conns(1);
    h.probe_db();
    let mut alice = h.login("alice", 412, WINDOWS);
    // Online (1) to a user not here: route_server is asked for the presence, and is silent.
    let asked = Instant::now();
    let seq = alice.send(CommandId::FileRequest, &file_req(412, 413, 1));
    let (i, stat) = h.fakes.route.expect(CommandId::BuddyListUsersStatusRequest);
    h.fakes
        .route
        .send(i, &Pdu::empty(CommandId::OtherHeartbeat, 0));
    let got = alice.expect(CommandId::FileResponse);
    assert!(asked.elapsed() >= Duration::from_secs(1));
    assert_file_refused(&got, seq, 412, 413);

    // The presence comes after all: the requester was told, so no task is asked for.
    let stat: teamtalk_proto::pb::buddy::ImUsersStatReq = stat.parse().unwrap();
    let late = ImUsersStatRsp {
        user_id: 412,
        user_stat_list: vec![UserStat {
            user_id: 413,
            status: 1,
        }],
        attach_data: stat.attach_data,
    };
    h.fakes.route.send(
        i,
        &Pdu::new(CommandId::BuddyListUsersStatusResponse, seq, &late),
    );
    alice.sync();
    assert!(h.fakes.file.pending().is_empty());
}
