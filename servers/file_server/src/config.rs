//! The typed form of `fileserver.conf` (CONFIG.md §7), built once at start-up.
//!
//! Invariants: at least one client listen IP; `TaskTimeout` is a positive number of seconds
//! (the original crashes without it, so it is required here). `ClientAdvertiseIP` is an
//! addition (KNOWN_DEFECTS D-FS-6): when present, those addresses are given to msg_servers in
//! IMFileServerIPRsp instead of the listen IPs, so a server listening on `0.0.0.0` can still
//! advertise a routable address. `AllowedPeerIPs` is an addition too (KNOWN_DEFECTS
//! D-AUTH-10): it limits who may link on the msg_server port; the client port stays open.

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
