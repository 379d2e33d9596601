//! One blocking connection to one broker: correlation ids, ApiVersions negotiation, calls.
//! Framing is [`crate::frame`]'s; every response frame's length is checked against
//! `CLIENT_RESPONSE_BYTES_MAX` before a byte of it is buffered.

use std::collections::HashMap;
use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};

use crate::sasl::SaslConfig;
use crate::tls::{ClientTls, Stream};
use std::time::{Duration, Instant};

use kafka_protocol::messages::{ApiKey, ApiVersionsRequest};
use kafka_protocol::protocol::{Request, StrBytes};

use super::ClientError;
use crate::frame;
use crate::limits::CLIENT_RESPONSE_BYTES_MAX;

/// The client id the CLI sends (shows up in broker logs and group descriptions).
pub const CLIENT_ID: &str = "sluice-cli";

/// A connection and the version ranges its broker serves.
pub struct Conn {
    stream: Stream,
    pub addr: String,
    next_correlation_id: i32,
    /// api key → (min, max) served by the broker.
    versions: HashMap<i16, (i16, i16)>,
    /// The timeout set at connect; calls that change it put it back.
    timeout: Duration,
    /// The socket timeout in force now (reported when it expires).
    current_timeout: Duration,
    /// The client id of every request (shows in the broker's logs).
    client_id: &'static str,
    /// When to open a fresh, re-authenticated connection instead of this one: 85% into the
    /// SASL session the broker granted (KIP-368), as Kafka's clients re-authenticate between
    /// 85% and 95% of it. None: the session does not end.
    pub reauthenticate_at: Option<Instant>,
}

impl Conn {
    /// Connect to `addr` ("host:port") and learn which versions it serves.
    pub fn connect(addr: &str, timeout: Duration) -> Result<Conn, ClientError> {
        Conn::connect_with(addr, timeout, CLIENT_ID, None)
    }

    /// [`Conn::connect`], sending `client_id` in every request header.
    pub fn connect_as(
        addr: &str,
        timeout: Duration,
        client_id: &'static str,
    ) -> Result<Conn, ClientError> {
        Conn::connect_with(addr, timeout, client_id, None)
    }

    /// [`Conn::connect_as`], over TLS when `tls` is given (an SSL or SASL_SSL listener).
    pub fn connect_with(
        addr: &str,
        timeout: Duration,
        client_id: &'static str,
        tls: Option<&ClientTls>,
    ) -> Result<Conn, ClientError> {
        Conn::connect_secured(addr, timeout, client_id, tls, None)
    }

    /// [`Conn::connect_with`], then SASL authentication when `sasl` is given (a SASL_PLAINTEXT
    /// or SASL_SSL listener): ApiVersions, SaslHandshake, SaslAuthenticate, before anything else.
    pub fn connect_secured(
        addr: &str,
        timeout: Duration,
        client_id: &'static str,
        tls: Option<&ClientTls>,
        sasl: Option<&SaslConfig>,
    ) -> Result<Conn, ClientError> {
        let addrs: Vec<_> = addr
            .to_socket_addrs()
            .map_err(|e| ClientError::Network(format!("resolving {addr}: {e}")))?
            .collect();
        let mut last = format!("{addr} resolves to no address");
        for a in addrs {
            match TcpStream::connect_timeout(&a, timeout) {
                Ok(stream) => {
                    stream.set_nodelay(true)?;
                    // The TLS handshake runs within the call timeouts.
                    stream.set_read_timeout(Some(timeout))?;
                    stream.set_write_timeout(Some(timeout))?;
                    let stream = match tls {
                        Some(tls) => tls.wrap(addr, stream)?,
                        None => Stream::Plain(stream),
                    };
                    let mut conn = Conn {
                        stream,
                        addr: addr.to_string(),
                        next_correlation_id: 1,
                        versions: HashMap::new(),
                        timeout,
                        current_timeout: timeout,
                        client_id,
                        reauthenticate_at: None,
                    };
                    conn.set_timeout(timeout)?;
                    conn.negotiate()?;
                    if let Some(sasl) = sasl {
                        let started = Instant::now();
                        let lifetime_ms = sasl.authenticate(&mut conn)?;
                        conn.reauthenticate_at = u64::try_from(lifetime_ms)
                            .ok()
                            .filter(|ms| *ms > 0)
                            .map(|ms| started + Duration::from_millis(ms / 100 * 85));
                    }
                    return Ok(conn);
                }
                Err(e) => last = format!("connecting to {addr}: {e}"),
            }
        }
        Err(ClientError::Network(last))
    }

    /// Read and write timeout for the next calls (a long-polling fetch needs a longer one).
    pub fn set_timeout(&mut self, timeout: Duration) -> Result<(), ClientError> {
        self.stream.set_read_timeout(Some(timeout))?;
        self.stream.set_write_timeout(Some(timeout))?;
        self.current_timeout = timeout;
        Ok(())
    }

    /// Whether the broker's SASL session on this connection is (nearly) over: the client
    /// should connect again (re-authenticating) rather than send on it.
    pub fn session_expiring(&self) -> bool {
        self.reauthenticate_at.is_some_and(|t| Instant::now() >= t)
    }

    pub fn default_timeout(&self) -> Duration {
        self.timeout
    }

    fn negotiate(&mut self) -> Result<(), ClientError> {
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("sluice"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        // v3 first; a broker that doesn't know it answers v0 with UNSUPPORTED_VERSION and its
        // ranges, which we then take as they are.
        let response = self.call_at(&request, 3)?;
        let response = if response.error_code
            == kafka_protocol::error::ResponseError::UnsupportedVersion.code()
        {
            self.call_at(&ApiVersionsRequest::default(), 0)?
        } else {
            response
        };
        ClientError::check(
            response.error_code,
            None,
            format!("ApiVersions from {}", self.addr),
        )?;
        self.versions = response
            .api_keys
            .iter()
            .map(|k| (k.api_key, (k.min_version, k.max_version)))
            .collect();
        Ok(())
    }

    /// Whether the broker serves any version of `R` that this client can speak up to `max`.
    pub fn serves<R: Request>(&self, max: i16) -> bool {
        self.version::<R>(max).is_ok()
    }

    /// The version to send `R` at: the highest both sides speak, capped at `max` (the newest
    /// version the calling code fills in correctly).
    pub fn version<R: Request>(&self, max: i16) -> Result<i16, ClientError> {
        let name = ApiKey::try_from(R::KEY)
            .map(|k| format!("{k:?}"))
            .unwrap_or_else(|_| R::KEY.to_string());
        let Some(&(broker_min, broker_max)) = self.versions.get(&R::KEY) else {
            return Err(ClientError::kafka(
                kafka_protocol::error::ResponseError::UnsupportedVersion.code(),
                Some(&format!(
                    "the broker at {} does not serve {name}",
                    self.addr
                )),
                name,
            ));
        };
        let lo = broker_min.max(R::VERSIONS.min);
        let hi = broker_max.min(R::VERSIONS.max).min(max);
        if lo > hi {
            return Err(ClientError::kafka(
                kafka_protocol::error::ResponseError::UnsupportedVersion.code(),
                Some(&format!(
                    "the broker at {} serves {name} v{broker_min}-{broker_max}, this client speaks v{}-{}",
                    self.addr,
                    R::VERSIONS.min,
                    max.min(R::VERSIONS.max)
                )),
                name,
            ));
        }
        Ok(hi)
    }

    /// Send `request` at the negotiated version (capped at `max`) and read its response.
    pub fn call<R: Request>(
        &mut self,
        request: &R,
        max: i16,
    ) -> Result<(i16, R::Response), ClientError> {
        let version = self.version::<R>(max)?;
        Ok((version, self.call_at(request, version)?))
    }

    /// Send `request` at exactly `version` and read its response.
    pub fn call_at<R: Request>(
        &mut self,
        request: &R,
        version: i16,
    ) -> Result<R::Response, ClientError> {
        let id = self.send_at(request, version)?;
        self.recv::<R>(id, version)
    }

    /// Send without waiting (Produce with acks=0 gets no response). Returns the correlation id.
    pub fn send_at<R: Request>(&mut self, request: &R, version: i16) -> Result<i32, ClientError> {
        let correlation_id = self.next_correlation_id();
        let buf = frame::encode_request(correlation_id, self.client_id, request, version)
            .map_err(|e| self.frame_error(e))?;
        self.write_frame(&buf)?;
        Ok(correlation_id)
    }

    /// The correlation id for the next request; a caller that frames its own requests (see
    /// [`crate::produce_frame`]) takes it here so ids stay unique on the connection.
    pub fn next_correlation_id(&mut self) -> i32 {
        let id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        id
    }

    pub fn client_id(&self) -> &'static str {
        self.client_id
    }

    /// Write one whole request frame, framed by the caller.
    pub fn write_frame(&mut self, frame: &[u8]) -> Result<(), ClientError> {
        self.stream.write_all(frame).map_err(|e| self.io_error(e))
    }

    /// A second handle on the same socket, for pipelining: one thread writes requests, the
    /// other reads their responses in order with [`Conn::recv`] (the writer hands it each
    /// correlation id). Only the writer may send.
    pub fn try_clone(&self) -> Result<Conn, ClientError> {
        Ok(Conn {
            stream: self.stream.try_clone().map_err(|e| self.io_error(e))?,
            addr: self.addr.clone(),
            next_correlation_id: self.next_correlation_id,
            versions: self.versions.clone(),
            timeout: self.timeout,
            current_timeout: self.current_timeout,
            client_id: self.client_id,
            reauthenticate_at: self.reauthenticate_at,
        })
    }

    /// Read the response to `correlation_id` (a broker answers in request order).
    pub fn recv<R: Request>(
        &mut self,
        correlation_id: i32,
        version: i16,
    ) -> Result<R::Response, ClientError> {
        let bytes = frame::read_frame(&mut self.stream, CLIENT_RESPONSE_BYTES_MAX)
            .map_err(|e| self.frame_error(e))?;
        frame::decode_response::<R>(bytes, correlation_id, version).map_err(|e| self.frame_error(e))
    }

    fn frame_error(&self, e: frame::FrameError) -> ClientError {
        match e {
            frame::FrameError::Io(e) => self.io_error(e),
            other => self.protocol(other.to_string()),
        }
    }

    fn io_error(&self, e: std::io::Error) -> ClientError {
        match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                ClientError::Network(format!(
                    "{}: no response within {:?}",
                    self.addr, self.current_timeout
                ))
            }
            std::io::ErrorKind::UnexpectedEof => {
                ClientError::Network(format!("{} closed the connection", self.addr))
            }
            _ => ClientError::Network(format!("{}: {e}", self.addr)),
        }
    }

    fn protocol(&self, m: String) -> ClientError {
        ClientError::Protocol(format!("{}: {m}", self.addr))
    }
}
