//! AlterConfigs (key 33, the legacy whole-set form): a topic's configs, or the cluster
//! default BROKER resource's dynamic configs, become exactly those given, as in Apache Kafka.

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse, ApiKey, RequestHeader};

use super::incremental_alter_configs::{
    alter_broker, duplicate_resource, duplicated, unsupported_resource, RESOURCE_BROKER,
    RESOURCE_TOPIC,
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
    key: ApiKey::AlterConfigs,
    min: 0,
    max: 2,
};

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let request = AlterConfigsRequest::try_decode(body, header.request_api_version)?;
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
        } else if r.resource_type != RESOURCE_TOPIC && r.resource_type != RESOURCE_BROKER {
            Err(unsupported_resource(r.resource_type))
        } else {
            let ops: Vec<ConfigOp> = r
                .configs
                .iter()
                .filter_map(|c| {
                    c.value
                        .as_ref()
                        .map(|v| ConfigOp::Set(c.name.to_string(), v.to_string()))
                })
                .collect();
            if r.resource_type == RESOURCE_BROKER {
                alter_broker(
                    shard,
                    r.resource_name.as_str(),
                    ops,
                    true,
                    request.validate_only,
                )
                .await
            } else {
                shard
                    .alter_configs(
                        ConfigResource::Topic(r.resource_name.to_string()),
                        ops,
                        true,
                        request.validate_only,
                    )
                    .await
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
        &AlterConfigsResponse::default().with_responses(responses),
    ))
}
