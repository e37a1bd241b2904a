//! The typed form of `pushserver.conf` (CONFIG.md §10), built once at start-up.
//!
//! Invariants: `SandBox` is 0 or 1; the key passphrase is kept only in memory and never
//! logged (the `Debug` form hides it). `AllowedPeerIPs` is an addition (KNOWN_DEFECTS
//! D-AUTH-10): who may open a session.

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

/// Everything push_server reads from its conf.
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    /// Local IP for msg_server links (a single address, not a list).
    pub listen_ip: String,
    /// Listen port (0 picks one, for tests).
    pub listen_port: u16,
    /// PEM client certificate for APNs.
    pub cert_path: PathBuf,
    /// PEM private key for APNs.
    pub key_path: PathBuf,
    /// Passphrase of the private key.
    pub key_password: String,
    /// Whether to use Apple's sandbox hosts.
    pub sandbox: bool,
    /// Who may open a session (`AllowedPeerIPs`, addresses and CIDR ranges); without the key,
    /// loopback and private addresses only.
    pub allowed_peers: PeerFilter,
    /// The metrics endpoint (`MetricsListenIP`/`MetricsPort`), off when absent.
    pub metrics: Option<netlib::MetricsConf>,
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
        Ok(Self {
            listen_ip: conf.require(LISTEN_IP)?.to_owned(),
            listen_port: conf.require_num(LISTEN_PORT)?,
            cert_path: PathBuf::from(conf.require(CERT_PATH)?),
            key_path: PathBuf::from(conf.require(KEY_PATH)?),
            key_password: conf.require(KEY_PASSWORD)?.to_owned(),
            sandbox,
            allowed_peers: PeerFilter::from_conf(conf, ALLOWED_PEER_IPS)?,
            metrics: netlib::MetricsConf::from_conf(conf)?,
        })
    }

    /// The APNs gateway `host:port` selected by `SandBox`.
    pub fn gateway(&self) -> &'static str {
        if self.sandbox {
            "gateway.sandbox.push.apple.com:2195"
        } else {
            "gateway.push.apple.com:2195"
        }
    }

    /// The APNs feedback service `host:port` selected by `SandBox`.
    pub fn feedback(&self) -> &'static str {
        if self.sandbox {
            "feedback.sandbox.push.apple.com:2196"
        } else {
            "feedback.push.apple.com:2196"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "ListenIP=127.0.0.1\nListenPort=8500\nCertPath=./apns-dev-cert.pem\n\
                          KeyPath=./apns-dev-key.pem\nKeyPassword=tt@mogujie\t# no '#'\n\
                          #SandBox\n#1: sandbox 0: production\nSandBox=1\t\n";

    #[test]
    fn sample_conf_is_read_and_the_password_is_not_printed() {
        let config = Config::from_conf(&Conf::parse(SAMPLE)).unwrap();
        assert_eq!(config.listen_ip, "127.0.0.1");
        assert_eq!(config.listen_port, 8500);
        assert_eq!(config.cert_path, PathBuf::from("./apns-dev-cert.pem"));
        assert_eq!(config.key_path, PathBuf::from("./apns-dev-key.pem"));
        assert_eq!(config.key_password, "tt@mogujie");
        assert!(config.sandbox);
        assert_eq!(config.gateway(), "gateway.sandbox.push.apple.com:2195");
        assert_eq!(config.feedback(), "feedback.sandbox.push.apple.com:2196");
        assert!(!format!("{config:?}").contains("mogujie"));
        assert!(config.allowed_peers.is_default());
        let production = Config::from_conf(&Conf::parse(&SAMPLE.replace("SandBox=1", "SandBox=0")));
        assert_eq!(production.unwrap().gateway(), "gateway.push.apple.com:2195");
    }

    #[test]
    fn missing_keys_are_named_and_sandbox_is_validated() {
        for key in [
            LISTEN_IP,
            LISTEN_PORT,
            CERT_PATH,
            KEY_PATH,
            KEY_PASSWORD,
            SANDBOX,
        ] {
            let text = SAMPLE.replace(&format!("{key}="), "#");
            let err = Config::from_conf(&Conf::parse(&text)).unwrap_err();
            assert!(
                matches!(&err, ConfError::Missing { key: k } if k == key),
                "{err}"
            );
        }
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
