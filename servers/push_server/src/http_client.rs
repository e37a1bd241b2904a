//! The outbound HTTP/2 client shared by both providers: reqwest over hyper and h2, with rustls
//! on the ring provider. HTTP/2 only (ALPN `h2`, prior knowledge): APNs requires it, and it
//! lets every request to one host share one connection. The pool keeps that connection and
//! dials a new one when the old one is gone (GOAWAY, reset, idle timeout).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// A request (connect, send, answer) that takes longer fails and is retried.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Connecting (TCP and TLS) may take this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// HTTP/2 PING interval on an open connection, so a dead one is noticed between pushes.
const KEEP_ALIVE: Duration = Duration::from_secs(60);

/// Why the client cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// `PushCaFile` cannot be read or holds no certificate.
    #[error("cannot use the CA file {path}: {reason}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("tls configuration")]
    Tls(#[from] rustls::Error),
    /// reqwest refused the configuration.
    #[error("http client")]
    Http(#[from] reqwest::Error),
}

/// A client trusting the Mozilla roots and, for tests, the certificates in `ca_file`.
pub(crate) fn build(ca_file: Option<&Path>) -> Result<reqwest::Client, ClientError> {
    let mut roots =
        rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        let ca_error = |reason: String| ClientError::CaFile {
            path: path.to_path_buf(),
            reason,
        };
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .map_err(|e| ca_error(e.to_string()))?
            .collect::<Result<_, _>>()
            .map_err(|e| ca_error(e.to_string()))?;
        if certs.is_empty() {
            return Err(ca_error("no certificate in it".to_owned()));
        }
        for cert in certs {
            roots.add(cert)?;
        }
    }
    // ring rather than aws-lc-rs: no C toolchain or cmake needed to build, and one crypto
    // stack with the JWT signing. Its deprecation is about post-quantum key exchange, which
    // neither APNs nor FCM requires.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h2".to_vec()];
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .http2_prior_knowledge()
        .http2_keep_alive_interval(KEEP_ALIVE)
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .build()?)
}
