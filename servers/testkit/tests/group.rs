//! Groups end to end: creation by a client, member changes and their notifications on both
//! msg_servers, group message fan-out, unread counters and history for offline members, and
//! the admin-created normal groups.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use testkit::TestCluster;
use tt_client::CommandId;
use tt_client::pb::base_define::{ClientType, GroupModifyType, GroupType, SessionType};
use tt_client::pb::group::{ImGroupChangeMemberNotify, ImGroupCreateReq};

const WAIT: Duration = Duration::from_secs(15);

#[test]
fn client_group_changes_notify_members_and_messages_fan_out_to_both_msg_servers() {
    let cluster = TestCluster::start();
    let alice = cluster.create_user("a");
    let bob = cluster.create_user("b");
    let carol = cluster.create_user("c");
    let dave = cluster.create_user("d");
    let a = cluster.login(0, &alice);
    let a_phone = cluster.login_as(1, &alice, ClientType::Ios);
    let b = cluster.login(1, &bob);
    let d = cluster.login_as(0, &dave, ClientType::Android);

    let created = a
        .create_group("team", "", &[alice.id, bob.id, carol.id])
        .unwrap();
    assert_eq!(created.result_code, 0);
    let gid = created.group_id.unwrap();
    cluster.fixtures().adopt_group(gid);
    assert_eq!(created.group_name, "team");
    let mut expected = vec![alice.id, bob.id, carol.id];
    expected.sort_unstable();
    assert_eq!(created.user_id_list, expected);

    let changed = a
        .change_group_members(gid, GroupModifyType::Add, &[dave.id])
        .unwrap();
    assert_eq!(changed.result_code, 0);
    assert_eq!(changed.chg_user_id_list, [dave.id]);
    assert!(changed.cur_user_id_list.contains(&dave.id));
    // The added member (same msg_server) and a member on the other msg_server hear of it.
    for c in [&d, &b, &a_phone] {
        let n: ImGroupChangeMemberNotify = c
            .wait_for_parsed(CommandId::GroupChangeMemberNotify, WAIT)
            .unwrap();
        assert_eq!((n.user_id, n.group_id, n.change_type), (alice.id, gid, 1));
        assert_eq!(n.chg_user_id_list, [dave.id]);
    }

    let ack = a.send_group_text(gid, "hello team").unwrap();
    assert_eq!((ack.session_id, ack.session_type), (gid, 2));
    for c in [&b, &d, &a_phone] {
        let got = c.next_message(WAIT).unwrap();
        assert_eq!(
            (got.from, got.to_session, got.msg_id),
            (alice.id, gid, ack.msg_id)
        );
        assert_eq!(got.text, "hello team");
        assert!(got.is_group());
    }
    a.ping(WAIT).unwrap();
    assert!(
        a.drain_events()
            .iter()
            .all(|p| p.command() != Some(CommandId::MsgData)),
        "no echo to the sending connection"
    );

    // carol was offline: unread counter and history.
    let c = cluster.login(1, &carol);
    let unread = c.unread_counts().unwrap();
    let info = unread
        .unreadinfo_list
        .iter()
        .find(|u| u.session_id == gid)
        .expect("group unread entry");
    assert_eq!((info.session_type, info.unread_cnt), (2, 1));
    assert_eq!(info.latest_msg_from_user_id, alice.id);
    let list = c.message_list(SessionType::Group, gid, 0, 10).unwrap();
    assert_eq!(list.msg_list.len(), 1);
    assert_eq!(list.msg_list[0].msg_id, ack.msg_id);

    // Removing a member: it stops receiving the group's messages.
    let removed = a
        .change_group_members(gid, GroupModifyType::Del, &[bob.id])
        .unwrap();
    assert_eq!(removed.result_code, 0);
    assert!(!removed.cur_user_id_list.contains(&bob.id));
    b.wait_for(CommandId::GroupChangeMemberNotify, WAIT)
        .unwrap();
    a.send_group_text(gid, "without bob").unwrap();
    assert_eq!(d.next_message(WAIT).unwrap().text, "without bob");
    assert_eq!(c.next_message(WAIT).unwrap().text, "without bob");
    b.ping(WAIT).unwrap();
    assert!(
        b.drain_events()
            .iter()
            .all(|p| p.command() != Some(CommandId::MsgData))
    );
}

#[test]
fn normal_groups_are_listed_with_their_members() {
    let cluster = TestCluster::start();
    let alice = cluster.create_user("a");
    let bob = cluster.create_user("b");
    let gid = cluster.create_group("official", 0, &[alice.id, bob.id], 1);
    let a = cluster.login(0, &alice);
    let list = a.group_list().unwrap();
    assert!(list.group_version_list.iter().any(|g| g.group_id == gid));
    let info = a.group_info(&[(gid, 0)]).unwrap();
    let group = &info.group_info_list[0];
    assert_eq!((group.group_id, group.group_type), (gid, 1));
    let mut members = group.group_member_list.clone();
    members.sort_unstable();
    assert_eq!(members, [alice.id, bob.id]);
    // Clients cannot create normal groups: no answer, nothing created.
    let req = ImGroupCreateReq {
        user_id: alice.id,
        group_type: GroupType::Normal as i32,
        group_name: "mine".into(),
        group_avatar: String::new(),
        member_id_list: vec![alice.id],
        attach_data: None,
    };
    a.send(CommandId::GroupCreateRequest, &req).unwrap();
    a.ping(WAIT).unwrap();
    assert!(
        a.drain_events()
            .iter()
            .all(|p| p.command() != Some(CommandId::GroupCreateResponse))
    );
}
