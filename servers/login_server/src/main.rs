//! The `login_server` binary: reads `loginserver.conf` from the working directory and runs.

use std::process::ExitCode;

use anyhow::Context;
use login_server::{Config, Server};
use netlib::process::{VersionFlag, run_binary};

fn main() -> ExitCode {
    run_binary(
        "login_server",
        VersionFlag::Named("LoginServer/1.0"),
        || -> anyhow::Result<Server> {
            let config = Config::load("loginserver.conf").context("reading loginserver.conf")?;
            let server = Server::bind(config)?;
            println!("server start listen on:\n{}", server.local_addrs());
            server.stop_handle().stop_on_signals()?;
            Ok(server)
        },
        |server| Ok(server.run()?),
    )
}
