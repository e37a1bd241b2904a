//! The `route_server` binary: reads `routeserver.conf` from the working directory
//! (or `--config PATH`) and runs.

use std::process::ExitCode;

use anyhow::Context;
use netlib::cmdline::{BinarySpec, VersionFlag};
use netlib::process::run_binary;
use route_server::{Config, Server};

const SPEC: BinarySpec = BinarySpec {
    name: "route_server",
    conf_file: "routeserver.conf",
    version: VersionFlag::Named("RouteServer/1.0"),
    daemon_flag: false,
};

fn main() -> ExitCode {
    run_binary(
        &SPEC,
        |startup| -> anyhow::Result<Server> {
            let config = Config::load(&startup.config)
                .with_context(|| format!("reading {}", startup.config.display()))?;
            let server = Server::bind(config)?;
            let addrs: Vec<String> = server
                .local_addrs()
                .iter()
                .map(ToString::to_string)
                .collect();
            println!("server start listen on: {}", addrs.join(";"));
            server.stop_handle().stop_on_signals()?;
            Ok(server)
        },
        |server| Ok(server.run()?),
    )
}
