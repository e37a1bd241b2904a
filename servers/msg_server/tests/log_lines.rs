//! The operator's log: one INFO line per login, refusal, kick and logout, naming the user,
//! the client type and the peer address, and never the password (D-LEAK-2). The log is
//! captured in this process by a logger installed before the harness's own.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use log::{Level, LevelFilter, Log, Metadata, Record};
use support::*;
use teamtalk_proto::pb::login::{ImKickUser, ImLoginRes, ImLogoutReq};
use teamtalk_proto::pb::server::{ImValidateReq, ImValidateRsp};
use teamtalk_proto::{CommandId, Pdu};

/// Keeps every INFO-or-louder record of msg_server.
struct Capture(Mutex<Vec<String>>);

impl Log for Capture {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= Level::Info
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) && record.target().starts_with("msg_server") {
            let line = format!("{} {}", record.level(), record.args());
            self.0.lock().unwrap().push(line);
        }
    }

    fn flush(&self) {}
}

fn capture() -> &'static Capture {
    static CAPTURE: OnceLock<&'static Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture: &'static Capture = Box::leak(Box::new(Capture(Mutex::new(Vec::new()))));
        log::set_logger(capture).unwrap();
        log::set_max_level(LevelFilter::Info);
        capture
    })
}

/// Waits for an INFO line containing every one of `parts`, and returns it.
fn wait_line(parts: &[&str]) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let lines = capture().0.lock().unwrap().clone();
        if let Some(line) = lines
            .iter()
            .find(|l| l.starts_with("INFO ") && parts.iter().all(|p| l.contains(p)))
        {
            return line.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no line with {parts:?} in {lines:#?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

fn all_lines() -> String {
    capture().0.lock().unwrap().join("\n")
}

#[test]
fn login_kick_and_logout_each_log_user_type_and_peer() {
    capture();
    let h = Harness::ready();
    let mut first = h.login("loguser", 7101, ANDROID);
    let peer = first.local_addr().to_string();
    let line = wait_line(&["login:", "user=7101", &format!("peer={peer}")]);
    assert!(line.contains(&format!("client_type={ANDROID}")), "{line}");

    // A second phone login of the same user kicks the first.
    let _second = h.login("loguser", 7101, ANDROID);
    first
        .expect(CommandId::LoginKickUser)
        .parse::<ImKickUser>()
        .unwrap();
    let line = wait_line(&["kicking client:", "user=7101", &format!("peer={peer}")]);
    assert!(line.contains("KickReasonDuplicateUser"), "{line}");
    // Its close is announced before the next login's announcements.
    h.fakes.route.expect(CommandId::OtherUserStatusUpdate);
    h.fakes.login.expect(CommandId::OtherUserCntUpdate);

    let mut third = h.login("logout", 7102, ANDROID);
    let peer = third.local_addr().to_string();
    third.send(CommandId::LoginReqLoginout, &ImLogoutReq {});
    third.wait_closed();
    wait_line(&[
        "logout:",
        "user=7102",
        &format!("client_type={ANDROID}"),
        &format!("peer={peer}"),
    ]);
    assert!(!all_lines().contains("cc03e747a6afbbcbf8be7668acfebee5"));
}

#[test]
fn a_refused_login_logs_the_reason_and_no_password() {
    capture();
    let h = Harness::ready();
    let mut c = TestClient::connect(h.addr);
    let peer = c.local_addr().to_string();
    let seq = c.send(CommandId::LoginReqUserlogin, &login_req("badpass", IOS));
    let (i, pdu) = h.fakes.db_login.expect(CommandId::OtherValidateReq);
    let req: ImValidateReq = pdu.parse().unwrap();
    let rsp = ImValidateRsp {
        user_name: "badpass".into(),
        result_code: 1,
        result_string: Some("密码错误".into()),
        user_info: None,
        attach_data: req.attach_data,
    };
    h.fakes
        .db_login
        .send(i, &Pdu::new(CommandId::OtherValidateRsp, seq, &rsp));
    let res: ImLoginRes = c.expect(CommandId::LoginResUserlogin).parse().unwrap();
    assert_ne!(res.result_code, 0);
    let line = wait_line(&["login refused:", "name=badpass", &format!("peer={peer}")]);
    assert!(
        line.contains("reason=RefuseReasonDbValidateFailed"),
        "{line}"
    );
    assert!(line.contains(&format!("client_type={IOS}")), "{line}");
    assert!(!all_lines().contains(&req.password));
}
