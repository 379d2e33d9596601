//! The internal `__consumer_offsets` topic: where group coordinators persist group metadata and
//! committed offsets, as Kafka does. Each of its partitions is owned by one shard like any
//! other; the coordinator for a group runs on the owner of the group's partition.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use sluice_client::error::ClientError;
use sluice_client::records::{encode_batch, walk_batches, Compression, NewRecord};

use super::control::{ControlError, NewTopic};
use super::Shard;
use crate::groups::txn_offsets::HeldRecord;
use crate::log::format::{self, BatchHeader};
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
        mut apply: impl FnMut(&StoredRecord),
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
            let buf = read.into_contiguous();
            match replay_batches(&buf, p.log_start_offset(), &mut apply) {
                Ok(next) => offset = offset.max(next.unwrap_or(offset)),
                Err(e) => {
                    tracing::error!(
                        topic,
                        partition,
                        read_from = before,
                        position = e.position,
                        reason = %e.reason,
                        "a damaged batch in an internal topic's log"
                    );
                    return Err(PartitionError::Storage);
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

/// One record of an internal topic's log as replay reads it ([`replay_batches`]). Key and
/// value share the read's buffer (or a compressed batch's decompressed records).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub offset: i64,
    pub producer_id: i64,
    /// Written in a transaction (TxnOffsetCommit's offsets; markers).
    pub transactional: bool,
    /// The record of a control batch: a transaction marker.
    pub control: bool,
    /// A control record's type when it is a COMMIT or ABORT marker (`txn::markers`), None
    /// for any other control record and for every data record.
    pub marker: Option<i16>,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
}

/// A batch [`replay_batches`] could not read: where in the buffer it starts, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DamagedBatch {
    pub position: usize,
    pub reason: String,
}

/// Feeds every record of `buf` (whole stored batches, as a log read returns them) at or past
/// `log_start` to `apply`, in log order; answers the offset after the last batch (None for an
/// empty buffer). A cleaned batch may end in a gap past its last record (the log cleaner keeps
/// batches' offset ranges): its header says where the next one starts.
///
/// Pure, and the one reader of what replay reads back from `__consumer_offsets` and
/// `__transaction_state`. Each batch is checked as stored (`format::check_stored`: length,
/// magic, offsets, codec, CRC), then its records walked with the bounded walker
/// (`sluice_client::records::walk_batches`: every count and length checked against the bytes
/// present, a compressed batch decompressed within `DECOMPRESSED_BATCH_BYTES_MAX`); a
/// marker's type is read by `txn::markers::control_type`. So a damaged or hostile batch (a
/// flipped bit outside the CRC, one written by another Kafka version or by a producer allowed
/// to write internal topics) is a [`DamagedBatch`], never a panic, an allocation sized by a
/// claimed count (kafka-protocol's decoder reserves `recordCount` records up front) or a loop.
pub fn replay_batches(
    buf: &Bytes,
    log_start: i64,
    mut apply: impl FnMut(&StoredRecord),
) -> Result<Option<i64>, DamagedBatch> {
    let mut pos = 0usize;
    let mut next: Option<i64> = None;
    while pos < buf.len() {
        let damaged = |reason: String| DamagedBatch {
            position: pos,
            reason,
        };
        let rest = buf.get(pos..).unwrap_or_default();
        let total = BatchHeader::try_parse(rest)
            .map_err(|e| damaged(format!("{e:?}")))?
            .total_bytes()
            .filter(|t| *t <= rest.len())
            .ok_or_else(|| damaged(format!("a batch cut short: {} bytes left", rest.len())))?;
        let batch = buf.slice(pos..pos + total);
        let h = format::check_stored(&batch).map_err(|e| damaged(format!("{e:?}")))?;
        if h.is_control() {
            if h.record_count > 0 && h.base_offset >= log_start {
                apply(&StoredRecord {
                    offset: h.base_offset,
                    producer_id: h.producer_id,
                    transactional: h.is_transactional(),
                    control: true,
                    marker: crate::txn::markers::control_type(&h, &batch),
                    key: None,
                    value: None,
                });
            }
        } else {
            walk_batches(&batch, |r| {
                if r.offset >= log_start {
                    apply(&StoredRecord {
                        offset: r.offset,
                        producer_id: h.producer_id,
                        transactional: h.is_transactional(),
                        control: false,
                        marker: None,
                        key: r.key.map(|k| r.share(k)),
                        value: r.value.map(|v| r.share(v)),
                    });
                }
                Ok::<(), ClientError>(())
            })
            .map_err(|e| damaged(e.to_string()))?;
        }
        // Saturating: a base offset outside the CRC may be anything.
        let batch_end = h
            .base_offset
            .saturating_add(i64::from(h.last_offset_delta))
            .saturating_add(1);
        next = Some(next.map_or(batch_end, |n| n.max(batch_end)));
        pos += total;
    }
    Ok(next)
}

/// Records held per producer until its marker, in log order.
pub type Held = Vec<HeldRecord>;

/// The replay of one `__consumer_offsets` partition, record by record in log order (see
/// `Shard::replay_offsets_partition`). Lives on the partition's owner shard, for one replay.
/// Public for the fuzz target and tests that replay hostile batches through it.
pub struct OffsetsReplay<F> {
    apply: F,
    /// Producer id → its open transaction's offset records, in log order.
    pub open: HashMap<i64, Held>,
    /// Key → how many held records (of any producer) have it, so a plain record only
    /// searches the held lists when one of them holds its key.
    held_keys: HashMap<Bytes, usize>,
}

impl<F: FnMut(&[u8], Option<&[u8]>)> OffsetsReplay<F> {
    pub fn new(apply: F) -> Self {
        OffsetsReplay {
            apply,
            open: HashMap::new(),
            held_keys: HashMap::new(),
        }
    }

    /// Feed one record, in log order.
    pub fn record(&mut self, r: &StoredRecord) {
        if r.control {
            if let Some(held) = self.open.remove(&r.producer_id) {
                for h in &held {
                    self.forget_key(&h.key);
                }
                if r.marker == Some(crate::txn::markers::CONTROL_COMMIT) {
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
    use kafka_protocol::records::RecordBatchDecoder;

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

    fn record(offset: i64, producer_id: i64, key: &str, value: Option<&str>) -> StoredRecord {
        StoredRecord {
            offset,
            producer_id,
            transactional: producer_id >= 0,
            control: false,
            marker: None,
            key: Some(Bytes::from(key.to_string())),
            value: value.map(|v| Bytes::from(v.to_string())),
        }
    }

    fn marker(offset: i64, producer_id: i64, commit: bool) -> StoredRecord {
        let kind = if commit {
            crate::txn::markers::CONTROL_COMMIT
        } else {
            crate::txn::markers::CONTROL_ABORT
        };
        StoredRecord {
            control: true,
            marker: Some(kind),
            key: None,
            value: None,
            ..record(offset, producer_id, "", None)
        }
    }

    /// (key, value) as replay applied them.
    type Applied = Vec<(String, Option<String>)>;

    /// Replays `records` and returns what was applied, in order, and what stayed open.
    fn replay(records: &[StoredRecord]) -> (Applied, HashMap<i64, Held>) {
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

    /// A stored batch: `records` (None values are tombstones) from `producer` at `base`.
    fn stored(
        base: i64,
        producer: sluice_client::records::ProducerFields,
        records: &[(&str, Option<&str>)],
    ) -> Vec<u8> {
        let records: Vec<NewRecord> = records
            .iter()
            .map(|(k, v)| NewRecord {
                key: Some(Bytes::from(k.to_string())),
                value: v.map(|v| Bytes::from(v.to_string())),
                headers: Vec::new(),
                timestamp: 1,
            })
            .collect();
        let mut b = sluice_client::records::encode_batch_as(&records, Compression::None, producer)
            .unwrap()
            .to_vec();
        format::stamp(&mut b, base, 0);
        b
    }

    fn txn_producer(id: i64) -> sluice_client::records::ProducerFields {
        sluice_client::records::ProducerFields {
            id,
            epoch: 0,
            base_sequence: 0,
            transactional: true,
        }
    }

    /// Plain, transactional and marker batches as a log read returns them.
    fn log() -> Vec<u8> {
        let mut buf = stored(
            0,
            sluice_client::records::ProducerFields::NONE,
            &[("a", Some("1")), ("b", None)],
        );
        buf.extend(stored(2, txn_producer(7), &[("c", Some("2"))]));
        let mut m = crate::txn::markers::marker_batch(7, 0, true, 0, 1).to_vec();
        format::stamp(&mut m, 3, 0);
        buf.extend(m);
        buf
    }

    #[test]
    fn replay_reads_plain_transactional_and_marker_batches() {
        let buf = Bytes::from(log());
        let mut seen = Vec::new();
        let next = replay_batches(&buf, 0, |r| seen.push(r.clone())).unwrap();
        assert_eq!(next, Some(4));
        let brief: Vec<_> = seen
            .iter()
            .map(|r| {
                (
                    r.offset,
                    r.producer_id,
                    r.transactional,
                    r.control,
                    r.marker,
                    r.key.clone(),
                    r.value.clone(),
                )
            })
            .collect();
        let b = |s: &'static str| Some(Bytes::from_static(s.as_bytes()));
        assert_eq!(
            brief,
            vec![
                (0, -1, false, false, None, b("a"), b("1")),
                (1, -1, false, false, None, b("b"), None),
                (2, 7, true, false, None, b("c"), b("2")),
                (
                    3,
                    7,
                    true,
                    true,
                    Some(crate::txn::markers::CONTROL_COMMIT),
                    None,
                    None
                ),
            ]
        );
        // Records below the log start are skipped; the end is still the last batch's.
        let mut offsets = Vec::new();
        assert_eq!(
            replay_batches(&buf, 2, |r| offsets.push(r.offset)),
            Ok(Some(4))
        );
        assert_eq!(offsets, vec![2, 3]);
        // Through the offsets replay: the transaction's record is applied at its COMMIT.
        let mut applied = Vec::new();
        let mut replay = OffsetsReplay::new(|k: &[u8], v: Option<&[u8]>| {
            applied.push((k.to_vec(), v.map(<[u8]>::to_vec)))
        });
        replay_batches(&buf, 0, |r| replay.record(r)).unwrap();
        assert!(replay.open.is_empty());
        drop(replay);
        assert_eq!(applied.len(), 3);
        assert_eq!(applied[2], (b"c".to_vec(), Some(b"2".to_vec())));
    }

    #[test]
    fn every_cut_of_the_log_is_an_error_or_whole_batches() {
        let buf = log();
        let first = stored(
            0,
            sluice_client::records::ProducerFields::NONE,
            &[("a", Some("1")), ("b", None)],
        )
        .len();
        let second = first + stored(2, txn_producer(7), &[("c", Some("2"))]).len();
        for cut in 0..=buf.len() {
            let r = replay_batches(&Bytes::copy_from_slice(&buf[..cut]), 0, |_| {});
            match cut {
                0 => assert_eq!(r, Ok(None)),
                c if c == first => assert_eq!(r, Ok(Some(2))),
                c if c == second => assert_eq!(r, Ok(Some(3))),
                c if c == buf.len() => assert_eq!(r, Ok(Some(4))),
                _ => assert!(r.is_err(), "cut at {cut}: {r:?}"),
            }
        }
    }

    /// Recomputes a stored batch's CRC after its header was changed.
    fn reseal(b: &mut [u8]) {
        let crc = format::batch_crc(b);
        b[format::CRC_AT..format::CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    }

    /// CRC-valid batches whose counts lie: kafka-protocol's decoder, which replay used before,
    /// reserves the claimed records (and a record's claimed headers) before reading one and
    /// aborts the process on the allocation. Each must be a `DamagedBatch` instead.
    #[test]
    fn batches_with_lying_counts_are_refused_without_allocating() {
        let plain = sluice_client::records::ProducerFields::NONE;
        // i32::MAX records claimed in a one-record batch (offset delta consistent with it).
        let mut b = stored(0, plain, &[("k", Some("v"))]);
        b[format::LAST_OFFSET_DELTA_AT..format::LAST_OFFSET_DELTA_AT + 4]
            .copy_from_slice(&(i32::MAX - 1).to_be_bytes());
        b[format::RECORD_COUNT_AT..format::RECORD_COUNT_AT + 4]
            .copy_from_slice(&i32::MAX.to_be_bytes());
        reseal(&mut b);
        let r = replay_batches(&Bytes::from(b), 0, |_| panic!("no record is applied"));
        assert!(r.is_err(), "{r:?}");
        // A record claiming i32::MAX headers: its last byte is the header count (0 here).
        let mut b = stored(0, plain, &[("k", Some("v"))]);
        let last = b.len() - 1;
        assert_eq!(b[last], 0, "no headers");
        b.truncate(last);
        b.extend([0xfe, 0xff, 0xff, 0xff, 0x0f]); // zigzag varint of i32::MAX
                                                  // The record's own length grew by 4 (a one-byte varint at the body's start).
        b[format::BATCH_HEADER_BYTES] += 2 * 4;
        let len = i32::try_from(b.len() - format::BATCH_LOG_OVERHEAD_BYTES).unwrap();
        b[format::BATCH_LENGTH_AT..format::BATCH_LENGTH_AT + 4].copy_from_slice(&len.to_be_bytes());
        reseal(&mut b);
        let r = replay_batches(&Bytes::from(b), 0, |_| panic!("no record is applied"));
        assert!(r.is_err(), "{r:?}");
        // A flipped bit under the CRC is refused by it.
        let mut b = stored(0, plain, &[("k", Some("v"))]);
        let at = b.len() - 2;
        b[at] ^= 1;
        let r = replay_batches(&Bytes::from(b), 0, |_| panic!("no record is applied"));
        assert!(r.unwrap_err().reason.contains("Crc"));
        // A base offset near i64::MAX (outside the CRC) does not overflow the end offset.
        let b = stored(i64::MAX - 1, plain, &[("k", Some("v")), ("l", None)]);
        assert_eq!(
            replay_batches(&Bytes::from(b), 0, |_| {}),
            Ok(Some(i64::MAX))
        );
    }
}
