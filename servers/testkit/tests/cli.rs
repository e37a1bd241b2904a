//! The `tt` command line (package tt_client) against a TestCluster: login and send, with the
//! message arriving at a library client, and a refused login's exit code.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use testkit::{TestCluster, TestUser, workspace_binary};

const WAIT: Duration = Duration::from_secs(15);

fn tt_binary() -> PathBuf {
    workspace_binary("tt_client", "tt")
}

fn tt(cluster: &TestCluster, user: &TestUser, password: &str, args: &[&str]) -> Output {
    Command::new(tt_binary())
        .arg("--server")
        .arg(cluster.msg_addr(0).to_string())
        .args(["--user", &user.name, "--password", password])
        .args(args)
        .env_remove("TT_USER")
        .env_remove("TT_PASSWORD")
        .output()
        .unwrap()
}

#[test]
fn tt_logs_in_and_sends_a_message_that_a_client_receives() {
    let cluster = TestCluster::start();
    let alice = cluster.create_user("cli");
    let bob = cluster.create_user("clib");
    let b = cluster.login(1, &bob);

    let out = tt(&cluster, &alice, &alice.password, &["login"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("user id {}", alice.id)),
        "stdout: {stdout}"
    );

    let id = bob.id.to_string();
    let out = tt(
        &cluster,
        &alice,
        &alice.password,
        &["send", "--to", &id, "hi", "from", "tt"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("sent (msg id"));
    let got = b.next_message(WAIT).unwrap();
    assert_eq!((got.from, got.text.as_str()), (alice.id, "hi from tt"));
}

#[test]
fn tt_reports_a_refused_login_with_exit_code_3() {
    let cluster = TestCluster::start();
    let alice = cluster.create_user("clix");
    let out = tt(&cluster, &alice, "wrong password", &["login"]);
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn tt_takes_login_names_and_reports_unknown_users_and_groups() {
    let cluster = TestCluster::start();
    let alice = cluster.create_user("clin");
    let bob = cluster.create_user("clinb");
    let b = cluster.login(1, &bob);
    let out = tt(
        &cluster,
        &alice,
        &alice.password,
        &["send", "--to", &bob.name, "by", "name"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = b.next_message(WAIT).unwrap();
    assert_eq!((got.from, got.text.as_str()), (alice.id, "by name"));

    let group = cluster.create_group("clin-g", bob.id, &[bob.id], 1);
    for (args, says) in [
        (
            vec!["send", "--to", "4000000000", "hi"],
            "no user with id 4000000000",
        ),
        (vec!["status", "nobody-here-at-all"], "no user named"),
        (
            vec!["send", "--group", "4000000000", "hi"],
            "no group with id",
        ),
        (
            vec!["send", "--group", &group.to_string(), "hi"],
            "that you are a member of",
        ),
    ] {
        let out = tt(&cluster, &alice, &alice.password, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(5), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}
