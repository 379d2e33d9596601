//! A consumer group as its `__consumer_offsets` records (`consumer::records`), and back.
//!
//! Part of `group` (a child module, so it shares `ConsumerGroup`'s private fields); pure logic.
//! The coordinator keeps the records last written per group and appends only what changed
//! (tombstones for what went), so the log holds one live value per key for compaction.
//!
//! Restored as Kafka restores a group: members keep their ids, epochs and assignments; every
//! session timer starts again at load; subscriptions are resolved against the topics of the
//! moment, and the next heartbeat bumps the group epoch only if the subscribed topics differ
//! from the persisted ones. A static member that left with epoch -2 is written with member
//! epoch -2 and its epoch as the previous epoch, and read back that way.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use super::super::records::{
    self as rec, ClassicMetadata, ConsumerKey, ConsumerValue, CurrentAssignment, MemberMetadata,
};
use super::{ClassicMember, ConsumerGroup, Member, MemberState, TopicsView, LEAVE_STATIC_EPOCH};
use crate::groups::consumer::assignor::{Assignment, Assignor};
use crate::groups::record_codec::RecordError;
use crate::groups::state::Protocol;

/// A consumer group's records as replayed from the log (the newest value per key).
#[derive(Debug, Default)]
pub struct Replayed {
    epoch: Option<i32>,
    subscribed: BTreeMap<uuid::Uuid, (String, i32)>,
    members: BTreeMap<String, MemberMetadata>,
    current: BTreeMap<String, CurrentAssignment>,
    target_epoch: i32,
    target: BTreeMap<String, Assignment>,
}

impl Replayed {
    /// Apply one record (`None`: a tombstone).
    pub fn apply(&mut self, key: ConsumerKey, value: Option<&[u8]>) -> Result<(), RecordError> {
        let v = value
            .map(|v| rec::decode_value(key.record_type(), v))
            .transpose()?;
        match (key, v) {
            (ConsumerKey::Metadata, Some(ConsumerValue::Metadata { epoch })) => {
                self.epoch = Some(epoch)
            }
            (ConsumerKey::Metadata, None) => *self = Replayed::default(),
            (ConsumerKey::PartitionMetadata, Some(ConsumerValue::PartitionMetadata(t))) => {
                self.subscribed = t
            }
            (ConsumerKey::PartitionMetadata, None) => self.subscribed.clear(),
            (ConsumerKey::Member(id), Some(ConsumerValue::Member(m))) => {
                self.members.insert(id, m);
            }
            (ConsumerKey::Member(id), None) => {
                self.members.remove(&id);
            }
            (ConsumerKey::TargetMetadata, Some(ConsumerValue::TargetMetadata { epoch })) => {
                self.target_epoch = epoch
            }
            (ConsumerKey::TargetMetadata, None) => self.target_epoch = 0,
            (ConsumerKey::TargetMember(id), Some(ConsumerValue::TargetMember(a))) => {
                self.target.insert(id, a);
            }
            (ConsumerKey::TargetMember(id), None) => {
                self.target.remove(&id);
            }
            (ConsumerKey::CurrentAssignment(id), Some(ConsumerValue::CurrentAssignment(c))) => {
                self.current.insert(id, c);
            }
            (ConsumerKey::CurrentAssignment(id), None) => {
                self.current.remove(&id);
            }
            // decode_value returns the variant of the key's type; anything else is corrupt.
            (k, Some(_)) => return Err(RecordError::UnknownKeyVersion(k.record_type())),
        }
        Ok(())
    }

    /// Is there a consumer group here (its metadata record is live)?
    pub fn exists(&self) -> bool {
        self.epoch.is_some()
    }
}

fn state_byte(s: MemberState) -> i8 {
    match s {
        MemberState::Stable => rec::STATE_STABLE,
        MemberState::UnrevokedPartitions => rec::STATE_UNREVOKED,
        MemberState::UnreleasedPartitions => rec::STATE_UNRELEASED,
    }
}

fn state_from_byte(b: i8) -> MemberState {
    match b {
        rec::STATE_UNREVOKED => MemberState::UnrevokedPartitions,
        rec::STATE_UNRELEASED => MemberState::UnreleasedPartitions,
        // Kafka's UNKNOWN (a newer version's state) reconciles from scratch like a stable one.
        _ => MemberState::Stable,
    }
}

impl ConsumerGroup {
    /// Every record this group is written as, by encoded key.
    pub fn records(&self, group_id: &str) -> BTreeMap<Bytes, Bytes> {
        let mut out = BTreeMap::new();
        let mut put = |k: ConsumerKey, v: ConsumerValue| {
            out.insert(rec::key(group_id, &k), rec::value(&v));
        };
        put(
            ConsumerKey::Metadata,
            ConsumerValue::Metadata {
                epoch: self.group_epoch,
            },
        );
        put(
            ConsumerKey::PartitionMetadata,
            ConsumerValue::PartitionMetadata(self.subscribed.clone()),
        );
        for m in self.members.values() {
            put(
                ConsumerKey::Member(m.id.clone()),
                ConsumerValue::Member(MemberMetadata {
                    instance_id: m.instance_id.clone(),
                    rack_id: m.rack_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    topic_names: m.topic_names.clone(),
                    topic_regex: m.topic_regex.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    server_assignor: m.assignor.map(|a| a.name().to_string()),
                    classic: m.classic.as_ref().map(|c| ClassicMetadata {
                        session_timeout_ms: i32::try_from(c.session_timeout_ms).unwrap_or(i32::MAX),
                        protocols: c
                            .protocols
                            .iter()
                            .map(|p| (p.name.clone(), p.metadata.clone()))
                            .collect(),
                    }),
                }),
            );
            let (epoch, previous_epoch) = if m.left {
                (LEAVE_STATIC_EPOCH, m.epoch)
            } else {
                (m.epoch, m.previous_epoch)
            };
            put(
                ConsumerKey::CurrentAssignment(m.id.clone()),
                ConsumerValue::CurrentAssignment(CurrentAssignment {
                    epoch,
                    previous_epoch,
                    state: state_byte(m.state),
                    assigned: m.assigned.clone(),
                    revoking: m.revoking.clone(),
                }),
            );
        }
        put(
            ConsumerKey::TargetMetadata,
            ConsumerValue::TargetMetadata {
                epoch: self.target_epoch,
            },
        );
        for (id, a) in &self.target {
            put(
                ConsumerKey::TargetMember(id.clone()),
                ConsumerValue::TargetMember(a.clone()),
            );
        }
        out
    }

    /// Rebuild a group from its replayed records. Sessions start at `now_ms`.
    pub fn restore(
        r: Replayed,
        view: &TopicsView<'_>,
        session_timeout_ms: u64,
        now_ms: u64,
    ) -> ConsumerGroup {
        let mut g = ConsumerGroup {
            group_epoch: r.epoch.unwrap_or(0),
            target_epoch: r.target_epoch,
            subscribed: r.subscribed,
            ..ConsumerGroup::default()
        };
        let mut current = r.current;
        for (id, meta) in r.members {
            let c = current.remove(&id).unwrap_or_default();
            let left = c.epoch == LEAVE_STATIC_EPOCH;
            let state = state_from_byte(c.state);
            let revoke_deadline_ms = (state == MemberState::UnrevokedPartitions).then(|| {
                let t = u64::try_from(meta.rebalance_timeout_ms.max(0)).unwrap_or(0);
                now_ms.saturating_add(t)
            });
            // A classic member's session is its own (JoinGroup's), not the group's.
            let classic = meta.classic.map(|c| {
                ClassicMember::new(
                    u64::try_from(c.session_timeout_ms.max(0)).unwrap_or(0),
                    c.protocols
                        .into_iter()
                        .map(|(name, metadata)| Protocol { name, metadata })
                        .collect(),
                )
            });
            let session = classic
                .as_ref()
                .map_or(session_timeout_ms, |c| c.session_timeout_ms);
            let member = Member {
                id: id.clone(),
                instance_id: meta.instance_id,
                rack_id: meta.rack_id,
                client_id: meta.client_id,
                client_host: meta.client_host,
                epoch: if left { c.previous_epoch } else { c.epoch },
                previous_epoch: c.previous_epoch,
                state,
                rebalance_timeout_ms: meta.rebalance_timeout_ms,
                topic_names: meta.topic_names,
                topic_regex: meta.topic_regex,
                assignor: meta
                    .server_assignor
                    .as_deref()
                    .and_then(Assignor::from_name),
                assigned: c.assigned,
                revoking: c.revoking,
                resolved: BTreeSet::new(),
                session_deadline_ms: now_ms.saturating_add(session),
                revoke_deadline_ms,
                left,
                classic,
            };
            g.members.insert(id, member);
        }
        g.target = r
            .target
            .into_iter()
            .filter(|(id, _)| g.members.contains_key(id))
            .collect();
        for m in g.members.values() {
            if let Some(re) = &m.topic_regex {
                if let Ok(compiled) = super::compile_regex(re) {
                    g.regexes.insert(re.clone(), compiled);
                }
            }
        }
        // Resolve subscriptions now (an assignment may be computed before the next heartbeat,
        // when a member leaves), but leave `view_version` unset so that heartbeat compares the
        // topics with the persisted ones.
        g.resolve_members(view);
        g.assignor = g.voted_assignor();
        g
    }
}
