//! A scripted fake msg_server for the client tests: a std TcpListener on 127.0.0.1:0 whose
//! connections are driven by a closure that decodes and encodes real PDUs.

#![allow(dead_code, clippy::unwrap_used, unreachable_pub)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use prost::Message;
use tt_client::crypto::md5_hex;
use tt_client::pb::base_define::{DepartInfo, MsgInfo, MsgType, UnreadInfo, UserInfo, UserStat};
use tt_client::pb::buddy::{
    ImAllUserRsp, ImDepartmentRsp, ImUsersInfoReq, ImUsersInfoRsp, ImUsersStatReq, ImUsersStatRsp,
};
use tt_client::pb::group::{ImGroupInfoListReq, ImGroupInfoListRsp, ImNormalGroupListRsp};
use tt_client::pb::login::{ImLoginReq, ImLoginRes};
use tt_client::pb::message::{
    ImClientTimeRsp, ImGetLatestMsgIdReq, ImGetLatestMsgIdRsp, ImGetMsgListReq, ImGetMsgListRsp,
    ImMsgData, ImMsgDataAck, ImUnreadMsgCntRsp,
};
use tt_client::{CommandId, DEFAULT_AES_KEY, Pdu};

/// Generous upper bound for anything the tests wait for; never a timing assertion.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// One accepted connection, seen from the fake server.
pub struct FakeConn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl FakeConn {
    fn new(stream: TcpStream) -> Self {
        stream.set_nodelay(true).unwrap();
        Self {
            stream,
            buf: Vec::new(),
        }
    }

    /// The next PDU from the client, or `None` if the client closed or nothing came in time.
    pub fn recv_within(&mut self, timeout: Duration) -> Option<Pdu> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some((pdu, used)) = Pdu::decode(&self.buf, usize::MAX).unwrap() {
                self.buf.drain(..used);
                return Some(pdu);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.stream.set_read_timeout(Some(left)).unwrap();
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return None;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        }
    }

    /// The next PDU other than a heartbeat; panics if none arrives within [`PATIENCE`].
    pub fn recv(&mut self) -> Pdu {
        loop {
            let pdu = self.recv_within(PATIENCE).expect("a pdu from the client");
            if pdu.header.command_id != CommandId::OtherHeartbeat as u16 {
                return pdu;
            }
        }
    }

    /// Like [`FakeConn::recv`], asserting the command.
    pub fn expect(&mut self, cmd: CommandId) -> Pdu {
        let pdu = self.recv();
        assert_eq!(pdu.command(), Some(cmd), "unexpected pdu {:?}", pdu.header);
        pdu
    }

    /// Sends a PDU.
    pub fn send(&mut self, pdu: &Pdu) {
        self.stream.write_all(&pdu.encode()).unwrap();
    }

    /// Answers `request` with `msg` as `cmd`, echoing the request's seq.
    pub fn reply(&mut self, request: &Pdu, cmd: CommandId, msg: &impl Message) {
        self.send(&Pdu::reply(&request.header, cmd, msg));
    }

    /// Writes arbitrary bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Whether the client has closed its side (waits up to [`PATIENCE`], ignoring heartbeats).
    pub fn wait_client_close(&mut self) -> bool {
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            self.stream
                .set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return true,
            }
        }
        false
    }
}

/// Accepts exactly one connection and runs `script` on it; the connection closes when the
/// script returns.
pub fn serve_one<T: Send + 'static>(
    script: impl FnOnce(FakeConn) -> T + Send + 'static,
) -> (SocketAddr, JoinHandle<T>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        script(FakeConn::new(stream))
    });
    (addr, handle)
}

/// A login answer: success for `user_id`, or a refusal `code`.
pub fn login_res(code: i32, user: Option<UserInfo>) -> ImLoginRes {
    ImLoginRes {
        server_time: 1_431_000_000,
        result_code: code,
        result_string: Some(
            if code == 0 {
                "成功"
            } else {
                "服务端异常"
            }
            .to_owned(),
        ),
        online_status: (code == 0).then_some(1),
        user_info: user,
    }
}

/// A demo user.
pub fn user(user_id: u32, nick: &str) -> UserInfo {
    UserInfo {
        user_id,
        user_gender: 1,
        user_nick_name: nick.to_owned(),
        avatar_url: String::new(),
        department_id: 1,
        email: format!("{nick}@example.org"),
        user_real_name: format!("{nick} real"),
        user_tel: String::new(),
        user_domain: nick.to_owned(),
        status: 0,
        sign_info: None,
    }
}

/// A delivered single text message from `from` to `to`, encrypted with the default key.
pub fn text_msg(from: u32, to: u32, msg_id: u32, text: &str) -> ImMsgData {
    ImMsgData {
        from_user_id: from,
        to_session_id: to,
        msg_id,
        create_time: 1_431_000_001,
        msg_type: MsgType::SingleText as i32,
        msg_data: tt_client::crypto::encrypt_text(text, DEFAULT_AES_KEY).into_bytes(),
        attach_data: None,
    }
}

/// Users known to [`serve_msg_server`]: (id, name, password).
pub const USERS: [(u32, &str, &str); 2] = [(1, "alice", "secret"), (2, "bob", "hunter2")];

/// A small scripted msg_server for the command-line tests: accepts connections until the
/// listener is dropped, logs users of [`USERS`] in, and answers the queries `tt` makes with
/// canned data. Returns the address; the server thread runs for the rest of the test process.
pub fn serve_msg_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            thread::spawn(move || session(FakeConn::new(stream)));
        }
    });
    addr
}

fn session(mut conn: FakeConn) {
    let mut me = 0u32;
    let mut next_msg_id = 100u32;
    while let Some(pdu) = conn.recv_within(Duration::from_secs(60)) {
        let Some(cmd) = pdu.command() else { continue };
        match cmd {
            CommandId::OtherHeartbeat => conn.send(&pdu),
            CommandId::LoginReqUserlogin => {
                let req: ImLoginReq = pdu.parse().unwrap();
                let found = USERS
                    .iter()
                    .find(|(_, name, pw)| *name == req.user_name && md5_hex(pw) == req.password);
                match found {
                    Some(&(id, name, _)) => {
                        me = id;
                        conn.reply(
                            &pdu,
                            CommandId::LoginResUserlogin,
                            &login_res(0, Some(user(id, name))),
                        );
                        // A message waiting for the user, delivered right after login.
                        let peer = if id == 1 { 2 } else { 1 };
                        let welcome = text_msg(peer, id, 1, "welcome");
                        conn.send(&Pdu::new(CommandId::MsgData, 0, &welcome));
                    }
                    None => {
                        let mut res = login_res(6, None);
                        res.result_string = Some("用户名或密码错误".into());
                        conn.reply(&pdu, CommandId::LoginResUserlogin, &res);
                        return;
                    }
                }
            }
            CommandId::MsgData => {
                let msg: ImMsgData = pdu.parse().unwrap();
                next_msg_id += 1;
                let session_type = if msg.msg_type & 0x10 != 0 { 2 } else { 1 };
                let ack = ImMsgDataAck {
                    user_id: me,
                    session_id: msg.to_session_id,
                    msg_id: next_msg_id,
                    session_type,
                };
                conn.reply(&pdu, CommandId::MsgDataAck, &ack);
                // Echo the text back as a message from the peer, as if they answered.
                if session_type == 1 {
                    let text =
                        tt_client::crypto::decrypt_text(&msg.msg_data, DEFAULT_AES_KEY).unwrap();
                    let echo = text_msg(
                        msg.to_session_id,
                        me,
                        next_msg_id + 1,
                        &format!("re: {}", String::from_utf8_lossy(&text)),
                    );
                    conn.send(&Pdu::new(CommandId::MsgData, 0, &echo));
                }
            }
            CommandId::BuddyListAllUserRequest => {
                let rsp = ImAllUserRsp {
                    user_id: me,
                    latest_update_time: 1,
                    user_list: USERS.iter().map(|&(id, name, _)| user(id, name)).collect(),
                    attach_data: None,
                };
                conn.reply(&pdu, CommandId::BuddyListAllUserResponse, &rsp);
            }
            CommandId::BuddyListUserInfoRequest => {
                let req: ImUsersInfoReq = pdu.parse().unwrap();
                let rsp = ImUsersInfoRsp {
                    user_id: me,
                    user_info_list: USERS
                        .iter()
                        .filter(|(id, _, _)| req.user_id_list.contains(id))
                        .map(|&(id, name, _)| user(id, name))
                        .collect(),
                    attach_data: None,
                };
                conn.reply(&pdu, CommandId::BuddyListUserInfoResponse, &rsp);
            }
            CommandId::BuddyListUsersStatusRequest => {
                let req: ImUsersStatReq = pdu.parse().unwrap();
                let rsp = ImUsersStatRsp {
                    user_id: me,
                    user_stat_list: req
                        .user_id_list
                        .iter()
                        .map(|&id| UserStat {
                            user_id: id,
                            status: if id == 1 { 1 } else { 2 },
                        })
                        .collect(),
                    attach_data: None,
                };
                conn.reply(&pdu, CommandId::BuddyListUsersStatusResponse, &rsp);
            }
            CommandId::MsgUnreadCntRequest => {
                let rsp = ImUnreadMsgCntRsp {
                    user_id: me,
                    total_cnt: 3,
                    unreadinfo_list: vec![UnreadInfo {
                        session_id: 2,
                        session_type: 1,
                        unread_cnt: 3,
                        latest_msg_id: 7,
                        latest_msg_data: tt_client::crypto::encrypt_text(
                            "see you",
                            DEFAULT_AES_KEY,
                        )
                        .into_bytes(),
                        latest_msg_type: 1,
                        latest_msg_from_user_id: 2,
                    }],
                    attach_data: None,
                };
                conn.reply(&pdu, CommandId::MsgUnreadCntResponse, &rsp);
            }
            CommandId::MsgListRequest => {
                let req: ImGetMsgListReq = pdu.parse().unwrap();
                let msg = |id: u32, from: u32, text: &str| MsgInfo {
                    msg_id: id,
                    from_session_id: from,
                    create_time: 1_431_000_000 + id,
                    msg_type: 1,
                    msg_data: tt_client::crypto::encrypt_text(text, DEFAULT_AES_KEY).into_bytes(),
                };
                // Newest first, as db_proxy answers.
                let rsp = ImGetMsgListRsp {
                    user_id: me,
                    session_type: req.session_type,
                    session_id: req.session_id,
                    msg_id_begin: req.msg_id_begin,
                    msg_list: vec![msg(2, req.session_id, "second"), msg(1, me, "first")],
                    attach_data: None,
                };
                conn.reply(&pdu, CommandId::MsgListResponse, &rsp);
            }
            CommandId::GroupNormalListRequest => {
                let rsp = ImNormalGroupListRsp {
                    user_id: me,
                    group_version_list: vec![tt_client::pb::base_define::GroupVersionInfo {
                        group_id: 1,
                        version: 1,
                    }],
                    attach_data: None,
                };
                conn.reply(&pdu, CommandId::GroupNormalListResponse, &rsp);
            }
            CommandId::BuddyListDepartmentRequest => {
                let dept = |dept_id: u32, name: &str| DepartInfo {
                    dept_id,
                    priority: 0,
                    dept_name: name.to_owned(),
                    parent_dept_id: 0,
                    dept_status: 0,
                };
                let rsp = ImDepartmentRsp {
                    user_id: me,
                    latest_update_time: 1,
                    dept_list: vec![dept(1, "Engineering"), dept(2, "Product")],
                    attach_data: None,
                };
                conn.reply(&pdu, CommandId::BuddyListDepartmentResponse, &rsp);
            }
            CommandId::MsgGetLatestMsgIdReq => {
                let req: ImGetLatestMsgIdReq = pdu.parse().unwrap();
                let rsp = ImGetLatestMsgIdRsp {
                    user_id: me,
                    session_type: req.session_type,
                    session_id: req.session_id,
                    latest_msg_id: 7,
                    attach_data: None,
                };
                conn.reply(&pdu, CommandId::MsgGetLatestMsgIdRsp, &rsp);
            }
            CommandId::MsgTimeRequest => {
                let rsp = ImClientTimeRsp {
                    server_time: 1_431_000_000,
                };
                conn.reply(&pdu, CommandId::MsgTimeResponse, &rsp);
            }
            CommandId::GroupInfoRequest => {
                // Only group 1 exists (members alice and bob); group 3 exists without them.
                let req: ImGroupInfoListReq = pdu.parse().unwrap();
                let asked = |id: u32| req.group_version_list.iter().any(|g| g.group_id == id);
                let mut groups = vec![tt_client::pb::base_define::GroupInfo {
                    group_id: 3,
                    version: 1,
                    group_name: "others".into(),
                    group_avatar: String::new(),
                    group_creator_id: 3,
                    group_type: 1,
                    shield_status: 0,
                    group_member_list: vec![3],
                }];
                groups.retain(|g| asked(g.group_id));
                let rsp = ImGroupInfoListRsp {
                    user_id: me,
                    group_info_list: vec![tt_client::pb::base_define::GroupInfo {
                        group_id: 1,
                        version: 1,
                        group_name: "staff".into(),
                        group_avatar: String::new(),
                        group_creator_id: 1,
                        group_type: 1,
                        shield_status: 0,
                        group_member_list: vec![1, 2],
                    }]
                    .into_iter()
                    .filter(|g| asked(g.group_id))
                    .chain(groups)
                    .collect(),
                    attach_data: None,
                };
                conn.reply(&pdu, CommandId::GroupInfoResponse, &rsp);
            }
            _ => {}
        }
    }
}
