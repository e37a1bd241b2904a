//! Which transport a [`crate::Client`] reaches msg_server over: plain TCP (the default and
//! the original's only one), TLS, WebSocket, or WebSocket over TLS (docs/PROTOCOL.md,
//! "Transports"). The PDUs are the same on all of them.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use teamtalk_transport::rustls::pki_types::ServerName;
use teamtalk_transport::{Layers, Opened, WsClient, client_config};

/// TLS settings of a client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// PEM file of the CA(s) to trust; `None` trusts the public web roots.
    pub ca_file: Option<PathBuf>,
    /// Name the server's certificate must carry; `None` uses the address connected to.
    pub server_name: Option<String>,
}

/// The transport under the PDUs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientTransport {
    /// TLS, when set.
    pub tls: Option<TlsOptions>,
    /// WebSocket with this request path (inside TLS when both are set), when set.
    pub ws_path: Option<String>,
}

impl ClientTransport {
    /// Whether this is plain TCP.
    pub fn is_plain(&self) -> bool {
        self.tls.is_none() && self.ws_path.is_none()
    }

    /// A short name: `tcp`, `tls`, `ws` or `wss`.
    pub fn name(&self) -> &'static str {
        match (self.tls.is_some(), self.ws_path.is_some()) {
            (false, false) => "tcp",
            (true, false) => "tls",
            (false, true) => "ws",
            (true, true) => "wss",
        }
    }
}

/// Runs the handshakes of `transport` on a connected socket, blocking up to `timeout`.
/// Returns the established layers and any PDU bytes that already arrived behind them.
pub(crate) fn handshake(
    stream: &mut TcpStream,
    peer: SocketAddr,
    transport: &ClientTransport,
    max_pdu_len: usize,
    timeout: Duration,
) -> io::Result<(Layers, Vec<u8>)> {
    let tls = match &transport.tls {
        Some(options) => {
            let config = client_config(options.ca_file.as_deref(), None)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
            let name = match &options.server_name {
                Some(name) => ServerName::try_from(name.clone()).map_err(|e| {
                    io::Error::new(io::ErrorKind::InvalidInput, format!("server name: {e}"))
                })?,
                None => ServerName::from(peer.ip()),
            };
            Some((Arc::clone(&config), name))
        }
        None => None,
    };
    let ws = transport.ws_path.as_ref().map(|path| WsClient {
        host: peer.to_string(),
        path: path.clone(),
        max_message: max_pdu_len,
    });
    let mut wire = Vec::new();
    let mut layers = Layers::client(tls, ws, &mut wire).map_err(io::Error::other)?;
    stream.write_all(&wire)?;
    let deadline = Instant::now() + timeout;
    let mut plain = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    let old_timeout = stream.read_timeout()?;
    while !layers.is_established() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{} handshake timed out", transport.name()),
            ));
        }
        stream.set_read_timeout(Some(left))?;
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                format!("server closed during the {} handshake", transport.name()),
            ));
        }
        let mut reply = Vec::new();
        let opened = layers.open(&chunk[..n], &mut plain, &mut reply);
        stream.write_all(&reply)?;
        match opened {
            Ok(Opened::Open) => {}
            Ok(Opened::PeerClosed) => {
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    format!("server closed during the {} handshake", transport.name()),
                ));
            }
            Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
        }
    }
    stream.set_read_timeout(old_timeout)?;
    Ok((layers, plain))
}
