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
use crate::limits::{
    FETCH_PARTITION_READS_IN_FLIGHT_MAX, FETCH_RESPONSE_BYTES_MAX, FETCH_WAIT_MS_MAX,
};
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
use crate::shard::router;
use crate::shard::Shard;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::Fetch,
    min: 4,
    max: 16,
};

use crate::limits::FETCH_REMOTE_POLL_INTERVAL_MS;
use crate::shard::long_poll::{self, Watch, Watched};

/// One requested partition, resolved against the snapshot (sent to its owner shard when that
/// is another: `read_batch`).
#[derive(Clone)]
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
                router::owner(&snapshot, &name, p.partition)
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
/// This shard's partitions are read first, up to [`FETCH_PARTITION_READS_IN_FLIGHT_MAX`] at
/// once (`read_local`), then each other shard's in one cross-core call per shard
/// (`read_batch`, on the owner, which reads them as `read_local` does here): one round trip
/// per owner, not per partition. Results come back in request order.
async fn read_all(
    shard: &Rc<Shard>,
    wanted: &[Wanted],
    max_bytes: usize,
    deadline: Instant,
) -> (Vec<Result<Fetched, PartitionError>>, Option<Reservation>) {
    let mut out: Vec<Option<Result<Fetched, PartitionError>>> =
        std::iter::repeat_with(|| None).take(wanted.len()).collect();
    let mut held: Option<Reservation> = None;
    let mut progress = Progress {
        budget: max_bytes,
        returned_any: false,
        reserves: true,
    };
    let mut remote_owners: Vec<u32> = Vec::new();
    let mut local: Vec<usize> = Vec::new();
    for (i, (w, slot)) in wanted.iter().zip(out.iter_mut()).enumerate() {
        match w.owner {
            None => *slot = Some(Err(PartitionError::UnknownTopicOrPartition)),
            Some(o) if o != shard.id => {
                if !remote_owners.contains(&o) {
                    remote_owners.push(o);
                }
            }
            Some(_) => local.push(i),
        }
    }
    read_local(
        shard,
        wanted,
        &local,
        &mut out,
        &mut held,
        &mut progress,
        deadline,
    )
    .await;
    let Progress {
        mut budget,
        mut returned_any,
        ..
    } = progress;
    remote_owners.sort_unstable();
    for owner in remote_owners {
        let batch: Vec<(usize, Wanted)> = wanted
            .iter()
            .enumerate()
            .filter(|(_, w)| w.owner == Some(owner))
            .map(|(i, w)| (i, w.clone()))
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
        let (slots, reads): (Vec<usize>, Vec<Wanted>) = batch.into_iter().unzip();
        // NOT_LEADER_OR_FOLLOWER for each if the owner is gone or wedged (retriable).
        let results = router::forward(shard, owner, reads, move |s, reads| async move {
            read_batch(&s, reads, limit, min_one).await
        })
        .await;
        let mut holds = 0usize;
        for (i, r) in slots.into_iter().zip(results) {
            let r = r.map(SendFetched::into_local);
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

/// What a fetch's reads so far have taken: the response bytes left under `max_bytes`, and
/// whether any partition returned data (KIP-74's one-batch rule applies until one has).
struct Progress {
    budget: usize,
    returned_any: bool,
    /// Whether a read at the head reserves its bytes from this shard's fetch budget first
    /// (and gets nothing without it). False on the owner of a forwarded fetch: the shard that
    /// got it reserved for the whole batch, and the owner answers within that.
    reserves: bool,
}

/// A local partition read of a fetch: which partition, how it was asked, what it holds.
type LocalRead<'a> = futures::future::LocalBoxFuture<
    'a,
    (
        usize,
        Read,
        // Started ahead of an earlier read finishing.
        bool,
        Option<Reservation>,
        Result<Fetched, PartitionError>,
    ),
>;

/// Read this shard's partitions of a fetch (`local`, indexes into `wanted`, in request order),
/// several at once, with the result of reading them one after another.
///
/// A disk read (a consumer catching up) takes a millisecond or more, and one at a time a fetch
/// of many partitions waited for each in turn; so up to
/// [`FETCH_PARTITION_READS_IN_FLIGHT_MAX`] reads of one fetch are started ahead of the ones
/// before them finishing (the shard's O_DIRECT reads stay within `DISK_READS_IN_FLIGHT_MAX`
/// across all its fetches). Results are taken in request order, and the budget and KIP-74 rule
/// are applied exactly as a sequential read would:
/// - a read the tail cache answers, with nothing in flight, is read at once as before (no task,
///   no allocation: a consumer at the tail pays nothing for the window);
/// - a read at the head (every earlier one taken) gets `min(partition_max_bytes, budget)`,
///   at least one batch if nothing returned data yet, and may wait for the shard's budget;
/// - a read started ahead gets its whole `partition_max_bytes`, only while that fits in the
///   budget minus every earlier read's limit (then a sequential read would have got the same),
///   never the one-batch rule, and only a reservation available at once; otherwise it waits to
///   become the head;
/// - a read started ahead is read again as the head where its answer could differ from the
///   sequential one: an earlier partition's first batch went past its limit and ate into the
///   budget, or it found nothing although its partition has data while no earlier partition
///   returned any (its first batch was larger than its limit: sequentially it would have had
///   the one-batch rule). Both need a batch larger than a partition's limit: rare.
async fn read_local(
    shard: &Rc<Shard>,
    wanted: &[Wanted],
    local: &[usize],
    out: &mut [Option<Result<Fetched, PartitionError>>],
    held: &mut Option<Reservation>,
    progress: &mut Progress,
    deadline: Instant,
) {
    use futures::StreamExt;
    let mut window: futures::stream::FuturesOrdered<LocalRead<'_>> =
        futures::stream::FuturesOrdered::new();
    // Sum of the limits of the reads in `window`.
    let mut planned = 0usize;
    let mut next = local.iter().copied().peekable();
    loop {
        while window.len() < FETCH_PARTITION_READS_IN_FLIGHT_MAX {
            let Some(&i) = next.peek() else { break };
            let Some(w) = wanted.get(i) else {
                next.next();
                continue;
            };
            let ahead = !window.is_empty();
            if !ahead && !reads_from_disk(shard, w) {
                // Nothing in flight and no disk to wait for (the tail cache answers, or
                // there is nothing to read): read it here, as a sequential fetch does.
                next.next();
                let (reservation, r) = read_as_head(shard, w, progress, deadline).await;
                settle(shard, progress, held, out, i, reservation, r);
                continue;
            }
            let (read, reservation) = if !ahead {
                head_read(shard, w, progress, deadline).await
            } else {
                let room = progress.budget.saturating_sub(planned);
                if w.partition_max_bytes > room {
                    break;
                }
                let limit = w.partition_max_bytes;
                let reservation = if limit == 0 {
                    None
                } else {
                    match shard
                        .fetch_budget
                        .try_reserve(limit + read_buffer_bytes(limit))
                    {
                        Some(r) => Some(r),
                        None => break,
                    }
                };
                let read = Read {
                    limit,
                    min_one: false,
                    read_committed: w.read_committed,
                };
                (read, reservation)
            };
            next.next();
            planned += read.limit;
            window.push_back(
                async move {
                    let r = read_wanted(shard, w, read).await;
                    (i, read, ahead, reservation, r)
                }
                .boxed_local(),
            );
            let peak = &shard.metrics.fetch_reads_in_flight_peak;
            peak.fetch_max(window.len() as u64, std::sync::atomic::Ordering::Relaxed);
        }
        // Never empty here unless every partition has been read (`FuturesOrdered` answers None
        // when empty; it never panics).
        let Some((i, read, started_ahead, mut reservation, mut r)) = window.next().await else {
            break;
        };
        planned = planned.saturating_sub(read.limit);
        let Some(w) = wanted.get(i) else { continue };
        // A read started ahead was asked for `partition_max_bytes` without the one-batch rule;
        // read one after another it would have had `min(partition_max_bytes, budget)` and the
        // rule while nothing was returned. Where that could differ (an earlier partition's
        // oversized batch ate the budget, or this one's first batch was too big for its limit
        // with nothing returned before it), it is read again as the head: the answer is
        // always the sequential one.
        let inexact = started_ahead
            && (w.partition_max_bytes > progress.budget
                || !progress.returned_any && has_unreturned_data(w, &r));
        if inexact {
            drop(reservation);
            (reservation, r) = read_as_head(shard, w, progress, deadline).await;
        }
        settle(shard, progress, held, out, i, reservation, r);
    }
}

/// Take partition `i`'s read into the response: what it returned counts against the budget
/// and ends the one-batch rule; the response holds its bytes, or the whole read buffers they
/// are slices of.
fn settle(
    shard: &Shard,
    progress: &mut Progress,
    held: &mut Option<Reservation>,
    out: &mut [Option<Result<Fetched, PartitionError>>],
    i: usize,
    reservation: Option<Reservation>,
    r: Result<Fetched, PartitionError>,
) {
    let got = r.as_ref().map_or(0, |f| f.records.bytes);
    if got > 0 {
        progress.returned_any = true;
        progress.budget = progress.budget.saturating_sub(got);
    }
    let holds = r.as_ref().map_or(0, |f| f.records.held_bytes()).max(got);
    account(shard, held, reservation, holds);
    if let Some(slot) = out.get_mut(i) {
        *slot = Some(r);
    }
}

/// Whether reading `w` here would wait for the disk (its owner is this shard).
fn reads_from_disk(shard: &Shard, w: &Wanted) -> bool {
    shard
        .local_partition(&w.topic, w.partition)
        .is_some_and(|p| p.log().reads_from_disk(w.offset))
}

/// Read `w` as the head (every earlier read taken): asked as [`head_read`] says.
async fn read_as_head(
    shard: &Rc<Shard>,
    w: &Wanted,
    progress: &Progress,
    deadline: Instant,
) -> (Option<Reservation>, Result<Fetched, PartitionError>) {
    let (read, reservation) = head_read(shard, w, progress, deadline).await;
    (reservation, read_wanted(shard, w, read).await)
}

/// Read `w` on this shard, its owner, as `read` asks.
async fn read_wanted(shard: &Rc<Shard>, w: &Wanted, read: Read) -> Result<Fetched, PartitionError> {
    fetch_here(
        shard,
        &w.topic,
        w.partition,
        w.offset,
        w.current_leader_epoch,
        read,
    )
    .await
}

/// How the next read in request order is asked when every earlier one is done: within
/// `min(partition_max_bytes, budget)`, at least one batch while nothing returned data
/// (KIP-74, so a consumer can never get stuck behind a big batch), with a reservation waited
/// for if the response has nothing yet; without budget, the partition answers with its
/// offsets only.
async fn head_read(
    shard: &Rc<Shard>,
    w: &Wanted,
    progress: &Progress,
    deadline: Instant,
) -> (Read, Option<Reservation>) {
    let mut limit = w.partition_max_bytes.min(progress.budget);
    let mut min_one = !progress.returned_any;
    let reservation = if limit == 0 || !progress.reserves {
        None
    } else {
        let bytes = limit + read_buffer_bytes(limit);
        reserve(shard, bytes, progress.returned_any, deadline).await
    };
    if limit > 0 && reservation.is_none() && progress.reserves {
        limit = 0;
        min_one = false;
    }
    let read = Read {
        limit,
        min_one,
        read_committed: w.read_committed,
    };
    (read, reservation)
}

/// The read returned nothing although the partition has data at the offset asked for.
fn has_unreturned_data(w: &Wanted, r: &Result<Fetched, PartitionError>) -> bool {
    r.as_ref().is_ok_and(|f| {
        let upper = if w.read_committed {
            f.last_stable_offset
        } else {
            f.high_watermark
        };
        f.records.bytes == 0 && w.offset < upper
    })
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

/// On the owner shard: read `reads` (its partitions of a fetch that arrived on another shard)
/// within `budget` bytes together, each within its partition's limit; with `min_one`, the
/// first that has data returns at least one whole batch (KIP-74). Several at once, with the
/// answer reading them one after another gives, as `read_local` reads a fetch's own
/// partitions; the reads' buffers are held on this shard's fetch budget until the records are
/// copied out of them for the caller's.
async fn read_batch(
    s: &Rc<Shard>,
    reads: Vec<Wanted>,
    budget: usize,
    min_one: bool,
) -> Vec<Result<SendFetched, PartitionError>> {
    let all: Vec<usize> = (0..reads.len()).collect();
    let mut out: Vec<Option<Result<Fetched, PartitionError>>> =
        std::iter::repeat_with(|| None).take(reads.len()).collect();
    let mut held: Option<Reservation> = None;
    let mut progress = Progress {
        budget,
        returned_any: !min_one,
        reserves: false,
    };
    // No deadline: a read here never waits for budget (`reserves` is false).
    let now = Instant::now();
    read_local(s, &reads, &all, &mut out, &mut held, &mut progress, now).await;
    let out = out
        .into_iter()
        .map(|r| {
            r.unwrap_or(Err(PartitionError::NotLeader))
                .map(Fetched::into_send)
        })
        .collect();
    // The copies are made: the read buffers go back with what they held.
    drop(held);
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

/// Read one partition this shard owns. A read the tail cache can't answer (a consumer
/// catching up from disk) runs in the shard's catch-up task queue, within its catch-up slots
/// (`log::storage::CatchUp`), so produce and tail fetches in the default queue go first.
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
    let catching_up = read.limit > 0 || read.min_one;
    if !(catching_up && p.log().reads_from_disk(offset)) {
        return p
            .fetch(offset, read.limit, read.min_one, read.read_committed)
            .await;
    }
    let catchup = &s.storage.catchup;
    let Some(_slot) = catchup.slot().await else {
        return Err(PartitionError::Storage); // the semaphore is never closed
    };
    // Its own task, so the read's CPU time is scheduled by the catch-up queue's shares; a
    // panic in it is caught here (it would otherwise end the shard's thread).
    let queue = catchup.queue();
    let storage = s.storage.clone();
    let task = glommio::spawn_local_into(
        std::panic::AssertUnwindSafe(async move {
            storage.catchup.yield_to_writes().await;
            p.fetch(offset, read.limit, read.min_one, read.read_committed)
                .await
        })
        .catch_unwind(),
        queue,
    );
    match task {
        Ok(task) => match task.await {
            Ok(r) => r,
            Err(panic) => {
                super::note_panic(s, "a catch-up read", &panic);
                Err(PartitionError::Storage)
            }
        },
        Err(e) => {
            tracing::error!(error = %e, "could not start a catch-up read");
            Err(PartitionError::Storage)
        }
    }
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
