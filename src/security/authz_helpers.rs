//! What the handlers need around [`authz::authorize`]: one connection's questions bundled
//! ([`Authz`]: topic, group, cluster, transactional id), the authorized-operations bit fields
//! and the texts Kafka puts beside its authorization error codes.
//!
//! Every check is made on the shard that received the request, before anything is routed to
//! another shard, once per resource named in the request (per topic, never per partition).
//!
//! Lives on: every shard (a borrow of the shard and the connection's session, for one request).

use kafka_protocol::error::ResponseError;

use super::authz::{self, AclOperation, ResourceType, CLUSTER_NAME};
use super::session::Session;
use crate::shard::Shard;

/// Kafka's "authorized operations not requested" value for every `*_authorized_operations`
/// field (the schema default, `Integer.MIN_VALUE`).
pub const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

/// Kafka's config resource types (`ConfigResource.Type`), as DescribeConfigs / AlterConfigs /
/// IncrementalAlterConfigs carry them.
pub const CONFIG_RESOURCE_TOPIC: i8 = 2;
pub const CONFIG_RESOURCE_BROKER: i8 = 4;
pub const CONFIG_RESOURCE_BROKER_LOGGER: i8 = 8;
pub const CONFIG_RESOURCE_CLIENT_METRICS: i8 = 16;
pub const CONFIG_RESOURCE_GROUP: i8 = 32;

/// One request's authorization questions: the shard that received it and its connection's
/// session.
#[derive(Clone, Copy)]
pub struct Authz<'a> {
    shard: &'a Shard,
    session: &'a Session,
}

impl<'a> Authz<'a> {
    pub fn new(shard: &'a Shard, session: &'a Session) -> Authz<'a> {
        Authz { shard, session }
    }

    pub fn allows(&self, operation: AclOperation, resource_type: ResourceType, name: &str) -> bool {
        authz::authorize(self.shard, self.session, operation, resource_type, name)
    }

    pub fn topic(&self, operation: AclOperation, topic: &str) -> bool {
        self.allows(operation, ResourceType::Topic, topic)
    }

    pub fn group(&self, operation: AclOperation, group: &str) -> bool {
        self.allows(operation, ResourceType::Group, group)
    }

    pub fn cluster(&self, operation: AclOperation) -> bool {
        self.allows(operation, ResourceType::Cluster, CLUSTER_NAME)
    }

    pub fn transactional_id(&self, operation: AclOperation, id: &str) -> bool {
        self.allows(operation, ResourceType::TransactionalId, id)
    }

    /// The operations allowed on `(resource_type, name)` as Kafka's bit field.
    pub fn operations(&self, resource_type: ResourceType, name: &str) -> i32 {
        authz::authorized_operations(self.shard, self.session, resource_type, name)
    }

    /// The CLUSTER bit field of Metadata v8–10 and DescribeCluster, as Kafka fills it: the
    /// allowed operations when the principal may DESCRIBE the cluster, else 0.
    pub fn cluster_operations_field(&self) -> i32 {
        if self.cluster(AclOperation::Describe) {
            self.operations(ResourceType::Cluster, CLUSTER_NAME)
        } else {
            0
        }
    }

    /// Is the principal allowed `operation` on the config resource `(resource_type, name)`,
    /// and if not, which error Kafka answers (`ConfigHelper` / `ControllerApis`: BROKER,
    /// BROKER_LOGGER and CLIENT_METRICS are cluster resources, GROUP a group's). `None` for a
    /// resource type Kafka has no rule for (the caller's own error applies).
    pub fn config_resource(
        &self,
        operation: AclOperation,
        resource_type: i8,
        name: &str,
    ) -> Option<Result<(), Denied>> {
        let (allowed, error) = match resource_type {
            CONFIG_RESOURCE_TOPIC => (self.topic(operation, name), Denied::Topic),
            CONFIG_RESOURCE_BROKER
            | CONFIG_RESOURCE_BROKER_LOGGER
            | CONFIG_RESOURCE_CLIENT_METRICS => (self.cluster(operation), Denied::Cluster),
            CONFIG_RESOURCE_GROUP => (self.group(operation, name), Denied::Group),
            _ => return None,
        };
        Some(if allowed { Ok(()) } else { Err(error) })
    }
}

/// Whether an ACL API (CreateAcls / DeleteAcls: ALTER on the cluster; DescribeAcls: DESCRIBE)
/// may run, as Kafka decides it: the cluster permission first, then whether an authorizer is
/// configured at all. The refusal is Kafka's code and message for every result.
pub fn acl_api_refusal(
    shard: &Shard,
    session: &Session,
    operation: AclOperation,
) -> Option<(ResponseError, &'static str)> {
    if !Authz::new(shard, session).cluster(operation) {
        return Some((Denied::Cluster.error(), Denied::Cluster.message()));
    }
    if !shard.config.authorizer.enabled() {
        return Some((
            ResponseError::SecurityDisabled,
            "No Authorizer is configured.",
        ));
    }
    None
}

/// Which kind of authorization failed: Kafka's error code for it and the message Kafka puts
/// beside it where a response carries one (`Errors.message()`, e.g. DescribeConfigs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    Topic,
    Group,
    Cluster,
    TransactionalId,
}

impl Denied {
    pub fn error(self) -> ResponseError {
        match self {
            Denied::Topic => ResponseError::TopicAuthorizationFailed,
            Denied::Group => ResponseError::GroupAuthorizationFailed,
            Denied::Cluster => ResponseError::ClusterAuthorizationFailed,
            Denied::TransactionalId => ResponseError::TransactionalIdAuthorizationFailed,
        }
    }

    pub fn code(self) -> i16 {
        self.error().code()
    }

    /// Kafka's default message for the error.
    pub fn message(self) -> &'static str {
        match self {
            Denied::Topic => "Topic authorization failed.",
            Denied::Group => "Group authorization failed.",
            Denied::Cluster => "Cluster authorization failed.",
            Denied::TransactionalId => "Transactional Id authorization failed.",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denials_carry_kafkas_codes() {
        assert_eq!(Denied::Topic.code(), 29);
        assert_eq!(Denied::Group.code(), 30);
        assert_eq!(Denied::Cluster.code(), 31);
        assert_eq!(Denied::TransactionalId.code(), 53);
    }
}
