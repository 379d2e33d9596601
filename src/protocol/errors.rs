//! Sluice's internal errors and their one mapping to Kafka error codes.
//!
//! The `match`es are exhaustive on purpose (no `_ =>` arm): a new error variant must choose its
//! Kafka code here, or the build fails — it can never silently become UNKNOWN_SERVER_ERROR.

use kafka_protocol::error::ResponseError;

use crate::log::validate::Refusal;
use crate::log::{BatchError, LogError};

pub use sluice_client::error::error_name;

/// A per-partition failure, as a handler reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartitionError {
    UnknownTopicOrPartition,
    NotLeader,
    Batch(BatchError),
    OffsetOutOfRange,
    Storage,
    OutOfOrderSequence,
    InvalidProducerEpoch,
    UnknownProducerId,
    UnsupportedCompression,
    InvalidRequest,
    FencedLeaderEpoch,
    UnknownLeaderEpoch,
    /// The request's version can't ask for this (a special ListOffsets timestamp).
    UnsupportedVersion,
    /// Produce records refused by `log::validate` (KIP-467's per-record errors).
    Refused(Box<crate::log::validate::Refusal>),
    /// A transactional batch for a partition not in the producer's transaction (KIP-890);
    /// Produce v11+ answers TRANSACTION_ABORTABLE instead.
    InvalidTxnState,
}

impl PartitionError {
    pub fn code(&self) -> i16 {
        let e = match self {
            PartitionError::UnknownTopicOrPartition => ResponseError::UnknownTopicOrPartition,
            PartitionError::NotLeader => ResponseError::NotLeaderOrFollower,
            PartitionError::Batch(b) => return batch_error_code(b),
            PartitionError::OffsetOutOfRange => ResponseError::OffsetOutOfRange,
            PartitionError::Storage => ResponseError::KafkaStorageError,
            PartitionError::OutOfOrderSequence => ResponseError::OutOfOrderSequenceNumber,
            PartitionError::InvalidProducerEpoch => ResponseError::InvalidProducerEpoch,
            PartitionError::UnknownProducerId => ResponseError::UnknownProducerId,
            PartitionError::UnsupportedCompression => ResponseError::UnsupportedCompressionType,
            PartitionError::InvalidRequest => ResponseError::InvalidRequest,
            PartitionError::FencedLeaderEpoch => ResponseError::FencedLeaderEpoch,
            PartitionError::UnknownLeaderEpoch => ResponseError::UnknownLeaderEpoch,
            PartitionError::UnsupportedVersion => ResponseError::UnsupportedVersion,
            PartitionError::Refused(r) => match **r {
                Refusal::Records {
                    timestamp: true, ..
                } => ResponseError::InvalidTimestamp,
                Refusal::Records {
                    timestamp: false, ..
                }
                | Refusal::Malformed(_) => ResponseError::InvalidRecord,
            },
            PartitionError::InvalidTxnState => ResponseError::InvalidTxnState,
        };
        e.code()
    }
}

/// Kafka's code for a refused produce batch.
pub fn batch_error_code(e: &BatchError) -> i16 {
    let e = match e {
        BatchError::Truncated | BatchError::BadLength | BatchError::CrcMismatch => {
            ResponseError::CorruptMessage
        }
        BatchError::BadMagic(_)
        | BatchError::InvalidOffsetDelta
        | BatchError::NonZeroBaseOffset
        | BatchError::MoreThanOneBatch => ResponseError::InvalidRecord,
        BatchError::TooLarge { .. } => ResponseError::MessageTooLarge,
        BatchError::UnknownCompression(_) => ResponseError::UnsupportedCompressionType,
    };
    e.code()
}

impl From<LogError> for PartitionError {
    fn from(e: LogError) -> Self {
        match e {
            LogError::Io(_) | LogError::Corrupt { .. } | LogError::Failed => {
                PartitionError::Storage
            }
            LogError::OffsetOutOfRange { .. } => PartitionError::OffsetOutOfRange,
        }
    }
}

/// A consumer-group failure (coordinator, membership, committed offsets), as the group
/// coordinator reports it. Names follow Kafka's error names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupError {
    CoordinatorNotAvailable,
    NotCoordinator,
    CoordinatorLoadInProgress,
    InvalidGroupId,
    UnknownMemberId,
    IllegalGeneration,
    InconsistentGroupProtocol,
    InvalidSessionTimeout,
    RebalanceInProgress,
    MemberIdRequired,
    FencedInstanceId,
    GroupMaxSizeReached,
    GroupIdNotFound,
    NonEmptyGroup,
    GroupSubscribedToTopic,
    OffsetMetadataTooLarge,
    UnknownTopicOrPartition,
    InvalidCommitOffsetSize,
    InvalidRequest,
    /// TxnOffsetCommit from a producer whose transaction does not hold the group's offsets
    /// partition (no AddOffsetsToTxn).
    InvalidTxnState,
    /// TxnOffsetCommit from an older epoch of the producer.
    InvalidProducerEpoch,
    UnknownServerError,
    FencedMemberEpoch,
    StaleMemberEpoch,
    UnreleasedInstanceId,
    UnsupportedAssignor,
    InvalidRegularExpression,
    UnsupportedVersion,
}

impl GroupError {
    pub fn code(&self) -> i16 {
        let e = match self {
            GroupError::CoordinatorNotAvailable => ResponseError::CoordinatorNotAvailable,
            GroupError::NotCoordinator => ResponseError::NotCoordinator,
            GroupError::CoordinatorLoadInProgress => ResponseError::CoordinatorLoadInProgress,
            GroupError::InvalidGroupId => ResponseError::InvalidGroupId,
            GroupError::UnknownMemberId => ResponseError::UnknownMemberId,
            GroupError::IllegalGeneration => ResponseError::IllegalGeneration,
            GroupError::InconsistentGroupProtocol => ResponseError::InconsistentGroupProtocol,
            GroupError::InvalidSessionTimeout => ResponseError::InvalidSessionTimeout,
            GroupError::RebalanceInProgress => ResponseError::RebalanceInProgress,
            GroupError::MemberIdRequired => ResponseError::MemberIdRequired,
            GroupError::FencedInstanceId => ResponseError::FencedInstanceId,
            GroupError::GroupMaxSizeReached => ResponseError::GroupMaxSizeReached,
            GroupError::GroupIdNotFound => ResponseError::GroupIdNotFound,
            GroupError::NonEmptyGroup => ResponseError::NonEmptyGroup,
            GroupError::GroupSubscribedToTopic => ResponseError::GroupSubscribedToTopic,
            GroupError::OffsetMetadataTooLarge => ResponseError::OffsetMetadataTooLarge,
            GroupError::UnknownTopicOrPartition => ResponseError::UnknownTopicOrPartition,
            GroupError::InvalidCommitOffsetSize => ResponseError::InvalidCommitOffsetSize,
            GroupError::InvalidRequest => ResponseError::InvalidRequest,
            GroupError::InvalidTxnState => ResponseError::InvalidTxnState,
            GroupError::InvalidProducerEpoch => ResponseError::InvalidProducerEpoch,
            GroupError::UnknownServerError => ResponseError::UnknownServerError,
            GroupError::FencedMemberEpoch => ResponseError::FencedMemberEpoch,
            GroupError::StaleMemberEpoch => ResponseError::StaleMemberEpoch,
            GroupError::UnreleasedInstanceId => ResponseError::UnreleasedInstanceId,
            GroupError::UnsupportedAssignor => ResponseError::UnsupportedAssignor,
            GroupError::InvalidRegularExpression => ResponseError::InvalidRegularExpression,
            GroupError::UnsupportedVersion => ResponseError::UnsupportedVersion,
        };
        e.code()
    }
}

impl From<PartitionError> for GroupError {
    /// A failed append to `__consumer_offsets`, as Kafka's coordinator reports it to clients:
    /// storage and leadership problems send the client to look up the coordinator again.
    fn from(e: PartitionError) -> Self {
        match e {
            PartitionError::NotLeader
            | PartitionError::Storage
            | PartitionError::FencedLeaderEpoch
            | PartitionError::UnknownLeaderEpoch => GroupError::NotCoordinator,
            PartitionError::UnknownTopicOrPartition | PartitionError::OffsetOutOfRange => {
                GroupError::CoordinatorNotAvailable
            }
            PartitionError::Batch(BatchError::TooLarge { .. }) => {
                GroupError::InvalidCommitOffsetSize
            }
            PartitionError::Batch(
                BatchError::Truncated
                | BatchError::BadLength
                | BatchError::CrcMismatch
                | BatchError::BadMagic(_)
                | BatchError::InvalidOffsetDelta
                | BatchError::NonZeroBaseOffset
                | BatchError::MoreThanOneBatch
                | BatchError::UnknownCompression(_),
            )
            | PartitionError::OutOfOrderSequence
            | PartitionError::UnsupportedVersion
            | PartitionError::UnknownProducerId
            | PartitionError::UnsupportedCompression
            | PartitionError::Refused(_)
            | PartitionError::InvalidRequest => GroupError::UnknownServerError,
            PartitionError::InvalidProducerEpoch => GroupError::InvalidProducerEpoch,
            PartitionError::InvalidTxnState => GroupError::InvalidTxnState,
        }
    }
}
