//! The `http_msg_server` binary: reads `httpmsgserver.conf` from the working directory and runs.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use http_msg_server::{Config, Server};
use netlib::{logging, process};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let Some(text) = process::version_text(&args, Some("HttpMsgServer/1.0")) {
        println!("{text}");
        return ExitCode::SUCCESS;
    }
    logging::init();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("http_msg_server: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let config = Config::load("httpmsgserver.conf").context("reading httpmsgserver.conf")?;
    let server = Server::bind(config)?;
    server.stop_handle().stop_on_signals()?;
    for addr in server.local_addrs() {
        println!("server start listen on: {addr}");
    }
    process::write_pid_file(Path::new(".")).context("writing server.pid")?;
    println!("now enter the event loop...");
    Ok(server.run()?)
}
