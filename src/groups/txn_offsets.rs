//! Offsets committed inside a transaction (TxnOffsetCommit, KIP-98 / KIP-447): staged per
//! group and producer until the transaction ends. On COMMIT they are appended to the group's
//! `__consumer_offsets` partition as ordinary offset records and the group sees them; on ABORT
//! they are dropped. While staged, OffsetFetch with `require_stable` answers
//! UNSTABLE_OFFSET_COMMIT for their partitions.
//!
//! Lives on the group's coordinator shard (`Shard::txn_offsets`), which also owns the offsets
//! partition the transaction coordinator "adds" for AddOffsetsToTxn: its end reaches here
//! through the cross-core marker path.
//!
//! Staged offsets are held in memory only: a restart between TxnOffsetCommit and EndTxn loses
//! them (the transaction's data is still committed or aborted as decided).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use super::coordinator::{apply_committed_offsets, CommitPartition, PartitionResults};
use super::offsets_partition_for;
use super::records;
use super::state::CommittedOffset;
use crate::protocol::errors::{GroupError, PartitionError};
use crate::shard::Shard;

type Staged = Vec<(String, i32, CommittedOffset)>;

/// One shard's staged transactional offsets: group id → producer id → offsets.
#[derive(Default)]
pub struct PendingTxnOffsets {
    staged: RefCell<HashMap<String, HashMap<i64, Staged>>>,
}

impl PendingTxnOffsets {
    /// Whether a transaction has staged an offset for `topic`-`partition` in `group_id`.
    pub fn is_pending(&self, group_id: &str, topic: &str, partition: i32) -> bool {
        self.staged
            .borrow()
            .get(group_id)
            .is_some_and(|by_producer| {
                by_producer
                    .values()
                    .flatten()
                    .any(|(t, p, _)| t == topic && *p == partition)
            })
    }
}

/// TxnOffsetCommit on the group's coordinator shard: stage the offsets under the producer.
pub fn stage(
    shard: &Rc<Shard>,
    group_id: &str,
    producer_id: i64,
    partitions: Vec<CommitPartition>,
) -> PartitionResults {
    let snapshot = shard.snapshot();
    let metadata_max = shard.groups.config.offset_metadata_bytes_max;
    let now = crate::log::now_ms();
    let mut results = Vec::with_capacity(partitions.len());
    let mut staged = shard.txn_offsets.staged.borrow_mut();
    let entry = staged
        .entry(group_id.to_string())
        .or_default()
        .entry(producer_id)
        .or_default();
    for p in partitions {
        let r = if snapshot.partition(&p.topic, p.partition).is_none() {
            Err(GroupError::UnknownTopicOrPartition)
        } else if p.metadata.as_ref().map_or(0, String::len) > metadata_max {
            Err(GroupError::OffsetMetadataTooLarge)
        } else {
            let o = CommittedOffset {
                offset: p.offset,
                leader_epoch: p.leader_epoch,
                metadata: p.metadata.clone().unwrap_or_default(),
                commit_timestamp_ms: now,
                expire_timestamp_ms: None,
            };
            entry.retain(|(t, q, _)| !(*t == p.topic && *q == p.partition));
            entry.push((p.topic.clone(), p.partition, o));
            Ok(())
        };
        results.push((p.topic, p.partition, r));
    }
    results
}

/// The transaction of `producer_id` ended: commit (append and apply) or drop its staged
/// offsets for every group of offsets partition `offsets_partition`.
pub async fn complete(
    shard: &Rc<Shard>,
    offsets_partition: i32,
    producer_id: i64,
    commit: bool,
) -> Result<(), PartitionError> {
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
    if !commit {
        return Ok(());
    }
    for (group, offsets) in taken {
        let recs = offsets
            .iter()
            .map(|(t, p, o)| {
                (
                    records::offset_key(&group, t, *p),
                    Some(records::offset_value(o)),
                )
            })
            .collect();
        if let Err(e) = shard.append_offsets_records(offsets_partition, recs).await {
            // Put them back: the marker write is retried, and must find them.
            let mut staged = shard.txn_offsets.staged.borrow_mut();
            staged
                .entry(group.clone())
                .or_default()
                .entry(producer_id)
                .or_default()
                .extend(offsets);
            return Err(e);
        }
        apply_committed_offsets(shard, &group, offsets);
    }
    Ok(())
}
