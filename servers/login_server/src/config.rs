//! login_server configuration: `loginserver.conf` (CONFIG.md §3) read once into typed values.
//!
//! Every key is required, including `ClientListenIP`/`ClientPort`, which the original read
//! without checking (KNOWN_DEFECTS D-LS-4). The timeouts are the original's fixed constants
//! (PROTOCOL §6.1), kept as fields so tests can shorten them. `AllowedPeerIPs` is an addition
//! (KNOWN_DEFECTS D-AUTH-10): it limits who may link on the msg_server port only.

use std::path::Path;
use std::time::Duration;

use netlib::{Conf, ConfError, PeerFilter};

const CLIENT_LISTEN_IP: &str = "ClientListenIP";
const CLIENT_PORT: &str = "ClientPort";
const HTTP_LISTEN_IP: &str = "HttpListenIP";
const HTTP_PORT: &str = "HttpPort";
const MSG_SERVER_LISTEN_IP: &str = "MsgServerListenIP";
const MSG_SERVER_PORT: &str = "MsgServerPort";
const MSFS: &str = "msfs";
const DISCOVERY: &str = "discovery";
const ALLOWED_PEER_IPS: &str = "AllowedPeerIPs";
const WEB_CLIENT: &str = "WebClient";

/// Heartbeat sent on a msg_server link after this long without sending (PROTOCOL §6.1).
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);
/// A msg_server link is closed after this long without receiving (PROTOCOL §6.1).
pub const DEFAULT_LINK_TIMEOUT: Duration = Duration::from_secs(30);
/// A legacy TCP client is closed after this long without receiving (KNOWN_DEFECTS D-NET-6).
pub const DEFAULT_CLIENT_TIMEOUT: Duration = Duration::from_secs(120);
/// An HTTP connection is closed after this long without receiving (PROTOCOL §8.1).
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(60);
/// Period of the log line listing the registered msg_servers.
pub const DEFAULT_STATS_INTERVAL: Duration = Duration::from_secs(60);

/// Typed login_server settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Local IPs of the legacy TCP client port (`ClientListenIP`, a `;`-list).
    pub client_listen_ips: Vec<String>,
    /// Legacy TCP client port (`ClientPort`; 0 picks a free one).
    pub client_port: u16,
    /// Local IPs of the HTTP port (`HttpListenIP`).
    pub http_listen_ips: Vec<String>,
    /// HTTP port (`HttpPort`).
    pub http_port: u16,
    /// Local IPs msg_servers connect to (`MsgServerListenIP`).
    pub msg_server_listen_ips: Vec<String>,
    /// Port msg_servers connect to (`MsgServerPort`).
    pub msg_server_port: u16,
    /// Who may link on the msg_server port (`AllowedPeerIPs`, addresses and CIDR ranges);
    /// without the key, loopback and private addresses only. The client and HTTP ports serve
    /// everybody.
    pub allowed_peers: PeerFilter,
    /// Returned verbatim as `msfsPrior` and `msfsBackup` (`msfs`).
    pub msfs_url: String,
    /// Returned verbatim as `discovery` (`discovery`).
    pub discovery_url: String,
    /// Idle-send interval after which a msg_server link gets a heartbeat.
    pub heartbeat_interval: Duration,
    /// Idle-receive time after which a msg_server link is closed.
    pub link_timeout: Duration,
    /// Idle-receive time after which a legacy TCP client is closed.
    pub client_timeout: Duration,
    /// Idle-receive time after which an HTTP connection is closed.
    pub http_timeout: Duration,
    /// How often the registered msg_servers and totals are logged.
    pub stats_interval: Duration,
    /// The metrics endpoint (`MetricsListenIP`/`MetricsPort`), off when absent.
    pub metrics: Option<netlib::MetricsConf>,
    /// An HTTPS port beside `HttpPort` (`HttpsPort`, `TlsCertFile`, `TlsKeyFile`), off when
    /// absent.
    pub https: Option<netlib::HttpsConf>,
    /// Serve the browser demo client under `/web/` on the HTTP and HTTPS ports
    /// (`WebClient=1`; off by default, docs/WEB_CLIENT.md).
    pub web_client: bool,
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
            client_listen_ips: conf.require_list(CLIENT_LISTEN_IP)?,
            client_port: conf.require_num(CLIENT_PORT)?,
            http_listen_ips: conf.require_list(HTTP_LISTEN_IP)?,
            http_port: conf.require_num(HTTP_PORT)?,
            msg_server_listen_ips: conf.require_list(MSG_SERVER_LISTEN_IP)?,
            msg_server_port: conf.require_num(MSG_SERVER_PORT)?,
            allowed_peers: PeerFilter::from_conf(conf, ALLOWED_PEER_IPS)?,
            msfs_url: conf.require(MSFS)?.to_owned(),
            discovery_url: conf.require(DISCOVERY)?.to_owned(),
            heartbeat_interval: DEFAULT_HEARTBEAT_INTERVAL,
            link_timeout: DEFAULT_LINK_TIMEOUT,
            client_timeout: DEFAULT_CLIENT_TIMEOUT,
            http_timeout: DEFAULT_HTTP_TIMEOUT,
            stats_interval: DEFAULT_STATS_INTERVAL,
            metrics: netlib::MetricsConf::from_conf(conf)?,
            https: netlib::HttpsConf::from_conf(conf)?,
            link_tls: netlib::LinkTlsConf::from_conf(conf)?,
            web_client: match conf.get(WEB_CLIENT) {
                None | Some("0") => false,
                Some("1") => true,
                Some(other) => {
                    return Err(ConfError::Invalid {
                        key: WEB_CLIENT.to_owned(),
                        value: other.to_owned(),
                        reason: "must be 0 or 1".to_owned(),
                    });
                }
            },
        })
    }
}
