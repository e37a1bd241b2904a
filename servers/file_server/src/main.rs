//! The `file_server` binary: reads `fileserver.conf` from the working directory and runs.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use file_server::{Config, Server};
use netlib::{logging, process};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let Some(text) = process::version_text(&args, Some("FileServer/1.0")) {
        println!("{text}");
        return ExitCode::SUCCESS;
    }
    logging::init();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("file_server: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let config = Config::load("fileserver.conf").context("reading fileserver.conf")?;
    let server = Server::bind(config)?;
    server.stop_handle().stop_on_signals()?;
    let addrs = server.local_addrs();
    println!(
        "server start listen on: {:?} {}",
        addrs.client, addrs.msg_server
    );
    process::write_pid_file(Path::new(".")).context("writing server.pid")?;
    println!("now enter the event loop...");
    Ok(server.run()?)
}
