//! JoinGroup and the rebalance it drives: admitting members (new, known, static
//! replacements), choosing the protocol, PreparingRebalance → CompletingRebalance, and
//! removing members. Part of `state` (a child module, so it shares `Group`'s private fields);
//! pure logic like the rest of it. Lives on the group's coordinator shard.

use super::*;

impl Group {
    // --- JoinGroup ---------------------------------------------------------------------------

    pub fn join(&mut self, p: JoinParams, now: Now) -> JoinOutcome {
        let session = i64::from(p.session_timeout_ms);
        if session < self.config.session_timeout_ms_min as i64
            || session > self.config.session_timeout_ms_max as i64
        {
            return JoinOutcome::Done(JoinResult::error(
                GroupError::InvalidSessionTimeout,
                &p.member_id,
            ));
        }
        if self.state == GroupState::Dead {
            return JoinOutcome::Done(JoinResult::error(
                GroupError::CoordinatorNotAvailable,
                &p.member_id,
            ));
        }
        if !self.accepts_joining_member(&p.member_id) {
            // A member past the limit (the limit may have been lowered) leaves the group.
            if self.members.contains_key(&p.member_id) {
                self.remove_member_and_update(&p.member_id, GroupError::GroupMaxSizeReached, now);
            }
            return JoinOutcome::Done(JoinResult::error(GroupError::GroupMaxSizeReached, ""));
        }
        let outcome = if p.member_id.is_empty() {
            self.join_new_member(p, now)
        } else {
            self.join_known_member(p, now)
        };
        self.try_complete_join(now);
        outcome
    }

    /// Kafka's `acceptJoiningMember`: existing members always; new ones up to `group.max.size`
    /// (counting, while preparing a rebalance, only members that have rejoined).
    pub(super) fn accepts_joining_member(&self, member_id: &str) -> bool {
        let max = self.config.members_max;
        match self.state {
            GroupState::Empty | GroupState::Dead => true,
            GroupState::PreparingRebalance => {
                self.members.get(member_id).is_some_and(|m| m.awaiting_join)
                    || self.members.values().filter(|m| m.awaiting_join).count() < max
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.members.contains_key(member_id) || self.members.len() < max
            }
        }
    }

    /// Kafka's `supportsProtocols`: the first member sets the type; later ones must share it and
    /// at least one protocol every member supports.
    pub(super) fn supports_protocols(&self, protocol_type: &str, protocols: &[Protocol]) -> bool {
        if self.members.is_empty() {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols.iter().any(|p| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|q| q.name == p.name))
            })
    }

    pub(super) fn join_new_member(&mut self, p: JoinParams, now: Now) -> JoinOutcome {
        if !self.supports_protocols(&p.protocol_type, &p.protocols) {
            return JoinOutcome::Done(JoinResult::error(GroupError::InconsistentGroupProtocol, ""));
        }
        let new_id = p.fresh_member_id.clone();
        match p.instance_id.clone() {
            Some(iid) => match self.static_members.get(&iid).cloned() {
                Some(old_id) => self.replace_static_member(&old_id, new_id, p, now),
                None => self.add_member_and_rebalance(new_id, p, now),
            },
            None if p.require_known_member_id => {
                let deadline = now
                    .mono_ms
                    .saturating_add(p.session_timeout_ms.max(0) as u64);
                self.pending.insert(new_id.clone(), deadline);
                JoinOutcome::Done(JoinResult::error(GroupError::MemberIdRequired, &new_id))
            }
            None => self.add_member_and_rebalance(new_id, p, now),
        }
    }

    pub(super) fn join_known_member(&mut self, p: JoinParams, now: Now) -> JoinOutcome {
        if self.pending.remove(&p.member_id).is_some() {
            let id = p.member_id.clone();
            return self.add_member_and_rebalance(id, p, now);
        }
        if !self.supports_protocols(&p.protocol_type, &p.protocols) {
            return JoinOutcome::Done(JoinResult::error(
                GroupError::InconsistentGroupProtocol,
                &p.member_id,
            ));
        }
        if let Err(e) = self.validate_member(&p.member_id, p.instance_id.as_deref()) {
            return JoinOutcome::Done(JoinResult::error(e, &p.member_id));
        }
        let id = p.member_id.clone();
        let unchanged = self
            .members
            .get(&id)
            .is_some_and(|m| m.matches(&p.protocols));
        let is_leader = self.leader.as_deref() == Some(id.as_str());
        match self.state {
            GroupState::PreparingRebalance => self.update_member_and_rebalance(p, now),
            GroupState::CompletingRebalance if unchanged => {
                // A retry of a join that already completed: answer with the generation again.
                if let Some(m) = self.members.get_mut(&id) {
                    m.touch(now);
                }
                JoinOutcome::Done(self.current_join_result(&id, is_leader, false))
            }
            GroupState::Stable if unchanged && !is_leader => {
                if let Some(m) = self.members.get_mut(&id) {
                    m.touch(now);
                }
                JoinOutcome::Done(self.current_join_result(&id, false, false))
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.update_member_and_rebalance(p, now)
            }
            GroupState::Empty | GroupState::Dead => {
                JoinOutcome::Done(JoinResult::error(GroupError::UnknownMemberId, &id))
            }
        }
    }

    pub(super) fn current_join_result(
        &self,
        member_id: &str,
        with_members: bool,
        skip: bool,
    ) -> JoinResult {
        JoinResult {
            error: None,
            member_id: member_id.to_string(),
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            skip_assignment: skip,
            members: if with_members {
                self.member_metadata()
            } else {
                Vec::new()
            },
        }
    }

    pub(super) fn member_metadata(&self) -> Vec<(String, Option<String>, Bytes)> {
        let protocol = self.protocol.clone().unwrap_or_default();
        self.members
            .values()
            .map(|m| {
                (
                    m.id.clone(),
                    m.instance_id.clone(),
                    m.metadata_for(&protocol),
                )
            })
            .collect()
    }

    pub(super) fn add_member_and_rebalance(
        &mut self,
        id: String,
        p: JoinParams,
        now: Now,
    ) -> JoinOutcome {
        let mut member = Member {
            id: id.clone(),
            instance_id: p.instance_id.clone(),
            client_id: p.client_id,
            client_host: p.client_host,
            session_timeout_ms: p.session_timeout_ms.max(0) as u64,
            rebalance_timeout_ms: p.rebalance_timeout_ms.max(0) as u64,
            protocol_type: p.protocol_type.clone(),
            protocols: p.protocols,
            assignment: Bytes::new(),
            awaiting_join: true,
            awaiting_sync: false,
            is_new: true,
            heartbeat_deadline: None,
        };
        member.touch(now);
        if let Some(iid) = p.instance_id {
            self.static_members.insert(iid, id.clone());
        }
        if self.members.is_empty() {
            self.protocol_type = Some(p.protocol_type);
        }
        if self.leader.is_none() {
            self.leader = Some(id.clone());
        }
        if self.state == GroupState::PreparingRebalance && self.generation == 0 {
            if let Some(d) = &mut self.initial_delay {
                d.new_member_added = true;
            }
        }
        self.members.insert(id.clone(), member);
        self.maybe_prepare_rebalance(now);
        JoinOutcome::Waiting { member_id: id }
    }

    pub(super) fn update_member_and_rebalance(&mut self, p: JoinParams, now: Now) -> JoinOutcome {
        let id = p.member_id.clone();
        // A member already parked (its client gave up and sent another join) is answered once,
        // on the newest request: the coordinator answers the displaced one.
        if let Some(m) = self.members.get_mut(&id) {
            m.protocols = p.protocols;
            m.session_timeout_ms = p.session_timeout_ms.max(0) as u64;
            m.rebalance_timeout_ms = p.rebalance_timeout_ms.max(0) as u64;
            m.client_id = p.client_id;
            m.client_host = p.client_host;
            m.awaiting_join = true;
            m.touch(now);
        }
        self.maybe_prepare_rebalance(now);
        JoinOutcome::Waiting { member_id: id }
    }

    /// A static member (known instance id) joined without its member id: it restarted. Its old
    /// id is fenced; if the group is stable and the protocol would not change, it gets its old
    /// assignment back without a rebalance.
    pub(super) fn replace_static_member(
        &mut self,
        old_id: &str,
        new_id: String,
        p: JoinParams,
        now: Now,
    ) -> JoinOutcome {
        let current_leader = self.leader.clone().unwrap_or_default();
        let Some(mut member) = self.members.remove(old_id) else {
            // static_members pointed at a member that is gone: repair and join as new.
            if let Some(iid) = &p.instance_id {
                self.static_members.remove(iid);
            }
            return self.add_member_and_rebalance(new_id, p, now);
        };
        if member.awaiting_join {
            self.events.push(Event::Join(
                old_id.to_string(),
                JoinResult::error(GroupError::FencedInstanceId, old_id),
            ));
        }
        if member.awaiting_sync {
            self.events.push(Event::Sync(
                old_id.to_string(),
                SyncResult::error(GroupError::FencedInstanceId),
            ));
        }
        member.awaiting_sync = false;
        member.id = new_id.clone();
        member.protocols = p.protocols;
        member.session_timeout_ms = p.session_timeout_ms.max(0) as u64;
        member.rebalance_timeout_ms = p.rebalance_timeout_ms.max(0) as u64;
        member.client_id = p.client_id;
        member.client_host = p.client_host;
        member.awaiting_join = true;
        member.touch(now);
        if let Some(iid) = &p.instance_id {
            self.static_members.insert(iid.clone(), new_id.clone());
        }
        if self.leader.as_deref() == Some(old_id) {
            self.leader = Some(new_id.clone());
        }
        self.members.insert(new_id.clone(), member);
        match self.state {
            GroupState::Stable if self.select_protocol() == self.protocol => {
                let is_leader = self.leader.as_deref() == Some(new_id.as_str());
                let skip = is_leader && p.supports_skip_assignment;
                if let Some(m) = self.members.get_mut(&new_id) {
                    m.awaiting_join = false;
                }
                self.events.push(Event::PersistGroup);
                let mut r = self.current_join_result(&new_id, skip, skip);
                r.leader = current_leader;
                JoinOutcome::Done(r)
            }
            GroupState::Stable => {
                self.maybe_prepare_rebalance(now);
                JoinOutcome::Waiting { member_id: new_id }
            }
            GroupState::CompletingRebalance => {
                // The leader may already have assigned to the old id: start over.
                self.prepare_rebalance(now);
                JoinOutcome::Waiting { member_id: new_id }
            }
            GroupState::PreparingRebalance | GroupState::Empty | GroupState::Dead => {
                JoinOutcome::Waiting { member_id: new_id }
            }
        }
    }

    /// Kafka's `validateCurrentMember`.
    pub(super) fn validate_member(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Result<(), GroupError> {
        if let Some(iid) = instance_id {
            return match self.static_members.get(iid) {
                Some(current) if current != member_id => Err(GroupError::FencedInstanceId),
                Some(_) => Ok(()),
                None => Err(GroupError::UnknownMemberId),
            };
        }
        if self.members.contains_key(member_id) {
            Ok(())
        } else {
            Err(GroupError::UnknownMemberId)
        }
    }

    /// Kafka's `selectProtocol`: among the protocols every member supports, each member votes
    /// for its most preferred; most votes wins (ties: the earliest in the leader's order).
    pub(super) fn select_protocol(&self) -> Option<String> {
        let first = self.members.values().next()?;
        let candidates: Vec<&str> = first
            .protocols
            .iter()
            .map(|p| p.name.as_str())
            .filter(|name| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|q| q.name == *name))
            })
            .collect();
        let mut votes: HashMap<&str, usize> = HashMap::new();
        for m in self.members.values() {
            if let Some(p) = m
                .protocols
                .iter()
                .find(|p| candidates.contains(&p.name.as_str()))
            {
                *votes.entry(p.name.as_str()).or_default() += 1;
            }
        }
        let order: Vec<&str> = match self.leader.as_deref().and_then(|l| self.members.get(l)) {
            Some(leader) => leader.protocols.iter().map(|p| p.name.as_str()).collect(),
            None => candidates.clone(),
        };
        let best = votes.values().copied().max()?;
        order
            .into_iter()
            .chain(candidates.iter().copied())
            .find(|name| votes.get(name) == Some(&best))
            .map(str::to_string)
    }

    pub(super) fn transition(&mut self, to: GroupState, now: Now) {
        self.state = to;
        self.state_timestamp_ms = now.wall_ms;
    }

    pub(super) fn maybe_prepare_rebalance(&mut self, now: Now) {
        if matches!(
            self.state,
            GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty
        ) {
            self.prepare_rebalance(now);
        }
    }

    pub(super) fn rebalance_timeout_ms(&self) -> u64 {
        self.members
            .values()
            .map(|m| m.rebalance_timeout_ms)
            .max()
            .unwrap_or(0)
    }

    pub(super) fn prepare_rebalance(&mut self, now: Now) {
        if self.state == GroupState::CompletingRebalance {
            self.reset_and_propagate_assignment_error(GroupError::RebalanceInProgress, now);
        }
        let rebalance_timeout = self.rebalance_timeout_ms();
        if self.state == GroupState::Empty {
            let delay = self.config.initial_rebalance_delay_ms;
            self.initial_delay = Some(InitialDelay {
                remaining_ms: rebalance_timeout.saturating_sub(delay),
                current_ms: delay,
                new_member_added: false,
            });
            self.join_deadline = Some(now.mono_ms.saturating_add(delay));
        } else {
            self.initial_delay = None;
            self.join_deadline = Some(now.mono_ms.saturating_add(rebalance_timeout));
        }
        self.transition(GroupState::PreparingRebalance, now);
        // Kafka's tryCompleteElseWatch: a rebalance nobody needs to wait for completes now.
        self.try_complete_join(now);
    }

    pub(super) fn reset_and_propagate_assignment_error(&mut self, e: GroupError, now: Now) {
        for m in self.members.values_mut() {
            m.assignment = Bytes::new();
            if m.awaiting_sync {
                m.awaiting_sync = false;
                self.events
                    .push(Event::Sync(m.id.clone(), SyncResult::error(e)));
                m.touch(now);
            }
        }
    }

    pub(super) fn all_members_joined(&self) -> bool {
        self.pending.is_empty() && self.members.values().all(|m| m.awaiting_join)
    }

    /// Complete the join phase early if every member has rejoined (never during the initial
    /// delay, which only its timer ends).
    pub(super) fn try_complete_join(&mut self, now: Now) {
        if self.state == GroupState::PreparingRebalance
            && self.initial_delay.is_none()
            && self.all_members_joined()
        {
            self.complete_join(now);
        }
    }

    /// Kafka's `onCompleteJoin`: drop dynamic members that did not rejoin, start the next
    /// generation, answer every parked join (the leader gets the members' metadata).
    pub(super) fn complete_join(&mut self, now: Now) {
        let gone: Vec<String> = self
            .members
            .values()
            .filter(|m| !m.awaiting_join && m.instance_id.is_none())
            .map(|m| m.id.clone())
            .collect();
        for id in gone {
            self.remove_member(&id, GroupError::UnknownMemberId);
        }
        self.join_deadline = None;
        self.initial_delay = None;
        if self.state == GroupState::Dead {
            return;
        }
        if !self.members.is_empty() && !self.elect_joined_leader() {
            // Nobody rejoined (only static members who did not come back): wait one more
            // rebalance timeout for their sessions to expire.
            self.join_deadline = Some(now.mono_ms.saturating_add(self.rebalance_timeout_ms()));
            return;
        }
        self.generation = crate::groups::next_epoch(self.generation);
        if self.members.is_empty() {
            self.protocol = None;
            self.transition(GroupState::Empty, now);
            self.events.push(Event::PersistGroup);
            return;
        }
        self.protocol = self.select_protocol();
        self.transition(GroupState::CompletingRebalance, now);
        let leader = self.leader.clone().unwrap_or_default();
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            let result = self.current_join_result(&id, id == leader, false);
            if let Some(m) = self.members.get_mut(&id) {
                if m.awaiting_join {
                    m.awaiting_join = false;
                    self.events.push(Event::Join(id.clone(), result));
                }
                m.is_new = false;
                m.touch(now);
            }
        }
    }

    /// Keep the leader if it rejoined, else pick a member that did. False if none did.
    pub(super) fn elect_joined_leader(&mut self) -> bool {
        if let Some(l) = self.leader.as_deref().and_then(|l| self.members.get(l)) {
            if l.awaiting_join {
                return true;
            }
        }
        match self.members.values().find(|m| m.awaiting_join) {
            Some(m) => {
                self.leader = Some(m.id.clone());
                true
            }
            None => false,
        }
    }

    /// Remove a member, answering whatever it has parked with `e`.
    pub(super) fn remove_member(&mut self, id: &str, e: GroupError) {
        let Some(m) = self.members.remove(id) else {
            return;
        };
        if m.awaiting_join {
            self.events
                .push(Event::Join(id.to_string(), JoinResult::error(e, "")));
        }
        if m.awaiting_sync {
            self.events
                .push(Event::Sync(id.to_string(), SyncResult::error(e)));
        }
        if let Some(iid) = &m.instance_id {
            if self.static_members.get(iid).map(String::as_str) == Some(id) {
                self.static_members.remove(iid);
            }
        }
        if self.leader.as_deref() == Some(id) {
            self.leader = self.members.keys().next().cloned();
        }
    }

    /// Kafka's `removeMemberAndUpdateGroup`: the member leaves, the group rebalances.
    pub(super) fn remove_member_and_update(&mut self, id: &str, e: GroupError, now: Now) {
        self.remove_member(id, e);
        match self.state {
            GroupState::Dead | GroupState::Empty => {}
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.maybe_prepare_rebalance(now)
            }
            GroupState::PreparingRebalance => self.try_complete_join(now),
        }
    }
}
