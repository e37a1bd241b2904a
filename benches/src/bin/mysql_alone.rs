//! What MariaDB alone does with db_proxy's write pattern for 1:1 messages: each transaction is
//! what db_proxy commits for one run of messages from a link, made with db_proxy's own
//! statement code (`model::message::insert_many`, one multi-row INSERT per shard table, then
//! `model::session::activate_sessions`, one UPDATE of both sessions of every message), with
//! no db_proxy, Redis or network hop in between. The end-to-end 1:1 numbers are compared with
//! it (benches/README.md, "Link spread, presence batches and pool checks").
//!
//! Usage: `mysql_alone [CONNECTIONS [BATCH [SECONDS [PAIRS]]]]` (defaults 2, 130, 10, 1000):
//! CONNECTIONS threads (db_proxy links), each committing transactions of BATCH messages
//! between random pairs of PAIRS conversations for SECONDS. The database comes from
//! `TT_TEST_MYSQL_URL` (default: the test database `teamtalk_test`); the conversations use
//! relation and user ids far above any real ones, and every row made is deleted at the end.

use std::collections::HashMap;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use db_proxy_server::model::message::{NewMsg, insert_many};
use db_proxy_server::model::session::activate_sessions;
use mysql::prelude::Queryable;
use mysql::{Opts, TxOpts};
use tt_bench::stats::{Latencies, ms};

/// First relation and user id used: far above what a test or seed creates.
const FIRST_ID: u32 = 3_000_000_000;
/// A message body of the size of a short encrypted text.
const BODY: &[u8] = b"0123456789abcdef0123456789abcdef0123456789abcdef";

/// One conversation: its relation id, users and their two session rows.
#[derive(Debug, Clone, Copy)]
struct Pair {
    relate: u32,
    from: u32,
    to: u32,
    sessions: [u32; 2],
}

/// What one connection did.
#[derive(Debug, Default)]
struct Done {
    messages: usize,
    commits: Latencies,
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: usize| -> Result<usize> {
        args.get(i).map_or(Ok(default), |s| {
            s.parse()
                .with_context(|| format!("argument {}: {s}", i + 1))
        })
    };
    let (conns, batch, seconds, pairs) = (arg(0, 2)?, arg(1, 130)?, arg(2, 10)?, arg(3, 1000)?);
    let url = std::env::var("TT_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/teamtalk_test".to_owned());
    let opts = Opts::from_url(&url).context("TT_TEST_MYSQL_URL")?;
    let mut db = mysql::Conn::new(opts.clone())?;
    let pairs = make_pairs(&mut db, pairs)?;

    let end = Instant::now() + Duration::from_secs(seconds as u64);
    let workers: Vec<_> = (0..conns)
        .map(|c| {
            let (opts, pairs) = (opts.clone(), pairs.clone());
            thread::spawn(move || run(opts, &pairs, c, conns, batch, end))
        })
        .collect();
    let mut total = Done::default();
    for w in workers {
        let done = w
            .join()
            .map_err(|_| anyhow::anyhow!("a worker panicked"))??;
        total.messages += done.messages;
        total.commits.merge(done.commits);
    }
    clean(&mut db, &pairs)?;

    let commits = total.commits.len();
    println!("| connections | batch | messages/s | transactions/s | commit p50 ms | p99 ms |");
    println!("|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {conns} | {batch} | {:.0} | {:.0} | {} | {} |",
        total.messages as f64 / seconds as f64,
        commits as f64 / seconds as f64,
        ms(total.commits.percentile(50.0)),
        ms(total.commits.percentile(99.0)),
    );
    Ok(())
}

/// Creates the session rows of `n` conversations.
fn make_pairs(db: &mut mysql::Conn, n: usize) -> Result<Vec<Pair>> {
    let now = unix_now();
    let mut pairs = Vec::with_capacity(n);
    for i in 0..n as u32 {
        let (from, to) = (FIRST_ID + 2 * i, FIRST_ID + 2 * i + 1);
        let mut sessions = [0u32; 2];
        for (slot, (user, peer)) in sessions.iter_mut().zip([(from, to), (to, from)]) {
            db.exec_drop(
                "INSERT INTO IMRecentSession (userId, peerId, type, status, created, updated) \
                 VALUES (?, ?, 1, 0, ?, ?)",
                (user, peer, now, now),
            )?;
            *slot = u32::try_from(db.last_insert_id()).context("session id")?;
        }
        pairs.push(Pair {
            relate: FIRST_ID + i,
            from,
            to,
            sessions,
        });
    }
    Ok(pairs)
}

/// Connection `c` of `conns`: commits batches until `end`, each message in one of its own
/// conversations (as a link carries its clients' conversations), in turn.
fn run(
    opts: Opts,
    pairs: &[Pair],
    c: usize,
    conns: usize,
    batch: usize,
    end: Instant,
) -> Result<Done> {
    let mut db = mysql::Conn::new(opts)?;
    let mine: Vec<Pair> = pairs.iter().skip(c).step_by(conns).copied().collect();
    let mut next_id: HashMap<u32, u32> = HashMap::new();
    let mut done = Done::default();
    let mut turn = 0usize;
    while Instant::now() < end {
        let now = unix_now();
        let picked: Vec<Pair> = (0..batch).map(|k| mine[(turn + k) % mine.len()]).collect();
        turn = turn.wrapping_add(batch);
        let rows: Vec<NewMsg<'_>> = picked
            .iter()
            .map(|p| {
                let id = next_id.entry(p.relate).or_insert(0);
                *id += 1;
                NewMsg {
                    relate: p.relate,
                    from: p.from,
                    to: p.to,
                    msg_id: *id,
                    content: BODY,
                    msg_type: 1,
                    created: now,
                }
            })
            .collect();
        let mut sessions: Vec<u32> = picked.iter().flat_map(|p| p.sessions).collect();
        sessions.sort_unstable();
        sessions.dedup();
        let start = Instant::now();
        let mut tx = db.start_transaction(TxOpts::default())?;
        insert_many(&mut tx, &rows, false)?;
        activate_sessions(&mut tx, &sessions, now)?;
        tx.commit()?;
        done.commits.record(start.elapsed());
        done.messages += rows.len();
    }
    Ok(done)
}

/// Deletes every row this run made.
fn clean(db: &mut mysql::Conn, pairs: &[Pair]) -> Result<()> {
    for shard in 0..8 {
        db.exec_drop(
            format!("DELETE FROM IMMessage_{shard} WHERE relateId >= ?"),
            (FIRST_ID,),
        )?;
    }
    let first = pairs.iter().map(|p| p.from).min().unwrap_or(FIRST_ID);
    db.exec_drop("DELETE FROM IMRecentSession WHERE userId >= ?", (first,))?;
    Ok(())
}

fn unix_now() -> u32 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    u32::try_from(secs).unwrap_or(u32::MAX)
}
