//! The `http_msg_server` binary: reads `httpmsgserver.conf` from the working directory
//! (or `--config PATH`) and runs.

use std::process::ExitCode;

use anyhow::Context;
use http_msg_server::{Config, Server};
use netlib::cmdline::{BinarySpec, VersionFlag};
use netlib::process::run_binary;

const SPEC: BinarySpec = BinarySpec {
    name: "http_msg_server",
    conf_file: "httpmsgserver.conf",
    version: VersionFlag::Named("HttpMsgServer/1.0"),
    daemon_flag: false,
};

fn main() -> ExitCode {
    run_binary(
        &SPEC,
        |startup| -> anyhow::Result<Server> {
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
