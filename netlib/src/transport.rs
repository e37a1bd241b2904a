//! What a listener's connections carry their PDUs over: plain TCP (the original's only
//! transport), TLS, WebSocket, or WebSocket over TLS. The layers themselves are
//! `teamtalk_transport::Layers`, owned by each connection; the reactor feeds them the bytes it
//! reads and writes what they seal, with the same output cap and back-pressure as plain TCP.
//!
//! A certificate can be replaced while the server runs: [`Transport::reload`] rereads the PEM
//! files (the event loop does it when its reload flag is set, e.g. by SIGHUP); connections
//! already open keep the session they negotiated, new ones get the new certificate.

use std::sync::Arc;
use std::time::Duration;

use log::{info, warn};
use teamtalk_transport::rustls::ServerConfig;
use teamtalk_transport::{LayerError, Layers, TlsError, TlsFiles, WsServer, server_config};

/// Time a new connection has to finish its TLS handshake and WebSocket upgrade unless
/// [`Transport::with_handshake_timeout`] says otherwise; a peer that opens connections and
/// never completes them is closed after it.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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
        self.tls.is_none() && self.ws.is_none()
    }

    /// A short name for log lines and metrics: `tcp`, `tls`, `ws` or `wss`.
    pub fn name(&self) -> &'static str {
        match (self.tls.is_some(), self.ws.is_some()) {
            (false, false) => "tcp",
            (true, false) => "tls",
            (false, true) => "ws",
            (true, true) => "wss",
        }
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
