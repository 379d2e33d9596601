//! TLS for the SSL and SASL_SSL listeners, with rustls (no OpenSSL).
//!
//! - [`TlsArgs`]: Kafka's `ssl.*` broker settings as flags (`--ssl-certificate`, `--ssl-key`,
//!   `--ssl-client-ca`, `--ssl-client-auth`, `--ssl-enabled-protocols`).
//! - [`TlsServer`]: the rustls `ServerConfig` every shard accepts with, built once on the main
//!   thread and shared by `Arc` (it is `Send + Sync`). Its certificate comes from a
//!   [`ReloadingCert`], a `ResolvesServerCert` that answers each handshake with the certificate
//!   loaded last: a new connection reads it once, at its handshake, and keeps it; a reload
//!   swaps it for later connections only.
//! - Reload: a plain thread (`sluice-tls-reload`, never a shard) reloads on SIGHUP and when the
//!   certificate or key file's mtime or size changes (polled every
//!   `TLS_RELOAD_POLL_INTERVAL_MS`). A file that does not load (unreadable, not PEM, key not
//!   matching the certificate) keeps the old certificate and logs why.
//! - [`stream`]: the handshake and the encrypted read and write paths of one connection;
//!   [`principal`]: a client certificate's subject as Kafka names it.
//!
//! kTLS (handing rustls' keys to the kernel so `sendmsg` of stored batches stays uncopied) needs
//! the kernel's `tls` ULP; where it is missing (`/proc/sys/net/ipv4/tcp_available_ulp` without
//! `tls`) encryption is in user space, which is what this module does (BENCHMARKS.md).

pub mod principal;
pub mod stream;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, bail, Context};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;

use crate::limits::{TLS_PEM_FILE_BYTES_MAX, TLS_RELOAD_POLL_INTERVAL_MS};

/// Kafka's `ssl.client.auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClientAuth {
    /// No client certificate is asked for.
    None,
    /// A client certificate is asked for; a client without one connects as ANONYMOUS (on SSL).
    Requested,
    /// A client certificate signed by `--ssl-client-ca` is required; others fail the handshake.
    Required,
}

/// The TLS flags of `sluice serve` (Kafka's `ssl.*` broker configs).
#[derive(Debug, Clone, clap::Args)]
pub struct TlsArgs {
    /// The broker's certificate (PEM; the chain may follow it in the same file): Kafka's
    /// ssl.keystore. Needed by SSL and SASL_SSL listeners. Reloaded on SIGHUP and when the file
    /// changes; connections keep the certificate they started with.
    #[arg(long, value_name = "FILE")]
    pub ssl_certificate: Option<PathBuf>,
    /// The private key of --ssl-certificate (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE")]
    pub ssl_key: Option<PathBuf>,
    /// CA certificates (PEM) that client certificates must chain to, for mutual TLS: Kafka's
    /// ssl.truststore.
    #[arg(long, value_name = "FILE")]
    pub ssl_client_ca: Option<PathBuf>,
    /// Kafka's ssl.client.auth: whether TLS clients must present a certificate. With one, the
    /// connection's principal is its subject ("User:CN=...,O=..."); without, User:ANONYMOUS on
    /// SSL listeners.
    #[arg(long, value_enum, default_value = "none")]
    pub ssl_client_auth: ClientAuth,
    /// Kafka's ssl.enabled.protocols: TLSv1.2 and/or TLSv1.3, comma-separated.
    #[arg(long, default_value = "TLSv1.2,TLSv1.3", value_name = "LIST")]
    pub ssl_enabled_protocols: String,
}

impl TlsArgs {
    /// Whether any TLS flag was given (a TLS flag without a TLS listener is an error).
    pub fn any_set(&self) -> bool {
        self.ssl_certificate.is_some() || self.ssl_key.is_some() || self.ssl_client_ca.is_some()
    }
}

/// The server side of TLS, shared by every shard (`Arc`; read at each handshake).
pub struct TlsServer {
    pub config: Arc<rustls::ServerConfig>,
    cert: Arc<ReloadingCert>,
    pub client_auth: ClientAuth,
}

impl fmt::Debug for TlsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsServer")
            .field("client_auth", &self.client_auth)
            .finish_non_exhaustive()
    }
}

impl TlsServer {
    /// Load the certificate, key and client CA and build the configuration. Every problem is
    /// an error naming the file and what is wrong with it.
    pub fn new(args: &TlsArgs) -> anyhow::Result<Arc<TlsServer>> {
        let (Some(cert_path), Some(key_path)) = (&args.ssl_certificate, &args.ssl_key) else {
            bail!("an SSL or SASL_SSL listener needs --ssl-certificate and --ssl-key");
        };
        let versions = parse_protocols(&args.ssl_enabled_protocols)?;
        let provider = Arc::new(provider());
        let cert = Arc::new(ReloadingCert::load(cert_path, key_path, &provider)?);
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .context("--ssl-enabled-protocols")?;
        let builder = match (args.ssl_client_auth, &args.ssl_client_ca) {
            (ClientAuth::None, _) => builder.with_no_client_auth(),
            (_, None) => bail!(
                "--ssl-client-auth {:?} needs --ssl-client-ca (the CA client certificates chain to)",
                args.ssl_client_auth
            ),
            (auth, Some(ca)) => {
                let mut roots = rustls::RootCertStore::empty();
                for c in read_certs(ca)? {
                    roots
                        .add(c)
                        .with_context(|| format!("--ssl-client-ca {}", ca.display()))?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
                let verifier = if auth == ClientAuth::Requested {
                    verifier.allow_unauthenticated()
                } else {
                    verifier
                };
                builder.with_client_cert_verifier(
                    verifier
                        .build()
                        .with_context(|| format!("--ssl-client-ca {}", ca.display()))?,
                )
            }
        };
        let mut config = builder.with_cert_resolver(cert.clone());
        config.ignore_client_order = true;
        Ok(Arc::new(TlsServer {
            config: Arc::new(config),
            cert,
            client_auth: args.ssl_client_auth,
        }))
    }

    /// Reload the certificate and key if their files changed (or `force`). Ok(true) if a new
    /// certificate is in use; Err (and the old one kept) if the files do not load.
    pub fn reload(&self, force: bool) -> anyhow::Result<bool> {
        self.cert.reload(force)
    }

    /// Start the thread that reloads on SIGHUP and on file changes. It runs until the process
    /// ends (it holds nothing a shutdown must release).
    pub fn spawn_reloader(self: &Arc<Self>) -> anyhow::Result<()> {
        let mut hup = signal_hook::iterator::Signals::new([signal_hook::consts::SIGHUP])
            .context("installing the SIGHUP handler")?;
        let server = self.clone();
        std::thread::Builder::new()
            .name("sluice-tls-reload".into())
            .spawn(move || loop {
                std::thread::sleep(Duration::from_millis(TLS_RELOAD_POLL_INTERVAL_MS));
                let hupped = hup.pending().count() > 0;
                match server.reload(hupped) {
                    Ok(true) => tracing::info!(
                        cause = if hupped { "SIGHUP" } else { "file changed" },
                        "reloaded the TLS certificate; new connections use it"
                    ),
                    Ok(false) => {}
                    Err(e) => tracing::error!(
                        "TLS certificate not reloaded, the previous one stays in use: {e:#}"
                    ),
                }
            })
            .context("starting the TLS reload thread")?;
        Ok(())
    }

    /// The certificate new connections get (for tests and the status of a reload).
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.cert.current()
    }
}

/// rustls' ring provider: it builds without cmake or a C++ toolchain, and Kafka clients
/// (librdkafka, kafkajs, Java) do not offer post-quantum key exchange, aws-lc-rs' advantage.
#[expect(
    deprecated,
    reason = "the ring provider lacks only post-quantum key exchange, which Kafka clients don't use"
)]
fn provider() -> rustls::crypto::CryptoProvider {
    let mut p = rustls::crypto::ring::default_provider();
    // AES-128-GCM first (TLS 1.3's mandatory suite; fewer rounds than AES-256 for the same
    // security margin Kafka deployments accept), and the server's order wins (below).
    p.cipher_suites
        .sort_by_key(|s| !format!("{:?}", s.suite()).contains("AES_128_GCM"));
    p
}

/// `--ssl-enabled-protocols` → rustls versions (Kafka's names, case as Kafka writes them).
fn parse_protocols(list: &str) -> anyhow::Result<Vec<&'static rustls::SupportedProtocolVersion>> {
    let mut versions = Vec::new();
    for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let v = match name {
            "TLSv1.2" => &rustls::version::TLS12,
            "TLSv1.3" => &rustls::version::TLS13,
            other => bail!(
                "--ssl-enabled-protocols: {other:?} is not supported (TLSv1.2 and TLSv1.3 are)"
            ),
        };
        if !versions.contains(&v) {
            versions.push(v);
        }
    }
    if versions.is_empty() {
        bail!("--ssl-enabled-protocols names no protocol");
    }
    Ok(versions)
}

/// A file's identity for change detection: modification time and length.
type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// The broker's certificate, swapped on reload. Lives in the `TlsServer`, shared by every shard
/// and the reload thread; `resolve` (a handshake, on a shard) takes the read lock for one `Arc`
/// clone.
#[derive(Debug)]
pub struct ReloadingCert {
    cert_path: PathBuf,
    key_path: PathBuf,
    provider: Arc<rustls::crypto::CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
    /// The stamps of the files the current certificate was loaded from (reload thread only).
    stamps: std::sync::Mutex<(Stamp, Stamp)>,
}

impl ReloadingCert {
    fn load(
        cert_path: &Path,
        key_path: &Path,
        provider: &Arc<rustls::crypto::CryptoProvider>,
    ) -> anyhow::Result<ReloadingCert> {
        let stamps = (stamp(cert_path), stamp(key_path));
        let key = load_certified_key(cert_path, key_path, provider)?;
        Ok(ReloadingCert {
            cert_path: cert_path.to_path_buf(),
            key_path: key_path.to_path_buf(),
            provider: provider.clone(),
            current: RwLock::new(Arc::new(key)),
            stamps: std::sync::Mutex::new(stamps),
        })
    }

    fn current(&self) -> Arc<CertifiedKey> {
        // A poisoned lock still holds a whole Arc (the writer only swaps it).
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn reload(&self, force: bool) -> anyhow::Result<bool> {
        let now = (stamp(&self.cert_path), stamp(&self.key_path));
        let mut stamps = self.stamps.lock().unwrap_or_else(|e| e.into_inner());
        if !force && *stamps == now {
            return Ok(false);
        }
        // Remember the stamps even if the load fails: a bad file is reported once, not every
        // poll; fixing it (a new mtime) or SIGHUP tries again.
        *stamps = now;
        let key = load_certified_key(&self.cert_path, &self.key_path, &self.provider)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(key);
        Ok(true)
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// Read a PEM file of certificates (at most `TLS_PEM_FILE_BYTES_MAX`).
fn read_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let pem = read_pem(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow!("{}: not a PEM certificate file: {e}", path.display()))?;
    if certs.is_empty() {
        bail!(
            "{}: no certificate (BEGIN CERTIFICATE) in it",
            path.display()
        );
    }
    Ok(certs)
}

fn read_pem(path: &Path) -> anyhow::Result<Vec<u8>> {
    let len = std::fs::metadata(path)
        .with_context(|| format!("{}", path.display()))?
        .len();
    if len > TLS_PEM_FILE_BYTES_MAX {
        bail!(
            "{}: {len} bytes, more than a PEM file may have (TLS_PEM_FILE_BYTES_MAX {TLS_PEM_FILE_BYTES_MAX})",
            path.display()
        );
    }
    std::fs::read(path).with_context(|| format!("{}", path.display()))
}

/// The certificate chain and its key, checked to belong together.
fn load_certified_key(
    cert_path: &Path,
    key_path: &Path,
    provider: &rustls::crypto::CryptoProvider,
) -> anyhow::Result<CertifiedKey> {
    let chain = read_certs(cert_path)?;
    let pem = read_pem(key_path)?;
    let key = PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|e| anyhow!("{}: no PEM private key in it: {e}", key_path.display()))?;
    let signing = provider
        .key_provider
        .load_private_key(key)
        .with_context(|| format!("{}: unusable private key", key_path.display()))?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().with_context(|| {
        format!(
            "{} does not belong to the certificate in {}",
            key_path.display(),
            cert_path.display()
        )
    })?;
    Ok(certified)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path, cn: &str) -> (PathBuf, PathBuf) {
        let cert = rcgen::generate_simple_self_signed(vec![cn.to_string()]).expect("rcgen");
        let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&c, cert.cert.pem()).expect("write cert");
        std::fs::write(&k, cert.key_pair.serialize_pem()).expect("write key");
        (c, k)
    }

    fn args(c: &Path, k: &Path) -> TlsArgs {
        TlsArgs {
            ssl_certificate: Some(c.into()),
            ssl_key: Some(k.into()),
            ssl_client_ca: None,
            ssl_client_auth: ClientAuth::None,
            ssl_enabled_protocols: "TLSv1.2,TLSv1.3".into(),
        }
    }

    #[test]
    fn a_bad_new_file_keeps_the_old_certificate_and_a_good_one_replaces_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (c, k) = write_pair(dir.path(), "one.test");
        let server = TlsServer::new(&args(&c, &k)).expect("loads");
        let first = server.current();
        assert!(
            !server.reload(false).expect("unchanged"),
            "no change, no reload"
        );
        std::fs::write(&c, "not pem").expect("write");
        assert!(server.reload(true).is_err(), "garbage is refused");
        assert!(Arc::ptr_eq(&first, &server.current()), "old cert kept");
        let (c2, _) = write_pair(dir.path(), "two.test");
        assert_eq!(c, c2);
        assert!(server.reload(true).expect("reloads"));
        assert!(!Arc::ptr_eq(&first, &server.current()), "new cert in use");
    }

    #[test]
    fn a_key_of_another_certificate_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (c, _) = write_pair(dir.path(), "one.test");
        let other = rcgen::KeyPair::generate().expect("key");
        let k = dir.path().join("other.pem");
        std::fs::write(&k, other.serialize_pem()).expect("write");
        let err = TlsServer::new(&args(&c, &k)).expect_err("mismatch");
        assert!(format!("{err:#}").contains("does not belong"), "{err:#}");
    }

    #[test]
    fn a_pem_file_over_the_limit_is_refused_before_it_is_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (c, k) = write_pair(dir.path(), "one.test");
        let mut pem = std::fs::read(&c).expect("read");
        pem.resize(TLS_PEM_FILE_BYTES_MAX as usize + 1, b'\n');
        std::fs::write(&c, pem).expect("write");
        let err = TlsServer::new(&args(&c, &k)).expect_err("too large");
        assert!(
            format!("{err:#}").contains("TLS_PEM_FILE_BYTES_MAX"),
            "{err:#}"
        );
    }

    #[test]
    fn protocols_are_kafkas_names() {
        assert_eq!(parse_protocols("TLSv1.2,TLSv1.3").expect("ok").len(), 2);
        assert_eq!(parse_protocols("TLSv1.3").expect("ok").len(), 1);
        assert!(parse_protocols("TLSv1.1").is_err());
        assert!(parse_protocols("").is_err());
    }

    #[test]
    fn client_auth_without_a_ca_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (c, k) = write_pair(dir.path(), "one.test");
        let mut a = args(&c, &k);
        a.ssl_client_auth = ClientAuth::Required;
        assert!(TlsServer::new(&a).is_err());
    }
}
