//! The `file_server` binary: reads `fileserver.conf` from the working directory and runs.

use std::process::ExitCode;

use anyhow::Context;
use file_server::{Config, Server};
use netlib::process::{VersionFlag, run_binary};

fn main() -> ExitCode {
    run_binary(
        "file_server",
        VersionFlag::Named("FileServer/1.0"),
        || -> anyhow::Result<Server> {
            let config = Config::load("fileserver.conf").context("reading fileserver.conf")?;
            let server = Server::bind(config)?;
            server.stop_handle().stop_on_signals()?;
            let addrs = server.local_addrs();
            println!(
                "server start listen on: {:?} {}",
                addrs.client, addrs.msg_server
            );
            Ok(server)
        },
        |server| Ok(server.run()?),
    )
}
