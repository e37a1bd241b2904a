//! The server binaries' command line: `--help`, `--version`, `-v`, `--config` and usage errors
//! (exit 2, nothing started). msg_server's are in its own `tests/binary.rs`, which also starts
//! it from a `--config` file.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use testkit::workspace_binary;

/// A server binary: its package and binary name, default conf file, and what `-v` starts with.
struct Server {
    name: &'static str,
    conf: &'static str,
    dash_v: &'static str,
}

const SERVERS: [Server; 7] = [
    Server {
        name: "login_server",
        conf: "loginserver.conf",
        dash_v: "Server Version: LoginServer/1.0",
    },
    Server {
        name: "route_server",
        conf: "routeserver.conf",
        dash_v: "Server Version: RouteServer/1.0",
    },
    Server {
        name: "db_proxy_server",
        conf: "dbproxyserver.conf",
        dash_v: "Server Version: DBProxyServer/1.0",
    },
    Server {
        name: "file_server",
        conf: "fileserver.conf",
        dash_v: "Server Version: FileServer/1.0",
    },
    Server {
        name: "http_msg_server",
        conf: "httpmsgserver.conf",
        dash_v: "Server Version: HttpMsgServer/1.0",
    },
    // The original push_server and msfs had no -v; ours print the version.
    Server {
        name: "push_server",
        conf: "pushserver.conf",
        dash_v: "push_server (teamtalk-rs ",
    },
    Server {
        name: "msfs",
        conf: "msfs.conf",
        dash_v: "msfs (teamtalk-rs ",
    },
];

fn work_dir(server: &str, tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{server}-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(bin: &Path, dir: &Path, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
fn help_version_and_usage_errors_never_start_a_server() {
    for s in &SERVERS {
        let bin = workspace_binary(s.name, s.name);
        let dir = work_dir(s.name, "flags");
        let help = run(&bin, &dir, &["--help"]);
        assert_eq!(help.status.code(), Some(0), "{}", s.name);
        let text = String::from_utf8(help.stdout).unwrap();
        assert!(
            text.contains("--config PATH") && text.contains(s.conf),
            "{}: {text}",
            s.name
        );

        let version = run(&bin, &dir, &["--version"]);
        assert_eq!(version.status.code(), Some(0), "{}", s.name);
        let text = String::from_utf8(version.stdout).unwrap();
        assert!(
            text.starts_with(&format!("{} (teamtalk-rs ", s.name)),
            "{text}"
        );
        let dash_v = String::from_utf8(run(&bin, &dir, &["-v"]).stdout).unwrap();
        assert!(dash_v.starts_with(s.dash_v), "{}: {dash_v}", s.name);

        for args in [&["--bogus"][..], &[s.conf], &["--config"]] {
            let out = run(&bin, &dir, args);
            assert_eq!(out.status.code(), Some(2), "{}: {args:?}", s.name);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains(&format!("usage: {}", s.name)),
                "{args:?}: {err}"
            );
        }
        assert!(
            !dir.join("server.pid").exists(),
            "{}: a server was started",
            s.name
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[test]
fn config_flag_names_the_file_it_could_not_read() {
    for s in &SERVERS {
        let bin = workspace_binary(s.name, s.name);
        let dir = work_dir(s.name, "config");
        let out = run(&bin, &dir, &["--config", "elsewhere/custom.conf"]);
        assert_eq!(out.status.code(), Some(1), "{}", s.name);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("elsewhere/custom.conf"), "{}: {err}", s.name);
        let _ = std::fs::remove_dir_all(dir);
    }
}
