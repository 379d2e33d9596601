//! ShareFetch (key 78, v1–2): a share group member's fetch. In one request it acknowledges
//! what it processed (piggybacked acknowledgement batches) and acquires records from every
//! partition of its share session (`share::sessions`), each on the partition's owner shard
//! (`share::owner`), long-polled on `max_wait_ms`. v2 (Kafka 4.2) adds `ShareAcquireMode`
//! (served as batch-optimized either way: whole batches go out, only acquired offsets count)
//! and `IsRenewAck` (acknowledgements with RENEW and no fetch). The response has v1's layout
//! in v2 too, so the crate's v1 encoder writes both.

use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::FutureExt;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::share_fetch_response::{
    AcquiredRecords, LeaderIdAndEpoch, PartitionData, ShareFetchableTopicResponse,
};
use kafka_protocol::messages::{ApiKey, RequestHeader, ShareFetchResponse};
use uuid::Uuid;

use super::{encode_with_version, str_bytes, Reply, Versions};
use crate::limits::{
    FETCH_REMOTE_POLL_INTERVAL_MS, FETCH_RESPONSE_BYTES_MAX, FETCH_WAIT_MS_MAX,
    SHARE_FETCH_RECORDS_MAX,
};
use crate::protocol::decode::share_fetch::ShareFetch;
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::security::authz::AclOperation;
use crate::security::authz_helpers::Authz;
use crate::security::session::Session;
use crate::shard::Shard;
use crate::share::owner::{self, AckBatch, Answer, Op};
use crate::share::sessions::Step;
use crate::share::ShareError;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::ShareFetch,
    min: 1,
    max: 2,
};

/// How often a waiting share fetch looks again at partitions whose records may come back by a
/// lock ending or another member releasing them (nothing wakes it for those).
const SHARE_FETCH_POLL_INTERVAL_MS: u64 = 50;
const _: () = assert!(FETCH_REMOTE_POLL_INTERVAL_MS <= SHARE_FETCH_POLL_INTERVAL_MS);

/// One partition of the request's session, resolved.
pub(crate) struct Target {
    pub topic_id: Uuid,
    pub partition: i32,
    /// (topic name, owner shard), or why it can't be served.
    pub place: Result<(String, u32), ShareError>,
}

/// Resolve the session's partitions against the snapshot and the principal's READ.
pub(crate) fn resolve(shard: &Shard, authz: &Authz<'_>, parts: &[(Uuid, i32)]) -> Vec<Target> {
    let snapshot = shard.snapshot();
    parts
        .iter()
        .map(|&(topic_id, partition)| {
            let place = match snapshot.topic_by_id(topic_id) {
                None => Err(ShareError::UnknownTopicId),
                Some(t) if !authz.topic(AclOperation::Read, &t.name) => {
                    Err(ShareError::UnknownTopicOrPartition)
                }
                Some(t) => snapshot
                    .partition(&t.name, partition)
                    .map(|m| (t.name.clone(), m.owner))
                    .ok_or(ShareError::UnknownTopicOrPartition),
            };
            Target {
                topic_id,
                partition,
                place,
            }
        })
        .collect()
}

fn top_level(shard: &Shard, header: &RequestHeader, code: i16, lock_ms: i32) -> Reply {
    let response = ShareFetchResponse::default()
        .with_error_code(code)
        .with_acquisition_lock_timeout_ms(lock_ms);
    encode_with_version(&shard.metrics, header, &response, 1)
}

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let version = header.request_api_version;
    let ShareFetch {
        request,
        is_renew_ack,
        ..
    } = ShareFetch::try_decode(body, version)?;
    let lock_ms = i32::try_from(shard.share.config.limits.lock_duration_ms).unwrap_or(i32::MAX);
    let group = request
        .group_id
        .as_ref()
        .map(|g| g.0.to_string())
        .unwrap_or_default();
    let member = request
        .member_id
        .as_ref()
        .map(|m| m.to_string())
        .unwrap_or_default();
    if group.is_empty() || member.is_empty() || member.len() > 36 {
        return Ok(top_level(
            shard,
            header,
            ResponseError::InvalidRequest.code(),
            lock_ms,
        ));
    }
    let authz = Authz::new(shard, session);
    if !authz.group(AclOperation::Read, &group) {
        let code = ResponseError::GroupAuthorizationFailed.code();
        return Ok(top_level(shard, header, code, lock_ms));
    }
    // KIP-1222: a renew-only request fetches nothing, so it must not ask to.
    if is_renew_ack
        && (request.max_wait_ms != 0
            || request.min_bytes != 0
            || request.max_bytes != 0
            || request.max_records != 0)
    {
        return Ok(top_level(
            shard,
            header,
            ResponseError::InvalidRequest.code(),
            lock_ms,
        ));
    }
    let mut acks: HashMap<(Uuid, i32), Vec<AckBatch>> = HashMap::new();
    let mut named = Vec::new();
    for t in &request.topics {
        for p in &t.partitions {
            named.push((t.topic_id, p.partition_index));
            if !p.acknowledgement_batches.is_empty() {
                acks.entry((t.topic_id, p.partition_index))
                    .or_default()
                    .extend(p.acknowledgement_batches.iter().map(|a| AckBatch {
                        first_offset: a.first_offset,
                        last_offset: a.last_offset,
                        types: a.acknowledge_types.clone(),
                    }));
            }
        }
    }
    let forgotten: Vec<(Uuid, i32)> = request
        .forgotten_topics_data
        .iter()
        .flat_map(|t| t.partitions.iter().map(move |p| (t.topic_id, *p)))
        .collect();
    let step = shard.share.sessions.borrow_mut().step(
        &group,
        &member,
        request.share_session_epoch,
        &named,
        &forgotten,
    );
    let (parts, fetch, closing) = match step {
        Ok(Step::Fetch(parts)) => {
            shard
                .share
                .sessions
                .borrow_mut()
                .bind(&group, &member, session.connection_id);
            (parts, !is_renew_ack, false)
        }
        Ok(Step::Closed(parts)) => (parts, false, true),
        Err(e) => return Ok(top_level(shard, header, e.code(), lock_ms)),
    };
    // Acknowledged partitions the session no longer holds still get their answer.
    let mut all = parts.clone();
    for k in acks.keys() {
        if !all.contains(k) {
            all.push(*k);
        }
    }
    let targets = resolve(shard, &authz, &all);
    let max_records = usize::try_from(request.max_records.max(1))
        .unwrap_or(1)
        .min(SHARE_FETCH_RECORDS_MAX);
    let max_bytes = usize::try_from(request.max_bytes.max(0))
        .unwrap_or(0)
        .min(FETCH_RESPONSE_BYTES_MAX);
    let wait = Duration::from_millis(
        u64::try_from(request.max_wait_ms.max(0))
            .unwrap_or(0)
            .min(FETCH_WAIT_MS_MAX),
    );
    let deadline = Instant::now() + wait;

    let mut answers: Vec<Answer> = Vec::with_capacity(targets.len());
    let mut first = true;
    loop {
        if !first && !shard.share.sessions.borrow().contains(&group, &member) {
            // The session ended while this long poll waited (its connection closed): acquire
            // nothing for a member that can no longer receive it.
            break;
        }
        let mut records_left = max_records;
        let mut bytes_left = max_bytes;
        let mut got_any = false;
        let mut wakers = Vec::new();
        for (i, t) in targets.iter().enumerate() {
            let key = (t.topic_id, t.partition);
            let wants_fetch = fetch && parts.contains(&key) && records_left > 0 && bytes_left > 0;
            let acks_here = if first {
                acks.remove(&key).unwrap_or_default()
            } else {
                Vec::new()
            };
            if !first && !wants_fetch {
                continue;
            }
            let answer = match &t.place {
                Err(e) => Answer {
                    error: Some(*e),
                    ack_error: (!acks_here.is_empty()).then_some(*e),
                    ..Answer::default()
                },
                Ok((topic, owner)) => {
                    if *owner == shard.id {
                        if let Some(p) = shard.local_partition(topic, t.partition) {
                            wakers.push(p.wait_for_data());
                        }
                    }
                    let op = Op {
                        key: (group.clone(), topic.clone(), t.partition),
                        member: member.clone(),
                        acks: acks_here,
                        fetch: wants_fetch.then_some((records_left, bytes_left)),
                        release_member: closing,
                    };
                    owner::run_on(shard, *owner, op).await
                }
            };
            let n: usize = answer
                .acquired
                .iter()
                .map(|a| usize::try_from(a.last_offset - a.first_offset + 1).unwrap_or(0))
                .sum();
            records_left = records_left.saturating_sub(n);
            bytes_left = bytes_left.saturating_sub(answer.records.len());
            got_any |= n > 0;
            if first {
                answers.push(answer);
            } else if let Some(slot) = answers.get_mut(i) {
                slot.acquired = answer.acquired;
                slot.records = answer.records;
                slot.error = slot.error.or(answer.error);
            }
        }
        first = false;
        let now = Instant::now();
        if got_any || !fetch || now >= deadline || shard.shutdown.is_set() {
            break;
        }
        let pause = (deadline - now).min(Duration::from_millis(SHARE_FETCH_POLL_INTERVAL_MS));
        let timer = glommio::timer::sleep(pause).fuse();
        let woken = async move {
            if wakers.is_empty() {
                futures::future::pending::<()>().await
            } else {
                let _ = futures::future::select_all(wakers).await;
            }
        }
        .fuse();
        let shutdown = shard.shutdown.wait().fuse();
        futures::pin_mut!(timer, woken, shutdown);
        futures::select! { _ = timer => {}, _ = woken => {}, _ = shutdown => {} }
    }

    let mut topics: Vec<ShareFetchableTopicResponse> = Vec::new();
    let had_acks: Vec<bool> = targets
        .iter()
        .map(|t| {
            request.topics.iter().any(|rt| {
                rt.topic_id == t.topic_id
                    && rt.partitions.iter().any(|p| {
                        p.partition_index == t.partition && !p.acknowledgement_batches.is_empty()
                    })
            })
        })
        .collect();
    for ((t, a), acked) in targets.iter().zip(answers).zip(had_acks) {
        if a.error.is_none() && a.acquired.is_empty() && !acked && a.ack_error.is_none() {
            continue;
        }
        let leader = match &t.place {
            Ok((_, owner)) => LeaderIdAndEpoch::default()
                .with_leader_id(*owner as i32)
                .with_leader_epoch(a.leader_epoch),
            Err(_) => LeaderIdAndEpoch::default()
                .with_leader_id(-1)
                .with_leader_epoch(-1),
        };
        let data = PartitionData::default()
            .with_partition_index(t.partition)
            .with_error_code(a.error.map_or(0, |e| e.code()))
            .with_acknowledge_error_code(a.ack_error.map_or(0, |e| e.code()))
            .with_acknowledge_error_message(a.ack_error.map(|e| str_bytes(&format!("{e:?}"))))
            .with_current_leader(leader)
            .with_records(Some(a.records))
            .with_acquired_records(
                a.acquired
                    .iter()
                    .map(|r| {
                        AcquiredRecords::default()
                            .with_first_offset(r.first_offset)
                            .with_last_offset(r.last_offset)
                            .with_delivery_count(
                                i16::try_from(r.delivery_count).unwrap_or(i16::MAX),
                            )
                    })
                    .collect(),
            );
        match topics.iter_mut().find(|x| x.topic_id == t.topic_id) {
            Some(x) => x.partitions.push(data),
            None => topics.push(
                ShareFetchableTopicResponse::default()
                    .with_topic_id(t.topic_id)
                    .with_partitions(vec![data]),
            ),
        }
    }
    let response = ShareFetchResponse::default()
        .with_acquisition_lock_timeout_ms(lock_ms)
        .with_responses(topics);
    Ok(encode_with_version(&shard.metrics, header, &response, 1))
}
