//! Authorization: the one question every handler asks — may this connection's principal do
//! `operation` on this resource? — with Kafka's operation and resource-type codes.
//!
//! Handlers call [`authorize`] (and [`authorized_operations`] for the `*_authorized_operations`
//! fields) on the shard that received the request, before anything is routed to another
//! shard, so a forwarded task never needs the principal. The ACLs themselves (bindings,
//! matching, the per-connection decision cache) live in `security::acl`; their store is
//! `metadata::acls`, changed on the controller (`shard::acl_control`).
//!
//! Lives on: every shard (pure functions over the shard's snapshot and the connection's session).

use crate::security::session::Session;
use crate::shard::Shard;

/// Kafka's `AclOperation` codes (as on the wire in CreateAcls / DescribeAcls and in the
/// authorized-operations bit fields: bit `code` set means allowed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(i8)]
pub enum AclOperation {
    Unknown = 0,
    Any = 1,
    All = 2,
    Read = 3,
    Write = 4,
    Create = 5,
    Delete = 6,
    Alter = 7,
    Describe = 8,
    ClusterAction = 9,
    DescribeConfigs = 10,
    AlterConfigs = 11,
    IdempotentWrite = 12,
    CreateTokens = 13,
    DescribeTokens = 14,
    TwoPhaseCommit = 15,
}

/// Kafka's `ResourceType` codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(i8)]
pub enum ResourceType {
    Unknown = 0,
    Any = 1,
    Topic = 2,
    Group = 3,
    Cluster = 4,
    TransactionalId = 5,
    DelegationToken = 6,
    User = 7,
}

impl AclOperation {
    /// Every operation, in code order.
    pub const ALL_CODES: [AclOperation; 16] = [
        AclOperation::Unknown,
        AclOperation::Any,
        AclOperation::All,
        AclOperation::Read,
        AclOperation::Write,
        AclOperation::Create,
        AclOperation::Delete,
        AclOperation::Alter,
        AclOperation::Describe,
        AclOperation::ClusterAction,
        AclOperation::DescribeConfigs,
        AclOperation::AlterConfigs,
        AclOperation::IdempotentWrite,
        AclOperation::CreateTokens,
        AclOperation::DescribeTokens,
        AclOperation::TwoPhaseCommit,
    ];

    /// The operation with wire code `code`; None for a code Kafka does not define (Kafka
    /// reads those as UNKNOWN).
    pub fn from_code(code: i8) -> Option<AclOperation> {
        usize::try_from(code)
            .ok()
            .and_then(|i| Self::ALL_CODES.get(i).copied())
    }

    /// Kafka's name (`AclOperation.name()`): `READ`, `IDEMPOTENT_WRITE`, ...
    pub fn name(self) -> &'static str {
        match self {
            AclOperation::Unknown => "UNKNOWN",
            AclOperation::Any => "ANY",
            AclOperation::All => "ALL",
            AclOperation::Read => "READ",
            AclOperation::Write => "WRITE",
            AclOperation::Create => "CREATE",
            AclOperation::Delete => "DELETE",
            AclOperation::Alter => "ALTER",
            AclOperation::Describe => "DESCRIBE",
            AclOperation::ClusterAction => "CLUSTER_ACTION",
            AclOperation::DescribeConfigs => "DESCRIBE_CONFIGS",
            AclOperation::AlterConfigs => "ALTER_CONFIGS",
            AclOperation::IdempotentWrite => "IDEMPOTENT_WRITE",
            AclOperation::CreateTokens => "CREATE_TOKENS",
            AclOperation::DescribeTokens => "DESCRIBE_TOKENS",
            AclOperation::TwoPhaseCommit => "TWO_PHASE_COMMIT",
        }
    }

    /// From Kafka's name in any case, with or without underscores (`IdempotentWrite`,
    /// `idempotent_write`, as kafka-acls.sh accepts them).
    pub fn from_name(name: &str) -> Option<AclOperation> {
        Self::ALL_CODES
            .into_iter()
            .find(|op| loose_eq(op.name(), name))
    }
}

impl ResourceType {
    /// Every resource type, in code order.
    pub const ALL_CODES: [ResourceType; 8] = [
        ResourceType::Unknown,
        ResourceType::Any,
        ResourceType::Topic,
        ResourceType::Group,
        ResourceType::Cluster,
        ResourceType::TransactionalId,
        ResourceType::DelegationToken,
        ResourceType::User,
    ];

    /// The resource type with wire code `code`; None for a code Kafka does not define.
    pub fn from_code(code: i8) -> Option<ResourceType> {
        usize::try_from(code)
            .ok()
            .and_then(|i| Self::ALL_CODES.get(i).copied())
    }

    /// Kafka's name: `TOPIC`, `TRANSACTIONAL_ID`, ...
    pub fn name(self) -> &'static str {
        match self {
            ResourceType::Unknown => "UNKNOWN",
            ResourceType::Any => "ANY",
            ResourceType::Topic => "TOPIC",
            ResourceType::Group => "GROUP",
            ResourceType::Cluster => "CLUSTER",
            ResourceType::TransactionalId => "TRANSACTIONAL_ID",
            ResourceType::DelegationToken => "DELEGATION_TOKEN",
            ResourceType::User => "USER",
        }
    }

    /// From Kafka's name in any case, with or without underscores.
    pub fn from_name(name: &str) -> Option<ResourceType> {
        Self::ALL_CODES
            .into_iter()
            .find(|t| loose_eq(t.name(), name))
    }
}

/// `a` and `b` equal ignoring case, `_` and `-` (`IDEMPOTENT_WRITE` = `IdempotentWrite`).
pub(crate) fn loose_eq(a: &str, b: &str) -> bool {
    let norm = |s: &str| -> String {
        s.chars()
            .filter(|c| *c != '_' && *c != '-')
            .map(|c| c.to_ascii_uppercase())
            .collect()
    };
    norm(a) == norm(b)
}

/// The one CLUSTER resource's name, as in Kafka.
pub const CLUSTER_NAME: &str = "kafka-cluster";

/// May `session`'s principal perform `operation` on the resource `(resource_type, name)`?
/// With no authorizer configured (`--authorizer none`), everything is allowed (Kafka without
/// `authorizer.class.name`). Otherwise Kafka's StandardAuthorizer rules
/// (`security::acl::AclSet::authorize`) over the ACLs of this shard's snapshot, the answer
/// cached in the session until the ACLs or the principal change.
///
/// One Kafka rule lives here because every caller needs it: IDEMPOTENT_WRITE on the cluster
/// is also allowed to a principal allowed WRITE on any topic (Kafka ≥ 2.8, KIP-679, as
/// `KafkaApis` asks `authorizeByResourceType` for InitProducerId and idempotent Produce).
pub fn authorize(
    shard: &Shard,
    session: &Session,
    operation: AclOperation,
    resource_type: ResourceType,
    name: &str,
) -> bool {
    let config = &shard.config.authorizer;
    if !config.enabled() {
        return true;
    }
    let snapshot = shard.snapshot();
    let acls = &snapshot.acls;
    let host = session.peer.map(|p| p.ip());
    session
        .acl_cache
        .get_or_decide(acls.generation, operation, resource_type, name, || {
            let principal = session.principal();
            acls.authorize(config, &principal, host, operation, resource_type, name)
                || (operation == AclOperation::IdempotentWrite
                    && resource_type == ResourceType::Cluster
                    && acls.authorize_by_resource_type(
                        config,
                        &principal,
                        host,
                        AclOperation::Write,
                        ResourceType::Topic,
                    ))
        })
}

/// Kafka's `authorizeByResourceType`: may `session`'s principal perform `operation` on at
/// least one resource of `resource_type` (e.g. WRITE on some topic)? Not cached (rare).
pub fn authorize_by_resource_type(
    shard: &Shard,
    session: &Session,
    operation: AclOperation,
    resource_type: ResourceType,
) -> bool {
    let config = &shard.config.authorizer;
    if !config.enabled() {
        return true;
    }
    let host = session.peer.map(|p| p.ip());
    shard.snapshot().acls.authorize_by_resource_type(
        config,
        &session.principal(),
        host,
        operation,
        resource_type,
    )
}

/// The operations `session`'s principal may perform on `(resource_type, name)`, as Kafka's
/// authorized-operations bit field (bit `AclOperation as i8` set = allowed). With no
/// authorizer, every operation Kafka lists for that resource type.
pub fn authorized_operations(
    shard: &Shard,
    session: &Session,
    resource_type: ResourceType,
    name: &str,
) -> i32 {
    operations_of(resource_type)
        .iter()
        .filter(|op| authorize(shard, session, **op, resource_type, name))
        .fold(0, |bits, op| bits | 1 << (*op as i8))
}

/// The operations Kafka lists for a resource type (`ResourceType`'s supported operations in
/// Kafka's `AclEntry.supportedOperations`).
pub fn operations_of(resource_type: ResourceType) -> &'static [AclOperation] {
    use AclOperation::*;
    match resource_type {
        ResourceType::Topic => &[
            Read,
            Write,
            Create,
            Delete,
            Alter,
            Describe,
            DescribeConfigs,
            AlterConfigs,
        ],
        ResourceType::Group => &[Read, Describe, Delete],
        ResourceType::Cluster => &[
            Create,
            ClusterAction,
            DescribeConfigs,
            AlterConfigs,
            IdempotentWrite,
            Alter,
            Describe,
        ],
        ResourceType::TransactionalId => &[Describe, Write, TwoPhaseCommit],
        ResourceType::DelegationToken => &[Describe],
        ResourceType::User => &[CreateTokens, DescribeTokens],
        ResourceType::Unknown | ResourceType::Any => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_codes_are_kafkas() {
        assert_eq!(AclOperation::Read as i8, 3);
        assert_eq!(AclOperation::IdempotentWrite as i8, 12);
        assert_eq!(ResourceType::Topic as i8, 2);
        assert_eq!(ResourceType::TransactionalId as i8, 5);
        for op in AclOperation::ALL_CODES {
            assert_eq!(AclOperation::from_code(op as i8), Some(op));
            assert_eq!(AclOperation::from_name(op.name()), Some(op));
        }
        for t in ResourceType::ALL_CODES {
            assert_eq!(ResourceType::from_code(t as i8), Some(t));
            assert_eq!(ResourceType::from_name(t.name()), Some(t));
        }
        assert_eq!(
            AclOperation::from_name("IdempotentWrite"),
            Some(AclOperation::IdempotentWrite)
        );
        assert_eq!(
            ResourceType::from_name("transactional-id"),
            Some(ResourceType::TransactionalId)
        );
        assert_eq!(AclOperation::from_code(16), None);
        assert_eq!(ResourceType::from_code(-1), None);
    }
}
