//! The typed form of `fileserver.conf` (CONFIG.md §7), built once at start-up.
//!
//! Invariants: at least one client listen IP; `TaskTimeout` is a positive number of seconds
//! (the original crashes without it, so it is required here). `ClientAdvertiseIP` is an
//! addition (KNOWN_DEFECTS D-FS-6): when present, those addresses are given to msg_servers in
//! IMFileServerIPRsp instead of the listen IPs, so a server listening on `0.0.0.0` can still
//! advertise a routable address. `AllowedPeerIPs` is an addition too (KNOWN_DEFECTS
//! D-AUTH-10): it limits who may link on the msg_server port; the client port stays open.
//!
//! The resource bounds (KNOWN_DEFECTS D-FS-3 and the D-NET family) are additions too, read
//! from their own block of optional keys with the defaults below: how long stored offline files
//! are kept, the disk quota of the offline store, the largest offline file, the number of
//! live tasks a user may send, and the longest file name.

use std::path::{Path, PathBuf};
use std::time::Duration;

use netlib::{Conf, ConfError, PeerFilter};

const CLIENT_LISTEN_IP: &str = "ClientListenIP";
const CLIENT_LISTEN_PORT: &str = "ClientListenPort";
const CLIENT_ADVERTISE_IP: &str = "ClientAdvertiseIP";
const MSG_SERVER_LISTEN_IP: &str = "MsgServerListenIP";
const MSG_SERVER_LISTEN_PORT: &str = "MsgServerListenPort";
const TASK_TIMEOUT: &str = "TaskTimeout";
const ALLOWED_PEER_IPS: &str = "AllowedPeerIPs";

// Resource bounds (additions; every key optional).
const OFFLINE_FILE_RETENTION_DAYS: &str = "OfflineFileRetentionDays";
const OFFLINE_DISK_QUOTA_MB: &str = "OfflineDiskQuotaMB";
const MAX_FILE_SIZE_MB: &str = "MaxFileSizeMB";
const MAX_TASKS_PER_USER: &str = "MaxTasksPerUser";
const MAX_FILE_NAME_LEN: &str = "MaxFileNameLen";

/// Days a stored offline file is kept after its upload (D-FS-3).
pub const DEFAULT_OFFLINE_FILE_RETENTION_DAYS: u64 = 7;
/// Disk space the offline store may take, in MiB (headers included).
pub const DEFAULT_OFFLINE_DISK_QUOTA_MB: u64 = 10 * 1024;
/// Largest offline file accepted, in MiB.
pub const DEFAULT_MAX_FILE_SIZE_MB: u64 = 1024;
/// Live tasks one user may have as sender.
pub const DEFAULT_MAX_TASKS_PER_USER: usize = 32;
/// Longest file name accepted, in bytes.
pub const DEFAULT_MAX_FILE_NAME_LEN: usize = 1024;
/// A client connection must log in to a task within this long of its accept.
pub const DEFAULT_LOGIN_TIMEOUT: Duration = Duration::from_secs(30);
const MIB: u64 = 1024 * 1024;
const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// Where offline files are stored, relative to the working directory (STORAGE §6).
pub const DEFAULT_OFFLINE_DIR: &str = "./offline_file";
/// Clients are dropped after this long without input (PROTOCOL §6.1).
pub const DEFAULT_CLIENT_TIMEOUT: Duration = Duration::from_secs(120);
/// msg_server links are dropped after this long without input (PROTOCOL §6.1).
pub const DEFAULT_MSG_SERVER_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything file_server reads from its conf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Local IPs of the client port.
    pub client_listen_ips: Vec<String>,
    /// Client port (0 picks one, for tests).
    pub client_listen_port: u16,
    /// Addresses advertised to msg_servers; the client listen IPs unless configured.
    pub client_advertise_ips: Vec<String>,
    /// Local IP of the msg_server port (a single address, not a list).
    pub msg_server_listen_ip: String,
    /// msg_server port (0 picks one, for tests).
    pub msg_server_listen_port: u16,
    /// Who may link on the msg_server port (`AllowedPeerIPs`, addresses and CIDR ranges);
    /// without the key, loopback and private addresses only.
    pub allowed_peers: PeerFilter,
    /// A transfer task idle for longer than this is dropped (KNOWN_DEFECTS D-FS-2).
    pub task_timeout: Duration,
    /// Root of the offline file store.
    pub offline_dir: PathBuf,
    /// Idle limit of client connections.
    pub client_timeout: Duration,
    /// Idle limit of msg_server links.
    pub msg_server_timeout: Duration,
    /// Limits on what clients and msg_servers can make the server hold.
    pub limits: Limits,
    /// The metrics endpoint (`MetricsListenIP`/`MetricsPort`), off when absent.
    pub metrics: Option<netlib::MetricsConf>,
    /// Mutual TLS on the links to and from other servers (`LinkTlsCertFile`,
    /// `LinkTlsKeyFile`, `LinkTlsCaFile`), off when absent.
    pub link_tls: Option<netlib::LinkTlsConf>,
}

/// The resource bounds (all optional in the conf file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// A stored offline file older than this is deleted (`OfflineFileRetentionDays`).
    pub offline_retention: Duration,
    /// Bytes the offline store may take, headers included (`OfflineDiskQuotaMB`).
    pub offline_disk_quota: u64,
    /// Largest offline file in bytes (`MaxFileSizeMB`).
    pub max_file_size: u64,
    /// Live tasks one user may have as sender (`MaxTasksPerUser`).
    pub max_tasks_per_user: usize,
    /// Longest file name in bytes (`MaxFileNameLen`).
    pub max_file_name_len: usize,
    /// Time a client connection has to log in to a task.
    pub login_timeout: Duration,
}

impl Limits {
    /// Reads the optional bound keys; each must be a positive number when present.
    pub fn from_conf(conf: &Conf) -> Result<Self, ConfError> {
        let retention_days = conf.positive_or(
            OFFLINE_FILE_RETENTION_DAYS,
            DEFAULT_OFFLINE_FILE_RETENTION_DAYS,
        )?;
        let quota_mb = conf.positive_or(OFFLINE_DISK_QUOTA_MB, DEFAULT_OFFLINE_DISK_QUOTA_MB)?;
        let file_mb = conf.positive_or(MAX_FILE_SIZE_MB, DEFAULT_MAX_FILE_SIZE_MB)?;
        Ok(Self {
            offline_retention: days(retention_days),
            offline_disk_quota: quota_mb.saturating_mul(MIB),
            max_file_size: file_mb.saturating_mul(MIB),
            max_tasks_per_user: conf.positive_or(MAX_TASKS_PER_USER, DEFAULT_MAX_TASKS_PER_USER)?,
            max_file_name_len: conf.positive_or(MAX_FILE_NAME_LEN, DEFAULT_MAX_FILE_NAME_LEN)?,
            login_timeout: DEFAULT_LOGIN_TIMEOUT,
        })
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            offline_retention: days(DEFAULT_OFFLINE_FILE_RETENTION_DAYS),
            offline_disk_quota: DEFAULT_OFFLINE_DISK_QUOTA_MB * MIB,
            max_file_size: DEFAULT_MAX_FILE_SIZE_MB * MIB,
            max_tasks_per_user: DEFAULT_MAX_TASKS_PER_USER,
            max_file_name_len: DEFAULT_MAX_FILE_NAME_LEN,
            login_timeout: DEFAULT_LOGIN_TIMEOUT,
        }
    }
}

fn days(n: u64) -> Duration {
    DAY.saturating_mul(u32::try_from(n).unwrap_or(u32::MAX))
}

impl Config {
    /// Reads `path` (normally `fileserver.conf` in the working directory).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfError> {
        Self::from_conf(&Conf::load(path)?)
    }

    /// Builds the config from parsed conf text.
    pub fn from_conf(conf: &Conf) -> Result<Self, ConfError> {
        let client_listen_ips = conf.require_list(CLIENT_LISTEN_IP)?;
        let client_listen_port = conf.require_num(CLIENT_LISTEN_PORT)?;
        let msg_server_listen_ip = conf.require(MSG_SERVER_LISTEN_IP)?.to_owned();
        let msg_server_listen_port = conf.require_num(MSG_SERVER_LISTEN_PORT)?;
        let timeout_secs: u64 = conf.require_num(TASK_TIMEOUT)?;
        if timeout_secs == 0 {
            return Err(ConfError::Invalid {
                key: TASK_TIMEOUT.to_owned(),
                value: "0".to_owned(),
                reason: "must be a positive number of seconds".to_owned(),
            });
        }
        let client_advertise_ips = match conf.get(CLIENT_ADVERTISE_IP) {
            Some(_) => conf.require_list(CLIENT_ADVERTISE_IP)?,
            None => client_listen_ips.clone(),
        };
        Ok(Self {
            client_listen_ips,
            client_listen_port,
            client_advertise_ips,
            msg_server_listen_ip,
            msg_server_listen_port,
            allowed_peers: PeerFilter::from_conf(conf, ALLOWED_PEER_IPS)?,
            task_timeout: Duration::from_secs(timeout_secs),
            offline_dir: PathBuf::from(DEFAULT_OFFLINE_DIR),
            client_timeout: DEFAULT_CLIENT_TIMEOUT,
            msg_server_timeout: DEFAULT_MSG_SERVER_TIMEOUT,
            limits: Limits::from_conf(conf)?,
            metrics: netlib::MetricsConf::from_conf(conf)?,
            link_tls: netlib::LinkTlsConf::from_conf(conf)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "ClientListenIP=127.0.0.1;127.0.0.2\t# also advertised\n\
                          ClientListenPort=8600\nMsgServerListenIP=127.0.0.1\n\
                          MsgServerListenPort=8601\nTaskTimeout=3600\n";

    #[test]
    fn sample_conf_is_read() {
        let config = Config::from_conf(&Conf::parse(SAMPLE)).unwrap();
        assert_eq!(config.client_listen_ips, ["127.0.0.1", "127.0.0.2"]);
        assert_eq!(config.client_advertise_ips, config.client_listen_ips);
        assert_eq!(config.client_listen_port, 8600);
        assert_eq!(config.msg_server_listen_ip, "127.0.0.1");
        assert_eq!(config.msg_server_listen_port, 8601);
        assert_eq!(config.task_timeout, Duration::from_secs(3600));
        assert_eq!(config.offline_dir, PathBuf::from("./offline_file"));
        assert_eq!(config.client_timeout, Duration::from_secs(120));
        assert_eq!(config.msg_server_timeout, Duration::from_secs(30));
    }

    #[test]
    fn every_required_key_is_named_when_missing() {
        for key in [
            CLIENT_LISTEN_IP,
            CLIENT_LISTEN_PORT,
            MSG_SERVER_LISTEN_IP,
            MSG_SERVER_LISTEN_PORT,
            TASK_TIMEOUT,
        ] {
            let text: String = SAMPLE
                .lines()
                .filter(|l| !l.starts_with(&format!("{key}=")))
                .map(|l| format!("{l}\n"))
                .collect();
            let err = Config::from_conf(&Conf::parse(&text)).unwrap_err();
            assert!(
                matches!(&err, ConfError::Missing { key: k } if k == key),
                "{key}: {err}"
            );
        }
    }

    #[test]
    fn garbage_numbers_and_zero_timeout_are_refused() {
        let bad_port = SAMPLE.replace("ClientListenPort=8600", "ClientListenPort=86x");
        assert!(matches!(
            Config::from_conf(&Conf::parse(&bad_port)),
            Err(ConfError::Invalid { key, .. }) if key == CLIENT_LISTEN_PORT
        ));
        let zero = SAMPLE.replace("TaskTimeout=3600", "TaskTimeout=0");
        assert!(matches!(
            Config::from_conf(&Conf::parse(&zero)),
            Err(ConfError::Invalid { key, .. }) if key == TASK_TIMEOUT
        ));
    }

    #[test]
    fn bounds_have_defaults_and_can_be_set() {
        let config = Config::from_conf(&Conf::parse(SAMPLE)).unwrap();
        assert_eq!(config.limits, Limits::default());
        assert_eq!(
            config.limits.offline_retention,
            Duration::from_secs(7 * 86_400)
        );
        assert_eq!(config.limits.offline_disk_quota, 10 * 1024 * 1024 * 1024);
        let text = format!(
            "{SAMPLE}OfflineFileRetentionDays=30\nOfflineDiskQuotaMB=2\nMaxFileSizeMB=1\n\
             MaxTasksPerUser=3\nMaxFileNameLen=40\n"
        );
        let limits = Config::from_conf(&Conf::parse(&text)).unwrap().limits;
        assert_eq!(limits.offline_retention, Duration::from_secs(30 * 86_400));
        assert_eq!(limits.offline_disk_quota, 2 * 1024 * 1024);
        assert_eq!(limits.max_file_size, 1024 * 1024);
        assert_eq!(limits.max_tasks_per_user, 3);
        assert_eq!(limits.max_file_name_len, 40);
        for key in [
            OFFLINE_FILE_RETENTION_DAYS,
            OFFLINE_DISK_QUOTA_MB,
            MAX_FILE_SIZE_MB,
            MAX_TASKS_PER_USER,
            MAX_FILE_NAME_LEN,
        ] {
            for bad in ["0", "x"] {
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
    fn allowed_peer_ips_defaults_to_private_ranges_and_names_a_bad_entry() {
        let config = Config::from_conf(&Conf::parse(SAMPLE)).unwrap();
        assert!(config.allowed_peers.is_default());
        let listed = format!("{SAMPLE}AllowedPeerIPs=10.2.0.0/16;10.3.0.1\n");
        let config = Config::from_conf(&Conf::parse(&listed)).unwrap();
        assert!(config.allowed_peers.allows("10.2.9.9".parse().unwrap()));
        assert!(!config.allowed_peers.allows("127.0.0.1".parse().unwrap()));
        let bad = format!("{SAMPLE}AllowedPeerIPs=10.2.0.0/16;msg1\n");
        assert!(matches!(
            Config::from_conf(&Conf::parse(&bad)),
            Err(ConfError::Invalid { key, value, .. }) if key == ALLOWED_PEER_IPS && value == "msg1"
        ));
    }

    #[test]
    fn advertised_addresses_can_differ_from_listen_addresses() {
        let text = format!("{SAMPLE}ClientAdvertiseIP=10.0.0.5;;10.0.0.6\n").replace(
            "ClientListenIP=127.0.0.1;127.0.0.2",
            "ClientListenIP=0.0.0.0",
        );
        let config = Config::from_conf(&Conf::parse(&text)).unwrap();
        assert_eq!(config.client_listen_ips, ["0.0.0.0"]);
        assert_eq!(config.client_advertise_ips, ["10.0.0.5", "10.0.0.6"]);
    }
}
