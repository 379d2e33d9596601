//! The owner shard's side of share groups: each share-partition lives on the shard that owns
//! its topic-partition, next to the log it hands out records from. Loaded from its state file
//! on first use (or initialized at the log's end, `share.auto.offset.reset` = latest), then
//! acquired from by ShareFetch and acknowledged by ShareFetch / ShareAcknowledge, its state
//! file rewritten before an acknowledgement is answered.

use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::rc::Rc;

use bytes::Bytes;

use super::partition::{Acquired, BatchSpan, SharePartition};
use super::store::{self, Stored};
use super::{ShareError, ShareKey};
use crate::log::file_ops;
use crate::partition::Partition;
use crate::shard::Shard;
use crate::txn::partition_state::AbortedTxn;

/// A loaded share-partition and what its persistence needs. Lives on the partition's owner.
pub struct Slot {
    pub sp: RefCell<SharePartition>,
    /// The partition it belongs to: a recreated topic is a different partition, and its
    /// share-partitions start afresh.
    partition: Rc<Partition>,
    dir: PathBuf,
    file: String,
    group: String,
    /// The last generation written to the state file.
    durable: Cell<u64>,
    /// One write at a time; a writer finding its generation already written returns.
    writing: futures::lock::Mutex<()>,
}

impl Slot {
    /// Make the state durable up to the current generation (one write covers every change
    /// made before it started).
    pub async fn persist(&self, shard: &Shard) -> Result<(), ShareError> {
        let wanted = self.sp.borrow().generation;
        let _one = self.writing.lock().await;
        if self.durable.get() >= wanted {
            return Ok(());
        }
        let (generation, bytes) = {
            let sp = self.sp.borrow();
            let stored = Stored {
                group_id: self.group.clone(),
                start: sp.start(),
                records: sp.persisted(),
            };
            (sp.generation, store::encode(&stored))
        };
        file_ops::replace_file(&shard.storage.blocking, &self.dir, &self.file, bytes)
            .await
            .map_err(|e| {
                tracing::error!(dir = %self.dir.display(), file = %self.file, "share state write failed: {e}");
                ShareError::KafkaStorageError
            })?;
        self.durable.set(self.durable.get().max(generation));
        Ok(())
    }
}

/// Where a new share-partition starts (`share.auto.offset.reset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoReset {
    Earliest,
    Latest,
}

/// The share-partition `key` on this shard, loaded from its file or created (and written)
/// at `reset`. Errors when this shard does not own the partition.
pub async fn slot(
    shard: &Rc<Shard>,
    key: &ShareKey,
    reset: AutoReset,
) -> Result<Rc<Slot>, ShareError> {
    let (group, topic, partition) = key;
    let p = shard
        .local_partition(topic, *partition)
        .ok_or(ShareError::NotLeaderOrFollower)?;
    if let Some(s) = live(shard, key, &p) {
        return Ok(s);
    }
    let _one = shard.share.loading.lock().await;
    if let Some(s) = live(shard, key, &p) {
        return Ok(s);
    }
    let dir = p.log().dir().to_path_buf();
    let file = store::file_name(group);
    let stored = match file_ops::read_small_file(&shard.storage.blocking, &dir.join(&file)).await {
        Ok(bytes) => match store::decode(&bytes) {
            Ok(s) if s.group_id == *group => Some(s),
            Ok(_) => None,
            Err(e) => {
                // A damaged state file would otherwise redeliver everything or lose records:
                // refuse the share-partition until an operator looks.
                tracing::error!(dir = %dir.display(), file, "share state unreadable: {e:?}");
                return Err(ShareError::KafkaStorageError);
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            tracing::error!(dir = %dir.display(), file, "share state unreadable: {e}");
            return Err(ShareError::KafkaStorageError);
        }
    };
    let (sp, durable) = match stored {
        Some(s) => (SharePartition::restored(s.start, s.records), 0),
        None => {
            let start = match reset {
                AutoReset::Earliest => p.log_start_offset(),
                AutoReset::Latest => p.high_watermark(),
            };
            (SharePartition::new(start), 0)
        }
    };
    let fresh = sp.generation > 0;
    let slot = Rc::new(Slot {
        sp: RefCell::new(sp),
        partition: p,
        dir,
        file,
        group: group.clone(),
        durable: Cell::new(durable),
        writing: futures::lock::Mutex::new(()),
    });
    shard
        .share
        .partitions
        .borrow_mut()
        .insert(key.clone(), slot.clone());
    if fresh {
        // The start chosen now must survive a restart, or `latest` would move on.
        slot.persist(shard).await?;
    }
    Ok(slot)
}

fn live(shard: &Shard, key: &ShareKey, p: &Rc<Partition>) -> Option<Rc<Slot>> {
    let mut map = shard.share.partitions.borrow_mut();
    match map.get(key) {
        Some(s) if Rc::ptr_eq(&s.partition, p) => Some(s.clone()),
        Some(_) => {
            map.remove(key);
            None
        }
        None => None,
    }
}

/// One acknowledgement batch as it came.
#[derive(Debug, Clone)]
pub struct AckBatch {
    pub first_offset: i64,
    pub last_offset: i64,
    pub types: Vec<i8>,
}

/// What one share-partition is asked in one request.
#[derive(Debug, Clone)]
pub struct Op {
    pub key: ShareKey,
    pub member: String,
    pub acks: Vec<AckBatch>,
    /// Acquire records: (max records, max bytes).
    pub fetch: Option<(usize, usize)>,
    /// The member's session closed: give back what it holds here.
    pub release_member: bool,
}

/// The answer for one share-partition (Send: it may come from another shard).
#[derive(Debug, Default)]
pub struct Answer {
    pub error: Option<ShareError>,
    pub ack_error: Option<ShareError>,
    pub acquired: Vec<Acquired>,
    /// Whole batches holding the acquired records.
    pub records: Bytes,
    pub leader_epoch: i32,
}

/// Run `op` on this shard, which owns its partition.
pub async fn run(shard: &Rc<Shard>, op: Op) -> Answer {
    let reset = super::auto_reset(shard, &op.key.0);
    let read_committed = super::read_committed(shard, &op.key.0);
    let slot = match slot(shard, &op.key, reset).await {
        Ok(s) => s,
        Err(e) => {
            return Answer {
                error: Some(e),
                ack_error: (!op.acks.is_empty()).then_some(e),
                ..Answer::default()
            }
        }
    };
    let limits = shard.share.config.limits;
    let now = shard.share.now_ms();
    let p = slot.partition.clone();
    let mut answer = Answer {
        leader_epoch: p.leader_epoch(),
        ..Answer::default()
    };
    {
        let mut sp = slot.sp.borrow_mut();
        sp.expire_locks(now, &limits);
        let log_start = p.log_start_offset();
        if sp.start() < log_start {
            // Retention or DeleteRecords removed records it had not finished: they are gone.
            sp.reset_start(log_start);
        }
        let mut durable = false;
        for a in &op.acks {
            match sp.acknowledge(
                &op.member,
                a.first_offset,
                a.last_offset,
                &a.types,
                now,
                &limits,
            ) {
                Ok(d) => durable |= d,
                Err(e) => answer.ack_error = Some(e.into()),
            }
        }
        if op.release_member {
            sp.release_member(&op.member, &limits);
        }
        let _ = durable;
    }
    if !op.acks.is_empty() || op.release_member {
        if let Err(e) = slot.persist(shard).await {
            answer.ack_error = Some(e);
        }
    }
    let Some((max_records, max_bytes)) = op.fetch else {
        return answer;
    };
    let upper = if read_committed {
        p.last_stable_offset()
    } else {
        p.high_watermark()
    };
    let from = slot.sp.borrow().next_fetch_offset(upper, &limits);
    let Some(from) = from else {
        return answer;
    };
    let fetched = match p.fetch(from, max_bytes, true, read_committed).await {
        Ok(f) => f,
        Err(e) => {
            answer.error = Some(match e {
                crate::protocol::errors::PartitionError::NotLeader => {
                    ShareError::NotLeaderOrFollower
                }
                crate::protocol::errors::PartitionError::Storage => ShareError::KafkaStorageError,
                _ => ShareError::UnknownServerError,
            });
            return answer;
        }
    };
    let bytes = fetched.records.into_contiguous();
    let spans = batch_spans(&bytes, &fetched.aborted);
    let now = shard.share.now_ms();
    let acquired = slot.sp.borrow_mut().acquire(
        &op.member,
        &spans,
        max_records,
        if read_committed {
            fetched.last_stable_offset
        } else {
            fetched.high_watermark
        },
        now,
        &limits,
    );
    if !acquired.is_empty() {
        answer.records = trim(&bytes, &acquired);
        answer.acquired = acquired;
    }
    answer
}

/// The batches of `bytes` (whole stored v2 batches) as offset spans. A transactional data
/// batch of a producer inside one of `aborted`'s ranges (a read_committed fetch's aborted
/// transactions; empty otherwise) is marked aborted.
pub fn batch_spans(bytes: &[u8], aborted: &[AbortedTxn]) -> Vec<BatchSpan> {
    use crate::log::format::{
        ATTRIBUTES_AT, ATTRIBUTE_CONTROL, ATTRIBUTE_TRANSACTIONAL, BATCH_HEADER_BYTES,
        BATCH_LENGTH_AT, LAST_OFFSET_DELTA_AT, PRODUCER_ID_AT,
    };
    let mut out = Vec::new();
    let mut at = 0usize;
    while let Some(header) = bytes.get(at..at + BATCH_HEADER_BYTES) {
        let be_i64 = |i: usize| {
            header
                .get(i..i + 8)
                .and_then(|s| s.try_into().ok())
                .map(i64::from_be_bytes)
        };
        let be_i32 = |i: usize| {
            header
                .get(i..i + 4)
                .and_then(|s| s.try_into().ok())
                .map(i32::from_be_bytes)
        };
        let be_i16 = |i: usize| {
            header
                .get(i..i + 2)
                .and_then(|s| s.try_into().ok())
                .map(i16::from_be_bytes)
        };
        let (Some(base), Some(len), Some(attributes), Some(delta)) = (
            be_i64(0),
            be_i32(BATCH_LENGTH_AT),
            be_i16(ATTRIBUTES_AT),
            be_i32(LAST_OFFSET_DELTA_AT),
        ) else {
            break;
        };
        let Ok(len) = usize::try_from(len) else { break };
        let control = attributes & ATTRIBUTE_CONTROL != 0;
        let transactional = attributes & ATTRIBUTE_TRANSACTIONAL != 0;
        let in_aborted = |producer_id: i64| {
            aborted.iter().any(|a| {
                a.producer_id == producer_id && a.first_offset <= base && base <= a.last_offset
            })
        };
        out.push(BatchSpan {
            base,
            last: base + i64::from(delta.max(0)),
            control,
            aborted: transactional
                && !control
                && !aborted.is_empty()
                && be_i64(PRODUCER_ID_AT).is_some_and(in_aborted),
        });
        at += 12 + len;
    }
    out
}

/// The batches of `bytes` that hold an acquired offset (a batch wholly before or after every
/// acquired range is dropped).
fn trim(bytes: &Bytes, acquired: &[Acquired]) -> Bytes {
    let (Some(first), Some(last)) = (acquired.first(), acquired.last()) else {
        return Bytes::new();
    };
    let (lo, hi) = (first.first_offset, last.last_offset);
    let mut start = None;
    let mut end = 0usize;
    let mut at = 0usize;
    for span in batch_spans(bytes, &[]) {
        let len = bytes
            .get(at + 8..at + 12)
            .and_then(|s| s.try_into().ok())
            .map_or(0, |b: [u8; 4]| i32::from_be_bytes(b).max(0) as usize);
        let next = at + 12 + len;
        if span.last >= lo && span.base <= hi {
            start.get_or_insert(at);
            end = next;
        }
        at = next;
    }
    match start {
        Some(s) if end <= bytes.len() && s < end => bytes.slice(s..end),
        _ => Bytes::new(),
    }
}

/// Run `op` on the shard `owner` that owns its partition (here, or through `on_shard`, counted
/// as forwarded). A shard that can't be reached answers NOT_LEADER_OR_FOLLOWER.
pub async fn run_on(shard: &Rc<Shard>, owner: u32, op: Op) -> Answer {
    if owner == shard.id {
        return run(shard, op).await;
    }
    shard
        .metrics
        .forwarded
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let acks = !op.acks.is_empty();
    shard
        .on_shard(owner, move |s| async move { run(&s, op).await })
        .await
        .unwrap_or_else(|| Answer {
            error: Some(ShareError::NotLeaderOrFollower),
            ack_error: acks.then_some(ShareError::NotLeaderOrFollower),
            ..Answer::default()
        })
}

/// The connection `connection` closed: end the share sessions it last used and give back
/// what their members hold on those sessions' partitions (Kafka 4.1+ does this from its share
/// session cache's connection-close listener), in a task of its own so the connection's end
/// waits for nothing. The member stays in its group; its next fetch opens a new session.
pub fn end_connection(shard: &Rc<Shard>, connection: u64) {
    let ended = shard.share.sessions.borrow_mut().end_connection(connection);
    if ended.is_empty() || shard.shutdown.is_set() {
        // At shutdown the state files already make acquired records available at the restart.
        return;
    }
    let shard = shard.clone();
    glommio::spawn_local(async move {
        let snapshot = shard.snapshot();
        for e in ended {
            for (topic_id, partition) in e.partitions {
                let Some(topic) = snapshot.topic_by_id(topic_id) else {
                    continue;
                };
                let Some(owner) = snapshot.partition(&topic.name, partition).map(|m| m.owner)
                else {
                    continue;
                };
                let op = Op {
                    key: (e.group.clone(), topic.name.clone(), partition),
                    member: e.member.clone(),
                    acks: Vec::new(),
                    fetch: None,
                    release_member: true,
                };
                let answer = run_on(&shard, owner, op).await;
                if let Some(err) = answer.ack_error.or(answer.error) {
                    // The locks still end on their own.
                    tracing::warn!(
                        group = %e.group,
                        member = %e.member,
                        "release at connection close failed: {err:?}"
                    );
                }
            }
        }
    })
    .detach();
}

/// Initialize the share-partition `key` on this shard if it has no state yet (the
/// coordinator's call when it first assigns the partition).
pub async fn initialize(
    shard: &Rc<Shard>,
    key: ShareKey,
    reset: AutoReset,
) -> Result<(), ShareError> {
    slot(shard, &key, reset).await.map(|_| ())
}

/// Give back every record the `members` of `group` hold in the share-partitions loaded on
/// this shard (they left, or their membership timed out): Kafka releases a departed member's
/// acquisition locks at once rather than when they end. A released record keeps the delivery
/// count it has (it is archived if that already reached the limit). Written to each state
/// file before returning.
pub async fn release_members(shard: &Rc<Shard>, group: &str, members: &[String]) -> usize {
    let slots: Vec<Rc<Slot>> = shard
        .share
        .partitions
        .borrow()
        .iter()
        .filter(|((g, _, _), _)| g == group)
        .map(|(_, s)| s.clone())
        .collect();
    let limits = shard.share.config.limits;
    let mut released = 0;
    for slot in slots {
        let n: usize = {
            let mut sp = slot.sp.borrow_mut();
            members.iter().map(|m| sp.release_member(m, &limits)).sum()
        };
        if n > 0 {
            released += n;
            // A failed write leaves the records released in memory; the next acknowledgement
            // writes them (or a restart finds them acquired and makes them available anyway).
            let _ = slot.persist(shard).await;
        }
    }
    released
}
