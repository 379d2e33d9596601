//! Fetch (key 1): whole stored batches from each partition's owner shard, long-polled on
//! `max_wait_ms` / `min_bytes`, bounded by `max_bytes` and `partition_max_bytes` with KIP-74's
//! at-least-one-batch rule. Sessionless: every fetch names its partitions (session id 0).

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::FutureExt;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{ApiKey, FetchRequest, RequestHeader};

use super::{Reply, Versions};
use crate::limits::{FETCH_RESPONSE_BYTES_MAX, FETCH_WAIT_MS_MAX};
use crate::log::reader::read_buffer_bytes;
use crate::memory::Reservation;
use crate::metadata::quotas::QuotaKind;
use crate::partition::{Fetched, SendFetched};
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::protocol::errors::PartitionError;
use crate::protocol::fetch_response::{self, PartitionOut, TopicOut};
use crate::security::authz::AclOperation;
use crate::security::authz_helpers::Authz;
use crate::security::session::Session;
use crate::shard::Shard;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::Fetch,
    min: 4,
    max: 16,
};

use crate::limits::FETCH_REMOTE_POLL_INTERVAL_MS;
use crate::shard::long_poll::{self, Watch, Watched};

/// One requested partition, resolved against the snapshot.
struct Wanted {
    topic_index: usize,
    /// The topic's name, one allocation per topic (shared by its partitions, sent along when
    /// they are read on another shard).
    topic: Arc<str>,
    partition: i32,
    owner: Option<u32>,
    offset: i64,
    partition_max_bytes: usize,
    current_leader_epoch: i32,
    /// isolation_level = 1 (READ_COMMITTED): data only up to the last stable offset.
    read_committed: bool,
    /// The principal may READ the topic (decided once per topic, on this shard); a denied
    /// partition has no owner, so nothing is read or routed for it.
    authorized: bool,
}

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let version = header.request_api_version;
    let request = FetchRequest::try_decode(body, version)?;
    let snapshot = shard.snapshot();
    let authz = Authz::new(shard, session);
    // A follower's fetch (replica id >= 0) needs CLUSTER_ACTION, a consumer's READ on each
    // topic; denied partitions get TOPIC_AUTHORIZATION_FAILED, as in Kafka.
    let from_follower = request.replica_id.0 >= 0 || request.replica_state.replica_id.0 >= 0;
    let follower_allowed = from_follower && authz.cluster(AclOperation::ClusterAction);

    let mut wanted = Vec::new();
    let mut topic_names = Vec::new();
    for (ti, t) in request.topics.iter().enumerate() {
        let name: Option<Arc<str>> = if version >= 13 {
            snapshot
                .topic_by_id(t.topic_id)
                .map(|m| Arc::from(m.name.as_str()))
        } else {
            Some(Arc::from(t.topic.0.as_str()))
        };
        // An unknown topic id is UNKNOWN_TOPIC_ID whoever asks (ids are not secret in Kafka).
        let authorized = match &name {
            None => true,
            Some(_) if from_follower => follower_allowed,
            Some(n) => authz.topic(AclOperation::Read, n),
        };
        topic_names.push(name.is_some());
        let name = name.unwrap_or_else(|| Arc::from(""));
        for p in &t.partitions {
            let owner = if authorized {
                snapshot.partition(&name, p.partition).map(|m| m.owner)
            } else {
                None
            };
            wanted.push(Wanted {
                topic_index: ti,
                topic: name.clone(),
                partition: p.partition,
                owner,
                offset: p.fetch_offset,
                partition_max_bytes: p.partition_max_bytes.max(0) as usize,
                current_leader_epoch: p.current_leader_epoch,
                read_committed: request.isolation_level == 1,
                authorized,
            });
        }
    }

    let max_bytes = (request.max_bytes.max(0) as usize).min(FETCH_RESPONSE_BYTES_MAX);
    let min_bytes = request.min_bytes.max(0) as usize;
    let wait = Duration::from_millis((request.max_wait_ms.max(0) as u64).min(FETCH_WAIT_MS_MAX));
    let deadline = Instant::now() + wait;

    let (results, reservation) = loop {
        // Register for wake-ups before reading, so an append between the read and the wait
        // is not missed (another shard's partitions are watched after the read, against the
        // ends the read saw: `shard::long_poll`).
        let mut wakers = Vec::new();
        for w in &wanted {
            if w.owner == Some(shard.id) {
                if let Some(p) = shard.local_partition(&w.topic, w.partition) {
                    wakers.push(p.wait_for_data());
                }
            }
        }
        let (results, reservation) = read_all(shard, &wanted, max_bytes, deadline).await;
        let total: usize = results
            .iter()
            .map(|r| r.as_ref().map_or(0, |f| f.records.bytes))
            .sum();
        let any_error = results.iter().any(|r| r.is_err());
        let now = Instant::now();
        if total >= min_bytes || any_error || now >= deadline || shard.shutdown.is_set() {
            break (results, reservation);
        }
        drop(reservation);
        let watches = remote_watches(shard, &wanted, &results, deadline);
        let timer = glommio::timer::sleep(deadline - now).fuse();
        // No local partition to wake us (none requested, or every one owned by another
        // shard): wait for the rest alone. `select_all` must never see an empty list — it
        // panics, and a panic here once ended the shard's thread.
        let woken = async move {
            if wakers.is_empty() {
                futures::future::pending::<()>().await
            } else {
                let _ = futures::future::select_all(wakers).await;
            }
        }
        .fuse();
        let remote = async move {
            if watches.is_empty() {
                futures::future::pending::<()>().await
            } else {
                let _ = futures::future::select_all(watches).await;
            }
        }
        .fuse();
        let shutdown = shard.shutdown.wait().fuse();
        futures::pin_mut!(timer, woken, remote, shutdown);
        futures::select! {
            _ = timer => {},
            _ = woken => {},
            _ = remote => {},
            _ = shutdown => {},
        }
    };

    // A `consumer_byte_rate` quota counts the records returned; over it, Kafka answers with
    // an empty response carrying the throttle time, and takes the bytes back.
    let fetched: usize = results
        .iter()
        .map(|r| r.as_ref().map_or(0, |f| f.records.bytes))
        .sum();
    let client_id = header.client_id.as_deref();
    let throttle = shard.quota_record(session, client_id, QuotaKind::Fetch, fetched as f64);
    if throttle > 0 {
        shard.quota_unrecord(session, client_id, QuotaKind::Fetch, fetched as f64);
        let ms = i32::try_from(throttle).unwrap_or(i32::MAX);
        let chunks =
            fetch_response::encode_throttled(&shard.metrics, header.correlation_id, version, ms);
        return Ok(Reply::Chunks(chunks, None));
    }
    // The response, written by hand so the batches go to the socket as the log returned them.
    let mut results = results.into_iter();
    let mut topics: Vec<TopicOut<'_>> = request
        .topics
        .iter()
        .map(|t| TopicOut {
            name: t.topic.0.as_str(),
            topic_id: *t.topic_id.as_bytes(),
            partitions: Vec::with_capacity(t.partitions.len()),
        })
        .collect();
    for w in &wanted {
        let data = match results.next() {
            Some(Ok(f)) => PartitionOut {
                partition: w.partition,
                error_code: 0,
                high_watermark: f.high_watermark,
                last_stable_offset: f.last_stable_offset,
                log_start_offset: f.log_start_offset,
                aborted: f
                    .aborted
                    .iter()
                    .map(|a| (a.producer_id, a.first_offset))
                    .collect(),
                records: f.records.chunks,
            },
            Some(Err(e)) => {
                let known = topic_names.get(w.topic_index).copied().unwrap_or(false);
                let code = if version >= 13 && !known {
                    ResponseError::UnknownTopicId.code()
                } else if !w.authorized {
                    ResponseError::TopicAuthorizationFailed.code()
                } else {
                    e.code()
                };
                PartitionOut::failed(w.partition, code)
            }
            None => PartitionOut::failed(w.partition, ResponseError::UnknownServerError.code()),
        };
        if let Some(t) = topics.get_mut(w.topic_index) {
            t.partitions.push(data);
        }
    }
    let chunks = fetch_response::encode(&shard.metrics, header.correlation_id, version, &topics);
    Ok(Reply::Chunks(chunks, reservation))
}

/// Read every wanted partition, sharing the response's `max_bytes` and the shard's fetch
/// budget: each read first reserves the bytes it may return (and the DMA buffer it fills
/// first), so the memory a fetch holds is never unaccounted. When the shard's budget is spent,
/// a fetch that already has data answers with it; one that has none waits for budget until
/// its deadline.
///
/// This shard's partitions are read first, in request order, then each other shard's in one
/// cross-core call per shard (`read_batch`, on the owner), in request order there: one round
/// trip per owner, not per partition. Results come back in request order.
///
/// Reads run one after another. Overlapping them (a lagging consumer's disk reads queue one
/// behind another) was tried and hung a shard's fetches under the 1,000-partition load test;
/// see the issue notes before trying again.
async fn read_all(
    shard: &Rc<Shard>,
    wanted: &[Wanted],
    max_bytes: usize,
    deadline: Instant,
) -> (Vec<Result<Fetched, PartitionError>>, Option<Reservation>) {
    let mut out: Vec<Option<Result<Fetched, PartitionError>>> =
        std::iter::repeat_with(|| None).take(wanted.len()).collect();
    let mut held: Option<Reservation> = None;
    let mut budget = max_bytes;
    let mut returned_any = false;
    let mut remote_owners: Vec<u32> = Vec::new();
    for (w, slot) in wanted.iter().zip(out.iter_mut()) {
        let owner = match w.owner {
            None => {
                *slot = Some(Err(PartitionError::UnknownTopicOrPartition));
                continue;
            }
            Some(o) if o != shard.id => {
                if !remote_owners.contains(&o) {
                    remote_owners.push(o);
                }
                continue;
            }
            Some(o) => o,
        };
        debug_assert_eq!(owner, shard.id);
        let mut limit = w.partition_max_bytes.min(budget);
        // KIP-74: the first partition with data returns at least one whole batch, even when it
        // is larger than the limits, so a consumer can never get stuck behind a big batch.
        let mut min_one = !returned_any;
        let reservation = if limit == 0 {
            None
        } else {
            let bytes = limit + read_buffer_bytes(limit);
            reserve(shard, bytes, returned_any, deadline).await
        };
        if limit > 0 && reservation.is_none() {
            // No budget: this partition answers with its offsets only.
            limit = 0;
            min_one = false;
        }
        let read = Read {
            limit,
            min_one,
            read_committed: w.read_committed,
        };
        let r = fetch_here(
            shard,
            &w.topic,
            w.partition,
            w.offset,
            w.current_leader_epoch,
            read,
        )
        .await;
        let got = r.as_ref().map_or(0, |f| f.records.bytes);
        if got > 0 {
            returned_any = true;
            budget = budget.saturating_sub(got);
        }
        // What the response holds for this partition: its bytes, or the whole read buffers
        // they are slices of.
        let holds = r.as_ref().map_or(0, |f| f.records.held_bytes()).max(got);
        account(shard, &mut held, reservation, holds);
        *slot = Some(r);
    }
    remote_owners.sort_unstable();
    for owner in remote_owners {
        let batch: Vec<(usize, RemoteRead)> = wanted
            .iter()
            .enumerate()
            .filter(|(_, w)| w.owner == Some(owner))
            .map(|(i, w)| {
                let read = RemoteRead {
                    topic: w.topic.clone(),
                    partition: w.partition,
                    offset: w.offset,
                    epoch: w.current_leader_epoch,
                    partition_max_bytes: w.partition_max_bytes,
                    read_committed: w.read_committed,
                };
                (i, read)
            })
            .collect();
        // One reservation for the whole batch: what its partitions may return together.
        let mut limit = batch
            .iter()
            .fold(0usize, |sum, (_, r)| {
                sum.saturating_add(r.partition_max_bytes)
            })
            .min(budget);
        let mut min_one = !returned_any;
        let reservation = if limit == 0 {
            None
        } else {
            let bytes = limit + read_buffer_bytes(limit);
            reserve(shard, bytes, returned_any, deadline).await
        };
        if limit > 0 && reservation.is_none() {
            limit = 0;
            min_one = false;
        }
        shard
            .metrics
            .forwarded
            .fetch_add(batch.len() as u64, std::sync::atomic::Ordering::Relaxed);
        let (slots, reads): (Vec<usize>, Vec<RemoteRead>) = batch.into_iter().unzip();
        let count = reads.len();
        let results = shard
            .on_shard(owner, move |s| async move {
                read_batch(&s, reads, limit, min_one).await
            })
            .await
            .filter(|r| r.len() == count);
        let mut holds = 0usize;
        let mut results = results.map(Vec::into_iter);
        for i in slots {
            let r = match results.as_mut().and_then(Iterator::next) {
                Some(r) => r.map(SendFetched::into_local),
                // The owner is gone or wedged (`Shard::on_shard`): retriable.
                None => Err(PartitionError::NotLeader),
            };
            let got = r.as_ref().map_or(0, |f| f.records.bytes);
            if got > 0 {
                returned_any = true;
                budget = budget.saturating_sub(got);
            }
            holds += r.as_ref().map_or(0, |f| f.records.held_bytes()).max(got);
            if let Some(slot) = out.get_mut(i) {
                *slot = Some(r);
            }
        }
        account(shard, &mut held, reservation, holds);
    }
    let out = out
        .into_iter()
        // Every slot is filled above (a local read, a remote one, or an error).
        .map(|r| r.unwrap_or(Err(PartitionError::NotLeader)))
        .collect();
    (out, held)
}

/// Make `reservation` stand for the `got` bytes a read returned (more than reserved only for
/// KIP-74's one batch) and fold it into what the response holds.
fn account(
    shard: &Shard,
    held: &mut Option<Reservation>,
    reservation: Option<Reservation>,
    got: usize,
) {
    let reservation = match (reservation, got) {
        (Some(mut res), _) => {
            res.resize(got);
            res
        }
        (None, 0) => return,
        (None, _) => shard.fetch_budget.take(got),
    };
    match held {
        Some(h) => h.merge(reservation),
        None => *held = Some(reservation),
    }
}

/// One partition read on its owner shard for a fetch that arrived on another.
struct RemoteRead {
    topic: Arc<str>,
    partition: i32,
    offset: i64,
    epoch: i32,
    partition_max_bytes: usize,
    read_committed: bool,
}

/// On the owner shard: read `reads` in order within `budget` bytes together, each within its
/// partition's limit; with `min_one`, the first that has data returns at least one whole batch
/// (KIP-74, as `read_all` does locally). The records are copied out of this shard's read
/// buffers for the caller's.
async fn read_batch(
    s: &Rc<Shard>,
    reads: Vec<RemoteRead>,
    mut budget: usize,
    mut min_one: bool,
) -> Vec<Result<SendFetched, PartitionError>> {
    let mut out = Vec::with_capacity(reads.len());
    for r in reads {
        let read = Read {
            limit: r.partition_max_bytes.min(budget),
            min_one,
            read_committed: r.read_committed,
        };
        let result = fetch_here(s, &r.topic, r.partition, r.offset, r.epoch, read)
            .await
            .map(Fetched::into_send);
        let got = result.as_ref().map_or(0, |f| f.records.bytes);
        if got > 0 {
            min_one = false;
            budget = budget.saturating_sub(got);
        }
        out.push(result);
    }
    out
}

/// For a long poll about to wait: one watch per other shard owning some of `wanted`, each a
/// cross-core call that ends when one of its partitions has an end (high watermark, or last
/// stable offset) other than the one `results` saw (`shard::long_poll`). A watch the owner
/// can't hold, or whose call failed, ends after `FETCH_REMOTE_POLL_INTERVAL_MS` instead (the
/// poll reads again). Dropping a watch's future tells its owner to stop watching.
fn remote_watches(
    shard: &Rc<Shard>,
    wanted: &[Wanted],
    results: &[Result<Fetched, PartitionError>],
    deadline: Instant,
) -> Vec<futures::future::LocalBoxFuture<'static, ()>> {
    let mut by_owner: Vec<(u32, Vec<Watched>)> = Vec::new();
    for (w, r) in wanted.iter().zip(results) {
        let (Some(owner), Ok(f)) = (w.owner, r) else {
            continue;
        };
        if owner == shard.id {
            continue;
        }
        let watched = Watched {
            topic: w.topic.clone(),
            partition: w.partition,
            seen: if w.read_committed {
                f.last_stable_offset
            } else {
                f.high_watermark
            },
            read_committed: w.read_committed,
        };
        match by_owner.iter_mut().find(|(o, _)| *o == owner) {
            Some((_, list)) => list.push(watched),
            None => by_owner.push((owner, vec![watched])),
        }
    }
    by_owner
        .into_iter()
        .map(|(owner, parts)| {
            let shard = shard.clone();
            async move {
                // Dropped with this future: the owner's watch then ends.
                let (_cancel, cancelled) = futures::channel::oneshot::channel::<()>();
                let watched = shard
                    .on_shard(owner, move |s| async move {
                        long_poll::watch(&s, parts, deadline, cancelled).await
                    })
                    .await;
                match watched {
                    Some(Watch::Advanced) => {}
                    // The deadline or shutdown: the caller's own timer or latch ends the poll.
                    Some(Watch::Ended) => futures::future::pending::<()>().await,
                    Some(Watch::Full) | None => {
                        let interval = Duration::from_millis(FETCH_REMOTE_POLL_INTERVAL_MS);
                        glommio::timer::sleep(interval).await;
                    }
                }
            }
            .boxed_local()
        })
        .collect()
}

/// How much of one partition to read, and up to which offset.
#[derive(Clone, Copy)]
struct Read {
    limit: usize,
    min_one: bool,
    read_committed: bool,
}

/// Read one partition this shard owns.
async fn fetch_here(
    s: &Rc<Shard>,
    topic: &str,
    partition: i32,
    offset: i64,
    epoch: i32,
    read: Read,
) -> Result<Fetched, PartitionError> {
    let Some(p) = s.local_partition(topic, partition) else {
        return Err(PartitionError::NotLeader);
    };
    if epoch >= 0 && epoch < p.leader_epoch() {
        return Err(PartitionError::FencedLeaderEpoch);
    }
    if epoch > p.leader_epoch() {
        return Err(PartitionError::UnknownLeaderEpoch);
    }
    p.fetch(offset, read.limit, read.min_one, read.read_committed)
        .await
}

/// `bytes` of the shard's fetch budget: at once if they fit; else None when the response
/// already has data (it goes out with what it has), or after waiting until `deadline`.
async fn reserve(
    shard: &Rc<Shard>,
    bytes: usize,
    has_data: bool,
    deadline: Instant,
) -> Option<Reservation> {
    if let Some(r) = shard.fetch_budget.try_reserve(bytes) {
        return Some(r);
    }
    shard
        .metrics
        .fetch_budget_waits
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if has_data {
        return None;
    }
    let wait = deadline.saturating_duration_since(Instant::now());
    let timer = glommio::timer::sleep(wait).fuse();
    let reserved = shard.fetch_budget.reserve(bytes).fuse();
    let shutdown = shard.shutdown.wait().fuse();
    futures::pin_mut!(timer, reserved, shutdown);
    futures::select! {
        r = reserved => Some(r),
        _ = timer => None,
        _ = shutdown => None,
    }
}
