//! Discovery against a stub login_server that answers with the exact bytes of PROTOCOL §8.2.

#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use tt_client::{DiscoverError, discover, discover_with_timeout};

/// The success body of PROTOCOL §8.2 (jsoncpp StyledWriter layout).
const OK_BODY: &str = "{\n   \"backupIP\" : \"127.0.0.1\",\n   \"code\" : 0,\n   \
    \"discovery\" : \"http://127.0.0.1/api/discovery\",\n   \
    \"msfsBackup\" : \"http://127.0.0.1:8700/\",\n   \
    \"msfsPrior\" : \"http://127.0.0.1:8700/\",\n   \"msg\" : \"\",\n   \
    \"port\" : \"8000\",\n   \"priorIP\" : \"127.0.0.1\"\n}\n";

const NO_SERVER_BODY: &str = "{\n   \"code\" : 1,\n   \"msg\" : \"没有msg_server\"\n}\n";
const FULL_BODY: &str = "{\n   \"code\" : 2,\n   \"msg\" : \"负载过高\"\n}\n";

fn http_response(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nConnection:close\r\nContent-Length:{}\r\n\
         Content-Type:text/html;charset=utf-8\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Serves one connection: reads the request head, checks it, writes `answer` (if any), closes.
/// Returns the URL to use and a handle yielding the request text.
fn stub(answer: Option<Vec<u8>>) -> (String, JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/msg_server", listener.local_addr().unwrap());
    let handle = thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let request = read_head(&mut conn);
        if let Some(bytes) = answer {
            conn.write_all(&bytes).unwrap();
        }
        request
    });
    (url, handle)
}

fn read_head(conn: &mut TcpStream) -> String {
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if conn.read(&mut byte).unwrap() == 0 {
            break;
        }
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

#[test]
fn code_0_yields_the_msg_server_address() {
    let (url, server) = stub(Some(http_response(OK_BODY)));
    let info = discover(&url).unwrap();
    assert_eq!(info.prior_ip, "127.0.0.1");
    assert_eq!(info.backup_ip, "127.0.0.1");
    assert_eq!(info.port, 8000);
    assert_eq!(info.addr(), "127.0.0.1:8000");
    assert_eq!(info.msfs_prior, "http://127.0.0.1:8700/");
    assert_eq!(info.msfs_backup, "http://127.0.0.1:8700/");
    assert_eq!(info.discovery, "http://127.0.0.1/api/discovery");

    let request = server.join().unwrap();
    assert!(
        request.starts_with("GET /msg_server HTTP/1.1\r\n"),
        "{request}"
    );
    assert!(
        request.len() < 1024,
        "login_server drops requests over 1024 bytes"
    );
}

#[test]
fn code_1_is_no_msg_server() {
    let (url, server) = stub(Some(http_response(NO_SERVER_BODY)));
    let err = discover(&url).unwrap_err();
    assert!(matches!(err, DiscoverError::NoMsgServer { .. }), "{err:?}");
    assert!(err.to_string().contains("no msg_server"), "{err}");
    server.join().unwrap();
}

#[test]
fn code_2_is_msg_servers_full() {
    let (url, server) = stub(Some(http_response(FULL_BODY)));
    let err = discover(&url).unwrap_err();
    assert!(
        matches!(err, DiscoverError::MsgServersFull { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("full"), "{err}");
    server.join().unwrap();
}

#[test]
fn garbage_is_a_malformed_response() {
    let (url, server) = stub(Some(b"\x00\x01garbage\r\n\r\n{{{".to_vec()));
    let err = discover(&url).unwrap_err();
    assert!(matches!(err, DiscoverError::Malformed { .. }), "{err:?}");
    server.join().unwrap();

    let (url, server) = stub(Some(http_response("this is not json")));
    let err = discover(&url).unwrap_err();
    assert!(matches!(err, DiscoverError::Malformed { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("malformed response from login_server at http://")
    );
    server.join().unwrap();
}

#[test]
fn closed_connection_without_answer_is_an_error() {
    let (url, server) = stub(None);
    let err = discover(&url).unwrap_err();
    assert!(
        matches!(
            err,
            DiscoverError::Malformed { .. } | DiscoverError::Io { .. }
        ),
        "{err:?}"
    );
    server.join().unwrap();
}

#[test]
fn nothing_listening_is_unreachable() {
    // Bind then drop to get a port that is (very likely) closed.
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("http://{addr}/msg_server");
    let err = discover_with_timeout(&url, Duration::from_secs(2)).unwrap_err();
    assert!(matches!(err, DiscoverError::Unreachable { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("login_server unreachable at {url}: ")),
        "{text}"
    );
}

#[test]
fn a_response_split_across_writes_is_reassembled() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/msg_server", listener.local_addr().unwrap());
    let server = thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        read_head(&mut conn);
        conn.set_nodelay(true).unwrap();
        for piece in http_response(OK_BODY).chunks(7) {
            conn.write_all(piece).unwrap();
            conn.flush().unwrap();
        }
        // Keep the connection open: the client must stop at Content-Length, not wait for EOF.
        let mut rest = Vec::new();
        let _ = conn.read_to_end(&mut rest);
    });
    let info = discover(&url).unwrap();
    assert_eq!(info.port, 8000);
    server.join().unwrap();
}
