//! The sync center: group activity puts the group conversation into every member's session
//! list (BEHAVIOUR §8.26).
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use db_proxy_server::store::Store;
use db_proxy_server::sync_center;
use mysql::prelude::Queryable;
use teamtalk_proto::CommandId;
use teamtalk_proto::pb::group::{ImGroupCreateReq, ImGroupCreateRsp};
use teamtalk_proto::pb::message::ImMsgData;

#[test]
fn group_activity_creates_and_touches_member_sessions() {
    let mut db = db();
    let ids = create_users(&mut db, &unique("sy"), 3);
    let (a, b, c) = (ids[0], ids[1], ids[2]);
    let server = start();
    let mut link = Link::to(&server);
    let rsp: ImGroupCreateRsp = link.call(
        CommandId::GroupCreateRequest,
        &ImGroupCreateReq {
            user_id: a,
            group_type: 2,
            group_name: "sync".into(),
            group_avatar: String::new(),
            member_id_list: vec![a, b, c],
            attach_data: None,
        },
        CommandId::GroupCreateResponse,
    );
    let gid = rsp.group_id.unwrap();
    // b removed the conversation earlier; the scan must not bring it back.
    db.exec_drop(
        "INSERT INTO IMRecentSession (userId, peerId, type, status, created, updated) \
         VALUES (?, ?, 2, 1, 1, 1)",
        (b, gid),
    )
    .unwrap();
    let m: ImMsgData = link.call(
        CommandId::MsgData,
        &ImMsgData {
            from_user_id: a,
            to_session_id: gid,
            msg_id: 0,
            create_time: now(),
            msg_type: 0x11,
            msg_data: text("sync me"),
            attach_data: None,
        },
        CommandId::MsgData,
    );
    assert_eq!(m.msg_id, 1);
    let last_chated: u32 = db
        .exec_first("SELECT lastChated FROM IMGroup WHERE id = ?", (gid,))
        .unwrap()
        .unwrap();

    let store = Store::open(&config("http://127.0.0.1:9")).unwrap();
    let mut watermark = last_chated;
    sync_center::scan(&store, &mut watermark).unwrap();
    assert!(watermark >= last_chated);

    let session = |db: &mut mysql::Conn, user: u32| -> (u32, u32) {
        db.exec_first(
            "SELECT status, updated FROM IMRecentSession WHERE userId = ? AND peerId = ? AND type = 2",
            (user, gid),
        )
        .unwrap()
        .unwrap()
    };
    assert_eq!(session(&mut db, a), (0, last_chated));
    assert_eq!(session(&mut db, b), (1, last_chated));
    assert_eq!(session(&mut db, c).0, 0);
}
