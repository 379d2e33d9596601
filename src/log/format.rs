//! Kafka record batch v2 header: parsing and validation without walking records.
//!
//! Lives wherever bytes are: pure functions, no shard affinity.
//!
//! Byte layout of the fixed 61-byte header (all integers big-endian, as on the wire):
//!
//! | offset | size | field                | notes                                          |
//! |-------:|-----:|----------------------|------------------------------------------------|
//! |      0 |    8 | baseOffset           | i64; set by the broker (0 from the producer)   |
//! |      8 |    4 | batchLength          | i32; bytes after this field (total - 12)       |
//! |     12 |    4 | partitionLeaderEpoch | i32; set by the broker                         |
//! |     16 |    1 | magic                | i8; always 2                                   |
//! |     17 |    4 | crc                  | u32; CRC32C of bytes 21..end                    |
//! |     21 |    2 | attributes           | i16; bits 0-2 codec, 3 ts type, 4 txn, 5 ctrl  |
//! |     23 |    4 | lastOffsetDelta      | i32; recordCount - 1                           |
//! |     27 |    8 | baseTimestamp        | i64                                            |
//! |     35 |    8 | maxTimestamp         | i64                                            |
//! |     43 |    8 | producerId           | i64                                            |
//! |     51 |    2 | producerEpoch        | i16                                            |
//! |     53 |    4 | baseSequence         | i32                                            |
//! |     57 |    4 | recordCount          | i32                                            |
//! |     61 |    … | records              | never walked here                              |
//!
//! baseOffset, batchLength and partitionLeaderEpoch precede the CRC'd range, which is why the
//! broker may stamp offset and epoch into a stored copy without recomputing the CRC.

pub const BASE_OFFSET_AT: usize = 0;
pub const BATCH_LENGTH_AT: usize = 8;
pub const PARTITION_LEADER_EPOCH_AT: usize = 12;
pub const MAGIC_AT: usize = 16;
pub const CRC_AT: usize = 17;
pub const ATTRIBUTES_AT: usize = 21;
pub const LAST_OFFSET_DELTA_AT: usize = 23;
pub const BASE_TIMESTAMP_AT: usize = 27;
pub const MAX_TIMESTAMP_AT: usize = 35;
pub const PRODUCER_ID_AT: usize = 43;
pub const PRODUCER_EPOCH_AT: usize = 51;
pub const BASE_SEQUENCE_AT: usize = 53;
pub const RECORD_COUNT_AT: usize = 57;
/// Size of the fixed header; the smallest possible batch (zero records is refused separately).
pub const BATCH_HEADER_BYTES: usize = 61;
/// baseOffset + batchLength: the bytes not counted by batchLength.
pub const BATCH_LOG_OVERHEAD_BYTES: usize = 12;
/// The CRC covers everything from the attributes to the end of the batch.
pub const CRC_FROM: usize = ATTRIBUTES_AT;
pub const MAGIC_V2: i8 = 2;

const _: () = assert!(RECORD_COUNT_AT + 4 == BATCH_HEADER_BYTES);
const _: () = assert!(CRC_AT + 4 == CRC_FROM);
const _: () = assert!(BASE_OFFSET_AT + 8 == BATCH_LENGTH_AT);
const _: () = assert!(BATCH_LENGTH_AT + 4 == BATCH_LOG_OVERHEAD_BYTES);
const _: () = assert!(PARTITION_LEADER_EPOCH_AT < CRC_FROM && BASE_OFFSET_AT < CRC_FROM);

/// The fixed 61-byte header of a v2 record batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
}

/// Why a batch was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchError {
    Truncated,
    BadLength,
    BadMagic(i8),
    CrcMismatch,
    InvalidOffsetDelta,
    NonZeroBaseOffset,
    TooLarge { len: usize, max: usize },
    MoreThanOneBatch,
    UnknownCompression(u8),
}

impl std::fmt::Display for BatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

/// Compression codec, attributes bits 0-2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None = 0,
    Gzip = 1,
    Snappy = 2,
    Lz4 = 3,
    Zstd = 4,
}

impl Compression {
    pub fn try_from_codec(codec: u8) -> Option<Compression> {
        match codec {
            0 => Some(Compression::None),
            1 => Some(Compression::Gzip),
            2 => Some(Compression::Snappy),
            3 => Some(Compression::Lz4),
            4 => Some(Compression::Zstd),
            _ => None,
        }
    }
}

const ATTRIBUTE_CODEC_MASK: i16 = 0x7;
/// Attributes bit 3: the batch's timestamps are the broker's append time.
pub const ATTRIBUTE_LOG_APPEND_TIME: i16 = 0x8;
pub const ATTRIBUTE_TRANSACTIONAL: i16 = 0x10;
pub const ATTRIBUTE_CONTROL: i16 = 0x20;

fn be_i64(buf: &[u8], at: usize) -> i64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[at..at + 8]);
    i64::from_be_bytes(b)
}

fn be_i32(buf: &[u8], at: usize) -> i32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&buf[at..at + 4]);
    i32::from_be_bytes(b)
}

fn be_i16(buf: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([buf[at], buf[at + 1]])
}

impl BatchHeader {
    /// Parse the fixed header from the start of `buf`. Checks only that 61 bytes are present:
    /// nothing about the values (see `validate_produced` / `check_stored`).
    pub fn try_parse(buf: &[u8]) -> Result<BatchHeader, BatchError> {
        if buf.len() < BATCH_HEADER_BYTES {
            return Err(BatchError::Truncated);
        }
        Ok(BatchHeader {
            base_offset: be_i64(buf, BASE_OFFSET_AT),
            batch_length: be_i32(buf, BATCH_LENGTH_AT),
            partition_leader_epoch: be_i32(buf, PARTITION_LEADER_EPOCH_AT),
            magic: buf[MAGIC_AT] as i8,
            crc: be_i32(buf, CRC_AT) as u32,
            attributes: be_i16(buf, ATTRIBUTES_AT),
            last_offset_delta: be_i32(buf, LAST_OFFSET_DELTA_AT),
            base_timestamp: be_i64(buf, BASE_TIMESTAMP_AT),
            max_timestamp: be_i64(buf, MAX_TIMESTAMP_AT),
            producer_id: be_i64(buf, PRODUCER_ID_AT),
            producer_epoch: be_i16(buf, PRODUCER_EPOCH_AT),
            base_sequence: be_i32(buf, BASE_SEQUENCE_AT),
            record_count: be_i32(buf, RECORD_COUNT_AT),
        })
    }

    /// Whole batch size in bytes (header included), or None if batchLength is impossible.
    pub fn total_bytes(&self) -> Option<usize> {
        let len = usize::try_from(self.batch_length).ok()?;
        if len + BATCH_LOG_OVERHEAD_BYTES < BATCH_HEADER_BYTES {
            return None;
        }
        Some(len + BATCH_LOG_OVERHEAD_BYTES)
    }

    /// Offset of the last record of the batch.
    pub fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
    }

    /// Offset after the batch.
    pub fn next_offset(&self) -> i64 {
        self.last_offset() + 1
    }

    /// The codec, or None for the reserved values 5-7.
    pub fn compression(&self) -> Option<Compression> {
        Compression::try_from_codec((self.attributes & ATTRIBUTE_CODEC_MASK) as u8)
    }

    pub fn is_log_append_time(&self) -> bool {
        self.attributes & ATTRIBUTE_LOG_APPEND_TIME != 0
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & ATTRIBUTE_TRANSACTIONAL != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & ATTRIBUTE_CONTROL != 0
    }
}

/// CRC32C of a whole batch's checksummed range (bytes 21..end). `batch` must hold a header.
pub fn batch_crc(batch: &[u8]) -> u32 {
    assert!(
        batch.len() >= BATCH_HEADER_BYTES,
        "a batch holds at least its header"
    );
    crc32c::crc32c(&batch[CRC_FROM..])
}

/// Validate one Produce partition's record set: exactly one v2 batch, consistent, CRC-valid,
/// base offset 0, within `message_max_bytes`. Never walks the records.
pub fn validate_produced(
    record_set: &[u8],
    message_max_bytes: usize,
) -> Result<BatchHeader, BatchError> {
    let header = BatchHeader::try_parse(record_set)?;
    let total = header.total_bytes().ok_or(BatchError::BadLength)?;
    if total > record_set.len() {
        return Err(BatchError::Truncated);
    }
    if total < record_set.len() {
        return Err(BatchError::MoreThanOneBatch);
    }
    // Size before CRC: no point hashing a megabyte we will refuse anyway.
    if total > message_max_bytes {
        return Err(BatchError::TooLarge {
            len: total,
            max: message_max_bytes,
        });
    }
    check_header_fields(&header)?;
    if batch_crc(record_set) != header.crc {
        return Err(BatchError::CrcMismatch);
    }
    if header.base_offset != 0 {
        return Err(BatchError::NonZeroBaseOffset);
    }
    Ok(header)
}

/// Checks on a stored batch read back from disk or cache: length matches the slice, magic 2,
/// CRC valid, offsets consistent. The base offset may be anything.
pub fn check_stored(batch: &[u8]) -> Result<BatchHeader, BatchError> {
    let header = BatchHeader::try_parse(batch)?;
    let total = header.total_bytes().ok_or(BatchError::BadLength)?;
    if total != batch.len() {
        return Err(BatchError::BadLength);
    }
    check_stored_fields(&header)?;
    if batch_crc(batch) != header.crc {
        return Err(BatchError::CrcMismatch);
    }
    Ok(header)
}

/// Field checks on a stored batch. Looser than a producer's: the log cleaner rewrites batches
/// as Kafka's does, keeping their base and last offsets while dropping records, so a stored
/// batch may hold fewer records than its offset range (`lastOffsetDelta >= recordCount - 1`),
/// even none (the kept last batch of a producer, emptied; `log::cleaner`).
fn check_stored_fields(header: &BatchHeader) -> Result<(), BatchError> {
    if header.magic != MAGIC_V2 {
        return Err(BatchError::BadMagic(header.magic));
    }
    if header.record_count < 0
        || header.last_offset_delta < 0
        || header.last_offset_delta < header.record_count - 1
    {
        return Err(BatchError::InvalidOffsetDelta);
    }
    let codec = (header.attributes & ATTRIBUTE_CODEC_MASK) as u8;
    if Compression::try_from_codec(codec).is_none() {
        return Err(BatchError::UnknownCompression(codec));
    }
    Ok(())
}

/// Field checks shared by produce validation and recovery (no length or CRC).
fn check_header_fields(header: &BatchHeader) -> Result<(), BatchError> {
    if header.magic != MAGIC_V2 {
        return Err(BatchError::BadMagic(header.magic));
    }
    if header.record_count < 1 || header.last_offset_delta != header.record_count - 1 {
        return Err(BatchError::InvalidOffsetDelta);
    }
    let codec = (header.attributes & ATTRIBUTE_CODEC_MASK) as u8;
    if Compression::try_from_codec(codec).is_none() {
        return Err(BatchError::UnknownCompression(codec));
    }
    Ok(())
}

/// Write `base_offset` and `leader_epoch` into a batch in place. Both lie outside the CRC, so
/// the batch stays valid. `batch` must hold a header.
pub fn stamp(batch: &mut [u8], base_offset: i64, leader_epoch: i32) {
    assert!(
        batch.len() >= BATCH_HEADER_BYTES,
        "stamping needs a whole header"
    );
    batch[BASE_OFFSET_AT..BASE_OFFSET_AT + 8].copy_from_slice(&base_offset.to_be_bytes());
    batch[PARTITION_LEADER_EPOCH_AT..PARTITION_LEADER_EPOCH_AT + 4]
        .copy_from_slice(&leader_epoch.to_be_bytes());
}

/// The bytes a broker stamps: baseOffset, batchLength and partitionLeaderEpoch, all before the
/// CRC'd range. Stored batches are written as this stamped prefix followed by the received
/// bytes from here on, so the produce path copies a batch once (frame → DMA buffer).
pub const STAMPED_PREFIX_BYTES: usize = PARTITION_LEADER_EPOCH_AT + 4;

const _: () = assert!(STAMPED_PREFIX_BYTES <= CRC_FROM);

/// The first `STAMPED_PREFIX_BYTES` of `batch` with `base_offset` and `leader_epoch` stamped.
pub fn stamped_prefix(
    batch: &[u8],
    base_offset: i64,
    leader_epoch: i32,
) -> [u8; STAMPED_PREFIX_BYTES] {
    let mut prefix = [0u8; STAMPED_PREFIX_BYTES];
    prefix.copy_from_slice(&batch[..STAMPED_PREFIX_BYTES]);
    prefix[BASE_OFFSET_AT..BASE_OFFSET_AT + 8].copy_from_slice(&base_offset.to_be_bytes());
    prefix[PARTITION_LEADER_EPOCH_AT..PARTITION_LEADER_EPOCH_AT + 4]
        .copy_from_slice(&leader_epoch.to_be_bytes());
    prefix
}

/// A stamped copy of `batch`, ready to store.
pub fn stamped_copy(batch: &[u8], base_offset: i64, leader_epoch: i32) -> Vec<u8> {
    let mut copy = batch.to_vec();
    stamp(&mut copy, base_offset, leader_epoch);
    copy
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use bytes::{Bytes, BytesMut};
    use kafka_protocol::records::{
        Compression as KCompression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };

    /// A hand-built v2 batch with `records` fake records of `payload` bytes each (record bytes
    /// are opaque here), valid CRC, base offset 0.
    pub(crate) fn hand_batch(records: i32, payload: usize, max_timestamp: i64) -> Vec<u8> {
        assert!(records >= 1);
        let total = BATCH_HEADER_BYTES + payload * records as usize;
        let mut b = vec![0u8; total];
        b[BATCH_LENGTH_AT..BATCH_LENGTH_AT + 4]
            .copy_from_slice(&((total - BATCH_LOG_OVERHEAD_BYTES) as i32).to_be_bytes());
        b[PARTITION_LEADER_EPOCH_AT..PARTITION_LEADER_EPOCH_AT + 4]
            .copy_from_slice(&(-1i32).to_be_bytes());
        b[MAGIC_AT] = 2;
        b[LAST_OFFSET_DELTA_AT..LAST_OFFSET_DELTA_AT + 4]
            .copy_from_slice(&(records - 1).to_be_bytes());
        b[BASE_TIMESTAMP_AT..BASE_TIMESTAMP_AT + 8].copy_from_slice(&1000i64.to_be_bytes());
        b[MAX_TIMESTAMP_AT..MAX_TIMESTAMP_AT + 8].copy_from_slice(&max_timestamp.to_be_bytes());
        b[PRODUCER_ID_AT..PRODUCER_ID_AT + 8].copy_from_slice(&(-1i64).to_be_bytes());
        b[PRODUCER_EPOCH_AT..PRODUCER_EPOCH_AT + 2].copy_from_slice(&(-1i16).to_be_bytes());
        b[BASE_SEQUENCE_AT..BASE_SEQUENCE_AT + 4].copy_from_slice(&(-1i32).to_be_bytes());
        b[RECORD_COUNT_AT..RECORD_COUNT_AT + 4].copy_from_slice(&records.to_be_bytes());
        for (i, byte) in b[BATCH_HEADER_BYTES..].iter_mut().enumerate() {
            *byte = (i * 7 + 3) as u8;
        }
        fix_crc(&mut b);
        b
    }

    pub(crate) fn fix_crc(b: &mut [u8]) {
        let crc = batch_crc(b);
        b[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    }

    fn encoded_batch(n: usize, compression: KCompression) -> Bytes {
        let records: Vec<Record> = (0..n)
            .map(|i| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id: 42,
                producer_epoch: 1,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                sequence: i as i32,
                timestamp: 5000 + i as i64,
                key: Some(Bytes::from(format!("k{i}"))),
                value: Some(Bytes::from(vec![b'v'; 100])),
                headers: Default::default(),
            })
            .collect();
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            &records,
            &RecordEncodeOptions {
                version: 2,
                compression,
            },
        )
        .unwrap();
        buf.freeze()
    }

    #[test]
    fn crate_encoded_batches_validate() {
        for (codec, c) in [
            (Compression::None, KCompression::None),
            (Compression::Gzip, KCompression::Gzip),
            (Compression::Snappy, KCompression::Snappy),
            (Compression::Lz4, KCompression::Lz4),
            (Compression::Zstd, KCompression::Zstd),
        ] {
            let b = encoded_batch(10, c);
            let h = validate_produced(&b, 1 << 20).unwrap();
            assert_eq!(h.record_count, 10);
            assert_eq!(h.last_offset_delta, 9);
            assert_eq!(h.producer_id, 42);
            assert_eq!(h.producer_epoch, 1);
            assert_eq!(h.base_sequence, 0);
            assert_eq!(h.base_timestamp, 5000);
            assert_eq!(h.max_timestamp, 5009);
            assert_eq!(h.magic, 2);
            assert_eq!(h.compression(), Some(codec));
            assert_eq!(h.total_bytes(), Some(b.len()));
            assert!(!h.is_transactional() && !h.is_control());
        }
    }

    #[test]
    fn stamping_keeps_crc_valid_and_sets_fields() {
        let b = encoded_batch(3, KCompression::None);
        let s = stamped_copy(&b, 1234, 7);
        let h = check_stored(&s).unwrap();
        assert_eq!(h.base_offset, 1234);
        assert_eq!(h.partition_leader_epoch, 7);
        assert_eq!(h.last_offset(), 1236);
        assert_eq!(h.next_offset(), 1237);
        // Stamped copies are refused as produce input (non-zero base offset).
        assert_eq!(
            validate_produced(&s, 1 << 20),
            Err(BatchError::NonZeroBaseOffset)
        );
    }

    #[test]
    fn every_flipped_byte_after_21_fails_crc() {
        let b = hand_batch(3, 20, 2000);
        validate_produced(&b, 1 << 20).unwrap();
        for i in CRC_FROM..b.len() {
            let mut c = b.clone();
            c[i] ^= 0x40;
            let r = validate_produced(&c, 1 << 20);
            // Some header bytes fail an earlier field check; none may pass.
            assert!(r.is_err(), "flip at {i} passed");
            if i >= BATCH_HEADER_BYTES {
                assert_eq!(r, Err(BatchError::CrcMismatch), "flip at {i}");
            }
            assert!(check_stored(&c).is_err(), "stored flip at {i} passed");
        }
        // A flipped CRC byte fails too.
        let mut c = b.clone();
        c[CRC_AT] ^= 1;
        assert_eq!(validate_produced(&c, 1 << 20), Err(BatchError::CrcMismatch));
    }

    #[test]
    fn error_paths() {
        let good = hand_batch(2, 10, 2000);
        assert_eq!(
            validate_produced(&good[..60], 1 << 20),
            Err(BatchError::Truncated)
        );
        assert_eq!(validate_produced(&[], 1 << 20), Err(BatchError::Truncated));
        assert_eq!(
            validate_produced(&good[..good.len() - 1], 1 << 20),
            Err(BatchError::Truncated)
        );

        let mut two = good.clone();
        two.extend_from_slice(&good);
        assert_eq!(
            validate_produced(&two, 1 << 20),
            Err(BatchError::MoreThanOneBatch)
        );

        let mut bad_len = good.clone();
        bad_len[BATCH_LENGTH_AT..BATCH_LENGTH_AT + 4].copy_from_slice(&10i32.to_be_bytes());
        assert_eq!(
            validate_produced(&bad_len, 1 << 20),
            Err(BatchError::BadLength)
        );
        bad_len[BATCH_LENGTH_AT..BATCH_LENGTH_AT + 4].copy_from_slice(&(-5i32).to_be_bytes());
        assert_eq!(
            validate_produced(&bad_len, 1 << 20),
            Err(BatchError::BadLength)
        );

        assert_eq!(
            validate_produced(&good, good.len() - 1),
            Err(BatchError::TooLarge {
                len: good.len(),
                max: good.len() - 1
            })
        );
        assert!(validate_produced(&good, good.len()).is_ok());

        let mut magic = good.clone();
        magic[MAGIC_AT] = 1;
        fix_crc(&mut magic);
        assert_eq!(
            validate_produced(&magic, 1 << 20),
            Err(BatchError::BadMagic(1))
        );

        let mut delta = good.clone();
        delta[LAST_OFFSET_DELTA_AT..LAST_OFFSET_DELTA_AT + 4].copy_from_slice(&5i32.to_be_bytes());
        fix_crc(&mut delta);
        assert_eq!(
            validate_produced(&delta, 1 << 20),
            Err(BatchError::InvalidOffsetDelta)
        );

        let zero_records = {
            let mut z = good.clone();
            z[RECORD_COUNT_AT..RECORD_COUNT_AT + 4].copy_from_slice(&0i32.to_be_bytes());
            z[LAST_OFFSET_DELTA_AT..LAST_OFFSET_DELTA_AT + 4]
                .copy_from_slice(&(-1i32).to_be_bytes());
            fix_crc(&mut z);
            z
        };
        assert_eq!(
            validate_produced(&zero_records, 1 << 20),
            Err(BatchError::InvalidOffsetDelta)
        );

        let mut base = good.clone();
        base[BASE_OFFSET_AT..BASE_OFFSET_AT + 8].copy_from_slice(&9i64.to_be_bytes());
        assert_eq!(
            validate_produced(&base, 1 << 20),
            Err(BatchError::NonZeroBaseOffset)
        );

        for codec in 5u8..=7 {
            let mut comp = good.clone();
            comp[ATTRIBUTES_AT + 1] = codec;
            fix_crc(&mut comp);
            assert_eq!(
                validate_produced(&comp, 1 << 20),
                Err(BatchError::UnknownCompression(codec))
            );
        }
        let mut comp = good.clone();
        comp[ATTRIBUTES_AT + 1] = 4 | 0x10;
        fix_crc(&mut comp);
        let h = validate_produced(&comp, 1 << 20).unwrap();
        assert_eq!(h.compression(), Some(Compression::Zstd));
        assert!(h.is_transactional());
    }

    #[test]
    fn header_fields_at_documented_offsets() {
        let mut b = hand_batch(4, 1, 77);
        stamp(&mut b, 0x0102_0304_0506_0708, 0x0a0b_0c0d);
        let h = BatchHeader::try_parse(&b).unwrap();
        assert_eq!(&b[0..8], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(h.base_offset, 0x0102_0304_0506_0708);
        assert_eq!(&b[12..16], &[0x0a, 0x0b, 0x0c, 0x0d]);
        assert_eq!(h.partition_leader_epoch, 0x0a0b_0c0d);
        assert_eq!(h.batch_length as usize, b.len() - 12);
        assert_eq!(b[16], 2);
        assert_eq!(&b[17..21], &crc32c::crc32c(&b[21..]).to_be_bytes());
        assert_eq!(&b[23..27], &3i32.to_be_bytes());
        assert_eq!(&b[35..43], &77i64.to_be_bytes());
        assert_eq!(h.max_timestamp, 77);
        assert_eq!(&b[57..61], &4i32.to_be_bytes());
    }
}
