//! The db_proxy_server binary: reads `dbproxyserver.conf` from the working directory
//! (or `--config PATH`), serves
//! until SIGTERM/SIGINT (stop notice to every link, exit 4 s later).

use std::process::ExitCode;

use anyhow::Context;
use db_proxy_server::{Config, Server};
use netlib::cmdline::{BinarySpec, VersionFlag};
use netlib::process::run_binary;

const SPEC: BinarySpec = BinarySpec {
    name: "db_proxy_server",
    conf_file: "dbproxyserver.conf",
    version: VersionFlag::Named("DBProxyServer/1.0"),
    daemon_flag: false,
};

fn main() -> ExitCode {
    run_binary(
        &SPEC,
        |startup| -> anyhow::Result<Server> {
            let config = Config::load(&startup.config)
                .with_context(|| format!("reading {}", startup.config.display()))?;
            let server = Server::bind(config).context("starting db_proxy_server")?;
            server.stop_handle().stop_on_signals()?;
            Ok(server)
        },
        |server| Ok(server.run()?),
    )
}
