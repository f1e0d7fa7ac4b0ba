//! HTTPS for `wasmano serve` (`--tls-cert`, `--tls-key`): the certificate
//! chain and private key read from PEM files, rustls (TLS 1.2 and 1.3,
//! ring) in front of the same router; and the roots our own clients (the
//! callbacks', the CLI's) verify servers against ([`trusted_roots`]). Handshakes run in tasks of their
//! own, each bounded by [`HANDSHAKE_TIMEOUT`], so a client that connects and
//! says nothing delays nobody; a failed handshake is logged and dropped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::ring as ring_crypto;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::server::TlsStream;
use ureq::tls::{PemItem, RootCerts};

/// How long a client has to complete its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How many completed handshakes may wait for the server to take them.
const ESTABLISHED_BUFFER: usize = 128;

/// The PEM files of the server's certificate chain and private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, the server's own certificate first.
    pub cert: PathBuf,
    /// Its private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Why the TLS files could not be used.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct TlsError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub message: String,
}

impl TlsFiles {
    /// The rustls configuration they make: read, parsed, and the key checked
    /// against the certificate.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let refuse = |path: &Path, message: String| TlsError {
            path: path.to_owned(),
            message,
        };
        let chain = CertificateDer::pem_file_iter(&self.cert)
            .and_then(Iterator::collect::<Result<Vec<_>, _>>)
            .map_err(|error| refuse(&self.cert, format!("not a PEM certificate chain: {error}")))?;
        if chain.is_empty() {
            return Err(refuse(&self.cert, "holds no PEM certificate".to_owned()));
        }
        let key = PrivateKeyDer::from_pem_file(&self.key)
            .map_err(|error| refuse(&self.key, format!("not a PEM private key: {error}")))?;
        // ring, as the callbacks' client (ureq) uses: aws-lc-rs, which has
        // the post-quantum key exchange, would add a C toolchain to the
        // build. Key exchange is X25519 and the NIST curves.
        #[allow(deprecated, reason = "ring's provider lacks post-quantum key exchange only")]
        let provider = Arc::new(ring_crypto::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| refuse(&self.cert, error.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|error| refuse(&self.key, format!("does not go with {}: {error}", self.cert.display())))?;
        Ok(Arc::new(config))
    }
}

/// The roots a client of ours (a callback's, the CLI's) verifies servers
/// against: the PEM certificates of `ca_file`, or the public web's
/// (Mozilla's, built in) without one.
pub fn trusted_roots(ca_file: Option<&Path>) -> Result<RootCerts, TlsError> {
    let Some(path) = ca_file else {
        return Ok(RootCerts::WebPki);
    };
    let refuse = |message: String| TlsError {
        path: path.to_owned(),
        message,
    };
    let pem = std::fs::read(path).map_err(|error| refuse(error.to_string()))?;
    let mut certificates = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        if let PemItem::Certificate(certificate) = item.map_err(|error| refuse(error.to_string()))? {
            certificates.push(certificate);
        }
    }
    if certificates.is_empty() {
        return Err(refuse("holds no PEM certificate".into()));
    }
    Ok(RootCerts::Specific(Arc::new(certificates)))
}

/// A listener whose connections are TLS, for `axum::serve`.
#[derive(Debug)]
pub struct TlsListener {
    established: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    accepting: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    /// Serves TLS with `config` on `tcp`'s connections. Needs a Tokio
    /// runtime.
    pub fn new(tcp: TcpListener, config: Arc<ServerConfig>) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let (sender, established) = mpsc::channel(ESTABLISHED_BUFFER);
        let acceptor = TlsAcceptor::from(config);
        let accepting = tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of descriptors, say: wait rather than spin.
                        tracing::warn!("cannot accept a connection: {error}");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                };
                let (acceptor, sender) = (acceptor.clone(), sender.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(secured)) => {
                            let _ = sender.send((secured, peer)).await;
                        }
                        Ok(Err(error)) => tracing::debug!(%peer, "TLS handshake failed: {error}"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake took longer than {HANDSHAKE_TIMEOUT:?}"),
                    }
                });
            }
        });
        Ok(Self {
            established,
            local,
            accepting,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.established.recv().await {
            Some(established) => established,
            // The accepting task holds the sender until it is aborted.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusable_files_are_refused_naming_them() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert, "not a certificate").unwrap();
        std::fs::write(&key, "not a key").unwrap();
        let files = TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        };
        let error = files.server_config().unwrap_err();
        assert_eq!(error.path, cert, "{error}");
        assert!(error.to_string().contains("no PEM certificate"), "{error}");
        let missing = TlsFiles {
            cert: dir.path().join("missing.pem"),
            key,
        };
        let error = missing.server_config().unwrap_err();
        assert!(error.to_string().contains("missing.pem"), "{error}");
    }
}
