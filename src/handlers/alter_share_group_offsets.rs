//! AlterShareGroupOffsets (key 91, v0): set share-partitions' start offsets. The group must
//! be a share group without members (NON_EMPTY_GROUP otherwise); a group id nobody uses yet
//! becomes an empty share group, as in Kafka. Checked on the group's coordinator shard, then
//! each share-partition is moved on its partition's owner shard (`share::offsets`), durably.

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_share_group_offsets_response::{
    AlterShareGroupOffsetsResponsePartition, AlterShareGroupOffsetsResponseTopic,
};
use kafka_protocol::messages::{
    AlterShareGroupOffsetsRequest, AlterShareGroupOffsetsResponse, ApiKey, RequestHeader,
};

use super::{encode, str_bytes, Reply, Versions};
use crate::groups::coordinator as groups;
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::security::authz::AclOperation;
use crate::security::authz_helpers::Authz;
use crate::security::session::Session;
use crate::shard::Shard;
use crate::share::offsets;
use crate::share::ShareError;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::AlterShareGroupOffsets,
    min: 0,
    max: 0,
};

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let request = AlterShareGroupOffsetsRequest::try_decode(body, header.request_api_version)?;
    let group = request.group_id.0.to_string();
    let authz = Authz::new(shard, session);
    let refuse = |e: ResponseError, message: String| {
        let response = AlterShareGroupOffsetsResponse::default()
            .with_error_code(e.code())
            .with_error_message(Some(str_bytes(&message)));
        encode(&shard.metrics, header, &response)
    };
    if group.is_empty() {
        return Ok(refuse(
            ResponseError::InvalidGroupId,
            "The group id must not be empty.".into(),
        ));
    }
    if !authz.group(AclOperation::Read, &group) {
        return Ok(refuse(
            ResponseError::GroupAuthorizationFailed,
            format!("Group {group} is not authorized."),
        ));
    }
    let id = group.clone();
    let checked = groups::route(shard, &group, move |s| async move {
        offsets::check_empty(&s, &id, true)
    })
    .await
    .map_err(ShareError::from)
    .and_then(|r| r);
    if let Err(e) = checked {
        let message = match e {
            ShareError::NonEmptyGroup => {
                format!("The group {group} has active members: its offsets can't be altered.")
            }
            _ => format!("{e:?}"),
        };
        let response = AlterShareGroupOffsetsResponse::default()
            .with_error_code(e.code())
            .with_error_message(Some(str_bytes(&message)));
        return Ok(encode(&shard.metrics, header, &response));
    }
    let snapshot = shard.snapshot();
    let mut responses = Vec::with_capacity(request.topics.len());
    for t in &request.topics {
        let name = t.topic_name.0.to_string();
        let allowed = authz.topic(AclOperation::Read, &name);
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for p in &t.partitions {
            let result = if !allowed {
                Err(ShareError::UnknownTopicOrPartition)
            } else {
                let key = (group.clone(), name.clone(), p.partition_index);
                let offset = p.start_offset;
                offsets::on_owner(shard, key, move |s, k| async move {
                    offsets::alter(&s, k, offset).await
                })
                .await
            };
            let out = AlterShareGroupOffsetsResponsePartition::default()
                .with_partition_index(p.partition_index);
            partitions.push(match result {
                Ok(()) => out,
                Err(e) => out
                    .with_error_code(e.code())
                    .with_error_message(Some(str_bytes(&format!("{e:?}")))),
            });
        }
        responses.push(
            AlterShareGroupOffsetsResponseTopic::default()
                .with_topic_name(t.topic_name.clone())
                .with_topic_id(snapshot.topic(&name).map(|m| m.id).unwrap_or_default())
                .with_partitions(partitions),
        );
    }
    let response = AlterShareGroupOffsetsResponse::default().with_responses(responses);
    Ok(encode(&shard.metrics, header, &response))
}
