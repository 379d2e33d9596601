//! Produce-side record validation, as Apache Kafka's `LogValidator` does it: the checks that
//! need a batch's records (its header was already checked by `format::validate_produced`), and
//! what the broker must change in the batch before storing it.
//!
//! Per record, in Kafka's order: the record must parse (lengths, varints, header count, its
//! size exactly as declared, exactly `recordCount` records and nothing after them); on a
//! compacted topic it must have a key (INVALID_RECORD); on a CreateTime topic a record with a
//! timestamp (not -1) must lie within [now - `message.timestamp.before.max.ms`,
//! now + `message.timestamp.after.max.ms`] (INVALID_TIMESTAMP); otherwise a batch carrying the
//! LogAppendTime attribute is a producer setting a broker's field (INVALID_TIMESTAMP). Any
//! record error refuses the whole partition's data (KIP-467: one error per bad record, by its
//! index in the batch); the partition's code is INVALID_TIMESTAMP if any record's is, else
//! INVALID_RECORD.
//!
//! Then the batch's max timestamp becomes the broker's clock on a LogAppendTime topic (and the
//! timestamp-type attribute is set), or the largest record timestamp on a CreateTime topic (a
//! sarama-era client sends -1 there); when either differs from the header, the append stores a
//! copy with the CRC recomputed ([`Stamp`]). The base timestamp stays as sent, as in Kafka.
//!
//! Walking an uncompressed batch reads a few varints per record in place (no allocation);
//! a compressed batch is decompressed once within `DECOMPRESSED_BATCH_BYTES_MAX` (Kafka
//! decompresses to validate as well). The one case that skips the records: a compressed
//! CreateTime-attribute batch on a LogAppendTime topic that is not compacted, where no check
//! reads a record (the max timestamp is the clock's) — there a malformed compressed payload is
//! stored as sent, as before this module, where Kafka's iterator would refuse it.
//!
//! Pure functions, called on the partition's owner shard; a decompressed buffer lives only
//! within one synchronous call, so a shard holds at most one at a time.

use super::format::{BatchHeader, Compression, BATCH_HEADER_BYTES};
use crate::limits::{DECOMPRESSED_BATCH_BYTES_MAX, PRODUCE_RECORD_ERRORS_MAX};

/// `message.timestamp.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

impl TimestampType {
    /// Kafka's names, exactly (its config validator is case-sensitive).
    pub fn parse(name: &str) -> Option<TimestampType> {
        match name {
            "CreateTime" => Some(TimestampType::CreateTime),
            "LogAppendTime" => Some(TimestampType::LogAppendTime),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            TimestampType::CreateTime => "CreateTime",
            TimestampType::LogAppendTime => "LogAppendTime",
        }
    }
}

/// What a partition's topic configs ask of every produced batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub timestamp_type: TimestampType,
    /// `message.timestamp.before.max.ms`: how far in the past a CreateTime record may be.
    pub before_max_ms: i64,
    /// `message.timestamp.after.max.ms`: how far in the future (Kafka 4: one hour, KIP-1030).
    pub after_max_ms: i64,
    /// `cleanup.policy` contains `compact`: every record needs a key.
    pub compacted: bool,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            timestamp_type: TimestampType::CreateTime,
            before_max_ms: i64::MAX,
            after_max_ms: crate::limits::MESSAGE_TIMESTAMP_AFTER_MAX_MS_DEFAULT,
            compacted: false,
        }
    }
}

/// One refused record (KIP-467's `BatchIndexAndErrorMessage`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    /// The record's index in its batch.
    pub batch_index: i32,
    pub message: String,
}

/// Why a partition's records were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Records that parse but break a rule: per-record errors (at most
    /// `PRODUCE_RECORD_ERRORS_MAX` of them kept), and Kafka's message for the partition.
    Records {
        /// INVALID_TIMESTAMP (true) or INVALID_RECORD.
        timestamp: bool,
        message: String,
        errors: Vec<RecordError>,
    },
    /// The records do not parse (INVALID_RECORD, no per-record errors, as Kafka's
    /// InvalidRecordException).
    Malformed(String),
}

/// What the append changes inside the CRC'd range: attributes and max timestamp (None: the
/// header is already right and the batch is stored byte for byte as received).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub attributes: i16,
    pub max_timestamp: i64,
}

/// The parts of one record the checks read.
#[derive(Debug, Clone, Copy)]
struct RecordFacts {
    timestamp: i64,
    offset_delta: i32,
    key_bytes: Option<usize>,
    value_bytes: Option<usize>,
}

/// Validate `batch` (one whole batch whose header `h` passed `validate_produced`) against
/// `policy` at broker time `now_ms`: the record checks above, and the [`Stamp`] the append must
/// apply. `topic` and `partition` name the partition in Kafka's messages.
pub fn check_records(
    batch: &[u8],
    h: &BatchHeader,
    policy: &Policy,
    now_ms: i64,
    topic: &str,
    partition: i32,
) -> Result<Option<Stamp>, Refusal> {
    let log_append_time_topic = policy.timestamp_type == TimestampType::LogAppendTime;
    let compression = h.compression().unwrap_or(Compression::None);
    let body = batch.get(BATCH_HEADER_BYTES..).unwrap_or_default();
    let skip_records = compression != Compression::None
        && log_append_time_topic
        && !policy.compacted
        && !h.is_log_append_time();
    let max_timestamp = if skip_records {
        now_ms
    } else {
        let mut errors = Errors::default();
        let mut max = -1i64;
        let mut index = 0i32;
        let mut visit = |r: RecordFacts| {
            if let Some(message) = record_error(&r, h, policy, now_ms, topic, partition) {
                errors.push(index, message.0, message.1);
            }
            max = max.max(r.timestamp);
            index += 1;
        };
        if compression == Compression::None {
            walk(body, h, &mut visit)?;
        } else {
            let records = sluice_client::codec::decompress(
                compression as i16,
                body,
                DECOMPRESSED_BATCH_BYTES_MAX,
            )
            .map_err(|e| Refusal::Malformed(format!("compressed records: {e}")))?;
            walk(&records, h, &mut visit)?;
        }
        if let Some(refusal) = errors.into_refusal() {
            return Err(refusal);
        }
        if log_append_time_topic {
            now_ms
        } else {
            max
        }
    };
    let attributes = if log_append_time_topic {
        h.attributes | super::format::ATTRIBUTE_LOG_APPEND_TIME
    } else {
        h.attributes & !super::format::ATTRIBUTE_LOG_APPEND_TIME
    };
    if attributes == h.attributes && max_timestamp == h.max_timestamp {
        return Ok(None);
    }
    Ok(Some(Stamp {
        attributes,
        max_timestamp,
    }))
}

/// Kafka's `validateKey` then `validateTimestamp` for one record: (is a timestamp error,
/// message), or None.
fn record_error(
    r: &RecordFacts,
    h: &BatchHeader,
    policy: &Policy,
    now_ms: i64,
    topic: &str,
    partition: i32,
) -> Option<(bool, String)> {
    if policy.compacted && r.key_bytes.is_none() {
        return Some((
            false,
            format!(
                "Compacted topic cannot accept message without key in topic partition {topic}-{partition}."
            ),
        ));
    }
    if policy.timestamp_type == TimestampType::CreateTime && r.timestamp != -1 {
        // Java's long arithmetic, wrapping included.
        let diff = now_ms.wrapping_sub(r.timestamp);
        if diff > policy.before_max_ms || diff.wrapping_neg() > policy.after_max_ms {
            return Some((
                true,
                format!(
                    "Timestamp {} of message with offset {} is out of range. The timestamp should be within [{}, {}]",
                    r.timestamp,
                    r.offset_delta,
                    now_ms.wrapping_sub(policy.before_max_ms),
                    now_ms.wrapping_add(policy.after_max_ms),
                ),
            ));
        }
    } else if h.is_log_append_time() {
        return Some((
            true,
            format!(
                "Invalid timestamp type in message DefaultRecord(offset={}, timestamp={}, key={} bytes, value={} bytes). Producer should not set timestamp type to LogAppendTime.",
                r.offset_delta,
                r.timestamp,
                r.key_bytes.unwrap_or(0),
                r.value_bytes.unwrap_or(0),
            ),
        ));
    }
    None
}

/// Record errors collected over a batch.
#[derive(Default)]
struct Errors {
    kept: Vec<RecordError>,
    total: usize,
    any_timestamp: bool,
}

impl Errors {
    fn push(&mut self, batch_index: i32, timestamp: bool, message: String) {
        self.total += 1;
        self.any_timestamp |= timestamp;
        if self.kept.len() < PRODUCE_RECORD_ERRORS_MAX {
            self.kept.push(RecordError {
                batch_index,
                message,
            });
        }
    }

    /// Kafka's `processRecordErrors`: its messages, word for word.
    fn into_refusal(self) -> Option<Refusal> {
        if self.total == 0 {
            return None;
        }
        let message = if self.any_timestamp {
            "One or more records have been rejected due to invalid timestamp".to_string()
        } else {
            let shown: Vec<String> = self
                .kept
                .iter()
                .take(3)
                .map(|e| {
                    format!(
                        "RecordError(batchIndex={}, message='{}')",
                        e.batch_index, e.message
                    )
                })
                .collect();
            format!(
                "One or more records have been rejected due to {} record errors in total, and only showing the first three errors at most: [{}]",
                self.total,
                shown.join(", ")
            )
        };
        Some(Refusal::Records {
            timestamp: self.any_timestamp,
            message,
            errors: self.kept,
        })
    }
}

/// Walks the `h.record_count` records in `records` (uncompressed record bytes), as Kafka's
/// `DefaultRecord.readFrom` parses them, calling `f` per record. Every length is checked
/// against the bytes left; nothing is allocated.
fn walk(records: &[u8], h: &BatchHeader, f: &mut impl FnMut(RecordFacts)) -> Result<(), Refusal> {
    let malformed = |why: &str| Refusal::Malformed(why.to_string());
    let mut pos = 0usize;
    for _ in 0..h.record_count {
        let size = varint(records, &mut pos).map_err(malformed)?;
        let end = usize::try_from(size)
            .ok()
            .and_then(|s| pos.checked_add(s))
            .filter(|end| *end <= records.len())
            .ok_or_else(|| malformed("Invalid record size: the record overruns its batch"))?;
        let rec = &records[..end];
        pos += 1; // attributes
        let timestamp_delta = varlong(rec, &mut pos).map_err(malformed)?;
        let offset_delta = varint(rec, &mut pos).map_err(malformed)?;
        let key_bytes = skip_field(rec, &mut pos).map_err(malformed)?;
        let value_bytes = skip_field(rec, &mut pos).map_err(malformed)?;
        let headers = varint(rec, &mut pos).map_err(malformed)?;
        if headers < 0 {
            return Err(malformed("Found invalid number of record headers"));
        }
        if headers as usize > rec.len().saturating_sub(pos) {
            return Err(malformed(
                "Found invalid number of record headers: larger than the remaining size",
            ));
        }
        for _ in 0..headers {
            let key = varint(rec, &mut pos).map_err(malformed)?;
            if key < 0 {
                return Err(malformed("Invalid negative header key size"));
            }
            skip(rec, &mut pos, key as usize).map_err(malformed)?;
            skip_field(rec, &mut pos).map_err(malformed)?;
        }
        if pos != end {
            return Err(malformed(
                "Invalid record size: the record's fields do not fill its declared size",
            ));
        }
        let timestamp = if h.is_log_append_time() {
            // A LogAppendTime batch's records read as its max timestamp (Kafka's
            // `DefaultRecord.readFrom`).
            h.max_timestamp
        } else {
            h.base_timestamp.wrapping_add(timestamp_delta)
        };
        f(RecordFacts {
            timestamp,
            offset_delta,
            key_bytes,
            value_bytes,
        });
    }
    if pos != records.len() {
        return Err(malformed(
            "Incorrect declared batch size, records still remaining in file",
        ));
    }
    Ok(())
}

type Parse<T> = Result<T, &'static str>;

/// A zigzag varint of at most 5 bytes (Kafka's `readVarint`).
fn varint(buf: &[u8], pos: &mut usize) -> Parse<i32> {
    let v = varlong_of(buf, pos, 5)?;
    i32::try_from(v).map_err(|_| "Varint is too long")
}

/// A zigzag varlong of at most 10 bytes (Kafka's `readVarlong`).
fn varlong(buf: &[u8], pos: &mut usize) -> Parse<i64> {
    varlong_of(buf, pos, 10)
}

#[inline(always)]
fn varlong_of(buf: &[u8], pos: &mut usize, max_bytes: u32) -> Parse<i64> {
    let mut raw: u64 = 0;
    for i in 0..max_bytes {
        let Some(&b) = buf.get(*pos) else {
            return Err("Invalid record size: a varint overruns its record");
        };
        *pos += 1;
        raw |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            if max_bytes == 5 {
                // 32-bit zigzag: the value is the low 32 bits.
                let u = raw as u32;
                return Ok(i64::from(((u >> 1) as i32) ^ -((u & 1) as i32)));
            }
            return Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64));
        }
    }
    Err("Varint is too long")
}

/// A length-prefixed optional field (negative length: null): its length, skipped.
#[inline(always)]
fn skip_field(buf: &[u8], pos: &mut usize) -> Parse<Option<usize>> {
    let len = varint(buf, pos)?;
    if len < 0 {
        return Ok(None);
    }
    skip(buf, pos, len as usize)?;
    Ok(Some(len as usize))
}

#[inline(always)]
fn skip(buf: &[u8], pos: &mut usize, len: usize) -> Parse<()> {
    match pos.checked_add(len) {
        Some(end) if end <= buf.len() => {
            *pos = end;
            Ok(())
        }
        _ => Err("Invalid record size: a field overruns its record"),
    }
}

/// A copy of `batch` with `stamp` applied and its CRC recomputed (base offset and leader epoch
/// are stamped later, outside the CRC).
pub fn stamped(batch: &[u8], stamp: Stamp) -> bytes::Bytes {
    use super::format::{ATTRIBUTES_AT, CRC_AT, MAX_TIMESTAMP_AT};
    assert!(batch.len() >= BATCH_HEADER_BYTES, "a validated batch");
    let mut copy = batch.to_vec();
    copy[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&stamp.attributes.to_be_bytes());
    copy[MAX_TIMESTAMP_AT..MAX_TIMESTAMP_AT + 8]
        .copy_from_slice(&stamp.max_timestamp.to_be_bytes());
    let crc = super::format::batch_crc(&copy);
    copy[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    bytes::Bytes::from(copy)
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
