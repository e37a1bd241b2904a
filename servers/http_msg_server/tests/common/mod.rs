//! Test helpers: fake db_proxy / route_server peers on real TCP, an HTTP caller, and the
//! server booted in-process on 127.0.0.1:0.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use http_msg_server::{Config, Server, ServerHandle};
use netlib::Conf;
use teamtalk_proto::Pdu;

/// How long a test waits for any single event before failing.
pub const WAIT: Duration = Duration::from_secs(20);

/// A listener standing in for db_proxy or route_server: every PDU received on any accepted
/// link is reported with the link's index; the test answers on that link.
pub struct FakePeer {
    pub addr: SocketAddr,
    rx: Receiver<(usize, Pdu)>,
    links: Arc<Mutex<Vec<TcpStream>>>,
}

impl FakePeer {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = channel();
        let links = Arc::new(Mutex::new(Vec::new()));
        let accepted = Arc::clone(&links);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let index = {
                    let mut links = accepted.lock().unwrap();
                    links.push(stream.try_clone().unwrap());
                    links.len() - 1
                };
                let tx: Sender<(usize, Pdu)> = tx.clone();
                thread::spawn(move || read_pdus(stream, index, &tx));
            }
        });
        Self { addr, rx, links }
    }

    /// The next PDU other than a heartbeat.
    pub fn recv(&self) -> (usize, Pdu) {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (link, pdu) = self.rx.recv_timeout(left).expect("no pdu from the server");
            if pdu.header.command_id != 0x0701 {
                return (link, pdu);
            }
        }
    }

    /// Asserts no PDU other than heartbeats arrives within `quiet`.
    pub fn expect_nothing(&self, quiet: Duration) {
        let deadline = Instant::now() + quiet;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok((_, pdu)) if pdu.header.command_id == 0x0701 => {}
                Ok((_, pdu)) => panic!("unexpected pdu {:?}", pdu.header),
                Err(RecvTimeoutError::Timeout) => return,
                Err(e) => panic!("{e}"),
            }
        }
    }

    /// Waits until `n` links were accepted.
    pub fn wait_links(&self, n: usize) {
        let deadline = Instant::now() + WAIT;
        while self.links.lock().unwrap().len() < n {
            assert!(
                Instant::now() < deadline,
                "only {} links",
                self.links.lock().unwrap().len()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn send(&self, link: usize, pdu: &Pdu) {
        let mut stream = self.links.lock().unwrap()[link].try_clone().unwrap();
        stream.write_all(&pdu.encode()).unwrap();
    }
}

fn read_pdus(mut stream: TcpStream, index: usize, tx: &Sender<(usize, Pdu)>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        while let Ok(Some((pdu, used))) = Pdu::decode(&buf, usize::MAX) {
            buf.drain(..used);
            if tx.send((index, pdu)).is_err() {
                return;
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A config on 127.0.0.1:0 with two db_proxy entries (one link each) and an optional route.
pub fn config(db: Option<SocketAddr>, route: Option<SocketAddr>, extra: &str) -> Config {
    let mut text = String::from("ListenIP=127.0.0.1\nListenPort=0\nConcurrentDBConnCnt=1\n");
    if let Some(db) = db {
        for n in 1..=2 {
            text.push_str(&format!(
                "DBServerIP{n}={}\nDBServerPort{n}={}\n",
                db.ip(),
                db.port()
            ));
        }
    }
    if let Some(route) = route {
        text.push_str(&format!(
            "RouteServerIP1={}\nRouteServerPort1={}\n",
            route.ip(),
            route.port()
        ));
    }
    text.push_str(extra);
    Config::from_conf(&Conf::parse(&text)).unwrap()
}

pub fn start(config: Config) -> ServerHandle {
    netlib::logging::init_for_tests();
    Server::bind(config).unwrap().spawn().unwrap()
}

/// Sends raw request bytes and returns everything the server wrote before closing.
pub fn exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    // The server may close before reading everything (oversized requests); that is fine.
    let _ = stream.write_all(request);
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return out,
            Err(e) => panic!("reading the answer: {e}"),
        }
    }
}

/// A POST request as the PHP console sends it.
pub fn post_request(target: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

pub fn post(addr: SocketAddr, target: &str, body: &str) -> Vec<u8> {
    exchange(addr, &post_request(target, body))
}

/// The exact answer for a JSON body.
pub fn answer(json: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nCache-Control:no-cache\r\nConnection:close\r\nContent-Length:{}\r\n\
         Content-Type:text/html;charset=utf-8\r\n\r\n{json}",
        json.len()
    )
    .into_bytes()
}

pub fn error_json(code: u32, msg: &str) -> String {
    format!("{{\n   \"error_code\" : {code},\n   \"error_msg\" : \"{msg}\"\n}}\n")
}

/// Waits until the server has an open db_proxy link: a request missing its parameters is
/// answered with code 1 once a link is up (code 10 before) and never reaches db_proxy.
pub fn wait_for_db(addr: SocketAddr) {
    let deadline = Instant::now() + WAIT;
    let ready = answer(&error_json(1, "参数错误"));
    while post(addr, "/query/CreateGroup", r#"{"req_user_id":1}"#) != ready {
        assert!(Instant::now() < deadline, "db_proxy links never came up");
        thread::sleep(Duration::from_millis(20));
    }
}
