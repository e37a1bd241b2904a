//! msfs over real HTTP: uploads, downloads, limits, path safety and the counter write-back
//! (PROTOCOL §10, STORAGE §5).

#![allow(clippy::unwrap_used)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use msfs::{Config, Server, ServerHandle};
use netlib::Conf;

const BOUNDARY: &str = "WebKitFormBoundary8riBH6S4ZsoT69so";
static NEXT: AtomicUsize = AtomicUsize::new(0);

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("msfs-test-{}-{name}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn conf_text(base: &Path) -> String {
    format!(
        "ListenIP=127.0.0.1\t\t# can use multiple ip\nListenPort=0\n# storage root\n\
         BaseDir={}\nFileCnt=7\nFilesPerDir=2\nGetThreadCount=2\t# download workers\n\
         PostThreadCount=1\n",
        base.display()
    )
}

fn start(dir: &TempDir) -> ServerHandle {
    netlib::logging::init_for_tests();
    let config = Config::from_conf(&Conf::parse(&conf_text(&dir.0.join("data")))).unwrap();
    Server::bind(config).unwrap().spawn().unwrap()
}

fn exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let _ = stream.write_all(request);
    let mut out = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return out,
            Err(e) => panic!("reading the answer: {e}"),
        }
    }
}

fn upload_request(filename: &str, data: &[u8], host: &str) -> Vec<u8> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n\
         Content-Type:image/jpg\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n\r\n").as_bytes());
    let mut request = format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: multipart/form-data; \
         boundary={BOUNDARY}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    request
}

fn json_answer(json: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nConnection:close\r\nContent-Length:{}\r\n\
         Content-Type:text/html;charset=utf-8\r\n\r\n{json}",
        json.len()
    )
    .into_bytes()
}

/// Uploads and returns the stored path, checking the answer's exact form.
fn upload(addr: SocketAddr, filename: &str, data: &[u8]) -> String {
    let answer = exchange(addr, &upload_request(filename, data, "pics.example:8700"));
    let text = String::from_utf8(answer).unwrap();
    let json = text.split("\r\n\r\n").nth(1).unwrap();
    let path = json
        .strip_prefix(r#"{"error_code":0,"error_msg": "成功","path":""#)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("unexpected answer {text}"))
        .to_owned();
    let expected = format!(
        r#"{{"error_code":0,"error_msg": "成功","path":"{path}","url":"http://{}/{path}"}}"#,
        "pics.example:8700"
    );
    assert_eq!(text.into_bytes(), json_answer(&expected));
    path
}

fn get(addr: SocketAddr, target: &str) -> Vec<u8> {
    exchange(
        addr,
        format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
    )
}

fn file_answer(content_type: &str, data: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\nConnection:close\r\nContent-Length:{}\r\n\
         Content-Type:{content_type}\r\n\r\n",
        data.len()
    )
    .into_bytes();
    out.extend_from_slice(data);
    out
}

const NOT_FOUND: &[u8] = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\
    Content-Type: text/html;charset=utf-8\r\n\r\n";

#[test]
fn uploaded_image_downloads_with_its_image_type() {
    let dir = TempDir::new("image");
    let server = start(&dir);
    let addr = server.local_addrs()[0];
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    let path = upload(addr, "shot.jpg", &data);
    // FileCnt=7, FilesPerDir=2: the eighth file goes to 000/003.
    assert!(
        path.starts_with("g0/000/003/") && path.ends_with(".jpg"),
        "{path}"
    );
    let stem = path
        .rsplit('/')
        .next()
        .unwrap()
        .strip_suffix(".jpg")
        .unwrap();
    assert!(stem.len() <= 29 && stem.contains('_'), "{stem}");
    assert_eq!(
        get(addr, &format!("/{path}")),
        file_answer("image/jpg", &data)
    );
    // Any group segment works, as in the original.
    let other_group = path.replacen("g0", "g9", 1);
    assert_eq!(
        get(addr, &format!("/{other_group}")),
        file_answer("image/jpg", &data)
    );
    server.shutdown().unwrap();
}

#[test]
fn audio_from_db_proxy_downloads_as_octet_stream() {
    let dir = TempDir::new("audio");
    let server = start(&dir);
    let addr = server.local_addrs()[0];
    let data = b"\x00\x00\x00\x03AMRAUDIO";
    let path = upload(addr, "1.audio", data);
    assert!(path.ends_with(".audio"));
    assert_eq!(
        get(addr, &format!("/{path}")),
        file_answer("application/octet-stream", data)
    );
    server.shutdown().unwrap();
}

#[test]
fn size_suffix_of_the_file_name_is_kept() {
    let dir = TempDir::new("suffix");
    let server = start(&dir);
    let addr = server.local_addrs()[0];
    let path = upload(addr, "IMG_0001_640x480.PNG", b"png!");
    assert!(path.ends_with("_640x480.PNG"), "{path}");
    assert_eq!(
        get(addr, &format!("/{path}")),
        file_answer("image/PNG", b"png!")
    );
    server.shutdown().unwrap();
}

#[test]
fn malformed_uploads_get_the_format_error_of_their_step() {
    let dir = TempDir::new("format");
    let server = start(&dir);
    let addr = server.local_addrs()[0];
    let no_boundary = String::from_utf8(upload_request("a.jpg", b"x", "h"))
        .unwrap()
        .replace(&format!("; boundary={BOUNDARY}"), "");
    assert_eq!(
        exchange(addr, no_boundary.as_bytes()),
        json_answer(r#"{"error_code":4,"error_msg": "格式错误","path":"","url":""}"#)
    );
    assert_eq!(
        exchange(addr, &upload_request("noext", b"x", "h")),
        json_answer(r#"{"error_code":10,"error_msg": "格式错误","path":"","url":""}"#)
    );
    let empty = b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(
        exchange(addr, empty),
        json_answer(r#"{"error_code":2,"error_msg": "格式错误","path":"","url":""}"#)
    );
    server.shutdown().unwrap();
}

#[test]
fn oversized_uploads_are_refused_with_an_error_answer() {
    let dir = TempDir::new("large");
    let server = start(&dir);
    let addr = server.local_addrs()[0];
    let too_large = json_answer(r#"{"error_code":1,"error_msg": "上传文件过大","url":""}"#);
    // Declared over 10 MiB: answered as soon as the head is in.
    let declared = format!(
        "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
        10 * 1024 * 1024 + 1
    );
    assert_eq!(exchange(addr, declared.as_bytes()), too_large);
    // A file over 5 MiB is not stored (the original claimed success with an empty path).
    let big = vec![1u8; 5 * 1024 * 1024 + 1];
    assert_eq!(
        exchange(addr, &upload_request("big.jpg", &big, "h")),
        too_large
    );
    let files = std::fs::read_dir(dir.0.join("data")).unwrap().count();
    assert_eq!(files, 0, "nothing was stored");
    server.shutdown().unwrap();
}

#[test]
fn downloads_never_leave_the_tree() {
    let dir = TempDir::new("paths");
    let server = start(&dir);
    let addr = server.local_addrs()[0];
    std::fs::write(dir.0.join("data").join("secret.txt"), b"secret").unwrap();
    std::fs::write(dir.0.join("outside.txt"), b"outside").unwrap();
    let path = upload(addr, "a.gif", b"gif");
    for target in [
        "/g0/../outside.txt",
        "/g0/000/003/../../../outside.txt",
        "/..",
    ] {
        assert!(
            get(addr, target).is_empty(),
            "{target} closes without an answer"
        );
    }
    for target in [
        "/g0/secret.txt".to_owned(),
        "/g0/000/003".to_owned(),
        "/g0/000/003/".to_owned(),
        "/g0/000/003/missing.gif".to_owned(),
        format!("/{path}?w=100"),
        "/g0//etc/passwd".to_owned(),
    ] {
        assert_eq!(get(addr, &target), NOT_FOUND, "{target}");
    }
    assert_eq!(
        get(addr, "/noslash"),
        b"HTTP/1.1 500 Internal Server Error\r\nConnection:close\r\nContent-Length:0\r\n\
          Content-Type:text/html;charset=utf-8\r\n\r\n"
    );
    server.shutdown().unwrap();
}

#[test]
fn other_methods_are_forbidden_and_bad_requests_close_only_their_connection() {
    let dir = TempDir::new("methods");
    let server = start(&dir);
    let addr = server.local_addrs()[0];
    assert_eq!(
        exchange(addr, b"DELETE /g0/000/000/a.jpg HTTP/1.1\r\n\r\n"),
        b"HTTP/1.1 403 Access Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\
          Content-Type: text/html;charset=utf-8\r\n\r\n"
    );
    assert!(exchange(addr, b"garbage\r\n\r\n").is_empty());
    assert!(exchange(addr, &vec![b'a'; 100 * 1024]).is_empty());
    assert_eq!(get(addr, "/g0/000/000/none.jpg"), NOT_FOUND);
    server.shutdown().unwrap();
}

#[test]
fn expect_continue_gets_no_interim_answer_as_from_the_original() {
    let dir = TempDir::new("continue");
    let server = start(&dir);
    let addr = server.local_addrs()[0];
    let request = upload_request("c.png", b"abc", "h");
    let split = request.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let mut head = request[..split - 2].to_vec();
    head.extend_from_slice(b"Expect: 100-continue\r\n\r\n");
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(&head).unwrap();
    // Nothing may come back before the body (clients send it after a short wait of their own).
    stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut early = [0u8; 64];
    match stream.read(&mut early) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!("expected no interim answer, got {other:?}"),
    }
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream.write_all(&request[split..]).unwrap();
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).unwrap();
    assert!(rest.starts_with(b"HTTP/1.1 200 OK\r\nConnection:close\r\n"));
    server.shutdown().unwrap();
}

#[test]
fn download_type_is_taken_after_the_last_dot_of_the_path() {
    let dir = TempDir::new("dotfile");
    let server = start(&dir);
    let addr = server.local_addrs()[0];
    let stored = dir.0.join("data").join("000").join("000");
    std::fs::create_dir_all(&stored).unwrap();
    std::fs::write(stored.join(".png"), b"xy").unwrap();
    assert_eq!(
        exchange(addr, b"GET /g0/000/000/.png HTTP/1.1\r\n\r\n"),
        b"HTTP/1.1 200 OK\r\nConnection:close\r\nContent-Length:2\r\nContent-Type:image/png\r\n\r\nxy"
    );
    server.shutdown().unwrap();
}

#[test]
fn file_counter_is_written_back_keeping_the_rest_of_the_conf() {
    let dir = TempDir::new("filecnt");
    let conf_path = dir.0.join("msfs.conf");
    let original = conf_text(&dir.0.join("data"));
    std::fs::write(&conf_path, &original).unwrap();
    netlib::logging::init_for_tests();
    let server = Server::bind(Config::load(&conf_path).unwrap())
        .unwrap()
        .spawn()
        .unwrap();
    let addr = server.local_addrs()[0];
    upload(addr, "1.jpg", b"1");
    upload(addr, "2.jpg", b"2");
    server.shutdown().unwrap();
    let saved = std::fs::read_to_string(&conf_path).unwrap();
    assert_eq!(saved, original.replace("FileCnt=7", "FileCnt=9"));
}

#[test]
fn base_dir_without_parent_refuses_to_start() {
    let dir = TempDir::new("nobase");
    let config = Config::from_conf(&Conf::parse(&conf_text(
        &dir.0.join("missing").join("data"),
    )))
    .unwrap();
    assert!(matches!(
        Server::bind(config),
        Err(msfs::ServerError::BaseDir { .. })
    ));
}

/// The value of `series` in a scrape of the endpoint at `addr`.
fn metric(addr: SocketAddr, series: &str) -> f64 {
    let (status, body) = netlib::metrics::scrape(addr, "/metrics").unwrap();
    assert_eq!(status, 200);
    netlib::metrics::sample(&body, series).unwrap_or_else(|| panic!("{series} missing:\n{body}"))
}

#[test]
fn metrics_count_bytes_in_and_out_and_requests_by_result() {
    let dir = TempDir::new("metrics");
    netlib::logging::init_for_tests();
    let text = conf_text(&dir.0.join("data")) + "MetricsListenIP=127.0.0.1\nMetricsPort=0\n";
    let config = Config::from_conf(&Conf::parse(&text)).unwrap();
    let server = Server::bind(config).unwrap().spawn().unwrap();
    let addr = server.local_addrs()[0];
    let m = server.metrics_addr().unwrap();
    let data = vec![7u8; 3000];
    let path = upload(addr, "a.png", &data);
    assert_eq!(
        get(addr, &format!("/{path}")),
        file_answer("image/png", &data)
    );
    get(addr, "/g0/000/000/nothing.png");
    assert_eq!(
        metric(m, "teamtalk_msfs_bytes_total{direction=\"in\"}"),
        3000.0
    );
    assert_eq!(
        metric(m, "teamtalk_msfs_bytes_total{direction=\"out\"}"),
        3000.0
    );
    assert_eq!(
        metric(m, "teamtalk_msfs_requests_total{result=\"stored\"}"),
        1.0
    );
    assert_eq!(
        metric(m, "teamtalk_msfs_requests_total{result=\"downloaded\"}"),
        1.0
    );
    assert_eq!(
        metric(m, "teamtalk_msfs_requests_total{result=\"not_found\"}"),
        1.0
    );
    assert!(metric(m, "teamtalk_msfs_store_bytes") >= 3000.0);
    assert_eq!(netlib::metrics::scrape(m, "/readyz").unwrap().0, 200);
}

/// Sends `request` over TLS and reads the answer until msfs closes.
fn exchange_tls(
    addr: SocketAddr,
    pki: &teamtalk_transport::test_pki::Pki,
    request: &[u8],
) -> Vec<u8> {
    use teamtalk_transport::rustls::pki_types::ServerName;
    let socket = TcpStream::connect(addr).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let config = teamtalk_transport::client_config(Some(&pki.ca()), None).unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut stream =
        teamtalk_transport::Blocking::client(socket, Some((config, name)), None).unwrap();
    stream.write_all(request).unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).unwrap();
    out
}

#[test]
fn https_uploads_and_downloads_the_same_files_as_http() {
    let pki = teamtalk_transport::test_pki::Pki::new("msfs-https");
    let dir = TempDir::new("https");
    let files = pki.server_files();
    let text = format!(
        "{}HttpsPort=0\nTlsCertFile={}\nTlsKeyFile={}\n",
        conf_text(&dir.0.join("data")),
        files.cert.display(),
        files.key.display()
    );
    netlib::logging::init_for_tests();
    let config = Config::from_conf(&Conf::parse(&text)).unwrap();
    let server = Server::bind(config).unwrap().spawn().unwrap();
    let (http, https) = (server.local_addrs()[0], server.https_addrs()[0]);
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 249) as u8).collect();
    let answer = exchange_tls(
        https,
        &pki,
        &upload_request("tls.jpg", &data, "pics.example"),
    );
    let text = String::from_utf8(answer).unwrap();
    let path = text
        .split("\"path\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("unexpected answer {text}"))
        .to_owned();
    let request = format!("GET /{path} HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(
        get(http, &format!("/{path}")),
        file_answer("image/jpg", &data)
    );
    assert_eq!(
        exchange_tls(https, &pki, request.as_bytes()),
        file_answer("image/jpg", &data)
    );
    server.shutdown().unwrap();
}
