//! Classic-protocol members of a consumer group (KIP-848's online migration, Kafka 4's
//! `classicGroupJoinToConsumerGroup` and friends): JoinGroup, SyncGroup, Heartbeat and
//! LeaveGroup served by the consumer group's state machine, and the conversions from and to a
//! classic group.
//!
//! A classic member is reconciled like any other, but learns of each step the classic way:
//! its Heartbeat answers REBALANCE_IN_PROGRESS while it is behind the group epoch, must revoke,
//! or may now take partitions others released; it then rejoins (JoinGroup, reporting what it
//! owns in its subscription), which moves it one step, and SyncGroup hands it its assigned
//! partitions. Its generation is its member epoch. A member told to rejoin that does not do
//! so within its rebalance timeout is removed (Kafka's join timeout), and so is one whose
//! SyncGroup does not follow its JoinGroup within its rebalance timeout (Kafka's sync
//! timeout). A malformed subscription is UNKNOWN_SERVER_ERROR, as Kafka answers it.
//!
//! Part of `group` (a child module sharing `ConsumerGroup`'s private fields); pure logic.
//! Lives in its coordinator's slot, on the coordinator shard.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use uuid::Uuid;

use super::{Assignment, ConsumerGroup, Member, MemberState, Settings, TopicsView};
use crate::groups::consumer_protocol::{
    assigned_partitions, encode_assignment, parse_subscription, CONSUMER_PROTOCOL_TYPE,
};
use crate::groups::state::{ClassicSeed, GroupSnapshot, MemberSnapshot, Protocol};
use crate::protocol::errors::GroupError;

/// What a classic-protocol member brought with its JoinGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassicMember {
    pub session_timeout_ms: u64,
    /// Its protocols (assignor names and subscriptions), in its order of preference.
    pub protocols: Vec<Protocol>,
    /// Told to rejoin (REBALANCE_IN_PROGRESS): removed unless it rejoins by then.
    pub rejoin_deadline_ms: Option<u64>,
    /// Joined: removed unless its SyncGroup comes by then (Kafka's sync timeout, the
    /// member's rebalance timeout after its JoinGroup).
    pub sync_deadline_ms: Option<u64>,
}

impl ClassicMember {
    /// A member that joined with `protocols` and has nothing pending yet.
    pub fn new(session_timeout_ms: u64, protocols: Vec<Protocol>) -> ClassicMember {
        ClassicMember {
            session_timeout_ms,
            protocols,
            rejoin_deadline_ms: None,
            sync_deadline_ms: None,
        }
    }

    fn protocol_name(&self) -> &str {
        self.protocols.first().map_or("", |p| p.name.as_str())
    }

    /// The earliest time it is removed at unless it rejoins or syncs.
    pub fn deadline_ms(&self) -> Option<u64> {
        match (self.rejoin_deadline_ms, self.sync_deadline_ms) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// A JoinGroup to a consumer group, as the state machine needs it.
#[derive(Debug, Clone)]
pub struct ClassicJoin {
    /// Never empty: the caller makes one for a first join.
    pub member_id: String,
    /// The request carried no member id (a static member may then replace its instance's).
    pub first_join: bool,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: u64,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<Protocol>,
}

/// Topic names to ids (what a classic member says) through `view`; unknown topics dropped.
fn to_ids(view: &TopicsView<'_>, named: &[(String, Vec<i32>)]) -> Assignment {
    let mut a = Assignment::new();
    for (name, ps) in named {
        if let Some(t) = view.topics.get(name) {
            let set: &mut BTreeSet<i32> = a.entry(t.id).or_default();
            set.extend(ps.iter().copied().filter(|p| (0..t.partitions).contains(p)));
        }
    }
    a.retain(|_, ps| !ps.is_empty());
    a
}

/// An assignment as ConsumerProtocolAssignment bytes (v0), topic ids named through `names`.
pub fn encode_named(a: &Assignment, names: &BTreeMap<Uuid, String>) -> Bytes {
    let named: Vec<(String, Vec<i32>)> = a
        .iter()
        .filter_map(|(id, ps)| {
            names
                .get(id)
                .map(|n| (n.clone(), ps.iter().copied().collect()))
        })
        .collect();
    Bytes::from(encode_assignment(&named))
}

impl ConsumerGroup {
    /// Kafka's `supportsClassicProtocols`: the consumer protocol type, and (if classic members
    /// are here) a protocol every one of them supports.
    pub fn supports_classic_protocols(&self, protocol_type: &str, protocols: &[Protocol]) -> bool {
        if protocol_type != CONSUMER_PROTOCOL_TYPE || protocols.is_empty() {
            return false;
        }
        let classic: Vec<&ClassicMember> = self
            .members
            .values()
            .filter_map(|m| m.classic.as_ref())
            .collect();
        classic.is_empty()
            || protocols.iter().any(|p| {
                classic
                    .iter()
                    .all(|c| c.protocols.iter().any(|q| q.name == p.name))
            })
    }

    /// Every member speaks the classic protocol (and there is one).
    pub fn all_classic(&self) -> bool {
        !self.members.is_empty() && self.members.values().all(|m| m.classic.is_some())
    }

    /// Kafka's `allMembersUseClassicProtocolExcept` for the static member of `instance_id`
    /// (which must be here): would replacing it by a classic member leave only classic ones?
    pub fn all_classic_but_instance(&self, instance_id: &str) -> bool {
        let holds = |m: &Member| m.instance_id.as_deref() == Some(instance_id);
        self.members.values().any(holds)
            && self
                .members
                .values()
                .all(|m| holds(m) || m.classic.is_some())
    }

    /// The classic member `member_id` (with `instance_id` if given), Kafka's
    /// `validateConsumerGroupMember` plus "it uses the classic protocol".
    fn classic_member(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Result<&mut Member, GroupError> {
        let m = match instance_id {
            None => self.members.get_mut(member_id),
            Some(i) => self
                .members
                .values_mut()
                .find(|m| m.instance_id.as_deref() == Some(i)),
        }
        .ok_or(GroupError::UnknownMemberId)?;
        if m.id != member_id {
            return Err(GroupError::FencedInstanceId);
        }
        if m.classic.is_none() {
            return Err(GroupError::UnknownMemberId);
        }
        Ok(m)
    }

    /// A JoinGroup: the member is added or updated, the group epoch moves if it is new or its
    /// subscription changed, and it takes its next reconciliation step from what its
    /// subscription says it owns. Answers (member id, generation = member epoch, protocol).
    pub fn classic_join(
        &mut self,
        p: ClassicJoin,
        view: &TopicsView<'_>,
        s: &Settings,
        now_ms: u64,
    ) -> Result<(String, i32, String), GroupError> {
        if !self.supports_classic_protocols(&p.protocol_type, &p.protocols) {
            return Err(GroupError::InconsistentGroupProtocol);
        }
        let first = p
            .protocols
            .first()
            .ok_or(GroupError::InconsistentGroupProtocol)?;
        let protocol_name = first.name.clone();
        // Kafka's `deserializeSubscription` throws IllegalStateException on a malformed
        // subscription, which its coordinator answers as UNKNOWN_SERVER_ERROR.
        let subscription =
            parse_subscription(&first.metadata).ok_or(GroupError::UnknownServerError)?;
        let mut member = match self.members.get(&p.member_id) {
            Some(m) => m.clone(),
            None => self.new_classic_member(&p, s)?,
        };
        let is_new = !self.members.contains_key(&member.id);
        let mut changed = is_new && member.epoch == 0;
        if subscription.topics != member.topic_names || member.topic_regex.is_some() {
            member.topic_names = subscription.topics;
            member.topic_regex = None;
            changed = true;
        }
        member.rebalance_timeout_ms = p.rebalance_timeout_ms;
        member.client_id = p.client_id;
        member.client_host = p.client_host;
        member.session_deadline_ms = now_ms.saturating_add(p.session_timeout_ms);
        let mut classic = ClassicMember::new(p.session_timeout_ms, p.protocols);
        let rebalance_timeout = u64::try_from(p.rebalance_timeout_ms.max(0)).unwrap_or(0);
        classic.sync_deadline_ms = Some(now_ms.saturating_add(rebalance_timeout));
        member.classic = Some(classic);
        let id = member.id.clone();
        self.members.insert(id.clone(), member);
        let owned = to_ids(view, &subscription.owned);
        self.settle(&id, changed, view, s, Some(&owned), now_ms);
        let epoch = self.members.get(&id).map_or(0, |m| m.epoch);
        Ok((id, epoch, protocol_name))
    }

    /// A member not in the group yet: new, or a static member replacing its instance's.
    fn new_classic_member(&mut self, p: &ClassicJoin, s: &Settings) -> Result<Member, GroupError> {
        let mut m = Member::fresh(&p.member_id, p.instance_id.clone(), p.rebalance_timeout_ms);
        if let Some(instance) = &p.instance_id {
            let holder = self
                .members
                .values()
                .find(|h| h.instance_id.as_deref() == Some(instance))
                .map(|h| h.id.clone());
            if let Some(old) = holder {
                if !p.first_join {
                    return Err(GroupError::FencedInstanceId);
                }
                // The instance restarted under a new member id: it takes its place (not its
                // regex or server assignor, which a classic member has no use for).
                self.take_place(&old, &mut m);
                return Ok(m);
            }
        }
        if self.members.len() >= s.members_max {
            return Err(GroupError::GroupMaxSizeReached);
        }
        Ok(m)
    }

    /// A SyncGroup: the member's assigned partitions (Kafka's `classicGroupSyncToConsumerGroup`).
    pub fn classic_sync(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        protocol_type: Option<&str>,
        protocol_name: Option<&str>,
        now_ms: u64,
    ) -> Result<(Assignment, String), GroupError> {
        let group_epoch = self.group_epoch;
        let m = self.classic_member(member_id, instance_id)?;
        if generation != m.epoch {
            return Err(GroupError::IllegalGeneration);
        }
        let c = m.classic.as_ref().ok_or(GroupError::UnknownMemberId)?;
        let name = c.protocol_name().to_string();
        if protocol_type.is_some_and(|t| t != CONSUMER_PROTOCOL_TYPE)
            || protocol_name.is_some_and(|n| n != name)
        {
            return Err(GroupError::InconsistentGroupProtocol);
        }
        // A member behind the group epoch must rejoin first, unless it is revoking (it has
        // rejoined, and keeps its epoch until it has let go).
        if group_epoch > m.epoch && m.state != MemberState::UnrevokedPartitions {
            return Err(GroupError::RebalanceInProgress);
        }
        m.session_deadline_ms = now_ms.saturating_add(c.session_timeout_ms);
        if let Some(c) = m.classic.as_mut() {
            c.sync_deadline_ms = None;
        }
        Ok((m.assigned.clone(), name))
    }

    /// A Heartbeat: REBALANCE_IN_PROGRESS when the member must rejoin — it is behind the group
    /// epoch, must revoke, or the partitions it waits for are free now.
    pub fn classic_heartbeat(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        now_ms: u64,
    ) -> Result<(), GroupError> {
        let group_epoch = self.group_epoch;
        let waiting = self.waiting_on_unreleased(member_id);
        let m = self.classic_member(member_id, instance_id)?;
        if generation != m.epoch {
            return Err(GroupError::IllegalGeneration);
        }
        let rebalance_timeout = u64::try_from(m.rebalance_timeout_ms.max(0)).unwrap_or(0);
        let must_rejoin = m.epoch < group_epoch
            || m.state == MemberState::UnrevokedPartitions
            || (m.state == MemberState::UnreleasedPartitions && !waiting);
        let Some(c) = m.classic.as_mut() else {
            return Err(GroupError::UnknownMemberId);
        };
        m.session_deadline_ms = now_ms.saturating_add(c.session_timeout_ms);
        if must_rejoin {
            c.rejoin_deadline_ms
                .get_or_insert(now_ms.saturating_add(rebalance_timeout));
            return Err(GroupError::RebalanceInProgress);
        }
        Ok(())
    }

    /// Does member `id` wait for a partition of its target that another member still holds?
    fn waiting_on_unreleased(&self, id: &str) -> bool {
        let Some(m) = self.members.get(id) else {
            return false;
        };
        let held = self.held_by_others(id);
        self.target.get(id).is_some_and(|t| {
            t.iter().any(|(topic, ps)| {
                ps.iter().any(|p| {
                    !m.assigned.get(topic).is_some_and(|a| a.contains(p))
                        && held.contains(&(*topic, *p))
                })
            })
        })
    }

    /// A LeaveGroup of (member id, instance id) pairs (Kafka's
    /// `classicGroupLeaveToConsumerGroup`): an instance id names a static member (an empty
    /// member id removes it administratively); each leaving member's partitions are reassigned.
    pub fn classic_leave(
        &mut self,
        members: &[(String, Option<String>)],
        s: &Settings,
    ) -> Vec<Result<(), GroupError>> {
        let mut out = Vec::with_capacity(members.len());
        for (member_id, instance_id) in members {
            let found = match instance_id {
                None => self
                    .members
                    .contains_key(member_id)
                    .then(|| member_id.clone())
                    .ok_or(GroupError::UnknownMemberId),
                Some(i) => match self
                    .members
                    .values()
                    .find(|m| m.instance_id.as_deref() == Some(i.as_str()))
                {
                    None => Err(GroupError::UnknownMemberId),
                    Some(m) if !member_id.is_empty() && m.id != *member_id => {
                        Err(GroupError::FencedInstanceId)
                    }
                    Some(m) => Ok(m.id.clone()),
                },
            };
            out.push(found.map(|id| self.remove_member(&id)));
        }
        if self.group_epoch > self.target_epoch {
            self.compute_target(s);
        }
        out
    }

    /// A consumer group taking over a classic group's members (Kafka's
    /// `ConsumerGroup.fromClassicGroup`): each keeps its id and assignment at member epoch =
    /// the generation, the target is what they hold, and they stay classic members. Err
    /// (GROUP_ID_NOT_FOUND, as Kafka) if a subscription or assignment does not parse.
    pub fn from_classic(
        generation: i32,
        seeds: Vec<ClassicSeed>,
        view: &TopicsView<'_>,
        now_ms: u64,
    ) -> Result<ConsumerGroup, GroupError> {
        let mut g = ConsumerGroup {
            group_epoch: generation,
            target_epoch: generation,
            ..ConsumerGroup::default()
        };
        for seed in seeds {
            let sub = parse_subscription(&seed.subscription).ok_or(GroupError::GroupIdNotFound)?;
            let assigned = if seed.assignment.is_empty() {
                Assignment::new()
            } else {
                let named =
                    assigned_partitions(&seed.assignment).ok_or(GroupError::GroupIdNotFound)?;
                to_ids(view, &named)
            };
            g.target.insert(seed.id.clone(), assigned.clone());
            let member = Member {
                client_id: seed.client_id,
                client_host: seed.client_host,
                epoch: generation,
                previous_epoch: generation,
                topic_names: sub.topics,
                assigned,
                session_deadline_ms: now_ms.saturating_add(seed.session_timeout_ms),
                classic: Some(ClassicMember::new(seed.session_timeout_ms, seed.protocols)),
                ..Member::fresh(
                    &seed.id,
                    seed.instance_id,
                    i32::try_from(seed.rebalance_timeout_ms).unwrap_or(i32::MAX),
                )
            };
            g.members.insert(seed.id, member);
        }
        g.subscribed = g.resolve_members(view);
        g.view_version = Some(view.version);
        Ok(g)
    }

    /// The classic group this one becomes when only classic members are left (Kafka's
    /// `ClassicGroup.fromConsumerGroup`): generation = the group epoch, the protocol the first
    /// member prefers among those all support, each member's target assignment as its
    /// assignment. None if the members share no protocol.
    pub fn downgrade_snapshot(
        &self,
        names: &BTreeMap<Uuid, String>,
        wall_ms: i64,
    ) -> Option<GroupSnapshot> {
        let classic: Vec<(&Member, &ClassicMember)> = self
            .members
            .values()
            .map(|m| m.classic.as_ref().map(|c| (m, c)))
            .collect::<Option<_>>()?;
        let (_, first) = classic.first()?;
        let protocol = first
            .protocols
            .iter()
            .find(|p| {
                classic
                    .iter()
                    .all(|(_, c)| c.protocols.iter().any(|q| q.name == p.name))
            })?
            .name
            .clone();
        let members = classic
            .iter()
            .map(|(m, c)| MemberSnapshot {
                id: m.id.clone(),
                instance_id: m.instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                rebalance_timeout_ms: m.rebalance_timeout_ms,
                session_timeout_ms: i32::try_from(c.session_timeout_ms).unwrap_or(i32::MAX),
                protocol_type: CONSUMER_PROTOCOL_TYPE.to_string(),
                subscription: c
                    .protocols
                    .iter()
                    .find(|p| p.name == protocol)
                    .map(|p| p.metadata.clone())
                    .unwrap_or_default(),
                assignment: encode_named(
                    self.target.get(&m.id).unwrap_or(&Assignment::new()),
                    names,
                ),
            })
            .collect();
        Some(GroupSnapshot {
            protocol_type: CONSUMER_PROTOCOL_TYPE.to_string(),
            generation: self.group_epoch,
            protocol: Some(protocol),
            leader: classic.first().map(|(m, _)| m.id.clone()),
            state_timestamp_ms: wall_ms,
            members,
        })
    }
}
