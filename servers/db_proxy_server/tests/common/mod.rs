//! Fixtures for the db_proxy_server integration tests: the test database (schema loaded on
//! first use), a server booted in-process on 127.0.0.1:0, a fake msg_server link speaking
//! raw PDUs, and helpers that create uniquely named users and groups so tests running in
//! parallel (and other crates' tests sharing the database and Redis) never collide.
#![allow(clippy::unwrap_used, dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use db_proxy_server::config::{MysqlConfig, RedisConfig};
use db_proxy_server::{Config, Server, ServerHandle};
use mysql::prelude::Queryable;
use prost::Message;
use teamtalk_proto::attach::DbAttachData;
use teamtalk_proto::{CommandId, DEFAULT_MAX_PDU_LEN, Pdu};

pub const SCHEMA: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../sql/schema.sql"));
pub const AES_KEY: &[u8; 32] = b"12345678901234567890123456789012";
/// Redis db numbers of the tests: 11-15 rather than conf/dbproxyserver.conf's 1-5, so a local
/// cluster's counters and group members (whose ids overlap the test database's) stay apart.
pub const DB_UNREAD: u32 = 11;
pub const DB_GROUP_SET: u32 = 12;
pub const DB_TOKEN: u32 = 14;
pub const DB_GROUP_MEMBER: u32 = 15;

pub fn mysql_url() -> String {
    std::env::var("TT_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/teamtalk_test".to_owned())
}

pub fn redis_url() -> String {
    std::env::var("TT_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// Host and port of the test Redis.
pub fn redis_addr() -> (String, u16) {
    let rest = redis_url().trim_start_matches("redis://").to_owned();
    let rest = rest.split('/').next().unwrap().to_owned();
    let (host, port) = rest.rsplit_once(':').unwrap_or((&rest, "6379"));
    (host.to_owned(), port.parse().unwrap())
}

/// Creates the test database and loads the schema, once per test process.
pub fn ensure_schema() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let opts = mysql::Opts::from_url(&mysql_url()).unwrap();
        let db = opts.get_db_name().unwrap_or("teamtalk_test").to_owned();
        let server_only = mysql::OptsBuilder::from_opts(opts).db_name(None::<String>);
        let mut conn = mysql::Conn::new(server_only).unwrap();
        conn.query_drop(format!(
            "CREATE DATABASE IF NOT EXISTS `{db}` CHARACTER SET utf8mb4"
        ))
        .unwrap();
        conn.query_drop(format!("USE `{db}`")).unwrap();
        let text: String = SCHEMA
            .lines()
            .filter(|l| !l.trim_start().starts_with("--"))
            .collect::<Vec<_>>()
            .join("\n");
        for stmt in text.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            conn.query_drop(stmt).unwrap();
        }
    });
}

/// A direct connection to the test database.
pub fn db() -> mysql::Conn {
    ensure_schema();
    mysql::Conn::new(mysql::Opts::from_url(&mysql_url()).unwrap()).unwrap()
}

/// A direct connection to Redis db `n`.
pub fn redis(n: u32) -> redis::Connection {
    let (host, port) = redis_addr();
    redis::Client::open(format!("redis://{host}:{port}/{n}"))
        .unwrap()
        .get_connection()
        .unwrap()
}

/// A name prefix unique to this test process and call.
pub fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let r: u16 = rand::random();
    format!("{tag}{}_{r:04x}{n}", std::process::id() % 100_000)
}

pub fn mysql_config(name: &str, host: &str, port: u16) -> MysqlConfig {
    let opts = mysql::Opts::from_url(&mysql_url()).unwrap();
    MysqlConfig {
        name: name.to_owned(),
        host: host.to_owned(),
        port,
        dbname: opts.get_db_name().unwrap_or("teamtalk_test").to_owned(),
        username: opts.get_user().unwrap_or("root").to_owned(),
        password: opts.get_pass().unwrap_or_default().to_owned(),
        max_conns: 8,
    }
}

/// A config for the test services; `msfs` is the msfs base URL.
pub fn config(msfs: &str) -> Config {
    ensure_schema();
    let opts = mysql::Opts::from_url(&mysql_url()).unwrap();
    let host = opts.get_ip_or_hostname().to_string();
    let port = opts.get_tcp_port();
    let (rhost, rport) = redis_addr();
    let cache = |name: &str, db: u32| RedisConfig {
        name: name.to_owned(),
        host: rhost.clone(),
        port: rport,
        db,
        max_conns: 8,
    };
    Config {
        listen_ips: vec!["127.0.0.1".to_owned()],
        listen_port: 0,
        thread_num: 4,
        msfs_site: msfs.to_owned(),
        aes_key: *AES_KEY,
        master: mysql_config("teamtalk_master", &host, port),
        slave: mysql_config("teamtalk_slave", &host, port),
        caches: vec![
            cache("unread", DB_UNREAD),
            cache("group_set", DB_GROUP_SET),
            cache("token", DB_TOKEN),
            cache("group_member", DB_GROUP_MEMBER),
        ],
        stop_grace: Duration::from_millis(100),
        allowed_peers: Vec::new(),
        resend_window: db_proxy_server::config::DEFAULT_RESEND_WINDOW,
        policy: Default::default(),
        metrics: None,
        link_tls: None,
    }
}

/// Boots a server with `config`.
pub fn start_with(config: Config) -> ServerHandle {
    netlib::logging::init_for_tests();
    Server::bind(config).unwrap().spawn().unwrap()
}

/// Boots a server with the default test config (msfs on a dead port).
pub fn start() -> ServerHandle {
    start_with(config("http://127.0.0.1:9"))
}

/// A fake msg_server link.
pub struct Link {
    stream: TcpStream,
    buf: Vec<u8>,
    seq: u16,
}

impl Link {
    pub fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        Self {
            stream,
            buf: Vec::new(),
            seq: rand::random::<u16>() % 1000,
        }
    }

    pub fn to(server: &ServerHandle) -> Self {
        Self::connect(server.local_addrs()[0])
    }

    /// Sends `msg` as `cmd` with a fresh seq; returns the seq.
    pub fn send(&mut self, cmd: CommandId, msg: &impl Message) -> u16 {
        self.seq = self.seq.wrapping_add(1);
        let pdu = Pdu::new(cmd, self.seq, msg);
        self.stream.write_all(&pdu.encode()).unwrap();
        self.seq
    }

    /// Sends `body` (any bytes) as `cmd`; returns the seq.
    pub fn send_raw(&mut self, cmd: CommandId, body: Vec<u8>) -> u16 {
        self.seq = self.seq.wrapping_add(1);
        let pdu = Pdu::from_body(cmd, self.seq, body);
        self.stream.write_all(&pdu.encode()).unwrap();
        self.seq
    }

    /// Writes raw bytes (several PDUs at once, say).
    pub fn write_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// The next PDU other than a heartbeat, waiting at most `timeout`.
    pub fn recv_within(&mut self, timeout: Duration) -> Option<Pdu> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some((pdu, used)) = Pdu::decode(&self.buf, DEFAULT_MAX_PDU_LEN).unwrap() {
                self.buf.drain(..used);
                if pdu.header.command_id == CommandId::OtherHeartbeat as u16 {
                    continue;
                }
                return Some(pdu);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.stream.set_read_timeout(Some(left)).unwrap();
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::ConnectionReset
                    ) =>
                {
                    return None;
                }
                Err(e) => panic!("link read failed: {e}"),
            }
        }
    }

    /// Whether the server closes the link within `timeout` (data read meanwhile is skipped).
    pub fn closed_within(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut chunk = [0u8; 65536];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            self.stream.set_read_timeout(Some(left)).unwrap();
            match self.stream.read(&mut chunk) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
    }

    pub fn recv(&mut self) -> Pdu {
        self.recv_within(Duration::from_secs(20))
            .expect("no answer from db_proxy_server")
    }

    /// Sends a request and returns the answer, checking the echoed seq and command.
    pub fn call<M: Message + prost::Name + Default>(
        &mut self,
        cmd: CommandId,
        msg: &impl Message,
        answer: CommandId,
    ) -> M {
        let seq = self.send(cmd, msg);
        let pdu = self.recv();
        assert_eq!(pdu.header.command_id, answer as u16, "answer command");
        assert_eq!(pdu.header.seq_num, seq, "answer seq");
        assert_eq!(pdu.header.version, 1);
        pdu.parse().unwrap()
    }

    /// Expects nothing back for a while (commands the original never answers).
    pub fn expect_silence(&mut self, wait: Duration) {
        if let Some(pdu) = self.recv_within(wait) {
            panic!("unexpected answer: cmd=0x{:04x}", pdu.header.command_id);
        }
    }
}

/// A 12-byte attach as msg_server builds it.
pub fn attach(handle: u32) -> Option<Vec<u8>> {
    Some(DbAttachData::handle(handle).encode())
}

pub fn now() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32
}

/// Creates a user with login `name`, plaintext `password`, `status`; returns its id.
pub fn create_user(db: &mut mysql::Conn, name: &str, password: &str, status: u32) -> u32 {
    let salt = "4321";
    let hash =
        teamtalk_proto::crypto::salt_client_hash(&teamtalk_proto::crypto::md5_hex(password), salt);
    db.exec_drop(
        "INSERT INTO IMUser (sex, name, domain, nick, password, salt, phone, email, avatar, \
         departId, status, created, updated, push_shield_status, sign_info) \
         VALUES (1, ?, 'dom', ?, ?, ?, '13800000000', 'x@example.com', NULL, 1, ?, ?, ?, 0, '')",
        (
            name,
            format!("nick-{name}"),
            hash,
            salt,
            status,
            now(),
            now(),
        ),
    )
    .unwrap();
    db.last_insert_id() as u32
}

/// Creates `n` users named `<prefix>_<i>`; returns their ids.
pub fn create_users(db: &mut mysql::Conn, prefix: &str, n: usize) -> Vec<u32> {
    (0..n)
        .map(|i| create_user(db, &format!("{prefix}_{i}"), "pw", 0))
        .collect()
}

/// A syntactically valid text message body (what a client sends).
pub fn text(plain: &str) -> Vec<u8> {
    teamtalk_proto::crypto::encrypt_text(plain, AES_KEY).into_bytes()
}

/// An in-memory msfs: POST stores the multipart file part and answers its URL, GET serves it.
pub struct FakeMsfs {
    pub site: String,
    pub files: std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
}

impl FakeMsfs {
    pub fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let files = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Vec<u8>>::new()));
        let store = files.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { return };
                let Some((head, body)) = read_http(&mut s) else {
                    continue;
                };
                let response = if head.starts_with("POST") {
                    let start = find(&body, b"\r\n\r\n").unwrap() + 4;
                    let marker = b"\r\n--WebKitFormBoundary8riBH6S4ZsoT69so--";
                    let stop = find(&body[start..], marker).map_or(body.len(), |i| start + i);
                    let mut files = store.lock().unwrap();
                    files.push(body[start..stop].to_vec());
                    let json = format!(
                        "{{\"error_code\":0,\"error_msg\": \"成功\",\"path\":\"g0/{n}\",\"url\":\"http://{addr}/g0/{n}\"}}",
                        n = files.len() - 1
                    );
                    let mut r = format!(
                        "HTTP/1.1 200 OK\r\nConnection:close\r\nContent-Length:{}\r\n\r\n",
                        json.len()
                    )
                    .into_bytes();
                    r.extend_from_slice(json.as_bytes());
                    r
                } else {
                    let path = head.split_whitespace().nth(1).unwrap_or("/");
                    let n: Option<usize> = path.trim_start_matches("/g0/").parse().ok();
                    match n.and_then(|n| store.lock().unwrap().get(n).cloned()) {
                        Some(data) => {
                            let mut r = format!(
                                "HTTP/1.1 200 OK\r\nConnection:close\r\nContent-Length:{}\r\n\r\n",
                                data.len()
                            )
                            .into_bytes();
                            r.extend_from_slice(&data);
                            r
                        }
                        None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
                    }
                };
                let _ = s.write_all(&response);
            }
        });
        Self {
            site: format!("http://{addr}"),
            files,
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn read_http(s: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..i]).to_string();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            while buf.len() < i + 4 + len {
                let n = s.read(&mut chunk).ok()?;
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Some((head, buf[i + 4..].to_vec()));
        }
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}
