//! The msg_server binary: `-v`, conf errors, `server.pid`, and the signals of CONFIG §1.1.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_msg_server");

fn work_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "msg_server-bin-{tag}-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

#[test]
fn dash_v_prints_only_the_build_line() {
    let out = Command::new(BIN).arg("-v").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("Server Build: "), "{text}");
    assert_eq!(text.lines().count(), 1);
}

#[test]
fn a_bad_conf_is_refused_naming_the_key() {
    let dir = work_dir("bad");
    std::fs::write(
        dir.join("msgserver.conf"),
        "ListenIP=127.0.0.1\nListenPort=0\naesKey=tooshort\n",
    )
    .unwrap();
    let out = Command::new(BIN).current_dir(&dir).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("aesKey"));
    let missing = work_dir("none");
    let out = Command::new(BIN).current_dir(&missing).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("msgserver.conf"));
    let _ = std::fs::remove_dir_all(dir);
    let _ = std::fs::remove_dir_all(missing);
}

#[test]
fn runs_writes_its_pid_and_stops_on_sighup_after_usr_signals() {
    let dir = work_dir("run");
    // Back ends on a port nobody listens on: the server runs and keeps retrying them.
    std::fs::write(
        dir.join("msgserver.conf"),
        "ListenIP=127.0.0.1\nListenPort=0\nIpAddr1=127.0.0.1\nMaxConnCnt=10\n\
         aesKey=12345678901234567890123456789012\nConcurrentDBConnCnt=1\n\
         DBServerIP1=127.0.0.1\nDBServerPort1=1\nDBServerIP2=127.0.0.1\nDBServerPort2=1\n",
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid_file = dir.join("server.pid");
    let deadline = Instant::now() + Duration::from_secs(20);
    let pid = loop {
        // Poll until written completely (the file appears before its content).
        match std::fs::read_to_string(&pid_file) {
            Ok(text) if !text.is_empty() => break text,
            _ => {}
        }
        assert!(Instant::now() < deadline, "no server.pid");
        assert!(child.try_wait().unwrap().is_none(), "exited early");
        thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(pid, child.id().to_string(), "decimal pid, no newline");
    for sig in ["-USR1", "-USR2", "-USR2"] {
        assert!(
            Command::new("kill")
                .args([sig, &pid])
                .status()
                .unwrap()
                .success()
        );
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "USR signals do not stop it"
    );
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "still running after SIGHUP");
        thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success());
    let _ = std::fs::remove_dir_all(dir);
}
