//! The `route_server` binary's command line: `--help`, `--version`, `-v`, `--config` and usage
//! errors (exit 2, nothing started).

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_route_server");

fn work_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("route_server-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(dir: &PathBuf, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
fn help_version_and_usage_errors_never_start_the_server() {
    let dir = work_dir("flags");
    let help = run(&dir, &["--help"]);
    assert_eq!(help.status.code(), Some(0));
    let text = String::from_utf8(help.stdout).unwrap();
    assert!(
        text.contains("--config PATH") && text.contains("routeserver.conf"),
        "{text}"
    );

    let version = run(&dir, &["--version"]);
    assert_eq!(version.status.code(), Some(0));
    let text = String::from_utf8(version.stdout).unwrap();
    assert!(text.starts_with("route_server (teamtalk-rs "), "{text}");
    let dash_v = String::from_utf8(run(&dir, &["-v"]).stdout).unwrap();
    assert!(
        dash_v.starts_with("Server Version: RouteServer/1.0"),
        "{dash_v}"
    );

    for args in [&["--bogus"][..], &["routeserver.conf"], &["--config"]] {
        let out = run(&dir, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("usage: route_server"), "{args:?}: {err}");
    }
    assert!(!dir.join("server.pid").exists(), "a server was started");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn config_flag_names_the_file_it_could_not_read() {
    let dir = work_dir("config");
    let out = run(&dir, &["--config", "elsewhere/custom.conf"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("elsewhere/custom.conf"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}
