//! Stored messages per second through db_proxy_server: an in-process db_proxy on the real
//! MariaDB/Redis, 1 and 8 links (as msg_servers hold them), each keeping a window of IMMsgData
//! requests in flight, for ThreadNum 2, 4 and 8; prints throughput and send→answer latency.
//!
//! Usage: `db_proxy_store [MESSAGES_PER_LINK] [WINDOW] [resend]` (defaults 2000 and 32).
//! With `resend`, every message carries its client's `create_time` as our msg_server sends
//! it, so db_proxy keeps a resend record per message (the cost of recognising resends; each
//! message is distinct, none is a copy). The databases
//! come from `TT_TEST_MYSQL_URL` / `TT_TEST_REDIS_URL` (defaults: the test database
//! `teamtalk_test` and Redis databases 11-15, as the test suite uses; prepare it with
//! `TT_DB_NAME=teamtalk_test scripts/services.sh`). Seeded users are deleted at the end.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use db_proxy_server::{Config, Server};
use mysql::prelude::Queryable;
use netlib::Conf;
use teamtalk_proto::attach::DbAttachData;
use teamtalk_proto::crypto::{DEFAULT_AES_KEY, encrypt_text};
use teamtalk_proto::pb::message::ImMsgData;
use teamtalk_proto::{CommandId, DEFAULT_MAX_PDU_LEN, MsgDataResend, Pdu};
use tt_bench::cli::{CleanOptions, SeedOptions, Storage};
use tt_bench::seed;
use tt_bench::stats::{Latencies, ms};

const USERS: u32 = 50;
const REDIS_DBS: [(&str, u32); 5] = [
    ("unread", 11),
    ("group_set", 12),
    ("sync", 13),
    ("token", 14),
    ("group_member", 15),
];

/// What one link measured.
struct LinkResult {
    latencies: Latencies,
    failures: usize,
}

fn conf_text(mysql_url: &str, redis_url: &str, threads: usize) -> Result<String> {
    let opts = mysql::Opts::from_url(mysql_url).context("TT_TEST_MYSQL_URL")?;
    let redis = redis_url
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .to_owned();
    let (rhost, rport) = redis.split_once(':').unwrap_or((redis.as_str(), "6379"));
    let mut text = format!(
        "ListenIP=127.0.0.1\nListenPort=0\nThreadNum={threads}\nMsfsSite=http://127.0.0.1:9\n\
         aesKey=12345678901234567890123456789012\nDBInstances=teamtalk_master,teamtalk_slave\n\
         CacheInstances=unread,group_set,token,sync,group_member\n"
    );
    for pool in ["teamtalk_master", "teamtalk_slave"] {
        text.push_str(&format!(
            "{pool}_host={}\n{pool}_port={}\n{pool}_dbname={}\n{pool}_username={}\n\
             {pool}_maxconncnt=16\n",
            opts.get_ip_or_hostname(),
            opts.get_tcp_port(),
            opts.get_db_name().unwrap_or("teamtalk_test"),
            opts.get_user().unwrap_or("root"),
        ));
        if let Some(pass) = opts.get_pass() {
            text.push_str(&format!("{pool}_password={pass}\n"));
        }
    }
    for (pool, db) in REDIS_DBS {
        text.push_str(&format!(
            "{pool}_host={rhost}\n{pool}_port={rport}\n{pool}_db={db}\n{pool}_maxconncnt=16\n"
        ));
    }
    Ok(text)
}

/// Sends `count` messages between random pairs of `users`, `window` in flight; with a resend
/// base, each carries a distinct client `create_time` (the base plus its number).
fn drive_link(
    addr: SocketAddr,
    users: &[u32],
    count: usize,
    window: usize,
    resend_base: Option<u32>,
) -> Result<LinkResult> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let body = encrypt_text("load", DEFAULT_AES_KEY).into_bytes();
    let mut in_flight: HashMap<u16, Instant> = HashMap::new();
    let mut latencies = Latencies::default();
    let (mut sent, mut failures, mut seq) = (0usize, 0usize, 0u16);
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut pick = 0usize;
    while latencies.len() + failures < count {
        while sent < count && in_flight.len() < window {
            seq = seq.wrapping_add(1).max(1);
            // A cheap LCG spreads the traffic over many conversations; `j` is never `i`.
            pick = pick.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let n = users.len();
            let i = pick % n;
            let j = (i + 1 + (pick / n) % (n - 1)) % n;
            let (from, to) = (users[i], users[j]);
            let msg = ImMsgData {
                from_user_id: from,
                to_session_id: to,
                msg_id: 0,
                create_time: 0,
                msg_type: 1,
                msg_data: body.clone(),
                attach_data: Some(DbAttachData::handle(1).encode()),
            };
            let mut pdu = Pdu::new(CommandId::MsgData, seq, &msg);
            if let Some(base) = resend_base {
                MsgDataResend {
                    client_create_time: Some(base + sent as u32),
                    duplicate: None,
                }
                .append_to(&mut pdu.body);
            }
            stream.write_all(&pdu.encode())?;
            in_flight.insert(seq, Instant::now());
            sent += 1;
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            bail!("db_proxy closed the link");
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut used = 0;
        while let Some((pdu, len)) = Pdu::decode(&buf[used..], DEFAULT_MAX_PDU_LEN)? {
            used += len;
            let Some(start) = in_flight.remove(&pdu.header.seq_num) else {
                continue;
            };
            match pdu.parse::<ImMsgData>() {
                Ok(stored) if stored.msg_id != 0 => latencies.record(start.elapsed()),
                _ => failures += 1,
            }
        }
        buf.drain(..used);
    }
    Ok(LinkResult {
        latencies,
        failures,
    })
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let per_link: usize = args.first().map_or(Ok(2000), |s| s.parse())?;
    let window: usize = args.get(1).map_or(Ok(32), |s| s.parse())?;
    let resend = args.get(2).is_some_and(|a| a == "resend");
    let mysql_url = std::env::var("TT_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/teamtalk_test".to_owned());
    let redis_url =
        std::env::var("TT_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let storage = Storage {
        mysql_url: mysql_url.clone(),
        redis_url: redis_url.clone(),
        group_member_db: 15,
        unread_db: 11,
    };
    let prefix = format!("dbstore{}", std::process::id());
    seed::seed(&SeedOptions {
        storage: storage.clone(),
        prefix: prefix.clone(),
        password: "bench".to_owned(),
        users: USERS,
        groups: 0,
        group_size: 0,
        json: false,
    })?;
    let mut db = mysql::Conn::new(mysql::Opts::from_url(&mysql_url)?)?;
    let users: Vec<u32> = db.exec(
        "SELECT id FROM IMUser WHERE name LIKE CONCAT(?, '\\_%')",
        (prefix.as_str(),),
    )?;

    println!("| ThreadNum | links | window | stored msgs/s | p50 ms | p99 ms | failures |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for threads in [2, 4, 8] {
        let config = Config::from_conf(&Conf::parse(&conf_text(&mysql_url, &redis_url, threads)?))?;
        let server = Server::bind(config)?.spawn()?;
        let addr = server.local_addrs()[0];
        for links in [1usize, 8] {
            let started = Instant::now();
            let workers: Vec<_> = (0..links)
                .map(|link| {
                    let users = users.clone();
                    // Each run and link counts client times from its own base, far apart from
                    // the others: no two messages of this process share an identity.
                    let base =
                        resend.then_some(((threads as u32) << 26) | ((link as u32 + 1) << 20));
                    thread::spawn(move || drive_link(addr, &users, per_link, window, base))
                })
                .collect();
            let (mut all, mut failures) = (Latencies::default(), 0);
            for w in workers {
                match w.join() {
                    Ok(result) => {
                        let result = result?;
                        failures += result.failures;
                        all.merge(result.latencies);
                    }
                    Err(_) => bail!("link thread panicked"),
                }
            }
            let secs = started.elapsed().as_secs_f64();
            println!(
                "| {threads} | {links} | {window} | {:.0} | {} | {} | {failures} |",
                all.len() as f64 / secs,
                ms(all.percentile(50.0)),
                ms(all.percentile(99.0)),
            );
        }
        server.shutdown()?;
    }
    seed::clean(&CleanOptions {
        storage,
        prefix,
        json: false,
    })?;
    Ok(())
}
