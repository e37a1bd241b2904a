//! Process conventions shared by every server binary (CONFIG §1): the `server.pid` file in
//! the working directory and the frame every `main` runs in (command line, logging, exit
//! codes).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use crate::cmdline::{BinarySpec, Invocation};
use crate::conf::Conf;
use crate::logging::{self, LogFileConfig};

/// Writes `server.pid` (the decimal pid, no trailing newline) into `dir`.
pub fn write_pid_file(dir: &Path) -> io::Result<()> {
    std::fs::write(dir.join("server.pid"), std::process::id().to_string())
}

/// What `start` gets from the frame.
#[derive(Debug, Clone)]
pub struct Startup {
    /// The conf file named on the command line, or the original's name in the working
    /// directory.
    pub config: PathBuf,
    /// SIGHUP reopens the log file (the conf set `LogFile`): the binary must not also treat
    /// it as a stop.
    pub hup_reopens_log: bool,
}

/// The frame of every server binary: parses the command line (usage errors exit 2 before
/// anything starts), initialises logging (stderr, or the conf's `LogFile`), runs `start`
/// (load the conf, bind, print the listen lines, install signal handlers), writes
/// `server.pid` in the working directory right before the loop as the original does, then
/// runs `run`. An error is printed once with its cause chain and becomes exit status 1.
pub fn run_binary<S, E>(
    spec: &BinarySpec,
    start: impl FnOnce(&Startup) -> Result<S, E>,
    run: impl FnOnce(S) -> Result<(), E>,
) -> ExitCode
where
    E: fmt::Display + From<io::Error>,
{
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (config, daemon) = match spec.parse(&args) {
        Ok(Invocation::Print(text)) => {
            println!("{text}");
            return ExitCode::SUCCESS;
        }
        Ok(Invocation::Run { config, daemon }) => (config, daemon),
        Err(e) => {
            eprintln!("{}: {e}", spec.name);
            return ExitCode::from(2);
        }
    };
    if daemon {
        return detach(spec.name, &args);
    }
    let hup_reopens_log = match init_logging(&config) {
        Ok(reopens) => reopens,
        Err(e) => {
            eprintln!("{}: {e:#}", spec.name);
            return ExitCode::FAILURE;
        }
    };
    let startup = Startup {
        config,
        hup_reopens_log,
    };
    let result = start(&startup).and_then(|server| {
        write_pid_file(Path::new("."))?;
        println!("now enter the event loop...");
        run(server)
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}: {e:#}", spec.name);
            ExitCode::FAILURE
        }
    }
}

/// Logs to the conf's `LogFile` when it names one. A conf that cannot be read here logs to
/// stderr: the server's own conf loading then reports that error, naming the file.
fn init_logging(config: &Path) -> Result<bool, String> {
    let file = match Conf::load(config) {
        Ok(conf) => LogFileConfig::from_conf(&conf).map_err(|e| e.to_string())?,
        Err(_) => None,
    };
    let shown = file.as_ref().map(|f| f.path.display().to_string());
    logging::init(file).map_err(|e| format!("opening log file {}: {e}", shown.unwrap_or_default()))
}

/// Starts this program again without the `-d…` arguments, detached from the terminal in its
/// own process group (the original msfs daemonised itself), and exits.
fn detach(name: &str, args: &[String]) -> ExitCode {
    use std::os::unix::process::CommandExt;
    let rest = args.iter().filter(|a| !a.starts_with("-d"));
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("{name}: daemon error: {e}");
            return ExitCode::FAILURE;
        }
    };
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
            eprintln!("{name}: daemon error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
