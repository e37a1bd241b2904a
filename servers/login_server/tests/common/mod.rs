//! A login_server booted in-process, scripted fake msg_servers, and raw HTTP clients.
#![allow(clippy::unwrap_used, dead_code, unreachable_pub)]

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use login_server::{Config, Server, ServerHandle};
use netlib::Conf;
use teamtalk_proto::pb::server::{ImMsgServInfo, ImUserCntUpdate};
use teamtalk_proto::{CommandId, Pdu};

/// How long a test waits for something that must happen.
pub const DEADLINE: Duration = Duration::from_secs(15);
pub const MSFS: &str = "http://127.0.0.1:8700/";
pub const DISCOVERY: &str = "http://127.0.0.1/api/discovery";

/// The sample conf with every port 0.
pub fn test_conf() -> Conf {
    Conf::from_pairs([
        ("ClientListenIP", "127.0.0.1"),
        ("ClientPort", "0"),
        ("HttpListenIP", "127.0.0.1"),
        ("HttpPort", "0"),
        ("MsgServerListenIP", "127.0.0.1"),
        ("MsgServerPort", "0"),
        ("msfs", MSFS),
        ("discovery", DISCOVERY),
    ])
}

/// A login_server on 127.0.0.1:0 with the given tweaks to its config.
pub fn start_with(tweak: impl FnOnce(&mut Config)) -> ServerHandle {
    netlib::logging::init_for_tests();
    let mut config = Config::from_conf(&test_conf()).unwrap();
    tweak(&mut config);
    Server::bind(config).unwrap().spawn().unwrap()
}

/// A login_server with the sample settings.
pub fn start() -> ServerHandle {
    start_with(|_| {})
}

/// A PDU connection (fake msg_server or legacy client).
pub struct PduConn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl PduConn {
    pub fn connect(addr: SocketAddr) -> Self {
        Self::with_stream(TcpStream::connect(addr).unwrap())
    }

    /// A connection whose source address is `local_ip` (any 127.x address works on Linux).
    pub fn connect_from(local_ip: &str, addr: SocketAddr) -> Self {
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        let local: SocketAddr = format!("{local_ip}:0").parse().unwrap();
        socket.bind(&local.into()).unwrap();
        socket.connect(&addr.into()).unwrap();
        Self::with_stream(socket.into())
    }

    fn with_stream(stream: TcpStream) -> Self {
        stream.set_nodelay(true).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        Self {
            stream,
            buf: Vec::new(),
        }
    }

    /// Sends PDUs in one write, so login_server reads and handles them together.
    pub fn send_all(&mut self, pdus: &[Pdu]) {
        let mut bytes = Vec::new();
        for pdu in pdus {
            pdu.encode_into(&mut bytes);
        }
        self.stream.write_all(&bytes).unwrap();
    }

    pub fn send(&mut self, pdu: &Pdu) {
        self.send_all(std::slice::from_ref(pdu));
    }

    /// Next whole PDU as raw bytes; `None` once login_server closed the connection.
    pub fn recv_raw(&mut self) -> Option<Vec<u8>> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if self.buf.len() >= 16 {
                let len = u32::from_be_bytes(self.buf[..4].try_into().unwrap()) as usize;
                if self.buf.len() >= len {
                    return Some(self.buf.drain(..len).collect());
                }
            }
            assert!(
                Instant::now() < deadline,
                "nothing from login_server in time"
            );
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("read failed: {e}"),
            }
        }
    }

    /// Next PDU other than a heartbeat.
    pub fn recv(&mut self) -> Option<Pdu> {
        loop {
            let bytes = self.recv_raw()?;
            let (pdu, _) = Pdu::decode(&bytes, usize::MAX).unwrap().unwrap();
            if pdu.header.command_id != CommandId::OtherHeartbeat as u16 {
                return Some(pdu);
            }
        }
    }

    /// Waits until login_server closes the connection; returns the non-heartbeat PDUs that came
    /// first.
    pub fn until_closed(&mut self) -> Vec<Pdu> {
        let mut seen = Vec::new();
        while let Some(pdu) = self.recv() {
            seen.push(pdu);
        }
        seen
    }

    pub fn kill(self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// IMMsgServInfo as a msg_server sends it on connect.
pub fn serv_info(ip1: &str, ip2: &str, port: u32, cur: u32, max: u32) -> Pdu {
    let msg = ImMsgServInfo {
        ip1: ip1.into(),
        ip2: ip2.into(),
        port,
        max_conn_cnt: max,
        cur_conn_cnt: cur,
        host_name: "fake-host".into(),
        ..Default::default()
    };
    Pdu::new(CommandId::OtherMsgServInfo, 0, &msg)
}

/// IMUserCntUpdate with `action` (1 inc, 2 dec).
pub fn cnt_update(action: u32) -> Pdu {
    let msg = ImUserCntUpdate {
        user_action: action,
        user_id: 9,
    };
    Pdu::new(CommandId::OtherUserCntUpdate, 0, &msg)
}

/// Sends raw request bytes and reads until login_server closes the connection.
pub fn http_raw(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    // The server may close before taking everything (oversized requests); that is an answer.
    let _ = stream.write_all(request);
    read_to_close(&mut stream)
}

/// Reads until EOF (or a reset, which also ends the answer).
pub fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return out,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!("no answer in time: {e}"),
        }
    }
}

/// `GET /msg_server` the way clients send it.
pub fn get_msg_server(addr: SocketAddr) -> Vec<u8> {
    http_raw(
        addr,
        format!("GET /msg_server HTTP/1.1\r\nHost: {addr}\r\nAccept: */*\r\n\r\n").as_bytes(),
    )
}

/// Repeats `GET /msg_server` until the answer is `expected` (login_server handles msg_server
/// links and HTTP connections independently, so a report shows up "soon", not at once).
pub fn await_answer(addr: SocketAddr, expected: &[u8]) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let got = get_msg_server(addr);
        if got == expected {
            return;
        }
        if Instant::now() > deadline {
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(expected)
            );
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// The answer's header block for a body.
fn http_response(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nConnection:close\r\nContent-Length:{}\r\n\
         Content-Type:text/html;charset=utf-8\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The exact code-0 answer (PROTOCOL §8.2).
pub fn answer_ok(prior: &str, backup: &str, port: u32) -> Vec<u8> {
    http_response(&format!(
        "{{\n   \"backupIP\" : \"{backup}\",\n   \"code\" : 0,\n   \"discovery\" : \"{DISCOVERY}\",\n   \
         \"msfsBackup\" : \"{MSFS}\",\n   \"msfsPrior\" : \"{MSFS}\",\n   \"msg\" : \"\",\n   \
         \"port\" : \"{port}\",\n   \"priorIP\" : \"{prior}\"\n}}\n"
    ))
}

/// The exact code-1 answer: no msg_server registered.
pub fn answer_no_server() -> Vec<u8> {
    http_response("{\n   \"code\" : 1,\n   \"msg\" : \"没有msg_server\"\n}\n")
}

/// The exact code-2 answer: every msg_server full.
pub fn answer_all_full() -> Vec<u8> {
    http_response("{\n   \"code\" : 2,\n   \"msg\" : \"负载过高\"\n}\n")
}
