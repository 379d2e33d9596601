//! Replay: the groups and committed offsets of this shard's `__consumer_offsets` partitions,
//! rebuilt from their records before a partition's groups are first used.
//!
//! Runs on the coordinator's shard (the owner of the offsets partition).

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use futures::channel::oneshot;

use super::{schedule, Load, Slot};
use crate::groups::consumer::group::{self as consumer, ConsumerGroup, TopicsView};
use crate::groups::records::{self, RecordKey};
use crate::groups::state::{CommittedOffset, Group};
use crate::protocol::errors::GroupError;
use crate::shard::offsets_topic::{OFFSETS_TOPIC, OFFSETS_TOPIC_PARTITIONS};
use crate::shard::Shard;

pub(super) async fn load_all_local(shard: &Rc<Shard>) {
    for p in 0..OFFSETS_TOPIC_PARTITIONS {
        if shard.local_partition(OFFSETS_TOPIC, p).is_some() {
            if let Err(e) = ensure_loaded(shard, p).await {
                tracing::warn!(partition = p, error = ?e, "loading groups");
            }
        }
    }
}

/// Replay offsets partition `p` into this shard's coordinator once; concurrent callers wait.
pub(super) async fn ensure_loaded(shard: &Rc<Shard>, p: i32) -> Result<(), GroupError> {
    loop {
        let wait = {
            let mut loads = shard.groups.loads.borrow_mut();
            match loads.get_mut(&p) {
                Some(Load::Loaded) => return Ok(()),
                Some(Load::Loading(waiters)) => {
                    let (tx, rx) = oneshot::channel();
                    waiters.push(tx);
                    Some(rx)
                }
                None => {
                    loads.insert(p, Load::Loading(Vec::new()));
                    None
                }
            }
        };
        match wait {
            Some(rx) => {
                let _ = rx.await;
            }
            None => {
                let result = load_partition(shard, p).await;
                let previous = match &result {
                    Ok(()) => shard.groups.loads.borrow_mut().insert(p, Load::Loaded),
                    Err(_) => shard.groups.loads.borrow_mut().remove(&p),
                };
                if let Some(Load::Loading(waiters)) = previous {
                    for w in waiters {
                        let _ = w.send(());
                    }
                }
                return result;
            }
        }
    }
}

/// One group's records as replayed from its offsets partition.
#[derive(Debug, Default)]
pub struct Replayed {
    /// Its classic group metadata record.
    pub meta: Option<crate::groups::state::GroupSnapshot>,
    pub offsets: BTreeMap<(String, i32), CommittedOffset>,
    /// A KIP-848 consumer group's records.
    pub consumer: consumer::Replayed,
    /// A share group's records.
    pub share: crate::share::persist::Replayed,
}

/// The groups of one `__consumer_offsets` partition as its records replay them, in log order:
/// the newest value of each key wins, a tombstone deletes. A record that does not decode (key
/// or value) is counted and skipped, never applied in part. Pure: `load_partition` feeds it the
/// partition's records, the fuzz target and tests feed it hostile ones.
#[derive(Debug, Default)]
pub struct PartitionReplay {
    /// Group id → its records.
    pub groups: HashMap<String, Replayed>,
    /// Records skipped as undecodable.
    pub bad: u64,
}

impl PartitionReplay {
    /// Apply one record (`value` None: a tombstone).
    pub fn apply(&mut self, raw_key: &[u8], value: Option<&[u8]>) {
        let Ok(key) = records::decode_key(raw_key) else {
            self.bad += 1;
            return;
        };
        let entry = self.groups.entry(key.group().to_string()).or_default();
        let applied = match (key, value) {
            (
                RecordKey::Offset {
                    topic, partition, ..
                },
                Some(v),
            ) => records::decode_offset_value(v).map(|o| {
                entry.offsets.insert((topic, partition), o);
            }),
            (
                RecordKey::Offset {
                    topic, partition, ..
                },
                None,
            ) => {
                entry.offsets.remove(&(topic, partition));
                Ok(())
            }
            (RecordKey::Group { .. }, Some(v)) => {
                records::decode_group_value(v).map(|g| entry.meta = Some(g))
            }
            (RecordKey::Group { .. }, None) => {
                entry.meta = None;
                Ok(())
            }
            (RecordKey::Consumer { key, .. }, v) => entry.consumer.apply(key, v),
            (RecordKey::Share { key, .. }, v) => entry.share.apply(raw_key, key, v),
        };
        if applied.is_err() {
            self.bad += 1;
        }
    }
}

async fn load_partition(shard: &Rc<Shard>, p: i32) -> Result<(), GroupError> {
    if shard.local_partition(OFFSETS_TOPIC, p).is_none() {
        return Err(GroupError::NotCoordinator);
    }
    let mut replay = PartitionReplay::default();
    let r = shard
        .replay_offsets_partition(p, |raw_key, value| replay.apply(raw_key, value))
        .await;
    if let Err(e) = r {
        tracing::error!(partition = p, error = ?e, "replaying __consumer_offsets");
        return Err(GroupError::CoordinatorLoadInProgress);
    }
    let PartitionReplay {
        groups: replayed,
        bad,
    } = replay;
    if bad > 0 {
        tracing::warn!(
            partition = p,
            records = bad,
            "skipped undecodable __consumer_offsets records"
        );
    }
    let c = &shard.groups;
    let now = c.now();
    let count = replayed.len();
    let (version, topics) = super::consumer::topics(shard);
    let view = TopicsView {
        version,
        topics: &topics,
    };
    for (id, mut r) in replayed {
        if r.share.exists() {
            crate::share::persist::install(shard, &id, std::mem::take(&mut r.share));
        }
        let is_consumer = r.consumer.exists();
        let mut group = match r.meta {
            // A consumer group's classic side is empty (a classic record left from before
            // the group changed type says nothing about it).
            Some(meta) if !is_consumer => Group::from_snapshot(&id, c.config, meta, now),
            _ if is_consumer || !r.offsets.is_empty() => Group::new(&id, c.config, now),
            _ => continue,
        };
        group.offsets = r.offsets;
        let mut slot = Slot::new(group);
        if is_consumer {
            let (session_timeout_ms, _) = super::consumer::group_timeouts(shard, &id);
            let g = ConsumerGroup::restore(r.consumer, &view, session_timeout_ms, now.mono_ms);
            slot.consumer_records = g.records(&id);
            slot.consumer = Some(g);
        }
        c.groups.borrow_mut().insert(id.clone(), slot);
        schedule(c, &id);
    }
    if count > 0 {
        tracing::info!(
            shard = shard.id,
            partition = p,
            groups = count,
            "groups loaded"
        );
    }
    Ok(())
}
