//! The `msfs` binary: reads `msfs.conf` from the working directory (or `--config PATH`) and
//! runs; an argument starting with `-d` runs it in the background (the original daemonised
//! itself).

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use msfs::{Config, Server};
use netlib::cmdline::{BinarySpec, VersionFlag};
use netlib::process::run_binary;
use signal_hook::consts::{SIGHUP, SIGQUIT};

const SPEC: BinarySpec = BinarySpec {
    name: "msfs",
    conf_file: "msfs.conf",
    version: VersionFlag::Unsupported,
    daemon_flag: true,
};

fn main() -> ExitCode {
    run_binary(
        &SPEC,
        |startup| -> anyhow::Result<Server> {
            let config = Config::load(&startup.config)
                .with_context(|| format!("reading {}", startup.config.display()))?;
            let reloads_tls = config.https.is_some();
            let server = Server::bind(config)?;
            let stop = server.stop_handle();
            stop.stop_on_signals()?;
            // SIGQUIT also saves the counter and exits.
            let mut quit = signal_hook::iterator::Signals::new([SIGQUIT])?;
            std::thread::spawn(move || quit.forever().next().map(|_| stop.stop()));
            if reloads_tls {
                // SIGHUP rereads the HTTPS certificate (CONFIG §8).
                signal_hook::flag::register(SIGHUP, server.tls_reload_flag())?;
            } else if !startup.hup_reopens_log {
                // SIGHUP is ignored, as in the original, unless it reopens the log file.
                signal_hook::flag::register(SIGHUP, Arc::new(AtomicBool::new(false)))?;
            }
            for addr in server.local_addrs() {
                println!("server start listen on: {addr}");
            }
            Ok(server)
        },
        |server| Ok(server.run()?),
    )
}
