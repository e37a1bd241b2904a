//! Hostile or odd input over a real link: NULL columns, oversized lists, messages to ids that
//! do not exist, device tokens claimed by another user, answers too large for one PDU, a link
//! that sends faster than it is served, and the user-0 admin path.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use mysql::prelude::Queryable;
use teamtalk_proto::CommandId;
use teamtalk_proto::pb::base_define::{GroupVersionInfo, UserInfo};
use teamtalk_proto::pb::buddy::{
    ImAllUserReq, ImAllUserRsp, ImRecentContactSessionReq, ImRecentContactSessionRsp,
    ImUsersInfoReq, ImUsersInfoRsp,
};
use teamtalk_proto::pb::group::{
    ImGroupChangeMemberReq, ImGroupChangeMemberRsp, ImGroupCreateReq, ImGroupCreateRsp,
    ImGroupInfoListReq, ImGroupInfoListRsp,
};
use teamtalk_proto::pb::login::{ImDeviceTokenReq, ImDeviceTokenRsp};
use teamtalk_proto::pb::message::{
    ImGetMsgListReq, ImGetMsgListRsp, ImMsgData, ImUnreadMsgCntReq, ImUnreadMsgCntRsp,
};
use teamtalk_proto::pb::server::{ImClearDeviceTokenReq, ImGetDeviceTokenReq, ImGetDeviceTokenRsp};

const SINGLE_TEXT: i32 = 1;
const SINGLE_AUDIO: i32 = 2;

fn msg(from: u32, to: u32, msg_type: i32, data: Vec<u8>) -> ImMsgData {
    ImMsgData {
        from_user_id: from,
        to_session_id: to,
        msg_id: 0,
        create_time: now(),
        msg_type,
        msg_data: data,
        attach_data: attach(from),
    }
}

fn send_msg(link: &mut Link, from: u32, to: u32, data: Vec<u8>) -> u32 {
    let rsp: ImMsgData = link.call(
        CommandId::MsgData,
        &msg(from, to, SINGLE_TEXT, data),
        CommandId::MsgData,
    );
    rsp.msg_id
}

fn history(link: &mut Link, user: u32, peer: u32, cnt: u32) -> ImGetMsgListRsp {
    link.call(
        CommandId::MsgListRequest,
        &ImGetMsgListReq {
            user_id: user,
            session_type: 1,
            session_id: peer,
            msg_id_begin: 0,
            msg_cnt: cnt,
            attach_data: attach(3),
        },
        CommandId::MsgListResponse,
    )
}

fn relation(db: &mut mysql::Conn, a: u32, b: u32) -> u32 {
    db.exec_first(
        "SELECT id FROM IMRelationShip WHERE smallId = ? AND bigId = ? ORDER BY id DESC",
        (a.min(b), a.max(b)),
    )
    .unwrap()
    .unwrap()
}

#[test]
fn null_columns_read_as_empty_or_zero() {
    let mut db = db();
    let ids = create_users(&mut db, &unique("nul"), 3);
    let (a, b, c) = (ids[0], ids[1], ids[2]);
    // Nullable columns of IMUser: avatar (already NULL from the fixture) and status.
    db.exec_drop("UPDATE IMUser SET status = NULL WHERE id = ?", (b,))
        .unwrap();
    // Sessions whose nullable status is NULL, before any message: the store path looks them
    // up (nothing is cached in a fresh server).
    for (user, peer) in [(a, c), (c, a)] {
        db.exec_drop(
            "INSERT INTO IMRecentSession (userId, peerId, type, status, created, updated) \
             VALUES (?, ?, 1, NULL, ?, ?)",
            (user, peer, now(), now()),
        )
        .unwrap();
    }
    let server = start();
    let mut link = Link::to(&server);

    let rsp: ImUsersInfoRsp = link.call(
        CommandId::BuddyListUserInfoRequest,
        &ImUsersInfoReq {
            user_id: a,
            user_id_list: vec![a, b],
            attach_data: attach(1),
        },
        CommandId::BuddyListUserInfoResponse,
    );
    assert_eq!(rsp.user_info_list.len(), 2);
    for u in &rsp.user_info_list {
        assert_eq!(u.avatar_url, "");
        assert_eq!(u.status, 0);
    }
    let rsp: ImAllUserRsp = link.call(
        CommandId::BuddyListAllUserRequest,
        &ImAllUserReq {
            user_id: a,
            latest_update_time: now().saturating_sub(60),
            attach_data: attach(2),
        },
        CommandId::BuddyListAllUserResponse,
    );
    let got_b = rsp.user_list.iter().find(|u| u.user_id == b).unwrap();
    assert_eq!((got_b.status, got_b.avatar_url.as_str()), (0, ""));

    // A message to c finds the NULL-status sessions and is stored.
    assert_ne!(send_msg(&mut link, a, c, text("to c")), 0);
    // Message content NULL (IMMessage_*.content is nullable), and an audio message whose
    // IMAudio.path is NULL.
    assert_eq!(send_msg(&mut link, a, b, text("one")), 1);
    let relate = relation(&mut db, a, b);
    let table = format!("IMMessage_{}", relate % 8);
    db.exec_drop(
        format!("UPDATE {table} SET content = NULL WHERE relateId = ?"),
        (relate,),
    )
    .unwrap();
    db.exec_drop(
        "INSERT INTO IMAudio (fromId, toId, path, size, duration, created) \
         VALUES (?, ?, NULL, 10, 3, ?)",
        (a, b, now()),
    )
    .unwrap();
    let audio_id = db.last_insert_id();
    db.exec_drop(
        format!(
            "INSERT INTO {table} (relateId, fromId, toId, msgId, content, type, status, \
             created, updated) VALUES (?, ?, ?, 0, ?, ?, 0, ?, ?)"
        ),
        (
            relate,
            a,
            b,
            audio_id.to_string(),
            SINGLE_AUDIO,
            now().saturating_sub(100),
            now(),
        ),
    )
    .unwrap();

    let page = history(&mut link, b, a, 10);
    assert_eq!(page.msg_list.len(), 2);
    let text_msg = page.msg_list.iter().find(|m| m.msg_id == 1).unwrap();
    assert!(text_msg.msg_data.is_empty());
    let audio = page.msg_list.iter().find(|m| m.msg_id == 0).unwrap();
    assert_eq!(audio.msg_data, audio_id.to_string().into_bytes());

    let rsp: ImUnreadMsgCntRsp = link.call(
        CommandId::MsgUnreadCntRequest,
        &ImUnreadMsgCntReq {
            user_id: b,
            attach_data: attach(4),
        },
        CommandId::MsgUnreadCntResponse,
    );
    let entry = rsp.unreadinfo_list.iter().find(|u| u.session_id == a);
    assert!(entry.is_some_and(|u| u.latest_msg_data.is_empty() && u.latest_msg_id == 1));
    let rsp: ImRecentContactSessionRsp = link.call(
        CommandId::BuddyListRecentContactSessionRequest,
        &ImRecentContactSessionReq {
            user_id: b,
            latest_update_time: 0,
            attach_data: attach(5),
        },
        CommandId::BuddyListRecentContactSessionResponse,
    );
    assert!(
        rsp.contact_session_list
            .iter()
            .any(|s| s.session_id == a && s.latest_msg_data.is_empty())
    );
    // The link is still served.
    assert_ne!(send_msg(&mut link, b, a, text("still here")), 0);
}

fn create_group(link: &mut Link, creator: u32, name: &str, members: Vec<u32>) -> ImGroupCreateRsp {
    link.call(
        CommandId::GroupCreateRequest,
        &ImGroupCreateReq {
            user_id: creator,
            group_type: 1,
            group_name: name.to_owned(),
            group_avatar: String::new(),
            member_id_list: members,
            attach_data: attach(11),
        },
        CommandId::GroupCreateResponse,
    )
}

fn change_members(link: &mut Link, user: u32, gid: u32, ids: Vec<u32>) -> ImGroupChangeMemberRsp {
    link.call(
        CommandId::GroupChangeMemberRequest,
        &ImGroupChangeMemberReq {
            user_id: user,
            change_type: 1,
            group_id: gid,
            member_id_list: ids,
            attach_data: attach(12),
        },
        CommandId::GroupChangeMemberResponse,
    )
}

fn group_rows(db: &mut mysql::Conn, name: &str) -> usize {
    let n: Option<u64> = db
        .exec_first("SELECT COUNT(*) FROM IMGroup WHERE name = ?", (name,))
        .unwrap();
    n.unwrap_or(0) as usize
}

#[test]
fn group_member_lists_over_the_bound_are_refused_whole() {
    let mut db = db();
    let creator = create_user(&mut db, &unique("gb"), "pw", 0);
    let mut config = config("http://127.0.0.1:9");
    config.policy.max_group_members = 20;
    let server = start_with(config);
    let mut link = Link::to(&server);

    let over: Vec<u32> = (1..=21).map(|i| 3_000_000_000 + i).collect();
    let name = unique("big");
    let rsp = create_group(&mut link, creator, &name, over.clone());
    assert_eq!(rsp.result_code, 1);
    assert!(rsp.group_id.is_none() && rsp.user_id_list.is_empty());
    assert_eq!(rsp.attach_data, attach(11));
    assert_eq!(group_rows(&mut db, &name), 0);

    // At the bound: created.
    let name = unique("ok");
    let rsp = create_group(&mut link, creator, &name, over[..20].to_vec());
    assert_eq!(rsp.result_code, 0);
    assert_eq!(rsp.user_id_list.len(), 20);
    let gid = rsp.group_id.unwrap();

    let rsp = change_members(&mut link, creator, gid, (100..121).collect());
    assert_eq!(rsp.result_code, 1);
    assert!(rsp.cur_user_id_list.is_empty() && rsp.chg_user_id_list.is_empty());
    let members: Option<u64> = db
        .exec_first(
            "SELECT COUNT(*) FROM IMGroupMember WHERE groupId = ?",
            (gid,),
        )
        .unwrap();
    assert_eq!(members, Some(20));
    let rsp = change_members(&mut link, creator, gid, vec![creator]);
    assert_eq!(rsp.result_code, 0);
    assert_eq!(rsp.cur_user_id_list.len(), 21);
}

#[test]
fn history_and_id_lists_are_clamped() {
    let mut db = db();
    let ids = create_users(&mut db, &unique("hc"), 2);
    let server = start();
    let mut link = Link::to(&server);
    for i in 0..3 {
        assert_ne!(
            send_msg(&mut link, ids[0], ids[1], text(&format!("m{i}"))),
            0
        );
    }
    assert_eq!(
        history(&mut link, ids[1], ids[0], u32::MAX).msg_list.len(),
        3
    );
    // 600 ids asked, the two real users among the first 500 answered, the rest ignored.
    let mut asked: Vec<u32> = (0..600).map(|i| 4_000_000_000 + i).collect();
    asked[0] = ids[0];
    asked[550] = ids[1];
    let rsp: ImUsersInfoRsp = link.call(
        CommandId::BuddyListUserInfoRequest,
        &ImUsersInfoReq {
            user_id: ids[0],
            user_id_list: asked,
            attach_data: attach(1),
        },
        CommandId::BuddyListUserInfoResponse,
    );
    let got: Vec<u32> = rsp.user_info_list.iter().map(|u| u.user_id).collect();
    assert_eq!(got, [ids[0]]);
}

/// An id no test user has: far above the auto-increment ids of the test database.
fn fake_id() -> u32 {
    3_900_000_000 + rand::random::<u32>() % 100_000_000
}

#[test]
fn messages_to_unknown_users_or_groups_are_refused_without_traces() {
    let mut db = db();
    let ids = create_users(&mut db, &unique("unk"), 2);
    let (a, b) = (ids[0], ids[1]);
    let (ghost, ghost_group) = (fake_id(), fake_id());
    let msfs = FakeMsfs::start();
    let server = start_with(config(&msfs.site));
    let mut link = Link::to(&server);

    // Pipelined, so the refused messages share a batch with a good one.
    let seqs = [
        link.send(CommandId::MsgData, &msg(a, ghost, SINGLE_TEXT, text("x"))),
        link.send(CommandId::MsgData, &msg(ghost, a, SINGLE_TEXT, text("x"))),
        link.send(CommandId::MsgData, &msg(a, b, SINGLE_TEXT, text("ok"))),
        link.send(CommandId::MsgData, &msg(a, ghost_group, 0x11, text("x"))),
    ];
    let answers: Vec<ImMsgData> = seqs
        .iter()
        .map(|&seq| {
            let pdu = link.recv();
            assert_eq!(pdu.header.seq_num, seq);
            pdu.parse().unwrap()
        })
        .collect();
    let msg_ids: Vec<u32> = answers.iter().map(|m| m.msg_id).collect();
    assert_eq!(msg_ids, [0, 0, 1, 0]);
    assert_eq!(answers[0].to_session_id, ghost);

    let count = |db: &mut mysql::Conn, sql: &str, u: u32| -> u64 {
        db.exec_first::<u64, _, _>(sql, (u, u))
            .unwrap()
            .unwrap_or(0)
    };
    assert_eq!(
        count(
            &mut db,
            "SELECT COUNT(*) FROM IMRelationShip WHERE smallId = ? OR bigId = ?",
            ghost
        ),
        0
    );
    assert_eq!(
        count(
            &mut db,
            "SELECT COUNT(*) FROM IMRecentSession WHERE userId = ? OR peerId = ?",
            ghost
        ),
        0
    );
    assert_eq!(
        count(
            &mut db,
            "SELECT COUNT(*) FROM IMRecentSession WHERE peerId = ? AND type = 2 AND ? > 0",
            ghost_group
        ),
        0
    );
    let mut unread = redis(DB_UNREAD);
    for key in [
        format!("unread_{ghost}"),
        format!("group_msg_id_{ghost_group}"),
        format!("msg_id_{ghost}"),
    ] {
        let exists: bool = redis::cmd("EXISTS").arg(&key).query(&mut unread).unwrap();
        assert!(!exists, "{key} written");
    }
    let unread_a: Option<String> = redis::cmd("HGET")
        .arg(format!("unread_{a}"))
        .arg(ghost)
        .query(&mut unread)
        .unwrap();
    assert!(unread_a.is_none());
    let exists: bool = redis::cmd("EXISTS")
        .arg(format!("group_member_{ghost_group}"))
        .query(&mut redis(DB_GROUP_MEMBER))
        .unwrap();
    assert!(!exists);

    // Known users keep being served, from the cache as well.
    assert_eq!(send_msg(&mut link, b, a, text("back")), 2);
    assert_eq!(send_msg(&mut link, a, ghost, text("again")), 0);
    // Audio for nobody is not even uploaded.
    let rsp: ImMsgData = link.call(
        CommandId::MsgData,
        &msg(a, ghost, SINGLE_AUDIO, vec![0, 0, 0, 1, 9, 9]),
        CommandId::MsgData,
    );
    assert_eq!(rsp.msg_id, 0);
    assert!(msfs.files.lock().unwrap().is_empty());
}

fn set_token(link: &mut Link, user: u32, token: &str, client_type: i32) {
    let rsp: ImDeviceTokenRsp = link.call(
        CommandId::LoginReqDevicetoken,
        &ImDeviceTokenReq {
            user_id: user,
            device_token: token.to_owned(),
            client_type: Some(client_type),
            attach_data: attach(user),
        },
        CommandId::LoginResDevicetoken,
    );
    assert_eq!(rsp.user_id, user);
}

fn pushed_tokens(link: &mut Link, users: Vec<u32>) -> Vec<(u32, String)> {
    let rsp: ImGetDeviceTokenRsp = link.call(
        CommandId::OtherGetDeviceTokenReq,
        &ImGetDeviceTokenReq {
            user_id: users,
            attach_data: None,
        },
        CommandId::OtherGetDeviceTokenRsp,
    );
    rsp.user_token_info
        .into_iter()
        .map(|t| (t.user_id, t.token))
        .collect()
}

#[test]
fn a_user_never_overwrites_or_clears_another_users_token_entry() {
    const ANDROID: i32 = 0x12;
    let mut db = db();
    let ids = create_users(&mut db, &unique("tk"), 2);
    let (a, b) = (ids[0], ids[1]);
    let server = start();
    let mut link = Link::to(&server);
    let mut r = redis(DB_TOKEN);
    let get = |r: &mut redis::Connection, key: String| -> Option<String> {
        redis::cmd("GET").arg(key).query(r).unwrap()
    };
    let t1 = unique("t1-");
    set_token(&mut link, a, &t1, ANDROID);
    assert_eq!(
        get(&mut r, format!("device_{a}")),
        Some(format!("android:{t1}"))
    );

    // A token of digits names a user entry (`device_<a>`): refused, nothing written.
    set_token(&mut link, b, &a.to_string(), ANDROID);
    assert_eq!(
        get(&mut r, format!("device_{a}")),
        Some(format!("android:{t1}"))
    );
    assert_eq!(get(&mut r, format!("device_{b}")), None);
    // So is an oversized one.
    set_token(&mut link, b, &"x".repeat(4096), ANDROID);
    assert_eq!(get(&mut r, format!("device_{b}")), None);

    // b takes over a's device: the token entry moves to b, a's own entry is left alone, and
    // pushes for a no longer reach the device.
    set_token(&mut link, b, &t1, ANDROID);
    assert_eq!(get(&mut r, format!("device_{t1}")), Some(b.to_string()));
    assert_eq!(
        get(&mut r, format!("device_{a}")),
        Some(format!("android:{t1}"))
    );
    assert_eq!(pushed_tokens(&mut link, vec![a, b]), [(b, t1.clone())]);

    // a registers a new device: the old token entry belongs to b now and stays b's.
    let t2 = unique("t2-");
    set_token(&mut link, a, &t2, ANDROID);
    assert_eq!(get(&mut r, format!("device_{t1}")), Some(b.to_string()));
    assert_eq!(get(&mut r, format!("device_{t2}")), Some(a.to_string()));
    let mut pushed = pushed_tokens(&mut link, vec![a, b]);
    pushed.sort();
    assert_eq!(pushed, [(a, t2.clone()), (b, t1.clone())]);

    // Replacing its own token deletes the old entry; logging out deletes the current one.
    let t3 = unique("t3-");
    set_token(&mut link, a, &t3, ANDROID);
    assert_eq!(get(&mut r, format!("device_{t2}")), None);
    set_token(&mut link, a, "", ANDROID);
    assert_eq!(get(&mut r, format!("device_{a}")), Some(String::new()));
    assert_eq!(get(&mut r, format!("device_{t3}")), None);
    assert_eq!(get(&mut r, format!("device_{t1}")), Some(b.to_string()));
    assert_eq!(
        get(&mut r, format!("device_{b}")),
        Some(format!("android:{t1}"))
    );
}

/// push_server's clear request for a token a provider called dead (0x0713, no answer); the
/// token query that follows on the same link is answered after it.
fn clear_token(link: &mut Link, user: u32, token: &str) {
    link.send(
        CommandId::OtherClearDeviceTokenReq,
        &ImClearDeviceTokenReq {
            user_id: user,
            device_token: token.to_owned(),
        },
    );
}

#[test]
fn a_dead_token_is_cleared_only_while_it_is_still_the_users_token() {
    const IOS: i32 = 0x11;
    let mut db = db();
    let ids = create_users(&mut db, &unique("dt"), 2);
    let (a, b) = (ids[0], ids[1]);
    let server = start();
    let mut link = Link::to(&server);
    let mut r = redis(DB_TOKEN);
    let get = |r: &mut redis::Connection, key: String| -> Option<String> {
        redis::cmd("GET").arg(key).query(r).unwrap()
    };
    // 64 hex digits with letters in them: a token of decimal digits only is refused (it
    // would name a user entry), and a bare hex number of a user id can be one.
    let old = format!("ab{:062x}", u64::from(a) * 7919);
    let new = format!("ab{:062x}", u64::from(a) * 7919 + 1);

    // The user registered a new device since the push: the new token survives the clear.
    set_token(&mut link, a, &old, IOS);
    set_token(&mut link, a, &new, IOS);
    clear_token(&mut link, a, &old);
    assert_eq!(pushed_tokens(&mut link, vec![a]), [(a, new.clone())]);
    assert_eq!(
        get(&mut r, format!("device_{a}")),
        Some(format!("ios:{new}"))
    );
    assert_eq!(get(&mut r, format!("device_{new}")), Some(a.to_string()));

    // Still the user's token: cleared, and the user is no longer pushed.
    clear_token(&mut link, a, &new);
    assert_eq!(pushed_tokens(&mut link, vec![a]), []);
    assert_eq!(get(&mut r, format!("device_{a}")), Some(String::new()));
    assert_eq!(get(&mut r, format!("device_{new}")), None);

    // Another user claimed the device meanwhile: a's entry is cleared, b's claim stays.
    set_token(&mut link, a, &old, IOS);
    set_token(&mut link, b, &old, IOS);
    clear_token(&mut link, a, &old);
    assert_eq!(pushed_tokens(&mut link, vec![a, b]), [(b, old.clone())]);
    assert_eq!(get(&mut r, format!("device_{a}")), Some(String::new()));
    assert_eq!(get(&mut r, format!("device_{old}")), Some(b.to_string()));
    assert_eq!(
        get(&mut r, format!("device_{b}")),
        Some(format!("ios:{old}"))
    );

    // A user without a token, or a clear naming nothing: no change, no answer.
    let nobody = b + 1_000_000;
    clear_token(&mut link, nobody, &old);
    clear_token(&mut link, b, "");
    link.expect_silence(std::time::Duration::from_millis(200));
    assert_eq!(get(&mut r, format!("device_{nobody}")), None);
    assert_eq!(pushed_tokens(&mut link, vec![b]), [(b, old)]);
}

/// Deletes the users named `<prefix>%` when dropped, so the bulk rows of a test do not swell
/// other tests' all-user answers, even when the test fails.
struct UsersGone(String);

impl Drop for UsersGone {
    fn drop(&mut self) {
        let _ = db().exec_drop(
            "DELETE FROM IMUser WHERE name LIKE CONCAT(?, '%')",
            (&self.0,),
        );
    }
}

/// The next answer, checked to fit the frame limit (the test link decodes with it too).
fn recv_fitting(link: &mut Link, seq: u16) -> teamtalk_proto::Pdu {
    let pdu = link.recv();
    assert_eq!(pdu.header.seq_num, seq);
    assert!(pdu.len() <= teamtalk_proto::DEFAULT_MAX_PDU_LEN);
    pdu
}

#[test]
fn an_all_user_answer_too_large_for_a_frame_comes_in_parts() {
    const USERS: u32 = 9000;
    let mut db = db();
    let prefix = unique("big");
    let _gone = UsersGone(prefix.clone());
    // Resigned users (left out of full syncs) with times long past and every column long:
    // together well over 4 MiB.
    let base = 1_000_000 + rand::random::<u32>() % 1_000_000;
    let long = |n: usize| "x".repeat(n);
    for chunk in (0..USERS).collect::<Vec<_>>().chunks(500) {
        let rows = vec!["(1, ?, 'd', ?, '', '', '', ?, ?, 1, 3, ?, ?, 0, ?)"; chunk.len()];
        let mut params: Vec<mysql::Value> = Vec::new();
        for &i in chunk {
            params.extend([
                format!("{prefix}_{i}").into(),
                long(32).into(),
                long(64).into(),
                long(255).into(),
                (base + i).into(),
                (base + i).into(),
                long(128).into(),
            ]);
        }
        db.exec_drop(
            format!(
                "INSERT INTO IMUser (sex, name, domain, nick, password, salt, phone, email, \
                 avatar, departId, status, created, updated, push_shield_status, sign_info) \
                 VALUES {}",
                rows.join(",")
            ),
            params,
        )
        .unwrap();
    }
    let server = start();
    let mut link = Link::to(&server);

    let mut seen = std::collections::HashSet::new();
    let mut since = base;
    let mut answers = 0;
    while seen.len() < USERS as usize {
        answers += 1;
        assert!(answers <= 4, "no progress: seen={}", seen.len());
        let req = ImAllUserReq {
            user_id: 1,
            latest_update_time: since,
            attach_data: attach(9),
        };
        let seq = link.send(CommandId::BuddyListAllUserRequest, &req);
        let rsp: ImAllUserRsp = recv_fitting(&mut link, seq).parse().unwrap();
        assert_eq!(rsp.attach_data, attach(9));
        let ours: Vec<&UserInfo> = rsp
            .user_list
            .iter()
            .filter(|u| u.user_real_name.starts_with(&prefix))
            .collect();
        if answers == 1 {
            // Cut, oldest first, and the time says where to go on from.
            assert!(ours.len() < USERS as usize, "not clamped");
            assert!(!ours.is_empty());
            let last: u32 = ours
                .iter()
                .map(|u| {
                    u.user_real_name
                        .rsplit('_')
                        .next()
                        .unwrap()
                        .parse()
                        .unwrap()
                })
                .max()
                .unwrap();
            assert_eq!(rsp.latest_update_time, base + last);
        }
        seen.extend(ours.iter().map(|u| u.user_id));
        since = rsp.latest_update_time;
    }
    assert!(answers >= 2);
    // The link is still open and served.
    let rsp: ImUsersInfoRsp = link.call(
        CommandId::BuddyListUserInfoRequest,
        &ImUsersInfoReq {
            user_id: 1,
            user_id_list: seen.iter().copied().take(2).collect(),
            attach_data: None,
        },
        CommandId::BuddyListUserInfoResponse,
    );
    assert_eq!(rsp.user_info_list.len(), 2);
}

#[test]
fn a_history_page_too_large_for_a_frame_is_cut_and_the_rest_pages_on() {
    const MSGS: usize = 40;
    let msfs = FakeMsfs::start();
    let mut db = db();
    let ids = create_users(&mut db, &unique("bh"), 2);
    let (a, b) = (ids[0], ids[1]);
    let server = start_with(config(&msfs.site));
    let mut link = Link::to(&server);
    let mut audio = vec![0, 0, 0, 7];
    audio.extend(std::iter::repeat_n(0xA5u8, 150 * 1024));
    for _ in 0..MSGS {
        let rsp: ImMsgData = link.call(
            CommandId::MsgData,
            &msg(a, b, SINGLE_AUDIO, audio.clone()),
            CommandId::MsgData,
        );
        assert_ne!(rsp.msg_id, 0);
    }

    let mut got = Vec::new();
    let mut begin = 0;
    while got.len() < MSGS {
        let req = ImGetMsgListReq {
            user_id: b,
            session_type: 1,
            session_id: a,
            msg_id_begin: begin,
            msg_cnt: 100,
            attach_data: attach(3),
        };
        let seq = link.send(CommandId::MsgListRequest, &req);
        let page: ImGetMsgListRsp = recv_fitting(&mut link, seq).parse().unwrap();
        assert!(!page.msg_list.is_empty());
        if begin == 0 {
            assert!(page.msg_list.len() < MSGS, "not clamped");
        }
        assert!(page.msg_list.iter().all(|m| m.msg_data == audio));
        got.extend(page.msg_list.iter().map(|m| m.msg_id));
        begin = page.msg_list.last().unwrap().msg_id - 1;
    }
    got.sort_unstable();
    assert_eq!(got, (1..=MSGS as u32).collect::<Vec<_>>());
    assert_ne!(send_msg(&mut link, b, a, text("still open")), 0);
}

#[test]
fn a_link_past_its_queue_bound_has_requests_shed_and_stays_open() {
    let mut db = db();
    let user = create_user(&mut db, &unique("qb"), "pw", 0);
    let mut config = config("http://127.0.0.1:9");
    config.policy.link_queue.requests = 5;
    let server = start_with(config);
    let mut link = Link::to(&server);

    // A burst far past the bound, written at once.
    const BURST: usize = 3000;
    let req = ImUsersInfoReq {
        user_id: user,
        user_id_list: vec![user],
        attach_data: None,
    };
    let mut bytes = Vec::new();
    for seq in 1..=BURST as u16 {
        bytes.extend(
            teamtalk_proto::Pdu::new(CommandId::BuddyListUserInfoRequest, seq, &req).encode(),
        );
    }
    link.write_raw(&bytes);
    let mut answered = Vec::new();
    while let Some(pdu) = link.recv_within(std::time::Duration::from_secs(2)) {
        answered.push(pdu.header.seq_num);
    }
    assert!(!answered.is_empty());
    assert!(answered.len() < BURST, "nothing shed");
    // What is answered is answered in request order.
    assert!(answered.windows(2).all(|w| w[0] < w[1]));

    // Drained, the link is served again.
    let rsp: ImUsersInfoRsp = link.call(
        CommandId::BuddyListUserInfoRequest,
        &req,
        CommandId::BuddyListUserInfoResponse,
    );
    assert_eq!(rsp.user_info_list.len(), 1);
}

fn group_info_as(link: &mut Link, user: u32, gid: u32) -> ImGroupInfoListRsp {
    link.call(
        CommandId::GroupInfoRequest,
        &ImGroupInfoListReq {
            user_id: user,
            group_version_list: vec![GroupVersionInfo {
                group_id: gid,
                version: 0,
            }],
            attach_data: None,
        },
        CommandId::GroupInfoResponse,
    )
}

#[test]
fn user_zero_is_the_admin_only_on_links_from_admin_peer_ips() {
    let mut db = db();
    let ids = create_users(&mut db, &unique("adm"), 4);
    let (owner, member, c, d) = (ids[0], ids[1], ids[2], ids[3]);
    let setup = start();
    let mut link = Link::to(&setup);
    let gid = create_group(&mut link, owner, &unique("g"), vec![owner, member])
        .group_id
        .unwrap();
    drop(link);
    drop(setup);

    // No AdminPeerIPs (the default), or one that is not this link's address: user 0 is an
    // ordinary id, neither creator nor member.
    for admins in [vec![], vec!["10.255.255.1".parse().unwrap()]] {
        let mut config = config("http://127.0.0.1:9");
        config.policy.admin_peers = admins;
        let server = start_with(config);
        let mut link = Link::to(&server);
        let rsp = change_members(&mut link, 0, gid, vec![c]);
        assert_eq!(rsp.result_code, 1);
        assert!(group_info_as(&mut link, 0, gid).group_info_list.is_empty());
        // The owner is unaffected.
        assert_eq!(
            group_info_as(&mut link, owner, gid).group_info_list.len(),
            1
        );
    }

    // From an admin address, user 0 may change and see any group.
    let mut config = config("http://127.0.0.1:9");
    config.policy.admin_peers = vec!["127.0.0.1".parse().unwrap()];
    let server = start_with(config);
    let mut link = Link::to(&server);
    let rsp = change_members(&mut link, 0, gid, vec![d]);
    assert_eq!(rsp.result_code, 0);
    assert_eq!(rsp.chg_user_id_list, [d]);
    let info = group_info_as(&mut link, 0, gid);
    assert_eq!(info.group_info_list.len(), 1);
    assert!(info.group_info_list[0].group_member_list.contains(&d));
    assert!(!info.group_info_list[0].group_member_list.contains(&c));
    // Another user on the admin link gets no privileges from it.
    let rsp = change_members(&mut link, member, gid, vec![c]);
    assert_eq!(rsp.result_code, 1);
}
