//! A scripted fake msg_server speaking raw PDUs to a route_server booted in-process.
#![allow(clippy::unwrap_used, dead_code, unreachable_pub)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use netlib::Conf;
use route_server::{Config, Server, ServerHandle};
use teamtalk_proto::pb::base_define::ServerUserStat;
use teamtalk_proto::pb::buddy::{ImUsersStatReq, ImUsersStatRsp};
use teamtalk_proto::pb::server::{ImOnlineUserInfo, ImUserStatusUpdate};
use teamtalk_proto::{CommandId, Pdu};

pub const ONLINE: u32 = 1;
pub const OFFLINE: u32 = 2;
pub const LEAVE: u32 = 3;
pub const WINDOWS: i32 = 0x01;
pub const MAC: i32 = 0x02;
pub const IOS: i32 = 0x11;
pub const ANDROID: i32 = 0x12;

/// How long a test waits for something that must happen.
pub const DEADLINE: Duration = Duration::from_secs(15);
/// Attach data marking the probe queries `sync` sends.
const SYNC_ATTACH: &[u8] = b"sync-probe";

/// A route_server on 127.0.0.1:0 with the given tweaks to its config.
pub fn start_with(tweak: impl FnOnce(&mut Config)) -> ServerHandle {
    netlib::logging::init_for_tests();
    let conf = Conf::from_pairs([("ListenIP", "127.0.0.1"), ("ListenMsgPort", "0")]);
    let mut config = Config::from_conf(&conf).unwrap();
    tweak(&mut config);
    Server::bind(config).unwrap().spawn().unwrap()
}

/// A route_server with the default config on 127.0.0.1:0.
pub fn start() -> ServerHandle {
    start_with(|_| {})
}

/// One scripted msg_server link.
pub struct FakeMsgServer {
    stream: TcpStream,
    buf: Vec<u8>,
    next_seq: u16,
}

impl FakeMsgServer {
    pub fn connect(addr: SocketAddr) -> Self {
        Self::with_stream(TcpStream::connect(addr).unwrap())
    }

    /// A link whose source address is `local_ip` (any 127.x address works on Linux).
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
            next_seq: 0x4000,
        }
    }

    pub fn send(&mut self, pdu: &Pdu) {
        let mut bytes = Vec::new();
        pdu.encode_into(&mut bytes);
        self.send_raw(&bytes);
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Reports one client's status change (IMUserStatusUpdate).
    pub fn status(&mut self, user_id: u32, status: u32, client_type: i32) {
        let msg = ImUserStatusUpdate {
            user_status: status,
            user_id,
            client_type,
        };
        self.send(&Pdu::new(CommandId::OtherUserStatusUpdate, 0, &msg));
    }

    /// Sends the connect-time list of online clients (IMOnlineUserInfo).
    pub fn online_list(&mut self, entries: &[(u32, u32, i32)]) {
        let msg = ImOnlineUserInfo {
            user_stat_list: entries
                .iter()
                .map(|&(user_id, status, client_type)| ServerUserStat {
                    user_id,
                    status: status as i32,
                    client_type,
                })
                .collect(),
        };
        self.send(&Pdu::new(CommandId::OtherOnlineUserInfo, 0, &msg));
    }

    /// Next whole PDU as raw bytes, heartbeats included; `None` on EOF, panics after `DEADLINE`.
    pub fn recv_raw_any(&mut self) -> Option<Vec<u8>> {
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
                "no pdu from route_server in time"
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

    /// Next PDU other than a server heartbeat, as raw bytes.
    pub fn recv_raw(&mut self) -> Vec<u8> {
        loop {
            let bytes = self.recv_raw_any().expect("route_server closed the link");
            if decode(&bytes).header.command_id != CommandId::OtherHeartbeat as u16 {
                return bytes;
            }
        }
    }

    /// Next PDU other than a server heartbeat.
    pub fn recv(&mut self) -> Pdu {
        decode(&self.recv_raw())
    }

    /// Round trip through route_server: everything it sent this link before answering the probe
    /// (heartbeats left out). Because route_server handles each link's PDUs in order and writes
    /// broadcasts before it reads further, anything another link caused before that link's own
    /// `sync` returned is in the result.
    pub fn sync(&mut self) -> Vec<Pdu> {
        self.next_seq = self.next_seq.wrapping_add(1);
        let seq = self.next_seq;
        let probe = ImUsersStatReq {
            user_id: 0,
            user_id_list: Vec::new(),
            attach_data: Some(SYNC_ATTACH.to_vec()),
        };
        self.send(&Pdu::new(
            CommandId::BuddyListUsersStatusRequest,
            seq,
            &probe,
        ));
        let mut seen = Vec::new();
        loop {
            let pdu = self.recv();
            if pdu.header.command_id == CommandId::BuddyListUsersStatusResponse as u16
                && pdu.header.seq_num == seq
                && pdu
                    .parse::<ImUsersStatRsp>()
                    .unwrap()
                    .attach_data
                    .as_deref()
                    == Some(SYNC_ATTACH)
            {
                return seen;
            }
            seen.push(pdu);
        }
    }

    /// Asks for the status of `ids`; returns (id, status) in answer order. Notifications that
    /// arrive first are skipped.
    pub fn query(&mut self, ids: &[u32]) -> Vec<(u32, i32)> {
        let req = ImUsersStatReq {
            user_id: 1,
            user_id_list: ids.to_vec(),
            attach_data: None,
        };
        self.send(&Pdu::new(CommandId::BuddyListUsersStatusRequest, 77, &req));
        let pdu = loop {
            let pdu = self.recv();
            if pdu.header.command_id == CommandId::BuddyListUsersStatusResponse as u16 {
                break pdu;
            }
        };
        pdu.parse::<ImUsersStatRsp>()
            .unwrap()
            .user_stat_list
            .iter()
            .map(|s| (s.user_id, s.status))
            .collect()
    }

    /// Waits until route_server closes the link, discarding whatever arrives first.
    pub fn expect_closed(&mut self) {
        while self.recv_raw_any().is_some() {}
    }

    /// Closes the TCP connection.
    pub fn kill(self) {
        drop(self.stream);
    }
}

/// Decodes one whole PDU.
pub fn decode(bytes: &[u8]) -> Pdu {
    let (pdu, used) = Pdu::decode(bytes, usize::MAX).unwrap().unwrap();
    assert_eq!(used, bytes.len());
    pdu
}

/// What a notification PDU says, for compact assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// IMServerPCLoginStatusNotify {user_id, login_status}.
    PcLogin(u32, u32),
    /// IMUserStatNotify {user_id, status}.
    Stat(u32, i32),
}

/// Turns notifications into [`Note`]s, checking their headers; panics on anything else.
pub fn notes(pdus: &[Pdu]) -> Vec<Note> {
    use teamtalk_proto::pb::buddy::ImUserStatNotify;
    use teamtalk_proto::pb::server::ImServerPcLoginStatusNotify;
    pdus.iter()
        .map(|pdu| {
            let h = pdu.header;
            assert_eq!((h.version, h.flag, h.seq_num, h.reserved), (1, 0, 0, 0));
            match CommandId::try_from(h.command_id).unwrap() {
                CommandId::OtherLoginStatusNotify => {
                    assert_eq!(h.service_id, 7);
                    let m = pdu.parse::<ImServerPcLoginStatusNotify>().unwrap();
                    Note::PcLogin(m.user_id, m.login_status)
                }
                CommandId::BuddyListStatusNotify => {
                    assert_eq!(h.service_id, 2);
                    let m = pdu.parse::<ImUserStatNotify>().unwrap();
                    Note::Stat(m.user_stat.user_id, m.user_stat.status)
                }
                other => panic!("unexpected {other}"),
            }
        })
        .collect()
}
