//! The `login_server` binary: reads `loginserver.conf` from the working directory and runs.

use std::path::Path;
use std::process::ExitCode;

use login_server::{Config, Server};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let Some(text) = netlib::process::version_text(&args, Some("LoginServer/1.0")) {
        println!("{text}");
        return ExitCode::SUCCESS;
    }
    netlib::logging::init();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("login_server: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let config = Config::load("loginserver.conf")?;
    let server = Server::bind(config)?;
    let addrs = server.local_addrs();
    println!(
        "server start listen on:\nFor client {}\nFor MsgServer: {}\nFor http:{}",
        join(&addrs.client),
        join(&addrs.msg_server),
        join(&addrs.http)
    );
    server.stop_handle().stop_on_signals()?;
    netlib::process::write_pid_file(Path::new("."))?;
    println!("now enter the event loop...");
    server.run()?;
    Ok(())
}

fn join(addrs: &[std::net::SocketAddr]) -> String {
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(";")
}
