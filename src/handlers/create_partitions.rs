//! CreatePartitions (key 37): grow topics, through the controller (shard 0). The new
//! partitions go to the least-loaded shards unless the request assigns them.

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{
    ApiKey, CreatePartitionsRequest, CreatePartitionsResponse, RequestHeader,
};

use super::{encode, str_bytes, Reply, Versions};
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::shard::control::NewPartitions;
use crate::shard::Shard;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::CreatePartitions,
    min: 0,
    max: 3,
};

pub async fn handle(
    shard: &Rc<Shard>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let request = CreatePartitionsRequest::try_decode(body, header.request_api_version)?;
    let asks = request
        .topics
        .iter()
        .map(|t| NewPartitions {
            topic: t.name.0.to_string(),
            count: t.count,
            assignments: t.assignments.as_ref().map(|a| {
                a.iter()
                    .map(|a| a.broker_ids.iter().map(|b| b.0).collect())
                    .collect()
            }),
        })
        .collect();
    let results = shard.create_partitions(asks, request.validate_only).await;
    let results = request
        .topics
        .iter()
        .zip(results)
        .map(|(t, r)| {
            let result = CreatePartitionsTopicResult::default().with_name(t.name.clone());
            match r {
                Ok(()) => result,
                Err(e) => result
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
