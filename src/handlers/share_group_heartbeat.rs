//! ShareGroupHeartbeat (key 76, v1): a share group member joins (epoch 0), stays (its epoch),
//! or leaves (-1); the answer carries its epoch and, when it changed, its assignment. Runs on
//! the group's coordinator shard (`share::coordinator`).

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::share_group_heartbeat_response::{Assignment, TopicPartitions};
use kafka_protocol::messages::{
    ApiKey, RequestHeader, ShareGroupHeartbeatRequest, ShareGroupHeartbeatResponse,
};

use super::{encode, str_bytes, Reply, Versions};
use crate::groups::{check_group_id, coordinator as groups};
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::security::authz::AclOperation;
use crate::security::authz_helpers::Authz;
use crate::security::session::Session;
use crate::shard::Shard;
use crate::share::group::Heartbeat;
use crate::share::{coordinator, ShareError};

pub const VERSIONS: Versions = Versions {
    key: ApiKey::ShareGroupHeartbeat,
    min: 1,
    max: 1,
};

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let request = ShareGroupHeartbeatRequest::try_decode(body, header.request_api_version)?;
    let group_id = request.group_id.0.to_string();
    let authz = Authz::new(shard, session);
    if !authz.group(AclOperation::Read, &group_id) {
        let response = ShareGroupHeartbeatResponse::default()
            .with_error_code(ResponseError::GroupAuthorizationFailed.code());
        return Ok(encode(&shard.metrics, header, &response));
    }
    let topics: Option<Vec<String>> = request
        .subscribed_topic_names
        .as_ref()
        .map(|ts| ts.iter().map(|t| t.0.to_string()).collect());
    if let Some(ts) = &topics {
        // Kafka answers TOPIC_AUTHORIZATION_FAILED when a subscribed topic may not be read.
        if ts.iter().any(|t| !authz.topic(AclOperation::Read, t)) {
            let response = ShareGroupHeartbeatResponse::default()
                .with_error_code(ResponseError::TopicAuthorizationFailed.code());
            return Ok(encode(&shard.metrics, header, &response));
        }
    }
    let hb = Heartbeat {
        member_id: request.member_id.to_string(),
        member_epoch: request.member_epoch,
        rack: request.rack_id.as_ref().map(|r| r.to_string()),
        topics,
        client_id: header
            .client_id
            .as_ref()
            .map(|c| c.to_string())
            .unwrap_or_default(),
        client_host: session
            .peer
            .map(|p| format!("/{}", p.ip()))
            .unwrap_or_default(),
    };
    let result = match check_group_id(&group_id, false) {
        Err(e) => Err(ShareError::from(e)),
        Ok(()) => {
            let g = group_id.clone();
            groups::route(shard, &group_id, move |s| coordinator::heartbeat(s, g, hb))
                .await
                .map_err(ShareError::from)
                .and_then(|r| r)
        }
    };
    let response = match result {
        Ok(out) => ShareGroupHeartbeatResponse::default()
            .with_member_id(Some(request.member_id.clone()))
            .with_member_epoch(out.member_epoch)
            .with_heartbeat_interval_ms(out.heartbeat_interval_ms)
            .with_assignment(out.assignment.map(|topics| {
                Assignment::default().with_topic_partitions(
                    topics
                        .into_iter()
                        .map(|(id, partitions)| {
                            TopicPartitions::default()
                                .with_topic_id(id)
                                .with_partitions(partitions)
                        })
                        .collect(),
                )
            })),
        Err(e) => ShareGroupHeartbeatResponse::default()
            .with_error_code(e.code())
            .with_error_message(Some(str_bytes(&format!("{e:?}")))),
    };
    Ok(encode(&shard.metrics, header, &response))
}
