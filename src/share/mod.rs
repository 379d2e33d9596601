//! Share groups (KIP-932, "queues for Kafka"): many members take records from the same
//! partitions one at a time, acknowledge each, and records not acknowledged come back.
//!
//! - `group`: one share group's membership and assignment (pure), on the group's coordinator
//!   shard — the owner of its `__consumer_offsets` partition, as for classic groups.
//! - `partition`: one share-partition's record states and locks (pure), on the partition's
//!   owner shard.
//! - `store`: a share-partition's durable state file in the partition's directory (layout in
//!   its doc), written before an acknowledgement is answered.
//! - `owner`: the owner shard's side: loading, initializing, acquiring and acknowledging.
//! - `sessions`: share sessions (ShareFetch / ShareAcknowledge epochs) on the shard a member
//!   sends them to.
//! - `coordinator`: the coordinator shard's side: heartbeats, describe, list, delete, and the
//!   sweep that expires silent members and releases what they hold.
//! - `offsets`: the share-group offset admin APIs (describe, alter, delete start offsets).
//! - `records`: the groups' `__consumer_offsets` records (Kafka 4.2's types 10–15), byte
//!   layouts at the top of the file; `persist` writes a group's changes and restores it.
//!
//! Every piece of state here is per shard, in [`ShareState`] (held by `Shard::share`).

pub mod coordinator;
pub mod group;
pub mod offsets;
pub mod owner;
pub mod partition;
pub mod persist;
pub mod records;
pub mod sessions;
pub mod store;

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::time::Instant;

use kafka_protocol::error::ResponseError;

use crate::limits;

/// The `group.share.*` broker configs, as `sluice serve` flags (Kafka's names, kebab-case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Args)]
pub struct ShareArgs {
    /// How long a delivered record stays locked to its member before it is offered again
    /// (group.share.record.lock.duration.ms).
    #[arg(long, default_value_t = limits::SHARE_RECORD_LOCK_DURATION_MS_DEFAULT)]
    pub group_share_record_lock_duration_ms: u64,

    /// Deliveries after which a released or timed-out record is archived
    /// (group.share.delivery.count.limit).
    #[arg(long, default_value_t = limits::SHARE_DELIVERY_COUNT_LIMIT_DEFAULT)]
    pub group_share_delivery_count_limit: u16,

    /// Offsets one share-partition keeps in flight (group.share.partition.max.record.locks).
    #[arg(long, default_value_t = limits::SHARE_PARTITION_RECORD_LOCKS_MAX_DEFAULT)]
    pub group_share_partition_max_record_locks: usize,

    /// Most members one share group may have (group.share.max.size).
    #[arg(long, default_value_t = limits::SHARE_GROUP_MEMBERS_MAX_DEFAULT)]
    pub group_share_max_size: usize,

    /// A share group member silent this long is removed (group.share.session.timeout.ms).
    #[arg(long, default_value_t = limits::SHARE_SESSION_TIMEOUT_MS_DEFAULT)]
    pub group_share_session_timeout_ms: u64,

    /// How often share group members heartbeat (group.share.heartbeat.interval.ms).
    #[arg(long, default_value_t = limits::SHARE_HEARTBEAT_INTERVAL_MS_DEFAULT)]
    pub group_share_heartbeat_interval_ms: u64,
}

impl ShareArgs {
    /// The settings, checked against Kafka's bounds.
    pub fn config(&self) -> anyhow::Result<ShareConfig> {
        let lock = self.group_share_record_lock_duration_ms;
        if !(limits::SHARE_RECORD_LOCK_DURATION_MS_MIN..=limits::SHARE_RECORD_LOCK_DURATION_MS_MAX)
            .contains(&lock)
        {
            anyhow::bail!(
                "--group-share-record-lock-duration-ms must be between {} and {}",
                limits::SHARE_RECORD_LOCK_DURATION_MS_MIN,
                limits::SHARE_RECORD_LOCK_DURATION_MS_MAX
            );
        }
        let count = self.group_share_delivery_count_limit;
        if !(limits::SHARE_DELIVERY_COUNT_LIMIT_MIN..=limits::SHARE_DELIVERY_COUNT_LIMIT_MAX)
            .contains(&count)
        {
            anyhow::bail!(
                "--group-share-delivery-count-limit must be between {} and {}",
                limits::SHARE_DELIVERY_COUNT_LIMIT_MIN,
                limits::SHARE_DELIVERY_COUNT_LIMIT_MAX
            );
        }
        let locks = self.group_share_partition_max_record_locks;
        if !(limits::SHARE_PARTITION_RECORD_LOCKS_MAX_MIN
            ..=limits::SHARE_PARTITION_RECORD_LOCKS_MAX_MAX)
            .contains(&locks)
        {
            anyhow::bail!(
                "--group-share-partition-max-record-locks must be between {} and {}",
                limits::SHARE_PARTITION_RECORD_LOCKS_MAX_MIN,
                limits::SHARE_PARTITION_RECORD_LOCKS_MAX_MAX
            );
        }
        let size = self.group_share_max_size;
        if !(1..=limits::SHARE_GROUP_MEMBERS_MAX_MAX).contains(&size) {
            anyhow::bail!(
                "--group-share-max-size must be between 1 and {}",
                limits::SHARE_GROUP_MEMBERS_MAX_MAX
            );
        }
        if self.group_share_session_timeout_ms == 0
            || self.group_share_heartbeat_interval_ms == 0
            || self.group_share_heartbeat_interval_ms >= self.group_share_session_timeout_ms
            || self.group_share_session_timeout_ms > i32::MAX as u64
        {
            anyhow::bail!(
                "--group-share-heartbeat-interval-ms must be above 0 and below \
                 --group-share-session-timeout-ms (at most {})",
                i32::MAX
            );
        }
        Ok(ShareConfig {
            limits: partition::Limits {
                lock_duration_ms: lock,
                delivery_count_limit: count,
                record_locks_max: locks,
            },
            members_max: size,
            session_timeout_ms: self.group_share_session_timeout_ms,
            heartbeat_interval_ms: self.group_share_heartbeat_interval_ms,
        })
    }
}

/// Broker-wide share group settings; every shard holds a copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShareConfig {
    pub limits: partition::Limits,
    pub members_max: usize,
    pub session_timeout_ms: u64,
    pub heartbeat_interval_ms: u64,
}

impl Default for ShareConfig {
    fn default() -> Self {
        ShareConfig {
            limits: partition::Limits {
                lock_duration_ms: limits::SHARE_RECORD_LOCK_DURATION_MS_DEFAULT,
                delivery_count_limit: limits::SHARE_DELIVERY_COUNT_LIMIT_DEFAULT,
                record_locks_max: limits::SHARE_PARTITION_RECORD_LOCKS_MAX_DEFAULT,
            },
            members_max: limits::SHARE_GROUP_MEMBERS_MAX_DEFAULT,
            session_timeout_ms: limits::SHARE_SESSION_TIMEOUT_MS_DEFAULT,
            heartbeat_interval_ms: limits::SHARE_HEARTBEAT_INTERVAL_MS_DEFAULT,
        }
    }
}

/// Every way a share-group request fails, mapped to Kafka's codes (exhaustively).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShareError {
    InvalidRequest,
    InvalidGroupId,
    GroupIdNotFound,
    UnknownMemberId,
    FencedMemberEpoch,
    GroupMaxSizeReached,
    NonEmptyGroup,
    CoordinatorNotAvailable,
    ShareSessionNotFound,
    InvalidShareSessionEpoch,
    ShareSessionLimitReached,
    InvalidRecordState,
    UnknownTopicOrPartition,
    UnknownTopicId,
    NotLeaderOrFollower,
    KafkaStorageError,
    UnknownServerError,
}

impl ShareError {
    pub fn code(self) -> i16 {
        let e = match self {
            ShareError::InvalidRequest => ResponseError::InvalidRequest,
            ShareError::InvalidGroupId => ResponseError::InvalidGroupId,
            ShareError::GroupIdNotFound => ResponseError::GroupIdNotFound,
            ShareError::UnknownMemberId => ResponseError::UnknownMemberId,
            ShareError::FencedMemberEpoch => ResponseError::FencedMemberEpoch,
            ShareError::GroupMaxSizeReached => ResponseError::GroupMaxSizeReached,
            ShareError::NonEmptyGroup => ResponseError::NonEmptyGroup,
            ShareError::CoordinatorNotAvailable => ResponseError::CoordinatorNotAvailable,
            ShareError::ShareSessionNotFound => ResponseError::ShareSessionNotFound,
            ShareError::InvalidShareSessionEpoch => ResponseError::InvalidShareSessionEpoch,
            ShareError::ShareSessionLimitReached => ResponseError::ShareSessionLimitReached,
            ShareError::InvalidRecordState => ResponseError::InvalidRecordState,
            ShareError::UnknownTopicOrPartition => ResponseError::UnknownTopicOrPartition,
            ShareError::UnknownTopicId => ResponseError::UnknownTopicId,
            ShareError::NotLeaderOrFollower => ResponseError::NotLeaderOrFollower,
            ShareError::KafkaStorageError => ResponseError::KafkaStorageError,
            ShareError::UnknownServerError => ResponseError::UnknownServerError,
        };
        e.code()
    }
}

impl From<group::HeartbeatError> for ShareError {
    fn from(e: group::HeartbeatError) -> Self {
        match e {
            group::HeartbeatError::UnknownMemberId => ShareError::UnknownMemberId,
            group::HeartbeatError::FencedMemberEpoch => ShareError::FencedMemberEpoch,
            group::HeartbeatError::GroupMaxSizeReached => ShareError::GroupMaxSizeReached,
            group::HeartbeatError::InvalidRequest => ShareError::InvalidRequest,
        }
    }
}

impl From<partition::AckError> for ShareError {
    fn from(e: partition::AckError) -> Self {
        match e {
            partition::AckError::InvalidRecordState => ShareError::InvalidRecordState,
            partition::AckError::InvalidRequest => ShareError::InvalidRequest,
        }
    }
}

impl From<crate::protocol::errors::GroupError> for ShareError {
    fn from(e: crate::protocol::errors::GroupError) -> Self {
        use crate::protocol::errors::GroupError as G;
        match e {
            G::InvalidGroupId => ShareError::InvalidGroupId,
            G::GroupIdNotFound => ShareError::GroupIdNotFound,
            G::NonEmptyGroup => ShareError::NonEmptyGroup,
            G::UnknownMemberId => ShareError::UnknownMemberId,
            G::InvalidRequest => ShareError::InvalidRequest,
            G::GroupMaxSizeReached => ShareError::GroupMaxSizeReached,
            G::UnknownTopicOrPartition => ShareError::UnknownTopicOrPartition,
            G::FencedMemberEpoch | G::StaleMemberEpoch => ShareError::FencedMemberEpoch,
            G::UnsupportedVersion | G::InvalidRegularExpression => ShareError::InvalidRequest,
            G::CoordinatorNotAvailable | G::NotCoordinator | G::CoordinatorLoadInProgress => {
                ShareError::CoordinatorNotAvailable
            }
            G::IllegalGeneration
            | G::InconsistentGroupProtocol
            | G::InvalidSessionTimeout
            | G::RebalanceInProgress
            | G::MemberIdRequired
            | G::FencedInstanceId
            | G::GroupSubscribedToTopic
            | G::OffsetMetadataTooLarge
            | G::InvalidCommitOffsetSize
            | G::InvalidTxnState
            | G::InvalidProducerEpoch
            | G::UnreleasedInstanceId
            | G::UnsupportedAssignor
            | G::UnknownServerError => ShareError::UnknownServerError,
        }
    }
}

/// Group `group`'s `share.auto.offset.reset` (a GROUP config; Kafka's default `latest`).
pub fn auto_reset(shard: &crate::shard::Shard, group: &str) -> owner::AutoReset {
    match shard
        .snapshot()
        .group_configs
        .of(group)
        .get("share.auto.offset.reset")
        .map(|v| v.trim())
    {
        Some("earliest") => owner::AutoReset::Earliest,
        _ => owner::AutoReset::Latest,
    }
}

/// Whether group `group` reads only committed records (`share.isolation.level`, a GROUP
/// config; Kafka's default `read_uncommitted`): then records past the last stable offset are
/// not acquired.
pub fn read_committed(shard: &crate::shard::Shard, group: &str) -> bool {
    shard
        .snapshot()
        .group_configs
        .of(group)
        .get("share.isolation.level")
        .is_some_and(|v| v.trim() == "read_committed")
}

/// (group, topic, partition): a share-partition's key.
pub type ShareKey = (String, String, i32);

/// One shard's share-group state. Lives on its shard (`Shard::share`), never shared.
pub struct ShareState {
    pub config: ShareConfig,
    /// The share groups this shard coordinates.
    pub groups: RefCell<HashMap<String, group::ShareGroup>>,
    /// Share-partitions this coordinator knows to be initialized on their owners.
    pub initialized: RefCell<HashSet<ShareKey>>,
    /// Each coordinated group's records as last written (encoded key → value), `persist`.
    pub written: RefCell<HashMap<String, std::collections::BTreeMap<bytes::Bytes, bytes::Bytes>>>,
    /// The share-partitions of partitions this shard owns, loaded on first use.
    pub partitions: RefCell<HashMap<ShareKey, Rc<owner::Slot>>>,
    /// Serializes first loads, so a share-partition is read from its file once.
    pub loading: futures::lock::Mutex<()>,
    /// Share sessions of members fetching from this shard.
    pub sessions: RefCell<sessions::Sessions>,
    clock: Instant,
}

impl ShareState {
    pub fn new(config: ShareConfig) -> ShareState {
        ShareState {
            config,
            groups: RefCell::new(HashMap::new()),
            initialized: RefCell::new(HashSet::new()),
            written: RefCell::new(HashMap::new()),
            partitions: RefCell::new(HashMap::new()),
            loading: futures::lock::Mutex::new(()),
            sessions: RefCell::new(sessions::Sessions::default()),
            clock: Instant::now(),
        }
    }

    /// Milliseconds on this shard's clock (monotonic), the time of locks and sessions.
    pub fn now_ms(&self) -> u64 {
        self.clock.elapsed().as_millis() as u64
    }

    /// One line per share group with share-partitions on this shard, for the metrics
    /// snapshot: (group, in flight, acquired, available, redeliveries, archived, accepted).
    pub fn views(&self) -> Vec<crate::metrics::ShareGroupView> {
        let mut by_group: std::collections::BTreeMap<String, crate::metrics::ShareGroupView> =
            std::collections::BTreeMap::new();
        for ((g, _, _), slot) in self.partitions.borrow().iter() {
            let sp = slot.sp.borrow();
            let (available, acquired, _) = sp.state_counts();
            let v = by_group
                .entry(g.clone())
                .or_insert_with(|| crate::metrics::ShareGroupView {
                    group: g.clone(),
                    ..Default::default()
                });
            v.partitions += 1;
            v.in_flight += sp.in_flight() as u64;
            v.acquired += acquired as u64;
            v.available += available as u64;
            v.redeliveries += sp.counters.redeliveries;
            v.archived += sp.counters.archived;
            v.acknowledged += sp.counters.acknowledged;
        }
        by_group.into_values().collect()
    }
}
