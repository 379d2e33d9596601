//! One consumer group's state machine: Kafka's classic `GroupMetadata` plus the membership logic
//! of its `GroupCoordinator`, as pure logic — no I/O, no clock, no async. Time comes in as
//! [`Now`]; answers to parked JoinGroup/SyncGroup requests and "persist the group" requests go
//! out as [`Event`]s that the coordinator drains after every call.
//!
//! Lives on the group's coordinator shard (inside `coordinator::Coordinator`).
//!
//! States (Kafka's): Empty → PreparingRebalance → CompletingRebalance → Stable, back to
//! PreparingRebalance on any membership change, Dead once deleted or expired.
//!
//! Must not happen: a member in `members` twice under one instance id (`static_members` maps each
//! instance id to exactly one member); a JoinGroup/SyncGroup left parked after its member is
//! removed (removal always answers it); a generation going backwards.

use std::collections::{BTreeMap, HashMap, HashSet};

use bytes::Bytes;

use super::consumer_protocol::{subscribed_topics, CONSUMER_PROTOCOL_TYPE};
use super::GroupConfig;
use crate::limits::GROUP_NEW_MEMBER_JOIN_TIMEOUT_MS;
use crate::protocol::errors::GroupError;

pub use super::types::*;

/// A group member.
#[derive(Debug, Clone)]
pub struct Member {
    pub id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: u64,
    pub rebalance_timeout_ms: u64,
    pub protocol_type: String,
    /// In the member's order of preference.
    pub protocols: Vec<Protocol>,
    pub assignment: Bytes,
    awaiting_join: bool,
    awaiting_sync: bool,
    /// Joined but not yet part of a completed generation.
    is_new: bool,
    /// The member is removed at this time unless something renews it. None: not scheduled (it is
    /// waiting on a rebalance, which renews it when it answers).
    heartbeat_deadline: Option<u64>,
}

impl Member {
    fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|p| p.name == protocol)
            .map(|p| p.metadata.clone())
            .unwrap_or_default()
    }

    fn matches(&self, protocols: &[Protocol]) -> bool {
        self.protocols == protocols
    }

    fn touch(&mut self, now: Now) {
        let timeout = if self.is_new {
            GROUP_NEW_MEMBER_JOIN_TIMEOUT_MS
        } else {
            self.session_timeout_ms
        };
        self.heartbeat_deadline = Some(now.mono_ms.saturating_add(timeout));
    }
}

/// The initial rebalance delay of a group that was empty (Kafka's InitialDelayedJoin).
#[derive(Debug, Clone, Copy)]
struct InitialDelay {
    /// Rebalance timeout left for further extensions.
    remaining_ms: u64,
    /// The delay we are in now (the next extension is min(configured, remaining)).
    current_ms: u64,
    new_member_added: bool,
}

/// One group. Lives on its coordinator shard.
#[derive(Debug)]
pub struct Group {
    pub id: String,
    config: GroupConfig,
    state: GroupState,
    state_timestamp_ms: i64,
    generation: i32,
    protocol_type: Option<String>,
    protocol: Option<String>,
    leader: Option<String>,
    members: BTreeMap<String, Member>,
    /// instance id → member id of static members.
    static_members: HashMap<String, String>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, not joined yet → when they expire.
    pending: BTreeMap<String, u64>,
    /// When PreparingRebalance gives up waiting for members.
    join_deadline: Option<u64>,
    initial_delay: Option<InitialDelay>,
    pub offsets: BTreeMap<(String, i32), CommittedOffset>,
    events: Vec<Event>,
}

impl Group {
    pub fn new(id: &str, config: GroupConfig, now: Now) -> Group {
        Group {
            id: id.to_string(),
            config,
            state: GroupState::Empty,
            state_timestamp_ms: now.wall_ms,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            static_members: HashMap::new(),
            pending: BTreeMap::new(),
            join_deadline: None,
            initial_delay: None,
            offsets: BTreeMap::new(),
            events: Vec::new(),
        }
    }

    /// A group loaded from its metadata record: Stable with the stored members (who must
    /// heartbeat within their session timeout from now), or Empty.
    pub fn from_snapshot(id: &str, config: GroupConfig, s: GroupSnapshot, now: Now) -> Group {
        let mut g = Group::new(id, config, now);
        g.generation = s.generation;
        g.protocol_type = (!s.protocol_type.is_empty()).then_some(s.protocol_type.clone());
        g.protocol = s.protocol;
        g.state_timestamp_ms = s.state_timestamp_ms;
        for m in s.members {
            if let Some(iid) = &m.instance_id {
                g.static_members.insert(iid.clone(), m.id.clone());
            }
            let protocols = match &g.protocol {
                Some(name) => vec![Protocol {
                    name: name.clone(),
                    metadata: m.subscription.clone(),
                }],
                None => Vec::new(),
            };
            let mut member = Member {
                id: m.id.clone(),
                instance_id: m.instance_id,
                client_id: m.client_id,
                client_host: m.client_host,
                session_timeout_ms: m.session_timeout_ms.max(0) as u64,
                rebalance_timeout_ms: m.rebalance_timeout_ms.max(0) as u64,
                protocol_type: s.protocol_type.clone(),
                protocols,
                assignment: m.assignment,
                awaiting_join: false,
                awaiting_sync: false,
                is_new: false,
                heartbeat_deadline: None,
            };
            member.touch(now);
            g.members.insert(m.id, member);
        }
        if g.members.is_empty() {
            g.protocol = None;
        } else {
            g.leader = s
                .leader
                .filter(|l| g.members.contains_key(l))
                .or_else(|| g.members.keys().next().cloned());
            g.state = GroupState::Stable;
        }
        g
    }

    // --- observation ----------------------------------------------------------------------

    pub fn state(&self) -> GroupState {
        self.state
    }

    pub fn generation(&self) -> i32 {
        self.generation
    }

    pub fn protocol_type(&self) -> Option<&str> {
        self.protocol_type.as_deref()
    }

    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    pub fn leader(&self) -> Option<&str> {
        self.leader.as_deref()
    }

    pub fn has_member(&self, id: &str) -> bool {
        self.members.contains_key(id)
    }

    pub fn member_ids(&self) -> Vec<String> {
        self.members.keys().cloned().collect()
    }

    pub fn member(&self, id: &str) -> Option<&Member> {
        self.members.get(id)
    }

    pub fn is_pending(&self, id: &str) -> bool {
        self.pending.contains_key(id)
    }

    /// Nothing left to keep: no members, no pending members, no offsets.
    pub fn is_disposable(&self) -> bool {
        self.members.is_empty() && self.pending.is_empty() && self.offsets.is_empty()
    }

    pub fn drain_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// The earliest time `tick` has something to do.
    pub fn next_deadline(&self) -> Option<u64> {
        let members = self.members.values().filter_map(|m| m.heartbeat_deadline);
        let pending = self.pending.values().copied();
        members.chain(pending).chain(self.join_deadline).min()
    }

    /// The group as its metadata record stores it, with `assignments` in place of the members'
    /// current ones where given.
    pub fn snapshot(&self, assignments: Option<&[(String, Bytes)]>) -> GroupSnapshot {
        let protocol = self.protocol.clone();
        let members = self
            .members
            .values()
            .map(|m| MemberSnapshot {
                id: m.id.clone(),
                instance_id: m.instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                rebalance_timeout_ms: clamp_i32(m.rebalance_timeout_ms),
                session_timeout_ms: clamp_i32(m.session_timeout_ms),
                protocol_type: m.protocol_type.clone(),
                subscription: protocol
                    .as_deref()
                    .map(|p| m.metadata_for(p))
                    .unwrap_or_default(),
                assignment: match assignments {
                    Some(a) => a
                        .iter()
                        .find(|(id, _)| *id == m.id)
                        .map(|(_, b)| b.clone())
                        .unwrap_or_default(),
                    None => m.assignment.clone(),
                },
            })
            .collect();
        GroupSnapshot {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation,
            protocol,
            leader: self.leader.clone(),
            state_timestamp_ms: self.state_timestamp_ms,
            members,
        }
    }

    /// Topics the members subscribe to, if this is a consumer group whose subscriptions parse.
    pub fn subscribed_topics(&self) -> Option<HashSet<String>> {
        if self.protocol_type.as_deref() != Some(CONSUMER_PROTOCOL_TYPE) {
            return None;
        }
        let protocol = self.protocol.as_deref()?;
        let mut all = HashSet::new();
        for m in self.members.values() {
            all.extend(subscribed_topics(&m.metadata_for(protocol))?);
        }
        Some(all)
    }

    // --- SyncGroup ---------------------------------------------------------------------------

    #[expect(
        clippy::too_many_arguments,
        reason = "one argument per field of the request it serves; a struct would only rename them"
    )]
    pub fn sync(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        protocol_type: Option<&str>,
        protocol_name: Option<&str>,
        assignments: Vec<(String, Bytes)>,
        now: Now,
    ) -> SyncOutcome {
        let fail = |e| SyncOutcome::Done(SyncResult::error(e));
        if self.state == GroupState::Dead {
            return fail(GroupError::CoordinatorNotAvailable);
        }
        if let Err(e) = self.validate_member(member_id, instance_id) {
            return fail(e);
        }
        if generation != self.generation {
            return fail(GroupError::IllegalGeneration);
        }
        if protocol_type.is_some_and(|t| self.protocol_type.as_deref() != Some(t))
            || protocol_name.is_some_and(|n| self.protocol.as_deref() != Some(n))
        {
            return fail(GroupError::InconsistentGroupProtocol);
        }
        match self.state {
            GroupState::Empty => fail(GroupError::UnknownMemberId),
            GroupState::Dead => fail(GroupError::CoordinatorNotAvailable),
            GroupState::PreparingRebalance => fail(GroupError::RebalanceInProgress),
            GroupState::CompletingRebalance => {
                let is_leader = self.leader.as_deref() == Some(member_id);
                // A repeated SyncGroup replaces the parked one (the coordinator answers that).
                if let Some(m) = self.members.get_mut(member_id) {
                    m.awaiting_sync = true;
                    m.touch(now);
                }
                if !is_leader {
                    return SyncOutcome::Waiting;
                }
                // Members the leader left out get an empty assignment; unknown ids are dropped.
                let assignments = self
                    .members
                    .keys()
                    .map(|id| {
                        let a = assignments
                            .iter()
                            .find(|(m, _)| m == id)
                            .map(|(_, a)| a.clone())
                            .unwrap_or_default();
                        (id.clone(), a)
                    })
                    .collect();
                SyncOutcome::Persist {
                    generation,
                    assignments,
                }
            }
            GroupState::Stable => {
                let m = self.members.get_mut(member_id);
                let assignment = m
                    .map(|m| {
                        m.touch(now);
                        m.assignment.clone()
                    })
                    .unwrap_or_default();
                SyncOutcome::Done(SyncResult {
                    error: None,
                    protocol_type: self.protocol_type.clone(),
                    protocol_name: self.protocol.clone(),
                    assignment,
                })
            }
        }
    }

    /// After the leader's assignment was persisted (or failed to be): hand it out and become
    /// Stable, or answer the error and rebalance. A group that moved on meanwhile ignores it
    /// (its parked syncs were answered when the rebalance began).
    pub fn complete_sync(
        &mut self,
        generation: i32,
        assignments: Vec<(String, Bytes)>,
        persisted: Result<(), GroupError>,
        now: Now,
    ) {
        if self.state != GroupState::CompletingRebalance || self.generation != generation {
            return;
        }
        match persisted {
            Ok(()) => {
                for (id, a) in assignments {
                    if let Some(m) = self.members.get_mut(&id) {
                        m.assignment = a;
                    }
                }
                let (pt, pn) = (self.protocol_type.clone(), self.protocol.clone());
                for m in self.members.values_mut() {
                    if m.awaiting_sync {
                        m.awaiting_sync = false;
                        self.events.push(Event::Sync(
                            m.id.clone(),
                            SyncResult {
                                error: None,
                                protocol_type: pt.clone(),
                                protocol_name: pn.clone(),
                                assignment: m.assignment.clone(),
                            },
                        ));
                        m.touch(now);
                    }
                }
                self.transition(GroupState::Stable, now);
            }
            Err(e) => {
                self.reset_and_propagate_assignment_error(e, now);
                self.prepare_rebalance(now);
            }
        }
    }

    // --- Heartbeat, LeaveGroup -----------------------------------------------------------------

    pub fn heartbeat(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        now: Now,
    ) -> Result<(), GroupError> {
        if self.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        self.validate_member(member_id, instance_id)?;
        if generation != self.generation {
            return Err(GroupError::IllegalGeneration);
        }
        let state = self.state;
        if state == GroupState::Empty {
            return Err(GroupError::UnknownMemberId);
        }
        if let Some(m) = self.members.get_mut(member_id) {
            m.touch(now);
        }
        match state {
            GroupState::PreparingRebalance => Err(GroupError::RebalanceInProgress),
            _ => Ok(()),
        }
    }

    /// LeaveGroup for each (member id, instance id); an empty member id with an instance id
    /// removes that static member (administrative removal).
    pub fn leave(
        &mut self,
        members: &[(String, Option<String>)],
        now: Now,
    ) -> Result<Vec<Result<(), GroupError>>, GroupError> {
        if self.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        let mut out = Vec::with_capacity(members.len());
        for (member_id, instance_id) in members {
            let r = if member_id.is_empty() {
                match instance_id
                    .as_ref()
                    .and_then(|i| self.static_members.get(i))
                    .cloned()
                {
                    Some(current) => {
                        self.remove_member_and_update(&current, GroupError::UnknownMemberId, now);
                        Ok(())
                    }
                    None => Err(GroupError::UnknownMemberId),
                }
            } else if self.pending.remove(member_id).is_some() {
                self.try_complete_join(now);
                Ok(())
            } else {
                self.validate_member(member_id, instance_id.as_deref())
                    .map(|()| {
                        self.remove_member_and_update(member_id, GroupError::UnknownMemberId, now)
                    })
            };
            out.push(r);
        }
        Ok(out)
    }

    // --- timers --------------------------------------------------------------------------------

    /// Run every timer that is due: expire pending members and members whose session ran out,
    /// end the (initial) join wait.
    pub fn tick(&mut self, now: Now) {
        let t = now.mono_ms;
        let expired_pending: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, d)| **d <= t)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired_pending {
            self.pending.remove(&id);
            self.try_complete_join(now);
        }
        let due: Vec<String> = self
            .members
            .values()
            .filter(|m| m.heartbeat_deadline.is_some_and(|d| d <= t))
            .map(|m| m.id.clone())
            .collect();
        for id in due {
            let Some(m) = self.members.get_mut(&id) else {
                continue;
            };
            if !m.is_new && (m.awaiting_join || m.awaiting_sync) {
                // Waiting on the rebalance counts as alive; the answer renews the session.
                m.heartbeat_deadline = None;
            } else {
                self.remove_member_and_update(&id, GroupError::UnknownMemberId, now);
            }
        }
        if self.state == GroupState::PreparingRebalance
            && self.join_deadline.is_some_and(|d| d <= t)
        {
            match self.initial_delay {
                Some(d) if d.new_member_added && d.remaining_ms > 0 => {
                    let delay = self.config.initial_rebalance_delay_ms.min(d.remaining_ms);
                    self.initial_delay = Some(InitialDelay {
                        remaining_ms: d.remaining_ms.saturating_sub(d.current_ms),
                        current_ms: delay,
                        new_member_added: false,
                    });
                    self.join_deadline = Some(t.saturating_add(delay));
                }
                _ => self.complete_join(now),
            }
        }
    }

    /// The group is gone (deleted, or empty with no offsets left).
    pub fn mark_dead(&mut self, now: Now) {
        for id in self.member_ids() {
            self.remove_member(&id, GroupError::CoordinatorNotAvailable);
        }
        self.pending.clear();
        self.join_deadline = None;
        self.initial_delay = None;
        self.transition(GroupState::Dead, now);
    }
}

fn clamp_i32(v: u64) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

// Offset commits and retention: `impl Group` continued in a child module (same private access).
#[path = "state_offsets.rs"]
mod offsets;

#[path = "state_join.rs"]
mod join;

#[path = "state_migration.rs"]
mod migration;
pub use migration::ClassicSeed;

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
