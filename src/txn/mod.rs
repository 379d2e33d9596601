//! Kafka transactions (KIP-98, KIP-447, KIP-890 part 1's server-side checks).
//!
//! - [`coordinator`]: the transaction coordinator of one shard: every `transactional.id` whose
//!   `__transaction_state` partition this shard owns, its state persisted in that partition and
//!   replayed at start-up (lives on the owner of the id's partition, like the group coordinator).
//! - [`records`]: Kafka's TransactionLog key and value layouts in `__transaction_state`.
//! - [`markers`]: COMMIT / ABORT control batches, built by the coordinator and appended on each
//!   partition's owner shard through the cross-core path (never over TCP).
//! - [`partition_state`]: what a partition knows of transactions: producers the coordinator
//!   added it for, open transactions (first offset per producer), aborted ones, and from those
//!   the last stable offset (lives on the partition's owner shard, inside `Partition`).
//! - [`topic`]: the `__transaction_state` topic itself.

pub mod coordinator;
pub mod markers;
pub mod partition_state;
pub mod records;
pub mod topic;

use crate::groups::java_string_hash;

/// The internal topic holding transaction state.
pub const TXN_TOPIC: &str = "__transaction_state";

/// Kafka's `transaction.state.log.num.partitions` default.
pub const TXN_TOPIC_PARTITIONS: i32 = 50;

/// Kafka's `transaction.max.timeout.ms` default (15 minutes): InitProducerId refuses a
/// `transaction.timeout.ms` above it with INVALID_TRANSACTION_TIMEOUT, so a producer can't hold
/// the last stable offset of its partitions back for longer (`--transaction-max-timeout-ms`).
pub const TRANSACTION_MAX_TIMEOUT_MS_DEFAULT: i32 = 900_000;

/// Kafka's `transaction.abort.timed.out.transaction.cleanup.interval.ms` default: how often the
/// coordinator looks for ongoing transactions past their timeout and aborts them.
pub const TRANSACTION_ABORT_CHECK_INTERVAL_MS_DEFAULT: u64 = 10_000;

/// Kafka's `transactional.id.expiration.ms` default (7 days): an id whose producer has had no
/// transaction for this long is removed (a tombstone in `__transaction_state`), so ids of
/// producers that are gone don't accumulate forever.
pub const TRANSACTIONAL_ID_EXPIRATION_MS_DEFAULT: i64 = 7 * 24 * 3_600_000;

/// Kafka's `transaction.remove.expired.transaction.cleanup.interval.ms` default (1 hour).
pub const TRANSACTION_REMOVE_EXPIRED_INTERVAL_MS_DEFAULT: u64 = 3_600_000;

/// The transaction coordinators' settings, from the broker's flags (the same on every shard).
#[derive(Debug, Clone, Copy)]
pub struct TxnConfig {
    pub max_timeout_ms: i32,
    pub abort_check_interval_ms: u64,
    pub id_expiration_ms: i64,
    pub remove_expired_interval_ms: u64,
}

impl Default for TxnConfig {
    fn default() -> Self {
        TxnConfig {
            max_timeout_ms: TRANSACTION_MAX_TIMEOUT_MS_DEFAULT,
            abort_check_interval_ms: TRANSACTION_ABORT_CHECK_INTERVAL_MS_DEFAULT,
            id_expiration_ms: TRANSACTIONAL_ID_EXPIRATION_MS_DEFAULT,
            remove_expired_interval_ms: TRANSACTION_REMOVE_EXPIRED_INTERVAL_MS_DEFAULT,
        }
    }
}

/// How long the coordinator waits before retrying markers that could not be written (a shard
/// that did not answer in time, a log fenced by a failed write).
pub const MARKER_RETRY_BACKOFF_MS: u64 = 1_000;

/// The `__transaction_state` partition of `transactional_id`: Kafka's
/// `Utils.abs(transactionalId.hashCode) % transaction.state.log.num.partitions` (Java's
/// String.hashCode; `Utils.abs` maps `i32::MIN` to 0), so an id lands where Kafka puts it.
pub fn txn_partition_for(transactional_id: &str) -> i32 {
    let h = java_string_hash(transactional_id);
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    abs % TXN_TOPIC_PARTITIONS
}

/// A transaction-coordinator failure, named after Kafka's error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnError {
    NotCoordinator,
    CoordinatorNotAvailable,
    CoordinatorLoadInProgress,
    InvalidTransactionTimeout,
    ConcurrentTransactions,
    InvalidProducerIdMapping,
    /// A newer producer has the transactional id; answered as INVALID_PRODUCER_EPOCH to
    /// versions older than KIP-588's (see [`TxnError::code_for`]).
    ProducerFenced,
    InvalidTxnState,
    UnknownTopicOrPartition,
    KafkaStorageError,
}

impl TxnError {
    pub fn code(self) -> i16 {
        use kafka_protocol::error::ResponseError as E;
        let e = match self {
            TxnError::NotCoordinator => E::NotCoordinator,
            TxnError::CoordinatorNotAvailable => E::CoordinatorNotAvailable,
            TxnError::CoordinatorLoadInProgress => E::CoordinatorLoadInProgress,
            TxnError::InvalidTransactionTimeout => E::InvalidTransactionTimeout,
            TxnError::ConcurrentTransactions => E::ConcurrentTransactions,
            TxnError::InvalidProducerIdMapping => E::InvalidProducerIdMapping,
            TxnError::ProducerFenced => E::ProducerFenced,
            TxnError::InvalidTxnState => E::InvalidTxnState,
            TxnError::UnknownTopicOrPartition => E::UnknownTopicOrPartition,
            TxnError::KafkaStorageError => E::KafkaStorageError,
        };
        e.code()
    }

    /// The code for a response of `version`, where `fenced_since` is the first version that
    /// knows PRODUCER_FENCED (KIP-588: InitProducerId 4, AddPartitionsToTxn 2,
    /// AddOffsetsToTxn 2, EndTxn 2, TxnOffsetCommit 3): older ones get INVALID_PRODUCER_EPOCH,
    /// as Kafka answers them.
    pub fn code_for(self, version: i16, fenced_since: i16) -> i16 {
        if self == TxnError::ProducerFenced && version < fenced_since {
            kafka_protocol::error::ResponseError::InvalidProducerEpoch.code()
        } else {
            self.code()
        }
    }
}

impl From<crate::protocol::errors::PartitionError> for TxnError {
    fn from(e: crate::protocol::errors::PartitionError) -> Self {
        use crate::protocol::errors::PartitionError as P;
        match e {
            P::NotLeader => TxnError::NotCoordinator,
            P::UnknownTopicOrPartition => TxnError::CoordinatorNotAvailable,
            P::Storage
            | P::Batch(_)
            | P::OffsetOutOfRange
            | P::OutOfOrderSequence
            | P::InvalidProducerEpoch
            | P::UnknownProducerId
            | P::UnsupportedCompression
            | P::InvalidRequest
            | P::FencedLeaderEpoch
            | P::UnknownLeaderEpoch
            | P::UnsupportedVersion
            | P::InvalidTxnState
            | P::Refused(_) => TxnError::KafkaStorageError,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_hash_to_kafkas_partitions() {
        // abs(String.hashCode) % 50, values from java.lang.String#hashCode.
        assert_eq!(java_string_hash("txn-1"), 110_810_510);
        assert_eq!(txn_partition_for("txn-1"), 110_810_510 % 50);
        assert_eq!(txn_partition_for(""), 0);
        for id in ["a", "my-transactional-id", "Ünïcode", "polygenelubricants"] {
            let p = txn_partition_for(id);
            assert!((0..TXN_TOPIC_PARTITIONS).contains(&p), "{id}");
        }
        // "polygenelubricants".hashCode() == Integer.MIN_VALUE: Utils.abs maps it to 0.
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
        assert_eq!(txn_partition_for("polygenelubricants"), 0);
    }

    #[test]
    fn fenced_is_invalid_epoch_for_old_versions() {
        assert_eq!(TxnError::ProducerFenced.code_for(3, 4), 47);
        assert_eq!(TxnError::ProducerFenced.code_for(4, 4), 90);
        assert_eq!(TxnError::ConcurrentTransactions.code_for(0, 4), 51);
    }
}
