//! Fetch (key 1): whole stored batches from each partition's owner shard, long-polled on
//! `max_wait_ms` / `min_bytes`, bounded by `max_bytes` and `partition_max_bytes` with KIP-74's
//! at-least-one-batch rule. Sessionless: every fetch names its partitions (session id 0).

use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::FutureExt;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{ApiKey, FetchRequest, FetchResponse, RequestHeader, TopicName};

use super::{encode, Reply, Versions};
use crate::limits::{FETCH_RESPONSE_BYTES_MAX, FETCH_WAIT_MS_MAX};
use crate::partition::Fetched;
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::protocol::errors::PartitionError;
use crate::shard::Shard;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::Fetch,
    min: 4,
    max: 16,
};

/// How often a long poll that includes partitions owned by other shards re-checks them
/// (appends on another shard cannot wake this one).
const REMOTE_POLL_INTERVAL_MS: u64 = 5;

/// One requested partition, resolved against the snapshot.
struct Wanted {
    topic_index: usize,
    topic: String,
    partition: i32,
    owner: Option<u32>,
    offset: i64,
    partition_max_bytes: usize,
    current_leader_epoch: i32,
}

pub async fn handle(
    shard: &Rc<Shard>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let version = header.request_api_version;
    let request = FetchRequest::try_decode(body, version)?;
    let snapshot = shard.snapshot();

    let mut wanted = Vec::new();
    let mut topic_names = Vec::new();
    for (ti, t) in request.topics.iter().enumerate() {
        let name = if version >= 13 {
            snapshot.topic_by_id(t.topic_id).map(|m| m.name.clone())
        } else {
            Some(t.topic.0.to_string())
        };
        topic_names.push(name.clone());
        for p in &t.partitions {
            let name = name.clone().unwrap_or_default();
            let owner = snapshot.partition(&name, p.partition).map(|m| m.owner);
            wanted.push(Wanted {
                topic_index: ti,
                topic: name,
                partition: p.partition,
                owner,
                offset: p.fetch_offset,
                partition_max_bytes: p.partition_max_bytes.max(0) as usize,
                current_leader_epoch: p.current_leader_epoch,
            });
        }
    }

    let max_bytes = (request.max_bytes.max(0) as usize).min(FETCH_RESPONSE_BYTES_MAX);
    let min_bytes = request.min_bytes.max(0) as usize;
    let wait = Duration::from_millis((request.max_wait_ms.max(0) as u64).min(FETCH_WAIT_MS_MAX));
    let deadline = Instant::now() + wait;

    let results = loop {
        // Register for wake-ups before reading, so an append between the read and the wait
        // is not missed.
        let mut wakers = Vec::new();
        let mut any_remote = false;
        for w in &wanted {
            match w.owner {
                Some(o) if o == shard.id => {
                    if let Some(p) = shard.local_partition(&w.topic, w.partition) {
                        wakers.push(p.wait_for_data());
                    }
                }
                Some(_) => any_remote = true,
                None => {}
            }
        }
        let results = read_all(shard, &wanted, max_bytes).await;
        let total: usize = results
            .iter()
            .map(|r| r.as_ref().map_or(0, |f| f.records.bytes))
            .sum();
        let any_error = results.iter().any(|r| r.is_err());
        let now = Instant::now();
        if total >= min_bytes || any_error || now >= deadline || shard.shutdown.is_set() {
            break results;
        }
        let mut remaining = deadline - now;
        if any_remote {
            remaining = remaining.min(Duration::from_millis(REMOTE_POLL_INTERVAL_MS));
        }
        let timer = glommio::timer::sleep(remaining).fuse();
        let woken = futures::future::select_all(wakers.into_iter().map(|w| w.map(|_| ()))).fuse();
        futures::pin_mut!(timer, woken);
        let shutdown = shard.shutdown.wait().fuse();
        futures::pin_mut!(shutdown);
        if wanted.is_empty() {
            futures::select! { _ = timer => {}, _ = shutdown => {} }
        } else {
            futures::select! { _ = timer => {}, _ = woken => {}, _ = shutdown => {} }
        }
    };

    let mut results = results.into_iter();
    let mut responses: Vec<FetchableTopicResponse> = request
        .topics
        .iter()
        .map(|t| {
            FetchableTopicResponse::default()
                .with_topic(TopicName(t.topic.0.clone()))
                .with_topic_id(t.topic_id)
        })
        .collect();
    for w in &wanted {
        let data = PartitionData::default()
            .with_partition_index(w.partition)
            .with_aborted_transactions(Some(Vec::new()));
        let data = match results.next() {
            Some(Ok(f)) => data
                .with_high_watermark(f.high_watermark)
                .with_last_stable_offset(f.high_watermark)
                .with_log_start_offset(f.log_start_offset)
                .with_records(Some(f.records.into_contiguous())),
            Some(Err(e)) => {
                let code = if version >= 13 && topic_names[w.topic_index].is_none() {
                    ResponseError::UnknownTopicId.code()
                } else {
                    e.code()
                };
                data.with_error_code(code)
                    .with_high_watermark(-1)
                    .with_last_stable_offset(-1)
                    .with_log_start_offset(-1)
            }
            None => data.with_error_code(ResponseError::UnknownServerError.code()),
        };
        if let Some(t) = responses.get_mut(w.topic_index) {
            t.partitions.push(data);
        }
    }
    Ok(encode(
        header,
        &FetchResponse::default().with_responses(responses),
    ))
}

/// Read every wanted partition, in request order, sharing the response budget.
async fn read_all(
    shard: &Rc<Shard>,
    wanted: &[Wanted],
    max_bytes: usize,
) -> Vec<Result<Fetched, PartitionError>> {
    let mut out = Vec::with_capacity(wanted.len());
    let mut budget = max_bytes;
    let mut returned_any = false;
    for w in wanted {
        let Some(owner) = w.owner else {
            out.push(Err(PartitionError::UnknownTopicOrPartition));
            continue;
        };
        let limit = w.partition_max_bytes.min(budget);
        // KIP-74: the first partition with data returns at least one whole batch, even when it
        // is larger than the limits, so a consumer can never get stuck behind a big batch.
        let min_one = !returned_any;
        let (topic, partition, offset, epoch) = (
            w.topic.clone(),
            w.partition,
            w.offset,
            w.current_leader_epoch,
        );
        if owner != shard.id {
            shard
                .metrics
                .forwarded
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let r = shard
            .on_shard(owner, move |s| async move {
                let Some(p) = s.local_partition(&topic, partition) else {
                    return Err(PartitionError::NotLeader);
                };
                if epoch >= 0 && epoch < p.leader_epoch() {
                    return Err(PartitionError::FencedLeaderEpoch);
                }
                if epoch > p.leader_epoch() {
                    return Err(PartitionError::UnknownLeaderEpoch);
                }
                p.fetch(offset, limit, min_one).await
            })
            .await
            .unwrap_or(Err(PartitionError::NotLeader));
        if let Ok(f) = &r {
            if f.records.bytes > 0 {
                returned_any = true;
                budget = budget.saturating_sub(f.records.bytes);
            }
        }
        out.push(r);
    }
    out
}
