//! KIP-848 consumer groups: the broker-driven rebalance protocol (ConsumerGroupHeartbeat).
//!
//! - `group`: one consumer group's state machine — members and their epochs, the group epoch,
//!   the target assignment and its epoch, and each member's reconciliation towards it
//!   (a partition reaches a new owner only after its previous owner's heartbeat shows it
//!   released). Pure logic: no I/O, no clock, no async.
//! - `assignor`: the server-side assignors, `uniform` and `range`.
//! - `records`: the group's `__consumer_offsets` records (Kafka 4's types 3–8), byte layouts
//!   at the top of the file; `group`'s child `persist` turns a group into them and back.
//!
//! A consumer group lives in the same coordinator slot as a classic group of the same id
//! (`coordinator::Slot::consumer`), so committed offsets stay where they are when an empty
//! group changes type. Runs on the group's coordinator shard.

pub mod assignor;
pub mod group;
pub mod records;

pub use assignor::{Assignment, Assignor};
pub use group::{ConsumerGroup, HeartbeatParams, HeartbeatReply};

/// `group.consumer.assignors`: the assignors a member may name, the first being the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assignors {
    pub default: Assignor,
    pub uniform: bool,
    pub range: bool,
}

impl Default for Assignors {
    fn default() -> Self {
        Assignors {
            default: Assignor::Uniform,
            uniform: true,
            range: true,
        }
    }
}

impl Assignors {
    /// Parses Kafka's comma-separated list (`uniform,range`); unknown names are refused.
    pub fn parse(list: &str) -> Result<Assignors, String> {
        let mut out: Option<Assignors> = None;
        for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let a = Assignor::from_name(name).ok_or_else(|| {
                format!("unknown assignor {name:?} (Sluice implements uniform and range)")
            })?;
            let o = out.get_or_insert(Assignors {
                default: a,
                uniform: false,
                range: false,
            });
            match a {
                Assignor::Uniform => o.uniform = true,
                Assignor::Range => o.range = true,
            }
        }
        out.ok_or_else(|| "no assignor given".to_string())
    }

    pub fn allows(&self, a: Assignor) -> bool {
        match a {
            Assignor::Uniform => self.uniform,
            Assignor::Range => self.range,
        }
    }
}
