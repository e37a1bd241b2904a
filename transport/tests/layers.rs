//! Both sides' layers run against each other in memory: PDU bytes cross every transport
//! unchanged, and bad input on each layer ends in a clear error.
#![allow(clippy::unwrap_used)]

use teamtalk_transport::rustls::pki_types::ServerName;
use teamtalk_transport::test_pki::Pki;
use teamtalk_transport::{
    LayerError, Layers, Opened, WsClient, WsServer, client_config, server_config,
};

const MAX: usize = 64 * 1024;

struct Pair {
    client: Layers,
    server: Layers,
    /// Bytes in flight client → server and server → client.
    to_server: Vec<u8>,
    to_client: Vec<u8>,
    /// PDU bytes each side has received.
    at_server: Vec<u8>,
    at_client: Vec<u8>,
}

impl Pair {
    fn new(tls: bool, ws: bool) -> Self {
        let pki = Pki::new(&format!("{tls}{ws}"));
        let server_tls = tls.then(|| server_config(&pki.server_files()).unwrap());
        let ws_server = WsServer {
            path: "/ws".into(),
            max_message: MAX,
        };
        let server = Layers::server(server_tls.as_ref(), ws.then_some(&ws_server)).unwrap();
        let client_tls = tls.then(|| {
            let config = client_config(Some(&pki.ca()), None).unwrap();
            (config, ServerName::try_from("localhost").unwrap())
        });
        let ws_client = ws.then(|| WsClient {
            host: "localhost:8000".into(),
            path: "/ws".into(),
            max_message: MAX,
        });
        let mut first = Vec::new();
        let client = Layers::client(client_tls, ws_client, &mut first).unwrap();
        Self {
            client,
            server,
            to_server: first,
            to_client: Vec::new(),
            at_server: Vec::new(),
            at_client: Vec::new(),
        }
    }

    /// Moves bytes both ways until nothing is in flight.
    fn pump(&mut self) {
        for _ in 0..20 {
            if self.to_server.is_empty() && self.to_client.is_empty() {
                return;
            }
            let wire = std::mem::take(&mut self.to_server);
            let opened = self
                .server
                .open(&wire, &mut self.at_server, &mut self.to_client)
                .unwrap();
            assert_eq!(opened, Opened::Open);
            let wire = std::mem::take(&mut self.to_client);
            let opened = self
                .client
                .open(&wire, &mut self.at_client, &mut self.to_server)
                .unwrap();
            assert_eq!(opened, Opened::Open);
        }
        panic!("the layers never went quiet");
    }

    fn client_sends(&mut self, plain: &[u8]) {
        self.client.seal(plain, &mut self.to_server).unwrap();
    }

    fn server_sends(&mut self, plain: &[u8]) {
        self.server.seal(plain, &mut self.to_client).unwrap();
    }
}

fn exchange(tls: bool, ws: bool) {
    let mut pair = Pair::new(tls, ws);
    // Sent before any handshake finished: held, then delivered in order.
    pair.client_sends(b"hello ");
    pair.pump();
    assert!(pair.client.is_established() && pair.server.is_established());
    pair.client_sends(b"server");
    let big: Vec<u8> = (0..40_000u32).map(|i| i as u8).collect();
    pair.client_sends(&big);
    pair.server_sends(b"answer");
    pair.pump();
    let mut expected = b"hello server".to_vec();
    expected.extend_from_slice(&big);
    assert_eq!(pair.at_server, expected);
    assert_eq!(pair.at_client, b"answer");
}

#[test]
fn bytes_cross_tls_unchanged() {
    exchange(true, false);
}

#[test]
fn bytes_cross_websocket_unchanged() {
    exchange(false, true);
}

#[test]
fn bytes_cross_websocket_over_tls_unchanged() {
    exchange(true, true);
}

#[test]
fn plain_layers_pass_bytes_through() {
    exchange(false, false);
}

#[test]
fn bytes_split_anywhere_arrive_whole() {
    let mut pair = Pair::new(true, true);
    pair.pump();
    pair.client_sends(b"first");
    pair.client_sends(b"second");
    // One byte at a time: TLS records and WebSocket frames cut at every position.
    let wire = std::mem::take(&mut pair.to_server);
    for byte in wire.chunks(1) {
        pair.server
            .open(byte, &mut pair.at_server, &mut pair.to_client)
            .unwrap();
    }
    assert_eq!(pair.at_server, b"firstsecond");
}

#[test]
fn garbage_before_the_tls_handshake_is_refused_with_an_alert() {
    let pki = Pki::new("garbage");
    let config = server_config(&pki.server_files()).unwrap();
    let mut server = Layers::server(Some(&config), None).unwrap();
    let (mut plain, mut reply) = (Vec::new(), Vec::new());
    let err = server
        .open(b"GET / HTTP/1.1\r\n\r\n", &mut plain, &mut reply)
        .unwrap_err();
    assert!(matches!(err, LayerError::Tls(_)), "{err}");
    assert!(plain.is_empty());
    // A TLS alert record (content type 21).
    assert_eq!(reply.first(), Some(&21), "reply: {reply:?}");
    assert!(!server.is_established());
}

#[test]
fn a_client_that_does_not_trust_the_server_fails_the_handshake() {
    let server_pki = Pki::new("untrusted-server");
    let other = Pki::new("untrusted-other");
    let server_tls = server_config(&server_pki.server_files()).unwrap();
    let mut server = Layers::server(Some(&server_tls), None).unwrap();
    let config = client_config(Some(&other.ca()), None).unwrap();
    let mut to_server = Vec::new();
    let mut client = Layers::client(
        Some((config, ServerName::try_from("localhost").unwrap())),
        None,
        &mut to_server,
    )
    .unwrap();
    let (mut plain, mut to_client) = (Vec::new(), Vec::new());
    server.open(&to_server, &mut plain, &mut to_client).unwrap();
    let err = client
        .open(&to_client, &mut plain, &mut Vec::new())
        .unwrap_err();
    assert!(err.to_string().contains("certificate"), "{err}");
}

fn upgrade(request: &str) -> (Result<Opened, LayerError>, String) {
    let ws = WsServer {
        path: "/ws".into(),
        max_message: MAX,
    };
    let mut server = Layers::server(None, Some(&ws)).unwrap();
    let (mut plain, mut reply) = (Vec::new(), Vec::new());
    let result = server.open(request.as_bytes(), &mut plain, &mut reply);
    (result, String::from_utf8_lossy(&reply).into_owned())
}

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

#[test]
fn the_upgrade_answers_with_the_accept_key() {
    let (result, reply) = upgrade(&format!(
        "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ));
    assert_eq!(result.unwrap(), Opened::Open);
    assert!(reply.starts_with("HTTP/1.1 101 "), "{reply}");
    // RFC 6455's own example key and answer.
    assert!(reply.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
}

#[test]
fn bad_upgrade_requests_get_an_http_error() {
    let good = |path: &str, extra: &str| {
        format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             {extra}\r\n"
        )
    };
    let cases = [
        (
            good(
                "/other",
                &format!("Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n"),
            ),
            "404",
        ),
        (good("/ws", "Sec-WebSocket-Version: 13\r\n"), "400"),
        (
            good(
                "/ws",
                &format!("Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 8\r\n"),
            ),
            "426",
        ),
        (
            format!("GET /ws HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Key: {KEY}\r\n\r\n"),
            "400",
        ),
        (
            "POST /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n".to_owned(),
            "405",
        ),
        ("\x16\x03\x01 not http\r\n\r\n".to_owned(), "400"),
        (
            format!("GET /ws HTTP/1.1\r\nX: {}\r\n", "a".repeat(9000)),
            "431",
        ),
    ];
    for (request, status) in cases {
        let (result, reply) = upgrade(&request);
        assert!(
            matches!(result, Err(LayerError::Upgrade(_))),
            "{request:?}: {result:?}"
        );
        assert!(
            reply.starts_with(&format!("HTTP/1.1 {status} ")),
            "{request:?}: {reply}"
        );
    }
}

/// A client frame: FIN set, masked with a zero key (allowed; masking is what matters).
fn frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= 0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(payload);
    out
}

fn upgraded_server() -> Layers {
    let ws = WsServer {
        path: "/ws".into(),
        max_message: 1024,
    };
    let mut server = Layers::server(None, Some(&ws)).unwrap();
    let request = format!(
        "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    server
        .open(request.as_bytes(), &mut Vec::new(), &mut Vec::new())
        .unwrap();
    assert!(server.is_established());
    server
}

#[test]
fn fragmented_messages_and_pings_are_handled() {
    let mut server = upgraded_server();
    let mut wire = frame(0x2, false, b"frag");
    wire.extend(frame(0x9, true, b"are you there"));
    wire.extend(frame(0x0, true, b"mented"));
    let (mut plain, mut reply) = (Vec::new(), Vec::new());
    assert_eq!(
        server.open(&wire, &mut plain, &mut reply).unwrap(),
        Opened::Open
    );
    assert_eq!(plain, b"fragmented");
    // The pong: opcode 0xA, unmasked, same payload.
    assert_eq!(reply[0], 0x8a);
    assert_eq!(&reply[2..], b"are you there");
}

#[test]
fn text_oversized_and_unmasked_frames_close_the_connection() {
    let text = frame(0x1, true, b"hello");
    let oversized = frame(0x2, true, &[0u8; 2000]);
    let mut unmasked = frame(0x2, true, b"x");
    unmasked[1] &= 0x7f;
    unmasked.drain(2..6);
    for (wire, what) in [
        (text, "text"),
        (oversized, "oversized"),
        (unmasked, "unmasked"),
    ] {
        let mut server = upgraded_server();
        let (mut plain, mut reply) = (Vec::new(), Vec::new());
        let err = server.open(&wire, &mut plain, &mut reply).unwrap_err();
        assert!(plain.is_empty(), "{what}");
        // A close frame (opcode 8) tells the browser why.
        assert_eq!(reply.first(), Some(&0x88), "{what}: {err}");
    }
}

#[test]
fn a_close_frame_is_answered_and_ends_the_connection() {
    let mut server = upgraded_server();
    let (mut plain, mut reply) = (Vec::new(), Vec::new());
    let opened = server
        .open(
            &frame(0x8, true, &1000u16.to_be_bytes()),
            &mut plain,
            &mut reply,
        )
        .unwrap();
    assert_eq!(opened, Opened::PeerClosed);
    assert_eq!(reply.first(), Some(&0x88));
    let mut wire = Vec::new();
    assert!(server.seal(b"late", &mut wire).is_err());
}

#[test]
fn the_server_closes_politely() {
    let mut pair = Pair::new(true, true);
    pair.pump();
    let mut wire = Vec::new();
    pair.server.seal_close(&mut wire);
    let opened = pair
        .client
        .open(&wire, &mut pair.at_client, &mut pair.to_server)
        .unwrap();
    assert_eq!(opened, Opened::PeerClosed);
}

#[test]
fn missing_or_bad_pem_files_name_the_file() {
    let pki = Pki::new("badpem");
    let mut files = pki.server_files();
    files.key = pki.dir.join("missing.pem");
    let err = server_config(&files).unwrap_err();
    assert!(err.to_string().contains("missing.pem"), "{err}");
    std::fs::write(pki.dir.join("empty.pem"), "not pem").unwrap();
    files.key = pki.server_files().key;
    files.cert = pki.dir.join("empty.pem");
    let err = server_config(&files).unwrap_err();
    assert!(err.to_string().contains("no certificate"), "{err}");
}
