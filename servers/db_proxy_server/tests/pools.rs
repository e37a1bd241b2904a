//! How pooled Redis connections are checked before they are handed out: a connection that
//! answered in the last second goes out without a PING (one round trip saved per Redis call);
//! an older one is pinged first. Watched from outside through Redis's own `CLIENT LIST`, whose
//! `cmd` field is the last command a connection ran.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::*;
use db_proxy_server::config::RedisConfig;
use db_proxy_server::store::redis::{RedisEpoch, build_pool};

/// The `cmd` field of the connection named `name` in `CLIENT LIST`.
fn last_command(name: &str) -> String {
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query(&mut redis(0))
        .unwrap();
    let line = list
        .lines()
        .find(|l| l.split(' ').any(|f| f == format!("name={name}")))
        .unwrap_or_else(|| panic!("no connection named {name} in:\n{list}"));
    let cmd = line
        .split(' ')
        .find_map(|f| f.strip_prefix("cmd="))
        .unwrap();
    cmd.to_owned()
}

#[test]
fn a_recently_used_redis_connection_is_handed_out_without_a_ping() {
    let (host, port) = redis_addr();
    let cfg = RedisConfig {
        name: "unread".to_owned(),
        host,
        port,
        db: DB_GROUP_SET,
        max_conns: 1,
    };
    let pool = build_pool(&cfg, &Arc::new(RedisEpoch::default())).unwrap();
    let name = unique("probe");
    pool.get()
        .unwrap()
        .run(|c| {
            redis::cmd("CLIENT").arg("SETNAME").arg(&name).exec(c)?;
            redis::cmd("GET").arg(&name).exec(c)
        })
        .unwrap();

    // Checked out again at once: not pinged, the last command is still the GET.
    drop(pool.get().unwrap());
    assert_eq!(last_command(&name), "get");

    // Idle for longer than the trust period: pinged on the way out.
    thread::sleep(Duration::from_millis(1_200));
    drop(pool.get().unwrap());
    assert_eq!(last_command(&name), "ping");

    // The ping counts as use: the next checkout right after is not pinged again.
    pool.get()
        .unwrap()
        .run(|c| redis::cmd("GET").arg(&name).exec(c))
        .unwrap();
    drop(pool.get().unwrap());
    assert_eq!(last_command(&name), "get");
}
