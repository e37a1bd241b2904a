//! The msg_server binary: `msgserver.conf` from the working directory, `-v` for the build.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use msg_server::{Config, Server};

const CONF_FILE: &str = "msgserver.conf";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let Some(text) = netlib::process::version_text(&args, None) {
        println!("{text}");
        return ExitCode::SUCCESS;
    }
    netlib::logging::init();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("msg_server: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let config = Config::load(CONF_FILE).context("reading msgserver.conf")?;
    let mut server = Server::bind(config).context("starting msg_server")?;
    server
        .handle_signals()
        .context("installing signal handlers")?;
    netlib::process::write_pid_file(Path::new(".")).context("writing server.pid")?;
    server.run().context("running msg_server")?;
    Ok(())
}
