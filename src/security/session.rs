//! A connection's security context: which listener it came in on, from where, and who it is.
//!
//! Lives on the shard that accepted the connection (`Rc`, `!Send`): created by
//! `net::connection::serve`, handed to every request's handler (`handlers::handle`). What must
//! cross to another shard with a forwarded request is the [`KafkaPrincipal`], which is `Send`.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use super::listener::{ListenerInfo, SecurityProtocol};
use super::sasl::SaslSession;

/// Kafka's `KafkaPrincipal`: a type and a name, written `User:alice`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KafkaPrincipal {
    pub principal_type: Arc<str>,
    pub name: Arc<str>,
}

impl KafkaPrincipal {
    /// Kafka's principal type for users.
    pub const USER_TYPE: &'static str = "User";

    /// `User:ANONYMOUS`: the principal of every connection on a PLAINTEXT (or SSL without
    /// client certificates) listener, and of a SASL connection before it authenticates.
    pub fn anonymous() -> KafkaPrincipal {
        KafkaPrincipal::user("ANONYMOUS")
    }

    pub fn user(name: &str) -> KafkaPrincipal {
        KafkaPrincipal {
            principal_type: Arc::from(Self::USER_TYPE),
            name: Arc::from(name),
        }
    }
}

impl fmt::Display for KafkaPrincipal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.principal_type, self.name)
    }
}

/// One connection's session. Interior mutability because authentication changes it while
/// requests hold an `Rc` to it; it never leaves its shard.
pub struct Session {
    /// The listener the connection was accepted on: its name, protocol and advertised brokers.
    pub listener: Arc<ListenerInfo>,
    pub peer: Option<SocketAddr>,
    principal: RefCell<KafkaPrincipal>,
    /// On SASL listeners: where authentication stands.
    pub sasl: Option<SaslSession>,
    /// Close the connection once the current reply is written (a refused handshake, a failed
    /// authentication).
    closing: Cell<bool>,
    /// Client quotas (`quota`): throttle time earned by requests whose replies are not yet
    /// written, and the end of the current mute (the connection is not read before it).
    throttle: crate::quota::Throttle,
    /// This connection's authorization decisions (`security::authz::authorize`), for the
    /// current principal and ACL generation.
    pub acl_cache: super::acl::cache::DecisionCache,
    /// Unique in the process (never 0): share sessions remember the connection that last used
    /// them, and end when it closes (`share::sessions::Sessions::end_connection`).
    pub connection_id: u64,
}

/// The next connection's id. One increment per accepted connection, on any shard: ids only
/// need to be distinct, not ordered.
static NEXT_CONNECTION_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl Session {
    pub fn new(listener: Arc<ListenerInfo>, peer: Option<SocketAddr>) -> Session {
        let sasl = listener
            .sasl
            .as_ref()
            .filter(|_| listener.protocol.is_sasl())
            .map(|c| SaslSession::new(c.clone()));
        Session {
            listener,
            peer,
            principal: RefCell::new(KafkaPrincipal::anonymous()),
            sasl,
            closing: Cell::new(false),
            throttle: crate::quota::Throttle::default(),
            acl_cache: Default::default(),
            connection_id: NEXT_CONNECTION_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        }
    }

    pub fn protocol(&self) -> SecurityProtocol {
        self.listener.protocol
    }

    /// The authenticated principal (`User:ANONYMOUS` until authenticated, and always on
    /// PLAINTEXT listeners).
    pub fn principal(&self) -> KafkaPrincipal {
        self.principal.borrow().clone()
    }

    /// Close the connection after the reply being built.
    pub fn close_after_reply(&self) {
        self.closing.set(true);
    }

    pub fn closing(&self) -> bool {
        self.closing.get()
    }

    /// Set the authenticated principal (SASL, or a verified TLS client certificate on SSL).
    /// A new principal (re-authentication may change it) forgets the cached decisions.
    pub fn set_principal(&self, p: KafkaPrincipal) {
        if *self.principal.borrow() != p {
            self.acl_cache.clear();
        }
        *self.principal.borrow_mut() = p;
    }

    /// Requests must be handled one at a time, in order: a SASL connection not yet
    /// authenticated, and every SaslHandshake / SaslAuthenticate (`api_key`).
    pub fn serial(&self, api_key: Option<i16>) -> bool {
        use kafka_protocol::messages::ApiKey;
        match &self.sasl {
            None => false,
            Some(s) => {
                !s.is_authenticated()
                    || api_key == Some(ApiKey::SaslHandshake as i16)
                    || api_key == Some(ApiKey::SaslAuthenticate as i16)
            }
        }
    }

    /// The connection's quota throttle: set by handlers, applied by the connection.
    pub fn throttle(&self) -> &crate::quota::Throttle {
        &self.throttle
    }

    /// The peer address for logs.
    pub fn peer_string(&self) -> String {
        self.peer
            .map_or_else(|| "an unknown peer".to_string(), |p| p.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::authz::{AclOperation, ResourceType};

    #[test]
    fn a_new_principal_forgets_the_cached_decisions() {
        let s = Session::new(Arc::new(ListenerInfo::plaintext(Vec::new())), None);
        let decide = |s: &Session| {
            s.acl_cache
                .get_or_decide(1, AclOperation::Read, ResourceType::Topic, "t", || true)
        };
        decide(&s);
        assert_eq!(s.acl_cache.len(), 1);
        s.set_principal(KafkaPrincipal::anonymous());
        assert_eq!(s.acl_cache.len(), 1, "the same principal keeps them");
        s.set_principal(KafkaPrincipal::user("alice"));
        assert!(s.acl_cache.is_empty());
        assert_eq!(s.principal().to_string(), "User:alice");
    }
}
