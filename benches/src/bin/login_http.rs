//! `/msg_server` requests per second against login_server: C client threads, each opening a
//! connection per request (as real clients do), sending `GET /msg_server` and reading the
//! answer until login_server closes; prints a table with throughput and latency percentiles.
//!
//! Usage: `login_http [SECONDS] [CLIENTS] [HTTP_ADDR]` (default 5 s, 100 clients). Without an
//! address a login_server is booted in-process with one fake msg_server registered, so every
//! answer is a code-0 answer; with an address the server there is used as it is.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use login_server::{Config, Server, ServerHandle};
use netlib::Conf;
use teamtalk_proto::pb::server::ImMsgServInfo;
use teamtalk_proto::{CommandId, Pdu};
use tt_bench::stats::{Latencies, ms};

/// One client's results: latencies of good answers and the number of failed requests.
struct Outcome {
    latencies: Latencies,
    failures: u64,
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let secs: u64 = args
        .first()
        .map_or(Ok(5), |s| s.parse())
        .context("SECONDS")?;
    let clients: usize = args
        .get(1)
        .map_or(Ok(100), |s| s.parse())
        .context("CLIENTS")?;
    let (addr, _server, _msg_server) = match args.get(2) {
        Some(a) => (a.parse().context("HTTP_ADDR")?, None, None),
        None => {
            let (server, link) = boot()?;
            (server.local_addrs().http[0], Some(server), Some(link))
        }
    };
    let sample = request(addr)?;
    if !sample.starts_with(b"HTTP/1.1 200 OK\r\n") {
        bail!("unexpected answer: {}", String::from_utf8_lossy(&sample));
    }

    let until = Instant::now() + Duration::from_secs(secs);
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let expected = sample.clone();
            thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || run_client(addr, &expected, until))
        })
        .collect::<Result<_, _>>()?;
    let mut all = Latencies::default();
    let mut failures = 0;
    for w in workers {
        match w.join() {
            Ok(outcome) => {
                all.merge(outcome.latencies);
                failures += outcome.failures;
            }
            Err(_) => bail!("client thread panicked"),
        }
    }
    println!("| clients | requests/s | failed | p50 ms | p99 ms | max ms |");
    println!("|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {clients} | {:.0} | {failures} | {} | {} | {} |",
        all.len() as f64 / secs as f64,
        ms(all.percentile(50.0)),
        ms(all.percentile(99.0)),
        ms(all.max())
    );
    Ok(())
}

/// A login_server on 127.0.0.1:0 and a registered msg_server link kept open.
fn boot() -> Result<(ServerHandle, TcpStream)> {
    let conf = Conf::from_pairs([
        ("ClientListenIP", "127.0.0.1"),
        ("ClientPort", "0"),
        ("HttpListenIP", "127.0.0.1"),
        ("HttpPort", "0"),
        ("MsgServerListenIP", "127.0.0.1"),
        ("MsgServerPort", "0"),
        ("msfs", "http://127.0.0.1:8700/"),
        ("discovery", "http://127.0.0.1/api/discovery"),
    ]);
    let server = Server::bind(Config::from_conf(&conf)?)?.spawn()?;
    let mut link = TcpStream::connect(server.local_addrs().msg_server[0])?;
    let info = ImMsgServInfo {
        ip1: "127.0.0.1".into(),
        ip2: "127.0.0.1".into(),
        port: 8000,
        max_conn_cnt: 100_000,
        cur_conn_cnt: 0,
        host_name: "bench".into(),
        ..Default::default()
    };
    link.write_all(&Pdu::new(CommandId::OtherMsgServInfo, 0, &info).encode())?;
    // Registration travels on another connection: wait until answers name the msg_server.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !request(server.local_addrs().http[0])?
        .windows(12)
        .any(|w| w == b"\"code\" : 0,\n")
    {
        if Instant::now() > deadline {
            bail!("msg_server registration not visible");
        }
        thread::sleep(Duration::from_millis(10));
    }
    Ok((server, link))
}

/// One request on a fresh connection; the answer ends when login_server closes.
fn request(addr: SocketAddr) -> Result<Vec<u8>> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    stream.write_all(b"GET /msg_server HTTP/1.1\r\nHost: bench\r\n\r\n")?;
    let mut answer = Vec::with_capacity(512);
    match stream.read_to_end(&mut answer) {
        Ok(_) => Ok(answer),
        Err(e) if e.kind() == ErrorKind::ConnectionReset => Ok(answer),
        Err(e) => Err(e.into()),
    }
}

fn run_client(addr: SocketAddr, expected: &[u8], until: Instant) -> Outcome {
    let mut outcome = Outcome {
        latencies: Latencies::default(),
        failures: 0,
    };
    while Instant::now() < until {
        let start = Instant::now();
        match request(addr) {
            Ok(answer) if answer == expected => outcome.latencies.record(start.elapsed()),
            _ => outcome.failures += 1,
        }
    }
    outcome
}
