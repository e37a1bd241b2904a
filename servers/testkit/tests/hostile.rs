//! Hostile clients against a real cluster: msg_server bounds every frame, field, list and rate
//! before anything reaches a back end, so one client's input can never make db_proxy close a
//! link that every user shares, fill a column past its width or spam every user.

#![allow(clippy::unwrap_used)]

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use mysql::prelude::Queryable;
use testkit::{REDIS_DB_TOKEN, TestCluster, TestUser};
use tt_client::pb::base_define::{ClientType, GroupModifyType, MsgType, TransferFileType};
use tt_client::pb::buddy::{ImSignInfoChangedNotify, ImUsersInfoReq};
use tt_client::pb::login::{ImLoginReq, ImRegistReq, ImRegistRes};
use tt_client::pb::message::ImMsgData;
use tt_client::pb::switch_service::Imp2pCmdMsg;
use tt_client::{Client, ClientError, CommandId, Pdu, crypto::md5_hex};

const WAIT: Duration = Duration::from_secs(15);
/// An APNs token: 64 hex characters.
const IOS_TOKEN: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn chat_round(a: &Client, b: &Client, b_id: u32, text: &str) {
    let ack = a.send_text(b_id, text).unwrap();
    let got = b.next_message(WAIT).unwrap();
    assert_eq!((got.msg_id, got.text.as_str()), (ack.msg_id, text));
}

/// Waits until the peer closes `stream` (EOF or reset), failing after [`WAIT`]; returns how
/// many bytes came before.
fn wait_eof(stream: &mut TcpStream) -> usize {
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + WAIT;
    let mut buf = [0u8; 4096];
    let mut received = 0;
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return received,
            Ok(n) => received += n,
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => {
                return received;
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("read failed: {e}"),
        }
        assert!(Instant::now() < deadline, "connection was not closed");
    }
}

fn sign_info_in_db(cluster: &TestCluster, user: &TestUser) -> String {
    let mut db = cluster.fixtures().mysql();
    db.exec_first("SELECT sign_info FROM IMUser WHERE id = ?", (user.id,))
        .unwrap()
        .unwrap()
}

fn users_named(cluster: &TestCluster, name: &str) -> usize {
    let mut db = cluster.fixtures().mysql();
    let ids: Vec<u32> = db
        .exec("SELECT id FROM IMUser WHERE name = ?", (name,))
        .unwrap();
    ids.len()
}

fn regist(client: &Client, name: &str) -> ImRegistRes {
    let req = ImRegistReq {
        user_name: name.to_owned(),
        password: md5_hex("s3cret"),
        ..Default::default()
    };
    client
        .call(CommandId::LoginReqRegist, &req, CommandId::LoginResRegist)
        .unwrap()
}

#[test]
fn an_oversized_login_closes_only_its_client_and_never_a_back_end_link() {
    let cluster = TestCluster::start();
    let alice = cluster.create_user("a");
    let bob = cluster.create_user("b");
    let a = cluster.login(0, &alice);
    let b = cluster.login(0, &bob);
    chat_round(&a, &b, bob.id, "before");
    let before = cluster.msg_counters(0);

    // One anonymous login whose user name is just under 4 MiB: the PDU itself is within the
    // internal links' cap, but the validation request msg_server would forward for it (the
    // same fields plus a 12-byte attach) would not be.
    let login = ImLoginReq {
        user_name: "x".repeat(4 * 1024 * 1024 - 64),
        password: md5_hex("whatever"),
        online_status: 1,
        client_type: ClientType::Windows as i32,
        client_version: None,
    };
    let bytes = Pdu::new(CommandId::LoginReqUserlogin, 1, &login).encode();
    assert!(bytes.len() <= 4 * 1024 * 1024);
    assert!(bytes.len() + 11 > 4 * 1024 * 1024);
    let mut raw = TcpStream::connect(cluster.msg_addr(0)).unwrap();
    // msg_server closes as soon as it has read the header (the frame is over
    // MaxClientPduLen), so the rest may not be taken, and nothing is answered.
    let _ = raw.write_all(&bytes);
    assert_eq!(
        wait_eof(&mut raw),
        0,
        "closed at framing, before any answer"
    );

    // Everyone else goes on, over the same links: nothing was lost or redialled.
    chat_round(&a, &b, bob.id, "after");
    chat_round(&b, &a, alice.id, "and back");
    let after = cluster.msg_counters(0);
    assert_eq!(
        after.links_lost, before.links_lost,
        "a back-end link closed"
    );
    assert_eq!(cluster.msg_counters(1).links_lost, 0);
    a.ping(WAIT).unwrap();
}

#[test]
fn fields_over_their_bounds_get_the_failure_answer_or_are_not_forwarded() {
    let cluster = TestCluster::start();
    let alice = cluster.create_user("a");
    let bob = cluster.create_user("b");
    let a = cluster.login(0, &alice);
    let b = cluster.login(0, &bob);
    let start = cluster.msg_counters(0);

    // Login: a name over IMUser.name's 32 characters, a password that is no MD5 hex.
    let long_name = cluster.connect(0);
    match long_name.login_hashed(
        &"n".repeat(33),
        &md5_hex("x"),
        ClientType::Windows,
        tt_client::pb::base_define::UserStatType::UserStatusOnline,
    ) {
        Err(ClientError::LoginRefused { code, .. }) => assert_eq!(code, 6),
        other => panic!("expected a refusal, got {other:?}"),
    }
    long_name.wait_closed(WAIT).unwrap();
    let bad_hash = cluster.connect(0);
    match bad_hash.login_hashed(
        &alice.name,
        "not-a-hash",
        ClientType::Windows,
        tt_client::pb::base_define::UserStatType::UserStatusOnline,
    ) {
        Err(ClientError::LoginRefused { code, .. }) => assert_eq!(code, 6),
        other => panic!("expected a refusal, got {other:?}"),
    }

    // Signature: 129 bytes is refused with result 1 and not stored; 128 is fine.
    let before_sign = sign_info_in_db(&cluster, &alice);
    let rsp = a.change_sign_info(&"s".repeat(129)).unwrap();
    assert_eq!(rsp.result_code, 1);
    assert_eq!(sign_info_in_db(&cluster, &alice), before_sign);
    let ok = "s".repeat(128);
    assert_eq!(a.change_sign_info(&ok).unwrap().result_code, 0);
    assert_eq!(sign_info_in_db(&cluster, &alice), ok);

    // Group name over IMGroup.name's 256 characters: result 1, no group.
    let rsp = a.create_group(&"群".repeat(257), "", &[bob.id]).unwrap();
    assert_eq!((rsp.result_code, rsp.group_id), (1, None));
    let mut db = cluster.fixtures().mysql();
    let groups: Vec<u32> = db
        .exec("SELECT id FROM IMGroup WHERE creator = ?", (alice.id,))
        .unwrap();
    assert!(groups.is_empty());

    // A file name over 512 bytes: the file request fails without a task.
    let rsp = a
        .file_request(
            bob.id,
            &"f".repeat(513),
            10,
            TransferFileType::FileTypeOffline,
        )
        .unwrap();
    assert_eq!((rsp.result_code, rsp.task_id.as_str()), (1, ""));

    // Text over 4096 bytes, a P2P command over 4096 bytes and a user-info query over 1000
    // ids: dropped, nothing reaches bob or comes back; what follows is delivered first.
    let big = ImMsgData {
        from_user_id: alice.id,
        to_session_id: bob.id,
        msg_id: 0,
        create_time: 0,
        msg_type: MsgType::SingleText as i32,
        msg_data: vec![b'A'; 4097],
        attach_data: None,
    };
    a.send(CommandId::MsgData, &big).unwrap();
    let p2p = Imp2pCmdMsg {
        from_user_id: alice.id,
        to_user_id: bob.id,
        cmd_msg_data: "p".repeat(4097),
    };
    a.send(CommandId::SwitchP2pCmd, &p2p).unwrap();
    let info = ImUsersInfoReq {
        user_id: alice.id,
        user_id_list: vec![bob.id; 1001],
        attach_data: None,
    };
    a.send(CommandId::BuddyListUserInfoRequest, &info).unwrap();
    a.p2p(bob.id, "typing").unwrap();
    let first = b.wait_for(CommandId::SwitchP2pCmd, WAIT).unwrap();
    let first: Imp2pCmdMsg = first.parse().unwrap();
    assert_eq!(first.cmd_msg_data, "typing");
    chat_round(&a, &b, bob.id, "small");
    assert_eq!(a.users_info(&[bob.id]).unwrap().user_info_list.len(), 1);
    assert!(
        a.drain_events()
            .iter()
            .all(|p| p.command() != Some(CommandId::BuddyListUserInfoResponse)),
        "the oversized query was answered"
    );
    let history = b
        .message_list(
            tt_client::pb::base_define::SessionType::Single,
            alice.id,
            0,
            20,
        )
        .unwrap();
    assert_eq!(
        history.msg_list.len(),
        1,
        "only the small message is stored"
    );

    let end = cluster.msg_counters(0);
    // Answered: two logins, signature, group, file. Dropped: text, P2P, user-info query.
    assert_eq!(end.refused - start.refused, 5);
    assert_eq!(end.dropped - start.dropped, 3);
    assert_eq!(end.links_lost, start.links_lost);
}

#[test]
fn requests_without_a_failure_answer_are_dropped_over_their_bounds() {
    let cluster = TestCluster::start();
    let alice = cluster.create_user("a");
    let bob = cluster.create_user("b");
    let a = cluster.login(0, &alice);
    let b = cluster.login(0, &bob);
    let start = cluster.msg_counters(0);

    a.change_avatar(&"a".repeat(256)).unwrap();
    let stat = tt_client::pb::buddy::ImUsersStatReq {
        user_id: alice.id,
        user_id_list: vec![bob.id; 50_001],
        attach_data: None,
    };
    a.send(CommandId::BuddyListUsersStatusRequest, &stat)
        .unwrap();
    let by_id = tt_client::pb::message::ImGetMsgByIdReq {
        user_id: alice.id,
        session_type: tt_client::pb::base_define::SessionType::Single as i32,
        session_id: bob.id,
        msg_id_list: (1..=201).collect(),
        attach_data: None,
    };
    a.send(CommandId::MsgGetByMsgIdReq, &by_id).unwrap();
    let groups = tt_client::pb::group::ImGroupInfoListReq {
        user_id: alice.id,
        group_version_list: (1..=501)
            .map(|group_id| tt_client::pb::base_define::GroupVersionInfo {
                group_id,
                version: 0,
            })
            .collect(),
        attach_data: None,
    };
    a.send(CommandId::GroupInfoRequest, &groups).unwrap();
    let long_task = "t".repeat(65);
    a.add_offline_file(bob.id, &long_task, "f.txt", 10).unwrap();
    a.del_offline_file(alice.id, bob.id, &long_task).unwrap();

    // The same requests within their bounds are answered; the oversized ones never were.
    assert_eq!(a.users_status(&[bob.id]).unwrap().user_stat_list.len(), 1);
    a.messages_by_id(
        tt_client::pb::base_define::SessionType::Single,
        bob.id,
        &[1],
    )
    .unwrap();
    a.group_info(&[]).unwrap();
    chat_round(&a, &b, bob.id, "sync");
    let answers = [
        CommandId::BuddyListUsersStatusResponse,
        CommandId::MsgGetByMsgIdRes,
        CommandId::GroupInfoResponse,
    ];
    assert!(
        a.drain_events()
            .iter()
            .all(|p| !answers.contains(&p.command().unwrap())),
        "an oversized request was answered"
    );
    assert!(
        b.drain_events()
            .iter()
            .all(|p| p.command() != Some(CommandId::FileNotify)),
        "an oversized offline file was announced"
    );
    let mut db = cluster.fixtures().mysql();
    let files: Vec<u32> = db
        .exec(
            "SELECT id FROM IMTransmitFile WHERE fromId = ?",
            (alice.id,),
        )
        .unwrap();
    assert!(files.is_empty());
    let end = cluster.msg_counters(0);
    assert_eq!(end.dropped - start.dropped, 6);
    assert_eq!(end.refused, start.refused);
}

#[test]
fn a_client_repeating_oversized_requests_is_closed() {
    let cluster = TestCluster::start();
    let mallory = cluster.create_user("m");
    let alice = cluster.create_user("a");
    let m = cluster.login(0, &mallory);
    let a = cluster.login(0, &alice);
    let before = cluster.msg_counters(0);
    for _ in 0..msg_server::limits::MAX_VIOLATIONS {
        let big = Imp2pCmdMsg {
            from_user_id: mallory.id,
            to_user_id: alice.id,
            cmd_msg_data: "p".repeat(5000),
        };
        if m.send(CommandId::SwitchP2pCmd, &big).is_err() {
            break;
        }
    }
    m.wait_closed(WAIT).unwrap();
    let after = cluster.msg_counters(0);
    assert_eq!(
        after.abusive_clients_closed - before.abusive_clients_closed,
        1
    );
    a.ping(WAIT).unwrap();
    assert!(
        a.drain_events()
            .iter()
            .all(|p| p.command() != Some(CommandId::SwitchP2pCmd))
    );
}

#[test]
fn group_member_lists_over_the_cap_are_refused_without_forwarding() {
    let cluster = TestCluster::start();
    let alice = cluster.create_user("a");
    let bob = cluster.create_user("b");
    let a = cluster.login(0, &alice);
    let gid = cluster.create_group("capped", alice.id, &[alice.id, bob.id], 2);

    let many: Vec<u32> = (1..=501).map(|i| 4_000_000_000 + i).collect();
    let rsp = a.create_group("too many", "", &many).unwrap();
    assert_eq!((rsp.result_code, rsp.group_id), (1, None));
    let rsp = a
        .change_group_members(gid, GroupModifyType::Add, &many)
        .unwrap();
    assert_eq!((rsp.result_code, rsp.group_id), (1, gid));

    let mut db = cluster.fixtures().mysql();
    let created: Vec<u32> = db
        .exec("SELECT id FROM IMGroup WHERE creator = ?", (alice.id,))
        .unwrap();
    assert_eq!(created, [gid], "no group was created");
    let members: Vec<u32> = db
        .exec(
            "SELECT userId FROM IMGroupMember WHERE groupId = ? ORDER BY userId",
            (gid,),
        )
        .unwrap();
    assert_eq!(members, [alice.id, bob.id]);
    assert_eq!(cluster.msg_counters(0).refused, 2);
}

#[test]
fn the_member_cap_follows_the_conf() {
    let cluster = TestCluster::start_with_msg_conf(&[("MaxGroupMembersPerRequest", "2")]);
    let alice = cluster.create_user("a");
    let bob = cluster.create_user("b");
    let carol = cluster.create_user("c");
    let a = cluster.login(0, &alice);
    let rsp = a
        .create_group("three", "", &[alice.id, bob.id, carol.id])
        .unwrap();
    assert_eq!(rsp.result_code, 1);
    let rsp = a.create_group("two", "", &[alice.id, bob.id]).unwrap();
    assert_eq!(rsp.result_code, 0);
    cluster.fixtures().adopt_group(rsp.group_id.unwrap());
}

#[test]
fn registration_is_refused_unless_the_conf_enables_it() {
    let cluster = TestCluster::start();
    let name = testkit::unique_name("reg");
    let client = cluster.connect(0);
    let rsp = regist(&client, &name);
    assert_eq!((rsp.result_code, rsp.user_id), (6, None));
    assert_eq!(rsp.user_name, name);
    assert_eq!(users_named(&cluster, &name), 0);
    assert_eq!(cluster.msg_counters(0).registrations_refused, 1);
    client.ping(WAIT).unwrap();
}

#[test]
fn a_registration_flood_from_one_address_is_refused_after_the_rate() {
    let cluster = TestCluster::start_with_msg_conf(&[
        ("EnableRegistration", "1"),
        ("RegistrationsPerMinute", "2"),
    ]);
    let client = cluster.connect(0);
    for _ in 0..2 {
        let name = testkit::unique_name("reg");
        let rsp = regist(&client, &name);
        assert_eq!(rsp.result_code, 0, "{:?}", rsp.result_string);
        cluster.fixtures().adopt_user(rsp.user_id.unwrap());
    }
    // Further ones, on any connection from the same address, are refused for this minute.
    for c in [&client, &cluster.connect(0)] {
        let name = testkit::unique_name("reg");
        let rsp = regist(c, &name);
        assert_eq!((rsp.result_code, rsp.user_id), (2, None));
        assert_eq!(users_named(&cluster, &name), 0);
    }
    // Field bounds apply before anything is stored.
    let other = cluster.connect(1);
    let rsp = regist(&other, &"n".repeat(33));
    assert_eq!(rsp.result_code, 6);
    let counters = cluster.msg_counters(0);
    assert_eq!(
        (counters.registrations_refused, counters.rate_limited),
        (2, 2)
    );
}

#[test]
fn signature_spam_is_refused_over_the_per_user_rate() {
    let cluster = TestCluster::start_with_msg_conf(&[("ProfileChangesPerMinute", "3")]);
    let alice = cluster.create_user("a");
    let bob = cluster.create_user("b");
    let a = cluster.login(0, &alice);
    let b = cluster.login(1, &bob);
    for i in 0..3 {
        let rsp = a.change_sign_info(&format!("sign {i}")).unwrap();
        assert_eq!(rsp.result_code, 0);
    }
    // The rate is per user: alice's phone is refused too.
    let a2 = cluster.login_as(0, &alice, ClientType::Android);
    for c in [&a, &a2] {
        let rsp = c.change_sign_info("spam").unwrap();
        assert_eq!(rsp.result_code, 1);
    }
    assert_eq!(sign_info_in_db(&cluster, &alice), "sign 2");
    // bob hears of the three accepted changes only.
    for i in 0..3 {
        let n: ImSignInfoChangedNotify = b
            .wait_for_parsed(CommandId::BuddyListSignInfoChangedNotify, WAIT)
            .unwrap();
        assert_eq!(n.sign_info, format!("sign {i}"));
    }
    b.ping(WAIT).unwrap();
    chat_round(&a, &b, bob.id, "sync");
    assert!(
        b.drain_events()
            .iter()
            .all(|p| p.command() != Some(CommandId::BuddyListSignInfoChangedNotify))
    );
    let counters = cluster.msg_counters(0);
    assert_eq!((counters.rate_limited, counters.refused), (2, 2));
}

#[test]
fn invalid_device_tokens_are_not_stored() {
    let cluster = TestCluster::start();
    let ios_user = cluster.create_user("i");
    let android_user = cluster.create_user("d");
    let ios = cluster.login_as(0, &ios_user, ClientType::Ios);
    let android = cluster.login_as(0, &android_user, ClientType::Android);
    let bad_ios = "zz".repeat(32);
    let bad_android = "token with spaces";
    for (c, token) in [(&ios, bad_ios.as_str()), (&android, bad_android)] {
        let req = tt_client::pb::login::ImDeviceTokenReq {
            user_id: c.user_id(),
            device_token: token.to_owned(),
            client_type: None,
            attach_data: None,
        };
        c.send(CommandId::LoginReqDevicetoken, &req).unwrap();
    }
    // A valid token afterwards is stored; db_proxy answers a later request on the same link
    // only after it, so once all_users returns the store is done.
    ios.set_device_token(IOS_TOKEN).unwrap();
    ios.all_users(u32::MAX).unwrap();
    android.all_users(u32::MAX).unwrap();
    let mut redis = cluster.fixtures().redis(REDIS_DB_TOKEN);
    let get = |redis: &mut redis::Connection, key: String| -> Option<String> {
        redis::cmd("GET").arg(key).query(redis).unwrap()
    };
    assert_eq!(
        get(&mut redis, format!("device_{}", ios_user.id)),
        Some(format!("ios:{IOS_TOKEN}"))
    );
    assert_eq!(get(&mut redis, format!("device_{bad_ios}")), None);
    assert_eq!(get(&mut redis, format!("device_{}", android_user.id)), None);
    assert_eq!(get(&mut redis, format!("device_{bad_android}")), None);
    let counters = cluster.msg_counters(0);
    assert_eq!((counters.bad_device_tokens, counters.dropped), (2, 2));
    let _: () = redis::cmd("DEL")
        .arg(format!("device_{}", ios_user.id))
        .arg(format!("device_{IOS_TOKEN}"))
        .query(&mut redis)
        .unwrap();
}
