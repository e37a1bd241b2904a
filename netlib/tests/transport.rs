//! The reactor's TLS and WebSocket listeners against real sockets on 127.0.0.1: PDUs echo
//! over every transport (large ones through partial writes, deferred ones in order), bad
//! input closes the one connection, overdue handshakes are cut, certificates reload; the
//! reactor's own outgoing connections (`Ctx::connect_over`) speak every transport too.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use netlib::{
    CloseReason, ConnHandle, ConnOptions, Ctx, DialTransport, EventLoop, Handler, ListenerTag,
    Transport,
};
use teamtalk_proto::{CommandId, Pdu};
use teamtalk_transport::rustls::pki_types::ServerName;
use teamtalk_transport::test_pki::Pki;
use teamtalk_transport::{Blocking, WsClient, client_config};

const TAG: ListenerTag = ListenerTag(1);
const MAX_PDU: usize = 4 * 1024 * 1024;

/// Echoes every PDU twice: once at once, once deferred to the end of the loop turn.
struct Echo {
    closes: mpsc::Sender<String>,
}

impl Handler for Echo {
    type ConnData = ();

    fn on_pdu(&mut self, ctx: &mut Ctx<()>, conn: ConnHandle, pdu: Pdu) {
        ctx.send_pdu(conn, &pdu);
        ctx.send_pdu_deferred(conn, &pdu);
    }

    fn on_close(&mut self, _: &mut Ctx<()>, _: ConnHandle, _: (), reason: CloseReason) {
        let _ = self.closes.send(reason.to_string());
    }
}

struct Server {
    addr: SocketAddr,
    closes: mpsc::Receiver<String>,
    reload: std::sync::Arc<std::sync::atomic::AtomicBool>,
    _handle: netlib::LoopHandle,
}

fn server(transport: &Transport) -> Server {
    netlib::logging::init_for_tests();
    let (tx, closes) = mpsc::channel();
    let mut event_loop = EventLoop::new(Echo { closes: tx }).unwrap();
    let addr = event_loop
        .listen_all_with(
            &["127.0.0.1".to_owned()],
            0,
            TAG,
            ConnOptions::pdu(),
            None,
            transport,
        )
        .unwrap()[0];
    let reload = event_loop.tls_reload_flag();
    Server {
        addr,
        closes,
        reload,
        _handle: event_loop.spawn("transport-echo").unwrap(),
    }
}

fn connect(addr: SocketAddr, pki: Option<&Pki>, ws: bool) -> Blocking<TcpStream> {
    let socket = TcpStream::connect(addr).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let tls = pki.map(|pki| {
        let config = client_config(Some(&pki.ca()), None).unwrap();
        (config, ServerName::try_from("127.0.0.1").unwrap())
    });
    let ws = ws.then(|| WsClient {
        host: addr.to_string(),
        path: "/ws".into(),
        max_message: MAX_PDU,
    });
    Blocking::client(socket, tls, ws).unwrap()
}

fn read_pdu(stream: &mut impl Read, buf: &mut Vec<u8>) -> Pdu {
    let mut chunk = [0u8; 65536];
    loop {
        if let Some((pdu, used)) = Pdu::decode(buf, usize::MAX).unwrap() {
            buf.drain(..used);
            return pdu;
        }
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "server closed the connection");
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn pdu(seq: u16, len: usize) -> Pdu {
    let body: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    Pdu::from_body(CommandId::OtherHeartbeat, seq, body)
}

fn echo_over(transport: &Transport, pki: Option<&Pki>, ws: bool) {
    let server = server(transport);
    let mut client = connect(server.addr, pki, ws);
    let mut buf = Vec::new();
    let sizes = [0, 1, 100, 70_000, 1_500_000, 7];
    for (seq, len) in sizes.iter().enumerate() {
        let sent = pdu(seq as u16, *len);
        client.write_all(&sent.encode()).unwrap();
    }
    for (seq, len) in sizes.iter().enumerate() {
        for _ in 0..2 {
            let got = read_pdu(&mut client, &mut buf);
            assert_eq!(got.header.seq_num, seq as u16);
            assert_eq!(got.body, pdu(seq as u16, *len).body);
        }
    }
}

#[test]
fn pdus_echo_over_tls() {
    let pki = Pki::new("echo-tls");
    echo_over(
        &Transport::tls(pki.server_files()).unwrap(),
        Some(&pki),
        false,
    );
}

#[test]
fn pdus_echo_over_websocket() {
    echo_over(
        &Transport::plain().with_websocket("/ws", MAX_PDU),
        None,
        true,
    );
}

#[test]
fn pdus_echo_over_websocket_over_tls() {
    let pki = Pki::new("echo-wss");
    let transport = Transport::tls(pki.server_files())
        .unwrap()
        .with_websocket("/ws", MAX_PDU);
    echo_over(&transport, Some(&pki), true);
}

fn closed_by_server(stream: &mut TcpStream) -> bool {
    common::closed_by_server(stream, Duration::from_secs(15))
}

#[test]
fn plain_pdus_on_a_tls_port_close_that_connection_only() {
    let pki = Pki::new("garbage");
    let server = server(&Transport::tls(pki.server_files()).unwrap());
    let mut good = connect(server.addr, Some(&pki), false);
    let mut raw = TcpStream::connect(server.addr).unwrap();
    raw.write_all(&pdu(1, 10).encode()).unwrap();
    assert!(closed_by_server(&mut raw));
    let reason = server.closes.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(reason.contains("tls"), "{reason}");
    // The TLS client on the same listener is untouched.
    good.write_all(&pdu(2, 10).encode()).unwrap();
    assert_eq!(read_pdu(&mut good, &mut Vec::new()).header.seq_num, 2);
}

#[test]
fn a_handshake_that_never_finishes_is_cut_at_its_deadline() {
    let pki = Pki::new("slow");
    let transport = Transport::tls(pki.server_files())
        .unwrap()
        .with_websocket("/ws", MAX_PDU)
        .with_handshake_timeout(Duration::from_secs(1));
    let server = server(&transport);
    let mut silent = TcpStream::connect(server.addr).unwrap();
    let started = std::time::Instant::now();
    assert!(closed_by_server(&mut silent));
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(1), "{waited:?}");
    let reason = server.closes.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(reason, "idle timeout");
    // A TLS handshake done but no upgrade request: cut too.
    let config = client_config(Some(&pki.ca()), None).unwrap();
    let socket = TcpStream::connect(server.addr).unwrap();
    let mut tls_only = Blocking::client(
        socket.try_clone().unwrap(),
        Some((config, ServerName::try_from("127.0.0.1").unwrap())),
        None,
    )
    .unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(tls_only.read(&mut buf).unwrap_or(0), 0);
}

#[test]
fn a_websocket_message_over_the_limit_closes_the_connection() {
    let server = server(&Transport::plain().with_websocket("/ws", 1024));
    let mut client = connect(server.addr, None, true);
    let mut buf = Vec::new();
    client.write_all(&pdu(1, 100).encode()).unwrap();
    assert_eq!(read_pdu(&mut client, &mut buf).header.seq_num, 1);
    client.write_all(&pdu(2, 2000).encode()).unwrap();
    let reason = server.closes.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(reason.contains("websocket"), "{reason}");
}

#[test]
fn a_reloaded_certificate_serves_new_connections_and_keeps_old_ones() {
    let old = Pki::new("reload-old");
    let server = server(&Transport::tls(old.server_files()).unwrap());
    let mut before = connect(server.addr, Some(&old), false);
    let mut buf = Vec::new();
    before.write_all(&pdu(1, 10).encode()).unwrap();
    assert_eq!(read_pdu(&mut before, &mut buf).header.seq_num, 1);
    let renewed = Pki::new("reload-new");
    renewed.install_server_files_into(&old.dir);
    server
        .reload
        .store(true, std::sync::atomic::Ordering::Relaxed);
    // The reload happens at the loop's next 1-s tick.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let mut probe = connect(server.addr, Some(&renewed), false);
        probe
            .get_ref()
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let trusted = probe.write_all(&pdu(9, 1).encode()).is_ok()
            && probe.read(&mut [0u8; 1]).is_ok_and(|n| n == 1);
        if trusted {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "new certificate never served"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The connection made before the reload goes on with its session.
    before.write_all(&pdu(2, 10).encode()).unwrap();
    assert_eq!(read_pdu(&mut before, &mut buf).header.seq_num, 1);
    assert_eq!(read_pdu(&mut before, &mut buf).header.seq_num, 2);
}

/// A client loop: one connection over a [`DialTransport`] that sends PDUs at once on connect
/// (before its handshakes can have finished) and reports the sequence numbers echoed back.
struct Dialer {
    target: SocketAddr,
    transport: DialTransport,
    sent: u16,
    echoes: mpsc::Sender<Result<u16, String>>,
}

impl Dialer {
    fn start(&mut self, ctx: &mut Ctx<()>) {
        if let Err(e) = ctx.connect_over(self.target, &self.transport, ConnOptions::pdu(), ()) {
            let _ = self.echoes.send(Err(e.to_string()));
        }
    }
}

impl Handler for Dialer {
    type ConnData = ();

    fn on_connect(&mut self, ctx: &mut Ctx<()>, conn: ConnHandle) {
        for seq in 0..self.sent {
            ctx.send_pdu(conn, &pdu(seq, 100 * usize::from(seq)));
        }
    }

    fn on_pdu(&mut self, _: &mut Ctx<()>, _: ConnHandle, pdu: Pdu) {
        let _ = self.echoes.send(Ok(pdu.header.seq_num));
    }

    fn on_close(&mut self, _: &mut Ctx<()>, _: ConnHandle, _: (), reason: CloseReason) {
        let _ = self.echoes.send(Err(reason.to_string()));
    }
}

/// Dials `server` over `transport`, sends three PDUs and returns what came back before the
/// first error (or six echoes).
fn dial_echo(server: &Server, transport: DialTransport) -> Vec<Result<u16, String>> {
    let (tx, rx) = mpsc::channel();
    let mut event_loop = EventLoop::new(Dialer {
        target: server.addr,
        transport,
        sent: 3,
        echoes: tx,
    })
    .unwrap();
    let (handler, ctx) = event_loop.parts_mut();
    handler.start(ctx);
    let _handle = event_loop.spawn("transport-dialer").unwrap();
    let mut got = Vec::new();
    while got.len() < 6 {
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(seq)) => got.push(Ok(seq)),
            Ok(Err(e)) => {
                got.push(Err(e));
                break;
            }
            Err(e) => panic!("no echo: {e}"),
        }
    }
    got
}

#[test]
fn outgoing_connections_speak_every_transport() {
    let pki = Pki::new("dial");
    let cases = [
        (Transport::plain(), DialTransport::plain()),
        (
            Transport::tls(pki.server_files()).unwrap(),
            DialTransport::tls(Some(&pki.ca()), None).unwrap(),
        ),
        (
            Transport::plain().with_websocket("/ws", MAX_PDU),
            DialTransport::plain().with_websocket("/ws", MAX_PDU),
        ),
        (
            Transport::tls(pki.server_files())
                .unwrap()
                .with_websocket("/ws", MAX_PDU),
            DialTransport::tls(Some(&pki.ca()), Some("localhost"))
                .unwrap()
                .with_websocket("/ws", MAX_PDU),
        ),
    ];
    for (listener, dial) in cases {
        let name = dial.name();
        let server = server(&listener);
        let got = dial_echo(&server, dial);
        // Each PDU comes back twice (at once and deferred), in order.
        let expected: Vec<Result<u16, String>> = [0, 0, 1, 1, 2, 2].map(Ok).to_vec();
        assert_eq!(got, expected, "{name}");
    }
}

#[test]
fn an_outgoing_connection_refuses_an_untrusted_certificate() {
    let server_pki = Pki::new("dial-server");
    let other = Pki::new("dial-other");
    let server = server(&Transport::tls(server_pki.server_files()).unwrap());
    let got = dial_echo(
        &server,
        DialTransport::tls(Some(&other.ca()), None).unwrap(),
    );
    assert_eq!(got.len(), 1, "{got:?}");
    let Err(reason) = &got[0] else {
        panic!("echoed over an untrusted certificate: {got:?}");
    };
    assert!(
        reason.contains("tls") || reason.contains("certificate"),
        "{reason}"
    );
}
