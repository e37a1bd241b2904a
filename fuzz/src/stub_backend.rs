//! A stand-in for every back end of msg_server (db_proxy, login_server, route_server,
//! push_server, file_server) so a fuzzed client can get past login.
//!
//! msg_server accepts a login only while it has a db_proxy, a login_server and a route_server
//! link, and only after db_proxy validates the user. The stand-in accepts any number of links,
//! answers every IMValidateReq with success for a user id taken from a rotating range (so the
//! per-user rate limits do not shut the fuzzed traffic out after a few inputs), sends heartbeats so
//! no link idles out, and reads and drops everything else. Requests msg_server forwards after login
//! therefore stay unanswered and end through msg_server's request deadline, which is part of what
//! the session target exercises.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use teamtalk_proto::pb::base_define::UserInfo;
use teamtalk_proto::pb::server::{ImValidateReq, ImValidateRsp};
use teamtalk_proto::{CommandId, DEFAULT_MAX_PDU_LEN, Pdu};

/// User ids handed out by validation cycle through `FIRST_USER_ID..FIRST_USER_ID + USER_IDS`.
const FIRST_USER_ID: u32 = 1_000;
const USER_IDS: u32 = 4_096;
/// Heartbeats often enough that msg_server never takes a link for dead: it closes a link that
/// brought nothing since a request that expired went out on it, and the session target runs
/// msg_server with a short request deadline.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);
/// How long a link read blocks before the heartbeat clock is checked.
const POLL: Duration = Duration::from_millis(200);

/// Starts the stand-in on `127.0.0.1:0` for the life of the process and returns its address.
pub fn start() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("loopback bind");
    let addr = listener.local_addr().expect("bound socket has an address");
    thread::Builder::new()
        .name("stub-backend".into())
        .spawn(move || {
            let next_user = std::sync::Arc::new(AtomicU32::new(0));
            for stream in listener.incoming() {
                // libFuzzer's -timeout alarm may interrupt accept; the next call retries.
                let Ok(stream) = stream else { continue };
                let next_user = next_user.clone();
                thread::Builder::new()
                    .name("stub-link".into())
                    .spawn(move || serve(stream, &next_user))
                    .expect("stub link thread starts");
            }
        })
        .expect("stub listener thread starts");
    addr
}

/// Serves one msg_server link until msg_server closes it.
fn serve(mut stream: TcpStream, next_user: &AtomicU32) {
    stream
        .set_read_timeout(Some(POLL))
        .expect("a non-zero timeout is valid");
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut last_heartbeat = Instant::now();
    loop {
        if last_heartbeat.elapsed() >= HEARTBEAT_EVERY {
            last_heartbeat = Instant::now();
            if stream
                .write_all(&Pdu::empty(CommandId::OtherHeartbeat, 0).encode())
                .is_err()
            {
                return;
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::Interrupted | ErrorKind::WouldBlock | ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(_) => return,
        }
        loop {
            // msg_server frames what it forwards; a framing error here is a msg_server bug.
            let (pdu, used) = match Pdu::decode(&buf, DEFAULT_MAX_PDU_LEN) {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(e) => panic!("msg_server sent an unframeable PDU on a back-end link: {e}"),
            };
            buf.drain(..used);
            if pdu.command() == Some(CommandId::OtherValidateReq) {
                let answer = validate(&pdu, next_user);
                if stream.write_all(&answer.encode()).is_err() {
                    return;
                }
            }
        }
    }
}

/// A successful validation of the requested name.
fn validate(pdu: &Pdu, next_user: &AtomicU32) -> Pdu {
    let req: ImValidateReq = pdu
        .parse()
        .expect("msg_server forwards the validation it built");
    let user_id = FIRST_USER_ID + next_user.fetch_add(1, Ordering::Relaxed) % USER_IDS;
    let rsp = ImValidateRsp {
        user_name: req.user_name,
        result_code: 0,
        result_string: None,
        user_info: Some(UserInfo {
            user_id,
            user_nick_name: format!("fuzz{user_id}"),
            department_id: 1,
            ..Default::default()
        }),
        attach_data: req.attach_data,
    };
    Pdu::new(CommandId::OtherValidateRsp, pdu.header.seq_num, &rsp)
}
