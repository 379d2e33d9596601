//! Committed offsets: OffsetCommit, OffsetFetch, OffsetDelete, transactional offsets made
//! visible at commit, and offset retention (with the tombstones each removal writes).
//!
//! Runs on the group's coordinator shard, through [`super::route`] (retention: from the
//! coordinator's background task).

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use bytes::Bytes;

use super::{
    after, consumer_writes, with_group, CommitPartition, FetchedOffsets, PartitionResults, Slot,
};
use crate::groups::consumer::group::OFFSET_COMMIT_MEMBER_EPOCH_VERSION;
use crate::groups::offsets_partition_for;
use crate::groups::records;
use crate::groups::state::{CommittedOffset, Group, GroupState};
use crate::groups::txn_offsets::StagedOffset;
use crate::protocol::errors::GroupError;
use crate::shard::Shard;

/// TxnOffsetCommit's group checks (Kafka 4's `validateTransactionalOffsetCommit`): an
/// unknown group accepts only a generation below 0 (else ILLEGAL_GENERATION); a classic group
/// checks member, instance and generation when given; a consumer group (KIP-848) checks the
/// member epoch when any member field is given, a stale epoch answered as ILLEGAL_GENERATION.
pub fn validate_txn_commit(
    shard: &Rc<Shard>,
    group_id: &str,
    member_id: &str,
    instance_id: Option<&str>,
    generation: i32,
) -> Result<(), GroupError> {
    let c = &shard.groups;
    let now = c.now();
    let allowed = match c.groups.borrow_mut().get_mut(group_id) {
        None if generation < 0 => Ok(()),
        None => Err(GroupError::IllegalGeneration),
        Some(slot) => match &slot.consumer {
            Some(_) if generation < 0 && member_id.is_empty() && instance_id.is_none() => Ok(()),
            // TxnOffsetCommit has no version rule for consumer-protocol members (the
            // OffsetCommit v9 requirement is OffsetCommit's): validate as the newest version.
            Some(g) => g
                .validate_commit(member_id, generation, i16::MAX)
                .map_err(|e| match e {
                    GroupError::StaleMemberEpoch => GroupError::IllegalGeneration,
                    other => other,
                }),
            None => slot
                .group
                .validate_txn_commit(member_id, instance_id, generation, now),
        },
    };
    after(shard, group_id);
    allowed
}

/// One OffsetCommit's request-level fields.
#[derive(Debug, Clone)]
pub struct CommitRequest {
    pub group_id: String,
    pub member_id: String,
    pub instance_id: Option<String>,
    /// Generation (classic) or member epoch (consumer group).
    pub generation: i32,
    pub retention_ms: Option<i64>,
    /// The OffsetCommit version (v9+: GROUP_ID_NOT_FOUND; consumer-protocol members need it).
    pub version: i16,
}

pub async fn commit(
    shard: Rc<Shard>,
    req: CommitRequest,
    partitions: Vec<CommitPartition>,
) -> PartitionResults {
    let CommitRequest {
        group_id,
        member_id,
        instance_id,
        generation,
        retention_ms,
        version,
    } = req;
    let c = &shard.groups;
    let now = c.now();
    let snapshot = shard.snapshot();
    let mut results: PartitionResults = Vec::with_capacity(partitions.len());
    let mut valid = Vec::new();
    for p in partitions {
        let r = if snapshot.partition(&p.topic, p.partition).is_none() {
            Err(GroupError::UnknownTopicOrPartition)
        } else if p.metadata.as_ref().map_or(0, String::len) > c.config.offset_metadata_bytes_max {
            Err(GroupError::OffsetMetadataTooLarge)
        } else {
            Ok(())
        };
        match r {
            Ok(()) => valid.push(p),
            Err(e) => results.push((p.topic, p.partition, Err(e))),
        }
    }
    if !c.groups.borrow().contains_key(&group_id) {
        if generation >= 0 {
            // Kafka: GROUP_ID_NOT_FOUND from v9, ILLEGAL_GENERATION before (compatibility).
            let e = if version >= OFFSET_COMMIT_MEMBER_EPOCH_VERSION {
                GroupError::GroupIdNotFound
            } else {
                GroupError::IllegalGeneration
            };
            results.extend(valid.into_iter().map(|p| (p.topic, p.partition, Err(e))));
            return results;
        }
        c.groups.borrow_mut().insert(
            group_id.clone(),
            Slot::new(Group::new(&group_id, c.config, now)),
        );
    }
    // A consumer group checks member epochs (STALE_MEMBER_EPOCH); a classic one generations.
    let allowed = match c.groups.borrow_mut().get_mut(&group_id) {
        Some(slot) => match &slot.consumer {
            Some(g) => g.validate_commit(&member_id, generation, version),
            None => slot
                .group
                .validate_commit(&member_id, instance_id.as_deref(), generation, now),
        },
        None => Err(GroupError::CoordinatorNotAvailable),
    };
    after(&shard, &group_id);
    if let Err(e) = allowed {
        results.extend(valid.into_iter().map(|p| (p.topic, p.partition, Err(e))));
        return results;
    }
    if valid.is_empty() {
        return results;
    }
    let offsets: Vec<(CommitPartition, CommittedOffset)> = valid
        .into_iter()
        .map(|p| {
            let o = CommittedOffset {
                offset: p.offset,
                leader_epoch: p.leader_epoch,
                metadata: p.metadata.clone().unwrap_or_default(),
                commit_timestamp_ms: now.wall_ms,
                expire_timestamp_ms: retention_ms
                    .filter(|r| *r >= 0)
                    .map(|r| now.wall_ms.saturating_add(r)),
            };
            (p, o)
        })
        .collect();
    let recs = offsets
        .iter()
        .map(|(p, o)| {
            (
                records::offset_key(&group_id, &p.topic, p.partition),
                Some(records::offset_value(o)),
            )
        })
        .collect();
    let appended = shard
        .append_offsets_records(offsets_partition_for(&group_id), recs)
        .await
        .map_err(|e| {
            tracing::warn!(group = %group_id, error = ?e, "storing committed offsets");
            GroupError::from(e)
        });
    if appended.is_ok() {
        with_group(c, &group_id, |g| {
            for (p, o) in &offsets {
                g.commit(p.topic.clone(), p.partition, o.clone());
            }
        });
    }
    results.extend(
        offsets
            .into_iter()
            .map(|(p, _)| (p.topic, p.partition, appended)),
    );
    results
}

/// Committed offsets: for the partitions asked (None where nothing is committed), or for every
/// committed partition when `topics` is None.
pub fn fetch_offsets(
    shard: &Rc<Shard>,
    group_id: &str,
    topics: Option<Vec<(String, Vec<i32>)>>,
) -> FetchedOffsets {
    let c = &shard.groups;
    let groups = c.groups.borrow();
    let offsets = groups.get(group_id).map(|s| &s.group.offsets);
    match topics {
        Some(topics) => topics
            .into_iter()
            .map(|(t, ps)| {
                let found = ps
                    .into_iter()
                    .map(|p| {
                        let o = offsets.and_then(|o| o.get(&(t.clone(), p)).cloned());
                        (p, o)
                    })
                    .collect();
                (t, found)
            })
            .collect(),
        None => {
            let mut by_topic: BTreeMap<String, Vec<(i32, Option<CommittedOffset>)>> =
                BTreeMap::new();
            for ((t, p), o) in offsets.into_iter().flatten() {
                by_topic
                    .entry(t.clone())
                    .or_default()
                    .push((*p, Some(o.clone())));
            }
            by_topic.into_iter().collect()
        }
    }
}

/// Tombstones for a group's offsets (and the group itself when `group_too`).
pub(super) fn tombstones(
    group_id: &str,
    keys: &[(String, i32)],
    group_too: bool,
) -> Vec<(Bytes, Option<Bytes>)> {
    let mut recs: Vec<(Bytes, Option<Bytes>)> = keys
        .iter()
        .map(|(t, p)| (records::offset_key(group_id, t, *p), None))
        .collect();
    if group_too {
        recs.push((records::group_key(group_id), None));
    }
    recs
}

/// OffsetDelete: remove committed offsets the group no longer consumes.
pub async fn delete_offsets(
    shard: Rc<Shard>,
    group_id: String,
    partitions: Vec<(String, i32)>,
) -> Result<PartitionResults, GroupError> {
    let c = &shard.groups;
    let snapshot = shard.snapshot();
    let mut results: PartitionResults = Vec::new();
    let mut removed = Vec::new();
    {
        let mut groups = c.groups.borrow_mut();
        let g = &mut groups
            .get_mut(&group_id)
            .ok_or(GroupError::GroupIdNotFound)?
            .group;
        let subscribed = match g.state() {
            GroupState::Dead => return Err(GroupError::GroupIdNotFound),
            GroupState::Empty => None,
            _ if g.protocol_type()
                == Some(crate::groups::consumer_protocol::CONSUMER_PROTOCOL_TYPE) =>
            {
                Some(g.subscribed_topics().unwrap_or_default())
            }
            _ => return Err(GroupError::NonEmptyGroup),
        };
        for (t, p) in partitions {
            if snapshot.partition(&t, p).is_none() {
                results.push((t, p, Err(GroupError::UnknownTopicOrPartition)));
            } else if subscribed.as_ref().is_some_and(|s| s.contains(&t)) {
                results.push((t, p, Err(GroupError::GroupSubscribedToTopic)));
            } else {
                if g.offsets.remove(&(t.clone(), p)).is_some() {
                    removed.push((t.clone(), p));
                }
                results.push((t, p, Ok(())));
            }
        }
    }
    if !removed.is_empty() {
        shard
            .append_offsets_records(
                offsets_partition_for(&group_id),
                tombstones(&group_id, &removed, false),
            )
            .await
            .map_err(GroupError::from)?;
    }
    Ok(results)
}

/// Offset retention: remove expired offsets, then empty groups left with none (Kafka's
/// `cleanupGroupMetadata`), writing tombstones for both.
pub(super) async fn expire_offsets(shard: &Rc<Shard>) {
    let c = &shard.groups;
    let now = c.now();
    let mut writes: HashMap<i32, Vec<(Bytes, Option<Bytes>)>> = HashMap::new();
    let mut dead = Vec::new();
    for (id, slot) in c.groups.borrow_mut().iter_mut() {
        // A consumer group's offsets expire only once it is empty, as a classic group's.
        if slot.consumer.as_ref().is_some_and(|g| !g.is_empty()) {
            continue;
        }
        let g = &mut slot.group;
        let expired = g.expire_offsets(now, c.config.offsets_retention_ms);
        let gone = g.state() == GroupState::Empty && g.is_disposable();
        if gone {
            g.mark_dead(now);
            dead.push(id.clone());
        }
        if !expired.is_empty() || gone {
            writes
                .entry(offsets_partition_for(id))
                .or_default()
                .extend(tombstones(id, &expired, gone));
        }
    }
    for id in &dead {
        // A consumer group's tombstones go with its offsets'.
        let consumer = consumer_writes(c, id);
        writes
            .entry(offsets_partition_for(id))
            .or_default()
            .extend(consumer);
        after(shard, id);
        c.groups.borrow_mut().remove(id);
    }
    for (p, recs) in writes {
        let n = recs.len();
        if let Err(e) = shard.append_offsets_records(p, recs).await {
            tracing::warn!(partition = p, error = ?e, "writing expired-offset tombstones");
        } else {
            tracing::info!(
                partition = p,
                records = n,
                "expired offsets and groups removed"
            );
        }
    }
}

/// Offsets a committed transaction wrote for `group_id` (TxnOffsetCommit), already appended to
/// the offsets partition: the group sees them now (`groups::txn_offsets`), except those a
/// plain record written later in the log superseded (Kafka keeps the later record).
pub fn apply_txn_offsets(shard: &Rc<Shard>, group_id: &str, offsets: Vec<StagedOffset>) {
    if offsets.iter().all(|s| s.superseded) {
        return;
    }
    let c = &shard.groups;
    let now = c.now();
    c.groups
        .borrow_mut()
        .entry(group_id.to_string())
        .or_insert_with(|| Slot::new(Group::new(group_id, c.config, now)));
    with_group(c, group_id, |g| {
        for s in offsets.into_iter().filter(|s| !s.superseded) {
            g.commit(s.topic, s.partition, s.offset);
        }
    });
}
