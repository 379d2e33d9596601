//! A share group as its `__consumer_offsets` records (`records`, Kafka 4.2's types 10–15),
//! and back; and the coordinator's writes of what changed. Runs on the group's coordinator
//! shard (the owner of its `__consumer_offsets` partition), as the consumer groups' records.
//!
//! The coordinator keeps the records last written per group (`ShareState::written`) and
//! appends only what changed, with tombstones for what went (a member that left, every key of
//! a deleted group), so the log holds one live value per key for compaction. Changes are in
//! the log before the request that made them is answered.
//!
//! Restored as Kafka restores a share group: members keep their ids, epochs and assignments
//! (a returning member's heartbeat at its epoch simply continues), every session timer starts
//! again at load (a member that does not come back is expired and its records released), the
//! target assignment is kept at its epoch. Share-partitions recorded as initialized are
//! remembered, so their owners are not asked again.

use std::collections::BTreeMap;
use std::rc::Rc;

use bytes::Bytes;

use super::group::{Member, ShareGroup};
use super::records::{
    self as rec, CurrentAssignment, MemberMetadata, ShareRecordKey, ShareValue, TopicPartitions,
};
use super::ShareError;
use crate::groups::consumer::Assignment;
use crate::groups::record_codec::RecordError;
use crate::groups::records::{diff, Writes};
use crate::protocol::errors::GroupError;
use crate::shard::Shard;

/// A share group's records as replayed from the log (the newest value per key).
#[derive(Debug, Default)]
pub struct Replayed {
    epoch: Option<i32>,
    members: BTreeMap<String, MemberMetadata>,
    current: BTreeMap<String, CurrentAssignment>,
    target_epoch: i32,
    target: BTreeMap<String, Assignment>,
    initialized: Vec<TopicPartitions>,
    /// Every live record as read (encoded key → value): what the coordinator last wrote.
    raw: BTreeMap<Bytes, Bytes>,
}

impl Replayed {
    /// Apply one record (`None`: a tombstone); `raw_key` is its encoded key.
    pub fn apply(
        &mut self,
        raw_key: &[u8],
        key: ShareRecordKey,
        value: Option<&[u8]>,
    ) -> Result<(), RecordError> {
        let v = value
            .map(|v| rec::decode_value(key.record_type(), v))
            .transpose()?;
        match (value, &v) {
            (Some(bytes), Some(_)) => {
                self.raw.insert(
                    Bytes::copy_from_slice(raw_key),
                    Bytes::copy_from_slice(bytes),
                );
            }
            _ => {
                self.raw.remove(raw_key);
            }
        }
        match (key, v) {
            (ShareRecordKey::Metadata, Some(ShareValue::Metadata { epoch, .. })) => {
                self.epoch = Some(epoch)
            }
            (ShareRecordKey::Metadata, None) => *self = Replayed::default(),
            (ShareRecordKey::Member(id), Some(ShareValue::Member(m))) => {
                self.members.insert(id, m);
            }
            (ShareRecordKey::Member(id), None) => {
                self.members.remove(&id);
            }
            (ShareRecordKey::TargetMetadata, Some(ShareValue::TargetMetadata { epoch })) => {
                self.target_epoch = epoch
            }
            (ShareRecordKey::TargetMetadata, None) => self.target_epoch = 0,
            (ShareRecordKey::TargetMember(id), Some(ShareValue::TargetMember(a))) => {
                self.target.insert(id, a);
            }
            (ShareRecordKey::TargetMember(id), None) => {
                self.target.remove(&id);
            }
            (ShareRecordKey::CurrentAssignment(id), Some(ShareValue::CurrentAssignment(c))) => {
                self.current.insert(id, c);
            }
            (ShareRecordKey::CurrentAssignment(id), None) => {
                self.current.remove(&id);
            }
            (ShareRecordKey::StatePartitions, Some(ShareValue::StatePartitions(t))) => {
                self.initialized = t
            }
            (ShareRecordKey::StatePartitions, None) => self.initialized.clear(),
            // decode_value returns the variant of the key's type; anything else is corrupt.
            (k, Some(_)) => return Err(RecordError::UnknownKeyVersion(k.record_type())),
        }
        Ok(())
    }

    /// Is there a share group here (its metadata record is live)?
    pub fn exists(&self) -> bool {
        self.epoch.is_some()
    }
}

/// Topic name → partitions, as ids → partitions (topics without an id are left out).
fn by_id(a: &BTreeMap<String, Vec<i32>>, ids: &dyn Fn(&str) -> Option<uuid::Uuid>) -> Assignment {
    let mut out = Assignment::new();
    for (t, ps) in a {
        if let Some(id) = ids(t) {
            out.entry(id).or_default().extend(ps.iter().copied());
        }
    }
    out
}

/// Topic ids → partitions, as names → partitions (topics gone since are left out).
fn by_name(
    a: Assignment,
    names: &dyn Fn(&uuid::Uuid) -> Option<String>,
) -> BTreeMap<String, Vec<i32>> {
    a.into_iter()
        .filter_map(|(id, ps)| names(&id).map(|n| (n, ps.into_iter().collect())))
        .collect()
}

impl ShareGroup {
    /// Every record this group is written as, by encoded key. `initialized`: its
    /// share-partitions initialized on their owners, (topic, partition).
    pub fn records(
        &self,
        group_id: &str,
        ids: &dyn Fn(&str) -> Option<uuid::Uuid>,
        initialized: &[(String, i32)],
    ) -> BTreeMap<Bytes, Bytes> {
        let mut out = BTreeMap::new();
        let mut put = |k: ShareRecordKey, v: ShareValue| {
            out.insert(rec::key(group_id, &k), rec::value(&v));
        };
        put(
            ShareRecordKey::Metadata,
            ShareValue::Metadata {
                epoch: self.epoch,
                metadata_hash: 0,
            },
        );
        for (id, m) in &self.members {
            let mut topics = m.topics.clone();
            topics.sort_unstable();
            put(
                ShareRecordKey::Member(id.clone()),
                ShareValue::Member(MemberMetadata {
                    rack_id: m.rack.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    topics,
                }),
            );
            put(
                ShareRecordKey::CurrentAssignment(id.clone()),
                ShareValue::CurrentAssignment(CurrentAssignment {
                    epoch: m.epoch,
                    previous_epoch: m.previous_epoch,
                    state: rec::STATE_STABLE,
                    assigned: by_id(&m.assignment, ids),
                }),
            );
        }
        put(
            ShareRecordKey::TargetMetadata,
            ShareValue::TargetMetadata {
                epoch: self.assignment_epoch,
            },
        );
        for (id, a) in &self.target {
            put(
                ShareRecordKey::TargetMember(id.clone()),
                ShareValue::TargetMember(by_id(a, ids)),
            );
        }
        let mut topics: BTreeMap<&str, TopicPartitions> = BTreeMap::new();
        for (t, p) in initialized {
            let Some(id) = ids(t) else { continue };
            topics
                .entry(t.as_str())
                .or_insert_with(|| TopicPartitions {
                    id,
                    name: t.clone(),
                    partitions: Default::default(),
                })
                .partitions
                .insert(*p);
        }
        put(
            ShareRecordKey::StatePartitions,
            ShareValue::StatePartitions(topics.into_values().collect()),
        );
        out
    }

    /// Rebuild a group from its replayed records; sessions start at `now_ms`. Also returns the
    /// share-partitions recorded as initialized, (topic, partition), and the records as read.
    pub fn restore(
        group_id: &str,
        r: Replayed,
        names: &dyn Fn(&uuid::Uuid) -> Option<String>,
        now_ms: u64,
    ) -> (ShareGroup, Vec<(String, i32)>, BTreeMap<Bytes, Bytes>) {
        let mut g = ShareGroup::new(group_id.to_string());
        g.epoch = r.epoch.unwrap_or(0);
        g.assignment_epoch = r.target_epoch;
        let mut current = r.current;
        for (id, meta) in r.members {
            let c = current.remove(&id).unwrap_or_default();
            let member = Member {
                epoch: c.epoch,
                previous_epoch: c.previous_epoch,
                topics: meta.topics,
                rack: meta.rack_id,
                client_id: meta.client_id,
                client_host: meta.client_host,
                last_seen_ms: now_ms,
                assignment: by_name(c.assigned, names),
            };
            g.members.insert(id, member);
        }
        g.target = r
            .target
            .into_iter()
            .filter(|(id, _)| g.members.contains_key(id))
            .map(|(id, a)| (id, by_name(a, names)))
            .collect();
        let initialized = r
            .initialized
            .into_iter()
            .filter_map(|t| names(&t.id).map(|n| (n, t.partitions)))
            .flat_map(|(n, ps)| ps.into_iter().map(move |p| (n.clone(), p)))
            .collect();
        (g, initialized, r.raw)
    }
}

/// Put a replayed share group on this (its coordinator) shard.
pub fn install(shard: &Shard, group_id: &str, r: Replayed) {
    let snapshot = shard.snapshot();
    let names = |id: &uuid::Uuid| {
        snapshot
            .topics
            .iter()
            .find(|(_, m)| m.id == *id)
            .map(|(n, _)| n.clone())
    };
    let (g, initialized, raw) = ShareGroup::restore(group_id, r, &names, shard.share.now_ms());
    shard.share.initialized.borrow_mut().extend(
        initialized
            .into_iter()
            .map(|(t, p)| (group_id.to_string(), t, p)),
    );
    shard
        .share
        .written
        .borrow_mut()
        .insert(group_id.to_string(), raw);
    shard
        .share
        .groups
        .borrow_mut()
        .insert(group_id.to_string(), g);
}

/// What of `group_id`'s records changed since they were last written (every key tombstoned
/// once the group is gone). Marks them written.
fn writes(shard: &Shard, group_id: &str) -> Writes {
    let snapshot = shard.snapshot();
    let ids = |t: &str| snapshot.topics.get(t).map(|m| m.id);
    let now = match shard.share.groups.borrow().get(group_id) {
        Some(g) => {
            let initialized: Vec<(String, i32)> = shard
                .share
                .initialized
                .borrow()
                .iter()
                .filter(|(id, _, _)| id == group_id)
                .map(|(_, t, p)| (t.clone(), *p))
                .collect();
            g.records(group_id, &ids, &initialized)
        }
        None => BTreeMap::new(),
    };
    let mut written = shard.share.written.borrow_mut();
    let before = written.remove(group_id).unwrap_or_default();
    let out = diff(&before, &now);
    if !now.is_empty() {
        written.insert(group_id.to_string(), now);
    }
    out
}

/// Append what changed of `group_id` to its `__consumer_offsets` partition. On failure the
/// group's written records are forgotten, so its next change writes all of them again.
pub async fn persist(shard: &Rc<Shard>, group_id: &str) -> Result<(), ShareError> {
    let writes = writes(shard, group_id);
    if writes.is_empty() {
        return Ok(());
    }
    let partition = crate::groups::offsets_partition_for(group_id);
    match shard.append_offsets_records(partition, writes).await {
        Ok(()) => Ok(()),
        Err(e) => {
            tracing::warn!(group = %group_id, error = ?e, "persisting share group");
            shard.share.written.borrow_mut().remove(group_id);
            Err(ShareError::from(GroupError::from(e)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::groups::records::{decode_key, RecordKey};
    use crate::share::group::Heartbeat;

    const T: uuid::Uuid = uuid::Uuid::from_bytes([3; 16]);

    fn hb(id: &str, epoch: i32, topics: Option<&[&str]>) -> Heartbeat {
        Heartbeat {
            member_id: id.into(),
            member_epoch: epoch,
            rack: Some("r1".into()),
            topics: topics.map(|t| t.iter().map(|s| s.to_string()).collect()),
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
        }
    }

    fn replay(records: &BTreeMap<Bytes, Bytes>) -> Replayed {
        let mut r = Replayed::default();
        for (k, v) in records {
            let Ok(RecordKey::Share { key, .. }) = decode_key(k) else {
                panic!("not a share key: {k:?}");
            };
            r.apply(k, key, Some(&v[..])).unwrap();
        }
        r
    }

    #[test]
    fn a_group_survives_its_records() {
        let parts = |t: &str| (t == "t").then_some(2);
        let ids = |t: &str| (t == "t").then_some(T);
        let names = |id: &uuid::Uuid| (*id == T).then(|| "t".to_string());
        let mut g = ShareGroup::new("g".into());
        let a = g
            .heartbeat(hb("a", 0, Some(&["t"])), 0, 200, &parts)
            .unwrap();
        g.heartbeat(hb("b", 0, Some(&["t"])), 0, 200, &parts)
            .unwrap();
        g.heartbeat(hb("a", a.member_epoch, None), 1, 200, &parts)
            .unwrap();
        let init = vec![("t".to_string(), 0), ("t".to_string(), 1)];
        let records = g.records("g", &ids, &init);
        let (back, initialized, raw) = ShareGroup::restore("g", replay(&records), &names, 99);
        assert_eq!(raw, records);
        assert_eq!(initialized, init);
        assert_eq!(back.epoch, g.epoch);
        assert_eq!(back.assignment_epoch, g.assignment_epoch);
        assert_eq!(back.target, g.target);
        for (id, m) in &g.members {
            let b = &back.members[id];
            assert_eq!((b.epoch, b.previous_epoch), (m.epoch, m.previous_epoch));
            assert_eq!(b.assignment, m.assignment);
            assert_eq!(b.rack.as_deref(), Some("r1"));
            assert_eq!(b.last_seen_ms, 99, "sessions start again at load");
        }
        // A returning member at its epoch continues; its next heartbeat changes nothing.
        let mut back = back;
        let e = back.members["a"].epoch;
        let again = back.heartbeat(hb("a", e, None), 100, 200, &parts).unwrap();
        assert_eq!(again.member_epoch, e);
        assert_eq!(back.records("g", &ids, &init), records);
    }

    #[test]
    fn deleting_a_group_tombstones_every_key_and_replay_forgets_it() {
        let parts = |t: &str| (t == "t").then_some(1);
        let ids = |t: &str| (t == "t").then_some(T);
        let mut g = ShareGroup::new("g".into());
        g.heartbeat(hb("a", 0, Some(&["t"])), 0, 200, &parts)
            .unwrap();
        let records = g.records("g", &ids, &[]);
        let gone = diff(&records, &BTreeMap::new());
        assert_eq!(gone.len(), records.len());
        assert!(gone.iter().all(|(_, v)| v.is_none()));
        let mut r = replay(&records);
        for (k, _) in &gone {
            let Ok(RecordKey::Share { key, .. }) = decode_key(k) else {
                panic!("not a share key");
            };
            r.apply(k, key, None).unwrap();
        }
        assert!(!r.exists());
        assert!(r.raw.is_empty());
    }
}
