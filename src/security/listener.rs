//! Kafka's listener model: `--listeners`, `--listener-security-protocol-map`,
//! `--advertised-listeners`, parsed and checked the way Kafka checks `listeners`,
//! `listener.security.protocol.map` and `advertised.listeners`.
//!
//! Parsed on the main thread at start-up; the result ([`ListenerInfo`], one per listener) is
//! immutable and shared by every shard (each connection's [`super::session::Session`] points at
//! the one it was accepted on).
//!
//! Ports. Listener `NAME://HOST:P` binds its bootstrap port P on every shard (SO_REUSEPORT), and
//! shard s also listens on its own port P + 1 + s, where it advertises itself as broker s on
//! that listener. Port 0 lets the OS pick every port of the listener. So with N shards, two
//! listeners with fixed ports must be at least N + 1 apart (e.g. 9092 and 9192): a clash is
//! refused at start-up with the port that is taken. `--shard-port-base` moves the shard ports
//! of the first listener only (it predates listeners).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;

/// Kafka's `SecurityProtocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub const ALL: [SecurityProtocol; 4] = [
        SecurityProtocol::Plaintext,
        SecurityProtocol::Ssl,
        SecurityProtocol::SaslPlaintext,
        SecurityProtocol::SaslSsl,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    /// Kafka accepts the protocol names in any case.
    pub fn parse(s: &str) -> Option<SecurityProtocol> {
        SecurityProtocol::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s.trim()))
    }

    /// Connections on this protocol authenticate with SASL before anything else.
    pub fn is_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }

    /// Connections on this protocol are wrapped in TLS.
    pub fn is_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }
}

impl fmt::Display for SecurityProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One `NAME://HOST:PORT` of `--listeners` or `--advertised-listeners`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Upper-cased, as Kafka normalises listener names.
    pub name: String,
    /// As written (empty: every interface for a listener, Kafka's "default interface").
    pub host: String,
    pub port: u16,
}

/// A listener to bind: its name, protocol and bootstrap address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerSpec {
    pub name: String,
    pub protocol: SecurityProtocol,
    pub bind: SocketAddr,
    /// Host advertised for it (from `--advertised-listeners`, else `--advertised-host`, else the
    /// bind address; 127.0.0.1 for an unspecified one).
    pub advertised_host: String,
    /// Bootstrap port advertised for it (0: the bound ones); shard s is advertised on this
    /// port + 1 + s.
    pub advertised_port: u16,
}

/// An advertised broker on one listener: one per shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerEndpoint {
    pub node_id: i32,
    pub host: String,
    pub port: u16,
}

/// A bound listener as every shard serves it: immutable after start-up, shared by the shards.
#[derive(Debug)]
pub struct ListenerInfo {
    pub name: String,
    pub protocol: SecurityProtocol,
    /// What Metadata, FindCoordinator and DescribeCluster answer a client connected to this
    /// listener: its brokers (one per shard) at this listener's advertised addresses only.
    pub brokers: Vec<BrokerEndpoint>,
    /// SASL settings (SASL_* listeners only).
    pub sasl: Option<Arc<super::sasl::SaslConfig>>,
}

impl ListenerInfo {
    /// Broker `node_id` on this listener.
    pub fn broker(&self, node_id: i32) -> Option<&BrokerEndpoint> {
        self.brokers.iter().find(|b| b.node_id == node_id)
    }

    /// A listener for tests and tools: PLAINTEXT with the given brokers.
    pub fn plaintext(brokers: Vec<BrokerEndpoint>) -> ListenerInfo {
        ListenerInfo {
            name: "PLAINTEXT".into(),
            protocol: SecurityProtocol::Plaintext,
            brokers,
            sasl: None,
        }
    }
}

/// Parse `NAME://HOST:PORT[,...]` (Kafka's `listeners` syntax; `[v6]` hosts, empty host).
pub fn parse_endpoints(flag: &str, s: &str) -> Result<Vec<Endpoint>, String> {
    let mut out = Vec::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (name, rest) = item
            .split_once("://")
            .ok_or_else(|| format!("{flag}: {item:?} is not NAME://HOST:PORT"))?;
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!(
                "{flag}: listener name {name:?} in {item:?} must be letters, digits, '_' or '-'"
            ));
        }
        let (host, port) = rest
            .rsplit_once(':')
            .ok_or_else(|| format!("{flag}: {item:?} has no port"))?;
        let port: u16 = port
            .parse()
            .map_err(|_| format!("{flag}: port {port:?} in {item:?} is not a port number"))?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        out.push(Endpoint {
            name: name.to_ascii_uppercase(),
            host: host.to_string(),
            port,
        });
    }
    if out.is_empty() {
        return Err(format!("{flag}: no listener given"));
    }
    let mut names = BTreeSet::new();
    for e in &out {
        if !names.insert(e.name.clone()) {
            return Err(format!("{flag}: listener name {} appears twice", e.name));
        }
    }
    Ok(out)
}

/// Parse `NAME:PROTOCOL[,...]` (`listener.security.protocol.map`). Kafka's default maps each
/// protocol's name to itself; a given map replaces it.
pub fn parse_protocol_map(s: Option<&str>) -> Result<BTreeMap<String, SecurityProtocol>, String> {
    let Some(s) = s else {
        return Ok(SecurityProtocol::ALL
            .into_iter()
            .map(|p| (p.name().to_string(), p))
            .collect());
    };
    let mut map = BTreeMap::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (name, protocol) = item.split_once(':').ok_or_else(|| {
            format!("--listener-security-protocol-map: {item:?} is not NAME:PROTOCOL")
        })?;
        let protocol = SecurityProtocol::parse(protocol).ok_or_else(|| {
            format!(
                "--listener-security-protocol-map: unknown security protocol {protocol:?} \
                 (PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL)"
            )
        })?;
        if map
            .insert(name.trim().to_ascii_uppercase(), protocol)
            .is_some()
        {
            return Err(format!(
                "--listener-security-protocol-map: listener {name} is mapped twice"
            ));
        }
    }
    Ok(map)
}

/// The listeners to bind, from the flags, checked as Kafka checks them. `listen` is the
/// `--listen` shorthand (one PLAINTEXT listener), used when `listeners` is not given.
pub fn resolve(
    listen: SocketAddr,
    listeners: Option<&str>,
    protocol_map: Option<&str>,
    advertised: Option<&str>,
    advertised_host: Option<&str>,
) -> Result<Vec<ListenerSpec>, String> {
    let endpoints = match listeners {
        Some(s) => parse_endpoints("--listeners", s)?,
        None => vec![Endpoint {
            name: "PLAINTEXT".into(),
            host: listen.ip().to_string(),
            port: listen.port(),
        }],
    };
    let map = parse_protocol_map(protocol_map)?;
    let advertised = match advertised {
        Some(s) => parse_endpoints("--advertised-listeners", s)?,
        None => Vec::new(),
    };
    for a in &advertised {
        if !endpoints.iter().any(|e| e.name == a.name) {
            return Err(format!(
                "--advertised-listeners: listener {} is not one of --listeners",
                a.name
            ));
        }
        let unroutable =
            a.host.is_empty() || a.host.parse::<IpAddr>().is_ok_and(|ip| ip.is_unspecified());
        if unroutable {
            return Err(format!(
                "--advertised-listeners: listener {} must name a host clients can reach, not {:?}",
                a.name, a.host
            ));
        }
    }
    let mut specs: Vec<ListenerSpec> = Vec::new();
    for e in endpoints {
        let protocol = *map.get(&e.name).ok_or_else(|| {
            format!(
                "listener {} has no security protocol: name it after one (PLAINTEXT, SSL, \
                 SASL_PLAINTEXT, SASL_SSL) or map it with --listener-security-protocol-map",
                e.name
            )
        })?;
        let bind = bind_addr(&e)?;
        if bind.port() != 0 {
            if let Some(other) = specs.iter().find(|s| s.bind.port() == bind.port()) {
                return Err(format!(
                    "--listeners: {} and {} both use port {}",
                    other.name,
                    e.name,
                    bind.port()
                ));
            }
        }
        let adv = advertised.iter().find(|a| a.name == e.name);
        let advertised_host = match (adv, advertised_host) {
            (Some(a), _) => a.host.clone(),
            (None, Some(h)) => h.to_string(),
            (None, None) if bind.ip().is_unspecified() => "127.0.0.1".to_string(),
            (None, None) => bind.ip().to_string(),
        };
        specs.push(ListenerSpec {
            name: e.name,
            protocol,
            bind,
            advertised_host,
            advertised_port: adv.map_or(0, |a| a.port),
        });
    }
    Ok(specs)
}

fn bind_addr(e: &Endpoint) -> Result<SocketAddr, String> {
    if e.host.is_empty() {
        return Ok(SocketAddr::new(IpAddr::from([0, 0, 0, 0]), e.port));
    }
    if let Ok(ip) = e.host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, e.port));
    }
    (e.host.as_str(), e.port)
        .to_socket_addrs()
        .map_err(|err| format!("listener {}: cannot resolve {:?}: {err}", e.name, e.host))?
        .next()
        .ok_or_else(|| format!("listener {}: {:?} has no address", e.name, e.host))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listen() -> SocketAddr {
        "127.0.0.1:9092".parse().unwrap()
    }

    #[test]
    fn listen_is_one_plaintext_listener() {
        let l = resolve(listen(), None, None, None, None).unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].name, "PLAINTEXT");
        assert_eq!(l[0].protocol, SecurityProtocol::Plaintext);
        assert_eq!(l[0].bind, listen());
        assert_eq!(l[0].advertised_host, "127.0.0.1");
    }

    #[test]
    fn names_map_to_protocols_as_in_kafka() {
        let l = resolve(
            listen(),
            Some("plaintext://127.0.0.1:9092, SASL_PLAINTEXT://[::1]:9192"),
            None,
            None,
            None,
        )
        .unwrap();
        assert_eq!(l[0].name, "PLAINTEXT");
        assert_eq!(l[1].protocol, SecurityProtocol::SaslPlaintext);
        assert_eq!(l[1].bind, "[::1]:9192".parse().unwrap());
        assert!(
            resolve(listen(), Some("INTERNAL://:9092"), None, None, None)
                .unwrap_err()
                .contains("no security protocol")
        );
        let l = resolve(
            listen(),
            Some("INTERNAL://:9092,EXTERNAL://0.0.0.0:9192"),
            Some("INTERNAL:SASL_PLAINTEXT,EXTERNAL:sasl_ssl"),
            Some("EXTERNAL://kafka.example.com:19092"),
            None,
        )
        .unwrap();
        assert_eq!(l[0].protocol, SecurityProtocol::SaslPlaintext);
        assert_eq!(l[0].advertised_host, "127.0.0.1");
        assert_eq!(l[1].protocol, SecurityProtocol::SaslSsl);
        assert_eq!(l[1].advertised_host, "kafka.example.com");
        assert_eq!(l[1].advertised_port, 19092);
        // A given map replaces Kafka's default one.
        assert!(resolve(
            listen(),
            Some("PLAINTEXT://:9092"),
            Some("X:SSL"),
            None,
            None
        )
        .is_err());
    }

    #[test]
    fn bad_listeners_are_refused() {
        let bad = |l: &str, adv: Option<&str>| resolve(listen(), Some(l), None, adv, None);
        assert!(bad("PLAINTEXT://:9092,PLAINTEXT://:9093", None).is_err());
        assert!(bad("PLAINTEXT://:9092,SSL://:9092", None).is_err());
        assert!(bad("PLAINTEXT:9092", None).is_err());
        assert!(bad("PLAINTEXT://:x", None).is_err());
        assert!(bad("", None).is_err());
        assert!(bad("PLAINTEXT://:9092", Some("SSL://h:1")).is_err());
        assert!(bad("PLAINTEXT://:9092", Some("PLAINTEXT://0.0.0.0:1")).is_err());
        assert!(parse_protocol_map(Some("A:TLS")).is_err());
        // Port 0 may repeat: the OS picks each.
        assert!(bad("PLAINTEXT://:0,SASL_PLAINTEXT://:0", None).is_ok());
    }
}
