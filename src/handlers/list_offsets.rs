//! ListOffsets (key 2): latest (-1), earliest (-2), max timestamp (-3, v7+), earliest local
//! (-4, v8+), latest tiered (-5, v9+), earliest pending upload (-6, v11+), or by timestamp —
//! to the record, as Kafka answers (`log::timestamp`). Without tiered storage, -4 is the log
//! start and -5 / -6 find nothing (offset -1, no error), as Kafka's broker answers; a version
//! older than a special timestamp's gets UNSUPPORTED_VERSION for that partition. v11 has
//! v10's layout and is encoded as v10.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{
    ApiKey, ListOffsetsRequest, ListOffsetsResponse, RequestHeader, TopicName,
};

use super::{encode_with_version, Reply, Versions};
use crate::partition::Partition;
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::protocol::errors::PartitionError;
use crate::security::authz::AclOperation;
use crate::security::authz_helpers::Authz;
use crate::security::session::Session;
use crate::shard::router::{self, Router, Run};
use crate::shard::Shard;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::ListOffsets,
    min: 1,
    max: 11,
};

/// The newest version the crate encodes; v11's response has its layout.
const ENCODED_VERSION_MAX: i16 = 10;

pub const LATEST_TIMESTAMP: i64 = -1;
pub const EARLIEST_TIMESTAMP: i64 = -2;
pub const MAX_TIMESTAMP: i64 = -3;
pub const EARLIEST_LOCAL_TIMESTAMP: i64 = -4;
pub const LATEST_TIERED_TIMESTAMP: i64 = -5;
pub const EARLIEST_PENDING_UPLOAD_TIMESTAMP: i64 = -6;

/// The first version that may ask for special timestamp `ts` (None: not a special one).
fn version_of_special(ts: i64) -> Option<i16> {
    match ts {
        LATEST_TIMESTAMP | EARLIEST_TIMESTAMP => Some(0),
        MAX_TIMESTAMP => Some(7),
        EARLIEST_LOCAL_TIMESTAMP => Some(8),
        LATEST_TIERED_TIMESTAMP => Some(9),
        EARLIEST_PENDING_UPLOAD_TIMESTAMP => Some(11),
        _ => None,
    }
}

/// (timestamp, offset, leader epoch) for one partition.
type Found = (i64, i64, i32);

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let version = header.request_api_version;
    let request = ListOffsetsRequest::try_decode(body, version)?;
    let snapshot = shard.snapshot();
    let authz = Authz::new(shard, session);
    // Every copy of a partition named more than once gets INVALID_REQUEST and no lookup, as in
    // Kafka: thousands of copies of one partition were as many index lookups and segment
    // scans (and cross-shard round trips), and the reply came after seconds.
    let mut named: HashMap<(&str, i32), u32> = HashMap::new();
    for t in &request.topics {
        for p in &t.partitions {
            *named
                .entry((t.name.0.as_str(), p.partition_index))
                .or_default() += 1;
        }
    }
    // Each partition's answer, in request order: decided here, or looked up on its owner
    // shard (`shard::router`: this one inline, each other one in one cross-core call).
    let mut answers: Vec<Option<Result<Found, PartitionError>>> = Vec::new();
    let mut topic_denied = Vec::with_capacity(request.topics.len());
    let mut routed_slots = Vec::new();
    let mut router = Router::new(shard);
    let read_committed = request.isolation_level == 1;
    for t in &request.topics {
        let name = t.name.0.as_str();
        // DESCRIBE on the topic, once per topic, before anything is routed.
        let authorized = authz.topic(AclOperation::Describe, name);
        topic_denied.push(!authorized);
        if !authorized {
            continue;
        }
        let shared: Arc<str> = Arc::from(name);
        for p in &t.partitions {
            let index = p.partition_index;
            let slot = answers.len();
            let duplicate = named.get(&(name, index)) > Some(&1);
            let too_new = version_of_special(p.timestamp).is_some_and(|v| version < v);
            if duplicate || too_new {
                answers.push(Some(Err(if duplicate {
                    PartitionError::InvalidRequest
                } else {
                    PartitionError::UnsupportedVersion
                })));
                continue;
            }
            answers.push(None);
            routed_slots.push(slot);
            let asked = Asked {
                timestamp: p.timestamp,
                epoch: p.current_leader_epoch,
                read_committed,
            };
            router.route(router::owner(&snapshot, name, index), &shared, index, asked);
        }
    }
    // One at a time on each shard: a timestamp lookup may read the disk.
    let found = router.run(shard, Run::InOrder, lookup).await;
    for (slot, r) in routed_slots.into_iter().zip(found) {
        if let Some(a) = answers.get_mut(slot) {
            *a = Some(r);
        }
    }
    let mut answers = answers.into_iter();
    let mut topics = Vec::with_capacity(request.topics.len());
    for (t, denied) in request.topics.iter().zip(topic_denied) {
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for p in &t.partitions {
            let resp =
                ListOffsetsPartitionResponse::default().with_partition_index(p.partition_index);
            let r = if denied {
                Err(ResponseError::TopicAuthorizationFailed.code())
            } else {
                // Every slot is filled above; an empty one would be a bug.
                match answers.next().flatten() {
                    Some(r) => r.map_err(|e| e.code()),
                    None => Err(ResponseError::UnknownServerError.code()),
                }
            };
            partitions.push(match r {
                Ok((ts, offset, leader_epoch)) => {
                    // leader_epoch exists from v4 on; an older response can't carry it.
                    let epoch = if version >= 4 { leader_epoch } else { -1 };
                    resp.with_timestamp(ts)
                        .with_offset(offset)
                        .with_leader_epoch(epoch)
                }
                Err(code) => resp
                    .with_error_code(code)
                    .with_timestamp(-1)
                    .with_offset(-1)
                    .with_leader_epoch(-1),
            });
        }
        topics.push(
            ListOffsetsTopicResponse::default()
                .with_name(TopicName(t.name.0.clone()))
                .with_partitions(partitions),
        );
    }
    Ok(encode_with_version(
        &shard.metrics,
        header,
        &ListOffsetsResponse::default().with_topics(topics),
        version.min(ENCODED_VERSION_MAX),
    ))
}

/// One partition's question: the timestamp (or special value), the client's leader epoch, and
/// whether it reads committed data only (isolation_level 1).
#[derive(Clone, Copy)]
struct Asked {
    timestamp: i64,
    epoch: i32,
    read_committed: bool,
}

/// On the partition's owner: the answer to `asked`.
async fn lookup(p: Rc<Partition>, asked: Asked) -> Result<Found, PartitionError> {
    let Asked {
        timestamp,
        epoch,
        read_committed,
    } = asked;
    let leader_epoch = p.leader_epoch();
    if epoch >= 0 && epoch < leader_epoch {
        return Err(PartitionError::FencedLeaderEpoch);
    }
    if epoch > leader_epoch {
        return Err(PartitionError::UnknownLeaderEpoch);
    }
    Ok(match timestamp {
        // read_committed: the end is the last stable offset (Kafka's), which is the high
        // watermark unless a transaction is open in the partition.
        LATEST_TIMESTAMP if read_committed => (-1, p.last_stable_offset(), leader_epoch),
        LATEST_TIMESTAMP => (-1, p.high_watermark(), leader_epoch),
        EARLIEST_TIMESTAMP => (-1, p.log_start_offset(), leader_epoch),
        EARLIEST_LOCAL_TIMESTAMP => (-1, p.log_start_offset(), leader_epoch),
        LATEST_TIERED_TIMESTAMP | EARLIEST_PENDING_UPLOAD_TIMESTAMP => (-1, -1, -1),
        MAX_TIMESTAMP => match p.log().max_timestamp().await? {
            Some((offset, ts)) if offset < p.high_watermark() => (ts, offset, leader_epoch),
            _ => (-1, -1, leader_epoch),
        },
        ts => match p.log().offset_for_timestamp(ts).await? {
            Some((offset, found_ts)) if offset < p.high_watermark() => {
                (found_ts, offset, leader_epoch)
            }
            _ => (-1, -1, leader_epoch),
        },
    })
}
