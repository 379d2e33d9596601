//! The coordinator shard's side of share groups: ShareGroupHeartbeat, ShareGroupDescribe,
//! ListGroups' share groups, DeleteGroups. A share group lives on the owner of its
//! `__consumer_offsets` partition, as classic groups do (`groups::coordinator::route` places
//! it). Membership is persisted in that partition as Kafka's share-group records
//! (`persist`), written before a heartbeat is answered and replayed at start-up, so after a
//! restart a member continues at its epoch; the share-partitions' state is durable on their
//! owners.

use std::collections::BTreeMap;
use std::rc::Rc;

use super::group::{Heartbeat, ShareGroup};
use super::owner;
use super::{ShareError, ShareKey};
use crate::limits::SHARE_MEMBER_SWEEP_INTERVAL_MS;
use crate::shard::Shard;

/// A heartbeat's answer, ready to encode.
#[derive(Debug, Clone, Default)]
pub struct HeartbeatOut {
    pub member_epoch: i32,
    pub heartbeat_interval_ms: i32,
    /// topic id → partitions, when the member must adopt a new assignment.
    pub assignment: Option<Vec<(uuid::Uuid, Vec<i32>)>>,
}

/// Handle one heartbeat on the group's coordinator shard.
pub async fn heartbeat(
    shard: Rc<Shard>,
    group_id: String,
    hb: Heartbeat,
) -> Result<HeartbeatOut, ShareError> {
    if classic_group_exists(&shard, &group_id) {
        // The id belongs to a group of another type (Kafka: "not a share group").
        return Err(ShareError::GroupIdNotFound);
    }
    let config = shard.share.config;
    let now = shard.share.now_ms();
    let snapshot = shard.snapshot();
    let partitions = |t: &str| {
        snapshot
            .topics
            .get(t)
            .map(|m| i32::try_from(m.partitions.len()).unwrap_or(i32::MAX))
    };
    let leaving = (hb.member_epoch == -1).then(|| hb.member_id.clone());
    let (answer, mut gone) = {
        let mut groups = shard.share.groups.borrow_mut();
        let existed = groups.contains_key(&group_id);
        let g = groups
            .entry(group_id.clone())
            .or_insert_with(|| ShareGroup::new(group_id.clone()));
        let gone = g.expire_members(now, config.session_timeout_ms);
        let answer = g.heartbeat(hb, now, config.members_max, &partitions);
        if !existed && g.members.is_empty() && g.epoch == 0 {
            // A refused first heartbeat creates no group.
            groups.remove(&group_id);
        }
        (answer, gone)
    };
    gone.extend(leaving);
    release_members(&shard, &group_id, gone).await;
    let answer = match answer {
        Ok(a) => a,
        Err(e) => {
            // Members may have expired meanwhile: that change is durable too.
            super::persist::persist(&shard, &group_id).await?;
            return Err(e.into());
        }
    };
    let mut out = HeartbeatOut {
        member_epoch: answer.member_epoch,
        heartbeat_interval_ms: i32::try_from(config.heartbeat_interval_ms).unwrap_or(i32::MAX),
        assignment: None,
    };
    if let Some(assignment) = answer.assignment {
        initialize(&shard, &group_id, &assignment).await;
        let mut topics = Vec::new();
        for (topic, parts) in assignment {
            if let Some(meta) = snapshot.topics.get(&topic) {
                topics.push((meta.id, parts));
            }
        }
        out.assignment = Some(topics);
    }
    // Kafka answers a heartbeat once its records are written: an epoch a member was told
    // survives a crash.
    super::persist::persist(&shard, &group_id).await?;
    Ok(out)
}

/// Make sure every assigned share-partition exists on its owner before a member fetches it,
/// so `latest` means "from when the group first got it" (Kafka initializes share-partition
/// state when it first assigns a partition). A failure is retried on the next heartbeat.
async fn initialize(shard: &Rc<Shard>, group_id: &str, assignment: &BTreeMap<String, Vec<i32>>) {
    let snapshot = shard.snapshot();
    let reset = super::auto_reset(shard, group_id);
    for (topic, parts) in assignment {
        for p in parts {
            let key: ShareKey = (group_id.to_string(), topic.clone(), *p);
            if shard.share.initialized.borrow().contains(&key) {
                continue;
            }
            let Some(owner) = snapshot.partition(topic, *p).map(|m| m.owner) else {
                continue;
            };
            let k = key.clone();
            let done = shard
                .on_shard(owner, move |s| async move {
                    owner::initialize(&s, k, reset).await
                })
                .await;
            if matches!(done, Some(Ok(()))) {
                shard.share.initialized.borrow_mut().insert(key);
            }
        }
    }
}

/// Give back, on every shard, the records the members `gone` of `group_id` hold: a member
/// that leaves or whose session timed out keeps no acquisition lock (Kafka releases them at
/// once instead of waiting for each lock to end).
async fn release_members(shard: &Rc<Shard>, group_id: &str, gone: Vec<String>) {
    if gone.is_empty() {
        return;
    }
    for target in 0..shard.config.shards {
        let group = group_id.to_string();
        let members = gone.clone();
        let released = shard
            .on_shard(target, move |s| async move {
                owner::release_members(&s, &group, &members).await
            })
            .await;
        if released.is_none() {
            // That shard is gone or wedged: its locks still end on their own.
            tracing::warn!(
                group = group_id,
                target,
                "could not release departed members' records"
            );
        }
    }
}

/// Expire the silent members of every share group this shard coordinates and give back
/// what they hold. Run every [`SHARE_MEMBER_SWEEP_INTERVAL_MS`] by [`run_sweeper`], so a
/// member that dies is noticed even when nothing else of its group heartbeats.
pub async fn sweep(shard: &Rc<Shard>) {
    let now = shard.share.now_ms();
    let timeout = shard.share.config.session_timeout_ms;
    let expired: Vec<(String, Vec<String>)> = shard
        .share
        .groups
        .borrow_mut()
        .iter_mut()
        .map(|(id, g)| (id.clone(), g.expire_members(now, timeout)))
        .filter(|(_, gone)| !gone.is_empty())
        .collect();
    for (group, gone) in expired {
        tracing::info!(group, members = ?gone, "share group members timed out");
        release_members(shard, &group, gone).await;
        // A failed write is retried with the group's next change (it writes everything).
        let _ = super::persist::persist(shard, &group).await;
    }
}

/// The sweeper's loop, one per shard until shutdown (on the shard it runs on).
pub async fn run_sweeper(shard: Rc<Shard>) {
    use futures::FutureExt;
    loop {
        let sleep = glommio::timer::sleep(std::time::Duration::from_millis(
            SHARE_MEMBER_SWEEP_INTERVAL_MS,
        ))
        .fuse();
        let stop = shard.shutdown.wait().fuse();
        futures::pin_mut!(sleep, stop);
        futures::select! {
            _ = sleep => {},
            _ = stop => return,
        }
        sweep(&shard).await;
    }
}

/// Whether a live classic group with this id is coordinated here.
fn classic_group_exists(shard: &Rc<Shard>, group_id: &str) -> bool {
    crate::groups::coordinator::describe(shard, group_id).state
        != crate::groups::types::GroupState::Dead.name()
}

/// Whether a share group with this id is coordinated here (classic groups refuse the id).
pub fn share_group_exists(shard: &Shard, group_id: &str) -> bool {
    shard.share.groups.borrow().contains_key(group_id)
}

/// One member as ShareGroupDescribe shows it.
#[derive(Debug, Clone)]
pub struct MemberOut {
    pub member_id: String,
    pub rack: Option<String>,
    pub member_epoch: i32,
    pub client_id: String,
    pub client_host: String,
    pub topics: Vec<String>,
    pub assignment: Vec<(uuid::Uuid, String, Vec<i32>)>,
}

/// A share group as ShareGroupDescribe shows it.
#[derive(Debug, Clone)]
pub struct GroupOut {
    pub state: &'static str,
    pub epoch: i32,
    pub assignment_epoch: i32,
    pub members: Vec<MemberOut>,
}

pub fn describe(shard: &Rc<Shard>, group_id: &str) -> Result<GroupOut, ShareError> {
    // Silent members are expired (and their records released) by the sweeper, not here.
    let groups = shard.share.groups.borrow();
    let g = groups.get(group_id).ok_or(ShareError::GroupIdNotFound)?;
    let snapshot = shard.snapshot();
    let members = g
        .members
        .iter()
        .map(|(id, m)| MemberOut {
            member_id: id.clone(),
            rack: m.rack.clone(),
            member_epoch: m.epoch,
            client_id: m.client_id.clone(),
            client_host: m.client_host.clone(),
            topics: m.topics.clone(),
            assignment: m
                .assignment
                .iter()
                .filter_map(|(t, ps)| {
                    snapshot
                        .topics
                        .get(t)
                        .map(|meta| (meta.id, t.clone(), ps.clone()))
                })
                .collect(),
        })
        .collect();
    Ok(GroupOut {
        state: g.state_name(),
        epoch: g.epoch,
        assignment_epoch: g.assignment_epoch,
        members,
    })
}

/// (group id, state) of every share group this shard coordinates.
pub fn list(shard: &Shard) -> Vec<(String, &'static str)> {
    let mut out: Vec<_> = shard
        .share
        .groups
        .borrow()
        .values()
        .map(|g| (g.id.clone(), g.state_name()))
        .collect();
    out.sort();
    out
}

/// DeleteGroups for a share group: only an empty one (NON_EMPTY_GROUP otherwise), removed
/// durably (tombstones for every record of it). Its share-partitions' state files stay until
/// AlterShareGroupOffsets / DeleteShareGroupOffsets or the topic goes.
pub async fn delete(shard: &Rc<Shard>, group_id: &str) -> Result<(), ShareError> {
    {
        let mut groups = shard.share.groups.borrow_mut();
        let g = groups
            .get_mut(group_id)
            .ok_or(ShareError::GroupIdNotFound)?;
        // Silent members are expired by the sweeper (which releases their records first).
        if !g.members.is_empty() {
            return Err(ShareError::NonEmptyGroup);
        }
        groups.remove(group_id);
    }
    shard
        .share
        .initialized
        .borrow_mut()
        .retain(|(g, _, _)| g != group_id);
    super::persist::persist(shard, group_id).await
}
