//! `tt`: TeamTalk command line client for operators and users. See `tt --help`.

mod args;
mod commands;

use std::io::Write;
use std::process::ExitCode;

use args::{Env, MAIN_HELP, Parsed};
use commands::{CliError, run};

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let env = Env {
        user: std::env::var("TT_USER").ok().filter(|s| !s.is_empty()),
        password: std::env::var("TT_PASSWORD").ok(),
    };
    let result = match args::parse(&argv, env) {
        Ok(Parsed::Help(text)) => {
            let _ = std::io::stdout().write_all(text.as_bytes());
            Ok(())
        }
        Ok(Parsed::Run(global, command)) => {
            if global.verbose {
                env_logger::Builder::new()
                    .filter_level(log::LevelFilter::Debug)
                    .target(env_logger::Target::Stderr)
                    .init();
            }
            run(&global, command)
        }
        Err(usage) => Err(CliError::Usage(usage)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "tt: {e}");
            if matches!(e, CliError::Usage(_)) {
                let usage = MAIN_HELP.lines().skip(2).take(2).collect::<Vec<_>>();
                let _ = writeln!(stderr, "{}\nRun 'tt --help' for details.", usage.join("\n"));
            }
            ExitCode::from(e.exit_code())
        }
    }
}
