//! The typed form of `adminserver.conf`, built once at start-up.
//!
//! The MySQL keys are db_proxy_server's `teamtalk_master_*` keys (CONFIG.md §6), so the lines
//! can be copied from `dbproxyserver.conf`; http_msg_server is named as the other servers
//! name their peers (`…IP`/`…Port`), with the `AppKey` its conf sets. The dashboard's servers
//! are a numbered list (`MonitorName1`/`MonitorURL1`, …) like the original's server lists.

use std::path::Path;
use std::time::Duration;

use netlib::{Conf, ConfError};

const LISTEN_IP: &str = "ListenIP";
const LISTEN_PORT: &str = "ListenPort";
const DB_HOST: &str = "teamtalk_master_host";
const DB_PORT: &str = "teamtalk_master_port";
const DB_NAME: &str = "teamtalk_master_dbname";
const DB_USER: &str = "teamtalk_master_username";
const DB_PASSWORD: &str = "teamtalk_master_password";
const DB_MAX_CONN: &str = "teamtalk_master_maxconncnt";
const HTTP_MSG_SERVER_IP: &str = "HttpMsgServerIP";
const HTTP_MSG_SERVER_PORT: &str = "HttpMsgServerPort";
const APP_KEY: &str = "AppKey";
const MONITOR_NAME: &str = "MonitorName";
const MONITOR_URL: &str = "MonitorURL";
const SESSION_IDLE_MINUTES: &str = "SessionIdleMinutes";
const COOKIE_SECURE: &str = "CookieSecure";

/// Where the console listens when `ListenIP` is absent: loopback, since it is an
/// administration surface.
pub const DEFAULT_LISTEN_IP: &str = "127.0.0.1";
/// MySQL port when `teamtalk_master_port` is absent.
pub const DEFAULT_DB_PORT: u16 = 3306;
/// MySQL connections kept when `teamtalk_master_maxconncnt` is absent.
pub const DEFAULT_DB_MAX_CONN: usize = 4;
/// A session unused this long is signed out, when `SessionIdleMinutes` is absent.
pub const DEFAULT_SESSION_IDLE: Duration = Duration::from_secs(30 * 60);
/// Most servers the dashboard polls (each page load asks every one of them).
pub const MAX_MONITORS: usize = 32;

/// Everything the console reads from its conf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Local IP of the HTTP port.
    pub listen_ip: String,
    /// HTTP port (0 picks one, for tests).
    pub listen_port: u16,
    /// The organisation's database.
    pub db: DbConfig,
    /// http_msg_server's address (`host:port`), for group changes.
    pub http_msg_server: String,
    /// The `app_key` http_msg_server wants (empty when its conf sets none).
    pub app_key: String,
    /// Servers shown on the dashboard.
    pub monitors: Vec<Monitor>,
    /// Idle time after which a session ends.
    pub session_idle: Duration,
    /// Marks the session cookie `Secure`: set it when the console is reached over HTTPS
    /// (through a TLS-terminating proxy), so the cookie never travels in clear.
    pub cookie_secure: bool,
}

/// The MySQL connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbConfig {
    /// Host.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Database name.
    pub name: String,
    /// User.
    pub user: String,
    /// Password (a missing key is an empty password, as for db_proxy).
    pub password: String,
    /// Connections kept in the pool at most.
    pub max_conn: usize,
}

/// One server on the dashboard: its name and the base URL of its metrics endpoint
/// (`http://MetricsListenIP:MetricsPort`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Monitor {
    /// What the dashboard calls it, e.g. `msg_server 1`.
    pub name: String,
    /// Base URL, without a trailing `/`.
    pub url: String,
}

impl Config {
    /// Reads `path` (normally `adminserver.conf` in the working directory).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfError> {
        Self::from_conf(&Conf::load(path)?)
    }

    /// Builds the config from parsed conf text.
    pub fn from_conf(conf: &Conf) -> Result<Self, ConfError> {
        let listen_ip = conf.get(LISTEN_IP).unwrap_or(DEFAULT_LISTEN_IP).to_owned();
        let listen_port = conf.require_num(LISTEN_PORT)?;
        let db = DbConfig {
            host: conf.require(DB_HOST)?.to_owned(),
            port: conf.num_or(DB_PORT, DEFAULT_DB_PORT)?,
            name: conf.require(DB_NAME)?.to_owned(),
            user: conf.require(DB_USER)?.to_owned(),
            password: conf.get(DB_PASSWORD).unwrap_or_default().to_owned(),
            max_conn: conf.positive_or(DB_MAX_CONN, DEFAULT_DB_MAX_CONN)?,
        };
        let http_ip = conf.require(HTTP_MSG_SERVER_IP)?;
        let http_port: u16 = conf.require_num(HTTP_MSG_SERVER_PORT)?;
        let mut monitors = Vec::new();
        for i in 1..=MAX_MONITORS {
            let Some(name) = conf.get(&format!("{MONITOR_NAME}{i}")) else {
                break;
            };
            let key = format!("{MONITOR_URL}{i}");
            let url = conf.require(&key)?;
            if !url.starts_with("http://") {
                // The metrics endpoints speak plain HTTP only (CONFIG §1.2).
                return Err(ConfError::Invalid {
                    key,
                    value: url.to_owned(),
                    reason: "an http:// URL of a metrics endpoint".to_owned(),
                });
            }
            monitors.push(Monitor {
                name: name.to_owned(),
                url: url.trim_end_matches('/').to_owned(),
            });
        }
        let idle_minutes: u64 =
            conf.positive_or(SESSION_IDLE_MINUTES, DEFAULT_SESSION_IDLE.as_secs() / 60)?;
        let cookie_secure = match conf.get(COOKIE_SECURE) {
            None | Some("0") => false,
            Some("1") => true,
            Some(other) => {
                return Err(ConfError::Invalid {
                    key: COOKIE_SECURE.to_owned(),
                    value: other.to_owned(),
                    reason: "0 or 1".to_owned(),
                });
            }
        };
        Ok(Self {
            listen_ip,
            listen_port,
            db,
            http_msg_server: format!("{http_ip}:{http_port}"),
            app_key: conf.get(APP_KEY).unwrap_or_default().to_owned(),
            monitors,
            session_idle: Duration::from_secs(idle_minutes * 60),
            cookie_secure,
        })
    }
}

impl DbConfig {
    /// The connection options of the `mysql` crate.
    pub fn opts(&self) -> mysql::Opts {
        mysql::OptsBuilder::new()
            .ip_or_hostname(Some(self.host.clone()))
            .tcp_port(self.port)
            .db_name(Some(self.name.clone()))
            .user(Some(self.user.clone()))
            .pass(Some(self.password.clone()))
            .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "ListenPort=8410\nteamtalk_master_host=127.0.0.1\n\
                          teamtalk_master_dbname=teamtalk\nteamtalk_master_username=root\n\
                          HttpMsgServerIP=127.0.0.1\nHttpMsgServerPort=8400\n\
                          MonitorName1=msg_server\nMonitorURL1=http://127.0.0.1:9102/\n\
                          MonitorName2=route_server\nMonitorURL2=http://127.0.0.1:9103\n\
                          MonitorName4=skipped\nMonitorURL4=http://127.0.0.1:9104\n";

    #[test]
    fn sample_conf_is_read_with_defaults() {
        let config = Config::from_conf(&Conf::parse(SAMPLE)).unwrap();
        assert_eq!(
            (config.listen_ip.as_str(), config.listen_port),
            ("127.0.0.1", 8410)
        );
        assert_eq!(config.db.port, DEFAULT_DB_PORT);
        assert_eq!(config.db.password, "");
        assert_eq!(config.http_msg_server, "127.0.0.1:8400");
        assert_eq!(config.app_key, "");
        // The list ends at the first missing number, as the original's server lists do.
        assert_eq!(
            config.monitors,
            [
                Monitor {
                    name: "msg_server".into(),
                    url: "http://127.0.0.1:9102".into()
                },
                Monitor {
                    name: "route_server".into(),
                    url: "http://127.0.0.1:9103".into()
                }
            ]
        );
        assert_eq!(config.session_idle, DEFAULT_SESSION_IDLE);
        assert!(!config.cookie_secure);
    }

    #[test]
    fn missing_and_bad_keys_are_named() {
        for key in [LISTEN_PORT, DB_HOST, DB_NAME, HTTP_MSG_SERVER_IP] {
            let text = SAMPLE.replace(&format!("{key}="), "#");
            let err = Config::from_conf(&Conf::parse(&text)).unwrap_err();
            assert!(
                matches!(&err, ConfError::Missing { key: k } if k == key),
                "{err}"
            );
        }
        let text = SAMPLE.replace("MonitorURL2=http://", "MonitorURL2=https://");
        assert!(matches!(
            Config::from_conf(&Conf::parse(&text)),
            Err(ConfError::Invalid { key, .. }) if key == "MonitorURL2"
        ));
        let text = format!("{SAMPLE}CookieSecure=yes\n");
        assert!(matches!(
            Config::from_conf(&Conf::parse(&text)),
            Err(ConfError::Invalid { key, .. }) if key == COOKIE_SECURE
        ));
        let text = format!("{SAMPLE}CookieSecure=1\nSessionIdleMinutes=5\n");
        let config = Config::from_conf(&Conf::parse(&text)).unwrap();
        assert!(config.cookie_secure);
        assert_eq!(config.session_idle, Duration::from_secs(300));
    }
}
