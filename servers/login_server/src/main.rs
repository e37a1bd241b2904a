//! The `login_server` binary: reads `loginserver.conf` from the working directory
//! (or `--config PATH`) and runs.

use std::process::ExitCode;

use anyhow::Context;
use login_server::{Config, Server};
use netlib::cmdline::{BinarySpec, VersionFlag};
use netlib::process::run_binary;

const SPEC: BinarySpec = BinarySpec {
    name: "login_server",
    conf_file: "loginserver.conf",
    version: VersionFlag::Named("LoginServer/1.0"),
    daemon_flag: false,
};

fn main() -> ExitCode {
    run_binary(
        &SPEC,
        |startup| -> anyhow::Result<Server> {
            let config = Config::load(&startup.config)
                .with_context(|| format!("reading {}", startup.config.display()))?;
            let reloads_tls = config.https.is_some();
            let server = Server::bind(config)?;
            println!("server start listen on:\n{}", server.local_addrs());
            server.stop_handle().stop_on_signals()?;
            if reloads_tls {
                // SIGHUP rereads the HTTPS certificate (CONFIG §3).
                signal_hook::flag::register(signal_hook::consts::SIGHUP, server.tls_reload_flag())?;
            }
            Ok(server)
        },
        |server| Ok(server.run()?),
    )
}
