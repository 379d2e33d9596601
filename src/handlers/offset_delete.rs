//! OffsetDelete (key 47): remove a group's committed offsets for partitions it no longer
//! consumes (GROUP_SUBSCRIBED_TO_TOPIC for topics its members subscribe to).

use std::collections::HashMap;
use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{ApiKey, OffsetDeleteRequest, OffsetDeleteResponse, RequestHeader};

use super::{encode, Reply, Versions};
use crate::groups::{check_group_id, coordinator};
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::security::authz::AclOperation;
use crate::security::authz_helpers::Authz;
use crate::security::session::Session;
use crate::shard::Shard;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::OffsetDelete,
    min: 0,
    max: 0,
};

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let version = header.request_api_version;
    let request = OffsetDeleteRequest::try_decode(body, version)?;
    let group_id = request.group_id.0.to_string();
    let authz = Authz::new(shard, session);
    // DELETE on the group (else the top-level error alone), then READ on each topic: a denied
    // topic's partitions get TOPIC_AUTHORIZATION_FAILED and are not touched, as in Kafka.
    if !authz.group(AclOperation::Delete, &group_id) {
        let response = OffsetDeleteResponse::default()
            .with_error_code(ResponseError::GroupAuthorizationFailed.code());
        return Ok(encode(&shard.metrics, header, &response));
    }
    let topic_denied: Vec<bool> = request
        .topics
        .iter()
        .map(|t| !authz.topic(AclOperation::Read, &t.name.0))
        .collect();
    let partitions: Vec<(String, i32)> = request
        .topics
        .iter()
        .zip(&topic_denied)
        .filter(|(_, denied)| !**denied)
        .flat_map(|(t, _)| {
            t.partitions
                .iter()
                .map(|p| (t.name.0.to_string(), p.partition_index))
        })
        .collect();
    let g = group_id.clone();
    let r = match check_group_id(&group_id, true) {
        Err(e) => Err(e),
        Ok(()) => coordinator::route(shard, &group_id, move |s| {
            coordinator::delete_offsets(s, g, partitions)
        })
        .await
        .and_then(|r| r),
    };
    let response = match r {
        Err(e) => OffsetDeleteResponse::default().with_error_code(e.code()),
        Ok(results) => {
            let by_key: HashMap<(String, i32), i16> = results
                .into_iter()
                .map(|(t, p, r)| ((t, p), r.err().map_or(0, |e| e.code())))
                .collect();
            let topics = request
                .topics
                .iter()
                .zip(&topic_denied)
                .map(|(t, denied)| {
                    let name = t.name.0.to_string();
                    OffsetDeleteResponseTopic::default()
                        .with_name(t.name.clone())
                        .with_partitions(
                            t.partitions
                                .iter()
                                .map(|p| {
                                    let code = if *denied {
                                        ResponseError::TopicAuthorizationFailed.code()
                                    } else {
                                        by_key
                                            .get(&(name.clone(), p.partition_index))
                                            .copied()
                                            .unwrap_or(0)
                                    };
                                    OffsetDeleteResponsePartition::default()
                                        .with_partition_index(p.partition_index)
                                        .with_error_code(code)
                                })
                                .collect(),
                        )
                })
                .collect();
            OffsetDeleteResponse::default().with_topics(topics)
        }
    };
    Ok(encode(&shard.metrics, header, &response))
}
