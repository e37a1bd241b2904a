//! User, department, device-token, push-shield, group and offline-file commands over a real
//! link, checking answers and the rows and Redis keys they leave.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use mysql::prelude::Queryable;
use redis::Commands;
use teamtalk_proto::CommandId;
use teamtalk_proto::pb::base_define::GroupVersionInfo;
use teamtalk_proto::pb::buddy::{
    ImAllUserReq, ImAllUserRsp, ImChangeSignInfoReq, ImChangeSignInfoRsp, ImDepartmentReq,
    ImDepartmentRsp, ImUsersInfoReq, ImUsersInfoRsp,
};
use teamtalk_proto::pb::file::{
    ImFileAddOfflineReq, ImFileDelOfflineReq, ImFileHasOfflineReq, ImFileHasOfflineRsp,
};
use teamtalk_proto::pb::group::{
    ImGroupChangeMemberReq, ImGroupChangeMemberRsp, ImGroupCreateReq, ImGroupCreateRsp,
    ImGroupInfoListReq, ImGroupInfoListRsp, ImGroupShieldReq, ImGroupShieldRsp,
    ImNormalGroupListReq, ImNormalGroupListRsp,
};
use teamtalk_proto::pb::login::{
    ImDeviceTokenReq, ImDeviceTokenRsp, ImPushShieldReq, ImPushShieldRsp, ImQueryPushShieldReq,
    ImQueryPushShieldRsp,
};
use teamtalk_proto::pb::message::{ImUnreadMsgCntReq, ImUnreadMsgCntRsp};
use teamtalk_proto::pb::server::{
    ImGetDeviceTokenReq, ImGetDeviceTokenRsp, ImGroupGetShieldReq, ImGroupGetShieldRsp,
};

#[test]
fn user_info_all_users_and_departments() {
    let mut db = db();
    let ids = create_users(&mut db, &unique("u"), 3);
    let server = start();
    let mut link = Link::to(&server);

    let rsp: ImUsersInfoRsp = link.call(
        CommandId::BuddyListUserInfoRequest,
        &ImUsersInfoReq {
            user_id: ids[0],
            user_id_list: vec![ids[1], ids[2], 0],
            attach_data: attach(1),
        },
        CommandId::BuddyListUserInfoResponse,
    );
    assert_eq!(rsp.user_id, ids[0]);
    assert_eq!(rsp.attach_data, attach(1));
    let mut got: Vec<u32> = rsp.user_info_list.iter().map(|u| u.user_id).collect();
    got.sort();
    assert_eq!(got, [ids[1], ids[2]]);

    // Incremental sync: a user updated "in the future" (as the PHP admin would) is reported
    // and its time becomes the new watermark (D-DB-7: always queried).
    let future = now() + 1000;
    db.exec_drop(
        "UPDATE IMUser SET updated = ?, status = 3 WHERE id = ?",
        (future, ids[2]),
    )
    .unwrap();
    let rsp: ImAllUserRsp = link.call(
        CommandId::BuddyListAllUserRequest,
        &ImAllUserReq {
            user_id: ids[0],
            latest_update_time: future,
            attach_data: attach(2),
        },
        CommandId::BuddyListAllUserResponse,
    );
    assert_eq!(rsp.latest_update_time, future);
    assert!(
        rsp.user_list
            .iter()
            .any(|u| u.user_id == ids[2] && u.status == 3)
    );
    assert_eq!(rsp.attach_data, attach(2));
    let rsp: ImAllUserRsp = link.call(
        CommandId::BuddyListAllUserRequest,
        &ImAllUserReq {
            user_id: ids[0],
            latest_update_time: 0,
            attach_data: None,
        },
        CommandId::BuddyListAllUserResponse,
    );
    assert!(rsp.user_list.iter().any(|u| u.user_id == ids[0]));
    assert!(
        rsp.user_list.iter().all(|u| u.user_id != ids[2]),
        "resigned users hidden at 0"
    );

    let dept_time = now() + 2000;
    let name = unique("dept");
    db.exec_drop(
        "INSERT INTO IMDepart (departName, priority, parentId, status, created, updated) \
         VALUES (?, 3, 0, 0, ?, ?)",
        (&name, dept_time, dept_time),
    )
    .unwrap();
    let dept_id = db.last_insert_id() as u32;
    let rsp: ImDepartmentRsp = link.call(
        CommandId::BuddyListDepartmentRequest,
        &ImDepartmentReq {
            user_id: ids[0],
            latest_update_time: dept_time - 1,
            attach_data: attach(3),
        },
        CommandId::BuddyListDepartmentResponse,
    );
    assert!(rsp.latest_update_time >= dept_time);
    let d = rsp.dept_list.iter().find(|d| d.dept_id == dept_id).unwrap();
    assert_eq!(
        (d.dept_name.as_str(), d.priority, d.dept_status),
        (name.as_str(), 3, 0)
    );
}

#[test]
fn sign_info_is_stored_as_plain_text_and_limited_to_128_bytes() {
    let mut db = db();
    let id = create_users(&mut db, &unique("sg"), 1)[0];
    let server = start();
    let mut link = Link::to(&server);
    let sign = "it's a \"test\"; DROP TABLE IMUser; -- \\ 签名".to_owned();
    let rsp: ImChangeSignInfoRsp = link.call(
        CommandId::BuddyListChangeSignInfoRequest,
        &ImChangeSignInfoReq {
            user_id: id,
            sign_info: sign.clone(),
            attach_data: attach(5),
        },
        CommandId::BuddyListChangeSignInfoResponse,
    );
    assert_eq!(rsp.result_code, 0);
    assert_eq!(rsp.sign_info.as_deref(), Some(sign.as_str()));
    assert_eq!(rsp.attach_data, attach(5));
    let stored: String = db
        .exec_first("SELECT sign_info FROM IMUser WHERE id = ?", (id,))
        .unwrap()
        .unwrap();
    assert_eq!(stored, sign);

    let rsp: ImChangeSignInfoRsp = link.call(
        CommandId::BuddyListChangeSignInfoRequest,
        &ImChangeSignInfoReq {
            user_id: id,
            sign_info: "x".repeat(129),
            attach_data: None,
        },
        CommandId::BuddyListChangeSignInfoResponse,
    );
    assert_eq!(rsp.result_code, 1);
    assert!(rsp.sign_info.is_none());
}

#[test]
fn push_shield_set_and_query() {
    let mut db = db();
    let id = create_users(&mut db, &unique("ps"), 1)[0];
    let server = start();
    let mut link = Link::to(&server);
    for _ in 0..2 {
        // Setting the same value twice succeeds (D-DB-18).
        let rsp: ImPushShieldRsp = link.call(
            CommandId::LoginReqPushShield,
            &ImPushShieldReq {
                user_id: id,
                shield_status: 1,
                attach_data: attach(6),
            },
            CommandId::LoginResPushShield,
        );
        assert_eq!((rsp.result_code, rsp.shield_status), (0, Some(1)));
        assert_eq!(rsp.attach_data, attach(6));
    }
    let rsp: ImQueryPushShieldRsp = link.call(
        CommandId::LoginReqQueryPushShield,
        &ImQueryPushShieldReq {
            user_id: id,
            attach_data: attach(7),
        },
        CommandId::LoginResQueryPushShield,
    );
    assert_eq!((rsp.result_code, rsp.shield_status), (0, Some(1)));
    let rsp: ImQueryPushShieldRsp = link.call(
        CommandId::LoginReqQueryPushShield,
        &ImQueryPushShieldReq {
            user_id: u32::MAX,
            attach_data: None,
        },
        CommandId::LoginResQueryPushShield,
    );
    assert_eq!((rsp.result_code, rsp.shield_status), (1, None));
    // As the original, an absent attach comes back present and empty.
    assert_eq!(rsp.attach_data, Some(Vec::new()));
}

#[test]
fn device_tokens_are_stored_and_returned_with_badge_counts() {
    let mut db = db();
    let ids = create_users(&mut db, &unique("dt"), 3);
    let (ios, android, pc) = (ids[0], ids[1], ids[2]);
    let server = start();
    let mut link = Link::to(&server);
    let token = unique("tok");
    let set = |link: &mut Link, user: u32, token: &str, client_type: Option<i32>| {
        let rsp: ImDeviceTokenRsp = link.call(
            CommandId::LoginReqDevicetoken,
            &ImDeviceTokenReq {
                user_id: user,
                device_token: token.to_owned(),
                client_type,
                attach_data: attach(user),
            },
            CommandId::LoginResDevicetoken,
        );
        assert_eq!(rsp.user_id, user);
        assert_eq!(rsp.attach_data, attach(user));
    };
    set(&mut link, ios, &token, Some(0x11));
    set(&mut link, android, &format!("{token}a"), Some(0x12));
    let mut r = redis(DB_TOKEN);
    let v: String = r.get(format!("device_{ios}")).unwrap();
    assert_eq!(v, format!("ios:{token}"));
    let owner: String = r.get(format!("device_{token}")).unwrap();
    assert_eq!(owner, ios.to_string());

    // Unread counters make the badge.
    let mut u = redis(DB_UNREAD);
    let _: () = u.hset(format!("unread_{android}"), ios, 3).unwrap();
    let _: () = u.hset(format!("unread_{android}"), pc, 2).unwrap();
    let rsp: ImGetDeviceTokenRsp = link.call(
        CommandId::OtherGetDeviceTokenReq,
        &ImGetDeviceTokenReq {
            user_id: vec![pc, android, ios],
            attach_data: Some(b"msg body".to_vec()),
        },
        CommandId::OtherGetDeviceTokenRsp,
    );
    assert_eq!(rsp.attach_data.as_deref(), Some(&b"msg body"[..]));
    let a = rsp
        .user_token_info
        .iter()
        .find(|t| t.user_id == android)
        .unwrap();
    assert_eq!(
        (a.user_type, a.token.clone(), a.push_count),
        (0x12, format!("{token}a"), 5)
    );
    assert!(rsp.user_token_info.iter().all(|t| t.user_id != pc));
    let hour = chrono_hour();
    if !(hour >= 22 || hour <= 7) {
        assert!(
            rsp.user_token_info
                .iter()
                .any(|t| t.user_id == ios && t.user_type == 0x11)
        );
    }

    // A PC logout keeps the phone's token; a mobile logout clears it without writing `device_`.
    set(&mut link, ios, "", Some(0x01));
    let v: String = r.get(format!("device_{ios}")).unwrap();
    assert_eq!(v, format!("ios:{token}"));
    let _: () = r.del("device_").unwrap();
    set(&mut link, ios, "", None);
    let v: String = r.get(format!("device_{ios}")).unwrap();
    assert_eq!(v, "");
    // The token entry the user owned is deleted, not left behind as "".
    let owner: Option<String> = r.get(format!("device_{token}")).unwrap();
    assert_eq!(owner, None);
    let empty_key: bool = r.exists("device_").unwrap();
    assert!(!empty_key);
}

fn chrono_hour() -> u32 {
    use chrono::Timelike;
    chrono::Local::now().hour()
}

fn create_group(link: &mut Link, creator: u32, kind: i32, members: Vec<u32>) -> ImGroupCreateRsp {
    link.call(
        CommandId::GroupCreateRequest,
        &ImGroupCreateReq {
            user_id: creator,
            group_type: kind,
            group_name: "grp".into(),
            group_avatar: "http://a/b.png".into(),
            member_id_list: members,
            attach_data: attach(11),
        },
        CommandId::GroupCreateResponse,
    )
}

fn change(
    link: &mut Link,
    user: u32,
    gid: u32,
    kind: i32,
    ids: Vec<u32>,
) -> ImGroupChangeMemberRsp {
    let rsp: ImGroupChangeMemberRsp = link.call(
        CommandId::GroupChangeMemberRequest,
        &ImGroupChangeMemberReq {
            user_id: user,
            change_type: kind,
            group_id: gid,
            member_id_list: ids,
            attach_data: attach(12),
        },
        CommandId::GroupChangeMemberResponse,
    );
    assert_eq!(
        (rsp.user_id, rsp.group_id, rsp.change_type),
        (user, gid, kind)
    );
    assert_eq!(rsp.attach_data, attach(12));
    rsp
}

fn sorted(mut v: Vec<u32>) -> Vec<u32> {
    v.sort();
    v
}

#[test]
fn groups_are_created_listed_described_and_changed() {
    let mut db = db();
    let ids = create_users(&mut db, &unique("gr"), 5);
    let (a, b, c, d, e) = (ids[0], ids[1], ids[2], ids[3], ids[4]);
    let server = start();
    let mut link = Link::to(&server);

    let rsp = create_group(&mut link, a, 2, vec![c, b, a, b]);
    assert_eq!(rsp.result_code, 0);
    assert_eq!(rsp.user_id_list, [a, b, c]);
    assert_eq!(rsp.group_name, "grp");
    assert_eq!(rsp.attach_data, attach(11));
    let gid = rsp.group_id.unwrap();
    let (kind, cnt, version, creator): (u32, u32, u32, u32) = db
        .exec_first(
            "SELECT type, userCnt, version, creator FROM IMGroup WHERE id = ?",
            (gid,),
        )
        .unwrap()
        .unwrap();
    assert_eq!(
        (kind, cnt, version, creator),
        (2, 3, 1, a),
        "userCnt exact (D-DB-8)"
    );
    let mut m = redis(DB_GROUP_MEMBER);
    let members: Vec<u32> = m.hkeys(format!("group_member_{gid}")).unwrap();
    assert_eq!(sorted(members), [a, b, c]);
    let seq: u32 = redis(DB_UNREAD).get(format!("group_msg_id_{gid}")).unwrap();
    assert_eq!(seq, 0);

    // Refusals: empty name or no members answer 1; a bad type gets no answer.
    let rsp = create_group(&mut link, a, 2, vec![]);
    assert_eq!((rsp.result_code, rsp.group_id), (1, None));
    link.send(
        CommandId::GroupCreateRequest,
        &ImGroupCreateReq {
            user_id: a,
            group_type: 5,
            group_name: "x".into(),
            group_avatar: String::new(),
            member_id_list: vec![a],
            attach_data: None,
        },
    );
    link.expect_silence(Duration::from_millis(300));

    // Group info: newer versions only, members only (D-AUTH-6).
    let info = |link: &mut Link, user: u32, version: u32| -> ImGroupInfoListRsp {
        link.call(
            CommandId::GroupInfoRequest,
            &ImGroupInfoListReq {
                user_id: user,
                group_version_list: vec![GroupVersionInfo {
                    group_id: gid,
                    version,
                }],
                attach_data: attach(13),
            },
            CommandId::GroupInfoResponse,
        )
    };
    let rsp = info(&mut link, b, 0);
    assert_eq!(rsp.attach_data, attach(13));
    let g = &rsp.group_info_list[0];
    assert_eq!(
        (g.group_id, g.version, g.group_creator_id, g.group_type),
        (gid, 1, a, 2)
    );
    assert_eq!(g.group_avatar, "http://a/b.png");
    assert_eq!(sorted(g.group_member_list.clone()), [a, b, c]);
    assert!(info(&mut link, b, 1).group_info_list.is_empty());
    assert!(info(&mut link, d, 0).group_info_list.is_empty());

    // Add: a non-member may not add to a TMP group (D-AUTH-5); a member may.
    let rsp = change(&mut link, d, gid, 1, vec![d]);
    assert_eq!(rsp.result_code, 1);
    assert!(rsp.cur_user_id_list.is_empty());
    let rsp = change(&mut link, b, gid, 1, vec![d, a, e]);
    assert_eq!(rsp.result_code, 0);
    assert_eq!(rsp.chg_user_id_list, [d, e]);
    assert_eq!(sorted(rsp.cur_user_id_list), [a, b, c, d, e]);
    // Adding only existing members fails (D-DB-12, kept).
    assert_eq!(change(&mut link, a, gid, 1, vec![b]).result_code, 1);

    // Delete: only the creator; removed users lose their group session.
    db.exec_drop(
        "INSERT INTO IMRecentSession (userId, peerId, type, status, created, updated) \
         VALUES (?, ?, 2, 0, 1, 1)",
        (c, gid),
    )
    .unwrap();
    assert_eq!(change(&mut link, b, gid, 2, vec![c]).result_code, 1);
    let rsp = change(&mut link, a, gid, 2, vec![c, e]);
    assert_eq!(rsp.result_code, 0);
    assert_eq!(rsp.chg_user_id_list, [c, e]);
    assert_eq!(sorted(rsp.cur_user_id_list), [a, b, d]);
    let status: u32 = db
        .exec_first(
            "SELECT status FROM IMRecentSession WHERE userId = ? AND peerId = ? AND type = 2",
            (c, gid),
        )
        .unwrap()
        .unwrap();
    assert_eq!(status, 1);
    let (cnt, version): (u32, u32) = db
        .exec_first("SELECT userCnt, version FROM IMGroup WHERE id = ?", (gid,))
        .unwrap()
        .unwrap();
    assert_eq!((cnt, version), (3, 3));
    let left: Vec<u32> = db
        .exec(
            "SELECT userId FROM IMGroupMember WHERE groupId = ? AND status = 1 ORDER BY userId",
            (gid,),
        )
        .unwrap();
    assert_eq!(left, [c, e]);
    // Re-adding c reactivates its row rather than inserting a second one.
    assert_eq!(change(&mut link, a, gid, 1, vec![c]).result_code, 0);
    let rows: u32 = db
        .exec_first(
            "SELECT COUNT(*) FROM IMGroupMember WHERE groupId = ? AND userId = ?",
            (gid, c),
        )
        .unwrap()
        .unwrap();
    assert_eq!(rows, 1);

    // A change to an unknown group gets no answer.
    link.send(
        CommandId::GroupChangeMemberRequest,
        &ImGroupChangeMemberReq {
            user_id: a,
            change_type: 1,
            group_id: u32::MAX - 1,
            member_id_list: vec![b],
            attach_data: None,
        },
    );
    link.expect_silence(Duration::from_millis(300));

    // Normal group list: only type-1 groups (the admin path, user 0, creates one).
    let normal = create_group(&mut link, 0, 1, vec![a, b]);
    let normal_id = normal.group_id.unwrap();
    let rsp: ImNormalGroupListRsp = link.call(
        CommandId::GroupNormalListRequest,
        &ImNormalGroupListReq {
            user_id: a,
            attach_data: attach(14),
        },
        CommandId::GroupNormalListResponse,
    );
    assert_eq!(rsp.attach_data, attach(14));
    let listed: Vec<u32> = rsp.group_version_list.iter().map(|g| g.group_id).collect();
    assert!(listed.contains(&normal_id));
    assert!(!listed.contains(&gid));
}

#[test]
fn member_lists_come_in_decimal_text_order_like_the_original() {
    // Ids of different lengths, so text order ("4…" < "9…") and numeric order differ. They
    // need no IMUser rows; random high ranges keep them apart from other tests' users.
    let r: u32 = rand::random::<u32>() % 90_000_000;
    let nine = 900_000_000 + r; // 9 digits, starts with 9
    let four = 4_000_000_000 + r; // 10 digits, starts with 4
    let one = 1_000_000_000 + r; // 10 digits, starts with 1
    let server = start();
    let mut link = Link::to(&server);

    // The admin path (user 0) creates the group; members are stored in ascending order.
    let rsp = create_group(&mut link, 0, 2, vec![four, nine]);
    assert_eq!(
        rsp.user_id_list,
        [nine, four],
        "create answers ascending ids"
    );
    let gid = rsp.group_id.unwrap();
    let info: ImGroupInfoListRsp = link.call(
        CommandId::GroupInfoRequest,
        &ImGroupInfoListReq {
            user_id: 0,
            group_version_list: vec![GroupVersionInfo {
                group_id: gid,
                version: 0,
            }],
            attach_data: attach(21),
        },
        CommandId::GroupInfoResponse,
    );
    assert_eq!(info.group_info_list[0].group_member_list, [four, nine]);

    let rsp = change(&mut link, 0, gid, 1, vec![one]);
    assert_eq!(rsp.result_code, 0);
    assert_eq!(rsp.chg_user_id_list, [one]);
    assert_eq!(rsp.cur_user_id_list, [one, four, nine]);

    // Removing nobody succeeds with both lists empty and still bumps the version.
    let rsp = change(&mut link, 0, gid, 2, vec![]);
    assert_eq!(rsp.result_code, 0);
    assert!(rsp.chg_user_id_list.is_empty());
    assert!(
        rsp.cur_user_id_list.is_empty(),
        "{:?}",
        rsp.cur_user_id_list
    );
    let version: u32 = db()
        .exec_first("SELECT version FROM IMGroup WHERE id = ?", (gid,))
        .unwrap()
        .unwrap();
    assert_eq!(version, 3);

    let rsp = change(&mut link, 0, gid, 2, vec![four]);
    assert_eq!(rsp.cur_user_id_list, [one, nine]);
}

#[test]
fn group_info_compares_a_group_asked_twice_with_the_last_version() {
    let mut db = db();
    let ids = create_users(&mut db, &unique("gv"), 2);
    let server = start();
    let mut link = Link::to(&server);
    let gid = create_group(&mut link, ids[0], 2, ids.clone())
        .group_id
        .unwrap();
    let ask = |link: &mut Link, versions: [u32; 2]| -> usize {
        let rsp: ImGroupInfoListRsp = link.call(
            CommandId::GroupInfoRequest,
            &ImGroupInfoListReq {
                user_id: ids[0],
                group_version_list: versions
                    .iter()
                    .map(|&version| GroupVersionInfo {
                        group_id: gid,
                        version,
                    })
                    .collect(),
                attach_data: attach(22),
            },
            CommandId::GroupInfoResponse,
        );
        rsp.group_info_list.len()
    };
    assert_eq!(ask(&mut link, [0, 1]), 0, "last entry is up to date");
    assert_eq!(ask(&mut link, [1, 0]), 1, "last entry is behind");
}

#[test]
fn group_shield_set_and_query() {
    let mut db = db();
    let ids = create_users(&mut db, &unique("gs"), 3);
    let (a, b, outsider) = (ids[0], ids[1], ids[2]);
    let server = start();
    let mut link = Link::to(&server);
    let gid = create_group(&mut link, a, 2, vec![a, b]).group_id.unwrap();
    let shield = |link: &mut Link, user: u32, status: u32| -> ImGroupShieldRsp {
        link.call(
            CommandId::GroupShieldGroupRequest,
            &ImGroupShieldReq {
                user_id: user,
                group_id: gid,
                shield_status: status,
                attach_data: attach(15),
            },
            CommandId::GroupShieldGroupResponse,
        )
    };
    let rsp = shield(&mut link, b, 1);
    assert_eq!((rsp.result_code, rsp.group_id, rsp.user_id), (0, gid, b));
    assert_eq!(rsp.attach_data, attach(15));
    assert_eq!(shield(&mut link, outsider, 1).result_code, 1);
    let stored: String = redis(DB_GROUP_SET)
        .hget(format!("group_set_{gid}"), format!("{b}_1"))
        .unwrap();
    assert_eq!(stored, "1");

    let rsp: ImGroupGetShieldRsp = link.call(
        CommandId::OtherGetShieldReq,
        &ImGroupGetShieldReq {
            group_id: gid,
            user_id: vec![a, b],
            attach_data: Some(b"body".to_vec()),
        },
        CommandId::OtherGetShieldRsp,
    );
    assert_eq!(rsp.group_id, gid);
    assert_eq!(rsp.attach_data.as_deref(), Some(&b"body"[..]));
    let statuses: Vec<(u32, u32)> = rsp
        .shield_status_list
        .iter()
        .map(|s| (s.user_id, s.shield_status))
        .collect();
    assert_eq!(statuses, [(a, 0), (b, 1)]);
}

#[test]
fn offline_files_are_added_listed_and_deleted() {
    let mut db = db();
    let ids = create_users(&mut db, &unique("of"), 2);
    let (from, to) = (ids[0], ids[1]);
    let server = start();
    let mut link = Link::to(&server);
    let task = format!("{}-task'; DELETE FROM IMTransmitFile; --", unique("t"));
    link.send(
        CommandId::FileAddOfflineReq,
        &ImFileAddOfflineReq {
            from_user_id: from,
            to_user_id: to,
            task_id: task.clone(),
            file_name: "a.txt".into(),
            file_size: 1234,
        },
    );
    let has = |link: &mut Link| -> ImFileHasOfflineRsp {
        link.call(
            CommandId::FileHasOfflineReq,
            &ImFileHasOfflineReq {
                user_id: to,
                attach_data: attach(16),
            },
            CommandId::FileHasOfflineRes,
        )
    };
    let rsp = has(&mut link);
    assert_eq!(rsp.attach_data, attach(16));
    assert_eq!(rsp.offline_file_list.len(), 1);
    let f = &rsp.offline_file_list[0];
    assert_eq!(
        (
            f.from_user_id,
            f.task_id.as_str(),
            f.file_name.as_str(),
            f.file_size
        ),
        (from, task.as_str(), "a.txt", 1234)
    );
    link.send(
        CommandId::FileDelOfflineReq,
        &ImFileDelOfflineReq {
            from_user_id: from,
            to_user_id: to,
            task_id: task.clone(),
        },
    );
    assert!(has(&mut link).offline_file_list.is_empty());
}

#[test]
fn unknown_commands_and_heartbeats_are_ignored() {
    let server = start();
    let mut link = Link::to(&server);
    link.send_raw(CommandId::OtherHeartbeat, Vec::new());
    link.send_raw(CommandId::BuddyListChangeAvatarRequest, Vec::new());
    let rsp: ImUnreadMsgCntRsp = link.call(
        CommandId::MsgUnreadCntRequest,
        &ImUnreadMsgCntReq {
            user_id: 0,
            attach_data: None,
        },
        CommandId::MsgUnreadCntResponse,
    );
    assert_eq!(rsp.total_cnt, 0);
}
