//! The msg_server binary: `msgserver.conf` from the working directory, `-v` for the build.

use std::process::ExitCode;

use anyhow::Context;
use msg_server::{Config, Server};
use netlib::process::{VersionFlag, run_binary};

fn main() -> ExitCode {
    run_binary(
        "msg_server",
        VersionFlag::BuildOnly,
        || -> anyhow::Result<Server> {
            let config = Config::load("msgserver.conf").context("reading msgserver.conf")?;
            let mut server = Server::bind(config).context("starting msg_server")?;
            server
                .handle_signals()
                .context("installing signal handlers")?;
            Ok(server)
        },
        |server| server.run().context("running msg_server"),
    )
}
