//! A partition: its log plus the offsets and producer state the broker keeps on top of it.
//!
//! Lives on the partition's owner shard only (`!Send`, shared as `Rc`).

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use bytes::Bytes;
use futures::channel::oneshot;

use crate::log::validate::{self, Policy, TimestampType};
use crate::log::{format, BatchHeader, Log, ReadResult, SendReadResult};
use crate::metrics::Traffic;
use crate::protocol::errors::PartitionError;
use crate::txn::partition_state::{AbortedTxn, PartitionTxns, TxnProduceError};

mod producer_snapshot;
mod txn_state;
#[cfg(test)]
mod txn_tests;

/// `sequence + increment` as Kafka counts producer sequences: past i32::MAX they wrap to 0, not
/// to i32::MIN (Kafka's `DefaultRecordBatch.incrementSequence`), so a producer that has sent
/// 2^31 records in one epoch goes on at 0. Validated batches never have a negative increment
/// (lastOffsetDelta = records - 1); one is taken as 0 rather than trusted.
pub fn increment_sequence(sequence: i32, increment: i32) -> i32 {
    let increment = increment.max(0);
    if sequence > i32::MAX - increment {
        increment - (i32::MAX - sequence) - 1
    } else {
        sequence + increment
    }
}

pub use crate::limits::PRODUCER_BATCHES_REMEMBERED_MAX;

/// Idempotent-producer state for one producer id on one partition.
#[derive(Debug, Default)]
struct ProducerEntry {
    epoch: i16,
    /// Max timestamp of the producer's newest batch here (DescribeProducers).
    last_timestamp: i64,
    /// (first sequence, last sequence, base offset, max timestamp as stored) of the newest
    /// batches, oldest first.
    batches: VecDeque<(i32, i32, i64, i64)>,
}

impl ProducerEntry {
    fn last_sequence(&self) -> Option<i32> {
        self.batches.back().map(|b| b.1)
    }

    fn remember(&mut self, first: i32, last: i32, base_offset: i64, max_timestamp: i64) {
        if self.batches.len() == PRODUCER_BATCHES_REMEMBERED_MAX {
            self.batches.pop_front();
        }
        self.batches
            .push_back((first, last, base_offset, max_timestamp));
    }
}

/// Outcome of an idempotence check.
enum SequenceCheck {
    Append,
    /// The earlier append's base offset and stored max timestamp.
    Duplicate(i64, i64),
}

/// What a produce returns for one partition.
#[derive(Debug, Clone)]
pub struct Appended {
    pub base_offset: i64,
    pub log_start_offset: i64,
    /// The broker time stamped into the batch on a LogAppendTime topic, else -1 (Produce's
    /// `log_append_time_ms`).
    pub log_append_time_ms: i64,
}

/// What a fetch returns for one partition (`!Send`: its records may be slices of this shard's
/// read buffers).
#[derive(Debug, Default)]
pub struct Fetched {
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    /// Aborted transactions the records may hold (read_committed fetches only).
    pub aborted: Vec<AbortedTxn>,
    pub records: ReadResult,
}

/// A [`Fetched`] answered for another shard (records copied out of the read buffers).
#[derive(Debug, Default)]
pub struct SendFetched {
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    pub aborted: Vec<AbortedTxn>,
    pub records: SendReadResult,
}

impl Fetched {
    pub fn into_send(self) -> SendFetched {
        SendFetched {
            high_watermark: self.high_watermark,
            last_stable_offset: self.last_stable_offset,
            log_start_offset: self.log_start_offset,
            aborted: self.aborted,
            records: self.records.into_send(),
        }
    }
}

impl SendFetched {
    pub fn into_local(self) -> Fetched {
        Fetched {
            high_watermark: self.high_watermark,
            last_stable_offset: self.last_stable_offset,
            log_start_offset: self.log_start_offset,
            aborted: self.aborted,
            records: self.records.into_local(),
        }
    }
}

/// Per-partition settings from topic configs (changeable at run time).
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Largest batch accepted (`max.message.bytes`).
    pub message_max_bytes: usize,
    /// fdatasync after this many messages not yet synced, whatever the acks (`flush.messages`).
    pub flush_messages: i64,
    /// fdatasync data not yet synced once it is this old (`flush.ms`).
    pub flush_ms: i64,
    pub retention: crate::log::Retention,
    /// What every produced batch's records are checked against (`log::validate`): timestamp
    /// type and window, keys on compacted topics. None only in storage tests, whose batches
    /// hold opaque bytes for records.
    pub validation: Option<Policy>,
}

#[cfg(test)]
impl Settings {
    /// The partition and storage tests' settings: batches up to 1 MiB, no fdatasync by count
    /// or age, no retention, and no record checks (most of them write hand-made batches whose
    /// records are opaque bytes).
    pub(crate) fn for_tests() -> Settings {
        Settings {
            message_max_bytes: 1 << 20,
            flush_messages: i64::MAX,
            flush_ms: i64::MAX,
            retention: crate::log::Retention {
                retention_ms: -1,
                retention_bytes: -1,
            },
            validation: None,
        }
    }
}

/// One partition on its owner shard.
pub struct Partition {
    pub topic: String,
    pub index: i32,
    leader_epoch: Cell<i32>,
    log: Rc<Log>,
    producers: RefCell<HashMap<i64, ProducerEntry>>,
    /// Base offsets of acks=all batches whose fdatasync has not completed, in offset order.
    /// The high watermark stops at the first of them.
    unsynced_acks_all: RefCell<VecDeque<i64>>,
    /// Fetches parked on a long poll, woken by the next advance of the high watermark.
    waiters: RefCell<Vec<oneshot::Sender<()>>>,
    high_watermark: Cell<i64>,
    settings: Cell<Settings>,
    /// Messages appended since the last fdatasync covering them (for `flush.messages`).
    unflushed_messages: Cell<i64>,
    /// When the oldest unsynced append happened, ms since the epoch (for `flush.ms`).
    unflushed_since_ms: Cell<Option<i64>>,
    /// Bytes and records appended and fetched since the partition was opened here.
    traffic: Cell<Traffic>,
    /// Transactions in this partition: open ones, aborted ones, producers added by the
    /// coordinator (`txn::partition_state`).
    txns: RefCell<PartitionTxns>,
    /// Whether this partition's `transactions` flag file exists (see [`TXN_FLAG_FILE`]).
    transactional: Cell<bool>,
    /// `.txnindex` entries not written yet, in the order the markers were applied; written
    /// in that order, each to the file of the segment holding its marker at the time of the
    /// write, by whoever holds the log's `txn_index_lock` (`partition::txn_state`).
    txn_index_queue: RefCell<Vec<crate::log::txn_index::Entry>>,
}

/// A file in the partition's directory, written (durably) before its first transactional
/// batch can be appended: only partitions that have it are scanned for transactions at open.
/// Contents: `SLTX` then version 1 as a big-endian u16 (6 bytes); its presence is what counts.
pub const TXN_FLAG_FILE: &str = "transactions";
const TXN_FLAG_CONTENTS: [u8; 6] = [b'S', b'L', b'T', b'X', 0, 1];

impl Partition {
    pub fn new(
        topic: String,
        index: i32,
        leader_epoch: i32,
        log: Rc<Log>,
        settings: Settings,
    ) -> Rc<Partition> {
        let p = Partition {
            topic,
            index,
            leader_epoch: Cell::new(leader_epoch),
            high_watermark: Cell::new(log.log_end_offset()),
            log,
            producers: RefCell::new(HashMap::new()),
            unsynced_acks_all: RefCell::new(VecDeque::new()),
            waiters: RefCell::new(Vec::new()),
            settings: Cell::new(settings),
            unflushed_messages: Cell::new(0),
            unflushed_since_ms: Cell::new(None),
            traffic: Cell::new(Traffic::default()),
            txns: RefCell::new(PartitionTxns::default()),
            transactional: Cell::new(false),
            txn_index_queue: RefCell::new(Vec::new()),
        };
        p.rebuild_producer_state();
        Rc::new(p)
    }

    pub fn log(&self) -> &Rc<Log> {
        &self.log
    }

    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch.get()
    }

    pub fn set_leader_epoch(&self, epoch: i32) {
        self.leader_epoch.set(epoch);
    }

    /// Idempotent producers with state here: (producer id, epoch, last sequence, last
    /// timestamp), by producer id (DescribeProducers).
    pub fn producers(&self) -> Vec<(i64, i16, i32, i64)> {
        let mut out: Vec<(i64, i16, i32, i64)> = self
            .producers
            .borrow()
            .iter()
            .filter_map(|(id, e)| {
                e.last_sequence()
                    .map(|s| (*id, e.epoch, s, e.last_timestamp))
            })
            .collect();
        out.sort_unstable();
        out
    }

    pub fn settings(&self) -> Settings {
        self.settings.get()
    }

    pub fn set_settings(&self, settings: Settings) {
        self.settings.set(settings);
    }

    /// Offset up to which consumers may read: never past an acks=all batch whose fdatasync
    /// has not completed, and, while the log is fenced, never past its last synced end.
    pub fn high_watermark(&self) -> i64 {
        let hw = self.high_watermark.get();
        self.log.fenced_at().map_or(hw, |fence| hw.min(fence))
    }

    /// Whether the log is fenced after a failed write or fdatasync (until housekeeping
    /// reopens it).
    pub fn is_fenced(&self) -> bool {
        self.log.is_failed()
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log.log_start_offset()
    }

    pub fn log_end_offset(&self) -> i64 {
        self.log.log_end_offset()
    }

    /// Bytes and records in and out since the partition was opened on this shard.
    pub fn traffic(&self) -> Traffic {
        self.traffic.get()
    }

    fn rebuild_producer_state(&self) {
        let mut producers = self.producers.borrow_mut();
        for h in self.log.recovered_tail() {
            if h.producer_id < 0 || h.base_sequence < 0 {
                continue;
            }
            let e = producers.entry(h.producer_id).or_default();
            if h.producer_epoch != e.epoch {
                e.batches.clear();
            }
            e.epoch = h.producer_epoch;
            e.last_timestamp = h.max_timestamp;
            e.remember(
                h.base_sequence,
                increment_sequence(h.base_sequence, h.last_offset_delta),
                h.base_offset,
                h.max_timestamp,
            );
        }
    }

    fn check_sequence(&self, h: &BatchHeader) -> Result<SequenceCheck, PartitionError> {
        if h.producer_id < 0 || h.base_sequence < 0 {
            return Ok(SequenceCheck::Append);
        }
        let producers = self.producers.borrow();
        let Some(e) = producers.get(&h.producer_id) else {
            // Unknown producer here (first write, or its state aged out of the log):
            // accept any sequence, as Kafka does since KIP-360.
            return Ok(SequenceCheck::Append);
        };
        if h.producer_epoch < e.epoch {
            return Err(PartitionError::InvalidProducerEpoch);
        }
        if h.producer_epoch > e.epoch {
            return if h.base_sequence == 0 {
                Ok(SequenceCheck::Append)
            } else {
                Err(PartitionError::OutOfOrderSequence)
            };
        }
        let last = increment_sequence(h.base_sequence, h.last_offset_delta);
        if let Some(&(_, _, base, timestamp)) = e
            .batches
            .iter()
            .find(|b| b.0 == h.base_sequence && b.1 == last)
        {
            return Ok(SequenceCheck::Duplicate(base, timestamp));
        }
        match e.last_sequence() {
            Some(prev) if h.base_sequence != increment_sequence(prev, 1) => {
                Err(PartitionError::OutOfOrderSequence)
            }
            _ => Ok(SequenceCheck::Append),
        }
    }

    fn record_sequence(&self, h: &BatchHeader, base_offset: i64) {
        if h.producer_id < 0 || h.base_sequence < 0 {
            return;
        }
        let mut producers = self.producers.borrow_mut();
        let e = producers.entry(h.producer_id).or_default();
        if h.producer_epoch != e.epoch {
            e.batches.clear();
            e.epoch = h.producer_epoch;
        }
        e.remember(
            h.base_sequence,
            increment_sequence(h.base_sequence, h.last_offset_delta),
            base_offset,
            h.max_timestamp,
        );
        e.last_timestamp = h.max_timestamp;
    }

    /// Validate and append one produce record set. `sync` = acks=all with fsync: resolve only
    /// after an fdatasync covering the batch.
    pub async fn produce(
        self: &Rc<Self>,
        records: &Bytes,
        sync: bool,
    ) -> Result<Appended, PartitionError> {
        let settings = self.settings.get();
        let header =
            format::validate_produced(records, settings.message_max_bytes).map_err(|e| {
                tracing::debug!(topic = %self.topic, partition = self.index, error = %e, "produce batch refused");
                PartitionError::Batch(e)
            })?;
        self.check_transactional(&header)?;
        let mut log_append_time_ms = -1;
        let (records, header) = match settings.validation {
            None => (records.clone(), header),
            Some(policy) => {
                let now = crate::log::now_ms();
                if policy.timestamp_type == TimestampType::LogAppendTime {
                    log_append_time_ms = now;
                }
                let stamp = validate::check_records(
                    records,
                    &header,
                    &policy,
                    now,
                    &self.topic,
                    self.index,
                )
                .map_err(|r| {
                    tracing::debug!(topic = %self.topic, partition = self.index, refusal = ?r, "produce records refused");
                    PartitionError::Refused(Box::new(r))
                })?;
                match stamp {
                    None => (records.clone(), header),
                    Some(stamp) => {
                        // Attributes and max timestamp lie inside the CRC'd range: the batch is
                        // stored as a stamped copy with its CRC recomputed (Kafka rewrites it in
                        // place), never on the common CreateTime path.
                        let stamped = validate::stamped(records, stamp);
                        let header =
                            BatchHeader::try_parse(&stamped).map_err(PartitionError::Batch)?;
                        debug_assert_eq!(header.max_timestamp, stamp.max_timestamp);
                        (stamped, header)
                    }
                }
            }
        };
        let records = &records;
        let base_offset = match self.check_sequence(&header)? {
            SequenceCheck::Duplicate(base, timestamp) => {
                // Kafka answers a retried batch with the first append's offset and time.
                return Ok(Appended {
                    base_offset: base,
                    log_start_offset: self.log_start_offset(),
                    log_append_time_ms: if log_append_time_ms >= 0 {
                        timestamp
                    } else {
                        -1
                    },
                });
            }
            SequenceCheck::Append => {
                let (base, written) = self.log.append(records, &header, self.leader_epoch());
                if base >= 0 {
                    self.snapshot_if_rolled(base);
                }
                self.record_sequence(&header, base);
                if base >= 0 {
                    self.txns.borrow_mut().on_data(&header, base);
                }
                if sync {
                    self.unsynced_acks_all.borrow_mut().push_back(base);
                }
                let result = written.await;
                if let Err(e) = result {
                    tracing::error!(topic = %self.topic, partition = self.index, error = %e, "append failed");
                    // The log forgot this batch and all after it: so does producer state. (A
                    // refused append, base -1, forgot nothing.)
                    if base >= 0 {
                        for entry in self.producers.borrow_mut().values_mut() {
                            entry.batches.retain(|b| b.2 < base);
                        }
                        self.unsynced_acks_all.borrow_mut().retain(|b| *b < base);
                        self.txns.borrow_mut().forget_from(base);
                    }
                    return Err(PartitionError::Storage);
                }
                if !sync {
                    self.note_unflushed(&header, settings).await;
                }
                if sync {
                    let synced = self.log.sync().await;
                    self.unsynced_acks_all
                        .borrow_mut()
                        .retain(|b| *b >= self.log.synced_end_offset());
                    if let Err(e) = synced {
                        // The log is fenced at its last synced end. The batch stays pending, so
                        // the high watermark never passes it; parked fetches wake to see the
                        // fence. Housekeeping reopens the log from what is on disk.
                        tracing::error!(topic = %self.topic, partition = self.index, error = %e, "fdatasync failed; partition fenced");
                        self.wake_fetchers();
                        return Err(PartitionError::Storage);
                    }
                }
                self.advance_high_watermark();
                let mut t = self.traffic.get();
                t.bytes_in += records.len() as u64;
                t.records_in += u64::try_from(header.record_count).unwrap_or(0);
                self.traffic.set(t);
                base
            }
        };
        Ok(Appended {
            base_offset,
            log_start_offset: self.log_start_offset(),
            log_append_time_ms,
        })
    }

    /// KIP-890 part 1: a transactional batch is appended only for a producer the coordinator
    /// added this partition for, at that epoch. Control batches come from the coordinator alone.
    fn check_transactional(&self, header: &BatchHeader) -> Result<(), PartitionError> {
        if header.is_control() {
            return Err(PartitionError::InvalidRequest);
        }
        match self.txns.borrow().check_produce(header) {
            Ok(()) => Ok(()),
            Err(TxnProduceError::StaleEpoch) => Err(PartitionError::InvalidProducerEpoch),
            Err(TxnProduceError::NotInTransaction) => Err(PartitionError::InvalidTxnState),
        }
    }

    /// The transaction coordinator added this partition to `producer_id`'s transaction: write
    /// the flag file first if this is the partition's first transaction, then accept the
    /// producer's transactional batches.
    pub async fn txn_add(
        &self,
        pool: &crate::shard::blocking::BlockingPool,
        producer_id: i64,
        epoch: i16,
    ) -> Result<(), PartitionError> {
        if !self.transactional.get() {
            crate::log::file_ops::replace_file(
                pool,
                self.log.dir(),
                TXN_FLAG_FILE,
                TXN_FLAG_CONTENTS.to_vec(),
            )
            .await
            .map_err(|e| {
                tracing::error!(topic = %self.topic, partition = self.index, error = %e, "writing the transactions flag file");
                PartitionError::Storage
            })?;
            self.transactional.set(true);
        }
        self.txns.borrow_mut().add(producer_id, epoch);
        Ok(())
    }

    /// Open transactions here: (producer id, first offset).
    pub fn txn_ongoing(&self) -> Vec<(i64, i64)> {
        self.txns.borrow().ongoing()
    }

    /// The offset below which every transaction is decided: the high watermark, or the first
    /// offset of the oldest open transaction if that is lower.
    pub fn last_stable_offset(&self) -> i64 {
        let hw = self.high_watermark();
        self.txns
            .borrow()
            .first_unstable_offset()
            .map_or(hw, |first| first.min(hw))
    }

    /// Append the COMMIT or ABORT marker ending `producer_id`'s transaction, durably (the
    /// coordinator completes the transaction only after every marker is on disk). Written even
    /// when the producer has nothing here: a marker also fences the producer's older epochs.
    pub async fn append_marker(
        self: &Rc<Self>,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        coordinator_epoch: i32,
    ) -> Result<i64, PartitionError> {
        let batch = crate::txn::markers::marker_batch(
            producer_id,
            epoch,
            commit,
            coordinator_epoch,
            crate::log::now_ms(),
        );
        let base = self.append_durable(&batch, "a transaction marker").await?;
        {
            let mut producers = self.producers.borrow_mut();
            let e = producers.entry(producer_id).or_default();
            if epoch > e.epoch {
                e.epoch = epoch;
                e.batches.clear();
            }
        }
        let aborted = self
            .txns
            .borrow_mut()
            .on_marker(producer_id, epoch, commit, base);
        self.advance_high_watermark();
        if let Some(txn) = aborted {
            self.index_abort(txn).await;
        }
        // The last stable offset may have moved without the high watermark: wake read_committed
        // fetches either way.
        self.wake_fetchers();
        Ok(base)
    }

    /// A transactional offset commit (TxnOffsetCommit, KIP-98) of `producer_id` at `epoch`:
    /// `records` appended to this `__consumer_offsets` partition as one transactional batch
    /// under the producer, durably, as Kafka's group coordinator writes them. The batch opens
    /// the producer's transaction here (the last stable offset stays below it) until the
    /// COMMIT or ABORT marker. No sequence check: the coordinator writes it, not a client.
    pub async fn append_txn_offsets(
        &self,
        producer_id: i64,
        epoch: i16,
        records: Vec<(Bytes, Option<Bytes>)>,
    ) -> Result<i64, PartitionError> {
        let now = crate::log::now_ms();
        let records: Vec<sluice_client::records::NewRecord> = records
            .into_iter()
            .map(|(key, value)| sluice_client::records::NewRecord {
                key: Some(key),
                value,
                headers: Vec::new(),
                timestamp: now,
            })
            .collect();
        let producer = sluice_client::records::ProducerFields {
            id: producer_id,
            epoch,
            base_sequence: -1,
            transactional: true,
        };
        let batch = sluice_client::records::encode_batch_as(
            &records,
            sluice_client::records::Compression::None,
            producer,
        )
        .map_err(|_| PartitionError::InvalidRequest)?;
        let header =
            format::validate_produced(&batch, usize::MAX).map_err(PartitionError::Batch)?;
        match self.txns.borrow().check_produce(&header) {
            Ok(()) => {}
            Err(TxnProduceError::StaleEpoch) => return Err(PartitionError::InvalidProducerEpoch),
            Err(TxnProduceError::NotInTransaction) => return Err(PartitionError::InvalidTxnState),
        }
        self.append_durable(&batch, "transactional offsets").await
    }

    /// Append a batch the broker built itself (a marker, transactional offsets) and fdatasync
    /// it; the partition's transaction state learns of a transactional data batch.
    async fn append_durable(&self, batch: &Bytes, what: &str) -> Result<i64, PartitionError> {
        let header = format::validate_produced(batch, usize::MAX).map_err(PartitionError::Batch)?;
        let (base, written) = self.log.append(batch, &header, self.leader_epoch());
        if base < 0 {
            return Err(PartitionError::Storage);
        }
        self.snapshot_if_rolled(base);
        self.unsynced_acks_all.borrow_mut().push_back(base);
        let result = match written.await {
            Ok(()) => self.log.sync().await,
            Err(e) => Err(e),
        };
        self.unsynced_acks_all
            .borrow_mut()
            .retain(|b| *b >= self.log.synced_end_offset());
        if let Err(e) = result {
            tracing::error!(topic = %self.topic, partition = self.index, error = %e, "writing {what}");
            self.wake_fetchers();
            return Err(PartitionError::Storage);
        }
        if !header.is_control() {
            self.txns.borrow_mut().on_data(&header, base);
            self.advance_high_watermark();
        }
        Ok(base)
    }

    /// Count acks=0/1 data not yet synced; sync once `flush.messages` is reached (Kafka's
    /// log.flush.interval.messages). The produce answers only after that sync, as in Kafka.
    async fn note_unflushed(&self, header: &BatchHeader, settings: Settings) {
        let n = self.unflushed_messages.get() + i64::from(header.record_count);
        self.unflushed_messages.set(n);
        if self.unflushed_since_ms.get().is_none() {
            self.unflushed_since_ms.set(Some(crate::log::now_ms()));
        }
        if n >= settings.flush_messages {
            self.flush().await;
        }
    }

    /// fdatasync what is written if `flush.ms` says it is due (called periodically).
    pub async fn flush_if_due(&self, now_ms: i64) {
        let due = self
            .unflushed_since_ms
            .get()
            .is_some_and(|t| now_ms.saturating_sub(t) >= self.settings.get().flush_ms);
        if due {
            self.flush().await;
        }
    }

    async fn flush(&self) {
        self.unflushed_messages.set(0);
        self.unflushed_since_ms.set(None);
        if let Err(e) = self.log.sync().await {
            tracing::error!(topic = %self.topic, partition = self.index, error = %e, "flush fdatasync failed");
        }
    }

    /// The high watermark is the end of completed writes, but never past an acks=all batch
    /// whose fdatasync is still pending: a consumer must not read what a power cut could take back.
    fn advance_high_watermark(&self) {
        let written = self.log.written_end_offset();
        let synced = self.log.synced_end_offset();
        // Batches below the synced end are durable whether or not their produce has noticed.
        let first_unsynced = self
            .unsynced_acks_all
            .borrow()
            .iter()
            .find(|&&b| b >= synced)
            .copied();
        let mut hw = first_unsynced.map_or(written, |f| written.min(f));
        if let Some(fence) = self.log.fenced_at() {
            hw = hw.min(fence);
        }
        debug_assert!(
            synced <= written && written <= self.log.log_end_offset(),
            "synced {synced} <= written {written} <= end {}",
            self.log.log_end_offset()
        );
        debug_assert!(
            first_unsynced.is_none_or(|f| hw <= f),
            "the high watermark never passes an unsynced acks=all batch"
        );
        if hw > self.high_watermark.get() {
            self.high_watermark.set(hw);
            debug_assert!(
                self.log.is_failed() || self.log_start_offset() <= hw,
                "log start {} <= high watermark {hw}",
                self.log_start_offset()
            );
            self.wake_fetchers();
        }
    }

    fn wake_fetchers(&self) {
        for w in self.waiters.borrow_mut().drain(..) {
            let _ = w.send(());
        }
    }

    /// A future that resolves at the next high-watermark advance.
    pub fn wait_for_data(&self) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let mut waiters = self.waiters.borrow_mut();
        waiters.retain(|w| !w.is_canceled());
        waiters.push(tx);
        rx
    }

    /// Read up to `max_bytes` of whole batches from `offset`, never past the high watermark;
    /// with `read_committed`, never past the last stable offset, and with the aborted
    /// transactions the records may hold.
    pub async fn fetch(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        read_committed: bool,
    ) -> Result<Fetched, PartitionError> {
        let hw = self.high_watermark();
        let lso = self.last_stable_offset();
        let start = self.log_start_offset();
        if offset < start {
            return Err(PartitionError::OffsetOutOfRange);
        }
        if self.log.fenced_at().is_some_and(|fence| offset >= fence) {
            // Past what was durable when the log failed: nothing there can be trusted.
            return Err(PartitionError::Storage);
        }
        if offset > hw {
            return Err(PartitionError::OffsetOutOfRange);
        }
        let upper = if read_committed { lso } else { hw };
        // Nothing to read at the end, or when the caller may take no bytes (its response budget
        // is spent): the offsets alone answer.
        let records = if offset >= upper || (max_bytes == 0 && !min_one) {
            ReadResult::default()
        } else {
            self.log.read(offset, upper, max_bytes, min_one).await?
        };
        let aborted = if read_committed && records.bytes > 0 {
            self.txns.borrow().aborted_between(offset, upper)
        } else {
            Vec::new()
        };
        let mut t = self.traffic.get();
        t.bytes_out += records.bytes as u64;
        t.records_out += records_in_batches(&records.chunks);
        self.traffic.set(t);
        Ok(Fetched {
            high_watermark: hw,
            last_stable_offset: lso,
            log_start_offset: start,
            aborted,
            records,
        })
    }
}

/// Records in the whole v2 batches that `chunks` concatenate to, from each batch header's
/// record count (bytes 57..61), hopping batch to batch by their lengths (bytes 8..12). Stops at
/// anything that doesn't parse: these are the broker's own stored bytes, so that is a count cut
/// short, never a failure. One pass over the chunks (a cached batch is two of them).
fn records_in_batches<C: std::ops::Deref<Target = [u8]>>(chunks: &[C]) -> u64 {
    const LENGTH_AT: usize = 8;
    const LENGTH_END: usize = 12;
    const RECORDS_AT: usize = 57;
    /// Reads at absolute positions that never go backwards.
    struct Cursor<'a, C> {
        chunks: &'a [C],
        index: usize,
        /// Absolute position of `chunks[index]`'s first byte.
        start: usize,
    }
    impl<C: std::ops::Deref<Target = [u8]>> Cursor<'_, C> {
        fn byte(&mut self, at: usize) -> Option<u8> {
            loop {
                let c = self.chunks.get(self.index)?;
                if at < self.start + c.len() {
                    return c.get(at.checked_sub(self.start)?).copied();
                }
                self.start += c.len();
                self.index += 1;
            }
        }
        fn be_i32(&mut self, at: usize) -> Option<i32> {
            Some(i32::from_be_bytes([
                self.byte(at)?,
                self.byte(at + 1)?,
                self.byte(at + 2)?,
                self.byte(at + 3)?,
            ]))
        }
    }
    let mut cursor = Cursor {
        chunks,
        index: 0,
        start: 0,
    };
    let mut records = 0u64;
    let mut at = 0usize;
    while let Some(length) = cursor
        .be_i32(at + LENGTH_AT)
        .and_then(|l| usize::try_from(l).ok())
    {
        let Some(count) = cursor.be_i32(at + RECORDS_AT) else {
            break;
        };
        records += u64::try_from(count).unwrap_or(0);
        at += LENGTH_END + length;
    }
    records
}

#[cfg(test)]
mod tests {

    #[test]
    fn sequences_wrap_to_zero_as_kafka_counts_them() {
        use super::increment_sequence;
        assert_eq!(increment_sequence(5, 3), 8);
        assert_eq!(increment_sequence(i32::MAX, 1), 0);
        assert_eq!(increment_sequence(i32::MAX - 1, 2), 0);
        assert_eq!(increment_sequence(i32::MAX - 1, 3), 1);
        assert_eq!(increment_sequence(i32::MAX, 0), i32::MAX);
    }

    use super::*;

    /// A v2 batch header claiming `count` records, with `body` bytes after byte 61.
    fn batch(count: i32, body: usize) -> Vec<u8> {
        let mut b = vec![0u8; 61 + body];
        let length = (b.len() - 12) as i32;
        b[8..12].copy_from_slice(&length.to_be_bytes());
        b[57..61].copy_from_slice(&count.to_be_bytes());
        b
    }

    #[test]
    fn counts_records_across_batches_and_chunk_boundaries() {
        let mut all = batch(3, 10);
        all.extend(batch(5, 0));
        all.extend(batch(7, 100));
        assert_eq!(records_in_batches(&[Bytes::from(all.clone())]), 15);
        // Split anywhere (a cached batch is a 16-byte prefix plus the rest).
        for cut in [1, 16, 58, 71, 72, 130] {
            let (a, b) = all.split_at(cut);
            let chunks = [Bytes::copy_from_slice(a), Bytes::copy_from_slice(b)];
            assert_eq!(records_in_batches(&chunks), 15, "cut at {cut}");
        }
        assert_eq!(records_in_batches::<Bytes>(&[]), 0);
        // A truncated or garbled tail stops the count instead of failing.
        assert_eq!(records_in_batches(&[Bytes::from(all[..80].to_vec())]), 3);
        let mut bad = batch(2, 0);
        bad[8..12].copy_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(records_in_batches(&[Bytes::from(bad)]), 0);
    }
}
