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
    println!("server start listen on:\n{}", server.local_addrs());
    server.stop_handle().stop_on_signals()?;
    netlib::process::write_pid_file(Path::new("."))?;
    println!("now enter the event loop...");
    server.run()?;
    Ok(())
}
