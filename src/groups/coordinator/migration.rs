//! Online migration between the classic and the consumer protocol, in the coordinator
//! (KIP-848's "online migration", Kafka 4's `group.consumer.migration.policy`):
//!
//! - upgrade: a ConsumerGroupHeartbeat joining a classic group in use turns it into a
//!   consumer group whose classic members keep their assignments (policy `upgrade` or
//!   `bidirectional`; else GROUP_ID_NOT_FOUND);
//! - a consumer group with members serves JoinGroup, SyncGroup, Heartbeat and LeaveGroup of
//!   classic-protocol members (under every policy);
//! - downgrade: when the members left are all classic (the last consumer-protocol member left,
//!   was fenced, or was replaced by a static classic member of its instance), the group
//!   becomes a classic group that rebalances at once (policy `downgrade` or `bidirectional`);
//!   the replacing member's JoinGroup is then served by the classic group.
//!
//! Runs on the group's coordinator shard, through [`super::route`].

use std::collections::BTreeMap;
use std::rc::Rc;

use super::consumer::{settings, topics};
use super::{after, consumer_writes, write_consumer};
use crate::groups::consumer::group::{encode_named, ClassicJoin, ConsumerGroup, TopicsView};
use crate::groups::consumer_protocol::CONSUMER_PROTOCOL_TYPE;
use crate::groups::state::{Group, JoinParams, JoinResult, Now, SyncResult};
use crate::protocol::errors::GroupError;
use crate::shard::Shard;

/// The consumer group a classic group in use becomes when a consumer-protocol member joins,
/// if the policy allows and it uses the consumer protocol (Kafka's `validateOnlineUpgrade`);
/// else GROUP_ID_NOT_FOUND, as Kafka answers a heartbeat to a classic group.
pub(super) fn upgraded(
    shard: &Shard,
    classic: &Group,
    view: &TopicsView<'_>,
    now: Now,
) -> Result<ConsumerGroup, GroupError> {
    let config = &shard.groups.config;
    if !config.consumer_migration_policy.upgrade_enabled() {
        return Err(GroupError::GroupIdNotFound);
    }
    let (generation, seeds) = classic.upgrade_seeds().ok_or(GroupError::GroupIdNotFound)?;
    if seeds.len() > config.members_max {
        return Err(GroupError::GroupIdNotFound);
    }
    let g = ConsumerGroup::from_classic(generation, seeds, view, now.mono_ms)?;
    tracing::info!(group = %classic.id, generation, "classic group upgraded to a consumer group");
    Ok(g)
}

/// Topic names by id, for assignments handed to classic members.
fn names(shard: &Shard) -> BTreeMap<uuid::Uuid, String> {
    let (_, t) = topics(shard);
    t.iter().map(|(n, i)| (i.id, n.clone())).collect()
}

/// After members left or were fenced: if only classic members remain and the policy allows,
/// the group becomes a classic group (Kafka's `convertToClassicGroup`). True if it did.
pub(super) fn maybe_downgrade(shard: &Shard, group_id: &str) -> bool {
    let c = &shard.groups;
    if !c.config.consumer_migration_policy.downgrade_enabled() {
        return false;
    }
    let names = names(shard);
    let now = c.now();
    let mut groups = c.groups.borrow_mut();
    let Some(slot) = groups.get_mut(group_id) else {
        return false;
    };
    let snapshot = match &slot.consumer {
        Some(g) if g.all_classic() && g.members.len() <= c.config.members_max => {
            g.downgrade_snapshot(&names, now.wall_ms)
        }
        _ => None,
    };
    let Some(snapshot) = snapshot else {
        return false;
    };
    let generation = snapshot.generation;
    let offsets = std::mem::take(&mut slot.group.offsets);
    slot.group = Group::downgraded(group_id, c.config, snapshot, offsets, now);
    slot.consumer = None;
    tracing::info!(group = %group_id, generation, "consumer group downgraded to a classic group");
    true
}

/// A JoinGroup to a consumer group with members (Kafka's `classicGroupJoinToConsumerGroup`):
/// answered at once, after the group's changes are in the log, with generation = the
/// member's epoch and no leader (the broker assigns: every member is a follower).
pub(super) async fn join(shard: &Rc<Shard>, group_id: &str, p: JoinParams) -> JoinResult {
    let c = &shard.groups;
    let now = c.now();
    let session = i64::from(p.session_timeout_ms);
    if session < c.config.session_timeout_ms_min as i64
        || session > c.config.session_timeout_ms_max as i64
    {
        return JoinResult::error(GroupError::InvalidSessionTimeout, &p.member_id);
    }
    // Kafka's order: the protocols first, then MEMBER_ID_REQUIRED.
    let supported = c
        .groups
        .borrow()
        .get(group_id)
        .and_then(|slot| slot.consumer.as_ref())
        .is_some_and(|g| g.supports_classic_protocols(&p.protocol_type, &p.protocols));
    if !supported {
        return JoinResult::error(GroupError::InconsistentGroupProtocol, &p.member_id);
    }
    let first_join = p.member_id.is_empty();
    if first_join && p.require_known_member_id {
        return JoinResult::error(GroupError::MemberIdRequired, &p.fresh_member_id);
    }
    // Kafka's `validateOnlineDowngradeWithReplacedMemberId`: a static classic member taking
    // the place of the last consumer-protocol member turns the group back into a classic
    // group (policy permitting), which then serves this JoinGroup.
    let downgrade_after = first_join
        && c.config.consumer_migration_policy.downgrade_enabled()
        && p.instance_id.as_deref().is_some_and(|i| {
            c.groups
                .borrow()
                .get(group_id)
                .and_then(|slot| slot.consumer.as_ref())
                .is_some_and(|g| g.all_classic_but_instance(i))
        });
    let rejoin = downgrade_after.then(|| p.clone());
    let member_id = if first_join {
        p.fresh_member_id.clone()
    } else {
        p.member_id.clone()
    };
    let (version, topics) = topics(shard);
    let view = TopicsView {
        version,
        topics: &topics,
    };
    let s = settings(shard, group_id);
    let join = ClassicJoin {
        member_id: member_id.clone(),
        first_join,
        instance_id: p.instance_id,
        client_id: p.client_id,
        client_host: p.client_host,
        session_timeout_ms: u64::try_from(p.session_timeout_ms.max(0)).unwrap_or(0),
        rebalance_timeout_ms: p.rebalance_timeout_ms,
        protocol_type: p.protocol_type,
        protocols: p.protocols,
    };
    let r = match c
        .groups
        .borrow_mut()
        .get_mut(group_id)
        .and_then(|slot| slot.consumer.as_mut())
    {
        Some(g) => g.classic_join(join, &view, &s, now.mono_ms),
        None => Err(GroupError::CoordinatorNotAvailable),
    };
    let downgraded = r.is_ok() && rejoin.is_some() && maybe_downgrade(shard, group_id);
    let writes = consumer_writes(c, group_id);
    after(shard, group_id);
    if let Err(e) = write_consumer(shard, group_id, writes).await {
        return JoinResult::error(e, &member_id);
    }
    if let (true, Some(mut p), Ok((id, _, _))) = (downgraded, rejoin, &r) {
        tracing::info!(group = %group_id, member = %id, "static classic member replaced the last consumer member");
        p.member_id = id.clone();
        // Boxed: the classic join may come back here (a recursive future).
        let classic: std::pin::Pin<Box<dyn std::future::Future<Output = JoinResult>>> =
            Box::pin(super::classic::join(shard.clone(), group_id.to_string(), p));
        return classic.await;
    }
    match r {
        Ok((member_id, generation, protocol)) => JoinResult {
            error: None,
            member_id,
            generation,
            protocol_type: Some(CONSUMER_PROTOCOL_TYPE.to_string()),
            protocol_name: Some(protocol),
            leader: String::new(),
            skip_assignment: false,
            members: Vec::new(),
        },
        Err(e) => JoinResult::error(e, &member_id),
    }
}

/// A SyncGroup to a consumer group: the member's assigned partitions.
pub(super) fn sync(
    shard: &Rc<Shard>,
    group_id: &str,
    member_id: &str,
    instance_id: Option<&str>,
    generation: i32,
    protocol_type: Option<String>,
    protocol_name: Option<String>,
) -> SyncResult {
    let c = &shard.groups;
    let now = c.now();
    let r = match c
        .groups
        .borrow_mut()
        .get_mut(group_id)
        .and_then(|slot| slot.consumer.as_mut())
    {
        Some(g) => g.classic_sync(
            member_id,
            instance_id,
            generation,
            protocol_type.as_deref(),
            protocol_name.as_deref(),
            now.mono_ms,
        ),
        None => Err(GroupError::UnknownMemberId),
    };
    after(shard, group_id);
    match r {
        Ok((assigned, name)) => SyncResult {
            error: None,
            protocol_type: Some(protocol_type.unwrap_or_else(|| CONSUMER_PROTOCOL_TYPE.into())),
            protocol_name: Some(protocol_name.unwrap_or(name)),
            assignment: encode_named(&assigned, &names(shard)),
        },
        Err(e) => SyncResult::error(e),
    }
}

/// A Heartbeat to a consumer group.
pub(super) fn heartbeat(
    shard: &Rc<Shard>,
    group_id: &str,
    member_id: &str,
    instance_id: Option<&str>,
    generation: i32,
) -> Result<(), GroupError> {
    let c = &shard.groups;
    let now = c.now();
    let r = match c
        .groups
        .borrow_mut()
        .get_mut(group_id)
        .and_then(|slot| slot.consumer.as_mut())
    {
        Some(g) => g.classic_heartbeat(member_id, instance_id, generation, now.mono_ms),
        None => Err(GroupError::UnknownMemberId),
    };
    after(shard, group_id);
    r
}

/// A LeaveGroup to a consumer group; the group may downgrade after it.
pub(super) fn leave(
    shard: &Rc<Shard>,
    group_id: &str,
    members: &[(String, Option<String>)],
) -> Vec<Result<(), GroupError>> {
    let c = &shard.groups;
    let s = settings(shard, group_id);
    let r = match c
        .groups
        .borrow_mut()
        .get_mut(group_id)
        .and_then(|slot| slot.consumer.as_mut())
    {
        Some(g) => g.classic_leave(members, &s),
        None => members
            .iter()
            .map(|_| Err(GroupError::UnknownMemberId))
            .collect(),
    };
    maybe_downgrade(shard, group_id);
    after(shard, group_id);
    r
}
