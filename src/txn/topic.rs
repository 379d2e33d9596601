//! The internal `__transaction_state` topic: where transaction coordinators persist each
//! transactional id's state, as Kafka does. Each partition is owned by one shard like any
//! other; the coordinator of an id runs on the owner of the id's partition.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;

use super::{TXN_TOPIC, TXN_TOPIC_PARTITIONS};
use crate::metadata::TopicMeta;
use crate::shard::control::{ControlError, NewTopic};
use crate::shard::Shard;

/// Configs of `__transaction_state`, Kafka's (compacted, `transaction.state.log.segment.bytes`
/// 100 MiB). Sluice has no compaction yet and applies retention whatever the cleanup policy,
/// so retention is off: an id's last record must survive for replay.
const TXN_TOPIC_CONFIGS: &[(&str, &str)] = &[
    ("cleanup.policy", "compact"),
    ("retention.ms", "-1"),
    ("retention.bytes", "-1"),
    ("segment.bytes", "104857600"),
];

impl Shard {
    /// The transaction state topic, created on first use (as Kafka creates it on the first
    /// FindCoordinator for a transactional id).
    pub async fn ensure_txn_topic(&self) -> Result<Arc<TopicMeta>, ControlError> {
        if let Some(t) = self.snapshot().topic(TXN_TOPIC) {
            return Ok(t.clone());
        }
        let create = NewTopic {
            name: TXN_TOPIC.to_string(),
            partitions: TXN_TOPIC_PARTITIONS,
            replication_factor: -1,
            configs: TXN_TOPIC_CONFIGS
                .iter()
                .map(|(k, v)| (k.to_string(), Some(v.to_string())))
                .collect(),
            internal: true,
        };
        let result = self.create_topics(vec![create], false).await.pop();
        match self.snapshot().topic(TXN_TOPIC) {
            Some(t) => Ok(t.clone()),
            None => Err(result.and_then(Result::err).unwrap_or(ControlError {
                code: ResponseError::CoordinatorNotAvailable.code(),
                message: "transaction state topic unavailable".into(),
            })),
        }
    }
}
