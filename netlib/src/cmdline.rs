//! The command line every server binary takes: `--config PATH`, `--help`, `--version` and the
//! original's `-v` (CONFIG §1), plus msfs's `-d…` daemon flag. Anything else is a usage error,
//! so a mistyped flag never starts a server with the default conf.
//!
//! Four flags do not need an argument-parsing framework: this parser keeps every server's
//! dependency tree and start-up unchanged, and one [`BinarySpec`] per binary keeps the help
//! text, the default conf name and the version line in one place.

use std::fmt;
use std::path::PathBuf;

/// Build time in the C `__DATE__ __TIME__` form (`Mar 24 2015 17:32:10`), set by build.rs.
pub const BUILD_TIME: &str = env!("TT_BUILD_TIME");

/// The teamtalk-rs release every binary of the workspace shares.
const RELEASE: &str = env!("CARGO_PKG_VERSION");

/// What a binary prints for `-v`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionFlag {
    /// The original has no `-v` (push_server, msfs): `-v` prints the same as `--version`.
    Unsupported,
    /// Only the build line (msg_server).
    BuildOnly,
    /// `Server Version: <name>` then the build line.
    Named(&'static str),
}

/// The fixed facts of one server binary's command line.
#[derive(Debug, Clone, Copy)]
pub struct BinarySpec {
    /// Binary name, as in usage and error messages (`msg_server`).
    pub name: &'static str,
    /// The original's conf file name, read from the working directory by default.
    pub conf_file: &'static str,
    /// What `-v` prints.
    pub version: VersionFlag,
    /// Whether arguments starting with `-d` ask to run in the background (msfs only).
    pub daemon_flag: bool,
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    /// Run the server.
    Run {
        /// The conf file to read.
        config: PathBuf,
        /// Detach from the terminal first (msfs `-d`).
        daemon: bool,
    },
    /// Print this text on stdout and exit 0 (`--help`, `--version`, `-v`).
    Print(String),
}

/// A command line that names no valid invocation; the binary exits with status 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError {
    /// What is wrong, naming the argument.
    pub message: String,
    /// The usage line of the binary.
    pub usage: String,
}

impl BinarySpec {
    /// Parses the arguments after the program name.
    pub fn parse(&self, args: &[String]) -> Result<Invocation, UsageError> {
        // The original answers `-v` only as the single argument; keeping that form exact keeps
        // scripts that parse its output working.
        if let [only] = args {
            if only == "-v" {
                return Ok(Invocation::Print(self.dash_v_text()));
            }
        }
        let mut config = None;
        let mut daemon = false;
        let mut print = None;
        let mut rest = args.iter();
        // Every argument is checked before any is acted on: `--version --bogus` is an error.
        while let Some(arg) = rest.next() {
            match arg.as_str() {
                "-h" | "--help" => print = Some(self.help_text()),
                "-V" | "--version" | "-v" => {
                    print = print.or_else(|| Some(self.version_text()));
                }
                "--config" | "-c" => {
                    let path = rest
                        .next()
                        .ok_or_else(|| self.error(format!("{arg} needs a path")))?;
                    config = Some(PathBuf::from(path));
                }
                a if a.starts_with("--config=") => {
                    config = Some(PathBuf::from(&a["--config=".len()..]));
                }
                a if self.daemon_flag && a.starts_with("-d") => daemon = true,
                a => return Err(self.error(format!("unknown argument '{a}'"))),
            }
        }
        if let Some(text) = print {
            return Ok(Invocation::Print(text));
        }
        if config.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
            return Err(self.error("--config needs a path".to_owned()));
        }
        Ok(Invocation::Run {
            config: config.unwrap_or_else(|| PathBuf::from(self.conf_file)),
            daemon,
        })
    }

    /// The one-line usage summary.
    pub fn usage(&self) -> String {
        let daemon = if self.daemon_flag { " [-d]" } else { "" };
        format!(
            "usage: {} [--config PATH]{daemon} [--help] [--version]",
            self.name
        )
    }

    /// The `--help` text.
    pub fn help_text(&self) -> String {
        let daemon = if self.daemon_flag {
            "  -d                run in the background, detached from the terminal\n"
        } else {
            ""
        };
        format!(
            "{name}: the TeamTalk {name} (teamtalk-rs {RELEASE})\n\n{usage}\n\n\
             options:\n\
             \x20 -c, --config PATH read this conf file (default: {conf} in the working \
             directory)\n\
             {daemon}\
             \x20 -h, --help        print this help\n\
             \x20 -V, --version     print the version and build time (-v alone: the original's \
             form)\n\n\
             server.pid is written to the working directory; the log goes to stderr unless the \
             conf sets LogFile.\nRUST_LOG sets the log level (default info), e.g. \
             RUST_LOG=debug or RUST_LOG=info,netlib=warn.\n",
            name = self.name,
            usage = self.usage(),
            conf = self.conf_file,
        )
    }

    /// The `--version` text: name and release, then the build line.
    pub fn version_text(&self) -> String {
        format!(
            "{} (teamtalk-rs {RELEASE})\nServer Build: {BUILD_TIME}",
            self.name
        )
    }

    /// What the original prints for `-v` alone (CONFIG §1).
    fn dash_v_text(&self) -> String {
        let build = format!("Server Build: {BUILD_TIME}");
        match self.version {
            VersionFlag::Unsupported => self.version_text(),
            VersionFlag::BuildOnly => build,
            VersionFlag::Named(v) => format!("Server Version: {v}\n{build}"),
        }
    }

    fn error(&self, message: String) -> UsageError {
        UsageError {
            message,
            usage: self.usage(),
        }
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}\n{}\n(--help for more)", self.message, self.usage)
    }
}

impl std::error::Error for UsageError {}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTE: BinarySpec = BinarySpec {
        name: "route_server",
        conf_file: "routeserver.conf",
        version: VersionFlag::Named("RouteServer/1.0"),
        daemon_flag: false,
    };

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_owned()).collect()
    }

    fn run(config: &str, daemon: bool) -> Invocation {
        Invocation::Run {
            config: PathBuf::from(config),
            daemon,
        }
    }

    #[test]
    fn no_arguments_reads_the_original_conf_name() {
        assert_eq!(ROUTE.parse(&[]).unwrap(), run("routeserver.conf", false));
    }

    #[test]
    fn config_takes_a_path_in_both_forms() {
        let want = run("/etc/tt/route.conf", false);
        assert_eq!(
            ROUTE
                .parse(&args(&["--config", "/etc/tt/route.conf"]))
                .unwrap(),
            want
        );
        assert_eq!(
            ROUTE
                .parse(&args(&["--config=/etc/tt/route.conf"]))
                .unwrap(),
            want
        );
        assert_eq!(
            ROUTE.parse(&args(&["-c", "/etc/tt/route.conf"])).unwrap(),
            want
        );
        assert!(ROUTE.parse(&args(&["--config"])).is_err());
        assert!(ROUTE.parse(&args(&["--config="])).is_err());
    }

    #[test]
    fn dash_v_alone_prints_the_original_text() {
        let Invocation::Print(text) = ROUTE.parse(&args(&["-v"])).unwrap() else {
            panic!("not a print");
        };
        assert!(text.starts_with("Server Version: RouteServer/1.0\nServer Build: "));
        let build_only = BinarySpec {
            version: VersionFlag::BuildOnly,
            ..ROUTE
        };
        let Invocation::Print(text) = build_only.parse(&args(&["-v"])).unwrap() else {
            panic!("not a print");
        };
        assert!(text.starts_with("Server Build: "));
        assert_eq!(text.lines().count(), 1);
    }

    #[test]
    fn version_and_help_print() {
        for flag in ["--version", "-V"] {
            let Invocation::Print(text) = ROUTE.parse(&args(&[flag])).unwrap() else {
                panic!("not a print");
            };
            assert!(text.starts_with("route_server (teamtalk-rs "), "{text}");
        }
        let Invocation::Print(text) = ROUTE.parse(&args(&["--help"])).unwrap() else {
            panic!("not a print");
        };
        assert!(text.contains("--config PATH"));
        assert!(text.contains("routeserver.conf"));
        assert!(!text.contains("-d "));
    }

    #[test]
    fn unknown_arguments_are_errors_naming_them() {
        for bad in [
            &["--bogus"][..],
            &["start"],
            &["--config", "x", "-d"],
            &["-vv"],
        ] {
            let err = ROUTE.parse(&args(bad)).unwrap_err();
            assert!(err.message.contains("unknown argument"), "{bad:?}: {err}");
            assert!(err.to_string().contains("usage: route_server"));
        }
    }

    #[test]
    fn daemon_flag_only_where_declared() {
        let msfs = BinarySpec {
            name: "msfs",
            conf_file: "msfs.conf",
            version: VersionFlag::Unsupported,
            daemon_flag: true,
        };
        assert_eq!(msfs.parse(&args(&["-d"])).unwrap(), run("msfs.conf", true));
        assert_eq!(
            msfs.parse(&args(&["-daemon", "--config", "m.conf"]))
                .unwrap(),
            run("m.conf", true)
        );
        let Invocation::Print(text) = msfs.parse(&args(&["-v"])).unwrap() else {
            panic!("not a print");
        };
        assert!(text.starts_with("msfs (teamtalk-rs "));
    }
}
