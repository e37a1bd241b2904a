//! The typed form of `msfs.conf` (CONFIG.md §8), and the write-back of its `FileCnt` line.
//!
//! Invariants: `BaseDir` is non-empty; `FilesPerDir`, `GetThreadCount` and `PostThreadCount`
//! are positive. On exit the original rewrote the whole file sorted by key, losing comments
//! (KNOWN_DEFECTS D-MSFS-5); [`rewrite_file_cnt`] changes only the value of the `FileCnt` line
//! and keeps every other byte.
//!
//! The resource bounds are additions, read from their own block of optional keys with the
//! defaults below: concurrent connections, the disk space of the store, and the time a whole
//! request may take to arrive.

use std::path::{Path, PathBuf};
use std::time::Duration;

use netlib::{Conf, ConfError};

const LISTEN_IP: &str = "ListenIP";
const LISTEN_PORT: &str = "ListenPort";
const BASE_DIR: &str = "BaseDir";
/// The key of the file counter, rewritten on exit.
pub const FILE_CNT: &str = "FileCnt";
const FILES_PER_DIR: &str = "FilesPerDir";
const GET_THREAD_COUNT: &str = "GetThreadCount";
const POST_THREAD_COUNT: &str = "PostThreadCount";

// Resource bounds (additions; every key optional).
const MAX_CONN_CNT: &str = "MaxConnCnt";
const DISK_QUOTA_MB: &str = "DiskQuotaMB";
const REQUEST_TIMEOUT: &str = "RequestTimeout";

/// Concurrent connections served; more are answered 503 and closed.
pub const DEFAULT_MAX_CONN_CNT: usize = 1024;
/// Disk space the stored files may take, in MiB.
pub const DEFAULT_DISK_QUOTA_MB: u64 = 100 * 1024;
/// Seconds a request (head and body) may take to arrive from the accept.
pub const DEFAULT_REQUEST_TIMEOUT_SECS: u64 = 120;
const MIB: u64 = 1024 * 1024;

/// Everything msfs reads from its conf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Local IPs of the HTTP port.
    pub listen_ips: Vec<String>,
    /// HTTP port (0 picks one, for tests).
    pub listen_port: u16,
    /// Storage root.
    pub base_dir: PathBuf,
    /// File counter at start-up.
    pub file_cnt: u64,
    /// Files per second-level directory.
    pub files_per_dir: u64,
    /// Download worker threads.
    pub get_threads: usize,
    /// Upload worker threads.
    pub post_threads: usize,
    /// The conf file to write `FileCnt` back to on exit (set by [`Config::load`]).
    pub conf_path: Option<PathBuf>,
    /// Limits on what callers can make the server hold.
    pub limits: Limits,
    /// The metrics endpoint (`MetricsListenIP`/`MetricsPort`), off when absent.
    pub metrics: Option<netlib::MetricsConf>,
    /// An HTTPS port beside `ListenPort` (`HttpsPort`, `TlsCertFile`, `TlsKeyFile`), off when
    /// absent.
    pub https: Option<netlib::HttpsConf>,
}

/// The resource bounds (all optional in the conf file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once (`MaxConnCnt`).
    pub max_conn_cnt: usize,
    /// Bytes the stored files may take (`DiskQuotaMB`).
    pub disk_quota: u64,
    /// Time from the accept by which the whole request must be in (`RequestTimeout`, s).
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_conn_cnt: DEFAULT_MAX_CONN_CNT,
            disk_quota: DEFAULT_DISK_QUOTA_MB * MIB,
            request_timeout: Duration::from_secs(DEFAULT_REQUEST_TIMEOUT_SECS),
        }
    }
}

impl Limits {
    /// Reads the optional bound keys; each must be a positive number when present.
    pub fn from_conf(conf: &Conf) -> Result<Self, ConfError> {
        Ok(Self {
            max_conn_cnt: conf.positive_or(MAX_CONN_CNT, DEFAULT_MAX_CONN_CNT)?,
            disk_quota: conf
                .positive_or(DISK_QUOTA_MB, DEFAULT_DISK_QUOTA_MB)?
                .saturating_mul(MIB),
            request_timeout: Duration::from_secs(
                conf.positive_or(REQUEST_TIMEOUT, DEFAULT_REQUEST_TIMEOUT_SECS)?,
            ),
        })
    }
}

impl Config {
    /// Reads `path` (normally `msfs.conf` in the working directory); the counter is written
    /// back to the same file on exit.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfError> {
        let mut config = Self::from_conf(&Conf::load(path.as_ref())?)?;
        config.conf_path = Some(path.as_ref().to_owned());
        Ok(config)
    }

    /// Builds the config from parsed conf text (no write-back).
    pub fn from_conf(conf: &Conf) -> Result<Self, ConfError> {
        Ok(Self {
            listen_ips: conf.require_list(LISTEN_IP)?,
            listen_port: conf.require_num(LISTEN_PORT)?,
            base_dir: PathBuf::from(conf.require(BASE_DIR)?),
            file_cnt: conf.require_num(FILE_CNT)?,
            files_per_dir: conf.require_positive(FILES_PER_DIR)?,
            get_threads: conf.require_positive(GET_THREAD_COUNT)?,
            post_threads: conf.require_positive(POST_THREAD_COUNT)?,
            conf_path: None,
            limits: Limits::from_conf(conf)?,
            metrics: netlib::MetricsConf::from_conf(conf)?,
            https: netlib::HttpsConf::from_conf(conf)?,
        })
    }
}

/// `text` with the value of its effective `FileCnt` line (the first one with a value, as the
/// reader takes it) replaced by `value`; a line is appended if there is none.
pub fn rewrite_file_cnt(text: &str, value: u64) -> String {
    let mut out = String::with_capacity(text.len() + 24);
    let mut replaced = false;
    for line in text.split_inclusive('\n') {
        match (!replaced).then(|| replace_value(line, value)).flatten() {
            Some(new) => {
                out.push_str(&new);
                replaced = true;
            }
            None => out.push_str(line),
        }
    }
    if !replaced {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!("{FILE_CNT}={value}\n"));
    }
    out
}

/// The line with its `FileCnt` value replaced, if it is an effective `FileCnt` line.
fn replace_value(line: &str, value: u64) -> Option<String> {
    let body = line.strip_suffix('\n').unwrap_or(line);
    let body = body.strip_suffix('\r').unwrap_or(body);
    let content = body.split_once('#').map_or(body, |(before, _)| before);
    let (key, raw_value) = content.split_once('=')?;
    let is_blank = |c: char| c == ' ' || c == '\t';
    if key.trim_matches(is_blank) != FILE_CNT {
        return None;
    }
    let trimmed = raw_value.trim_matches(is_blank);
    if trimmed.is_empty() {
        return None;
    }
    let start = key.len() + 1 + (raw_value.len() - raw_value.trim_start_matches(is_blank).len());
    let end = start + trimmed.len();
    Some(format!("{}{value}{}", &line[..start], &line[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "ListenIP=127.0.0.1\t\t# can use multiple ip, seperate by ';'\n\
                          ListenPort=8700\nBaseDir=./msfs_data\nFileCnt=0\nFilesPerDir=30000\n\
                          GetThreadCount=4\t# download workers\nPostThreadCount=1\n";

    #[test]
    fn sample_conf_is_read() {
        let config = Config::from_conf(&Conf::parse(SAMPLE)).unwrap();
        assert_eq!(config.listen_ips, ["127.0.0.1"]);
        assert_eq!(config.listen_port, 8700);
        assert_eq!(config.base_dir, PathBuf::from("./msfs_data"));
        assert_eq!((config.file_cnt, config.files_per_dir), (0, 30_000));
        assert_eq!((config.get_threads, config.post_threads), (4, 1));
        assert_eq!(config.conf_path, None);
        assert_eq!(config.limits, Limits::default());
    }

    #[test]
    fn bounds_have_defaults_and_can_be_set() {
        let defaults = Limits::default();
        assert_eq!(defaults.max_conn_cnt, 1024);
        assert_eq!(defaults.disk_quota, 100 * 1024 * 1024 * 1024);
        assert_eq!(defaults.request_timeout, Duration::from_secs(120));
        let text = format!("{SAMPLE}MaxConnCnt=5\nDiskQuotaMB=3\nRequestTimeout=9\n");
        let limits = Config::from_conf(&Conf::parse(&text)).unwrap().limits;
        assert_eq!(limits.max_conn_cnt, 5);
        assert_eq!(limits.disk_quota, 3 * 1024 * 1024);
        assert_eq!(limits.request_timeout, Duration::from_secs(9));
        for key in [MAX_CONN_CNT, DISK_QUOTA_MB, REQUEST_TIMEOUT] {
            for bad in ["0", "many"] {
                let text = format!("{SAMPLE}{key}={bad}\n");
                assert!(
                    matches!(
                        Config::from_conf(&Conf::parse(&text)),
                        Err(ConfError::Invalid { key: k, .. }) if k == key
                    ),
                    "{key}={bad}"
                );
            }
        }
    }

    #[test]
    fn missing_and_invalid_keys_are_named() {
        for key in [
            LISTEN_IP,
            LISTEN_PORT,
            BASE_DIR,
            FILE_CNT,
            FILES_PER_DIR,
            GET_THREAD_COUNT,
            POST_THREAD_COUNT,
        ] {
            let text = SAMPLE.replace(&format!("{key}="), &format!("{key}=\n#"));
            let err = Config::from_conf(&Conf::parse(&text)).unwrap_err();
            assert!(
                matches!(&err, ConfError::Missing { key: k } if k == key),
                "{err}"
            );
        }
        for key in [FILES_PER_DIR, GET_THREAD_COUNT, POST_THREAD_COUNT] {
            let text = SAMPLE.replace(&format!("{key}="), &format!("{key}=0\n#"));
            let err = Config::from_conf(&Conf::parse(&text)).unwrap_err();
            assert!(
                matches!(&err, ConfError::Invalid { key: k, .. } if k == key),
                "{err}"
            );
        }
        let garbage = SAMPLE.replace("FileCnt=0", "FileCnt=12ab");
        assert!(matches!(
            Config::from_conf(&Conf::parse(&garbage)),
            Err(ConfError::Invalid { key, .. }) if key == FILE_CNT
        ));
    }

    #[test]
    fn file_cnt_rewrite_keeps_everything_else() {
        let text = "# storage\nBaseDir=./d\n  FileCnt =\t17  # counter\r\nFilesPerDir=3\n";
        assert_eq!(
            rewrite_file_cnt(text, 123_456),
            "# storage\nBaseDir=./d\n  FileCnt =\t123456  # counter\r\nFilesPerDir=3\n"
        );
        // Lines the reader ignores are not the effective one; the first real one wins.
        let tricky = "#FileCnt=1\nFileCnt=\nFileCnt=2\nFileCnt=3\n";
        assert_eq!(
            rewrite_file_cnt(tricky, 9),
            "#FileCnt=1\nFileCnt=\nFileCnt=9\nFileCnt=3\n"
        );
        assert_eq!(rewrite_file_cnt("A=1", 5), "A=1\nFileCnt=5\n");
        let rewritten = rewrite_file_cnt(SAMPLE, 42);
        assert_eq!(Conf::parse(&rewritten).get(FILE_CNT), Some("42"));
        assert_eq!(rewritten.replace("FileCnt=42", "FileCnt=0"), SAMPLE);
    }
}
