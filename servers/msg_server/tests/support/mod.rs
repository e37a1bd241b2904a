//! Scripted fakes for msg_server's wire tests: back-end servers (db_proxy, login, route, push,
//! file) that accept msg_server's links and hand every received PDU to the test, a raw client,
//! and a harness that boots a msg_server against a full set of fakes.
//!
//! Waiting is always "until this arrives or a generous deadline passes"; nothing sleeps for
//! start-up.

#![allow(dead_code, clippy::unwrap_used, unreachable_pub)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, unbounded};
use msg_server::{Config, Server, ServerHandle};
use netlib::Conf;
use prost::Message;
use teamtalk_proto::pb::base_define::UserInfo;
use teamtalk_proto::pb::login::{ImLoginReq, ImLoginRes, ImRegistReq};
use teamtalk_proto::pb::server::{ImValidateReq, ImValidateRsp};
use teamtalk_proto::{CommandId, DbAttachData, HEADER_LEN, Pdu, PduHeader};

/// How long any expected PDU may take.
pub const WAIT: Duration = Duration::from_secs(10);
/// The AES key of the sample conf (and the clients' default).
pub const AES_KEY: &str = "12345678901234567890123456789012";

/// Reads one whole PDU from a blocking stream.
fn read_pdu(stream: &mut TcpStream) -> std::io::Result<Pdu> {
    let mut header = [0u8; HEADER_LEN];
    stream.read_exact(&mut header)?;
    let h = PduHeader::read(&header).unwrap();
    let mut body = vec![0u8; h.length as usize - HEADER_LEN];
    stream.read_exact(&mut body)?;
    Ok(Pdu { header: h, body })
}

/// A fake back-end server: accepts any number of connections; every PDU received (heartbeats
/// excluded) is queued with the index of its connection.
pub struct FakePeer {
    addr: SocketAddr,
    rx: Receiver<(usize, Pdu)>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    accepted: Receiver<usize>,
    stopped: Arc<AtomicBool>,
}

impl FakePeer {
    /// Listens on 127.0.0.1:0 and accepts in the background.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        Self::serve(listener)
    }

    /// Listens on a given port again (a "restart" at the same address).
    pub fn start_on(addr: SocketAddr) -> Self {
        let deadline = Instant::now() + WAIT;
        loop {
            match TcpListener::bind(addr) {
                Ok(l) => return Self::serve(l),
                // The old listener goes once its accept thread wakes up; poll until then.
                Err(_) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
                Err(e) => panic!("cannot rebind {addr}: {e}"),
            }
        }
    }

    fn serve(listener: TcpListener) -> Self {
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = unbounded();
        let (acc_tx, accepted) = unbounded();
        let conns = Arc::new(Mutex::new(Vec::new()));
        let stopped = Arc::new(AtomicBool::new(false));
        let accept_conns = Arc::clone(&conns);
        let accept_stopped = Arc::clone(&stopped);
        thread::spawn(move || accept_loop(listener, accept_conns, tx, acc_tx, accept_stopped));
        Self {
            addr,
            rx,
            conns,
            accepted,
            stopped,
        }
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits until `n` connections were accepted in total.
    pub fn wait_conns(&self, n: usize) {
        let deadline = Instant::now() + WAIT;
        while self.conns.lock().unwrap().len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                self.accepted.recv_timeout(left).is_ok(),
                "only {} of {n} connections arrived at {}",
                self.conns.lock().unwrap().len(),
                self.addr
            );
        }
    }

    /// The next non-heartbeat PDU from any connection.
    pub fn recv(&self) -> (usize, Pdu) {
        match self.rx.recv_timeout(WAIT) {
            Ok(x) => x,
            Err(RecvTimeoutError::Timeout) => panic!("nothing arrived at {}", self.addr),
            Err(RecvTimeoutError::Disconnected) => panic!("fake peer {} is gone", self.addr),
        }
    }

    /// The next PDU, which must be `cmd`.
    pub fn expect(&self, cmd: CommandId) -> (usize, Pdu) {
        let (i, pdu) = self.recv();
        assert_eq!(
            pdu.command(),
            Some(cmd),
            "{} expected {cmd}, got 0x{:04x}",
            self.addr,
            pdu.header.command_id
        );
        (i, pdu)
    }

    /// The next `cmd`, skipping anything else.
    pub fn find(&self, cmd: CommandId) -> (usize, Pdu) {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (i, pdu) = self
                .rx
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("{cmd} never arrived at {}", self.addr));
            if pdu.command() == Some(cmd) {
                return (i, pdu);
            }
        }
    }

    /// Whether anything is queued right now (no waiting).
    pub fn pending(&self) -> Vec<(usize, Pdu)> {
        self.rx.try_iter().collect()
    }

    /// Sends a PDU on connection `i`.
    pub fn send(&self, i: usize, pdu: &Pdu) {
        let mut conns = self.conns.lock().unwrap();
        conns[i].write_all(&pdu.encode()).unwrap();
    }

    /// Writes raw bytes on connection `i`.
    pub fn send_raw(&self, i: usize, bytes: &[u8]) {
        let mut conns = self.conns.lock().unwrap();
        conns[i].write_all(bytes).unwrap();
    }

    /// Closes every connection and stops listening (the peer "crashes").
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        // Wake the accept thread so it sees the flag and drops the listener.
        let _ = TcpStream::connect(self.addr);
        for c in self.conns.lock().unwrap().iter() {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
    }

    /// Stops and listens again on the same address with no connections (a restart).
    pub fn restart(&mut self) {
        self.stop();
        *self = Self::start_on(self.addr);
    }
}

fn accept_loop(
    listener: TcpListener,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    tx: Sender<(usize, Pdu)>,
    accepted: Sender<usize>,
    stopped: Arc<AtomicBool>,
) {
    for stream in listener.incoming() {
        if stopped.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else {
            return;
        };
        let mut reader = stream.try_clone().unwrap();
        let index = {
            let mut c = conns.lock().unwrap();
            c.push(stream);
            c.len() - 1
        };
        if accepted.send(index).is_err() {
            return;
        }
        let tx = tx.clone();
        thread::spawn(move || {
            while let Ok(pdu) = read_pdu(&mut reader) {
                if pdu.command() == Some(CommandId::OtherHeartbeat) {
                    continue;
                }
                if tx.send((index, pdu)).is_err() {
                    return;
                }
            }
        });
    }
}

/// A raw client connection to msg_server.
pub struct TestClient {
    stream: TcpStream,
    seq: u16,
}

impl TestClient {
    /// Connects.
    pub fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Self { stream, seq: 100 }
    }

    /// The client's own address: the peer address msg_server sees.
    pub fn local_addr(&self) -> SocketAddr {
        self.stream.local_addr().unwrap()
    }

    /// A fresh seq.
    pub fn next_seq(&mut self) -> u16 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Sends `msg` as `cmd` with a fresh seq; returns the seq.
    pub fn send(&mut self, cmd: CommandId, msg: &impl Message) -> u16 {
        let seq = self.next_seq();
        self.send_pdu(&Pdu::new(cmd, seq, msg));
        seq
    }

    /// Sends a prepared PDU.
    pub fn send_pdu(&mut self, pdu: &Pdu) {
        self.write(&pdu.encode());
    }

    /// Writes raw bytes.
    pub fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Writes raw bytes; `false` if the connection is gone.
    pub fn try_write(&mut self, bytes: &[u8]) -> bool {
        self.stream.write_all(bytes).is_ok()
    }

    /// The next PDU (heartbeat echoes included).
    pub fn recv(&mut self) -> Pdu {
        read_pdu(&mut self.stream).expect("no PDU from msg_server")
    }

    /// The next PDU, or `None` if msg_server closed the connection.
    pub fn try_recv(&mut self) -> Option<Pdu> {
        match read_pdu(&mut self.stream) {
            Ok(p) => Some(p),
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {
                panic!("nothing from msg_server within {WAIT:?}")
            }
            Err(_) => None,
        }
    }

    /// The next PDU, which must be `cmd`.
    pub fn expect(&mut self, cmd: CommandId) -> Pdu {
        let pdu = self.recv();
        assert_eq!(
            pdu.command(),
            Some(cmd),
            "expected {cmd}, got 0x{:04x}",
            pdu.header.command_id
        );
        pdu
    }

    /// Sends a heartbeat and waits for its echo: everything msg_server sent before the echo
    /// has been read by then (a barrier). Fails if anything else arrives first.
    pub fn sync(&mut self) {
        let seq = self.next_seq();
        self.send_pdu(&Pdu::empty(CommandId::OtherHeartbeat, seq));
        let echo = self.expect(CommandId::OtherHeartbeat);
        assert_eq!(echo.header.seq_num, seq);
    }

    /// Waits until msg_server closes the connection; PDUs arriving before are returned.
    pub fn wait_closed(&mut self) -> Vec<Pdu> {
        let mut got = Vec::new();
        loop {
            match read_pdu(&mut self.stream) {
                Ok(p) => got.push(p),
                Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {
                    panic!("connection still open after {WAIT:?}")
                }
                Err(_) => return got,
            }
        }
    }
}

/// The back ends a harness dials.
pub struct Fakes {
    /// DBServerIP1: the login pool.
    pub db_login: FakePeer,
    /// DBServerIP2: the business pool.
    pub db: FakePeer,
    pub login: FakePeer,
    pub route: FakePeer,
    pub push: FakePeer,
    pub file: FakePeer,
}

/// A msg_server wired to fakes.
pub struct Harness {
    pub fakes: Fakes,
    pub server: Option<ServerHandle>,
    pub addr: SocketAddr,
}

/// The conf text of a msg_server pointing at the fakes.
pub fn conf_for(f: &Fakes, max_conn_cnt: u32) -> Conf {
    let text = format!(
        "ListenIP=127.0.0.1\nListenPort=0\nIpAddr1=10.0.0.1\nIpAddr2=10.0.0.2\n\
         MaxConnCnt={max_conn_cnt}\naesKey={AES_KEY}\nConcurrentDBConnCnt=1\n\
         DBServerIP1=127.0.0.1\nDBServerPort1={}\nDBServerIP2=127.0.0.1\nDBServerPort2={}\n\
         LoginServerIP1=127.0.0.1\nLoginServerPort1={}\nRouteServerIP1=127.0.0.1\n\
         RouteServerPort1={}\nPushServerIP1=127.0.0.1\nPushServerPort1={}\n\
         FileServerIP1=127.0.0.1\nFileServerPort1={}\n\
         EnableRegistration=1\nRegistrationsPerMinute=1000000\n",
        f.db_login.addr().port(),
        f.db.addr().port(),
        f.login.addr().port(),
        f.route.addr().port(),
        f.push.addr().port(),
        f.file.addr().port(),
    );
    Conf::parse(&text)
}

impl Harness {
    /// Boots a msg_server with a connection cap and a conf edit; nothing is awaited.
    pub fn start_with(max_conn_cnt: u32, edit: impl FnOnce(&mut Conf)) -> Self {
        netlib::logging::init_for_tests();
        let fakes = Fakes {
            db_login: FakePeer::start(),
            db: FakePeer::start(),
            login: FakePeer::start(),
            route: FakePeer::start(),
            push: FakePeer::start(),
            file: FakePeer::start(),
        };
        let mut conf = conf_for(&fakes, max_conn_cnt);
        edit(&mut conf);
        let server = Server::bind(Config::from_conf(&conf).unwrap()).unwrap();
        let addr = server.local_addrs()[0];
        Self {
            fakes,
            server: Some(server.spawn().unwrap()),
            addr,
        }
    }

    /// Waits until msg_server has its login-pool db_proxy link up: a registration request
    /// (allowed before login, enabled by [`conf_for`]) is forwarded once it is, and refused
    /// with code 3 before.
    pub fn probe_db(&self) {
        let deadline = Instant::now() + WAIT;
        loop {
            let mut c = TestClient::connect(self.addr);
            c.send(
                CommandId::LoginReqRegist,
                &ImRegistReq {
                    user_name: "probe".into(),
                    password: "cc03e747a6afbbcbf8be7668acfebee5".into(),
                    ..Default::default()
                },
            );
            c.send_pdu(&Pdu::empty(CommandId::OtherHeartbeat, 1));
            if c.recv().command() == Some(CommandId::OtherHeartbeat) {
                self.fakes.db_login.expect(CommandId::LoginReqRegist);
                return;
            }
            assert!(Instant::now() < deadline, "db_proxy link never came up");
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the login/route/file set-up PDUs, which prove those links are up.
    pub fn expect_link_setup(&self) {
        self.fakes.login.expect(CommandId::OtherMsgServInfo);
        self.fakes.route.expect(CommandId::OtherRoleSet);
        self.fakes.route.expect(CommandId::OtherOnlineUserInfo);
        self.fakes.file.expect(CommandId::OtherFileServerIpReq);
    }

    /// Boots against fresh fakes and waits until every link is up.
    pub fn ready() -> Self {
        let h = Self::start_with(100, |_| {});
        h.expect_link_setup();
        h.fakes.db.wait_conns(1);
        h.fakes.push.wait_conns(1);
        h.probe_db();
        h
    }

    /// Logs a client in as `user_id` (`name`, `client_type`), answering the validation as
    /// db_proxy would, and consumes the login/route side effects.
    pub fn login(&self, name: &str, user_id: u32, client_type: i32) -> TestClient {
        let mut c = TestClient::connect(self.addr);
        let seq = c.send(CommandId::LoginReqUserlogin, &login_req(name, client_type));
        let (i, pdu) = self.fakes.db_login.expect(CommandId::OtherValidateReq);
        assert_eq!(pdu.header.seq_num, seq);
        let req: ImValidateReq = pdu.parse().unwrap();
        assert_eq!(req.user_name, name);
        let rsp = ImValidateRsp {
            user_name: name.to_owned(),
            result_code: 0,
            result_string: Some("成功".to_owned()),
            user_info: Some(user_info(user_id, name)),
            attach_data: req.attach_data,
        };
        self.fakes
            .db_login
            .send(i, &Pdu::new(CommandId::OtherValidateRsp, seq, &rsp));
        let res: ImLoginRes = c.expect(CommandId::LoginResUserlogin).parse().unwrap();
        assert_eq!(res.result_code, 0);
        self.fakes.route.expect(CommandId::OtherServerKickUser);
        self.fakes.route.expect(CommandId::OtherUserStatusUpdate);
        self.fakes.login.expect(CommandId::OtherUserCntUpdate);
        c
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            let _ = s.shutdown();
        }
    }
}

/// A login request with the test password.
pub fn login_req(name: &str, client_type: i32) -> ImLoginReq {
    ImLoginReq {
        user_name: name.to_owned(),
        password: "cc03e747a6afbbcbf8be7668acfebee5".to_owned(),
        online_status: 1,
        client_type,
        client_version: Some("test".to_owned()),
    }
}

/// A UserInfo as db_proxy returns it.
pub fn user_info(user_id: u32, name: &str) -> UserInfo {
    UserInfo {
        user_id,
        user_gender: 1,
        user_nick_name: format!("nick-{name}"),
        avatar_url: String::new(),
        department_id: 1,
        email: String::new(),
        user_real_name: name.to_owned(),
        user_tel: String::new(),
        user_domain: String::new(),
        status: 0,
        sign_info: Some(String::new()),
    }
}

/// The 12-byte attach of a request, decoded.
pub fn db_attach(bytes: &[u8]) -> DbAttachData {
    assert_eq!(bytes.len(), 12, "expected a 12-byte CDbAttachData");
    DbAttachData::decode(bytes).unwrap()
}

/// Client type constants.
pub const WINDOWS: i32 = 0x01;
pub const MAC: i32 = 0x02;
pub const IOS: i32 = 0x11;
pub const ANDROID: i32 = 0x12;
