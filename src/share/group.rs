//! One share group's membership (KIP-932's share group coordinator): members join and leave by
//! ShareGroupHeartbeat, each heartbeat answers with the member's epoch and, when it changed, its
//! assignment. Pure logic: time comes in as `now_ms`. Lives on the group's coordinator shard
//! (the owner of its `__consumer_offsets` partition, as classic groups), inside
//! [`super::ShareState`].
//!
//! Assignment follows Kafka's `SimpleAssignor` in effect: every subscribed partition goes to at
//! least one member, and when members outnumber a topic's partitions every member still gets
//! one (partitions are shared; the share-partition hands each record to one member at a time).

use std::collections::BTreeMap;

/// Why a heartbeat was refused (mapped to Kafka codes in [`super::ShareError`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeartbeatError {
    UnknownMemberId,
    FencedMemberEpoch,
    GroupMaxSizeReached,
    InvalidRequest,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The epoch this member was last told.
    pub epoch: i32,
    /// The epoch it was told before that (persisted as Kafka does; 0 for a new member).
    pub previous_epoch: i32,
    pub topics: Vec<String>,
    pub rack: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub last_seen_ms: u64,
    /// What it was last told it has: topic → partitions.
    pub assignment: BTreeMap<String, Vec<i32>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareGroup {
    pub id: String,
    /// Bumped by every membership or subscription change.
    pub epoch: i32,
    /// The epoch the target assignment was computed at.
    pub assignment_epoch: i32,
    pub members: BTreeMap<String, Member>,
    /// Every member's target assignment (topic name → partitions), computed at
    /// `assignment_epoch`.
    pub(super) target: BTreeMap<String, BTreeMap<String, Vec<i32>>>,
}

/// What a heartbeat answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatAnswer {
    pub member_epoch: i32,
    /// Present when the member must adopt it (its epoch moved).
    pub assignment: Option<BTreeMap<String, Vec<i32>>>,
}

/// One heartbeat's fields.
#[derive(Debug, Clone)]
pub struct Heartbeat {
    pub member_id: String,
    pub member_epoch: i32,
    pub rack: Option<String>,
    pub topics: Option<Vec<String>>,
    pub client_id: String,
    pub client_host: String,
}

impl ShareGroup {
    pub fn new(id: String) -> ShareGroup {
        ShareGroup {
            id,
            epoch: 0,
            assignment_epoch: 0,
            members: BTreeMap::new(),
            target: BTreeMap::new(),
        }
    }

    /// "Empty" or "Stable", Kafka's share group states.
    pub fn state_name(&self) -> &'static str {
        if self.members.is_empty() {
            "Empty"
        } else {
            "Stable"
        }
    }

    /// Every topic some member subscribes to.
    pub fn subscribed_topics(&self) -> Vec<String> {
        let mut t: Vec<String> = self
            .members
            .values()
            .flat_map(|m| m.topics.iter().cloned())
            .collect();
        t.sort();
        t.dedup();
        t
    }

    /// Remove members silent for `session_timeout_ms`. Returns the ids removed.
    pub fn expire_members(&mut self, now_ms: u64, session_timeout_ms: u64) -> Vec<String> {
        let gone: Vec<String> = self
            .members
            .iter()
            .filter(|(_, m)| m.last_seen_ms + session_timeout_ms <= now_ms)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &gone {
            self.members.remove(id);
        }
        if !gone.is_empty() {
            self.epoch = crate::groups::next_epoch(self.epoch);
        }
        gone
    }

    /// Apply one heartbeat. `partitions(topic)` gives a topic's partition count (None when it
    /// does not exist). `members_max` is `group.share.max.size`.
    pub fn heartbeat(
        &mut self,
        hb: Heartbeat,
        now_ms: u64,
        members_max: usize,
        partitions: &dyn Fn(&str) -> Option<i32>,
    ) -> Result<HeartbeatAnswer, HeartbeatError> {
        if hb.member_id.is_empty() {
            return Err(HeartbeatError::InvalidRequest);
        }
        match hb.member_epoch {
            -1 => {
                if self.members.remove(&hb.member_id).is_some() {
                    self.epoch = crate::groups::next_epoch(self.epoch);
                }
                return Ok(HeartbeatAnswer {
                    member_epoch: -1,
                    assignment: None,
                });
            }
            0 => {
                let Some(topics) = hb.topics.clone() else {
                    return Err(HeartbeatError::InvalidRequest);
                };
                if !self.members.contains_key(&hb.member_id) {
                    if self.members.len() >= members_max {
                        return Err(HeartbeatError::GroupMaxSizeReached);
                    }
                    self.members.insert(
                        hb.member_id.clone(),
                        Member {
                            epoch: 0,
                            previous_epoch: 0,
                            topics,
                            rack: hb.rack.clone(),
                            client_id: hb.client_id.clone(),
                            client_host: hb.client_host.clone(),
                            last_seen_ms: now_ms,
                            assignment: BTreeMap::new(),
                        },
                    );
                    self.epoch = crate::groups::next_epoch(self.epoch);
                } else if let Some(m) = self.members.get_mut(&hb.member_id) {
                    // Rejoining with its own id: it lost its state; tell it everything again.
                    m.epoch = 0;
                    if m.topics != topics {
                        m.topics = topics;
                        self.epoch = crate::groups::next_epoch(self.epoch);
                    }
                }
            }
            e if e < -1 => return Err(HeartbeatError::InvalidRequest),
            e => {
                let group_epoch = self.epoch;
                let Some(m) = self.members.get_mut(&hb.member_id) else {
                    return Err(HeartbeatError::UnknownMemberId);
                };
                if e != m.epoch || e > group_epoch {
                    return Err(HeartbeatError::FencedMemberEpoch);
                }
                if let Some(topics) = &hb.topics {
                    if *topics != m.topics {
                        m.topics = topics.clone();
                        self.epoch = crate::groups::next_epoch(self.epoch);
                    }
                }
            }
        }
        if self.assignment_epoch != self.epoch {
            self.target = assign(&self.members, partitions);
            self.assignment_epoch = self.epoch;
        }
        let epoch = self.epoch;
        let target = self.target.get(&hb.member_id).cloned().unwrap_or_default();
        let Some(m) = self.members.get_mut(&hb.member_id) else {
            return Err(HeartbeatError::UnknownMemberId);
        };
        m.last_seen_ms = now_ms;
        if m.epoch == epoch && m.assignment == target {
            return Ok(HeartbeatAnswer {
                member_epoch: epoch,
                assignment: None,
            });
        }
        if m.epoch != epoch {
            m.previous_epoch = m.epoch;
        }
        m.epoch = epoch;
        m.assignment = target.clone();
        Ok(HeartbeatAnswer {
            member_epoch: epoch,
            assignment: Some(target),
        })
    }
}

/// Every member's partitions: per topic, its subscribers in id order share its partitions
/// round-robin; with more subscribers than partitions each subscriber gets one partition
/// (partition i mod P), so every member has work.
pub fn assign(
    members: &BTreeMap<String, Member>,
    partitions: &dyn Fn(&str) -> Option<i32>,
) -> BTreeMap<String, BTreeMap<String, Vec<i32>>> {
    let mut out: BTreeMap<String, BTreeMap<String, Vec<i32>>> = BTreeMap::new();
    for id in members.keys() {
        out.insert(id.clone(), BTreeMap::new());
    }
    let mut topics: Vec<&String> = members.values().flat_map(|m| m.topics.iter()).collect();
    topics.sort();
    topics.dedup();
    for topic in topics {
        let Some(count) = partitions(topic).filter(|c| *c > 0) else {
            continue;
        };
        let subscribers: Vec<&String> = members
            .iter()
            .filter(|(_, m)| m.topics.contains(topic))
            .map(|(id, _)| id)
            .collect();
        let n = subscribers.len() as i64;
        let p_count = i64::from(count);
        if n == 0 {
            continue;
        }
        if n <= p_count {
            for p in 0..count {
                let i = (i64::from(p) % n) as usize;
                if let Some(id) = subscribers.get(i) {
                    push(&mut out, id, topic, p);
                }
            }
        } else {
            for (i, id) in subscribers.iter().enumerate() {
                push(&mut out, id, topic, (i as i64 % p_count) as i32);
            }
        }
    }
    out
}

fn push(out: &mut BTreeMap<String, BTreeMap<String, Vec<i32>>>, id: &str, topic: &str, p: i32) {
    if let Some(m) = out.get_mut(id) {
        m.entry(topic.to_string()).or_default().push(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hb(id: &str, epoch: i32, topics: Option<&[&str]>) -> Heartbeat {
        Heartbeat {
            member_id: id.into(),
            member_epoch: epoch,
            rack: None,
            topics: topics.map(|t| t.iter().map(|s| s.to_string()).collect()),
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
        }
    }

    fn two(t: &str) -> Option<i32> {
        (t == "t").then_some(2)
    }

    #[test]
    fn more_members_than_partitions_all_get_one() {
        let mut g = ShareGroup::new("g".into());
        for id in ["a", "b", "c", "d"] {
            g.heartbeat(hb(id, 0, Some(&["t"])), 0, 200, &two).unwrap();
        }
        let mut seen = BTreeMap::new();
        for id in ["a", "b", "c", "d"] {
            let e = g.members[id].epoch;
            let got = g.heartbeat(hb(id, e, None), 1, 200, &two).unwrap();
            let assignment = got
                .assignment
                .unwrap_or_else(|| g.members[id].assignment.clone());
            assert_eq!(assignment["t"].len(), 1, "{id}");
            *seen.entry(assignment["t"][0]).or_insert(0) += 1;
        }
        assert_eq!(seen.len(), 2);
        assert!(seen.values().all(|c| *c == 2));
    }

    #[test]
    fn fewer_members_split_partitions() {
        let mut g = ShareGroup::new("g".into());
        let a = g.heartbeat(hb("a", 0, Some(&["t"])), 0, 200, &two).unwrap();
        assert_eq!(a.assignment.unwrap()["t"], vec![0, 1]);
        let b = g.heartbeat(hb("b", 0, Some(&["t"])), 0, 200, &two).unwrap();
        assert_eq!(b.assignment.unwrap()["t"], vec![1]);
        // a's epoch is behind: its next heartbeat brings the new assignment.
        let a2 = g
            .heartbeat(hb("a", a.member_epoch, None), 1, 200, &two)
            .unwrap();
        assert_eq!(a2.assignment.unwrap()["t"], vec![0]);
        // Unchanged: no assignment sent.
        let a3 = g
            .heartbeat(hb("a", a2.member_epoch, None), 2, 200, &two)
            .unwrap();
        assert_eq!(a3.assignment, None);
    }

    #[test]
    fn errors_follow_kafka() {
        let mut g = ShareGroup::new("g".into());
        assert_eq!(
            g.heartbeat(hb("x", 3, None), 0, 200, &two),
            Err(HeartbeatError::UnknownMemberId)
        );
        let a = g.heartbeat(hb("a", 0, Some(&["t"])), 0, 200, &two).unwrap();
        assert_eq!(
            g.heartbeat(hb("a", a.member_epoch + 5, None), 0, 200, &two),
            Err(HeartbeatError::FencedMemberEpoch)
        );
        assert_eq!(
            g.heartbeat(hb("b", 0, Some(&["t"])), 0, 1, &two),
            Err(HeartbeatError::GroupMaxSizeReached)
        );
        assert_eq!(
            g.heartbeat(hb("", 0, Some(&["t"])), 0, 200, &two),
            Err(HeartbeatError::InvalidRequest)
        );
        let left = g.heartbeat(hb("a", -1, None), 0, 200, &two).unwrap();
        assert_eq!(left.member_epoch, -1);
        assert!(g.members.is_empty());
    }

    #[test]
    fn silent_members_expire() {
        let mut g = ShareGroup::new("g".into());
        g.heartbeat(hb("a", 0, Some(&["t"])), 0, 200, &two).unwrap();
        assert!(g.expire_members(44_999, 45_000).is_empty());
        assert_eq!(g.expire_members(45_000, 45_000), vec!["a".to_string()]);
    }
}
