//! The admin HTTP API end to end: HTTP bytes in, PDUs to a fake db_proxy, HTTP bytes out,
//! notifications to a fake route_server (PROTOCOL §9).

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{FakePeer, answer, config, error_json, exchange, post, start, wait_for_db};
use teamtalk_proto::pb::group::{
    ImGroupChangeMemberNotify, ImGroupChangeMemberReq, ImGroupChangeMemberRsp, ImGroupCreateReq,
    ImGroupCreateRsp,
};
use teamtalk_proto::pb::server::ImRoleSet;
use teamtalk_proto::{CommandId, Pdu};

const CREATE: &str = r#"{"req_user_id":1,"app_key":"k","group_name":"研发","group_type":1,
                        "group_avatar":"http://a/b.png","user_id_list":[3,1,2]}"#;
const CHANGE: &str = r#"{"req_user_id":1,"app_key":"k","group_id":8,"modify_type":1,
                        "user_id_list":[4,5]}"#;

fn create_answer(code: u32, msg: &str, group_id: u32) -> Vec<u8> {
    answer(&format!(
        "{{\n   \"error_code\" : {code},\n   \"error_msg\" : \"{msg}\",\n   \
         \"group_id\" : {group_id}\n}}\n"
    ))
}

#[test]
fn create_group_goes_to_db_proxy_as_user_zero_and_is_answered_with_styled_json() {
    let db = FakePeer::start();
    let server = start(config(Some(db.addr), None, ""));
    let http = server.local_addrs()[0];
    wait_for_db(http);

    let caller = std::thread::spawn(move || post(http, "/query/CreateGroup", CREATE));
    let (link, pdu) = db.recv();
    assert_eq!(pdu.command(), Some(CommandId::GroupCreateRequest));
    assert_eq!(
        (
            pdu.header.service_id,
            pdu.header.seq_num,
            pdu.header.version
        ),
        (4, 0, 1)
    );
    let req: ImGroupCreateReq = pdu.parse().unwrap();
    let attach = req.attach_data.clone().unwrap();
    assert_eq!(attach.len(), 12);
    assert_eq!(
        &attach[..4],
        &[0, 0, 0, 3],
        "attach type 3 names the http connection"
    );
    assert_eq!(&attach[8..], &[0, 0, 0, 0]);
    assert_eq!(
        req,
        ImGroupCreateReq {
            user_id: 0,
            group_type: 1,
            group_name: "研发".into(),
            group_avatar: "http://a/b.png".into(),
            member_id_list: vec![3, 1, 2],
            attach_data: Some(attach.clone()),
        }
    );
    let rsp = ImGroupCreateRsp {
        user_id: 0,
        result_code: 0,
        group_id: Some(77),
        group_name: "研发".into(),
        user_id_list: vec![1, 2, 3],
        attach_data: Some(attach),
    };
    db.send(
        link,
        &Pdu::reply(&pdu.header, CommandId::GroupCreateResponse, &rsp),
    );
    assert_eq!(caller.join().unwrap(), create_answer(0, "成功", 77));
    server.shutdown().unwrap();
}

#[test]
fn failed_create_group_answers_code_11_with_group_id_0() {
    let db = FakePeer::start();
    let server = start(config(Some(db.addr), None, ""));
    let http = server.local_addrs()[0];
    wait_for_db(http);
    let caller = std::thread::spawn(move || post(http, "/query/CreateGroup", CREATE));
    let (link, pdu) = db.recv();
    let req: ImGroupCreateReq = pdu.parse().unwrap();
    let rsp = ImGroupCreateRsp {
        user_id: 0,
        result_code: 1,
        group_id: None,
        group_name: req.group_name,
        user_id_list: Vec::new(),
        attach_data: req.attach_data,
    };
    db.send(
        link,
        &Pdu::reply(&pdu.header, CommandId::GroupCreateResponse, &rsp),
    );
    assert_eq!(caller.join().unwrap(), create_answer(11, "创建群失败", 0));
    server.shutdown().unwrap();
}

fn change_rsp(req: &ImGroupChangeMemberReq, result_code: u32) -> ImGroupChangeMemberRsp {
    ImGroupChangeMemberRsp {
        user_id: 0,
        change_type: req.change_type,
        result_code,
        group_id: req.group_id,
        cur_user_id_list: if result_code == 0 {
            vec![1, 4, 5]
        } else {
            Vec::new()
        },
        chg_user_id_list: if result_code == 0 {
            req.member_id_list.clone()
        } else {
            Vec::new()
        },
        attach_data: req.attach_data.clone(),
    }
}

#[test]
fn change_members_is_answered_and_a_success_is_announced_to_the_master_route() {
    let db = FakePeer::start();
    let route = FakePeer::start();
    let server = start(config(Some(db.addr), Some(route.addr), ""));
    let http = server.local_addrs()[0];
    let (_, role) = route.recv();
    assert_eq!(role.command(), Some(CommandId::OtherRoleSet));
    assert_eq!(role.parse::<ImRoleSet>().unwrap().master, 1);
    wait_for_db(http);

    // A failure is answered with code 12 and announces nothing.
    let caller = std::thread::spawn(move || post(http, "/query/ChangeMembers", CHANGE));
    let (link, pdu) = db.recv();
    assert_eq!(pdu.command(), Some(CommandId::GroupChangeMemberRequest));
    let req: ImGroupChangeMemberReq = pdu.parse().unwrap();
    assert_eq!((req.user_id, req.change_type, req.group_id), (0, 1, 8));
    assert_eq!(req.member_id_list, [4, 5]);
    let failed = change_rsp(&req, 1);
    db.send(
        link,
        &Pdu::reply(&pdu.header, CommandId::GroupChangeMemberResponse, &failed),
    );
    assert_eq!(
        caller.join().unwrap(),
        answer(&error_json(12, "更改群成员失败"))
    );

    let caller = std::thread::spawn(move || post(http, "/query/ChangeMembers", CHANGE));
    let (link, pdu) = db.recv();
    let req: ImGroupChangeMemberReq = pdu.parse().unwrap();
    let ok = change_rsp(&req, 0);
    db.send(
        link,
        &Pdu::reply(&pdu.header, CommandId::GroupChangeMemberResponse, &ok),
    );
    assert_eq!(caller.join().unwrap(), answer(&error_json(0, "成功")));

    let (_, notify) = route.recv();
    assert_eq!(notify.command(), Some(CommandId::GroupChangeMemberNotify));
    assert_eq!((notify.header.service_id, notify.header.seq_num), (4, 0));
    assert_eq!(
        notify.parse::<ImGroupChangeMemberNotify>().unwrap(),
        ImGroupChangeMemberNotify {
            user_id: 0,
            change_type: 1,
            group_id: 8,
            cur_user_id_list: vec![1, 4, 5],
            chg_user_id_list: vec![4, 5],
        }
    );
    server.shutdown().unwrap();
}

#[test]
fn parameter_errors_are_answered_with_code_1_without_db_traffic() {
    let db = FakePeer::start();
    let server = start(config(Some(db.addr), None, ""));
    let http = server.local_addrs()[0];
    wait_for_db(http);
    let expected = answer(&error_json(1, "参数错误"));
    for (target, body) in [
        (
            "/query/CreateGroup",
            CREATE.replace(r#""group_type":1"#, r#""group_type":5"#),
        ),
        (
            "/query/CreateGroup",
            CREATE.replace("[3,1,2]", r#"[3,"x"]"#),
        ),
        (
            "/query/ChangeMembers",
            CHANGE.replace(r#""group_id":8,"#, ""),
        ),
        (
            "/query/ChangeMembers",
            CHANGE.replace(r#""modify_type":1"#, r#""modify_type":3"#),
        ),
    ] {
        assert_eq!(post(http, target, &body), expected, "{body}");
    }
    db.expect_nothing(Duration::from_millis(200));
    server.shutdown().unwrap();
}

#[test]
fn without_db_proxy_requests_are_answered_with_code_10() {
    let server = start(config(None, None, ""));
    let http = server.local_addrs()[0];
    assert_eq!(
        post(http, "/query/CreateGroup", CREATE),
        answer(&error_json(10, "服务器异常"))
    );
    assert_eq!(
        post(http, "/query/ChangeMembers", CHANGE),
        answer(&error_json(10, "服务器异常"))
    );
    server.shutdown().unwrap();
}

#[test]
fn unreadable_user_id_is_answered_with_code_5_and_full_http_headers() {
    let server = start(config(None, None, ""));
    let http = server.local_addrs()[0];
    assert_eq!(
        post(
            http,
            "/query/CreateGroup",
            r#"{"req_user_id":-3,"app_key":"k"}"#
        ),
        answer(&error_json(5, "未授权的接口"))
    );
    server.shutdown().unwrap();
}

#[test]
fn bad_json_unknown_interfaces_and_other_paths_close_without_an_answer() {
    let server = start(config(None, None, ""));
    let http = server.local_addrs()[0];
    assert!(post(http, "/query/CreateGroup", "{\"req_user_id\":").is_empty());
    assert!(post(http, "/query/DeleteGroup", CREATE).is_empty());
    assert!(post(http, "/msg_server", CREATE).is_empty());
    assert!(exchange(http, b"NOT HTTP AT ALL\r\n\r\n").is_empty());
    // The server is still serving.
    assert_eq!(
        post(http, "/query/CreateGroup", CREATE),
        answer(&error_json(10, "服务器异常"))
    );
    server.shutdown().unwrap();
}

#[test]
fn oversized_request_closes_only_that_connection() {
    let server = start(config(None, None, ""));
    let http = server.local_addrs()[0];
    let padding = " ".repeat(80 * 1024);
    let big = format!("{{\"req_user_id\":1,\"pad\":\"{padding}\"}}");
    assert!(post(http, "/query/CreateGroup", &big).is_empty());
    let headers_only = format!(
        "POST /query/CreateGroup HTTP/1.1\r\nX-Pad: {padding}\r\nContent-Length: 2\r\n\r\n{{}}"
    );
    assert!(exchange(http, headers_only.as_bytes()).is_empty());
    assert_eq!(
        post(http, "/query/CreateGroup", CREATE),
        answer(&error_json(10, "服务器异常"))
    );
    server.shutdown().unwrap();
}

#[test]
fn a_request_trickled_a_byte_at_a_time_is_cut_off_at_the_timeout() {
    use std::io::{Read, Write};
    let mut cfg = config(None, None, "");
    cfg.http_timeout = Duration::from_secs(2);
    let server = start(cfg);
    let mut stream = std::net::TcpStream::connect(server.local_addrs()[0]).unwrap();
    let mut reader = stream.try_clone().unwrap();
    reader
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = std::time::Instant::now();
    // Each byte comes well inside the idle timeout; only the request deadline ends it.
    let trickle = std::thread::spawn(move || {
        for &b in b"POST /query/CreateGroup HTTP/1.1\r\nContent-Length: 900\r\n".iter() {
            if stream.write_all(&[b]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    });
    let mut got = Vec::new();
    let _ = reader.read_to_end(&mut got);
    assert!(got.is_empty(), "{got:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    trickle.join().unwrap();
    server.shutdown().unwrap();
}

#[test]
fn unanswered_db_request_fails_after_the_timeout() {
    let db = FakePeer::start();
    let mut cfg = config(Some(db.addr), None, "");
    cfg.db_timeout = Duration::from_secs(1);
    let server = start(cfg);
    let http = server.local_addrs()[0];
    wait_for_db(http);
    let caller = std::thread::spawn(move || post(http, "/query/ChangeMembers", CHANGE));
    let (_, pdu) = db.recv();
    assert_eq!(pdu.command(), Some(CommandId::GroupChangeMemberRequest));
    assert_eq!(
        caller.join().unwrap(),
        answer(&error_json(12, "更改群成员失败"))
    );
    let caller = std::thread::spawn(move || post(http, "/query/CreateGroup", CREATE));
    db.recv();
    assert_eq!(caller.join().unwrap(), create_answer(11, "创建群失败", 0));
    server.shutdown().unwrap();
}

#[test]
fn without_app_key_or_allow_ip_loopback_callers_are_answered() {
    // The test runs on 127.0.0.1: the loopback default lets it through to the db check.
    let server = start(config(None, None, ""));
    let http = server.local_addrs()[0];
    assert_eq!(
        post(http, "/query/CreateGroup", CREATE),
        answer(&error_json(10, "服务器异常"))
    );
    server.shutdown().unwrap();
}

#[test]
fn wrong_app_key_is_refused_with_code_2_from_any_address() {
    let server = start(config(None, None, "AppKey=k2\n"));
    let http = server.local_addrs()[0];
    assert_eq!(
        post(http, "/query/CreateGroup", CREATE),
        answer(&error_json(2, "appKey不存在"))
    );
    for wrong in ["", "k", "k22", "K2"] {
        let body = CREATE.replace(r#""app_key":"k""#, &format!(r#""app_key":"{wrong}""#));
        assert_eq!(
            post(http, "/query/CreateGroup", &body),
            answer(&error_json(2, "appKey不存在")),
            "{wrong:?}"
        );
    }
    server.shutdown().unwrap();
}

#[test]
fn allow_ip_ranges_admit_or_refuse_with_code_6() {
    let server = start(config(None, None, "AllowIP=10.0.0.0/8;::1\n"));
    let http = server.local_addrs()[0];
    assert_eq!(
        post(http, "/query/CreateGroup", CREATE),
        answer(&error_json(6, "未授权的IP"))
    );
    server.shutdown().unwrap();

    let server = start(config(None, None, "AllowIP=127.0.0.0/8\n"));
    let http = server.local_addrs()[0];
    assert_eq!(
        post(http, "/query/CreateGroup", CREATE),
        answer(&error_json(10, "服务器异常"))
    );
    server.shutdown().unwrap();
}

#[test]
fn configured_app_key_and_allowed_addresses_are_enforced() {
    let server = start(config(None, None, "AppKey=k2\nAllowIP=10.9.9.9\n"));
    let http = server.local_addrs()[0];
    assert_eq!(
        post(http, "/query/CreateGroup", CREATE),
        answer(&error_json(6, "未授权的IP"))
    );
    server.shutdown().unwrap();

    let server = start(config(None, None, "AppKey=k2\nAllowIP=127.0.0.1\n"));
    let http = server.local_addrs()[0];
    assert_eq!(
        post(http, "/query/CreateGroup", CREATE),
        answer(&error_json(2, "appKey不存在"))
    );
    let keyed = CREATE.replace(r#""app_key":"k""#, r#""app_key":"k2""#);
    assert_eq!(
        post(http, "/query/CreateGroup", &keyed),
        answer(&error_json(10, "服务器异常")),
        "authenticated requests proceed"
    );
    server.shutdown().unwrap();
}

#[test]
fn db_links_that_announced_a_stop_are_not_used() {
    let db = FakePeer::start();
    let mut cfg = config(Some(db.addr), None, "");
    cfg.db_timeout = Duration::from_millis(300);
    let server = start(cfg);
    let http = server.local_addrs()[0];
    wait_for_db(http);
    db.wait_links(2);
    for link in 0..2 {
        db.send(link, &Pdu::empty(CommandId::OtherStopRecvPacket, 0));
    }
    // Once both stops are processed the answer is "no db_proxy"; a request that raced ahead
    // of them reaches the fake (which never answers) and times out.
    let deadline = std::time::Instant::now() + common::WAIT;
    while post(http, "/query/ChangeMembers", CHANGE) != answer(&error_json(10, "服务器异常")) {
        assert!(
            std::time::Instant::now() < deadline,
            "stopped links still used"
        );
    }
    server.shutdown().unwrap();
}

/// The value of `series` in a scrape of the endpoint at `addr`.
fn metric(addr: std::net::SocketAddr, series: &str) -> f64 {
    let (status, body) = netlib::metrics::scrape(addr, "/metrics").unwrap();
    assert_eq!(status, 200);
    netlib::metrics::sample(&body, series).unwrap_or_else(|| panic!("{series} missing:\n{body}"))
}

#[test]
fn metrics_count_api_calls_and_the_pending_gauge_and_readyz_needs_db_proxy() {
    let lonely = start(config(None, None, "MetricsPort=0\n"));
    let (status, body) =
        netlib::metrics::scrape(lonely.metrics_addr().unwrap(), "/readyz").unwrap();
    assert_eq!((status, body.as_str()), (503, "not ready: db_proxy\n"));
    lonely.shutdown().unwrap();

    let db = FakePeer::start();
    let server = start(config(Some(db.addr), None, "MetricsPort=0\n"));
    let http = server.local_addrs()[0];
    let m = server.metrics_addr().unwrap();
    wait_for_db(http);
    assert_eq!(netlib::metrics::scrape(m, "/readyz").unwrap().0, 200);
    let answered = metric(m, "teamtalk_api_requests_total{result=\"answered\"}");
    assert!(answered >= 1.0, "wait_for_db's calls are answered here");

    let caller = std::thread::spawn(move || post(http, "/query/CreateGroup", CREATE));
    let (link, pdu) = db.recv();
    assert_eq!(metric(m, "teamtalk_pending_requests"), 1.0);
    assert_eq!(
        metric(m, "teamtalk_api_requests_total{result=\"forwarded\"}"),
        1.0
    );
    let req: ImGroupCreateReq = pdu.parse().unwrap();
    let rsp = ImGroupCreateRsp {
        user_id: 0,
        result_code: 0,
        group_id: Some(77),
        group_name: req.group_name,
        user_id_list: vec![1, 2, 3],
        attach_data: req.attach_data,
    };
    db.send(
        link,
        &Pdu::reply(&pdu.header, CommandId::GroupCreateResponse, &rsp),
    );
    assert_eq!(caller.join().unwrap(), create_answer(0, "成功", 77));
    assert_eq!(metric(m, "teamtalk_pending_requests"), 0.0);
    let db_link = format!(
        "teamtalk_link_up{{kind=\"db_proxy\",peer=\"127.0.0.1:{}\"}}",
        db.addr.port()
    );
    assert_eq!(metric(m, &db_link), 1.0);
    server.shutdown().unwrap();
}
