//! The metrics endpoint against real sockets: a handler on its own listener, the endpoint on
//! another, a real outbound connection as the "link" readiness depends on.
#![allow(clippy::unwrap_used)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use netlib::metrics::{REQUEST_LIFETIME, sample, scrape};
use netlib::{
    CloseReason, ConnHandle, ConnOptions, Ctx, EventLoop, Handler, ListenerTag, Metrics,
    MetricsConf, Readiness,
};
use prometheus_client::metrics::gauge::Gauge;

const TAG: ListenerTag = ListenerTag(3);

/// Counts what it hears of; ready while its one outbound link is open.
struct Probe {
    link: Option<ConnHandle>,
    link_up: bool,
    accepts: Arc<AtomicUsize>,
    closes: Arc<AtomicUsize>,
    conns: Gauge,
}

impl Handler for Probe {
    type ConnData = ();

    fn on_accept(&mut self, _: &mut Ctx<()>, _: ConnHandle, _: ListenerTag) {
        self.accepts.fetch_add(1, Ordering::SeqCst);
    }

    fn on_connect(&mut self, _: &mut Ctx<()>, h: ConnHandle) {
        self.link_up = self.link == Some(h);
    }

    fn on_close(&mut self, _: &mut Ctx<()>, h: ConnHandle, _: (), _: CloseReason) {
        self.closes.fetch_add(1, Ordering::SeqCst);
        if self.link == Some(h) {
            self.link_up = false;
        }
    }

    fn refresh_metrics(&mut self, ctx: &Ctx<()>) {
        self.conns.set(i64::try_from(ctx.conns().len()).unwrap());
    }

    fn readiness(&self, _: &Ctx<()>) -> Readiness {
        Readiness::ready().require("upstream", self.link_up)
    }
}

struct Setup {
    metrics: SocketAddr,
    server: SocketAddr,
    upstream: TcpListener,
    accepts: Arc<AtomicUsize>,
    closes: Arc<AtomicUsize>,
    _loop: netlib::LoopHandle,
}

fn setup() -> Setup {
    netlib::logging::init_for_tests();
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let accepts = Arc::new(AtomicUsize::new(0));
    let closes = Arc::new(AtomicUsize::new(0));
    let mut metrics = Metrics::new();
    let conns = metrics.gauge("handler_connections", "Connections the handler sees");
    let mut event_loop = EventLoop::new(Probe {
        link: None,
        link_up: false,
        accepts: Arc::clone(&accepts),
        closes: Arc::clone(&closes),
        conns,
    })
    .unwrap();
    let server = event_loop
        .listen("127.0.0.1", 0, TAG, ConnOptions::pdu())
        .unwrap();
    let metrics = event_loop
        .serve_metrics(&MetricsConf::loopback(), metrics)
        .unwrap();
    let (probe, ctx) = event_loop.parts_mut();
    probe.link = Some(
        ctx.connect(upstream.local_addr().unwrap(), ConnOptions::pdu(), ())
            .unwrap(),
    );
    Setup {
        metrics,
        server,
        upstream,
        accepts,
        closes,
        _loop: event_loop.spawn("metrics-test").unwrap(),
    }
}

/// Waits until `f` holds, for at most 5 s.
fn eventually(mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        if f() {
            return true;
        }
        thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn metrics_are_served_in_text_format_and_other_paths_are_404() {
    let s = setup();
    let _client = TcpStream::connect(s.server).unwrap();
    assert!(eventually(|| s.accepts.load(Ordering::SeqCst) == 1));
    let (status, body) = scrape(s.metrics, "/metrics").unwrap();
    assert_eq!(status, 200);
    assert!(
        body.contains("# TYPE teamtalk_handler_connections gauge"),
        "{body}"
    );
    // The handler's client and its link; the scrape's own connection is not shown to it.
    assert_eq!(
        sample(&body, "teamtalk_handler_connections"),
        Some(2.0),
        "{body}"
    );
    assert!(sample(&body, "process_open_fds").is_some_and(|n| n > 3.0));
    assert!(sample(&body, "process_resident_memory_bytes").is_some_and(|n| n > 1e5));

    let (status, _) = scrape(s.metrics, "/metrics?x=1").unwrap();
    assert_eq!(status, 200);
    let (status, body) = scrape(s.metrics, "/").unwrap();
    assert_eq!((status, body.as_str()), (404, "not found\n"));
    let (status, _) = scrape(s.metrics, "/metricsx").unwrap();
    assert_eq!(status, 404);
    assert_eq!(
        s.accepts.load(Ordering::SeqCst),
        1,
        "scrapes reached the handler"
    );
    assert_eq!(
        s.closes.load(Ordering::SeqCst),
        0,
        "scrapes reached the handler"
    );
}

#[test]
fn healthz_answers_and_readyz_follows_the_link() {
    let s = setup();
    let (status, body) = scrape(s.metrics, "/healthz").unwrap();
    assert_eq!((status, body.as_str()), (200, "ok\n"));

    let (peer, _) = s.upstream.accept().unwrap();
    assert!(eventually(|| scrape(s.metrics, "/readyz").unwrap().0 == 200));
    let (_, body) = scrape(s.metrics, "/readyz").unwrap();
    assert_eq!(body, "ready\n");

    drop(peer);
    assert!(eventually(|| scrape(s.metrics, "/readyz").unwrap().0 == 503));
    let (_, body) = scrape(s.metrics, "/readyz").unwrap();
    assert_eq!(body, "not ready: upstream\n");
    // Liveness does not depend on the links.
    assert_eq!(scrape(s.metrics, "/healthz").unwrap().0, 200);
}

/// Reads until EOF or reset; the bytes received.
fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return got,
            Err(e) => panic!("connection not closed: {e}"),
        }
    }
}

#[test]
fn bad_and_oversized_requests_are_closed_without_an_answer() {
    let s = setup();
    for request in [
        b"GARBAGE\r\n\r\n".to_vec(),
        b"GET /metrics HTTP/1.1\r\nno colon\r\n\r\n".to_vec(),
        vec![b'x'; 9 * 1024],
    ] {
        let mut c = TcpStream::connect(s.metrics).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.write_all(&request).unwrap();
        assert!(read_until_closed(&mut c).is_empty());
    }
    let mut c = TcpStream::connect(s.metrics).unwrap();
    c.write_all(b"POST /metrics HTTP/1.1\r\n\r\n").unwrap();
    let answer = read_until_closed(&mut c);
    assert!(answer.starts_with(b"HTTP/1.1 405 "));
}

#[test]
fn a_trickled_request_is_cut_at_its_lifetime() {
    let s = setup();
    let mut c = TcpStream::connect(s.metrics).unwrap();
    c.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    c.write_all(b"GET /metrics HTTP/1.1\r\nX: ").unwrap();
    let start = Instant::now();
    let mut buf = [0u8; 64];
    // One header byte every 300 ms keeps the idle timeout from firing; the lifetime does.
    let closed_after = loop {
        assert!(start.elapsed() < REQUEST_LIFETIME * 3, "never cut");
        match c.read(&mut buf) {
            Ok(0) => break start.elapsed(),
            Ok(_) => panic!("answered an incomplete request"),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break start.elapsed(),
            Err(_) => {}
        }
        thread::sleep(Duration::from_millis(300));
        let _ = c.write_all(b"a");
    };
    assert!(closed_after >= REQUEST_LIFETIME, "{closed_after:?}");
}
