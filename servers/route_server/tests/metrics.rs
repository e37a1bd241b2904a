//! route_server's metrics endpoint: links, online users and relays as two fake msg_servers
//! use it.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use netlib::metrics::{sample, scrape};
use teamtalk_proto::pb::message::ImMsgData;
use teamtalk_proto::{CommandId, Pdu};

fn metric(addr: std::net::SocketAddr, series: &str) -> f64 {
    let (status, body) = scrape(addr, "/metrics").unwrap();
    assert_eq!(status, 200);
    sample(&body, series).unwrap_or_else(|| panic!("{series} missing:\n{body}"))
}

#[test]
fn links_users_and_relays_are_counted() {
    let server = start_with(|c| c.metrics = Some(netlib::MetricsConf::loopback()));
    let m = server.metrics_addr().unwrap();
    assert_eq!(metric(m, "teamtalk_server_links"), 0.0);
    assert_eq!(scrape(m, "/readyz").unwrap().0, 200);

    let mut a = FakeMsgServer::connect(server.local_addrs()[0]);
    let mut b = FakeMsgServer::connect(server.local_addrs()[0]);
    a.status(30, ONLINE, WINDOWS);
    b.status(31, ONLINE, MAC);
    a.sync();
    b.sync();
    assert_eq!(metric(m, "teamtalk_server_links"), 2.0);
    assert_eq!(metric(m, "teamtalk_online_users"), 2.0);

    let msg = ImMsgData {
        from_user_id: 30,
        to_session_id: 31,
        msg_id: 1,
        create_time: 1,
        msg_type: 1,
        msg_data: b"x".to_vec(),
        attach_data: None,
    };
    a.send(&Pdu::new(CommandId::MsgData, 0, &msg));
    assert_eq!(b.recv().command(), Some(CommandId::MsgData));
    assert_eq!(metric(m, "teamtalk_relays_total{to=\"targeted\"}"), 1.0);
    assert_eq!(metric(m, "teamtalk_relays_total{to=\"others\"}"), 0.0);
    assert_eq!(metric(m, "teamtalk_relay_window_entries"), 1.0);
    assert!(metric(m, "teamtalk_relay_window_bytes") > 128.0);
    // The receiver logs in on a third msg_server: the message is sent there again.
    let mut c = FakeMsgServer::connect(server.local_addrs()[0]);
    c.status(31, ONLINE, ANDROID);
    c.sync();
    assert_eq!(metric(m, "teamtalk_relays_total{to=\"replayed\"}"), 1.0);
    drop(c);

    a.kill();
    let end = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while metric(m, "teamtalk_server_links") != 1.0 {
        assert!(
            std::time::Instant::now() < end,
            "the closed link is still counted"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(metric(m, "teamtalk_online_users"), 1.0);
    assert!(metric(m, "teamtalk_links_lost_total") >= 1.0);
}
