//! The `tt` binary against the scripted fake msg_server: output and exit codes.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use common::{PATIENCE, serve_msg_server};

const TT: &str = env!("CARGO_BIN_EXE_tt");

fn tt(args: &[&str]) -> Output {
    Command::new(TT)
        .args(args)
        .env_remove("TT_PASSWORD")
        .env_remove("TT_USER")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Runs `tt --server ADDR --user alice --password secret ARGS`.
fn tt_as_alice(server: SocketAddr, args: &[&str]) -> Output {
    let server = server.to_string();
    let mut all = vec![
        "--server",
        &server,
        "--user",
        "alice",
        "--password",
        "secret",
    ];
    all.extend_from_slice(args);
    tt(&all)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn help_lists_commands_and_exit_codes() {
    let out = tt(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    for needle in [
        "login",
        "send",
        "unread",
        "history",
        "users",
        "groups",
        "status",
        "listen",
        "chat",
        "EXIT CODES",
        "--login-url",
        "--server",
        "TT_PASSWORD",
        "--client-type",
    ] {
        assert!(text.contains(needle), "help lacks {needle}:\n{text}");
    }
    for command in [
        "login",
        "send",
        "unread",
        "read",
        "history",
        "users",
        "groups",
        "status",
        "listen",
        "chat",
        "completions",
    ] {
        for args in [&[command, "--help"][..], &["help", command]] {
            let out = tt(args);
            assert_eq!(out.status.code(), Some(0), "{args:?}");
            assert!(
                stdout(&out).contains(&format!("Usage: tt {command}")),
                "{args:?}: {}",
                stdout(&out)
            );
        }
    }
    let out = tt(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).starts_with("tt "), "{}", stdout(&out));
}

#[test]
fn completions_are_printed_for_each_shell_without_logging_in() {
    for (shell, needle) in [
        ("bash", "_tt()"),
        ("zsh", "#compdef tt"),
        ("fish", "complete -c tt"),
    ] {
        let out = tt(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let text = stdout(&out);
        assert!(text.contains(needle), "{shell}: {text}");
        assert!(text.contains("history"), "{shell}");
    }
}

#[test]
fn usage_errors_exit_1() {
    for args in [
        &[][..],
        &["frobnicate"],
        &["send", "--to", "0", "hi"],
        &["send", "--to", "bob"],
        &["--client-type", "fax", "login"],
    ] {
        let out = tt(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(stderr(&out).contains("usage error"), "{args:?}");
    }
    // A missing password is a usage error too, before any connection is made.
    let out = tt(&["--server", "127.0.0.1:1", "--user", "alice", "login"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("TT_PASSWORD"));
}

#[test]
fn unreachable_login_server_exits_2_with_the_url() {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("http://{addr}/msg_server");
    let out = tt(&[
        "--login-url",
        &url,
        "--user",
        "alice",
        "--password",
        "secret",
        "login",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(&format!("login_server unreachable at {url}")),
        "{}",
        stderr(&out)
    );
}

#[test]
fn login_prints_the_user_and_exits_0() {
    let server = serve_msg_server();
    let out = tt_as_alice(server, &["login"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("logged in as alice (user id 1)"), "{text}");
    assert!(text.contains("alice@example.org"), "{text}");
    assert!(text.contains("department: Engineering"), "{text}");
}

#[test]
fn wrong_password_exits_3_with_the_reason() {
    let server = serve_msg_server();
    let server = server.to_string();
    let out = tt(&[
        "--server",
        &server,
        "--user",
        "alice",
        "--password",
        "nope",
        "login",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("wrong password"), "{}", stderr(&out));
}

#[test]
fn password_can_come_from_the_environment() {
    let server = serve_msg_server().to_string();
    let out = Command::new(TT)
        .args(["--server", &server, "--user", "bob", "login"])
        .env("TT_PASSWORD", "hunter2")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("logged in as bob (user id 2)"));
}

#[test]
fn send_prints_the_assigned_msg_id() {
    let server = serve_msg_server();
    let out = tt_as_alice(server, &["send", "--to", "2", "hello", "bob"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "sent (msg id 101)");
    let out = tt_as_alice(server, &["send", "--group", "1", "hi all"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // A login name works where a user id does.
    let out = tt_as_alice(server, &["send", "--to", "bob", "hello", "by", "name"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("sent (msg id"), "{}", stdout(&out));
}

#[test]
fn unknown_users_and_groups_are_reported_as_such_with_exit_5() {
    let server = serve_msg_server();
    for (args, says) in [
        (&["send", "--to", "99", "hi"][..], "no user with id 99"),
        (&["send", "--to", "zed", "hi"], "no user named \"zed\""),
        (&["send", "--group", "9", "hi"], "no group with id 9"),
        (&["send", "--group", "3", "hi"], "not a member of group 3"),
        (&["history", "--with", "zed"], "no user named"),
        (&["status", "1", "zed"], "no user named"),
        (&["read", "--group", "9"], "no group with id 9"),
    ] {
        let started = Instant::now();
        let out = tt_as_alice(server, args);
        assert_eq!(out.status.code(), Some(5), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
        assert!(!stdout(&out).contains("sent"), "{args:?}");
        // Answered, not timed out.
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{args:?}"
        );
    }
}

#[test]
fn read_marks_a_conversation_read_up_to_its_newest_message() {
    let server = serve_msg_server();
    let out = tt_as_alice(server, &["read", "--with", "bob"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        "marked read up to msg id 7 with bob (user 2)"
    );
}

#[test]
fn queries_print_their_answers() {
    let server = serve_msg_server();

    let out = tt_as_alice(server, &["users"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("alice") && text.contains("bob real"),
        "{text}"
    );
    assert!(text.contains("Engineering"), "department names: {text}");

    let out = tt_as_alice(server, &["status", "alice", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("1  online") && text.contains("2  offline"),
        "{text}"
    );

    let out = tt_as_alice(server, &["status", "1", "2"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(
        text.contains("1  online") && text.contains("2  offline"),
        "{text}"
    );

    let out = tt_as_alice(server, &["unread"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(text.contains("total unread: 3"), "{text}");
    assert!(
        text.contains("bob (user 2): 3 unread, latest: see you"),
        "{text}"
    );

    let out = tt_as_alice(server, &["history", "--with", "2", "--count", "5"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    let first = text.find("[alice] first").expect(&text);
    let second = text.find("[bob] second").expect(&text);
    assert!(first < second, "oldest first:\n{text}");

    let out = tt_as_alice(server, &["groups"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("staff"), "{}", stdout(&out));
}

#[test]
fn listen_prints_incoming_messages_until_the_time_is_up() {
    let server = serve_msg_server();
    // The fake server delivers a waiting message from bob right after login.
    let out = tt_as_alice(server, &["listen", "--for", "3"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("[bob] welcome"), "{}", stdout(&out));
}

#[test]
fn chat_sends_lines_and_prints_replies_live() {
    let server = serve_msg_server().to_string();
    let mut child = Command::new(TT)
        .args([
            "--server",
            &server,
            "--user",
            "alice",
            "--password",
            "secret",
            "chat",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let (tx, lines) = crossbeam_channel::unbounded();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let wait_line = |needle: &str| {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no line containing {needle:?}"));
            if line.contains(needle) {
                return line;
            }
        }
    };

    writeln!(stdin, "hello before a target").unwrap();
    wait_line("no one to talk to");
    writeln!(stdin, "/to 2").unwrap();
    wait_line("talking to bob (user 2)");
    writeln!(stdin, "hello bob").unwrap();
    wait_line("sent (msg id");
    // The fake server makes bob answer; it is printed as it arrives.
    assert_eq!(wait_line("[bob] re:"), "[bob] re: hello bob");
    writeln!(stdin, "/status 2").unwrap();
    wait_line("2  offline");
    writeln!(stdin, "/bogus").unwrap();
    wait_line("unknown command /bogus");
    writeln!(stdin, "/quit").unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}
