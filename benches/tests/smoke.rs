//! Short runs of every tt-load scenario against an in-process TestCluster (route_server,
//! login_server, db_proxy_server and two msg_servers): small numbers, a second or two of
//! traffic, checks on correctness only (never on speed); 1:1 runs over TLS and WebSocket
//! over TLS too.
//!
//! Each test seeds its own uniquely prefixed users through `tt-load seed` and removes them
//! (and whatever the servers stored for them) with `tt-load clean` when it ends.

#![allow(clippy::unwrap_used)]

use teamtalk_transport::test_pki::Pki;
use testkit::{REDIS_DB_GROUP_MEMBER, REDIS_DB_UNREAD, TestCluster, unique_name};
use tt_bench::cli::{self, CleanOptions, Command, RunOptions, SeedOptions, Storage};
use tt_bench::result::RunResult;
use tt_bench::{run, seed};

fn storage() -> Storage {
    Storage {
        mysql_url: std::env::var("TT_TEST_MYSQL_URL")
            .unwrap_or_else(|_| testkit::DEFAULT_MYSQL_URL.to_owned()),
        redis_url: std::env::var("TT_TEST_REDIS_URL")
            .unwrap_or_else(|_| testkit::DEFAULT_REDIS_URL.to_owned()),
        group_member_db: i64::from(REDIS_DB_GROUP_MEMBER),
        unread_db: i64::from(REDIS_DB_UNREAD),
    }
}

/// Seeded users (and groups) of one test, removed on drop.
struct Seeded {
    prefix: String,
    report: seed::SeedReport,
}

impl Seeded {
    fn new(users: u32, groups: u32, group_size: u32) -> Self {
        let prefix = unique_name("tl");
        let report = seed::seed(&SeedOptions {
            storage: storage(),
            prefix: prefix.clone(),
            password: "smoke-pass".into(),
            users,
            groups,
            group_size,
            json: false,
        })
        .unwrap();
        Self { prefix, report }
    }
}

impl Drop for Seeded {
    fn drop(&mut self) {
        let removed = seed::clean(&CleanOptions {
            storage: storage(),
            prefix: self.prefix.clone(),
            json: false,
        });
        if let Err(e) = removed {
            eprintln!("cleaning {} failed: {e:#}", self.prefix);
        }
    }
}

/// Parses a tt-load command line (so the flags are exercised too) into run options.
fn options(line: &str, seeded: &Seeded) -> RunOptions {
    let mut args: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
    args.extend(
        [
            "--prefix",
            &seeded.prefix,
            "--password",
            "smoke-pass",
            "--quiet",
        ]
        .map(str::to_owned),
    );
    match cli::parse(&args).unwrap() {
        Command::Run(o) => *o,
        other => panic!("not a run: {other:?}"),
    }
}

fn both_msg_servers(cluster: &TestCluster) -> String {
    format!("{},{}", cluster.msg_addr(0), cluster.msg_addr(1))
}

fn assert_passed(result: &RunResult) {
    assert!(result.passed(), "run failed:\n{}", result.table());
}

#[test]
fn login_scenario_logs_every_user_in_through_discovery() {
    let cluster = TestCluster::start();
    let seeded = Seeded::new(12, 0, 1);
    let line = format!(
        "login --count 12 --concurrency 4 --login-url {}",
        cluster.login_http_url()
    );
    let result = run::execute(&options(&line, &seeded)).unwrap();
    assert_passed(&result);
    assert_eq!(result.login.succeeded, 12);
    assert_eq!(result.login.latency.count, 12);
    assert_eq!(result.servers.len(), 1);
}

#[test]
fn login_scenario_with_a_wrong_password_fails_the_run() {
    let cluster = TestCluster::start();
    let seeded = Seeded::new(3, 0, 1);
    let mut opts = options(
        &format!("login --count 3 --msg-server {}", cluster.msg_addr(0)),
        &seeded,
    );
    opts.users.password = "not-the-password".into();
    let result = run::execute(&opts).unwrap();
    assert!(!result.passed());
    assert_eq!(result.login.failed, 3);
    assert!(
        result
            .login
            .errors
            .iter()
            .all(|(e, _)| e.contains("code 6")),
        "{:?}",
        result.login.errors
    );
}

#[test]
fn msg_scenario_delivers_every_message_once_and_in_order_across_msg_servers() {
    let cluster = TestCluster::start();
    let seeded = Seeded::new(8, 0, 1);
    let line = format!(
        "msg --pairs 4 --window 4 --rate 10 --seconds 1.5 --drain 15 --client-type mobile \
         --msg-server {}",
        both_msg_servers(&cluster)
    );
    let result = run::execute(&options(&line, &seeded)).unwrap();
    assert_passed(&result);
    let m = result.messages.unwrap();
    assert!(m.sent >= 4, "{m:?}");
    assert_eq!(m.acked, m.sent);
    assert_eq!(m.expected_deliveries, m.sent);
    assert_eq!(m.delivered, m.sent);
    assert_eq!(m.delivery_latency.count, m.sent);
}

#[test]
fn msg_scenario_reconnects_through_discovery_when_a_msg_server_stops_and_loses_nothing() {
    let mut cluster = TestCluster::start();
    let seeded = Seeded::new(6, 0, 1);
    let line = format!(
        "msg --pairs 3 --rate 5 --seconds 5 --drain 20 --ack-timeout 2 --reconnect \
         --login-url {} --msg-server {} --check-mysql {}",
        cluster.login_http_url(),
        both_msg_servers(&cluster),
        storage().mysql_url
    );
    let opts = options(&line, &seeded);
    let running = std::thread::spawn(move || run::execute(&opts));
    // The fault: msg_server 1 (a sender or receiver of every pair) stops in the middle of
    // the sending time; its clients find msg_server 0 through login_server.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    cluster.stop_msg(1);
    let result = running.join().unwrap().unwrap();
    assert_passed(&result);
    let m = result.messages.unwrap();
    assert!(m.reconnects >= 3, "{m:?}");
    assert_eq!((m.lost, m.duplicated, m.unacked), (0, 0, 0), "{m:?}");
    let stored = m.stored.unwrap();
    assert_eq!(stored.rows, m.sent, "{stored:?}");
    assert_eq!((stored.extra_rows, stored.acked_missing), (0, 0));
}

/// A cluster whose msg_servers offer TLS, WebSocket and WebSocket over TLS ports beside the
/// plain one, with `pki`'s server certificate.
fn cluster_with_transports(pki: &Pki) -> TestCluster {
    let files = pki.server_files();
    TestCluster::start_with_msg_conf(&[
        ("TlsListenPort", "0"),
        ("WsListenPort", "0"),
        ("WssListenPort", "0"),
        ("TlsCertFile", &files.cert.display().to_string()),
        ("TlsKeyFile", &files.key.display().to_string()),
    ])
}

/// Checks that every message of a 1:1 run was acked and delivered once.
fn assert_every_message_arrived(result: &RunResult) {
    assert_passed(result);
    let m = result.messages.as_ref().unwrap();
    assert!(m.sent >= 2, "{m:?}");
    assert_eq!(m.acked, m.sent);
    assert_eq!(m.delivered, m.sent);
    assert_eq!((m.lost, m.duplicated), (0, 0), "{m:?}");
}

#[test]
fn msg_scenario_over_tls_finds_the_tls_port_through_discovery() {
    let pki = Pki::new("tl-tls");
    let cluster = cluster_with_transports(&pki);
    let seeded = Seeded::new(4, 0, 1);
    let line = format!(
        "msg --pairs 2 --rate 10 --seconds 1 --drain 15 --transport tls --ca {} --login-url {}",
        pki.ca().display(),
        cluster.login_http_url()
    );
    let result = run::execute(&options(&line, &seeded)).unwrap();
    assert_every_message_arrived(&result);
    assert_eq!(result.login.succeeded, 4);
    // Discovery answered with the TLS port, not the plain one.
    assert_eq!(
        result.servers,
        vec![cluster.msg_transport_addr(0, "tls").to_string()]
    );
    assert_eq!(result.params.transport.as_deref(), Some("tls"));
}

#[test]
fn msg_scenario_over_wss_crosses_msg_servers() {
    let pki = Pki::new("tl-wss");
    let cluster = cluster_with_transports(&pki);
    let seeded = Seeded::new(4, 0, 1);
    let line = format!(
        "msg --pairs 2 --rate 10 --seconds 1 --drain 15 --transport wss --ca {} \
         --tls-name localhost --msg-server {},{}",
        pki.ca().display(),
        cluster.msg_transport_addr(0, "wss"),
        cluster.msg_transport_addr(1, "wss")
    );
    let result = run::execute(&options(&line, &seeded)).unwrap();
    assert_every_message_arrived(&result);
    assert_eq!(result.login.succeeded, 4);
    assert_eq!(result.label, "msg w=1 r=10 wss");
}

#[test]
fn a_plain_client_on_a_tls_port_fails_its_logins() {
    let pki = Pki::new("tl-mismatch");
    let cluster = cluster_with_transports(&pki);
    let seeded = Seeded::new(2, 0, 1);
    let line = format!(
        "login --count 2 --login-timeout 5 --msg-server {}",
        cluster.msg_transport_addr(0, "tls")
    );
    let result = run::execute(&options(&line, &seeded)).unwrap();
    assert!(!result.passed());
    assert_eq!(result.login.failed, 2);
}

#[test]
fn group_scenario_fans_out_to_every_other_member_on_both_msg_servers() {
    let cluster = TestCluster::start();
    let seeded = Seeded::new(6, 1, 6);
    let group = &seeded.report.groups[0];
    let line = format!(
        "group --group-id {} --members 6 --senders 2 --rate 5 --seconds 1 --drain 15 \
         --msg-server {}",
        group.id,
        both_msg_servers(&cluster)
    );
    let result = run::execute(&options(&line, &seeded)).unwrap();
    assert_passed(&result);
    let m = result.messages.unwrap();
    assert!(m.sent >= 2, "{m:?}");
    assert_eq!(m.expected_deliveries, m.sent * 5);
    assert_eq!(m.delivered, m.expected_deliveries);
}

#[test]
fn idle_scenario_holds_every_connection_and_reports_rss_per_connection() {
    let cluster = TestCluster::start();
    let seeded = Seeded::new(10, 0, 1);
    // The servers run inside this test process, so its own RSS is the one to sample.
    let line = format!(
        "idle --conns 10 --seconds 1 --pid {} --msg-server {}",
        std::process::id(),
        both_msg_servers(&cluster)
    );
    let result = run::execute(&options(&line, &seeded)).unwrap();
    assert_passed(&result);
    let idle = result.idle.unwrap();
    assert_eq!((idle.online, idle.still_connected), (10, 10));
    assert_eq!(result.rss.len(), 1);
    assert!(result.rss[0].before_kb > 0);
    assert!(result.rss[0].per_conn_bytes.is_some());
}

#[test]
fn clean_removes_seeded_users_and_group_keys() {
    let seeded = Seeded::new(4, 1, 4);
    let env = testkit::TestEnv::from_env();
    let gid = seeded.report.groups[0].id;
    let mut members = env.redis(REDIS_DB_GROUP_MEMBER);
    let count: u32 = redis::cmd("HLEN")
        .arg(format!("group_member_{gid}"))
        .query(&mut members)
        .unwrap();
    assert_eq!(count, 4);
    let removed = seed::clean(&CleanOptions {
        storage: storage(),
        prefix: seeded.prefix.clone(),
        json: false,
    })
    .unwrap();
    assert_eq!((removed.users, removed.groups), (4, 1));
    let exists: bool = redis::cmd("EXISTS")
        .arg(format!("group_member_{gid}"))
        .query(&mut members)
        .unwrap();
    assert!(!exists);
}
