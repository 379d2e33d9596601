//! DeleteTopics (key 20): by name (v1-5) or by name or topic id (v6).

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{
    ApiKey, DeleteTopicsRequest, DeleteTopicsResponse, RequestHeader, TopicName,
};

use super::{encode, str_bytes, Reply, Versions};
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::security::authz::AclOperation;
use crate::security::authz_helpers::{Authz, Denied as Refused};
use crate::security::session::Session;
use crate::shard::Shard;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::DeleteTopics,
    min: 1,
    max: 6,
};

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let version = header.request_api_version;
    let request = DeleteTopicsRequest::try_decode(body, version)?;
    let snapshot = shard.snapshot();
    // Resolve each requested entry to a name (or an error for an unknown id).
    let wanted: Vec<Result<String, uuid::Uuid>> = if version >= 6 {
        request
            .topics
            .iter()
            .map(|t| match &t.name {
                Some(n) => Ok(n.0.to_string()),
                None => snapshot
                    .topic_by_id(t.topic_id)
                    .map(|m| m.name.clone())
                    .ok_or(t.topic_id),
            })
            .collect()
    } else {
        request
            .topic_names
            .iter()
            .map(|n| Ok(n.0.to_string()))
            .collect()
    };
    // Kafka's controller: DELETE on the cluster covers every topic; otherwise a topic the
    // principal may not DESCRIBE is TOPIC_AUTHORIZATION_FAILED whether it exists or not (and,
    // asked by id, its name is not shown), one it may describe but not DELETE likewise once
    // it is known to exist. A name given twice is the controller's INVALID_REQUEST whoever
    // asks.
    let authz = Authz::new(shard, session);
    let cluster_delete = authz.cluster(AclOperation::Delete);
    let mut seen = std::collections::HashMap::<&str, u32>::new();
    for name in wanted.iter().filter_map(|w| w.as_deref().ok()) {
        *seen.entry(name).or_default() += 1;
    }
    let verdicts: Vec<Option<Denied>> = wanted
        .iter()
        .zip(by_id(&request, version))
        .map(|(w, by_id)| {
            let name = w.as_deref().ok()?;
            if cluster_delete || seen.get(name) != Some(&1) {
                return None;
            }
            let describable = authz.topic(AclOperation::Describe, name);
            let exists = snapshot.topic(name).is_some();
            if !describable {
                Some(Denied { show_name: !by_id })
            } else if exists && !authz.topic(AclOperation::Delete, name) {
                Some(Denied { show_name: true })
            } else {
                None
            }
        })
        .collect();
    let names: Vec<String> = wanted
        .iter()
        .zip(&verdicts)
        .filter(|(_, denied)| denied.is_none())
        .filter_map(|(w, _)| w.as_ref().ok().cloned())
        .collect();
    let mut results = shard.delete_topics(names).await.into_iter();
    let ids: Vec<uuid::Uuid> = if version >= 6 {
        request.topics.iter().map(|t| t.topic_id).collect()
    } else {
        Vec::new()
    };
    let responses = wanted
        .into_iter()
        .zip(verdicts)
        .enumerate()
        .map(|(i, (w, denied))| match (w, denied) {
            (Err(id), _) => DeletableTopicResult::default()
                .with_topic_id(id)
                .with_error_code(ResponseError::UnknownTopicId.code()),
            (Ok(name), Some(Denied { show_name })) => {
                let error = Refused::Topic;
                DeletableTopicResult::default()
                    .with_name(show_name.then(|| TopicName(str_bytes(&name))))
                    .with_topic_id(ids.get(i).copied().unwrap_or_default())
                    .with_error_code(error.code())
                    .with_error_message(Some(str_bytes(error.message())))
            }
            (Ok(name), None) => {
                let r =
                    DeletableTopicResult::default().with_name(Some(TopicName(str_bytes(&name))));
                match results.next() {
                    Some(Ok(id)) => r.with_topic_id(id),
                    Some(Err(e)) => r
                        .with_error_code(e.code)
                        .with_error_message(Some(str_bytes(&e.message))),
                    None => r.with_error_code(ResponseError::UnknownServerError.code()),
                }
            }
        })
        .collect();
    Ok(encode(
        &shard.metrics,
        header,
        &DeleteTopicsResponse::default().with_responses(responses),
    ))
}

/// A topic the principal may not delete; `show_name`: whether the answer may name it (not
/// when it was asked by id and the principal may not even describe it).
struct Denied {
    show_name: bool,
}

/// For each entry of the request: was it asked by topic id (v6+, no name)?
fn by_id(request: &DeleteTopicsRequest, version: i16) -> Vec<bool> {
    if version >= 6 {
        request.topics.iter().map(|t| t.name.is_none()).collect()
    } else {
        vec![false; request.topic_names.len()]
    }
}
