//! Authorization: the one question every handler asks — may this connection's principal do
//! `operation` on this resource? — with Kafka's operation and resource-type codes.
//!
//! Handlers call [`authorize`] (and [`authorized_operations`] for the `*_authorized_operations`
//! fields) on the shard that received the request, before anything is routed to another
//! shard, so a forwarded task never needs the principal. The ACLs themselves (store, matching,
//! the per-connection decision cache) live in `security::acl`.
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

/// The one CLUSTER resource's name, as in Kafka.
pub const CLUSTER_NAME: &str = "kafka-cluster";

/// May `session`'s principal perform `operation` on the resource `(resource_type, name)`?
/// With no authorizer configured, everything is allowed (Kafka without `authorizer.class.name`).
pub fn authorize(
    shard: &Shard,
    session: &Session,
    operation: AclOperation,
    resource_type: ResourceType,
    name: &str,
) -> bool {
    let _ = (shard, session, operation, resource_type, name);
    true
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
    }
}
