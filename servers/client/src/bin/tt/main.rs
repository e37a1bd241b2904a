//! `tt`: TeamTalk command line client for operators and users. See `tt --help`.

mod args;
mod commands;

use std::io::Write;
use std::process::ExitCode;

use args::{Cli, Command};
use clap::{CommandFactory, Parser};
use commands::{CliError, run};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help, --version: printed on stdout, exit 0.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // Usage errors keep tt's documented exit code 1 (clap's own is 2).
            let text = e.render().to_string();
            let text = text.strip_prefix("error: ").unwrap_or(&text);
            let _ = write!(std::io::stderr().lock(), "tt: usage error: {text}");
            return ExitCode::from(CliError::Usage(String::new()).exit_code());
        }
    };
    if let Command::Completions { shell } = cli.command {
        // Into memory first: the generator panics on a write error (a closed pipe).
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "tt", &mut script);
        let _ = std::io::stdout().write_all(&script);
        return ExitCode::SUCCESS;
    }
    if cli.global.verbose {
        env_logger::Builder::new()
            .filter_level(log::LevelFilter::Debug)
            .target(env_logger::Target::Stderr)
            .init();
    }
    match run(&cli.global, cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr().lock(), "tt: {e}");
            if matches!(e, CliError::Usage(_)) {
                let _ = writeln!(std::io::stderr().lock(), "Run 'tt --help' for details.");
            }
            ExitCode::from(e.exit_code())
        }
    }
}
