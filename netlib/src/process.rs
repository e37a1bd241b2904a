//! Process conventions shared by every server binary (CONFIG.md §1): the `-v` flag, the
//! `server.pid` file in the working directory, and the frame every `main` runs in.

use std::fmt;
use std::io;
use std::path::Path;
use std::process::ExitCode;

/// Build time in the C `__DATE__ __TIME__` form (`Mar 24 2015 17:32:10`), set by build.rs.
pub const BUILD_TIME: &str = env!("TT_BUILD_TIME");

/// If the only argument is `-v`, the text the original prints (`version` is e.g.
/// `Some("LoginServer/1.0")`; msg_server prints only the build line).
pub fn version_text(args: &[String], version: Option<&str>) -> Option<String> {
    if args.len() != 2 || args[1] != "-v" {
        return None;
    }
    let build = format!("Server Build: {BUILD_TIME}");
    Some(match version {
        Some(v) => format!("Server Version: {v}\n{build}"),
        None => build,
    })
}

/// Writes `server.pid` (the decimal pid, no trailing newline) into `dir`.
pub fn write_pid_file(dir: &Path) -> io::Result<()> {
    std::fs::write(dir.join("server.pid"), std::process::id().to_string())
}

/// What a binary prints for `-v`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionFlag {
    /// No `-v` support (push_server, msfs): the argument is ignored.
    Unsupported,
    /// Only the build line (msg_server).
    BuildOnly,
    /// `Server Version: <name>` then the build line.
    Named(&'static str),
}

/// The frame of every server binary: answers `-v`, initialises logging, runs `start` (load the
/// conf, bind, print the listen lines, install signal handlers), writes `server.pid` in the
/// working directory right before the loop as the original does, then runs `run`. An error is
/// printed once with its cause chain and becomes exit status 1.
pub fn run_binary<S, E>(
    name: &str,
    version: VersionFlag,
    start: impl FnOnce() -> Result<S, E>,
    run: impl FnOnce(S) -> Result<(), E>,
) -> ExitCode
where
    E: fmt::Display + From<io::Error>,
{
    let args: Vec<String> = std::env::args().collect();
    let text = match version {
        VersionFlag::Unsupported => None,
        VersionFlag::BuildOnly => version_text(&args, None),
        VersionFlag::Named(v) => version_text(&args, Some(v)),
    };
    if let Some(text) = text {
        println!("{text}");
        return ExitCode::SUCCESS;
    }
    crate::logging::init();
    let result = start().and_then(|server| {
        write_pid_file(Path::new("."))?;
        println!("now enter the event loop...");
        run(server)
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_only_for_a_single_dash_v() {
        let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let text = version_text(&args(&["x", "-v"]), Some("RouteServer/1.0")).unwrap();
        assert!(text.starts_with("Server Version: RouteServer/1.0\nServer Build: "));
        assert!(version_text(&args(&["x", "-v", "y"]), None).is_none());
        assert!(version_text(&args(&["x"]), None).is_none());
        assert!(
            version_text(&args(&["x", "-v"]), None)
                .unwrap()
                .starts_with("Server Build: ")
        );
    }

    #[test]
    fn pid_file_has_no_newline() {
        let dir = std::env::temp_dir().join(format!("netlib-pid-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        write_pid_file(&dir).unwrap();
        let text = std::fs::read_to_string(dir.join("server.pid")).unwrap();
        assert_eq!(text, std::process::id().to_string());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
