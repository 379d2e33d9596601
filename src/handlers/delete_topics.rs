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
use crate::shard::Shard;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::DeleteTopics,
    min: 1,
    max: 6,
};

pub async fn handle(
    shard: &Rc<Shard>,
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
    let names: Vec<String> = wanted
        .iter()
        .filter_map(|w| w.as_ref().ok().cloned())
        .collect();
    let mut results = shard.delete_topics(names).await.into_iter();
    let responses = wanted
        .into_iter()
        .map(|w| match w {
            Err(id) => DeletableTopicResult::default()
                .with_topic_id(id)
                .with_error_code(ResponseError::UnknownTopicId.code()),
            Ok(name) => {
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
