//! CreatePartitions (key 37): grow topics, through the controller (shard 0). The new
//! partitions go to the least-loaded shards unless the request assigns them.

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{
    ApiKey, CreatePartitionsRequest, CreatePartitionsResponse, RequestHeader,
};

use super::{encode, str_bytes, Reply, Versions};
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::security::authz::AclOperation;
use crate::security::authz_helpers::Authz;
use crate::security::session::Session;
use crate::shard::control::NewPartitions;
use crate::shard::Shard;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::CreatePartitions,
    min: 0,
    max: 3,
};

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let request = CreatePartitionsRequest::try_decode(body, header.request_api_version)?;
    // ALTER on each topic (Kafka's controller); a name given twice is its INVALID_REQUEST
    // whoever asks. Denied topics get TOPIC_AUTHORIZATION_FAILED with no message.
    let authz = Authz::new(shard, session);
    let mut seen = std::collections::HashMap::<&str, u32>::new();
    for t in &request.topics {
        *seen.entry(t.name.0.as_str()).or_default() += 1;
    }
    let denied: Vec<bool> = request
        .topics
        .iter()
        .map(|t| {
            seen.get(t.name.0.as_str()) == Some(&1) && !authz.topic(AclOperation::Alter, &t.name.0)
        })
        .collect();
    let asks = request
        .topics
        .iter()
        .zip(&denied)
        .filter(|(_, denied)| !**denied)
        .map(|(t, _)| NewPartitions {
            topic: t.name.0.to_string(),
            count: t.count,
            assignments: t.assignments.as_ref().map(|a| {
                a.iter()
                    .map(|a| a.broker_ids.iter().map(|b| b.0).collect())
                    .collect()
            }),
        })
        .collect();
    let mut results = shard
        .create_partitions(asks, request.validate_only)
        .await
        .into_iter();
    let results = request
        .topics
        .iter()
        .zip(&denied)
        .map(|(t, denied)| {
            let result = CreatePartitionsTopicResult::default().with_name(t.name.clone());
            if *denied {
                return result.with_error_code(ResponseError::TopicAuthorizationFailed.code());
            }
            match results.next() {
                None => result.with_error_code(ResponseError::UnknownServerError.code()),
                Some(Ok(())) => result,
                Some(Err(e)) => result
                    .with_error_code(e.code)
                    .with_error_message(Some(str_bytes(&e.message))),
            }
        })
        .collect();
    Ok(encode(
        &shard.metrics,
        header,
        &CreatePartitionsResponse::default().with_results(results),
    ))
}
