//! Kafka's ACL authorizer (`StandardAuthorizer`'s rules) over the cluster's ACL bindings.
//!
//! - [`binding`]: bindings and binding filters, checked as Kafka checks them.
//! - [`AclSet`]: one immutable generation of the bindings, indexed for matching; part of the
//!   controller's `metadata::Snapshot`, so every shard matches against the same set.
//! - [`cache`]: each connection's decisions, so a check on the hot path is a hash lookup.
//! - [`AuthorizerConfig`]: `--authorizer`, `--super-users`, `--allow-everyone-if-no-acl-found`.
//!
//! Lives on: `AclSet` and `AuthorizerConfig` are shared by every shard (`Arc`, immutable);
//! a connection's `cache::DecisionCache` lives in its `Session` on the accepting shard.

pub mod binding;
pub mod cache;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;

pub use binding::{AclBinding, AclFilter, PatternType, Permission};
use binding::{WILDCARD_HOST, WILDCARD_PRINCIPAL, WILDCARD_RESOURCE};

use crate::security::authz::{AclOperation, ResourceType};
use crate::security::session::KafkaPrincipal;

/// `--authorizer`: Kafka's `authorizer.class.name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthorizerKind {
    /// No authorizer (Kafka without `authorizer.class.name`): every request is allowed and
    /// the ACL APIs answer SECURITY_DISABLED.
    None,
    /// ACLs, as `org.apache.kafka.metadata.authorizer.StandardAuthorizer`.
    Standard,
}

/// The authorizer's broker settings, fixed at start-up, shared by every shard.
#[derive(Debug, Clone)]
pub struct AuthorizerConfig {
    pub kind: AuthorizerKind,
    /// Kafka's `super.users`: principals (`User:admin`) allowed everything, ACLs or not.
    pub super_users: HashSet<String>,
    /// Kafka's `allow.everyone.if.no.acl.found`: the answer for a resource no ACL applies to.
    pub allow_everyone_if_no_acl_found: bool,
}

impl Default for AuthorizerConfig {
    fn default() -> Self {
        AuthorizerConfig {
            kind: AuthorizerKind::None,
            super_users: HashSet::new(),
            allow_everyone_if_no_acl_found: false,
        }
    }
}

impl AuthorizerConfig {
    /// From the serve flags; `super_users` as Kafka's `super.users`: `User:a;User:b`.
    pub fn new(
        kind: AuthorizerKind,
        super_users: &str,
        allow_everyone_if_no_acl_found: bool,
    ) -> Result<AuthorizerConfig, String> {
        let mut users = HashSet::new();
        for u in super_users
            .split(';')
            .map(str::trim)
            .filter(|u| !u.is_empty())
        {
            binding::check_principal(u).map_err(|e| format!("--super-users: {e}"))?;
            users.insert(u.to_string());
        }
        Ok(AuthorizerConfig {
            kind,
            super_users: users,
            allow_everyone_if_no_acl_found,
        })
    }

    pub fn enabled(&self) -> bool {
        self.kind == AuthorizerKind::Standard
    }
}

/// The bindings of one resource type, indexed: literal names (the `*` wildcard among them)
/// and prefixes.
#[derive(Debug, Default)]
struct TypeIndex {
    literal: HashMap<String, Vec<usize>>,
    prefixed: BTreeMap<String, Vec<usize>>,
    /// The longest prefix, so a lookup tries no longer one.
    prefix_bytes_max: usize,
}

/// One generation of the cluster's ACL bindings. Immutable: a change makes a new set with the
/// next generation, which the controller persists and publishes in its snapshot.
#[derive(Debug, Default)]
pub struct AclSet {
    /// Bumped by every change (starts at 1 when loaded): decision caches made under another
    /// generation are thrown away.
    pub generation: u64,
    bindings: Vec<AclBinding>,
    by_type: HashMap<ResourceType, TypeIndex>,
}

impl AclSet {
    /// The set of `bindings` (deduplicated, ordered) as generation `generation`.
    pub fn new(generation: u64, bindings: BTreeSet<AclBinding>) -> AclSet {
        let bindings: Vec<AclBinding> = bindings.into_iter().collect();
        let mut by_type: HashMap<ResourceType, TypeIndex> = HashMap::new();
        for (i, b) in bindings.iter().enumerate() {
            let index = by_type.entry(b.resource_type).or_default();
            match b.pattern_type {
                PatternType::Prefixed => {
                    index.prefixed.entry(b.name.clone()).or_default().push(i);
                    index.prefix_bytes_max = index.prefix_bytes_max.max(b.name.len());
                }
                _ => index.literal.entry(b.name.clone()).or_default().push(i),
            }
        }
        AclSet {
            generation,
            bindings,
            by_type,
        }
    }

    pub fn len(&self) -> usize {
        self.bindings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bindings.is_empty()
    }

    pub fn bindings(&self) -> &[AclBinding] {
        &self.bindings
    }

    /// The bindings a filter matches, in the set's order.
    pub fn matching<'a>(&'a self, filter: &'a AclFilter) -> impl Iterator<Item = &'a AclBinding> {
        self.bindings.iter().filter(move |b| filter.matches(b))
    }

    /// The bindings whose pattern applies to resource `(resource_type, name)`: its literal
    /// name, the `*` wildcard, and every prefix of the name.
    fn applying<'a>(
        &'a self,
        resource_type: ResourceType,
        name: &'a str,
    ) -> impl Iterator<Item = &'a AclBinding> {
        let index = self.by_type.get(&resource_type);
        let literal = index
            .into_iter()
            .flat_map(move |ix| {
                let exact = ix.literal.get(name).into_iter().flatten();
                let wildcard = (name != WILDCARD_RESOURCE)
                    .then(|| ix.literal.get(WILDCARD_RESOURCE))
                    .flatten()
                    .into_iter()
                    .flatten();
                exact.chain(wildcard)
            })
            .copied();
        let prefixed = index
            .into_iter()
            .flat_map(move |ix| {
                (1..=name.len().min(ix.prefix_bytes_max))
                    .filter(move |end| name.is_char_boundary(*end))
                    .filter_map(move |end| name.get(..end).and_then(|p| ix.prefixed.get(p)))
                    .flatten()
            })
            .copied();
        literal
            .chain(prefixed)
            .filter_map(move |i| self.bindings.get(i))
    }

    /// Kafka's `StandardAuthorizer.authorize` for one action: super users are allowed; else a
    /// matching DENY wins over any ALLOW; a matching ALLOW allows; with no binding on the
    /// resource at all the answer is `allow.everyone.if.no.acl.found`; otherwise denied.
    pub fn authorize(
        &self,
        config: &AuthorizerConfig,
        principal: &KafkaPrincipal,
        host: Option<IpAddr>,
        operation: AclOperation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        let principal = principal.to_string();
        if config.super_users.contains(&principal) {
            return true;
        }
        let mut any_on_resource = false;
        let mut allowed = false;
        for b in self.applying(resource_type, name) {
            any_on_resource = true;
            if !principal_matches(b, &principal) || !host_matches(b, host) {
                continue;
            }
            match b.permission {
                Permission::Deny
                    if b.operation == AclOperation::All || b.operation == operation =>
                {
                    return false;
                }
                Permission::Allow if allow_implies(b.operation, operation) => allowed = true,
                _ => {}
            }
        }
        allowed || (!any_on_resource && config.allow_everyone_if_no_acl_found)
    }

    /// Kafka's `Authorizer.authorizeByResourceType`: may the principal perform `operation` on
    /// at least one resource of `resource_type`? Allowed if it may on a resource no binding
    /// names (super users, the wildcard, `allow.everyone.if.no.acl.found`), or if some ALLOW
    /// (exact operation or ALL, no implications) names a literal or prefix that no DENY
    /// dominates (a DENY on the same literal, or on a prefix of it). Kafka uses it for
    /// IDEMPOTENT_WRITE: WRITE on any topic is enough to produce idempotently.
    pub fn authorize_by_resource_type(
        &self,
        config: &AuthorizerConfig,
        principal: &KafkaPrincipal,
        host: Option<IpAddr>,
        operation: AclOperation,
        resource_type: ResourceType,
    ) -> bool {
        // A name no binding can name literally (Kafka uses "hardcode").
        if self.authorize(
            config,
            principal,
            host,
            operation,
            resource_type,
            "hardcode",
        ) {
            return true;
        }
        let who = principal.to_string();
        let mut deny_literal = HashSet::new();
        let mut deny_prefixed = HashSet::new();
        let mut allow = Vec::new();
        for b in self
            .bindings
            .iter()
            .filter(|b| b.resource_type == resource_type)
        {
            if !principal_matches(b, &who)
                || !host_matches(b, host)
                || !(b.operation == operation || b.operation == AclOperation::All)
            {
                continue;
            }
            match (b.permission, b.pattern_type) {
                (Permission::Deny, PatternType::Literal) if b.name == WILDCARD_RESOURCE => {
                    return false;
                }
                (Permission::Deny, PatternType::Literal) => {
                    deny_literal.insert(b.name.as_str());
                }
                (Permission::Deny, _) => {
                    deny_prefixed.insert(b.name.as_str());
                }
                (Permission::Allow, PatternType::Literal) if b.name == WILDCARD_RESOURCE => {
                    return true;
                }
                (Permission::Allow, p) => allow.push((p, b.name.as_str())),
                _ => {}
            }
        }
        allow.into_iter().any(|(pattern, name)| {
            if pattern == PatternType::Literal && deny_literal.contains(name) {
                return false;
            }
            !(1..=name.len())
                .filter(|end| name.is_char_boundary(*end))
                .any(|end| name.get(..end).is_some_and(|p| deny_prefixed.contains(p)))
        })
    }
}

fn principal_matches(b: &AclBinding, principal: &str) -> bool {
    b.principal == principal || b.principal == WILDCARD_PRINCIPAL
}

/// Kafka compares the binding's host with the client's address as text; here both sides are
/// compared as addresses when the binding's parses as one, so `::1` and `0:0:0:0:0:0:0:1`
/// (Java's form) are the same host.
fn host_matches(b: &AclBinding, host: Option<IpAddr>) -> bool {
    if b.host == WILDCARD_HOST {
        return true;
    }
    let Some(host) = host else {
        return false;
    };
    match b.host.parse::<IpAddr>() {
        Ok(ip) => ip == host || ip.to_canonical() == host.to_canonical(),
        Err(_) => b.host == host.to_string(),
    }
}

/// Does an ALLOW binding for `granted` allow `wanted`? ALL allows everything; DESCRIBE is
/// implied by READ, WRITE, DELETE and ALTER; DESCRIBE_CONFIGS by ALTER_CONFIGS (Kafka's
/// `IMPLIES_DESCRIBE` / `IMPLIES_DESCRIBE_CONFIGS`). A DENY never implies: it matches its own
/// operation or ALL only.
pub fn allow_implies(granted: AclOperation, wanted: AclOperation) -> bool {
    use AclOperation::*;
    granted == All
        || granted == wanted
        || (wanted == Describe && matches!(granted, Read | Write | Delete | Alter))
        || (wanted == DescribeConfigs && granted == AlterConfigs)
}

#[cfg(test)]
mod tests;
