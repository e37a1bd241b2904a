//! Listener allow-lists against real sockets: a peer outside the list is closed at accept,
//! before the handler hears of it; an allowed one is served. On Linux all of 127.0.0.0/8 is
//! loopback, so a client socket bound to 127.0.0.2 connects from a second address.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use netlib::{ConnHandle, ConnOptions, Ctx, EventLoop, Handler, ListenerTag, PeerFilter};
use socket2::{Domain, Socket, Type};
use teamtalk_proto::{CommandId, Pdu};

const TAG: ListenerTag = ListenerTag(7);
const WAIT: Duration = Duration::from_secs(10);

/// Echoes PDUs and reports every accepted peer.
struct Echo {
    accepted: mpsc::Sender<IpAddr>,
}

impl Handler for Echo {
    type ConnData = ();

    fn on_accept(&mut self, ctx: &mut Ctx<()>, conn: ConnHandle, _: ListenerTag) {
        if let Some(peer) = ctx.conn(conn).and_then(|c| c.peer()) {
            let _ = self.accepted.send(peer.ip());
        }
    }

    fn on_pdu(&mut self, ctx: &mut Ctx<()>, conn: ConnHandle, pdu: Pdu) {
        ctx.send_pdu(conn, &pdu);
    }
}

fn server(filter: &PeerFilter) -> (SocketAddr, netlib::LoopHandle, mpsc::Receiver<IpAddr>) {
    netlib::logging::init_for_tests();
    let (tx, rx) = mpsc::channel();
    let mut event_loop = EventLoop::new(Echo { accepted: tx }).unwrap();
    let addr = event_loop
        .listen_filtered("127.0.0.1", 0, TAG, ConnOptions::pdu(), filter)
        .unwrap();
    (addr, event_loop.spawn("filtered").unwrap(), rx)
}

/// A connection to `to` from source address `from`.
fn connect_from(from: &str, to: SocketAddr) -> TcpStream {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    let local: SocketAddr = format!("{from}:0").parse().unwrap();
    socket.bind(&local.into()).unwrap();
    socket.connect(&to.into()).unwrap();
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream
}

/// Whether the server ends the connection (EOF or reset) without sending anything.
fn closed_without_answer(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Ok(0) => true,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        Ok(_) => false,
    }
}

fn echoes(stream: &mut TcpStream) -> bool {
    let pdu = Pdu::empty(CommandId::OtherHeartbeat, 9);
    let mut bytes = Vec::new();
    pdu.encode_into(&mut bytes);
    stream.write_all(&bytes).unwrap();
    let mut got = vec![0u8; bytes.len()];
    stream.read_exact(&mut got).is_ok() && got == bytes
}

#[test]
fn peer_outside_the_list_is_closed_before_the_handler_sees_it() {
    let filter = PeerFilter::parse_list("AllowedPeerIPs", "127.0.0.1").unwrap();
    let (addr, server, accepted) = server(&filter);

    // Several refused peers in a row (the log line is rate-limited, the closes are not).
    for _ in 0..3 {
        let mut refused = connect_from("127.0.0.2", addr);
        // Whatever it sends is never read.
        let _ = refused.write_all(b"\0\0\0\x10\0\x01\0\x07\0\x01\0\0\0\0\0\0");
        assert!(closed_without_answer(&mut refused));
    }

    let mut allowed = connect_from("127.0.0.1", addr);
    assert!(echoes(&mut allowed));
    // The handler heard of the allowed peer only.
    assert_eq!(
        accepted.recv_timeout(WAIT).unwrap(),
        "127.0.0.1".parse::<IpAddr>().unwrap()
    );
    assert!(accepted.try_recv().is_err());
    server.shutdown().unwrap();
}

#[test]
fn cidr_range_admits_every_address_inside_it() {
    let filter = PeerFilter::parse_list("AllowedPeerIPs", "127.0.0.0/30").unwrap();
    let (addr, server, accepted) = server(&filter);
    for from in ["127.0.0.1", "127.0.0.2", "127.0.0.3"] {
        let mut conn = connect_from(from, addr);
        assert!(echoes(&mut conn), "{from}");
        assert_eq!(accepted.recv_timeout(WAIT).unwrap().to_string(), from);
    }
    let mut outside = connect_from("127.0.0.4", addr);
    assert!(closed_without_answer(&mut outside));
    server.shutdown().unwrap();
}

#[test]
fn default_filter_serves_loopback_peers() {
    let (addr, server, accepted) = server(&PeerFilter::default());
    for from in ["127.0.0.1", "127.0.0.2"] {
        let mut conn = connect_from(from, addr);
        assert!(echoes(&mut conn), "{from}");
        assert_eq!(accepted.recv_timeout(WAIT).unwrap().to_string(), from);
    }
    server.shutdown().unwrap();
}
