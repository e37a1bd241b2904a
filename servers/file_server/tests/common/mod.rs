//! Test helpers: a server booted in-process on 127.0.0.1:0 with a private offline directory,
//! and a blocking PDU connection.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

pub mod transfer;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use file_server::{Config, Server, ServerHandle};
use netlib::Conf;
use prost::Message;
use teamtalk_proto::pb::server::{ImFileTransferReq, ImFileTransferRsp};
use teamtalk_proto::{CommandId, Pdu};

/// How long a test waits for any single answer before failing.
pub const WAIT: Duration = Duration::from_secs(20);

static NEXT_DIR: AtomicUsize = AtomicUsize::new(0);

/// A fresh, empty directory for one test, removed when dropped.
pub struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn temp_dir(name: &str) -> TempDir {
    let n = NEXT_DIR.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!(
        "file_server-test-{}-{name}-{n}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

/// A config for 127.0.0.1 with ephemeral ports and `offline_dir`.
pub fn config(offline_dir: &Path) -> Config {
    let conf = Conf::parse(
        "ClientListenIP=127.0.0.1\nClientListenPort=0\nMsgServerListenIP=127.0.0.1\n\
         MsgServerListenPort=0\nTaskTimeout=3600\n",
    );
    let mut config = Config::from_conf(&conf).unwrap();
    config.offline_dir = offline_dir.to_owned();
    config
}

/// Boots a server.
pub fn start(config: Config) -> ServerHandle {
    netlib::logging::init_for_tests();
    Server::bind(config).unwrap().spawn().unwrap()
}

/// A blocking connection speaking PDUs.
pub struct PduConn {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl PduConn {
    pub fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        Self {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, pdu: &Pdu) {
        self.stream.write_all(&pdu.encode()).unwrap();
    }

    pub fn send_msg(&mut self, cmd: CommandId, seq: u16, msg: &impl Message) {
        self.send(&Pdu::new(cmd, seq, msg));
    }

    /// The next whole PDU as raw bytes.
    pub fn recv_raw(&mut self) -> Vec<u8> {
        loop {
            if self.buf.len() >= 4 {
                let len = u32::from_be_bytes(self.buf[..4].try_into().unwrap()) as usize;
                if self.buf.len() >= len {
                    return self.buf.drain(..len).collect();
                }
            }
            let mut chunk = [0u8; 65536];
            let n = self.stream.read(&mut chunk).expect("read timed out");
            assert!(n > 0, "connection closed while waiting for a pdu");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// The next PDU, or `None` when the server closes the connection first.
    pub fn try_recv(&mut self) -> Option<Pdu> {
        loop {
            if self.buf.len() >= 4 {
                let len = u32::from_be_bytes(self.buf[..4].try_into().unwrap()) as usize;
                if self.buf.len() >= len {
                    let raw: Vec<u8> = self.buf.drain(..len).collect();
                    return Some(Pdu::decode(&raw, usize::MAX).unwrap().unwrap().0);
                }
            }
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("neither a pdu nor a close: {e}"),
            }
        }
    }

    pub fn recv(&mut self) -> Pdu {
        let raw = self.recv_raw();
        Pdu::decode(&raw, usize::MAX).unwrap().unwrap().0
    }

    /// The next PDU, which must carry `cmd`, parsed.
    pub fn recv_msg<M: Message + prost::Name + Default>(&mut self, cmd: CommandId) -> (Pdu, M) {
        let pdu = self.recv();
        assert_eq!(pdu.command(), Some(cmd), "unexpected pdu {:?}", pdu.header);
        let msg = pdu.parse().unwrap();
        (pdu, msg)
    }

    /// Asserts the server closes the connection without sending anything more.
    pub fn expect_closed(&mut self) {
        assert!(self.buf.is_empty(), "unread bytes before close");
        let mut chunk = [0u8; 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => {}
            Ok(n) => panic!("expected close, got {n} bytes"),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            Err(e) => panic!("expected close, got {e}"),
        }
    }

    /// Asserts nothing arrives for a short while (a heartbeat round trip proves liveness).
    pub fn expect_alive(&mut self) {
        let hb = Pdu::empty(CommandId::OtherHeartbeat, 4242);
        self.send(&hb);
        assert_eq!(
            self.recv_raw(),
            hb.encode(),
            "expected only the heartbeat echo"
        );
    }
}

/// Creates a task over a msg-server link; returns its id.
pub fn create_task(msg: &mut PduConn, from: u32, to: u32, size: u32, mode: i32) -> String {
    let rsp = request_task(msg, from, to, "photo.png", size, mode);
    assert_eq!(rsp.result_code, 0);
    rsp.task_id.unwrap()
}

/// Asks for a task over a msg-server link; returns the answer, whatever its result.
pub fn request_task(
    msg: &mut PduConn,
    from: u32,
    to: u32,
    file_name: &str,
    size: u32,
    mode: i32,
) -> ImFileTransferRsp {
    let req = ImFileTransferReq {
        from_user_id: from,
        to_user_id: to,
        file_name: file_name.into(),
        file_size: size,
        trans_mode: mode,
        attach_data: Some(vec![0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0, 0]),
    };
    msg.send_msg(CommandId::OtherFileTransferReq, 3, &req);
    let (_, rsp): (_, ImFileTransferRsp) = msg.recv_msg(CommandId::OtherFileTransferRsp);
    rsp
}

/// Polls `check` until it holds or `WAIT` passes; returns whether it held.
pub fn eventually(mut check: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + WAIT;
    while std::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    check()
}
