//! A throw-away public key infrastructure for tests: a CA, a server certificate for
//! `127.0.0.1` and `localhost`, and a client certificate, as PEM files in a directory of
//! their own (feature `test-pki`; never in a release build).
#![allow(clippy::missing_panics_doc)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

use crate::TlsFiles;

/// A CA with a server and a client certificate, written under [`Pki::dir`].
#[derive(Debug)]
pub struct Pki {
    /// Where the PEM files are: `ca.pem`, `server.pem`, `server.key`, `client.pem`,
    /// `client.key`.
    pub dir: PathBuf,
}

impl Pki {
    /// A fresh CA and certificates in a new directory under the system's temp directory.
    pub fn new(tag: &str) -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("tt-pki-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("the temp directory is writable");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "teamtalk-rs test CA");
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().expect("a CA key"))
            .expect("a self-signed CA");
        std::fs::write(dir.join("ca.pem"), ca.pem()).expect("ca.pem is writable");
        for (name, subject) in [("server", "127.0.0.1"), ("client", "teamtalk-peer")] {
            let key = KeyPair::generate().expect("a key");
            let names = vec![subject.to_owned(), "localhost".to_owned()];
            let cert = CertificateParams::new(names)
                .expect("certificate parameters")
                .signed_by(&key, &ca)
                .expect("a certificate signed by the CA");
            std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).expect("PEM is writable");
            std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem())
                .expect("key is writable");
        }
        Self { dir }
    }

    /// The CA certificate file.
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The server's files, without client authentication.
    pub fn server_files(&self) -> TlsFiles {
        TlsFiles {
            cert: self.dir.join("server.pem"),
            key: self.dir.join("server.key"),
            client_ca: None,
        }
    }

    /// Copies this PKI's server certificate and key over `other`'s files (a certificate
    /// renewal, for reload tests).
    pub fn install_server_files_into(&self, other: &Path) {
        std::fs::copy(self.dir.join("server.pem"), other.join("server.pem"))
            .expect("server.pem copies");
        std::fs::copy(self.dir.join("server.key"), other.join("server.key"))
            .expect("server.key copies");
    }
}
