//! OffsetFetch (key 9): committed offsets of a group (v8: of several groups, all coordinated by
//! the shard the client asked). Nothing committed: offset -1, metadata "", no error.

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{
    ApiKey, GroupId, OffsetFetchRequest, OffsetFetchResponse, RequestHeader, TopicName,
};

use super::{encode, str_bytes, Reply, Versions};
use crate::groups::state::CommittedOffset;
use crate::groups::{check_group_id, coordinator};
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::protocol::errors::GroupError;
use crate::shard::Shard;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::OffsetFetch,
    min: 1,
    max: 8,
};

use crate::groups::coordinator::FetchedOffsets as Fetched;

async fn fetch(
    shard: &Rc<Shard>,
    group_id: String,
    topics: Option<Vec<(String, Vec<i32>)>>,
) -> Result<Fetched, GroupError> {
    check_group_id(&group_id, true)?;
    let g = group_id.clone();
    coordinator::route(shard, &group_id, move |s| async move {
        coordinator::fetch_offsets(&s, &g, topics)
    })
    .await
}

fn parts(o: Option<&CommittedOffset>) -> (i64, i32, String) {
    match o {
        Some(o) => (o.offset, o.leader_epoch, o.metadata.clone()),
        None => (-1, -1, String::new()),
    }
}

pub async fn handle(
    shard: &Rc<Shard>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let version = header.request_api_version;
    let request = OffsetFetchRequest::try_decode(body, version)?;
    if version >= 8 {
        let mut groups = Vec::with_capacity(request.groups.len());
        for g in &request.groups {
            let topics = g.topics.as_ref().map(|ts| {
                ts.iter()
                    .map(|t| (t.name.0.to_string(), t.partition_indexes.clone()))
                    .collect()
            });
            let group = OffsetFetchResponseGroup::default().with_group_id(g.group_id.clone());
            groups.push(match fetch(shard, g.group_id.0.to_string(), topics).await {
                Err(e) => group.with_error_code(e.code()),
                Ok(found) => group.with_topics(
                    found
                        .into_iter()
                        .map(|(t, ps)| {
                            OffsetFetchResponseTopics::default()
                                .with_name(TopicName(str_bytes(&t)))
                                .with_partitions(
                                    ps.into_iter()
                                        .map(|(p, o)| {
                                            let (offset, epoch, metadata) = parts(o.as_ref());
                                            OffsetFetchResponsePartitions::default()
                                                .with_partition_index(p)
                                                .with_committed_offset(offset)
                                                .with_committed_leader_epoch(epoch)
                                                .with_metadata(Some(str_bytes(&metadata)))
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                ),
            });
        }
        return Ok(encode(
            &shard.metrics,
            header,
            &OffsetFetchResponse::default().with_groups(groups),
        ));
    }
    let asked: Option<Vec<(String, Vec<i32>)>> = request.topics.as_ref().map(|ts| {
        ts.iter()
            .map(|t| (t.name.0.to_string(), t.partition_indexes.clone()))
            .collect()
    });
    let GroupId(group_id) = request.group_id;
    let (found, error) = match fetch(shard, group_id.to_string(), asked.clone()).await {
        Ok(found) => (found, None),
        // v1 has no top-level error: each partition carries it.
        Err(e) => (
            asked
                .unwrap_or_default()
                .into_iter()
                .map(|(t, ps)| (t, ps.into_iter().map(|p| (p, None)).collect()))
                .collect(),
            Some(e),
        ),
    };
    let partition_error = if version < 2 {
        error.map_or(0, |e| e.code())
    } else {
        0
    };
    let topics = found
        .into_iter()
        .map(|(t, ps)| {
            OffsetFetchResponseTopic::default()
                .with_name(TopicName(str_bytes(&t)))
                .with_partitions(
                    ps.into_iter()
                        .map(|(p, o)| {
                            let (offset, epoch, metadata) = parts(o.as_ref());
                            OffsetFetchResponsePartition::default()
                                .with_partition_index(p)
                                .with_committed_offset(offset)
                                .with_committed_leader_epoch(epoch)
                                .with_metadata(Some(str_bytes(&metadata)))
                                .with_error_code(partition_error)
                        })
                        .collect(),
                )
        })
        .collect();
    let mut response = OffsetFetchResponse::default().with_topics(topics);
    if version >= 2 {
        response = response.with_error_code(error.map_or(0, |e| e.code()));
    }
    Ok(encode(&shard.metrics, header, &response))
}
