//! PDU echo through the netlib reactor: N client connections, each with one request in flight,
//! for a fixed time; prints round trips per second and latency percentiles per N.
//!
//! Usage: `netlib_echo [SECONDS] [CONNS...]` (default 5 s, 1 and 100 connections).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use netlib::{ConnHandle, ConnOptions, Ctx, EventLoop, Handler, ListenerTag};
use teamtalk_proto::{CommandId, Pdu};
use tt_bench::stats::{Latencies, ms};

struct Echo;

impl Handler for Echo {
    type ConnData = ();

    fn on_pdu(&mut self, ctx: &mut Ctx<()>, conn: ConnHandle, pdu: Pdu) {
        ctx.send_pdu(conn, &pdu);
    }
}

fn client(addr: SocketAddr, until: Instant) -> Result<Latencies> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    let request = Pdu::from_body(CommandId::MsgData, 1, vec![0x5a; 100]).encode();
    let mut reply = vec![0u8; request.len()];
    let mut lat = Latencies::default();
    while Instant::now() < until {
        let start = Instant::now();
        stream.write_all(&request)?;
        stream.read_exact(&mut reply)?;
        lat.record(start.elapsed());
    }
    Ok(lat)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let secs: u64 = args
        .first()
        .map_or(Ok(5), |s| s.parse())
        .context("SECONDS")?;
    let conns: Vec<usize> = if args.len() > 1 {
        args[1..]
            .iter()
            .map(|s| s.parse())
            .collect::<Result<_, _>>()?
    } else {
        vec![1, 100]
    };
    let mut event_loop = EventLoop::new(Echo)?;
    let addr = event_loop.listen("127.0.0.1", 0, ListenerTag(0), ConnOptions::pdu())?;
    let server = event_loop.spawn("echo")?;

    println!("| connections | round trips/s | p50 ms | p99 ms | max ms |");
    println!("|---:|---:|---:|---:|---:|");
    for n in conns {
        let until = Instant::now() + Duration::from_secs(secs);
        let workers: Vec<_> = (0..n)
            .map(|_| thread::spawn(move || client(addr, until)))
            .collect();
        let mut all = Latencies::default();
        for w in workers {
            match w.join() {
                Ok(lat) => all.merge(lat?),
                Err(_) => bail!("client thread panicked"),
            }
        }
        println!(
            "| {n} | {:.0} | {} | {} | {} |",
            all.len() as f64 / secs as f64,
            ms(all.percentile(50.0)),
            ms(all.percentile(99.0)),
            ms(all.max())
        );
    }
    server.shutdown()?;
    Ok(())
}
