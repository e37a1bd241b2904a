//! Message storage and reading over a real link: store (single, group, audio), history, by id,
//! unread counts, read ack, latest id, recent sessions, remove session, msg-id re-seeding.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use mysql::prelude::Queryable;
use redis::Commands;
use teamtalk_proto::CommandId;
use teamtalk_proto::pb::buddy::{
    ImRecentContactSessionReq, ImRecentContactSessionRsp, ImRemoveSessionReq, ImRemoveSessionRsp,
};
use teamtalk_proto::pb::group::{ImGroupCreateReq, ImGroupCreateRsp};
use teamtalk_proto::pb::message::{
    ImGetLatestMsgIdReq, ImGetLatestMsgIdRsp, ImGetMsgByIdReq, ImGetMsgByIdRsp, ImGetMsgListReq,
    ImGetMsgListRsp, ImMsgData, ImMsgDataReadAck, ImUnreadMsgCntReq, ImUnreadMsgCntRsp,
};

const SINGLE_TEXT: i32 = 1;
const SINGLE_AUDIO: i32 = 2;
const GROUP_TEXT: i32 = 0x11;
/// `[语音]` encrypted with the test key (PROTOCOL §7.2 vector).
const AUDIO_PLACEHOLDER: &[u8] = b"QhGXlpFjvMFUNrtl1aaPzA==";

fn send_msg(link: &mut Link, from: u32, to: u32, msg_type: i32, data: Vec<u8>) -> ImMsgData {
    let req = ImMsgData {
        from_user_id: from,
        to_session_id: to,
        msg_id: 0,
        create_time: now(),
        msg_type,
        msg_data: data.clone(),
        attach_data: attach(from),
    };
    let rsp: ImMsgData = link.call(CommandId::MsgData, &req, CommandId::MsgData);
    assert_eq!(rsp.from_user_id, from);
    assert_eq!(rsp.to_session_id, to);
    assert_eq!(rsp.msg_data, data);
    assert_eq!(rsp.create_time, req.create_time);
    assert_eq!(rsp.attach_data, attach(from));
    rsp
}

fn relation(db: &mut mysql::Conn, a: u32, b: u32) -> u32 {
    db.exec_first(
        "SELECT id FROM IMRelationShip WHERE smallId = ? AND bigId = ?",
        (a.min(b), a.max(b)),
    )
    .unwrap()
    .unwrap()
}

fn session_status(db: &mut mysql::Conn, user: u32, peer: u32, kind: u32) -> Option<u32> {
    db.exec_first(
        "SELECT status FROM IMRecentSession WHERE userId = ? AND peerId = ? AND type = ?",
        (user, peer, kind),
    )
    .unwrap()
}

fn history(
    link: &mut Link,
    user: u32,
    kind: i32,
    peer: u32,
    begin: u32,
    cnt: u32,
) -> ImGetMsgListRsp {
    let req = ImGetMsgListReq {
        user_id: user,
        session_type: kind,
        session_id: peer,
        msg_id_begin: begin,
        msg_cnt: cnt,
        attach_data: attach(3),
    };
    let rsp: ImGetMsgListRsp =
        link.call(CommandId::MsgListRequest, &req, CommandId::MsgListResponse);
    assert_eq!(rsp.attach_data, attach(3));
    assert_eq!(
        (rsp.user_id, rsp.session_id, rsp.msg_id_begin),
        (user, peer, begin)
    );
    rsp
}

fn unread(link: &mut Link, user: u32) -> ImUnreadMsgCntRsp {
    let req = ImUnreadMsgCntReq {
        user_id: user,
        attach_data: attach(4),
    };
    let rsp: ImUnreadMsgCntRsp = link.call(
        CommandId::MsgUnreadCntRequest,
        &req,
        CommandId::MsgUnreadCntResponse,
    );
    assert_eq!(rsp.attach_data, attach(4));
    rsp
}

#[test]
fn single_text_messages_are_stored_counted_and_read_back() {
    let mut db = db();
    let p = unique("m");
    let ids = create_users(&mut db, &p, 2);
    let (a, b) = (ids[0], ids[1]);
    let server = start();
    let mut link = Link::to(&server);

    let first = send_msg(&mut link, a, b, SINGLE_TEXT, text("hello"));
    assert_eq!(first.msg_id, 1);
    let second = send_msg(&mut link, a, b, SINGLE_TEXT, text("world"));
    assert_eq!(second.msg_id, 2);
    let reply = send_msg(&mut link, b, a, SINGLE_TEXT, text("hi"));
    assert_eq!(reply.msg_id, 3);

    // Rows, sessions and counters.
    let relate = relation(&mut db, a, b);
    let rows: Vec<(u32, u32, u32, Vec<u8>, u32)> = db
        .exec(
            format!(
                "SELECT fromId, toId, msgId, content, type FROM IMMessage_{} WHERE relateId = ? \
                 ORDER BY id",
                relate % 8
            ),
            (relate,),
        )
        .unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0], (a, b, 1, text("hello"), 1));
    assert_eq!(rows[2].0, b);
    assert_eq!(session_status(&mut db, a, b, 1), Some(0));
    assert_eq!(session_status(&mut db, b, a, 1), Some(0));
    let mut r = redis(DB_UNREAD);
    let unread_b: Option<u32> = r.hget(format!("unread_{b}"), a).unwrap();
    assert_eq!(unread_b, Some(2));
    let seq: u32 = r.get(format!("msg_id_{relate}")).unwrap();
    assert_eq!(seq, 3);

    // A message to oneself is not stored.
    assert_eq!(send_msg(&mut link, a, a, SINGLE_TEXT, text("me")).msg_id, 0);

    // Unread counts for b: one entry, from = the peer.
    let rsp = unread(&mut link, b);
    assert_eq!(rsp.total_cnt, 2);
    assert_eq!(rsp.unreadinfo_list.len(), 1);
    let info = &rsp.unreadinfo_list[0];
    assert_eq!(
        (info.session_id, info.session_type, info.unread_cnt),
        (a, 1, 2)
    );
    assert_eq!((info.latest_msg_id, info.latest_msg_from_user_id), (3, a));
    assert_eq!(info.latest_msg_data, text("hi"));

    // History, newest first; paging from an id; by id; latest id.
    let page = history(&mut link, a, 1, b, 0, 10);
    assert_eq!(
        page.msg_list.iter().map(|m| m.msg_id).collect::<Vec<_>>(),
        [3, 2, 1]
    );
    assert_eq!(page.msg_list[2].msg_data, text("hello"));
    assert_eq!(page.msg_list[2].from_session_id, a);
    assert_eq!(page.msg_list[0].from_session_id, b);
    let page = history(&mut link, b, 1, a, 2, 1);
    assert_eq!(
        page.msg_list.iter().map(|m| m.msg_id).collect::<Vec<_>>(),
        [2]
    );
    let by_id: ImGetMsgByIdRsp = link.call(
        CommandId::MsgGetByMsgIdReq,
        &ImGetMsgByIdReq {
            user_id: a,
            session_type: 1,
            session_id: b,
            msg_id_list: vec![1, 3, 99],
            attach_data: attach(5),
        },
        CommandId::MsgGetByMsgIdRes,
    );
    assert_eq!(
        by_id.msg_list.iter().map(|m| m.msg_id).collect::<Vec<_>>(),
        [3, 1]
    );
    assert_eq!(by_id.attach_data, attach(5));
    let latest: ImGetLatestMsgIdRsp = link.call(
        CommandId::MsgGetLatestMsgIdReq,
        &ImGetLatestMsgIdReq {
            user_id: b,
            session_type: 1,
            session_id: a,
            attach_data: attach(6),
        },
        CommandId::MsgGetLatestMsgIdRsp,
    );
    assert_eq!(latest.latest_msg_id, 3);
    assert_eq!(latest.attach_data, attach(6));

    // Recent sessions: the peer is reported as the sender (D-DB-16).
    let recent: ImRecentContactSessionRsp = link.call(
        CommandId::BuddyListRecentContactSessionRequest,
        &ImRecentContactSessionReq {
            user_id: a,
            latest_update_time: 0,
            attach_data: attach(7),
        },
        CommandId::BuddyListRecentContactSessionResponse,
    );
    assert_eq!(recent.attach_data, attach(7));
    assert_eq!(recent.contact_session_list.len(), 1);
    let s = &recent.contact_session_list[0];
    assert_eq!((s.session_id, s.session_type, s.latest_msg_id), (b, 1, 3));
    assert_eq!(s.latest_msg_from_user_id, b);

    // Read ack clears b's counter, without an answer.
    link.send(
        CommandId::MsgReadAck,
        &ImMsgDataReadAck {
            user_id: b,
            session_id: a,
            msg_id: 3,
            session_type: 1,
        },
    );
    link.expect_silence(Duration::from_millis(300));
    let unread_b: Option<u32> = r.hget(format!("unread_{b}"), a).unwrap();
    assert_eq!(unread_b, None);
    assert_eq!(unread(&mut link, b).total_cnt, 0);

    // Removing the session hides it and clears the counter; a second removal fails.
    let _: () = r.hset(format!("unread_{a}"), b, 5).unwrap();
    let remove = ImRemoveSessionReq {
        user_id: a,
        session_type: 1,
        session_id: b,
        attach_data: attach(8),
    };
    let rsp: ImRemoveSessionRsp = link.call(
        CommandId::BuddyListRemoveSessionReq,
        &remove,
        CommandId::BuddyListRemoveSessionRes,
    );
    assert_eq!(
        (rsp.result_code, rsp.session_id, rsp.session_type),
        (0, b, 1)
    );
    assert_eq!(rsp.attach_data, attach(8));
    assert_eq!(session_status(&mut db, a, b, 1), Some(1));
    let unread_a: Option<u32> = r.hget(format!("unread_{a}"), b).unwrap();
    assert_eq!(unread_a, None);
    let rsp: ImRemoveSessionRsp = link.call(
        CommandId::BuddyListRemoveSessionReq,
        &remove,
        CommandId::BuddyListRemoveSessionRes,
    );
    assert_eq!(rsp.result_code, 1);

    // A new message re-activates the removed session.
    assert_eq!(
        send_msg(&mut link, b, a, SINGLE_TEXT, text("back")).msg_id,
        4
    );
    assert_eq!(session_status(&mut db, a, b, 1), Some(0));
}

#[test]
fn a_removed_session_is_reactivated_by_a_message_while_its_id_is_cached() {
    let mut db = db();
    let ids = create_users(&mut db, &unique("rc"), 2);
    let (a, b) = (ids[0], ids[1]);
    // Two instances on one database, as msg_server spreads links over every DBServerIP.
    let writer = start();
    let other = start();
    let mut link = Link::to(&writer);
    let mut other_link = Link::to(&other);

    // The first messages create both sessions and leave their ids in the writer's cache.
    assert_eq!(send_msg(&mut link, a, b, SINGLE_TEXT, text("1")).msg_id, 1);
    assert_eq!(send_msg(&mut link, b, a, SINGLE_TEXT, text("2")).msg_id, 2);
    let session_of_a: u32 = db
        .exec_first(
            "SELECT id FROM IMRecentSession WHERE userId = ? AND peerId = ? AND type = 1",
            (a, b),
        )
        .unwrap()
        .unwrap();
    // Removed through the other instance, which the writer's cache knows nothing about; the
    // row's `updated` is set back so its refresh is visible.
    let rsp: ImRemoveSessionRsp = other_link.call(
        CommandId::BuddyListRemoveSessionReq,
        &ImRemoveSessionReq {
            user_id: a,
            session_type: 1,
            session_id: b,
            attach_data: attach(8),
        },
        CommandId::BuddyListRemoveSessionRes,
    );
    assert_eq!(rsp.result_code, 0);
    db.exec_drop(
        "UPDATE IMRecentSession SET updated = 1 WHERE id = ?",
        (session_of_a,),
    )
    .unwrap();
    assert_eq!(session_status(&mut db, a, b, 1), Some(1));

    // b writes again through the writer: a's session is active again, the same row, touched.
    let before = now();
    assert_eq!(send_msg(&mut link, b, a, SINGLE_TEXT, text("3")).msg_id, 3);
    let rows: Vec<(u32, u32, u32)> = db
        .exec(
            "SELECT id, status, updated FROM IMRecentSession \
             WHERE userId = ? AND peerId = ? AND type = 1",
            (a, b),
        )
        .unwrap();
    assert_eq!(rows.len(), 1);
    let (id, status, updated) = rows[0];
    assert_eq!((id, status), (session_of_a, 0));
    assert!(updated >= before, "updated={updated} before={before}");

    // And a's recent-session list shows the conversation again.
    let recent: ImRecentContactSessionRsp = link.call(
        CommandId::BuddyListRecentContactSessionRequest,
        &ImRecentContactSessionReq {
            user_id: a,
            latest_update_time: 0,
            attach_data: attach(7),
        },
        CommandId::BuddyListRecentContactSessionResponse,
    );
    let listed: Vec<(u32, u32)> = recent
        .contact_session_list
        .iter()
        .map(|s| (s.session_id, s.latest_msg_id))
        .collect();
    assert_eq!(listed, vec![(b, 3)]);
}

#[test]
fn message_ids_continue_after_redis_lost_the_counter() {
    let mut db = db();
    let ids = create_users(&mut db, &unique("s"), 2);
    let (a, b) = (ids[0], ids[1]);
    let server = start();
    let mut link = Link::to(&server);
    for want in 1..=3 {
        assert_eq!(
            send_msg(&mut link, a, b, SINGLE_TEXT, text("x")).msg_id,
            want
        );
    }
    let relate = relation(&mut db, a, b);
    let mut r = redis(DB_UNREAD);
    let _: () = r.del(format!("msg_id_{relate}")).unwrap();
    assert_eq!(send_msg(&mut link, b, a, SINGLE_TEXT, text("y")).msg_id, 4);
    assert_eq!(send_msg(&mut link, a, b, SINGLE_TEXT, text("z")).msg_id, 5);

    // The same for a group.
    let create: ImGroupCreateRsp = link.call(
        CommandId::GroupCreateRequest,
        &ImGroupCreateReq {
            user_id: a,
            group_type: 2,
            group_name: "g".into(),
            group_avatar: String::new(),
            member_id_list: vec![a, b],
            attach_data: None,
        },
        CommandId::GroupCreateResponse,
    );
    let gid = create.group_id.unwrap();
    assert_eq!(send_msg(&mut link, a, gid, GROUP_TEXT, text("1")).msg_id, 1);
    assert_eq!(send_msg(&mut link, b, gid, GROUP_TEXT, text("2")).msg_id, 2);
    let _: () = r.del(format!("group_msg_id_{gid}")).unwrap();
    assert_eq!(send_msg(&mut link, a, gid, GROUP_TEXT, text("3")).msg_id, 3);
}

#[test]
fn group_messages_need_membership_and_count_unread_for_others() {
    let mut db = db();
    let ids = create_users(&mut db, &unique("g"), 4);
    let (a, b, c, outsider) = (ids[0], ids[1], ids[2], ids[3]);
    let server = start();
    let mut link = Link::to(&server);
    let create: ImGroupCreateRsp = link.call(
        CommandId::GroupCreateRequest,
        &ImGroupCreateReq {
            user_id: a,
            group_type: 2,
            group_name: "team".into(),
            group_avatar: "av".into(),
            member_id_list: vec![c, a, b, a],
            attach_data: attach(1),
        },
        CommandId::GroupCreateResponse,
    );
    assert_eq!(create.result_code, 0);
    let gid = create.group_id.unwrap();

    let m = send_msg(&mut link, a, gid, GROUP_TEXT, text("hi all"));
    assert_eq!(m.msg_id, 1);
    assert_eq!(
        send_msg(&mut link, outsider, gid, GROUP_TEXT, text("spam")).msg_id,
        0
    );
    assert_eq!(
        send_msg(&mut link, b, gid, GROUP_TEXT, text("hello")).msg_id,
        2
    );

    let rows: Vec<(u32, u32, Vec<u8>)> = db
        .exec(
            format!(
                "SELECT userId, msgId, content FROM IMGroupMessage_{} WHERE groupId = ? ORDER BY id",
                gid % 8
            ),
            (gid,),
        )
        .unwrap();
    assert_eq!(rows, [(a, 1, text("hi all")), (b, 2, text("hello"))]);
    let last_chated: u32 = db
        .exec_first("SELECT lastChated FROM IMGroup WHERE id = ?", (gid,))
        .unwrap()
        .unwrap();
    assert!(last_chated > 0);
    assert_eq!(session_status(&mut db, a, gid, 2), Some(0));
    let mut r = redis(DB_UNREAD);
    let count: u32 = r.hget(format!("{gid}_im_group_msg"), "count").unwrap();
    assert_eq!(count, 2);
    let a_read: u32 = r.hget(format!("{a}_{gid}_im_user_group"), "count").unwrap();
    assert_eq!(a_read, 1);

    // a has one unread (b's), c two; the sender of the last message is reported.
    let rsp = unread(&mut link, a);
    assert_eq!(rsp.total_cnt, 1);
    let rsp = unread(&mut link, c);
    assert_eq!(rsp.total_cnt, 2);
    let info = &rsp.unreadinfo_list[0];
    assert_eq!(
        (info.session_id, info.session_type, info.unread_cnt),
        (gid, 2, 2)
    );
    assert_eq!((info.latest_msg_id, info.latest_msg_from_user_id), (2, b));

    // Group read ack copies the counter.
    link.send(
        CommandId::MsgReadAck,
        &ImMsgDataReadAck {
            user_id: c,
            session_id: gid,
            msg_id: 2,
            session_type: 2,
        },
    );
    link.expect_silence(Duration::from_millis(300));
    assert_eq!(unread(&mut link, c).total_cnt, 0);

    // History for members only.
    let page = history(&mut link, c, 2, gid, 0, 10);
    assert_eq!(
        page.msg_list.iter().map(|m| m.msg_id).collect::<Vec<_>>(),
        [2, 1]
    );
    assert_eq!(page.msg_list[1].from_session_id, a);
    assert!(
        history(&mut link, outsider, 2, gid, 0, 10)
            .msg_list
            .is_empty()
    );
    let latest: ImGetLatestMsgIdRsp = link.call(
        CommandId::MsgGetLatestMsgIdReq,
        &ImGetLatestMsgIdReq {
            user_id: outsider,
            session_type: 2,
            session_id: gid,
            attach_data: None,
        },
        CommandId::MsgGetLatestMsgIdRsp,
    );
    assert_eq!(
        latest.latest_msg_id, 0,
        "non-members learn nothing (D-AUTH-6)"
    );

    // Losing the Redis member hash does not destroy the group (D-DB-13).
    let mut members = redis(DB_GROUP_MEMBER);
    let _: () = members.del(format!("group_member_{gid}")).unwrap();
    assert_eq!(
        send_msg(&mut link, c, gid, GROUP_TEXT, text("still here")).msg_id,
        3
    );
    let n: u32 = members.hlen(format!("group_member_{gid}")).unwrap();
    assert_eq!(n, 3);
}

#[test]
fn audio_messages_go_through_msfs_and_come_back_from_history() {
    let mut db = db();
    let ids = create_users(&mut db, &unique("au"), 2);
    let (a, b) = (ids[0], ids[1]);
    let msfs = FakeMsfs::start();
    let server = start_with(config(&msfs.site));
    let mut link = Link::to(&server);

    let mut audio = 7u32.to_be_bytes().to_vec();
    audio.extend_from_slice(b"\x00\x01binary-audio\xff");
    let m = send_msg(&mut link, a, b, SINGLE_AUDIO, audio.clone());
    assert_eq!(m.msg_id, 1);
    assert_eq!(msfs.files.lock().unwrap().as_slice(), [audio[4..].to_vec()]);

    let relate = relation(&mut db, a, b);
    let content: Vec<u8> = db
        .exec_first(
            format!(
                "SELECT content FROM IMMessage_{} WHERE relateId = ?",
                relate % 8
            ),
            (relate,),
        )
        .unwrap()
        .unwrap();
    let audio_id: u32 = String::from_utf8(content).unwrap().parse().unwrap();
    let (size, duration, path): (u32, u32, String) = db
        .exec_first(
            "SELECT size, duration, path FROM IMAudio WHERE id = ?",
            (audio_id,),
        )
        .unwrap()
        .unwrap();
    assert_eq!((size as usize, duration), (audio.len() - 4, 7));
    assert!(path.starts_with(&msfs.site));

    let page = history(&mut link, b, 1, a, 0, 10);
    assert_eq!(page.msg_list.len(), 1);
    assert_eq!(page.msg_list[0].msg_data, audio);
    assert_eq!(page.msg_list[0].msg_type, SINGLE_AUDIO);
    let rsp = unread(&mut link, b);
    assert_eq!(rsp.unreadinfo_list[0].latest_msg_data, AUDIO_PLACEHOLDER);

    // Too short an audio message, or msfs down, stores nothing and acks nothing.
    assert_eq!(
        send_msg(&mut link, a, b, SINGLE_AUDIO, vec![0, 0, 0, 1]).msg_id,
        0
    );
    let dead = start();
    let mut dead_link = Link::to(&dead);
    assert_eq!(
        send_msg(&mut dead_link, a, b, SINGLE_AUDIO, audio.clone()).msg_id,
        0
    );
    let rows: u32 = db
        .exec_first(
            format!(
                "SELECT COUNT(*) FROM IMMessage_{} WHERE relateId = ?",
                relate % 8
            ),
            (relate,),
        )
        .unwrap()
        .unwrap();
    assert_eq!(rows, 1);
}

#[test]
fn requests_with_a_bad_session_type_get_no_answer() {
    let server = start();
    let mut link = Link::to(&server);
    link.send(
        CommandId::MsgListRequest,
        &ImGetMsgListReq {
            user_id: 1,
            session_type: 9,
            session_id: 2,
            msg_id_begin: 0,
            msg_cnt: 1,
            attach_data: None,
        },
    );
    link.send(
        CommandId::MsgData,
        &ImMsgData {
            from_user_id: 1,
            to_session_id: 2,
            msg_id: 0,
            create_time: 0,
            msg_type: 7,
            msg_data: b"x".to_vec(),
            attach_data: None,
        },
    );
    // A later answered request proves the earlier ones were skipped, not queued behind.
    let rsp = unread(&mut link, 0);
    assert_eq!(rsp.total_cnt, 0);
    link.expect_silence(Duration::from_millis(200));
}

#[test]
fn messages_by_id_answer_the_newest_hundred_of_all_ids_asked_for() {
    let mut db = db();
    let ids = create_users(&mut db, &unique("bi"), 2);
    let (a, b) = (ids[0], ids[1]);
    let server = start();
    let mut link = Link::to(&server);
    send_msg(&mut link, a, b, SINGLE_TEXT, text("first"));
    let relate = relation(&mut db, a, b);
    let t = now();
    for msg_id in 2..=150u32 {
        db.exec_drop(
            format!(
                "INSERT INTO IMMessage_{} (relateId, fromId, toId, msgId, content, status, type, \
                 created, updated) VALUES (?, ?, ?, ?, 'x', 0, 1, ?, ?)",
                relate % 8
            ),
            (relate, a, b, msg_id, t, t),
        )
        .unwrap();
    }
    // 120 ids: the original puts them all in the query and answers the newest 100 rows.
    let rsp: ImGetMsgByIdRsp = link.call(
        CommandId::MsgGetByMsgIdReq,
        &ImGetMsgByIdReq {
            user_id: a,
            session_type: 1,
            session_id: b,
            msg_id_list: (1..=120).collect(),
            attach_data: attach(6),
        },
        CommandId::MsgGetByMsgIdRes,
    );
    let got: Vec<u32> = rsp.msg_list.iter().map(|m| m.msg_id).collect();
    assert_eq!(got, (21..=120).rev().collect::<Vec<_>>());
}
