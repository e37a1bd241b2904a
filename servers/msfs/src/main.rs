//! The `msfs` binary: reads `msfs.conf` from the working directory and runs; an argument
//! starting with `-d` runs it in the background (the original daemonised itself).

use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use msfs::{Config, Server};
use netlib::process::{VersionFlag, run_binary};
use signal_hook::consts::{SIGHUP, SIGQUIT};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().skip(1).any(|a| a.starts_with("-d")) {
        return detach(&args);
    }
    run_binary(
        "msfs",
        VersionFlag::Unsupported,
        || -> anyhow::Result<Server> {
            let config = Config::load("msfs.conf").context("reading msfs.conf")?;
            let server = Server::bind(config)?;
            let stop = server.stop_handle();
            stop.stop_on_signals()?;
            // SIGQUIT also saves the counter and exits; SIGHUP is ignored, as in the original.
            let mut quit = signal_hook::iterator::Signals::new([SIGQUIT])?;
            std::thread::spawn(move || quit.forever().next().map(|_| stop.stop()));
            signal_hook::flag::register(SIGHUP, Arc::new(AtomicBool::new(false)))?;
            for addr in server.local_addrs() {
                println!("server start listen on: {addr}");
            }
            Ok(server)
        },
        |server| Ok(server.run()?),
    )
}

/// Starts this program again without the `-d` arguments, detached from the terminal.
fn detach(args: &[String]) -> ExitCode {
    use std::os::unix::process::CommandExt;
    let rest = args.iter().skip(1).filter(|a| !a.starts_with("-d"));
    let exe = std::env::current_exe().unwrap_or_else(|_| args[0].clone().into());
    let child = Command::new(exe)
        .args(rest)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn();
    match child {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("daemon error: {e}");
            ExitCode::FAILURE
        }
    }
}
