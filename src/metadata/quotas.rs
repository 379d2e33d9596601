//! Client quota configuration (KIP-13, KIP-124, KIP-546), Kafka's model: a quota entity names a
//! `user`, a `client-id`, or both, each either a specific name or `<default>`, and carries
//! values for `producer_byte_rate`, `consumer_byte_rate`, `request_percentage` (and
//! `controller_mutation_rate`, accepted and stored like Kafka, not enforced by Sluice).
//!
//! Stored by the controller (shard 0) in `<data-dir>/meta/client-quotas.json` (written whole,
//! durably, before it is published) and published to every shard inside the metadata
//! [`Snapshot`](super::Snapshot) as an immutable [`ClientQuotas`]. Pure data and rules here:
//! validation of AlterClientQuotas, DescribeClientQuotas' filter semantics, and the eight-level
//! precedence that picks the quota a connection is held to (`ClientQuotas::resolve`).

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::path::Path;

use kafka_protocol::error::ResponseError;
use serde::{Deserialize, Serialize};

pub const USER: &str = "user";
pub const CLIENT_ID: &str = "client-id";
pub const IP: &str = "ip";

/// The keys a user / client-id entity may carry, and whether each must be a whole number
/// (Kafka's LONG configs) or may be fractional (DOUBLE).
pub const KEYS: &[(&str, bool)] = &[
    (PRODUCER_BYTE_RATE, true),
    (CONSUMER_BYTE_RATE, true),
    (REQUEST_PERCENTAGE, false),
    ("controller_mutation_rate", false),
];
pub const PRODUCER_BYTE_RATE: &str = "producer_byte_rate";
pub const CONSUMER_BYTE_RATE: &str = "consumer_byte_rate";
pub const REQUEST_PERCENTAGE: &str = "request_percentage";

/// One entity: its components by type (`user`, `client-id`), each a name or `None` for the
/// `<default>` of that type. Never empty.
pub type Entity = BTreeMap<String, Option<String>>;

/// One configured entity and its values, as persisted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuotaEntry {
    pub entity: Entity,
    pub values: BTreeMap<String, f64>,
}

/// Every configured quota. Immutable once published; shared by every shard (`Arc`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ClientQuotas {
    pub entries: Vec<QuotaEntry>,
    /// `entries` by the hash of their (user, client-id) components, built on the first
    /// [`ClientQuotas::resolve`] (on each shard's published copy) so a request's eight-level
    /// lookup costs eight hash probes, not eight scans of up to `QUOTA_ENTITIES_MAX` entities.
    /// Reset by every [`ClientQuotas::apply`].
    #[serde(skip)]
    index: std::sync::OnceLock<HashMap<u64, Vec<usize>>>,
}

impl PartialEq for ClientQuotas {
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries
    }
}

/// A refused alteration or filter: Kafka's code and message.
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaError {
    pub code: ResponseError,
    pub message: String,
}

fn invalid(message: impl Into<String>) -> QuotaError {
    QuotaError {
        code: ResponseError::InvalidRequest,
        message: message.into(),
    }
}

/// One alteration of one entity: set `key` to `Some(value)`, or remove it (`None`).
pub type Op = (String, Option<f64>);

/// The quota kinds Sluice enforces, each tied to its config key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QuotaKind {
    Produce,
    Fetch,
    Request,
}

impl QuotaKind {
    pub const ALL: [QuotaKind; 3] = [QuotaKind::Produce, QuotaKind::Fetch, QuotaKind::Request];

    pub fn key(self) -> &'static str {
        match self {
            QuotaKind::Produce => PRODUCER_BYTE_RATE,
            QuotaKind::Fetch => CONSUMER_BYTE_RATE,
            QuotaKind::Request => REQUEST_PERCENTAGE,
        }
    }

    /// The label of the kind in metrics (Kafka's quota type names).
    pub fn name(self) -> &'static str {
        match self {
            QuotaKind::Produce => "produce",
            QuotaKind::Fetch => "fetch",
            QuotaKind::Request => "request",
        }
    }
}

/// Whom usage is accounted to, as Kafka's quota metric tags: the user (empty when the matched
/// quota does not involve users) and the client id (empty when it does not involve client ids).
/// All connections with the same key share one budget.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QuotaKey {
    pub user: String,
    pub client_id: String,
}

/// The quota one connection is held to for one kind: where its usage is accounted and the bound.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub key: QuotaKey,
    pub bound: f64,
}

/// Check one entity of an alteration (Kafka's `ClientQuotaControlManager` rules).
pub fn validate_entity(entity: &[(String, Option<String>)]) -> Result<Entity, QuotaError> {
    if entity.is_empty() {
        return Err(invalid("Invalid empty client quota entity"));
    }
    let mut out = Entity::new();
    for (t, name) in entity {
        match t.as_str() {
            USER | CLIENT_ID => {}
            IP => {
                return Err(invalid(
                    "Entity type ip (connection_creation_rate) is not supported by Sluice",
                ))
            }
            other => {
                return Err(invalid(format!(
                    "Unhandled client quota entity type: {other}"
                )))
            }
        }
        if name.as_deref() == Some("") {
            return Err(invalid(format!(
                "Empty name for client quota entity type {t}: use null for the default"
            )));
        }
        if out.insert(t.clone(), name.clone()).is_some() {
            return Err(invalid(format!("Duplicate entity type {t}")));
        }
    }
    Ok(out)
}

/// Check one key and value (`None`: a removal, checked for the key only).
pub fn validate_op(key: &str, value: Option<f64>) -> Result<(), QuotaError> {
    let Some((_, integral)) = KEYS.iter().find(|(k, _)| *k == key) else {
        return Err(invalid(format!("Invalid configuration key {key}")));
    };
    let Some(value) = value else {
        return Ok(());
    };
    if !value.is_finite() || value <= 0.0 {
        return Err(invalid(format!("Quota {key} must be greater than 0")));
    }
    if *integral && (value.fract() != 0.0 || value > i64::MAX as f64) {
        return Err(invalid(format!("Integer value required for {key}")));
    }
    Ok(())
}

impl ClientQuotas {
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn find(&self, entity: &Entity) -> Option<&QuotaEntry> {
        self.entries.iter().find(|e| &e.entity == entity)
    }

    /// Apply `ops` to `entity` (already validated): values set or removed; an entity left with
    /// no values is dropped, as Kafka drops it. Fails if it would add an entity past
    /// `entities_max`.
    pub fn apply(
        &mut self,
        entity: &Entity,
        ops: &[Op],
        entities_max: usize,
    ) -> Result<(), QuotaError> {
        self.index = std::sync::OnceLock::new();
        let i = match self.entries.iter().position(|e| &e.entity == entity) {
            Some(i) => i,
            None => {
                if ops.iter().all(|(_, v)| v.is_none()) {
                    return Ok(());
                }
                if self.entries.len() >= entities_max {
                    return Err(QuotaError {
                        code: ResponseError::PolicyViolation,
                        message: format!(
                            "At most {entities_max} client quota entities may be configured \
                             (QUOTA_ENTITIES_MAX)"
                        ),
                    });
                }
                self.entries.push(QuotaEntry {
                    entity: entity.clone(),
                    values: BTreeMap::new(),
                });
                self.entries.len() - 1
            }
        };
        let Some(entry) = self.entries.get_mut(i) else {
            return Ok(());
        };
        for (key, value) in ops {
            match value {
                Some(v) => {
                    entry.values.insert(key.clone(), *v);
                }
                None => {
                    entry.values.remove(key);
                }
            }
        }
        if entry.values.is_empty() {
            self.entries.remove(i);
        }
        Ok(())
    }

    /// The entries DescribeClientQuotas returns for a filter of `(entity type, match type,
    /// match)` components (0 EXACT, 1 DEFAULT, 2 ANY: any name of that type, default included),
    /// `strict` meaning "entities with exactly the filter's types". Kafka's rules
    /// (`ClientQuotasImage.describe`), with its error codes and messages.
    pub fn describe(
        &self,
        components: &[(String, i8, Option<String>)],
        strict: bool,
    ) -> Result<Vec<&QuotaEntry>, QuotaError> {
        let mut exact: BTreeMap<&str, Option<&str>> = BTreeMap::new();
        let mut typed: Vec<&str> = Vec::new();
        for (t, match_type, name) in components {
            let t = t.as_str();
            if t.is_empty() {
                return Err(invalid("Invalid empty entity type."));
            }
            if exact.contains_key(t) || typed.contains(&t) {
                return Err(invalid(format!(
                    "Entity type {t} cannot appear more than once in the filter."
                )));
            }
            if ![IP, USER, CLIENT_ID].contains(&t) {
                return Err(QuotaError {
                    code: ResponseError::UnsupportedVersion,
                    message: format!("Unsupported entity type {t}"),
                });
            }
            match (*match_type, name) {
                (0, None) => {
                    return Err(invalid(
                        "Request specified MATCH_TYPE_EXACT, but set match string to null.",
                    ))
                }
                (0, Some(n)) => {
                    exact.insert(t, Some(n.as_str()));
                }
                (1, Some(_)) => {
                    return Err(invalid(
                        "Request specified MATCH_TYPE_DEFAULT, but also specified a match string.",
                    ))
                }
                (1, None) => {
                    exact.insert(t, None);
                }
                (2, Some(_)) => return Err(invalid(
                    "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string.",
                )),
                (2, None) => typed.push(t),
                (other, _) => return Err(invalid(format!("Unknown match type {other}"))),
            }
        }
        let has = |t: &str| exact.contains_key(t) || typed.contains(&t);
        if has(IP) && (has(USER) || has(CLIENT_ID)) {
            return Err(invalid(
                "Invalid entity filter component combination. IP filter component should not be \
                 used with user or clientId filter component.",
            ));
        }
        if exact.is_empty() && typed.is_empty() {
            // No filter: everything, unless strict (then nothing matches exactly no types).
            return Ok(if strict {
                Vec::new()
            } else {
                self.entries.iter().collect()
            });
        }
        let filtered = self.entries.iter().filter(|e| {
            exact
                .iter()
                .all(|(t, n)| e.entity.get(*t).is_some_and(|name| name.as_deref() == *n))
                && typed.iter().all(|t| e.entity.contains_key(*t))
                && (!strict || e.entity.len() == exact.len() + typed.len())
        });
        Ok(filtered.collect())
    }

    /// The quota of `kind` that a connection of `user` with `client_id` is held to, by Kafka's
    /// precedence (first match wins):
    ///
    /// 1. `/config/users/<user>/clients/<client-id>`
    /// 2. `/config/users/<user>/clients/<default>`
    /// 3. `/config/users/<user>`
    /// 4. `/config/users/<default>/clients/<client-id>`
    /// 5. `/config/users/<default>/clients/<default>`
    /// 6. `/config/users/<default>`
    /// 7. `/config/clients/<client-id>`
    /// 8. `/config/clients/<default>`
    ///
    /// Usage is accounted per user where the matched level names users (a specific one or the
    /// default) and per client id where it names client ids, as Kafka tags its quota metrics:
    /// `/config/users/<default>` gives each user its own budget of that size.
    pub fn resolve(&self, kind: QuotaKind, user: &str, client_id: &str) -> Option<Resolved> {
        if self.entries.is_empty() {
            return None;
        }
        let key = kind.key();
        // (user component, client component): Some(Some(name)), Some(None) = default, None =
        // absent.
        let levels: [(Part<'_>, Part<'_>); 8] = [
            (Some(Some(user)), Some(Some(client_id))),
            (Some(Some(user)), Some(None)),
            (Some(Some(user)), None),
            (Some(None), Some(Some(client_id))),
            (Some(None), Some(None)),
            (Some(None), None),
            (None, Some(Some(client_id))),
            (None, Some(None)),
        ];
        let index = self.index.get_or_init(|| {
            let mut index: HashMap<u64, Vec<usize>> = HashMap::new();
            for (i, e) in self.entries.iter().enumerate() {
                let u = e.entity.get(USER).map(Option::as_deref);
                let c = e.entity.get(CLIENT_ID).map(Option::as_deref);
                index.entry(parts_hash(u, c)).or_default().push(i);
            }
            index
        });
        for (u, c) in levels {
            let hit = index
                .get(&parts_hash(u, c))
                .into_iter()
                .flatten()
                .filter_map(|&i| self.entries.get(i))
                .find(|e| {
                    component_is(&e.entity, USER, u)
                        && component_is(&e.entity, CLIENT_ID, c)
                        && e.values.contains_key(key)
                });
            if let Some(e) = hit {
                let bound = e.values.get(key).copied()?;
                return Some(Resolved {
                    key: QuotaKey {
                        user: if u.is_some() {
                            user.to_string()
                        } else {
                            String::new()
                        },
                        client_id: if c.is_some() {
                            client_id.to_string()
                        } else {
                            String::new()
                        },
                    },
                    bound,
                });
            }
        }
        None
    }

    /// Load from `path`; an absent file is no quotas.
    pub fn load(path: &Path) -> std::io::Result<ClientQuotas> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ClientQuotas::default()),
            Err(e) => Err(e),
        }
    }

    /// The file's whole content for these quotas.
    pub fn image(&self) -> std::io::Result<Vec<u8>> {
        serde_json::to_vec_pretty(self).map_err(std::io::Error::other)
    }

    /// Exactly this entity's entry, if configured.
    pub fn entry(&self, entity: &Entity) -> Option<&QuotaEntry> {
        self.find(entity)
    }
}

/// One component of a precedence level: `Some(Some(name))`, `Some(None)` for `<default>`,
/// `None` for "the entity has no component of this type".
type Part<'a> = Option<Option<&'a str>>;

/// The file the quotas persist to, under the data directory.
pub fn path(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("meta").join("client-quotas.json")
}

/// A hash of an entity's (user, client-id) components, the key of [`ClientQuotas`]' index
/// (SipHash with fixed keys: the same on every shard; collisions are resolved by comparing).
fn parts_hash(user: Part<'_>, client: Part<'_>) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    user.hash(&mut h);
    client.hash(&mut h);
    h.finish()
}

fn component_is(entity: &Entity, t: &str, want: Part<'_>) -> bool {
    match (entity.get(t), want) {
        (None, None) => true,
        (Some(have), Some(want)) => have.as_deref() == want,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entity(parts: &[(&str, Option<&str>)]) -> Entity {
        parts
            .iter()
            .map(|(t, n)| (t.to_string(), n.map(str::to_string)))
            .collect()
    }

    fn set(q: &mut ClientQuotas, parts: &[(&str, Option<&str>)], key: &str, v: f64) {
        q.apply(&entity(parts), &[(key.to_string(), Some(v))], 100)
            .unwrap();
    }

    #[test]
    fn precedence_follows_kafkas_eight_levels() {
        let mut q = ClientQuotas::default();
        let k = PRODUCER_BYTE_RATE;
        set(&mut q, &[(CLIENT_ID, None)], k, 8.0);
        set(&mut q, &[(CLIENT_ID, Some("c"))], k, 7.0);
        set(&mut q, &[(USER, None)], k, 6.0);
        set(&mut q, &[(USER, None), (CLIENT_ID, None)], k, 5.0);
        set(&mut q, &[(USER, None), (CLIENT_ID, Some("c"))], k, 4.0);
        set(&mut q, &[(USER, Some("u"))], k, 3.0);
        set(&mut q, &[(USER, Some("u")), (CLIENT_ID, None)], k, 2.0);
        set(&mut q, &[(USER, Some("u")), (CLIENT_ID, Some("c"))], k, 1.0);
        let want = |bound: f64, user: &str, client: &str| Resolved {
            key: QuotaKey {
                user: user.into(),
                client_id: client.into(),
            },
            bound,
        };
        let r = |q: &ClientQuotas, u: &str, c: &str| q.resolve(QuotaKind::Produce, u, c).unwrap();
        assert_eq!(r(&q, "u", "c"), want(1.0, "u", "c"));
        assert_eq!(r(&q, "u", "x"), want(2.0, "u", "x"));
        let mut levels = vec![
            (&[(USER, Some("u")), (CLIENT_ID, Some("c"))][..]),
            &[(USER, Some("u")), (CLIENT_ID, None)],
        ];
        for parts in levels.drain(..) {
            q.apply(&entity(parts), &[(k.to_string(), None)], 100)
                .unwrap();
        }
        assert_eq!(r(&q, "u", "c"), want(3.0, "u", ""));
        q.apply(&entity(&[(USER, Some("u"))]), &[(k.to_string(), None)], 100)
            .unwrap();
        assert_eq!(r(&q, "u", "c"), want(4.0, "u", "c"));
        assert_eq!(r(&q, "v", "x"), want(5.0, "v", "x"));
        q.apply(
            &entity(&[(USER, None), (CLIENT_ID, Some("c"))]),
            &[(k.to_string(), None)],
            100,
        )
        .unwrap();
        q.apply(
            &entity(&[(USER, None), (CLIENT_ID, None)]),
            &[(k.to_string(), None)],
            100,
        )
        .unwrap();
        assert_eq!(r(&q, "u", "c"), want(6.0, "u", ""));
        q.apply(&entity(&[(USER, None)]), &[(k.to_string(), None)], 100)
            .unwrap();
        assert_eq!(r(&q, "u", "c"), want(7.0, "", "c"));
        assert_eq!(r(&q, "u", "other"), want(8.0, "", "other"));
        assert!(q.resolve(QuotaKind::Fetch, "u", "c").is_none());
        assert_eq!(
            q.entries.len(),
            2,
            "entities with no values left are dropped"
        );
    }

    #[test]
    fn validation_refuses_what_kafka_refuses() {
        assert!(validate_op("producer_byte_rate", Some(1024.0)).is_ok());
        assert!(validate_op("request_percentage", Some(12.5)).is_ok());
        assert!(validate_op("producer_byte_rate", Some(10.5)).is_err());
        assert!(validate_op("producer_byte_rate", Some(0.0)).is_err());
        assert!(validate_op("producer_byte_rate", Some(-1.0)).is_err());
        assert!(validate_op("producer_byte_rate", Some(f64::NAN)).is_err());
        let e = validate_op("bogus", Some(1.0)).unwrap_err();
        assert_eq!(e.code, ResponseError::InvalidRequest);
        assert!(validate_op("bogus", None).is_err());
        assert!(validate_entity(&[]).is_err());
        assert!(validate_entity(&[("topic".into(), None)]).is_err());
        assert!(
            validate_entity(&[("user".into(), None), ("user".into(), Some("a".into()))]).is_err()
        );
        assert!(validate_entity(&[("ip".into(), None)]).is_err());
        assert!(validate_entity(&[
            ("user".into(), Some("a".into())),
            ("client-id".into(), None)
        ])
        .is_ok());
    }

    #[test]
    fn resolve_at_the_entity_limit_uses_the_index_and_sees_every_change() {
        let mut q = ClientQuotas::default();
        let max = crate::limits::QUOTA_ENTITIES_MAX;
        let op = |v: f64| vec![(PRODUCER_BYTE_RATE.to_string(), Some(v))];
        for i in 0..max - 1 {
            let name = format!("client-{i}");
            q.apply(
                &entity(&[(CLIENT_ID, Some(&name))]),
                &op(i as f64 + 1.0),
                max,
            )
            .unwrap();
        }
        q.apply(&entity(&[(USER, None)]), &op(7.0), max).unwrap();
        assert_eq!(q.entries.len(), max);
        // A user's default outranks a client id's own quota (level 5 before level 7).
        let r = q.resolve(QuotaKind::Produce, "alice", "client-42").unwrap();
        assert_eq!(r.bound, 7.0);
        assert_eq!(r.key.user, "alice");
        assert!(q.resolve(QuotaKind::Fetch, "alice", "client-42").is_none());
        // The published copy was indexed; a change made on a clone (as the controller does)
        // must not be hidden by the stale index.
        let mut next = q.clone();
        next.apply(
            &entity(&[(USER, None)]),
            &[(PRODUCER_BYTE_RATE.to_string(), None)],
            max,
        )
        .unwrap();
        let r = next
            .resolve(QuotaKind::Produce, "alice", "client-42")
            .unwrap();
        assert_eq!(r.bound, 43.0);
        assert_eq!(r.key.client_id, "client-42");
        assert_eq!(r.key.user, "");
        assert!(next
            .resolve(QuotaKind::Produce, "alice", "nobody")
            .is_none());
        assert_eq!(
            q.resolve(QuotaKind::Produce, "bob", "x").unwrap().bound,
            7.0
        );
    }

    #[test]
    fn the_entity_limit_is_enforced_but_existing_entities_still_change() {
        let mut q = ClientQuotas::default();
        let op = |v| vec![(PRODUCER_BYTE_RATE.to_string(), Some(v))];
        q.apply(&entity(&[(USER, Some("a"))]), &op(1.0), 2).unwrap();
        q.apply(&entity(&[(USER, Some("b"))]), &op(1.0), 2).unwrap();
        let e = q
            .apply(&entity(&[(USER, Some("c"))]), &op(1.0), 2)
            .unwrap_err();
        assert_eq!(e.code, ResponseError::PolicyViolation);
        q.apply(&entity(&[(USER, Some("a"))]), &op(2.0), 2).unwrap();
        assert_eq!(q.entries.len(), 2);
    }

    #[test]
    fn describe_filters_match_kafka() {
        let mut q = ClientQuotas::default();
        let k = CONSUMER_BYTE_RATE;
        set(&mut q, &[(USER, Some("a"))], k, 1.0);
        set(&mut q, &[(USER, None)], k, 1.0);
        set(&mut q, &[(USER, Some("a")), (CLIENT_ID, Some("c"))], k, 1.0);
        set(&mut q, &[(CLIENT_ID, Some("c"))], k, 1.0);
        let n = |c: &[(&str, i8, Option<&str>)], strict| {
            let c: Vec<_> = c
                .iter()
                .map(|(t, m, n)| (t.to_string(), *m, n.map(str::to_string)))
                .collect();
            q.describe(&c, strict).map(|v| v.len())
        };
        assert_eq!(n(&[], false), Ok(4));
        assert_eq!(n(&[], true), Ok(0));
        assert_eq!(n(&[(USER, 0, Some("a"))], false), Ok(2));
        assert_eq!(n(&[(USER, 0, Some("a"))], true), Ok(1));
        assert_eq!(n(&[(USER, 1, None)], false), Ok(1));
        assert_eq!(n(&[(USER, 2, None)], false), Ok(3));
        assert_eq!(n(&[(USER, 2, None)], true), Ok(2));
        assert_eq!(n(&[(USER, 2, None), (CLIENT_ID, 2, None)], true), Ok(1));
        assert_eq!(n(&[(CLIENT_ID, 0, Some("c"))], true), Ok(1));
        let code = |r: Result<usize, QuotaError>| r.unwrap_err().code;
        assert_eq!(
            code(n(&[(USER, 0, None)], false)),
            ResponseError::InvalidRequest
        );
        assert_eq!(
            code(n(&[(USER, 1, Some("a"))], false)),
            ResponseError::InvalidRequest
        );
        assert_eq!(
            code(n(&[(USER, 2, Some("a"))], false)),
            ResponseError::InvalidRequest
        );
        assert_eq!(
            code(n(&[(USER, 3, None)], false)),
            ResponseError::InvalidRequest
        );
        assert_eq!(
            code(n(&[(USER, 2, None), (USER, 1, None)], false)),
            ResponseError::InvalidRequest
        );
        assert_eq!(
            code(n(&[("topic", 2, None)], false)),
            ResponseError::UnsupportedVersion
        );
        assert_eq!(
            code(n(&[(IP, 2, None), (USER, 2, None)], false)),
            ResponseError::InvalidRequest
        );
    }

    #[test]
    fn quotas_persist_and_reload() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("q.json");
        assert!(ClientQuotas::load(&p).unwrap().is_empty());
        let mut q = ClientQuotas::default();
        set(
            &mut q,
            &[(USER, None), (CLIENT_ID, Some("c"))],
            REQUEST_PERCENTAGE,
            12.5,
        );
        std::fs::write(&p, q.image().unwrap()).unwrap();
        assert_eq!(ClientQuotas::load(&p).unwrap(), q);
    }
}
