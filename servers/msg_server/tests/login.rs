//! Login, logout and kick rules on the wire, against fake back ends (BEHAVIOUR §2.2–§2.5).

#![allow(clippy::unwrap_used)]

mod support;

use support::*;
use teamtalk_proto::CommandId;
use teamtalk_proto::Pdu;
use teamtalk_proto::pb::base_define::UserInfo;
use teamtalk_proto::pb::login::{
    ImDeviceTokenReq, ImDeviceTokenRsp, ImKickPcClientReq, ImKickPcClientRsp, ImKickUser,
    ImLoginRes, ImLogoutReq, ImLogoutRsp,
};
use teamtalk_proto::pb::server::{
    ImMsgServInfo, ImOnlineUserInfo, ImServerKickUser, ImUserCntUpdate, ImUserStatusUpdate,
    ImValidateReq, ImValidateRsp,
};

#[test]
fn links_announce_the_server_on_connect() {
    let h = Harness::start_with(100, |_| {});
    let (_, info) = h.fakes.login.expect(CommandId::OtherMsgServInfo);
    let info: ImMsgServInfo = info.parse().unwrap();
    assert_eq!(info.ip1, "10.0.0.1");
    assert_eq!(info.ip2, "10.0.0.2");
    assert_eq!(info.port, u32::from(h.addr.port()));
    assert_eq!(info.max_conn_cnt, 100);
    assert_eq!(info.cur_conn_cnt, 0);
    assert!(!info.host_name.is_empty());
    let (_, role) = h.fakes.route.expect(CommandId::OtherRoleSet);
    assert_eq!(role.header.seq_num, 0);
    let (_, online) = h.fakes.route.expect(CommandId::OtherOnlineUserInfo);
    assert!(
        online
            .parse::<ImOnlineUserInfo>()
            .unwrap()
            .user_stat_list
            .is_empty()
    );
    let (_, ip_req) = h.fakes.file.expect(CommandId::OtherFileServerIpReq);
    assert!(ip_req.body.is_empty());
}

#[test]
fn login_validates_through_db_proxy_and_announces_the_user() {
    let h = Harness::ready();
    let mut c = TestClient::connect(h.addr);
    let seq = c.send(CommandId::LoginReqUserlogin, &login_req("alice", ANDROID));
    let (i, pdu) = h.fakes.db_login.expect(CommandId::OtherValidateReq);
    assert_eq!(pdu.header.seq_num, seq, "validate carries the client's seq");
    let req: ImValidateReq = pdu.parse().unwrap();
    assert_eq!(req.user_name, "alice");
    assert_eq!(req.password, "cc03e747a6afbbcbf8be7668acfebee5");
    let attach = db_attach(req.attach_data.as_deref().unwrap());
    assert_eq!(attach.attach_type, 1);
    assert_ne!(attach.handle, 0);
    let info = UserInfo {
        sign_info: Some("hi there".into()),
        ..user_info(42, "alice")
    };
    let rsp = ImValidateRsp {
        user_name: "alice".into(),
        result_code: 0,
        result_string: Some("成功".into()),
        user_info: Some(info.clone()),
        attach_data: req.attach_data,
    };
    h.fakes
        .db_login
        .send(i, &Pdu::new(CommandId::OtherValidateRsp, seq, &rsp));
    let res_pdu = c.expect(CommandId::LoginResUserlogin);
    assert_eq!(res_pdu.header.seq_num, seq);
    let res: ImLoginRes = res_pdu.parse().unwrap();
    assert_eq!(res.result_code, 0);
    assert_eq!(res.result_string.as_deref(), Some("成功"));
    assert_eq!(res.online_status, Some(1));
    assert_eq!(res.user_info, Some(info));
    assert!(res.server_time > 1_600_000_000);

    let (_, kick) = h.fakes.route.expect(CommandId::OtherServerKickUser);
    let kick: ImServerKickUser = kick.parse().unwrap();
    assert_eq!(
        (kick.user_id, kick.client_type, kick.reason),
        (42, ANDROID, 1)
    );
    let (_, stat) = h.fakes.route.expect(CommandId::OtherUserStatusUpdate);
    let stat: ImUserStatusUpdate = stat.parse().unwrap();
    assert_eq!(
        (stat.user_status, stat.user_id, stat.client_type),
        (1, 42, ANDROID)
    );
    let (_, cnt) = h.fakes.login.expect(CommandId::OtherUserCntUpdate);
    let cnt: ImUserCntUpdate = cnt.parse().unwrap();
    assert_eq!((cnt.user_action, cnt.user_id), (1, 42));

    // A second login request on the same connection is ignored.
    c.send(CommandId::LoginReqUserlogin, &login_req("alice", ANDROID));
    c.sync();
    assert!(h.fakes.db_login.pending().is_empty());
}

#[test]
fn wrong_password_is_refused_with_the_db_string_and_closed() {
    let h = Harness::ready();
    let mut c = TestClient::connect(h.addr);
    let seq = c.send(CommandId::LoginReqUserlogin, &login_req("bob", WINDOWS));
    let (i, pdu) = h.fakes.db_login.expect(CommandId::OtherValidateReq);
    let req: ImValidateReq = pdu.parse().unwrap();
    let rsp = ImValidateRsp {
        user_name: "bob".into(),
        result_code: 1,
        result_string: Some("用户名/密码错误".into()),
        user_info: None,
        attach_data: req.attach_data,
    };
    h.fakes
        .db_login
        .send(i, &Pdu::new(CommandId::OtherValidateRsp, seq, &rsp));
    let got = c.wait_closed();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].header.seq_num, seq);
    let res: ImLoginRes = got[0].parse().unwrap();
    assert_eq!(res.result_code, 6);
    assert_eq!(res.result_string.as_deref(), Some("用户名/密码错误"));
    assert!(res.user_info.is_none());
}

#[test]
fn unknown_client_type_is_refused() {
    let h = Harness::ready();
    let mut c = TestClient::connect(h.addr);
    c.send(CommandId::LoginReqUserlogin, &login_req("carol", 0x33));
    let got = c.wait_closed();
    let res: ImLoginRes = got[0].parse().unwrap();
    assert_eq!(res.result_code, 6);
    assert!(h.fakes.db_login.pending().is_empty());
}

#[test]
fn validation_for_another_name_is_ignored() {
    let h = Harness::ready();
    let mut c = TestClient::connect(h.addr);
    let seq = c.send(CommandId::LoginReqUserlogin, &login_req("dave", WINDOWS));
    let (i, pdu) = h.fakes.db_login.expect(CommandId::OtherValidateReq);
    let req: ImValidateReq = pdu.parse().unwrap();
    let forged = ImValidateRsp {
        user_name: "mallory".into(),
        result_code: 0,
        result_string: Some("成功".into()),
        user_info: Some(user_info(66, "mallory")),
        attach_data: req.attach_data.clone(),
    };
    h.fakes
        .db_login
        .send(i, &Pdu::new(CommandId::OtherValidateRsp, seq, &forged));
    let real = ImValidateRsp {
        user_name: "dave".into(),
        user_info: Some(user_info(67, "dave")),
        ..forged
    };
    h.fakes
        .db_login
        .send(i, &Pdu::new(CommandId::OtherValidateRsp, seq, &real));
    let res: ImLoginRes = c.expect(CommandId::LoginResUserlogin).parse().unwrap();
    assert_eq!(res.user_info.unwrap().user_id, 67);
}

fn refused_code(h: &Harness) -> i32 {
    let mut c = TestClient::connect(h.addr);
    let seq = c.send(CommandId::LoginReqUserlogin, &login_req("erin", WINDOWS));
    let got = c.wait_closed();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].header.seq_num, seq);
    let res: ImLoginRes = got[0].parse().unwrap();
    assert_eq!(res.result_string.as_deref(), Some("服务端异常"));
    res.result_code
}

fn dead_port() -> String {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    dead.local_addr().unwrap().port().to_string()
}

#[test]
fn login_is_refused_while_a_back_end_is_missing() {
    let dead = dead_port();
    let h = Harness::start_with(100, |c| {
        c.set("DBServerPort1", dead.clone());
        c.set("DBServerPort2", dead.clone());
    });
    h.fakes.route.expect(CommandId::OtherRoleSet);
    h.fakes.login.expect(CommandId::OtherMsgServInfo);
    assert_eq!(refused_code(&h), 3, "no db_proxy");

    let h = Harness::start_with(100, |c| c.set("LoginServerPort1", dead.clone()));
    h.fakes.route.expect(CommandId::OtherRoleSet);
    h.probe_db();
    assert_eq!(refused_code(&h), 4, "no login_server");

    let h = Harness::start_with(100, |c| c.set("RouteServerPort1", dead.clone()));
    h.fakes.login.expect(CommandId::OtherMsgServInfo);
    h.probe_db();
    assert_eq!(refused_code(&h), 5, "no route_server");
}

#[test]
fn duplicate_login_kicks_the_older_same_kind_connection_only() {
    let h = Harness::ready();
    let mut pc1 = h.login("frank", 50, WINDOWS);
    let mut phone = h.login("frank", 50, ANDROID);
    // Same kind (PC): the older PC connection is kicked and closed.
    let mut pc2 = h.login("frank", 50, MAC);
    let got = pc1.wait_closed();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].header.seq_num, 0);
    let kick: ImKickUser = got[0].parse().unwrap();
    assert_eq!((kick.user_id, kick.kick_reason), (50, 1));
    // Its close is announced (user count and status).
    let (_, stat) = h.fakes.route.expect(CommandId::OtherUserStatusUpdate);
    let stat: ImUserStatusUpdate = stat.parse().unwrap();
    assert_eq!(
        (stat.user_status, stat.user_id, stat.client_type),
        (2, 50, WINDOWS)
    );
    let (_, cnt) = h.fakes.login.expect(CommandId::OtherUserCntUpdate);
    assert_eq!(cnt.parse::<ImUserCntUpdate>().unwrap().user_action, 2);
    // The phone and the new PC stay.
    phone.sync();
    pc2.sync();
}

#[test]
fn kick_from_route_closes_every_same_kind_connection() {
    let h = Harness::ready();
    let mut phone = h.login("gina", 51, IOS);
    let mut pc = h.login("gina", 51, WINDOWS);
    let kick = ImServerKickUser {
        user_id: 51,
        client_type: ANDROID,
        reason: 1,
    };
    h.fakes
        .route
        .send(0, &Pdu::new(CommandId::OtherServerKickUser, 0, &kick));
    let got = phone.wait_closed();
    let k: ImKickUser = got[0].parse().unwrap();
    assert_eq!((k.user_id, k.kick_reason), (51, 1));
    pc.sync();
}

#[test]
fn phone_kicks_the_pc_client_everywhere() {
    let h = Harness::ready();
    let mut pc = h.login("hank", 52, MAC);
    let mut phone = h.login("hank", 52, ANDROID);
    let seq = phone.send(
        CommandId::LoginReqKickpcclient,
        &ImKickPcClientReq { user_id: 1 },
    );
    let rsp = phone.expect(CommandId::LoginResKickpcclient);
    assert_eq!(rsp.header.seq_num, seq);
    let rsp: ImKickPcClientRsp = rsp.parse().unwrap();
    assert_eq!((rsp.user_id, rsp.result_code), (52, 0));
    let got = pc.wait_closed();
    let k: ImKickUser = got[0].parse().unwrap();
    assert_eq!(k.kick_reason, 2);
    let (_, remote) = h.fakes.route.expect(CommandId::OtherServerKickUser);
    let remote: ImServerKickUser = remote.parse().unwrap();
    assert_eq!(
        (remote.user_id, remote.client_type, remote.reason),
        (52, MAC, 2)
    );
    // The kicked PC's close is announced after the kick.
    h.fakes.route.expect(CommandId::OtherUserStatusUpdate);
    h.fakes.login.expect(CommandId::OtherUserCntUpdate);
    // A PC asking to kick PCs is ignored.
    let mut pc2 = h.login("hank", 52, WINDOWS);
    pc2.send(
        CommandId::LoginReqKickpcclient,
        &ImKickPcClientReq { user_id: 52 },
    );
    pc2.sync();
}

#[test]
fn logout_clears_the_phone_token_answers_and_closes() {
    let h = Harness::ready();
    let mut phone = h.login("ivy", 53, IOS);
    let seq = phone.send(CommandId::LoginReqLoginout, &ImLogoutReq {});
    let got = phone.wait_closed();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].header.seq_num, seq);
    assert_eq!(got[0].parse::<ImLogoutRsp>().unwrap().result_code, 0);
    let (_, clear) = h.fakes.db.expect(CommandId::LoginReqDevicetoken);
    assert_eq!(clear.header.seq_num, seq);
    let clear: ImDeviceTokenReq = clear.parse().unwrap();
    assert_eq!((clear.user_id, clear.device_token.as_str()), (53, ""));
    assert_eq!(clear.client_type, None);
    let (_, stat) = h.fakes.route.expect(CommandId::OtherUserStatusUpdate);
    assert_eq!(stat.parse::<ImUserStatusUpdate>().unwrap().user_status, 2);

    // A PC logging out leaves the token alone.
    let mut pc = h.login("ivy", 53, WINDOWS);
    pc.send(CommandId::LoginReqLoginout, &ImLogoutReq {});
    pc.wait_closed();
    h.fakes.route.expect(CommandId::OtherUserStatusUpdate);
    assert!(h.fakes.db.pending().is_empty());
}

/// An APNs token: 64 hex characters.
const TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

#[test]
fn device_token_is_answered_and_stored_for_phones_only() {
    let h = Harness::ready();
    let mut phone = h.login("jack", 54, IOS);
    let req = ImDeviceTokenReq {
        user_id: 999,
        device_token: TOKEN.into(),
        client_type: None,
        attach_data: None,
    };
    let seq = phone.send(CommandId::LoginReqDevicetoken, &req);
    let rsp = phone.expect(CommandId::LoginResDevicetoken);
    assert_eq!(rsp.header.seq_num, seq);
    assert_eq!(rsp.parse::<ImDeviceTokenRsp>().unwrap().user_id, 54);
    let (_, fwd) = h.fakes.db.expect(CommandId::LoginReqDevicetoken);
    assert_eq!(fwd.header.seq_num, seq);
    let fwd: ImDeviceTokenReq = fwd.parse().unwrap();
    assert_eq!(fwd.user_id, 54);
    assert_eq!(fwd.client_type, Some(IOS));
    assert_eq!(fwd.device_token, TOKEN);

    let mut pc = h.login("jack", 54, WINDOWS);
    pc.send(CommandId::LoginReqDevicetoken, &req);
    pc.sync();
    assert!(h.fakes.db.pending().is_empty());
}

#[test]
fn online_users_are_resent_when_route_reconnects() {
    let mut h = Harness::ready();
    let _a = h.login("kate", 55, WINDOWS);
    let _b = h.login("kate", 55, ANDROID);
    h.fakes.route.restart();
    // The reconnect back-off starts at 4 s.
    h.fakes.route.expect(CommandId::OtherRoleSet);
    let (_, online) = h.fakes.route.expect(CommandId::OtherOnlineUserInfo);
    let mut list = online.parse::<ImOnlineUserInfo>().unwrap().user_stat_list;
    list.sort_by_key(|s| s.client_type);
    let got: Vec<_> = list
        .iter()
        .map(|s| (s.user_id, s.status, s.client_type))
        .collect();
    assert_eq!(got, [(55, 1, WINDOWS), (55, 1, ANDROID)]);
}

#[test]
fn a_connection_that_never_logs_in_is_closed_after_the_login_deadline() {
    let h = Harness::ready();
    let mut idle = TestClient::connect(h.addr);
    // Heartbeats (every half second) keep the 120-s idle timeout away but are no login; the
    // 15-s login deadline closes the connection well within the 40 s allowed here.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
    loop {
        let hb = Pdu::empty(CommandId::OtherHeartbeat, 1).encode();
        if !idle.try_write(&hb) || idle.try_recv().is_none() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still open after 40 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

#[test]
fn route_master_fails_over_and_status_updates_reach_every_route_link() {
    let second = FakePeer::start();
    let port = second.addr().port().to_string();
    let h = Harness::start_with(100, |c| {
        c.set("RouteServerIP2", "127.0.0.1");
        c.set("RouteServerPort2", port.clone());
    });
    h.fakes.login.expect(CommandId::OtherMsgServInfo);
    h.fakes.file.expect(CommandId::OtherFileServerIpReq);
    h.probe_db();
    // One of the two is master (the first connected): exactly one IMRoleSet overall.
    let (master, other) = {
        let (_, p) = h.fakes.route.recv();
        if p.command() == Some(CommandId::OtherRoleSet) {
            h.fakes.route.expect(CommandId::OtherOnlineUserInfo);
            second.expect(CommandId::OtherOnlineUserInfo);
            (&h.fakes.route, &second)
        } else {
            assert_eq!(p.command(), Some(CommandId::OtherOnlineUserInfo));
            second.expect(CommandId::OtherRoleSet);
            second.expect(CommandId::OtherOnlineUserInfo);
            (&second, &h.fakes.route)
        }
    };
    let _client = {
        let mut c = TestClient::connect(h.addr);
        let seq = c.send(CommandId::LoginReqUserlogin, &login_req("zed", WINDOWS));
        let (i, pdu) = h.fakes.db_login.expect(CommandId::OtherValidateReq);
        let req: ImValidateReq = pdu.parse().unwrap();
        let rsp = ImValidateRsp {
            user_name: "zed".into(),
            result_code: 0,
            result_string: Some("成功".into()),
            user_info: Some(user_info(90, "zed")),
            attach_data: req.attach_data,
        };
        h.fakes
            .db_login
            .send(i, &Pdu::new(CommandId::OtherValidateRsp, seq, &rsp));
        c.expect(CommandId::LoginResUserlogin);
        c
    };
    // The kick goes to the master only; the status update to both.
    master.expect(CommandId::OtherServerKickUser);
    master.expect(CommandId::OtherUserStatusUpdate);
    other.expect(CommandId::OtherUserStatusUpdate);
    // The master goes away: the other link is promoted.
    master.stop();
    other.expect(CommandId::OtherRoleSet);
}

#[test]
fn login_answer_always_carries_sign_info_as_the_original_copies_every_field() {
    let h = Harness::ready();
    let mut c = TestClient::connect(h.addr);
    let seq = c.send(CommandId::LoginReqUserlogin, &login_req("grace", WINDOWS));
    let (i, pdu) = h.fakes.db_login.expect(CommandId::OtherValidateReq);
    let req: ImValidateReq = pdu.parse().unwrap();
    let rsp = ImValidateRsp {
        user_name: "grace".into(),
        result_code: 0,
        result_string: Some("成功".into()),
        user_info: Some(UserInfo {
            sign_info: None,
            ..user_info(60, "grace")
        }),
        attach_data: req.attach_data,
    };
    h.fakes
        .db_login
        .send(i, &Pdu::new(CommandId::OtherValidateRsp, seq, &rsp));
    let res: ImLoginRes = c.expect(CommandId::LoginResUserlogin).parse().unwrap();
    assert_eq!(res.result_code, 0);
    assert_eq!(res.user_info.unwrap().sign_info.as_deref(), Some(""));
}
