//! What a listener's connections carry their PDUs over: plain TCP (the original's only
//! transport), TLS, WebSocket, or WebSocket over TLS. The layers themselves are
//! `teamtalk_transport::Layers`, owned by each connection; the reactor feeds them the bytes it
//! reads and writes what they seal, with the same output cap and back-pressure as plain TCP.
//! [`DialTransport`] is the same for connections a loop opens to a client port itself (a load
//! generator's, say).
//!
//! A certificate can be replaced while the server runs: the event loop rereads the PEM files
//! at its next tick once its reload flag is set (by SIGHUP, say); connections already open
//! keep the session they negotiated, new ones get the new certificate.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use log::{info, warn};
use teamtalk_transport::rustls::pki_types::ServerName;
use teamtalk_transport::rustls::{ClientConfig, ServerConfig};
use teamtalk_transport::{LayerError, Layers, WsClient, WsServer, client_config, server_config};
pub use teamtalk_transport::{TlsError, TlsFiles};

/// Time a new connection has to finish its TLS handshake and WebSocket upgrade unless
/// [`Transport::with_handshake_timeout`] says otherwise; a peer that opens connections and
/// never completes them is closed after it.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The name of a connection without TLS or WebSocket layers.
const PLAIN: &str = "tcp";

/// The short name of a stack of layers: `tcp`, `tls`, `ws` or `wss`.
fn layers_name(tls: bool, ws: bool) -> &'static str {
    match (tls, ws) {
        (false, false) => PLAIN,
        (true, false) => "tls",
        (false, true) => "ws",
        (true, true) => "wss",
    }
}

/// The transport of a listener.
#[derive(Debug, Clone)]
pub struct Transport {
    tls: Option<Tls>,
    ws: Option<WsServer>,
    handshake_timeout: Duration,
}

impl Default for Transport {
    fn default() -> Self {
        Self {
            tls: None,
            ws: None,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }
}

#[derive(Debug, Clone)]
struct Tls {
    files: TlsFiles,
    config: Arc<ServerConfig>,
}

impl Transport {
    /// Plain TCP.
    pub fn plain() -> Self {
        Self::default()
    }

    /// TLS with the certificate and key in `files` (read now; an error names the file).
    pub fn tls(files: TlsFiles) -> Result<Self, TlsError> {
        let config = server_config(&files)?;
        Ok(Self {
            tls: Some(Tls { files, config }),
            ..Self::default()
        })
    }

    /// Adds a WebSocket layer (inside TLS, if any): the upgrade must ask for `path`, and a
    /// message may carry at most `max_message` bytes.
    pub fn with_websocket(mut self, path: &str, max_message: usize) -> Self {
        self.ws = Some(WsServer {
            path: path.into(),
            max_message,
        });
        self
    }

    /// Changes the time a connection has to finish its handshakes.
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// The time a connection has to finish its handshakes.
    pub(crate) fn handshake_timeout(&self) -> Duration {
        self.handshake_timeout
    }

    /// Whether this is plain TCP.
    pub fn is_plain(&self) -> bool {
        self.name() == PLAIN
    }

    /// A short name for log lines and metrics: `tcp`, `tls`, `ws` or `wss`.
    pub fn name(&self) -> &'static str {
        layers_name(self.tls.is_some(), self.ws.is_some())
    }

    /// The layers of a connection just accepted (`None` for plain TCP).
    pub(crate) fn layers(&self) -> Result<Option<Box<Layers>>, LayerError> {
        if self.is_plain() {
            return Ok(None);
        }
        let tls = self.tls.as_ref().map(|tls| &tls.config);
        Ok(Some(Box::new(Layers::server(tls, self.ws.as_ref())?)))
    }

    /// Rereads the certificate and key; on failure the old ones stay in use (and the error
    /// is logged), so a half-written file never takes TLS down.
    pub(crate) fn reload(&mut self) {
        let Some(tls) = &mut self.tls else {
            return;
        };
        match server_config(&tls.files) {
            Ok(config) => {
                tls.config = config;
                info!(
                    "tls certificate reloaded: cert={}",
                    tls.files.cert.display()
                );
            }
            Err(e) => warn!("tls certificate reload failed, keeping the old one: {e}"),
        }
    }
}

/// A dialled connection's layers and the bytes they send first (the TLS ClientHello, or the
/// WebSocket upgrade request on a plain socket).
pub(crate) type Dialled = (Box<Layers>, Vec<u8>);

/// The transport of connections a loop opens to another program's client port (a load
/// generator's connections to msg_server, say): what [`crate::Ctx::connect_over`] puts
/// between the socket and the PDUs. Links between servers use [`LinkTlsConf`] instead.
#[derive(Debug, Clone, Default)]
pub struct DialTransport {
    tls: Option<DialTls>,
    ws: Option<DialWs>,
}

#[derive(Debug, Clone)]
struct DialTls {
    config: Arc<ClientConfig>,
    /// The name the server's certificate must carry; `None`: the IP address dialled.
    server_name: Option<ServerName<'static>>,
}

#[derive(Debug, Clone)]
struct DialWs {
    path: String,
    max_message: usize,
}

impl DialTransport {
    /// Plain TCP.
    pub fn plain() -> Self {
        Self::default()
    }

    /// TLS trusting the CAs in `ca` (PEM; the public web roots when `None`); the server's
    /// certificate must name `server_name`, or the IP address dialled when `None`.
    pub fn tls(ca: Option<&Path>, server_name: Option<&str>) -> Result<Self, TlsError> {
        let config = client_config(ca, None)?;
        let server_name = server_name
            .map(|name| {
                ServerName::try_from(name.to_owned()).map_err(|e| {
                    TlsError::Config(teamtalk_transport::rustls::Error::General(format!(
                        "server name {name}: {e}"
                    )))
                })
            })
            .transpose()?;
        Ok(Self {
            tls: Some(DialTls {
                config,
                server_name,
            }),
            ws: None,
        })
    }

    /// Adds a WebSocket layer (inside TLS, if any) upgrading on `path`; a message from the
    /// server may carry at most `max_message` bytes.
    pub fn with_websocket(mut self, path: &str, max_message: usize) -> Self {
        self.ws = Some(DialWs {
            path: path.to_owned(),
            max_message,
        });
        self
    }

    /// Whether this is plain TCP.
    pub fn is_plain(&self) -> bool {
        self.name() == PLAIN
    }

    /// A short name for log lines and results: `tcp`, `tls`, `ws` or `wss`.
    pub fn name(&self) -> &'static str {
        layers_name(self.tls.is_some(), self.ws.is_some())
    }

    /// The client layers of a connection to `addr` and the first bytes to send (`None` for
    /// plain TCP).
    pub(crate) fn layers(&self, addr: SocketAddr) -> Result<Option<Dialled>, LayerError> {
        if self.is_plain() {
            return Ok(None);
        }
        let tls = self.tls.as_ref().map(|tls| {
            let name = tls
                .server_name
                .clone()
                .unwrap_or_else(|| ServerName::from(addr.ip()));
            (Arc::clone(&tls.config), name)
        });
        let ws = self.ws.as_ref().map(|ws| WsClient {
            host: addr.to_string(),
            path: ws.path.clone(),
            max_message: ws.max_message,
        });
        let mut first = Vec::new();
        let layers = Layers::client(tls, ws, &mut first)?;
        Ok(Some((Box::new(layers), first)))
    }
}

const TLS_CERT_FILE: &str = "TlsCertFile";
const TLS_KEY_FILE: &str = "TlsKeyFile";
const TLS_LISTEN_PORT: &str = "TlsListenPort";
const WS_LISTEN_PORT: &str = "WsListenPort";
const WSS_LISTEN_PORT: &str = "WssListenPort";
const WS_PATH: &str = "WsPath";
/// The WebSocket path when `WsPath` is absent.
pub const DEFAULT_WS_PATH: &str = "/ws";

/// The extra client listeners a conf asks for beside its plain port (docs/CONFIG.md, "TLS and
/// WebSocket"): TLS, WebSocket and WebSocket over TLS, each on a port of its own, all on the
/// server's listen IPs. All are off unless their port key is present.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientTransports {
    /// `TlsCertFile` and `TlsKeyFile`, needed by the TLS and WSS ports.
    pub tls_files: Option<TlsFiles>,
    /// `TlsListenPort`.
    pub tls_port: Option<u16>,
    /// `WsListenPort`.
    pub ws_port: Option<u16>,
    /// `WssListenPort`.
    pub wss_port: Option<u16>,
    /// `WsPath`, the path a WebSocket upgrade must ask for.
    pub ws_path: String,
}

impl ClientTransports {
    /// Reads the keys; a TLS port without both PEM files, or a path not starting with `/`,
    /// is refused.
    pub fn from_conf(conf: &crate::Conf) -> Result<Self, crate::ConfError> {
        let port = |key: &str| {
            conf.get(key)
                .map(|_| conf.require_num::<u16>(key))
                .transpose()
        };
        let tls_files = match (conf.get(TLS_CERT_FILE), conf.get(TLS_KEY_FILE)) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert: cert.into(),
                key: key.into(),
                client_ca: None,
            }),
            (None, None) => None,
            (Some(_), None) => return Err(missing(TLS_KEY_FILE)),
            (None, Some(_)) => return Err(missing(TLS_CERT_FILE)),
        };
        let this = Self {
            tls_port: port(TLS_LISTEN_PORT)?,
            ws_port: port(WS_LISTEN_PORT)?,
            wss_port: port(WSS_LISTEN_PORT)?,
            ws_path: conf.get(WS_PATH).unwrap_or(DEFAULT_WS_PATH).to_owned(),
            tls_files,
        };
        if (this.tls_port.is_some() || this.wss_port.is_some()) && this.tls_files.is_none() {
            return Err(missing(TLS_CERT_FILE));
        }
        if !this.ws_path.starts_with('/') || this.ws_path.contains(char::is_whitespace) {
            return Err(crate::ConfError::Invalid {
                key: WS_PATH.to_owned(),
                value: this.ws_path,
                reason: "must be a path starting with /".to_owned(),
            });
        }
        Ok(this)
    }

    /// Each configured port with its transport (certificates read now); a WebSocket message
    /// may carry at most `max_message` bytes.
    pub fn transports(&self, max_message: usize) -> Result<Vec<(u16, Transport)>, TlsError> {
        let mut out = Vec::new();
        let tls = || -> Result<Transport, TlsError> {
            let files = self.tls_files.clone().ok_or_else(|| TlsError::File {
                path: TLS_CERT_FILE.into(),
                reason: format!("a TLS port needs {TLS_CERT_FILE} and {TLS_KEY_FILE}"),
            })?;
            Transport::tls(files)
        };
        if let Some(port) = self.tls_port {
            out.push((port, tls()?));
        }
        if let Some(port) = self.ws_port {
            out.push((
                port,
                Transport::plain().with_websocket(&self.ws_path, max_message),
            ));
        }
        if let Some(port) = self.wss_port {
            out.push((port, tls()?.with_websocket(&self.ws_path, max_message)));
        }
        Ok(out)
    }

    /// Whether any TLS listener is configured (SIGHUP then reloads certificates).
    pub fn uses_tls(&self) -> bool {
        self.tls_port.is_some() || self.wss_port.is_some()
    }
}

fn missing(key: &str) -> crate::ConfError {
    crate::ConfError::Missing {
        key: key.to_owned(),
    }
}

const LINK_TLS_CERT_FILE: &str = "LinkTlsCertFile";
const LINK_TLS_KEY_FILE: &str = "LinkTlsKeyFile";
const LINK_TLS_CA_FILE: &str = "LinkTlsCaFile";

/// Mutual TLS on the links between servers (docs/CONFIG.md §1.3): the keys every conf may
/// carry. When set, the server's internal listeners accept only TLS peers whose certificate
/// chains to the CA, and its outbound links use TLS, present the same certificate and accept
/// only a peer certificate that chains to the CA and names the host dialled. Off when absent:
/// links to and from C++ servers stay plain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkTlsConf {
    /// This server's certificate chain (`LinkTlsCertFile`), used both ways.
    pub cert: std::path::PathBuf,
    /// Its private key (`LinkTlsKeyFile`).
    pub key: std::path::PathBuf,
    /// The CA every peer's certificate must chain to (`LinkTlsCaFile`).
    pub ca: std::path::PathBuf,
}

impl LinkTlsConf {
    /// The three keys, all or none.
    pub fn from_conf(conf: &crate::Conf) -> Result<Option<Self>, crate::ConfError> {
        let keys = [LINK_TLS_CERT_FILE, LINK_TLS_KEY_FILE, LINK_TLS_CA_FILE];
        let values = keys.map(|k| conf.get(k));
        if values.iter().all(Option::is_none) {
            return Ok(None);
        }
        let [Some(cert), Some(key), Some(ca)] = values else {
            let absent = keys
                .iter()
                .zip(&values)
                .find(|(_, v)| v.is_none())
                .map_or(LINK_TLS_CA_FILE, |(k, _)| *k);
            return Err(missing(absent));
        };
        Ok(Some(Self {
            cert: cert.into(),
            key: key.into(),
            ca: ca.into(),
        }))
    }

    fn server_files(&self) -> TlsFiles {
        TlsFiles {
            cert: self.cert.clone(),
            key: self.key.clone(),
            client_ca: Some(self.ca.clone()),
        }
    }
}

/// Link TLS, loaded: the listener transport and the dialling configuration.
#[derive(Debug)]
pub(crate) struct LinkTls {
    pub(crate) listener: Transport,
    client: Arc<ClientConfig>,
}

impl LinkTls {
    pub(crate) fn load(conf: &LinkTlsConf) -> Result<Self, TlsError> {
        let listener = Transport::tls(conf.server_files())?;
        let client = client_config(Some(&conf.ca), Some((&conf.cert, &conf.key)))?;
        Ok(Self { listener, client })
    }

    /// The client layers of a link to `host` (a conf's IP or host name, which the peer's
    /// certificate must name) and the first bytes to send.
    pub(crate) fn dial(&self, host: &str) -> Result<(Box<Layers>, Vec<u8>), LayerError> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host.to_owned()).map_err(|e| {
            LayerError::Tls(teamtalk_transport::rustls::Error::General(e.to_string()))
        })?;
        let mut first = Vec::new();
        let layers = Layers::client(Some((Arc::clone(&self.client), name)), None, &mut first)?;
        Ok((Box::new(layers), first))
    }
}

const HTTPS_PORT: &str = "HttpsPort";

/// An HTTPS port beside a server's plain HTTP one (login_server, msfs; docs/CONFIG.md):
/// `HttpsPort` with `TlsCertFile` and `TlsKeyFile`, on the same listen IPs, serving the same
/// requests. Off when `HttpsPort` is absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpsConf {
    /// `HttpsPort`.
    pub port: u16,
    /// `TlsCertFile` and `TlsKeyFile`.
    pub files: TlsFiles,
}

impl HttpsConf {
    /// Reads the keys; `HttpsPort` without both PEM files is refused.
    pub fn from_conf(conf: &crate::Conf) -> Result<Option<Self>, crate::ConfError> {
        let Some(_) = conf.get(HTTPS_PORT) else {
            return Ok(None);
        };
        let port = conf.require_num(HTTPS_PORT)?;
        let files = TlsFiles {
            cert: conf.require(TLS_CERT_FILE)?.into(),
            key: conf.require(TLS_KEY_FILE)?.into(),
            client_ca: None,
        };
        Ok(Some(Self { port, files }))
    }

    /// The listener transport (the certificate read now).
    pub fn transport(&self) -> Result<Transport, TlsError> {
        Transport::tls(self.files.clone())
    }
}
