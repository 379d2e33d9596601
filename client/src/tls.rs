//! TLS for the client's connections (a broker's SSL or SASL_SSL listener), with rustls.
//!
//! [`ClientTls`] is built once from PEM files — the CA the broker's certificate chains to
//! (librdkafka's `ssl.ca.location`, Kafka's PEM `ssl.truststore.location`) and, for mutual TLS,
//! the client's certificate and key (`ssl.certificate.location`, `ssl.key.location`) — and
//! shared by every connection of a client. [`Stream`] is a connection's byte stream, plain or
//! TLS, with the socket options `Conn` sets.
//!
//! The server name checked against the broker's certificate is the host of the address
//! connected to (an IP address is checked against the certificate's IP SANs), as Kafka's
//! `ssl.endpoint.identification.algorithm=https` does by default.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::ClientError;

/// A client's TLS settings, shared by its connections.
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientTls")
    }
}

#[expect(
    deprecated,
    reason = "the ring provider lacks only post-quantum key exchange, which brokers don't need"
)]
fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

impl ClientTls {
    /// Trust `ca` (PEM certificates); with `cert_and_key`, present that certificate (mTLS).
    pub fn new(ca: &Path, cert_and_key: Option<(&Path, &Path)>) -> Result<ClientTls, ClientError> {
        let usage = |what: &Path, e: &dyn std::fmt::Display| {
            ClientError::Usage(format!("{}: {e}", what.display()))
        };
        let mut roots = rustls::RootCertStore::empty();
        let cas = CertificateDer::pem_file_iter(ca)
            .map_err(|e| usage(ca, &e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| usage(ca, &e))?;
        if cas.is_empty() {
            return Err(usage(ca, &"no certificate (BEGIN CERTIFICATE) in it"));
        }
        for c in cas {
            roots.add(c).map_err(|e| usage(ca, &e))?;
        }
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientError::Usage(e.to_string()))?
            .with_root_certificates(roots);
        let config = match cert_and_key {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let chain = CertificateDer::pem_file_iter(cert)
                    .map_err(|e| usage(cert, &e))?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| usage(cert, &e))?;
                let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| usage(key, &e))?;
                builder
                    .with_client_auth_cert(chain, key_der)
                    .map_err(|e| usage(cert, &e))?
            }
        };
        Ok(ClientTls {
            config: Arc::new(config),
        })
    }

    /// Start TLS on `tcp`, connected to `addr` ("host:port"). The handshake completes on the
    /// first read or write (within the socket's timeouts).
    pub fn wrap(&self, addr: &str, tcp: TcpStream) -> Result<Stream, ClientError> {
        let host = match addr.rsplit_once(':') {
            Some((h, _)) => h.trim_start_matches('[').trim_end_matches(']'),
            None => addr,
        };
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| ClientError::Usage(format!("{host}: not a TLS server name: {e}")))?;
        let conn = rustls::ClientConnection::new(self.config.clone(), name)
            .map_err(|e| ClientError::Network(format!("TLS to {addr}: {e}")))?;
        Ok(Stream::Tls(Box::new(rustls::StreamOwned::new(conn, tcp))))
    }
}

/// A connection's byte stream.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock,
        }
    }

    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.tcp().set_read_timeout(t)
    }

    pub fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.tcp().set_write_timeout(t)
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}
