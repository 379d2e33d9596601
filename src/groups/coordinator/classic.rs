//! The classic group protocol's membership calls: JoinGroup, SyncGroup, Heartbeat, LeaveGroup.
//! JoinGroup and SyncGroup park until the group's state machine answers them. To a consumer
//! group (KIP-848) they go to `migration`, which serves classic members there.
//!
//! Runs on the group's coordinator shard, through [`super::route`].

use std::rc::Rc;

use bytes::Bytes;
use futures::channel::oneshot;

use super::{after, migration, next_persist_seq, with_group, Coordinator, Slot};
use crate::groups::offsets_partition_for;
use crate::groups::records;
use crate::groups::state::{
    Group, GroupState, JoinOutcome, JoinParams, JoinResult, SyncOutcome, SyncResult,
};
use crate::protocol::errors::GroupError;
use crate::shard::Shard;

pub async fn join(shard: Rc<Shard>, group_id: String, p: JoinParams) -> JoinResult {
    let c = &shard.groups;
    let now = c.now();
    if !c.groups.borrow().contains_key(&group_id) {
        if !p.member_id.is_empty() {
            return JoinResult::error(GroupError::UnknownMemberId, &p.member_id);
        }
        c.groups.borrow_mut().insert(
            group_id.clone(),
            Slot::new(Group::new(&group_id, c.config, now)),
        );
    }
    // A KIP-848 group with members takes classic members (`migration`); an empty one
    // becomes a classic group.
    let to_consumer = match c.groups.borrow_mut().get_mut(&group_id) {
        Some(slot) => match &slot.consumer {
            Some(g) if !g.is_empty() => true,
            Some(_) => {
                slot.consumer = None;
                false
            }
            None => false,
        },
        None => false,
    };
    if to_consumer {
        return migration::join(&shard, &group_id, p).await;
    }
    let Some(outcome) = with_group(c, &group_id, |g| g.join(p, now)) else {
        return JoinResult::error(GroupError::CoordinatorNotAvailable, "");
    };
    let rx = match outcome {
        JoinOutcome::Done(r) => {
            after(&shard, &group_id);
            drop_if_unused(c, &group_id);
            return r;
        }
        JoinOutcome::Waiting { member_id } => {
            let (tx, rx) = oneshot::channel();
            let key = (group_id.clone(), member_id.clone());
            if let Some(old) = c.join_waiters.borrow_mut().insert(key, tx) {
                let _ = old.send(JoinResult::error(
                    GroupError::RebalanceInProgress,
                    &member_id,
                ));
            }
            after(&shard, &group_id);
            rx
        }
    };
    rx.await
        .unwrap_or_else(|_| JoinResult::error(GroupError::CoordinatorNotAvailable, ""))
}

/// Is `group_id` a consumer group (KIP-848)? Its classic members' SyncGroup, Heartbeat and
/// LeaveGroup are served by `migration`.
fn is_consumer(c: &Coordinator, group_id: &str) -> bool {
    c.groups
        .borrow()
        .get(group_id)
        .is_some_and(|s| s.consumer.is_some())
}

/// A group created by a join that was refused holds nothing: don't keep it.
fn drop_if_unused(c: &Coordinator, group_id: &str) {
    let mut groups = c.groups.borrow_mut();
    if groups.get(group_id).is_some_and(|s| {
        s.group.is_disposable() && s.group.generation() == 0 && s.group.state() == GroupState::Empty
    }) {
        groups.remove(group_id);
    }
}

#[expect(
    clippy::too_many_arguments,
    reason = "one argument per field of the request it serves; a struct would only rename them"
)]
pub async fn sync(
    shard: Rc<Shard>,
    group_id: String,
    member_id: String,
    instance_id: Option<String>,
    generation: i32,
    protocol_type: Option<String>,
    protocol_name: Option<String>,
    assignments: Vec<(String, Bytes)>,
) -> SyncResult {
    let c = &shard.groups;
    let now = c.now();
    if is_consumer(c, &group_id) {
        return migration::sync(
            &shard,
            &group_id,
            &member_id,
            instance_id.as_deref(),
            generation,
            protocol_type,
            protocol_name,
        );
    }
    let outcome = with_group(c, &group_id, |g| {
        g.sync(
            &member_id,
            instance_id.as_deref(),
            generation,
            protocol_type.as_deref(),
            protocol_name.as_deref(),
            assignments,
            now,
        )
    });
    let outcome = match outcome {
        None => return SyncResult::error(GroupError::UnknownMemberId),
        Some(SyncOutcome::Done(r)) => {
            after(&shard, &group_id);
            return r;
        }
        Some(o) => o,
    };
    let (tx, rx) = oneshot::channel();
    let key = (group_id.clone(), member_id.clone());
    if let Some(old) = c.sync_waiters.borrow_mut().insert(key, tx) {
        let _ = old.send(SyncResult::error(GroupError::RebalanceInProgress));
    }
    if let SyncOutcome::Persist {
        generation,
        assignments,
    } = outcome
    {
        let value = c.groups.borrow_mut().get_mut(&group_id).map(|s| {
            next_persist_seq(c, s);
            records::group_value(&s.group.snapshot(Some(&assignments)))
        });
        after(&shard, &group_id);
        let persisted = match value {
            Some(v) => shard
                .append_offsets_records(
                    offsets_partition_for(&group_id),
                    vec![(records::group_key(&group_id), Some(v))],
                )
                .await
                .map_err(GroupError::from),
            None => Err(GroupError::CoordinatorNotAvailable),
        };
        let now = c.now();
        with_group(c, &group_id, |g| {
            g.complete_sync(generation, assignments, persisted, now)
        });
    }
    after(&shard, &group_id);
    rx.await
        .unwrap_or_else(|_| SyncResult::error(GroupError::CoordinatorNotAvailable))
}

pub fn heartbeat(
    shard: &Rc<Shard>,
    group_id: &str,
    member_id: &str,
    instance_id: Option<&str>,
    generation: i32,
) -> Result<(), GroupError> {
    let c = &shard.groups;
    let now = c.now();
    if is_consumer(c, group_id) {
        return migration::heartbeat(shard, group_id, member_id, instance_id, generation);
    }
    let r = with_group(c, group_id, |g| {
        g.heartbeat(member_id, instance_id, generation, now)
    })
    .unwrap_or(Err(GroupError::UnknownMemberId));
    after(shard, group_id);
    r
}

pub fn leave(
    shard: &Rc<Shard>,
    group_id: &str,
    members: &[(String, Option<String>)],
) -> Result<Vec<Result<(), GroupError>>, GroupError> {
    let c = &shard.groups;
    let now = c.now();
    if is_consumer(c, group_id) {
        return Ok(migration::leave(shard, group_id, members));
    }
    let r = with_group(c, group_id, |g| g.leave(members, now)).unwrap_or_else(|| {
        Ok(members
            .iter()
            .map(|_| Err(GroupError::UnknownMemberId))
            .collect())
    });
    after(shard, group_id);
    r
}
