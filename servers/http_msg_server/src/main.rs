//! The `http_msg_server` binary: reads `httpmsgserver.conf` from the working directory and runs.

use std::process::ExitCode;

use anyhow::Context;
use http_msg_server::{Config, Server};
use netlib::process::{VersionFlag, run_binary};

fn main() -> ExitCode {
    run_binary(
        "http_msg_server",
        VersionFlag::Named("HttpMsgServer/1.0"),
        || -> anyhow::Result<Server> {
            let config =
                Config::load("httpmsgserver.conf").context("reading httpmsgserver.conf")?;
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
