//! Consumer groups: Kafka's classic group coordinator, and KIP-848 consumer groups (`consumer`).
//!
//! - `state`: one group's state machine (membership, generations, rebalances, committed
//!   offsets), pure logic: no I/O, no clock, no async. Unit-tested on its own.
//! - `records`: the key/value records of `__consumer_offsets` (Kafka's byte layouts), with the
//!   layouts drawn at the top of the file; `record_codec` the encodings they (and the consumer
//!   and share groups' records) are written and read in.
//! - `view`: a copy of a group for the admin thread (status page, lag metrics).
//! - `coordinator`: per-shard wiring: the groups whose `__consumer_offsets` partition this shard
//!   owns, parked JoinGroup/SyncGroup requests, timers, persistence and replay.
//!
//! Placement: group `g` lives on the owner shard of `__consumer_offsets` partition
//! [`offsets_partition_for`]`(g)`, the shard FindCoordinator names.

pub use sluice_client::consumer_protocol;
pub mod consumer;
pub mod coordinator;
pub mod record_codec;
pub mod records;
pub mod state;
pub mod txn_offsets;
pub mod types;
pub mod view;

use crate::limits;
use crate::protocol::errors::GroupError;
use crate::shard::offsets_topic::OFFSETS_TOPIC_PARTITIONS;

/// Broker-wide group settings (Kafka's broker configs of the same names). Immutable after
/// start-up; every shard holds a copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupConfig {
    /// `group.min.session.timeout.ms`
    pub session_timeout_ms_min: u64,
    /// `group.max.session.timeout.ms`
    pub session_timeout_ms_max: u64,
    /// `group.initial.rebalance.delay.ms`
    pub initial_rebalance_delay_ms: u64,
    /// `group.max.size`
    pub members_max: usize,
    /// `offset.metadata.max.bytes`
    pub offset_metadata_bytes_max: usize,
    /// `offsets.retention.minutes`, in ms
    pub offsets_retention_ms: u64,
    /// `offsets.retention.check.interval.ms`
    pub offsets_retention_check_interval_ms: u64,
    /// `group.consumer.heartbeat.interval.ms` (KIP-848 groups)
    pub consumer_heartbeat_interval_ms: u64,
    /// `group.consumer.session.timeout.ms` (KIP-848 groups)
    pub consumer_session_timeout_ms: u64,
    /// `group.consumer.min.session.timeout.ms` / `max`: bounds of the per-group override.
    pub consumer_session_timeout_ms_min: u64,
    pub consumer_session_timeout_ms_max: u64,
    /// `group.consumer.min.heartbeat.interval.ms` / `max`: bounds of the per-group override.
    pub consumer_heartbeat_interval_ms_min: u64,
    pub consumer_heartbeat_interval_ms_max: u64,
    /// `group.consumer.assignors`
    pub consumer_assignors: consumer::Assignors,
    /// `group.consumer.migration.policy`
    pub consumer_migration_policy: MigrationPolicy,
}

/// Kafka's `group.consumer.migration.policy`: which online conversions of a non-empty group
/// between the classic and the consumer protocol are allowed. An empty group changes type
/// under every policy, and a consumer group takes classic-protocol members under every one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MigrationPolicy {
    /// Both ways (Kafka's default).
    #[default]
    Bidirectional,
    /// A classic group becomes a consumer group when a consumer-protocol member joins.
    Upgrade,
    /// A consumer group becomes classic when its last consumer-protocol member leaves.
    Downgrade,
    Disabled,
}

impl MigrationPolicy {
    /// Kafka's values, case-insensitive.
    pub fn parse(s: &str) -> Result<MigrationPolicy, String> {
        match s.to_ascii_lowercase().as_str() {
            "bidirectional" => Ok(MigrationPolicy::Bidirectional),
            "upgrade" => Ok(MigrationPolicy::Upgrade),
            "downgrade" => Ok(MigrationPolicy::Downgrade),
            "disabled" => Ok(MigrationPolicy::Disabled),
            _ => Err(format!(
                "{s:?} is not one of bidirectional, upgrade, downgrade, disabled"
            )),
        }
    }

    pub fn upgrade_enabled(self) -> bool {
        matches!(
            self,
            MigrationPolicy::Bidirectional | MigrationPolicy::Upgrade
        )
    }

    pub fn downgrade_enabled(self) -> bool {
        matches!(
            self,
            MigrationPolicy::Bidirectional | MigrationPolicy::Downgrade
        )
    }
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            session_timeout_ms_min: limits::GROUP_SESSION_TIMEOUT_MS_MIN_DEFAULT,
            session_timeout_ms_max: limits::GROUP_SESSION_TIMEOUT_MS_MAX_DEFAULT,
            initial_rebalance_delay_ms: limits::GROUP_INITIAL_REBALANCE_DELAY_MS_DEFAULT,
            members_max: limits::GROUP_MEMBERS_MAX_DEFAULT,
            offset_metadata_bytes_max: limits::OFFSET_METADATA_BYTES_MAX_DEFAULT,
            offsets_retention_ms: limits::OFFSETS_RETENTION_MS_DEFAULT,
            offsets_retention_check_interval_ms:
                limits::OFFSETS_RETENTION_CHECK_INTERVAL_MS_DEFAULT,
            consumer_heartbeat_interval_ms: limits::GROUP_CONSUMER_HEARTBEAT_INTERVAL_MS_DEFAULT,
            consumer_session_timeout_ms: limits::GROUP_CONSUMER_SESSION_TIMEOUT_MS_DEFAULT,
            consumer_session_timeout_ms_min: limits::GROUP_CONSUMER_SESSION_TIMEOUT_MS_MIN_DEFAULT,
            consumer_session_timeout_ms_max: limits::GROUP_CONSUMER_SESSION_TIMEOUT_MS_MAX_DEFAULT,
            consumer_heartbeat_interval_ms_min:
                limits::GROUP_CONSUMER_HEARTBEAT_INTERVAL_MS_MIN_DEFAULT,
            consumer_heartbeat_interval_ms_max:
                limits::GROUP_CONSUMER_HEARTBEAT_INTERVAL_MS_MAX_DEFAULT,
            consumer_assignors: consumer::Assignors::default(),
            consumer_migration_policy: MigrationPolicy::default(),
        }
    }
}

/// Kafka's `isValidGroupId`: JoinGroup, SyncGroup, Heartbeat and LeaveGroup need a non-empty
/// id; the others accept "". Longer than a record's i16 string can hold is refused too.
pub fn check_group_id(group_id: &str, allow_empty: bool) -> Result<(), GroupError> {
    if (group_id.is_empty() && !allow_empty) || group_id.len() > limits::REQUEST_STRING_BYTES_MAX {
        Err(GroupError::InvalidGroupId)
    } else {
        Ok(())
    }
}

/// Strings stored in group records are i16-length: refuse longer ones before they get there.
pub fn check_stored_string(s: &str) -> Result<(), GroupError> {
    if s.len() > limits::REQUEST_STRING_BYTES_MAX {
        Err(GroupError::InvalidRequest)
    } else {
        Ok(())
    }
}

/// The epoch or generation after `epoch`: a consumer or share group's epoch, a classic
/// group's generation. Saturating at `i32::MAX` rather than `+ 1`, because the value it starts
/// from may be anything a `__consumer_offsets` record said (a damaged log, another writer, a
/// producer allowed to write internal topics): `+ 1` on `i32::MAX` panics with overflow checks
/// (debug and fuzz builds; inside a coordinator timer that ends the shard) and wraps to
/// `i32::MIN` in release, a negative epoch that KIP-848 reads as "leave" (-1, -2) or refuses.
/// Refusing such a record at replay instead would drop the group's whole state for one field,
/// and would still leave `i32::MAX - 1` one bump from the edge. A group stuck at `i32::MAX`
/// stops moving to a new epoch (its target assignment stops following membership changes; a
/// classic group's generation stops fencing older members) until it is deleted; reaching it
/// takes 2^31 rebalances, so only a hostile or damaged record gets there.
pub fn next_epoch(epoch: i32) -> i32 {
    epoch.saturating_add(1)
}

/// Java's `String.hashCode` (over UTF-16 code units, wrapping), which Kafka uses to place groups.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// The `__consumer_offsets` partition that holds group `group_id`: Kafka's
/// `Utils.abs(groupId.hashCode) % offsets.topic.num.partitions`, so a group is placed on the
/// same partition as in Kafka. (Kafka's `Utils.abs` maps `i32::MIN` to 0.)
pub fn offsets_partition_for(group_id: &str) -> i32 {
    let h = java_string_hash(group_id);
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    abs % OFFSETS_TOPIC_PARTITIONS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migration_policies_parse_as_kafka_spells_them() {
        assert_eq!(
            MigrationPolicy::parse("BIDIRECTIONAL"),
            Ok(MigrationPolicy::Bidirectional)
        );
        let upgrade = MigrationPolicy::parse("upgrade").unwrap();
        assert!(upgrade.upgrade_enabled() && !upgrade.downgrade_enabled());
        let downgrade = MigrationPolicy::parse("Downgrade").unwrap();
        assert!(!downgrade.upgrade_enabled() && downgrade.downgrade_enabled());
        let disabled = MigrationPolicy::parse("disabled").unwrap();
        assert!(!disabled.upgrade_enabled() && !disabled.downgrade_enabled());
        assert!(MigrationPolicy::parse("sideways").is_err());
    }

    #[test]
    fn epochs_saturate_instead_of_overflowing() {
        assert_eq!(next_epoch(0), 1);
        assert_eq!(next_epoch(i32::MAX - 1), i32::MAX);
        assert_eq!(next_epoch(i32::MAX), i32::MAX);
    }

    #[test]
    fn hash_matches_java() {
        // Values of java.lang.String#hashCode.
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("a"), 97);
        assert_eq!(java_string_hash("hello"), 99_162_322);
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
        // Non-BMP characters count as two UTF-16 units, as in Java.
        assert_eq!(java_string_hash("\u{1F600}"), 0xD83D * 31 + 0xDE00);
    }

    #[test]
    fn partition_matches_kafka() {
        assert_eq!(offsets_partition_for(""), 0);
        assert_eq!(offsets_partition_for("hello"), 99_162_322 % 50);
        assert_eq!(offsets_partition_for("polygenelubricants"), 0);
        // Negative hash: abs first, then modulo.
        let h = java_string_hash("group-negative-hash-zz");
        let want = if h == i32::MIN { 0 } else { h.abs() % 50 };
        assert_eq!(offsets_partition_for("group-negative-hash-zz"), want);
        for g in ["a", "b", "consumers", "x-y-z"] {
            assert!((0..50).contains(&offsets_partition_for(g)));
        }
    }
}
