//! The `push_server` binary: reads `pushserver.conf` from the working directory and runs (the
//! original has no `-v`).

use std::process::ExitCode;

use anyhow::Context;
use netlib::process::{VersionFlag, run_binary};
use push_server::{Config, Server};

fn main() -> ExitCode {
    println!("start push server...");
    run_binary(
        "push_server",
        VersionFlag::Unsupported,
        || -> anyhow::Result<Server> {
            let config = Config::load("pushserver.conf").context("reading pushserver.conf")?;
            let server = Server::bind(config)?;
            server.stop_handle().stop_on_signals()?;
            for addr in server.local_addrs() {
                println!("server start listen on: {addr}");
            }
            Ok(server)
        },
        |server| Ok(server.run()?),
    )
}
