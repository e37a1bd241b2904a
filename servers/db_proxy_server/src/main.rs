//! The db_proxy_server binary: reads `dbproxyserver.conf` from the working directory, serves
//! until SIGTERM/SIGINT (stop notice to every link, exit 4 s later).

use std::process::ExitCode;

use anyhow::Context;
use db_proxy_server::{Config, Server};
use netlib::process::{VersionFlag, run_binary};

fn main() -> ExitCode {
    run_binary(
        "db_proxy_server",
        VersionFlag::Named("DBProxyServer/1.0"),
        || -> anyhow::Result<Server> {
            let config =
                Config::load("dbproxyserver.conf").context("reading dbproxyserver.conf")?;
            let server = Server::bind(config).context("starting db_proxy_server")?;
            server.stop_handle().stop_on_signals()?;
            Ok(server)
        },
        |server| Ok(server.run()?),
    )
}
