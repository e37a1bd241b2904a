//! The TLS and WebSocket layers (`teamtalk-transport`) under whatever a peer sends, fed in
//! pieces of a fuzzed size as a socket would deliver them. The first byte picks the stack and
//! the piece size:
//!
//! - 0: a WebSocket server (the upgrade request, then frames);
//! - 1: a TLS server (handshake records from the start);
//! - 2: a WebSocket-over-TLS server after a real TLS handshake: the input travels as TLS
//!   application data from an in-process client, so the WebSocket layer sees it decrypted;
//! - 3: a WebSocket client after its upgrade request: the input is the server's answer.
//!
//! Checks beyond "no panic": the PDU bytes a layer yields are never more than the bytes it was
//! fed (no layer invents data).

#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use teamtalk_transport::rustls::pki_types::ServerName;
use teamtalk_transport::rustls::{ClientConfig, ServerConfig};
use teamtalk_transport::test_pki::Pki;
use teamtalk_transport::{Layers, Opened, WsClient, WsServer, client_config, server_config};

/// Largest WebSocket message, as msg_server's default client PDU limit is large: a small one
/// here lets the fuzzer reach the limit.
const MAX_MESSAGE: usize = 64 * 1024;

struct Tls {
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
}

/// One PKI for the whole run: certificates are made once, not per input.
fn tls() -> &'static Tls {
    static TLS: OnceLock<Tls> = OnceLock::new();
    TLS.get_or_init(|| {
        let pki = Pki::new("fuzz");
        Tls {
            server: server_config(&pki.server_files()).expect("test PKI server config"),
            client: client_config(Some(&pki.ca()), None).expect("test PKI client config"),
        }
    })
}

fn ws_server() -> WsServer {
    WsServer {
        path: "/ws".into(),
        max_message: MAX_MESSAGE,
    }
}

/// Feeds `wire` to `layers` in pieces of `piece` bytes, as a connection does until the layers
/// fail or the peer closes; returns the PDU bytes that came out.
fn feed(layers: &mut Layers, wire: &[u8], piece: usize) -> Vec<u8> {
    let mut plain = Vec::new();
    let mut reply = Vec::new();
    for chunk in wire.chunks(piece) {
        match layers.open(chunk, &mut plain, &mut reply) {
            Ok(Opened::Open) => reply.clear(),
            Ok(Opened::PeerClosed) | Err(_) => break,
        }
    }
    plain
}

/// A client and a server TLS layer after a completed handshake (the server also speaks
/// WebSocket), with the client's layer to encrypt the input.
fn tls_pair() -> (Layers, Layers) {
    let tls = tls();
    let name = ServerName::try_from("localhost").expect("a valid name");
    let mut to_server = Vec::new();
    let mut client = Layers::client(Some((Arc::clone(&tls.client), name)), None, &mut to_server)
        .expect("client layers");
    let mut server =
        Layers::server(Some(&tls.server), Some(&ws_server())).expect("server layers");
    let (mut plain, mut to_client) = (Vec::new(), Vec::new());
    for _ in 0..8 {
        if to_server.is_empty() && to_client.is_empty() {
            break;
        }
        server
            .open(&std::mem::take(&mut to_server), &mut plain, &mut to_client)
            .expect("server handshake");
        client
            .open(&std::mem::take(&mut to_client), &mut plain, &mut to_server)
            .expect("client handshake");
    }
    assert!(client.is_established(), "the TLS handshake completes in memory");
    (client, server)
}

fuzz_target!(|data: &[u8]| {
    let Some((&head, input)) = data.split_first() else {
        return;
    };
    let piece = 1 + usize::from(head >> 2) * 37;
    match head & 3 {
        0 => {
            let mut server = Layers::server(None, Some(&ws_server())).expect("ws layers");
            let plain = feed(&mut server, input, piece);
            assert!(plain.len() <= input.len());
        }
        1 => {
            let mut server = Layers::server(Some(&tls().server), None).expect("tls layers");
            let plain = feed(&mut server, input, piece);
            assert!(plain.len() <= input.len());
        }
        2 => {
            let (mut client, mut server) = tls_pair();
            let mut wire = Vec::new();
            for chunk in input.chunks(piece) {
                if client.seal(chunk, &mut wire).is_err() {
                    return;
                }
            }
            let plain = feed(&mut server, &wire, piece);
            assert!(plain.len() <= input.len());
        }
        _ => {
            let options = WsClient {
                host: "localhost:8000".into(),
                path: "/ws".into(),
                max_message: MAX_MESSAGE,
            };
            let mut request = Vec::new();
            let mut client = Layers::client(None, Some(options), &mut request).expect("client");
            let plain = feed(&mut client, input, piece);
            assert!(plain.len() <= input.len());
        }
    }
});
