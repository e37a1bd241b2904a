//! The typed form of `httpmsgserver.conf` (CONFIG.md §9), built once at start-up.
//!
//! Invariants: `ConcurrentDBConnCnt` ≥ 1; the db_proxy list is either empty (every request is
//! then answered with code 10) or has at least two entries, as the original requires.
//!
//! Two optional keys are additions for KNOWN_DEFECTS D-AUTH-7. `AppKey`: requests whose
//! `app_key` differs are answered with error 2 (`appKey不存在`). `AllowIP`: a `;`-list of caller
//! addresses and CIDR ranges; requests from any other address are answered with error 6
//! (`未授权的IP`). Without either key, unlike the original, only loopback callers are answered
//! (the others get error 6): an unauthenticated admin API must not be reachable from the LAN by
//! default.

use std::path::Path;
use std::time::Duration;

use netlib::{Conf, ConfError, PeerFilter};

const LISTEN_IP: &str = "ListenIP";
const LISTEN_PORT: &str = "ListenPort";
const CONCURRENT_DB_CONN_CNT: &str = "ConcurrentDBConnCnt";
const DB_SERVER: &str = "DBServer";
const ROUTE_SERVER: &str = "RouteServer";
const APP_KEY: &str = "AppKey";
const ALLOW_IP: &str = "AllowIP";
const DB_REQUEST_TIMEOUT: &str = "DBRequestTimeout";

/// Connections opened to each db_proxy entry when `ConcurrentDBConnCnt` is absent.
pub const DEFAULT_CONCURRENT_DB_CONN_CNT: usize = 2;
/// HTTP callers are dropped after this long without input (PROTOCOL §6.1), and after this long
/// in all (a caller trickling its request byte by byte).
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a request waits for db_proxy before it is answered as failed (D-HMS-3), when
/// `DBRequestTimeout` (seconds) is absent.
pub const DEFAULT_DB_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything http_msg_server reads from its conf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Local IPs of the HTTP port.
    pub listen_ips: Vec<String>,
    /// HTTP port (0 picks one, for tests).
    pub listen_port: u16,
    /// db_proxy entries, in order.
    pub db_servers: Vec<(String, u16)>,
    /// Connections per db_proxy entry.
    pub concurrent_db_conn_cnt: usize,
    /// route_server entries, in order.
    pub route_servers: Vec<(String, u16)>,
    /// Required `app_key`, when configured.
    pub app_key: Option<String>,
    /// Allowed caller addresses and ranges, when configured.
    pub allow_ips: Option<PeerFilter>,
    /// Wait for a db_proxy answer before failing the request (`DBRequestTimeout`, seconds,
    /// at least 1).
    pub db_timeout: Duration,
    /// Idle limit and whole-request limit of an HTTP caller ([`DEFAULT_HTTP_TIMEOUT`]).
    pub http_timeout: Duration,
    /// The metrics endpoint (`MetricsListenIP`/`MetricsPort`), off when absent.
    pub metrics: Option<netlib::MetricsConf>,
    /// Mutual TLS on the links to and from other servers (`LinkTlsCertFile`,
    /// `LinkTlsKeyFile`, `LinkTlsCaFile`), off when absent.
    pub link_tls: Option<netlib::LinkTlsConf>,
}

impl Config {
    /// Reads `path` (normally `httpmsgserver.conf` in the working directory).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfError> {
        Self::from_conf(&Conf::load(path)?)
    }

    /// Builds the config from parsed conf text.
    pub fn from_conf(conf: &Conf) -> Result<Self, ConfError> {
        let listen_ips = conf.require_list(LISTEN_IP)?;
        let listen_port = conf.require_num(LISTEN_PORT)?;
        let concurrent_db_conn_cnt =
            conf.num_or(CONCURRENT_DB_CONN_CNT, DEFAULT_CONCURRENT_DB_CONN_CNT)?;
        if concurrent_db_conn_cnt == 0 {
            return Err(ConfError::Invalid {
                key: CONCURRENT_DB_CONN_CNT.to_owned(),
                value: "0".to_owned(),
                reason: "at least one connection per db_proxy is needed".to_owned(),
            });
        }
        let db_servers = conf.server_list(DB_SERVER)?;
        if db_servers.len() == 1 {
            // The original splits the entries into a login half and a business half.
            return Err(ConfError::Missing {
                key: "DBServerIP2".to_owned(),
            });
        }
        let allow_ips = conf
            .get(ALLOW_IP)
            .map(|value| PeerFilter::parse_list(ALLOW_IP, value))
            .transpose()?;
        let db_timeout_secs: u64 =
            conf.positive_or(DB_REQUEST_TIMEOUT, DEFAULT_DB_TIMEOUT.as_secs())?;
        Ok(Self {
            listen_ips,
            listen_port,
            db_servers,
            concurrent_db_conn_cnt,
            route_servers: conf.server_list(ROUTE_SERVER)?,
            app_key: conf.get(APP_KEY).map(str::to_owned),
            allow_ips,
            db_timeout: Duration::from_secs(db_timeout_secs),
            http_timeout: DEFAULT_HTTP_TIMEOUT,
            metrics: netlib::MetricsConf::from_conf(conf)?,
            link_tls: netlib::LinkTlsConf::from_conf(conf)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "ListenIP=127.0.0.1\nListenPort=8400\n\nConcurrentDBConnCnt=3\n\
                          DBServerIP1=127.0.0.1\nDBServerPort1=10600\nDBServerIP2=127.0.0.1\n\
                          DBServerPort2=10601\n\nRouteServerIP1=127.0.0.1\n\
                          RouteServerPort1=8200\n#RouteServerIP2=127.0.0.1\n";

    #[test]
    fn sample_conf_is_read_without_auth() {
        let config = Config::from_conf(&Conf::parse(SAMPLE)).unwrap();
        assert_eq!(config.listen_ips, ["127.0.0.1"]);
        assert_eq!(config.listen_port, 8400);
        assert_eq!(config.concurrent_db_conn_cnt, 3);
        assert_eq!(
            config.db_servers,
            [
                ("127.0.0.1".to_owned(), 10600),
                ("127.0.0.1".to_owned(), 10601)
            ]
        );
        assert_eq!(config.route_servers, [("127.0.0.1".to_owned(), 8200)]);
        assert_eq!((config.app_key, config.allow_ips), (None, None));
        assert_eq!(config.db_timeout, DEFAULT_DB_TIMEOUT);
    }

    #[test]
    fn missing_keys_are_named() {
        for key in [LISTEN_IP, LISTEN_PORT] {
            let text = SAMPLE.replace(&format!("{key}="), "#");
            let err = Config::from_conf(&Conf::parse(&text)).unwrap_err();
            assert!(
                matches!(&err, ConfError::Missing { key: k } if k == key),
                "{err}"
            );
        }
        let one_db = SAMPLE.replace("DBServerIP2", "#");
        assert!(matches!(
            Config::from_conf(&Conf::parse(&one_db)),
            Err(ConfError::Missing { key }) if key == "DBServerIP2"
        ));
    }

    #[test]
    fn optional_keys_have_defaults_and_are_validated() {
        let minimal = Config::from_conf(&Conf::parse("ListenIP=0.0.0.0\nListenPort=1\n")).unwrap();
        assert!(minimal.db_servers.is_empty() && minimal.route_servers.is_empty());
        assert_eq!(
            minimal.concurrent_db_conn_cnt,
            DEFAULT_CONCURRENT_DB_CONN_CNT
        );
        let zero = SAMPLE.replace("ConcurrentDBConnCnt=3", "ConcurrentDBConnCnt=0");
        assert!(matches!(
            Config::from_conf(&Conf::parse(&zero)),
            Err(ConfError::Invalid { key, .. }) if key == CONCURRENT_DB_CONN_CNT
        ));
        let auth = format!("{SAMPLE}AppKey=s3cret\nAllowIP=10.0.0.1; 127.0.0.1;192.0.2.0/24\n");
        let config = Config::from_conf(&Conf::parse(&auth)).unwrap();
        assert_eq!(config.app_key.as_deref(), Some("s3cret"));
        let allowed = config.allow_ips.unwrap();
        assert_eq!(allowed.to_string(), "10.0.0.1/32;127.0.0.1/32;192.0.2.0/24");
        assert!(allowed.allows("192.0.2.77".parse().unwrap()));
        assert!(!allowed.allows("10.0.0.2".parse().unwrap()));
        let timeout = format!("{SAMPLE}DBRequestTimeout=3\n");
        let config = Config::from_conf(&Conf::parse(&timeout)).unwrap();
        assert_eq!(config.db_timeout, Duration::from_secs(3));
        for value in ["0", "ten", "-1"] {
            let bad = format!("{SAMPLE}DBRequestTimeout={value}\n");
            assert!(matches!(
                Config::from_conf(&Conf::parse(&bad)),
                Err(ConfError::Invalid { key, .. }) if key == DB_REQUEST_TIMEOUT
            ));
        }
        let bad = format!("{SAMPLE}AllowIP=10.0.0.300\n");
        assert!(matches!(
            Config::from_conf(&Conf::parse(&bad)),
            Err(ConfError::Invalid { key, value, .. }) if key == ALLOW_IP && value == "10.0.0.300"
        ));
    }
}
