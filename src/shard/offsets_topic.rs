//! The internal `__consumer_offsets` topic: where group coordinators persist group metadata and
//! committed offsets, as Kafka does. Each of its partitions is owned by one shard like any
//! other; the coordinator for a group runs on the owner of the group's partition.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::records::{Record, RecordBatchDecoder};
use sluice_client::records::{encode_batch, Compression, NewRecord};

use super::control::{ControlError, NewTopic};
use super::Shard;
use crate::metadata::TopicMeta;
use crate::protocol::errors::PartitionError;

pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Kafka's `offsets.topic.num.partitions` default.
pub const OFFSETS_TOPIC_PARTITIONS: i32 = 50;

/// Configs of `__consumer_offsets`. Kafka's is compacted and never loses records to time or
/// size retention, and so is Sluice's: the cleaner keeps the latest record of each key (group
/// metadata, each committed offset), which is all replay uses (it is last-write-wins per key,
/// tombstones delete), so replay after cleaning rebuilds the same state. Retention is switched
/// off explicitly as well (older data directories created it before compaction existed):
/// otherwise a group's last commit, once older than `log.retention.ms`, would vanish.
/// Segments are Kafka's `offsets.topic.segment.bytes` (100 MiB).
const OFFSETS_TOPIC_CONFIGS: &[(&str, &str)] = &[
    ("cleanup.policy", "compact"),
    ("retention.ms", "-1"),
    ("retention.bytes", "-1"),
    ("segment.bytes", "104857600"),
];

use crate::limits::OFFSETS_REPLAY_READ_BYTES_MAX;

impl Shard {
    /// The offsets topic, created on first use (as Kafka creates it on the first
    /// FindCoordinator).
    pub async fn ensure_offsets_topic(&self) -> Result<Arc<TopicMeta>, ControlError> {
        if let Some(t) = self.snapshot().topic(OFFSETS_TOPIC) {
            return Ok(t.clone());
        }
        let create = NewTopic {
            name: OFFSETS_TOPIC.to_string(),
            partitions: OFFSETS_TOPIC_PARTITIONS,
            replication_factor: -1,
            configs: OFFSETS_TOPIC_CONFIGS
                .iter()
                .map(|(k, v)| (k.to_string(), Some(v.to_string())))
                .collect(),
            internal: true,
        };
        let result = self.create_topics(vec![create], false).await.pop();
        match self.snapshot().topic(OFFSETS_TOPIC) {
            Some(t) => Ok(t.clone()),
            None => Err(result.and_then(Result::err).unwrap_or(ControlError {
                code: ResponseError::CoordinatorNotAvailable.code(),
                message: "offsets topic unavailable".into(),
            })),
        }
    }

    /// The shard that owns the offsets partition `partition`, if the topic exists.
    pub fn offsets_partition_owner(&self, partition: i32) -> Option<u32> {
        self.snapshot()
            .partition(OFFSETS_TOPIC, partition)
            .map(|m| m.owner)
    }

    /// Append key/value records to a local offsets partition as one batch, durably (acks=all
    /// semantics of this broker).
    pub async fn append_offsets_records(
        &self,
        partition: i32,
        records: Vec<(Bytes, Option<Bytes>)>,
    ) -> Result<(), PartitionError> {
        self.append_internal_records(OFFSETS_TOPIC, partition, records)
            .await
    }

    /// Append key/value records to a local partition of internal topic `topic`
    /// (`__consumer_offsets`, `__transaction_state`) as one batch, durably.
    pub async fn append_internal_records(
        &self,
        topic: &str,
        partition: i32,
        records: Vec<(Bytes, Option<Bytes>)>,
    ) -> Result<(), PartitionError> {
        if records.is_empty() {
            return Ok(());
        }
        let p = self
            .local_partition(topic, partition)
            .ok_or(PartitionError::NotLeader)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let batch = encode_offsets_batch(records, now)?;
        p.produce(&batch, self.config.acks_all_fsync)
            .await
            .map(|_| ())
    }

    /// Feed every record of a local offsets partition, in log order, to `apply`. Records of
    /// transactions (TxnOffsetCommit's transactional batches) are held per producer until
    /// their marker: fed at a COMMIT marker's place in the log, dropped at an ABORT; those
    /// still open at the end are staged again as pending transactional offsets
    /// (`groups::txn_offsets::restore`).
    pub async fn replay_offsets_partition(
        self: &Rc<Self>,
        partition: i32,
        mut apply: impl FnMut(&[u8], Option<&[u8]>),
    ) -> Result<(), PartitionError> {
        type Held = Vec<(Bytes, Option<Bytes>)>;
        let mut open: HashMap<i64, Held> = HashMap::new();
        self.replay_records(OFFSETS_TOPIC, partition, |r| {
            if r.control {
                let kind = r
                    .key
                    .as_ref()
                    .and_then(|k| k.get(2..4))
                    .map(|t| i16::from_be_bytes([t[0], t[1]]));
                if let Some(held) = open.remove(&r.producer_id) {
                    if kind == Some(crate::txn::markers::CONTROL_COMMIT) {
                        for (k, v) in held {
                            apply(&k, v.as_deref());
                        }
                    }
                }
            } else if let Some(key) = &r.key {
                if r.transactional {
                    open.entry(r.producer_id)
                        .or_default()
                        .push((key.clone(), r.value.clone()));
                } else {
                    apply(key, r.value.as_deref());
                }
            }
        })
        .await?;
        for (producer_id, held) in open {
            crate::groups::txn_offsets::restore(self, partition, producer_id, held);
        }
        Ok(())
    }

    /// Feed every record of a local partition of internal topic `topic`, in log order, to
    /// `apply` (control records skipped).
    pub async fn replay_internal_partition(
        self: &Rc<Self>,
        topic: &str,
        partition: i32,
        mut apply: impl FnMut(&[u8], Option<&[u8]>),
    ) -> Result<(), PartitionError> {
        self.replay_records(topic, partition, |r| {
            if let (false, Some(key)) = (r.control, &r.key) {
                apply(key, r.value.as_deref());
            }
        })
        .await
    }

    /// Feed every record (control records included) of a local partition of `topic` from its
    /// log start to its high watermark, in log order, to `apply`.
    async fn replay_records(
        self: &Rc<Self>,
        topic: &str,
        partition: i32,
        mut apply: impl FnMut(&Record),
    ) -> Result<(), PartitionError> {
        let p = self
            .local_partition(topic, partition)
            .ok_or(PartitionError::NotLeader)?;
        let end = p.high_watermark();
        let mut offset = p.log_start_offset();
        while offset < end {
            let before = offset;
            let read = p
                .log()
                .read(offset, end, OFFSETS_REPLAY_READ_BYTES_MAX, true)
                .await?;
            if read.bytes == 0 {
                break;
            }
            {
                let mut buf = read.into_contiguous();
                while !buf.is_empty() {
                    // A cleaned batch may end in a gap past its last record (the log cleaner
                    // keeps batches' offset ranges): its header says where the next one starts.
                    if let Ok(h) = crate::log::BatchHeader::try_parse(&buf) {
                        offset = offset.max(h.next_offset());
                    }
                    let set = RecordBatchDecoder::decode(&mut buf)
                        .map_err(|_| PartitionError::Storage)?;
                    for r in &set.records {
                        offset = offset.max(r.offset + 1);
                        if r.offset < p.log_start_offset() {
                            continue;
                        }
                        apply(r);
                    }
                }
            }
            if offset <= before {
                // A read that doesn't advance would loop forever: the log is not what it claims.
                return Err(PartitionError::Storage);
            }
        }
        Ok(())
    }
}

/// Key/value records as one uncompressed v2 batch with base offset 0, as a producer would send
/// (sluice-client's batch encoder: one batch builder for the broker, the clients and the tests).
fn encode_offsets_batch(
    records: Vec<(Bytes, Option<Bytes>)>,
    now: i64,
) -> Result<Bytes, PartitionError> {
    let records: Vec<NewRecord> = records
        .into_iter()
        .map(|(key, value)| NewRecord {
            key: Some(key),
            value,
            headers: Vec::new(),
            timestamp: now,
        })
        .collect();
    encode_batch(&records, Compression::None).map_err(|_| PartitionError::InvalidRequest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_records_make_one_valid_batch() {
        let records = (0..5)
            .map(|i| {
                let value = (i % 2 == 0).then(|| Bytes::from(vec![i as u8; 3]));
                (Bytes::from(vec![i as u8]), value)
            })
            .collect();
        let batch = encode_offsets_batch(records, 1).unwrap();
        let h = crate::log::format::validate_produced(&batch, 1 << 20).unwrap();
        assert_eq!(h.last_offset_delta, 4);
        assert_eq!(h.base_sequence, -1);
        let mut b = batch.clone();
        let set = RecordBatchDecoder::decode(&mut b).unwrap();
        assert_eq!(set.records.len(), 5);
        assert!(set.records[1].value.is_none(), "tombstones survive");
    }
}
