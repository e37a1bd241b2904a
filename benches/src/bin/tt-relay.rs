//! `tt-relay`: a TCP relay that can break the links through it on command, for the fault
//! suite (`benches/faults.sh`). It sits between two servers (msg_servers and db_proxy, or
//! db_proxy and MySQL) and forwards bytes both ways until told otherwise.
//!
//! Usage: `tt-relay LISTEN TARGET CONTROL` (three host:port addresses, loopback only).
//! Commands, one per line on a connection to CONTROL, each answered with one line:
//!
//! * `blackhole` — every connection open now stops forwarding without closing: what
//!   arrives is read and dropped, nothing is sent on, so both ends see a silent peer.
//!   Connections opened later are relayed normally.
//! * `cut SECS` — every connection open now is closed (both sides), and connections
//!   arriving during the next SECS seconds are closed as soon as they are accepted.
//! * `stats` — connections relayed, open and black-holed.
//!
//! Threads, not an event loop: a relay carries a few dozen connections at most.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// How often a pump looks at its connection's state while waiting for data.
const POLL: Duration = Duration::from_millis(50);
/// Bytes read at a time.
const BUF: usize = 16 * 1024;

/// One relayed connection: both sockets and whether it is black-holed.
#[derive(Debug)]
struct Link {
    client: TcpStream,
    upstream: TcpStream,
    blackholed: Arc<AtomicBool>,
}

#[derive(Debug, Default)]
struct State {
    links: Mutex<HashMap<u64, Link>>,
    next_id: AtomicU64,
    refuse_until: Mutex<Option<Instant>>,
    blackholed_total: AtomicU64,
}

impl State {
    fn links(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Link>> {
        self.links.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn refusing(&self) -> bool {
        let until = self
            .refuse_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        until.is_some_and(|t| Instant::now() < t)
    }

    fn close(&self, id: u64) {
        if let Some(link) = self.links().remove(&id) {
            let _ = link.client.shutdown(Shutdown::Both);
            let _ = link.upstream.shutdown(Shutdown::Both);
        }
    }

    fn command(&self, line: &str) -> String {
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("blackhole"), None) => {
                let links = self.links();
                for link in links.values() {
                    link.blackholed.store(true, Ordering::Release);
                }
                self.blackholed_total
                    .fetch_add(links.len() as u64, Ordering::Relaxed);
                format!("ok {} connections black-holed", links.len())
            }
            (Some("cut"), Some(secs)) => {
                let Ok(secs) = secs.parse::<f64>() else {
                    return "error: cut SECS".to_owned();
                };
                if !secs.is_finite() || secs < 0.0 {
                    return "error: cut SECS".to_owned();
                }
                *self
                    .refuse_until
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) =
                    Some(Instant::now() + Duration::from_secs_f64(secs));
                let ids: Vec<u64> = self.links().keys().copied().collect();
                for id in &ids {
                    self.close(*id);
                }
                format!("ok {} connections cut", ids.len())
            }
            (Some("stats"), None) => {
                let links = self.links();
                let holed = links
                    .values()
                    .filter(|l| l.blackholed.load(Ordering::Acquire))
                    .count();
                format!(
                    "relayed {} open {} blackholed {}",
                    self.next_id.load(Ordering::Relaxed),
                    links.len(),
                    holed
                )
            }
            _ => "error: unknown command (blackhole | cut SECS | stats)".to_owned(),
        }
    }
}

/// Copies `from` to `to` until either end closes or the link is closed; while the link is
/// black-holed, reads and drops.
fn pump(state: Arc<State>, id: u64, mut from: TcpStream, mut to: TcpStream, hole: Arc<AtomicBool>) {
    let mut buf = vec![0u8; BUF];
    if from.set_read_timeout(Some(POLL)).is_err() {
        state.close(id);
        return;
    }
    loop {
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if hole.load(Ordering::Acquire) {
                    continue;
                }
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break,
        }
        if !state.links().contains_key(&id) {
            break;
        }
    }
    state.close(id);
}

fn relay(state: &Arc<State>, client: TcpStream, target: SocketAddr) {
    if state.refusing() {
        let _ = client.shutdown(Shutdown::Both);
        return;
    }
    let upstream = match TcpStream::connect_timeout(&target, Duration::from_secs(2)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tt-relay: connecting to {target}: {e}");
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let clones = (
        client.try_clone(),
        upstream.try_clone(),
        client.try_clone(),
        upstream.try_clone(),
    );
    let (Ok(c1), Ok(u1), Ok(c2), Ok(u2)) = clones else {
        eprintln!("tt-relay: cannot clone a socket");
        return;
    };
    let id = state.next_id.fetch_add(1, Ordering::Relaxed);
    let hole = Arc::new(AtomicBool::new(false));
    state.links().insert(
        id,
        Link {
            client,
            upstream,
            blackholed: Arc::clone(&hole),
        },
    );
    for (from, to) in [(c1, u1), (u2, c2)] {
        let (pump_state, hole) = (Arc::clone(state), Arc::clone(&hole));
        let spawned = thread::Builder::new()
            .name("tt-relay-pump".into())
            .spawn(move || pump(pump_state, id, from, to, hole));
        if let Err(e) = spawned {
            eprintln!("tt-relay: cannot start a pump: {e}");
            state.close(id);
        }
    }
}

fn control(state: Arc<State>, listener: TcpListener) {
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        let Ok(mut out) = conn.try_clone() else {
            continue;
        };
        for line in BufReader::new(conn).lines() {
            let Ok(line) = line else { break };
            let answer = state.command(&line);
            eprintln!("tt-relay: {line} -> {answer}");
            if writeln!(out, "{answer}").is_err() {
                break;
            }
        }
    }
}

fn parse_loopback(text: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = text
        .parse()
        .map_err(|_| format!("{text:?} is not an ip:port address"))?;
    if !addr.ip().is_loopback() {
        return Err(format!("{addr} is not a loopback address"));
    }
    Ok(addr)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addrs: Result<Vec<SocketAddr>, String> = args.iter().map(|a| parse_loopback(a)).collect();
    let addrs = match addrs {
        Ok(a) if a.len() == 3 => a,
        Ok(_) => {
            eprintln!("usage: tt-relay LISTEN TARGET CONTROL (loopback ip:port each)");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("tt-relay: {e}");
            return ExitCode::from(2);
        }
    };
    let (listen, target, control_addr) = (addrs[0], addrs[1], addrs[2]);
    let (listener, control_listener) =
        match (TcpListener::bind(listen), TcpListener::bind(control_addr)) {
            (Ok(l), Ok(c)) => (l, c),
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("tt-relay: binding: {e}");
                return ExitCode::from(1);
            }
        };
    let state = Arc::new(State::default());
    {
        let state = Arc::clone(&state);
        if let Err(e) = thread::Builder::new()
            .name("tt-relay-control".into())
            .spawn(move || control(state, control_listener))
        {
            eprintln!("tt-relay: cannot start the control thread: {e}");
            return ExitCode::from(1);
        }
    }
    eprintln!("tt-relay: {listen} -> {target}, control {control_addr}");
    serve(&state, &listener, target);
    ExitCode::SUCCESS
}

/// Relays every connection `listener` accepts to `target`.
fn serve(state: &Arc<State>, listener: &TcpListener, target: SocketAddr) {
    for conn in listener.incoming() {
        match conn {
            Ok(c) => relay(state, c, target),
            Err(e) => eprintln!("tt-relay: accept: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// An echo server and a relay in front of it; returns the relay's address and state.
    fn relay_to_echo() -> (SocketAddr, Arc<State>) {
        let echo = TcpListener::bind("127.0.0.1:0").unwrap();
        let target = echo.local_addr().unwrap();
        thread::spawn(move || {
            for conn in echo.incoming() {
                let mut conn = conn.unwrap();
                thread::spawn(move || {
                    let mut buf = [0u8; 64];
                    while let Ok(n) = conn.read(&mut buf) {
                        if n == 0 || conn.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State::default());
        let serving = Arc::clone(&state);
        thread::spawn(move || serve(&serving, &listener, target));
        (addr, state)
    }

    fn connect(addr: SocketAddr) -> TcpStream {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        s
    }

    /// What comes back for `text`: the echo, "" on close, or None when nothing comes.
    fn round_trip(s: &mut TcpStream, text: &str) -> Option<String> {
        if s.write_all(text.as_bytes()).is_err() {
            return Some(String::new());
        }
        let mut buf = [0u8; 64];
        match s.read(&mut buf) {
            Ok(n) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => None,
            Err(_) => Some(String::new()),
        }
    }

    #[test]
    fn a_black_holed_connection_stays_open_and_silent_while_new_ones_pass() {
        let (addr, state) = relay_to_echo();
        let mut old = connect(addr);
        assert_eq!(round_trip(&mut old, "a").as_deref(), Some("a"));
        assert_eq!(state.command("blackhole"), "ok 1 connections black-holed");
        assert_eq!(round_trip(&mut old, "b"), None);
        let mut new = connect(addr);
        assert_eq!(round_trip(&mut new, "c").as_deref(), Some("c"));
        // Still silent, still not closed.
        assert_eq!(round_trip(&mut old, "d"), None);
        assert!(state.command("stats").ends_with("open 2 blackholed 1"));
    }

    #[test]
    fn a_cut_closes_open_connections_and_refuses_new_ones_for_a_while() {
        let (addr, state) = relay_to_echo();
        let mut old = connect(addr);
        assert_eq!(round_trip(&mut old, "a").as_deref(), Some("a"));
        assert_eq!(state.command("cut 0.6"), "ok 1 connections cut");
        assert_eq!(round_trip(&mut old, "b").as_deref(), Some(""));
        let mut refused = connect(addr);
        assert_eq!(round_trip(&mut refused, "c").as_deref(), Some(""));
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let mut again = connect(addr);
            if round_trip(&mut again, "d").as_deref() == Some("d") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the relay never let connections through"
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    #[test]
    fn unknown_or_malformed_commands_are_refused() {
        let state = State::default();
        for bad in ["", "cut", "cut -1", "cut x", "blackhole now", "restart"] {
            assert!(state.command(bad).starts_with("error"), "{bad:?}");
        }
        assert_eq!(state.command("stats"), "relayed 0 open 0 blackholed 0");
    }
}
