//! A certificate authority of a test's own, and the certificate for
//! 127.0.0.1 it issued: for `https` callbacks (tests/subscriptions.rs) and
//! `wasmano serve --tls-cert` (tests/service.rs).

#![allow(dead_code, reason = "each test binary uses its own part of the support module")]

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The authority and the server certificate it issued.
pub struct Authority {
    /// The authority's certificate, PEM: what a client is told to trust.
    pub pem: String,
    certificate: rustls::pki_types::CertificateDer<'static>,
    certificate_pem: String,
    key: Vec<u8>,
    key_pem: String,
}

impl Authority {
    pub fn new() -> Self {
        let authority_key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let authority = params.self_signed(&authority_key).unwrap();
        let issuer = rcgen::Issuer::new(params, authority_key);
        let key = rcgen::KeyPair::generate().unwrap();
        let certificate = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        Self {
            pem: authority.pem(),
            certificate: certificate.der().clone(),
            certificate_pem: certificate.pem(),
            key: key.serialize_der(),
            key_pem: key.serialize_pem(),
        }
    }

    /// A rustls server configuration with the issued certificate.
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(self.key.clone().into());
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![self.certificate.clone()], key)
            .unwrap();
        Arc::new(config)
    }

    /// Writes the authority's certificate, the issued certificate and its
    /// key as PEM files into `dir`: (ca, cert, key).
    pub fn write_pem(&self, dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
        let files = (dir.join("ca.pem"), dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&files.0, &self.pem).unwrap();
        std::fs::write(&files.1, &self.certificate_pem).unwrap();
        std::fs::write(&files.2, &self.key_pem).unwrap();
        files
    }
}
