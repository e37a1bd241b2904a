//! Forwarded client requests and relayed answers on the wire against fake back ends: which
//! fields msg_server overwrites (PROTOCOL §4.8), which attach it adds (§5.4), which db_proxy
//! pool it uses (BEHAVIOUR §1.3), the seq rules (PROTOCOL §2.3), and the notifications that follow.

#![allow(clippy::unwrap_used)]

mod support;

use prost::Message;
use support::*;
use teamtalk_proto::pb::base_define::{GroupVersionInfo, IpAddr, OfflineFileInfo, UserStat};
use teamtalk_proto::pb::buddy::{
    ImAllUserReq, ImChangeAvatarReq, ImChangeSignInfoReq, ImChangeSignInfoRsp, ImDepartmentReq,
    ImRecentContactSessionReq, ImRemoveSessionNotify, ImRemoveSessionReq, ImRemoveSessionRsp,
    ImSignInfoChangedNotify, ImUserStatNotify, ImUsersInfoReq, ImUsersStatReq, ImUsersStatRsp,
};
use teamtalk_proto::pb::file::{
    ImFileAddOfflineReq, ImFileDelOfflineReq, ImFileHasOfflineReq, ImFileHasOfflineRsp,
    ImFileNotify, ImFileReq, ImFileRsp,
};
use teamtalk_proto::pb::group::{
    ImGroupChangeMemberNotify, ImGroupChangeMemberReq, ImGroupChangeMemberRsp, ImGroupCreateReq,
    ImGroupInfoListReq, ImGroupShieldReq, ImNormalGroupListReq,
};
use teamtalk_proto::pb::login::{ImPushShieldReq, ImQueryPushShieldReq};
use teamtalk_proto::pb::message::{
    ImGetLatestMsgIdReq, ImGetMsgByIdReq, ImGetMsgListReq, ImUnreadMsgCntReq,
};
use teamtalk_proto::pb::server::{ImFileServerIpRsp, ImFileTransferReq, ImFileTransferRsp};
use teamtalk_proto::pb::switch_service::Imp2pCmdMsg;
use teamtalk_proto::{CommandId, DbAttachData, Pdu, PduAttachData};

/// Which db_proxy pool a request must use.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Pool {
    Login,
    Business,
}

/// Field 1 (`user_id`) as a varint, then field 20 (`attach_data`): the shape every routed
/// answer shares.
fn answer_body(user_id: u32, attach: &[u8], extra: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    prost::encoding::uint32::encode(1, &user_id, &mut body);
    body.extend_from_slice(extra);
    prost::encoding::bytes::encode(20, &attach.to_vec(), &mut body);
    body
}

/// The required fields (besides `user_id`) of each answer, so bodies parse as db_proxy's do.
fn other_required_fields(answer: CommandId) -> Vec<u8> {
    use CommandId as C;
    let varints: &[(u32, u32)] = match answer {
        C::BuddyListAllUserResponse
        | C::BuddyListDepartmentResponse
        | C::MsgUnreadCntResponse
        | C::LoginResPushShield
        | C::LoginResQueryPushShield
        | C::BuddyListChangeSignInfoResponse
        | C::GroupCreateResponse => &[(2, 0)],
        C::MsgListResponse | C::MsgGetLatestMsgIdRsp => &[(2, 1), (3, 7), (4, 0)],
        C::MsgGetByMsgIdRes => &[(2, 1), (3, 7)],
        C::GroupShieldGroupResponse => &[(2, 3), (3, 0)],
        C::GroupChangeMemberResponse => &[(2, 1), (3, 1), (4, 3)],
        _ => &[],
    };
    let mut out = Vec::new();
    for (field, value) in varints {
        prost::encoding::uint32::encode(*field, value, &mut out);
    }
    if answer == C::GroupCreateResponse {
        prost::encoding::string::encode(4, &"tmp".to_owned(), &mut out);
    }
    out
}

#[test]
fn queries_are_stamped_forwarded_to_their_pool_and_answered_without_attach() {
    let h = Harness::ready();
    let mut c = h.login("alice", 100, WINDOWS);
    let sess = ImRecentContactSessionReq {
        user_id: 1,
        latest_update_time: 5,
        attach_data: None,
    };
    let info = ImUsersInfoReq {
        user_id: 1,
        user_id_list: vec![7, 8],
        attach_data: None,
    };
    let all = ImAllUserReq {
        user_id: 1,
        latest_update_time: 0,
        attach_data: None,
    };
    let dept = ImDepartmentReq {
        user_id: 1,
        latest_update_time: 0,
        attach_data: None,
    };
    let unread = ImUnreadMsgCntReq {
        user_id: 1,
        attach_data: None,
    };
    let list = ImGetMsgListReq {
        user_id: 1,
        session_type: 1,
        session_id: 7,
        msg_id_begin: 0,
        msg_cnt: 20,
        attach_data: None,
    };
    let latest = ImGetLatestMsgIdReq {
        user_id: 1,
        session_type: 1,
        session_id: 7,
        attach_data: None,
    };
    let by_id = ImGetMsgByIdReq {
        user_id: 1,
        session_type: 1,
        session_id: 7,
        msg_id_list: vec![1, 2],
        attach_data: None,
    };
    let groups = ImNormalGroupListReq {
        user_id: 1,
        attach_data: None,
    };
    let ginfo = ImGroupInfoListReq {
        user_id: 1,
        group_version_list: vec![GroupVersionInfo {
            group_id: 3,
            version: 0,
        }],
        attach_data: None,
    };
    let create = ImGroupCreateReq {
        user_id: 1,
        group_type: 2,
        group_name: "tmp".into(),
        group_avatar: String::new(),
        member_id_list: vec![100, 7],
        attach_data: None,
    };
    let change = ImGroupChangeMemberReq {
        user_id: 1,
        change_type: 1,
        group_id: 3,
        member_id_list: vec![9],
        attach_data: None,
    };
    let shield = ImGroupShieldReq {
        user_id: 1,
        group_id: 3,
        shield_status: 1,
        attach_data: None,
    };
    let push_shield = ImPushShieldReq {
        user_id: 1,
        shield_status: 1,
        attach_data: None,
    };
    let query_shield = ImQueryPushShieldReq {
        user_id: 1,
        attach_data: None,
    };
    let sign = ImChangeSignInfoReq {
        user_id: 1,
        sign_info: "busy".into(),
        attach_data: None,
    };
    let offline = ImFileHasOfflineReq {
        user_id: 1,
        attach_data: None,
    };
    use CommandId as C;
    // (request, body, pool, attach length, answer command)
    let cases: Vec<(C, Vec<u8>, Pool, usize, C)> = vec![
        (
            C::BuddyListRecentContactSessionRequest,
            sess.encode_to_vec(),
            Pool::Login,
            12,
            C::BuddyListRecentContactSessionResponse,
        ),
        (
            C::BuddyListUserInfoRequest,
            info.encode_to_vec(),
            Pool::Login,
            12,
            C::BuddyListUserInfoResponse,
        ),
        (
            C::BuddyListAllUserRequest,
            all.encode_to_vec(),
            Pool::Business,
            12,
            C::BuddyListAllUserResponse,
        ),
        (
            C::BuddyListDepartmentRequest,
            dept.encode_to_vec(),
            Pool::Business,
            12,
            C::BuddyListDepartmentResponse,
        ),
        (
            C::MsgUnreadCntRequest,
            unread.encode_to_vec(),
            Pool::Login,
            12,
            C::MsgUnreadCntResponse,
        ),
        (
            C::MsgListRequest,
            list.encode_to_vec(),
            Pool::Login,
            12,
            C::MsgListResponse,
        ),
        (
            C::MsgGetLatestMsgIdReq,
            latest.encode_to_vec(),
            Pool::Business,
            12,
            C::MsgGetLatestMsgIdRsp,
        ),
        (
            C::MsgGetByMsgIdReq,
            by_id.encode_to_vec(),
            Pool::Login,
            12,
            C::MsgGetByMsgIdRes,
        ),
        (
            C::GroupNormalListRequest,
            groups.encode_to_vec(),
            Pool::Business,
            12,
            C::GroupNormalListResponse,
        ),
        (
            C::GroupInfoRequest,
            ginfo.encode_to_vec(),
            Pool::Business,
            16,
            C::GroupInfoResponse,
        ),
        (
            C::GroupCreateRequest,
            create.encode_to_vec(),
            Pool::Business,
            12,
            C::GroupCreateResponse,
        ),
        (
            C::GroupShieldGroupRequest,
            shield.encode_to_vec(),
            Pool::Business,
            12,
            C::GroupShieldGroupResponse,
        ),
        (
            C::LoginReqPushShield,
            push_shield.encode_to_vec(),
            Pool::Business,
            16,
            C::LoginResPushShield,
        ),
        (
            C::LoginReqQueryPushShield,
            query_shield.encode_to_vec(),
            Pool::Business,
            16,
            C::LoginResQueryPushShield,
        ),
        (
            C::BuddyListChangeSignInfoRequest,
            sign.encode_to_vec(),
            Pool::Business,
            16,
            C::BuddyListChangeSignInfoResponse,
        ),
        (
            C::FileHasOfflineReq,
            offline.encode_to_vec(),
            Pool::Business,
            12,
            C::FileHasOfflineRes,
        ),
        (
            C::GroupChangeMemberRequest,
            change.encode_to_vec(),
            Pool::Business,
            12,
            C::GroupChangeMemberResponse,
        ),
    ];
    for (cmd, body, pool, attach_len, answer_cmd) in cases {
        let seq = c.next_seq();
        c.send_pdu(&Pdu::from_body(cmd, seq, body.clone()));
        let fake = match pool {
            Pool::Login => &h.fakes.db_login,
            Pool::Business => &h.fakes.db,
        };
        let (i, fwd) = fake.expect(cmd);
        assert_eq!(fwd.header.seq_num, seq, "{cmd}: seq kept");
        let fields = prost_fields(&fwd.body);
        assert_eq!(fields.user_id, 100, "{cmd}: user_id overwritten");
        assert_eq!(fields.attach.len(), attach_len, "{cmd}: attach layout");
        let attach = DbAttachData::decode(&fields.attach).unwrap();
        assert_eq!(attach.attach_type, 1, "{cmd}");
        if attach_len == 16 {
            assert_eq!(&fields.attach[12..], [0, 0, 0, 0], "{cmd}: empty pdu");
        }
        // db_proxy answers with a fresh header echoing the seq and the attach.
        let body = answer_body(100, &fields.attach, &other_required_fields(answer_cmd));
        let mut answer = Pdu::from_body(answer_cmd, seq, body);
        answer.header.version = 1;
        fake.send(i, &answer);
        let got = c.expect(answer_cmd);
        assert_eq!(got.header.seq_num, seq, "{answer_cmd}: seq echoed");
        let got_fields = prost_fields(&got.body);
        assert_eq!(got_fields.user_id, 100);
        assert!(
            got_fields.attach.is_empty(),
            "{answer_cmd}: attach stripped"
        );
    }
    // The file answer also gets the file_server addresses (none advertised yet: empty).
    c.sync();
}

struct Fields {
    user_id: u32,
    attach: Vec<u8>,
}

/// Reads fields 1 and 20 of any message.
fn prost_fields(body: &[u8]) -> Fields {
    #[derive(Clone, PartialEq, Message)]
    struct Probe {
        #[prost(uint32, optional, tag = "1")]
        user_id: Option<u32>,
        #[prost(bytes = "vec", optional, tag = "20")]
        attach: Option<Vec<u8>>,
    }
    let p = Probe::decode(body).unwrap();
    Fields {
        user_id: p.user_id.unwrap_or(0),
        attach: p.attach.unwrap_or_default(),
    }
}

#[test]
fn answers_for_a_closed_or_different_connection_are_dropped() {
    let h = Harness::ready();
    let mut a = h.login("alice", 101, WINDOWS);
    a.send(CommandId::BuddyListAllUserRequest, &ImAllUserReq::default());
    let (i, fwd) = h.fakes.db.expect(CommandId::BuddyListAllUserRequest);
    let attach = prost_fields(&fwd.body).attach;
    drop(a);
    h.fakes.route.expect(CommandId::OtherUserStatusUpdate);
    // A new connection likely reuses the slab key; it must not get alice's answer.
    let mut b = h.login("bob", 102, WINDOWS);
    for user in [101, 102] {
        let answer = Pdu::from_body(
            CommandId::BuddyListAllUserResponse,
            fwd.header.seq_num,
            answer_body(user, &attach, &[]),
        );
        h.fakes.db.send(i, &answer);
    }
    b.sync();
}

#[test]
fn no_db_proxy_fallbacks_answer_with_the_request_seq() {
    let h = Harness::ready();
    let mut c = h.login("alice", 103, WINDOWS);
    h.fakes.db_login.stop();
    h.fakes.db.stop();
    // Poll until msg_server noticed both links are gone: the group list is then answered
    // locally instead of forwarded (a heartbeat echo first means it was still forwarded).
    let deadline = std::time::Instant::now() + WAIT;
    let list = loop {
        let seq = c.send(
            CommandId::GroupNormalListRequest,
            &ImNormalGroupListReq::default(),
        );
        c.send_pdu(&Pdu::empty(CommandId::OtherHeartbeat, 1));
        let got = c.recv();
        if got.command() == Some(CommandId::GroupNormalListResponse) {
            assert_eq!(got.header.seq_num, seq);
            c.expect(CommandId::OtherHeartbeat);
            break got;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "db_proxy links never went down"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let list: teamtalk_proto::pb::group::ImNormalGroupListRsp = list.parse().unwrap();
    assert_eq!(list.user_id, 103);
    assert!(list.group_version_list.is_empty());

    let change = ImGroupChangeMemberReq {
        user_id: 0,
        change_type: 2,
        group_id: 44,
        member_id_list: vec![1],
        attach_data: None,
    };
    let seq = c.send(CommandId::GroupChangeMemberRequest, &change);
    let rsp = c.expect(CommandId::GroupChangeMemberResponse);
    assert_eq!(rsp.header.seq_num, seq);
    let rsp: ImGroupChangeMemberRsp = rsp.parse().unwrap();
    assert_eq!(
        (rsp.user_id, rsp.change_type, rsp.result_code, rsp.group_id),
        (103, 2, 1, 44)
    );

    let shield = ImGroupShieldReq {
        user_id: 0,
        group_id: 45,
        shield_status: 1,
        attach_data: None,
    };
    c.send(CommandId::GroupShieldGroupRequest, &shield);
    let rsp: teamtalk_proto::pb::group::ImGroupShieldRsp = c
        .expect(CommandId::GroupShieldGroupResponse)
        .parse()
        .unwrap();
    assert_eq!((rsp.user_id, rsp.group_id, rsp.result_code), (103, 45, 1));

    let create = ImGroupCreateReq {
        user_id: 0,
        group_type: 2,
        group_name: "g".into(),
        group_avatar: String::new(),
        member_id_list: vec![],
        attach_data: None,
    };
    c.send(CommandId::GroupCreateRequest, &create);
    let rsp: teamtalk_proto::pb::group::ImGroupCreateRsp =
        c.expect(CommandId::GroupCreateResponse).parse().unwrap();
    assert_eq!((rsp.result_code, rsp.group_name.as_str()), (1, "g"));

    c.send(CommandId::GroupInfoRequest, &ImGroupInfoListReq::default());
    let rsp: teamtalk_proto::pb::group::ImGroupInfoListRsp =
        c.expect(CommandId::GroupInfoResponse).parse().unwrap();
    assert_eq!(rsp.user_id, 103);

    c.send(
        CommandId::FileHasOfflineReq,
        &ImFileHasOfflineReq::default(),
    );
    let rsp: ImFileHasOfflineRsp = c.expect(CommandId::FileHasOfflineRes).parse().unwrap();
    assert_eq!(rsp.user_id, 103);
}

#[test]
fn normal_groups_cannot_be_created_by_clients() {
    let h = Harness::ready();
    let mut c = h.login("alice", 104, WINDOWS);
    let create = ImGroupCreateReq {
        user_id: 0,
        group_type: 1,
        group_name: "official".into(),
        group_avatar: String::new(),
        member_id_list: vec![104],
        attach_data: None,
    };
    c.send(CommandId::GroupCreateRequest, &create);
    c.send(CommandId::BuddyListAllUserRequest, &ImAllUserReq::default());
    h.fakes.db.expect(CommandId::BuddyListAllUserRequest);
}

#[test]
fn users_status_goes_through_route_and_comes_back_stripped() {
    let h = Harness::ready();
    let mut c = h.login("alice", 105, WINDOWS);
    let req = ImUsersStatReq {
        user_id: 1,
        user_id_list: vec![7, 8],
        attach_data: None,
    };
    let seq = c.send(CommandId::BuddyListUsersStatusRequest, &req);
    let (_, fwd) = h.fakes.route.expect(CommandId::BuddyListUsersStatusRequest);
    assert_eq!(fwd.header.seq_num, seq);
    let fwd: ImUsersStatReq = fwd.parse().unwrap();
    assert_eq!(
        (fwd.user_id, fwd.user_id_list.as_slice()),
        (105, &[7, 8][..])
    );
    let attach = PduAttachData::decode(fwd.attach_data.as_deref().unwrap()).unwrap();
    assert_eq!((attach.attach_type, attach.pdu.len()), (1, 0));
    let rsp = ImUsersStatRsp {
        user_id: 105,
        user_stat_list: vec![UserStat {
            user_id: 7,
            status: 1,
        }],
        attach_data: fwd.attach_data,
    };
    h.fakes.route.send(
        0,
        &Pdu::new(CommandId::BuddyListUsersStatusResponse, seq, &rsp),
    );
    let got = c.expect(CommandId::BuddyListUsersStatusResponse);
    assert_eq!(got.header.seq_num, seq);
    let got: ImUsersStatRsp = got.parse().unwrap();
    assert_eq!(got.attach_data, None);
    assert_eq!(got.user_stat_list.len(), 1);
}

#[test]
fn presence_notifications_reach_pc_connections_only() {
    let h = Harness::ready();
    let mut pc = h.login("alice", 106, WINDOWS);
    let mut phone = h.login("bob", 107, ANDROID);
    let notify = ImUserStatNotify {
        user_stat: UserStat {
            user_id: 9,
            status: 1,
        },
    };
    h.fakes
        .route
        .send(0, &Pdu::new(CommandId::BuddyListStatusNotify, 0, &notify));
    let got: ImUserStatNotify = pc.expect(CommandId::BuddyListStatusNotify).parse().unwrap();
    assert_eq!(got.user_stat.user_id, 9);
    phone.sync();
}

#[test]
fn a_burst_of_presence_notifications_reaches_every_pc_connection_whole_and_in_order() {
    let h = Harness::ready();
    let mut pcs = [
        h.login("carol", 110, WINDOWS),
        h.login("dave", 111, WINDOWS),
    ];
    let mut phone = h.login("erin", 112, ANDROID);
    // More than one batch's worth of bytes (64 KiB) and many route reads: some go out when the
    // batch is full, the rest when its timer fires.
    let count = 5_000u32;
    let status = |i: u32| if i % 2 == 0 { 1 } else { 2 };
    for i in 0..count {
        let notify = ImUserStatNotify {
            user_stat: UserStat {
                user_id: 1_000 + i,
                status: status(i),
            },
        };
        h.fakes
            .route
            .send(0, &Pdu::new(CommandId::BuddyListStatusNotify, 0, &notify));
    }
    for pc in &mut pcs {
        for i in 0..count {
            let got: ImUserStatNotify =
                pc.expect(CommandId::BuddyListStatusNotify).parse().unwrap();
            assert_eq!(
                (got.user_stat.user_id, got.user_stat.status),
                (1_000 + i, status(i))
            );
        }
        pc.sync();
    }
    phone.sync();
}

#[test]
fn sign_info_change_is_announced_through_route_and_broadcast_when_reflected() {
    let h = Harness::ready();
    let mut alice = h.login("alice", 108, WINDOWS);
    let mut bob = h.login("bob", 109, ANDROID);
    let req = ImChangeSignInfoReq {
        user_id: 0,
        sign_info: "on holiday".into(),
        attach_data: None,
    };
    let seq = alice.send(CommandId::BuddyListChangeSignInfoRequest, &req);
    let (i, fwd) = h.fakes.db.expect(CommandId::BuddyListChangeSignInfoRequest);
    let fwd: ImChangeSignInfoReq = fwd.parse().unwrap();
    let rsp = ImChangeSignInfoRsp {
        user_id: 108,
        result_code: 0,
        sign_info: Some("on holiday".into()),
        attach_data: fwd.attach_data,
    };
    h.fakes.db.send(
        i,
        &Pdu::new(CommandId::BuddyListChangeSignInfoResponse, seq, &rsp),
    );
    let got = alice.expect(CommandId::BuddyListChangeSignInfoResponse);
    assert_eq!(got.header.seq_num, seq);
    assert_eq!(
        got.parse::<ImChangeSignInfoRsp>().unwrap().attach_data,
        None
    );
    let (_, notify) = h
        .fakes
        .route
        .expect(CommandId::BuddyListSignInfoChangedNotify);
    let n: ImSignInfoChangedNotify = notify.parse().unwrap();
    assert_eq!(
        (n.changed_user_id, n.sign_info.as_str()),
        (108, "on holiday")
    );
    // Nothing local until route reflects it; then every connection gets it.
    alice.sync();
    bob.sync();
    h.fakes.route.send(0, &notify);
    alice.expect(CommandId::BuddyListSignInfoChangedNotify);
    bob.expect(CommandId::BuddyListSignInfoChangedNotify);
}

#[test]
fn removing_a_single_session_notifies_the_other_devices_at_once() {
    let h = Harness::ready();
    let mut pc = h.login("alice", 110, WINDOWS);
    let mut phone = h.login("alice", 110, IOS);
    let req = ImRemoveSessionReq {
        user_id: 0,
        session_type: 1,
        session_id: 111,
        attach_data: None,
    };
    let seq = pc.send(CommandId::BuddyListRemoveSessionReq, &req);
    let (i, fwd) = h.fakes.db.expect(CommandId::BuddyListRemoveSessionReq);
    let n: ImRemoveSessionNotify = phone
        .expect(CommandId::BuddyListRemoveSessionNotify)
        .parse()
        .unwrap();
    assert_eq!((n.user_id, n.session_type, n.session_id), (110, 1, 111));
    let (_, routed) = h
        .fakes
        .route
        .expect(CommandId::BuddyListRemoveSessionNotify);
    let fwd: ImRemoveSessionReq = fwd.parse().unwrap();
    let rsp = ImRemoveSessionRsp {
        user_id: 110,
        result_code: 0,
        session_type: 1,
        session_id: 111,
        attach_data: fwd.attach_data,
    };
    h.fakes.db.send(
        i,
        &Pdu::new(CommandId::BuddyListRemoveSessionRes, seq, &rsp),
    );
    pc.expect(CommandId::BuddyListRemoveSessionRes);
    // From another msg_server: to every connection of the user.
    h.fakes.route.send(0, &routed);
    pc.expect(CommandId::BuddyListRemoveSessionNotify);
    phone.expect(CommandId::BuddyListRemoveSessionNotify);
}

#[test]
fn member_change_notifies_changed_and_current_members() {
    let h = Harness::ready();
    let mut admin = h.login("alice", 120, WINDOWS);
    let mut admin_phone = h.login("alice", 120, ANDROID);
    let mut added = h.login("bob", 121, WINDOWS);
    let mut member = h.login("carol", 122, WINDOWS);
    let req = ImGroupChangeMemberReq {
        user_id: 0,
        change_type: 1,
        group_id: 600,
        member_id_list: vec![121],
        attach_data: None,
    };
    let seq = admin.send(CommandId::GroupChangeMemberRequest, &req);
    let (i, fwd) = h.fakes.db.expect(CommandId::GroupChangeMemberRequest);
    let fwd: ImGroupChangeMemberReq = fwd.parse().unwrap();
    let rsp = ImGroupChangeMemberRsp {
        user_id: 120,
        change_type: 1,
        result_code: 0,
        group_id: 600,
        cur_user_id_list: vec![120, 121, 122],
        chg_user_id_list: vec![121],
        attach_data: fwd.attach_data,
    };
    h.fakes.db.send(
        i,
        &Pdu::new(CommandId::GroupChangeMemberResponse, seq, &rsp),
    );
    let got = admin.expect(CommandId::GroupChangeMemberResponse);
    assert_eq!(got.header.seq_num, seq);
    let (_, routed) = h.fakes.route.expect(CommandId::GroupChangeMemberNotify);
    let n: ImGroupChangeMemberNotify = routed.parse().unwrap();
    assert_eq!((n.user_id, n.group_id), (120, 600));
    assert_eq!(n.chg_user_id_list, [121]);
    // bob is in both lists: twice, as the original does.
    added.expect(CommandId::GroupChangeMemberNotify);
    added.expect(CommandId::GroupChangeMemberNotify);
    member.expect(CommandId::GroupChangeMemberNotify);
    admin_phone.expect(CommandId::GroupChangeMemberNotify);
    admin.sync();
    // Relayed from another msg_server: everybody in the lists, requester included.
    h.fakes.route.send(0, &routed);
    admin.expect(CommandId::GroupChangeMemberNotify);
}

#[test]
fn p2p_commands_are_relayed_only_with_the_real_sender() {
    let h = Harness::ready();
    let mut alice = h.login("alice", 130, WINDOWS);
    let mut alice_phone = h.login("alice", 130, ANDROID);
    let mut bob = h.login("bob", 131, WINDOWS);
    let forged = Imp2pCmdMsg {
        from_user_id: 131,
        to_user_id: 130,
        cmd_msg_data: "typing".into(),
    };
    alice.send(CommandId::SwitchP2pCmd, &forged);
    let real = Imp2pCmdMsg {
        from_user_id: 130,
        to_user_id: 131,
        cmd_msg_data: "typing".into(),
    };
    let seq = alice.send(CommandId::SwitchP2pCmd, &real);
    for c in [&mut bob, &mut alice_phone] {
        let got = c.expect(CommandId::SwitchP2pCmd);
        assert_eq!(got.header.seq_num, seq, "relayed unchanged");
        assert_eq!(got.parse::<Imp2pCmdMsg>().unwrap(), real);
    }
    alice.sync();
    let (_, routed) = h.fakes.route.expect(CommandId::SwitchP2pCmd);
    assert_eq!(routed.parse::<Imp2pCmdMsg>().unwrap(), real);
}

#[test]
fn p2p_command_to_oneself_is_relayed_as_the_original_does() {
    let h = Harness::ready();
    let mut pc = h.login("alice", 132, WINDOWS);
    let mut phone = h.login("alice", 132, ANDROID);
    let own = Imp2pCmdMsg {
        from_user_id: 132,
        to_user_id: 132,
        cmd_msg_data: "sync".into(),
    };
    // Sender's other connections, then every connection of the receiver: the sending
    // connection gets it back once, the other device twice.
    let seq = pc.send(CommandId::SwitchP2pCmd, &own);
    assert_eq!(pc.expect(CommandId::SwitchP2pCmd).header.seq_num, seq);
    for _ in 0..2 {
        assert_eq!(phone.expect(CommandId::SwitchP2pCmd).header.seq_num, seq);
    }
    pc.sync();
    phone.sync();
    h.fakes.route.expect(CommandId::SwitchP2pCmd);
    // Relayed by route_server: every connection of sender and of receiver, so twice each.
    h.fakes
        .route
        .send(0, &Pdu::new(CommandId::SwitchP2pCmd, 9, &own));
    for c in [&mut pc, &mut phone] {
        c.expect(CommandId::SwitchP2pCmd);
        c.expect(CommandId::SwitchP2pCmd);
        c.sync();
    }
}

#[test]
fn avatar_change_is_forwarded_without_attach() {
    let h = Harness::ready();
    let mut c = h.login("alice", 135, WINDOWS);
    let req = ImChangeAvatarReq {
        user_id: 0,
        avatar_url: "http://x/a.png".into(),
        attach_data: None,
    };
    c.send(CommandId::BuddyListChangeAvatarRequest, &req);
    let (_, fwd) = h.fakes.db.expect(CommandId::BuddyListChangeAvatarRequest);
    let fwd: ImChangeAvatarReq = fwd.parse().unwrap();
    assert_eq!((fwd.user_id, fwd.attach_data), (135, None));
}

#[test]
fn file_requests_go_through_file_server_and_notify_the_recipient() {
    let h = Harness::ready();
    let mut alice = h.login("alice", 140, WINDOWS);
    let mut bob_pc = h.login("bob", 141, WINDOWS);
    let mut bob_phone = h.login("bob", 141, ANDROID);
    let ips = ImFileServerIpRsp {
        ip_addr_list: vec![IpAddr {
            ip: "10.1.1.1".into(),
            port: 8600,
        }],
    };
    h.fakes
        .file
        .send(0, &Pdu::new(CommandId::OtherFileServerIpRsp, 0, &ips));

    let req = ImFileReq {
        from_user_id: 999,
        to_user_id: 141,
        file_name: "a.txt".into(),
        file_size: 10,
        trans_mode: 2,
    };
    let seq = alice.send(CommandId::FileRequest, &req);
    let (i, fwd) = h.fakes.file.expect(CommandId::OtherFileTransferReq);
    assert_eq!(fwd.header.seq_num, seq);
    let fwd: ImFileTransferReq = fwd.parse().unwrap();
    assert_eq!(
        (fwd.from_user_id, fwd.to_user_id, fwd.trans_mode),
        (140, 141, 2)
    );
    db_attach(fwd.attach_data.as_deref().unwrap());
    let rsp = ImFileTransferRsp {
        result_code: 0,
        from_user_id: 140,
        to_user_id: 141,
        file_name: Some("a.txt".into()),
        file_size: Some(10),
        task_id: Some("task-1".into()),
        trans_mode: Some(2),
        attach_data: fwd.attach_data,
    };
    h.fakes
        .file
        .send(i, &Pdu::new(CommandId::OtherFileTransferRsp, seq, &rsp));
    let got = alice.expect(CommandId::FileResponse);
    assert_eq!(got.header.seq_num, seq);
    let got: ImFileRsp = got.parse().unwrap();
    assert_eq!((got.result_code, got.task_id.as_str()), (0, "task-1"));
    assert_eq!(got.ip_addr_list, ips.ip_addr_list);
    let n: ImFileNotify = bob_pc.expect(CommandId::FileNotify).parse().unwrap();
    assert_eq!(
        (n.from_user_id, n.task_id.as_str(), n.offline_ready),
        (140, "task-1", 0)
    );
    bob_phone.sync();
    h.fakes.route.expect(CommandId::FileNotify);

    // Offline record: stamped with the uploader, recipient notified as ready.
    let add = ImFileAddOfflineReq {
        from_user_id: 999,
        to_user_id: 141,
        task_id: "task-1".into(),
        file_name: "a.txt".into(),
        file_size: 10,
    };
    alice.send(CommandId::FileAddOfflineReq, &add);
    let (_, fwd) = h.fakes.db.expect(CommandId::FileAddOfflineReq);
    assert_eq!(
        fwd.parse::<ImFileAddOfflineReq>().unwrap().from_user_id,
        140
    );
    let n: ImFileNotify = bob_pc.expect(CommandId::FileNotify).parse().unwrap();
    assert_eq!((n.offline_ready, n.trans_mode), (1, 2));

    // Deleting: only a party to the record.
    let del = ImFileDelOfflineReq {
        from_user_id: 7,
        to_user_id: 8,
        task_id: "task-1".into(),
    };
    bob_pc.send(CommandId::FileDelOfflineReq, &del);
    let del = ImFileDelOfflineReq {
        from_user_id: 140,
        to_user_id: 141,
        task_id: "task-1".into(),
    };
    bob_pc.send(CommandId::FileDelOfflineReq, &del);
    let (_, fwd) = h.fakes.db.expect(CommandId::FileDelOfflineReq);
    assert_eq!(fwd.parse::<ImFileDelOfflineReq>().unwrap(), del);

    // The offline list gets the file_server's addresses, attach stripped.
    let seq = bob_pc.send(
        CommandId::FileHasOfflineReq,
        &ImFileHasOfflineReq::default(),
    );
    let (i, fwd) = h.fakes.db.expect(CommandId::FileHasOfflineReq);
    let fwd: ImFileHasOfflineReq = fwd.parse().unwrap();
    let rsp = ImFileHasOfflineRsp {
        user_id: 141,
        offline_file_list: vec![OfflineFileInfo {
            from_user_id: 140,
            task_id: "task-1".into(),
            file_name: "a.txt".into(),
            file_size: 10,
        }],
        ip_addr_list: vec![],
        attach_data: fwd.attach_data,
    };
    h.fakes
        .db
        .send(i, &Pdu::new(CommandId::FileHasOfflineRes, seq, &rsp));
    let got: ImFileHasOfflineRsp = bob_pc.expect(CommandId::FileHasOfflineRes).parse().unwrap();
    assert_eq!(got.ip_addr_list, ips.ip_addr_list);
    assert_eq!(got.attach_data, None);
}

#[test]
fn online_file_request_asks_route_whether_the_peer_is_online() {
    let h = Harness::ready();
    let mut alice = h.login("alice", 150, WINDOWS);
    let req = ImFileReq {
        from_user_id: 150,
        to_user_id: 151,
        file_name: "b.bin".into(),
        file_size: 1,
        trans_mode: 1,
    };
    let seq = alice.send(CommandId::FileRequest, &req);
    let (_, stat) = h.fakes.route.expect(CommandId::BuddyListUsersStatusRequest);
    assert_eq!(stat.header.seq_num, seq);
    let stat: ImUsersStatReq = stat.parse().unwrap();
    assert_eq!(
        (stat.user_id, stat.user_id_list.as_slice()),
        (150, &[151][..])
    );
    let attach = PduAttachData::decode(stat.attach_data.as_deref().unwrap()).unwrap();
    assert_eq!(attach.attach_type, 5);
    let rsp = ImUsersStatRsp {
        user_id: 150,
        user_stat_list: vec![UserStat {
            user_id: 151,
            status: 2,
        }],
        attach_data: stat.attach_data,
    };
    h.fakes.route.send(
        0,
        &Pdu::new(CommandId::BuddyListUsersStatusResponse, seq, &rsp),
    );
    let (_, fwd) = h.fakes.file.expect(CommandId::OtherFileTransferReq);
    assert_eq!(fwd.header.seq_num, seq);
    let fwd: ImFileTransferReq = fwd.parse().unwrap();
    assert_eq!(
        fwd.trans_mode, 2,
        "peer offline: the transfer becomes offline"
    );
}
