//! SASL on a connection, with Kafka's state machine (`SaslServerAuthenticator`):
//!
//! ```text
//!   Handshake ──ApiVersions──▶ Handshake
//!   Handshake ──SaslHandshake v1 (enabled mechanism)──▶ Authenticate (tokens in SaslAuthenticate)
//!   Handshake ──SaslHandshake v0 (enabled mechanism)──▶ Authenticate (raw tokens, no header)
//!   Handshake ──SaslHandshake (other mechanism)──▶ answer UNSUPPORTED_SASL_MECHANISM, close
//!   Handshake ──any other request──▶ close, no answer (Kafka's InvalidRequestException)
//!   Authenticate ──token ok, more to come──▶ Authenticate
//!   Authenticate ──token ok, done──▶ Authenticated (principal set; lifetime if reauth is on)
//!   Authenticate ──token bad──▶ wait --connection-failed-authentication-delay-ms,
//!                               answer SASL_AUTHENTICATION_FAILED (raw path: nothing), close
//!   Authenticate ──any request but SaslAuthenticate──▶ answer ILLEGAL_SASL_STATE (that
//!                               request's own error response), close
//!   Authenticated ──SaslHandshake, reauth on (KIP-368)──▶ Authenticate (same mechanism,
//!                               same principal, or the connection is closed)
//!   Authenticated, lifetime over ──any request but SaslHandshake──▶ close
//! ```
//!
//! Requests on a SASL connection are handled one at a time until it is authenticated (and
//! every SaslHandshake / SaslAuthenticate always), so the state changes in request order even
//! though other requests are pipelined (`net::connection`).

use std::cell::RefCell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::credentials::{ScramMechanism, SharedCredentials};
use super::scram::ScramServer;
use super::session::{KafkaPrincipal, Session};

/// A SASL mechanism Sluice serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Plain,
    Scram(ScramMechanism),
}

impl Mechanism {
    pub const ALL: [Mechanism; 3] = [
        Mechanism::Plain,
        Mechanism::Scram(ScramMechanism::Sha256),
        Mechanism::Scram(ScramMechanism::Sha512),
    ];

    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Scram(m) => m.name(),
        }
    }

    pub fn from_name(s: &str) -> Option<Mechanism> {
        Self::ALL.into_iter().find(|m| m.name() == s)
    }
}

#[cfg(test)]
#[test]
fn metrics_name_the_mechanisms_in_order() {
    let names: Vec<&str> = Mechanism::ALL.iter().map(|m| m.name()).collect();
    assert_eq!(names, crate::metrics::SASL_MECHANISM_NAMES);
}

// The metrics count failures by these names, in this order.
const _: () = {
    let names = crate::metrics::SASL_MECHANISM_NAMES;
    assert!(names.len() == Mechanism::ALL.len());
};

/// Parse `--sasl-enabled-mechanisms` (comma-separated; Kafka's names).
pub fn parse_mechanisms(s: &str) -> Result<Vec<Mechanism>, String> {
    let mut out = Vec::new();
    for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let m = Mechanism::from_name(&name.to_ascii_uppercase()).ok_or_else(|| {
            format!(
                "--sasl-enabled-mechanisms: {name} is not available (PLAIN, SCRAM-SHA-256, \
                 SCRAM-SHA-512; GSSAPI and OAUTHBEARER are not supported)"
            )
        })?;
        if !out.contains(&m) {
            out.push(m);
        }
    }
    if out.is_empty() {
        return Err("--sasl-enabled-mechanisms: no mechanism given".into());
    }
    Ok(out)
}

/// SASL settings of the broker, shared by every shard (immutable but for the credentials).
#[derive(Debug)]
pub struct SaslConfig {
    pub mechanisms: Vec<Mechanism>,
    /// `--connections-max-reauth-ms`; 0: sessions never expire (Kafka's default).
    pub reauth_ms: u64,
    /// `--connection-failed-authentication-delay-ms`.
    pub failed_delay_ms: u64,
    /// The broker's credentials (the same `Arc` as `BrokerConfig::credentials`).
    pub credentials: Arc<SharedCredentials>,
}

impl SaslConfig {
    pub fn mechanism_names(&self) -> Vec<String> {
        self.mechanisms
            .iter()
            .map(|m| m.name().to_string())
            .collect()
    }
}

/// Where a connection is in the state machine above.
pub enum SaslState {
    Handshake,
    Authenticate {
        mechanism: Mechanism,
        /// SaslHandshake v0: tokens come as bare frames, not SaslAuthenticate requests.
        raw: bool,
        /// A SCRAM exchange after its first message.
        scram: Option<Box<ScramServer>>,
    },
    Authenticated,
    Failed,
}

/// The SASL part of a [`Session`] (only on SASL listeners).
pub struct SaslSession {
    pub config: Arc<SaslConfig>,
    pub state: RefCell<SaslState>,
    /// The mechanism and principal of the last successful authentication (re-authentication
    /// must keep both), and when its session ends.
    pub authenticated: RefCell<Option<(Mechanism, KafkaPrincipal, Option<Instant>)>>,
}

/// Whether a request may go on, decided before it is decoded.
pub enum Admit {
    Yes,
    /// Answer ILLEGAL_SASL_STATE (the request's own error response,
    /// `handlers::error_response`), then close, as Kafka's `SaslServerAuthenticator` does for
    /// a request other than SaslAuthenticate after the handshake (logged with this reason;
    /// SaslHandshake goes through its handler).
    IllegalState(String),
    /// Close the connection without an answer (logged with this reason).
    Close(String),
}

/// Result of one authentication token.
pub enum TokenOutcome {
    /// Answer with these bytes; authentication goes on or is complete.
    Continue(Vec<u8>),
    /// Authenticated: answer with these bytes; the session lasts this long (0: for ever).
    Done(Vec<u8>, i64),
    /// Failed: answer with this message after the delay, then close.
    Failed(String),
}

impl SaslSession {
    pub fn new(config: Arc<SaslConfig>) -> SaslSession {
        SaslSession {
            config,
            state: RefCell::new(SaslState::Handshake),
            authenticated: RefCell::new(None),
        }
    }

    pub fn is_authenticated(&self) -> bool {
        matches!(*self.state.borrow(), SaslState::Authenticated)
    }

    /// The mechanism being authenticated with, if a handshake chose one.
    pub fn mechanism(&self) -> Option<Mechanism> {
        match &*self.state.borrow() {
            SaslState::Authenticate { mechanism, .. } => Some(*mechanism),
            _ => None,
        }
    }

    pub fn expects_raw_token(&self) -> bool {
        matches!(
            *self.state.borrow(),
            SaslState::Authenticate { raw: true, .. }
        )
    }

    fn expired(&self, now: Instant) -> bool {
        matches!(&*self.authenticated.borrow(), Some((_, _, Some(end))) if now >= *end)
    }

    /// Kafka's rules for what may come in each state (see the module docs).
    pub fn admit(&self, api_key: i16) -> Admit {
        use kafka_protocol::messages::ApiKey;
        let name = ApiKey::try_from(api_key)
            .map(|k| format!("{k:?}"))
            .unwrap_or_else(|_| format!("api key {api_key}"));
        match &*self.state.borrow() {
            SaslState::Handshake => {
                if api_key == ApiKey::ApiVersions as i16 || api_key == ApiKey::SaslHandshake as i16
                {
                    Admit::Yes
                } else {
                    Admit::Close(format!(
                        "unexpected request {name} during SASL handshake (ILLEGAL_SASL_STATE)"
                    ))
                }
            }
            SaslState::Authenticate { raw: false, .. } => {
                if api_key == ApiKey::SaslAuthenticate as i16 {
                    Admit::Yes
                } else if api_key == ApiKey::SaslHandshake as i16 {
                    // `handshake` answers ILLEGAL_SASL_STATE and closes.
                    Admit::Yes
                } else {
                    // The connection is closed after the answer (`Session::close_after_reply`).
                    Admit::IllegalState(format!(
                        "unexpected request {name} during SASL authentication (ILLEGAL_SASL_STATE)"
                    ))
                }
            }
            SaslState::Authenticate { raw: true, .. } => {
                Admit::Close("a Kafka request where a raw SASL token was expected".into())
            }
            SaslState::Failed => Admit::Close("authentication failed".into()),
            SaslState::Authenticated => {
                if api_key != ApiKey::SaslHandshake as i16 && self.expired(Instant::now()) {
                    Admit::Close(
                        "the authenticated session expired (--connections-max-reauth-ms) without \
                         re-authentication"
                            .into(),
                    )
                } else {
                    Admit::Yes
                }
            }
        }
    }

    /// SaslHandshake for `mechanism` (version 0: raw tokens follow). Err: the error code to
    /// answer with, after which the connection is closed; Ok(false): ILLEGAL_SASL_STATE but
    /// the connection stays (a handshake on an authenticated session without reauth).
    pub fn handshake(&self, mechanism: &str, version: i16) -> Result<bool, i16> {
        use kafka_protocol::error::ResponseError;
        let reauth = {
            let state = self.state.borrow();
            match &*state {
                SaslState::Handshake => false,
                SaslState::Authenticated if self.config.reauth_ms > 0 => true,
                SaslState::Authenticated => return Ok(false),
                _ => return Err(ResponseError::IllegalSaslState.code()),
            }
        };
        let Some(m) =
            Mechanism::from_name(mechanism).filter(|m| self.config.mechanisms.contains(m))
        else {
            *self.state.borrow_mut() = SaslState::Failed;
            return Err(ResponseError::UnsupportedSaslMechanism.code());
        };
        if reauth {
            let same = matches!(&*self.authenticated.borrow(), Some((prev, _, _)) if *prev == m);
            if !same {
                *self.state.borrow_mut() = SaslState::Failed;
                return Err(ResponseError::IllegalSaslState.code());
            }
        }
        *self.state.borrow_mut() = SaslState::Authenticate {
            mechanism: m,
            raw: version == 0,
            scram: None,
        };
        Ok(true)
    }

    /// One authentication token. Runs PLAIN's password derivation on the shard's blocking
    /// pool (a PBKDF2 of thousands of iterations would stall the shard).
    pub async fn token(
        &self,
        session: &Session,
        pool: &crate::shard::blocking::BlockingPool,
        token: &[u8],
    ) -> TokenOutcome {
        let (mechanism, scram) = match &mut *self.state.borrow_mut() {
            SaslState::Authenticate {
                mechanism, scram, ..
            } => (*mechanism, scram.take()),
            _ => return TokenOutcome::Failed("no SASL handshake".into()),
        };
        let credentials = self.config.credentials.current();
        let result: Result<Option<(String, Vec<u8>)>, String> = match (mechanism, scram) {
            (Mechanism::Plain, _) => match parse_plain(token) {
                Ok((user, password)) => {
                    let u = user.clone();
                    let ok = pool
                        .run(move || Ok(credentials.verify_plain(&u, &password)))
                        .await
                        .unwrap_or(false);
                    if ok {
                        Ok(Some((user, Vec::new())))
                    } else {
                        Err(format!("PLAIN: invalid user name or password for {user:?}"))
                    }
                }
                Err(e) => Err(e),
            },
            (Mechanism::Scram(m), None) => match ScramServer::start(m, &credentials, token) {
                Ok((server, first)) => {
                    if let SaslState::Authenticate { scram, .. } = &mut *self.state.borrow_mut() {
                        *scram = Some(Box::new(server));
                    }
                    return TokenOutcome::Continue(first);
                }
                Err(e) => Err(e),
            },
            (Mechanism::Scram(_), Some(server)) => {
                let user = server.username().to_string();
                server.finish(token).map(|last| Some((user, last)))
            }
        };
        match result {
            Ok(Some((user, reply))) => {
                let principal = KafkaPrincipal::user(&user);
                let previous = self.authenticated.borrow().clone();
                if let Some((_, prev, _)) = previous {
                    if prev != principal {
                        *self.state.borrow_mut() = SaslState::Failed;
                        return TokenOutcome::Failed(format!(
                            "re-authentication changed the principal from {prev} to {principal}"
                        ));
                    }
                }
                let lifetime_ms = self.config.reauth_ms;
                let end =
                    (lifetime_ms > 0).then(|| Instant::now() + Duration::from_millis(lifetime_ms));
                *self.authenticated.borrow_mut() = Some((mechanism, principal.clone(), end));
                *self.state.borrow_mut() = SaslState::Authenticated;
                session.set_principal(principal);
                TokenOutcome::Done(reply, i64::try_from(lifetime_ms).unwrap_or(i64::MAX))
            }
            Ok(None) => unreachable!("every mechanism ends with a user or an error"),
            Err(why) => {
                *self.state.borrow_mut() = SaslState::Failed;
                TokenOutcome::Failed(why)
            }
        }
    }
}

/// Kafka's message for a failed authentication with `mechanism` (the same for an unknown user
/// and a wrong password).
pub fn failure_message(mechanism: Option<Mechanism>) -> String {
    match mechanism {
        Some(Mechanism::Plain) | None => {
            "Authentication failed: Invalid username or password".into()
        }
        Some(m) => format!(
            "Authentication failed during authentication due to invalid credentials with SASL \
             mechanism {}",
            m.name()
        ),
    }
}

/// PLAIN's message (RFC 4616): authzid NUL authcid NUL passwd.
fn parse_plain(token: &[u8]) -> Result<(String, Vec<u8>), String> {
    let mut parts = token.split(|b| *b == 0);
    let (Some(authzid), Some(user), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("PLAIN: the token is not authzid NUL user NUL password".into());
    };
    let user = std::str::from_utf8(user).map_err(|_| "PLAIN: user name is not UTF-8")?;
    if user.is_empty() || password.is_empty() {
        return Err("PLAIN: empty user name or password".into());
    }
    if !authzid.is_empty() && authzid != user.as_bytes() {
        return Err("PLAIN: authorization id differs from the user name".into());
    }
    Ok((user.to_string(), password.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_tokens() {
        assert_eq!(
            parse_plain(b"\0alice\0pw").unwrap(),
            ("alice".to_string(), b"pw".to_vec())
        );
        assert!(parse_plain(b"alice\0alice\0pw").is_ok());
        assert!(parse_plain(b"bob\0alice\0pw").is_err());
        assert!(parse_plain(b"\0alice\0").is_err());
        assert!(parse_plain(b"\0alice").is_err());
        assert!(parse_plain(b"\0a\0b\0c").is_err());
    }

    #[test]
    fn mechanisms_parse_as_kafka_names() {
        assert_eq!(
            parse_mechanisms("PLAIN,SCRAM-SHA-512").unwrap(),
            vec![Mechanism::Plain, Mechanism::Scram(ScramMechanism::Sha512)]
        );
        assert!(parse_mechanisms("GSSAPI").is_err());
        assert!(parse_mechanisms("").is_err());
    }
}
