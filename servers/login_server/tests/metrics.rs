//! login_server's metrics endpoint: discoveries by result and the registered msg_servers as
//! a msg_server link and HTTP clients use it.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use netlib::metrics::{sample, scrape};

fn metric(addr: std::net::SocketAddr, series: &str) -> f64 {
    let (status, body) = scrape(addr, "/metrics").unwrap();
    assert_eq!(status, 200);
    sample(&body, series).unwrap_or_else(|| panic!("{series} missing:\n{body}"))
}

#[test]
fn discoveries_and_registered_servers_are_counted() {
    let server = start_with(|c| c.metrics = Some(netlib::MetricsConf::loopback()));
    let m = server.metrics_addr().unwrap();
    let addrs = server.local_addrs();
    // login_server needs no link to serve.
    assert_eq!(scrape(m, "/readyz").unwrap(), (200, "ready\n".to_owned()));

    assert_eq!(get_msg_server(addrs.http[0]), answer_no_server());
    assert_eq!(
        metric(m, "teamtalk_discoveries_total{result=\"no_msg_server\"}"),
        1.0
    );

    let mut ms = PduConn::connect(addrs.msg_server[0]);
    ms.send(&serv_info("127.0.0.1", "127.0.0.1", 8000, 3, 100));
    await_answer(addrs.http[0], &answer_ok("127.0.0.1", "127.0.0.1", 8000));
    assert!(metric(m, "teamtalk_discoveries_total{result=\"ok\"}") >= 1.0);
    assert_eq!(metric(m, "teamtalk_msg_servers{count=\"servers\"}"), 1.0);
    assert_eq!(
        metric(m, "teamtalk_msg_servers{count=\"client_connections\"}"),
        3.0
    );
    assert_eq!(metric(m, "teamtalk_connections{kind=\"msg_server\"}"), 1.0);
    assert_eq!(
        metric(m, "teamtalk_discoveries_total{result=\"all_full\"}"),
        0.0
    );
}
