//! The typed form of `dbproxyserver.conf` (CONFIG.md §6), built once at start-up.
//!
//! Invariants: `DBInstances` names both `teamtalk_master` and `teamtalk_slave`;
//! `CacheInstances` names `unread`, `group_set`, `token` and `group_member` (`sync` may be
//! configured but is never used); `aesKey` is exactly 32 bytes; `ThreadNum` ≥ 1. A missing
//! `<pool>_password` is the empty password (the original refuses to start without one; our
//! sample conf uses a password-less local root).

use std::net::IpAddr;
use std::time::Duration;

use netlib::{Cidr, Conf, ConfError, PeerFilter};

use crate::peer::server_link::QueueBounds;

const LISTEN_IP: &str = "ListenIP";
const LISTEN_PORT: &str = "ListenPort";
const THREAD_NUM: &str = "ThreadNum";
const MSFS_SITE: &str = "MsfsSite";
const AES_KEY: &str = "aesKey";
const DB_INSTANCES: &str = "DBInstances";
const CACHE_INSTANCES: &str = "CacheInstances";
const ALLOWED_PEER_IPS: &str = "AllowedPeerIPs";
const RESEND_WINDOW: &str = "ResendWindow";

/// Name of the MySQL pool used for writes (hard-coded in the original's queries).
pub const MASTER_POOL: &str = "teamtalk_master";
/// Name of the MySQL pool used for reads.
pub const SLAVE_POOL: &str = "teamtalk_slave";
/// Redis pool names the handlers use, in the order they are read.
pub const CACHE_POOLS: [&str; 4] = ["unread", "group_set", "token", "group_member"];

/// Grace period between IMStopReceivePacket and exit on SIGTERM (BEHAVIOUR §8.0).
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(4);
/// How long a stored message is recognised when its client sends it again, when
/// `ResendWindow` is absent.
pub const DEFAULT_RESEND_WINDOW: Duration = Duration::from_secs(15 * 60);
/// The shortest `ResendWindow` accepted: clients resend after their ack timeout and a
/// reconnect, which takes minutes at worst.
pub const MIN_RESEND_WINDOW: Duration = Duration::from_secs(60);

/// Connection settings of one MySQL pool (`<pool>_host`, `_port`, `_dbname`, `_username`,
/// `_password`, `_maxconncnt`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MysqlConfig {
    /// Pool name as listed in `DBInstances`.
    pub name: String,
    /// Server host.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// Database name.
    pub dbname: String,
    /// Account.
    pub username: String,
    /// Password; empty when the key is absent.
    pub password: String,
    /// Largest number of connections the pool opens.
    pub max_conns: u32,
}

/// Connection settings of one Redis pool (`<cache>_host`, `_port`, `_db`, `_maxconncnt`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// Pool name as listed in `CacheInstances`.
    pub name: String,
    /// Server host.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// Database index selected on connect.
    pub db: u32,
    /// Largest number of connections the pool opens.
    pub max_conns: u32,
}

/// Everything db_proxy_server reads from its conf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Local addresses to listen on for msg_server / http_msg_server links.
    pub listen_ips: Vec<String>,
    /// Listen port (0 picks one, for tests).
    pub listen_port: u16,
    /// Worker threads running the handlers.
    pub thread_num: usize,
    /// Base URL of msfs for audio uploads (a `/` is appended when missing).
    pub msfs_site: String,
    /// AES-256 key for the audio placeholder text.
    pub aes_key: [u8; 32],
    /// Write pool.
    pub master: MysqlConfig,
    /// Read pool.
    pub slave: MysqlConfig,
    /// Redis pools, in the order of [`CACHE_POOLS`].
    pub caches: Vec<RedisConfig>,
    /// Time between the stop notice to every link and the exit.
    pub stop_grace: Duration,
    /// Optional `AllowedPeerIPs` (`;`-list of addresses and CIDR ranges, not in the original):
    /// links from other addresses are closed on accept (KNOWN_DEFECTS D-AUTH-10). Empty (the
    /// key is absent): loopback and private addresses only, see [`Config::peer_filter`].
    pub allowed_peers: Vec<Cidr>,
    /// How long a stored message is recognised when its client sends it again
    /// (`ResendWindow`, seconds; not in the original).
    pub resend_window: Duration,
    /// Bounds on requests and who may use the admin path (keys not in the original).
    pub policy: Policy,
    /// The metrics endpoint (`MetricsListenIP`/`MetricsPort`), off when absent.
    pub metrics: Option<netlib::MetricsConf>,
    /// Mutual TLS on the links to and from other servers (`LinkTlsCertFile`,
    /// `LinkTlsKeyFile`, `LinkTlsCaFile`), off when absent.
    pub link_tls: Option<netlib::LinkTlsConf>,
}

/// `MaxGroupMembersPerRequest`: most member ids one group create or change may carry.
const MAX_GROUP_MEMBERS: &str = "MaxGroupMembersPerRequest";
/// Default of `MaxGroupMembersPerRequest`.
pub const DEFAULT_MAX_GROUP_MEMBERS: usize = 500;

/// `MaxQueuedRequestsPerLink`: most requests one link may have waiting for a worker.
const MAX_QUEUED_REQUESTS: &str = "MaxQueuedRequestsPerLink";
/// `MaxQueuedBytesPerLink`: most bytes of requests one link may have waiting.
const MAX_QUEUED_BYTES: &str = "MaxQueuedBytesPerLink";

/// `AdminPeerIPs`: addresses whose links may act as user 0, the admin (http_msg_server).
const ADMIN_PEER_IPS: &str = "AdminPeerIPs";

/// Bounds on what one request may ask for and one link may queue, and which peers may use the
/// admin path. None of these keys is in the original; without them the defaults apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// `MaxGroupMembersPerRequest`: a group create or member change listing more ids is
    /// refused with the command's failure result (KNOWN_DEFECTS D-DB-3, D-SQL-5).
    pub max_group_members: usize,
    /// `MaxQueuedRequestsPerLink` and `MaxQueuedBytesPerLink`: what one link may have
    /// waiting; requests past them are shed (see `peer::server_link`).
    pub link_queue: QueueBounds,
    /// `AdminPeerIPs` (`;`-list): links from these addresses may use user id 0 as the admin
    /// identity, which bypasses group permissions (http_msg_server always sends user 0). From
    /// any other address, or when the list is empty (the default), user 0 is an ordinary,
    /// unprivileged id (KNOWN_DEFECTS D-AUTH-2).
    pub admin_peers: Vec<IpAddr>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            max_group_members: DEFAULT_MAX_GROUP_MEMBERS,
            link_queue: QueueBounds::default(),
            admin_peers: Vec::new(),
        }
    }
}

impl Policy {
    /// Reads the policy keys; each one is optional.
    pub fn from_conf(conf: &Conf) -> Result<Self, ConfError> {
        let defaults = QueueBounds::default();
        Ok(Self {
            max_group_members: conf.positive_or(MAX_GROUP_MEMBERS, DEFAULT_MAX_GROUP_MEMBERS)?,
            link_queue: QueueBounds {
                requests: conf.positive_or(MAX_QUEUED_REQUESTS, defaults.requests)?,
                bytes: conf.positive_or(MAX_QUEUED_BYTES, defaults.bytes)?,
            },
            admin_peers: ip_list(conf, ADMIN_PEER_IPS)?,
        })
    }
}

/// An optional `;`-list of IP addresses; empty when the key is absent.
fn ip_list(conf: &Conf, key: &str) -> Result<Vec<IpAddr>, ConfError> {
    if conf.get(key).is_none() {
        return Ok(Vec::new());
    }
    conf.require_list(key)?
        .iter()
        .map(|ip| {
            ip.parse().map_err(|_| ConfError::Invalid {
                key: key.to_owned(),
                value: ip.clone(),
                reason: "not an IP address".to_owned(),
            })
        })
        .collect()
}

impl Config {
    /// Reads and checks `path`.
    pub fn load(path: impl AsRef<std::path::Path>) -> Result<Self, ConfError> {
        Self::from_conf(&Conf::load(path)?)
    }

    /// Builds the typed config from parsed conf text.
    pub fn from_conf(conf: &Conf) -> Result<Self, ConfError> {
        // The original initialises the pools (and so checks their keys) before the listener keys.
        let db_names = conf.require_names(DB_INSTANCES)?;
        let mut master = None;
        let mut slave = None;
        for name in &db_names {
            let cfg = mysql_config(conf, name)?;
            match name.as_str() {
                MASTER_POOL => master = Some(cfg),
                SLAVE_POOL => slave = Some(cfg),
                _ => {}
            }
        }
        let missing_pool = |pool: &str| ConfError::Invalid {
            key: DB_INSTANCES.to_owned(),
            value: db_names.join(","),
            reason: format!("must name {pool}"),
        };
        let master = master.ok_or_else(|| missing_pool(MASTER_POOL))?;
        let slave = slave.ok_or_else(|| missing_pool(SLAVE_POOL))?;

        let cache_names = conf.require_names(CACHE_INSTANCES)?;
        let mut caches = Vec::with_capacity(CACHE_POOLS.len());
        for pool in CACHE_POOLS {
            if !cache_names.iter().any(|n| n == pool) {
                return Err(ConfError::Invalid {
                    key: CACHE_INSTANCES.to_owned(),
                    value: cache_names.join(","),
                    reason: format!("must name {pool}"),
                });
            }
            caches.push(redis_config(conf, pool)?);
        }

        let listen_ips = conf.require_list(LISTEN_IP)?;
        let listen_port = conf.require_num(LISTEN_PORT)?;
        let thread_num: usize = conf.require_num(THREAD_NUM)?;
        if thread_num == 0 {
            return Err(ConfError::Invalid {
                key: THREAD_NUM.to_owned(),
                value: "0".to_owned(),
                reason: "must be at least 1".to_owned(),
            });
        }
        let msfs_site = conf.require(MSFS_SITE)?.to_owned();
        let key = conf.require(AES_KEY)?;
        let aes_key: [u8; 32] = key.as_bytes().try_into().map_err(|_| ConfError::Invalid {
            key: AES_KEY.to_owned(),
            value: "<hidden>".to_owned(),
            reason: format!("must be 32 characters, not {}", key.len()),
        })?;
        let allowed_peers = match conf.get(ALLOWED_PEER_IPS) {
            None => Vec::new(),
            Some(value) => PeerFilter::parse_list(ALLOWED_PEER_IPS, value)?
                .nets()
                .to_vec(),
        };
        let resend_window_secs: u64 =
            conf.num_or(RESEND_WINDOW, DEFAULT_RESEND_WINDOW.as_secs())?;
        if resend_window_secs < MIN_RESEND_WINDOW.as_secs() {
            return Err(ConfError::Invalid {
                key: RESEND_WINDOW.to_owned(),
                value: resend_window_secs.to_string(),
                reason: format!(
                    "must be at least {} seconds (a client's resend must still find the first copy)",
                    MIN_RESEND_WINDOW.as_secs()
                ),
            });
        }
        Ok(Self {
            listen_ips,
            listen_port,
            thread_num,
            msfs_site,
            aes_key,
            master,
            slave,
            caches,
            stop_grace: DEFAULT_STOP_GRACE,
            allowed_peers,
            resend_window: Duration::from_secs(resend_window_secs),
            policy: Policy::from_conf(conf)?,
            metrics: netlib::MetricsConf::from_conf(conf)?,
            link_tls: netlib::LinkTlsConf::from_conf(conf)?,
        })
    }

    /// Who may link: `allowed_peers`, or loopback and private addresses when it is empty.
    pub fn peer_filter(&self) -> PeerFilter {
        if self.allowed_peers.is_empty() {
            PeerFilter::private_ranges()
        } else {
            PeerFilter::from_nets(self.allowed_peers.clone())
        }
    }

    /// The Redis settings of pool `name`, if configured.
    pub fn cache(&self, name: &str) -> Option<&RedisConfig> {
        self.caches.iter().find(|c| c.name == name)
    }
}

fn mysql_config(conf: &Conf, name: &str) -> Result<MysqlConfig, ConfError> {
    let key = |suffix: &str| format!("{name}_{suffix}");
    Ok(MysqlConfig {
        name: name.to_owned(),
        host: conf.require(&key("host"))?.to_owned(),
        port: conf.require_num(&key("port"))?,
        dbname: conf.require(&key("dbname"))?.to_owned(),
        username: conf.require(&key("username"))?.to_owned(),
        password: conf.get(&key("password")).unwrap_or_default().to_owned(),
        max_conns: conf.require_positive(&key("maxconncnt"))?,
    })
}

fn redis_config(conf: &Conf, name: &str) -> Result<RedisConfig, ConfError> {
    let key = |suffix: &str| format!("{name}_{suffix}");
    Ok(RedisConfig {
        name: name.to_owned(),
        host: conf.require(&key("host"))?.to_owned(),
        port: conf.require_num(&key("port"))?,
        db: conf.require_num(&key("db"))?,
        max_conns: conf.require_positive(&key("maxconncnt"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("../../../conf/dbproxyserver.conf");

    #[test]
    fn sample_conf_loads_with_empty_password() {
        let cfg = Config::from_conf(&Conf::parse(SAMPLE)).unwrap();
        assert_eq!(cfg.listen_ips, ["127.0.0.1"]);
        assert_eq!(cfg.listen_port, 10600);
        assert_eq!(cfg.thread_num, 4);
        assert_eq!(cfg.master.password, "");
        assert_eq!(cfg.master.dbname, "teamtalk");
        assert_eq!(cfg.slave.max_conns, 16);
        assert_eq!(cfg.cache("group_member").unwrap().db, 5);
        assert_eq!(cfg.cache("unread").unwrap().db, 1);
        assert_eq!(&cfg.aes_key, b"12345678901234567890123456789012");
        assert!(cfg.allowed_peers.is_empty());
        assert!(cfg.peer_filter().is_default());
        assert!(cfg.peer_filter().allows("192.168.0.1".parse().unwrap()));
        assert!(!cfg.peer_filter().allows("203.0.113.1".parse().unwrap()));
    }

    #[test]
    fn missing_or_bad_keys_are_named() {
        let mut conf = Conf::parse(SAMPLE);
        conf.set("aesKey", "short");
        let err = Config::from_conf(&conf).unwrap_err();
        assert!(matches!(&err, ConfError::Invalid { key, .. } if key == "aesKey"));

        let conf = Conf::parse(&SAMPLE.replace("teamtalk_slave_host", "x"));
        let err = Config::from_conf(&conf).unwrap_err();
        assert!(matches!(&err, ConfError::Missing { key } if key == "teamtalk_slave_host"));

        let conf = Conf::parse(&SAMPLE.replace(",group_member", ""));
        let err = Config::from_conf(&conf).unwrap_err();
        assert!(matches!(&err, ConfError::Invalid { key, .. } if key == "CacheInstances"));

        let mut conf = Conf::parse(SAMPLE);
        conf.set("ThreadNum", "0");
        assert!(matches!(
            Config::from_conf(&conf).unwrap_err(),
            ConfError::Invalid { key, .. } if key == "ThreadNum"
        ));

        let mut conf = Conf::parse(SAMPLE);
        conf.set("AllowedPeerIPs", "127.0.0.1;10.0.0.x");
        assert!(matches!(
            Config::from_conf(&conf).unwrap_err(),
            ConfError::Invalid { key, .. } if key == "AllowedPeerIPs"
        ));
        conf.set("AllowedPeerIPs", "127.0.0.1; ::1;10.1.0.0/16");
        let cfg = Config::from_conf(&conf).unwrap();
        assert_eq!(cfg.allowed_peers.len(), 3);
        assert!(cfg.peer_filter().allows("10.1.200.3".parse().unwrap()));
        assert!(!cfg.peer_filter().allows("192.168.0.1".parse().unwrap()));

        let mut conf = Conf::parse(SAMPLE);
        conf.set("MaxGroupMembersPerRequest", "0");
        assert!(matches!(
            Config::from_conf(&conf).unwrap_err(),
            ConfError::Invalid { key, .. } if key == "MaxGroupMembersPerRequest"
        ));

        let mut conf = Conf::parse(SAMPLE);
        conf.set("MaxQueuedBytesPerLink", "1048576");
        conf.set("MaxQueuedRequestsPerLink", "7");
        let policy = Config::from_conf(&conf).unwrap().policy;
        assert_eq!(
            policy.link_queue,
            QueueBounds {
                requests: 7,
                bytes: 1 << 20
            }
        );
        assert_eq!(policy.max_group_members, 500);
        // The sample cluster runs http_msg_server on this host.
        assert_eq!(policy.admin_peers, ["127.0.0.1".parse::<IpAddr>().unwrap()]);
        let without = SAMPLE.replace("\nAdminPeerIPs=", "\n#AdminPeerIPs=");
        let config = Config::from_conf(&Conf::parse(&without)).unwrap();
        assert!(config.policy.admin_peers.is_empty());
        conf.set("AdminPeerIPs", "10.0.0.5;::1");
        assert_eq!(
            Config::from_conf(&conf).unwrap().policy.admin_peers.len(),
            2
        );
        conf.set("AdminPeerIPs", "10.0.0.x");
        assert!(matches!(
            Config::from_conf(&conf).unwrap_err(),
            ConfError::Invalid { key, .. } if key == "AdminPeerIPs"
        ));

        let conf = Conf::parse(&SAMPLE.replace("DBInstances=teamtalk_master,", "DBInstances="));
        assert!(matches!(
            Config::from_conf(&conf).unwrap_err(),
            ConfError::Invalid { key, .. } if key == "DBInstances"
        ));
    }
}
