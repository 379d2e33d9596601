//! IncrementalAlterConfigs (key 44): SET / DELETE / APPEND / SUBTRACT on topic configs, on
//! the dynamic broker configs of the cluster default BROKER resource (`""`) or a broker id,
//! and on GROUP resources' group configs (`metadata::group_configs`), applied by the
//! controller and published to every shard before the answer.

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{
    ApiKey, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, RequestHeader,
};

use super::{encode, str_bytes, Reply, Versions};
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::security::authz::AclOperation;
use crate::security::authz_helpers::Authz;
use crate::security::session::Session;
use crate::shard::control::ControlError;
use crate::shard::topic_configs::{ConfigOp, ConfigResource};
use crate::shard::Shard;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::IncrementalAlterConfigs,
    min: 0,
    max: 1,
};

pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;
/// A group's configs (Kafka 4's GROUP resource, KIP-848).
pub const RESOURCE_GROUP: i8 = 32;

/// The answer for a resource type Sluice can't change.
pub fn unsupported_resource(_resource_type: i8) -> ControlError {
    ControlError {
        code: ResponseError::InvalidRequest.code(),
        message: "Unsupported resource type.".into(),
    }
}

/// A BROKER resource's change, on the controller: the cluster default (`""`) or one broker
/// id (a shard: its partitions and connections, `metadata::broker_configs`); `replace`: the
/// legacy AlterConfigs' whole set. Another name is Kafka's INVALID_REQUEST.
pub async fn alter_broker(
    shard: &Shard,
    name: &str,
    ops: Vec<ConfigOp>,
    replace: bool,
    validate_only: bool,
) -> Result<(), ControlError> {
    let broker = match broker_id(shard, name) {
        Ok(b) => b,
        Err(message) => {
            return Err(ControlError {
                code: ResponseError::InvalidRequest.code(),
                message,
            })
        }
    };
    shard
        .alter_configs(ConfigResource::Broker(broker), ops, replace, validate_only)
        .await
}

/// A BROKER resource name: None for the cluster default `""`, else a shard's id; any other
/// name gets Kafka's message.
pub fn broker_id(shard: &Shard, name: &str) -> Result<Option<u32>, String> {
    if name.is_empty() {
        return Ok(None);
    }
    let shards = shard.config.shards;
    match name.parse::<u32>() {
        Ok(id) if id < shards => Ok(Some(id)),
        _ => Err(format!(
            "Unexpected broker id, expected 0 to {} or empty string, but received {name}",
            shards.saturating_sub(1)
        )),
    }
}

/// The answer for every copy of a resource named more than once in one request, none of which
/// is applied (Kafka's "Duplicate resource"). Without it, one request naming an existing topic
/// thousands of times ran as many controller operations, each persisting the metadata, and
/// held the client (and the controller) for seconds.
pub fn duplicate_resource() -> ControlError {
    ControlError {
        code: ResponseError::InvalidRequest.code(),
        message: "Duplicate resource.".into(),
    }
}

/// Which of `resources` (type, name) appear more than once in the request.
pub fn duplicated<'a>(resources: impl Iterator<Item = (i8, &'a str)> + Clone) -> Vec<bool> {
    let mut seen = std::collections::HashMap::new();
    for r in resources.clone() {
        *seen.entry(r).or_insert(0u32) += 1;
    }
    resources.map(|r| seen.get(&r) > Some(&1)).collect()
}

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let request = IncrementalAlterConfigsRequest::try_decode(body, header.request_api_version)?;
    let authz = Authz::new(shard, session);
    let mut responses = Vec::with_capacity(request.resources.len());
    let duplicates = duplicated(
        request
            .resources
            .iter()
            .map(|r| (r.resource_type, r.resource_name.as_str())),
    );
    for (r, duplicate) in request.resources.iter().zip(duplicates) {
        // ALTER_CONFIGS on the topic, or on the cluster for broker resources (Kafka's
        // ControllerApis), after the duplicate check; denied: the error, its default message.
        let denied = authz
            .config_resource(
                AclOperation::AlterConfigs,
                r.resource_type,
                &r.resource_name,
            )
            .and_then(Result::err);
        let result = if duplicate {
            Err(duplicate_resource())
        } else if let Some(error) = denied {
            Err(ControlError {
                code: error.code(),
                message: error.message().to_string(),
            })
        } else if !matches!(
            r.resource_type,
            RESOURCE_TOPIC | RESOURCE_BROKER | RESOURCE_GROUP
        ) {
            Err(unsupported_resource(r.resource_type))
        } else if r.resource_type == RESOURCE_GROUP && r.resource_name.is_empty() {
            Err(ControlError {
                code: ResponseError::InvalidRequest.code(),
                message: "Group name must not be empty".into(),
            })
        } else {
            let ops: Result<Vec<ConfigOp>, ControlError> = r
                .configs
                .iter()
                .map(|c| {
                    let name = c.name.to_string();
                    let value = c.value.as_ref().map(|v| v.to_string());
                    match (c.config_operation, value) {
                        (0, Some(v)) => Ok(ConfigOp::Set(name, v)),
                        (1, _) => Ok(ConfigOp::Delete(name)),
                        (2, Some(v)) => Ok(ConfigOp::Append(name, v)),
                        (3, Some(v)) => Ok(ConfigOp::Subtract(name, v)),
                        (0 | 2 | 3, None) => Err(ControlError {
                            code: ResponseError::InvalidRequest.code(),
                            message: format!("Null value not supported for {name}"),
                        }),
                        (op, _) => Err(ControlError {
                            code: ResponseError::InvalidRequest.code(),
                            message: format!("Unknown config operation {op}"),
                        }),
                    }
                })
                .collect();
            match ops {
                Ok(ops) if r.resource_type == RESOURCE_BROKER => {
                    alter_broker(
                        shard,
                        r.resource_name.as_str(),
                        ops,
                        false,
                        request.validate_only,
                    )
                    .await
                }
                Ok(ops) if r.resource_type == RESOURCE_GROUP => {
                    shard
                        .alter_configs(
                            ConfigResource::Group(r.resource_name.to_string()),
                            ops,
                            false,
                            request.validate_only,
                        )
                        .await
                }
                Ok(ops) => {
                    shard
                        .alter_configs(
                            ConfigResource::Topic(r.resource_name.to_string()),
                            ops,
                            false,
                            request.validate_only,
                        )
                        .await
                }
                Err(e) => Err(e),
            }
        };
        let resp = AlterConfigsResourceResponse::default()
            .with_resource_type(r.resource_type)
            .with_resource_name(r.resource_name.clone());
        // Kafka answers a success with a null message (its `ApiError.NONE`), not the
        // schema's default empty string.
        responses.push(match result {
            Ok(()) => resp.with_error_message(None),
            Err(e) => resp
                .with_error_code(e.code)
                .with_error_message(Some(str_bytes(&e.message))),
        });
    }
    Ok(encode(
        &shard.metrics,
        header,
        &IncrementalAlterConfigsResponse::default().with_responses(responses),
    ))
}
