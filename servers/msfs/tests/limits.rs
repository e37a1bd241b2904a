//! msfs's resource bounds over real HTTP: concurrent connections, the disk quota, a full disk
//! and the whole-request deadline against callers that trickle their request.

#![allow(clippy::unwrap_used)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use msfs::{Config, Server, ServerHandle};
use netlib::Conf;

const BOUNDARY: &str = "WebKitFormBoundary8riBH6S4ZsoT69so";
const WAIT: Duration = Duration::from_secs(20);
const DISK_FULL: &str = r#"{"error_code":12,"error_msg": "存储空间不足","path":"","url":""}"#;
static NEXT: AtomicUsize = AtomicUsize::new(0);

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let dir =
            std::env::temp_dir().join(format!("msfs-limits-{}-{name}-{n}", std::process::id()));
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

fn config(base: &Path) -> Config {
    let text = format!(
        "ListenIP=127.0.0.1\nListenPort=0\nBaseDir={}\nFileCnt=0\nFilesPerDir=2\n\
         GetThreadCount=1\nPostThreadCount=1\n",
        base.display()
    );
    Config::from_conf(&Conf::parse(&text)).unwrap()
}

fn start(config: Config) -> ServerHandle {
    netlib::logging::init_for_tests();
    Server::bind(config).unwrap().spawn().unwrap()
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream
}

/// Everything the server sends until it closes.
fn read_all(stream: &mut TcpStream) -> Vec<u8> {
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

fn exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = connect(addr);
    let _ = stream.write_all(request);
    read_all(&mut stream)
}

fn upload_request(data: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\n\
         Content-Type:image/jpg\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n\r\n").as_bytes());
    let mut request = format!(
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Type: multipart/form-data; \
         boundary={BOUNDARY}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    request
}

/// The JSON body of an upload answer.
fn upload(addr: SocketAddr, data: &[u8]) -> String {
    let answer = String::from_utf8(exchange(addr, &upload_request(data))).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    answer.split("\r\n\r\n").nth(1).unwrap().to_owned()
}

/// Number of stored files in the tree under `base`.
fn stored_files(base: &Path) -> usize {
    let entries = |dir: &Path| std::fs::read_dir(dir).into_iter().flatten().flatten();
    entries(base)
        .flat_map(|first| entries(&first.path()).collect::<Vec<_>>())
        .flat_map(|second| entries(&second.path()).collect::<Vec<_>>())
        .count()
}

#[test]
fn connections_over_max_conn_cnt_are_answered_503_and_closed() {
    let dir = TempDir::new("conns");
    let mut cfg = config(&dir.0.join("data"));
    cfg.limits.max_conn_cnt = 2;
    let server = start(cfg);
    let addr = server.local_addrs()[0];
    let first = connect(addr);
    let second = connect(addr);
    let mut third = connect(addr);
    let answer = read_all(&mut third);
    assert_eq!(
        answer,
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\
          Content-Type: text/html;charset=utf-8\r\n\r\n"
    );
    // Once a slot is free, requests are served again.
    drop(first);
    let deadline = Instant::now() + WAIT;
    loop {
        let answer = exchange(addr, b"GET /g0/000/000/none.jpg HTTP/1.1\r\n\r\n");
        if answer.starts_with(b"HTTP/1.1 404") {
            break;
        }
        assert!(Instant::now() < deadline, "never served again");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(second);
    server.shutdown().unwrap();
}

#[test]
fn uploads_past_the_disk_quota_get_the_json_error_and_leave_nothing() {
    let dir = TempDir::new("quota");
    let base = dir.0.join("data");
    let mut cfg = config(&base);
    cfg.limits.disk_quota = 150;
    let server = start(cfg.clone());
    let addr = server.local_addrs()[0];
    let ok = upload(addr, &[7; 100]);
    assert!(ok.starts_with(r#"{"error_code":0,"#), "{ok}");
    assert_eq!(upload(addr, &[8; 51]), DISK_FULL);
    assert_eq!(upload(addr, &[9; 50]).get(..15), Some(r#"{"error_code":0"#));
    assert_eq!(stored_files(&base), 2, "nothing partial left");
    server.shutdown().unwrap();

    // A restart counts what is already stored.
    let server = start(cfg);
    assert_eq!(upload(server.local_addrs()[0], &[1]), DISK_FULL);
    assert_eq!(stored_files(&base), 2);
    server.shutdown().unwrap();
}

/// A real full file system: a 64 KiB tmpfs as the store (needs the right to mount; skipped
/// otherwise — the quota test above covers the same answer).
#[test]
fn full_file_system_gets_the_json_error_and_leaves_nothing() {
    let dir = TempDir::new("tmpfs");
    let base = dir.0.join("data");
    std::fs::create_dir_all(&base).unwrap();
    let mount = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&base)
        .output();
    match mount {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            eprintln!(
                "SKIPPED full_file_system test: cannot mount a tmpfs: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return;
        }
        Err(e) => {
            eprintln!("SKIPPED full_file_system test: cannot run mount: {e}");
            return;
        }
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&base);

    let server = start(config(&base));
    let addr = server.local_addrs()[0];
    assert_eq!(upload(addr, &[5; 200_000]), DISK_FULL);
    assert_eq!(stored_files(&base), 0, "the partial file is removed");
    // The server goes on: a file that fits is stored.
    let ok = upload(addr, &[6; 1_000]);
    assert!(ok.starts_with(r#"{"error_code":0,"#), "{ok}");
    assert_eq!(stored_files(&base), 1);
    server.shutdown().unwrap();
}

/// Sends `bytes` one at a time, `gap` apart (each well inside the idle timeout); returns
/// what the server sent before closing, or `None` if it answered only after the last byte.
fn trickle(addr: SocketAddr, bytes: &[u8], gap: Duration) -> Option<Vec<u8>> {
    let mut stream = connect(addr);
    for byte in bytes {
        if stream.write_all(&[*byte]).is_err() {
            return Some(read_all(&mut stream));
        }
        std::thread::sleep(gap);
    }
    let answer = read_all(&mut stream);
    answer.is_empty().then_some(answer)
}

#[test]
fn requests_trickled_past_the_request_deadline_are_closed_unanswered() {
    let dir = TempDir::new("slow");
    let mut cfg = config(&dir.0.join("data"));
    cfg.limits.request_timeout = Duration::from_secs(1);
    let server = start(cfg);
    let addr = server.local_addrs()[0];
    let gap = Duration::from_millis(250);
    // The head arrives too slowly.
    let head = b"GET /g0/000/000/none.jpg HTTP/1.1\r\n\r\n";
    assert_eq!(trickle(addr, head, gap), Some(Vec::new()), "slow head");
    // The head is quick, the body too slow.
    let request = upload_request(b"0123456789");
    let head_len = request.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let mut stream = connect(addr);
    stream.write_all(&request[..head_len]).unwrap();
    let mut cut_off = false;
    for byte in &request[head_len..] {
        if stream.write_all(&[*byte]).is_err() {
            cut_off = true;
            break;
        }
        std::thread::sleep(gap);
    }
    assert!(cut_off || read_all(&mut stream).is_empty(), "slow body");
    // A request sent at once is still served.
    assert!(exchange(addr, head).starts_with(b"HTTP/1.1 404"));
    server.shutdown().unwrap();
}
