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

    /// Start TLS on `tcp`, connected to `addr` ("host:port"), and finish the handshake (within
    /// the socket's timeouts).
    pub fn wrap(&self, addr: &str, tcp: TcpStream) -> Result<Stream, ClientError> {
        self.connect_shared(addr, tcp)
            .map(Stream::Tls)
            .map_err(|e| ClientError::Network(format!("TLS to {addr}: {e}")))
    }

    fn session(&self, addr: &str) -> Result<rustls::ClientConnection, ClientError> {
        let host = match addr.rsplit_once(':') {
            Some((h, _)) => h.trim_start_matches('[').trim_end_matches(']'),
            None => addr,
        };
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| ClientError::Usage(format!("{host}: not a TLS server name: {e}")))?;
        rustls::ClientConnection::new(self.config.clone(), name)
            .map_err(|e| ClientError::Network(format!("TLS to {addr}: {e}")))
    }
}

/// A connection's byte stream, plain or TLS. Either can be split into a writer handle and a
/// reader handle ([`Stream::try_clone`]), as a pipelining client does (sluice-bench's producer).
pub enum Stream {
    Plain(TcpStream),
    Tls(SharedTls),
}

impl Stream {
    /// Another handle on the same connection (one thread writes, one reads).
    pub fn try_clone(&self) -> io::Result<Stream> {
        Ok(match self {
            Stream::Plain(s) => Stream::Plain(s.try_clone()?),
            Stream::Tls(s) => Stream::Tls(s.try_clone()?),
        })
    }

    /// The socket under it (for timeouts and shutdown).
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.tcp(),
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

/// A TLS stream that can be split into handles for a writer thread and a reader thread, as a
/// pipelining client does with `TcpStream::try_clone` (sluice-bench's producer). The rustls
/// state is shared behind a mutex held only to encrypt or decrypt, never across socket I/O:
/// a writer blocked on a full socket can't stop the reader from draining responses.
///
/// The handshake completes in [`ClientTls::connect_shared`], before any clone exists.
pub struct SharedTls {
    tcp: TcpStream,
    conn: Arc<std::sync::Mutex<rustls::ClientConnection>>,
    /// Ciphertext read but not yet taken by rustls: `rbuf[start..]`.
    rbuf: Vec<u8>,
    start: usize,
    /// Ciphertext to write.
    wbuf: Vec<u8>,
}

/// Ciphertext read from the socket at once by a [`SharedTls`] reader.
const SHARED_READ_BYTES: usize = 64 * 1024;

impl ClientTls {
    /// Start TLS on `tcp` to `addr` and finish the handshake (within the socket's timeouts).
    pub fn connect_shared(&self, addr: &str, mut tcp: TcpStream) -> io::Result<SharedTls> {
        let mut conn = self
            .session(addr)
            .map_err(|e| io::Error::other(e.to_string()))?;
        while conn.is_handshaking() {
            conn.complete_io(&mut tcp)?;
        }
        Ok(SharedTls {
            tcp,
            conn: Arc::new(std::sync::Mutex::new(conn)),
            rbuf: Vec::new(),
            start: 0,
            wbuf: Vec::new(),
        })
    }
}

impl SharedTls {
    /// Another handle on the same connection (one thread writes, one reads).
    pub fn try_clone(&self) -> io::Result<SharedTls> {
        Ok(SharedTls {
            tcp: self.tcp.try_clone()?,
            conn: self.conn.clone(),
            rbuf: Vec::new(),
            start: 0,
            wbuf: Vec::new(),
        })
    }

    pub fn tcp(&self) -> &TcpStream {
        &self.tcp
    }
}

impl Read for SharedTls {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            {
                let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
                match conn.reader().read(out) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
                if self.start < self.rbuf.len() {
                    let mut rest = &self.rbuf[self.start..];
                    let before = rest.len();
                    conn.read_tls(&mut rest)?;
                    self.start += before - rest.len();
                    conn.process_new_packets()
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                    continue;
                }
            }
            self.rbuf.resize(SHARED_READ_BYTES, 0);
            let n = self.tcp.read(&mut self.rbuf)?;
            self.rbuf.truncate(n);
            self.start = 0;
            if n == 0 {
                return Ok(0);
            }
        }
    }
}

impl Write for SharedTls {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.wbuf.clear();
        let n = {
            let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
            let n = conn.writer().write(data)?;
            while conn.wants_write() {
                conn.write_tls(&mut self.wbuf)?;
            }
            n
        };
        self.tcp.write_all(&self.wbuf)?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
