//! msg_server's TLS, WebSocket and WebSocket-over-TLS client ports on a real cluster: the
//! same logins and messages as on the plain port, between clients on different transports
//! and msg_servers; an untrusted certificate and a wrong upgrade path fail the connect; bad
//! bytes on a new port close only that connection; an oversized WebSocket message is refused
//! at MaxClientPduLen like an oversized PDU.

#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use teamtalk_transport::test_pki::Pki;
use testkit::{TestCluster, closed_by_peer};
use tt_client::pb::base_define::{ClientType, UserStatType};
use tt_client::{ClientTransport, TlsOptions};

const WAIT: Duration = Duration::from_secs(15);
const MAX_CLIENT_PDU_LEN: usize = 64 * 1024;

fn cluster(pki: &Pki) -> TestCluster {
    let cert = pki.server_files().cert.display().to_string();
    let key = pki.server_files().key.display().to_string();
    let limit = MAX_CLIENT_PDU_LEN.to_string();
    TestCluster::start_with_msg_conf(&[
        ("TlsListenPort", "0"),
        ("WsListenPort", "0"),
        ("WssListenPort", "0"),
        ("TlsCertFile", &cert),
        ("TlsKeyFile", &key),
        ("MaxClientPduLen", &limit),
    ])
}

fn tls(pki: &Pki) -> TlsOptions {
    TlsOptions {
        ca_file: Some(pki.ca()),
        server_name: None,
    }
}

fn transports(pki: &Pki) -> [ClientTransport; 3] {
    [
        ClientTransport {
            tls: Some(tls(pki)),
            ws_path: None,
        },
        ClientTransport {
            tls: None,
            ws_path: Some("/ws".into()),
        },
        ClientTransport {
            tls: Some(tls(pki)),
            ws_path: Some("/ws".into()),
        },
    ]
}

#[test]
fn users_on_every_transport_log_in_and_chat_across_msg_servers() {
    let pki = Pki::new("chat");
    let cluster = cluster(&pki);
    let users: Vec<_> = ["t", "w", "s"]
        .iter()
        .map(|tag| cluster.create_user(tag))
        .collect();
    let plain_user = cluster.create_user("p");
    let plain = cluster.login(1, &plain_user);
    let clients: Vec<_> = transports(&pki)
        .into_iter()
        .zip(&users)
        .enumerate()
        .map(|(i, (transport, user))| {
            let name = transport.name();
            let client = cluster.connect_over(i % 2, transport).unwrap();
            let info = client
                .login(
                    &user.name,
                    &user.password,
                    ClientType::Windows,
                    UserStatType::UserStatusOnline,
                )
                .unwrap_or_else(|e| panic!("login over {name} failed: {e}"));
            assert_eq!(info.user_id(), user.id);
            client
        })
        .collect();
    // Each client sends to the next one and to the plain client; every message arrives
    // once, with its text, whatever the two transports and msg_servers are.
    for (i, client) in clients.iter().enumerate() {
        let to = &users[(i + 1) % users.len()];
        let text = format!("over transport {i}");
        let ack = client.send_text(to.id, &text).unwrap();
        let got = clients[(i + 1) % clients.len()].next_message(WAIT).unwrap();
        assert_eq!((got.from, got.msg_id), (users[i].id, ack.msg_id));
        assert_eq!(got.text, text);
        client.send_text(plain_user.id, &text).unwrap();
        assert_eq!(plain.next_message(WAIT).unwrap().text, text);
    }
    // And back from the plain port to a WebSocket-over-TLS client.
    plain.send_text(users[2].id, "to wss").unwrap();
    assert_eq!(clients[2].next_message(WAIT).unwrap().text, "to wss");
}

#[test]
fn an_untrusted_certificate_or_a_wrong_path_fails_the_connect() {
    let pki = Pki::new("trust");
    let cluster = cluster(&pki);
    let other = Pki::new("trust-other");
    let untrusted = ClientTransport {
        tls: Some(tls(&other)),
        ws_path: None,
    };
    let err = cluster.connect_over(0, untrusted).unwrap_err();
    assert!(err.to_string().contains("certificate"), "{err}");
    let wrong_path = ClientTransport {
        tls: None,
        ws_path: Some("/nope".into()),
    };
    let err = cluster.connect_over(0, wrong_path).unwrap_err();
    assert!(err.to_string().contains("404"), "{err}");
    // The ports still serve the right clients.
    let user = cluster.create_user("ok");
    let [tls_transport, ..] = transports(&pki);
    let client = cluster.connect_over(0, tls_transport).unwrap();
    client
        .login(
            &user.name,
            &user.password,
            ClientType::Windows,
            UserStatType::UserStatusOnline,
        )
        .unwrap();
}

#[test]
fn bad_bytes_on_the_new_ports_close_only_that_connection() {
    let pki = Pki::new("garbage");
    let cluster = cluster(&pki);
    let user = cluster.create_user("g");
    let [_, ws_transport, _] = transports(&pki);
    let ws_client = cluster.connect_over(0, ws_transport).unwrap();
    ws_client
        .login(
            &user.name,
            &user.password,
            ClientType::Windows,
            UserStatType::UserStatusOnline,
        )
        .unwrap();
    // A plain PDU on the TLS port, HTTP that is no upgrade on the WebSocket port.
    let mut raw_tls = TcpStream::connect(cluster.msg_transport_addr(0, "tls")).unwrap();
    raw_tls
        .write_all(&[0, 0, 0, 16, 0, 1, 0, 7, 0, 1, 0, 0, 0, 0, 0, 0])
        .unwrap();
    raw_tls.set_read_timeout(Some(WAIT)).unwrap();
    assert!(closed_by_peer(&mut raw_tls));
    let mut raw_ws = TcpStream::connect(cluster.msg_transport_addr(0, "ws")).unwrap();
    raw_ws
        .write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    raw_ws.set_read_timeout(Some(WAIT)).unwrap();
    raw_ws.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    // The logged-in WebSocket client on the same msg_server goes on.
    let peer = cluster.create_user("h");
    let other = cluster.login(0, &peer);
    other.send_text(user.id, "still here").unwrap();
    assert_eq!(ws_client.next_message(WAIT).unwrap().text, "still here");
}

#[test]
fn a_websocket_message_over_max_client_pdu_len_closes_that_client() {
    let pki = Pki::new("oversize");
    let cluster = cluster(&pki);
    let [_, ws_transport, _] = transports(&pki);
    let client = cluster.connect_over(0, ws_transport).unwrap();
    let user = cluster.create_user("o");
    client
        .login(
            &user.name,
            &user.password,
            ClientType::Windows,
            UserStatType::UserStatusOnline,
        )
        .unwrap();
    // A text message body bigger than the limit: one WebSocket message over it.
    let big = "x".repeat(MAX_CLIENT_PDU_LEN + 1024);
    let result = client.send_text(user.id, &big);
    assert!(result.is_err(), "an oversized message was accepted");
    let deadline = std::time::Instant::now() + WAIT;
    while client.is_connected() {
        assert!(std::time::Instant::now() < deadline, "still connected");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Everybody else is unaffected.
    let other = cluster.create_user("q");
    cluster.login(0, &other);
}

#[test]
fn tt_finds_the_advertised_ports_through_login_server_and_uses_each_transport() {
    let pki = Pki::new("tt");
    let cluster = cluster(&pki);
    let alice = cluster.create_user("tta");
    let bob = cluster.create_user("ttb");
    let b = cluster.login(1, &bob);
    let ca = pki.ca().display().to_string();
    let id = bob.id.to_string();
    for flags in [&["--tls"][..], &["--ws"], &["--tls", "--ws"]] {
        let text = format!("via tt {}", flags.join(" "));
        let out = std::process::Command::new(testkit::workspace_binary("tt_client", "tt"))
            .args(["--login-url", &cluster.login_http_url(), "--ca", &ca])
            .args(["--user", &alice.name, "--password", &alice.password])
            .args(flags)
            .args(["send", "--to", &id, &text])
            .env_remove("TT_USER")
            .env_remove("TT_PASSWORD")
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{flags:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(b.next_message(WAIT).unwrap().text, text);
    }
}
