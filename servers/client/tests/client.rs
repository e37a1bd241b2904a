//! The client against a scripted fake msg_server speaking real PDUs.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{PATIENCE, login_res, serve_one, text_msg, user};
use tt_client::crypto::{decrypt_text, md5_hex};
use tt_client::message::Event;
use tt_client::pb::base_define::{ClientType, MsgType, SessionType, UserStatType};
use tt_client::pb::buddy::{ImUsersInfoReq, ImUsersInfoRsp};
use tt_client::pb::login::{ImKickUser, ImLoginReq};
use tt_client::pb::message::{ImClientTimeReq, ImClientTimeRsp, ImMsgData, ImMsgDataAck};
use tt_client::{Client, ClientConfig, ClientError, CloseReason, CommandId, DEFAULT_AES_KEY, Pdu};

fn quiet_config() -> ClientConfig {
    ClientConfig {
        heartbeat_interval: None,
        request_timeout: PATIENCE,
        ..ClientConfig::default()
    }
}

fn connect(addr: std::net::SocketAddr) -> Client {
    Client::connect_with(addr, quiet_config()).unwrap()
}

fn login(client: &Client) -> Result<tt_client::LoginInfo, ClientError> {
    client.login(
        "alice",
        "test123",
        ClientType::Windows,
        UserStatType::UserStatusOnline,
    )
}

#[test]
fn login_success_returns_the_user_and_hashes_the_password() {
    let (addr, server) = serve_one(|mut conn| {
        let pdu = conn.expect(CommandId::LoginReqUserlogin);
        let req: ImLoginReq = pdu.parse().unwrap();
        conn.reply(
            &pdu,
            CommandId::LoginResUserlogin,
            &login_res(0, Some(user(7, "alice"))),
        );
        (pdu.header, req)
    });
    let client = connect(addr);
    let info = login(&client).unwrap();
    assert_eq!(info.user_id(), 7);
    assert_eq!(info.user.user_nick_name, "alice");
    assert_eq!(info.server_time, 1_431_000_000);
    assert_eq!(info.result_string, "成功");
    assert_eq!(client.user_id(), 7);

    let (header, req) = server.join().unwrap();
    assert_ne!(header.seq_num, 0, "requests never use seq 0");
    assert_eq!(header.service_id, 1);
    assert_eq!(header.version, 1);
    assert_eq!(req.user_name, "alice");
    assert_eq!(req.password, "cc03e747a6afbbcbf8be7668acfebee5");
    assert_eq!(req.password, md5_hex("test123"));
    assert_eq!(req.client_type, ClientType::Windows as i32);
    assert_eq!(req.online_status, UserStatType::UserStatusOnline as i32);
    assert!(req.client_version.is_some());
}

#[test]
fn login_refusal_is_a_typed_error_with_human_text() {
    let (addr, server) = serve_one(|mut conn| {
        let pdu = conn.expect(CommandId::LoginReqUserlogin);
        let mut res = login_res(6, None);
        res.result_string = Some("用户名或密码错误".into());
        conn.reply(&pdu, CommandId::LoginResUserlogin, &res);
        // The server closes after a refusal.
    });
    let client = connect(addr);
    let err = login(&client).unwrap_err();
    match &err {
        ClientError::LoginRefused {
            code,
            reason,
            server_text,
        } => {
            assert_eq!(*code, 6);
            assert_eq!(*reason, "wrong password or unknown user");
            assert_eq!(server_text, "用户名或密码错误");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains("wrong password"), "{err}");
    server.join().unwrap();
    assert_eq!(
        client.wait_closed(PATIENCE).unwrap(),
        CloseReason::ClosedByServer
    );
    assert_eq!(client.user_id(), 0);
}

#[test]
fn server_side_refusal_codes_have_their_own_text() {
    for (code, text) in [
        (3, "no db_proxy_server"),
        (4, "no login_server"),
        (5, "no route_server"),
    ] {
        let (addr, server) = serve_one(move |mut conn| {
            let pdu = conn.expect(CommandId::LoginReqUserlogin);
            conn.reply(&pdu, CommandId::LoginResUserlogin, &login_res(code, None));
        });
        let client = connect(addr);
        let err = login(&client).unwrap_err();
        let ClientError::LoginRefused {
            code: got, reason, ..
        } = err
        else {
            panic!("unexpected {err:?}");
        };
        assert_eq!((got, reason), (code, text));
        server.join().unwrap();
    }
}

#[test]
fn responses_are_matched_by_seq_and_command_with_pushes_interleaved() {
    let (addr, server) = serve_one(|mut conn| {
        let first = conn.recv();
        let second = conn.recv();
        let (time_req, info_req) = if first.command() == Some(CommandId::MsgTimeRequest) {
            (first, second)
        } else {
            (second, first)
        };
        // An unsolicited message (seq 0), then a relayed message that happens to carry the
        // seq of a pending request but another command: both must go to the event stream.
        conn.send(&Pdu::new(CommandId::MsgData, 0, &text_msg(2, 7, 1, "one")));
        conn.send(&Pdu::new(
            CommandId::MsgData,
            time_req.header.seq_num,
            &text_msg(3, 7, 2, "two"),
        ));
        // Answer in the opposite order of arrival.
        let info: ImUsersInfoReq = info_req.parse().unwrap();
        conn.reply(
            &info_req,
            CommandId::BuddyListUserInfoResponse,
            &ImUsersInfoRsp {
                user_id: 7,
                user_info_list: info.user_id_list.iter().map(|&id| user(id, "x")).collect(),
                attach_data: None,
            },
        );
        conn.send(&Pdu::new(
            CommandId::BuddyListStatusNotify,
            0,
            &tt_client::pb::buddy::ImUserStatNotify {
                user_stat: tt_client::pb::base_define::UserStat {
                    user_id: 2,
                    status: 1,
                },
            },
        ));
        conn.reply(
            &time_req,
            CommandId::MsgTimeResponse,
            &ImClientTimeRsp { server_time: 42 },
        );
        conn.wait_client_close()
    });
    let client = connect(addr);
    std::thread::scope(|s| {
        let time = s.spawn(|| client.server_time().unwrap());
        let info = s.spawn(|| client.users_info(&[4, 5]).unwrap());
        assert_eq!(time.join().unwrap(), 42);
        let info = info.join().unwrap();
        let ids: Vec<u32> = info.user_info_list.iter().map(|u| u.user_id).collect();
        assert_eq!(ids, [4, 5]);
    });

    let one = client.next_message(PATIENCE).unwrap();
    assert_eq!((one.from, one.text.as_str(), one.seq), (2, "one", 0));
    let two = client.next_message(PATIENCE).unwrap();
    assert_eq!((two.from, two.text.as_str()), (3, "two"));
    let notify = client.next_event(PATIENCE).unwrap();
    assert_eq!(notify.command(), Some(CommandId::BuddyListStatusNotify));
    assert!(client.drain_events().is_empty());
    drop(client);
    assert!(server.join().unwrap(), "client closed its side on drop");
}

#[test]
fn event_stream_delivers_typed_events() {
    let (addr, server) = serve_one(|mut conn| {
        conn.send(&Pdu::new(
            CommandId::MsgData,
            0,
            &text_msg(2, 7, 11, "你好, world"),
        ));
        conn.send(&Pdu::new(
            CommandId::LoginKickUser,
            0,
            &ImKickUser {
                user_id: 7,
                kick_reason: 1,
            },
        ));
        conn.send(&Pdu::from_body(CommandId::OtherStopRecvPacket, 0, vec![]));
        conn.wait_client_close()
    });
    let client = connect(addr);
    let key = DEFAULT_AES_KEY;
    let first = Event::from_pdu(client.next_event(PATIENCE).unwrap(), key).unwrap();
    match first {
        Event::Message(m) => {
            assert_eq!(m.text, "你好, world");
            assert_eq!(m.msg_type, MsgType::SingleText);
            assert_eq!(m.msg_id, 11);
            assert_eq!(m.create_time, 1_431_000_001);
            assert_eq!(m.session(), (SessionType::Single, 2));
        }
        other => panic!("unexpected {other:?}"),
    }
    let second = Event::from_pdu(client.next_event(PATIENCE).unwrap(), key).unwrap();
    assert_eq!(
        second,
        Event::Kicked(ImKickUser {
            user_id: 7,
            kick_reason: 1
        })
    );
    let third = Event::from_pdu(client.next_event(PATIENCE).unwrap(), key).unwrap();
    assert!(matches!(third, Event::Other(_)));
    drop(client);
    assert!(server.join().unwrap());
}

#[test]
fn wait_for_keeps_the_events_it_skips() {
    let (addr, server) = serve_one(|mut conn| {
        for i in 1..=3 {
            conn.send(&Pdu::new(CommandId::MsgData, 0, &text_msg(2, 7, i, "m")));
        }
        conn.send(&Pdu::new(
            CommandId::LoginKickUser,
            0,
            &ImKickUser {
                user_id: 7,
                kick_reason: 2,
            },
        ));
        conn.wait_client_close()
    });
    let client = connect(addr);
    let kick: ImKickUser = client
        .wait_for_parsed(CommandId::LoginKickUser, PATIENCE)
        .unwrap();
    assert_eq!(kick.kick_reason, 2);
    let ids: Vec<u32> = (0..3)
        .map(|_| client.next_message(PATIENCE).unwrap().msg_id)
        .collect();
    assert_eq!(ids, [1, 2, 3]);
    drop(client);
    assert!(server.join().unwrap());
}

#[test]
fn a_request_without_answer_times_out_and_the_connection_stays_usable() {
    let (addr, server) = serve_one(|mut conn| {
        let ignored = conn.expect(CommandId::MsgTimeRequest);
        let answered = conn.expect(CommandId::MsgTimeRequest);
        // The late answer to the first request is not mistaken for the second one's.
        conn.reply(
            &ignored,
            CommandId::MsgTimeResponse,
            &ImClientTimeRsp { server_time: 1 },
        );
        conn.reply(
            &answered,
            CommandId::MsgTimeResponse,
            &ImClientTimeRsp { server_time: 2 },
        );
        conn.wait_client_close()
    });
    let client = connect(addr);
    let err = client
        .request(
            CommandId::MsgTimeRequest,
            &ImClientTimeReq {},
            CommandId::MsgTimeResponse,
            Duration::from_millis(100),
        )
        .unwrap_err();
    assert!(matches!(err, ClientError::Timeout { .. }), "{err:?}");
    assert!(err.to_string().contains("CID_MSG_TIME_RESPONSE"), "{err}");
    assert!(client.is_connected());
    assert_eq!(client.server_time().unwrap(), 2);
    drop(client);
    assert!(server.join().unwrap());
}

#[test]
fn server_closing_mid_request_fails_the_request_and_ends_the_event_stream() {
    let (addr, server) = serve_one(|mut conn| {
        conn.send(&Pdu::new(CommandId::MsgData, 0, &text_msg(2, 7, 1, "last")));
        conn.expect(CommandId::BuddyListAllUserRequest);
        // Dropping the connection closes it without an answer.
    });
    let client = connect(addr);
    let err = client.all_users(0).unwrap_err();
    assert!(
        matches!(err, ClientError::Closed(CloseReason::ClosedByServer)),
        "{err:?}"
    );
    server.join().unwrap();
    // What arrived before the close is still delivered, then the stream ends.
    assert_eq!(client.next_message(PATIENCE).unwrap().text, "last");
    assert!(matches!(
        client.next_event(PATIENCE),
        Err(ClientError::Closed(_))
    ));
    assert!(client.events().recv().is_err());
    assert!(!client.is_connected());
    // Later calls fail at once.
    assert!(matches!(
        client.server_time(),
        Err(ClientError::Closed(CloseReason::ClosedByServer))
    ));
}

#[test]
fn heartbeat_is_sent_when_idle_and_its_echo_is_not_an_event() {
    let (addr, server) = serve_one(|mut conn| {
        let mut heartbeats = 0;
        while heartbeats < 2 {
            let pdu = conn.recv_within(PATIENCE).expect("a heartbeat");
            assert_eq!(pdu.command(), Some(CommandId::OtherHeartbeat));
            assert!(pdu.body.is_empty());
            assert_eq!(pdu.header.service_id, 7);
            heartbeats += 1;
            conn.send(&pdu); // msg_server echoes heartbeats byte for byte
        }
        conn.send(&Pdu::new(
            CommandId::MsgData,
            0,
            &text_msg(2, 7, 1, "after"),
        ));
        conn.wait_client_close()
    });
    let config = ClientConfig {
        heartbeat_interval: Some(Duration::from_millis(50)),
        ..ClientConfig::default()
    };
    let client = Client::connect_with(addr, config).unwrap();
    // The echoes are swallowed: the first event is the message sent after them.
    assert_eq!(client.next_message(PATIENCE).unwrap().text, "after");
    drop(client);
    assert!(server.join().unwrap());
}

#[test]
fn ping_waits_for_the_heartbeat_echo() {
    let (addr, server) = serve_one(|mut conn| {
        let pdu = conn.recv_within(PATIENCE).expect("the ping heartbeat");
        assert_eq!(pdu.command(), Some(CommandId::OtherHeartbeat));
        conn.send(&pdu);
        conn.wait_client_close()
    });
    let client = connect(addr);
    client.ping(PATIENCE).unwrap();
    drop(client);
    assert!(server.join().unwrap());
}

#[test]
fn garbage_from_the_server_closes_the_client_with_an_error() {
    // A header announcing 5 bytes (shorter than the header itself).
    let (addr, server) = serve_one(|mut conn| {
        conn.expect(CommandId::MsgTimeRequest);
        conn.send_raw(&[
            0, 0, 0, 5, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9,
        ]);
        conn.wait_client_close()
    });
    let client = connect(addr);
    let err = client.server_time().unwrap_err();
    assert!(
        matches!(err, ClientError::Closed(CloseReason::BadFrame(_))),
        "{err:?}"
    );
    assert!(matches!(
        client.close_reason(),
        Some(CloseReason::BadFrame(_))
    ));
    assert!(server.join().unwrap(), "the client closed the socket");
}

#[test]
fn an_oversized_pdu_closes_the_client() {
    let (addr, server) = serve_one(|mut conn| {
        let mut header = 0x7fff_ffffu32.to_be_bytes().to_vec();
        header.extend_from_slice(&[0, 1, 0, 0, 0, 3, 3, 1, 0, 0, 0, 0]);
        conn.send_raw(&header);
        conn.wait_client_close()
    });
    let client = connect(addr);
    let reason = client.wait_closed(PATIENCE).unwrap();
    assert!(matches!(reason, CloseReason::BadFrame(_)), "{reason:?}");
    assert!(server.join().unwrap());
}

#[test]
fn a_bad_body_for_an_expected_answer_is_a_typed_error() {
    let (addr, server) = serve_one(|mut conn| {
        let req = conn.expect(CommandId::MsgTimeRequest);
        conn.send(&Pdu::from_body(
            CommandId::MsgTimeResponse,
            req.header.seq_num,
            vec![0xff, 0xff, 0xff],
        ));
        conn.wait_client_close()
    });
    let client = connect(addr);
    assert!(matches!(client.server_time(), Err(ClientError::Pdu(_))));
    drop(client);
    assert!(server.join().unwrap());
}

#[test]
fn send_text_encrypts_and_returns_the_ack_carrying_the_message_seq() {
    let (addr, server) = serve_one(|mut conn| {
        let pdu = conn.expect(CommandId::MsgData);
        let msg: ImMsgData = pdu.parse().unwrap();
        let ack = ImMsgDataAck {
            user_id: 7,
            session_id: msg.to_session_id,
            msg_id: 55,
            session_type: 1,
        };
        conn.reply(&pdu, CommandId::MsgDataAck, &ack);
        msg
    });
    let client = connect(addr);
    let ack = client.send_text(2, "hello").unwrap();
    assert_eq!((ack.msg_id, ack.session_id), (55, 2));
    let sent = server.join().unwrap();
    assert_eq!(sent.msg_type, MsgType::SingleText as i32);
    assert_eq!(sent.msg_data, b"nnZSBwfPCz60q69ddmfIJA==");
    assert_eq!(
        decrypt_text(&sent.msg_data, DEFAULT_AES_KEY).unwrap(),
        b"hello"
    );
}

#[test]
fn audio_and_group_messages_use_their_types() {
    let (addr, server) = serve_one(|mut conn| {
        let mut got = Vec::new();
        for _ in 0..2 {
            let pdu = conn.expect(CommandId::MsgData);
            let msg: ImMsgData = pdu.parse().unwrap();
            let ack = ImMsgDataAck {
                user_id: 7,
                session_id: msg.to_session_id,
                msg_id: 1,
                session_type: 2,
            };
            conn.reply(&pdu, CommandId::MsgDataAck, &ack);
            got.push(msg);
        }
        got
    });
    let client = connect(addr);
    client.send_audio(9, true, 3, b"OPUS").unwrap();
    client.send_group_text(9, "hi all").unwrap();
    let got = server.join().unwrap();
    assert_eq!(got[0].msg_type, MsgType::GroupAudio as i32);
    assert_eq!(got[0].msg_data, b"\0\0\0\x03OPUS");
    assert_eq!(got[1].msg_type, MsgType::GroupText as i32);
    assert_eq!(
        decrypt_text(&got[1].msg_data, DEFAULT_AES_KEY).unwrap(),
        b"hi all"
    );
}

#[test]
fn received_messages_can_be_acked_by_hand_or_automatically() {
    let (addr, server) = serve_one(|mut conn| {
        conn.send(&Pdu::new(CommandId::MsgData, 0, &text_msg(2, 7, 31, "a")));
        let auto: ImMsgDataAck = conn.expect(CommandId::MsgDataAck).parse().unwrap();
        auto
    });
    let config = ClientConfig {
        auto_ack: true,
        ..quiet_config()
    };
    let client = Client::connect_with(addr, config).unwrap();
    let auto = server.join().unwrap();
    assert_eq!(
        (auto.session_id, auto.msg_id, auto.session_type),
        (2, 31, 1)
    );
    // The message is still delivered as an event.
    assert_eq!(client.next_message(PATIENCE).unwrap().msg_id, 31);

    let (addr, server) = serve_one(|mut conn| {
        conn.send(&Pdu::new(CommandId::MsgData, 0, &text_msg(2, 7, 32, "b")));
        let ack: ImMsgDataAck = conn.expect(CommandId::MsgDataAck).parse().unwrap();
        ack
    });
    let client = connect(addr);
    let msg = client.next_message(PATIENCE).unwrap();
    client.ack_message(&msg).unwrap();
    let ack = server.join().unwrap();
    assert_eq!((ack.session_id, ack.msg_id, ack.session_type), (2, 32, 1));
}

#[test]
fn send_raw_reaches_the_server_verbatim() {
    let (addr, server) = serve_one(|mut conn| conn.recv_within(PATIENCE));
    let client = connect(addr);
    let bytes = Pdu::from_body(CommandId::OtherHeartbeat, 9, vec![]).encode();
    client.send_raw(&bytes).unwrap();
    let pdu = server.join().unwrap().unwrap();
    assert_eq!(pdu.encode(), bytes);
}

#[test]
fn closing_locally_fails_later_calls() {
    let (addr, server) = serve_one(|mut conn| conn.wait_client_close());
    let client = connect(addr);
    client.close();
    assert!(matches!(
        client.server_time(),
        Err(ClientError::Closed(CloseReason::ClosedLocally))
    ));
    assert!(server.join().unwrap());
}

#[test]
fn connecting_to_nothing_is_a_connect_error() {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let err = Client::connect(addr, Duration::from_secs(2)).unwrap_err();
    assert!(matches!(err, ClientError::Connect { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with(&format!("cannot connect to msg_server at {addr}")),
        "{err}"
    );
}

/// The answer command msg_server (or db_proxy through it) sends for each request command.
/// The answer command for `cmd` with a default body of the answer's message type (prost writes
/// every required field, so the client's parser accepts it).
fn answer_to(cmd: CommandId) -> Option<(CommandId, Vec<u8>)> {
    use CommandId::*;
    use prost::Message;
    use tt_client::pb::{buddy, file, group, login, message};
    fn body<M: Message + Default>() -> Vec<u8> {
        M::default().encode_to_vec()
    }
    Some(match cmd {
        LoginReqUserlogin => (LoginResUserlogin, body::<login::ImLoginRes>()),
        LoginReqLoginout => (LoginResLoginout, body::<login::ImLogoutRsp>()),
        LoginReqDevicetoken => (LoginResDevicetoken, body::<login::ImDeviceTokenRsp>()),
        LoginReqKickpcclient => (LoginResKickpcclient, body::<login::ImKickPcClientRsp>()),
        LoginReqPushShield => (LoginResPushShield, body::<login::ImPushShieldRsp>()),
        LoginReqQueryPushShield => (
            LoginResQueryPushShield,
            body::<login::ImQueryPushShieldRsp>(),
        ),
        MsgData => (MsgDataAck, body::<ImMsgDataAck>()),
        MsgTimeRequest => (MsgTimeResponse, body::<ImClientTimeRsp>()),
        BuddyListRecentContactSessionRequest => (
            BuddyListRecentContactSessionResponse,
            body::<buddy::ImRecentContactSessionRsp>(),
        ),
        BuddyListRemoveSessionReq => (
            BuddyListRemoveSessionRes,
            body::<buddy::ImRemoveSessionRsp>(),
        ),
        BuddyListUserInfoRequest => (BuddyListUserInfoResponse, body::<ImUsersInfoRsp>()),
        BuddyListAllUserRequest => (BuddyListAllUserResponse, body::<buddy::ImAllUserRsp>()),
        BuddyListDepartmentRequest => (
            BuddyListDepartmentResponse,
            body::<buddy::ImDepartmentRsp>(),
        ),
        BuddyListUsersStatusRequest => (
            BuddyListUsersStatusResponse,
            body::<buddy::ImUsersStatRsp>(),
        ),
        BuddyListChangeSignInfoRequest => (
            BuddyListChangeSignInfoResponse,
            body::<buddy::ImChangeSignInfoRsp>(),
        ),
        MsgListRequest => (MsgListResponse, body::<message::ImGetMsgListRsp>()),
        MsgGetByMsgIdReq => (MsgGetByMsgIdRes, body::<message::ImGetMsgByIdRsp>()),
        MsgUnreadCntRequest => (MsgUnreadCntResponse, body::<message::ImUnreadMsgCntRsp>()),
        MsgGetLatestMsgIdReq => (MsgGetLatestMsgIdRsp, body::<message::ImGetLatestMsgIdRsp>()),
        GroupNormalListRequest => (
            GroupNormalListResponse,
            body::<group::ImNormalGroupListRsp>(),
        ),
        GroupInfoRequest => (GroupInfoResponse, body::<group::ImGroupInfoListRsp>()),
        GroupCreateRequest => (GroupCreateResponse, body::<group::ImGroupCreateRsp>()),
        GroupChangeMemberRequest => (
            GroupChangeMemberResponse,
            body::<group::ImGroupChangeMemberRsp>(),
        ),
        GroupShieldGroupRequest => (GroupShieldGroupResponse, body::<group::ImGroupShieldRsp>()),
        FileRequest => (FileResponse, body::<file::ImFileRsp>()),
        FileHasOfflineReq => (FileHasOfflineRes, body::<file::ImFileHasOfflineRsp>()),
        _ => return None,
    })
}

#[test]
fn every_typed_call_sends_its_command_and_returns_its_answer() {
    use tt_client::pb::base_define::{GroupModifyType, TransferFileType};
    use tt_client::pb::group::ImGroupCreateReq;

    let (addr, server) = serve_one(|mut conn| {
        let mut seen = Vec::new();
        while let Some(pdu) = conn.recv_within(PATIENCE) {
            let cmd = pdu.command().unwrap();
            if let Some((answer, body)) = answer_to(cmd) {
                conn.send(&Pdu::from_body(answer, pdu.header.seq_num, body));
            }
            seen.push(pdu);
        }
        seen
    });
    let client = connect(addr);
    login(&client).unwrap();
    client.set_device_token("token").unwrap();
    client.kick_pc_client().unwrap();
    client.set_push_shield(1).unwrap();
    client.query_push_shield().unwrap();
    client.send_text(2, "x").unwrap();
    client.send_audio(2, false, 1, b"a").unwrap();
    client.ack(SessionType::Single, 2, 5).unwrap();
    client.read_ack(SessionType::Group, 9, 6).unwrap();
    client.server_time().unwrap();
    client.recent_sessions(0).unwrap();
    client.remove_session(SessionType::Single, 2).unwrap();
    client.users_info(&[2]).unwrap();
    client.all_users(0).unwrap();
    client.departments(0).unwrap();
    client.users_status(&[2]).unwrap();
    client.change_sign_info("busy").unwrap();
    client.change_avatar("http://a/b.png").unwrap();
    client.message_list(SessionType::Single, 2, 0, 10).unwrap();
    client
        .messages_by_id(SessionType::Single, 2, &[1, 2])
        .unwrap();
    client.unread_counts().unwrap();
    client.latest_msg_id(SessionType::Group, 9).unwrap();
    client.p2p(2, "{\"typing\":1}").unwrap();
    client.group_list().unwrap();
    client.group_info(&[(9, 0)]).unwrap();
    client.create_group("tmp", "", &[1, 2]).unwrap();
    client
        .change_group_members(9, GroupModifyType::Add, &[3])
        .unwrap();
    client.shield_group(9, 1).unwrap();
    client
        .file_request(2, "a.txt", 10, TransferFileType::FileTypeOffline)
        .unwrap();
    client.has_offline_file().unwrap();
    client.add_offline_file(2, "task", "a.txt", 10).unwrap();
    client.del_offline_file(1, 2, "task").unwrap();
    client.logout().unwrap();
    drop(client);

    let seen = server.join().unwrap();
    let cmds: Vec<CommandId> = seen.iter().map(|p| p.command().unwrap()).collect();
    use CommandId::*;
    assert_eq!(
        cmds,
        [
            LoginReqUserlogin,
            LoginReqDevicetoken,
            LoginReqKickpcclient,
            LoginReqPushShield,
            LoginReqQueryPushShield,
            MsgData,
            MsgData,
            MsgDataAck,
            MsgReadAck,
            MsgTimeRequest,
            BuddyListRecentContactSessionRequest,
            BuddyListRemoveSessionReq,
            BuddyListUserInfoRequest,
            BuddyListAllUserRequest,
            BuddyListDepartmentRequest,
            BuddyListUsersStatusRequest,
            BuddyListChangeSignInfoRequest,
            BuddyListChangeAvatarRequest,
            MsgListRequest,
            MsgGetByMsgIdReq,
            MsgUnreadCntRequest,
            MsgGetLatestMsgIdReq,
            SwitchP2pCmd,
            GroupNormalListRequest,
            GroupInfoRequest,
            GroupCreateRequest,
            GroupChangeMemberRequest,
            GroupShieldGroupRequest,
            FileRequest,
            FileHasOfflineReq,
            FileAddOfflineReq,
            FileDelOfflineReq,
            LoginReqLoginout,
        ]
    );
    // Every PDU carries its command's service id and a distinct non-zero seq.
    let mut seqs: Vec<u16> = seen.iter().map(|p| p.header.seq_num).collect();
    assert!(seqs.iter().all(|s| *s != 0));
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), seen.len());
    for p in &seen {
        assert_eq!(p.header.service_id, p.header.command_id >> 8);
    }
    let create: ImGroupCreateReq = seen[25].parse().unwrap();
    assert_eq!(create.group_type, 2, "clients create temporary groups");
    assert_eq!(create.member_id_list, [1, 2]);
}

#[test]
fn connect_and_login_does_both() {
    let (addr, server) = serve_one(|mut conn| {
        let pdu = conn.expect(CommandId::LoginReqUserlogin);
        conn.reply(
            &pdu,
            CommandId::LoginResUserlogin,
            &login_res(0, Some(user(3, "carol"))),
        );
        conn.wait_client_close()
    });
    let (client, info) = Client::connect_and_login(addr, "carol", "pw", quiet_config()).unwrap();
    assert_eq!((info.user_id(), client.user_id()), (3, 3));
    drop(client);
    assert!(server.join().unwrap());
}

#[test]
fn client_can_be_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Client>();
}
