//! The `push_server` binary: reads `pushserver.conf` from the working directory
//! (or `--config PATH`) and runs (the original has no `-v`: here it prints the version).

use std::process::ExitCode;

use anyhow::Context;
use netlib::cmdline::{BinarySpec, VersionFlag};
use netlib::process::run_binary;
use push_server::{Config, Server};

const SPEC: BinarySpec = BinarySpec {
    name: "push_server",
    conf_file: "pushserver.conf",
    version: VersionFlag::Unsupported,
    daemon_flag: false,
};

fn main() -> ExitCode {
    run_binary(
        &SPEC,
        |startup| -> anyhow::Result<Server> {
            println!("start push server...");
            let config = Config::load(&startup.config)
                .with_context(|| format!("reading {}", startup.config.display()))?;
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
