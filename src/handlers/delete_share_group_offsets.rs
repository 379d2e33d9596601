//! DeleteShareGroupOffsets (key 92, v0): forget a share group's state of whole topics (every
//! partition of each named topic), so a later assignment starts afresh at
//! `share.auto.offset.reset`. The group must be a share group without members
//! (NON_EMPTY_GROUP otherwise; GROUP_ID_NOT_FOUND when there is none). Checked on the group's
//! coordinator shard, then each share-partition's state is removed on its owner shard
//! (`share::offsets`).

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::messages::delete_share_group_offsets_response::DeleteShareGroupOffsetsResponseTopic;
use kafka_protocol::messages::{
    ApiKey, DeleteShareGroupOffsetsRequest, DeleteShareGroupOffsetsResponse, RequestHeader,
};

use super::{admit_share_offsets, encode, str_bytes, Reply, Versions};
use crate::groups::coordinator as groups;
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::security::authz::AclOperation;
use crate::security::authz_helpers::Authz;
use crate::security::session::Session;
use crate::shard::Shard;
use crate::share::offsets;
use crate::share::ShareError;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::DeleteShareGroupOffsets,
    min: 0,
    max: 0,
};

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let request = DeleteShareGroupOffsetsRequest::try_decode(body, header.request_api_version)?;
    let group = request.group_id.0.to_string();
    let authz = Authz::new(shard, session);
    let admitted = admit_share_offsets(
        shard,
        header,
        &authz,
        &group,
        (AclOperation::Delete, false, "deleted"),
        |code, message| {
            DeleteShareGroupOffsetsResponse::default()
                .with_error_code(code)
                .with_error_message(Some(message))
        },
    );
    if let Err(reply) = admitted.await {
        return Ok(reply);
    }
    let snapshot = shard.snapshot();
    let mut responses = Vec::with_capacity(request.topics.len());
    let mut deleted_topics = Vec::new();
    for t in &request.topics {
        let name = t.topic_name.0.to_string();
        let meta = snapshot.topic(&name);
        let result = match meta {
            _ if !authz.topic(AclOperation::Read, &name) => {
                Err(ShareError::UnknownTopicOrPartition)
            }
            None => Err(ShareError::UnknownTopicOrPartition),
            Some(m) => {
                let mut result = Ok(());
                for p in 0..i32::try_from(m.partitions.len()).unwrap_or(i32::MAX) {
                    let key = (group.clone(), name.clone(), p);
                    let r = offsets::on_owner(shard, key, |s, k| async move {
                        offsets::delete(&s, k).await
                    })
                    .await;
                    result = result.and(r);
                }
                result
            }
        };
        if result.is_ok() {
            deleted_topics.push(name.clone());
        }
        let out = DeleteShareGroupOffsetsResponseTopic::default()
            .with_topic_name(t.topic_name.clone())
            .with_topic_id(meta.map(|m| m.id).unwrap_or_default());
        responses.push(match result {
            Ok(()) => out,
            Err(e) => out
                .with_error_code(e.code())
                .with_error_message(Some(str_bytes(&format!("{e:?}")))),
        });
    }
    // The coordinator must initialize these share-partitions again at the next assignment.
    let id = group.clone();
    let _ = groups::route(shard, &group, move |s| async move {
        s.share
            .initialized
            .borrow_mut()
            .retain(|(g, t, _)| *g != id || !deleted_topics.contains(t));
        crate::share::persist::persist(&s, &id).await
    })
    .await;
    let response = DeleteShareGroupOffsetsResponse::default().with_responses(responses);
    Ok(encode(&shard.metrics, header, &response))
}
