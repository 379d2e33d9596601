//! `__transaction_state` records: Kafka's TransactionLog key and value layouts, so the log
//! reads the same as Kafka's. Big-endian; strings are i16 length + UTF-8.
//!
//! ```text
//! key (version 0):   version i16 = 0 | transactional_id string
//! value (version 0): version i16 = 0 | producer_id i64 | producer_epoch i16
//!                    | transaction_timeout_ms i32 | transaction_status i8
//!                    | transaction_partitions nullable array (i32 count, -1 = null) of
//!                        { topic string | partition_ids array (i32 count) of i32 }
//!                    | last_update_timestamp_ms i64 | start_timestamp_ms i64
//! ```
//! A null value (tombstone) removes the id. Sluice writes value version 0 and reads 0 only; a
//! record of another version is skipped at replay and counted.
//!
//! Checked field by field against Kafka's `TransactionLogKey` (key version 0: one string) and
//! `TransactionLogValue` schemas (value versions 0–1; version 0 is non-flexible, with
//! `TransactionPartitions` nullable from version 0). Kafka writes value version 1 (flexible:
//! compact strings and arrays, tagged `PreviousProducerId`, `NextProducerId`,
//! `ClientTransactionVersion`) only for transactions of `transaction.version` 2 (KIP-890 part
//! 2), which Sluice does not advertise; so version 0 is what Kafka itself writes for the
//! clients Sluice serves. The tests below build the expected bytes from the schema.

use std::collections::BTreeSet;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::limits::TXN_PARTITIONS_MAX;

/// A transaction's state, Kafka's `TransactionState` ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnStatus {
    Empty = 0,
    Ongoing = 1,
    PrepareCommit = 2,
    PrepareAbort = 3,
    CompleteCommit = 4,
    CompleteAbort = 5,
    Dead = 6,
    PrepareEpochFence = 7,
}

impl TxnStatus {
    pub fn from_i8(v: i8) -> Option<TxnStatus> {
        Some(match v {
            0 => TxnStatus::Empty,
            1 => TxnStatus::Ongoing,
            2 => TxnStatus::PrepareCommit,
            3 => TxnStatus::PrepareAbort,
            4 => TxnStatus::CompleteCommit,
            5 => TxnStatus::CompleteAbort,
            6 => TxnStatus::Dead,
            7 => TxnStatus::PrepareEpochFence,
            _ => return None,
        })
    }

    /// Kafka's names (DescribeTransactions, ListTransactions, `sluice txn`).
    pub fn name(self) -> &'static str {
        match self {
            TxnStatus::Empty => "Empty",
            TxnStatus::Ongoing => "Ongoing",
            TxnStatus::PrepareCommit => "PrepareCommit",
            TxnStatus::PrepareAbort => "PrepareAbort",
            TxnStatus::CompleteCommit => "CompleteCommit",
            TxnStatus::CompleteAbort => "CompleteAbort",
            TxnStatus::Dead => "Dead",
            TxnStatus::PrepareEpochFence => "PrepareEpochFence",
        }
    }
}

/// One transactional id's state, as persisted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnValue {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub timeout_ms: i32,
    pub status: TxnStatus,
    pub partitions: BTreeSet<(String, i32)>,
    pub last_update_ms: i64,
    pub start_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordError {
    Truncated,
    UnknownVersion(i16),
    BadString,
    BadStatus(i8),
    TooManyPartitions(i32),
}

pub fn key(transactional_id: &str) -> Bytes {
    let mut b = BytesMut::with_capacity(4 + transactional_id.len());
    b.put_i16(0);
    put_string(&mut b, transactional_id);
    b.freeze()
}

pub fn decode_key(mut buf: &[u8]) -> Result<String, RecordError> {
    let version = get_i16(&mut buf)?;
    if version != 0 {
        return Err(RecordError::UnknownVersion(version));
    }
    get_string(&mut buf)
}

pub fn value(v: &TxnValue) -> Bytes {
    let mut b = BytesMut::with_capacity(64 + v.partitions.len() * 32);
    b.put_i16(0);
    b.put_i64(v.producer_id);
    b.put_i16(v.producer_epoch);
    b.put_i32(v.timeout_ms);
    b.put_i8(v.status as i8);
    // Grouped by topic, as Kafka writes them.
    let mut topics: Vec<(&str, Vec<i32>)> = Vec::new();
    for (t, p) in &v.partitions {
        match topics.last_mut() {
            Some((last, ps)) if *last == t.as_str() => ps.push(*p),
            _ => topics.push((t.as_str(), vec![*p])),
        }
    }
    b.put_i32(topics.len() as i32);
    for (t, ps) in topics {
        put_string(&mut b, t);
        b.put_i32(ps.len() as i32);
        for p in ps {
            b.put_i32(p);
        }
    }
    b.put_i64(v.last_update_ms);
    b.put_i64(v.start_ms);
    b.freeze()
}

pub fn decode_value(mut buf: &[u8]) -> Result<TxnValue, RecordError> {
    let version = get_i16(&mut buf)?;
    if version != 0 {
        return Err(RecordError::UnknownVersion(version));
    }
    let producer_id = get_i64(&mut buf)?;
    let producer_epoch = get_i16(&mut buf)?;
    let timeout_ms = get_i32(&mut buf)?;
    let status_id = get_i8(&mut buf)?;
    let status = TxnStatus::from_i8(status_id).ok_or(RecordError::BadStatus(status_id))?;
    let mut partitions = BTreeSet::new();
    let topics = get_i32(&mut buf)?;
    for _ in 0..topics.max(0) {
        let topic = get_string(&mut buf)?;
        let n = get_i32(&mut buf)?;
        // Each partition id is 4 bytes: a count past what remains is a lie, and the set is
        // bounded as AddPartitionsToTxn bounds it.
        if n < 0 || n as usize > buf.remaining() / 4 {
            return Err(RecordError::Truncated);
        }
        for _ in 0..n {
            partitions.insert((topic.clone(), get_i32(&mut buf)?));
            if partitions.len() > TXN_PARTITIONS_MAX {
                return Err(RecordError::TooManyPartitions(n));
            }
        }
    }
    let last_update_ms = get_i64(&mut buf)?;
    let start_ms = get_i64(&mut buf)?;
    Ok(TxnValue {
        producer_id,
        producer_epoch,
        timeout_ms,
        status,
        partitions,
        last_update_ms,
        start_ms,
    })
}

fn put_string(b: &mut BytesMut, s: &str) {
    // Transactional ids and topic names are bounded far below i16::MAX by the request decoders.
    assert!(s.len() <= i16::MAX as usize, "a string fits an i16 length");
    b.put_i16(s.len() as i16);
    b.put_slice(s.as_bytes());
}

fn get_i8(buf: &mut &[u8]) -> Result<i8, RecordError> {
    if buf.remaining() < 1 {
        return Err(RecordError::Truncated);
    }
    Ok(buf.get_i8())
}

fn get_i16(buf: &mut &[u8]) -> Result<i16, RecordError> {
    if buf.remaining() < 2 {
        return Err(RecordError::Truncated);
    }
    Ok(buf.get_i16())
}

fn get_i32(buf: &mut &[u8]) -> Result<i32, RecordError> {
    if buf.remaining() < 4 {
        return Err(RecordError::Truncated);
    }
    Ok(buf.get_i32())
}

fn get_i64(buf: &mut &[u8]) -> Result<i64, RecordError> {
    if buf.remaining() < 8 {
        return Err(RecordError::Truncated);
    }
    Ok(buf.get_i64())
}

fn get_string(buf: &mut &[u8]) -> Result<String, RecordError> {
    let len = get_i16(buf)?;
    let len = usize::try_from(len).map_err(|_| RecordError::BadString)?;
    if buf.remaining() < len {
        return Err(RecordError::Truncated);
    }
    let (s, rest) = buf.split_at(len);
    *buf = rest;
    String::from_utf8(s.to_vec()).map_err(|_| RecordError::BadString)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TxnValue {
        TxnValue {
            producer_id: 7,
            producer_epoch: 3,
            timeout_ms: 60_000,
            status: TxnStatus::Ongoing,
            partitions: [
                ("a".to_string(), 1),
                ("a".to_string(), 0),
                ("b".to_string(), 2),
            ]
            .into_iter()
            .collect(),
            last_update_ms: 11,
            start_ms: 10,
        }
    }

    #[test]
    fn layout_is_kafkas_and_round_trips() {
        let k = key("tx");
        assert_eq!(&k[..], &[0, 0, 0, 2, b't', b'x']);
        assert_eq!(decode_key(&k).unwrap(), "tx");
        let v = value(&sample());
        let mut expected = vec![0, 0];
        expected.extend(7i64.to_be_bytes());
        expected.extend(3i16.to_be_bytes());
        expected.extend(60_000i32.to_be_bytes());
        expected.push(1);
        expected.extend(2i32.to_be_bytes());
        expected.extend([0, 1, b'a', 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1]);
        expected.extend([0, 1, b'b', 0, 0, 0, 1, 0, 0, 0, 2]);
        expected.extend(11i64.to_be_bytes());
        expected.extend(10i64.to_be_bytes());
        assert_eq!(&v[..], &expected[..]);
        assert_eq!(decode_value(&v).unwrap(), sample());
    }

    /// Kafka's TransactionLogValue v0 built from its schema, field by field, for a completed
    /// transaction (no partitions) and one with a null partition array (nullable from v0).
    #[test]
    fn value_v0_matches_kafkas_schema_for_empty_and_null_partitions() {
        let mut done = sample();
        done.status = TxnStatus::CompleteCommit;
        done.partitions.clear();
        let mut expected: Vec<u8> = Vec::new();
        expected.extend(0i16.to_be_bytes()); // version
        expected.extend(7i64.to_be_bytes()); // ProducerId
        expected.extend(3i16.to_be_bytes()); // ProducerEpoch
        expected.extend(60_000i32.to_be_bytes()); // TransactionTimeoutMs
        expected.push(4); // TransactionStatus: CompleteCommit
        expected.extend(0i32.to_be_bytes()); // TransactionPartitions: empty
        expected.extend(11i64.to_be_bytes()); // TransactionLastUpdateTimestampMs
        expected.extend(10i64.to_be_bytes()); // TransactionStartTimestampMs
        assert_eq!(&value(&done)[..], &expected[..]);
        assert_eq!(decode_value(&expected).unwrap(), done);
        // A null array (count -1) reads as no partitions.
        expected[17..21].copy_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(decode_value(&expected).unwrap(), done);
        // The key: version 0, then TransactionalId as an INT16-length string.
        let id = "é-tx";
        let mut k = vec![0u8, 0];
        k.extend((id.len() as i16).to_be_bytes());
        k.extend(id.as_bytes());
        assert_eq!(&key(id)[..], &k[..]);
    }

    #[test]
    fn damaged_records_are_errors_not_panics() {
        let v = value(&sample());
        for end in 0..v.len() {
            assert!(decode_value(&v[..end]).is_err(), "cut at {end}");
        }
        let mut huge = v.to_vec();
        // The first topic's partition count claims i32::MAX.
        huge[24..28].copy_from_slice(&i32::MAX.to_be_bytes());
        assert_eq!(decode_value(&huge), Err(RecordError::Truncated));
        assert_eq!(
            decode_key(&[0, 1, 0, 0]),
            Err(RecordError::UnknownVersion(1))
        );
        let mut bad = v.to_vec();
        bad[16] = 9;
        assert_eq!(decode_value(&bad), Err(RecordError::BadStatus(9)));
    }
}
