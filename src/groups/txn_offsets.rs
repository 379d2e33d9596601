//! Offsets committed inside a transaction (TxnOffsetCommit, KIP-98 / KIP-447), durable the
//! way Kafka's group coordinator keeps them:
//!
//! 1. TxnOffsetCommit appends the offset records to the group's `__consumer_offsets`
//!    partition as one *transactional* batch under the producer's id and epoch (fdatasynced
//!    before the answer), then stages them here, per group and producer. The batch is refused
//!    unless the transaction coordinator added that partition to the producer's transaction
//!    (AddOffsetsToTxn) at that epoch.
//! 2. EndTxn's marker path reaches [`complete`] on this shard: the COMMIT or ABORT marker is
//!    appended to the offsets partition, then on COMMIT the staged offsets become the group's
//!    committed offsets; on ABORT they are dropped.
//! 3. Replay (`Shard::replay_offsets_partition`) does the same from the log: transactional
//!    offset records are held per producer until their marker, applied on COMMIT, dropped on
//!    ABORT; those with no marker yet are staged again through [`restore`], so OffsetFetch with
//!    `require_stable` still answers UNSTABLE_OFFSET_COMMIT after a restart, and the
//!    transaction's end (finished or aborted by the restarted coordinator) settles them.
//!
//! While staged, OffsetFetch with `require_stable` answers UNSTABLE_OFFSET_COMMIT for their
//! partitions. Lives on the group's coordinator shard (`Shard::txn_offsets`), which owns the
//! group's offsets partition.
//!
//! Order, as in Kafka 4's `OffsetMetadataManager`: each staged offset knows where its record
//! is in the offsets partition's log. A plain record of the same key written later in that log
//! (an OffsetCommit, or a tombstone: OffsetDelete, expiry, group deletion) supersedes it:
//! it stays pending — UNSTABLE_OFFSET_COMMIT until the transaction ends, Kafka tracks open
//! transactions per partition whatever their offsets became — but the transaction's COMMIT
//! no longer applies it, so the later plain record stays the group's offset. The live path
//! ([`PendingTxnOffsets::superseded_by`], called for every plain append to an offsets
//! partition) and replay (`OffsetsReplay`) apply the same rule, so a restart changes nothing.
//! Appends to one log complete in offset order (one writer per log, woken in order), so a
//! plain record's completion sees every staged record before it in the log.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use bytes::Bytes;

use super::coordinator::{apply_txn_offsets, CommitPartition, PartitionResults};
use super::offsets_partition_for;
use super::records::{self, RecordKey};
use super::state::CommittedOffset;
use crate::protocol::errors::{GroupError, PartitionError};
use crate::shard::offsets_topic::OFFSETS_TOPIC;
use crate::shard::Shard;

/// One offset a transaction staged.
#[derive(Debug, Clone)]
pub struct StagedOffset {
    pub topic: String,
    pub partition: i32,
    pub offset: CommittedOffset,
    /// Where its record is in the group's offsets partition.
    pub record_offset: i64,
    /// A plain record of the same key was written later in the log: still pending, never
    /// applied.
    pub superseded: bool,
}

type Staged = Vec<StagedOffset>;

/// One shard's staged transactional offsets: group id → producer id → offsets.
#[derive(Default)]
pub struct PendingTxnOffsets {
    staged: RefCell<HashMap<String, HashMap<i64, Staged>>>,
}

impl PendingTxnOffsets {
    /// Whether a transaction has staged an offset for `topic`-`partition` in `group_id`
    /// (superseded or not: the transaction is open on that partition either way).
    pub fn is_pending(&self, group_id: &str, topic: &str, partition: i32) -> bool {
        self.staged
            .borrow()
            .get(group_id)
            .is_some_and(|by_producer| {
                by_producer
                    .values()
                    .flatten()
                    .any(|s| s.topic == topic && s.partition == partition)
            })
    }

    /// Whether nothing is staged on this shard (the plain-commit path's fast check).
    pub fn is_empty(&self) -> bool {
        self.staged.borrow().is_empty()
    }

    /// Plain records (not transactional) of `keys` were appended to offsets partition
    /// `offsets_partition`, the first at log offset `base`, the rest after it: every staged
    /// offset of the same group, topic and partition whose record is earlier in the log is
    /// superseded (Kafka keeps the later record).
    pub fn superseded_by(&self, offsets_partition: i32, keys: &[Bytes], base: i64) {
        let mut staged = self.staged.borrow_mut();
        for (i, key) in keys.iter().enumerate() {
            let Ok(RecordKey::Offset {
                group,
                topic,
                partition,
            }) = records::decode_key(key)
            else {
                continue;
            };
            if offsets_partition_for(&group) != offsets_partition {
                continue;
            }
            let at = base.saturating_add(i as i64);
            for s in staged.get_mut(&group).into_iter().flat_map(|by_producer| {
                by_producer
                    .values_mut()
                    .flat_map(|offsets| offsets.iter_mut())
            }) {
                if s.topic == topic && s.partition == partition && s.record_offset < at {
                    s.superseded = true;
                }
            }
        }
    }

    fn add(&self, group_id: &str, producer_id: i64, offsets: Staged) {
        let mut staged = self.staged.borrow_mut();
        let entry = staged
            .entry(group_id.to_string())
            .or_default()
            .entry(producer_id)
            .or_default();
        for s in offsets {
            entry.retain(|e| !(e.topic == s.topic && e.partition == s.partition));
            entry.push(s);
        }
    }
}

/// The group member a TxnOffsetCommit names (v3+; v0–2 send none: generation -1, no ids).
#[derive(Debug, Clone, Default)]
pub struct TxnMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub generation: i32,
}

/// TxnOffsetCommit on the group's coordinator shard: check the member fields against the
/// group (Kafka 4's transactional offset-commit validation), append the offsets to the
/// group's offsets partition as a transactional batch of `producer_id` at `epoch`, then stage
/// them.
pub async fn stage(
    shard: &Rc<Shard>,
    group_id: &str,
    producer_id: i64,
    epoch: i16,
    member: TxnMember,
    partitions: Vec<CommitPartition>,
) -> PartitionResults {
    if let Err(e) = super::coordinator::validate_txn_commit(
        shard,
        group_id,
        &member.member_id,
        member.instance_id.as_deref(),
        member.generation,
    ) {
        return partitions
            .into_iter()
            .map(|p| (p.topic, p.partition, Err(e)))
            .collect();
    }
    let snapshot = shard.snapshot();
    let metadata_max = shard.groups.config.offset_metadata_bytes_max;
    let now = crate::log::now_ms();
    let mut results = Vec::with_capacity(partitions.len());
    let mut valid: Staged = Vec::new();
    for p in partitions {
        let r = if snapshot.partition(&p.topic, p.partition).is_none() {
            Err(GroupError::UnknownTopicOrPartition)
        } else if p.metadata.as_ref().map_or(0, String::len) > metadata_max {
            Err(GroupError::OffsetMetadataTooLarge)
        } else {
            valid.retain(|s| !(s.topic == p.topic && s.partition == p.partition));
            valid.push(StagedOffset {
                topic: p.topic.clone(),
                partition: p.partition,
                offset: CommittedOffset {
                    offset: p.offset,
                    leader_epoch: p.leader_epoch,
                    metadata: p.metadata.clone().unwrap_or_default(),
                    commit_timestamp_ms: now,
                    expire_timestamp_ms: None,
                },
                // Set from the batch's base offset once appended.
                record_offset: -1,
                superseded: false,
            });
            Ok(())
        };
        results.push((p.topic, p.partition, r));
    }
    if valid.is_empty() {
        return results;
    }
    let recs: Vec<(Bytes, Option<Bytes>)> = valid
        .iter()
        .map(|s| {
            (
                records::offset_key(group_id, &s.topic, s.partition),
                Some(records::offset_value(&s.offset)),
            )
        })
        .collect();
    let appended = match shard.local_partition(OFFSETS_TOPIC, offsets_partition_for(group_id)) {
        Some(part) => part.append_txn_offsets(producer_id, epoch, recs).await,
        None => Err(PartitionError::NotLeader),
    };
    match appended {
        Ok(base) => {
            // One record per staged offset, in order, from the batch's base offset.
            for (i, s) in valid.iter_mut().enumerate() {
                s.record_offset = base.saturating_add(i as i64);
            }
            shard.txn_offsets.add(group_id, producer_id, valid);
        }
        Err(e) => {
            tracing::warn!(group = %group_id, producer_id, error = ?e, "storing transactional offsets");
            let err = GroupError::from(e);
            for r in results.iter_mut().filter(|r| r.2.is_ok()) {
                r.2 = Err(err);
            }
        }
    }
    results
}

/// The transaction of `producer_id` ended: write its COMMIT / ABORT marker into offsets
/// partition `offsets_partition`, then make its staged offsets the groups' committed offsets
/// (commit) or drop them (abort). The marker is written even with nothing staged: it closes
/// the producer's transaction in that partition's log either way.
pub async fn complete(
    shard: &Rc<Shard>,
    offsets_partition: i32,
    producer_id: i64,
    epoch: i16,
    commit: bool,
    coordinator_epoch: i32,
) -> Result<(), PartitionError> {
    let part = shard
        .local_partition(OFFSETS_TOPIC, offsets_partition)
        .ok_or(PartitionError::NotLeader)?;
    part.append_marker(producer_id, epoch, commit, coordinator_epoch)
        .await?;
    let taken: Vec<(String, Staged)> = {
        let mut staged = shard.txn_offsets.staged.borrow_mut();
        let mut taken = Vec::new();
        for (group, by_producer) in staged.iter_mut() {
            if offsets_partition_for(group) != offsets_partition {
                continue;
            }
            if let Some(offsets) = by_producer.remove(&producer_id) {
                taken.push((group.clone(), offsets));
            }
        }
        staged.retain(|_, by_producer| !by_producer.is_empty());
        taken
    };
    if commit {
        for (group, offsets) in taken {
            apply_txn_offsets(shard, &group, offsets);
        }
    }
    Ok(())
}

/// One transactional offset record replay holds until its marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldRecord {
    pub key: Bytes,
    pub value: Option<Bytes>,
    /// Its place in the offsets partition's log.
    pub offset: i64,
    /// A plain record of the same key came later in the log (see the module doc).
    pub superseded: bool,
}

/// Replay found transactional offset records of `producer_id` in offsets partition
/// `offsets_partition` with no marker after them: stage them again (superseded ones too: the
/// transaction is still open on their partitions), unless the partition's transaction for
/// that producer has meanwhile ended (a marker appended while replay read).
pub fn restore(shard: &Rc<Shard>, offsets_partition: i32, producer_id: i64, recs: Vec<HeldRecord>) {
    let Some(part) = shard.local_partition(OFFSETS_TOPIC, offsets_partition) else {
        return;
    };
    if !part
        .txn_ongoing()
        .iter()
        .any(|(pid, _)| *pid == producer_id)
    {
        return;
    }
    let mut by_group: HashMap<String, Staged> = HashMap::new();
    for held in recs {
        let (
            Ok(RecordKey::Offset {
                group,
                topic,
                partition,
            }),
            Some(value),
        ) = (records::decode_key(&held.key), held.value)
        else {
            continue;
        };
        if let Ok(o) = records::decode_offset_value(&value) {
            by_group.entry(group).or_default().push(StagedOffset {
                topic,
                partition,
                offset: o,
                record_offset: held.offset,
                superseded: held.superseded,
            });
        }
    }
    for (group, offsets) in by_group {
        shard.txn_offsets.add(&group, producer_id, offsets);
    }
}
