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
use crate::groups::txn_offsets::HeldRecord;
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
    ///
    /// These are plain records (commits, tombstones, group metadata): a transaction's staged
    /// offset of the same key written earlier in the log is superseded by them
    /// (`groups::txn_offsets`).
    pub async fn append_offsets_records(
        &self,
        partition: i32,
        records: Vec<(Bytes, Option<Bytes>)>,
    ) -> Result<(), PartitionError> {
        // Keys are only needed while some transaction has staged offsets here.
        let keys: Vec<Bytes> = if self.txn_offsets.is_empty() {
            Vec::new()
        } else {
            records.iter().map(|(k, _)| k.clone()).collect()
        };
        let base = self
            .append_internal_records_at(OFFSETS_TOPIC, partition, records)
            .await?;
        if let Some(base) = base.filter(|_| !keys.is_empty()) {
            self.txn_offsets.superseded_by(partition, &keys, base);
        }
        Ok(())
    }

    /// Append key/value records to a local partition of internal topic `topic`
    /// (`__consumer_offsets`, `__transaction_state`) as one batch, durably.
    pub async fn append_internal_records(
        &self,
        topic: &str,
        partition: i32,
        records: Vec<(Bytes, Option<Bytes>)>,
    ) -> Result<(), PartitionError> {
        self.append_internal_records_at(topic, partition, records)
            .await
            .map(|_| ())
    }

    /// [`Shard::append_internal_records`], answering the batch's base offset (None when there
    /// was nothing to append).
    async fn append_internal_records_at(
        &self,
        topic: &str,
        partition: i32,
        records: Vec<(Bytes, Option<Bytes>)>,
    ) -> Result<Option<i64>, PartitionError> {
        if records.is_empty() {
            return Ok(None);
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
            .map(|a| Some(a.base_offset))
    }

    /// Feed every record of a local offsets partition, in log order, to `apply`. Records of
    /// transactions (TxnOffsetCommit's transactional batches) are held per producer until
    /// their marker: fed at a COMMIT marker's place in the log, dropped at an ABORT; those
    /// still open at the end are staged again as pending transactional offsets
    /// (`groups::txn_offsets::restore`).
    ///
    /// A plain record (OffsetCommit) written later in the log than a held transactional
    /// record of the same key wins over it, whenever the transaction commits: Kafka compares
    /// the two commits' log positions (`CommitRecordMetadataAndOffset.olderThan`), so the
    /// held record is dropped then and there. (For a transaction still open at the end,
    /// Kafka keeps that partition pending until the marker; here it is no longer staged.)
    pub async fn replay_offsets_partition(
        self: &Rc<Self>,
        partition: i32,
        apply: impl FnMut(&[u8], Option<&[u8]>),
    ) -> Result<(), PartitionError> {
        let mut replay = OffsetsReplay::new(apply);
        self.replay_records(OFFSETS_TOPIC, partition, |r| replay.record(r))
            .await?;
        for (producer_id, held) in replay.open {
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

/// Records held per producer until its marker, in log order.
type Held = Vec<HeldRecord>;

/// The replay of one `__consumer_offsets` partition, record by record in log order (see
/// `Shard::replay_offsets_partition`). Lives on the partition's owner shard, for one replay.
struct OffsetsReplay<F> {
    apply: F,
    /// Producer id → its open transaction's offset records, in log order.
    open: HashMap<i64, Held>,
    /// Key → how many held records (of any producer) have it, so a plain record only
    /// searches the held lists when one of them holds its key.
    held_keys: HashMap<Bytes, usize>,
}

impl<F: FnMut(&[u8], Option<&[u8]>)> OffsetsReplay<F> {
    fn new(apply: F) -> Self {
        OffsetsReplay {
            apply,
            open: HashMap::new(),
            held_keys: HashMap::new(),
        }
    }

    fn record(&mut self, r: &Record) {
        if r.control {
            let kind = r
                .key
                .as_ref()
                .and_then(|k| k.get(2..4))
                .map(|t| i16::from_be_bytes([t[0], t[1]]));
            if let Some(held) = self.open.remove(&r.producer_id) {
                for h in &held {
                    self.forget_key(&h.key);
                }
                if kind == Some(crate::txn::markers::CONTROL_COMMIT) {
                    for h in held.into_iter().filter(|h| !h.superseded) {
                        (self.apply)(&h.key, h.value.as_deref());
                    }
                }
            }
        } else if let Some(key) = &r.key {
            if r.transactional {
                self.open
                    .entry(r.producer_id)
                    .or_default()
                    .push(HeldRecord {
                        key: key.clone(),
                        value: r.value.clone(),
                        offset: r.offset,
                        superseded: false,
                    });
                *self.held_keys.entry(key.clone()).or_default() += 1;
            } else {
                if self.held_keys.contains_key(key) {
                    // Later in the log than every held record of this key: it wins. The
                    // held ones stay (their transactions are still open on the partition)
                    // but are not applied at a COMMIT.
                    for h in self.open.values_mut().flatten() {
                        if h.key == *key {
                            h.superseded = true;
                        }
                    }
                }
                (self.apply)(key, r.value.as_deref());
            }
        }
    }

    fn forget_key(&mut self, key: &Bytes) {
        if let Some(n) = self.held_keys.get_mut(key) {
            *n -= 1;
            if *n == 0 {
                self.held_keys.remove(key);
            }
        }
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

    fn record(offset: i64, producer_id: i64, key: &str, value: Option<&str>) -> Record {
        Record {
            transactional: producer_id >= 0,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id,
            producer_epoch: 0,
            timestamp_type: kafka_protocol::records::TimestampType::Creation,
            offset,
            sequence: -1,
            timestamp: 0,
            key: Some(Bytes::from(key.to_string())),
            value: value.map(|v| Bytes::from(v.to_string())),
            headers: Default::default(),
        }
    }

    fn marker(offset: i64, producer_id: i64, commit: bool) -> Record {
        let kind = if commit {
            crate::txn::markers::CONTROL_COMMIT
        } else {
            crate::txn::markers::CONTROL_ABORT
        };
        let mut key = vec![0u8, 0];
        key.extend(kind.to_be_bytes());
        Record {
            control: true,
            key: Some(Bytes::from(key)),
            value: None,
            ..record(offset, producer_id, "", None)
        }
    }

    /// (key, value) as replay applied them.
    type Applied = Vec<(String, Option<String>)>;

    /// Replays `records` and returns what was applied, in order, and what stayed open.
    fn replay(records: &[Record]) -> (Applied, HashMap<i64, Held>) {
        let mut applied = Vec::new();
        let mut r = OffsetsReplay::new(|k: &[u8], v: Option<&[u8]>| {
            applied.push((
                String::from_utf8_lossy(k).into_owned(),
                v.map(|v| String::from_utf8_lossy(v).into_owned()),
            ))
        });
        for rec in records {
            r.record(rec);
        }
        let open = std::mem::take(&mut r.open);
        drop(r);
        (applied, open)
    }

    #[test]
    fn a_plain_commit_later_in_the_log_wins_over_a_transaction_committed_after_it() {
        let last = |applied: &[(String, Option<String>)], key: &str| {
            applied
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .and_then(|(_, v)| v.clone())
        };
        // txn offset at 0, plain commit at 1, COMMIT marker at 2: the plain one (later) wins.
        let (applied, open) = replay(&[
            record(0, 7, "g/t/0", Some("txn")),
            record(1, -1, "g/t/0", Some("plain")),
            record(2, 7, "g/t/1", Some("txn-other")),
            marker(3, 7, true),
        ]);
        assert_eq!(last(&applied, "g/t/0").as_deref(), Some("plain"));
        assert_eq!(last(&applied, "g/t/1").as_deref(), Some("txn-other"));
        assert!(open.is_empty());
        // Plain commit first, then the transaction's: the transaction's (later) wins.
        let (applied, _) = replay(&[
            record(0, -1, "g/t/0", Some("plain")),
            record(1, 7, "g/t/0", Some("txn")),
            marker(2, 7, true),
        ]);
        assert_eq!(last(&applied, "g/t/0").as_deref(), Some("txn"));
        // An abort applies nothing; a plain tombstone later also beats a committed record.
        let (applied, _) = replay(&[
            record(0, 7, "g/t/0", Some("aborted")),
            marker(1, 7, false),
            record(2, 8, "g/t/0", Some("txn")),
            record(3, -1, "g/t/0", None),
            marker(4, 8, true),
        ]);
        assert_eq!(last(&applied, "g/t/0"), None);
        assert!(!applied.iter().any(|(_, v)| v.as_deref() == Some("aborted")));
        // Still open at the end: held, marked where a later plain record superseded it.
        let (_, open) = replay(&[
            record(0, 9, "g/t/0", Some("txn")),
            record(1, 9, "g/t/1", Some("txn")),
            record(2, -1, "g/t/0", Some("plain")),
        ]);
        let held: Vec<(&Bytes, i64, bool)> = open[&9]
            .iter()
            .map(|h| (&h.key, h.offset, h.superseded))
            .collect();
        assert_eq!(
            held,
            vec![
                (&Bytes::from_static(b"g/t/0"), 0, true),
                (&Bytes::from_static(b"g/t/1"), 1, false)
            ]
        );
    }
}
