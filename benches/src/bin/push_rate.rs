//! Pushes per second through one push_server to an APNs double: the HTTP/2 + TLS double of
//! push_server's tests (self-signed CA, answers 200 at once) runs on its own thread, push_server
//! is booted in-process with APNs configured against it, and one msg_server session sends
//! IMPushToUserReq batches. Prints how fast push_server answered the session (accepting into its
//! queue) and how fast the pushes reached the double, with the HTTP/2 connections used.
//!
//! Usage: `push_rate [PUSHES] [IN_FLIGHT] [BATCH]` (default 20000 pushes, 200 requests in
//! flight, 100 tokens per IMPushToUserReq).

#[path = "../../../servers/push_server/tests/double/mod.rs"]
mod double;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use double::{Double, MsgLink, Pki, token};
use netlib::Conf;
use push_server::{Config, Server};
use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256};

const TOKEN: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
/// Give up waiting for the double after this long.
const LIMIT: Duration = Duration::from_secs(300);

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: usize, name: &str| -> Result<usize> {
        args.get(i)
            .map_or(Ok(default), |s| s.parse())
            .context(name.to_owned())
    };
    let pushes = arg(0, 20_000, "PUSHES")?;
    let in_flight = arg(1, 200, "IN_FLIGHT")?;
    let batch = arg(2, 100, "BATCH")?.max(1);

    let pki = Pki::new("bench");
    let apns = Double::start(&pki, 0);
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let key_path = pki.write("AuthKey.p8", &key.serialize_pem());
    let conf = Conf::parse(&format!(
        "ListenIP=127.0.0.1\nListenPort=0\nSandBox=1\nApnsKeyPath={}\nApnsKeyId=BENCH00001\n\
         ApnsTeamId=BENCHTEAM1\nApnsTopic=com.example.tt\nApnsHost={}\nPushCaFile={}\n\
         PushQueueSize={pushes}\nPushMaxInFlight={in_flight}\n",
        key_path.display(),
        apns.url(),
        pki.ca_file().display()
    ));
    let server = Server::bind(Config::from_conf(&conf)?)?.spawn()?;
    let mut link = MsgLink::connect(server.local_addrs()[0]);

    let started = Instant::now();
    let mut sent = 0;
    while sent < pushes {
        let n = batch.min(pushes - sent);
        let tokens = (0..n)
            .map(|i| {
                token(
                    1,
                    0x11,
                    TOKEN,
                    u32::try_from(sent + i).unwrap_or(u32::MAX),
                    1,
                )
            })
            .collect();
        let codes = link.push("bench:hello", "{}", tokens);
        if codes.iter().any(|&c| c != 0) {
            bail!("push_server refused a push");
        }
        sent += n;
    }
    let accepted = started.elapsed();
    loop {
        let s = server.stats();
        if s.apns.delivered + s.apns.failed + s.dropped >= pushes as u64 {
            break;
        }
        if started.elapsed() > LIMIT {
            bail!("only {} of {pushes} pushes done", s.apns.delivered);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let delivered_in = started.elapsed();
    let stats = server.stats();
    let conns: BTreeSet<usize> = apns.requests().iter().map(|r| r.conn).collect();
    println!(
        "| pushes | in flight | batch | accepted/s | delivered/s | failed | dropped | h2 conns |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {pushes} | {in_flight} | {batch} | {:.0} | {:.0} | {} | {} | {} |",
        pushes as f64 / accepted.as_secs_f64(),
        stats.apns.delivered as f64 / delivered_in.as_secs_f64(),
        stats.apns.failed,
        stats.dropped,
        conns.len()
    );
    server.shutdown()?;
    Ok(())
}
