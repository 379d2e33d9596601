//! One KIP-848 consumer group: members, epochs, the target assignment and each member's
//! reconciliation towards it. Pure logic (the caller passes the clock and the topics), so it
//! is unit-tested on its own. Lives in its coordinator's slot, on the coordinator shard.
//!
//! Epochs, as in Kafka: the *group epoch* moves when membership, a subscription or a
//! subscribed topic's partitions change; the *target assignment* is recomputed for it and
//! takes its epoch; each member then moves to the target in steps, its *member epoch*
//! reaching the target epoch once it holds nothing that is to go. A member first gives up
//! (revokes) what it loses, keeping its epoch, and reports the release in a later heartbeat;
//! a partition still held by another member is withheld (UNRELEASED) until that member's
//! heartbeat shows it released.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use regex::Regex;
use uuid::Uuid;

use super::assignor::{self, Assignment, Assignor, AssignorMember};
use super::Assignors;
use crate::limits;
use crate::protocol::errors::GroupError;

/// The first OffsetCommit version a consumer-protocol member may commit with (KIP-848).
pub const OFFSET_COMMIT_MEMBER_EPOCH_VERSION: i16 = 9;

/// Member epoch of a heartbeat that leaves the group.
pub const LEAVE_EPOCH: i32 = -1;
/// Member epoch of a static member's heartbeat that leaves but keeps its assignment for the
/// session timeout, for its instance to come back.
pub const LEAVE_STATIC_EPOCH: i32 = -2;

/// Where a member is on its way to the target assignment (Kafka's `MemberState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberState {
    Stable,
    /// It must revoke `revoking` before it moves on.
    UnrevokedPartitions,
    /// It is at the target epoch but waits for partitions other members still hold.
    UnreleasedPartitions,
}

#[derive(Debug, Clone)]
pub struct Member {
    pub id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub epoch: i32,
    pub previous_epoch: i32,
    pub state: MemberState,
    pub rebalance_timeout_ms: i32,
    pub topic_names: Vec<String>,
    pub topic_regex: Option<String>,
    pub assignor: Option<Assignor>,
    /// What it owns and may consume.
    pub assigned: Assignment,
    /// What it still owns but must give up.
    pub revoking: Assignment,
    /// Topic ids its subscription resolves to now.
    pub resolved: BTreeSet<Uuid>,
    pub session_deadline_ms: u64,
    pub revoke_deadline_ms: Option<u64>,
    /// A static member that left with epoch -2: it keeps its assignment until its session
    /// ends or its instance comes back.
    pub left: bool,
    /// Set for a member that speaks the classic protocol (JoinGroup / SyncGroup / Heartbeat)
    /// in this consumer group.
    pub classic: Option<ClassicMember>,
}

impl Member {
    /// A member about to join (epoch 0, nothing assigned, no subscription yet): the start of
    /// both a consumer-protocol and a classic member.
    pub fn fresh(id: &str, instance_id: Option<String>, rebalance_timeout_ms: i32) -> Member {
        Member {
            id: id.to_string(),
            instance_id,
            rack_id: None,
            client_id: String::new(),
            client_host: String::new(),
            epoch: 0,
            previous_epoch: 0,
            state: MemberState::Stable,
            rebalance_timeout_ms,
            topic_names: Vec::new(),
            topic_regex: None,
            assignor: None,
            assigned: Assignment::new(),
            revoking: Assignment::new(),
            resolved: BTreeSet::new(),
            session_deadline_ms: 0,
            revoke_deadline_ms: None,
            left: false,
            classic: None,
        }
    }
}

/// One topic as a subscription sees it.
#[derive(Debug, Clone)]
pub struct TopicInfo {
    pub id: Uuid,
    pub partitions: i32,
    pub internal: bool,
}

/// Every topic by name, with the metadata version it was taken at.
pub struct TopicsView<'a> {
    pub version: u64,
    pub topics: &'a BTreeMap<String, TopicInfo>,
}

/// Settings a heartbeat runs with (broker flags, or the group's own configs).
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub session_timeout_ms: u64,
    pub heartbeat_interval_ms: i32,
    pub assignors: Assignors,
    pub members_max: usize,
}

#[derive(Debug, Clone, Default)]
pub struct HeartbeatParams {
    pub version: i16,
    pub member_id: String,
    pub epoch: i32,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub topic_names: Option<Vec<String>>,
    pub topic_regex: Option<String>,
    pub assignor: Option<String>,
    pub owned: Option<Assignment>,
    pub client_id: String,
    pub client_host: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HeartbeatReply {
    pub member_id: String,
    pub epoch: i32,
    pub heartbeat_interval_ms: i32,
    /// The member's assignment, when it changed or the request asked for all of it.
    pub assignment: Option<Assignment>,
}

#[derive(Debug, Clone, Default)]
pub struct ConsumerGroup {
    pub group_epoch: i32,
    pub target_epoch: i32,
    pub target: BTreeMap<String, Assignment>,
    pub members: BTreeMap<String, Member>,
    /// The subscribed topics (id → (name, partitions)) as of the last group-epoch bump.
    pub subscribed: BTreeMap<Uuid, (String, i32)>,
    /// The assignor the target was last computed with.
    pub assignor: Option<Assignor>,
    /// Metadata version the subscriptions were last resolved against.
    view_version: Option<u64>,
    regexes: HashMap<String, Regex>,
}

/// Compiles a subscription regex as Kafka's RE2J does: the whole topic name must match.
pub fn compile_regex(re: &str) -> Result<Regex, GroupError> {
    if re.len() > limits::CONSUMER_GROUP_REGEX_BYTES_MAX {
        return Err(GroupError::InvalidRegularExpression);
    }
    regex::RegexBuilder::new(&format!("^(?:{re})$"))
        .size_limit(limits::CONSUMER_GROUP_REGEX_COMPILED_BYTES_MAX)
        .build()
        .map_err(|_| GroupError::InvalidRegularExpression)
}

fn count(a: &Assignment) -> usize {
    a.values().map(BTreeSet::len).sum()
}

fn subtract(a: &Assignment, b: &Assignment) -> Assignment {
    let mut out = Assignment::new();
    for (t, ps) in a {
        let left: BTreeSet<i32> = match b.get(t) {
            Some(bs) => ps.difference(bs).copied().collect(),
            None => ps.clone(),
        };
        if !left.is_empty() {
            out.insert(*t, left);
        }
    }
    out
}

fn intersect(a: &Assignment, b: &Assignment) -> Assignment {
    let mut out = Assignment::new();
    for (t, ps) in a {
        if let Some(bs) = b.get(t) {
            let both: BTreeSet<i32> = ps.intersection(bs).copied().collect();
            if !both.is_empty() {
                out.insert(*t, both);
            }
        }
    }
    out
}

fn is_subset(a: &Assignment, b: &Assignment) -> bool {
    subtract(a, b).is_empty()
}

impl ConsumerGroup {
    pub fn new() -> ConsumerGroup {
        ConsumerGroup::default()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Kafka's consumer group states: Empty, Assigning, Reconciling, Stable.
    pub fn state_name(&self) -> &'static str {
        if self.members.is_empty() {
            "Empty"
        } else if self.target_epoch != self.group_epoch {
            "Assigning"
        } else if self
            .members
            .values()
            .any(|m| m.epoch != self.target_epoch || m.state != MemberState::Stable)
        {
            "Reconciling"
        } else {
            "Stable"
        }
    }

    /// Every subscribed topic name (for OffsetDelete and describe).
    pub fn subscribed_names(&self) -> BTreeSet<String> {
        self.subscribed.values().map(|(n, _)| n.clone()).collect()
    }

    /// The earliest member deadline (session or revocation), in monotonic ms.
    pub fn next_deadline(&self) -> Option<u64> {
        self.members
            .values()
            .flat_map(|m| {
                let classic = m.classic.as_ref().and_then(|c| c.deadline_ms());
                [Some(m.session_deadline_ms), m.revoke_deadline_ms, classic]
            })
            .flatten()
            .min()
    }

    /// Remove members whose session ended, who did not revoke in time, or (classic members)
    /// did not rejoin or sync in time; true if any went.
    pub fn tick(&mut self, now_ms: u64) -> bool {
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| {
                let classic = m.classic.as_ref().and_then(|c| c.deadline_ms());
                m.session_deadline_ms <= now_ms
                    || m.revoke_deadline_ms.is_some_and(|d| d <= now_ms)
                    || classic.is_some_and(|d| d <= now_ms)
            })
            .map(|m| m.id.clone())
            .collect();
        for id in &expired {
            tracing::info!(member = %id, "consumer group member expired");
            self.remove_member(id);
        }
        !expired.is_empty()
    }

    fn remove_member(&mut self, id: &str) {
        if self.members.remove(id).is_some() {
            self.target.remove(id);
            self.group_epoch = crate::groups::next_epoch(self.group_epoch);
            self.view_version = None;
        }
    }

    /// A ConsumerGroupHeartbeat. `now_ms` is monotonic.
    pub fn heartbeat(
        &mut self,
        p: HeartbeatParams,
        view: &TopicsView<'_>,
        s: &Settings,
        now_ms: u64,
    ) -> Result<HeartbeatReply, GroupError> {
        if p.epoch == LEAVE_EPOCH || p.epoch == LEAVE_STATIC_EPOCH {
            return self.leave(&p, s);
        }
        let regex = match p.topic_regex.as_deref() {
            Some(re) if !re.is_empty() => Some(compile_regex(re)?),
            _ => None,
        };
        let assignor = match p.assignor.as_deref() {
            None => None,
            Some(name) => match Assignor::from_name(name) {
                Some(a) if s.assignors.allows(a) => Some(a),
                _ => return Err(GroupError::UnsupportedAssignor),
            },
        };
        let mut member = if p.epoch == 0 {
            self.join_member(&p, s)?
        } else {
            let m = self
                .members
                .get(&p.member_id)
                .filter(|m| !m.left)
                .ok_or(GroupError::UnknownMemberId)?;
            if m.instance_id.is_some() && m.instance_id != p.instance_id {
                return Err(GroupError::FencedInstanceId);
            }
            if p.epoch != m.epoch {
                let lost_response = p.epoch == m.previous_epoch
                    && p.owned.as_ref().is_some_and(|o| is_subset(o, &m.assigned));
                if !lost_response {
                    return Err(GroupError::FencedMemberEpoch);
                }
            }
            m.clone()
        };
        let is_new = !self.members.contains_key(&member.id);
        let before = member.assigned.clone();
        // Subscription and client details. A static member taking its instance's place (it
        // carries its predecessor's epoch) is no new member: no rebalance.
        let mut changed = is_new && member.epoch == 0;
        if let Some(names) = p.topic_names {
            if names != member.topic_names {
                member.topic_names = names;
                changed = true;
            }
        }
        if let Some(re) = p.topic_regex {
            let re = (!re.is_empty()).then_some(re);
            if re != member.topic_regex {
                member.topic_regex = re;
                changed = true;
            }
        }
        if let (Some(re), Some(compiled)) = (&member.topic_regex, regex) {
            self.regexes.insert(re.clone(), compiled);
        }
        if p.assignor.is_some() && assignor != member.assignor {
            member.assignor = assignor;
            changed = true;
        }
        if p.rebalance_timeout_ms >= 0 {
            member.rebalance_timeout_ms = p.rebalance_timeout_ms;
        }
        if p.rack_id.is_some() {
            member.rack_id = p.rack_id;
        }
        member.client_id = p.client_id;
        member.client_host = p.client_host;
        member.session_deadline_ms = now_ms.saturating_add(s.session_timeout_ms);
        let id = member.id.clone();
        self.members.insert(id.clone(), member);
        self.settle(&id, changed, view, s, p.owned.as_ref(), now_ms);
        let m = self
            .members
            .get(&id)
            .ok_or(GroupError::UnknownServerError)?;
        let full = p.owned.is_some() && p.rebalance_timeout_ms != -1;
        let send = p.epoch == 0 || full || m.assigned != before;
        Ok(HeartbeatReply {
            member_id: id,
            epoch: m.epoch,
            heartbeat_interval_ms: s.heartbeat_interval_ms,
            assignment: send.then(|| m.assigned.clone()),
        })
    }

    /// After member `id` was added or updated (`changed`: it joined, or its subscription
    /// changed): one group-epoch bump for that and what it does to the topics, a new target if
    /// the epoch moved, and the member's next reconciliation step (`owned`: what it says it
    /// holds, if it said).
    fn settle(
        &mut self,
        id: &str,
        changed: bool,
        view: &TopicsView<'_>,
        s: &Settings,
        owned: Option<&Assignment>,
        now_ms: u64,
    ) {
        if changed {
            self.view_version = None;
        }
        if self.refresh_subscriptions(view) || changed {
            self.group_epoch = crate::groups::next_epoch(self.group_epoch);
        }
        if self.group_epoch > self.target_epoch {
            self.compute_target(s);
        }
        self.reconcile(id, owned, now_ms);
    }

    /// A static member's instance back under a new member id: `fresh` takes the place of its
    /// predecessor `old`, which is removed — its epochs, reconciliation state, assigned and
    /// revoking partitions, subscribed topics as resolved, and its target assignment. Returns
    /// the rest of the predecessor (None: there is no member `old`). Shared by KIP-848 joins and
    /// classic-protocol joins (`classic`).
    fn take_place(&mut self, old: &str, fresh: &mut Member) -> Option<Member> {
        let mut prev = self.members.remove(old)?;
        if let Some(t) = self.target.remove(old) {
            self.target.insert(fresh.id.clone(), t);
        }
        fresh.epoch = prev.epoch;
        fresh.previous_epoch = prev.previous_epoch;
        fresh.state = prev.state;
        fresh.assigned = std::mem::take(&mut prev.assigned);
        fresh.revoking = std::mem::take(&mut prev.revoking);
        fresh.topic_names = std::mem::take(&mut prev.topic_names);
        fresh.resolved = std::mem::take(&mut prev.resolved);
        Some(prev)
    }

    /// A member joining (epoch 0): new, a static member taking its instance's place, or a
    /// member that lost its state starting over.
    fn join_member(&mut self, p: &HeartbeatParams, s: &Settings) -> Result<Member, GroupError> {
        if p.rebalance_timeout_ms == -1
            || (p.topic_names.is_none() && p.topic_regex.is_none())
            || p.owned.as_ref().is_some_and(|o| !o.is_empty())
        {
            return Err(GroupError::InvalidRequest);
        }
        let mut fresh = Member::fresh(&p.member_id, p.instance_id.clone(), p.rebalance_timeout_ms);
        if let Some(instance) = &p.instance_id {
            let holder = self
                .members
                .values()
                .find(|m| m.instance_id.as_deref() == Some(instance))
                .map(|m| (m.id.clone(), m.left));
            match holder {
                Some((old, true)) => {
                    // The instance comes back: it takes over its predecessor's place, with
                    // its regex and server assignor.
                    if let Some(prev) = self.take_place(&old, &mut fresh) {
                        fresh.topic_regex = prev.topic_regex;
                        fresh.assignor = prev.assignor;
                    }
                    return Ok(fresh);
                }
                Some((old, false)) if old != p.member_id => {
                    return Err(GroupError::UnreleasedInstanceId)
                }
                _ => {}
            }
        }
        if self.members.contains_key(&p.member_id) {
            // Rejoining from scratch: whatever it held is given up.
            self.remove_member(&p.member_id);
        }
        if self.members.len() >= s.members_max {
            return Err(GroupError::GroupMaxSizeReached);
        }
        Ok(fresh)
    }

    fn leave(&mut self, p: &HeartbeatParams, s: &Settings) -> Result<HeartbeatReply, GroupError> {
        let id = match (&p.instance_id, p.epoch) {
            (Some(instance), _) => {
                let m = self
                    .members
                    .values()
                    .find(|m| m.instance_id.as_deref() == Some(instance.as_str()))
                    .ok_or(GroupError::UnknownMemberId)?;
                if m.id != p.member_id {
                    return Err(GroupError::FencedInstanceId);
                }
                m.id.clone()
            }
            (None, LEAVE_STATIC_EPOCH) => return Err(GroupError::InvalidRequest),
            (None, _) => {
                if !self.members.contains_key(&p.member_id) {
                    return Err(GroupError::UnknownMemberId);
                }
                p.member_id.clone()
            }
        };
        if p.epoch == LEAVE_STATIC_EPOCH {
            if let Some(m) = self.members.get_mut(&id) {
                m.left = true;
            }
        } else {
            self.remove_member(&id);
            if self.group_epoch > self.target_epoch {
                self.compute_target(s);
            }
        }
        Ok(HeartbeatReply {
            member_id: id,
            epoch: p.epoch,
            heartbeat_interval_ms: 0,
            assignment: None,
        })
    }

    /// Resolve every member's subscription against the topics; true if what the group
    /// subscribes to changed (a topic created, deleted or grown): the group epoch must move.
    fn refresh_subscriptions(&mut self, view: &TopicsView<'_>) -> bool {
        if self.view_version == Some(view.version) {
            return false;
        }
        self.view_version = Some(view.version);
        let subscribed = self.resolve_members(view);
        if subscribed != self.subscribed {
            self.subscribed = subscribed;
            return true;
        }
        false
    }

    /// Resolve each member's subscription against `view` (`Member::resolved`); returns every
    /// topic the group subscribes to.
    fn resolve_members(&mut self, view: &TopicsView<'_>) -> BTreeMap<Uuid, (String, i32)> {
        let mut subscribed = BTreeMap::new();
        let regexes = &self.regexes;
        for m in self.members.values_mut() {
            let mut resolved = BTreeSet::new();
            for name in &m.topic_names {
                if let Some(t) = view.topics.get(name) {
                    resolved.insert(t.id);
                    subscribed.insert(t.id, (name.clone(), t.partitions));
                }
            }
            if let Some(re) = m.topic_regex.as_ref().and_then(|r| regexes.get(r)) {
                for (name, t) in view.topics {
                    if !t.internal && re.is_match(name) {
                        resolved.insert(t.id);
                        subscribed.insert(t.id, (name.clone(), t.partitions));
                    }
                }
            }
            m.resolved = resolved;
        }
        subscribed
    }

    /// The assignor most members ask for (Kafka's preferred server assignor), else the default.
    fn pick_assignor(&self, s: &Settings) -> Assignor {
        self.voted_assignor().unwrap_or(s.assignors.default)
    }

    /// The assignor most members ask for, if any asks for one.
    fn voted_assignor(&self) -> Option<Assignor> {
        let mut votes: BTreeMap<&'static str, (usize, Assignor)> = BTreeMap::new();
        for a in self.members.values().filter_map(|m| m.assignor) {
            votes.entry(a.name()).or_insert((0, a)).0 += 1;
        }
        votes.values().max_by_key(|(n, _)| *n).map(|(_, a)| *a)
    }

    fn compute_target(&mut self, s: &Settings) {
        let assignor = self.pick_assignor(s);
        let partitions: BTreeMap<Uuid, i32> = self
            .subscribed
            .iter()
            .map(|(id, (_, n))| (*id, *n))
            .collect();
        let members: Vec<AssignorMember<'_>> = self
            .members
            .values()
            .map(|m| AssignorMember {
                id: &m.id,
                topics: m.resolved.clone(),
                previous: self.target.get(&m.id),
            })
            .collect();
        let target = assignor::assign(assignor, &members, &partitions);
        self.target = target;
        self.target_epoch = self.group_epoch;
        self.assignor = Some(assignor);
    }

    /// Every partition some member other than `except` still holds (assigned or revoking).
    fn held_by_others(&self, except: &str) -> BTreeSet<(Uuid, i32)> {
        self.members
            .values()
            .filter(|m| m.id != except)
            .flat_map(|m| m.assigned.iter().chain(m.revoking.iter()))
            .flat_map(|(t, ps)| ps.iter().map(move |p| (*t, *p)))
            .collect()
    }

    /// Move member `id` towards the target (Kafka's `CurrentAssignmentBuilder`). `owned` is
    /// what its heartbeat says it holds (None: not said).
    fn reconcile(&mut self, id: &str, owned: Option<&Assignment>, now_ms: u64) {
        let held = self.held_by_others(id);
        let target = self.target.get(id).cloned().unwrap_or_default();
        let target_epoch = self.target_epoch;
        let Some(m) = self.members.get_mut(id) else {
            return;
        };
        if m.state == MemberState::UnrevokedPartitions {
            let released = owned.is_some_and(|o| intersect(o, &m.revoking).is_empty());
            if !released {
                return;
            }
            m.revoking.clear();
            m.revoke_deadline_ms = None;
        } else if m.state == MemberState::Stable && m.epoch == target_epoch {
            return;
        }
        let retained = intersect(&m.assigned, &target);
        let revoking = subtract(&m.assigned, &target);
        if !revoking.is_empty() {
            m.assigned = retained;
            m.revoking = revoking;
            m.state = MemberState::UnrevokedPartitions;
            let timeout = u64::try_from(m.rebalance_timeout_ms.max(0)).unwrap_or(0);
            m.revoke_deadline_ms = Some(now_ms.saturating_add(timeout));
            return;
        }
        let mut assigned = retained;
        let mut unreleased = false;
        for (t, ps) in subtract(&target, &m.assigned) {
            for p in ps {
                if held.contains(&(t, p)) {
                    unreleased = true;
                } else {
                    assigned.entry(t).or_default().insert(p);
                }
            }
        }
        m.assigned = assigned;
        if m.epoch != target_epoch {
            m.previous_epoch = m.epoch;
            m.epoch = target_epoch;
        }
        m.state = if unreleased {
            MemberState::UnreleasedPartitions
        } else {
            MemberState::Stable
        };
    }

    /// OffsetCommit at API `version` by a member of this group (`epoch` is its member epoch):
    /// Kafka's `ConsumerGroup.validateOffsetCommit`. A negative epoch (an admin, or a consumer
    /// that assigns itself) commits only while the group is empty; a member speaking the
    /// consumer protocol must use OffsetCommit v9+ (UNSUPPORTED_VERSION) at its current epoch
    /// (STALE_MEMBER_EPOCH).
    pub fn validate_commit(
        &self,
        member_id: &str,
        epoch: i32,
        version: i16,
    ) -> Result<(), GroupError> {
        if epoch < 0 && self.members.is_empty() {
            return Ok(());
        }
        let m = self
            .members
            .get(member_id)
            .ok_or(GroupError::UnknownMemberId)?;
        if m.classic.is_some() {
            // A classic-protocol member commits with its generation (its member epoch), at
            // any version; a wrong one is ILLEGAL_GENERATION, as in a classic group.
            return if epoch == m.epoch {
                Ok(())
            } else {
                Err(GroupError::IllegalGeneration)
            };
        }
        if version < OFFSET_COMMIT_MEMBER_EPOCH_VERSION {
            return Err(GroupError::UnsupportedVersion);
        }
        if epoch != m.epoch {
            return Err(GroupError::StaleMemberEpoch);
        }
        Ok(())
    }

    /// OffsetFetch v9+ naming a member: it must be one, at its current epoch.
    pub fn validate_fetch(&self, member_id: &str, epoch: i32) -> Result<(), GroupError> {
        let m = self
            .members
            .get(member_id)
            .ok_or(GroupError::UnknownMemberId)?;
        if epoch != m.epoch {
            return Err(GroupError::StaleMemberEpoch);
        }
        Ok(())
    }

    /// Partitions assigned across the group (for tests and describe).
    pub fn assigned_count(&self) -> usize {
        self.members.values().map(|m| count(&m.assigned)).sum()
    }
}

#[path = "persist.rs"]
mod persist;
pub use persist::Replayed;

#[path = "classic.rs"]
mod classic;
pub use classic::{encode_named, ClassicJoin, ClassicMember};

#[cfg(test)]
#[path = "group_tests.rs"]
mod tests;
