//! The `route_server` binary: reads `routeserver.conf` from the working directory and runs.

use std::process::ExitCode;

use anyhow::Context;
use netlib::process::{VersionFlag, run_binary};
use route_server::{Config, Server};

fn main() -> ExitCode {
    run_binary(
        "route_server",
        VersionFlag::Named("RouteServer/1.0"),
        || -> anyhow::Result<Server> {
            let config = Config::load("routeserver.conf").context("reading routeserver.conf")?;
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
