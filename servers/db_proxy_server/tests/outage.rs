//! Storage outages: a Redis this test starts and kills, and MySQL behind a TCP relay this test
//! cuts. Requests fail the way the original fails them (answers without a msg id, "wrong
//! password"), nothing panics or hangs, and service resumes by itself when storage returns.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use db_proxy_server::config::RedisConfig;
use teamtalk_proto::CommandId;
use teamtalk_proto::crypto::md5_hex;
use teamtalk_proto::pb::message::ImMsgData;
use teamtalk_proto::pb::server::{ImValidateReq, ImValidateRsp};

/// A redis-server of our own on `port`, without persistence.
struct OwnRedis {
    port: u16,
    child: Child,
}

impl OwnRedis {
    fn start(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--bind", "127.0.0.1", "--databases", "16"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "own redis-server did not start");
            thread::sleep(Duration::from_millis(20));
        }
        Self { port, child }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A TCP relay to MariaDB that can be cut (every connection closed, new ones refused).
struct Relay {
    port: u16,
    up: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    fn start(target: (String, u16)) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let conns = Arc::new(Mutex::new(Vec::<TcpStream>::new()));
        let (up2, conns2) = (up.clone(), conns.clone());
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                if !up2.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect((target.0.as_str(), target.1)) else {
                    continue;
                };
                let mut list = conns2.lock().unwrap();
                list.push(client.try_clone().unwrap());
                list.push(server.try_clone().unwrap());
                pump(client.try_clone().unwrap(), server.try_clone().unwrap());
                pump(server, client);
            }
        });
        Self { port, up, conns }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for s in self.conns.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream) {
    thread::spawn(move || {
        let mut buf = [0u8; 16384];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Both);
    });
}

fn send_msg(link: &mut Link, from: u32, to: u32) -> u32 {
    let rsp: ImMsgData = link.call(
        CommandId::MsgData,
        &ImMsgData {
            from_user_id: from,
            to_session_id: to,
            msg_id: 0,
            create_time: now(),
            msg_type: 1,
            msg_data: text("during outage"),
            attach_data: attach(1),
        },
        CommandId::MsgData,
    );
    rsp.msg_id
}

fn validate(link: &mut Link, name: &str) -> u32 {
    let rsp: ImValidateRsp = link.call(
        CommandId::OtherValidateReq,
        &ImValidateReq {
            user_name: name.to_owned(),
            password: md5_hex("pw"),
            attach_data: None,
        },
        CommandId::OtherValidateRsp,
    );
    rsp.result_code
}

/// Retries `f` until it returns `want` or the deadline passes.
fn eventually(mut f: impl FnMut() -> u32, want: u32) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = f();
        if got == want || Instant::now() > deadline {
            return got;
        }
        thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn redis_outage_fails_messages_and_service_resumes_when_it_returns() {
    let mut db = db();
    let p = unique("ro");
    let ids = create_users(&mut db, &p, 2);
    let port = free_port();
    let mut redis_server = OwnRedis::start(port);
    let mut cfg = config("http://127.0.0.1:9");
    for (cache, n) in cfg.caches.iter_mut().zip([1, 2, 4, 5]) {
        *cache = RedisConfig {
            port,
            db: n,
            ..cache.clone()
        };
    }
    let server = start_with(cfg);
    let mut link = Link::to(&server);
    assert_eq!(send_msg(&mut link, ids[0], ids[1]), 1);
    assert_eq!(send_msg(&mut link, ids[0], ids[1]), 2);

    redis_server.kill();
    // No msg id can be allocated: the answer comes, without an id; MySQL-only work goes on.
    assert_eq!(send_msg(&mut link, ids[0], ids[1]), 0);
    assert_eq!(validate(&mut link, &format!("{p}_0")), 0);

    // Redis comes back empty: ids continue above MySQL's maximum. The batch that noticed the
    // restart is refused after taking an id (ids may have gaps, never repeats).
    let _redis_again = OwnRedis::start(redis_server.port);
    let deadline = Instant::now() + Duration::from_secs(30);
    let next = loop {
        let id = send_msg(&mut link, ids[0], ids[1]);
        if id != 0 || Instant::now() > deadline {
            break id;
        }
        thread::sleep(Duration::from_millis(200));
    };
    assert!(
        (3..=4).contains(&next),
        "first id after the restart: {next}"
    );
    assert_eq!(send_msg(&mut link, ids[1], ids[0]), next + 1);
}

#[test]
fn mysql_outage_fails_requests_and_service_resumes_when_it_returns() {
    let mut db = db();
    let p = unique("mo");
    let ids = create_users(&mut db, &p, 2);
    let mut cfg = config("http://127.0.0.1:9");
    let relay = Relay::start((cfg.master.host.clone(), cfg.master.port));
    for pool in [&mut cfg.master, &mut cfg.slave] {
        pool.host = "127.0.0.1".to_owned();
        pool.port = relay.port;
    }
    let server = start_with(cfg);
    let mut link = Link::to(&server);
    assert_eq!(send_msg(&mut link, ids[0], ids[1]), 1);
    assert_eq!(validate(&mut link, &format!("{p}_0")), 0);

    relay.cut();
    // The original answers a login it cannot check with "wrong password", and a message it
    // cannot store without an id; both answers arrive.
    assert_eq!(validate(&mut link, &format!("{p}_0")), 1);
    assert_eq!(send_msg(&mut link, ids[0], ids[1]), 0);

    relay.restore();
    assert_eq!(eventually(|| validate(&mut link, &format!("{p}_0")), 0), 0);
    // The failed attempt consumed id 2 without a row (ids may have gaps, never repeats).
    let id = eventually(|| send_msg(&mut link, ids[0], ids[1]), 3);
    assert!(id == 3, "next id after the outage: {id}");
}

/// The value of `series` in a scrape of the endpoint at `addr`.
fn metric(addr: std::net::SocketAddr, series: &str) -> f64 {
    let (status, body) = netlib::metrics::scrape(addr, "/metrics").unwrap();
    assert_eq!(status, 200);
    netlib::metrics::sample(&body, series).unwrap_or_else(|| panic!("{series} missing:\n{body}"))
}

#[test]
fn metrics_count_requests_and_pool_uses_and_readyz_reports_a_dead_redis() {
    let mut db = db();
    let p = unique("me");
    let ids = create_users(&mut db, &p, 2);
    let port = free_port();
    let mut redis_server = OwnRedis::start(port);
    let mut cfg = config("http://127.0.0.1:9");
    for (cache, n) in cfg.caches.iter_mut().zip([1, 2, 4, 5]) {
        *cache = RedisConfig {
            port,
            db: n,
            ..cache.clone()
        };
    }
    cfg.metrics = Some(netlib::MetricsConf::loopback());
    let server = start_with(cfg);
    let m = server.metrics_addr().unwrap();
    assert_eq!(
        netlib::metrics::scrape(m, "/readyz").unwrap(),
        (200, "ready\n".to_owned())
    );
    let logins = "teamtalk_request_duration_seconds_count{service=\"server\"}";
    let messages = "teamtalk_request_duration_seconds_count{service=\"message\"}";
    let slave = "teamtalk_storage_duration_seconds_count{pool=\"mysql_slave\"}";
    let unread_errors = "teamtalk_storage_errors_total{pool=\"redis_unread\"}";
    let (logins0, messages0) = (metric(m, logins), metric(m, messages));
    let slave0 = metric(m, slave);

    let mut link = Link::to(&server);
    assert_eq!(validate(&mut link, &format!("{p}_0")), 0);
    assert_eq!(send_msg(&mut link, ids[0], ids[1]), 1);
    assert_eq!(metric(m, logins), logins0 + 1.0);
    assert_eq!(metric(m, messages), messages0 + 1.0);
    assert!(metric(m, slave) > slave0, "the login read no user");
    assert_eq!(metric(m, "teamtalk_server_links"), 1.0);
    assert_eq!(metric(m, "teamtalk_link_queued_requests"), 0.0);
    assert_eq!(metric(m, unread_errors), 0.0);

    redis_server.kill();
    assert_eq!(send_msg(&mut link, ids[0], ids[1]), 0);
    assert!(metric(m, unread_errors) >= 1.0);
    assert_eq!(metric(m, "teamtalk_storage_up{pool=\"redis_unread\"}"), 0.0);
    let (status, body) = netlib::metrics::scrape(m, "/readyz").unwrap();
    assert_eq!(status, 503);
    assert!(body.contains("redis_unread"), "{body}");
    assert!(!body.contains("mysql"), "{body}");
    assert_eq!(netlib::metrics::scrape(m, "/healthz").unwrap().0, 200);

    let _redis_again = OwnRedis::start(redis_server.port);
    eventually(|| send_msg(&mut link, ids[0], ids[1]).min(1), 1);
    assert_eq!(netlib::metrics::scrape(m, "/readyz").unwrap().0, 200);
}
