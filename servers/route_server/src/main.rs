//! The `route_server` binary: reads `routeserver.conf` from the working directory and runs.

use std::path::Path;
use std::process::ExitCode;

use route_server::{Config, Server};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let Some(text) = netlib::process::version_text(&args, Some("RouteServer/1.0")) {
        println!("{text}");
        return ExitCode::SUCCESS;
    }
    netlib::logging::init();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("route_server: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let config = Config::load("routeserver.conf")?;
    let server = Server::bind(config)?;
    let addrs: Vec<String> = server
        .local_addrs()
        .iter()
        .map(ToString::to_string)
        .collect();
    println!("server start listen on: {}", addrs.join(";"));
    server.stop_handle().stop_on_signals()?;
    netlib::process::write_pid_file(Path::new("."))?;
    println!("now enter the event loop...");
    server.run()?;
    Ok(())
}
