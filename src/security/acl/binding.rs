//! ACL bindings and binding filters, Kafka's model: a resource pattern (type, name, LITERAL or
//! PREFIXED) and an access-control entry (principal, host, operation, ALLOW or DENY).
//!
//! Pure values: built from CreateAcls / DescribeAcls / DeleteAcls fields (checked the way
//! Kafka's `AclControlManager.validateNewAcl` and `AclBindingFilter` check them), persisted by
//! `metadata::acls`, matched by `security::acl::AclSet`.

use serde::{Deserialize, Serialize};

use crate::security::authz::{loose_eq, AclOperation, ResourceType, CLUSTER_NAME};

/// Kafka's `PatternType` codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(i8)]
pub enum PatternType {
    Unknown = 0,
    /// Filters only: any pattern type, name compared exactly.
    Any = 1,
    /// Filters only: every pattern that would apply to the named resource (the literal name,
    /// the `*` wildcard, prefixes of it).
    Match = 2,
    Literal = 3,
    Prefixed = 4,
}

impl PatternType {
    const ALL_CODES: [PatternType; 5] = [
        PatternType::Unknown,
        PatternType::Any,
        PatternType::Match,
        PatternType::Literal,
        PatternType::Prefixed,
    ];

    pub fn from_code(code: i8) -> Option<PatternType> {
        usize::try_from(code)
            .ok()
            .and_then(|i| Self::ALL_CODES.get(i).copied())
    }

    pub fn name(self) -> &'static str {
        match self {
            PatternType::Unknown => "UNKNOWN",
            PatternType::Any => "ANY",
            PatternType::Match => "MATCH",
            PatternType::Literal => "LITERAL",
            PatternType::Prefixed => "PREFIXED",
        }
    }

    pub fn from_name(name: &str) -> Option<PatternType> {
        Self::ALL_CODES
            .into_iter()
            .find(|p| loose_eq(p.name(), name))
    }
}

/// Kafka's `AclPermissionType` codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(i8)]
pub enum Permission {
    Unknown = 0,
    Any = 1,
    Deny = 2,
    Allow = 3,
}

impl Permission {
    const ALL_CODES: [Permission; 4] = [
        Permission::Unknown,
        Permission::Any,
        Permission::Deny,
        Permission::Allow,
    ];

    pub fn from_code(code: i8) -> Option<Permission> {
        usize::try_from(code)
            .ok()
            .and_then(|i| Self::ALL_CODES.get(i).copied())
    }

    pub fn name(self) -> &'static str {
        match self {
            Permission::Unknown => "UNKNOWN",
            Permission::Any => "ANY",
            Permission::Deny => "DENY",
            Permission::Allow => "ALLOW",
        }
    }

    pub fn from_name(name: &str) -> Option<Permission> {
        Self::ALL_CODES
            .into_iter()
            .find(|p| loose_eq(p.name(), name))
    }
}

/// Kafka's wildcard resource name: a LITERAL `*` pattern matches every resource of its type.
pub const WILDCARD_RESOURCE: &str = "*";
/// Kafka's wildcard principal: an entry for `User:*` applies to every principal.
pub const WILDCARD_PRINCIPAL: &str = "User:*";
/// Kafka's wildcard host.
pub const WILDCARD_HOST: &str = "*";

/// One ACL: a resource pattern and an access-control entry. Ordered so a set of them has one
/// order on every shard and in the file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AclBinding {
    pub resource_type: ResourceType,
    pub pattern_type: PatternType,
    pub name: String,
    /// `Type:name`, e.g. `User:alice` or `User:*`.
    pub principal: String,
    pub host: String,
    pub operation: AclOperation,
    pub permission: Permission,
}

/// Why a binding or filter is refused: a message for Kafka's INVALID_REQUEST.
pub type Invalid = String;

impl AclBinding {
    /// A binding from CreateAcls' codes, refused the way Kafka refuses it (INVALID_REQUEST with
    /// this message): unknown or filter-only types, an empty name, a CLUSTER name other than
    /// `kafka-cluster`, a principal without `Type:`.
    pub fn from_codes(
        resource_type: i8,
        name: &str,
        pattern_type: i8,
        principal: &str,
        host: &str,
        operation: i8,
        permission: i8,
    ) -> Result<AclBinding, Invalid> {
        let resource_type = match ResourceType::from_code(resource_type) {
            Some(t) if !matches!(t, ResourceType::Unknown | ResourceType::Any) => t,
            _ => return Err(format!("Invalid resourceType {resource_type}")),
        };
        let pattern_type = match PatternType::from_code(pattern_type) {
            Some(p @ (PatternType::Literal | PatternType::Prefixed)) => p,
            Some(p) => return Err(format!("Invalid patternType {}", p.name())),
            None => return Err(format!("Invalid patternType {pattern_type}")),
        };
        let operation = match AclOperation::from_code(operation) {
            Some(o) if !matches!(o, AclOperation::Unknown | AclOperation::Any) => o,
            Some(o) => return Err(format!("Invalid operation {}", o.name())),
            None => return Err(format!("Invalid operation {operation}")),
        };
        let permission = match Permission::from_code(permission) {
            Some(p @ (Permission::Allow | Permission::Deny)) => p,
            Some(p) => return Err(format!("Invalid permissionType {}", p.name())),
            None => return Err(format!("Invalid permissionType {permission}")),
        };
        if name.is_empty() {
            return Err("Resource name should not be empty".into());
        }
        if resource_type == ResourceType::Cluster && name != CLUSTER_NAME {
            return Err(format!(
                "The only valid name for the CLUSTER resource is {CLUSTER_NAME}"
            ));
        }
        check_principal(principal)?;
        // Kafka does not check the host: one that is no address matches no client.
        Ok(AclBinding {
            resource_type,
            pattern_type,
            name: name.to_string(),
            principal: principal.to_string(),
            host: host.to_string(),
            operation,
            permission,
        })
    }
}

/// Kafka's `SecurityUtils.parseKafkaPrincipal` rule: `Type:name`, split at the first colon.
pub fn check_principal(principal: &str) -> Result<(), Invalid> {
    match principal.split_once(':') {
        Some((t, _)) if !t.is_empty() => Ok(()),
        Some(_) => Err(format!(
            "Could not parse principal from `{principal}` (the principal type is empty)"
        )),
        None => Err(format!(
            "Could not parse principal from `{principal}` (no colon is present separating the principal type from the principal name)"
        )),
    }
}

/// A binding filter (DescribeAcls, DeleteAcls): Kafka's `AclBindingFilter`. `None` fields and
/// the ANY codes match everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclFilter {
    pub resource_type: ResourceType,
    pub name: Option<String>,
    pub pattern_type: PatternType,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: AclOperation,
    pub permission: Permission,
}

impl AclFilter {
    /// Matches every binding.
    pub fn any() -> AclFilter {
        AclFilter {
            resource_type: ResourceType::Any,
            name: None,
            pattern_type: PatternType::Any,
            principal: None,
            host: None,
            operation: AclOperation::Any,
            permission: Permission::Any,
        }
    }

    /// A filter from DescribeAcls' / DeleteAcls' codes; UNKNOWN (or undefined) codes are
    /// refused as Kafka refuses them (`Unknown patternFilter.` / `Unknown entryFilter.`).
    pub fn from_codes(
        resource_type: i8,
        name: Option<&str>,
        pattern_type: i8,
        principal: Option<&str>,
        host: Option<&str>,
        operation: i8,
        permission: i8,
    ) -> Result<AclFilter, Invalid> {
        let resource_type = ResourceType::from_code(resource_type)
            .filter(|t| *t != ResourceType::Unknown)
            .ok_or("Unknown patternFilter: resource type.")?;
        let pattern_type = PatternType::from_code(pattern_type)
            .filter(|p| *p != PatternType::Unknown)
            .ok_or("Unknown patternFilter: pattern type.")?;
        let operation = AclOperation::from_code(operation)
            .filter(|o| *o != AclOperation::Unknown)
            .ok_or("Unknown entryFilter: operation.")?;
        let permission = Permission::from_code(permission)
            .filter(|p| *p != Permission::Unknown)
            .ok_or("Unknown entryFilter: permission type.")?;
        Ok(AclFilter {
            resource_type,
            name: name.map(str::to_string),
            pattern_type,
            principal: principal.map(str::to_string),
            host: host.map(str::to_string),
            operation,
            permission,
        })
    }

    /// Kafka's `AclBindingFilter.matches`: the pattern filter and the entry filter both match.
    pub fn matches(&self, b: &AclBinding) -> bool {
        self.matches_pattern(b) && self.matches_entry(b)
    }

    /// Kafka's `ResourcePatternFilter.matches`.
    fn matches_pattern(&self, b: &AclBinding) -> bool {
        if self.resource_type != ResourceType::Any && self.resource_type != b.resource_type {
            return false;
        }
        if !matches!(self.pattern_type, PatternType::Any | PatternType::Match)
            && self.pattern_type != b.pattern_type
        {
            return false;
        }
        let Some(name) = &self.name else {
            return true;
        };
        if self.pattern_type == PatternType::Any || self.pattern_type == b.pattern_type {
            return *name == b.name;
        }
        // MATCH: every pattern that applies to the resource `name`.
        match b.pattern_type {
            PatternType::Literal => *name == b.name || b.name == WILDCARD_RESOURCE,
            PatternType::Prefixed => name.starts_with(&b.name),
            _ => false,
        }
    }

    /// Kafka's `AccessControlEntryFilter.matches`.
    fn matches_entry(&self, b: &AclBinding) -> bool {
        self.principal.as_ref().is_none_or(|p| *p == b.principal)
            && self.host.as_ref().is_none_or(|h| *h == b.host)
            && (self.operation == AclOperation::Any || self.operation == b.operation)
            && (self.permission == Permission::Any || self.permission == b.permission)
    }
}

/// A binding as `meta/acls.json` keeps it: Kafka's names, so the file reads as kafka-acls.sh
/// prints.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredBinding {
    pub resource_type: String,
    pub pattern_type: String,
    pub name: String,
    pub principal: String,
    pub host: String,
    pub operation: String,
    pub permission: String,
}

impl From<&AclBinding> for StoredBinding {
    fn from(b: &AclBinding) -> StoredBinding {
        StoredBinding {
            resource_type: b.resource_type.name().into(),
            pattern_type: b.pattern_type.name().into(),
            name: b.name.clone(),
            principal: b.principal.clone(),
            host: b.host.clone(),
            operation: b.operation.name().into(),
            permission: b.permission.name().into(),
        }
    }
}

impl TryFrom<&StoredBinding> for AclBinding {
    type Error = Invalid;

    fn try_from(s: &StoredBinding) -> Result<AclBinding, Invalid> {
        let code = |v: Option<i8>, what: &str, name: &str| -> Result<i8, Invalid> {
            v.ok_or_else(|| format!("unknown {what} {name:?}"))
        };
        AclBinding::from_codes(
            code(
                ResourceType::from_name(&s.resource_type).map(|t| t as i8),
                "resource type",
                &s.resource_type,
            )?,
            &s.name,
            code(
                PatternType::from_name(&s.pattern_type).map(|p| p as i8),
                "pattern type",
                &s.pattern_type,
            )?,
            &s.principal,
            &s.host,
            code(
                AclOperation::from_name(&s.operation).map(|o| o as i8),
                "operation",
                &s.operation,
            )?,
            code(
                Permission::from_name(&s.permission).map(|p| p as i8),
                "permission",
                &s.permission,
            )?,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(rt: ResourceType, pt: PatternType, name: &str) -> AclBinding {
        AclBinding {
            resource_type: rt,
            pattern_type: pt,
            name: name.into(),
            principal: "User:alice".into(),
            host: "*".into(),
            operation: AclOperation::Read,
            permission: Permission::Allow,
        }
    }

    fn filter(rt: ResourceType, pt: PatternType, name: Option<&str>) -> AclFilter {
        AclFilter {
            resource_type: rt,
            name: name.map(str::to_string),
            pattern_type: pt,
            ..AclFilter::any()
        }
    }

    #[test]
    fn creations_are_checked_as_kafka_checks_them() {
        let ok = AclBinding::from_codes(2, "orders", 3, "User:alice", "*", 3, 3).unwrap();
        assert_eq!(ok.operation, AclOperation::Read);
        let bad = |rt, name, pt, principal, op, perm| {
            AclBinding::from_codes(rt, name, pt, principal, "*", op, perm).unwrap_err()
        };
        assert!(bad(1, "x", 3, "User:a", 3, 3).contains("resourceType"));
        assert!(bad(0, "x", 3, "User:a", 3, 3).contains("resourceType"));
        assert!(bad(2, "x", 2, "User:a", 3, 3).contains("patternType MATCH"));
        assert!(bad(2, "x", 1, "User:a", 3, 3).contains("patternType ANY"));
        assert!(bad(2, "x", 3, "User:a", 1, 3).contains("operation ANY"));
        assert!(bad(2, "x", 3, "User:a", 0, 3).contains("operation UNKNOWN"));
        assert!(bad(2, "x", 3, "User:a", 3, 1).contains("permissionType ANY"));
        assert!(bad(2, "", 3, "User:a", 3, 3).contains("empty"));
        assert!(bad(4, "other", 3, "User:a", 7, 3).contains("kafka-cluster"));
        assert!(bad(2, "x", 3, "alice", 3, 3).contains("no colon"));
        assert!(bad(2, "x", 3, ":alice", 3, 3).contains("type is empty"));
        assert!(bad(2, "x", 3, "User:a", 99, 3).contains("operation 99"));
    }

    #[test]
    fn pattern_filters_follow_kafka() {
        use PatternType::{Literal, Match, Prefixed};
        use ResourceType::{Group, Topic};
        let lit = binding(Topic, Literal, "orders");
        let wild = binding(Topic, Literal, "*");
        let pre = binding(Topic, Prefixed, "ord");
        let other = binding(Topic, Prefixed, "pay");
        let group = binding(Group, Literal, "orders");
        // ANY with a name: exact name, any pattern type.
        let f = filter(ResourceType::Any, PatternType::Any, Some("orders"));
        assert!(f.matches(&lit) && f.matches(&group));
        assert!(!f.matches(&wild) && !f.matches(&pre));
        // MATCH: the literal, the wildcard and prefixes that apply.
        let f = filter(Topic, Match, Some("orders"));
        assert!(f.matches(&lit) && f.matches(&wild) && f.matches(&pre));
        assert!(!f.matches(&other) && !f.matches(&group));
        // LITERAL / PREFIXED: that type, exact name.
        let f = filter(Topic, Prefixed, Some("ord"));
        assert!(f.matches(&pre) && !f.matches(&lit));
        let f = filter(Topic, Literal, Some("*"));
        assert!(f.matches(&wild) && !f.matches(&lit));
        // No name: every pattern of the type (MATCH and ANY alike).
        let f = filter(Topic, Match, None);
        assert!(f.matches(&lit) && f.matches(&pre) && !f.matches(&group));
        let f = filter(Topic, Literal, None);
        assert!(f.matches(&lit) && f.matches(&wild) && !f.matches(&pre));
    }

    #[test]
    fn entry_filters_follow_kafka() {
        let b = binding(ResourceType::Topic, PatternType::Literal, "orders");
        let mut f = AclFilter::any();
        assert!(f.matches(&b));
        f.principal = Some("User:bob".into());
        assert!(!f.matches(&b));
        f.principal = Some("User:alice".into());
        f.operation = AclOperation::Write;
        assert!(!f.matches(&b));
        f.operation = AclOperation::Read;
        f.permission = Permission::Deny;
        assert!(!f.matches(&b));
        f.permission = Permission::Allow;
        f.host = Some("10.0.0.1".into());
        assert!(!f.matches(&b));
        f.host = Some("*".into());
        assert!(f.matches(&b));
        assert!(AclFilter::from_codes(0, None, 1, None, None, 1, 1).is_err());
        assert!(AclFilter::from_codes(1, None, 0, None, None, 1, 1).is_err());
        assert!(AclFilter::from_codes(1, None, 1, None, None, 0, 1).is_err());
        assert!(AclFilter::from_codes(1, None, 1, None, None, 1, 0).is_err());
        assert_eq!(
            AclFilter::from_codes(1, None, 1, None, None, 1, 1).unwrap(),
            AclFilter::any()
        );
    }

    #[test]
    fn stored_form_round_trips() {
        let b = binding(ResourceType::TransactionalId, PatternType::Prefixed, "tx-");
        let s = StoredBinding::from(&b);
        assert_eq!(s.resource_type, "TRANSACTIONAL_ID");
        assert_eq!(AclBinding::try_from(&s).unwrap(), b);
        let mut bad = s.clone();
        bad.operation = "FLY".into();
        assert!(AclBinding::try_from(&bad).is_err());
    }
}
