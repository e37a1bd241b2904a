//! The `push_server` binary: reads `pushserver.conf` from the working directory and runs (the
//! original has no `-v`).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use netlib::{logging, process};
use push_server::{Config, Server};

fn main() -> ExitCode {
    logging::init();
    println!("start push server...");
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("push_server: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let config = Config::load("pushserver.conf").context("reading pushserver.conf")?;
    let server = Server::bind(config)?;
    server.stop_handle().stop_on_signals()?;
    for addr in server.local_addrs() {
        println!("server start listen on: {addr}");
    }
    process::write_pid_file(Path::new(".")).context("writing server.pid")?;
    Ok(server.run()?)
}
