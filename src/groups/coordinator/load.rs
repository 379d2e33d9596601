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

#[derive(Default)]
struct Replayed {
    meta: Option<crate::groups::state::GroupSnapshot>,
    offsets: BTreeMap<(String, i32), CommittedOffset>,
    /// A KIP-848 consumer group's records.
    consumer: consumer::Replayed,
    /// A share group's records.
    share: crate::share::persist::Replayed,
}

async fn load_partition(shard: &Rc<Shard>, p: i32) -> Result<(), GroupError> {
    if shard.local_partition(OFFSETS_TOPIC, p).is_none() {
        return Err(GroupError::NotCoordinator);
    }
    let mut replayed: HashMap<String, Replayed> = HashMap::new();
    let mut bad = 0u64;
    let r = shard
        .replay_offsets_partition(p, |raw_key, value| {
            let key = match records::decode_key(raw_key) {
                Ok(k) => k,
                Err(_) => {
                    bad += 1;
                    return;
                }
            };
            let entry = replayed.entry(key.group().to_string()).or_default();
            match (key, value) {
                (
                    RecordKey::Offset {
                        topic, partition, ..
                    },
                    Some(v),
                ) => match records::decode_offset_value(v) {
                    Ok(o) => {
                        entry.offsets.insert((topic, partition), o);
                    }
                    Err(_) => bad += 1,
                },
                (
                    RecordKey::Offset {
                        topic, partition, ..
                    },
                    None,
                ) => {
                    entry.offsets.remove(&(topic, partition));
                }
                (RecordKey::Group { .. }, Some(v)) => match records::decode_group_value(v) {
                    Ok(g) => entry.meta = Some(g),
                    Err(_) => bad += 1,
                },
                (RecordKey::Group { .. }, None) => entry.meta = None,
                (RecordKey::Consumer { key, .. }, v) => {
                    if entry.consumer.apply(key, v).is_err() {
                        bad += 1;
                    }
                }
                (RecordKey::Share { key, .. }, v) => {
                    if entry.share.apply(raw_key, key, v).is_err() {
                        bad += 1;
                    }
                }
            }
        })
        .await;
    if let Err(e) = r {
        tracing::error!(partition = p, error = ?e, "replaying __consumer_offsets");
        return Err(GroupError::CoordinatorLoadInProgress);
    }
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
