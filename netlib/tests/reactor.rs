//! The reactor against real sockets on 127.0.0.1: echo under many clients, large payloads
//! through partial writes, the write cap, timers, connect failure and back-off, worker wake-ups,
//! idle timeouts.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use netlib::{
    CloseReason, ConnHandle, ConnOptions, Ctx, Dialer, EventLoop, Handler, LinkState, ListenerTag,
    ResponseQueue, TimerId,
};
use teamtalk_proto::{CommandId, DEFAULT_MAX_PDU_LEN, Pdu};

const TAG: ListenerTag = ListenerTag(1);

/// Echoes every PDU back and reports closes.
struct Echo {
    closes: mpsc::Sender<String>,
}

impl Handler for Echo {
    type ConnData = ();

    fn on_pdu(&mut self, ctx: &mut Ctx<()>, conn: ConnHandle, pdu: Pdu) {
        ctx.send_pdu(conn, &pdu);
    }

    fn on_close(&mut self, _: &mut Ctx<()>, _: ConnHandle, _: (), reason: CloseReason) {
        let _ = self.closes.send(reason.to_string());
    }
}

fn echo_server(options: ConnOptions) -> (SocketAddr, netlib::LoopHandle, mpsc::Receiver<String>) {
    netlib::logging::init_for_tests();
    let (tx, rx) = mpsc::channel();
    let mut event_loop = EventLoop::new(Echo { closes: tx }).unwrap();
    let addr = event_loop.listen("127.0.0.1", 0, TAG, options).unwrap();
    (addr, event_loop.spawn("echo").unwrap(), rx)
}

fn read_pdu(stream: &mut TcpStream) -> Pdu {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        if let Some((pdu, _)) = Pdu::decode(&buf, usize::MAX).unwrap() {
            return pdu;
        }
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "server closed the connection");
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn wait_closed(stream: &mut TcpStream) -> bool {
    common::closed_by_server(stream, Duration::from_secs(10))
}

#[test]
fn echo_serves_a_thousand_concurrent_clients() {
    let (addr, server, _) = echo_server(ConnOptions::pdu());
    let mut clients: Vec<TcpStream> = (0..1000)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    for (i, c) in clients.iter_mut().enumerate() {
        let body = (i as u32).to_be_bytes().to_vec();
        c.write_all(&Pdu::from_body(CommandId::MsgData, i as u16, body).encode())
            .unwrap();
    }
    for (i, c) in clients.iter_mut().enumerate() {
        let pdu = read_pdu(c);
        assert_eq!(pdu.header.seq_num, i as u16);
        assert_eq!(pdu.body, (i as u32).to_be_bytes());
    }
    server.shutdown().unwrap();
}

#[test]
fn ten_mib_payload_survives_partial_writes() {
    let options = ConnOptions {
        max_input: 11 * 1024 * 1024,
        ..ConnOptions::pdu()
    };
    let (addr, server, _) = echo_server(options);
    let body: Vec<u8> = (0..10 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let bytes = Pdu::from_body(CommandId::FilePullDataRsp, 9, body.clone()).encode();
    let mut stream = TcpStream::connect(addr).unwrap();
    let mut reader = stream.try_clone().unwrap();
    // Write on another thread: the echo comes back while we are still sending, so both sides'
    // buffers fill and the server must queue and resume on writability.
    let writer = thread::spawn(move || stream.write_all(&bytes).unwrap());
    let pdu = read_pdu(&mut reader);
    writer.join().unwrap();
    assert_eq!(pdu.body.len(), body.len());
    assert!(pdu.body == body);
    server.shutdown().unwrap();
}

#[test]
fn over_the_cap_and_short_lengths_close_only_that_connection() {
    let (addr, server, closes) = echo_server(ConnOptions::pdu());
    let mut good = TcpStream::connect(addr).unwrap();
    for bad_len in [0u32, 15, 0x8000_0000] {
        let mut bad = TcpStream::connect(addr).unwrap();
        let mut bytes = bad_len.to_be_bytes().to_vec();
        bytes.extend_from_slice(&[0, 1, 0, 0, 0, 7, 7, 1, 0, 0, 0, 0]);
        bad.write_all(&bytes).unwrap();
        assert!(wait_closed(&mut bad), "length {bad_len} did not close");
        assert!(
            closes
                .recv_timeout(Duration::from_secs(5))
                .unwrap()
                .contains("protocol")
        );
    }
    good.write_all(&Pdu::empty(CommandId::OtherHeartbeat, 3).encode())
        .unwrap();
    assert_eq!(read_pdu(&mut good).header.seq_num, 3);
    const { assert!(DEFAULT_MAX_PDU_LEN < 0x8000_0000) };
    server.shutdown().unwrap();
}

#[test]
fn write_buffer_cap_closes_a_stalled_peer() {
    let options = ConnOptions {
        max_write_buf: 256 * 1024,
        ..ConnOptions::pdu()
    };
    let (addr, server, closes) = echo_server(options);
    let mut stalled = TcpStream::connect(addr).unwrap();
    // Never read: echoes pile up in the kernel buffers, then in the server's queue.
    let pdu = Pdu::from_body(CommandId::MsgData, 0, vec![7; 60 * 1024]).encode();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut closed = false;
    while Instant::now() < deadline {
        if stalled.write_all(&pdu).is_err() {
            closed = true;
            break;
        }
        if let Ok(reason) = closes.try_recv() {
            assert!(reason.contains("overflow"), "{reason}");
            closed = true;
            break;
        }
    }
    assert!(closed, "stalled peer was never closed");
    server.shutdown().unwrap();
}

/// Records timer firings in order.
struct TimerProbe {
    fired: mpsc::Sender<(TimerId, Instant)>,
}

impl Handler for TimerProbe {
    type ConnData = ();

    fn on_timer(&mut self, _: &mut Ctx<()>, timer: TimerId) {
        let _ = self.fired.send((timer, Instant::now()));
    }
}

#[test]
fn timers_fire_in_deadline_order() {
    let (tx, rx) = mpsc::channel();
    let mut event_loop = EventLoop::new(TimerProbe { fired: tx }).unwrap();
    let ctx = event_loop.ctx_mut();
    let late = ctx.add_timer(Duration::from_millis(300), false);
    let early = ctx.add_timer(Duration::from_millis(50), false);
    let repeat = ctx.add_timer(Duration::from_millis(120), true);
    let start = Instant::now();
    let handle = event_loop.spawn("timers").unwrap();
    let order: Vec<TimerId> = (0..4)
        .map(|_| rx.recv_timeout(Duration::from_secs(5)).unwrap().0)
        .collect();
    assert_eq!(order, [early, repeat, repeat, late]);
    assert!(start.elapsed() >= Duration::from_millis(300));
    handle.shutdown().unwrap();
}

/// Dials one peer through a Dialer and reports link events.
struct DialProbe {
    dialer: Dialer,
    events: mpsc::Sender<&'static str>,
}

impl Handler for DialProbe {
    type ConnData = ();

    fn on_connect(&mut self, ctx: &mut Ctx<()>, conn: ConnHandle) {
        if self.dialer.connected(conn, ctx.now()).is_some() {
            let _ = self.events.send("up");
        }
    }

    fn on_close(&mut self, ctx: &mut Ctx<()>, conn: ConnHandle, _: (), reason: CloseReason) {
        if self.dialer.closed(conn, ctx.now()).is_some() {
            let _ = self.events.send(match reason {
                CloseReason::ConnectFailed(_) => "failed",
                _ => "down",
            });
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<()>, _: TimerId) {
        self.dialer.tick(ctx);
    }
}

#[test]
fn connect_to_a_closed_port_fails_then_back_off_reconnects_when_it_opens() {
    // Reserve a port, then free it so the first connect is refused.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (tx, rx) = mpsc::channel();
    let dialer = Dialer::new(
        &[("127.0.0.1".to_owned(), port)],
        ConnOptions::pdu(),
        Instant::now(),
    );
    let mut event_loop = EventLoop::new(DialProbe { dialer, events: tx }).unwrap();
    {
        let (probe, ctx) = event_loop.parts_mut();
        probe.dialer.tick(ctx);
        ctx.add_timer(Duration::from_millis(200), true);
    }
    let handle = event_loop.spawn("dialer").unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), "failed");
    // The retry is due 4 s later; open the port meanwhile.
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), "up");
    let (peer, _) = listener.accept().unwrap();
    drop(peer);
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), "down");
    // After a successful connect the back-off restarts at 4 s: it reconnects again.
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), "up");
    handle.shutdown().unwrap();
}

#[test]
fn a_host_name_peer_is_looked_up_and_connected() {
    // Listen where `localhost` resolves first, whichever family that is.
    let target = std::net::ToSocketAddrs::to_socket_addrs(&("localhost", 0))
        .unwrap()
        .next()
        .unwrap();
    let listener = TcpListener::bind(target).unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    let dialer = Dialer::new(
        &[("localhost".to_owned(), port)],
        ConnOptions::pdu(),
        Instant::now(),
    );
    let mut event_loop = EventLoop::new(DialProbe { dialer, events: tx }).unwrap();
    {
        let (probe, ctx) = event_loop.parts_mut();
        probe.dialer.tick(ctx);
        assert_eq!(probe.dialer.links()[0].state(), LinkState::Resolving);
        ctx.add_timer(Duration::from_millis(100), true);
    }
    let handle = event_loop.spawn("dialer").unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), "up");
    let (peer, from) = listener.accept().unwrap();
    assert!(from.ip().is_loopback());
    drop(peer);
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), "down");
    handle.shutdown().unwrap();
}

/// Hands work to a thread and collects its answer through the response queue.
struct WakeProbe {
    queue: ResponseQueue<u32>,
    got: mpsc::Sender<u32>,
}

impl Handler for WakeProbe {
    type ConnData = ();

    fn on_wake(&mut self, _: &mut Ctx<()>) {
        for v in self.queue.drain() {
            let _ = self.got.send(v);
        }
    }
}

#[test]
fn a_worker_threads_response_wakes_the_loop() {
    let (tx, rx) = mpsc::channel();
    let event_loop = EventLoop::with_waker(|waker| WakeProbe {
        queue: ResponseQueue::new(waker),
        got: tx,
    })
    .unwrap();
    let sender = event_loop.handler().queue.sender();
    let handle = event_loop.spawn("wake").unwrap();
    let pool = netlib::WorkerPool::start("worker", 2, |_| {
        let sender = sender.clone();
        move |v: u32| sender.send(v * 2)
    })
    .unwrap();
    for v in 1..=5 {
        pool.submit(v).unwrap();
    }
    let mut got: Vec<u32> = (0..5)
        .map(|_| rx.recv_timeout(Duration::from_secs(5)).unwrap())
        .collect();
    got.sort_unstable();
    assert_eq!(got, [2, 4, 6, 8, 10]);
    drop(pool);
    handle.shutdown().unwrap();
}

#[test]
fn idle_timeout_closes_a_silent_peer_and_heartbeats_flow() {
    let options = ConnOptions {
        heartbeat: Some(Duration::from_millis(500)),
        idle_timeout: Some(Duration::from_secs(2)),
        ..ConnOptions::pdu()
    };
    let (addr, server, closes) = echo_server(options);
    let mut silent = TcpStream::connect(addr).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // The server heartbeats a connection it has not sent on...
    let hb = read_pdu(&mut silent);
    assert_eq!(hb.command(), Some(CommandId::OtherHeartbeat));
    assert_eq!(hb.header.seq_num, 0);
    // ...and closes it when nothing arrives for the idle timeout.
    assert!(wait_closed(&mut silent));
    assert_eq!(
        closes.recv_timeout(Duration::from_secs(5)).unwrap(),
        "idle timeout"
    );
    server.shutdown().unwrap();
}

#[test]
fn listen_takes_ipv6_literals_with_or_without_brackets() {
    let (tx, _rx) = mpsc::channel();
    let mut event_loop = EventLoop::new(Echo { closes: tx }).unwrap();
    for ip in ["::1", "[::1]"] {
        let addr = event_loop.listen(ip, 0, TAG, ConnOptions::pdu()).unwrap();
        assert!(
            addr.is_ipv6() && addr.ip().is_loopback() && addr.port() != 0,
            "{ip}"
        );
    }
}

#[test]
fn lifetime_closes_a_peer_that_trickles_bytes_past_it() {
    let options = ConnOptions {
        idle_timeout: Some(Duration::from_secs(2)),
        lifetime: Some(Duration::from_secs(2)),
        ..ConnOptions::pdu()
    };
    let (addr, server, closes) = echo_server(options);
    let mut slow = TcpStream::connect(addr).unwrap();
    let mut reader = slow.try_clone().unwrap();
    let started = Instant::now();
    // One byte of a PDU header every 300 ms keeps the idle timeout from ever firing.
    let trickle = thread::spawn(move || {
        for _ in 0..15 {
            if slow.write_all(&[0]).is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(300));
        }
    });
    assert!(
        wait_closed(&mut reader),
        "the trickling peer was not closed"
    );
    let took = started.elapsed();
    assert!(took < Duration::from_secs(4), "closed after {took:?}");
    assert_eq!(
        closes.recv_timeout(Duration::from_secs(5)).unwrap(),
        CloseReason::Timeout.to_string()
    );
    trickle.join().unwrap();
    server.shutdown().unwrap();
}
