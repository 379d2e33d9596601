//! KIP-848 consumer groups in the coordinator: ConsumerGroupHeartbeat and
//! ConsumerGroupDescribe, and the rules between a group id's types (an empty group changes
//! type freely; a classic group in use is upgraded under `group.consumer.migration.policy`,
//! see `migration`). Each heartbeat's changes to the group's records are appended before it
//! is answered.
//!
//! A consumer group lives in its id's slot (`Slot::consumer`), beside the classic state that
//! holds its committed offsets. Runs on the group's coordinator shard, through
//! [`super::route`].

use std::collections::BTreeMap;
use std::rc::Rc;

use super::{after, consumer_writes, write_consumer, Slot};
use crate::groups::consumer::group::{
    ConsumerGroup, HeartbeatParams, HeartbeatReply, Member, Settings, TopicInfo, TopicsView,
};
use crate::groups::state::{Group, GroupState};
use crate::metadata::group_configs::{CONSUMER_HEARTBEAT_INTERVAL_MS, CONSUMER_SESSION_TIMEOUT_MS};
use crate::protocol::errors::GroupError;
use crate::shard::Shard;

/// The settings a heartbeat of `group_id` runs with: the group's own `consumer.*` configs
/// (IncrementalAlterConfigs on its GROUP resource), else the broker's.
pub(super) fn settings(shard: &Shard, group_id: &str) -> Settings {
    let c = &shard.groups.config;
    let (session, heartbeat) = group_timeouts(shard, group_id);
    Settings {
        session_timeout_ms: session,
        heartbeat_interval_ms: i32::try_from(heartbeat).unwrap_or(i32::MAX),
        assignors: c.consumer_assignors,
        members_max: c.members_max,
    }
}

/// (session timeout, heartbeat interval) of `group_id`'s members, in ms.
pub(super) fn group_timeouts(shard: &Shard, group_id: &str) -> (u64, u64) {
    let c = &shard.groups.config;
    let snapshot = shard.snapshot();
    let overrides = &snapshot.group_configs;
    (
        overrides
            .get_u64(group_id, CONSUMER_SESSION_TIMEOUT_MS)
            .unwrap_or(c.consumer_session_timeout_ms),
        overrides
            .get_u64(group_id, CONSUMER_HEARTBEAT_INTERVAL_MS)
            .unwrap_or(c.consumer_heartbeat_interval_ms),
    )
}

/// Every topic of the current metadata, by name (rebuilt when the metadata changes).
pub(super) fn topics(shard: &Shard) -> (u64, Rc<BTreeMap<String, TopicInfo>>) {
    let snapshot = shard.snapshot();
    let mut cache = shard.groups.topics.borrow_mut();
    if let Some((v, t)) = cache.as_ref() {
        if *v == snapshot.version {
            return (*v, t.clone());
        }
    }
    let t: Rc<BTreeMap<String, TopicInfo>> = Rc::new(
        snapshot
            .topics
            .iter()
            .map(|(name, t)| {
                (
                    name.clone(),
                    TopicInfo {
                        id: t.id,
                        partitions: i32::try_from(t.partitions.len()).unwrap_or(i32::MAX),
                        internal: t.internal,
                    },
                )
            })
            .collect(),
    );
    *cache = Some((snapshot.version, t.clone()));
    (snapshot.version, t)
}

/// Is the classic side of this slot in use (members, or a rebalance under way)?
fn classic_in_use(g: &Group) -> bool {
    !matches!(g.state(), GroupState::Empty | GroupState::Dead)
}

/// A ConsumerGroupHeartbeat; answered once what it changed is in the log (as Kafka does), so
/// an epoch a member was told survives a crash.
pub async fn consumer_heartbeat(
    shard: &Rc<Shard>,
    group_id: &str,
    p: HeartbeatParams,
) -> Result<HeartbeatReply, GroupError> {
    let c = &shard.groups;
    let now = c.now();
    let (version, topics) = topics(shard);
    let view = TopicsView {
        version,
        topics: &topics,
    };
    let s = settings(shard, group_id);
    let leaving = p.epoch < 0;
    let result = {
        let mut groups = c.groups.borrow_mut();
        let joining = p.epoch == 0;
        if !groups.contains_key(group_id) {
            if !joining {
                return Err(GroupError::GroupIdNotFound);
            }
            groups.insert(
                group_id.to_string(),
                Slot::new(Group::new(group_id, c.config, now)),
            );
        }
        let slot = groups
            .get_mut(group_id)
            .ok_or(GroupError::CoordinatorNotAvailable)?;
        match slot.consumer.as_mut() {
            Some(g) => g.heartbeat(p, &view, &s, now.mono_ms),
            None if !joining => return Err(GroupError::GroupIdNotFound),
            None if classic_in_use(&slot.group) => {
                // Online upgrade: the classic members move over only if this member's join
                // succeeds.
                let mut g = super::migration::upgraded(shard, &slot.group, &view, now)?;
                let r = g.heartbeat(p, &view, &s, now.mono_ms);
                if r.is_ok() {
                    slot.group.hand_over(now);
                    slot.consumer = Some(g);
                }
                r
            }
            None => {
                let mut g = ConsumerGroup::new();
                let r = g.heartbeat(p, &view, &s, now.mono_ms);
                slot.consumer = Some(g);
                r
            }
        }
    };
    if leaving {
        super::migration::maybe_downgrade(shard, group_id);
    }
    drop_if_unused(shard, group_id);
    let writes = consumer_writes(c, group_id);
    after(shard, group_id);
    write_consumer(shard, group_id, writes).await?;
    result
}

/// A consumer group created by a refused first heartbeat holds nothing: don't keep it.
fn drop_if_unused(shard: &Shard, group_id: &str) {
    let mut groups = shard.groups.groups.borrow_mut();
    let unused = groups.get(group_id).is_some_and(|s| {
        s.consumer
            .as_ref()
            .is_some_and(|g| g.is_empty() && g.group_epoch == 0)
            && s.group.is_disposable()
    });
    if unused {
        groups.remove(group_id);
    }
}

/// One consumer group as ConsumerGroupDescribe shows it.
#[derive(Debug, Clone)]
pub struct ConsumerDescription {
    pub state: &'static str,
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub assignor: &'static str,
    /// Each member, with its target assignment.
    pub members: Vec<(Member, crate::groups::consumer::Assignment)>,
    /// Topic names by id, for the members' assignments.
    pub topic_names: BTreeMap<uuid::Uuid, String>,
}

/// `Err(GroupIdNotFound)` unless `group_id` is a consumer group.
pub fn consumer_describe(
    shard: &Rc<Shard>,
    group_id: &str,
) -> Result<ConsumerDescription, GroupError> {
    let groups = shard.groups.groups.borrow();
    let g = groups
        .get(group_id)
        .and_then(|s| s.consumer.as_ref())
        .ok_or(GroupError::GroupIdNotFound)?;
    let (_, topics) = topics(shard);
    Ok(ConsumerDescription {
        state: g.state_name(),
        group_epoch: g.group_epoch,
        assignment_epoch: g.target_epoch,
        assignor: g
            .assignor
            .unwrap_or(shard.groups.config.consumer_assignors.default)
            .name(),
        members: g
            .members
            .values()
            .map(|m| (m.clone(), g.target.get(&m.id).cloned().unwrap_or_default()))
            .collect(),
        topic_names: topics.iter().map(|(n, t)| (t.id, n.clone())).collect(),
    })
}

/// OffsetFetch v9 naming a member: for a consumer group, it must be a member at its current
/// epoch (UNKNOWN_MEMBER_ID, STALE_MEMBER_EPOCH); classic groups are not checked.
pub fn check_fetch_member(
    shard: &Rc<Shard>,
    group_id: &str,
    member_id: &str,
    epoch: i32,
) -> Result<(), GroupError> {
    let groups = shard.groups.groups.borrow();
    match groups.get(group_id).and_then(|s| s.consumer.as_ref()) {
        Some(g) => g.validate_fetch(member_id, epoch),
        None => Ok(()),
    }
}
