//! The metrics endpoint of a msg_server wired to fakes: what a login and a message do to the
//! scraped counters, the pending-request gauge while db_proxy keeps an answer back, and
//! `/readyz` following the route link.

#![allow(clippy::unwrap_used)]

mod support;

use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use netlib::metrics::{sample, scrape};
use support::*;
use teamtalk_proto::pb::message::ImMsgData;
use teamtalk_proto::{CommandId, Pdu};

/// Boots with the endpoint on a free port and a 2-s request timeout, waits for every link
/// (the db_proxy ones seen through the endpoint, so no probe request stays pending); returns
/// the harness and the endpoint's address.
fn harness() -> (Harness, SocketAddr) {
    let h = Harness::start_with(100, |conf| {
        conf.set("MetricsPort", "0");
        conf.set("RequestTimeout", "2");
    });
    h.expect_link_setup();
    h.fakes.push.wait_conns(1);
    let addr = h.server.as_ref().unwrap().metrics_addr().unwrap();
    for db in [&h.fakes.db_login, &h.fakes.db] {
        let series = format!(
            "teamtalk_link_up{{kind=\"db_proxy\",peer=\"127.0.0.1:{}\"}}",
            db.addr().port()
        );
        wait_for(addr, &series, 1.0);
    }
    (h, addr)
}

fn metric(addr: SocketAddr, series: &str) -> f64 {
    let (status, body) = scrape(addr, "/metrics").unwrap();
    assert_eq!(status, 200);
    sample(&body, series).unwrap_or_else(|| panic!("{series} missing in:\n{body}"))
}

/// Waits until `series` reads `want`, for at most 5 s.
fn wait_for(addr: SocketAddr, series: &str, want: f64) {
    let end = Instant::now() + Duration::from_secs(5);
    while metric(addr, series) != want {
        assert!(Instant::now() < end, "{series} never became {want}");
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_login_and_a_message_move_the_counters_and_the_pending_gauge() {
    let (h, m) = harness();
    assert_eq!(metric(m, "teamtalk_pending_requests"), 0.0);
    assert_eq!(metric(m, "teamtalk_logins_total{result=\"ok\"}"), 0.0);

    let mut alice = h.login("alice", 10, WINDOWS);
    let _bob = h.login("bob", 11, MAC);
    assert_eq!(metric(m, "teamtalk_logins_total{result=\"ok\"}"), 2.0);
    assert_eq!(
        metric(m, "teamtalk_client_connections{state=\"logged_in\"}"),
        2.0
    );
    assert_eq!(metric(m, "teamtalk_online_users"), 2.0);
    let answered = metric(m, "teamtalk_db_proxy_requests_total{outcome=\"answered\"}");
    assert_eq!(
        metric(
            m,
            "teamtalk_db_proxy_request_duration_seconds_count{request=\"login\"}"
        ),
        2.0
    );

    let sent = ImMsgData {
        from_user_id: 0,
        to_session_id: 11,
        msg_id: 0,
        create_time: 0,
        msg_type: 1,
        msg_data: b"x".to_vec(),
        attach_data: None,
    };
    alice.send(CommandId::MsgData, &sent);
    let (i, up) = h.fakes.db.expect(CommandId::MsgData);
    // db_proxy holds the answer back: the request waits in the table.
    assert_eq!(metric(m, "teamtalk_pending_requests"), 1.0);
    assert_eq!(
        metric(m, "teamtalk_messages_total{event=\"received\"}"),
        1.0
    );
    assert_eq!(metric(m, "teamtalk_messages_stored_total"), 0.0);

    let mut stored: ImMsgData = up.parse().unwrap();
    stored.msg_id = 5;
    h.fakes
        .db
        .send(i, &Pdu::new(CommandId::MsgData, up.header.seq_num, &stored));
    alice.expect(CommandId::MsgDataAck);
    assert_eq!(metric(m, "teamtalk_pending_requests"), 0.0);
    assert_eq!(metric(m, "teamtalk_messages_stored_total"), 1.0);
    assert_eq!(
        metric(m, "teamtalk_messages_total{event=\"delivered\"}"),
        1.0
    );
    assert_eq!(
        metric(m, "teamtalk_db_proxy_requests_total{outcome=\"answered\"}"),
        answered + 1.0
    );
    assert_eq!(
        metric(
            m,
            "teamtalk_db_proxy_request_duration_seconds_count{request=\"message\"}"
        ),
        1.0
    );
    assert!(metric(m, "process_open_fds") > 0.0);

    // A request db_proxy never answers leaves the table at its deadline.
    alice.send(CommandId::MsgData, &sent);
    h.fakes.db.find(CommandId::MsgData);
    assert_eq!(metric(m, "teamtalk_pending_requests"), 1.0);
    wait_for(m, "teamtalk_pending_requests", 0.0);
    assert_eq!(
        metric(m, "teamtalk_db_proxy_requests_total{outcome=\"expired\"}"),
        1.0
    );
}

#[test]
fn readyz_follows_the_route_link_and_links_are_exported() {
    let (h, m) = harness();
    assert_eq!(scrape(m, "/readyz").unwrap(), (200, "ready\n".to_owned()));
    let route = format!(
        "teamtalk_link_up{{kind=\"route\",peer=\"127.0.0.1:{}\"}}",
        h.fakes.route.addr().port()
    );
    assert_eq!(metric(m, &route), 1.0);

    h.fakes.route.stop();
    wait_for(m, &route, 0.0);
    assert_eq!(
        scrape(m, "/readyz").unwrap(),
        (503, "not ready: route\n".to_owned())
    );
    assert_eq!(scrape(m, "/healthz").unwrap().0, 200);
    assert!(metric(m, "teamtalk_links_lost_total") >= 1.0);

    // Without a route link a login is refused, and counted by its reason.
    let mut c = TestClient::connect(h.addr);
    c.send(CommandId::LoginReqUserlogin, &login_req("carol", WINDOWS));
    c.wait_closed();
    assert_eq!(
        metric(m, "teamtalk_logins_total{result=\"no_route_server\"}"),
        1.0
    );
    assert_eq!(metric(m, "teamtalk_logins_total{result=\"ok\"}"), 0.0);
}
