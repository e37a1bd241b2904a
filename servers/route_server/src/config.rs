//! route_server configuration: `routeserver.conf` (CONFIG.md §5) read once into typed values.
//!
//! The listen address comes from the file, with optional additions: `AllowedPeerIPs`
//! (KNOWN_DEFECTS D-AUTH-10) and the bounds of the relay replay window (D-RS-4). The link
//! heartbeat and timeout are the original's fixed constants (PROTOCOL §6.1), kept as fields so
//! tests can shorten them.

use std::path::Path;
use std::time::Duration;

use netlib::{Conf, ConfError, PeerFilter};

const LISTEN_IP: &str = "ListenIP";
const LISTEN_MSG_PORT: &str = "ListenMsgPort";
const ALLOWED_PEER_IPS: &str = "AllowedPeerIPs";
const RELAY_REPLAY_SECONDS: &str = "RelayReplaySeconds";
const RELAY_REPLAY_MAX_ENTRIES: &str = "RelayReplayMaxEntries";
const RELAY_REPLAY_MAX_MB: &str = "RelayReplayMaxMB";

/// Heartbeat sent on a link after this long without sending (PROTOCOL §6.1).
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);
/// A link is closed after this long without receiving (PROTOCOL §6.1).
pub const DEFAULT_LINK_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a targeted relay is kept for a link that reports a login of its addressee late:
/// presence updates normally trail traffic by milliseconds, a loaded msg_server by a second.
pub const DEFAULT_REPLAY_SPAN: Duration = Duration::from_secs(5);
/// Longest `RelayReplaySeconds` accepted: beyond it a client has long fetched its unread
/// messages after logging in.
const MAX_REPLAY_SECONDS: u64 = 60;
/// Targeted relays kept at most: five seconds at 20,000 relays a second.
pub const DEFAULT_REPLAY_MAX_ENTRIES: usize = 100_000;
/// Bytes of targeted relays kept at most (PDUs plus bookkeeping), in MiB.
pub const DEFAULT_REPLAY_MAX_MB: usize = 64;

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
    /// How long targeted relays are kept for late logins (`RelayReplaySeconds`, 1–60).
    pub replay_span: Duration,
    /// Targeted relays kept at most (`RelayReplayMaxEntries`, at least 1).
    pub replay_max_entries: usize,
    /// Bytes of targeted relays kept at most (`RelayReplayMaxMB`, in MiB, at least 1).
    pub replay_max_bytes: usize,
}

impl Config {
    /// Reads and validates a conf file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfError> {
        Self::from_conf(&Conf::load(path)?)
    }

    /// Builds the settings from parsed conf values; a missing or invalid key is named.
    pub fn from_conf(conf: &Conf) -> Result<Self, ConfError> {
        let replay_seconds: u64 =
            conf.positive_or(RELAY_REPLAY_SECONDS, DEFAULT_REPLAY_SPAN.as_secs())?;
        if replay_seconds > MAX_REPLAY_SECONDS {
            return Err(ConfError::Invalid {
                key: RELAY_REPLAY_SECONDS.to_owned(),
                value: replay_seconds.to_string(),
                reason: format!("at most {MAX_REPLAY_SECONDS} seconds"),
            });
        }
        let replay_max_mb: usize = conf.positive_or(RELAY_REPLAY_MAX_MB, DEFAULT_REPLAY_MAX_MB)?;
        let replay_max_bytes =
            replay_max_mb
                .checked_mul(1 << 20)
                .ok_or_else(|| ConfError::Invalid {
                    key: RELAY_REPLAY_MAX_MB.to_owned(),
                    value: replay_max_mb.to_string(),
                    reason: "too large".to_owned(),
                })?;
        Ok(Self {
            listen_ips: conf.require_list(LISTEN_IP)?,
            listen_port: conf.require_num(LISTEN_MSG_PORT)?,
            heartbeat_interval: DEFAULT_HEARTBEAT_INTERVAL,
            link_timeout: DEFAULT_LINK_TIMEOUT,
            allowed_peers: PeerFilter::from_conf(conf, ALLOWED_PEER_IPS)?,
            metrics: netlib::MetricsConf::from_conf(conf)?,
            link_tls: netlib::LinkTlsConf::from_conf(conf)?,
            replay_span: Duration::from_secs(replay_seconds),
            replay_max_entries: conf
                .positive_or(RELAY_REPLAY_MAX_ENTRIES, DEFAULT_REPLAY_MAX_ENTRIES)?,
            replay_max_bytes,
        })
    }
}
