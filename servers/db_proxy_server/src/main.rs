//! The db_proxy_server binary: reads `dbproxyserver.conf` from the working directory, serves
//! until SIGTERM/SIGINT (stop notice to every link, exit 4 s later).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use db_proxy_server::{Config, Server};
use netlib::process::{version_text, write_pid_file};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let Some(text) = version_text(&args, Some("DBProxyServer/1.0")) {
        println!("{text}");
        return ExitCode::SUCCESS;
    }
    netlib::logging::init();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("db_proxy_server: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let config = Config::load("dbproxyserver.conf").context("reading dbproxyserver.conf")?;
    let server = Server::bind(config).context("starting db_proxy_server")?;
    server.stop_handle().stop_on_signals()?;
    write_pid_file(Path::new(".")).context("writing server.pid")?;
    println!("now enter the event loop...");
    server.run()?;
    Ok(())
}
