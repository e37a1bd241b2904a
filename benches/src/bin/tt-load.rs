//! `tt-load`: drives a TeamTalk cluster over the real wire protocol and reports throughput,
//! latency, loss and memory. See `tt-load --help` and benches/README.md.

use std::process::ExitCode;

use anyhow::{Context, Result};
use tt_bench::cli::{self, Command};
use tt_bench::{report, run, seed};

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match execute(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("tt-load: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs the command; `Ok(false)` when a load run completed but failed its checks.
fn execute(args: &[String]) -> Result<bool> {
    match cli::parse(args)? {
        Command::Help(text) => print!("{text}"),
        Command::Completions(shell) => {
            // Into memory first: the generator panics on a write error (a closed pipe).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cli::command(), "tt-load", &mut script);
            let _ = std::io::Write::write_all(&mut std::io::stdout(), &script);
        }
        Command::Seed(opts) => {
            let r = seed::seed(&opts)?;
            if opts.json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                println!(
                    "{} users {}_0 .. {}_{} ({} inserted)",
                    r.users,
                    r.prefix,
                    r.prefix,
                    r.users.saturating_sub(1),
                    r.inserted
                );
                for g in &r.groups {
                    println!(
                        "group {} id={} members {}_{} .. (+{})",
                        g.name, g.id, r.prefix, g.first_member, g.members
                    );
                }
            }
        }
        Command::Clean(opts) => {
            let r = seed::clean(&opts)?;
            if opts.json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                println!(
                    "removed {} users, {} groups, {} messages",
                    r.users, r.groups, r.messages
                );
            }
        }
        Command::Run(opts) => {
            let result = run::execute(&opts)?;
            let json = serde_json::to_string_pretty(&result)?;
            if let Some(path) = &opts.out {
                std::fs::write(path, format!("{json}\n"))
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            if opts.json {
                eprint!("{}", result.table());
                println!("{json}");
            } else {
                print!("{}", result.table());
            }
            return Ok(result.passed());
        }
        Command::Report(opts) => {
            let results = report::load(&opts.inputs)?;
            let written = report::write(&report::build(&opts.title, &results), &opts.out)?;
            for path in written {
                println!("{}", path.display());
            }
        }
    }
    Ok(true)
}
