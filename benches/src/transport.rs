//! Which transport the simulated clients reach msg_server over: plain TCP (the original's
//! only one), TLS, WebSocket or WebSocket over TLS (docs/PROTOCOL.md §2.4). The layers are
//! netlib's own ([`netlib::DialTransport`]), so the driver loop stays one thread and a run
//! over TLS measures the servers' TLS, not a second implementation in the generator.

use std::path::PathBuf;

use clap::ValueEnum;
use netlib::DialTransport;
use teamtalk_proto::DEFAULT_MAX_PDU_LEN;
use tt_client::MsgServerInfo;

/// The WebSocket path when neither `--ws-path` nor login_server names one (msg_server's
/// default `WsPath`).
pub const DEFAULT_WS_PATH: &str = "/ws";

/// A transport of msg_server's client ports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum TransportKind {
    /// Plain TCP (`ListenPort`).
    #[default]
    #[value(alias = "tcp")]
    Plain,
    /// TLS (`TlsListenPort`).
    Tls,
    /// WebSocket (`WsListenPort`).
    Ws,
    /// WebSocket over TLS (`WssListenPort`).
    Wss,
}

impl TransportKind {
    /// The name on the command line and in results.
    pub fn name(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::Tls => "tls",
            Self::Ws => "ws",
            Self::Wss => "wss",
        }
    }

    fn uses_tls(self) -> bool {
        matches!(self, Self::Tls | Self::Wss)
    }

    fn uses_websocket(self) -> bool {
        matches!(self, Self::Ws | Self::Wss)
    }

    /// The port of this transport that login_server advertised for `info`'s msg_server.
    pub fn port(self, info: &MsgServerInfo) -> Option<u16> {
        info.port_for(match self {
            Self::Plain => "tcp",
            Self::Tls => "tls",
            Self::Ws => "ws",
            Self::Wss => "wss",
        })
    }
}

/// The transport flags of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransportOptions {
    /// The transport.
    pub kind: TransportKind,
    /// PEM file of the CA(s) to trust; `None`: the public web roots.
    pub ca: Option<PathBuf>,
    /// Name the server's certificate must carry; `None`: the IP address dialled.
    pub tls_name: Option<String>,
    /// WebSocket request path; `None`: what login_server advertises, else [`DEFAULT_WS_PATH`].
    pub ws_path: Option<String>,
}

/// Why a run's transport could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The CA file or the server name is unusable.
    #[error("tls: {0}")]
    Tls(#[from] netlib::TlsError),
    /// Discovery answered with a msg_server that does not offer the transport.
    #[error("the msg_server login_server chose ({addr}) advertises no {kind} port")]
    NotOffered {
        /// `priorIP:port` of the msg_server.
        addr: String,
        /// The transport asked for.
        kind: &'static str,
    },
}

impl TransportOptions {
    /// The WebSocket path to use with a msg_server login_server described as `info` (or
    /// with one given by address, when `None`).
    pub fn ws_path(&self, info: Option<&MsgServerInfo>) -> String {
        self.ws_path
            .clone()
            .or_else(|| info.and_then(|i| i.ws_path.clone()))
            .unwrap_or_else(|| DEFAULT_WS_PATH.to_owned())
    }

    /// The msg_server port to use from a discovery answer.
    pub fn port(&self, info: &MsgServerInfo) -> Result<u16, TransportError> {
        self.kind
            .port(info)
            .ok_or_else(|| TransportError::NotOffered {
                addr: info.addr(),
                kind: self.kind.name(),
            })
    }

    /// The layers every client connection gets (the CA file read now).
    pub fn dial(&self, ws_path: &str) -> Result<DialTransport, TransportError> {
        let base = if self.kind.uses_tls() {
            DialTransport::tls(self.ca.as_deref(), self.tls_name.as_deref())?
        } else {
            DialTransport::plain()
        };
        Ok(if self.kind.uses_websocket() {
            // What msg_server sends a client is bounded by the PDU limit, as on plain TCP.
            base.with_websocket(ws_path, DEFAULT_MAX_PDU_LEN)
        } else {
            base
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> MsgServerInfo {
        MsgServerInfo {
            prior_ip: "127.0.0.1".into(),
            backup_ip: "127.0.0.1".into(),
            port: 8000,
            msfs_prior: String::new(),
            msfs_backup: String::new(),
            discovery: String::new(),
            tls_port: Some(8443),
            ws_port: None,
            wss_port: Some(8444),
            ws_path: Some("/im".into()),
        }
    }

    #[test]
    fn discovery_picks_the_port_of_the_transport() {
        let opts = |kind| TransportOptions {
            kind,
            ..TransportOptions::default()
        };
        assert_eq!(opts(TransportKind::Plain).port(&info()).unwrap(), 8000);
        assert_eq!(opts(TransportKind::Tls).port(&info()).unwrap(), 8443);
        assert_eq!(opts(TransportKind::Wss).port(&info()).unwrap(), 8444);
        let err = opts(TransportKind::Ws).port(&info()).unwrap_err();
        assert!(err.to_string().contains("no ws port"), "{err}");
    }

    #[test]
    fn the_websocket_path_comes_from_the_flag_then_discovery_then_the_default() {
        let mut opts = TransportOptions::default();
        assert_eq!(opts.ws_path(None), "/ws");
        assert_eq!(opts.ws_path(Some(&info())), "/im");
        opts.ws_path = Some("/x".into());
        assert_eq!(opts.ws_path(Some(&info())), "/x");
    }

    #[test]
    fn dial_transports_match_the_kind() {
        for (kind, name) in [
            (TransportKind::Plain, "tcp"),
            (TransportKind::Tls, "tls"),
            (TransportKind::Ws, "ws"),
            (TransportKind::Wss, "wss"),
        ] {
            let opts = TransportOptions {
                kind,
                ..TransportOptions::default()
            };
            assert_eq!(opts.dial("/ws").unwrap().name(), name);
        }
        let missing = TransportOptions {
            kind: TransportKind::Tls,
            ca: Some("/nonexistent/ca.pem".into()),
            ..TransportOptions::default()
        };
        assert!(missing.dial("/ws").is_err());
    }
}
