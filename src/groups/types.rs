//! The values the group state machine takes and returns (requests as it needs them, answers,
//! events, the persisted snapshot). Plain data; the logic is in `state`.

use bytes::Bytes;

use crate::protocol::errors::GroupError;

/// The time as the state machine sees it: a monotonic clock for timers and the wall clock for
/// what is persisted (commit and state timestamps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    pub mono_ms: u64,
    pub wall_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    /// Kafka's names (DescribeGroups, ListGroups).
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protocol {
    pub name: String,
    pub metadata: Bytes,
}

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp_ms: i64,
    /// Set only by OffsetCommit v2–4 with an explicit retention time (the old semantics).
    pub expire_timestamp_ms: Option<i64>,
}

/// A JoinGroup as the state machine needs it.
#[derive(Debug, Clone)]
pub struct JoinParams {
    /// "" for a member joining for the first time.
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<Protocol>,
    /// JoinGroup v4+ without an instance id: a first join gets MEMBER_ID_REQUIRED.
    pub require_known_member_id: bool,
    /// JoinGroup v9+ (KIP-814): a static leader rejoining a stable group is told to skip the
    /// assignment instead of being sent nothing.
    pub supports_skip_assignment: bool,
    /// The id to give the member if it needs one (the caller makes it: `client_id-uuid`).
    pub fresh_member_id: String,
}

/// The answer to one JoinGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinResult {
    pub error: Option<GroupError>,
    pub member_id: String,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub skip_assignment: bool,
    /// (member id, instance id, metadata): for the leader only.
    pub members: Vec<(String, Option<String>, Bytes)>,
}

impl JoinResult {
    pub fn error(e: GroupError, member_id: &str) -> JoinResult {
        JoinResult {
            error: Some(e),
            member_id: member_id.to_string(),
            generation: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            skip_assignment: false,
            members: Vec::new(),
        }
    }
}

/// The answer to one SyncGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncResult {
    pub error: Option<GroupError>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncResult {
    pub fn error(e: GroupError) -> SyncResult {
        SyncResult {
            error: Some(e),
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinOutcome {
    Done(JoinResult),
    /// Parked: the answer comes later as `Event::Join` for this member id.
    Waiting {
        member_id: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncOutcome {
    Done(SyncResult),
    /// Parked: the answer comes later as `Event::Sync`.
    Waiting,
    /// The leader's assignment: persist the group with it, then call `complete_sync`. The
    /// leader stays parked until then.
    Persist {
        generation: i32,
        assignments: Vec<(String, Bytes)>,
    },
}

/// What the coordinator must do after a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Answer the parked JoinGroup of this member.
    Join(String, JoinResult),
    /// Answer the parked SyncGroup of this member.
    Sync(String, SyncResult),
    /// Write the group's metadata record (membership or generation changed).
    PersistGroup,
}

/// A member as stored in the group metadata record and shown by DescribeGroups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSnapshot {
    pub id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub protocol_type: String,
    /// Metadata for the group's protocol.
    pub subscription: Bytes,
    pub assignment: Bytes,
}

/// The group as stored in its metadata record (Kafka's GroupMetadataValue).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSnapshot {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub state_timestamp_ms: i64,
    pub members: Vec<MemberSnapshot>,
}
