//! ConsumerGroupHeartbeat (key 68, KIP-848): a member of a consumer group joins, stays, moves
//! towards its target assignment and leaves through this one call; the broker runs the
//! assignor. v1 (librdkafka ≥ 2.12) brings client-generated member ids and the topic regex.

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::consumer_group_heartbeat_response::{Assignment, TopicPartitions};
use kafka_protocol::messages::{
    ApiKey, ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse, RequestHeader,
};

use super::{encode, str_bytes, Reply, Versions};
use crate::groups::consumer::group::HeartbeatParams;
use crate::groups::consumer::Assignment as Owned;
use crate::groups::{check_group_id, check_stored_string, coordinator};
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::protocol::errors::GroupError;
use crate::security::authz::AclOperation;
use crate::security::authz_helpers::Authz;
use crate::security::session::Session;
use crate::shard::Shard;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::ConsumerGroupHeartbeat,
    min: 0,
    max: 1,
};

fn error(e: ResponseError, message: &str) -> ConsumerGroupHeartbeatResponse {
    ConsumerGroupHeartbeatResponse::default()
        .with_error_code(e.code())
        .with_error_message(Some(str_bytes(message)))
}

/// Kafka's request checks (`throwIfConsumerGroupHeartbeatRequestIsInvalid`), before the
/// coordinator sees it.
fn check(r: &ConsumerGroupHeartbeatRequest, version: i16) -> Result<(), &'static str> {
    if r.group_id.0.is_empty() {
        return Err("GroupId can't be empty.");
    }
    if version >= 1 && r.member_id.is_empty() {
        return Err("MemberId can't be empty.");
    }
    if r.instance_id.as_ref().is_some_and(|i| i.is_empty()) {
        return Err("InstanceId can't be empty.");
    }
    if r.rack_id.as_ref().is_some_and(|i| i.is_empty()) {
        return Err("RackId can't be empty.");
    }
    match r.member_epoch {
        0 => {
            if r.rebalance_timeout_ms == -1 {
                return Err("RebalanceTimeoutMs must be provided in first request.");
            }
            if r.topic_partitions.as_ref().is_some_and(|t| !t.is_empty()) {
                return Err("TopicPartitions must be empty when (re-)joining.");
            }
            if r.subscribed_topic_names.is_none() && r.subscribed_topic_regex.is_none() {
                return Err(
                    "SubscribedTopicNames or SubscribedTopicRegex must be set in first request.",
                );
            }
        }
        -2 if r.instance_id.is_none() => return Err("InstanceId can't be null."),
        e if e < -2 => return Err("MemberEpoch is invalid."),
        _ => {}
    }
    Ok(())
}

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let version = header.request_api_version;
    let request = ConsumerGroupHeartbeatRequest::try_decode(body, version)?;
    let group_id = request.group_id.0.to_string();
    if !Authz::new(shard, session).group(AclOperation::Read, &group_id) {
        let response = ConsumerGroupHeartbeatResponse::default()
            .with_error_code(ResponseError::GroupAuthorizationFailed.code());
        return Ok(encode(&shard.metrics, header, &response));
    }
    if let Err(message) = check(&request, version) {
        return Ok(encode(
            &shard.metrics,
            header,
            &error(ResponseError::InvalidRequest, message),
        ));
    }
    let client_id = header.client_id.as_deref().unwrap_or_default().to_string();
    let strings = [
        Some(group_id.as_str()),
        Some(request.member_id.as_str()),
        request.instance_id.as_deref(),
        Some(client_id.as_str()),
    ];
    if check_group_id(&group_id, false).is_err()
        || strings
            .iter()
            .flatten()
            .any(|s| check_stored_string(s).is_err())
    {
        return Ok(encode(
            &shard.metrics,
            header,
            &error(ResponseError::InvalidRequest, "A string is too long."),
        ));
    }
    // v0: the broker names a joining member.
    let member_id = if request.member_id.is_empty() && request.member_epoch == 0 {
        uuid::Uuid::new_v4().simple().to_string()
    } else {
        request.member_id.to_string()
    };
    let owned = request.topic_partitions.as_ref().map(|ts| {
        let mut o = Owned::new();
        for t in ts {
            o.entry(t.topic_id)
                .or_default()
                .extend(t.partitions.iter().copied());
        }
        o.retain(|_, ps| !ps.is_empty());
        o
    });
    let params = HeartbeatParams {
        version,
        member_id,
        epoch: request.member_epoch,
        instance_id: request.instance_id.as_ref().map(|s| s.to_string()),
        rack_id: request.rack_id.as_ref().map(|s| s.to_string()),
        rebalance_timeout_ms: request.rebalance_timeout_ms,
        topic_names: request
            .subscribed_topic_names
            .as_ref()
            .map(|ts| ts.iter().map(|t| t.0.to_string()).collect()),
        topic_regex: request
            .subscribed_topic_regex
            .as_ref()
            .map(|s| s.to_string()),
        assignor: request.server_assignor.as_ref().map(|s| s.to_string()),
        owned,
        client_id,
        client_host: session
            .peer
            .map(|a| format!("/{}", a.ip()))
            .unwrap_or_default(),
    };
    let g = group_id.clone();
    let result = coordinator::route(shard, &group_id, move |s| async move {
        coordinator::consumer_heartbeat(&s, &g, params).await
    })
    .await
    .and_then(|r| r);
    let response = match result {
        Ok(reply) => ConsumerGroupHeartbeatResponse::default()
            .with_member_id(Some(str_bytes(&reply.member_id)))
            .with_member_epoch(reply.epoch)
            .with_heartbeat_interval_ms(reply.heartbeat_interval_ms)
            .with_assignment(reply.assignment.map(|a| {
                Assignment::default().with_topic_partitions(
                    a.into_iter()
                        .map(|(id, ps)| {
                            TopicPartitions::default()
                                .with_topic_id(id)
                                .with_partitions(ps.into_iter().collect())
                        })
                        .collect(),
                )
            })),
        Err(e) => ConsumerGroupHeartbeatResponse::default()
            .with_error_code(e.code())
            .with_error_message(Some(str_bytes(&message(e, &group_id)))),
    };
    Ok(encode(&shard.metrics, header, &response))
}

/// Kafka's message for each error a heartbeat answers with.
fn message(e: GroupError, group_id: &str) -> String {
    match e {
        GroupError::GroupIdNotFound => format!("Group {group_id} is not a consumer group."),
        GroupError::FencedMemberEpoch => {
            "The consumer group member has a greater member epoch than expected or a smaller \
             one that is not the previous epoch."
                .to_string()
        }
        GroupError::UnknownMemberId => {
            format!("Member is not a member of group {group_id}.")
        }
        GroupError::UnreleasedInstanceId => {
            "Static member with that instance id is still in use by another member.".to_string()
        }
        other => format!("{other:?}"),
    }
}
