//! Ids and membership never go backwards: a db_proxy that finds Redis behind MySQL (restored
//! from an old snapshot, or emptied) continues message ids above every stored one and drops
//! group members MySQL no longer has, before it uses them.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use mysql::prelude::Queryable;
use redis::Commands;
use teamtalk_proto::CommandId;
use teamtalk_proto::pb::base_define::GroupVersionInfo;
use teamtalk_proto::pb::group::{
    ImGroupChangeMemberReq, ImGroupChangeMemberRsp, ImGroupCreateReq, ImGroupCreateRsp,
    ImGroupInfoListReq, ImGroupInfoListRsp,
};
use teamtalk_proto::pb::message::ImMsgData;

fn send(link: &mut Link, from: u32, to: u32, group: bool) -> u32 {
    let rsp: ImMsgData = link.call(
        CommandId::MsgData,
        &ImMsgData {
            from_user_id: from,
            to_session_id: to,
            msg_id: 0,
            create_time: now(),
            msg_type: if group { 0x11 } else { 0x01 },
            msg_data: text("durable"),
            attach_data: attach(1),
        },
        CommandId::MsgData,
    );
    rsp.msg_id
}

fn relation(db: &mut mysql::Conn, a: u32, b: u32) -> u32 {
    db.exec_first(
        "SELECT id FROM IMRelationShip WHERE smallId = ? AND bigId = ?",
        (a.min(b), a.max(b)),
    )
    .unwrap()
    .unwrap()
}

fn create_group(link: &mut Link, creator: u32, members: Vec<u32>) -> u32 {
    let rsp: ImGroupCreateRsp = link.call(
        CommandId::GroupCreateRequest,
        &ImGroupCreateReq {
            user_id: creator,
            group_type: 2,
            group_name: "durable".into(),
            group_avatar: String::new(),
            member_id_list: members,
            attach_data: attach(1),
        },
        CommandId::GroupCreateResponse,
    );
    assert_eq!(rsp.result_code, 0);
    rsp.group_id.unwrap()
}

fn members(link: &mut Link, user: u32, gid: u32) -> Vec<u32> {
    let rsp: ImGroupInfoListRsp = link.call(
        CommandId::GroupInfoRequest,
        &ImGroupInfoListReq {
            user_id: user,
            group_version_list: vec![GroupVersionInfo {
                group_id: gid,
                version: 0,
            }],
            attach_data: attach(1),
        },
        CommandId::GroupInfoResponse,
    );
    let mut ids = rsp
        .group_info_list
        .first()
        .map(|g| g.group_member_list.clone())
        .unwrap_or_default();
    ids.sort_unstable();
    ids
}

#[test]
fn a_stale_message_id_counter_continues_above_the_stored_ids() {
    let mut db = db();
    let ids = create_users(&mut db, &unique("ds"), 2);
    let server = start();
    let mut link = Link::to(&server);
    for want in 1..=3 {
        assert_eq!(send(&mut link, ids[0], ids[1], false), want);
    }
    drop(link);
    server.shutdown().unwrap();

    // Redis restored from a snapshot taken after the first message.
    let key = format!("msg_id_{}", relation(&mut db, ids[0], ids[1]));
    let _: () = redis(DB_UNREAD).set(&key, 1).unwrap();
    let server = start();
    let mut link = Link::to(&server);
    assert_eq!(send(&mut link, ids[1], ids[0], false), 4);
    assert_eq!(send(&mut link, ids[0], ids[1], false), 5);
    let relate = relation(&mut db, ids[0], ids[1]);
    let stored: Vec<u32> = db
        .exec(
            format!(
                "SELECT msgId FROM IMMessage_{} WHERE relateId = ? ORDER BY msgId",
                relate % 8
            ),
            (relate,),
        )
        .unwrap();
    assert_eq!(stored, [1, 2, 3, 4, 5], "no id stored twice");
}

#[test]
fn a_stale_group_message_id_counter_continues_above_the_stored_ids() {
    let mut db = db();
    let ids = create_users(&mut db, &unique("dg"), 2);
    let server = start();
    let mut link = Link::to(&server);
    let gid = create_group(&mut link, ids[0], ids.clone());
    for want in 1..=2 {
        assert_eq!(send(&mut link, ids[0], gid, true), want);
    }
    drop(link);
    server.shutdown().unwrap();

    // Emptied, then an old value: both continue after 2.
    let key = format!("group_msg_id_{gid}");
    let _: () = redis(DB_UNREAD).del(&key).unwrap();
    let server = start();
    let mut link = Link::to(&server);
    assert_eq!(send(&mut link, ids[1], gid, true), 3);
    drop(link);
    server.shutdown().unwrap();
    let _: () = redis(DB_UNREAD).set(&key, 0).unwrap();
    let server = start();
    let mut link = Link::to(&server);
    assert_eq!(send(&mut link, ids[0], gid, true), 4);
}

#[test]
fn a_removed_member_restored_into_redis_does_not_come_back() {
    let mut db = db();
    let ids = create_users(&mut db, &unique("dm"), 3);
    let (a, b, c) = (ids[0], ids[1], ids[2]);
    let server = start();
    let mut link = Link::to(&server);
    let gid = create_group(&mut link, a, ids.clone());
    let rsp: ImGroupChangeMemberRsp = link.call(
        CommandId::GroupChangeMemberRequest,
        &ImGroupChangeMemberReq {
            user_id: a,
            change_type: 2,
            group_id: gid,
            member_id_list: vec![c],
            attach_data: attach(1),
        },
        CommandId::GroupChangeMemberResponse,
    );
    assert_eq!(rsp.result_code, 0);
    assert_eq!(members(&mut link, a, gid), [a, b]);
    drop(link);
    server.shutdown().unwrap();

    // A snapshot from before the removal: c is back in the hash, b is missing.
    let key = format!("group_member_{gid}");
    let mut m = redis(DB_GROUP_MEMBER);
    let _: () = m.hset(&key, c, now()).unwrap();
    let _: () = m.hdel(&key, b).unwrap();
    let server = start();
    let mut link = Link::to(&server);
    assert_eq!(members(&mut link, a, gid), [a, b]);
    let mut cached: Vec<u32> = m.hkeys(&key).unwrap();
    cached.sort_unstable();
    assert_eq!(cached, [a, b]);
    // The removed member cannot write to the group either.
    assert_eq!(send(&mut link, c, gid, true), 0);
    assert_eq!(send(&mut link, b, gid, true), 1);
}
