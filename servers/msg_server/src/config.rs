//! `msgserver.conf`, read once at start-up into a typed [`Config`] (CONFIG.md §4).
//!
//! Invariants after a successful load: at least one listen IP, an AES key of exactly 32 bytes,
//! at least two db_proxy entries, at least one connection per db_proxy entry, and a client
//! frame limit that leaves room for everything forwarding adds below the internal links' cap
//! (see `limits`).

use std::path::Path;

use netlib::{ClientTransports, Conf, ConfError};

use crate::limits::{
    DEFAULT_MAX_CLIENT_PDU_LEN, DEFAULT_MAX_GROUP_MEMBERS_PER_REQUEST, FORWARD_OVERHEAD,
    INTERNAL_MAX_PDU_LEN, MAX_CLIENT_PDU_LEN, MIN_CLIENT_PDU_LEN,
};

const LISTEN_IP: &str = "ListenIP";
const LISTEN_PORT: &str = "ListenPort";
const IP_ADDR1: &str = "IpAddr1";
const IP_ADDR2: &str = "IpAddr2";
const MAX_CONN_CNT: &str = "MaxConnCnt";
const AES_KEY: &str = "aesKey";
const CONCURRENT_DB_CONN_CNT: &str = "ConcurrentDBConnCnt";
const DB_SERVER: &str = "DBServer";
const LOGIN_SERVER: &str = "LoginServer";
const ROUTE_SERVER: &str = "RouteServer";
const PUSH_SERVER: &str = "PushServer";
const FILE_SERVER: &str = "FileServer";
const MAX_CLIENT_PDU_LEN_KEY: &str = "MaxClientPduLen";
const MAX_GROUP_MEMBERS_PER_REQUEST: &str = "MaxGroupMembersPerRequest";
const ENABLE_REGISTRATION: &str = "EnableRegistration";
const REGISTRATIONS_PER_MINUTE: &str = "RegistrationsPerMinute";
const PROFILE_CHANGES_PER_MINUTE: &str = "ProfileChangesPerMinute";
const REQUEST_TIMEOUT: &str = "RequestTimeout";

/// Connections opened to each db_proxy entry when `ConcurrentDBConnCnt` is absent.
pub const DEFAULT_CONCURRENT_DB_CONN_CNT: usize = 10;
/// The original refuses to start with fewer db_proxy entries than this.
pub const MIN_DB_SERVERS: usize = 2;
/// Registrations (0x0110) accepted per source address and minute when `RegistrationsPerMinute`
/// is absent.
pub const DEFAULT_REGISTRATIONS_PER_MINUTE: u32 = 5;
/// Signature and avatar changes accepted per user and minute when `ProfileChangesPerMinute` is
/// absent: each one is broadcast to every logged-in user of every msg_server.
pub const DEFAULT_PROFILE_CHANGES_PER_MINUTE: u32 = 10;
/// Seconds a client request forwarded to a back end waits for its answer when
/// `RequestTimeout` is absent; then the client gets the request's failure answer.
pub(crate) const DEFAULT_REQUEST_TIMEOUT_SECS: u64 = 15;

/// A back-end endpoint from a numbered `<Prefix>IP<n>` / `<Prefix>Port<n>` pair.
pub type Endpoint = (String, u16);

/// Everything msg_server reads from its conf file.
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    /// Local IPs the client listener binds (`ListenIP`, `;`-list).
    pub listen_ips: Vec<String>,
    /// Client port (`ListenPort`); 0 picks a free port (tests).
    pub listen_port: u16,
    /// Address reported to login_server for "telecom" clients (`IpAddr1`).
    pub ip_addr1: String,
    /// Second address reported to login_server (`IpAddr2`, defaults to `IpAddr1`).
    pub ip_addr2: String,
    /// Capacity reported to login_server and enforced on accept (`MaxConnCnt`).
    pub max_conn_cnt: u32,
    /// AES-256 key shared with the clients, to decrypt text for push notifications (`aesKey`).
    pub aes_key: [u8; 32],
    /// Connections opened to each db_proxy entry (`ConcurrentDBConnCnt`).
    pub db_conns_per_server: usize,
    /// db_proxy entries; the first half forms the login pool (BEHAVIOUR §1.3).
    pub db_servers: Vec<Endpoint>,
    /// login_server `MsgServerPort` endpoints.
    pub login_servers: Vec<Endpoint>,
    /// route_server endpoints.
    pub route_servers: Vec<Endpoint>,
    /// push_server endpoints.
    pub push_servers: Vec<Endpoint>,
    /// file_server msg-server-port endpoints.
    pub file_servers: Vec<Endpoint>,
    /// Longest PDU a client may send (`MaxClientPduLen`); a longer one closes the client.
    pub max_client_pdu_len: usize,
    /// Members per group create or member-change request (`MaxGroupMembersPerRequest`).
    pub max_group_members_per_request: usize,
    /// Whether clients may register accounts before login (`EnableRegistration=1`).
    pub enable_registration: bool,
    /// Registrations accepted per source address and minute (`RegistrationsPerMinute`).
    pub registrations_per_minute: u32,
    /// Signature and avatar changes accepted per user and minute (`ProfileChangesPerMinute`).
    pub profile_changes_per_minute: u32,
    /// How long a forwarded client request waits for its answer (`RequestTimeout`, seconds).
    pub request_timeout: std::time::Duration,
    /// The metrics endpoint (`MetricsListenIP`/`MetricsPort`), off when absent.
    pub metrics: Option<netlib::MetricsConf>,
    /// TLS, WebSocket and WebSocket-over-TLS client ports beside `ListenPort`, each off when
    /// its key is absent (`TlsListenPort`, `WsListenPort`, `WssListenPort`, `TlsCertFile`,
    /// `TlsKeyFile`, `WsPath`).
    pub transports: ClientTransports,
}

impl std::fmt::Debug for Config {
    /// Everything but the AES key, which is a shared secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen_ips", &self.listen_ips)
            .field("listen_port", &self.listen_port)
            .field("ip_addr1", &self.ip_addr1)
            .field("ip_addr2", &self.ip_addr2)
            .field("max_conn_cnt", &self.max_conn_cnt)
            .field("db_conns_per_server", &self.db_conns_per_server)
            .field("db_servers", &self.db_servers)
            .field("login_servers", &self.login_servers)
            .field("route_servers", &self.route_servers)
            .field("push_servers", &self.push_servers)
            .field("file_servers", &self.file_servers)
            .field("max_client_pdu_len", &self.max_client_pdu_len)
            .field(
                "max_group_members_per_request",
                &self.max_group_members_per_request,
            )
            .field("enable_registration", &self.enable_registration)
            .field("registrations_per_minute", &self.registrations_per_minute)
            .field(
                "profile_changes_per_minute",
                &self.profile_changes_per_minute,
            )
            .field("request_timeout", &self.request_timeout)
            .field("metrics", &self.metrics)
            .field("transports", &self.transports)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Reads and validates a conf file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfError> {
        Self::from_conf(&Conf::load(path)?)
    }

    /// Builds the config from parsed conf text, checking keys in the original's order
    /// (aesKey, the db_proxy list, then the listener keys).
    pub fn from_conf(conf: &Conf) -> Result<Self, ConfError> {
        let key_text = conf.require(AES_KEY)?;
        let aes_key: [u8; 32] = key_text
            .as_bytes()
            .try_into()
            .map_err(|_| ConfError::Invalid {
                key: AES_KEY.to_owned(),
                value: "<hidden>".to_owned(),
                reason: format!("must be exactly 32 bytes, not {}", key_text.len()),
            })?;
        let db_servers = conf.server_list(DB_SERVER)?;
        if db_servers.len() < MIN_DB_SERVERS {
            return Err(ConfError::Invalid {
                key: format!("{DB_SERVER}IP{}", db_servers.len() + 1),
                value: String::new(),
                reason: format!("at least {MIN_DB_SERVERS} db_proxy entries are required"),
            });
        }
        let listen_ips = conf.require_list(LISTEN_IP)?;
        let listen_port = conf.require_num(LISTEN_PORT)?;
        let ip_addr1 = conf.require(IP_ADDR1)?.to_owned();
        let ip_addr2 = conf.get(IP_ADDR2).unwrap_or(&ip_addr1).to_owned();
        let max_conn_cnt = conf.require_num(MAX_CONN_CNT)?;
        let db_conns_per_server =
            conf.num_or(CONCURRENT_DB_CONN_CNT, DEFAULT_CONCURRENT_DB_CONN_CNT)?;
        if db_conns_per_server == 0 {
            return Err(ConfError::Invalid {
                key: CONCURRENT_DB_CONN_CNT.to_owned(),
                value: "0".to_owned(),
                reason: "at least one connection per db_proxy is needed".to_owned(),
            });
        }
        let max_client_pdu_len = conf.num_or(MAX_CLIENT_PDU_LEN_KEY, DEFAULT_MAX_CLIENT_PDU_LEN)?;
        if !(MIN_CLIENT_PDU_LEN..=MAX_CLIENT_PDU_LEN).contains(&max_client_pdu_len) {
            return Err(ConfError::Invalid {
                key: MAX_CLIENT_PDU_LEN_KEY.to_owned(),
                value: max_client_pdu_len.to_string(),
                reason: format!(
                    "must be {MIN_CLIENT_PDU_LEN}..={MAX_CLIENT_PDU_LEN}: forwarding adds up to \
                     {FORWARD_OVERHEAD} bytes and internal links take at most \
                     {INTERNAL_MAX_PDU_LEN}"
                ),
            });
        }
        let max_group_members_per_request = conf.num_or(
            MAX_GROUP_MEMBERS_PER_REQUEST,
            DEFAULT_MAX_GROUP_MEMBERS_PER_REQUEST,
        )?;
        if max_group_members_per_request == 0 {
            return Err(ConfError::Invalid {
                key: MAX_GROUP_MEMBERS_PER_REQUEST.to_owned(),
                value: "0".to_owned(),
                reason: "a group request needs at least one member".to_owned(),
            });
        }
        let enable_registration = match conf.get(ENABLE_REGISTRATION) {
            None | Some("0") => false,
            Some("1") => true,
            Some(other) => {
                return Err(ConfError::Invalid {
                    key: ENABLE_REGISTRATION.to_owned(),
                    value: other.to_owned(),
                    reason: "must be 0 or 1".to_owned(),
                });
            }
        };
        let request_timeout: u64 =
            conf.positive_or(REQUEST_TIMEOUT, DEFAULT_REQUEST_TIMEOUT_SECS)?;
        Ok(Self {
            listen_ips,
            listen_port,
            ip_addr1,
            ip_addr2,
            max_conn_cnt,
            aes_key,
            db_conns_per_server,
            db_servers,
            login_servers: conf.server_list(LOGIN_SERVER)?,
            route_servers: conf.server_list(ROUTE_SERVER)?,
            push_servers: conf.server_list(PUSH_SERVER)?,
            file_servers: conf.server_list(FILE_SERVER)?,
            max_client_pdu_len,
            max_group_members_per_request,
            enable_registration,
            registrations_per_minute: conf
                .num_or(REGISTRATIONS_PER_MINUTE, DEFAULT_REGISTRATIONS_PER_MINUTE)?,
            profile_changes_per_minute: conf.num_or(
                PROFILE_CHANGES_PER_MINUTE,
                DEFAULT_PROFILE_CHANGES_PER_MINUTE,
            )?,
            request_timeout: std::time::Duration::from_secs(request_timeout),
            metrics: netlib::MetricsConf::from_conf(conf)?,
            transports: ClientTransports::from_conf(conf)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "ListenIP=127.0.0.1\nListenPort=8000\nConcurrentDBConnCnt=2\n\
        DBServerIP1=127.0.0.1\nDBServerPort1=10600\nDBServerIP2=127.0.0.1\nDBServerPort2=10601\n\
        LoginServerIP1=127.0.0.1\nLoginServerPort1=8100\nRouteServerIP1=127.0.0.1\n\
        RouteServerPort1=8200\nPushServerIP1=127.0.0.1\nPushServerPort1=8500\n\
        FileServerIP1=127.0.0.1\nFileServerPort1=8601\nIpAddr1=10.0.0.1\t#telecom\n\
        MaxConnCnt=100000\naesKey=12345678901234567890123456789012\n";

    #[test]
    fn sample_conf_loads_every_key() {
        let c = Config::from_conf(&Conf::parse(SAMPLE)).unwrap();
        assert_eq!(c.listen_ips, ["127.0.0.1"]);
        assert_eq!(c.listen_port, 8000);
        assert_eq!(
            (c.ip_addr1.as_str(), c.ip_addr2.as_str()),
            ("10.0.0.1", "10.0.0.1")
        );
        assert_eq!(c.max_conn_cnt, 100_000);
        assert_eq!(&c.aes_key, b"12345678901234567890123456789012");
        assert_eq!(c.db_conns_per_server, 2);
        assert_eq!(c.db_servers[1], ("127.0.0.1".to_owned(), 10601));
        assert_eq!(c.login_servers.len(), 1);
        assert_eq!(c.route_servers.len(), 1);
        assert_eq!(c.push_servers.len(), 1);
        assert_eq!(c.file_servers[0].1, 8601);
        assert!(!format!("{c:?}").contains("1234567890123"));
    }

    #[test]
    fn defaults_apply_to_optional_keys() {
        let text = SAMPLE.replace("ConcurrentDBConnCnt=2\n", "");
        let c = Config::from_conf(&Conf::parse(&text)).unwrap();
        assert_eq!(c.db_conns_per_server, DEFAULT_CONCURRENT_DB_CONN_CNT);
        assert_eq!(c.max_client_pdu_len, DEFAULT_MAX_CLIENT_PDU_LEN);
        assert_eq!(c.max_group_members_per_request, 500);
        assert!(!c.enable_registration);
        assert_eq!(c.registrations_per_minute, DEFAULT_REGISTRATIONS_PER_MINUTE);
        assert_eq!(
            c.profile_changes_per_minute,
            DEFAULT_PROFILE_CHANGES_PER_MINUTE
        );
    }

    #[test]
    fn limit_keys_are_read() {
        let text = format!(
            "{SAMPLE}MaxClientPduLen=100000\nMaxGroupMembersPerRequest=50\n\
             EnableRegistration=1\nRegistrationsPerMinute=2\nProfileChangesPerMinute=3\n"
        );
        let c = Config::from_conf(&Conf::parse(&text)).unwrap();
        assert_eq!(c.max_client_pdu_len, 100_000);
        assert_eq!(c.max_group_members_per_request, 50);
        assert!(c.enable_registration);
        assert_eq!(c.registrations_per_minute, 2);
        assert_eq!(c.profile_changes_per_minute, 3);
    }

    #[test]
    fn a_client_frame_limit_that_forwarding_could_push_over_the_link_cap_is_refused() {
        let at = |len: usize| {
            Config::from_conf(&Conf::parse(&format!("{SAMPLE}MaxClientPduLen={len}\n")))
        };
        assert!(at(MAX_CLIENT_PDU_LEN).is_ok());
        assert!(at(MIN_CLIENT_PDU_LEN).is_ok());
        for bad in [
            MAX_CLIENT_PDU_LEN + 1,
            INTERNAL_MAX_PDU_LEN - FORWARD_OVERHEAD,
            INTERNAL_MAX_PDU_LEN,
            MIN_CLIENT_PDU_LEN - 1,
            0,
        ] {
            match at(bad) {
                Err(ConfError::Invalid { key, value, .. }) => {
                    assert_eq!((key.as_str(), value), ("MaxClientPduLen", bad.to_string()));
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn bad_values_are_refused_naming_the_key() {
        let cases = [
            (
                "aesKey=12345678901234567890123456789012",
                "aesKey=short",
                "aesKey",
            ),
            ("DBServerIP2=127.0.0.1", "", "DBServerIP2"),
            ("ListenPort=8000", "ListenPort=80x", "ListenPort"),
            ("MaxConnCnt=100000", "", "MaxConnCnt"),
            ("ListenIP=127.0.0.1", "ListenIP=;", "ListenIP"),
            (
                "ConcurrentDBConnCnt=2",
                "ConcurrentDBConnCnt=0",
                "ConcurrentDBConnCnt",
            ),
            (
                "MaxConnCnt=100000",
                "MaxConnCnt=100000\nMaxGroupMembersPerRequest=0",
                "MaxGroupMembersPerRequest",
            ),
            (
                "MaxConnCnt=100000",
                "MaxConnCnt=100000\nEnableRegistration=yes",
                "EnableRegistration",
            ),
            (
                "MaxConnCnt=100000",
                "MaxConnCnt=100000\nRegistrationsPerMinute=-1",
                "RegistrationsPerMinute",
            ),
            (
                "MaxConnCnt=100000",
                "MaxConnCnt=100000\nMaxClientPduLen=4194304",
                "MaxClientPduLen",
            ),
        ];
        for (from, to, key) in cases {
            let err = Config::from_conf(&Conf::parse(&SAMPLE.replace(from, to))).unwrap_err();
            assert!(err.to_string().contains(key), "{key}: {err}");
        }
    }
}
