//! Logging set-up: `log` macros everywhere, `env_logger` initialised once by each binary's main
//! or by the testkit. The level comes from `RUST_LOG` (`info` by default; e.g.
//! `RUST_LOG=debug`, `RUST_LOG=info,netlib=warn`).
//!
//! Records go to stderr unless the conf names a `LogFile` (a teamtalk-rs key; the original
//! configured log4cxx in a separate file). A log file is rotated by size (`LogMaxSizeMB`,
//! `LogKeepFiles`: `server.log` → `server.log.1` → … → `server.log.<keep>`, the oldest
//! dropped) and reopened on SIGHUP, so an external logrotate can move it away and signal.
//! Rotation and reopening happen between records: a record is never split over two files.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::conf::{Conf, ConfError};

/// Conf key: the file to append the log to (relative to the working directory); stderr
/// without it.
pub const LOG_FILE: &str = "LogFile";
/// Conf key: rotate the log file when it would grow past this many MiB; 0 never rotates
/// (for an external logrotate).
pub const LOG_MAX_SIZE_MB: &str = "LogMaxSizeMB";
/// Conf key: how many rotated files to keep beside the live one.
pub const LOG_KEEP_FILES: &str = "LogKeepFiles";

/// Default `LogMaxSizeMB`.
const DEFAULT_MAX_SIZE_MB: u64 = 100;
/// Default `LogKeepFiles`.
const DEFAULT_KEEP_FILES: u32 = 10;
const MIB: u64 = 1024 * 1024;

/// Where and how to keep a log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFileConfig {
    /// The live file.
    pub path: PathBuf,
    /// Size that triggers a rotation; 0 never rotates.
    pub max_bytes: u64,
    /// Rotated files kept (`path.1` … `path.<keep>`); 0 truncates instead of keeping one.
    pub keep: u32,
}

impl LogFileConfig {
    /// The log file settings of a conf, `None` without `LogFile` (log to stderr).
    pub fn from_conf(conf: &Conf) -> Result<Option<Self>, ConfError> {
        let Some(path) = conf.get(LOG_FILE) else {
            return Ok(None);
        };
        let max_mb: u64 = conf.num_or(LOG_MAX_SIZE_MB, DEFAULT_MAX_SIZE_MB)?;
        Ok(Some(Self {
            path: PathBuf::from(path),
            max_bytes: max_mb.saturating_mul(MIB),
            keep: conf.num_or(LOG_KEEP_FILES, DEFAULT_KEEP_FILES)?,
        }))
    }
}

/// An append-only log file that rotates by size and reopens its path when asked.
#[derive(Debug)]
pub struct RotatingFile {
    config: LogFileConfig,
    file: File,
    /// Bytes in the live file, counted from its size at open.
    written: u64,
    /// Set (by the SIGHUP handler) to reopen the path before the next record.
    reopen: Arc<AtomicBool>,
}

impl RotatingFile {
    /// Opens (creating, appending to) the file.
    pub fn open(config: LogFileConfig) -> io::Result<Self> {
        let (file, written) = open_append(&config.path)?;
        Ok(Self {
            config,
            file,
            written,
            reopen: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The flag that makes the next write reopen the path (what SIGHUP sets).
    pub fn reopen_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.reopen)
    }

    /// Shifts `path.N` to `path.N+1` (dropping the last), the live file to `path.1`, and
    /// starts a new live file.
    fn rotate(&mut self) -> io::Result<()> {
        let numbered = |n: u32| {
            let mut name = self.config.path.clone().into_os_string();
            name.push(format!(".{n}"));
            PathBuf::from(name)
        };
        if self.config.keep == 0 {
            self.file = File::create(&self.config.path)?;
            self.written = 0;
            return Ok(());
        }
        for n in (1..self.config.keep).rev() {
            let from = numbered(n);
            if from.exists() {
                std::fs::rename(&from, numbered(n + 1))?;
            }
        }
        std::fs::rename(&self.config.path, numbered(1))?;
        self.reopen_now()
    }

    fn reopen_now(&mut self) -> io::Result<()> {
        let (file, written) = open_append(&self.config.path)?;
        self.file = file;
        self.written = written;
        Ok(())
    }
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.reopen.swap(false, Ordering::Relaxed) {
            self.reopen_now()?;
        }
        let over = self.written + buf.len() as u64 > self.config.max_bytes;
        if self.config.max_bytes > 0 && self.written > 0 && over {
            // A failed rotation keeps writing to the current file rather than losing records.
            if let Err(e) = self.rotate() {
                let _ = writeln!(self.file, "log rotation failed: err={e}");
            }
        }
        let n = self.file.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

fn open_append(path: &Path) -> io::Result<(File, u64)> {
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    let len = file.metadata()?.len();
    Ok((file, len))
}

/// Initialises logging for a server binary: stderr, or `file` rotated by size and reopened
/// on SIGHUP. Returns whether SIGHUP now reopens the log (the binary must then not treat
/// SIGHUP as a stop).
pub fn init(file: Option<LogFileConfig>) -> io::Result<bool> {
    let mut builder = builder("info");
    builder.format_timestamp_millis();
    let reopens = match file {
        None => false,
        Some(config) => {
            let file = RotatingFile::open(config)?;
            signal_hook::flag::register(signal_hook::consts::SIGHUP, file.reopen_flag())?;
            builder.target(env_logger::Target::Pipe(Box::new(file)));
            true
        }
    };
    builder.init();
    Ok(reopens)
}

/// Initialises logging for tests; repeated calls are harmless.
pub fn init_for_tests() {
    let _ = builder("warn").is_test(true).try_init();
}

fn builder(default_level: &str) -> env_logger::Builder {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_level))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("netlib-log-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn conf_keys_with_defaults() {
        assert_eq!(LogFileConfig::from_conf(&Conf::parse("")).unwrap(), None);
        let c = LogFileConfig::from_conf(&Conf::parse("LogFile=log/ms.log\n"))
            .unwrap()
            .unwrap();
        assert_eq!(c.path, PathBuf::from("log/ms.log"));
        assert_eq!(c.max_bytes, DEFAULT_MAX_SIZE_MB * MIB);
        assert_eq!(c.keep, DEFAULT_KEEP_FILES);
        let c = Conf::parse("LogFile=a\nLogMaxSizeMB=0\nLogKeepFiles=3\n");
        let c = LogFileConfig::from_conf(&c).unwrap().unwrap();
        assert_eq!((c.max_bytes, c.keep), (0, 3));
        let bad = Conf::parse("LogFile=a\nLogMaxSizeMB=big\n");
        assert!(LogFileConfig::from_conf(&bad).is_err());
    }

    #[test]
    fn rotates_by_size_keeping_the_newest_files() {
        let dir = temp_dir("rotate");
        let path = dir.join("server.log");
        let mut log = RotatingFile::open(LogFileConfig {
            path: path.clone(),
            max_bytes: 10,
            keep: 2,
        })
        .unwrap();
        // Each record fits; the second and later ones would pass 10 bytes, so each starts a
        // new file and the oldest beyond two rotated files is dropped.
        for record in ["one 1234\n", "two 1234\n", "three 12\n", "four 123\n"] {
            log.write_all(record.as_bytes()).unwrap();
        }
        assert_eq!(read(&path), "four 123\n");
        let rotated = |n: u32| dir.join(format!("server.log.{n}"));
        assert_eq!(read(&rotated(1)), "three 12\n");
        assert_eq!(read(&rotated(2)), "two 1234\n");
        assert!(!rotated(3).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn appends_to_an_existing_file_and_counts_its_size() {
        let dir = temp_dir("append");
        let path = dir.join("server.log");
        std::fs::write(&path, "old record\n").unwrap();
        let config = LogFileConfig {
            path: path.clone(),
            max_bytes: 15,
            keep: 1,
        };
        let mut log = RotatingFile::open(config).unwrap();
        log.write_all(b"new\n").unwrap();
        assert_eq!(read(&path), "old record\nnew\n");
        log.write_all(b"newer\n").unwrap();
        assert_eq!(read(&path), "newer\n");
        assert_eq!(read(&dir.join("server.log.1")), "old record\nnew\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn reopens_the_path_after_it_was_moved_away() {
        let dir = temp_dir("reopen");
        let path = dir.join("server.log");
        let mut log = RotatingFile::open(LogFileConfig {
            path: path.clone(),
            max_bytes: 0,
            keep: 0,
        })
        .unwrap();
        log.write_all(b"before\n").unwrap();
        // What logrotate does: rename, then signal.
        std::fs::rename(&path, dir.join("moved.log")).unwrap();
        log.write_all(b"still old\n").unwrap();
        log.reopen_flag().store(true, Ordering::Relaxed);
        log.write_all(b"after\n").unwrap();
        assert_eq!(read(&dir.join("moved.log")), "before\nstill old\n");
        assert_eq!(read(&path), "after\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
