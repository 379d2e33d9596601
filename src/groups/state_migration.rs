//! Online migration between the protocols, the classic group's side (Kafka 4's
//! `convertToConsumerGroup` / `convertToClassicGroup`): handing a classic group's members to a
//! consumer group (upgrade), and rebuilding a classic group from a consumer group whose
//! members all speak the classic protocol (downgrade). Part of `state` (a child module, so it
//! shares `Group`'s private fields); pure logic. Lives on the group's coordinator shard.

use super::*;

/// One classic member as an upgrade takes it into a consumer group.
#[derive(Debug, Clone)]
pub struct ClassicSeed {
    pub id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: u64,
    pub rebalance_timeout_ms: u64,
    /// In the member's order of preference.
    pub protocols: Vec<Protocol>,
    /// Its subscription: the metadata of the group's protocol (else its first).
    pub subscription: Bytes,
    /// Its assignment of the last completed generation (empty if it had none).
    pub assignment: Bytes,
}

impl Group {
    /// The members an upgrade takes over, with the group's generation; None if the group does
    /// not use the consumer protocol (Kafka's `usesConsumerGroupProtocol`).
    pub fn upgrade_seeds(&self) -> Option<(i32, Vec<ClassicSeed>)> {
        if self.protocol_type.as_deref() != Some(CONSUMER_PROTOCOL_TYPE)
            || self
                .members
                .values()
                .any(|m| m.protocol_type != CONSUMER_PROTOCOL_TYPE)
        {
            return None;
        }
        let seeds = self
            .members
            .values()
            .map(|m| ClassicSeed {
                id: m.id.clone(),
                instance_id: m.instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                session_timeout_ms: m.session_timeout_ms,
                rebalance_timeout_ms: m.rebalance_timeout_ms,
                protocols: m.protocols.clone(),
                subscription: match self.protocol.as_deref() {
                    Some(p) => m.metadata_for(p),
                    None => m
                        .protocols
                        .first()
                        .map(|p| p.metadata.clone())
                        .unwrap_or_default(),
                },
                assignment: m.assignment.clone(),
            })
            .collect();
        Some((self.generation, seeds))
    }

    /// The members went to a consumer group: empty the classic side (offsets stay), answering
    /// every parked JoinGroup / SyncGroup with REBALANCE_IN_PROGRESS so those members rejoin
    /// the consumer group.
    pub fn hand_over(&mut self, now: Now) {
        for id in self.member_ids() {
            self.remove_member(&id, GroupError::RebalanceInProgress);
        }
        self.pending.clear();
        self.join_deadline = None;
        self.initial_delay = None;
        self.protocol = None;
        self.leader = None;
        self.transition(GroupState::Empty, now);
        self.events.push(Event::PersistGroup);
    }

    /// A classic group rebuilt from a consumer group's classic-protocol members (`snapshot`:
    /// generation = the group epoch, each member's target assignment), keeping the committed
    /// offsets, and rebalancing at once: its members learn it from their next heartbeat
    /// (REBALANCE_IN_PROGRESS) and rejoin, as after Kafka's downgrade.
    pub fn downgraded(
        id: &str,
        config: GroupConfig,
        snapshot: GroupSnapshot,
        offsets: BTreeMap<(String, i32), CommittedOffset>,
        now: Now,
    ) -> Group {
        let mut g = Group::from_snapshot(id, config, snapshot, now);
        g.offsets = offsets;
        if !g.members.is_empty() {
            g.prepare_rebalance(now);
        }
        g.events.push(Event::PersistGroup);
        g
    }
}
