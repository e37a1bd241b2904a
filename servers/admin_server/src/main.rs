//! The `admin_server` binary: reads `adminserver.conf` from the working directory (or
//! `--config PATH`) and serves the console; `--create-admin NAME` instead creates an
//! administrator and prints its generated password once.

use std::process::ExitCode;

use admin_server::{Config, Server, account};
use anyhow::Context;
use netlib::cmdline::{BinarySpec, VersionFlag};
use netlib::process::run_binary;

const SPEC: BinarySpec = BinarySpec {
    name: "admin_server",
    conf_file: "adminserver.conf",
    version: VersionFlag::Named("AdminServer/1.0"),
    daemon_flag: false,
};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, name, rest @ ..] = args.as_slice() {
        if flag == "--create-admin" {
            return create_admin(name, rest);
        }
    }
    run_binary(
        &SPEC,
        |startup| -> anyhow::Result<Server> {
            let config = Config::load(&startup.config)
                .with_context(|| format!("reading {}", startup.config.display()))?;
            let server = Server::bind(config)?;
            println!("server start listen on: {}", server.local_addr());
            Ok(server)
        },
        |server| Ok(server.run()?),
    )
}

/// `--create-admin NAME [--config PATH]`: the password goes to stdout, once.
fn create_admin(name: &str, rest: &[String]) -> ExitCode {
    let conf = match rest {
        [] => SPEC.conf_file.to_owned(),
        [flag, path] if flag == "--config" => path.clone(),
        _ => {
            eprintln!("usage: admin_server --create-admin NAME [--config PATH]");
            return ExitCode::from(2);
        }
    };
    let result = Config::load(&conf)
        .with_context(|| format!("reading {conf}"))
        .and_then(|config| Ok(mysql::Conn::new(config.db.opts())?))
        .and_then(|mut conn| Ok(account::create(&mut conn, name)?));
    match result {
        Ok(password) => {
            println!("administrator {name} created; password: {password}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("admin_server: {e:#}");
            ExitCode::FAILURE
        }
    }
}
