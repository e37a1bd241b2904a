//! push_server sessions over real TCP: push requests, per-token results, the pushes handed to
//! the delivery side, heartbeats and bad input (BEHAVIOUR §10, PROTOCOL §11.1).

#![allow(clippy::unwrap_used)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use netlib::Conf;
use push_server::{Config, Provider, Push, PushSink, Server, ServerHandle};
use teamtalk_proto::pb::base_define::{PushResult, UserTokenInfo};
use teamtalk_proto::pb::server::{ImPushToUserReq, ImPushToUserRsp};
use teamtalk_proto::{CommandId, Pdu, PduHeader};

const IOS_TOKEN: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
const DATA: &str = "{\n\t\"from_id\": 12,\n\t\"msg_type\": 1 \n} \n";

/// Takes the pushes of both providers.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Push>>>);

impl PushSink for Capture {
    fn serves(&self, _provider: Provider) -> bool {
        true
    }

    fn submit(&mut self, push: Push) {
        self.0.lock().unwrap().push(push);
    }
}

fn start() -> (ServerHandle, Capture) {
    start_with("")
}

/// A server with `extra` conf lines after the test settings.
fn start_with(extra: &str) -> (ServerHandle, Capture) {
    netlib::logging::init_for_tests();
    let conf = Conf::parse(&format!(
        "ListenIP=127.0.0.1\nListenPort=0\nCertPath=/nonexistent/cert.pem\n\
         KeyPath=/nonexistent/key.pem\nKeyPassword=x\nSandBox=1\n{extra}",
    ));
    let capture = Capture::default();
    let server =
        Server::bind_with_sink(Config::from_conf(&conf).unwrap(), Box::new(capture.clone()))
            .unwrap()
            .spawn()
            .unwrap();
    (server, capture)
}

struct Session {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Session {
    fn connect(addr: SocketAddr) -> Self {
        Self::with_stream(TcpStream::connect(addr).unwrap())
    }

    /// A session whose source address is `local_ip` (any 127.x address works on Linux).
    fn connect_from(local_ip: &str, addr: SocketAddr) -> Self {
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        let local: SocketAddr = format!("{local_ip}:0").parse().unwrap();
        socket.bind(&local.into()).unwrap();
        socket.connect(&addr.into()).unwrap();
        Self::with_stream(socket.into())
    }

    fn with_stream(stream: TcpStream) -> Self {
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        Self {
            stream,
            buf: Vec::new(),
        }
    }

    fn send(&mut self, pdu: &Pdu) {
        self.stream.write_all(&pdu.encode()).unwrap();
    }

    fn recv_raw(&mut self) -> Vec<u8> {
        loop {
            if self.buf.len() >= 4 {
                let len = u32::from_be_bytes(self.buf[..4].try_into().unwrap()) as usize;
                if self.buf.len() >= len {
                    return self.buf.drain(..len).collect();
                }
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).unwrap();
            assert!(n > 0, "session closed while waiting");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn push(&mut self, tokens: Vec<UserTokenInfo>) -> (PduHeader, Vec<PushResult>) {
        let req = ImPushToUserReq {
            flash: "张三:你好".into(),
            data: DATA.into(),
            user_token_list: tokens,
        };
        self.send(&Pdu::new(CommandId::OtherPushToUserReq, 0, &req));
        let raw = self.recv_raw();
        let (pdu, _) = Pdu::decode(&raw, usize::MAX).unwrap().unwrap();
        let rsp: ImPushToUserRsp = pdu.parse().unwrap();
        (pdu.header, rsp.push_result_list)
    }

    fn expect_closed(&mut self) {
        let mut chunk = [0u8; 64];
        match self.stream.read(&mut chunk) {
            Ok(0) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            other => panic!("expected close, got {other:?}"),
        }
    }

    fn expect_alive(&mut self) {
        let hb = Pdu::empty(CommandId::OtherHeartbeat, 99);
        self.send(&hb);
        assert_eq!(self.recv_raw(), hb.encode());
    }
}

fn token(
    user_id: u32,
    user_type: i32,
    token: &str,
    push_count: u32,
    push_type: u32,
) -> UserTokenInfo {
    UserTokenInfo {
        user_id,
        user_type,
        token: token.into(),
        push_count,
        push_type,
    }
}

#[test]
fn ios_and_android_tokens_are_routed_and_others_refused() {
    let (server, capture) = start();
    let mut session = Session::connect(server.local_addrs()[0]);
    let (header, results) = session.push(vec![
        token(1, 0x11, IOS_TOKEN, 5, 1),
        token(2, 0x12, "fcm:token-1", 5, 1),
        token(3, 0x11, "abcd", 5, 1),
        token(4, 0x11, &IOS_TOKEN.to_uppercase(), 0, 2),
        token(5, 0x01, "pc-token", 1, 1),
        token(6, 0x12, "", 1, 1),
    ]);
    assert_eq!(
        (
            header.version,
            header.flag,
            header.service_id,
            header.command_id,
            header.seq_num,
            header.reserved
        ),
        (1, 0, 7, 0x0710, 0, 0)
    );
    let codes: Vec<(String, u32)> = results
        .into_iter()
        .map(|r| (r.user_token, r.result_code))
        .collect();
    assert_eq!(
        codes,
        [
            (IOS_TOKEN.to_owned(), 0),
            ("fcm:token-1".to_owned(), 0),
            ("abcd".to_owned(), 1),
            (IOS_TOKEN.to_uppercase(), 0),
            ("pc-token".to_owned(), 1),
            (String::new(), 1),
        ]
    );
    let pushes = capture.0.lock().unwrap().clone();
    let summary: Vec<(Provider, u32, &str, u32, bool)> = pushes
        .iter()
        .map(|p| (p.provider, p.user_id, p.token.as_str(), p.badge, p.silent))
        .collect();
    let upper = IOS_TOKEN.to_uppercase();
    assert_eq!(
        summary,
        [
            (Provider::Apns, 1, IOS_TOKEN, 5, false),
            (Provider::Fcm, 2, "fcm:token-1", 5, false),
            (Provider::Apns, 4, upper.as_str(), 0, true),
        ]
    );
    assert!(
        pushes
            .iter()
            .all(|p| &*p.flash == "张三:你好" && &*p.data == DATA)
    );
    assert_eq!(server.stats().unroutable, 3);
    server.shutdown().unwrap();
}

#[test]
fn heartbeats_are_echoed_byte_for_byte() {
    let (server, _) = start();
    let mut session = Session::connect(server.local_addrs()[0]);
    let hb = Pdu {
        header: PduHeader {
            length: 16,
            version: 7,
            flag: 1,
            service_id: 7,
            command_id: 0x0701,
            seq_num: 3,
            reserved: 9,
        },
        body: Vec::new(),
    };
    session.send(&hb);
    assert_eq!(session.recv_raw(), hb.encode());
    server.shutdown().unwrap();
}

#[test]
fn unknown_commands_and_empty_requests_are_ignored() {
    let (server, capture) = start();
    let mut session = Session::connect(server.local_addrs()[0]);
    // The original closed the session here (KNOWN_DEFECTS D-PUSH-6).
    session.send(&Pdu::empty(CommandId::OtherGetDeviceTokenReq, 1));
    session.send(&Pdu::from_body(
        CommandId::OtherPushToUserRsp,
        2,
        vec![0x0a, 0x00],
    ));
    // A bare 16-byte push request never reached the original's parser.
    session.send(&Pdu::empty(CommandId::OtherPushToUserReq, 3));
    session.expect_alive();
    assert!(capture.0.lock().unwrap().is_empty());
    server.shutdown().unwrap();
}

#[test]
fn bad_requests_and_framing_errors_close_only_their_session() {
    let (server, capture) = start();
    let mut bystander = Session::connect(server.local_addrs()[0]);
    let mut garbage = Session::connect(server.local_addrs()[0]);
    garbage.send(&Pdu::from_body(
        CommandId::OtherPushToUserReq,
        1,
        vec![0xff, 0xff],
    ));
    garbage.expect_closed();
    let mut short = Session::connect(server.local_addrs()[0]);
    short
        .stream
        .write_all(&[0, 0, 0, 4, 0, 1, 0, 0, 0, 7, 7, 1, 0, 0, 0, 0])
        .unwrap();
    short.expect_closed();
    bystander.expect_alive();
    assert!(capture.0.lock().unwrap().is_empty());
    server.shutdown().unwrap();
}

#[test]
fn session_from_outside_the_allow_list_is_closed_and_pushes_nothing() {
    let (server, capture) = start_with("AllowedPeerIPs=127.0.0.1\n");
    let addr = server.local_addrs()[0];

    let mut stranger = Session::connect_from("127.0.0.2", addr);
    let req = ImPushToUserReq {
        flash: "x".into(),
        data: DATA.into(),
        user_token_list: vec![token(1, 0x11, IOS_TOKEN, 1, 1)],
    };
    stranger.send(&Pdu::new(CommandId::OtherPushToUserReq, 0, &req));
    stranger.expect_closed();

    let mut allowed = Session::connect_from("127.0.0.1", addr);
    let (_, results) = allowed.push(vec![token(2, 0x11, IOS_TOKEN, 1, 1)]);
    assert_eq!(results.len(), 1);
    // Only the allowed session's push reached the sender.
    assert_eq!(capture.0.lock().unwrap().len(), 1);
    server.shutdown().unwrap();
}

#[test]
fn without_the_key_loopback_sessions_are_served() {
    let (server, _) = start();
    let mut session = Session::connect_from("127.0.0.2", server.local_addrs()[0]);
    session.expect_alive();
    server.shutdown().unwrap();
}

#[test]
fn metrics_show_the_open_sessions_and_the_process() {
    let (server, capture) = start_with("MetricsPort=0\n");
    let m = server.metrics_addr().unwrap();
    let scrape = || {
        let (status, body) = netlib::metrics::scrape(m, "/metrics").unwrap();
        assert_eq!(status, 200);
        body
    };
    let sessions = |body: &str| netlib::metrics::sample(body, "teamtalk_push_sessions");
    assert_eq!(sessions(&scrape()), Some(0.0));
    let mut s = Session::connect(server.local_addrs()[0]);
    let (_, results) = s.push(vec![token(5, 0x11, IOS_TOKEN, 1, 1)]);
    assert_eq!(results.len(), 1);
    assert_eq!(capture.0.lock().unwrap().len(), 1);
    let body = scrape();
    assert_eq!(sessions(&body), Some(1.0));
    assert!(netlib::metrics::sample(&body, "process_open_fds").is_some_and(|n| n > 0.0));
    assert_eq!(netlib::metrics::scrape(m, "/readyz").unwrap().0, 200);
}
