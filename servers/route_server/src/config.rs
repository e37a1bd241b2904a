//! route_server configuration: `routeserver.conf` (CONFIG.md §5) read once into typed values.
//!
//! Only the listen address and the optional `AllowedPeerIPs` (an addition for KNOWN_DEFECTS
//! D-AUTH-10) come from the file; the link heartbeat and timeout are the original's fixed
//! constants (PROTOCOL §6.1), kept as fields so tests can shorten them.

use std::path::Path;
use std::time::Duration;

use netlib::{Conf, ConfError, PeerFilter};

const LISTEN_IP: &str = "ListenIP";
const LISTEN_MSG_PORT: &str = "ListenMsgPort";
const ALLOWED_PEER_IPS: &str = "AllowedPeerIPs";

/// Heartbeat sent on a link after this long without sending (PROTOCOL §6.1).
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);
/// A link is closed after this long without receiving (PROTOCOL §6.1).
pub const DEFAULT_LINK_TIMEOUT: Duration = Duration::from_secs(30);

/// Typed route_server settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Local IPs to listen on (`ListenIP`, a `;`-list).
    pub listen_ips: Vec<String>,
    /// Port for msg_server and http_msg_server links (`ListenMsgPort`; 0 picks a free one).
    pub listen_port: u16,
    /// Idle-send interval after which a link gets a heartbeat.
    pub heartbeat_interval: Duration,
    /// Idle-receive time after which a link is closed.
    pub link_timeout: Duration,
    /// Who may link (`AllowedPeerIPs`, addresses and CIDR ranges); without the key, loopback
    /// and private addresses only.
    pub allowed_peers: PeerFilter,
    /// The metrics endpoint (`MetricsListenIP`/`MetricsPort`), off when absent.
    pub metrics: Option<netlib::MetricsConf>,
    /// Mutual TLS on the links to and from other servers (`LinkTlsCertFile`,
    /// `LinkTlsKeyFile`, `LinkTlsCaFile`), off when absent.
    pub link_tls: Option<netlib::LinkTlsConf>,
}

impl Config {
    /// Reads and validates a conf file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfError> {
        Self::from_conf(&Conf::load(path)?)
    }

    /// Builds the settings from parsed conf values; a missing or invalid key is named.
    pub fn from_conf(conf: &Conf) -> Result<Self, ConfError> {
        Ok(Self {
            listen_ips: conf.require_list(LISTEN_IP)?,
            listen_port: conf.require_num(LISTEN_MSG_PORT)?,
            heartbeat_interval: DEFAULT_HEARTBEAT_INTERVAL,
            link_timeout: DEFAULT_LINK_TIMEOUT,
            allowed_peers: PeerFilter::from_conf(conf, ALLOWED_PEER_IPS)?,
            metrics: netlib::MetricsConf::from_conf(conf)?,
            link_tls: netlib::LinkTlsConf::from_conf(conf)?,
        })
    }
}
