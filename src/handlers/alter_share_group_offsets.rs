//! AlterShareGroupOffsets (key 91, v0): set share-partitions' start offsets. The group must
//! be a share group without members (NON_EMPTY_GROUP otherwise); a group id nobody uses yet
//! becomes an empty share group, as in Kafka. Checked on the group's coordinator shard, then
//! each share-partition is moved on its partition's owner shard (`share::offsets`), durably.

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::messages::alter_share_group_offsets_response::{
    AlterShareGroupOffsetsResponsePartition, AlterShareGroupOffsetsResponseTopic,
};
use kafka_protocol::messages::{
    AlterShareGroupOffsetsRequest, AlterShareGroupOffsetsResponse, ApiKey, RequestHeader,
};

use super::{admit_share_offsets, encode, str_bytes, Reply, Versions};
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
    let admitted = admit_share_offsets(
        shard,
        header,
        &authz,
        &group,
        (AclOperation::Read, true, "altered"),
        |code, message| {
            AlterShareGroupOffsetsResponse::default()
                .with_error_code(code)
                .with_error_message(Some(message))
        },
    );
    if let Err(reply) = admitted.await {
        return Ok(reply);
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
