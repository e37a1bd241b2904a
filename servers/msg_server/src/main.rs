//! The msg_server binary: `msgserver.conf` from the working directory (or `--config PATH`),
//! `-v` for the build.

use std::process::ExitCode;

use anyhow::Context;
use msg_server::{Config, Server};
use netlib::cmdline::{BinarySpec, VersionFlag};
use netlib::process::run_binary;

const SPEC: BinarySpec = BinarySpec {
    name: "msg_server",
    conf_file: "msgserver.conf",
    version: VersionFlag::BuildOnly,
    daemon_flag: false,
};

fn main() -> ExitCode {
    run_binary(
        &SPEC,
        |startup| -> anyhow::Result<Server> {
            let config = Config::load(&startup.config)
                .with_context(|| format!("reading {}", startup.config.display()))?;
            let mut server = Server::bind(config).context("starting msg_server")?;
            server
                .handle_signals(!startup.hup_reopens_log)
                .context("installing signal handlers")?;
            Ok(server)
        },
        |server| server.run().context("running msg_server"),
    )
}
