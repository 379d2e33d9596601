//! Committed offsets of a group: who may commit (Kafka's `validateOffsetCommit`) and offset
//! retention (Kafka's `removeExpiredOffsets`). Part of `state` (a child module, so it shares
//! `Group`'s private fields); pure logic like the rest of it.

use std::collections::HashSet;

use super::{CommittedOffset, Group, GroupState, Now};
use crate::groups::consumer_protocol::CONSUMER_PROTOCOL_TYPE;
use crate::protocol::errors::GroupError;

impl Group {
    // --- offsets -------------------------------------------------------------------------------

    /// May this commit be stored? Kafka's `validateOffsetCommit`: a group member with the current
    /// generation, or (generation < 0, no member id) a standalone consumer of an empty group.
    pub fn validate_commit(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        now: Now,
    ) -> Result<(), GroupError> {
        if self.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        if generation >= 0 || !member_id.is_empty() || instance_id.is_some() {
            self.validate_member(member_id, instance_id)?;
            if generation != self.generation {
                return Err(GroupError::IllegalGeneration);
            }
        } else if self.state != GroupState::Empty {
            return Err(GroupError::UnknownMemberId);
        }
        if self.state == GroupState::CompletingRebalance {
            return Err(GroupError::RebalanceInProgress);
        }
        if let Some(m) = self.members.get_mut(member_id) {
            m.touch(now);
        }
        Ok(())
    }

    /// May a transactional commit (TxnOffsetCommit) be staged? Kafka 4's
    /// `ClassicGroup.validateOffsetCommit` with `isTransactional`: the member fields are
    /// checked only when one is given (FENCED_INSTANCE_ID, UNKNOWN_MEMBER_ID, then
    /// ILLEGAL_GENERATION); a generation below 0 on an empty group passes; a rebalance in
    /// progress does not refuse it.
    pub fn validate_txn_commit(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        now: Now,
    ) -> Result<(), GroupError> {
        if self.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        if generation < 0 && self.state == GroupState::Empty {
            return Ok(());
        }
        if generation >= 0 || !member_id.is_empty() || instance_id.is_some() {
            self.validate_member(member_id, instance_id)?;
            if generation != self.generation {
                return Err(GroupError::IllegalGeneration);
            }
        }
        if let Some(m) = self.members.get_mut(member_id) {
            m.touch(now);
        }
        Ok(())
    }

    pub fn commit(&mut self, topic: String, partition: i32, offset: CommittedOffset) {
        self.offsets.insert((topic, partition), offset);
    }

    /// Remove offsets past retention (Kafka's `removeExpiredOffsets`), returning their keys.
    /// Empty groups: every offset once the group has been empty for the retention period.
    /// Stable consumer groups: offsets of topics no member subscribes to. Standalone consumers:
    /// each offset by its commit time. An explicit expire timestamp (v2–4 commits) wins.
    pub fn expire_offsets(&mut self, now: Now, retention_ms: u64) -> Vec<(String, i32)> {
        let retention = i64::try_from(retention_ms).unwrap_or(i64::MAX);
        let subscribed = self.subscribed_topics();
        let base: Option<(bool, Option<HashSet<String>>)> = match &self.protocol_type {
            Some(_) if self.state == GroupState::Empty => Some((true, None)),
            Some(t) if t == CONSUMER_PROTOCOL_TYPE && self.state == GroupState::Stable => {
                subscribed.map(|s| (false, Some(s)))
            }
            None => Some((false, None)),
            Some(_) => None,
        };
        let Some((since_empty, keep_topics)) = base else {
            return Vec::new();
        };
        let state_ts = self.state_timestamp_ms;
        let expired: Vec<(String, i32)> = self
            .offsets
            .iter()
            .filter(|((topic, _), o)| {
                if keep_topics.as_ref().is_some_and(|k| k.contains(topic)) {
                    return false;
                }
                match o.expire_timestamp_ms {
                    Some(expire) => now.wall_ms >= expire,
                    None => {
                        let from = if since_empty {
                            state_ts
                        } else {
                            o.commit_timestamp_ms
                        };
                        now.wall_ms.saturating_sub(from) >= retention
                    }
                }
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in &expired {
            self.offsets.remove(k);
        }
        expired
    }
}
