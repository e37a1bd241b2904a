//! The msg_server binary: its command line (`-v`, `--help`, `--version`, `--config`, usage
//! errors), conf errors, `server.pid`, the signals of CONFIG §1.1 and the `LogFile` reopened on
//! SIGHUP.

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

/// A conf whose back ends are on a port nobody listens on: the server runs and keeps
/// retrying them.
const RUNNABLE_CONF: &str = "ListenIP=127.0.0.1\nListenPort=0\nIpAddr1=127.0.0.1\nMaxConnCnt=10\n\
     aesKey=12345678901234567890123456789012\nConcurrentDBConnCnt=1\n\
     DBServerIP1=127.0.0.1\nDBServerPort1=1\nDBServerIP2=127.0.0.1\nDBServerPort2=1\n";

/// Waits for `server.pid` in `dir` to hold a pid, asserting the child still runs.
fn wait_for_pid(child: &mut std::process::Child, dir: &std::path::Path) -> String {
    let pid_file = dir.join("server.pid");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        // Poll until written completely (the file appears before its content).
        match std::fs::read_to_string(&pid_file) {
            Ok(text) if !text.is_empty() => return text,
            _ => {}
        }
        assert!(Instant::now() < deadline, "no server.pid");
        assert!(child.try_wait().unwrap().is_none(), "exited early");
        thread::sleep(Duration::from_millis(20));
    }
}

fn wait_for_exit(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "still running");
        thread::sleep(Duration::from_millis(20));
    }
}

fn kill(sig: &str, pid: &str) {
    assert!(
        Command::new("kill")
            .args([sig, pid])
            .status()
            .unwrap()
            .success()
    );
}

#[test]
fn help_names_the_flags_and_the_default_conf() {
    let dir = work_dir("help");
    for flag in ["--help", "-h"] {
        let out = Command::new(BIN)
            .arg(flag)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("--config PATH"), "{text}");
        assert!(text.contains("msgserver.conf"), "{text}");
        assert!(text.contains("RUST_LOG"), "{text}");
    }
    assert!(!dir.join("server.pid").exists(), "--help started a server");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn version_names_the_release_and_the_build() {
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("msg_server (teamtalk-rs "), "{text}");
    assert!(text.contains("\nServer Build: "), "{text}");
}

#[test]
fn unknown_arguments_exit_2_without_starting() {
    let dir = work_dir("usage");
    std::fs::write(dir.join("msgserver.conf"), RUNNABLE_CONF).unwrap();
    for args in [&["--bogus"][..], &["start"], &["--config"], &["-v", "-x"]] {
        let out = Command::new(BIN)
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("usage: msg_server"), "{args:?}: {err}");
    }
    assert!(
        !dir.join("server.pid").exists(),
        "a bad command line started a server"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn config_flag_reads_that_file_and_names_it_when_missing() {
    let conf_dir = work_dir("confdir");
    let run_dir = work_dir("rundir");
    let conf = conf_dir.join("other-name.conf");
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&conf)
        .current_dir(&run_dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("other-name.conf"));

    std::fs::write(&conf, RUNNABLE_CONF).unwrap();
    let mut child = Command::new(BIN)
        .arg(format!("--config={}", conf.display()))
        .current_dir(&run_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The pid file stays in the working directory, as in the original.
    let pid = wait_for_pid(&mut child, &run_dir);
    kill("-TERM", &pid);
    assert!(wait_for_exit(&mut child).success());
    let _ = std::fs::remove_dir_all(conf_dir);
    let _ = std::fs::remove_dir_all(run_dir);
}

#[test]
fn log_file_is_appended_and_reopened_on_sighup() {
    let dir = work_dir("logfile");
    std::fs::write(
        dir.join("msgserver.conf"),
        format!("{RUNNABLE_CONF}LogFile=ms.log\n"),
    )
    .unwrap();
    std::fs::write(dir.join("ms.log"), "earlier run\n").unwrap();
    let mut child = Command::new(BIN)
        .current_dir(&dir)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = wait_for_pid(&mut child, &dir);
    let log = dir.join("ms.log");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.starts_with("earlier run\n"), "appends: {text}");
    assert!(text.contains("msg_server listening"), "{text}");
    // What logrotate does: move the file away, then SIGHUP; the server keeps running and
    // writes its next records to a new file at the configured path.
    std::fs::rename(&log, dir.join("ms.log.1")).unwrap();
    kill("-HUP", &pid);
    kill("-USR2", &pid);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&log).is_ok_and(|t| t.contains("per-message logging")) {
        assert!(Instant::now() < deadline, "no record in the reopened log");
        assert!(
            child.try_wait().unwrap().is_none(),
            "SIGHUP stopped the server"
        );
        thread::sleep(Duration::from_millis(20));
    }
    kill("-TERM", &pid);
    let status = wait_for_exit(&mut child);
    assert!(status.success());
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(
        !stderr.contains("listening"),
        "records went to stderr too: {stderr}"
    );
    let _ = std::fs::remove_dir_all(dir);
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
