//! SASL for the client's connections (a broker's SASL_PLAINTEXT or SASL_SSL listener), as
//! Kafka's clients do it: SaslHandshake v1 names the mechanism, then the tokens travel in
//! SaslAuthenticate requests (v2 when the broker serves it), right after ApiVersions and before
//! any other request. Mechanisms: PLAIN (RFC 4616) and SCRAM-SHA-256 / SCRAM-SHA-512 (the client
//! side of RFC 5802 / 7677: a random nonce, the salted password, the client proof, and the
//! server's signature checked, so a broker that does not know the password can't pass as one
//! that does).
//!
//! The primitives are RustCrypto's (sha2, hmac, pbkdf2), in [`ScramAlgorithm`], which the
//! broker's credentials use too; nothing here is hand-written crypto.
//!
//! A [`SaslConfig`] is built once and shared by every connection of a client; authentication
//! runs on the thread that opens the connection.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{SaslAuthenticateRequest, SaslHandshakeRequest};
use kafka_protocol::protocol::StrBytes;
use sha2::{Digest, Sha256, Sha512};

use crate::conn::Conn;
use crate::limits::{CLIENT_SCRAM_ITERATIONS_MAX, CLIENT_SCRAM_ITERATIONS_MIN};
use crate::ClientError;

/// Newest SaslAuthenticate version this client fills in (v1 adds the session lifetime, v2 is
/// flexible).
const SASL_AUTHENTICATE_VERSION_MAX: i16 = 2;
/// Characters of the client's SCRAM nonce (alphanumeric: ~190 bits).
const CLIENT_NONCE_CHARS: usize = 32;

/// The hash of a SCRAM mechanism and the RFC 5802 functions over it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ScramAlgorithm {
    Sha256,
    Sha512,
}

impl ScramAlgorithm {
    /// H(): the hash.
    pub fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramAlgorithm::Sha256 => Sha256::digest(data).to_vec(),
            ScramAlgorithm::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// HMAC() with this hash.
    pub fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        fn mac<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
            let mut m = <M as hmac::digest::KeyInit>::new_from_slice(key)
                .expect("HMAC takes keys of any length");
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }
        match self {
            ScramAlgorithm::Sha256 => mac::<Hmac<Sha256>>(key, data),
            ScramAlgorithm::Sha512 => mac::<Hmac<Sha512>>(key, data),
        }
    }

    /// Hi(): PBKDF2 with this hash's HMAC, the output as long as the hash (SaltedPassword).
    pub fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            ScramAlgorithm::Sha256 => {
                pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(password, salt, iterations).to_vec()
            }
            ScramAlgorithm::Sha512 => {
                pbkdf2::pbkdf2_hmac_array::<Sha512, 64>(password, salt, iterations).to_vec()
            }
        }
    }
}

/// A SASL mechanism the client speaks (Kafka's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslMechanism {
    Plain,
    ScramSha256,
    ScramSha512,
}

impl SaslMechanism {
    pub const ALL: [SaslMechanism; 3] = [
        SaslMechanism::Plain,
        SaslMechanism::ScramSha256,
        SaslMechanism::ScramSha512,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }

    /// Kafka's name, any case.
    pub fn from_name(s: &str) -> Option<SaslMechanism> {
        Self::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(s.trim()))
    }

    fn scram(self) -> Option<ScramAlgorithm> {
        match self {
            SaslMechanism::Plain => None,
            SaslMechanism::ScramSha256 => Some(ScramAlgorithm::Sha256),
            SaslMechanism::ScramSha512 => Some(ScramAlgorithm::Sha512),
        }
    }
}

/// A client's SASL settings: mechanism, user name and password. The password never appears
/// in `Debug` output or in an error.
#[derive(Clone)]
pub struct SaslConfig {
    pub mechanism: SaslMechanism,
    pub username: String,
    password: String,
}

impl std::fmt::Debug for SaslConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslConfig")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl SaslConfig {
    pub fn new(
        mechanism: SaslMechanism,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Result<SaslConfig, ClientError> {
        let username = username.into();
        let password = password.into();
        if username.is_empty() {
            return Err(ClientError::Usage("SASL needs a user name".into()));
        }
        if password.is_empty() {
            return Err(ClientError::Usage(
                "SASL needs a password (it is empty)".into(),
            ));
        }
        if mechanism == SaslMechanism::Plain && (username.contains('\0') || password.contains('\0'))
        {
            return Err(ClientError::Usage(
                "a PLAIN user name or password cannot contain a NUL character".into(),
            ));
        }
        Ok(SaslConfig {
            mechanism,
            username,
            password,
        })
    }

    /// Authenticate `conn` (just connected, ApiVersions done). Returns the session lifetime the
    /// broker gave (KIP-368; 0: no limit).
    pub fn authenticate(&self, conn: &mut Conn) -> Result<i64, ClientError> {
        let what = format!(
            "authenticating as {:?} with {} to {}",
            self.username,
            self.mechanism.name(),
            conn.addr
        );
        // SaslHandshake v1: the tokens then come in SaslAuthenticate requests. (v0 means raw
        // tokens, only for clients older than Kafka 1.0.)
        if !conn.serves::<SaslHandshakeRequest>(1) || conn.version::<SaslHandshakeRequest>(1)? < 1 {
            return Err(ClientError::Protocol(format!(
                "{}: the broker does not serve SaslHandshake v1 (is this a Kafka broker?)",
                conn.addr
            )));
        }
        let handshake = SaslHandshakeRequest::default()
            .with_mechanism(StrBytes::from_static_str(self.mechanism.name()));
        let response = conn.call_at(&handshake, 1)?;
        if response.error_code != 0 {
            let enabled: Vec<&str> = response.mechanisms.iter().map(|m| m.as_str()).collect();
            let hint = if response.error_code == ResponseError::IllegalSaslState.code() {
                "the listener does not take SASL: is it a SASL_PLAINTEXT or SASL_SSL listener?"
                    .to_string()
            } else if response.error_code == ResponseError::UnsupportedSaslMechanism.code() {
                format!(
                    "the broker does not enable {}; it enables {}",
                    self.mechanism.name(),
                    if enabled.is_empty() {
                        "none".to_string()
                    } else {
                        enabled.join(", ")
                    }
                )
            } else {
                String::new()
            };
            return Err(ClientError::kafka(
                response.error_code,
                Some(&hint),
                format!("SASL handshake with {}", conn.addr),
            ));
        }
        let version = conn.version::<SaslAuthenticateRequest>(SASL_AUTHENTICATE_VERSION_MAX)?;
        let mut exchange = |token: Vec<u8>| -> Result<(Bytes, i64), ClientError> {
            let request = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token));
            let r = conn.call_at(&request, version)?;
            if r.error_code != 0 {
                return Err(ClientError::kafka(
                    r.error_code,
                    r.error_message.as_deref(),
                    what.clone(),
                ));
            }
            Ok((r.auth_bytes, r.session_lifetime_ms))
        };
        match self.mechanism.scram() {
            None => {
                let mut token = Vec::with_capacity(self.username.len() + self.password.len() + 2);
                token.push(0);
                token.extend_from_slice(self.username.as_bytes());
                token.push(0);
                token.extend_from_slice(self.password.as_bytes());
                Ok(exchange(token)?.1)
            }
            Some(algorithm) => {
                let client = ScramClient::new(algorithm, &self.username, &self.password);
                let (server_first, _) = exchange(client.client_first().into_bytes())?;
                let (client_final, fin) = client
                    .client_final(&server_first)
                    .map_err(|e| ClientError::Protocol(format!("{what}: {e}")))?;
                let (server_final, lifetime_ms) = exchange(client_final.into_bytes())?;
                fin.verify(&server_final)
                    .map_err(|e| ClientError::Protocol(format!("{what}: {e}")))?;
                Ok(lifetime_ms)
            }
        }
    }
}

/// The client side of one SCRAM exchange (RFC 5802 section 3), without I/O.
struct ScramClient {
    algorithm: ScramAlgorithm,
    client_first_bare: String,
    nonce: String,
    password: Vec<u8>,
}

/// What is left to check once client-final is sent: the server's signature.
struct ScramFinal {
    algorithm: ScramAlgorithm,
    server_key: Vec<u8>,
    auth_message: String,
}

impl ScramClient {
    fn new(algorithm: ScramAlgorithm, username: &str, password: &str) -> ScramClient {
        let nonce: String =
            rand::Rng::sample_iter(rand::thread_rng(), &rand::distributions::Alphanumeric)
                .take(CLIENT_NONCE_CHARS)
                .map(char::from)
                .collect();
        Self::with_nonce(algorithm, username, password, nonce)
    }

    fn with_nonce(
        algorithm: ScramAlgorithm,
        username: &str,
        password: &str,
        nonce: String,
    ) -> ScramClient {
        ScramClient {
            algorithm,
            client_first_bare: format!("n={},r={nonce}", saslname(username)),
            nonce,
            password: password.as_bytes().to_vec(),
        }
    }

    /// client-first: no channel binding, no authorization id.
    fn client_first(&self) -> String {
        format!("n,,{}", self.client_first_bare)
    }

    /// client-final for `server_first`, and what checks server-final.
    fn client_final(&self, server_first: &[u8]) -> Result<(String, ScramFinal), String> {
        let text = std::str::from_utf8(server_first).map_err(|_| "server-first is not UTF-8")?;
        let (mut nonce, mut salt, mut iterations) = (None, None, None);
        for (i, attr) in text.split(',').enumerate() {
            match (i, attr.split_once('=')) {
                (_, Some(("e", why))) => return Err(format!("the broker refused: {why}")),
                (0, Some(("r", v))) => nonce = Some(v),
                (1, Some(("s", v))) => {
                    salt = Some(
                        B64.decode(v)
                            .map_err(|_| "server-first's salt is not base64")?,
                    )
                }
                (2, Some(("i", v))) => {
                    iterations = Some(
                        v.parse::<u32>()
                            .map_err(|_| "server-first's iteration count is not a number")?,
                    )
                }
                (0..=2, _) => {
                    return Err(format!("server-first is not r=...,s=...,i=...: {text:?}"))
                }
                _ => {} // extensions
            }
        }
        let (Some(nonce), Some(salt), Some(iterations)) = (nonce, salt, iterations) else {
            return Err(format!("server-first is not r=...,s=...,i=...: {text:?}"));
        };
        // The server's nonce must extend ours: anything else is a replay or a broken server.
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err("server-first's nonce does not extend the client's".into());
        }
        if salt.is_empty() {
            return Err("server-first has an empty salt".into());
        }
        if !(CLIENT_SCRAM_ITERATIONS_MIN..=CLIENT_SCRAM_ITERATIONS_MAX).contains(&iterations) {
            return Err(format!(
                "server-first asks for {iterations} iterations, outside \
                 {CLIENT_SCRAM_ITERATIONS_MIN}..={CLIENT_SCRAM_ITERATIONS_MAX}"
            ));
        }
        let a = self.algorithm;
        let salted = a.salted_password(&self.password, &salt, iterations);
        let client_key = a.hmac(&salted, b"Client Key");
        let stored_key = a.hash(&client_key);
        // "biws" is base64("n,,"): the gs2 header of client-first.
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{text},{without_proof}", self.client_first_bare);
        let signature = a.hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(k, s)| k ^ s)
            .collect();
        Ok((
            format!("{without_proof},p={}", B64.encode(proof)),
            ScramFinal {
                algorithm: a,
                server_key: a.hmac(&salted, b"Server Key"),
                auth_message,
            },
        ))
    }
}

impl ScramFinal {
    /// Check server-final: `v=` the server's signature (a server that knows the credential),
    /// or `e=` its error.
    fn verify(&self, server_final: &[u8]) -> Result<(), String> {
        let text = std::str::from_utf8(server_final).map_err(|_| "server-final is not UTF-8")?;
        let first = text.split(',').next().unwrap_or("");
        if let Some(why) = first.strip_prefix("e=") {
            return Err(format!("the broker refused: {why}"));
        }
        let v = first
            .strip_prefix("v=")
            .ok_or("server-final has no server signature")?;
        let got = B64
            .decode(v)
            .map_err(|_| "server-final's signature is not base64")?;
        let expected = self
            .algorithm
            .hmac(&self.server_key, self.auth_message.as_bytes());
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            got.as_slice(),
            expected.as_slice(),
        )) {
            return Err(
                "the broker's SCRAM signature is wrong: it does not hold this user's credential"
                    .into(),
            );
        }
        Ok(())
    }
}

/// RFC 5802 saslname: ',' is "=2C", '=' is "=3D".
fn saslname(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7677_exchange() {
        // RFC 7677 section 3: user "user", password "pencil".
        let c = ScramClient::with_nonce(
            ScramAlgorithm::Sha256,
            "user",
            "pencil",
            "rOprNGfwEbeRWgbNEkqO".into(),
        );
        assert_eq!(c.client_first(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let server_first = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let (fin, check) = c.client_final(server_first).unwrap();
        assert_eq!(
            fin,
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        assert!(check
            .verify(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .is_ok());
        assert!(check
            .verify(b"v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap_err()
            .contains("signature is wrong"));
        assert!(check.verify(b"e=invalid-proof").is_err());
        assert!(check.verify(b"x=1").is_err());
    }

    #[test]
    fn bad_server_first_messages_are_refused() {
        let c = ScramClient::with_nonce(ScramAlgorithm::Sha512, "a,b=c", "pw", "abc".into());
        assert_eq!(c.client_first(), "n,,n=a=2Cb=3Dc,r=abc");
        for bad in [
            &b"r=xyz,s=c2FsdA==,i=4096"[..],  // not our nonce
            b"r=abc,s=c2FsdA==,i=4096",       // not extended
            b"r=abcd,s=!!,i=4096",            // salt not base64
            b"r=abcd,s=,i=4096",              // empty salt
            b"r=abcd,s=c2FsdA==,i=1",         // too few iterations
            b"r=abcd,s=c2FsdA==,i=999999999", // too many: a CPU trap
            b"r=abcd,i=4096,s=c2FsdA==",      // out of order
            b"e=unknown-user",
            b"\xff",
        ] {
            assert!(
                c.client_final(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(c.client_final(b"r=abcd,s=c2FsdA==,i=4096").is_ok());
    }

    #[test]
    fn mechanisms_and_config() {
        assert_eq!(
            SaslMechanism::from_name("scram-sha-512"),
            Some(SaslMechanism::ScramSha512)
        );
        assert_eq!(SaslMechanism::from_name("GSSAPI"), None);
        assert!(SaslConfig::new(SaslMechanism::Plain, "", "x").is_err());
        assert!(SaslConfig::new(SaslMechanism::Plain, "u", "").is_err());
        assert!(SaslConfig::new(SaslMechanism::Plain, "u", "a\0b").is_err());
        let c = SaslConfig::new(SaslMechanism::ScramSha256, "u", "hunter2").unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
