//! Logins end to end: msg_server → db_proxy_server → MariaDB, kicks across devices and
//! msg_servers, logout (BEHAVIOUR §2.2–§2.3, §8.1).

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use testkit::TestCluster;
use tt_client::pb::base_define::{ClientType, UserStatType};
use tt_client::pb::login::ImKickUser;
use tt_client::{ClientError, CommandId, crypto::md5_hex};

const WAIT: Duration = Duration::from_secs(15);

#[test]
fn login_returns_the_user_and_a_wrong_password_is_refused() {
    let cluster = TestCluster::start();
    let user = cluster.create_user("lg");
    let client = cluster.connect(0);
    let info = client
        .login(
            &user.name,
            &user.password,
            ClientType::Android,
            UserStatType::UserStatusLeave,
        )
        .unwrap();
    assert_eq!(info.user.user_id, user.id);
    assert_eq!(info.user.user_nick_name, user.nick);
    assert_eq!(info.user.user_real_name, user.name);
    assert_eq!(info.result_string, "成功");
    assert_eq!(info.online_status, Some(3));

    let other = cluster.connect(1);
    match other.login(
        &user.name,
        "not the password",
        ClientType::Windows,
        UserStatType::UserStatusOnline,
    ) {
        Err(ClientError::LoginRefused {
            code, server_text, ..
        }) => {
            assert_eq!(code, 6);
            assert_eq!(server_text, "用户名/密码错误");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    other.wait_closed(WAIT).unwrap();
    // The first connection is unaffected.
    client.ping(WAIT).unwrap();
}

#[test]
fn repeated_wrong_passwords_lock_the_account_out() {
    let cluster = TestCluster::start();
    let user = cluster.create_user("lock");
    let mut last = None;
    for _ in 0..12 {
        let c = cluster.connect(0);
        let err = c
            .login_hashed(
                &user.name,
                &md5_hex("wrong"),
                ClientType::Windows,
                UserStatType::UserStatusOnline,
            )
            .unwrap_err();
        last = Some(err);
    }
    match last {
        Some(ClientError::LoginRefused {
            code, server_text, ..
        }) => {
            assert_eq!(code, 6);
            assert_eq!(server_text, "用户名/密码错误次数太多");
        }
        other => panic!("expected a lock-out, got {other:?}"),
    }
    // Even the right password is refused while locked out.
    match cluster.try_login(0, &user) {
        Err(ClientError::LoginRefused { server_text, .. }) => {
            assert_eq!(server_text, "用户名/密码错误次数太多");
        }
        other => panic!("expected a lock-out, got {:?}", other.map(|(_, i)| i)),
    }
}

#[test]
fn same_kind_login_kicks_the_older_connection_everywhere_while_pc_and_phone_coexist() {
    let cluster = TestCluster::start();
    let user = cluster.create_user("kick");
    let pc_old = cluster.login_as(0, &user, ClientType::Windows);
    let phone = cluster.login_as(0, &user, ClientType::Ios);
    // A PC login on the other msg_server kicks the PC on this one through route_server.
    let pc_new = cluster.login_as(1, &user, ClientType::Mac);
    let kick: ImKickUser = pc_old
        .wait_for_parsed(CommandId::LoginKickUser, WAIT)
        .unwrap();
    assert_eq!((kick.user_id, kick.kick_reason), (user.id, 1));
    pc_old.wait_closed(WAIT).unwrap();
    phone.ping(WAIT).unwrap();
    pc_new.ping(WAIT).unwrap();

    // A second phone on the same msg_server kicks the first phone locally.
    let phone2 = cluster.login_as(0, &user, ClientType::Android);
    let kick: ImKickUser = phone
        .wait_for_parsed(CommandId::LoginKickUser, WAIT)
        .unwrap();
    assert_eq!(kick.kick_reason, 1);
    phone.wait_closed(WAIT).unwrap();
    phone2.ping(WAIT).unwrap();
    pc_new.ping(WAIT).unwrap();
}

#[test]
fn logout_answers_and_closes_the_connection() {
    let cluster = TestCluster::start();
    let user = cluster.create_user("out");
    let client = cluster.login(0, &user);
    let rsp = client.logout().unwrap();
    assert_eq!(rsp.result_code, 0);
    client.wait_closed(WAIT).unwrap();
    // Logging in again works.
    let again = cluster.login(0, &user);
    again.ping(WAIT).unwrap();
}

#[test]
fn login_server_directs_clients_to_the_least_loaded_msg_server() {
    let cluster = TestCluster::start();
    let user = cluster.create_user("disc");
    let busy = cluster.login(0, &user);
    // msg_server 0 has one more client: discovery now names msg_server 1 (the counts reach
    // login_server asynchronously, so poll).
    let deadline = std::time::Instant::now() + WAIT;
    let info = loop {
        let info = tt_client::discover(&cluster.login_http_url()).unwrap();
        if info.port == cluster.msg_addr(1).port() {
            break info;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "discovery kept {info:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(info.prior_ip, "127.0.0.1");
    let client = tt_client::Client::connect(info.addr(), WAIT).unwrap();
    client
        .login(
            &user.name,
            &user.password,
            ClientType::Android,
            UserStatType::UserStatusOnline,
        )
        .unwrap();
    busy.ping(WAIT).unwrap();
}

#[test]
fn registration_before_login_creates_an_account_that_can_log_in() {
    use tt_client::pb::login::{ImRegistReq, ImRegistRes};
    // Registration is off unless the conf enables it (tests/hostile.rs covers the refusals).
    let cluster = TestCluster::start_with_msg_conf(&[("EnableRegistration", "1")]);
    let name = testkit::unique_name("reg");
    let client = cluster.connect(1);
    let req = ImRegistReq {
        user_name: name.clone(),
        password: md5_hex("s3cret"),
        sex: Some(2),
        nick: Some("newbie".into()),
        ..Default::default()
    };
    let rsp: ImRegistRes = client
        .call(CommandId::LoginReqRegist, &req, CommandId::LoginResRegist)
        .unwrap();
    assert_eq!(rsp.result_code, 0, "{:?}", rsp.result_string);
    assert_eq!(rsp.user_name, name);
    assert_eq!(rsp.attach_data, None, "attach stripped");
    let id = rsp.user_id.unwrap();
    cluster.fixtures().adopt_user(id);
    // The same name again is refused.
    let again: ImRegistRes = client
        .call(CommandId::LoginReqRegist, &req, CommandId::LoginResRegist)
        .unwrap();
    assert_ne!(again.result_code, 0);
    // The registering connection can now log in with the new account.
    let info = client
        .login(
            &name,
            "s3cret",
            ClientType::Windows,
            UserStatType::UserStatusOnline,
        )
        .unwrap();
    assert_eq!(
        (info.user.user_id, info.user.user_nick_name.as_str()),
        (id, "newbie")
    );
}

#[test]
fn phones_hear_when_a_pc_client_of_their_user_logs_in_and_out_anywhere() {
    use tt_client::pb::buddy::ImpcLoginStatusNotify;
    let cluster = TestCluster::start();
    let user = cluster.create_user("pcst");
    let phone = cluster.login_as(0, &user, ClientType::Android);
    let pc = cluster.login_as(1, &user, ClientType::Windows);
    let on: ImpcLoginStatusNotify = phone
        .wait_for_parsed(CommandId::BuddyListPcLoginStatusNotify, WAIT)
        .unwrap();
    assert_eq!((on.user_id, on.login_stat), (user.id, 1));
    pc.logout().unwrap();
    let off: ImpcLoginStatusNotify = phone
        .wait_for_parsed(CommandId::BuddyListPcLoginStatusNotify, WAIT)
        .unwrap();
    assert_eq!((off.user_id, off.login_stat), (user.id, 2));
    // The phone's "kick my PC" reaches the other msg_server.
    let pc2 = cluster.login_as(1, &user, ClientType::Mac);
    phone
        .wait_for(CommandId::BuddyListPcLoginStatusNotify, WAIT)
        .unwrap();
    let rsp = phone.kick_pc_client().unwrap();
    assert_eq!(rsp.result_code, 0);
    let kick: ImKickUser = pc2.wait_for_parsed(CommandId::LoginKickUser, WAIT).unwrap();
    assert_eq!(kick.kick_reason, 2);
    pc2.wait_closed(WAIT).unwrap();
}
