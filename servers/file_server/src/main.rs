//! The `file_server` binary: reads `fileserver.conf` from the working directory
//! (or `--config PATH`) and runs.

use std::process::ExitCode;

use anyhow::Context;
use file_server::{Config, Server};
use netlib::cmdline::{BinarySpec, VersionFlag};
use netlib::process::run_binary;

const SPEC: BinarySpec = BinarySpec {
    name: "file_server",
    conf_file: "fileserver.conf",
    version: VersionFlag::Named("FileServer/1.0"),
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
