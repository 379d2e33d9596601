//! Admin views of the groups: DescribeGroups, ListGroups, DeleteGroups, the metrics snapshot.
//!
//! Runs on the group's coordinator shard (`list` and `views`: on each shard, for its own).

use std::rc::Rc;

use bytes::Bytes;

use super::load::load_all_local;
use super::offsets::tombstones;
use super::{after, consumer_writes, GroupDescription, MemberDescription};
use crate::groups::offsets_partition_for;
use crate::groups::state::GroupState;
use crate::protocol::errors::GroupError;
use crate::shard::Shard;

pub fn describe(shard: &Rc<Shard>, group_id: &str) -> GroupDescription {
    let c = &shard.groups;
    let groups = c.groups.borrow();
    // A consumer group, asked with DescribeGroups v0–5: Kafka 4 answers Dead, no error.
    let classic = groups.get(group_id).filter(|s| s.consumer.is_none());
    let Some(g) = classic.map(|s| &s.group) else {
        return GroupDescription {
            state: GroupState::Dead.name(),
            protocol_type: String::new(),
            protocol: String::new(),
            members: Vec::new(),
        };
    };
    let stable = g.state() == GroupState::Stable;
    let snapshot = g.snapshot(None);
    GroupDescription {
        state: g.state().name(),
        protocol_type: snapshot.protocol_type.clone(),
        protocol: if stable {
            snapshot.protocol.clone().unwrap_or_default()
        } else {
            String::new()
        },
        members: snapshot
            .members
            .into_iter()
            .map(|m| MemberDescription {
                member_id: m.id,
                instance_id: m.instance_id,
                client_id: m.client_id,
                client_host: m.client_host,
                metadata: if stable { m.subscription } else { Bytes::new() },
                assignment: if stable { m.assignment } else { Bytes::new() },
            })
            .collect(),
    }
}

/// Every live group this shard coordinates (loaded ones), by id, for its metrics snapshot.
pub fn views(shard: &Rc<Shard>) -> Vec<crate::metrics::GroupView> {
    let groups = shard.groups.groups.borrow();
    let mut out: Vec<_> = groups
        .values()
        .filter(|s| s.group.state() != GroupState::Dead)
        .map(|s| match &s.consumer {
            Some(g) => crate::groups::view::consumer_view(&s.group, g),
            None => crate::groups::view::view(&s.group),
        })
        .collect();
    out.sort_by(|a, b| a.group.cmp(&b.group));
    out
}

/// (group id, protocol type, state, group type) of every live group this shard coordinates.
pub async fn list(shard: &Rc<Shard>) -> Vec<(String, String, &'static str, &'static str)> {
    load_all_local(shard).await;
    let groups = shard.groups.groups.borrow();
    let mut out: Vec<_> = groups
        .values()
        .filter(|s| s.group.state() != GroupState::Dead)
        .map(|s| match &s.consumer {
            Some(g) => (
                s.group.id.clone(),
                crate::groups::consumer_protocol::CONSUMER_PROTOCOL_TYPE.to_string(),
                g.state_name(),
                "consumer",
            ),
            None => (
                s.group.id.clone(),
                s.group.protocol_type().unwrap_or_default().to_string(),
                s.group.state().name(),
                "classic",
            ),
        })
        .collect();
    out.sort();
    out
}

pub async fn delete_group(shard: Rc<Shard>, group_id: String) -> Result<(), GroupError> {
    let c = &shard.groups;
    let now = c.now();
    let keys = {
        let mut groups = c.groups.borrow_mut();
        let slot = groups
            .get_mut(&group_id)
            .ok_or(GroupError::GroupIdNotFound)?;
        if slot.consumer.as_ref().is_some_and(|g| !g.is_empty()) {
            return Err(GroupError::NonEmptyGroup);
        }
        match slot.group.state() {
            GroupState::Dead => return Err(GroupError::GroupIdNotFound),
            GroupState::Empty => {}
            _ => return Err(GroupError::NonEmptyGroup),
        }
        let keys: Vec<(String, i32)> = slot.group.offsets.keys().cloned().collect();
        slot.group.mark_dead(now);
        keys
    };
    // A consumer group's records go in the same batch as the offsets' tombstones.
    let mut writes = consumer_writes(c, &group_id);
    after(&shard, &group_id);
    c.groups.borrow_mut().remove(&group_id);
    writes.extend(tombstones(&group_id, &keys, true));
    shard
        .append_offsets_records(offsets_partition_for(&group_id), writes)
        .await
        .map_err(GroupError::from)
}
