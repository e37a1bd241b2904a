//! In-process servers for the socket targets, started once per fuzz process.
//!
//! Each input gets a fresh client connection: the harness writes the input, half-closes, and
//! reads until the server closes its side. netlib delivers every buffered PDU before it acts on
//! the end of stream, so once the server has closed, the whole input went through the real
//! dispatch and the next input starts from a settled server. A server that never closes is
//! reported as a hang (a panic, which libFuzzer records as a crash).
//!
//! A panic on a server thread must reach libFuzzer too: `libfuzzer-sys` installs a panic hook
//! that aborts the process, and the hook runs on every thread.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use netlib::Conf;
use prost::Message;
use teamtalk_proto::pb::base_define::{ClientType, ResultType, UserStatType};
use teamtalk_proto::pb::login::{ImLoginReq, ImLoginRes};
use teamtalk_proto::pb::server::{ImFileTransferReq, ImFileTransferRsp};
use teamtalk_proto::{CommandId, DEFAULT_MAX_PDU_LEN, Pdu};

/// How long a server may take to finish one input before it counts as hung.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(10);

/// A loopback port nothing listens on: back-end links fail at once and keep retrying, which is
/// how a server runs while its back ends are down.
const CLOSED_PORT: u16 = 1;

/// Task id placeholder in `file_server_client` inputs, replaced by a live task's id (same length
/// as a UUID, so protobuf lengths stay valid).
pub const TASK_ID_PLACEHOLDER: &[u8; 36] = b"00000000-0000-4000-8000-000000000000";

/// Sends `input` on a fresh connection to `addr` and waits until the server closes it.
pub fn exchange(addr: SocketAddr, input: &[u8]) {
    let mut stream = connect(addr);
    // The server may close mid-write (framing error); that is an outcome, not a failure.
    let _ = stream.write_all(input);
    let _ = stream.shutdown(Shutdown::Write);
    drain_until_closed(&mut stream);
}

fn drain_until_closed(stream: &mut TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("server did not close the connection within {SETTLE_TIMEOUT:?}")
            }
            // Reset: the server closed with unread input, also a close.
            Err(_) => return,
        }
    }
}

/// The client address of this process's msg_server, started on first use with every back end
/// (db_proxy, route, login, push, file) on a closed port.
pub fn msg_server() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        let closed = SocketAddr::from(([127, 0, 0, 1], CLOSED_PORT));
        start_msg_server(closed, "")
    })
}

/// The client address of this process's msg_server whose back ends are all the
/// [`stub_backend`](crate::stub_backend), so clients can log in; forwarded requests stay
/// unanswered and end at a 3-s request deadline.
pub fn msg_server_with_backends() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        let addr = start_msg_server(crate::stub_backend::start(), "RequestTimeout=3\n");
        wait_for_logins(addr);
        addr
    })
}

/// Binds and spawns a msg_server with every back end at `backend`; `extra` is added to its conf.
fn start_msg_server(backend: SocketAddr, extra: &str) -> SocketAddr {
    // Server logs only when asked for (reproducing a crash): at fuzzing speed they drown the
    // fuzzer's own output.
    if std::env::var_os("RUST_LOG").is_some() {
        netlib::logging::init_for_tests();
    }
    let (ip, port) = (backend.ip(), backend.port());
    let text = format!(
        "ListenIP=127.0.0.1\nListenPort=0\nIpAddr1=127.0.0.1\nIpAddr2=127.0.0.1\n\
         MaxConnCnt=100000\naesKey=12345678901234567890123456789012\n\
         ConcurrentDBConnCnt=1\nDBServerIP1={ip}\nDBServerPort1={port}\n\
         DBServerIP2={ip}\nDBServerPort2={port}\nLoginServerIP1={ip}\n\
         LoginServerPort1={port}\nRouteServerIP1={ip}\nRouteServerPort1={port}\n\
         PushServerIP1={ip}\nPushServerPort1={port}\nFileServerIP1={ip}\n\
         FileServerPort1={port}\n{extra}"
    );
    let config = msg_server::Config::from_conf(&Conf::parse(&text)).expect("valid conf");
    let server = msg_server::Server::bind(config).expect("msg_server binds 127.0.0.1:0");
    let addr = server.local_addrs()[0];
    // The server lives as long as the process.
    Box::leak(Box::new(server.spawn().expect("msg_server thread starts")));
    addr
}

/// Client types a session input may log in as, picked by its first byte: PC and mobile clients
/// take different paths (kicks, push, idle timeouts).
const SESSION_CLIENT_TYPES: [ClientType; 4] = [
    ClientType::Windows,
    ClientType::Mac,
    ClientType::Ios,
    ClientType::Android,
];

/// Logs in on a fresh connection to `addr` (as the client type the first byte of `input` picks),
/// then sends the rest of `input` and waits until the server closes the connection.
pub fn session_exchange(addr: SocketAddr, input: &[u8]) {
    let Some((&kind, input)) = input.split_first() else {
        return;
    };
    let client_type = SESSION_CLIENT_TYPES[usize::from(kind) % SESSION_CLIENT_TYPES.len()];
    let mut stream = logged_in(addr, client_type)
        .unwrap_or_else(|| panic!("msg_server stopped accepting logins"));
    let _ = stream.write_all(input);
    let _ = stream.shutdown(Shutdown::Write);
    drain_until_closed(&mut stream);
}

/// Waits until msg_server's back-end links are up and a login succeeds.
fn wait_for_logins(addr: SocketAddr) {
    let deadline = std::time::Instant::now() + SETTLE_TIMEOUT;
    while logged_in(addr, ClientType::Windows).is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "msg_server accepted no login within {SETTLE_TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A connection logged in as `client_type`, or `None` when the login was refused.
fn logged_in(addr: SocketAddr, client_type: ClientType) -> Option<TcpStream> {
    let mut stream = connect(addr);
    let login = ImLoginReq {
        user_name: "fuzz".into(),
        password: "e10adc3949ba59abbe56e057f20f883e".into(),
        online_status: UserStatType::UserStatusOnline as i32,
        client_type: client_type as i32,
        client_version: Some("fuzz".into()),
    };
    stream
        .write_all(&pdu_bytes(CommandId::LoginReqUserlogin, 1, &login))
        .expect("msg_server reads a login");
    loop {
        let pdu = read_pdu(&mut stream, "msg_server");
        if pdu.command() == Some(CommandId::LoginResUserlogin) {
            let res: ImLoginRes = pdu.parse().expect("msg_server answers well-formed");
            return (res.result_code == ResultType::RefuseReasonNone as i32).then_some(stream);
        }
    }
}

/// A connection to an in-process server, with the settle timeout on reads.
fn connect(addr: SocketAddr) -> TcpStream {
    // libFuzzer's -timeout alarm can interrupt the connect: retry it.
    let stream = loop {
        match TcpStream::connect(addr) {
            Ok(stream) => break stream,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!("in-process server refused a connection: {e}"),
        }
    };
    stream
        .set_read_timeout(Some(SETTLE_TIMEOUT))
        .expect("a non-zero timeout is valid");
    stream
}

/// This process's file_server: its client address, a link on its msg_server port for creating
/// tasks, and its offline directory.
#[derive(Debug)]
pub struct FileServerTarget {
    /// Client port.
    pub client: SocketAddr,
    msg_link: TcpStream,
    offline_dir: PathBuf,
    seq: u16,
    inputs: u32,
}

/// Inputs between two sweeps of the offline directory, so stored uploads do not pile up.
const OFFLINE_SWEEP_EVERY: u32 = 512;

impl FileServerTarget {
    /// The process-wide file_server, started on first use with a 1-s task timeout (tasks of
    /// past inputs expire instead of accumulating).
    pub fn get() -> &'static Mutex<Self> {
        static TARGET: OnceLock<Mutex<FileServerTarget>> = OnceLock::new();
        TARGET.get_or_init(|| {
            let offline_dir =
                std::env::temp_dir().join(format!("teamtalk-fuzz-offline-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&offline_dir);
            std::fs::create_dir_all(&offline_dir).expect("temp dir is writable");
            let conf = Conf::parse(
                "ClientListenIP=127.0.0.1\nClientListenPort=0\nMsgServerListenIP=127.0.0.1\n\
                 MsgServerListenPort=0\nTaskTimeout=1\n",
            );
            let mut config = file_server::Config::from_conf(&conf).expect("valid conf");
            config.offline_dir = offline_dir.clone();
            let server = file_server::Server::bind(config).expect("file_server binds 127.0.0.1:0");
            let addrs = server.local_addrs().clone();
            Box::leak(Box::new(server.spawn().expect("file_server thread starts")));
            let msg_link =
                TcpStream::connect(addrs.msg_server).expect("file_server accepts msg links");
            msg_link
                .set_read_timeout(Some(SETTLE_TIMEOUT))
                .expect("a non-zero timeout is valid");
            Mutex::new(FileServerTarget {
                client: addrs.client[0],
                msg_link,
                offline_dir,
                seq: 0,
                inputs: 0,
            })
        })
    }

    /// Creates a task from user 1 to user 2 as msg_server would and returns its id.
    pub fn create_task(&mut self, trans_mode: i32, file_size: u32) -> String {
        self.inputs += 1;
        if self.inputs.is_multiple_of(OFFLINE_SWEEP_EVERY) {
            // A task whose file vanished is a state error for the server, never a panic.
            let _ = std::fs::remove_dir_all(&self.offline_dir);
            let _ = std::fs::create_dir_all(&self.offline_dir);
        }
        self.seq = self.seq.wrapping_add(1);
        let req = ImFileTransferReq {
            from_user_id: 1,
            to_user_id: 2,
            file_name: "fuzz.bin".into(),
            file_size,
            trans_mode,
            attach_data: None,
        };
        let pdu = Pdu::new(CommandId::OtherFileTransferReq, self.seq, &req);
        self.msg_link
            .write_all(&pdu.encode())
            .expect("file_server keeps its msg link open");
        let rsp = read_pdu(&mut self.msg_link, "file_server");
        assert_eq!(rsp.command(), Some(CommandId::OtherFileTransferRsp));
        let rsp: ImFileTransferRsp = rsp.parse().expect("file_server answers well-formed");
        rsp.task_id.unwrap_or_default()
    }
}

/// Reads one whole PDU from `server`, skipping heartbeats.
fn read_pdu(stream: &mut TcpStream, server: &str) -> Pdu {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        while let Some((pdu, used)) =
            Pdu::decode(&buf, DEFAULT_MAX_PDU_LEN)
                .unwrap_or_else(|e| panic!("{server} sent an unframeable PDU: {e}"))
        {
            buf.drain(..used);
            if pdu.command() != Some(CommandId::OtherHeartbeat) {
                return pdu;
            }
        }
        // libFuzzer's -timeout alarm interrupts blocking reads: retry those.
        match stream.read(&mut chunk) {
            Ok(0) => panic!("{server} closed the connection"),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!("{server} did not answer in time: {e}"),
        }
    }
}

/// `input` with every [`TASK_ID_PLACEHOLDER`] replaced by `task_id` (when it has the same
/// length, as every UUID does).
pub fn with_task_id(input: &[u8], task_id: &str) -> Vec<u8> {
    let mut out = input.to_vec();
    if task_id.len() != TASK_ID_PLACEHOLDER.len() {
        return out;
    }
    let mut i = 0;
    while i + TASK_ID_PLACEHOLDER.len() <= out.len() {
        if out[i..].starts_with(TASK_ID_PLACEHOLDER) {
            out[i..i + TASK_ID_PLACEHOLDER.len()].copy_from_slice(task_id.as_bytes());
            i += TASK_ID_PLACEHOLDER.len();
        } else {
            i += 1;
        }
    }
    out
}

/// Encodes `msg` as a PDU of `cmd`.
pub fn pdu_bytes(cmd: CommandId, seq: u16, msg: &impl Message) -> Vec<u8> {
    Pdu::new(cmd, seq, msg).encode()
}
