//! The typed form of `pushserver.conf` (CONFIG.md §10), built once at start-up.
//!
//! Invariants: `SandBox` is 0 or 1; the key passphrase is kept only in memory and never
//! logged (the `Debug` form hides it). `AllowedPeerIPs` is an addition (KNOWN_DEFECTS
//! D-AUTH-10): who may open a session.
//!
//! Delivery keys are additions (KNOWN_DEFECTS D-PUSH-7): APNs is configured by `ApnsKeyPath`
//! (then `ApnsKeyId`, `ApnsTeamId` and `ApnsTopic` are required), FCM by
//! `FcmServiceAccountPath`; either may be absent. The original's certificate keys
//! (`CertPath`, `KeyPath`, `KeyPassword`) are still accepted but no longer required: Apple
//! retired the protocol they served. Only file names are read here; the files themselves are
//! read when the delivery side starts.

use std::fmt;
use std::path::{Path, PathBuf};

use netlib::{Conf, ConfError, PeerFilter};

const LISTEN_IP: &str = "ListenIP";
const LISTEN_PORT: &str = "ListenPort";
const CERT_PATH: &str = "CertPath";
const KEY_PATH: &str = "KeyPath";
const KEY_PASSWORD: &str = "KeyPassword";
const SANDBOX: &str = "SandBox";
const ALLOWED_PEER_IPS: &str = "AllowedPeerIPs";
const APNS_KEY_PATH: &str = "ApnsKeyPath";
const APNS_KEY_ID: &str = "ApnsKeyId";
const APNS_TEAM_ID: &str = "ApnsTeamId";
const APNS_TOPIC: &str = "ApnsTopic";
const APNS_HOST: &str = "ApnsHost";
const FCM_SERVICE_ACCOUNT_PATH: &str = "FcmServiceAccountPath";
const FCM_HOST: &str = "FcmHost";
const FCM_TOKEN_URI: &str = "FcmTokenUri";
const PUSH_CA_FILE: &str = "PushCaFile";
const DB_SERVER: &str = "DBServer";
const PUSH_QUEUE_SIZE: &str = "PushQueueSize";
const PUSH_MAX_IN_FLIGHT: &str = "PushMaxInFlight";
const PUSH_RETRY_MAX: &str = "PushRetryMax";
const PUSH_RETRY_BASE_MS: &str = "PushRetryBaseMs";

/// Pushes waiting for a provider when `PushQueueSize` is absent.
pub const DEFAULT_QUEUE_SIZE: usize = 10_000;
/// Requests in flight (over all providers) when `PushMaxInFlight` is absent.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 200;
/// Retries of a push after a 429, a 5xx or a connection failure, when `PushRetryMax` is absent.
pub const DEFAULT_RETRY_MAX: u32 = 3;
/// First back-off in milliseconds (doubled at each retry) when `PushRetryBaseMs` is absent.
pub const DEFAULT_RETRY_BASE_MS: u64 = 500;
/// APNs production host.
pub const APNS_PRODUCTION: &str = "https://api.push.apple.com";
/// APNs sandbox (development) host.
pub const APNS_SANDBOX: &str = "https://api.sandbox.push.apple.com";
/// FCM host.
pub const FCM_DEFAULT_HOST: &str = "https://fcm.googleapis.com";

/// APNs token authentication and topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApnsConfig {
    /// The `.p8` signing key file (`ApnsKeyPath`).
    pub key_path: PathBuf,
    /// Its key id (`ApnsKeyId`).
    pub key_id: String,
    /// The developer team id (`ApnsTeamId`).
    pub team_id: String,
    /// The app's bundle id (`ApnsTopic`).
    pub topic: String,
}

/// FCM service account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FcmConfig {
    /// The service-account JSON file (`FcmServiceAccountPath`).
    pub service_account_path: PathBuf,
    /// Overrides the file's `token_uri` (`FcmTokenUri`).
    pub token_uri: Option<String>,
}

/// How pushes are delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryConfig {
    /// APNs, when configured.
    pub apns: Option<ApnsConfig>,
    /// APNs base URL (`ApnsHost`; by default the host `SandBox` selects).
    pub apns_host: String,
    /// FCM, when configured.
    pub fcm: Option<FcmConfig>,
    /// FCM base URL (`FcmHost`).
    pub fcm_host: String,
    /// An extra CA certificate file (PEM) to trust, for test doubles (`PushCaFile`).
    pub ca_file: Option<PathBuf>,
    /// Pushes waiting for a provider before the oldest are dropped (`PushQueueSize`).
    pub queue_size: usize,
    /// Requests in flight at once (`PushMaxInFlight`).
    pub max_in_flight: usize,
    /// Retries after a 429, a 5xx or a connection failure (`PushRetryMax`).
    pub retry_max: u32,
    /// First back-off in milliseconds, doubled at each retry (`PushRetryBaseMs`).
    pub retry_base_ms: u64,
}

/// Everything push_server reads from its conf.
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    /// Local IP for msg_server links (a single address, not a list).
    pub listen_ip: String,
    /// Listen port (0 picks one, for tests).
    pub listen_port: u16,
    /// PEM client certificate of the retired binary protocol (accepted, unused).
    pub cert_path: Option<PathBuf>,
    /// PEM private key of the retired binary protocol (accepted, unused).
    pub key_path: Option<PathBuf>,
    /// Passphrase of that key (accepted, unused, never logged).
    pub key_password: Option<String>,
    /// Whether to use Apple's sandbox hosts.
    pub sandbox: bool,
    /// Who may open a session (`AllowedPeerIPs`, addresses and CIDR ranges); without the key,
    /// loopback and private addresses only.
    pub allowed_peers: PeerFilter,
    /// The metrics endpoint (`MetricsListenIP`/`MetricsPort`), off when absent.
    pub metrics: Option<netlib::MetricsConf>,
    /// Mutual TLS on the links to and from other servers (`LinkTlsCertFile`,
    /// `LinkTlsKeyFile`, `LinkTlsCaFile`), off when absent.
    pub link_tls: Option<netlib::LinkTlsConf>,
    /// db_proxy entries (`DBServerIP<n>`/`DBServerPort<n>`), where dead tokens are cleared.
    pub db_servers: Vec<(String, u16)>,
    /// The providers and the delivery queue.
    pub delivery: DeliveryConfig,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen_ip", &self.listen_ip)
            .field("listen_port", &self.listen_port)
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .field("key_password", &"<hidden>")
            .field("sandbox", &self.sandbox)
            .field("allowed_peers", &self.allowed_peers)
            .field("db_servers", &self.db_servers)
            .field("delivery", &self.delivery)
            .finish()
    }
}

impl Config {
    /// Reads `path` (normally `pushserver.conf` in the working directory).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfError> {
        Self::from_conf(&Conf::load(path)?)
    }

    /// Builds the config from parsed conf text.
    pub fn from_conf(conf: &Conf) -> Result<Self, ConfError> {
        let sandbox = match conf.require(SANDBOX)? {
            "0" => false,
            "1" => true,
            other => {
                return Err(ConfError::Invalid {
                    key: SANDBOX.to_owned(),
                    value: other.to_owned(),
                    reason: "must be 0 (production) or 1 (sandbox)".to_owned(),
                });
            }
        };
        let apns = match conf.get(APNS_KEY_PATH) {
            Some(path) => Some(ApnsConfig {
                key_path: PathBuf::from(path),
                key_id: conf.require(APNS_KEY_ID)?.to_owned(),
                team_id: conf.require(APNS_TEAM_ID)?.to_owned(),
                topic: conf.require(APNS_TOPIC)?.to_owned(),
            }),
            None => None,
        };
        let fcm = conf.get(FCM_SERVICE_ACCOUNT_PATH).map(|path| FcmConfig {
            service_account_path: PathBuf::from(path),
            token_uri: conf.get(FCM_TOKEN_URI).map(str::to_owned),
        });
        let default_apns = if sandbox {
            APNS_SANDBOX
        } else {
            APNS_PRODUCTION
        };
        let delivery = DeliveryConfig {
            apns,
            apns_host: conf.get(APNS_HOST).unwrap_or(default_apns).to_owned(),
            fcm,
            fcm_host: conf.get(FCM_HOST).unwrap_or(FCM_DEFAULT_HOST).to_owned(),
            ca_file: conf.get(PUSH_CA_FILE).map(PathBuf::from),
            queue_size: conf.positive_or(PUSH_QUEUE_SIZE, DEFAULT_QUEUE_SIZE)?,
            max_in_flight: conf.positive_or(PUSH_MAX_IN_FLIGHT, DEFAULT_MAX_IN_FLIGHT)?,
            retry_max: conf.num_or(PUSH_RETRY_MAX, DEFAULT_RETRY_MAX)?,
            retry_base_ms: conf.positive_or(PUSH_RETRY_BASE_MS, DEFAULT_RETRY_BASE_MS)?,
        };
        Ok(Self {
            listen_ip: conf.require(LISTEN_IP)?.to_owned(),
            listen_port: conf.require_num(LISTEN_PORT)?,
            cert_path: conf.get(CERT_PATH).map(PathBuf::from),
            key_path: conf.get(KEY_PATH).map(PathBuf::from),
            key_password: conf.get(KEY_PASSWORD).map(str::to_owned),
            sandbox,
            allowed_peers: PeerFilter::from_conf(conf, ALLOWED_PEER_IPS)?,
            metrics: netlib::MetricsConf::from_conf(conf)?,
            link_tls: netlib::LinkTlsConf::from_conf(conf)?,
            db_servers: conf.server_list(DB_SERVER)?,
            delivery,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "ListenIP=127.0.0.1\nListenPort=8500\nCertPath=./apns-dev-cert.pem\n\
                          KeyPath=./apns-dev-key.pem\nKeyPassword=tt@mogujie\t# no '#'\n\
                          #SandBox\n#1: sandbox 0: production\nSandBox=1\t\n";

    #[test]
    fn original_conf_is_read_and_the_password_is_not_printed() {
        let config = Config::from_conf(&Conf::parse(SAMPLE)).unwrap();
        assert_eq!(config.listen_ip, "127.0.0.1");
        assert_eq!(config.listen_port, 8500);
        assert_eq!(config.cert_path, Some(PathBuf::from("./apns-dev-cert.pem")));
        assert_eq!(config.key_path, Some(PathBuf::from("./apns-dev-key.pem")));
        assert_eq!(config.key_password.as_deref(), Some("tt@mogujie"));
        assert!(config.sandbox);
        assert!(!format!("{config:?}").contains("mogujie"));
        assert!(config.allowed_peers.is_default());
        assert!(config.db_servers.is_empty());
        let d = &config.delivery;
        assert_eq!((d.apns.as_ref(), d.fcm.as_ref()), (None, None));
        assert_eq!(d.apns_host, APNS_SANDBOX);
        assert_eq!(d.fcm_host, FCM_DEFAULT_HOST);
        assert_eq!(d.queue_size, DEFAULT_QUEUE_SIZE);
        assert_eq!(d.retry_max, DEFAULT_RETRY_MAX);
        let production = Config::from_conf(&Conf::parse(&SAMPLE.replace("SandBox=1", "SandBox=0")));
        assert_eq!(production.unwrap().delivery.apns_host, APNS_PRODUCTION);
    }

    #[test]
    fn delivery_keys_are_read() {
        let text = format!(
            "{SAMPLE}ApnsKeyPath=/k/AuthKey.p8\nApnsKeyId=ABC123DEFG\nApnsTeamId=TEAM123456\n\
             ApnsTopic=com.example.tt\nApnsHost=https://127.0.0.1:9443\n\
             FcmServiceAccountPath=/k/sa.json\nFcmTokenUri=https://127.0.0.1:9444/token\n\
             PushCaFile=/k/ca.pem\nDBServerIP1=127.0.0.1\nDBServerPort1=10600\n\
             PushQueueSize=5\nPushMaxInFlight=7\nPushRetryMax=0\nPushRetryBaseMs=20\n"
        );
        let config = Config::from_conf(&Conf::parse(&text)).unwrap();
        let d = config.delivery;
        let apns = d.apns.unwrap();
        assert_eq!(apns.key_path, PathBuf::from("/k/AuthKey.p8"));
        assert_eq!(
            (
                apns.key_id.as_str(),
                apns.team_id.as_str(),
                apns.topic.as_str()
            ),
            ("ABC123DEFG", "TEAM123456", "com.example.tt")
        );
        assert_eq!(d.apns_host, "https://127.0.0.1:9443");
        let fcm = d.fcm.unwrap();
        assert_eq!(fcm.service_account_path, PathBuf::from("/k/sa.json"));
        assert_eq!(
            fcm.token_uri.as_deref(),
            Some("https://127.0.0.1:9444/token")
        );
        assert_eq!(d.ca_file, Some(PathBuf::from("/k/ca.pem")));
        assert_eq!(config.db_servers, vec![("127.0.0.1".to_owned(), 10600)]);
        assert_eq!(
            (d.queue_size, d.max_in_flight, d.retry_max, d.retry_base_ms),
            (5, 7, 0, 20)
        );
        let no_topic = text.replace("ApnsTopic=", "#");
        assert!(matches!(
            Config::from_conf(&Conf::parse(&no_topic)),
            Err(ConfError::Missing { key }) if key == APNS_TOPIC
        ));
    }

    #[test]
    fn missing_keys_are_named_and_sandbox_is_validated() {
        for key in [LISTEN_IP, LISTEN_PORT, SANDBOX] {
            let text = SAMPLE.replace(&format!("{key}="), "#");
            let err = Config::from_conf(&Conf::parse(&text)).unwrap_err();
            assert!(
                matches!(&err, ConfError::Missing { key: k } if k == key),
                "{err}"
            );
        }
        let no_certs = SAMPLE
            .replace("CertPath=", "#")
            .replace("KeyPath=", "#")
            .replace("KeyPassword=", "#");
        assert!(Config::from_conf(&Conf::parse(&no_certs)).is_ok());
        let listed = format!("{SAMPLE}AllowedPeerIPs=10.4.0.0/16\n");
        let config = Config::from_conf(&Conf::parse(&listed)).unwrap();
        assert!(config.allowed_peers.allows("10.4.1.1".parse().unwrap()));
        assert!(!config.allowed_peers.allows("127.0.0.1".parse().unwrap()));
        let bad_peers = format!("{SAMPLE}AllowedPeerIPs=10.4.0.0/16;10.4.0.0/99\n");
        assert!(matches!(
            Config::from_conf(&Conf::parse(&bad_peers)),
            Err(ConfError::Invalid { key, value, .. })
                if key == ALLOWED_PEER_IPS && value == "10.4.0.0/99"
        ));
        let bad = SAMPLE.replace("SandBox=1", "SandBox=2");
        assert!(matches!(
            Config::from_conf(&Conf::parse(&bad)),
            Err(ConfError::Invalid { key, value, .. }) if key == SANDBOX && value == "2"
        ));
    }
}
